/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The initramfs's list: module names in load order, dependencies first. */
#define INIT_MODULES_LOAD "/etc/abide/modules.load"

/*
 * Loads every module named in list_path (one per line; empty lines and #
 * comments skipped) with libkmod from /lib/modules/`uname -r`. A built-in
 * or already loaded module counts as loaded. A module that is missing or
 * fails to load is logged and skipped: the later steps tell whether it was
 * needed. *ret_failed gets the number skipped; *ret_absent the number whose
 * hardware is not there (ENODEV, not logged). Fails only when the list or
 * the module directory cannot be read.
 */
int init_modules_load(const char *list_path, unsigned *ret_loaded, unsigned *ret_failed, unsigned *ret_absent);
