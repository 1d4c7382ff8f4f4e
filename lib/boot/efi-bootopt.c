/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Boot#### options are made and read by libefiboot, device paths built by libefivar. */
#include "efi-bootopt.h"

#include <ctype.h>
#include <efiboot.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "boot/efivars.h"
#include "slot/ptable.h"
#include "slot/slot-discover.h"
#include "slot/slot.h"

/* UEFI 2.10, 3.1.3 Load Options. */
#define LOAD_OPTION_ACTIVE 0x00000001u
#define BOOT_OPTION_NUMBERS 0x10000

static int read_sysfs_u64(const char *dir, const char *name, uint64_t *ret) {
        _cleanup_free_ char *path = NULL, *s = NULL;
        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        int r = read_full_file(path, 64, &s, NULL);
        if (r < 0)
                return r;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno != 0 || end == s || (*end != 0 && *end != '\n'))
                return -EBADMSG;
        *ret = v;
        return 0;
}

int esp_location_from_device(const char *partition_device, EspLocation *ret) {
        _cleanup_free_ char *node = NULL, *sys = NULL, *disk = NULL;
        _cleanup_(ptable_freep) PartTable *t = NULL;
        uint64_t partno, start, size;
        struct stat st;
        efi_guid_t guid;
        int r;

        node = realpath(partition_device, NULL);
        if (!node)
                return err_set(errno, "ESP %s: %m", partition_device);
        if (stat(node, &st) < 0)
                return err_set(errno, "ESP %s: %m", partition_device);
        if (!S_ISBLK(st.st_mode))
                return err_set(ENOTBLK, "ESP %s is not a block device", partition_device);
        if (asprintf(&sys, "/sys/dev/block/%u:%u", major(st.st_rdev), minor(st.st_rdev)) < 0)
                return -ENOMEM;
        r = read_sysfs_u64(sys, "partition", &partno);
        if (r == -ENOENT)
                return err_set(ENOTBLK, "ESP %s is not a partition", partition_device);
        /* sysfs counts start and size in 512-byte sectors whatever the disk's sector size. */
        if (r >= 0)
                r = read_sysfs_u64(sys, "start", &start);
        if (r >= 0)
                r = read_sysfs_u64(sys, "size", &size);
        if (r < 0)
                return err_set(r, "ESP %s: cannot read its partition from %s: %s", partition_device, sys, strerror(-r));
        if (partno == 0 || partno > UINT32_MAX)
                return err_set(EBADMSG, "ESP %s: partition number %" PRIu64 " in %s", partition_device, partno, sys);

        r = slot_partition_parent_disk(node, &disk);
        if (r < 0)
                return r;
        /* HD() counts the disk's logical blocks (4096 bytes on 4Kn disks), not sysfs's 512. */
        _cleanup_close_ int disk_fd = open(disk, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        int block_size = 0;
        if (disk_fd < 0 || ioctl(disk_fd, BLKSSZGET, &block_size) < 0)
                return err_set(errno, "ESP %s: cannot read the logical block size of %s: %m", partition_device, disk);
        if (block_size < 512 || block_size % 512 != 0 || start % (unsigned) (block_size / 512) != 0 ||
            size % (unsigned) (block_size / 512) != 0)
                return err_set(EBADMSG, "ESP %s: partition (start %" PRIu64 ", %" PRIu64 " sectors of 512 bytes) is not in "
                               "whole logical blocks of %d bytes of %s", partition_device, start, size, block_size, disk);
        r = ptable_read(disk, &t);
        if (r < 0)
                return r;

        const PartEntry *e = NULL;
        for (size_t i = 0; i < t->n; i++)
                if (t->entries[i].partno >= 0 && (uint64_t) t->entries[i].partno == partno)
                        e = &t->entries[i];
        if (!e)
                return err_set(ENOENT, "ESP %s: partition %" PRIu64 " is not in the partition table of %s", partition_device,
                               partno, disk);
        /* The firmware reads the table on the disk; the kernel may still hold an older one. */
        if (e->start / 512 != start || e->size / 512 != size)
                return err_set(ESTALE,
                               "ESP %s: the kernel's partition (start %" PRIu64 ", %" PRIu64 " sectors) differs from the "
                               "partition table of %s (start %" PRIu64 ", %" PRIu64 " sectors)",
                               partition_device, start, size, disk, e->start / 512, e->size / 512);
        if (!e->uuid || strlen(e->uuid) != 36 || efi_str_to_guid(e->uuid, &guid) < 0)
                return err_set(EMEDIUMTYPE, "ESP %s: partition %" PRIu64 " of %s has no GPT partition GUID (%s)",
                               partition_device, partno, disk, e->uuid ?: "none");
        if (size == 0)
                return err_set(EBADMSG, "ESP %s: the partition is empty", partition_device);

        *ret = (EspLocation) {
                .partition_number = (uint32_t) partno,
                .start_lba = start / (unsigned) (block_size / 512),
                .size_lba = size / (unsigned) (block_size / 512),
        };
        /* efi_guid_t holds a GUID in its on-disk (mixed-endian) byte order. */
        memcpy(ret->part_uuid, &guid, sizeof ret->part_uuid);
        return 0;
}

static uint16_t le16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

/*
 * libefiboot 37 trusts the frame of what it parses: efi_loadopt_is_valid()
 * searches for the description's NUL past the end of the variable, and never
 * returns for a path that starts with an End node of length 0. So the frame of
 * a variable is checked here before libefiboot reads it: a description with
 * its NUL, then FilePathListLength bytes of nodes that end in End Entire.
 */
static bool loadopt_frame_ok(const uint8_t *d, size_t size, size_t *ret_desc_size) {
        if (size < 6)
                return false;
        size_t dp_size = le16(d + 4), desc_end = 0;
        if (dp_size > size - 6)
                return false;
        for (size_t i = 6; i + 2 <= size - dp_size; i += 2)
                if (d[i] == 0 && d[i + 1] == 0) {
                        desc_end = i + 2;
                        break;
                }
        if (desc_end == 0)
                return false;

        const uint8_t *dp = d + desc_end;
        for (size_t off = 0; off + 4 <= dp_size;) {
                size_t len = le16(dp + off + 2);
                if (len < 4 || len > dp_size - off)
                        return false;
                if (dp[off] == EFIDP_END_TYPE && dp[off + 1] == EFIDP_END_ENTIRE) {
                        *ret_desc_size = desc_end - 6;
                        return off + len == dp_size;
                }
                off += len;
        }
        return false;
}

/* Whether the path's last node is File(want), ASCII case-insensitive as FAT is. Needs a checked frame. */
static bool dp_ends_in_file(const uint8_t *dp, size_t dp_size, const char *want) {
        const uint8_t *last = NULL;
        size_t last_len = 0;

        for (size_t off = 0; off + 4 <= dp_size;) {
                size_t len = le16(dp + off + 2);
                if (dp[off] == EFIDP_END_TYPE && dp[off + 1] == EFIDP_END_ENTIRE)
                        break;
                last = dp + off;
                last_len = len;
                off += len;
        }
        if (!last || last[0] != EFIDP_MEDIA_TYPE || last[1] != EFIDP_MEDIA_FILE)
                return false;

        size_t n = (last_len - 4) / 2, wn = strlen(want), i;
        for (i = 0; i < n; i++) {
                uint16_t c = le16(last + 4 + 2 * i);
                if (c == 0)
                        break;
                if (i >= wn || c >= 0x80 || tolower(c) != tolower((unsigned char) want[i]))
                        return false;
        }
        return i == wn;
}

static void fallback_names(Slot s, char desc[static 16], char file[static 32]) {
        snprintf(desc, 16, "abide slot %s", slot_to_string(s));
        snprintf(file, 32, "\\EFI\\Linux\\abide-%s.efi", slot_to_string(s));
}

/* The load option "abide slot <s>": active, HD(esp)/File(\EFI\Linux\abide-<s>.efi), no optional data. */
static int fallback_option_make(const EspLocation *esp, Slot s, uint8_t **ret, size_t *ret_size) {
        char desc[16], file[32];
        uint8_t sig[16];
        fallback_names(s, desc, file);
        memcpy(sig, esp->part_uuid, sizeof sig);

        ssize_t hd = efidp_make_hd(NULL, 0, esp->partition_number, esp->start_lba, esp->size_lba, sig,
                                   EFIDP_HD_FORMAT_GPT, EFIDP_HD_SIGNATURE_GUID);
        ssize_t fl = efidp_make_file(NULL, 0, file);
        /* libefivar 37's efidp_make_end_entire() ends in a semicolon: only ever a statement of its own. */
        ssize_t end;
        end = efidp_make_end_entire(NULL, 0);
        if (hd < 0 || fl < 0 || end < 0)
                return err_set(errno ?: EINVAL, "cannot build the device path of %s: %m", file);
        size_t dp_size = (size_t) (hd + fl + end);
        _cleanup_free_ uint8_t *dp = calloc(1, dp_size);
        if (!dp)
                return -ENOMEM;
        ssize_t made_hd = efidp_make_hd(dp, hd, esp->partition_number, esp->start_lba, esp->size_lba, sig,
                                        EFIDP_HD_FORMAT_GPT, EFIDP_HD_SIGNATURE_GUID);
        ssize_t made_fl = efidp_make_file(dp + hd, fl, file);
        ssize_t made_end;
        made_end = efidp_make_end_entire(dp + hd + fl, end);
        if (made_hd != hd || made_fl != fl || made_end != end)
                return err_set(errno ?: EINVAL, "cannot build the device path of %s: %m", file);

        ssize_t n = efi_loadopt_create(NULL, 0, LOAD_OPTION_ACTIVE, (efidp) dp, (ssize_t) dp_size,
                                       (unsigned char *) desc, NULL, 0);
        if (n <= 0)
                return err_set(errno ?: EINVAL, "cannot make the boot option '%s': %m", desc);
        _cleanup_free_ uint8_t *opt = calloc(1, (size_t) n);
        if (!opt)
                return -ENOMEM;
        if (efi_loadopt_create(opt, n, LOAD_OPTION_ACTIVE, (efidp) dp, (ssize_t) dp_size, (unsigned char *) desc, NULL,
                               0) != n)
                return err_set(errno ?: EINVAL, "cannot make the boot option '%s': %m", desc);
        *ret = TAKE_PTR(opt);
        *ret_size = (size_t) n;
        return 0;
}

/* Whether a stored option is the fallback option of slot s, whatever its disk, attributes and data. */
static bool loadopt_is_fallback(uint8_t *d, size_t size, Slot s) {
        char desc[16], file[32];
        size_t desc_size;

        if (!loadopt_frame_ok(d, size, &desc_size))
                return false;
        efi_load_option *opt = (efi_load_option *) d;
        if (!efi_loadopt_is_valid(opt, size))
                return false;
        fallback_names(s, desc, file);
        /* efi_loadopt_desc()'s string lives until its next call. */
        const unsigned char *have = efi_loadopt_desc(opt, (ssize_t) (desc_size / 2));
        if (!have || !streq((const char *) have, desc))
                return false;
        efidp dp = efi_loadopt_path(opt, (ssize_t) size);
        uint16_t dp_size = efi_loadopt_pathlen(opt, (ssize_t) size);
        return dp && dp_ends_in_file((const uint8_t *) dp, dp_size, file);
}

/*
 * BootOrder with ours[] placed right after current (when listed and not
 * ours), or where they were when current is one of them (a fallback boot
 * must not move them), else after the first entry; each once, the rest in
 * order. current_loader: current is not ours and its Boot#### exists; when
 * BootOrder does not list it (the firmware's removable-media path, a
 * BootNext) it is appended, ours after it. Ours are never listed with
 * nothing not ours before them: the firmware would start a UKI before the
 * loader that counts its tries (an empty BootOrder and no BootCurrent leaves
 * them out). out holds n + 3; returns its length.
 */
static size_t boot_order_place(const uint16_t *order, size_t n, int current, bool current_loader,
                               const uint16_t ours[static 2], uint16_t *out) {
        size_t m = 0, pos = SIZE_MAX, before_ours = SIZE_MAX;
        bool current_ours = current == ours[0] || current == ours[1];

        for (size_t i = 0; i < n; i++) {
                if (order[i] == ours[0] || order[i] == ours[1]) {
                        if (before_ours == SIZE_MAX)
                                before_ours = m;
                        continue;
                }
                out[m++] = order[i];
                if (pos == SIZE_MAX && !current_ours && current == order[i])
                        pos = m;
        }
        if (pos == SIZE_MAX && current_loader && !current_ours) {
                out[m++] = (uint16_t) current;
                pos = m;
        }
        if (pos == SIZE_MAX && current_ours && before_ours != SIZE_MAX && before_ours > 0)
                pos = before_ours;
        if (pos == SIZE_MAX)
                pos = MIN(m, (size_t) 1);
        if (pos == 0)
                return m;
        memmove(out + pos + 2, out + pos, (m - pos) * sizeof *out);
        out[pos] = ours[0];
        out[pos + 1] = ours[1];
        return m + 2;
}

static void note_boot_option(const char *name, void *userdata) {
        uint8_t *exists = userdata;
        unsigned v = 0;

        /* Boot#### with four uppercase hex digits, as UEFI names them. */
        if (strlen(name) != 8 || strncmp(name, "Boot", 4) != 0)
                return;
        for (int i = 4; i < 8; i++) {
                char c = name[i];
                if (c >= '0' && c <= '9')
                        v = v << 4 | (unsigned) (c - '0');
                else if (c >= 'A' && c <= 'F')
                        v = v << 4 | (unsigned) (c - 'A' + 10);
                else
                        return;
        }
        exists[v / 8] |= (uint8_t) (1u << (v % 8));
}

static bool bit(const uint8_t *map, unsigned v) {
        return map[v / 8] & (1u << (v % 8));
}

static int read_var(const char *dir, const char *name, uint8_t **ret, size_t *ret_size) {
        void *d = NULL;
        int r = efivars_get_data(dir, EFIVARS_GLOBAL_GUID, name, &d, ret_size);
        if (r == -EOPNOTSUPP)
                return err_set(EOPNOTSUPP, "cannot read EFI variable %s: no EFI variables on this system", name);
        if (r >= 0)
                *ret = d;
        return r;
}

typedef struct Fallback {
        uint8_t *want;
        size_t want_size;
        int number;         /* -1: none yet */
        bool same;          /* the stored option is already want */
} Fallback;

int efi_fallback_options_ensure(const char *efivars_dir, const EspLocation *esp, bool *ret_changed) {
        _cleanup_free_ uint8_t *order_raw = NULL, *cur_raw = NULL, *exists = NULL;
        _cleanup_free_ uint16_t *order = NULL, *new_order = NULL;
        Fallback fb[_SLOT_MAX] = {};
        size_t order_size = 0, cur_size = 0, n_order, n_new;
        bool have_order = true, changed = false;
        int current = -1, r;

        if (esp->partition_number == 0 || esp->size_lba == 0)
                return err_set(EINVAL, "ESP location without a partition number or size");

        r = read_var(efivars_dir, "BootOrder", &order_raw, &order_size);
        if (r == -ENOENT)
                have_order = false;
        else if (r < 0)
                return r;
        if (order_size % 2 != 0)
                return err_set(EBADMSG, "EFI variable BootOrder is malformed (%zu bytes, not a list of 16-bit option numbers); not rewriting it",
                               order_size);
        n_order = order_size / 2;
        order = calloc(n_order + 1, sizeof *order);
        new_order = calloc(n_order + 3, sizeof *new_order);
        exists = calloc(BOOT_OPTION_NUMBERS / 8, 1);
        if (!order || !new_order || !exists)
                return -ENOMEM;
        for (size_t i = 0; i < n_order; i++)
                order[i] = le16(order_raw + 2 * i);

        r = read_var(efivars_dir, "BootCurrent", &cur_raw, &cur_size);
        if (r >= 0 && cur_size == 2)
                current = le16(cur_raw);
        else if (r < 0 && r != -ENOENT)
                return r;

        r = efivars_foreach(efivars_dir, EFIVARS_GLOBAL_GUID, note_boot_option, exists);
        if (r < 0)
                goto finish;

        for (Slot s = 0; s < _SLOT_MAX; s++) {
                fb[s].number = -1;
                r = fallback_option_make(esp, s, &fb[s].want, &fb[s].want_size);
                if (r < 0)
                        goto finish;
        }

        /* Ours are found by what they are, never by a number kept elsewhere; one
         * already right wins over one to rewrite, then the lowest number. */
        for (unsigned v = 0; v < BOOT_OPTION_NUMBERS; v++) {
                _cleanup_free_ uint8_t *d = NULL;
                char name[16];
                size_t size;

                if (!bit(exists, v))
                        continue;
                snprintf(name, sizeof name, "Boot%04X", v);
                r = read_var(efivars_dir, name, &d, &size);
                /* Gone meanwhile, or not even an efivarfs file: not ours, and its number is not free. */
                if (r == -ENOENT || r == -EBADMSG || r == -EFBIG)
                        continue;
                if (r < 0)
                        goto finish;
                for (Slot s = 0; s < _SLOT_MAX; s++) {
                        if (fb[s].same || !loadopt_is_fallback(d, size, s))
                                continue;
                        bool same = size == fb[s].want_size && memcmp(d, fb[s].want, size) == 0;
                        if (fb[s].number < 0 || same) {
                                fb[s].number = (int) v;
                                fb[s].same = same;
                        }
                }
        }

        for (Slot s = 0; s < _SLOT_MAX; s++) {
                if (fb[s].number >= 0)
                        continue;
                for (unsigned v = 0; v < BOOT_OPTION_NUMBERS && fb[s].number < 0; v++) {
                        bool used = bit(exists, v) || (int) v == fb[slot_other(s)].number;
                        for (size_t i = 0; i < n_order && !used; i++)
                                used = order[i] == v;
                        if (!used)
                                fb[s].number = (int) v;
                }
                if (fb[s].number < 0) {
                        r = err_set(ENOSPC, "no free Boot#### number for the boot option 'abide slot %s'", slot_to_string(s));
                        goto finish;
                }
        }

        /* Options first: BootOrder never names one that is not written yet. */
        for (Slot s = 0; s < _SLOT_MAX; s++) {
                char name[16];
                if (fb[s].same)
                        continue;
                snprintf(name, sizeof name, "Boot%04X", (unsigned) fb[s].number);
                r = efivars_set_data(efivars_dir, EFIVARS_GLOBAL_GUID, name, fb[s].want, fb[s].want_size);
                if (r < 0)
                        goto finish;
                changed = true;
        }

        bool current_loader = current >= 0 && bit(exists, (unsigned) current) && current != fb[SLOT_A].number &&
                              current != fb[SLOT_B].number;
        n_new = boot_order_place(order, n_order, current, current_loader,
                                 (uint16_t[]) { fb[SLOT_A].number, fb[SLOT_B].number }, new_order);
        if ((!have_order && n_new > 0) || n_new != n_order || memcmp(new_order, order, n_new * sizeof *order) != 0) {
                _cleanup_free_ uint8_t *raw = malloc(2 * n_new);
                if (!raw) {
                        r = -ENOMEM;
                        goto finish;
                }
                for (size_t i = 0; i < n_new; i++) {
                        raw[2 * i] = (uint8_t) new_order[i];
                        raw[2 * i + 1] = (uint8_t) (new_order[i] >> 8);
                }
                r = efivars_set_data(efivars_dir, EFIVARS_GLOBAL_GUID, "BootOrder", raw, 2 * n_new);
                if (r < 0)
                        goto finish;
                changed = true;
        }

        *ret_changed = changed;
        r = 0;
finish:
        for (Slot s = 0; s < _SLOT_MAX; s++)
                free(fb[s].want);
        return r;
}
