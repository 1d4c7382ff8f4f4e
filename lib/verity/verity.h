/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "crypto/hash.h"

#define VERITY_BLOCK_SIZE 4096
#define VERITY_SALT_SIZE 32

/* dm-verity parameters as veritysetup's superblock (format 1) records them. */
typedef struct VerityParams {
        char hash_algorithm[16];          /* "sha256" */
        uint32_t data_block_size;
        uint32_t hash_block_size;
        uint64_t data_blocks;
        uint8_t salt[VERITY_SALT_SIZE];
        size_t salt_size;
        char uuid[37];                    /* lowercase, with dashes */
        char root_hash[SHA256_HEX_SIZE];  /* lowercase hex */
} VerityParams;

/* Fills algorithm, block sizes, salt and UUID deterministically from the
 * image's SHA-256, so the same image gives the same verity output. */
void verity_params_derive(const uint8_t image_sha256[SHA256_DIGEST_SIZE], VerityParams *ret);

/* Sets the salt from a name that stays the same across releases (the image's
 * Compatible=), not from the image: identical blocks of two releases then
 * have identical leaf hashes, which is what delta installs match on
 * (docs/delta.md). The salt still differs between product lines. */
int verity_params_set_salt_for(VerityParams *p, const char *name);

/* Writes the hash tree (with superblock, veritysetup format) for data_path
 * into hash_path (created or truncated), using params' algorithm, block
 * sizes, salt and UUID. data_path's size must be a multiple of the data
 * block size. Fills params->data_blocks and params->root_hash. */
int verity_format(const char *data_path, const char *hash_path, VerityParams *params);

/* verity_format() with the UUID verity_params_derive() gives for the data's
 * SHA-256, in one pass over the data: the digest (into ret_sha256) on a
 * second thread while the leaves are hashed, then the tree built from them
 * with that UUID (verity_tree_build()). params->uuid is not read. Same bytes
 * as verity_params_derive()'s UUID followed by verity_format(). Returns 1
 * when built that way, 0 when libcryptsetup built it (a block device, or a
 * tree verity_tree_build() does not make), the digest still beside it. */
int verity_format_derive_uuid(const char *data_path, const char *hash_path, VerityParams *params,
                              uint8_t ret_sha256[SHA256_DIGEST_SIZE]);

/* Checks every data and hash block of data_path against hash_path in
 * userspace (no device-mapper needed), as `veritysetup verify` does. The
 * hash file's superblock must match params (algorithm, block sizes, data
 * blocks, salt, UUID) and the tree must lead to params->root_hash.
 * Returns -EBADMSG on a corrupt data or hash block. */
int verity_verify(const char *data_path, const char *hash_path, const VerityParams *params);
