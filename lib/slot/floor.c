/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "floor.h"

#include <inttypes.h>

#include "basic/error.h"

void floor_combine(FloorCopy efi, FloorCopy state, const char *state_version, SecurityFloor *ret) {
        SecurityFloor f = { .efi = efi, .state = state };

        if (state.have) {
                f.value = state.value;
                f.source = FLOOR_SOURCE_STATE;
                f.version = state_version;
        }
        /* On a tie the state file's copy speaks: it also knows which version raised it. */
        if (efi.have && (!state.have || efi.value > state.value)) {
                f.value = efi.value;
                f.source = FLOOR_SOURCE_EFI;
                f.version = NULL;
        }
        *ret = f;
}

int floor_check(const SecurityFloor *f, const char *what, bool sv_known, uint64_t sv) {
        char why[256];

        if (f->value == 0)
                return 0;
        if (sv_known && sv >= f->value)
                return 0;

        if (f->version)
                snprintf(why, sizeof why, "raised when %s was blessed", f->version);
        else if (f->source == FLOOR_SOURCE_EFI)
                snprintf(why, sizeof why, "kept in the EFI variable %s", FLOOR_EFI_NAME);
        else
                snprintf(why, sizeof why, "kept in the state file");
        if (!sv_known)
                return err_set(EPERM, "%s has no known security version, and this device's floor is %" PRIu64 " (%s)",
                               what, f->value, why);
        return err_set(EPERM, "%s has security version %" PRIu64 ", below this device's floor %" PRIu64 " (%s)",
                       what, sv, f->value, why);
}

void floor_raise_plan(const SecurityFloor *f, uint64_t sv, FloorRaise *ret) {
        uint64_t v = MAX(f->value, sv);

        /* 0 is what an unset floor means: nothing to write. Equal copies are left alone
         * (NVRAM wears, and boot-check runs on every boot). */
        *ret = (FloorRaise) {
                .value = v,
                .write_efi = v > 0 && (!f->efi.have || f->efi.value < v),
                .write_state = v > 0 && (!f->state.have || f->state.value < v),
        };
}

int floor_efi_decode(const void *data, size_t size, uint64_t *ret) {
        const uint8_t *d = data;
        uint64_t v = 0;

        if (size != FLOOR_EFI_SIZE)
                return err_set(EBADMSG, "EFI variable %s: %zu bytes, expected %d", FLOOR_EFI_NAME, size, FLOOR_EFI_SIZE);
        for (int i = FLOOR_EFI_SIZE - 1; i >= 0; i--)
                v = v << 8 | d[i];
        *ret = v;
        return 0;
}

void floor_efi_encode(uint64_t value, uint8_t ret[static FLOOR_EFI_SIZE]) {
        for (int i = 0; i < FLOOR_EFI_SIZE; i++)
                ret[i] = (uint8_t) (value >> (8 * i));
}

const char *floor_source_to_string(FloorSource s) {
        switch (s) {
        case FLOOR_SOURCE_STATE:
                return "state";
        case FLOOR_SOURCE_EFI:
                return "efi";
        case FLOOR_SOURCE_NONE:
        default:
                return "none";
        }
}
