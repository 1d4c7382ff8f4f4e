/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "crypto/signer.h"

#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "crypto/openssl-util.h"

#define KEY_FILE_MAX (1024 * 1024)

struct Signer {
        EVP_PKEY *key;
        X509 *cert;
        /* Further certificates of the cert file (intermediate CAs), embedded in signatures. */
        STACK_OF(X509) *chain;
};

Signer *signer_free(Signer *s) {
        if (!s)
                return NULL;
        EVP_PKEY_free(s->key);
        X509_free(s->cert);
        sk_X509_pop_free(s->chain, X509_free);
        free(s);
        return NULL;
}

static int load_key(const char *path, EVP_PKEY **ret) {
        _cleanup_(BIO_free_allp) BIO *bio = NULL;
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        r = read_full_file(path, KEY_FILE_MAX, &text, &size);
        if (r < 0)
                return err_set(r, "%s: cannot read key: %s", path, strerror(-r));
        bio = BIO_new_mem_buf(text, (int) size);
        if (!bio)
                return -ENOMEM;
        /* An empty passphrase callback: encrypted keys fail instead of prompting. */
        EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, (void *) "");
        explicit_bzero(text, size);
        if (!key)
                return err_set(EBADMSG, "%s: not a usable PEM private key: %s", path, openssl_error_reason());
        *ret = key;
        return 0;
}

int signer_load(const char *key_path, const char *cert_path, Signer **ret) {
        _cleanup_(signer_freep) Signer *s = NULL;
        _cleanup_(x509_stack_freep) STACK_OF(X509) *certs = NULL;
        int r;

        s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;

        r = load_key(key_path, &s->key);
        if (r < 0)
                return r;

        r = pem_read_certs(cert_path, &certs);
        if (r < 0)
                return r;
        s->cert = sk_X509_shift(certs);
        s->chain = TAKE_PTR(certs);

        if (X509_check_private_key(s->cert, s->key) != 1) {
                ERR_clear_error();
                return err_set(EINVAL, "%s does not belong to the key in %s", cert_path, key_path);
        }

        *ret = TAKE_PTR(s);
        return 0;
}

int signer_sign_cms(Signer *s, const void *data, size_t len, time_t signing_time, uint8_t **ret_der,
                    size_t *ret_len) {
        /* Detached and binary: the verifier hashes exactly these bytes, no MIME canonicalization. */
        const unsigned flags = CMS_DETACHED | CMS_BINARY;
        _cleanup_(CMS_ContentInfo_freep) CMS_ContentInfo *cms = NULL;
        _cleanup_(BIO_free_allp) BIO *in = NULL, *out = NULL;
        _cleanup_(ASN1_TIME_freep) ASN1_TIME *t = NULL;

        if (len > INT_MAX)
                return err_set(EFBIG, "cms: data too large to sign");
        in = BIO_new_mem_buf(data, (int) len);
        out = BIO_new(BIO_s_mem());
        if (!in || !out)
                return -ENOMEM;

        /* Partial, so that the signingTime attribute is ours: CMS_final() adds
         * the wall clock only where there is none, and a build must not carry it. */
        cms = CMS_sign(s->cert, s->key, s->chain, NULL, flags | CMS_PARTIAL);
        if (!cms)
                return err_set(EIO, "cms: signing failed: %s", openssl_error_reason());
        CMS_SignerInfo *si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
        /* UTCTime up to 2049, GeneralizedTime after: RFC 5652's rule, which OpenSSL's own follows. */
        t = ASN1_TIME_set(NULL, signing_time);
        if (!si || !t || CMS_signed_add1_attr_by_NID(si, NID_pkcs9_signingTime, ASN1_STRING_type(t), t, -1) != 1)
                return err_set(EIO, "cms: cannot set the signing time %lld: %s", (long long) signing_time,
                               openssl_error_reason());
        if (CMS_final(cms, in, NULL, flags) != 1)
                return err_set(EIO, "cms: signing failed: %s", openssl_error_reason());
        if (i2d_CMS_bio(out, cms) != 1)
                return err_set(EIO, "cms: encoding failed: %s", openssl_error_reason());
        return bio_mem_take(out, ret_der, ret_len);
}

int signer_sign_pkcs7(Signer *s, const void *data, size_t len, uint8_t **ret_der, size_t *ret_len) {
        _cleanup_(PKCS7_freep) PKCS7 *p7 = NULL;
        _cleanup_(BIO_free_allp) BIO *in = NULL, *out = NULL;

        if (len > INT_MAX)
                return err_set(EFBIG, "pkcs7: data too large to sign");
        in = BIO_new_mem_buf(data, (int) len);
        out = BIO_new(BIO_s_mem());
        if (!in || !out)
                return -ENOMEM;

        /* No signed attributes: the form the kernel's dm-verity root_hash_sig_key_desc
         * and systemd's verity-sig partitions use. */
        p7 = PKCS7_sign(s->cert, s->key, s->chain, in, PKCS7_DETACHED | PKCS7_BINARY | PKCS7_NOATTR);
        if (!p7)
                return err_set(EIO, "pkcs7: signing failed: %s", openssl_error_reason());
        if (i2d_PKCS7_bio(out, p7) != 1)
                return err_set(EIO, "pkcs7: encoding failed: %s", openssl_error_reason());
        return bio_mem_take(out, ret_der, ret_len);
}

int signer_check_release(Signer *s) {
        _cleanup_free_ char *subject = NULL;
        int r;

        r = x509_check_release_signer(s->cert, NULL);
        if (r < 0) {
                int k = x509_subject_string(s->cert, &subject);
                if (k < 0)
                        return k;
                return err_prefix(r, "signing certificate %s", subject);
        }
        return 0;
}

int signer_cert_fingerprint(Signer *s, char ret_hex[SHA256_HEX_SIZE]) {
        uint8_t md[EVP_MAX_MD_SIZE];
        unsigned n = 0;

        if (X509_digest(s->cert, EVP_sha256(), md, &n) != 1 || n != SHA256_DIGEST_SIZE)
                return err_set(EIO, "certificate fingerprint failed: %s", openssl_error_reason());
        hex_encode(md, SHA256_DIGEST_SIZE, ret_hex);
        return 0;
}
