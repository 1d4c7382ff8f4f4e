/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "http-fetch-private.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sys/random.h>
#include <time.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "net/http-policy.h"

/* Larger than the default 64 KiB: fewer wake-ups of the reader. */
#define FETCH_PIPE_SIZE (1024 * 1024)
#define HEADERS_FILE_MAX (64 * 1024)

uint64_t http_now_ms(void) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static bool sleep_ms(HttpFetch *f, uint64_t ms) {
        struct timespec ts;
        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t) (ms / 1000);
        ts.tv_nsec += (long) (ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&f->lock);
        while (!f->stop)
                if (pthread_cond_timedwait(&f->cond, &f->lock, &ts) == ETIMEDOUT)
                        break;
        bool s = f->stop;
        pthread_mutex_unlock(&f->lock);
        return s;
}

static int run(HttpFetch *f, CURL *c) {
        HttpRetryPolicy policy = { .retries = f->o.retries, .deadline_ms = (uint64_t) f->o.timeout_sec * 1000 };
        HttpRetryState rs = {};
        HttpCallback cb = { .f = f, .c = c };
        char reason[ERR_MAX];
        int r;

        /* Jittered backoff; without randomness (never on Linux >= 3.17) the exact doubling. */
        if (getrandom(&rs.jitter, sizeof rs.jitter, GRND_NONBLOCK) != (ssize_t) sizeof rs.jitter)
                rs.jitter = 0;

        r = http_attempt_setup(f, c, &cb);
        if (r < 0)
                return r;
        if (f->ranges)
                http_fetch_set_range(f, 0);
        for (;;) {
                HttpFailure failure = HTTP_FAILURE_OTHER;
                uint64_t before = f->stats.delivered, delay = 0;
                long status = 0;

                r = http_attempt(f, c, &failure, &status);
                if (r == 0)
                        f->multi_garbled = 0;
                if (r == 0 && f->ranges && f->batch_end < f->n_ranges) {
                        /* The next ranges, on the same connection. */
                        http_fetch_set_range(f, f->batch_end);
                        continue;
                }
                if (r == 0 || r == -ECANCELED)
                        return r;
                (void) snprintf(reason, sizeof reason, "%s", err_message(r));
                if (f->multi_failed && f->multi) {
                        /* What was delivered stays. A server that turned several ranges down, or that
                         * garbled two answers in a row, gets the rest one range a request, at once; a
                         * first garbled answer (a flaky link, a proxy's hiccup) is asked again as it was. */
                        if (f->multi_refused || ++f->multi_garbled > 1) {
                                f->multi = false;
                                (void) snprintf(f->stats.one_range, sizeof f->stats.one_range, "%s", err_message(r));
                                if (f->o.one_range_stop)
                                        return err_set(EPROTONOSUPPORT, "%s", reason);
                                continue;
                        }
                        rs.attempts++;
                        if (f->o.on_retry)
                                f->o.on_retry(&(HttpRetryEvent) { .reason = reason, .offset = f->offset, .size = f->res.size,
                                                                  .retry = rs.attempts },
                                              f->o.userdata);
                        continue;
                }
                switch (http_retry_decide(&policy, &rs, failure, status, f->stats.delivered > before, http_now_ms() - f->start_ms,
                                          &delay)) {
                case HTTP_GIVE_UP_FATAL:
                        return r;
                case HTTP_GIVE_UP_RETRIES:
                        return err_set(r, "%s; gave up after %u attempts (Retries=%u)", reason, rs.attempts, f->o.retries);
                case HTTP_GIVE_UP_DEADLINE:
                        return err_set(r, "%s; gave up after %u attempts: the next would start past TimeoutSec=%u", reason,
                                       rs.attempts, f->o.timeout_sec);
                case HTTP_RETRY:
                        break;
                }
                if (f->o.on_retry)
                        f->o.on_retry(&(HttpRetryEvent) { .reason = reason, .offset = f->offset, .size = f->res.size,
                                                          .retry = rs.attempts, .delay_ms = delay, .status = status },
                                      f->o.userdata);
                if (sleep_ms(f, delay))
                        return -ECANCELED;
        }
}

struct HttpSession {
        pthread_mutex_t lock;
        CURL *curl;
        bool busy;
};

int http_session_new(HttpSession **ret) {
        HttpSession *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
                free(s);
                return err_set(ENOMEM, "cannot initialize libcurl");
        }
        s->curl = curl_easy_init();
        if (!s->curl) {
                curl_global_cleanup();
                free(s);
                return err_set(ENOMEM, "cannot start libcurl");
        }
        pthread_mutex_init(&s->lock, NULL);
        *ret = s;
        return 0;
}

HttpSession *http_session_free(HttpSession *s) {
        if (!s)
                return NULL;
        curl_easy_cleanup(s->curl);
        curl_global_cleanup();
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
}

/* The session's handle when it is free (options cleared, connections kept), else NULL. */
static CURL *session_take(HttpSession *s) {
        CURL *c = NULL;
        if (!s)
                return NULL;
        pthread_mutex_lock(&s->lock);
        if (!s->busy) {
                s->busy = true;
                c = s->curl;
        }
        pthread_mutex_unlock(&s->lock);
        return c;
}

/* Back to the session: no option left pointing into the fetch that is about to be freed. */
static void session_put(HttpSession *s) {
        curl_easy_reset(s->curl);
        pthread_mutex_lock(&s->lock);
        s->busy = false;
        pthread_mutex_unlock(&s->lock);
}

static void *fetch_thread(void *userdata) {
        HttpFetch *f = userdata;
        CURL *shared = session_take(f->o.session);
        CURL *c = shared ?: curl_easy_init();
        int r;

        if (!c)
                r = err_set(ENOMEM, "cannot start libcurl");
        else
                r = run(f, c);
        if (r < 0 && r != -ECANCELED)
                (void) snprintf(f->message, sizeof f->message, "%s", err_message(r));
        f->result = r;
        if (shared)
                session_put(f->o.session);
        else if (c)
                curl_easy_cleanup(c);
        /* The reader sees the end only after the result is recorded. */
        f->fd = safe_close(f->fd);
        return NULL;
}

int http_headers_load(const char *path, const char *key, struct curl_slist **list) {
        _cleanup_free_ char *text = NULL;
        unsigned line = 0;
        int r;

        r = read_full_file(path, HEADERS_FILE_MAX, &text, NULL);
        if (r < 0)
                return err_set(r, "cannot read %s=%s: %s", key, path, strerror(-r));
        for (char *p = text, *next; p && *p; p = next) {
                next = strchr(p, '\n');
                if (next)
                        *next++ = 0;
                size_t len = strlen(p);
                if (len > 0 && p[len - 1] == '\r')
                        p[len - 1] = 0;
                line++;
                r = http_header_line_check(p);
                if (r < 0)
                        return err_prefix(r, "%s=%s:%u", key, path, line);
                if (r == 0)
                        continue;
                struct curl_slist *l = curl_slist_append(*list, p);
                if (!l)
                        return -ENOMEM;
                *list = l;
        }
        return 0;
}

static int check_readable(const char *key, const char *path) {
        if (path && access(path, R_OK) < 0)
                return err_set(errno, "cannot read %s=%s: %m", key, path);
        return 0;
}

static int dup_opt(const char *s, char **ret) {
        *ret = NULL;
        if (s && !(*ret = strdup(s)))
                return -ENOMEM;
        return 0;
}

int http_fetch_start(const char *url, const HttpFetchOptions *o, HttpFetch **ret, int *ret_fd) {
        _cleanup_(http_fetch_freep) HttpFetch *f = NULL;
        int pipefd[2], r;

        r = http_url_check(url, o->allow_http);
        if (r < 0)
                return r;
        if (!o->client_cert != !o->client_key)
                return err_set(EINVAL, "[Network] ClientCertificate= and ClientKey= go together");
        r = check_readable("CAFile", o->ca_file);
        if (r >= 0)
                r = check_readable("ClientCertificate", o->client_cert);
        if (r >= 0)
                r = check_readable("ClientKey", o->client_key);
        if (r < 0)
                return r;

        f = calloc(1, sizeof *f);
        if (!f)
                return -ENOMEM;
        f->fd = -EBADF;
        f->o = *o;
        f->o.ca_file = f->o.client_cert = f->o.client_key = f->o.headers_file = NULL;
        f->res.size = f->stats.size = HTTP_SIZE_UNKNOWN;
        f->end = HTTP_SIZE_UNKNOWN;
        f->o.ranges = NULL;
        f->o.resource = NULL;
        if (o->resource)
                f->res = *o->resource;
        if (o->ranges) {
                if (o->n_ranges == 0)
                        return err_set(EINVAL, "no range to fetch");
                f->ranges = malloc(o->n_ranges * sizeof *o->ranges);
                if (!f->ranges)
                        return -ENOMEM;
                memcpy(f->ranges, o->ranges, o->n_ranges * sizeof *o->ranges);
                f->n_ranges = o->n_ranges;
                f->multi = !o->one_range;
                for (size_t i = 0; i < o->n_ranges; i++)
                        if (o->ranges[i].length == 0 || o->ranges[i].start + o->ranges[i].length < o->ranges[i].start)
                                return err_set(EINVAL, "bad range %" PRIu64 "+%" PRIu64, o->ranges[i].start,
                                               o->ranges[i].length);
        }
        if (!(f->url = strdup(url)) || dup_opt(o->ca_file, &f->ca_file) < 0 || dup_opt(o->client_cert, &f->client_cert) < 0 ||
            dup_opt(o->client_key, &f->client_key) < 0)
                return -ENOMEM;
        pthread_mutex_init(&f->lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&f->cond, &ca);
        pthread_condattr_destroy(&ca);

        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
                return err_set(ENOMEM, "cannot initialize libcurl");
        f->curl_initialized = true;
        if (o->headers_file) {
                r = http_headers_load(o->headers_file, "HeadersFile", &f->headers);
                if (r < 0)
                        return r;
        }

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return err_set(errno, "cannot make a pipe: %m");
        _cleanup_close_ int rfd = pipefd[0];
        f->fd = pipefd[1];
        /* The write end does not block: a stop is seen even while the reader reads nothing. */
        if (fcntl(f->fd, F_SETFL, O_NONBLOCK) < 0)
                return err_set(errno, "cannot make the pipe non-blocking: %m");
        (void) fcntl(f->fd, F_SETPIPE_SZ, FETCH_PIPE_SIZE);

        f->start_ms = f->o.started_ms > 0 ? f->o.started_ms : http_now_ms();
        r = -pthread_create(&f->thread, NULL, fetch_thread, f);
        if (r < 0)
                return err_set(r, "cannot start the download thread: %s", strerror(-r));
        f->running = true;
        *ret_fd = TAKE_FD(rfd);
        *ret = TAKE_PTR(f);
        return 0;
}

static void stop_and_join(HttpFetch *f) {
        if (!f->running)
                return;
        pthread_mutex_lock(&f->lock);
        __atomic_store_n(&f->stop, true, __ATOMIC_RELEASE);
        pthread_cond_broadcast(&f->cond);
        pthread_mutex_unlock(&f->lock);
        pthread_join(f->thread, NULL);
        f->running = false;
}

int http_fetch_finish(HttpFetch *f, HttpFetchStats *ret_stats) {
        stop_and_join(f);
        if (ret_stats)
                *ret_stats = f->stats;
        if (f->result == -ECANCELED)
                return -ECANCELED;
        if (f->result < 0)
                return err_set(f->result, "%s", f->message);
        return 0;
}

void http_fetch_resource(HttpFetch *f, HttpResource *ret) {
        *ret = f->res;
}

const char *http_fetch_effective_url(HttpFetch *f) {
        return f->effective_url;
}

HttpFetch *http_fetch_free(HttpFetch *f) {
        if (!f)
                return NULL;
        stop_and_join(f);
        safe_close(f->fd);
        curl_slist_free_all(f->headers);
        if (f->curl_initialized)
                curl_global_cleanup();
        pthread_cond_destroy(&f->cond);
        pthread_mutex_destroy(&f->lock);
        free(f->url);
        free(f->effective_url);
        free(f->ranges);
        free(f->ca_file);
        free(f->client_cert);
        free(f->client_key);
        free(f);
        return NULL;
}
