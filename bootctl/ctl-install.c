/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ctl-install.h"

#include <fcntl.h>

#include "basic/error.h"
#include "ctl-report.h"
#include "install-url.h"
#include "net/http-policy.h"

static int install_from_stream(Ctl *ctl, const char *path, bool remote, const InstallOptions *o, InstallResult *res) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_(install_url_freep) InstallUrl *url = NULL;
        int r;

        if (streq(path, "-"))
                fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
        else if (!remote)
                fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 && !remote)
                return err_set(errno, "cannot open %s: %m", streq(path, "-") ? "standard input" : path);
        if (!streq(path, "-") && !remote)
                (void) posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);

        /* A URL: the download's pipe, read as standard input is (docs/network.md). */
        if (remote && (r = install_url_open(ctl->config, path, &url, &fd)) < 0)
                return r;
        r = install_run(ctl->config, ctl->boot, fd, o, res);
        if (url)
                r = install_url_finish(url, &fd, r);
        if (r < 0)
                return r;
        printf("Installed %s into slot %s (%s)\n", res->version, slot_to_string(res->slot), res->entry);
        if (url)
                install_url_print_stats(url);
        return 0;
}

/* 1: done; 0: the server cannot serve ranges, stream the whole bundle instead. */
static int install_delta(Ctl *ctl, const char *path, bool remote, const InstallOptions *o, InstallResult *res) {
        _cleanup_(install_url_freep) InstallUrl *url = NULL;
        _cleanup_(delta_source_freep) DeltaSource *src = NULL;
        int r;

        if (remote)
                r = install_url_delta_open(ctl->config, path, &url, &src);
        else
                r = delta_source_open_file(path, &src);
        if (r >= 0)
                r = install_run_delta(ctl->config, ctl->boot, src, o, res);
        if (r == -EOPNOTSUPP && remote && !o->dry_run) {
                /* Nothing of the slot depends on the attempt: the stream starts over. */
                char shown[1024];
                http_url_display(path, shown, sizeof shown);
                ctl_warn("%s: %s; fetching the whole bundle", shown, err_message(r));
                err_clear();
                install_result_done(res);
                *res = (InstallResult) {};
                return 0;
        }
        if (r < 0)
                return r;
        if (!o->dry_run)
                printf("Installed %s into slot %s (%s)\n", res->version, slot_to_string(res->slot), res->entry);
        install_delta_print(src, res, o->dry_run);
        return 1;
}

/* What the install reports (docs/report.md): started once the manifest was accepted, then installed or failed. */
typedef struct InstallReport {
        Ctl *ctl;
        const InstallOptions *caller;
        bool started;
        Slot slot;
        char *version;
        unsigned tries;
} InstallReport;

static void report_begin(Slot target, const char *version, unsigned tries, void *userdata) {
        InstallReport *ir = userdata;

        if (ir->caller->on_begin)
                ir->caller->on_begin(target, version, tries, ir->caller->userdata);
        /* A delta the server could not serve starts over as a stream: one start. */
        if (ir->started)
                return;
        ir->started = true;
        ir->slot = target;
        ir->tries = tries;
        ir->version = strdup(version);
        ctl_report(ir->ctl, &(ReportEvent) {
                .type = REPORT_INSTALL_STARTED, .to_version = version, .slot = target });
}

static void report_end(InstallReport *ir, int r, const InstallResult *res) {
        if (r >= 0) {
                ctl_report(ir->ctl, &(ReportEvent) {
                        .type = REPORT_INSTALLED, .to_version = res->version, .slot = res->slot,
                        .tries_left_set = true, .tries_left = ir->tries });
                return;
        }
        _cleanup_free_ char *why = strdup(err_message(r));
        ctl_report(ir->ctl, &(ReportEvent) {
                .type = REPORT_INSTALL_FAILED, .to_version = ir->version, .slot = ir->started ? ir->slot : _SLOT_INVALID,
                .reason = why ?: "install failed" });
        /* The verb reports the cause once, as it was. */
        (void) err_set(-r, "%s", why ?: "install failed");
}

static void state_wait(const char *why, void *userdata) {
        (void) userdata;
        ctl_warn("%s; waiting for it", why);
}

int ctl_install(Ctl *ctl, const char *path, const InstallOptions *caller, bool want_delta, bool full, InstallResult *ret) {
        _cleanup_(install_result_done) InstallResult res = {};
        InstallReport ir = { .ctl = ctl, .caller = caller, .slot = _SLOT_INVALID };
        InstallOptions opts = *caller;
        const InstallOptions *o = &opts;
        bool remote = http_is_url(path);
        int r = 0;

        opts.on_state_wait = state_wait;
        /* What the install's messages call the bundle; a URL without its user:password@. */
        char shown[1024];
        if (streq(path, "-"))
                opts.bundle_name = "standard input";
        else if (remote) {
                http_url_display(path, shown, sizeof shown);
                opts.bundle_name = shown;
        } else
                opts.bundle_name = path;
        /* A dry run is no install: nothing is reported. */
        if (!caller->dry_run) {
                opts.on_begin = report_begin;
                opts.userdata = &ir;
        }

        bool delta = remote ? ctl->config->net_delta && !full : want_delta;
        if (o->dry_run)
                delta = true;
        if (delta)
                r = install_delta(ctl, path, remote, o, &res);
        if (r == 0)
                r = install_from_stream(ctl, path, remote, o, &res);
        if (!o->dry_run)
                report_end(&ir, r, &res);
        free(ir.version);
        if (r < 0)
                return r;
        if (ret) {
                *ret = res;
                res = (InstallResult) {};
        }
        return 0;
}
