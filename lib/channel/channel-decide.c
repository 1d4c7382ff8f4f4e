/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "channel/channel.h"

static const char *const verdict_table[_CHANNEL_VERDICT_MAX] = {
        [CHANNEL_INSTALL] = "install",
        [CHANNEL_UP_TO_DATE] = "up-to-date",
        [CHANNEL_NO_RELEASE] = "no-release",
        [CHANNEL_HALTED] = "halted",
        [CHANNEL_NOT_IN_ROLLOUT] = "not-in-rollout",
        [CHANNEL_OUTSIDE_WINDOW] = "outside-window",
        [CHANNEL_ALREADY_PENDING] = "already-pending",
        [CHANNEL_FAILED_HERE] = "failed-here",
        [CHANNEL_BELOW_FLOOR] = "below-floor",
        [CHANNEL_REPLAY] = "replay",
        [CHANNEL_EXPIRED] = "expired",
};

const char *channel_verdict_to_string(ChannelVerdict v) {
        if ((unsigned) v >= _CHANNEL_VERDICT_MAX)
                return NULL;
        return verdict_table[v];
}

int channel_verdict_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        for (size_t i = 0; i < _CHANNEL_VERDICT_MAX; i++)
                if (streq(verdict_table[i], s))
                        return (int) i;
        return -EINVAL;
}

unsigned channel_bucket(const char *machine_id, const char *compatible, const char *version) {
        static const char tag[] = "abide-rollout";
        const char *parts[] = { machine_id ?: "", compatible ?: "", version ?: "" };
        uint8_t d[SHA256_DIGEST_SIZE];
        _cleanup_(sha256_freep) Sha256 *h = NULL;
        uint64_t v = 0;

        /* A hash that cannot be computed (no memory) puts the device last:
         * it then only takes a release at 100 %, never one it should not. */
        if (sha256_new(&h) < 0 || sha256_update(h, tag, sizeof tag) < 0)
                return CHANNEL_BUCKETS - 1;
        for (size_t i = 0; i < ELEMENTSOF(parts); i++)
                if (sha256_update(h, parts[i], strlen(parts[i]) + (i + 1 < ELEMENTSOF(parts))) < 0)
                        return CHANNEL_BUCKETS - 1;
        if (sha256_final(h, d) < 0)
                return CHANNEL_BUCKETS - 1;
        for (size_t i = 0; i < 8; i++)
                v = v << 8 | d[i];
        return (unsigned) (v % CHANNEL_BUCKETS);
}

bool channel_window_contains(const ChannelWindow *w, uint64_t time) {
        if (!w || !w->set)
                return true;
        unsigned m = (unsigned) (time % 86400 / 60);
        if (w->start_min < w->end_min)
                return m >= w->start_min && m < w->end_min;
        return m >= w->start_min || m < w->end_min;
}

ChannelExpiry channel_expiry_judge(const Channel *c, uint64_t now) {
        if (!c->expires)
                return CHANNEL_EXPIRY_NONE;
        /* The one check on the device's clock, so only a clock that can be believed
         * refuses: a wrong one (a dead RTC read as 2070) must not stop updates, the
         * fix of the clock among them. */
        if (now == 0 || now < c->updated || now - c->updated > CHANNEL_CLOCK_AHEAD_MAX)
                return CHANNEL_EXPIRY_CLOCK_WRONG;
        return now >= c->expires ? CHANNEL_EXPIRY_PAST : CHANNEL_EXPIRY_VALID;
}

static int parse_hhmm(const char *s, unsigned *ret) {
        for (size_t i = 0; i < 5; i++)
                if (i == 2 ? s[i] != ':' : !(s[i] >= '0' && s[i] <= '9'))
                        return -EINVAL;
        unsigned h = (unsigned) (s[0] - '0') * 10 + (unsigned) (s[1] - '0');
        unsigned m = (unsigned) (s[3] - '0') * 10 + (unsigned) (s[4] - '0');
        if (h > 23 || m > 59)
                return -EINVAL;
        *ret = h * 60 + m;
        return 0;
}

int channel_window_parse(const char *s, ChannelWindow *ret) {
        unsigned a, b;

        if (!s || !ret || strlen(s) != 11 || s[5] != '-')
                return -EINVAL;
        if (parse_hhmm(s, &a) < 0 || parse_hhmm(s + 6, &b) < 0 || a == b)
                return -EINVAL;
        *ret = (ChannelWindow) { .set = true, .start_min = a, .end_min = b };
        return 0;
}

void channel_window_format(const ChannelWindow *w, char ret[static 12]) {
        if (!w || !w->set) {
                ret[0] = 0;
                return;
        }
        (void) snprintf(ret, 12, "%02u:%02u-%02u:%02u", w->start_min / 60 % 100, w->start_min % 60,
                        w->end_min / 60 % 100, w->end_min % 60);
}

static void percent_text(unsigned bp, char ret[static 8]) {
        (void) snprintf(ret, 8, "%u.%02u", bp / 100 % 1000, bp % 100);
}

static void decide_one(const Channel *c, const ChannelDevice *d, ChannelDecision *ret) {
        const ChannelRelease *rel;
        char pct[8], w[12];

        if (c->serial < d->last_serial) {
                ret->verdict = CHANNEL_REPLAY;
                (void) snprintf(ret->reason, sizeof ret->reason,
                                "replay: channel serial %" PRIu64 " < %" PRIu64 " already seen", c->serial,
                                d->last_serial);
                return;
        }

        /* A refusal only withholds this run's update (docs/channel.md). */
        if (channel_expiry_judge(c, d->now) == CHANNEL_EXPIRY_PAST) {
                ret->verdict = CHANNEL_EXPIRED;
                (void) snprintf(ret->reason, sizeof ret->reason,
                                "expired: channel serial %" PRIu64 " expired at %" PRIu64 ", the device clock is %" PRIu64
                                " (%" PRIu64 " s later); its publisher has not re-signed it",
                                c->serial, c->expires, d->now, d->now - c->expires);
                return;
        }

        rel = channel_find(c, d->compatible);
        if (!rel) {
                ret->verdict = CHANNEL_NO_RELEASE;
                (void) snprintf(ret->reason, sizeof ret->reason, "no release for compatible '%.64s' (serial %" PRIu64 ")",
                                d->compatible ?: "", c->serial);
                return;
        }
        ret->release = rel;
        ret->bucket = channel_bucket(d->machine_id, rel->compatible, rel->version);

        if (streq_ptr(rel->version, d->running_version)) {
                ret->verdict = CHANNEL_UP_TO_DATE;
                (void) snprintf(ret->reason, sizeof ret->reason, "up to date: running %.64s", rel->version);
                return;
        }
        if (streq_ptr(rel->version, d->other_version) && d->other_pending) {
                ret->verdict = CHANNEL_ALREADY_PENDING;
                (void) snprintf(ret->reason, sizeof ret->reason,
                                "already pending: %.64s is installed in the other slot, waiting for its trial boot",
                                rel->version);
                return;
        }
        if (streq_ptr(rel->version, d->other_version) && d->other_bad) {
                ret->verdict = CHANNEL_FAILED_HERE;
                (void) snprintf(ret->reason, sizeof ret->reason,
                                "failed here: %.64s was marked bad or rolled back from on this device, not again",
                                rel->version);
                return;
        }
        if (rel->security_version < d->floor) {
                ret->verdict = CHANNEL_BELOW_FLOOR;
                (void) snprintf(ret->reason, sizeof ret->reason,
                                "below floor: %.64s has security version %" PRIu64 " < floor %" PRIu64, rel->version,
                                rel->security_version, d->floor);
                return;
        }
        if (rel->halted) {
                ret->verdict = CHANNEL_HALTED;
                if (rel->halt_reason)
                        (void) snprintf(ret->reason, sizeof ret->reason, "halted: %.64s: %.160s", rel->version,
                                        rel->halt_reason);
                else
                        (void) snprintf(ret->reason, sizeof ret->reason, "halted: %.64s", rel->version);
                return;
        }
        percent_text(rel->percent_bp, pct);
        if (ret->bucket >= rel->percent_bp) {
                ret->verdict = CHANNEL_NOT_IN_ROLLOUT;
                (void) snprintf(ret->reason, sizeof ret->reason, "not in rollout: bucket %u >= %u (%s %%)", ret->bucket,
                                rel->percent_bp, pct);
                return;
        }

        /* The window is scheduling, not trust: a clock known to be wrong (0,
         * or before the publisher's last change) must not keep a device with
         * a dead RTC out of updates forever. */
        bool clock_wrong = d->now == 0 || d->now < c->updated;
        channel_window_format(&rel->window, w);
        if (rel->window.set && !clock_wrong && !channel_window_contains(&rel->window, d->now)) {
                unsigned m = (unsigned) (d->now % 86400 / 60);
                ret->verdict = CHANNEL_OUTSIDE_WINDOW;
                (void) snprintf(ret->reason, sizeof ret->reason, "outside window: %02u:%02u UTC is not in %s", m / 60,
                                m % 60, w);
                return;
        }

        ret->verdict = CHANNEL_INSTALL;
        int n = snprintf(ret->reason, sizeof ret->reason, "install %.64s (running %.64s): bucket %u < %u (%s %%)",
                         rel->version, d->running_version ?: "nothing", ret->bucket, rel->percent_bp, pct);
        if (n < 0 || (size_t) n >= sizeof ret->reason || !rel->window.set)
                return;
        if (clock_wrong)
                (void) snprintf(ret->reason + n, sizeof ret->reason - (size_t) n,
                                "; window %s not honoured: device clock %" PRIu64 " is %s", w, d->now,
                                d->now == 0 ? "unset" : "before the channel's last update");
        else
                (void) snprintf(ret->reason + n, sizeof ret->reason - (size_t) n, "; inside window %s", w);
}

void channel_decide(const Channel *c, const ChannelDevice *d, ChannelDecision *ret) {
        *ret = (ChannelDecision) {};
        decide_one(c, d, ret);
        /* The channel's strings were checked; the device's (its compatible,
         * its running version) were not, and the reason stays one line. */
        for (char *p = ret->reason; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        *p = '?';
}
