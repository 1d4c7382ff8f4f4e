/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "basic/macro.h"
#include "slot/slot.h"

/*
 * The U-Boot environment as the boot script (builder/uboot/boot.cmd) reads
 * it, with RAUC's variable names (docs/uboot.md). Pure, no I/O.
 *
 *   BOOT_ORDER     "A B": the slots that have an entry, first preferred;
 *                  a slot not listed is MISSING (not bootable)
 *   BOOT_x_LEFT    unset/empty: GOOD (not counted); N > 0: PENDING with N
 *                  tries left; 0: BAD (and sorted last in BOOT_ORDER); other
 *                  values as U-Boot's test and setexpr read them
 *                  (uboot_state_parse)
 *   abide_once     A or B: boot it once (switch --once), cleared by the script
 *   abide_default  A or B: abidectl switch pinned it first in BOOT_ORDER
 *   abide_good     A or B: the slot last marked good, the fallback when no
 *                  listed slot has tries left
 */

/* The script decrements with setexpr, which is hexadecimal: one digit keeps it decimal. */
#define UBOOT_TRIES_MAX 9U
#define UBOOT_LEFT_GOOD (-1)

typedef struct UBootState {
        Slot order[_SLOT_MAX];
        unsigned n_order;
        int left[_SLOT_MAX];   /* UBOOT_LEFT_GOOD or 0..UBOOT_TRIES_MAX; only for listed slots */
        Slot once;             /* _SLOT_INVALID: none */
        Slot pinned;
        Slot good;
} UBootState;

/* "A"/"B" <-> SLOT_A/SLOT_B; anything else _SLOT_INVALID. */
const char *uboot_slot_name(Slot s);
Slot uboot_slot_from_name(const char *s);

/*
 * From the variables' values (NULL: unset). BOOT_ORDER words that are not
 * A or B are ignored, as the script ignores them, and so are repeats.
 * BOOT_x_LEFT is read as the script reads it on U-Boot, whatever it holds:
 * unset or empty is good; any other value abidectl would not write ("10",
 * "0x5", "08", "a", "1 2") is the number of boots the script gives it (at
 * most UBOOT_TRIES_MAX), 0 when it skips the slot; formatting the state
 * writes it back in abide's form. abide_once/default/good naming no slot
 * are ignored.
 */
void uboot_state_parse(const char *order, const char *left[static _SLOT_MAX], const char *once,
                       const char *pinned, const char *good, UBootState *ret);
/* BOOT_ORDER's value ("" when no slot is listed). */
void uboot_state_format_order(const UBootState *s, char buf[static 8]);
/* BOOT_x_LEFT's value; false: unset. */
bool uboot_state_format_left(const UBootState *s, Slot slot, char buf[static 4]);

bool uboot_state_listed(const UBootState *s, Slot slot);
BootCounter uboot_state_counter(const UBootState *s, Slot slot);

/*
 * What the boot script does on a power-on: the slot it boots, whether that
 * counted a try, whether it is the fallback (no listed slot bootable), and
 * the environment it saves (decremented counters, abide_once cleared).
 * uboot_state_boot_loading(): loads[slot] false when the slot's kernel or
 * initrd cannot be loaded; the script passes such a slot over in the same
 * boot (its try, if counted, stays spent) and boots the next choice, which
 * carries abide.unloadable=<slot>; slot _SLOT_INVALID when nothing can be
 * loaded (the script resets, the counts saved).
 */
typedef struct UBootBoot {
        Slot slot;
        bool counted;
        bool fallback;
        bool unloadable[_SLOT_MAX];   /* passed over this boot */
} UBootBoot;
void uboot_state_boot(UBootState *s, UBootBoot *ret);
void uboot_state_boot_loading(UBootState *s, const bool loads[static _SLOT_MAX], UBootBoot *ret);

/* Transitions (abidectl's writes). -ENOENT: the slot is not listed; -EINVAL: tries > UBOOT_TRIES_MAX. */
/* Lists the slot first with tries tries (0: good, also abide_good). */
int uboot_state_write(UBootState *s, Slot slot, unsigned tries);
/* Unlists it; choices naming it are cleared. */
void uboot_state_remove(UBootState *s, Slot slot);
/* Lists the running slot last, good, when the environment does not (it booted through the script's
 * fallback: a saved environment without abide's variables), so a trial of the other slot that fails
 * falls back to it rather than to the trial slot, the only one listed. */
void uboot_state_keep_running(UBootState *s, Slot running);
int uboot_state_mark_good(UBootState *s, Slot slot);
/* 0 tries left, last in BOOT_ORDER; choices naming it are cleared. */
int uboot_state_mark_bad(UBootState *s, Slot slot);
/* once: abide_once; else first in BOOT_ORDER and abide_default. */
int uboot_state_set_next(UBootState *s, Slot slot, bool once);
void uboot_state_clear_next(UBootState *s, bool once);
/* The choices as boot_get_next() reports them: the pin only while its slot is first. */
void uboot_state_get_next(const UBootState *s, Slot *ret_default, Slot *ret_once);
