/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "slot.h"

static const char *const slot_table[_SLOT_MAX] = {
        [SLOT_A] = "a",
        [SLOT_B] = "b",
};

static const char *const slot_part_table[_SLOT_PART_MAX] = {
        [SLOT_PART_ROOT] = "root",
        [SLOT_PART_VERITY] = "verity",
        [SLOT_PART_VERITY_SIG] = "verity-sig",
};

static const char *const slot_state_table[_SLOT_STATE_MAX] = {
        [SLOT_STATE_EMPTY] = "empty",
        [SLOT_STATE_INSTALLING] = "installing",
        [SLOT_STATE_PENDING] = "pending",
        [SLOT_STATE_GOOD] = "good",
        [SLOT_STATE_BAD] = "bad",
};

const char *slot_to_string(Slot s) {
        if (s < 0 || s >= _SLOT_MAX)
                return NULL;
        return slot_table[s];
}

Slot slot_from_string(const char *s) {
        if (!s)
                return _SLOT_INVALID;
        for (int i = 0; i < _SLOT_MAX; i++)
                if (streq(s, slot_table[i]))
                        return (Slot) i;
        return _SLOT_INVALID;
}

const char *slot_state_to_string(SlotState s) {
        if (s < 0 || s >= _SLOT_STATE_MAX)
                return NULL;
        return slot_state_table[s];
}

SlotState slot_state_from_string(const char *s) {
        if (!s)
                return _SLOT_STATE_INVALID;
        for (int i = 0; i < _SLOT_STATE_MAX; i++)
                if (streq(s, slot_state_table[i]))
                        return (SlotState) i;
        return _SLOT_STATE_INVALID;
}

const char *slot_part_to_string(SlotPart p) {
        if (p < 0 || p >= _SLOT_PART_MAX)
                return NULL;
        return slot_part_table[p];
}

static const char *const boot_counter_state_table[_BOOT_COUNTER_STATE_MAX] = {
        [BOOT_COUNTER_MISSING] = "missing",
        [BOOT_COUNTER_GOOD] = "good",
        [BOOT_COUNTER_PENDING] = "pending",
        [BOOT_COUNTER_BAD] = "bad",
};

const char *boot_counter_state_to_string(BootCounterState s) {
        if (s < 0 || s >= _BOOT_COUNTER_STATE_MAX)
                return NULL;
        return boot_counter_state_table[s];
}
