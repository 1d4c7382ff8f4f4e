/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "basic/macro.h"

/* Private to lib/crypto: cleanup helpers and error text for OpenSSL objects. */

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free_all);
DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_PKEY *, EVP_PKEY_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509 *, X509_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE_CTX *, X509_STORE_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(CMS_ContentInfo *, CMS_ContentInfo_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(PKCS7 *, PKCS7_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_NAME *, X509_NAME_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_EXTENSION *, X509_EXTENSION_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_INTEGER *, ASN1_INTEGER_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_TIME *, ASN1_TIME_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(BIGNUM *, BN_free);

static inline void x509_stack_freep(STACK_OF(X509) **p) {
        if (*p)
                sk_X509_pop_free(*p, X509_free);
}

/* The reason of the oldest queued OpenSSL error (or "unknown error"); clears the queue. */
const char *openssl_error_reason(void);

/* A certificate's subject as one line, e.g. "O=Acme, CN=Release 2024". */
int x509_subject_string(X509 *cert, char **ret);

/* Copies a memory BIO's contents into a malloc'ed buffer. */
int bio_mem_take(BIO *bio, uint8_t **ret, size_t *ret_size);

/* Whether cert is a release signer (docs/trust.md): v3, not a CA, keyUsage
 * digitalSignature, extendedKeyUsage codeSigning (or eku when not NULL).
 * The message names only the reason ("key usage lacks digitalSignature"). */
int x509_check_release_signer(X509 *cert, const ASN1_OBJECT *eku);

/* Reads all PEM certificates of a file; -ENOENT-like errors are recorded. */
int pem_read_certs(const char *path, STACK_OF(X509) **ret);
