/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "install-url.h"

#include <inttypes.h>
#include <signal.h>

#include "basic/error.h"
#include "net/http-fetch.h"
#include "net/http-policy.h"

struct InstallUrl {
        HttpFetch *fetch;
        HttpFetchStats stats;
        bool tty;
        char display[1024];
};

/* From the fetch thread: one line per retry, with its reason; stderr is line-buffered by the lock in stdio. */
static void on_retry(const HttpRetryEvent *e, void *userdata) {
        InstallUrl *u = userdata;
        char size[32] = "?";

        if (e->size != HTTP_SIZE_UNKNOWN)
                (void) snprintf(size, sizeof size, "%" PRIu64, e->size);
        (void) fprintf(stderr, "%sabidectl: install: %s: %s; retry %u in %.1f s from byte %" PRIu64 " of %s\n",
                       u->tty ? "\r\033[K" : "", u->display, e->reason, e->retry, (double) e->delay_ms / 1000, e->offset,
                       size);
}

int install_url_open(const AbideConfig *c, const char *url, InstallUrl **ret, int *ret_fd) {
        _cleanup_(install_url_freep) InstallUrl *u = calloc(1, sizeof *u);
        int r;

        if (!u)
                return -ENOMEM;
        http_url_display(url, u->display, sizeof u->display);
        u->tty = isatty(STDERR_FILENO);
        /* A refused bundle closes the pipe early: the download then stops on EPIPE, not on a signal. */
        (void) signal(SIGPIPE, SIG_IGN);

        HttpFetchOptions o = {
                .stall_timeout_sec = c->net_stall_timeout_sec,
                .retries = c->net_retries,
                .timeout_sec = c->net_timeout_sec,
                .connect_timeout_sec = c->net_connect_timeout_sec,
                .max_redirects = c->net_max_redirects,
                .allow_http = c->net_allow_http,
                .ca_file = c->net_ca_file,
                .client_cert = c->net_client_cert,
                .client_key = c->net_client_key,
                .headers_file = c->net_headers_file,
                .on_retry = on_retry,
                .userdata = u,
        };
        r = http_fetch_start(url, &o, &u->fetch, ret_fd);
        if (r < 0)
                return err_prefix(r, "%s", u->display);
        *ret = TAKE_PTR(u);
        return 0;
}

int install_url_finish(InstallUrl *u, int *fd, int r) {
        *fd = safe_close(*fd);
        int k = http_fetch_finish(u->fetch, &u->stats);
        /* The reader only saw the stream end; the download knows why. */
        if (k < 0 && k != -ECANCELED)
                return err_prefix(k, "%s", u->display);
        return r;
}

void install_url_print_stats(InstallUrl *u) {
        printf("Fetched %" PRIu64 " bytes in %u requests for a %" PRIu64 "-byte bundle", u->stats.received,
               u->stats.requests, u->stats.size != HTTP_SIZE_UNKNOWN ? u->stats.size : u->stats.delivered);
        if (u->stats.restarts > 0)
                printf(" (the server ignored Range %u times: restarted from byte 0)", u->stats.restarts);
        printf("\n");
}

InstallUrl *install_url_free(InstallUrl *u) {
        if (!u)
                return NULL;
        http_fetch_free(u->fetch);
        free(u);
        return NULL;
}
