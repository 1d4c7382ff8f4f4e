/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/macro.h"
#include "bundle/manifest.h"
#include "slot/slot-discover.h"

/* O_DIRECT needs buffers, offsets and lengths aligned to the logical block size; 4 KiB covers all. */
#define INSTALL_ALIGN 4096

/*
 * One partition of the slot being written, held open for the whole install:
 * a block device is opened O_EXCL, which fails while it is mounted or held
 * by device-mapper, and keeps others from claiming it meanwhile.
 */
typedef struct InstallTarget {
        char label[64];   /* "abide-root-b" */
        char *path;
        int fd;           /* O_RDWR; O_DIRECT when direct */
        bool direct;
        bool blockdev;
        dev_t devnum;     /* st_rdev of a block device, st_dev of a file */
        dev_t disk;       /* a partition's whole disk (one flush covers its partitions), or 0 */
        ino_t ino;        /* files only */
        uint64_t size;
} InstallTarget;

void install_target_done(InstallTarget *t);

/*
 * Finds the mount point of devnum in mountinfo text ("/proc/self/mountinfo"
 * format). Returns 1 and the (unescaped) mount point, 0 when not mounted.
 * Pure, for the unit tests.
 */
int mountinfo_find_device(const char *mountinfo, dev_t devnum, char **ret_mountpoint);

/*
 * Opens a partition for writing. Refuses a partition that is mounted
 * (/proc/self/mountinfo), in use (O_EXCL fails: a mount, a dm-verity or
 * other holder), or only reachable as a range of a whole disk (the
 * verification needs its own device node).
 */
int install_target_open(const SlotPartition *p, const char *label, InstallTarget *ret);

/* Whether a and b are the same partition (device number, or file identity). */
bool install_target_same(const InstallTarget *a, const SlotPartition *b);

/* The file a boot payload is written to in a slot's kernel dir on the ESP (the running slot's
 * copies have the same names), NULL for the others. The UKI is staged there, verified, and then
 * renamed into place as the slot's type #2 entry (boot_write()). */
#define UKI_STAGED "uki.efi"
const char *install_role_file(PayloadRole role);
