/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#define INIT_VERITY_NAME "abide-root"

/*
 * Activates dm-verity read-only as /dev/mapper/<name> through libcryptsetup:
 * the hash device's superblock gives the parameters, root_hash_hex (the
 * one whose signature verified, nothing else) the root, and a corrupt block
 * restarts the machine (CRYPT_ACTIVATE_RESTART_ON_CORRUPTION), which burns
 * a boot try. *ret_node gets the device node to mount: /dev/mapper/<name>,
 * or /dev/dm-N when nothing made the mapper link (no udev).
 */
int init_verity_activate(const char *data_dev, const char *hash_dev, const char *root_hash_hex, const char *name,
                         char **ret_node);
