/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "macro.h"

/*
 * Library code never prints. A failing function records one line saying
 * what failed and why (thread-local, last writer wins) and returns a
 * negative errno; the program layer prints that line once.
 *
 *     if (size > declared)
 *             return err_set(EMSGSIZE, "payload %s: larger than declared %" PRIu64, name, declared);
 */

/* The longest message recorded, with its NUL (a path of PATH_MAX bytes and the reason after it): a
 * copy of err_message() kept for later (another thread's, say) fits in a char[ERR_MAX] whole. */
#define ERR_MAX 8192

/* Records the message and returns -abs(errnum). Control characters in it (a newline in a path, say)
 * are recorded as '?': the message stays one line. */
int err_set(int errnum, const char *fmt, ...) _printf_(2, 3);

/* Prepends "prefix: " to the recorded message, keeps errnum; returns -abs(errnum).
 * When nothing was recorded, the message becomes "prefix: strerror(errnum)". */
int err_prefix(int errnum, const char *fmt, ...) _printf_(2, 3);

/* The recorded message, or strerror(errnum) when none was recorded since err_clear(). */
const char *err_message(int errnum);

void err_clear(void);
