/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * LD_PRELOAD shim for the install tests: a device that stores one byte
 * wrong. Every pwrite() to the block device ABIDE_TEST_CORRUPT_DEV that
 * covers byte ABIDE_TEST_CORRUPT_OFFSET writes it flipped (a copy of the
 * buffer, aligned as O_DIRECT wants); the caller's buffer is untouched, so
 * only a read-back from the device can notice.
 *
 * With ABIDE_TEST_CORRUPT_FILE=TEXT instead, the same for pwrite() to a
 * regular file whose path contains TEXT (a file system that stores one
 * byte wrong: the page cache then holds it too).
 *
 * With ABIDE_TEST_READ_LOG=FILE, every pread() of a block device that
 * returned data appends "read MAJ:MIN direct|buffered OFFSET BYTES" to FILE.
 * With ABIDE_TEST_MEMAVAILABLE_KB=N, /proc/meminfo opened with fopen()
 * holds the one line "MemAvailable: N kB"; with ABIDE_TEST_CPUS=N,
 * sched_getaffinity() reports CPUs 0 to N-1: a device with that little
 * memory or that many CPUs. Each appends "meminfo" or "cpus" to the file
 * ABIDE_TEST_FAKE_LOG names, so a test can tell they were asked.
 *
 * With ABIDE_TEST_IO_LOG=FILE, every pwrite(), sync_file_range() and
 * fdatasync()/fsync() on a block device appends a line to FILE, in order:
 * "write MAJ:MIN direct|buffered" and "range MAJ:MIN" once they returned,
 * "syncstart MAJ:MIN" as a sync is called and "sync MAJ:MIN" once it
 * succeeded; a sync of a file that succeeded appends "syncfile PATH" (the
 * path it has then) and a rename() that succeeded "rename FROM TO".
 * With ABIDE_TEST_FAIL_SYNC_DEV=DEV, fdatasync() and fsync() of block
 * device DEV fail with EIO (a device whose cache flush fails); with
 * ABIDE_TEST_FAIL_SYNC_FILE=TEXT, those of a regular file whose path
 * contains TEXT (its write-back failed), each appending "failsync PATH" to
 * ABIDE_TEST_FAKE_LOG.
 *
 * With ABIDE_TEST_SHRINK_FILE=PATH, the first pwrite() to a block device at
 * an offset of ABIDE_TEST_SHRINK_OFFSET or more truncates PATH to
 * ABIDE_TEST_SHRINK_TO bytes before it writes: a bundle file that shrinks
 * while it is being installed (one that is mapped is then gone under the
 * mapping).
 *
 * With ABIDE_TEST_FAIL_RENAME_TO=NAME, rename() onto a path whose last
 * component is NAME fails with ENOSPC, after the first
 * ABIDE_TEST_FAIL_RENAME_SKIP (default 0) such renames went through: a
 * state file that cannot be written at a chosen step (abide-data full).
 *
 * With ABIDE_TEST_FAIL_SYNCFS=1, syncfs() fails with EIO (a file system,
 * the ESP's, whose metadata could not be written out).
 */
/* Both symbols are defined below, so neither may be redirected to the other. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);

/* The block device fd is, or 0. */
static dev_t blockdev_of(int fd) {
        struct stat st;
        if (fstat(fd, &st) < 0 || !S_ISBLK(st.st_mode))
                return 0;
        return st.st_rdev;
}

/* Appends one line to the file the environment variable env names, if it is set: one write, so
 * that lines from threads do not mix. */
__attribute__((format(printf, 2, 3))) static void append_line(const char *env, const char *fmt, ...) {
        const char *log = getenv(env);
        char line[4200];
        va_list ap;

        if (!log || !*log)
                return;
        va_start(ap, fmt);
        int n = vsnprintf(line, sizeof line, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t) n >= sizeof line)
                return;
        int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (lfd >= 0) {
                (void) !write(lfd, line, (size_t) n);
                close(lfd);
        }
}

static void io_log(const char *what, dev_t dev, const char *extra) {
        if (dev != 0)
                append_line("ABIDE_TEST_IO_LOG", "%s %u:%u%s%s\n", what, major(dev), minor(dev), extra ? " " : "",
                            extra ? extra : "");
}

/* The path fd was opened as, into path (size bytes): false where /proc does not say. */
static bool fd_path(int fd, char *path, size_t size) {
        char proc[64];
        snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
        ssize_t k = readlink(proc, path, size - 1);
        if (k <= 0)
                return false;
        path[k] = 0;
        return true;
}

static void file_log(int fd) {
        char path[4096];
        if (fd_path(fd, path, sizeof path))
                append_line("ABIDE_TEST_IO_LOG", "syncfile %s\n", path);
}

static ssize_t logged_pwrite(pwrite_fn next, int fd, const void *buf, size_t n, off_t offset);

static void shrink_once(int fd, off_t offset) {
        static int done;
        const char *path = getenv("ABIDE_TEST_SHRINK_FILE"), *at = getenv("ABIDE_TEST_SHRINK_OFFSET"),
                   *to = getenv("ABIDE_TEST_SHRINK_TO");
        if (!path || !at || !to || blockdev_of(fd) == 0 || offset < (off_t) strtoull(at, NULL, 10))
                return;
        if (__atomic_exchange_n(&done, 1, __ATOMIC_SEQ_CST))
                return;
        if (truncate(path, (off_t) strtoull(to, NULL, 10)) == 0)
                append_line("ABIDE_TEST_SHRINK_LOG", "shrank %s\n", path);
}

/* Whether fd is a regular file whose path contains text. */
static bool file_matches(int fd, const char *text) {
        char path[4096];
        struct stat st;
        if (!text || !*text || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return false;
        return fd_path(fd, path, sizeof path) && strstr(path, text) != NULL;
}

static ssize_t corrupt_pwrite(pwrite_fn next, int fd, const void *buf, size_t n, off_t offset) {
        shrink_once(fd, offset);
        const char *dev = getenv("ABIDE_TEST_CORRUPT_DEV"), *at = getenv("ABIDE_TEST_CORRUPT_OFFSET");
        struct stat want;
        dev_t got = blockdev_of(fd);

        bool device = dev && got != 0 && stat(dev, &want) == 0 && got == want.st_rdev;
        if (!at || (!device && !file_matches(fd, getenv("ABIDE_TEST_CORRUPT_FILE"))))
                return logged_pwrite(next, fd, buf, n, offset);
        off_t o = (off_t) strtoull(at, NULL, 10);
        if (o < offset || o >= offset + (off_t) n)
                return logged_pwrite(next, fd, buf, n, offset);

        void *copy = NULL;
        if (posix_memalign(&copy, 4096, n ? n : 1) != 0) {
                errno = ENOMEM;
                return -1;
        }
        memcpy(copy, buf, n);
        ((uint8_t *) copy)[o - offset] ^= 0x01;
        ssize_t k = logged_pwrite(next, fd, copy, n, offset);
        int saved = errno;
        free(copy);
        errno = saved;
        return k;
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t offset) {
        static pwrite_fn next;
        if (!next)
                next = (pwrite_fn) dlsym(RTLD_NEXT, "pwrite");
        return corrupt_pwrite(next, fd, buf, n, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t offset) {
        static pwrite_fn next;
        if (!next)
                next = (pwrite_fn) dlsym(RTLD_NEXT, "pwrite64");
        return corrupt_pwrite(next, fd, buf, n, offset);
}

typedef ssize_t (*pread_fn)(int, void *, size_t, off_t);

static ssize_t logged_pread(pread_fn next, int fd, void *buf, size_t n, off_t offset) {
        ssize_t k = next(fd, buf, n, offset);
        int saved = errno;
        const char *log = getenv("ABIDE_TEST_READ_LOG");
        dev_t dev = k > 0 && log && *log ? blockdev_of(fd) : 0;
        if (dev != 0) {
                int fl = fcntl(fd, F_GETFL);
                append_line("ABIDE_TEST_READ_LOG", "read %u:%u %s %lld %zd\n", major(dev), minor(dev),
                            fl >= 0 && (fl & O_DIRECT) ? "direct" : "buffered", (long long) offset, k);
        }
        errno = saved;
        return k;
}

ssize_t pread(int fd, void *buf, size_t n, off_t offset) {
        return logged_pread((pread_fn) dlsym(RTLD_NEXT, "pread"), fd, buf, n, offset);
}

ssize_t pread64(int fd, void *buf, size_t n, off_t offset) {
        return logged_pread((pread_fn) dlsym(RTLD_NEXT, "pread64"), fd, buf, n, offset);
}

typedef FILE *(*fopen_fn)(const char *, const char *);

static FILE *fake_fopen(const char *name, const char *path, const char *mode) {
        const char *kb = getenv("ABIDE_TEST_MEMAVAILABLE_KB");
        if (kb && *kb && path && strcmp(path, "/proc/meminfo") == 0) {
                static __thread char text[64];
                append_line("ABIDE_TEST_FAKE_LOG", "meminfo\n");
                (void) snprintf(text, sizeof text, "MemAvailable:   %s kB\n", kb);
                return fmemopen(text, strlen(text), "r");
        }
        return ((fopen_fn) dlsym(RTLD_NEXT, name))(path, mode);
}

FILE *fopen(const char *path, const char *mode) {
        return fake_fopen("fopen", path, mode);
}

FILE *fopen64(const char *path, const char *mode) {
        return fake_fopen("fopen64", path, mode);
}

int sched_getaffinity(pid_t pid, size_t size, cpu_set_t *set) {
        const char *n = getenv("ABIDE_TEST_CPUS");
        if (n && *n) {
                append_line("ABIDE_TEST_FAKE_LOG", "cpus\n");
                CPU_ZERO_S(size, set);
                for (int i = 0; i < atoi(n); i++)
                        CPU_SET_S((size_t) i, size, set);
                return 0;
        }
        return ((int (*)(pid_t, size_t, cpu_set_t *)) dlsym(RTLD_NEXT, "sched_getaffinity"))(pid, size, set);
}

static ssize_t logged_pwrite(pwrite_fn next, int fd, const void *buf, size_t n, off_t offset) {
        ssize_t k = next(fd, buf, n, offset);
        int saved = errno;
        if (k > 0) {
                int fl = fcntl(fd, F_GETFL);
                io_log("write", blockdev_of(fd), fl >= 0 && (fl & O_DIRECT) ? "direct" : "buffered");
        }
        errno = saved;
        return k;
}

typedef int (*sync_fn)(int);

static int failing_sync(const char *name, int fd) {
        sync_fn next = (sync_fn) dlsym(RTLD_NEXT, name);
        const char *dev = getenv("ABIDE_TEST_FAIL_SYNC_DEV");
        struct stat want;
        dev_t got = blockdev_of(fd);

        if (dev && *dev && got != 0 && stat(dev, &want) == 0 && want.st_rdev == got) {
                errno = EIO;
                return -1;
        }
        if (file_matches(fd, getenv("ABIDE_TEST_FAIL_SYNC_FILE"))) {
                char path[4096];
                if (fd_path(fd, path, sizeof path))
                        append_line("ABIDE_TEST_FAKE_LOG", "failsync %s\n", path);
                errno = EIO;
                return -1;
        }
        io_log("syncstart", got, NULL);
        int r = next(fd);
        int saved = errno;
        if (r == 0 && got != 0)
                io_log("sync", got, NULL);
        else if (r == 0)
                file_log(fd);
        errno = saved;
        return r;
}

int fdatasync(int fd) {
        return failing_sync("fdatasync", fd);
}

int fsync(int fd) {
        return failing_sync("fsync", fd);
}

int syncfs(int fd) {
        static int (*next)(int);
        if (getenv("ABIDE_TEST_FAIL_SYNCFS")) {
                errno = EIO;
                return -1;
        }
        if (!next)
                next = (int (*)(int)) dlsym(RTLD_NEXT, "syncfs");
        return next(fd);
}

typedef int (*sync_file_range_fn)(int, off_t, off_t, unsigned);

int sync_file_range(int fd, off_t offset, off_t n, unsigned flags) {
        static sync_file_range_fn next;
        if (!next)
                next = (sync_file_range_fn) dlsym(RTLD_NEXT, "sync_file_range");
        int r = next(fd, offset, n, flags);
        int saved = errno;
        if (r == 0 && (flags & SYNC_FILE_RANGE_WAIT_AFTER))
                io_log("range", blockdev_of(fd), NULL);
        errno = saved;
        return r;
}

int rename(const char *from, const char *to) {
        static int (*next)(const char *, const char *);
        if (!next)
                next = (int (*)(const char *, const char *)) dlsym(RTLD_NEXT, "rename");
        const char *fail = getenv("ABIDE_TEST_FAIL_RENAME_TO");
        const char *base = strrchr(to, '/') ? strrchr(to, '/') + 1 : to;
        if (fail && strcmp(base, fail) == 0) {
                static long seen;
                const char *skip = getenv("ABIDE_TEST_FAIL_RENAME_SKIP");
                if (seen++ >= (skip ? atol(skip) : 0)) {
                        errno = ENOSPC;
                        return -1;
                }
        }
        int r = next(from, to);
        int saved = errno;
        if (r == 0)
                append_line("ABIDE_TEST_IO_LOG", "rename %s %s\n", from, to);
        errno = saved;
        return r;
}
