/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "crypto/authenticode.h"

#include <fcntl.h>
#include <inttypes.h>
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "crypto/openssl-util.h"

/* PE/COFF: the optional header's offsets (PE32, PE32+) and the Certificate Table's data directory. */
#define PE32_MAGIC 0x10b
#define PE32_PLUS_MAGIC 0x20b
#define OPT_SIZE_OF_HEADERS 60
#define OPT_CHECKSUM 64
#define OPT_PE32_NUMBER_OF_RVA 92
#define OPT_PE32_PLUS_NUMBER_OF_RVA 108
#define DATA_DIR_CERT_TABLE 4
#define SECTION_HEADER_SIZE 40

/* Authenticode: WIN_CERTIFICATE and the signed content's type. */
#define WIN_CERT_HEADER_SIZE 8
#define WIN_CERT_REVISION_2_0 0x0200
#define WIN_CERT_TYPE_PKCS_SIGNED_DATA 0x0002
#define SPC_INDIRECT_DATA_OBJID "1.3.6.1.4.1.311.2.1.4"

/* Deeper chains than this are not what signs boot binaries. */
#define CHAIN_DEPTH_MAX 8
#define READ_CHUNK (256U * 1024U)

DEFINE_TRIVIAL_CLEANUP_FUNC(EVP_MD_CTX *, EVP_MD_CTX_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_SIG *, X509_SIG_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(ASN1_OBJECT *, ASN1_OBJECT_free);

static uint16_t le16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

/* Whether [offset, offset + size) lies within [0, limit), without overflow. */
static bool range_within(uint64_t offset, uint64_t size, uint64_t limit) {
        return offset <= limit && size <= limit - offset;
}

void pe_layout_done(PeLayout *l) {
        free(l->sections);
        l->sections = NULL;
        l->n_sections = 0;
}

/* The headers reach beyond what we have: the file ends there, or it is past our limit. */
static int headers_short(const char *what, uint64_t end, uint64_t file_size) {
        if (end > file_size)
                return err_set(EBADMSG, "%s: truncated PE headers (they need %" PRIu64 " bytes, the file has %" PRIu64 ")",
                               what, end, file_size);
        return err_set(EFBIG, "%s: PE headers of %" PRIu64 " bytes, more than the %u abide reads",
                       what, end, AUTHENTICODE_HEADERS_MAX);
}

typedef struct SortedSection {
        PeRange range;
        size_t index;
} SortedSection;

/* By file offset; ties keep the section table's order, so the digest is well defined. */
static int section_cmp(const void *a, const void *b) {
        const SortedSection *x = a, *y = b;

        if (x->range.offset != y->range.offset)
                return x->range.offset < y->range.offset ? -1 : 1;
        return x->index < y->index ? -1 : x->index > y->index;
}

/* A section's name for a message: attacker's bytes, so printable ASCII only. */
static void section_name(const uint8_t *p, char out[9]) {
        size_t i;

        for (i = 0; i < 8 && p[i]; i++)
                out[i] = p[i] >= 0x20 && p[i] < 0x7f ? (char) p[i] : '?';
        out[i] = 0;
}

int authenticode_parse_pe(const uint8_t *head, size_t head_size, uint64_t file_size, const char *what,
                          PeLayout *ret) {
        _cleanup_free_ SortedSection *sorted = NULL;
        _cleanup_free_ PeRange *sections = NULL;
        size_t n = 0;

        if (head_size > file_size)
                head_size = (size_t) file_size;
        if (head_size < 2 || head[0] != 'M' || head[1] != 'Z')
                return err_set(ENOEXEC, "%s: not a PE image (no MZ header)", what);
        if (head_size < 0x40)
                return headers_short(what, 0x40, file_size);

        /* The PE signature, the COFF file header (20 bytes), the optional header's magic. */
        uint64_t pe = le32(head + 0x3c);
        if (!range_within(pe, 4 + 20 + 2, head_size)) {
                if (!range_within(pe, 4, file_size))
                        return err_set(ENOEXEC, "%s: not a PE image (PE header offset %" PRIu64 " is past the end of the file)",
                                       what, pe);
                return headers_short(what, pe + 4 + 20 + 2, file_size);
        }
        if (memcmp(head + pe, "PE\0\0", 4) != 0)
                return err_set(ENOEXEC, "%s: not a PE image (no PE signature at offset %" PRIu64 ")", what, pe);

        const uint8_t *coff = head + pe + 4;
        uint16_t n_sections = le16(coff + 2), opt_size = le16(coff + 16);
        uint64_t opt = pe + 4 + 20;

        uint16_t magic = le16(head + opt);
        bool plus = magic == PE32_PLUS_MAGIC;
        if (magic != PE32_MAGIC && !plus)
                return err_set(ENOEXEC, "%s: not a PE32 or PE32+ image (optional header magic 0x%x)", what, magic);

        uint64_t rva_field = plus ? OPT_PE32_PLUS_NUMBER_OF_RVA : OPT_PE32_NUMBER_OF_RVA;
        uint64_t dirs = rva_field + 4; /* the data directories follow NumberOfRvaAndSizes */
        if (opt_size < dirs)
                return err_set(EBADMSG, "%s: optional header of %u bytes, too short for %s (%" PRIu64 ")",
                               what, opt_size, plus ? "PE32+" : "PE32", dirs);
        if (!range_within(opt, opt_size, head_size))
                return headers_short(what, opt + opt_size, file_size);

        uint32_t n_rva = le32(head + opt + rva_field);
        if (n_rva > (opt_size - dirs) / 8)
                return err_set(EBADMSG, "%s: NumberOfRvaAndSizes %" PRIu32 " does not fit the optional header (%u bytes)",
                               what, n_rva, opt_size);

        uint64_t section_table = opt + opt_size;
        uint64_t section_table_end = section_table + (uint64_t) n_sections * SECTION_HEADER_SIZE;
        uint32_t size_of_headers = le32(head + opt + OPT_SIZE_OF_HEADERS);
        if (section_table_end > size_of_headers)
                return err_set(EBADMSG, "%s: the section table (up to byte %" PRIu64 ") is outside SizeOfHeaders (%" PRIu32 ")",
                               what, section_table_end, size_of_headers);
        if (size_of_headers > head_size)
                return headers_short(what, size_of_headers, file_size);

        /* The headers, without CheckSum and without the Certificate Table entry. */
        uint64_t checksum = opt + OPT_CHECKSUM;
        PeRange cert_table = {};
        ret->headers[0] = (PeRange) { 0, checksum };
        if (n_rva > DATA_DIR_CERT_TABLE) {
                uint64_t entry = opt + dirs + DATA_DIR_CERT_TABLE * 8;
                ret->headers[1] = (PeRange) { checksum + 4, entry - (checksum + 4) };
                ret->headers[2] = (PeRange) { entry + 8, size_of_headers - (entry + 8) };
                cert_table = (PeRange) { le32(head + entry), le32(head + entry + 4) };
        } else {
                ret->headers[1] = (PeRange) { checksum + 4, size_of_headers - (checksum + 4) };
                ret->headers[2] = (PeRange) { size_of_headers, 0 };
        }
        if (cert_table.size == 0)
                cert_table = (PeRange) {};
        else if (!range_within(cert_table.offset, cert_table.size, file_size))
                return err_set(EBADMSG, "%s: the certificate table (%" PRIu64 " bytes at %" PRIu64 ") is outside the file (%" PRIu64 " bytes)",
                               what, cert_table.size, cert_table.offset, file_size);
        else if (cert_table.offset + cert_table.size != file_size)
                /* Hashed by the firmware as part of the image, so it would have to sign itself. */
                return err_set(EBADMSG, "%s: %" PRIu64 " bytes after the certificate table (appended after signing?)",
                               what, file_size - cert_table.offset - cert_table.size);

        /* The sections with raw data, in file order. */
        sorted = calloc(n_sections ?: 1, sizeof *sorted);
        if (!sorted)
                return -ENOMEM;
        uint64_t hashed = size_of_headers;
        for (size_t i = 0; i < n_sections; i++) {
                const uint8_t *s = head + section_table + i * SECTION_HEADER_SIZE;
                PeRange r = { le32(s + 20), le32(s + 16) };

                if (r.size == 0)
                        continue;
                if (!range_within(r.offset, r.size, file_size)) {
                        char name[9];
                        section_name(s, name);
                        return err_set(EBADMSG, "%s: section %zu '%s' (%" PRIu64 " bytes at %" PRIu64 ") is outside the file (%" PRIu64 " bytes)",
                                       what, i, name, r.size, r.offset, file_size);
                }
                sorted[n++] = (SortedSection) { r, i };
                hashed += r.size; /* at most 65535 * 2^32: no overflow */
        }
        qsort(sorted, n, sizeof *sorted, section_cmp);
        sections = calloc(n ?: 1, sizeof *sections);
        if (!sections)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                sections[i] = sorted[i].range;

        /* What follows is hashed from the offset that equals the byte count so far (the
         * specification's SUM_OF_BYTES_HASHED, as the firmware does), up to the table. */
        uint64_t end = cert_table.size > 0 ? cert_table.offset : file_size;
        if (cert_table.size > 0 && hashed > end)
                return err_set(EBADMSG, "%s: headers and sections (%" PRIu64 " bytes) overlap the certificate table at %" PRIu64,
                               what, hashed, end);

        ret->file_size = file_size;
        ret->pe32_plus = plus;
        ret->sections = TAKE_PTR(sections);
        ret->n_sections = n;
        ret->trailer = hashed < end ? (PeRange) { hashed, end - hashed } : (PeRange) { end, 0 };
        ret->cert_table = cert_table;
        return 0;
}

/* The image: a file (pread) or memory. */
typedef struct Source {
        int fd;
        const uint8_t *mem;
        uint64_t size;
        const char *what;
} Source;

static int source_read(const Source *s, uint64_t offset, void *buf, size_t n) {
        if (!range_within(offset, n, s->size))
                return err_set(EIO, "%s: read of %zu bytes at %" PRIu64 " past the end", s->what, n, offset);
        if (s->mem) {
                memcpy(buf, s->mem + offset, n);
                return 0;
        }
        for (size_t done = 0; done < n;) {
                ssize_t k = pread(s->fd, (uint8_t *) buf + done, n - done, (off_t) (offset + done));
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return err_set(errno, "%s: cannot read: %m", s->what);
                if (k == 0)
                        return err_set(EIO, "%s: file shrank while being read", s->what);
                done += (size_t) k;
        }
        return 0;
}

static int hash_range(EVP_MD_CTX *ctx, const Source *s, const uint8_t *head, PeRange r, uint8_t *buf) {
        if (r.size == 0)
                return 0;
        if (s->mem || !buf) {
                const uint8_t *base = s->mem ?: head;
                return EVP_DigestUpdate(ctx, base + r.offset, r.size) == 1 ? 0 : -EIO;
        }
        for (uint64_t done = 0; done < r.size;) {
                size_t k = (size_t) MIN(r.size - done, (uint64_t) READ_CHUNK);
                int e = source_read(s, r.offset + done, buf, k);
                if (e < 0)
                        return e;
                if (EVP_DigestUpdate(ctx, buf, k) != 1)
                        return -EIO;
                done += k;
        }
        return 0;
}

static int image_digest(const Source *s, const PeLayout *l, const uint8_t *head, const EVP_MD *md,
                        uint8_t ret[static EVP_MAX_MD_SIZE], unsigned *ret_size) {
        _cleanup_(EVP_MD_CTX_freep) EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        _cleanup_free_ uint8_t *buf = NULL;
        int r;

        if (!ctx)
                return -ENOMEM;
        if (!s->mem) {
                buf = malloc(READ_CHUNK);
                if (!buf)
                        return -ENOMEM;
        }
        if (EVP_DigestInit_ex(ctx, md, NULL) != 1)
                return err_set(EIO, "%s: cannot start the digest: %s", s->what, openssl_error_reason());
        /* The headers are in memory already. */
        for (size_t i = 0; i < ELEMENTSOF(l->headers); i++)
                if ((r = hash_range(ctx, s, head, l->headers[i], NULL)) < 0)
                        return r;
        for (size_t i = 0; i < l->n_sections; i++)
                if ((r = hash_range(ctx, s, head, l->sections[i], buf)) < 0)
                        return r;
        if ((r = hash_range(ctx, s, head, l->trailer, buf)) < 0)
                return r;
        if (EVP_DigestFinal_ex(ctx, ret, ret_size) != 1)
                return err_set(EIO, "%s: cannot finish the digest: %s", s->what, openssl_error_reason());
        return 0;
}

/* The image digest per algorithm, computed once however many signatures use it. */
typedef struct DigestCache {
        const EVP_MD *md[4];
        uint8_t value[4][EVP_MAX_MD_SIZE];
        unsigned size[4];
        size_t n;
} DigestCache;

static int digest_cached(DigestCache *c, const Source *s, const PeLayout *l, const uint8_t *head,
                         const EVP_MD *md, const uint8_t **ret, unsigned *ret_size) {
        size_t i;
        int r;

        for (i = 0; i < c->n; i++)
                if (c->md[i] == md)
                        break;
        if (i == c->n) {
                if (i == ELEMENTSOF(c->md))
                        return -EINVAL;
                r = image_digest(s, l, head, md, c->value[i], &c->size[i]);
                if (r < 0)
                        return r;
                c->md[i] = md;
                c->n++;
        }
        *ret = c->value[i];
        *ret_size = c->size[i];
        return 0;
}

static const EVP_MD *digest_from_nid(int nid) {
        switch (nid) {
        case NID_sha256:
                return EVP_sha256();
        case NID_sha384:
                return EVP_sha384();
        case NID_sha512:
                return EVP_sha512();
        case NID_sha1:
                return EVP_sha1();
        default:
                return NULL;
        }
}

/*
 * SpcIndirectDataContent ::= SEQUENCE {
 *         data            SpcAttributeTypeAndOptionalValue,  -- a SEQUENCE
 *         messageDigest   DigestInfo }                       -- X509_SIG in OpenSSL
 * The signed content is its DER without the outer SEQUENCE's tag and length.
 */
static int spc_parse(const uint8_t *der, long der_size, const uint8_t **ret_inner, long *ret_inner_size,
                     X509_SIG **ret_digest) {
        const unsigned char *p = der, *q, *end;
        long len, len2;
        int tag, class, k;

        k = ASN1_get_object(&p, &len, &tag, &class, der_size);
        if (k != V_ASN1_CONSTRUCTED || tag != V_ASN1_SEQUENCE || class != V_ASN1_UNIVERSAL || p + len != der + der_size)
                return -EBADMSG;
        end = p + len;
        q = p;
        k = ASN1_get_object(&q, &len2, &tag, &class, len);
        if (k != V_ASN1_CONSTRUCTED || tag != V_ASN1_SEQUENCE || class != V_ASN1_UNIVERSAL)
                return -EBADMSG;
        q += len2;
        X509_SIG *sig = d2i_X509_SIG(NULL, &q, end - q);
        if (!sig || q != end) {
                X509_SIG_free(sig);
                return -EBADMSG;
        }
        *ret_inner = p;
        *ret_inner_size = len;
        *ret_digest = sig;
        return 0;
}

static bool der_equal(X509 *a, X509 *b) {
        unsigned char *da = NULL, *db = NULL;
        int na = i2d_X509(a, &da), nb = i2d_X509(b, &db);
        bool eq = na > 0 && na == nb && memcmp(da, db, (size_t) na) == 0;

        OPENSSL_free(da);
        OPENSSL_free(db);
        return eq;
}

/* issuer (a CA by its extensions) names cert's issuer and its key verifies cert's signature. */
static bool issued_by(X509 *cert, X509 *issuer) {
        EVP_PKEY *key;
        bool ok;

        if (X509_check_issued(issuer, cert) != X509_V_OK || X509_check_ca(issuer) == 0)
                return false;
        key = X509_get0_pubkey(issuer);
        ok = key && X509_verify(cert, key) == 1;
        ERR_clear_error();
        return ok;
}

/* As the firmware: the signer or a certificate up its chain (from the signature's own
 * certificates) is a db certificate, or was issued by one. No time, no EKU. */
static bool trusted_by_db(X509 *signer, STACK_OF(X509) *certs, X509 *const *db, size_t n_db) {
        X509 *cur = signer;

        for (unsigned depth = 0; cur && depth < CHAIN_DEPTH_MAX; depth++) {
                X509 *next = NULL;

                for (size_t i = 0; i < n_db; i++)
                        if (der_equal(cur, db[i]) || issued_by(cur, db[i]))
                                return true;
                for (int i = 0; i < sk_X509_num(certs); i++) {
                        X509 *c = sk_X509_value(certs, i);
                        if (c != cur && !der_equal(c, cur) && issued_by(cur, c)) {
                                next = c;
                                break;
                        }
                }
                cur = next;
        }
        return false;
}

/* One WIN_CERTIFICATE's PKCS#7; the message is prefixed with "what: signature i: " by the caller. */
static int verify_signature(const Source *s, const PeLayout *l, const uint8_t *head, DigestCache *cache,
                            const uint8_t *der, size_t der_size, X509 *const *db, size_t n_db, char **ret_subject) {
        _cleanup_(PKCS7_freep) PKCS7 *p7 = NULL;
        _cleanup_(X509_SIG_freep) X509_SIG *digest_info = NULL;
        _cleanup_(ASN1_OBJECT_freep) ASN1_OBJECT *spc_oid = NULL;
        _cleanup_(BIO_free_allp) BIO *content = NULL;
        _cleanup_free_ char *subject = NULL;
        const unsigned char *p = der;
        const uint8_t *inner, *image_digest_value;
        const ASN1_OCTET_STRING *signed_digest;
        const X509_ALGOR *alg;
        const ASN1_OBJECT *alg_oid;
        unsigned image_digest_size;
        long inner_size;
        int r;

        p7 = d2i_PKCS7(NULL, &p, (long) der_size);
        if (!p7) {
                ERR_clear_error();
                return err_set(EBADMSG, "not a DER PKCS#7 structure");
        }
        if (!PKCS7_type_is_signed(p7) || !p7->d.sign)
                return err_set(EBADMSG, "not PKCS#7 SignedData");

        PKCS7 *c = p7->d.sign->contents;
        spc_oid = OBJ_txt2obj(SPC_INDIRECT_DATA_OBJID, 1);
        if (!spc_oid)
                return -ENOMEM;
        if (!c || !c->type || OBJ_cmp(c->type, spc_oid) != 0)
                return err_set(EBADMSG, "signed content is not SpcIndirectDataContent (" SPC_INDIRECT_DATA_OBJID ")");
        if (!c->d.other || c->d.other->type != V_ASN1_SEQUENCE || !c->d.other->value.sequence ||
            spc_parse(c->d.other->value.sequence->data, c->d.other->value.sequence->length, &inner, &inner_size,
                      &digest_info) < 0) {
                ERR_clear_error();
                return err_set(EBADMSG, "malformed SpcIndirectDataContent");
        }

        X509_SIG_get0(digest_info, &alg, &signed_digest);
        X509_ALGOR_get0(&alg_oid, NULL, NULL, alg);
        const EVP_MD *md = digest_from_nid(OBJ_obj2nid(alg_oid));
        if (!md) {
                char oid[80];
                OBJ_obj2txt(oid, sizeof oid, alg_oid, 1);
                return err_set(EOPNOTSUPP, "unsupported image digest algorithm %s (SHA-256, SHA-384, SHA-512, SHA-1 are)", oid);
        }
        if (ASN1_STRING_length(signed_digest) != EVP_MD_get_size(md))
                return err_set(EBADMSG, "the signed %s digest has %d bytes, not %d", EVP_MD_get0_name(md),
                               ASN1_STRING_length(signed_digest), EVP_MD_get_size(md));

        STACK_OF(PKCS7_SIGNER_INFO) *sis = PKCS7_get_signer_info(p7);
        if (sk_PKCS7_SIGNER_INFO_num(sis) != 1)
                return err_set(EBADMSG, "%d signer infos, Authenticode has exactly one", sk_PKCS7_SIGNER_INFO_num(sis));
        /* Known to PKCS7_verify(), which otherwise leaks its copy of the content (OpenSSL 3.0). */
        for (int i = 0; i < sk_X509_ALGOR_num(p7->d.sign->md_algs); i++) {
                const ASN1_OBJECT *o;
                X509_ALGOR_get0(&o, NULL, NULL, sk_X509_ALGOR_value(p7->d.sign->md_algs, i));
                if (!digest_from_nid(OBJ_obj2nid(o))) {
                        char oid[80];
                        OBJ_obj2txt(oid, sizeof oid, o, 1);
                        return err_set(EOPNOTSUPP, "unsupported SignedData digest algorithm %s", oid);
                }
        }
        STACK_OF(X509) *signers = PKCS7_get0_signers(p7, NULL, 0);
        if (!signers || sk_X509_num(signers) != 1) {
                sk_X509_free(signers);
                ERR_clear_error();
                return err_set(EBADMSG, "the signer's certificate is not in the signature");
        }
        X509 *signer = sk_X509_value(signers, 0);
        sk_X509_free(signers); /* the stack only; the certificate belongs to p7 */
        r = x509_subject_string(signer, &subject);
        if (r < 0)
                return r;

        r = digest_cached(cache, s, l, head, md, &image_digest_value, &image_digest_size);
        if (r < 0)
                return r;
        if (image_digest_size != (unsigned) ASN1_STRING_length(signed_digest) ||
            memcmp(image_digest_value, ASN1_STRING_get0_data(signed_digest), image_digest_size) != 0)
                return err_set(EBADMSG, "%s image digest mismatch: the image was modified after signing (signer %s)",
                               EVP_MD_get0_name(md), subject);

        /* The signer's signature over the authenticated attributes, and their messageDigest
         * over the content; who the signer is, is decided below by the firmware's rule. */
        content = BIO_new_mem_buf(inner, (int) inner_size);
        if (!content)
                return -ENOMEM;
        if (PKCS7_verify(p7, NULL, NULL, content, NULL, PKCS7_BINARY | PKCS7_NOVERIFY) != 1)
                return err_set(EBADMSG, "bad signature: does not verify with the signer's key (signer %s): %s",
                               subject, openssl_error_reason());

        if (!trusted_by_db(signer, p7->d.sign->cert, db, n_db))
                return err_set(EKEYREJECTED, "signer %s: neither it nor a certificate of its chain is in db, or issued by one",
                               subject);

        if (ret_subject)
                *ret_subject = TAKE_PTR(subject);
        return 0;
}

typedef struct WinCert {
        uint64_t offset; /* of bCertificate in the table */
        uint32_t size;
        uint16_t revision, type;
} WinCert;

/* The entries of the table: dwLength includes the 8-byte header; each entry starts 8-byte aligned,
 * and its padding lies inside the table (EDK II's DxeImageVerificationLib refuses the image else). */
static int cert_table_entries(const uint8_t *table, size_t size, const char *what, WinCert **ret, size_t *ret_n) {
        _cleanup_free_ WinCert *list = NULL;
        size_t n = 0;

        for (size_t off = 0; off < size;) {
                if (size - off < WIN_CERT_HEADER_SIZE)
                        return err_set(EBADMSG, "%s: malformed WIN_CERTIFICATE at %zu of the certificate table: %zu bytes, shorter than its header",
                                       what, off, size - off);
                uint32_t len = le32(table + off);
                if (len <= WIN_CERT_HEADER_SIZE || len > size - off)
                        return err_set(EBADMSG, "%s: malformed WIN_CERTIFICATE at %zu of the certificate table: dwLength %" PRIu32 " (%zu bytes left)",
                                       what, off, len, size - off);
                size_t padded = ((size_t) len + 7) & ~(size_t) 7;
                if (padded > size - off)
                        return err_set(EBADMSG, "%s: malformed WIN_CERTIFICATE at %zu of the certificate table: dwLength %" PRIu32 " padded to %zu (%zu bytes left)",
                                       what, off, len, padded, size - off);
                WinCert *a = reallocarray(list, n + 1, sizeof *list);
                if (!a)
                        return -ENOMEM;
                list = a;
                list[n++] = (WinCert) {
                        .offset = off + WIN_CERT_HEADER_SIZE,
                        .size = len - WIN_CERT_HEADER_SIZE,
                        .revision = le16(table + off + 4),
                        .type = le16(table + off + 6),
                };
                off += padded;
        }
        if (n == 0)
                return err_set(ENODATA, "%s: not signed (empty certificate table)", what);
        *ret = TAKE_PTR(list);
        *ret_n = n;
        return 0;
}

static int verify_source(const Source *s, const uint8_t *head, size_t head_size, X509 *const *db, size_t n_db,
                         char **ret_subject) {
        _cleanup_(pe_layout_done) PeLayout l = {};
        _cleanup_free_ uint8_t *table = NULL;
        _cleanup_free_ WinCert *certs = NULL;
        _cleanup_free_ char *first_error = NULL;
        DigestCache cache = {};
        size_t n = 0;
        int r, first_r = 0;

        r = authenticode_parse_pe(head, head_size, s->size, s->what, &l);
        if (r < 0)
                return r;
        if (l.cert_table.size == 0)
                return err_set(ENODATA, "%s: not signed (no certificate table)", s->what);
        if (l.cert_table.size > AUTHENTICODE_CERT_TABLE_MAX)
                return err_set(EFBIG, "%s: certificate table of %" PRIu64 " bytes, more than the %u abide reads",
                               s->what, l.cert_table.size, AUTHENTICODE_CERT_TABLE_MAX);
        table = malloc(l.cert_table.size);
        if (!table)
                return -ENOMEM;
        r = source_read(s, l.cert_table.offset, table, l.cert_table.size);
        if (r < 0)
                return r;
        r = cert_table_entries(table, l.cert_table.size, s->what, &certs, &n);
        if (r < 0)
                return r;

        for (size_t i = 0; i < n; i++) {
                err_clear();
                if (certs[i].revision != WIN_CERT_REVISION_2_0 || certs[i].type != WIN_CERT_TYPE_PKCS_SIGNED_DATA)
                        r = err_set(EOPNOTSUPP, "WIN_CERTIFICATE revision 0x%04x type 0x%04x, not PKCS#7 SignedData (revision 0x0200, type 0x0002)",
                                    certs[i].revision, certs[i].type);
                else
                        r = verify_signature(s, &l, head, &cache, table + certs[i].offset, certs[i].size, db, n_db,
                                             ret_subject);
                if (r >= 0)
                        return 0;
                if (r == -ENOMEM)
                        return r;
                /* Keep the first refusal: with several signatures, each is tried. */
                if (first_r == 0) {
                        first_r = r;
                        if (n > 1)
                                r = asprintf(&first_error, "%s: signature %zu of %zu: %s", s->what, i + 1, n, err_message(r));
                        else
                                r = asprintf(&first_error, "%s: %s", s->what, err_message(r));
                        if (r < 0)
                                return -ENOMEM;
                }
        }
        return err_set(first_r, "%s", first_error);
}

int authenticode_verify_mem(const void *data, size_t size, const char *what, X509 *const *db, size_t n_db,
                            char **ret_subject) {
        Source s = { .fd = -EBADF, .mem = data, .size = size, .what = what };

        return verify_source(&s, data, MIN(size, (size_t) AUTHENTICODE_HEADERS_MAX), db, n_db, ret_subject);
}

int authenticode_verify(int fd, const char *what, X509 *const *db, size_t n_db, char **ret_subject) {
        _cleanup_free_ uint8_t *head = NULL;
        struct stat st;
        size_t head_size;
        int r;

        if (fstat(fd, &st) < 0)
                return err_set(errno, "%s: %m", what);
        if (!S_ISREG(st.st_mode))
                return err_set(EBADFD, "%s: not a regular file", what);

        Source s = { .fd = fd, .size = (uint64_t) st.st_size, .what = what };
        head_size = (size_t) MIN(s.size, (uint64_t) AUTHENTICODE_HEADERS_MAX);
        head = malloc(head_size ?: 1);
        if (!head)
                return -ENOMEM;
        r = source_read(&s, 0, head, head_size);
        if (r < 0)
                return r;
        return verify_source(&s, head, head_size, db, n_db, ret_subject);
}

int authenticode_verify_file(const char *path, const char *db_cert_pem_path, char **ret_subject) {
        _cleanup_(x509_stack_freep) STACK_OF(X509) *certs = NULL;
        _cleanup_free_ X509 **db = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t n;
        int r;

        r = pem_read_certs(db_cert_pem_path, &certs);
        if (r < 0)
                return err_prefix(r, "db certificates");
        n = (size_t) sk_X509_num(certs);
        db = calloc(n, sizeof *db);
        if (!db)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                db[i] = sk_X509_value(certs, (int) i);

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return err_set(errno, "%s: %m", path);
        return authenticode_verify(fd, path, db, n, ret_subject);
}

int authenticode_digest_mem(const void *data, size_t size, int md_nid, const char *what,
                            uint8_t ret[static EVP_MAX_MD_SIZE], size_t *ret_size) {
        _cleanup_(pe_layout_done) PeLayout l = {};
        Source s = { .fd = -EBADF, .mem = data, .size = size, .what = what };
        const EVP_MD *md = digest_from_nid(md_nid);
        unsigned n;
        int r;

        if (!md)
                return err_set(EOPNOTSUPP, "%s: unsupported digest", what);
        r = authenticode_parse_pe(data, MIN(size, (size_t) AUTHENTICODE_HEADERS_MAX), size, what, &l);
        if (r < 0)
                return r;
        r = image_digest(&s, &l, data, md, ret, &n);
        if (r < 0)
                return r;
        *ret_size = n;
        return 0;
}
