/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "disk-data.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/process.h"

static int mkdir_parents(const char *root, const char *rel, mode_t mode) {
        _cleanup_free_ char *p = NULL;

        if (asprintf(&p, "%s/%s", root, rel) < 0)
                return -ENOMEM;
        for (char *s = p + strlen(root) + 1;; s++) {
                bool end = *s == 0;
                if (*s != '/' && !end)
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return err_set(errno, "%s: %m", p);
                if (end)
                        return 0;
                *s = '/';
        }
}

static int put_file(const char *root, const char *rel, const void *data, size_t len) {
        _cleanup_free_ char *p = NULL;
        int r;

        if (asprintf(&p, "%s/%s", root, rel) < 0)
                return -ENOMEM;
        r = write_file_atomic(p, data, len, 0644);
        return r < 0 ? err_prefix(r, "%s", p) : 0;
}

static const char *const time_fields[] = { "atime", "mtime", "ctime" };

/* debugfs lines setting rel's times and each of its parents' to epoch. */
static int times_lines(FILE *f, const char *rel, time_t epoch) {
        _cleanup_free_ char *p = strdup(rel);
        if (!p)
                return -ENOMEM;
        for (char *s = p;; s++) {
                bool end = *s == 0;
                if (*s != '/' && !end)
                        continue;
                *s = 0;
                for (size_t i = 0; i < ELEMENTSOF(time_fields); i++)
                        fprintf(f, "set_inode_field \"/%s\" %s @%lld\n", p, time_fields[i], (long long) epoch);
                if (end)
                        return 0;
                *s = '/';
        }
}

/* mke2fs -d copies each staged file's times, its change time the clock's: all of them become epoch. */
static int set_times(const char *path, const char *workdir, const char *const *rels, size_t n, time_t epoch) {
        _cleanup_free_ char *script = NULL;
        _cleanup_fclose_ FILE *f = NULL;

        if (asprintf(&script, "%s/data-times.debugfs", workdir) < 0)
                return -ENOMEM;
        f = fopen(script, "we");
        if (!f)
                return err_set(errno, "%s: %m", script);
        for (size_t i = 0; i < ELEMENTSOF(time_fields); i++)
                fprintf(f, "set_inode_field / %s @%lld\n", time_fields[i], (long long) epoch);
        for (size_t i = 0; i < n; i++) {
                int r = times_lines(f, rels[i], epoch);
                if (r < 0)
                        return r;
        }
        if (fflush(f) != 0 || ferror(f))
                return err_set(EIO, "%s: cannot write", script);
        char *argv[] = { "debugfs", "-w", "-f", script, (char *) path, NULL };
        return process_run(argv, NULL, NULL);
}

int disk_data_make(const char *path, uint64_t size, const char *uuid, const Manifest *m, time_t epoch,
                   const char *workdir) {
        _cleanup_free_ char *root = NULL, *conf = NULL;
        static const char *const dirs[] = {
                DISK_DATA_STATE_DIR,
                DISK_DATA_ETC_UPPER "/abide",
                DISK_DATA_ETC_WORK,
        };
        char blocks[32];
        int r;

        if (asprintf(&root, "%s/data", workdir) < 0)
                return -ENOMEM;
        if (mkdir(root, 0755) < 0)
                return err_set(errno, "%s: %m", root);
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                r = mkdir_parents(root, dirs[i], 0755);
                if (r < 0)
                        return r;
        }

        /* Defaults find everything on this disk by PARTLABEL (docs/abide-conf.md). */
        if (asprintf(&conf,
                     "# Device configuration, written by abide-build disk for %s.\n"
                     "# Slots and abide-data are found by PARTLABEL; see docs/abide-conf.md.\n"
                     "[Boot]\n"
                     "Tries=%u\n",
                     m->compatible, m->tries) < 0)
                return -ENOMEM;
        r = put_file(root, DISK_DATA_ETC_UPPER "/abide/abide.conf", conf, strlen(conf));
        if (r < 0)
                return r;
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0)
                return err_set(errno, "%s: %m", path);
        if (ftruncate(fd, (off_t) size) < 0)
                return err_set(errno, "%s: %m", path);

        /* The hash seed follows the UUID so equal inputs give equal directories. */
        _cleanup_free_ char *ext = NULL;
        if (asprintf(&ext, "root_owner=0:0,nodiscard,hash_seed=%s", uuid) < 0)
                return -ENOMEM;
        snprintf(blocks, sizeof blocks, "%" PRIu64 "k", size / 1024);
        char *mkfs[] = { "mkfs.ext4", "-q", "-F", "-L", "abide-data", "-U", (char *) uuid, "-E", ext,
                         "-d", root, (char *) path, blocks, NULL };
        r = process_run(mkfs, NULL, NULL);
        if (r < 0)
                return r;
        const char *const staged[] = { dirs[0], dirs[1], dirs[2], DISK_DATA_ETC_UPPER "/abide/abide.conf" };
        return set_times(path, workdir, staged, ELEMENTSOF(staged), epoch);
}
