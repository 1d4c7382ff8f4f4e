/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "report/report-event.h"

/*
 * What `abide-build channel watch` decides from the reports an endpoint
 * stored (docs/report.md, "The rollout stops itself"). Pure: the caller
 * reads the files and the channel, and writes what was decided.
 */

/* Devices of one release, each counted once (by machine_id), from its reports in seq order. */
typedef struct ReportTally {
        size_t took;            /* any event but update-found: the install started */
        size_t failed;          /* the device's last outcome is rolled-back, marked-bad or install-failed */
        size_t blessed;         /* the device's last outcome is blessed */
        size_t rolled_back, marked_bad, install_failed;   /* of failed, by its last outcome */
} ReportTally;

/* recs: reports of one release (compatible and to_version matched by the caller), any order; reordered. */
void report_tally(const ReportRecord **recs, size_t n, ReportTally *ret);

typedef struct ReportWatchPolicy {
        unsigned max_failure_percent;   /* halt when failed > this % of took */
        unsigned min_blessed_percent;   /* advance only when blessed >= this % of took */
        unsigned min_devices;           /* and at least this many blessed */
} ReportWatchPolicy;

typedef enum ReportWatchAction {
        REPORT_WATCH_NONE,
        REPORT_WATCH_HALT,
        REPORT_WATCH_ADVANCE,
} ReportWatchAction;

typedef struct ReportWatchDecision {
        ReportWatchAction action;
        unsigned next_percent_bp;       /* ADVANCE: the next planned stage */
        char reason[256];               /* one line naming the counts */
} ReportWatchDecision;

/*
 * The failure threshold first, at any stage; then the next stage of
 * stages_bp above percent_bp, when enough devices blessed. A halted
 * release is left alone: resuming it is the operator's decision.
 */
void report_watch_decide(const ReportTally *t, const ReportWatchPolicy *p, bool halted, unsigned percent_bp,
                         const unsigned *stages_bp, size_t n_stages, ReportWatchDecision *ret);
