/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/rm-rf.h"
#include "verity/verity.h"

static void digest_fill(uint8_t d[SHA256_DIGEST_SIZE], uint8_t seed) {
        for (size_t i = 0; i < SHA256_DIGEST_SIZE; i++)
                d[i] = (uint8_t) (seed + i * 7);
}

/* Lowercase 8-4-4-4-12, version 4, variant 10xx. */
static void assert_uuid_valid(const char *u) {
        assert_int_equal(strlen(u), 36);
        for (size_t i = 0; i < 36; i++) {
                if (i == 8 || i == 13 || i == 18 || i == 23)
                        assert_int_equal(u[i], '-');
                else
                        assert_true(isxdigit((unsigned char) u[i]) && !isupper((unsigned char) u[i]));
        }
        assert_int_equal(u[14], '4');
        assert_non_null(strchr("89ab", u[19]));
}

static void test_derive_deterministic(void **state) {
        uint8_t d[SHA256_DIGEST_SIZE];
        VerityParams a, b;

        digest_fill(d, 1);
        memset(&a, 0xaa, sizeof a);
        memset(&b, 0x55, sizeof b);
        verity_params_derive(d, &a);
        verity_params_derive(d, &b);
        assert_memory_equal(a.salt, b.salt, VERITY_SALT_SIZE);
        assert_string_equal(a.uuid, b.uuid);
        assert_string_equal(a.hash_algorithm, "sha256");
        assert_int_equal(a.data_block_size, 4096);
        assert_int_equal(a.hash_block_size, 4096);
        assert_int_equal(a.salt_size, VERITY_SALT_SIZE);
        assert_int_equal(a.data_blocks, 0);
        assert_string_equal(a.root_hash, "");
}

static void test_salt_for_compatible(void **state) {
        uint8_t d1[SHA256_DIGEST_SIZE], d2[SHA256_DIGEST_SIZE];
        VerityParams a, b, c;

        /* Two releases of one product line share the salt (delta installs match leaf hashes)... */
        digest_fill(d1, 1);
        digest_fill(d2, 2);
        verity_params_derive(d1, &a);
        verity_params_derive(d2, &b);
        verity_params_derive(d2, &c);
        assert_int_equal(verity_params_set_salt_for(&a, "abide-demo-x86_64"), 0);
        assert_int_equal(verity_params_set_salt_for(&b, "abide-demo-x86_64"), 0);
        assert_int_equal(verity_params_set_salt_for(&c, "abide-demo-arm64"), 0);
        assert_memory_equal(a.salt, b.salt, VERITY_SALT_SIZE);
        assert_int_equal(a.salt_size, VERITY_SALT_SIZE);
        /* ...the UUID stays the image's, and another line gets another salt. */
        assert_string_not_equal(a.uuid, b.uuid);
        assert_memory_not_equal(b.salt, c.salt, VERITY_SALT_SIZE);
}

static void test_derive_differs(void **state) {
        uint8_t d1[SHA256_DIGEST_SIZE], d2[SHA256_DIGEST_SIZE];
        VerityParams a, b;

        digest_fill(d1, 1);
        memcpy(d2, d1, sizeof d2);
        d2[SHA256_DIGEST_SIZE - 1] ^= 1;
        verity_params_derive(d1, &a);
        verity_params_derive(d2, &b);
        assert_memory_not_equal(a.salt, b.salt, VERITY_SALT_SIZE);
        assert_string_not_equal(a.uuid, b.uuid);
}

static void test_derive_separated(void **state) {
        uint8_t d[SHA256_DIGEST_SIZE], u[16];
        VerityParams p;

        /* Neither the digest itself nor the salt shows up as the UUID. */
        digest_fill(d, 3);
        verity_params_derive(d, &p);
        assert_memory_not_equal(p.salt, d, VERITY_SALT_SIZE);
        for (size_t i = 0, j = 0; i < 36; i++) {
                if (p.uuid[i] == '-')
                        continue;
                unsigned v;
                assert_int_equal(sscanf(p.uuid + i, "%2x", &v), 1);
                u[j++] = (uint8_t) v;
                i++;
        }
        assert_memory_not_equal(u, p.salt, 6);
        assert_memory_not_equal(u, d, 6);
}

static void test_derive_uuid_valid(void **state) {
        uint8_t d[SHA256_DIGEST_SIZE];
        VerityParams p;

        for (unsigned seed = 0; seed < 64; seed++) {
                digest_fill(d, (uint8_t) seed);
                verity_params_derive(d, &p);
                assert_uuid_valid(p.uuid);
        }
        memset(d, 0, sizeof d);
        verity_params_derive(d, &p);
        assert_uuid_valid(p.uuid);
        memset(d, 0xff, sizeof d);
        verity_params_derive(d, &p);
        assert_uuid_valid(p.uuid);
}

/* The one-pass format (both hashes in one read, the tree built from the leaves
 * with the derived UUID) writes the bytes of derive + verity_format
 * (libcryptsetup), and the digest; a one-block root goes through
 * libcryptsetup (verity_tree_build() does not make it) with the same result. */
static void check_derive_uuid(const char *dir, size_t n, int expect) {
        _cleanup_free_ char *data = NULL, *h1 = NULL, *h2 = NULL, *b1 = NULL, *b2 = NULL;
        uint8_t digest[SHA256_DIGEST_SIZE], got[SHA256_DIGEST_SIZE];
        size_t l1, l2;
        VerityParams a, b;

        assert_true(asprintf(&data, "%s/data", dir) > 0);
        assert_true(asprintf(&h1, "%s/h1", dir) > 0);
        assert_true(asprintf(&h2, "%s/h2", dir) > 0);
        uint8_t *buf = malloc(n);
        assert_non_null(buf);
        for (size_t i = 0; i < n; i++)
                buf[i] = (uint8_t) ((i + n) * 2654435761u >> 13);
        assert_int_equal(write_file_atomic(data, buf, n, 0644), 0);
        assert_int_equal(sha256_buf(buf, n, digest), 0);
        free(buf);

        verity_params_derive(digest, &a);
        assert_int_equal(verity_params_set_salt_for(&a, "abide-demo-x86_64"), 0);
        b = a;
        memset(b.uuid, 'x', sizeof b.uuid - 1);
        assert_int_equal(verity_format(data, h1, &a), 0);
        int r = verity_format_derive_uuid(data, h2, &b, got);
        if (r < 0)
                fail_msg("verity_format_derive_uuid: %s", err_message(r));
        assert_int_equal(r, expect);
        assert_memory_equal(got, digest, SHA256_DIGEST_SIZE);
        assert_string_equal(b.uuid, a.uuid);
        assert_string_equal(b.root_hash, a.root_hash);
        assert_int_equal(b.data_blocks, a.data_blocks);
        assert_int_equal(read_full_file(h1, 64 * 1024 * 1024, &b1, &l1), 0);
        assert_int_equal(read_full_file(h2, 64 * 1024 * 1024, &b2, &l2), 0);
        assert_int_equal(l1, l2);
        assert_memory_equal(b1, b2, l1);
        assert_int_equal(verity_verify(data, h2, &b), 0);
}

static void test_format_derive_uuid(void **state) {
        char dir[] = "/var/tmp/test-verity.XXXXXX";
        uint8_t got[SHA256_DIGEST_SIZE] = {};
        VerityParams b = {};

        assert_non_null(mkdtemp(dir));
        /* One level, two, and three (128 * 128 + 1 blocks); one block: libcryptsetup. */
        check_derive_uuid(dir, 2 * 4096, 1);
        check_derive_uuid(dir, 129 * 4096, 1);
        check_derive_uuid(dir, 1024 * 1024, 1);
        check_derive_uuid(dir, (128 * 128 + 1) * 4096, 1);
        check_derive_uuid(dir, 4096, 0);

        /* A missing data file fails (and the digest thread is joined: ASan would see it leak). */
        char *missing = NULL;
        assert_true(asprintf(&missing, "%s/missing", dir) > 0);
        verity_params_derive(got, &b);
        assert_true(verity_format_derive_uuid(missing, missing, &b, got) < 0);
        err_clear();
        free(missing);
        assert_int_equal(rm_rf(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_derive_deterministic),
                cmocka_unit_test(test_derive_differs),
                cmocka_unit_test(test_salt_for_compatible),
                cmocka_unit_test(test_derive_separated),
                cmocka_unit_test(test_derive_uuid_valid),
                cmocka_unit_test(test_format_derive_uuid),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
