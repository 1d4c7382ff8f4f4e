/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/http-multipart.h"

/*
 * The decisions of a resumable HTTP fetch, free of I/O (docs/network.md):
 * which URLs are allowed, what a response header says, whether a response
 * continues the bytes already delivered, and whether and when to try again.
 * http-attempt.c feeds them what libcurl saw.
 */

#define HTTP_SIZE_UNKNOWN UINT64_MAX

/* Why an attempt ended without the whole body. */
typedef enum HttpFailure {
        HTTP_FAILURE_CONNECT,     /* resolve, connect or TLS handshake did not complete */
        HTTP_FAILURE_DROP,        /* the connection ended before the body did */
        HTTP_FAILURE_STALL,       /* no byte for StallTimeoutSec */
        HTTP_FAILURE_STATUS,      /* an HTTP status other than 200 or 206 */
        HTTP_FAILURE_TLS,         /* certificate verification, client certificate, CA file */
        HTTP_FAILURE_REDIRECTS,   /* more than MaxRedirects, or to a scheme not allowed */
        HTTP_FAILURE_CHANGED,     /* the bundle on the server changed between requests */
        HTTP_FAILURE_PROTOCOL,    /* a response that cannot continue the bytes delivered */
        HTTP_FAILURE_DEADLINE,    /* TimeoutSec reached */
        HTTP_FAILURE_OTHER,
        _HTTP_FAILURE_MAX,
} HttpFailure;

const char *http_failure_to_string(HttpFailure f);

/* Worth another attempt: drops, stalls, connection trouble, 5xx, 408 and 429. */
bool http_failure_transient(HttpFailure f, long status);

/* True when s starts with "scheme://": a URL, not a path. */
bool http_is_url(const char *s);

/* http:// (when allow_http) or https://, no whitespace or control characters. */
int http_url_check(const char *url, bool allow_http);

/* The URL without "user:password@", for messages. */
void http_url_display(const char *url, char *buf, size_t size);

/* Validators of one response; empty strings when absent (too long counts as absent). */
typedef struct HttpValidators {
        char etag[256];
        char last_modified[64];
} HttpValidators;

/* What the headers of one response say. */
typedef struct HttpResponse {
        long status;                /* 0 until a status line was seen */
        char reason[64];            /* of the status line, may be empty */
        uint64_t content_length;    /* HTTP_SIZE_UNKNOWN when not sent */
        bool has_range;
        uint64_t range_start, range_end, range_total;  /* total HTTP_SIZE_UNKNOWN for '*' */
        bool multipart;             /* Content-Type: multipart/byteranges, with boundary */
        char boundary[HTTP_BOUNDARY_MAX + 1];
        HttpValidators v;
} HttpResponse;

/*
 * Feeds one header line (with or without CRLF). A status line ("HTTP/1.1
 * 206 Partial Content", "HTTP/2 200") starts a new response: a redirect's
 * headers never mix with the final response's. Returns 0, or -EBADMSG for a
 * malformed status line, Content-Length or Content-Range, or a
 * multipart/byteranges Content-Type without a usable boundary.
 */
int http_response_header(HttpResponse *r, const char *line, size_t len);

/* "bytes START-END/TOTAL" or "bytes START-END/x"; *ret_total is HTTP_SIZE_UNKNOWN for '*'. */
int http_content_range_parse(const char *s, uint64_t *ret_start, uint64_t *ret_end, uint64_t *ret_total);

/* The resource as the first successful response described it. */
typedef struct HttpResource {
        bool known;
        uint64_t size;              /* HTTP_SIZE_UNKNOWN when not told */
        HttpValidators v;
} HttpResource;

/* The If-Range value for a resume: a strong ETag, else Last-Modified, else NULL (no If-Range). */
const char *http_if_range(const HttpResource *res);

/* True when the response names another version of res (ETag, else Last-Modified, and the size). */
bool http_resource_changed(const HttpResource *res, const HttpResponse *resp);

/*
 * Decides what to do with the body of resp, the answer to a request for
 * the bytes from offset on (offset > 0: a Range request). Returns 0 with
 * *ret_skip (bytes of the body already delivered, to drop: a server that
 * ignored Range sent everything again) and res updated, or a negative errno
 * with a message and *ret_failure: a status other than 200/206, a bundle
 * that changed, a range that does not start at offset. A 206
 * multipart/byteranges answer is checked only for its validators: where
 * its parts belong is the caller's to check.
 */
int http_response_plan(HttpResource *res, uint64_t offset, const HttpResponse *resp, uint64_t *ret_skip,
                       HttpFailure *ret_failure);

/* <title> of an HTML error page without its leading status code, printable ASCII; "" when none. */
void http_error_title(const char *body, size_t len, char *buf, size_t size);

/*
 * A line of HeadersFile=: 1 for a header to send ("Name: value"), 0 for a
 * blank or '#' comment line, -EINVAL for anything else, and for the headers
 * the fetch sets itself (Range, If-Range).
 */
int http_header_line_check(const char *line);

typedef struct HttpRetryPolicy {
        unsigned retries;           /* consecutive attempts without progress, then give up */
        uint64_t deadline_ms;       /* since the start; 0: none */
} HttpRetryPolicy;

typedef struct HttpRetryState {
        unsigned failures;          /* consecutive failed attempts, 1 after one that made progress */
        unsigned attempts;
        uint64_t jitter;            /* random state for the backoff's jitter; 0: none (the exact doubling) */
} HttpRetryState;

typedef enum HttpRetry {
        HTTP_RETRY,                 /* try again after *ret_delay_ms */
        HTTP_GIVE_UP_FATAL,         /* another attempt cannot help */
        HTTP_GIVE_UP_RETRIES,       /* Retries used up */
        HTTP_GIVE_UP_DEADLINE,      /* the next attempt would start past the deadline */
} HttpRetry;

/* Backoff before the n-th consecutive retry without progress: 0.5 s doubling, at most 30 s. */
uint64_t http_backoff_ms(unsigned failures);

/* With jitter: a uniformly random delay in [backoff / 2, backoff], so a fleet
 * that lost its server at once does not come back in step. *state advances
 * (splitmix64); a zero *state gives backoff itself. */
uint64_t http_backoff_jitter_ms(uint64_t backoff, uint64_t *state);

/*
 * After a failed attempt (progressed: it delivered new bytes) at now_ms
 * since the start: gives up, or says when to try again. An attempt that
 * made progress resets the count and is retried at once.
 */
HttpRetry http_retry_decide(const HttpRetryPolicy *p, HttpRetryState *s, HttpFailure f, long status, bool progressed,
                            uint64_t now_ms, uint64_t *ret_delay_ms);
