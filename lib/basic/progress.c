/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "progress.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static int tty = -1;
static const char *cur_label;
static uint64_t cur_total;
static struct timespec last;

static bool enabled(void) {
        if (tty < 0)
                tty = isatty(STDERR_FILENO) ? 1 : 0;
        return tty == 1;
}

void progress_step(const char *fmt, ...) {
        va_list ap;

        if (!enabled())
                return;
        va_start(ap, fmt);
        (void) vfprintf(stderr, fmt, ap);
        va_end(ap);
        (void) fputc('\n', stderr);
}

void progress_begin(const char *label, uint64_t total) {
        cur_label = label;
        cur_total = total;
        last = (struct timespec) {};
        progress_update(0);
}

void progress_update(uint64_t done) {
        struct timespec now;

        if (!enabled() || !cur_label)
                return;
        (void) clock_gettime(CLOCK_MONOTONIC, &now);
        /* At most ten redraws a second. */
        if (done != 0 && done != cur_total &&
            (now.tv_sec - last.tv_sec) * 1000000000L + (now.tv_nsec - last.tv_nsec) < 100000000L)
                return;
        last = now;
        if (cur_total > 0)
                (void) fprintf(stderr, "\r%s %3" PRIu64 "%% (%" PRIu64 "/%" PRIu64 " MiB)\033[K", cur_label,
                               done * 100 / cur_total, done >> 20, cur_total >> 20);
        else
                (void) fprintf(stderr, "\r%s %" PRIu64 " MiB\033[K", cur_label, done >> 20);
}

void progress_end(void) {
        if (enabled() && cur_label)
                (void) fputc('\n', stderr);
        cur_label = NULL;
}
