/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <strings.h>

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

#define DEB_CONTROL_MAX (1024 * 1024)

/* The Architecture: field of the control file in the current (control.tar.*) member. */
static int deb_architecture(const char *label, DebMember *m, char **ret) {
        _cleanup_(archive_read_freep) struct archive *a = NULL;
        _cleanup_free_ char *text = NULL;
        struct archive_entry *e;

        int r = layer_tar_reader_new(&a);
        if (r < 0)
                return r;
        if (archive_read_open(a, m, NULL, deb_member_read, NULL) != ARCHIVE_OK)
                return err_set(EIO, "layer %s: control.tar: %s", label, archive_error_string(a));
        for (;;) {
                r = archive_read_next_header(a, &e);
                if (r == ARCHIVE_EOF)
                        return err_set(EBADMSG, "layer %s: control.tar has no control file", label);
                if (r < ARCHIVE_WARN)
                        return err_set(EIO, "layer %s: control.tar: %s", label, archive_error_string(a));
                const char *name = archive_entry_pathname(e) ?: "";
                if (streq(name, "./control") || streq(name, "control"))
                        break;
        }
        la_int64_t size = archive_entry_size(e);
        if (size < 0 || size > DEB_CONTROL_MAX)
                return err_set(EBADMSG, "layer %s: control file of %lld bytes", label, (long long) size);
        text = malloc((size_t) size + 1);
        if (!text)
                return err_set(ENOMEM, "out of memory");
        la_ssize_t n = archive_read_data(a, text, (size_t) size);
        if (n != size)
                return err_set(EIO, "layer %s: control file: %s", label, n < 0 ? archive_error_string(a) : "truncated");
        text[size] = 0;

        for (char *line = text; line && *line;) {
                char *next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                if (strncasecmp(line, "Architecture:", 13) == 0) {
                        const char *v = line + 13;
                        v += strspn(v, " \t");
                        char *s = strndup(v, strcspn(v, " \t\r"));
                        if (!s)
                                return err_set(ENOMEM, "out of memory");
                        *ret = s;
                        return 0;
                }
                line = next;
        }
        return err_set(EBADMSG, "layer %s: the package's control file has no Architecture: field", label);
}

static int apply_deb(LayerWriter *w, const char *path, Architecture architecture) {
        _cleanup_(archive_read_freep) struct archive *outer = NULL, *inner = NULL;
        _cleanup_free_ DebMember *m = NULL;
        _cleanup_free_ char *deb_arch = NULL;
        const char *label = layer_writer_label(w);
        const ArchInfo *arch = arch_info(architecture);
        struct archive_entry *e;
        bool first = true;
        int r;

        if (!arch)
                return err_set(EINVAL, "layer %s: unknown architecture", label);
        m = calloc(1, sizeof *m);
        if (!m)
                return err_set(ENOMEM, "out of memory");

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
                /* Another architecture's programs would be in the image, and a glob such as
                 * busybox-static_*.deb picks arm64 over amd64 of one version: refused. */
                if (strncmp(name, "control.tar", 11) == 0) {
                        m->outer = outer;
                        r = deb_architecture(label, m, &deb_arch);
                        if (r < 0)
                                return r;
                        if (!streq(deb_arch, "all") && !streq(deb_arch, arch->deb_arch))
                                return err_set(EXDEV, "layer %s: a package for %s, the image is %s (%s)", label,
                                               deb_arch, arch->name, arch->deb_arch);
                }
                if (strncmp(name, "data.tar", 8) == 0)
                        break;
        }
        if (!deb_arch)
                return err_set(EBADMSG, "layer %s: no control.tar member before data.tar (not a Debian package?)", label);
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
                r = apply_deb(w, path, l->architecture);
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
