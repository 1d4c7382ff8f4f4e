/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "delta-plan.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/progress.h"
#include "crypto/hash.h"
#include "install/install-target.h"
#include "verity/verity-tree.h"

/*
 * The plan of a delta install (docs/delta.md): root.verity fetched (its
 * leaf-level blocks the device has copied from there) and bound to the
 * manifest, the slots' trees matched against its leaves, every block of the
 * new root given a source, the runs to fetch joined into requests.
 */

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


static const Payload *find_role(const Manifest *m, PayloadRole role, size_t *ret_index) {
        for (size_t i = 0; i < m->n_payloads; i++)
                if (m->payloads[i].role == role) {
                        if (ret_index)
                                *ret_index = i;
                        return &m->payloads[i];
                }
        return NULL;
}

int delta_append_others(const DeltaPlan *p, HttpByteRange **ranges, size_t *n) {
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

        r = delta_tree_levels(p->n, level_block, &levels);
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
        r = delta_map_build(&map, digests, total, false);
        if (r < 0)
                return r;
        _cleanup_free_ HttpByteRange *ranges = calloc(nleaf, sizeof *ranges);
        if (!ranges) {
                delta_map_done(&map);
                return -ENOMEM;
        }
        size_t n = 0;
        uint64_t local = 0;
        for (uint64_t k = 0; k < nleaf; k++) {
                uint64_t j = delta_map_find(&map, above + k * DIGEST);
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
        delta_map_done(&map);
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

int delta_payload_check(const Payload *pl, const uint8_t *data) {
        uint8_t digest[DIGEST];
        int r = sha256_buf(data, pl->size, digest);
        if (r < 0)
                return r;
        return memcmp(digest, pl->sha256, DIGEST) == 0 ? 0 : -EBADMSG;
}

const Held *delta_hold(DeltaPlan *p, const Payload *pl, uint8_t **data) {
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
                r = delta_payload_check(pl, data);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                err_clear();
                return 0;
        }
        delta_hold(p, pl, &data);
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
                return err_set(EBADMSG, "%s: no root or verity payload", delta_source_display(p->src));
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
                        delta_old_leaves(&o, &m->verity, &run_leaves, &run_n, &p->sum.running_tree);
                }
                safe_close(o.verity_fd);
        }
        OldSlot t = { .verity_fd = in->target_verity_fd, .root_size = in->target_root_size,
                      .verity_size = in->target_verity_size };
        delta_old_leaves(&t, &m->verity, &tgt_leaves, &tgt_n, &p->sum.target_tree);

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
                return err_set(EBADMSG, "%s: '%s': sha256 mismatch with the manifest", delta_source_display(p->src), vp->name);
        VeritySuper s;
        uint64_t leaf;
        r = delta_super_parse(p->verity, p->verity_len, &s);
        if (r < 0)
                return err_prefix(r, "%s: '%s'", delta_source_display(p->src), vp->name);
        if (s.data_blocks != p->n || s.salt_size != m->verity.salt_size || memcmp(s.salt, m->verity.salt, s.salt_size) != 0)
                return err_set(EBADMSG, "%s: '%s': superblock does not match the manifest", delta_source_display(p->src), vp->name);
        r = delta_leaf_offset(p->n, &leaf);
        if (r < 0)
                return err_set(r, "delta: a root image of %" PRIu64 " block(s) has no hash tree levels", p->n);
        if (leaf + p->n * DIGEST > p->verity_len)
                return err_set(EBADMSG, "%s: '%s': shorter than its tree", delta_source_display(p->src), vp->name);
        p->leaves = p->verity + leaf;
        p->sum.blocks = p->n;

        p->kind = calloc(p->n, 1);
        p->from = calloc(p->n, sizeof *p->from);
        if (!p->kind || !p->from)
                return -ENOMEM;
        DigestMap rm = {}, tm = {};
        r = delta_map_build(&rm, run_leaves, run_n, false);
        if (r >= 0)
                r = delta_map_build(&tm, tgt_leaves, tgt_n, true);
        if (r < 0) {
                delta_map_done(&rm);
                delta_map_done(&tm);
                return r;
        }
        for (uint64_t i = 0; i < p->n; i++) {
                const uint8_t *d = p->leaves + i * DIGEST;
                uint64_t j;
                if (i < tgt_n && memcmp(tgt_leaves + i * DIGEST, d, DIGEST) == 0) {
                        p->kind[i] = SRC_IN_PLACE;
                        p->from[i] = i;
                        p->sum.in_place++;
                } else if ((j = delta_map_find(&rm, d))) {
                        p->kind[i] = SRC_RUNNING;
                        p->from[i] = j - 1;
                        p->sum.from_running++;
                } else if ((j = delta_map_find(&tm, d)) && j - 1 > i) {
                        /* Blocks are written in order: only a target block not yet overwritten is a source. */
                        p->kind[i] = SRC_TARGET;
                        p->from[i] = j - 1;
                        p->sum.from_target++;
                } else {
                        p->kind[i] = SRC_FETCH;
                        p->sum.to_fetch++;
                }
        }
        delta_map_done(&rm);
        delta_map_done(&tm);
        _cleanup_free_ HttpByteRange *ranges = NULL;
        size_t n_ranges = 0;
        r = delta_fetch_ranges(p, &ranges, &n_ranges, &p->sum.gap_blocks);
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
                r = delta_append_others(p, &ranges, &n_all);
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
int delta_fetch_ranges(DeltaPlan *p, HttpByteRange **ret, size_t *ret_n, uint64_t *ret_gap_blocks) {
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
