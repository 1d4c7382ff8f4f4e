/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * helper-efi-bootopt esp DEVICE
 *     "partition=N start=S size=Z uuid=UUID" from esp_location_from_device()
 * helper-efi-bootopt ensure EFIVARS_DIR DEVICE
 *     efi_fallback_options_ensure() for that ESP: "changed=0|1"
 * helper-efi-bootopt show EFIVARS_DIR
 *     BootOrder and each option it lists, decoded with libefiboot:
 *     "BootOrder=0000,0001" then "Boot0000 attrs=0x1 desc='...' path=HD(...)/File(...)"
 * Errors: one line on stderr, exit 1.
 */
#include <efiboot.h>
#include <inttypes.h>
#include <stdio.h>

#include "basic/error.h"
#include "boot/efi-bootopt.h"
#include "boot/efivars.h"

static int fail(int r) {
        fprintf(stderr, "helper-efi-bootopt: %s\n", err_message(r));
        return 1;
}

static int show_option(const char *dir, unsigned number) {
        _cleanup_free_ void *d = NULL;
        char name[16], text[4096];
        size_t size;

        snprintf(name, sizeof name, "Boot%04X", number);
        int r = efivars_get_data(dir, EFIVARS_GLOBAL_GUID, name, &d, &size);
        if (r == -ENOENT) {
                printf("%s missing\n", name);
                return 0;
        }
        if (r < 0)
                return r;
        /* Only abide's own options are decoded here, which the test made valid; a check all the same. */
        efi_load_option *opt = d;
        if (size < 6 || !efi_loadopt_is_valid(opt, size)) {
                printf("%s malformed\n", name);
                return 0;
        }
        const unsigned char *desc = efi_loadopt_desc(opt, (ssize_t) size);
        efidp dp = efi_loadopt_path(opt, (ssize_t) size);
        if (!desc || !dp || efidp_format_device_path(text, sizeof text, dp, efi_loadopt_pathlen(opt, (ssize_t) size)) < 0)
                return err_set(EBADMSG, "%s: cannot decode", name);
        printf("%s attrs=0x%" PRIx32 " desc='%s' path=%s\n", name, efi_loadopt_attrs(opt), desc, text);
        return 0;
}

static int show(const char *dir) {
        _cleanup_free_ void *d = NULL;
        size_t size;

        int r = efivars_get_data(dir, EFIVARS_GLOBAL_GUID, "BootOrder", &d, &size);
        if (r == -ENOENT)
                return err_set(ENOENT, "no BootOrder in %s", dir);
        if (r < 0)
                return r;
        const uint8_t *o = d;
        printf("BootOrder=");
        for (size_t i = 0; i + 1 < size; i += 2)
                printf("%s%04X", i ? "," : "", o[i] | o[i + 1] << 8);
        printf("\n");
        for (size_t i = 0; i + 1 < size; i += 2)
                if ((r = show_option(dir, (unsigned) (o[i] | o[i + 1] << 8))) < 0)
                        return r;
        return 0;
}

int main(int argc, char *argv[]) {
        EspLocation esp;
        int r;

        if (argc == 3 && streq(argv[1], "esp")) {
                char uuid[64];
                efi_guid_t g;
                char *s = NULL;
                if ((r = esp_location_from_device(argv[2], &esp)) < 0)
                        return fail(r);
                memcpy(&g, esp.part_uuid, sizeof g);
                if (efi_guid_to_str(&g, &s) < 0)
                        return fail(err_set(EINVAL, "cannot format the partition GUID"));
                snprintf(uuid, sizeof uuid, "%s", s);
                free(s);
                printf("partition=%" PRIu32 " start=%" PRIu64 " size=%" PRIu64 " uuid=%s\n", esp.partition_number,
                       esp.start_lba, esp.size_lba, uuid);
                return 0;
        }
        if (argc == 4 && streq(argv[1], "ensure")) {
                bool changed;
                if ((r = esp_location_from_device(argv[3], &esp)) < 0 ||
                    (r = efi_fallback_options_ensure(argv[2], &esp, &changed)) < 0)
                        return fail(r);
                printf("changed=%d\n", changed);
                return 0;
        }
        if (argc == 3 && streq(argv[1], "show")) {
                if ((r = show(argv[2])) < 0)
                        return fail(r);
                return 0;
        }
        fprintf(stderr, "usage: helper-efi-bootopt esp DEVICE | ensure EFIVARS_DIR DEVICE | show EFIVARS_DIR\n");
        return 2;
}
