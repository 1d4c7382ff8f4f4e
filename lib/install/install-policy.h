/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "basic/macro.h"

/* Where the running image says who it is (written by abide-build). */
#define INSTALL_IMAGE_INFO_PATH "/usr/lib/abide/image.json"

/* The identity of an image: the running one (image.json) or a bundle's manifest. */
typedef struct ImageIdentity {
        char *name;
        char *version;
        char *compatible;
        uint64_t security_version;
} ImageIdentity;

void image_identity_done(ImageIdentity *i);

/*
 * Parses image.json ({"format": 1, "name", "version", "compatible",
 * "security_version", "build_id"}). Other keys are ignored (the file is
 * informational), but the four we decide on must be there with the right
 * types. Pure: no I/O.
 */
int image_identity_parse(const char *json, size_t len, ImageIdentity *ret);
int image_identity_load(const char *path, ImageIdentity *ret);

/*
 * Whether the bundle may replace the other slot while `running` is booted.
 * Refuses, with a one-line reason: another compatible string (EMEDIUMTYPE),
 * a lower security version (EPERM), the version already running unless
 * force (EEXIST). Versions are not ordered otherwise: a downgrade with an
 * equal or higher security version is allowed. Pure.
 */
int install_policy_check(const ImageIdentity *running, const ImageIdentity *bundle, bool force);

/* Boot tries for the new entry: --tries (0: unset), else the manifest's, else the config's. */
unsigned install_policy_tries(unsigned arg_tries, unsigned manifest_tries, unsigned config_tries);

/* Whether a payload of size bytes fits a partition of part_size bytes (O_DIRECT rounds up to align). */
bool install_policy_fits(uint64_t size, uint64_t part_size, uint64_t align);
