/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ctl-report.h"

#include <json-c/json.h>

#include "basic/error.h"
#include "net/http-policy.h"

void ctl_report(Ctl *ctl, const ReportEvent *e) {
        int r = report_emit(ctl->config, e, REPORT_SEND_BUDGET_MS);
        if (r < 0)
                ctl_warn("%s", err_message(r));
}

struct json_object *ctl_report_status_json(const AbideConfig *c) {
        _cleanup_free_ char *last_error = NULL;
        size_t queue = 0;
        char shown[1024];
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        /* A spool that cannot be read shows as null, not as an empty queue. */
        bool known = report_queue(c, &queue, &last_error) >= 0;
        if (!known)
                last_error = strdup(err_message(-EIO));
        err_clear();
        if (c->report_url)
                http_url_display(c->report_url, shown, sizeof shown);
        json_object_object_add(o, "queue", known ? json_object_new_int64((int64_t) queue) : NULL);
        json_object_object_add(o, "url", c->report_url ? json_object_new_string(shown) : NULL);
        json_object_object_add(o, "last_error", last_error ? json_object_new_string(last_error) : NULL);
        return o;
}

void ctl_report_status_print(const AbideConfig *c) {
        _cleanup_free_ char *last_error = NULL;
        size_t queue = 0;
        char shown[1024];

        if (report_queue(c, &queue, &last_error) < 0) {
                printf("\nReports: %s\n", err_message(-EIO));
                err_clear();
                return;
        }
        if (c->report_url)
                http_url_display(c->report_url, shown, sizeof shown);
        printf("\nReports: %zu queued, %s%s\n", queue, c->report_url ? "sent to " : "kept ([Report] URL= not set)",
               c->report_url ? shown : "");
        if (last_error)
                printf("  Last error: %s\n", last_error);
}
