/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "recipe.h"

#define IMAGE_INFO_PATH "usr/lib/abide/image.json"

/*
 * The image's identity, as abidectl and people on the device read it:
 *
 *     {"format": 1, "name": ..., "version": ..., "compatible": ...,
 *      "security_version": N, "build_id": ...}
 *
 * Keys in this fixed order, pretty-printed, trailing newline: the same
 * recipe and build id give the same bytes.
 */
int image_info_format(const Recipe *r, const char *build_id, char **ret);

/* Writes it to STAGING/usr/lib/abide/image.json (0644). */
int image_write_info(const Recipe *r, const char *build_id, const char *staging);
