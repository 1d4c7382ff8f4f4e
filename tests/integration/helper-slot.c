/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reaches lib/slot and lib/boot for the bootctl integration tests (config
 * from $ABIDE_CONF):
 *   helper-slot install SLOT VERSION TRIES   the slot/boot steps of an install, no payloads
 *   helper-slot partitions SLOT              "<label> <path> <offset> <size>" per partition
 *   helper-slot data                         the same for abide-data
 *   helper-slot uki-version FILE             the version in a UKI's .osrel, as status shows it
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "basic/error.h"
#include "boot/boot.h"
#include "boot/uki-osrel.h"
#include "slot/config.h"
#include "slot/slot-discover.h"
#include "slot/state.h"

static int fail(int r) {
        fprintf(stderr, "helper-slot: %s\n", err_message(r));
        return 1;
}

static void print_part(const char *label, const SlotPartition *p) {
        printf("%s %s %" PRIu64 " %" PRIu64 "\n", label, p->path, p->offset, p->size);
}

int main(int argc, char *argv[]) {
        _cleanup_(config_freep) AbideConfig *c = NULL;
        int r;

        if (argc < 2)
                return 2;
        if (streq(argv[1], "uki-version") && argc == 3) {
                _cleanup_free_ char *v = NULL;
                if ((r = uki_read_version(argv[2], &v)) < 0)
                        return fail(r);
                printf("%s\n", v);
                return 0;
        }
        r = config_load(NULL, &c);
        if (r < 0)
                return fail(r);

        if (streq(argv[1], "install") && argc == 5) {
                _cleanup_(boot_backend_freep) BootBackend *b = NULL;
                _cleanup_(state_freep) AbideState *s = NULL;
                Slot slot = slot_from_string(argv[2]);
                if (slot < 0)
                        return fail(err_set(EINVAL, "bad slot"));
                if ((r = boot_backend_open(c, &b)) < 0 || (r = state_load(c->state_file, &s)) < 0)
                        return fail(r);
                /* The order an install follows (lib/install/install.c): history, unbootable, payloads,
                 * the trial recorded, then its entry. */
                if ((r = state_install_begin(s, slot, argv[3], (uint64_t) time(NULL))) < 0 ||
                    (r = state_save(s, c->state_file)) < 0 ||
                    (r = boot_remove(b, slot)) < 0)
                        return fail(r);
                state_install_done(s, slot, (uint64_t) time(NULL));
                if ((r = state_save(s, c->state_file)) < 0 ||
                    (r = boot_write(b, slot, &(BootEntrySpec) { argv[3], "console=ttyS0", (unsigned) atoi(argv[4]) })) < 0)
                        return fail(r);
                return 0;
        }
        if (streq(argv[1], "partitions") && argc == 3) {
                SlotPartition p[_SLOT_PART_MAX];
                Slot slot = slot_from_string(argv[2]);
                if (slot < 0)
                        return fail(err_set(EINVAL, "bad slot"));
                if ((r = slot_partitions_find(c, slot, p)) < 0)
                        return fail(r);
                for (int i = 0; i < _SLOT_PART_MAX; i++) {
                        char label[64];
                        slot_part_label(slot, (SlotPart) i, label, sizeof label);
                        print_part(label, &p[i]);
                        slot_partition_done(&p[i]);
                }
                return 0;
        }
        if (streq(argv[1], "data") && argc == 2) {
                SlotPartition p;
                if ((r = slot_data_partition_find(c, &p)) < 0)
                        return fail(r);
                print_part("abide-data", &p);
                slot_partition_done(&p);
                return 0;
        }
        return 2;
}
