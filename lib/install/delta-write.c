/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "delta-plan.h"

#include <inttypes.h>
#include <pthread.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/progress.h"
#include "install/install-target.h"

/*
 * A delta plan carried out: the target's root filled with the blocks the
 * device has (read ahead in a thread, each checked against its new leaf
 * hash), then the fetched runs; a block that does not match is fetched
 * again. The other payloads come from the plan, fetched or read locally,
 * each checked against the manifest (docs/delta.md).
 */

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
                if (delta_read_at(sfd, b->buf + k * BLOCK, (size_t) ((e - k) * BLOCK), base + p->from[i] * BLOCK) >= 0)
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

static const Held *find_held(const DeltaPlan *p, const Payload *pl) {
        for (size_t i = 0; i < p->n_held; i++)
                if (p->held[i].payload == pl)
                        return &p->held[i];
        return NULL;
}

/* Fetched bytes of a payload: held when they match the manifest; else dropped (asked for again alone). */
static int take_other(DeltaPlan *p, const Payload *pl, uint8_t **data) {
        int r = delta_payload_check(pl, *data);
        if (r == -EBADMSG)
                p->sum.refetched_other++;
        else if (r < 0)
                return r;
        else if (p->n_held < MANIFEST_PAYLOADS_MAX)
                delta_hold(p, pl, data);
        return 0;
}

/* The other payloads, next in the ranges asked for, read into memory. */
static int read_others(DeltaPlan *p) {
        int r = 0;

        for (size_t k = 0; k < p->n_other && r >= 0; k++) {
                const Payload *pl = p->other_payload[k];
                if (pl->size > PAYLOAD_MAX)
                        return err_set(EFBIG, "%s: '%s': %" PRIu64 " bytes", delta_source_display(p->src), pl->name, pl->size);
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
        r = delta_fetch_ranges(p, &ranges, &n, &gap);
        if (r < 0 || n == 0)
                return r;
        n_root = n;
        if (p->others_after_root && !p->others_tried) {
                p->others_tried = true;
                r = delta_append_others(p, &ranges, &n);
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
                        return err_set(EBADMSG, "%s: %" PRIu64 " block(s) of '%s' fetched twice do not match their dm-verity leaf hashes",
                                       delta_source_display(p->src), bad, p->root->name);
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
                return err_set(EFBIG, "%s: '%s': %" PRIu64 " bytes", delta_source_display(p->src), pl->name, pl->size);
        _cleanup_free_ uint8_t *data = malloc(MAX((size_t) pl->size, (size_t) 1));
        if (!data)
                return -ENOMEM;
        /* Not the running slot's copy (delta_plan() held that): from the bundle. */
        r = delta_source_read_at(p->src, p->offsets[index], data, (size_t) pl->size);
        if (r < 0)
                return r;
        r = delta_payload_check(pl, data);
        if (r == -EBADMSG)
                return err_set(EBADMSG, "%s: '%s': sha256 mismatch with the manifest", delta_source_display(p->src), pl->name);
        if (r < 0)
                return r;
        h = delta_hold(p, pl, &data);
        *ret = h->data;
        *ret_len = h->len;
        return 0;
}
