/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "crypto/verity-sig.h"

#include <json-c/json.h>
#include <openssl/evp.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/json-scan.h"

/* SHA-512 is the longest root hash dm-verity offers. */
#define ROOT_HASH_HEX_MAX 128

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put);

void verity_sig_done(VeritySig *s) {
        if (!s)
                return;
        free(s->root_hash);
        free(s->fingerprint);
        free(s->signature);
        *s = (VeritySig) {};
}

static bool is_lower_hex(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

static int check_root_hash(const char *h) {
        size_t n = strlen(h);

        if (n == 0 || n % 2 != 0 || n > ROOT_HASH_HEX_MAX || !is_lower_hex(h, n))
                return err_set(EBADMSG, "verity signature: rootHash is not lowercase hex of a hash: \"%.*s\"",
                               (int) MIN(n, (size_t) ROOT_HASH_HEX_MAX + 2), h);
        return 0;
}

static int check_fingerprint(const char *h) {
        size_t n = strlen(h);

        if (n != SHA256_HEX_SIZE - 1 || !is_lower_hex(h, n))
                return err_set(EBADMSG, "verity signature: certificateFingerprint is not a lowercase hex SHA-256: \"%.*s\"",
                               (int) MIN(n, (size_t) SHA256_HEX_SIZE + 1), h);
        return 0;
}

/* Canonical base64 only: the alphabet, length a multiple of 4, padding only at the end. */
static int base64_decode(const char *s, size_t n, uint8_t **ret, size_t *ret_size) {
        size_t pad = 0;

        if (n == 0 || n % 4 != 0 || n > INT32_MAX)
                return -EINVAL;
        if (s[n - 1] == '=')
                pad = s[n - 2] == '=' ? 2 : 1;
        for (size_t i = 0; i < n - pad; i++) {
                char c = s[i];
                if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/'))
                        return -EINVAL;
        }

        uint8_t *buf = malloc(n / 4 * 3 + 1);
        if (!buf)
                return -ENOMEM;
        int k = EVP_DecodeBlock(buf, (const unsigned char *) s, (int) n);
        if (k < 0 || (size_t) k < pad) {
                free(buf);
                return -EINVAL;
        }
        /* EVP_DecodeBlock counts the padding as zero bytes. */
        *ret = buf;
        *ret_size = (size_t) k - pad;
        return 0;
}

int verity_sig_format(const VeritySig *s, char **ret_buf, size_t *ret_size) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_free_ char *b64 = NULL;
        int r;

        if (!s->root_hash || !s->fingerprint || !s->signature || s->signature_size == 0)
                return err_set(EINVAL, "verity signature: incomplete");
        r = check_root_hash(s->root_hash);
        if (r < 0)
                return r;
        r = check_fingerprint(s->fingerprint);
        if (r < 0)
                return r;
        if (s->signature_size > VERITY_SIG_MAX)
                return err_set(EFBIG, "verity signature: signature of %zu bytes is too large", s->signature_size);

        b64 = malloc((s->signature_size + 2) / 3 * 4 + 1);
        if (!b64)
                return -ENOMEM;
        (void) EVP_EncodeBlock((unsigned char *) b64, s->signature, (int) s->signature_size);

        o = json_object_new_object();
        if (!o ||
            json_object_object_add(o, "rootHash", json_object_new_string(s->root_hash)) < 0 ||
            json_object_object_add(o, "certificateFingerprint", json_object_new_string(s->fingerprint)) < 0 ||
            json_object_object_add(o, "signature", json_object_new_string(b64)) < 0)
                return -ENOMEM;

        size_t n;
        const char *text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
        if (!text)
                return -ENOMEM;
        if (n + 1 > VERITY_SIG_MAX)
                return err_set(EFBIG, "verity signature: %zu bytes of JSON is too large", n);

        /* At least one NUL after the JSON, so the buffer is also a C string. */
        size_t size = (n + 1 + VERITY_SIG_ALIGN - 1) / VERITY_SIG_ALIGN * VERITY_SIG_ALIGN;
        char *buf = calloc(1, size);
        if (!buf)
                return -ENOMEM;
        memcpy(buf, text, n);
        *ret_buf = buf;
        *ret_size = size;
        return 0;
}

static int get_string(json_object *o, const char *key, const char **ret) {
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v))
                return err_set(EBADMSG, "verity signature: missing \"%s\"", key);
        if (!json_object_is_type(v, json_type_string))
                return err_set(EBADMSG, "verity signature: \"%s\" is not a string", key);
        const char *s = json_object_get_string(v);
        if ((size_t) json_object_get_string_len(v) != strlen(s))
                return err_set(EBADMSG, "verity signature: \"%s\" contains a NUL character", key);
        *ret = s;
        return 0;
}

int verity_sig_parse(const char *buf, size_t size, VeritySig *ret) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(verity_sig_done) VeritySig s = {};
        const char *root_hash, *fingerprint, *sig64;
        int r;

        if (size > VERITY_SIG_MAX)
                return err_set(EFBIG, "verity signature: %zu bytes, more than the %d allowed", size, VERITY_SIG_MAX);

        const char *nul = memchr(buf, 0, size);
        size_t n = nul ? (size_t) (nul - buf) : size;
        for (size_t i = n; i < size; i++)
                if (buf[i] != 0)
                        return err_set(EBADMSG, "verity signature: unexpected data after the JSON padding at offset %zu", i);
        if (n == 0)
                return err_set(EBADMSG, "verity signature: empty");

        json_tokener *tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        o = json_tokener_parse_ex(tok, buf, (int) n);
        enum json_tokener_error jerr = json_tokener_get_error(tok);
        size_t end = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        if (!o || jerr != json_tokener_success)
                return err_set(EBADMSG, "verity signature: not valid JSON: %s",
                               jerr == json_tokener_continue ? "truncated" : json_tokener_error_desc(jerr));
        for (size_t i = end; i < n; i++)
                if (!strchr(" \t\r\n", buf[i]))
                        return err_set(EBADMSG, "verity signature: trailing data after the JSON object");
        if (!json_object_is_type(o, json_type_object))
                return err_set(EBADMSG, "verity signature: JSON is not an object");
        /* json-c cuts a key at \u0000 ("rootHash\u0000x" would read as
         * rootHash); no string of this format holds a NUL, so refuse any.
         * A comment or a single-quoted string (json-c takes both) could hide
         * one from the scan, and neither is JSON. */
        JsonScan scan;
        json_scan(buf, n, &scan);
        if (scan.single_quote != SIZE_MAX)
                return err_set(EBADMSG, "verity signature: not valid JSON: single-quoted string at byte %zu",
                               scan.single_quote);
        if (scan.comment != SIZE_MAX)
                return err_set(EBADMSG, "verity signature: not valid JSON: comment at byte %zu", scan.comment);
        if (scan.nul_escape != SIZE_MAX)
                return err_set(EBADMSG, "verity signature: byte %zu: a string contains a NUL character (\\u0000)",
                               scan.nul_escape);

        r = get_string(o, "rootHash", &root_hash);
        if (r < 0)
                return r;
        r = get_string(o, "certificateFingerprint", &fingerprint);
        if (r < 0)
                return r;
        r = get_string(o, "signature", &sig64);
        if (r < 0)
                return r;

        r = check_root_hash(root_hash);
        if (r < 0)
                return r;
        r = check_fingerprint(fingerprint);
        if (r < 0)
                return r;
        r = base64_decode(sig64, strlen(sig64), &s.signature, &s.signature_size);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || s.signature_size == 0)
                return err_set(EBADMSG, "verity signature: \"signature\" is not valid base64");

        s.root_hash = strdup(root_hash);
        s.fingerprint = strdup(fingerprint);
        if (!s.root_hash || !s.fingerprint)
                return -ENOMEM;

        *ret = s;
        s = (VeritySig) {};
        return 0;
}
