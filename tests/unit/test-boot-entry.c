/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "boot/boot-entry.h"

static void expect_name(const char *name, Slot slot, BootCounterState state, unsigned left, unsigned done) {
        Slot s = _SLOT_INVALID;
        BootCounter c = {};

        print_message("  %s\n", name);
        assert_int_equal(boot_entry_name_parse(name, &s, &c), 0);
        assert_int_equal(s, slot);
        assert_int_equal(c.state, state);
        assert_int_equal(c.left, left);
        assert_int_equal(c.done, done);

        /* Formatting gives the canonical name back (done == 0 is written without "-0"). */
        char buf[BOOT_ENTRY_NAME_MAX];
        assert_int_equal(boot_entry_name_format(s, &c, buf), 0);
        Slot s2;
        BootCounter c2;
        assert_int_equal(boot_entry_name_parse(buf, &s2, &c2), 0);
        assert_int_equal(s2, s);
        assert_int_equal(c2.state, c.state);
        assert_int_equal(c2.left, c.left);
        assert_int_equal(c2.done, c.done);
}

static void test_valid(void **state) {
        expect_name("abide-a.conf", SLOT_A, BOOT_COUNTER_GOOD, 0, 0);
        expect_name("abide-b.conf", SLOT_B, BOOT_COUNTER_GOOD, 0, 0);
        expect_name("abide-b+3.conf", SLOT_B, BOOT_COUNTER_PENDING, 3, 0);
        expect_name("abide-b+2-1.conf", SLOT_B, BOOT_COUNTER_PENDING, 2, 1);
        expect_name("abide-a+0-3.conf", SLOT_A, BOOT_COUNTER_BAD, 0, 3);
        expect_name("abide-a+0.conf", SLOT_A, BOOT_COUNTER_BAD, 0, 0);
        expect_name("abide-a+1-0.conf", SLOT_A, BOOT_COUNTER_PENDING, 1, 0);
        expect_name("abide-b+9999-9999.conf", SLOT_B, BOOT_COUNTER_PENDING, 9999, 9999);
        expect_name("abide-a+03-01.conf", SLOT_A, BOOT_COUNTER_PENDING, 3, 1);
}

static void test_malformed(void **state) {
        static const char *const bad[] = {
                "", "abide-", "abide-.conf", "abide-a", "abide-a.con", "abide-a.conf~", "abide-a.CONF",
                "abide-A.conf", "abide-B+3.conf", "abide-c.conf", "abide-ab.conf", "abide-a-b.conf",
                "Abide-a.conf", "abide_a.conf", "xabide-a.conf", "abide-a+.conf", "abide-a+-1.conf",
                "abide-a+3-.conf", "abide-a+a.conf", "abide-a+3-a.conf", "abide-a+99999999999.conf",
                "abide-a+10000.conf", "abide-a+1-10000.conf", "abide-a++3.conf", "abide-a+3+1.conf",
                "abide-a+3-1-1.conf", "abide-a+ 3.conf", "abide-a+-0.conf", "abide-a+3.conf.conf",
                "abide-a.b.conf", "abide-a..conf", "abide-a+3.1.conf", "abide-a+0x3.conf",
                "abide-a+3", "abide-a+3-1", "abide-a+4294967299.conf", "abide-a+18446744073709551619.conf",
                "abide-a.conf/", "../abide-a.conf", "abide-a/..conf", "abide-a+3.conf\n",
        };

        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
                Slot s = SLOT_B;
                BootCounter c = { .state = BOOT_COUNTER_MISSING, .left = 77 };
                print_message("  '%s'\n", bad[i]);
                assert_int_equal(boot_entry_name_parse(bad[i], &s, &c), -EINVAL);
                /* Outputs untouched on failure. */
                assert_int_equal(s, SLOT_B);
                assert_int_equal(c.left, 77);
        }
}

static void test_is_ours(void **state) {
        assert_true(boot_entry_name_is_ours("abide-a.conf"));
        assert_true(boot_entry_name_is_ours("abide-x+3.conf"));
        assert_false(boot_entry_name_is_ours("debian.conf"));
        assert_false(boot_entry_name_is_ours("abide-a+3"));
        assert_false(boot_entry_name_is_ours(".#abide-a+3.conf.XYZ123"));
}

static void test_format_name(void **state) {
        char buf[BOOT_ENTRY_NAME_MAX];

        assert_int_equal(boot_entry_name_format(SLOT_B, &(BootCounter) { BOOT_COUNTER_PENDING, 3, 0 }, buf), 0);
        assert_string_equal(buf, "abide-b+3.conf");
        assert_int_equal(boot_entry_name_format(SLOT_A, &(BootCounter) { BOOT_COUNTER_BAD, 0, 3 }, buf), 0);
        assert_string_equal(buf, "abide-a+0-3.conf");
        /* A bad counter ignores a stray "left". */
        assert_int_equal(boot_entry_name_format(SLOT_A, &(BootCounter) { BOOT_COUNTER_BAD, 5, 2 }, buf), 0);
        assert_string_equal(buf, "abide-a+0-2.conf");
        assert_int_equal(boot_entry_name_format(SLOT_A, &(BootCounter) { BOOT_COUNTER_GOOD, 5, 2 }, buf), 0);
        assert_string_equal(buf, "abide-a.conf");

        assert_int_equal(boot_entry_name_format(SLOT_A, &(BootCounter) { BOOT_COUNTER_PENDING, 0, 1 }, buf), -EINVAL);
        assert_int_equal(boot_entry_name_format(SLOT_A, &(BootCounter) { BOOT_COUNTER_PENDING, 10000, 0 }, buf), -EINVAL);
        assert_int_equal(boot_entry_name_format(SLOT_A, &(BootCounter) { BOOT_COUNTER_MISSING, 0, 0 }, buf), -EINVAL);
        assert_int_equal(boot_entry_name_format(_SLOT_MAX, &(BootCounter) { BOOT_COUNTER_GOOD, 0, 0 }, buf), -EINVAL);
}

/* Type #2: the slot's UKI in EFI/Linux, the same counter grammar with ".efi". */
static void test_uki_names(void **state) {
        char buf[BOOT_ENTRY_NAME_MAX];
        BootEntryType t;
        BootCounter c;
        Slot s;

        assert_int_equal(boot_entry_name_parse_any("abide-b+2-1.efi", &s, &c, &t), 0);
        assert_int_equal(t, BOOT_ENTRY_TYPE2);
        assert_int_equal(s, SLOT_B);
        assert_int_equal(c.state, BOOT_COUNTER_PENDING);
        assert_int_equal(c.left, 2);
        assert_int_equal(c.done, 1);
        assert_int_equal(boot_entry_name_parse_any("abide-a+0-3.efi", &s, &c, &t), 0);
        assert_int_equal(c.state, BOOT_COUNTER_BAD);
        assert_int_equal(boot_entry_name_parse_any("abide-a.conf", &s, &c, &t), 0);
        assert_int_equal(t, BOOT_ENTRY_TYPE1);
        assert_int_equal(c.state, BOOT_COUNTER_GOOD);

        /* Each type's own parser takes only its suffix. */
        assert_int_equal(boot_entry_name_parse("abide-a.efi", &s, &c), -EINVAL);
        assert_int_equal(boot_entry_name_parse_type("abide-a.conf", BOOT_ENTRY_TYPE2, &s, &c), -EINVAL);
        assert_int_equal(boot_entry_name_parse_any("abide-a.EFI", &s, &c, &t), -EINVAL);
        assert_int_equal(boot_entry_name_parse_any("abide-a.efi.conf.efi", &s, &c, &t), -EINVAL);
        assert_int_equal(boot_entry_name_parse_any("abide-a+3.efi~", &s, &c, &t), -EINVAL);
        assert_int_equal(boot_entry_name_parse_any(".#abide-a+3.efi.XYZ123", &s, &c, &t), -EINVAL);
        assert_int_equal(boot_entry_name_parse_type("abide-a.efi", _BOOT_ENTRY_TYPE_INVALID, &s, &c), -EINVAL);

        assert_true(boot_entry_name_is_ours_type("abide-a+3.efi", BOOT_ENTRY_TYPE2));
        assert_false(boot_entry_name_is_ours_type("abide-a+3.efi", BOOT_ENTRY_TYPE1));
        assert_false(boot_entry_name_is_ours_type("linux-6.1.efi", BOOT_ENTRY_TYPE2));
        assert_false(boot_entry_name_is_ours_type(".#abide-a+3.efi.XYZ123", BOOT_ENTRY_TYPE2));

        assert_int_equal(boot_entry_name_format_type(SLOT_B, &(BootCounter) { BOOT_COUNTER_PENDING, 3, 0 }, BOOT_ENTRY_TYPE2, buf), 0);
        assert_string_equal(buf, "abide-b+3.efi");
        assert_int_equal(boot_entry_name_format_type(SLOT_A, &(BootCounter) { BOOT_COUNTER_GOOD, 0, 0 }, BOOT_ENTRY_TYPE2, buf), 0);
        assert_string_equal(buf, "abide-a.efi");
        assert_int_equal(boot_entry_name_format_type(SLOT_A, &(BootCounter) { BOOT_COUNTER_BAD, 0, 2 }, BOOT_ENTRY_TYPE2, buf), 0);
        assert_string_equal(buf, "abide-a+0-2.efi");
        assert_int_equal(boot_entry_name_format_type(SLOT_A, &(BootCounter) { BOOT_COUNTER_GOOD, 0, 0 }, _BOOT_ENTRY_TYPE_MAX, buf), -EINVAL);
}

static void test_entry_text(void **state) {
        char *text = NULL, *v = NULL;

        assert_int_equal(boot_entry_format(SLOT_B, &(BootEntrySpec) { "1.2.0", "console=ttyS0 panic=5", 3 }, &text), 0);
        assert_string_equal(text,
                            "title abide 1.2.0 (slot b)\n"
                            "version 1.2.0\n"
                            "sort-key abide\n"
                            "linux /abide/b/vmlinuz\n"
                            "initrd /abide/b/initrd\n"
                            "options console=ttyS0 panic=5 abide.slot=b\n");
        assert_int_equal(boot_entry_parse_version(text, &v), 0);
        assert_string_equal(v, "1.2.0");
        free(v);
        free(text);

        assert_int_equal(boot_entry_format(SLOT_A, &(BootEntrySpec) { "2", NULL, 0 }, &text), 0);
        assert_non_null(strstr(text, "\noptions abide.slot=a\n"));
        free(text);

        text = (char *) 0x1;
        assert_int_equal(boot_entry_format(SLOT_A, &(BootEntrySpec) { "1.0\nlinux /evil", NULL, 3 }, &text), -EINVAL);
        assert_int_equal(boot_entry_format(SLOT_A, &(BootEntrySpec) { "", NULL, 3 }, &text), -EINVAL);
        assert_int_equal(boot_entry_format(SLOT_A, &(BootEntrySpec) { NULL, NULL, 3 }, &text), -EINVAL);
        assert_int_equal(boot_entry_format(SLOT_A, &(BootEntrySpec) { "1 2", NULL, 3 }, &text), -EINVAL);
        assert_int_equal(boot_entry_format(SLOT_A, &(BootEntrySpec) { "1", "quiet\ninitrd /x", 3 }, &text), -EINVAL);
        assert_ptr_equal(text, (char *) 0x1);
}

static void test_parse_version(void **state) {
        char *v = NULL;

        assert_int_equal(boot_entry_parse_version("title x\n  version\t 3.1-rc1  \r\nsort-key abide\n", &v), 0);
        assert_string_equal(v, "3.1-rc1");
        free(v);
        assert_int_equal(boot_entry_parse_version("version 7", &v), 0);
        assert_string_equal(v, "7");
        free(v);
        v = NULL;
        assert_int_equal(boot_entry_parse_version("title x\nversions 3\n", &v), -ENOENT);
        assert_int_equal(boot_entry_parse_version("version \n", &v), -ENOENT);
        assert_int_equal(boot_entry_parse_version("", &v), -ENOENT);
        assert_null(v);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_valid),
                cmocka_unit_test(test_malformed),
                cmocka_unit_test(test_is_ours),
                cmocka_unit_test(test_format_name),
                cmocka_unit_test(test_uki_names),
                cmocka_unit_test(test_entry_text),
                cmocka_unit_test(test_parse_version),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
