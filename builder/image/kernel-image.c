/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kernel-image.h"

#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/process.h"
#include "initramfs.h"

/* arm64 Image header: "ARM\x64" at offset 0x38 (Documentation/arch/arm64/booting.rst). */
#define ARM64_IMAGE_MAGIC_OFFSET 0x38
/* x86 boot protocol: "HdrS" at 0x202. */
#define BZIMAGE_MAGIC_OFFSET 0x202

void kernel_image_done(KernelImage *k) {
        free(k->path);
        free(k->version);
        free(k->modules_dir);
        *k = (KernelImage) {};
}

/* realpath of path, which must stay inside root (a symlink in a layer may not point out of it). */
static int resolve_inside(const char *root, const char *path, char **ret) {
        _cleanup_free_ char *rroot = realpath(root, NULL), *real = realpath(path, NULL);
        if (!rroot || !real)
                return -errno;
        size_t n = strlen(rroot);
        if (strncmp(real, rroot, n) != 0 || real[n] != '/')
                return err_set(EPERM, "%s points outside the image (%s)", path, real);
        *ret = TAKE_PTR(real);
        return 0;
}

static int read_at(const char *path, off_t off, void *buf, size_t n) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return err_set(errno, "%s: %m", path);
        if (pread(fd, buf, n, off) != (ssize_t) n)
                return err_set(ENOEXEC, "%s: too short for a kernel", path);
        return 0;
}

static int kernel_convert(const char *path, const ArchInfo *arch, const char *workdir, char **ret) {
        uint8_t magic[4];
        int r;

        if (arch->kernel_format == KERNEL_FORMAT_BZIMAGE) {
                r = read_at(path, BZIMAGE_MAGIC_OFFSET, magic, sizeof magic);
                if (r < 0)
                        return r;
                if (memcmp(magic, "HdrS", 4) != 0)
                        return err_set(ENOEXEC, "kernel %s: not an x86 bzImage (architecture %s)", path, arch->name);
                *ret = strdup(path);
                return *ret ? 0 : -ENOMEM;
        }

        _cleanup_free_ char *out = NULL;
        const char *image = path;
        r = read_at(path, 0, magic, 2);
        if (r < 0)
                return r;
        if (magic[0] == 0x1f && magic[1] == 0x8b) {
                if (asprintf(&out, "%s/vmlinuz", workdir) < 0)
                        return -ENOMEM;
                r = process_run((char *const[]) { (char *) "gzip", (char *) "-dc", (char *) path, NULL }, NULL, out);
                if (r < 0)
                        return err_prefix(r, "kernel %s: gzip -dc", path);
                image = out;
        }
        r = read_at(image, ARM64_IMAGE_MAGIC_OFFSET, magic, sizeof magic);
        if (r < 0)
                return r;
        if (memcmp(magic, "ARM\x64", 4) != 0)
                return err_set(ENOEXEC, "kernel %s: not an arm64 Image (architecture %s)", path, arch->name);
        *ret = out ? TAKE_PTR(out) : strdup(path);
        return *ret ? 0 : -ENOMEM;
}

int kernel_image_from_staging(const char *staging, const char *pattern, const ArchInfo *arch, const char *workdir,
                              KernelImage *ret) {
        _cleanup_(kernel_image_done) KernelImage k = {};
        _cleanup_free_ char *full = NULL, *best = NULL;
        glob_t g = {};
        int r;

        if (asprintf(&full, "%s%s", staging, pattern) < 0)
                return -ENOMEM;
        r = glob(full, 0, NULL, &g);
        if (r != 0 || g.gl_pathc == 0) {
                globfree(&g);
                return err_set(ENOENT, "[Boot] Kernel=image:%s: no such kernel in the image's layers", pattern);
        }
        const char *pick = g.gl_pathv[0];
        for (size_t i = 1; i < g.gl_pathc; i++)
                if (strverscmp(g.gl_pathv[i], pick) > 0)
                        pick = g.gl_pathv[i];
        best = strdup(pick);
        globfree(&g);
        if (!best)
                return -ENOMEM;

        r = initramfs_kernel_version(best, &k.version);
        if (r < 0)
                return r;
        _cleanup_free_ char *real = NULL;
        r = resolve_inside(staging, best, &real);
        if (r < 0)
                return err_prefix(r, "kernel %s", best);

        static const char *const mdirs[] = { "lib/modules", "usr/lib/modules" };
        for (size_t i = 0; i < ELEMENTSOF(mdirs) && !k.modules_dir; i++) {
                _cleanup_free_ char *d = NULL;
                if (asprintf(&d, "%s/%s/%s", staging, mdirs[i], k.version) < 0)
                        return -ENOMEM;
                if (access(d, F_OK) == 0) {
                        r = resolve_inside(staging, d, &k.modules_dir);
                        if (r < 0)
                                return err_prefix(r, "modules of %s", k.version);
                }
        }
        if (!k.modules_dir)
                return err_set(ENOENT, "kernel %s: the image's layers have no /lib/modules/%s", pattern, k.version);

        r = kernel_convert(real, arch, workdir, &k.path);
        if (r < 0)
                return r;
        *ret = k;
        k = (KernelImage) {};
        return 0;
}
