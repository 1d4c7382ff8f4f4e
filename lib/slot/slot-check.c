/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "slot-check.h"

static const char *const check_action_table[_CHECK_ACTION_MAX] = {
        [CHECK_NOTHING] = "nothing",
        [CHECK_RUN_HEALTH] = "run-health",
        [CHECK_BOOTED_BAD] = "booted-bad",
        [CHECK_NO_ENTRY] = "no-entry",
};

const char *check_action_to_string(CheckAction a) {
        if (a < 0 || a >= _CHECK_ACTION_MAX)
                return NULL;
        return check_action_table[a];
}

static CheckAction action_for(BootCounterState s, const SlotRecord *me) {
        switch (s) {
        case BOOT_COUNTER_GOOD:
                return CHECK_NOTHING;
        case BOOT_COUNTER_PENDING:
                return CHECK_RUN_HEALTH;
        case BOOT_COUNTER_BAD:
                /* The loader counts before it boots, so a trial's last try runs with no tries left;
                 * nothing marked it bad (still pending on trial), so it may still be blessed. */
                return me->state == SLOT_STATE_PENDING && me->trial ? CHECK_RUN_HEALTH : CHECK_BOOTED_BAD;
        case BOOT_COUNTER_MISSING:
        default:
                return CHECK_NO_ENTRY;
        }
}

void slot_check_plan(Slot booted, const BootCounter entries[static _SLOT_MAX], const AbideState *state,
                     CheckPlan *ret) {
        Slot other = slot_other(booted);
        const SlotRecord *me = &state->slots[booted], *them = &state->slots[other];
        CheckPlan p = { .action = action_for(entries[booted].state, me) };

        if (entries[booted].state == BOOT_COUNTER_GOOD) {
                p.sync_booted_good = me->state != SLOT_STATE_GOOD || me->trial;

                /* A rollback: we run a blessed slot while the other slot's trial ended
                 * with its entry bad, and that was not recorded yet (trial still open). */
                if (entries[other].state == BOOT_COUNTER_BAD && them->trial &&
                    (them->state == SLOT_STATE_PENDING || them->state == SLOT_STATE_BAD)) {
                        if (them->failure.check)
                                p.rollback = ROLLBACK_HEALTH_FAILURE;
                        else {
                                p.rollback = ROLLBACK_NO_HEALTHY_BOOT;
                                p.rollback_tries = entries[other].done;
                        }
                }
        }

        p.report_rollback = p.rollback != ROLLBACK_NONE || (state->rollback.valid && !state->rollback.reported);
        *ret = p;
}
