/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "basic/macro.h"

/*
 * The U-Boot environment through libubootenv, per a fw_env.config (two
 * lines: a redundant environment, so a torn write leaves the other copy;
 * libubootenv reads the valid copy with the higher flag and writes the
 * other one). The only file that calls libubootenv.
 */
typedef struct UBootEnv UBootEnv;

/*
 * Reads the environment. -ENODATA with a message when no copy is valid
 * (never saved, or both torn): abide does not write one then, as it would
 * replace U-Boot's built-in default environment (bootcmd and the rest).
 * Holds an exclusive lock on the config file until freed, so abidectl's
 * read-modify-write cycles do not interleave.
 */
int uboot_env_open(const char *config, UBootEnv **ret);
UBootEnv *uboot_env_free(UBootEnv *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(UBootEnv *, uboot_env_free);

/* The value, or NULL when unset (or out of memory: callers treat both as unset only for reading). */
char *uboot_env_get(UBootEnv *e, const char *name);
/* value NULL: unset. */
int uboot_env_set(UBootEnv *e, const char *name, const char *value);
/* Writes the other copy; the environment read so far stays valid until it has landed.
 * -EOPNOTSUPP with a message for a config naming one copy only: a torn write would lose it all. */
int uboot_env_store(UBootEnv *e);
/* Lets uboot_env_store() write a one-copy environment ([Boot] UBootEnvSingleCopy=yes): for boards
 * whose U-Boot keeps one copy only (QEMU virt's flash), accepting that a torn write loses it. */
void uboot_env_allow_single_copy(UBootEnv *e);
