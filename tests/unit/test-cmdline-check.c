/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "basic/error.h"
#include "bundle/cmdline-check.h"

static void expect_refused(const char *cmdline, const char *msg) {
        err_clear();
        int r = cmdline_check("boot.cmdline", cmdline);
        if (r >= 0)
                fail_msg("accepted: '%s'", cmdline);
        assert_int_equal(r, -EINVAL);
        const char *e = err_message(r);
        if (!strstr(e, msg))
                fail_msg("'%s': error '%s' does not contain '%s'", cmdline, e, msg);
        assert_non_null(strstr(e, "boot.cmdline must not "));
        assert_null(strchr(e, '\n'));
}

static void expect_accepted(const char *cmdline) {
        err_clear();
        int r = cmdline_check("boot.cmdline", cmdline);
        if (r < 0)
                fail_msg("refused '%s': %s", cmdline, err_message(r));
}

static void test_slot_refused(void **state) {
        static const char *const cases[] = {
                "abide.slot=a",
                "abide.slot=b",
                "abide.slot=",
                "abide.slot",
                "console=ttyS0 abide.slot=a",
                "abide.slot=a console=ttyS0",
                "  abide.slot=b  ",
                "quiet abide.slot panic=5",
                "abide.slot=a=b",
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                expect_refused(cases[i], "must not set abide.slot= (abidectl adds it)");
}

static void test_loader_keys_refused(void **state) {
        expect_refused("abide.esp=4ab1014a-9d19-44f8-8c04-dc0c415ad46d", "must not set abide.esp= (the boot loader adds it)");
        expect_refused("console=ttyS0 abide.esp", "must not set abide.esp= (the boot loader adds it)");
        expect_refused("abide.unloadable=b quiet", "must not set abide.unloadable= (the boot loader adds it)");
        expect_accepted("abide.espx=1 abide.unloadables=b xabide.esp=1");
}

static void test_end_of_options_refused(void **state) {
        expect_refused("--", "'--' word");
        expect_refused("abide.slot=a --", "abide.slot=");
        expect_refused("console=ttyS0 --", "must not contain a '--' word");
        expect_refused("-- init=/bin/sh", "'--' word");
        expect_refused("quiet -- ", "'--' word");
}

/* abide-init refuses to boot on these (found by fuzz-cmdline: "abide.wait=30m"). */
static void test_init_values_refused(void **state) {
        static const char *const cases[] = {
                "abide.wait=30m", "abide.wait=", "abide.wait", "abide.wait=3601", "abide.wait=-1",
                "abide.watchdog=x", "abide.watchdog", "abide.watchdog=86401", "abide.watchdog=99999999999999999999",
                "abide.watchdog=+5", "console=ttyS0 abide.watchdog=1.5 quiet",
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                expect_refused(cases[i], "abide-init takes abide.");
        expect_refused("abide.wait=30m", "boot.cmdline must not set abide.wait=30m: abide-init takes abide.wait=SECONDS, 0..3600");
        expect_refused("abide.watchdog=x", "abide.watchdog=SECONDS, 0..86400");

        static const char *const ok[] = { "abide.wait=0", "abide.wait=3600", "abide.wait=007", "abide.watchdog=0",
                                          "abide.watchdog=86400", "abide.waitx=30m", "abide.watchdogs" };
        for (size_t i = 0; i < ELEMENTSOF(ok); i++)
                expect_accepted(ok[i]);
}

static void test_characters_refused(void **state) {
        expect_refused("console=\"ttyS0\"", "quote character (\")");
        expect_refused("x='a b'", "quote character (')");
        expect_refused("\"abide.slot=a\"", "quote character");
        expect_refused("a\\b", "backslash");
        expect_refused("console=ttyS0\npanic=5", "control character 0x0a");
        expect_refused("console=ttyS0\tpanic=5", "control character 0x09");
        expect_refused("x\r", "control character 0x0d");
        expect_refused("\x01", "control character 0x01");
        expect_refused("x\x7f", "control character 0x7f");
        expect_refused("caf\xc3\xa9", "non-ASCII byte 0xc3");
        /* The character rule comes first: a quote that would hide the key is still refused. */
        expect_refused("abide.\"slot\"=a", "quote character");
}

static void test_neighbours_accepted(void **state) {
        static const char *const cases[] = {
                "",
                " ",
                "console=ttyS0 panic=5",
                "  console=ttyS0   panic=5  ",
                /* Other keys are the kernel's or the image's: init reads only abide.slot. */
                "abide.slotx=1",
                "abide.slots=a",
                "xabide.slot=a",
                "abide.slo=a",
                "abide.watchdog=60 abide.wait=10",
                "root=abide.slot=a",
                "---",
                "-",
                "--x",
                "x--",
                "quiet loglevel=3 systemd.unit=multi-user.target a=b=c ~!@#$%^&*()_+{}|:<>?`-=[];,./",
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                expect_accepted(cases[i]);
}

static void test_null(void **state) {
        assert_int_equal(cmdline_check("x", NULL), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_slot_refused),
                cmocka_unit_test(test_loader_keys_refused),
                cmocka_unit_test(test_end_of_options_refused),
                cmocka_unit_test(test_init_values_refused),
                cmocka_unit_test(test_characters_refused),
                cmocka_unit_test(test_neighbours_accepted),
                cmocka_unit_test(test_null),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
