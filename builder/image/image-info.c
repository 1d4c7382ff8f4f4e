/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "image-info.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "basic/error.h"
#include "image-util.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put);

static int add_string(json_object *o, const char *key, const char *value) {
        json_object *s = json_object_new_string(value);
        if (!s || json_object_object_add(o, key, s) < 0) {
                json_object_put(s);
                return -ENOMEM;
        }
        return 0;
}

int image_info_format(const Recipe *r, const char *build_id, char **ret) {
        _cleanup_(json_object_putp) json_object *o = NULL;
        const struct { const char *key, *value; } fields[] = {
                { "name", r->name },
                { "version", r->version },
                { "compatible", r->compatible },
        };

        if (!build_id || !*build_id)
                return err_set(EINVAL, "image.json: empty build id");

        o = json_object_new_object();
        if (!o || json_object_object_add(o, "format", json_object_new_int(1)) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                if (!fields[i].value || !*fields[i].value)
                        return err_set(EINVAL, "image.json: the recipe has no %s", fields[i].key);
                if (add_string(o, fields[i].key, fields[i].value) < 0)
                        return -ENOMEM;
        }
        if (json_object_object_add(o, "security_version", json_object_new_uint64(r->security_version)) < 0 ||
            add_string(o, "build_id", build_id) < 0)
                return -ENOMEM;

        const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE);
        char *text = NULL;
        if (!s || asprintf(&text, "%s\n", s) < 0)
                return -ENOMEM;
        *ret = text;
        return 0;
}

int image_write_info(const Recipe *r, const char *build_id, const char *staging) {
        _cleanup_free_ char *text = NULL;
        int k;

        k = image_info_format(r, build_id, &text);
        if (k < 0)
                return k;
        return image_write_file_below(staging, IMAGE_INFO_PATH, text, 0644);
}
