/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "bundle/bundle.h"
#include "crypto/hash.h"
#include "verity/verity-tree.h"

/* Large aligned chunks, several in flight: reading+hashing overlaps writing. */
#define INSTALL_CHUNK (4U * 1024 * 1024)
#define INSTALL_CHUNKS 4

/*
 * Streams the reader's current payload p to offset 0 of fd: the calling
 * thread reads (the reader hashes), a writer thread writes. With direct
 * (fd opened O_DIRECT) a last partial block is padded with zeros to
 * INSTALL_ALIGN, so the caller must have checked that this fits. With sync
 * it ends with fdatasync; without, the caller syncs fd. Returns >= 0 only
 * when the reader confirmed the payload's size (and SHA-256, but see below)
 * and every byte was written (and synced).
 *
 * With leaves (p->size / 4096 digests) and a direct fd, two more threads
 * read every written chunk back from the device while later ones are
 * written and store the dm-verity leaf digest of each block in leaves
 * (install-readback.c); then it returns 1. Then the reader does not hash p
 * (bundle_reader_hand_over_digest()): only its size is checked, and the
 * caller must prove the leaves against the tree (install_readback_verity(),
 * verity_tree_check()) before it uses the slot. p's bytes come straight
 * from the bundle's mapped page cache where bundle_reader_map_payload() can
 * map them. Else (buffered: the page cache would answer) 0, leaves is not
 * filled, and the reader's SHA-256 is checked.
 */
int install_stream_payload(BundleReader *b, const Payload *p, int fd, bool direct, bool sync, const char *target,
                           VerityLeafHasher *hasher, uint8_t *leaves);

/*
 * install_stream_payload() without the sync, returning as soon as every
 * byte is written, while the read-back (with leaves) may still read and
 * hash: *ret then holds it. So the caller can write the next payloads, and
 * flush them all at once, while root is still being hashed.
 * install_stream_wait_fetched() waits until the read-back has read
 * everything from the device (a flush queued after that holds none of its
 * reads); install_stream_finish() waits for the rest and returns what
 * install_stream_payload() would (without the sync), and frees;
 * install_stream_abort() stops it, for an error path. A failure while
 * writing is returned at once (nothing left running, *ret untouched).
 */
typedef struct InstallStream InstallStream;
int install_stream_start(BundleReader *b, const Payload *p, int fd, bool direct, const char *target,
                         VerityLeafHasher *hasher, uint8_t *leaves, InstallStream **ret);
void install_stream_wait_fetched(InstallStream *s);
int install_stream_finish(InstallStream *s);
void install_stream_abort(InstallStream *s);

/*
 * The verity payload vp as the device holds it, read whole into *ret (to be
 * freed), its SHA-256 checked against the manifest's.
 */
int install_readback_verity(int fd, bool direct, const Payload *vp, uint8_t **ret);

/*
 * The tree (vp's bytes, from install_readback_verity()): superblock, every
 * level up to the signed root hash in params, with leaves, the data's
 * digests as read back by install_stream_payload().
 */
int install_check_tree(const VerityParams *params, const uint8_t *tree, size_t size, const uint8_t *leaves);

/*
 * Root's leaves (the dm-verity leaf digests of its size bytes, whole
 * blocks) as the device holds them, into leaves: read by the threads of
 * install_stream_payload()'s read-back (with O_DIRECT where direct, else
 * with fd's cached copy dropped), hashed with h and its copies.
 */
int install_readback_leaves(int fd, bool direct, uint64_t size, VerityLeafHasher *h, uint8_t *leaves);

/* Both: the check the kernel makes at boot, of what the devices hold. */
int install_readback_tree(int fd, bool direct, const Payload *vp, const VerityParams *params, const uint8_t *leaves);

/*
 * Writes zeros over [from, to) of fd (from aligned to INSTALL_ALIGN when
 * direct), then fdatasync with sync. Without, the caller syncs fd, unless
 * a partition end that is not 4 KiB aligned made the last bytes go
 * buffered: those are synced and dropped from the cache here.
 */
int install_zero_range(int fd, bool direct, bool sync, uint64_t from, uint64_t to, const char *target);

/* Drops fd's cached (clean) pages, so that the next reads come from the device. */
void install_drop_cache(int fd);

/*
 * SHA-256 of the first size bytes of fd as the device holds them: read with
 * O_DIRECT (direct: fd was opened so), else buffered after dropping the cache.
 */
int install_readback_sha256(int fd, bool direct, uint64_t size, uint8_t ret[SHA256_DIGEST_SIZE]);
