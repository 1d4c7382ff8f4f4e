/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "http-get.h"

#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "net/http-policy.h"

int http_get_all(const char *const *urls, const size_t *max, size_t n, const HttpFetchOptions *o, char **ret,
                 size_t *ret_len, char **ret_urls) {
        HttpFetch *f[HTTP_GET_MAX] = {};
        int fd[HTTP_GET_MAX];
        char *body[HTTP_GET_MAX] = {}, *where[HTTP_GET_MAX] = {};
        size_t len[HTTP_GET_MAX] = {};
        char shown[1024];
        size_t i;
        int r = 0, rr;

        if (n > HTTP_GET_MAX)
                return -E2BIG;
        for (i = 0; i < n; i++)
                fd[i] = -EBADF;
        /* Closing a pipe early (an oversized body) must stop its fetch with EPIPE, not kill us. */
        (void) signal(SIGPIPE, SIG_IGN);
        /* All at once: the connections and TLS handshakes overlap. */
        for (i = 0; i < n && r >= 0; i++) {
                r = http_fetch_start(urls[i], o, &f[i], &fd[i]);
                if (r < 0) {
                        http_url_display(urls[i], shown, sizeof shown);
                        r = err_prefix(r, "%s", shown);
                }
        }
        /* Read in order: a later body waits in its pipe (or its fetch waits for the reader). */
        for (i = 0; i < n && f[i]; i++) {
                /* After a failure the rest are only stopped (below): their messages would replace its. */
                if (r < 0)
                        break;
                http_url_display(urls[i], shown, sizeof shown);
                rr = read_full_fd(fd[i], max[i], &body[i], &len[i]);
                close(fd[i]);
                fd[i] = -EBADF;
                int q = http_fetch_finish(f[i], NULL);
                if (rr == -EFBIG)
                        r = err_set(EFBIG, "%s: larger than %zu bytes", shown, max[i]);
                else if (q < 0)
                        r = err_prefix(q, "%s", shown);
                else if (rr < 0)
                        r = err_set(rr, "%s: %s", shown, strerror(-rr));
                else if (ret_urls && !(where[i] = strdup(http_fetch_effective_url(f[i]) ?: urls[i])))
                        r = -ENOMEM;
        }
        for (i = 0; i < n; i++) {
                if (fd[i] >= 0)
                        close(fd[i]);
                http_fetch_free(f[i]);
                if (r < 0) {
                        free(body[i]);
                        free(where[i]);
                }
        }
        if (r < 0)
                return r;
        for (i = 0; i < n; i++) {
                ret[i] = body[i];
                if (ret_len)
                        ret_len[i] = len[i];
                if (ret_urls)
                        ret_urls[i] = where[i];
        }
        return 0;
}

int http_get(const char *url, const HttpFetchOptions *o, size_t max, char **ret, size_t *ret_len) {
        return http_get_all(&url, &max, 1, o, ret, ret_len, NULL);
}

static void curlu_freep(CURLU **u) {
        if (*u)
                curl_url_cleanup(*u);
}

int http_url_resolve(const char *base, const char *ref, char **ret) {
        _cleanup_(curlu_freep) CURLU *u = curl_url();
        char *out = NULL;

        if (!u)
                return -ENOMEM;
        if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK)
                return err_set(EINVAL, "not a URL: %s", base);
        /* Setting a URL on a handle that has one resolves it as a relative reference. */
        if (curl_url_set(u, CURLUPART_URL, ref, 0) != CURLUE_OK)
                return err_set(EINVAL, "cannot resolve '%s' against %s", ref, base);
        if (curl_url_get(u, CURLUPART_URL, &out, 0) != CURLUE_OK)
                return err_set(EINVAL, "cannot resolve '%s' against %s", ref, base);
        char *copy = strdup(out);
        curl_free(out);
        if (!copy)
                return -ENOMEM;
        *ret = copy;
        return 0;
}
