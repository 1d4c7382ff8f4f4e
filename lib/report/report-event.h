/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report/report.h"

/*
 * The pure parts of a report (docs/report.md): its id, its JSON, the spool
 * file's name, and a stored report read back (abidectl report list,
 * abide-build channel watch). No I/O, no clock: the caller passes the
 * sequence number, the random part and the time.
 */

/* "<machine-id>-<seq, at least 8 digits>-<8 hex>": a file name at the endpoint. */
#define REPORT_ID_MAX 128
#define REPORT_MACHINE_ID_MAX 64
/* "<seq, at least 8 digits>-<event>.json" */
#define REPORT_SPOOL_NAME_MAX 64
/*
 * The highest sequence number a spool trusts. 2^62 events are never counted
 * to, so a counter or a name above it is garbage (a garbled file, a name
 * no add gave out), and the numbering goes on after the highest sane one
 * instead of running into 2^64.
 */
#define REPORT_SEQ_MAX (UINT64_C(1) << 62)

/* 1..64 of [A-Za-z0-9_.-], not starting with '.' or '-': safe in a file name and a URL. */
bool report_machine_id_valid(const char *s);

int report_id_format(const char *machine_id, uint64_t seq, uint32_t random, char ret[static REPORT_ID_MAX]);
/* The sequence number inside an id, its machine-id being machine_id (NULL: any). */
int report_id_parse(const char *id, const char *machine_id, uint64_t *ret_seq);

void report_spool_name_format(uint64_t seq, ReportEventType type, char ret[static REPORT_SPOOL_NAME_MAX]);
/*
 * 0 for one of ours; -ERANGE for a name like ours whose number is above
 * REPORT_SEQ_MAX (set aside by the next add); -EINVAL for anything else
 * (temporary files, the seq counter, strangers).
 */
int report_spool_name_parse(const char *name, uint64_t *ret_seq, ReportEventType *ret_type);

/* The event as spooled and sent: one JSON object and a newline. e->machine_id must be set. */
int report_event_to_json(const ReportEvent *e, uint64_t seq, uint32_t random, char **ret, size_t *ret_len);

/* A report read back: what list and watch need. */
typedef struct ReportRecord {
        char *id;
        ReportEventType type;
        uint64_t seq;                /* from the id */
        uint64_t time;
        char *machine_id;
        char *compatible;            /* NULL when null (the image did not say) */
        char *from_version;          /* NULL when null */
        char *to_version;            /* NULL when null */
        Slot slot;
        char *reason;
        char *check;
        bool channel_serial_set;
        uint64_t channel_serial;
} ReportRecord;

void report_record_done(ReportRecord *r);
/* Checks format, the event's name, the id against machine_id, and the types of the known keys; other keys are ignored. */
int report_record_parse(const char *json, size_t len, ReportRecord *ret);

/* A file in the spool. */
typedef struct ReportSpoolEntry {
        uint64_t seq;
        ReportEventType type;
        char name[REPORT_SPOOL_NAME_MAX];
} ReportSpoolEntry;

/* qsort() order: by sequence number, the order events are sent in. */
int report_spool_entry_compare(const void *a, const void *b);
