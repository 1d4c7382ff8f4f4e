/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "basic/macro.h"

/* The systemd-boot loader interface vendor GUID. */
#define EFI_LOADER_GUID "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"
#define EFIVARS_DEFAULT_DIR "/sys/firmware/efi/efivars"
/* The UEFI global variables (Boot####, BootOrder, BootCurrent). */
#define EFIVARS_GLOBAL_GUID "8be4df61-93ca-11d2-aa0d-00e098032b8c"

/*
 * String variables of the loader interface (UTF-16LE, ASCII content) in an
 * efivarfs directory. The system's store is accessed through libefivar;
 * libefivar fixes its directory when the library loads ($EFIVARFS_PATH), so a
 * different directory from abide.conf (tests) is read and written here in
 * the same efivarfs format: 4-byte attributes, then the data, in a file
 * named <Name>-<GUID>.
 */

/* -ENOENT when unset; -EOPNOTSUPP when the system has no EFI variables. */
int efivars_get_string(const char *dir, const char *name, char **ret);
/* Attributes NV|BS|RT; value must be ASCII. */
int efivars_set_string(const char *dir, const char *name, const char *value);
/* Missing is fine. */
int efivars_delete(const char *dir, const char *name);

/*
 * Binary variables under another vendor GUID (abide's own, slot/floor.h),
 * same store rules as above. get: -ENOENT when unset, -EOPNOTSUPP without
 * EFI variables; *ret is malloc'ed. set: attributes NV|BS|RT.
 */
int efivars_get_data(const char *dir, const char *guid, const char *name, void **ret, size_t *ret_size);
int efivars_set_data(const char *dir, const char *guid, const char *name, const void *data, size_t size);

/*
 * Calls fn with the name (without "-<GUID>") of every variable under guid in
 * the store, in no particular order. -EOPNOTSUPP without EFI variables.
 */
int efivars_foreach(const char *dir, const char *guid, void (*fn)(const char *name, void *userdata), void *userdata);
