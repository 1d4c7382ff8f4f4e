/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "ctl.h"
#include "report/report.h"

/*
 * Emits a report (docs/report.md) from a verb: spooled, then sent within
 * REPORT_SEND_BUDGET_MS. Never fails the verb: a report that cannot be
 * spooled is a warning, one not sent stays queued for the next try. The
 * error state (err_message()) of the caller is kept.
 */
void ctl_report(Ctl *ctl, const ReportEvent *e);

/* status --json's "report": {"queue": N, "url": ..., "last_error": ...} (docs/status-json.md). */
struct json_object *ctl_report_status_json(const AbideConfig *c);
/* status's "Reports:" line. */
void ctl_report_status_print(const AbideConfig *c);
