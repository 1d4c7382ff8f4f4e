/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * Sends the spool (docs/report.md) in sequence order over libcurl: PUT to
 * <url>/<id>.json, or POST to <url>. A 2xx answer removes the file; any
 * other outcome keeps it and the ones after it. A spooled name that is no
 * report (not a regular file, larger than REPORT_MAX_SIZE, not a report's
 * JSON) is renamed "*.corrupt" and the send goes on. Transient failures
 * (connect, 5xx, 408, 429) are retried with http-policy's jittered backoff
 * while the budget lasts; nothing is ever sent past it.
 */
typedef struct ReportSendOptions {
        const char *url;
        bool post;
        bool allow_http;
        const char *ca_file;          /* NULL: the system store */
        const char *client_cert;      /* PEM, with client_key */
        const char *client_key;
        const char *headers_file;     /* "Name: value" lines, as [Network] HeadersFile= */
        unsigned budget_ms;           /* every attempt of this call */
} ReportSendOptions;

typedef struct ReportSendResult {
        size_t sent;
        size_t remaining;
        size_t set_aside;             /* names that are no report, renamed "*.corrupt" */
} ReportSendResult;

/* The URL an event is PUT to: base + "/" (unless it ends in one) + id + ".json". */
int report_put_url(const char *base, const char *id, char **ret);

/*
 * Sends what dir holds. Returns 0 when the spool was emptied, else a
 * negative errno with one line naming the event and the cause (also kept
 * in the spool's last-error). -EAGAIN: another process is sending.
 */
int report_send(const char *dir, const ReportSendOptions *o, ReportSendResult *ret);
