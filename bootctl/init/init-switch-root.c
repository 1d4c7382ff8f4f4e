/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "init-switch-root.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>

#include "basic/error.h"

int init_check_exec(const char *sysroot, const char *init) {
        _cleanup_close_ int root = open(sysroot, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
                return err_set(errno, "cannot open %s: %m", sysroot);
        /* Resolved as the exec after the chroot will: an absolute symlink (Debian's /sbin/init ->
         * /lib/systemd/systemd) points into the new root, not into the initramfs. */
        struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT };
        _cleanup_close_ int fd = (int) syscall(SYS_openat2, root, init, &how, sizeof how);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0 || faccessat(fd, "", X_OK, AT_EMPTY_PATH) < 0)
                return err_set(errno, "the root file system has no executable %s: %m", init);
        if (!S_ISREG(st.st_mode))
                return err_set(EACCES, "the root file system's %s is not a regular file", init);
        return 0;
}

static int move_mounts(const char *sysroot) {
        static const char *const dirs[] = { "/dev", "/proc", "/sys", "/run" };

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                char to[PATH_MAX];
                snprintf(to, sizeof to, "%s%s", sysroot, dirs[i]);
                if (mount(dirs[i], to, NULL, MS_MOVE, NULL) < 0)
                        return err_set(errno, "cannot move %s to %s: %m", dirs[i], to);
        }
        return 0;
}

/* Removes what is below dfd on device dev; takes ownership of dfd. Best effort: memory, not correctness. */
static void remove_below(int dfd, dev_t dev) {
        DIR *d = fdopendir(dfd);
        if (!d) {
                (void) close(dfd);
                return;
        }
        struct dirent *de;
        while ((de = readdir(d))) {
                struct stat st;
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != dev)
                        continue;
                if (S_ISDIR(st.st_mode)) {
                        int sub = openat(dfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                        if (sub < 0)
                                continue;
                        struct stat sst;
                        /* A mount point shows its own device once opened: leave it alone. */
                        if (fstat(sub, &sst) < 0 || sst.st_dev != dev) {
                                (void) close(sub);
                                continue;
                        }
                        remove_below(sub, dev);
                        (void) unlinkat(dfd, de->d_name, AT_REMOVEDIR);
                } else
                        (void) unlinkat(dfd, de->d_name, 0);
        }
        closedir(d);
}

static void free_initramfs(const char *sysroot) {
        struct statfs sfs;
        struct stat root, sys;

        if (statfs("/", &sfs) < 0 || (sfs.f_type != RAMFS_MAGIC && sfs.f_type != TMPFS_MAGIC))
                return;
        if (stat("/", &root) < 0 || stat(sysroot, &sys) < 0 || root.st_dev == sys.st_dev)
                return; /* sysroot not mounted: removing would reach into it */
        int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0)
                remove_below(fd, root.st_dev);
}

int init_switch_root(const char *sysroot, const char *init, char *const argv[]) {
        int r;

        /* Checked while a failure can still be reported with the initramfs intact. */
        r = init_check_exec(sysroot, init);
        if (r < 0)
                return r;

        r = move_mounts(sysroot);
        if (r < 0)
                return r;
        if (chdir(sysroot) < 0)
                return err_set(errno, "cannot enter %s: %m", sysroot);

        /* Our binary and libraries stay mapped; nothing of the initramfs is read after this. */
        free_initramfs(sysroot);

        if (mount(".", "/", NULL, MS_MOVE, NULL) < 0)
                return err_set(errno, "cannot move %s to /: %m", sysroot);
        if (chroot(".") < 0)
                return err_set(errno, "cannot chroot into %s: %m", sysroot);
        if (chdir("/") < 0)
                return err_set(errno, "cannot enter the new root: %m");

        /* A pending alarm would survive the exec. */
        alarm(0);
        execv(init, argv);
        return err_set(errno, "cannot execute %s: %m", init);
}
