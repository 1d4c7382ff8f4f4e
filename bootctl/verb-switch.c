/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>

#include "basic/error.h"
#include "basic/opt-error.h"
#include "ctl-floor.h"
#include "ctl.h"
#include "verbs.h"

int verb_switch(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "once", no_argument, NULL, 'o' },
                {}
        };
        _cleanup_(ctl_done) Ctl ctl = {};
        bool once = false;
        Slot slot;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":ho", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("Usage: abidectl switch SLOT [--once]\n\nBoots SLOT next: from now on (a good slot), or once\n"
                               "(LoaderEntryOneShot; a good or pending slot). Refused for a slot whose image\n"
                               "is below the anti-rollback floor.\n");
                        return 0;
                case 'o':
                        once = true;
                        break;
                default:
                        return opt_error(c, argv, options, "--help");
                }
        if (optind >= argc)
                return err_set(EINVAL, "missing SLOT (usage: abidectl switch SLOT [--once])");
        if (optind + 1 < argc)
                return err_set(EINVAL, "unexpected argument '%s'", argv[optind + 1]);
        r = ctl_parse_slot(argv[optind], &slot);
        if (r < 0)
                return r;
        r = ctl_open(&ctl);
        if (r < 0)
                return r;
        /* abide-init would refuse it on every boot: a pinned slot below the floor never comes up. */
        r = ctl_floor_check_switch(&ctl, slot);
        if (r < 0)
                return err_prefix(r, "refusing to switch to slot %s", slot_to_string(slot));
        return ctl_switch_to(&ctl, slot, once);
}
