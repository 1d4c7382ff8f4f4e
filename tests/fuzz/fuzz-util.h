/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/fileio.h"
#include "basic/macro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a C string (the parsers under test take one); NULL when out of memory. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);
        if (!s)
                return NULL;
        memcpy(s, data, size);
        s[size] = 0;
        return s;
}

/* A property the target checks: abort() so libFuzzer keeps the input. */
#define FUZZ_ASSERT(x)                                                                             \
        do {                                                                                       \
                if (!(x))                                                                          \
                        abort();                                                                   \
        } while (0)

/* A directory of its own for one input, name.XXXXXX under $TMPDIR (run-fuzz.sh's own, removed after
 * the run, so a crash leaves nothing behind); the caller rm_rf()s it. */
static inline int fuzz_scratch_dir(const char *name, char dir[static PATH_MAX]) {
        const char *tmp = getenv("TMPDIR");
        if (snprintf(dir, PATH_MAX, "%s/%s.XXXXXX", tmp && *tmp ? tmp : "/tmp", name) >= PATH_MAX)
                return -ENAMETOOLONG;
        return mkdtemp(dir) ? 0 : -errno;
}

/* Writes head (head_size bytes, may be 0) then data to path, replacing it; any failure is a crash. */
static inline void fuzz_put(const char *path, const void *head, size_t head_size, const void *data, size_t size) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        FUZZ_ASSERT(fd >= 0);
        FUZZ_ASSERT(loop_write(fd, head, head_size) == 0 && loop_write(fd, data, size) == 0);
        close(fd);
}
