/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Arms the first watchdog device that appears within wait_ms: sets its
 * timeout to timeout_sec, pings once and closes it WITHOUT the magic 'V', so
 * it stays armed across switch_root and the booted system must take over
 * the pinging (docs/boot.md). -ENODEV when no device appeared; any other
 * error leaves the device armed (the message says with which timeout).
 * ret_device gets the device path, ret_timeout the timeout the driver took.
 */
int init_watchdog_arm(unsigned timeout_sec, unsigned wait_ms, const char **ret_device, unsigned *ret_timeout);
