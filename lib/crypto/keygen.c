/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "crypto/keygen.h"
#include "crypto/keygen-util.h"

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "crypto/openssl-util.h"

/* RSA: the Linux kernel's PKCS#7 verifier (dm-verity root hash signatures) handles it everywhere. */
#define KEYGEN_RSA_BITS 3072
#define CA_DAYS (10 * 365)
#define SIGNING_DAYS (5 * 365)

enum {
        FILE_CA_CERT,
        FILE_CA_KEY,
        FILE_SIGNING_KEY,
        FILE_SIGNING_CERT,
        _FILE_MAX,
};

static const struct {
        const char *name;
        mode_t mode;
} keygen_files[_FILE_MAX] = {
        [FILE_CA_CERT] = { "ca.pem", 0644 },
        [FILE_CA_KEY] = { "ca.key", 0600 },
        [FILE_SIGNING_KEY] = { "signing.key", 0600 },
        [FILE_SIGNING_CERT] = { "signing.crt", 0644 },
};

int keygen_new_key(unsigned bits, EVP_PKEY **ret) {
        EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) bits);
        if (!k)
                return err_set(EIO, "key generation failed: %s", openssl_error_reason());
        *ret = k;
        return 0;
}

static int add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
        X509V3_CTX ctx;

        X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
        _cleanup_(X509_EXTENSION_freep) X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        if (!ext || X509_add_ext(cert, ext, -1) != 1)
                return err_set(EIO, "certificate extension %s=%s: %s", OBJ_nid2sn(nid), value, openssl_error_reason());
        return 0;
}

int keygen_new_cert(EVP_PKEY *key, const char *cn, long days, X509 *issuer, EVP_PKEY *issuer_key,
                    const char *const exts[][2], X509 **ret) {
        _cleanup_(X509_freep) X509 *cert = X509_new();
        _cleanup_(ASN1_INTEGER_freep) ASN1_INTEGER *serial = NULL;
        _cleanup_(BN_freep) BIGNUM *bn = BN_new();
        int r;

        if (!cert || !bn)
                return -ENOMEM;

        /* 127 random bits: positive, unique without keeping state. */
        if (BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 || !(serial = BN_to_ASN1_INTEGER(bn, NULL)))
                return err_set(EIO, "certificate serial: %s", openssl_error_reason());

        X509_NAME *name = X509_get_subject_name(cert);
        if (X509_set_version(cert, X509_VERSION_3) != 1 ||
            X509_set_serialNumber(cert, serial) != 1 ||
            X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *) "abide demo", -1, -1, 0) != 1 ||
            X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *) cn, -1, -1, 0) != 1 ||
            X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name) != 1 ||
            !X509_gmtime_adj(X509_getm_notBefore(cert), 0) ||
            !X509_time_adj_ex(X509_getm_notAfter(cert), (int) days, 0, NULL) ||
            X509_set_pubkey(cert, key) != 1)
                return err_set(EIO, "certificate %s: %s", cn, openssl_error_reason());

        for (size_t i = 0; exts[i][0]; i++) {
                r = add_ext(cert, issuer ?: cert, OBJ_sn2nid(exts[i][0]), exts[i][1]);
                if (r < 0)
                        return r;
        }

        if (X509_sign(cert, issuer_key ?: key, EVP_sha256()) <= 0)
                return err_set(EIO, "certificate %s: signing failed: %s", cn, openssl_error_reason());
        *ret = TAKE_PTR(cert);
        return 0;
}

int keygen_pem_key(EVP_PKEY *key, uint8_t **ret, size_t *ret_size) {
        _cleanup_(BIO_free_allp) BIO *bio = BIO_new(BIO_s_mem());
        if (!bio)
                return -ENOMEM;
        if (PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1)
                return err_set(EIO, "key encoding failed: %s", openssl_error_reason());
        return bio_mem_take(bio, ret, ret_size);
}

int keygen_pem_cert(X509 *cert, uint8_t **ret, size_t *ret_size) {
        _cleanup_(BIO_free_allp) BIO *bio = BIO_new(BIO_s_mem());
        if (!bio)
                return -ENOMEM;
        if (PEM_write_bio_X509(bio, cert) != 1)
                return err_set(EIO, "certificate encoding failed: %s", openssl_error_reason());
        return bio_mem_take(bio, ret, ret_size);
}

static void atomic_file_freep_array(AtomicFile *(*files)[_FILE_MAX]) {
        for (size_t i = 0; i < _FILE_MAX; i++)
                atomic_file_free((*files)[i]);
}

static int write_all(const char *dir, uint8_t *const data[_FILE_MAX], const size_t size[_FILE_MAX]) {
        _cleanup_(atomic_file_freep_array) AtomicFile *files[_FILE_MAX] = {};
        int r;

        /* Everything goes to temporary files first; the renames come last, so
         * a failure on the way leaves no key without its certificate. */
        for (size_t i = 0; i < _FILE_MAX; i++) {
                _cleanup_free_ char *p = NULL;
                if (asprintf(&p, "%s/%s", dir, keygen_files[i].name) < 0)
                        return -ENOMEM;
                r = atomic_file_open(p, keygen_files[i].mode, &files[i]);
                if (r < 0)
                        return err_set(r, "%s: cannot create: %s", p, strerror(-r));
                r = loop_write(files[i]->fd, data[i], size[i]);
                if (r < 0)
                        return err_set(r, "%s: write failed: %s", p, strerror(-r));
        }
        for (size_t i = 0; i < _FILE_MAX; i++) {
                /* Never over a file that appeared since check_absent() (another keygen, say). */
                r = atomic_file_commit_new(files[i]);
                if (r == -EEXIST)
                        r = err_set(EEXIST, "%s already exists, refusing to overwrite", files[i]->path);
                else if (r < 0)
                        r = err_set(r, "%s: cannot commit: %s", files[i]->path, strerror(-r));
                if (r < 0) {
                        for (size_t j = 0; j < i; j++)
                                (void) unlink(files[j]->path);
                        return r;
                }
        }
        return 0;
}

static int check_absent(const char *dir) {
        for (size_t i = 0; i < _FILE_MAX; i++) {
                _cleanup_free_ char *p = NULL;
                struct stat st;

                if (asprintf(&p, "%s/%s", dir, keygen_files[i].name) < 0)
                        return -ENOMEM;
                if (lstat(p, &st) == 0)
                        return err_set(EEXIST, "%s already exists, refusing to overwrite", p);
                if (errno != ENOENT)
                        return err_set(errno, "%s: %s", p, strerror(errno));
        }
        return 0;
}

int keygen_demo(const char *dir) {
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *ca_key = NULL, *signing_key = NULL;
        _cleanup_(X509_freep) X509 *ca = NULL, *signing = NULL;
        uint8_t *data[_FILE_MAX] = {};
        size_t size[_FILE_MAX] = {};
        bool created_dir = false;
        int r;

        static const char *const ca_exts[][2] = {
                { "basicConstraints", "critical,CA:TRUE" },
                { "keyUsage", "critical,keyCertSign,cRLSign" },
                { "subjectKeyIdentifier", "hash" },
                {},
        };
        /* emailProtection next to codeSigning: `openssl cms -verify` checks the
         * S/MIME signing purpose by default and rejects codeSigning alone. */
        static const char *const signing_exts[][2] = {
                { "basicConstraints", "critical,CA:FALSE" },
                { "keyUsage", "critical,digitalSignature" },
                { "extendedKeyUsage", "codeSigning,emailProtection" },
                { "subjectKeyIdentifier", "hash" },
                { "authorityKeyIdentifier", "keyid:always" },
                {},
        };

        r = check_absent(dir);
        if (r < 0)
                return r;
        if (mkdir(dir, 0755) >= 0)
                created_dir = true;
        else if (errno != EEXIST)
                return err_set(errno, "%s: cannot create directory: %s", dir, strerror(errno));

        if ((r = keygen_new_key(KEYGEN_RSA_BITS, &ca_key)) < 0 ||
            (r = keygen_new_cert(ca_key, "abide demo CA", CA_DAYS, NULL, NULL, ca_exts, &ca)) < 0 ||
            (r = keygen_new_key(KEYGEN_RSA_BITS, &signing_key)) < 0 ||
            (r = keygen_new_cert(signing_key, "abide demo signing key", SIGNING_DAYS, ca, ca_key, signing_exts, &signing)) < 0 ||
            (r = keygen_pem_cert(ca, &data[FILE_CA_CERT], &size[FILE_CA_CERT])) < 0 ||
            (r = keygen_pem_key(ca_key, &data[FILE_CA_KEY], &size[FILE_CA_KEY])) < 0 ||
            (r = keygen_pem_key(signing_key, &data[FILE_SIGNING_KEY], &size[FILE_SIGNING_KEY])) < 0 ||
            (r = keygen_pem_cert(signing, &data[FILE_SIGNING_CERT], &size[FILE_SIGNING_CERT])) < 0)
                goto finish;

        r = write_all(dir, data, size);
finish:
        if (r < 0 && created_dir)
                (void) rmdir(dir);
        for (size_t i = 0; i < _FILE_MAX; i++) {
                if (data[i])
                        explicit_bzero(data[i], size[i]);
                free(data[i]);
        }
        return r;
}
