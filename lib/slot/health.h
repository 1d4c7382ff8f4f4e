/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "basic/macro.h"

typedef struct HealthFailure {
        char *check;     /* "agent" or the health.d file name */
        char *output;    /* tail of its output, with how it failed */
} HealthFailure;

void health_failure_done(HealthFailure *f);

typedef struct HealthOptions {
        const char *agent_probe;      /* command line; NULL: no agent probe */
        char *const *dirs;            /* health.d directories */
        size_t n_dirs;
        unsigned timeout_ms;          /* all checks must pass in one round before this */
        unsigned check_timeout_ms;    /* bound for one run of one check */
        unsigned retry_ms;            /* pause between rounds */
} HealthOptions;

/*
 * Runs the agent probe and every executable in the health.d directories,
 * round after round, until one round passes completely (returns 1) or the
 * deadline passes (returns 0 with the last failure in *ret_failure).
 * <0: the checks could not be listed or started.
 */
int health_wait(const HealthOptions *o, HealthFailure *ret_failure);
