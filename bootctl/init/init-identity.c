/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The only file that calls libfdisk. */
#include "init-identity.h"

#include <libfdisk/libfdisk.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include "basic/error.h"
#include "init-log.h"

#define ZERO_UUID "00000000-0000-0000-0000-000000000000"

static void fdisk_unref_contextp(struct fdisk_context **c) {
        if (*c)
                fdisk_unref_context(*c);
}

static void fdisk_unref_partitionp(struct fdisk_partition **p) {
        if (*p)
                fdisk_unref_partition(*p);
}

/* libfdisk reports through its dialog callback; keep its last warning for our
 * message and nothing on the console (abide-init logs once, with the cause). */
static int on_ask(struct fdisk_context *cxt, struct fdisk_ask *ask, void *data) {
        char *last = data;
        (void) cxt;

        if (fdisk_is_ask(ask, WARN) || fdisk_is_ask(ask, WARNX)) {
                const char *m = fdisk_ask_print_get_mesg(ask);
                if (m)
                        (void) snprintf(last, 256, "%s", m);
                return 0;
        }
        if (fdisk_is_ask(ask, INFO))
                return 0;
        return -EINVAL;   /* a question: never answered here */
}

/* A random version 4 UUID, lowercase. getrandom() waits for the kernel's pool
 * (a second at the most at early boot: the kernel seeds it from jitter then). */
static int random_uuid(char ret[static 37]) {
        uint8_t d[16];
        ssize_t n;

        do
                n = getrandom(d, sizeof d, 0);
        while (n < 0 && errno == EINTR);
        if (n != (ssize_t) sizeof d)
                return err_set(n < 0 ? errno : EIO, "no random bytes for a UUID: %m");
        d[6] = (d[6] & 0x0f) | 0x40;
        d[8] = (d[8] & 0x3f) | 0x80;
        snprintf(ret, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", d[0], d[1], d[2],
                 d[3], d[4], d[5], d[6], d[7], d[8], d[9], d[10], d[11], d[12], d[13], d[14], d[15]);
        return 0;
}

/* New UUIDs for every used entry; *ret_new_esp the one that had esp_uuid. */
static int new_partition_uuids(struct fdisk_context *cxt, const char *disk, const char *esp_uuid,
                               char **ret_new_esp) {
        _cleanup_free_ char *new_esp = NULL;
        size_t n = fdisk_get_npartitions(cxt);
        int r;

        for (size_t i = 0; i < n; i++) {
                _cleanup_(fdisk_unref_partitionp) struct fdisk_partition *old = NULL, *pa = NULL;
                char uuid[37];

                if (!fdisk_is_partition_used(cxt, i))
                        continue;
                r = fdisk_get_partition(cxt, i, &old);
                if (r < 0)
                        return err_set(-r, "%s: cannot read partition %zu: %s", disk, i + 1, strerror(-r));
                r = random_uuid(uuid);
                if (r < 0)
                        return r;
                pa = fdisk_new_partition();
                if (!pa)
                        return -ENOMEM;
                r = fdisk_partition_set_uuid(pa, uuid);
                if (r >= 0)
                        r = fdisk_set_partition(cxt, i, pa);
                if (r < 0)
                        return err_set(-r, "%s: cannot set partition %zu's UUID: %s", disk, i + 1, strerror(-r));
                const char *was = fdisk_partition_get_uuid(old);
                if (esp_uuid && was && strcasecmp(was, esp_uuid) == 0 && !(new_esp = strdup(uuid)))
                        return -ENOMEM;
        }
        *ret_new_esp = TAKE_PTR(new_esp);
        return 0;
}

int init_identity_personalize(const char *disk, bool reread, const char *esp_uuid, char **ret_new_esp_uuid) {
        _cleanup_(fdisk_unref_contextp) struct fdisk_context *cxt = NULL;
        _cleanup_free_ char *id = NULL, *new_esp = NULL;
        char last[256] = "", disk_uuid[37];
        int r;

        cxt = fdisk_new_context();
        if (!cxt)
                return -ENOMEM;
        (void) fdisk_set_ask(cxt, on_ask, last);
        r = fdisk_assign_device(cxt, disk, 0);
        if (r < 0)
                return err_set(-r, "%s: cannot open its partition table for writing: %s", disk, strerror(-r));
        if (!fdisk_is_label(cxt, GPT)) {
                *ret_new_esp_uuid = NULL;
                return 0;
        }
        r = fdisk_get_disklabel_id(cxt, &id);
        if (r < 0 || !id)
                return err_set(r < 0 ? -r : EIO, "%s: cannot read the disk GUID", disk);
        if (strcasecmp(id, ZERO_UUID) != 0) {
                *ret_new_esp_uuid = NULL;
                return 0;
        }

        r = random_uuid(disk_uuid);
        if (r < 0)
                return r;
        r = fdisk_set_disklabel_id_from_string(cxt, disk_uuid);
        if (r < 0)
                return err_set(-r, "%s: cannot set the disk GUID: %s", disk, strerror(-r));
        r = new_partition_uuids(cxt, disk, esp_uuid, &new_esp);
        if (r < 0)
                return r;

        r = fdisk_write_disklabel(cxt);
        if (r < 0)
                return err_set(-r, "%s: writing the partition table failed: %s%s%s", disk, strerror(-r),
                               last[0] ? ": " : "", last);
        if (fsync(fdisk_get_devfd(cxt)) < 0)
                return err_set(errno, "%s: syncing the partition table failed: %m", disk);
        if (reread) {
                r = fdisk_reread_partition_table(cxt);
                if (r < 0)
                        init_log("%s: the kernel keeps the old partition UUIDs until the next boot: %s", disk,
                                 last[0] ? last : strerror(-r));
        }
        r = fdisk_deassign_device(cxt, 0);
        if (r < 0)
                return err_set(-r, "%s: closing the partition table failed: %s", disk, strerror(-r));

        *ret_new_esp_uuid = TAKE_PTR(new_esp);
        return 1;
}
