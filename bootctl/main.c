/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <string.h>

#include "basic/error.h"
#include "basic/json-strict.h"
#include "ctl.h"
#include "verbs.h"

static const struct {
        const char *name;
        int (*run)(int argc, char *argv[]);
} verbs[] = {
        { "status", verb_status },
        { "install", verb_install },
        { "boot-check", verb_boot_check },
        { "mark-good", verb_mark_good },
        { "mark-bad", verb_mark_bad },
        { "rollback", verb_rollback },
        { "switch", verb_switch },
        { "report", verb_report },
        { "update", verb_update },
};

static void help(FILE *f) {
        fprintf(f, "Usage: abidectl [--config FILE] VERB [OPTIONS...]\n\n"
                   "Installs signed abide bundles into the inactive A/B slot and keeps the\n"
                   "device on a healthy slot.\n\nVerbs:\n"
                   "  status [--json]                    show the slots and the last rollback\n"
                   "  install BUNDLE|-|URL [--tries N] [--force]\n"
                   "                                     install into the slot not booted\n"
                   "  boot-check [--timeout S] [--no-reboot]\n"
                   "                                     run the health checks, mark good or bad\n"
                   "  mark-good | mark-bad [SLOT]        set the booted (or given) slot's state\n"
                   "  rollback                           make the other good slot primary\n"
                   "  switch SLOT [--once]               boot SLOT next (once, or from now on)\n"
                   "  report send [--timeout S] | list [--json]\n"
                   "                                     send or show the queued reports\n"
                   "  update [--dry-run] [--json] [--reboot now|window|never] [--timer]\n"
                   "                                     follow the signed channel: decide, install, reboot\n\n"
                   "Options:\n"
                   "  --config FILE   configuration (default $ABIDE_CONF, /etc/abide/abide.conf)\n"
                   "  --help          this help; VERB --help for a verb's\n"
                   "  --version       the version\n");
}

int main(int argc, char *argv[]) {
        int i = 1;

        if (json_use_unseeded_hash() < 0) {
                fprintf(stderr, "abidectl: json-c refused its unseeded string hash\n");
                return 1;
        }

        for (; i < argc && argv[i][0] == '-'; i++) {
                if (streq(argv[i], "--help") || streq(argv[i], "-h")) {
                        help(stdout);
                        return 0;
                }
                if (streq(argv[i], "--version")) {
                        printf("abidectl %s\n", ABIDE_VERSION);
                        return 0;
                }
                if (streq(argv[i], "--config")) {
                        if (i + 1 >= argc) {
                                fprintf(stderr, "abidectl: option '--config' needs a value (see --help)\n");
                                return 2;
                        }
                        arg_config = argv[++i];
                } else if (strncmp(argv[i], "--config=", 9) == 0)
                        arg_config = argv[i] + 9;
                else {
                        fprintf(stderr, "abidectl: unknown option '%s' (see --help)\n", argv[i]);
                        return 2;
                }
        }
        if (i >= argc) {
                help(stderr);
                return 2;
        }
        if (streq(argv[i], "help")) {
                help(stdout);
                return 0;
        }

        for (size_t v = 0; v < ELEMENTSOF(verbs); v++) {
                if (!streq(argv[i], verbs[v].name))
                        continue;
                ctl_verb = verbs[v].name;
                int r = verbs[v].run(argc - i, argv + i);
                if (r < 0) {
                        fflush(stdout);
                        fprintf(stderr, "abidectl: %s: %s\n", verbs[v].name, err_message(r));
                        return 1;
                }
                return r;
        }
        fprintf(stderr, "abidectl: unknown verb '%s' (see --help)\n", argv[i]);
        return 2;
}
