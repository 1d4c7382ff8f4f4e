/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <efiboot.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "basic/rm-rf.h"
#include "boot/efi-bootopt.h"
#include "boot/efivars.h"

#define GLOBAL "-" EFIVARS_GLOBAL_GUID
#define ESP_UUID "c0ffee00-1234-4abc-8def-0123456789ab"
#define ESP_HD "HD(1,GPT," ESP_UUID ",0x800,0x32000)"
#define MOVED_UUID "0badcafe-5678-4def-9abc-fedcba987654"
#define MOVED_HD "HD(2,GPT," MOVED_UUID ",0x1000,0x40000)"

static char dir[] = "/tmp/test-efi-bootopt.XXXXXX";

static EspLocation esp_at(uint32_t partno, uint64_t start, uint64_t size, const char *uuid) {
        EspLocation e = { .partition_number = partno, .start_lba = start, .size_lba = size };
        efi_guid_t g;
        assert_int_equal(efi_str_to_guid(uuid, &g), 0);
        memcpy(e.part_uuid, &g, sizeof e.part_uuid);
        return e;
}

static int setup(void **state) {
        strcpy(dir, "/tmp/test-efi-bootopt.XXXXXX");
        assert_non_null(mkdtemp(dir));
        return 0;
}

static int teardown(void **state) {
        assert_int_equal(rm_rf(dir), 0);
        return 0;
}

static char *var_path(const char *name) {
        char *p;
        assert_true(asprintf(&p, "%s/%s" GLOBAL, dir, name) > 0);
        return p;
}

/* An efivarfs file: attributes NV|BS|RT, then the data. */
static void put_raw(const char *name, const void *data, size_t size) {
        _cleanup_free_ char *p = var_path(name);
        FILE *f = fopen(p, "we");
        assert_non_null(f);
        const uint8_t attrs[4] = { 7, 0, 0, 0 };
        assert_int_equal(fwrite(attrs, 1, 4, f), 4);
        if (size > 0)
                assert_int_equal(fwrite(data, 1, size, f), size);
        assert_int_equal(fclose(f), 0);
}

/* The file's bytes, attributes included; NULL when missing. */
static uint8_t *get_file(const char *name, size_t *ret_size) {
        _cleanup_free_ char *p = var_path(name);
        FILE *f = fopen(p, "re");
        if (!f)
                return NULL;
        uint8_t *buf = malloc(65536);
        assert_non_null(buf);
        *ret_size = fread(buf, 1, 65536, f);
        fclose(f);
        return buf;
}

static void put_order(const char *name, const uint16_t *order, size_t n) {
        uint8_t raw[64];
        assert_true(n * 2 <= sizeof raw);
        for (size_t i = 0; i < n; i++) {
                raw[2 * i] = (uint8_t) order[i];
                raw[2 * i + 1] = (uint8_t) (order[i] >> 8);
        }
        put_raw(name, raw, 2 * n);
}

static void expect_order(const uint16_t *want, size_t n) {
        size_t size;
        _cleanup_free_ uint8_t *d = get_file("BootOrder", &size);
        assert_non_null(d);
        assert_int_equal(size, 4 + 2 * n);
        assert_memory_equal(d, ((uint8_t[]) { 7, 0, 0, 0 }), 4);
        for (size_t i = 0; i < n; i++) {
                print_message("  BootOrder[%zu] = %04X, want %04X\n", i, d[4 + 2 * i] | d[5 + 2 * i] << 8, want[i]);
                assert_int_equal(d[4 + 2 * i] | d[5 + 2 * i] << 8, want[i]);
        }
}

/* A load option as others (efibootmgr, the firmware) make them, with libefiboot. */
static void put_option(const char *name, uint32_t attrs, const char *desc, const EspLocation *esp, const char *file) {
        uint8_t dp[512], opt[1024], sig[16];
        memcpy(sig, esp->part_uuid, 16);
        ssize_t n = efidp_make_hd(dp, sizeof dp, esp->partition_number, esp->start_lba, esp->size_lba, sig,
                                  EFIDP_HD_FORMAT_GPT, EFIDP_HD_SIGNATURE_GUID);
        assert_true(n > 0);
        ssize_t k = efidp_make_file(dp + n, (ssize_t) sizeof dp - n, (char *) file);
        assert_true(k > 0);
        n += k;
        k = efidp_make_end_entire(dp + n, (ssize_t) sizeof dp - n);
        assert_true(k > 0);
        n += k;
        ssize_t m = efi_loadopt_create(opt, sizeof opt, attrs, (efidp) dp, n, (unsigned char *) desc, NULL, 0);
        assert_true(m > 0);
        put_raw(name, opt, (size_t) m);
}

/* Decodes Boot#### with libefiboot: its description, attributes and device path as text. */
static void expect_option(const char *name, const char *desc, const char *path_text) {
        size_t size;
        _cleanup_free_ uint8_t *d = get_file(name, &size);
        assert_non_null(d);
        assert_true(size > 4);
        assert_memory_equal(d, ((uint8_t[]) { 7, 0, 0, 0 }), 4);
        efi_load_option *opt = (efi_load_option *) (d + 4);
        size -= 4;
        assert_true(efi_loadopt_is_valid(opt, size));
        const unsigned char *have = efi_loadopt_desc(opt, (ssize_t) size);
        assert_non_null(have);
        assert_string_equal((const char *) have, desc);
        assert_int_equal(efi_loadopt_attrs(opt), 1); /* LOAD_OPTION_ACTIVE, nothing else */
        efidp dp = efi_loadopt_path(opt, (ssize_t) size);
        assert_non_null(dp);
        char text[1024];
        ssize_t n = efidp_format_device_path(text, sizeof text, dp, efi_loadopt_pathlen(opt, (ssize_t) size));
        assert_true(n > 0);
        print_message("  %s: '%s' %s\n", name, have, text);
        assert_string_equal(text, path_text);
        unsigned char *data = NULL;
        size_t data_size = 1;
        assert_int_equal(efi_loadopt_optional_data(opt, size, &data, &data_size), 0);
        assert_int_equal(data_size, 0);
}

static void expect_ours(const char *name, const char *slot, const char *hd) {
        char desc[32], text[256];
        snprintf(desc, sizeof desc, "abide slot %s", slot);
        snprintf(text, sizeof text, "%s/File(\\EFI\\Linux\\abide-%s.efi)", hd, slot);
        expect_option(name, desc, text);
}

/* What the directory holds, to show that a call wrote nothing: names, contents and inodes. */
typedef struct Snapshot {
        char text[65536];
} Snapshot;

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static void snapshot(Snapshot *s) {
        char *names[64];
        size_t n = 0, off = 0;
        DIR *d = opendir(dir);
        assert_non_null(d);
        struct dirent *de;
        while ((de = readdir(d)))
                if (de->d_name[0] != '.') {
                        assert_true(n < 64);
                        names[n++] = strdup(de->d_name);
                }
        closedir(d);
        qsort(names, n, sizeof *names, cmp_str);
        s->text[0] = 0;
        for (size_t i = 0; i < n; i++) {
                char p[512];
                struct stat st;
                snprintf(p, sizeof p, "%s/%s", dir, names[i]);
                assert_int_equal(stat(p, &st), 0);
                off += (size_t) snprintf(s->text + off, sizeof s->text - off, "%s ino=%lu:", names[i],
                                         (unsigned long) st.st_ino);
                FILE *f = fopen(p, "re");
                assert_non_null(f);
                int c;
                while ((c = fgetc(f)) != EOF && off + 4 < sizeof s->text)
                        off += (size_t) snprintf(s->text + off, sizeof s->text - off, "%02x", c);
                fclose(f);
                off += (size_t) snprintf(s->text + off, sizeof s->text - off, "\n");
                free(names[i]);
        }
}

static void expect_unchanged(const Snapshot *before) {
        Snapshot after;
        snapshot(&after);
        assert_string_equal(after.text, before->text);
}

static void ensure(const EspLocation *esp, bool want_changed) {
        bool changed = !want_changed;
        err_clear();
        int r = efi_fallback_options_ensure(dir, esp, &changed);
        if (r < 0)
                print_message("  ensure: %s\n", err_message(r));
        assert_int_equal(r, 0);
        assert_int_equal(changed, want_changed);
}

static EspLocation esp1(void) {
        return esp_at(1, 2048, 204800, ESP_UUID);
}

static void put_sdboot(const char *name) {
        EspLocation e = esp1();
        put_option(name, 1, "Linux Boot Manager", &e, "\\EFI\\systemd\\systemd-bootx64.efi");
}

static void test_empty_store(void **state) {
        EspLocation e = esp1();
        ensure(&e, true);
        expect_ours("Boot0000", "a", ESP_HD);
        expect_ours("Boot0001", "b", ESP_HD);
        /* Made but not listed: alone in BootOrder the firmware would start a UKI, never the loader
         * (its removable-media path) that counts the tries. */
        size_t n;
        assert_null(get_file("BootOrder", &n));

        Snapshot s;
        snapshot(&s);
        ensure(&e, false);
        expect_unchanged(&s);

        /* The loader's option is known once the firmware names it in BootCurrent: it goes first. */
        put_sdboot("Boot0002");
        put_order("BootCurrent", (uint16_t[]) { 0x0002 }, 1);
        ensure(&e, true);
        expect_order((uint16_t[]) { 0x0002, 0x0000, 0x0001 }, 3);
        snapshot(&s);
        ensure(&e, false);
        expect_unchanged(&s);
}

static void test_after_current(void **state) {
        EspLocation e = esp1();
        put_sdboot("Boot0000");
        put_option("Boot0003", 1, "UEFI PXEv4", &e, "\\EFI\\pxe.efi");
        put_order("BootOrder", (uint16_t[]) { 0x0000, 0x0003 }, 2);
        put_order("BootCurrent", (uint16_t[]) { 0x0003 }, 1);
        size_t s0, s3;
        _cleanup_free_ uint8_t *b0 = get_file("Boot0000", &s0), *b3 = get_file("Boot0003", &s3);

        ensure(&e, true);
        expect_ours("Boot0001", "a", ESP_HD);
        expect_ours("Boot0002", "b", ESP_HD);
        expect_order((uint16_t[]) { 0x0000, 0x0003, 0x0001, 0x0002 }, 4);
        /* The others' options are kept byte for byte. */
        size_t n;
        _cleanup_free_ uint8_t *a0 = get_file("Boot0000", &n);
        assert_int_equal(n, s0);
        assert_memory_equal(a0, b0, n);
        _cleanup_free_ uint8_t *a3 = get_file("Boot0003", &n);
        assert_int_equal(n, s3);
        assert_memory_equal(a3, b3, n);

        /* The second run writes nothing. */
        Snapshot s;
        snapshot(&s);
        ensure(&e, false);
        expect_unchanged(&s);
}

static void test_after_first(void **state) {
        EspLocation e = esp1();
        put_sdboot("Boot0000");
        put_option("Boot0001", 1, "Windows Boot Manager", &e, "\\EFI\\Microsoft\\Boot\\bootmgfw.efi");
        put_option("Boot0002", 1, "UEFI Shell", &e, "\\EFI\\shell.efi");
        /* 0003 is listed but has no variable: its number is not free either. */
        put_order("BootOrder", (uint16_t[]) { 0x0000, 0x0001, 0x0002, 0x0003 }, 4);
        /* BootCurrent unset: after the first entry. */
        ensure(&e, true);
        expect_ours("Boot0004", "a", ESP_HD);
        expect_ours("Boot0005", "b", ESP_HD);
        expect_order((uint16_t[]) { 0x0000, 0x0004, 0x0005, 0x0001, 0x0002, 0x0003 }, 6);

        /* BootCurrent names no option: still after the first entry. */
        put_order("BootCurrent", (uint16_t[]) { 0x0042 }, 1);
        ensure(&e, false);
        /* BootCurrent an option BootOrder does not list (BootNext, removable media): it is what
         * started the loader; appended, ours right after it. */
        put_option("Boot0042", 1, "UEFI Misc Device", &e, "\\EFI\\BOOT\\BOOTX64.EFI");
        ensure(&e, true);
        expect_order((uint16_t[]) { 0x0000, 0x0001, 0x0002, 0x0003, 0x0042, 0x0004, 0x0005 }, 7);
        ensure(&e, false);
        put_order("BootCurrent", (uint16_t[]) { 0x0000 }, 1);
        ensure(&e, true);
        expect_order((uint16_t[]) { 0x0000, 0x0004, 0x0005, 0x0001, 0x0002, 0x0003, 0x0042 }, 7);
        /* A malformed BootCurrent: as if unset. */
        uint8_t odd = 1;
        put_raw("BootCurrent", &odd, 1);
        ensure(&e, false);
}

static void test_reorder(void **state) {
        EspLocation e = esp1();
        ensure(&e, true); /* Boot0000 = a, Boot0001 = b */
        put_sdboot("Boot0002");
        put_option("Boot0003", 1, "UEFI PXEv4", &e, "\\EFI\\pxe.efi");

        /* Duplicates and misplaced: each once, right after BootCurrent, the rest in order. */
        put_order("BootOrder", (uint16_t[]) { 0x0001, 0x0002, 0x0000, 0x0003, 0x0001 }, 5);
        put_order("BootCurrent", (uint16_t[]) { 0x0002 }, 1);
        ensure(&e, true);
        expect_order((uint16_t[]) { 0x0002, 0x0000, 0x0001, 0x0003 }, 4);

        /* Booted through the fallback (BootCurrent is b): they stay where they are. */
        put_order("BootOrder", (uint16_t[]) { 0x0003, 0x0002, 0x0000, 0x0001 }, 4);
        put_order("BootCurrent", (uint16_t[]) { 0x0001 }, 1);
        ensure(&e, false);
        /* ... and with nothing before them, after the first entry. */
        put_order("BootOrder", (uint16_t[]) { 0x0000, 0x0001, 0x0002 }, 3);
        ensure(&e, true);
        expect_order((uint16_t[]) { 0x0002, 0x0000, 0x0001 }, 3);

        /* An empty BootOrder, booted through ours: still not ours alone, they would come before the loader. */
        put_raw("BootOrder", NULL, 0);
        ensure(&e, false);
        expect_order(NULL, 0);
        /* Booted from the loader's option, listed nowhere: it, then ours. */
        put_order("BootCurrent", (uint16_t[]) { 0x0002 }, 1);
        ensure(&e, true);
        expect_order((uint16_t[]) { 0x0002, 0x0000, 0x0001 }, 3);
}

static void test_esp_moved(void **state) {
        EspLocation e = esp1(), moved = esp_at(2, 4096, 262144, MOVED_UUID);
        put_sdboot("Boot0000");
        put_order("BootOrder", (uint16_t[]) { 0x0000 }, 1);
        ensure(&e, true);
        expect_ours("Boot0001", "a", ESP_HD);
        expect_ours("Boot0002", "b", ESP_HD);

        /* Found again by description and file, rewritten in place; BootOrder already right. */
        Snapshot before;
        snapshot(&before);
        ensure(&moved, true);
        expect_ours("Boot0001", "a", MOVED_HD);
        expect_ours("Boot0002", "b", MOVED_HD);
        expect_order((uint16_t[]) { 0x0000, 0x0001, 0x0002 }, 3);
        size_t n;
        _cleanup_free_ uint8_t *o = get_file("Boot0003", &n);
        assert_null(o);

        /* Ours made inactive (efibootmgr -A) and spelled in capitals by someone: made active, canonical. */
        put_option("Boot0001", 0, "abide slot a", &moved, "\\EFI\\LINUX\\ABIDE-A.EFI");
        ensure(&moved, true);
        expect_ours("Boot0001", "a", MOVED_HD);
        ensure(&moved, false);

        /* The description without the file, or the file without the description, is not ours. */
        put_option("Boot0001", 1, "abide slot a", &moved, "\\EFI\\Linux\\abide-b.efi");
        put_option("Boot0002", 1, "my kernel", &moved, "\\EFI\\Linux\\abide-b.efi");
        size_t s1, s2;
        _cleanup_free_ uint8_t *b1 = get_file("Boot0001", &s1), *b2 = get_file("Boot0002", &s2);
        ensure(&moved, true);
        expect_ours("Boot0003", "a", MOVED_HD);
        expect_ours("Boot0004", "b", MOVED_HD);
        expect_order((uint16_t[]) { 0x0000, 0x0003, 0x0004, 0x0001, 0x0002 }, 5);
        _cleanup_free_ uint8_t *a1 = get_file("Boot0001", &n);
        assert_int_equal(n, s1);
        assert_memory_equal(a1, b1, n);
        _cleanup_free_ uint8_t *a2 = get_file("Boot0002", &n);
        assert_int_equal(n, s2);
        assert_memory_equal(a2, b2, n);
}

static void test_one_right_one_stale(void **state) {
        EspLocation e = esp1(), moved = esp_at(2, 4096, 262144, MOVED_UUID);
        /* Two options of slot a: the one already right is kept, the stale one left alone. */
        put_option("Boot0005", 1, "abide slot a", &moved, "\\EFI\\Linux\\abide-a.efi");
        put_option("Boot0007", 1, "abide slot a", &e, "\\EFI\\Linux\\abide-a.efi");
        put_order("BootOrder", (uint16_t[]) { 0x0007 }, 1);
        size_t s5;
        _cleanup_free_ uint8_t *b5 = get_file("Boot0005", &s5);
        ensure(&e, true);
        expect_ours("Boot0007", "a", ESP_HD);
        expect_ours("Boot0000", "b", ESP_HD);
        /* Nothing but ours was listed: they come out (before the loader they would skip its try counting). */
        expect_order(NULL, 0);
        size_t n;
        _cleanup_free_ uint8_t *a5 = get_file("Boot0005", &n);
        assert_int_equal(n, s5);
        assert_memory_equal(a5, b5, n);
}

static void test_malformed_bootorder(void **state) {
        EspLocation e = esp1();
        put_sdboot("Boot0000");
        uint8_t odd[3] = { 0, 0, 1 };
        put_raw("BootOrder", odd, sizeof odd);
        Snapshot s;
        snapshot(&s);

        bool changed = true;
        err_clear();
        int r = efi_fallback_options_ensure(dir, &e, &changed);
        print_message("  %s\n", err_message(r));
        assert_int_equal(r, -EBADMSG);
        assert_non_null(strstr(err_message(r), "BootOrder is malformed (3 bytes"));
        assert_null(strchr(err_message(r), '\n'));
        assert_true(changed); /* untouched on failure */
        expect_unchanged(&s);
}

/* A valid option's bytes, to break. */
static size_t option_bytes(uint8_t *buf, size_t size, const char *desc, const char *file) {
        EspLocation e = esp1();
        put_option("BootFFFF", 1, desc, &e, file);
        size_t n;
        _cleanup_free_ uint8_t *d = get_file("BootFFFF", &n);
        _cleanup_free_ char *p = var_path("BootFFFF");
        assert_int_equal(unlink(p), 0);
        assert_true(n - 4 <= size);
        memcpy(buf, d + 4, n - 4);
        return n - 4;
}

static void test_malformed_option(void **state) {
        EspLocation e = esp1();
        uint8_t o[1024];
        size_t n;

        /* Ours, cut short: skipped, not repaired. */
        n = option_bytes(o, sizeof o, "abide slot a", "\\EFI\\Linux\\abide-a.efi");
        put_raw("Boot0000", o, n - 10);
        /* A description without its NUL, up to the end. */
        n = option_bytes(o, sizeof o, "abide slot b", "\\EFI\\Linux\\abide-b.efi");
        size_t desc_end = 6 + 2 * strlen("abide slot b");
        memset(o + desc_end, 'x', n - desc_end);
        put_raw("Boot0001", o, n);
        /* An End node of length 0 (libefivar 37's efidp_is_valid() would loop forever). */
        n = option_bytes(o, sizeof o, "abide slot a", "\\EFI\\Linux\\abide-a.efi");
        o[n - 2] = 0;
        put_raw("Boot0002", o, n);
        /* A path that is only an End node of length 0: efi_loadopt_is_valid() of libefiboot 37 never returns. */
        put_raw("Boot0009", ((uint8_t[]) { 1, 0, 0, 0, 4, 0, 'a', 0, 0, 0, 0x7f, 0xff, 0, 0 }), 14);
        /* FilePathListLength past the end. */
        n = option_bytes(o, sizeof o, "abide slot b", "\\EFI\\Linux\\abide-b.efi");
        o[4] = 0xff;
        o[5] = 0x7f;
        put_raw("Boot0003", o, n);
        /* A node longer than the path. */
        n = option_bytes(o, sizeof o, "abide slot a", "\\EFI\\Linux\\abide-a.efi");
        o[6 + 2 * strlen("abide slot a") + 2 + 2] = 0xf0;
        put_raw("Boot0004", o, n);
        /* Shorter than the option header; shorter than efivarfs's attributes. */
        put_raw("Boot0005", o, 3);
        _cleanup_free_ char *p6 = var_path("Boot0006");
        FILE *f = fopen(p6, "we");
        assert_non_null(f);
        fputs("ab", f);
        fclose(f);
        /* Not a Boot#### name: not an option, its number is free. */
        put_raw("Boot000a", o, 3);
        put_raw("Boot00007", o, 3);
        Snapshot before;
        snapshot(&before);

        ensure(&e, true);
        expect_ours("Boot0007", "a", ESP_HD);
        expect_ours("Boot0008", "b", ESP_HD);
        size_t order_size;
        assert_null(get_file("BootOrder", &order_size));

        /* The malformed ones are exactly as they were. */
        const char *names[] = { "Boot0000", "Boot0001", "Boot0002", "Boot0003", "Boot0004", "Boot0005", "Boot0006",
                                "Boot0009", "Boot000a", "Boot00007" };
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                _cleanup_free_ char *p = var_path(names[i]);
                char line[128];
                struct stat st;
                assert_int_equal(stat(p, &st), 0);
                snprintf(line, sizeof line, "%s" GLOBAL " ino=%lu:", names[i], (unsigned long) st.st_ino);
                assert_non_null(strstr(before.text, line));
        }
        Snapshot s;
        snapshot(&s);
        ensure(&e, false);
        expect_unchanged(&s);
}

static void test_bad_input(void **state) {
        EspLocation e = esp1();
        bool changed = false;

        e.partition_number = 0;
        assert_int_equal(efi_fallback_options_ensure(dir, &e, &changed), -EINVAL);
        e = esp1();
        e.size_lba = 0;
        assert_int_equal(efi_fallback_options_ensure(dir, &e, &changed), -EINVAL);

        /* A store that cannot be listed. */
        char missing[600];
        snprintf(missing, sizeof missing, "%s/missing", dir);
        e = esp1();
        err_clear();
        int r = efi_fallback_options_ensure(missing, &e, &changed);
        print_message("  %s\n", err_message(r));
        assert_int_equal(r, -ENOENT);
        assert_non_null(strstr(err_message(r), missing));

        EspLocation loc;
        err_clear();
        r = esp_location_from_device("/dev/null", &loc);
        print_message("  %s\n", err_message(r));
        assert_int_equal(r, -ENOTBLK);
        r = esp_location_from_device(dir, &loc);
        assert_int_equal(r, -ENOTBLK);
        r = esp_location_from_device(missing, &loc);
        assert_int_equal(r, -ENOENT);
        assert_non_null(strstr(err_message(r), missing));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_empty_store, setup, teardown),
                cmocka_unit_test_setup_teardown(test_after_current, setup, teardown),
                cmocka_unit_test_setup_teardown(test_after_first, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reorder, setup, teardown),
                cmocka_unit_test_setup_teardown(test_esp_moved, setup, teardown),
                cmocka_unit_test_setup_teardown(test_one_right_one_stale, setup, teardown),
                cmocka_unit_test_setup_teardown(test_malformed_bootorder, setup, teardown),
                cmocka_unit_test_setup_teardown(test_malformed_option, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
