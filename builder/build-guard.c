/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "build-guard.h"

#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/error.h"
#include "build-context.h"

static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP };

static _Noreturn void die_of(int sig) {
        sigset_t s;

        (void) signal(sig, SIG_DFL);
        sigemptyset(&s);
        sigaddset(&s, sig);
        (void) sigprocmask(SIG_UNBLOCK, &s, NULL);
        (void) raise(sig);
        _exit(128 + sig);
}

static _Noreturn void supervise(pid_t pid, const char *workdir, const sigset_t *set) {
        for (;;) {
                siginfo_t si;
                int status;

                int sig = sigwaitinfo(set, &si);
                if (sig < 0)
                        continue;
                if (sig == SIGCHLD) {
                        pid_t k = waitpid(pid, &status, WNOHANG);
                        if (k != pid)
                                continue;
                        if (WIFEXITED(status))
                                _exit(WEXITSTATUS(status));
                        /* Killed (OOM, a signal to it alone): nothing cleaned up after it. */
                        (void) kill(-pid, SIGKILL);
                        (void) build_workdir_remove(workdir);
                        die_of(WTERMSIG(status));
                }
                (void) kill(-pid, SIGKILL);
                (void) kill(pid, SIGKILL);      /* should its group not have been made */
                while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                        ;
                (void) build_workdir_remove(workdir);
                die_of(sig);
        }
}

int build_guard(const char *workdir) {
        sigset_t set, old;

        sigemptyset(&set);
        sigaddset(&set, SIGCHLD);
        for (size_t i = 0; i < ELEMENTSOF(stop_signals); i++) {
                struct sigaction sa;
                /* One ignored on purpose (nohup, a shell's background job) stays ignored. */
                if (sigaction(stop_signals[i], NULL, &sa) < 0)
                        return err_set(errno, "sigaction: %m");
                if (sa.sa_handler != SIG_IGN)
                        sigaddset(&set, stop_signals[i]);
        }
        if (sigprocmask(SIG_BLOCK, &set, &old) < 0)
                return err_set(errno, "sigprocmask: %m");
        /* Nothing buffered may be written twice. */
        (void) fflush(NULL);

        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0) {
                int r = err_set(errno, "fork: %m");
                (void) sigprocmask(SIG_SETMASK, &old, NULL);
                return r;
        }
        if (pid == 0) {
                /* Its own group, so that the parent's kill reaches mkfs and the other tools too. */
                (void) setpgid(0, 0);
                /* Out of the caller's group, a kill of it reaches the parent alone: die with it. */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(128 + SIGKILL);
                if (sigprocmask(SIG_SETMASK, &old, NULL) < 0)
                        return err_set(errno, "sigprocmask: %m");
                return 0;
        }
        (void) setpgid(pid, pid);
        supervise(pid, workdir, &set);
}
