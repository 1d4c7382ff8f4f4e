/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

/*
 * The version a unified kernel image names in its .osrel section, as
 * systemd-boot shows and sorts type #2 entries by: IMAGE_VERSION=, else
 * VERSION=, VERSION_ID=, BUILD_ID=. The PE headers are read with every
 * offset checked against the file; nothing here trusts the file (the
 * signature is checked elsewhere, crypto/authenticode.h).
 */

/* -ENOENT: no .osrel or no version in it; -EBADMSG: not a PE image or a section outside the file. */
int uki_read_version(const char *path, char **ret);
/* The same from a .osrel text (pure; for tests). */
int uki_osrel_version(const char *text, size_t len, char **ret);
