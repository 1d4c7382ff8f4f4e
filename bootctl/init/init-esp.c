/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "init-esp.h"

#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "boot/efivars.h"
#include "boot/loader-esp.h"
#include "init-log.h"
#include "slot/run-bounded.h"
#include "slot/slot-discover.h"

#define FSCK_TIMEOUT_MS (30 * 1000)
#define FSCK_OUTPUT_MAX 4096
#define FSCK_LINES_MAX 20

int init_efi_setup(char **ret_esp_uuid) {
        _cleanup_free_ char *uuid = NULL;
        struct stat st;
        int r;

        if (stat("/sys/firmware/efi", &st) < 0)
                return 0;       /* booted without EFI: nothing to read */
        if (mount("efivarfs", EFIVARS_DEFAULT_DIR, "efivarfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 &&
            errno != EBUSY)
                return err_set(errno, "cannot mount efivarfs on %s: %m", EFIVARS_DEFAULT_DIR);

        /* Lowercased as abidectl reads it; no note yet (abide-init leaves it, later in this boot). */
        r = loader_esp_uuid_from(NULL, EFIVARS_DEFAULT_DIR, &uuid);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return err_set(r, "LoaderDevicePartUUID: %s", strerror(-r));
        *ret_esp_uuid = TAKE_PTR(uuid);
        return 1;
}

/* Logs what fsck.fat said, line by line (bounded), under the ESP's name; not its banner, nor that
 * the initramfs has no iconv modules (it falls back to its own CP850 table). */
static void log_output(const char *device, const char *output) {
        _cleanup_free_ char *copy = strdup(output ?: "");
        char *save = NULL;
        unsigned n = 0;

        if (!copy)
                return;
        for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                while (*line == ' ')
                        line++;
                if (!*line || strncmp(line, "fsck.fat ", 9) == 0 || strncmp(line, "Cannot initialize conversion", 28) == 0 ||
                    strncmp(line, "Using internal CP", 17) == 0)
                        continue;
                if (++n > FSCK_LINES_MAX) {
                        init_log("ESP %s: fsck.fat> ...", device);
                        break;
                }
                init_log("ESP %s: fsck.fat> %s", device, line);
        }
}

InitEspCheck init_check_esp(const char *fsck, const char *device) {
        _cleanup_(run_result_done) RunResult res = {};
        _cleanup_free_ char *how = NULL;
        char *argv[] = { (char *) fsck, (char *) "-a", (char *) device, NULL };

        if (access(fsck, X_OK) < 0) {
                init_log("ESP %s: no %s in the initramfs: not checked", device, fsck);
                return INIT_ESP_UNCHECKED;
        }
        int r = run_bounded(argv, NULL, FSCK_TIMEOUT_MS, FSCK_OUTPUT_MAX, &res);
        if (r < 0) {
                init_log("ESP %s: cannot run %s: %s", device, fsck, err_message(r));
                return INIT_ESP_UNCHECKED;
        }
        if (!res.timed_out && res.signal == 0 && res.exit_status == 0) {
                init_log("ESP %s: fsck.fat: clean", device);
                return INIT_ESP_CLEAN;
        }
        log_output(device, res.output);
        if (!res.timed_out && res.signal == 0 && res.exit_status == 1) {
                init_log("ESP %s: fsck.fat: repaired", device);
                return INIT_ESP_REPAIRED;
        }
        (void) run_result_describe(&res, FSCK_TIMEOUT_MS, &how);
        init_log("ESP %s: fsck.fat: failed (%s); mounting it read-only anyway", device, how ?: "?");
        return INIT_ESP_FAILED;
}

int init_mount_esp(const AbideConfig *c, const char *sysroot, const char *esp_uuid, char **ret_device) {
        _cleanup_free_ char *where = NULL;
        SlotPartition p = {};
        struct stat st;
        int r;

        /* Without EFI (U-Boot) no loader names its partition: the one labelled "esp". Under EFI
         * without LoaderDevicePartUUID nothing is mounted, as before. */
        if (!esp_uuid && stat("/sys/firmware/efi", &st) == 0)
                return 0;
        if (asprintf(&where, "%s%s", sysroot, INIT_ESP_DIR) < 0)
                return -ENOMEM;
        if (stat(where, &st) < 0 || !S_ISDIR(st.st_mode))
                return 0;

        r = esp_uuid ? slot_partition_find_by_uuid(c, esp_uuid, &p) : slot_boot_partition_find(c, &p);
        if (r < 0)
                return err_prefix(r, "ESP %s", esp_uuid ?: "(PARTLABEL esp)");
        if (p.offset != 0 || p.size != 0) {
                slot_partition_done(&p);
                return err_set(ENODEV, "ESP %s has no device node of its own", esp_uuid ?: "(PARTLABEL esp)");
        }
        /* Its own budget: a slow check must not count against the root's mount, and never
         * reaches it (FSCK_TIMEOUT_MS), so a damaged ESP cannot fail the boot. */
        init_step_deadline("esp", FSCK_TIMEOUT_MS / 1000 + 30);
        (void) init_check_esp(INIT_FSCK_FAT, p.path);
        /* Read-only: abidectl remounts it writable only while it writes (lib/boot/esp-mount.h). */
        if (mount(p.path, where, "vfat", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "umask=0077,iocharset=utf8") < 0) {
                r = err_set(errno, "cannot mount the ESP %s on %s: %m", p.path, where);
                slot_partition_done(&p);
                return r;
        }
        *ret_device = TAKE_PTR(p.path);
        slot_partition_done(&p);
        return 1;
}
