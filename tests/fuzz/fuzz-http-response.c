/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A server's response headers, any bytes: the input's first byte picks the
 * request (resume offset, resource known or not), the rest are header lines
 * fed as libcurl's header callback feeds them (each in a buffer of its own
 * size, no NUL after it); with the mode's bit 2 the first of several
 * responses in them describes the resource the last one is checked against. Whatever the server sends, what the parser keeps
 * is a string where it says so, a Content-Range it keeps is a range of the
 * resource, and a response the plan accepts continues the bytes delivered. */
#include <ctype.h>

#include "fuzz-util.h"

#include "basic/error.h"
#include "net/http-policy.h"

static bool terminated(const char *s, size_t size) {
        return memchr(s, 0, size) != NULL;
}

/* What a Content-Range parse returns, whoever calls it. */
static void check_range(bool ok, uint64_t start, uint64_t end, uint64_t total) {
        if (!ok)
                return;
        FUZZ_ASSERT(start <= end);
        FUZZ_ASSERT(total == HTTP_SIZE_UNKNOWN || end < total);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size == 0)
                return 0;
        uint8_t mode = data[0];
        const uint8_t *p = data + 1, *end = data + size;
        HttpResponse resp = { .content_length = HTTP_SIZE_UNKNOWN, .range_total = HTTP_SIZE_UNKNOWN };
        HttpResource res = {};
        bool first = true;

        while (p < end) {
                const uint8_t *nl = memchr(p, '\n', (size_t) (end - p));
                size_t len = nl ? (size_t) (nl - p) + 1 : (size_t) (end - p);
                /* Exactly the line's bytes: a read past them is ASan's to report. */
                char *line = malloc(len);
                if (!line)
                        return 0;
                memcpy(line, p, len);
                /* A second response (after a redirect, or a resume): the first, whole, described the resource. */
                if (first && resp.status != 0 && len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
                        if (mode & 4) {
                                uint64_t skip;
                                HttpFailure f;
                                if (http_response_plan(&res, 0, &resp, &skip, &f) < 0)
                                        res = (HttpResource) {};
                                err_clear();
                        }
                        first = false;
                }
                int r = http_response_header(&resp, line, len);
                FUZZ_ASSERT(r == 0 || r == -EBADMSG);
                if (r == 0 && len >= 5 && memcmp(line, "HTTP/", 5) == 0) {
                        /* A status line taken: its status is the three digits after the first space,
                         * followed by the line's end (CR and LF aside) or a space. */
                        size_t t = len;
                        while (t > 0 && (line[t - 1] == '\n' || line[t - 1] == '\r'))
                                t--;
                        const char *sp = memchr(line, ' ', t);
                        FUZZ_ASSERT(sp && (size_t) (sp - line) + 4 <= t);
                        size_t at = (size_t) (sp - line) + 1;
                        FUZZ_ASSERT(at + 3 == t || line[at + 3] == ' ');
                        long st = 0;
                        for (size_t i = at; i < at + 3; i++) {
                                FUZZ_ASSERT(line[i] >= '0' && line[i] <= '9');
                                st = st * 10 + (line[i] - '0');
                        }
                        FUZZ_ASSERT(resp.status == st);
                }
                free(line);
                err_clear();

                /* The same line as a NUL-terminated string: the Content-Range and HeadersFile= parsers. */
                _cleanup_free_ char *s = fuzz_strndup(p, len);
                if (!s)
                        return 0;
                uint64_t a = 0, b = 0, t = 0;
                check_range(http_content_range_parse(s, &a, &b, &t) == 0, a, b, t);
                /* As a URL: shown without its user and password, whatever they hold. */
                char shown[96];
                http_url_display(s, shown, sizeof shown);
                FUZZ_ASSERT(strlen(shown) < sizeof shown);
                if (http_is_url(s) && strlen(s) < sizeof shown) {
                        const char *sh = strstr(shown, "://");
                        FUZZ_ASSERT(sh);
                        FUZZ_ASSERT(!memchr(sh + 3, '@', strcspn(sh + 3, "/?#")));
                }
                r = http_url_check(s, mode & 0x80);
                FUZZ_ASSERT(r == 0 || r == -EINVAL || r == -EPERM || r == -EPROTONOSUPPORT);
                err_clear();
                r = http_header_line_check(s);
                FUZZ_ASSERT(r == 0 || r == 1 || r == -EINVAL);
                err_clear();
                p += len;
        }

        FUZZ_ASSERT(terminated(resp.reason, sizeof resp.reason));
        FUZZ_ASSERT(terminated(resp.v.etag, sizeof resp.v.etag));
        FUZZ_ASSERT(terminated(resp.v.last_modified, sizeof resp.v.last_modified));
        FUZZ_ASSERT(terminated(resp.boundary, sizeof resp.boundary));
        for (const char *c = resp.reason; *c; c++)
                FUZZ_ASSERT(isprint((unsigned char) *c));
        FUZZ_ASSERT(!resp.multipart || resp.boundary[0]);
        FUZZ_ASSERT(resp.status == 0 || (resp.status >= 100 && resp.status <= 999));
        if (resp.has_range)
                check_range(true, resp.range_start, resp.range_end, resp.range_total);

        /* The request this answers: from byte 0, from where the answer says it starts, or from 4096. */
        uint64_t offset = (mode & 3) == 0 ? 0 : (mode & 3) == 1 && resp.has_range ? resp.range_start : 4096;
        HttpResource before = res;
        uint64_t skip = UINT64_MAX;
        HttpFailure failure = _HTTP_FAILURE_MAX;
        int r = http_response_plan(&res, offset, &resp, &skip, &failure);
        if (r == 0) {
                FUZZ_ASSERT(resp.status == 200 || resp.status == 206);
                FUZZ_ASSERT(res.known);
                /* A 200 from byte 0 is the bundle; a 200 after it repeats the bytes delivered, dropped. */
                if (resp.status == 200)
                        FUZZ_ASSERT(skip == offset);
                else
                        FUZZ_ASSERT(skip == 0);
                if (resp.status == 206 && !resp.multipart)
                        FUZZ_ASSERT(resp.has_range && resp.range_start == offset);
                /* A known resource changes only when nothing was delivered yet. */
                if (before.known && offset > 0)
                        FUZZ_ASSERT(!http_resource_changed(&before, &resp));
        } else {
                FUZZ_ASSERT(failure < _HTTP_FAILURE_MAX);
                FUZZ_ASSERT(err_message(r)[0]);
        }
        err_clear();
        const char *ir = http_if_range(&res);
        FUZZ_ASSERT(!ir || ir[0]);

        /* The same bytes as an error page's body: its title, printable, in any buffer. */
        char title[65];
        size_t tsize = (size_t) (mode >> 3) % sizeof title + 1;
        memset(title, 'x', sizeof title);
        http_error_title((const char *) data + 1, size - 1, title, tsize);
        FUZZ_ASSERT(strlen(title) < tsize);
        for (const char *c = title; *c; c++)
                FUZZ_ASSERT(isprint((unsigned char) *c));
        return 0;
}
