/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Moves /proc, /sys, /dev and /run into sysroot, frees the initramfs
 * (removes its files, without crossing into other mounts, and only when /
 * is the kernel's rootfs: ramfs or tmpfs), makes sysroot the root
 * (chdir, mount --move . /, chroot .) and execs init with argv. Returns
 * only on failure; after the initramfs is freed there is no way back, so
 * the caller can only reboot.
 */
int init_switch_root(const char *sysroot, const char *init, char *const argv[]);

/* Whether init (an absolute path) is an executable regular file in the root mounted at sysroot,
 * symlinks resolved inside it, as execv() will see it after the chroot. */
int init_check_exec(const char *sysroot, const char *init);
