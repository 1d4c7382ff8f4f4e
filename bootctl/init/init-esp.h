/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "slot/config.h"

/* Where the booted system finds the ESP (abidectl's first default). */
#define INIT_ESP_DIR "/efi"

/*
 * Mounts efivarfs on /sys/firmware/efi/efivars (it moves with /sys into the
 * booted system) and reads LoaderDevicePartUUID, lowercased: the ESP the
 * loader started from. Returns 1 with *ret_esp_uuid set, 0 when booted
 * without EFI or without that variable, <0 on error.
 */
int init_efi_setup(char **ret_esp_uuid);

/*
 * Mounts the ESP (esp_uuid, from init_efi_setup()) on sysroot/efi when the
 * image has that directory, so images whose init cannot find a partition by
 * GPT UUID (busybox) still give abidectl its ESP. Images that mount the ESP
 * themselves (systemd's gpt-auto) leave /efi out. Returns 1 when mounted,
 * 0 when there is nothing to do, <0 on error.
 */
int init_mount_esp(const AbideConfig *c, const char *sysroot, const char *esp_uuid, char **ret_device);
