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

/*
 * json-c's default string hash takes a random seed at its first use: from
 * getrandom(GRND_NONBLOCK), and before the kernel's random pool is ready from
 * /dev/urandom, whose read then waits while the kernel gathers entropy (1-3 s
 * under QEMU without an RNG, at every boot). abide-init and abidectl use the
 * unseeded hash instead, so that the boot and the health check never wait
 * for entropy (docs/boot.md, "Never waiting for entropy"). What the seed
 * guards against, many keys chosen to collide, needs a large unsigned
 * document: what they parse is signed, their own, or bounded (the verity
 * signature, at most 1 MiB, under the boot step's deadline). Call it before
 * any JSON is parsed; -EINVAL if json-c refuses.
 */
int json_use_unseeded_hash(void);

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
