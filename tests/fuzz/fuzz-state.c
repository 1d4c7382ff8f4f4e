/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The state file on abide-data (writable storage, so any bytes): what
 * state_from_json_string() accepts writes back to JSON that reads back to
 * the same text. */
#include "fuzz-util.h"

#include "slot/state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(state_freep) AbideState *s = NULL, *s2 = NULL;
        _cleanup_free_ char *text = fuzz_strndup(data, size), *json = NULL, *json2 = NULL;

        if (!text || state_from_json_string(text, &s) < 0)
                return 0;
        FUZZ_ASSERT(state_to_json_string(s, &json) == 0);
        FUZZ_ASSERT(state_from_json_string(json, &s2) == 0);
        FUZZ_ASSERT(state_to_json_string(s2, &json2) == 0);
        FUZZ_ASSERT(streq(json, json2));
        return 0;
}
