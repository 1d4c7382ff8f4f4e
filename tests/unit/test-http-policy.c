/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "basic/error.h"
#include "net/http-policy.h"

static void test_is_url(void **state) {
        assert_true(http_is_url("https://example.com/b.abide"));
        assert_true(http_is_url("HTTP://x"));
        assert_true(http_is_url("ftp://x"));
        assert_true(http_is_url("git+ssh://x"));
        assert_false(http_is_url("/srv/b.abide"));
        assert_false(http_is_url("b.abide"));
        assert_false(http_is_url("-"));
        assert_false(http_is_url("://x"));
        assert_false(http_is_url("./https://x"));
        assert_false(http_is_url("1http://x"));
        assert_false(http_is_url(NULL));
        assert_false(http_is_url("https:/x"));
}

static void expect_url(const char *url, bool allow_http, int want, const char *part) {
        err_clear();
        assert_int_equal(http_url_check(url, allow_http), want);
        if (part)
                assert_non_null(strstr(err_message(want), part));
}

static void test_url_check(void **state) {
        expect_url("https://127.0.0.1:8443/b.abide", false, 0, NULL);
        expect_url("HTTPS://host/b", false, 0, NULL);
        expect_url("http://host/b", true, 0, NULL);
        expect_url("http://host/b", false, -EPERM, "AllowHTTP=no");
        expect_url("Http://host/b", false, -EPERM, "AllowHTTP=no");
        expect_url("ftp://host/b", true, -EPROTONOSUPPORT, "unsupported URL scheme 'ftp'");
        expect_url("httpx://host/b", true, -EPROTONOSUPPORT, "'httpx'");
        expect_url("https://", true, -EINVAL, "no host");
        expect_url("http://", true, -EINVAL, "no host");
        expect_url("https://host/a b", true, -EINVAL, "whitespace");
        expect_url("https://host/a\nb", true, -EINVAL, "control");
        expect_url("https://host/\x7f", true, -EINVAL, "control");
        expect_url("/path", true, -EINVAL, "not a URL");
}

static void test_url_display(void **state) {
        char buf[128];
        http_url_display("https://user:secret@host:1/p?q=1", buf, sizeof buf);
        assert_string_equal(buf, "https://host:1/p?q=1");
        http_url_display("https://host/p@x", buf, sizeof buf);
        assert_string_equal(buf, "https://host/p@x");
        http_url_display("http://a@b", buf, sizeof buf);
        assert_string_equal(buf, "http://b");
        http_url_display("https://user:p@ss@host/b", buf, sizeof buf);
        assert_string_equal(buf, "https://host/b");
        http_url_display("https://host/very/long", buf, 9);
        assert_string_equal(buf, "https://");
        http_url_display("x", buf, 0);
}

static void test_content_range(void **state) {
        uint64_t s, e, t;
        assert_int_equal(http_content_range_parse("bytes 100-199/1000", &s, &e, &t), 0);
        assert_true(s == 100 && e == 199 && t == 1000);
        assert_int_equal(http_content_range_parse("bytes 0-0/1", &s, &e, &t), 0);
        assert_true(s == 0 && e == 0 && t == 1);
        assert_int_equal(http_content_range_parse("BYTES 5-9/*", &s, &e, &t), 0);
        assert_true(s == 5 && e == 9 && t == HTTP_SIZE_UNKNOWN);
        assert_int_equal(http_content_range_parse("bytes 18446744073709551614-18446744073709551614/18446744073709551615", &s, &e, &t),
                         -EBADMSG);
        assert_int_equal(http_content_range_parse("bytes 1-2/18446744073709551616", &s, &e, &t), -EBADMSG);
        assert_int_equal(http_content_range_parse("bytes */1000", &s, &e, &t), -EBADMSG);
        assert_int_equal(http_content_range_parse("items 1-2/3", &s, &e, &t), -EBADMSG);
        assert_int_equal(http_content_range_parse("bytes=1-2/3", &s, &e, &t), -EBADMSG);
        assert_int_equal(http_content_range_parse("bytes 1-/3", &s, &e, &t), -EBADMSG);
        assert_int_equal(http_content_range_parse("bytes 1-2", &s, &e, &t), -EBADMSG);
        assert_int_equal(http_content_range_parse("bytes 1-2/", &s, &e, &t), -EBADMSG);
        assert_int_equal(http_content_range_parse("bytes 1-2/3x", &s, &e, &t), -EBADMSG);
        assert_int_equal(http_content_range_parse("bytes 5-4/10", &s, &e, &t), -EBADMSG);
        assert_int_equal(http_content_range_parse("bytes 5-10/10", &s, &e, &t), -EBADMSG);
        assert_int_equal(http_content_range_parse("bytes -1-2/10", &s, &e, &t), -EBADMSG);
        assert_int_equal(http_content_range_parse("bytes 99999999999999999999-1/2", &s, &e, &t), -EBADMSG);
}

static void feed(HttpResponse *r, const char *line) {
        assert_int_equal(http_response_header(r, line, strlen(line)), 0);
}

static void test_response_headers(void **state) {
        HttpResponse r = {};
        feed(&r, "HTTP/1.1 302 Found\r\n");
        assert_int_equal(r.status, 302);
        assert_string_equal(r.reason, "Found");
        feed(&r, "ETag: \"old\"\r\n");
        feed(&r, "Location: /x\r\n");
        /* A new status line starts a new response: nothing of the redirect is left. */
        feed(&r, "HTTP/1.1 206 Partial Content\r\n");
        assert_int_equal(r.status, 206);
        assert_string_equal(r.v.etag, "");
        assert_true(r.content_length == HTTP_SIZE_UNKNOWN);
        feed(&r, "etag:   \"abc\"  \r\n");
        feed(&r, "Last-Modified: Wed, 02 Dec 2026 06:00:00 GMT\r\n");
        feed(&r, "content-length: 900\r\n");
        feed(&r, "Content-Range: bytes 100-999/1000\r\n");
        feed(&r, "X-Other: whatever\r\n");
        feed(&r, "no colon here\r\n");
        feed(&r, "\r\n");
        assert_string_equal(r.v.etag, "\"abc\"");
        assert_string_equal(r.v.last_modified, "Wed, 02 Dec 2026 06:00:00 GMT");
        assert_true(r.content_length == 900);
        assert_true(r.has_range && r.range_start == 100 && r.range_end == 999 && r.range_total == 1000);

        feed(&r, "HTTP/2 200");
        assert_int_equal(r.status, 200);
        assert_string_equal(r.reason, "");
        assert_false(r.has_range);

        /* A validator too long to keep is no validator. */
        char big[400];
        memset(big, 'a', sizeof big);
        memcpy(big, "ETag: ", 6);
        assert_int_equal(http_response_header(&r, big, sizeof big), 0);
        assert_string_equal(r.v.etag, "");

        assert_int_equal(http_response_header(&r, "HTTP/1.1", 8), -EBADMSG);
        assert_int_equal(http_response_header(&r, "HTTP/1.1 20", 11), -EBADMSG);
        assert_int_equal(http_response_header(&r, "HTTP/1.1 abc OK", 15), -EBADMSG);
        assert_int_equal(http_response_header(&r, "HTTP/1.1 099 x", 14), -EBADMSG);
        assert_int_equal(http_response_header(&r, "HTTP/1.1 2000 x", 15), -EBADMSG);
        assert_int_equal(http_response_header(&r, "HTTP/1.1 200X", 13), -EBADMSG);
        assert_int_equal(http_response_header(&r, "HTTP/1.1 200\tOK", 15), -EBADMSG);
        /* The line is its length, not up to a NUL (libcurl's header buffer has none): the digits after it
         * are not its status. */
        assert_int_equal(http_response_header(&r, "HTTP/1.1 2000", 12), 0);
        assert_int_equal(r.status, 200);
        assert_int_equal(http_response_header(&r, "HTTP/1.1 20000", 11), -EBADMSG);
        feed(&r, "HTTP/1.1 200 OK");
        assert_int_equal(http_response_header(&r, "Content-Length: 12x", 19), -EBADMSG);
        assert_int_equal(http_response_header(&r, "Content-Length: ", 16), -EBADMSG);
        assert_int_equal(http_response_header(&r, "Content-Range: bytes 1-2/1", 26), -EBADMSG);
        char range[200] = "Content-Range: ";
        memset(range + 15, '1', 150);
        assert_int_equal(http_response_header(&r, range, strlen(range)), -EBADMSG);
}

static HttpResponse response(long status, uint64_t length, const char *etag, const char *lm) {
        HttpResponse r = { .status = status, .content_length = length, .range_total = HTTP_SIZE_UNKNOWN };
        snprintf(r.v.etag, sizeof r.v.etag, "%s", etag);
        snprintf(r.v.last_modified, sizeof r.v.last_modified, "%s", lm);
        return r;
}

static HttpResponse partial(uint64_t start, uint64_t total, const char *etag, const char *lm) {
        HttpResponse r = response(206, total - start, etag, lm);
        r.has_range = true;
        r.range_start = start;
        r.range_end = total - 1;
        r.range_total = total;
        return r;
}

#define LM1 "Wed, 02 Dec 2026 06:00:00 GMT"
#define LM2 "Wed, 02 Dec 2026 06:00:01 GMT"

static void test_if_range(void **state) {
        HttpResource res = {};
        assert_null(http_if_range(&res));
        res = (HttpResource) { .known = true, .size = 10 };
        assert_null(http_if_range(&res));
        strcpy(res.v.last_modified, LM1);
        assert_string_equal(http_if_range(&res), LM1);
        strcpy(res.v.etag, "W/\"weak\"");
        assert_string_equal(http_if_range(&res), LM1);
        strcpy(res.v.etag, "\"strong\"");
        assert_string_equal(http_if_range(&res), "\"strong\"");
}

static void test_changed(void **state) {
        HttpResource res = {};
        HttpResponse r = response(200, 10, "\"a\"", LM1);
        assert_false(http_resource_changed(&res, &r));
        res = (HttpResource) { .known = true, .size = 10, .v = r.v };
        assert_false(http_resource_changed(&res, &r));
        HttpResponse other = response(200, 10, "\"b\"", LM1);
        assert_true(http_resource_changed(&res, &other));
        /* The ETag decides over Last-Modified when both have one. */
        other = response(200, 10, "\"a\"", LM2);
        assert_false(http_resource_changed(&res, &other));
        other = response(200, 10, "", LM2);
        assert_true(http_resource_changed(&res, &other));
        other = response(200, 11, "\"a\"", LM1);
        assert_true(http_resource_changed(&res, &other));
        /* Nothing to compare: not detectable here (the hashes catch it). */
        other = response(200, HTTP_SIZE_UNKNOWN, "", "");
        assert_false(http_resource_changed(&res, &other));
        other = partial(4, 10, "\"a\"", LM1);
        assert_false(http_resource_changed(&res, &other));
        other = partial(4, 12, "\"a\"", LM1);
        assert_true(http_resource_changed(&res, &other));
        other = partial(4, 10, "\"a\"", LM1);
        other.has_range = false;
        assert_false(http_resource_changed(&res, &other));
}

static void test_plan_first(void **state) {
        HttpResource res = {};
        HttpFailure failure = HTTP_FAILURE_OTHER;
        uint64_t skip = 99;

        HttpResponse r = response(200, 1000, "\"a\"", LM1);
        assert_int_equal(http_response_plan(&res, 0, &r, &skip, &failure), 0);
        assert_true(res.known && res.size == 1000 && skip == 0);
        assert_string_equal(res.v.etag, "\"a\"");

        /* Nothing delivered yet: a new bundle on a retry of the first request is simply the bundle. */
        r = response(200, 2000, "\"b\"", LM2);
        assert_int_equal(http_response_plan(&res, 0, &r, &skip, &failure), 0);
        assert_true(res.size == 2000);
        assert_string_equal(res.v.etag, "\"b\"");

        /* A 206 to a request without Range, from 0: taken as it is. */
        res = (HttpResource) {};
        r = partial(0, 500, "\"c\"", "");
        assert_int_equal(http_response_plan(&res, 0, &r, &skip, &failure), 0);
        assert_true(res.known && res.size == 500);
}

static void test_plan_resume(void **state) {
        HttpResponse first = response(200, 1000, "\"a\"", LM1);
        HttpResource res = { .known = true, .size = 1000, .v = first.v };
        HttpFailure failure = HTTP_FAILURE_OTHER;
        uint64_t skip = 99;

        HttpResponse r = partial(400, 1000, "\"a\"", LM1);
        assert_int_equal(http_response_plan(&res, 400, &r, &skip, &failure), 0);
        assert_true(skip == 0);

        /* Range ignored: everything again, the first 400 bytes dropped. */
        r = response(200, 1000, "\"a\"", LM1);
        assert_int_equal(http_response_plan(&res, 400, &r, &skip, &failure), 0);
        assert_true(skip == 400);
        r = response(200, HTTP_SIZE_UNKNOWN, "", "");
        assert_int_equal(http_response_plan(&res, 400, &r, &skip, &failure), 0);
        assert_true(skip == 400);

        /* Another bundle: refused, whether by If-Range (200) or a server ignoring it (206). */
        err_clear();
        r = response(200, 1000, "\"b\"", LM2);
        assert_int_equal(http_response_plan(&res, 400, &r, &skip, &failure), -ESTALE);
        assert_int_equal(failure, HTTP_FAILURE_CHANGED);
        assert_non_null(strstr(err_message(-ESTALE), "changed on the server between requests (ETag \"a\", now \"b\")"));
        r = partial(400, 1000, "\"b\"", LM1);
        assert_int_equal(http_response_plan(&res, 400, &r, &skip, &failure), -ESTALE);
        r = partial(400, 1200, "\"a\"", LM1);
        assert_int_equal(http_response_plan(&res, 400, &r, &skip, &failure), -ESTALE);
        assert_non_null(strstr(err_message(-ESTALE), "(1000 bytes, now 1200)"));
        HttpResource lm = { .known = true, .size = HTTP_SIZE_UNKNOWN };
        strcpy(lm.v.last_modified, LM1);
        r = response(200, HTTP_SIZE_UNKNOWN, "", LM2);
        assert_int_equal(http_response_plan(&lm, 400, &r, &skip, &failure), -ESTALE);
        assert_non_null(strstr(err_message(-ESTALE), "(Last-Modified " LM1 ", now " LM2 ")"));
        r = response(416, HTTP_SIZE_UNKNOWN, "", "");
        assert_int_equal(http_response_plan(&res, 400, &r, &skip, &failure), -ESTALE);
        assert_int_equal(failure, HTTP_FAILURE_CHANGED);

        /* A range from elsewhere, or none. */
        r = partial(300, 1000, "\"a\"", LM1);
        assert_int_equal(http_response_plan(&res, 400, &r, &skip, &failure), -EBADMSG);
        assert_int_equal(failure, HTTP_FAILURE_PROTOCOL);
        assert_non_null(strstr(err_message(-EBADMSG), "asked for the bytes from 400, the server sent them from 300"));
        r = partial(400, 1000, "\"a\"", LM1);
        r.has_range = false;
        assert_int_equal(http_response_plan(&res, 400, &r, &skip, &failure), -EBADMSG);
        assert_int_equal(failure, HTTP_FAILURE_PROTOCOL);

        /* A range asked for first, answered whole (Range ignored): that answer describes the resource, and
         * another bundle after it is refused. */
        HttpResource fresh = {};
        r = response(200, 1000, "\"a\"", LM1);
        assert_int_equal(http_response_plan(&fresh, 400, &r, &skip, &failure), 0);
        assert_true(skip == 400);
        assert_true(fresh.known && fresh.size == 1000 && streq(fresh.v.etag, "\"a\""));
        r = partial(600, 1200, "\"b\"", LM2);
        assert_int_equal(http_response_plan(&fresh, 600, &r, &skip, &failure), -ESTALE);
        assert_int_equal(failure, HTTP_FAILURE_CHANGED);
}

static void test_plan_status(void **state) {
        HttpResource res = {};
        HttpFailure failure = HTTP_FAILURE_OTHER;
        uint64_t skip = 0;

        HttpResponse r = response(404, 0, "", "");
        strcpy(r.reason, "Not Found");
        assert_int_equal(http_response_plan(&res, 0, &r, &skip, &failure), -ENOENT);
        assert_int_equal(failure, HTTP_FAILURE_STATUS);
        assert_string_equal(err_message(-ENOENT), "HTTP 404 (Not Found)");
        r = response(500, 0, "", "");
        assert_int_equal(http_response_plan(&res, 0, &r, &skip, &failure), -EPROTO);
        assert_string_equal(err_message(-EPROTO), "HTTP 500");
        r = response(416, 0, "", "");
        assert_int_equal(http_response_plan(&res, 0, &r, &skip, &failure), -EPROTO);
        assert_int_equal(failure, HTTP_FAILURE_STATUS);
        r = response(410, 0, "", "");
        assert_int_equal(http_response_plan(&res, 0, &r, &skip, &failure), -ENOENT);
        r = response(0, 0, "", "");
        assert_int_equal(http_response_plan(&res, 0, &r, &skip, &failure), -EPROTO);
        assert_string_equal(err_message(-EPROTO), "no HTTP response");
        assert_false(res.known);
}

static void test_error_title(void **state) {
        char buf[64];
        const char *page = "<html>\r\n<head><title>400 No required SSL certificate was sent</title></head>";
        http_error_title(page, strlen(page), buf, sizeof buf);
        assert_string_equal(buf, "No required SSL certificate was sent");
        page = "<TITLE> Forbidden \x01 </TITLE>";
        http_error_title(page, strlen(page), buf, sizeof buf);
        assert_string_equal(buf, "Forbidden");
        page = "<title>404</title>";
        http_error_title(page, strlen(page), buf, sizeof buf);
        assert_string_equal(buf, "404");
        page = "<title>no end";
        http_error_title(page, strlen(page), buf, sizeof buf);
        assert_string_equal(buf, "");
        page = "plain text";
        http_error_title(page, strlen(page), buf, sizeof buf);
        assert_string_equal(buf, "");
        page = "<title>a very long title that will not fit</title>";
        http_error_title(page, strlen(page), buf, 8);
        assert_string_equal(buf, "a very");
        http_error_title(page, strlen(page), buf, 0);
        /* Cut inside the tag: no title. */
        http_error_title(page, 5, buf, sizeof buf);
        assert_string_equal(buf, "");
}

static void test_header_lines(void **state) {
        assert_int_equal(http_header_line_check("Authorization: Bearer abc.def"), 1);
        assert_int_equal(http_header_line_check("X-Device:"), 1);
        assert_int_equal(http_header_line_check(""), 0);
        assert_int_equal(http_header_line_check("   "), 0);
        assert_int_equal(http_header_line_check("# a comment: yes"), 0);
        assert_int_equal(http_header_line_check("  # indented comment"), 0);
        assert_int_equal(http_header_line_check(" X: y"), -EINVAL);
        assert_int_equal(http_header_line_check("no colon"), -EINVAL);
        assert_int_equal(http_header_line_check(": value"), -EINVAL);
        assert_int_equal(http_header_line_check("Bad Name: v"), -EINVAL);
        assert_int_equal(http_header_line_check("X: a\rb"), -EINVAL);
        assert_int_equal(http_header_line_check("X: a\tb"), 1);
        assert_int_equal(http_header_line_check("range: bytes=0-"), -EINVAL);
        assert_non_null(strstr(err_message(-EINVAL), "set by the fetch itself"));
        assert_int_equal(http_header_line_check("If-Range: x"), -EINVAL);
        assert_int_equal(http_header_line_check("Ranges: x"), 1);
}

static void test_transient(void **state) {
        assert_true(http_failure_transient(HTTP_FAILURE_CONNECT, 0));
        assert_true(http_failure_transient(HTTP_FAILURE_DROP, 0));
        assert_true(http_failure_transient(HTTP_FAILURE_STALL, 0));
        assert_true(http_failure_transient(HTTP_FAILURE_STATUS, 500));
        assert_true(http_failure_transient(HTTP_FAILURE_STATUS, 503));
        assert_true(http_failure_transient(HTTP_FAILURE_STATUS, 599));
        assert_true(http_failure_transient(HTTP_FAILURE_STATUS, 408));
        assert_true(http_failure_transient(HTTP_FAILURE_STATUS, 429));
        assert_false(http_failure_transient(HTTP_FAILURE_STATUS, 404));
        assert_false(http_failure_transient(HTTP_FAILURE_STATUS, 400));
        assert_false(http_failure_transient(HTTP_FAILURE_STATUS, 600));
        assert_false(http_failure_transient(HTTP_FAILURE_STATUS, 302));
        assert_false(http_failure_transient(HTTP_FAILURE_TLS, 0));
        assert_false(http_failure_transient(HTTP_FAILURE_REDIRECTS, 0));
        assert_false(http_failure_transient(HTTP_FAILURE_CHANGED, 0));
        assert_false(http_failure_transient(HTTP_FAILURE_PROTOCOL, 0));
        assert_false(http_failure_transient(HTTP_FAILURE_DEADLINE, 0));
        assert_false(http_failure_transient(HTTP_FAILURE_OTHER, 0));
        for (int f = 0; f < _HTTP_FAILURE_MAX; f++)
                assert_non_null(http_failure_to_string((HttpFailure) f));
        assert_null(http_failure_to_string(_HTTP_FAILURE_MAX));
        assert_null(http_failure_to_string((HttpFailure) -1));
}

static void test_backoff(void **state) {
        assert_true(http_backoff_ms(0) == 0);
        assert_true(http_backoff_ms(1) == 500);
        assert_true(http_backoff_ms(2) == 1000);
        assert_true(http_backoff_ms(3) == 2000);
        assert_true(http_backoff_ms(7) == 30000);
        assert_true(http_backoff_ms(6) == 16000);
        assert_true(http_backoff_ms(1000) == 30000);
        assert_true(http_backoff_ms(UINT32_MAX) == 30000);
}

static void test_backoff_jitter(void **state) {
        uint64_t none = 0;
        assert_true(http_backoff_jitter_ms(8000, &none) == 8000);
        assert_true(none == 0);

        /* Within [backoff/2, backoff], spread over it, and not in step across seeds. */
        uint64_t lo = UINT64_MAX, hi = 0, same = 0;
        for (uint64_t seed = 1; seed <= 2000; seed++) {
                uint64_t s = seed, t = seed * 7919;
                uint64_t d = http_backoff_jitter_ms(8000, &s);
                assert_true(d >= 4000 && d <= 8000);
                assert_true(s != seed && s != 0);
                lo = MIN(lo, d);
                hi = MAX(hi, d);
                same += d == http_backoff_jitter_ms(8000, &t);
        }
        assert_true(lo < 4400 && hi > 7600);
        assert_true(same < 20);
        uint64_t one = 1;
        assert_true(http_backoff_jitter_ms(1, &one) == 1);
        assert_true(http_backoff_jitter_ms(30000, &one) <= 30000);
}

static void test_retry(void **state) {
        HttpRetryPolicy p = { .retries = 3 };
        HttpRetryState s = {};
        uint64_t delay = 77;

        assert_int_equal(http_retry_decide(&p, &s, HTTP_FAILURE_STATUS, 404, false, 0, &delay), HTTP_GIVE_UP_FATAL);
        assert_int_equal(s.attempts, 1);
        assert_true(delay == 77);

        s = (HttpRetryState) {};
        assert_int_equal(http_retry_decide(&p, &s, HTTP_FAILURE_DROP, 0, false, 0, &delay), HTTP_RETRY);
        assert_true(delay == 500);
        assert_int_equal(http_retry_decide(&p, &s, HTTP_FAILURE_STALL, 0, false, 0, &delay), HTTP_RETRY);
        assert_true(delay == 1000);
        /* Progress: the count starts over and the next attempt goes at once. */
        assert_int_equal(http_retry_decide(&p, &s, HTTP_FAILURE_DROP, 0, true, 0, &delay), HTTP_RETRY);
        assert_true(delay == 0);
        assert_int_equal(s.failures, 1);
        assert_int_equal(http_retry_decide(&p, &s, HTTP_FAILURE_STATUS, 503, false, 0, &delay), HTTP_RETRY);
        assert_true(delay == 1000);
        assert_int_equal(http_retry_decide(&p, &s, HTTP_FAILURE_CONNECT, 0, false, 0, &delay), HTTP_RETRY);
        assert_true(delay == 2000);
        assert_int_equal(http_retry_decide(&p, &s, HTTP_FAILURE_CONNECT, 0, false, 0, &delay), HTTP_GIVE_UP_RETRIES);
        assert_int_equal(s.attempts, 6);

        /* Retries=0: never again, even after progress. */
        p = (HttpRetryPolicy) { .retries = 0 };
        s = (HttpRetryState) {};
        assert_int_equal(http_retry_decide(&p, &s, HTTP_FAILURE_DROP, 0, true, 0, &delay), HTTP_GIVE_UP_RETRIES);

        /* The deadline: 500 answered at 0, 0.5, 1.5 and 3.5 s with TimeoutSec=4. */
        p = (HttpRetryPolicy) { .retries = 100, .deadline_ms = 4000 };
        s = (HttpRetryState) {};
        assert_int_equal(http_retry_decide(&p, &s, HTTP_FAILURE_STATUS, 500, false, 10, &delay), HTTP_RETRY);
        assert_true(delay == 500);
        assert_int_equal(http_retry_decide(&p, &s, HTTP_FAILURE_STATUS, 500, false, 520, &delay), HTTP_RETRY);
        assert_int_equal(http_retry_decide(&p, &s, HTTP_FAILURE_STATUS, 500, false, 1530, &delay), HTTP_RETRY);
        assert_true(delay == 2000);
        assert_int_equal(http_retry_decide(&p, &s, HTTP_FAILURE_STATUS, 500, false, 3540, &delay), HTTP_GIVE_UP_DEADLINE);
        /* At the deadline even an immediate retry is too late. */
        s = (HttpRetryState) {};
        assert_int_equal(http_retry_decide(&p, &s, HTTP_FAILURE_DROP, 0, true, 4000, &delay), HTTP_GIVE_UP_DEADLINE);
        assert_int_equal(http_retry_decide(&p, &s, HTTP_FAILURE_DROP, 0, true, 3999, &delay), HTTP_RETRY);
        assert_true(delay == 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_is_url),
                cmocka_unit_test(test_url_check),
                cmocka_unit_test(test_url_display),
                cmocka_unit_test(test_content_range),
                cmocka_unit_test(test_response_headers),
                cmocka_unit_test(test_if_range),
                cmocka_unit_test(test_changed),
                cmocka_unit_test(test_plan_first),
                cmocka_unit_test(test_plan_resume),
                cmocka_unit_test(test_plan_status),
                cmocka_unit_test(test_error_title),
                cmocka_unit_test(test_header_lines),
                cmocka_unit_test(test_transient),
                cmocka_unit_test(test_backoff),
                cmocka_unit_test(test_backoff_jitter),
                cmocka_unit_test(test_retry),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
