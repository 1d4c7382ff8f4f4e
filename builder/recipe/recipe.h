/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "basic/arch.h"
#include "basic/macro.h"

typedef enum LayerType {
        LAYER_TREE,   /* tree:DIR */
        LAYER_TAR,    /* tar:FILE (.tar, .tar.gz, .tgz, .tar.xz, .tar.zst) */
        LAYER_DEB,    /* deb:FILE (its data.tar.*) */
        LAYER_OCI,    /* oci:DIR (an OCI image layout) */
        _LAYER_TYPE_MAX,
        _LAYER_TYPE_INVALID = -EINVAL,
} LayerType;

const char *layer_type_to_string(LayerType t);
LayerType layer_type_from_string(const char *s);

typedef struct RecipeLayer {
        LayerType type;
        char *path;        /* absolute after loading (globs resolved) */
        unsigned line;     /* where it was set, for messages; 0 when from --set */
        Architecture architecture; /* the image's: which image of a multi-platform OCI index */
} RecipeLayer;

typedef struct RecipeBinary {
        char *source;      /* absolute path on the build machine */
        char *dest;        /* absolute path in the image; the source path when not given */
        bool plain;        /* File=: copied as it is, no library closure */
} RecipeBinary;

typedef struct RecipeAgent {
        bool present;
        char *name;
        char *source;                /* directory with the agent's files, absolute */
        char *exec;                  /* command line started at boot */
        char *health;                /* health probe command line */
        unsigned health_timeout_sec;
} RecipeAgent;

typedef struct RecipeBoot {
        bool present;
        char *kernel;      /* absolute, glob resolved to the newest match; with kernel_in_image,
                            * the pattern inside the image, resolved once the layers are staged */
        bool kernel_in_image; /* Kernel=image:PATTERN: the kernel and /lib/modules come from the layers */
        char *cmdline;
        unsigned tries;
        bool uki;          /* UKI=yes: a signed unified kernel image per slot (docs/secure-boot.md) */
} RecipeBoot;

typedef struct Recipe {
        char *path;             /* the recipe file */
        /* [Image] */
        char *name;
        char *version;
        char *compatible;
        char *filesystem;       /* erofs (default) | squashfs */
        char *compression;      /* erofs: NULL or "none" (default), "lz4", "lz4hc" */
        Architecture architecture; /* x86-64 | arm64; default: the build machine's */
        uint64_t security_version;
        /* [Content] */
        RecipeLayer *layers;
        size_t n_layers;
        RecipeBinary *binaries; /* Binary= and File=SOURCE[:DEST], in order */
        size_t n_binaries;
        RecipeAgent agent;
        RecipeBoot boot;
} Recipe;

/*
 * Loads a recipe. overrides is a NULL-terminated list of "Section.Key=Value"
 * (from --set), applied after the file, as if appended to its section.
 * Relative paths are resolved against the recipe file's directory.
 * Errors name the file, line and key: "recipes/x.conf:7: [Content] Layer: ...".
 */
int recipe_load(const char *path, char *const *overrides, Recipe **ret);

Recipe *recipe_free(Recipe *r);
DEFINE_TRIVIAL_CLEANUP_FUNC(Recipe *, recipe_free);
