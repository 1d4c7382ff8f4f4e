/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "boot/loader-esp.h"

/* Where abide-init leaves the ESP's new PARTUUID for the rest of a boot that changed it
 * (abidectl reads it instead of the loader's LoaderDevicePartUUID). */
#define INIT_IDENTITY_NOTE LOADER_ESP_NOTE

typedef enum InitIdentity {
        INIT_IDENTITY_KEPT,       /* nothing written */
        INIT_IDENTITY_OWN,        /* a factory disk given its own UUIDs */
        INIT_IDENTITY_REPAIRED,   /* a table copy written again from the other */
} InitIdentity;

/*
 * The boot's partition table step (docs/boot.md, "A device's own UUIDs"),
 * on the disk whose slot was just verified:
 *
 * - A factory disk (abide-build writes an all-zero GPT disk GUID: the same
 *   image goes to every device, its partition UUIDs derived from the
 *   image) gets new version 4 UUIDs for the disk and every partition
 *   (names, types, attributes and places kept).
 * - A table libfdisk finds needing a write (one copy failing its CRC, read
 *   from the other: a power cut inside that first write, a damaged first
 *   sector; a backup not at the disk's end) is written again.
 *
 * Either is one libfdisk write (backup table and header first, then the
 * primary ones), synced; with reread the kernel is asked to read the table
 * again (failure only logged: the next boot sees it).
 *
 * own false: only the repair (a factory disk keeps its mark for a later call).
 *
 * esp_uuid (may be NULL): a PARTUUID on this disk whose new value the
 * caller needs (the loader's ESP); *ret_new_esp_uuid gets it, or NULL.
 * *ret_repaired: for INIT_IDENTITY_REPAIRED, what libfdisk found; else NULL.
 *
 * Returns an InitIdentity (KEPT for a disk that is not GPT), or a negative
 * errno with a one-line message (nothing written, or the write failed: the
 * table is then whichever copy the write reached, each whole under its CRC).
 */
int init_identity_check(const char *disk, bool reread, bool own, const char *esp_uuid, char **ret_new_esp_uuid,
                        char **ret_repaired);
