/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* abidectl update's state file on abide-data (writable storage, so any
 * bytes): what update_state_from_json_string() accepts writes back to JSON
 * that reads back to the same text, and a failed run recorded on it waits
 * within the backoff's bounds, and is waited for. */
#include "fuzz-util.h"

#include "basic/error.h"
#include "slot/update-state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(update_state_done) UpdateState s = {}, s2 = {};
        _cleanup_free_ char *text = fuzz_strndup(data, size), *json = NULL, *json2 = NULL;

        if (!text || update_state_from_json_string(text, &s) < 0) {
                err_clear();
                return 0;
        }
        FUZZ_ASSERT(update_state_to_json_string(&s, &json) == 0);
        FUZZ_ASSERT(update_state_from_json_string(json, &s2) == 0);
        FUZZ_ASSERT(update_state_to_json_string(&s2, &json2) == 0);
        FUZZ_ASSERT(streq(json, json2));
        /* What was read is what is written: no field lost on the way. */
        FUZZ_ASSERT(s2.last_serial == s.last_serial && s2.last_check == s.last_check && s2.failures == s.failures &&
                    s2.next_attempt == s.next_attempt && s2.have_decision == s.have_decision);
        FUZZ_ASSERT(streq_ptr(s2.verdict, s.verdict) && streq_ptr(s2.reason, s.reason) && streq_ptr(s2.version, s.version) &&
                    streq_ptr(s2.last_error, s.last_error) && streq_ptr(s2.reboot_deferred, s.reboot_deferred) &&
                    streq_ptr(s2.channel, s.channel));

        /* The next failure on top of the file's: the wait grows within its bounds, never before now. */
        uint64_t now = s.last_check, random = s.last_serial ^ s.next_attempt;
        unsigned interval = (unsigned) (s.next_attempt % (7 * 24 * 3600)) + 1;
        unsigned failures = s.failures;
        FUZZ_ASSERT(update_state_fail(&s, "fuzz", now, interval, random) == 0);
        FUZZ_ASSERT(s.failures == MIN(failures + 1, 1000000U) && s.last_error && streq(s.last_error, "fuzz"));
        uint64_t cap = interval > UPDATE_BACKOFF_MAX_SEC ? interval : UPDATE_BACKOFF_MAX_SEC;
        uint64_t wait = update_backoff_sec(s.failures, interval, random);
        FUZZ_ASSERT(wait <= cap && wait >= MIN((uint64_t) interval, cap) / 2);
        FUZZ_ASSERT(s.next_attempt >= now);
        /* The backoff just recorded is waited for, never taken for one recorded under a wrong clock. */
        uint64_t left;
        FUZZ_ASSERT(update_state_wait(&s, now, interval, &left) == (wait > 0 ? UPDATE_WAIT_BACKOFF : UPDATE_WAIT_DUE) &&
                    left == wait);
        update_state_succeed(&s);
        FUZZ_ASSERT(s.failures == 0 && !s.last_error && s.next_attempt == 0);
        return 0;
}
