/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "delta-plan.h"

#include <endian.h>

#include "basic/error.h"
#include "basic/fileio.h"

/*
 * The hash trees the device already has: where a veritysetup tree's levels
 * lie, its superblock, an old slot's leaf hashes (only a hint: never
 * trusted, never an error), and a map from digest to block number.
 */

#define HASHES_PER_BLOCK_BITS 7           /* 4096 / 32 = 128 digests per hash block */

int delta_tree_levels(uint64_t data_blocks, uint64_t level_block[static 16], unsigned *ret_levels) {
        unsigned levels = 0;
        uint64_t position = 1;           /* the superblock takes the first hash block */

        if (data_blocks == 0)
                return -EINVAL;
        while (HASHES_PER_BLOCK_BITS * levels < 64 && ((data_blocks - 1) >> (HASHES_PER_BLOCK_BITS * levels)))
                levels++;
        if (levels == 0)
                return -EOPNOTSUPP;
        for (int i = (int) levels - 1; i >= 0; i--) {
                unsigned shift = (unsigned) (i + 1) * HASHES_PER_BLOCK_BITS;
                if (shift > 63)
                        return -EOVERFLOW;
                level_block[i] = position;
                position += (data_blocks + ((uint64_t) 1 << shift) - 1) >> shift;
        }
        *ret_levels = levels;
        return 0;
}

int delta_leaf_offset(uint64_t data_blocks, uint64_t *ret) {
        uint64_t level_block[16];
        unsigned levels;
        int r = delta_tree_levels(data_blocks, level_block, &levels);
        if (r < 0)
                return r;
        *ret = level_block[0] * BLOCK;
        return 0;
}

int delta_super_parse(const uint8_t *b, size_t len, VeritySuper *ret) {
        uint32_t v32;
        uint64_t v64;
        uint16_t v16;

        if (len < 512 || memcmp(b, "verity\0\0", 8) != 0)
                return err_set(EBADMSG, "no verity superblock");
        memcpy(&v32, b + 8, 4);
        if (le32toh(v32) != 1)
                return err_set(EBADMSG, "verity superblock version %u", le32toh(v32));
        memcpy(&v32, b + 12, 4);
        if (le32toh(v32) != 1)
                return err_set(EBADMSG, "verity hash type %u (not 1)", le32toh(v32));
        if (strncmp((const char *) b + 32, "sha256", 32) != 0)
                return err_set(EBADMSG, "verity hash algorithm is not sha256");
        memcpy(&v32, b + 64, 4);
        uint32_t dbs = le32toh(v32);
        memcpy(&v32, b + 68, 4);
        if (dbs != BLOCK || le32toh(v32) != BLOCK)
                return err_set(EBADMSG, "verity block sizes %u/%u (not 4096)", dbs, le32toh(v32));
        memcpy(&v64, b + 72, 8);
        memcpy(&v16, b + 80, 2);
        ret->data_blocks = le64toh(v64);
        ret->salt_size = le16toh(v16);
        if (ret->salt_size > sizeof ret->salt)
                return err_set(EBADMSG, "verity salt of %u bytes", ret->salt_size);
        memcpy(ret->salt, b + 88, ret->salt_size);
        return 0;
}

/*
 * Reads [offset, offset + n): fd may be O_DIRECT. Straight into buf where buf, offset and n are block
 * aligned; else through an aligned bounce buffer of whole blocks, which may reach past the end of the
 * device (a partition that does not start or end on a block): only the bytes asked for must be there.
 */
int delta_read_at(int fd, void *buf, size_t n, uint64_t offset) {
        if ((uintptr_t) buf % BLOCK == 0 && offset % BLOCK == 0 && n % BLOCK == 0)
                return pread_exact(fd, buf, n, offset);
        uint64_t start = offset / BLOCK * BLOCK, end = (offset + n + BLOCK - 1) / BLOCK * BLOCK;
        _cleanup_free_ uint8_t *b = NULL;
        if (posix_memalign((void **) &b, BLOCK, (size_t) (end - start)) != 0)
                return -ENOMEM;
        ssize_t k = pread_full(fd, b, (size_t) (end - start), start);
        if (k < 0)
                return (int) k;
        if ((uint64_t) k < offset - start + n)
                return -EIO;
        memcpy(buf, b + (offset - start), n);
        return 0;
}

int delta_old_leaves_range(uint64_t data_blocks, uint64_t root_size, uint64_t verity_size, uint64_t *ret_offset,
                           uint64_t *ret_len) {
        uint64_t leaf;

        /* First: it bounds data_blocks (below 2^52), so nothing after it overflows. */
        if (data_blocks > root_size / BLOCK)
                return -ERANGE;
        int r = delta_leaf_offset(data_blocks, &leaf);
        if (r < 0)
                return r;
        /* Whole hash blocks (the last one zero-padded, as dm-verity writes it: they are matched as blocks too);
         * the leaves are the tree's last level. */
        uint64_t len = (data_blocks * DIGEST + BLOCK - 1) / BLOCK * BLOCK;
        if (leaf > verity_size || len > verity_size - leaf)
                return -EFBIG;
        *ret_offset = leaf;
        *ret_len = len;
        return 0;
}

/*
 * The leaf hashes of an old slot's tree (its own superblock says how many blocks), or why not. They are
 * only a hint, and the superblock is whatever the partition holds: a tree that cannot be read, held or
 * placed within the slot's partitions is not used, never an error of the install.
 */
void delta_old_leaves(const OldSlot *o, const VerityParams *want, uint8_t **ret, uint64_t *ret_n, const char **why) {
        uint8_t sb[512];
        VeritySuper s;
        uint64_t leaf, len;

        *ret = NULL;
        *ret_n = 0;
        if (delta_read_at(o->verity_fd, sb, sizeof sb, o->offset) < 0) {
                err_clear();
                *why = "its verity partition cannot be read";
                return;
        }
        if (delta_super_parse(sb, sizeof sb, &s) < 0) {
                err_clear();
                *why = "no valid verity superblock (empty or interrupted)";
                return;
        }
        if (s.salt_size != want->salt_size || memcmp(s.salt, want->salt, s.salt_size) != 0) {
                *why = "another verity salt (built before salts were per Compatible=, or another product)";
                return;
        }
        switch (delta_old_leaves_range(s.data_blocks, o->root_size, o->verity_size, &leaf, &len)) {
        case 0:
                break;
        case -ERANGE:
                *why = "its verity superblock covers more blocks than its root partition holds";
                return;
        case -EFBIG:
                *why = "its verity superblock's tree does not fit its verity partition";
                return;
        default:
                *why = "a tree without levels";
                return;
        }
        /* Aligned: delta_read_at() reads straight into it, without a bounce buffer as large. */
        _cleanup_free_ uint8_t *l = NULL;
        if (len > SIZE_MAX || posix_memalign((void **) &l, BLOCK, (size_t) len) != 0) {
                *why = "its hash tree cannot be held in memory";
                return;
        }
        if (delta_read_at(o->verity_fd, l, (size_t) len, o->offset + leaf) < 0) {
                err_clear();
                *why = "its hash tree cannot be read";
                return;
        }
        *ret = TAKE_PTR(l);
        *ret_n = s.data_blocks;
        *why = NULL;
}

static uint64_t digest_key(const uint8_t *d) {
        uint64_t k;
        memcpy(&k, d, sizeof k);
        return k;
}

int delta_map_build(DigestMap *m, const uint8_t *digests, uint64_t n, bool keep_last) {
        uint64_t cap = 1;
        while (cap < n * 2)
                cap <<= 1;
        m->slots = calloc(cap, sizeof *m->slots);
        if (!m->slots)
                return -ENOMEM;
        m->mask = cap - 1;
        m->digests = digests;
        for (uint64_t j = 0; j < n; j++) {
                const uint8_t *d = digests + j * DIGEST;
                for (uint64_t s = digest_key(d) & m->mask;; s = (s + 1) & m->mask) {
                        if (m->slots[s] == 0) {
                                m->slots[s] = j + 1;
                                break;
                        }
                        if (memcmp(digests + (m->slots[s] - 1) * DIGEST, d, DIGEST) == 0) {
                                if (keep_last)
                                        m->slots[s] = j + 1;
                                break;
                        }
                }
        }
        return 0;
}

uint64_t delta_map_find(const DigestMap *m, const uint8_t *d) {
        if (!m->slots)
                return 0;
        for (uint64_t s = digest_key(d) & m->mask;; s = (s + 1) & m->mask) {
                if (m->slots[s] == 0)
                        return 0;
                if (memcmp(m->digests + (m->slots[s] - 1) * DIGEST, d, DIGEST) == 0)
                        return m->slots[s];
        }
}

void delta_map_done(DigestMap *m) {
        free(m->slots);
        m->slots = NULL;
}
