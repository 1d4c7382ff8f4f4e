/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* manifest_parse() on any bytes; what it accepts must write back to JSON
 * that parses to the same text again (the writer is deterministic). */
#include "fuzz-util.h"

#include "bundle/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(manifest_freep) Manifest *m = NULL, *m2 = NULL;
        _cleanup_free_ char *json = NULL, *json2 = NULL;
        size_t len = 0, len2 = 0;

        if (manifest_parse((const char *) data, size, &m) < 0)
                return 0;
        FUZZ_ASSERT(manifest_validate(m) == 0);
        FUZZ_ASSERT(manifest_to_json(m, &json, &len) == 0);
        FUZZ_ASSERT(manifest_parse(json, len, &m2) == 0);
        FUZZ_ASSERT(manifest_to_json(m2, &json2, &len2) == 0);
        FUZZ_ASSERT(len == len2 && memcmp(json, json2, len) == 0);
        return 0;
}
