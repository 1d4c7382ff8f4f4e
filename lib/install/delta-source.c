/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "delta-source.h"

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <linux/fs.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "net/http-policy.h"

/* As SOURCE_WINDOW in lib/bundle/bundle-read.c: its first read is answered from here. */
#define HEAD_SIZE (8 * 1024)

struct DeltaSource {
        bool url;
        char display[1024];
        /* a file or block device */
        int fd;
        /* a URL */
        char *href;
        HttpSession *session;      /* one connection for all the fetches, while the server keeps it */
        HttpFetchOptions http;
        HttpResource res;
        /* ranges in progress */
        HttpFetch *fetch;
        int pipe;
        const HttpByteRange *ranges;
        size_t n_ranges, range;
        uint64_t at;               /* file: offset within the current range */

        BundleSource bundle;
        DeltaStats stats;
        /* The first bytes, asked for once: the manifest, the signature and the first headers are in them. */
        uint8_t head[HEAD_SIZE];
        size_t head_len;
};


/* One range over HTTP, read whole: a fetch of its own (headers, manifest, root.verity, small payloads). */
static int url_read_at(DeltaSource *s, uint64_t offset, void *buf, size_t n) {
        HttpByteRange range = { offset, n };
        HttpFetchOptions o = s->http;
        HttpFetchStats st = {};
        _cleanup_(http_fetch_freep) HttpFetch *f = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        o.ranges = &range;
        o.n_ranges = 1;
        o.resource = s->res.known ? &s->res : NULL;
        r = http_fetch_start(s->href, &o, &f, &fd);
        if (r < 0)
                return err_prefix(r, "%s", s->display);
        ssize_t k = loop_read(fd, buf, n);
        uint8_t more;
        /* The end of the pipe: the fetch is done (a close before would cancel it). */
        if (k == (ssize_t) n && loop_read(fd, &more, 1) != 0)
                k = -EBADMSG;
        fd = safe_close(fd);
        r = http_fetch_finish(f, &st);
        s->stats.fetched += st.received;
        s->stats.requests += st.requests;
        if (r < 0)
                return err_prefix(r, "%s", s->display);
        if (k != (ssize_t) n)
                return err_set(EIO, "%s: bytes %" PRIu64 "-%" PRIu64 ": short read", s->display, offset, offset + n - 1);
        if (!s->res.known) {
                http_fetch_resource(f, &s->res);
                if (!s->res.known || s->res.size == HTTP_SIZE_UNKNOWN)
                        return err_set(EOPNOTSUPP, "%s: the server did not say the bundle's size", s->display);
        }
        return 0;
}

static int file_read_at(DeltaSource *s, uint64_t offset, void *buf, size_t n) {
        ssize_t k = pread_full(s->fd, buf, n, offset);
        if (k < 0)
                return err_set((int) -k, "%s: cannot read at %" PRIu64 ": %s", s->display, offset, strerror((int) -k));
        if ((size_t) k != n)
                return err_set(EIO, "%s: ends before byte %" PRIu64, s->display, offset + n);
        s->stats.fetched += n;
        return 0;
}

static int source_read_at(void *userdata, uint64_t offset, void *buf, size_t n) {
        DeltaSource *s = userdata;
        if (s->url && offset < s->head_len) {
                size_t k = (size_t) MIN((uint64_t) n, s->head_len - offset);
                memcpy(buf, s->head + offset, k);
                if (k == n)
                        return 0;
                return url_read_at(s, offset + k, (uint8_t *) buf + k, n - k);
        }
        return s->url ? url_read_at(s, offset, buf, n) : file_read_at(s, offset, buf, n);
}

int delta_source_open_url(const char *url, const HttpFetchOptions *o, DeltaSource **ret) {
        _cleanup_(delta_source_freep) DeltaSource *s = calloc(1, sizeof *s);
        int r;

        if (!s)
                return -ENOMEM;
        s->fd = s->pipe = -EBADF;
        s->url = true;
        http_url_display(url, s->display, sizeof s->display);
        s->href = strdup(url);
        if (!s->href)
                return -ENOMEM;
        r = http_session_new(&s->session);
        if (r < 0)
                return r;
        s->http = *o;
        s->http.session = s->session;
        s->http.on_retry = NULL;
        (void) signal(SIGPIPE, SIG_IGN);
        /* The first bytes: the size, the validators every later request must match, and what the
         * bundle reader needs first (a bundle is never smaller: it holds a kernel). */
        r = url_read_at(s, 0, s->head, sizeof s->head);
        if (r < 0)
                return r;
        s->head_len = sizeof s->head;
        s->bundle = (BundleSource) { .size = s->res.size, .read_at = source_read_at, .userdata = s };
        s->http.on_retry = o->on_retry;
        *ret = TAKE_PTR(s);
        return 0;
}

int delta_source_open_file(const char *path, DeltaSource **ret) {
        _cleanup_(delta_source_freep) DeltaSource *s = calloc(1, sizeof *s);
        struct stat st;

        if (!s)
                return -ENOMEM;
        s->pipe = -EBADF;
        (void) snprintf(s->display, sizeof s->display, "%s", path);
        s->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (s->fd < 0)
                return err_set(errno, "cannot open %s: %m", path);
        if (fstat(s->fd, &st) < 0)
                return err_set(errno, "cannot stat %s: %m", path);
        uint64_t size = (uint64_t) st.st_size;
        if (S_ISBLK(st.st_mode) && ioctl(s->fd, BLKGETSIZE64, &size) < 0)
                return err_set(errno, "cannot size %s: %m", path);
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
                return err_set(EINVAL, "%s: a delta install reads a file or a block device at offsets", path);
        s->bundle = (BundleSource) { .size = size, .read_at = source_read_at, .userdata = s };
        *ret = TAKE_PTR(s);
        return 0;
}

const BundleSource *delta_source_bundle(DeltaSource *s) {
        return &s->bundle;
}

const char *delta_source_display(DeltaSource *s) {
        return s->display;
}

bool delta_source_is_url(DeltaSource *s) {
        return s->url;
}

int delta_source_read_at(DeltaSource *s, uint64_t offset, void *buf, size_t n) {
        return source_read_at(s, offset, buf, n);
}

int delta_source_ranges_begin(DeltaSource *s, const HttpByteRange *ranges, size_t n) {
        int r;

        if (s->fetch || n == 0)
                return -EINVAL;
        s->ranges = ranges;
        s->n_ranges = n;
        s->range = 0;
        s->at = 0;
        if (!s->url)
                return 0;
        HttpFetchOptions o = s->http;
        o.ranges = ranges;
        o.n_ranges = n;
        o.resource = &s->res;
        r = http_fetch_start(s->href, &o, &s->fetch, &s->pipe);
        if (r < 0)
                return err_prefix(r, "%s", s->display);
        return 0;
}

int delta_source_ranges_read(DeltaSource *s, void *buf, size_t n) {
        if (s->url) {
                ssize_t k = loop_read(s->pipe, buf, n);
                if (k == (ssize_t) n)
                        return 0;
                /* The fetch knows why the bytes stopped. */
                return delta_source_ranges_end(s) ?: err_set(EIO, "%s: the ranges ended early", s->display);
        }
        for (size_t done = 0; done < n;) {
                if (s->range >= s->n_ranges)
                        return err_set(EIO, "%s: read past the ranges", s->display);
                const HttpByteRange *r = &s->ranges[s->range];
                size_t k = (size_t) MIN((uint64_t) (n - done), r->length - s->at);
                int e = file_read_at(s, r->start + s->at, (uint8_t *) buf + done, k);
                if (e < 0)
                        return e;
                done += k;
                s->at += k;
                if (s->at == r->length) {
                        s->range++;
                        s->at = 0;
                }
        }
        return 0;
}

int delta_source_ranges_end(DeltaSource *s) {
        HttpFetchStats st = {};
        int r;

        if (!s->fetch)
                return 0;
        /* After the last byte: wait for the end, so the fetch finishes rather than being cancelled. */
        uint8_t more;
        if (s->pipe >= 0)
                (void) loop_read(s->pipe, &more, 1);
        s->pipe = safe_close(s->pipe);
        r = http_fetch_finish(s->fetch, &st);
        s->fetch = http_fetch_free(s->fetch);
        s->stats.fetched += st.received;
        s->stats.requests += st.requests;
        /* A server that turned several ranges down gets one a request from now on. */
        if (st.one_range[0]) {
                memcpy(s->stats.one_range, st.one_range, sizeof st.one_range);
                s->http.one_range = true;
        }
        if (r < 0 && r != -ECANCELED)
                return err_prefix(r, "%s", s->display);
        return 0;
}

void delta_source_stats(DeltaSource *s, DeltaStats *ret) {
        *ret = s->stats;
        ret->size = s->bundle.size;
}

DeltaSource *delta_source_free(DeltaSource *s) {
        if (!s)
                return NULL;
        safe_close(s->pipe);
        http_fetch_free(s->fetch);
        http_session_free(s->session);
        safe_close(s->fd);
        free(s->href);
        free(s);
        return NULL;
}
