/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "bundle/manifest.h"

#define DISK_SYSTEMD_BOOT_EFI "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"

/* Secure Boot on the factory ESP (abide-build disk --secure-boot DIR). */
typedef struct DiskSecureBoot {
        const char *dir;    /* keygen --secure-boot's output: db.key, db.crt, loader/keys/abide/{PK,KEK,db}.auth */
        const char *uki_a;  /* slot a's signed UKI, from the bundle */
} DiskSecureBoot;

/* The files of DIR that --secure-boot needs are readable, else an error naming the first missing one;
 * and DIR/db.crt is in, or issued by a CA in, the db list that DIR/loader/keys/abide/db.auth enrolls. */
int disk_esp_secure_boot_check(const char *dir);

/* efi's Authenticode signature is trusted by DIR/db.crt (name: what to call it in the error). */
int disk_esp_secure_boot_verify(const char *dir, const char *efi, const char *name);

/*
 * Makes a FAT32 file system of size bytes in the new file path (mkfs.vfat,
 * then mtools; no mount): systemd-boot as /EFI/BOOT/BOOTX64.EFI and
 * /EFI/systemd/systemd-bootx64.efi, /loader/loader.conf for an unattended
 * boot, slot A's kernel and initrd under /abide/a/ and its blessed entry
 * /loader/entries/abide-a.conf. workdir holds scratch files.
 * With sb: systemd-boot signed by sb->dir's db key (sbsign), slot A's UKI
 * as the type #2 entry /EFI/Linux/abide-a.efi instead of the kernel, initrd
 * and type #1 entry, sb->dir's loader/keys/abide/{PK,KEK,db}.auth as
 * /loader/keys/auto/ (what systemd-boot enrolls unattended), and
 * loader.conf with "secure-boot-enroll force".
 */
int disk_esp_make(const char *path, uint64_t size, const char *volume_uuid, const Manifest *m,
                  const char *kernel_path, const char *initrd_path, const DiskSecureBoot *sb,
                  const char *workdir);
