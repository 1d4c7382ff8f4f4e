/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
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
#include "verity/verity-tree.h"

/* A data file of n blocks, its tree made by libcryptsetup (verity_format), both read back into memory. */
typedef struct Fixture {
        char dir[64];
        VerityParams p;
        uint8_t *data, *tree, *leaves;
        size_t n, tree_len;
} Fixture;

static void fixture_make(Fixture *f, size_t n) {
        char data_path[128], hash_path[128];
        uint8_t seed[SHA256_DIGEST_SIZE] = { (uint8_t) n };

        *f = (Fixture) { .n = n };
        snprintf(f->dir, sizeof f->dir, "/tmp/test-verity-tree.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(data_path, sizeof data_path, "%s/data", f->dir);
        snprintf(hash_path, sizeof hash_path, "%s/hash", f->dir);
        f->data = malloc(n * VERITY_BLOCK_SIZE);
        assert_non_null(f->data);
        for (size_t i = 0; i < n * VERITY_BLOCK_SIZE; i++)
                f->data[i] = (uint8_t) ((i * 2654435761u) >> 13);
        assert_int_equal(write_file_atomic(data_path, f->data, n * VERITY_BLOCK_SIZE, 0644), 0);
        verity_params_derive(seed, &f->p);
        assert_int_equal(verity_format(data_path, hash_path, &f->p), 0);
        assert_int_equal(f->p.data_blocks, n);
        char *tree = NULL;
        assert_int_equal(read_full_file(hash_path, 64 * 1024 * 1024, &tree, &f->tree_len), 0);
        f->tree = (uint8_t *) tree;
        f->leaves = malloc(n * SHA256_DIGEST_SIZE);
        assert_non_null(f->leaves);
        unlink(data_path);
        unlink(hash_path);
        rmdir(f->dir);
}

static void leaves_of(Fixture *f) {
        _cleanup_(verity_leaf_hasher_freep) VerityLeafHasher *h = NULL;
        assert_int_equal(verity_leaf_hasher_new(&f->p, &h), 0);
        assert_int_equal(verity_leaf_hash(h, f->data, f->n, f->leaves), 0);
}

static void fixture_done(Fixture *f) {
        free(f->data);
        free(f->tree);
        free(f->leaves);
}

static int check(Fixture *f) {
        leaves_of(f);
        int r = verity_tree_check(&f->p, f->tree, f->tree_len, f->leaves);
        err_clear();
        return r;
}

static void test_accepts_veritysetup_trees(void **state) {
        /* One level (up to 128 blocks), two levels, and a last hash block only partly used. */
        size_t sizes[] = { 2, 128, 129, 300, 128 * 128 + 1 };
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
                Fixture f;
                fixture_make(&f, sizes[i]);
                assert_int_equal(verity_tree_supported(&f.p), 0);
                assert_int_equal(check(&f), 0);
                fixture_done(&f);
        }
}

static void test_refuses_a_changed_data_block(void **state) {
        Fixture f;
        fixture_make(&f, 300);
        f.data[200 * VERITY_BLOCK_SIZE + 17] ^= 0x01;
        leaves_of(&f);
        assert_int_equal(verity_tree_check(&f.p, f.tree, f.tree_len, f.leaves), -EBADMSG);
        assert_non_null(strstr(err_message(-EBADMSG), "data block 200 does not match its leaf hash"));
        err_clear();
        fixture_done(&f);
}

static void test_refuses_a_changed_tree(void **state) {
        Fixture f;
        fixture_make(&f, 300);
        /* The top level (block 1), a leaf entry (level 0 starts at block 2), the padding after the last
         * leaf, and the superblock's salt: each is refused. */
        size_t offsets[] = { VERITY_BLOCK_SIZE + 5, 2 * VERITY_BLOCK_SIZE + 40,
                             2 * VERITY_BLOCK_SIZE + 300 * SHA256_DIGEST_SIZE + 3, 90 };
        for (size_t i = 0; i < sizeof offsets / sizeof *offsets; i++) {
                f.tree[offsets[i]] ^= 0x80;
                assert_int_equal(check(&f), -EBADMSG);
                f.tree[offsets[i]] ^= 0x80;
        }
        assert_int_equal(check(&f), 0);
        /* Each field of the superblock that super_check() reads (cryptsetup's struct verity_sb):
         * version, hash type, UUID, algorithm, block sizes, data blocks, salt size. The superblock
         * is hashed by no digest, so only that check can refuse it. */
        size_t super[] = { 8, 12, 16, 31, 32, 64, 68, 72, 80 };
        for (size_t i = 0; i < sizeof super / sizeof *super; i++) {
                f.tree[super[i]] ^= 0x01;
                leaves_of(&f);
                assert_int_equal(verity_tree_check(&f.p, f.tree, f.tree_len, f.leaves), -EBADMSG);
                assert_non_null(strstr(err_message(-EBADMSG), "superblock does not match"));
                err_clear();
                f.tree[super[i]] ^= 0x01;
        }
        assert_int_equal(check(&f), 0);
        fixture_done(&f);
}

static void test_refuses_another_root_hash_and_short_trees(void **state) {
        Fixture f;
        fixture_make(&f, 300);
        f.p.root_hash[0] = f.p.root_hash[0] == '0' ? '1' : '0';
        assert_int_equal(check(&f), -EBADMSG);
        f.p.root_hash[0] = 'x';
        assert_int_equal(check(&f), -EINVAL);
        fixture_done(&f);

        fixture_make(&f, 300);
        assert_int_equal(check(&f), 0);
        leaves_of(&f);
        assert_int_equal(verity_tree_check(&f.p, f.tree, 3 * VERITY_BLOCK_SIZE, f.leaves), -EBADMSG);
        err_clear();
        f.p.data_blocks = 299;
        assert_int_equal(verity_tree_check(&f.p, f.tree, f.tree_len, f.leaves), -EBADMSG);
        err_clear();
        fixture_done(&f);
}

/* verity_tree_build() writes libcryptsetup's bytes: superblock, every level, the padding, the size; and its root. */
static void test_build_writes_veritysetup_trees(void **state) {
        size_t sizes[] = { 2, 127, 128, 129, 300, 128 * 128, 128 * 128 + 1 };
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
                Fixture f;
                _cleanup_free_ uint8_t *tree = NULL;
                uint8_t root[SHA256_DIGEST_SIZE];
                char hex[SHA256_HEX_SIZE];
                size_t len = 0;

                fixture_make(&f, sizes[i]);
                leaves_of(&f);
                assert_int_equal(verity_tree_build(&f.p, f.leaves, &tree, &len, root), 0);
                assert_int_equal(len, f.tree_len);
                assert_memory_equal(tree, f.tree, len);
                hex_encode(root, SHA256_DIGEST_SIZE, hex);
                assert_string_equal(hex, f.p.root_hash);
                /* Another leaf gives another tree and root. */
                f.leaves[(sizes[i] - 1) * SHA256_DIGEST_SIZE] ^= 1;
                free(tree);
                tree = NULL;
                uint8_t other[SHA256_DIGEST_SIZE];
                assert_int_equal(verity_tree_build(&f.p, f.leaves, &tree, &len, other), 0);
                assert_memory_not_equal(root, other, SHA256_DIGEST_SIZE);
                fixture_done(&f);
        }

        /* What it cannot build, it refuses: one block, another hash, a UUID that is not one. */
        Fixture f;
        _cleanup_free_ uint8_t *tree = NULL;
        uint8_t root[SHA256_DIGEST_SIZE];
        size_t len = 0;
        fixture_make(&f, 2);
        leaves_of(&f);
        f.p.data_blocks = 1;
        assert_int_equal(verity_tree_build(&f.p, f.leaves, &tree, &len, root), -EOPNOTSUPP);
        f.p.data_blocks = 2;
        snprintf(f.p.uuid, sizeof f.p.uuid, "not-a-uuid");
        assert_int_equal(verity_tree_build(&f.p, f.leaves, &tree, &len, root), -EINVAL);
        err_clear();
        assert_null(tree);
        fixture_done(&f);
}

static void test_unsupported_parameters(void **state) {
        Fixture f;
        fixture_make(&f, 2);
        f.p.data_blocks = 1;
        assert_int_equal(verity_tree_supported(&f.p), -EOPNOTSUPP);
        f.p.data_blocks = 2;
        f.p.data_block_size = 512;
        assert_int_equal(verity_tree_supported(&f.p), -EOPNOTSUPP);
        f.p.data_block_size = 4096;
        snprintf(f.p.hash_algorithm, sizeof f.p.hash_algorithm, "sha1");
        assert_int_equal(verity_tree_supported(&f.p), -EOPNOTSUPP);
        fixture_done(&f);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_accepts_veritysetup_trees),
                cmocka_unit_test(test_refuses_a_changed_data_block),
                cmocka_unit_test(test_refuses_a_changed_tree),
                cmocka_unit_test(test_refuses_another_root_hash_and_short_trees),
                cmocka_unit_test(test_build_writes_veritysetup_trees),
                cmocka_unit_test(test_unsupported_parameters),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
