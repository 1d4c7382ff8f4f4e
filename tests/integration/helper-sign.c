/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reaches the library's signer and verifier from the integration scripts:
 *   helper-sign cms|pkcs7 KEY CERT IN OUT      sign IN into OUT (DER)
 *   helper-sign verify-cms|verify-pkcs7 TRUST IN SIG
 *                                              verify; prints the signer's subject
 */
#include <stdio.h>
#include <time.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "crypto/signer.h"
#include "crypto/trust.h"

#define FILE_MAX (64 * 1024 * 1024)

static int read_file(const char *path, char **ret, size_t *ret_size) {
        int r = read_full_file(path, FILE_MAX, ret, ret_size);
        if (r < 0)
                return err_set(r, "%s: %s", path, strerror(-r));
        return 0;
}

static int sign(const char *mode, const char *key, const char *cert, const char *in, const char *out) {
        _cleanup_(signer_freep) Signer *s = NULL;
        _cleanup_free_ char *data = NULL;
        _cleanup_free_ uint8_t *sig = NULL;
        size_t size, sig_size;
        int r;

        r = signer_load(key, cert, &s);
        if (r < 0)
                return r;
        r = read_file(in, &data, &size);
        if (r < 0)
                return r;
        r = streq(mode, "cms") ? signer_sign_cms(s, data, size, time(NULL), &sig, &sig_size)
                               : signer_sign_pkcs7(s, data, size, &sig, &sig_size);
        if (r < 0)
                return r;
        r = write_file_atomic(out, sig, sig_size, 0644);
        if (r < 0)
                return err_set(r, "%s: %s", out, strerror(-r));
        return 0;
}

static int verify(const char *mode, const char *trust, const char *in, const char *sigpath) {
        _cleanup_(trust_store_freep) TrustStore *t = NULL;
        _cleanup_free_ char *data = NULL, *sig = NULL, *subject = NULL;
        size_t size, sig_size;
        int r;

        r = trust_store_load(trust, &t);
        if (r < 0)
                return r;
        if ((r = read_file(in, &data, &size)) < 0 || (r = read_file(sigpath, &sig, &sig_size)) < 0)
                return r;
        r = streq(mode, "verify-cms") ? trust_verify_cms(t, data, size, (uint8_t *) sig, sig_size, &subject)
                                      : trust_verify_pkcs7(t, data, size, (uint8_t *) sig, sig_size, &subject);
        if (r < 0)
                return r;
        printf("%s\n", subject);
        return 0;
}

int main(int argc, char *argv[]) {
        int r;

        if (argc == 6 && (streq(argv[1], "cms") || streq(argv[1], "pkcs7")))
                r = sign(argv[1], argv[2], argv[3], argv[4], argv[5]);
        else if (argc == 5 && (streq(argv[1], "verify-cms") || streq(argv[1], "verify-pkcs7")))
                r = verify(argv[1], argv[2], argv[3], argv[4]);
        else {
                fprintf(stderr, "Usage: helper-sign cms|pkcs7 KEY CERT IN OUT\n"
                                "       helper-sign verify-cms|verify-pkcs7 TRUST IN SIG\n");
                return 2;
        }
        if (r < 0) {
                fprintf(stderr, "helper-sign: %s\n", err_message(r));
                return 1;
        }
        return 0;
}
