/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "slot/slot.h"

/*
 * The kernel command line as abide reads it, in abide-init and in abidectl
 * alike, so that both agree on which slot booted: words separated by white
 * space, double quotes group and are removed ("abide.slot=a" and
 * abide.slot="a" both work), everything after a lone "--" belongs to init
 * and is ignored, the last occurrence of a key wins. Pure: no I/O.
 */

/* The next word at *p into a new string, quotes removed; *ret = NULL at the end. */
int kernel_cmdline_next_word(const char **p, char **ret);

/* abide.slot=: -ENOENT (no message) when absent; -EINVAL with a message when
 * it is not a or b, has no value, or the line has an unterminated quote. */
int kernel_cmdline_slot(const char *cmdline, Slot *ret);
