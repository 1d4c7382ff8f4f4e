/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "basic/macro.h"

/* Trusted CA certificates: a directory of *.pem / *.crt files, or one PEM file
 * holding one or more certificates. */
typedef struct TrustStore TrustStore;

int trust_store_load(const char *path, TrustStore **ret);
TrustStore *trust_store_free(TrustStore *t);
DEFINE_TRIVIAL_CLEANUP_FUNC(TrustStore *, trust_store_free);

/*
 * Verifies a detached CMS (DER) signature over data: the signature must match
 * and the embedded signer certificate must chain to the store and be valid
 * now. On failure err_set() names the reason and the signer's subject, e.g.
 * "signer CN=x not trusted: certificate has expired". ret_signer (may be
 * NULL) gets the signer's subject as a one-line string on success.
 */
int trust_verify_cms(TrustStore *t, const void *data, size_t len, const uint8_t *sig, size_t sig_len,
                     char **ret_signer);

/* The same for a detached PKCS#7 (DER) signature, as made by signer_sign_pkcs7(). */
int trust_verify_pkcs7(TrustStore *t, const void *data, size_t len, const uint8_t *sig, size_t sig_len,
                       char **ret_signer);
