/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An old slot's verity partition as a delta install reads it
 * (delta_old_leaves()): any bytes, any partition sizes, the salt the
 * install wants or another. The partition is never trusted: the read gives
 * leaves or a reason, never both; leaves only from a superblock whose blocks
 * fit the root partition and whose leaf level fits the verity partition, and
 * then exactly the partition's bytes at that place. The leaves found then go
 * into the digest map the plan matches blocks with: every digest is found,
 * at its first block (or its last, keep_last), and a digest not among them
 * is not. Input: root size in 4 KiB blocks (3 bytes), verity size in 512-byte
 * sectors (3 bytes), a flags byte (bit 0: the wanted salt is the
 * superblock's), the superblock's offset in sectors (1 byte), the
 * partition's bytes. */
#include "fuzz-util.h"

#include <sys/mman.h>

#include "basic/error.h"
#include "install/delta-plan.h"

#define VSB_SALT_SIZE 80          /* le16 at 80 in veritysetup's superblock */
#define VSB_SALT 88

static uint64_t be24(const uint8_t *p) {
        return (uint64_t) p[0] << 16 | (uint64_t) p[1] << 8 | p[2];
}

/* Where veritysetup puts the leaf level of a tree over n blocks (n >= 2): after the superblock's block
 * and every level above it, each 128 times smaller, up to one block. Its own arithmetic, not delta-tree.c's. */
static uint64_t leaf_level_offset(uint64_t n) {
        uint64_t above = 0;
        for (uint64_t blocks = (n + 127) / 128; blocks > 1;) {
                blocks = (blocks + 127) / 128;
                above += blocks;
        }
        return (1 + above) * BLOCK;
}

static void check_map(const uint8_t *leaves, uint64_t n) {
        DigestMap first = {}, last = {};
        uint8_t absent[DIGEST];

        /* At most 4096 digests: the checks below are quadratic. */
        n = MIN(n, (uint64_t) 4096);
        FUZZ_ASSERT(delta_map_build(&first, leaves, n, false) == 0);
        FUZZ_ASSERT(delta_map_build(&last, leaves, n, true) == 0);
        for (uint64_t i = 0; i < n; i++) {
                const uint8_t *d = leaves + i * DIGEST;
                uint64_t f = delta_map_find(&first, d), l = delta_map_find(&last, d);
                FUZZ_ASSERT(f >= 1 && f <= i + 1 && l >= i + 1 && l <= n);
                FUZZ_ASSERT(memcmp(leaves + (f - 1) * DIGEST, d, DIGEST) == 0);
                FUZZ_ASSERT(memcmp(leaves + (l - 1) * DIGEST, d, DIGEST) == 0);
                for (uint64_t j = 0; j < f - 1; j++)
                        FUZZ_ASSERT(memcmp(leaves + j * DIGEST, d, DIGEST) != 0);
                for (uint64_t j = l; j < n; j++)
                        FUZZ_ASSERT(memcmp(leaves + j * DIGEST, d, DIGEST) != 0);
        }
        /* A digest of 0xa5 bytes, unless it is one of them, is not found. */
        memset(absent, 0xa5, sizeof absent);
        bool present = false;
        for (uint64_t i = 0; i < n && !present; i++)
                present = memcmp(leaves + i * DIGEST, absent, DIGEST) == 0;
        if (!present) {
                FUZZ_ASSERT(delta_map_find(&first, absent) == 0);
                FUZZ_ASSERT(delta_map_find(&last, absent) == 0);
        }
        delta_map_done(&first);
        delta_map_done(&last);
        FUZZ_ASSERT(delta_map_find(&first, absent) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 8)
                return 0;
        uint64_t root_size = be24(data) * BLOCK, verity_size = be24(data + 3) * 512;
        bool same_salt = data[6] & 1;
        uint64_t offset = (uint64_t) data[7] * 512;
        const uint8_t *part = data + 8;
        size_t part_len = size - 8;

        int fd = memfd_create("fuzz-delta-tree", MFD_CLOEXEC);
        if (fd < 0)
                return 0;
        if (loop_write(fd, part, part_len) < 0) {
                close(fd);
                return 0;
        }

        VerityParams want = { .hash_algorithm = "sha256", .data_block_size = BLOCK, .hash_block_size = BLOCK };
        if (same_salt && offset + VSB_SALT <= part_len) {
                uint16_t n = (uint16_t) (part[offset + VSB_SALT_SIZE] | part[offset + VSB_SALT_SIZE + 1] << 8);
                want.salt_size = MIN((size_t) n, sizeof want.salt);
                want.salt_size = MIN(want.salt_size, part_len - offset - VSB_SALT);
                memcpy(want.salt, part + offset + VSB_SALT, want.salt_size);
        } else {
                want.salt_size = 32;
                memset(want.salt, 0x5a, want.salt_size);
        }

        OldSlot o = { .verity_fd = fd, .offset = offset, .verity_size = verity_size, .root_size = root_size };
        uint8_t *leaves = NULL;
        uint64_t n = UINT64_MAX, leaf = 0, len = 0;
        const char *why = NULL;
        delta_old_leaves(&o, &want, &leaves, &n, &why);
        if (!leaves) {
                FUZZ_ASSERT(why && *why);
                FUZZ_ASSERT(n == 0);
                /* Refused only for a reason: a superblock of the wanted salt over 2 or more blocks that fit the
                 * root partition, whose leaf level fits the verity partition and was read, gives its leaves. */
                VeritySuper s;
                if (offset + 512 <= part_len && delta_super_parse(part + offset, 512, &s) == 0 &&
                    s.salt_size == want.salt_size && memcmp(s.salt, want.salt, s.salt_size) == 0 &&
                    s.data_blocks >= 2 && s.data_blocks <= root_size / BLOCK) {
                        uint64_t at = leaf_level_offset(s.data_blocks);
                        uint64_t l = (s.data_blocks * DIGEST + BLOCK - 1) / BLOCK * BLOCK;
                        FUZZ_ASSERT(at + l > verity_size || offset + at + l > part_len);
                }
                err_clear();
        } else {
                FUZZ_ASSERT(!why);
                /* What its superblock says, within both partitions. */
                VeritySuper s;
                FUZZ_ASSERT(offset + 512 <= part_len);
                FUZZ_ASSERT(delta_super_parse(part + offset, 512, &s) == 0);
                FUZZ_ASSERT(s.data_blocks == n && n >= 1 && n <= root_size / BLOCK);
                FUZZ_ASSERT(s.salt_size == want.salt_size && memcmp(s.salt, want.salt, s.salt_size) == 0);
                FUZZ_ASSERT(delta_old_leaves_range(n, root_size, verity_size, &leaf, &len) == 0);
                FUZZ_ASSERT(leaf == leaf_level_offset(n) && len == (n * DIGEST + BLOCK - 1) / BLOCK * BLOCK);
                FUZZ_ASSERT(leaf + len <= verity_size);
                /* The partition's own bytes, where the leaf level lies. */
                FUZZ_ASSERT(offset + leaf + len <= part_len);
                FUZZ_ASSERT(memcmp(leaves, part + offset + leaf, (size_t) len) == 0);
                check_map(leaves, n);
                free(leaves);
        }
        close(fd);
        return 0;
}
