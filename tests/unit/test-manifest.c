/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "basic/error.h"
#include "bundle/manifest.h"

#define H64(c) c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

static const char valid[] =
        "{\"format\": 1, \"name\": \"edge-demo\", \"version\": \"1.2.0\", \"compatible\": \"abide-demo-x86_64\", "
        "\"build_date\": \"2024-07-19T04:09:00Z\", \"security_version\": 7, \"filesystem\": \"erofs\", "
        "\"boot\": {\"cmdline\": \"console=ttyS0 panic=5\", \"tries\": 3}, "
        "\"verity\": {\"hash_algorithm\": \"sha256\", \"data_block_size\": 4096, \"hash_block_size\": 4096, "
        "\"data_blocks\": 256, \"salt\": \"" H64("5") "\", \"uuid\": \"0123abcd-4567-89ef-0123-456789abcdef\", "
        "\"root_hash\": \"" H64("c") "\"}, "
        "\"payloads\": ["
        "{\"name\": \"root.erofs\", \"role\": \"root\", \"size\": 1048576, \"sha256\": \"" H64("1") "\"}, "
        "{\"name\": \"root.verity\", \"role\": \"verity\", \"size\": 16384, \"sha256\": \"" H64("2") "\"}, "
        "{\"name\": \"root.verity-sig\", \"role\": \"verity-sig\", \"size\": 4096, \"sha256\": \"" H64("3") "\"}, "
        "{\"name\": \"vmlinuz\", \"role\": \"kernel\", \"size\": 0, \"sha256\": \"" H64("4") "\"}"
        "]}";

/* The valid manifest with the first occurrence of from replaced by to. */
static char *mutate(const char *from, const char *to) {
        const char *p = strstr(valid, from);
        assert_non_null(p);
        size_t pre = (size_t) (p - valid), fl = strlen(from), tl = strlen(to);
        char *out = malloc(sizeof valid - fl + tl);
        assert_non_null(out);
        memcpy(out, valid, pre);
        memcpy(out + pre, to, tl);
        strcpy(out + pre + tl, p + fl);
        return out;
}

/* The valid manifest with the text from start up to and including the next
 * end replaced by to. */
static char *mutate_range(const char *start, const char *end, const char *to) {
        const char *p = strstr(valid, start);
        assert_non_null(p);
        const char *q = strstr(p + strlen(start), end);
        assert_non_null(q);
        q += strlen(end);
        size_t pre = (size_t) (p - valid), tl = strlen(to);
        char *out = malloc(sizeof valid + tl);
        assert_non_null(out);
        memcpy(out, valid, pre);
        memcpy(out + pre, to, tl);
        strcpy(out + pre + tl, q);
        return out;
}

static void expect_parse_fail_len(const char *json, size_t len, const char *msg) {
        Manifest *sentinel = (Manifest *) (uintptr_t) 0x1, *m = sentinel;

        err_clear();
        int r = manifest_parse(json, len, &m);
        if (r >= 0)
                fail_msg("parse accepted: %.300s", json);
        assert_ptr_equal(m, sentinel);
        const char *e = err_message(r);
        if (!strstr(e, msg))
                fail_msg("error '%s' does not contain '%s'", e, msg);
        assert_non_null(strstr(e, "manifest: "));
}

static void expect_parse_fail(const char *json, const char *msg) {
        expect_parse_fail_len(json, strlen(json), msg);
}

static void expect_mutation_fails(const char *from, const char *to, const char *msg) {
        _cleanup_free_ char *j = mutate(from, to);
        expect_parse_fail(j, msg);
}

static void expect_mutation_ok(const char *from, const char *to) {
        _cleanup_free_ char *j = mutate(from, to);
        _cleanup_(manifest_freep) Manifest *m = NULL;
        err_clear();
        int r = manifest_parse(j, strlen(j), &m);
        if (r < 0)
                fail_msg("rejected (%s): %.300s", err_message(r), j);
}

static void assert_manifest_equal(const Manifest *a, const Manifest *b) {
        assert_int_equal(a->format, b->format);
        assert_string_equal(a->name, b->name);
        assert_string_equal(a->version, b->version);
        assert_string_equal(a->compatible, b->compatible);
        assert_string_equal(a->build_date, b->build_date);
        assert_int_equal(a->security_version, b->security_version);
        assert_string_equal(a->filesystem, b->filesystem);
        assert_string_equal(a->cmdline, b->cmdline);
        assert_int_equal(a->tries, b->tries);
        assert_string_equal(a->verity.hash_algorithm, b->verity.hash_algorithm);
        assert_int_equal(a->verity.data_block_size, b->verity.data_block_size);
        assert_int_equal(a->verity.hash_block_size, b->verity.hash_block_size);
        assert_int_equal(a->verity.data_blocks, b->verity.data_blocks);
        assert_int_equal(a->verity.salt_size, b->verity.salt_size);
        assert_memory_equal(a->verity.salt, b->verity.salt, a->verity.salt_size);
        assert_string_equal(a->verity.uuid, b->verity.uuid);
        assert_string_equal(a->verity.root_hash, b->verity.root_hash);
        assert_int_equal(a->n_payloads, b->n_payloads);
        for (size_t i = 0; i < a->n_payloads; i++) {
                assert_string_equal(a->payloads[i].name, b->payloads[i].name);
                assert_int_equal(a->payloads[i].role, b->payloads[i].role);
                assert_int_equal(a->payloads[i].size, b->payloads[i].size);
                assert_memory_equal(a->payloads[i].sha256, b->payloads[i].sha256, SHA256_DIGEST_SIZE);
        }
}

static void test_valid_and_round_trip(void **state) {
        _cleanup_(manifest_freep) Manifest *m = NULL, *m2 = NULL, *m3 = NULL;
        _cleanup_free_ char *j = NULL, *j2 = NULL;
        size_t len = 0, len2 = 0;

        assert_int_equal(manifest_parse(valid, strlen(valid), &m), 0);
        assert_int_equal(m->format, 1);
        assert_string_equal(m->name, "edge-demo");
        assert_string_equal(m->version, "1.2.0");
        assert_string_equal(m->compatible, "abide-demo-x86_64");
        assert_int_equal(m->security_version, 7);
        assert_string_equal(m->cmdline, "console=ttyS0 panic=5");
        assert_int_equal(m->tries, 3);
        assert_int_equal(m->verity.data_blocks, 256);
        assert_int_equal(m->verity.salt[0], 0x55);
        assert_int_equal(m->n_payloads, 4);
        assert_string_equal(m->payloads[1].name, "root.verity");
        assert_int_equal(m->payloads[1].role, PAYLOAD_VERITY);
        assert_int_equal(m->payloads[3].size, 0);
        assert_int_equal(m->payloads[2].sha256[31], 0x33);
        assert_ptr_equal(manifest_find_role(m, PAYLOAD_KERNEL), &m->payloads[3]);
        assert_null(manifest_find_role(m, PAYLOAD_INITRD));

        assert_int_equal(manifest_to_json(m, &j, &len), 0);
        assert_int_equal(len, strlen(j));
        assert_int_equal(j[len - 1], '\n');
        assert_int_equal(manifest_parse(j, len, &m2), 0);
        assert_manifest_equal(m, m2);
        assert_int_equal(manifest_to_json(m2, &j2, &len2), 0);
        assert_int_equal(len, len2);
        assert_memory_equal(j, j2, len);

        /* Fixed key order, independent of the input's order. */
        const char *keys[] = { "\"format\"", "\"name\"", "\"version\"", "\"compatible\"", "\"build_date\"",
                               "\"security_version\"", "\"filesystem\"", "\"boot\"", "\"cmdline\"", "\"tries\"",
                               "\"verity\"", "\"hash_algorithm\"", "\"data_block_size\"", "\"hash_block_size\"",
                               "\"data_blocks\"", "\"salt\"", "\"uuid\"", "\"root_hash\"", "\"payloads\"" };
        const char *prev = j;
        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                const char *p = strstr(j, keys[i]);
                assert_non_null(p);
                assert_true(p >= prev);
                prev = p;
        }

        /* Input with keys in another order and other whitespace parses to the same manifest. */
        _cleanup_free_ char *reordered = mutate("{\"format\": 1, \"name\": \"edge-demo\",",
                                                "\n{ \"name\":\"edge-demo\",\t\"format\":1,");
        assert_int_equal(manifest_parse(reordered, strlen(reordered), &m3), 0);
        assert_manifest_equal(m, m3);
}

static void test_boundaries_accepted(void **state) {
        char name[MANIFEST_STRING_MAX + 3], cmd[MANIFEST_CMDLINE_MAX + 3];

        expect_mutation_ok("\"security_version\": 7", "\"security_version\": 9223372036854775807");
        expect_mutation_ok("\"security_version\": 7", "\"security_version\": 0");
        expect_mutation_ok("\"tries\": 3", "\"tries\": 1");
        expect_mutation_ok("\"tries\": 3", "\"tries\": 16");
        expect_mutation_ok("\"filesystem\": \"erofs\"", "\"filesystem\": \"squashfs\"");
        expect_mutation_ok("\"cmdline\": \"console=ttyS0 panic=5\"", "\"cmdline\": \"\"");
        /* Colons and brackets inside strings are content, not structure (quotes
         * and backslashes are too, json_scan()'s test covers them: no string
         * of the manifest may hold one). */
        expect_mutation_ok("\"console=ttyS0 panic=5\"", "\"a=b:c x=:y {:} [,]\"");
        expect_mutation_ok("\"version\": \"1.2.0\"", "\"version\": \"1.2.0~rc1+git.abc_1-2\"");
        memset(name, 'n', sizeof name);
        name[0] = '"';
        name[MANIFEST_STRING_MAX + 1] = '"';
        name[MANIFEST_STRING_MAX + 2] = 0;
        expect_mutation_ok("\"edge-demo\"", name);
        memset(cmd, 'c', sizeof cmd);
        cmd[0] = '"';
        cmd[MANIFEST_CMDLINE_MAX + 1] = '"';
        cmd[MANIFEST_CMDLINE_MAX + 2] = 0;
        expect_mutation_ok("\"console=ttyS0 panic=5\"", cmd);
        _cleanup_free_ char *ws = malloc(sizeof valid + 3);
        strcpy(ws, valid);
        strcat(ws, " \n\n");
        _cleanup_(manifest_freep) Manifest *m = NULL;
        assert_int_equal(manifest_parse(ws, strlen(ws), &m), 0);
}

static void test_missing_fields(void **state) {
        expect_mutation_fails("\"format\": 1, ", "", "format: missing");
        expect_mutation_fails("\"name\": \"edge-demo\", ", "", "manifest: name: missing");
        expect_mutation_fails("\"version\": \"1.2.0\", ", "", "version: missing");
        expect_mutation_fails("\"compatible\": \"abide-demo-x86_64\", ", "", "compatible: missing");
        expect_mutation_fails("\"build_date\": \"2024-07-19T04:09:00Z\", ", "", "build_date: missing");
        expect_mutation_fails("\"security_version\": 7, ", "", "security_version: missing");
        expect_mutation_fails("\"filesystem\": \"erofs\", ", "", "filesystem: missing");
        expect_mutation_fails("\"boot\": {\"cmdline\": \"console=ttyS0 panic=5\", \"tries\": 3}, ", "", "boot: missing");
        expect_mutation_fails("\"cmdline\": \"console=ttyS0 panic=5\", ", "", "boot.cmdline: missing");
        expect_mutation_fails(", \"tries\": 3", "", "boot.tries: missing");
        expect_mutation_fails("\"hash_algorithm\": \"sha256\", ", "", "verity.hash_algorithm: missing");
        expect_mutation_fails("\"data_blocks\": 256, ", "", "verity.data_blocks: missing");
        expect_mutation_fails("\"salt\": \"" H64("5") "\", ", "", "verity.salt: missing");
        expect_mutation_fails("\"uuid\": \"0123abcd-4567-89ef-0123-456789abcdef\", ", "", "verity.uuid: missing");
        expect_mutation_fails(", \"root_hash\": \"" H64("c") "\"", "", "verity.root_hash: missing");
        expect_mutation_fails("\"payloads\": [", "\"payloadz\": [", "unknown key");
        expect_mutation_fails("\"name\": \"root.verity\", ", "", "payloads[1].name: missing");
        expect_mutation_fails("\"role\": \"verity\", ", "", "payloads[1].role: missing");
        expect_mutation_fails("\"size\": 16384, ", "", "payloads[1].size: missing");
        expect_mutation_fails(", \"sha256\": \"" H64("2") "\"", "", "payloads[1].sha256: missing");
        expect_parse_fail("{\"format\": 1}", "name: missing");
}

static void test_wrong_types(void **state) {
        expect_mutation_fails("\"format\": 1", "\"format\": \"1\"", "format: not an integer");
        expect_mutation_fails("\"format\": 1", "\"format\": 1.0", "format: not an integer");
        expect_mutation_fails("\"name\": \"edge-demo\"", "\"name\": 5", "manifest: name: not a string");
        expect_mutation_fails("\"name\": \"edge-demo\"", "\"name\": null", "manifest: name: not a string");
        expect_mutation_fails("\"version\": \"1.2.0\"", "\"version\": [\"1.2.0\"]", "version: not a string");
        expect_mutation_fails("\"security_version\": 7", "\"security_version\": true",
                              "security_version: not an integer in 0..2^63-1");
        expect_mutation_fails("\"security_version\": 7", "\"security_version\": \"7\"",
                              "security_version: not an integer in 0..2^63-1");
        _cleanup_free_ char *b = mutate_range("\"boot\": {", "}", "\"boot\": []");
        expect_parse_fail(b, "manifest: boot: not an object");
        _cleanup_free_ char *v = mutate_range("\"verity\": {", "}", "\"verity\": null");
        expect_parse_fail(v, "manifest: verity: not an object");
        _cleanup_free_ char *p = mutate_range("\"payloads\": [", "]", "\"payloads\": {\"a\": 1}");
        expect_parse_fail(p, "manifest: payloads: not an array");
        expect_mutation_fails("\"tries\": 3", "\"tries\": \"3\"", "boot.tries: not an integer in 1..16");
        expect_mutation_fails("\"payloads\": [", "\"payloads\": [1, ", "payloads[0]: not an object");
        expect_mutation_fails("\"size\": 16384", "\"size\": 16384.0",
                              "payloads[1].size: not an integer in 0..2^63-1");
        expect_mutation_fails("\"sha256\": \"" H64("2") "\"", "\"sha256\": 2", "payloads[1].sha256: not a string");
}

static void test_number_ranges(void **state) {
        const char *bad[] = { "9223372036854775808", "18446744073709551615", "18446744073709551616",
                              "99999999999999999999999", "-1", "-9223372036854775808", "-9223372036854775809",
                              "1.5", "1e3", "-0.0" };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char to[64];
                snprintf(to, sizeof to, "\"security_version\": %s", bad[i]);
                expect_mutation_fails("\"security_version\": 7", to, "security_version: not an integer in 0..2^63-1");
                snprintf(to, sizeof to, "\"size\": %s", bad[i]);
                expect_mutation_fails("\"size\": 0", to, "payloads[3].size: not an integer in 0..2^63-1");
                snprintf(to, sizeof to, "\"data_blocks\": %s", bad[i]);
                expect_mutation_fails("\"data_blocks\": 256", to, "verity.data_blocks: not an integer in 0..2^63-1");
        }
        expect_mutation_fails("\"tries\": 3", "\"tries\": 0", "boot.tries: not an integer in 1..16");
        expect_mutation_fails("\"tries\": 3", "\"tries\": 17", "boot.tries: not an integer in 1..16");
        expect_mutation_fails("\"tries\": 3", "\"tries\": 4294967299", "boot.tries: not an integer in 1..16");
        expect_mutation_fails("\"data_block_size\": 4096", "\"data_block_size\": 512", "verity.data_block_size: must be 4096");
        /* 4096 + 2^32 must not pass by truncation to 32 bits. */
        expect_mutation_fails("\"hash_block_size\": 4096", "\"hash_block_size\": 4294971392",
                              "verity.hash_block_size: must be 4096");
        expect_mutation_fails("\"data_blocks\": 256", "\"data_blocks\": 255", "do not match the root payload's size");
        expect_mutation_fails("\"data_blocks\": 256", "\"data_blocks\": 0", "verity.data_blocks");
}

static void test_format_version(void **state) {
        expect_mutation_fails("\"format\": 1", "\"format\": 2", "format: unsupported version 2");
        expect_mutation_fails("\"format\": 1", "\"format\": 0", "format: unsupported version 0");
        /* A future format's unknown keys must not hide the real cause. */
        expect_parse_fail("{\"format\": 3, \"whatever\": true}", "format: unsupported version 3");
}

static void test_unknown_keys(void **state) {
        expect_mutation_fails("\"format\": 1, ", "\"format\": 1, \"extra\": 1, ", "manifest: extra: unknown key");
        expect_mutation_fails("\"tries\": 3", "\"tries\": 3, \"timeout\": 5", "boot.timeout: unknown key");
        expect_mutation_fails("\"hash_algorithm\": \"sha256\", ", "\"hash_algorithm\": \"sha256\", \"fec\": 1, ",
                              "verity.fec: unknown key");
        expect_mutation_fails("\"role\": \"verity\", ", "\"role\": \"verity\", \"mode\": 420, ",
                              "payloads[1].mode: unknown key");
}

static void test_strings(void **state) {
        char big[MANIFEST_CMDLINE_MAX + 8];

        memset(big, 'x', sizeof big);
        big[0] = '"';
        big[MANIFEST_STRING_MAX + 2] = '"';
        big[MANIFEST_STRING_MAX + 3] = 0;
        expect_mutation_fails("\"edge-demo\"", big, "manifest: name: longer than 256 bytes");
        expect_mutation_fails("\"abide-demo-x86_64\"", big, "compatible: longer than 256 bytes");
        expect_mutation_fails("\"1.2.0\"", big, "version: longer than 256 bytes");
        expect_mutation_fails("\"root.verity\"", big, "payloads[1].name: longer than 256 bytes");
        expect_mutation_fails("\"sha256\"", big, "verity.hash_algorithm: longer than");
        memset(big, 'c', sizeof big);
        big[0] = '"';
        big[MANIFEST_CMDLINE_MAX + 2] = '"';
        big[MANIFEST_CMDLINE_MAX + 3] = 0;
        expect_mutation_fails("\"console=ttyS0 panic=5\"", big, "boot.cmdline: longer than 4096 bytes");

        expect_mutation_fails("\"1.2.0\"", "\"1.2.0 beta\"", "version: character 0x20 outside [A-Za-z0-9._+~-]");
        expect_mutation_fails("\"1.2.0\"", "\"1.2;rm\"", "version: character 0x3b");
        expect_mutation_fails("\"1.2.0\"", "\"1.2/0\"", "version: character 0x2f");
        expect_mutation_fails("\"1.2.0\"", "\"\"", "version: empty");
        expect_mutation_fails("\"edge-demo\"", "\"-edge\"", "name: must start with a letter or digit");
        expect_mutation_fails("\"edge-demo\"", "\"caf\\u00e9\"", "name: character 0xc3");
        expect_mutation_fails("\"erofs\"", "\"ext4\"", "filesystem: 'ext4' is neither erofs nor squashfs");
        expect_mutation_fails("\"sha256\", \"data", "\"sha1\", \"data", "verity.hash_algorithm: only sha256");

        const char *dates[] = { "2024-07-19T04:09:00+00:00", "2024-07-19 04:09:00Z", "2024-7-19T04:09:00Z",
                                "2024-02-30T04:09:00Z", "2024-07-19T25:09:00Z", "2024-07-19T04:09:00z",
                                "2024-07-19T04:09:00.5Z", "",
                                /* Read by strptime, then another instant's spelling (timegm normalises): day,
                                 * leap day, leap second into the next minute and into the next year. */
                                "2024-04-31T00:00:00Z", "2023-02-29T00:00:00Z", "2024-07-19T04:09:60Z",
                                "2023-12-31T23:59:60Z" };
        for (size_t i = 0; i < ELEMENTSOF(dates); i++) {
                char to[64];
                snprintf(to, sizeof to, "\"%s\"", dates[i]);
                expect_mutation_fails("\"2024-07-19T04:09:00Z\"", to, "build_date: not an RFC 3339 UTC time");
        }
}

static void test_embedded_nul(void **state) {
        expect_mutation_fails("\"edge-demo\"", "\"edge\\u0000demo\"", "manifest: name: contains a NUL character");
        expect_mutation_fails("\"console=ttyS0 panic=5\"", "\"console=ttyS0\\u0000 panic=5\"",
                              "boot.cmdline: contains a NUL character");
        expect_mutation_fails("\"root.verity\"", "\"root.verity\\u0000x\"", "payloads[1].name: contains a NUL");

        /* A raw NUL byte inside the document, and one after it. */
        _cleanup_free_ char *buf = malloc(sizeof valid + 1);
        memcpy(buf, valid, sizeof valid);
        buf[10] = 0;
        expect_parse_fail_len(buf, sizeof valid - 1, "contains a NUL byte");
        memcpy(buf, valid, sizeof valid);
        expect_parse_fail_len(buf, sizeof valid, "contains a NUL byte");
}

/* The boot.cmdline rule (cmdline_check()): nothing that could change the
 * slot abide-init picks from the entry abidectl writes. */
static void test_cmdline(void **state) {
        const char *from = "\"console=ttyS0 panic=5\"";
        const struct {
                const char *to, *msg;
        } refused[] = {
                { "\"abide.slot=a\"", "manifest: boot.cmdline must not set abide.slot= (abidectl adds it)" },
                { "\"console=ttyS0 abide.slot=b\"", "boot.cmdline must not set abide.slot=" },
                { "\"abide.slot\"", "boot.cmdline must not set abide.slot=" },
                { "\"console=ttyS0 --\"", "boot.cmdline must not contain a '--' word" },
                { "\"abide.slot=a --\"", "boot.cmdline must not set abide.slot=" },
                { "\"console=\\\"ttyS0\\\"\"", "boot.cmdline must not contain a quote character (\")" },
                { "\"x='a b'\"", "boot.cmdline must not contain a quote character (')" },
                { "\"a\\\\b\"", "boot.cmdline must not contain a backslash" },
                { "\"console=ttyS0\\npanic=5\"", "boot.cmdline must not contain control character 0x0a" },
                { "\"console=ttyS0\\tpanic=5\"", "control character 0x09" },
                { "\"x\\u007f\"", "control character 0x7f" },
                { "\"x\\u0001\"", "control character 0x01" },
                { "\"caf\\u00e9\"", "boot.cmdline must not contain non-ASCII byte 0xc3" },
        };
        for (size_t i = 0; i < ELEMENTSOF(refused); i++)
                expect_mutation_fails(from, refused[i].to, refused[i].msg);

        const char *accepted[] = { "\"\"", "\"console=ttyS0 panic=5\"", "\"abide.slotx=1\"",
                                   "\"abide.watchdog=60 quiet\"", "\"---\"", "\"  a  \"" };
        for (size_t i = 0; i < ELEMENTSOF(accepted); i++)
                expect_mutation_ok(from, accepted[i]);

        /* Built in memory (the builder validates before signing): the same rule. */
        _cleanup_(manifest_freep) Manifest *m = NULL;
        assert_int_equal(manifest_parse(valid, sizeof valid - 1, &m), 0);
        free(m->cmdline);
        m->cmdline = strdup("console=ttyS0 abide.slot=a --");
        assert_non_null(m->cmdline);
        err_clear();
        int r = manifest_validate(m);
        assert_int_equal(r, -EINVAL);
        assert_non_null(strstr(err_message(r), "manifest: boot.cmdline must not set abide.slot="));
        char *json = NULL;
        assert_int_equal(manifest_to_json(m, &json, NULL), -EINVAL);
        assert_null(json);
}

/* json-c cuts keys at \u0000: "name\u0000x" would read as "name". */
static void test_nul_in_keys(void **state) {
        expect_mutation_fails("\"name\": ", "\"name\\u0000x\": ", "an object key contains a NUL character");
        expect_mutation_fails("\"cmdline\": ", "\"cmdline\\u0000\": ", "an object key contains a NUL");
        expect_mutation_fails("\"role\": \"verity\", ", "\"role\\u0000evil\": \"verity\", ",
                              "an object key contains a NUL");
        /* Cut to a key that is not in the format: still refused. */
        expect_mutation_fails("\"name\": ", "\"na\\u0000me\": ", "manifest: na: unknown key");
        /* "x\u0000" and "x" are the same key to json-c: a duplicate. */
        expect_mutation_fails("\"tries\": 3", "\"tries\": 3, \"tries\\u0000\": 4", "duplicate key");
        /* An escaped backslash followed by u0000 is not a NUL: accepted where
         * the value allows a backslash, refused by the field's own rule elsewhere. */
        expect_mutation_fails("\"console=ttyS0 panic=5\"", "\"x\\\\u0000\"", "must not contain a backslash");
        expect_mutation_fails("\"name\": ", "\"name\\\\u0000\": ", "manifest: name\\u0000: unknown key");
}

static void test_unsafe_names(void **state) {
        const struct {
                const char *name, *msg;
        } cases[] = {
                { "\"/x\"", "payloads[1].name: '/x' contains '/'" },
                { "\"../x\"", "contains '/'" },
                { "\"a/b\"", "contains '/'" },
                { "\"x/\"", "contains '/'" },
                { "\".\"", "payloads[1].name: '.' starts with '.'" },
                { "\"..\"", "'..' starts with '.'" },
                { "\".hidden\"", "starts with '.'" },
                { "\"\"", "payloads[1].name: empty" },
                { "\"manifest.json\"", "'manifest.json' is reserved" },
                { "\"manifest.json.sig\"", "'manifest.json.sig' is reserved" },
                { "\"a b\"", "character 0x20" },
                { "\"a\\\\b\"", "character 0x5c" },
                { "\"a\\u0001b\"", "character 0x01" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                expect_mutation_fails("\"root.verity\"", cases[i].name, cases[i].msg);
}

static void test_duplicates_and_roles(void **state) {
        expect_mutation_fails("\"vmlinuz\"", "\"root.erofs\"", "payloads[3].name: duplicate name 'root.erofs'");
        expect_mutation_fails("\"role\": \"kernel\"", "\"role\": \"root\"", "payloads[3].role: duplicate role 'root'");
        expect_mutation_fails("\"role\": \"verity-sig\"", "\"role\": \"initrd\"", "no payload with role 'verity-sig'");
        expect_mutation_fails("\"role\": \"root\"", "\"role\": \"initrd\"", "no payload with role 'root'");
        expect_mutation_fails("\"role\": \"verity\"", "\"role\": \"kernel\"", "duplicate role 'kernel'");
        expect_mutation_fails("\"role\": \"kernel\"", "\"role\": \"bootloader\"", "payloads[3].role: unknown role 'bootloader'");
        expect_mutation_fails("\"role\": \"kernel\"", "\"role\": \"Kernel\"", "unknown role");
        expect_parse_fail("{\"format\": 1, \"name\": \"a\", \"version\": \"1\", \"compatible\": \"c\", "
                          "\"build_date\": \"2024-07-19T04:09:00Z\", \"security_version\": 0, \"filesystem\": \"erofs\", "
                          "\"boot\": {\"cmdline\": \"\", \"tries\": 1}, \"verity\": {\"hash_algorithm\": \"sha256\", "
                          "\"data_block_size\": 4096, \"hash_block_size\": 4096, \"data_blocks\": 1, \"salt\": \"" H64("0")
                          "\", \"uuid\": \"0123abcd-4567-89ef-0123-456789abcdef\", \"root_hash\": \"" H64("0")
                          "\"}, \"payloads\": []}",
                          "no payload with role 'root'");
}

static void test_bad_hex(void **state) {
        expect_mutation_fails(H64("1"), H64("1") "1", "payloads[0].sha256: not 64 lowercase hex digits");
        expect_mutation_fails(H64("1"), H64("1") "11", "payloads[0].sha256: not 64 lowercase hex digits");
        expect_mutation_fails("\"" H64("1"), "\"1", "payloads[0].sha256: not 64 lowercase hex digits");
        expect_mutation_fails("\"" H64("2"), "\"A" H64("2"), "payloads[1].sha256: not 64");
        expect_mutation_fails("\"" H64("2") "\"", "\"" H64("A") "\"", "payloads[1].sha256: not 64");
        expect_mutation_fails("\"" H64("2") "\"", "\"" H64("g") "\"", "payloads[1].sha256: not 64");
        expect_mutation_fails("\"" H64("2") "\"", "\"\"", "payloads[1].sha256: not 64");
        expect_mutation_fails("\"" H64("5") "\"", "\"" H64("5") "55\"", "verity.salt: not 64 lowercase hex digits");
        expect_mutation_fails("\"" H64("5") "\"", "\"5555\"", "verity.salt: not 64 lowercase hex digits");
        expect_mutation_fails("\"" H64("c") "\"", "\"" H64("c") "c\"", "verity.root_hash: longer than 64 bytes");
        expect_mutation_fails("\"" H64("c") "\"", "\"" H64("C") "\"", "verity.root_hash: not 64 lowercase hex");
        expect_mutation_fails("\"" H64("c") "\"", "\"cc\"", "verity.root_hash: not 64 lowercase hex");
        expect_mutation_fails("0123abcd-4567", "0123ABCD-4567", "verity.uuid: not a lowercase UUID");
        expect_mutation_fails("0123abcd-4567", "0123abcd4-567", "verity.uuid: not a lowercase UUID");
        expect_mutation_fails("0123abcd-4567-89ef-0123-456789abcdef", "0123abcd-4567-89ef-0123-456789abcde",
                              "verity.uuid: not a lowercase UUID");
        expect_mutation_fails("0123abcd-4567-89ef-0123-456789abcdef", "0123abcd-4567-89ef-0123-456789abcdeff",
                              "verity.uuid: longer than 36 bytes");
}

static void test_too_many_payloads(void **state) {
        char extra[8192] = "{\"name\": \"root.erofs\", \"role\": \"root\", \"size\": 1048576, \"sha256\": \"" H64("1") "\"}";

        for (int i = 0; i < MANIFEST_PAYLOADS_MAX - 3; i++) {
                char one[160];
                snprintf(one, sizeof one, ", {\"name\": \"p%d\", \"role\": \"kernel\", \"size\": 0, \"sha256\": \"%s\"}", i,
                         H64("0"));
                strcat(extra, one);
        }
        /* 4 declared + 13 added = 17 entries. */
        expect_mutation_fails("{\"name\": \"root.erofs\", \"role\": \"root\", \"size\": 1048576, \"sha256\": \"" H64("1") "\"}",
                              extra, "payloads: more than 16 entries");
}

static void test_not_json(void **state) {
        expect_parse_fail("", "not valid JSON: unexpected end of input");
        expect_parse_fail("not json", "not a JSON object");
        expect_parse_fail("  \n", "not valid JSON: unexpected end of input");
        expect_parse_fail("{", "not valid JSON: unexpected end of input");
        expect_parse_fail("{\"format\": 1,}", "not valid JSON");
        expect_parse_fail("{'format': 1}", "not valid JSON at byte 1: single-quoted string");
        expect_mutation_fails("\"name\": \"edge-demo\"", "'name': 'edge-demo'", "not valid JSON");

        /* Duplicate keys: json-c keeps the last one, other readers may keep the first. */
        expect_mutation_fails("\"format\": 1, ", "\"format\": 1, \"name\": \"evil\", ", "duplicate key");
        expect_mutation_fails("\"tries\": 3", "\"tries\": 3, \"tries\": 4", "duplicate key");
        expect_mutation_fails("\"size\": 0, ", "\"size\": 0, \"size\": 5, ", "duplicate key");
        expect_mutation_fails("\"payloads\": [", "\"payloads\": [], \"payloads\": [", "duplicate key");
        expect_parse_fail("[1, 2]", "not a JSON object");
        expect_parse_fail("null", "not a JSON object");
        expect_parse_fail("\"x\"", "not a JSON object");

        _cleanup_free_ char *a = malloc(sizeof valid + 8), *b = malloc(sizeof valid + 8);
        strcpy(a, valid);
        strcat(a, "x");
        expect_parse_fail(a, "not valid JSON");
        strcpy(b, valid);
        strcat(b, " {}");
        expect_parse_fail(b, "not valid JSON");

        /* Truncated at every length: never accepted. */
        for (size_t n = 0; n < sizeof valid - 1; n += 7)
                expect_parse_fail_len(valid, n, "manifest: ");
}

static void test_oversized_document(void **state) {
        size_t n = MANIFEST_MAX_SIZE + 1;
        _cleanup_free_ char *buf = malloc(n);

        memset(buf, ' ', n);
        memcpy(buf, valid, sizeof valid - 1);
        expect_parse_fail_len(buf, n, "manifest: larger than 1048576 bytes");
        /* Just at the limit, padded with whitespace, it is fine. */
        _cleanup_(manifest_freep) Manifest *m = NULL;
        assert_int_equal(manifest_parse(buf, n - 1, &m), 0);
}

static void test_validate_in_memory(void **state) {
        _cleanup_(manifest_freep) Manifest *m = NULL;
        char *j = NULL;

        assert_int_equal(manifest_parse(valid, strlen(valid), &m), 0);
        assert_int_equal(manifest_validate(m), 0);

        m->tries = 0;
        assert_true(manifest_validate(m) < 0);
        assert_true(manifest_to_json(m, &j, NULL) < 0);
        assert_null(j);
        assert_non_null(strstr(err_message(-EINVAL), "boot.tries"));
        m->tries = 3;

        m->payloads[2].size = (uint64_t) INT64_MAX + 1;
        assert_true(manifest_validate(m) < 0);
        assert_non_null(strstr(err_message(-EINVAL), "payloads[2].size: not an integer in 0..2^63-1"));
        m->payloads[2].size = 4096;

        m->security_version = UINT64_MAX;
        assert_true(manifest_validate(m) < 0);
        m->security_version = 1;

        m->format = 2;
        assert_int_equal(manifest_validate(m), -EPROTONOSUPPORT);
        m->format = 1;

        m->payloads[0].role = _PAYLOAD_ROLE_MAX;
        assert_true(manifest_validate(m) < 0);
        m->payloads[0].role = PAYLOAD_ROOT;

        m->verity.salt_size = 16;
        assert_true(manifest_validate(m) < 0);
        m->verity.salt_size = VERITY_SALT_SIZE;

        assert_int_equal(manifest_validate(m), 0);
}

/* The checks behind the parser: the parser refuses these first (a missing key, an over-long string, a
 * block size, too many payloads), so only a Manifest built in memory reaches them, as abide-build's is
 * before manifest_to_json(). Each refused alone, with its own message, and nothing written. */
static void test_validate_behind_parser(void **state) {
        _cleanup_(manifest_freep) Manifest *m = NULL;
        char long_word[MANIFEST_STRING_MAX + 2], long_cmdline[MANIFEST_CMDLINE_MAX + 2];

        memset(long_word, 'v', sizeof long_word - 1);
        long_word[sizeof long_word - 1] = 0;
        memset(long_cmdline, 'x', sizeof long_cmdline - 1);
        long_cmdline[sizeof long_cmdline - 1] = 0;
        assert_int_equal(manifest_parse(valid, strlen(valid), &m), 0);

#define REFUSED(field, value, msg)                                                                 \
        do {                                                                                       \
                __typeof__(field) saved = (field);                                                 \
                char *j = NULL;                                                                    \
                (field) = (value);                                                                 \
                err_clear();                                                                       \
                int r = manifest_validate(m);                                                      \
                if (r >= 0 || !strstr(err_message(r), (msg)))                                      \
                        fail_msg("%s = %s: %d '%s', want '%s'", #field, #value, r, err_message(r), (msg)); \
                assert_true(manifest_to_json(m, &j, NULL) < 0);                                    \
                assert_null(j);                                                                    \
                (field) = saved;                                                                   \
                assert_int_equal(manifest_validate(m), 0);                                         \
        } while (0)

        REFUSED(m->name, NULL, "manifest: name: missing");
        REFUSED(m->version, NULL, "manifest: version: missing");
        REFUSED(m->compatible, NULL, "manifest: compatible: missing");
        REFUSED(m->version, long_word, "manifest: version: longer than 256 bytes");
        REFUSED(m->build_date, NULL, "manifest: build_date: missing");
        REFUSED(m->architecture, _ARCH_MAX, "manifest: architecture: unknown");
        REFUSED(m->architecture, _ARCH_INVALID, "manifest: architecture: unknown");
        REFUSED(m->filesystem, NULL, "manifest: filesystem: missing");
        REFUSED(m->cmdline, NULL, "manifest: boot.cmdline: missing");
        REFUSED(m->cmdline, long_cmdline, "manifest: boot.cmdline: longer than 4096 bytes");
        REFUSED(m->verity.data_block_size, 512, "manifest: verity.data_block_size: must be 4096");
        REFUSED(m->verity.hash_block_size, 8192, "manifest: verity.hash_block_size: must be 4096");
        REFUSED(m->payloads[1].name, NULL, "manifest: payloads[1].name: missing");
        /* Checked before any payload is read: the array holds 4. */
        REFUSED(m->n_payloads, MANIFEST_PAYLOADS_MAX + 1, "manifest: payloads: more than 16 entries");
#undef REFUSED
        /* A hash algorithm that fills its array without a NUL; no manifest; payloads counted, none there. */
        VerityParams verity = m->verity;
        memset(m->verity.hash_algorithm, 's', sizeof m->verity.hash_algorithm);
        err_clear();
        assert_int_equal(manifest_validate(m), -EINVAL);
        assert_non_null(strstr(err_message(-EINVAL), "manifest: verity.hash_algorithm: only sha256 is supported"));
        m->verity = verity;
        assert_int_equal(manifest_validate(NULL), -EINVAL);
        Payload *payloads = m->payloads;
        m->payloads = NULL;
        assert_int_equal(manifest_validate(m), -EINVAL);
        m->payloads = payloads;
        assert_int_equal(manifest_validate(m), 0);
        /* At the limits: accepted. */
        long_word[MANIFEST_STRING_MAX] = 0;
        long_cmdline[MANIFEST_CMDLINE_MAX] = 0;
        char *version = m->version, *cmdline = m->cmdline;
        m->version = long_word;
        m->cmdline = long_cmdline;
        assert_int_equal(manifest_validate(m), 0);
        m->version = version;
        m->cmdline = cmdline;
}

/* "architecture": absent = x86-64 (and left out when writing x86-64, for older
 * devices that refuse unknown keys), "arm64" round-trips, anything else is refused. */
static void test_architecture(void **state) {
        _cleanup_(manifest_freep) Manifest *m = NULL, *a = NULL, *back = NULL;
        _cleanup_free_ char *j = NULL, *ja = NULL, *jarm = NULL;

        assert_int_equal(manifest_parse(valid, strlen(valid), &m), 0);
        assert_int_equal(m->architecture, ARCH_X86_64);
        assert_int_equal(manifest_to_json(m, &j, NULL), 0);
        assert_null(strstr(j, "architecture"));

        ja = mutate("\"filesystem\": \"erofs\", ", "\"filesystem\": \"erofs\", \"architecture\": \"arm64\", ");
        assert_int_equal(manifest_parse(ja, strlen(ja), &a), 0);
        assert_int_equal(a->architecture, ARCH_ARM64);
        assert_int_equal(manifest_to_json(a, &jarm, NULL), 0);
        assert_non_null(strstr(jarm, "\"architecture\": \"arm64\""));
        assert_int_equal(manifest_parse(jarm, strlen(jarm), &back), 0);
        assert_int_equal(back->architecture, ARCH_ARM64);

        expect_mutation_ok("\"filesystem\": \"erofs\", ", "\"filesystem\": \"erofs\", \"architecture\": \"x86-64\", ");
        expect_mutation_fails("\"filesystem\": \"erofs\", ", "\"filesystem\": \"erofs\", \"architecture\": \"sparc\", ",
                              "manifest: architecture: unknown architecture 'sparc'");
        expect_mutation_fails("\"filesystem\": \"erofs\", ", "\"filesystem\": \"erofs\", \"architecture\": 64, ",
                              "architecture");
}

static void test_uki_roles(void **state) {
        static const char kernel[] = "{\"name\": \"vmlinuz\", \"role\": \"kernel\", \"size\": 0, \"sha256\": \"" H64("4") "\"}";
        static const char ukis[] =
                "{\"name\": \"vmlinuz\", \"role\": \"kernel\", \"size\": 0, \"sha256\": \"" H64("4") "\"}, "
                "{\"name\": \"abide-a.efi\", \"role\": \"uki-a\", \"size\": 10, \"sha256\": \"" H64("5") "\"}, "
                "{\"name\": \"abide-b.efi\", \"role\": \"uki-b\", \"size\": 11, \"sha256\": \"" H64("6") "\"}";
        _cleanup_(manifest_freep) Manifest *m = NULL, *m2 = NULL;
        _cleanup_free_ char *j = mutate(kernel, ukis), *out = NULL;
        size_t len = 0;

        /* Both slots' UKIs: accepted, found by role, written back as they came. */
        assert_int_equal(manifest_parse(j, strlen(j), &m), 0);
        assert_int_equal(m->n_payloads, 6);
        assert_ptr_equal(manifest_find_role(m, PAYLOAD_UKI_A), &m->payloads[4]);
        assert_ptr_equal(manifest_find_role(m, PAYLOAD_UKI_B), &m->payloads[5]);
        assert_string_equal(manifest_find_role(m, PAYLOAD_UKI_B)->name, "abide-b.efi");
        assert_int_equal(manifest_to_json(m, &out, &len), 0);
        assert_non_null(strstr(out, "\"role\": \"uki-a\""));
        assert_int_equal(manifest_parse(out, len, &m2), 0);
        assert_manifest_equal(m, m2);

        /* One slot's UKI alone, a duplicate, a misspelt role. */
        free(j);
        j = mutate(kernel, "{\"name\": \"abide-a.efi\", \"role\": \"uki-a\", \"size\": 10, \"sha256\": \"" H64("5") "\"}");
        expect_parse_fail(j, "payloads: role 'uki-a' without 'uki-b'");
        free(j);
        j = mutate(kernel, "{\"name\": \"abide-b.efi\", \"role\": \"uki-b\", \"size\": 10, \"sha256\": \"" H64("5") "\"}");
        expect_parse_fail(j, "payloads: role 'uki-b' without 'uki-a'");
        expect_mutation_fails("\"role\": \"kernel\"", "\"role\": \"uki\"", "payloads[3].role: unknown role 'uki'");
        expect_mutation_fails("\"role\": \"kernel\"", "\"role\": \"uki-c\"", "unknown role 'uki-c'");
}

static void test_roles(void **state) {
        for (PayloadRole r = 0; r < _PAYLOAD_ROLE_MAX; r++)
                assert_int_equal(payload_role_from_string(payload_role_to_string(r)), r);
        assert_string_equal(payload_role_to_string(PAYLOAD_VERITY_SIG), "verity-sig");
        assert_string_equal(payload_role_to_string(PAYLOAD_UKI_A), "uki-a");
        assert_string_equal(payload_role_to_string(PAYLOAD_UKI_B), "uki-b");
        assert_null(payload_role_to_string(_PAYLOAD_ROLE_MAX));
        assert_null(payload_role_to_string(_PAYLOAD_ROLE_INVALID));
        assert_int_equal(payload_role_from_string("rootfs"), _PAYLOAD_ROLE_INVALID);
        assert_int_equal(payload_role_from_string(NULL), _PAYLOAD_ROLE_INVALID);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid_and_round_trip),
                cmocka_unit_test(test_boundaries_accepted),
                cmocka_unit_test(test_missing_fields),
                cmocka_unit_test(test_wrong_types),
                cmocka_unit_test(test_number_ranges),
                cmocka_unit_test(test_format_version),
                cmocka_unit_test(test_unknown_keys),
                cmocka_unit_test(test_strings),
                cmocka_unit_test(test_embedded_nul),
                cmocka_unit_test(test_cmdline),
                cmocka_unit_test(test_nul_in_keys),
                cmocka_unit_test(test_unsafe_names),
                cmocka_unit_test(test_duplicates_and_roles),
                cmocka_unit_test(test_bad_hex),
                cmocka_unit_test(test_too_many_payloads),
                cmocka_unit_test(test_not_json),
                cmocka_unit_test(test_oversized_document),
                cmocka_unit_test(test_validate_in_memory),
                cmocka_unit_test(test_validate_behind_parser),
                cmocka_unit_test(test_architecture),
                cmocka_unit_test(test_roles),
                cmocka_unit_test(test_uki_roles),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
