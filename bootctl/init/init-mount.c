/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "init-mount.h"

#include <blkid/blkid.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "basic/error.h"

/* builder/disk-data.h, which lives with abide-build: the same layout. */
#define DATA_VAR "var"
#define DATA_ETC_UPPER "etc-overlay/upper"
#define DATA_ETC_WORK "etc-overlay/work"

static int mount_pseudo(const char *what, const char *where, const char *type, unsigned long flags, const char *opts) {
        if (mkdir(where, 0755) < 0 && errno != EEXIST)
                return err_set(errno, "cannot create %s: %m", where);
        if (mount(what, where, type, flags, opts) < 0 && errno != EBUSY)
                return err_set(errno, "cannot mount %s on %s: %m", type, where);
        return 0;
}

int init_mount_pseudo(void) {
        int r;

        r = mount_pseudo("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        if (r >= 0)
                r = mount_pseudo("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
        if (r >= 0)
                r = mount_pseudo("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
        if (r >= 0)
                r = mount_pseudo("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
        return r;
}

static void blkid_free_probep(blkid_probe *p) {
        if (*p)
                blkid_free_probe(*p);
}

/* The file system type on dev, as libblkid sees it. */
static int probe_type(const char *dev, const char **ret) {
        _cleanup_(blkid_free_probep) blkid_probe pr = NULL;
        _cleanup_close_ int fd = open(dev, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return err_set(errno, "cannot open %s: %m", dev);
        pr = blkid_new_probe();
        if (!pr)
                return -ENOMEM;
        errno = 0;
        if (blkid_probe_set_device(pr, fd, 0, 0) < 0)
                return err_set(errno ?: EIO, "%s: cannot probe: %m", dev);
        (void) blkid_probe_enable_superblocks(pr, 1);
        (void) blkid_probe_set_superblocks_flags(pr, BLKID_SUBLKS_TYPE);
        (void) blkid_probe_enable_partitions(pr, 0);
        errno = 0;
        int r = blkid_do_safeprobe(pr);
        if (r < 0 && r != -2)
                return err_set(errno ?: EIO, "%s: cannot probe the file system: %m", dev);
        const char *type = NULL;
        if (r != 0 || blkid_probe_lookup_value(pr, "TYPE", &type, NULL) < 0 || !type)
                return err_set(EMEDIUMTYPE, "%s: no file system found", dev);
        /* Static strings: the probe's value dies with it. */
        if (streq(type, "erofs"))
                *ret = "erofs";
        else if (streq(type, "squashfs"))
                *ret = "squashfs";
        else
                return err_set(EMEDIUMTYPE, "%s: file system %s is not erofs or squashfs", dev, type);
        return 0;
}

static int need_dir(const char *root, const char *sub) {
        char path[PATH_MAX];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", root, sub);
        if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
                return err_set(ENOTDIR, "the root file system has no /%s directory", sub);
        return 0;
}

int init_mount_root(const char *dev, const char *sysroot, const char **ret_type) {
        const char *type = NULL;
        int r;

        r = probe_type(dev, &type);
        if (r < 0)
                return r;
        if (mount(dev, sysroot, type, MS_RDONLY, NULL) < 0)
                return err_set(errno, "cannot mount %s (%s) read-only on %s: %m", dev, type, sysroot);

        static const char *const dirs[] = { "etc", "var", "proc", "sys", "dev", "run" };
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                r = need_dir(sysroot, dirs[i]);
                if (r < 0) {
                        (void) umount2(sysroot, MNT_DETACH);
                        return r;
                }
        }
        *ret_type = type;
        return 0;
}

/* mkdir -p below an existing base, each new directory 0755 (root's: the data file system is not shared). */
static int mkdir_below(const char *base, const char *rel) {
        char path[PATH_MAX];
        int n = snprintf(path, sizeof path, "%s/%s", base, rel);
        if (n < 0 || (size_t) n >= sizeof path)
                return err_set(ENAMETOOLONG, "path too long: %s/%s", base, rel);
        for (char *p = path + strlen(base) + 1;; p++) {
                if (*p != '/' && *p != 0)
                        continue;
                char c = *p;
                *p = 0;
                if (mkdir(path, 0755) < 0 && errno != EEXIST)
                        return err_set(errno, "cannot create %s: %m", path);
                struct stat st;
                if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
                        return err_set(ENOTDIR, "%s is not a directory", path);
                if (!c)
                        return 0;
                *p = c;
        }
}

int init_mount_data(const char *dev, const char *data_dir, const char *sysroot) {
        char var[PATH_MAX], etc[PATH_MAX], src[PATH_MAX], opts[3 * PATH_MAX + 64];
        int r;

        r = mkdir_below("/", data_dir + (data_dir[0] == '/'));
        if (r < 0)
                return r;
        if (mount(dev, data_dir, "ext4", MS_NODEV | MS_NOSUID, NULL) < 0)
                return err_set(errno, "cannot mount %s (ext4) on %s: %m", dev, data_dir);

        const char *const dirs[] = { DATA_VAR, DATA_ETC_UPPER, DATA_ETC_WORK };
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                r = mkdir_below(data_dir, dirs[i]);
                if (r < 0)
                        return r;
        }

        snprintf(src, sizeof src, "%s/%s", data_dir, DATA_VAR);
        snprintf(var, sizeof var, "%s/var", sysroot);
        if (mount(src, var, NULL, MS_BIND, NULL) < 0)
                return err_set(errno, "cannot bind %s on %s: %m", src, var);

        snprintf(etc, sizeof etc, "%s/etc", sysroot);
        int n = snprintf(opts, sizeof opts, "lowerdir=%s,upperdir=%s/%s,workdir=%s/%s", etc, data_dir, DATA_ETC_UPPER,
                         data_dir, DATA_ETC_WORK);
        if (n < 0 || (size_t) n >= sizeof opts)
                return err_set(ENAMETOOLONG, "overlay options too long");
        if (mount("overlay", etc, "overlay", MS_NOSUID | MS_NODEV, opts) < 0)
                return err_set(errno, "cannot mount the /etc overlay (%s): %m", opts);
        return 0;
}
