/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "basic/macro.h"
#include "slot/slot.h"

/*
 * Boot Loader Specification type #1 entries of the slots, with the loader's
 * boot counter in the name ("Automatic Boot Assessment"):
 *   abide-<slot>.conf              good (not counted)
 *   abide-<slot>+LEFT.conf         pending, LEFT tries left
 *   abide-<slot>+LEFT-DONE.conf    pending, DONE tries used; LEFT == 0 is bad
 * Pure string functions, no I/O.
 */

#define BOOT_ENTRY_PREFIX "abide-"
#define BOOT_ENTRY_SUFFIX ".conf"
#define BOOT_ENTRY_NAME_MAX 64
#define BOOT_COUNTER_MAX 9999U

/* ret->state is GOOD, PENDING or BAD. -EINVAL when the name is not exactly of the forms above. */
int boot_entry_name_parse(const char *name, Slot *ret_slot, BootCounter *ret_counter);
/* Whether the loader reads it and it claims to be ours: "abide-*.conf". */
bool boot_entry_name_is_ours(const char *name);
/* counter->state GOOD, PENDING or BAD. */
int boot_entry_name_format(Slot slot, const BootCounter *counter, char buf[static BOOT_ENTRY_NAME_MAX]);

typedef struct BootEntrySpec {
        const char *version;   /* image version: "version" line, the loader sorts by it */
        const char *cmdline;   /* kernel options before abide.slot=; may be NULL */
        unsigned tries;        /* 0: a good entry without counter */
} BootEntrySpec;

/*
 * The entry's text: title, version, sort-key abide, linux and initrd under
 * /abide/<slot>/, options <cmdline> abide.slot=<slot>. -EINVAL on a version
 * or cmdline that would break the file (newline, control characters).
 */
int boot_entry_format(Slot slot, const BootEntrySpec *spec, char **ret);
/* The value of the "version" line; -ENOENT when there is none. */
int boot_entry_parse_version(const char *text, char **ret);
