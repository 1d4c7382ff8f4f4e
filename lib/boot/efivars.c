/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The only file that calls libefivar. */
#include "efivars.h"

#include <dirent.h>
#include <efivar.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <strings.h>

#include "basic/error.h"
#include "basic/fileio.h"

#define EFI_ATTRS (EFI_VARIABLE_NON_VOLATILE | EFI_VARIABLE_BOOTSERVICE_ACCESS | EFI_VARIABLE_RUNTIME_ACCESS)
#define EFIVAR_MAX (64 * 1024)

static bool same_dir(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);
        while (la > 1 && a[la - 1] == '/')
                la--;
        while (lb > 1 && b[lb - 1] == '/')
                lb--;
        return la == lb && strncmp(a, b, la) == 0;
}

/* Whether dir is the store libefivar was set up with in this process. */
static bool through_libefivar(const char *dir) {
        const char *e = secure_getenv("EFIVARFS_PATH");
        return same_dir(dir, e && *e ? e : EFIVARS_DEFAULT_DIR);
}

static int decode(const uint8_t *data, size_t size, char **ret) {
        size_t n = size / 2;
        char *s = malloc(n + 1);
        if (!s)
                return -ENOMEM;
        size_t i;
        for (i = 0; i < n; i++) {
                uint16_t c = (uint16_t) (data[2 * i] | data[2 * i + 1] << 8);
                if (c == 0)
                        break;
                s[i] = c < 0x80 && c >= 0x20 ? (char) c : '?';
        }
        s[i] = 0;
        *ret = s;
        return 0;
}

static int encode(const char *value, uint8_t **ret, size_t *ret_size) {
        size_t n = strlen(value);
        uint8_t *d = malloc(2 * (n + 1));
        if (!d)
                return -ENOMEM;
        for (size_t i = 0; i <= n; i++) {
                if ((unsigned char) value[i] >= 0x80) {
                        free(d);
                        return -EINVAL;
                }
                d[2 * i] = (uint8_t) value[i];
                d[2 * i + 1] = 0;
        }
        *ret = d;
        *ret_size = 2 * (n + 1);
        return 0;
}

static int var_path_guid(const char *dir, const char *guid_str, const char *name, char **ret) {
        return asprintf(ret, "%s/%s-%s", dir, name, guid_str) < 0 ? -ENOMEM : 0;
}

static int guid(efi_guid_t *ret) {
        return efi_str_to_guid(EFI_LOADER_GUID, ret) < 0 ? -EINVAL : 0;
}

int efivars_get_string(const char *dir, const char *name, char **ret) {
        _cleanup_free_ void *data = NULL;
        size_t size = 0;

        int r = efivars_get_data(dir, EFI_LOADER_GUID, name, &data, &size);
        if (r < 0)
                return r;
        return decode(data, size, ret);
}

int efivars_set_string(const char *dir, const char *name, const char *value) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t size;
        int r;

        r = encode(value, &data, &size);
        if (r < 0)
                return err_set(r, "EFI variable %s: value is not ASCII", name);
        return efivars_set_data(dir, EFI_LOADER_GUID, name, data, size);
}

int efivars_delete(const char *dir, const char *name) {
        int r;

        if (through_libefivar(dir)) {
                efi_guid_t g;
                if (!efi_variables_supported())
                        return 0;
                if ((r = guid(&g)) < 0)
                        return r;
                if (efi_del_variable(g, name) < 0 && errno != ENOENT)
                        return err_set(errno ?: EIO, "cannot delete EFI variable %s: %m", name);
                return 0;
        }

        _cleanup_free_ char *path = NULL;
        if ((r = var_path_guid(dir, EFI_LOADER_GUID, name, &path)) < 0)
                return r;
        if (unlink(path) < 0 && errno != ENOENT)
                return err_set(errno, "cannot delete EFI variable %s: %m", path);
        return 0;
}

int efivars_get_data(const char *dir, const char *guid_str, const char *name, void **ret, size_t *ret_size) {
        int r;

        /* libefivar picks its backend when it loads; a process that mounts
         * efivarfs itself afterwards (abide-init) reads the files directly. */
        if (through_libefivar(dir) && !efi_variables_supported() && access(dir, F_OK) < 0)
                return -EOPNOTSUPP;
        if (through_libefivar(dir) && efi_variables_supported()) {
                efi_guid_t g;
                uint8_t *data = NULL;
                size_t size = 0;
                uint32_t attrs = 0;

                if (efi_str_to_guid(guid_str, &g) < 0)
                        return err_set(EINVAL, "EFI variable %s: bad vendor GUID %s", name, guid_str);
                if (efi_get_variable(g, name, &data, &size, &attrs) < 0)
                        return errno == ENOENT ? -ENOENT : err_set(errno ?: EIO, "cannot read EFI variable %s: %m", name);
                *ret = data;
                *ret_size = size;
                return 0;
        }

        _cleanup_free_ char *path = NULL, *buf = NULL;
        size_t size;
        if ((r = var_path_guid(dir, guid_str, name, &path)) < 0)
                return r;
        r = read_full_file(path, EFIVAR_MAX, &buf, &size);
        if (r == -ENOENT)
                return r;
        if (r < 0)
                return err_set(r, "cannot read EFI variable %s: %s", path, strerror(-r));
        if (size < 4)
                return err_set(EBADMSG, "EFI variable %s: truncated (%zu bytes)", path, size);
        void *data = malloc(size - 4 + 1);
        if (!data)
                return -ENOMEM;
        memcpy(data, buf + 4, size - 4);
        *ret = data;
        *ret_size = size - 4;
        return 0;
}

int efivars_set_data(const char *dir, const char *guid_str, const char *name, const void *data, size_t size) {
        int r;

        if (through_libefivar(dir)) {
                efi_guid_t g;
                if (!efi_variables_supported())
                        return err_set(EOPNOTSUPP, "cannot set EFI variable %s: no EFI variables on this system", name);
                if (efi_str_to_guid(guid_str, &g) < 0)
                        return err_set(EINVAL, "EFI variable %s: bad vendor GUID %s", name, guid_str);
                /* libefivar lifts efivarfs's immutable flag for the write and sets it again. */
                if (efi_set_variable(g, name, (uint8_t *) data, size, EFI_ATTRS, 0644) < 0)
                        return err_set(errno ?: EIO, "cannot set EFI variable %s: %m", name);
                return 0;
        }

        _cleanup_free_ char *path = NULL;
        _cleanup_free_ uint8_t *file = malloc(size + 4);
        if (!file)
                return -ENOMEM;
        uint32_t attrs = EFI_ATTRS;
        for (int i = 0; i < 4; i++)
                file[i] = (uint8_t) (attrs >> (8 * i));
        memcpy(file + 4, data, size);
        if ((r = var_path_guid(dir, guid_str, name, &path)) < 0)
                return r;
        r = write_file_atomic(path, file, size + 4, 0644);
        if (r < 0)
                return err_set(r, "cannot set EFI variable %s: %s", path, strerror(-r));
        return 0;
}

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

int efivars_foreach(const char *dir, const char *guid_str, void (*fn)(const char *name, void *userdata), void *userdata) {
        efi_guid_t want;

        if (efi_str_to_guid(guid_str, &want) < 0)
                return err_set(EINVAL, "bad EFI vendor GUID %s", guid_str);

        if (through_libefivar(dir) && !efi_variables_supported() && access(dir, F_OK) < 0)
                return err_set(EOPNOTSUPP, "cannot list EFI variables: no EFI variables on this system");
        if (through_libefivar(dir) && efi_variables_supported()) {
                efi_guid_t *g = NULL;
                char *name = NULL;
                int r;

                /* libefivar keeps the directory open until the walk ends: always walk to the end. */
                while ((r = efi_get_next_variable_name(&g, &name)) > 0)
                        if (efi_guid_cmp(g, &want) == 0)
                                fn(name, userdata);
                if (r < 0)
                        return err_set(errno ?: EIO, "cannot list EFI variables: %m");
                return 0;
        }

        _cleanup_(closedirp) DIR *d = opendir(dir);
        if (!d)
                return err_set(errno, "cannot list EFI variables in %s: %m", dir);
        size_t glen = strlen(guid_str);
        struct dirent *de;
        while ((errno = 0, de = readdir(d))) {
                size_t n = strlen(de->d_name);
                if (n < glen + 2 || de->d_name[n - glen - 1] != '-' || strcasecmp(de->d_name + n - glen, guid_str) != 0)
                        continue;
                char name[NAME_MAX + 1];
                memcpy(name, de->d_name, n - glen - 1);
                name[n - glen - 1] = 0;
                fn(name, userdata);
        }
        if (errno != 0)
                return err_set(errno, "cannot list EFI variables in %s: %m", dir);
        return 0;
}
