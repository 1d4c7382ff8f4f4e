/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <getopt.h>

#include "macro.h"

/*
 * The error for the option getopt_long() just refused, naming it as it was
 * written. c is what getopt_long() returned, ':' or '?': the optstring
 * starts with ':' (after a leading '+'), or a missing value comes back as
 * '?' like an unknown option. Records one of "option '--tries' needs a
 * value", "option '--json' takes no value", "unknown option '-x'", each
 * followed by " (see HINT)", and returns -EINVAL.
 */
int opt_error(int c, char *const argv[], const struct option *options, const char *hint);
