/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>
#include <time.h>

/* An entry that is not in the tree, e.g. /dev/console (mknod needs root). */
typedef struct CpioExtra {
        const char *path;       /* relative, no leading "/" */
        mode_t mode;            /* type and permissions */
        unsigned rdev_major, rdev_minor;
} CpioExtra;

/*
 * Packs the tree under dir into a zstd-compressed cpio "newc" archive at
 * out_path (temp file + rename), reproducibly: entries sorted by byte order
 * of their path (parents first), owner 0:0, every mtime = epoch, inode
 * numbers counted from 1 in that order, no device numbers of the host.
 */
int cpio_pack_tree(const char *dir, const CpioExtra *extra, size_t n_extra, time_t epoch, const char *out_path);
