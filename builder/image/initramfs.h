/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <time.h>

/*
 * The initramfs abide-init boots from:
 *   /init                       abide-init, with its shared libraries and loader
 *   /usr/sbin/fsck.fat          dosfstools' checker, for the ESP (with its libraries)
 *   /etc/abide/keys/ca.pem      the release CA that signs root hashes
 *   /lib/modules/KVER/...       the modules below and their dependencies, with
 *                               modules.dep & co. made by depmod for this set
 *   /etc/abide/modules.load     the modules to load, in load order (dependencies
 *                               first), one name per line
 *   /dev (with console), /proc, /sys, /run, /sysroot
 * packed as a zstd-compressed cpio newc archive, byte-reproducible.
 */
typedef struct InitramfsOptions {
        const char *kernel_path;        /* vmlinuz-KVER; gives the version when kernel_version is NULL */
        const char *kernel_version;     /* optional */
        const char *modules_dir;        /* optional, default /lib/modules/KVER */
        const char *init_path;          /* the abide-init binary */
        const char *ca_cert_path;       /* PEM */
        const char *const *extra_modules; /* optional, NULL-terminated: loaded after the standard set */
        const char *const *arch_modules;  /* optional, NULL-terminated: the architecture's own (lib/basic/arch.c) */
        const char *tools_root;         /* optional: fsck.fat is taken from this tree (the staged image, for
                                         * another architecture), not from the build machine */
        time_t epoch;                   /* every mtime (SOURCE_DATE_EPOCH) */
} InitramfsOptions;

/* What abide-init needs on the Debian x86-64 kernel and QEMU (virtio, i6300esb watchdog). */
extern const char *const initramfs_standard_modules[];

/* "vmlinuz-KVER" -> "KVER", the name of its /lib/modules directory. */
int initramfs_kernel_version(const char *kernel_path, char **ret);

/* Builds the initramfs at out_path (temp file + rename; nothing left on failure).
 * The working tree is made next to out_path and removed. */
int initramfs_build(const InitramfsOptions *o, const char *out_path);
