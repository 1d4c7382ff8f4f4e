/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "image-util.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "staging-path.h"

static int resolve(int root_fd, const char *root, const char *rel, bool follow_last, bool create, char **ret) {
        _cleanup_free_ char *norm = NULL, *res = NULL;
        int r;

        r = staging_path_normalize(rel, &norm);
        if (r < 0)
                return err_prefix(r, "%s: '%s'", root, rel);
        r = staging_path_resolve(root_fd, norm, follow_last, &res);
        if (r < 0)
                return err_prefix(r, "%s: '%s'", root, rel);
        if (create) {
                r = staging_path_mkdir_p(root_fd, res);
                if (r < 0)
                        return err_prefix(r, "%s", root);
        }
        *ret = TAKE_PTR(res);
        return 0;
}

static int open_root(const char *root) {
        int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return err_set(errno, "cannot open %s: %m", root);
        return fd;
}

int image_resolve_below(const char *root, const char *rel, bool follow_last, char **ret_path) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *res = NULL;
        int r;

        fd = open_root(root);
        if (fd < 0)
                return fd;
        r = resolve(fd, root, rel, follow_last, false, &res);
        if (r < 0)
                return r;
        if (asprintf(ret_path, "%s/%s", root, res) < 0)
                return -ENOMEM;
        return 0;
}

int image_mkdir_below(const char *root, const char *rel) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *res = NULL;

        fd = open_root(root);
        if (fd < 0)
                return fd;
        return resolve(fd, root, rel, true, true, &res);
}

int image_write_file_below(const char *root, const char *rel, const char *data, mode_t mode) {
        return image_write_data_below(root, rel, data, strlen(data), mode);
}

int image_write_data_below(const char *root, const char *rel, const void *data, size_t len, mode_t mode) {
        _cleanup_free_ char *dir = strdup(rel), *res = NULL, *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (!dir)
                return -ENOMEM;
        char *slash = strrchr(dir, '/');
        if (!slash || !slash[1])
                return err_set(EINVAL, "%s: '%s' is not a file below a directory", root, rel);
        *slash = 0;
        fd = open_root(root);
        if (fd < 0)
                return fd;
        r = resolve(fd, root, dir, true, true, &res);
        if (r < 0)
                return r;
        /* The file itself is replaced by rename, never written through a symlink. */
        if (asprintf(&path, "%s/%s/%s", root, res, slash + 1) < 0)
                return -ENOMEM;
        r = write_file_atomic(path, data, len, mode);
        if (r < 0)
                return err_prefix(r, "cannot write %s", path);
        return 0;
}

int image_copy_file(const char *src, const char *dst, mode_t mode) {
        _cleanup_close_ int in = -EBADF, out = -EBADF;

        in = open(src, O_RDONLY | O_CLOEXEC);
        if (in < 0)
                return err_set(errno, "cannot open %s: %m", src);
        (void) unlink(dst);
        out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (out < 0)
                return err_set(errno, "cannot create %s: %m", dst);
        for (;;) {
                ssize_t n = copy_file_range(in, NULL, out, NULL, 1 << 30, 0);
                if (n < 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL))
                        break;
                if (n < 0)
                        return err_set(errno, "cannot copy %s to %s: %m", src, dst);
                if (n == 0)
                        return 0;
        }
        /* copy_file_range refused (old kernel, odd filesystem): plain copy from where it stopped. */
        char buf[65536];
        for (;;) {
                ssize_t n = loop_read(in, buf, sizeof buf);
                if (n < 0)
                        return err_set((int) -n, "cannot read %s: %s", src, strerror((int) -n));
                if (n == 0)
                        return 0;
                int r = loop_write(out, buf, (size_t) n);
                if (r < 0)
                        return err_set(-r, "cannot write %s: %s", dst, strerror(-r));
        }
}
