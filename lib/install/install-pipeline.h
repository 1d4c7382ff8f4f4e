/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What install-stream.c's writer and install-readback.c's threads share: one payload's pipeline. */

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "install/install-stream.h"
#include "verity/verity-tree.h"

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
        int rfd;                /* the device again, buffered, read-only */
        uint64_t fetch_piece;   /* bytes one POSIX_FADV_WILLNEED reads at most on rfd */
        uint64_t window;        /* how far the fetch may run ahead of the hashing */
        uint64_t fetched;       /* bytes from offset 0 read from the device into the page cache */
        bool fetch_done;
        uint64_t verified;      /* bytes read back and hashed */
        int readback_error;     /* < 0 */
        uint64_t readback_offset;
} Pipeline;

/*
 * The read-back of root beside its writes (install-readback.c): two
 * threads, started after the writer, both on p. The writer flushes once
 * fetch_done is set; the hash thread fills p->leaves up to p->verified.
 */
void *install_fetch_thread(void *userdata);
void *install_hash_thread(void *userdata);
/* Opens the read side of p (p->size set) for the partition fd; -errno. */
int install_readback_open(Pipeline *p, int fd);
void install_readback_close(Pipeline *p);
