/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * authenticode_verify_mem() on any bytes against one db certificate, the one
 * that signed the seeds (corpus/authenticode: a tiny PE32+ with data after
 * its sections, signed once and twice by sbsign, and a PE32 signed and not).
 * Whatever authenticode_parse_pe() accepts lies within the input, and its
 * digest can be computed; an accepted image names its signer.
 *
 * The seeds came from a throwaway key (its private half was not kept):
 *   openssl req -x509 -newkey rsa:2048 -nodes -subj "/CN=abide fuzz db" ...
 *   sbsign --key fuzz.key --cert fuzz.crt --output signed.efi pe32plus.efi
 * To make new ones, make a new key and replace the certificate below.
 */
#include "fuzz-util.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include "crypto/authenticode.h"

static const char db_pem[] =
        "-----BEGIN CERTIFICATE-----\n"
        "MIIDEzCCAfugAwIBAgIUXNSxAgxbYbrJXdXC8h2W/GIm4bQwDQYJKoZIhvcNAQEL\n"
        "BQAwGDEWMBQGA1UEAwwNYWJpZGUgZnV6eiBkYjAgFw0yNjEyMDIxNjM1MjRaGA8y\n"
        "MTI2MTEwODE2MzUyNFowGDEWMBQGA1UEAwwNYWJpZGUgZnV6eiBkYjCCASIwDQYJ\n"
        "KoZIhvcNAQEBBQADggEPADCCAQoCggEBAIsSll/ab2l9MbNu6L/aqMWVgl74OVBB\n"
        "5jOkLtuQ2IP0YUJp9Dv3mA/Gh3pUkrrbvNjPBuCG0FRFp+s7pcxgOdKwwlKJW67W\n"
        "1EDVvKbN+zzxzq9yFXVN2SnzEWWZUBfdT5bKnCnZ31PsrwxgklML6+pg1w3UegYj\n"
        "VbQGT9RJAdoqVuEUPKXd0yoOFkOlHHvEgJoYIMh6dOfosb32ZpxNL/9mLx9F2aI+\n"
        "WQjZbTgP8dn/25n0tpGGtbJNwb9+E2iHE0bFsMesygcI+SQufOhea0VLu2gjWq5W\n"
        "+kThZ89TzfSKMVdM5YIaAQc2XZfwlpPV1L/DqXSuaCtQXD4cbx2YFnUCAwEAAaNT\n"
        "MFEwHQYDVR0OBBYEFCdTLtot2TXkV7EJdODrtSoMvN9vMB8GA1UdIwQYMBaAFCdT\n"
        "Ltot2TXkV7EJdODrtSoMvN9vMA8GA1UdEwEB/wQFMAMBAf8wDQYJKoZIhvcNAQEL\n"
        "BQADggEBAFgGIJDq+buDwb3mh2EkcXhaxeZUa5l7sJzhnB65GX6wKFFi8vAzRQgF\n"
        "y400H8Gyb6UCXaide17xgvAXYZrHfLp5SzQMNkW2XVZKyqNAPmn77nVdW+e0yl2l\n"
        "7aQQtP7TRm4HkWJKILynf7+uBS9NlQuu0jxEQoH+Zo6Zyr4aqx94LImZCXcfwbXC\n"
        "yuTFCoB7Yj+e8gd8w8WfsnEyED/x2JUg/XCGx/3ssf+r9SefVS8laOpUaYePyti2\n"
        "8RvGIhhAqec+gadLVrZzgYfDXegDyojsiyh4MJi1H8aA+MXIIVo0hBhWQZwZCPXI\n"
        "q368kQwsmjKRn7NoaDuOzBZr82lHTWk=\n"
        "-----END CERTIFICATE-----\n"
        ;

static X509 *db_load(void) {
        BIO *bio = BIO_new_mem_buf(db_pem, -1);
        X509 *cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;

        BIO_free(bio);
        FUZZ_ASSERT(cert);
        return cert;
}

static bool range_in(PeRange r, uint64_t size) {
        return r.offset <= size && r.size <= size - r.offset;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static X509 *db;
        _cleanup_(pe_layout_done) PeLayout l = {};
        _cleanup_free_ char *subject = NULL;
        uint8_t digest[EVP_MAX_MD_SIZE];
        size_t n;

        if (!db)
                db = db_load();

        if (authenticode_parse_pe(data, MIN(size, (size_t) AUTHENTICODE_HEADERS_MAX), size, "fuzz", &l) == 0) {
                for (size_t i = 0; i < ELEMENTSOF(l.headers); i++)
                        FUZZ_ASSERT(range_in(l.headers[i], size));
                for (size_t i = 0; i < l.n_sections; i++) {
                        FUZZ_ASSERT(range_in(l.sections[i], size));
                        FUZZ_ASSERT(i == 0 || l.sections[i - 1].offset <= l.sections[i].offset);
                }
                FUZZ_ASSERT(range_in(l.trailer, size));
                FUZZ_ASSERT(l.cert_table.size == 0 || l.cert_table.offset + l.cert_table.size == size);
                FUZZ_ASSERT(authenticode_digest_mem(data, size, NID_sha256, "fuzz", digest, &n) == 0 && n == 32);
        }

        if (authenticode_verify_mem(data, size, "fuzz", &db, 1, &subject) == 0)
                FUZZ_ASSERT(subject && strstr(subject, "CN=abide fuzz db"));
        ERR_clear_error();
        return 0;
}
