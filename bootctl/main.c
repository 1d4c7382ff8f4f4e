/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <string.h>

#include "basic/error.h"

static void help(FILE *f) {
        fprintf(f, "Usage: abidectl VERB [OPTIONS...]\n\n"
                   "Installs signed abide bundles into the inactive A/B slot and keeps the\n"
                   "device on a healthy slot.\n\nVerbs:\n"
                   "  status [--json]                 show the slots and the last rollback\n"
                   "  install BUNDLE|- [--tries N]    install into the slot not booted\n"
                   "  boot-check [--timeout S]        run the health checks, mark good or bad\n"
                   "  mark-good | mark-bad [SLOT]     set the booted (or given) slot's state\n"
                   "  rollback                        make the other good slot primary\n"
                   "  switch SLOT [--once]            boot SLOT next (once, or from now on)\n");
}

int main(int argc, char *argv[]) {
        if (argc < 2) {
                help(stderr);
                return 2;
        }
        if (streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help")) {
                help(stdout);
                return 0;
        }
        if (streq(argv[1], "--version")) {
                printf("abidectl %s\n", ABIDE_VERSION);
                return 0;
        }
        fprintf(stderr, "abidectl: unknown verb '%s' (see --help)\n", argv[1]);
        return 2;
}
