/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cpio-pack.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "basic/error.h"
#include "basic/fileio.h"

/* zstd: the Debian kernel has CONFIG_RD_ZSTD=y; level 10 is a fair trade of time for size. */
#define CPIO_ZSTD_LEVEL "10"

typedef struct Entry {
        char *path;             /* relative */
        struct stat st;
        const CpioExtra *extra; /* set for synthetic entries */
} Entry;

typedef struct EntryList {
        Entry *e;
        size_t n, alloc;
} EntryList;

static void entry_list_done(EntryList *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->e[i].path);
        free(l->e);
}

static int entry_list_add(EntryList *l, char *path, const struct stat *st, const CpioExtra *extra) {
        if (l->n == l->alloc) {
                size_t a = l->alloc ? l->alloc * 2 : 256;
                Entry *e = reallocarray(l->e, a, sizeof *e);
                if (!e) {
                        free(path);
                        return -ENOMEM;
                }
                l->e = e;
                l->alloc = a;
        }
        l->e[l->n++] = (Entry) { .path = path, .st = st ? *st : (struct stat) {}, .extra = extra };
        return 0;
}

static int collect(const char *root, const char *rel, EntryList *l) {
        _cleanup_free_ char *abs = NULL;
        if (asprintf(&abs, "%s%s%s", root, *rel ? "/" : "", rel) < 0)
                return -ENOMEM;

        DIR *d = opendir(abs);
        if (!d)
                return err_set(errno, "cannot read directory %s: %m", abs);

        int r = 0;
        struct dirent *de;
        while ((errno = 0, de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                char *child;
                struct stat st;
                if (asprintf(&child, "%s%s%s", rel, *rel ? "/" : "", de->d_name) < 0) {
                        r = -ENOMEM;
                        break;
                }
                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        r = err_set(errno, "cannot stat %s/%s: %m", root, child);
                        free(child);
                        break;
                }
                r = entry_list_add(l, child, &st, NULL);
                if (r < 0)
                        break;
                if (S_ISDIR(st.st_mode)) {
                        r = collect(root, child, l);
                        if (r < 0)
                                break;
                }
        }
        if (r == 0 && errno != 0)
                r = err_set(errno, "cannot read directory %s: %m", abs);
        closedir(d);
        return r;
}

/* Byte order, not the locale's: the same tree gives the same archive everywhere. */
static int entry_cmp(const void *a, const void *b) {
        return strcmp(((const Entry *) a)->path, ((const Entry *) b)->path);
}

static void archive_freep(struct archive **a) {
        if (*a)
                archive_write_free(*a);
}

static void archive_entry_freep(struct archive_entry **e) {
        if (*e)
                archive_entry_free(*e);
}

static int write_data(struct archive *a, const char *root, const char *rel) {
        _cleanup_free_ char *abs = NULL;
        _cleanup_close_ int fd = -EBADF;
        char buf[65536];

        if (asprintf(&abs, "%s/%s", root, rel) < 0)
                return -ENOMEM;
        fd = open(abs, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return err_set(errno, "cannot open %s: %m", abs);
        for (;;) {
                ssize_t n = loop_read(fd, buf, sizeof buf);
                if (n < 0)
                        return err_set((int) -n, "cannot read %s: %s", abs, strerror((int) -n));
                if (n == 0)
                        return 0;
                if (archive_write_data(a, buf, (size_t) n) != n)
                        return err_set(EIO, "initramfs: cannot write %s: %s", rel, archive_error_string(a));
        }
}

static int write_entry(struct archive *a, const char *root, const Entry *e, int64_t ino, time_t epoch) {
        _cleanup_(archive_entry_freep) struct archive_entry *ae = archive_entry_new();
        if (!ae)
                return -ENOMEM;

        archive_entry_set_pathname(ae, e->path);
        archive_entry_set_uid(ae, 0);
        archive_entry_set_gid(ae, 0);
        archive_entry_set_mtime(ae, epoch, 0);
        archive_entry_set_ino64(ae, ino);
        archive_entry_set_dev(ae, 0);
        archive_entry_set_nlink(ae, 1);
        archive_entry_set_size(ae, 0);

        if (e->extra) {
                archive_entry_set_mode(ae, e->extra->mode);
                archive_entry_set_rdevmajor(ae, e->extra->rdev_major);
                archive_entry_set_rdevminor(ae, e->extra->rdev_minor);
        } else {
                mode_t m = e->st.st_mode;
                /* Permissions from the build machine's umask would make the
                 * bytes depend on it: directories and programs 0755, other
                 * files 0644 (nothing in an initramfs is secret or set-id). */
                mode_t perm = S_ISLNK(m) ? 0777 : S_ISDIR(m) || (m & 0111) ? 0755 : 0644;
                archive_entry_set_mode(ae, (m & S_IFMT) | perm);
                if (S_ISREG(m))
                        archive_entry_set_size(ae, e->st.st_size);
                else if (S_ISLNK(m)) {
                        _cleanup_free_ char *abs = NULL;
                        char target[4096];
                        if (asprintf(&abs, "%s/%s", root, e->path) < 0)
                                return -ENOMEM;
                        ssize_t n = readlink(abs, target, sizeof target - 1);
                        if (n < 0)
                                return err_set(errno, "cannot read link %s: %m", abs);
                        target[n] = 0;
                        archive_entry_set_symlink(ae, target);
                } else if (S_ISCHR(m) || S_ISBLK(m)) {
                        archive_entry_set_rdevmajor(ae, major(e->st.st_rdev));
                        archive_entry_set_rdevminor(ae, minor(e->st.st_rdev));
                } else if (!S_ISDIR(m) && !S_ISFIFO(m))
                        return err_set(EINVAL, "initramfs: %s/%s: unsupported file type", root, e->path);
        }

        if (archive_write_header(a, ae) != ARCHIVE_OK)
                return err_set(EIO, "initramfs: cannot add %s: %s", e->path, archive_error_string(a));
        if (!e->extra && S_ISREG(e->st.st_mode) && e->st.st_size > 0)
                return write_data(a, root, e->path);
        return 0;
}

int cpio_pack_tree(const char *dir, const CpioExtra *extra, size_t n_extra, time_t epoch, const char *out_path) {
        _cleanup_(entry_list_done) EntryList l = {};
        _cleanup_(atomic_file_freep) AtomicFile *f = NULL;
        _cleanup_(archive_freep) struct archive *a = NULL;
        int r;

        r = collect(dir, "", &l);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n_extra; i++) {
                char *p = strdup(extra[i].path);
                if (!p)
                        return -ENOMEM;
                for (size_t j = 0; j < l.n; j++)
                        if (streq(l.e[j].path, p)) {
                                free(p);
                                return err_set(EEXIST, "initramfs: %s is both in %s and added", extra[i].path, dir);
                        }
                r = entry_list_add(&l, p, NULL, &extra[i]);
                if (r < 0)
                        return r;
        }
        qsort(l.e, l.n, sizeof *l.e, entry_cmp);

        r = atomic_file_open(out_path, 0644, &f);
        if (r < 0)
                return err_prefix(r, "cannot create %s", out_path);

        a = archive_write_new();
        if (!a)
                return -ENOMEM;
        if (archive_write_set_format_cpio_newc(a) != ARCHIVE_OK ||
            archive_write_add_filter_zstd(a) != ARCHIVE_OK ||
            archive_write_set_filter_option(a, "zstd", "compression-level", CPIO_ZSTD_LEVEL) != ARCHIVE_OK ||
            /* No padding past the compressed stream: the output is exactly the stream. */
            archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
            archive_write_open_fd(a, f->fd) != ARCHIVE_OK)
                return err_set(EIO, "initramfs: %s", archive_error_string(a));

        for (size_t i = 0; i < l.n; i++) {
                r = write_entry(a, dir, &l.e[i], (int64_t) i + 1, epoch);
                if (r < 0)
                        return r;
        }
        if (archive_write_close(a) != ARCHIVE_OK)
                return err_set(EIO, "initramfs: cannot finish %s: %s", out_path, archive_error_string(a));

        r = atomic_file_commit(f);
        if (r < 0)
                return err_prefix(r, "cannot write %s", out_path);
        return 0;
}
