/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "slot/config.h"
#include "slot/slot.h"

/*
 * Where a partition's bytes are: a device node (offset 0, size 0 = the
 * whole device), a plain file given in abide.conf, or a range of a disk
 * image file or of a disk whose partition nodes do not exist.
 */
typedef struct SlotPartition {
        char *path;
        uint64_t offset;
        uint64_t size;   /* 0: up to the end of path */
} SlotPartition;

void slot_partition_done(SlotPartition *p);

/* The GPT PARTLABEL, e.g. "abide-verity-sig-b" (static buffer not needed: written to buf). */
int slot_part_label(Slot slot, SlotPart part, char *buf, size_t size);

/*
 * Finds one partition: the abide.conf override, else by PARTLABEL in the
 * partition table of Disk= (when set) or of every block device in
 * /sys/block. Exactly one match is required.
 */
int slot_partition_find(const AbideConfig *c, Slot slot, SlotPart part, SlotPartition *ret);
/* All of a slot's partitions; ret is all-or-nothing. */
int slot_partitions_find(const AbideConfig *c, Slot slot, SlotPartition ret[static _SLOT_PART_MAX]);
/* abide-data. */
int slot_data_partition_find(const AbideConfig *c, SlotPartition *ret);
/* The boot partition by PARTLABEL "esp" (what abide-build disk names it), for boot loaders that
 * name no partition (U-Boot); same search. */
int slot_boot_partition_find(const AbideConfig *c, SlotPartition *ret);
/* By PARTUUID (e.g. LoaderDevicePartUUID), same search; -ENOENT when absent. */
int slot_partition_find_by_uuid(const AbideConfig *c, const char *uuid, SlotPartition *ret);

/* The whole disk a partition device node belongs to ("/dev/vda1" -> "/dev/vda"), from sysfs. */
int slot_partition_parent_disk(const char *node, char **ret_disk);

/* The disk holding the partition with that PARTUUID (any case), e.g. the ESP
 * LoaderDevicePartUUID names. -ENOENT while the partition or its device node
 * is not there (yet). */
int slot_disk_of_partuuid(const AbideConfig *c, const char *uuid, char **ret_disk);

/*
 * Opens a partition (flags as open(2)) and returns the fd with the usable
 * byte range: *ret_offset is where the partition starts in the fd,
 * *ret_size its size (resolved for devices and files).
 */
int slot_partition_open(const SlotPartition *p, int flags, uint64_t *ret_offset, uint64_t *ret_size);
