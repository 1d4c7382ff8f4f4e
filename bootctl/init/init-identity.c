/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The only file that calls libfdisk. */
#include "init-identity.h"

#include <libfdisk/libfdisk.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/uuid.h"
#include "crypto/hash.h"
#include "init-log.h"

static void fdisk_unref_contextp(struct fdisk_context **c) {
        if (*c)
                fdisk_unref_context(*c);
}

static void fdisk_unref_partitionp(struct fdisk_partition **p) {
        if (*p)
                fdisk_unref_partition(*p);
}

/* libfdisk reports through its dialog callback; keep its first warning (what it found wrong) for
 * our message and nothing on the console (abide-init logs once, with the cause). */
static int on_ask(struct fdisk_context *cxt, struct fdisk_ask *ask, void *data) {
        char *last = data;
        (void) cxt;

        if (fdisk_is_ask(ask, WARN) || fdisk_is_ask(ask, WARNX)) {
                const char *m = fdisk_ask_print_get_mesg(ask);
                if (m && !last[0])
                        (void) snprintf(last, 256, "%s", m);
                return 0;
        }
        if (fdisk_is_ask(ask, INFO))
                return 0;
        return -EINVAL;   /* a question: never answered here */
}

/* Where the kernel shows what names this machine and this disk, when it does: mixed into the UUIDs'
 * seed so that two devices differ even when their random pools were not ready. */
static const char *const machine_id_files[] = {
        "/sys/class/dmi/id/product_uuid",
        "/sys/class/dmi/id/product_serial",
        "/sys/class/dmi/id/board_serial",
        "/proc/device-tree/serial-number",
};
/* Under /sys/block/<disk>/. */
static const char *const disk_id_files[] = {
        "serial",          /* virtio-blk */
        "device/serial",   /* SCSI, NVMe */
        "device/wwid",
        "device/cid",      /* eMMC, SD */
};

static void hash_file(Sha256 *h, const char *path) {
        _cleanup_free_ char *data = NULL;
        size_t size;

        if (read_full_file(path, 4096, &data, &size) >= 0)
                (void) sha256_update(h, data, size);
        err_clear();
}

/*
 * The seed of the new UUIDs, without waiting for the kernel's random pool
 * (docs/boot.md, "Never waiting for entropy"): getrandom(GRND_INSECURE)'s
 * bytes (the pool as it is: boot-time jitter, device data the kernel mixed
 * in), both clocks, and the machine's and disk's identifiers above, hashed.
 * The UUIDs must differ between devices; nothing secret is made of them.
 */
static int uuid_seed(const char *disk, uint8_t ret[static SHA256_DIGEST_SIZE]) {
        _cleanup_(sha256_freep) Sha256 *h = NULL;
        const char *name = strrchr(disk, '/') ? strrchr(disk, '/') + 1 : disk;
        uint8_t pool[32];
        struct timespec ts[2];
        ssize_t n;
        int r;

        r = sha256_new(&h);
        if (r < 0)
                return r;
        n = getrandom(pool, sizeof pool, GRND_INSECURE);
        if (n < 0 && errno == EINVAL)   /* a kernel before 5.6 */
                n = getrandom(pool, sizeof pool, GRND_NONBLOCK);
        if (n > 0)
                (void) sha256_update(h, pool, (size_t) n);
        (void) clock_gettime(CLOCK_BOOTTIME, &ts[0]);
        (void) clock_gettime(CLOCK_REALTIME, &ts[1]);
        (void) sha256_update(h, ts, sizeof ts);
        for (size_t i = 0; i < ELEMENTSOF(machine_id_files); i++)
                hash_file(h, machine_id_files[i]);
        for (size_t i = 0; i < ELEMENTSOF(disk_id_files); i++) {
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "/sys/block/%s/%s", name, disk_id_files[i]) < 0)
                        return -ENOMEM;
                hash_file(h, path);
        }
        (void) sha256_update(h, disk, strlen(disk));
        return sha256_final(h, ret);
}

/* The n-th UUID of a seed: SHA-256(seed, n), as a version 4 UUID, lowercase. */
static int seeded_uuid(const uint8_t seed[static SHA256_DIGEST_SIZE], uint32_t n, char ret[static UUID_STRING_MAX]) {
        uint8_t in[SHA256_DIGEST_SIZE + sizeof n], d[SHA256_DIGEST_SIZE];
        int r;

        memcpy(in, seed, SHA256_DIGEST_SIZE);
        memcpy(in + SHA256_DIGEST_SIZE, &n, sizeof n);
        r = sha256_buf(in, sizeof in, d);
        if (r < 0)
                return r;
        uuid_v4_format(d, ret);
        return 0;
}

/* New UUIDs for every used entry; *ret_new_esp the one that had esp_uuid. */
static int new_partition_uuids(struct fdisk_context *cxt, const char *disk, const uint8_t *seed,
                               const char *esp_uuid, char **ret_new_esp) {
        _cleanup_free_ char *new_esp = NULL;
        size_t n = fdisk_get_npartitions(cxt);
        int r;

        for (size_t i = 0; i < n; i++) {
                _cleanup_(fdisk_unref_partitionp) struct fdisk_partition *old = NULL, *pa = NULL;
                char uuid[UUID_STRING_MAX];

                if (!fdisk_is_partition_used(cxt, i))
                        continue;
                r = fdisk_get_partition(cxt, i, &old);
                if (r < 0)
                        return err_set(-r, "%s: cannot read partition %zu: %s", disk, i + 1, strerror(-r));
                r = seeded_uuid(seed, (uint32_t) i + 1, uuid);
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

/* The factory disk's new identity, in memory: a disk GUID and every partition's UUID. */
static int give_own_uuids(struct fdisk_context *cxt, const char *disk, const char *esp_uuid, char **ret_new_esp) {
        uint8_t seed[SHA256_DIGEST_SIZE];
        char disk_uuid[UUID_STRING_MAX];
        int r;

        r = uuid_seed(disk, seed);
        if (r >= 0)
                r = seeded_uuid(seed, 0, disk_uuid);
        if (r < 0)
                return err_set(-r, "%s: no seed for new UUIDs: %s", disk, strerror(-r));
        r = fdisk_set_disklabel_id_from_string(cxt, disk_uuid);
        if (r < 0)
                return err_set(-r, "%s: cannot set the disk GUID: %s", disk, strerror(-r));
        return new_partition_uuids(cxt, disk, seed, esp_uuid, ret_new_esp);
}

/* Opens disk (read-only or not) and says whether the step has something to write: the factory mark
 * (own), or a table libfdisk marks changed (a copy that failed its CRC and was read from the other, a
 * backup not at the disk's end, a protective MBR of another size). *ret_cxt NULL: not GPT. */
static int probe(const char *disk, bool readonly, bool own, char last[static 256], struct fdisk_context **ret_cxt,
                 bool *ret_factory, bool *ret_changed) {
        _cleanup_(fdisk_unref_contextp) struct fdisk_context *cxt = NULL;
        _cleanup_free_ char *id = NULL;
        int r;

        last[0] = 0;
        cxt = fdisk_new_context();
        if (!cxt)
                return -ENOMEM;
        (void) fdisk_set_ask(cxt, on_ask, last);
        r = fdisk_assign_device(cxt, disk, readonly);
        if (r < 0)
                return err_set(-r, "%s: cannot open its partition table%s: %s", disk, readonly ? "" : " for writing",
                               strerror(-r));
        if (!fdisk_is_label(cxt, GPT)) {
                *ret_cxt = NULL;
                *ret_factory = *ret_changed = false;
                return 0;
        }
        bool changed = fdisk_label_is_changed(fdisk_get_label(cxt, NULL));
        r = fdisk_get_disklabel_id(cxt, &id);
        if (r < 0 || !id)
                return err_set(r < 0 ? -r : EIO, "%s: cannot read the disk GUID", disk);
        *ret_factory = own && strcasecmp(id, UUID_NIL) == 0;
        *ret_changed = changed;
        *ret_cxt = TAKE_PTR(cxt);
        return 0;
}

int init_identity_check(const char *disk, bool reread, bool own, const char *esp_uuid, char **ret_new_esp_uuid,
                        char **ret_repaired) {
        _cleanup_(fdisk_unref_contextp) struct fdisk_context *cxt = NULL;
        _cleanup_free_ char *new_esp = NULL, *repaired = NULL;
        char last[256];
        bool factory, changed;
        int r;

        /* Read-only first: almost every boot writes nothing, and then the disk is not opened for writing. */
        r = probe(disk, true, own, last, &cxt, &factory, &changed);
        if (r < 0)
                return r;
        if (!cxt || (!factory && !changed)) {
                *ret_new_esp_uuid = *ret_repaired = NULL;
                return INIT_IDENTITY_KEPT;
        }
        fdisk_unref_context(TAKE_PTR(cxt));
        r = probe(disk, false, own, last, &cxt, &factory, &changed);
        if (r < 0)
                return r;
        if (!cxt || (!factory && !changed)) {   /* changed meanwhile: nothing to write after all */
                *ret_new_esp_uuid = *ret_repaired = NULL;
                return INIT_IDENTITY_KEPT;
        }
        if (factory)
                r = give_own_uuids(cxt, disk, esp_uuid, &new_esp);
        else
                r = (repaired = strdup(last[0] ? last : "libfdisk found it needs writing")) ? 0 : -ENOMEM;
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
                        init_log("%s: the kernel keeps the partition table it read until the next boot: %s", disk,
                                 strerror(-r));
        }
        r = fdisk_deassign_device(cxt, 0);
        if (r < 0)
                return err_set(-r, "%s: closing the partition table failed: %s", disk, strerror(-r));

        *ret_new_esp_uuid = TAKE_PTR(new_esp);
        *ret_repaired = TAKE_PTR(repaired);
        return factory ? INIT_IDENTITY_OWN : INIT_IDENTITY_REPAIRED;
}
