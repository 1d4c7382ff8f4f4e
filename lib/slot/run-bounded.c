/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "run-bounded.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
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

static int read_tail(int fd, size_t max, char **ret) {
        off_t size = lseek(fd, 0, SEEK_END);
        if (size < 0)
                return negative_errno();
        off_t from = (size_t) size > max ? size - (off_t) max : 0;
        char *buf = malloc((size_t) (size - from) + 1);
        if (!buf)
                return -ENOMEM;
        ssize_t n = pread(fd, buf, (size_t) (size - from), from);
        if (n < 0)
                n = 0;
        buf[n] = 0;
        /* The state file and the console get plain text. */
        for (ssize_t i = 0; i < n; i++)
                if (buf[i] != '\n' && buf[i] != '\t' && (buf[i] < 0x20 || buf[i] > 0x7e))
                        buf[i] = '?';
        *ret = buf;
        return 0;
}

_noreturn_ static void child(char *const argv[], char *const extra_env[], int out) {
        (void) setpgid(0, 0);
        int in = open("/dev/null", O_RDONLY);
        if (in < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
                _exit(127);
        sigset_t all;
        sigemptyset(&all);
        (void) sigprocmask(SIG_SETMASK, &all, NULL);
        (void) signal(SIGPIPE, SIG_DFL);
        for (char *const *e = extra_env; e && *e; e++)
                (void) putenv(*e);
        execvp(argv[0], argv);
        dprintf(2, "cannot execute %s: %s\n", argv[0], strerror(errno));
        _exit(127);
}

int run_bounded(char *const argv[], char *const extra_env[], unsigned timeout_ms, size_t output_max,
                RunResult *ret) {
        _cleanup_close_ int out = memfd_create("abide-run", MFD_CLOEXEC);
        if (out < 0)
                return err_set(errno, "memfd_create: %m");

        pid_t pid = fork();
        if (pid < 0)
                return err_set(errno, "fork: %m");
        if (pid == 0)
                child(argv, extra_env, out);
        (void) setpgid(pid, pid);

        RunResult r = {};
        uint64_t deadline = now_ms() + timeout_ms;
        int status = 0;
        for (;;) {
                pid_t k = waitpid(pid, &status, WNOHANG);
                if (k < 0 && errno != EINTR) {
                        (void) kill(-pid, SIGKILL);
                        return err_set(errno, "waitpid: %m");
                }
                if (k == pid)
                        break;
                if (now_ms() >= deadline) {
                        r.timed_out = true;
                        (void) kill(-pid, SIGKILL);
                        (void) kill(pid, SIGKILL);
                        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                                ;
                        break;
                }
                (void) poll(NULL, 0, 10);
        }
        /* Stragglers the check left in its group go too. */
        (void) kill(-pid, SIGKILL);

        if (!r.timed_out) {
                if (WIFEXITED(status))
                        r.exit_status = WEXITSTATUS(status);
                else if (WIFSIGNALED(status))
                        r.signal = WTERMSIG(status);
        }
        int k = read_tail(out, output_max, &r.output);
        if (k < 0)
                return k;
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
