/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "basic/error.h"
#include "ctl-floor.h"
#include "ctl.h"
#include "verbs.h"

int verb_rollback(int argc, char *argv[]) {
        _cleanup_(ctl_done) Ctl ctl = {};
        BootEntryInfo e[_SLOT_MAX];
        Slot booted;
        int r;

        if (argc > 1 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
                printf("Usage: abidectl rollback\n\nMakes the other slot, which must be good and not below the anti-rollback\n"
                       "floor, the one that boots from now on.\n");
                return 0;
        }
        if (argc > 1)
                return err_set(EINVAL, "unexpected argument '%s'", argv[1]);

        r = ctl_open(&ctl);
        if (r < 0)
                return r;
        r = ctl_booted(&ctl, &booted);
        if (r < 0)
                return r;
        Slot other = slot_other(booted);
        /* Before the entry's state: the reason that will not go away comes first. */
        r = ctl_floor_check_switch(&ctl, other);
        if (r < 0)
                return err_prefix(r, "cannot roll back");
        r = ctl_entries(&ctl, e);
        if (r < 0)
                return r;
        BootCounterState s = e[other].counter.state;
        boot_entry_infos_done(e);
        if (s != BOOT_COUNTER_GOOD)
                return err_set(EBUSY, "cannot roll back: slot %s is %s, not good", slot_to_string(other),
                               s == BOOT_COUNTER_MISSING ? "empty" : boot_counter_state_to_string(s));
        return ctl_switch_to(&ctl, other, false);
}
