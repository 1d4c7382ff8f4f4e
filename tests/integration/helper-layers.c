/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * helper-layers [--list] STAGING TYPE:PATH...   apply layers in order
 * helper-layers --binary STAGING PATH [DEST]     copy a program with its libraries
 * With --list, every entry written is printed (through the progress hook).
 */
#include <stdio.h>

#include "basic/error.h"
#include "layers.h"

static void list_entry(const char *layer, const char *entry, uint64_t n_entries, uint64_t n_bytes, void *userdata) {
        printf("%s\t%s\t%llu\n", layer, entry, (unsigned long long) n_entries);
}

static int apply(int argc, char *argv[], bool list) {
        for (int i = 1; i < argc; i++) {
                const char *colon = strchr(argv[i], ':');
                if (!colon)
                        return err_set(EINVAL, "'%s': expected TYPE:PATH", argv[i]);
                char *type = strndup(argv[i], colon - argv[i]);
                RecipeLayer l = {
                        .type = layer_type_from_string(type),
                        .path = (char *) colon + 1,
                        .architecture = architecture_native(),
                };
                free(type);
                if (l.type < 0)
                        return err_set(EINVAL, "'%s': unknown layer type", argv[i]);
                int r = layer_apply(&l, argv[0], list ? list_entry : NULL, NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

int main(int argc, char *argv[]) {
        int r;

        if (argc >= 4 && streq(argv[1], "--binary"))
                r = argc >= 5 ? staging_copy_binary_to(argv[3], argv[4], argv[2])
                              : staging_copy_binary(argv[3], argv[2]);
        else if (argc >= 4 && streq(argv[1], "--list"))
                r = apply(argc - 2, argv + 2, true);
        else if (argc >= 3 && argv[1][0] != '-')
                r = apply(argc - 1, argv + 1, false);
        else {
                fprintf(stderr, "usage: helper-layers [--list] STAGING TYPE:PATH... | --binary STAGING PATH [DEST]\n");
                return 2;
        }
        if (r < 0) {
                fprintf(stderr, "helper-layers: %s\n", err_message(r));
                return 1;
        }
        return 0;
}
