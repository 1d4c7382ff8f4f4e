/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * U-Boot: the boot script builder/uboot/boot.cmd reads RAUC's variables
 * (BOOT_ORDER, BOOT_A_LEFT, BOOT_B_LEFT) from the U-Boot environment and
 * counts the tries; abidectl reads and writes them through libubootenv
 * (uboot-env.c) with the state machine of uboot-state.c. Per slot the
 * environment also holds abide_cmdline_<slot> (the kernel options before
 * abide.slot=), abide_version_<slot> and, while the slot is on trial or bad,
 * abide_tries_<slot> (the tries counted plus those left, so status and a
 * rollback's reason tell the boots tried, which RAUC's BOOT_x_LEFT alone
 * cannot). Kernel and initrd live on the boot
 * partition under abide/<slot>/, as with systemd-boot. docs/uboot.md.
 */
#include <fcntl.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "boot/backend.h"
#include "boot/esp-mount.h"
#include "boot/uboot-env.h"
#include "boot/uboot-state.h"
#include "slot/kernel-cmdline.h"

typedef struct UBoot {
        char *boot;        /* the mounted boot partition */
        char *env_config;  /* fw_env.config */
        char *cmdline;
        EspMount mount;
        bool single_copy;  /* [Boot] UBootEnvSingleCopy= */
} UBoot;

static UBoot *ub(const BootBackend *b) {
        return b->data;
}

static void uboot_close(BootBackend *b) {
        UBoot *u = ub(b);
        if (!u)
                return;
        free(u->boot);
        free(u->env_config);
        free(u->cmdline);
        esp_mount_done(&u->mount);
        free(u);
        b->data = NULL;
}

static bool is_dir(const char *path) {
        struct stat st;
        return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* [Paths] ESP= names the boot partition; else the first standard mount point holding abide/ or boot.scr. */
static int find_boot(const AbideConfig *c, char **ret) {
        static const char *const candidates[] = { "/boot", "/efi", "/boot/efi" };

        if (c->esp) {
                if (!is_dir(c->esp))
                        return err_set(ENOENT, "boot partition %s: not a directory", c->esp);
                return (*ret = strdup(c->esp)) ? 0 : -ENOMEM;
        }
        for (size_t i = 0; i < ELEMENTSOF(candidates); i++) {
                char a[64], s[64];
                snprintf(a, sizeof a, "%s/abide", candidates[i]);
                snprintf(s, sizeof s, "%s/boot.scr", candidates[i]);
                if (is_dir(a) || access(s, F_OK) == 0)
                        return (*ret = strdup(candidates[i])) ? 0 : -ENOMEM;
        }
        return err_set(ENOENT, "no boot partition found (/boot, /efi, /boot/efi with abide/ or boot.scr); set ESP= in abide.conf");
}

static int uboot_open(BootBackend *b, const AbideConfig *c) {
        UBoot *u = calloc(1, sizeof *u);
        if (!u)
                return -ENOMEM;
        u->mount.lock_fd = -EBADF;
        b->data = u;

        int r = find_boot(c, &u->boot);
        if (r >= 0)
                r = esp_mount_init(&u->mount, u->boot);
        u->single_copy = c->uboot_env_single_copy;
        if (r >= 0 && (!(u->env_config = strdup(c->uboot_env_config)) || !(u->cmdline = strdup(c->cmdline))))
                r = -ENOMEM;
        if (r < 0) {
                uboot_close(b);
                return r;
        }
        return 0;
}

static const char *uboot_location(const BootBackend *b) {
        return ub(b)->env_config;
}

static const char *const left_names[_SLOT_MAX] = { "BOOT_A_LEFT", "BOOT_B_LEFT" };
static const char *const cmdline_names[_SLOT_MAX] = { "abide_cmdline_a", "abide_cmdline_b" };
static const char *const tries_names[_SLOT_MAX] = { "abide_tries_a", "abide_tries_b" };
static const char *const version_names[_SLOT_MAX] = { "abide_version_a", "abide_version_b" };

/* abide_tries_<slot>: the trial's tries, counted plus left; -1 when unset or not a count. */
static int given_tries(UBootEnv *e, Slot slot) {
        _cleanup_free_ char *v = uboot_env_get(e, tries_names[slot]);
        if (!v || v[0] < '0' || v[0] > '0' + (int) UBOOT_TRIES_MAX || v[1])
                return -1;
        return v[0] - '0';
}

/* The boots a trial or bad slot has used: its tries less those left (0 when not known). */
static unsigned tries_done(UBootEnv *e, Slot slot, const BootCounter *c) {
        if (c->state != BOOT_COUNTER_PENDING && c->state != BOOT_COUNTER_BAD)
                return 0;
        int given = given_tries(e, slot);
        return given >= (int) c->left ? (unsigned) given - c->left : 0;
}

static int set_tries(UBootEnv *e, Slot slot, unsigned tries) {
        char v[4];
        snprintf(v, sizeof v, "%u", tries);
        return uboot_env_set(e, tries_names[slot], tries > 0 ? v : NULL);
}

static void free_strings(char **v, size_t n) {
        for (size_t i = 0; i < n; i++)
                free(v[i]);
}

/* Opens (and locks) the environment and parses the state. */
static int load(UBoot *u, UBootEnv **ret_env, UBootState *ret) {
        _cleanup_(uboot_env_freep) UBootEnv *e = NULL;
        char *v[6] = {};

        int r = uboot_env_open(u->env_config, &e);
        if (r < 0)
                return r;
        if (u->single_copy)
                uboot_env_allow_single_copy(e);
        v[0] = uboot_env_get(e, "BOOT_ORDER");
        v[1] = uboot_env_get(e, left_names[SLOT_A]);
        v[2] = uboot_env_get(e, left_names[SLOT_B]);
        v[3] = uboot_env_get(e, "abide_once");
        v[4] = uboot_env_get(e, "abide_default");
        v[5] = uboot_env_get(e, "abide_good");
        /* Any BOOT_x_LEFT reads as the script reads it: a value set by hand never blocks the verb that repairs it. */
        uboot_state_parse(v[0], (const char *[]) { v[1], v[2] }, v[3], v[4], v[5], ret);
        free_strings(v, ELEMENTSOF(v));
        *ret_env = TAKE_PTR(e);
        return 0;
}

/* Writes the state's variables and stores the environment: one write of one copy, so all or nothing. */
static int save(UBootEnv *e, const UBootState *s) {
        char order[8], left[4];
        int r;

        uboot_state_format_order(s, order);
        /* U-Boot reads an empty variable as unset; keep the file tidy. */
        r = uboot_env_set(e, "BOOT_ORDER", order[0] ? order : NULL);
        for (Slot i = 0; r >= 0 && i < _SLOT_MAX; i++)
                r = uboot_env_set(e, left_names[i], uboot_state_format_left(s, i, left) ? left : NULL);
        if (r >= 0)
                r = uboot_env_set(e, "abide_once", s->once >= 0 ? uboot_slot_name(s->once) : NULL);
        if (r >= 0)
                r = uboot_env_set(e, "abide_default", s->pinned >= 0 ? uboot_slot_name(s->pinned) : NULL);
        if (r >= 0)
                r = uboot_env_set(e, "abide_good", s->good >= 0 ? uboot_slot_name(s->good) : NULL);
        return r < 0 ? r : uboot_env_store(e);
}

static int uboot_booted_slot(BootBackend *b, Slot *ret) {
        UBoot *u = ub(b);
        _cleanup_free_ char *text = NULL;

        /* The boot script appends abide.slot= to the slot's options; nothing else tells. */
        if (read_full_file(u->cmdline, 64 * 1024, &text, NULL) < 0)
                return err_set(ENXIO, "cannot tell the booted slot: cannot read %s", u->cmdline);
        /* As abide-init read it (lib/slot/kernel-cmdline.c). */
        int r = kernel_cmdline_slot(text, ret);
        if (r == -ENOENT)
                return err_set(ENXIO, "cannot tell the booted slot: no abide.slot= in %s", u->cmdline);
        if (r < 0)
                return err_prefix(ENXIO, "%s", u->cmdline);
        return 0;
}

/* The slot the script chose first: the one abide.unloadable= names (its kernel or initrd could not be
 * loaded, so the script booted the next choice), else the booted slot. */
static int uboot_selected_slot(BootBackend *b, Slot *ret) {
        _cleanup_free_ char *text = NULL;

        int r = uboot_booted_slot(b, ret);
        if (r < 0)
                return r;
        if (read_full_file(ub(b)->cmdline, 64 * 1024, &text, NULL) < 0)
                return 0;
        for (char *p = text; *p;) {
                size_t n = strcspn(p, " \t\n");
                if (n == strlen("abide.unloadable=a") && strncmp(p, "abide.unloadable=", 17) == 0 && (p[17] == 'a' || p[17] == 'b'))
                        *ret = p[17] == 'a' ? SLOT_A : SLOT_B;
                p += n;
                p += strspn(p, " \t\n");
        }
        return 0;
}

static int uboot_selected_failure(BootBackend *b, Slot selected, const char *file, Slot booted, char **ret) {
        return asprintf(ret, "the boot script could not load slot %s's kernel or initrd (abide/%s/ on %s); it started slot %s",
                        slot_to_string(selected), slot_to_string(selected), ub(b)->boot, slot_to_string(booted)) < 0 ? -ENOMEM : 0;
}

static int uboot_list(BootBackend *b, BootEntryInfo ret[static _SLOT_MAX]) {
        _cleanup_(uboot_env_freep) UBootEnv *e = NULL;
        BootEntryInfo out[_SLOT_MAX] = {};
        UBootState s;

        int r = load(ub(b), &e, &s);
        if (r < 0)
                return r;
        for (Slot i = 0; i < _SLOT_MAX; i++) {
                out[i].counter = uboot_state_counter(&s, i);
                if (out[i].counter.state == BOOT_COUNTER_MISSING)
                        continue;
                out[i].counter.done = tries_done(e, i, &out[i].counter);
                out[i].version = uboot_env_get(e, version_names[i]);
                if (!(out[i].file = strdup(uboot_slot_name(i)))) {
                        boot_entry_infos_done(out);
                        return -ENOMEM;
                }
        }
        memcpy(ret, out, sizeof out);
        return 0;
}

static int uboot_remove(BootBackend *b, Slot slot) {
        _cleanup_(uboot_env_freep) UBootEnv *e = NULL;
        UBootState s;

        int r = load(ub(b), &e, &s);
        if (r < 0)
                return r;
        uboot_state_remove(&s, slot);
        /* Install's first write: the slot it runs from must stay what a failed trial falls back to. */
        Slot running;
        if (uboot_booted_slot(b, &running) >= 0 && running != slot)
                uboot_state_keep_running(&s, running);
        err_clear();
        r = uboot_env_set(e, cmdline_names[slot], NULL);
        if (r >= 0)
                r = uboot_env_set(e, version_names[slot], NULL);
        if (r >= 0)
                r = set_tries(e, slot, 0);
        return r < 0 ? r : save(e, &s);
}

static int uboot_write(BootBackend *b, Slot slot, const BootEntrySpec *spec) {
        _cleanup_(uboot_env_freep) UBootEnv *e = NULL;
        _cleanup_free_ char *text = NULL;
        UBootState s;

        if (spec->tries > UBOOT_TRIES_MAX)
                return err_set(EINVAL, "too many tries for U-Boot: %u (at most %u: the boot script counts with one digit)",
                               spec->tries, UBOOT_TRIES_MAX);
        /* The same checks of version and options as a loader entry's. */
        int r = boot_entry_format(slot, spec, &text);
        if (r < 0)
                return r;
        r = load(ub(b), &e, &s);
        if (r < 0)
                return r;
        r = uboot_state_write(&s, slot, spec->tries);
        if (r >= 0)
                r = uboot_env_set(e, cmdline_names[slot], spec->cmdline && *spec->cmdline ? spec->cmdline : NULL);
        if (r >= 0)
                r = uboot_env_set(e, version_names[slot], spec->version && *spec->version ? spec->version : NULL);
        if (r >= 0)
                r = set_tries(e, slot, spec->tries);
        return r < 0 ? r : save(e, &s);
}

typedef int (*Transition)(UBootState *s, Slot slot);

static int transition(BootBackend *b, Slot slot, Transition t) {
        _cleanup_(uboot_env_freep) UBootEnv *e = NULL;
        UBootState s;

        int r = load(ub(b), &e, &s);
        if (r < 0)
                return r;
        BootCounter before[_SLOT_MAX];
        for (Slot i = 0; i < _SLOT_MAX; i++)
                before[i] = uboot_state_counter(&s, i);
        r = t(&s, slot);
        if (r == -ENOENT)
                return err_set(ENOENT, "slot %s is not in BOOT_ORDER (%s)", slot_to_string(slot), ub(b)->env_config);
        /* A trial ended bad keeps the tries it used as its tries (none left); a good slot has none. */
        for (Slot i = 0; r >= 0 && i < _SLOT_MAX; i++) {
                BootCounter now = uboot_state_counter(&s, i);
                if (now.state != BOOT_COUNTER_PENDING && now.state != BOOT_COUNTER_BAD)
                        r = set_tries(e, i, 0);
                else if (before[i].state == BOOT_COUNTER_PENDING && now.state == BOOT_COUNTER_BAD)
                        r = set_tries(e, i, tries_done(e, i, &before[i]));
        }
        return r < 0 ? r : save(e, &s);
}

static int uboot_mark_good(BootBackend *b, Slot slot) {
        return transition(b, slot, uboot_state_mark_good);
}

static int uboot_mark_bad(BootBackend *b, Slot slot) {
        return transition(b, slot, uboot_state_mark_bad);
}

static int set_next_once(UBootState *s, Slot slot) {
        return uboot_state_set_next(s, slot, true);
}

static int set_next_default(UBootState *s, Slot slot) {
        return uboot_state_set_next(s, slot, false);
}

static int uboot_set_next(BootBackend *b, Slot slot, bool once) {
        return transition(b, slot, once ? set_next_once : set_next_default);
}

static int uboot_clear_next(BootBackend *b, bool once) {
        _cleanup_(uboot_env_freep) UBootEnv *e = NULL;
        UBootState s;

        int r = load(ub(b), &e, &s);
        if (r < 0)
                return r;
        uboot_state_clear_next(&s, once);
        return save(e, &s);
}

static int uboot_get_next(BootBackend *b, Slot *ret_default, Slot *ret_once) {
        _cleanup_(uboot_env_freep) UBootEnv *e = NULL;
        UBootState s;

        int r = load(ub(b), &e, &s);
        if (r < 0)
                return r;
        uboot_state_get_next(&s, ret_default, ret_once);
        return 0;
}

static int uboot_kernel_dir(BootBackend *b, Slot slot, char **ret) {
        _cleanup_(esp_writable_endp) EspMount *scope = NULL;
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/abide/%s", ub(b)->boot, slot_to_string(slot)) < 0)
                return -ENOMEM;
        if (!is_dir(dir)) {
                int r = esp_writable_begin(&ub(b)->mount, &scope);
                if (r >= 0)
                        r = mkdir_p(dir, 0755);
                if (r < 0)
                        return r;
        }
        *ret = TAKE_PTR(dir);
        return 0;
}

static int uboot_writable_begin(BootBackend *b) {
        EspMount *scope;
        return esp_writable_begin(&ub(b)->mount, &scope);
}

static int uboot_writable_end(BootBackend *b, bool cleanup) {
        return esp_writable_end_full(&ub(b)->mount, cleanup);
}

const BootBackendOps boot_backend_uboot = {
        .name = "uboot",
        .max_tries = UBOOT_TRIES_MAX,
        .open = uboot_open,
        .close = uboot_close,
        .booted_slot = uboot_booted_slot,
        .selected_slot = uboot_selected_slot,
        .selected_failure = uboot_selected_failure,
        .list = uboot_list,
        .remove = uboot_remove,
        .write = uboot_write,
        .mark_good = uboot_mark_good,
        .mark_bad = uboot_mark_bad,
        .set_next = uboot_set_next,
        .clear_next = uboot_clear_next,
        .get_next = uboot_get_next,
        .kernel_dir = uboot_kernel_dir,
        .location = uboot_location,
        .writable_begin = uboot_writable_begin,
        .writable_end = uboot_writable_end,
};
