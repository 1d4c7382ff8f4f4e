/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "basic/error.h"
#include "layer-internal.h"

static void linkresolver_freep(struct archive_entry_linkresolver **lr) {
        if (*lr)
                archive_entry_linkresolver_free(*lr);
}

static void archive_entry_freep(struct archive_entry **e) {
        if (*e)
                archive_entry_free(*e);
}

/* A directory on the build machine, read with archive_read_disk; files with
 * several links become hard link entries through the link resolver. */
int layer_apply_tree(LayerWriter *w, const char *dir) {
        _cleanup_(archive_read_freep) struct archive *a = NULL;
        _cleanup_(linkresolver_freep) struct archive_entry_linkresolver *lr = NULL;
        _cleanup_free_ char *top = strdup(dir);
        const char *label = layer_writer_label(w);

        if (!top)
                return err_set(ENOMEM, "out of memory");
        for (size_t n = strlen(top); n > 1 && top[n - 1] == '/'; n--)
                top[n - 1] = 0;
        if (streq(top, "/"))
                return err_set(EINVAL, "layer %s: the build machine's root is not a layer", label);
        size_t toplen = strlen(top);

        a = archive_read_disk_new();
        lr = archive_entry_linkresolver_new();
        if (!a || !lr)
                return err_set(ENOMEM, "out of memory");
        archive_entry_linkresolver_set_strategy(lr, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
        if (archive_read_disk_set_symlink_physical(a) != ARCHIVE_OK ||
            archive_read_disk_set_behavior(a, ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS) != ARCHIVE_OK ||
            archive_read_disk_open(a, top) != ARCHIVE_OK)
                return err_set(EIO, "layer %s: %s", label, archive_error_string(a));

        for (;;) {
                _cleanup_(archive_entry_freep) struct archive_entry *e = archive_entry_new();
                struct archive_entry *spare = NULL;

                if (!e)
                        return err_set(ENOMEM, "out of memory");
                int r = archive_read_next_header2(a, e);
                if (r == ARCHIVE_EOF)
                        return 0;
                if (r < ARCHIVE_OK)
                        return err_set(EIO, "layer %s: %s", label, archive_error_string(a));
                if (archive_entry_filetype(e) == AE_IFDIR && archive_read_disk_descend(a) != ARCHIVE_OK)
                        return err_set(EIO, "layer %s: %s", label, archive_error_string(a));

                const char *p = archive_entry_pathname(e);
                if (!p || strncmp(p, top, toplen) != 0 || (p[toplen] != '/' && p[toplen] != 0))
                        return err_set(EIO, "layer %s: unexpected path '%s' while reading the tree", label, p ?: "");
                const char *rel = p[toplen] ? p + toplen + 1 : ".";
                _cleanup_free_ char *relcopy = strdup(rel);
                if (!relcopy)
                        return err_set(ENOMEM, "out of memory");
                archive_entry_set_pathname(e, relcopy);

                /* A socket is a live process's endpoint, no file: left out, as tar leaves it
                 * (archive_write_disk would make an empty executable file of it). */
                if (archive_entry_filetype(e) == AE_IFSOCK)
                        continue;

                archive_entry_linkify(lr, &e, &spare);
                if (spare)
                        archive_entry_free(spare);
                if (!e)
                        continue;
                r = layer_writer_entry(w, e, a);
                if (r < 0)
                        return r;
        }
}
