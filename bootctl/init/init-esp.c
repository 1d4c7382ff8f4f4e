/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "init-esp.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "boot/efivars.h"
#include "slot/slot-discover.h"

int init_efi_setup(char **ret_esp_uuid) {
        _cleanup_free_ char *uuid = NULL;
        struct stat st;
        int r;

        if (stat("/sys/firmware/efi", &st) < 0)
                return 0;       /* booted without EFI: nothing to read */
        if (mount("efivarfs", EFIVARS_DEFAULT_DIR, "efivarfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 &&
            errno != EBUSY)
                return err_set(errno, "cannot mount efivarfs on %s: %m", EFIVARS_DEFAULT_DIR);

        r = efivars_get_string(EFIVARS_DEFAULT_DIR, "LoaderDevicePartUUID", &uuid);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return err_set(r, "LoaderDevicePartUUID: %s", strerror(-r));
        /* The loader writes it in upper case; GPT UUIDs compare case-insensitively. */
        for (char *s = uuid; *s; s++)
                *s = (char) tolower((unsigned char) *s);
        *ret_esp_uuid = TAKE_PTR(uuid);
        return 1;
}

int init_mount_esp(const AbideConfig *c, const char *sysroot, const char *esp_uuid, char **ret_device) {
        _cleanup_free_ char *where = NULL;
        SlotPartition p = {};
        struct stat st;
        int r;

        if (!esp_uuid)
                return 0;
        if (asprintf(&where, "%s%s", sysroot, INIT_ESP_DIR) < 0)
                return -ENOMEM;
        if (stat(where, &st) < 0 || !S_ISDIR(st.st_mode))
                return 0;

        r = slot_partition_find_by_uuid(c, esp_uuid, &p);
        if (r < 0)
                return err_prefix(r, "ESP %s", esp_uuid);
        if (p.offset != 0 || p.size != 0) {
                slot_partition_done(&p);
                return err_set(ENODEV, "ESP %s has no device node of its own", esp_uuid);
        }
        if (mount(p.path, where, "vfat", MS_NOSUID | MS_NODEV | MS_NOEXEC, "umask=0077,iocharset=utf8") < 0) {
                r = err_set(errno, "cannot mount the ESP %s on %s: %m", p.path, where);
                slot_partition_done(&p);
                return r;
        }
        *ret_device = TAKE_PTR(p.path);
        slot_partition_done(&p);
        return 1;
}
