/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* abidectl report send | list [--json]: the report spool (docs/report.md). */
#include <inttypes.h>
#include <json-c/json.h>

#include "basic/error.h"
#include "ctl-report.h"
#include "ctl.h"
#include "report/report-event.h"
#include "report/report-spool.h"
#include "verbs.h"

/* What `report send` spends at most by default, all events and retries together. */
#define SEND_TIMEOUT_SEC 15

static void help(void) {
        printf("Usage: abidectl report send [--timeout S] | list [--json]\n\n"
               "The reports of this device (docs/report.md): events spooled in [Report] Spool=\n"
               "and sent to [Report] URL= in order, each kept until the endpoint accepted it.\n\n"
               "  send [--timeout S]\n"
               "                send the spool now, retrying for at most S seconds (default %d);\n"
               "                fails naming the first event not accepted\n"
               "  list [--json] the events still queued, oldest first\n", SEND_TIMEOUT_SEC);
}

static void json_putp(json_object **j) {
        if (*j)
                json_object_put(*j);
}

static int report_list(Ctl *ctl, bool json) {
        const AbideConfig *c = ctl->config;
        _cleanup_free_ ReportSpoolEntry *list = NULL;
        _cleanup_(json_putp) json_object *root = NULL;
        json_object *events = NULL;
        size_t n = 0;
        int r;

        r = report_spool_list(c->report_spool, &list, &n);
        if (r < 0)
                return r;
        if (json) {
                root = ctl_report_status_json(c);
                events = json_object_new_array();
                if (!root || !events) {
                        if (events)
                                json_object_put(events);
                        return -ENOMEM;
                }
                json_object_object_add(root, "events", events);
        }
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *text = NULL;
                _cleanup_(report_record_done) ReportRecord rec = {};
                size_t len;
                bool ok = report_spool_read(c->report_spool, &list[i], &text, &len) >= 0 &&
                          report_record_parse(text, len, &rec) >= 0;
                err_clear();
                if (json) {
                        json_object *o = json_object_new_object();
                        json_object_object_add(o, "seq", json_object_new_int64((int64_t) list[i].seq));
                        json_object_object_add(o, "event", json_object_new_string(report_event_type_to_string(list[i].type)));
                        json_object_object_add(o, "file", json_object_new_string(list[i].name));
                        json_object_object_add(o, "id", ok ? json_object_new_string(rec.id) : NULL);
                        json_object_object_add(o, "to_version", ok && rec.to_version ? json_object_new_string(rec.to_version) : NULL);
                        json_object_object_add(o, "time", ok ? json_object_new_int64((int64_t) rec.time) : NULL);
                        json_object_array_add(events, o);
                } else
                        printf("%08" PRIu64 " %-15s %s\n", list[i].seq, report_event_type_to_string(list[i].type),
                               ok ? rec.to_version ?: "-" : "(unreadable)");
        }
        if (json)
                puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        else if (n == 0)
                printf("No reports queued\n");
        return 0;
}

static int report_send_verb(Ctl *ctl, unsigned timeout_sec) {
        ReportSendResult res = {};
        int r = report_send_now(ctl->config, timeout_sec * 1000, &res);
        if (res.sent > 0 || res.set_aside > 0 || r >= 0) {
                printf("Sent %zu report%s, %zu queued", res.sent, res.sent == 1 ? "" : "s", res.remaining);
                if (res.set_aside > 0)
                        printf(", %zu set aside as *.corrupt", res.set_aside);
                printf("\n");
        }
        if (r < 0)
                return err_prefix(r, "%zu report%s not sent", res.remaining, res.remaining == 1 ? "" : "s");
        return 0;
}

int verb_report(int argc, char *argv[]) {
        _cleanup_(ctl_done) Ctl ctl = {};
        bool json = false;
        unsigned timeout_sec = SEND_TIMEOUT_SEC;
        int r;

        if (argc < 2 || streq(argv[1], "--help") || streq(argv[1], "-h")) {
                help();
                return argc < 2 ? err_set(EINVAL, "send or list expected") : 0;
        }
        const char *sub = argv[1];
        for (int i = 2; i < argc; i++) {
                if (streq(argv[i], "--help") || streq(argv[i], "-h")) {
                        help();
                        return 0;
                }
                if (streq(sub, "list") && streq(argv[i], "--json"))
                        json = true;
                else if (streq(sub, "send") && streq(argv[i], "--timeout") && i + 1 < argc) {
                        char *end;
                        const char *v = argv[++i];
                        errno = 0;
                        unsigned long t = strtoul(v, &end, 10);
                        if (errno || end == v || *end || v[0] == '-' || t == 0 || t > 3600)
                                return err_set(EINVAL, "invalid --timeout '%s' (seconds, 1..3600)", v);
                        timeout_sec = (unsigned) t;
                } else
                        return err_set(EINVAL, "unexpected argument '%s' (see --help)", argv[i]);
        }
        if (!streq(sub, "send") && !streq(sub, "list"))
                return err_set(EINVAL, "unknown subcommand '%s' (send or list)", sub);

        /* Needs the configuration only: no slots, no boot backend. */
        r = config_load(arg_config, &ctl.config);
        if (r < 0)
                return r;
        if (streq(sub, "send"))
                return report_send_verb(&ctl, timeout_sec);
        return report_list(&ctl, json);
}
