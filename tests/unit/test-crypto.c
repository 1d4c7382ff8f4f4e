/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <ctype.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>

#include <openssl/cms.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "crypto/hash.h"
#include "crypto/keygen.h"
#include "crypto/signer.h"
#include "crypto/trust.h"
#include "crypto/verity-sig.h"

/* Throwaway PKI made once for all tests (EC P-256: fast to generate). */
static char tmpdir[] = "/tmp/abide-test-crypto.XXXXXX";
static char *trust_dir, *trust_file, *empty_dir;
static Signer *good, *selfsigned, *expired, *notyet, *other, *wrong_eku, *under_leaf, *via_intermediate, *smime_only,
        *no_ext, *no_eku, *ca_signer, *custom_eku;
/* Kept for the CRL and pin tests. */
static X509 *ca_cert, *inter_cert;
static EVP_PKEY *ca_pkey;

/* An otherwise good CMS signature that embeds its content. */
static uint8_t *attached_sig;
static size_t attached_sig_size;

static const char data[] = "{\"name\":\"abide\",\"version\":\"1.0\"}\n\x01\x02\r\n";

static char *path_of(const char *name) {
        char *p;
        assert_true(asprintf(&p, "%s/%s", tmpdir, name) >= 0);
        return p;
}

static EVP_PKEY *new_key(void) {
        EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        assert_non_null(k);
        return k;
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value) {
        X509V3_CTX ctx;
        X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
        assert_non_null(e);
        assert_int_equal(X509_add_ext(cert, e, -1), 1);
        X509_EXTENSION_free(e);
}

/* issuer NULL: self-signed. Validity in days relative to now. */
static X509 *new_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, bool ca, long from_days,
                      long to_days, const char *eku) {
        static long serial = 1;
        X509 *c = X509_new();

        assert_non_null(c);
        assert_int_equal(X509_set_version(c, X509_VERSION_3), 1);
        assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(c), serial++), 1);
        X509_NAME *n = X509_get_subject_name(c);
        assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *) cn, -1, -1, 0), 1);
        assert_int_equal(X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : n), 1);
        assert_non_null(X509_gmtime_adj(X509_getm_notBefore(c), from_days * 86400));
        assert_non_null(X509_gmtime_adj(X509_getm_notAfter(c), to_days * 86400));
        assert_int_equal(X509_set_pubkey(c, key), 1);
        add_ext(c, issuer ?: c, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
        add_ext(c, issuer ?: c, NID_key_usage,
                ca ? (eku ? "critical,keyCertSign,digitalSignature" : "critical,keyCertSign") : "critical,digitalSignature");
        if (eku)
                add_ext(c, issuer ?: c, NID_ext_key_usage, eku);
        assert_true(X509_sign(c, issuer_key ?: key, EVP_sha256()) > 0);
        return c;
}

/* A version 1 certificate: no extensions at all. */
static X509 *new_v1_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key) {
        X509 *c = X509_new();

        assert_non_null(c);
        assert_int_equal(X509_set_version(c, X509_VERSION_1), 1);
        assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(c), 9999), 1);
        X509_NAME *n = X509_get_subject_name(c);
        assert_int_equal(X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *) cn, -1, -1, 0), 1);
        assert_int_equal(X509_set_issuer_name(c, X509_get_subject_name(issuer)), 1);
        assert_non_null(X509_gmtime_adj(X509_getm_notBefore(c), -86400));
        assert_non_null(X509_gmtime_adj(X509_getm_notAfter(c), 30 * 86400));
        assert_int_equal(X509_set_pubkey(c, key), 1);
        assert_true(X509_sign(c, issuer_key, EVP_sha256()) > 0);
        return c;
}

static void write_pem(const char *name, EVP_PKEY *key, X509 *c1, X509 *c2) {
        _cleanup_free_ char *p = path_of(name);
        FILE *f = fopen(p, "we");
        assert_non_null(f);
        if (key)
                assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
        if (c1)
                assert_int_equal(PEM_write_X509(f, c1), 1);
        if (c2)
                assert_int_equal(PEM_write_X509(f, c2), 1);
        assert_int_equal(fclose(f), 0);
}

/* Writes NAME.key and NAME.crt (plus extra certificate) and loads them as a Signer. */
static Signer *make_signer(const char *name, EVP_PKEY *key, X509 *cert, X509 *extra) {
        _cleanup_free_ char *k = NULL, *c = NULL, *kp = NULL, *cp = NULL;
        Signer *s = NULL;

        assert_true(asprintf(&k, "%s.key", name) >= 0);
        assert_true(asprintf(&c, "%s.crt", name) >= 0);
        write_pem(k, key, NULL, NULL);
        write_pem(c, NULL, cert, extra);
        kp = path_of(k);
        cp = path_of(c);
        assert_int_equal(signer_load(kp, cp, &s), 0);
        return s;
}

static int setup(void **state) {
        assert_non_null(mkdtemp(tmpdir));
        trust_dir = path_of("trust");
        empty_dir = path_of("empty");
        trust_file = path_of("bundle.pem");
        assert_int_equal(mkdir(trust_dir, 0755), 0);
        assert_int_equal(mkdir(empty_dir, 0755), 0);

        EVP_PKEY *ca_key = new_key(), *ca2_key = new_key(), *int_key = new_key(), *k = new_key();
        X509 *ca = new_cert("Test CA", ca_key, NULL, NULL, true, -1, 30, NULL);
        X509 *ca2 = new_cert("Other CA", ca2_key, NULL, NULL, true, -1, 30, NULL);
        X509 *inter = new_cert("Intermediate CA", int_key, ca, ca_key, true, -1, 30, NULL);
        X509 *good_cert = new_cert("Good", k, ca, ca_key, false, -1, 30, "codeSigning,emailProtection");

        write_pem("trust/ca.pem", NULL, ca, NULL);
        write_pem("trust/notes.txt", NULL, ca2, NULL); /* wrong suffix: must be ignored */
        write_pem("empty/README", NULL, ca, NULL);
        write_pem("bundle.pem", NULL, ca2, ca);

        good = make_signer("good", k, good_cert, NULL);
        /* One signer per way a certificate can be (un)fit to sign releases. */
        const struct {
                Signer **ret;
                const char *file, *cn;
                X509 *issuer;
                EVP_PKEY *issuer_key;
                bool ca, v1;
                long from, to;
                const char *eku;
                X509 *extra;
        } signers[] = {
                { &selfsigned, "self", "Self", NULL, NULL, false, false, -1, 30, "codeSigning", NULL },
                { &expired, "expired", "Expired", ca, ca_key, false, false, -30, -1, "codeSigning", NULL },
                { &notyet, "future", "Future", ca, ca_key, false, false, 2, 30, "codeSigning", NULL },
                { &other, "other", "Other", ca2, ca2_key, false, false, -1, 30, "codeSigning", NULL },
                { &no_ext, "noext", "No Extensions", ca, ca_key, false, true, -1, 30, NULL, NULL },
                { &no_eku, "noeku", "No EKU", ca, ca_key, false, false, -1, 30, NULL, NULL },
                { &ca_signer, "casigner", "CA Signer", ca, ca_key, true, false, -1, 30, "codeSigning", NULL },
                { &custom_eku, "customeku", "Custom EKU", ca, ca_key, false, false, -1, 30, "1.3.6.1.4.1.55555.1.1", NULL },
                { &wrong_eku, "server", "Server", ca, ca_key, false, false, -1, 30, "serverAuth", NULL },
                { &under_leaf, "underleaf", "Under Leaf", good_cert, k, false, false, -1, 30, "codeSigning", good_cert },
                { &via_intermediate, "viaint", "Via Intermediate", inter, int_key, false, false, -1, 30, "codeSigning", inter },
                { &smime_only, "smime", "SMIME", ca, ca_key, false, false, -1, 30, "emailProtection", NULL },
        };
        for (size_t i = 0; i < ELEMENTSOF(signers); i++) {
                X509 *c = signers[i].v1 ? new_v1_cert(signers[i].cn, k, signers[i].issuer, signers[i].issuer_key)
                                        : new_cert(signers[i].cn, k, signers[i].issuer, signers[i].issuer_key, signers[i].ca,
                                                   signers[i].from, signers[i].to, signers[i].eku);
                *signers[i].ret = make_signer(signers[i].file, k, c, signers[i].extra);
                X509_free(c);
        }

        BIO *in = BIO_new_mem_buf(data, sizeof data - 1);
        CMS_ContentInfo *cms = CMS_sign(good_cert, k, NULL, in, CMS_BINARY);
        assert_non_null(cms);
        unsigned char *der = NULL;
        int n = i2d_CMS_ContentInfo(cms, &der);
        assert_true(n > 0);
        attached_sig = der;
        attached_sig_size = (size_t) n;
        CMS_ContentInfo_free(cms);
        BIO_free(in);

        ca_cert = ca;
        ca_pkey = ca_key;
        inter_cert = inter;
        X509_free(ca2);
        X509_free(good_cert);
        EVP_PKEY_free(ca2_key);
        EVP_PKEY_free(int_key);
        EVP_PKEY_free(k);
        return 0;
}

static int teardown(void **state) {
        _cleanup_free_ char *cmd = NULL;
        Signer **all[] = { &good,  &selfsigned, &expired,         &notyet,     &other,  &wrong_eku,  &under_leaf,
                           &via_intermediate, &smime_only, &no_ext, &no_eku, &ca_signer, &custom_eku };

        for (size_t i = 0; i < ELEMENTSOF(all); i++)
                *all[i] = signer_free(*all[i]);
        X509_free(ca_cert);
        X509_free(inter_cert);
        EVP_PKEY_free(ca_pkey);
        OPENSSL_free(attached_sig);
        free(trust_dir);
        free(trust_file);
        free(empty_dir);
        assert_true(asprintf(&cmd, "rm -rf '%s'", tmpdir) >= 0);
        assert_int_equal(system(cmd), 0);
        return 0;
}

static TrustStore *load_trust(const char *path) {
        TrustStore *t = NULL;
        assert_int_equal(trust_store_load(path, &t), 0);
        return t;
}

/* The signing time of most signatures here (2024-07-19 04:09:00 UTC). */
#define SIGNING_TIME ((time_t) 1721362140)

static void sign_cms(Signer *s, const void *d, size_t n, uint8_t **sig, size_t *sig_size) {
        assert_int_equal(signer_sign_cms(s, d, n, SIGNING_TIME, sig, sig_size), 0);
        assert_true(*sig_size > 0);
}

/* Verification must fail, and the one-line message must contain want. */
static void assert_cms_rejected(TrustStore *t, const void *d, size_t n, const uint8_t *sig, size_t sig_size,
                                const char *want) {
        char *subject = (char *) 0x1;
        err_clear();
        int r = trust_verify_cms(t, d, n, sig, sig_size, &subject);
        assert_true(r < 0);
        assert_ptr_equal(subject, (char *) 0x1);
        if (!strstr(err_message(r), want))
                fail_msg("message \"%s\" lacks \"%s\"", err_message(r), want);
        assert_null(strchr(err_message(r), '\n'));
}

static void test_sha256(void **state) {
        static const char abc_hex[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        static const char empty_hex[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        uint8_t md[SHA256_DIGEST_SIZE], md2[SHA256_DIGEST_SIZE];
        char hex[SHA256_HEX_SIZE];
        _cleanup_(sha256_freep) Sha256 *h = NULL;
        _cleanup_free_ char *p = path_of("hashme"), *missing = path_of("missing");
        uint64_t size = 1;

        assert_int_equal(sha256_buf("abc", 3, md), 0);
        hex_encode(md, sizeof md, hex);
        assert_string_equal(hex, abc_hex);

        assert_int_equal(sha256_new(&h), 0);
        assert_int_equal(sha256_update(h, "a", 1), 0);
        assert_int_equal(sha256_update(h, "", 0), 0);
        assert_int_equal(sha256_update(h, "bc", 2), 0);
        assert_int_equal(sha256_final(h, md2), 0);
        assert_memory_equal(md, md2, sizeof md);
        assert_int_equal(sha256_update(h, "x", 1), -EINVAL);
        assert_int_equal(sha256_final(h, md2), -EINVAL);

        assert_int_equal(write_file_atomic(p, "", 0, 0644), 0);
        assert_int_equal(sha256_file(p, md, &size), 0);
        assert_int_equal(size, 0);
        hex_encode(md, sizeof md, hex);
        assert_string_equal(hex, empty_hex);

        /* More than one read buffer, so the loop runs more than once. */
        size_t big = 3 * 1024 * 1024 + 17;
        _cleanup_free_ uint8_t *buf = malloc(big);
        assert_non_null(buf);
        for (size_t i = 0; i < big; i++)
                buf[i] = (uint8_t) (i * 31 + 7);
        assert_int_equal(write_file_atomic(p, buf, big, 0644), 0);
        assert_int_equal(sha256_file(p, md, &size), 0);
        assert_int_equal(size, big);
        assert_int_equal(sha256_buf(buf, big, md2), 0);
        assert_memory_equal(md, md2, sizeof md);

        err_clear();
        assert_int_equal(sha256_file(missing, md, NULL), -ENOENT);
        assert_non_null(strstr(err_message(-ENOENT), "missing"));
}

static void test_cms_sign_verify(void **state) {
        _cleanup_(trust_store_freep) TrustStore *t = load_trust(trust_dir);
        _cleanup_free_ uint8_t *sig = NULL;
        _cleanup_free_ char *subject = NULL;
        size_t sig_size;

        sign_cms(good, data, sizeof data - 1, &sig, &sig_size);
        assert_int_equal(trust_verify_cms(t, data, sizeof data - 1, sig, sig_size, &subject), 0);
        assert_string_equal(subject, "CN=Good");
        /* ret_signer is optional. */
        assert_int_equal(trust_verify_cms(t, data, sizeof data - 1, sig, sig_size, NULL), 0);

        /* A trust store given as one file with several certificates. */
        _cleanup_(trust_store_freep) TrustStore *t2 = load_trust(trust_file);
        assert_int_equal(trust_verify_cms(t2, data, sizeof data - 1, sig, sig_size, NULL), 0);

        /* Empty content signs and verifies too. */
        _cleanup_free_ uint8_t *sig0 = NULL;
        size_t sig0_size;
        sign_cms(good, "", 0, &sig0, &sig0_size);
        assert_int_equal(trust_verify_cms(t, "", 0, sig0, sig0_size, NULL), 0);
        assert_cms_rejected(t, "x", 1, sig0, sig0_size, "signature does not match the data");
}

static void test_cms_reject_untrusted_signers(void **state) {
        _cleanup_(trust_store_freep) TrustStore *t = load_trust(trust_dir);
        static const struct {
                Signer **signer;
                const char *want;
        } cases[] = {
                { &selfsigned, "signature not trusted: signer CN=Self: self-signed certificate" },
                { &other, "signature not trusted: signer CN=Other: unable to get local issuer certificate" },
                { &wrong_eku, "signer CN=Server: extended key usage lacks codeSigning" },
                { &under_leaf, "signer CN=Under Leaf: invalid CA certificate" },
                { &smime_only, "signer CN=SMIME: an S/MIME-only certificate (emailProtection without codeSigning) is not a release signer" },
                { &no_ext, "signer CN=No Extensions: certificate has no extensions" },
                { &no_eku, "signer CN=No EKU: certificate has no extended key usage (needs codeSigning)" },
                { &ca_signer, "signer CN=CA Signer: is a CA certificate, not a release signer" },
                { &custom_eku, "signer CN=Custom EKU: extended key usage lacks codeSigning" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ uint8_t *sig = NULL;
                size_t sig_size;
                sign_cms(*cases[i].signer, data, sizeof data - 1, &sig, &sig_size);
                assert_cms_rejected(t, data, sizeof data - 1, sig, sig_size, cases[i].want);
        }

        /* Trusting the other CA instead turns the verdict around. */
        _cleanup_(trust_store_freep) TrustStore *t2 = load_trust(trust_file);
        _cleanup_free_ uint8_t *sig = NULL;
        _cleanup_free_ char *subject = NULL;
        size_t sig_size;
        sign_cms(other, data, sizeof data - 1, &sig, &sig_size);
        assert_int_equal(trust_verify_cms(t2, data, sizeof data - 1, sig, sig_size, &subject), 0);
        assert_string_equal(subject, "CN=Other");
}

static void test_cms_intermediate_and_usage(void **state) {
        _cleanup_(trust_store_freep) TrustStore *t = load_trust(trust_dir);
        _cleanup_free_ uint8_t *sig = NULL, *sig2 = NULL;
        _cleanup_free_ char *subject = NULL, *subject2 = NULL;
        size_t sig_size, sig2_size;

        /* The intermediate travels inside the signature; only the root is trusted. */
        sign_cms(via_intermediate, data, sizeof data - 1, &sig, &sig_size);
        assert_int_equal(trust_verify_cms(t, data, sizeof data - 1, sig, sig_size, &subject), 0);
        assert_string_equal(subject, "CN=Via Intermediate");

        /* A configured OID replaces codeSigning: the custom signer passes, the usual one not. */
        TrustPolicy p = { .signer_eku = "1.3.6.1.4.1.55555.1.1" };
        assert_int_equal(trust_store_set_policy(t, &p), 0);
        sign_cms(custom_eku, data, sizeof data - 1, &sig2, &sig2_size);
        assert_int_equal(trust_verify_cms(t, data, sizeof data - 1, sig2, sig2_size, &subject2), 0);
        assert_string_equal(subject2, "CN=Custom EKU");
        assert_cms_rejected(t, data, sizeof data - 1, sig, sig_size,
                            "signer CN=Via Intermediate: extended key usage lacks 1.3.6.1.4.1.55555.1.1 ([Trust] SignerEKU=)");
        p.signer_eku = "codeSigning";
        err_clear();
        assert_int_equal(trust_store_set_policy(t, &p), -EINVAL);
        assert_non_null(strstr(err_message(-EINVAL), "is not a dotted OID"));
}

/* The builder's check before it signs: the same rules as the verifier's. */
static void test_signer_check_release(void **state) {
        static const struct {
                Signer **signer;
                const char *want;
        } cases[] = {
                { &smime_only, "signing certificate CN=SMIME: an S/MIME-only certificate" },
                { &no_ext, "signing certificate CN=No Extensions: certificate has no extensions" },
                { &no_eku, "signing certificate CN=No EKU: certificate has no extended key usage" },
                { &ca_signer, "signing certificate CN=CA Signer: is a CA certificate" },
                { &wrong_eku, "signing certificate CN=Server: extended key usage lacks codeSigning" },
        };

        assert_int_equal(signer_check_release(good), 0);
        assert_int_equal(signer_check_release(via_intermediate), 0);
        assert_int_equal(signer_check_release(expired), 0);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                err_clear();
                int r = signer_check_release(*cases[i].signer);
                assert_true(r < 0);
                if (!strstr(err_message(r), cases[i].want))
                        fail_msg("\"%s\" lacks \"%s\"", err_message(r), cases[i].want);
        }
}

static void sha256_cert_hex(X509 *c, char hex[SHA256_HEX_SIZE]) {
        unsigned char *der = NULL;
        uint8_t md[SHA256_DIGEST_SIZE];
        int n = i2d_X509(c, &der);
        assert_true(n > 0);
        assert_int_equal(sha256_buf(der, (size_t) n, md), 0);
        OPENSSL_free(der);
        hex_encode(md, sizeof md, hex);
}

/* The signingTime attribute of a signature (there must be exactly one) and its ASN.1 type. */
static time_t cms_signing_time(const uint8_t *sig, size_t sig_size, int *ret_type) {
        const unsigned char *p = sig;
        CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long) sig_size);
        assert_non_null(cms);
        CMS_SignerInfo *si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
        assert_non_null(si);
        int i = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
        assert_true(i >= 0);
        assert_true(CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, i) < 0);
        X509_ATTRIBUTE *a = CMS_signed_get_attr(si, i);
        assert_int_equal(X509_ATTRIBUTE_count(a), 1);
        ASN1_TYPE *v = X509_ATTRIBUTE_get0_type(a, 0);
        *ret_type = ASN1_TYPE_get(v);
        struct tm tm;
        assert_int_equal(ASN1_TIME_to_tm((ASN1_TIME *) v->value.asn1_string, &tm), 1);
        CMS_ContentInfo_free(cms);
        return timegm(&tm);
}

/* The signing time is the caller's, never the clock; the verifier decides on
 * the certificates' validity alone, so any signing time verifies, also with
 * CheckTime=yes. RFC 5652: UTCTime from 1950 to 2049, GeneralizedTime after. */
static void test_cms_signing_time(void **state) {
        _cleanup_(trust_store_freep) TrustStore *t = load_trust(trust_dir), *tc = load_trust(trust_dir);
        TrustPolicy p = { .check_time = true };
        assert_int_equal(trust_store_set_policy(tc, &p), 0);
        static const struct {
                time_t when;
                int type;
        } cases[] = {
                { SIGNING_TIME, V_ASN1_UTCTIME },
                { 0, V_ASN1_UTCTIME },
                { 2524607999, V_ASN1_UTCTIME },           /* 2049-12-31 23:59:59 */
                { 2524608000, V_ASN1_GENERALIZEDTIME },   /* 2050-01-01 */
                { 253402300799, V_ASN1_GENERALIZEDTIME }, /* the last SOURCE_DATE_EPOCH abide-build takes */
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ uint8_t *sig = NULL;
                size_t sig_size;
                int type;
                assert_int_equal(signer_sign_cms(good, data, sizeof data - 1, cases[i].when, &sig, &sig_size), 0);
                assert_int_equal(cms_signing_time(sig, sig_size, &type), cases[i].when);
                assert_int_equal(type, cases[i].type);
                assert_int_equal(trust_verify_cms(t, data, sizeof data - 1, sig, sig_size, NULL), 0);
                assert_int_equal(trust_verify_cms(tc, data, sizeof data - 1, sig, sig_size, NULL), 0);
        }
}

/* Validity times are ignored unless the policy asks for them. */
static void test_cms_clock(void **state) {
        _cleanup_(trust_store_freep) TrustStore *t = load_trust(trust_dir);
        Signer *const dated[] = { expired, notyet };

        for (size_t i = 0; i < ELEMENTSOF(dated); i++) {
                _cleanup_free_ uint8_t *sig = NULL;
                size_t sig_size;
                sign_cms(dated[i], data, sizeof data - 1, &sig, &sig_size);
                assert_int_equal(trust_verify_cms(t, data, sizeof data - 1, sig, sig_size, NULL), 0);
        }

        TrustPolicy p = { .check_time = true };
        assert_int_equal(trust_store_set_policy(t, &p), 0);
        static const struct {
                Signer **signer;
                const char *want;
        } cases[] = {
                { &expired, "signature not trusted: signer CN=Expired: certificate has expired" },
                { &notyet, "signature not trusted: signer CN=Future: certificate is not yet valid" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ uint8_t *sig = NULL;
                size_t sig_size;
                sign_cms(*cases[i].signer, data, sizeof data - 1, &sig, &sig_size);
                assert_cms_rejected(t, data, sizeof data - 1, sig, sig_size, cases[i].want);
        }
        _cleanup_free_ uint8_t *sig = NULL;
        size_t sig_size;
        sign_cms(good, data, sizeof data - 1, &sig, &sig_size);
        assert_int_equal(trust_verify_cms(t, data, sizeof data - 1, sig, sig_size, NULL), 0);
}

static void test_cms_pins_and_deny(void **state) {
        _cleanup_(trust_store_freep) TrustStore *t = load_trust(trust_dir);
        _cleanup_free_ uint8_t *sig = NULL, *gsig = NULL;
        size_t sig_size, gsig_size;
        char inter_hex[SHA256_HEX_SIZE], ca_hex[SHA256_HEX_SIZE], good_hex[SHA256_HEX_SIZE];
        _cleanup_free_ char *pins = NULL, *colons = NULL;

        sha256_cert_hex(inter_cert, inter_hex);
        sha256_cert_hex(ca_cert, ca_hex);
        assert_int_equal(signer_cert_fingerprint(good, good_hex), 0);
        sign_cms(via_intermediate, data, sizeof data - 1, &sig, &sig_size);
        sign_cms(good, data, sizeof data - 1, &gsig, &gsig_size);

        /* Pinning the intermediate admits what it issued, and nothing else. */
        TrustPolicy p = { .signer_pins = inter_hex };
        assert_int_equal(trust_store_set_policy(t, &p), 0);
        assert_int_equal(trust_verify_cms(t, data, sizeof data - 1, sig, sig_size, NULL), 0);
        assert_cms_rejected(t, data, sizeof data - 1, gsig, gsig_size,
                            "signer CN=Good: neither it nor a CA of its chain is pinned by [Trust] Signer=");

        /* The signer itself, upper case with colons, in a list. */
        colons = malloc(3 * 32);
        assert_non_null(colons);
        for (size_t i = 0; i < 32; i++)
                snprintf(colons + 3 * i, 4, "%c%c%s", toupper(good_hex[2 * i]), toupper(good_hex[2 * i + 1]), i < 31 ? ":" : "");
        assert_true(asprintf(&pins, "%s, %s", inter_hex, colons) > 0);
        p.signer_pins = pins;
        assert_int_equal(trust_store_set_policy(t, &p), 0);
        assert_int_equal(trust_verify_cms(t, data, sizeof data - 1, gsig, gsig_size, NULL), 0);
        assert_int_equal(trust_verify_cms(t, data, sizeof data - 1, sig, sig_size, NULL), 0);

        /* The deny list wins anywhere in the chain, over a pin too. */
        p = (TrustPolicy) { .signer_pins = pins, .deny = inter_hex };
        assert_int_equal(trust_store_set_policy(t, &p), 0);
        assert_cms_rejected(t, data, sizeof data - 1, sig, sig_size, "certificate CN=Intermediate CA (SHA-256 ");
        assert_cms_rejected(t, data, sizeof data - 1, sig, sig_size, ") is on the deny list");
        assert_int_equal(trust_verify_cms(t, data, sizeof data - 1, gsig, gsig_size, NULL), 0);
        p = (TrustPolicy) { .deny = ca_hex };
        assert_int_equal(trust_store_set_policy(t, &p), 0);
        assert_cms_rejected(t, data, sizeof data - 1, gsig, gsig_size, "certificate CN=Test CA");

        /* Bad lists name the bad value and leave the policy as it was. */
        static const char *const bad[] = { "abc", "zz", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef00" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                p = (TrustPolicy) { .signer_pins = bad[i] };
                err_clear();
                assert_int_equal(trust_store_set_policy(t, &p), -EINVAL);
                assert_non_null(strstr(err_message(-EINVAL), "[Trust] Signer=: '"));
                assert_non_null(strstr(err_message(-EINVAL), "is not a SHA-256 fingerprint"));
        }
        assert_cms_rejected(t, data, sizeof data - 1, gsig, gsig_size, "certificate CN=Test CA");

        uint8_t (*fps)[SHA256_DIGEST_SIZE] = NULL;
        size_t n = 99;
        assert_int_equal(trust_fingerprints_parse(" ,\t", &fps, &n), 0);
        assert_int_equal(n, 0);
        free(fps);
        assert_int_equal(trust_fingerprints_parse(pins, &fps, &n), 0);
        assert_int_equal(n, 2);
        free(fps);
}

static void write_crl(const char *name, X509 *issuer, EVP_PKEY *key, long serial) {
        X509_CRL *crl = X509_CRL_new();
        assert_non_null(crl);
        assert_int_equal(X509_CRL_set_version(crl, 1), 1);
        assert_int_equal(X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)), 1);
        ASN1_TIME *tm = X509_gmtime_adj(NULL, -86400);
        assert_int_equal(X509_CRL_set1_lastUpdate(crl, tm), 1);
        /* Long past: CRL times are not checked either. */
        assert_int_equal(X509_CRL_set1_nextUpdate(crl, tm), 1);
        X509_REVOKED *rev = X509_REVOKED_new();
        ASN1_INTEGER *sn = ASN1_INTEGER_new();
        assert_int_equal(ASN1_INTEGER_set(sn, serial), 1);
        assert_int_equal(X509_REVOKED_set_serialNumber(rev, sn), 1);
        assert_int_equal(X509_REVOKED_set_revocationDate(rev, tm), 1);
        assert_int_equal(X509_CRL_add0_revoked(crl, rev), 1);
        assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
        _cleanup_free_ char *p = path_of(name);
        FILE *f = fopen(p, "we");
        assert_non_null(f);
        assert_int_equal(PEM_write_X509_CRL(f, crl), 1);
        assert_int_equal(fclose(f), 0);
        ASN1_INTEGER_free(sn);
        ASN1_TIME_free(tm);
        X509_CRL_free(crl);
}

static void test_cms_crl(void **state) {
        _cleanup_(trust_store_freep) TrustStore *t = load_trust(trust_dir);
        _cleanup_free_ uint8_t *sig = NULL, *gsig = NULL;
        _cleanup_free_ char *crl = path_of("root.crl"), *forged = path_of("forged.crl"), *junk = path_of("junk.crl");
        size_t sig_size, gsig_size;

        sign_cms(via_intermediate, data, sizeof data - 1, &sig, &sig_size);
        sign_cms(good, data, sizeof data - 1, &gsig, &gsig_size);

        /* The root revokes the intermediate: what it issued is refused, the rest not. */
        write_crl("root.crl", ca_cert, ca_pkey, ASN1_INTEGER_get(X509_get_serialNumber(inter_cert)));
        TrustPolicy p = { .crl_path = crl };
        assert_int_equal(trust_store_set_policy(t, &p), 0);
        assert_cms_rejected(t, data, sizeof data - 1, sig, sig_size, "certificate CN=Intermediate CA is revoked");
        assert_int_equal(trust_verify_cms(t, data, sizeof data - 1, gsig, gsig_size, NULL), 0);

        /* A CRL naming the root but signed by another key: refused, failing closed. */
        EVP_PKEY *k = new_key();
        write_crl("forged.crl", ca_cert, k, 4242);
        EVP_PKEY_free(k);
        p.crl_path = forged;
        assert_int_equal(trust_store_set_policy(t, &p), 0);
        assert_cms_rejected(t, data, sizeof data - 1, gsig, gsig_size, "names the issuer but does not verify with its key");

        static const char junk_text[] = "not a CRL\n";
        assert_int_equal(write_file_atomic(junk, junk_text, sizeof junk_text - 1, 0644), 0);
        p.crl_path = junk;
        err_clear();
        assert_true(trust_store_set_policy(t, &p) < 0);
        assert_non_null(strstr(err_message(-EBADMSG), "[Trust] CRL=: CRL file"));
}

static void test_cms_reject_modified(void **state) {
        _cleanup_(trust_store_freep) TrustStore *t = load_trust(trust_dir);
        _cleanup_free_ uint8_t *sig = NULL;
        size_t sig_size;
        char changed[sizeof data];

        sign_cms(good, data, sizeof data - 1, &sig, &sig_size);

        /* Different bytes: one flipped bit, one byte less, one byte more. */
        memcpy(changed, data, sizeof data);
        changed[5] ^= 0x01;
        assert_cms_rejected(t, changed, sizeof data - 1, sig, sig_size, "signature does not match the data (signer CN=Good)");
        assert_cms_rejected(t, data, sizeof data - 2, sig, sig_size, "signature does not match the data");
        assert_cms_rejected(t, data, sizeof data, sig, sig_size, "signature does not match the data");

        /* Truncated signatures, at every length. */
        for (size_t n = 0; n < sig_size; n++)
                assert_cms_rejected(t, data, sizeof data - 1, sig, n, "");
        assert_cms_rejected(t, data, sizeof data - 1, sig, sig_size / 2, "not a DER CMS structure");

        /* A flipped bit in the signature value (the last bytes of the DER). */
        _cleanup_free_ uint8_t *flipped = malloc(sig_size);
        assert_non_null(flipped);
        memcpy(flipped, sig, sig_size);
        flipped[sig_size - 3] ^= 0x10;
        assert_cms_rejected(t, data, sizeof data - 1, flipped, sig_size, "");

        /* Trailing garbage after a valid signature. */
        _cleanup_free_ uint8_t *longer = malloc(sig_size + 1);
        assert_non_null(longer);
        memcpy(longer, sig, sig_size);
        longer[sig_size] = 0;
        assert_cms_rejected(t, data, sizeof data - 1, longer, sig_size + 1, "not a DER CMS structure");

        /* The right bytes, but embedded: not the detached form we make. */
        assert_cms_rejected(t, data, sizeof data - 1, attached_sig, attached_sig_size, "signature is not detached");

        /* Garbage. */
        uint8_t garbage[512];
        for (size_t i = 0; i < sizeof garbage; i++)
                garbage[i] = (uint8_t) (i * 131 + 17);
        assert_cms_rejected(t, data, sizeof data - 1, garbage, sizeof garbage, "not a DER CMS structure");

        /* PKCS#7 SignedData is CMS too: it is checked, and here it covers other bytes. */
        _cleanup_free_ uint8_t *p7 = NULL;
        size_t p7_size;
        assert_int_equal(signer_sign_pkcs7(good, "other", 5, &p7, &p7_size), 0);
        assert_cms_rejected(t, data, sizeof data - 1, p7, p7_size, "signature does not match the data");
}

static void test_trust_store_errors(void **state) {
        TrustStore *t = NULL;
        _cleanup_free_ char *missing = path_of("nope"), *key = path_of("good.key");
        int r;

        err_clear();
        r = trust_store_load(empty_dir, &t);
        assert_int_equal(r, -ENOKEY);
        assert_null(t);
        assert_non_null(strstr(err_message(r), "no trusted certificates"));
        assert_non_null(strstr(err_message(r), empty_dir));

        err_clear();
        assert_int_equal(trust_store_load(missing, &t), -ENOENT);
        assert_non_null(strstr(err_message(-ENOENT), "nope"));

        /* A key file holds no certificate. */
        err_clear();
        r = trust_store_load(key, &t);
        assert_true(r < 0);
        assert_non_null(strstr(err_message(r), "no PEM certificate"));
        assert_null(t);
}

static void test_signer_load_errors(void **state) {
        _cleanup_free_ char *gk = path_of("good.key"), *gc = path_of("good.crt"),
                            *missing = path_of("nope"), *junk = path_of("junk.pem");
        Signer *s = NULL;
        int r;

        /* A certificate of another key. */
        EVP_PKEY *k = new_key();
        write_pem("other-key.key", k, NULL, NULL);
        EVP_PKEY_free(k);
        _cleanup_free_ char *ok = path_of("other-key.key");
        err_clear();
        r = signer_load(ok, gc, &s);
        assert_int_equal(r, -EINVAL);
        assert_non_null(strstr(err_message(r), "does not belong to the key"));

        assert_int_equal(signer_load(missing, gc, &s), -ENOENT);
        assert_int_equal(signer_load(gk, missing, &s), -ENOENT);
        static const char junk_pem[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert_int_equal(write_file_atomic(junk, junk_pem, sizeof junk_pem - 1, 0644), 0);
        assert_true(signer_load(gk, junk, &s) < 0);
        assert_true(signer_load(junk, gc, &s) < 0);
        assert_null(s);
}

static void test_pkcs7(void **state) {
        _cleanup_(trust_store_freep) TrustStore *t = load_trust(trust_dir);
        _cleanup_free_ uint8_t *sig = NULL;
        _cleanup_free_ char *subject = NULL;
        const char *hash = "4f1a0e42b9f0c6a7d63b6e0f4a3c7bb5c8f0f2d7e1a9c3b5d7e9f1a3c5e7f9a1";
        size_t sig_size;
        int r;

        assert_int_equal(signer_sign_pkcs7(good, hash, strlen(hash), &sig, &sig_size), 0);
        assert_int_equal(trust_verify_pkcs7(t, hash, strlen(hash), sig, sig_size, &subject), 0);
        assert_string_equal(subject, "CN=Good");

        /* The kernel's form: detached, no signed attributes, signer certificate embedded. */
        const unsigned char *p = sig;
        PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long) sig_size);
        assert_non_null(p7);
        assert_true(PKCS7_type_is_signed(p7));
        assert_int_equal(PKCS7_get_detached(p7), 1);
        PKCS7_SIGNER_INFO *si = sk_PKCS7_SIGNER_INFO_value(PKCS7_get_signer_info(p7), 0);
        assert_true(sk_X509_ATTRIBUTE_num(PKCS7_get_signed_attributes(si)) <= 0);
        assert_int_equal(sk_X509_num(p7->d.sign->cert), 1);
        PKCS7_free(p7);

        err_clear();
        r = trust_verify_pkcs7(t, "4f1a", 4, sig, sig_size, NULL);
        assert_true(r < 0);
        assert_non_null(strstr(err_message(r), "signature does not match the data (signer CN=Good)"));

        for (size_t n = 0; n < sig_size; n += 7)
                assert_true(trust_verify_pkcs7(t, hash, strlen(hash), sig, n, NULL) < 0);

        _cleanup_free_ uint8_t *osig = NULL;
        size_t osig_size;
        assert_int_equal(signer_sign_pkcs7(other, hash, strlen(hash), &osig, &osig_size), 0);
        err_clear();
        r = trust_verify_pkcs7(t, hash, strlen(hash), osig, osig_size, NULL);
        assert_true(r < 0);
        assert_non_null(strstr(err_message(r), "signer CN=Other: unable to get local issuer certificate"));

        /* The boot check: an expired or not yet valid signer still verifies (dead RTC, old fleet). */
        _cleanup_free_ uint8_t *esig = NULL, *fsig = NULL;
        size_t esig_size, fsig_size;
        assert_int_equal(signer_sign_pkcs7(expired, hash, strlen(hash), &esig, &esig_size), 0);
        assert_int_equal(trust_verify_pkcs7(t, hash, strlen(hash), esig, esig_size, NULL), 0);
        assert_int_equal(signer_sign_pkcs7(notyet, hash, strlen(hash), &fsig, &fsig_size), 0);
        assert_int_equal(trust_verify_pkcs7(t, hash, strlen(hash), fsig, fsig_size, NULL), 0);

        /* But never an S/MIME-only signer. */
        _cleanup_free_ uint8_t *ssig = NULL;
        size_t ssig_size;
        assert_int_equal(signer_sign_pkcs7(smime_only, hash, strlen(hash), &ssig, &ssig_size), 0);
        err_clear();
        r = trust_verify_pkcs7(t, hash, strlen(hash), ssig, ssig_size, NULL);
        assert_true(r < 0);
        assert_non_null(strstr(err_message(r), "S/MIME-only"));
}

static void test_fingerprint(void **state) {
        _cleanup_free_ char *cmd = NULL;
        char hex[SHA256_HEX_SIZE], line[256] = {};

        assert_int_equal(signer_cert_fingerprint(good, hex), 0);
        assert_int_equal(strlen(hex), 64);
        assert_true(asprintf(&cmd, "openssl x509 -in '%s/good.crt' -outform DER | sha256sum", tmpdir) >= 0);
        FILE *f = popen(cmd, "r");
        assert_non_null(f);
        assert_non_null(fgets(line, sizeof line, f));
        assert_int_equal(pclose(f), 0);
        assert_memory_equal(line, hex, 64);
        assert_int_equal(line[64], ' ');

        char hex2[SHA256_HEX_SIZE];
        assert_int_equal(signer_cert_fingerprint(other, hex2), 0);
        assert_string_not_equal(hex, hex2);
}

static void test_keygen(void **state) {
        _cleanup_free_ char *dir = path_of("keygen"), *key = NULL, *crt = NULL, *ca = NULL;
        _cleanup_(signer_freep) Signer *s = NULL;
        _cleanup_free_ uint8_t *sig = NULL;
        size_t sig_size;
        struct stat st;
        int r;

        assert_int_equal(keygen_demo(dir), 0);
        assert_true(asprintf(&key, "%s/signing.key", dir) >= 0);
        assert_true(asprintf(&crt, "%s/signing.crt", dir) >= 0);
        assert_true(asprintf(&ca, "%s/ca.pem", dir) >= 0);
        assert_int_equal(stat(key, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);

        assert_int_equal(signer_load(key, crt, &s), 0);
        _cleanup_(trust_store_freep) TrustStore *t = load_trust(ca);
        sign_cms(s, data, sizeof data - 1, &sig, &sig_size);
        assert_int_equal(trust_verify_cms(t, data, sizeof data - 1, sig, sig_size, NULL), 0);
        /* Not trusted by an unrelated CA. */
        _cleanup_(trust_store_freep) TrustStore *t2 = load_trust(trust_dir);
        assert_cms_rejected(t2, data, sizeof data - 1, sig, sig_size, "CN=abide demo signing key");

        /* RSA signs deterministically: equal data and signing time give equal
         * bytes (reproducible bundles), another signing time other bytes. */
        _cleanup_free_ uint8_t *again = NULL, *later = NULL;
        size_t again_size, later_size;
        sign_cms(s, data, sizeof data - 1, &again, &again_size);
        assert_int_equal(again_size, sig_size);
        assert_memory_equal(again, sig, sig_size);
        assert_int_equal(signer_sign_cms(s, data, sizeof data - 1, SIGNING_TIME + 1, &later, &later_size), 0);
        assert_true(later_size != sig_size || memcmp(later, sig, sig_size) != 0);

        err_clear();
        r = keygen_demo(dir);
        assert_int_equal(r, -EEXIST);
        assert_non_null(strstr(err_message(r), "refusing to overwrite"));
}

static void make_sig(VeritySig *v) {
        static uint8_t der[300];
        for (size_t i = 0; i < sizeof der; i++)
                der[i] = (uint8_t) (i * 7);
        *v = (VeritySig) {
                .root_hash = (char *) "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                .fingerprint = (char *) "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210",
                .signature = der,
                .signature_size = sizeof der,
        };
}

static void test_verity_sig_roundtrip(void **state) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_(verity_sig_done) VeritySig back = {};
        VeritySig v;
        size_t size;

        make_sig(&v);
        assert_int_equal(verity_sig_format(&v, &buf, &size), 0);
        assert_int_equal(size, VERITY_SIG_ALIGN);
        assert_int_equal(buf[0], '{');
        size_t n = strlen(buf);
        for (size_t i = n; i < size; i++)
                assert_int_equal(buf[i], 0);
        assert_non_null(strstr(buf, "\"rootHash\":\"0123456789abcdef"));
        assert_non_null(strstr(buf, "\"certificateFingerprint\":\"fedcba98"));
        assert_non_null(strstr(buf, "\"signature\":\"AAcOFRwjKjE4"));

        assert_int_equal(verity_sig_parse(buf, size, &back), 0);
        assert_string_equal(back.root_hash, v.root_hash);
        assert_string_equal(back.fingerprint, v.fingerprint);
        assert_int_equal(back.signature_size, v.signature_size);
        assert_memory_equal(back.signature, v.signature, v.signature_size);

        /* Without padding, and with a shorter signature (base64 padding "=" and "=="). */
        for (size_t len = 1; len <= 3; len++) {
                _cleanup_(verity_sig_done) VeritySig w = {};
                _cleanup_free_ char *b = NULL;
                size_t bs;
                v.signature_size = len;
                assert_int_equal(verity_sig_format(&v, &b, &bs), 0);
                assert_int_equal(verity_sig_parse(b, strlen(b), &w), 0);
                assert_int_equal(w.signature_size, len);
                assert_memory_equal(w.signature, v.signature, len);
        }

        /* Refuses to write what it would not read. */
        make_sig(&v);
        v.root_hash = (char *) "ABCD";
        assert_true(verity_sig_format(&v, &buf, &size) < 0);
        make_sig(&v);
        v.fingerprint = (char *) "abcd";
        assert_true(verity_sig_format(&v, &buf, &size) < 0);
        make_sig(&v);
        v.signature_size = 0;
        assert_true(verity_sig_format(&v, &buf, &size) < 0);
}

static void assert_parse_fails(const char *buf, size_t size, const char *want) {
        VeritySig v = { .root_hash = (char *) 0x1 };
        err_clear();
        int r = verity_sig_parse(buf, size, &v);
        assert_true(r < 0);
        assert_ptr_equal(v.root_hash, (char *) 0x1);
        if (!strstr(err_message(r), want))
                fail_msg("parsing \"%.80s\": message \"%s\" lacks \"%s\"", buf, err_message(r), want);
}

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SIG_JSON(root, fp, sig) "{\"rootHash\":" root ",\"certificateFingerprint\":" fp ",\"signature\":" sig "}"

static void test_verity_sig_malformed(void **state) {
        static const struct {
                const char *json;
                const char *want;
        } cases[] = {
                { "", "empty" },
                { "not json", "not valid JSON" },
                { "{\"rootHash\":", "truncated" },
                { "[1,2,3]", "not an object" },
                { "\"string\"", "not an object" },
                { SIG_JSON("\"" H64 "\"", "\"" H64 "\"", "\"AAAA\"") " x", "trailing data" },
                { SIG_JSON("\"" H64 "\"", "\"" H64 "\"", "\"AAAA\"") "{}", "trailing data" },
                { "{\"certificateFingerprint\":\"" H64 "\",\"signature\":\"AAAA\"}", "missing \"rootHash\"" },
                { "{\"rootHash\":\"" H64 "\",\"signature\":\"AAAA\"}", "missing \"certificateFingerprint\"" },
                { "{\"rootHash\":\"" H64 "\",\"certificateFingerprint\":\"" H64 "\"}", "missing \"signature\"" },
                { SIG_JSON("42", "\"" H64 "\"", "\"AAAA\""), "\"rootHash\" is not a string" },
                { SIG_JSON("\"" H64 "\"", "null", "\"AAAA\""), "\"certificateFingerprint\" is not a string" },
                { SIG_JSON("\"" H64 "\"", "\"" H64 "\"", "[\"AAAA\"]"), "\"signature\" is not a string" },
                { SIG_JSON("\"\"", "\"" H64 "\"", "\"AAAA\""), "rootHash is not lowercase hex" },
                { SIG_JSON("\"abc\"", "\"" H64 "\"", "\"AAAA\""), "rootHash is not lowercase hex" },
                { SIG_JSON("\"ABCD\"", "\"" H64 "\"", "\"AAAA\""), "rootHash is not lowercase hex" },
                { SIG_JSON("\"abxd\"", "\"" H64 "\"", "\"AAAA\""), "rootHash is not lowercase hex" },
                { SIG_JSON("\"" H64 H64 "00\"", "\"" H64 "\"", "\"AAAA\""), "rootHash is not lowercase hex" },
                { SIG_JSON("\"ab\\u0000cd\"", "\"" H64 "\"", "\"AAAA\""), "contains a NUL" },
                { SIG_JSON("\"" H64 "\"", "\"" H64 "00\"", "\"AAAA\""), "certificateFingerprint is not" },
                { SIG_JSON("\"" H64 "\"", "\"0123\"", "\"AAAA\""), "certificateFingerprint is not" },
                { SIG_JSON("\"" H64 "\"", "\"" H64 "\"", "\"\""), "not valid base64" },
                { SIG_JSON("\"" H64 "\"", "\"" H64 "\"", "\"AAA\""), "not valid base64" },
                { SIG_JSON("\"" H64 "\"", "\"" H64 "\"", "\"AA*A\""), "not valid base64" },
                { SIG_JSON("\"" H64 "\"", "\"" H64 "\"", "\"AA=A\""), "not valid base64" },
                { SIG_JSON("\"" H64 "\"", "\"" H64 "\"", "\"A===\""), "not valid base64" },
                { SIG_JSON("\"" H64 "\"", "\"" H64 "\"", "\"AAAA\\nAAAA\""), "not valid base64" },
                { SIG_JSON("\"" H64 "\"", "\"" H64 "\"", "\"====\""), "not valid base64" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                assert_parse_fails(cases[i].json, strlen(cases[i].json), cases[i].want);

        /* The well-formed base of those cases parses, also with whitespace and extra keys. */
        static const char okjson[] = " " SIG_JSON("\"" H64 "\"", "\"" H64 "\"", "\"AAAA\"") "\n";
        _cleanup_(verity_sig_done) VeritySig v = {};
        assert_int_equal(verity_sig_parse(okjson, sizeof okjson - 1, &v), 0);
        assert_int_equal(v.signature_size, 3);

        /* Non-NUL bytes in the padding. */
        char padded[VERITY_SIG_ALIGN] = {};
        memcpy(padded, okjson, sizeof okjson - 1);
        _cleanup_(verity_sig_done) VeritySig w = {};
        assert_int_equal(verity_sig_parse(padded, sizeof padded, &w), 0);
        padded[sizeof padded - 1] = 'x';
        assert_parse_fails(padded, sizeof padded, "unexpected data after the JSON padding at offset 4095");
        padded[sizeof padded - 1] = 0;
        padded[sizeof okjson] = '{';
        assert_parse_fails(padded, sizeof padded, "unexpected data after the JSON padding");

        /* Oversized. */
        size_t big = VERITY_SIG_MAX + 1;
        _cleanup_free_ char *huge = calloc(1, big);
        assert_non_null(huge);
        memcpy(huge, okjson, sizeof okjson - 1);
        err_clear();
        assert_int_equal(verity_sig_parse(huge, big, &w), -EFBIG);

        /* Truncated at every length. */
        for (size_t n = 0; n + 2 < sizeof okjson; n++)
                assert_parse_fails(okjson, n, "");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sha256),
                cmocka_unit_test(test_cms_sign_verify),
                cmocka_unit_test(test_cms_reject_untrusted_signers),
                cmocka_unit_test(test_cms_intermediate_and_usage),
                cmocka_unit_test(test_cms_signing_time),
                cmocka_unit_test(test_cms_clock),
                cmocka_unit_test(test_cms_pins_and_deny),
                cmocka_unit_test(test_cms_crl),
                cmocka_unit_test(test_signer_check_release),
                cmocka_unit_test(test_cms_reject_modified),
                cmocka_unit_test(test_trust_store_errors),
                cmocka_unit_test(test_signer_load_errors),
                cmocka_unit_test(test_pkcs7),
                cmocka_unit_test(test_fingerprint),
                cmocka_unit_test(test_keygen),
                cmocka_unit_test(test_verity_sig_roundtrip),
                cmocka_unit_test(test_verity_sig_malformed),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
