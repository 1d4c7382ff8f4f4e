/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "bundle/bundle.h"

#define COPY_CHUNK (1024 * 1024)

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

int bundle_write(const char *out_path, const Manifest *m, const char *manifest_json, size_t manifest_len,
                 const uint8_t *sig, size_t sig_len, const char *const *payload_paths) {
        _cleanup_(atomic_file_freep) AtomicFile *f = NULL;
        _cleanup_(archive_write_freep) struct archive *a = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        int r;

        if (!out_path || !m || !manifest_json || !sig || !payload_paths)
                return -EINVAL;
        r = manifest_validate(m);
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

        buf = malloc(COPY_CHUNK);
        if (!buf)
                return -ENOMEM;

        r = atomic_file_open(out_path, 0644, &f);
        if (r < 0)
                return err_set(r, "bundle: cannot create %s: %s", out_path, strerror(-r));

        a = archive_write_new();
        if (!a)
                return -ENOMEM;
        /* pax_restricted is plain ustar unless a name or size needs more.
         * Block size 0: no 10 KiB re-blocking of our 1 MiB writes, and no
         * record padding after the end-of-archive marker. */
        if (archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
            archive_write_set_bytes_per_block(a, 0) != ARCHIVE_OK ||
            archive_write_open_fd(a, f->fd) != ARCHIVE_OK)
                return archive_fail(a, out_path);

        r = write_buffer_member(a, BUNDLE_MANIFEST_NAME, manifest_json, manifest_len);
        if (r < 0)
                return r;
        r = write_buffer_member(a, BUNDLE_SIGNATURE_NAME, sig, sig_len);
        if (r < 0)
                return r;
        for (size_t i = 0; i < m->n_payloads; i++) {
                r = write_payload(a, &m->payloads[i], payload_paths[i], buf);
                if (r < 0)
                        return r;
        }
        if (archive_write_close(a) != ARCHIVE_OK)
                return archive_fail(a, out_path);

        r = atomic_file_commit(f);
        if (r < 0)
                return err_set(r, "bundle: cannot commit %s: %s", out_path, strerror(-r));
        return 0;
}
