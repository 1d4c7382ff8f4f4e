/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "basic/macro.h"
#include "bundle/manifest.h"
#include "crypto/trust.h"

/* Bundle: POSIX (pax/ustar) tar with members manifest.json,
 * manifest.json.sig, then each payload in manifest order. */
#define BUNDLE_MANIFEST_NAME "manifest.json"
#define BUNDLE_SIGNATURE_NAME "manifest.json.sig"
#define BUNDLE_SIGNATURE_MAX (64 * 1024)
#define BUNDLE_SUFFIX ".abide"

/*
 * Writes the bundle atomically to out_path (temp file + rename; nothing is
 * left behind on error). payload_paths[i] is the file for m->payloads[i];
 * each file's size must equal the manifest's. Members get mode 0644,
 * uid/gid 0, and mtime 0 so equal inputs give equal bundles.
 */
int bundle_write(const char *out_path, const Manifest *m, const char *manifest_json, size_t manifest_len,
                 const uint8_t *sig, size_t sig_len, const char *const *payload_paths);

/* The tar record: members and their data start on multiples of it. */
#define BUNDLE_RECORD 512
/* A file system block size the first payload's data can be aligned to,
 * for bundle_write_in_place(). */
#define BUNDLE_INSERT_ALIGN 4096

/* Where the first payload's data starts in a bundle of m with a manifest of
 * manifest_len bytes and a signature of sig_len bytes. */
int bundle_first_payload_offset(const Manifest *m, size_t manifest_len, size_t sig_len, uint64_t *ret);

/*
 * Pads the manifest JSON *json (of *len bytes, realloc'd) with spaces before
 * its final newline so that the first payload, now at first_payload_offset,
 * starts on a multiple of align (a multiple of BUNDLE_RECORD). Returns 0 when
 * it already does, 1 when padded. Sign the padded manifest, then check again:
 * another signature size can move the payload.
 */
int bundle_manifest_pad(char **json, size_t *len, uint64_t first_payload_offset, uint64_t align);

/*
 * bundle_write() without copying the first payload: its file (a temporary
 * that is ours, on the output's file system) becomes the bundle. The members
 * before it are inserted in front of its data (FALLOC_FL_INSERT_RANGE: ext4
 * and XFS move extents), the rest appended, then the file is synced and
 * renamed to out_path. The same bytes as bundle_write(). Needs the first
 * payload's data at a multiple of the file system's block size
 * (bundle_manifest_pad()); -EOPNOTSUPP with the file untouched when that or
 * the file system refuses, and the caller falls back to bundle_write(). On
 * any other error the payload file is lost.
 */
int bundle_write_in_place(const char *out_path, const Manifest *m, const char *manifest_json, size_t manifest_len,
                          const uint8_t *sig, size_t sig_len, const char *const *payload_paths);

typedef struct BundleReader BundleReader;

/*
 * Starts reading a bundle stream from fd (a file or a pipe; read
 * sequentially, never seeked). Reads manifest.json and manifest.json.sig
 * and verifies the signature against trust before returning; with trust ==
 * NULL the signature is not checked (inspect without --cert only). name is
 * what every message calls the bundle ("PATH: member 3 'root.img': ..."):
 * its path, a URL as shown, "standard input"; NULL: "bundle".
 */
int bundle_reader_open(int fd, const char *name, TrustStore *trust, BundleReader **ret);
/* The name messages call it by (bundle_reader_open()). */
const char *bundle_reader_name(BundleReader *b);

const Manifest *bundle_reader_manifest(BundleReader *b);
const char *bundle_reader_manifest_json(BundleReader *b, size_t *ret_len);
/* Subject of the verified signer, NULL when opened without trust. */
const char *bundle_reader_signer(BundleReader *b);

/*
 * Advances to the next payload. Returns 1 and the payload's manifest entry,
 * or 0 once every payload was read and the archive ended with no further
 * member. A member that is not the next payload in manifest order (unknown,
 * duplicated, reordered, unsafe name, wrong type) is an error. The previous
 * payload must have been read to its end (bundle_reader_read() returned 0);
 * remaining bytes of it are otherwise read and verified first.
 */
int bundle_reader_next(BundleReader *b, const Payload **ret);

/*
 * Reads up to n bytes of the current payload. Returns the count, or 0 at the
 * payload's end once its size and SHA-256 matched the manifest; a payload
 * larger or smaller than declared or with another digest is an error.
 * Bytes returned before the final 0 are not yet verified.
 */
ssize_t bundle_reader_read(BundleReader *b, void *buf, size_t n);

/*
 * Before the current payload's first byte is read: the caller proves its
 * bytes itself, so bundle_reader_read() checks only its size, and its final
 * 0 no longer means the SHA-256 matched. For one caller only: the install of
 * root with the read-back as it is written, where every byte of what landed
 * is checked against the signed dm-verity root hash (install-verify.c,
 * install_verify_slot()) and a second SHA-256 pass over the stream proves nothing
 * more (docs/install.md, "One pass over root").
 */
int bundle_reader_hand_over_digest(BundleReader *b);

/*
 * After bundle_reader_hand_over_digest(), before any byte was read: where
 * the bundle was opened from a regular file and the payload's data starts
 * on a page there (abide-build places root so), maps those bytes read-only
 * and returns them, page aligned, for writing without a copy. The payload
 * then counts as read to its end (size checked, digest handed over). Valid
 * until the next bundle_reader_next() or bundle_reader_free().
 * -EOPNOTSUPP where it cannot map: read with bundle_reader_read() instead.
 */
int bundle_reader_map_payload(BundleReader *b, const uint8_t **ret);

/* A bundle that can be read at any offset: a file, a block device, or a URL
 * through Range requests. */
typedef struct BundleSource {
        uint64_t size;
        /* Reads exactly n bytes at offset (offset + n <= size), or fails with a message. */
        int (*read_at)(void *userdata, uint64_t offset, void *buf, size_t n);
        void *userdata;
} BundleSource;

/*
 * bundle_reader_open() over a source read at offsets: libarchive reads the
 * member headers and the manifest and signature through src in small
 * windows and skips member data without reading it. Then
 * bundle_reader_index() walks the rest.
 */
int bundle_reader_open_source(const BundleSource *src, const char *name, TrustStore *trust, BundleReader **ret);

/*
 * After bundle_reader_open_source(): walks the payload members' headers
 * (each checked as bundle_reader_next() does, in manifest order, with the
 * manifest's size, and nothing after the last) without reading their data,
 * and gives the offset of each payload's data in the bundle: ret_offsets[i]
 * for manifest payload i. Derived from the tar layout: a member's data ends,
 * padded to 512 bytes, where the next header (or the archive's end) starts.
 */
int bundle_reader_index(BundleReader *b, uint64_t *ret_offsets);

/* What the reader asks the source for at a header after a skipped member's data. */
#define BUNDLE_HEADER_WINDOW 1024
/* A tar block: a ustar header, the unit members' data is padded to. */
#define BUNDLE_TAR_BLOCK 512

/*
 * After bundle_reader_open_source(), before bundle_reader_index(): where the
 * payloads' headers and the archive's end (ret_headers[0..n_payloads]) lie
 * if each header is one 512-byte ustar block, as abide-build writes them
 * (pax_restricted adds an extended header only for what ustar cannot hold:
 * names over 100 bytes, members of 8 GiB or more). A guess from the signed
 * manifest's sizes, for fetching ahead; bundle_reader_index() still reads
 * and checks every header wherever it is.
 */
int bundle_reader_guess_headers(BundleReader *b, uint64_t *ret_headers);

/* Bytes of the bundle read so far (the whole bundle once bundle_reader_next() returned 0). */
uint64_t bundle_reader_bytes(BundleReader *b);

BundleReader *bundle_reader_free(BundleReader *b);
DEFINE_TRIVIAL_CLEANUP_FUNC(BundleReader *, bundle_reader_free);
