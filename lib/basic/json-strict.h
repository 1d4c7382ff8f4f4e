/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

/*
 * Strict reading of signed JSON documents (the manifest, the channel): what
 * the format does not define is an error, never skipped, so a verifier and a
 * later reader cannot disagree on what was signed. doc names the document in
 * the errors ("manifest: payloads[0].size: missing"); prefix is the path of
 * the object read ("payloads[0].", or "").
 */

void json_object_putp(json_object **o);
void json_tokener_freep(json_tokener **t);

/* Members of objects, recursively (a bound on the document's size). */
size_t json_strict_count_members(json_object *o);
/* Every key of o is one of allowed (NULL-terminated). */
int json_strict_check_keys(const char *doc, json_object *o, const char *prefix, const char *const *allowed);
int json_strict_get_member(const char *doc, json_object *o, const char *prefix, const char *key, json_type type,
                           const char *what, json_object **ret);
/* An integer in 0..2^63-1 (json-c clamps on access: both views are read). */
int json_strict_get_u63(const char *doc, json_object *o, const char *prefix, const char *key, uint64_t *ret);
/* A string without NUL of at most max bytes, copied. */
int json_strict_get_string(const char *doc, json_object *o, const char *prefix, const char *key, size_t max,
                           char **ret);
