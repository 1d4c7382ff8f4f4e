/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "bundle/bundle.h"
#include "crypto/hash.h"
#include "crypto/keygen.h"
#include "crypto/signer.h"
#include "crypto/trust.h"

#define N_PAYLOADS 5
#define ROOT_BLOCKS 300

static const char *const payload_names[N_PAYLOADS] = { "root.erofs", "root.verity", "root.verity-sig", "vmlinuz",
                                                        "initrd.img" };
static const PayloadRole payload_roles[N_PAYLOADS] = { PAYLOAD_ROOT, PAYLOAD_VERITY, PAYLOAD_VERITY_SIG, PAYLOAD_KERNEL,
                                                        PAYLOAD_INITRD };
/* root spans several 1 MiB chunks; vmlinuz needs tar padding; initrd is empty. */
static const size_t payload_sizes[N_PAYLOADS] = { ROOT_BLOCKS * 4096, 16384, 4096, 1001, 0 };

static struct {
        char dir[64];
        char paths[N_PAYLOADS][128];
        uint8_t *data[N_PAYLOADS];
        Manifest *m;
        char *json;
        size_t json_len;
        char bundle[128];
        char signed_bundle[128];
        TrustStore *trust, *other_trust;
} fx;

static char *path_in(const char *name) {
        char *p = NULL;
        assert_true(asprintf(&p, "%s/%s", fx.dir, name) > 0);
        return p;
}

static void fill(uint8_t *buf, size_t n, uint32_t seed) {
        for (size_t i = 0; i < n; i++) {
                seed = seed * 1103515245u + 12345u;
                buf[i] = (uint8_t) (seed >> 16);
        }
}

static Manifest *make_manifest(void) {
        Manifest *m = calloc(1, sizeof *m);
        assert_non_null(m);
        m->format = MANIFEST_FORMAT;
        m->name = strdup("edge-demo");
        m->version = strdup("1.2.0");
        m->compatible = strdup("abide-demo-x86_64");
        m->build_date = strdup("2024-07-19T04:09:00Z");
        m->filesystem = strdup("erofs");
        m->cmdline = strdup("console=ttyS0 panic=5");
        m->tries = 3;
        m->security_version = 1;
        strcpy(m->verity.hash_algorithm, "sha256");
        m->verity.data_block_size = m->verity.hash_block_size = 4096;
        m->verity.data_blocks = ROOT_BLOCKS;
        fill(m->verity.salt, VERITY_SALT_SIZE, 7);
        m->verity.salt_size = VERITY_SALT_SIZE;
        strcpy(m->verity.uuid, "0123abcd-4567-89ef-0123-456789abcdef");
        memset(m->verity.root_hash, 'a', 64);
        m->payloads = calloc(N_PAYLOADS, sizeof *m->payloads);
        assert_non_null(m->payloads);
        m->n_payloads = N_PAYLOADS;
        for (size_t i = 0; i < N_PAYLOADS; i++) {
                m->payloads[i].name = strdup(payload_names[i]);
                m->payloads[i].role = payload_roles[i];
                m->payloads[i].size = payload_sizes[i];
                assert_int_equal(sha256_buf(fx.data[i], payload_sizes[i], m->payloads[i].sha256), 0);
        }
        return m;
}

static const uint8_t fake_sig[] = "not a signature: read with trust == NULL";

static int setup(void **state) {
        strcpy(fx.dir, "/tmp/test-bundle.XXXXXX");
        assert_non_null(mkdtemp(fx.dir));
        for (size_t i = 0; i < N_PAYLOADS; i++) {
                fx.data[i] = malloc(payload_sizes[i] + 1);
                fill(fx.data[i], payload_sizes[i], (uint32_t) i + 1);
                snprintf(fx.paths[i], sizeof fx.paths[i], "%s/%s", fx.dir, payload_names[i]);
                assert_int_equal(write_file_atomic(fx.paths[i], fx.data[i], payload_sizes[i], 0644), 0);
        }
        fx.m = make_manifest();
        assert_int_equal(manifest_to_json(fx.m, &fx.json, &fx.json_len), 0);
        snprintf(fx.bundle, sizeof fx.bundle, "%s/good.abide", fx.dir);
        const char *paths[N_PAYLOADS];
        for (size_t i = 0; i < N_PAYLOADS; i++)
                paths[i] = fx.paths[i];
        int r = bundle_write(fx.bundle, fx.m, fx.json, fx.json_len, fake_sig, sizeof fake_sig, paths);
        if (r < 0)
                fail_msg("bundle_write: %s", err_message(r));

        /* A real CA, a signed bundle, and a second CA that must not accept it. */
        _cleanup_free_ char *keys = path_in("keys"), *other = path_in("other");
        _cleanup_free_ char *key = path_in("keys/signing.key"), *crt = path_in("keys/signing.crt");
        _cleanup_free_ char *ca = path_in("keys/ca.pem"), *other_ca = path_in("other/ca.pem");
        _cleanup_(signer_freep) Signer *s = NULL;
        _cleanup_free_ uint8_t *sig = NULL;
        size_t sig_len = 0;
        assert_int_equal(keygen_demo(keys), 0);
        assert_int_equal(keygen_demo(other), 0);
        assert_int_equal(signer_load(key, crt, &s), 0);
        assert_int_equal(signer_sign_cms(s, fx.json, fx.json_len, 1721362140, &sig, &sig_len), 0);
        assert_int_equal(trust_store_load(ca, &fx.trust), 0);
        assert_int_equal(trust_store_load(other_ca, &fx.other_trust), 0);
        snprintf(fx.signed_bundle, sizeof fx.signed_bundle, "%s/signed.abide", fx.dir);
        assert_int_equal(bundle_write(fx.signed_bundle, fx.m, fx.json, fx.json_len, sig, sig_len, paths), 0);
        return 0;
}

static int teardown(void **state) {
        char cmd[128];
        for (size_t i = 0; i < N_PAYLOADS; i++)
                free(fx.data[i]);
        manifest_free(fx.m);
        free(fx.json);
        trust_store_free(fx.trust);
        trust_store_free(fx.other_trust);
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", fx.dir);
        return system(cmd) == 0 ? 0 : -1;
}

/* Reads a whole bundle opened under name; returns 0 or the first error. ret_verified gets the
 * number of payloads that read to their end and verified. Every byte
 * yielded is checked against the payload's true content, and after a
 * failure nothing more may be yielded. */
static int drive_named(const char *path, const char *name, TrustStore *trust, unsigned *ret_verified) {
        _cleanup_(bundle_reader_freep) BundleReader *b = NULL;
        _cleanup_free_ uint8_t *buf = malloc(70000);
        unsigned verified = 0;
        int r;

        err_clear();
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        r = bundle_reader_open(fd, name, trust, &b);
        if (r < 0) {
                assert_null(b);
                *ret_verified = 0;
                return r;
        }
        assert_string_equal(bundle_reader_name(b), name ?: "bundle");
        for (;;) {
                const Payload *p = NULL;
                r = bundle_reader_next(b, &p);
                if (r < 0)
                        break;
                if (r == 0) {
                        assert_int_equal(verified, N_PAYLOADS);
                        assert_int_equal(bundle_reader_next(b, &p), 0);
                        *ret_verified = verified;
                        return 0;
                }
                assert_ptr_equal(p, &bundle_reader_manifest(b)->payloads[verified]);
                uint64_t off = 0;
                ssize_t k;
                bool differs = false;
                /* An odd read size, so reads straddle archive blocks. Bytes
                 * are unverified until the final 0: they may differ then. */
                while ((k = bundle_reader_read(b, buf, 65537)) > 0) {
                        assert_true(off + (uint64_t) k <= payload_sizes[verified]);
                        if (memcmp(buf, fx.data[verified] + off, (size_t) k) != 0)
                                differs = true;
                        off += (uint64_t) k;
                }
                if (k < 0) {
                        r = (int) k;
                        break;
                }
                assert_false(differs);
                assert_int_equal(off, payload_sizes[verified]);
                assert_int_equal(bundle_reader_read(b, buf, 100), 0);
                verified++;
        }
        /* Sticky: nothing past the failure. */
        const Payload *p = NULL;
        assert_int_equal(bundle_reader_next(b, &p), r);
        assert_null(p);
        assert_int_equal(bundle_reader_read(b, buf, 100), r);
        *ret_verified = verified;
        return r;
}

static int drive(const char *path, TrustStore *trust, unsigned *ret_verified) {
        return drive_named(path, NULL, trust, ret_verified);
}

static void expect_fail(const char *path, TrustStore *trust, const char *msg, unsigned verified_before) {
        unsigned verified = 99;
        int r = drive(path, trust, &verified);
        if (r >= 0)
                fail_msg("%s: read back without error, expected '%s'", path, msg);
        const char *e = err_message(r);
        if (!strstr(e, msg))
                fail_msg("%s: error '%s' does not contain '%s'", path, e, msg);
        if (verified != verified_before)
                fail_msg("%s: %u payloads verified before '%s', expected %u", path, verified, e, verified_before);
}

static void test_round_trip(void **state) {
        unsigned verified = 0;
        int r = drive(fx.bundle, NULL, &verified);
        if (r < 0)
                fail_msg("%s", err_message(r));
        assert_int_equal(verified, N_PAYLOADS);

        _cleanup_(bundle_reader_freep) BundleReader *b = NULL;
        _cleanup_close_ int fd = open(fx.bundle, O_RDONLY | O_CLOEXEC);
        assert_int_equal(bundle_reader_open(fd, NULL, NULL, &b), 0);
        size_t len = 0;
        const char *json = bundle_reader_manifest_json(b, &len);
        assert_int_equal(len, fx.json_len);
        assert_memory_equal(json, fx.json, len);
        assert_null(bundle_reader_signer(b));
        assert_string_equal(bundle_reader_manifest(b)->version, "1.2.0");

        /* Skipping reads: next() reads and verifies the rest on its own. */
        const Payload *p = NULL;
        for (size_t i = 0; i < N_PAYLOADS; i++) {
                assert_int_equal(bundle_reader_next(b, &p), 1);
                assert_string_equal(p->name, payload_names[i]);
        }
        assert_int_equal(bundle_reader_next(b, &p), 0);
}

/* The read end of a pipe a child fills with path's bytes; *ret_pid to wait for. */
static int pipe_of(const char *path, pid_t *ret_pid) {
        int pfd[2];
        assert_int_equal(pipe(pfd), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                close(pfd[0]);
                _cleanup_free_ char *data = NULL;
                size_t n = 0;
                if (read_full_file(path, 64 << 20, &data, &n) < 0 || loop_write(pfd[1], data, n) < 0)
                        _exit(1);
                _exit(0);
        }
        close(pfd[1]);
        *ret_pid = pid;
        return pfd[0];
}

static void test_from_pipe(void **state) {
        unsigned verified = 0;
        pid_t pid;
        int fd = pipe_of(fx.bundle, &pid);
        _cleanup_(bundle_reader_freep) BundleReader *b = NULL;
        assert_int_equal(bundle_reader_open(fd, NULL, NULL, &b), 0);
        const Payload *p = NULL;
        while ((verified < 10) && bundle_reader_next(b, &p) == 1)
                verified++;
        assert_int_equal(verified, N_PAYLOADS);
        assert_int_equal(bundle_reader_next(b, &p), 0);
        close(fd);
        int status = 0;
        assert_int_equal(waitpid(pid, &status, 0), pid);
}

static void test_reproducible(void **state) {
        _cleanup_free_ char *again = path_in("again.abide");
        _cleanup_free_ char *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        const char *paths[N_PAYLOADS];

        /* Other file times and modes must not leak into the bundle. */
        for (size_t i = 0; i < N_PAYLOADS; i++) {
                struct timeval tv[2] = { { 123456789, 0 }, { 987654321, 0 } };
                assert_int_equal(utimes(fx.paths[i], tv), 0);
                assert_int_equal(chmod(fx.paths[i], 0600), 0);
                paths[i] = fx.paths[i];
        }
        assert_int_equal(bundle_write(again, fx.m, fx.json, fx.json_len, fake_sig, sizeof fake_sig, paths), 0);
        assert_int_equal(read_full_file(fx.bundle, 64 << 20, &a, &na), 0);
        assert_int_equal(read_full_file(again, 64 << 20, &b, &nb), 0);
        assert_int_equal(na, nb);
        assert_memory_equal(a, b, na);

        /* Member order and metadata, as a generic tar reader sees them. */
        struct archive *ar = archive_read_new();
        struct archive_entry *e = NULL;
        archive_read_support_format_tar(ar);
        assert_int_equal(archive_read_open_filename(ar, fx.bundle, 10240), ARCHIVE_OK);
        for (size_t i = 0; i < N_PAYLOADS + 2; i++) {
                assert_int_equal(archive_read_next_header(ar, &e), ARCHIVE_OK);
                const char *want = i == 0 ? "manifest.json" : i == 1 ? "manifest.json.sig" : payload_names[i - 2];
                assert_string_equal(archive_entry_pathname(e), want);
                assert_int_equal(archive_entry_filetype(e), AE_IFREG);
                assert_int_equal(archive_entry_perm(e), 0644);
                assert_int_equal(archive_entry_uid(e), 0);
                assert_int_equal(archive_entry_gid(e), 0);
                assert_int_equal(archive_entry_mtime(e), 0);
                assert_int_equal(archive_format(ar), ARCHIVE_FORMAT_TAR_USTAR);
        }
        assert_int_equal(archive_read_next_header(ar, &e), ARCHIVE_EOF);
        archive_read_free(ar);
}

/* A bundle held in memory as a list of members, rewritten with libarchive. */
typedef struct Member {
        char *name;
        mode_t type;
        char *link;       /* symlink target or hardlink name */
        bool hardlink;
        uint8_t *data;
        size_t size;
        int64_t header_size;
        int64_t header_pos;
} Member;

typedef struct Members {
        Member m[32];
        size_t n;
} Members;

static void members_free(Members *ms) {
        for (size_t i = 0; i < ms->n; i++) {
                free(ms->m[i].name);
                free(ms->m[i].link);
                free(ms->m[i].data);
        }
        ms->n = 0;
}

static void members_load(const char *path, Members *ms) {
        struct archive *a = archive_read_new();
        struct archive_entry *e = NULL;

        memset(ms, 0, sizeof *ms);
        archive_read_support_format_tar(a);
        assert_int_equal(archive_read_open_filename(a, path, 10240), ARCHIVE_OK);
        while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
                Member *m = &ms->m[ms->n++];
                m->name = strdup(archive_entry_pathname(e));
                m->type = archive_entry_filetype(e);
                m->header_size = archive_entry_size(e);
                m->header_pos = archive_read_header_position(a);
                m->size = (size_t) m->header_size;
                m->data = malloc(m->size + 1);
                assert_int_equal(archive_read_data(a, m->data, m->size), (la_ssize_t) m->size);
        }
        archive_read_free(a);
}

static void members_write(const Members *ms, const char *path, bool gzip) {
        struct archive *a = archive_write_new();

        archive_write_set_format_pax_restricted(a);
        if (gzip)
                assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
        assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
        for (size_t i = 0; i < ms->n; i++) {
                const Member *m = &ms->m[i];
                struct archive_entry *e = archive_entry_new();
                archive_entry_set_pathname(e, m->name);
                archive_entry_set_filetype(e, m->type);
                archive_entry_set_perm(e, 0644);
                if (m->link && m->hardlink)
                        archive_entry_set_hardlink(e, m->link);
                else if (m->link)
                        archive_entry_set_symlink(e, m->link);
                archive_entry_set_size(e, m->header_size);
                assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
                if (m->size > 0)
                        assert_int_equal(archive_write_data(a, m->data, m->size), (la_ssize_t) m->size);
                archive_entry_free(e);
        }
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
}

static Member member_copy(const Member *m) {
        Member c = *m;
        c.name = strdup(m->name);
        c.link = m->link ? strdup(m->link) : NULL;
        c.data = malloc(m->size + 1);
        memcpy(c.data, m->data, m->size);
        return c;
}

static void members_insert(Members *ms, size_t at, Member m) {
        memmove(&ms->m[at + 1], &ms->m[at], (ms->n - at) * sizeof(Member));
        ms->m[at] = m;
        ms->n++;
}

static void members_remove(Members *ms, size_t at) {
        free(ms->m[at].name);
        free(ms->m[at].link);
        free(ms->m[at].data);
        memmove(&ms->m[at], &ms->m[at + 1], (ms->n - at - 1) * sizeof(Member));
        ms->n--;
}

static void rename_member(Members *ms, size_t at, const char *name) {
        free(ms->m[at].name);
        ms->m[at].name = strdup(name);
}

static char *tampered(const char *src, const char *tag, void (*edit)(Members *, size_t), size_t arg) {
        Members ms;
        char *out = NULL;
        members_load(src, &ms);
        edit(&ms, arg);
        assert_true(asprintf(&out, "%s/%s-%zu.abide", fx.dir, tag, arg) > 0);
        members_write(&ms, out, false);
        members_free(&ms);
        return out;
}

static void edit_none(Members *ms, size_t i) {
}

static void test_rewrite_harness(void **state) {
        /* The harness alone must not break or change a good bundle. */
        _cleanup_free_ char *same = tampered(fx.bundle, "same", edit_none, 0);
        unsigned verified = 0;
        assert_int_equal(drive(same, NULL, &verified), 0);
        assert_int_equal(verified, N_PAYLOADS);
}

static void edit_flip(Members *ms, size_t i) {
        Member *m = &ms->m[i];
        /* The manifest's first byte, so it no longer parses; the middle of anything else. */
        m->data[i == 0 ? 0 : m->size / 2] ^= 0x01;
}

static void test_flip_each_member(void **state) {
        _cleanup_free_ char *f0 = tampered(fx.bundle, "flip", edit_flip, 0);
        expect_fail(f0, NULL, "bundle: member 1 'manifest.json': manifest: not a JSON object", 0);

        /* The signature is only checked with a trust store: see test_signed. */
        for (size_t i = 0; i < N_PAYLOADS; i++) {
                if (payload_sizes[i] == 0)
                        continue;
                char msg[128];
                _cleanup_free_ char *f = tampered(fx.bundle, "flip", edit_flip, i + 2);
                snprintf(msg, sizeof msg, "bundle: member %zu '%s': sha256 mismatch (manifest says ", i + 3,
                         payload_names[i]);
                expect_fail(f, NULL, msg, (unsigned) i);
        }
}

static char *resized(size_t member, size_t amount, bool shrink);

/* Reads every payload of path, handing payload `unhashed` over to the caller; the reader's result. */
static int read_handing_over(const char *path, size_t unhashed, size_t *ret_done) {
        _cleanup_(bundle_reader_freep) BundleReader *b = NULL;
        _cleanup_free_ uint8_t *buf = malloc(65536);
        size_t done = 0;
        int r;

        err_clear();
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(bundle_reader_open(fd, NULL, NULL, &b), 0);
        for (;;) {
                const Payload *p = NULL;
                r = bundle_reader_next(b, &p);
                if (r <= 0)
                        break;
                if (done == unhashed)
                        assert_int_equal(bundle_reader_hand_over_digest(b), 0);
                ssize_t k = bundle_reader_read(b, buf, 4096);
                /* Only before the payload's first byte. */
                if (k > 0)
                        assert_int_equal(bundle_reader_hand_over_digest(b), -EINVAL);
                while (k > 0)
                        k = bundle_reader_read(b, buf, 65536);
                if (k < 0) {
                        r = (int) k;
                        break;
                }
                done++;
        }
        *ret_done = done;
        return r;
}

static void test_hand_over_digest(void **state) {
        size_t done = 0;
        size_t root = 0; /* the first payload: root.img, as in a bundle abide-build writes */
        assert_true(payload_sizes[root] > 0);
        _cleanup_free_ char *flip_root = tampered(fx.bundle, "flip", edit_flip, root + 2);

        /* Hashed: a flipped byte in root is refused at root's end. */
        int r = read_handing_over(flip_root, SIZE_MAX, &done);
        assert_true(r < 0);
        assert_non_null(strstr(err_message(r), "'root.erofs': sha256 mismatch"));
        assert_int_equal(done, root);
        /* Handed over: only its size is checked; the caller proves the bytes. */
        assert_int_equal(read_handing_over(flip_root, root, &done), 0);
        assert_int_equal(done, N_PAYLOADS);
        /* Only that payload: the next one's flipped byte is still refused. */
        for (size_t i = root + 1; i < N_PAYLOADS; i++) {
                if (payload_sizes[i] == 0)
                        continue;
                _cleanup_free_ char *f = tampered(fx.bundle, "flip", edit_flip, i + 2);
                r = read_handing_over(f, root, &done);
                assert_true(r < 0);
                assert_non_null(strstr(err_message(r), "sha256 mismatch"));
                assert_int_equal(done, i);
                break;
        }
        /* A size other than the manifest's is still refused. */
        _cleanup_free_ char *small = resized(root + 2, 4096, true);
        r = read_handing_over(small, root, &done);
        assert_true(r < 0);
        assert_int_equal(done, root);
        /* Not without a current payload. */
        assert_int_equal(bundle_reader_hand_over_digest(NULL), -EINVAL);
}

static void truncate_copy(const char *src, const char *dst, off_t size);

/* Opens path, advances to root and hands its digest over; then bundle_reader_map_payload()'s result. */
static int map_root(const char *path, BundleReader **ret_b, int *ret_fd, const uint8_t **ret) {
        const Payload *p = NULL;
        *ret_fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(*ret_fd >= 0);
        assert_int_equal(bundle_reader_open(*ret_fd, NULL, NULL, ret_b), 0);
        assert_int_equal(bundle_reader_next(*ret_b, &p), 1);
        assert_string_equal(p->name, payload_names[0]);
        /* Only with the digest handed over. */
        assert_int_equal(bundle_reader_map_payload(*ret_b, ret), -EINVAL);
        assert_int_equal(bundle_reader_hand_over_digest(*ret_b), 0);
        return bundle_reader_map_payload(*ret_b, ret);
}

static void test_map_payload(void **state) {
        /* A bundle whose root starts on a page, as abide-build writes it: the manifest padded. */
        _cleanup_free_ char *json = malloc(fx.json_len + 1), *aligned = path_in("aligned.abide");
        size_t len = fx.json_len;
        uint64_t off = 0;
        memcpy(json, fx.json, fx.json_len);
        assert_int_equal(bundle_first_payload_offset(fx.m, len, sizeof fake_sig, &off), 0);
        assert_true(off % 4096 != 0); /* else the unaligned case below proves nothing */
        assert_int_equal(bundle_manifest_pad(&json, &len, off, 4096), 1);
        const char *paths[N_PAYLOADS];
        for (size_t i = 0; i < N_PAYLOADS; i++)
                paths[i] = fx.paths[i];
        assert_int_equal(bundle_write(aligned, fx.m, json, len, fake_sig, sizeof fake_sig, paths), 0);

        _cleanup_(bundle_reader_freep) BundleReader *b = NULL;
        _cleanup_close_ int fd = -EBADF;
        const uint8_t *data = NULL;
        const Payload *p = NULL;
        assert_int_equal(map_root(aligned, &b, &fd, &data), 0);
        assert_int_equal((uintptr_t) data % 4096, 0);
        /* Root's bytes, where the reader would have read them; and it counts as read to its end. */
        assert_memory_equal(data, fx.data[0], payload_sizes[0]);
        uint8_t byte;
        assert_int_equal(bundle_reader_read(b, &byte, 1), 0);
        assert_int_equal(bundle_reader_map_payload(b, &data), -EINVAL);
        /* The members after it are read and checked as ever. */
        size_t n = 1;
        uint8_t *buf = malloc(65536);
        while (bundle_reader_next(b, &p) == 1) {
                assert_string_equal(p->name, payload_names[n]);
                ssize_t k;
                while ((k = bundle_reader_read(b, buf, 65536)) > 0)
                        ;
                assert_int_equal(k, 0);
                n++;
        }
        free(buf);
        assert_int_equal(n, N_PAYLOADS);
        b = bundle_reader_free(b);
        fd = safe_close(fd);

        /* A flipped byte in root is written as it is: the caller's read-back is what refuses it. */
        _cleanup_free_ char *flip = tampered(aligned, "flip", edit_flip, 2);
        assert_int_equal(map_root(flip, &b, &fd, &data), 0);
        assert_true(memcmp(data, fx.data[0], payload_sizes[0]) != 0);
        b = bundle_reader_free(b);
        fd = safe_close(fd);

        /* Not on a page (the fixture's unpadded bundle): the caller reads instead. */
        assert_int_equal(map_root(fx.bundle, &b, &fd, &data), -EOPNOTSUPP);
        assert_true(bundle_reader_read(b, &byte, 1) == 1);
        b = bundle_reader_free(b);
        fd = safe_close(fd);

        /* Not a regular file: a pipe. */
        pid_t pid;
        fd = pipe_of(aligned, &pid);
        assert_int_equal(bundle_reader_open(fd, NULL, NULL, &b), 0);
        assert_int_equal(bundle_reader_next(b, &p), 1);
        assert_int_equal(bundle_reader_hand_over_digest(b), 0);
        assert_int_equal(bundle_reader_map_payload(b, &data), -EOPNOTSUPP);
        b = bundle_reader_free(b);
        fd = safe_close(fd);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);

        /* Shorter than its header says: refused, nothing mapped. */
        _cleanup_free_ char *cut = path_in("cut.abide");
        truncate_copy(aligned, cut, (off_t) (off + payload_sizes[0] / 2));
        err_clear();
        int r = map_root(cut, &b, &fd, &data);
        assert_true(r < 0 && r != -EOPNOTSUPP);
        assert_non_null(strstr(err_message(r), "member 3 'root.erofs': truncated after"));
        b = bundle_reader_free(b);
        fd = safe_close(fd);
}

static void truncate_copy(const char *src, const char *dst, off_t size) {
        _cleanup_free_ char *data = NULL;
        size_t n = 0;
        assert_int_equal(read_full_file(src, 64 << 20, &data, &n), 0);
        assert_true((size_t) size <= n);
        assert_int_equal(write_file_atomic(dst, data, (size_t) size, 0644), 0);
}

static void test_truncated(void **state) {
        Members ms;
        struct stat st;
        members_load(fx.bundle, &ms);
        assert_int_equal(stat(fx.bundle, &st), 0);
        _cleanup_free_ char *t = path_in("truncated.abide");
        /* Member k's header is at ms.m[k].header_pos, its data 512 bytes later (ustar). */
        const struct {
                off_t size;
                const char *msg;
                unsigned verified;
        } cases[] = {
                { 0, "bundle: ", 0 },
                { 100, "bundle: ", 0 },
                { ms.m[0].header_pos + 512 + 10, "member 1 'manifest.json': ", 0 },
                { ms.m[1].header_pos, "member 2 'manifest.json.sig': missing (archive ends)", 0 },
                { ms.m[1].header_pos + 512 + 5, "member 2 'manifest.json.sig': ", 0 },
                { ms.m[2].header_pos, "member 3 'root.erofs': missing (archive ends)", 0 },
                { ms.m[2].header_pos + 300, "bundle: member 3", 0 },
                { ms.m[2].header_pos + 512 + 1, "member 3 'root.erofs': ", 0 },
                { ms.m[2].header_pos + 512 + 1024 * 1024 + 7, "member 3 'root.erofs': ", 0 },
                { ms.m[3].header_pos - 1, "member 3 'root.erofs': ", 0 },
                { ms.m[3].header_pos, "member 4 'root.verity': missing (archive ends)", 1 },
                { ms.m[5].header_pos + 512 + 1000, "member 6 'vmlinuz': ", 3 },
                { ms.m[6].header_pos, "member 7 'initrd.img': missing (archive ends)", 4 },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                truncate_copy(fx.bundle, t, cases[i].size);
                expect_fail(t, NULL, cases[i].msg, cases[i].verified);
        }
        /* Without the end-of-archive marker every signed byte is still there and verified. */
        unsigned verified = 0;
        truncate_copy(fx.bundle, t, st.st_size - 1024);
        assert_int_equal(drive(t, NULL, &verified), 0);
        members_free(&ms);
}

static void edit_swap(Members *ms, size_t i) {
        Member tmp = ms->m[i];
        ms->m[i] = ms->m[i + 1];
        ms->m[i + 1] = tmp;
}

static void edit_dup(Members *ms, size_t i) {
        members_insert(ms, i + 1, member_copy(&ms->m[i]));
}

static void edit_dup_manifest(Members *ms, size_t at) {
        members_insert(ms, at, member_copy(&ms->m[0]));
}

static void edit_append(Members *ms, size_t at) {
        Member m = member_copy(&ms->m[ms->n - 2]);
        free(m.name);
        m.name = strdup("extra");
        members_insert(ms, at == 0 ? ms->n : at, m);
}

static void edit_remove(Members *ms, size_t i) {
        members_remove(ms, i);
}

/* A BundleSource over a file, counting reads. */
typedef struct FileSource {
        int fd;
        unsigned reads;
        uint64_t bytes;
} FileSource;

static int file_read_at(void *userdata, uint64_t offset, void *buf, size_t n) {
        FileSource *s = userdata;
        s->reads++;
        s->bytes += n;
        ssize_t k = pread(s->fd, buf, n, (off_t) offset);
        return k == (ssize_t) n ? 0 : err_set(EIO, "short read at %llu", (unsigned long long) offset);
}

/* Opens path as a source and indexes it; 0 and the offsets, or the error. */
static int index_file(const char *path, uint64_t *offsets, FileSource *src) {
        _cleanup_(bundle_reader_freep) BundleReader *b = NULL;
        struct stat st;
        src->fd = open(path, O_RDONLY | O_CLOEXEC);
        assert_true(src->fd >= 0);
        assert_int_equal(fstat(src->fd, &st), 0);
        BundleSource bs = { .size = (uint64_t) st.st_size, .read_at = file_read_at, .userdata = src };
        int r = bundle_reader_open_source(&bs, NULL, NULL, &b);
        if (r >= 0)
                r = bundle_reader_index(b, offsets);
        return r;
}

static void test_index(void **state) {
        uint64_t offsets[N_PAYLOADS];
        FileSource src = {};
        int r = index_file(fx.bundle, offsets, &src);
        if (r < 0)
                fail_msg("%s", err_message(r));
        /* Every payload's bytes at its offset; the data itself was never read (only headers). */
        for (size_t i = 0; i < N_PAYLOADS; i++) {
                _cleanup_free_ uint8_t *buf = malloc(payload_sizes[i] + 1);
                assert_non_null(buf);
                assert_true(pread(src.fd, buf, payload_sizes[i], (off_t) offsets[i]) == (ssize_t) payload_sizes[i]);
                assert_memory_equal(buf, fx.data[i], payload_sizes[i]);
        }
        struct stat st;
        assert_int_equal(fstat(src.fd, &st), 0);
        assert_true(src.bytes < (uint64_t) st.st_size / 4);
        close(src.fd);

        /* The member checks of the stream reader hold for the index too. */
        _cleanup_free_ char *s1 = tampered(fx.bundle, "iswap", edit_swap, 2);
        src = (FileSource) {};
        r = index_file(s1, offsets, &src);
        close(src.fd);
        assert_true(r < 0);
        assert_non_null(strstr(err_message(r), "bundle: member 3 'root.verity': member out of order (expected 'root.erofs')"));
        _cleanup_free_ char *a1 = tampered(fx.bundle, "iappend", edit_append, 0);
        src = (FileSource) {};
        r = index_file(a1, offsets, &src);
        close(src.fd);
        assert_true(r < 0);
        assert_non_null(strstr(err_message(r), "member 8 'extra': unexpected member after the last payload"));
        _cleanup_free_ char *r3 = tampered(fx.bundle, "iremove", edit_remove, 6);
        src = (FileSource) {};
        r = index_file(r3, offsets, &src);
        close(src.fd);
        assert_true(r < 0);
        assert_non_null(strstr(err_message(r), "member 7 'initrd.img': missing (archive ends)"));
}

/* bundle_reader_guess_headers(): right for the bundles abide writes; only between open and index. */
static void test_guess_headers(void **state) {
        _cleanup_(bundle_reader_freep) BundleReader *b = NULL;
        uint64_t guess[N_PAYLOADS + 1], offsets[N_PAYLOADS];
        FileSource src = {};
        struct stat st;

        src.fd = open(fx.bundle, O_RDONLY | O_CLOEXEC);
        assert_true(src.fd >= 0);
        assert_int_equal(fstat(src.fd, &st), 0);
        BundleSource bs = { .size = (uint64_t) st.st_size, .read_at = file_read_at, .userdata = &src };
        assert_int_equal(bundle_reader_open_source(&bs, NULL, NULL, &b), 0);
        unsigned reads = src.reads;
        assert_int_equal(bundle_reader_guess_headers(b, guess), 0);
        assert_int_equal(src.reads, reads);           /* a guess, nothing read */
        assert_int_equal(bundle_reader_index(b, offsets), 0);
        for (size_t i = 0; i < N_PAYLOADS; i++) {
                assert_int_equal(guess[i] + 512, offsets[i]);
                uint8_t h[512];
                assert_true(pread(src.fd, h, sizeof h, (off_t) guess[i]) == (ssize_t) sizeof h);
                assert_int_equal(h[0] != 0, 1);        /* a header, with a name */
        }
        /* The archive's end: two zero blocks, then only the padding of the last record. */
        assert_true(guess[N_PAYLOADS] + 1024 <= (uint64_t) st.st_size);
        uint8_t z[1024], zero[1024] = {};
        assert_true(pread(src.fd, z, sizeof z, (off_t) guess[N_PAYLOADS]) == (ssize_t) sizeof z);
        assert_memory_equal(z, zero, sizeof z);
        assert_true(guess[N_PAYLOADS - 1] + 512 + payload_sizes[N_PAYLOADS - 1] <= guess[N_PAYLOADS]);
        /* After the index the reader has moved on: no guess. */
        assert_int_equal(bundle_reader_guess_headers(b, guess), -EINVAL);
        b = bundle_reader_free(b);

        /* A reader of a stream has no source to fetch ahead from. */
        assert_true(lseek(src.fd, 0, SEEK_SET) == 0);
        assert_int_equal(bundle_reader_open(src.fd, NULL, NULL, &b), 0);
        assert_int_equal(bundle_reader_guess_headers(b, guess), -EINVAL);
        close(src.fd);
}

static void test_order(void **state) {
        _cleanup_free_ char *s1 = tampered(fx.bundle, "swap", edit_swap, 2);
        expect_fail(s1, NULL, "bundle: member 3 'root.verity': member out of order (expected 'root.erofs')", 0);
        _cleanup_free_ char *s2 = tampered(fx.bundle, "swap", edit_swap, 4);
        expect_fail(s2, NULL, "member 5 'vmlinuz': member out of order (expected 'root.verity-sig')", 2);
        _cleanup_free_ char *s3 = tampered(fx.bundle, "swap", edit_swap, 0);
        expect_fail(s3, NULL, "member 1 'manifest.json.sig': member out of order (expected 'manifest.json')", 0);

        _cleanup_free_ char *d1 = tampered(fx.bundle, "dup", edit_dup, 2);
        expect_fail(d1, NULL, "member 4 'root.erofs': duplicate member (expected 'root.verity')", 1);
        _cleanup_free_ char *d2 = tampered(fx.bundle, "dup", edit_dup, 6);
        expect_fail(d2, NULL, "member 8 'initrd.img': unexpected member after the last payload", 5);
        _cleanup_free_ char *d3 = tampered(fx.bundle, "dup", edit_dup, 1);
        expect_fail(d3, NULL, "member 3 'manifest.json.sig': duplicate member (expected 'root.erofs')", 0);
        _cleanup_free_ char *d4 = tampered(fx.bundle, "dupm", edit_dup_manifest, 4);
        expect_fail(d4, NULL, "member 5 'manifest.json': duplicate member (expected 'root.verity-sig')", 2);

        _cleanup_free_ char *a1 = tampered(fx.bundle, "append", edit_append, 0);
        expect_fail(a1, NULL, "member 8 'extra': unexpected member after the last payload", 5);
        _cleanup_free_ char *a2 = tampered(fx.bundle, "append", edit_append, 3);
        expect_fail(a2, NULL, "member 4 'extra': unknown member (expected 'root.verity')", 1);

        _cleanup_free_ char *r1 = tampered(fx.bundle, "remove", edit_remove, 5);
        expect_fail(r1, NULL, "member 6 'initrd.img': member out of order (expected 'vmlinuz')", 3);
        _cleanup_free_ char *r2 = tampered(fx.bundle, "remove", edit_remove, 1);
        expect_fail(r2, NULL, "member 2 'root.erofs': unknown member (expected 'manifest.json.sig')", 0);
        _cleanup_free_ char *r3 = tampered(fx.bundle, "remove", edit_remove, 6);
        expect_fail(r3, NULL, "member 7 'initrd.img': missing (archive ends)", 4);
}

static const char *rename_to;

static void edit_rename(Members *ms, size_t i) {
        rename_member(ms, i, rename_to);
}

static void test_names(void **state) {
        const struct {
                const char *name, *msg;
        } cases[] = {
                { "../x", "member 4 '../x': name escapes the bundle ('..')" },
                { "/x", "member 4 '/x': absolute name" },
                { "/root.verity", "member 4 '/root.verity': absolute name" },
                { "..", "member 4 '..': name escapes the bundle" },
                { "a/../root.verity", "member 4 'a/../root.verity': name escapes the bundle" },
                { "./root.verity", "member 4 './root.verity': name contains '/'" },
                { "sub/root.verity", "name contains '/'" },
                { "root.verity/", "member 4" },
                { "ROOT.VERITY", "member 4 'ROOT.VERITY': unknown member (expected 'root.verity')" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                rename_to = cases[i].name;
                _cleanup_free_ char *f = tampered(fx.bundle, "rename", edit_rename, 3);
                expect_fail(f, NULL, cases[i].msg, 1);
        }
        rename_to = "/manifest.json";
        _cleanup_free_ char *f = tampered(fx.bundle, "rename", edit_rename, 0);
        expect_fail(f, NULL, "member 1 '/manifest.json': absolute name", 0);
        rename_to = "../manifest.json.sig";
        _cleanup_free_ char *g = tampered(fx.bundle, "rename", edit_rename, 1);
        expect_fail(g, NULL, "member 2 '../manifest.json.sig': name escapes the bundle", 0);
}

static size_t edit_amount;

/* Member i gets edit_amount more bytes, or edit_amount fewer when negative_edit. */
static bool negative_edit;

static void edit_resize(Members *ms, size_t i) {
        Member *m = &ms->m[i];
        if (negative_edit) {
                m->size -= edit_amount;
        } else {
                m->data = realloc(m->data, m->size + edit_amount + 1);
                memset(m->data + m->size, 'x', edit_amount);
                m->size += edit_amount;
        }
        m->header_size = (int64_t) m->size;
}

static char *resized(size_t member, size_t amount, bool shrink) {
        edit_amount = amount;
        negative_edit = shrink;
        return tampered(fx.bundle, shrink ? "shrink" : "grow", edit_resize, member);
}

static void test_sizes(void **state) {
        _cleanup_free_ char *g1 = resized(2, 1, false);
        expect_fail(g1, NULL, "member 3 'root.erofs': larger than declared (1228801 > 1228800 bytes)", 0);
        _cleanup_free_ char *g2 = resized(6, 512, false);
        expect_fail(g2, NULL, "member 7 'initrd.img': larger than declared (512 > 0 bytes)", 4);
        _cleanup_free_ char *g3 = resized(5, 1024 * 1024, false);
        expect_fail(g3, NULL, "member 6 'vmlinuz': larger than declared (1049577 > 1001 bytes)", 3);
        _cleanup_free_ char *s1 = resized(3, 1, true);
        expect_fail(s1, NULL, "member 4 'root.verity': smaller than declared (16383 < 16384 bytes)", 1);

        /* Oversized manifest and signature members, refused from the header alone. */
        _cleanup_free_ char *m1 = resized(0, MANIFEST_MAX_SIZE + 1 - fx.json_len, false);
        expect_fail(m1, NULL, "member 1 'manifest.json': larger than allowed (1048577 > 1048576 bytes)", 0);
        _cleanup_free_ char *m2 = resized(1, BUNDLE_SIGNATURE_MAX + 1 - sizeof fake_sig, false);
        expect_fail(m2, NULL, "member 2 'manifest.json.sig': larger than allowed (65537 > 65536 bytes)", 0);
        _cleanup_free_ char *m3 = resized(1, sizeof fake_sig, true);
        expect_fail(m3, NULL, "member 2 'manifest.json.sig': empty", 0);
}

static void edit_type(Members *ms, size_t i) {
        Member *m = &ms->m[i];
        m->size = 0;
        m->header_size = 0;
        switch (edit_amount) {
        case 0:
                m->type = AE_IFLNK;
                m->link = strdup("/etc/shadow");
                break;
        case 1:
                m->link = strdup("root.erofs");
                m->hardlink = true;
                break;
        case 2:
                m->type = AE_IFDIR;
                break;
        case 3:
                m->type = AE_IFIFO;
                break;
        }
}

static void test_member_types(void **state) {
        const char *msgs[] = {
                "member 4 'root.verity': is a symlink",
                "member 4 'root.verity': is a hard link",
                "member 4 'root.verity/': is a directory",
                "member 4 'root.verity': is a fifo",
        };
        for (size_t t = 0; t < ELEMENTSOF(msgs); t++) {
                edit_amount = t;
                _cleanup_free_ char *f = tampered(fx.bundle, t == 0 ? "symlink" : t == 1 ? "hardlink" : t == 2 ? "dir" : "fifo",
                                                  edit_type, 3);
                expect_fail(f, NULL, msgs[t], 1);
        }
        edit_amount = 0;
        _cleanup_free_ char *f = tampered(fx.bundle, "symlink-manifest", edit_type, 0);
        expect_fail(f, NULL, "member 1 'manifest.json': is a symlink", 0);
}

static void test_not_tar(void **state) {
        Members ms;
        _cleanup_free_ char *gz = path_in("compressed.abide"), *junk = path_in("junk.abide");
        _cleanup_free_ uint8_t *data = malloc(100000);

        members_load(fx.bundle, &ms);
        members_write(&ms, gz, true);
        members_free(&ms);
        expect_fail(gz, NULL, "bundle: ", 0);

        fill(data, 100000, 99);
        assert_int_equal(write_file_atomic(junk, data, 100000, 0644), 0);
        expect_fail(junk, NULL, "bundle: ", 0);
}

static void test_signed(void **state) {
        unsigned verified = 0;
        int r = drive(fx.signed_bundle, fx.trust, &verified);
        if (r < 0)
                fail_msg("%s", err_message(r));
        assert_int_equal(verified, N_PAYLOADS);

        _cleanup_(bundle_reader_freep) BundleReader *b = NULL;
        _cleanup_close_ int fd = open(fx.signed_bundle, O_RDONLY | O_CLOEXEC);
        assert_int_equal(bundle_reader_open(fd, NULL, fx.trust, &b), 0);
        assert_non_null(bundle_reader_signer(b));
        assert_non_null(strstr(bundle_reader_signer(b), "CN"));

        /* Wrong CA, and a bundle without a real signature. */
        expect_fail(fx.signed_bundle, fx.other_trust, "bundle: manifest.json.sig: ", 0);
        expect_fail(fx.bundle, fx.trust, "bundle: manifest.json.sig: ", 0);

        /* A flipped signature byte. */
        _cleanup_free_ char *s = tampered(fx.signed_bundle, "flip-signed", edit_flip, 1);
        expect_fail(s, fx.trust, "bundle: manifest.json.sig: ", 0);
        /* Without a trust store the same bundle reads: that is what trust == NULL means. */
        assert_int_equal(drive(s, NULL, &verified), 0);
}

static bool has_prefix(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The message of the first failure reading path opened under name. */
static const char *named_failure(const char *path, const char *name, TrustStore *trust) {
        unsigned verified;
        int r = drive_named(path, name, trust, &verified);
        assert_true(r < 0);
        return err_message(r);
}

/* Every message names the bundle as the caller calls it: a path, a URL, "standard input". */
static void test_named(void **state) {
        _cleanup_free_ char *f = tampered(fx.bundle, "flip-named", edit_flip, 3);
        _cleanup_free_ char *s = tampered(fx.signed_bundle, "flip-named-signed", edit_flip, 1);
        _cleanup_free_ char *junk = path_in("junk-named.abide");
        _cleanup_free_ uint8_t *data = malloc(100000);
        const char *m;

        m = named_failure(f, "/srv/v2.abide", NULL);
        assert_true(has_prefix(m, "/srv/v2.abide: member 4 '"));
        assert_non_null(strstr(m, "': sha256 mismatch (manifest says "));
        m = named_failure(s, "https://updates.example/v2.abide", fx.trust);
        assert_true(has_prefix(m, "https://updates.example/v2.abide: manifest.json.sig: "));
        fill(data, 100000, 7);
        assert_int_equal(write_file_atomic(junk, data, 100000, 0644), 0);
        m = named_failure(junk, "standard input", NULL);
        assert_true(has_prefix(m, "standard input: "));
        /* No name: "bundle", as before. */
        m = named_failure(f, NULL, NULL);
        assert_true(has_prefix(m, "bundle: member 4 '"));
}

static void edit_manifest_version(Members *ms, size_t i) {
        Member *m = &ms->m[0];
        char *v = memmem(m->data, m->size, "\"1.2.0\"", 7);
        assert_non_null(v);
        v[5] = '1';
}

static void test_signed_manifest_changed(void **state) {
        /* Still a valid manifest, but not the signed bytes: the signature decides, before parsing. */
        _cleanup_free_ char *f = tampered(fx.signed_bundle, "version", edit_manifest_version, 0);
        expect_fail(f, fx.trust, "bundle: manifest.json.sig: ", 0);
        unsigned verified = 0;
        assert_int_equal(drive(f, NULL, &verified), 0);

        /* A payload flip in a signed bundle fails on that payload only. */
        _cleanup_free_ char *g = tampered(fx.signed_bundle, "flip-signed", edit_flip, 4);
        expect_fail(g, fx.trust, "member 5 'root.verity-sig': sha256 mismatch", 2);
}

static bool dir_has_temp_files(void) {
        DIR *d = opendir(fx.dir);
        struct dirent *de;
        bool found = false;
        assert_non_null(d);
        while ((de = readdir(d)))
                if (strncmp(de->d_name, ".#", 2) == 0)
                        found = true;
        closedir(d);
        return found;
}

static void expect_write_fail(const char *out, const Manifest *m, const char *json, size_t json_len, const uint8_t *sig,
                              size_t sig_len, const char *const *paths, const char *msg) {
        err_clear();
        int r = bundle_write(out, m, json, json_len, sig, sig_len, paths);
        assert_true(r < 0);
        if (!strstr(err_message(r), msg))
                fail_msg("error '%s' does not contain '%s'", err_message(r), msg);
        assert_int_equal(access(out, F_OK), -1);
        assert_false(dir_has_temp_files());
}

static void test_write_errors(void **state) {
        _cleanup_free_ char *out = path_in("fail.abide"), *missing = path_in("missing");
        _cleanup_free_ char *odd = path_in("odd");
        const char *paths[N_PAYLOADS];

        for (size_t i = 0; i < N_PAYLOADS; i++)
                paths[i] = fx.paths[i];

        /* A payload file whose size differs from the manifest. */
        assert_int_equal(write_file_atomic(odd, "abc", 3, 0644), 0);
        paths[3] = odd;
        expect_write_fail(out, fx.m, fx.json, fx.json_len, fake_sig, sizeof fake_sig, paths,
                          "bundle: payload 'vmlinuz': ");
        expect_write_fail(out, fx.m, fx.json, fx.json_len, fake_sig, sizeof fake_sig, paths,
                          "has 3 bytes, the manifest says 1001");
        paths[3] = missing;
        expect_write_fail(out, fx.m, fx.json, fx.json_len, fake_sig, sizeof fake_sig, paths,
                          "bundle: payload 'vmlinuz': cannot open");
        paths[3] = fx.dir;
        expect_write_fail(out, fx.m, fx.json, fx.json_len, fake_sig, sizeof fake_sig, paths, "is not a regular file");
        paths[3] = fx.paths[3];

        expect_write_fail(out, fx.m, fx.json, fx.json_len, fake_sig, 0, paths, "bundle: signature of 0 bytes");
        expect_write_fail(out, fx.m, fx.json, fx.json_len, fake_sig, BUNDLE_SIGNATURE_MAX + 1, paths,
                          "bundle: signature of 65537 bytes");

        /* JSON that does not describe the manifest being written. */
        _cleanup_free_ char *other = strdup(fx.json);
        char *p = strstr(other, "\"vmlinuz\"");
        assert_non_null(p);
        p[1] = 'V';
        expect_write_fail(out, fx.m, other, fx.json_len, fake_sig, sizeof fake_sig, paths,
                          "describes other payloads");
        expect_write_fail(out, fx.m, "{}", 2, fake_sig, sizeof fake_sig, paths, "bundle: manifest JSON: manifest: ");

        /* An invalid manifest is not written. */
        fx.m->tries = 0;
        expect_write_fail(out, fx.m, fx.json, fx.json_len, fake_sig, sizeof fake_sig, paths, "boot.tries");
        fx.m->tries = 3;

        /* An unwritable target directory. */
        _cleanup_free_ char *nodir = path_in("no/such/dir.abide");
        err_clear();
        assert_true(bundle_write(nodir, fx.m, fx.json, fx.json_len, fake_sig, sizeof fake_sig, paths) < 0);
        assert_non_null(strstr(err_message(-ENOENT), "bundle: cannot create"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_from_pipe),
                cmocka_unit_test(test_reproducible),
                cmocka_unit_test(test_rewrite_harness),
                cmocka_unit_test(test_flip_each_member),
                cmocka_unit_test(test_hand_over_digest),
                cmocka_unit_test(test_map_payload),
                cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_order),
                cmocka_unit_test(test_index),
                cmocka_unit_test(test_guess_headers),
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_sizes),
                cmocka_unit_test(test_member_types),
                cmocka_unit_test(test_not_tar),
                cmocka_unit_test(test_signed),
                cmocka_unit_test(test_named),
                cmocka_unit_test(test_signed_manifest_changed),
                cmocka_unit_test(test_write_errors),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
