/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "report-send.h"

#include <curl/curl.h>
#include <sys/random.h>
#include <time.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "net/http-fetch.h"
#include "net/http-policy.h"
#include "report-spool.h"

#define CONNECT_TIMEOUT_MS 5000
/* A retry is not started with less time than this left. */
#define MIN_ATTEMPT_MS 500
#define ERROR_BODY_MAX 4096

DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all);
DEFINE_TRIVIAL_CLEANUP_FUNC(CURL *, curl_easy_cleanup);

int report_put_url(const char *base, const char *id, char **ret) {
        size_t n = strlen(base);
        if (n == 0)
                return -EINVAL;
        return asprintf(ret, "%s%s%s.json", base, base[n - 1] == '/' ? "" : "/", id) < 0 ? -ENOMEM : 0;
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static void sleep_ms(uint64_t ms) {
        struct timespec ts = { .tv_sec = (time_t) (ms / 1000), .tv_nsec = (long) (ms % 1000) * 1000000 };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

typedef struct Body {
        char data[ERROR_BODY_MAX];
        size_t len;
} Body;

static size_t on_body(char *data, size_t size, size_t n, void *userdata) {
        Body *b = userdata;
        size_t len = size * n, room = sizeof b->data - b->len;
        memcpy(b->data + b->len, data, MIN(len, room));
        b->len += MIN(len, room);
        return len;
}

static HttpFailure curl_failure(CURLcode cc) {
        switch (cc) {
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
        case CURLE_COULDNT_CONNECT:
                return HTTP_FAILURE_CONNECT;
        case CURLE_OPERATION_TIMEDOUT:
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
                return HTTP_FAILURE_DROP;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CIPHER:
                return HTTP_FAILURE_TLS;
        default:
                return HTTP_FAILURE_OTHER;
        }
}

typedef struct Sender {
        const ReportSendOptions *o;
        CURL *curl;
        struct curl_slist *headers;
        uint64_t start_ms;
        char errbuf[CURL_ERROR_SIZE];
} Sender;

/* One request. 0: accepted (2xx); else a negative errno with the message, *ret_failure and *ret_status. */
static int attempt(Sender *s, const char *url, const char *json, size_t len, uint64_t remaining_ms,
                   HttpFailure *ret_failure, long *ret_status) {
        CURL *c = s->curl;
        Body body = {};
        char shown[512];
        const char *method = s->o->post ? "POST" : "PUT";

        http_url_display(url, shown, sizeof shown);
        *ret_status = 0;
        s->errbuf[0] = 0;
        bool ok = curl_easy_setopt(c, CURLOPT_URL, url) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_POSTFIELDS, json) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long) MAX(remaining_ms, 1)) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long) MAX(MIN(remaining_ms, CONNECT_TIMEOUT_MS), 1)) == CURLE_OK;
        if (!ok) {
                *ret_failure = HTTP_FAILURE_OTHER;
                return err_set(ENOTSUP, "libcurl refused an option");
        }
        CURLcode cc = curl_easy_perform(c);
        if (cc != CURLE_OK) {
                *ret_failure = curl_failure(cc);
                return err_set(*ret_failure == HTTP_FAILURE_TLS ? EPERM : EHOSTUNREACH, "%s %s: %s", method, shown,
                               s->errbuf[0] ? s->errbuf : curl_easy_strerror(cc));
        }
        long status = 0;
        (void) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        *ret_status = status;
        if (status >= 200 && status <= 299)
                return 0;
        char title[128];
        http_error_title(body.data, body.len, title, sizeof title);
        *ret_failure = HTTP_FAILURE_STATUS;
        if (title[0])
                return err_set(EPROTO, "%s %s: HTTP %ld (%s)", method, shown, status, title);
        return err_set(EPROTO, "%s %s: HTTP %ld", method, shown, status);
}

/* One event, retried while transient and the budget lasts. */
static int send_one(Sender *s, const char *url, const char *json, size_t len, uint64_t *jitter) {
        const ReportSendOptions *o = s->o;
        HttpRetryPolicy policy = { .retries = UINT32_MAX, .deadline_ms = o->budget_ms };
        HttpRetryState st = { .jitter = *jitter };
        int r = 0;

        for (;;) {
                uint64_t elapsed = now_ms() - s->start_ms;
                /* An attempt cut short by the budget would say "timed out" instead of
                 * what the endpoint said: the last real answer is the cause to keep. */
                if (r < 0 && elapsed + MIN_ATTEMPT_MS > o->budget_ms)
                        return r;
                if (elapsed >= o->budget_ms)
                        return err_set(ETIMEDOUT, "no time left to send (%u ms budget)", o->budget_ms);
                HttpFailure f;
                long status;
                r = attempt(s, url, json, len, o->budget_ms - elapsed, &f, &status);
                if (r >= 0)
                        return 0;
                uint64_t delay;
                HttpRetry d = http_retry_decide(&policy, &st, f, status, false, now_ms() - s->start_ms, &delay);
                *jitter = st.jitter;
                if (d != HTTP_RETRY)
                        return r;
                sleep_ms(delay);
        }
}

static int sender_setup(Sender *s) {
        const ReportSendOptions *o = s->o;
        const char *protocols = o->allow_http ? "http,https" : "https";
        int r;

        if (o->headers_file && (r = http_headers_load(o->headers_file, "[Report] HeadersFile", &s->headers)) < 0)
                return r;
        struct curl_slist *l = curl_slist_append(s->headers, "Content-Type: application/json");
        if (l)
                s->headers = l;
        l = l ? curl_slist_append(s->headers, "Expect:") : NULL;
        if (!l)
                return -ENOMEM;
        s->headers = l;

        s->curl = curl_easy_init();
        if (!s->curl)
                return -ENOMEM;
        CURL *c = s->curl;
        bool ok = curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, protocols) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_USERAGENT, "abidectl/" ABIDE_VERSION) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->errbuf) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_HTTPHEADER, s->headers) == CURLE_OK;
        if (ok && o->ca_file)
                /* CAFile= replaces the system store, as for bundles. */
                ok = curl_easy_setopt(c, CURLOPT_CAINFO, o->ca_file) == CURLE_OK &&
                     curl_easy_setopt(c, CURLOPT_CAPATH, NULL) == CURLE_OK;
        if (ok && o->client_cert)
                ok = curl_easy_setopt(c, CURLOPT_SSLCERT, o->client_cert) == CURLE_OK &&
                     curl_easy_setopt(c, CURLOPT_SSLCERTTYPE, "PEM") == CURLE_OK &&
                     curl_easy_setopt(c, CURLOPT_SSLKEY, o->client_key) == CURLE_OK;
        return ok ? 0 : err_set(ENOTSUP, "libcurl refused an option (https support missing?)");
}

static int check_options(const ReportSendOptions *o) {
        int r = http_url_check(o->url, o->allow_http);
        if (r < 0)
                return err_prefix(r, "[Report] URL=");
        if (!o->client_cert != !o->client_key)
                return err_set(EINVAL, "[Report] ClientCertificate= and ClientKey= go together");
        const char *files[][2] = {
                { "CAFile", o->ca_file },
                { "ClientCertificate", o->client_cert },
                { "ClientKey", o->client_key },
        };
        for (size_t i = 0; i < ELEMENTSOF(files); i++)
                if (files[i][1] && access(files[i][1], R_OK) < 0)
                        return err_set(errno, "cannot read [Report] %s=%s: %m", files[i][0], files[i][1]);
        return 0;
}

/*
 * A spooled name that is not a report of ours stops nothing: it is set aside,
 * never sent. A directory or a link is renamed as it is; a rename that fails
 * leaves it for the next send to try again, and the events after it go.
 */
static bool set_aside(const char *dir, const ReportSpoolEntry *e) {
        _cleanup_free_ char *from = NULL, *to = NULL;
        if (asprintf(&from, "%s/%s", dir, e->name) < 0 || asprintf(&to, "%s/%s.corrupt", dir, e->name) < 0)
                return false;
        return rename(from, to) >= 0;
}

static int run(const char *dir, const ReportSendOptions *o, ReportSendResult *res) {
        _cleanup_free_ ReportSpoolEntry *list = NULL;
        Sender s = { .o = o, .start_ms = now_ms() };
        uint64_t jitter = 0;
        size_t n = 0;
        int r;

        r = report_spool_list(dir, &list, &n);
        if (r < 0)
                return r;
        res->remaining = n;
        if (n == 0)
                return 0;
        r = check_options(o);
        if (r < 0)
                return r;
        if (getrandom(&jitter, sizeof jitter, GRND_NONBLOCK) != sizeof jitter)
                jitter = (uint64_t) now_ms() | 1;

        r = sender_setup(&s);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                _cleanup_free_ char *json = NULL, *url = NULL;
                _cleanup_(report_record_done) ReportRecord rec = {};
                size_t len;

                r = report_spool_read(dir, &list[i], &json, &len);
                if (r == -ENOENT) {
                        /* Removed by hand since the listing: nothing to send. */
                        res->remaining--;
                        err_clear();
                        r = 0;
                        continue;
                }
                /* Only what is wrong with this entry is set aside; the file system's errors (EIO) and
                 * memory stop the send, or a good report would be set aside for them. */
                if (r >= 0)
                        r = report_record_parse(json, len, &rec);
                else if (r != -EBADMSG)
                        break;
                if (r == -ENOMEM)
                        break;
                if (r < 0) {
                        if (set_aside(dir, &list[i]))
                                res->set_aside++;
                        res->remaining--;
                        err_clear();
                        r = 0;
                        continue;
                }
                if (o->post)
                        url = strdup(o->url);
                else if (report_put_url(o->url, rec.id, &url) < 0)
                        url = NULL;
                if (!url) {
                        r = -ENOMEM;
                        break;
                }
                r = send_one(&s, url, json, len, &jitter);
                if (r < 0) {
                        r = err_prefix(r, "%s", list[i].name);
                        break;
                }
                r = report_spool_remove(dir, &list[i]);
                if (r < 0)
                        break;
                res->sent++;
                res->remaining--;
        }
        if (s.curl)
                curl_easy_cleanup(s.curl);
        curl_slist_free_all(s.headers);
        return r;
}

int report_send(const char *dir, const ReportSendOptions *o, ReportSendResult *ret) {
        _cleanup_close_ int lock = -EBADF;
        ReportSendResult res = {};
        int r;

        r = report_spool_lock(dir, REPORT_SPOOL_LOCK_SEND, false, &lock);
        if (r == -EAGAIN)
                return err_set(EAGAIN, "another process is sending the reports of %s", dir);
        if (r < 0)
                return r;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return err_set(EIO, "cannot initialize libcurl");
        r = run(dir, o, &res);
        curl_global_cleanup();
        if (r < 0) {
                int saved = r;
                _cleanup_free_ char *msg = strdup(err_message(r));
                (void) report_spool_set_error(dir, msg ?: "send failed");
                r = err_set(saved, "%s", msg ?: "send failed");
        } else
                (void) report_spool_set_error(dir, NULL);
        if (ret)
                *ret = res;
        return r;
}
