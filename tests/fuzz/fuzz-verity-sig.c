/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* verity_sig_parse() on any bytes (the partition's content, NUL padded);
 * what it accepts formats back to JSON that parses to the same values. */
#include "fuzz-util.h"

#include "crypto/verity-sig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(verity_sig_done) VeritySig s = {}, s2 = {};
        _cleanup_free_ char *buf = NULL;
        size_t n = 0;

        if (verity_sig_parse((const char *) data, size, &s) < 0)
                return 0;
        FUZZ_ASSERT(verity_sig_format(&s, &buf, &n) == 0);
        FUZZ_ASSERT(verity_sig_parse(buf, n, &s2) == 0);
        FUZZ_ASSERT(streq(s.root_hash, s2.root_hash));
        FUZZ_ASSERT(streq(s.fingerprint, s2.fingerprint));
        FUZZ_ASSERT(s.signature_size == s2.signature_size &&
                    memcmp(s.signature, s2.signature, s.signature_size) == 0);
        return 0;
}
