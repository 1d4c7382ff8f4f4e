/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <time.h>

#include "bundle/manifest.h"

/*
 * The layout of the abide-data file system, relative to its root. abide-init
 * mounts it, bind-mounts var/ on /var and overlays /etc with upper and work
 * dirs etc-overlay/upper and etc-overlay/work; so the running system's
 * /etc/abide/... is etc-overlay/upper/abide/... here.
 */
#define DISK_DATA_VAR "var"
#define DISK_DATA_STATE_DIR "var/lib/abide"
#define DISK_DATA_ETC_UPPER "etc-overlay/upper"
#define DISK_DATA_ETC_WORK "etc-overlay/work"

/*
 * Makes an ext4 file system of size bytes in the new file path with
 * `mkfs.ext4 -d` (no mount): the directories above and /etc/abide/abide.conf
 * with local settings only. No trust anchor: the device trusts the CA in its
 * verified root (/usr/lib/abide/keys), never one on this writable partition
 * (docs/trust.md). workdir holds the tree. Every inode's times are epoch
 * (mke2fs under E2FSPROGS_FAKE_TIME=epoch, set by the caller; the copied
 * files' times set again with debugfs, since mke2fs copies each staged
 * file's change time, which is the clock's): equal inputs, equal bytes.
 */
int disk_data_make(const char *path, uint64_t size, const char *uuid, const Manifest *m, time_t epoch,
                   const char *workdir);
