/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/* A loadable module to carry, in load order (dependencies first). */
typedef struct InitramfsModule {
        char *name;
        char *path;     /* absolute, below the modules directory */
} InitramfsModule;

typedef struct InitramfsModuleList {
        InitramfsModule *modules;
        size_t n;
} InitramfsModuleList;

/*
 * Resolves names (module names or aliases, NULL-terminated) with libkmod
 * against modules_dir (which holds modules.dep etc.): each module's
 * dependencies and pre soft dependencies come before it, post soft
 * dependencies after it, each module once. A name built into the kernel is
 * skipped; a name that is neither loadable nor built in is an error.
 */
int initramfs_modules_resolve(const char *modules_dir, const char *const *names, InitramfsModuleList *ret);
void initramfs_module_list_done(InitramfsModuleList *l);
