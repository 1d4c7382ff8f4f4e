/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The one rule for the kernel command line an image asks for (the recipe's
 * [Boot] Cmdline=, the manifest's boot.cmdline). abidectl writes the boot
 * entry's options as "<cmdline> abide.slot=<slot>", so the image's part must
 * not be able to change which root abide-init picks:
 *  - no abide.slot word (with or without a value): the loader entry's slot is
 *    abidectl's to set;
 *  - no "--" word: the kernel hands everything after it to init, which would
 *    hide the abide.slot= that follows;
 *  - no quotes (" '), no backslash: they change how the kernel and abide-init
 *    split words;
 *  - printable ASCII only: no control characters (tab, newline, 0x7f, ...);
 *  - abide.watchdog= and abide.wait= only with a value abide-init takes (a
 *    decimal number of seconds up to the maximum below): abide-init refuses
 *    to boot on any other, so the image could never boot.
 * Words are separated by spaces. Other keys, abide.slotx=1 included, are the
 * image's business. The empty command line is fine.
 *
 * Pure. On a refusal records "<what> must not ..." (what names the field,
 * e.g. "manifest: boot.cmdline") and returns -EINVAL.
 */
/* The upper bounds abide-init applies (bootctl/init/init-cmdline.h, checked equal there by the fuzz target). */
#define CMDLINE_WATCHDOG_MAX_SEC 86400
#define CMDLINE_WAIT_MAX_SEC 3600
/* abide-init's watchdog timeout without abide.watchdog= (INIT_WATCHDOG_DEFAULT_SEC, checked equal by fuzz-cmdline). */
#define CMDLINE_WATCHDOG_DEFAULT_SEC 120

int cmdline_check(const char *what, const char *cmdline);

/* The watchdog timeout abide-init arms for a command line that passed
 * cmdline_check(): the last abide.watchdog= word's seconds (0: none), else
 * CMDLINE_WATCHDOG_DEFAULT_SEC. NULL is the empty command line. */
unsigned cmdline_watchdog_sec(const char *cmdline);
