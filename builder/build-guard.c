/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "build-guard.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
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

/* The watcher is done with: the parent is about to exit, having waited for the build or cleaned up itself. */
static void watcher_stop(pid_t watcher) {
        if (watcher <= 0)
                return;
        (void) kill(watcher, SIGKILL);
        while (waitpid(watcher, NULL, 0) < 0 && errno == EINTR)
                ;
}

static _Noreturn void supervise(pid_t pid, pid_t watcher, const char *workdir, const sigset_t *set) {
        for (;;) {
                siginfo_t si;
                int status;

                int sig = sigwaitinfo(set, &si);
                if (sig < 0)
                        continue;
                if (sig == SIGCHLD) {
                        pid_t k = waitpid(pid, &status, WNOHANG);
                        if (k != pid) {
                                /* A watcher killed on its own: reaped, never signalled again (its pid may be reused). */
                                if (watcher > 0 && waitpid(watcher, NULL, WNOHANG) == watcher)
                                        watcher = 0;
                                continue;
                        }
                        watcher_stop(watcher);
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
                watcher_stop(watcher);
                (void) build_workdir_remove(workdir);
                die_of(sig);
        }
}

/* Whether a process of the group still runs: zombies do not count, as an init that does not reap (a
 * container's) may keep them. */
static bool group_runs(pid_t group) {
        DIR *d = opendir("/proc");
        struct dirent *de;
        bool runs = false;

        if (!d)
                return kill(-group, 0) == 0;
        while (!runs && (de = readdir(d))) {
                char path[16 + sizeof de->d_name], line[512], state;
                int pgrp;
                if (de->d_name[0] < '1' || de->d_name[0] > '9')
                        continue;
                snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
                _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
                ssize_t n = fd < 0 ? -1 : read(fd, line, sizeof line - 1);
                if (n <= 0)
                        continue;
                line[n] = 0;
                /* "PID (COMM) STATE PPID PGRP ...": COMM may hold anything, ')' included. */
                const char *p = strrchr(line, ')');
                runs = p && sscanf(p + 1, " %c %*d %d", &state, &pgrp) == 2 && pgrp == group && state != 'Z' && state != 'X';
        }
        closedir(d);
        return runs;
}

/*
 * The parent SIGKILLed (a CI job cancelled with kill -9 of its process group, which the build's group
 * is not in): the build process dies with it (PR_SET_PDEATHSIG), but the tools it started are its
 * children, not the parent's, and would run on into the work directory. The watcher, a third process
 * in a group of its own, so that the kill of the caller's group misses it, learns of the parent's
 * death the same way, kills the build's group until it is gone, removes the work directory and exits.
 */
static _Noreturn void watch(pid_t parent, pid_t group, const char *workdir) {
        sigset_t set;
        int sig;

        (void) setpgid(0, 0);
        /* Holds none of the caller's pipes open: a CI job reading the build's output ends with the build. */
        int null = open("/dev/null", O_RDWR | O_CLOEXEC);
        for (int fd = 0; null >= 0 && fd < 3; fd++)
                (void) dup2(null, fd);
        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        (void) sigprocmask(SIG_BLOCK, &set, NULL);
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
                (void) raise(SIGTERM);
        while ((sig = sigwaitinfo(&set, NULL)) < 0)
                ;
        /* Until nothing of the group runs (a tool may fork while it is killed), for 10 s at most. */
        for (unsigned i = 0; i < 1000 && kill(-group, SIGKILL) == 0 && group_runs(group); i++)
                (void) nanosleep(&(struct timespec) { .tv_nsec = 10 * 1000 * 1000 }, NULL);
        (void) build_workdir_remove(workdir);
        _exit(128 + sig);
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

        /* The build starts only once the watcher is there: a parent killed in between leaves no tool behind.
         * A socket, not a pipe: a write to a child already gone is EPIPE, never SIGPIPE. */
        int gate[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, gate) < 0) {
                int r = err_set(errno, "socketpair: %m");
                (void) sigprocmask(SIG_SETMASK, &old, NULL);
                return r;
        }
        pid_t parent = getpid();
        pid_t pid = fork();
        if (pid < 0) {
                int r = err_set(errno, "fork: %m");
                (void) close(gate[0]);
                (void) close(gate[1]);
                (void) sigprocmask(SIG_SETMASK, &old, NULL);
                return r;
        }
        if (pid == 0) {
                char go;
                /* Its own group, so that the parent's kill reaches mkfs and the other tools too. */
                (void) setpgid(0, 0);
                /* Out of the caller's group, a kill of it reaches the parent alone: die with it. */
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
                        _exit(128 + SIGKILL);
                (void) close(gate[1]);
                if (read(gate[0], &go, 1) != 1)
                        _exit(128 + SIGKILL);
                (void) close(gate[0]);
                if (sigprocmask(SIG_SETMASK, &old, NULL) < 0)
                        return err_set(errno, "sigprocmask: %m");
                return 0;
        }
        (void) setpgid(pid, pid);
        (void) close(gate[0]);
        pid_t watcher = fork();
        if (watcher == 0) {
                (void) close(gate[1]);
                watch(parent, pid, workdir);
        }
        int r = watcher < 0 ? err_set(errno, "fork: %m") : 0;
        if (r >= 0 && send(gate[1], "", 1, MSG_NOSIGNAL) != 1)
                r = err_set(errno, "cannot start the build: %m");
        (void) close(gate[1]);
        if (r < 0) {
                /* The child has not started: it reads EOF and exits. The caller goes on alone, as after a
                 * failed fork. */
                if (watcher > 0)
                        watcher_stop(watcher);
                while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                (void) sigprocmask(SIG_SETMASK, &old, NULL);
                return r;
        }
        supervise(pid, watcher, workdir, &set);
}
