/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The only file of abide-init that calls libcryptsetup. */
#include "init-verity.h"

#include <dirent.h>
#include <libcryptsetup.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "basic/fileio.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct crypt_device *, crypt_free);

static char last_error[512];

static void on_log(int level, const char *msg, void *userdata) {
        if (level != CRYPT_LOG_ERROR || !msg)
                return;
        (void) snprintf(last_error, sizeof last_error, "%s", msg);
        for (char *p = last_error; *p; p++)
                if (*p == '\n')
                        *p = ' ';
        size_t n = strlen(last_error);
        while (n > 0 && strchr(" .", last_error[n - 1]))
                last_error[--n] = 0;
}

static int fail(int r, const char *what) {
        r = r > 0 ? -r : r == 0 ? -EIO : r;
        return err_set(r, "%s: %s", what, last_error[0] ? last_error : strerror(-r));
}

/* /dev/dm-N of the mapping called name, from sysfs. */
static int dm_node_by_name(const char *name, char **ret) {
        DIR *d = opendir("/sys/block");
        if (!d)
                return err_set(errno, "cannot list /sys/block: %m");
        struct dirent *de;
        int r = err_set(ENOENT, "no device-mapper device named %s in /sys/block", name);
        while ((de = readdir(d))) {
                char path[300];
                _cleanup_free_ char *n = NULL;
                if (strncmp(de->d_name, "dm-", 3) != 0)
                        continue;
                snprintf(path, sizeof path, "/sys/block/%s/dm/name", de->d_name);
                if (read_full_file(path, 256, &n, NULL) < 0)
                        continue;
                n[strcspn(n, "\n")] = 0;
                if (!streq(n, name))
                        continue;
                r = asprintf(ret, "/dev/%s", de->d_name) < 0 ? -ENOMEM : 0;
                break;
        }
        closedir(d);
        return r;
}

int init_verity_activate(const char *data_dev, const char *hash_dev, const char *root_hash_hex, const char *name,
                         char **ret_node) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_free_ uint8_t *root = NULL;
        size_t root_size;
        int r;

        last_error[0] = 0;
        crypt_set_log_callback(NULL, on_log, NULL);

        r = hex_decode(root_hash_hex, strlen(root_hash_hex), &root, &root_size);
        if (r < 0)
                return err_set(EINVAL, "root hash is not hex");

        r = crypt_init_data_device(&cd, hash_dev, data_dev);
        if (r < 0)
                return fail(r, hash_dev);
        crypt_set_log_callback(cd, on_log, NULL);

        /* The superblock gives algorithm, block sizes and salt; the kernel checks blocks as they are read. */
        struct crypt_params_verity params = {};
        r = crypt_load(cd, CRYPT_VERITY, &params);
        if (r < 0)
                return fail(r, "cannot read the verity superblock");

        r = crypt_activate_by_volume_key(cd, name, (const char *) root, root_size,
                                         CRYPT_ACTIVATE_READONLY | CRYPT_ACTIVATE_RESTART_ON_CORRUPTION);
        if (r < 0)
                return fail(r, "cannot activate dm-verity");

        _cleanup_free_ char *node = NULL;
        if (asprintf(&node, "/dev/mapper/%s", name) < 0)
                return -ENOMEM;
        struct stat st;
        if (stat(node, &st) < 0 || !S_ISBLK(st.st_mode)) {
                free(node);
                node = NULL;
                r = dm_node_by_name(name, &node);
                if (r < 0)
                        return r;
        }
        *ret_node = TAKE_PTR(node);
        return 0;
}
