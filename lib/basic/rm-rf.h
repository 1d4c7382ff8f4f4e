/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Removes path and everything below it, never following symlinks or
 * crossing into other filesystems. Missing path is not an error. */
int rm_rf(const char *path);
