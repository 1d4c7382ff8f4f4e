/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * systemd-boot: BLS type #1 entries in <ESP>/loader/entries/, or type #2
 * entries (the slot's signed UKI) in <ESP>/EFI/Linux/, whose names carry
 * the loader's boot counter; loader interface EFI variables. Every entry
 * sorts by "abide" (type #1: "sort-key abide"; type #2: the UKI's .osrel
 * ID=abide, no IMAGE_ID) and then by version, so the loader's default is
 * the newest entry that is not bad (entries with no tries left sort last);
 * LoaderEntryDefault/LoaderEntryOneShot override it. A slot has one entry
 * of either type, never both.
 */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "boot/backend.h"
#include "boot/efivars.h"
#include "boot/esp-mount.h"
#include "boot/loader-esp.h"
#include "boot/uki-osrel.h"
#include "slot/kernel-cmdline.h"
#include "slot/slot-discover.h"

#define ENTRY_FILE_MAX (64 * 1024)

typedef struct SdBoot {
        char *esp;
        char *entries;
        char *linux_dir;   /* type #2 entries: <ESP>/EFI/Linux */
        char *efivars;
        char *cmdline;
        EspMount mount;   /* read-only except inside a write scope */
} SdBoot;

static SdBoot *sd(const BootBackend *b) {
        return b->data;
}

static void sdboot_close(BootBackend *b) {
        SdBoot *s = sd(b);
        if (!s)
                return;
        free(s->esp);
        free(s->entries);
        free(s->linux_dir);
        free(s->efivars);
        free(s->cmdline);
        esp_mount_done(&s->mount);
        free(s);
        b->data = NULL;
}

static bool is_dir(const char *path) {
        struct stat st;
        return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The mounted ESP: the one LoaderDevicePartUUID names, else the first standard mount point with a loader/. */
static int find_esp(const AbideConfig *c, char **ret) {
        static const char *const candidates[] = { "/efi", "/boot/efi", "/boot" };
        _cleanup_free_ char *uuid = NULL;

        if (c->esp) {
                if (!is_dir(c->esp))
                        return err_set(ENOENT, "ESP %s: not a directory", c->esp);
                return (*ret = strdup(c->esp)) ? 0 : -ENOMEM;
        }

        if (loader_esp_uuid(c->efivars, &uuid) >= 0) {
                SlotPartition p = {};
                struct stat dev;
                if (slot_partition_find_by_uuid(c, uuid, &p) >= 0 && stat(p.path, &dev) >= 0 && S_ISBLK(dev.st_mode))
                        for (size_t i = 0; i < ELEMENTSOF(candidates); i++) {
                                struct stat st;
                                if (stat(candidates[i], &st) >= 0 && st.st_dev == dev.st_rdev) {
                                        slot_partition_done(&p);
                                        return (*ret = strdup(candidates[i])) ? 0 : -ENOMEM;
                                }
                        }
                slot_partition_done(&p);
        }

        for (size_t i = 0; i < ELEMENTSOF(candidates); i++) {
                char path[64];
                snprintf(path, sizeof path, "%s/loader", candidates[i]);
                if (is_dir(path))
                        return (*ret = strdup(candidates[i])) ? 0 : -ENOMEM;
        }
        return err_set(ENOENT, "no ESP found (LoaderDevicePartUUID, /efi, /boot/efi, /boot); set ESP= in abide.conf");
}

static int sdboot_open(BootBackend *b, const AbideConfig *c) {
        SdBoot *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->mount.lock_fd = -EBADF;
        b->data = s;

        int r = find_esp(c, &s->esp);
        if (r >= 0)
                r = esp_mount_init(&s->mount, s->esp);
        if (r < 0) {
                sdboot_close(b);
                return r;
        }
        if (asprintf(&s->entries, "%s/loader/entries", s->esp) < 0)
                s->entries = NULL;
        if (asprintf(&s->linux_dir, "%s/EFI/Linux", s->esp) < 0)
                s->linux_dir = NULL;
        s->efivars = strdup(c->efivars);
        s->cmdline = strdup(c->cmdline);
        if (!s->entries || !s->linux_dir || !s->efivars || !s->cmdline) {
                sdboot_close(b);
                return -ENOMEM;
        }
        return 0;
}

static const char *sdboot_location(const BootBackend *b) {
        return sd(b)->entries;
}

static int slot_from_entry_name(const char *name, Slot *ret) {
        _cleanup_free_ char *with_suffix = NULL;
        BootCounter c;

        if (boot_entry_name_parse_any(name, ret, &c, NULL) >= 0)
                return 0;
        /* systemd-boot 252 reports the file name; later versions may drop the suffix. */
        if (asprintf(&with_suffix, "%s" BOOT_ENTRY_SUFFIX, name) < 0)
                return -ENOMEM;
        return boot_entry_name_parse(with_suffix, ret, &c);
}

/* As abide-init read it (lib/slot/kernel-cmdline.c): the last abide.slot= before a lone "--", quotes removed. */
static int slot_from_cmdline(const char *path, Slot *ret) {
        _cleanup_free_ char *text = NULL;
        if (read_full_file(path, 64 * 1024, &text, NULL) < 0)
                return -ENOENT;
        int r = kernel_cmdline_slot(text, ret);
        if (r < 0 && r != -ENOENT)
                return err_prefix(r, "%s", path);
        return r;
}

/* The entry the loader selected at this boot (LoaderEntrySelected, volatile: this boot's). */
static int sdboot_selected_slot(BootBackend *b, Slot *ret) {
        _cleanup_free_ char *selected = NULL;
        int r = efivars_get_string(sd(b)->efivars, "LoaderEntrySelected", &selected);
        if (r < 0)
                return r == -EOPNOTSUPP ? -ENOENT : r;
        if (slot_from_entry_name(selected, ret) < 0)
                return err_set(ENXIO, "booted entry '%s' is not an abide slot entry", selected);
        return 0;
}

static int sdboot_selected_failure(BootBackend *b, Slot selected, const char *file, Slot booted, char **ret) {
        return asprintf(ret, "the firmware did not start slot %s's image %s (selected by the loader); it started slot %s",
                        slot_to_string(selected), file ?: "", slot_to_string(booted)) < 0 ? -ENOMEM : 0;
}

/*
 * abide-init mounted the root that abide.slot= names, so the command line
 * is what runs: with Secure Boot it comes from inside the signed UKI, and
 * when the firmware refused the entry the loader selected and started
 * another slot's UKI itself (docs/secure-boot.md, "Firmware fallback
 * options"), LoaderEntrySelected still names the refused one. Without
 * abide.slot= (a host, tests), the loader's variables tell.
 */
static int sdboot_booted_slot(BootBackend *b, Slot *ret) {
        SdBoot *s = sd(b);
        _cleanup_free_ char *count_path = NULL;

        int r = slot_from_cmdline(s->cmdline, ret);
        if (r != -ENOENT)
                return r;
        r = sdboot_selected_slot(b, ret);
        if (r != -ENOENT)
                return r;
        /* The path of the entry file as the loader renamed it: \loader\entries\abide-b+2-1.conf */
        if (efivars_get_string(s->efivars, "LoaderBootCountPath", &count_path) >= 0) {
                const char *base = strrchr(count_path, '\\');
                if (slot_from_entry_name(base ? base + 1 : count_path, ret) < 0)
                        return err_set(ENXIO, "booted entry '%s' is not an abide slot entry", count_path);
                return 0;
        }
        return err_set(ENXIO, "cannot tell the booted slot: no abide.slot= in %s, no LoaderEntrySelected in %s",
                       s->cmdline, s->efivars);
}

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

static const char *type_dir(const SdBoot *s, BootEntryType t) {
        return t == BOOT_ENTRY_TYPE2 ? s->linux_dir : s->entries;
}

/* Scans one type's directory into found[]; a missing directory is no entries. */
static int scan_dir(SdBoot *s, BootEntryType type, BootEntryInfo found[static _SLOT_MAX]) {
        const char *dir = type_dir(s, type);
        _cleanup_(closedirp) DIR *d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : err_set(errno, "cannot read %s: %m", dir);
        struct dirent *de;
        while ((de = readdir(d))) {
                Slot slot;
                BootCounter c;
                if (!boot_entry_name_is_ours_type(de->d_name, type))
                        continue;
                if (boot_entry_name_parse_type(de->d_name, type, &slot, &c) < 0)
                        return err_set(EINVAL, "malformed boot entry name %s/%s", dir, de->d_name);
                if (found[slot].file)
                        return err_set(ENOTUNIQ, "two boot entries for slot %s: %s/%s and %s", slot_to_string(slot),
                                       type_dir(s, found[slot].type), found[slot].file, de->d_name);
                found[slot].counter = c;
                found[slot].type = type;
                if (!(found[slot].file = strdup(de->d_name)))
                        return -ENOMEM;
        }
        return 0;
}

/* Scans the entries of both types; ret[slot].file names each slot's entry. */
static int scan(SdBoot *s, BootEntryInfo ret[static _SLOT_MAX]) {
        BootEntryInfo found[_SLOT_MAX] = {};
        int r = scan_dir(s, BOOT_ENTRY_TYPE1, found);
        if (r >= 0)
                r = scan_dir(s, BOOT_ENTRY_TYPE2, found);
        if (r < 0) {
                boot_entry_infos_done(found);
                return r;
        }
        memcpy(ret, found, sizeof found);
        return 0;
}

static int sdboot_list(BootBackend *b, BootEntryInfo ret[static _SLOT_MAX]) {
        SdBoot *s = sd(b);
        BootEntryInfo e[_SLOT_MAX];
        int r = scan(s, e);
        if (r < 0)
                return r;

        for (int i = 0; i < _SLOT_MAX; i++) {
                _cleanup_free_ char *path = NULL, *text = NULL;
                if (!e[i].file)
                        continue;
                if (asprintf(&path, "%s/%s", type_dir(s, e[i].type), e[i].file) < 0) {
                        boot_entry_infos_done(e);
                        return -ENOMEM;
                }
                if (e[i].type == BOOT_ENTRY_TYPE2) {
                        /* What the loader shows and sorts by; an unreadable one is no version, not an error. */
                        if (uki_read_version(path, &e[i].version) < 0)
                                err_clear();
                        continue;
                }
                r = read_full_file(path, ENTRY_FILE_MAX, &text, NULL);
                if (r < 0) {
                        boot_entry_infos_done(e);
                        return err_set(r, "cannot read boot entry %s: %s", path, strerror(-r));
                }
                (void) boot_entry_parse_version(text, &e[i].version);
        }
        memcpy(ret, e, sizeof e);
        return 0;
}

/* The entry's path: its type is in its name. */
static int entry_path(SdBoot *s, const char *name, char **ret) {
        BootEntryType t = boot_entry_name_type(name);
        return asprintf(ret, "%s/%s", type_dir(s, t < 0 ? BOOT_ENTRY_TYPE1 : t), name) < 0 ? -ENOMEM : 0;
}

/* Temporaries of an entry write a power cut interrupted (".#abide-b+3.conf.XXXXXX": not *.conf, so the
 * loader never reads them; it skips EFI/Linux's dot files too); inside a write scope, which no other
 * writer shares. */
static int clean_temporaries_in(const char *dir) {
        _cleanup_(closedirp) DIR *d = opendir(dir);
        struct dirent *de;
        bool removed = false;

        if (!d)
                return errno == ENOENT ? 0 : err_set(errno, "cannot read %s: %m", dir);
        while ((de = readdir(d))) {
                if (strncmp(de->d_name, ".#" BOOT_ENTRY_PREFIX, strlen(".#" BOOT_ENTRY_PREFIX)) != 0)
                        continue;
                if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
                        return err_set(errno, "cannot remove %s/%s: %m", dir, de->d_name);
                removed = true;
        }
        if (removed && fsync(dirfd(d)) < 0)
                return err_set(errno, "cannot sync %s: %m", dir);
        return 0;
}

static int clean_temporaries(SdBoot *s) {
        int r = clean_temporaries_in(s->entries);
        return r < 0 ? r : clean_temporaries_in(s->linux_dir);
}

static int sdboot_remove(BootBackend *b, Slot slot) {
        _cleanup_(esp_writable_endp) EspMount *scope = NULL;
        SdBoot *s = sd(b);
        BootEntryInfo e[_SLOT_MAX];
        _cleanup_free_ char *path = NULL;

        int r = esp_writable_begin(&s->mount, &scope);
        if (r < 0)
                return r;
        r = clean_temporaries(s);
        if (r < 0)
                return r;
        r = scan(s, e);
        if (r < 0)
                return r;
        if (e[slot].file) {
                r = entry_path(s, e[slot].file, &path);
                if (r >= 0 && unlink(path) < 0 && errno != ENOENT)
                        r = err_set(errno, "cannot remove boot entry %s: %m", path);
                if (r >= 0 && (r = fsync_directory_of(path)) < 0)
                        r = err_set(r, "cannot sync %s: %s", type_dir(s, e[slot].type), strerror(-r));
        }
        boot_entry_infos_done(e);
        if (r >= 0)
                r = esp_writable_end(TAKE_PTR(scope));
        return r;
}

static int sdboot_get_next(BootBackend *b, Slot *ret_default, Slot *ret_once);
static int sdboot_clear_next(BootBackend *b, bool once);

static int sdboot_write(BootBackend *b, Slot slot, const BootEntrySpec *spec) {
        _cleanup_(esp_writable_endp) EspMount *scope = NULL;
        SdBoot *s = sd(b);
        _cleanup_free_ char *text = NULL, *path = NULL;
        char name[BOOT_ENTRY_NAME_MAX];
        BootEntryType type = spec->uki ? BOOT_ENTRY_TYPE2 : BOOT_ENTRY_TYPE1;
        BootCounter c = spec->tries > 0 ? (BootCounter) { .state = BOOT_COUNTER_PENDING, .left = spec->tries }
                                        : (BootCounter) { .state = BOOT_COUNTER_GOOD };
        int r;

        if (spec->tries > BOOT_COUNTER_MAX)
                return err_set(EINVAL, "too many tries: %u (at most %u)", spec->tries, BOOT_COUNTER_MAX);
        if (!spec->uki) {
                r = boot_entry_format(slot, spec, &text);
                if (r < 0)
                        return r;
        }
        r = boot_entry_name_format_type(slot, &c, type, name);
        if (r < 0)
                return err_set(EINVAL, "cannot name the boot entry");
        r = esp_writable_begin(&s->mount, &scope);
        if (r < 0)
                return r;
        r = mkdir_p(type_dir(s, type), 0755);
        if (r < 0)
                return r;
        /* Old entry first: a crash in between leaves the slot without an entry, never two. */
        r = sdboot_remove(b, slot);
        if (r < 0)
                return r;
        /* A pin of ours (switch, rollback) goes before the entry is written, as with U-Boot: on the other
         * slot it would keep the new entry from ever being tried; on this one the loader would go on
         * booting it once its tries are used up, as it honours a pin even on a bad entry. Someone else's
         * choice of entry is left alone. */
        Slot def;
        if (sdboot_get_next(b, &def, NULL) >= 0 && def >= 0 && (r = sdboot_clear_next(b, false)) < 0)
                return r;
        r = entry_path(s, name, &path);
        if (r < 0)
                return r;
        if (spec->uki) {
                /* The UKI was written, synced and verified where it is (the same file system): one
                 * rename makes it the entry, as the loader's own counting does. */
                r = rename_durable(spec->uki, path);
                if (r < 0)
                        return err_set(r, "cannot rename %s to %s: %s", spec->uki, path, strerror(-r));
        } else {
                /* A temporary in the same directory, fsynced, renamed over the name, fsynced again under it
                 * (FAT: rename_durable()), the directory fsynced; the scope's end syncs the whole file system. */
                r = write_file_atomic(path, text, strlen(text), 0644);
                if (r < 0)
                        return err_set(r, "cannot write boot entry %s: %s", path, strerror(-r));
        }
        return esp_writable_end(TAKE_PTR(scope));
}

/* Renames the slot's entry to carry counter c. */
static int rename_entry(SdBoot *s, Slot slot, BootCounter c) {
        _cleanup_(esp_writable_endp) EspMount *scope = NULL;
        BootEntryInfo e[_SLOT_MAX];
        _cleanup_free_ char *from = NULL, *to = NULL;
        char name[BOOT_ENTRY_NAME_MAX];

        int r = scan(s, e);
        if (r < 0)
                return r;
        if (!e[slot].file)
                r = err_set(ENOENT, "slot %s has no boot entry in %s or %s", slot_to_string(slot), s->entries, s->linux_dir);
        else if (boot_entry_name_format_type(slot, &c, e[slot].type, name) < 0)
                r = err_set(EINVAL, "cannot name the boot entry");
        else if (!streq(name, e[slot].file)) {
                /* One rename is the counter's whole change, as when the loader counts a try. */
                if (entry_path(s, e[slot].file, &from) < 0 || entry_path(s, name, &to) < 0)
                        r = -ENOMEM;
                else if ((r = esp_writable_begin(&s->mount, &scope)) >= 0) {
                        if ((r = rename_durable(from, to)) < 0)
                                r = err_set(r, "cannot rename %s to %s: %s", from, name, strerror(-r));
                        else
                                r = esp_writable_end(TAKE_PTR(scope));
                }
        }
        boot_entry_infos_done(e);
        return r;
}

static int current_counter(SdBoot *s, Slot slot, BootCounter *ret) {
        BootEntryInfo e[_SLOT_MAX];
        int r = scan(s, e);
        if (r < 0)
                return r;
        *ret = e[slot].counter;
        boot_entry_infos_done(e);
        return 0;
}

static int sdboot_mark_good(BootBackend *b, Slot slot) {
        return rename_entry(sd(b), slot, (BootCounter) { .state = BOOT_COUNTER_GOOD });
}

static int sdboot_get_next(BootBackend *b, Slot *ret_default, Slot *ret_once) {
        SdBoot *s = sd(b);
        const char *names[2] = { "LoaderEntryDefault", "LoaderEntryOneShot" };
        Slot slots[2] = { _SLOT_INVALID, _SLOT_INVALID };

        for (int i = 0; i < 2; i++) {
                _cleanup_free_ char *v = NULL;
                int r = efivars_get_string(s->efivars, names[i], &v);
                if (r == -ENOENT || r == -EOPNOTSUPP)
                        continue;
                if (r < 0)
                        return r;
                /* Ours look like "abide-b*"; anything else is someone else's choice. */
                if (strlen(v) == strlen(BOOT_ENTRY_PREFIX) + 2 && strncmp(v, BOOT_ENTRY_PREFIX, strlen(BOOT_ENTRY_PREFIX)) == 0 &&
                    v[strlen(v) - 1] == '*') {
                        char n[2] = { v[strlen(BOOT_ENTRY_PREFIX)], 0 };
                        slots[i] = slot_from_string(n);
                }
        }
        if (ret_default)
                *ret_default = slots[0];
        if (ret_once)
                *ret_once = slots[1];
        return 0;
}

static int sdboot_clear_next(BootBackend *b, bool once) {
        return efivars_delete(sd(b)->efivars, once ? "LoaderEntryOneShot" : "LoaderEntryDefault");
}

static int sdboot_mark_bad(BootBackend *b, Slot slot) {
        SdBoot *s = sd(b);
        BootCounter c;
        Slot def, once;

        int r = current_counter(s, slot, &c);
        if (r < 0)
                return r;
        r = rename_entry(s, slot, (BootCounter) { .state = BOOT_COUNTER_BAD, .done = c.done });
        if (r < 0)
                return r;
        /* The loader honours these even for a bad entry; they must not pin it. */
        if (sdboot_get_next(b, &def, &once) >= 0) {
                if (def == slot && (r = sdboot_clear_next(b, false)) < 0)
                        return r;
                if (once == slot && (r = sdboot_clear_next(b, true)) < 0)
                        return r;
        }
        return 0;
}

static int sdboot_set_next(BootBackend *b, Slot slot, bool once) {
        char pattern[BOOT_ENTRY_NAME_MAX];
        /* A glob: the entry's name changes with its counter (systemd-boot matches with fnmatch). */
        snprintf(pattern, sizeof pattern, BOOT_ENTRY_PREFIX "%s*", slot_to_string(slot));
        return efivars_set_string(sd(b)->efivars, once ? "LoaderEntryOneShot" : "LoaderEntryDefault", pattern);
}

static int sdboot_kernel_dir(BootBackend *b, Slot slot, char **ret) {
        _cleanup_(esp_writable_endp) EspMount *scope = NULL;
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/abide/%s", sd(b)->esp, slot_to_string(slot)) < 0)
                return -ENOMEM;
        if (!is_dir(dir)) {
                int r = esp_writable_begin(&sd(b)->mount, &scope);
                if (r >= 0)
                        r = mkdir_p(dir, 0755);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(dir);
        return 0;
}

static int sdboot_writable_begin(BootBackend *b) {
        EspMount *scope;
        return esp_writable_begin(&sd(b)->mount, &scope);
}

static int sdboot_writable_end(BootBackend *b, bool cleanup) {
        return esp_writable_end_full(&sd(b)->mount, cleanup);
}

const BootBackendOps boot_backend_systemd_boot = {
        .name = "systemd-boot",
        .open = sdboot_open,
        .close = sdboot_close,
        .booted_slot = sdboot_booted_slot,
        .selected_slot = sdboot_selected_slot,
        .selected_failure = sdboot_selected_failure,
        .list = sdboot_list,
        .remove = sdboot_remove,
        .write = sdboot_write,
        .mark_good = sdboot_mark_good,
        .mark_bad = sdboot_mark_bad,
        .set_next = sdboot_set_next,
        .clear_next = sdboot_clear_next,
        .get_next = sdboot_get_next,
        .kernel_dir = sdboot_kernel_dir,
        .location = sdboot_location,
        .writable_begin = sdboot_writable_begin,
        .writable_end = sdboot_writable_end,
};
