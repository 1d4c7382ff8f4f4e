/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "install/delta-plan.h"
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

/* An old slot's superblock is unauthenticated: its data_blocks is taken only when its data fits the root
 * partition and its tree the verity partition (the leaves are the tree's last level). */
static void test_old_leaves_range(void **state) {
        uint64_t off = 1, len = 1;
        const uint64_t root = 48 * 1024 * 1024, verity = 2 * 1024 * 1024;   /* test-delta.sh's partitions */

        /* 4613 blocks: the leaves (37 blocks) after the superblock and the top block. */
        assert_int_equal(delta_old_leaves_range(4613, root, verity, &off, &len), 0);
        assert_true(off == 2 * 4096 && len == 37 * 4096);
        /* The whole root partition: 12288 blocks, 96 leaf blocks. */
        assert_int_equal(delta_old_leaves_range(12288, root, verity, &off, &len), 0);
        assert_true(off == 2 * 4096 && len == 96 * 4096);
        assert_int_equal(delta_old_leaves_range(12289, root, verity, &off, &len), -ERANGE);
        /* 2^40 blocks (4 PiB, 32 TiB of leaves), and the largest values: refused before any arithmetic. */
        assert_int_equal(delta_old_leaves_range(UINT64_C(1) << 40, root, verity, &off, &len), -ERANGE);
        assert_int_equal(delta_old_leaves_range(UINT64_MAX, UINT64_MAX, UINT64_MAX, &off, &len), -ERANGE);
        assert_int_equal(delta_old_leaves_range(UINT64_MAX / 4096, UINT64_MAX, verity, &off, &len), -EFBIG);
        /* The most a 64-bit size holds: 2^52 - 1 blocks, 2^57 bytes of leaves, no overflow on the way. */
        assert_int_equal(delta_old_leaves_range(UINT64_MAX / 4096, UINT64_MAX, UINT64_MAX, &off, &len), 0);
        assert_true(len == UINT64_C(1) << 57);
        /* Exactly the tree's size fits; a block less does not. */
        assert_int_equal(delta_old_leaves_range(4613, root, 39 * 4096, &off, &len), 0);
        assert_int_equal(delta_old_leaves_range(4613, root, 39 * 4096 - 1, &off, &len), -EFBIG);
        assert_int_equal(delta_old_leaves_range(4613, root, 4096, &off, &len), -EFBIG);   /* not even the upper levels */
        assert_int_equal(delta_old_leaves_range(4613, root, 0, &off, &len), -EFBIG);
        /* What delta_leaf_offset() refuses. */
        assert_int_equal(delta_old_leaves_range(0, root, verity, &off, &len), -EINVAL);
        assert_int_equal(delta_old_leaves_range(1, root, verity, &off, &len), -EOPNOTSUPP);
        assert_true(off == 2 * 4096 && len == 37 * 4096);   /* written only on success */
}

/* Reads off block boundaries go through whole blocks, which may reach past the end of what the fd
 * holds (a partition not ending on a block): only the bytes asked for must exist. */
static void test_read_at(void **state) {
        uint8_t data[5120], buf[4096];
        int fd = memfd_create("test-read-at", MFD_CLOEXEC);

        assert_true(fd >= 0);
        for (size_t i = 0; i < sizeof data; i++)
                data[i] = (uint8_t) (i * 7 + 3);
        assert_int_equal(loop_write(fd, data, sizeof data), 0);
        /* The last 512 bytes, at 4608: its block reaches 8192, the file ends at 5120. */
        assert_int_equal(delta_read_at(fd, buf, 512, 4608), 0);
        assert_memory_equal(buf, data + 4608, 512);
        /* Across the block boundary, to the last byte. */
        assert_int_equal(delta_read_at(fd, buf, 2000, 3120), 0);
        assert_memory_equal(buf, data + 3120, 2000);
        /* One byte more than the file holds. */
        assert_int_equal(delta_read_at(fd, buf, 513, 4608), -EIO);
        assert_int_equal(delta_read_at(fd, buf, 1, 5120), -EIO);
        close(fd);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_leaf_offset),
                cmocka_unit_test(test_read_at),
                cmocka_unit_test(test_old_leaves_range),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
