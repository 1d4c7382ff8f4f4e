/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>

/* The pieces keygen.c and the builder's Secure Boot keygen share. Certificates
 * carry O=abide demo and CN=cn; issuer/issuer_key NULL means self-signed;
 * exts is a { name, value } list ending in {}. */
int keygen_new_key(unsigned bits, EVP_PKEY **ret);
int keygen_new_cert(EVP_PKEY *key, const char *cn, long days, X509 *issuer, EVP_PKEY *issuer_key,
                    const char *const exts[][2], X509 **ret);
int keygen_pem_key(EVP_PKEY *key, uint8_t **ret, size_t *ret_size);
int keygen_pem_cert(X509 *cert, uint8_t **ret, size_t *ret_size);
