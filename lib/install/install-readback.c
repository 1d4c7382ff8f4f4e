/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "install-pipeline.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/macro.h"
#include "install/install-stream.h"
#include "install/install-target.h"

/*
 * The read-back, beside the writes. The fetch thread reads each written
 * chunk back with O_DIRECT into a ring of buffers, right behind the writer;
 * the hash threads (one a CPU, at most INSTALL_HASH_THREADS) take the
 * fetched chunks in turn and hash each 4 KiB block in place as a dm-verity
 * leaf. The flush waits for the fetch, not for the hashing: on a device
 * that serves reads and the flush in one queue (a loop device) the reads
 * then never wait for the flush, and the hashing overlaps it
 * (docs/install.md, "Where the time goes").
 *
 * O_DIRECT: what is hashed came from the device after the write, never
 * from a cached copy, and it is read once, into memory that is used again
 * chunk after chunk, and hashed where it lies (the salt written over the
 * end of the block before). The page cache instead cost a page for every 4 KiB
 * read back, its release, and one more copy (docs/install.md, "The
 * read-back into a ring"). The fetch runs at most ring_n chunks ahead of
 * the hashing: a ring of at most INSTALL_RING_MAX bytes and an eighth of
 * the memory available at the start (at least one chunk a hash thread),
 * each buffer allocated at its first use.
 */

static void readback_fail(Pipeline *p, int r, uint64_t offset) {
        /* Under p->lock. The first failure is the one reported. */
        if (p->readback_error == 0) {
                p->readback_error = r;
                p->readback_offset = offset;
        }
        p->abort = true;
        pthread_cond_broadcast(&p->cond);
}

static unsigned slot_of(const Pipeline *p, uint64_t o) {
        return (unsigned) (o / INSTALL_CHUNK % p->ring_n);
}

/*
 * A ring buffer's chunk starts one aligned block in (O_DIRECT), so that the
 * hashing can write the salt in front of the first block as it does in
 * front of the others (verity_leaf_hash_in_place()).
 */
#define RING_HEAD INSTALL_ALIGN
static_assert(RING_HEAD >= VERITY_LEAF_HEADROOM, "the ring's head room holds the salt");

static uint8_t *chunk_of(const Pipeline *p, uint64_t o) {
        return p->ring[slot_of(p, o)] + RING_HEAD;
}

static void *fetch_thread(void *userdata) {
        Pipeline *p = userdata;
        uint64_t o = 0;

        pthread_mutex_lock(&p->lock);
        while (!p->abort && o < p->size) {
                uint64_t end = MIN(o + INSTALL_CHUNK, p->size);
                /* The writer holds a chunk until it is written: closed and none left means all was written. */
                bool all_written = p->writer_done || (p->closed && p->count == 0);
                if (p->written < end && !all_written) {
                        pthread_cond_wait(&p->cond, &p->lock);
                        continue;
                }
                if (p->written < end)
                        break; /* the writes stopped early: the caller reports why */
                /* Its buffer last held the chunk ring_n before: hashed once verified is past it. */
                if (o - p->verified >= (uint64_t) p->ring_n * INSTALL_CHUNK) {
                        pthread_cond_wait(&p->cond, &p->lock);
                        continue;
                }
                uint8_t **buf = &p->ring[slot_of(p, o)];
                pthread_mutex_unlock(&p->lock);
                int r = 0;
                if (!*buf && posix_memalign((void **) buf, INSTALL_ALIGN, RING_HEAD + INSTALL_CHUNK) != 0)
                        r = -ENOMEM;
                if (r >= 0)
                        /* size is whole blocks: with O_DIRECT every read is aligned. */
                        r = pread_exact(p->rfd, chunk_of(p, o), (size_t) (end - o), o);
                if (r >= 0 && !p->direct)
                        (void) posix_fadvise(p->rfd, (off_t) o, (off_t) (end - o), POSIX_FADV_DONTNEED);
                pthread_mutex_lock(&p->lock);
                if (r < 0) {
                        readback_fail(p, r, o);
                        break;
                }
                o = end;
                p->fetched = o;
                pthread_cond_broadcast(&p->cond);
        }
        p->fetch_done = true;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

static void *hash_thread(void *userdata) {
        HashThread *t = userdata;
        Pipeline *p = t->p;

        /*
         * Lowest priority: the hashing takes the CPU the writes leave, and
         * the flush leaves it all. At the same priority it slowed the
         * reading and copying that feed the writes (docs/install.md).
         */
        (void) setpriority(PRIO_PROCESS, (id_t) gettid(), 19);
        pthread_mutex_lock(&p->lock);
        for (;;) {
                while (!p->abort && p->claimed < p->size && p->fetched <= p->claimed && !p->fetch_done)
                        pthread_cond_wait(&p->cond, &p->lock);
                if (p->abort || p->fetched <= p->claimed)
                        break; /* all taken, or the fetch stopped: the caller reports why */
                uint64_t o = p->claimed;
                uint64_t n = MIN((uint64_t) INSTALL_CHUNK, p->size - o);
                p->claimed += n;
                pthread_mutex_unlock(&p->lock);

                /* The chunk is read again only after the fetch put the next one in its buffer. */
                int r = verity_leaf_hash_in_place(t->hasher, chunk_of(p, o), n / VERITY_BLOCK_SIZE,
                                                  p->leaves + o / VERITY_BLOCK_SIZE * SHA256_DIGEST_SIZE);

                pthread_mutex_lock(&p->lock);
                if (r < 0) {
                        readback_fail(p, r, o);
                        break;
                }
                /* verified moves over the chunks hashed in order: the fetch reuses no buffer before. */
                p->hashed[slot_of(p, o)] = true;
                while (p->verified < p->claimed && p->hashed[slot_of(p, p->verified)]) {
                        p->hashed[slot_of(p, p->verified)] = false;
                        p->verified = MIN(p->verified + INSTALL_CHUNK, p->size);
                }
                pthread_cond_broadcast(&p->cond);
        }
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

/* An eighth of MemAvailable (0 where it cannot be read). */
static uint64_t memory_eighth(void) {
        _cleanup_fclose_ FILE *f = fopen("/proc/meminfo", "re");
        char line[256];
        unsigned long long kib;

        while (f && fgets(line, sizeof line, f))
                if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
                        return (uint64_t) kib * 1024 / 8;
        return 0;
}

/* The CPUs this thread may run on, at least 1. */
static unsigned cpus(void) {
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
                return (unsigned) CPU_COUNT(&set);
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n > 0 ? (unsigned) n : 1;
}

static int readback_open(Pipeline *p, int fd) {
        char path[64];

        (void) snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        p->rfd = open(path, O_RDONLY | O_CLOEXEC | (p->direct ? O_DIRECT : 0));
        if (p->rfd < 0)
                return -errno;
        if (!p->direct) {
                /* Buffered: what the page cache holds would answer instead of the device. */
                install_drop_cache(p->rfd);
                (void) posix_fadvise(p->rfd, 0, (off_t) p->size, POSIX_FADV_SEQUENTIAL);
        }
        p->hash_threads = MIN(cpus(), (unsigned) INSTALL_HASH_THREADS);
        uint64_t ring = MIN(memory_eighth(), p->ring_max ? p->ring_max : (uint64_t) INSTALL_RING_MAX);
        p->ring_n = (unsigned) MAX(ring / INSTALL_CHUNK, (uint64_t) p->hash_threads);
        p->ring = calloc(p->ring_n, sizeof *p->ring);
        p->hashed = calloc(p->ring_n, sizeof *p->hashed);
        if (!p->ring || !p->hashed)
                return -ENOMEM;
        for (unsigned i = 1; i < p->hash_threads; i++) {
                int r = verity_leaf_hasher_dup(p->hasher, &p->more[i - 1]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Opens the read side: a second descriptor of the device (O_DIRECT where p->direct), the ring, the hashers. */
int install_readback_open(Pipeline *p, int fd) {
        int r = readback_open(p, fd);
        if (r < 0)
                install_readback_close(p);
        return r;
}

void install_readback_close(Pipeline *p) {
        for (unsigned i = 0; p->ring && i < p->ring_n; i++)
                free(p->ring[i]);
        free(p->ring);
        free(p->hashed);
        p->ring = NULL;
        p->hashed = NULL;
        for (unsigned i = 0; i < ELEMENTSOF(p->more); i++)
                p->more[i] = verity_leaf_hasher_free(p->more[i]);
        p->rfd = safe_close(p->rfd);
}

int install_readback_start(Pipeline *p, ReadbackThreads *t) {
        int r = -pthread_create(&t->fetcher, NULL, fetch_thread, p);
        if (r >= 0)
                t->started = 1;
        for (unsigned i = 0; r >= 0 && i < p->hash_threads; i++) {
                t->hash[i] = (HashThread) { .p = p, .hasher = i == 0 ? p->hasher : p->more[i - 1] };
                r = -pthread_create(&t->hashers[i], NULL, hash_thread, &t->hash[i]);
                if (r >= 0)
                        t->started++;
        }
        return r;
}

void install_readback_join(ReadbackThreads *t) {
        if (t->started >= 1)
                pthread_join(t->fetcher, NULL);
        for (unsigned i = 1; i < t->started; i++)
                pthread_join(t->hashers[i - 1], NULL);
        t->started = 0;
}

/* The read-back after the writes: the same threads, on a pipeline whose writes are all done. */
int install_readback_leaves(int fd, bool direct, uint64_t size, VerityLeafHasher *h, uint8_t *leaves) {
        /* Nothing waits for this fetch: a buffer being read and one being hashed for each hash thread. */
        Pipeline p = { .fd = fd, .direct = direct, .readback = true, .hasher = h, .leaves = leaves, .size = size,
                       .written = size, .writer_done = true, .rfd = -EBADF, .ring_max = 2 * INSTALL_CHUNK * INSTALL_HASH_THREADS };
        ReadbackThreads t = { 0 };

        if (size % VERITY_BLOCK_SIZE != 0)
                return -EINVAL;
        int r = install_readback_open(&p, fd);
        if (r < 0)
                return r;
        pthread_mutex_init(&p.lock, NULL);
        pthread_cond_init(&p.cond, NULL);
        r = install_readback_start(&p, &t);
        if (r < 0) {
                pthread_mutex_lock(&p.lock);
                p.abort = true;
                pthread_cond_broadcast(&p.cond);
                pthread_mutex_unlock(&p.lock);
        }
        install_readback_join(&t);
        if (r < 0)
                r = err_set(r, "cannot start the read-back: %s", strerror(-r));
        else if (p.readback_error < 0)
                r = err_set(p.readback_error, "read back at offset %" PRIu64 ": %s", p.readback_offset,
                            strerror(-p.readback_error));
        else if (p.verified < size)
                r = err_set(EIO, "read back: ends at offset %" PRIu64 " of %" PRIu64, p.verified, size);
        install_readback_close(&p);
        pthread_cond_destroy(&p.cond);
        pthread_mutex_destroy(&p.lock);
        return r;
}
