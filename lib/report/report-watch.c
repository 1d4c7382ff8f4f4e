/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "report-watch.h"

#include <stdio.h>

static int compare_device_seq(const void *a, const void *b) {
        const ReportRecord *x = *(const ReportRecord *const *) a, *y = *(const ReportRecord *const *) b;
        int c = strcmp(x->machine_id, y->machine_id);
        if (c != 0)
                return c;
        if (x->seq != y->seq)
                return x->seq < y->seq ? -1 : 1;
        return strcmp(x->id, y->id);
}

static bool is_failure(ReportEventType t) {
        return t == REPORT_ROLLED_BACK || t == REPORT_MARKED_BAD || t == REPORT_INSTALL_FAILED;
}

void report_tally(const ReportRecord **recs, size_t n, ReportTally *ret) {
        ReportTally t = {};

        if (n > 0)
                qsort(recs, n, sizeof *recs, compare_device_seq);
        for (size_t i = 0; i < n;) {
                size_t j = i;
                bool took = false;
                ReportEventType outcome = _REPORT_EVENT_INVALID;
                /* A device's reports, oldest first: its last outcome counts (an install that
                 * failed and then succeeded on a retry is a success). */
                for (; j < n && streq(recs[j]->machine_id, recs[i]->machine_id); j++) {
                        ReportEventType type = recs[j]->type;
                        if (type != REPORT_UPDATE_FOUND)
                                took = true;
                        if (type == REPORT_BLESSED || is_failure(type))
                                outcome = type;
                }
                i = j;
                if (!took)
                        continue;
                t.took++;
                switch (outcome) {
                case REPORT_BLESSED:
                        t.blessed++;
                        break;
                case REPORT_ROLLED_BACK:
                        t.failed++, t.rolled_back++;
                        break;
                case REPORT_MARKED_BAD:
                        t.failed++, t.marked_bad++;
                        break;
                case REPORT_INSTALL_FAILED:
                        t.failed++, t.install_failed++;
                        break;
                default:
                        break;
                }
        }
        *ret = t;
}

/* "25%", "2.5%", "0.25%" */
static const char *percent_bp_text(unsigned bp, char buf[static 16]) {
        if (bp % 100 == 0)
                (void) snprintf(buf, 16, "%u%%", bp / 100);
        else if (bp % 10 == 0)
                (void) snprintf(buf, 16, "%u.%u%%", bp / 100, (bp % 100) / 10);
        else
                (void) snprintf(buf, 16, "%u.%02u%%", bp / 100, bp % 100);
        return buf;
}

void report_watch_decide(const ReportTally *t, const ReportWatchPolicy *p, bool halted, unsigned percent_bp,
                         const unsigned *stages_bp, size_t n_stages, ReportWatchDecision *ret) {
        char now[16], next[16];
        *ret = (ReportWatchDecision) { .action = REPORT_WATCH_NONE };

        if (halted) {
                (void) snprintf(ret->reason, sizeof ret->reason, "halted already (%zu took it, %zu failed, %zu blessed)",
                                t->took, t->failed, t->blessed);
                return;
        }
        if (t->took == 0) {
                (void) snprintf(ret->reason, sizeof ret->reason, "no device took it yet (stage %s)",
                                percent_bp_text(percent_bp, now));
                return;
        }
        /* Integers only: failed/took > max% is failed * 100 > max * took. */
        if ((unsigned long long) t->failed * 100 > (unsigned long long) p->max_failure_percent * t->took) {
                ret->action = REPORT_WATCH_HALT;
                (void) snprintf(ret->reason, sizeof ret->reason,
                                "%zu of %zu devices that took it failed (%zu rolled back, %zu marked bad, %zu install failed), "
                                "more than %u%% at stage %s",
                                t->failed, t->took, t->rolled_back, t->marked_bad, t->install_failed,
                                p->max_failure_percent, percent_bp_text(percent_bp, now));
                return;
        }
        const unsigned *up = NULL;
        for (size_t i = 0; i < n_stages; i++)
                if (stages_bp[i] > percent_bp && (!up || stages_bp[i] < *up))
                        up = &stages_bp[i];
        if (!up) {
                (void) snprintf(ret->reason, sizeof ret->reason, "last stage %s: %zu of %zu blessed, %zu failed",
                                percent_bp_text(percent_bp, now), t->blessed, t->took, t->failed);
                return;
        }
        bool enough = (unsigned long long) t->blessed * 100 >= (unsigned long long) p->min_blessed_percent * t->took &&
                      t->blessed >= p->min_devices;
        if (!enough) {
                (void) snprintf(ret->reason, sizeof ret->reason,
                                "waiting at stage %s: %zu of %zu blessed (needs %u%% and at least %u), %zu failed",
                                percent_bp_text(percent_bp, now), t->blessed, t->took, p->min_blessed_percent,
                                p->min_devices, t->failed);
                return;
        }
        ret->action = REPORT_WATCH_ADVANCE;
        ret->next_percent_bp = *up;
        (void) snprintf(ret->reason, sizeof ret->reason, "%zu of %zu blessed, %zu failed: stage %s -> %s", t->blessed,
                        t->took, t->failed, percent_bp_text(percent_bp, now), percent_bp_text(*up, next));
}
