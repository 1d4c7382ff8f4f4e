/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "crypto/hash.h"
#include "crypto/sha256-many.h"
#include "verity/verity.h"

/*
 * dm-verity's hash tree checked in userspace from leaf digests, so that an
 * install can hash each data block when it reads it back (while later
 * blocks are still being written) and prove the slot later against the
 * signed root hash, without a second pass over the data. The layout is
 * veritysetup's format 1 with superblock, sha256, 4096-byte blocks, which is
 * all abide writes; anything else is -EOPNOTSUPP, and callers fall back to
 * verity_verify().
 */

typedef struct VerityLeafHasher VerityLeafHasher;

/* With the fastest SHA-256 this build and CPU have (crypto/sha256-many.h); one thread at a time. */
int verity_leaf_hasher_new(const VerityParams *p, VerityLeafHasher **ret);
VerityLeafHasher *verity_leaf_hasher_free(VerityLeafHasher *h);
/* Another hasher like h, for another thread (a hasher is used by one thread at a time). */
int verity_leaf_hasher_dup(const VerityLeafHasher *h, VerityLeafHasher **ret);
DEFINE_TRIVIAL_CLEANUP_FUNC(VerityLeafHasher *, verity_leaf_hasher_free);

/* Leaf digests of n whole data blocks into ret (n * SHA256_DIGEST_SIZE bytes): sha256(salt || block). */
int verity_leaf_hash(VerityLeafHasher *h, const uint8_t *blocks, uint64_t n, uint8_t *ret);
/* The same, of blocks the caller gives up: see sha256_many_in_place(), the salt is the prefix. */
#define VERITY_LEAF_HEADROOM SHA256_MANY_HEADROOM
int verity_leaf_hash_in_place(VerityLeafHasher *h, uint8_t *blocks, uint64_t n, uint8_t *ret);

/* Whether p describes a tree verity_tree_check() can check. */
int verity_tree_supported(const VerityParams *p);

/*
 * Checks the hash device image tree (len bytes, superblock first) against p:
 * superblock fields, every hash block up to p->root_hash, and the leaf
 * level equal to leaves (p->data_blocks digests of the data as read).
 * -EBADMSG with a message naming the first data block or level that differs.
 */
int verity_tree_check(const VerityParams *p, const uint8_t *tree, size_t len, const uint8_t *leaves);

/*
 * Builds the hash device image for p (superblock with p's UUID and salt,
 * then the levels, top first, as veritysetup lays them out) from the leaf
 * digests of p->data_blocks data blocks. Returns the image (*ret_len bytes,
 * freed by the caller) and the root digest. -EOPNOTSUPP where
 * verity_tree_supported() says no.
 */
int verity_tree_build(const VerityParams *p, const uint8_t *leaves, uint8_t **ret_tree, size_t *ret_len,
                      uint8_t ret_root[SHA256_DIGEST_SIZE]);
