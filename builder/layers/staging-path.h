/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/*
 * Paths inside the staging tree. Everything the layers write goes through
 * these, so that no archive entry, hard link or symlink on disk can make a
 * write land outside the tree.
 */

/*
 * Checks an archive entry name and returns it relative to the image root,
 * without "./", "//" or a trailing "/" ("." for the root itself).
 * -EPERM for an absolute name, -EXDEV for a ".." component, -EINVAL for an
 * empty name; records the reason ("absolute path", ...).
 */
int staging_path_normalize(const char *name, char **ret);

/*
 * Resolves a normalized path against the tree open at root_fd, following
 * symlinks met on disk on the way, as the kernel would when writing there.
 * A relative symlink that stays inside the tree is followed (so bin ->
 * usr/bin from an earlier layer keeps working); an absolute one or one that
 * climbs out with ".." is refused with -EXDEV and a reason naming it
 * ("through symlink 'evil' -> '/etc'"). The last component is followed only
 * when follow_last. Components that do not exist yet are kept as they are.
 * ret is symlink-free relative to root_fd ("." for the root).
 */
int staging_path_resolve(int root_fd, const char *path, bool follow_last, char **ret);

/* Removes path (not following a symlink there) and, if a directory, all below it.
 * With children_only, empties the directory but keeps it. Missing is fine. */
int staging_path_remove(int root_fd, const char *path, bool children_only);

/* Creates a directory and its missing parents inside the tree (mode 0755). */
int staging_path_mkdir_p(int root_fd, const char *path);
