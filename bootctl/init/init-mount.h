/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#define INIT_SYSROOT "/sysroot"
/* abide-data's mount point: under /run, so it moves into the booted system
 * with /run and stays visible there (shutdown can remount it read-only). */
#define INIT_DATA_DIR "/run/abide/data"

/* /proc, /sys, /dev (devtmpfs), /run (tmpfs). Already mounted is fine. */
int init_mount_pseudo(void);

/*
 * Mounts the verified root read-only at sysroot; the type comes from
 * libblkid and must be erofs or squashfs. The root must have the mount
 * points the next steps use (/etc, /var, /proc, /sys, /dev, /run).
 * ret_type gets the file system type (static string).
 */
int init_mount_root(const char *dev, const char *sysroot, const char **ret_type);

/*
 * Mounts abide-data (ext4, rw, nodev, nosuid) at data_dir, bind-mounts
 * its var/ onto sysroot/var and overlays sysroot/etc with its
 * etc-overlay/upper and etc-overlay/work (builder/disk-data.h), creating
 * those directories when missing.
 */
int init_mount_data(const char *dev, const char *data_dir, const char *sysroot);
