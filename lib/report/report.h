/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/macro.h"
#include "report/report-send.h"
#include "slot/config.h"
#include "slot/slot.h"

/*
 * Reports (docs/report.md): one JSON file per event, spooled on abide-data
 * ([Report] Spool=) so it survives a power cut, then sent to [Report] URL=
 * in sequence order: PUT <URL>/<id>.json (any WebDAV-capable server stores
 * it), or POST <URL>. Kept until a 2xx answer. "Success" is only ever the
 * blessed event.
 *
 * For bootctl/verb-update.c (the update-found event), after the channel
 * decided CHANNEL_INSTALL and before ctl_install():
 *
 *     ReportEvent ev = {
 *             .type = REPORT_UPDATE_FOUND,
 *             .to_version = decision.release->version,
 *             .slot = target slot, or _SLOT_INVALID when not known yet,
 *             .channel_serial = channel->serial, .channel_serial_set = true,
 *     };
 *     r = report_emit(ctl.config, &ev, REPORT_SEND_BUDGET_MS);
 *     if (r < 0)
 *             ctl_warn("cannot spool the report: %s", err_message(r));
 *
 * machine_id, compatible and from_version are filled in by report_emit()
 * when NULL (MachineIdFile=, the running image's image.json). A failed
 * send never fails the verb: the event stays spooled for the next try.
 * ctl_install() itself emits install-started / installed / install-failed
 * (not for --dry-run); the verb must not emit those again.
 */

#define REPORT_FORMAT 1
/* What a verb spends at most on sending after it emitted (all attempts). */
#define REPORT_SEND_BUDGET_MS 3000
/* A spooled or stored report larger than this is not one of ours. */
#define REPORT_MAX_SIZE (64 * 1024)

typedef enum ReportEventType {
        REPORT_UPDATE_FOUND,
        REPORT_INSTALL_STARTED,
        REPORT_INSTALLED,      /* the slot is pending: NOT a success */
        REPORT_BLESSED,        /* the only success */
        REPORT_MARKED_BAD,
        REPORT_ROLLED_BACK,
        REPORT_INSTALL_FAILED,
        _REPORT_EVENT_MAX,
        _REPORT_EVENT_INVALID = -EINVAL,
} ReportEventType;

/* "update-found", "install-started", "installed", "blessed", "marked-bad", "rolled-back", "install-failed" */
const char *report_event_type_to_string(ReportEventType t);
ReportEventType report_event_type_from_string(const char *s);

typedef struct ReportEvent {
        ReportEventType type;
        const char *machine_id;     /* NULL: report_emit() reads [Update] MachineIdFile= */
        const char *compatible;     /* NULL: report_emit() takes the running image's */
        const char *from_version;   /* NULL: update-found and install events take the running image's */
        const char *to_version;
        Slot slot;                  /* the slot concerned; _SLOT_INVALID: null */
        unsigned tries_done;
        bool tries_left_set;
        unsigned tries_left;
        const char *reason;         /* marked-bad: check output; rolled-back: the reason; install-failed: the error */
        const char *check;          /* marked-bad: the failing check */
        bool channel_serial_set;
        uint64_t channel_serial;
        uint64_t time;              /* the device's clock, informational; 0: report_emit() takes now */
} ReportEvent;

/*
 * Spools e and then tries to send the whole spool for at most budget_ms
 * (0: do not send now). Returns a negative errno only when the event could
 * not be spooled; otherwise the number of events still queued (a failed
 * send is recorded for `abidectl status` and `abidectl report list`).
 */
int report_emit(const AbideConfig *c, const ReportEvent *e, unsigned budget_ms);

/*
 * Sends the spool now for at most budget_ms (`abidectl report send`, and
 * abidectl update at each poll, so a spool left by a dead network drains).
 * 0 when the spool is empty afterwards; else a negative errno with one
 * line: the event not accepted and why, or that [Report] URL= is not set.
 * ret (may be NULL): sent, still queued, and set aside as no report ("*.corrupt").
 */
int report_send_now(const AbideConfig *c, unsigned budget_ms, ReportSendResult *ret);

/* For status: the spool's length and why the last send stopped (NULL: it did not). */
int report_queue(const AbideConfig *c, size_t *ret_queue, char **ret_last_error);
