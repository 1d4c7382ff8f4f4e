/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "boot/boot.h"
#include "crypto/trust.h"
#include "slot/config.h"
#include "install/install-delta.h"
#include "slot/slot.h"

typedef struct InstallOptions {
        unsigned tries;           /* 0: the manifest's, else the config's */
        bool force;               /* allow installing the version already running */
        bool dry_run;             /* delta only: verify, plan and say what would be fetched; write nothing */
        /* Called once the signed manifest was accepted, just before the target is
         * first written (not for dry_run): the install-started report. May be NULL. */
        void (*on_begin)(Slot target, const char *version, unsigned tries, void *userdata);
        /* Called when another abidectl (boot-check, mark-good, mark-bad) holds the state file's
         * lock and the install waits for it (why: one line). May be NULL. */
        void (*on_state_wait)(const char *why, void *userdata);
        void *userdata;
        /* The SHA-256 the bundle's manifest.json bytes must have (abidectl update: the signed
         * channel's manifest_sha256); another manifest is refused before anything is written. NULL: any. */
        const uint8_t *expect_manifest_sha256;
        /* install_run(): what messages call the bundle (its path, the URL as shown, "standard input");
         * NULL: "bundle". A delta install's source names itself (delta_source_display()). */
        const char *bundle_name;
} InstallOptions;

typedef struct InstallResult {
        Slot slot;
        char *version;
        char *entry;              /* the boot entry written, e.g. "abide-b+3.conf" */
        char *signer;
        bool delta;               /* install_run_delta(): what the plan did */
        DeltaSummary summary;
} InstallResult;

void install_result_done(InstallResult *r);

/* The release trust store: [Paths] Keys= with [Trust]'s policy, as every install verifies with. */
int install_trust_load(const AbideConfig *c, TrustStore **ret);

/*
 * Installs the bundle read from fd (a file or a pipe) into the slot that
 * was not booted (DESIGN.md "Slot states"): target partitions held
 * exclusively, signature verified before anything is written, compatible
 * and version policy checked, the target's boot entry removed before the
 * first write, payloads streamed and hashed, synced, read back and
 * verified once (dm-verity of root against the signed root hash, sha256 of
 * every other payload; docs/install.md), then the slot recorded as pending
 * on trial in the state file, and only then the entry abide-X+N.conf
 * written: no entry exists that the state file does not know as a trial.
 * On failure (a state file that cannot be written included) the running
 * slot and its entry are untouched and the target has no entry.
 */
int install_run(const AbideConfig *c, BootBackend *boot, int fd, const InstallOptions *o, InstallResult *ret);

/*
 * The same install from a bundle read at offsets (install-delta.h,
 * docs/delta.md): the same checks and order, but the root image is filled
 * from the blocks the device has and only the rest is read from src; every
 * block is checked against its dm-verity leaf hash and the whole slot
 * still read back and verified before its entry is written. With
 * o->dry_run nothing is written: the result's summary says what would be
 * fetched. -EOPNOTSUPP (before anything is written) when the bundle does
 * not allow a delta.
 */
int install_run_delta(const AbideConfig *c, BootBackend *boot, DeltaSource *src, const InstallOptions *o,
                      InstallResult *ret);
