/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "uboot-env.h"

#include <fcntl.h>
#include <libuboot.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/error.h"
#include "basic/fileio.h"

/* One copy's line of a fw_env.config: "DEVICE OFFSET SIZE [SECTOR-SIZE [SECTORS]]". */
typedef struct EnvCopy {
        char dev[256];
        long long offset;
        unsigned long size;
        unsigned long sector_size;
        unsigned long sectors;
} EnvCopy;

struct UBootEnv {
        struct uboot_ctx *ctx;
        bool opened;
        unsigned copies;
        EnvCopy copy[2];
        bool single_copy_ok;
        int lock_fd;
        char *config;
};

UBootEnv *uboot_env_free(UBootEnv *e) {
        if (!e)
                return NULL;
        if (e->ctx) {
                if (e->opened)
                        libuboot_close(e->ctx);
                libuboot_exit(e->ctx);
        }
        if (e->lock_fd >= 0)
                close(e->lock_fd);
        free(e->config);
        free(e);
        return NULL;
}

/* The copies' lines as libubootenv reads them (the first two with a device, offset and size; # comments). */
static unsigned config_copies(const char *config, EnvCopy ret[static 2]) {
        _cleanup_fclose_ FILE *f = fopen(config, "re");
        char line[512];
        unsigned n = 0;

        while (f && n < 2 && fgets(line, sizeof line, f)) {
                EnvCopy c = {};
                if (line[0] != '#' && sscanf(line, "%255s %lli %lx %lx %lx", c.dev, &c.offset, &c.size, &c.sector_size,
                                             &c.sectors) >= 3)
                        ret[n++] = c;
        }
        return n;
}

/* libubootenv says only "invalid" when a device is missing: name it (a UBI volume is DEVICE:VOLUME). */
static int config_error(const char *config) {
        EnvCopy copies[2];
        unsigned n = config_copies(config, copies);

        for (unsigned i = 0; i < n; i++) {
                char dev[sizeof copies[i].dev];
                strcpy(dev, copies[i].dev);
                dev[strcspn(dev, ":")] = 0;
                if (access(dev, F_OK) < 0)
                        return err_set(errno, "U-Boot environment: %s: device %s: %m", config, dev);
        }
        /* U-Boot's two copies are CONFIG_ENV_SIZE each; libubootenv refuses others without saying why. */
        if (n == 2 && copies[0].size != copies[1].size)
                return err_set(EINVAL, "U-Boot environment: %s: the two copies differ in size (0x%lx and 0x%lx)", config,
                               copies[0].size, copies[1].size);
        return err_set(EINVAL, "U-Boot environment: %s: not a valid fw_env.config (device offset size, one line per copy)",
                       config);
}

/* The size of a regular file or block device; -1: cannot tell (missing, MTD, UBI). */
static long long device_size(const char *dev) {
        _cleanup_close_ int fd = open(dev, O_RDONLY | O_CLOEXEC);
        uint64_t size;

        if (fd < 0 || fd_data_size(fd, &size) < 0 || size > INT64_MAX)
                return -1;
        return (long long) size;
}

/* A negative offset counts from the end of the device, as libubootenv resolves it; -1: cannot tell. */
static long long copy_start(const EnvCopy *c) {
        if (c->offset >= 0)
                return c->offset;
        long long size = device_size(c->dev);
        return size < 0 ? -1 : size + c->offset;
}

/* libubootenv says only -EIO when a copy lies past the end of its device (an offset or size that is
 * not U-Boot's): name the copy. */
static int read_error(const UBootEnv *e, int r) {
        for (unsigned i = 0; i < e->copies; i++) {
                const EnvCopy *c = &e->copy[i];
                long long size = device_size(c->dev), start = copy_start(c);
                if (size >= 0 && start >= 0 && (unsigned long long) start + c->size > (unsigned long long) size)
                        return err_set(EINVAL, "U-Boot environment (%s): copy %u (0x%lx bytes at 0x%llx) ends past the "
                                       "end of %s (0x%llx bytes): the offsets and sizes must be U-Boot's CONFIG_ENV_*",
                                       e->config, i + 1, c->size, start, c->dev, size);
        }
        return err_set(r == -EIO ? EIO : -r, "U-Boot environment (%s): cannot read it: %s", e->config, strerror(-r));
}

int uboot_env_open(const char *config, UBootEnv **ret) {
        _cleanup_(uboot_env_freep) UBootEnv *e = calloc(1, sizeof *e);
        int r;

        if (!e)
                return -ENOMEM;
        e->lock_fd = -EBADF;
        if (!(e->config = strdup(config)))
                return -ENOMEM;
        e->lock_fd = open(config, O_RDONLY | O_CLOEXEC);
        if (e->lock_fd < 0)
                return err_set(errno, "U-Boot environment: cannot open %s: %m", config);
        if (flock(e->lock_fd, LOCK_EX) < 0)
                return err_set(errno, "U-Boot environment: cannot lock %s: %m", config);
        if (libuboot_initialize(&e->ctx, NULL) < 0)
                return -ENOMEM;
        r = libuboot_read_config(e->ctx, config);
        if (r < 0)
                return config_error(config);
        e->copies = config_copies(config, e->copy);
        r = libuboot_open(e->ctx);
        /* Even a failed open holds libubootenv's lock and may have read variables: free closes it. */
        e->opened = true;
        if (r == -ENODATA)
                return err_set(ENODATA, "U-Boot environment (%s): no valid copy (never saved, or both copies damaged); "
                               "run saveenv in U-Boot or seed it with fw_setenv -c %s -f FILE", config, config);
        if (r < 0)
                return read_error(e, r);
        *ret = TAKE_PTR(e);
        return 0;
}

char *uboot_env_get(UBootEnv *e, const char *name) {
        return libuboot_get_env(e->ctx, name);
}

int uboot_env_set(UBootEnv *e, const char *name, const char *value) {
        int r = libuboot_set_env(e->ctx, name, value);
        if (r < 0)
                return err_set(-r, "U-Boot environment: cannot set %s: %s", name, strerror(-r));
        return 0;
}

void uboot_env_allow_single_copy(UBootEnv *e) {
        e->single_copy_ok = true;
}

/* The same file or device node (two names of one block device included); false when either is missing. */
static bool same_device(const char *a, const char *b) {
        struct stat sa, sb;

        if (stat(a, &sa) < 0 || stat(b, &sb) < 0)
                return false;
        if (sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino)
                return true;
        return (sa.st_mode & S_IFMT) == (sb.st_mode & S_IFMT) && (S_ISBLK(sa.st_mode) || S_ISCHR(sa.st_mode)) &&
               sa.st_rdev == sb.st_rdev;
}

/* The bytes a write of the copy touches: on flash (libubootenv: /dev/mtd*) whole erase sectors. */
static unsigned long long copy_extent(const EnvCopy *c) {
        unsigned long long n = c->size;
        if (strncmp(c->dev, "/dev/mtd", 8) == 0 && c->sector_size > 0)
                n = (n + c->sector_size - 1) / c->sector_size * c->sector_size;
        return n;
}

/* Copies sharing bytes: each write damages the other, and a power cut during one loses both. */
static int check_copies_apart(const UBootEnv *e) {
        const EnvCopy *a = &e->copy[0], *b = &e->copy[1];

        if (e->copies < 2 || !same_device(a->dev, b->dev))
                return 0;
        long long sa = copy_start(a), sb = copy_start(b);
        if (sa < 0 || sb < 0)
                return 0;
        if ((unsigned long long) sa + copy_extent(a) <= (unsigned long long) sb ||
            (unsigned long long) sb + copy_extent(b) <= (unsigned long long) sa)
                return 0;
        return err_set(EINVAL, "U-Boot environment (%s): the two copies overlap (%s at 0x%llx and 0x%llx, 0x%llx bytes "
                       "each): a write of one damages the other; use U-Boot's CONFIG_ENV_OFFSET, CONFIG_ENV_OFFSET_REDUND "
                       "and CONFIG_ENV_SIZE", e->config, a->dev, sa, sb, MAX(copy_extent(a), copy_extent(b)));
}

/* libubootenv tells a full environment as -ENOMEM; say so, with the sizes. The variables, each
 * NAME=VALUE and a NUL, and the NUL that ends them fit in a copy less its CRC (and flag byte). */
static int check_room(const UBootEnv *e) {
        size_t need = 1;

        if (e->copies == 0)
                return 0;
        for (void *v = libuboot_iterator(e->ctx, NULL); v; v = libuboot_iterator(e->ctx, v))
                need += strlen(libuboot_getname(v)) + 1 + strlen(libuboot_getvalue(v)) + 1;
        size_t header = e->copies >= 2 ? 5 : 4;
        size_t room = e->copy[0].size > header ? e->copy[0].size - header : 0;
        if (need <= room)
                return 0;
        return err_set(ENOSPC, "U-Boot environment (%s) is full: its variables need %zu bytes, a copy holds %zu "
                       "(the size in fw_env.config, U-Boot's CONFIG_ENV_SIZE)", e->config, need, room);
}

/*
 * libubootenv fsync()s a file or block device after its write but ignores the result (0.3.2 to 0.3.7), so
 * a write-back that failed (an I/O error, a cache flush the eMMC refused) would pass for a saved
 * environment. The copies' devices are opened before the write, so that the kernel reports an error of
 * that write-back to these descriptors too (each open file sees it once), and synced after it. A
 * device that has nothing to sync (an MTD character device: its writes reach the flash before they
 * return) says EINVAL or EROFS; a copy that cannot be opened by its name (a UBI volume named
 * DEVICE:VOLUME) is left to libubootenv, whose UBI writes are not cached either.
 */
static int open_copy(const UBootEnv *e, unsigned i) {
        if (i >= e->copies || (i > 0 && streq(e->copy[i].dev, e->copy[0].dev)))
                return -EBADF;
        return open(e->copy[i].dev, O_RDONLY | O_CLOEXEC | O_NOCTTY);
}

static int sync_copy(const UBootEnv *e, unsigned i, int *fd) {
        if (*fd < 0)
                return 0;
        int r = fsync(*fd) < 0 ? errno : 0;
        *fd = safe_close(*fd);
        if (r != 0 && r != EINVAL && r != EROFS)
                return err_set(r, "U-Boot environment (%s): cannot write it: sync of %s failed: %s", e->config, e->copy[i].dev,
                               strerror(r));
        return 0;
}

int uboot_env_store(UBootEnv *e) {
        if (e->copies < 2 && !e->single_copy_ok)
                return err_set(EOPNOTSUPP, "U-Boot environment (%s): one copy only; a power cut while writing it would lose the "
                               "whole environment: list two copies (redundant environment, docs/uboot.md)", e->config);
        int r = check_copies_apart(e);
        if (r >= 0)
                r = check_room(e);
        if (r < 0)
                return r;
        _cleanup_close_ int fd0 = open_copy(e, 0), fd1 = open_copy(e, 1);
        r = libuboot_env_store(e->ctx);
        if (r != 0) {
                /* A short write comes back as a byte count, a failed write(2) as -1. */
                int errnum = r < -1 ? -r : EIO;
                return err_set(errnum, "U-Boot environment (%s): cannot write it: %s", e->config, strerror(errnum));
        }
        r = sync_copy(e, 0, &fd0);
        return r < 0 ? r : sync_copy(e, 1, &fd1);
}
