/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "basic/error.h"
#include "net/http-fetch.h"
#include "net/http-multipart.h"
#include "net/http-policy.h"

static void expect_boundary(const char *value, int want, const char *boundary) {
        char b[HTTP_BOUNDARY_MAX + 1] = "unchanged";
        err_clear();
        assert_int_equal(http_multipart_boundary(value, strlen(value), b), want);
        if (want > 0)
                assert_string_equal(b, boundary);
}

static void test_boundary(void **state) {
        expect_boundary("multipart/byteranges; boundary=00000000001", 1, "00000000001");
        expect_boundary("Multipart/ByteRanges;boundary=abc", 1, "abc");
        expect_boundary("  multipart/byteranges ; charset=x; BOUNDARY=\"a b:c\"  ", 1, "a b:c");
        expect_boundary("multipart/byteranges; boundary=\"q\\\"x\"", -EBADMSG, NULL);     /* '"' is no bchar */
        expect_boundary("multipart/byteranges; boundary=3d6b6a416f9b5", 1, "3d6b6a416f9b5");
        /* Another media type: not multipart. */
        expect_boundary("application/octet-stream", 0, NULL);
        expect_boundary("multipart/byterangesx; boundary=a", 0, NULL);
        expect_boundary("multipart/mixed; boundary=a", 0, NULL);
        expect_boundary("", 0, NULL);
        /* multipart/byteranges without a usable boundary. */
        expect_boundary("multipart/byteranges", -EBADMSG, NULL);
        assert_non_null(strstr(err_message(-EBADMSG), "without a boundary"));
        expect_boundary("multipart/byteranges; boundary=", -EBADMSG, NULL);
        expect_boundary("multipart/byteranges; boundary=\"a \"", -EBADMSG, NULL);      /* ends with a space */
        expect_boundary("multipart/byteranges; boundary=\"abc", -EBADMSG, NULL);
        expect_boundary("multipart/byteranges; boundary=a{b", -EBADMSG, NULL);
        expect_boundary("multipart/byteranges boundary=a", -EBADMSG, NULL);
        expect_boundary("multipart/byteranges; boundary", -EBADMSG, NULL);
        char longer[200];
        (void) snprintf(longer, sizeof longer, "multipart/byteranges; boundary=%071d", 7);
        expect_boundary(longer, -EBADMSG, NULL);
        (void) snprintf(longer, sizeof longer, "multipart/byteranges; boundary=%070d", 7);
        expect_boundary(longer, 1, longer + strlen("multipart/byteranges; boundary="));
        /* A NUL byte inside the value (the header's length counts it): no bchar, as a quoted one neither
         * (found by fuzz-http-response: the boundary kept was empty). */
        static const char nul[] = "multipart/byteranges; boundary=\0ab";
        char b[HTTP_BOUNDARY_MAX + 1] = "unchanged";
        assert_int_equal(http_multipart_boundary(nul, sizeof nul - 1, b), -EBADMSG);
        static const char qnul[] = "multipart/byteranges; boundary=\"a\0b\"";
        assert_int_equal(http_multipart_boundary(qnul, sizeof qnul - 1, b), -EBADMSG);
        assert_string_equal(b, "unchanged");

        /* Through the response headers. */
        HttpResponse r = {};
        assert_int_equal(http_response_header(&r, "HTTP/1.1 206 Partial Content\r\n", 31), 0);
        const char *ct = "Content-Type: multipart/byteranges; boundary=00000000001\r\n";
        assert_int_equal(http_response_header(&r, ct, strlen(ct)), 0);
        assert_true(r.multipart);
        assert_string_equal(r.boundary, "00000000001");
        ct = "content-type: multipart/byteranges\r\n";
        assert_int_equal(http_response_header(&r, ct, strlen(ct)), -EBADMSG);
}

/* What the callbacks saw, as text: "P start-end/total" per part, "D offset:bytes" per data call merged. */
typedef struct Seen {
        char log[4096];
        uint8_t data[4096];
        uint64_t data_at[4096];
        size_t n;
        int fail_part;          /* return this from the n-th part callback (1-based) */
        unsigned parts;
} Seen;

static int seen_part(void *userdata, uint64_t start, uint64_t end, uint64_t total) {
        Seen *s = userdata;
        size_t l = strlen(s->log);
        (void) snprintf(s->log + l, sizeof s->log - l, "P%llu-%llu/%lld ", (unsigned long long) start,
                        (unsigned long long) end, total == HTTP_SIZE_UNKNOWN ? -1LL : (long long) total);
        s->parts++;
        if (s->fail_part && (int) s->parts == s->fail_part)
                return -ESTALE;
        return 0;
}

static int seen_data(void *userdata, uint64_t offset, const uint8_t *p, size_t n) {
        Seen *s = userdata;
        for (size_t i = 0; i < n; i++) {
                assert_true(s->n < sizeof s->data);
                s->data[s->n] = p[i];
                s->data_at[s->n++] = offset + i;
        }
        return 0;
}

static const HttpMultipartCallbacks cbs = { .part = seen_part, .data = seen_data };

/* Feeds body in pieces of step bytes (0: at once). */
static int feed(const char *boundary, const char *body, size_t len, size_t step, Seen *s, HttpMultipart *m) {
        http_multipart_init(m, boundary);
        if (step == 0)
                step = len ? len : 1;
        for (size_t i = 0; i < len; i += step) {
                int r = http_multipart_feed(m, (const uint8_t *) body + i, MIN(step, len - i), &cbs, s);
                if (r < 0)
                        return r;
        }
        return 0;
}

#define NGINX_BODY                                                 \
        "\r\n--00000000001\r\n"                                    \
        "Content-Type: application/octet-stream\r\n"               \
        "Content-Range: bytes 2-5/200\r\n"                         \
        "\r\n"                                                     \
        "abcd\r\n"                                                 \
        "--00000000001\r\n"                                        \
        "Content-Type: application/octet-stream\r\n"               \
        "Content-Range: bytes 10-10/200\r\n"                       \
        "\r\n"                                                     \
        "\n\r\n"                                                   \
        "--00000000001\r\n"                                        \
        "Content-Range: bytes 90-104/200\r\n"                      \
        "\r\n"                                                     \
        "--00000000001--"                                          \
        "\r\n--00000000001--\r\n"

/* body, fed in every split size, parses whole: the parts in log, their bytes data. */
static void expect_parts(const char *boundary, const char *body, size_t len, const char *log, const char *data) {
        for (size_t step = 0; step <= len; step++) {
                Seen s = {};
                HttpMultipart m;
                assert_int_equal(feed(boundary, body, len, step, &s, &m), 0);
                assert_true(http_multipart_done(&m));
                assert_string_equal(s.log, log);
                assert_int_equal(s.n, strlen(data));
                assert_memory_equal(s.data, data, s.n);
        }
}

static void test_parts(void **state) {
        const char *body = NGINX_BODY;
        /* The last part's bytes look like a delimiter: a body is never searched for one. */
        for (size_t step = 0; step <= strlen(body); step++) {
                Seen s = {};
                HttpMultipart m;
                assert_int_equal(feed("00000000001", body, strlen(body), step, &s, &m), 0);
                assert_true(http_multipart_done(&m));
                assert_string_equal(s.log, "P2-5/200 P10-10/200 P90-104/200 ");
                assert_int_equal(s.n, 4 + 1 + 15);
                assert_memory_equal(s.data, "abcd\n--00000000001--", 20);
                assert_true(s.data_at[0] == 2 && s.data_at[3] == 5 && s.data_at[4] == 10 && s.data_at[5] == 90 &&
                            s.data_at[19] == 104);
                assert_int_equal(m.parts, 3);
                assert_true(m.framing == strlen(body) - 20);
        }
        /* LF only, a preamble, transport padding, an unknown total, an epilogue. */
        const char *lf = "this is a preamble\n--b  \ncontent-range:   bytes 0-2/*\t\n\nxyz\n--b--\t\nepilogue --b\n";
        expect_parts("b", lf, strlen(lf), "P0-2/-1 ", "xyz");
        /* A preamble of binary bytes (what a garbled first delimiter leaves): skipped up to the next delimiter. */
        static const char bin[] = "\r\n-X\0\r\n\0\0\r\n--b\r\nContent-Range: bytes 4-4/9\r\n\r\nZ\r\n--b--\r\n";
        expect_parts("b", bin, sizeof bin - 1, "P4-4/9 ", "Z");
        /* A preamble line longer than any header line is skipped. */
        char pre[3000];
        memset(pre, 'x', 2000);
        (void) snprintf(pre + 2000, sizeof pre - 2000, "\r\n--b\r\nContent-Range: bytes 1-1/2\r\n\r\nQ\r\n--b--\r\n");
        Seen s = {};
        HttpMultipart m;
        assert_int_equal(feed("b", pre, strlen(pre), 100, &s, &m), 0);
        assert_string_equal(s.log, "P1-1/2 ");
        /* Cut short: not done, what came is delivered. */
        s = (Seen) {};
        assert_int_equal(feed("00000000001", body, 120, 7, &s, &m), 0);
        assert_false(http_multipart_done(&m));
        assert_string_equal(s.log, "P2-5/200 ");
}

static void expect_bad(const char *boundary, const char *body, const char *message) {
        for (size_t step = 0; step <= strlen(body); step += 1) {
                Seen s = {};
                HttpMultipart m;
                err_clear();
                assert_int_equal(feed(boundary, body, strlen(body), step, &s, &m), -EBADMSG);
                if (!strstr(err_message(-EBADMSG), message))
                        fail_msg("'%s': %s", message, err_message(-EBADMSG));
                assert_false(http_multipart_done(&m));
        }
}

static void test_bad(void **state) {
        expect_bad("b", "--b\r\nContent-Type: x\r\n\r\nabc\r\n--b--\r\n", "a part without Content-Range");
        expect_bad("b", "--b\r\nContent-Range: bytes 0-1/9\r\nContent-Range: bytes 0-1/9\r\n\r\n", "two Content-Range");
        expect_bad("b", "--b\r\nContent-Range: items 0-1/9\r\n\r\n", "not in bytes");
        expect_bad("b", "--b\r\nContent-Range: bytes 5-1/9\r\n\r\n", "not a range of the resource");
        expect_bad("b", "--b\r\nContent-Range: bytes 0-9/9\r\n\r\n", "not a range of the resource");
        expect_bad("b", "--b\r\nContent-Range: bytes 0-18446744073709551615/*\r\n\r\n", "not a range of the resource");
        expect_bad("b", "--b\r\nno colon here\r\n\r\n", "without a colon");
        /* A part longer than its Content-Range says. */
        expect_bad("b", "--b\r\nContent-Range: bytes 0-1/9\r\n\r\nabc\r\n--b--\r\n", "are followed by 'c', not the boundary");
        expect_bad("b", "--b\r\nContent-Range: bytes 0-1/9\r\n\r\nab\r\n--c\r\n", "followed by '--c', not the boundary");
        expect_bad("b", "--b\r\nContent-Range: bytes 0-1/9\r\n\r\nab\r\n--bx\r\n", "not the boundary");
        char longer[2100] = "--b\r\nX: ";
        memset(longer + 8, 'y', 1100);
        (void) snprintf(longer + 1108, sizeof longer - 1108, "\r\n\r\n");
        expect_bad("b", longer, "a line longer than 1023 bytes");
        /* A NUL in a header line. */
        static const char nul[] = "--b\r\nContent-Range: bytes 0-1/9\r\nX: a\0b\r\n\r\nab\r\n--b--\r\n";
        Seen z = {};
        HttpMultipart mz;
        err_clear();
        assert_int_equal(feed("b", nul, sizeof nul - 1, 0, &z, &mz), -EBADMSG);
        assert_non_null(strstr(err_message(-EBADMSG), "a control or non-ASCII byte"));
        /* Binary bytes after a part (it was longer than its Content-Range said) are not quoted. */
        expect_bad("b", "--b\r\nContent-Range: bytes 0-1/9\r\n\r\nab\x01\xff\r\n--b--\r\n", "a control or non-ASCII byte");

        /* A callback's error ends the feed. */
        Seen s = { .fail_part = 2 };
        HttpMultipart m;
        const char *body = NGINX_BODY;
        assert_int_equal(feed("00000000001", body, strlen(body), 0, &s, &m), -ESTALE);
        assert_string_equal(s.log, "P2-5/200 P10-10/200 ");
}

/* A 206 multipart answer passes the plan on its validators alone; its parts are the fetch's to check. */
static void test_plan(void **state) {
        HttpResource res = { .known = true, .size = 200, .v = { .etag = "\"a\"" } };
        HttpResponse r = { .status = 206, .multipart = true, .content_length = 999, .range_total = HTTP_SIZE_UNKNOWN,
                           .v = { .etag = "\"a\"" } };
        HttpFailure failure = _HTTP_FAILURE_MAX;
        uint64_t skip = 7;
        assert_int_equal(http_response_plan(&res, 50, &r, &skip, &failure), 0);
        assert_true(skip == 0 && res.size == 200);
        strcpy(r.v.etag, "\"b\"");
        assert_int_equal(http_response_plan(&res, 50, &r, &skip, &failure), -ESTALE);
        assert_int_equal(failure, HTTP_FAILURE_CHANGED);
        /* Without multipart, a 206 needs its Content-Range. */
        r.multipart = false;
        strcpy(r.v.etag, "\"a\"");
        assert_int_equal(http_response_plan(&res, 50, &r, &skip, &failure), -EBADMSG);
        assert_int_equal(failure, HTTP_FAILURE_PROTOCOL);
}

static void test_ranges_requests(void **state) {
        HttpByteRange r[300];
        for (size_t i = 0; i < 300; i++)
                r[i] = (HttpByteRange) { i * 8192, 4096 };
        assert_int_equal(http_ranges_requests(r, 0), 0);
        assert_int_equal(http_ranges_requests(r, 1), 1);
        assert_int_equal(http_ranges_requests(r, 128), 1);
        assert_int_equal(http_ranges_requests(r, 129), 2);
        assert_int_equal(http_ranges_requests(r, 300), 3);
        /* Touching ranges still go together; one that goes back starts a request. */
        r[1].start = 4096;
        assert_int_equal(http_ranges_requests(r, 3), 1);
        r[2].start = 0;
        assert_int_equal(http_ranges_requests(r, 3), 2);
        /* The Range value's length bounds a request too: 20-digit offsets, about 42 characters a range. */
        for (size_t i = 0; i < 300; i++)
                r[i] = (HttpByteRange) { 10000000000000000000ULL + i * 8192, 4096 };
        assert_int_equal(http_ranges_requests(r, 128), 2);
        assert_int_equal(http_ranges_requests(r, 300), 4);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_boundary),
                cmocka_unit_test(test_parts),
                cmocka_unit_test(test_bad),
                cmocka_unit_test(test_plan),
                cmocka_unit_test(test_ranges_requests),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
