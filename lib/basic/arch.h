/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <stdint.h>

/* The architectures abide builds images for: one table, never #ifdef or
 * "if (arm64)" spread through the code (DESIGN.md "Architectures"). */
typedef enum Architecture {
        ARCH_X86_64,
        ARCH_ARM64,
        _ARCH_MAX,
        _ARCH_INVALID = -EINVAL,
} Architecture;

typedef enum KernelFormat {
        KERNEL_FORMAT_BZIMAGE,  /* x86 bzImage: the loader takes vmlinuz as it is */
        KERNEL_FORMAT_IMAGE,    /* arm64 Image: U-Boot's booti wants it uncompressed */
} KernelFormat;

typedef struct ArchInfo {
        const char *name;               /* recipe and manifest spelling: "x86-64", "arm64" */
        const char *deb_arch;           /* Debian's: "amd64", "arm64" */
        uint16_t elf_machine;           /* EM_X86_64, EM_AARCH64 */
        const char *lib_dirs;           /* ':'-separated multiarch library directories */
        /* Discoverable Partitions Specification type GUIDs */
        const char *dps_root;
        const char *dps_root_verity;
        const char *dps_root_verity_sig;
        KernelFormat kernel_format;
        const char *const *initramfs_modules;   /* NULL-terminated, loaded after the common set */
        const char *qemu_machine;
        const char *efi_arch;           /* UEFI's file name suffix: "x64" (BOOTX64.EFI, linuxx64.efi.stub), "aa64" */
} ArchInfo;

const ArchInfo *arch_info(Architecture a);
const char *architecture_to_string(Architecture a);
Architecture architecture_from_string(const char *s);
/* The machine abide-build runs on (the default of [Image] Architecture=). */
Architecture architecture_native(void);
