/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "macro.h"

/*
 * Runs argv[0] (looked up in PATH) with stdin from /dev/null and stdout to
 * stdout_path (or /dev/null when NULL), waits for it. On failure records
 * "<argv0> failed (exit N): <last line of its stderr>" and returns <0.
 * extra_env entries ("K=V") are added to the environment, a bare "K" removes
 * K from it (glibc's putenv()); may be NULL.
 */
int process_run(char *const argv[], char *const extra_env[], const char *stdout_path);
