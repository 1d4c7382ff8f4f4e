/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "install-url.h"

#include <inttypes.h>
#include <signal.h>

#include "basic/error.h"
#include "ctl.h"
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

static void fetch_options(const AbideConfig *c, InstallUrl *u, HttpFetchOptions *ret) {
        ctl_fetch_options(c, ret);
        ret->on_retry = on_retry;
        ret->userdata = u;
}

static int url_new(const char *url, InstallUrl **ret) {
        InstallUrl *u = calloc(1, sizeof *u);
        if (!u)
                return -ENOMEM;
        http_url_display(url, u->display, sizeof u->display);
        u->tty = isatty(STDERR_FILENO);
        /* A refused bundle closes the pipe early: the download then stops on EPIPE, not on a signal. */
        (void) signal(SIGPIPE, SIG_IGN);
        *ret = u;
        return 0;
}

int install_url_delta_open(const AbideConfig *c, const char *url, InstallUrl **ret, DeltaSource **ret_src) {
        _cleanup_(install_url_freep) InstallUrl *u = NULL;
        HttpFetchOptions o;
        int r;

        r = url_new(url, &u);
        if (r < 0)
                return r;
        fetch_options(c, u, &o);
        r = delta_source_open_url(url, &o, c->net_delta_connections, ret_src);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(u);
        return 0;
}

void install_delta_print(DeltaSource *src, const InstallResult *res, bool dry_run) {
        const DeltaSummary *s = &res->summary;
        DeltaStats st;
        bool url = delta_source_is_url(src);

        delta_source_stats(src, &st);
        uint64_t bytes = st.fetched;
        unsigned requests = st.requests;
        if (dry_run) {
                /* What is read already (headers, manifest, root.verity, root.verity-sig when it came with the
                 * headers), and what the install would add. */
                bytes += (s->to_fetch + s->gap_blocks) * 4096 + s->other_fetch - s->other_held;
                requests += (unsigned) (s->fetch_requests + s->other_fetch_count);
                printf("Would %s %" PRIu64 " bytes", url ? "fetch" : "read", bytes);
        } else
                printf("%s %" PRIu64 " bytes", url ? "Fetched" : "Read", bytes);
        if (url)
                printf(" in %u requests", requests);
        printf(" for a %" PRIu64 "-byte bundle\n", st.size);
        printf("Delta into slot %s: root.img %" PRIu64 " blocks: %" PRIu64 " %sfetched in %" PRIu64 " ranges, %" PRIu64
               " already in place, %" PRIu64 " copied from the running slot, %" PRIu64 " moved within slot %s; "
               "root.verity %" PRIu64 " bytes %sfetched, %" PRIu64 " from the device's trees; other payloads %" PRIu64 " bytes %sfetched, %" PRIu64 " bytes from the ESP\n",
               slot_to_string(res->slot), s->blocks, s->to_fetch, dry_run ? "to be " : "", s->fetch_ranges, s->in_place,
               s->from_running, s->from_target, slot_to_string(res->slot), s->verity_bytes, dry_run ? "to be " : "",
               s->verity_local, s->other_fetch,
               dry_run ? "to be " : "", s->other_local);
        if (s->gap_blocks > 0)
                printf("%" PRIu64 " block(s) the device has %s fetched as well, to join runs into fewer requests\n",
                       s->gap_blocks, dry_run ? "would be" : "were");
        if (st.one_range[0])
                printf("The server did not answer several ranges in one request (%s): one range a request\n", st.one_range);
        if (st.lowered_to > 0)
                printf("The server refused a request (HTTP %ld) with %u on their way: %u at once from then on\n",
                       st.lowered_status, st.lowered_from, st.lowered_to);
        if (s->refetched > 0)
                printf("%" PRIu64 " local block(s) did not match their leaf hash and were fetched instead\n", s->refetched);
        if (s->refetched_remote > 0)
                printf("%" PRIu64 " fetched block(s) did not match their leaf hash and were fetched again\n", s->refetched_remote);
        if (s->refetched_other > 0)
                printf("%" PRIu64 " fetched payload(s) did not match the manifest and were fetched again\n", s->refetched_other);
        if (s->running_tree)
                printf("Running slot's blocks not used: %s\n", s->running_tree);
        if (s->target_tree)
                printf("Slot %s's old blocks not used: %s\n", slot_to_string(res->slot), s->target_tree);
}

int install_url_open(const AbideConfig *c, const char *url, InstallUrl **ret, int *ret_fd) {
        _cleanup_(install_url_freep) InstallUrl *u = NULL;
        HttpFetchOptions o;
        int r;

        r = url_new(url, &u);
        if (r < 0)
                return r;
        fetch_options(c, u, &o);
        r = http_fetch_start(url, &o, &u->fetch, ret_fd);
        if (r < 0)
                return err_prefix(r, "%s", u->display);
        *ret = TAKE_PTR(u);
        return 0;
}

int install_url_finish(InstallUrl *u, int *fd, int r) {
        *fd = safe_close(*fd);
        int k = http_fetch_finish(u->fetch, &u->stats);
        if (k >= 0 || k == -ECANCELED)
                return r;
        /* The install went through: every signed byte came and was verified, and the entry is written.
         * libarchive ends a stream cut right after the last payload as a bundle without its end-of-archive
         * marker (docs/manifest.md); what the download says after that changes nothing on the device. */
        if (r >= 0) {
                ctl_warn("%s: %s, after the whole bundle was read and verified", u->display, err_message(k));
                err_clear();
                return r;
        }
        /* The reader only saw the stream end; the download knows why. */
        return err_prefix(k, "%s", u->display);
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
