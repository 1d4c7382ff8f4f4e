/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * LD_PRELOAD shim for the install tests: a device that stores one byte
 * wrong. Every pwrite() to the block device ABIDE_TEST_CORRUPT_DEV that
 * covers byte ABIDE_TEST_CORRUPT_OFFSET writes it flipped (a copy of the
 * buffer, aligned as O_DIRECT wants); the caller's buffer is untouched, so
 * only a read-back from the device can notice.
 *
 * With ABIDE_TEST_NO_POPULATE=FILE, madvise(MADV_POPULATE_READ) fails with
 * EINVAL as on a kernel before 5.14, and each refusal appends a line to
 * FILE, so a test can tell the install took its other way to read back.
 */
/* Both symbols are defined below, so neither may be redirected to the other. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);

static ssize_t corrupt_pwrite(pwrite_fn next, int fd, const void *buf, size_t n, off_t offset) {
        const char *dev = getenv("ABIDE_TEST_CORRUPT_DEV"), *at = getenv("ABIDE_TEST_CORRUPT_OFFSET");
        struct stat want, got;

        if (!dev || !at || stat(dev, &want) < 0 || fstat(fd, &got) < 0 || !S_ISBLK(got.st_mode) ||
            got.st_rdev != want.st_rdev)
                return next(fd, buf, n, offset);
        off_t o = (off_t) strtoull(at, NULL, 10);
        if (o < offset || o >= offset + (off_t) n)
                return next(fd, buf, n, offset);

        void *copy = NULL;
        if (posix_memalign(&copy, 4096, n ? n : 1) != 0) {
                errno = ENOMEM;
                return -1;
        }
        memcpy(copy, buf, n);
        ((uint8_t *) copy)[o - offset] ^= 0x01;
        ssize_t k = next(fd, copy, n, offset);
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

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

typedef int (*madvise_fn)(void *, size_t, int);

int madvise(void *addr, size_t n, int advice) {
        static madvise_fn next;
        const char *log = getenv("ABIDE_TEST_NO_POPULATE");

        if (!next)
                next = (madvise_fn) dlsym(RTLD_NEXT, "madvise");
        if (log && *log && advice == MADV_POPULATE_READ) {
                int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                if (fd >= 0) {
                        (void) !write(fd, "refused\n", 8);
                        close(fd);
                }
                errno = EINVAL;
                return -1;
        }
        return next(addr, n, advice);
}
