/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "fileio.h"

#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include "error.h"

ssize_t pread_full(int fd, void *buf, size_t n, uint64_t offset) {
        uint8_t *p = buf;
        size_t done = 0;

        while (done < n) {
                ssize_t k = pread(fd, p + done, n - done, (off_t) (offset + done));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                done += (size_t) k;
        }
        return (ssize_t) done;
}

int pread_exact(int fd, void *buf, size_t n, uint64_t offset) {
        ssize_t k = pread_full(fd, buf, n, offset);
        if (k < 0)
                return (int) k;
        return (size_t) k == n ? 0 : -EIO;
}

ssize_t loop_read(int fd, void *buf, size_t n) {
        uint8_t *p = buf;
        size_t done = 0;

        while (done < n) {
                ssize_t k = read(fd, p + done, n - done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                done += (size_t) k;
        }
        return (ssize_t) done;
}

int loop_write(int fd, const void *buf, size_t n) {
        const uint8_t *p = buf;

        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        return -EIO;
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

int read_full_fd(int fd, size_t max, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, alloc = 0;

        for (;;) {
                if (alloc - size < 4096) {
                        size_t want = alloc ? alloc * 2 : 16384;
                        if (want > max + 1)
                                want = max + 1;
                        if (want <= size)
                                return -EFBIG;
                        char *n = realloc(buf, want + 1);
                        if (!n)
                                return -ENOMEM;
                        buf = n;
                        alloc = want;
                }
                ssize_t k = read(fd, buf + size, alloc - size);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                if (k == 0)
                        break;
                size += (size_t) k;
                if (size > max)
                        return -EFBIG;
        }
        if (!buf) {
                buf = malloc(1);
                if (!buf)
                        return -ENOMEM;
        }
        buf[size] = 0;
        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = size;
        return 0;
}

int read_full_file(const char *path, size_t max, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        return read_full_fd(fd, max, ret, ret_size);
}

int fd_data_size(int fd, uint64_t *ret) {
        struct stat st;

        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (S_ISREG(st.st_mode)) {
                *ret = (uint64_t) st.st_size;
                return 0;
        }
        if (!S_ISBLK(st.st_mode))
                return -ENOTBLK;
        uint64_t size;
        if (ioctl(fd, BLKGETSIZE64, &size) < 0)
                return negative_errno();
        *ret = size;
        return 0;
}

int mkdir_p(const char *dir, mode_t mode) {
        _cleanup_free_ char *d = strdup(dir);

        if (!d)
                return -ENOMEM;
        for (char *p = d + 1;; p++) {
                if (*p != '/' && *p != 0)
                        continue;
                char c = *p;
                *p = 0;
                if (mkdir(d, mode) < 0 && errno != EEXIST)
                        return err_set(errno, "cannot create %s: %m", d);
                *p = c;
                if (!c)
                        return 0;
        }
}

int mkdir_parents_of(const char *path, mode_t mode) {
        _cleanup_free_ char *dir = strdup(path);

        if (!dir)
                return -ENOMEM;
        char *last = strrchr(dir, '/');
        if (!last || last == dir)
                return 0;
        *last = 0;
        return mkdir_p(dir, mode);
}

int lock_file(const char *path, bool wait, int *ret_fd) {
        int r = mkdir_parents_of(path, 0755);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return err_set(errno, "cannot open %s: %m", path);
        while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) < 0) {
                if (errno == EINTR)
                        continue;
                if (errno == EWOULDBLOCK)
                        return -EWOULDBLOCK;
                return err_set(errno, "cannot lock %s: %m", path);
        }
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int fsync_directory_of(const char *path) {
        _cleanup_free_ char *copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        _cleanup_close_ int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        if (fsync(fd) < 0)
                return negative_errno();
        return 0;
}

int atomic_file_open(const char *path, mode_t mode, AtomicFile **ret) {
        _cleanup_(atomic_file_freep) AtomicFile *f = calloc(1, sizeof *f);
        if (!f)
                return -ENOMEM;
        f->fd = -EBADF;
        f->path = strdup(path);
        if (!f->path)
                return -ENOMEM;

        const char *slash = strrchr(path, '/');
        const char *base = slash ? slash + 1 : path;
        int dirlen = slash ? (int) (slash - path + 1) : 0;
        if (asprintf(&f->tmp_path, "%.*s.#%s.XXXXXX", dirlen, path, base) < 0) {
                f->tmp_path = NULL;
                return -ENOMEM;
        }
        f->fd = mkostemp(f->tmp_path, O_CLOEXEC);
        if (f->fd < 0) {
                int r = negative_errno();
                free(f->tmp_path);
                f->tmp_path = NULL;
                return r;
        }
        if (fchmod(f->fd, mode) < 0)
                return negative_errno();
        *ret = TAKE_PTR(f);
        return 0;
}

/* After rename(2) to path: fd (the renamed file) synced again, then path's directory (rename_durable()). */
static int sync_renamed(int fd, const char *path) {
        if (fsync(fd) < 0)
                return negative_errno();
        return fsync_directory_of(path);
}

int rename_durable(const char *from, const char *to) {
        if (rename(from, to) < 0)
                return negative_errno();
        _cleanup_close_ int fd = open(to, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return negative_errno();
        return sync_renamed(fd, to);
}

static int atomic_file_commit_flags(AtomicFile *f, unsigned flags) {
        if (!f || f->fd < 0 || !f->tmp_path)
                return -EBADF;
        /* The data first: the new name never stands for bytes not yet on disk. */
        if (fsync(f->fd) < 0)
                return negative_errno();
        /* rename() when no flag is asked for: what the test shim (helper-corrupt-write.c) logs and fails. */
        if ((flags == 0 ? rename(f->tmp_path, f->path) : renameat2(AT_FDCWD, f->tmp_path, AT_FDCWD, f->path, flags)) < 0)
                return negative_errno();
        free(f->tmp_path);
        f->tmp_path = NULL;
        int r = sync_renamed(f->fd, f->path);
        f->fd = safe_close(f->fd);
        return r;
}

int atomic_file_commit(AtomicFile *f) {
        return atomic_file_commit_flags(f, 0);
}

int atomic_file_commit_new(AtomicFile *f) {
        return atomic_file_commit_flags(f, RENAME_NOREPLACE);
}

AtomicFile *atomic_file_free(AtomicFile *f) {
        if (!f)
                return NULL;
        safe_close(f->fd);
        if (f->tmp_path)
                (void) unlink(f->tmp_path);
        free(f->tmp_path);
        free(f->path);
        free(f);
        return NULL;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode) {
        _cleanup_(atomic_file_freep) AtomicFile *f = NULL;
        int r = atomic_file_open(path, mode, &f);
        if (r < 0)
                return r;
        r = loop_write(f->fd, data, len);
        if (r < 0)
                return r;
        return atomic_file_commit(f);
}

void hex_encode(const uint8_t *data, size_t n, char *out) {
        static const char digits[] = "0123456789abcdef";

        for (size_t i = 0; i < n; i++) {
                out[2 * i] = digits[data[i] >> 4];
                out[2 * i + 1] = digits[data[i] & 15];
        }
        out[2 * n] = 0;
}

static int unhex(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -EINVAL;
}

int hex_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_size) {
        if (len % 2 != 0)
                return -EINVAL;
        _cleanup_free_ uint8_t *buf = malloc(len / 2 + 1);
        if (!buf)
                return -ENOMEM;
        for (size_t i = 0; i < len / 2; i++) {
                int hi = unhex(s[2 * i]), lo = unhex(s[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return -EINVAL;
                buf[i] = (uint8_t) (hi << 4 | lo);
        }
        *ret = TAKE_PTR(buf);
        *ret_size = len / 2;
        return 0;
}
