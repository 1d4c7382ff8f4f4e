/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "basic/error.h"
#include "slot/update-state.h"

static void test_round_trip(void **state) {
        UpdateState s = {}, t = {};
        char *text = NULL;

        s.last_serial = 42;
        s.last_check = 1763852600;
        assert_int_equal(update_state_set_decision(&s, "not-in-rollout", "bucket 7342 >= 2500", "2.0"), 0);
        assert_int_equal(update_state_fail(&s, "HTTP 500", 1000, 600, 7), 0);
        s.reboot_deferred = strdup("2.0");
        assert_int_equal(update_state_to_json_string(&s, &text), 0);
        assert_int_equal(update_state_from_json_string(text, &t), 0);
        assert_int_equal(t.last_serial, 42);
        assert_int_equal(t.last_check, 1763852600);
        assert_true(t.have_decision);
        assert_string_equal(t.verdict, "not-in-rollout");
        assert_string_equal(t.reason, "bucket 7342 >= 2500");
        assert_string_equal(t.version, "2.0");
        assert_int_equal(t.failures, 1);
        assert_string_equal(t.last_error, "HTTP 500");
        assert_int_equal(t.next_attempt, s.next_attempt);
        assert_string_equal(t.reboot_deferred, "2.0");
        free(text);
        update_state_done(&t);

        /* A success clears the failures and the backoff, keeps the rest. */
        update_state_succeed(&s);
        assert_int_equal(s.failures, 0);
        assert_int_equal(s.next_attempt, 0);
        assert_null(s.last_error);
        assert_int_equal(update_state_to_json_string(&s, &text), 0);
        assert_int_equal(update_state_from_json_string(text, &t), 0);
        assert_int_equal(t.failures, 0);
        assert_null(t.last_error);
        assert_int_equal(t.last_serial, 42);
        free(text);
        update_state_done(&t);
        update_state_done(&s);

        /* Nothing recorded yet: an empty state. */
        assert_int_equal(update_state_to_json_string(&s, &text), 0);
        assert_int_equal(update_state_from_json_string(text, &t), 0);
        assert_false(t.have_decision);
        assert_int_equal(t.last_serial, 0);
        free(text);
        update_state_done(&t);

        /* A decision without a reason (a file written by hand) is written back without one, not with "". */
        assert_int_equal(update_state_from_json_string("{\"format\": 1, \"last_decision\": {\"verdict\": \"install\"}}", &s), 0);
        assert_null(s.reason);
        assert_int_equal(update_state_to_json_string(&s, &text), 0);
        assert_int_equal(update_state_from_json_string(text, &t), 0);
        assert_true(t.have_decision);
        assert_string_equal(t.verdict, "install");
        assert_null(t.reason);
        free(text);
        update_state_done(&t);
        update_state_done(&s);
}

static void test_bad_input(void **state) {
        static const char *const bad[] = {
                "",
                "[]",
                "{\"format\": 2}",
                "{}",
                "{\"format\": 1, \"last_serial\": -1}",
                "{\"format\": 1, \"last_serial\": \"7\"}",
                "{\"format\": 1, \"failures\": 1.5}",
                "{\"format\": 1, \"last_decision\": {\"reason\": \"x\"}}",
                "{\"format\": 1, \"last_decision\": []}",
                "{\"format\": 1, \"last_error\": 3}",
                "{\"format\": 1, \"last_serial\": 7",
        };
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                UpdateState s = {};
                assert_int_equal(update_state_from_json_string(bad[i], &s), -EBADMSG);
                err_clear();
        }
}

static void test_backoff(void **state) {
        /* The first failure waits one interval (jittered into [interval / 2, interval]), each next one twice as long. */
        assert_int_equal(update_backoff_sec(1, 600, 0), 300);
        assert_int_equal(update_backoff_sec(1, 600, 300), 600);
        assert_int_equal(update_backoff_sec(1, 600, 301), 300);
        assert_int_equal(update_backoff_sec(2, 600, 600), 1200);
        assert_int_equal(update_backoff_sec(3, 600, 1200), 2400);
        /* Capped at 24 h, or the interval when that is longer. */
        assert_int_equal(update_backoff_sec(1000, 600, UINT64_MAX), UPDATE_BACKOFF_MAX_SEC / 2 + UINT64_MAX % (UPDATE_BACKOFF_MAX_SEC / 2 + 1));
        for (uint64_t r = 0; r < 100000; r += 997) {
                uint64_t d = update_backoff_sec(40, 600, r * 0x9e3779b97f4a7c15ULL);
                assert_true(d >= UPDATE_BACKOFF_MAX_SEC / 2 && d <= UPDATE_BACKOFF_MAX_SEC);
        }
        assert_int_equal(update_backoff_sec(5, 3 * 86400, 3 * 86400 / 2), 3 * 86400);
        /* Failures add up; the next attempt follows from the count. */
        UpdateState s = {};
        assert_int_equal(update_state_fail(&s, "a", 1000, 60, 30), 0);
        assert_int_equal(s.failures, 1);
        assert_int_equal(s.next_attempt, 1000 + 60);
        assert_int_equal(update_state_fail(&s, "b", 2000, 60, 60), 0);
        assert_int_equal(s.failures, 2);
        assert_int_equal(s.next_attempt, 2000 + 120);
        assert_string_equal(s.last_error, "b");
        update_state_done(&s);
}

static void test_wait(void **state) {
        const uint64_t now = 1800000000;
        uint64_t wait = 1;

        /* Never failed, or the backoff is over: due. */
        UpdateState s = { .last_check = now - 10 };
        assert_int_equal(update_state_wait(&s, now, 600, &wait), UPDATE_WAIT_DUE);
        assert_int_equal(wait, 0);
        s.next_attempt = now;
        assert_int_equal(update_state_wait(&s, now, 600, &wait), UPDATE_WAIT_DUE);

        /* Within the backoff, up to the longest one (24 h, or the interval when longer). */
        s.next_attempt = now + 1;
        assert_int_equal(update_state_wait(&s, now, 600, &wait), UPDATE_WAIT_BACKOFF);
        assert_int_equal(wait, 1);
        s.next_attempt = now + UPDATE_BACKOFF_MAX_SEC;
        assert_int_equal(update_state_wait(&s, now, 600, &wait), UPDATE_WAIT_BACKOFF);
        assert_int_equal(wait, UPDATE_BACKOFF_MAX_SEC);
        s.next_attempt = now + 3 * 86400;
        assert_int_equal(update_state_wait(&s, now, 3 * 86400, &wait), UPDATE_WAIT_BACKOFF);

        /* A failure under a clock set to 2040, the clock corrected since: further ahead than any backoff, ignored. */
        s.next_attempt = now + UPDATE_BACKOFF_MAX_SEC + 1;
        assert_int_equal(update_state_wait(&s, now, 600, &wait), UPDATE_WAIT_CLOCK_AHEAD);
        assert_int_equal(wait, UPDATE_BACKOFF_MAX_SEC + 1);
        s.next_attempt = 2208991359;
        assert_int_equal(update_state_wait(&s, now, 600, &wait), UPDATE_WAIT_CLOCK_AHEAD);
        s.next_attempt = now + 3 * 86400 + 1;
        assert_int_equal(update_state_wait(&s, now, 3 * 86400, &wait), UPDATE_WAIT_CLOCK_AHEAD);

        /* The clock went back since the last check: within the longest backoff too, ignored. */
        s.last_check = now + 1;
        s.next_attempt = now + 300;
        assert_int_equal(update_state_wait(&s, now, 600, &wait), UPDATE_WAIT_CLOCK_BACK);
        assert_int_equal(wait, 300);
        s.last_check = 2208988800;
        s.next_attempt = 2208991359;
        assert_int_equal(update_state_wait(&s, now, 600, &wait), UPDATE_WAIT_CLOCK_BACK);
        /* ... unless the backoff is over anyway. */
        s.next_attempt = now - 1;
        assert_int_equal(update_state_wait(&s, now, 600, &wait), UPDATE_WAIT_DUE);

        /* What update_state_fail() records is waited for, whatever the jitter and the count. */
        for (unsigned n = 1; n < 40; n++) {
                UpdateState f = { .failures = n - 1 };
                assert_int_equal(update_state_fail(&f, "x", now, 600, UINT64_MAX - n), 0);
                f.last_check = now;
                assert_int_equal(update_state_wait(&f, now, 600, &wait), UPDATE_WAIT_BACKOFF);
                update_state_done(&f);
        }
}

static void test_channel_floor(void **state) {
        UpdateState s = {}, t = {};
        char *text = NULL;

        /* A state from before the channel was recorded keeps its floor. */
        s.last_serial = 120;
        update_state_use_channel(&s, "https://u/edge/channel.json");
        assert_int_equal(s.last_serial, 120);
        assert_int_equal(update_state_accept(&s, "https://u/edge/channel.json", 121), 0);
        assert_string_equal(s.channel, "https://u/edge/channel.json");
        assert_int_equal(s.last_serial, 121);
        /* Never falls; the same channel keeps it. */
        assert_int_equal(update_state_accept(&s, "https://u/edge/channel.json", 7), 0);
        assert_int_equal(s.last_serial, 121);
        update_state_use_channel(&s, "https://u/edge/channel.json");
        assert_int_equal(s.last_serial, 121);

        assert_int_equal(update_state_to_json_string(&s, &text), 0);
        assert_int_equal(update_state_from_json_string(text, &t), 0);
        assert_string_equal(t.channel, "https://u/edge/channel.json");
        assert_int_equal(t.last_serial, 121);
        free(text);
        update_state_done(&t);

        /* Another channel: its serials count on their own. */
        update_state_use_channel(&s, "https://u/stable/channel.json");
        assert_int_equal(s.last_serial, 0);
        assert_int_equal(update_state_accept(&s, "https://u/stable/channel.json", 35), 0);
        assert_int_equal(s.last_serial, 35);
        assert_string_equal(s.channel, "https://u/stable/channel.json");
        update_state_done(&s);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_channel_floor),
                cmocka_unit_test(test_bad_input),
                cmocka_unit_test(test_backoff),
                cmocka_unit_test(test_wait),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
