/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "slot/slot.h"
#include "slot/state.h"

/*
 * What boot-check does, decided from the booted slot, both boot entries'
 * counters and the state file. Pure: no I/O, every branch unit-tested.
 * After a successful trial the caller marks the entry good and asks again,
 * so a rollback seen from a freshly blessed slot is recorded in the same run.
 */

typedef enum CheckAction {
        CHECK_NOTHING,      /* booted entry is good: nothing to assess */
        CHECK_RUN_HEALTH,   /* booted entry is on trial, or out of tries on this very boot (its
                             * last try; the state file still says pending on trial): run the
                             * checks, then mark good or bad */
        CHECK_BOOTED_BAD,   /* booted an entry marked bad (picked by hand): leave it alone */
        CHECK_NO_ENTRY,     /* booted slot has no entry: nothing to mark */
        _CHECK_ACTION_MAX,
} CheckAction;

typedef enum RollbackReason {
        ROLLBACK_NONE,
        ROLLBACK_HEALTH_FAILURE,   /* the other slot recorded a failing check */
        ROLLBACK_NO_HEALTHY_BOOT,  /* the loader used up its tries, nothing was recorded */
} RollbackReason;

typedef struct CheckPlan {
        CheckAction action;
        /* Booted entry is good but the state file does not say so (e.g. first boot, lost state). */
        bool sync_booted_good;
        /* Record a rollback away from the other slot (once: recording closes its trial). */
        RollbackReason rollback;
        unsigned rollback_tries;   /* for ROLLBACK_NO_HEALTHY_BOOT */
        /* Run the on-rollback hooks and print the event: new or not reported yet. */
        bool report_rollback;
} CheckPlan;

const char *check_action_to_string(CheckAction a);

void slot_check_plan(Slot booted, const BootCounter entries[static _SLOT_MAX], const AbideState *state,
                     CheckPlan *ret);
