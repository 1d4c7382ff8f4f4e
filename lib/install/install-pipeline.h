/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What install-stream.c's writer and install-readback.c's threads share: one payload's pipeline. */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "install/install-stream.h"
#include "verity/verity-tree.h"

/* At most this many threads hash the read-back (one a CPU). */
#define INSTALL_HASH_THREADS 4
/* The read-back's ring holds at most this much (and an eighth of the memory available). */
#define INSTALL_RING_MAX (128U * 1024 * 1024)

typedef struct Chunk {
        uint8_t *buf;           /* owned */
        const uint8_t *data;    /* what to write: buf, or the bundle's mapped bytes */
        size_t len;
        uint64_t offset;
} Chunk;

typedef struct Pipeline {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        Chunk chunks[INSTALL_CHUNKS];
        unsigned head, count;   /* queue of filled chunks */
        bool closed;            /* the producer has no more */
        bool abort;
        int fd;
        bool direct;            /* fd is O_DIRECT: chunks are padded to INSTALL_ALIGN */
        bool sync;              /* the writer ends with fdatasync */
        int error;              /* errno of the failed write or sync */
        bool error_sync;        /* ... of the sync */
        bool synced;            /* everything written was synced */
        uint64_t error_offset;
        uint64_t written;       /* bytes from offset 0 written (the writer goes in order) */
        bool writer_done;

        /* The read-back while writing (install_stream_payload()'s leaves). */
        bool readback;
        VerityLeafHasher *hasher;
        uint8_t *leaves;
        uint64_t size;
        int rfd;                /* the device again, read-only: O_DIRECT where fd is */
        uint8_t **ring;         /* ring_n buffers, each a head room and INSTALL_CHUNK: chunk at o in ring[o / INSTALL_CHUNK % ring_n] */
        bool *hashed;           /* ... its leaves computed, ring_n of them */
        unsigned ring_n;        /* the fetch runs at most ring_n chunks ahead of the hashing */
        uint64_t ring_max;      /* the ring's bytes at most: INSTALL_RING_MAX where 0 */
        VerityLeafHasher *more[INSTALL_HASH_THREADS - 1]; /* the other hash threads' hashers */
        unsigned hash_threads;
        uint64_t fetched;       /* bytes from offset 0 read back into the ring */
        bool fetch_done;
        uint64_t claimed;       /* bytes from offset 0 taken by a hash thread */
        uint64_t verified;      /* bytes from offset 0 read back and hashed */
        int readback_error;     /* < 0 */
        uint64_t readback_offset;
} Pipeline;

/*
 * The read-back of root beside its writes (install-readback.c): a fetch
 * thread and p->hash_threads hash threads (install_readback_start()),
 * started after the writer, all on p, each hash thread with a hasher of its
 * own. The writer flushes once fetch_done is set; the hash threads fill
 * p->leaves up to p->verified. install_readback_leaves() runs the same
 * threads on a pipeline whose writes are all done.
 */
typedef struct HashThread {
        Pipeline *p;
        VerityLeafHasher *hasher;
} HashThread;
typedef struct ReadbackThreads {
        pthread_t fetcher, hashers[INSTALL_HASH_THREADS];
        HashThread hash[INSTALL_HASH_THREADS];
        unsigned started;       /* 1 the fetch, 1 + n and n hash threads */
} ReadbackThreads;
/*
 * Opens the read side of p (p->size and p->direct set) for the partition
 * fd, all or nothing, and sets p->hash_threads; -errno. Buffered (p->direct
 * false), fd's cached copy is dropped first and each chunk after its read.
 */
int install_readback_open(Pipeline *p, int fd);
void install_readback_close(Pipeline *p);
/* Starts the fetch and the hash threads on p (its lock initialized); -errno, t->started says what runs. */
int install_readback_start(Pipeline *p, ReadbackThreads *t);
/* Waits for the threads t->started says run (p->abort set, or all read back). */
void install_readback_join(ReadbackThreads *t);
