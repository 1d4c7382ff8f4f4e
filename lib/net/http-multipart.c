/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "http-multipart.h"

#include <ctype.h>
#include <inttypes.h>
#include <strings.h>

#include "basic/error.h"
#include "net/http-policy.h"

static bool lwsp(char c) {
        return c == ' ' || c == '\t';
}

/* RFC 2046 bchars: a boundary may hold a space, but not end with one; never a NUL (strchr() would find it). */
static bool bchar(char c) {
        return c != 0 && (isalnum((unsigned char) c) || strchr("'()+_,-./:=? ", c));
}

int http_multipart_boundary(const char *value, size_t len, char buf[static HTTP_BOUNDARY_MAX + 1]) {
        static const char type[] = "multipart/byteranges";
        const char *p = value, *end = value + len;

        while (p < end && lwsp(*p))
                p++;
        size_t t = strlen(type);
        if ((size_t) (end - p) < t || strncasecmp(p, type, t) != 0 || (p + t < end && p[t] != ';' && !lwsp(p[t])))
                return 0;
        p += t;
        /* Parameters: ; name=token or ; name="quoted". */
        while (p < end) {
                while (p < end && lwsp(*p))
                        p++;
                if (p == end)
                        break;
                if (*p != ';')
                        return err_set(EBADMSG, "malformed Content-Type: %.*s", (int) MIN(len, 128), value);
                p++;
                while (p < end && lwsp(*p))
                        p++;
                const char *name = p;
                while (p < end && *p != '=' && *p != ';' && !lwsp(*p))
                        p++;
                size_t nlen = (size_t) (p - name);
                if (p == end || *p != '=')
                        return err_set(EBADMSG, "malformed Content-Type: %.*s", (int) MIN(len, 128), value);
                p++;
                char v[HTTP_BOUNDARY_MAX + 1];
                size_t vlen = 0;
                bool fits = true;
                if (p < end && *p == '"') {
                        for (p++; p < end && *p != '"'; p++) {
                                if (*p == '\\' && p + 1 < end)
                                        p++;
                                if (vlen < HTTP_BOUNDARY_MAX)
                                        v[vlen++] = *p;
                                else
                                        fits = false;
                        }
                        if (p == end)
                                return err_set(EBADMSG, "malformed Content-Type: %.*s", (int) MIN(len, 128), value);
                        p++;
                } else
                        for (; p < end && *p != ';' && !lwsp(*p); p++) {
                                if (vlen < HTTP_BOUNDARY_MAX)
                                        v[vlen++] = *p;
                                else
                                        fits = false;
                        }
                v[vlen] = 0;
                if (nlen != strlen("boundary") || strncasecmp(name, "boundary", nlen) != 0)
                        continue;
                bool ok = fits && vlen > 0 && v[vlen - 1] != ' ';
                for (size_t i = 0; ok && i < vlen; i++)
                        ok = bchar(v[i]);
                if (!ok)
                        return err_set(EBADMSG, "multipart/byteranges with a malformed boundary: %.*s", (int) MIN(len, 128),
                                       value);
                memcpy(buf, v, vlen + 1);
                return 1;
        }
        return err_set(EBADMSG, "multipart/byteranges without a boundary: %.*s", (int) MIN(len, 128), value);
}

void http_multipart_init(HttpMultipart *m, const char *boundary) {
        *m = (HttpMultipart) {};
        m->delimiter_len = (size_t) snprintf(m->delimiter, sizeof m->delimiter, "--%s", boundary);
        if (m->delimiter_len >= sizeof m->delimiter)
                m->delimiter_len = sizeof m->delimiter - 1;
}

/* 1: "--boundary" (a part follows), 2: "--boundary--" (the end), 0: neither; transport padding allowed after. */
static int delimiter(const HttpMultipart *m, const char *line, size_t len) {
        if (len < m->delimiter_len || memcmp(line, m->delimiter, m->delimiter_len) != 0)
                return 0;
        size_t i = m->delimiter_len;
        int kind = 1;
        if (len - i >= 2 && line[i] == '-' && line[i + 1] == '-') {
                kind = 2;
                i += 2;
        }
        for (; i < len; i++)
                if (!lwsp(line[i]))
                        return 0;
        return kind;
}

static int part_header(HttpMultipart *m, char *line, size_t len) {
        char *colon = memchr(line, ':', len);
        if (!colon)
                return err_set(EBADMSG, "multipart: a part header without a colon: %.64s", line);
        size_t nlen = (size_t) (colon - line);
        while (nlen > 0 && lwsp(line[nlen - 1]))
                nlen--;
        if (nlen != strlen("Content-Range") || strncasecmp(line, "Content-Range", nlen) != 0)
                return 0;
        if (m->has_range)
                return err_set(EBADMSG, "multipart: a part with two Content-Range headers");
        char *v = colon + 1;
        while (lwsp(*v))
                v++;
        for (size_t k = strlen(v); k > 0 && lwsp(v[k - 1]); k--)
                v[k - 1] = 0;
        int r = http_content_range_parse(v, &m->start, &m->end, &m->total);
        if (r < 0)
                return err_prefix(r, "multipart");
        if (m->end == UINT64_MAX)
                return err_set(EBADMSG, "multipart: Content-Range is not a range of the resource: %.64s", v);
        m->has_range = true;
        return 0;
}

/* A whole line (CRLF or LF stripped) in a state other than the body. */
static int line_done(HttpMultipart *m, char *line, size_t len, const HttpMultipartCallbacks *cb, void *userdata) {
        switch (m->state) {
        case HTTP_MULTIPART_PREAMBLE:
        case HTTP_MULTIPART_DELIMITER:
                switch (delimiter(m, line, len)) {
                case 1:
                        m->state = HTTP_MULTIPART_HEADERS;
                        m->has_range = false;
                        return 0;
                case 2:
                        m->state = HTTP_MULTIPART_DONE;
                        return 0;
                default:
                        if (m->state == HTTP_MULTIPART_PREAMBLE)
                                return 0;
                        return err_set(EBADMSG, "multipart: a part is followed by '%.64s', not the boundary", line);
                }
        case HTTP_MULTIPART_HEADERS:
                if (len > 0)
                        return part_header(m, line, len);
                if (!m->has_range)
                        return err_set(EBADMSG, "multipart: a part without Content-Range");
                m->parts++;
                m->offset = m->start;
                m->state = HTTP_MULTIPART_BODY;
                return cb->part ? cb->part(userdata, m->start, m->end, m->total) : 0;
        case HTTP_MULTIPART_BODY_END:
                if (len > 0)
                        return err_set(EBADMSG, "multipart: bytes %" PRIu64 "-%" PRIu64 " are followed by '%.64s', not the boundary",
                                       m->start, m->end, line);
                m->state = HTTP_MULTIPART_DELIMITER;
                return 0;
        default:
                return 0;
        }
}

int http_multipart_feed(HttpMultipart *m, const uint8_t *p, size_t n, const HttpMultipartCallbacks *cb, void *userdata) {
        int r;

        while (n > 0) {
                if (m->state == HTTP_MULTIPART_DONE) {
                        m->framing += n;
                        return 0;
                }
                if (m->state == HTTP_MULTIPART_BODY) {
                        size_t k = (size_t) MIN((uint64_t) n, m->end - m->offset + 1);
                        uint64_t at = m->offset;
                        m->offset += k;
                        if (m->offset > m->end)
                                m->state = HTTP_MULTIPART_BODY_END;
                        if (cb->data) {
                                r = cb->data(userdata, at, p, k);
                                if (r < 0)
                                        return r;
                        }
                        p += k;
                        n -= k;
                        continue;
                }
                /* A line: up to LF. The preamble's lines may be longer; they are skipped. */
                const uint8_t *lf = memchr(p, '\n', n);
                size_t k = lf ? (size_t) (lf - p) + 1 : n;
                m->framing += k;
                size_t take = MIN(k, sizeof m->line - 1 - m->line_len);
                if (take < k) {
                        if (m->state != HTTP_MULTIPART_PREAMBLE)
                                return err_set(EBADMSG, "multipart: a line longer than %d bytes", HTTP_MULTIPART_LINE_MAX - 1);
                        m->overlong = true;
                }
                memcpy(m->line + m->line_len, p, take);
                m->line_len += take;
                p += k;
                n -= k;
                if (!lf)
                        continue;
                size_t len = m->line_len;
                bool skip = m->overlong;
                m->line_len = 0;
                m->overlong = false;
                if (skip)
                        continue;       /* a preamble line too long to be a delimiter */
                while (len > 0 && (m->line[len - 1] == '\n' || m->line[len - 1] == '\r'))
                        len--;
                m->line[len] = 0;
                /* Delimiters and part headers are printable ASCII (so are the messages that quote them). */
                bool printable = true;
                for (size_t i = 0; printable && i < len; i++)
                        printable = m->line[i] == '\t' || (m->line[i] >= 0x20 && m->line[i] < 0x7f);
                if (!printable) {
                        if (m->state == HTTP_MULTIPART_PREAMBLE)
                                continue;       /* no delimiter either */
                        return err_set(EBADMSG, "multipart: a control or non-ASCII byte in a delimiter or part header");
                }
                r = line_done(m, m->line, len, cb, userdata);
                if (r < 0)
                        return r;
        }
        return 0;
}

bool http_multipart_done(const HttpMultipart *m) {
        return m->state == HTTP_MULTIPART_DONE;
}
