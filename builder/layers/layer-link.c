/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "basic/error.h"
#include "layers.h"

#define XATTR_LIST_MAX_BYTES (64 * 1024)
#define XATTR_VALUE_MAX_BYTES (64 * 1024)

DEFINE_TRIVIAL_CLEANUP_FUNC(DIR *, closedir);

/* The order the copy leaves a file's xattrs in: archive_write_disk sets the entry's
 * extended attributes (sorted by name, layer-writer.c), then its ACLs, access before
 * default. */
static int xattr_order_cmp(const char *a, const char *b) {
        bool acl_a = strncmp(a, "system.posix_acl_", 17) == 0, acl_b = strncmp(b, "system.posix_acl_", 17) == 0;
        if (acl_a != acl_b)
                return acl_a ? 1 : -1;
        return strcmp(a, b);
}

static int xattr_order_cmp_ptr(const void *a, const void *b) {
        return xattr_order_cmp(*(const char *const *) a, *(const char *const *) b);
}

/* The directory's extended attributes (ACLs included: system.posix_acl_*),
 * as archive_write_disk's XATTR|ACL flags would copy them, and in the order
 * the copy sets them (ext4 lists them in the order they were set, and the
 * image keeps that order). */
static int copy_xattrs(int src, int dst, const char *rel) {
        _cleanup_free_ char *names = malloc(XATTR_LIST_MAX_BYTES), *value = malloc(XATTR_VALUE_MAX_BYTES);
        _cleanup_free_ const char **sorted = NULL;
        size_t n_sorted = 0;

        if (!names || !value)
                return -ENOMEM;
        ssize_t n = flistxattr(src, names, XATTR_LIST_MAX_BYTES);
        if (n < 0)
                return errno == ENOTSUP ? 0 : err_set(errno, "'%s': cannot list extended attributes: %m", rel);
        sorted = calloc((size_t) n + 1, sizeof *sorted);
        if (!sorted)
                return -ENOMEM;
        for (const char *name = names; name < names + n; name += strlen(name) + 1)
                sorted[n_sorted++] = name;
        qsort(sorted, n_sorted, sizeof *sorted, xattr_order_cmp_ptr);
        for (size_t i = 0; i < n_sorted; i++) {
                ssize_t k = fgetxattr(src, sorted[i], value, XATTR_VALUE_MAX_BYTES);
                if (k < 0)
                        return err_set(errno, "'%s': cannot read extended attribute %s: %m", rel, sorted[i]);
                if (fsetxattr(dst, sorted[i], value, (size_t) k, 0) < 0)
                        return err_set(errno, "'%s': cannot set extended attribute %s: %m", rel, sorted[i]);
        }
        return 0;
}

/* A linked inode keeps the order its extended attributes were set in; the
 * image must not depend on it, so one not listed in the copy's order makes the
 * build copy the layer instead. */
static int check_xattr_order(int src, const char *name, const char *rel) {
        _cleanup_free_ char *names = malloc(XATTR_LIST_MAX_BYTES), *path = NULL;

        if (!names || asprintf(&path, "/proc/self/fd/%d/%s", src, name) < 0)
                return -ENOMEM;
        ssize_t n = llistxattr(path, names, XATTR_LIST_MAX_BYTES);
        if (n < 0)
                return errno == ENOTSUP ? 0 : err_set(errno, "'%s': cannot list extended attributes: %m", rel);
        const char *prev = NULL;
        for (const char *p = names; p < names + n; prev = p, p += strlen(p) + 1)
                if (prev && xattr_order_cmp(prev, p) > 0)
                        return err_set(EOPNOTSUPP, "'%s': extended attributes not in the copy's order", rel);
        return 0;
}

static int link_dir(int src, int dst, const char *rel, dev_t dev);

static int link_entry(int src, int dst, const char *rel, const char *name, dev_t dev) {
        _cleanup_free_ char *child = NULL;
        struct stat st;

        if (asprintf(&child, "%s/%s", rel, name) < 0)
                return -ENOMEM;
        if (fstatat(src, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return err_set(errno, "'%s': %m", child);

        if (!S_ISDIR(st.st_mode)) {
                /* Sockets: the copy leaves them out (layer_apply_tree()). */
                if (S_ISSOCK(st.st_mode))
                        return err_set(EOPNOTSUPP, "'%s' is a socket", child);
                int r = check_xattr_order(src, name, child);
                if (r < 0)
                        return r;
                /* Symlinks and device nodes too: linkat() without AT_SYMLINK_FOLLOW links the entry itself. */
                if (linkat(src, name, dst, name, 0) < 0)
                        return err_set(errno, "cannot link '%s' into the staging tree: %m", child);
                return 0;
        }

        /* Writable by us until its contents are in, then the layer's mode. */
        if (mkdirat(dst, name, 0700) < 0)
                return err_set(errno, "cannot create '%s' in the staging tree: %m", child);
        _cleanup_close_ int s = openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (s < 0)
                return err_set(errno, "'%s': %m", child);
        _cleanup_close_ int d = openat(dst, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (d < 0)
                return err_set(errno, "'%s' in the staging tree: %m", child);
        /* A mount point is kept, not entered, as the copy's NO_TRAVERSE_MOUNTS does. */
        if (st.st_dev == dev) {
                int r = link_dir(s, d, child, dev);
                if (r < 0)
                        return r;
        }
        int r = copy_xattrs(s, d, child);
        if (r < 0)
                return r;
        /* chown first: it may clear set-id bits that fchmod then restores. */
        if (fchown(d, st.st_uid, st.st_gid) < 0 || fchmod(d, st.st_mode & 07777) < 0)
                return err_set(errno, "'%s' in the staging tree: %m", child);
        return 0;
}

static int link_dir(int src, int dst, const char *rel, dev_t dev) {
        int fd = dup(src);
        if (fd < 0)
                return err_set(errno, "'%s': %m", rel);
        _cleanup_(closedirp) DIR *d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return err_set(errno, "'%s': %m", rel);
        }
        for (;;) {
                errno = 0;
                struct dirent *de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return err_set(errno, "cannot read directory '%s': %m", rel);
                        return 0;
                }
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                int r = link_entry(src, dst, rel, de->d_name, dev);
                if (r < 0)
                        return r;
        }
}

int layer_link_tree(const RecipeLayer *l, const char *staging_dir) {
        _cleanup_close_ int src = -EBADF, dst = -EBADF;
        struct stat s, d;

        if (l->type != LAYER_TREE)
                return err_set(EINVAL, "layer %s: only a tree layer can be linked", l->path);
        _cleanup_free_ char *path = realpath(l->path, NULL);
        if (!path)
                return err_set(errno, "layer tree:%s: %m", l->path);
        if (streq(path, "/"))
                return err_set(EINVAL, "layer tree:%s: the build machine's root is not a layer", l->path);
        src = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (src < 0 || fstat(src, &s) < 0)
                return err_set(errno, "layer tree:%s: %m", path);
        dst = open(staging_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dst < 0 || fstat(dst, &d) < 0)
                return err_set(errno, "staging directory %s: %m", staging_dir);
        if (s.st_dev != d.st_dev)
                return err_set(EXDEV, "layer tree:%s is on another file system than %s", path, staging_dir);
        int r = link_dir(src, dst, "", s.st_dev);
        if (r < 0)
                return err_prefix(r, "layer tree:%s", path);
        return 0;
}
