/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdio.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "net/http-policy.h"
#include "update.h"

void update_report_done(UpdateReport *r) {
        free(r->signer);
        if (r->json)
                json_object_put(r->json);
        *r = (UpdateReport) {};
}

static json_object *str_or_null(const char *s) {
        return s ? json_object_new_string(s) : NULL;
}

static void percent_text(unsigned bp, char buf[static 16]) {
        (void) snprintf(buf, 16, "%u.%02u", bp / 100, bp % 100);
}

static json_object *release_json(const ChannelRelease *rel) {
        char hex[2 * SHA256_DIGEST_SIZE + 1], w[12];
        json_object *o = json_object_new_object();

        hex_encode(rel->manifest_sha256, SHA256_DIGEST_SIZE, hex);
        json_object_object_add(o, "version", json_object_new_string(rel->version));
        json_object_object_add(o, "security_version", json_object_new_int64((int64_t) rel->security_version));
        json_object_object_add(o, "bundle", json_object_new_string(rel->bundle));
        json_object_object_add(o, "size", json_object_new_int64((int64_t) rel->size));
        json_object_object_add(o, "manifest_sha256", json_object_new_string(hex));
        json_object_object_add(o, "percent_bp", json_object_new_int((int) rel->percent_bp));
        json_object_object_add(o, "halted", json_object_new_boolean(rel->halted));
        json_object_object_add(o, "halt_reason", str_or_null(rel->halt_reason));
        if (rel->window.set)
                channel_window_format(&rel->window, w);
        json_object_object_add(o, "window", rel->window.set ? json_object_new_string(w) : NULL);
        return o;
}

/* The channel's expiry as the device judged it (channel_expiry_judge()). */
static const char *expiry_text(const Channel *ch, uint64_t now, char buf[static 160]) {
        switch (channel_expiry_judge(ch, now)) {
        case CHANNEL_EXPIRY_NONE:
                return NULL;
        case CHANNEL_EXPIRY_VALID:
                (void) snprintf(buf, 160, "%" PRIu64 ", in %" PRIu64 " s", ch->expires, ch->expires - now);
                break;
        case CHANNEL_EXPIRY_PAST:
                (void) snprintf(buf, 160, "%" PRIu64 ", %" PRIu64 " s ago: refused", ch->expires, now - ch->expires);
                break;
        case CHANNEL_EXPIRY_CLOCK_WRONG:
        default:
                if (now == 0 || now < ch->updated)
                        (void) snprintf(buf, 160, "%" PRIu64 ", not judged: the device clock %" PRIu64 " is %s", ch->expires,
                                        now, now == 0 ? "unset" : "before the channel's last update");
                else
                        (void) snprintf(buf, 160, "%" PRIu64 ", not judged: the device clock %" PRIu64 " is more than %llu "
                                        "years after the channel's last update", ch->expires, now,
                                        CHANNEL_CLOCK_AHEAD_MAX / (366 * 86400));
                break;
        }
        return buf;
}

static const char *expiry_json(const Channel *ch, uint64_t now) {
        switch (channel_expiry_judge(ch, now)) {
        case CHANNEL_EXPIRY_VALID:
                return "valid";
        case CHANNEL_EXPIRY_PAST:
                return "expired";
        case CHANNEL_EXPIRY_CLOCK_WRONG:
                return "not-judged";
        case CHANNEL_EXPIRY_NONE:
        default:
                return NULL;
        }
}

int update_report_decision(UpdateReport *rep, const AbideConfig *c, const Channel *ch, const UpdateDevice *dev,
                           const ChannelDecision *dec, const char *verdict, const char *reason, bool dry_run, bool json) {
        const ChannelRelease *rel = dec->release;
        const ChannelDevice *d = &dev->dev;
        char shown[1024], pct[16], w[12], exp[160];

        http_url_display(c->update_channel, shown, sizeof shown);
        json_object *o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        json_object_object_add(o, "channel", json_object_new_string(shown));
        json_object_object_add(o, "name", str_or_null(ch->name));
        json_object_object_add(o, "serial", json_object_new_int64((int64_t) ch->serial));
        json_object_object_add(o, "expires", ch->expires ? json_object_new_int64((int64_t) ch->expires) : NULL);
        json_object_object_add(o, "expiry", str_or_null(expiry_json(ch, d->now)));
        json_object_object_add(o, "last_serial", d->last_serial ? json_object_new_int64((int64_t) d->last_serial) : NULL);
        json_object_object_add(o, "signer", str_or_null(rep->signer));
        json_object_object_add(o, "machine_id", json_object_new_string(d->machine_id));
        json_object_object_add(o, "compatible", json_object_new_string(d->compatible));
        json_object_object_add(o, "running_version", json_object_new_string(d->running_version));
        json_object_object_add(o, "floor", json_object_new_int64((int64_t) d->floor));
        json_object *other = json_object_new_object();
        json_object_object_add(other, "slot", json_object_new_string(slot_to_string(dev->other)));
        json_object_object_add(other, "state", json_object_new_string(slot_state_to_string(dev->other_state)));
        json_object_object_add(other, "version", str_or_null(dev->other_version));
        json_object_object_add(o, "other_slot", other);
        json_object_object_add(o, "release", rel ? release_json(rel) : NULL);
        json_object_object_add(o, "bucket", rel ? json_object_new_int((int) dec->bucket) : NULL);
        json_object_object_add(o, "in_rollout", rel ? json_object_new_boolean(dec->bucket < rel->percent_bp) : NULL);
        json_object_object_add(o, "window_open", rel ? json_object_new_boolean(d->now && channel_window_contains(&rel->window, d->now)) : NULL);
        json_object_object_add(o, "now", d->now ? json_object_new_int64((int64_t) d->now) : NULL);
        json_object_object_add(o, "verdict", json_object_new_string(verdict));
        json_object_object_add(o, "reason", json_object_new_string(reason));
        json_object_object_add(o, "dry_run", json_object_new_boolean(dry_run));
        json_object_object_add(o, "decision_ms", json_object_new_double((double) rep->decide_usec / 1000));
        rep->json = o;
        if (json)
                return 0;

        printf("Channel:  %s serial %" PRIu64, shown, ch->serial);
        if (d->last_serial)
                printf(" (last accepted %" PRIu64 ")", d->last_serial);
        /* Named but not asked for a name ([Update] ChannelName= unset): accepted, and said here. */
        if (ch->name)
                printf(", name '%s'", ch->name);
        printf(", signed by %s\n", rep->signer ?: "?");
        if (expiry_text(ch, d->now, exp))
                printf("Expires:  %s\n", exp);
        printf("Device:   %s %s, floor %" PRIu64 ", machine-id %s; slot %s %s%s%s\n", d->compatible, d->running_version,
               d->floor, d->machine_id, slot_to_string(dev->other), slot_state_to_string(dev->other_state),
               dev->other_version ? " " : "", dev->other_version ?: "");
        if (rel) {
                percent_text(rel->percent_bp, pct);
                printf("Release:  %s (security version %" PRIu64 "), %s, %" PRIu64 " bytes\n", rel->version,
                       rel->security_version, rel->bundle, rel->size);
                printf("Rollout:  bucket %u %s %u (%s %%)%s%s%s\n", dec->bucket, dec->bucket < rel->percent_bp ? "<" : ">=",
                       rel->percent_bp, pct, dec->bucket < rel->percent_bp ? ": in" : ": not in",
                       rel->halted ? "; halted: " : "", rel->halted ? (rel->halt_reason ?: "no reason given") : "");
                if (rel->window.set) {
                        channel_window_format(&rel->window, w);
                        unsigned m = (unsigned) (d->now % 86400 / 60);
                        if (d->now)
                                printf("Window:   %s UTC, now %02u:%02u UTC: %s\n", w, m / 60, m % 60,
                                       channel_window_contains(&rel->window, d->now) ? "inside" : "outside");
                        else
                                printf("Window:   %s UTC, device clock not set\n", w);
                } else
                        printf("Window:   none (any time)\n");
        } else if (dec->verdict == CHANNEL_REPLAY || dec->verdict == CHANNEL_EXPIRED)
                printf("Release:  not looked at: the channel is refused\n");
        else
                printf("Release:  none for %s\n", d->compatible);
        printf("Verdict:  %s: %s\n", verdict, reason);
        printf("Decided in %.1f ms (channel fetched and verified in %.1f ms)\n", (double) rep->decide_usec / 1000,
               (double) rep->fetch_usec / 1000);
        fflush(stdout);
        return 0;
}

void update_report_finish(UpdateReport *rep, bool json) {
        if (json) {
                if (!rep->json)
                        return;
                json_object_object_add(rep->json, "installed", json_object_new_boolean(rep->installed));
                json_object_object_add(rep->json, "reboot", str_or_null(rep->reboot));
                puts(json_object_to_json_string_ext(rep->json, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
                fflush(stdout);
                return;
        }
        if (!rep->reboot)
                return;
        if (streq(rep->reboot, "now"))
                printf("Reboot:   now, into the new slot\n");
        else if (streq(rep->reboot, "deferred"))
                printf("Reboot:   deferred: outside the release's window; the slot stays pending until a run inside it\n");
        else
                printf("Reboot:   never ([Update] Reboot=never): the new slot boots on the next reboot\n");
        fflush(stdout);
}

static json_object *time_or_null(uint64_t t) {
        return t ? json_object_new_int64((int64_t) t) : NULL;
}

json_object *update_status_json(const AbideConfig *c) {
        _cleanup_(update_state_done) UpdateState us = {};
        char shown[1024];

        /* status never fails on it: an unreadable update.json reads as no history, with a warning. */
        int r = update_state_load(c->update_state, &us);
        if (r < 0)
                ctl_warn("%s", err_message(r));
        json_object *o = json_object_new_object();
        if (!o)
                return NULL;
        if (c->update_channel)
                http_url_display(c->update_channel, shown, sizeof shown);
        json_object_object_add(o, "channel", c->update_channel ? json_object_new_string(shown) : NULL);
        json_object_object_add(o, "serial", us.last_serial ? json_object_new_int64((int64_t) us.last_serial) : NULL);
        json_object_object_add(o, "last_check", time_or_null(us.last_check));
        json_object *d = NULL;
        if (us.have_decision) {
                d = json_object_new_object();
                json_object_object_add(d, "verdict", json_object_new_string(us.verdict ?: ""));
                json_object_object_add(d, "reason", json_object_new_string(us.reason ?: ""));
                json_object_object_add(d, "version", str_or_null(us.version));
        }
        json_object_object_add(o, "last_decision", d);
        json_object_object_add(o, "failures", json_object_new_int64(us.failures));
        json_object_object_add(o, "last_error", str_or_null(us.last_error));
        json_object_object_add(o, "next_attempt", time_or_null(us.next_attempt));
        return o;
}
