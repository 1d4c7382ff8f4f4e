/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bundle_write_in_place(), bundle_first_payload_offset(), bundle_manifest_pad():
 * the bundle made around the root payload's file is bundle_write()'s, byte
 * for byte, and readable; anything it cannot do leaves the file untouched. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/rm-rf.h"
#include "bundle/bundle.h"
#include "crypto/hash.h"

#define N_PAYLOADS 4
#define ROOT_BLOCKS 700

static const char *const names[N_PAYLOADS] = { "root.img", "root.verity", "root.verity-sig", "vmlinuz" };
static const PayloadRole roles[N_PAYLOADS] = { PAYLOAD_ROOT, PAYLOAD_VERITY, PAYLOAD_VERITY_SIG, PAYLOAD_KERNEL };
/* root spans several 1 MiB chunks; vmlinuz needs tar padding. */
static const size_t sizes[N_PAYLOADS] = { ROOT_BLOCKS * 4096, 16384, 4096, 1001 };
static const uint8_t sig[] = "a signature of some length: read with trust == NULL";

static struct {
        char dir[64];
        char paths[N_PAYLOADS][128];
        uint8_t *data[N_PAYLOADS];
        Manifest *m;
        char *json;
        size_t json_len;
} fx;

static void fill(uint8_t *buf, size_t n, uint32_t seed) {
        for (size_t i = 0; i < n; i++) {
                seed = seed * 1103515245u + 12345u;
                buf[i] = (uint8_t) (seed >> 16);
        }
}

static void make_manifest(void) {
        Manifest *m = calloc(1, sizeof *m);
        assert_non_null(m);
        m->format = MANIFEST_FORMAT;
        m->name = strdup("edge-demo");
        m->version = strdup("1.2.0");
        m->compatible = strdup("abide-demo-x86_64");
        m->build_date = strdup("2024-07-19T04:09:00Z");
        m->filesystem = strdup("erofs");
        m->cmdline = strdup("console=ttyS0");
        m->tries = 3;
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
                m->payloads[i].name = strdup(names[i]);
                m->payloads[i].role = roles[i];
                m->payloads[i].size = sizes[i];
                assert_int_equal(sha256_buf(fx.data[i], sizes[i], m->payloads[i].sha256), 0);
        }
        fx.m = m;
}

static void write_payloads(void) {
        for (size_t i = 0; i < N_PAYLOADS; i++)
                assert_int_equal(write_file_atomic(fx.paths[i], fx.data[i], sizes[i], 0600), 0);
}

static int setup(void **state) {
        /* /var/tmp: a disk file system (ext4, XFS) where /tmp may be tmpfs. */
        strcpy(fx.dir, "/var/tmp/test-bundle-in-place.XXXXXX");
        assert_non_null(mkdtemp(fx.dir));
        for (size_t i = 0; i < N_PAYLOADS; i++) {
                fx.data[i] = malloc(sizes[i]);
                assert_non_null(fx.data[i]);
                fill(fx.data[i], sizes[i], (uint32_t) i + 11);
                snprintf(fx.paths[i], sizeof fx.paths[i], "%s/%s", fx.dir, names[i]);
        }
        make_manifest();
        assert_int_equal(manifest_to_json(fx.m, &fx.json, &fx.json_len), 0);
        return 0;
}

static int teardown(void **state) {
        for (size_t i = 0; i < N_PAYLOADS; i++)
                free(fx.data[i]);
        manifest_free(fx.m);
        free(fx.json);
        assert_int_equal(rm_rf(fx.dir), 0);
        return 0;
}

static char *slurp(const char *path, size_t *len) {
        char *buf = NULL;
        int r = read_full_file(path, 64 * 1024 * 1024, &buf, len);
        if (r < 0)
                fail_msg("%s: %s", path, err_message(r));
        return buf;
}

static const char *const *paths(void) {
        static const char *p[N_PAYLOADS];
        for (size_t i = 0; i < N_PAYLOADS; i++)
                p[i] = fx.paths[i];
        return p;
}

static void test_pad(void **state) {
        _cleanup_free_ char *json = strdup(fx.json);
        size_t len = fx.json_len;
        uint64_t off;

        assert_non_null(json);
        assert_int_equal(bundle_first_payload_offset(fx.m, len, sizeof sig, &off), 0);
        /* manifest header + data, signature header + data, root.img header: records. */
        assert_int_equal(off % BUNDLE_RECORD, 0);
        assert_true(off >= 3 * BUNDLE_RECORD + len + sizeof sig);
        int r = bundle_manifest_pad(&json, &len, off, BUNDLE_INSERT_ALIGN);
        assert_true(r >= 0);
        if (off % BUNDLE_INSERT_ALIGN != 0)
                assert_int_equal(r, 1);
        assert_int_equal(bundle_first_payload_offset(fx.m, len, sizeof sig, &off), 0);
        assert_int_equal(off % BUNDLE_INSERT_ALIGN, 0);
        assert_int_equal(len % BUNDLE_RECORD, 0);
        assert_true(len < fx.json_len + BUNDLE_INSERT_ALIGN);
        /* The same JSON: only whitespace added before the final newline. */
        assert_memory_equal(json, fx.json, fx.json_len - 1);
        assert_int_equal(json[len - 1], '\n');
        for (size_t i = fx.json_len - 1; i < len - 1; i++)
                assert_int_equal(json[i], ' ');
        _cleanup_(manifest_freep) Manifest *parsed = NULL;
        assert_int_equal(manifest_parse(json, len, &parsed), 0);
        /* Aligned already: nothing to do. */
        assert_int_equal(bundle_manifest_pad(&json, &len, off, BUNDLE_INSERT_ALIGN), 0);
        assert_int_equal(bundle_manifest_pad(&json, &len, off, 1000), -EINVAL);
}

static void test_same_bytes(void **state) {
        _cleanup_free_ char *json = strdup(fx.json), *a = NULL, *b = NULL, *copied = NULL, *placed = NULL;
        size_t len = fx.json_len, la, lb;
        uint64_t off;

        assert_non_null(json);
        assert_int_equal(bundle_first_payload_offset(fx.m, len, sizeof sig, &off), 0);
        assert_true(bundle_manifest_pad(&json, &len, off, BUNDLE_INSERT_ALIGN) >= 0);
        assert_int_equal(bundle_first_payload_offset(fx.m, len, sizeof sig, &off), 0);
        assert_true(asprintf(&copied, "%s/copied.abide", fx.dir) > 0);
        assert_true(asprintf(&placed, "%s/placed.abide", fx.dir) > 0);

        write_payloads();
        assert_int_equal(bundle_write(copied, fx.m, json, len, sig, sizeof sig, paths()), 0);
        int r = bundle_write_in_place(placed, fx.m, json, len, sig, sizeof sig, paths());
        if (r == -EOPNOTSUPP) {
                /* A file system without FALLOC_FL_INSERT_RANGE: the payload is untouched. */
                size_t l;
                _cleanup_free_ char *root = slurp(fx.paths[0], &l);
                assert_int_equal(l, sizes[0]);
                assert_memory_equal(root, fx.data[0], l);
                assert_int_equal(access(placed, F_OK), -1);
                print_message("no FALLOC_FL_INSERT_RANGE on %s: checked the refusal only\n", fx.dir);
                return;
        }
        if (r < 0)
                fail_msg("bundle_write_in_place: %s", err_message(r));
        /* The root payload's file became the bundle. */
        assert_int_equal(access(fx.paths[0], F_OK), -1);
        a = slurp(copied, &la);
        b = slurp(placed, &lb);
        assert_int_equal(la, lb);
        assert_memory_equal(a, b, la);
        assert_memory_equal(b + off, fx.data[0], sizes[0]);
        struct stat st;
        assert_int_equal(stat(placed, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0644);

        /* And it reads back: every payload's size and digest checked by the reader. */
        _cleanup_close_ int fd = open(placed, O_RDONLY | O_CLOEXEC);
        _cleanup_(bundle_reader_freep) BundleReader *br = NULL;
        assert_true(fd >= 0);
        assert_int_equal(bundle_reader_open(fd, NULL, NULL, &br), 0);
        const Payload *p;
        static uint8_t buf[65536];
        size_t n = 0;
        while ((r = bundle_reader_next(br, &p)) > 0) {
                ssize_t k;
                while ((k = bundle_reader_read(br, buf, sizeof buf)) > 0)
                        ;
                assert_int_equal(k, 0);
                n++;
        }
        assert_int_equal(r, 0);
        assert_int_equal(n, N_PAYLOADS);
        unlink(copied);
        unlink(placed);
}

static void test_unaligned_refused(void **state) {
        uint64_t off;

        assert_int_equal(bundle_first_payload_offset(fx.m, fx.json_len, sizeof sig, &off), 0);
        /* The fixture's head must leave the first payload unaligned, or this test checks nothing. */
        if (off % BUNDLE_INSERT_ALIGN == 0)
                fail_msg("fixture: the first payload starts aligned (offset %" PRIu64 "); nothing to refuse", off);
        _cleanup_free_ char *placed = NULL;
        assert_true(asprintf(&placed, "%s/unaligned.abide", fx.dir) > 0);
        write_payloads();
        assert_int_equal(bundle_write_in_place(placed, fx.m, fx.json, fx.json_len, sig, sizeof sig, paths()),
                         -EOPNOTSUPP);
        size_t l;
        _cleanup_free_ char *root = slurp(fx.paths[0], &l);
        assert_int_equal(l, sizes[0]);
        assert_memory_equal(root, fx.data[0], l);
        assert_int_equal(access(placed, F_OK), -1);
}

static void test_wrong_size_refused(void **state) {
        _cleanup_free_ char *placed = NULL;
        assert_true(asprintf(&placed, "%s/short.abide", fx.dir) > 0);
        write_payloads();
        assert_int_equal(truncate(fx.paths[0], (off_t) sizes[0] - 4096), 0);
        assert_true(bundle_write_in_place(placed, fx.m, fx.json, fx.json_len, sig, sizeof sig, paths()) < 0);
        struct stat st;
        assert_int_equal(stat(fx.paths[0], &st), 0);
        assert_int_equal(st.st_size, (off_t) sizes[0] - 4096);
        assert_int_equal(access(placed, F_OK), -1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pad),
                cmocka_unit_test(test_same_bytes),
                cmocka_unit_test(test_unaligned_refused),
                cmocka_unit_test(test_wrong_size_refused),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
