/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "basic/macro.h"
#include "crypto/hash.h"

/*
 * SHA-256 of many messages of one length that share a prefix:
 * sha256(prefix || data + i * size) for i < n. dm-verity's leaves are that
 * (sha256(salt || block) of every 4 KiB block), and they are independent of
 * each other, so several can be computed in the lanes of one core at once.
 *
 * Where intel-ipsec-mb is installed (Debian's libipsec-mb1, x86-64; opened
 * at run time, so a build needs only its header) the messages go through
 * its multi-buffer manager: two SHA-NI lanes interleaved where the CPU has
 * SHA-NI, 8 or 16 AVX2/AVX-512 lanes where it does not. Otherwise, and
 * where the CPU has neither, OpenSSL hashes them one after another.
 * The digests are the same either way (tests/unit/test-sha256-many.c compares
 * every implementation this CPU can run against OpenSSL);
 * docs/install.md "Leaves in several lanes" has the figures.
 *
 * A Sha256Many is used by one thread at a time.
 */

typedef enum Sha256Impl {
        SHA256_IMPL_AUTO,    /* the fastest this build and CPU have, as described above */
        SHA256_IMPL_OPENSSL, /* one message after another */
        SHA256_IMPL_SHANI,   /* intel-ipsec-mb, SSE manager: two SHA-NI lanes */
        SHA256_IMPL_AVX2,    /* intel-ipsec-mb, AVX2 manager: 8 lanes */
        SHA256_IMPL_AVX512,  /* intel-ipsec-mb, AVX-512 manager: 16 lanes */
        _SHA256_IMPL_MAX,
} Sha256Impl;

typedef struct Sha256Many Sha256Many;

/*
 * prefix_size at most SHA256_MANY_PREFIX_MAX, size at least 1.
 * -EOPNOTSUPP where impl is not in this build, its library not installed or
 * the CPU without it (never for AUTO and OPENSSL).
 */
#define SHA256_MANY_PREFIX_MAX 64
int sha256_many_new(Sha256Impl impl, const void *prefix, size_t prefix_size, size_t size, Sha256Many **ret);
Sha256Many *sha256_many_free(Sha256Many *m);
/* Another Sha256Many like m (same implementation, prefix and size), for another thread. */
int sha256_many_dup(const Sha256Many *m, Sha256Many **ret);
DEFINE_TRIVIAL_CLEANUP_FUNC(Sha256Many *, sha256_many_free);

/* n digests into ret (n * SHA256_DIGEST_SIZE bytes) of the n messages of size bytes each at data. */
int sha256_many(Sha256Many *m, const uint8_t *data, uint64_t n, uint8_t *ret);

/*
 * sha256_many() of messages in memory the caller gives up: data's bytes are
 * undefined afterwards, and the SHA256_MANY_HEADROOM bytes before data are
 * written too. intel-ipsec-mb hashes one contiguous buffer a message, so
 * sha256_many() copies each message behind a copy of the prefix (a fifth
 * of the hashing's time for 4 KiB leaves, docs/install.md); this writes the
 * prefix over the end of the message before instead (sha256-many.c).
 */
#define SHA256_MANY_HEADROOM SHA256_MANY_PREFIX_MAX
int sha256_many_in_place(Sha256Many *m, uint8_t *data, uint64_t n, uint8_t *ret);

/* The implementation in use, never AUTO; and its name ("openssl", "ipsec-mb sha-ni x2", ...). */
Sha256Impl sha256_many_impl(const Sha256Many *m);
const char *sha256_impl_name(Sha256Impl impl);
