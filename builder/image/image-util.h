/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

static inline const char *strempty(const char *s) {
        return s ?: "";
}

/*
 * Paths below a tree (the staging tree, the initramfs tree), through the
 * layers' staging_path_* rules: a relative symlink that stays inside is
 * followed (lib -> usr/lib), one pointing out is an error; the last
 * component only with follow_last. ret_path is the absolute path to use on
 * the build machine.
 */
int image_resolve_below(const char *root, const char *rel, bool follow_last, char **ret_path);

/* Creates rel and its missing parents below root (0755). */
int image_mkdir_below(const char *root, const char *rel);

/* Writes data to rel below root (atomic, mode), creating the parent directories. */
int image_write_file_below(const char *root, const char *rel, const char *data, mode_t mode);
/* The same for len bytes that may hold a NUL (a DER certificate). */
int image_write_data_below(const char *root, const char *rel, const void *data, size_t len, mode_t mode);

/* Copies the regular file src to dst (created with mode, replaced if there). */
int image_copy_file(const char *src, const char *dst, mode_t mode);
