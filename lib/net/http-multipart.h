/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The body of a multipart/byteranges answer to a request for several ranges
 * (RFC 9110 14.6, 15.3.7.2; the delimiters of RFC 2046 5.1.1), parsed as it
 * streams in, free of I/O: each part's Content-Range says where its bytes
 * belong, its length is taken from there (a body is never searched for the
 * boundary), and its bytes go to a callback with their offset in the
 * resource. Preamble and epilogue are skipped; part headers other than
 * Content-Range are ignored.
 */

#define HTTP_BOUNDARY_MAX 70            /* RFC 2046 */
#define HTTP_MULTIPART_LINE_MAX 1024    /* a delimiter or part header line, CRLF included */

/*
 * The boundary of a Content-Type value (without the header name):
 * "multipart/byteranges; boundary=B" or boundary="B". Returns 1 with B in
 * buf, 0 for any other media type, -EBADMSG (with a message) for
 * multipart/byteranges without a usable boundary.
 */
int http_multipart_boundary(const char *value, size_t len, char buf[static HTTP_BOUNDARY_MAX + 1]);

typedef struct HttpMultipartCallbacks {
        /* A part starts: bytes start..end (inclusive) of a resource of total bytes (HTTP_SIZE_UNKNOWN for '*'). */
        int (*part)(void *userdata, uint64_t start, uint64_t end, uint64_t total);
        /* Bytes of the part, at offset in the resource. */
        int (*data)(void *userdata, uint64_t offset, const uint8_t *p, size_t n);
} HttpMultipartCallbacks;

typedef enum HttpMultipartState {
        HTTP_MULTIPART_PREAMBLE,
        HTTP_MULTIPART_HEADERS,
        HTTP_MULTIPART_BODY,
        HTTP_MULTIPART_BODY_END,        /* the CRLF that opens the next delimiter */
        HTTP_MULTIPART_DELIMITER,
        HTTP_MULTIPART_DONE,            /* the close delimiter seen; the rest is epilogue */
} HttpMultipartState;

typedef struct HttpMultipart {
        char delimiter[2 + HTTP_BOUNDARY_MAX + 1];      /* "--" boundary */
        size_t delimiter_len;
        HttpMultipartState state;
        char line[HTTP_MULTIPART_LINE_MAX];
        size_t line_len;
        bool overlong;                  /* the preamble line being read did not fit */
        bool has_range;
        uint64_t start, end, total;     /* the current part's Content-Range */
        uint64_t offset;                /* in the body: of the next byte, in the resource */
        unsigned parts;                 /* parts begun */
        uint64_t framing;               /* bytes that were not part data: delimiters, headers, preamble, epilogue */
} HttpMultipart;

void http_multipart_init(HttpMultipart *m, const char *boundary);

/*
 * Feeds the next n bytes of the body. Returns 0, the first error of a
 * callback, or -EBADMSG with a message for a body that is not
 * multipart/byteranges as above (a part without Content-Range or with an
 * unknown unit, a line too long, bytes after a part other than a
 * delimiter).
 */
int http_multipart_feed(HttpMultipart *m, const uint8_t *p, size_t n, const HttpMultipartCallbacks *cb, void *userdata);

/* The close delimiter was seen. */
bool http_multipart_done(const HttpMultipart *m);
