/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "basic/error.h"
#include "init-cmdline.h"

static InitCmdline parse_ok(const char *line) {
        InitCmdline c = { .slot = _SLOT_INVALID, .watchdog_sec = 12345, .wait_sec = 12345 };
        int r = init_cmdline_parse(line, &c);
        if (r < 0)
                fail_msg("'%s' refused: %s", line, err_message(r));
        return c;
}

/* Refused with the errno and a message containing want. */
static void parse_bad(const char *line, int err, const char *want) {
        InitCmdline c = { .slot = SLOT_B, .watchdog_sec = 7, .wait_sec = 9 };
        err_clear();
        int r = init_cmdline_parse(line, &c);
        if (r != -err)
                fail_msg("'%s': expected %d, got %d (%s)", line, -err, r, r < 0 ? err_message(r) : "accepted");
        if (!strstr(err_message(r), want))
                fail_msg("'%s': message '%s' lacks '%s'", line, err_message(r), want);
        /* ret is written only on success. */
        assert_int_equal(c.slot, SLOT_B);
        assert_int_equal(c.watchdog_sec, 7);
        assert_int_equal(c.wait_sec, 9);
}

static void test_defaults(void **state) {
        InitCmdline c = parse_ok("BOOT_IMAGE=/abide/a/vmlinuz console=ttyS0 panic=5 abide.slot=a\n");
        assert_int_equal(c.slot, SLOT_A);
        assert_int_equal(c.watchdog_sec, INIT_WATCHDOG_DEFAULT_SEC);
        assert_int_equal(c.wait_sec, INIT_WAIT_DEFAULT_SEC);
        assert_int_equal(INIT_WATCHDOG_DEFAULT_SEC, 120);
        assert_int_equal(INIT_WAIT_DEFAULT_SEC, 30);
}

static void test_all_keys(void **state) {
        InitCmdline c = parse_ok("abide.watchdog=45 abide.slot=b abide.wait=7");
        assert_int_equal(c.slot, SLOT_B);
        assert_int_equal(c.watchdog_sec, 45);
        assert_int_equal(c.wait_sec, 7);

        c = parse_ok("abide.slot=a abide.watchdog=0 abide.wait=0");
        assert_int_equal(c.watchdog_sec, 0);
        assert_int_equal(c.wait_sec, 0);

        c = parse_ok("abide.slot=a abide.watchdog=86400 abide.wait=3600");
        assert_int_equal(c.watchdog_sec, 86400);
        assert_int_equal(c.wait_sec, 3600);

        /* Leading zeros are still decimal. */
        c = parse_ok("abide.slot=a abide.watchdog=010");
        assert_int_equal(c.watchdog_sec, 10);
}

static void test_last_wins(void **state) {
        InitCmdline c = parse_ok("abide.slot=a abide.watchdog=5 abide.slot=b abide.watchdog=6");
        assert_int_equal(c.slot, SLOT_B);
        assert_int_equal(c.watchdog_sec, 6);
        /* A bad earlier value is still refused, not overridden. */
        parse_bad("abide.slot=c abide.slot=a", EINVAL, "abide.slot=c");
}

static void test_whitespace_and_quotes(void **state) {
        InitCmdline c = parse_ok("  \t abide.slot=b\t\tquiet  \n");
        assert_int_equal(c.slot, SLOT_B);
        c = parse_ok("\"abide.slot=a\" abide.wait=\"12\"");
        assert_int_equal(c.slot, SLOT_A);
        assert_int_equal(c.wait_sec, 12);
        /* A quoted value with spaces is one word: it does not leak an abide.* key. */
        c = parse_ok("abide.slot=a foo=\"bar abide.slot=b\"");
        assert_int_equal(c.slot, SLOT_A);
        parse_bad("abide.slot=a foo=\"bar", EINVAL, "unterminated quote");
}

static void test_prefix_lookalikes(void **state) {
        /* Only exact keys count. */
        parse_bad("xabide.slot=a", EINVAL, "no abide.slot=");
        parse_bad("abide.slots=a", EINVAL, "no abide.slot=");
        parse_bad("abide.Slot=a", EINVAL, "no abide.slot=");
        InitCmdline c = parse_ok("abide.slot=a abide.future=1 abide.waiting=x abide.watchdogs=x");
        assert_int_equal(c.slot, SLOT_A);
        assert_int_equal(c.watchdog_sec, INIT_WATCHDOG_DEFAULT_SEC);
        assert_int_equal(c.wait_sec, INIT_WAIT_DEFAULT_SEC);
}

static void test_esp(void **state) {
        InitCmdline c = parse_ok("abide.slot=a");
        assert_string_equal(c.esp_uuid, "");
        assert_false(c.esp_invalid);
        /* lowercased, as blkid reports PARTUUIDs */
        c = parse_ok("abide.slot=a abide.esp=4AB1014A-9D19-44F8-8C04-DC0C415AD46D");
        assert_string_equal(c.esp_uuid, "4ab1014a-9d19-44f8-8c04-dc0c415ad46d");
        assert_false(c.esp_invalid);
        /* the last wins, as for the other keys (boot.cmd's comes after the image's options) */
        c = parse_ok("abide.esp=11111111-2222-3333-4444-555555555555 abide.slot=a abide.esp=\"4ab1014a-9d19-44f8-8c04-dc0c415ad46d\"");
        assert_string_equal(c.esp_uuid, "4ab1014a-9d19-44f8-8c04-dc0c415ad46d");
        /* not a UUID: not fatal (the boot searches every disk), flagged for the console */
        static const char *const bad[] = {
                "abide.esp=", "abide.esp=4ab1014a", "abide.esp=4ab1014a-9d19-44f8-8c04-dc0c415ad46dd",
                "abide.esp=4ab1014a-9d19-44f8-8c04-dc0c415ad46g", "abide.esp=4ab1014a99d19-44f8-8c04-dc0c415ad46d",
                "abide.esp=../../dev/sda1xxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                "abide.esp=4ab1014a-9d19-44f8-8c04-dc0c415ad46d abide.esp=x",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char line[256];
                snprintf(line, sizeof line, "abide.slot=b %s", bad[i]);
                c = parse_ok(line);
                if (!c.esp_invalid || c.esp_uuid[0])
                        fail_msg("'%s': taken as '%s'", line, c.esp_uuid);
        }
        /* a later good value clears the flag */
        c = parse_ok("abide.slot=a abide.esp=x abide.esp=4ab1014a-9d19-44f8-8c04-dc0c415ad46d");
        assert_false(c.esp_invalid);
        assert_string_equal(c.esp_uuid, "4ab1014a-9d19-44f8-8c04-dc0c415ad46d");
        /* after "--": init's, not ours */
        c = parse_ok("abide.slot=a -- abide.esp=4ab1014a-9d19-44f8-8c04-dc0c415ad46d");
        assert_string_equal(c.esp_uuid, "");
}

static void test_double_dash(void **state) {
        /* After "--" the words are init's arguments, not kernel parameters. */
        parse_bad("console=ttyS0 -- abide.slot=a", EINVAL, "no abide.slot=");
        InitCmdline c = parse_ok("abide.slot=b -- abide.slot=a abide.wait=x");
        assert_int_equal(c.slot, SLOT_B);
        assert_int_equal(c.wait_sec, INIT_WAIT_DEFAULT_SEC);
}

static void test_bad_slot(void **state) {
        parse_bad("", EINVAL, "no abide.slot=");
        parse_bad("   \n", EINVAL, "no abide.slot=");
        parse_bad("console=ttyS0", EINVAL, "no abide.slot=");
        parse_bad("abide.slot=", EINVAL, "expected a or b");
        parse_bad("abide.slot=A", EINVAL, "expected a or b");
        parse_bad("abide.slot=ab", EINVAL, "expected a or b");
        parse_bad("abide.slot=c", EINVAL, "expected a or b");
        parse_bad("abide.slot", EINVAL, "needs a value");
        parse_bad("abide.slot=a abide.wait", EINVAL, "needs a value");
}

static void test_bad_numbers(void **state) {
        parse_bad("abide.slot=a abide.watchdog=", EINVAL, "is empty");
        parse_bad("abide.slot=a abide.watchdog=-1", EINVAL, "not a number");
        parse_bad("abide.slot=a abide.watchdog=+5", EINVAL, "not a number");
        parse_bad("abide.slot=a abide.watchdog=5s", EINVAL, "not a number");
        parse_bad("abide.slot=a abide.watchdog=0x10", EINVAL, "not a number");
        parse_bad("abide.slot=a abide.watchdog=1.5", EINVAL, "not a number");
        parse_bad("abide.slot=a abide.watchdog=86401", ERANGE, "more than 86400");
        parse_bad("abide.slot=a abide.wait=3601", ERANGE, "more than 3600");
        /* Overflow of any integer type is caught, not wrapped. */
        parse_bad("abide.slot=a abide.wait=18446744073709551617", ERANGE, "more than");
        parse_bad("abide.slot=a abide.watchdog=4294967416", ERANGE, "more than");
        parse_bad("abide.slot=a abide.wait=\"\"", EINVAL, "is empty");
}

static void test_seconds(void **state) {
        unsigned v = 99;
        assert_int_equal(init_cmdline_parse_seconds("--wait", "0", 10, &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(init_cmdline_parse_seconds("--wait", "10", 10, &v), 0);
        assert_int_equal(v, 10);
        v = 99;
        assert_int_equal(init_cmdline_parse_seconds("--wait", "11", 10, &v), -ERANGE);
        assert_int_equal(init_cmdline_parse_seconds("--wait", " 1", 10, &v), -EINVAL);
        assert_int_equal(v, 99);
}

static void test_long_line(void **state) {
        /* A kernel command line of the maximum size with the key at the end. */
        size_t n = 4096;
        char *line = malloc(n + 1);
        assert_non_null(line);
        memset(line, 'x', n);
        line[1000] = ' ';
        strcpy(line + n - 13, " abide.slot=b");
        InitCmdline c = parse_ok(line);
        assert_int_equal(c.slot, SLOT_B);
        free(line);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_all_keys),
                cmocka_unit_test(test_last_wins),
                cmocka_unit_test(test_whitespace_and_quotes),
                cmocka_unit_test(test_prefix_lookalikes),
                cmocka_unit_test(test_esp),
                cmocka_unit_test(test_double_dash),
                cmocka_unit_test(test_bad_slot),
                cmocka_unit_test(test_bad_numbers),
                cmocka_unit_test(test_seconds),
                cmocka_unit_test(test_long_line),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
