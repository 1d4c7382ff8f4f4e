/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "slot/slot-check.h"
#include "slot/state.h"

static const BootCounter counters[] = {
        { BOOT_COUNTER_MISSING, 0, 0 },
        { BOOT_COUNTER_GOOD, 0, 0 },
        { BOOT_COUNTER_PENDING, 3, 0 },
        { BOOT_COUNTER_PENDING, 1, 2 },
        { BOOT_COUNTER_BAD, 0, 3 },
        { BOOT_COUNTER_BAD, 0, 0 },
};

typedef enum RollbackSetup { EVENT_NONE, EVENT_REPORTED, EVENT_UNREPORTED, _EVENT_MAX } RollbackSetup;

static void setup_state(AbideState *s, Slot booted, SlotState me, bool me_trial, SlotState them, bool them_trial,
                        bool them_failure, RollbackSetup ev) {
        Slot other = slot_other(booted);

        s->slots[booted].state = me;
        s->slots[booted].trial = me_trial;
        s->slots[other].state = them;
        s->slots[other].trial = them_trial;
        free(s->slots[other].failure.check);
        s->slots[other].failure.check = them_failure ? strdup("probe") : NULL;
        s->rollback.valid = ev != EVENT_NONE;
        s->rollback.reported = ev == EVENT_REPORTED;
        s->rollback.from = other;
        s->rollback.to = booted;
}

/* The rules of DESIGN.md "Boot flow", written out independently of slot-check.c. */
static CheckPlan oracle(Slot booted, const BootCounter e[], const AbideState *s) {
        Slot other = slot_other(booted);
        CheckPlan p = {};

        /* The loader spent the trial's last try on this boot: nothing marked it bad. */
        bool last_try = s->slots[booted].state == SLOT_STATE_PENDING && s->slots[booted].trial;
        p.action = e[booted].state == BOOT_COUNTER_GOOD      ? CHECK_NOTHING
                   : e[booted].state == BOOT_COUNTER_PENDING ? CHECK_RUN_HEALTH
                   : e[booted].state == BOOT_COUNTER_BAD     ? (last_try ? CHECK_RUN_HEALTH : CHECK_BOOTED_BAD)
                                                             : CHECK_NO_ENTRY;
        bool blessed = e[booted].state == BOOT_COUNTER_GOOD;
        p.sync_booted_good = blessed && !(s->slots[booted].state == SLOT_STATE_GOOD && !s->slots[booted].trial);
        bool trial_failed = e[other].state == BOOT_COUNTER_BAD && s->slots[other].trial &&
                            (s->slots[other].state == SLOT_STATE_PENDING || s->slots[other].state == SLOT_STATE_BAD);
        if (blessed && trial_failed) {
                p.rollback = s->slots[other].failure.check ? ROLLBACK_HEALTH_FAILURE : ROLLBACK_NO_HEALTHY_BOOT;
                if (p.rollback == ROLLBACK_NO_HEALTHY_BOOT)
                        p.rollback_tries = e[other].done;
        }
        p.report_rollback = p.rollback != ROLLBACK_NONE || (s->rollback.valid && !s->rollback.reported);
        return p;
}

static void test_exhaustive(void **unused) {
        AbideState *s;
        unsigned n = 0, rollbacks = 0;

        assert_int_equal(state_new(&s), 0);
        for (int booted = 0; booted < _SLOT_MAX; booted++)
        for (size_t cb = 0; cb < ELEMENTSOF(counters); cb++)
        for (size_t co = 0; co < ELEMENTSOF(counters); co++)
        for (int me = 0; me < _SLOT_STATE_MAX; me++)
        for (int me_trial = 0; me_trial < 2; me_trial++)
        for (int them = 0; them < _SLOT_STATE_MAX; them++)
        for (int them_trial = 0; them_trial < 2; them_trial++)
        for (int failure = 0; failure < 2; failure++)
        for (int ev = 0; ev < _EVENT_MAX; ev++) {
                BootCounter e[_SLOT_MAX];
                e[booted] = counters[cb];
                e[slot_other((Slot) booted)] = counters[co];
                setup_state(s, (Slot) booted, (SlotState) me, me_trial, (SlotState) them, them_trial, failure,
                            (RollbackSetup) ev);

                CheckPlan got, want = oracle((Slot) booted, e, s);
                memset(&got, 0xaa, sizeof got);
                slot_check_plan((Slot) booted, e, s, &got);
                if (got.action != want.action || got.sync_booted_good != want.sync_booted_good ||
                    got.rollback != want.rollback || got.rollback_tries != want.rollback_tries ||
                    got.report_rollback != want.report_rollback)
                        fail_msg("booted=%d entries=%zu/%zu state me=%d/%d them=%d/%d failure=%d event=%d: "
                                 "got %d/%d/%d/%u/%d want %d/%d/%d/%u/%d",
                                 booted, cb, co, me, me_trial, them, them_trial, failure, ev, got.action,
                                 got.sync_booted_good, got.rollback, got.rollback_tries, got.report_rollback,
                                 want.action, want.sync_booted_good, want.rollback, want.rollback_tries,
                                 want.report_rollback);

                /* Never a rollback unless we run a blessed slot and the other one is bad. */
                if (got.rollback != ROLLBACK_NONE) {
                        assert_int_equal(e[booted].state, BOOT_COUNTER_GOOD);
                        assert_int_equal(e[slot_other((Slot) booted)].state, BOOT_COUNTER_BAD);
                        rollbacks++;

                        /* Exactly once: after recording and reporting, the same situation plans nothing more. */
                        assert_int_equal(state_record_rollback(s, slot_other((Slot) booted), "r", 1), 0);
                        s->rollback.reported = true;
                        CheckPlan again;
                        slot_check_plan((Slot) booted, e, s, &again);
                        assert_int_equal(again.rollback, ROLLBACK_NONE);
                        assert_false(again.report_rollback);
                        assert_int_equal(again.action, got.action);
                }
                n++;
        }
        print_message("  %u combinations, %u with a rollback\n", n, rollbacks);
        assert_int_equal(n, 2 * 6 * 6 * 5 * 2 * 5 * 2 * 2 * 3);
        assert_true(rollbacks > 0);
        state_free(s);
}

/* The whole story of DESIGN.md through the state helpers an install and boot-check use. */
static void test_story(void **unused) {
        AbideState *s;
        CheckPlan p;
        BootCounter e[_SLOT_MAX] = { { BOOT_COUNTER_GOOD }, { BOOT_COUNTER_MISSING } };

        assert_int_equal(state_new(&s), 0);
        /* Factory image: a good, history empty -> recorded good, nothing else. */
        slot_check_plan(SLOT_A, e, s, &p);
        assert_int_equal(p.action, CHECK_NOTHING);
        assert_true(p.sync_booted_good);
        assert_int_equal(p.rollback, ROLLBACK_NONE);
        state_set_good(s, SLOT_A);
        slot_check_plan(SLOT_A, e, s, &p);
        assert_false(p.sync_booted_good);

        /* Install 1.1 into b: installing, then pending with an entry on trial. */
        assert_int_equal(state_install_begin(s, SLOT_B, "1.1", 100), 0);
        assert_int_equal(s->slots[SLOT_B].state, SLOT_STATE_INSTALLING);
        assert_false(s->slots[SLOT_B].trial);
        state_install_done(s, SLOT_B, 101);
        assert_int_equal(s->slots[SLOT_B].state, SLOT_STATE_PENDING);
        assert_true(s->slots[SLOT_B].trial);
        e[SLOT_B] = (BootCounter) { BOOT_COUNTER_PENDING, 2, 1 };

        /* Booted b on trial: run the checks. */
        slot_check_plan(SLOT_B, e, s, &p);
        assert_int_equal(p.action, CHECK_RUN_HEALTH);
        assert_int_equal(p.rollback, ROLLBACK_NONE);
        /* Its last try (the loader counted it to 0 before booting, e.g. after power cuts):
         * still on trial, so still checked; marked bad by hand, it is left alone. */
        BootCounter trial = e[SLOT_B];
        e[SLOT_B] = (BootCounter) { BOOT_COUNTER_BAD, 0, 3 };
        slot_check_plan(SLOT_B, e, s, &p);
        assert_int_equal(p.action, CHECK_RUN_HEALTH);
        assert_int_equal(p.rollback, ROLLBACK_NONE);
        state_set_bad(s, SLOT_B);
        slot_check_plan(SLOT_B, e, s, &p);
        assert_int_equal(p.action, CHECK_BOOTED_BAD);
        s->slots[SLOT_B].state = SLOT_STATE_PENDING;
        e[SLOT_B] = trial;
        /* Failed: failure recorded, state bad, entry bad. */
        assert_int_equal(state_set_failure(s, SLOT_B, "probe", "agent not running\n", 102), 0);
        state_set_bad(s, SLOT_B);
        e[SLOT_B] = (BootCounter) { BOOT_COUNTER_BAD, 0, 1 };

        /* Loader falls back to a: rollback with the recorded reason. */
        slot_check_plan(SLOT_A, e, s, &p);
        assert_int_equal(p.action, CHECK_NOTHING);
        assert_int_equal(p.rollback, ROLLBACK_HEALTH_FAILURE);
        assert_true(p.report_rollback);
        assert_int_equal(state_record_rollback(s, SLOT_B, "check 'probe' failed", 103), 0);
        assert_true(s->rollback.valid);
        assert_int_equal(s->rollback.from, SLOT_B);
        assert_int_equal(s->rollback.to, SLOT_A);
        assert_string_equal(s->rollback.version, "1.1");
        assert_false(s->rollback.reported);
        /* Crash before the hooks ran: report again, record not again. */
        slot_check_plan(SLOT_A, e, s, &p);
        assert_int_equal(p.rollback, ROLLBACK_NONE);
        assert_true(p.report_rollback);
        s->rollback.reported = true;
        slot_check_plan(SLOT_A, e, s, &p);
        assert_false(p.report_rollback);

        /* Next install into b dies in the loader (panics): 3 tries burnt, nothing recorded. */
        assert_int_equal(state_install_begin(s, SLOT_B, "1.2", 200), 0);
        assert_null(s->slots[SLOT_B].failure.check);
        state_install_done(s, SLOT_B, 201);
        e[SLOT_B] = (BootCounter) { BOOT_COUNTER_BAD, 0, 3 };
        slot_check_plan(SLOT_A, e, s, &p);
        assert_int_equal(p.rollback, ROLLBACK_NO_HEALTHY_BOOT);
        assert_int_equal(p.rollback_tries, 3);

        /* A good slot marked bad by hand is not a failed trial. */
        assert_int_equal(state_record_rollback(s, SLOT_B, "no healthy boot in 3 tries", 202), 0);
        s->rollback.reported = true;
        state_set_good(s, SLOT_B);
        state_set_bad(s, SLOT_B);
        slot_check_plan(SLOT_A, e, s, &p);
        assert_int_equal(p.rollback, ROLLBACK_NONE);
        state_free(s);
}

static void test_json_roundtrip(void **unused) {
        AbideState *s, *t;
        char *text, *text2;

        assert_int_equal(state_new(&s), 0);
        assert_int_equal(state_install_begin(s, SLOT_B, "1.1 \"quoted\"", 100), 0);
        state_install_done(s, SLOT_B, 101);
        assert_int_equal(state_set_failure(s, SLOT_B, "10-net", "line1\nline2\t\"x\"", 102), 0);
        state_set_bad(s, SLOT_B);
        state_set_good(s, SLOT_A);
        assert_int_equal(state_record_rollback(s, SLOT_B, "check '10-net' failed: line2", 103), 0);

        assert_int_equal(state_to_json_string(s, &text), 0);
        assert_int_equal(state_from_json_string(text, &t), 0);
        assert_int_equal(state_to_json_string(t, &text2), 0);
        assert_string_equal(text, text2);
        assert_int_equal(t->slots[SLOT_B].state, SLOT_STATE_BAD);
        assert_string_equal(t->slots[SLOT_B].version, "1.1 \"quoted\"");
        assert_string_equal(t->slots[SLOT_B].failure.output, "line1\nline2\t\"x\"");
        assert_int_equal(t->slots[SLOT_B].failure.time, 102);
        assert_int_equal(t->slots[SLOT_A].state, SLOT_STATE_GOOD);
        assert_null(t->slots[SLOT_A].version);
        assert_true(t->rollback.valid);
        assert_int_equal(t->rollback.from, SLOT_B);
        assert_int_equal(t->rollback.time, 103);
        free(text);
        free(text2);
        state_free(t);
        state_free(s);
}

static void test_output_truncated(void **unused) {
        AbideState *s;
        char big[3 * STATE_OUTPUT_MAX];

        memset(big, 'x', sizeof big - 1);
        big[sizeof big - 1] = 0;
        big[sizeof big - 2] = 'E';
        assert_int_equal(state_new(&s), 0);
        assert_int_equal(state_set_failure(s, SLOT_A, "c", big, 1), 0);
        assert_int_equal(strlen(s->slots[SLOT_A].failure.output), STATE_OUTPUT_MAX);
        /* The tail is kept: that is where the reason is. */
        assert_int_equal(s->slots[SLOT_A].failure.output[STATE_OUTPUT_MAX - 1], 'E');
        state_free(s);
}

static void test_json_corrupt(void **unused) {
        static const char *const bad[] = {
                "", "{", "[]", "null", "42", "{}", "{\"format\":2}", "{\"format\":\"1\"}",
                "{\"format\":1,\"slots\":[]}",
                "{\"format\":1,\"slots\":{\"a\":{\"state\":\"weird\"}}}",
                "{\"format\":1,\"slots\":{\"a\":{\"state\":1}}}",
                "{\"format\":1,\"slots\":{\"a\":{\"installed\":-5}}}",
                "{\"format\":1,\"slots\":{\"a\":{\"trial\":\"yes\"}}}",
                "{\"format\":1,\"slots\":{\"a\":{\"failure\":{\"check\":3}}}}",
                "{\"format\":1,\"slots\":{\"a\":\"good\"}}",
                "{\"format\":1,\"rollback\":{\"from\":\"c\",\"to\":\"a\"}}",
                "{\"format\":1,\"rollback\":{\"to\":\"a\"}}",
                "{\"format\":1,\"rollback\":{\"from\":\"b\",\"to\":\"a\",\"time\":\"now\"}}",
                "{\"format\":1,\"slots\":{\"a\":{\"state\":\"good\"}}",
                "{\"format\":1,\"slots\":{\"a\":{\"security_version\":\"2\"}}}",
                "{\"format\":1,\"slots\":{\"a\":{\"security_version\":-1}}}",
                "{\"format\":1,\"security_floor\":2}",
                "{\"format\":1,\"security_floor\":{}}",
                "{\"format\":1,\"security_floor\":{\"security_version\":-2}}",
                "{\"format\":1,\"security_floor\":{\"security_version\":2.5}}",
                "{\"format\":1,\"security_floor\":{\"security_version\":2,\"version\":2}}",
                "{\"format\":1,\"security_floor\":{\"security_version\":2,\"time\":\"x\"}}",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                AbideState *s = (AbideState *) 0x1;
                print_message("  %s\n", bad[i]);
                assert_int_equal(state_from_json_string(bad[i], &s), -EBADMSG);
                assert_ptr_equal(s, (AbideState *) 0x1);
        }

        /* Minimal valid file: everything else defaults. */
        AbideState *s;
        assert_int_equal(state_from_json_string("{\"format\":1}", &s), 0);
        assert_int_equal(s->slots[SLOT_A].state, SLOT_STATE_EMPTY);
        assert_false(s->rollback.valid);
        assert_false(s->floor.valid);
        assert_false(s->slots[SLOT_A].sv_known);
        state_free(s);
        assert_int_equal(state_from_json_string("{\"format\":1,\"security_floor\":null,"
                                                "\"slots\":{\"a\":{\"security_version\":null}}}", &s), 0);
        assert_false(s->floor.valid);
        assert_false(s->slots[SLOT_A].sv_known);
        state_free(s);
        /* A failure without its check is none (as abidectl writes it: "failure": null), output and all. */
        assert_int_equal(state_from_json_string("{\"format\":1,\"slots\":{\"b\":{\"failure\":"
                                                "{\"output\":\"agent not running\",\"time\":5}}}}", &s), 0);
        assert_null(s->slots[SLOT_B].failure.check);
        assert_null(s->slots[SLOT_B].failure.output);
        assert_int_equal(s->slots[SLOT_B].failure.time, 0);
        state_free(s);
        /* A rollback without a reason is written back without one (was ""). */
        assert_int_equal(state_from_json_string("{\"format\":1,\"rollback\":{\"from\":\"b\",\"to\":\"a\",\"time\":5}}", &s), 0);
        assert_true(s->rollback.valid);
        assert_null(s->rollback.reason);
        char *text;
        AbideState *t;
        assert_int_equal(state_to_json_string(s, &text), 0);
        assert_int_equal(state_from_json_string(text, &t), 0);
        assert_true(t->rollback.valid);
        assert_null(t->rollback.reason);
        free(text);
        state_free(t);
        state_free(s);
}

static void test_floor(void **unused) {
        AbideState *s, *t;
        char *text;

        assert_int_equal(state_new(&s), 0);
        assert_int_equal(state_raise_floor(s, 2, "2.0", 10), 1);
        assert_int_equal(state_raise_floor(s, 2, "2.1", 11), 0);
        assert_int_equal(state_raise_floor(s, 1, "1.0", 12), 0);
        assert_true(s->floor.valid);
        assert_int_equal(s->floor.security_version, 2);
        assert_string_equal(s->floor.version, "2.0");
        assert_int_equal(s->floor.time, 10);
        assert_int_equal(state_raise_floor(s, 5, NULL, 13), 1);
        assert_int_equal(s->floor.security_version, 5);
        assert_null(s->floor.version);
        assert_int_equal(state_raise_floor(s, 6, "6.0", 14), 1);

        /* An install forgets the slot's old security version; the floor stays. */
        state_set_security_version(s, SLOT_B, 6);
        assert_int_equal(state_install_begin(s, SLOT_B, "7.0", 15), 0);
        assert_false(s->slots[SLOT_B].sv_known);
        state_set_security_version(s, SLOT_B, 7);
        state_set_security_version(s, SLOT_A, 0);

        assert_int_equal(state_to_json_string(s, &text), 0);
        assert_non_null(strstr(text, "\"security_floor\""));
        assert_int_equal(state_from_json_string(text, &t), 0);
        assert_true(t->floor.valid);
        assert_int_equal(t->floor.security_version, 6);
        assert_string_equal(t->floor.version, "6.0");
        assert_int_equal(t->floor.time, 14);
        assert_true(t->slots[SLOT_B].sv_known);
        assert_int_equal(t->slots[SLOT_B].security_version, 7);
        assert_true(t->slots[SLOT_A].sv_known);
        assert_int_equal(t->slots[SLOT_A].security_version, 0);
        free(text);
        state_free(t);
        state_free(s);
}

static void test_strings(void **unused) {
        for (int i = 0; i < _SLOT_STATE_MAX; i++)
                assert_int_equal(slot_state_from_string(slot_state_to_string((SlotState) i)), i);
        assert_int_equal(slot_from_string("a"), SLOT_A);
        assert_int_equal(slot_from_string("b"), SLOT_B);
        assert_int_equal(slot_from_string("A"), _SLOT_INVALID);
        assert_int_equal(slot_from_string("c"), _SLOT_INVALID);
        assert_int_equal(slot_from_string(""), _SLOT_INVALID);
        assert_int_equal(slot_from_string(NULL), _SLOT_INVALID);
        assert_int_equal(slot_other(SLOT_A), SLOT_B);
        assert_int_equal(slot_other(SLOT_B), SLOT_A);
        for (int i = 0; i < _CHECK_ACTION_MAX; i++)
                assert_non_null(check_action_to_string((CheckAction) i));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_exhaustive),
                cmocka_unit_test(test_story),
                cmocka_unit_test(test_json_roundtrip),
                cmocka_unit_test(test_output_truncated),
                cmocka_unit_test(test_json_corrupt),
                cmocka_unit_test(test_floor),
                cmocka_unit_test(test_strings),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
