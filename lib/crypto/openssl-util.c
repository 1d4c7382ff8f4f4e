/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "crypto/openssl-util.h"

#include <openssl/err.h>
#include <openssl/pem.h>

#include "basic/error.h"
#include "basic/fileio.h"

/* Certificates and keys are small; anything bigger is not what we expect. */
#define PEM_FILE_MAX (4 * 1024 * 1024)

const char *openssl_error_reason(void) {
        static _Thread_local char buf[256];
        unsigned long e = ERR_get_error();

        if (e == 0) {
                ERR_clear_error();
                return "unknown error";
        }
        const char *reason = ERR_reason_error_string(e);
        if (reason)
                (void) snprintf(buf, sizeof buf, "%s", reason);
        else
                (void) snprintf(buf, sizeof buf, "error 0x%lx", e);
        ERR_clear_error();
        return buf;
}

int x509_subject_string(X509 *cert, char **ret) {
        _cleanup_(BIO_free_allp) BIO *bio = BIO_new(BIO_s_mem());
        uint8_t *buf;
        size_t size;
        int r;

        if (!bio)
                return -ENOMEM;
        if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_ONELINE & ~XN_FLAG_SPC_EQ) < 0)
                return -EIO;
        r = bio_mem_take(bio, &buf, &size);
        if (r < 0)
                return r;
        *ret = (char *) buf;
        return 0;
}

int bio_mem_take(BIO *bio, uint8_t **ret, size_t *ret_size) {
        char *data = NULL;
        long n = BIO_get_mem_data(bio, &data);

        if (n < 0)
                return -EIO;
        uint8_t *copy = malloc((size_t) n + 1);
        if (!copy)
                return -ENOMEM;
        if (n > 0)
                memcpy(copy, data, (size_t) n);
        copy[n] = 0;
        *ret = copy;
        if (ret_size)
                *ret_size = (size_t) n;
        return 0;
}

int pem_read_certs(const char *path, STACK_OF(X509) **ret) {
        _cleanup_(x509_stack_freep) STACK_OF(X509) *certs = NULL;
        _cleanup_(BIO_free_allp) BIO *bio = NULL;
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        r = read_full_file(path, PEM_FILE_MAX, &text, &size);
        if (r < 0)
                return err_set(r, "%s: cannot read: %s", path, strerror(-r));

        bio = BIO_new_mem_buf(text, (int) size);
        certs = sk_X509_new_null();
        if (!bio || !certs)
                return -ENOMEM;

        for (;;) {
                X509 *c = PEM_read_bio_X509(bio, NULL, NULL, NULL);
                if (!c)
                        break;
                if (sk_X509_push(certs, c) <= 0) {
                        X509_free(c);
                        return -ENOMEM;
                }
        }
        /* The loop ends on "no start line" at EOF; anything else is a broken file. */
        unsigned long e = ERR_peek_last_error();
        if (e != 0 && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE))
                return err_set(EBADMSG, "%s: malformed PEM certificate: %s", path, openssl_error_reason());
        ERR_clear_error();
        if (sk_X509_num(certs) == 0)
                return err_set(EBADMSG, "%s: no PEM certificate found", path);

        *ret = TAKE_PTR(certs);
        return 0;
}
