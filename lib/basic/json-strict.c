/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "json-strict.h"

#include <string.h>

#include "basic/error.h"

int json_use_unseeded_hash(void) {
        return json_global_set_string_hash(JSON_C_STR_HASH_PERLLIKE) < 0 ? -EINVAL : 0;
}

void json_object_putp(json_object **o) {
        if (*o)
                json_object_put(*o);
}

void json_tokener_freep(json_tokener **t) {
        if (*t)
                json_tokener_free(*t);
}

size_t json_strict_count_members(json_object *o) {
        size_t n = 0;

        if (json_object_is_type(o, json_type_object)) {
                json_object_object_foreach(o, key, val) {
                        (void) key;
                        n += 1 + json_strict_count_members(val);
                }
        } else if (json_object_is_type(o, json_type_array))
                for (size_t i = 0; i < json_object_array_length(o); i++)
                        n += json_strict_count_members(json_object_array_get_idx(o, i));
        return n;
}

int json_strict_check_keys(const char *doc, json_object *o, const char *prefix, const char *const *allowed) {
        json_object_object_foreach(o, key, val) {
                bool ok = false;
                (void) val;
                for (const char *const *a = allowed; *a; a++)
                        if (streq(*a, key)) {
                                ok = true;
                                break;
                        }
                if (!ok)
                        return err_set(EINVAL, "%s: %s%.64s: unknown key", doc, prefix, key);
        }
        return 0;
}

int json_strict_get_member(const char *doc, json_object *o, const char *prefix, const char *key, json_type type,
                           const char *what, json_object **ret) {
        json_object *v = NULL;

        if (!json_object_object_get_ex(o, key, &v))
                return err_set(EINVAL, "%s: %s%s: missing", doc, prefix, key);
        if (!json_object_is_type(v, type))
                return err_set(EINVAL, "%s: %s%s: not %s", doc, prefix, key, what);
        *ret = v;
        return 0;
}

int json_strict_get_u63(const char *doc, json_object *o, const char *prefix, const char *key, uint64_t *ret) {
        json_object *v = NULL;

        /* json-c stores integers as int64 or uint64 and clamps on access:
         * read both views to spot negative values and values past INT64_MAX
         * (2^64 and beyond arrive as UINT64_MAX). Doubles are not integers. */
        if (!json_object_object_get_ex(o, key, &v))
                return err_set(EINVAL, "%s: %s%s: missing", doc, prefix, key);
        if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0 ||
            json_object_get_uint64(v) > INT64_MAX)
                return err_set(EINVAL, "%s: %s%s: not an integer in 0..2^63-1", doc, prefix, key);
        *ret = json_object_get_uint64(v);
        return 0;
}

int json_strict_get_string(const char *doc, json_object *o, const char *prefix, const char *key, size_t max,
                           char **ret) {
        json_object *v = NULL;
        int r;

        r = json_strict_get_member(doc, o, prefix, key, json_type_string, "a string", &v);
        if (r < 0)
                return r;
        const char *s = json_object_get_string(v);
        size_t n = (size_t) json_object_get_string_len(v);
        if (memchr(s, 0, n))
                return err_set(EINVAL, "%s: %s%s: contains a NUL character", doc, prefix, key);
        if (n > max)
                return err_set(EINVAL, "%s: %s%s: longer than %zu bytes", doc, prefix, key, max);
        char *c = strdup(s);
        if (!c)
                return -ENOMEM;
        *ret = c;
        return 0;
}
