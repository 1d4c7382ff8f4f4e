/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "delta-source.h"

#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/eventfd.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "net/http-policy.h"

/* As SOURCE_WINDOW in lib/bundle/bundle-read.c: its first read is answered from here. */
#define HEAD_SIZE (8 * 1024)

/*
 * Fetches of ranges in flight at once at the most (DeltaConnections=), each
 * on a connection of its own: the next requests are on their way, their
 * answers waiting in their pipes and the sockets' buffers, while the one
 * before is read, so no round trip is waited for between requests
 * (docs/delta.md, step 8).
 */
#define IN_FLIGHT_MAX 16

/*
 * The next request goes out once at most this much of the answers before it
 * is left to read: early enough to hide a round trip (8 MiB take 67 ms at
 * 1 Gbit/s), late enough that its answer does not wait in the sockets so
 * long that the server gives it up (nginx's send_timeout, 60 s, is 8 MiB at
 * 1.1 Mbit/s).
 */
#define AHEAD_BYTES (UINT64_C(8) * 1024 * 1024)

/* delta_source_prefetch() at the most: headers, root.verity's upper levels (for 1 GiB of root 68 KiB, for 64 GiB
 * 4 MiB) and root.verity-sig. */
#define PREFETCH_MAX (UINT64_C(8) * 1024 * 1024)

/* One request's ranges (http_ranges_batch(), or one range): one fetch, its bytes back to back in its pipe. */
typedef struct Piece {
        HttpFetch *fetch;
        int pipe;
        size_t first;              /* its ranges: [first, first + n) of the caller's */
        size_t n;
        HttpByteRange rest;        /* with n == 1 and skip > 0: what is left of range first */
        uint64_t skip;             /* bytes of range first delivered before it */
        uint64_t size;             /* bytes its fetch delivers */
        uint64_t left;             /* of them, still to be read from the pipe */
        bool several;              /* its first request asks for several ranges */
} Piece;

struct DeltaSource {
        bool url;
        char display[1024];
        /* a file or block device */
        int fd;
        /* a URL */
        char *href;
        /* A connection kept for each fetch in flight at once, while the server keeps it; the first
         * also for the fetches one at a time (the head, headers, manifest, payloads). */
        HttpSession *session[IN_FLIGHT_MAX];
        size_t max_in_flight;      /* DeltaConnections= */
        HttpFetchOptions http;
        HttpResource res;
        bool settled;              /* a request for several ranges came through: the server answers them */
        /* ranges in progress */
        const HttpByteRange *ranges;
        size_t n_ranges, range;    /* URL: the first range no fetch has asked for yet */
        uint64_t skip;             /* URL: bytes of that range already read */
        uint64_t at;               /* file: offset within the current range */
        Piece piece[IN_FLIGHT_MAX]; /* URL: piece[(cur + i) % max_in_flight] for i < in_flight, in the ranges' order */
        size_t cur, in_flight;
        /* The pieces' fetches count the server's refusals (HTTP 503, 429) here, from their threads,
         * and wake the reader through the eventfd wake; the reader lowers max_in_flight when the
         * count moved (pieces_lower()), between its reads and while it waits for one. */
        atomic_uint refusals;
        atomic_long refused_status;
        unsigned refusals_seen;
        int wake;

        BundleSource bundle;
        DeltaStats stats;
        /* The first bytes, asked for once: the manifest, the signature and the first headers are in them. */
        uint8_t head[HEAD_SIZE];
        size_t head_len;
        /* delta_source_prefetch(): ranges fetched ahead, back to back in ahead_data */
        HttpByteRange *ahead;
        size_t n_ahead;
        uint8_t *ahead_data;
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
        o.session = s->session[0];
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

/* The bytes fetched ahead that hold [offset, offset + n) (delta_source_prefetch()), or NULL. */
static const uint8_t *ahead_find(DeltaSource *s, uint64_t offset, uint64_t n) {
        for (size_t i = 0, at = 0; i < s->n_ahead; at += (size_t) s->ahead[i].length, i++)
                if (offset >= s->ahead[i].start && n <= s->ahead[i].length &&
                    offset - s->ahead[i].start <= s->ahead[i].length - n)
                        return s->ahead_data + at + (offset - s->ahead[i].start);
        return NULL;
}

static int source_read_at(void *userdata, uint64_t offset, void *buf, size_t n) {
        DeltaSource *s = userdata;
        const uint8_t *held = ahead_find(s, offset, n);
        if (held) {
                memcpy(buf, held, n);
                return 0;
        }
        if (s->url && offset < s->head_len) {
                size_t k = (size_t) MIN((uint64_t) n, s->head_len - offset);
                memcpy(buf, s->head + offset, k);
                if (k == n)
                        return 0;
                return url_read_at(s, offset + k, (uint8_t *) buf + k, n - k);
        }
        return s->url ? url_read_at(s, offset, buf, n) : file_read_at(s, offset, buf, n);
}

int delta_source_open_url(const char *url, const HttpFetchOptions *o, unsigned connections, DeltaSource **ret) {
        _cleanup_(delta_source_freep) DeltaSource *s = NULL;
        int r;

        if (connections < 1 || connections > IN_FLIGHT_MAX)
                return err_set(EINVAL, "DeltaConnections=%u: not between 1 and %d", connections, IN_FLIGHT_MAX);
        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->fd = -EBADF;
        for (size_t i = 0; i < IN_FLIGHT_MAX; i++)
                s->piece[i].pipe = -EBADF;
        s->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (s->wake < 0)
                return err_set(errno, "cannot make an eventfd: %m");
        s->max_in_flight = connections;
        s->url = true;
        http_url_display(url, s->display, sizeof s->display);
        s->href = strdup(url);
        if (!s->href)
                return -ENOMEM;
        for (size_t i = 0; i < s->max_in_flight; i++) {
                r = http_session_new(&s->session[i]);
                if (r < 0)
                        return r;
        }
        s->http = *o;
        s->http.on_retry = NULL;
        /* TimeoutSec= bounds the delta's download, all of its fetches together. */
        s->http.started_ms = http_now_ms();
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
        int r;

        if (!s)
                return -ENOMEM;
        for (size_t i = 0; i < IN_FLIGHT_MAX; i++)
                s->piece[i].pipe = -EBADF;
        s->wake = -EBADF;
        s->max_in_flight = 1;
        (void) snprintf(s->display, sizeof s->display, "%s", path);
        s->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (s->fd < 0)
                return err_set(errno, "cannot open %s: %m", path);
        uint64_t size;
        r = fd_data_size(s->fd, &size);
        if (r == -ENOTBLK)
                return err_set(EINVAL, "%s: a delta install reads a file or a block device at offsets", path);
        if (r < 0)
                return err_set(-r, "cannot size %s: %s", path, strerror(-r));
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

bool delta_source_holds(DeltaSource *s, uint64_t offset, uint64_t n) {
        return ahead_find(s, offset, n) || (s->url && offset <= s->head_len && n <= s->head_len - offset);
}

int delta_source_read_at(DeltaSource *s, uint64_t offset, void *buf, size_t n) {
        return source_read_at(s, offset, buf, n);
}

/* A piece's fetch retries (its thread): the caller's callback, and a server's refusal counted. */
static void piece_on_retry(const HttpRetryEvent *e, void *userdata) {
        DeltaSource *s = userdata;

        if (s->http.on_retry)
                s->http.on_retry(e, s->http.userdata);
        if (e->status == 503 || e->status == 429) {
                atomic_store(&s->refused_status, e->status);
                atomic_fetch_add(&s->refusals, 1);
                /* The reader may be waiting for this very fetch (piece_wait()). */
                (void) eventfd_write(s->wake, 1);
        }
}

/* Frees p's fetch (its pipe closed first: a fetch still running is cancelled), adds up its stats. */
static int piece_release(DeltaSource *s, Piece *p, HttpFetchStats *st) {
        p->pipe = safe_close(p->pipe);
        int r = http_fetch_finish(p->fetch, st);
        p->fetch = http_fetch_free(p->fetch);
        s->stats.fetched += st->received;
        s->stats.requests += st->requests;
        return r;
}

/* Starts the fetch of the next request's ranges, behind those in flight. */
static int piece_start(DeltaSource *s) {
        size_t slot = (s->cur + s->in_flight) % s->max_in_flight;
        Piece *p = &s->piece[slot];
        HttpFetchOptions o = s->http;
        int r;

        p->first = s->range;
        p->skip = s->skip;
        /* One range a request: a fetch each, so that several of them are on their way at once, not
         * fetches of many requests each, whose second stops when its pipe is full. */
        p->n = s->http.one_range || s->skip > 0 ? 1 : http_ranges_batch(s->ranges, s->n_ranges, s->range) - s->range;
        if (p->skip > 0) {
                p->rest = (HttpByteRange) { s->ranges[p->first].start + p->skip, s->ranges[p->first].length - p->skip };
                o.ranges = &p->rest;
        } else
                o.ranges = s->ranges + p->first;
        o.n_ranges = p->n;
        o.resource = &s->res;
        o.session = s->session[slot];
        o.one_range_stop = true;
        o.on_retry = piece_on_retry;
        o.userdata = s;
        r = http_fetch_start(s->href, &o, &p->fetch, &p->pipe);
        if (r < 0)
                return err_prefix(r, "%s", s->display);
        /* The reader's end only (the fetch writes to a file description of its own): an empty pipe
         * sends the reader to piece_wait(), which also hears of a refusal. */
        int fl = fcntl(p->pipe, F_GETFL);
        if (fl < 0 || fcntl(p->pipe, F_SETFL, fl | O_NONBLOCK) < 0) {
                int e = errno;
                HttpFetchStats st = {};
                (void) piece_release(s, p, &st);
                return err_set(e, "cannot make a fetch's pipe non-blocking: %s", strerror(e));
        }
        p->several = o.n_ranges > 1 && !o.one_range;
        p->size = 0;
        for (size_t i = 0; i < o.n_ranges; i++)
                p->size += o.ranges[i].length;
        p->left = p->size;
        s->range = p->first + p->n;
        s->skip = 0;
        s->in_flight++;
        return 0;
}

/* Frees the oldest fetch, as piece_release(). */
static int piece_free(DeltaSource *s, HttpFetchStats *st) {
        int r = piece_release(s, &s->piece[s->cur], st);
        s->cur = (s->cur + 1) % s->max_in_flight;
        s->in_flight--;
        return r;
}

/*
 * A server that refuses a request (HTTP 503 or 429) while several are on
 * their way has a limit per client (connections, or requests at once: nginx's
 * limit_conn, a CDN's). Its refused fetch would retry while the others keep
 * their connections open, and those after it wait for the reader, which
 * waits for it: the install would stall until it gave up. So from then on
 * one fewer than were on their way, for the rest of the install: the fetches
 * after the oldest are cancelled and their ranges asked for again, the
 * oldest (the reader's, perhaps the refused one, still retrying) moves to
 * slot 0, and the connections of the slots now unused are closed. With one
 * on its way there is nothing to lower: its retries go on as they would.
 */
static void pieces_lower(DeltaSource *s) {
        unsigned n = atomic_load(&s->refusals);

        if (n == s->refusals_seen)
                return;
        s->refusals_seen = n;
        if (s->in_flight < 2 || s->max_in_flight < 2)
                return;
        size_t from = s->in_flight, to = MIN(s->max_in_flight, s->in_flight) - 1;
        /* The ranges again from the first fetch cancelled. */
        Piece *next = &s->piece[(s->cur + 1) % s->max_in_flight];
        s->range = next->first;
        s->skip = next->skip;
        for (size_t i = 1; i < s->in_flight; i++) {
                HttpFetchStats st = {};
                (void) piece_release(s, &s->piece[(s->cur + i) % s->max_in_flight], &st);
        }
        s->in_flight = 1;
        if (s->cur != 0) {
                Piece p = s->piece[0];
                s->piece[0] = s->piece[s->cur];
                s->piece[s->cur] = p;
                HttpSession *h = s->session[0];
                s->session[0] = s->session[s->cur];
                s->session[s->cur] = h;
                s->cur = 0;
        }
        for (size_t i = to; i < s->max_in_flight; i++)
                s->session[i] = http_session_free(s->session[i]);
        s->max_in_flight = to;
        s->stats.lowered_to = (unsigned) to;
        s->stats.lowered_from = (unsigned) from;
        s->stats.lowered_status = atomic_load(&s->refused_status);
}

/*
 * As many fetches in flight as allowed, each next one once the answers
 * before it are near their end (AHEAD_BYTES left in all); only one until a
 * request for several ranges has come through (or one range a request was
 * settled on), so a server that turns several ranges down or garbles them is
 * found out by one request, not by as many as are in flight.
 */
static int pieces_fill(DeltaSource *s) {
        pieces_lower(s);
        while (s->range < s->n_ranges && s->in_flight < (s->settled || s->http.one_range ? s->max_in_flight : 1)) {
                uint64_t ahead = 0;
                for (size_t i = 0; i < s->in_flight; i++)
                        ahead += s->piece[(s->cur + i) % s->max_in_flight].left;
                if (ahead > AHEAD_BYTES)
                        break;
                int r = piece_start(s);
                if (r < 0)
                        return r;
        }
        return 0;
}

/*
 * Waits for the oldest fetch to end (after its last byte was read, so that
 * it finishes rather than being cancelled; with read_end false it is
 * cancelled) and frees it. Returns how it ended, -ECANCELED as 0; 1 when the
 * server gave up several ranges a request in it: its ranges from the byte
 * reached, and those of the fetches after it (cancelled), are asked for again
 * one range a request.
 */
static int piece_end(DeltaSource *s, bool read_end) {
        Piece *p = &s->piece[s->cur];
        HttpFetchStats st = {};
        uint8_t more;

        if (read_end && p->pipe >= 0) {
                /* Its pipe is non-blocking: wait for its end (or a byte too many, which the fetch
                 * reports). */
                struct pollfd pfd = { .fd = p->pipe, .events = POLLIN };
                while (poll(&pfd, 1, -1) < 0 && errno == EINTR)
                        ;
                (void) !read(p->pipe, &more, 1);
        }
        /* Where the reader is in range first. */
        size_t first = p->first, n = p->n;
        uint64_t read = p->skip + p->size - p->left;
        bool several = p->several;
        int r = piece_free(s, &st);
        if (r == 0 && several)
                s->settled = true;
        if (st.one_range[0]) {
                if (!s->stats.one_range[0])
                        memcpy(s->stats.one_range, st.one_range, sizeof st.one_range);
                s->http.one_range = true;
        }
        if (r == -EPROTONOSUPPORT && st.one_range[0]) {
                /* The rest from where the reader is, one range a request. */
                while (s->in_flight > 0) {
                        HttpFetchStats later = {};
                        (void) piece_free(s, &later);
                }
                s->range = first;
                while (s->range < first + n && read >= s->ranges[s->range].length) {
                        read -= s->ranges[s->range].length;
                        s->range++;
                }
                s->skip = s->range < first + n ? read : 0;
                return 1;
        }
        if (r < 0 && r != -ECANCELED)
                return err_prefix(r, "%s", s->display);
        return 0;
}

/*
 * Waits until the oldest fetch's pipe has bytes or its end, or a fetch was
 * refused: then pieces_lower() at once, as the refused fetch may be the
 * oldest, which the reader waits for (resuming after a cut or a stall on a
 * new connection, while the server still counts the old one and those after
 * it keep theirs). Between reads pieces_fill() does the same.
 */
static int piece_wait(DeltaSource *s) {
        struct pollfd pfd[2] = {
                { .fd = s->piece[s->cur].pipe, .events = POLLIN },
                { .fd = s->wake, .events = POLLIN },
        };

        if (poll(pfd, ELEMENTSOF(pfd), -1) < 0)
                return errno == EINTR ? 0 : err_set(errno, "%s: cannot wait for the fetches: %m", s->display);
        if (pfd[1].revents & POLLIN) {
                eventfd_t v;
                (void) eventfd_read(s->wake, &v);
                pieces_lower(s);
        }
        return 0;
}

int delta_source_ranges_begin(DeltaSource *s, const HttpByteRange *ranges, size_t n) {
        if (s->in_flight > 0 || n == 0)
                return -EINVAL;
        s->ranges = ranges;
        s->n_ranges = n;
        s->range = 0;
        s->skip = 0;
        s->at = 0;
        if (!s->url)
                return 0;
        return pieces_fill(s);
}

int delta_source_ranges_read(DeltaSource *s, void *buf, size_t n) {
        int r;

        if (s->url) {
                for (size_t done = 0; done < n;) {
                        if (s->in_flight == 0)
                                return err_set(EIO, "%s: read past the ranges", s->display);
                        Piece *p = &s->piece[s->cur];
                        size_t k = (size_t) MIN((uint64_t) (n - done), p->left);
                        ssize_t got = read(p->pipe, (uint8_t *) buf + done, k);
                        if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
                                /* May lower the requests, and move the oldest fetch to slot 0. */
                                r = piece_wait(s);
                                if (r < 0)
                                        return r;
                                continue;
                        }
                        /* What came before an early end stays. */
                        if (got > 0) {
                                done += (size_t) got;
                                p->left -= (uint64_t) got;
                        }
                        if (got <= 0 || p->left == 0) {
                                /* At an early end the fetch knows why the bytes stopped. */
                                r = piece_end(s, got > 0);
                                if (r < 0)
                                        return r;
                                if (r == 0 && got <= 0)
                                        return err_set(EIO, "%s: the ranges ended early", s->display);
                        }
                        r = pieces_fill(s);
                        if (r < 0)
                                return r;
                }
                return 0;
        }
        for (size_t done = 0; done < n;) {
                if (s->range >= s->n_ranges)
                        return err_set(EIO, "%s: read past the ranges", s->display);
                const HttpByteRange *q = &s->ranges[s->range];
                size_t k = (size_t) MIN((uint64_t) (n - done), q->length - s->at);
                r = file_read_at(s, q->start + s->at, (uint8_t *) buf + done, k);
                if (r < 0)
                        return r;
                done += k;
                s->at += k;
                if (s->at == q->length) {
                        s->range++;
                        s->at = 0;
                }
        }
        return 0;
}

int delta_source_ranges_end(DeltaSource *s) {
        int r = 0;

        /* After the last byte they have all ended; before it (the reader stopped), they are cancelled,
         * and only the oldest's failure is the cause to report: the others are ahead of the reader. */
        for (bool first = true; s->in_flight > 0; first = false) {
                int k = piece_end(s, false);
                if (first)
                        r = MIN(k, 0);
        }
        s->range = s->n_ranges = 0;
        s->skip = 0;
        return r;
}

int delta_source_prefetch(DeltaSource *s, const HttpByteRange *ranges, size_t n) {
        uint64_t total = 0;
        size_t k = 0;
        int r;

        if (!s->url || s->n_ahead > 0)
                return 0;
        _cleanup_free_ HttpByteRange *keep = calloc(n ? n : 1, sizeof *keep);
        if (!keep)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const HttpByteRange *q = &ranges[i];
                if (q->length == 0 || q->start >= s->bundle.size || q->length > s->bundle.size - q->start ||
                    (k > 0 && q->start < keep[k - 1].start + keep[k - 1].length))
                        return -EINVAL;
                /* The head has these bytes already. */
                if (q->start + q->length <= s->head_len)
                        continue;
                keep[k++] = *q;
                total += q->length;
                if (total > PREFETCH_MAX)
                        return -E2BIG;
        }
        if (k == 0)
                return 0;
        _cleanup_free_ uint8_t *data = malloc((size_t) total);
        if (!data)
                return -ENOMEM;
        r = delta_source_ranges_begin(s, keep, k);
        for (size_t i = 0, at = 0; i < k && r >= 0; at += (size_t) keep[i].length, i++)
                r = delta_source_ranges_read(s, data + at, (size_t) keep[i].length);
        int e = delta_source_ranges_end(s);
        if (r < 0 || e < 0)
                return r < 0 ? r : e;
        s->ahead = TAKE_PTR(keep);
        s->n_ahead = k;
        s->ahead_data = TAKE_PTR(data);
        return 0;
}

void delta_source_stats(DeltaSource *s, DeltaStats *ret) {
        *ret = s->stats;
        ret->size = s->bundle.size;
}

DeltaSource *delta_source_free(DeltaSource *s) {
        if (!s)
                return NULL;
        for (size_t i = 0; i < IN_FLIGHT_MAX; i++) {
                safe_close(s->piece[i].pipe);
                http_fetch_free(s->piece[i].fetch);
                http_session_free(s->session[i]);
        }
        safe_close(s->fd);
        safe_close(s->wake);
        free(s->href);
        free(s->ahead);
        free(s->ahead_data);
        free(s);
        return NULL;
}
