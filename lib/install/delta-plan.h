/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * A delta plan as install-delta.c makes it, shared with the files that read
 * the slots' trees (delta-tree.c) and carry it out (delta-write.c). Not for
 * callers: install-delta.h.
 */

#include "install/install-delta.h"
#include "net/http-fetch.h"
#include "verity/verity-tree.h"

#define BLOCK 4096U
#define DIGEST SHA256_DIGEST_SIZE
#define BATCH_BLOCKS 256U                 /* 1 MiB per read, check and write */
#define PAYLOAD_MAX (512ULL * 1024 * 1024)  /* kernel, initrd, verity-sig held in memory */

enum {
        SRC_FETCH,
        SRC_RUNNING,
        SRC_TARGET,
        SRC_IN_PLACE,
};

typedef struct Held {
        const Payload *payload;
        uint8_t *data;
        size_t len;
} Held;

struct DeltaPlan {
        DeltaSource *src;
        const Manifest *m;
        const Payload *root;
        uint64_t root_offset;            /* of root.img's data in the bundle */
        const uint64_t *offsets;
        const char *running_kernel_dir;
        uint8_t *verity;                 /* the new root.verity */
        size_t verity_len;
        const uint8_t *leaves;           /* in verity */
        uint64_t n;                      /* blocks */
        uint8_t *kind;
        uint64_t *from;
        int running_fd;
        uint64_t running_offset, running_size;
        int target_fd;                   /* the target root, for reading (its old content) */
        VerityLeafHasher *leaf;          /* sha256(salt || block), several blocks at once */
        DeltaSummary sum;
        Held held[MANIFEST_PAYLOADS_MAX];
        size_t n_held;
        /* The payloads other than root and root.verity that are fetched (needed, not on the ESP, not
         * fetched ahead), in bundle order: asked for with root's last blocks when they follow root
         * in the bundle, else together at the first delta_payload() (fetch_others()). */
        HttpByteRange other[MANIFEST_PAYLOADS_MAX];
        const Payload *other_payload[MANIFEST_PAYLOADS_MAX];
        size_t n_other;
        bool others_after_root;          /* every one of them after root's data */
        bool others_tried;               /* fetched once: what was wrong is asked for alone */
};


/* veritysetup's superblock (format 1), little endian. */
typedef struct VeritySuper {
        uint64_t data_blocks;
        uint8_t salt[256];
        uint16_t salt_size;
} VeritySuper;

/* An old slot as delta_old_leaves() reads it: its verity partition from offset, of verity_size
 * bytes, and its root's size. */
typedef struct OldSlot {
        int verity_fd;
        uint64_t offset, verity_size, root_size;
} OldSlot;

/* Open addressing over digests: slot values are block numbers + 1. */
typedef struct DigestMap {
        uint64_t *slots;
        uint64_t mask;
        const uint8_t *digests;
} DigestMap;

/* delta-tree.c */
/* Hash block numbers of the levels of a tree over data_blocks (level 0: the leaves); the number of levels. */
int delta_tree_levels(uint64_t data_blocks, uint64_t level_block[static 16], unsigned *ret_levels);
int delta_super_parse(const uint8_t *b, size_t len, VeritySuper *ret);
/* Reads [offset, offset + n): fd may be O_DIRECT. */
int delta_read_at(int fd, void *buf, size_t n, uint64_t offset);
/* The leaf hashes of an old slot's tree, or why not (*why; never an error of the install). */
void delta_old_leaves(const OldSlot *o, const VerityParams *want, uint8_t **ret, uint64_t *ret_n, const char **why);
int delta_map_build(DigestMap *m, const uint8_t *digests, uint64_t n, bool keep_last);
/* Block number + 1 of d, 0 when absent. */
uint64_t delta_map_find(const DigestMap *m, const uint8_t *d);
void delta_map_done(DigestMap *m);

/* install-delta.c, for delta-write.c */
/* 0 when a payload's bytes have the manifest's SHA-256, -EBADMSG when not. */
int delta_payload_check(const Payload *pl, const uint8_t *data);
/* Checked bytes of a payload, owned by the plan from here on (the caller has checked there is room). */
const Held *delta_hold(DeltaPlan *p, const Payload *pl, uint8_t **data);
/* The other payloads' ranges behind root's (*ranges, *n). */
int delta_append_others(const DeltaPlan *p, HttpByteRange **ranges, size_t *n);
/* Runs of blocks to fetch, as bundle ranges, near ones joined. */
int delta_fetch_ranges(DeltaPlan *p, HttpByteRange **ret, size_t *ret_n, uint64_t *ret_gap_blocks);
