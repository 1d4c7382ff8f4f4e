/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "basic/error.h"
#include "ctl-floor.h"
#include "ctl.h"
#include "verbs.h"

int verb_mark_good(int argc, char *argv[]) {
        _cleanup_(ctl_done) Ctl ctl = {};
        _cleanup_(state_freep) AbideState *st = NULL;
        _cleanup_close_ int lock = -EBADF;
        _cleanup_(ctl_image_done) CtlImage img = {};
        Slot booted;
        int r;

        if (argc > 1 && (streq(argv[1], "--help") || streq(argv[1], "-h"))) {
                printf("Usage: abidectl mark-good\n\nMarks the booted slot good: its boot entry loses the counter,\n"
                       "and the anti-rollback floor rises to its security version. Refused when the\n"
                       "image is below the floor.\n");
                return 0;
        }
        if (argc > 1)
                return err_set(EINVAL, "unexpected argument '%s' (mark-good applies to the booted slot)", argv[1]);

        r = ctl_open(&ctl);
        if (r < 0)
                return r;
        r = ctl_booted(&ctl, &booted);
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
        ctl_running_image(&ctl, &img);
        r = ctl_floor_check_booted(&ctl, st, booted, &img);
        if (r < 0)
                return err_prefix(r, "refusing to mark slot %s good", slot_to_string(booted));
        r = boot_mark_good(ctl.boot, booted);
        if (r < 0)
                return r;
        state_set_good(st, booted);
        (void) ctl_floor_bless(&ctl, st, booted, &img);
        r = ctl_state_save(&ctl, st);
        if (r < 0)
                return r;
        printf("Slot %s marked good\n", slot_to_string(booted));
        return 0;
}
