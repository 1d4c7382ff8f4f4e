/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "init-signature.h"

#include <fcntl.h>
#include <inttypes.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "crypto/hash.h"
#include "crypto/verity-sig.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(PKCS7 *, PKCS7_free);

/* SHA-256 of the certificate trust_verify_pkcs7() took as the signer: the one
 * embedded certificate matching the single SignerInfo, found the same way. */
static int signer_fingerprint(const uint8_t *sig, size_t sig_len, char ret_hex[SHA256_HEX_SIZE]) {
        _cleanup_(PKCS7_freep) PKCS7 *p7 = NULL;
        const unsigned char *p = sig;

        p7 = d2i_PKCS7(NULL, &p, (long) sig_len);
        if (!p7 || !PKCS7_type_is_signed(p7)) {
                ERR_clear_error();
                return err_set(EBADMSG, "signature is not PKCS#7 SignedData");
        }
        STACK_OF(X509) *signers = PKCS7_get0_signers(p7, NULL, 0);
        if (!signers || sk_X509_num(signers) != 1) {
                sk_X509_free(signers);
                ERR_clear_error();
                return err_set(EBADMSG, "signature does not carry exactly one signer certificate");
        }
        X509 *cert = sk_X509_value(signers, 0);
        sk_X509_free(signers); /* the stack only: the certificate belongs to p7 */

        unsigned char *der = NULL;
        int n = i2d_X509(cert, &der);
        if (n <= 0) {
                ERR_clear_error();
                return err_set(EBADMSG, "cannot encode the signer certificate");
        }
        uint8_t md[SHA256_DIGEST_SIZE];
        int r = sha256_buf(der, (size_t) n, md);
        OPENSSL_free(der);
        if (r < 0)
                return r;
        hex_encode(md, sizeof md, ret_hex);
        return 0;
}

int init_signature_check(TrustStore *t, const char *buf, size_t size, char **ret_root_hash, char **ret_signer) {
        _cleanup_(verity_sig_done) VeritySig s = {};
        _cleanup_free_ char *signer = NULL;
        char fpr[SHA256_HEX_SIZE];
        int r;

        /* Its messages start with "verity signature: ". */
        r = verity_sig_parse(buf, size, &s);
        if (r < 0)
                return r;

        r = trust_verify_pkcs7(t, s.root_hash, strlen(s.root_hash), s.signature, s.signature_size, &signer);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                /* "signature not trusted: ...", "signature does not match the data (...)". */
                const char *why = strdupa(err_message(r));
                return err_set(EKEYREJECTED, "verity %s", why);
        }

        r = signer_fingerprint(s.signature, s.signature_size, fpr);
        if (r < 0)
                return err_prefix(r, "verity signature not trusted");
        if (!streq(fpr, s.fingerprint))
                return err_set(EKEYREJECTED,
                               "verity signature not trusted: certificateFingerprint %s is not the signer's certificate (%s, SHA-256 %s)",
                               s.fingerprint, signer, fpr);

        *ret_root_hash = TAKE_PTR(s.root_hash);
        *ret_signer = TAKE_PTR(signer);
        return 0;
}

int init_signature_verify(const SlotPartition *sig, const char *keys, char **ret_root_hash, char **ret_signer) {
        _cleanup_(trust_store_freep) TrustStore *t = NULL;
        _cleanup_free_ char *buf = NULL;
        uint64_t off, size;
        int r;

        r = trust_store_load(keys, &t);
        if (r < 0)
                return err_prefix(r, "cannot load the trusted certificates %s", keys);

        _cleanup_close_ int fd = slot_partition_open(sig, O_RDONLY, &off, &size);
        if (fd < 0)
                return fd;
        /* Past VERITY_SIG_MAX there can only be padding; the parser refuses a longer JSON. */
        size_t n = (size_t) MIN(size, (uint64_t) VERITY_SIG_MAX);
        if (n == 0)
                return err_set(EBADMSG, "verity signature partition %s is empty", sig->path);
        buf = malloc(n);
        if (!buf)
                return -ENOMEM;
        if (lseek(fd, (off_t) off, SEEK_SET) < 0)
                return err_set(errno, "cannot seek in %s: %m", sig->path);
        ssize_t k = loop_read(fd, buf, n);
        if (k < 0)
                return err_set((int) -k, "cannot read %s: %s", sig->path, strerror((int) -k));
        if ((size_t) k != n)
                return err_set(EIO, "%s: short read (%zd of %zu bytes)", sig->path, k, n);

        return init_signature_check(t, buf, n, ret_root_hash, ret_signer);
}
