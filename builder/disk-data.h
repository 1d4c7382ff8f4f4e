/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

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
 * `mkfs.ext4 -d` (no mount): the directories above, /etc/abide/abide.conf
 * and /etc/abide/keys/ with the CA (a PEM file becomes factory-ca.pem; a
 * directory's *.pem and *.crt files are copied as factory-NAME). workdir holds the tree.
 */
int disk_data_make(const char *path, uint64_t size, const char *uuid, const Manifest *m, const char *ca_path,
                   const char *workdir);
