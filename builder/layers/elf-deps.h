/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The ELF machine (EM_*) of a 64-bit little-endian ELF file. */
int elf_machine(const char *path, uint16_t *ret);

/*
 * The shared-library closure of a program built for another machine, which
 * ldd cannot run: its PT_INTERP and DT_NEEDED libraries, recursively, looked
 * up in lib_dirs (':'-separated, e.g. Debian's /usr/lib/aarch64-linux-gnu of
 * the :arm64 packages). Returns a NULL-terminated list of absolute paths.
 */
int elf_needed_closure(const char *path, const char *lib_dirs, char ***ret, size_t *ret_n);
