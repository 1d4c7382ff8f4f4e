/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "basic/macro.h"

/* Where the running image says who it is (written by abide-build; [Paths] ImageInfo=). */
#define IMAGE_INFO_PATH "/usr/lib/abide/image.json"

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
