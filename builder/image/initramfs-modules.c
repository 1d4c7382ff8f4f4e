/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "initramfs-modules.h"

#include <libkmod.h>
#include <string.h>

#include "basic/error.h"

/* Soft dependencies chain too (libcrc32c pre: crc32c); this bounds a cycle-free walk. */
#define RESOLVE_DEPTH_MAX 32

static void kmod_unrefp(struct kmod_ctx **c) {
        if (*c)
                kmod_unref(*c);
}

static void kmod_module_unref_listp(struct kmod_list **l) {
        if (*l)
                kmod_module_unref_list(*l);
}

void initramfs_module_list_done(InitramfsModuleList *l) {
        for (size_t i = 0; i < l->n; i++) {
                free(l->modules[i].name);
                free(l->modules[i].path);
        }
        free(l->modules);
        *l = (InitramfsModuleList) {};
}

typedef struct Walk {
        InitramfsModuleList out;
        char **seen;            /* names entered, to stop at cycles and repeats */
        size_t n_seen;
} Walk;

static bool walk_seen(Walk *w, const char *name) {
        for (size_t i = 0; i < w->n_seen; i++)
                if (streq(w->seen[i], name))
                        return true;
        return false;
}

static int walk_mark(Walk *w, const char *name) {
        char **s = reallocarray(w->seen, w->n_seen + 1, sizeof *s);
        if (!s)
                return -ENOMEM;
        w->seen = s;
        if (!(s[w->n_seen] = strdup(name)))
                return -ENOMEM;
        w->n_seen++;
        return 0;
}

static int walk_module(Walk *w, struct kmod_module *m, unsigned depth);

static int walk_list(Walk *w, struct kmod_list *list, unsigned depth) {
        struct kmod_list *i;

        kmod_list_foreach(i, list) {
                struct kmod_module *m = kmod_module_get_module(i);
                int r = walk_module(w, m, depth);
                kmod_module_unref(m);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int walk_module(Walk *w, struct kmod_module *m, unsigned depth) {
        _cleanup_(kmod_module_unref_listp) struct kmod_list *deps = NULL, *pre = NULL, *post = NULL;
        const char *name = kmod_module_get_name(m);
        const char *path = kmod_module_get_path(m);
        int r;

        if (walk_seen(w, name))
                return 0;
        if (depth > RESOLVE_DEPTH_MAX)
                return err_set(ELOOP, "module %s: dependencies nested deeper than %d", name, RESOLVE_DEPTH_MAX);
        r = walk_mark(w, name);
        if (r < 0)
                return r;
        /* Built in: no file, nothing to load. */
        if (!path)
                return 0;

        (void) kmod_module_get_softdeps(m, &pre, &post);
        deps = kmod_module_get_dependencies(m);

        r = walk_list(w, pre, depth + 1);
        if (r < 0)
                return r;
        r = walk_list(w, deps, depth + 1);
        if (r < 0)
                return r;

        InitramfsModule *a = reallocarray(w->out.modules, w->out.n + 1, sizeof *a);
        if (!a)
                return -ENOMEM;
        w->out.modules = a;
        a[w->out.n] = (InitramfsModule) { .name = strdup(name), .path = strdup(path) };
        if (!a[w->out.n].name || !a[w->out.n].path) {
                free(a[w->out.n].name);
                free(a[w->out.n].path);
                return -ENOMEM;
        }
        w->out.n++;

        return walk_list(w, post, depth + 1);
}

int initramfs_modules_resolve(const char *modules_dir, const char *const *names, InitramfsModuleList *ret) {
        _cleanup_(kmod_unrefp) struct kmod_ctx *ctx = NULL;
        Walk w = {};
        int r = 0;

        /* No /etc/modprobe.d: the build machine's local settings must not
         * change the image. Soft dependencies still come from modules.softdep. */
        static const char *const no_config[] = { NULL };
        ctx = kmod_new(modules_dir, no_config);
        if (!ctx)
                return err_set(ENOMEM, "libkmod: cannot open %s", modules_dir);
        r = kmod_load_resources(ctx);
        if (r < 0) {
                r = err_set(r, "libkmod: cannot load the indexes in %s (run depmod?)", modules_dir);
                goto out;
        }

        for (const char *const *n = names; n && *n; n++) {
                _cleanup_(kmod_module_unref_listp) struct kmod_list *list = NULL;

                r = kmod_module_new_from_lookup(ctx, *n, &list);
                if (r < 0) {
                        r = err_set(r, "libkmod: lookup of module %s in %s failed", *n, modules_dir);
                        goto out;
                }
                if (!list) {
                        r = err_set(ENOENT, "module %s: not found in %s (neither loadable nor built in)", *n, modules_dir);
                        goto out;
                }
                r = walk_list(&w, list, 0);
                if (r < 0)
                        goto out;
        }
        *ret = w.out;
        w.out = (InitramfsModuleList) {};
out:
        initramfs_module_list_done(&w.out);
        for (size_t i = 0; i < w.n_seen; i++)
                free(w.seen[i]);
        free(w.seen);
        return r < 0 ? r : 0;
}
