/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <stdbool.h>

#include "layers.h"

/*
 * Writes archive entries into the staging tree with archive_write_disk,
 * after checking and rewriting each entry's name (and hard link target)
 * with staging-path. archive_write_disk works relative to the current
 * directory, so the writer changes into the tree while open and back when
 * closed or freed.
 */
typedef struct LayerWriter LayerWriter;

int layer_writer_open(const char *label, const char *staging_dir, LayerProgressFn progress, void *userdata,
                      LayerWriter **ret);

/* The staging tree, for whiteout handling. */
int layer_writer_root_fd(LayerWriter *w);
const char *layer_writer_label(LayerWriter *w);

/* OCI semantics: a non-directory entry over a directory removes the directory
 * and its contents first (tar and deb layers refuse, as tar and dpkg do). */
void layer_writer_set_replace_dirs(LayerWriter *w, bool b);

/* Checks e, writes it, copies its data from src (archive_read_data_block). */
int layer_writer_entry(LayerWriter *w, struct archive_entry *e, struct archive *src);

/* Writes every entry of an opened archive reader; OCI whiteout entries
 * (.wh.*) are skipped when skip_whiteouts. */
int layer_writer_copy(LayerWriter *w, struct archive *in, bool skip_whiteouts);

/* Finishes pending directory metadata; the writer must still be freed. */
int layer_writer_close(LayerWriter *w);
LayerWriter *layer_writer_free(LayerWriter *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(LayerWriter *, layer_writer_free);

/* Names an entry would-be-outside error: "layer L: entry 'N' would land outside the image (why)". */
int layer_entry_error(const char *label, const char *entry, int r);

static inline void archive_read_freep(struct archive **a) {
        if (*a)
                archive_read_free(*a);
}

/* Reader for tar payloads: every compression filter, tar formats. */
int layer_tar_reader_new(struct archive **ret);
