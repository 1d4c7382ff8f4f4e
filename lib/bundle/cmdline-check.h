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
 *  - printable ASCII only: no control characters (tab, newline, 0x7f, ...).
 * Words are separated by spaces. Other keys, abide.slotx=1 or abide.watchdog=
 * included, are the image's business. The empty command line is fine.
 *
 * Pure. On a refusal records "<what> must not ..." (what names the field,
 * e.g. "manifest: boot.cmdline") and returns -EINVAL.
 */
int cmdline_check(const char *what, const char *cmdline);
