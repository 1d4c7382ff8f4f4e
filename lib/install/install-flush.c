/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "install-private.h"

#include <unistd.h>

#include "basic/error.h"

/*
 * The slot's partitions are flushed once, in a thread, while the kernel
 * and initrd go to the ESP (docs/install.md, "Where the time goes").
 */

static void *flush_thread(void *userdata) {
        Install *in = userdata;
        Flush *f = &in->flush;
        for (size_t i = 0; i < f->n; i++)
                if (fdatasync(in->parts[f->parts[i]].fd) < 0) {
                        f->error = errno;
                        f->failed = i;
                        break;
                }
        return NULL;
}

/*
 * Whether a flush already queued covers t: a partition written only with
 * O_DIRECT (no dirty page cache: the signature partition's buffered end was
 * written out with sync_file_range()) on the same disk as one flushed. A
 * flush, fdatasync() of a block device, ends with a cache flush of its whole
 * disk, and covers every write completed before it was issued; a partition's
 * own fdatasync() would only repeat it (on the benchmark's loop device, each
 * is a journal commit of the backing file, 20-50 ms).
 */
static bool flush_covers(const Install *in, const Flush *f, const InstallTarget *t) {
        if (!t->blockdev || !t->direct || t->disk == 0)
                return false;
        for (size_t j = 0; j < f->n; j++) {
                const InstallTarget *o = &in->parts[f->parts[j]];
                if (o->blockdev && o->disk == t->disk)
                        return true;
        }
        return false;
}

int install_flush_start(Install *in) {
        Flush *f = &in->flush;
        if (f->running)
                return 0;
        f->n = 0;
        f->error = 0;
        for (int i = 0; i < _SLOT_PART_MAX; i++) {
                if (!in->unsynced[i])
                        continue;
                in->unsynced[i] = false;
                if (flush_covers(in, f, &in->parts[i]))
                        continue;
                f->parts[f->n++] = i;
        }
        if (f->n == 0)
                return 0;
        if (pthread_create(&f->thread, NULL, flush_thread, in) == 0) {
                f->running = true;
                return 0;
        }
        flush_thread(in); /* no thread: here, now */
        return f->error ? err_set(f->error, "cannot sync %s: %s", in->parts[f->parts[f->failed]].label,
                                  strerror(f->error)) : 0;
}

int install_flush_finish(Install *in) {
        Flush *f = &in->flush;
        if (f->running) {
                pthread_join(f->thread, NULL);
                f->running = false;
                if (f->error)
                        return err_set(f->error, "cannot sync %s: %s", in->parts[f->parts[f->failed]].label,
                                       strerror(f->error));
        }
        for (int i = 0; i < _SLOT_PART_MAX; i++)
                if (in->unsynced[i]) {
                        if (fdatasync(in->parts[i].fd) < 0)
                                return err_set(errno, "cannot sync %s: %m", in->parts[i].label);
                        in->unsynced[i] = false;
                }
        return 0;
}

