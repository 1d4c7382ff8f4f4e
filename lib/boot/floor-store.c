/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "floor-store.h"

#include <inttypes.h>

#include "basic/error.h"
#include "boot/efivars.h"

int floor_efi_read(const char *efivars_dir, uint64_t *ret) {
        _cleanup_free_ void *data = NULL;
        size_t size = 0;

        int r = efivars_get_data(efivars_dir, FLOOR_EFI_GUID, FLOOR_EFI_NAME, &data, &size);
        if (r < 0)
                return r;
        return floor_efi_decode(data, size, ret);
}

int floor_efi_raise(const char *efivars_dir, uint64_t value) {
        uint8_t data[FLOOR_EFI_SIZE];
        uint64_t now;

        int r = floor_efi_read(efivars_dir, &now);
        if (r >= 0 && now >= value)
                return 0;
        err_clear();
        floor_efi_encode(value, data);
        r = efivars_set_data(efivars_dir, FLOOR_EFI_GUID, FLOOR_EFI_NAME, data, sizeof data);
        if (r < 0)
                return err_prefix(r, "cannot raise the security floor to %" PRIu64, value);
        return 0;
}

void floor_load(const char *efivars_dir, const AbideState *st, SecurityFloor *ret) {
        FloorCopy efi = {}, state = {};

        efi.have = floor_efi_read(efivars_dir, &efi.value) >= 0;
        err_clear();
        if (st && st->floor.valid)
                state = (FloorCopy) { .have = true, .value = st->floor.security_version };
        floor_combine(efi, state, st && st->floor.valid ? st->floor.version : NULL, ret);
}

int floor_raise(const char *efivars_dir, AbideState *st, uint64_t sv, const char *version, uint64_t now) {
        SecurityFloor f;
        FloorRaise plan;
        int r = 0;

        floor_load(efivars_dir, st, &f);
        floor_raise_plan(&f, sv, &plan);
        /* A floor above sv stays with the version that raised it. */
        const char *by = plan.value == sv ? version : f.version;
        if (plan.write_state && state_raise_floor(st, plan.value, by, now) < 0)
                return -ENOMEM;
        if (plan.write_efi)
                r = floor_efi_raise(efivars_dir, plan.value);
        return r;
}
