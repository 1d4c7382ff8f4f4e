/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "basic/macro.h"

typedef struct RunResult {
        bool timed_out;
        int exit_status;     /* valid when exited */
        int signal;          /* killed by this signal (not by our timeout) */
        char *output;        /* tail of stdout+stderr, printable ASCII only */
} RunResult;

void run_result_done(RunResult *r);
/* "exit 3", "killed by signal 11", "timed out after 5 s"; NULL when it succeeded. */
bool run_result_ok(const RunResult *r);
int run_result_describe(const RunResult *r, unsigned timeout_ms, char **ret);

/*
 * Runs argv (argv[0] looked up in PATH when it has no slash) in its own
 * process group with stdout and stderr captured; after timeout_ms (or on
 * exit) the whole group is killed, and, the caller being a child subreaper
 * meanwhile, every process the check let out of its group (setsid(), a
 * double fork) too: a check cannot leave stragglers. The caller must have
 * no other children while it runs (they would be taken for those).
 * extra_env entries ("K=V") are added. Returns <0 only when it could not
 * start at all; a check that cannot be executed reports exit 127.
 */
int run_bounded(char *const argv[], char *const extra_env[], unsigned timeout_ms, size_t output_max,
                RunResult *ret);

/*
 * The executables in dirs (regular files, not hidden): the first
 * directory's in file name order, then the next one's. A name in a later
 * directory never replaces the same name in an earlier one: local health
 * checks (/etc) add to the image's (/usr/lib) and run after them, they cannot
 * switch one off. Missing directories are skipped.
 */
int exec_dir_list(char *const dirs[], size_t n_dirs, char ***ret_paths, size_t *ret_n);
void strv_free_n(char **v, size_t n);
