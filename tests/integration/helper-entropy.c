/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * LD_PRELOAD shim: a kernel whose random pool is not ready yet, as early in
 * a boot on a machine without a hardware RNG (docs/boot.md, "Never waiting
 * for entropy"). getrandom() with GRND_NONBLOCK fails with EAGAIN, as the
 * kernel's does then. Every call that would wait for the pool there appends
 * a line to the file ABIDE_TEST_ENTROPY_LOG names: "getrandom" (without
 * GRND_NONBLOCK or GRND_INSECURE), "getentropy", and "open PATH" for
 * /dev/random and /dev/urandom (whose first read waits while the kernel
 * gathers entropy). Those calls are then passed on, so the program goes on
 * as it would once the pool is ready.
 */
/* Both symbols are defined below, so neither may be redirected to the other. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

static void log_wait(const char *what, const char *path) {
        const char *log = getenv("ABIDE_TEST_ENTROPY_LOG");
        char line[512];

        if (!log || !*log)
                return;
        int n = snprintf(line, sizeof line, "%s%s%s\n", what, path ? " " : "", path ?: "");
        if (n < 0 || (size_t) n >= sizeof line)
                return;
        int (*real_open)(const char *, int, ...) = (int (*)(const char *, int, ...)) dlsym(RTLD_NEXT, "open");
        if (!real_open)
                return;
        int fd = real_open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
                (void) !write(fd, line, (size_t) n);
                close(fd);
        }
}

static int is_random_device(const char *path) {
        return path && (strcmp(path, "/dev/urandom") == 0 || strcmp(path, "/dev/random") == 0);
}

ssize_t getrandom(void *buf, size_t len, unsigned int flags) {
        ssize_t (*real)(void *, size_t, unsigned int) =
                (ssize_t (*)(void *, size_t, unsigned int)) dlsym(RTLD_NEXT, "getrandom");
        if (!real) {
                errno = ENOSYS;
                return -1;
        }
        if (flags & GRND_INSECURE)
                return real(buf, len, flags);
        if (flags & GRND_NONBLOCK) {
                errno = EAGAIN;
                return -1;
        }
        log_wait("getrandom", NULL);
        return real(buf, len, flags);
}

int getentropy(void *buf, size_t len) {
        int (*real)(void *, size_t) = (int (*)(void *, size_t)) dlsym(RTLD_NEXT, "getentropy");
        if (!real) {
                errno = ENOSYS;
                return -1;
        }
        log_wait("getentropy", NULL);
        return real(buf, len);
}

/* The mode argument of an open() that creates, read in the variadic function itself. */
#define MODE_ARG(flags, mode)                                                                                      \
        do {                                                                                                       \
                if ((flags) & (O_CREAT | __O_TMPFILE)) {                                                           \
                        va_list ap;                                                                                \
                        va_start(ap, flags);                                                                       \
                        (mode) = (mode_t) va_arg(ap, int);                                                         \
                        va_end(ap);                                                                                \
                }                                                                                                  \
        } while (0)

typedef int (*openat_fn)(int, const char *, int, ...);

/* open() as openat(AT_FDCWD): the real function name is called with dirfd, or without it. */
static int open_logged(const char *name, bool at, int dirfd, const char *path, int flags, mode_t mode) {
        void *real = dlsym(RTLD_NEXT, name);
        if (!real) {
                errno = ENOSYS;
                return -1;
        }
        if (is_random_device(path))
                log_wait("open", path);
        if (at)
                return ((openat_fn) real)(dirfd, path, flags, mode);
        return ((int (*)(const char *, int, ...)) real)(path, flags, mode);
}

/* open(name, at false, AT_FDCWD) and openat(name, at true, dirfd, int dirfd,): the leading parameter, if any, last. */
#define OPEN_SHIM(name, at, dirfd_arg, ...)                                                                        \
        int name(__VA_ARGS__ const char *path, int flags, ...) {                                                   \
                mode_t mode = 0;                                                                                   \
                MODE_ARG(flags, mode);                                                                             \
                return open_logged(#name, at, dirfd_arg, path, flags, mode);                                       \
        }
OPEN_SHIM(open, false, AT_FDCWD)
OPEN_SHIM(open64, false, AT_FDCWD)
OPEN_SHIM(openat, true, dirfd, int dirfd,)
OPEN_SHIM(openat64, true, dirfd, int dirfd,)

#define FOPEN_SHIM(name)                                                                                           \
        FILE *name(const char *path, const char *mode) {                                                           \
                FILE *(*real)(const char *, const char *) =                                                        \
                        (FILE * (*) (const char *, const char *)) dlsym(RTLD_NEXT, #name);                         \
                if (!real) {                                                                                       \
                        errno = ENOSYS;                                                                            \
                        return NULL;                                                                               \
                }                                                                                                  \
                if (is_random_device(path))                                                                        \
                        log_wait("open", path);                                                                    \
                return real(path, mode);                                                                           \
        }
FOPEN_SHIM(fopen)
FOPEN_SHIM(fopen64)
