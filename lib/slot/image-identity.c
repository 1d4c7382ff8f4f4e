/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "image-identity.h"

#include <json-c/json.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/json-scan.h"

#define IMAGE_INFO_MAX (64 * 1024)

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put);

void image_identity_done(ImageIdentity *i) {
        if (!i)
                return;
        free(i->name);
        free(i->version);
        free(i->compatible);
        *i = (ImageIdentity) {};
}

static int get_string(json_object *o, const char *key, char **ret) {
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return err_set(EBADMSG, "image.json: '%s' missing or not a string", key);
        const char *s = json_object_get_string(v);
        if (!*s || strlen(s) != (size_t) json_object_get_string_len(v))
                return err_set(EBADMSG, "image.json: '%s' is empty or holds a NUL byte", key);
        char *copy = strdup(s);
        if (!copy)
                return -ENOMEM;
        *ret = copy;
        return 0;
}

int image_identity_parse(const char *json, size_t len, ImageIdentity *ret) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        _cleanup_(image_identity_done) ImageIdentity id = {};
        json_tokener *tok;
        json_object *v;
        int r;

        if (len > IMAGE_INFO_MAX)
                return err_set(EBADMSG, "image.json: larger than %d bytes", IMAGE_INFO_MAX);
        /* json-c cuts keys at \u0000 and takes comments: "compatible\u0000x" would read as "compatible". */
        JsonScan scan;
        json_scan(json, len, &scan);
        if (scan.nul_escape != SIZE_MAX)
                return err_set(EBADMSG, "image.json: byte %zu: a string contains a NUL character (\\u0000)", scan.nul_escape);
        if (scan.single_quote != SIZE_MAX || scan.comment != SIZE_MAX)
                return err_set(EBADMSG, "image.json: not valid JSON: %s at byte %zu",
                               scan.comment != SIZE_MAX ? "comment" : "single-quoted string", MIN(scan.comment, scan.single_quote));
        tok = json_tokener_new();
        if (!tok)
                return -ENOMEM;
        o = json_tokener_parse_ex(tok, json, (int) len);
        enum json_tokener_error jerr = json_tokener_get_error(tok);
        size_t end = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        if (!o || jerr != json_tokener_success)
                return err_set(EBADMSG, "image.json: not valid JSON");
        /* Nothing but whitespace after the object. */
        for (; end < len; end++)
                if (!strchr(" \t\r\n", json[end]) || json[end] == 0)
                        return err_set(EBADMSG, "image.json: not valid JSON (trailing data)");
        if (!json_object_is_type(o, json_type_object))
                return err_set(EBADMSG, "image.json: not a JSON object");

        if (!json_object_object_get_ex(o, "format", &v) || !json_object_is_type(v, json_type_int) ||
            json_object_get_int64(v) != 1)
                return err_set(EBADMSG, "image.json: 'format' missing or not 1");
        if ((r = get_string(o, "name", &id.name)) < 0 ||
            (r = get_string(o, "version", &id.version)) < 0 ||
            (r = get_string(o, "compatible", &id.compatible)) < 0)
                return r;
        if (!json_object_object_get_ex(o, "security_version", &v) || !json_object_is_type(v, json_type_int))
                return err_set(EBADMSG, "image.json: 'security_version' missing or not an integer");
        errno = 0;
        uint64_t sv = json_object_get_uint64(v);
        if (errno != 0 || json_object_get_int64(v) < 0)
                return err_set(EBADMSG, "image.json: 'security_version' out of range");
        id.security_version = sv;

        *ret = id;
        id = (ImageIdentity) {};
        return 0;
}

int image_identity_load(const char *path, ImageIdentity *ret) {
        _cleanup_free_ char *text = NULL;
        size_t len = 0;

        int r = read_full_file(path, IMAGE_INFO_MAX, &text, &len);
        if (r < 0)
                return err_set(r, "cannot read the running image's %s: %s", path, strerror(-r));
        r = image_identity_parse(text, len, ret);
        if (r < 0)
                return err_prefix(r, "%s", path);
        return 0;
}
