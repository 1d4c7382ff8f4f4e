/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <archive.h>
#include <archive_entry.h>
#include <inttypes.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "bundle/bundle.h"

#define READ_BLOCK (1024 * 1024)
/* Reads through a BundleSource (each a Range request for a URL): the first
 * window holds the manifest and the signature; after a skipped member's data
 * only a header is needed. */
#define SOURCE_WINDOW (8 * 1024)
#define SOURCE_HEADER_WINDOW BUNDLE_HEADER_WINDOW
#define TAR_BLOCK BUNDLE_TAR_BLOCK

struct BundleReader {
        char *name;              /* what messages call the bundle: its path, a URL, "standard input" */
        struct archive *archive;
        char *manifest_json;
        size_t manifest_len;
        Manifest *manifest;
        char *signer;

        unsigned member;         /* number of the last member header read, from 1 */
        size_t next;             /* index of the next payload in the manifest */
        const Payload *current;
        uint64_t done;           /* bytes of current read so far */
        Sha256 *hash;
        bool current_verified;
        bool current_unhashed;   /* bundle_reader_hand_over_digest(): only the size is checked */
        bool at_end;
        int failed;              /* sticky: once < 0, nothing more is yielded */

        /* bundle_reader_open_source() */
        BundleSource src;
        bool has_src;
        uint64_t pos;
        uint8_t *window;
        bool skipped;            /* the last move was a skip: read a header's worth */
        uint64_t after_signature; /* where the signature's data ends, padded, if its header was one block */
        int src_error;           /* the source's own failure, reported instead of libarchive's */

        /* bundle_reader_open() of a regular file: bundle_reader_map_payload() */
        int fd;                  /* not owned; -EBADF when not a regular file */
        uint64_t fd_base;        /* the file offset libarchive started reading at */
        void *map;
        size_t map_len;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(struct archive *, archive_read_free);

BundleReader *bundle_reader_free(BundleReader *b) {
        if (!b)
                return NULL;
        if (b->archive)
                archive_read_free(b->archive);
        free(b->name);
        free(b->manifest_json);
        manifest_free(b->manifest);
        free(b->signer);
        sha256_free(b->hash);
        free(b->window);
        if (b->map)
                (void) munmap(b->map, b->map_len);
        free(b);
        return NULL;
}

static int fail(BundleReader *b, int r) {
        b->failed = r < 0 ? r : -EIO;
        return b->failed;
}

static int archive_fail(BundleReader *b, const char *name) {
        if (b->src_error < 0)
                return fail(b, b->src_error);
        const char *e = archive_error_string(b->archive);
        int errnum = archive_errno(b->archive);
        /* libarchive reports format problems with private codes (EILSEQ, -1):
         * those are bad bundles; keep only real I/O and memory errors. */
        if (errnum != EIO && errnum != ENOMEM)
                errnum = EBADMSG;
        if (name)
                return fail(b, err_set(errnum, "%s: member %u '%s': %s", b->name, b->member, name,
                                       e ? e : "archive error"));
        return fail(b, err_set(errnum, "%s: member %u: %s", b->name, b->member, e ? e : "archive error"));
}

/* Reads the next member header; 0 at the end of the archive. */
static int next_header(BundleReader *b, struct archive_entry **ret) {
        struct archive_entry *e = NULL;

        int r = archive_read_next_header(b->archive, &e);
        if (r == ARCHIVE_EOF)
                return 0;
        b->member++;
        /* Warnings mean libarchive had to guess (bad pax records, charset
         * trouble): none of that comes out of our writer. */
        if (r != ARCHIVE_OK)
                return archive_fail(b, NULL);
        *ret = e;
        return 1;
}

static const char *filetype_name(mode_t t) {
        switch (t) {
        case AE_IFLNK:
                return "a symlink";
        case AE_IFDIR:
                return "a directory";
        case AE_IFCHR:
        case AE_IFBLK:
                return "a device node";
        case AE_IFIFO:
                return "a fifo";
        case AE_IFSOCK:
                return "a socket";
        default:
                return "not a regular file";
        }
}

/* Checks that the member is exactly the expected one, before any of its data is read. */
static int check_member(BundleReader *b, struct archive_entry *e, const char *expected, uint64_t max,
                        bool exact_size) {
        const char *name = archive_entry_pathname(e);
        unsigned n = b->member;

        if (!name || !*name)
                return fail(b, err_set(EBADMSG, "%s: member %u: has no name", b->name, n));
        if (archive_entry_hardlink(e))
                return fail(b, err_set(EBADMSG, "%s: member %u '%.256s': is a hard link", b->name, n, name));
        if (archive_entry_filetype(e) != AE_IFREG || archive_entry_symlink(e))
                return fail(b, err_set(EBADMSG, "%s: member %u '%.256s': is %s", b->name, n, name,
                                       archive_entry_symlink(e) ? "a symlink" : filetype_name(archive_entry_filetype(e))));
        if (name[0] == '/')
                return fail(b, err_set(EBADMSG, "%s: member %u '%.256s': absolute name", b->name, n, name));
        if (streq(name, "..") || strncmp(name, "../", 3) == 0 || strstr(name, "/../") ||
            (strlen(name) >= 3 && streq(name + strlen(name) - 3, "/..")))
                return fail(b, err_set(EBADMSG, "%s: member %u '%.256s': name escapes the bundle ('..')", b->name, n, name));
        if (strchr(name, '/'))
                return fail(b, err_set(EBADMSG, "%s: member %u '%.256s': name contains '/'", b->name, n, name));
        if (archive_entry_sparse_count(e) > 0)
                return fail(b, err_set(EBADMSG, "%s: member %u '%.256s': is a sparse file", b->name, n, name));

        if (!streq(name, expected)) {
                const char *what = "unknown member";
                if (streq(name, BUNDLE_MANIFEST_NAME) || streq(name, BUNDLE_SIGNATURE_NAME))
                        what = n > 2 ? "duplicate member" : "member out of order";
                for (size_t i = 0; b->manifest && i < b->manifest->n_payloads; i++)
                        if (streq(name, b->manifest->payloads[i].name))
                                what = i < b->next ? "duplicate member" : "member out of order";
                return fail(b, err_set(EBADMSG, "%s: member %u '%.256s': %s (expected '%s')", b->name, n, name, what,
                                       expected));
        }

        if (!archive_entry_size_is_set(e) || archive_entry_size(e) < 0)
                return fail(b, err_set(EBADMSG, "%s: member %u '%s': no size", b->name, n, name));
        uint64_t size = (uint64_t) archive_entry_size(e);
        if (size > max)
                return fail(b, err_set(EFBIG, "%s: member %u '%s': larger than %s (%" PRIu64 " > %" PRIu64 " bytes)", b->name,
                                       n, name, exact_size ? "declared" : "allowed", size, max));
        if (exact_size && size < max)
                return fail(b, err_set(EBADMSG, "%s: member %u '%s': smaller than declared (%" PRIu64 " < %" PRIu64 " bytes)", b->name,
                                       n, name, size, max));
        return 0;
}

/* Reads a whole small member (manifest, signature) into memory. */
static int read_small_member(BundleReader *b, const char *name, size_t max, uint8_t **ret, size_t *ret_len) {
        struct archive_entry *e = NULL;
        int r;

        r = next_header(b, &e);
        if (r < 0)
                return r;
        if (r == 0)
                return fail(b, err_set(EBADMSG, "%s: member %u '%s': missing (archive ends)", b->name, b->member + 1, name));
        r = check_member(b, e, name, max, false);
        if (r < 0)
                return r;

        size_t size = (size_t) archive_entry_size(e), got = 0;
        _cleanup_free_ uint8_t *buf = malloc(size + 1);
        if (!buf)
                return -ENOMEM;
        while (got < size) {
                la_ssize_t k = archive_read_data(b->archive, buf + got, size - got);
                if (k < 0)
                        return archive_fail(b, name);
                if (k == 0)
                        return fail(b, err_set(EBADMSG, "%s: member %u '%s': truncated", b->name, b->member, name));
                got += (size_t) k;
        }
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        *ret_len = size;
        return 0;
}

static la_ssize_t source_read(struct archive *a, void *userdata, const void **ret) {
        BundleReader *b = userdata;
        size_t n = (size_t) MIN((uint64_t) (b->skipped ? SOURCE_HEADER_WINDOW : SOURCE_WINDOW), b->src.size - b->pos);
        (void) a;

        b->skipped = false;
        if (n == 0)
                return 0;
        int r = b->src.read_at(b->src.userdata, b->pos, b->window, n);
        if (r < 0) {
                b->src_error = r;
                archive_set_error(a, EIO, "%s", err_message(r));
                return -1;
        }
        b->pos += n;
        *ret = b->window;
        return (la_ssize_t) n;
}

static la_int64_t source_skip(struct archive *a, void *userdata, la_int64_t request) {
        BundleReader *b = userdata;
        (void) a;
        if (request <= 0)
                return 0;
        uint64_t k = MIN((uint64_t) request, b->src.size - b->pos);
        b->pos += k;
        b->skipped = true;
        return (la_int64_t) k;
}

static int reader_new(const char *name, BundleReader **ret) {
        _cleanup_(bundle_reader_freep) BundleReader *b = calloc(1, sizeof *b);
        if (!b)
                return -ENOMEM;
        b->name = strdup(name ?: "bundle");
        if (!b->name)
                return -ENOMEM;
        b->fd = -EBADF;
        b->archive = archive_read_new();
        if (!b->archive)
                return -ENOMEM;
        /* Plain tar only: no decompression filters, so no decompression bombs
         * and nothing but tar framing between the bytes and our checks. */
        if (archive_read_support_format_tar(b->archive) != ARCHIVE_OK)
                return archive_fail(b, NULL);
        *ret = TAKE_PTR(b);
        return 0;
}

static int read_manifest(BundleReader *b, TrustStore *trust);

int bundle_reader_open(int fd, const char *name, TrustStore *trust, BundleReader **ret) {
        _cleanup_(bundle_reader_freep) BundleReader *b = NULL;
        int r;

        if (fd < 0 || !ret)
                return -EINVAL;
        r = reader_new(name, &b);
        if (r < 0)
                return r;
        struct stat st;
        off_t base = lseek(fd, 0, SEEK_CUR);
        bool stat_ok = fstat(fd, &st) == 0;
        if (stat_ok && S_ISDIR(st.st_mode))
                return err_set(EISDIR, "%s: is a directory", b->name);
        if (stat_ok && S_ISREG(st.st_mode) && base >= 0) {
                b->fd = fd;
                b->fd_base = (uint64_t) base;
        }
        if (archive_read_open_fd(b->archive, fd, READ_BLOCK) != ARCHIVE_OK)
                return err_set(EBADMSG, "%s: not a tar archive: %s", b->name, archive_error_string(b->archive));
        r = read_manifest(b, trust);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(b);
        return 0;
}

int bundle_reader_open_source(const BundleSource *src, const char *name, TrustStore *trust, BundleReader **ret) {
        _cleanup_(bundle_reader_freep) BundleReader *b = NULL;
        int r;

        if (!src || !src->read_at || !ret)
                return -EINVAL;
        r = reader_new(name, &b);
        if (r < 0)
                return r;
        b->src = *src;
        b->has_src = true;
        b->window = malloc(SOURCE_WINDOW);
        if (!b->window)
                return -ENOMEM;
        if (archive_read_open2(b->archive, b, NULL, source_read, source_skip, NULL) != ARCHIVE_OK) {
                if (b->src_error < 0)
                        return b->src_error;
                return err_set(EBADMSG, "%s: not a tar archive: %s", b->name, archive_error_string(b->archive));
        }
        r = read_manifest(b, trust);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(b);
        return 0;
}

/* n bytes of member data padded to whole tar blocks (n <= UINT64_MAX - TAR_BLOCK). */
static uint64_t tar_padded(uint64_t n) {
        return (n + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
}

int bundle_reader_index(BundleReader *b, uint64_t *ret_offsets) {
        const Manifest *m;
        struct archive_entry *e = NULL;
        int r;

        if (!b || !b->has_src || !ret_offsets || b->current)
                return -EINVAL;
        if (b->failed < 0)
                return b->failed;
        m = b->manifest;
        _cleanup_free_ uint64_t *headers = calloc(m->n_payloads + 1, sizeof *headers);
        if (!headers)
                return -ENOMEM;
        for (size_t i = 0; i <= m->n_payloads; i++) {
                r = next_header(b, &e);
                if (r < 0)
                        return r;
                /* Where this header (or the archive's end) starts: the previous member's data ends there. */
                headers[i] = (uint64_t) archive_read_header_position(b->archive);
                if (i == m->n_payloads) {
                        if (r > 0) {
                                const char *name = archive_entry_pathname(e);
                                return fail(b, err_set(EBADMSG, "%s: member %u '%.256s': unexpected member after the last payload", b->name,
                                                       b->member, name ? name : ""));
                        }
                        break;
                }
                const Payload *p = &m->payloads[i];
                if (r == 0)
                        return fail(b, err_set(EBADMSG, "%s: member %u '%s': missing (archive ends)", b->name, b->member + 1, p->name));
                r = check_member(b, e, p->name, p->size, true);
                if (r < 0)
                        return r;
                b->next++;
                if (archive_read_data_skip(b->archive) != ARCHIVE_OK)
                        return archive_fail(b, p->name);
        }
        for (size_t i = 0; i < m->n_payloads; i++) {
                uint64_t padded = tar_padded(m->payloads[i].size);
                /* At least one header block before the data, and the data inside the bundle. */
                if (headers[i + 1] < padded || headers[i + 1] - padded < headers[i] + TAR_BLOCK ||
                    headers[i + 1] - padded + m->payloads[i].size > b->src.size)
                        return fail(b, err_set(EBADMSG, "%s: member %u '%s': cannot place its data (header at %" PRIu64
                                               ", next at %" PRIu64 ")",
                                               b->name, (unsigned) i + 3, m->payloads[i].name, headers[i], headers[i + 1]));
                ret_offsets[i] = headers[i + 1] - padded;
        }
        b->at_end = true;
        return 0;
}

int bundle_reader_guess_headers(BundleReader *b, uint64_t *ret_headers) {
        if (!b || !b->has_src || !b->manifest || !ret_headers || b->member != 2 || b->after_signature == 0)
                return -EINVAL;
        const Manifest *m = b->manifest;
        uint64_t at = b->after_signature;
        for (size_t i = 0; i <= m->n_payloads; i++) {
                ret_headers[i] = at;
                if (i == m->n_payloads)
                        break;
                if (m->payloads[i].size > UINT64_MAX - TAR_BLOCK ||
                    tar_padded(m->payloads[i].size) > UINT64_MAX - TAR_BLOCK - at)
                        return -EOVERFLOW;
                at += TAR_BLOCK + tar_padded(m->payloads[i].size);
        }
        return 0;
}

static int read_manifest(BundleReader *b, TrustStore *trust) {
        _cleanup_free_ uint8_t *sig = NULL;
        uint8_t *json = NULL;
        size_t sig_len = 0;
        int r;

        r = read_small_member(b, BUNDLE_MANIFEST_NAME, MANIFEST_MAX_SIZE, &json, &b->manifest_len);
        if (r < 0)
                return r;
        b->manifest_json = (char *) json;
        r = read_small_member(b, BUNDLE_SIGNATURE_NAME, BUNDLE_SIGNATURE_MAX, &sig, &sig_len);
        if (r < 0)
                return r;
        if (sig_len == 0)
                return err_set(EBADMSG, "%s: member 2 '%s': empty", b->name, BUNDLE_SIGNATURE_NAME);
        la_int64_t h = archive_read_header_position(b->archive);
        if (h >= 0)
                b->after_signature = (uint64_t) h + TAR_BLOCK + tar_padded(sig_len);

        /* Nothing of the manifest is looked at before its signature verified. */
        if (trust) {
                r = trust_verify_cms(trust, b->manifest_json, b->manifest_len, sig, sig_len, &b->signer);
                if (r < 0)
                        return err_prefix(r, "%s: %s", b->name, BUNDLE_SIGNATURE_NAME);
        }
        r = manifest_parse(b->manifest_json, b->manifest_len, &b->manifest);
        if (r < 0)
                return err_prefix(r, "%s: member 1 '%s'", b->name, BUNDLE_MANIFEST_NAME);
        return 0;
}

const Manifest *bundle_reader_manifest(BundleReader *b) {
        return b ? b->manifest : NULL;
}

const char *bundle_reader_manifest_json(BundleReader *b, size_t *ret_len) {
        if (!b)
                return NULL;
        if (ret_len)
                *ret_len = b->manifest_len;
        return b->manifest_json;
}

uint64_t bundle_reader_bytes(BundleReader *b) {
        la_int64_t n = b && b->archive ? archive_filter_bytes(b->archive, -1) : 0;
        return n > 0 ? (uint64_t) n : 0;
}

const char *bundle_reader_name(BundleReader *b) {
        return b ? b->name : "bundle";
}

const char *bundle_reader_signer(BundleReader *b) {
        return b ? b->signer : NULL;
}

static int finish_payload(BundleReader *b) {
        const Payload *p = b->current;
        uint8_t digest[SHA256_DIGEST_SIZE];
        char want[SHA256_HEX_SIZE], got[SHA256_HEX_SIZE];
        int r;

        if (b->current_unhashed) {
                b->current_verified = true;
                return 0;
        }
        r = sha256_final(b->hash, digest);
        if (r < 0)
                return fail(b, r);
        if (memcmp(digest, p->sha256, SHA256_DIGEST_SIZE) != 0) {
                hex_encode(p->sha256, SHA256_DIGEST_SIZE, want);
                hex_encode(digest, SHA256_DIGEST_SIZE, got);
                return fail(b, err_set(EBADMSG, "%s: member %u '%s': sha256 mismatch (manifest says %s, got %s)", b->name,
                                       b->member, p->name, want, got));
        }
        b->current_verified = true;
        return 0;
}

int bundle_reader_hand_over_digest(BundleReader *b) {
        if (!b || !b->current || b->done > 0 || b->current_verified)
                return -EINVAL;
        b->current_unhashed = true;
        return 0;
}

int bundle_reader_map_payload(BundleReader *b, const uint8_t **ret) {
        long page = sysconf(_SC_PAGESIZE);
        struct stat st;

        if (!b || !ret || !b->current || !b->current_unhashed || b->done > 0 || b->current_verified)
                return -EINVAL;
        if (b->failed < 0)
                return b->failed;
        if (b->fd < 0 || b->current->size == 0 || b->current->size > SIZE_MAX || page <= 0)
                return -EOPNOTSUPP;
        /* Right after the member's header: libarchive has consumed exactly the headers before its data. */
        la_int64_t consumed = archive_filter_bytes(b->archive, -1);
        if (consumed < 0)
                return -EOPNOTSUPP;
        uint64_t offset = b->fd_base + (uint64_t) consumed;
        if (offset % (uint64_t) page != 0)
                return -EOPNOTSUPP;
        const Payload *p = b->current;
        if (fstat(b->fd, &st) < 0)
                return fail(b, err_set(errno, "%s: member %u '%s': %m", b->name, b->member, p->name));
        if ((uint64_t) st.st_size < offset || (uint64_t) st.st_size - offset < p->size)
                return fail(b, err_set(EBADMSG, "%s: member %u '%s': truncated after %" PRIu64 " of %" PRIu64 " bytes", b->name,
                                       b->member, p->name,
                                       (uint64_t) st.st_size > offset ? (uint64_t) st.st_size - offset : 0, p->size));
        void *m = mmap(NULL, (size_t) p->size, PROT_READ, MAP_SHARED, b->fd, (off_t) offset);
        if (m == MAP_FAILED)
                return -EOPNOTSUPP;
        (void) madvise(m, (size_t) p->size, MADV_SEQUENTIAL);
        if (b->map)
                (void) munmap(b->map, b->map_len);
        b->map = m;
        b->map_len = (size_t) p->size;
        /* Its size is the header's, checked against the manifest (check_member()); libarchive skips the data. */
        b->done = p->size;
        b->current_verified = true;
        *ret = m;
        return 0;
}

ssize_t bundle_reader_read(BundleReader *b, void *buf, size_t n) {
        if (!b || !buf || n == 0)
                return -EINVAL;
        if (b->failed < 0)
                return b->failed;
        if (!b->current)
                return -EINVAL;
        if (b->current_verified)
                return 0;

        const Payload *p = b->current;
        uint64_t left = p->size - b->done;
        if (left == 0) {
                int r = finish_payload(b);
                return r < 0 ? r : 0;
        }
        la_ssize_t k = archive_read_data(b->archive, buf, (size_t) MIN((uint64_t) n, left));
        if (k < 0)
                return archive_fail(b, p->name);
        if (k == 0)
                return fail(b, err_set(EBADMSG, "%s: member %u '%s': truncated after %" PRIu64 " of %" PRIu64 " bytes", b->name,
                                       b->member, p->name, b->done, p->size));
        if (!b->current_unhashed) {
                int r = sha256_update(b->hash, buf, (size_t) k);
                if (r < 0)
                        return fail(b, r);
        }
        b->done += (uint64_t) k;
        return k;
}

int bundle_reader_next(BundleReader *b, const Payload **ret) {
        struct archive_entry *e = NULL;
        int r;

        if (!b || !ret)
                return -EINVAL;
        if (b->failed < 0)
                return b->failed;
        if (b->map) {
                (void) munmap(b->map, b->map_len);
                b->map = NULL;
        }
        if (b->at_end)
                return 0;

        if (b->current && !b->current_verified) {
                _cleanup_free_ uint8_t *scratch = malloc(READ_BLOCK);
                if (!scratch)
                        return -ENOMEM;
                for (;;) {
                        ssize_t k = bundle_reader_read(b, scratch, READ_BLOCK);
                        if (k < 0)
                                return (int) k;
                        if (k == 0)
                                break;
                }
        }

        const Manifest *m = b->manifest;
        if (b->next == m->n_payloads) {
                r = next_header(b, &e);
                if (r < 0)
                        return r;
                if (r > 0) {
                        const char *name = archive_entry_pathname(e);
                        return fail(b, err_set(EBADMSG, "%s: member %u '%.256s': unexpected member after the last payload", b->name,
                                               b->member, name ? name : ""));
                }
                b->current = NULL;
                b->at_end = true;
                return 0;
        }

        const Payload *p = &m->payloads[b->next];
        r = next_header(b, &e);
        if (r < 0)
                return r;
        if (r == 0)
                return fail(b, err_set(EBADMSG, "%s: member %u '%s': missing (archive ends)", b->name, b->member + 1, p->name));
        r = check_member(b, e, p->name, p->size, true);
        if (r < 0)
                return r;

        b->hash = sha256_free(b->hash);
        r = sha256_new(&b->hash);
        if (r < 0)
                return fail(b, r);
        b->current = p;
        b->current_verified = false;
        b->current_unhashed = false;
        b->done = 0;
        b->next++;
        *ret = p;
        return 1;
}
