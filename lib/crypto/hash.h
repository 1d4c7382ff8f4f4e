/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "basic/macro.h"

#define SHA256_DIGEST_SIZE 32
#define SHA256_HEX_SIZE (SHA256_DIGEST_SIZE * 2 + 1)

/* Incremental SHA-256 (OpenSSL EVP underneath). */
typedef struct Sha256 Sha256;

int sha256_new(Sha256 **ret);
int sha256_update(Sha256 *h, const void *data, size_t n);
/* Starts over, as after sha256_new(): one context for many small digests. */
int sha256_reset(Sha256 *h);
/* Writes the digest; the context may not be updated afterwards. */
int sha256_final(Sha256 *h, uint8_t ret[SHA256_DIGEST_SIZE]);
Sha256 *sha256_free(Sha256 *h);
DEFINE_TRIVIAL_CLEANUP_FUNC(Sha256 *, sha256_free);

int sha256_buf(const void *data, size_t n, uint8_t ret[SHA256_DIGEST_SIZE]);
/* Hashes a whole file; ret_size (may be NULL) gets its length. */
int sha256_file(const char *path, uint8_t ret[SHA256_DIGEST_SIZE], uint64_t *ret_size);
