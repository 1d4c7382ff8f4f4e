/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "health.h"

#include <poll.h>
#include <stdint.h>
#include <time.h>

#include "basic/error.h"
#include "basic/shell-words.h"
#include "slot/run-bounded.h"
#include "slot/state.h"

void health_failure_done(HealthFailure *f) {
        free(f->check);
        free(f->output);
        *f = (HealthFailure) {};
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static int set_failure(HealthFailure *f, const char *check, const char *output) {
        HealthFailure n = { .check = strdup(check), .output = strdup(output) };
        if (!n.check || !n.output) {
                health_failure_done(&n);
                return -ENOMEM;
        }
        health_failure_done(f);
        *f = n;
        return 0;
}

/*
 * Runs one check; 1 passed, 0 failed (failure recorded), <0 error. cut: its
 * bound is what is left before the deadline, less than CheckTimeoutSec=. A
 * check so cut that times out gave no verdict of its own (a few ms may be
 * all it had: "timed out after 0.0 s", its output broken off), so a failure
 * an earlier round recorded stays, unless the check that failed has passed
 * since (*failure_passed): that failure is then not its last verdict, and
 * would blame it for the cut one.
 */
static int run_one(const char *name, char *const argv[], unsigned timeout_ms, bool cut, HealthFailure *failure,
                   bool *failure_passed) {
        RunResult rr = {};
        int r = run_bounded(argv, NULL, timeout_ms, STATE_OUTPUT_MAX - 64, &rr);
        if (r < 0)
                return r;
        if (run_result_ok(&rr)) {
                run_result_done(&rr);
                if (streq_ptr(failure->check, name))
                        *failure_passed = true;
                return 1;
        }

        if (rr.timed_out && cut && failure->check && !*failure_passed) {
                run_result_done(&rr);
                return 0;
        }
        _cleanup_free_ char *how = NULL, *text = NULL;
        r = run_result_describe(&rr, timeout_ms, &how);
        if (r >= 0) {
                /* Trailing white space goes, as from the console line that shows it. */
                size_t n = strlen(rr.output);
                while (n > 0 && (rr.output[n - 1] == ' ' || rr.output[n - 1] == '\t' || rr.output[n - 1] == '\n'))
                        n--;
                if (asprintf(&text, "%s%s%.*s", how, n > 0 ? ": " : "", (int) n, rr.output) < 0)
                        r = -ENOMEM;
        }
        run_result_done(&rr);
        if (r < 0)
                return r;
        r = set_failure(failure, name, text);
        if (r < 0)
                return r;
        *failure_passed = false;
        return 0;
}

int health_wait(const HealthOptions *o, HealthFailure *ret_failure) {
        _cleanup_(shell_words_freep) char **agent = NULL;
        char **scripts = NULL;
        size_t n_scripts = 0;
        HealthFailure failure = {};
        bool failure_passed = false;
        int r;

        if (o->agent_probe && *o->agent_probe) {
                r = shell_words_split(o->agent_probe, &agent);
                if (r < 0)
                        return err_prefix(r, "[Health] Agent=");
        }
        r = exec_dir_list(o->dirs, o->n_dirs, &scripts, &n_scripts);
        if (r < 0)
                return r;

        uint64_t deadline = now_ms() + o->timeout_ms;
        for (;;) {
                bool passed = true;
                for (size_t i = 0; passed && i < n_scripts + (agent ? 1 : 0); i++) {
                        uint64_t now = now_ms();
                        if (now >= deadline) {
                                if (!failure.check)
                                        r = set_failure(&failure, "deadline", "no check passed before the deadline");
                                passed = false;
                                break;
                        }
                        unsigned budget = (unsigned) MIN((uint64_t) o->check_timeout_ms, deadline - now);
                        bool cut = budget < o->check_timeout_ms;
                        /* The agent goes first: without it the device is not doing its job. */
                        if (agent && i == 0)
                                r = run_one("agent", agent, budget, cut, &failure, &failure_passed);
                        else {
                                char *path = scripts[i - (agent ? 1 : 0)];
                                char *argv[] = { path, NULL };
                                r = run_one(strrchr(path, '/') + 1, argv, budget, cut, &failure, &failure_passed);
                        }
                        if (r < 0)
                                goto finish;
                        passed = r > 0;
                }
                if (passed) {
                        r = 1;
                        break;
                }
                if (now_ms() + o->retry_ms >= deadline) {
                        r = 0;
                        break;
                }
                (void) poll(NULL, 0, (int) o->retry_ms);
        }

finish:
        strv_free_n(scripts, n_scripts);
        if (r == 0)
                *ret_failure = failure;
        else
                health_failure_done(&failure);
        return r;
}
