/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The only file that calls libblkid. */
#include "ptable.h"

#include <blkid/blkid.h>
#include <ctype.h>
#include <fcntl.h>

#include "basic/error.h"

static void blkid_free_probep(blkid_probe *p) {
        if (*p)
                blkid_free_probe(*p);
}

static char *strdup_lower(const char *s) {
        char *c = strdup(s);
        if (c)
                for (char *p = c; *p; p++)
                        *p = (char) tolower((unsigned char) *p);
        return c;
}

int ptable_read(const char *disk, PartTable **ret) {
        _cleanup_(blkid_free_probep) blkid_probe pr = NULL;
        _cleanup_close_ int fd = -EBADF;

        fd = open(disk, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
                return err_set(errno, "cannot open disk %s: %m", disk);

        pr = blkid_new_probe();
        if (!pr)
                return -ENOMEM;
        errno = 0;
        if (blkid_probe_set_device(pr, fd, 0, 0) < 0)
                return err_set(errno ?: EIO, "%s: cannot probe: %m", disk);
        (void) blkid_probe_enable_superblocks(pr, 0);
        (void) blkid_probe_enable_partitions(pr, 1);
        (void) blkid_probe_set_partitions_flags(pr, BLKID_PARTS_ENTRY_DETAILS);

        errno = 0;
        int r = blkid_do_safeprobe(pr);
        if (r == 1 || r == -2)
                return err_set(ENOMEDIUM, "%s: no partition table", disk);
        if (r < 0)
                return err_set(errno ?: EIO, "%s: cannot read the partition table", disk);

        blkid_partlist pl = blkid_probe_get_partitions(pr);
        if (!pl)
                return err_set(ENOMEDIUM, "%s: no partition table", disk);
        int n = blkid_partlist_numof_partitions(pl);
        if (n < 0)
                return err_set(EIO, "%s: cannot read the partition table", disk);

        _cleanup_(ptable_freep) PartTable *t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        t->entries = calloc((size_t) n + 1, sizeof *t->entries);
        if (!t->entries)
                return -ENOMEM;

        for (int i = 0; i < n; i++) {
                blkid_partition p = blkid_partlist_get_partition(pl, i);
                if (!p)
                        continue;
                PartEntry *e = &t->entries[t->n++];
                const char *name = blkid_partition_get_name(p);
                const char *uuid = blkid_partition_get_uuid(p);
                if (name && !(e->name = strdup(name)))
                        return -ENOMEM;
                if (uuid && !(e->uuid = strdup_lower(uuid)))
                        return -ENOMEM;
                e->partno = blkid_partition_get_partno(p);
                /* libblkid reports 512-byte sectors whatever the disk's sector size. */
                e->start = (uint64_t) blkid_partition_get_start(p) * 512;
                e->size = (uint64_t) blkid_partition_get_size(p) * 512;
        }

        *ret = TAKE_PTR(t);
        return 0;
}

PartTable *ptable_free(PartTable *t) {
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n; i++) {
                free(t->entries[i].name);
                free(t->entries[i].uuid);
        }
        free(t->entries);
        free(t);
        return NULL;
}
