/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../builder/uki.h"
#include "basic/error.h"

/* A minimal PE32+ image: DOS header, PE signature at 0x80, COFF header, a
 * 240-byte optional header, n section headers. */
#define PE 0x80
#define OPT (PE + 24)
#define SEC (OPT + 240)

static uint8_t img[4096];

static void put16(size_t off, uint16_t v) {
        img[off] = (uint8_t) v;
        img[off + 1] = (uint8_t) (v >> 8);
}

static void put32(size_t off, uint32_t v) {
        for (int i = 0; i < 4; i++)
                img[off + i] = (uint8_t) (v >> (8 * i));
}

static void put64(size_t off, uint64_t v) {
        put32(off, (uint32_t) v);
        put32(off + 4, (uint32_t) (v >> 32));
}

static void add_section(size_t i, const char *name, uint32_t va, uint32_t vsize) {
        memcpy(img + SEC + 40 * i, name, strlen(name));
        put32(SEC + 40 * i + 8, vsize);
        put32(SEC + 40 * i + 12, va);
        put16(PE + 4 + 2, (uint16_t) (i + 1));
}

/* The layout of systemd 252's linuxx64.efi.stub: ImageBase 0, SectionAlignment 0x200. */
static void make_stub(uint64_t image_base, uint32_t align) {
        memset(img, 0, sizeof img);
        img[0] = 'M';
        img[1] = 'Z';
        put32(0x3c, PE);
        memcpy(img + PE, "PE\0\0", 4);
        put16(PE + 4 + 16, 240);
        put16(OPT, 0x20b);
        put64(OPT + 24, image_base);
        put32(OPT + 32, align);
        add_section(0, ".text", 0x4000, 0xbff0);
        add_section(1, ".data", 0x11000, 0x34b8);
        add_section(2, ".sdmagic", 0x19100, 0x34);
}

static const uint64_t sizes[_UKI_SECTION_MAX] = { 0x7c, 0x22, 0x7dd7c0, 0x5a4e82 };

static void test_layout_after_last_section(void **state) {
        uint64_t vma[_UKI_SECTION_MAX];

        make_stub(0, 0x200);
        assert_int_equal(uki_layout(img, sizeof img, sizes, vma), 0);
        /* The stub ends at 0x19134: the first page after it, then each section's pages. */
        assert_int_equal(vma[UKI_SECTION_OSREL], 0x1a000);
        assert_int_equal(vma[UKI_SECTION_CMDLINE], 0x1b000);
        assert_int_equal(vma[UKI_SECTION_LINUX], 0x1c000);
        assert_int_equal(vma[UKI_SECTION_INITRD], 0x1c000 + 0x7de000);
        assert_string_equal(uki_section_name(UKI_SECTION_INITRD), ".initrd");
        assert_null(uki_section_name(_UKI_SECTION_MAX));

        /* ImageBase is added; a SectionAlignment above 4 KiB is kept. */
        make_stub(0x140000000, 0x10000);
        assert_int_equal(uki_layout(img, sizeof img, sizes, vma), 0);
        assert_int_equal(vma[UKI_SECTION_OSREL], 0x140020000);
        assert_int_equal(vma[UKI_SECTION_CMDLINE], 0x140030000);
        assert_int_equal(vma[UKI_SECTION_LINUX], 0x140040000);
        assert_int_equal(vma[UKI_SECTION_INITRD], 0x140040000 + 0x7e0000);

        /* An empty section still gets its own page. */
        uint64_t empty[_UKI_SECTION_MAX] = { 0, 0, 1, 1 };
        make_stub(0, 0x200);
        assert_int_equal(uki_layout(img, sizeof img, empty, vma), 0);
        assert_int_equal(vma[UKI_SECTION_CMDLINE], 0x1b000);
        assert_int_equal(vma[UKI_SECTION_LINUX], 0x1c000);
}

static void expect_refused(size_t size, const char *msg) {
        uint64_t vma[_UKI_SECTION_MAX] = {};
        err_clear();
        int r = uki_layout(img, size, sizes, vma);
        assert_true(r < 0);
        if (!strstr(err_message(r), msg)) {
                print_error("'%s' does not contain '%s'\n", err_message(r), msg);
                fail();
        }
        assert_int_equal(vma[0], 0);
}

static void test_bad_stubs(void **state) {
        make_stub(0, 0x200);
        expect_refused(0x30, "no MZ header");
        expect_refused(PE + 10, "no PE signature");
        expect_refused(SEC + 40, "section table truncated");
        img[0] = 'X';
        expect_refused(sizeof img, "no MZ header");

        make_stub(0, 0x200);
        put32(0x3c, 0xffffff00);
        expect_refused(sizeof img, "no PE signature");

        make_stub(0, 0x200);
        put16(OPT, 0x10b);
        expect_refused(sizeof img, "not a PE32+ image");

        make_stub(0, 0x300);
        expect_refused(sizeof img, "SectionAlignment 0x300 is not a power of two");

        make_stub(0, 0x200);
        add_section(3, ".linux", 0x1a000, 0x1000);
        expect_refused(sizeof img, "already has a .linux section");

        make_stub(0, 0x200);
        put16(PE + 4 + 2, 0);
        expect_refused(sizeof img, "section table truncated");
}

static void test_too_big(void **state) {
        uint64_t vma[_UKI_SECTION_MAX] = {};
        uint64_t big[_UKI_SECTION_MAX] = { 1, 1, UINT32_MAX - 0x10000, 1 };

        make_stub(0, 0x200);
        err_clear();
        int r = uki_layout(img, sizeof img, big, vma);
        assert_int_equal(r, -EFBIG);
        assert_non_null(strstr(err_message(r), ".linux"));
        assert_int_equal(vma[UKI_SECTION_OSREL], 0); /* nothing written on failure */
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_layout_after_last_section),
                cmocka_unit_test(test_bad_stubs),
                cmocka_unit_test(test_too_big),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
