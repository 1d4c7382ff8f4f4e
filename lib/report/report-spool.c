/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "report-spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "basic/fileio.h"

#define SEQ_FILE "seq"
#define ERROR_FILE "last-error"
#define ERROR_MAX 1024

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

static char *path_join(const char *dir, const char *name) {
        char *p;
        return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

int report_spool_lock(const char *dir, const char *which, bool wait, int *ret_fd) {
        _cleanup_free_ char *path = path_join(dir, which);

        if (!path)
                return -ENOMEM;
        /* Like mkdir -p: a fresh abide-data has no /var/lib/abide/reports yet. */
        int r = lock_file(path, wait, ret_fd);
        return r == -EWOULDBLOCK ? -EAGAIN : r;
}

static int read_seq(const char *dir, uint64_t *ret) {
        _cleanup_free_ char *path = path_join(dir, SEQ_FILE), *text = NULL;
        int r;

        if (!path)
                return -ENOMEM;
        r = read_full_file(path, 64, &text, NULL);
        if (r == -ENOENT) {
                *ret = 0;
                return 0;
        }
        if (r < 0)
                return err_set(r, "cannot read %s: %s", path, strerror(-r));
        char *end;
        errno = 0;
        unsigned long long v = strtoull(text, &end, 10);
        if (errno || end == text || (*end && *end != '\n') || text[0] == '-' || v >= REPORT_SEQ_MAX)
                /* A broken counter must not stop the reports: the spool's files and the id's random part carry on.
                 * A number never counted to is broken too (REPORT_SEQ_MAX itself: none is left above it). */
                v = 0;
        *ret = v;
        return 0;
}

int report_spool_list(const char *dir, ReportSpoolEntry **ret, size_t *ret_n) {
        _cleanup_(closedirp) DIR *d = opendir(dir);
        _cleanup_free_ ReportSpoolEntry *list = NULL;
        size_t n = 0, alloc = 0;

        if (!d) {
                if (errno != ENOENT)
                        return err_set(errno, "cannot read the report spool %s: %m", dir);
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        for (struct dirent *de; (errno = 0, de = readdir(d));) {
                ReportSpoolEntry e = {};
                if (report_spool_name_parse(de->d_name, &e.seq, &e.type) < 0 ||
                    strlen(de->d_name) >= sizeof e.name)
                        continue;
                strcpy(e.name, de->d_name);
                if (n == alloc) {
                        alloc = alloc ? alloc * 2 : 16;
                        ReportSpoolEntry *l = reallocarray(list, alloc, sizeof *l);
                        if (!l)
                                return -ENOMEM;
                        list = l;
                }
                list[n++] = e;
        }
        if (errno)
                return err_set(errno, "cannot read the report spool %s: %m", dir);
        if (n > 0)
                qsort(list, n, sizeof *list, report_spool_entry_compare);
        *ret = TAKE_PTR(list);
        *ret_n = n;
        return 0;
}

/* atomic_file_open()'s temporary of last-error: written by the sender, under its own lock. */
#define ERROR_TEMPORARY ".#" ERROR_FILE "."

static bool is_temporary(const char *name, bool of_sender) {
        if (strncmp(name, ".#", 2) != 0)
                return false;
        return (strncmp(name, ERROR_TEMPORARY, strlen(ERROR_TEMPORARY)) == 0) == of_sender;
}

/*
 * Only under REPORT_SPOOL_LOCK_ADD, before a number is taken: removes the
 * temporary files a power cut left behind (atomic_file_open's
 * ".#NAME.XXXXXX") of what an add writes, everything but last-error's, which
 * a sender may be writing right now under the other lock; and sets aside the
 * names like ours with a number above REPORT_SEQ_MAX, which
 * report_spool_list() never shows: never sent, and the next number follows
 * the highest sane one.
 */
static void spool_tidy(const char *dir) {
        _cleanup_(closedirp) DIR *d = opendir(dir);
        if (!d)
                return;
        for (struct dirent *de; (de = readdir(d));) {
                _cleanup_free_ char *to = NULL;
                ReportEventType t;
                uint64_t seq;

                if (is_temporary(de->d_name, false))
                        (void) unlinkat(dirfd(d), de->d_name, 0);
                else if (report_spool_name_parse(de->d_name, &seq, &t) == -ERANGE &&
                         asprintf(&to, "%s.corrupt", de->d_name) >= 0)
                        (void) renameat(dirfd(d), de->d_name, dirfd(d), to);
        }
}

int report_spool_add(const char *dir, const ReportEvent *e, uint32_t random, uint64_t *ret_seq) {
        _cleanup_close_ int lock = -EBADF;
        _cleanup_free_ ReportSpoolEntry *list = NULL;
        _cleanup_free_ char *json = NULL, *seq_path = path_join(dir, SEQ_FILE), *path = NULL;
        char name[REPORT_SPOOL_NAME_MAX], text[32];
        size_t n = 0, len;
        uint64_t seq = 0;
        int r;

        if (!seq_path)
                return -ENOMEM;
        r = report_spool_lock(dir, REPORT_SPOOL_LOCK_ADD, true, &lock);
        if (r < 0)
                return r;
        spool_tidy(dir);
        r = read_seq(dir, &seq);
        if (r < 0)
                return r;
        r = report_spool_list(dir, &list, &n);
        if (r < 0)
                return r;
        /* Only grows, even if the counter file was lost while events were queued. */
        if (n > 0 && list[n - 1].seq > seq)
                seq = list[n - 1].seq;
        if (seq >= REPORT_SEQ_MAX)
                /* Only a name at exactly REPORT_SEQ_MAX gets here (2^62 events are never counted to: a
                 * planted number, or one given out after a counter planted just below it), and only until
                 * it is sent. */
                return err_set(EOVERFLOW, "report spool %s: %s holds the last sequence number", dir, list[n - 1].name);
        seq++;

        r = report_event_to_json(e, seq, random, &json, &len);
        if (r < 0)
                return r;
        /* The counter first: a power cut in between leaves a gap, never a reused number. */
        int k = snprintf(text, sizeof text, "%" PRIu64 "\n", seq);
        r = write_file_atomic(seq_path, text, (size_t) k, 0644);
        if (r < 0)
                return err_set(r, "cannot write %s: %s", seq_path, strerror(-r));
        report_spool_name_format(seq, e->type, name);
        path = path_join(dir, name);
        if (!path)
                return -ENOMEM;
        r = write_file_atomic(path, json, len, 0644);
        if (r < 0)
                return err_set(r, "cannot write %s: %s", path, strerror(-r));
        if (ret_seq)
                *ret_seq = seq;
        return 0;
}

int report_spool_read(const char *dir, const ReportSpoolEntry *e, char **ret, size_t *ret_len) {
        _cleanup_free_ char *path = path_join(dir, e->name);
        struct stat st;
        int r;

        if (!path)
                return -ENOMEM;
        /* Looked at before it is opened: opening a FIFO would block, a device node could act. */
        if (lstat(path, &st) < 0)
                return err_set(errno, "cannot read %s: %m", path);
        if (!S_ISREG(st.st_mode))
                return err_set(EBADMSG, "%s: not a regular file", path);
        if (st.st_size > REPORT_MAX_SIZE)
                return err_set(EBADMSG, "%s: larger than a report (%d bytes)", path, REPORT_MAX_SIZE);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        if (fd < 0 && errno == ELOOP)
                return err_set(EBADMSG, "%s: not a regular file", path);
        if (fd < 0)
                return err_set(errno, "cannot read %s: %m", path);
        /* Replaced since the lstat(): judged again by what was opened. */
        if (fstat(fd, &st) < 0)
                return err_set(errno, "cannot read %s: %m", path);
        if (!S_ISREG(st.st_mode))
                return err_set(EBADMSG, "%s: not a regular file", path);
        r = read_full_fd(fd, REPORT_MAX_SIZE, ret, ret_len);
        if (r == -EFBIG)
                return err_set(EBADMSG, "%s: larger than a report (%d bytes)", path, REPORT_MAX_SIZE);
        if (r < 0)
                return err_set(r, "cannot read %s: %s", path, strerror(-r));
        return 0;
}

int report_spool_remove(const char *dir, const ReportSpoolEntry *e) {
        _cleanup_free_ char *path = path_join(dir, e->name);
        if (!path)
                return -ENOMEM;
        if (unlink(path) < 0 && errno != ENOENT)
                return err_set(errno, "cannot remove %s: %m", path);
        int r = fsync_directory_of(path);
        if (r < 0)
                return err_set(r, "cannot sync the directory of %s: %s", path, strerror(-r));
        return 0;
}

int report_spool_set_error(const char *dir, const char *msg) {
        _cleanup_free_ char *path = path_join(dir, ERROR_FILE), *text = NULL;
        int r;

        if (!path)
                return -ENOMEM;
        /* Under REPORT_SPOOL_LOCK_SEND: its temporaries a power cut left are this lock's to remove. */
        _cleanup_(closedirp) DIR *d = opendir(dir);
        for (struct dirent *de; d && (de = readdir(d));)
                if (is_temporary(de->d_name, true))
                        (void) unlinkat(dirfd(d), de->d_name, 0);
        if (!msg) {
                if (unlink(path) < 0 && errno != ENOENT)
                        return err_set(errno, "cannot remove %s: %m", path);
                return 0;
        }
        if (asprintf(&text, "%.*s\n", ERROR_MAX, msg) < 0)
                return -ENOMEM;
        for (char *p = text; p[1]; p++)
                if (*p == '\n')
                        *p = ' ';
        r = mkdir_p(dir, 0755);
        if (r < 0)
                return r;
        r = write_file_atomic(path, text, strlen(text), 0644);
        if (r < 0)
                return err_set(r, "cannot write %s: %s", path, strerror(-r));
        return 0;
}

int report_spool_last_error(const char *dir, char **ret) {
        _cleanup_free_ char *path = path_join(dir, ERROR_FILE), *text = NULL;
        int r;

        if (!path)
                return -ENOMEM;
        r = read_full_file(path, ERROR_MAX + 16, &text, NULL);
        if (r == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        if (r < 0)
                return err_set(r, "cannot read %s: %s", path, strerror(-r));
        size_t n = strlen(text);
        while (n > 0 && text[n - 1] == '\n')
                text[--n] = 0;
        *ret = TAKE_PTR(text);
        return 0;
}
