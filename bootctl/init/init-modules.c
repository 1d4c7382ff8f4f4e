/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The only file that calls libkmod. */
#include "init-modules.h"

#include <libkmod.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "init-log.h"

#define MODULES_LIST_MAX (64 * 1024)

DEFINE_TRIVIAL_CLEANUP_FUNC(struct kmod_ctx *, kmod_unref);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct kmod_list *, kmod_module_unref_list);

/* 0 loaded (or built in, or there already), negative errno otherwise. */
static int load_one(struct kmod_ctx *ctx, const char *name) {
        _cleanup_(kmod_module_unref_listp) struct kmod_list *list = NULL;
        struct kmod_list *i;
        int r;

        r = kmod_module_new_from_lookup(ctx, name, &list);
        if (r < 0)
                return err_set(-r, "%s: lookup failed: %s", name, strerror(-r));
        if (!list)
                return err_set(ENOENT, "%s: not found in the initramfs", name);

        kmod_list_foreach(i, list) {
                struct kmod_module *m = kmod_module_get_module(i);
                /* Without KMOD_PROBE_FAIL_ON_LOADED, built-in and loaded modules return 0. */
                r = kmod_module_probe_insert_module(m, KMOD_PROBE_APPLY_BLACKLIST_ALIAS_ONLY, NULL, NULL, NULL, NULL);
                kmod_module_unref(m);
                if (r < 0)
                        return err_set(-r, "%s: %s", name, strerror(-r));
                if (r > 0)
                        return err_set(EPERM, "%s: refused by the blacklist", name);
        }
        return 0;
}

int init_modules_load(const char *list_path, unsigned *ret_loaded, unsigned *ret_failed, unsigned *ret_absent) {
        _cleanup_(kmod_unrefp) struct kmod_ctx *ctx = NULL;
        _cleanup_free_ char *text = NULL;
        unsigned loaded = 0, failed = 0, absent = 0;
        int r;

        r = read_full_file(list_path, MODULES_LIST_MAX, &text, NULL);
        if (r < 0)
                return err_prefix(r, "cannot read %s", list_path);

        /* NULL, NULL: /lib/modules/`uname -r` and no configuration files. */
        const char *null_config = NULL;
        ctx = kmod_new(NULL, &null_config);
        if (!ctx)
                return err_set(ENOMEM, "cannot set up libkmod");
        r = kmod_load_resources(ctx);
        if (r < 0)
                return err_set(-r, "cannot load the module indexes of %s: %s", kmod_get_dirname(ctx), strerror(-r));

        char *save = NULL;
        for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                line += strspn(line, " \t");
                line[strcspn(line, " \t\r#")] = 0;
                if (!*line)
                        continue;
                r = load_one(ctx, line);
                if (r == -ENODEV)
                        /* A driver for hardware (or a CPU feature, crc32c_intel without
                         * SSE4.2) this machine does not have: nothing failed. */
                        absent++;
                else if (r < 0) {
                        init_log("module %s", err_message(r));
                        failed++;
                } else
                        loaded++;
        }

        *ret_loaded = loaded;
        *ret_failed = failed;
        *ret_absent = absent;
        return 0;
}
