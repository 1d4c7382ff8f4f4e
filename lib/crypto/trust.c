/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "crypto/trust.h"

#include <ctype.h>
#include <dirent.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "crypto/openssl-util.h"

typedef uint8_t Fingerprint[SHA256_DIGEST_SIZE];

struct TrustStore {
        X509_STORE *store;
        char *path;
        /* The policy (TrustPolicy, parsed). */
        bool check_time;
        ASN1_OBJECT *signer_eku;        /* NULL: codeSigning */
        Fingerprint *pins, *deny;
        size_t n_pins, n_deny;
        STACK_OF(X509_CRL) *crls;
        char *crl_path;
};

static void crl_stack_free(STACK_OF(X509_CRL) *s) {
        sk_X509_CRL_pop_free(s, X509_CRL_free);
}

TrustStore *trust_store_free(TrustStore *t) {
        if (!t)
                return NULL;
        X509_STORE_free(t->store);
        free(t->path);
        ASN1_OBJECT_free(t->signer_eku);
        free(t->pins);
        free(t->deny);
        crl_stack_free(t->crls);
        free(t->crl_path);
        free(t);
        return NULL;
}

int trust_fingerprints_parse(const char *text, uint8_t (**ret)[SHA256_DIGEST_SIZE], size_t *ret_n) {
        _cleanup_free_ Fingerprint *list = NULL;
        size_t n = 0;

        for (const char *p = text ?: ""; *p;) {
                char hex[SHA256_DIGEST_SIZE * 2];
                size_t k = 0;
                const char *word;

                p += strspn(p, " \t,");
                if (!*p)
                        break;
                word = p;
                for (; *p && !strchr(" \t,", *p); p++) {
                        if (*p == ':')
                                continue;
                        if (!isxdigit((unsigned char) *p) || k == sizeof hex)
                                return err_set(EINVAL, "'%.*s' is not a SHA-256 fingerprint (64 hex digits)",
                                               (int) strcspn(word, " \t,"), word);
                        hex[k++] = (char) tolower((unsigned char) *p);
                }
                if (k != sizeof hex)
                        return err_set(EINVAL, "'%.*s' is not a SHA-256 fingerprint (64 hex digits)", (int) (p - word), word);

                Fingerprint *a = reallocarray(list, n + 1, sizeof *list);
                if (!a)
                        return -ENOMEM;
                list = a;
                for (size_t i = 0; i < SHA256_DIGEST_SIZE; i++) {
                        char byte[3] = { hex[2 * i], hex[2 * i + 1], 0 };
                        list[n][i] = (uint8_t) strtoul(byte, NULL, 16);
                }
                n++;
        }
        *ret = TAKE_PTR(list);
        *ret_n = n;
        return 0;
}

static int load_crls(const char *path, STACK_OF(X509_CRL) **ret) {
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        STACK_OF(X509_CRL) *crls;

        if (!f)
                return err_set(errno, "CRL file %s: %m", path);
        crls = sk_X509_CRL_new_null();
        if (!crls)
                return -ENOMEM;
        for (;;) {
                X509_CRL *crl = PEM_read_X509_CRL(f, NULL, NULL, NULL);
                if (!crl)
                        break;
                if (sk_X509_CRL_push(crls, crl) <= 0) {
                        X509_CRL_free(crl);
                        crl_stack_free(crls);
                        return -ENOMEM;
                }
        }
        unsigned long e = ERR_peek_last_error();
        ERR_clear_error();
        /* The end of the file ends the list; anything else is a broken file. */
        if ((e != 0 && ERR_GET_REASON(e) != PEM_R_NO_START_LINE) || sk_X509_CRL_num(crls) == 0) {
                crl_stack_free(crls);
                return err_set(EBADMSG, "CRL file %s: no PEM CRL, or a malformed one", path);
        }
        *ret = crls;
        return 0;
}

int trust_store_set_policy(TrustStore *t, const TrustPolicy *p) {
        _cleanup_free_ Fingerprint *pins = NULL, *deny = NULL;
        _cleanup_free_ char *crl_path = NULL;
        STACK_OF(X509_CRL) *crls = NULL;
        ASN1_OBJECT *eku = NULL;
        size_t n_pins = 0, n_deny = 0;
        int r;

        r = trust_fingerprints_parse(p->signer_pins, &pins, &n_pins);
        if (r < 0)
                return err_prefix(r, "[Trust] Signer=");
        r = trust_fingerprints_parse(p->deny, &deny, &n_deny);
        if (r < 0)
                return err_prefix(r, "[Trust] Deny=");
        if (p->signer_eku && *p->signer_eku) {
                /* Dotted numbers only: a name like "codeSigning" would be ambiguous here. */
                eku = OBJ_txt2obj(p->signer_eku, 1);
                if (!eku) {
                        ERR_clear_error();
                        return err_set(EINVAL, "[Trust] SignerEKU=: '%s' is not a dotted OID", p->signer_eku);
                }
        }
        if (p->crl_path && *p->crl_path) {
                r = load_crls(p->crl_path, &crls);
                if (r < 0) {
                        ASN1_OBJECT_free(eku);
                        return err_prefix(r, "[Trust] CRL=");
                }
                crl_path = strdup(p->crl_path);
                if (!crl_path) {
                        ASN1_OBJECT_free(eku);
                        crl_stack_free(crls);
                        return -ENOMEM;
                }
        }

        t->check_time = p->check_time;
        ASN1_OBJECT_free(t->signer_eku);
        t->signer_eku = eku;
        free(t->pins);
        t->pins = TAKE_PTR(pins);
        t->n_pins = n_pins;
        free(t->deny);
        t->deny = TAKE_PTR(deny);
        t->n_deny = n_deny;
        crl_stack_free(t->crls);
        t->crls = crls;
        free(t->crl_path);
        t->crl_path = TAKE_PTR(crl_path);
        return 0;
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
 * Only release signers sign: a v3 certificate that is no CA, with keyUsage
 * digitalSignature and extendedKeyUsage codeSigning (or the configured OID).
 * emailProtection may stand beside codeSigning (OpenSSL's CMS tools want it),
 * never alone: an S/MIME certificate is a person's, not a release key.
 */
int x509_check_release_signer(X509 *cert, const ASN1_OBJECT *eku) {
        uint32_t flags = X509_get_extension_flags(cert);

        if ((flags & EXFLAG_INVALID) != 0)
                return err_set(EBADMSG, "invalid certificate extensions");
        if (X509_get_version(cert) != X509_VERSION_3 || X509_get_ext_count(cert) == 0)
                return err_set(EKEYREJECTED,
                               "certificate has no extensions (a release signer needs keyUsage digitalSignature and extendedKeyUsage codeSigning)");
        if ((flags & EXFLAG_CA) != 0)
                return err_set(EKEYREJECTED, "is a CA certificate, not a release signer");
        if ((flags & EXFLAG_KUSAGE) == 0 || (X509_get_key_usage(cert) & KU_DIGITAL_SIGNATURE) == 0)
                return err_set(EKEYREJECTED, "key usage lacks digitalSignature");
        if ((flags & EXFLAG_XKUSAGE) == 0)
                return err_set(EKEYREJECTED, "certificate has no extended key usage (needs %s)",
                               eku ? "the configured [Trust] SignerEKU=" : "codeSigning");

        if (eku) {
                EXTENDED_KEY_USAGE *ekus = X509_get_ext_d2i(cert, NID_ext_key_usage, NULL, NULL);
                bool found = false;
                for (int i = 0; ekus && i < sk_ASN1_OBJECT_num(ekus); i++)
                        if (OBJ_cmp(sk_ASN1_OBJECT_value(ekus, i), eku) == 0)
                                found = true;
                EXTENDED_KEY_USAGE_free(ekus);
                if (!found) {
                        char oid[80];
                        OBJ_obj2txt(oid, sizeof oid, eku, 1);
                        return err_set(EKEYREJECTED, "extended key usage lacks %s ([Trust] SignerEKU=)", oid);
                }
                return 0;
        }

        uint32_t xku = X509_get_extended_key_usage(cert);
        if ((xku & XKU_CODE_SIGN) != 0)
                return 0;
        if ((xku & XKU_SMIME) != 0)
                return err_set(EKEYREJECTED,
                               "an S/MIME-only certificate (emailProtection without codeSigning) is not a release signer");
        return err_set(EKEYREJECTED, "extended key usage lacks codeSigning");
}

static int cert_fingerprint(X509 *cert, Fingerprint ret) {
        unsigned char *der = NULL;
        int n = i2d_X509(cert, &der);
        if (n <= 0) {
                ERR_clear_error();
                return err_set(EBADMSG, "cannot encode a certificate");
        }
        int r = sha256_buf(der, (size_t) n, ret);
        OPENSSL_free(der);
        return r;
}

static bool fingerprint_in(const Fingerprint fp, const Fingerprint *list, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (memcmp(fp, list[i], SHA256_DIGEST_SIZE) == 0)
                        return true;
        return false;
}

/* Revoked by a CRL its issuer signed. A CRL naming the issuer that does not
 * verify with the issuer's key is refused: it came from verified storage, so
 * it is a broken configuration, and failing closed is the safe side. */
static int check_revoked(const TrustStore *t, X509 *cert, X509 *issuer, const char *signer) {
        for (int i = 0; i < sk_X509_CRL_num(t->crls); i++) {
                X509_CRL *crl = sk_X509_CRL_value(t->crls, i);
                X509_REVOKED *rev = NULL;

                if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_issuer_name(cert)) != 0)
                        continue;
                if (X509_CRL_verify(crl, X509_get0_pubkey(issuer)) != 1) {
                        ERR_clear_error();
                        return err_set(EKEYREJECTED, "signature not trusted: signer %s: a CRL in %s names the issuer but does not verify with its key",
                                       signer, t->crl_path);
                }
                if (X509_CRL_get0_by_cert(crl, &rev, cert) == 1) {
                        _cleanup_free_ char *subject = NULL;
                        int r = x509_subject_string(cert, &subject);
                        if (r < 0)
                                return r;
                        return err_set(EKEYREJECTED, "signature not trusted: signer %s: certificate %s is revoked (%s)",
                                       signer, subject, t->crl_path);
                }
        }
        return 0;
}

/* Deny-list, CRLs and pins over the verified chain (leaf first, anchor last). */
static int check_chain_policy(const TrustStore *t, STACK_OF(X509) *chain, const char *signer) {
        bool pinned = t->n_pins == 0;
        int n = sk_X509_num(chain), r;

        for (int i = 0; i < n; i++) {
                X509 *c = sk_X509_value(chain, i);
                Fingerprint fp;

                r = cert_fingerprint(c, fp);
                if (r < 0)
                        return r;
                if (fingerprint_in(fp, t->deny, t->n_deny)) {
                        _cleanup_free_ char *subject = NULL;
                        char hex[SHA256_HEX_SIZE];
                        r = x509_subject_string(c, &subject);
                        if (r < 0)
                                return r;
                        hex_encode(fp, sizeof fp, hex);
                        return err_set(EKEYREJECTED, "signature not trusted: signer %s: certificate %s (SHA-256 %s) is on the deny list",
                                       signer, subject, hex);
                }
                if (fingerprint_in(fp, t->pins, t->n_pins))
                        pinned = true;
                if (i + 1 < n) {
                        r = check_revoked(t, c, sk_X509_value(chain, i + 1), signer);
                        if (r < 0)
                                return r;
                }
        }
        if (!pinned)
                return err_set(EKEYREJECTED,
                               "signature not trusted: signer %s: neither it nor a CA of its chain is pinned by [Trust] Signer=", signer);
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

        /* No decision depends on the wall clock unless the device says its time is trusted:
         * a dead RTC or a certificate past its end must not refuse every image. */
        if (!t->check_time)
                X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_NO_CHECK_TIME);
        if (X509_verify_cert(ctx) != 1) {
                int e = X509_STORE_CTX_get_error(ctx);
                ERR_clear_error();
                return err_set(EKEYREJECTED, "signature not trusted: signer %s: %s", subject,
                               X509_verify_cert_error_string(e));
        }

        r = x509_check_release_signer(signer, t->signer_eku);
        if (r < 0)
                return err_prefix(r, "signature not trusted: signer %s", subject);
        r = check_chain_policy(t, X509_STORE_CTX_get0_chain(ctx), subject);
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
