/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sha256_many() and sha256_many_in_place(): every implementation this build
 * and CPU have (intel-ipsec-mb's lanes where installed) gives OpenSSL's
 * digest of prefix || message for any prefix, message size and count the
 * input picks, the messages its bytes; in place, on a copy with its head
 * room, nothing outside the head room's last prefix bytes and the messages
 * changes. */
#include "fuzz-util.h"

#include "crypto/hash.h"
#include "crypto/sha256-many.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size < 3)
                return 0;
        size_t prefix_size = data[0] % (SHA256_MANY_PREFIX_MAX + 1);
        size_t msg = (size_t) data[1] % 200 + 1;
        data += 2;
        size -= 2;
        if (size < prefix_size)
                return 0;
        const uint8_t *prefix = data;
        data += prefix_size;
        size -= prefix_size;
        uint64_t n = size / msg;

        _cleanup_free_ uint8_t *want = malloc(n * SHA256_DIGEST_SIZE + 1), *got = malloc(n * SHA256_DIGEST_SIZE + 1);
        _cleanup_free_ uint8_t *one = malloc(prefix_size + msg);
        size_t room = SHA256_MANY_HEADROOM, len = room + n * msg + 1;
        _cleanup_free_ uint8_t *copy = malloc(len);
        FUZZ_ASSERT(want && got && one && copy);
        for (uint64_t i = 0; i < n; i++) {
                memcpy(one, prefix, prefix_size);
                memcpy(one + prefix_size, data + i * msg, msg);
                FUZZ_ASSERT(sha256_buf(one, prefix_size + msg, want + i * SHA256_DIGEST_SIZE) == 0);
        }
        for (Sha256Impl impl = SHA256_IMPL_AUTO; impl < _SHA256_IMPL_MAX; impl++) {
                _cleanup_(sha256_many_freep) Sha256Many *m = NULL;
                int r = sha256_many_new(impl, prefix, prefix_size, msg, &m);
                if (r == -EOPNOTSUPP)
                        continue;
                FUZZ_ASSERT(r == 0);
                FUZZ_ASSERT(sha256_many(m, data, n, got) == 0);
                FUZZ_ASSERT(memcmp(got, want, n * SHA256_DIGEST_SIZE) == 0);

                memset(copy, 0xa5, len);
                memcpy(copy + room, data, n * msg);
                memset(got, 0, n * SHA256_DIGEST_SIZE);
                FUZZ_ASSERT(sha256_many_in_place(m, copy + room, n, got) == 0);
                FUZZ_ASSERT(memcmp(got, want, n * SHA256_DIGEST_SIZE) == 0);
                for (size_t i = 0; i < room - prefix_size; i++)
                        FUZZ_ASSERT(copy[i] == 0xa5);
                FUZZ_ASSERT(copy[len - 1] == 0xa5);
        }
        return 0;
}
