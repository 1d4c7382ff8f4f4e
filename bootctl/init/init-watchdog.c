/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "init-watchdog.h"

#include <fcntl.h>
#include <linux/watchdog.h>
#include <sys/ioctl.h>
#include <time.h>

#include "basic/error.h"

static const char *const devices[] = { "/dev/watchdog0", "/dev/watchdog" };

#define POLL_MS 50

int init_watchdog_arm(unsigned timeout_sec, unsigned wait_ms, const char **ret_device, unsigned *ret_timeout) {
        _cleanup_close_ int fd = -EBADF;
        const char *dev = NULL;

        for (unsigned waited = 0;; waited += POLL_MS) {
                for (size_t i = 0; i < ELEMENTSOF(devices) && fd < 0; i++) {
                        fd = open(devices[i], O_WRONLY | O_CLOEXEC);
                        if (fd >= 0)
                                dev = devices[i];
                        else if (errno != ENOENT && errno != ENODEV && errno != ENXIO)
                                return err_set(errno, "cannot open %s: %m", devices[i]);
                }
                if (fd >= 0)
                        break;
                if (waited >= wait_ms)
                        return err_set(ENODEV, "no watchdog device after %u ms", wait_ms);
                (void) nanosleep(&(struct timespec) { .tv_nsec = POLL_MS * 1000000L }, NULL);
        }

        /* From here the device is running: failing to set the timeout leaves its default armed. */
        int t = (int) timeout_sec;
        if (ioctl(fd, WDIOC_SETTIMEOUT, &t) < 0) {
                int saved = errno;
                (void) ioctl(fd, WDIOC_KEEPALIVE, &(int) { 0 });
                if (ioctl(fd, WDIOC_GETTIMEOUT, &t) < 0)
                        t = -1;
                return err_set(saved, "%s: cannot set the timeout to %u s (%s), left armed with the driver's %d s",
                               dev, timeout_sec, strerror(saved), t);
        }
        int dummy = 0;
        if (ioctl(fd, WDIOC_KEEPALIVE, &dummy) < 0)
                return err_set(errno, "%s: keepalive failed, left armed: %m", dev);

        /* Closing without writing 'V' keeps it armed (the kernel says "watchdog did not stop!"). */
        fd = safe_close(TAKE_FD(fd));
        *ret_device = dev;
        *ret_timeout = t > 0 ? (unsigned) t : timeout_sec;
        return 0;
}
