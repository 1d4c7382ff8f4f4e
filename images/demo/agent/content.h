/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/*
 * A sentinel content file, like an endpoint agent's channel file:
 *
 *     SENTINEL-CONTENT 1
 *     channel: 291
 *     version: 2024.07.19-0409
 *     variant: good
 *     body-sha256: <sha256 of every byte after the "---" line>
 *     ---
 *     rule NAME PATTERN
 *
 * The variant says how the agent behaves after loading it (the demo's
 * failure modes): good, crash, panic, hang.
 */
typedef enum Variant {
        VARIANT_GOOD,
        VARIANT_CRASH,
        VARIANT_PANIC,
        VARIANT_HANG,
        _VARIANT_MAX,
} Variant;

typedef struct Content {
        unsigned channel;
        char version[64];
        int variant;    /* Variant */
        unsigned n_rules;
} Content;

const char *variant_to_string(Variant v);

/* Parses and verifies a content file; on failure writes one line into err
 * and returns a negative errno. */
int content_load(const char *path, Content *ret, char *err, size_t errlen);
