/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

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

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_derive_deterministic),
                cmocka_unit_test(test_derive_differs),
                cmocka_unit_test(test_salt_for_compatible),
                cmocka_unit_test(test_derive_separated),
                cmocka_unit_test(test_derive_uuid_valid),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
