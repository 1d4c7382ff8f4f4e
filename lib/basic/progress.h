/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

/* Progress for long steps, on stderr when it is a terminal, silent otherwise
 * (pipes, CI logs). Not thread-safe; one progress line at a time. */

void progress_step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A byte counter for one step: "label  42% (420/1000 MiB) 35.0 MiB/s, 0:17 left". total may be 0 (unknown). */
void progress_begin(const char *label, uint64_t total);
void progress_update(uint64_t done);
void progress_end(void);
