/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "install-stream.h"

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sys/mman.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/progress.h"
#include "install/install-pipeline.h"
#include "install/install-target.h"

static void *writer_thread(void *userdata) {
        Pipeline *p = userdata;

        pthread_mutex_lock(&p->lock);
        for (;;) {
                while (p->count == 0 && !p->closed && !p->abort)
                        pthread_cond_wait(&p->cond, &p->lock);
                if (p->abort || p->count == 0)
                        break;
                Chunk c = p->chunks[p->head];
                pthread_mutex_unlock(&p->lock);

                int error = 0;
                for (size_t done = 0; done < c.len;) {
                        ssize_t k = pwrite(p->fd, c.data + done, c.len - done, (off_t) (c.offset + done));
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k <= 0) {
                                error = k < 0 ? errno : ENOSPC;
                                break;
                        }
                        done += (size_t) k;
                }

                pthread_mutex_lock(&p->lock);
                if (error) {
                        p->error = error;
                        p->error_offset = c.offset;
                        p->abort = true;
                } else
                        p->written = c.offset + c.len;
                p->head = (p->head + 1) % INSTALL_CHUNKS;
                p->count--;
                pthread_cond_broadcast(&p->cond);
        }
        /*
         * The flush, once the read-back's fetch has read everything back
         * (none of its reads then waits for it), while the hashing goes on.
         * Flushing every 32-512 MiB instead paid nothing: on the benchmark's
         * loop device each flush stopped the writes (docs/install.md).
         */
        while (p->sync && p->readback && !p->fetch_done && !p->abort)
                pthread_cond_wait(&p->cond, &p->lock);
        if (p->sync && !p->abort && p->closed) {
                pthread_mutex_unlock(&p->lock);
                int error = fdatasync(p->fd) < 0 ? errno : 0;
                pthread_mutex_lock(&p->lock);
                if (error) {
                        p->error = error;
                        p->error_sync = true;
                        p->error_offset = p->written;
                        p->abort = true;
                } else
                        p->synced = true;
        }
        p->writer_done = true;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        return NULL;
}

struct InstallStream {
        Pipeline p;
        pthread_t writer;
        bool started;           /* the writer runs */
        ReadbackThreads rb;
        bool writer_joined;
        const uint8_t *mapped;
        bool end;               /* the reader confirmed the payload's end */
        int r;                  /* the reader's error */
        char *target;
};

static void free_chunks(Pipeline *p) {
        for (size_t i = 0; i < INSTALL_CHUNKS; i++)
                free(p->chunks[i].buf);
}

/* Fills buf from the reader: bytes read, 0 with *ret_end at the verified end, or an error. */
static ssize_t fill(BundleReader *b, uint8_t *buf, size_t size, bool *ret_end) {
        size_t got = 0;
        while (got < size) {
                ssize_t k = bundle_reader_read(b, buf + got, size - got);
                if (k < 0)
                        return k;
                if (k == 0) {
                        *ret_end = true;
                        break;
                }
                got += (size_t) k;
        }
        return (ssize_t) got;
}

/* Stops the threads still running (all of them with abort) and frees what they used; s itself stays. */
static void stream_join(InstallStream *s, bool abort) {
        Pipeline *p = &s->p;

        pthread_mutex_lock(&p->lock);
        if (abort)
                p->abort = true;
        p->closed = true;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        if (s->started && !s->writer_joined)
                pthread_join(s->writer, NULL);
        install_readback_join(&s->rb);
        s->started = false;
        s->writer_joined = true;
        free_chunks(p);
        install_readback_close(p);
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
}

static void stream_free(InstallStream *s) {
        free(s->target);
        free(s);
}

/* After stream_join(): what went wrong first, or 1 (leaves filled) or 0. */
static int stream_report(const InstallStream *s) {
        const Pipeline *p = &s->p;
        const char *target = s->target;

        if (s->r < 0)
                return s->r;
        if (p->error && p->error_sync)
                return err_set(p->error, "cannot sync %s: %s", target, strerror(p->error));
        if (p->error == EFAULT && s->mapped)
                return err_set(EIO, "cannot write %s at offset %" PRIu64 ": the bundle file shrank while it was read",
                               target, p->error_offset);
        if (p->error)
                return err_set(p->error, "cannot write %s at offset %" PRIu64 ": %s", target, p->error_offset,
                               strerror(p->error));
        if (p->readback_error < 0)
                return err_set(p->readback_error, "read back: %s at offset %" PRIu64 ": %s", target, p->readback_offset,
                               strerror(-p->readback_error));
        if (!s->end)
                return err_set(EIO, "%s: write stopped early", target);
        if (p->readback && p->verified != p->size)
                return err_set(EIO, "read back: %s: %" PRIu64 " of %" PRIu64 " bytes read back", target, p->verified,
                               p->size);
        if (p->sync && !p->synced)
                return err_set(EIO, "%s: not synced", target);
        return p->readback ? 1 : 0;
}

int install_stream_finish(InstallStream *s) {
        stream_join(s, false);
        int r = stream_report(s);
        stream_free(s);
        return r;
}

void install_stream_abort(InstallStream *s) {
        if (!s)
                return;
        stream_join(s, true);
        stream_free(s);
}

void install_stream_wait_fetched(InstallStream *s) {
        Pipeline *p = &s->p;
        pthread_mutex_lock(&p->lock);
        while (p->readback && !p->fetch_done && !p->abort)
                pthread_cond_wait(&p->cond, &p->lock);
        pthread_mutex_unlock(&p->lock);
}

/* Streams the payload with s's threads; returns once the writer is done (s->r, s->end set), or < 0 before any thread ran. */
static int stream_run(InstallStream *s, BundleReader *b, const Payload *pl) {
        Pipeline *p = &s->p;
        const uint8_t *mapped = NULL;
        uint64_t offset = 0;
        unsigned tail = 0;
        int r;

        /* Every byte is proven by the read-back against the signed root hash: no second hash of the stream. */
        if (p->readback) {
                r = bundle_reader_hand_over_digest(b);
                if (r < 0)
                        return r;
                /* Written straight from the bundle's page cache, without a copy, where it can be mapped. */
                r = bundle_reader_map_payload(b, &mapped);
                if (r < 0 && r != -EOPNOTSUPP)
                        return r;
                s->mapped = mapped;
                r = install_readback_open(p, p->fd);
                if (r < 0)
                        return err_set(r, "cannot open %s again to read it back: %s", s->target, strerror(-r));
        }
        for (size_t i = 0; i < INSTALL_CHUNKS; i++)
                if (posix_memalign((void **) &p->chunks[i].buf, INSTALL_ALIGN, INSTALL_CHUNK) != 0) {
                        free_chunks(p);
                        install_readback_close(p);
                        return -ENOMEM;
                }
        pthread_mutex_init(&p->lock, NULL);
        pthread_cond_init(&p->cond, NULL);
        r = -pthread_create(&s->writer, NULL, writer_thread, p);
        if (r >= 0) {
                s->started = true;
                if (p->readback)
                        r = install_readback_start(p, &s->rb);
        }
        if (r < 0) {
                bool started = s->started;
                stream_join(s, true);
                return err_set(r, "cannot start the %s thread: %s", started ? "read-back" : "writer", strerror(-r));
        }

        char label[512];
        snprintf(label, sizeof label, "Writing %s to %s", pl->name, s->target);
        progress_begin(label, pl->size);
        while (!s->end) {
                pthread_mutex_lock(&p->lock);
                while (p->count == INSTALL_CHUNKS && !p->abort)
                        pthread_cond_wait(&p->cond, &p->lock);
                bool aborted = p->abort;
                pthread_mutex_unlock(&p->lock);
                if (aborted)
                        break;

                Chunk *c = &p->chunks[tail];
                ssize_t k;
                /* The slot's last chunk was written: its mapped pages go now, rather than all at the munmap
                 * after the last chunk (33 ms for 1 GiB here, then on the critical path). The page cache stays. */
                if (mapped && c->len > 0)
                        (void) madvise((void *) c->data, c->len, MADV_DONTNEED);
                if (mapped) {
                        /* Page aligned, and the size a multiple of 4 KiB (readback): O_DIRECT takes it as it is. */
                        k = (ssize_t) MIN((uint64_t) INSTALL_CHUNK, pl->size - offset);
                        c->data = mapped + offset;
                        s->end = offset + (uint64_t) k == pl->size;
                } else {
                        k = fill(b, c->buf, INSTALL_CHUNK, &s->end);
                        c->data = c->buf;
                }
                if (k < 0) {
                        s->r = (int) k;
                        break;
                }
                if (k == 0)
                        continue;
                c->len = (size_t) k;
                c->offset = offset;
                offset += (uint64_t) k;
                if (p->direct && c->len % INSTALL_ALIGN != 0) {
                        size_t padded = (c->len + INSTALL_ALIGN - 1) / INSTALL_ALIGN * INSTALL_ALIGN;
                        memset(c->buf + c->len, 0, padded - c->len);
                        c->len = padded;
                }

                pthread_mutex_lock(&p->lock);
                p->count++;
                pthread_cond_broadcast(&p->cond);
                pthread_mutex_unlock(&p->lock);
                tail = (tail + 1) % INSTALL_CHUNKS;
                progress_update(offset);
        }

        pthread_mutex_lock(&p->lock);
        if (s->r < 0)
                p->abort = true;
        p->closed = true;
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        pthread_join(s->writer, NULL);
        s->writer_joined = true;
        progress_end();
        return 0;
}

static int stream_new(const Payload *pl, int fd, bool direct, bool sync, const char *target, VerityLeafHasher *hasher,
                      uint8_t *leaves, InstallStream **ret) {
        InstallStream *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->p = (Pipeline) { .fd = fd, .direct = direct, .sync = sync, .hasher = hasher, .leaves = leaves,
                            .size = pl->size, .rfd = -EBADF };
        s->p.readback = leaves && direct && pl->size % VERITY_BLOCK_SIZE == 0;
        s->target = strdup(target);
        if (!s->target) {
                free(s);
                return -ENOMEM;
        }
        *ret = s;
        return 0;
}

/* A stream for pl, run until its writer is done: *ret holds it (its read-back may still run). */
static int stream_begin(BundleReader *b, const Payload *pl, int fd, bool direct, bool sync, const char *target,
                        VerityLeafHasher *hasher, uint8_t *leaves, InstallStream **ret) {
        InstallStream *s;
        int r = stream_new(pl, fd, direct, sync, target, hasher, leaves, &s);
        if (r < 0)
                return r;
        r = stream_run(s, b, pl);
        if (r < 0) {
                stream_free(s);
                return r;
        }
        *ret = s;
        return 0;
}

int install_stream_payload(BundleReader *b, const Payload *pl, int fd, bool direct, bool sync, const char *target,
                           VerityLeafHasher *hasher, uint8_t *leaves) {
        InstallStream *s;
        int r = stream_begin(b, pl, fd, direct, sync, target, hasher, leaves, &s);
        return r < 0 ? r : install_stream_finish(s);
}

int install_stream_start(BundleReader *b, const Payload *pl, int fd, bool direct, const char *target,
                         VerityLeafHasher *hasher, uint8_t *leaves, InstallStream **ret) {
        InstallStream *s;
        int r = stream_begin(b, pl, fd, direct, false, target, hasher, leaves, &s);
        if (r < 0)
                return r;
        /* Written, or failed: a failure is reported at once, with every thread stopped. */
        pthread_mutex_lock(&s->p.lock);
        bool failed = s->r < 0 || !s->end || s->p.abort;
        pthread_mutex_unlock(&s->p.lock);
        if (failed)
                return install_stream_finish(s);
        *ret = s;
        return 0;
}

int install_zero_range(int fd, bool direct, bool sync, uint64_t from, uint64_t to, const char *target) {
        _cleanup_free_ uint8_t *zero = NULL;
        const size_t size = 1024 * 1024;
        int saved_flags = -1;
        uint64_t buffered = to;

        if (from >= to)
                return 0;
        if (posix_memalign((void **) &zero, INSTALL_ALIGN, size) != 0)
                return -ENOMEM;
        memset(zero, 0, size);
        for (uint64_t o = from; o < to;) {
                size_t n = (size_t) MIN((uint64_t) size, to - o);
                if (direct && n % INSTALL_ALIGN != 0) {
                        n = n / INSTALL_ALIGN * INSTALL_ALIGN;
                        if (n == 0) {
                                /* A partition end that is not 4 KiB aligned: the rest goes buffered. */
                                saved_flags = fcntl(fd, F_GETFL);
                                if (saved_flags < 0 || fcntl(fd, F_SETFL, saved_flags & ~O_DIRECT) < 0)
                                        return err_set(errno, "cannot zero the end of %s: %m", target);
                                direct = false;
                                n = (size_t) (to - o);
                                buffered = o;
                        }
                }
                ssize_t k = pwrite(fd, zero, n, (off_t) o);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return err_set(k < 0 ? errno : ENOSPC, "cannot zero %s at offset %" PRIu64 ": %s", target, o,
                                       strerror(k < 0 ? errno : ENOSPC));
                o += (uint64_t) k;
        }
        /* The buffered end is written out now even without sync (the caller's flush makes it durable), so
         * that its cached copy can go and a read-back reads the device. */
        if (!sync && saved_flags >= 0 &&
            sync_file_range(fd, (off_t) buffered, (off_t) (to - buffered),
                            SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) < 0)
                return err_set(errno, "cannot write out the end of %s: %m", target);
        if (sync && fdatasync(fd) < 0)
                return err_set(errno, "cannot sync %s: %m", target);
        if (saved_flags >= 0) {
                install_drop_cache(fd);
                if (fcntl(fd, F_SETFL, saved_flags) < 0)
                        return err_set(errno, "cannot restore O_DIRECT on %s: %m", target);
        }
        return 0;
}

void install_drop_cache(int fd) {
        /* Only clean pages go: everything was synced before. */
        (void) posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

int install_readback_sha256(int fd, bool direct, uint64_t size, uint8_t ret[SHA256_DIGEST_SIZE]) {
        _cleanup_(sha256_freep) Sha256 *h = NULL;
        _cleanup_free_ uint8_t *buf = NULL;
        int r;

        if (posix_memalign((void **) &buf, INSTALL_ALIGN, INSTALL_CHUNK) != 0)
                return -ENOMEM;
        r = sha256_new(&h);
        if (r < 0)
                return r;
        if (!direct) {
                install_drop_cache(fd);
                (void) posix_fadvise(fd, 0, (off_t) size, POSIX_FADV_SEQUENTIAL);
        }

        for (uint64_t o = 0; o < size;) {
                uint64_t want = MIN((uint64_t) INSTALL_CHUNK, size - o);
                size_t n = (size_t) want;
                if (direct)
                        n = (n + INSTALL_ALIGN - 1) / INSTALL_ALIGN * INSTALL_ALIGN;
                ssize_t k = pread(fd, buf, n, (off_t) o);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return err_set(errno, "read back at offset %" PRIu64 ": %m", o);
                if (k == 0)
                        return err_set(EIO, "read back: ends at offset %" PRIu64 " of %" PRIu64, o, size);
                size_t use = (size_t) MIN((uint64_t) k, want);
                r = sha256_update(h, buf, use);
                if (r < 0)
                        return r;
                o += use;
        }
        return sha256_final(h, ret);
}

int install_readback_verity(int fd, bool direct, const Payload *vp, uint8_t **ret) {
        _cleanup_free_ uint8_t *buf = NULL;
        uint8_t digest[SHA256_DIGEST_SIZE];
        char want[SHA256_HEX_SIZE], got[SHA256_HEX_SIZE];
        int r;

        if (vp->size > SIZE_MAX - INSTALL_ALIGN)
                return -EFBIG;
        size_t padded = (size_t) (vp->size + INSTALL_ALIGN - 1) / INSTALL_ALIGN * INSTALL_ALIGN;
        if (posix_memalign((void **) &buf, INSTALL_ALIGN, MAX(padded, (size_t) INSTALL_ALIGN)) != 0)
                return -ENOMEM;
        if (!direct)
                install_drop_cache(fd);
        for (size_t o = 0; o < vp->size;) {
                ssize_t k = pread(fd, buf + o, direct ? padded - o : (size_t) vp->size - o, (off_t) o);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return err_set(errno, "read back at offset %zu: %m", o);
                if (k == 0)
                        return err_set(EIO, "read back: ends at offset %zu of %" PRIu64, o, vp->size);
                o += (size_t) k;
        }
        r = sha256_buf(buf, (size_t) vp->size, digest);
        if (r < 0)
                return r;
        if (memcmp(digest, vp->sha256, SHA256_DIGEST_SIZE) != 0) {
                hex_encode(vp->sha256, SHA256_DIGEST_SIZE, want);
                hex_encode(digest, SHA256_DIGEST_SIZE, got);
                return err_set(EBADMSG, "read back: holds sha256 %s over %" PRIu64 " bytes, the manifest says %s for '%s'",
                               got, vp->size, want, vp->name);
        }
        *ret = TAKE_PTR(buf);
        return 0;
}

int install_check_tree(const VerityParams *params, const uint8_t *tree, size_t size, const uint8_t *leaves) {
        /* The tree is the bundle's (its SHA-256 was checked); the leaves are root's bytes, not hashed before. */
        int r = verity_tree_check(params, tree, size, leaves);
        if (r < 0)
                return err_prefix(r, "read back: root does not match its signed dm-verity tree "
                                     "(a corrupt bundle, or storage that keeps other bytes)");
        return 0;
}

int install_readback_tree(int fd, bool direct, const Payload *vp, const VerityParams *params, const uint8_t *leaves) {
        _cleanup_free_ uint8_t *tree = NULL;
        int r = install_readback_verity(fd, direct, vp, &tree);
        if (r < 0)
                return r;
        return install_check_tree(params, tree, (size_t) vp->size, leaves);
}
