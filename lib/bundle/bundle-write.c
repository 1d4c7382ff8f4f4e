/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "bundle/bundle.h"

#define COPY_CHUNK (1024 * 1024)

/*
 * Where libarchive's output goes: pwrite() at a running offset into fd, or
 * only counted (fd < 0). While in_place is set the member's data is already
 * in the file at that offset: it is passed through libarchive as zeros (so
 * the tar layout stays libarchive's) and only counted. With a block size of
 * 0 libarchive hands member data to us unbuffered; the zeros buffer is
 * checked so a libarchive that buffered could never leave zeros in a bundle.
 */
typedef struct Sink {
        int fd;
        uint64_t offset;
        bool in_place;
        const uint8_t *zeros;
} Sink;

static la_ssize_t sink_write(struct archive *a, void *userdata, const void *buf, size_t n) {
        Sink *s = userdata;
        const uint8_t *p = buf;

        if (s->in_place) {
                if (p < s->zeros || p + n > s->zeros + COPY_CHUNK) {
                        archive_set_error(a, EIO, "libarchive buffered member data");
                        return -1;
                }
        } else if (s->fd >= 0)
                for (size_t done = 0; done < n;) {
                        ssize_t k = pwrite(s->fd, p + done, n - done, (off_t) (s->offset + done));
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k <= 0) {
                                archive_set_error(a, k < 0 ? errno : EIO, "%s", strerror(k < 0 ? errno : EIO));
                                return -1;
                        }
                        done += (size_t) k;
                }
        s->offset += n;
        return (la_ssize_t) n;
}

/* pax_restricted is plain ustar unless a name or size needs more. Block
 * size 0: no 10 KiB re-blocking of our 1 MiB writes, no record padding after
 * the end-of-archive marker, and member data reaches sink_write() as passed. */
static int archive_open_sink(Sink *s, const char *name, struct archive **ret) {
        struct archive *a = archive_write_new();
        if (!a)
                return -ENOMEM;
        if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
            archive_write_set_bytes_per_block(a, 0) != ARCHIVE_OK ||
            archive_write_open2(a, s, NULL, sink_write, NULL, NULL) != ARCHIVE_OK) {
                int r = err_set(archive_errno(a) > 0 ? archive_errno(a) : EIO, "bundle: writing '%s': %s", name,
                                archive_error_string(a) ?: "libarchive error");
                archive_write_free(a);
                return r;
        }
        *ret = a;
        return 0;
}

DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive *, archive_write_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive_entry *, archive_entry_free);

static int archive_fail(struct archive *a, const char *name) {
        const char *e = archive_error_string(a);
        int errnum = archive_errno(a);
        return err_set(errnum > 0 ? errnum : EIO, "bundle: writing '%s': %s", name, e ? e : "libarchive error");
}

/* Every member looks the same apart from name and size, so equal inputs
 * give byte-identical bundles. */
static int write_header(struct archive *a, const char *name, uint64_t size) {
        _cleanup_(archive_entry_freep) struct archive_entry *e = archive_entry_new();
        if (!e)
                return -ENOMEM;
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_uid(e, 0);
        archive_entry_set_gid(e, 0);
        archive_entry_set_mtime(e, 0, 0);
        archive_entry_set_size(e, (la_int64_t) size);
        if (archive_write_header(a, e) != ARCHIVE_OK)
                return archive_fail(a, name);
        return 0;
}

static int write_data(struct archive *a, const char *name, const void *buf, size_t n) {
        const uint8_t *p = buf;

        while (n > 0) {
                la_ssize_t k = archive_write_data(a, p, n);
                if (k <= 0)
                        return archive_fail(a, name);
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static int write_buffer_member(struct archive *a, const char *name, const void *buf, size_t n) {
        int r = write_header(a, name, n);
        if (r < 0)
                return r;
        r = write_data(a, name, buf, n);
        if (r < 0)
                return r;
        if (archive_write_finish_entry(a) != ARCHIVE_OK)
                return archive_fail(a, name);
        return 0;
}

static int write_payload(struct archive *a, const Payload *p, const char *path, uint8_t *buf) {
        struct stat st;
        int r;

        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return err_set(errno, "bundle: payload '%s': cannot open %s: %m", p->name, path);
        if (fstat(fd, &st) < 0)
                return err_set(errno, "bundle: payload '%s': cannot stat %s: %m", p->name, path);
        if (!S_ISREG(st.st_mode))
                return err_set(EINVAL, "bundle: payload '%s': %s is not a regular file", p->name, path);
        if ((uint64_t) st.st_size != p->size)
                return err_set(EINVAL, "bundle: payload '%s': %s has %" PRIu64 " bytes, the manifest says %" PRIu64,
                               p->name, path, (uint64_t) st.st_size, p->size);

        r = write_header(a, p->name, p->size);
        if (r < 0)
                return r;
        uint64_t left = p->size;
        while (left > 0) {
                ssize_t k = loop_read(fd, buf, (size_t) MIN(left, (uint64_t) COPY_CHUNK));
                if (k < 0)
                        return err_set((int) k, "bundle: payload '%s': reading %s: %s", p->name, path,
                                       strerror((int) -k));
                if (k == 0)
                        return err_set(EIO, "bundle: payload '%s': %s shrank while being read", p->name, path);
                r = write_data(a, p->name, buf, (size_t) k);
                if (r < 0)
                        return r;
                left -= (uint64_t) k;
        }
        /* A file that grew would silently lose its tail: refuse it. */
        ssize_t k = loop_read(fd, buf, 1);
        if (k != 0)
                return err_set(EIO, "bundle: payload '%s': %s changed while being read", p->name, path);
        if (archive_write_finish_entry(a) != ARCHIVE_OK)
                return archive_fail(a, p->name);
        return 0;
}

/* A payload whose data already sits in the sink's file at the sink's offset. */
static int write_payload_in_place(struct archive *a, Sink *s, const Payload *p, uint64_t data_offset) {
        int r = write_header(a, p->name, p->size);
        if (r < 0)
                return r;
        if (s->offset != data_offset)
                return err_set(EIO, "bundle: payload '%s' would start at %" PRIu64 ", its data is at %" PRIu64, p->name,
                               s->offset, data_offset);
        s->in_place = true;
        for (uint64_t left = p->size; left > 0;) {
                size_t n = (size_t) MIN(left, (uint64_t) COPY_CHUNK);
                r = write_data(a, p->name, s->zeros, n);
                if (r < 0)
                        break;
                left -= n;
        }
        s->in_place = false;
        if (r < 0)
                return r;
        if (archive_write_finish_entry(a) != ARCHIVE_OK)
                return archive_fail(a, p->name);
        return 0;
}

static int write_head(struct archive *a, const char *manifest_json, size_t manifest_len, const uint8_t *sig,
                      size_t sig_len) {
        int r = write_buffer_member(a, BUNDLE_MANIFEST_NAME, manifest_json, manifest_len);
        if (r < 0)
                return r;
        return write_buffer_member(a, BUNDLE_SIGNATURE_NAME, sig, sig_len);
}

int bundle_first_payload_offset(const Manifest *m, size_t manifest_len, size_t sig_len, uint64_t *ret) {
        _cleanup_(archive_write_freep) struct archive *a = NULL;
        _cleanup_free_ uint8_t *zeros = NULL;
        int r;

        if (!m || m->n_payloads == 0 || manifest_len > MANIFEST_MAX_SIZE || sig_len > BUNDLE_SIGNATURE_MAX)
                return -EINVAL;
        zeros = calloc(1, MANIFEST_MAX_SIZE);
        if (!zeros)
                return -ENOMEM;
        Sink s = { .fd = -EBADF, .zeros = zeros };
        r = archive_open_sink(&s, BUNDLE_MANIFEST_NAME, &a);
        if (r < 0)
                return r;
        r = write_head(a, (const char *) zeros, manifest_len, zeros, sig_len);
        if (r < 0)
                return r;
        r = write_header(a, m->payloads[0].name, m->payloads[0].size);
        if (r < 0)
                return r;
        *ret = s.offset;
        return 0;
}

int bundle_manifest_pad(char **json, size_t *len, uint64_t first_payload_offset, uint64_t align) {
        if (align == 0 || align % BUNDLE_RECORD != 0)
                return -EINVAL;
        uint64_t miss = (align - first_payload_offset % align) % align;
        if (miss == 0)
                return 0;
        /* The manifest member's data, padded to a record, grows by miss bytes:
         * the new length fills its last record exactly. */
        size_t padded = (*len + BUNDLE_RECORD - 1) / BUNDLE_RECORD * BUNDLE_RECORD + (size_t) miss;
        if (padded > MANIFEST_MAX_SIZE)
                return err_set(EFBIG, "bundle: manifest of %zu bytes cannot be padded to %zu", *len, padded);
        char *p = realloc(*json, padded + 1);
        if (!p)
                return -ENOMEM;
        /* Spaces before the final newline: JSON whitespace, which readers skip. */
        size_t keep = *len > 0 && p[*len - 1] == '\n' ? *len - 1 : *len;
        memset(p + keep, ' ', padded - keep - 1);
        p[padded - 1] = '\n';
        p[padded] = 0;
        *json = p;
        *len = padded;
        return 1;
}

/* The manifest JSON is what gets signed and what readers trust; the Manifest
 * decides what is written. They must describe the same payloads. */
static int check_consistent(const Manifest *m, const char *json, size_t len) {
        _cleanup_(manifest_freep) Manifest *parsed = NULL;
        int r;

        r = manifest_parse(json, len, &parsed);
        if (r < 0)
                return err_prefix(r, "bundle: manifest JSON");
        bool same = parsed->n_payloads == m->n_payloads;
        for (size_t i = 0; same && i < m->n_payloads; i++)
                same = streq(parsed->payloads[i].name, m->payloads[i].name) &&
                       parsed->payloads[i].role == m->payloads[i].role &&
                       parsed->payloads[i].size == m->payloads[i].size &&
                       memcmp(parsed->payloads[i].sha256, m->payloads[i].sha256, SHA256_DIGEST_SIZE) == 0;
        if (!same)
                return err_set(EINVAL, "bundle: the manifest JSON describes other payloads than the manifest");
        return 0;
}

static int check_args(const Manifest *m, const char *manifest_json, size_t manifest_len, const uint8_t *sig,
                      size_t sig_len, const char *const *payload_paths) {
        if (!m || !manifest_json || !sig || !payload_paths)
                return -EINVAL;
        int r = manifest_validate(m);
        if (r < 0)
                return r;
        if (manifest_len > MANIFEST_MAX_SIZE)
                return err_set(EFBIG, "bundle: manifest larger than %d bytes", MANIFEST_MAX_SIZE);
        if (sig_len == 0 || sig_len > BUNDLE_SIGNATURE_MAX)
                return err_set(EINVAL, "bundle: signature of %zu bytes (must be 1..%d)", sig_len, BUNDLE_SIGNATURE_MAX);
        r = check_consistent(m, manifest_json, manifest_len);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_payloads; i++)
                if (!payload_paths[i])
                        return err_set(EINVAL, "bundle: no file for payload '%s'", m->payloads[i].name);
        return 0;
}

/* Writes the members from index first on, and the end of the archive. */
static int write_rest(struct archive *a, const Manifest *m, const char *const *payload_paths, size_t first,
                      uint8_t *buf, const char *out_path) {
        for (size_t i = first; i < m->n_payloads; i++) {
                int r = write_payload(a, &m->payloads[i], payload_paths[i], buf);
                if (r < 0)
                        return r;
        }
        if (archive_write_close(a) != ARCHIVE_OK)
                return archive_fail(a, out_path);
        return 0;
}

int bundle_write(const char *out_path, const Manifest *m, const char *manifest_json, size_t manifest_len,
                 const uint8_t *sig, size_t sig_len, const char *const *payload_paths) {
        _cleanup_(atomic_file_freep) AtomicFile *f = NULL;
        _cleanup_(archive_write_freep) struct archive *a = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        int r;

        if (!out_path)
                return -EINVAL;
        r = check_args(m, manifest_json, manifest_len, sig, sig_len, payload_paths);
        if (r < 0)
                return r;

        buf = malloc(COPY_CHUNK);
        if (!buf)
                return -ENOMEM;

        r = atomic_file_open(out_path, 0644, &f);
        if (r < 0)
                return err_set(r, "bundle: cannot create %s: %s", out_path, strerror(-r));

        Sink s = { .fd = f->fd };
        r = archive_open_sink(&s, out_path, &a);
        if (r < 0)
                return r;
        r = write_head(a, manifest_json, manifest_len, sig, sig_len);
        if (r < 0)
                return r;
        r = write_rest(a, m, payload_paths, 0, buf, out_path);
        if (r < 0)
                return r;

        r = atomic_file_commit(f);
        if (r < 0)
                return err_set(r, "bundle: cannot commit %s: %s", out_path, strerror(-r));
        return 0;
}

int bundle_write_in_place(const char *out_path, const Manifest *m, const char *manifest_json, size_t manifest_len,
                          const uint8_t *sig, size_t sig_len, const char *const *payload_paths) {
        _cleanup_(archive_write_freep) struct archive *a = NULL;
        _cleanup_free_ uint8_t *buf = NULL, *zeros = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint64_t head;
        struct stat st;
        int r;

        if (!out_path)
                return -EINVAL;
        r = check_args(m, manifest_json, manifest_len, sig, sig_len, payload_paths);
        if (r < 0)
                return r;
        const Payload *first = &m->payloads[0];
        r = bundle_first_payload_offset(m, manifest_len, sig_len, &head);
        if (r < 0)
                return r;

        fd = open(payload_paths[0], O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || fstat(fd, &st) < 0)
                return err_set(errno, "bundle: payload '%s': %s: %m", first->name, payload_paths[0]);
        if (!S_ISREG(st.st_mode) || (uint64_t) st.st_size != first->size)
                return err_set(EINVAL, "bundle: payload '%s': %s is not a regular file of %" PRIu64 " bytes",
                               first->name, payload_paths[0], first->size);
        buf = malloc(COPY_CHUNK);
        zeros = calloc(1, COPY_CHUNK);
        if (!buf || !zeros)
                return -ENOMEM;

        /* Room for the members before it, in front of the payload's blocks;
         * ext4 and XFS move extents, nothing is copied. Refused (file
         * untouched) when head is not a multiple of the file system's block
         * size or the file system cannot do it. */
        if (fallocate(fd, FALLOC_FL_INSERT_RANGE, 0, (off_t) head) < 0) {
                if (errno == EOPNOTSUPP || errno == EINVAL)
                        return err_set(EOPNOTSUPP, "bundle: cannot insert %" PRIu64 " bytes in front of %s: %m", head,
                                       payload_paths[0]);
                return err_set(errno, "bundle: cannot insert %" PRIu64 " bytes in front of %s: %m", head,
                               payload_paths[0]);
        }

        Sink s = { .fd = fd, .zeros = zeros };
        r = archive_open_sink(&s, out_path, &a);
        if (r < 0)
                return r;
        r = write_head(a, manifest_json, manifest_len, sig, sig_len);
        if (r < 0)
                return r;
        r = write_payload_in_place(a, &s, first, head);
        if (r < 0)
                return r;
        r = write_rest(a, m, payload_paths, 1, buf, out_path);
        if (r < 0)
                return r;
        if (ftruncate(fd, (off_t) s.offset) < 0 || fchmod(fd, 0644) < 0 || fsync(fd) < 0)
                return err_set(errno, "bundle: cannot write %s: %m", payload_paths[0]);
        if (rename(payload_paths[0], out_path) < 0)
                return err_set(errno, "bundle: cannot rename %s to %s: %m", payload_paths[0], out_path);
        r = fsync_directory_of(out_path);
        if (r < 0)
                return err_set(r, "bundle: cannot commit %s: %s", out_path, strerror(-r));
        return 0;
}
