/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>

#include "basic/error.h"
#include "layer-internal.h"

#define READ_BLOCK (64 * 1024)

static int apply_tar(LayerWriter *w, const char *path) {
        _cleanup_(archive_read_freep) struct archive *a = NULL;

        int r = layer_tar_reader_new(&a);
        if (r < 0)
                return r;
        if (archive_read_open_filename(a, path, READ_BLOCK) != ARCHIVE_OK)
                return err_set(EIO, "layer %s: %s", layer_writer_label(w), archive_error_string(a));
        return layer_writer_copy(w, a, false);
}

typedef struct DebMember {
        struct archive *outer;
        char buf[READ_BLOCK];
} DebMember;

/* Streams the data.tar.* member of the ar archive into the tar reader. */
static la_ssize_t deb_member_read(struct archive *inner, void *userdata, const void **ret) {
        DebMember *m = userdata;

        la_ssize_t n = archive_read_data(m->outer, m->buf, sizeof m->buf);
        if (n < 0) {
                archive_set_error(inner, EIO, "%s", archive_error_string(m->outer));
                return -1;
        }
        *ret = m->buf;
        return n;
}

static int apply_deb(LayerWriter *w, const char *path) {
        _cleanup_(archive_read_freep) struct archive *outer = NULL, *inner = NULL;
        _cleanup_free_ DebMember *m = NULL;
        const char *label = layer_writer_label(w);
        struct archive_entry *e;
        bool first = true;
        int r;

        outer = archive_read_new();
        if (!outer)
                return err_set(ENOMEM, "out of memory");
        if (archive_read_support_format_ar(outer) != ARCHIVE_OK ||
            archive_read_open_filename(outer, path, READ_BLOCK) != ARCHIVE_OK)
                return err_set(EIO, "layer %s: %s", label, archive_error_string(outer));

        for (;; first = false) {
                r = archive_read_next_header(outer, &e);
                if (r == ARCHIVE_EOF)
                        return err_set(ENOENT, "layer %s: no data.tar member (not a Debian package?)", label);
                if (r < ARCHIVE_WARN)
                        return err_set(EIO, "layer %s: %s", label, archive_error_string(outer));
                const char *name = archive_entry_pathname(e) ?: "";
                if (first && !streq(name, "debian-binary"))
                        return err_set(EINVAL, "layer %s: not a Debian package (first member '%s', expected debian-binary)",
                                       label, name);
                if (strncmp(name, "data.tar", 8) == 0)
                        break;
        }

        m = calloc(1, sizeof *m);
        if (!m)
                return err_set(ENOMEM, "out of memory");
        m->outer = outer;
        r = layer_tar_reader_new(&inner);
        if (r < 0)
                return r;
        if (archive_read_open(inner, m, NULL, deb_member_read, NULL) != ARCHIVE_OK)
                return err_set(EIO, "layer %s: data.tar: %s", label, archive_error_string(inner));
        return layer_writer_copy(w, inner, false);
}

int layer_apply(const RecipeLayer *l, const char *staging_dir, LayerProgressFn progress, void *userdata) {
        _cleanup_(layer_writer_freep) LayerWriter *w = NULL;
        _cleanup_free_ char *label = NULL;
        int r;

        if (asprintf(&label, "%s:%s", layer_type_to_string(l->type) ?: "?", l->path) < 0)
                return err_set(ENOMEM, "out of memory");
        /* The writer works from inside the staging tree, so sources need absolute paths. */
        _cleanup_free_ char *path = realpath(l->path, NULL);
        if (!path)
                return err_set(errno, "layer %s: %m", label);

        /* An OCI layout is several layers, each with its own writer. */
        if (l->type == LAYER_OCI)
                return layer_apply_oci(path, l->architecture, staging_dir, progress, userdata);

        r = layer_writer_open(label, staging_dir, progress, userdata, &w);
        if (r < 0)
                return r;

        switch (l->type) {
        case LAYER_TAR:
                r = apply_tar(w, path);
                break;
        case LAYER_DEB:
                r = apply_deb(w, path);
                break;
        case LAYER_TREE:
                r = layer_apply_tree(w, path);
                break;
        default:
                return err_set(EINVAL, "layer %s: unknown layer type", label);
        }
        if (r < 0)
                return r;
        return layer_writer_close(w);
}
