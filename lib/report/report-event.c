/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "report-event.h"

#include <ctype.h>
#include <inttypes.h>
#include <json-c/json.h>

#include "basic/error.h"

static const char *const type_names[_REPORT_EVENT_MAX] = {
        [REPORT_UPDATE_FOUND] = "update-found",
        [REPORT_INSTALL_STARTED] = "install-started",
        [REPORT_INSTALLED] = "installed",
        [REPORT_BLESSED] = "blessed",
        [REPORT_MARKED_BAD] = "marked-bad",
        [REPORT_ROLLED_BACK] = "rolled-back",
        [REPORT_INSTALL_FAILED] = "install-failed",
};

const char *report_event_type_to_string(ReportEventType t) {
        return t >= 0 && t < _REPORT_EVENT_MAX ? type_names[t] : NULL;
}

ReportEventType report_event_type_from_string(const char *s) {
        for (int i = 0; s && i < _REPORT_EVENT_MAX; i++)
                if (streq(s, type_names[i]))
                        return (ReportEventType) i;
        return _REPORT_EVENT_INVALID;
}

bool report_machine_id_valid(const char *s) {
        size_t n = s ? strlen(s) : 0;
        if (n == 0 || n > REPORT_MACHINE_ID_MAX || s[0] == '.' || s[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && !strchr("_.-", s[i]))
                        return false;
        return true;
}

int report_id_format(const char *machine_id, uint64_t seq, uint32_t random, char ret[static REPORT_ID_MAX]) {
        if (!report_machine_id_valid(machine_id))
                return err_set(EINVAL, "machine-id '%.64s' is not 1..64 of [A-Za-z0-9_.-]", machine_id ?: "");
        (void) snprintf(ret, REPORT_ID_MAX, "%s-%08" PRIu64 "-%08" PRIx32, machine_id, seq, random);
        return 0;
}

static bool all_of(const char *s, size_t n, const char *set) {
        for (size_t i = 0; i < n; i++)
                if (!s[i] || !strchr(set, s[i]))
                        return false;
        return true;
}

static int parse_digits(const char *s, size_t n, uint64_t *ret) {
        uint64_t v = 0;
        if (n == 0 || n > 19 || !all_of(s, n, "0123456789"))
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                v = v * 10 + (uint64_t) (s[i] - '0');
        *ret = v;
        return 0;
}

int report_id_parse(const char *id, const char *machine_id, uint64_t *ret_seq) {
        size_t n = strlen(id);
        uint64_t seq;

        /* From the right: the machine-id may itself contain '-'. */
        if (n < 1 + 1 + 8 + 1 + 8 || n >= REPORT_ID_MAX || id[n - 9] != '-' ||
            !all_of(id + n - 8, 8, "0123456789abcdef"))
                return err_set(EINVAL, "report id '%.128s' does not end in -<seq>-<8 hex>", id);
        const char *dash = id + n - 9;
        const char *p = dash;
        while (p > id && isdigit((unsigned char) p[-1]))
                p--;
        if (p == id || p[-1] != '-' || dash - p < 8 || parse_digits(p, (size_t) (dash - p), &seq) < 0)
                return err_set(EINVAL, "report id '%.128s' has no sequence number of at least 8 digits", id);
        size_t mlen = (size_t) (p - 1 - id);
        char mid[REPORT_MACHINE_ID_MAX + 1];
        if (mlen > REPORT_MACHINE_ID_MAX)
                return err_set(EINVAL, "report id '%.128s': machine-id too long", id);
        memcpy(mid, id, mlen);
        mid[mlen] = 0;
        if (!report_machine_id_valid(mid))
                return err_set(EINVAL, "report id '%.128s' does not start with a machine-id", id);
        if (machine_id && !streq(mid, machine_id))
                return err_set(EINVAL, "report id '%.128s' is not of machine-id %s", id, machine_id);
        *ret_seq = seq;
        return 0;
}

void report_spool_name_format(uint64_t seq, ReportEventType type, char ret[static REPORT_SPOOL_NAME_MAX]) {
        (void) snprintf(ret, REPORT_SPOOL_NAME_MAX, "%08" PRIu64 "-%s.json", seq, report_event_type_to_string(type) ?: "unknown");
}

int report_spool_name_parse(const char *name, uint64_t *ret_seq, ReportEventType *ret_type) {
        size_t digits = strspn(name, "0123456789");
        uint64_t seq = 0;

        if (digits < 8 || name[digits] != '-')
                return -EINVAL;
        const char *ev = name + digits + 1;
        size_t n = strlen(ev);
        if (n <= 5 || !streq(ev + n - 5, ".json") || n - 5 >= 32)
                return -EINVAL;
        char type[32];
        memcpy(type, ev, n - 5);
        type[n - 5] = 0;
        ReportEventType t = report_event_type_from_string(type);
        if (t < 0)
                return -EINVAL;
        /* More digits than 2^64 has are out of range too, not a stranger. */
        if (parse_digits(name, digits, &seq) < 0 || seq > REPORT_SEQ_MAX)
                return -ERANGE;
        *ret_seq = seq;
        *ret_type = t;
        return 0;
}

static void json_object_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}

static int add(json_object *o, const char *key, json_object *v) {
        /* A NULL v is JSON null. */
        return json_object_object_add(o, key, v) < 0 ? -ENOMEM : 0;
}

static json_object *string_or_null(const char *s) {
        return s ? json_object_new_string(s) : NULL;
}

int report_event_to_json(const ReportEvent *e, uint64_t seq, uint32_t random, char **ret, size_t *ret_len) {
        _cleanup_(json_object_putp) json_object *o = json_object_new_object(), *boot = json_object_new_object();
        char id[REPORT_ID_MAX];
        int r;

        if (!o || !boot)
                return -ENOMEM;
        if (!report_event_type_to_string(e->type))
                return err_set(EINVAL, "unknown report event %d", (int) e->type);
        r = report_id_format(e->machine_id, seq, random, id);
        if (r < 0)
                return r;

        r = add(boot, "tries_done", json_object_new_int64((int64_t) e->tries_done));
        if (r >= 0)
                r = add(boot, "tries_left", e->tries_left_set ? json_object_new_int64((int64_t) e->tries_left) : NULL);
        if (r < 0)
                return r;

        const char *slot = e->slot >= 0 && e->slot < _SLOT_MAX ? slot_to_string(e->slot) : NULL;
        struct {
                const char *key;
                json_object *v;
        } members[] = {
                { "format", json_object_new_int(REPORT_FORMAT) },
                { "id", json_object_new_string(id) },
                { "event", json_object_new_string(report_event_type_to_string(e->type)) },
                { "time", json_object_new_int64((int64_t) MIN(e->time, (uint64_t) INT64_MAX)) },
                { "machine_id", json_object_new_string(e->machine_id) },
                { "compatible", string_or_null(e->compatible) },
                { "from_version", string_or_null(e->from_version) },
                { "to_version", string_or_null(e->to_version) },
                { "slot", string_or_null(slot) },
                { "boot", TAKE_PTR(boot) },
                { "reason", string_or_null(e->reason) },
                { "check", string_or_null(e->check) },
                { "channel_serial",
                  e->channel_serial_set ? json_object_new_int64((int64_t) MIN(e->channel_serial, (uint64_t) INT64_MAX)) : NULL },
        };
        for (size_t i = 0; i < ELEMENTSOF(members); i++) {
                if (r >= 0)
                        r = add(o, members[i].key, members[i].v);
                else
                        json_object_put(members[i].v);
        }
        if (r < 0)
                return r;

        const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
        if (!text)
                return -ENOMEM;
        char *s;
        if (asprintf(&s, "%s\n", text) < 0)
                return -ENOMEM;
        *ret_len = strlen(s);
        *ret = s;
        return 0;
}

void report_record_done(ReportRecord *r) {
        free(r->id);
        free(r->machine_id);
        free(r->compatible);
        free(r->from_version);
        free(r->to_version);
        free(r->reason);
        free(r->check);
        *r = (ReportRecord) { .type = _REPORT_EVENT_INVALID, .slot = _SLOT_INVALID };
}

/* 0 with *ret (a copy, or NULL for null/absent when nullable), or -EINVAL naming the key. */
static int get_string(json_object *o, const char *key, bool nullable, char **ret) {
        json_object *v = NULL;
        *ret = NULL;
        if (!json_object_object_get_ex(o, key, &v) || !v) {
                if (nullable)
                        return 0;
                return err_set(EINVAL, "report: '%s' is missing", key);
        }
        if (!json_object_is_type(v, json_type_string))
                return err_set(EINVAL, "report: '%s' is not a string", key);
        *ret = strdup(json_object_get_string(v));
        return *ret ? 0 : -ENOMEM;
}

static int get_u64(json_object *o, const char *key, bool nullable, bool *ret_set, uint64_t *ret) {
        json_object *v = NULL;
        if (ret_set)
                *ret_set = false;
        if (!json_object_object_get_ex(o, key, &v) || !v) {
                if (nullable)
                        return 0;
                return err_set(EINVAL, "report: '%s' is missing", key);
        }
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
                return err_set(EINVAL, "report: '%s' is not a non-negative integer", key);
        *ret = (uint64_t) json_object_get_int64(v);
        if (ret_set)
                *ret_set = true;
        return 0;
}

int report_record_parse(const char *json, size_t len, ReportRecord *ret) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(report_record_done) ReportRecord rec = { .type = _REPORT_EVENT_INVALID, .slot = _SLOT_INVALID };
        _cleanup_free_ char *event = NULL, *slot = NULL;
        json_tokener *tok;
        uint64_t format = 0;
        int r;

        if (len > REPORT_MAX_SIZE)
                return err_set(EFBIG, "report: larger than %d bytes", REPORT_MAX_SIZE);
        if (memchr(json, 0, len))
                return err_set(EINVAL, "report: contains a NUL byte");
        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        o = json_tokener_parse_ex(tok, json, (int) len);
        enum json_tokener_error je = json_tokener_get_error(tok);
        size_t end = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        if (!o || je != json_tokener_success)
                return err_set(EINVAL, "report: not valid JSON (%s)",
                               je == json_tokener_continue ? "truncated" : json_tokener_error_desc(je));
        for (size_t i = end; i < len; i++)
                if (!isspace((unsigned char) json[i]))
                        return err_set(EINVAL, "report: trailing bytes after the JSON object");
        if (!json_object_is_type(o, json_type_object))
                return err_set(EINVAL, "report: not a JSON object");

        r = get_u64(o, "format", false, NULL, &format);
        if (r < 0)
                return r;
        if (format != REPORT_FORMAT)
                return err_set(EPROTONOSUPPORT, "report: format %" PRIu64 " is not %d", format, REPORT_FORMAT);
        if ((r = get_string(o, "id", false, &rec.id)) < 0 || (r = get_string(o, "event", false, &event)) < 0 ||
            (r = get_string(o, "machine_id", false, &rec.machine_id)) < 0 ||
            (r = get_string(o, "compatible", true, &rec.compatible)) < 0 ||
            (r = get_string(o, "from_version", true, &rec.from_version)) < 0 ||
            (r = get_string(o, "to_version", true, &rec.to_version)) < 0 ||
            (r = get_string(o, "slot", true, &slot)) < 0 || (r = get_string(o, "reason", true, &rec.reason)) < 0 ||
            (r = get_string(o, "check", true, &rec.check)) < 0 || (r = get_u64(o, "time", false, NULL, &rec.time)) < 0 ||
            (r = get_u64(o, "channel_serial", true, &rec.channel_serial_set, &rec.channel_serial)) < 0)
                return r;
        rec.type = report_event_type_from_string(event);
        if (rec.type < 0)
                return err_set(EINVAL, "report: unknown event '%.32s'", event);
        if (!report_machine_id_valid(rec.machine_id))
                return err_set(EINVAL, "report: machine_id '%.64s' is not 1..64 of [A-Za-z0-9_.-]", rec.machine_id);
        r = report_id_parse(rec.id, rec.machine_id, &rec.seq);
        if (r < 0)
                return r;
        if (slot) {
                rec.slot = slot_from_string(slot);
                if (rec.slot < 0)
                        return err_set(EINVAL, "report: slot '%.8s' is not a or b", slot);
        }
        *ret = rec;
        rec = (ReportRecord) { .type = _REPORT_EVENT_INVALID, .slot = _SLOT_INVALID };
        return 0;
}

int report_spool_entry_compare(const void *a, const void *b) {
        const ReportSpoolEntry *x = a, *y = b;
        if (x->seq != y->seq)
                return x->seq < y->seq ? -1 : 1;
        return strcmp(x->name, y->name);
}
