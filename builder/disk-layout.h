/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "bundle/manifest.h"

/* The factory disk's partitions, in on-disk order (DESIGN.md "Disk layout"). */
typedef enum DiskPartId {
        DISK_PART_ESP,
        DISK_PART_ROOT_A,
        DISK_PART_VERITY_A,
        DISK_PART_VERITY_SIG_A,
        DISK_PART_ROOT_B,
        DISK_PART_VERITY_B,
        DISK_PART_VERITY_SIG_B,
        DISK_PART_DATA,
        _DISK_PART_MAX,
} DiskPartId;

#define DISK_ALIGN (UINT64_C(1) << 20)
/* FAT32 needs 65525 clusters at least; mkfs.vfat's 512-byte clusters on 32 MiB leave 64496 (it
 * warns, mtools fails, a firmware may read it as FAT16). 33 MiB is the smallest sound one. */
#define DISK_ESP_MIN (UINT64_C(33) << 20)
#define DISK_DATA_MIN (UINT64_C(16) << 20)
#define DISK_DATA_DEFAULT (UINT64_C(256) << 20)
#define DISK_VERITY_SIG_MIN (UINT64_C(16) << 10)

typedef struct DiskPart {
        const char *label;     /* GPT PARTLABEL */
        const char *type;      /* Discoverable Partitions Specification type GUID */
        char uuid[37];
        uint64_t offset;       /* bytes, DISK_ALIGN aligned */
        uint64_t size;
} DiskPart;

typedef struct DiskLayout {
        char disk_uuid[37];
        uint64_t disk_size;
        DiskPart parts[_DISK_PART_MAX];
        bool parts_no_auto[_DISK_PART_MAX];   /* GPT attribute 63: tools do not use it on their own */
} DiskLayout;

/* Requested sizes in bytes; 0 = derive from the bundle. */
typedef struct DiskSizes {
        uint64_t disk;         /* abide-data grows to fill it */
        uint64_t esp;
        uint64_t slot;         /* each abide-root-* partition */
        uint64_t data;
} DiskSizes;

/* "4096", "512K", "64M", "2G", "1T" (binary units, optional "iB"/"B"). */
int disk_parse_size(const char *s, uint64_t *ret);

/* Bytes of a veritysetup hash device (superblock and tree) for data_size bytes of data. */
uint64_t disk_verity_hash_size(uint64_t data_size, uint32_t data_block_size, uint32_t hash_block_size);

/*
 * Sizes, offsets and UUIDs of every partition for manifest m. Slot A's root
 * and verity PARTUUIDs are the halves of the root hash (as the DPS and
 * systemd-dissect expect); every other UUID is derived from the root hash
 * and the label, so a bundle always gives the same disk. Too small
 * requested sizes fail naming the option and the size needed.
 */
int disk_layout_compute(const Manifest *m, const DiskSizes *req, DiskLayout *ret);

/* The layout as an sfdisk script (GPT, sizes in 512-byte sectors). */
int disk_layout_to_sfdisk(const DiskLayout *l, char **ret);
