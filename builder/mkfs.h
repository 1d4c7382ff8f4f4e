/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

/* Makes a read-only filesystem image of dir with mkfs.erofs or mksquashfs,
 * reproducibly: every timestamp is `epoch`, the erofs UUID is `uuid`. erofs
 * images are delta-friendly: each file's data on its own 4 KiB blocks.
 * shared_inodes: dir's non-directories are hard links to files that are not
 * ours (layer_link_tree()), so only the directories' times are touched. */
int mkfs_image(const char *filesystem, const char *compression, const char *dir, bool shared_inodes,
               const char *out_path, time_t epoch, const char *uuid);

/* A UUID for the filesystem, derived from the staging tree's names, modes,
 * owners and sizes plus seed, so the same input gives the same UUID. */
int mkfs_derive_uuid(const char *dir, const char *seed, char ret[37]);
