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

/* Where abide-build puts dosfstools' checker in the initramfs (builder/image/initramfs.c). */
#define INIT_FSCK_FAT "/usr/sbin/fsck.fat"

typedef enum InitEspCheck {
        INIT_ESP_CLEAN,      /* fsck.fat exit 0 */
        INIT_ESP_REPAIRED,   /* exit 1: errors found and repaired (-a), e.g. the dirty bit after a power cut */
        INIT_ESP_FAILED,     /* anything else, a signal or the timeout */
        INIT_ESP_UNCHECKED,  /* no checker in the initramfs, or it could not start */
} InitEspCheck;

/*
 * Runs "fsck -a device" (bounded), logs its result on the console and
 * returns it. Never fails the boot: whatever it says, the ESP is mounted
 * read-only next.
 */
InitEspCheck init_check_esp(const char *fsck, const char *device);

/*
 * Mounts the ESP (esp_uuid, from init_efi_setup()) read-only on
 * sysroot/efi when the image has that directory, so images whose init
 * cannot find a partition by GPT UUID (busybox) still give abidectl its
 * ESP. It is checked and repaired first (init_check_esp()). Images that
 * mount the ESP themselves (systemd's gpt-auto) leave /efi out. Returns 1
 * when mounted, 0 when there is nothing to do, <0 on error: the caller
 * boots on without it.
 */
int init_mount_esp(const AbideConfig *c, const char *sysroot, const char *esp_uuid, char **ret_device);
