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
 * INSTALL_ALIGN, so the caller must have checked that this fits. Ends with
 * fdatasync. Returns >= 0 only when the reader confirmed the payload's size
 * (and SHA-256, but see below) and every byte was written and synced.
 *
 * With leaves (p->size / 4096 digests) and a direct fd, two more threads
 * read every written chunk back from the device while later ones are
 * written and store the dm-verity leaf digest of each block in leaves
 * (install-readback.c); then it returns 1. Then the reader does not hash p
 * (bundle_reader_hand_over_digest()): only its size is checked, and the
 * caller must prove the leaves against the tree (install_readback_tree())
 * before it uses the slot. p's bytes come straight from the bundle's
 * mapped page cache where bundle_reader_map_payload() can map them. Else
 * (buffered: the page cache would answer) 0, leaves is not filled, and the
 * reader's SHA-256 is checked.
 */
int install_stream_payload(BundleReader *b, const Payload *p, int fd, bool direct, const char *target,
                           VerityLeafHasher *hasher, uint8_t *leaves);

/*
 * The verity payload vp as the device holds it, read whole: its SHA-256
 * against the manifest, then the tree (superblock, every level up to the
 * signed root hash in params) with leaves, the data's digests as read back
 * by install_stream_payload().
 */
int install_readback_tree(int fd, bool direct, const Payload *vp, const VerityParams *params, const uint8_t *leaves);

/* Writes zeros over [from, to) of fd (from aligned to INSTALL_ALIGN when direct), then fdatasync. */
int install_zero_range(int fd, bool direct, uint64_t from, uint64_t to, const char *target);

/* Drops fd's cached (clean) pages, so that the next reads come from the device. */
void install_drop_cache(int fd);

/*
 * SHA-256 of the first size bytes of fd as the device holds them: read with
 * O_DIRECT (direct: fd was opened so), else buffered after dropping the cache.
 */
int install_readback_sha256(int fd, bool direct, uint64_t size, uint8_t ret[SHA256_DIGEST_SIZE]);
