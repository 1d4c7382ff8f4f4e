/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdint.h>

#include "basic/macro.h"

/*
 * Authenticode verification of a PE/COFF EFI binary (a UKI signed by sbsign)
 * against Secure Boot db certificates, as UEFI firmware decides whether to
 * run it (docs/secure-boot.md, "How abidectl checks a UKI"):
 *
 *   - the image digest of the PE/COFF and Authenticode specifications (the
 *     headers without CheckSum and the Certificate Table entry, the sections'
 *     raw data in file order, the data after them up to the certificate
 *     table), with the algorithm the signature's DigestInfo names (SHA-256,
 *     SHA-1, SHA-384, SHA-512);
 *   - each WIN_CERTIFICATE (revision 2.0, PKCS_SIGNED_DATA) of the
 *     certificate table: a PKCS#7 SignedData over SpcIndirectDataContent
 *     whose signature verifies and whose DigestInfo equals that digest;
 *   - trust: the signer, or a certificate of the chain built from the
 *     signature's certificates, equals (DER) a db certificate, or a db
 *     certificate issued it. No validity times (no trusted clock), no EKU,
 *     no dbx.
 *
 * The image is accepted when one signature passes. Otherwise one message
 * (err_set) names the image ("what") and the reason, and the result is:
 *   -ENOEXEC       not a PE/COFF image
 *   -EBADMSG       malformed headers, sections or signature; digest mismatch;
 *                  a signature that does not verify
 *   -ENODATA       not signed (no or an empty certificate table)
 *   -EOPNOTSUPP    only signatures with an unsupported digest or type
 *   -EKEYREJECTED  a valid signature by a signer db does not trust
 *   -EFBIG         headers or certificate table larger than abide reads
 *   -EBADFD        fd is not a regular file; other errors of fstat() and pread()
 *
 * The file is read once, so verify the copy you will install, not a path
 * someone may rewrite in between.
 */

int authenticode_verify(int fd, const char *what, X509 *const *db, size_t n_db, char **ret_subject);

/* The same over an image in memory. */
int authenticode_verify_mem(const void *data, size_t size, const char *what, X509 *const *db, size_t n_db,
                            char **ret_subject);

/* authenticode_verify() of the file at path, against every certificate of a
 * PEM file. ret_subject (may be NULL): the accepted signer's subject. */
int authenticode_verify_file(const char *path, const char *db_cert_pem_path, char **ret_subject);

/* The parts of the file the image digest covers, from the PE headers alone
 * (pure: the first bytes of the file and its size). Exposed for tests. */
typedef struct PeRange {
        uint64_t offset, size;
} PeRange;

typedef struct PeLayout {
        uint64_t file_size;
        bool pe32_plus;
        PeRange headers[3];     /* the headers, around CheckSum and the Certificate Table entry */
        PeRange *sections;      /* raw data of the sections with any, by file offset */
        size_t n_sections;
        PeRange trailer;        /* after the sections, up to the certificate table (may be empty) */
        PeRange cert_table;     /* size 0: the image is not signed */
} PeLayout;

/* The largest header area and certificate table abide reads. */
#define AUTHENTICODE_HEADERS_MAX (1024U * 1024U)
#define AUTHENTICODE_CERT_TABLE_MAX (1024U * 1024U)

/* head: the first min(file_size, AUTHENTICODE_HEADERS_MAX) bytes of the file. */
int authenticode_parse_pe(const uint8_t *head, size_t head_size, uint64_t file_size, const char *what,
                          PeLayout *ret);
void pe_layout_done(PeLayout *l);

/* The image digest with the OpenSSL digest md_nid (NID_sha256, ...) of an
 * image in memory; ret_size gets the digest's length. */
int authenticode_digest_mem(const void *data, size_t size, int md_nid, const char *what,
                            uint8_t ret[static EVP_MAX_MD_SIZE], size_t *ret_size);
