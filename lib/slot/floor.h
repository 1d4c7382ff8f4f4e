/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "basic/macro.h"

/*
 * The anti-rollback floor (docs/anti-rollback.md): the highest security
 * version of an image ever blessed on this device. No image below it is
 * installed, booted or blessed. Two copies are kept, an EFI variable of
 * abide's own (in the firmware's NVRAM, off the disk) and the state file
 * on abide-data; the floor is their maximum, so an unset or unreadable copy
 * falls back to the other, and lowering one copy lowers nothing.
 *
 * Pure: the copies are read and written by boot/floor-store.c.
 */

/* abide's own vendor GUID: nothing else writes in its namespace. */
#define FLOOR_EFI_GUID "28932f22-23ff-4f25-8a72-e3e6bc8b620f"
#define FLOOR_EFI_NAME "AbideSecurityFloor"
/* The variable's data: the floor as a little-endian uint64. */
#define FLOOR_EFI_SIZE 8

/* One copy of the floor; have is false when it is unset, unreadable or corrupt. */
typedef struct FloorCopy {
        bool have;
        uint64_t value;
} FloorCopy;

typedef enum FloorSource {
        FLOOR_SOURCE_NONE,    /* no copy: the floor is 0 */
        FLOOR_SOURCE_STATE,   /* the state file's copy is the higher (or the only) one */
        FLOOR_SOURCE_EFI,     /* the EFI variable is higher than the state file's copy */
} FloorSource;

typedef struct SecurityFloor {
        uint64_t value;
        FloorSource source;
        FloorCopy efi, state;
        /* The image version whose bless raised it (from the state file; borrowed), NULL: unknown. */
        const char *version;
} SecurityFloor;

/* The floor from both copies: their maximum. state_version belongs to the state's copy. */
void floor_combine(FloorCopy efi, FloorCopy state, const char *state_version, SecurityFloor *ret);

/*
 * Whether an image may be installed, booted or blessed: with a floor of 0,
 * anything; otherwise its security version must be known and at least the
 * floor. what names it in the reason ("bundle 1.0", "slot a (1.0)").
 * Returns 0, or -EPERM with a one-line reason.
 */
int floor_check(const SecurityFloor *f, const char *what, bool sv_known, uint64_t sv);

/* What blessing an image of security version sv writes: each copy only when it rises. */
typedef struct FloorRaise {
        uint64_t value;       /* the new floor: max(both copies, sv) */
        bool write_efi;
        bool write_state;
} FloorRaise;

void floor_raise_plan(const SecurityFloor *f, uint64_t sv, FloorRaise *ret);

/* The EFI variable's data; -EBADMSG when it is not FLOOR_EFI_SIZE bytes. */
int floor_efi_decode(const void *data, size_t size, uint64_t *ret);
void floor_efi_encode(uint64_t value, uint8_t ret[static FLOOR_EFI_SIZE]);

const char *floor_source_to_string(FloorSource s);
