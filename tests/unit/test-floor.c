/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "basic/error.h"
#include "slot/floor.h"

static const FloorCopy none = {};
static FloorCopy have(uint64_t v) {
        return (FloorCopy) { .have = true, .value = v };
}

static void test_combine(void **state) {
        SecurityFloor f;

        floor_combine(none, none, "ignored", &f);
        assert_int_equal(f.value, 0);
        assert_int_equal(f.source, FLOOR_SOURCE_NONE);
        assert_null(f.version);

        floor_combine(none, have(2), "2.0", &f);
        assert_int_equal(f.value, 2);
        assert_int_equal(f.source, FLOOR_SOURCE_STATE);
        assert_string_equal(f.version, "2.0");

        /* The state file lost or corrupt: the EFI variable alone. */
        floor_combine(have(3), none, NULL, &f);
        assert_int_equal(f.value, 3);
        assert_int_equal(f.source, FLOOR_SOURCE_EFI);
        assert_null(f.version);

        /* A state file edited to a lower floor: the EFI variable wins, the version is not claimed. */
        floor_combine(have(3), have(1), "1.0", &f);
        assert_int_equal(f.value, 3);
        assert_int_equal(f.source, FLOOR_SOURCE_EFI);
        assert_null(f.version);

        /* The EFI variable deleted or reset lower: the state file's copy still holds. */
        floor_combine(have(1), have(4), "4.0", &f);
        assert_int_equal(f.value, 4);
        assert_int_equal(f.source, FLOOR_SOURCE_STATE);
        assert_string_equal(f.version, "4.0");

        /* A tie: the state's copy, which knows the version. */
        floor_combine(have(4), have(4), "4.0", &f);
        assert_int_equal(f.value, 4);
        assert_int_equal(f.source, FLOOR_SOURCE_STATE);
        assert_string_equal(f.version, "4.0");
        assert_true(f.efi.have && f.efi.value == 4 && f.state.have && f.state.value == 4);

        floor_combine(have(UINT64_MAX), have(0), NULL, &f);
        assert_true(f.value == UINT64_MAX);
}

static void expect_floor(const SecurityFloor *f, bool known, uint64_t sv, int want, const char *msg) {
        err_clear();
        int r = floor_check(f, "bundle 1.0", known, sv);
        print_message("  floor %llu, sv %llu%s: %d %s\n", (unsigned long long) f->value, (unsigned long long) sv,
                      known ? "" : " (unknown)", r, r < 0 ? err_message(r) : "");
        assert_int_equal(r, want);
        if (msg)
                assert_string_equal(err_message(r), msg);
}

static void test_check(void **state) {
        SecurityFloor f;

        /* No floor: anything, even an image that does not say. */
        floor_combine(none, none, NULL, &f);
        expect_floor(&f, true, 0, 0, NULL);
        expect_floor(&f, false, 0, 0, NULL);

        floor_combine(none, have(2), "2.0", &f);
        expect_floor(&f, true, 2, 0, NULL);
        expect_floor(&f, true, 3, 0, NULL);
        expect_floor(&f, true, UINT64_MAX, 0, NULL);
        expect_floor(&f, true, 1, -EPERM,
                     "bundle 1.0 has security version 1, below this device's floor 2 (raised when 2.0 was blessed)");
        expect_floor(&f, true, 0, -EPERM,
                     "bundle 1.0 has security version 0, below this device's floor 2 (raised when 2.0 was blessed)");
        expect_floor(&f, false, 7, -EPERM,
                     "bundle 1.0 has no known security version, and this device's floor is 2 (raised when 2.0 was blessed)");

        floor_combine(have(5), have(2), "2.0", &f);
        expect_floor(&f, true, 4, -EPERM,
                     "bundle 1.0 has security version 4, below this device's floor 5 (kept in the EFI variable AbideSecurityFloor)");
        expect_floor(&f, true, 5, 0, NULL);

        /* The lowest floor there is holds too: 1 refuses 0 and an image that does not say. */
        floor_combine(have(1), none, NULL, &f);
        expect_floor(&f, true, 1, 0, NULL);
        expect_floor(&f, true, 0, -EPERM,
                     "bundle 1.0 has security version 0, below this device's floor 1 (kept in the EFI variable AbideSecurityFloor)");
        expect_floor(&f, false, 0, -EPERM,
                     "bundle 1.0 has no known security version, and this device's floor is 1 (kept in the EFI variable AbideSecurityFloor)");

        /* A state copy without the version that raised it. */
        floor_combine(none, have(2), NULL, &f);
        expect_floor(&f, true, 1, -EPERM,
                     "bundle 1.0 has security version 1, below this device's floor 2 (kept in the state file)");
}

static void expect_plan(FloorCopy efi, FloorCopy st, uint64_t sv, uint64_t value, bool write_efi, bool write_state) {
        SecurityFloor f;
        FloorRaise p;
        floor_combine(efi, st, NULL, &f);
        floor_raise_plan(&f, sv, &p);
        assert_true(p.value == value);
        assert_int_equal(p.write_efi, write_efi);
        assert_int_equal(p.write_state, write_state);
}

static void test_raise_plan(void **state) {
        /* Factory image of security version 0: nothing to write, ever. */
        expect_plan(none, none, 0, 0, false, false);
        expect_plan(none, have(0), 0, 0, false, false);
        /* First bless of a versioned image: both copies. */
        expect_plan(none, none, 2, 2, true, true);
        /* Equal copies: no writes (boot-check runs on every boot; NVRAM wears). */
        expect_plan(have(2), have(2), 2, 2, false, false);
        /* Rising. */
        expect_plan(have(2), have(2), 3, 3, true, true);
        /* Blessing a lower image never lowers anything. */
        expect_plan(have(3), have(3), 1, 3, false, false);
        /* A lowered or lost copy is brought back up to the other. */
        expect_plan(have(3), have(1), 1, 3, false, true);
        expect_plan(have(3), none, 2, 3, false, true);
        expect_plan(have(1), have(3), 2, 3, true, false);
        expect_plan(none, have(3), 3, 3, true, false);
        expect_plan(have(0), have(0), 1, 1, true, true);
        expect_plan(have(UINT64_MAX), have(1), 5, UINT64_MAX, false, true);
}

static void test_efi_format(void **state) {
        uint8_t d[FLOOR_EFI_SIZE];
        uint64_t v = 99;

        floor_efi_encode(0x0102030405060708ULL, d);
        assert_int_equal(d[0], 0x08);
        assert_int_equal(d[7], 0x01);
        assert_int_equal(floor_efi_decode(d, sizeof d, &v), 0);
        assert_true(v == 0x0102030405060708ULL);
        floor_efi_encode(UINT64_MAX, d);
        assert_int_equal(floor_efi_decode(d, sizeof d, &v), 0);
        assert_true(v == UINT64_MAX);
        floor_efi_encode(2, d);
        assert_int_equal(floor_efi_decode(d, sizeof d, &v), 0);
        assert_true(v == 2);

        /* Truncated or padded: corrupt, and the output is left alone. */
        v = 99;
        assert_int_equal(floor_efi_decode(d, 7, &v), -EBADMSG);
        assert_string_equal(err_message(-EBADMSG), "EFI variable AbideSecurityFloor: 7 bytes, expected 8");
        assert_int_equal(floor_efi_decode(d, 0, &v), -EBADMSG);
        uint8_t nine[9] = {};
        assert_int_equal(floor_efi_decode(nine, sizeof nine, &v), -EBADMSG);
        assert_true(v == 99);
}

static void test_source_names(void **state) {
        assert_string_equal(floor_source_to_string(FLOOR_SOURCE_NONE), "none");
        assert_string_equal(floor_source_to_string(FLOOR_SOURCE_STATE), "state");
        assert_string_equal(floor_source_to_string(FLOOR_SOURCE_EFI), "efi");
        assert_string_equal(floor_source_to_string((FloorSource) 42), "none");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_combine),
                cmocka_unit_test(test_check),
                cmocka_unit_test(test_raise_plan),
                cmocka_unit_test(test_efi_format),
                cmocka_unit_test(test_source_names),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
