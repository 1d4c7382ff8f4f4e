/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "slot/config.h"
#include "slot/slot-discover.h"

/* The partitions one boot needs. */
typedef struct InitPartitions {
        SlotPartition slot[_SLOT_PART_MAX];  /* root, verity, verity-sig of the booted slot */
        SlotPartition data;                  /* abide-data */
} InitPartitions;

void init_partitions_done(InitPartitions *p);

/*
 * Finds the slot's partitions and abide-data by PARTLABEL (lib/slot), on
 * c->disk or every block device, polling until all four are there or
 * wait_sec passed: virtio disks and their partition nodes show up
 * asynchronously after the driver loads. A partition seen only as a byte
 * range of its disk (no device node yet) counts as not there unless
 * allow_ranges (test mode, disk image files). Ambiguous labels fail at once.
 *
 * With esp_uuid (LoaderDevicePartUUID: the ESP the loader started from) and
 * no Disk= in c, only the disk holding that ESP is searched, so another
 * attached disk with abide labels (a USB reflash stick, a disk of another
 * build) can neither be booted by mistake nor make the labels ambiguous. A
 * byte-identical copy of the same disk has the same ESP UUID: that fails
 * (-ENOTUNIQ), never guessed (docs/boot.md, step 4).
 */
int init_discover(const AbideConfig *c, Slot slot, unsigned wait_sec, bool allow_ranges, const char *esp_uuid,
                  InitPartitions *ret);
