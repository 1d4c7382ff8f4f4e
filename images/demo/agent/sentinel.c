/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sentinel: the demo "security agent" baked into abide demo images. It
 * loads a content file, runs as a daemon with a heartbeat, and answers
 * --health. Content variants reproduce the ways a bad agent update takes a
 * fleet down (crash, kernel panic, hung boot), so abide's rollback can be
 * shown against them.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "content.h"

#define DEFAULT_CONTENT "/etc/sentinel/content.def"
#define DEFAULT_RUN_DIR "/run/sentinel"
#define DEFAULT_MAX_AGE 5

static const char *arg_content = DEFAULT_CONTENT;
static const char *arg_run_dir = DEFAULT_RUN_DIR;
static unsigned arg_max_age = DEFAULT_MAX_AGE;
static volatile sig_atomic_t stop;

static void on_term(int sig) {
        stop = 1;
}

static int run_path(char *buf, size_t n, const char *name) {
        if ((size_t) snprintf(buf, n, "%s/%s", arg_run_dir, name) >= n) {
                fprintf(stderr, "sentinel: run directory path too long: %s\n", arg_run_dir);
                return -ENAMETOOLONG;
        }
        return 0;
}

/* Written under a temporary name and renamed, so --health never reads half a file. */
static int write_run_file(const char *name, const char *text) {
        char path[4096], tmp[4200];

        if (run_path(path, sizeof path, name) < 0)
                return -ENAMETOOLONG;
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        FILE *f = fopen(tmp, "we");
        if (!f)
                return -errno;
        fputs(text, f);
        if (fclose(f) != 0 || rename(tmp, path) < 0) {
                int r = -errno;
                (void) unlink(tmp);
                return r;
        }
        return 0;
}

static void remove_run_file(const char *name) {
        char path[4096];

        if (run_path(path, sizeof path, name) == 0)
                (void) unlink(path);
}

static int heartbeat(void) {
        char text[64];

        snprintf(text, sizeof text, "%lld\n", (long long) time(NULL));
        return write_run_file("heartbeat", text);
}

/* The user-space stand-in for a kernel-mode agent faulting on bad content. */
static _Noreturn void panic_kernel(void) {
        fprintf(stderr, "sentinel: content variant panic: crashing the kernel through sysrq\n");
        int fd = open("/proc/sys/kernel/sysrq", O_WRONLY | O_CLOEXEC);
        if (fd >= 0) {
                (void) !write(fd, "1\n", 2);
                close(fd);
        }
        sync();
        fd = open("/proc/sysrq-trigger", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, "c", 1) != 1)
                fprintf(stderr, "sentinel: cannot trigger a kernel crash: %m\n");
        _exit(1);
}

/* The child: load the content, then behave as it says. ready is the pipe to the parent. */
static _Noreturn void daemon_main(int ready) {
        char err[512], text[256];
        Content c;

        if (content_load(arg_content, &c, err, sizeof err) < 0) {
                fprintf(stderr, "sentinel: %s\n", err);
                _exit(1);
        }
        fprintf(stderr, "sentinel: loaded content channel %u version %s (%u rules, variant %s)\n",
                c.channel, c.version[0] ? c.version : "-", c.n_rules, variant_to_string(c.variant));

        snprintf(text, sizeof text, "%d\n", (int) getpid());
        if (write_run_file("sentinel.pid", text) < 0) {
                fprintf(stderr, "sentinel: cannot write pidfile in %s: %m\n", arg_run_dir);
                _exit(1);
        }

        switch ((Variant) c.variant) {
        case VARIANT_PANIC:
                panic_kernel();
        case VARIANT_HANG:
                /* Never tells the parent it is ready, so whoever waits for
                 * start-up (the init script, the boot) waits forever. */
                fprintf(stderr, "sentinel: content variant hang: stuck evaluating rules, never ready\n");
                for (;;)
                        pause();
        case VARIANT_CRASH:
                /* Ready first, so boot goes on; dies before its first
                 * heartbeat, so --health never sees it healthy. */
                (void) !write(ready, "R", 1);
                fprintf(stderr, "sentinel: content variant crash: invalid rule table, aborting\n");
                abort();
        case VARIANT_GOOD:
        case _VARIANT_MAX:
                break;
        }

        snprintf(text, sizeof text, "ok channel=%u variant=%s rules=%u\n",
                 c.channel, variant_to_string(c.variant), c.n_rules);
        if (heartbeat() < 0 || write_run_file("status", text) < 0) {
                fprintf(stderr, "sentinel: cannot write to %s: %m\n", arg_run_dir);
                _exit(1);
        }
        (void) !write(ready, "R", 1);
        close(ready);

        while (!stop) {
                sleep(1);
                if (heartbeat() < 0)
                        fprintf(stderr, "sentinel: heartbeat write failed: %m\n");
        }
        remove_run_file("status");
        remove_run_file("heartbeat");
        remove_run_file("sentinel.pid");
        _exit(0);
}

/* Forks the daemon and returns once it is ready (like a Type=forking service). */
static int run_daemon(void) {
        int p[2];

        if (mkdir(arg_run_dir, 0755) < 0 && errno != EEXIST) {
                fprintf(stderr, "sentinel: cannot create %s: %m\n", arg_run_dir);
                return 1;
        }
        /* The daemon leaves the working directory; keep paths valid. */
        static char run_dir[4096], content[4096];
        if (!realpath(arg_run_dir, run_dir) || !realpath(arg_content, content)) {
                fprintf(stderr, "sentinel: %s: %m\n", realpath(arg_run_dir, run_dir) ? arg_content : arg_run_dir);
                return 1;
        }
        arg_run_dir = run_dir;
        arg_content = content;

        /* Refuse broken content here, where the caller sees one clear line. */
        char err[512];
        Content content_check;
        if (content_load(arg_content, &content_check, err, sizeof err) < 0) {
                fprintf(stderr, "sentinel: %s\n", err);
                return 1;
        }
        remove_run_file("status");
        remove_run_file("heartbeat");
        if (pipe2(p, O_CLOEXEC) < 0) {
                fprintf(stderr, "sentinel: pipe: %m\n");
                return 1;
        }

        pid_t pid = fork();
        if (pid < 0) {
                fprintf(stderr, "sentinel: fork: %m\n");
                return 1;
        }
        if (pid == 0) {
                close(p[0]);
                (void) setsid();
                if (chdir("/") < 0)
                        _exit(1);
                int null = open("/dev/null", O_RDONLY);
                if (null >= 0) {
                        (void) dup2(null, STDIN_FILENO);
                        close(null);
                }
                struct sigaction sa = { .sa_handler = on_term };
                (void) sigaction(SIGTERM, &sa, NULL);
                (void) sigaction(SIGINT, &sa, NULL);
                daemon_main(p[1]);
        }

        close(p[1]);
        char c;
        ssize_t n;
        do
                n = read(p[0], &c, 1);
        while (n < 0 && errno == EINTR);
        close(p[0]);
        if (n == 1) {
                printf("sentinel: started (pid %d)\n", (int) pid);
                return 0;
        }
        int status;
        (void) waitpid(pid, &status, 0);
        fprintf(stderr, "sentinel: daemon failed to start\n");
        return 1;
}

/* On stderr: a caller running the probe keeps its last stderr line as the reason. */
static int unhealthy(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int unhealthy(const char *fmt, ...) {
        va_list ap;

        fputs("sentinel: unhealthy: ", stderr);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        return 1;
}

/* A dead daemon nobody reaped yet still answers kill(pid, 0). */
static bool is_zombie(int pid) {
        char path[64], buf[512];

        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return false;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        const char *e = strrchr(buf, ')');
        return e && e[1] == ' ' && (e[2] == 'Z' || e[2] == 'X');
}

static int health(void) {
        char path[4096], buf[256];
        FILE *f;

        if (run_path(path, sizeof path, "sentinel.pid") < 0)
                return 1;
        f = fopen(path, "re");
        if (!f)
                return unhealthy("no pidfile %s", path);
        int pid = 0;
        bool ok = fscanf(f, "%d", &pid) == 1 && pid > 0;
        fclose(f);
        if (!ok)
                return unhealthy("bad pidfile %s", path);
        if ((kill(pid, 0) < 0 && errno == ESRCH) || is_zombie(pid))
                return unhealthy("daemon not running (%s names a dead process)", path);

        if (run_path(path, sizeof path, "status") < 0)
                return 1;
        f = fopen(path, "re");
        if (!f)
                return unhealthy("content not loaded (no %s)", path);
        ok = fgets(buf, sizeof buf, f) && strncmp(buf, "ok ", 3) == 0;
        fclose(f);
        if (!ok)
                return unhealthy("content not loaded (%s does not say ok)", path);

        struct stat st;
        if (run_path(path, sizeof path, "heartbeat") < 0)
                return 1;
        if (stat(path, &st) < 0)
                return unhealthy("no heartbeat %s", path);
        time_t age = time(NULL) - st.st_mtime;
        if (age > (time_t) arg_max_age || age < -1)
                return unhealthy("heartbeat %s is stale", path);

        buf[strcspn(buf, "\n")] = 0;
        printf("sentinel: healthy (pid %d, %s)\n", pid, buf + 3);
        return 0;
}

static int check_content(void) {
        char err[512];
        Content c;

        if (content_load(arg_content, &c, err, sizeof err) < 0) {
                fprintf(stderr, "sentinel: %s\n", err);
                return 1;
        }
        printf("content %s: channel %u version %s, %u rules, variant %s\n", arg_content, c.channel,
               c.version[0] ? c.version : "-", c.n_rules, variant_to_string(c.variant));
        return 0;
}

static void help(void) {
        printf("Usage: sentinel --daemon [--content FILE] [--run-dir DIR]\n"
               "       sentinel --health [--run-dir DIR] [--max-age SEC]\n"
               "       sentinel --check-content [--content FILE]\n\n"
               "  --daemon         load the content file, fork, return once the daemon is ready\n"
               "  --health         exit 0 only when the daemon runs, loaded its content and its\n"
               "                   heartbeat is at most --max-age seconds old (default %d)\n"
               "  --check-content  parse and verify the content file, print its variant; never\n"
               "                   acts on it (safe for the panic and hang variants)\n"
               "  --content FILE   default " DEFAULT_CONTENT "\n"
               "  --run-dir DIR    pidfile, status and heartbeat; default " DEFAULT_RUN_DIR "\n",
               DEFAULT_MAX_AGE);
}

int main(int argc, char *argv[]) {
        enum { ARG_DAEMON = 0x100, ARG_HEALTH, ARG_CHECK, ARG_CONTENT, ARG_RUN_DIR, ARG_MAX_AGE };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "daemon", no_argument, NULL, ARG_DAEMON },
                { "health", no_argument, NULL, ARG_HEALTH },
                { "check-content", no_argument, NULL, ARG_CHECK },
                { "content", required_argument, NULL, ARG_CONTENT },
                { "run-dir", required_argument, NULL, ARG_RUN_DIR },
                { "max-age", required_argument, NULL, ARG_MAX_AGE },
                {}
        };
        int c, mode = 0;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_DAEMON:
                case ARG_HEALTH:
                case ARG_CHECK:
                        if (mode && mode != c) {
                                fprintf(stderr, "sentinel: --daemon, --health and --check-content exclude each other\n");
                                return 2;
                        }
                        mode = c;
                        break;
                case ARG_CONTENT:
                        arg_content = optarg;
                        break;
                case ARG_RUN_DIR:
                        arg_run_dir = optarg;
                        break;
                case ARG_MAX_AGE: {
                        char *end;
                        unsigned long v = strtoul(optarg, &end, 10);
                        if (*end || end == optarg || v == 0 || v > 3600) {
                                fprintf(stderr, "sentinel: bad --max-age: %s\n", optarg);
                                return 2;
                        }
                        arg_max_age = (unsigned) v;
                        break;
                }
                default:
                        return 2;
                }
        if (optind < argc) {
                fprintf(stderr, "sentinel: unexpected argument: %s\n", argv[optind]);
                return 2;
        }

        setvbuf(stdout, NULL, _IOLBF, 0);
        switch (mode) {
        case ARG_DAEMON:
                return run_daemon();
        case ARG_HEALTH:
                return health();
        case ARG_CHECK:
                return check_content();
        default:
                fprintf(stderr, "sentinel: one of --daemon, --health, --check-content is needed (see --help)\n");
                return 2;
        }
}
