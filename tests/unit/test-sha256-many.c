/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "basic/error.h"
#include "crypto/hash.h"
#include "crypto/sha256-many.h"

/* Deterministic bytes (xorshift), so that a failure repeats. */
static void fill(uint8_t *p, size_t n, uint64_t seed) {
        uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
        for (size_t i = 0; i < n; i++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                p[i] = (uint8_t) (x >> 24);
        }
}

/* sha256(prefix || message) the plain way, one buffer through sha256_buf(). */
static void reference(const uint8_t *prefix, size_t prefix_size, const uint8_t *msg, size_t size,
                      uint8_t out[SHA256_DIGEST_SIZE]) {
        uint8_t *b = malloc(prefix_size + size);
        assert_non_null(b);
        memcpy(b, prefix, prefix_size);
        memcpy(b + prefix_size, msg, size);
        assert_int_equal(sha256_buf(b, prefix_size + size, out), 0);
        free(b);
}

/* Every implementation this build and CPU have gives sha256_buf()'s digests, lanes partly filled or not. */
static void test_every_impl_matches_openssl(void **state) {
        static const size_t prefixes[] = { 0, 1, 32, 63, 64 };
        static const size_t sizes[] = { 1, 55, 64, 4096, 4097 };
        static const uint64_t counts[] = { 0, 1, 2, 3, 15, 16, 17, 31, 32, 33, 100 };
        unsigned ran = 0;

        for (Sha256Impl impl = SHA256_IMPL_AUTO; impl < _SHA256_IMPL_MAX; impl++) {
                Sha256Many *probe = NULL;
                int r = sha256_many_new(impl, NULL, 0, 1, &probe);
                if (r == -EOPNOTSUPP) {
                        print_message("sha256-many: %s: not in this build or on this CPU\n", sha256_impl_name(impl));
                        continue;
                }
                assert_int_equal(r, 0);
                print_message("sha256-many: %s: runs as %s\n", sha256_impl_name(impl),
                              sha256_impl_name(sha256_many_impl(probe)));
                sha256_many_free(probe);
                ran++;

                for (size_t a = 0; a < ELEMENTSOF(prefixes); a++)
                        for (size_t b = 0; b < ELEMENTSOF(sizes); b++)
                                for (size_t c = 0; c < ELEMENTSOF(counts); c++) {
                                        size_t ps = prefixes[a], size = sizes[b];
                                        uint64_t n = counts[c];
                                        uint8_t prefix[SHA256_MANY_PREFIX_MAX];
                                        uint8_t *data = malloc(size * n + 1);
                                        uint8_t *got = malloc(n * SHA256_DIGEST_SIZE + 1), want[SHA256_DIGEST_SIZE];
                                        Sha256Many *m = NULL;

                                        assert_non_null(data);
                                        assert_non_null(got);
                                        fill(prefix, sizeof prefix, a + 1);
                                        fill(data, size * n, b * 100 + c);
                                        assert_int_equal(sha256_many_new(impl, prefix, ps, size, &m), 0);
                                        /* Twice through one context: rounds leave nothing behind. */
                                        for (int pass = 0; pass < 2; pass++) {
                                                memset(got, 0, n * SHA256_DIGEST_SIZE);
                                                assert_int_equal(sha256_many(m, data, n, got), 0);
                                                for (uint64_t i = 0; i < n; i++) {
                                                        reference(prefix, ps, data + i * size, size, want);
                                                        assert_memory_equal(got + i * SHA256_DIGEST_SIZE, want,
                                                                            SHA256_DIGEST_SIZE);
                                                }
                                        }
                                        sha256_many_free(m);
                                        free(data);
                                        free(got);
                                }
        }
        assert_true(ran >= 2); /* AUTO and OPENSSL at least */
}

/* One changed byte changes that message's digest and no other. */
static void test_a_changed_block_changes_its_digest_only(void **state) {
        enum { N = 40, SIZE = 4096 };
        uint8_t salt[32], *data = malloc(N * SIZE), before[N * SHA256_DIGEST_SIZE], after[N * SHA256_DIGEST_SIZE];
        Sha256Many *m = NULL;

        assert_non_null(data);
        fill(salt, sizeof salt, 7);
        fill(data, N * SIZE, 8);
        assert_int_equal(sha256_many_new(SHA256_IMPL_AUTO, salt, sizeof salt, SIZE, &m), 0);
        assert_int_equal(sha256_many(m, data, N, before), 0);
        data[17 * SIZE + SIZE - 1] ^= 1;
        assert_int_equal(sha256_many(m, data, N, after), 0);
        for (int i = 0; i < N; i++)
                if (i == 17)
                        assert_memory_not_equal(before + i * SHA256_DIGEST_SIZE, after + i * SHA256_DIGEST_SIZE,
                                                SHA256_DIGEST_SIZE);
                else
                        assert_memory_equal(before + i * SHA256_DIGEST_SIZE, after + i * SHA256_DIGEST_SIZE,
                                            SHA256_DIGEST_SIZE);
        sha256_many_free(m);
        free(data);
}

/*
 * AUTO takes the lanes where the CPU has them, so that the install and the
 * build are not quietly on the slow path: on x86-64 this build must have
 * intel-ipsec-mb's header and the machine its library (scripts/install-deps.sh
 * installs libipsec-mb-dev, which brings libipsec-mb1), unless the build
 * turned it off (-Dipsec_mb=disabled). With
 * ABIDE_TEST_NO_IPSEC_MB=1 (tests/integration/test-verity.sh, the
 * library hidden) AUTO must fall back to OpenSSL instead.
 */
static void test_auto_takes_the_lanes(void **state) {
        Sha256Many *m = NULL;

        assert_int_equal(sha256_many_new(SHA256_IMPL_AUTO, NULL, 0, 4096, &m), 0);
        Sha256Impl impl = sha256_many_impl(m);
        sha256_many_free(m);
        assert_int_not_equal(impl, SHA256_IMPL_AUTO);
        const char *e = getenv("ABIDE_TEST_NO_IPSEC_MB");
        if (e && streq(e, "1")) {
                print_message("sha256-many: intel-ipsec-mb hidden; auto runs %s\n", sha256_impl_name(impl));
                assert_int_equal(impl, SHA256_IMPL_OPENSSL);
                for (Sha256Impl i = SHA256_IMPL_SHANI; i < _SHA256_IMPL_MAX; i++)
                        assert_int_equal(sha256_many_new(i, NULL, 0, 4096, &m), -EOPNOTSUPP);
                return;
        }
#if defined(__x86_64__)
        unsigned a, b, c, d;
        bool sha_ni = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
        bool avx2 = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 5));
        print_message("sha256-many: this CPU: sha-ni %s, avx2 %s; auto runs %s\n", sha_ni ? "yes" : "no",
                      avx2 ? "yes" : "no", sha256_impl_name(impl));
        if (!HAVE_IPSEC_MB && IPSEC_MB_TURNED_OFF) { /* -Dipsec_mb=disabled: asked for */
                assert_int_equal(impl, SHA256_IMPL_OPENSSL);
                return;
        }
        if (!HAVE_IPSEC_MB)
                fail_msg("built without intel-ipsec-mb's header on x86-64: the leaves are hashed one at a time");
        if ((sha_ni || avx2) && impl == SHA256_IMPL_OPENSSL)
                fail_msg("intel-ipsec-mb's library (libipsec-mb1) is not installed: the leaves are hashed one at a time");
        if (sha_ni)
                assert_int_equal(impl, SHA256_IMPL_SHANI);
        else if (avx2)
                assert_true(impl == SHA256_IMPL_AVX2 || impl == SHA256_IMPL_AVX512);
#endif
}

/* A copy (one for another thread) has the original's implementation, prefix and size: the same digests. */
static void test_dup_hashes_the_same(void **state) {
        enum { N = 9, SIZE = 4096 };
        uint8_t salt[32], *data = malloc(N * SIZE), a[N * SHA256_DIGEST_SIZE], b[N * SHA256_DIGEST_SIZE];
        uint8_t want[SHA256_DIGEST_SIZE];
        Sha256Many *m = NULL, *d = NULL;

        assert_non_null(data);
        fill(salt, sizeof salt, 7);
        fill(data, N * SIZE, 8);
        for (Sha256Impl impl = SHA256_IMPL_AUTO; impl < _SHA256_IMPL_MAX; impl++) {
                int r = sha256_many_new(impl, salt, sizeof salt, SIZE, &m);
                if (r == -EOPNOTSUPP)
                        continue;
                assert_int_equal(r, 0);
                assert_int_equal(sha256_many_dup(m, &d), 0);
                assert_int_equal(sha256_many_impl(d), sha256_many_impl(m));
                assert_int_equal(sha256_many(m, data, N, a), 0);
                assert_int_equal(sha256_many(d, data, N, b), 0);
                assert_memory_equal(a, b, sizeof a);
                reference(salt, sizeof salt, data + 5 * SIZE, SIZE, want);
                assert_memory_equal(b + 5 * SHA256_DIGEST_SIZE, want, SHA256_DIGEST_SIZE);
                m = sha256_many_free(m);
                d = sha256_many_free(d);
        }
        free(data);
        (void) state;
}

/*
 * sha256_many_in_place() gives sha256_many()'s digests for every
 * implementation, prefix and count (rounds of two passes, full or not), and
 * writes nothing outside the head room and the messages. A prefix longer
 * than a message takes the copying path.
 */
static void test_in_place_matches(void **state) {
        static const size_t prefixes[] = { 0, 1, 32, 63, 64 };
        static const size_t sizes[] = { 1, 64, 4096, 4097 };
        static const uint64_t counts[] = { 0, 1, 2, 3, 31, 32, 33, 63, 64, 65, 66, 100, 129 };
        enum { GUARD = 256 };

        for (Sha256Impl impl = SHA256_IMPL_AUTO; impl < _SHA256_IMPL_MAX; impl++) {
                Sha256Many *probe = NULL;
                if (sha256_many_new(impl, NULL, 0, 1, &probe) == -EOPNOTSUPP)
                        continue;
                sha256_many_free(probe);
                for (size_t a = 0; a < ELEMENTSOF(prefixes); a++)
                        for (size_t b = 0; b < ELEMENTSOF(sizes); b++)
                                for (size_t c = 0; c < ELEMENTSOF(counts); c++) {
                                        size_t ps = prefixes[a], size = sizes[b];
                                        uint64_t n = counts[c];
                                        size_t len = GUARD + SHA256_MANY_HEADROOM + size * n + GUARD;
                                        uint8_t prefix[SHA256_MANY_PREFIX_MAX];
                                        uint8_t *buf = malloc(len), *orig = malloc(len);
                                        uint8_t *want = malloc(n * SHA256_DIGEST_SIZE + 1);
                                        uint8_t *got = malloc(n * SHA256_DIGEST_SIZE + 1);
                                        Sha256Many *m = NULL;

                                        assert_non_null(buf);
                                        assert_non_null(orig);
                                        assert_non_null(want);
                                        assert_non_null(got);
                                        fill(prefix, sizeof prefix, a + 11);
                                        assert_int_equal(sha256_many_new(impl, prefix, ps, size, &m), 0);
                                        fill(orig, len, b * 1000 + c);
                                        memcpy(buf, orig, len);
                                        uint8_t *data = buf + GUARD + SHA256_MANY_HEADROOM;
                                        assert_int_equal(sha256_many(m, orig + GUARD + SHA256_MANY_HEADROOM, n, want), 0);
                                        assert_int_equal(sha256_many_in_place(m, data, n, got), 0);
                                        assert_memory_equal(got, want, n * SHA256_DIGEST_SIZE);
                                        /* Written at most: the head room's last ps bytes and the messages. */
                                        assert_memory_equal(buf, orig, GUARD + SHA256_MANY_HEADROOM - ps);
                                        assert_memory_equal(data + size * n, orig + GUARD + SHA256_MANY_HEADROOM + size * n, GUARD);
                                        /* Again over what the first call left: a context is reused. */
                                        memcpy(buf, orig, len);
                                        memset(got, 0, n * SHA256_DIGEST_SIZE);
                                        assert_int_equal(sha256_many_in_place(m, data, n, got), 0);
                                        assert_memory_equal(got, want, n * SHA256_DIGEST_SIZE);
                                        sha256_many_free(m);
                                        free(buf);
                                        free(orig);
                                        free(want);
                                        free(got);
                                }
        }
        (void) state;
}

static void test_bad_arguments(void **state) {
        uint8_t prefix[SHA256_MANY_PREFIX_MAX + 1] = { 0 }, out[SHA256_DIGEST_SIZE];
        Sha256Many *m = NULL;

        assert_int_equal(sha256_many_new(SHA256_IMPL_AUTO, prefix, sizeof prefix, 4096, &m), -EINVAL);
        assert_int_equal(sha256_many_new(SHA256_IMPL_AUTO, prefix, 32, 0, &m), -EINVAL);
        assert_int_equal(sha256_many_new(SHA256_IMPL_AUTO, NULL, 32, 4096, &m), -EINVAL);
        assert_int_equal(sha256_many_new(_SHA256_IMPL_MAX, prefix, 32, 4096, &m), -EINVAL);
        assert_int_equal(sha256_many_new((Sha256Impl) -1, prefix, 32, 4096, &m), -EINVAL);
        assert_null(m);
        assert_int_equal(sha256_many(NULL, prefix, 1, out), -EINVAL);
        assert_int_equal(sha256_many_new(SHA256_IMPL_OPENSSL, prefix, 32, 4096, &m), 0);
        assert_int_equal(sha256_many(m, NULL, 1, out), -EINVAL);
        assert_int_equal(sha256_many(m, NULL, 0, NULL), 0);
        assert_int_equal(sha256_many_in_place(NULL, out, 1, out), -EINVAL);
        assert_int_equal(sha256_many_in_place(m, NULL, 1, out), -EINVAL);
        assert_int_equal(sha256_many_in_place(m, NULL, 0, NULL), 0);
        sha256_many_free(m);
        assert_string_equal(sha256_impl_name(_SHA256_IMPL_MAX), "?");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_impl_matches_openssl),
                cmocka_unit_test(test_a_changed_block_changes_its_digest_only),
                cmocka_unit_test(test_auto_takes_the_lanes),
                cmocka_unit_test(test_dup_hashes_the_same),
                cmocka_unit_test(test_in_place_matches),
                cmocka_unit_test(test_bad_arguments),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
