/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "channel/channel.h"
#include "crypto/hash.h"

#define SHA "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* A release with every field, in canonical form. */
static const char GOOD[] =
        "{\n"
        "  \"format\": 1,\n"
        "  \"releases\": [\n"
        "    {\n"
        "      \"bundle\": \"bundles/os-2.0.abide\",\n"
        "      \"compatible\": \"abide-demo\",\n"
        "      \"halt_reason\": \"too many \\\"rollbacks\\\"\",\n"
        "      \"halted\": true,\n"
        "      \"manifest_sha256\": \"" SHA "\",\n"
        "      \"percent\": 12.5,\n"
        "      \"published\": 1700000000,\n"
        "      \"security_version\": 3,\n"
        "      \"size\": 123456,\n"
        "      \"stages\": [0.01, 1, 10, 50, 100],\n"
        "      \"version\": \"2.0\",\n"
        "      \"window\": \"22:00-04:30\"\n"
        "    },\n"
        "    {\n"
        "      \"bundle\": \"https://cdn.example/b.abide\",\n"
        "      \"compatible\": \"other\",\n"
        "      \"halted\": false,\n"
        "      \"manifest_sha256\": \"" SHA "\",\n"
        "      \"percent\": 100,\n"
        "      \"published\": 0,\n"
        "      \"security_version\": 0,\n"
        "      \"size\": 0,\n"
        "      \"stages\": [],\n"
        "      \"version\": \"1\"\n"
        "    }\n"
        "  ],\n"
        "  \"serial\": 7,\n"
        "  \"updated\": 1700000100\n"
        "}\n";

/* A named channel that expires, with no release, in canonical form. */
static const char NAMED[] =
        "{\n"
        "  \"expires\": 1700604900,\n"
        "  \"format\": 1,\n"
        "  \"name\": \"stable \\\"eu\\\" \u00e9\",\n"
        "  \"releases\": [],\n"
        "  \"serial\": 3,\n"
        "  \"updated\": 1700000100\n"
        "}\n";

static const char MINIMAL_RELEASE[] =
        "\"bundle\": \"b\", \"compatible\": \"c\", \"halted\": false, \"manifest_sha256\": \"" SHA "\", "
        "\"percent\": 25, \"published\": 1, \"security_version\": 2, \"size\": 3, \"stages\": [], \"version\": \"2.0\"";

static int parse(const char *s, Channel **ret) {
        err_clear();
        return channel_parse(s, strlen(s), ret);
}

/* A channel around one release whose members are MINIMAL_RELEASE then extra. */
/* A value of one member replaced: from (found in base) by to. */
typedef struct Swap {
        const char *from, *to, *needle;
} Swap;

/* Each swap of base refused, its error naming needle, nothing returned. */
static void refuse_swaps(const char *base, const Swap *swaps, size_t n) {
        char buf[4096];
        for (size_t i = 0; i < n; i++) {
                _cleanup_(channel_freep) Channel *c = NULL;
                const char *at = strstr(base, swaps[i].from);
                assert_non_null(at);
                (void) snprintf(buf, sizeof buf, "%.*s%s%s", (int) (at - base), base, swaps[i].to,
                                at + strlen(swaps[i].from));
                assert_true(parse(buf, &c) < 0);
                assert_null(c);
                const char *msg = err_message(EINVAL);
                if (!strstr(msg, swaps[i].needle))
                        fail_msg("%s: '%s' lacks '%s'", swaps[i].to, msg, swaps[i].needle);
        }
}

static int parse_release(const char *extra, Channel **ret) {
        char buf[4096];
        (void) snprintf(buf, sizeof buf, "{\"format\": 1, \"serial\": 1, \"updated\": 1, \"releases\": [{%s%s}]}",
                        MINIMAL_RELEASE, extra);
        return parse(buf, ret);
}

static void test_parse_good(void **state) {
        _cleanup_(channel_freep) Channel *c = NULL;

        assert_int_equal(parse(GOOD, &c), 0);
        assert_int_equal(c->serial, 7);
        assert_int_equal(c->updated, 1700000100);
        assert_int_equal(c->n_releases, 2);
        ChannelRelease *r = channel_find(c, "abide-demo");
        assert_non_null(r);
        assert_string_equal(r->version, "2.0");
        assert_string_equal(r->bundle, "bundles/os-2.0.abide");
        assert_int_equal(r->security_version, 3);
        assert_int_equal(r->size, 123456);
        assert_int_equal(r->manifest_sha256[1], 0x11);
        assert_int_equal(r->percent_bp, 1250);
        assert_int_equal(r->n_stages, 5);
        assert_int_equal(r->stages_bp[0], 1);
        assert_int_equal(r->stages_bp[4], 10000);
        assert_true(r->halted);
        assert_string_equal(r->halt_reason, "too many \"rollbacks\"");
        assert_true(r->window.set);
        assert_int_equal(r->window.start_min, 22 * 60);
        assert_int_equal(r->window.end_min, 4 * 60 + 30);
        assert_int_equal(r->published, 1700000000);
        r = channel_find(c, "other");
        assert_non_null(r);
        assert_false(r->window.set);
        assert_null(r->halt_reason);
        assert_int_equal(r->percent_bp, 10000);
        assert_null(channel_find(c, "missing"));

        channel_free(TAKE_PTR(c));
        assert_int_equal(parse_release("", &c), 0);
        assert_int_equal(c->releases[0].percent_bp, 2500);
}

static void test_parse_bad(void **state) {
        _cleanup_(channel_freep) Channel *c = NULL;
        static const struct {
                const char *extra, *needle;
        } bad[] = {
                { ", \"colour\": 1", "colour: unknown key" },
                { ", \"window\": \"25:00-01:00\"", "window" },
                { ", \"window\": \"01:00-01:00\"", "window" },
                { ", \"window\": \"1:00-02:00\"", "window" },
                { ", \"window\": \"01:00-02:00 \"", "window" },
                { ", \"window\": \"01:60-02:00\"", "window" },
                { ", \"window\": 3", "window: not a string" },
                { ", \"halt_reason\": \"x\"", "halt_reason" },
                { ", \"halt_reason\": \"a\\nb\"", "halt_reason" },
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                assert_int_equal(parse_release("", &c), 0);
                channel_free(TAKE_PTR(c));
                assert_true(parse_release(bad[i].extra, &c) < 0);
                assert_null(c);
                if (!strstr(err_message(EINVAL), bad[i].needle))
                        fail_msg("%s: '%s' lacks '%s'", bad[i].extra, err_message(EINVAL), bad[i].needle);
        }

        /* Members replaced: each line swaps one value of GOOD's first release. */
        static const Swap swaps[] = {
                { "\"percent\": 12.5", "\"percent\": 101", "percent" },
                { "\"percent\": 12.5", "\"percent\": 100.01", "percent" },
                { "\"percent\": 12.5", "\"percent\": -1", "percent" },
                { "\"percent\": 12.5", "\"percent\": 12.345", "two decimals" },
                { "\"percent\": 12.5", "\"percent\": \"12\"", "percent: not a number" },
                { "\"size\": 123456", "\"size\": \"123456\"", "size: not an integer" },
                { "\"size\": 123456", "\"size\": 1.5", "size: not an integer" },
                { "\"size\": 123456", "\"size\": -1", "size: not an integer" },
                { "\"serial\": 7", "\"serial\": 18446744073709551615", "serial: not an integer" },
                { "\"halted\": true", "\"halted\": 1", "halted: not a boolean" },
                { "\"version\": \"2.0\"", "\"version\": 2", "version: not a string" },
                { "\"version\": \"2.0\"", "\"version\": \"\"", "version" },
                { "\"stages\": [0.01, 1, 10, 50, 100]", "\"stages\": [1, 10, 50]", "last stage" },
                { "\"stages\": [0.01, 1, 10, 50, 100]", "\"stages\": [10, 1, 100]", "ascending" },
                { "\"stages\": [0.01, 1, 10, 50, 100]", "\"stages\": [0, 100]", "stages[0]" },
                { "\"stages\": [0.01, 1, 10, 50, 100]", "\"stages\": 100", "stages: not an array" },
                { "\"manifest_sha256\": \"" SHA "\"", "\"manifest_sha256\": \"00\"", "manifest_sha256" },
                { "\"compatible\": \"other\"", "\"compatible\": \"abide-demo\"", "duplicate" },
                { "\"format\": 1", "\"format\": 2", "format: unsupported" },
                { "\"updated\": 1700000100", "\"updated\": 1700000100, \"serial\": 8", "duplicate key" },
                { "\"version\": \"2.0\"", "\"ver\\u0000sion\": \"2.0\"", "NUL" },
                { "\"version\": \"2.0\"", "\"version\": \"2.0\\u0000\"", "NUL" },
                { "\"bundle\": \"bundles/os-2.0.abide\"", "\"bundle\": 'x'", "JSON" },
                { "{\n  \"format\"", "[{\n  \"format\"", "not a JSON object" },
                { "\"updated\": 1700000100\n}", "\"updated\": 1700000100\n} x", "JSON" },
                { "\"updated\": 1700000100\n}", "\"updated\": 1700000100\n", "JSON" },
        };
        refuse_swaps(GOOD, swaps, ELEMENTSOF(swaps));

        assert_true(parse("", &c) < 0);
        assert_true(parse("not json", &c) < 0);
        assert_true(parse("{", &c) < 0);
        assert_true(parse("{\"format\": 1}", &c) < 0);
        assert_true(strstr(err_message(EINVAL), "serial: missing"));
        assert_true(parse("{\"format\": 1, \"serial\": 1, \"updated\": 1, \"releases\": {}}", &c) < 0);
        assert_true(strstr(err_message(EINVAL), "releases: not an array"));
        assert_true(parse("{\"format\": 1, \"serial\": 1, \"updated\": 1, \"releases\": [1]}", &c) < 0);
        assert_true(strstr(err_message(EINVAL), "releases[0]: not an object"));
        assert_true(channel_parse("{\"format\": 1\0}", 14, &c) < 0);
        assert_null(c);

        /* Oversized: refused before parsing. */
        size_t big = CHANNEL_MAX_SIZE + 1;
        _cleanup_free_ char *huge = malloc(big);
        assert_non_null(huge);
        memset(huge, ' ', big);
        huge[0] = '{';
        huge[big - 1] = '}';
        err_clear();
        assert_int_equal(channel_parse(huge, big, &c), -EFBIG);
        assert_null(c);
        assert_int_equal(channel_parse(huge, big - 1, &c) < 0, 1);
}

/* The top level's optional keys, name and expires: read, written back in key order, and
 * refused when present but wrong, as every other key. */
static void test_name_expires(void **state) {
        _cleanup_(channel_freep) Channel *c = NULL, *c2 = NULL;
        _cleanup_free_ char *out = NULL, *out2 = NULL, *longname = NULL;
        size_t n = 0, n2 = 0;
        char buf[4096];

        assert_int_equal(parse(NAMED, &c), 0);
        assert_string_equal(c->name, "stable \"eu\" \u00e9");
        assert_int_equal(c->expires, 1700604900);
        assert_int_equal(c->serial, 3);
        assert_int_equal(c->n_releases, 0);
        assert_int_equal(channel_serialize(c, &out, &n), 0);
        assert_string_equal(out, NAMED);
        assert_int_equal(channel_parse(out, n, &c2), 0);
        assert_int_equal(channel_serialize(c2, &out2, &n2), 0);
        assert_int_equal(n, n2);
        assert_memory_equal(out, out2, n);

        /* Absent: none. And each alone, in its place among the sorted keys. */
        channel_free(TAKE_PTR(c));
        assert_int_equal(parse(GOOD, &c), 0);
        assert_null(c->name);
        assert_int_equal(c->expires, 0);
        c->name = strdup("edge");
        free(TAKE_PTR(out));
        assert_int_equal(channel_serialize(c, &out, &n), 0);
        assert_non_null(strstr(out, "{\n  \"format\": 1,\n  \"name\": \"edge\",\n  \"releases\": [\n"));
        free(TAKE_PTR(c->name));
        c->expires = 1700000101;
        free(TAKE_PTR(out));
        assert_int_equal(channel_serialize(c, &out, &n), 0);
        assert_non_null(strstr(out, "{\n  \"expires\": 1700000101,\n  \"format\": 1,\n  \"releases\": [\n"));
        channel_free(TAKE_PTR(c2));
        assert_int_equal(channel_parse(out, n, &c2), 0);
        assert_int_equal(c2->expires, 1700000101);
        assert_null(c2->name);

        /* A name of CHANNEL_NAME_MAX bytes is fine, one more is not. */
        longname = malloc(CHANNEL_NAME_MAX + 2);
        assert_non_null(longname);
        memset(longname, 'n', CHANNEL_NAME_MAX + 1);
        longname[CHANNEL_NAME_MAX] = '\0';
        (void) snprintf(buf, sizeof buf, "{\"format\": 1, \"name\": \"%s\", \"serial\": 1, \"updated\": 1, \"releases\": []}",
                        longname);
        channel_free(TAKE_PTR(c2));
        assert_int_equal(parse(buf, &c2), 0);
        assert_int_equal(strlen(c2->name), CHANNEL_NAME_MAX);
        assert_int_equal(channel_name_validate(longname), 0);
        longname[CHANNEL_NAME_MAX] = 'n';
        longname[CHANNEL_NAME_MAX + 1] = '\0';
        assert_true(channel_name_validate(longname) < 0);

        static const Swap swaps[] = {
                { "\"name\": \"stable \\\"eu\\\" \u00e9\"", "\"name\": \"\"", "name: empty" },
                { "\"name\": \"stable \\\"eu\\\" \u00e9\"", "\"name\": \"st\\u0001able\"", "name: contains a control character" },
                { "\"name\": \"stable \\\"eu\\\" \u00e9\"", "\"name\": \"sta\\nble\"", "name: contains a control character" },
                { "\"name\": \"stable \\\"eu\\\" \u00e9\"", "\"name\": \"sta\\u007fble\"", "name: contains a control character" },
                { "\"name\": \"stable \\\"eu\\\" \u00e9\"", "\"name\": \"st\\u0000able\"", "NUL" },
                { "\"name\": \"stable \\\"eu\\\" \u00e9\"", "\"name\": 1", "name: not a string" },
                { "\"name\": \"stable \\\"eu\\\" \u00e9\"", "\"name\": null", "name: not a string" },
                { "\"name\": \"stable \\\"eu\\\" \u00e9\"", "\"name\": [\"stable\"]", "name: not a string" },
                { "\"expires\": 1700604900", "\"expires\": -1", "expires: not an integer" },
                { "\"expires\": 1700604900", "\"expires\": 9223372036854775808", "expires: not an integer" },
                { "\"expires\": 1700604900", "\"expires\": 18446744073709551616", "expires: not an integer" },
                { "\"expires\": 1700604900", "\"expires\": \"1700604900\"", "expires: not an integer" },
                { "\"expires\": 1700604900", "\"expires\": 1700604900.0", "expires: not an integer" },
                { "\"expires\": 1700604900", "\"expires\": 1.7006049e9", "expires: not an integer" },
                { "\"expires\": 1700604900", "\"expires\": null", "expires: not an integer" },
                { "\"expires\": 1700604900", "\"expires\": 0", "expires: 0 is not after updated" },
                { "\"expires\": 1700604900", "\"expires\": 1700000100", "expires: 1700000100 is not after updated" },
                { "\"expires\": 1700604900", "\"expires\": 1", "is not after updated" },
                { "\"expires\": 1700604900", "\"expires\": 1, \"expires\": 1700604900", "duplicate key" },
                { "\"expires\": 1700604900", "\"expiry\": 1700604900", "expiry: unknown key" },
                { "\"format\": 1", "\"format\": 2", "format: unsupported" },
        };
        refuse_swaps(NAMED, swaps, ELEMENTSOF(swaps));
        /* Too long. */
        (void) snprintf(buf, sizeof buf, "{\"format\": 1, \"name\": \"%s\", \"serial\": 1, \"updated\": 1, \"releases\": []}",
                        longname);
        assert_true(parse(buf, &c2) < 0);
        assert_non_null(strstr(err_message(EINVAL), "name"));

        /* Serialize refuses what parse would refuse: the publisher cannot sign it. */
        static const char *const bad_names[] = { "", "a\nb", "tab\there", "\x7f" };
        for (size_t i = 0; i < ELEMENTSOF(bad_names); i++) {
                c->expires = 0;
                c->name = strdup(bad_names[i]);
                free(TAKE_PTR(out));
                assert_true(channel_serialize(c, &out, &n) < 0);
                assert_null(out);
                assert_true(channel_name_validate(bad_names[i]) < 0);
                free(TAKE_PTR(c->name));
        }
        c->name = longname;
        assert_true(channel_serialize(c, &out, &n) < 0);
        c->name = NULL;
        c->expires = c->updated;
        assert_true(channel_serialize(c, &out, &n) < 0);
        assert_non_null(strstr(err_message(EINVAL), "expires"));
        c->expires = (uint64_t) INT64_MAX + 1;
        assert_true(channel_serialize(c, &out, &n) < 0);
        c->expires = INT64_MAX;
        assert_int_equal(channel_serialize(c, &out, &n), 0);
        assert_non_null(strstr(out, "\"expires\": 9223372036854775807,"));
        channel_free(TAKE_PTR(c2));
        assert_int_equal(channel_parse(out, n, &c2), 0);
        assert_int_equal(c2->expires, INT64_MAX);
}

static void test_check_name(void **state) {
        Channel c = {};

        /* The device names no channel: any name, or none, is fine. */
        assert_int_equal(channel_check_name(&c, NULL), 0);
        c.name = (char *) "edge";
        assert_int_equal(channel_check_name(&c, NULL), 0);
        /* It names one: only that one. */
        c.name = (char *) "stable";
        assert_int_equal(channel_check_name(&c, "stable"), 0);
        c.name = (char *) "edge";
        err_clear();
        assert_int_equal(channel_check_name(&c, "stable"), -EACCES);
        assert_string_equal(err_message(EACCES), "signed name 'edge' is not [Update] ChannelName=stable");
        c.name = (char *) "Stable";
        assert_int_equal(channel_check_name(&c, "stable"), -EACCES);
        c.name = (char *) "stable ";
        assert_int_equal(channel_check_name(&c, "stable"), -EACCES);
        /* A channel without a name is no proof of being the one named. */
        c.name = NULL;
        err_clear();
        assert_int_equal(channel_check_name(&c, "stable"), -EACCES);
        assert_string_equal(err_message(EACCES), "no signed name, but [Update] ChannelName=stable");
}

static void test_round_trip(void **state) {
        _cleanup_(channel_freep) Channel *c = NULL, *c2 = NULL;
        _cleanup_free_ char *out = NULL, *out2 = NULL;
        size_t n = 0, n2 = 0;

        assert_int_equal(parse(GOOD, &c), 0);
        assert_int_equal(channel_serialize(c, &out, &n), 0);
        assert_int_equal(n, strlen(out));
        /* GOOD is canonical already. */
        assert_string_equal(out, GOOD);
        assert_int_equal(channel_parse(out, n, &c2), 0);
        assert_int_equal(channel_serialize(c2, &out2, &n2), 0);
        assert_int_equal(n, n2);
        assert_memory_equal(out, out2, n);

        /* Sorted by compatible whatever the order in memory. */
        ChannelRelease tmp = c->releases[0];
        c->releases[0] = c->releases[1];
        c->releases[1] = tmp;
        free(TAKE_PTR(out2));
        assert_int_equal(channel_serialize(c, &out2, &n2), 0);
        assert_string_equal(out2, GOOD);

        /* An empty channel. */
        Channel empty = { .serial = 1, .updated = 5 };
        free(TAKE_PTR(out2));
        assert_int_equal(channel_serialize(&empty, &out2, &n2), 0);
        assert_string_equal(out2, "{\n  \"format\": 1,\n  \"releases\": [],\n  \"serial\": 1,\n  \"updated\": 5\n}\n");
        channel_free(TAKE_PTR(c2));
        assert_int_equal(channel_parse(out2, n2, &c2), 0);
        assert_int_equal(c2->n_releases, 0);

        /* Serialize refuses what parse would refuse. */
        c->releases[0].percent_bp = 10001;
        free(TAKE_PTR(out2));
        assert_true(channel_serialize(c, &out2, &n2) < 0);
        assert_null(out2);
}

static void test_set_release(void **state) {
        _cleanup_(channel_freep) Channel *c = calloc(1, sizeof(Channel));
        assert_non_null(c);

        ChannelRelease r = { .compatible = strdup("a"), .version = strdup("1"), .bundle = strdup("b"),
                             .percent_bp = 100 };
        assert_int_equal(channel_set_release(c, &r), 0);
        assert_null(r.compatible);
        ChannelRelease r2 = { .compatible = strdup("a"), .version = strdup("2"), .bundle = strdup("b") };
        assert_int_equal(channel_set_release(c, &r2), 0);
        assert_int_equal(c->n_releases, 1);
        assert_string_equal(c->releases[0].version, "2");
        ChannelRelease r3 = { .compatible = strdup("b"), .version = strdup("1"), .bundle = strdup("b"),
                              .percent_bp = 10001 };
        assert_true(channel_set_release(c, &r3) < 0);
        free(r3.compatible);
        free(r3.version);
        free(r3.bundle);
        assert_int_equal(c->n_releases, 1);
}

static void test_percent(void **state) {
        unsigned bp = 0;
        char s[8];
        static const struct {
                const char *in;
                unsigned bp;
                const char *out;
        } good[] = {
                { "0", 0, "0" },     { "25", 2500, "25" },     { "25%", 2500, "25" }, { "12.5", 1250, "12.5" },
                { "0.01", 1, "0.01" }, { "99.99", 9999, "99.99" }, { "100", 10000, "100" }, { "5.10", 510, "5.1" },
        };
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                assert_int_equal(channel_percent_parse(good[i].in, &bp), 0);
                assert_int_equal(bp, good[i].bp);
                channel_percent_format(bp, s);
                assert_string_equal(s, good[i].out);
        }
        static const char *const bad[] = { "", "101", "100.01", "1.234", "-1", "x", "1.", ".5", "25 ", "1000" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_true(channel_percent_parse(bad[i], &bp) < 0);
}

static void test_window(void **state) {
        ChannelWindow w;
        char s[12];

        assert_int_equal(channel_window_parse("02:00-04:30", &w), 0);
        assert_true(w.set);
        channel_window_format(&w, s);
        assert_string_equal(s, "02:00-04:30");
        /* 1970-01-02 is a day later: only the time of day counts. */
        assert_false(channel_window_contains(&w, 86400 + 1 * 3600 + 59 * 60));
        assert_true(channel_window_contains(&w, 86400 + 2 * 3600));
        assert_true(channel_window_contains(&w, 86400 + 4 * 3600 + 29 * 60 + 59));
        assert_false(channel_window_contains(&w, 86400 + 4 * 3600 + 30 * 60));

        /* Wrapping midnight: [22:00, 24:00) and [00:00, 03:00). */
        assert_int_equal(channel_window_parse("22:00-03:00", &w), 0);
        assert_false(channel_window_contains(&w, 21 * 3600 + 59 * 60));
        assert_true(channel_window_contains(&w, 22 * 3600));
        assert_true(channel_window_contains(&w, 23 * 3600 + 59 * 60));
        assert_true(channel_window_contains(&w, 86400));
        assert_true(channel_window_contains(&w, 86400 + 2 * 3600 + 59 * 60));
        assert_false(channel_window_contains(&w, 86400 + 3 * 3600));
        assert_false(channel_window_contains(&w, 12 * 3600));

        ChannelWindow unset = {};
        assert_true(channel_window_contains(&unset, 12345));
        channel_window_format(&unset, s);
        assert_string_equal(s, "");

        static const char *const bad[] = { "25:00-01:00", "00:00-00:00", "24:00-01:00", "00:60-01:00", "0:00-01:00",
                                           "00:00_01:00", "00:00-01:00x", "", "aa:bb-cc:dd", "00:00-01" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_true(channel_window_parse(bad[i], &w) < 0);
}

static void test_verdict_strings(void **state) {
        for (int v = 0; v < _CHANNEL_VERDICT_MAX; v++) {
                assert_non_null(channel_verdict_to_string(v));
                assert_int_equal(channel_verdict_from_string(channel_verdict_to_string(v)), v);
        }
        assert_null(channel_verdict_to_string(_CHANNEL_VERDICT_MAX));
        assert_true(channel_verdict_from_string("nope") < 0);
        assert_string_equal(channel_verdict_to_string(CHANNEL_UP_TO_DATE), "up-to-date");
}

static const char *machine_id(unsigned i, char id[static 33]) {
        uint8_t d[SHA256_DIGEST_SIZE];
        char idx[16];
        (void) snprintf(idx, sizeof idx, "%u", i);
        assert_int_equal(sha256_buf(idx, strlen(idx), d), 0);
        hex_encode(d, 16, id);
        return id;
}

/* A machine-id whose bucket for (c, v) is below or not below bp. */
static const char *find_id(const char *c, const char *v, unsigned bp, bool in, char id[static 33]) {
        for (unsigned i = 0; i < 100000; i++)
                if ((channel_bucket(machine_id(i, id), c, v) < bp) == in)
                        return id;
        fail();
        return NULL;
}

static void test_bucket(void **state) {
        char id[33];

        /* The documented derivation, recomputed here. */
        uint8_t d[SHA256_DIGEST_SIZE];
        static const char in[] = "abide-rollout\0m1\0comp\0v2";
        assert_int_equal(sha256_buf(in, sizeof in - 1, d), 0);
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
                v = v << 8 | d[i];
        assert_int_equal(channel_bucket("m1", "comp", "v2"), v % 10000);
        /* Stable, and depends on each part. */
        assert_int_equal(channel_bucket("m1", "comp", "v2"), channel_bucket("m1", "comp", "v2"));
        unsigned b = channel_bucket("m1", "comp", "v2");
        assert_true(b != channel_bucket("m2", "comp", "v2") || b != channel_bucket("m1", "comp", "v3") ||
                    b != channel_bucket("m1", "comq", "v2"));
        /* The separators keep "ab"+"c" apart from "a"+"bc". */
        assert_true(channel_bucket("ab", "c", "v") != channel_bucket("a", "bc", "v") ||
                    channel_bucket("ab", "c", "w") != channel_bucket("a", "bc", "w"));
        (void) machine_id(0, id);
}

static void test_simulation(void **state) {
        enum { N = 10000 };
        static const unsigned targets[] = { 500, 2500, 10000 };
        static bool in5[N];
        char id[33];

        for (size_t t = 0; t < ELEMENTSOF(targets); t++) {
                unsigned n = 0;
                for (unsigned i = 0; i < N; i++) {
                        bool in = channel_bucket(machine_id(i, id), "abide-demo", "2.0") < targets[t];
                        n += in;
                        if (targets[t] == 500)
                                in5[i] = in;
                        /* Raising 5 % to 25 % keeps every device already in. */
                        if (targets[t] == 2500 && in5[i] && !in)
                                fail_msg("device %u left the rollout going 5 %% -> 25 %%", i);
                }
                /* Within ±1 point: N * bp / 10000 ± 100 devices. */
                long want = (long) N * targets[t] / 10000;
                if (labs((long) n - want) > N / 100)
                        fail_msg("%u of %d devices at %u bp, want %ld ± %d", n, N, targets[t], want, N / 100);
        }

        /* Another version draws a different sample (no ring of the same devices forever). */
        unsigned same = 0, n5 = 0;
        for (unsigned i = 0; i < N; i++) {
                if (!in5[i])
                        continue;
                n5++;
                same += channel_bucket(machine_id(i, id), "abide-demo", "3.0") < 500;
        }
        assert_true(same < n5 / 2);
}

typedef struct Fixture {
        Channel *c;
        ChannelRelease *r;
        ChannelDevice d;
        char id_in[33], id_out[33];
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof *f);
        assert_non_null(f);
        assert_int_equal(parse(GOOD, &f->c), 0);
        f->r = channel_find(f->c, "abide-demo");
        f->r->halted = false;
        free(TAKE_PTR(f->r->halt_reason));
        f->r->window = (ChannelWindow) {};
        f->r->percent_bp = 2500;
        find_id("abide-demo", "2.0", 2500, true, f->id_in);
        find_id("abide-demo", "2.0", 2500, false, f->id_out);
        f->d = (ChannelDevice) {
                .machine_id = f->id_in,
                .compatible = "abide-demo",
                .running_version = "1.0",
                .floor = 3,
                .last_serial = 7,
                .now = 1700000100 + 86400,
        };
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        channel_free(f->c);
        free(f);
        return 0;
}

static ChannelDecision decide(Fixture *f, ChannelVerdict want, const char *needle) {
        ChannelDecision dec;
        memset(&dec, 0x55, sizeof dec);
        channel_decide(f->c, &f->d, &dec);
        if (dec.verdict != want || !strstr(dec.reason, needle))
                fail_msg("got %s '%s', want %s with '%s'", channel_verdict_to_string(dec.verdict), dec.reason,
                         channel_verdict_to_string(want), needle);
        assert_null(strchr(dec.reason, '\n'));
        return dec;
}

static void test_decide_install(void **state) {
        Fixture *f = *state;
        ChannelDecision dec = decide(f, CHANNEL_INSTALL, "install 2.0 (running 1.0)");
        assert_ptr_equal(dec.release, f->r);
        assert_true(dec.bucket < 2500);
        assert_int_equal(dec.bucket, channel_bucket(f->id_in, "abide-demo", "2.0"));
        /* The same serial again is no replay. */
        f->d.last_serial = 7;
        decide(f, CHANNEL_INSTALL, "bucket");
        f->d.last_serial = 0;
        decide(f, CHANNEL_INSTALL, "(25.00 %)");
        /* Versions are not ordered: the channel may name an older one. */
        f->d.running_version = "9.0";
        decide(f, CHANNEL_INSTALL, "install 2.0 (running 9.0)");
        /* The device's own strings cannot break the reason's line. */
        f->d.running_version = "9.0\nforged";
        decide(f, CHANNEL_INSTALL, "install 2.0 (running 9.0?forged)");
        /* At the floor is fine. */
        f->d.floor = 3;
        decide(f, CHANNEL_INSTALL, "install");
        /* The other slot holding it, neither pending nor bad (e.g. an old copy): install again. */
        f->d.other_version = "2.0";
        decide(f, CHANNEL_INSTALL, "install");
        /* 100 %: everyone. */
        f->d.machine_id = f->id_out;
        f->r->percent_bp = 10000;
        decide(f, CHANNEL_INSTALL, "(100.00 %)");
}

static void test_decide_replay(void **state) {
        Fixture *f = *state;
        f->d.last_serial = 8;
        ChannelDecision dec = decide(f, CHANNEL_REPLAY, "replay: channel serial 7 < 8");
        assert_null(dec.release);
        /* Before anything else. */
        f->d.compatible = "unknown";
        decide(f, CHANNEL_REPLAY, "replay");
}

static void test_decide_no_release(void **state) {
        Fixture *f = *state;
        f->d.compatible = "unknown";
        ChannelDecision dec = decide(f, CHANNEL_NO_RELEASE, "no release for compatible 'unknown'");
        assert_null(dec.release);
}

static void test_decide_up_to_date(void **state) {
        Fixture *f = *state;
        f->d.running_version = "2.0";
        /* Even halted, out of the rollout and below the floor. */
        f->r->halted = true;
        f->d.machine_id = f->id_out;
        f->d.floor = 99;
        ChannelDecision dec = decide(f, CHANNEL_UP_TO_DATE, "up to date: running 2.0");
        assert_ptr_equal(dec.release, f->r);
}

static void test_decide_pending_and_failed(void **state) {
        Fixture *f = *state;
        f->d.other_version = "2.0";
        f->d.other_pending = true;
        f->r->halted = true;
        decide(f, CHANNEL_ALREADY_PENDING, "already pending: 2.0");
        /* Pending wins over bad (both set is a caller bug, but the order is defined). */
        f->d.other_bad = true;
        decide(f, CHANNEL_ALREADY_PENDING, "already pending");
        f->d.other_pending = false;
        decide(f, CHANNEL_FAILED_HERE, "failed here: 2.0");
        /* Before the floor check. */
        f->d.floor = 99;
        decide(f, CHANNEL_FAILED_HERE, "failed here");
        /* Another version in the other slot does not matter, pending or bad. */
        f->d.other_version = "1.5";
        f->d.floor = 3;
        f->r->halted = false;
        decide(f, CHANNEL_INSTALL, "install");
        f->d.other_pending = true;
        decide(f, CHANNEL_INSTALL, "install");
}

static void test_decide_below_floor(void **state) {
        Fixture *f = *state;
        f->d.floor = 4;
        f->r->halted = true;
        decide(f, CHANNEL_BELOW_FLOOR, "below floor: 2.0 has security version 3 < floor 4");
}

static void test_decide_halted(void **state) {
        Fixture *f = *state;
        f->r->halted = true;
        f->d.machine_id = f->id_out;
        decide(f, CHANNEL_HALTED, "halted: 2.0");
        f->r->halt_reason = strdup("3 of 40 rolled back");
        decide(f, CHANNEL_HALTED, "halted: 2.0: 3 of 40 rolled back");
}

static void test_decide_rollout(void **state) {
        Fixture *f = *state;
        f->d.machine_id = f->id_out;
        f->r->window = (ChannelWindow) { .set = true, .start_min = 0, .end_min = 1 };
        ChannelDecision dec = decide(f, CHANNEL_NOT_IN_ROLLOUT, "not in rollout: bucket ");
        assert_true(dec.bucket >= 2500);
        char want[80];
        (void) snprintf(want, sizeof want, "not in rollout: bucket %u >= 2500 (25.00 %%)", dec.bucket);
        assert_string_equal(dec.reason, want);
        /* The boundary: a device is in when its bucket is below percent_bp. */
        f->r->percent_bp = dec.bucket;
        decide(f, CHANNEL_NOT_IN_ROLLOUT, "not in rollout");
        f->r->percent_bp = dec.bucket + 1;
        decide(f, CHANNEL_OUTSIDE_WINDOW, "outside window");
        f->r->percent_bp = 0;
        f->d.machine_id = f->id_in;
        decide(f, CHANNEL_NOT_IN_ROLLOUT, ">= 0 (0.00 %)");
}

static void test_decide_expired(void **state) {
        Fixture *f = *state;
        const uint64_t updated = 1700000100, week = 7 * 86400;

        /* No expires: no clock is too late. */
        f->d.now = updated + 30ULL * 366 * 86400;
        decide(f, CHANNEL_INSTALL, "install");
        assert_int_equal(channel_expiry_judge(f->c, f->d.now), CHANNEL_EXPIRY_NONE);

        f->c->expires = updated + week;
        f->d.now = updated + week - 1;
        decide(f, CHANNEL_INSTALL, "install");
        assert_int_equal(channel_expiry_judge(f->c, f->d.now), CHANNEL_EXPIRY_VALID);
        f->d.now = updated + week;
        ChannelDecision dec = decide(f, CHANNEL_EXPIRED,
                                     "expired: channel serial 7 expired at 1700604900, the device clock is 1700604900 (0 s later)");
        assert_null(dec.release);
        assert_int_equal(channel_expiry_judge(f->c, f->d.now), CHANNEL_EXPIRY_PAST);
        f->d.now = updated + week + 86400;
        decide(f, CHANNEL_EXPIRED, "(86400 s later); its publisher has not re-signed it");
        /* Before every rule but the replay: whatever the release says. */
        f->d.compatible = "unknown";
        decide(f, CHANNEL_EXPIRED, "expired");
        f->d.compatible = "abide-demo";
        f->d.running_version = "2.0";
        decide(f, CHANNEL_EXPIRED, "expired");
        f->d.last_serial = 8;
        decide(f, CHANNEL_REPLAY, "replay");
        f->d.last_serial = 7;
        f->d.running_version = "1.0";

        /* A clock that is not believed refuses nothing: unset, before the last change (both
         * before expires anyway), or further past updated than a clock is likely right. */
        f->d.now = 0;
        decide(f, CHANNEL_INSTALL, "install");
        assert_int_equal(channel_expiry_judge(f->c, 0), CHANNEL_EXPIRY_CLOCK_WRONG);
        f->d.now = updated - 1;
        decide(f, CHANNEL_INSTALL, "install");
        assert_int_equal(channel_expiry_judge(f->c, f->d.now), CHANNEL_EXPIRY_CLOCK_WRONG);
        f->d.now = updated + CHANNEL_CLOCK_AHEAD_MAX;
        decide(f, CHANNEL_EXPIRED, "expired");
        f->d.now = updated + CHANNEL_CLOCK_AHEAD_MAX + 1;
        decide(f, CHANNEL_INSTALL, "install");
        assert_int_equal(channel_expiry_judge(f->c, f->d.now), CHANNEL_EXPIRY_CLOCK_WRONG);
        /* 2070, as a Linux guest reads a CMOS year of 70. */
        f->d.now = 3155760000;
        decide(f, CHANNEL_INSTALL, "install");
        f->d.now = UINT64_MAX;
        decide(f, CHANNEL_INSTALL, "install");
}

static void test_decide_window(void **state) {
        Fixture *f = *state;
        assert_int_equal(channel_window_parse("22:00-03:00", &f->r->window), 0);
        /* 1700000100 + 1 day is 22:15 UTC: inside. */
        decide(f, CHANNEL_INSTALL, "; inside window 22:00-03:00");
        f->d.now = 1700000100 + 86400 + 3600 * 12;
        decide(f, CHANNEL_OUTSIDE_WINDOW, "outside window: 10:15 UTC is not in 22:00-03:00");
        /* Past midnight, still inside. */
        f->d.now = 1700000100 + 86400 + 3600 * 4;
        decide(f, CHANNEL_INSTALL, "inside window");
        /* A clock known to be wrong does not hold the device back. */
        f->d.now = 0;
        decide(f, CHANNEL_INSTALL, "window 22:00-03:00 not honoured: device clock 0 is unset");
        f->d.now = 1700000100 - 3600 * 12;
        decide(f, CHANNEL_INSTALL, "not honoured: device clock 1699956900 is before the channel's last update");
        /* From the channel's last update on, the clock is believed. */
        f->d.now = 1700000100;
        decide(f, CHANNEL_INSTALL, "; inside window");
        f->d.now = 1700000100 + 3600 * 12;
        decide(f, CHANNEL_OUTSIDE_WINDOW, "outside window");
        /* The rollout is checked before the window. */
        f->d.machine_id = f->id_out;
        decide(f, CHANNEL_NOT_IN_ROLLOUT, "not in rollout");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_good),
                cmocka_unit_test(test_parse_bad),
                cmocka_unit_test(test_name_expires),
                cmocka_unit_test(test_check_name),
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_set_release),
                cmocka_unit_test(test_percent),
                cmocka_unit_test(test_window),
                cmocka_unit_test(test_verdict_strings),
                cmocka_unit_test(test_bucket),
                cmocka_unit_test(test_simulation),
                cmocka_unit_test_setup_teardown(test_decide_install, setup, teardown),
                cmocka_unit_test_setup_teardown(test_decide_replay, setup, teardown),
                cmocka_unit_test_setup_teardown(test_decide_no_release, setup, teardown),
                cmocka_unit_test_setup_teardown(test_decide_up_to_date, setup, teardown),
                cmocka_unit_test_setup_teardown(test_decide_pending_and_failed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_decide_below_floor, setup, teardown),
                cmocka_unit_test_setup_teardown(test_decide_halted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_decide_rollout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_decide_window, setup, teardown),
                cmocka_unit_test_setup_teardown(test_decide_expired, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
