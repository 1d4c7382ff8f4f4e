/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "boot/loader-esp.h"

/* Where abide-init leaves the ESP's new PARTUUID for the rest of a boot that changed it
 * (abidectl reads it instead of the loader's LoaderDevicePartUUID). */
#define INIT_IDENTITY_NOTE LOADER_ESP_NOTE

/*
 * A factory disk's own identity, given at its first boot (docs/boot.md,
 * "A device's own UUIDs"). abide-build writes factory disks with an
 * all-zero GPT disk GUID: the same image goes to every device, and its
 * partition UUIDs are derived from the image. When disk's GUID is all
 * zero, every partition and the disk get new random version 4 UUIDs
 * (names, types, attributes and places kept) in one libfdisk write
 * (backup table and header first, then the primary ones), synced; with
 * reread the kernel is asked to read the table again (failure only
 * warned: the next boot sees it).
 *
 * esp_uuid (may be NULL): a PARTUUID on this disk whose new value the
 * caller needs (the loader's ESP); *ret_new_esp_uuid gets it, or NULL.
 *
 * Returns 1 when the disk was given its own UUIDs, 0 when it has them
 * already (a non-zero disk GUID) or is not GPT (nothing written), or a
 * negative errno with a one-line message (nothing written, or the write
 * failed: the table is then whichever copy the write reached, each
 * complete under its CRC).
 */
int init_identity_personalize(const char *disk, bool reread, const char *esp_uuid, char **ret_new_esp_uuid);
