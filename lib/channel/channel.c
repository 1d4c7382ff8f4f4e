/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/json-scan.h"
#include "basic/json-strict.h"
#include "channel/channel.h"

/* The channel is signed, so anything the format does not define is an error
 * rather than something to skip: the publisher, a verifier and the device
 * must never disagree on what was signed. */

#define CHANNEL_STRING_MAX 256
#define CHANNEL_BUNDLE_MAX 4096
#define CHANNEL_REASON_MAX 1024

static void channel_release_done(ChannelRelease *r) {
        free(r->compatible);
        free(r->version);
        free(r->bundle);
        free(r->stages_bp);
        free(r->halt_reason);
        *r = (ChannelRelease) {};
}

Channel *channel_free(Channel *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_releases; i++)
                channel_release_done(&c->releases[i]);
        free(c->releases);
        free(c->name);
        free(c);
        return NULL;
}

ChannelRelease *channel_find(const Channel *c, const char *compatible) {
        if (!c || !compatible)
                return NULL;
        for (size_t i = 0; i < c->n_releases; i++)
                if (streq(c->releases[i].compatible, compatible))
                        return &c->releases[i];
        return NULL;
}

int channel_percent_parse(const char *s, unsigned *ret) {
        unsigned whole = 0, frac = 0;
        size_t i = 0, digits = 0;

        if (!s)
                return -EINVAL;
        for (; s[i] >= '0' && s[i] <= '9' && digits < 3; i++, digits++)
                whole = whole * 10 + (unsigned) (s[i] - '0');
        if (digits == 0)
                return -EINVAL;
        if (s[i] == '.') {
                size_t f = 0;
                for (i++; s[i] >= '0' && s[i] <= '9' && f < 2; i++, f++)
                        frac = frac * 10 + (unsigned) (s[i] - '0');
                if (f == 0)
                        return -EINVAL;
                if (f == 1)
                        frac *= 10;
        }
        if (s[i] == '%')
                i++;
        if (s[i] != 0 || whole * 100 + frac > 10000)
                return -EINVAL;
        *ret = whole * 100 + frac;
        return 0;
}

void channel_percent_format(unsigned bp, char ret[static 8]) {
        if (bp > 10000)
                bp = 10000;
        if (bp % 100 == 0)
                (void) snprintf(ret, 8, "%u", bp / 100);
        else if (bp % 10 == 0)
                (void) snprintf(ret, 8, "%u.%u", bp / 100, bp % 100 / 10);
        else
                (void) snprintf(ret, 8, "%u.%02u", bp / 100, bp % 100);
}

static bool string_ok(const char *s) {
        for (const unsigned char *p = (const unsigned char *) s; *p; p++)
                if (*p < 0x20 || *p == 0x7f)
                        return false;
        return true;
}

/* What both parse and serialize insist on, so the publisher cannot sign what
 * a device would refuse. */
static int release_validate(const ChannelRelease *r, const char *p) {
        if (!r->compatible || !*r->compatible || strlen(r->compatible) > CHANNEL_STRING_MAX || !string_ok(r->compatible))
                return err_set(EINVAL, "channel: %scompatible: empty, too long or has a control character", p);
        if (!r->version || !*r->version || strlen(r->version) > CHANNEL_STRING_MAX || !string_ok(r->version))
                return err_set(EINVAL, "channel: %sversion: empty, too long or has a control character", p);
        if (!r->bundle || !*r->bundle || strlen(r->bundle) > CHANNEL_BUNDLE_MAX || !string_ok(r->bundle))
                return err_set(EINVAL, "channel: %sbundle: empty, too long or has a control character", p);
        if (r->security_version > INT64_MAX || r->size > INT64_MAX || r->published > INT64_MAX)
                return err_set(EINVAL, "channel: %s: a number past 2^63-1", p);
        if (r->percent_bp > 10000)
                return err_set(EINVAL, "channel: %spercent: above 100", p);
        for (size_t i = 0; i < r->n_stages; i++) {
                if (r->stages_bp[i] == 0 || r->stages_bp[i] > 10000)
                        return err_set(EINVAL, "channel: %sstages[%zu]: not in (0, 100]", p, i);
                if (i > 0 && r->stages_bp[i] <= r->stages_bp[i - 1])
                        return err_set(EINVAL, "channel: %sstages[%zu]: not ascending", p, i);
        }
        if (r->n_stages > 0 && r->stages_bp[r->n_stages - 1] != 10000)
                return err_set(EINVAL, "channel: %sstages: the last stage is not 100", p);
        if (r->halt_reason && (!r->halted || strlen(r->halt_reason) > CHANNEL_REASON_MAX || !string_ok(r->halt_reason)))
                return err_set(EINVAL, "channel: %shalt_reason: without halted, too long or has a control character", p);
        if (r->window.set && (r->window.start_min >= 24 * 60 || r->window.end_min >= 24 * 60 ||
                              r->window.start_min == r->window.end_min))
                return err_set(EINVAL, "channel: %swindow: not HH:MM-HH:MM with two different times", p);
        return 0;
}

int channel_name_validate(const char *name) {
        if (!name || !*name)
                return err_set(EINVAL, "channel: name: empty");
        if (strlen(name) > CHANNEL_NAME_MAX)
                return err_set(EINVAL, "channel: name: longer than %d bytes", CHANNEL_NAME_MAX);
        if (!string_ok(name))
                return err_set(EINVAL, "channel: name: contains a control character");
        return 0;
}

int channel_check_name(const Channel *c, const char *want) {
        if (!want)
                return 0;
        if (!c->name)
                return err_set(EACCES, "no signed name, but [Update] ChannelName=%.64s", want);
        if (!streq(c->name, want))
                return err_set(EACCES, "signed name '%.64s' is not [Update] ChannelName=%.64s", c->name, want);
        return 0;
}

static int channel_validate(const Channel *c) {
        int r;

        if (c->serial > INT64_MAX || c->updated > INT64_MAX || c->expires > INT64_MAX)
                return err_set(EINVAL, "channel: serial, updated or expires past 2^63-1");
        /* Born expired would be refused by every device with a plausible clock; and a
         * clock before updated is known to be wrong, so it can never judge an expiry. */
        if (c->expires != 0 && c->expires <= c->updated)
                return err_set(EINVAL, "channel: expires: %" PRIu64 " is not after updated %" PRIu64, c->expires,
                               c->updated);
        if (c->name) {
                r = channel_name_validate(c->name);
                if (r < 0)
                        return r;
        }
        if (c->n_releases > CHANNEL_RELEASES_MAX)
                return err_set(E2BIG, "channel: releases: more than %d entries", CHANNEL_RELEASES_MAX);
        for (size_t i = 0; i < c->n_releases; i++) {
                char p[32];
                (void) snprintf(p, sizeof p, "releases[%zu].", i);
                r = release_validate(&c->releases[i], p);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < i; j++)
                        if (streq(c->releases[j].compatible, c->releases[i].compatible))
                                return err_set(EINVAL, "channel: releases[%zu].compatible: duplicate '%.64s'", i,
                                               c->releases[i].compatible);
        }
        return 0;
}

/* A string as json_strict_get_string() reads it, without control characters. */
static int get_string(json_object *o, const char *prefix, const char *key, size_t max, char **ret) {
        _cleanup_free_ char *s = NULL;
        int r;

        r = json_strict_get_string("channel", o, prefix, key, max, &s);
        if (r < 0)
                return r;
        if (!string_ok(s))
                return err_set(EINVAL, "channel: %s%s: contains a control character", prefix, key);
        *ret = TAKE_PTR(s);
        return 0;
}

/* A percentage: an integer or a number with at most two decimals, 0..100. */
static int percent_from_json(json_object *v, const char *prefix, const char *key, unsigned *ret) {
        if (json_object_is_type(v, json_type_int)) {
                int64_t i = json_object_get_int64(v);
                if (i < 0 || i > 100)
                        return err_set(EINVAL, "channel: %s%s: not a percentage in 0..100", prefix, key);
                *ret = (unsigned) i * 100;
                return 0;
        }
        if (json_object_is_type(v, json_type_double)) {
                double d = json_object_get_double(v);
                if (!(d >= 0 && d <= 100))
                        return err_set(EINVAL, "channel: %s%s: not a percentage in 0..100", prefix, key);
                unsigned bp = (unsigned) (d * 100 + 0.5);
                double diff = d * 100 - bp;
                if (diff > 1e-6 || diff < -1e-6)
                        return err_set(EINVAL, "channel: %s%s: more than two decimals", prefix, key);
                *ret = bp;
                return 0;
        }
        return err_set(EINVAL, "channel: %s%s: not a number", prefix, key);
}

static int parse_release(json_object *o, size_t i, ChannelRelease *rel) {
        static const char *const keys[] = { "bundle",  "compatible", "halt_reason", "halted",
                                            "manifest_sha256", "percent", "published", "security_version",
                                            "size",    "stages",     "version",     "window",
                                            NULL };
        json_object *v = NULL;
        char p[32];
        int r;

        (void) snprintf(p, sizeof p, "releases[%zu].", i);
        if (!json_object_is_type(o, json_type_object))
                return err_set(EINVAL, "channel: releases[%zu]: not an object", i);
        r = json_strict_check_keys("channel", o, p, keys);
        if (r < 0)
                return r;
        r = get_string(o, p, "compatible", CHANNEL_STRING_MAX, &rel->compatible);
        if (r < 0)
                return r;
        r = get_string(o, p, "version", CHANNEL_STRING_MAX, &rel->version);
        if (r < 0)
                return r;
        r = json_strict_get_u63("channel", o, p, "security_version", &rel->security_version);
        if (r < 0)
                return r;
        r = get_string(o, p, "bundle", CHANNEL_BUNDLE_MAX, &rel->bundle);
        if (r < 0)
                return r;
        r = json_strict_get_u63("channel", o, p, "size", &rel->size);
        if (r < 0)
                return r;
        r = json_strict_get_u63("channel", o, p, "published", &rel->published);
        if (r < 0)
                return r;

        {
                _cleanup_free_ char *hex = NULL;
                _cleanup_free_ uint8_t *bytes = NULL;
                size_t n = 0;
                r = get_string(o, p, "manifest_sha256", CHANNEL_STRING_MAX, &hex);
                if (r < 0)
                        return r;
                bool ok = strlen(hex) == SHA256_DIGEST_SIZE * 2;
                for (size_t k = 0; ok && hex[k]; k++)
                        ok = (hex[k] >= '0' && hex[k] <= '9') || (hex[k] >= 'a' && hex[k] <= 'f');
                if (!ok || hex_decode(hex, strlen(hex), &bytes, &n) < 0 || n != SHA256_DIGEST_SIZE)
                        return err_set(EINVAL, "channel: %smanifest_sha256: not 64 lowercase hex digits", p);
                memcpy(rel->manifest_sha256, bytes, n);
        }

        if (!json_object_object_get_ex(o, "percent", &v))
                return err_set(EINVAL, "channel: %spercent: missing", p);
        r = percent_from_json(v, p, "percent", &rel->percent_bp);
        if (r < 0)
                return r;

        r = json_strict_get_member("channel", o, p, "stages", json_type_array, "an array", &v);
        if (r < 0)
                return r;
        size_t n = json_object_array_length(v);
        if (n > 100)
                return err_set(E2BIG, "channel: %sstages: more than 100 entries", p);
        rel->stages_bp = calloc(n ? n : 1, sizeof *rel->stages_bp);
        if (!rel->stages_bp)
                return -ENOMEM;
        for (size_t k = 0; k < n; k++) {
                char key[24];
                (void) snprintf(key, sizeof key, "stages[%zu]", k);
                r = percent_from_json(json_object_array_get_idx(v, k), p, key, &rel->stages_bp[k]);
                if (r < 0)
                        return r;
                rel->n_stages = k + 1;
        }

        r = json_strict_get_member("channel", o, p, "halted", json_type_boolean, "a boolean", &v);
        if (r < 0)
                return r;
        rel->halted = json_object_get_boolean(v);
        if (json_object_object_get_ex(o, "halt_reason", NULL)) {
                r = get_string(o, p, "halt_reason", CHANNEL_REASON_MAX, &rel->halt_reason);
                if (r < 0)
                        return r;
        }

        if (json_object_object_get_ex(o, "window", NULL)) {
                _cleanup_free_ char *w = NULL;
                r = get_string(o, p, "window", CHANNEL_STRING_MAX, &w);
                if (r < 0)
                        return r;
                if (channel_window_parse(w, &rel->window) < 0)
                        return err_set(EINVAL, "channel: %swindow: '%.32s' is not HH:MM-HH:MM (00:00..23:59, "
                                       "two different times)", p, w);
        }
        return release_validate(rel, p);
}

static int parse_object(json_object *root, Channel *c) {
        static const char *const keys[] = { "expires", "format", "name", "releases", "serial", "updated", NULL };
        json_object *v = NULL;
        uint64_t u;
        int r;

        /* The format comes first: a future format may use other keys. */
        r = json_strict_get_u63("channel", root, "", "format", &u);
        if (r < 0)
                return r;
        if (u != CHANNEL_FORMAT)
                return err_set(EPROTONOSUPPORT, "channel: format: unsupported version %" PRIu64 " (expected %d)", u,
                               CHANNEL_FORMAT);
        r = json_strict_check_keys("channel", root, "", keys);
        if (r < 0)
                return r;
        r = json_strict_get_u63("channel", root, "", "serial", &c->serial);
        if (r < 0)
                return r;
        r = json_strict_get_u63("channel", root, "", "updated", &c->updated);
        if (r < 0)
                return r;
        /* Optional: a present one must be valid, never skipped. */
        if (json_object_object_get_ex(root, "name", NULL)) {
                r = get_string(root, "", "name", CHANNEL_NAME_MAX, &c->name);
                if (r < 0)
                        return r;
        }
        if (json_object_object_get_ex(root, "expires", NULL)) {
                r = json_strict_get_u63("channel", root, "", "expires", &c->expires);
                if (r < 0)
                        return r;
                /* 0 means none in memory; as a value it is never after updated. */
                if (c->expires == 0)
                        return err_set(EINVAL, "channel: expires: 0 is not after updated %" PRIu64, c->updated);
        }
        r = json_strict_get_member("channel", root, "", "releases", json_type_array, "an array", &v);
        if (r < 0)
                return r;
        size_t n = json_object_array_length(v);
        if (n > CHANNEL_RELEASES_MAX)
                return err_set(E2BIG, "channel: releases: more than %d entries", CHANNEL_RELEASES_MAX);
        c->releases = calloc(n ? n : 1, sizeof *c->releases);
        if (!c->releases)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                c->n_releases = i + 1;
                r = parse_release(json_object_array_get_idx(v, i), i, &c->releases[i]);
                if (r < 0)
                        return r;
        }
        return channel_validate(c);
}

int channel_parse(const char *json, size_t len, Channel **ret) {
        _cleanup_(json_tokener_freep) json_tokener *tok = NULL;
        _cleanup_(json_object_putp) json_object *root = NULL;
        _cleanup_(channel_freep) Channel *c = NULL;
        int r;

        if (!json || !ret)
                return -EINVAL;
        if (len > CHANNEL_MAX_SIZE)
                return err_set(EFBIG, "channel: larger than %d bytes", CHANNEL_MAX_SIZE);
        if (memchr(json, 0, len))
                return err_set(EINVAL, "channel: contains a NUL byte");

        size_t first = 0;
        while (first < len && strchr(" \t\r\n", json[first]))
                first++;
        if (first >= len || json[first] != '{')
                return err_set(EINVAL, "channel: not a JSON object");

        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT
#ifdef JSON_TOKENER_VALIDATE_UTF8
                                            | JSON_TOKENER_VALIDATE_UTF8
#endif
        );
        root = json_tokener_parse_ex(tok, json, (int) len);
        enum json_tokener_error e = json_tokener_get_error(tok);
        if (!root) {
                if (e == json_tokener_continue)
                        return err_set(EINVAL, "channel: not valid JSON: unexpected end of input");
                return err_set(EINVAL, "channel: not valid JSON at byte %zu: %s", json_tokener_get_parse_end(tok),
                               json_tokener_error_desc(e));
        }
        for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
                if (!strchr(" \t\r\n", json[i]))
                        return err_set(EINVAL, "channel: not valid JSON: trailing data at byte %zu", i);
        if (!json_object_is_type(root, json_type_object))
                return err_set(EINVAL, "channel: not a JSON object");
        /* json-c takes single-quoted strings, cuts keys at \u0000 and keeps
         * the last of duplicate keys: see json_scan(). */
        JsonScan scan;
        json_scan(json, len, &scan);
        if (scan.single_quote != SIZE_MAX)
                return err_set(EINVAL, "channel: not valid JSON at byte %zu: single-quoted string", scan.single_quote);
        if (scan.name_separators != json_strict_count_members(root))
                return err_set(EINVAL, "channel: not valid JSON: an object has a duplicate key");
        /* Before the keys are checked: a key cut at \u0000 may look known. */
        if (scan.nul_escape != SIZE_MAX)
                return err_set(EINVAL, "channel: byte %zu: a string contains a NUL character (\\u0000)",
                               scan.nul_escape);

        c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        r = parse_object(root, c);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(c);
        return 0;
}

static void put_string(FILE *f, const char *s) {
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (*p == '"' || *p == '\\')
                        fprintf(f, "\\%c", *p);
                else if (*p < 0x20 || *p == 0x7f)
                        fprintf(f, "\\u%04x", *p);
                else
                        fputc(*p, f);
        }
        fputc('"', f);
}

static int release_cmp(const void *a, const void *b) {
        const ChannelRelease *const *x = a, *const *y = b;
        return strcmp((*x)->compatible, (*y)->compatible);
}

int channel_serialize(const Channel *c, char **ret, size_t *ret_len) {
        _cleanup_free_ const ChannelRelease **order = NULL;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0;
        char pct[8];
        int r;

        if (!c || !ret)
                return -EINVAL;
        r = channel_validate(c);
        if (r < 0)
                return r;
        order = calloc(c->n_releases ? c->n_releases : 1, sizeof *order);
        if (!order)
                return -ENOMEM;
        for (size_t i = 0; i < c->n_releases; i++)
                order[i] = &c->releases[i];
        qsort(order, c->n_releases, sizeof *order, release_cmp);

        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        /* Keys in byte order, two-space indent, one member per line; absent optional keys omitted. */
        fputs("{\n", f);
        if (c->expires)
                fprintf(f, "  \"expires\": %" PRIu64 ",\n", c->expires);
        fprintf(f, "  \"format\": %d,\n", CHANNEL_FORMAT);
        if (c->name) {
                fputs("  \"name\": ", f);
                put_string(f, c->name);
                fputs(",\n", f);
        }
        fputs("  \"releases\": [", f);
        for (size_t i = 0; i < c->n_releases; i++) {
                const ChannelRelease *rel = order[i];
                char hex[SHA256_HEX_SIZE];

                fputs(i ? ",\n    {\n" : "\n    {\n", f);
                fputs("      \"bundle\": ", f);
                put_string(f, rel->bundle);
                fputs(",\n      \"compatible\": ", f);
                put_string(f, rel->compatible);
                if (rel->halt_reason) {
                        fputs(",\n      \"halt_reason\": ", f);
                        put_string(f, rel->halt_reason);
                }
                fprintf(f, ",\n      \"halted\": %s", rel->halted ? "true" : "false");
                hex_encode(rel->manifest_sha256, SHA256_DIGEST_SIZE, hex);
                fprintf(f, ",\n      \"manifest_sha256\": \"%s\"", hex);
                channel_percent_format(rel->percent_bp, pct);
                fprintf(f, ",\n      \"percent\": %s", pct);
                fprintf(f, ",\n      \"published\": %" PRIu64, rel->published);
                fprintf(f, ",\n      \"security_version\": %" PRIu64, rel->security_version);
                fprintf(f, ",\n      \"size\": %" PRIu64, rel->size);
                fputs(",\n      \"stages\": [", f);
                for (size_t k = 0; k < rel->n_stages; k++) {
                        channel_percent_format(rel->stages_bp[k], pct);
                        fprintf(f, "%s%s", k ? ", " : "", pct);
                }
                fputs("]", f);
                fputs(",\n      \"version\": ", f);
                put_string(f, rel->version);
                if (rel->window.set) {
                        char w[12];
                        channel_window_format(&rel->window, w);
                        fprintf(f, ",\n      \"window\": \"%s\"", w);
                }
                fputs("\n    }", f);
        }
        fprintf(f, "%s],\n  \"serial\": %" PRIu64 ",\n  \"updated\": %" PRIu64 "\n}\n", c->n_releases ? "\n  " : "",
                c->serial, c->updated);
        if (ferror(f)) {
                (void) fclose(f);
                return -ENOMEM;
        }
        if (fclose(f) != 0)
                return -ENOMEM;
        if (size > CHANNEL_MAX_SIZE)
                return err_set(EFBIG, "channel: serialized larger than %d bytes", CHANNEL_MAX_SIZE);
        if (ret_len)
                *ret_len = size;
        *ret = TAKE_PTR(buf);
        return 0;
}

int channel_set_release(Channel *c, ChannelRelease *rel) {
        ChannelRelease *old;
        int r;

        if (!c || !rel || !rel->compatible)
                return -EINVAL;
        r = release_validate(rel, "release.");
        if (r < 0)
                return r;
        old = channel_find(c, rel->compatible);
        if (old) {
                channel_release_done(old);
                *old = *rel;
        } else {
                if (c->n_releases >= CHANNEL_RELEASES_MAX)
                        return err_set(E2BIG, "channel: releases: more than %d entries", CHANNEL_RELEASES_MAX);
                ChannelRelease *n = reallocarray(c->releases, c->n_releases + 1, sizeof *n);
                if (!n)
                        return -ENOMEM;
                c->releases = n;
                c->releases[c->n_releases++] = *rel;
        }
        *rel = (ChannelRelease) {};
        return 0;
}
