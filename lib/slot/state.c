/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "state.h"

#include <json-c/json.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/json-scan.h"

#define STATE_FILE_MAX (1024 * 1024)
#define STATE_FORMAT 1

static void failure_done(SlotFailure *f) {
        free(f->check);
        free(f->output);
        *f = (SlotFailure) {};
}

static void record_done(SlotRecord *r) {
        free(r->version);
        failure_done(&r->failure);
        *r = (SlotRecord) {};
}

static void rollback_done(RollbackEvent *e) {
        free(e->version);
        free(e->reason);
        *e = (RollbackEvent) {};
}

static void floor_done(FloorRecord *f) {
        free(f->version);
        *f = (FloorRecord) {};
}

int state_new(AbideState **ret) {
        AbideState *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

AbideState *state_free(AbideState *s) {
        if (!s)
                return NULL;
        for (int i = 0; i < _SLOT_MAX; i++)
                record_done(&s->slots[i]);
        rollback_done(&s->rollback);
        floor_done(&s->floor);
        free(s);
        return NULL;
}

static int strdup_or_null(const char *s, char **ret) {
        char *c = NULL;
        if (s && !(c = strdup(s)))
                return -ENOMEM;
        *ret = c;
        return 0;
}

static void json_object_putp(json_object **j) {
        if (*j)
                json_object_put(*j);
}
#define _cleanup_json_ _cleanup_(json_object_putp)

/* Adds key -> value; takes value's reference even on failure. */
static int add(json_object *o, const char *key, json_object *value) {
        if (!value)
                return -ENOMEM;
        if (json_object_object_add(o, key, value) < 0) {
                json_object_put(value);
                return -ENOMEM;
        }
        return 0;
}

/* json-c represents null as a NULL object. */
static int add_nullable(json_object *o, const char *key, bool present, json_object *value) {
        if (!present)
                return json_object_object_add(o, key, NULL) < 0 ? -ENOMEM : 0;
        return add(o, key, value);
}

static int add_string_or_null(json_object *o, const char *key, const char *s) {
        return add_nullable(o, key, s, s ? json_object_new_string(s) : NULL);
}

static int failure_to_json(const SlotFailure *f, json_object **ret) {
        if (!f->check) {
                *ret = NULL;
                return 0;
        }
        _cleanup_json_ json_object *o = json_object_new_object();
        if (!o ||
            add(o, "check", json_object_new_string(f->check)) < 0 ||
            add_string_or_null(o, "output", f->output) < 0 ||
            add(o, "time", json_object_new_int64((int64_t) f->time)) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(o);
        return 0;
}

int state_to_json_string(const AbideState *s, char **ret) {
        _cleanup_json_ json_object *root = json_object_new_object(), *slots = json_object_new_object();
        if (!root || !slots)
                return -ENOMEM;

        if (add(root, "format", json_object_new_int(STATE_FORMAT)) < 0)
                return -ENOMEM;
        for (int i = 0; i < _SLOT_MAX; i++) {
                const SlotRecord *r = &s->slots[i];
                json_object *o = json_object_new_object(), *f = NULL, *fe = NULL;
                if (r->fetch_known) {
                        fe = json_object_new_object();
                        if (!fe || add(fe, "delta", json_object_new_boolean(r->delta)) < 0 ||
                            add(fe, "bytes", json_object_new_int64((int64_t) r->fetched)) < 0 ||
                            add(fe, "bundle_size", json_object_new_int64((int64_t) r->bundle_size)) < 0) {
                                json_object_put(fe);
                                json_object_put(o);
                                return -ENOMEM;
                        }
                }
                if (add(slots, slot_to_string((Slot) i), o) < 0 ||
                    add(o, "state", json_object_new_string(slot_state_to_string(r->state))) < 0 ||
                    add_string_or_null(o, "version", r->version) < 0 ||
                    add(o, "installed", json_object_new_int64((int64_t) r->installed)) < 0 ||
                    add(o, "trial", json_object_new_boolean(r->trial)) < 0 ||
                    failure_to_json(&r->failure, &f) < 0 ||
                    add_nullable(o, "failure", r->failure.check, f) < 0 ||
                    add_nullable(o, "security_version", r->sv_known,
                                 r->sv_known ? json_object_new_int64((int64_t) r->security_version) : NULL) < 0 ||
                    add_nullable(o, "fetch", r->fetch_known, TAKE_PTR(fe)) < 0) {
                        json_object_put(fe);
                        return -ENOMEM;
                }
        }
        if (add(root, "slots", TAKE_PTR(slots)) < 0)
                return -ENOMEM;

        json_object *rb;
        if (s->rollback.valid) {
                const RollbackEvent *e = &s->rollback;
                rb = json_object_new_object();
                if (!rb ||
                    add(rb, "from", json_object_new_string(slot_to_string(e->from))) < 0 ||
                    add(rb, "to", json_object_new_string(slot_to_string(e->to))) < 0 ||
                    add_string_or_null(rb, "version", e->version) < 0 ||
                    add_string_or_null(rb, "reason", e->reason) < 0 ||
                    add(rb, "time", json_object_new_int64((int64_t) e->time)) < 0 ||
                    add(rb, "reported", json_object_new_boolean(e->reported)) < 0) {
                        json_object_put(rb);
                        return -ENOMEM;
                }
        } else
                rb = NULL;
        if (add_nullable(root, "rollback", s->rollback.valid, rb) < 0)
                return -ENOMEM;

        json_object *fl = NULL;
        if (s->floor.valid) {
                fl = json_object_new_object();
                if (!fl ||
                    add(fl, "security_version", json_object_new_int64((int64_t) s->floor.security_version)) < 0 ||
                    add_string_or_null(fl, "version", s->floor.version) < 0 ||
                    add(fl, "time", json_object_new_int64((int64_t) s->floor.time)) < 0) {
                        json_object_put(fl);
                        return -ENOMEM;
                }
        }
        if (add_nullable(root, "security_floor", s->floor.valid, fl) < 0)
                return -ENOMEM;

        const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        char *copy = text ? strdup(text) : NULL;
        if (!copy)
                return -ENOMEM;
        *ret = copy;
        return 0;
}

/* Typed member lookups: absent or null is fine, a wrong type is corruption. */
static int get_member(json_object *o, const char *key, json_type type, json_object **ret) {
        json_object *v = NULL;
        *ret = NULL;
        if (!json_object_object_get_ex(o, key, &v) || !v || json_object_get_type(v) == json_type_null)
                return 0;
        if (json_object_get_type(v) != type)
                return err_set(EBADMSG, "\"%s\" has the wrong type", key);
        *ret = v;
        return 1;
}

static int get_string(json_object *o, const char *key, char **ret) {
        json_object *v;
        int r = get_member(o, key, json_type_string, &v);
        if (r <= 0) {
                *ret = NULL;
                return r;
        }
        return strdup_or_null(json_object_get_string(v), ret);
}

static int get_time(json_object *o, const char *key, uint64_t *ret) {
        json_object *v;
        int r = get_member(o, key, json_type_int, &v);
        if (r < 0)
                return r;
        int64_t t = r > 0 ? json_object_get_int64(v) : 0;
        if (t < 0)
                return err_set(EBADMSG, "\"%s\" is negative", key);
        *ret = (uint64_t) t;
        return 0;
}

static int get_bool(json_object *o, const char *key, bool *ret) {
        json_object *v;
        int r = get_member(o, key, json_type_boolean, &v);
        if (r < 0)
                return r;
        *ret = r > 0 && json_object_get_boolean(v);
        return 0;
}

static int get_slot(json_object *o, const char *key, Slot *ret) {
        json_object *v;
        int r = get_member(o, key, json_type_string, &v);
        if (r < 0)
                return r;
        Slot s = r > 0 ? slot_from_string(json_object_get_string(v)) : _SLOT_INVALID;
        if (s < 0)
                return err_set(EBADMSG, "\"%s\" is not a slot", key);
        *ret = s;
        return 0;
}

static int record_from_json(json_object *o, SlotRecord *r) {
        json_object *v;
        int k;

        if ((k = get_member(o, "state", json_type_string, &v)) < 0)
                return k;
        r->state = k > 0 ? slot_state_from_string(json_object_get_string(v)) : SLOT_STATE_EMPTY;
        if (r->state < 0)
                return err_set(EBADMSG, "unknown slot state \"%s\"", json_object_get_string(v));
        if ((k = get_string(o, "version", &r->version)) < 0 ||
            (k = get_time(o, "installed", &r->installed)) < 0 ||
            (k = get_bool(o, "trial", &r->trial)) < 0)
                return k;
        if ((k = get_member(o, "security_version", json_type_int, &v)) < 0)
                return k;
        if (k > 0) {
                if ((k = get_time(o, "security_version", &r->security_version)) < 0)
                        return k;
                r->sv_known = true;
        }
        if ((k = get_member(o, "fetch", json_type_object, &v)) < 0)
                return k;
        if (k > 0) {
                if ((k = get_bool(v, "delta", &r->delta)) < 0 || (k = get_time(v, "bytes", &r->fetched)) < 0 ||
                    (k = get_time(v, "bundle_size", &r->bundle_size)) < 0)
                        return err_prefix(k, "fetch");
                r->fetch_known = true;
        }

        if ((k = get_member(o, "failure", json_type_object, &v)) < 0)
                return k;
        if (k > 0) {
                if ((k = get_string(v, "check", &r->failure.check)) < 0 ||
                    (k = get_string(v, "output", &r->failure.output)) < 0 ||
                    (k = get_time(v, "time", &r->failure.time)) < 0)
                        return k;
                /* No check, no failure recorded (SlotFailure): nothing else of it kept, as it is written back. */
                if (!r->failure.check)
                        failure_done(&r->failure);
        }
        return 0;
}

static int state_from_json(json_object *root, AbideState *s) {
        json_object *slots, *v;
        int k;

        if (json_object_get_type(root) != json_type_object)
                return err_set(EBADMSG, "not a JSON object");
        if ((k = get_member(root, "format", json_type_int, &v)) < 0)
                return k;
        if (k == 0 || json_object_get_int(v) != STATE_FORMAT)
                return err_set(EBADMSG, "unknown format (expected %d)", STATE_FORMAT);

        if ((k = get_member(root, "slots", json_type_object, &slots)) < 0)
                return k;
        for (int i = 0; k > 0 && i < _SLOT_MAX; i++) {
                int r = get_member(slots, slot_to_string((Slot) i), json_type_object, &v);
                if (r < 0)
                        return r;
                if (r > 0 && (r = record_from_json(v, &s->slots[i])) < 0)
                        return err_prefix(r, "slot %s", slot_to_string((Slot) i));
        }

        if ((k = get_member(root, "rollback", json_type_object, &v)) < 0)
                return k;
        if (k > 0) {
                RollbackEvent *e = &s->rollback;
                if ((k = get_slot(v, "from", &e->from)) < 0 ||
                    (k = get_slot(v, "to", &e->to)) < 0 ||
                    (k = get_string(v, "version", &e->version)) < 0 ||
                    (k = get_string(v, "reason", &e->reason)) < 0 ||
                    (k = get_time(v, "time", &e->time)) < 0 ||
                    (k = get_bool(v, "reported", &e->reported)) < 0)
                        return err_prefix(k, "rollback");
                e->valid = true;
        }

        if ((k = get_member(root, "security_floor", json_type_object, &v)) < 0)
                return k;
        if (k > 0) {
                FloorRecord *f = &s->floor;
                json_object *sv;
                if ((k = get_member(v, "security_version", json_type_int, &sv)) < 0)
                        return err_prefix(k, "security_floor");
                if (k == 0)
                        return err_set(EBADMSG, "security_floor: \"security_version\" missing");
                if ((k = get_time(v, "security_version", &f->security_version)) < 0 ||
                    (k = get_string(v, "version", &f->version)) < 0 ||
                    (k = get_time(v, "time", &f->time)) < 0)
                        return err_prefix(k, "security_floor");
                f->valid = true;
        }
        return 0;
}

int state_from_json_string(const char *text, AbideState **ret) {
        _cleanup_(state_freep) AbideState *s = NULL;
        enum json_tokener_error jerr;
        int r;

        _cleanup_json_ json_object *root = json_tokener_parse_verbose(text, &jerr);
        if (!root)
                return err_set(EBADMSG, "not valid JSON: %s", json_tokener_error_desc(jerr));
        /* json-c cuts keys at \u0000 and would cut our copies of values
         * there too; abidectl never writes one, nor a comment or single
         * quotes that could hide one from the scan. */
        JsonScan scan;
        json_scan(text, strlen(text), &scan);
        if (scan.nul_escape != SIZE_MAX)
                return err_set(EBADMSG, "byte %zu: a string contains a NUL character (\\u0000)", scan.nul_escape);
        if (scan.single_quote != SIZE_MAX || scan.comment != SIZE_MAX)
                return err_set(EBADMSG, "not valid JSON: %s at byte %zu",
                               scan.comment != SIZE_MAX ? "comment" : "single-quoted string",
                               MIN(scan.comment, scan.single_quote));
        r = state_new(&s);
        if (r < 0)
                return r;
        r = state_from_json(root, s);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(s);
        return 0;
}

int state_load(const char *path, AbideState **ret) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        r = read_full_file(path, STATE_FILE_MAX, &text, &size);
        if (r == -ENOENT)
                return state_new(ret);
        if (r < 0)
                return err_set(r, "cannot read state file %s: %s", path, strerror(-r));
        if (strlen(text) != size)
                return err_set(EBADMSG, "state file %s: corrupt: contains NUL bytes", path);
        r = state_from_json_string(text, ret);
        if (r < 0)
                return err_prefix(r, "state file %s: corrupt", path);
        return 0;
}

int state_lock(const char *path, bool wait, int *ret_fd) {
        _cleanup_free_ char *lock = NULL;

        /* A file of its own: the state file is replaced by rename, which a lock on it would not survive. */
        if (asprintf(&lock, "%s.lock", path) < 0)
                return -ENOMEM;
        int r = lock_file(lock, wait, ret_fd);
        if (r == -EWOULDBLOCK)
                return err_set(EBUSY, "another abidectl holds %s", lock);
        return r;
}

int state_save(const AbideState *s, const char *path) {
        _cleanup_free_ char *text = NULL;
        int r;

        /* A fresh abide-data has no /var/lib/abide yet. */
        r = mkdir_parents_of(path, 0755);
        if (r < 0)
                return r;

        r = state_to_json_string(s, &text);
        if (r < 0)
                return err_set(r, "cannot format the state");
        size_t n = strlen(text);
        text[n] = '\n';
        r = write_file_atomic(path, text, n + 1, 0644);
        if (r < 0)
                return err_set(r, "cannot write state file %s: %s", path, strerror(-r));
        return 0;
}

int state_install_begin(AbideState *s, Slot slot, const char *version, uint64_t now) {
        SlotRecord n = { .state = SLOT_STATE_INSTALLING, .installed = now };
        if (strdup_or_null(version, &n.version) < 0)
                return -ENOMEM;
        record_done(&s->slots[slot]);
        s->slots[slot] = n;
        return 0;
}

void state_install_done(AbideState *s, Slot slot, uint64_t now) {
        s->slots[slot].state = SLOT_STATE_PENDING;
        s->slots[slot].installed = now;
        s->slots[slot].trial = true;
        failure_done(&s->slots[slot].failure);
}

static char *excerpt(const char *output) {
        size_t n = strlen(output);
        /* The end of the output usually says why. */
        return strdup(n > STATE_OUTPUT_MAX ? output + n - STATE_OUTPUT_MAX : output);
}

int state_set_failure(AbideState *s, Slot slot, const char *check, const char *output, uint64_t now) {
        SlotFailure f = { .time = now };
        f.check = strdup(check);
        f.output = excerpt(output ?: "");
        if (!f.check || !f.output) {
                failure_done(&f);
                return -ENOMEM;
        }
        failure_done(&s->slots[slot].failure);
        s->slots[slot].failure = f;
        return 0;
}

void state_set_good(AbideState *s, Slot slot) {
        s->slots[slot].state = SLOT_STATE_GOOD;
        s->slots[slot].trial = false;
}

void state_set_bad(AbideState *s, Slot slot) {
        s->slots[slot].state = SLOT_STATE_BAD;
}

void state_set_fetch(AbideState *s, Slot slot, bool delta, uint64_t fetched, uint64_t bundle_size) {
        s->slots[slot].fetch_known = true;
        s->slots[slot].delta = delta;
        s->slots[slot].fetched = fetched;
        s->slots[slot].bundle_size = bundle_size;
}

void state_set_security_version(AbideState *s, Slot slot, uint64_t sv) {
        s->slots[slot].sv_known = true;
        s->slots[slot].security_version = sv;
}

int state_raise_floor(AbideState *s, uint64_t sv, const char *version, uint64_t now) {
        FloorRecord f = { .valid = true, .security_version = sv, .time = now };

        if (s->floor.valid && s->floor.security_version >= sv)
                return 0;
        if (strdup_or_null(version, &f.version) < 0)
                return -ENOMEM;
        floor_done(&s->floor);
        s->floor = f;
        return 1;
}

int state_record_rollback(AbideState *s, Slot from, const char *reason, uint64_t now) {
        RollbackEvent e = {
                .valid = true,
                .from = from,
                .to = slot_other(from),
                .time = now,
        };
        if (strdup_or_null(s->slots[from].version, &e.version) < 0 || strdup_or_null(reason, &e.reason) < 0) {
                rollback_done(&e);
                return -ENOMEM;
        }
        rollback_done(&s->rollback);
        s->rollback = e;
        s->slots[from].state = SLOT_STATE_BAD;
        s->slots[from].trial = false;
        return 0;
}
