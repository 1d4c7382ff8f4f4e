/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../builder/disk-layout.h"
#include "basic/error.h"

#define MiB (UINT64_C(1) << 20)

static Payload payloads[] = {
        { .name = (char *) "root.img", .role = PAYLOAD_ROOT, .size = 10 * MiB },
        { .name = (char *) "root.verity", .role = PAYLOAD_VERITY, .size = 90112 },
        { .name = (char *) "root.verity-sig", .role = PAYLOAD_VERITY_SIG, .size = 4096 },
        { .name = (char *) "vmlinuz", .role = PAYLOAD_KERNEL, .size = 8 * MiB },
        { .name = (char *) "initrd", .role = PAYLOAD_INITRD, .size = 2 * MiB },
};

static void manifest_init(Manifest *m, size_t n_payloads) {
        *m = (Manifest) {
                .name = (char *) "t", .version = (char *) "1", .cmdline = (char *) "console=ttyS0",
                .tries = 3, .payloads = payloads, .n_payloads = n_payloads,
                .verity = { .hash_algorithm = "sha256", .data_block_size = 4096, .hash_block_size = 4096 },
        };
        strcpy(m->verity.root_hash, "00112233445566778899aabbccddeeff0123456789abcdef0011223344556677");
}

static void test_parse_size(void **state) {
        static const struct {
                const char *s;
                uint64_t v;
        } good[] = {
                { "4096", 4096 }, { "64M", 64 * MiB }, { "2G", 2048 * MiB }, { "1T", UINT64_C(1) << 40 },
                { "512K", 512 * 1024 }, { "512KiB", 512 * 1024 }, { "3MB", 3 * MiB },
        };
        static const char *const bad[] = {
                "", "M", "-1", "+1", "0", "0M", "12Q", "1.5G", "64MiBx", " 64M", "99999999999999999999",
                "17179869184T",
        };
        uint64_t v;

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                assert_int_equal(disk_parse_size(good[i].s, &v), 0);
                assert_true(v == good[i].v);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                v = 42;
                assert_true(disk_parse_size(bad[i], &v) < 0);
                assert_true(v == 42);
        }
}

static void test_verity_hash_size(void **state) {
        /* veritysetup format: 768 data blocks -> 6 + 1 hash blocks and the superblock. */
        assert_true(disk_verity_hash_size(768 * 4096, 4096, 4096) == 8 * 4096);
        /* 1 GiB: 2048 + 16 + 1 hash blocks and the superblock. */
        assert_true(disk_verity_hash_size(UINT64_C(1) << 30, 4096, 4096) == 2066 * 4096);
        /* An upper bound for the degenerate one-block image (veritysetup writes only the superblock). */
        assert_true(disk_verity_hash_size(4096, 4096, 4096) >= 4096);
}

static void check_layout(const DiskLayout *l) {
        uint64_t end = DISK_ALIGN;

        for (size_t i = 0; i < _DISK_PART_MAX; i++) {
                const DiskPart *p = &l->parts[i];
                assert_true(p->offset == end);
                assert_true(p->offset % DISK_ALIGN == 0 && p->size % DISK_ALIGN == 0 && p->size > 0);
                end = p->offset + p->size;
                for (size_t j = 0; j < i; j++)
                        assert_string_not_equal(p->uuid, l->parts[j].uuid);
                assert_true(l->parts_no_auto[i] == (i >= DISK_PART_ROOT_B && i <= DISK_PART_VERITY_SIG_B));
        }
        assert_true(end + DISK_ALIGN == l->disk_size);
}

static void test_layout_default(void **state) {
        Manifest m;
        DiskLayout l;

        manifest_init(&m, ELEMENTSOF(payloads));
        assert_int_equal(disk_layout_compute(&m, &(DiskSizes) {}, &l), 0);
        check_layout(&l);
        assert_string_equal(l.parts[DISK_PART_ROOT_A].label, "abide-root-a");
        assert_string_equal(l.parts[DISK_PART_DATA].label, "abide-data");
        assert_string_equal(l.parts[DISK_PART_ROOT_A].uuid, "00112233-4455-6677-8899-aabbccddeeff");
        assert_string_equal(l.parts[DISK_PART_VERITY_A].uuid, "01234567-89ab-cdef-0011-223344556677");
        assert_string_equal(l.parts[DISK_PART_ESP].type, "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
        /* Headroom: half again for the root, room for two slots' kernels twice over. */
        assert_true(l.parts[DISK_PART_ROOT_A].size >= 15 * MiB);
        assert_true(l.parts[DISK_PART_ROOT_B].size == l.parts[DISK_PART_ROOT_A].size);
        assert_true(l.parts[DISK_PART_ESP].size >= 4 * 10 * MiB);
        assert_true(l.parts[DISK_PART_VERITY_A].size >=
                    disk_verity_hash_size(l.parts[DISK_PART_ROOT_A].size, 4096, 4096));
        assert_true(l.parts[DISK_PART_DATA].size == DISK_DATA_DEFAULT);

        /* Same bundle, same UUIDs. */
        DiskLayout l2;
        assert_int_equal(disk_layout_compute(&m, &(DiskSizes) {}, &l2), 0);
        assert_string_equal(l.disk_uuid, l2.disk_uuid);
        for (size_t i = 0; i < _DISK_PART_MAX; i++)
                assert_string_equal(l.parts[i].uuid, l2.parts[i].uuid);
}

static void test_layout_sizes(void **state) {
        Manifest m;
        DiskLayout l;

        manifest_init(&m, ELEMENTSOF(payloads));
        assert_int_equal(disk_layout_compute(&m, &(DiskSizes) { .disk = 1024 * MiB, .slot = 64 * MiB, .esp = 100 * MiB },
                                             &l), 0);
        check_layout(&l);
        assert_true(l.disk_size == 1024 * MiB);
        assert_true(l.parts[DISK_PART_ROOT_A].size == 64 * MiB && l.parts[DISK_PART_ESP].size == 100 * MiB);

        assert_int_equal(disk_layout_compute(&m, &(DiskSizes) { .disk = 64 * MiB }, &l), -ENOSPC);
        assert_non_null(strstr(err_message(ENOSPC), "--size"));
        assert_int_equal(disk_layout_compute(&m, &(DiskSizes) { .slot = 9 * MiB }, &l), -ENOSPC);
        assert_non_null(strstr(err_message(ENOSPC), "--slot-size"));
        assert_int_equal(disk_layout_compute(&m, &(DiskSizes) { .esp = 31 * MiB }, &l), -ENOSPC);
        assert_non_null(strstr(err_message(ENOSPC), "--esp-size"));
        /* 32 MiB of 512-byte clusters is fewer than FAT32's 65525. */
        assert_int_equal(disk_layout_compute(&m, &(DiskSizes) { .esp = 32 * MiB }, &l), -ENOSPC);
        assert_non_null(strstr(err_message(ENOSPC), "FAT32"));
        assert_int_equal(disk_layout_compute(&m, &(DiskSizes) { .esp = 33 * MiB }, &l), 0);
        assert_int_equal(disk_layout_compute(&m, &(DiskSizes) { .data = 8 * MiB }, &l), -ENOSPC);
        assert_int_equal(disk_layout_compute(&m, &(DiskSizes) { .slot = 64 * MiB + 512 }, &l), -EINVAL);
}

static void test_layout_needs_kernel(void **state) {
        Manifest m;
        DiskLayout l;

        manifest_init(&m, 3);
        assert_int_equal(disk_layout_compute(&m, &(DiskSizes) {}, &l), -EINVAL);
        assert_non_null(strstr(err_message(EINVAL), "no kernel payload"));
        manifest_init(&m, 4);
        assert_int_equal(disk_layout_compute(&m, &(DiskSizes) {}, &l), -EINVAL);
        assert_non_null(strstr(err_message(EINVAL), "no initrd payload"));
}

static void test_sfdisk_script(void **state) {
        Manifest m;
        DiskLayout l;
        char *s;

        manifest_init(&m, ELEMENTSOF(payloads));
        assert_int_equal(disk_layout_compute(&m, &(DiskSizes) {}, &l), 0);
        assert_int_equal(disk_layout_to_sfdisk(&l, &s), 0);
        assert_non_null(strstr(s, "label: gpt\n"));
        assert_non_null(strstr(s, "start=2048, size="));
        assert_non_null(strstr(s, "uuid=00112233-4455-6677-8899-aabbccddeeff, name=\"abide-root-a\"\n"));
        assert_non_null(strstr(s, "name=\"abide-root-b\", attrs=\"GUID:63\"\n"));
        assert_non_null(strstr(s, "type=4d21b016-b534-45c2-a9fb-5c16e091fd2d"));
        free(s);
}

/* The root, verity and verity-sig types are the manifest's architecture's DPS types; the rest are fixed. */
static void test_layout_architecture(void **state) {
        static const struct {
                Architecture arch;
                const char *root, *verity, *sig;
        } cases[] = {
                { ARCH_X86_64, "4f68bce3-e8cd-4db1-96e7-fbcaf984b709", "2c7357ed-ebd2-46d9-aec1-23d437ec2bf5",
                  "41092b05-9fc8-4523-994f-2def0408b176" },
                { ARCH_ARM64, "b921b045-1df0-41c3-af44-4c6f280d3fae", "df3300ce-d69f-4c92-978c-9bfb0f38d820",
                  "6db69de6-29f4-4758-a7a5-962190f00ce3" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Manifest m;
                DiskLayout l;
                manifest_init(&m, ELEMENTSOF(payloads));
                m.architecture = cases[i].arch;
                assert_int_equal(disk_layout_compute(&m, &(DiskSizes) {}, &l), 0);
                assert_string_equal(l.parts[DISK_PART_ROOT_A].type, cases[i].root);
                assert_string_equal(l.parts[DISK_PART_ROOT_B].type, cases[i].root);
                assert_string_equal(l.parts[DISK_PART_VERITY_A].type, cases[i].verity);
                assert_string_equal(l.parts[DISK_PART_VERITY_B].type, cases[i].verity);
                assert_string_equal(l.parts[DISK_PART_VERITY_SIG_A].type, cases[i].sig);
                assert_string_equal(l.parts[DISK_PART_VERITY_SIG_B].type, cases[i].sig);
                assert_string_equal(l.parts[DISK_PART_ESP].type, "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
                assert_string_equal(l.parts[DISK_PART_DATA].type, "4d21b016-b534-45c2-a9fb-5c16e091fd2d");
        }
        Manifest m;
        DiskLayout l;
        manifest_init(&m, ELEMENTSOF(payloads));
        m.architecture = _ARCH_MAX;
        assert_true(disk_layout_compute(&m, &(DiskSizes) {}, &l) < 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_size),        cmocka_unit_test(test_verity_hash_size),
                cmocka_unit_test(test_layout_default),    cmocka_unit_test(test_layout_sizes),
                cmocka_unit_test(test_layout_needs_kernel), cmocka_unit_test(test_sfdisk_script),
                cmocka_unit_test(test_layout_architecture),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
