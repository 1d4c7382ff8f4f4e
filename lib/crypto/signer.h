/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "basic/macro.h"
#include "crypto/hash.h"

/* A release signing key and its certificate (PEM files). Certificates after
 * the first in cert_path (intermediate CAs) are embedded in every signature.
 * Encrypted keys are refused, as is a certificate of another key. */
typedef struct Signer Signer;

int signer_load(const char *key_path, const char *cert_path, Signer **ret);
Signer *signer_free(Signer *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(Signer *, signer_free);

/* CMS SignedData, detached, binary content, signer certificate embedded, DER.
 * `openssl cms -verify -binary -inform DER -content DATA -CAfile ca.pem` accepts it.
 * Its signed attributes are contentType, messageDigest, signingTime and
 * smimeCapabilities; signingTime is signing_time, never the clock, so equal
 * input and time give equal bytes with a deterministic signature scheme (RSA
 * PKCS#1 v1.5, which keygen's keys use; ECDSA draws a nonce every time). */
int signer_sign_cms(Signer *s, const void *data, size_t len, time_t signing_time, uint8_t **ret_der,
                    size_t *ret_len);

/* PKCS#7 detached DER signature as the kernel's root_hash_sig_key_desc and
 * systemd's verity-sig expect (no signed attributes, certificate embedded).
 * Without attributes it carries no time: equal input gives equal bytes (RSA). */
int signer_sign_pkcs7(Signer *s, const void *data, size_t len, uint8_t **ret_der, size_t *ret_len);

/* Whether the certificate is one devices accept as a release signer
 * (docs/trust.md); e.g. "signing certificate CN=x: key usage lacks
 * digitalSignature". The builder checks this before it builds anything. */
int signer_check_release(Signer *s);

/* SHA-256 of the signer's DER certificate, lowercase hex. */
int signer_cert_fingerprint(Signer *s, char ret_hex[SHA256_HEX_SIZE]);
