/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "basic/error.h"
#include "basic/json-scan.h"
#include "crypto/verity-sig.h"
#include "slot/state.h"

static JsonScan scan(const char *s) {
        JsonScan j = { .name_separators = 12345, .nul_escape = 1, .single_quote = 1, .comment = 1 };
        json_scan(s, strlen(s), &j);
        return j;
}

static void test_nul_escape(void **state) {
        assert_int_equal(scan("{\"a\\u0000b\": 1}").nul_escape, 3);
        assert_int_equal(scan("{\"a\": \"x\\u0000\"}").nul_escape, 8);
        assert_int_equal(scan("[\"\\u0000\"]").nul_escape, 2);
        /* The first one counts. */
        assert_int_equal(scan("[\"\\u0000\", \"\\u0000\"]").nul_escape, 2);
        /* An escaped backslash followed by u0000 is text, not a NUL. */
        assert_int_equal(scan("{\"a\\\\u0000b\": 1}").nul_escape, SIZE_MAX);
        assert_int_equal(scan("[\"\\\\\\u0000\"]").nul_escape, 4);
        assert_int_equal(scan("[\"\\\\\\\\u0000\"]").nul_escape, SIZE_MAX);
        /* Neighbours that are not NUL. */
        assert_int_equal(scan("[\"\\u0001\", \"\\u00000\", \"\\u1000\", \"\\U0000\"]").nul_escape, 12);
        assert_int_equal(scan("[\"\\u0001\", \"\\u1000\", \"\\U0000\", \"\\u000\"]").nul_escape, SIZE_MAX);
        /* Outside a string it is not an escape (and not JSON either). */
        assert_int_equal(scan("[1] \\u0000").nul_escape, SIZE_MAX);
        /* Cut short at the end of the input. */
        assert_int_equal(scan("[\"\\u000").nul_escape, SIZE_MAX);
        assert_int_equal(scan("[\"\\").nul_escape, SIZE_MAX);
}

static void test_separators_and_quotes(void **state) {
        JsonScan j = scan("{\"a\": {\"b:c\": 1, \"d\": [\"e:\", {\"f\": 2}]}}");
        assert_int_equal(j.name_separators, 4);
        assert_int_equal(j.single_quote, SIZE_MAX);
        assert_int_equal(j.comment, SIZE_MAX);
        assert_int_equal(scan("{\"a\\\":\": 1}").name_separators, 1);
        assert_int_equal(scan("{'a': 1}").single_quote, 1);
        assert_int_equal(scan("{\"it's\": 1}").single_quote, SIZE_MAX);
        assert_int_equal(scan("{/* x */\"a\": 1}").comment, 1);
        assert_int_equal(scan("[1] // x").comment, 4);
        assert_int_equal(scan("{\"a/b\": \"c//d\"}").comment, SIZE_MAX);
        j = scan("");
        assert_int_equal(j.name_separators, 0);
        assert_int_equal(j.nul_escape, SIZE_MAX);
        assert_int_equal(j.single_quote, SIZE_MAX);
}

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int parse_sig(const char *json) {
        _cleanup_(verity_sig_done) VeritySig v = {};
        err_clear();
        return verity_sig_parse(json, strlen(json), &v);
}

/* The verity signature JSON: a key json-c would cut at the NUL is refused. */
static void test_verity_sig_nul_key(void **state) {
        assert_int_equal(parse_sig("{\"rootHash\":\"" H64 "\",\"certificateFingerprint\":\"" H64
                                   "\",\"signature\":\"AAAA\"}"),
                         0);
        int r = parse_sig("{\"rootHash\\u0000x\":\"" H64 "\",\"certificateFingerprint\":\"" H64
                          "\",\"signature\":\"AAAA\"}");
        assert_int_equal(r, -EBADMSG);
        assert_non_null(strstr(err_message(r), "verity signature: byte 10: a string contains a NUL character"));
        r = parse_sig("{\"rootHash\":\"" H64 "\",\"certificateFingerprint\":\"" H64
                      "\",\"signature\":\"AAAA\",\"x\\u0000\":1}");
        assert_int_equal(r, -EBADMSG);
        assert_non_null(strstr(err_message(r), "contains a NUL character"));
        /* A comment or single quotes must not hide one from the scan. */
        r = parse_sig("{/*\"*/\"rootHash\\u0000x\":\"" H64 "\",\"certificateFingerprint\":\"" H64
                      "\",\"signature\":\"AAAA\"}");
        assert_int_equal(r, -EBADMSG);
        assert_non_null(strstr(err_message(r), "verity signature: not valid JSON: comment at byte 1"));
        r = parse_sig("{'rootHash\\u0000x':\"" H64 "\",\"certificateFingerprint\":\"" H64
                      "\",\"signature\":\"AAAA\"}");
        assert_int_equal(r, -EBADMSG);
        assert_non_null(strstr(err_message(r), "verity signature: not valid JSON: single-quoted string at byte 1"));
        /* An extra key holding an escaped backslash and u0000 is fine. */
        assert_int_equal(parse_sig("{\"rootHash\":\"" H64 "\",\"certificateFingerprint\":\"" H64
                                   "\",\"signature\":\"AAAA\",\"x\\\\u0000\":1}"),
                         0);
}

/* The state file on abide-data: "version":"2.0\u0000x" read as "2.0". */
static void test_state_nul(void **state) {
        static const char *const bad[] = {
                "{\"format\":1,\"slots\":{\"a\":{\"state\":\"good\",\"version\":\"2.0\\u0000x\"}}}",
                "{\"format\":1,\"slots\":{\"a\":{\"state\\u0000x\":\"good\"}}}",
                "{\"format\":1,\"rollback\":{\"from\":\"b\",\"to\":\"a\",\"reason\":\"x\\u0000\"}}",
                "{/*\"*/\"format\\u0000\":1}",
                "{'format':1}",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                AbideState *s = NULL;
                err_clear();
                int r = state_from_json_string(bad[i], &s);
                if (r != -EBADMSG)
                        fail_msg("accepted (%d): %s", r, bad[i]);
                assert_null(s);
        }
        _cleanup_(state_freep) AbideState *s = NULL;
        assert_int_equal(state_from_json_string("{\"format\":1,\"slots\":{\"a\":{\"state\":\"good\","
                                                "\"version\":\"2.0\\\\u0000x\"}}}",
                                                &s),
                         0);
        assert_string_equal(s->slots[SLOT_A].version, "2.0\\u0000x");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_nul_escape),
                cmocka_unit_test(test_separators_and_quotes),
                cmocka_unit_test(test_verity_sig_nul_key),
                cmocka_unit_test(test_state_nul),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
