/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "verity/verity-tree.h"

#include <ctype.h>
#include <endian.h>
#include <inttypes.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "crypto/sha256-many.h"

#define BLOCK VERITY_BLOCK_SIZE
#define HASHES_PER_BLOCK (BLOCK / SHA256_DIGEST_SIZE)
#define HASHES_PER_BLOCK_BITS 7
#define LEVELS_MAX 16

struct VerityLeafHasher {
        Sha256Many *m;
};

VerityLeafHasher *verity_leaf_hasher_free(VerityLeafHasher *h) {
        if (!h)
                return NULL;
        sha256_many_free(h->m);
        free(h);
        return NULL;
}

int verity_leaf_hasher_new(const VerityParams *p, VerityLeafHasher **ret) {
        _cleanup_(verity_leaf_hasher_freep) VerityLeafHasher *h = calloc(1, sizeof *h);
        if (!h)
                return -ENOMEM;
        if (p->salt_size > VERITY_SALT_SIZE)
                return -EINVAL;
        /* The leaves are independent of each other: several at once where the CPU has the lanes. */
        int r = sha256_many_new(SHA256_IMPL_AUTO, p->salt, p->salt_size, BLOCK, &h->m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(h);
        return 0;
}

int verity_leaf_hasher_dup(const VerityLeafHasher *h, VerityLeafHasher **ret) {
        _cleanup_(verity_leaf_hasher_freep) VerityLeafHasher *d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        int r = sha256_many_dup(h->m, &d->m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(d);
        return 0;
}

int verity_leaf_hash(VerityLeafHasher *h, const uint8_t *blocks, uint64_t n, uint8_t *ret) {
        return sha256_many(h->m, blocks, n, ret);
}

int verity_leaf_hash_in_place(VerityLeafHasher *h, uint8_t *blocks, uint64_t n, uint8_t *ret) {
        return sha256_many_in_place(h->m, blocks, n, ret);
}

/* veritysetup's layout: the superblock takes hash block 0, then the levels from the top one down to the leaves. */
static int tree_levels(uint64_t data_blocks, uint64_t first[static LEVELS_MAX], uint64_t count[static LEVELS_MAX],
                       unsigned *ret_levels, uint64_t *ret_blocks) {
        unsigned levels = 0;
        uint64_t position = 1;

        while (levels < LEVELS_MAX && ((data_blocks - 1) >> (HASHES_PER_BLOCK_BITS * levels)))
                levels++;
        if (levels == 0 || levels >= LEVELS_MAX)
                return -EOPNOTSUPP;
        for (int i = (int) levels - 1; i >= 0; i--) {
                unsigned shift = (unsigned) (i + 1) * HASHES_PER_BLOCK_BITS;
                first[i] = position;
                count[i] = shift > 63 ? 1 : (data_blocks + ((uint64_t) 1 << shift) - 1) >> shift;
                position += count[i];
        }
        *ret_levels = levels;
        *ret_blocks = position;
        return 0;
}

/* The tree of p, where this file can check or build it: its levels' places and sizes. */
static int tree_layout(const VerityParams *p, uint64_t first[static LEVELS_MAX], uint64_t count[static LEVELS_MAX],
                       unsigned *ret_levels, uint64_t *ret_blocks) {
        if (!streq(p->hash_algorithm, "sha256") || p->data_block_size != BLOCK || p->hash_block_size != BLOCK ||
            p->data_blocks == 0 || p->salt_size > VERITY_SALT_SIZE)
                return -EOPNOTSUPP;
        return tree_levels(p->data_blocks, first, count, ret_levels, ret_blocks);
}

int verity_tree_supported(const VerityParams *p) {
        uint64_t first[LEVELS_MAX], count[LEVELS_MAX], blocks;
        unsigned levels;

        return tree_layout(p, first, count, &levels, &blocks);
}

/* The UUID's 16 bytes from its text form ("0123abcd-...", dashes where they fall). */
static bool uuid_bytes(const char *text, uint8_t ret[16]) {
        for (size_t i = 0, j = 0; i < 16; i++) {
                if (text[j] == '-')
                        j++;
                unsigned x;
                if (!isxdigit((unsigned char) text[j]) || !isxdigit((unsigned char) text[j + 1]) ||
                    sscanf(text + j, "%2x", &x) != 1)
                        return false;
                ret[i] = (uint8_t) x;
                j += 2;
        }
        return true;
}

/* The superblock as veritysetup writes it (format 1, little endian), compared field by field with p. */
static int super_check(const VerityParams *p, const uint8_t *b) {
        uint8_t uuid[16];
        uint32_t v32;
        uint64_t v64;
        uint16_t v16;

        if (memcmp(b, "verity\0\0", 8) != 0)
                return err_set(EBADMSG, "verity: no superblock");
        memcpy(&v32, b + 8, 4);
        bool ok = le32toh(v32) == 1;
        memcpy(&v32, b + 12, 4);
        ok = ok && le32toh(v32) == 1;
        ok = ok && uuid_bytes(p->uuid, uuid) && memcmp(b + 16, uuid, 16) == 0;
        ok = ok && strncmp((const char *) b + 32, p->hash_algorithm, 32) == 0;
        memcpy(&v32, b + 64, 4);
        ok = ok && le32toh(v32) == p->data_block_size;
        memcpy(&v32, b + 68, 4);
        ok = ok && le32toh(v32) == p->hash_block_size;
        memcpy(&v64, b + 72, 8);
        ok = ok && le64toh(v64) == p->data_blocks;
        memcpy(&v16, b + 80, 2);
        ok = ok && le16toh(v16) == p->salt_size && memcmp(b + 88, p->salt, p->salt_size) == 0;
        if (!ok)
                return err_set(EBADMSG, "verity: the superblock does not match the manifest's verity parameters");
        return 0;
}

int verity_tree_check(const VerityParams *p, const uint8_t *tree, size_t len, const uint8_t *leaves) {
        _cleanup_(verity_leaf_hasher_freep) VerityLeafHasher *h = NULL;
        uint64_t first[LEVELS_MAX], count[LEVELS_MAX], blocks;
        _cleanup_free_ uint8_t *root = NULL;
        size_t root_size = 0;
        unsigned levels;
        int r;

        r = tree_layout(p, first, count, &levels, &blocks);
        if (r < 0)
                return r;
        if (blocks > len / BLOCK)
                return err_set(EBADMSG, "verity: the hash device holds %zu bytes, the tree needs %" PRIu64, len,
                               blocks * BLOCK);
        r = hex_decode(p->root_hash, strlen(p->root_hash), &root, &root_size);
        if (r < 0 || root_size != SHA256_DIGEST_SIZE)
                return err_set(EINVAL, "verity: root hash '%s' is not a sha256 digest", p->root_hash);
        r = super_check(p, tree);
        if (r < 0)
                return r;
        r = verity_leaf_hasher_new(p, &h);
        if (r < 0)
                return r;

        /* Leaves: the level-0 entries are the digests of the data as read; the rest of its last block is zero. */
        const uint8_t *l0 = tree + first[0] * BLOCK;
        if (memcmp(l0, leaves, p->data_blocks * SHA256_DIGEST_SIZE) != 0) {
                uint64_t i = 0;
                while (memcmp(l0 + i * SHA256_DIGEST_SIZE, leaves + i * SHA256_DIGEST_SIZE, SHA256_DIGEST_SIZE) == 0)
                        i++;
                return err_set(EBADMSG, "verity: data block %" PRIu64 " does not match its leaf hash", i);
        }
        /* Every hash block hashes to its entry one level up; the top one to the root hash. Padding
         * (the ends of each level's last block) is covered by those digests. */
        for (unsigned lv = 0; lv < levels; lv++) {
                const uint8_t *blk = tree + first[lv] * BLOCK;
                const uint8_t *up = lv + 1 < levels ? tree + first[lv + 1] * BLOCK : root;
                _cleanup_free_ uint8_t *digests = malloc((size_t) count[lv] * SHA256_DIGEST_SIZE);
                if (!digests)
                        return -ENOMEM;
                r = verity_leaf_hash(h, blk, count[lv], digests);
                if (r < 0)
                        return r;
                for (uint64_t i = 0; i < count[lv]; i++)
                        if (memcmp(digests + i * SHA256_DIGEST_SIZE, up + i * SHA256_DIGEST_SIZE, SHA256_DIGEST_SIZE) != 0)
                                return err_set(EBADMSG, lv + 1 < levels ?
                                               "verity: hash block %" PRIu64 " of level %u does not match its digest one level up" :
                                               "verity: hash block %" PRIu64 " of level %u does not match the root hash",
                                               i, lv);
        }
        return 0;
}

/* veritysetup's superblock (struct verity_sb in cryptsetup's lib/verity/verity.c), what super_check() reads. */
static int super_write(const VerityParams *p, uint8_t *b) {
        uint8_t uuid[16];
        uint32_t v32;
        uint64_t v64;
        uint16_t v16;

        if (!uuid_bytes(p->uuid, uuid))
                return err_set(EINVAL, "verity: UUID '%s' is not valid", p->uuid);
        memcpy(b, "verity\0\0", 8);
        v32 = htole32(1); /* version */
        memcpy(b + 8, &v32, 4);
        v32 = htole32(1); /* hash type: format 1 */
        memcpy(b + 12, &v32, 4);
        memcpy(b + 16, uuid, 16);
        memcpy(b + 32, p->hash_algorithm, strnlen(p->hash_algorithm, sizeof p->hash_algorithm));
        v32 = htole32(p->data_block_size);
        memcpy(b + 64, &v32, 4);
        v32 = htole32(p->hash_block_size);
        memcpy(b + 68, &v32, 4);
        v64 = htole64(p->data_blocks);
        memcpy(b + 72, &v64, 8);
        v16 = htole16((uint16_t) p->salt_size);
        memcpy(b + 80, &v16, 2);
        memcpy(b + 88, p->salt, p->salt_size);
        return 0;
}

int verity_tree_build(const VerityParams *p, const uint8_t *leaves, uint8_t **ret_tree, size_t *ret_len,
                      uint8_t ret_root[SHA256_DIGEST_SIZE]) {
        _cleanup_(verity_leaf_hasher_freep) VerityLeafHasher *h = NULL;
        uint64_t first[LEVELS_MAX], count[LEVELS_MAX], blocks;
        unsigned levels;
        int r;

        r = tree_layout(p, first, count, &levels, &blocks);
        if (r < 0)
                return r;
        if (blocks > SIZE_MAX / BLOCK)
                return -EFBIG;
        _cleanup_free_ uint8_t *tree = calloc((size_t) blocks, BLOCK);
        if (!tree)
                return -ENOMEM;
        r = super_write(p, tree);
        if (r < 0)
                return r;
        r = verity_leaf_hasher_new(p, &h);
        if (r < 0)
                return r;

        /* Level 0 holds the leaves; each level's blocks are hashed into the next, the top one's into the root. */
        memcpy(tree + first[0] * BLOCK, leaves, p->data_blocks * SHA256_DIGEST_SIZE);
        for (unsigned lv = 0; lv < levels; lv++) {
                /* The top level is one block, its digest the root. */
                uint8_t *out = lv + 1 < levels ? tree + first[lv + 1] * BLOCK : ret_root;
                r = verity_leaf_hash(h, tree + first[lv] * BLOCK, count[lv], out);
                if (r < 0)
                        return r;
        }
        *ret_len = (size_t) blocks * BLOCK;
        *ret_tree = TAKE_PTR(tree);
        return 0;
}
