/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "basic/macro.h"

/* Trusted CA certificates: a directory of *.pem / *.crt files (others are
 * ignored, subdirectories are not read), or one PEM file holding one or more
 * certificates. Loading fails with -ENOKEY when no certificate is found, and
 * on any unreadable or malformed certificate file. */
typedef struct TrustStore TrustStore;

int trust_store_load(const char *path, TrustStore **ret);
TrustStore *trust_store_free(TrustStore *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(TrustStore *, trust_store_free);

/*
 * Verifies a detached CMS (DER) signature over data: exactly one signer,
 * content not embedded, the signer certificate embedded (intermediate CAs may
 * be too) and chaining to the store, every certificate valid now, and the
 * signer's keyUsage / extendedKeyUsage (when present) allowing signing
 * (digitalSignature; codeSigning or emailProtection). On failure err_set()
 * names the reason and the signer's subject, e.g.
 * "signature not trusted: signer CN=x: certificate has expired" or
 * "signature does not match the data (signer CN=x)"; returns -EBADMSG for a
 * malformed or non-matching signature, -EKEYREJECTED for an untrusted signer.
 * ret_signer (may be NULL) gets the signer's subject ("O=.., CN=..").
 */
int trust_verify_cms(TrustStore *t, const void *data, size_t len, const uint8_t *sig, size_t sig_len,
                     char **ret_signer);

/* The same for a detached PKCS#7 (DER) signature, as made by signer_sign_pkcs7(). */
int trust_verify_pkcs7(TrustStore *t, const void *data, size_t len, const uint8_t *sig, size_t sig_len,
                       char **ret_signer);
