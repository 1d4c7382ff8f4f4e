/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "disk-layout.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "basic/error.h"
#include "basic/uuid.h"
#include "crypto/hash.h"

#define TYPE_ESP "c12a7328-f81f-11d2-ba4b-00a0c93ec93b"
#define TYPE_VAR "4d21b016-b534-45c2-a9fb-5c16e091fd2d"

/* The root, verity and verity-sig types are the bundle's architecture's (lib/basic/arch.c). */
typedef enum PartKind { PART_FIXED, PART_ROOT, PART_VERITY, PART_VERITY_SIG } PartKind;

static const struct {
        const char *label;
        PartKind kind;
        const char *type;       /* PART_FIXED */
} part_table[_DISK_PART_MAX] = {
        [DISK_PART_ESP] = { "esp", PART_FIXED, TYPE_ESP },
        [DISK_PART_ROOT_A] = { "abide-root-a", PART_ROOT },
        [DISK_PART_VERITY_A] = { "abide-verity-a", PART_VERITY },
        [DISK_PART_VERITY_SIG_A] = { "abide-verity-sig-a", PART_VERITY_SIG },
        [DISK_PART_ROOT_B] = { "abide-root-b", PART_ROOT },
        [DISK_PART_VERITY_B] = { "abide-verity-b", PART_VERITY },
        [DISK_PART_VERITY_SIG_B] = { "abide-verity-sig-b", PART_VERITY_SIG },
        [DISK_PART_DATA] = { "abide-data", PART_FIXED, TYPE_VAR },
};

static const char *part_type(size_t i, const ArchInfo *a) {
        switch (part_table[i].kind) {
        case PART_ROOT:
                return a->dps_root;
        case PART_VERITY:
                return a->dps_root_verity;
        case PART_VERITY_SIG:
                return a->dps_root_verity_sig;
        default:
                return part_table[i].type;
        }
}

int disk_parse_size(const char *s, uint64_t *ret) {
        static const char units[] = "KMGT";
        char *end;

        if (!s || !isdigit((unsigned char) *s))
                return err_set(EINVAL, "bad size '%s'", s ? s : "");
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno != 0 || end == s)
                return err_set(EINVAL, "bad size '%s'", s);

        unsigned shift = 0;
        if (*end) {
                const char *u = strchr(units, *end);
                if (!u || !*u)
                        return err_set(EINVAL, "bad size '%s': unit must be K, M, G or T", s);
                shift = 10 * (unsigned) (u - units + 1);
                end++;
                if (streq(end, "iB") || streq(end, "B"))
                        end += strlen(end);
        }
        if (*end)
                return err_set(EINVAL, "bad size '%s': unit must be K, M, G or T", s);
        if (v == 0)
                return err_set(EINVAL, "bad size '%s': must not be 0", s);
        if (v > (UINT64_MAX >> 2) >> shift)
                return err_set(ERANGE, "size '%s' is too large", s);
        *ret = (uint64_t) v << shift;
        return 0;
}

static uint64_t align_up(uint64_t v) {
        return (v + DISK_ALIGN - 1) / DISK_ALIGN * DISK_ALIGN;
}

static uint64_t div_up(uint64_t a, uint64_t b) {
        return (a + b - 1) / b;
}

uint64_t disk_verity_hash_size(uint64_t data_size, uint32_t data_block_size, uint32_t hash_block_size) {
        uint64_t per_block = hash_block_size / SHA256_DIGEST_SIZE;
        uint64_t blocks = div_up(data_size, data_block_size);
        /* The superblock takes one hash block ahead of the tree. */
        uint64_t total = 1;

        do {
                blocks = div_up(blocks, per_block);
                total += blocks;
        } while (blocks > 1);
        return total * hash_block_size;
}

/* A version 4 UUID from SHA-256(root hash, label): stable per bundle, distinct per partition. */
static int derive_uuid(const char *root_hash, const char *label, char ret[static 37]) {
        char seed[SHA256_HEX_SIZE + 64];
        uint8_t d[SHA256_DIGEST_SIZE];
        int n = snprintf(seed, sizeof seed, "abide-disk:%s:%s", root_hash, label);
        int r;

        if (n < 0 || (size_t) n >= sizeof seed)
                return err_set(EINVAL, "label too long: %s", label);
        r = sha256_buf(seed, (size_t) n, d);
        if (r < 0)
                return r;
        uuid_v4_format(d, ret);
        return 0;
}

/* 32 hex digits as a UUID string. */
static void hex_to_uuid(const char *hex, char ret[static 37]) {
        snprintf(ret, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16, hex + 20);
}

static uint64_t mib(uint64_t bytes) {
        return div_up(bytes, UINT64_C(1) << 20);
}

int disk_layout_compute(const Manifest *m, const DiskSizes *req, DiskLayout *ret) {
        const Payload *root = manifest_find_role(m, PAYLOAD_ROOT);
        const Payload *verity = manifest_find_role(m, PAYLOAD_VERITY);
        const Payload *sig = manifest_find_role(m, PAYLOAD_VERITY_SIG);
        const Payload *kernel = manifest_find_role(m, PAYLOAD_KERNEL);
        const Payload *initrd = manifest_find_role(m, PAYLOAD_INITRD);
        const ArchInfo *arch = arch_info(m->architecture);
        DiskLayout l = {};
        int r;

        if (!arch)
                return err_set(EINVAL, "bundle has an unknown architecture");
        if (!root || !verity || !sig)
                return err_set(EINVAL, "bundle lacks a root, verity or verity-sig payload");
        if (!kernel || !initrd)
                return err_set(EINVAL, "bundle has no %s payload; a bootable disk needs a bundle built "
                                       "from a recipe with [Boot]", kernel ? "initrd" : "kernel");
        if (strlen(m->verity.root_hash) != 2 * SHA256_DIGEST_SIZE)
                return err_set(EINVAL, "unexpected root hash length in manifest");

        /* The ESP holds both slots' kernel and initrd; room for both to double in size. */
        uint64_t boot = kernel->size + initrd->size;
        uint64_t esp_need = align_up(2 * boot + (UINT64_C(4) << 20));
        uint64_t esp = req->esp ? req->esp : MAX(UINT64_C(64) << 20, align_up(4 * boot + (UINT64_C(8) << 20)));
        if (esp < MAX(esp_need, DISK_ESP_MIN))
                return err_set(ENOSPC, "--esp-size %" PRIu64 "M is too small: %s %" PRIu64 "M", mib(esp),
                               esp_need >= DISK_ESP_MIN ? "both slots' kernel and initrd need"
                                                        : "a FAT32 file system (65525 clusters) needs",
                               mib(MAX(esp_need, DISK_ESP_MIN)));

        /* Headroom for later, bigger images: half again, at least 16 MiB. */
        uint64_t slot = req->slot ? req->slot : align_up(root->size + MAX(root->size / 2, UINT64_C(16) << 20));
        if (slot < root->size)
                return err_set(ENOSPC, "--slot-size %" PRIu64 "M is too small: the root image has %" PRIu64 " bytes",
                               mib(slot), root->size);
        if (slot % m->verity.data_block_size != 0)
                return err_set(EINVAL, "--slot-size must be a multiple of %" PRIu32 " bytes", m->verity.data_block_size);
        uint64_t hash = align_up(MAX(verity->size, disk_verity_hash_size(slot, m->verity.data_block_size,
                                                                          m->verity.hash_block_size)));
        uint64_t sigsz = align_up(MAX(sig->size, DISK_VERITY_SIG_MIN));

        uint64_t sizes[_DISK_PART_MAX] = {
                [DISK_PART_ESP] = align_up(esp),
                [DISK_PART_ROOT_A] = align_up(slot),
                [DISK_PART_VERITY_A] = hash,
                [DISK_PART_VERITY_SIG_A] = sigsz,
                [DISK_PART_ROOT_B] = align_up(slot),
                [DISK_PART_VERITY_B] = hash,
                [DISK_PART_VERITY_SIG_B] = sigsz,
        };
        /* GPT headers: the first MiB, and the backup table in the last one. */
        uint64_t fixed = 2 * DISK_ALIGN;
        for (size_t i = 0; i < DISK_PART_DATA; i++)
                fixed += sizes[i];

        uint64_t data_min = req->data ? align_up(req->data) : DISK_DATA_MIN;
        if (data_min < DISK_DATA_MIN)
                return err_set(ENOSPC, "--data-size %" PRIu64 "M is too small: abide-data needs at least %" PRIu64 "M",
                               mib(req->data), mib(DISK_DATA_MIN));
        if (req->disk) {
                uint64_t disk = req->disk / DISK_ALIGN * DISK_ALIGN;
                if (disk < fixed + data_min)
                        return err_set(ENOSPC, "--size %" PRIu64 "M is too small: this layout needs at least %" PRIu64 "M",
                                       mib(req->disk), mib(fixed + data_min));
                sizes[DISK_PART_DATA] = disk - fixed;
        } else
                sizes[DISK_PART_DATA] = req->data ? data_min : DISK_DATA_DEFAULT;

        uint64_t offset = DISK_ALIGN;
        for (size_t i = 0; i < _DISK_PART_MAX; i++) {
                DiskPart *p = &l.parts[i];
                p->label = part_table[i].label;
                p->type = part_type(i, arch);
                p->offset = offset;
                p->size = sizes[i];
                offset += sizes[i];
                r = derive_uuid(m->verity.root_hash, p->label, p->uuid);
                if (r < 0)
                        return r;
        }
        hex_to_uuid(m->verity.root_hash, l.parts[DISK_PART_ROOT_A].uuid);
        hex_to_uuid(m->verity.root_hash + 2 * SHA256_DIGEST_SIZE / 2, l.parts[DISK_PART_VERITY_A].uuid);
        /* The factory image's mark (docs/boot.md, "A device's own UUIDs"): an all-zero disk GUID
         * makes abide-init give the disk and every partition random UUIDs at the first boot. */
        snprintf(l.disk_uuid, sizeof l.disk_uuid, "%s", UUID_NIL);
        l.disk_size = offset + DISK_ALIGN;
        /* Empty slot B: "no-auto" (GPT attribute 63), else systemd-dissect, which takes the
         * highest label of versioned partitions, picks the empty "-b" over slot A. */
        l.parts_no_auto[DISK_PART_ROOT_B] = l.parts_no_auto[DISK_PART_VERITY_B] =
                l.parts_no_auto[DISK_PART_VERITY_SIG_B] = true;

        *ret = l;
        return 0;
}

int disk_layout_to_sfdisk(const DiskLayout *l, char **ret) {
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        _cleanup_fclose_ FILE *f = open_memstream(&buf, &size);

        if (!f)
                return -ENOMEM;
        fprintf(f, "label: gpt\nlabel-id: %s\nunit: sectors\nsector-size: 512\nfirst-lba: 2048\n", l->disk_uuid);
        for (size_t i = 0; i < _DISK_PART_MAX; i++) {
                const DiskPart *p = &l->parts[i];
                fprintf(f, "start=%" PRIu64 ", size=%" PRIu64 ", type=%s, uuid=%s, name=\"%s\"%s\n", p->offset / 512,
                        p->size / 512, p->type, p->uuid, p->label, l->parts_no_auto[i] ? ", attrs=\"GUID:63\"" : "");
        }
        if (fflush(f) != 0 || ferror(f))
                return -ENOMEM;
        fclose(TAKE_PTR(f));
        *ret = TAKE_PTR(buf);
        return 0;
}
