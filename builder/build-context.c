/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "build-context.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/error.h"
#include "basic/progress.h"
#include "basic/rm-rf.h"
#include "basic/fileio.h"
#include "image/agent.h"
#include "image/image-util.h"
#include "basic/process.h"
#include "image/initramfs.h"
#include "image/kernel-image.h"
#include "layers.h"

int build_context_new(const char *outdir, const Recipe *recipe, time_t epoch, BuildContext **ret) {
        _cleanup_(build_context_freep) BuildContext *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->recipe = recipe;
        c->epoch = epoch;
        if (asprintf(&c->workdir, "%s/.abide-build.XXXXXX", outdir) < 0) {
                c->workdir = NULL;
                return -ENOMEM;
        }
        if (!mkdtemp(c->workdir)) {
                int r = err_set(errno, "cannot create a work directory in %s: %m", outdir);
                free(c->workdir);
                c->workdir = NULL;
                return r;
        }
        if (asprintf(&c->staging, "%s/root", c->workdir) < 0 ||
            asprintf(&c->root_path, "%s/root.img", c->workdir) < 0 ||
            asprintf(&c->verity_path, "%s/root.verity", c->workdir) < 0 ||
            asprintf(&c->verity_sig_path, "%s/root.verity-sig", c->workdir) < 0)
                return -ENOMEM;
        /* The staging root becomes the image's "/": 0755, owned by root. */
        if (mkdir(c->staging, 0755) < 0)
                return err_set(errno, "cannot create %s: %m", c->staging);
        *ret = TAKE_PTR(c);
        return 0;
}

static int remove_at(int dfd, const char *name, dev_t dev) {
        struct stat st;

        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (S_ISDIR(st.st_mode) && st.st_dev == dev) {
                int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (fd < 0)
                        return -errno;
                DIR *d = fdopendir(fd);
                if (!d) {
                        safe_close(fd);
                        return -ENOMEM;
                }
                int r = 0;
                struct dirent *de;
                while ((de = readdir(d)))
                        if (!streq(de->d_name, ".") && !streq(de->d_name, "..")) {
                                int k = remove_at(dirfd(d), de->d_name, dev);
                                if (k < 0 && r == 0)
                                        r = k;
                        }
                closedir(d);
                if (r < 0)
                        return r;
        }
        if (unlinkat(dfd, name, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

int build_workdir_remove(const char *workdir) {
        struct stat st;

        if (lstat(workdir, &st) < 0)
                return errno == ENOENT ? 0 : -errno;
        return remove_at(AT_FDCWD, workdir, st.st_dev);
}

BuildContext *build_context_free(BuildContext *c) {
        if (!c)
                return NULL;
        if (c->workdir)
                (void) build_workdir_remove(c->workdir);
        free(c->workdir);
        free(c->staging);
        free(c->root_path);
        free(c->verity_path);
        free(c->verity_sig_path);
        free(c->kernel_path);
        free(c->initrd_path);
        free(c);
        return NULL;
}

static void layer_progress(const char *layer, const char *entry, uint64_t n_entries, uint64_t n_bytes,
                           void *userdata) {
        progress_update(n_bytes);
}

/*
 * A trust anchor is the image's own file: a symlink from the layers at any directory on its way
 * would make it another path's, or, pointing out of the tree, put it on the build machine and
 * leave the image without it. So none is followed, not even one that stays inside the image.
 */
static int check_no_symlink(const char *staging, const char *rel) {
        _cleanup_free_ char *p = NULL;
        size_t n = strlen(staging) + 1;

        if (asprintf(&p, "%s/%s", staging, rel) < 0)
                return -ENOMEM;
        for (char *s = p + n;;) {
                char *slash = strchr(s, '/');
                struct stat st;

                if (slash)
                        *slash = 0;
                if (lstat(p, &st) < 0)
                        return errno == ENOENT ? 0 : err_set(errno, "the layers' /%s: %m", p + n);
                if (S_ISLNK(st.st_mode)) {
                        char target[PATH_MAX];
                        ssize_t k = readlink(p, target, sizeof target - 1);
                        target[MAX(k, (ssize_t) 0)] = 0;
                        return err_set(ELOOP, "the layers' /%s is a symlink to '%s' (a trust anchor must be a regular file in the image)",
                                       p + n, target);
                }
                if (!S_ISDIR(st.st_mode))
                        return err_set(ENOTDIR, "the layers' /%s is not a directory", p + n);
                if (!slash)
                        return 0;
                *slash = '/';
                s = slash + 1;
        }
}

/* A certificate file into the staged tree at DIR/NAME under /usr/lib/abide, which the dm-verity root
 * covers and the /etc overlay on abide-data cannot shadow. */
static int install_cert(const char *what, const char *src, const char *staging, const char *subdir, const char *name) {
        _cleanup_free_ char *pem = NULL, *dir = NULL, *dest = NULL;
        size_t len;
        int r;

        r = read_full_file(src, 1024 * 1024, &pem, &len);
        if (r < 0)
                return err_set(r, "%s %s: %s", what, src, strerror(-r));
        if (asprintf(&dir, "usr/lib/abide/%s", subdir) < 0 || asprintf(&dest, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        r = check_no_symlink(staging, dir);
        if (r < 0)
                return err_prefix(r, "%s", what);
        /* The file itself, if a layer has one, is replaced by rename, never written through. */
        r = image_write_data_below(staging, dest, pem, len, 0644);
        if (r < 0)
                return err_prefix(r, "%s", what);
        return 0;
}

/* A kernel package's modules come without the indexes its postinst makes:
 * depmod them in the staged tree (libkmod reads them; the image keeps them). */
static int staged_depmod(const char *staging, const char *kver, const char *modules_dir) {
        _cleanup_free_ char *dep = NULL;
        if (asprintf(&dep, "%s/modules.dep.bin", modules_dir) < 0)
                return -ENOMEM;
        if (access(dep, F_OK) == 0)
                return 0;
        int k = process_run((char *const[]) { (char *) "depmod", (char *) "-b", (char *) staging, (char *) kver, NULL },
                            NULL, NULL);
        if (k < 0)
                return err_prefix(k, "depmod of the image's /lib/modules/%s", kver);
        return 0;
}

/* One tree layer: link it instead of copying it (layer_link_tree()). Anything
 * that keeps it from linking (another file system, protected hard links, a
 * socket) falls back to the copy. */
static int stage_linked(BuildContext *c) {
        const Recipe *r = c->recipe;

        if (r->n_layers != 1 || r->layers[0].type != LAYER_TREE)
                return 0;
        progress_step("abide-build: layer 1/1 tree:%s (linked)", r->layers[0].path);
        int k = layer_link_tree(&r->layers[0], c->staging);
        if (k >= 0) {
                c->staging_linked = true;
                return 1;
        }
        if (k != -EXDEV && k != -EPERM && k != -EMLINK && k != -EOPNOTSUPP)
                return k;
        err_clear();
        k = rm_rf(c->staging);
        if (k < 0)
                return err_prefix(k, "cannot empty %s", c->staging);
        if (mkdir(c->staging, 0755) < 0)
                return err_set(errno, "cannot create %s: %m", c->staging);
        return 0;
}

int build_context_compose(BuildContext *c) {
        const Recipe *r = c->recipe;
        int k;

        k = stage_linked(c);
        if (k < 0)
                return k;
        for (size_t i = 0; !c->staging_linked && i < r->n_layers; i++) {
                _cleanup_free_ char *label = NULL;
                if (asprintf(&label, "abide-build: layer %zu/%zu %s:%s", i + 1, r->n_layers,
                             layer_type_to_string(r->layers[i].type), r->layers[i].path) < 0)
                        return -ENOMEM;
                progress_begin(label, 0);
                k = layer_apply(&r->layers[i], c->staging, layer_progress, NULL);
                progress_end();
                if (k < 0)
                        return k;
        }
        for (size_t i = 0; i < r->n_binaries; i++) {
                k = r->binaries[i].plain ? staging_copy_file_to(r->binaries[i].source, r->binaries[i].dest, c->staging)
                                         : staging_copy_binary_to(r->binaries[i].source, r->binaries[i].dest, c->staging);
                if (k < 0)
                        return k;
        }
        k = image_bake_agent(&r->agent, c->staging);
        if (k < 0)
                return k;
        k = image_agent_check_watchdog(&r->agent, r->boot.cmdline, c->staging);
        if (k < 0)
                return k;
        if (c->ca_path) {
                k = install_cert("CA certificate", c->ca_path, c->staging, "keys", "ca.pem");
                if (k < 0)
                        return k;
        }
        /* What abidectl checks the UKIs of later bundles against ([Paths] SecureBootCert=). */
        if (c->secure_boot_cert_path) {
                k = install_cert("Secure Boot certificate", c->secure_boot_cert_path, c->staging, "secure-boot", "db.crt");
                if (k < 0)
                        return k;
        }

        if (!r->boot.present)
                return 0;
        /* verb-build checked ca_path and init_path before anything was staged. */
        const ArchInfo *arch = arch_info(r->architecture);
        _cleanup_(kernel_image_done) KernelImage kimg = {};
        if (r->boot.kernel_in_image) {
                k = kernel_image_from_staging(c->staging, r->boot.kernel, arch, c->workdir, &kimg);
                if (k < 0)
                        return k;
                k = staged_depmod(c->staging, kimg.version, kimg.modules_dir);
                if (k < 0)
                        return k;
                c->kernel_path = strdup(kimg.path);
        } else
                c->kernel_path = strdup(r->boot.kernel);
        if (asprintf(&c->initrd_path, "%s/initrd", c->workdir) < 0) {
                c->initrd_path = NULL;
                return -ENOMEM;
        }
        if (!c->kernel_path)
                return -ENOMEM;
        progress_step("abide-build: building the initramfs");
        InitramfsOptions o = {
                .kernel_path = r->boot.kernel,
                .kernel_version = kimg.version,
                .modules_dir = kimg.modules_dir,
                .init_path = c->init_path,
                .ca_cert_path = c->ca_path,
                .arch_modules = arch->initramfs_modules,
                .tools_root = r->architecture != architecture_native() ? c->staging : NULL,
                .epoch = c->epoch,
        };
        return initramfs_build(&o, c->initrd_path);
}
