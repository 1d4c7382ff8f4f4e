/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "basic/macro.h"
#include "net/http-policy.h"

/*
 * A resumable HTTP(S) download into a pipe (docs/network.md): a thread runs
 * libcurl and writes the body to the pipe's write end; the caller reads the
 * read end as it would read a file. After a drop, a stall or a 5xx it asks
 * again for the bytes from the offset it reached (Range + If-Range), so the
 * reader sees one unbroken stream; a server that ignores Range sends
 * everything again and the bytes already delivered are dropped. A bundle
 * that changed between requests ends the stream with an error. The caller
 * must ignore SIGPIPE: closing the read end early stops the fetch.
 */

typedef struct HttpRetryEvent {
        const char *reason;         /* why the attempt failed, one line */
        uint64_t offset;            /* bytes delivered so far */
        uint64_t size;              /* of the whole body, HTTP_SIZE_UNKNOWN when not known */
        unsigned retry;             /* 1 for the first retry */
        uint64_t delay_ms;          /* before the next attempt */
        long status;                /* the HTTP status that failed the attempt, 0 for none */
} HttpRetryEvent;

/* Bytes [start, start + length) of the resource. */
typedef struct HttpByteRange {
        uint64_t start, length;
} HttpByteRange;

/*
 * A connection kept open from one fetch to the next (libcurl's connection
 * and TLS session caches in one handle), for a caller that makes its fetches
 * one after another to one server: each then skips the TCP and TLS
 * handshakes when the server kept the connection open. A fetch that finds
 * the session in use by another makes a connection of its own.
 */
typedef struct HttpSession HttpSession;
int http_session_new(HttpSession **ret);
HttpSession *http_session_free(HttpSession *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(HttpSession *, http_session_free);

typedef struct HttpFetchOptions {
        unsigned stall_timeout_sec;     /* no byte for this long: reconnect; 0: never */
        unsigned retries;               /* consecutive attempts without progress before giving up */
        unsigned timeout_sec;           /* the whole fetch, all attempts; 0: none */
        uint64_t started_ms;            /* http_now_ms() when the download this fetch is a part of began:
                                         * timeout_sec counts from there; 0: from this fetch's start */
        unsigned connect_timeout_sec;   /* connect + TLS handshake; 0: libcurl's */
        unsigned max_redirects;
        bool allow_http;
        const char *ca_file;            /* NULL: the system store */
        const char *client_cert;        /* PEM, with client_key; both or neither */
        const char *client_key;
        const char *headers_file;       /* "Name: value" lines sent with every request */
        /* Ranges mode (delta installs): only these ranges, in this order,
         * their bytes back to back in the pipe, on one connection. Ranges that
         * follow each other in order go up to 128 in one request (a
         * multipart/byteranges answer); after a server turns such a request
         * down (200, 416), or garbles two answers to them in a row (parts
         * missing or malformed), one range a request; a first garbled
         * answer is asked for again (on_retry says so). A server that
         * ignores Range fails the fetch with
         * -EOPNOTSUPP. NULL: the whole body. */
        const HttpByteRange *ranges;
        size_t n_ranges;
        bool one_range;                 /* ranges mode: one range a request from the start */
        /* Ranges mode: where the fetch would go on one range a request (above), it ends instead
         * with -EPROTONOSUPPORT, the bytes delivered so far in the pipe and the reason in the stats'
         * one_range; the caller asks for the rest its own way. */
        bool one_range_stop;
        /* The resource as an earlier fetch saw it (validators, size): any
         * other version is refused as changed. NULL: whatever comes first. */
        const HttpResource *resource;
        HttpSession *session;           /* NULL: a connection of the fetch's own, closed at its end */
        /* Called from the fetch thread before each retry. */
        void (*on_retry)(const HttpRetryEvent *e, void *userdata);
        void *userdata;
} HttpFetchOptions;

typedef struct HttpFetchStats {
        /* Body bytes over all connections, dropped ones included; in ranges mode the bytes of
         * the resource received (a multipart answer's delimiters and part headers not counted). */
        uint64_t received;
        uint64_t delivered;         /* into the pipe */
        uint64_t size;              /* HTTP_SIZE_UNKNOWN when the server did not say */
        unsigned requests;
        unsigned restarts;          /* 200 answers to a Range request */
        char one_range[256];        /* ranges mode: why one range a request ("" while several) */
} HttpFetchStats;

typedef struct HttpFetch HttpFetch;

/* CLOCK_MONOTONIC in milliseconds, for started_ms. */
uint64_t http_now_ms(void);

/* The requests a ranges fetch of these ranges makes from a server that answers several ranges a request. */
size_t http_ranges_requests(const HttpByteRange *ranges, size_t n);
/* The index after the last of the ranges that go in one request with ranges[i] (i < n), as above. */
size_t http_ranges_batch(const HttpByteRange *ranges, size_t n, size_t i);

/*
 * Checks url and o (scheme policy, readable files, HeadersFile= lines)
 * before anything is sent, then starts the fetch thread and returns the
 * read end of its pipe (the caller owns it).
 */
int http_fetch_start(const char *url, const HttpFetchOptions *o, HttpFetch **ret, int *ret_fd);

/*
 * Called once the reader is done (it saw the end, or stopped on an error of
 * its own): stops the fetch if it still runs and waits for it. Returns 0
 * when every byte was delivered, -ECANCELED when it was stopped or the
 * reader closed the read end first, or the failure that ended the fetch
 * with its message (err_message()): the reader then saw a cut stream, and
 * this is the cause to report.
 */
int http_fetch_finish(HttpFetch *f, HttpFetchStats *ret_stats);

/* The resource as the fetch saw it (validators and size), for a later fetch's resource. */
void http_fetch_resource(HttpFetch *f, HttpResource *ret);

/* After http_fetch_finish(): the URL the body came from once redirects were followed (libcurl's
 * effective URL of the last 2xx answer), owned by f; NULL when no answer was 2xx. */
const char *http_fetch_effective_url(HttpFetch *f);

/* Appends path's "Name: value" lines ([Network] or [Report] HeadersFile=,
 * checked by http_header_line_check()) to list; errors name key=path:line. */
struct curl_slist;
int http_headers_load(const char *path, const char *key, struct curl_slist **list);

/* Stops a fetch not finished, frees it. */
HttpFetch *http_fetch_free(HttpFetch *f);
DEFINE_TRIVIAL_CLEANUP_FUNC(HttpFetch *, http_fetch_free);
