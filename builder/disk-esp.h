/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "bundle/manifest.h"

#define DISK_SYSTEMD_BOOT_EFI "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"

/*
 * Makes a FAT32 file system of size bytes in the new file path (mkfs.vfat,
 * then mtools; no mount): systemd-boot as /EFI/BOOT/BOOTX64.EFI and
 * /EFI/systemd/systemd-bootx64.efi, /loader/loader.conf for an unattended
 * boot, slot A's kernel and initrd under /abide/a/ and its blessed entry
 * /loader/entries/abide-a.conf. workdir holds scratch files.
 */
int disk_esp_make(const char *path, uint64_t size, const char *volume_uuid, const Manifest *m,
                  const char *kernel_path, const char *initrd_path, const char *workdir);
