/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>

#include "basic/error.h"
#include "basic/opt-error.h"
#include "boot/boot.h"
#include "ctl.h"
#include "ctl-install.h"
#include "verbs.h"

static int parse_tries(const char *s, unsigned *ret) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno != 0 || end == s || *end || s[0] == '-' || v < 1 || v > 99)
                return err_set(EINVAL, "--tries must be a number in 1..99: %s", s);
        *ret = (unsigned) v;
        return 0;
}

/*
 * A booted slot on trial is not blessed yet: the other slot is its fallback
 * (the slot the loader returns to when the trial fails) and is not
 * overwritten before the bless, as `update` waits for it too.
 */
static int refuse_on_trial(Ctl *ctl) {
        BootEntryInfo e[_SLOT_MAX];
        Slot booted;
        int r;

        r = ctl_booted(ctl, &booted);
        if (r < 0)
                return r;
        r = ctl_entries(ctl, e);
        if (r < 0)
                return r;
        bool trial = e[booted].counter.state == BOOT_COUNTER_PENDING;
        unsigned left = e[booted].counter.left;
        boot_entry_infos_done(e);
        if (trial)
                return err_set(EBUSY, "booted slot %s is on trial (%u tries left), not blessed yet: slot %s is its fallback "
                               "and is not overwritten; wait for boot-check to bless it, or run abidectl mark-good",
                               slot_to_string(booted), left, slot_to_string(slot_other(booted)));
        return 0;
}

int verb_install(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "tries", required_argument, NULL, 't' },
                { "force", no_argument, NULL, 'f' },
                { "delta", no_argument, NULL, 'D' },
                { "full", no_argument, NULL, 'F' },
                { "dry-run", no_argument, NULL, 'n' },
                {}
        };
        _cleanup_(ctl_done) Ctl ctl = {};
        InstallOptions o = {};
        bool want_delta = false, full = false;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":ht:f", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("Usage: abidectl install BUNDLE|-|URL [--tries N] [--force] [--delta|--full] [--dry-run]\n\n"
                               "Installs a signed bundle (a file, '-' for standard input, or an http(s) URL,\n"
                               "resumed after drops as abide.conf's [Network] says) into the slot\n"
                               "that was not booted, verifies what landed, and makes it bootable on trial.\n"
                               "Refused while the booted slot is itself on trial: the other slot is its fallback.\n"
                               "From a URL only the blocks of the new root image the device does not have\n"
                               "are fetched, found by dm-verity leaf hash (docs/delta.md).\n\n"
                               "  --tries N          boot tries of the new slot (default: the bundle's, else Tries=)\n"
                               "  --force            install even the version that is running\n"
                               "  --delta            a file or block device too: copy local blocks, read the rest\n"
                               "  --full             a URL: stream the whole bundle (as [Network] Delta=no)\n"
                               "  --dry-run          verify and plan a delta install, say what it would fetch,\n"
                               "                     write nothing\n\n"
                               "Refused: another Compatible=, or a security version below the running image's\n"
                               "or this device's anti-rollback floor (docs/anti-rollback.md).\n");
                        return 0;
                case 't':
                        r = parse_tries(optarg, &o.tries);
                        if (r < 0)
                                return r;
                        break;
                case 'f':
                        o.force = true;
                        break;
                case 'D':
                        want_delta = true;
                        break;
                case 'F':
                        full = true;
                        break;
                case 'n':
                        o.dry_run = true;
                        break;
                default:
                        return opt_error(c, argv, options, "--help");
                }
        if (optind >= argc)
                return err_set(EINVAL, "missing BUNDLE (usage: abidectl install BUNDLE|-|URL [--tries N] [--force])");
        if (optind + 1 < argc)
                return err_set(EINVAL, "unexpected argument '%s'", argv[optind + 1]);

        const char *path = argv[optind];
        if (full && (want_delta || o.dry_run))
                return err_set(EINVAL, "--full does not go with --delta or --dry-run");
        if ((want_delta || o.dry_run) && streq(path, "-"))
                return err_set(EINVAL, "a delta install reads the bundle at offsets: not from standard input");

        r = ctl_open(&ctl);
        if (r < 0)
                return r;
        if (!o.dry_run) {
                r = refuse_on_trial(&ctl);
                if (r < 0)
                        return r;
        }
        return ctl_install(&ctl, path, &o, want_delta, full, NULL);
}
