/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "basic/arch.h"

typedef struct KernelImage {
        char *path;             /* the kernel as the loader takes it (may be in workdir) */
        char *version;          /* KVER of vmlinuz-KVER */
        char *modules_dir;      /* the staged tree's /lib/modules/KVER */
} KernelImage;

void kernel_image_done(KernelImage *k);

/*
 * Kernel=image:PATTERN: the newest match of PATTERN inside the staged tree,
 * its modules from the same tree's /lib/modules/KVER (or /usr/lib/modules),
 * never the build machine's. Checked for the architecture's boot format. An
 * arm64 kernel must be an uncompressed Image: U-Boot's booti takes a
 * compressed one only with kernel_comp_addr_r set. Debian 12's arm64 vmlinuz
 * already is one; a gzip-compressed one is decompressed to workdir/vmlinuz.
 */
int kernel_image_from_staging(const char *staging, const char *pattern, const ArchInfo *arch, const char *workdir,
                              KernelImage *ret);
