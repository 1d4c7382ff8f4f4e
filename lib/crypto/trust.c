/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "crypto/trust.h"

#include <dirent.h>
#include <limits.h>
#include <openssl/err.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "crypto/openssl-util.h"

struct TrustStore {
        X509_STORE *store;
        char *path;
};

TrustStore *trust_store_free(TrustStore *t) {
        if (!t)
                return NULL;
        X509_STORE_free(t->store);
        free(t->path);
        free(t);
        return NULL;
}

static int store_add_file(X509_STORE *store, const char *path, size_t *count) {
        _cleanup_(x509_stack_freep) STACK_OF(X509) *certs = NULL;
        int r;

        r = pem_read_certs(path, &certs);
        if (r < 0)
                return r;
        for (int i = 0; i < sk_X509_num(certs); i++) {
                /* Adding the same certificate twice is harmless, and not an error in 3.0. */
                if (X509_STORE_add_cert(store, sk_X509_value(certs, i)) != 1)
                        return err_set(EIO, "%s: cannot add certificate: %s", path, openssl_error_reason());
                (*count)++;
        }
        return 0;
}

static bool is_cert_name(const char *name) {
        size_t n = strlen(name);

        if (name[0] == '.')
                return false;
        return (n > 4 && (streq(name + n - 4, ".pem") || streq(name + n - 4, ".crt")));
}

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

static int store_add_dir(X509_STORE *store, const char *path, size_t *count) {
        _cleanup_(closedirp) DIR *d = opendir(path);
        struct dirent **names = NULL;
        int n, r = 0;

        if (!d)
                return err_set(errno, "%s: cannot open directory: %s", path, strerror(errno));

        /* Sorted, so that a broken file is always reported the same way. */
        n = scandirat(dirfd(d), ".", &names, NULL, alphasort);
        if (n < 0)
                return err_set(errno, "%s: cannot list directory: %s", path, strerror(errno));

        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *p = NULL;
                struct stat st;

                if (r < 0 || !is_cert_name(names[i]->d_name))
                        goto next;
                if (asprintf(&p, "%s/%s", path, names[i]->d_name) < 0) {
                        p = NULL;
                        r = -ENOMEM;
                        goto next;
                }
                if (stat(p, &st) < 0) {
                        r = err_set(errno, "%s: %s", p, strerror(errno));
                        goto next;
                }
                if (S_ISREG(st.st_mode))
                        r = store_add_file(store, p, count);
        next:
                free(names[i]);
        }
        free(names);
        return r;
}

int trust_store_load(const char *path, TrustStore **ret) {
        _cleanup_(trust_store_freep) TrustStore *t = NULL;
        struct stat st;
        size_t count = 0;
        int r;

        if (stat(path, &st) < 0)
                return err_set(errno, "trust store %s: %s", path, strerror(errno));

        t = calloc(1, sizeof *t);
        if (!t)
                return -ENOMEM;
        t->path = strdup(path);
        t->store = X509_STORE_new();
        if (!t->path || !t->store)
                return -ENOMEM;

        if (S_ISDIR(st.st_mode))
                r = store_add_dir(t->store, path, &count);
        else
                r = store_add_file(t->store, path, &count);
        if (r < 0)
                return err_prefix(r, "trust store %s", path);
        if (count == 0)
                return err_set(ENOKEY, "trust store %s: no trusted certificates (*.pem, *.crt)", path);

        *ret = TAKE_PTR(t);
        return 0;
}

/*
 * Beyond the chain: a leaf that restricts its use must allow signing. Both
 * codeSigning and emailProtection are accepted in extendedKeyUsage, since
 * OpenSSL's own CMS verifier insists on the latter.
 */
static int check_leaf_usage(X509 *cert, const char *subject) {
        uint32_t flags = X509_get_extension_flags(cert);

        if ((flags & EXFLAG_INVALID) != 0)
                return err_set(EBADMSG, "signature not trusted: signer %s: invalid certificate extensions", subject);
        if ((flags & EXFLAG_KUSAGE) != 0 &&
            (X509_get_key_usage(cert) & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)) == 0)
                return err_set(EKEYREJECTED, "signature not trusted: signer %s: key usage does not allow signing", subject);
        if ((flags & EXFLAG_XKUSAGE) != 0 &&
            (X509_get_extended_key_usage(cert) & (XKU_CODE_SIGN | XKU_SMIME | XKU_ANYEKU)) == 0)
                return err_set(EKEYREJECTED,
                               "signature not trusted: signer %s: extended key usage allows neither code signing nor email protection",
                               subject);
        return 0;
}

static int check_chain(TrustStore *t, X509 *signer, STACK_OF(X509) *untrusted, char **ret_subject) {
        _cleanup_(X509_STORE_CTX_freep) X509_STORE_CTX *ctx = NULL;
        _cleanup_free_ char *subject = NULL;
        int r;

        r = x509_subject_string(signer, &subject);
        if (r < 0)
                return r;

        ctx = X509_STORE_CTX_new();
        if (!ctx)
                return -ENOMEM;
        if (X509_STORE_CTX_init(ctx, t->store, signer, untrusted) != 1)
                return err_set(EIO, "cannot set up certificate verification: %s", openssl_error_reason());

        /* Validity is checked against the current time (the store's default). */
        if (X509_verify_cert(ctx) != 1) {
                int e = X509_STORE_CTX_get_error(ctx);
                ERR_clear_error();
                return err_set(EKEYREJECTED, "signature not trusted: signer %s: %s", subject,
                               X509_verify_cert_error_string(e));
        }

        r = check_leaf_usage(signer, subject);
        if (r < 0)
                return r;

        *ret_subject = TAKE_PTR(subject);
        return 0;
}

int trust_verify_cms(TrustStore *t, const void *data, size_t len, const uint8_t *sig, size_t sig_len,
                     char **ret_signer) {
        _cleanup_(CMS_ContentInfo_freep) CMS_ContentInfo *cms = NULL;
        _cleanup_(x509_stack_freep) STACK_OF(X509) *certs = NULL;
        _cleanup_free_ char *subject = NULL;
        const unsigned char *p = sig;
        X509 *signer = NULL;
        int r;

        if (len > INT_MAX || sig_len > INT_MAX)
                return err_set(EFBIG, "signed data or signature too large");

        cms = d2i_CMS_ContentInfo(NULL, &p, (long) sig_len);
        if (!cms || p != sig + sig_len) {
                ERR_clear_error();
                return err_set(EBADMSG, "signature is not a DER CMS structure (%zu bytes)", sig_len);
        }
        if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed)
                return err_set(EBADMSG, "signature is not CMS SignedData");
        /* Our signatures never embed the content; one that does is not ours. */
        if (CMS_is_detached(cms) != 1)
                return err_set(EBADMSG, "signature is not detached: it embeds content");

        STACK_OF(CMS_SignerInfo) *sis = CMS_get0_SignerInfos(cms);
        if (sk_CMS_SignerInfo_num(sis) != 1)
                return err_set(EBADMSG, "signature has %d signers, expected exactly one", sk_CMS_SignerInfo_num(sis));

        /* Matches the signer info against the embedded certificates only. */
        if (CMS_set1_signers_certs(cms, NULL, 0) < 0) {
                ERR_clear_error();
                return err_set(EBADMSG, "signature does not carry the signer's certificate");
        }
        CMS_SignerInfo_get0_algs(sk_CMS_SignerInfo_value(sis, 0), NULL, &signer, NULL, NULL);
        if (!signer)
                return err_set(EBADMSG, "signature does not carry the signer's certificate");

        certs = CMS_get1_certs(cms);
        r = check_chain(t, signer, certs, &subject);
        if (r < 0)
                return r;

        _cleanup_(BIO_free_allp) BIO *in = BIO_new_mem_buf(data, (int) len);
        if (!in)
                return -ENOMEM;
        /* The chain was checked above with our own policy; this checks the bytes. */
        if (CMS_verify(cms, NULL, NULL, in, NULL, CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) != 1) {
                ERR_clear_error();
                return err_set(EBADMSG, "signature does not match the data (signer %s)", subject);
        }

        if (ret_signer)
                *ret_signer = TAKE_PTR(subject);
        return 0;
}

int trust_verify_pkcs7(TrustStore *t, const void *data, size_t len, const uint8_t *sig, size_t sig_len,
                       char **ret_signer) {
        _cleanup_(PKCS7_freep) PKCS7 *p7 = NULL;
        _cleanup_free_ char *subject = NULL;
        const unsigned char *p = sig;
        int r;

        if (len > INT_MAX || sig_len > INT_MAX)
                return err_set(EFBIG, "signed data or signature too large");

        p7 = d2i_PKCS7(NULL, &p, (long) sig_len);
        if (!p7 || p != sig + sig_len) {
                ERR_clear_error();
                return err_set(EBADMSG, "signature is not a DER PKCS#7 structure (%zu bytes)", sig_len);
        }
        if (!PKCS7_type_is_signed(p7) || !p7->d.sign)
                return err_set(EBADMSG, "signature is not PKCS#7 SignedData");
        if (PKCS7_get_detached(p7) != 1)
                return err_set(EBADMSG, "signature is not detached: it embeds content");

        STACK_OF(PKCS7_SIGNER_INFO) *sis = PKCS7_get_signer_info(p7);
        if (sk_PKCS7_SIGNER_INFO_num(sis) != 1)
                return err_set(EBADMSG, "signature has %d signers, expected exactly one",
                               sk_PKCS7_SIGNER_INFO_num(sis));

        STACK_OF(X509) *certs = p7->d.sign->cert; /* owned by p7 */
        STACK_OF(X509) *signers = PKCS7_get0_signers(p7, NULL, 0);
        if (!signers || sk_X509_num(signers) != 1) {
                sk_X509_free(signers);
                ERR_clear_error();
                return err_set(EBADMSG, "signature does not carry the signer's certificate");
        }
        X509 *signer = sk_X509_value(signers, 0);
        sk_X509_free(signers); /* the stack only; the certificate belongs to p7 */

        r = check_chain(t, signer, certs, &subject);
        if (r < 0)
                return r;

        _cleanup_(BIO_free_allp) BIO *in = BIO_new_mem_buf(data, (int) len);
        if (!in)
                return -ENOMEM;
        if (PKCS7_verify(p7, NULL, NULL, in, NULL, PKCS7_BINARY | PKCS7_NOVERIFY) != 1) {
                ERR_clear_error();
                return err_set(EBADMSG, "signature does not match the data (signer %s)", subject);
        }

        if (ret_signer)
                *ret_signer = TAKE_PTR(subject);
        return 0;
}
