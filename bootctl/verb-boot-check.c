/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Runs once per boot, after the agent started. The boot entries on the ESP
 * decide; the state file only gains history, so a corrupt state file is set
 * aside rather than stopping the check (a trial slot must still be blessed
 * or rejected).
 */
#include <getopt.h>
#include <sys/reboot.h>

#include "basic/error.h"
#include "basic/opt-error.h"
#include "basic/process.h"
#include "ctl-fallback.h"
#include "ctl-floor.h"
#include "ctl-report.h"
#include "ctl.h"
#include "slot/health.h"
#include "slot/run-bounded.h"
#include "slot/slot-check.h"
#include "verbs.h"

#define HOOK_TIMEOUT_MS (60 * 1000)

static unsigned arg_timeout_sec = 0;
static bool arg_no_reboot = false;

static int parse_args(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "timeout", required_argument, NULL, 't' },
                { "no-reboot", no_argument, NULL, 'n' },
                {}
        };
        int c;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":ht:n", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("Usage: abidectl boot-check [--timeout S] [--no-reboot]\n\n"
                               "When the booted slot is on trial, waits up to S seconds (default [Health]\n"
                               "TimeoutSec=) for the agent's health probe and every check in health.d to\n"
                               "pass. Healthy: marks the slot good. Not healthy: records the failing check,\n"
                               "marks the slot bad and reboots (unless --no-reboot). On a good slot after\n"
                               "the other slot's trial failed, records and reports the rollback once.\n");
                        return 1;
                case 't': {
                        char *end;
                        errno = 0;
                        unsigned long v = strtoul(optarg, &end, 10);
                        if (errno || end == optarg || *end || optarg[0] == '-' || v == 0 || v > 86400)
                                return err_set(EINVAL, "invalid --timeout '%s' (seconds, 1..86400)", optarg);
                        arg_timeout_sec = (unsigned) v;
                        break;
                }
                case 'n':
                        arg_no_reboot = true;
                        break;
                default:
                        return opt_error(c, argv, options, "--help");
                }
        if (optind < argc)
                return err_set(EINVAL, "unexpected argument '%s'", argv[optind]);
        return 0;
}

/* A corrupt state file must not block the check: keep it aside, start a new history. */
static int load_state(Ctl *ctl, AbideState **ret) {
        int r = ctl_state_load(ctl, ret);
        if (r != -EBADMSG)
                return r;

        ctl_warn("%s; moved aside, starting a new history", err_message(r));
        _cleanup_free_ char *aside = NULL;
        if (asprintf(&aside, "%s.corrupt", ctl->config->state_file) < 0)
                return -ENOMEM;
        if (rename(ctl->config->state_file, aside) < 0)
                ctl_warn("cannot move %s aside: %m", ctl->config->state_file);
        err_clear();
        return state_new(ret);
}

static int rollback_reason(const CheckPlan *p, const SlotRecord *them, char **ret) {
        int k;
        if (p->rollback == ROLLBACK_HEALTH_FAILURE) {
                const char *out = them->failure.output ?: "";
                /* The last line says it best and keeps the reason one line. */
                size_t n = strlen(out);
                while (n > 0 && out[n - 1] == '\n')
                        n--;
                size_t start = n;
                while (start > 0 && out[start - 1] != '\n')
                        start--;
                k = asprintf(ret, "check '%s' failed: %.*s", them->failure.check, (int) (n - start), out + start);
        } else
                k = asprintf(ret, "no healthy boot in %u tries", p->rollback_tries);
        return k < 0 ? -ENOMEM : 0;
}

static void run_rollback_hooks(Ctl *ctl, const RollbackEvent *ev) {
        char *dirs[] = { ctl->config->rollback_hooks_dir };
        char **hooks = NULL;
        size_t n = 0;

        if (exec_dir_list(dirs, 1, &hooks, &n) < 0) {
                ctl_warn("%s", err_message(-EIO));
                return;
        }
        _cleanup_free_ char *e_from = NULL, *e_to = NULL, *e_version = NULL, *e_reason = NULL;
        if (asprintf(&e_from, "ABIDE_ROLLBACK_FROM=%s", slot_to_string(ev->from)) < 0 ||
            asprintf(&e_to, "ABIDE_ROLLBACK_TO=%s", slot_to_string(ev->to)) < 0 ||
            asprintf(&e_version, "ABIDE_ROLLBACK_VERSION=%s", ev->version ?: "") < 0 ||
            asprintf(&e_reason, "ABIDE_ROLLBACK_REASON=%s", ev->reason ?: "") < 0) {
                strv_free_n(hooks, n);
                return;
        }
        char *env[] = { e_from, e_to, e_version, e_reason, NULL };
        for (size_t i = 0; i < n; i++) {
                char *argv[] = { hooks[i], NULL };
                RunResult rr = {};
                _cleanup_free_ char *how = NULL;
                if (run_bounded(argv, env, HOOK_TIMEOUT_MS, 512, &rr) < 0)
                        ctl_warn("on-rollback hook %s: %s", hooks[i], err_message(-EIO));
                else if (!run_result_ok(&rr) && run_result_describe(&rr, HOOK_TIMEOUT_MS, &how) >= 0)
                        ctl_warn("on-rollback hook %s failed (%s)", hooks[i], how);
                run_result_done(&rr);
        }
        strv_free_n(hooks, n);
}

/* Records the rollback (once) and reports an unreported one: stdout, then the hooks. */
static int handle_rollback(Ctl *ctl, Slot booted, AbideState *st) {
        BootEntryInfo e[_SLOT_MAX];
        CheckPlan p;
        int r;

        r = ctl_entries(ctl, e);
        if (r < 0)
                return r;
        BootCounter counters[_SLOT_MAX] = { e[0].counter, e[1].counter };
        boot_entry_infos_done(e);
        slot_check_plan(booted, counters, st, &p);

        if (p.rollback != ROLLBACK_NONE) {
                _cleanup_free_ char *reason = NULL;
                Slot other = slot_other(booted);
                r = rollback_reason(&p, &st->slots[other], &reason);
                if (r < 0)
                        return r;
                r = state_record_rollback(st, other, reason, ctl_now());
                if (r < 0)
                        return r;
                r = ctl_state_save(ctl, st);
                if (r < 0)
                        return r;
                /* Spooled now, sent when the network lets it: a device that rolled back
                 * while offline still says why. */
                ctl_report(ctl, &(ReportEvent) {
                        .type = REPORT_ROLLED_BACK, .from_version = st->slots[booted].version,
                        .to_version = st->rollback.version, .slot = other, .tries_done = counters[other].done,
                        .tries_left_set = true, .tries_left = 0, .reason = reason });
        }
        if (!p.report_rollback)
                return 0;

        const RollbackEvent *ev = &st->rollback;
        printf("Rolled back from slot %s (version %s) to slot %s: %s\n", slot_to_string(ev->from),
               ev->version ?: "unknown", slot_to_string(ev->to), ev->reason ?: "");
        fflush(stdout);
        run_rollback_hooks(ctl, ev);
        st->rollback.reported = true;
        return ctl_state_save(ctl, st);
}

/*
 * The loader selected one slot's entry and another slot runs: the firmware
 * refused to start the selected image (with Secure Boot, a UKI not signed
 * for its db: tampered, damaged or unsigned) and started the other slot's
 * UKI itself through abide's fallback boot options (docs/secure-boot.md).
 * The selected slot cannot boot; it is marked bad, so the loader stops
 * choosing it, and the fallback is recorded and reported as a rollback.
 */
static int handle_firmware_fallback(Ctl *ctl, Slot booted, AbideState *st) {
        BootEntryInfo e[_SLOT_MAX];
        Slot selected;

        int r = boot_selected_slot(ctl->boot, &selected);
        if (r < 0) {
                err_clear();
                return 0;
        }
        if (selected == booted)
                return 0;
        r = ctl_entries(ctl, e);
        if (r < 0)
                return r;
        BootCounterState was = e[selected].counter.state, running = e[booted].counter.state;
        _cleanup_free_ char *file = e[selected].file ? strdup(e[selected].file) : NULL;
        boot_entry_infos_done(e);
        if (was == BOOT_COUNTER_MISSING || was == BOOT_COUNTER_BAD)
                return 0;

        _cleanup_free_ char *reason = NULL;
        r = boot_selected_failure(ctl->boot, selected, file, booted, &reason);
        if (r < 0)
                return r;
        /* The slot that runs is bad itself (booted as the loader's last resort): marking the selected one bad
         * would leave no slot preferred over a bad one, and a read that failed once would cost a good slot for
         * good. Left as it is: the next boot tries it first again. */
        if (running == BOOT_COUNTER_BAD) {
                printf("%s; slot %s is bad itself: slot %s left as it is\n", reason, slot_to_string(booted),
                       slot_to_string(selected));
                fflush(stdout);
                return 0;
        }
        r = boot_mark_bad(ctl->boot, selected);
        if (r < 0)
                return r;
        r = state_set_failure(st, selected, "firmware", reason, ctl_now());
        if (r >= 0)
                r = state_record_rollback(st, selected, reason, ctl_now());
        if (r >= 0)
                r = ctl_state_save(ctl, st);
        if (r < 0)
                return r;
        ctl_report(ctl, &(ReportEvent) {
                .type = REPORT_ROLLED_BACK, .from_version = st->slots[booted].version,
                .to_version = st->rollback.version, .slot = selected, .tries_left_set = true, .tries_left = 0,
                .check = "firmware", .reason = reason });
        return 0;
}

static void reboot_now(Ctl *ctl) {
        char *argv[] = { ctl->config->reboot_command, NULL };
        fflush(stdout);
        if (process_run(argv, NULL, NULL) >= 0)
                return;
        ctl_warn("%s; rebooting directly", err_message(-EIO));
        sync();
        (void) reboot(RB_AUTOBOOT);
}

/* An image below the anti-rollback floor is never blessed: recorded, marked bad, rebooted away from. */
static int reject_below_floor(Ctl *ctl, Slot booted, AbideState *st, int reason) {
        _cleanup_free_ char *why = strdup(err_message(reason));
        if (!why)
                return -ENOMEM;
        int r = state_set_failure(st, booted, "security-floor", why, ctl_now());
        if (r >= 0) {
                state_set_bad(st, booted);
                r = ctl_state_save(ctl, st);
        }
        if (r < 0)
                ctl_warn("cannot record the failure: %s", err_message(r));
        r = boot_mark_bad(ctl->boot, booted);
        if (r < 0)
                return r;
        ctl_report(ctl, &(ReportEvent) {
                .type = REPORT_MARKED_BAD, .from_version = st->slots[slot_other(booted)].version,
                .to_version = st->slots[booted].version, .slot = booted, .check = "security-floor", .reason = why });
        return err_set(EPERM, "%s; marked bad%s", why, arg_no_reboot ? "" : ", rebooting");
}

static int trial(Ctl *ctl, Slot booted, const BootEntryInfo *entry, AbideState *st, const CtlImage *img,
                 bool *ret_healthy) {
        const AbideConfig *c = ctl->config;
        HealthFailure failure = {};
        unsigned timeout = arg_timeout_sec ?: c->health_timeout_sec;
        HealthOptions o = {
                .agent_probe = c->agent_probe,
                .dirs = c->health_dirs,
                .n_dirs = ELEMENTSOF(c->health_dirs),
                .timeout_ms = timeout * 1000,
                .check_timeout_ms = MIN(c->check_timeout_sec, timeout) * 1000,
                .retry_ms = 1000,
        };
        int r;

        r = ctl_floor_check_booted(ctl, st, booted, img);
        if (r < 0)
                return reject_below_floor(ctl, booted, st, r);

        printf("Slot %s is on trial (%u tries left): waiting up to %u s for the health checks\n",
               slot_to_string(booted), entry->counter.left, timeout);
        fflush(stdout);
        r = health_wait(&o, &failure);
        if (r < 0)
                return r;

        if (r > 0) {
                r = boot_mark_good(ctl->boot, booted);
                if (r < 0)
                        return r;
                state_set_good(st, booted);
                if (entry->version && !st->slots[booted].version)
                        st->slots[booted].version = strdup(entry->version);
                printf("Slot %s is healthy: marked good\n", slot_to_string(booted));
                (void) ctl_floor_bless(ctl, st, booted, img);
                *ret_healthy = true;
                /* The entry is good: the bless stands, and a healthy slot is not rebooted for the state
                 * file's sake; the next boot-check brings the file up to date (sync_booted_good). */
                r = ctl_state_save(ctl, st);
                if (r < 0) {
                        ctl_warn("slot %s is good, but the state file does not say so yet: %s", slot_to_string(booted),
                                 err_message(r));
                        err_clear();
                }
                /* The only success a report ever says: after the trial, never at install. */
                ctl_report(ctl, &(ReportEvent) {
                        .type = REPORT_BLESSED, .from_version = st->slots[slot_other(booted)].version,
                        .to_version = st->slots[booted].version ?: entry->version, .slot = booted,
                        .tries_done = entry->counter.done, .tries_left_set = true, .tries_left = entry->counter.left });
                return 0;
        }

        /* History first: if we die before the entry is marked, the loader still counts down. */
        r = state_set_failure(st, booted, failure.check, failure.output, ctl_now());
        if (r >= 0) {
                state_set_bad(st, booted);
                r = ctl_state_save(ctl, st);
        }
        if (r < 0)
                ctl_warn("cannot record the failure: %s", err_message(r));
        int k = boot_mark_bad(ctl->boot, booted);
        if (k >= 0)
                ctl_report(ctl, &(ReportEvent) {
                        .type = REPORT_MARKED_BAD, .from_version = st->slots[slot_other(booted)].version,
                        .to_version = st->slots[booted].version ?: entry->version, .slot = booted,
                        .tries_done = entry->counter.done, .tries_left_set = true, .tries_left = 0,
                        .check = failure.check, .reason = failure.output });
        _cleanup_free_ char *msg = NULL;
        if (asprintf(&msg, "slot %s is not healthy: check '%s' failed: %s", slot_to_string(booted), failure.check,
                     failure.output) < 0)
                msg = NULL;
        health_failure_done(&failure);
        if (k < 0)
                return k;
        *ret_healthy = false;
        /* One line: the output may have several. */
        for (char *p = msg; p && *p; p++)
                if (*p == '\n')
                        *p = ' ';
        return err_set(EIO, "%s; marked bad%s", msg ?: "unhealthy", arg_no_reboot ? "" : ", rebooting");
}

int verb_boot_check(int argc, char *argv[]) {
        _cleanup_(ctl_done) Ctl ctl = {};
        _cleanup_(state_freep) AbideState *st = NULL;
        _cleanup_close_ int lock = -EBADF;
        _cleanup_(ctl_image_done) CtlImage img = {};
        BootEntryInfo e[_SLOT_MAX];
        Slot booted;
        CheckPlan p;
        int r;

        r = parse_args(argc, argv);
        if (r != 0)
                return r < 0 ? r : 0;

        r = ctl_open(&ctl);
        if (r < 0)
                return r;
        r = ctl_booted(&ctl, &booted);
        if (r < 0)
                return r;
        /* Before the state and the entries are read: two runs at once would each decide from what
         * they read, and the later one undo the other's verdict (bless a slot just marked bad). */
        r = ctl_state_lock(&ctl, &lock);
        if (r < 0)
                return r;
        r = load_state(&ctl, &st);
        if (r < 0)
                return r;
        /* Before the plan: a slot the firmware refused is bad whatever its counter said. */
        r = handle_firmware_fallback(&ctl, booted, st);
        if (r < 0)
                ctl_warn("cannot record the firmware's fallback: %s", err_message(r));
        r = ctl_entries(&ctl, e);
        if (r < 0)
                return r;

        BootCounter counters[_SLOT_MAX] = { e[0].counter, e[1].counter };
        slot_check_plan(booted, counters, st, &p);
        ctl_running_image(&ctl, &img);

        switch (p.action) {
        case CHECK_RUN_HEALTH: {
                bool healthy = false;
                r = trial(&ctl, booted, &e[booted], st, &img, &healthy);
                boot_entry_infos_done(e);
                if (r < 0) {
                        if (!arg_no_reboot) {
                                fprintf(stderr, "abidectl: boot-check: %s\n", err_message(r));
                                reboot_now(&ctl);
                                return 1;
                        }
                        return r;
                }
                break;
        }
        case CHECK_NOTHING: {
                /* Booted although below the floor (an initramfs that did not see it): no bless stands. */
                r = ctl_floor_check_booted(&ctl, st, booted, &img);
                if (r < 0) {
                        boot_entry_infos_done(e);
                        r = reject_below_floor(&ctl, booted, st, r);
                        if (!arg_no_reboot) {
                                fprintf(stderr, "abidectl: boot-check: %s\n", err_message(r));
                                reboot_now(&ctl);
                                return 1;
                        }
                        return r;
                }
                bool save = p.sync_booted_good;
                /* Good entry, state still on trial: a bless whose state and report a power cut (or a
                 * kill) took after the entry's rename. The fleet counts the trial open until it hears
                 * "blessed": say it now, before the state closes the trial (twice beats never). */
                if (p.sync_booted_good && st->slots[booted].state == SLOT_STATE_PENDING && st->slots[booted].trial)
                        ctl_report(&ctl, &(ReportEvent) {
                                .type = REPORT_BLESSED, .from_version = st->slots[slot_other(booted)].version,
                                .to_version = st->slots[booted].version ?: e[booted].version, .slot = booted });
                if (p.sync_booted_good) {
                        state_set_good(st, booted);
                        if (e[booted].version) {
                                free(st->slots[booted].version);
                                st->slots[booted].version = strdup(e[booted].version);
                        }
                }
                boot_entry_infos_done(e);
                printf("Slot %s is good: nothing to check\n", slot_to_string(booted));
                /* A good slot was blessed: the floor is at least its security version. */
                if (ctl_floor_bless(&ctl, st, booted, &img))
                        save = true;
                if (save) {
                        r = ctl_state_save(&ctl, st);
                        if (r < 0)
                                return r;
                }
                break;
        }
        case CHECK_BOOTED_BAD:
                printf("Slot %s was booted although marked bad: leaving it as it is\n", slot_to_string(booted));
                boot_entry_infos_done(e);
                break;
        case CHECK_NO_ENTRY:
        default:
                printf("Slot %s has no boot entry: nothing to mark\n", slot_to_string(booted));
                boot_entry_infos_done(e);
                break;
        }

        /* The firmware's way to a good slot when a UKI it is given is refused; kept every boot. */
        ctl_fallback_options(&ctl);
        return handle_rollback(&ctl, booted, st);
}
