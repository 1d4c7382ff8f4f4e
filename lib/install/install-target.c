/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "install-target.h"

#include <blkid/blkid.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "basic/error.h"
#include "basic/fileio.h"

void install_target_done(InstallTarget *t) {
        if (!t)
                return;
        safe_close(t->fd);
        free(t->path);
        *t = (InstallTarget) { .fd = -EBADF };
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static char *unescape_octal(const char *s, size_t n) {
        char *out = malloc(n + 1), *o = out;
        if (!out)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '\\' && i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' &&
                    s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
                        *o++ = (char) (((s[i + 1] - '0') << 6) | ((s[i + 2] - '0') << 3) | (s[i + 3] - '0'));
                        i += 3;
                } else
                        *o++ = s[i];
        }
        *o = 0;
        return out;
}

int mountinfo_find_device(const char *mountinfo, dev_t devnum, char **ret_mountpoint) {
        const char *line = mountinfo;

        while (line && *line) {
                const char *end = strchrnul(line, '\n');
                unsigned maj, min;
                int n = 0;

                /* "ID PARENT MAJ:MIN ROOT MOUNTPOINT ..." */
                if (sscanf(line, "%*u %*u %u:%u %*s %n", &maj, &min, &n) == 2 && n > 0 && line + n < end &&
                    makedev(maj, min) == devnum) {
                        const char *mp = line + n;
                        size_t len = strcspn(mp, " \n");
                        char *m = unescape_octal(mp, len);
                        if (!m)
                                return -ENOMEM;
                        *ret_mountpoint = m;
                        return 1;
                }
                line = *end ? end + 1 : NULL;
        }
        return 0;
}

static int check_not_mounted(const InstallTarget *t) {
        _cleanup_free_ char *text = NULL, *mp = NULL;

        int r = read_full_file("/proc/self/mountinfo", 16 * 1024 * 1024, &text, NULL);
        if (r < 0)
                return err_set(r, "cannot read /proc/self/mountinfo: %s", strerror(-r));
        r = mountinfo_find_device(text, t->devnum, &mp);
        if (r < 0)
                return r;
        if (r > 0)
                return err_set(EBUSY, "target partition %s (%s) is mounted on %s", t->label, t->path, mp);
        return 0;
}

int install_target_open(const SlotPartition *p, const char *label, InstallTarget *ret) {
        _cleanup_(install_target_done) InstallTarget t = { .fd = -EBADF };
        struct stat st;
        uint64_t offset = 0, size = 0;
        int r;

        snprintf(t.label, sizeof t.label, "%s", label);
        t.path = strdup(p->path);
        if (!t.path)
                return -ENOMEM;
        if (p->offset != 0 || p->size != 0)
                return err_set(ENODEV, "target partition %s is a range of %s without its own device node; "
                               "create the partition nodes (partx -a) first", label, p->path);
        if (stat(p->path, &st) < 0)
                return err_set(errno, "target partition %s: cannot stat %s: %m", label, p->path);
        t.blockdev = S_ISBLK(st.st_mode);
        t.devnum = t.blockdev ? st.st_rdev : st.st_dev;
        t.ino = t.blockdev ? 0 : st.st_ino;

        if (t.blockdev) {
                r = check_not_mounted(&t);
                if (r < 0)
                        return r;
                char name[PATH_MAX];
                dev_t disk;
                if (blkid_devno_to_wholedisk(t.devnum, name, sizeof name, &disk) == 0)
                        t.disk = disk;
        }

        /* O_EXCL on a block device claims it: fails while mounted or held by dm. */
        int flags = O_RDWR | (t.blockdev ? O_EXCL : 0);
        r = slot_partition_open(p, flags | O_DIRECT, &offset, &size);
        if (r == -EINVAL) {
                /* tmpfs and some other file systems refuse O_DIRECT: buffered it is. */
                err_clear();
                r = slot_partition_open(p, flags, &offset, &size);
        } else if (r >= 0)
                t.direct = true;
        if (r == -EBUSY)
                return err_set(EBUSY, "target partition %s (%s) is in use (mounted, or held by device-mapper)",
                               label, p->path);
        if (r < 0)
                return err_prefix(r, "target partition %s", label);
        t.fd = r;
        t.size = size;

        *ret = t;
        t = (InstallTarget) { .fd = -EBADF };
        return 0;
}

bool install_target_same(const InstallTarget *a, const SlotPartition *b) {
        struct stat st;

        if (!b->path || stat(b->path, &st) < 0)
                return false;
        if (S_ISBLK(st.st_mode))
                return a->blockdev && st.st_rdev == a->devnum && b->offset == 0;
        return !a->blockdev && st.st_dev == a->devnum && st.st_ino == a->ino;
}

const char *install_role_file(PayloadRole role) {
        switch (role) {
        case PAYLOAD_KERNEL:
                return "vmlinuz";
        case PAYLOAD_INITRD:
                return "initrd";
        case PAYLOAD_UKI_A:
        case PAYLOAD_UKI_B:
                return UKI_STAGED;
        default:
                return NULL;
        }
}
