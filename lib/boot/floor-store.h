/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "slot/floor.h"
#include "slot/state.h"

/*
 * The two copies of the anti-rollback floor (slot/floor.h): the EFI
 * variable FLOOR_EFI_NAME-FLOOR_EFI_GUID in efivars_dir (an efivarfs
 * directory, see boot/efivars.h) and the state file's "security_floor".
 */

/* The EFI copy: -ENOENT unset, -EOPNOTSUPP no EFI variables, -EBADMSG corrupt. */
int floor_efi_read(const char *efivars_dir, uint64_t *ret);

/*
 * Raises the EFI copy to value; reads it first and never writes a lower
 * or equal value, whatever the caller believed it held.
 */
int floor_efi_raise(const char *efivars_dir, uint64_t value);

/*
 * The floor: the EFI copy and st's (NULL: the state file was unreadable).
 * A copy that cannot be read counts as absent; ret borrows from st.
 */
void floor_load(const char *efivars_dir, const AbideState *st, SecurityFloor *ret);

/*
 * After an image of security version sv (version) was blessed: raises
 * both copies to max(floor, sv), never lowering either. st is changed, the
 * caller saves it. A failed EFI write is an error (the state copy is
 * changed all the same, so saving st keeps at least that copy).
 */
int floor_raise(const char *efivars_dir, AbideState *st, uint64_t sv, const char *version, uint64_t now);
