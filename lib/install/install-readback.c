/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "install-pipeline.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/macro.h"
#include "install/install-stream.h"
#include "install/install-target.h"

/*
 * The read-back, in two threads. The fetch thread has each written chunk
 * read from the device into the page cache right behind the writer:
 * POSIX_FADV_WILLNEED over it, in pieces of the device's read-ahead (the
 * kernel reads at most that much per call), then a read of its last block,
 * which waits for the reads. The hash thread then reads those pages (pread
 * on a buffered descriptor), hashes each 4 KiB block as a dm-verity leaf,
 * and drops them. The flush waits for the fetch, not for the hashing: on a
 * device that serves reads and the flush in one queue (a loop device) the
 * reads then never wait for the flush, and the hashing overlaps it
 * (docs/install.md, "Where the time goes").
 *
 * The O_DIRECT writes drop any cached copy of the range they write, and the
 * whole range is dropped before the first write: what the hash thread reads
 * came from the device after the write. A page the fetch did not bring in
 * (the kernel may skip read-ahead under memory pressure), or one evicted
 * before it was hashed, is read from the device by the hash thread's
 * pread. The fetch runs at most window bytes ahead of the hashing, a
 * quarter of the memory available at the start (at least INSTALL_CHUNK).
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

/* [o, o + n) into the page cache, n a multiple of VERITY_BLOCK_SIZE. */
static int fetch_range(Pipeline *p, uint8_t block[static VERITY_BLOCK_SIZE], uint64_t o, size_t n) {
        /* A hint: what it does not bring in, the hash thread's reads do. */
        for (uint64_t q = o; q < o + n; q += p->fetch_piece)
                (void) posix_fadvise(p->rfd, (off_t) q, (off_t) MIN(p->fetch_piece, o + n - q), POSIX_FADV_WILLNEED);
        /* Waits for the last piece (a read of it that fails is the device's error). */
        return pread_exact(p->rfd, block, VERITY_BLOCK_SIZE, o + n - VERITY_BLOCK_SIZE);
}

void *install_fetch_thread(void *userdata) {
        Pipeline *p = userdata;
        uint8_t block[VERITY_BLOCK_SIZE];
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
                if (end - p->verified > p->window) {
                        pthread_cond_wait(&p->cond, &p->lock);
                        continue;
                }
                pthread_mutex_unlock(&p->lock);
                int r = fetch_range(p, block, o, (size_t) (end - o));
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

void *install_hash_thread(void *userdata) {
        Pipeline *p = userdata;
        _cleanup_free_ uint8_t *buf = NULL;
        uint64_t o = 0;
        int r = 0;

        /*
         * Lowest priority: the hashing takes the CPU the writes leave, and
         * the flush leaves it all. At the same priority it slowed the
         * reading and copying that feed the writes (docs/install.md).
         */
        (void) setpriority(PRIO_PROCESS, (id_t) gettid(), 19);
        if (posix_memalign((void **) &buf, INSTALL_ALIGN, INSTALL_CHUNK) != 0)
                r = -ENOMEM;
        while (r >= 0 && o < p->size) {
                pthread_mutex_lock(&p->lock);
                while (p->fetched <= o && !p->fetch_done && !p->abort)
                        pthread_cond_wait(&p->cond, &p->lock);
                uint64_t avail = p->fetched;
                bool stop = p->abort || avail <= o;
                pthread_mutex_unlock(&p->lock);
                if (stop)
                        break;

                size_t n = (size_t) MIN(avail - o, (uint64_t) INSTALL_CHUNK);
                ssize_t k = pread(p->rfd, buf, n, (off_t) o);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        r = -errno;
                else if (k == 0 || (size_t) k % VERITY_BLOCK_SIZE != 0)
                        r = -EIO;
                else
                        r = verity_leaf_hash(p->hasher, buf, (uint64_t) k / VERITY_BLOCK_SIZE,
                                             p->leaves + o / VERITY_BLOCK_SIZE * SHA256_DIGEST_SIZE);
                if (r < 0)
                        break;
                /* Hashed: the cached copy goes (clean pages). */
                (void) posix_fadvise(p->rfd, (off_t) o, (off_t) k, POSIX_FADV_DONTNEED);
                o += (uint64_t) k;
                pthread_mutex_lock(&p->lock);
                p->verified = o;
                pthread_cond_broadcast(&p->cond);
                pthread_mutex_unlock(&p->lock);
        }

        pthread_mutex_lock(&p->lock);
        if (r < 0)
                readback_fail(p, r, o);
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

/* A quarter of MemAvailable, at least one chunk; one chunk where it cannot be read. */
static uint64_t readback_window(void) {
        _cleanup_fclose_ FILE *f = fopen("/proc/meminfo", "re");
        char line[256];
        unsigned long long kib;

        while (f && fgets(line, sizeof line, f))
                if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
                        return MAX((uint64_t) kib * 1024 / 4, (uint64_t) INSTALL_CHUNK);
        return INSTALL_CHUNK;
}

/* The device's read-ahead, what one POSIX_FADV_WILLNEED reads at most: at least 128 KiB, at most a chunk. */
static uint64_t fetch_piece(int fd) {
        long sectors = 0;
        uint64_t piece = 128 * 1024;
        if (ioctl(fd, BLKRAGET, &sectors) == 0 && sectors > 0)
                piece = MAX(piece, (uint64_t) sectors * 512);
        return MIN(piece / VERITY_BLOCK_SIZE * VERITY_BLOCK_SIZE, (uint64_t) INSTALL_CHUNK);
}

/* Opens the read side: a second, buffered descriptor of the device, its cached copy of [0, size) dropped. */
int install_readback_open(Pipeline *p, int fd) {
        char path[64];

        (void) snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        p->rfd = open(path, O_RDONLY | O_CLOEXEC);
        if (p->rfd < 0)
                return -errno;
        (void) posix_fadvise(p->rfd, 0, (off_t) p->size, POSIX_FADV_DONTNEED);
        p->fetch_piece = fetch_piece(p->rfd);
        p->window = readback_window();
        return 0;
}

void install_readback_close(Pipeline *p) {
        if (p->rfd >= 0) {
                (void) posix_fadvise(p->rfd, 0, (off_t) p->size, POSIX_FADV_DONTNEED);
                p->rfd = safe_close(p->rfd);
        }
}

/*
 * The read-back after the writes (install_readback_leaves()): a reader
 * thread fills a ring of INSTALL_CHUNKS buffers from the device, the caller
 * hashes them, so that the reads of one chunk overlap the hashing of the
 * one before.
 */
typedef struct Ring {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        uint8_t *buf[INSTALL_CHUNKS];
        size_t len[INSTALL_CHUNKS];
        unsigned head, count;   /* filled buffers, in order */
        bool done, abort;
        int error;              /* errno of the failed read; EIO at an early end */
        uint64_t error_offset;
        int fd;
        bool direct;
        uint64_t size;
} Ring;

static void *ring_reader(void *userdata) {
        Ring *g = userdata;
        unsigned w = 0;
        uint64_t o = 0;
        int error = 0;

        while (o < g->size) {
                pthread_mutex_lock(&g->lock);
                while (g->count == INSTALL_CHUNKS && !g->abort)
                        pthread_cond_wait(&g->cond, &g->lock);
                bool stop = g->abort;
                pthread_mutex_unlock(&g->lock);
                if (stop)
                        break;

                /* size is whole blocks, so with O_DIRECT every read is aligned. */
                size_t n = (size_t) MIN((uint64_t) INSTALL_CHUNK, g->size - o);
                int r = pread_exact(g->fd, g->buf[w], n, o);
                if (r < 0) {
                        error = -r;
                        break;
                }
                pthread_mutex_lock(&g->lock);
                g->len[w] = n;
                g->count++;
                pthread_cond_broadcast(&g->cond);
                pthread_mutex_unlock(&g->lock);
                w = (w + 1) % INSTALL_CHUNKS;
                o += n;
        }

        pthread_mutex_lock(&g->lock);
        if (error != 0) {
                g->error = error;
                g->error_offset = o;
        }
        g->done = true;
        pthread_cond_broadcast(&g->cond);
        pthread_mutex_unlock(&g->lock);
        return NULL;
}

int install_readback_leaves(int fd, bool direct, uint64_t size, VerityLeafHasher *h, uint8_t *leaves) {
        Ring g = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .fd = fd, .direct = direct,
                   .size = size };
        pthread_t thread;
        uint64_t o = 0;
        int r = 0;

        if (size % VERITY_BLOCK_SIZE != 0)
                return -EINVAL;
        for (unsigned i = 0; i < INSTALL_CHUNKS; i++)
                if (posix_memalign((void **) &g.buf[i], INSTALL_ALIGN, INSTALL_CHUNK) != 0) {
                        r = -ENOMEM;
                        goto out;
                }
        if (!direct) {
                /* Buffered: what the page cache holds would answer instead of the device. */
                install_drop_cache(fd);
                (void) posix_fadvise(fd, 0, (off_t) size, POSIX_FADV_SEQUENTIAL);
        }
        r = -pthread_create(&thread, NULL, ring_reader, &g);
        if (r < 0)
                goto out;

        while (o < size) {
                pthread_mutex_lock(&g.lock);
                while (g.count == 0 && !g.done)
                        pthread_cond_wait(&g.cond, &g.lock);
                bool empty = g.count == 0;
                unsigned i = g.head;
                pthread_mutex_unlock(&g.lock);
                if (empty)
                        break; /* the reader stopped: g.error says why */

                r = verity_leaf_hash(h, g.buf[i], g.len[i] / VERITY_BLOCK_SIZE,
                                     leaves + o / VERITY_BLOCK_SIZE * SHA256_DIGEST_SIZE);
                if (r < 0)
                        break;
                if (!direct)
                        (void) posix_fadvise(fd, (off_t) o, (off_t) g.len[i], POSIX_FADV_DONTNEED);
                o += g.len[i];
                pthread_mutex_lock(&g.lock);
                g.head = (g.head + 1) % INSTALL_CHUNKS;
                g.count--;
                pthread_cond_broadcast(&g.cond);
                pthread_mutex_unlock(&g.lock);
        }

        pthread_mutex_lock(&g.lock);
        g.abort = true;
        pthread_cond_broadcast(&g.cond);
        pthread_mutex_unlock(&g.lock);
        pthread_join(thread, NULL);
        if (r >= 0 && g.error != 0)
                r = err_set(g.error, "read back at offset %" PRIu64 ": %s", g.error_offset, strerror(g.error));
        else if (r >= 0 && o < size)
                r = err_set(EIO, "read back: ends at offset %" PRIu64 " of %" PRIu64, o, size);
out:
        for (unsigned i = 0; i < INSTALL_CHUNKS; i++)
                free(g.buf[i]);
        return r;
}
