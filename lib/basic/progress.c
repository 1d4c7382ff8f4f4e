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
static struct timespec last, start, step_start;
static bool drawn;

static double elapsed(void) {
        struct timespec now;
        (void) clock_gettime(CLOCK_MONOTONIC, &now);
        return (double) (now.tv_sec - start.tv_sec) + (double) (now.tv_nsec - start.tv_nsec) / 1e9;
}

static bool enabled(void) {
        if (tty < 0) {
                tty = isatty(STDERR_FILENO) ? 1 : 0;
                (void) clock_gettime(CLOCK_MONOTONIC, &start);
        }
        return tty == 1;
}

void progress_step(const char *fmt, ...) {
        va_list ap;

        if (!enabled())
                return;
        (void) fprintf(stderr, "[%6.1fs] ", elapsed());
        va_start(ap, fmt);
        (void) vfprintf(stderr, fmt, ap);
        va_end(ap);
        (void) fputc('\n', stderr);
}

void progress_begin(const char *label, uint64_t total) {
        cur_label = label;
        cur_total = total;
        drawn = false;
        (void) clock_gettime(CLOCK_MONOTONIC, &step_start);
        progress_update(0);
}

void progress_update(uint64_t done) {
        struct timespec now;

        if (!enabled() || !cur_label)
                return;
        (void) clock_gettime(CLOCK_MONOTONIC, &now);
        /* The first draw, the last one, and at most ten a second between. */
        if (drawn && !(cur_total > 0 && done == cur_total) &&
            (now.tv_sec - last.tv_sec) * 1000000000L + (now.tv_nsec - last.tv_nsec) < 100000000L)
                return;
        last = now;
        drawn = true;
        /* Rate and time left of this step, once there is something to measure. */
        char rate[64] = "";
        double secs = (double) (now.tv_sec - step_start.tv_sec) + (double) (now.tv_nsec - step_start.tv_nsec) / 1e9;
        /* The last draw of a step of a MiB or more always says its average rate, however fast it was. */
        bool last_draw = cur_total > 0 && done == cur_total && done >= (1U << 20);
        if (secs > 0 && done > 0 && (secs >= 0.1 || last_draw)) {
                double bps = (double) done / secs;
                int n = snprintf(rate, sizeof rate, " %.1f MiB/s", bps / 1048576);
                if (cur_total > done && n > 0) {
                        uint64_t left = (uint64_t) ((double) (cur_total - done) / bps);
                        (void) snprintf(rate + n, sizeof rate - (size_t) n, ", %" PRIu64 ":%02" PRIu64 " left", left / 60,
                                        left % 60);
                }
        }
        if (cur_total > 0)
                (void) fprintf(stderr, "\r%s %3" PRIu64 "%% (%" PRIu64 "/%" PRIu64 " MiB)%s\033[K", cur_label,
                               done * 100 / cur_total, done >> 20, cur_total >> 20, rate);
        else
                (void) fprintf(stderr, "\r%s %" PRIu64 " MiB%s\033[K", cur_label, done >> 20, rate);
}

void progress_end(void) {
        if (enabled() && cur_label && drawn)
                (void) fputc('\n', stderr);
        cur_label = NULL;
}
