/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "slot-discover.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "slot/ptable.h"

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

void slot_partition_done(SlotPartition *p) {
        if (!p)
                return;
        free(p->path);
        *p = (SlotPartition) {};
}

int slot_part_label(Slot slot, SlotPart part, char *buf, size_t size) {
        const char *s = slot_to_string(slot), *k = slot_part_to_string(part);
        if (!s || !k)
                return -EINVAL;
        int n = snprintf(buf, size, "abide-%s-%s", k, s);
        if (n < 0 || (size_t) n >= size)
                return -ENOBUFS;
        return 0;
}

typedef bool (*MatchFn)(const PartEntry *e, const char *want);

static bool match_label(const PartEntry *e, const char *want) {
        return e->name && streq(e->name, want);
}

static bool match_uuid(const PartEntry *e, const char *want) {
        return e->uuid && strcasecmp(e->uuid, want) == 0;
}

/* The device node of partition partno of a block-device disk, when it exists. */
static char *partition_node(const char *disk, int partno) {
        struct stat st;
        char sys[128];

        if (stat(disk, &st) < 0 || !S_ISBLK(st.st_mode))
                return NULL;
        snprintf(sys, sizeof sys, "/sys/dev/block/%u:%u", major(st.st_rdev), minor(st.st_rdev));
        _cleanup_(closedirp) DIR *d = opendir(sys);
        if (!d)
                return NULL;
        struct dirent *de;
        while ((de = readdir(d))) {
                char path[PATH_MAX], *num = NULL;
                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof path, "%s/%s/partition", sys, de->d_name);
                if (read_full_file(path, 32, &num, NULL) < 0)
                        continue;
                bool same = atoi(num) == partno;
                free(num);
                if (!same)
                        continue;
                char *node;
                if (asprintf(&node, "/dev/%s", de->d_name) < 0)
                        return NULL;
                if (stat(node, &st) < 0 || !S_ISBLK(st.st_mode)) {
                        free(node);
                        return NULL;
                }
                return node;
        }
        return NULL;
}

/* Looks for want in disk's table; counts matches into *n, keeps the first in ret. */
static int search_disk(const char *disk, MatchFn match, const char *want, bool must_probe,
                       SlotPartition *ret, unsigned *n) {
        _cleanup_(ptable_freep) PartTable *t = NULL;
        int r = ptable_read(disk, &t);
        if (r < 0)
                return must_probe ? r : 0;

        for (size_t i = 0; i < t->n; i++) {
                const PartEntry *e = &t->entries[i];
                if (!match(e, want))
                        continue;
                if ((*n)++ > 0)
                        continue;
                char *node = partition_node(disk, e->partno);
                if (node)
                        *ret = (SlotPartition) { .path = node };
                else {
                        char *copy = strdup(disk);
                        if (!copy)
                                return -ENOMEM;
                        *ret = (SlotPartition) { .path = copy, .offset = e->start, .size = e->size };
                }
        }
        return 0;
}

static int search(const AbideConfig *c, MatchFn match, const char *want, const char *what, SlotPartition *ret) {
        SlotPartition found = {};
        unsigned n = 0;
        int r;

        if (c->disk)
                r = search_disk(c->disk, match, want, true, &found, &n);
        else {
                _cleanup_(closedirp) DIR *d = opendir("/sys/block");
                if (!d)
                        return err_set(errno, "cannot list /sys/block: %m");
                struct dirent *de;
                r = 0;
                while (r >= 0 && (de = readdir(d))) {
                        char dev[PATH_MAX];
                        if (de->d_name[0] == '.' || strncmp(de->d_name, "ram", 3) == 0 ||
                            strncmp(de->d_name, "zram", 4) == 0 || strncmp(de->d_name, "dm-", 3) == 0)
                                continue;
                        snprintf(dev, sizeof dev, "/dev/%s", de->d_name);
                        r = search_disk(dev, match, want, false, &found, &n);
                }
        }
        if (r < 0) {
                slot_partition_done(&found);
                return err_prefix(r, "looking for %s %s", what, want);
        }
        if (n == 0)
                return err_set(ENOENT, "no partition with %s %s on %s", what, want, c->disk ?: "any disk");
        if (n > 1) {
                slot_partition_done(&found);
                return err_set(ENOTUNIQ, "%u partitions with %s %s on %s%s", n, what, want,
                               c->disk ?: "the attached disks", c->disk ? "" : "; set Disk= in abide.conf");
        }
        *ret = found;
        return 0;
}

static int from_override(const char *path, SlotPartition *ret) {
        char *copy = strdup(path);
        if (!copy)
                return -ENOMEM;
        *ret = (SlotPartition) { .path = copy };
        return 0;
}

int slot_partition_find(const AbideConfig *c, Slot slot, SlotPart part, SlotPartition *ret) {
        char label[64];
        int r;

        r = slot_part_label(slot, part, label, sizeof label);
        if (r < 0)
                return err_set(EINVAL, "invalid slot or partition kind");
        if (c->partitions[slot][part])
                return from_override(c->partitions[slot][part], ret);
        return search(c, match_label, label, "PARTLABEL", ret);
}

int slot_partitions_find(const AbideConfig *c, Slot slot, SlotPartition ret[static _SLOT_PART_MAX]) {
        SlotPartition found[_SLOT_PART_MAX] = {};

        for (int p = 0; p < _SLOT_PART_MAX; p++) {
                int r = slot_partition_find(c, slot, (SlotPart) p, &found[p]);
                if (r < 0) {
                        for (int q = 0; q < p; q++)
                                slot_partition_done(&found[q]);
                        return r;
                }
        }
        memcpy(ret, found, sizeof found);
        return 0;
}

int slot_data_partition_find(const AbideConfig *c, SlotPartition *ret) {
        if (c->data_partition)
                return from_override(c->data_partition, ret);
        return search(c, match_label, "abide-data", "PARTLABEL", ret);
}

int slot_boot_partition_find(const AbideConfig *c, SlotPartition *ret) {
        return search(c, match_label, "esp", "PARTLABEL", ret);
}

int slot_partition_find_by_uuid(const AbideConfig *c, const char *uuid, SlotPartition *ret) {
        return search(c, match_uuid, uuid, "PARTUUID", ret);
}

int slot_partition_parent_disk(const char *node, char **ret_disk) {
        _cleanup_free_ char *sys = NULL, *link = NULL, *marker = NULL;
        const char *name = strrchr(node, '/');
        name = name ? name + 1 : node;

        if (asprintf(&sys, "/sys/class/block/%s", name) < 0 || asprintf(&marker, "%s/partition", sys) < 0)
                return -ENOMEM;
        if (access(marker, F_OK) < 0)
                return err_set(ENOTBLK, "%s is not a partition device", node);
        link = realpath(sys, NULL);
        if (!link)
                return err_set(errno, "%s: %m", sys);
        /* .../block/vda/vda1: the parent directory names the disk. */
        char *slash = strrchr(link, '/');
        if (!slash || slash == link)
                return err_set(EINVAL, "%s: unexpected sysfs path %s", node, link);
        *slash = 0;
        const char *disk = strrchr(link, '/') + 1;
        if (asprintf(ret_disk, "/dev/%s", disk) < 0)
                return -ENOMEM;
        return 0;
}

int slot_disk_of_partuuid(const AbideConfig *c, const char *uuid, char **ret_disk) {
        SlotPartition p = {};
        int r;

        r = slot_partition_find_by_uuid(c, uuid, &p);
        if (r < 0)
                return r;
        if (p.offset != 0 || p.size != 0)
                r = err_set(ENOENT, "the device node of partition %s is missing", uuid);
        else
                r = slot_partition_parent_disk(p.path, ret_disk);
        slot_partition_done(&p);
        return r;
}

int slot_partition_open(const SlotPartition *p, int flags, uint64_t *ret_offset, uint64_t *ret_size) {
        _cleanup_close_ int fd = open(p->path, flags | O_CLOEXEC);
        if (fd < 0)
                return err_set(errno, "cannot open %s: %m", p->path);

        uint64_t total;
        int r = fd_data_size(fd, &total);
        if (r == -ENOTBLK)
                return err_set(ENOTBLK, "%s: not a block device or regular file", p->path);
        if (r < 0)
                return err_set(-r, "cannot get the size of %s: %s", p->path, strerror(-r));

        if (p->offset > total || (p->size > 0 && p->size > total - p->offset))
                return err_set(ERANGE, "%s: partition range %" PRIu64 "+%" PRIu64 " beyond its end (%" PRIu64 ")",
                               p->path, p->offset, p->size, total);

        *ret_offset = p->offset;
        *ret_size = p->size > 0 ? p->size : total - p->offset;
        return TAKE_FD(fd);
}
