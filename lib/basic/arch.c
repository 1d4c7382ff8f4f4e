/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "arch.h"

#include <elf.h>
#include <string.h>

#include "macro.h"

/* Only in arm64's initramfs: Debian's x86-64 kernel has no virtio_mmio
 * devices to drive, QEMU's virt machine has them (built in on Debian's arm64
 * kernel: a built-in module is accepted by the resolver). */
static const char *const arm64_modules[] = { "virtio_mmio", NULL };
static const char *const no_modules[] = { NULL };

static const ArchInfo table[_ARCH_MAX] = {
        [ARCH_X86_64] = {
                .name = "x86-64",
                .deb_arch = "amd64",
                .elf_machine = EM_X86_64,
                .lib_dirs = "/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/lib64:/usr/lib64",
                .dps_root = "4f68bce3-e8cd-4db1-96e7-fbcaf984b709",
                .dps_root_verity = "2c7357ed-ebd2-46d9-aec1-23d437ec2bf5",
                .dps_root_verity_sig = "41092b05-9fc8-4523-994f-2def0408b176",
                .kernel_format = KERNEL_FORMAT_BZIMAGE,
                .initramfs_modules = no_modules,
                .qemu_machine = "q35",
                .efi_arch = "x64",
        },
        [ARCH_ARM64] = {
                .name = "arm64",
                .deb_arch = "arm64",
                .elf_machine = EM_AARCH64,
                .lib_dirs = "/lib/aarch64-linux-gnu:/usr/lib/aarch64-linux-gnu:/lib:/usr/lib",
                .dps_root = "b921b045-1df0-41c3-af44-4c6f280d3fae",
                .dps_root_verity = "df3300ce-d69f-4c92-978c-9bfb0f38d820",
                .dps_root_verity_sig = "6db69de6-29f4-4758-a7a5-962190f00ce3",
                .kernel_format = KERNEL_FORMAT_IMAGE,
                .initramfs_modules = arm64_modules,
                .qemu_machine = "virt",
                .efi_arch = "aa64",
        },
};

const ArchInfo *arch_info(Architecture a) {
        if (a < 0 || a >= _ARCH_MAX)
                return NULL;
        return &table[a];
}

const char *architecture_to_string(Architecture a) {
        const ArchInfo *i = arch_info(a);
        return i ? i->name : NULL;
}

Architecture architecture_from_string(const char *s) {
        if (!s)
                return _ARCH_INVALID;
        for (Architecture a = 0; a < _ARCH_MAX; a++)
                if (streq(s, table[a].name))
                        return a;
        return _ARCH_INVALID;
}

Architecture architecture_native(void) {
#if defined(__aarch64__)
        return ARCH_ARM64;
#else
        return ARCH_X86_64;
#endif
}
