/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "loader-esp.h"

#include <ctype.h>
#include <string.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "efivars.h"

int loader_esp_uuid_from(const char *note, const char *efivars_dir, char **ret) {
        _cleanup_free_ char *uuid = NULL;
        int r = -ENOENT;

        if (note) {
                r = read_full_file(note, 64, &uuid, NULL);
                if (r >= 0)
                        uuid[strcspn(uuid, "\n")] = 0;
                if (r >= 0 && !*uuid)
                        r = -ENOENT;
        }
        if (r < 0) {
                err_clear();   /* no note (the usual case), or an unreadable one: the loader's word */
                free(uuid);
                uuid = NULL;
                r = efivars_get_string(efivars_dir, "LoaderDevicePartUUID", &uuid);
                if (r < 0)
                        return r;
        }
        /* The loader writes it in upper case; GPT UUIDs compare case-insensitively. */
        for (char *s = uuid; *s; s++)
                *s = (char) tolower((unsigned char) *s);
        *ret = TAKE_PTR(uuid);
        return 0;
}

int loader_esp_uuid(const char *efivars_dir, char **ret) {
        return loader_esp_uuid_from(streq_ptr(efivars_dir, EFIVARS_DEFAULT_DIR) ? LOADER_ESP_NOTE : NULL, efivars_dir, ret);
}
