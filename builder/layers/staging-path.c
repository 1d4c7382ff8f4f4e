/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "staging-path.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "basic/error.h"

#define SYMLINK_MAX_HOPS 40

int staging_path_normalize(const char *name, char **ret) {
        if (!name || !*name)
                return err_set(EINVAL, "empty name");
        if (name[0] == '/')
                return err_set(EPERM, "absolute path");

        size_t len = strlen(name);
        _cleanup_free_ char *out = malloc(len + 2);
        if (!out)
                return err_set(ENOMEM, "out of memory");
        size_t o = 0;

        for (const char *p = name; *p;) {
                const char *e = strchrnul(p, '/');
                size_t n = e - p;

                if (n == 2 && p[0] == '.' && p[1] == '.')
                        return err_set(EXDEV, "'..' component");
                if (n > 0 && !(n == 1 && p[0] == '.')) {
                        if (o > 0)
                                out[o++] = '/';
                        memcpy(out + o, p, n);
                        o += n;
                }
                p = *e ? e + 1 : e;
        }
        if (o == 0)
                out[o++] = '.';
        out[o] = 0;
        *ret = TAKE_PTR(out);
        return 0;
}

static int path_join(const char *a, const char *b, size_t blen, char **ret) {
        char *s;
        if (asprintf(&s, "%s%s%.*s", a, *a ? "/" : "", (int) blen, b) < 0)
                return err_set(ENOMEM, "out of memory");
        *ret = s;
        return 0;
}

int staging_path_resolve(int root_fd, const char *path, bool follow_last, char **ret) {
        _cleanup_free_ char *todo = strdup(path), *done = strdup("");
        _cleanup_free_ char *via_link = NULL, *via_target = NULL;
        unsigned hops = 0;
        bool missing = false;
        int r;

        if (!todo || !done)
                return err_set(ENOMEM, "out of memory");

        const char *p = todo;
        for (;;) {
                p += strspn(p, "/");
                if (!*p)
                        break;
                const char *e = strchrnul(p, '/');
                size_t n = e - p;
                const char *comp = p;
                p = e;
                bool last = !p[strspn(p, "/")];

                if (n == 1 && comp[0] == '.')
                        continue;
                if (n == 2 && comp[0] == '.' && comp[1] == '.') {
                        if (!*done) {
                                if (via_link)
                                        return err_set(EXDEV, "through symlink '%s' -> '%s'", via_link, via_target);
                                return err_set(EXDEV, "'..' above the image root");
                        }
                        char *slash = strrchr(done, '/');
                        if (slash)
                                *slash = 0;
                        else
                                done[0] = 0;
                        continue;
                }
                if (n > NAME_MAX)
                        return err_set(ENAMETOOLONG, "component '%.32s...' too long", comp);

                _cleanup_free_ char *next = NULL;
                r = path_join(done, comp, n, &next);
                if (r < 0)
                        return r;

                if (!missing && (!last || follow_last)) {
                        struct stat st;
                        if (fstatat(root_fd, next, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                                if (errno != ENOENT)
                                        return err_set(errno, "'%s': %m", next);
                                missing = true;
                        } else if (S_ISLNK(st.st_mode)) {
                                char target[PATH_MAX];
                                if (++hops > SYMLINK_MAX_HOPS)
                                        return err_set(ELOOP, "too many levels of symlinks at '%s'", next);
                                ssize_t k = readlinkat(root_fd, next, target, sizeof target - 1);
                                if (k < 0)
                                        return err_set(errno, "readlink '%s': %m", next);
                                target[k] = 0;
                                if (target[0] == '/')
                                        return err_set(EXDEV, "through symlink '%s' -> '%s'", next, target);

                                free(via_link);
                                free(via_target);
                                via_link = TAKE_PTR(next);
                                via_target = strdup(target);
                                char *t;
                                if (!via_target || asprintf(&t, "%s%s", target, p) < 0)
                                        return err_set(ENOMEM, "out of memory");
                                free(todo);
                                todo = t;
                                p = todo;
                                continue;
                        }
                }
                free(done);
                done = TAKE_PTR(next);
        }

        if (!*done) {
                free(done);
                done = strdup(".");
                if (!done)
                        return err_set(ENOMEM, "out of memory");
        }
        *ret = TAKE_PTR(done);
        return 0;
}

static int remove_children(int dfd) {
        int fd = dup(dfd);
        if (fd < 0)
                return err_set(errno, "dup: %m");
        DIR *d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return err_set(errno, "fdopendir: %m");
        }

        int r = 0;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                struct stat st;
                if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = err_set(errno, "'%s': %m", de->d_name);
                        break;
                }
                if (S_ISDIR(st.st_mode)) {
                        _cleanup_close_ int sub = openat(dfd, de->d_name,
                                                         O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0) {
                                r = err_set(errno, "'%s': %m", de->d_name);
                                break;
                        }
                        r = remove_children(sub);
                        if (r < 0)
                                break;
                }
                if (unlinkat(dfd, de->d_name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0) {
                        r = err_set(errno, "cannot remove '%s': %m", de->d_name);
                        break;
                }
        }
        closedir(d);
        return r;
}

int staging_path_remove(int root_fd, const char *path, bool children_only) {
        struct stat st;

        if (fstatat(root_fd, path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 0;
                return err_set(errno, "'%s': %m", path);
        }
        if (S_ISDIR(st.st_mode)) {
                _cleanup_close_ int fd = openat(root_fd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return err_set(errno, "'%s': %m", path);
                int r = remove_children(fd);
                if (r < 0)
                        return err_prefix(r, "'%s'", path);
        } else if (children_only)
                return 0;

        if (children_only || streq(path, "."))
                return 0;
        if (unlinkat(root_fd, path, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0)
                return err_set(errno, "cannot remove '%s': %m", path);
        return 0;
}

int staging_path_mkdir_p(int root_fd, const char *path) {
        _cleanup_free_ char *buf = strdup(path);
        if (!buf)
                return err_set(ENOMEM, "out of memory");

        for (char *p = buf;; p++) {
                if (*p != '/' && *p != 0)
                        continue;
                char saved = *p;
                *p = 0;
                struct stat st;
                if (*buf && !streq(buf, ".") && mkdirat(root_fd, buf, 0755) < 0) {
                        if (errno != EEXIST)
                                return err_set(errno, "cannot create '%s': %m", buf);
                        if (fstatat(root_fd, buf, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
                                return err_set(ENOTDIR, "'%s' exists and is not a directory", buf);
                }
                if (!saved)
                        break;
                *p = saved;
        }
        return 0;
}
