/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "install/install-delta.h"

/* The leaf level's offset in a veritysetup hash device (superblock, 4 KiB blocks, SHA-256: 128 digests a block):
 * the upper levels come first, top down, after the superblock's block. */
static void test_leaf_offset(void **state) {
        uint64_t off = 0;

        assert_int_equal(delta_leaf_offset(0, &off), -EINVAL);
        assert_int_equal(delta_leaf_offset(1, &off), -EOPNOTSUPP);   /* no tree: the root hash is the block's */
        assert_int_equal(delta_leaf_offset(2, &off), 0);
        assert_true(off == 4096);                                    /* one level, right after the superblock */
        assert_int_equal(delta_leaf_offset(128, &off), 0);
        assert_true(off == 4096);
        assert_int_equal(delta_leaf_offset(129, &off), 0);
        assert_true(off == 2 * 4096);                                /* a top block, then the leaves */
        /* 4613 blocks: top 1 block, leaves 37 blocks: 159744 bytes with the superblock (veritysetup's size). */
        assert_int_equal(delta_leaf_offset(4613, &off), 0);
        assert_true(off == 2 * 4096);
        assert_int_equal(delta_leaf_offset(16384, &off), 0);
        assert_true(off == 2 * 4096);
        assert_int_equal(delta_leaf_offset(16385, &off), 0);
        assert_true(off == 4 * 4096);                                /* top 1, middle 2, then the leaves */
        /* 1 GiB: 262144 blocks: top 1, middle 16, leaves 2048. */
        assert_int_equal(delta_leaf_offset(262144, &off), 0);
        assert_true(off == (1 + 1 + 16) * 4096);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_leaf_offset),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
