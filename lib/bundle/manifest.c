/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bundle/manifest.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "bundle/cmdline-check.h"

static const char *const role_names[_PAYLOAD_ROLE_MAX] = {
        [PAYLOAD_ROOT] = "root",
        [PAYLOAD_VERITY] = "verity",
        [PAYLOAD_VERITY_SIG] = "verity-sig",
        [PAYLOAD_KERNEL] = "kernel",
        [PAYLOAD_INITRD] = "initrd",
        [PAYLOAD_UKI_A] = "uki-a",
        [PAYLOAD_UKI_B] = "uki-b",
};

const char *payload_role_to_string(PayloadRole r) {
        if (r < 0 || r >= _PAYLOAD_ROLE_MAX)
                return NULL;
        return role_names[r];
}

PayloadRole payload_role_from_string(const char *s) {
        if (!s)
                return _PAYLOAD_ROLE_INVALID;
        for (PayloadRole r = 0; r < _PAYLOAD_ROLE_MAX; r++)
                if (streq(role_names[r], s))
                        return r;
        return _PAYLOAD_ROLE_INVALID;
}

Manifest *manifest_free(Manifest *m) {
        if (!m)
                return NULL;
        free(m->name);
        free(m->version);
        free(m->compatible);
        free(m->build_date);
        free(m->filesystem);
        free(m->cmdline);
        for (size_t i = 0; i < m->n_payloads; i++)
                free(m->payloads[i].name);
        free(m->payloads);
        free(m);
        return NULL;
}

const Payload *manifest_find_role(const Manifest *m, PayloadRole role) {
        if (!m)
                return NULL;
        for (size_t i = 0; i < m->n_payloads; i++)
                if (m->payloads[i].role == role)
                        return &m->payloads[i];
        return NULL;
}

/* Names, versions and compatible strings end up in file names and boot
 * entries, so they are limited to a set that is safe everywhere. */
static bool is_safe_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               strchr("._+~-", c);
}

static bool is_alnum(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_lower_hex(const char *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

static int check_word(const char *field, const char *s, bool alnum_first) {
        if (!s)
                return err_set(EINVAL, "manifest: %s: missing", field);
        size_t n = strlen(s);
        if (n == 0)
                return err_set(EINVAL, "manifest: %s: empty", field);
        if (n > MANIFEST_STRING_MAX)
                return err_set(EINVAL, "manifest: %s: longer than %d bytes", field, MANIFEST_STRING_MAX);
        for (size_t i = 0; i < n; i++)
                if (!is_safe_char(s[i]))
                        return err_set(EINVAL, "manifest: %s: character 0x%02x outside [A-Za-z0-9._+~-]",
                                       field, (unsigned char) s[i]);
        if (alnum_first && !is_alnum(s[0]))
                return err_set(EINVAL, "manifest: %s: must start with a letter or digit", field);
        return 0;
}

static int check_build_date(const char *s, time_t *ret) {
        /* Exactly YYYY-MM-DDTHH:MM:SSZ: one spelling per instant keeps the
         * manifest canonical. */
        static const char pattern[] = "dddd-dd-ddTdd:dd:ddZ";
        struct tm tm = {}, back = {};

        if (!s)
                return err_set(EINVAL, "manifest: build_date: missing");
        if (strlen(s) != strlen(pattern))
                goto bad;
        for (size_t i = 0; pattern[i]; i++)
                if (pattern[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != pattern[i])
                        goto bad;
        const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
        if (!end || *end)
                goto bad;
        struct tm copy = tm;
        time_t t = timegm(&copy);
        if (t == (time_t) -1 || !gmtime_r(&t, &back) || back.tm_year != tm.tm_year ||
            back.tm_mon != tm.tm_mon || back.tm_mday != tm.tm_mday || back.tm_hour != tm.tm_hour ||
            back.tm_min != tm.tm_min || back.tm_sec != tm.tm_sec)
                goto bad;
        if (ret)
                *ret = t;
        return 0;
bad:
        return err_set(EINVAL, "manifest: build_date: not an RFC 3339 UTC time (YYYY-MM-DDTHH:MM:SSZ)");
}

static int check_uuid(const char *s) {
        static const char pattern[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";

        if (strnlen(s, 37) != 36)
                goto bad;
        for (size_t i = 0; pattern[i]; i++)
                if (pattern[i] == 'x' ? !is_lower_hex(s + i, 1) : s[i] != '-')
                        goto bad;
        return 0;
bad:
        return err_set(EINVAL, "manifest: verity.uuid: not a lowercase UUID");
}

/* A payload name becomes a tar member name and, on the device, may become a
 * file name: it must never address anything outside its directory. */
static int check_payload_name(size_t i, const char *s) {
        char field[64];

        (void) snprintf(field, sizeof field, "payloads[%zu].name", i);
        if (!s)
                return err_set(EINVAL, "manifest: %s: missing", field);
        if (s[0] == 0)
                return err_set(EINVAL, "manifest: %s: empty", field);
        if (strchr(s, '/'))
                return err_set(EINVAL, "manifest: %s: '%.64s' contains '/'", field, s);
        if (s[0] == '.')
                return err_set(EINVAL, "manifest: %s: '%.64s' starts with '.'", field, s);
        if (streq(s, "manifest.json") || streq(s, "manifest.json.sig"))
                return err_set(EINVAL, "manifest: %s: '%s' is reserved", field, s);
        return check_word(field, s, false);
}

int manifest_validate(const Manifest *m) {
        bool seen_role[_PAYLOAD_ROLE_MAX] = {};
        int r;

        if (!m)
                return -EINVAL;
        if (m->format != MANIFEST_FORMAT)
                return err_set(EPROTONOSUPPORT, "manifest: format: unsupported version %u (expected %d)",
                               m->format, MANIFEST_FORMAT);
        r = check_word("name", m->name, true);
        if (r < 0)
                return r;
        r = check_word("version", m->version, true);
        if (r < 0)
                return r;
        r = check_word("compatible", m->compatible, true);
        if (r < 0)
                return r;
        r = check_build_date(m->build_date, NULL);
        if (r < 0)
                return r;
        if (m->security_version > INT64_MAX)
                return err_set(EINVAL, "manifest: security_version: not an integer in 0..2^63-1");
        if (!arch_info(m->architecture))
                return err_set(EINVAL, "manifest: architecture: unknown");
        if (!m->filesystem)
                return err_set(EINVAL, "manifest: filesystem: missing");
        if (!streq(m->filesystem, "erofs") && !streq(m->filesystem, "squashfs"))
                return err_set(EINVAL, "manifest: filesystem: '%.64s' is neither erofs nor squashfs", m->filesystem);

        if (!m->cmdline)
                return err_set(EINVAL, "manifest: boot.cmdline: missing");
        size_t n = strlen(m->cmdline);
        if (n > MANIFEST_CMDLINE_MAX)
                return err_set(EINVAL, "manifest: boot.cmdline: longer than %d bytes", MANIFEST_CMDLINE_MAX);
        r = cmdline_check("manifest: boot.cmdline", m->cmdline);
        if (r < 0)
                return r;
        if (m->tries < 1 || m->tries > 16)
                return err_set(EINVAL, "manifest: boot.tries: not an integer in 1..16");

        const VerityParams *v = &m->verity;
        if (strnlen(v->hash_algorithm, sizeof v->hash_algorithm) >= sizeof v->hash_algorithm ||
            !streq(v->hash_algorithm, "sha256"))
                return err_set(EINVAL, "manifest: verity.hash_algorithm: only sha256 is supported");
        if (v->data_block_size != VERITY_BLOCK_SIZE)
                return err_set(EINVAL, "manifest: verity.data_block_size: must be %d", VERITY_BLOCK_SIZE);
        if (v->hash_block_size != VERITY_BLOCK_SIZE)
                return err_set(EINVAL, "manifest: verity.hash_block_size: must be %d", VERITY_BLOCK_SIZE);
        if (v->data_blocks == 0 || v->data_blocks > INT64_MAX / VERITY_BLOCK_SIZE)
                return err_set(EINVAL, "manifest: verity.data_blocks: not an integer in 1..2^51-1");
        if (v->salt_size != VERITY_SALT_SIZE)
                return err_set(EINVAL, "manifest: verity.salt: must be %d bytes", VERITY_SALT_SIZE);
        r = check_uuid(v->uuid);
        if (r < 0)
                return r;
        if (strnlen(v->root_hash, sizeof v->root_hash) != SHA256_HEX_SIZE - 1 ||
            !is_lower_hex(v->root_hash, SHA256_HEX_SIZE - 1))
                return err_set(EINVAL, "manifest: verity.root_hash: not %d lowercase hex digits",
                               SHA256_HEX_SIZE - 1);

        if (m->n_payloads > MANIFEST_PAYLOADS_MAX)
                return err_set(E2BIG, "manifest: payloads: more than %d entries", MANIFEST_PAYLOADS_MAX);
        if (m->n_payloads > 0 && !m->payloads)
                return -EINVAL;
        for (size_t i = 0; i < m->n_payloads; i++) {
                const Payload *p = &m->payloads[i];

                r = check_payload_name(i, p->name);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < i; j++)
                        if (streq(m->payloads[j].name, p->name))
                                return err_set(EINVAL, "manifest: payloads[%zu].name: duplicate name '%s'", i,
                                               p->name);
                if (p->role < 0 || p->role >= _PAYLOAD_ROLE_MAX)
                        return err_set(EINVAL, "manifest: payloads[%zu].role: invalid", i);
                if (seen_role[p->role])
                        return err_set(EINVAL, "manifest: payloads[%zu].role: duplicate role '%s'", i,
                                       payload_role_to_string(p->role));
                seen_role[p->role] = true;
                if (p->size > INT64_MAX)
                        return err_set(EINVAL, "manifest: payloads[%zu].size: not an integer in 0..2^63-1", i);
        }
        for (PayloadRole role = PAYLOAD_ROOT; role <= PAYLOAD_VERITY_SIG; role++)
                if (!seen_role[role])
                        return err_set(EINVAL, "manifest: payloads: no payload with role '%s'",
                                       payload_role_to_string(role));
        /* A slot's UKI carries its abide.slot=: a bundle serves both slots or neither. */
        if (seen_role[PAYLOAD_UKI_A] != seen_role[PAYLOAD_UKI_B])
                return err_set(EINVAL, "manifest: payloads: role '%s' without '%s'",
                               payload_role_to_string(seen_role[PAYLOAD_UKI_A] ? PAYLOAD_UKI_A : PAYLOAD_UKI_B),
                               payload_role_to_string(seen_role[PAYLOAD_UKI_A] ? PAYLOAD_UKI_B : PAYLOAD_UKI_A));

        /* dm-verity covers the whole root image, so both must agree on its size. */
        const Payload *root = manifest_find_role(m, PAYLOAD_ROOT);
        if (root->size != v->data_blocks * v->data_block_size)
                return err_set(EINVAL,
                               "manifest: verity.data_blocks: %" PRIu64 " blocks of %" PRIu32
                               " bytes do not match the root payload's size %" PRIu64,
                               v->data_blocks, v->data_block_size, root->size);
        return 0;
}

/* Wraps json-c's constructors, which return NULL only on allocation failure. */
static int add(json_object *o, const char *key, json_object *v) {
        if (!v)
                return -ENOMEM;
        if (json_object_object_add(o, key, v) < 0) {
                json_object_put(v);
                return -ENOMEM;
        }
        return 0;
}

static int add_str(json_object *o, const char *key, const char *s) {
        return add(o, key, json_object_new_string(s));
}

static int add_u63(json_object *o, const char *key, uint64_t u) {
        return add(o, key, json_object_new_int64((int64_t) u));
}

#define TRY(expr)                                                                                  \
        do {                                                                                       \
                int _r_ = (expr);                                                                  \
                if (_r_ < 0)                                                                       \
                        return _r_;                                                                \
        } while (0)

static void json_object_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}

int manifest_to_json(const Manifest *m, char **ret, size_t *ret_len) {
        _cleanup_(json_object_putp) json_object *root = NULL;
        char salt[VERITY_SALT_SIZE * 2 + 1], sha[SHA256_HEX_SIZE];
        int r;

        r = manifest_validate(m);
        if (r < 0)
                return r;

        /* json-c keeps insertion order, so the key order below is the output's. */
        root = json_object_new_object();
        if (!root)
                return -ENOMEM;
        TRY(add_u63(root, "format", m->format));
        TRY(add_str(root, "name", m->name));
        TRY(add_str(root, "version", m->version));
        TRY(add_str(root, "compatible", m->compatible));
        TRY(add_str(root, "build_date", m->build_date));
        TRY(add_u63(root, "security_version", m->security_version));
        TRY(add_str(root, "filesystem", m->filesystem));
        /* Only when not x86-64: devices whose abidectl predates the key refuse unknown keys. */
        if (m->architecture != ARCH_X86_64)
                TRY(add_str(root, "architecture", architecture_to_string(m->architecture)));

        json_object *boot = json_object_new_object();
        TRY(add(root, "boot", boot));
        TRY(add_str(boot, "cmdline", m->cmdline));
        TRY(add_u63(boot, "tries", m->tries));

        json_object *verity = json_object_new_object();
        TRY(add(root, "verity", verity));
        TRY(add_str(verity, "hash_algorithm", m->verity.hash_algorithm));
        TRY(add_u63(verity, "data_block_size", m->verity.data_block_size));
        TRY(add_u63(verity, "hash_block_size", m->verity.hash_block_size));
        TRY(add_u63(verity, "data_blocks", m->verity.data_blocks));
        hex_encode(m->verity.salt, m->verity.salt_size, salt);
        TRY(add_str(verity, "salt", salt));
        TRY(add_str(verity, "uuid", m->verity.uuid));
        TRY(add_str(verity, "root_hash", m->verity.root_hash));

        json_object *payloads = json_object_new_array();
        TRY(add(root, "payloads", payloads));
        for (size_t i = 0; i < m->n_payloads; i++) {
                const Payload *p = &m->payloads[i];
                json_object *o = json_object_new_object();
                if (!o)
                        return -ENOMEM;
                if (json_object_array_add(payloads, o) < 0) {
                        json_object_put(o);
                        return -ENOMEM;
                }
                TRY(add_str(o, "name", p->name));
                TRY(add_str(o, "role", payload_role_to_string(p->role)));
                TRY(add_u63(o, "size", p->size));
                hex_encode(p->sha256, sizeof p->sha256, sha);
                TRY(add_str(o, "sha256", sha));
        }

        size_t len = 0;
        const char *s = json_object_to_json_string_length(
                root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
        if (!s)
                return -ENOMEM;
        char *out = malloc(len + 2);
        if (!out)
                return -ENOMEM;
        memcpy(out, s, len);
        out[len] = '\n';
        out[len + 1] = 0;
        *ret = out;
        if (ret_len)
                *ret_len = len + 1;
        return 0;
}

int manifest_build_epoch(const Manifest *m, time_t *ret) {
        return check_build_date(m->build_date, ret);
}
