/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "init-discover.h"

#include <time.h>

#include "basic/error.h"

#define POLL_MS 100

void init_partitions_done(InitPartitions *p) {
        if (!p)
                return;
        for (int i = 0; i < _SLOT_PART_MAX; i++)
                slot_partition_done(&p->slot[i]);
        slot_partition_done(&p->data);
}

static uint64_t now_ms(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* One look at the disks: 0 all found, -ENOENT something missing (message names it), other errors final. */
static int discover_once(const AbideConfig *config, Slot slot, bool allow_ranges, const char *esp_uuid,
                         InitPartitions *ret) {
        _cleanup_(init_partitions_done) InitPartitions found = {};
        _cleanup_free_ char *disk = NULL;
        AbideConfig narrowed;
        const AbideConfig *c = config;
        int r;

        if (esp_uuid && !config->disk) {
                /* -ENOENT (not there yet) keeps the poll going. */
                r = slot_disk_of_partuuid(config, esp_uuid, &disk);
                if (r < 0)
                        return r;
                narrowed = *config;   /* shallow: only read, and only disk differs */
                narrowed.disk = disk;
                c = &narrowed;
        }

        for (int p = 0; p < _SLOT_PART_MAX; p++) {
                r = slot_partition_find(c, slot, (SlotPart) p, &found.slot[p]);
                if (r < 0)
                        return r;
        }
        r = slot_data_partition_find(c, &found.data);
        if (r < 0)
                return r;

        if (!allow_ranges) {
                SlotPartition *all[] = { &found.slot[0], &found.slot[1], &found.slot[2], &found.data };
                for (size_t i = 0; i < ELEMENTSOF(all); i++)
                        if (all[i]->offset != 0 || all[i]->size != 0)
                                return err_set(ENOENT, "the partition device nodes of %s are missing", all[i]->path);
        }

        *ret = found;
        found = (InitPartitions) {};
        return 0;
}

int init_discover(const AbideConfig *c, Slot slot, unsigned wait_sec, bool allow_ranges, const char *esp_uuid,
                  InitPartitions *ret) {
        uint64_t deadline = now_ms() + (uint64_t) wait_sec * 1000;

        for (;;) {
                err_clear();
                int r = discover_once(c, slot, allow_ranges, esp_uuid, ret);
                if (r != -ENOENT)
                        return r;
                if (now_ms() >= deadline) {
                        const char *why = strdupa(err_message(r));
                        return err_set(ENOENT, "%s (waited %u s)", why, wait_sec);
                }
                (void) nanosleep(&(struct timespec) { .tv_nsec = POLL_MS * 1000000L }, NULL);
        }
}
