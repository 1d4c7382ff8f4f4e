/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <time.h>

#include "basic/error.h"
#include "basic/opt-error.h"
#include "ctl-floor.h"
#include "ctl-report.h"
#include "ctl.h"
#include "status.h"
#include "update.h"
#include "verbs.h"

SlotState status_slot_state(const BootEntryInfo *e, const SlotRecord *r) {
        switch (e->counter.state) {
        case BOOT_COUNTER_GOOD:
                return SLOT_STATE_GOOD;
        case BOOT_COUNTER_PENDING:
                return SLOT_STATE_PENDING;
        case BOOT_COUNTER_BAD:
                return SLOT_STATE_BAD;
        case BOOT_COUNTER_MISSING:
        default:
                return r->state == SLOT_STATE_INSTALLING ? SLOT_STATE_INSTALLING : SLOT_STATE_EMPTY;
        }
}

const char *status_slot_version(const BootEntryInfo *e, const SlotRecord *r) {
        if (e->version)
                return e->version;
        if (e->counter.state == BOOT_COUNTER_MISSING && r->state != SLOT_STATE_INSTALLING)
                return NULL;
        return r->version;
}

static void json_putp(json_object **j) {
        if (*j)
                json_object_put(*j);
}

static json_object *str_or_null(const char *s) {
        return s ? json_object_new_string(s) : NULL;
}

static json_object *time_or_null(uint64_t t) {
        return t ? json_object_new_int64((int64_t) t) : NULL;
}

static json_object *slot_json(Slot s, const BootEntryInfo *e, const SlotRecord *r, Slot booted) {
        json_object *o = json_object_new_object();
        SlotState st = status_slot_state(e, r);

        json_object_object_add(o, "state", json_object_new_string(slot_state_to_string(st)));
        json_object_object_add(o, "tries_left", st == SLOT_STATE_PENDING ? json_object_new_int((int) e->counter.left) : NULL);
        json_object_object_add(o, "tries_done", st == SLOT_STATE_PENDING || st == SLOT_STATE_BAD ?
                                                        json_object_new_int((int) e->counter.done) : NULL);
        json_object_object_add(o, "booted", json_object_new_boolean(s == booted));
        json_object_object_add(o, "version", str_or_null(status_slot_version(e, r)));
        json_object_object_add(o, "entry", str_or_null(e->file));
        json_object_object_add(o, "installed", time_or_null(r->installed));
        json_object *f = NULL;
        if (r->failure.check) {
                f = json_object_new_object();
                json_object_object_add(f, "check", json_object_new_string(r->failure.check));
                json_object_object_add(f, "output", json_object_new_string(r->failure.output ?: ""));
                json_object_object_add(f, "time", time_or_null(r->failure.time));
        }
        json_object_object_add(o, "last_failure", f);
        json_object_object_add(o, "security_version", r->sv_known ? json_object_new_int64((int64_t) r->security_version) : NULL);
        json_object *fe = NULL;
        if (r->fetch_known) {
                fe = json_object_new_object();
                json_object_object_add(fe, "delta", json_object_new_boolean(r->delta));
                json_object_object_add(fe, "bytes", json_object_new_int64((int64_t) r->fetched));
                json_object_object_add(fe, "bundle_size", json_object_new_int64((int64_t) r->bundle_size));
        }
        /* What the install of this slot read from its bundle: all of it, or (delta) what the device lacked. */
        json_object_object_add(o, "fetch", fe);
        return o;
}

static json_object *copy_or_null(const FloorCopy *c) {
        return c->have ? json_object_new_int64((int64_t) c->value) : NULL;
}

static int print_json(Slot booted, Slot def, Slot once, const BootEntryInfo e[], const AbideState *st, const char *backend,
                      const SecurityFloor *floor, const AbideConfig *config) {
        _cleanup_(json_putp) json_object *root = json_object_new_object();
        if (!root)
                return -ENOMEM;

        json_object_object_add(root, "booted", booted >= 0 ? json_object_new_string(slot_to_string(booted)) : NULL);
        json_object_object_add(root, "backend", json_object_new_string(backend));
        json_object *next = json_object_new_object();
        json_object_object_add(next, "default", def >= 0 ? json_object_new_string(slot_to_string(def)) : NULL);
        json_object_object_add(next, "once", once >= 0 ? json_object_new_string(slot_to_string(once)) : NULL);
        json_object_object_add(root, "next", next);

        json_object *slots = json_object_new_object();
        for (int i = 0; i < _SLOT_MAX; i++)
                json_object_object_add(slots, slot_to_string((Slot) i), slot_json((Slot) i, &e[i], &st->slots[i], booted));
        json_object_object_add(root, "slots", slots);

        json_object *rb = NULL;
        if (st->rollback.valid) {
                const RollbackEvent *ev = &st->rollback;
                rb = json_object_new_object();
                json_object_object_add(rb, "from", json_object_new_string(slot_to_string(ev->from)));
                json_object_object_add(rb, "to", json_object_new_string(slot_to_string(ev->to)));
                json_object_object_add(rb, "version", str_or_null(ev->version));
                json_object_object_add(rb, "reason", json_object_new_string(ev->reason ?: ""));
                json_object_object_add(rb, "time", time_or_null(ev->time));
                json_object_object_add(rb, "reported", json_object_new_boolean(ev->reported));
        }
        json_object_object_add(root, "last_rollback", rb);

        json_object *fl = json_object_new_object();
        json_object_object_add(fl, "security_version", json_object_new_int64((int64_t) floor->value));
        json_object_object_add(fl, "source", json_object_new_string(floor_source_to_string(floor->source)));
        json_object_object_add(fl, "efi", copy_or_null(&floor->efi));
        json_object_object_add(fl, "state", copy_or_null(&floor->state));
        json_object_object_add(fl, "version", str_or_null(floor->version));
        json_object_object_add(root, "security_floor", fl);
        json_object_object_add(root, "report", ctl_report_status_json(config));
        json_object_object_add(root, "update", update_status_json(config));

        puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
        return 0;
}

static const char *fmt_time(uint64_t t, char buf[static 32]) {
        time_t tt = (time_t) t;
        struct tm tm;
        if (!t || !localtime_r(&tt, &tm) || strftime(buf, 32, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                return "unknown";
        return buf;
}

static void print_human(Slot booted, Slot def, Slot once, const BootEntryInfo e[], const AbideState *st,
                        const SecurityFloor *floor, const AbideConfig *config) {
        char tbuf[32];

        printf("Booted:    %s\n", booted >= 0 ? slot_to_string(booted) : "unknown");
        printf("Next boot: ");
        if (once >= 0)
                printf("slot %s once, then ", slot_to_string(once));
        if (def >= 0)
                printf("slot %s\n", slot_to_string(def));
        else
                printf("the newest entry that is not bad\n");

        for (int i = 0; i < _SLOT_MAX; i++) {
                const SlotRecord *r = &st->slots[i];
                SlotState s = status_slot_state(&e[i], r);
                const char *v = status_slot_version(&e[i], r);

                printf("\nSlot %s%s\n", slot_to_string((Slot) i), (Slot) i == booted ? " (booted)" : "");
                printf("  State:     %s", slot_state_to_string(s));
                if (s == SLOT_STATE_PENDING)
                        printf(" (%u tries left, %u done)", e[i].counter.left, e[i].counter.done);
                else if (s == SLOT_STATE_BAD)
                        printf(" (%u tries done)", e[i].counter.done);
                printf("\n  Version:   %s", v ?: "-");
                if (r->sv_known)
                        printf(" (security version %" PRIu64 ")", r->security_version);
                printf("\n");
                printf("  Entry:     %s\n", e[i].file ?: "-");
                if (r->installed)
                        printf("  Installed: %s\n", fmt_time(r->installed, tbuf));
                if (r->failure.check)
                        printf("  Failure:   check '%s' at %s: %s\n", r->failure.check, fmt_time(r->failure.time, tbuf),
                               r->failure.output ?: "");
        }

        printf("\nSecurity floor: %" PRIu64, floor->value);
        if (floor->version)
                printf(" (raised when %s was blessed)", floor->version);
        else if (floor->source == FLOOR_SOURCE_NONE)
                printf(" (none yet)");
        printf("\n");

        if (st->rollback.valid) {
                const RollbackEvent *ev = &st->rollback;
                printf("\nLast rollback: %s, from slot %s (version %s) to slot %s: %s\n", fmt_time(ev->time, tbuf),
                       slot_to_string(ev->from), ev->version ?: "-", slot_to_string(ev->to), ev->reason ?: "");
        }
        ctl_report_status_print(config);
}

int verb_status(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "json", no_argument, NULL, 'j' },
                {}
        };
        bool json = false;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":hj", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("Usage: abidectl status [--json]\n\nShows both slots (state, version, entry, install time,\n"
                               "last failure, security version), the booted slot, the next boot, the\n"
                               "anti-rollback floor and the last rollback.\n"
                               "The JSON form is documented in docs/status-json.md.\n");
                        return 0;
                case 'j':
                        json = true;
                        break;
                default:
                        return opt_error(c, argv, options, "--help");
                }
        if (optind < argc)
                return err_set(EINVAL, "unexpected argument '%s'", argv[optind]);

        _cleanup_(ctl_done) Ctl ctl = {};
        _cleanup_(state_freep) AbideState *st = NULL;
        BootEntryInfo e[_SLOT_MAX];
        Slot booted = _SLOT_INVALID, def, once;

        r = ctl_open(&ctl);
        if (r < 0)
                return r;
        r = ctl_state_load(&ctl, &st);
        if (r < 0)
                return r;
        r = ctl_entries(&ctl, e);
        if (r < 0)
                return r;
        if (ctl_booted(&ctl, &booted) < 0)
                booted = _SLOT_INVALID;
        err_clear();
        r = boot_get_next(ctl.boot, &def, &once);
        if (r < 0) {
                boot_entry_infos_done(e);
                return r;
        }

        SecurityFloor floor;
        ctl_floor(&ctl, st, &floor);
        if (json)
                r = print_json(booted, def, once, e, st, boot_backend_name(ctl.boot), &floor, ctl.config);
        else
                print_human(booted, def, once, e, st, &floor, ctl.config);
        boot_entry_infos_done(e);
        return r;
}
