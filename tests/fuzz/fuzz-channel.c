/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* channel.json, any bytes (its parser runs after the signature check, and on
 * the publisher's side on the file being edited): what channel_parse()
 * accepts serializes to canonical JSON that parses back and serializes to
 * the same bytes (the optional name and expires included), and deciding for
 * any device never fails, nor refuses as expired by a clock it does not
 * believe. The percent and window spellings (abide-build channel's options)
 * round-trip too. */
#include "fuzz-util.h"

#include "basic/error.h"
#include "channel/channel.h"

/* Every field, as parsed from the input and from what it serialized to. */
static void check_same(const Channel *a, const Channel *b) {
        FUZZ_ASSERT(a->serial == b->serial && a->updated == b->updated && a->n_releases == b->n_releases);
        FUZZ_ASSERT(streq_ptr(a->name, b->name) && a->expires == b->expires);
        /* Optional keys are written only when present, and a present expires is after updated. */
        FUZZ_ASSERT(!a->name || channel_name_validate(a->name) == 0);
        FUZZ_ASSERT(a->expires == 0 || a->expires > a->updated);
        for (size_t i = 0; i < a->n_releases; i++) {
                const ChannelRelease *x = &a->releases[i], *y = channel_find(b, x->compatible);
                FUZZ_ASSERT(y);
                FUZZ_ASSERT(streq_ptr(x->version, y->version) && streq_ptr(x->bundle, y->bundle) &&
                            streq_ptr(x->halt_reason, y->halt_reason));
                FUZZ_ASSERT(x->security_version == y->security_version && x->size == y->size &&
                            x->percent_bp == y->percent_bp && x->halted == y->halted && x->published == y->published);
                FUZZ_ASSERT(memcmp(x->manifest_sha256, y->manifest_sha256, sizeof x->manifest_sha256) == 0);
                FUZZ_ASSERT(x->window.set == y->window.set);
                if (x->window.set)
                        FUZZ_ASSERT(x->window.start_min == y->window.start_min && x->window.end_min == y->window.end_min);
                FUZZ_ASSERT(x->n_stages == y->n_stages);
                for (size_t k = 0; k < x->n_stages; k++)
                        FUZZ_ASSERT(x->stages_bp[k] == y->stages_bp[k]);
        }
}

static void decide_all(const Channel *c, uint64_t now) {
        static const char *const compat[] = { "abide-demo", "c", "other", "" };
        for (size_t i = 0; i < ELEMENTSOF(compat); i++)
                for (unsigned pending = 0; pending < 2; pending++) {
                        ChannelDevice d = {
                                .machine_id = "0123456789abcdef0123456789abcdef",
                                .compatible = compat[i],
                                .running_version = "1.0",
                                .floor = now & 7,
                                .last_serial = now % 9,
                                .other_version = pending ? "2.0" : NULL,
                                .other_pending = pending,
                                .other_bad = now & 8,
                                .now = now,
                        };
                        ChannelDecision dec;
                        channel_decide(c, &d, &dec);
                        FUZZ_ASSERT(dec.verdict >= 0 && dec.verdict < _CHANNEL_VERDICT_MAX);
                        FUZZ_ASSERT(memchr(dec.reason, 0, sizeof dec.reason));
                        FUZZ_ASSERT(channel_verdict_from_string(channel_verdict_to_string(dec.verdict)) ==
                                    (int) dec.verdict);
                        /* Expired only by a clock that is believed and at or past expires: never
                         * with the clock unset, before updated, or far ahead of it. */
                        if (dec.verdict == CHANNEL_EXPIRED)
                                FUZZ_ASSERT(c->expires && now >= c->expires && now > c->updated &&
                                            now - c->updated <= CHANNEL_CLOCK_AHEAD_MAX && !dec.release);
                        if (dec.verdict != CHANNEL_REPLAY)
                                FUZZ_ASSERT((dec.verdict == CHANNEL_EXPIRED) ==
                                            (channel_expiry_judge(c, now) == CHANNEL_EXPIRY_PAST));
                        if (dec.verdict == CHANNEL_INSTALL)
                                FUZZ_ASSERT(dec.release && streq(dec.release->compatible, compat[i]) &&
                                            dec.bucket < CHANNEL_BUCKETS);
                }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(channel_freep) Channel *c = NULL, *c2 = NULL;
        _cleanup_free_ char *text = fuzz_strndup(data, size), *json = NULL, *json2 = NULL;
        size_t len = 0, len2 = 0;

        if (!text)
                return 0;

        /* The options' spellings. */
        unsigned bp;
        if (channel_percent_parse(text, &bp) == 0) {
                char s[8];
                FUZZ_ASSERT(bp <= CHANNEL_BUCKETS);
                channel_percent_format(bp, s);
                unsigned bp2;
                FUZZ_ASSERT(channel_percent_parse(s, &bp2) == 0 && bp2 == bp);
        }
        ChannelWindow w;
        if (channel_window_parse(text, &w) == 0) {
                char s[12];
                FUZZ_ASSERT(w.set && w.start_min < 24 * 60 && w.end_min < 24 * 60 && w.start_min != w.end_min);
                channel_window_format(&w, s);
                ChannelWindow w2;
                FUZZ_ASSERT(channel_window_parse(s, &w2) == 0 && w2.start_min == w.start_min &&
                            w2.end_min == w.end_min);
                /* Each minute of the day is inside the window or outside it, the end outside. */
                FUZZ_ASSERT(channel_window_contains(&w, (uint64_t) w.start_min * 60));
                FUZZ_ASSERT(!channel_window_contains(&w, (uint64_t) w.end_min * 60));
        }
        err_clear();

        if (channel_parse((const char *) data, size, &c) < 0) {
                err_clear();
                return 0;
        }
        FUZZ_ASSERT(channel_serialize(c, &json, &len) == 0);
        FUZZ_ASSERT(strlen(json) == len);
        FUZZ_ASSERT(channel_parse(json, len, &c2) == 0);
        FUZZ_ASSERT(channel_serialize(c2, &json2, &len2) == 0);
        FUZZ_ASSERT(len == len2 && memcmp(json, json2, len) == 0);
        check_same(c, c2);
        for (size_t i = 0; i < c->n_releases; i++)
                FUZZ_ASSERT(channel_find(c, c->releases[i].compatible) == &c->releases[i]);
        decide_all(c, 0);
        decide_all(c, c->updated + (size & 0xffff) * 61);
        if (c->expires) {
                decide_all(c, c->expires);
                decide_all(c, c->expires - 1);
                decide_all(c, c->updated + CHANNEL_CLOCK_AHEAD_MAX + 1);
        }
        return 0;
}
