/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "report.h"

#include <ctype.h>
#include <sys/random.h>
#include <time.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "report-send.h"
#include "report-spool.h"
#include "slot/image-identity.h"

/* Set once a send of this process failed: later events of the same run
 * (boot-check emits up to two) are spooled without waiting on the endpoint again. */
static bool endpoint_failed = false;

static int read_machine_id(const char *path, char **ret) {
        _cleanup_free_ char *text = NULL;
        int r = read_full_file(path, 4096, &text, NULL);
        if (r < 0)
                return err_set(r, "cannot read the machine-id from %s: %s", path, strerror(-r));
        char *p = text;
        while (isspace((unsigned char) *p))
                p++;
        size_t n = strcspn(p, "\r\n");
        while (n > 0 && isspace((unsigned char) p[n - 1]))
                n--;
        p[n] = 0;
        if (!report_machine_id_valid(p))
                return err_set(EINVAL, "%s: not a machine-id (1..64 of [A-Za-z0-9_.-])", path);
        *ret = strdup(p);
        return *ret ? 0 : -ENOMEM;
}

static bool takes_running_version(ReportEventType t) {
        return t == REPORT_UPDATE_FOUND || t == REPORT_INSTALL_STARTED || t == REPORT_INSTALLED ||
               t == REPORT_INSTALL_FAILED;
}

static ReportSendOptions send_options(const AbideConfig *c, unsigned budget_ms) {
        return (ReportSendOptions) {
                .url = c->report_url,
                .post = streq_ptr(c->report_method, "POST"),
                .allow_http = c->net_allow_http,
                .ca_file = c->report_ca_file,
                .client_cert = c->report_client_cert,
                .client_key = c->report_client_key,
                .headers_file = c->report_headers_file,
                .budget_ms = budget_ms,
        };
}

int report_send_now(const AbideConfig *c, unsigned budget_ms, ReportSendResult *ret) {
        ReportSendResult res = {};
        int r;

        if (!c->report_url) {
                r = report_queue(c, &res.remaining, NULL);
                if (r < 0)
                        return r;
                if (ret)
                        *ret = res;
                if (res.remaining > 0)
                        return err_set(ENOTCONN, "%zu event%s queued in %s, and [Report] URL= is not set", res.remaining,
                                       res.remaining == 1 ? "" : "s", c->report_spool);
                return 0;
        }
        ReportSendOptions o = send_options(c, budget_ms);
        r = report_send(c->report_spool, &o, &res);
        if (ret)
                *ret = res;
        return r;
}

int report_queue(const AbideConfig *c, size_t *ret_queue, char **ret_last_error) {
        _cleanup_free_ ReportSpoolEntry *list = NULL;
        size_t n = 0;
        int r;

        r = report_spool_list(c->report_spool, &list, &n);
        if (r < 0)
                return r;
        if (ret_last_error) {
                r = report_spool_last_error(c->report_spool, ret_last_error);
                if (r < 0)
                        return r;
        }
        *ret_queue = n;
        return 0;
}

int report_emit(const AbideConfig *c, const ReportEvent *e, unsigned budget_ms) {
        _cleanup_free_ char *machine_id = NULL;
        _cleanup_(image_identity_done) ImageIdentity running = {};
        ReportEvent ev = *e;
        uint32_t random;
        int r;

        if (!ev.machine_id) {
                r = read_machine_id(c->update_machine_id, &machine_id);
                if (r < 0)
                        return r;
                ev.machine_id = machine_id;
        }
        if (!ev.compatible || (!ev.from_version && takes_running_version(ev.type))) {
                /* Without image.json the event still goes out: compatible null, as the format allows. */
                if (image_identity_load(c->image_info ?: IMAGE_INFO_PATH, &running) >= 0) {
                        if (!ev.compatible)
                                ev.compatible = running.compatible;
                        if (!ev.from_version && takes_running_version(ev.type))
                                ev.from_version = running.version;
                }
                err_clear();
        }
        if (ev.time == 0)
                ev.time = (uint64_t) time(NULL);
        if (getrandom(&random, sizeof random, GRND_NONBLOCK) != sizeof random) {
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                random = (uint32_t) ts.tv_nsec ^ (uint32_t) getpid();
        }

        r = report_spool_add(c->report_spool, &ev, random, NULL);
        if (r < 0)
                return err_prefix(r, "cannot spool the %s report", report_event_type_to_string(ev.type) ?: "?");

        size_t remaining = 0;
        if (c->report_url && budget_ms > 0 && !endpoint_failed) {
                ReportSendResult res = {};
                r = report_send_now(c, budget_ms, &res);
                if (r < 0)
                        endpoint_failed = true;
                err_clear();
                remaining = res.remaining;
        } else
                (void) report_queue(c, &remaining, NULL);
        return (int) MIN(remaining, (size_t) INT32_MAX);
}
