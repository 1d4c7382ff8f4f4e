/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * helper-initramfs build --kernel K [--kver V] [--modules-dir D] --init I --ca C
 *                        [--epoch N] [--module M]... -o OUT
 * helper-initramfs resolve MODULES_DIR NAME...   (prints the load order)
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "basic/error.h"
#include "initramfs-modules.h"
#include "initramfs.h"

static int do_resolve(int argc, char *argv[]) {
        InitramfsModuleList l = {};

        if (argc < 3) {
                fprintf(stderr, "usage: helper-initramfs resolve MODULES_DIR NAME...\n");
                return 2;
        }
        int r = initramfs_modules_resolve(argv[1], (const char *const *) argv + 2, &l);
        if (r < 0) {
                fprintf(stderr, "helper-initramfs: %s\n", err_message(r));
                return 1;
        }
        for (size_t i = 0; i < l.n; i++)
                printf("%s %s\n", l.modules[i].name, l.modules[i].path);
        initramfs_module_list_done(&l);
        return 0;
}

static int do_build(int argc, char *argv[]) {
        static const struct option options[] = {
                { "kernel", required_argument, NULL, 'k' },
                { "kver", required_argument, NULL, 'V' },
                { "modules-dir", required_argument, NULL, 'm' },
                { "init", required_argument, NULL, 'i' },
                { "ca", required_argument, NULL, 'c' },
                { "epoch", required_argument, NULL, 'e' },
                { "module", required_argument, NULL, 'M' },
                { "output", required_argument, NULL, 'o' },
                {}
        };
        InitramfsOptions o = {};
        const char *out = NULL, *extra[16] = {};
        size_t n_extra = 0;
        int c;

        while ((c = getopt_long(argc, argv, "o:", options, NULL)) >= 0)
                switch (c) {
                case 'k': o.kernel_path = optarg; break;
                case 'V': o.kernel_version = optarg; break;
                case 'm': o.modules_dir = optarg; break;
                case 'i': o.init_path = optarg; break;
                case 'c': o.ca_cert_path = optarg; break;
                case 'e': o.epoch = (time_t) strtoll(optarg, NULL, 10); break;
                case 'M':
                        if (n_extra >= ELEMENTSOF(extra) - 1)
                                return 2;
                        extra[n_extra++] = optarg;
                        break;
                case 'o': out = optarg; break;
                default: return 2;
                }
        if (!out) {
                fprintf(stderr, "helper-initramfs: -o OUT is needed\n");
                return 2;
        }
        o.extra_modules = n_extra ? extra : NULL;
        int r = initramfs_build(&o, out);
        if (r < 0) {
                fprintf(stderr, "helper-initramfs: %s\n", err_message(r));
                return 1;
        }
        return 0;
}

int main(int argc, char *argv[]) {
        if (argc >= 2 && streq(argv[1], "build"))
                return do_build(argc - 1, argv + 1);
        if (argc >= 2 && streq(argv[1], "resolve"))
                return do_resolve(argc - 1, argv + 1);
        fprintf(stderr, "usage: helper-initramfs build|resolve ...\n");
        return 2;
}
