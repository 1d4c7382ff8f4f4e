/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "basic/macro.h"
#include "slot/slot.h"

/*
 * The slots' Boot Loader Specification entries, with the loader's boot
 * counter in the name ("Automatic Boot Assessment"): type #1 entries in
 * loader/entries/ (".conf"), or type #2, the slot's signed unified kernel
 * image itself in EFI/Linux/ (".efi", Secure Boot: docs/secure-boot.md):
 *   abide-<slot>.conf              good (not counted)
 *   abide-<slot>+LEFT.conf         pending, LEFT tries left
 *   abide-<slot>+LEFT-DONE.conf    pending, DONE tries used; LEFT == 0 is bad
 * and the same names ending in .efi. Pure string functions, no I/O.
 */

#define BOOT_ENTRY_PREFIX "abide-"
#define BOOT_ENTRY_SUFFIX ".conf"
#define BOOT_UKI_SUFFIX ".efi"
#define BOOT_ENTRY_NAME_MAX 64
#define BOOT_COUNTER_MAX 9999U

typedef enum BootEntryType {
        BOOT_ENTRY_TYPE1,   /* loader/entries/abide-*.conf: kernel and initrd in /abide/<slot>/ */
        BOOT_ENTRY_TYPE2,   /* EFI/Linux/abide-*.efi: a unified kernel image */
        _BOOT_ENTRY_TYPE_MAX,
        _BOOT_ENTRY_TYPE_INVALID = -EINVAL,
} BootEntryType;

/* ".conf" or ".efi". */
const char *boot_entry_type_suffix(BootEntryType t);
/* The type a name's suffix says; _BOOT_ENTRY_TYPE_INVALID for anything else. */
BootEntryType boot_entry_name_type(const char *name);

/* Type #1 names. ret->state is GOOD, PENDING or BAD. -EINVAL when the name is not exactly of the forms above. */
int boot_entry_name_parse(const char *name, Slot *ret_slot, BootCounter *ret_counter);
/* Whether the loader reads it and it claims to be ours: "abide-*.conf". */
bool boot_entry_name_is_ours(const char *name);
/* counter->state GOOD, PENDING or BAD. */
int boot_entry_name_format(Slot slot, const BootCounter *counter, char buf[static BOOT_ENTRY_NAME_MAX]);

/* The same for either type (the suffix decides, or is given). */
int boot_entry_name_parse_type(const char *name, BootEntryType type, Slot *ret_slot, BootCounter *ret_counter);
bool boot_entry_name_is_ours_type(const char *name, BootEntryType type);
int boot_entry_name_format_type(Slot slot, const BootCounter *counter, BootEntryType type,
                                char buf[static BOOT_ENTRY_NAME_MAX]);
/* Either type, as the loader reports the entry it selected (LoaderEntrySelected). */
int boot_entry_name_parse_any(const char *name, Slot *ret_slot, BootCounter *ret_counter, BootEntryType *ret_type);

typedef struct BootEntrySpec {
        const char *version;   /* image version: "version" line, the loader sorts by it */
        const char *cmdline;   /* kernel options before abide.slot=; may be NULL */
        unsigned tries;        /* 0: a good entry without counter */
        /* Type #2: the slot's verified UKI, already on the boot storage (boot_kernel_dir());
         * the entry is this file, renamed into place. NULL: a type #1 entry. */
        const char *uki;
} BootEntrySpec;

/*
 * The entry's text: title, version, sort-key abide, linux and initrd under
 * /abide/<slot>/, options <cmdline> abide.slot=<slot>. -EINVAL on a version
 * or cmdline that would break the file (newline, control characters).
 */
int boot_entry_format(Slot slot, const BootEntrySpec *spec, char **ret);
/* The value of the "version" line; -ENOENT when there is none. */
int boot_entry_parse_version(const char *text, char **ret);
