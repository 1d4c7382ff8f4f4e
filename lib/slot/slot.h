/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "basic/macro.h"

/* The two A/B slots. */
typedef enum Slot {
        SLOT_A,
        SLOT_B,
        _SLOT_MAX,
        _SLOT_INVALID = -EINVAL,
} Slot;

const char *slot_to_string(Slot s);
/* Exactly "a" or "b" (lowercase); anything else is _SLOT_INVALID. */
Slot slot_from_string(const char *s);

static inline Slot slot_other(Slot s) {
        return s == SLOT_A ? SLOT_B : SLOT_A;
}

/* Slot states (DESIGN.md "Slot states"): empty -> installing -> pending -> good | bad. */
typedef enum SlotState {
        SLOT_STATE_EMPTY,
        SLOT_STATE_INSTALLING,
        SLOT_STATE_PENDING,
        SLOT_STATE_GOOD,
        SLOT_STATE_BAD,
        _SLOT_STATE_MAX,
        _SLOT_STATE_INVALID = -EINVAL,
} SlotState;

const char *slot_state_to_string(SlotState s);
SlotState slot_state_from_string(const char *s);

/* The partitions a slot consists of; GPT PARTLABEL "abide-<kind>-<slot>". */
typedef enum SlotPart {
        SLOT_PART_ROOT,
        SLOT_PART_VERITY,
        SLOT_PART_VERITY_SIG,
        _SLOT_PART_MAX,
        _SLOT_PART_INVALID = -EINVAL,
} SlotPart;

/* "root", "verity", "verity-sig" */
const char *slot_part_to_string(SlotPart p);

/* A slot's boot entry as the loader's counter left it (the source of truth for bootability). */
typedef enum BootCounterState {
        BOOT_COUNTER_MISSING,   /* no entry: not bootable */
        BOOT_COUNTER_GOOD,      /* no counter: blessed */
        BOOT_COUNTER_PENDING,   /* on trial: left > 0 tries */
        BOOT_COUNTER_BAD,       /* left == 0: sorts last, the loader boots the other slot */
        _BOOT_COUNTER_STATE_MAX,
        _BOOT_COUNTER_STATE_INVALID = -EINVAL,
} BootCounterState;

typedef struct BootCounter {
        BootCounterState state;
        unsigned left;   /* PENDING only */
        unsigned done;   /* PENDING and BAD */
} BootCounter;

const char *boot_counter_state_to_string(BootCounterState s);
