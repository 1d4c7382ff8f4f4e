/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "process.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "error.h"
#include "fileio.h"

#define STDERR_KEEP (64 * 1024)

static void last_line(char *buf, size_t n, const char **ret, int *ret_len) {
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
                n--;
        size_t start = n;
        while (start > 0 && buf[start - 1] != '\n')
                start--;
        *ret = buf + start;
        *ret_len = (int) (n - start);
}

int process_run(char *const argv[], char *const extra_env[], const char *stdout_path) {
        _cleanup_close_ int errfd = -EBADF;
        char errpath[] = "/tmp/abide-stderr.XXXXXX";

        errfd = mkostemp(errpath, O_CLOEXEC);
        if (errfd < 0)
                return err_set(errno, "cannot create a temporary file: %m");
        (void) unlink(errpath);

        pid_t pid = fork();
        if (pid < 0)
                return err_set(errno, "fork: %m");
        if (pid == 0) {
                int in = open("/dev/null", O_RDONLY);
                int out = open(stdout_path ? stdout_path : "/dev/null",
                               stdout_path ? O_WRONLY | O_CREAT | O_TRUNC : O_WRONLY, 0644);
                if (in < 0 || out < 0)
                        _exit(127);
                if (dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(errfd, 2) < 0)
                        _exit(127);
                (void) signal(SIGPIPE, SIG_DFL);
                for (char *const *e = extra_env; e && *e; e++)
                        (void) putenv(*e);
                execvp(argv[0], argv);
                dprintf(2, "cannot execute: %s\n", strerror(errno));
                _exit(127);
        }

        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return err_set(errno, "waitpid: %m");

        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
                return 0;

        char buf[STDERR_KEEP];
        off_t size = lseek(errfd, 0, SEEK_END);
        off_t from = size > (off_t) sizeof buf - 1 ? size - (off_t) sizeof buf + 1 : 0;
        ssize_t n = pread(errfd, buf, sizeof buf - 1, from);
        if (n < 0)
                n = 0;
        buf[n] = 0;
        const char *line;
        int len;
        last_line(buf, (size_t) n, &line, &len);

        if (WIFSIGNALED(status))
                return err_set(ECHILD, "%s killed by signal %d: %.*s", argv[0], WTERMSIG(status), len, line);
        return err_set(ECHILD, "%s failed (exit %d): %.*s", argv[0], WEXITSTATUS(status), len, line);
}
