/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/sysmacros.h>

#include "basic/error.h"
#include "install/install-policy.h"
#include "install/install-target.h"

#define INFO(ver, compat, sv) \
        "{\n  \"format\": 1,\n  \"name\": \"edge\",\n  \"version\": \"" ver "\",\n  \"compatible\": \"" compat \
        "\",\n  \"security_version\": " sv ",\n  \"build_id\": \"x\"\n}\n"

static void test_identity_parse(void **state) {
        ImageIdentity id = {};
        const char *json = INFO("1.2.0", "board-x", "7");

        assert_int_equal(image_identity_parse(json, strlen(json), &id), 0);
        assert_string_equal(id.name, "edge");
        assert_string_equal(id.version, "1.2.0");
        assert_string_equal(id.compatible, "board-x");
        assert_int_equal(id.security_version, 7);
        image_identity_done(&id);

        /* The largest security version survives. */
        json = INFO("1", "b", "9223372036854775807");
        assert_int_equal(image_identity_parse(json, strlen(json), &id), 0);
        assert_true(id.security_version == INT64_MAX);
        image_identity_done(&id);
}

static void expect_bad(const char *json, const char *message_part) {
        ImageIdentity id = {};
        print_message("  %s\n", message_part);
        assert_int_equal(image_identity_parse(json, strlen(json), &id), -EBADMSG);
        assert_non_null(strstr(err_message(-EBADMSG), message_part));
        assert_null(id.version);
}

static void test_identity_bad(void **state) {
        expect_bad("", "not valid JSON");
        expect_bad("{\"format\": 1,", "not valid JSON");
        expect_bad("{} x", "not valid JSON");
        expect_bad("[1]", "not a JSON object");
        char big[64 * 1024 + 2];
        memset(big, ' ', sizeof big - 1);
        big[sizeof big - 1] = 0;
        expect_bad(big, "larger than");
        expect_bad("{\"name\":\"a\",\"version\":\"1\",\"compatible\":\"c\",\"security_version\":1}", "'format'");
}

static void test_identity_fields(void **state) {
        expect_bad("{\"format\": 2, \"name\":\"a\",\"version\":\"1\",\"compatible\":\"c\",\"security_version\":1}", "'format'");
        expect_bad("{\"format\": 1, \"version\":\"1\",\"compatible\":\"c\",\"security_version\":1}", "'name'");
        expect_bad("{\"format\": 1, \"name\":\"a\",\"compatible\":\"c\",\"security_version\":1}", "'version'");
        expect_bad("{\"format\": 1, \"name\":\"a\",\"version\":\"1\",\"security_version\":1}", "'compatible'");
        expect_bad("{\"format\": 1, \"name\":\"a\",\"version\":1,\"compatible\":\"c\",\"security_version\":1}", "'version'");
        expect_bad("{\"format\": 1, \"name\":\"a\",\"version\":\"\",\"compatible\":\"c\",\"security_version\":1}", "'version'");
        expect_bad("{\"format\": 1, \"name\":\"a\",\"version\":\"1\",\"compatible\":\"c\\u0000d\",\"security_version\":1}", "NUL character");
        /* json-c would cut the key at the NUL and take it for "compatible". */
        expect_bad("{\"format\": 1, \"name\":\"a\",\"version\":\"1\",\"compatible\\u0000x\":\"c\",\"security_version\":1}", "NUL character");
        expect_bad("{\"format\": 1, /* x */ \"name\":\"a\",\"version\":\"1\",\"compatible\":\"c\",\"security_version\":1}", "comment");
        expect_bad("{\"format\": 1, \"name\":\"a\",\"version\":\"1\",\"compatible\":\"c\"}", "'security_version'");
        expect_bad("{\"format\": 1, \"name\":\"a\",\"version\":\"1\",\"compatible\":\"c\",\"security_version\":\"7\"}", "'security_version'");
        expect_bad("{\"format\": 1, \"name\":\"a\",\"version\":\"1\",\"compatible\":\"c\",\"security_version\":1.5}", "'security_version'");
        expect_bad("{\"format\": 1, \"name\":\"a\",\"version\":\"1\",\"compatible\":\"c\",\"security_version\":-1}", "'security_version'");
}

static ImageIdentity ident(const char *version, const char *compat, uint64_t sv) {
        return (ImageIdentity) { .name = (char *) "edge", .version = (char *) version,
                                 .compatible = (char *) compat, .security_version = sv };
}

static const SecurityFloor no_floor = {};

static void expect_policy_floor(ImageIdentity running, ImageIdentity bundle, const SecurityFloor *f, bool force, int want,
                                const char *msg) {
        int r = install_policy_check(&running, &bundle, f, force);
        print_message("  %s -> %s (force=%d): %d %s\n", running.version, bundle.version, force, r, r < 0 ? err_message(r) : "");
        assert_int_equal(r, want);
        if (msg)
                assert_non_null(strstr(err_message(r), msg));
}

static void expect_policy(ImageIdentity running, ImageIdentity bundle, bool force, int want, const char *msg) {
        expect_policy_floor(running, bundle, &no_floor, force, want, msg);
}

static void test_policy(void **state) {
        /* Upgrade, same and higher security version. */
        expect_policy(ident("1.0", "x", 3), ident("1.1", "x", 3), false, 0, NULL);
        expect_policy(ident("1.0", "x", 3), ident("1.1", "x", 4), false, 0, NULL);
        /* A downgrade is fine as long as the security version does not drop. */
        expect_policy(ident("2.0", "x", 3), ident("1.9", "x", 3), false, 0, NULL);
        /* Lower security version: refused, even with --force. */
        expect_policy(ident("1.0", "x", 3), ident("1.1", "x", 2), false, -EPERM,
                      "bundle 1.1 has security version 2, lower than the running image's 3");
        expect_policy(ident("1.0", "x", 3), ident("1.1", "x", 2), true, -EPERM, "lower");
        expect_policy(ident("1.0", "x", UINT64_MAX), ident("1.1", "x", 0), true, -EPERM, "lower");
        /* Other hardware: refused, even with --force, before anything else. */
        expect_policy(ident("1.0", "x", 3), ident("1.1", "y", 3), false, -EMEDIUMTYPE,
                      "bundle is for 'y', this device runs 'x'");
        expect_policy(ident("1.0", "x", 3), ident("1.0", "X", 1), true, -EMEDIUMTYPE, "'X'");
        expect_policy(ident("1.0", "x", 3), ident("1.1", NULL, 3), false, -EMEDIUMTYPE, NULL);
        /* The running version again: only with --force. */
        expect_policy(ident("1.0", "x", 3), ident("1.0", "x", 3), false, -EEXIST, "version 1.0 is already running");
        expect_policy(ident("1.0", "x", 3), ident("1.0", "x", 3), true, 0, NULL);
        expect_policy(ident("1.0", "x", 3), ident("1.0", "x", 4), true, 0, NULL);
        /* Versions compare as strings: "1.0" and "1.00" differ. */
        expect_policy(ident("1.0", "x", 3), ident("1.00", "x", 3), false, 0, NULL);
}

static SecurityFloor floor_of(uint64_t efi, uint64_t state, const char *version) {
        SecurityFloor f;
        floor_combine((FloorCopy) { .have = efi > 0, .value = efi }, (FloorCopy) { .have = state > 0, .value = state },
                      version, &f);
        return f;
}

static void test_policy_floor(void **state) {
        SecurityFloor f = floor_of(0, 2, "2.0");

        /* After a rollback to a slot of security version 1 the floor still says 2. */
        expect_policy_floor(ident("1.0", "x", 1), ident("1.1", "x", 1), &f, false, -EPERM,
                            "bundle 1.1 has security version 1, below this device's floor 2 (raised when 2.0 was blessed)");
        expect_policy_floor(ident("1.0", "x", 1), ident("1.1", "x", 1), &f, true, -EPERM, "below this device's floor 2");
        /* At or above the floor: the running image's rules apply. */
        expect_policy_floor(ident("1.0", "x", 1), ident("2.1", "x", 2), &f, false, 0, NULL);
        expect_policy_floor(ident("1.0", "x", 1), ident("3.0", "x", 3), &f, false, 0, NULL);
        expect_policy_floor(ident("2.0", "x", 2), ident("2.0", "x", 2), &f, false, -EEXIST, "already running");
        /* The running image's security version above the floor still counts. */
        expect_policy_floor(ident("3.0", "x", 3), ident("2.1", "x", 2), &f, false, -EPERM, "lower than the running image's 3");
        /* The EFI copy wins over a lower state copy. */
        f = floor_of(4, 2, "2.0");
        expect_policy_floor(ident("1.0", "x", 1), ident("3.0", "x", 3), &f, false, -EPERM,
                            "security version 3, below this device's floor 4 (kept in the EFI variable AbideSecurityFloor)");
        /* Compatible is checked first. */
        expect_policy_floor(ident("1.0", "x", 1), ident("1.1", "y", 1), &f, false, -EMEDIUMTYPE, "'y'");
}

static void test_tries(void **state) {
        assert_int_equal(install_policy_tries(5, 3, 2), 5);
        assert_int_equal(install_policy_tries(0, 3, 2), 3);
        assert_int_equal(install_policy_tries(0, 0, 2), 2);
        assert_int_equal(install_policy_tries(0, 0, 0), 3);
        assert_int_equal(install_policy_tries(1, 0, 0), 1);
}

static void test_fits(void **state) {
        assert_true(install_policy_fits(0, 0, 4096));
        assert_true(install_policy_fits(4096, 4096, 4096));
        assert_true(install_policy_fits(4095, 4096, 4096));
        assert_false(install_policy_fits(4097, 4096, 4096));
        /* Room for the bytes but not for the padded last block. */
        assert_false(install_policy_fits(4097, 8000, 4096));
        assert_true(install_policy_fits(4097, 8000, 1));
        assert_true(install_policy_fits(4097, 8192, 4096));
        assert_true(install_policy_fits(4097, 8192, 0));
        assert_false(install_policy_fits(UINT64_MAX, UINT64_MAX - 1, 4096));
        assert_false(install_policy_fits(UINT64_MAX - 1, UINT64_MAX, 4096));
}

static void test_mountinfo(void **state) {
        const char *mi =
                "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
                "30 22 0:25 / /proc rw - proc proc rw\n"
                "41 22 259:5 / /mnt/with\\040space rw - ext4 /dev/loop0p5 rw\n"
                "42 22 7:0 /sub /mnt/second rw - erofs /dev/loop0 ro\n";
        char *mp = NULL;

        assert_int_equal(mountinfo_find_device(mi, makedev(259, 5), &mp), 1);
        assert_string_equal(mp, "/mnt/with space");
        free(mp);
        mp = NULL;
        assert_int_equal(mountinfo_find_device(mi, makedev(254, 0), &mp), 1);
        assert_string_equal(mp, "/");
        free(mp);
        mp = NULL;
        assert_int_equal(mountinfo_find_device(mi, makedev(7, 0), &mp), 1);
        assert_string_equal(mp, "/mnt/second");
        free(mp);
        mp = NULL;
        assert_int_equal(mountinfo_find_device(mi, makedev(259, 6), &mp), 0);
        assert_int_equal(mountinfo_find_device(mi, makedev(5, 259), &mp), 0);
        assert_int_equal(mountinfo_find_device("", makedev(259, 5), &mp), 0);
        assert_int_equal(mountinfo_find_device("garbage\n\n1 2 x:y\n", makedev(259, 5), &mp), 0);
        /* A trailing backslash is kept, not read past. */
        assert_int_equal(mountinfo_find_device("1 2 8:1 / /a\\04", makedev(8, 1), &mp), 1);
        assert_string_equal(mp, "/a\\04");
        free(mp);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_identity_parse),
                cmocka_unit_test(test_identity_bad),
                cmocka_unit_test(test_identity_fields),
                cmocka_unit_test(test_policy),
                cmocka_unit_test(test_policy_floor),
                cmocka_unit_test(test_tries),
                cmocka_unit_test(test_fits),
                cmocka_unit_test(test_mountinfo),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
