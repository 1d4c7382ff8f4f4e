/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "basic/error.h"
#include "ctl-report.h"
#include "ctl.h"
#include "verbs.h"

int verb_mark_bad(int argc, char *argv[]) {
        _cleanup_(ctl_done) Ctl ctl = {};
        _cleanup_(state_freep) AbideState *st = NULL;
        _cleanup_close_ int lock = -EBADF;
        BootEntryInfo e[_SLOT_MAX];
        Slot slot;
        int r;

        if (argc > 1 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
                printf("Usage: abidectl mark-bad [SLOT]\n\nMarks SLOT (default: the booted one) bad: the loader boots the\n"
                       "other slot from now on. Refused when the other slot has no bootable entry.\n");
                return 0;
        }
        if (argc > 2)
                return err_set(EINVAL, "unexpected argument '%s'", argv[2]);

        r = ctl_open(&ctl);
        if (r < 0)
                return r;
        if (argc > 1)
                r = ctl_parse_slot(argv[1], &slot);
        else
                r = ctl_booted(&ctl, &slot);
        if (r < 0)
                return r;
        /* Before the state and the entries are read: two runs at once would each decide from what
         * they read, and the later one undo the other's verdict (bless a slot just marked bad). */
        r = ctl_state_lock(&ctl, &lock);
        if (r < 0)
                return r;
        r = ctl_state_load(&ctl, &st);
        if (r < 0)
                return r;
        r = ctl_entries(&ctl, e);
        if (r < 0)
                return r;
        BootCounterState mine = e[slot].counter.state, theirs = e[slot_other(slot)].counter.state;
        BootCounter counter = e[slot].counter;
        _cleanup_free_ char *entry_version = e[slot].version ? strdup(e[slot].version) : NULL;
        boot_entry_infos_done(e);

        if (mine == BOOT_COUNTER_MISSING)
                return err_set(ENOENT, "slot %s has no boot entry", slot_to_string(slot));
        /* Never leave the device with nothing good to boot. */
        if (theirs != BOOT_COUNTER_GOOD && theirs != BOOT_COUNTER_PENDING)
                return err_set(EBUSY, "refusing to mark slot %s bad: slot %s has no bootable entry (%s)",
                               slot_to_string(slot), slot_to_string(slot_other(slot)),
                               boot_counter_state_to_string(theirs));

        if (st->slots[slot].trial) {
                r = state_set_failure(st, slot, "mark-bad", "marked bad with abidectl mark-bad", ctl_now());
                if (r < 0)
                        return r;
        }
        state_set_bad(st, slot);
        r = ctl_state_save(&ctl, st);
        if (r < 0)
                return r;
        r = boot_mark_bad(ctl.boot, slot);
        if (r < 0)
                return r;
        printf("Slot %s marked bad\n", slot_to_string(slot));
        fflush(stdout);
        ctl_report(&ctl, &(ReportEvent) {
                .type = REPORT_MARKED_BAD, .from_version = st->slots[slot_other(slot)].version,
                .to_version = st->slots[slot].version ?: entry_version, .slot = slot, .tries_done = counter.done,
                .tries_left_set = true, .tries_left = 0, .check = "mark-bad",
                .reason = "marked bad with abidectl mark-bad" });
        return 0;
}
