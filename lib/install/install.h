/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "boot/boot.h"
#include "slot/config.h"
#include "slot/slot.h"

typedef struct InstallOptions {
        unsigned tries;           /* 0: the manifest's, else the config's */
        bool force;               /* allow installing the version already running */
} InstallOptions;

typedef struct InstallResult {
        Slot slot;
        char *version;
        char *entry;              /* the boot entry written, e.g. "abide-b+3.conf" */
        char *signer;
        /* < 0: the slot is installed and bootable, but recording it in the state file failed. */
        int state_error;
        char *state_message;
} InstallResult;

void install_result_done(InstallResult *r);

/*
 * Installs the bundle read from fd (a file or a pipe) into the slot that
 * was not booted (DESIGN.md "Slot states"): target partitions held
 * exclusively, signature verified before anything is written, compatible
 * and version policy checked, the target's boot entry removed before the
 * first write, payloads streamed and hashed, synced, read back and
 * verified (sha256 of every payload, dm-verity of root against verity),
 * and only then the entry abide-X+N.conf written. On failure the running
 * slot and its entry are untouched and the target has no entry.
 */
int install_run(const AbideConfig *c, BootBackend *boot, int fd, const InstallOptions *o, InstallResult *ret);
