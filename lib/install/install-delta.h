/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "basic/macro.h"
#include "bundle/manifest.h"
#include "install/delta-source.h"
#include "slot/slot-discover.h"

/*
 * A delta install of the root image driven by dm-verity (docs/delta.md):
 * the new root.verity (bound to the signed manifest by its SHA-256) gives
 * the salted SHA-256 of every 4 KiB block of the new root; the running
 * slot's and the target slot's own hash trees give those of the blocks the
 * device already has (same salt: one per Compatible=). Blocks found
 * locally are copied (each checked against its new leaf hash when read),
 * the rest fetched with Range requests, coalesced into runs.
 */

/* What the plan does with the blocks of the new root image. */
typedef struct DeltaSummary {
        uint64_t blocks;            /* of the new root image */
        uint64_t in_place;          /* already right in the target: not written */
        uint64_t from_running;      /* copied from the running slot */
        uint64_t from_target;       /* moved within the target */
        uint64_t to_fetch;
        uint64_t fetch_ranges;      /* runs of blocks to fetch, near ones joined */
        uint64_t fetch_requests;    /* the requests for them, from a server that answers several ranges a request */
        uint64_t gap_blocks;        /* blocks the device has, fetched and dropped to join runs (<= 1 %) */
        uint64_t verity_bytes;      /* of root.verity fetched: its upper levels and the leaf blocks the device lacks */
        uint64_t verity_local;      /* of root.verity copied from the device's own trees */
        uint64_t other_fetch;       /* verity-sig, kernel, initrd fetched */
        uint64_t other_fetch_count;   /* requests for them */
        uint64_t other_held;          /* of other_fetch, fetched with the headers already (root.verity-sig) */
        uint64_t other_local;       /* kernel, initrd found on the ESP */
        uint64_t refetched;         /* blocks whose local copy did not match (found while writing) */
        uint64_t refetched_remote;  /* fetched blocks that did not match and were fetched again */
        uint64_t refetched_other;   /* other payloads fetched with the rest that did not match, fetched again alone */
        const char *running_tree;   /* NULL: used; else why the running slot's tree was not */
        const char *target_tree;    /* same for the target's */
} DeltaSummary;

typedef struct DeltaPlan DeltaPlan;

typedef struct DeltaInputs {
        const Manifest *manifest;
        const uint64_t *offsets;            /* of each payload's data in the bundle */
        const SlotPartition *running;       /* the running slot's partitions (root, verity), NULL: none */
        int target_root_fd, target_verity_fd;   /* the target's, held open for the install */
        uint64_t target_root_size, target_verity_size;  /* their sizes (InstallTarget.size) */
        const char *running_kernel_dir;     /* the running slot's kernel and initrd, NULL: none */
        const bool *needed;                 /* per payload: written by this device (NULL: all); the others are not fetched */
} DeltaInputs;

/*
 * A URL, after bundle_reader_open_source() and before bundle_reader_index():
 * the payloads' headers where abide-build puts them (bundle_reader_guess_headers()),
 * root.verity's superblock and upper levels and root.verity-sig, in one
 * request instead of a round trip each (docs/delta.md, step 2). A wrong guess costs only those
 * bytes: what is not held is asked for as before, and everything is checked
 * where it is read, as before.
 */
int delta_prefetch(DeltaSource *src, BundleReader *reader);
/* Fetches root.verity and checks it against the manifest, reads the local trees, plans every block. */
int delta_plan(DeltaSource *src, const DeltaInputs *in, DeltaPlan **ret);
void delta_summary(DeltaPlan *p, DeltaSummary *ret);
/* Fills the target's root: local blocks first, then the fetched runs; every block checked; synced. */
int delta_write_root(DeltaPlan *p, int fd, bool direct, const char *label);
/* The bytes of a payload other than root (root.verity from the plan; the others fetched or read
 * from the running slot's ESP files), checked against the manifest's SHA-256. The plan owns them. */
int delta_payload(DeltaPlan *p, const Payload *pl, const uint8_t **ret, size_t *ret_len);
DeltaPlan *delta_plan_free(DeltaPlan *p);
DEFINE_TRIVIAL_CLEANUP_FUNC(DeltaPlan *, delta_plan_free);

/* The geometry of a veritysetup hash device (superblock, 4 KiB hash blocks, SHA-256):
 * the byte offset of the leaf level. -EOPNOTSUPP for a tree without levels. Pure, for tests. */
int delta_leaf_offset(uint64_t data_blocks, uint64_t *ret);
/* Where the leaf level of an old slot's tree lies in its verity partition of verity_size bytes, for its
 * superblock's data_blocks over a root partition of root_size bytes: the byte offset and length (whole hash
 * blocks). -ERANGE when the data would not fit the root partition, -EFBIG when the tree would not fit the
 * verity partition, else as delta_leaf_offset(). Pure, for tests. */
int delta_old_leaves_range(uint64_t data_blocks, uint64_t root_size, uint64_t verity_size, uint64_t *ret_offset,
                           uint64_t *ret_len);
