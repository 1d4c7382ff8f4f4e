/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "esp-mount.h"

#include <fcntl.h>
#include <mntent.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "basic/error.h"

int esp_mount_init(EspMount *m, const char *path) {
        *m = (EspMount) { .lock_fd = -EBADF };
        m->path = strdup(path);
        return m->path ? 0 : -ENOMEM;
}

void esp_mount_done(EspMount *m) {
        if (!m)
                return;
        if (m->n_writers > 0) {
                m->n_writers = 1;
                (void) esp_writable_end_full(m, true);
        }
        safe_close(m->lock_fd);
        free(m->path);
        *m = (EspMount) { .lock_fd = -EBADF };
}

int esp_is_mount_point(const char *path) {
        _cleanup_free_ char *parent = NULL;
        struct stat st, pst;

        if (asprintf(&parent, "%s/..", path) < 0)
                return -ENOMEM;
        if (stat(path, &st) < 0 || stat(parent, &pst) < 0)
                return negative_errno();
        /* "/" is its own parent. */
        return st.st_dev != pst.st_dev || st.st_ino == pst.st_ino;
}

/* The device mounted on path, for messages; "?" when /proc/self/mounts does not say. */
static char *mount_source(const char *path) {
        FILE *f = setmntent("/proc/self/mounts", "re");
        char *src = NULL;
        struct mntent *e;

        if (f) {
                /* The last one mounted on path is the one visible. */
                while ((e = getmntent(f)))
                        if (streq(e->mnt_dir, path)) {
                                free(src);
                                src = strdup(e->mnt_fsname);
                        }
                endmntent(f);
        }
        return src ?: strdup("?");
}

/* The mount's per-mount flags as mount(2) wants them back on a remount (which replaces them). */
static unsigned long remount_flags(const struct statvfs *sv, bool rdonly) {
        static const struct {
                unsigned long st, ms;
        } map[] = {
                { ST_NOSUID, MS_NOSUID },         { ST_NODEV, MS_NODEV },
                { ST_NOEXEC, MS_NOEXEC },         { ST_SYNCHRONOUS, MS_SYNCHRONOUS },
                { ST_NOATIME, MS_NOATIME },       { ST_NODIRATIME, MS_NODIRATIME },
                { ST_RELATIME, MS_RELATIME },
        };
        unsigned long f = MS_REMOUNT | (rdonly ? MS_RDONLY : 0);

        for (size_t i = 0; i < ELEMENTSOF(map); i++)
                if (sv->f_flag & map[i].st)
                        f |= map[i].ms;
        return f;
}

static int remount(const char *path, bool rdonly) {
        struct statvfs sv;

        if (statvfs(path, &sv) < 0)
                return negative_errno();
        if (mount(NULL, path, NULL, remount_flags(&sv, rdonly), NULL) < 0)
                return negative_errno();
        return 0;
}

/* "/run/abide/esp-writable-MAJ:MIN": abidectl made that ESP writable. /run is gone after a
 * reboot, and so is a writable ESP; a SIGKILLed abidectl leaves it for the next writer to undo. */
static int marker_path(int fd, char **ret) {
        struct stat st;
        if (fstat(fd, &st) < 0)
                return negative_errno();
        return asprintf(ret, "%s/esp-writable-%u:%u", ESP_RUN_DIR, major(st.st_dev), minor(st.st_dev)) < 0 ? -ENOMEM : 0;
}

static int marker_set(EspMount *m) {
        _cleanup_free_ char *path = NULL;
        int r = marker_path(m->lock_fd, &path);
        if (r < 0)
                return r;
        if (mkdir(ESP_RUN_DIR, 0755) < 0 && errno != EEXIST)
                return negative_errno();
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        return fd < 0 ? negative_errno() : 0;
}

static bool marker_exists(EspMount *m) {
        _cleanup_free_ char *path = NULL;
        return marker_path(m->lock_fd, &path) >= 0 && access(path, F_OK) == 0;
}

static void marker_clear(EspMount *m) {
        _cleanup_free_ char *path = NULL;
        if (marker_path(m->lock_fd, &path) >= 0)
                (void) unlink(path);
}

static int lock_bounded(EspMount *m) {
        struct timespec pause = { .tv_nsec = 100 * 1000 * 1000 };

        for (unsigned waited = 0;; waited++) {
                if (flock(m->lock_fd, LOCK_EX | LOCK_NB) == 0)
                        return 0;
                if (errno != EWOULDBLOCK && errno != EINTR)
                        return err_set(errno, "cannot lock the ESP %s: %m", m->path);
                if (waited >= ESP_LOCK_TIMEOUT_SEC * 10)
                        return err_set(EBUSY, "the ESP %s is being written by another process (waited %d s)", m->path,
                                       ESP_LOCK_TIMEOUT_SEC);
                (void) nanosleep(&pause, NULL);
        }
}

int esp_writable_begin(EspMount *m, EspMount **ret_scope) {
        struct statvfs sv;
        int r;

        if (m->n_writers > 0) {
                m->n_writers++;
                *ret_scope = m;
                return 0;
        }

        m->lock_fd = open(m->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (m->lock_fd < 0)
                return err_set(errno, "cannot open the ESP %s: %m", m->path);
        r = lock_bounded(m);
        if (r < 0) {
                m->lock_fd = safe_close(m->lock_fd);
                return r;
        }

        r = esp_is_mount_point(m->path);
        if (r > 0 && fstatvfs(m->lock_fd, &sv) == 0 && !(sv.f_flag & ST_RDONLY) && marker_exists(m))
                /* Writable since a writer of ours was killed: this scope's end makes it read-only. */
                m->remounted = true;
        else if (r > 0 && fstatvfs(m->lock_fd, &sv) == 0 && (sv.f_flag & ST_RDONLY)) {
                /* Marked first: a kill between the two leaves a mark on a read-only ESP, which is harmless. */
                r = marker_set(m);
                if (r >= 0)
                        r = remount(m->path, false);
                if (r < 0) {
                        _cleanup_free_ char *src = mount_source(m->path);
                        if (r == -EROFS)
                                r = err_set(EROFS, "the ESP %s (%s) is read-only and cannot be made writable: the kernel "
                                            "found errors on it; the next boot checks and repairs it (fsck.fat)",
                                            m->path, src ?: "?");
                        else if (r == -EACCES)
                                r = err_set(EACCES, "cannot make the ESP %s (%s) writable: its device is read-only",
                                            m->path, src ?: "?");
                        else
                                r = err_set(-r, "cannot make the ESP %s (%s) writable: %s", m->path, src ?: "?",
                                            strerror(-r));
                        marker_clear(m);
                        m->lock_fd = safe_close(m->lock_fd);
                        return r;
                }
                m->remounted = true;
        }
        m->n_writers = 1;
        *ret_scope = m;
        return 0;
}

int esp_writable_end_full(EspMount *m, bool cleanup) {
        int r = 0;

        if (m->n_writers == 0)
                return 0;
        if (--m->n_writers > 0)
                return 0;

        /* FAT keeps the allocation table and directory blocks in buffers an fsync of one file may not cover. */
        if (syncfs(m->lock_fd) < 0)
                r = cleanup ? negative_errno() : err_set(errno, "cannot sync the ESP %s: %m", m->path);
        struct statvfs sv;
        if (m->remounted && fstatvfs(m->lock_fd, &sv) == 0 && (sv.f_flag & ST_RDONLY)) {
                /* Read-only though nobody remounted it: the kernel found errors (FAT: errors=remount-ro),
                 * and the write that failed says only "Read-only file system". Name the cause. */
                _cleanup_free_ char *src = mount_source(m->path);
                r = err_set(EROFS, "the ESP %s (%s) was forced read-only by the kernel while written: errors in its "
                            "file system; the next boot repairs it (fsck.fat)", m->path, src ?: "?");
                marker_clear(m);
                m->remounted = false;
        }
        if (m->remounted) {
                struct timespec pause = { .tv_nsec = 100 * 1000 * 1000 };
                int k;
                /* EBUSY: a file is still open for writing (another program's); give it a moment. */
                for (int i = 0; (k = remount(m->path, true)) == -EBUSY && i < 20; i++)
                        (void) nanosleep(&pause, NULL);
                /* Not remounted read-only again: what was written is on the disk all the same (syncfs
                 * above); the marker stays, and the next scope or boot puts it back. */
                if (k >= 0)
                        marker_clear(m);
                m->remounted = false;
        }
        m->lock_fd = safe_close(m->lock_fd);
        return r;
}
