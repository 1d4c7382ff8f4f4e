/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "initramfs.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/process.h"
#include "basic/progress.h"
#include "basic/rm-rf.h"
#include "cpio-pack.h"
#include "image-util.h"
#include "initramfs-modules.h"
#include "layers.h"

const char *const initramfs_standard_modules[] = {
        "virtio_pci", "virtio_blk",                     /* the disk under QEMU */
        "dm-mod", "dm-verity",                          /* the verified root */
        "erofs", "squashfs",                            /* its filesystem */
        "ext4", "overlay",                              /* abide-data and the /etc overlay */
        "efivarfs",                                     /* which entry the loader booted */
        "i6300esb",                                     /* the watchdog armed before switch_root */
        "vfat", "nls_cp437", "nls_utf8",                /* the ESP */
        "virtio_console",                               /* the QEMU test harness's channel */
        "virtio_net",                                   /* the QEMU NIC, for installs from a URL */
        NULL,
};

/* Files depmod reads besides the modules themselves, so the generated
 * indexes know what is built in. modules.order is trimmed to our set. */
static const char *const depmod_inputs[] = { "modules.builtin", "modules.builtin.modinfo" };

int initramfs_kernel_version(const char *kernel_path, char **ret) {
        const char *base = strrchr(kernel_path, '/');
        base = base ? base + 1 : kernel_path;

        const char *v = NULL;
        if (strncmp(base, "vmlinuz-", 8) == 0)
                v = base + 8;
        else if (strncmp(base, "vmlinux-", 8) == 0)
                v = base + 8;
        if (!v || !*v || strchr(v, '/') || streq(v, ".") || streq(v, ".."))
                return err_set(EINVAL, "kernel %s: cannot tell its version (expected a name like vmlinuz-KVER)", kernel_path);
        char *s = strdup(v);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

static int check_ca(const char *path) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        if (!f)
                return err_set(errno, "CA certificate %s: %m", path);
        X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
        if (!x)
                return err_set(EBADMSG, "CA certificate %s: not a PEM certificate", path);
        X509_free(x);
        return 0;
}

static void rm_rf_freep(char **p) {
        if (*p) {
                (void) rm_rf(*p);
                free(*p);
        }
}

static int install_init(const char *tree, const char *init_path) {
        _cleanup_free_ char *real = realpath(init_path, NULL);
        int r;

        if (!real)
                return err_set(errno, "abide-init %s: %m", init_path);
        r = staging_copy_binary_to(real, "/init", tree);
        if (r < 0)
                return err_prefix(r, "initramfs: abide-init");
        return 0;
}

/* abide-init checks the ESP with it before mounting it (bootctl/init/init-esp.h INIT_FSCK_FAT). */
#define INITRAMFS_FSCK_FAT "/usr/sbin/fsck.fat"

static int install_fsck_fat(const char *tree, const char *tools_root) {
        static const char *const candidates[] = { "/usr/sbin/fsck.fat", "/sbin/fsck.fat" };

        for (size_t i = 0; i < ELEMENTSOF(candidates); i++) {
                _cleanup_free_ char *p = NULL;
                if (asprintf(&p, "%s%s", tools_root ?: "", candidates[i]) < 0)
                        return -ENOMEM;
                _cleanup_free_ char *real = realpath(p, NULL);
                if (!real)
                        continue;
                int r = staging_copy_binary_to(real, INITRAMFS_FSCK_FAT, tree);
                if (r < 0)
                        return err_prefix(r, "initramfs: fsck.fat");
                return 0;
        }
        if (tools_root)
                return err_set(ENOENT, "initramfs: no fsck.fat in the image (%s; a deb: layer of dosfstools for "
                               "its architecture): abide-init checks the ESP with it", candidates[0]);
        return err_set(ENOENT, "initramfs: no fsck.fat on this machine (%s; package dosfstools): "
                       "abide-init checks the ESP with it", candidates[0]);
}

/* The host's modules.order, keeping only the modules we carry (depmod orders by it). */
static int write_modules_order(const char *tree, const char *rel, const char *modules_dir, const InitramfsModuleList *mods) {
        _cleanup_free_ char *src = NULL, *host = NULL, *out = NULL, *orel = NULL;
        size_t out_len = 0, dlen = strlen(modules_dir);
        int r;

        if (asprintf(&src, "%s/modules.order", modules_dir) < 0 || asprintf(&orel, "%s/modules.order", rel) < 0)
                return -ENOMEM;
        r = read_full_file(src, 64 * 1024 * 1024, &host, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return err_set(-r, "cannot read %s: %s", src, strerror(-r));

        FILE *f = open_memstream(&out, &out_len);
        if (!f)
                return -ENOMEM;
        char *save = NULL;
        for (char *line = strtok_r(host, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
                for (size_t i = 0; i < mods->n; i++)
                        if (streq(mods->modules[i].path + dlen + 1, line)) {
                                fprintf(f, "%s\n", line);
                                break;
                        }
        if (fclose(f) != 0)
                return -ENOMEM;
        return image_write_file_below(tree, orel, out, 0644);
}

static int install_modules(const char *tree, const char *kver, const char *modules_dir, const char *const *arch_mods,
                           const char *const *extra) {
        _cleanup_(initramfs_module_list_done) InitramfsModuleList mods = {};
        _cleanup_free_ char *rel = NULL, *order = NULL;
        const char *names[64];
        size_t n = 0, order_len = 0;
        int r;

        for (const char *const *s = initramfs_standard_modules; *s; s++)
                names[n++] = *s;
        for (const char *const *s = arch_mods; s && *s; s++) {
                if (n >= ELEMENTSOF(names) - 1)
                        return err_set(E2BIG, "initramfs: too many modules");
                names[n++] = *s;
        }
        for (const char *const *s = extra; s && *s; s++) {
                if (n >= ELEMENTSOF(names) - 1)
                        return err_set(E2BIG, "initramfs: too many extra modules");
                names[n++] = *s;
        }
        names[n] = NULL;

        r = initramfs_modules_resolve(modules_dir, names, &mods);
        if (r < 0)
                return r;

        if (asprintf(&rel, "lib/modules/%s", kver) < 0)
                return -ENOMEM;
        FILE *o = open_memstream(&order, &order_len);
        if (!o)
                return -ENOMEM;
        for (size_t i = 0; i < mods.n; i++)
                fprintf(o, "%s\n", mods.modules[i].name);
        if (fclose(o) != 0)
                return -ENOMEM;
        r = image_write_file_below(tree, "etc/abide/modules.load", order, 0644);
        if (r < 0)
                return r;

        size_t dlen = strlen(modules_dir);
        for (size_t i = 0; i < mods.n; i++) {
                const char *p = mods.modules[i].path;
                _cleanup_free_ char *mrel = NULL, *dir = NULL, *dst = NULL;

                if (strncmp(p, modules_dir, dlen) != 0 || p[dlen] != '/')
                        return err_set(EINVAL, "module %s: %s is outside %s", mods.modules[i].name, p, modules_dir);
                if (asprintf(&mrel, "%s%s", rel, p + dlen) < 0 || !(dir = strdup(mrel)))
                        return -ENOMEM;
                *strrchr(dir, '/') = 0;
                r = image_mkdir_below(tree, dir);
                if (r < 0)
                        return r;
                r = image_resolve_below(tree, mrel, false, &dst);
                if (r < 0)
                        return r;
                r = image_copy_file(p, dst, 0644);
                if (r < 0)
                        return r;
        }

        for (size_t i = 0; i < ELEMENTSOF(depmod_inputs); i++) {
                _cleanup_free_ char *src = NULL, *drel = NULL, *dst = NULL;
                if (asprintf(&src, "%s/%s", modules_dir, depmod_inputs[i]) < 0 ||
                    asprintf(&drel, "%s/%s", rel, depmod_inputs[i]) < 0)
                        return -ENOMEM;
                if (access(src, F_OK) < 0)
                        continue;
                r = image_resolve_below(tree, drel, false, &dst);
                if (r < 0)
                        return r;
                r = image_copy_file(src, dst, 0644);
                if (r < 0)
                        return r;
        }

        r = write_modules_order(tree, rel, modules_dir, &mods);
        if (r < 0)
                return r;

        char *argv[] = { "depmod", "-b", (char *) tree, (char *) kver, NULL };
        r = process_run(argv, NULL, NULL);
        if (r < 0)
                return err_prefix(r, "initramfs: depmod");
        return 0;
}

int initramfs_build(const InitramfsOptions *o, const char *out_path) {
        _cleanup_(rm_rf_freep) char *tree = NULL;
        _cleanup_free_ char *kver = NULL, *mdir = NULL;
        static const char *const dirs[] = { "dev", "proc", "sys", "run", "sysroot", "etc/abide/keys" };
        static const CpioExtra extra[] = {
                /* The kernel opens it for init's stdio before anything mounts /dev. */
                { "dev/console", S_IFCHR | 0600, 5, 1 },
        };
        int r;

        if (!o->init_path || !o->ca_cert_path)
                return err_set(EINVAL, "initramfs: abide-init and the CA certificate are required");
        if (o->kernel_version) {
                if (!(kver = strdup(o->kernel_version)))
                        return -ENOMEM;
        } else {
                if (!o->kernel_path)
                        return err_set(EINVAL, "initramfs: neither a kernel nor a kernel version given");
                r = initramfs_kernel_version(o->kernel_path, &kver);
                if (r < 0)
                        return r;
        }
        if (o->modules_dir)
                mdir = strdup(o->modules_dir);
        else if (asprintf(&mdir, "/lib/modules/%s", kver) < 0)
                mdir = NULL;
        if (!mdir)
                return -ENOMEM;
        r = check_ca(o->ca_cert_path);
        if (r < 0)
                return r;

        const char *slash = strrchr(out_path, '/');
        if (asprintf(&tree, "%.*s.initramfs.XXXXXX", slash ? (int) (slash - out_path + 1) : 0, out_path) < 0)
                return -ENOMEM;
        if (!mkdtemp(tree)) {
                r = err_set(errno, "cannot create a work directory for %s: %m", out_path);
                free(tree);
                tree = NULL;
                return r;
        }
        if (chmod(tree, 0755) < 0)
                return err_set(errno, "cannot chmod %s: %m", tree);

        progress_step("abide-build: initramfs for %s", kver);
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                r = image_mkdir_below(tree, dirs[i]);
                if (r < 0)
                        return r;
        }
        r = install_init(tree, o->init_path);
        if (r < 0)
                return r;
        r = install_fsck_fat(tree, o->tools_root);
        if (r < 0)
                return r;

        _cleanup_free_ char *ca_dst = NULL;
        r = image_resolve_below(tree, "etc/abide/keys/ca.pem", false, &ca_dst);
        if (r < 0)
                return r;
        r = image_copy_file(o->ca_cert_path, ca_dst, 0644);
        if (r < 0)
                return r;

        r = install_modules(tree, kver, mdir, o->arch_modules, o->extra_modules);
        if (r < 0)
                return r;

        progress_step("abide-build: packing the initramfs");
        return cpio_pack_tree(tree, extra, ELEMENTSOF(extra), o->epoch, out_path);
}
