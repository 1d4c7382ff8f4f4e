/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/json-scan.h"
#include "basic/json-strict.h"
#include "bundle/manifest.h"

/* The manifest is signed, so anything the format does not define is an
 * error rather than something to skip: a verifier and a later reader must
 * never disagree on what was signed. */

/* Reads a string of exactly len lowercase hex digits into out (len/2 bytes). */
static int get_hex(json_object *o, const char *prefix, const char *key, size_t len, uint8_t *out) {
        _cleanup_free_ char *s = NULL;
        _cleanup_free_ uint8_t *bytes = NULL;
        size_t n = 0;
        int r;

        r = json_strict_get_string("manifest", o, prefix, key, MANIFEST_STRING_MAX, &s);
        if (r < 0)
                return r;
        bool ok = strlen(s) == len;
        for (size_t i = 0; ok && i < len; i++)
                ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f');
        if (!ok)
                return err_set(EINVAL, "manifest: %s%s: not %zu lowercase hex digits", prefix, key, len);
        r = hex_decode(s, len, &bytes, &n);
        if (r < 0 || n != len / 2)
                return err_set(EINVAL, "manifest: %s%s: not %zu lowercase hex digits", prefix, key, len);
        memcpy(out, bytes, n);
        return 0;
}

/* Copies a string into a fixed array, rejecting any that would not fit. */
static int get_fixed(json_object *o, const char *prefix, const char *key, char *out, size_t size) {
        _cleanup_free_ char *s = NULL;
        int r;

        r = json_strict_get_string("manifest", o, prefix, key, MANIFEST_STRING_MAX, &s);
        if (r < 0)
                return r;
        if (strlen(s) >= size)
                return err_set(EINVAL, "manifest: %s%s: longer than %zu bytes", prefix, key, size - 1);
        strcpy(out, s);
        return 0;
}

static int parse_boot(json_object *o, Manifest *m) {
        static const char *const keys[] = { "cmdline", "tries", NULL };
        uint64_t u;
        int r;

        r = json_strict_check_keys("manifest", o, "boot.", keys);
        if (r < 0)
                return r;
        r = json_strict_get_string("manifest", o, "boot.", "cmdline", MANIFEST_CMDLINE_MAX, &m->cmdline);
        if (r < 0)
                return r;
        json_object *v = NULL;
        if (!json_object_object_get_ex(o, "tries", &v))
                return err_set(EINVAL, "manifest: boot.tries: missing");
        r = json_strict_get_u63("manifest", o, "boot.", "tries", &u);
        if (r < 0 || u < 1 || u > 16)
                return err_set(EINVAL, "manifest: boot.tries: not an integer in 1..16");
        m->tries = (unsigned) u;
        return 0;
}

static int parse_verity(json_object *o, VerityParams *v) {
        static const char *const keys[] = { "hash_algorithm", "data_block_size", "hash_block_size", "data_blocks",
                                            "salt", "uuid", "root_hash", NULL };
        const char *p = "verity.";
        uint64_t u;
        int r;

        r = json_strict_check_keys("manifest", o, p, keys);
        if (r < 0)
                return r;
        r = get_fixed(o, p, "hash_algorithm", v->hash_algorithm, sizeof v->hash_algorithm);
        if (r < 0)
                return r;
        /* Checked here, before narrowing to 32 bits. */
        r = json_strict_get_u63("manifest", o, p, "data_block_size", &u);
        if (r < 0)
                return r;
        if (u != VERITY_BLOCK_SIZE)
                return err_set(EINVAL, "manifest: verity.data_block_size: must be %d", VERITY_BLOCK_SIZE);
        v->data_block_size = (uint32_t) u;
        r = json_strict_get_u63("manifest", o, p, "hash_block_size", &u);
        if (r < 0)
                return r;
        if (u != VERITY_BLOCK_SIZE)
                return err_set(EINVAL, "manifest: verity.hash_block_size: must be %d", VERITY_BLOCK_SIZE);
        v->hash_block_size = (uint32_t) u;
        r = json_strict_get_u63("manifest", o, p, "data_blocks", &v->data_blocks);
        if (r < 0)
                return r;
        r = get_hex(o, p, "salt", VERITY_SALT_SIZE * 2, v->salt);
        if (r < 0)
                return r;
        v->salt_size = VERITY_SALT_SIZE;
        r = get_fixed(o, p, "uuid", v->uuid, sizeof v->uuid);
        if (r < 0)
                return r;
        return get_fixed(o, p, "root_hash", v->root_hash, sizeof v->root_hash);
}

static int parse_payload(json_object *o, size_t i, Payload *pl) {
        static const char *const keys[] = { "name", "role", "size", "sha256", NULL };
        _cleanup_free_ char *role = NULL;
        char p[32];
        int r;

        (void) snprintf(p, sizeof p, "payloads[%zu].", i);
        if (!json_object_is_type(o, json_type_object))
                return err_set(EINVAL, "manifest: payloads[%zu]: not an object", i);
        r = json_strict_check_keys("manifest", o, p, keys);
        if (r < 0)
                return r;
        r = json_strict_get_string("manifest", o, p, "name", MANIFEST_STRING_MAX, &pl->name);
        if (r < 0)
                return r;
        r = json_strict_get_string("manifest", o, p, "role", MANIFEST_STRING_MAX, &role);
        if (r < 0)
                return r;
        pl->role = payload_role_from_string(role);
        if (pl->role < 0)
                return err_set(EINVAL, "manifest: %srole: unknown role '%.64s'", p, role);
        r = json_strict_get_u63("manifest", o, p, "size", &pl->size);
        if (r < 0)
                return r;
        return get_hex(o, p, "sha256", SHA256_DIGEST_SIZE * 2, pl->sha256);
}

static int parse_object(json_object *root, Manifest *m) {
        static const char *const keys[] = { "format",     "name",     "version", "compatible", "build_date",
                                            "security_version", "filesystem", "architecture", "boot", "verity", "payloads",
                                            NULL };
        json_object *v = NULL;
        uint64_t u;
        int r;

        /* The format comes first: a future format may use other keys. */
        r = json_strict_get_u63("manifest", root, "", "format", &u);
        if (r < 0)
                return r;
        if (u != MANIFEST_FORMAT)
                return err_set(EPROTONOSUPPORT, "manifest: format: unsupported version %" PRIu64 " (expected %d)",
                               u, MANIFEST_FORMAT);
        m->format = (unsigned) u;

        r = json_strict_check_keys("manifest", root, "", keys);
        if (r < 0)
                return r;
        r = json_strict_get_string("manifest", root, "", "name", MANIFEST_STRING_MAX, &m->name);
        if (r < 0)
                return r;
        r = json_strict_get_string("manifest", root, "", "version", MANIFEST_STRING_MAX, &m->version);
        if (r < 0)
                return r;
        r = json_strict_get_string("manifest", root, "", "compatible", MANIFEST_STRING_MAX, &m->compatible);
        if (r < 0)
                return r;
        r = json_strict_get_string("manifest", root, "", "build_date", MANIFEST_STRING_MAX, &m->build_date);
        if (r < 0)
                return r;
        r = json_strict_get_u63("manifest", root, "", "security_version", &m->security_version);
        if (r < 0)
                return r;
        r = json_strict_get_string("manifest", root, "", "filesystem", MANIFEST_STRING_MAX, &m->filesystem);
        if (r < 0)
                return r;
        if (json_object_object_get_ex(root, "architecture", NULL)) {
                _cleanup_free_ char *arch = NULL;
                r = json_strict_get_string("manifest", root, "", "architecture", MANIFEST_STRING_MAX, &arch);
                if (r < 0)
                        return r;
                m->architecture = architecture_from_string(arch);
                if (m->architecture < 0)
                        return err_set(EINVAL, "manifest: architecture: unknown architecture '%.64s'", arch);
        } else
                m->architecture = ARCH_X86_64;

        r = json_strict_get_member("manifest", root, "", "boot", json_type_object, "an object", &v);
        if (r < 0)
                return r;
        r = parse_boot(v, m);
        if (r < 0)
                return r;

        r = json_strict_get_member("manifest", root, "", "verity", json_type_object, "an object", &v);
        if (r < 0)
                return r;
        r = parse_verity(v, &m->verity);
        if (r < 0)
                return r;

        r = json_strict_get_member("manifest", root, "", "payloads", json_type_array, "an array", &v);
        if (r < 0)
                return r;
        size_t n = json_object_array_length(v);
        if (n > MANIFEST_PAYLOADS_MAX)
                return err_set(E2BIG, "manifest: payloads: more than %d entries", MANIFEST_PAYLOADS_MAX);
        m->payloads = calloc(n ? n : 1, sizeof *m->payloads);
        if (!m->payloads)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                m->n_payloads = i + 1;
                r = parse_payload(json_object_array_get_idx(v, i), i, &m->payloads[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

int manifest_parse(const char *json, size_t len, Manifest **ret) {
        _cleanup_(json_tokener_freep) json_tokener *tok = NULL;
        _cleanup_(json_object_putp) json_object *root = NULL;
        _cleanup_(manifest_freep) Manifest *m = NULL;
        int r;

        if (!json)
                return -EINVAL;
        if (len > MANIFEST_MAX_SIZE)
                return err_set(EFBIG, "manifest: larger than %d bytes", MANIFEST_MAX_SIZE);
        if (memchr(json, 0, len))
                return err_set(EINVAL, "manifest: contains a NUL byte");

        /* Only an object can be a manifest; checking first also spares us
         * json-c's wait for a delimiter after a top-level number or literal. */
        size_t first = 0;
        while (first < len && strchr(" \t\r\n", json[first]))
                first++;
        if (first < len && json[first] != '{')
                return err_set(EINVAL, "manifest: not a JSON object");

        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        root = json_tokener_parse_ex(tok, json, (int) len);
        enum json_tokener_error e = json_tokener_get_error(tok);
        if (!root) {
                if (e == json_tokener_continue)
                        return err_set(EINVAL, "manifest: not valid JSON: unexpected end of input");
                return err_set(EINVAL, "manifest: not valid JSON at byte %zu: %s", json_tokener_get_parse_end(tok),
                               json_tokener_error_desc(e));
        }
        for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
                if (!strchr(" \t\r\n", json[i]))
                        return err_set(EINVAL, "manifest: not valid JSON: trailing data at byte %zu", i);
        if (!json_object_is_type(root, json_type_object))
                return err_set(EINVAL, "manifest: not a JSON object");
        /* json-c takes single-quoted strings even in strict mode, cuts keys
         * at \u0000 and keeps only the last of duplicate keys, where other
         * JSON readers may keep the first: see json_scan(). */
        JsonScan scan;
        json_scan(json, len, &scan);
        if (scan.single_quote != SIZE_MAX)
                return err_set(EINVAL, "manifest: not valid JSON at byte %zu: single-quoted string", scan.single_quote);
        if (scan.name_separators != json_strict_count_members(root))
                return err_set(EINVAL, "manifest: not valid JSON: an object has a duplicate key");

        m = calloc(1, sizeof *m);
        if (!m)
                return -ENOMEM;
        r = parse_object(root, m);
        if (r < 0)
                return r;
        /* Every string value was read above and refused a NUL naming its
         * field, so one left over sits in a key json-c cut short. */
        if (scan.nul_escape != SIZE_MAX)
                return err_set(EINVAL, "manifest: byte %zu: an object key contains a NUL character (\\u0000)",
                               scan.nul_escape);
        r = manifest_validate(m);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(m);
        return 0;
}
