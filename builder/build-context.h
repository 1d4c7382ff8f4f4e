/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <time.h>

#include "basic/macro.h"
#include "recipe.h"

/*
 * The scratch state of one build: a private work directory next to the
 * output (so the finished bundle is renamed, never copied), the staging
 * tree, and where each payload is made. Freeing it removes the work
 * directory, so a failed build leaves nothing behind.
 */
typedef struct BuildContext {
        const Recipe *recipe;
        time_t epoch;
        const char *ca_path;    /* release CA: baked into the image and the initramfs */
        const char *secure_boot_cert_path;   /* Secure Boot db certificate: baked into the image; may be NULL */
        const char *init_path;  /* abide-init, for the initramfs */
        char *workdir;
        char *staging;
        bool staging_linked;    /* the staging tree's files are hard links to the layer's */
        char *root_path;
        char *verity_path;
        char *verity_sig_path;
        char *kernel_path;      /* NULL without [Boot] */
        char *initrd_path;      /* NULL without [Boot] */
} BuildContext;

int build_context_new(const char *outdir, const Recipe *recipe, time_t epoch, BuildContext **ret);

/* Removes a work directory through directory fds, so no path length limits it (a layer's
 * entries may nest past PATH_MAX), without crossing into other file systems. Records no
 * error message: it runs after the one the build reports. */
int build_workdir_remove(const char *workdir);
BuildContext *build_context_free(BuildContext *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(BuildContext *, build_context_free);

/* Applies the recipe's layers, binaries and agent into the staging tree,
 * puts the CA at /usr/lib/abide/keys/ca.pem (refusing a layer's symlink on
 * the way), and builds the initramfs when the recipe has [Boot]. Set ca_path
 * and init_path first (both required with [Boot]). */
int build_context_compose(BuildContext *c);
