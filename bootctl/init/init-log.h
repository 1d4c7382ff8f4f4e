/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "basic/macro.h"

/*
 * abide-init's console: one short line per step, "abide-init: ...". The
 * kernel hands PID 1 the initramfs's /dev/console as fds 0-2; after devtmpfs
 * is mounted init_log_open() reopens it there, in case the archive had none.
 */
void init_log_open(void);
void init_log(const char *fmt, ...) _printf_(1, 2);

/*
 * In test mode (abide-init run by a test, not as PID 1) progress lines go to
 * stdout, and a failure prints its line on stderr and exits 1 instead of
 * rebooting the machine.
 */
void init_log_set_test_mode(bool b);
bool init_log_test_mode(void);

/*
 * The one way out on failure: logs the line, syncs, waits 2 seconds so the
 * serial console drains, reboots. Never returns, never starts a shell.
 */
_noreturn_ void init_fail(const char *fmt, ...) _printf_(1, 2);

/*
 * Bounds the step that starts now: when it is still running after sec
 * seconds, SIGALRM logs "abide-init: STEP: timed out after N s" and
 * reboots (test mode: exits 1). step must be a string literal or outlive the
 * step. sec 0 cancels the bound.
 */
void init_step_deadline(const char *step, unsigned sec);
