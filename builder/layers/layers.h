/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "recipe.h"

/*
 * Builds the staging tree of an image: layers applied in order, then the
 * Binary= programs. Runs as root: ownership, modes, xattrs, ACLs, hard links,
 * symlinks, device nodes and mtimes are kept. Nothing is ever written
 * outside staging_dir: an entry that would land outside (an absolute name,
 * "..", a symlink on disk pointing out, a hard link to a path outside) fails
 * the whole layer with a message naming the layer and the entry:
 *     layer tar:/x/evil.tar: entry '../etc/passwd' would land outside the image
 */

/* Called once per entry written (entry is the path inside the image);
 * n_entries and n_bytes count what this layer wrote so far. */
typedef void (*LayerProgressFn)(const char *layer, const char *entry, uint64_t n_entries, uint64_t n_bytes,
                                void *userdata);

/* Applies one layer into staging_dir (which must exist). progress may be NULL.
 * archive_write_disk writes relative to the working directory, so while a
 * layer is applied (progress calls included) the process's working directory
 * is the staging tree; it is restored before returning. Not thread-safe. */
int layer_apply(const RecipeLayer *l, const char *staging_dir, LayerProgressFn progress, void *userdata);

/* Stages a tree layer (the image's only one) into the empty staging_dir without
 * copying data: directories are made anew with the layer's mode, owner and
 * xattrs, everything else is hard-linked, so the staging tree shares its files'
 * inodes with the layer. Whoever writes into it afterwards must replace files
 * (rename, unlink first), never write through them, and must not change their
 * metadata: mkfs_image() fixes the times with the file system tool's options.
 * -EXDEV when the layer is on another file system, -EOPNOTSUPP for a file whose
 * xattrs are not listed in name order (the copy sets them in that order, and the
 * image keeps the listed order); on any failure staging_dir
 * holds a partial tree to remove before falling back to layer_apply(). */
int layer_link_tree(const RecipeLayer *l, const char *staging_dir);

/* Copies the program at path (an absolute path on the build machine) to the
 * same path in staging_dir, with its shared-library closure (from ldd) and the
 * dynamic loader, each at its own path; symlinks on the way (/lib64/ld-linux...,
 * lib -> usr/lib) are recreated as on the build machine. */
int staging_copy_binary(const char *path, const char *staging_dir);

/* Same, but the program lands at dest (absolute, inside the image); its
 * libraries still land at their own paths. */
int staging_copy_binary_to(const char *path, const char *dest, const char *staging_dir);
/* Copies the file at path to dest in the staging tree as it is (Binary='s
 * copy without the ELF check and the library closure; Recipe File=). */
int staging_copy_file_to(const char *path, const char *dest, const char *staging_dir);
