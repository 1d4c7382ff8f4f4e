/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "run-bounded.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "basic/error.h"

void run_result_done(RunResult *r) {
        free(r->output);
        *r = (RunResult) {};
}

bool run_result_ok(const RunResult *r) {
        return !r->timed_out && r->signal == 0 && r->exit_status == 0;
}

int run_result_describe(const RunResult *r, unsigned timeout_ms, char **ret) {
        int k;
        if (r->timed_out)
                k = asprintf(ret, "timed out after %.1f s", timeout_ms / 1000.0);
        else if (r->signal)
                k = asprintf(ret, "killed by signal %d", r->signal);
        else
                k = asprintf(ret, "exit %d", r->exit_status);
        return k < 0 ? -ENOMEM : 0;
}

static uint64_t now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* The last max bytes written through the pipe: a check may print without bound, we keep only the tail. */
typedef struct Tail {
        char *buf;
        size_t len, max;
} Tail;

static void tail_add(Tail *t, const char *p, size_t n) {
        if (n >= t->max) {
                memcpy(t->buf, p + n - t->max, t->max);
                t->len = t->max;
                return;
        }
        if (t->len + n > t->max) {
                size_t drop = t->len + n - t->max;
                memmove(t->buf, t->buf + drop, t->len - drop);
                t->len -= drop;
        }
        memcpy(t->buf + t->len, p, n);
        t->len += n;
}

/*
 * Reads what the pipe has now, at most 1 MiB: a writer as fast as we read must not keep us from
 * the deadline, nor one that left the process group keep us here after the check ended.
 */
static void tail_drain(Tail *t, int fd) {
        char chunk[16384];
        for (unsigned i = 0; i < 64; i++) {
                ssize_t n = read(fd, chunk, sizeof chunk);
                if (n <= 0)
                        return;
                tail_add(t, chunk, (size_t) n);
        }
}

static char *tail_text(Tail *t) {
        /* The state file and the console get plain text. */
        for (size_t i = 0; i < t->len; i++)
                if (t->buf[i] != '\n' && t->buf[i] != '\t' && (t->buf[i] < 0x20 || t->buf[i] > 0x7e))
                        t->buf[i] = '?';
        t->buf[t->len] = 0;
        return TAKE_PTR(t->buf);
}

_noreturn_ static void child(char *const argv[], char *const extra_env[], int out) {
        (void) setpgid(0, 0);
        int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
                _exit(127);
        sigset_t all;
        sigemptyset(&all);
        (void) sigprocmask(SIG_SETMASK, &all, NULL);
        /* Ignored signals survive exec: a shell's background job (abide-boot-check.sh runs boot-check
         * as one) ignores SIGINT and SIGQUIT, and a check must not inherit that, as a service started
         * by systemd does not. */
        for (int sig = 1; sig < NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void) signal(sig, SIG_DFL);
        for (char *const *e = extra_env; e && *e; e++)
                (void) putenv(*e);
        execvp(argv[0], argv);
        dprintf(2, "cannot execute %s: %s\n", argv[0], strerror(errno));
        _exit(127);
}

/* The parent of pid from /proc/PID/stat (the field after the parenthesised name); -1 when gone. */
static pid_t parent_of(pid_t pid) {
        char path[64], line[512];
        _cleanup_fclose_ FILE *f = NULL;

        (void) snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        f = fopen(path, "re");
        if (!f || !fgets(line, sizeof line, f))
                return -1;
        const char *e = strrchr(line, ')');
        char state;
        int ppid;
        if (!e || sscanf(e + 1, " %c %d", &state, &ppid) != 2)
                return -1;
        return ppid;
}

/* One pass over /proc: kills and reaps every process whose parent is us; how many there were. */
static unsigned kill_children_once(void) {
        pid_t self = getpid();
        unsigned found = 0;
        DIR *d = opendir("/proc");
        struct dirent *de;

        if (!d)
                return 0;
        while ((de = readdir(d))) {
                char *end;
                long pid = strtol(de->d_name, &end, 10);
                if (*end || pid <= 0 || (pid_t) pid == self || parent_of((pid_t) pid) != self)
                        continue;
                (void) kill((pid_t) pid, SIGKILL);
                while (waitpid((pid_t) pid, NULL, 0) < 0 && errno == EINTR)
                        ;
                found++;
        }
        closedir(d);
        return found;
}

/*
 * Kills what a check left running outside its process group (setsid(), a double fork): as a child
 * subreaper we adopt each such process when its parent dies, and the group's members that outlive
 * the check too. Every process whose parent is us is one of those: the callers run one check at a
 * time and have no other children then. Until the group pgid is gone and a pass over /proc finds
 * no child, 1 s at the most (killing one may hand us its children).
 */
static void kill_leftovers(pid_t pgid) {
        for (unsigned i = 0; i < 100; i++) {
                unsigned n = kill_children_once();
                if (n == 0 && kill(-pgid, 0) < 0)
                        return;
                if (n == 0)
                        (void) poll(NULL, 0, 10);
        }
}

int run_bounded(char *const argv[], char *const extra_env[], unsigned timeout_ms, size_t output_max,
                RunResult *ret) {
        _cleanup_close_ int rfd = -EBADF, wfd = -EBADF;
        _cleanup_free_ char *buf = malloc(output_max + 1);
        int p[2];

        if (!buf)
                return -ENOMEM;
        /* A pipe, not a file: what a check prints is read as it comes and only its tail kept, so
         * one printing without end cannot fill the memory of a device (a memfd holds it all). */
        if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
                return err_set(errno, "pipe: %m");
        rfd = p[0];
        wfd = p[1];
        /* Only our end is non-blocking: a check's writes wait for us to read, they never fail. */
        if (fcntl(wfd, F_SETFL, 0) < 0)
                return err_set(errno, "fcntl: %m");

        /* Adopt what the check leaves outside its group, to kill it at the end (kill_leftovers()). */
        int was_reaper = 0;
        (void) prctl(PR_GET_CHILD_SUBREAPER, &was_reaper);
        bool reaper = was_reaper || prctl(PR_SET_CHILD_SUBREAPER, 1) >= 0;

        pid_t pid = fork();
        if (pid < 0)
                return err_set(errno, "fork: %m");
        if (pid == 0)
                child(argv, extra_env, wfd);
        (void) setpgid(pid, pid);
        wfd = safe_close(wfd);

        Tail tail = { .buf = TAKE_PTR(buf), .max = output_max };
        RunResult r = {};
        uint64_t deadline = now_ms() + timeout_ms;
        int status = 0;
        bool eof = false;
        for (;;) {
                pid_t k = waitpid(pid, &status, WNOHANG);
                if (k < 0 && errno != EINTR) {
                        (void) kill(-pid, SIGKILL);
                        free(tail.buf);
                        return err_set(errno, "waitpid: %m");
                }
                if (k == pid)
                        break;
                uint64_t now = now_ms();
                if (now >= deadline) {
                        r.timed_out = true;
                        (void) kill(-pid, SIGKILL);
                        (void) kill(pid, SIGKILL);
                        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                                ;
                        break;
                }
                /* Woken by output, or every 10 ms to see whether it exited. */
                struct pollfd pfd = { .fd = rfd, .events = POLLIN };
                if (eof || poll(&pfd, 1, (int) MIN(deadline - now, (uint64_t) 10)) <= 0) {
                        if (eof)
                                (void) poll(NULL, 0, 10);
                        continue;
                }
                tail_drain(&tail, rfd);
                if (pfd.revents & (POLLHUP | POLLERR) && !(pfd.revents & POLLIN))
                        eof = true;
        }
        /* Stragglers the check left in its group go too, and those it let out of it. */
        (void) kill(-pid, SIGKILL);
        if (reaper) {
                kill_leftovers(pid);
                if (!was_reaper)
                        (void) prctl(PR_SET_CHILD_SUBREAPER, 0);
        }
        /* What is in the pipe now; a process that left the group and holds it is not waited for. */
        tail_drain(&tail, rfd);

        if (!r.timed_out) {
                if (WIFEXITED(status))
                        r.exit_status = WEXITSTATUS(status);
                else if (WIFSIGNALED(status))
                        r.signal = WTERMSIG(status);
        }
        r.output = tail_text(&tail);
        *ret = r;
        return 0;
}

void strv_free_n(char **v, size_t n) {
        if (!v)
                return;
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int exec_dir_list(char *const dirs[], size_t n_dirs, char ***ret_paths, size_t *ret_n) {
        char **v = NULL;
        size_t n = 0;
        int r = 0;

        for (size_t i = 0; i < n_dirs && r >= 0; i++) {
                if (!dirs[i])
                        continue;
                size_t first = n;
                DIR *d = opendir(dirs[i]);
                if (!d) {
                        if (errno == ENOENT)
                                continue;
                        r = err_set(errno, "cannot read %s: %m", dirs[i]);
                        break;
                }
                struct dirent *de;
                while ((de = readdir(d))) {
                        char *path;
                        struct stat st;
                        if (de->d_name[0] == '.')
                                continue;
                        if (asprintf(&path, "%s/%s", dirs[i], de->d_name) < 0) {
                                r = -ENOMEM;
                                break;
                        }
                        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || access(path, X_OK) < 0) {
                                free(path);
                                continue;
                        }
                        char **nv = realloc(v, (n + 2) * sizeof *v);
                        if (!nv) {
                                free(path);
                                r = -ENOMEM;
                                break;
                        }
                        v = nv;
                        v[n++] = path;
                        v[n] = NULL;
                }
                closedir(d);
                /* Each directory in name order, the earlier directory's all first: the same
                 * prefix, so the paths sort as their names. */
                if (n > first)
                        qsort(v + first, n - first, sizeof *v, cmp_str);
        }
        if (r < 0) {
                strv_free_n(v, n);
                return r;
        }
        *ret_paths = v;
        *ret_n = n;
        return 0;
}
