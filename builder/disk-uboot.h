/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "bundle/manifest.h"

/* U-Boot's environment as QEMU virt's flash holds it (qemu/README.md): at offset 0 of a
 * 64 MiB file, 0x40000 bytes: CRC32 (little endian) of the rest, then NUL-separated text. */
#define DISK_UBOOT_ENV_SIZE 0x40000
#define DISK_UBOOT_ENV_FILE_SIZE (64 * 1024 * 1024)

/*
 * A U-Boot data file (boot.scr, qemu-virt.env): next to abide-build in the build
 * tree (DIR/uboot/NAME for DIR/abide-build), else installed under
 * ABIDE_UBOOT_DATADIR. -ENOENT with a message when neither exists.
 */
int disk_uboot_find(const char *name, char **ret);

/*
 * The boot partition for U-Boot's distro boot: FAT32 of size bytes in the new
 * file path with /boot.scr (builder/uboot/boot.cmd compiled) and slot A's
 * kernel and initrd under /abide/a/ (/abide/b/ empty).
 */
int disk_uboot_boot_make(const char *path, uint64_t size, const char *volume_uuid, const char *boot_scr,
                         const char *kernel_path, const char *initrd_path);

/*
 * The initial U-Boot environment, written to path (atomically, sparse,
 * DISK_UBOOT_ENV_FILE_SIZE): the board defaults from defaults_path (VAR=VALUE
 * lines, # comments), then BOOT_ORDER=A, abide_good=A and abide_cmdline_a (the
 * manifest's command line); no counter, so slot a is good.
 */
int disk_uboot_env_write(const char *path, const Manifest *m, const char *defaults_path);
