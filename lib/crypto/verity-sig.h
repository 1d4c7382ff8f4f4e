/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "crypto/hash.h"

/* The Discoverable Partitions Specification's verity signature partition:
 * {"rootHash": hex, "certificateFingerprint": hex, "signature": base64},
 * NUL padded to a multiple of 4096 bytes. */
#define VERITY_SIG_ALIGN 4096
#define VERITY_SIG_MAX (1024 * 1024)

typedef struct VeritySig {
        char *root_hash;       /* lowercase hex */
        char *fingerprint;     /* lowercase hex, SHA-256 of the signer's DER certificate */
        uint8_t *signature;    /* DER PKCS#7 over root_hash as ASCII, no newline */
        size_t signature_size;
} VeritySig;

void verity_sig_done(VeritySig *s);

/* Serializes to the padded on-disk form. */
int verity_sig_format(const VeritySig *s, char **ret_buf, size_t *ret_size);
/* Parses the padded on-disk form (trailing NULs allowed, nothing else after the JSON). */
int verity_sig_parse(const char *buf, size_t size, VeritySig *ret);
