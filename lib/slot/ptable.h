/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "basic/macro.h"

/* One entry of a disk's partition table, as libblkid reads it. */
typedef struct PartEntry {
        char *name;      /* GPT PARTLABEL; NULL when unnamed */
        char *uuid;      /* PARTUUID, lowercase; may be NULL */
        int partno;
        uint64_t start;  /* bytes from the start of the disk */
        uint64_t size;   /* bytes */
} PartEntry;

typedef struct PartTable {
        PartEntry *entries;
        size_t n;
} PartTable;

/*
 * Reads the partition table of a disk: a block device or a disk image
 * file. Works without udev (no /dev/disk/by-partlabel needed).
 * -ENOMEDIUM when there is no partition table.
 */
int ptable_read(const char *disk, PartTable **ret);
PartTable *ptable_free(PartTable *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(PartTable *, ptable_free);
