/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "http-fetch-private.h"

#include <inttypes.h>
#include <poll.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "net/http-policy.h"

/*
 * One request of a fetch and its answer: the Range it asks for, the
 * answer's headers judged (status, validators, Content-Range or a
 * multipart/byteranges body), its bytes delivered in order into the
 * fetch's pipe, and why it stopped when it did. Retries, backoff and the
 * thread are http-fetch.c's (docs/network.md).
 */

/*
 * The Range value (in buf, RANGE_VALUE_MAX + 48 bytes; NULL: not written)
 * for ranges[i] from offset on, then, with multi, the ranges after it as
 * long as they follow in order without overlap (what a server answers in
 * order, RFC 9110 14.2) and within the limits above. Returns the index after
 * the last range in it.
 */
static size_t range_batch(const HttpByteRange *ranges, size_t n, size_t i, uint64_t offset, bool multi, char *buf) {
        char one[48];
        size_t len = (size_t) snprintf(one, sizeof one, "%" PRIu64 "-%" PRIu64, offset, ranges[i].start + ranges[i].length - 1);
        if (buf)
                memcpy(buf, one, len + 1);
        size_t j = i + 1;
        for (; multi && j < n && j - i < MULTI_RANGES_MAX; j++) {
                const HttpByteRange *a = &ranges[j - 1], *b = &ranges[j];
                if (b->start < a->start + a->length)
                        break;
                size_t k = (size_t) snprintf(one, sizeof one, ",%" PRIu64 "-%" PRIu64, b->start, b->start + b->length - 1);
                if (len + k > RANGE_VALUE_MAX)
                        break;
                if (buf)
                        memcpy(buf + len, one, k + 1);
                len += k;
        }
        return j;
}

size_t http_ranges_batch(const HttpByteRange *ranges, size_t n, size_t i) {
        return range_batch(ranges, n, i, ranges[i].start, true, NULL);
}

size_t http_ranges_requests(const HttpByteRange *ranges, size_t n) {
        size_t requests = 0;
        for (size_t i = 0; i < n; i = http_ranges_batch(ranges, n, i))
                requests++;
        return requests;
}

static bool batch_several(const HttpFetch *f) {
        return f->batch_end - f->range > 1;
}

/* Records why the current attempt cannot go on; with several ranges asked for, a protocol failure
 * is an answer to them that cannot be used (run() decides what next). Returns r. */
static int fail(HttpFetch *f, HttpFailure failure, int r) {
        f->planned = true;
        f->plan_r = r;
        f->plan_failure = failure;
        (void) snprintf(f->plan_message, sizeof f->plan_message, "%s", err_message(r));
        if (failure == HTTP_FAILURE_PROTOCOL && f->ranges && batch_several(f))
                f->multi_failed = true;
        return r;
}

/* Every byte the current request asked for was delivered. */
static bool batch_complete(const HttpFetch *f) {
        return f->range + 1 == f->batch_end && f->offset == f->end;
}

/* 0, or -EPIPE when the reader is gone (or the fetch was stopped while the pipe was full). */
static int write_pipe(HttpFetch *f, const uint8_t *data, size_t len) {
        while (len > 0) {
                ssize_t k = write(f->fd, data, len);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0 && errno == EAGAIN) {
                        /* A full pipe: wait for the reader, but not past a stop. */
                        if (http_fetch_stopped(f)) {
                                f->reader_gone = true;
                                return -EPIPE;
                        }
                        (void) poll(&(struct pollfd) { .fd = f->fd, .events = POLLOUT }, 1, 250);
                        continue;
                }
                if (k <= 0) {
                        /* EPIPE: the reader is done (a refused bundle, or an error of its own). */
                        f->reader_gone = true;
                        return -EPIPE;
                }
                data += k;
                len -= (size_t) k;
                f->offset += (uint64_t) k;
                f->stats.delivered += (uint64_t) k;
        }
        return 0;
}

/*
 * Ranges mode: n bytes of the answer that belong at offset at of the
 * resource. Those of the current range go to the pipe; bytes before it (a
 * gap the server joined to the ranges, bytes sent twice) are dropped. A
 * range done, the next one of the request follows.
 */
static int deliver(HttpFetch *f, uint64_t at, const uint8_t *p, size_t n) {
        f->stats.received += n;
        while (n > 0) {
                if (f->offset == f->end) {
                        if (f->range + 1 >= f->batch_end)
                                return fail(f, HTTP_FAILURE_PROTOCOL,
                                            err_set(EBADMSG, "the server sent more than the ranges asked for (byte %" PRIu64 ")", at));
                        http_fetch_set_range(f, f->range + 1);
                }
                if (at < f->offset) {
                        size_t k = (size_t) MIN((uint64_t) n, f->offset - at);
                        at += k;
                        p += k;
                        n -= k;
                        continue;
                }
                if (at > f->offset)
                        return fail(f, HTTP_FAILURE_PROTOCOL,
                                    err_set(EBADMSG, "the server left out bytes %" PRIu64 "-%" PRIu64 " of the ranges asked for",
                                            f->offset, at - 1));
                size_t k = (size_t) MIN((uint64_t) n, f->end - f->offset);
                int r = write_pipe(f, p, k);
                if (r < 0)
                        return r;
                at += k;
                p += k;
                n -= k;
        }
        return 0;
}

static int on_part(void *userdata, uint64_t start, uint64_t end, uint64_t total) {
        HttpFetch *f = userdata;
        if (f->res.size == HTTP_SIZE_UNKNOWN)
                f->res.size = f->stats.size = total;
        else if (total != HTTP_SIZE_UNKNOWN && total != f->res.size)
                return fail(f, HTTP_FAILURE_CHANGED,
                            err_set(ESTALE, "the bundle changed on the server between requests (%" PRIu64 " bytes, now %" PRIu64 ")",
                                    f->res.size, total));
        return 0;
}

static int on_part_data(void *userdata, uint64_t offset, const uint8_t *p, size_t n) {
        return deliver(userdata, offset, p, n);
}

static const HttpMultipartCallbacks part_callbacks = { .part = on_part, .data = on_part_data };

static void plan(HttpFetch *f, CURL *c) {
        if (f->planned)
                return;
        f->planned = true;
        if (f->resp.status == 0) {
                long code = 0;
                (void) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
                f->resp.status = code;
        }
        if (f->resp.status >= 200 && f->resp.status < 300) {
                /* Where the body comes from, after redirects: what a reference inside it is relative to. */
                char *u = NULL, *copy;
                if (curl_easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &u) == CURLE_OK && u && (copy = strdup(u))) {
                        free(f->effective_url);
                        f->effective_url = copy;
                }
        }
        if (f->ranges && f->resp.status == 200) {
                /* Asked for ranges, got everything: another bundle (If-Range), a server that takes one
                 * range a request at most, or a server without Range. */
                if (f->res.known && http_resource_changed(&f->res, &f->resp))
                        (void) fail(f, HTTP_FAILURE_CHANGED, err_set(ESTALE, "the bundle changed on the server between requests"));
                else if (batch_several(f)) {
                        (void) fail(f, HTTP_FAILURE_PROTOCOL,
                                    err_set(EOPNOTSUPP, "HTTP 200 to a request for %zu ranges", f->batch_end - f->range));
                        f->multi_refused = true;
                } else
                        (void) fail(f, HTTP_FAILURE_PROTOCOL,
                                    err_set(EOPNOTSUPP, "the server ignores Range requests (HTTP 200 to a Range request)"));
                return;
        }
        if (f->ranges && f->resp.status == 416 && batch_several(f)) {
                /* Not one of the ranges is in the bundle, or a server that wants fewer of them: asked one
                 * at a time, the first says which. */
                (void) fail(f, HTTP_FAILURE_PROTOCOL, err_set(EBADMSG, "HTTP 416 to a request for %zu ranges", f->batch_end - f->range));
                f->multi_refused = true;
                return;
        }
        f->plan_r = http_response_plan(&f->res, f->offset, &f->resp, &f->skip, &f->plan_failure);
        if (f->plan_r < 0) {
                (void) fail(f, f->plan_failure, f->plan_r);
                /* An error page is read for its title; anything else ends the attempt. */
                f->error_body = f->plan_failure == HTTP_FAILURE_STATUS;
        } else if (f->skip > 0)
                f->stats.restarts++;
        else if (f->resp.status == 206 && f->resp.multipart) {
                if (!f->ranges)
                        (void) fail(f, HTTP_FAILURE_PROTOCOL, err_set(EBADMSG, "a multipart answer to a request for one range"));
                else {
                        http_multipart_init(&f->mp, f->resp.boundary);
                        f->multipart = true;
                }
        } else if (f->ranges)
                f->part_offset = f->resp.range_start;
        if (f->res.known)
                f->stats.size = f->res.size;
}

static size_t on_header(char *data, size_t size, size_t n, void *userdata) {
        HttpFetch *f = ((HttpCallback *) userdata)->f;
        size_t len = size * n;

        f->last_activity_ms = http_now_ms();
        /* A new response (after a redirect or a proxy's CONNECT): nothing decided on the last one holds. */
        if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
                f->planned = f->error_body = f->multipart = f->multi_failed = f->multi_refused = false;
                f->plan_r = 0;
                f->skip = 0;
                f->body_len = 0;
        }
        int r = http_response_header(&f->resp, data, len);
        if (r < 0) {
                (void) fail(f, HTTP_FAILURE_PROTOCOL, r);
                return 0;
        }
        return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *userdata) {
        HttpCallback *cb = userdata;
        HttpFetch *f = cb->f;
        size_t len = size * n, all = len;

        plan(f, cb->c);
        if (f->error_body) {
                /* An error page's bytes are bytes too: one that comes slowly is no stall. */
                f->last_activity_ms = http_now_ms();
                size_t k = MIN(len, sizeof f->body - f->body_len);
                memcpy(f->body + f->body_len, data, k);
                f->body_len += k;
                /* Bytes past what is kept for its title end the transfer (a short count): the rest of
                 * the page is not downloaded, and http_attempt() reports the status. */
                return k;
        }
        if (f->plan_r < 0)
                return 0;

        if (f->ranges) {
                int r;
                if (f->multipart) {
                        r = http_multipart_feed(&f->mp, (const uint8_t *) data, len, &part_callbacks, f);
                        /* The parser's own complaints: a body that is not multipart/byteranges. */
                        if (r < 0 && f->plan_r == 0 && !f->reader_gone)
                                (void) fail(f, HTTP_FAILURE_PROTOCOL, r);
                } else {
                        r = deliver(f, f->part_offset, (const uint8_t *) data, len);
                        f->part_offset += len;
                }
                if (r < 0)
                        return 0;
        } else {
                f->stats.received += len;
                if (f->skip > 0) {
                        size_t k = (size_t) MIN((uint64_t) len, f->skip);
                        f->skip -= k;
                        data += k;
                        len -= k;
                }
                if (write_pipe(f, (const uint8_t *) data, len) < 0)
                        return 0;
        }
        /* Time blocked on a full pipe is the reader's, not a stall of the server. */
        f->last_activity_ms = http_now_ms();
        return all;
}

static int on_progress(void *userdata, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
        HttpFetch *f = userdata;
        uint64_t now = http_now_ms();

        if (http_fetch_stopped(f))
                return 1;
        if (f->o.timeout_sec > 0 && now - f->start_ms >= (uint64_t) f->o.timeout_sec * 1000) {
                f->deadline_hit = true;
                return 1;
        }
        if (f->o.stall_timeout_sec > 0 && now - f->last_activity_ms >= (uint64_t) f->o.stall_timeout_sec * 1000) {
                f->stalled = true;
                return 1;
        }
        return 0;
}

static HttpFailure curl_failure(CURLcode cc) {
        switch (cc) {
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_SSL_CONNECT_ERROR:
                return HTTP_FAILURE_CONNECT;
        case CURLE_PARTIAL_FILE:
        case CURLE_RECV_ERROR:
        case CURLE_SEND_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_WEIRD_SERVER_REPLY:
                return HTTP_FAILURE_DROP;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_SSL_CLIENTCERT:
        case CURLE_SSL_ENGINE_NOTFOUND:
        case CURLE_SSL_ENGINE_SETFAILED:
        case CURLE_SSL_ENGINE_INITFAILED:
                return HTTP_FAILURE_TLS;
        case CURLE_TOO_MANY_REDIRECTS:
                return HTTP_FAILURE_REDIRECTS;
        default:
                return HTTP_FAILURE_OTHER;
        }
}

static char *size_text(uint64_t size, char *buf, size_t n) {
        if (size == HTTP_SIZE_UNKNOWN)
                (void) snprintf(buf, n, "?");
        else
                (void) snprintf(buf, n, "%" PRIu64, size);
        return buf;
}

/* An answer that plan() turned down for its status: the status, with the error page's title when it has one. */
static int status_failure(HttpFetch *f, HttpFailure *ret_failure, long *ret_status) {
        char title[256];

        *ret_failure = f->plan_failure;
        *ret_status = f->resp.status;
        http_error_title(f->body, f->body_len, title, sizeof title);
        if (title[0])
                return err_set(f->resp.status == 404 ? ENOENT : EPROTO, "HTTP %ld (%s)", f->resp.status, title);
        return err_set(f->plan_r, "%s", f->plan_message);
}

/* One request from f->offset on. 0: every byte delivered; else the failure, with a message. */
int http_attempt(HttpFetch *f, CURL *c, HttpFailure *ret_failure, long *ret_status) {
        _cleanup_(curl_slist_free_allp) struct curl_slist *list = NULL;
        char total[32];

        f->resp = (HttpResponse) { .content_length = HTTP_SIZE_UNKNOWN, .range_total = HTTP_SIZE_UNKNOWN };
        f->planned = f->error_body = f->stalled = f->deadline_hit = f->multi_failed = f->multi_refused = f->multipart = false;
        f->skip = 0;
        f->plan_r = 0;
        f->body_len = 0;
        f->errbuf[0] = 0;
        f->last_activity_ms = http_now_ms();
        *ret_status = 0;

        for (struct curl_slist *h = f->headers; h; h = h->next) {
                struct curl_slist *l = curl_slist_append(list, h->data);
                if (!l)
                        return -ENOMEM;
                list = l;
        }
        const char *validator = f->offset > 0 || f->ranges ? http_if_range(&f->res) : NULL;
        if (validator) {
                (void) snprintf(f->if_range, sizeof f->if_range, "If-Range: %s", validator);
                struct curl_slist *l = curl_slist_append(list, f->if_range);
                if (!l)
                        return -ENOMEM;
                list = l;
        }
        if (f->ranges) {
                /* A range finished just before a drop: the request starts with the next. */
                if (f->offset == f->end)
                        http_fetch_set_range(f, f->range + 1);
                f->batch_end = range_batch(f->ranges, f->n_ranges, f->range, f->offset, f->multi, f->range_value);
        } else
                (void) snprintf(f->range_value, sizeof f->range_value, "%" PRIu64 "-", f->offset);
        if (curl_easy_setopt(c, CURLOPT_RANGE, f->offset > 0 || f->ranges ? f->range_value : NULL) != CURLE_OK ||
            curl_easy_setopt(c, CURLOPT_HTTPHEADER, list) != CURLE_OK)
                return err_set(ENOMEM, "cannot set up the request");

        f->stats.requests++;
        CURLcode cc = curl_easy_perform(c);
        (void) curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);

        if (f->reader_gone || http_fetch_stopped(f))
                return -ECANCELED;
        /* Every byte asked for is here, each checked as it came: whatever went wrong after them (a
         * cut or a stall in a multipart answer's last delimiter, a garbled epilogue) costs nothing. */
        if (f->ranges && batch_complete(f))
                return 0;
        /* An error page: its status is the answer, however its body ended (stopped by on_body() past
         * ERROR_BODY_MAX, cut, stalled), not a drop or a stall to retry. */
        if (f->error_body)
                return status_failure(f, ret_failure, ret_status);
        if (f->plan_r < 0) {
                *ret_failure = f->plan_failure;
                return err_set(f->plan_failure == HTTP_FAILURE_CHANGED ? ESTALE : f->plan_r == -EOPNOTSUPP ? EOPNOTSUPP : EBADMSG,
                               "%s", f->plan_message);
        }
        if (f->deadline_hit) {
                *ret_failure = HTTP_FAILURE_DEADLINE;
                return err_set(ETIMEDOUT, "TimeoutSec=%u reached at byte %" PRIu64 " of %s", f->o.timeout_sec, f->offset,
                               size_text(f->res.size, total, sizeof total));
        }
        if (f->stalled) {
                *ret_failure = HTTP_FAILURE_STALL;
                return err_set(ETIMEDOUT, "no byte for StallTimeoutSec=%u at byte %" PRIu64 " of %s", f->o.stall_timeout_sec,
                               f->offset, size_text(f->res.size, total, sizeof total));
        }
        if (cc != CURLE_OK) {
                const char *what = f->errbuf[0] ? f->errbuf : curl_easy_strerror(cc);
                HttpFailure failure = curl_failure(cc);
                long redirects = 0;
                (void) curl_easy_getinfo(c, CURLINFO_REDIRECT_COUNT, &redirects);
                if (cc == CURLE_UNSUPPORTED_PROTOCOL && redirects > 0)
                        failure = HTTP_FAILURE_REDIRECTS;
                /* A server that wants a client certificate in the handshake (TLS 1.3 "certificate
                 * required", "bad certificate", "unknown ca") says so with an alert: trying again cannot help. */
                if ((failure == HTTP_FAILURE_CONNECT || failure == HTTP_FAILURE_DROP) && strstr(what, "alert") &&
                    (strstr(what, "certificate") || strstr(what, "unknown ca")))
                        failure = HTTP_FAILURE_TLS;
                *ret_failure = failure;
                switch (failure) {
                case HTTP_FAILURE_TLS:
                        return err_set(EPERM, "TLS: %s (%s%s)", what, f->ca_file ? "CAFile=" : "the system CA store",
                                       f->ca_file ?: "");
                case HTTP_FAILURE_REDIRECTS:
                        if (cc == CURLE_TOO_MANY_REDIRECTS)
                                return err_set(ELOOP, "more than MaxRedirects=%u redirects", f->o.max_redirects);
                        return err_set(EPERM, "redirected to a URL not allowed: %s", what);
                case HTTP_FAILURE_DROP:
                        return err_set(EIO, "connection lost at byte %" PRIu64 " of %s: %s", f->offset,
                                       size_text(f->res.size, total, sizeof total), what);
                default:
                        return err_set(EIO, "%s", what);
                }
        }

        plan(f, c);
        *ret_status = f->resp.status;
        if (f->plan_r < 0)
                return status_failure(f, ret_failure, ret_status);
        if (f->skip > 0) {
                *ret_failure = HTTP_FAILURE_CHANGED;
                return err_set(ESTALE, "the bundle changed on the server between requests (it ends before byte %" PRIu64 ")",
                               f->offset);
        }
        if (f->ranges && !batch_complete(f)) {
                /* An answer that ended as it said it would (libcurl saw its length or last chunk)
                 * without all the bytes asked for: with several ranges, the server's way with them,
                 * not a drop (one range a request from now on). */
                if (batch_several(f)) {
                        *ret_failure = HTTP_FAILURE_PROTOCOL;
                        return fail(f, HTTP_FAILURE_PROTOCOL,
                                    err_set(EBADMSG, "the answer to %zu ranges ended before byte %" PRIu64,
                                            f->batch_end - f->range, f->offset));
                }
                *ret_failure = HTTP_FAILURE_DROP;
                return err_set(EIO, "the response ended at byte %" PRIu64 " of the range %" PRIu64 "-%" PRIu64, f->offset,
                               f->ranges[f->range].start, f->end - 1);
        }
        if (!f->ranges && f->res.size != HTTP_SIZE_UNKNOWN && f->offset != f->res.size) {
                *ret_failure = HTTP_FAILURE_DROP;
                return err_set(EIO, "the response ended at byte %" PRIu64 " of %" PRIu64, f->offset, f->res.size);
        }
        return 0;
}

int http_attempt_setup(HttpFetch *f, CURL *c, HttpCallback *cb) {
        const char *protocols = f->o.allow_http ? "http,https" : "https";
        bool ok = curl_easy_setopt(c, CURLOPT_URL, f->url) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protocols) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, protocols) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long) f->o.max_redirects) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_USERAGENT, "abidectl/" ABIDE_VERSION) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_BUFFERSIZE, (long) FETCH_BUFFER) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, f->errbuf) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_HEADERDATA, cb) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_WRITEDATA, cb) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_XFERINFODATA, f) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L) == CURLE_OK;
        /* No CURLOPT_PROXY: libcurl takes http_proxy, https_proxy and no_proxy from the environment.
         * No Accept-Encoding: the offsets of Range are the bundle's bytes. */
        if (ok && f->o.connect_timeout_sec > 0)
                ok = curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long) f->o.connect_timeout_sec) == CURLE_OK;
        if (ok && f->ca_file)
                /* CAFile= replaces the system store: the default CA directory goes too. */
                ok = curl_easy_setopt(c, CURLOPT_CAINFO, f->ca_file) == CURLE_OK &&
                     curl_easy_setopt(c, CURLOPT_CAPATH, NULL) == CURLE_OK;
        if (ok && f->client_cert)
                ok = curl_easy_setopt(c, CURLOPT_SSLCERT, f->client_cert) == CURLE_OK &&
                     curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM") == CURLE_OK &&
                     curl_easy_setopt(c, CURLOPT_SSLKEY, f->client_key) == CURLE_OK;
        return ok ? 0 : err_set(ENOTSUP, "libcurl refused an option (https support missing?)");
}
