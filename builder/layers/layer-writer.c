/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "layer-writer.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "staging-path.h"

/* Numeric owners are kept as they are (no name lookup on the build machine);
 * the SECURE_* flags are a second line behind staging-path's own checks. */
#define LAYER_WRITE_FLAGS                                                                          \
        (ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR | \
         ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_UNLINK | ARCHIVE_EXTRACT_SECURE_NODOTDOT |            \
         ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS)

struct LayerWriter {
        char *label;
        int root_fd;
        int saved_cwd;
        struct archive *disk;
        LayerProgressFn progress;
        void *userdata;
        uint64_t n_entries, n_bytes;
        bool in_tree;
        bool replace_dirs;
};

int layer_writer_open(const char *label, const char *staging_dir, LayerProgressFn progress, void *userdata,
                      LayerWriter **ret) {
        _cleanup_(layer_writer_freep) LayerWriter *w = calloc(1, sizeof *w);
        if (!w)
                return err_set(ENOMEM, "out of memory");
        w->root_fd = w->saved_cwd = -EBADF;
        w->progress = progress;
        w->userdata = userdata;
        w->label = strdup(label);
        if (!w->label)
                return err_set(ENOMEM, "out of memory");

        w->root_fd = open(staging_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (w->root_fd < 0)
                return err_set(errno, "staging directory %s: %m", staging_dir);
        w->saved_cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (w->saved_cwd < 0)
                return err_set(errno, "cannot open the current directory: %m");

        w->disk = archive_write_disk_new();
        if (!w->disk)
                return err_set(ENOMEM, "out of memory");
        if (archive_write_disk_set_options(w->disk, LAYER_WRITE_FLAGS) != ARCHIVE_OK)
                return err_set(EIO, "archive_write_disk: %s", archive_error_string(w->disk));

        if (fchdir(w->root_fd) < 0)
                return err_set(errno, "cannot enter %s: %m", staging_dir);
        w->in_tree = true;

        *ret = TAKE_PTR(w);
        return 0;
}

int layer_writer_root_fd(LayerWriter *w) {
        return w->root_fd;
}

const char *layer_writer_label(LayerWriter *w) {
        return w->label;
}

void layer_writer_set_replace_dirs(LayerWriter *w, bool b) {
        w->replace_dirs = b;
}

/* archive_write_disk's UNLINK only rmdir()s, so a non-empty directory would
 * make it fail; an OCI changeset's non-directory entry replaces the lower
 * layers' directory with all it holds (image-spec layer.md, "Changeset over
 * existing files"), as a file in an overlayfs upper hides the directory. */
static int writer_replace_dir(LayerWriter *w, struct archive_entry *e, const char *name, const char *path) {
        struct stat st;

        if (!w->replace_dirs || archive_entry_filetype(e) == AE_IFDIR)
                return 0;
        if (fstatat(w->root_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
                return 0;
        int r = staging_path_remove(w->root_fd, path, false);
        if (r < 0)
                return err_prefix(r, "layer %s: entry '%s': cannot replace the directory", w->label, name);
        return 0;
}

int layer_entry_error(const char *label, const char *entry, int r) {
        char why[512];

        (void) snprintf(why, sizeof why, "%s", err_message(r));
        if (r == -EXDEV || r == -EPERM)
                return err_set(r, "layer %s: entry '%s' would land outside the image (%s)", label, entry, why);
        return err_set(r, "layer %s: entry '%s': %s", label, entry, why);
}

/* A directory entry over a symlink to a directory inside the tree goes
 * through the link (as dpkg does for bin -> usr/bin); otherwise the symlink
 * is replaced by the directory. */
static char *follow_dir_symlink(int root_fd, const char *norm) {
        char *followed = NULL;
        struct stat st;

        if (staging_path_resolve(root_fd, norm, true, &followed) < 0) {
                err_clear();
                return NULL;
        }
        if (fstatat(root_fd, followed, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode)) {
                free(followed);
                return NULL;
        }
        return followed;
}

static int writer_hardlink(LayerWriter *w, struct archive_entry *e, const char *name, const char *target) {
        _cleanup_free_ char *norm = NULL, *path = NULL;
        char why[512];
        struct stat st;

        int r = staging_path_normalize(target, &norm);
        if (r >= 0)
                r = staging_path_resolve(w->root_fd, norm, false, &path);
        if (r < 0) {
                (void) snprintf(why, sizeof why, "%s", err_message(r));
                return err_set(r, "layer %s: entry '%s' is a hard link to '%s', outside the image (%s)", w->label,
                               name, target, why);
        }
        if (fstatat(w->root_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return err_set(errno, "layer %s: entry '%s': hard link target '%s' is not in the image", w->label,
                               name, target);
        if (S_ISDIR(st.st_mode))
                return err_set(EISDIR, "layer %s: entry '%s': hard link target '%s' is a directory", w->label, name,
                               target);
        archive_entry_set_hardlink(e, path);
        return 0;
}

typedef struct Xattr {
        char *name;
        void *value;
        size_t size;
} Xattr;

static int xattr_cmp(const void *a, const void *b) {
        return strcmp(((const Xattr *) a)->name, ((const Xattr *) b)->name);
}

/* archive_write_disk sets the extended attributes in the entry's order, and
 * ext4 and xfs list them in the order they were set, which mkfs.erofs and
 * mksquashfs copy into the image: the same attributes given in another order
 * (setcap after setfattr, another tar) would give other bytes. By name, then. */
static int writer_sort_xattrs(struct archive_entry *e) {
        int n = archive_entry_xattr_reset(e);
        if (n < 2)
                return 0;

        _cleanup_free_ Xattr *x = calloc(n, sizeof *x);
        if (!x)
                return -ENOMEM;
        int k = 0, r = 0;
        const char *name;
        const void *value;
        size_t size;
        while (k < n && archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
                Xattr *a = &x[k++];
                a->name = strdup(name);
                a->value = malloc(size ?: 1);
                a->size = size;
                if (!a->name || !a->value) {
                        r = err_set(ENOMEM, "out of memory");
                        break;
                }
                if (size > 0)
                        memcpy(a->value, value, size);
        }
        if (r >= 0) {
                qsort(x, k, sizeof *x, xattr_cmp);
                archive_entry_xattr_clear(e);
                for (int i = 0; i < k; i++)
                        archive_entry_xattr_add_entry(e, x[i].name, x[i].value, x[i].size);
        }
        for (int i = 0; i < k; i++) {
                free(x[i].name);
                free(x[i].value);
        }
        return r;
}

int layer_writer_entry(LayerWriter *w, struct archive_entry *e, struct archive *src) {
        _cleanup_free_ char *name = NULL, *norm = NULL, *path = NULL;
        int r;

        if (!archive_entry_pathname(e))
                return err_set(EINVAL, "layer %s: entry without a name", w->label);
        name = strdup(archive_entry_pathname(e));
        if (!name)
                return err_set(ENOMEM, "out of memory");

        r = staging_path_normalize(name, &norm);
        if (r < 0)
                return layer_entry_error(w->label, name, r);
        /* The image root's own metadata comes from the build, not from a layer. */
        if (streq(norm, "."))
                return 0;

        r = staging_path_resolve(w->root_fd, norm, false, &path);
        if (r < 0)
                return layer_entry_error(w->label, name, r);
        if (archive_entry_filetype(e) == AE_IFDIR) {
                char *followed = follow_dir_symlink(w->root_fd, path);
                if (followed) {
                        free(path);
                        path = followed;
                }
        }
        /* "/" + path must be a path the image's system can open (and tools on the build
         * machine, under the staging directory, as nearly as can be told here). */
        if (strlen(path) >= PATH_MAX - 1)
                return err_set(ENAMETOOLONG, "layer %s: entry '%.64s...': its path in the image is longer than %d bytes",
                               w->label, name, PATH_MAX - 1);
        archive_entry_set_pathname(e, path);

        const char *hl = archive_entry_hardlink(e);
        if (hl) {
                _cleanup_free_ char *target = strdup(hl);
                if (!target)
                        return err_set(ENOMEM, "out of memory");
                r = writer_hardlink(w, e, name, target);
                if (r < 0)
                        return r;
        }
        r = writer_replace_dir(w, e, name, path);
        if (r < 0)
                return r;
        r = writer_sort_xattrs(e);
        if (r < 0)
                return r;

        r = archive_write_header(w->disk, e);
        if (r < ARCHIVE_OK)
                return err_set(EIO, "layer %s: entry '%s': %s", w->label, name, archive_error_string(w->disk));

        if (archive_entry_size(e) > 0)
                for (;;) {
                        const void *buf;
                        size_t size;
                        la_int64_t offset;

                        r = archive_read_data_block(src, &buf, &size, &offset);
                        if (r == ARCHIVE_EOF)
                                break;
                        if (r < ARCHIVE_OK)
                                return err_set(EIO, "layer %s: entry '%s': %s", w->label, name,
                                               archive_error_string(src));
                        if (archive_write_data_block(w->disk, buf, size, offset) < ARCHIVE_OK)
                                return err_set(EIO, "layer %s: entry '%s': %s", w->label, name,
                                               archive_error_string(w->disk));
                        w->n_bytes += size;
                }

        if (archive_write_finish_entry(w->disk) < ARCHIVE_OK)
                return err_set(EIO, "layer %s: entry '%s': %s", w->label, name, archive_error_string(w->disk));

        w->n_entries++;
        if (w->progress)
                w->progress(w->label, path, w->n_entries, w->n_bytes, w->userdata);
        return 0;
}

static bool is_whiteout(const char *name) {
        const char *slash = strrchr(name, '/');
        const char *base = slash ? slash + 1 : name;
        return strncmp(base, ".wh.", 4) == 0;
}

int layer_writer_copy(LayerWriter *w, struct archive *in, bool skip_whiteouts) {
        for (;;) {
                struct archive_entry *e;

                int r = archive_read_next_header(in, &e);
                if (r == ARCHIVE_EOF)
                        return 0;
                if (r < ARCHIVE_WARN)
                        return err_set(EIO, "layer %s: %s", w->label, archive_error_string(in));
                if (skip_whiteouts && archive_entry_pathname(e) && is_whiteout(archive_entry_pathname(e)))
                        continue;
                r = layer_writer_entry(w, e, in);
                if (r < 0)
                        return r;
        }
}

static int writer_leave(LayerWriter *w) {
        if (!w->in_tree)
                return 0;
        w->in_tree = false;
        if (fchdir(w->saved_cwd) < 0)
                return err_set(errno, "cannot return to the previous directory: %m");
        return 0;
}

int layer_writer_close(LayerWriter *w) {
        /* Directory modes and mtimes are set here, after their contents. */
        if (archive_write_close(w->disk) != ARCHIVE_OK)
                return err_set(EIO, "layer %s: %s", w->label, archive_error_string(w->disk));
        return writer_leave(w);
}

LayerWriter *layer_writer_free(LayerWriter *w) {
        if (!w)
                return NULL;
        if (w->disk)
                archive_write_free(w->disk);
        (void) writer_leave(w);
        safe_close(w->root_fd);
        safe_close(w->saved_cwd);
        free(w->label);
        free(w);
        return NULL;
}

int layer_tar_reader_new(struct archive **ret) {
        struct archive *a = archive_read_new();
        if (!a)
                return err_set(ENOMEM, "out of memory");
        if (archive_read_support_filter_all(a) < ARCHIVE_WARN || archive_read_support_format_tar(a) != ARCHIVE_OK) {
                int r = err_set(EIO, "libarchive: %s", archive_error_string(a));
                archive_read_free(a);
                return r;
        }
        *ret = a;
        return 0;
}
