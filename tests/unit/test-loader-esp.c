/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <sys/stat.h>

#include "basic/fileio.h"
#include "basic/rm-rf.h"
#include "boot/efivars.h"
#include "boot/loader-esp.h"

/* The ESP the loader started from: abide-init's note for the rest of a first boot, else the variable. */
static char dir[] = "/tmp/test-loader-esp.XXXXXX";
static char vars[sizeof dir + 16], note[sizeof dir + 16];

static int setup(void **state) {
        (void) state;
        strcpy(dir, "/tmp/test-loader-esp.XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(vars, sizeof vars, "%s/efivars", dir);
        snprintf(note, sizeof note, "%s/note", dir);
        assert_int_equal(mkdir(vars, 0755), 0);
        return 0;
}

static int teardown(void **state) {
        (void) state;
        assert_int_equal(rm_rf(dir), 0);
        return 0;
}

static void expect(const char *want) {
        _cleanup_free_ char *got = NULL;
        assert_int_equal(loader_esp_uuid_from(note, vars, &got), 0);
        assert_string_equal(got, want);
}

static void test_variable_alone(void **state) {
        _cleanup_free_ char *got = NULL;
        (void) state;
        assert_int_equal(loader_esp_uuid_from(note, vars, &got), -ENOENT);
        assert_null(got);
        assert_int_equal(efivars_set_string(vars, "LoaderDevicePartUUID", "735D389E-AE43-45D9-8733-3296DBCD000B"), 0);
        /* lowercased, as blkid reports PARTUUIDs */
        expect("735d389e-ae43-45d9-8733-3296dbcd000b");
        /* without a note path (another efivars directory than the system's), the variable alone */
        assert_int_equal(loader_esp_uuid_from(NULL, vars, &got), 0);
        assert_string_equal(got, "735d389e-ae43-45d9-8733-3296dbcd000b");
}

static void test_note_wins(void **state) {
        (void) state;
        assert_int_equal(efivars_set_string(vars, "LoaderDevicePartUUID", "735D389E-AE43-45D9-8733-3296DBCD000B"), 0);
        assert_int_equal(write_file_atomic(note, "4ab1014a-9d19-44f8-8c04-dc0c415ad46d", 36, 0644), 0);
        expect("4ab1014a-9d19-44f8-8c04-dc0c415ad46d");
        /* a trailing newline and upper case are tolerated */
        assert_int_equal(write_file_atomic(note, "4AB1014A-9D19-44F8-8C04-DC0C415AD46D\n", 37, 0644), 0);
        expect("4ab1014a-9d19-44f8-8c04-dc0c415ad46d");
        /* the note alone, with no variable */
        assert_int_equal(efivars_delete(vars, "LoaderDevicePartUUID"), 0);
        expect("4ab1014a-9d19-44f8-8c04-dc0c415ad46d");
}

static void test_empty_or_oversized_note(void **state) {
        char big[200];
        (void) state;
        assert_int_equal(efivars_set_string(vars, "LoaderDevicePartUUID", "735D389E-AE43-45D9-8733-3296DBCD000B"), 0);
        assert_int_equal(write_file_atomic(note, "", 0, 0644), 0);
        expect("735d389e-ae43-45d9-8733-3296dbcd000b");
        assert_int_equal(write_file_atomic(note, "\n", 1, 0644), 0);
        expect("735d389e-ae43-45d9-8733-3296dbcd000b");
        memset(big, 'a', sizeof big);
        assert_int_equal(write_file_atomic(note, big, sizeof big, 0644), 0);
        expect("735d389e-ae43-45d9-8733-3296dbcd000b");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_variable_alone, setup, teardown),
                cmocka_unit_test_setup_teardown(test_note_wins, setup, teardown),
                cmocka_unit_test_setup_teardown(test_empty_or_oversized_note, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
