/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* recipe_load() on any bytes, written to a file in a private directory
 * (the parser reads a path and resolves values relative to it). */
#include "fuzz-util.h"

#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "recipe.h"

static char dir[PATH_MAX], path[PATH_MAX + 16];

static void remove_dir(void) {
        (void) unlink(path);
        (void) rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(recipe_freep) Recipe *r = NULL;

        /* A glob with a '/' could walk the whole file system per input: the
         * glob code is libc's, what it feeds back is covered without it. */
        if (memchr(data, '/', size) && (memchr(data, '*', size) || memchr(data, '?', size) || memchr(data, '[', size)))
                return 0;

        if (!path[0]) {
                /* Under $TMPDIR: the runner points it at its work directory,
                 * which it removes even when the fuzzer dies. */
                const char *tmp = getenv("TMPDIR");
                snprintf(dir, sizeof dir, "%s/fuzz-recipe.XXXXXX", tmp && *tmp ? tmp : "/tmp");
                FUZZ_ASSERT(mkdtemp(dir));
                snprintf(path, sizeof path, "%s/r.conf", dir);
                atexit(remove_dir);
        }
        FILE *f = fopen(path, "we");
        FUZZ_ASSERT(f);
        FUZZ_ASSERT(fwrite(data, 1, size, f) == size);
        FUZZ_ASSERT(fclose(f) == 0);

        if (recipe_load(path, NULL, &r) < 0)
                return 0;
        FUZZ_ASSERT(r->name && r->version && r->compatible);
        return 0;
}
