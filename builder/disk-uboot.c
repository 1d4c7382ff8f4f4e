/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "disk-uboot.h"

#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/process.h"

int disk_uboot_find(const char *name, char **ret) {
        _cleanup_free_ char *p = NULL;
        char exe[PATH_MAX];
        ssize_t n;

        n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0) {
                exe[n] = 0;
                if (asprintf(&p, "%s/uboot/%s", dirname(exe), name) < 0)
                        return -ENOMEM;
                if (access(p, R_OK) == 0) {
                        *ret = TAKE_PTR(p);
                        return 0;
                }
                free(p);
                p = NULL;
        }
        if (asprintf(&p, "%s/%s", ABIDE_UBOOT_DATADIR, name) < 0)
                return -ENOMEM;
        if (access(p, R_OK) < 0)
                return err_set(errno, "U-Boot %s not found next to abide-build (uboot/) nor at %s: %m", name, p);
        *ret = TAKE_PTR(p);
        return 0;
}

static char *const mtools_env[] = { "MTOOLS_SKIP_CHECK=1", NULL };

int disk_uboot_boot_make(const char *path, uint64_t size, const char *volume_uuid, const char *boot_scr,
                         const char *kernel_path, const char *initrd_path) {
        char blocks[32], volid[9];
        int r;

        snprintf(blocks, sizeof blocks, "%" PRIu64, size / 1024);
        memcpy(volid, volume_uuid, 8);
        volid[8] = 0;
        char *mkfs[] = { "mkfs.vfat", "-C", "-F", "32", "-n", "BOOT", "-i", volid, "--invariant",
                         (char *) path, blocks, NULL };
        r = process_run(mkfs, NULL, NULL);
        if (r < 0)
                return r;
        char *mmd[] = { "mmd", "-i", (char *) path, "::/abide", "::/abide/a", "::/abide/b", NULL };
        r = process_run(mmd, mtools_env, NULL);
        if (r < 0)
                return r;

        const struct {
                const char *src, *dst;
        } files[] = {
                { kernel_path, "::/abide/a/vmlinuz" },
                { initrd_path, "::/abide/a/initrd" },
                /* Last: a partition with the script has everything it loads. */
                { boot_scr, "::/boot.scr" },
        };
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                char *argv[] = { "mcopy", "-i", (char *) path, "-o", (char *) files[i].src, (char *) files[i].dst, NULL };
                r = process_run(argv, mtools_env, NULL);
                if (r < 0)
                        return err_prefix(r, "boot partition %s", files[i].dst + 2);
        }
        return 0;
}

/* Appends "name=value\0" at *len; -E2BIG when it would not leave room for the final NUL. */
static int env_add(uint8_t *data, size_t *len, const char *name, const char *value) {
        size_t ln = strlen(name), lv = strlen(value);

        if (*len + ln + 1 + lv + 1 + 1 > DISK_UBOOT_ENV_SIZE - 4)
                return err_set(E2BIG, "U-Boot environment larger than %d bytes", DISK_UBOOT_ENV_SIZE - 4);
        memcpy(data + *len, name, ln);
        data[*len + ln] = '=';
        memcpy(data + *len + ln + 1, value, lv);
        data[*len + ln + 1 + lv] = 0;
        *len += ln + 1 + lv + 1;
        return 0;
}

int disk_uboot_env_write(const char *path, const Manifest *m, const char *defaults_path) {
        _cleanup_free_ char *text = NULL, *tmp = NULL;
        _cleanup_free_ uint8_t *image = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t text_size, len = 0;
        int r;

        r = read_full_file(defaults_path, 64 * 1024, &text, &text_size);
        if (r < 0)
                return err_prefix(r, "%s", defaults_path);
        image = calloc(1, DISK_UBOOT_ENV_SIZE);
        if (!image)
                return -ENOMEM;
        uint8_t *data = image + 4;

        for (char *line = text, *next; line && *line; line = next) {
                next = strchr(line, '\n');
                if (next)
                        *next++ = 0;
                /* CRLF line ends, as fw_setenv -s reads them: a CR kept in bootcmd's value would
                 * make U-Boot run "distro_bootcmd\r", which does not exist. */
                size_t n = strlen(line);
                if (n > 0 && line[n - 1] == '\r')
                        line[n - 1] = 0;
                if (*line == 0 || *line == '#')
                        continue;
                char *eq = strchr(line, '=');
                if (!eq || eq == line)
                        return err_set(EINVAL, "%s: not VAR=VALUE: %s", defaults_path, line);
                *eq = 0;
                /* abide's own variables come from the manifest, never the board file. */
                if (strncmp(line, "BOOT_", 5) == 0 || strncmp(line, "abide_", 6) == 0)
                        continue;
                r = env_add(data, &len, line, eq + 1);
                if (r < 0)
                        return err_prefix(r, "%s", defaults_path);
        }
        r = env_add(data, &len, "BOOT_ORDER", "A");
        if (r >= 0)
                r = env_add(data, &len, "abide_good", "A");
        if (r >= 0)
                r = env_add(data, &len, "abide_cmdline_a", m->cmdline ? m->cmdline : "");
        if (r < 0)
                return r;
        /* The rest is zeros: the text ends in two NULs. */
        uint32_t crc = (uint32_t) crc32(0, data, DISK_UBOOT_ENV_SIZE - 4);
        image[0] = crc & 0xff;
        image[1] = (crc >> 8) & 0xff;
        image[2] = (crc >> 16) & 0xff;
        image[3] = crc >> 24;

        if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return err_set(errno, "%s: %m", path);
        if (fchmod(fd, 0644) < 0 || ftruncate(fd, DISK_UBOOT_ENV_FILE_SIZE) < 0 ||
            pwrite(fd, image, DISK_UBOOT_ENV_SIZE, 0) != DISK_UBOOT_ENV_SIZE || fsync(fd) < 0 ||
            rename(tmp, path) < 0) {
                r = err_set(errno ? errno : EIO, "%s: %m", path);
                (void) unlink(tmp);
                return r;
        }
        return 0;
}
