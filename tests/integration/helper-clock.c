/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * LD_PRELOAD shim: the wall clock moved by the number of seconds written in
 * the file ABIDE_TEST_CLOCK_OFFSET names (may be negative; a missing or
 * empty file is 0). The file is read at every call, so a test can move the
 * clock while the program runs (an install that outlasts a window).
 * time(), gettimeofday() and clock_gettime() of the realtime clocks are
 * moved; CLOCK_MONOTONIC and the others are not, so timeouts run as usual.
 */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static long long clock_offset(void) {
        const char *path = getenv("ABIDE_TEST_CLOCK_OFFSET");
        char buf[32];

        if (!path || !*path)
                return 0;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
                return 0;
        buf[n] = '\0';
        return strtoll(buf, NULL, 10);
}

int clock_gettime(clockid_t id, struct timespec *ts) {
        int (*real)(clockid_t, struct timespec *) = (int (*)(clockid_t, struct timespec *)) dlsym(RTLD_NEXT, "clock_gettime");
        if (!real)
                return -1;
        int r = real(id, ts);
        if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE))
                ts->tv_sec += (time_t) clock_offset();
        return r;
}

time_t time(time_t *t) {
        struct timespec ts;
        if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
                return (time_t) -1;
        if (t)
                *t = ts.tv_sec;
        return ts.tv_sec;
}

int gettimeofday(struct timeval *tv, void *tz) {
        struct timespec ts;
        (void) tz;
        if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
                return -1;
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = (suseconds_t) (ts.tv_nsec / 1000);
        return 0;
}
