/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * abide-init, PID 1 of the initramfs. Placeholder until issue 5 (slot choice,
 * signature check, dm-verity, switch_root): it brings up the pseudo
 * filesystems, says so on the console and reboots. It never starts a shell:
 * an initramfs that cannot boot the verified root reboots, so the loader's
 * boot counter burns a try.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <unistd.h>

static void mount_one(const char *what, const char *where, const char *type, unsigned long flags) {
        (void) mkdir(where, 0755);
        if (mount(what, where, type, flags, NULL) < 0 && errno != EBUSY)
                dprintf(STDERR_FILENO, "abide-init: cannot mount %s on %s: %s\n", type, where, strerror(errno));
}

int main(int argc, char *argv[]) {
        mount_one("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC);
        mount_one("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC);
        mount_one("devtmpfs", "/dev", "devtmpfs", MS_NOSUID);

        /* The kernel gave us /dev/console from the archive; after devtmpfs, reopen it. */
        int fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
        if (fd < 0)
                fd = STDERR_FILENO;
        dprintf(fd, "abide-init: not implemented yet, rebooting\n");

        sync();
        /* Give the serial console time to drain before the machine goes. */
        sleep(1);
        (void) reboot(RB_AUTOBOOT);
        /* Only reached when not PID 1 (or no CAP_SYS_BOOT): nothing to reboot. */
        dprintf(STDERR_FILENO, "abide-init: reboot failed: %s\n", strerror(errno));
        return 1;
}
