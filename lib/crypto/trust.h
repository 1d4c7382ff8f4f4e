/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "basic/macro.h"
#include "crypto/hash.h"

/* Trusted CA certificates: a directory of *.pem / *.crt files (others are
 * ignored, subdirectories are not read), or one PEM file holding one or more
 * certificates. Loading fails with -ENOKEY when no certificate is found, and
 * on any unreadable or malformed certificate file. */
typedef struct TrustStore TrustStore;

int trust_store_load(const char *path, TrustStore **ret);
TrustStore *trust_store_free(TrustStore *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(TrustStore *, trust_store_free);

/*
 * What a signer must be beyond chaining to the store (docs/trust.md). The
 * default (all zero) is the boot policy: no validity times (devices live
 * with dead RTCs and past certificate expiry), a v3 leaf with keyUsage
 * digitalSignature, extendedKeyUsage codeSigning, not a CA.
 */
typedef struct TrustPolicy {
        bool check_time;          /* validity times against the wall clock ([Trust] CheckTime=yes) */
        const char *signer_eku;   /* dotted OID the signer's EKU must hold instead of codeSigning; NULL: codeSigning */
        const char *signer_pins;  /* SHA-256 fingerprints (hex, ':' allowed), separated by space or ','; the
                                   * signer or a CA of its chain must be one of them; NULL or "": any */
        const char *deny;         /* SHA-256 fingerprints refused anywhere in the chain */
        const char *crl_path;     /* PEM file of CRLs; a certificate its issuer revoked is refused */
} TrustPolicy;

/* Applies p (copied; the CRL file is read now). Errors name the bad value. */
int trust_store_set_policy(TrustStore *t, const TrustPolicy *p);

/* Parses a list of SHA-256 fingerprints as TrustPolicy takes them. Pure. */
int trust_fingerprints_parse(const char *text, uint8_t (**ret)[SHA256_DIGEST_SIZE], size_t *ret_n);

/*
 * Verifies a detached CMS (DER) signature over data: exactly one signer,
 * content not embedded, the signer certificate embedded (intermediate CAs may
 * be too) and chaining to the store, and the signer allowed by the store's
 * TrustPolicy (validity times only with check_time). On failure err_set()
 * names the reason and the signer's subject, e.g.
 * "signature not trusted: signer CN=x: extended key usage lacks codeSigning" or
 * "signature does not match the data (signer CN=x)"; returns -EBADMSG for a
 * malformed or non-matching signature, -EKEYREJECTED for an untrusted signer.
 * ret_signer (may be NULL) gets the signer's subject ("O=.., CN=..").
 */
int trust_verify_cms(TrustStore *t, const void *data, size_t len, const uint8_t *sig, size_t sig_len,
                     char **ret_signer);

/* The same for a detached PKCS#7 (DER) signature, as made by signer_sign_pkcs7(). */
int trust_verify_pkcs7(TrustStore *t, const void *data, size_t len, const uint8_t *sig, size_t sig_len,
                       char **ret_signer);
