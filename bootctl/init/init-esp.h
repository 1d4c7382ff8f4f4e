/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "slot/config.h"

/* Where the booted system finds the ESP (abidectl's first default). */
#define INIT_ESP_DIR "/efi"

/*
 * Makes the loader interface usable in the booted system, which may have no
 * way to find a partition by GPT UUID (busybox): mounts efivarfs on
 * /sys/firmware/efi/efivars (it moves with /sys), and the ESP the loader
 * started from (LoaderDevicePartUUID) on sysroot/efi when the image has that
 * directory. Images that mount the ESP themselves (systemd's gpt-auto) leave
 * /efi out or find it already mounted. Returns 1 when the ESP was mounted,
 * 0 when there is nothing to do (no EFI, no /efi in the image), <0 on error.
 */
int init_mount_esp(const AbideConfig *c, const char *sysroot, char **ret_device);
