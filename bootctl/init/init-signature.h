/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

#include "crypto/trust.h"
#include "slot/slot-discover.h"

/* Where the initramfs keeps the release CA(s). */
#define INIT_KEYS_DIR "/etc/abide/keys"

/*
 * Checks a verity-sig partition's content (NUL padded DPS JSON): the
 * PKCS#7 signature over rootHash must verify against the store
 * (trust_verify_pkcs7), and certificateFingerprint must be the SHA-256 of
 * the signer certificate that verified. Only then *ret_root_hash gets
 * rootHash (lowercase hex) and *ret_signer the signer's subject.
 * -EBADMSG unreadable, -EKEYREJECTED not trusted or fingerprint mismatch.
 */
int init_signature_check(TrustStore *t, const char *buf, size_t size, char **ret_root_hash, char **ret_signer);

/* Reads the partition and checks it against the certificates in keys (a directory or PEM file). */
int init_signature_verify(const SlotPartition *sig, const char *keys, char **ret_root_hash, char **ret_signer);
