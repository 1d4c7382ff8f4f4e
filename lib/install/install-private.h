/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * One install as install.c runs it, shared with the files of its steps:
 * install-write.c (the payloads onto the target), install-flush.c (the
 * flush beside the ESP's writes), install-verify.c (the read-back) and
 * install-record.c (the state file's turns). Not for callers: install.h.
 */

#include <pthread.h>

#include "bundle/bundle.h"
#include "install/install-delta.h"
#include "install/install-policy.h"
#include "install/install-stream.h"
#include "install/install-target.h"
#include "install/install.h"
#include "slot/state.h"
#include "verity/verity-tree.h"

/* The leaves, and the tree read back with them, are held in memory: up to 32 MiB each (a 4 GiB root). */
#define LEAVES_MAX (32U * 1024 * 1024)

/* The slot's partitions flushed in a thread, while the kernel and initrd are written to the ESP. */
typedef struct Flush {
        pthread_t thread;
        bool running;
        size_t n;
        int parts[_SLOT_PART_MAX]; /* the targets to flush */
        int error;                /* errno of the first fdatasync that failed */
        size_t failed;
} Flush;

typedef struct Install {
        const AbideConfig *config;
        BootBackend *boot;
        const InstallOptions *opts;
        Slot booted, target;
        InstallTarget parts[_SLOT_PART_MAX];
        char *kernel_dir;
        BundleReader *reader;
        AbideState *state;        /* the state file as last read, under its lock (install_record()) */
        const ImageIdentity *running, *bundle_id; /* what install_policy_check() judged */
        DeltaSource *src;         /* a delta install: not owned */
        uint64_t *offsets;
        DeltaPlan *plan;
        char *running_kernel_dir;
        VerityLeafHasher *hasher;
        uint8_t *leaves;          /* root's dm-verity leaf digests, as read back while it was written */
        InstallStream *root_stream; /* root's read-back, still hashing after root was written */
        bool have_leaves;
        uint8_t *tree;            /* root.verity, read back as soon as it was written */
        size_t tree_size;
        bool tree_checked;        /* root and its tree, as read back, proven against the signed root hash */
        bool unsynced[_SLOT_PART_MAX]; /* written, not yet flushed */
        Flush flush;
        bool uki;                 /* the device boots signed UKIs: [Paths] SecureBootCert= exists */
} Install;

/* The slot partition a payload goes to, _SLOT_PART_INVALID for the ESP's files. */
SlotPart install_role_part(PayloadRole role);
/*
 * What this device writes of a payload: every slot partition; the kernel
 * and initrd for a type #1 entry, or (Secure Boot) only the target slot's
 * UKI, whose command line names that slot. The others are still read and
 * checked against the manifest, as every member is, but not written.
 */
bool install_payload_needed(const Install *in, PayloadRole role);

/* install-write.c */
/* The target's old kernel, initrd, staged UKI and temporaries of an interrupted install. */
int install_clean_kernel_dir(const char *dir);
/* Every payload from the bundle's stream onto the target, root read back as it is written. */
int install_write_stream(Install *in);
/* The same for a delta install: root from in->plan, the others from memory. */
int install_write_delta(Install *in, const Manifest *m);

/* install-flush.c */
/* Starts the flush of every partition written since the last one, unless one still runs. */
int install_flush_start(Install *in);
/* Waits for the flush, then syncs what was written after it started: then everything written is on the devices. */
int install_flush_finish(Install *in);

/* install-verify.c */
/* What landed, read back from the devices, in one pass over root (the comment at its definition). */
int install_verify_slot(Install *in, const Manifest *m);
/* The staged UKI against the Secure Boot db certificate(s) of the running image; its path. */
int install_verify_uki(Install *in, char **ret_path);

/* install-record.c */
typedef enum InstallRecord {
        INSTALL_RECORD_BEGIN,   /* installing, after the policy is judged again */
        INSTALL_RECORD_DONE,    /* pending: verified, its entry about to be written */
        INSTALL_RECORD_UNDO,    /* back to installing: the entry could not be written */
} InstallRecord;
/* A turn on the state file's lock (waits, saying so, when another abidectl holds it); the lock's fd. */
int install_record_turn(Install *in, int *ret_fd);
/* Under a turn: the target's record in the state file as it is now. */
int install_record(Install *in, const Manifest *m, InstallRecord what);
