/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "slot/floor.h"

/* Where the booted system keeps its state file: abide-data's var/, bind-mounted on sysroot/var. */
#define INIT_STATE_FILE "/var/lib/abide/state.json"

typedef struct InitFloor {
        bool sv_known;
        uint64_t sv;              /* the image's security version (its image.json) */
        uint64_t floor;
        FloorSource source;
        bool efi, state;          /* which copies could be read */
} InitFloor;

/*
 * The anti-rollback floor at boot (docs/anti-rollback.md): reads the
 * verified root's image.json under sysroot (dm-verity protected, so its
 * security version is signed with the root hash), the floor's EFI variable
 * in efivars_dir and the state file's copy on abide-data (sysroot +
 * INIT_STATE_FILE; unreadable counts as absent). Returns 0 when the image
 * may boot, -EPERM with a one-line reason when it is below the floor.
 * ret is set either way.
 */
int init_floor_check(const char *sysroot, const char *efivars_dir, InitFloor *ret);
