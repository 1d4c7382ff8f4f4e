/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "install-delta.h"

#include <endian.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/progress.h"
#include "crypto/hash.h"
#include "install/install-target.h"
#include "verity/verity-tree.h"

#define BLOCK 4096U
#define DIGEST SHA256_DIGEST_SIZE
#define HASHES_PER_BLOCK_BITS 7           /* 4096 / 32 = 128 digests per hash block */
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

DeltaPlan *delta_plan_free(DeltaPlan *p) {
        if (!p)
                return NULL;
        free(p->verity);
        free(p->kind);
        free(p->from);
        safe_close(p->running_fd);
        verity_leaf_hasher_free(p->leaf);
        for (size_t i = 0; i < p->n_held; i++)
                free(p->held[i].data);
        free(p);
        return NULL;
}

/* Hash block numbers of the levels of a tree over data_blocks (level 0: the leaves); the number of levels. */
static int tree_levels(uint64_t data_blocks, uint64_t level_block[static 16], unsigned *ret_levels) {
        unsigned levels = 0;
        uint64_t position = 1;           /* the superblock takes the first hash block */

        if (data_blocks == 0)
                return -EINVAL;
        while (HASHES_PER_BLOCK_BITS * levels < 64 && ((data_blocks - 1) >> (HASHES_PER_BLOCK_BITS * levels)))
                levels++;
        if (levels == 0)
                return -EOPNOTSUPP;
        for (int i = (int) levels - 1; i >= 0; i--) {
                unsigned shift = (unsigned) (i + 1) * HASHES_PER_BLOCK_BITS;
                if (shift > 63)
                        return -EOVERFLOW;
                level_block[i] = position;
                position += (data_blocks + ((uint64_t) 1 << shift) - 1) >> shift;
        }
        *ret_levels = levels;
        return 0;
}

int delta_leaf_offset(uint64_t data_blocks, uint64_t *ret) {
        uint64_t level_block[16];
        unsigned levels;
        int r = tree_levels(data_blocks, level_block, &levels);
        if (r < 0)
                return r;
        *ret = level_block[0] * BLOCK;
        return 0;
}

/* veritysetup's superblock (format 1), little endian. */
typedef struct VeritySuper {
        uint64_t data_blocks;
        uint8_t salt[256];
        uint16_t salt_size;
} VeritySuper;

static int super_parse(const uint8_t *b, size_t len, VeritySuper *ret) {
        uint32_t v32;
        uint64_t v64;
        uint16_t v16;

        if (len < 512 || memcmp(b, "verity\0\0", 8) != 0)
                return err_set(EBADMSG, "no verity superblock");
        memcpy(&v32, b + 8, 4);
        if (le32toh(v32) != 1)
                return err_set(EBADMSG, "verity superblock version %u", le32toh(v32));
        memcpy(&v32, b + 12, 4);
        if (le32toh(v32) != 1)
                return err_set(EBADMSG, "verity hash type %u (not 1)", le32toh(v32));
        if (strncmp((const char *) b + 32, "sha256", 32) != 0)
                return err_set(EBADMSG, "verity hash algorithm is not sha256");
        memcpy(&v32, b + 64, 4);
        uint32_t dbs = le32toh(v32);
        memcpy(&v32, b + 68, 4);
        if (dbs != BLOCK || le32toh(v32) != BLOCK)
                return err_set(EBADMSG, "verity block sizes %u/%u (not 4096)", dbs, le32toh(v32));
        memcpy(&v64, b + 72, 8);
        memcpy(&v16, b + 80, 2);
        ret->data_blocks = le64toh(v64);
        ret->salt_size = le16toh(v16);
        if (ret->salt_size > sizeof ret->salt)
                return err_set(EBADMSG, "verity salt of %u bytes", ret->salt_size);
        memcpy(ret->salt, b + 88, ret->salt_size);
        return 0;
}

/*
 * Reads [offset, offset + n): fd may be O_DIRECT. Straight into buf where buf, offset and n are block
 * aligned; else through an aligned bounce buffer.
 */
static int read_any(int fd, void *buf, size_t n, uint64_t offset) {
        if ((uintptr_t) buf % BLOCK == 0 && offset % BLOCK == 0 && n % BLOCK == 0)
                return pread_exact(fd, buf, n, offset);
        uint64_t start = offset / BLOCK * BLOCK, end = (offset + n + BLOCK - 1) / BLOCK * BLOCK;
        _cleanup_free_ uint8_t *b = NULL;
        if (posix_memalign((void **) &b, BLOCK, (size_t) (end - start)) != 0)
                return -ENOMEM;
        int r = pread_exact(fd, b, (size_t) (end - start), start);
        if (r < 0)
                return r;
        memcpy(buf, b + (offset - start), n);
        return 0;
}

int delta_old_leaves_range(uint64_t data_blocks, uint64_t root_size, uint64_t verity_size, uint64_t *ret_offset,
                           uint64_t *ret_len) {
        uint64_t leaf;

        /* First: it bounds data_blocks (below 2^52), so nothing after it overflows. */
        if (data_blocks > root_size / BLOCK)
                return -ERANGE;
        int r = delta_leaf_offset(data_blocks, &leaf);
        if (r < 0)
                return r;
        /* Whole hash blocks (the last one zero-padded, as dm-verity writes it: they are matched as blocks too);
         * the leaves are the tree's last level. */
        uint64_t len = (data_blocks * DIGEST + BLOCK - 1) / BLOCK * BLOCK;
        if (leaf > verity_size || len > verity_size - leaf)
                return -EFBIG;
        *ret_offset = leaf;
        *ret_len = len;
        return 0;
}

/* An old slot as old_leaves() reads it: its verity partition from offset, of verity_size bytes, and its root's size. */
typedef struct OldSlot {
        int verity_fd;
        uint64_t offset, verity_size, root_size;
} OldSlot;

/*
 * The leaf hashes of an old slot's tree (its own superblock says how many blocks), or why not. They are
 * only a hint, and the superblock is whatever the partition holds: a tree that cannot be read, held or
 * placed within the slot's partitions is not used, never an error of the install.
 */
static void old_leaves(const OldSlot *o, const VerityParams *want, uint8_t **ret, uint64_t *ret_n, const char **why) {
        uint8_t sb[512];
        VeritySuper s;
        uint64_t leaf, len;

        *ret = NULL;
        *ret_n = 0;
        if (read_any(o->verity_fd, sb, sizeof sb, o->offset) < 0) {
                err_clear();
                *why = "its verity partition cannot be read";
                return;
        }
        if (super_parse(sb, sizeof sb, &s) < 0) {
                err_clear();
                *why = "no valid verity superblock (empty or interrupted)";
                return;
        }
        if (s.salt_size != want->salt_size || memcmp(s.salt, want->salt, s.salt_size) != 0) {
                *why = "another verity salt (built before salts were per Compatible=, or another product)";
                return;
        }
        switch (delta_old_leaves_range(s.data_blocks, o->root_size, o->verity_size, &leaf, &len)) {
        case 0:
                break;
        case -ERANGE:
                *why = "its verity superblock covers more blocks than its root partition holds";
                return;
        case -EFBIG:
                *why = "its verity superblock's tree does not fit its verity partition";
                return;
        default:
                *why = "a tree without levels";
                return;
        }
        /* Aligned: read_any() reads straight into it, without a bounce buffer as large. */
        _cleanup_free_ uint8_t *l = NULL;
        if (len > SIZE_MAX || posix_memalign((void **) &l, BLOCK, (size_t) len) != 0) {
                *why = "its hash tree cannot be held in memory";
                return;
        }
        if (read_any(o->verity_fd, l, (size_t) len, o->offset + leaf) < 0) {
                err_clear();
                *why = "its hash tree cannot be read";
                return;
        }
        *ret = TAKE_PTR(l);
        *ret_n = s.data_blocks;
        *why = NULL;
}

/* Open addressing over digests: slot values are block numbers + 1. */
typedef struct DigestMap {
        uint64_t *slots;
        uint64_t mask;
        const uint8_t *digests;
} DigestMap;

static uint64_t digest_key(const uint8_t *d) {
        uint64_t k;
        memcpy(&k, d, sizeof k);
        return k;
}

static int map_build(DigestMap *m, const uint8_t *digests, uint64_t n, bool keep_last) {
        uint64_t cap = 1;
        while (cap < n * 2)
                cap <<= 1;
        m->slots = calloc(cap, sizeof *m->slots);
        if (!m->slots)
                return -ENOMEM;
        m->mask = cap - 1;
        m->digests = digests;
        for (uint64_t j = 0; j < n; j++) {
                const uint8_t *d = digests + j * DIGEST;
                for (uint64_t s = digest_key(d) & m->mask;; s = (s + 1) & m->mask) {
                        if (m->slots[s] == 0) {
                                m->slots[s] = j + 1;
                                break;
                        }
                        if (memcmp(digests + (m->slots[s] - 1) * DIGEST, d, DIGEST) == 0) {
                                if (keep_last)
                                        m->slots[s] = j + 1;
                                break;
                        }
                }
        }
        return 0;
}

/* Block number + 1 of d, 0 when absent. */
static uint64_t map_find(const DigestMap *m, const uint8_t *d) {
        if (!m->slots)
                return 0;
        for (uint64_t s = digest_key(d) & m->mask;; s = (s + 1) & m->mask) {
                if (m->slots[s] == 0)
                        return 0;
                if (memcmp(m->digests + (m->slots[s] - 1) * DIGEST, d, DIGEST) == 0)
                        return m->slots[s];
        }
}

static void map_done(DigestMap *m) {
        free(m->slots);
        m->slots = NULL;
}

/*
 * Whether each of the n blocks at blocks holds new block i + t's content
 * (ok[t]). Hashed in one call: where the CPU has the lanes several blocks go
 * at once (crypto/sha256-many.h).
 */
static int blocks_ok(DeltaPlan *p, uint64_t i, const uint8_t *blocks, uint64_t n, bool *ok) {
        uint8_t d[BATCH_BLOCKS * DIGEST];

        if (n > BATCH_BLOCKS)
                return -EINVAL;
        int r = verity_leaf_hash(p->leaf, blocks, n, d);
        if (r < 0)
                return r;
        for (uint64_t t = 0; t < n; t++)
                ok[t] = memcmp(d + t * DIGEST, p->leaves + (i + t) * DIGEST, DIGEST) == 0;
        return 0;
}

static const Payload *find_role(const Manifest *m, PayloadRole role, size_t *ret_index) {
        for (size_t i = 0; i < m->n_payloads; i++)
                if (m->payloads[i].role == role) {
                        if (ret_index)
                                *ret_index = i;
                        return &m->payloads[i];
                }
        return NULL;
}

static int fetch_ranges(DeltaPlan *p, HttpByteRange **ret, size_t *ret_n, uint64_t *ret_gap_blocks);

/* The other payloads' ranges behind root's (*ranges, *n). */
static int append_others(const DeltaPlan *p, HttpByteRange **ranges, size_t *n) {
        HttpByteRange *all = reallocarray(*ranges, *n + p->n_other, sizeof *all);
        if (!all)
                return -ENOMEM;
        memcpy(all + *n, p->other, p->n_other * sizeof *all);
        *ranges = all;
        *n += p->n_other;
        return 0;
}

/* The old trees' leaf-level blocks, each under the salted hash dm-verity's level above gives it. */
typedef struct OldTrees {
        const uint8_t *blocks[2];
        uint64_t n[2];                  /* leaf-level hash blocks */
} OldTrees;

static int fetch_whole_tree(DeltaPlan *p, const Payload *vp, uint64_t offset) {
        progress_step("Fetching root.verity (%" PRIu64 " bytes)", vp->size);
        p->sum.verity_bytes = vp->size;
        p->sum.verity_local = 0;
        return delta_source_read_at(p->src, offset, p->verity, p->verity_len);
}

/*
 * The new root.verity into p->verity. Its superblock and upper levels are
 * fetched; the level right above the leaves holds the salted hash of every
 * leaf-level hash block, so leaf-level blocks found in an old tree (the
 * same salted hash) are copied from there and only the others fetched.
 * Nothing of it is trusted yet: the caller checks the whole against the
 * signed manifest (and fetches it whole once when a server lied about the
 * upper levels).
 */
static int fetch_tree(DeltaPlan *p, const Payload *vp, uint64_t offset, const OldTrees *old) {
        uint64_t level_block[16];
        unsigned levels;
        int r;

        r = tree_levels(p->n, level_block, &levels);
        if (r < 0)
                return r;
        uint64_t leaf0 = level_block[0], nleaf = (p->n * DIGEST + BLOCK - 1) / BLOCK;
        if (levels < 2 || (leaf0 + nleaf) * BLOCK != vp->size || (!old->n[0] && !old->n[1]))
                return fetch_whole_tree(p, vp, offset);

        /* The superblock and the upper levels. */
        progress_step("Fetching root.verity's upper levels (%" PRIu64 " bytes)", leaf0 * BLOCK);
        r = delta_source_read_at(p->src, offset, p->verity, (size_t) (leaf0 * BLOCK));
        if (r < 0)
                return r;
        const uint8_t *above = p->verity + level_block[1] * BLOCK;

        /* The old leaf-level blocks by their salted hash. */
        uint64_t total = old->n[0] + old->n[1];
        _cleanup_free_ uint8_t *digests = malloc(total * DIGEST);
        if (!digests)
                return -ENOMEM;
        for (unsigned t = 0; t < 2; t++) {
                r = verity_leaf_hash(p->leaf, old->blocks[t], old->n[t], digests + (t ? old->n[0] : 0) * DIGEST);
                if (r < 0)
                        return r;
        }
        DigestMap map = {};
        r = map_build(&map, digests, total, false);
        if (r < 0)
                return r;
        _cleanup_free_ HttpByteRange *ranges = calloc(nleaf, sizeof *ranges);
        if (!ranges) {
                map_done(&map);
                return -ENOMEM;
        }
        size_t n = 0;
        uint64_t local = 0;
        for (uint64_t k = 0; k < nleaf; k++) {
                uint64_t j = map_find(&map, above + k * DIGEST);
                if (j) {
                        j--;
                        const uint8_t *b = j < old->n[0] ? old->blocks[0] + j * BLOCK : old->blocks[1] + (j - old->n[0]) * BLOCK;
                        memcpy(p->verity + (leaf0 + k) * BLOCK, b, BLOCK);
                        local++;
                        continue;
                }
                uint64_t at = offset + (leaf0 + k) * BLOCK;
                if (n > 0 && ranges[n - 1].start + ranges[n - 1].length == at)
                        ranges[n - 1].length += BLOCK;
                else
                        ranges[n++] = (HttpByteRange) { at, BLOCK };
        }
        map_done(&map);
        p->sum.verity_local = local * BLOCK;
        p->sum.verity_bytes = vp->size - local * BLOCK;
        if (n == 0)
                return 0;
        progress_step("Fetching %" PRIu64 " of root.verity's %" PRIu64 " leaf blocks", nleaf - local, nleaf);
        r = delta_source_ranges_begin(p->src, ranges, n);
        for (size_t q = 0; q < n && r >= 0; q++)
                r = delta_source_ranges_read(p->src, p->verity + (ranges[q].start - offset), (size_t) ranges[q].length);
        int k = delta_source_ranges_end(p->src);
        return r < 0 ? r : k;
}

/* root.verity's superblock and upper levels fetched ahead at the most (64 GiB of root: 4 MiB). */
#define PREFETCH_UPPER_MAX (UINT64_C(4) * 1024 * 1024)
/* A root.verity-sig fetched ahead at the most (a CMS signature: a few KiB). */
#define PREFETCH_SIG_MAX (UINT64_C(64) * 1024)

int delta_prefetch(DeltaSource *src, BundleReader *reader) {
        const Manifest *m = bundle_reader_manifest(reader);
        uint64_t headers[MANIFEST_PAYLOADS_MAX + 1], upper = 0;
        HttpByteRange ranges[MANIFEST_PAYLOADS_MAX + 1];
        uint64_t size = delta_source_bundle(src)->size;
        size_t vi = SIZE_MAX, n = 0;

        if (!delta_source_is_url(src) || !m || m->n_payloads > MANIFEST_PAYLOADS_MAX ||
            bundle_reader_guess_headers(reader, headers) < 0)
                return 0;
        const Payload *vp = find_role(m, PAYLOAD_VERITY, &vi);
        if (!vp || delta_leaf_offset(m->verity.data_blocks, &upper) < 0 || upper > vp->size || upper > PREFETCH_UPPER_MAX)
                upper = 0;
        for (size_t i = 0; i <= m->n_payloads && headers[i] < size; i++) {
                uint64_t end = headers[i] + BUNDLE_HEADER_WINDOW;
                /* A payload's data starts after its one header block: root.verity's upper levels, and
                 * root.verity-sig, which every install needs and no device has. */
                if (i == vi && upper > 0)
                        end = MAX(end, headers[i] + BUNDLE_TAR_BLOCK + upper);
                if (i < m->n_payloads && m->payloads[i].role == PAYLOAD_VERITY_SIG && m->payloads[i].size <= PREFETCH_SIG_MAX)
                        end = MAX(end, headers[i] + BUNDLE_TAR_BLOCK + m->payloads[i].size);
                end = MIN(end, size);
                if (n > 0 && headers[i] <= ranges[n - 1].start + ranges[n - 1].length)
                        ranges[n - 1].length = MAX(ranges[n - 1].start + ranges[n - 1].length, end) - ranges[n - 1].start;
                else
                        ranges[n++] = (HttpByteRange) { headers[i], end - headers[i] };
        }
        return n > 0 ? delta_source_prefetch(src, ranges, n) : 0;
}

/* 0 when a payload's bytes have the manifest's SHA-256, -EBADMSG when not. */
static int payload_check(const Payload *pl, const uint8_t *data) {
        uint8_t digest[DIGEST];
        int r = sha256_buf(data, pl->size, digest);
        if (r < 0)
                return r;
        return memcmp(digest, pl->sha256, DIGEST) == 0 ? 0 : -EBADMSG;
}

/* Checked bytes of a payload, owned by the plan from here on (the caller has checked there is room). */
static const Held *hold(DeltaPlan *p, const Payload *pl, uint8_t **data) {
        p->held[p->n_held] = (Held) { .payload = pl, .data = TAKE_PTR(*data), .len = (size_t) pl->size };
        return &p->held[p->n_held++];
}

/*
 * A kernel or initrd that the running slot's copy on the ESP already is (same
 * size and sha256): read and checked once, here, and held for
 * delta_payload(), so that it is neither fetched nor read and hashed again
 * (and a copy that changes after the plan cannot slip in). 1: held, 0: not
 * the same (or unreadable: then fetched).
 */
static int hold_running(DeltaPlan *p, const Payload *pl) {
        _cleanup_free_ char *path = NULL;
        struct stat st;

        if (pl->size > PAYLOAD_MAX || p->n_held >= MANIFEST_PAYLOADS_MAX)
                return 0;
        if (asprintf(&path, "%s/%s", p->running_kernel_dir, install_role_file(pl->role)) < 0)
                return -ENOMEM;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t) st.st_size != pl->size)
                return 0;
        _cleanup_free_ uint8_t *data = malloc(MAX((size_t) pl->size, (size_t) 1));
        if (!data)
                return -ENOMEM;
        int r = pread_exact(fd, data, (size_t) pl->size, 0);
        if (r >= 0)
                r = payload_check(pl, data);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                err_clear();
                return 0;
        }
        hold(p, pl, &data);
        return 1;
}

int delta_plan(DeltaSource *src, const DeltaInputs *in, DeltaPlan **ret) {
        _cleanup_(delta_plan_freep) DeltaPlan *p = calloc(1, sizeof *p);
        const Manifest *m = in->manifest;
        size_t ri = 0, vi = 0;
        uint8_t digest[DIGEST];
        int r;

        if (!p)
                return -ENOMEM;
        p->running_fd = -EBADF;
        p->src = src;
        p->m = m;
        p->offsets = in->offsets;
        p->running_kernel_dir = in->running_kernel_dir;
        p->target_fd = in->target_root_fd;
        p->root = find_role(m, PAYLOAD_ROOT, &ri);
        const Payload *vp = find_role(m, PAYLOAD_VERITY, &vi);
        if (!p->root || !vp)
                return err_set(EBADMSG, "bundle: no root or verity payload");
        p->root_offset = in->offsets[ri];
        if (!streq(m->verity.hash_algorithm, "sha256") || m->verity.data_block_size != BLOCK ||
            m->verity.hash_block_size != BLOCK)
                return err_set(EOPNOTSUPP, "delta: dm-verity with %s and %u/%u-byte blocks (needs sha256, 4096)",
                               m->verity.hash_algorithm, m->verity.data_block_size, m->verity.hash_block_size);
        p->n = m->verity.data_blocks;
        if (p->n == 0 || p->root->size != p->n * BLOCK)
                return err_set(EBADMSG, "delta: root.img is %" PRIu64 " bytes, dm-verity covers %" PRIu64 " blocks",
                               p->root->size, p->n);
        if (vp->size > PAYLOAD_MAX)
                return err_set(EFBIG, "delta: root.verity of %" PRIu64 " bytes", vp->size);
        r = verity_leaf_hasher_new(&m->verity, &p->leaf);
        if (r < 0)
                return r;

        /* The trees of what the device has. */
        _cleanup_free_ uint8_t *run_leaves = NULL, *tgt_leaves = NULL;
        uint64_t run_n = 0, tgt_n = 0;
        p->sum.running_tree = "no running slot partitions";
        if (in->running) {
                OldSlot o = { .verity_fd = -EBADF };
                uint64_t root_offset = 0;
                p->running_fd = slot_partition_open(&in->running[SLOT_PART_ROOT], O_RDONLY, &root_offset, &o.root_size);
                o.verity_fd = slot_partition_open(&in->running[SLOT_PART_VERITY], O_RDONLY, &o.offset, &o.verity_size);
                if (p->running_fd < 0 || o.verity_fd < 0) {
                        err_clear();
                        p->running_fd = safe_close(p->running_fd);
                        p->sum.running_tree = "its partitions cannot be opened";
                } else {
                        p->running_offset = root_offset;
                        p->running_size = o.root_size;
                        old_leaves(&o, &m->verity, &run_leaves, &run_n, &p->sum.running_tree);
                }
                safe_close(o.verity_fd);
        }
        OldSlot t = { .verity_fd = in->target_verity_fd, .root_size = in->target_root_size,
                      .verity_size = in->target_verity_size };
        old_leaves(&t, &m->verity, &tgt_leaves, &tgt_n, &p->sum.target_tree);

        /* The new tree, bound to the signed manifest before anything of it is used. */
        p->verity_len = (size_t) vp->size;
        p->verity = malloc(p->verity_len);
        if (!p->verity)
                return -ENOMEM;
        OldTrees old = {
                .blocks = { run_leaves, tgt_leaves },
                .n = { (run_n * DIGEST + BLOCK - 1) / BLOCK, (tgt_n * DIGEST + BLOCK - 1) / BLOCK },
        };
        r = fetch_tree(p, vp, in->offsets[vi], &old);
        if (r < 0)
                return r;
        r = sha256_buf(p->verity, p->verity_len, digest);
        if (r < 0)
                return r;
        if (memcmp(digest, vp->sha256, DIGEST) != 0 && p->sum.verity_local > 0) {
                /* Upper levels that do not lead to the signed tree: all of it from the server, once. */
                r = fetch_whole_tree(p, vp, in->offsets[vi]);
                if (r < 0)
                        return r;
                r = sha256_buf(p->verity, p->verity_len, digest);
                if (r < 0)
                        return r;
        }
        if (memcmp(digest, vp->sha256, DIGEST) != 0)
                return err_set(EBADMSG, "bundle: '%s': sha256 mismatch with the manifest", vp->name);
        VeritySuper s;
        uint64_t leaf;
        r = super_parse(p->verity, p->verity_len, &s);
        if (r < 0)
                return err_prefix(r, "bundle: '%s'", vp->name);
        if (s.data_blocks != p->n || s.salt_size != m->verity.salt_size || memcmp(s.salt, m->verity.salt, s.salt_size) != 0)
                return err_set(EBADMSG, "bundle: '%s': superblock does not match the manifest", vp->name);
        r = delta_leaf_offset(p->n, &leaf);
        if (r < 0)
                return err_set(r, "delta: a root image of %" PRIu64 " block(s) has no hash tree levels", p->n);
        if (leaf + p->n * DIGEST > p->verity_len)
                return err_set(EBADMSG, "bundle: '%s': shorter than its tree", vp->name);
        p->leaves = p->verity + leaf;
        p->sum.blocks = p->n;

        p->kind = calloc(p->n, 1);
        p->from = calloc(p->n, sizeof *p->from);
        if (!p->kind || !p->from)
                return -ENOMEM;
        DigestMap rm = {}, tm = {};
        r = map_build(&rm, run_leaves, run_n, false);
        if (r >= 0)
                r = map_build(&tm, tgt_leaves, tgt_n, true);
        if (r < 0) {
                map_done(&rm);
                map_done(&tm);
                return r;
        }
        for (uint64_t i = 0; i < p->n; i++) {
                const uint8_t *d = p->leaves + i * DIGEST;
                uint64_t j;
                if (i < tgt_n && memcmp(tgt_leaves + i * DIGEST, d, DIGEST) == 0) {
                        p->kind[i] = SRC_IN_PLACE;
                        p->from[i] = i;
                        p->sum.in_place++;
                } else if ((j = map_find(&rm, d))) {
                        p->kind[i] = SRC_RUNNING;
                        p->from[i] = j - 1;
                        p->sum.from_running++;
                } else if ((j = map_find(&tm, d)) && j - 1 > i) {
                        /* Blocks are written in order: only a target block not yet overwritten is a source. */
                        p->kind[i] = SRC_TARGET;
                        p->from[i] = j - 1;
                        p->sum.from_target++;
                } else {
                        p->kind[i] = SRC_FETCH;
                        p->sum.to_fetch++;
                }
        }
        map_done(&rm);
        map_done(&tm);
        _cleanup_free_ HttpByteRange *ranges = NULL;
        size_t n_ranges = 0;
        r = fetch_ranges(p, &ranges, &n_ranges, &p->sum.gap_blocks);
        if (r < 0)
                return r;
        p->sum.fetch_ranges = n_ranges;
        p->sum.fetch_requests = http_ranges_requests(ranges, n_ranges);

        /* Kernel, initrd: the running slot's copy on the ESP when it is the same. */
        for (size_t i = 0; i < m->n_payloads; i++) {
                const Payload *pl = &m->payloads[i];
                if (pl->role == PAYLOAD_ROOT || pl->role == PAYLOAD_VERITY || (in->needed && !in->needed[i]))
                        continue;
                bool local = false;
                if ((pl->role == PAYLOAD_KERNEL || pl->role == PAYLOAD_INITRD) && in->running_kernel_dir) {
                        r = hold_running(p, pl);
                        if (r < 0)
                                return r;
                        local = r > 0;
                }
                if (local)
                        p->sum.other_local += pl->size;
                else {
                        p->sum.other_fetch += pl->size;
                        /* root.verity-sig came with the headers (delta_prefetch()): no request of its own. */
                        if (delta_source_holds(src, in->offsets[i], pl->size))
                                p->sum.other_held += pl->size;
                        else if (pl->size > 0) {
                                /* In bundle order (manifest order is abide-build's; a repacked bundle's may differ). */
                                size_t k = p->n_other++;
                                for (; k > 0 && p->other[k - 1].start > in->offsets[i]; k--) {
                                        p->other[k] = p->other[k - 1];
                                        p->other_payload[k] = p->other_payload[k - 1];
                                }
                                p->other[k] = (HttpByteRange) { in->offsets[i], pl->size };
                                p->other_payload[k] = pl;
                        }
                }
        }
        /* With root's ranges when they all follow root: no round trip of their own (fetch_pass()). */
        p->others_after_root = n_ranges > 0 && p->n_other > 0 && p->other[0].start >= p->root_offset + p->root->size;
        if (p->others_after_root) {
                size_t n_all = n_ranges;
                r = append_others(p, &ranges, &n_all);
                if (r < 0)
                        return r;
                p->sum.other_fetch_count = http_ranges_requests(ranges, n_all) - p->sum.fetch_requests;
        } else if (p->n_other > 0)
                p->sum.other_fetch_count = http_ranges_requests(p->other, p->n_other);
        *ret = TAKE_PTR(p);
        return 0;
}

void delta_summary(DeltaPlan *p, DeltaSummary *ret) {
        *ret = p->sum;
}

static int write_run(int fd, const uint8_t *buf, uint64_t first, uint64_t count, const char *label) {
        size_t n = (size_t) (count * BLOCK);
        for (size_t done = 0; done < n;) {
                ssize_t k = pwrite(fd, buf + done, n - done, (off_t) (first * BLOCK + done));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return err_set(k < 0 ? errno : ENOSPC, "cannot write %s at offset %" PRIu64 ": %s", label,
                                       first * BLOCK + done, strerror(k < 0 ? errno : ENOSPC));
                done += (size_t) k;
        }
        return 0;
}

/* Writes the blocks of [first, first + count) marked in ready (their data at buf + (i - first) * BLOCK), in runs. */
static int write_ready(int fd, const uint8_t *buf, uint64_t first, uint64_t count, const bool *ready, const char *label) {
        for (uint64_t k = 0; k < count;) {
                if (!ready[k]) {
                        k++;
                        continue;
                }
                uint64_t e = k;
                while (e < count && ready[e])
                        e++;
                int r = write_run(fd, buf + k * BLOCK, first + k, e - k, label);
                if (r < 0)
                        return r;
                k = e;
        }
        return 0;
}

/*
 * The local phase in two threads: a reader fills batches (BATCH_BLOCKS
 * blocks each, a ring of LOCAL_AHEAD) with every block that has a local
 * source, in runs; the caller checks each batch against the leaves and
 * writes what it must while the next batches are read. Blocks are written in
 * order and a block of the target is a source only for a block before it
 * (delta_plan()), so the reader, ahead of the writes, reads each such block
 * before it is overwritten.
 */
#define LOCAL_AHEAD 4U

typedef struct LocalBatch {
        uint8_t *buf;
        bool read[BATCH_BLOCKS];        /* read from its source (a failed read: fetched instead) */
} LocalBatch;

typedef struct LocalRing {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        LocalBatch batch[LOCAL_AHEAD];
        unsigned filled;                /* batches read, from the start */
        unsigned used;                  /* batches checked and written */
        bool abort;
        DeltaPlan *p;
} LocalRing;

static void read_batch(DeltaPlan *p, uint64_t first, LocalBatch *b) {
        uint64_t count = MIN((uint64_t) BATCH_BLOCKS, p->n - first);
        memset(b->read, 0, sizeof b->read);
        for (uint64_t k = 0; k < count;) {
                uint64_t i = first + k;
                uint8_t kind = p->kind[i];
                if (kind == SRC_FETCH) {
                        k++;
                        continue;
                }
                /* A run of consecutive source blocks of one kind. */
                uint64_t e = k + 1;
                while (e < count && p->kind[first + e] == kind && p->from[first + e] == p->from[i] + (e - k))
                        e++;
                int sfd = kind == SRC_RUNNING ? p->running_fd : p->target_fd;
                uint64_t base = kind == SRC_RUNNING ? p->running_offset : 0;
                if (read_any(sfd, b->buf + k * BLOCK, (size_t) ((e - k) * BLOCK), base + p->from[i] * BLOCK) >= 0)
                        for (uint64_t t = k; t < e; t++)
                                b->read[t] = true;
                else
                        err_clear();
                k = e;
        }
}

static void *local_reader(void *userdata) {
        LocalRing *g = userdata;
        DeltaPlan *p = g->p;
        unsigned n = 0;

        for (uint64_t first = 0; first < p->n; first += BATCH_BLOCKS, n++) {
                pthread_mutex_lock(&g->lock);
                while (n - g->used == LOCAL_AHEAD && !g->abort)
                        pthread_cond_wait(&g->cond, &g->lock);
                bool stop = g->abort;
                pthread_mutex_unlock(&g->lock);
                if (stop)
                        break;
                /* Only this thread touches the batch until it is counted as filled. */
                read_batch(p, first, &g->batch[n % LOCAL_AHEAD]);
                pthread_mutex_lock(&g->lock);
                g->filled = n + 1;
                pthread_cond_broadcast(&g->cond);
                pthread_mutex_unlock(&g->lock);
        }
        return NULL;
}

/* Checks a read batch against the leaves; what does not match becomes a fetch; writes the rest. */
static int use_batch(DeltaPlan *p, int fd, const char *label, uint64_t first, const LocalBatch *b) {
        uint64_t count = MIN((uint64_t) BATCH_BLOCKS, p->n - first);
        bool ok[BATCH_BLOCKS] = {}, ready[BATCH_BLOCKS] = {};

        for (uint64_t k = 0; k < count;) {
                if (!b->read[k]) {
                        k++;
                        continue;
                }
                /* Every block read is checked, a stretch of them in one call. */
                uint64_t e = k + 1;
                while (e < count && b->read[e])
                        e++;
                int r = blocks_ok(p, first + k, b->buf + k * BLOCK, e - k, ok + k);
                if (r < 0)
                        return r;
                k = e;
        }
        for (uint64_t t = 0; t < count; t++) {
                uint8_t kind = p->kind[first + t];
                if (kind == SRC_FETCH)
                        continue;
                if (!ok[t]) {
                        /* Bit rot, an interrupted install, a stale tree, a failed read: fetched instead. */
                        if (kind == SRC_IN_PLACE)
                                p->sum.in_place--;
                        else if (kind == SRC_RUNNING)
                                p->sum.from_running--;
                        else
                                p->sum.from_target--;
                        p->kind[first + t] = SRC_FETCH;
                        p->sum.to_fetch++;
                        p->sum.refetched++;
                } else if (kind != SRC_IN_PLACE)
                        ready[t] = true;
        }
        return write_ready(fd, b->buf, first, count, ready, label);
}

/* The local phase: every block with a local source, read (in runs), checked, written. Failures become fetches. */
static int copy_local(DeltaPlan *p, int fd, const char *label) {
        LocalRing g = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .p = p };
        pthread_t thread;
        unsigned n = 0;
        int r = 0;

        for (unsigned i = 0; i < LOCAL_AHEAD; i++)
                if (posix_memalign((void **) &g.batch[i].buf, BLOCK, BATCH_BLOCKS * BLOCK) != 0) {
                        r = -ENOMEM;
                        goto out;
                }
        r = -pthread_create(&thread, NULL, local_reader, &g);
        if (r < 0)
                goto out;
        for (uint64_t first = 0; first < p->n; first += BATCH_BLOCKS, n++) {
                pthread_mutex_lock(&g.lock);
                while (g.filled <= n)
                        pthread_cond_wait(&g.cond, &g.lock);
                pthread_mutex_unlock(&g.lock);
                r = use_batch(p, fd, label, first, &g.batch[n % LOCAL_AHEAD]);
                if (r < 0)
                        break;
                pthread_mutex_lock(&g.lock);
                g.used = n + 1;
                pthread_cond_broadcast(&g.cond);
                pthread_mutex_unlock(&g.lock);
                progress_update(MIN(first + BATCH_BLOCKS, p->n) * BLOCK);
        }
        pthread_mutex_lock(&g.lock);
        g.abort = true;
        pthread_cond_broadcast(&g.cond);
        pthread_mutex_unlock(&g.lock);
        pthread_join(thread, NULL);
out:
        for (unsigned i = 0; i < LOCAL_AHEAD; i++)
                free(g.batch[i].buf);
        return r;
}

static int cmp_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;
        return x < y ? -1 : x > y;
}

/*
 * Runs of blocks of kind FETCH among [0, n), as bundle ranges. Each range is
 * a request, and on a slow link a round trip: neighbouring runs are joined
 * across their smallest gaps while the joined gaps stay within 1 % of the
 * blocks to fetch (the gap's blocks are fetched and dropped).
 */
static int fetch_ranges(DeltaPlan *p, HttpByteRange **ret, size_t *ret_n, uint64_t *ret_gap_blocks) {
        _cleanup_free_ uint64_t *starts = NULL, *ends = NULL, *gaps = NULL;
        size_t runs = 0, cap = 0, n = 0;
        uint64_t fetch = 0, gap_blocks = 0;

        for (uint64_t i = 0; i < p->n;) {
                if (p->kind[i] != SRC_FETCH) {
                        i++;
                        continue;
                }
                uint64_t e = i;
                while (e < p->n && p->kind[e] == SRC_FETCH)
                        e++;
                if (runs == cap) {
                        cap = cap ? cap * 2 : 64;
                        uint64_t *ns = reallocarray(starts, cap, sizeof *ns);
                        if (!ns)
                                return -ENOMEM;
                        starts = ns;
                        uint64_t *ne = reallocarray(ends, cap, sizeof *ne);
                        if (!ne)
                                return -ENOMEM;
                        ends = ne;
                }
                starts[runs] = i;
                ends[runs++] = e;
                fetch += e - i;
                i = e;
        }
        *ret = NULL;
        *ret_n = 0;
        *ret_gap_blocks = 0;
        if (runs == 0)
                return 0;

        /* The largest gap still worth joining: the smallest gaps first, within the budget. */
        uint64_t budget = fetch / 100, limit = 0;
        if (runs > 1) {
                gaps = malloc((runs - 1) * sizeof *gaps);
                if (!gaps)
                        return -ENOMEM;
                for (size_t k = 0; k + 1 < runs; k++)
                        gaps[k] = starts[k + 1] - ends[k];
                qsort(gaps, runs - 1, sizeof *gaps, cmp_u64);
                for (size_t k = 0; k + 1 < runs && gaps[k] <= budget; k++) {
                        budget -= gaps[k];
                        limit = gaps[k];
                }
        }
        HttpByteRange *v = calloc(runs, sizeof *v);
        if (!v)
                return -ENOMEM;
        uint64_t left = fetch / 100;
        for (size_t k = 0; k < runs; k++) {
                uint64_t gap = k > 0 ? starts[k] - ends[k - 1] : 0;
                if (k > 0 && limit > 0 && gap <= limit && gap <= left) {
                        left -= gap;
                        gap_blocks += gap;
                        v[n - 1].length = (ends[k] - (v[n - 1].start - p->root_offset) / BLOCK) * BLOCK;
                        continue;
                }
                v[n++] = (HttpByteRange) { p->root_offset + starts[k] * BLOCK, (ends[k] - starts[k]) * BLOCK };
        }
        *ret = v;
        *ret_n = n;
        *ret_gap_blocks = gap_blocks;
        return 0;
}

static const Held *find_held(const DeltaPlan *p, const Payload *pl) {
        for (size_t i = 0; i < p->n_held; i++)
                if (p->held[i].payload == pl)
                        return &p->held[i];
        return NULL;
}

/* Fetched bytes of a payload: held when they match the manifest; else dropped (asked for again alone). */
static int take_other(DeltaPlan *p, const Payload *pl, uint8_t **data) {
        int r = payload_check(pl, *data);
        if (r == -EBADMSG)
                p->sum.refetched_other++;
        else if (r < 0)
                return r;
        else if (p->n_held < MANIFEST_PAYLOADS_MAX)
                hold(p, pl, data);
        return 0;
}

/* The other payloads, next in the ranges asked for, read into memory. */
static int read_others(DeltaPlan *p) {
        int r = 0;

        for (size_t k = 0; k < p->n_other && r >= 0; k++) {
                const Payload *pl = p->other_payload[k];
                if (pl->size > PAYLOAD_MAX)
                        return err_set(EFBIG, "bundle: '%s': %" PRIu64 " bytes", pl->name, pl->size);
                _cleanup_free_ uint8_t *data = malloc((size_t) pl->size);
                if (!data)
                        return -ENOMEM;
                r = delta_source_ranges_read(p->src, data, (size_t) pl->size);
                if (r >= 0)
                        r = take_other(p, pl, &data);
        }
        return r;
}

/* The other payloads to fetch, in one request where the server answers several ranges. */
static int fetch_others(DeltaPlan *p) {
        p->others_tried = true;
        if (p->n_other == 0)
                return 0;
        int r = delta_source_ranges_begin(p->src, p->other, p->n_other);
        if (r < 0)
                return r;
        r = read_others(p);
        int k = delta_source_ranges_end(p->src);
        return r < 0 ? r : k;
}

/*
 * One pass over the FETCH blocks: those that arrive right are written and
 * marked done. Returns how many came wrong. The first pass asks for the
 * other payloads to fetch behind root's last ranges, and holds them.
 */
static int fetch_pass(DeltaPlan *p, int fd, const char *label, uint8_t *buf, uint64_t *ret_bad) {
        _cleanup_free_ HttpByteRange *ranges = NULL;
        size_t n = 0, n_root;
        uint64_t gap = 0;
        bool ready[BATCH_BLOCKS];
        int r;

        *ret_bad = 0;
        r = fetch_ranges(p, &ranges, &n, &gap);
        if (r < 0 || n == 0)
                return r;
        n_root = n;
        if (p->others_after_root && !p->others_tried) {
                p->others_tried = true;
                r = append_others(p, &ranges, &n);
                if (r < 0)
                        return r;
        }
        r = delta_source_ranges_begin(p->src, ranges, n);
        if (r < 0)
                return r;
        for (size_t q = 0; q < n_root && r >= 0; q++) {
                uint64_t first = (ranges[q].start - p->root_offset) / BLOCK, total = ranges[q].length / BLOCK;
                for (uint64_t done = 0; done < total && r >= 0; done += BATCH_BLOCKS) {
                        uint64_t count = MIN((uint64_t) BATCH_BLOCKS, total - done);
                        r = delta_source_ranges_read(p->src, buf, (size_t) (count * BLOCK));
                        if (r < 0)
                                break;
                        for (uint64_t t = 0; t < count && r >= 0;) {
                                /* A joined gap's block: the device has it already. */
                                if (p->kind[first + done + t] != SRC_FETCH) {
                                        ready[t++] = false;
                                        continue;
                                }
                                /* A run of fetched blocks, checked in one call. */
                                uint64_t e = t + 1;
                                while (e < count && p->kind[first + done + e] == SRC_FETCH)
                                        e++;
                                r = blocks_ok(p, first + done + t, buf + t * BLOCK, e - t, ready + t);
                                for (; t < e && r >= 0; t++)
                                        if (!ready[t])
                                                (*ret_bad)++;
                        }
                        if (r >= 0)
                                r = write_ready(fd, buf, first + done, count, ready, label);
                        for (uint64_t t = 0; t < count && r >= 0; t++)
                                if (ready[t])
                                        p->kind[first + done + t] = SRC_IN_PLACE;  /* done */
                }
        }
        if (r >= 0 && n > n_root)
                r = read_others(p);
        int k = delta_source_ranges_end(p->src);
        return r < 0 ? r : k;
}

int delta_write_root(DeltaPlan *p, int fd, bool direct, const char *label) {
        _cleanup_free_ uint8_t *buf = NULL;
        uint64_t bad = 0;
        int r;

        (void) direct;
        if (posix_memalign((void **) &buf, BLOCK, BATCH_BLOCKS * BLOCK) != 0)
                return -ENOMEM;
        char title[512];
        snprintf(title, sizeof title, "Copying local blocks of %s to %s", p->root->name, label);
        progress_begin(title, p->root->size);
        r = copy_local(p, fd, label);
        progress_end();
        if (r < 0)
                return r;
        if (p->sum.to_fetch > 0) {
                snprintf(title, sizeof title, "Fetching %" PRIu64 " blocks of %s", p->sum.to_fetch, p->root->name);
                progress_step("%s", title);
        }
        r = fetch_pass(p, fd, label, buf, &bad);
        if (r < 0)
                return r;
        if (bad > 0) {
                /* Wrong bytes from the network: once more, then give up. */
                p->sum.refetched_remote = bad;
                r = fetch_pass(p, fd, label, buf, &bad);
                if (r < 0)
                        return r;
                if (bad > 0)
                        return err_set(EBADMSG, "bundle: %" PRIu64 " block(s) of '%s' fetched twice do not match their dm-verity leaf hashes",
                                       bad, p->root->name);
        }
        if (fdatasync(fd) < 0)
                return err_set(errno, "cannot sync %s: %m", label);
        return 0;
}

int delta_payload(DeltaPlan *p, const Payload *pl, const uint8_t **ret, size_t *ret_len) {
        size_t index = (size_t) (pl - p->m->payloads);
        int r;

        if (pl->role == PAYLOAD_VERITY) {
                *ret = p->verity;
                *ret_len = p->verity_len;
                return 0;
        }
        /* Fetched with root's last ranges, or now with the others. */
        if (!p->others_tried) {
                r = fetch_others(p);
                if (r < 0)
                        return r;
        }
        const Held *h = find_held(p, pl);
        if (h) {
                *ret = h->data;
                *ret_len = h->len;
                return 0;
        }
        if (pl->size > PAYLOAD_MAX || p->n_held >= MANIFEST_PAYLOADS_MAX || index >= p->m->n_payloads)
                return err_set(EFBIG, "bundle: '%s': %" PRIu64 " bytes", pl->name, pl->size);
        _cleanup_free_ uint8_t *data = malloc(MAX((size_t) pl->size, (size_t) 1));
        if (!data)
                return -ENOMEM;
        /* Not the running slot's copy (delta_plan() held that): from the bundle. */
        r = delta_source_read_at(p->src, p->offsets[index], data, (size_t) pl->size);
        if (r < 0)
                return r;
        r = payload_check(pl, data);
        if (r == -EBADMSG)
                return err_set(EBADMSG, "bundle: '%s': sha256 mismatch with the manifest", pl->name);
        if (r < 0)
                return r;
        h = hold(p, pl, &data);
        *ret = h->data;
        *ret_len = h->len;
        return 0;
}
