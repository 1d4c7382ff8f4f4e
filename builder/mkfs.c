/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "mkfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "basic/process.h"
#include "basic/uuid.h"
#include "crypto/hash.h"

static _Thread_local struct timespec fix_times[2];
static _Thread_local bool fix_dirs_only;

static int fix_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        if (fix_dirs_only && flag != FTW_D)
                return 0;
        return utimensat(AT_FDCWD, path, fix_times, AT_SYMLINK_NOFOLLOW) < 0 ? -1 : 0;
}

int mkfs_image(const char *filesystem, const char *compression, const char *dir, bool shared_inodes,
               const char *out_path, time_t epoch, const char *uuid) {
        char ts[32], uuidopt[64];

        /* Belt and braces: both tools are told to stamp every inode with epoch
         * (mkfs.erofs -T, mksquashfs -all-time), and the tree's own times are set
         * too where they are ours. Inodes shared with a linked layer are not: their
         * times are the layer's files' times. tests/integration/test-build.sh checks
         * that the image does not depend on them, older or newer than epoch. */
        fix_times[0] = fix_times[1] = (struct timespec) { .tv_sec = epoch };
        fix_dirs_only = shared_inodes;
        if (nftw(dir, fix_one, 64, FTW_PHYS | FTW_MOUNT) != 0)
                return err_set(errno, "cannot set timestamps in %s: %m", dir);

        (void) snprintf(ts, sizeof ts, "%lld", (long long) epoch);
        if (streq(filesystem, "erofs")) {
                char topt[40];
                (void) snprintf(topt, sizeof topt, "-T%s", ts);
                (void) snprintf(uuidopt, sizeof uuidopt, "-U%s", uuid);
                /* noinline_data: every file's data starts on its own 4 KiB block, tails
                 * included, so an unchanged file keeps identical blocks when a file before
                 * it grows or is added (inline tails live among the inodes and all shift),
                 * and a delta install finds them by their verity leaf hash. Measured in
                 * docs/recipe.md, "Delta-friendly images". */
                /* Compression=lz4/lz4hc: erofs compresses each file into 4 KiB physical clusters
                 * of its own, so unchanged files still keep identical blocks (measured in
                 * docs/recipe.md); fewer bytes to store and to fetch, a decompression on
                 * every page-cache miss. */
                char zopt[16] = "";
                if (compression && !streq(compression, "none"))
                        (void) snprintf(zopt, sizeof zopt, "-z%s", compression);
                char *argv[] = { "mkfs.erofs", "--quiet", "-Enoinline_data", topt, uuidopt, zopt[0] ? zopt : NULL,
                                 NULL, NULL, NULL };
                size_t n = zopt[0] ? 6 : 5;
                argv[n] = (char *) out_path;
                argv[n + 1] = (char *) dir;
                /* With SOURCE_DATE_EPOCH in its environment mkfs.erofs (1.5) only
                 * clamps newer times to -T and keeps older ones; without it, -T is
                 * every inode's time. A linked tree's file times are not ours to set. */
                char *env[] = { "SOURCE_DATE_EPOCH", NULL };
                return process_run(argv, env, NULL);
        }
        if (streq(filesystem, "squashfs")) {
                /* Default 4 KiB padding keeps the image a whole number of verity blocks.
                 * squashfs packs compressed blocks back to back, so one changed file shifts
                 * everything after it off the 4 KiB grid; no mksquashfs 4.5 option helps
                 * deltas measurably (docs/recipe.md, "Delta-friendly images"). */
                char *argv[] = { "mksquashfs", (char *) dir, (char *) out_path, "-noappend", "-quiet",
                                 "-no-progress", "-comp", "zstd", "-mkfs-time", ts, "-all-time", ts,
                                 "-reproducible", NULL };
                /* mksquashfs refuses SOURCE_DATE_EPOCH beside -mkfs-time/-all-time. */
                char *env[] = { "SOURCE_DATE_EPOCH", NULL };
                return process_run(argv, env, NULL);
        }
        return err_set(EINVAL, "unknown filesystem '%s' (expected erofs or squashfs)", filesystem);
}

static int strcmp_dirent(const struct dirent **a, const struct dirent **b) {
        return strcmp((*a)->d_name, (*b)->d_name);
}

/* Hashes "mode uid gid size relpath" per entry in sorted order, so the result
 * depends only on the tree, not on where it lives or on readdir order. */
static int hash_tree(Sha256 *h, const char *root, const char *rel) {
        _cleanup_free_ char *path = NULL;
        struct dirent **list = NULL;
        int n, r = 0;

        if (asprintf(&path, "%s%s", root, rel) < 0)
                return -ENOMEM;
        n = scandir(path, &list, NULL, strcmp_dirent);
        if (n < 0)
                return err_set(errno, "cannot read directory %s: %m", path);
        for (int i = 0; i < n; i++) {
                const char *name = list[i]->d_name;
                _cleanup_free_ char *child = NULL, *full = NULL;
                struct stat st;
                char line[96];

                if (r < 0 || streq(name, ".") || streq(name, ".."))
                        continue;
                if (asprintf(&child, "%s/%s", rel, name) < 0 || asprintf(&full, "%s%s", root, child) < 0) {
                        r = -ENOMEM;
                        continue;
                }
                if (lstat(full, &st) < 0) {
                        r = err_set(errno, "cannot stat %s: %m", full);
                        continue;
                }
                int k = snprintf(line, sizeof line, "\n%o %u %u %" PRIu64 " ", st.st_mode, st.st_uid, st.st_gid,
                                 S_ISREG(st.st_mode) ? (uint64_t) st.st_size : 0);
                r = sha256_update(h, line, (size_t) k);
                if (r >= 0)
                        r = sha256_update(h, child, strlen(child));
                if (r >= 0 && S_ISDIR(st.st_mode))
                        r = hash_tree(h, root, child);
        }
        for (int i = 0; i < n; i++)
                free(list[i]);
        free(list);
        return r;
}

int mkfs_derive_uuid(const char *dir, const char *seed, char ret[37]) {
        _cleanup_(sha256_freep) Sha256 *h = NULL;
        uint8_t d[SHA256_DIGEST_SIZE];
        int r;

        r = sha256_new(&h);
        if (r < 0)
                return r;
        r = sha256_update(h, seed, strlen(seed));
        if (r < 0)
                return r;
        r = hash_tree(h, dir, "");
        if (r < 0)
                return r;
        r = sha256_final(h, d);
        if (r < 0)
                return r;
        uuid_v4_format(d, ret);
        return 0;
}
