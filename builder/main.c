/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <string.h>

#include "basic/error.h"
#include "verb.h"

static const struct {
        const char *name;
        int (*run)(int argc, char *argv[]);
        const char *summary;
} verbs[] = {
        { "build", verb_build, "RECIPE --key K --cert C [-o DIR] [--set S.K=V]  build a signed bundle" },
        { "inspect", verb_inspect, "BUNDLE [--cert CA] [--json]              show (and verify) a bundle" },
        { "disk", verb_disk, "BUNDLE --cert CA -o disk.img [--size S]   make a factory disk image" },
        { "keygen", verb_keygen, "[--secure-boot] -o DIR                   make a demo CA and signing key, or Secure Boot keys" },
        { "channel", verb_channel, "init|add|rollout|halt|resume|show|watch DIR ...  publish a fleet channel" },
};

static void help(FILE *f) {
        fprintf(f, "Usage: abide-build VERB [OPTIONS...]\n\n"
                   "Builds verity-protected root images and signed update bundles.\n\nVerbs:\n");
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                fprintf(f, "  %-8s %s\n", verbs[i].name, verbs[i].summary);
        fprintf(f, "\nRun 'abide-build VERB --help' for a verb's options.\n");
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
                printf("abide-build %s\n", ABIDE_VERSION);
                return 0;
        }
        for (size_t i = 0; i < ELEMENTSOF(verbs); i++)
                if (streq(argv[1], verbs[i].name)) {
                        err_clear();
                        int r = verbs[i].run(argc - 1, argv + 1);
                        if (r < 0) {
                                fprintf(stderr, "abide-build: %s: %s\n", verbs[i].name, err_message(r));
                                return 1;
                        }
                        return r;
                }
        fprintf(stderr, "abide-build: unknown verb '%s' (see --help)\n", argv[1]);
        return 2;
}
