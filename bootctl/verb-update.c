/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <sys/random.h>
#include <time.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/opt-error.h"
#include "basic/process.h"
#include "channel/channel.h"
#include "ctl-floor.h"
#include "ctl-install.h"
#include "ctl.h"
#include "net/http-get.h"
#include "report/report.h"
#include "slot/image-identity.h"
#include "slot/update-state.h"
#include "status.h"
#include "update.h"
#include "verbs.h"

/* The channel fetch tries this often at most: the timer's backoff covers longer outages. */
#define CHANNEL_FETCH_RETRIES 2
#define CHANNEL_SIG_MAX (64 * 1024)
/* A clock before this has never been set (dead RTC): windows cannot be judged by it. */
#define CLOCK_PLAUSIBLE 1577836800 /* 2020-01-01 */

typedef enum RebootPolicy {
        REBOOT_NOW,
        REBOOT_WINDOW,
        REBOOT_NEVER,
} RebootPolicy;

typedef struct Args {
        bool dry_run, json, timer;
        const char *reboot;
} Args;

static uint64_t now_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static int reboot_policy_from_string(const char *s, RebootPolicy *ret) {
        if (streq(s, "now"))
                *ret = REBOOT_NOW;
        else if (streq(s, "window"))
                *ret = REBOOT_WINDOW;
        else if (streq(s, "never"))
                *ret = REBOOT_NEVER;
        else
                return err_set(EINVAL, "--reboot must be now, window or never: %s", s);
        return 0;
}

/* Reads and verifies channel.json against the release trust store, then parses it; ret_url is
 * where it came from once redirects were followed, the base of its relative bundle references. */
static int channel_fetch(Ctl *ctl, Channel **ret, char **ret_signer, char **ret_url) {
        const AbideConfig *c = ctl->config;
        _cleanup_free_ char *json = NULL, *sig = NULL, *sig_url = NULL, *signer = NULL, *where = NULL,
                            *sig_where = NULL;
        _cleanup_(trust_store_freep) TrustStore *trust = NULL;
        _cleanup_(channel_freep) Channel *ch = NULL;
        size_t json_len, sig_len;
        char shown[1024];
        int r;

        HttpFetchOptions o;
        ctl_fetch_options(c, &o);
        o.retries = MIN(c->net_retries, (unsigned) CHANNEL_FETCH_RETRIES);
        http_url_display(c->update_channel, shown, sizeof shown);
        /* ".sig" goes at the end of the path: a query ("?token=...") or a fragment stays after it. */
        size_t path_end = strcspn(c->update_channel, "?#");
        if (asprintf(&sig_url, "%.*s.sig%s", (int) path_end, c->update_channel, c->update_channel + path_end) < 0)
                return -ENOMEM;

        if (c->update_channel_name && (r = channel_name_validate(c->update_channel_name)) < 0)
                return err_prefix(r, "[Update] ChannelName=");
        /* The keys first: a device without them cannot accept any channel, so fetch nothing. */
        r = install_trust_load(c, &trust);
        if (r < 0)
                return r;
        const char *urls[2] = { c->update_channel, sig_url };
        const size_t max[2] = { CHANNEL_MAX_SIZE, CHANNEL_SIG_MAX };
        char *bodies[2], *wheres[2];
        size_t lens[2];
        r = http_get_all(urls, max, 2, &o, bodies, lens, wheres);
        if (r < 0)
                return err_prefix(r, "channel");
        json = bodies[0], json_len = lens[0], where = wheres[0];
        sig = bodies[1], sig_len = lens[1], sig_where = wheres[1];
        r = trust_verify_cms(trust, json, json_len, (const uint8_t *) sig, sig_len, &signer);
        if (r < 0)
                return err_prefix(r, "channel %s", shown);
        /* Only signed bytes are parsed. */
        r = channel_parse(json, json_len, &ch);
        if (r < 0)
                return err_prefix(r, "channel %s", shown);
        /* Signed by a release key is not enough: another channel's files (edge's, served at
         * stable's URL) are signed too. Before any decision, as the signature. */
        r = channel_check_name(ch, c->update_channel_name);
        if (r < 0)
                return err_prefix(r, "channel %s", shown);
        *ret = TAKE_PTR(ch);
        *ret_signer = TAKE_PTR(signer);
        *ret_url = TAKE_PTR(where);
        return 0;
}

static int machine_id_load(const char *path, char ret[static 33]) {
        _cleanup_free_ char *text = NULL;
        size_t len;
        int r;

        r = read_full_file(path, 4096, &text, &len);
        if (r < 0)
                return err_set(r, "machine-id %s: %s", path, strerror(-r));
        while (len > 0 && text[len - 1] == '\n')
                len--;
        bool ok = len == 32;
        for (size_t i = 0; ok && i < len; i++)
                ok = (text[i] >= '0' && text[i] <= '9') || (text[i] >= 'a' && text[i] <= 'f');
        if (!ok)
                return err_set(EINVAL, "machine-id %s: not 32 lowercase hex digits", path);
        memcpy(ret, text, 32);
        ret[32] = '\0';
        return 0;
}

/* The wall clock, 0 when it was never set. */
static uint64_t device_clock(void) {
        uint64_t now = (uint64_t) time(NULL);
        return now >= CLOCK_PLAUSIBLE ? now : 0;
}

int update_device_load(Ctl *ctl, UpdateDevice *d, const UpdateState *us) {
        _cleanup_(state_freep) AbideState *st = NULL;
        BootEntryInfo e[_SLOT_MAX];
        Slot booted;
        int r;

        r = machine_id_load(ctl->config->update_machine_id, d->machine_id);
        if (r < 0)
                return r;
        r = image_identity_load(ctl->config->image_info ?: IMAGE_INFO_PATH, &d->image);
        if (r < 0)
                return r;
        r = ctl_state_load(ctl, &st);
        if (r < 0)
                return r;
        SecurityFloor floor;
        ctl_floor(ctl, st, &floor);
        r = ctl_booted(ctl, &booted);
        if (r < 0)
                return r;
        r = ctl_entries(ctl, e);
        if (r < 0)
                return r;

        d->booted = booted;
        d->booted_state = status_slot_state(&e[booted], &st->slots[booted]);
        d->booted_tries_left = e[booted].counter.left;
        Slot other = slot_other(booted);
        d->other = other;
        d->other_state = status_slot_state(&e[other], &st->slots[other]);
        const char *v = d->other_state == SLOT_STATE_EMPTY ? NULL : status_slot_version(&e[other], &st->slots[other]);
        r = v && !(d->other_version = strdup(v)) ? -ENOMEM : 0;
        boot_entry_infos_done(e);
        if (r < 0)
                return r;

        d->dev = (ChannelDevice) {
                .machine_id = d->machine_id,
                .compatible = d->image.compatible,
                .running_version = d->image.version,
                .floor = floor.value,
                .last_serial = us->last_serial,
                .other_version = d->other_version,
                .other_pending = d->other_state == SLOT_STATE_PENDING,
                .other_bad = d->other_state == SLOT_STATE_BAD,
                .now = device_clock(),
        };
        return 0;
}

void update_device_done(UpdateDevice *d) {
        image_identity_done(&d->image);
        free(d->other_version);
        d->other_version = NULL;
}

static int reboot_run(Ctl *ctl) {
        char *argv[] = { ctl->config->reboot_command, NULL };
        fflush(stdout);
        int r = process_run(argv, NULL, NULL);
        if (r < 0)
                return err_prefix(r, "reboot");
        return 0;
}

/* Installs the release from its bundle URL (relative to channel_url, where the channel came from),
 * with the channel's manifest SHA-256 enforced. */
static int update_install(Ctl *ctl, const Channel *ch, const char *channel_url, const ChannelDecision *dec, bool json) {
        const ChannelRelease *rel = dec->release;
        _cleanup_free_ char *url = NULL;
        int r;

        r = http_url_resolve(channel_url, rel->bundle, &url);
        if (r < 0)
                return err_prefix(r, "release %s", rel->version);

        ReportEvent ev = {
                .type = REPORT_UPDATE_FOUND,
                .to_version = rel->version,
                .slot = _SLOT_INVALID,
                .channel_serial = ch->serial,
                .channel_serial_set = true,
        };
        r = report_emit(ctl->config, &ev, REPORT_SEND_BUDGET_MS);
        if (r < 0)
                ctl_warn("cannot spool the report: %s", err_message(r));

        /* With --json, stdout carries one JSON object: the install's lines go to stderr. */
        int saved = -EBADF;
        fflush(stdout);
        if (json && (saved = dup(STDOUT_FILENO)) >= 0)
                (void) dup2(STDERR_FILENO, STDOUT_FILENO);
        InstallOptions o = { .expect_manifest_sha256 = rel->manifest_sha256 };
        r = ctl_install(ctl, url, &o, false, false, NULL);
        fflush(stdout);
        if (saved >= 0) {
                (void) dup2(saved, STDOUT_FILENO);
                close(saved);
        }
        if (r < 0)
                return err_prefix(r, "release %s", rel->version);
        return 0;
}

static int run(Ctl *ctl, const Args *a, RebootPolicy policy, UpdateState *us, UpdateReport *rep) {
        _cleanup_(channel_freep) Channel *ch = NULL;
        _cleanup_(update_device_done) UpdateDevice dev = {};
        _cleanup_free_ char *channel_url = NULL;
        ChannelDecision dec;
        int r;

        uint64_t t0 = now_usec();
        r = channel_fetch(ctl, &ch, &rep->signer, &channel_url);
        if (r < 0)
                return r;
        rep->fetch_usec = now_usec() - t0;

        r = update_device_load(ctl, &dev, us);
        if (r < 0)
                return r;
        channel_decide(ch, &dev.dev, &dec);
        rep->decide_usec = now_usec() - t0;
        const ChannelRelease *rel = dec.release;

        /* A boot on trial is not blessed yet: the other slot is its fallback, never overwritten before the bless. */
        const char *verdict = channel_verdict_to_string(dec.verdict);
        char reason[sizeof dec.reason + 128];
        bool on_trial = dec.verdict == CHANNEL_INSTALL && dev.booted_state == SLOT_STATE_PENDING;
        if (on_trial) {
                verdict = "booted-on-trial";
                (void) snprintf(reason, sizeof reason,
                                "booted slot %s is on trial (%u tries left), slot %s is its fallback: %s waits for the bless",
                                slot_to_string(dev.booted), dev.booted_tries_left, slot_to_string(dev.other), rel->version);
        } else
                (void) snprintf(reason, sizeof reason, "%s", dec.reason);

        r = update_report_decision(rep, ctl->config, ch, &dev, &dec, verdict, reason, a->dry_run, a->json);
        if (r < 0)
                return r;
        if (a->dry_run)
                return 0;

        /* Accepted (signed, not a replay, not expired): its serial is the new replay floor, for this channel. */
        bool refused = dec.verdict == CHANNEL_REPLAY || dec.verdict == CHANNEL_EXPIRED;
        if (!refused) {
                r = update_state_accept(us, ctl->config->update_channel, ch->serial);
                if (r < 0)
                        return r;
        }
        r = update_state_set_decision(us, verdict, reason, rel ? rel->version : NULL);
        if (r < 0)
                return r;
        if (dec.verdict == CHANNEL_REPLAY)
                return err_set(ESTALE, "channel serial %" PRIu64 " is below %" PRIu64 ", the last one accepted: refused as a replay",
                               ch->serial, us->last_serial);
        /* Nothing but this run's update withheld: a failure for the backoff, as a refused signature. */
        if (dec.verdict == CHANNEL_EXPIRED)
                return err_set(ESTALE, "channel serial %" PRIu64 " expired at %" PRIu64 " and the device clock is %" PRIu64
                               ": refused, nothing installed (its publisher re-signs it: abide-build channel refresh)",
                               ch->serial, ch->expires, dev.dev.now);

        bool reboot = false;
        if (on_trial)
                return 0;
        if (dec.verdict == CHANNEL_INSTALL) {
                r = update_install(ctl, ch, channel_url, &dec, a->json);
                if (r < 0)
                        return r;
                rep->installed = true;
                free(us->reboot_deferred);
                us->reboot_deferred = NULL;
                reboot = true;
        } else if (dec.verdict == CHANNEL_ALREADY_PENDING && policy != REBOOT_NEVER && us->reboot_deferred &&
                   streq(us->reboot_deferred, rel->version))
                /* Installed earlier outside the window, or its reboot command failed: the reboot is still owed. */
                reboot = true;
        if (!reboot)
                return 0;

        /* As the decision treats the window: a clock known to be wrong does not hold the device back.
         * The clock of now, not of the decision: an install can outlast the window. */
        uint64_t now = device_clock();
        bool clock_wrong = now == 0 || now < ch->updated;
        if (policy == REBOOT_NEVER)
                rep->reboot = "never";
        else if (policy == REBOOT_WINDOW && !clock_wrong && !channel_window_contains(&rel->window, now)) {
                rep->reboot = "deferred";
                free(us->reboot_deferred);
                us->reboot_deferred = strdup(rel->version);
                if (!us->reboot_deferred)
                        return -ENOMEM;
        } else {
                free(us->reboot_deferred);
                us->reboot_deferred = NULL;
                rep->reboot = "now";
                rep->reboot_pending = true;
        }
        return 0;
}

/* Each poll drains what an outage left in the report spool (docs/report.md); it never fails the run. */
static void send_reports(const AbideConfig *c) {
        if (!c->report_url)
                return;
        int r = report_send_now(c, REPORT_SEND_BUDGET_MS, NULL);
        if (r < 0)
                ctl_warn("reports kept in %s: %s", c->report_spool, err_message(r));
}

static uint64_t random_u64(void) {
        uint64_t v = 0;
        if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t) sizeof v)
                v = now_usec();
        return v;
}

/*
 * A corrupt update state must not stop updates for good on a device nobody
 * visits: it is kept aside as STATE.corrupt (not by a dry run, which writes
 * nothing) and the run starts afresh. What is lost: the replay floor (the
 * next signed channel is taken whatever its serial, docs/channel.md), the
 * backoff and the decision history.
 */
static int load_update_state(const char *path, bool dry_run, UpdateState *ret) {
        int r = update_state_load(path, ret);
        if (r != -EBADMSG)
                return r;

        if (dry_run) {
                ctl_warn("%s; starting afresh", err_message(r));
                err_clear();
                *ret = (UpdateState) {};
                return 0;
        }
        ctl_warn("%s; moved aside, starting afresh", err_message(r));
        _cleanup_free_ char *aside = NULL;
        if (asprintf(&aside, "%s.corrupt", path) < 0)
                return -ENOMEM;
        if (rename(path, aside) < 0)
                return err_set(errno, "cannot move the corrupt %s aside: %m", path);
        err_clear();
        *ret = (UpdateState) {};
        return 0;
}

int verb_update(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "dry-run", no_argument, NULL, 'n' },
                { "json", no_argument, NULL, 'j' },
                { "timer", no_argument, NULL, 'T' },
                { "reboot", required_argument, NULL, 'r' },
                {}
        };
        _cleanup_(ctl_done) Ctl ctl = {};
        _cleanup_(update_state_done) UpdateState us = {};
        _cleanup_(update_report_done) UpdateReport rep = {};
        _cleanup_close_ int lock = -EBADF;
        Args a = {};
        RebootPolicy policy;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":hnj", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("Usage: abidectl update [--dry-run] [--json] [--reboot now|window|never] [--timer]\n\n"
                               "Fetches the channel ([Update] Channel=) and its signature, verifies it against\n"
                               "the release keys and its signed name against [Update] ChannelName=, refuses a\n"
                               "serial below the last one accepted and an expired channel, decides for\n"
                               "this device (release, floor, rollout bucket, window, the other slot) and\n"
                               "installs the release into the slot not booted, then reboots as [Update]\n"
                               "Reboot= says (docs/channel.md).\n\n"
                               "  --dry-run          print the decision and why, install nothing, record nothing\n"
                               "  --json             the decision as one JSON object on stdout\n"
                               "  --reboot POLICY    now, window (only inside the release's window) or never\n"
                               "  --timer            as the timer runs it: nothing before the backoff's next\n"
                               "                     attempt, nothing when no channel is configured\n");
                        return 0;
                case 'n':
                        a.dry_run = true;
                        break;
                case 'j':
                        a.json = true;
                        break;
                case 'T':
                        a.timer = true;
                        break;
                case 'r':
                        a.reboot = optarg;
                        break;
                default:
                        return opt_error(c, argv, options, "--help");
                }
        if (optind < argc)
                return err_set(EINVAL, "unexpected argument '%s'", argv[optind]);
        if (a.reboot && (r = reboot_policy_from_string(a.reboot, &policy)) < 0)
                return r;

        r = ctl_open(&ctl);
        if (r < 0)
                return r;
        const AbideConfig *cf = ctl.config;
        if (!a.reboot && (r = reboot_policy_from_string(cf->update_reboot, &policy)) < 0)
                return err_prefix(r, "[Update] Reboot=");
        /* Reports a dead network left in the spool (a rollback's) drain on the timer's schedule (docs/report.md). */
        if (a.timer && !a.dry_run && cf->report_url) {
                (void) report_send_now(cf, REPORT_SEND_BUDGET_MS, NULL);
                err_clear();
        }
        if (!cf->update_channel) {
                if (a.timer) {
                        printf("No [Update] Channel= configured: nothing to do\n");
                        return 0;
                }
                return err_set(EINVAL, "no channel: set [Update] Channel= in abide.conf");
        }
        /* One run at a time, from reading the state to writing it (a dry run writes nothing). */
        if (!a.dry_run) {
                r = update_state_lock(cf->update_state, &lock);
                if (r == -EBUSY && a.timer) {
                        printf("Another abidectl update is running: nothing to do\n");
                        err_clear();
                        return 0;
                }
                if (r < 0)
                        return r;
        }
        r = load_update_state(cf->update_state, a.dry_run, &us);
        if (r < 0)
                return r;
        update_state_use_channel(&us, cf->update_channel);

        uint64_t now = (uint64_t) time(NULL), wait;
        if (a.timer)
                switch (update_state_wait(&us, now, cf->update_interval_sec, &wait)) {
                case UPDATE_WAIT_DUE:
                        break;
                case UPDATE_WAIT_BACKOFF:
                        printf("Backing off after %u failure(s): next attempt in %" PRIu64 " s (%s)\n", us.failures,
                               wait, us.last_error ?: "");
                        return 0;
                case UPDATE_WAIT_CLOCK_BACK:
                        ctl_warn("backoff ignored: the last check (%" PRIu64 ") is later than the clock (%" PRIu64
                                 "), which went back",
                                 us.last_check, now);
                        break;
                case UPDATE_WAIT_CLOCK_AHEAD:
                        ctl_warn("backoff ignored: its next attempt is %" PRIu64 " s away, more than the longest backoff (%" PRIu64
                                 " s); the clock was ahead when it was recorded",
                                 wait, update_backoff_max_sec(cf->update_interval_sec));
                        break;
                }

        r = run(&ctl, &a, policy, &us, &rep);
        if (a.dry_run) {
                if (r < 0)
                        return r;
                update_report_finish(&rep, a.json);
                return 0;
        }

        /* Recorded whatever happened, and before the reboot. */
        _cleanup_free_ char *why = r < 0 ? strdup(err_message(r)) : NULL;
        us.last_check = now;
        int q = 0;
        if (r < 0)
                q = update_state_fail(&us, why ?: "out of memory", now, cf->update_interval_sec, random_u64());
        else
                update_state_succeed(&us);
        if (q >= 0)
                q = update_state_save(&us, cf->update_state);
        if (q < 0)
                ctl_warn("cannot record the update state: %s", err_message(q));
        if (r >= 0)
                update_report_finish(&rep, a.json);
        /* A run by hand sends the spool too (the timer's did before the channel). */
        if (!a.timer) {
                fflush(stdout);
                send_reports(cf);
        }
        if (r < 0)
                return err_set(r, "%s", why ?: "out of memory");

        if (!rep.reboot_pending)
                return 0;
        r = reboot_run(&ctl);
        if (r < 0) {
                /* Not rebooted: a failed run for the backoff, and the pending slot (the version decided
                 * on) still owed its reboot, which the next run that finds it already pending makes. */
                _cleanup_free_ char *failed = strdup(err_message(r));
                q = update_state_fail(&us, failed ?: "out of memory", now, cf->update_interval_sec, random_u64());
                if (q >= 0 && us.version) {
                        free(us.reboot_deferred);
                        us.reboot_deferred = strdup(us.version);
                        q = us.reboot_deferred ? 0 : -ENOMEM;
                }
                if (q >= 0)
                        q = update_state_save(&us, cf->update_state);
                if (q < 0)
                        ctl_warn("cannot record the update state: %s", err_message(q));
                return err_set(r, "%s", failed ?: "out of memory");
        }
        return 0;
}
