/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * One function per verb (verb-<name>.c). argv[0] is the verb's name.
 * Returns 0 on success, a negative errno with err_set() on failure: main
 * prints "abidectl: VERB: <message>" once.
 */
int verb_status(int argc, char *argv[]);
int verb_install(int argc, char *argv[]);
int verb_boot_check(int argc, char *argv[]);
int verb_mark_good(int argc, char *argv[]);
int verb_mark_bad(int argc, char *argv[]);
int verb_rollback(int argc, char *argv[]);
int verb_switch(int argc, char *argv[]);
int verb_report(int argc, char *argv[]);
int verb_update(int argc, char *argv[]);
