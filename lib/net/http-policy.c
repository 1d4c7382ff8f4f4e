/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "http-policy.h"

#include <ctype.h>
#include <inttypes.h>
#include <strings.h>

#include "basic/error.h"

static const char *const failure_names[_HTTP_FAILURE_MAX] = {
        [HTTP_FAILURE_CONNECT] = "connect",
        [HTTP_FAILURE_DROP] = "drop",
        [HTTP_FAILURE_STALL] = "stall",
        [HTTP_FAILURE_STATUS] = "status",
        [HTTP_FAILURE_TLS] = "tls",
        [HTTP_FAILURE_REDIRECTS] = "redirects",
        [HTTP_FAILURE_CHANGED] = "changed",
        [HTTP_FAILURE_PROTOCOL] = "protocol",
        [HTTP_FAILURE_DEADLINE] = "deadline",
        [HTTP_FAILURE_OTHER] = "other",
};

const char *http_failure_to_string(HttpFailure f) {
        return f >= 0 && f < _HTTP_FAILURE_MAX ? failure_names[f] : NULL;
}

bool http_failure_transient(HttpFailure f, long status) {
        switch (f) {
        case HTTP_FAILURE_CONNECT:
        case HTTP_FAILURE_DROP:
        case HTTP_FAILURE_STALL:
                return true;
        case HTTP_FAILURE_STATUS:
                return (status >= 500 && status <= 599) || status == 408 || status == 429;
        default:
                return false;
        }
}

static size_t scheme_length(const char *s) {
        size_t i = 0;
        if (!s || !isalpha((unsigned char) s[0]))
                return 0;
        while (isalnum((unsigned char) s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.')
                i++;
        return strncmp(s + i, "://", 3) == 0 ? i : 0;
}

bool http_is_url(const char *s) {
        return scheme_length(s) > 0;
}

int http_url_check(const char *url, bool allow_http) {
        size_t n = scheme_length(url);

        if (n == 0)
                return err_set(EINVAL, "not a URL: %s", url);
        for (const char *p = url; *p; p++)
                if ((unsigned char) *p <= ' ' || *p == 0x7f)
                        return err_set(EINVAL, "URL contains whitespace or a control character: %s", url);
        if (n == 5 && strncasecmp(url, "https", 5) == 0)
                return url[8] ? 0 : err_set(EINVAL, "URL has no host: %s", url);
        if (n == 4 && strncasecmp(url, "http", 4) == 0) {
                if (!allow_http)
                        return err_set(EPERM, "http:// is not allowed (AllowHTTP=no in [Network]); use https://");
                return url[7] ? 0 : err_set(EINVAL, "URL has no host: %s", url);
        }
        return err_set(EPROTONOSUPPORT, "unsupported URL scheme '%.*s' (http:// or https:// only)", (int) MIN(n, 32), url);
}

void http_url_display(const char *url, char *buf, size_t size) {
        size_t n = scheme_length(url);
        const char *host = n ? url + n + 3 : url;
        size_t authority = strcspn(host, "/?#");
        /* The last '@': a password holding one ("user:p@ss@host") is not shown in part. */
        const char *at = memrchr(host, '@', authority);

        if (size == 0)
                return;
        if (!at)
                (void) snprintf(buf, size, "%s", url);
        else
                (void) snprintf(buf, size, "%.*s%s", (int) (host - url), url, at + 1);
}

static bool parse_u64(const char *s, size_t len, uint64_t *ret) {
        uint64_t v = 0;
        if (len == 0 || len > 20)
                return false;
        for (size_t i = 0; i < len; i++) {
                if (!isdigit((unsigned char) s[i]))
                        return false;
                unsigned d = (unsigned) (s[i] - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return false;
                v = v * 10 + d;
        }
        *ret = v;
        return true;
}

int http_content_range_parse(const char *s, uint64_t *ret_start, uint64_t *ret_end, uint64_t *ret_total) {
        uint64_t start, end, total = HTTP_SIZE_UNKNOWN;

        if (strncasecmp(s, "bytes", 5) != 0 || s[5] != ' ')
                return err_set(EBADMSG, "Content-Range is not in bytes: %.64s", s);
        const char *p = s + 6;
        while (*p == ' ')
                p++;
        size_t a = strspn(p, "0123456789");
        if (p[a] != '-' || !parse_u64(p, a, &start))
                return err_set(EBADMSG, "Content-Range has no start: %.64s", s);
        p += a + 1;
        size_t b = strspn(p, "0123456789");
        if (p[b] != '/' || !parse_u64(p, b, &end))
                return err_set(EBADMSG, "Content-Range has no end: %.64s", s);
        p += b + 1;
        if (streq(p, "*"))
                total = HTTP_SIZE_UNKNOWN;
        else if (!parse_u64(p, strlen(p), &total) || total == HTTP_SIZE_UNKNOWN)
                return err_set(EBADMSG, "Content-Range has no total: %.64s", s);
        if (end < start || (total != HTTP_SIZE_UNKNOWN && end >= total))
                return err_set(EBADMSG, "Content-Range is not a range of the resource: %.64s", s);
        *ret_start = start;
        *ret_end = end;
        *ret_total = total;
        return 0;
}

static void copy_value(char *dst, size_t size, const char *v, size_t len) {
        /* A validator that does not fit is no validator: a cut one could match another. */
        if (len >= size) {
                dst[0] = 0;
                return;
        }
        memcpy(dst, v, len);
        dst[len] = 0;
}

int http_response_header(HttpResponse *r, const char *line, size_t len) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
                len--;

        if (len >= 5 && strncmp(line, "HTTP/", 5) == 0) {
                *r = (HttpResponse) { .content_length = HTTP_SIZE_UNKNOWN, .range_total = HTTP_SIZE_UNKNOWN };
                const char *sp = memchr(line, ' ', len);
                if (!sp)
                        return err_set(EBADMSG, "malformed status line: %.*s", (int) MIN(len, 64), line);
                size_t rest = len - (size_t) (sp + 1 - line);
                uint64_t status;
                /* libcurl's line has no NUL after it: count within it. */
                size_t digits = 0;
                while (digits < rest && isdigit((unsigned char) sp[1 + digits]))
                        digits++;
                /* The status is three digits, then the end of the line or a space before the reason. */
                if (digits != 3 || (rest > 3 && sp[4] != ' ') || !parse_u64(sp + 1, 3, &status) || status < 100)
                        return err_set(EBADMSG, "malformed status line: %.*s", (int) MIN(len, 64), line);
                r->status = (long) status;
                if (rest > 4) {
                        size_t n = 0;
                        for (size_t i = 4; i < rest && n + 1 < sizeof r->reason; i++)
                                if (isprint((unsigned char) sp[1 + i]))
                                        r->reason[n++] = sp[1 + i];
                        r->reason[n] = 0;
                }
                return 0;
        }

        const char *colon = memchr(line, ':', len);
        if (!colon)
                return 0;
        size_t nlen = (size_t) (colon - line);
        const char *v = colon + 1;
        size_t vlen = len - nlen - 1;
        while (vlen > 0 && (*v == ' ' || *v == '\t'))
                v++, vlen--;
        while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;

#define NAME_IS(s) (nlen == strlen(s) && strncasecmp(line, s, nlen) == 0)
        if (NAME_IS("ETag"))
                copy_value(r->v.etag, sizeof r->v.etag, v, vlen);
        else if (NAME_IS("Last-Modified"))
                copy_value(r->v.last_modified, sizeof r->v.last_modified, v, vlen);
        else if (NAME_IS("Content-Length")) {
                if (!parse_u64(v, vlen, &r->content_length) || r->content_length == HTTP_SIZE_UNKNOWN)
                        return err_set(EBADMSG, "malformed Content-Length: %.*s", (int) MIN(vlen, 64), v);
        } else if (NAME_IS("Content-Range")) {
                char buf[128];
                if (vlen >= sizeof buf)
                        return err_set(EBADMSG, "malformed Content-Range: %.64s", v);
                memcpy(buf, v, vlen);
                buf[vlen] = 0;
                int k = http_content_range_parse(buf, &r->range_start, &r->range_end, &r->range_total);
                if (k < 0)
                        return k;
                r->has_range = true;
        } else if (NAME_IS("Content-Type")) {
                int k = http_multipart_boundary(v, vlen, r->boundary);
                if (k < 0)
                        return k;
                r->multipart = k > 0;
        }
#undef NAME_IS
        return 0;
}

const char *http_if_range(const HttpResource *res) {
        if (!res->known)
                return NULL;
        /* RFC 9110 13.1.5: If-Range takes a strong validator only. */
        if (res->v.etag[0] && strncmp(res->v.etag, "W/", 2) != 0)
                return res->v.etag;
        if (res->v.last_modified[0])
                return res->v.last_modified;
        return NULL;
}

/* The size of the whole resource the response describes. */
static uint64_t response_size(const HttpResponse *resp) {
        if (resp->status == 206)
                return resp->has_range ? resp->range_total : HTTP_SIZE_UNKNOWN;
        return resp->content_length;
}

bool http_resource_changed(const HttpResource *res, const HttpResponse *resp) {
        if (!res->known)
                return false;
        uint64_t size = response_size(resp);
        if (res->size != HTTP_SIZE_UNKNOWN && size != HTTP_SIZE_UNKNOWN && size != res->size)
                return true;
        if (res->v.etag[0] && resp->v.etag[0])
                return !streq(res->v.etag, resp->v.etag);
        if (res->v.last_modified[0] && resp->v.last_modified[0])
                return !streq(res->v.last_modified, resp->v.last_modified);
        /* Nothing to compare: the signed manifest's hashes still catch another bundle. */
        return false;
}

static int changed(const HttpResource *res, const HttpResponse *resp, HttpFailure *ret_failure) {
        *ret_failure = HTTP_FAILURE_CHANGED;
        uint64_t size = response_size(resp);
        if (res->v.etag[0] && resp->v.etag[0] && !streq(res->v.etag, resp->v.etag))
                return err_set(ESTALE, "the bundle changed on the server between requests (ETag %s, now %s)",
                               res->v.etag, resp->v.etag);
        if (res->size != HTTP_SIZE_UNKNOWN && size != HTTP_SIZE_UNKNOWN && size != res->size)
                return err_set(ESTALE, "the bundle changed on the server between requests (%" PRIu64 " bytes, now %" PRIu64 ")",
                               res->size, size);
        return err_set(ESTALE, "the bundle changed on the server between requests (Last-Modified %s, now %s)",
                       res->v.last_modified, resp->v.last_modified);
}

int http_response_plan(HttpResource *res, uint64_t offset, const HttpResponse *resp, uint64_t *ret_skip,
                       HttpFailure *ret_failure) {
        switch (resp->status) {
        case 200:
                if (offset == 0) {
                        /* Nothing delivered yet: whatever the server has now is the bundle. */
                        *res = (HttpResource) { .known = true, .size = resp->content_length, .v = resp->v };
                        *ret_skip = 0;
                        return 0;
                }
                /* Range ignored, or If-Range said the bundle changed. */
                if (http_resource_changed(res, resp))
                        return changed(res, resp, ret_failure);
                /* The first answer seen (a range asked for first): it describes the whole resource. */
                if (!res->known)
                        *res = (HttpResource) { .known = true, .size = resp->content_length, .v = resp->v };
                *ret_skip = offset;
                return 0;

        case 206:
                if (resp->multipart) {
                        /* Several ranges (multipart/byteranges): each part's Content-Range is the caller's to check. */
                        if (http_resource_changed(res, resp))
                                return changed(res, resp, ret_failure);
                        if (!res->known)
                                *res = (HttpResource) { .known = true, .size = HTTP_SIZE_UNKNOWN, .v = resp->v };
                        *ret_skip = 0;
                        return 0;
                }
                if (!resp->has_range) {
                        *ret_failure = HTTP_FAILURE_PROTOCOL;
                        return err_set(EBADMSG, "HTTP 206 without Content-Range");
                }
                if (http_resource_changed(res, resp))
                        return changed(res, resp, ret_failure);
                if (resp->range_start != offset) {
                        *ret_failure = HTTP_FAILURE_PROTOCOL;
                        return err_set(EBADMSG, "asked for the bytes from %" PRIu64 ", the server sent them from %" PRIu64,
                                       offset, resp->range_start);
                }
                if (!res->known)
                        *res = (HttpResource) { .known = true, .size = resp->range_total, .v = resp->v };
                *ret_skip = 0;
                return 0;

        case 416:
                if (offset > 0 && res->known) {
                        *ret_failure = HTTP_FAILURE_CHANGED;
                        return err_set(ESTALE, "the bundle changed on the server between requests (no byte %" PRIu64 " any more)",
                                       offset);
                }
                break;
        default:
                break;
        }

        *ret_failure = HTTP_FAILURE_STATUS;
        if (resp->status == 0)
                return err_set(EPROTO, "no HTTP response");
        if (resp->reason[0])
                return err_set(resp->status == 404 || resp->status == 410 ? ENOENT : EPROTO, "HTTP %ld (%s)",
                               resp->status, resp->reason);
        return err_set(resp->status == 404 || resp->status == 410 ? ENOENT : EPROTO, "HTTP %ld", resp->status);
}

void http_error_title(const char *body, size_t len, char *buf, size_t size) {
        const char *open = NULL, *close = NULL;
        size_t n = 0;

        if (size == 0)
                return;
        buf[0] = 0;
        for (size_t i = 0; i + 7 <= len; i++)
                if (strncasecmp(body + i, "<title>", 7) == 0) {
                        open = body + i + 7;
                        break;
                }
        if (!open)
                return;
        for (const char *p = open; p + 8 <= body + len; p++)
                if (strncasecmp(p, "</title>", 8) == 0) {
                        close = p;
                        break;
                }
        if (!close)
                return;
        /* "404 Not Found" -> "Not Found": the status is printed already. */
        const char *p = open;
        while (p < close && isspace((unsigned char) *p))
                p++;
        if (close - p > 4 && isdigit((unsigned char) p[0]) && isdigit((unsigned char) p[1]) &&
            isdigit((unsigned char) p[2]) && p[3] == ' ')
                p += 4;
        for (; p < close && n + 1 < size; p++)
                if (isprint((unsigned char) *p))
                        buf[n++] = *p;
        while (n > 0 && buf[n - 1] == ' ')
                n--;
        buf[n] = 0;
}

int http_header_line_check(const char *line) {
        const char *p = line;
        while (*p == ' ' || *p == '\t')
                p++;
        if (!*p || *p == '#')
                return 0;
        if (p != line)
                return err_set(EINVAL, "header line starts with whitespace");
        size_t name = strcspn(line, ":");
        if (!line[name] || name == 0)
                return err_set(EINVAL, "not a 'Name: value' header line");
        for (size_t i = 0; i < name; i++)
                if (!isalnum((unsigned char) line[i]) && !strchr("!#$%&'*+-.^_`|~", line[i]))
                        return err_set(EINVAL, "header name '%.*s' is not a token", (int) MIN(name, 64), line);
        for (p = line + name; *p; p++)
                if ((unsigned char) *p < ' ' && *p != '\t')
                        return err_set(EINVAL, "header '%.*s' has a control character", (int) MIN(name, 64), line);
        if ((name == 5 && strncasecmp(line, "Range", 5) == 0) || (name == 8 && strncasecmp(line, "If-Range", 8) == 0))
                return err_set(EINVAL, "header '%.*s' is set by the fetch itself", (int) name, line);
        return 1;
}

uint64_t http_backoff_ms(unsigned failures) {
        if (failures == 0)
                return 0;
        if (failures > 7)
                return 30000;
        return MIN((uint64_t) 500 << (failures - 1), (uint64_t) 30000);
}

uint64_t http_backoff_jitter_ms(uint64_t backoff, uint64_t *state) {
        if (*state == 0 || backoff < 2)
                return backoff;
        uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        z ^= z >> 31;
        if (*state == 0)
                *state = 1;
        return backoff / 2 + z % (backoff - backoff / 2 + 1);
}

HttpRetry http_retry_decide(const HttpRetryPolicy *p, HttpRetryState *s, HttpFailure f, long status, bool progressed,
                            uint64_t now_ms, uint64_t *ret_delay_ms) {
        s->attempts++;
        if (!http_failure_transient(f, status))
                return HTTP_GIVE_UP_FATAL;
        s->failures = progressed ? 1 : s->failures + 1;
        if (s->failures > p->retries)
                return HTTP_GIVE_UP_RETRIES;
        uint64_t delay = progressed ? 0 : http_backoff_jitter_ms(http_backoff_ms(s->failures), &s->jitter);
        if (p->deadline_ms > 0 && now_ms + delay >= p->deadline_ms)
                return HTTP_GIVE_UP_DEADLINE;
        *ret_delay_ms = delay;
        return HTTP_RETRY;
}
