/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "init-log.h"

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/reboot.h>
#include <time.h>

static int console_fd = STDERR_FILENO;
static bool test_mode;
static const char *volatile current_step;
static volatile unsigned current_sec;

void init_log_open(void) {
        if (test_mode)
                return;
        int fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
        if (fd >= 0)
                console_fd = fd;
}

void init_log_set_test_mode(bool b) {
        test_mode = b;
}

bool init_log_test_mode(void) {
        return test_mode;
}

_printf_(2, 0) static void vlog(int test_fd, const char *fmt, va_list ap) {
        char line[1024];
        int n = snprintf(line, sizeof line, "abide-init: ");
        int k = vsnprintf(line + n, sizeof line - (size_t) n - 1, fmt, ap);
        size_t len = (size_t) n + (k < 0 ? 0 : MIN((size_t) k, sizeof line - (size_t) n - 2));
        line[len++] = '\n';
        /* One write per line, so that lines never mix with each other. The kernel's messages can still
         * land inside one on a serial console: they go to the UART at once, while the line may wait in
         * the tty's buffer (the QEMU tests read the console through untangle(), qemu/abideqemu.py). */
        (void) !write(test_mode ? test_fd : console_fd, line, len);
}

void init_log(const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vlog(STDOUT_FILENO, fmt, ap);
        va_end(ap);
}

/* Async-signal-safe: called from the SIGALRM handler too. */
_noreturn_ static void reboot_now(void) {
        if (test_mode)
                _exit(1);
        sync();
        /* Lets the serial console drain before the machine goes. */
        struct timespec ts = { .tv_sec = 2 };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
        (void) reboot(RB_AUTOBOOT);
        /* Only reached without CAP_SYS_BOOT; PID 1 exiting panics the kernel, which reboots with panic=N. */
        _exit(1);
}

void init_fail(const char *fmt, ...) {
        va_list ap;
        alarm(0);
        va_start(ap, fmt);
        vlog(STDERR_FILENO, fmt, ap);
        va_end(ap);
        reboot_now();
}

static void append(char *buf, size_t size, size_t *n, const char *s) {
        while (*s && *n + 1 < size)
                buf[(*n)++] = *s++;
}

static void on_alarm(int sig) {
        char buf[256], num[16];
        size_t n = 0, k = 0;
        unsigned v = current_sec;

        do
                num[k++] = (char) ('0' + v % 10);
        while ((v /= 10) && k < sizeof num);
        char rev[sizeof num + 1];
        for (size_t i = 0; i < k; i++)
                rev[i] = num[k - 1 - i];
        rev[k] = 0;

        append(buf, sizeof buf, &n, "abide-init: ");
        append(buf, sizeof buf, &n, current_step ?: "?");
        append(buf, sizeof buf, &n, ": timed out after ");
        append(buf, sizeof buf, &n, rev);
        append(buf, sizeof buf, &n, " s\n");
        (void) !write(test_mode ? STDERR_FILENO : console_fd, buf, n);
        reboot_now();
}

void init_step_deadline(const char *step, unsigned sec) {
        static bool installed;

        if (!installed) {
                struct sigaction sa = { .sa_handler = on_alarm };
                (void) sigaction(SIGALRM, &sa, NULL);
                installed = true;
        }
        current_step = step;
        current_sec = sec;
        alarm(sec);
}
