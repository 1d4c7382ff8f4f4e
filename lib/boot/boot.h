/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "basic/macro.h"
#include "boot/boot-entry.h"
#include "slot/config.h"
#include "slot/slot.h"

/*
 * The boot loader behind one interface: which slot booted, each slot's
 * entry and counter, write/remove/mark entries, choose the next boot.
 * The backend is picked by [Boot] Backend= in abide.conf.
 */
typedef struct BootBackend BootBackend;

typedef struct BootEntryInfo {
        BootCounter counter;   /* MISSING when the slot has no entry */
        BootEntryType type;    /* systemd-boot: type #1 (.conf) or #2 (the slot's UKI) */
        char *file;            /* entry file name; NULL when missing */
        char *version;         /* "version" line; may be NULL */
} BootEntryInfo;

void boot_entry_info_done(BootEntryInfo *e);
void boot_entry_infos_done(BootEntryInfo e[static _SLOT_MAX]);

int boot_backend_open(const AbideConfig *c, BootBackend **ret);
BootBackend *boot_backend_free(BootBackend *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(BootBackend *, boot_backend_free);

const char *boot_backend_name(const BootBackend *b);

/* The slot the loader started (-ENXIO with a message when it cannot tell). */
int boot_booted_slot(BootBackend *b, Slot *ret);
/* The slot whose entry the loader selected at this boot; -ENOENT when the loader does not say
 * (U-Boot). It differs from boot_booted_slot() when the firmware refused the selected image
 * and started another slot's itself. */
int boot_selected_slot(BootBackend *b, Slot *ret);
/* One line: why the slot the loader selected (entry file) did not start and booted did. */
int boot_selected_failure(BootBackend *b, Slot selected, const char *file, Slot booted, char **ret);
/* Both slots' entries; malformed entry names of ours are errors. */
int boot_list(BootBackend *b, BootEntryInfo ret[static _SLOT_MAX]);
/* Removes the slot's entry (all of its counter forms); the slot is not bootable after this. */
int boot_remove(BootBackend *b, Slot slot);
/* Writes the slot's entry atomically with spec->tries tries (0: good). Replaces an older entry. */
int boot_write(BootBackend *b, Slot slot, const BootEntrySpec *spec);
/* -EINVAL with a message when the backend cannot count that many tries (install checks before writing). */
int boot_check_tries(BootBackend *b, unsigned tries);
/* Drops the counter: the slot is good. */
int boot_mark_good(BootBackend *b, Slot slot);
/* Tries left to 0: the loader sorts it last; a next-boot choice naming it is cleared. */
int boot_mark_bad(BootBackend *b, Slot slot);
/* Boots slot next: once, or from now on. */
int boot_set_next(BootBackend *b, Slot slot, bool once);
/* Forgets the choice (the loader's own order applies again). */
int boot_clear_next(BootBackend *b, bool once);
/* The chosen slots, _SLOT_INVALID when none. */
int boot_get_next(BootBackend *b, Slot *ret_default, Slot *ret_once);
/* Where the slot's kernel and initrd live (e.g. <ESP>/abide/<slot>); created when missing. */
int boot_kernel_dir(BootBackend *b, Slot slot, char **ret);
/* The directory of the entries, for messages and tests. */
const char *boot_location(const BootBackend *b);

/*
 * Boot storage (the ESP) is read-only except while written: every backend
 * operation that writes opens its own scope, and a caller writing files of
 * its own there (the kernel and initrd into boot_kernel_dir()) brackets
 * them with these. Scopes nest; *ret_scope = b on success, for the cleanup
 * helper. Errors name the storage (e.g. an ESP the kernel forced read-only).
 */
int boot_writable_begin(BootBackend *b, BootBackend **ret_scope);
/* Fails (with a message) when what was written may not have landed: the storage could
 * not be synced, or turned read-only while written (the kernel found errors); the writer
 * must then fail. Not made read-only again is no error: that only costs the rule until
 * the next scope or reboot. The cleanup helper records no message for a failed sync. */
int boot_writable_end(BootBackend *b);
void boot_writable_endp(BootBackend **b);
