/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "basic/error.h"
#include "crypto/authenticode.h"

/*
 * A PE image made here, byte by byte: DOS header, PE signature at 0x80, the
 * COFF header, an optional header with 16 data directories, two sections
 * (listed out of file order), 0x80 bytes after them, then a certificate
 * table holding one WIN_CERTIFICATE.
 */
#define PE 0x80
#define OPT (PE + 24)
#define HEADERS 0x200
#define TEXT_AT 0x200
#define TEXT_SIZE 0x200
#define DATA_AT 0x400
#define DATA_SIZE 0x100
#define TRAILER_AT 0x500
#define CERT_AT 0x580
#define CERT_SIZE 0x18
#define IMAGE_SIZE (CERT_AT + CERT_SIZE)

static uint8_t *img;
static size_t img_size;
static size_t opt_size, dirs, sec;

static void put16(size_t off, uint16_t v) {
        img[off] = (uint8_t) v;
        img[off + 1] = (uint8_t) (v >> 8);
}

static void put32(size_t off, uint32_t v) {
        for (int i = 0; i < 4; i++)
                img[off + i] = (uint8_t) (v >> (8 * i));
}

static void set_section(size_t i, const char *name, uint32_t at, uint32_t size) {
        memcpy(img + sec + 40 * i, name, strlen(name));
        put32(sec + 40 * i + 16, size);
        put32(sec + 40 * i + 20, at);
}

static void set_cert_dir(uint32_t at, uint32_t size) {
        put32(OPT + dirs + 4 * 8, at);
        put32(OPT + dirs + 4 * 8 + 4, size);
}

/* dwLength, wRevision, wCertificateType at the table's start. */
static void set_win_cert(uint32_t len, uint16_t revision, uint16_t type) {
        put32(CERT_AT, len);
        put16(CERT_AT + 4, revision);
        put16(CERT_AT + 6, type);
}

static void make(bool plus) {
        free(img);
        img_size = IMAGE_SIZE;
        img = calloc(1, img_size);
        assert_non_null(img);
        /* Bytes everywhere, so that each range is felt by the digest. */
        for (size_t i = 0; i < img_size; i++)
                img[i] = (uint8_t) (i * 7 + 1);
        memset(img, 0, HEADERS);
        img[0] = 'M';
        img[1] = 'Z';
        put32(0x3c, PE);
        memcpy(img + PE, "PE\0\0", 4);
        put16(PE + 4, plus ? 0x8664 : 0x14c);
        put16(PE + 4 + 2, 2);
        dirs = plus ? 112 : 96;
        opt_size = dirs + 16 * 8;
        sec = OPT + opt_size;
        put16(PE + 4 + 16, (uint16_t) opt_size);
        put16(OPT, plus ? 0x20b : 0x10b);
        put32(OPT + 60, HEADERS);
        put32(OPT + 64, 0x12345678); /* CheckSum */
        put32(OPT + dirs - 4, 16);   /* NumberOfRvaAndSizes */
        set_section(0, ".data", DATA_AT, DATA_SIZE);
        set_section(1, ".text", TEXT_AT, TEXT_SIZE);
        set_cert_dir(CERT_AT, CERT_SIZE);
        set_win_cert(CERT_SIZE, 0x0200, 0x0002);
}

static int teardown(void **state) {
        (void) state;
        free(img);
        img = NULL;
        return 0;
}

static int parse(PeLayout *l) {
        err_clear();
        return authenticode_parse_pe(img, img_size, img_size, "test.efi", l);
}

static void assert_range(PeRange r, uint64_t offset, uint64_t size) {
        assert_int_equal(r.offset, offset);
        assert_int_equal(r.size, size);
}

static void assert_refused(int expected, const char *what) {
        PeLayout l = {};
        int r = parse(&l);
        if (r != expected || !strstr(err_message(r), what))
                fail_msg("expected %d '%s', got %d '%s'", expected, what, r, err_message(r));
        pe_layout_done(&l);
}

static void check_layout(bool plus) {
        PeLayout l = {};

        make(plus);
        assert_int_equal(parse(&l), 0);
        assert_int_equal(l.pe32_plus, plus);
        assert_int_equal(l.file_size, IMAGE_SIZE);
        size_t entry = OPT + dirs + 4 * 8;
        assert_range(l.headers[0], 0, OPT + 64);
        assert_range(l.headers[1], OPT + 68, entry - (OPT + 68));
        assert_range(l.headers[2], entry + 8, HEADERS - (entry + 8));
        /* Sorted by file offset, whatever the section table's order. */
        assert_int_equal(l.n_sections, 2);
        assert_range(l.sections[0], TEXT_AT, TEXT_SIZE);
        assert_range(l.sections[1], DATA_AT, DATA_SIZE);
        assert_range(l.trailer, TRAILER_AT, CERT_AT - TRAILER_AT);
        assert_range(l.cert_table, CERT_AT, CERT_SIZE);
        pe_layout_done(&l);
}

static void test_layout_pe32_plus(void **state) {
        (void) state;
        check_layout(true);
}

static void test_layout_pe32(void **state) {
        (void) state;
        check_layout(false);
}

static void digest(uint8_t out[EVP_MAX_MD_SIZE]) {
        size_t n;
        assert_int_equal(authenticode_digest_mem(img, img_size, NID_sha256, "test.efi", out, &n), 0);
        assert_int_equal(n, 32);
}

/* The digest is SHA-256 over exactly the ranges the specification names. */
static void test_digest(void **state) {
        uint8_t d[EVP_MAX_MD_SIZE], d2[EVP_MAX_MD_SIZE], expected[EVP_MAX_MD_SIZE];
        size_t entry;
        unsigned n;
        (void) state;

        make(true);
        entry = OPT + dirs + 4 * 8;
        const size_t ranges[][2] = {
                { 0, OPT + 64 }, { OPT + 68, entry }, { entry + 8, HEADERS },
                { TEXT_AT, TEXT_AT + TEXT_SIZE }, { DATA_AT, DATA_AT + DATA_SIZE }, { TRAILER_AT, CERT_AT },
        };
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        assert_non_null(ctx);
        assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
        for (size_t i = 0; i < ELEMENTSOF(ranges); i++)
                assert_int_equal(EVP_DigestUpdate(ctx, img + ranges[i][0], ranges[i][1] - ranges[i][0]), 1);
        assert_int_equal(EVP_DigestFinal_ex(ctx, expected, &n), 1);
        EVP_MD_CTX_free(ctx);
        digest(d);
        assert_memory_equal(d, expected, 32);

        /* CheckSum and the certificate table's contents are not covered... */
        img[OPT + 64] ^= 0xff;
        img[CERT_AT + 12] ^= 0xff;
        digest(d2);
        assert_memory_equal(d, d2, 32);
        /* ...a byte of the headers, of each section and after them is. */
        const size_t covered[] = { 2, PE + 8, entry + 8, TEXT_AT, DATA_AT + DATA_SIZE - 1, CERT_AT - 1 };
        for (size_t i = 0; i < ELEMENTSOF(covered); i++) {
                img[covered[i]] ^= 1;
                digest(d2);
                assert_memory_not_equal(d, d2, 32);
                img[covered[i]] ^= 1;
        }
        /* Other algorithms: lengths as the algorithm says. */
        size_t len;
        assert_int_equal(authenticode_digest_mem(img, img_size, NID_sha512, "test.efi", d2, &len), 0);
        assert_int_equal(len, 64);
        assert_int_equal(authenticode_digest_mem(img, img_size, NID_md5, "test.efi", d2, &len), -EOPNOTSUPP);
}

static void test_not_pe(void **state) {
        (void) state;

        make(true);
        img[0] = 'X';
        assert_refused(-ENOEXEC, "not a PE image (no MZ header)");
        make(true);
        put32(0x3c, IMAGE_SIZE + 10);
        assert_refused(-ENOEXEC, "past the end of the file");
        make(true);
        put32(0x3c, 0xfffffffe);
        assert_refused(-ENOEXEC, "past the end of the file");
        make(true);
        img[PE + 1] = 'X';
        assert_refused(-ENOEXEC, "no PE signature at offset 128");
        make(true);
        put16(OPT, 0x107); /* ROM image */
        assert_refused(-ENOEXEC, "optional header magic 0x107");
        make(true);
        img_size = 1;
        assert_refused(-ENOEXEC, "no MZ header");
        img_size = 0;
        assert_refused(-ENOEXEC, "no MZ header");
}

static void test_truncated(void **state) {
        (void) state;

        make(true);
        img_size = 0x30;
        assert_refused(-EBADMSG, "truncated PE headers");
        img_size = PE + 10;
        assert_refused(-EBADMSG, "truncated PE headers");
        img_size = OPT + 100;
        assert_refused(-EBADMSG, "truncated PE headers");
        img_size = HEADERS - 1;
        assert_refused(-EBADMSG, "truncated PE headers (they need 512 bytes, the file has 511)");

        make(true);
        put16(PE + 4 + 16, 16);
        assert_refused(-EBADMSG, "optional header of 16 bytes, too short for PE32+");
        make(false);
        put16(PE + 4 + 16, 95);
        assert_refused(-EBADMSG, "too short for PE32");
        make(true);
        put32(OPT + dirs - 4, 0x20000000); /* NumberOfRvaAndSizes: * 8 overflows 32 bits */
        assert_refused(-EBADMSG, "NumberOfRvaAndSizes 536870912 does not fit");
        make(true);
        put16(PE + 4 + 2, 0xffff);
        assert_refused(-EBADMSG, "section table (up to byte 2621792) is outside SizeOfHeaders (512)");
        make(true);
        put32(OPT + 60, 0x1d0);
        assert_refused(-EBADMSG, "is outside SizeOfHeaders (464)");
}

static void test_headers_too_big(void **state) {
        (void) state;

        make(true);
        img_size = AUTHENTICODE_HEADERS_MAX + 0x1000;
        img = realloc(img, img_size);
        assert_non_null(img);
        put32(OPT + 60, AUTHENTICODE_HEADERS_MAX + 8);
        set_cert_dir(0, 0);
        err_clear();
        PeLayout l = {};
        /* As the file reader passes it: only the first AUTHENTICODE_HEADERS_MAX bytes. */
        int r = authenticode_parse_pe(img, AUTHENTICODE_HEADERS_MAX, img_size, "test.efi", &l);
        assert_int_equal(r, -EFBIG);
        assert_non_null(strstr(err_message(r), "more than the 1048576 abide reads"));
}

static void test_section_outside(void **state) {
        (void) state;

        make(true);
        set_section(0, ".data", DATA_AT, IMAGE_SIZE);
        assert_refused(-EBADMSG, "section 0 '.data' (1432 bytes at 1024) is outside the file (1432 bytes)");
        make(true);
        set_section(1, ".text", IMAGE_SIZE + 1, 1);
        assert_refused(-EBADMSG, "section 1 '.text' (1 bytes at 1433) is outside the file");
        /* Offset + size wraps around 32 and would not wrap 64 bits: both caught. */
        make(true);
        set_section(0, ".data", 0xffffffff, 0xffffffff);
        assert_refused(-EBADMSG, "is outside the file");
        make(true);
        set_section(0, ".data", 0x10, 0xfffffff8);
        assert_refused(-EBADMSG, "is outside the file");
        /* A name that is not text is not printed as such. */
        make(true);
        memcpy(img + sec, "\x1b[2J\xff\x01\x02\x03", 8);
        put32(sec + 16, 0x100000);
        assert_refused(-EBADMSG, "section 0 '?[2J\x3f\x3f\x3f\x3f' (");
        /* Sections reaching into the certificate table. */
        make(true);
        set_section(0, ".data", DATA_AT, CERT_AT - DATA_AT + 8);
        assert_refused(-EBADMSG, "headers and sections (1416 bytes) overlap the certificate table at 1408");
        /* A section without raw data is not hashed, wherever it points. */
        make(true);
        set_section(0, ".bss", 0xffffffff, 0);
        PeLayout l = {};
        assert_int_equal(parse(&l), 0);
        assert_int_equal(l.n_sections, 1);
        assert_range(l.trailer, HEADERS + TEXT_SIZE, CERT_AT - HEADERS - TEXT_SIZE);
        pe_layout_done(&l);
}

static void test_cert_table_outside(void **state) {
        (void) state;

        make(true);
        set_cert_dir(CERT_AT, CERT_SIZE + 1);
        assert_refused(-EBADMSG, "the certificate table (25 bytes at 1408) is outside the file (1432 bytes)");
        make(true);
        set_cert_dir(0xfffffff0, 0x100);
        assert_refused(-EBADMSG, "the certificate table (256 bytes at 4294967280) is outside the file");
        make(true);
        set_cert_dir(8, 0xffffffff);
        assert_refused(-EBADMSG, "is outside the file");
        make(true);
        set_cert_dir(CERT_AT - 8, CERT_SIZE);
        assert_refused(-EBADMSG, "8 bytes after the certificate table");
}

static void assert_verify(int expected, const char *what) {
        err_clear();
        char *subject = NULL;
        int r = authenticode_verify_mem(img, img_size, "test.efi", NULL, 0, &subject);
        if (r != expected || !strstr(err_message(r), what))
                fail_msg("expected %d '%s', got %d '%s'", expected, what, r, err_message(r));
        assert_null(subject);
}

static void test_no_signature(void **state) {
        (void) state;

        make(true);
        set_cert_dir(0, 0);
        img_size = CERT_AT;
        assert_verify(-ENODATA, "test.efi: not signed (no certificate table)");
        /* A table of size 0 at some offset is no table. */
        set_cert_dir(CERT_AT, 0);
        assert_verify(-ENODATA, "not signed");
        /* Too few data directories to have a Certificate Table entry. */
        make(false);
        img_size = CERT_AT;
        put32(OPT + dirs - 4, 4);
        assert_verify(-ENODATA, "not signed");
        PeLayout l = {};
        assert_int_equal(parse(&l), 0);
        assert_range(l.headers[1], OPT + 68, HEADERS - (OPT + 68));
        assert_range(l.headers[2], HEADERS, 0);
        assert_range(l.trailer, TRAILER_AT, CERT_AT - TRAILER_AT);
        pe_layout_done(&l);
}

static void test_win_certificate(void **state) {
        (void) state;

        make(true);
        set_win_cert(7, 0x0200, 0x0002);
        assert_verify(-EBADMSG, "malformed WIN_CERTIFICATE at 0 of the certificate table: dwLength 7");
        set_win_cert(8, 0x0200, 0x0002);
        assert_verify(-EBADMSG, "dwLength 8");
        set_win_cert(CERT_SIZE + 1, 0x0200, 0x0002);
        assert_verify(-EBADMSG, "dwLength 25 (24 bytes left)");
        set_win_cert(0xffffffff, 0x0200, 0x0002);
        assert_verify(-EBADMSG, "dwLength 4294967295");
        /* A second entry (after 8-byte alignment) shorter than its header. */
        set_win_cert(9, 0x0200, 0x0002);
        put32(CERT_AT + 16, 0);
        assert_verify(-EBADMSG, "malformed WIN_CERTIFICATE at 16 of the certificate table: dwLength 0 (8 bytes left)");
        make(true);
        set_cert_dir(CERT_AT + 20, 4);
        assert_verify(-EBADMSG, "4 bytes, shorter than its header");
        /* The last entry's padding past the table's end: the firmware refuses such an image. */
        make(true);
        img_size = CERT_AT + 21;
        set_cert_dir(CERT_AT, 21);
        set_win_cert(21, 0x0200, 0x0002);
        assert_verify(-EBADMSG, "malformed WIN_CERTIFICATE at 0 of the certificate table: dwLength 21 padded to 24 (21 bytes left)");

        /* Well formed, but not what UEFI verifies, or not PKCS#7. */
        make(true);
        set_win_cert(CERT_SIZE, 0x0100, 0x0002);
        assert_verify(-EOPNOTSUPP, "test.efi: WIN_CERTIFICATE revision 0x0100 type 0x0002, not PKCS#7 SignedData");
        set_win_cert(CERT_SIZE, 0x0200, 0x0ef1);
        assert_verify(-EOPNOTSUPP, "type 0x0ef1");
        set_win_cert(CERT_SIZE, 0x0200, 0x0002);
        assert_verify(-EBADMSG, "test.efi: not a DER PKCS#7 structure");
        /* Two entries (a table of 32 bytes): both tried, the first refusal reported. */
        const size_t t = CERT_AT - 8;
        set_cert_dir(t, CERT_SIZE + 8);
        put32(t, 8 + 3);
        put16(t + 4, 0x0200);
        put16(t + 6, 0x0001);
        put32(t + 16, 8);
        assert_verify(-EBADMSG, "malformed WIN_CERTIFICATE at 16 of the certificate table: dwLength 8 (16 bytes left)");
        put32(t + 16, 8 + 8);
        put16(t + 16 + 4, 0x0200);
        put16(t + 16 + 6, 0x0002);
        assert_verify(-EOPNOTSUPP, "test.efi: signature 1 of 2: WIN_CERTIFICATE revision 0x0200 type 0x0001");
}

/* A DER PKCS#7 ContentInfo of type data ("test"): PKCS#7, but not SignedData. */
static const uint8_t pkcs7_data[] = {
        0x30, 0x13, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01,
        0xa0, 0x06, 0x04, 0x04, 't', 'e', 's', 't',
};

static void test_not_signed_data(void **state) {
        (void) state;

        make(true);
        img_size = CERT_AT + 8 + 24;
        img = realloc(img, img_size);
        assert_non_null(img);
        memset(img + CERT_AT, 0, img_size - CERT_AT);
        set_cert_dir(CERT_AT, 8 + 24);
        set_win_cert(8 + sizeof pkcs7_data, 0x0200, 0x0002);
        memcpy(img + CERT_AT + 8, pkcs7_data, sizeof pkcs7_data);
        assert_verify(-EBADMSG, "test.efi: not PKCS#7 SignedData");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_teardown(test_layout_pe32_plus, teardown),
                cmocka_unit_test_teardown(test_layout_pe32, teardown),
                cmocka_unit_test_teardown(test_digest, teardown),
                cmocka_unit_test_teardown(test_not_pe, teardown),
                cmocka_unit_test_teardown(test_truncated, teardown),
                cmocka_unit_test_teardown(test_headers_too_big, teardown),
                cmocka_unit_test_teardown(test_section_outside, teardown),
                cmocka_unit_test_teardown(test_cert_table_outside, teardown),
                cmocka_unit_test_teardown(test_no_signature, teardown),
                cmocka_unit_test_teardown(test_win_certificate, teardown),
                cmocka_unit_test_teardown(test_not_signed_data, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
