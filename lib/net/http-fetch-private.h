/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * One fetch as http-fetch.c runs it (the thread, its retries, the
 * session), shared with http-attempt.c (one request and its answer). Not
 * for callers: http-fetch.h.
 */

#include <curl/curl.h>
#include <pthread.h>

#include "basic/error.h"
#include "net/http-fetch.h"
#include "net/http-multipart.h"

/* libcurl's receive buffer; a cut costs at most this much (docs/network.md). */
#define FETCH_BUFFER (512 * 1024)
#define ERROR_BODY_MAX 2048
/* Ranges mode: at most this many ranges in one request, and a Range value of at most this many
 * characters: within Apache's default MaxRanges (200) and the request header limits of nginx and
 * Apache (8 KiB a line). A server that wants fewer answers 200, and gets one range per request. */
#define MULTI_RANGES_MAX 128
#define RANGE_VALUE_MAX 4000

DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all);

struct HttpFetch {
        char *url;
        HttpFetchOptions o;
        char *ca_file, *client_cert, *client_key;
        struct curl_slist *headers;
        bool curl_initialized;

        int fd;                         /* the pipe's write end, the thread's */
        pthread_t thread;
        bool running;
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool stop;                      /* set by the caller; atomic reads in callbacks */

        int result;
        char message[ERR_MAX];
        HttpFetchStats stats;

        /* The fetch thread's alone. */
        HttpResource res;
        uint64_t offset;                /* bytes delivered; in ranges mode, the position in the resource */
        uint64_t end;                   /* ranges mode: the current range's end; else HTTP_SIZE_UNKNOWN */
        HttpByteRange *ranges;
        size_t n_ranges;
        size_t range;                   /* ranges mode: the current range */
        size_t batch_end;               /* ranges mode: after the last range of the current request */
        bool multi;                     /* ranges mode: several ranges a request, until the server turns them down */
        unsigned multi_garbled;         /* ranges mode: unusable answers to several ranges since the last complete request */
        uint64_t start_ms;
        char range_value[RANGE_VALUE_MAX + 48];
        char if_range[320];
        /* The current attempt. */
        HttpResponse resp;
        bool planned, error_body, reader_gone, stalled, deadline_hit;
        bool multi_failed;              /* the answer to several ranges was not usable */
        bool multi_refused;             /* ... because the server turned them down (200, 416): one range a request at once */
        bool multipart;                 /* the body is multipart/byteranges, parsed by mp */
        HttpMultipart mp;
        uint64_t part_offset;           /* a single-part answer: where its next byte belongs */
        uint64_t skip;
        int plan_r;
        HttpFailure plan_failure;
        char plan_message[ERR_MAX];
        char body[ERROR_BODY_MAX];
        size_t body_len;
        uint64_t last_activity_ms;
        char errbuf[CURL_ERROR_SIZE];
        char *effective_url;            /* of the last 2xx answer, after redirects; NULL: none yet */
};

typedef struct HttpCallback {
        HttpFetch *f;
        CURL *c;
} HttpCallback;

/* Set by the caller (http_fetch_finish(), http_fetch_free()); read in libcurl's callbacks. */
static inline bool http_fetch_stopped(HttpFetch *f) {
        return __atomic_load_n(&f->stop, __ATOMIC_ACQUIRE);
}

/* Ranges mode: the request to make next starts at range i. */
static inline void http_fetch_set_range(HttpFetch *f, size_t i) {
        f->range = i;
        f->offset = f->ranges[i].start;
        f->end = f->ranges[i].start + f->ranges[i].length;
}

/* http-attempt.c */
/* The options of every request of f on c, with cb for libcurl's callbacks. */
int http_attempt_setup(HttpFetch *f, CURL *c, HttpCallback *cb);
/*
 * One request: from f->offset (ranges mode: the ranges from f->range on
 * that one request can carry), its answer delivered into f's pipe. 0 when
 * all asked for was delivered; else why it stopped (*ret_failure, the
 * HTTP status) for run() to decide what next.
 */
int http_attempt(HttpFetch *f, CURL *c, HttpFailure *ret_failure, long *ret_status);
