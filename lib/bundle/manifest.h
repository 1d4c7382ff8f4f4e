/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "basic/arch.h"
#include "basic/macro.h"
#include "crypto/hash.h"
#include "verity/verity.h"

#define MANIFEST_FORMAT 1
#define MANIFEST_MAX_SIZE (1024 * 1024)
#define MANIFEST_STRING_MAX 256
#define MANIFEST_CMDLINE_MAX 4096
#define MANIFEST_PAYLOADS_MAX 16

typedef enum PayloadRole {
        PAYLOAD_ROOT,
        PAYLOAD_VERITY,
        PAYLOAD_VERITY_SIG,
        PAYLOAD_KERNEL,
        PAYLOAD_INITRD,
        PAYLOAD_UKI_A,           /* signed unified kernel images, one per slot (docs/secure-boot.md) */
        PAYLOAD_UKI_B,
        _PAYLOAD_ROLE_MAX,
        _PAYLOAD_ROLE_INVALID = -EINVAL,
} PayloadRole;

const char *payload_role_to_string(PayloadRole r);
PayloadRole payload_role_from_string(const char *s);

typedef struct Payload {
        char *name;              /* bundle member name: no '/', not "." or "..", printable */
        PayloadRole role;
        uint64_t size;           /* <= INT64_MAX */
        uint8_t sha256[SHA256_DIGEST_SIZE];
} Payload;

typedef struct Manifest {
        unsigned format;         /* MANIFEST_FORMAT */
        char *name;
        char *version;
        char *compatible;
        char *build_date;        /* RFC 3339 UTC, e.g. 2024-07-19T04:09:00Z */
        uint64_t security_version;
        char *filesystem;        /* "erofs" or "squashfs" */
        Architecture architecture; /* "architecture"; absent in JSON means x86-64 */
        char *cmdline;           /* kernel command line (without abide.slot=) */
        unsigned tries;          /* boot tries for the loader's counter, 1..16 */
        VerityParams verity;
        Payload *payloads;       /* in bundle member order */
        size_t n_payloads;
} Manifest;

/*
 * Parses and validates manifest JSON. Rejects (with err_set naming the field):
 * missing fields, wrong types, unknown format versions, numbers outside
 * 0..2^63-1, oversized strings, unsafe payload names, duplicate names,
 * missing root/verity/verity-sig payloads or duplicate roles, one of
 * uki-a/uki-b without the other, bad hex,
 * unknown or duplicate keys, NUL bytes. The format is in docs/manifest.md.
 */
int manifest_parse(const char *json, size_t len, Manifest **ret);

/* The same checks on an in-memory manifest (the builder validates before signing). */
int manifest_validate(const Manifest *m);

/* build_date as seconds since the epoch (UTC); -EINVAL with the validator's message when it is not one. */
int manifest_build_epoch(const Manifest *m, time_t *ret);

/* Deterministic JSON (fixed key order, two-space indent, trailing newline). */
int manifest_to_json(const Manifest *m, char **ret, size_t *ret_len);

const Payload *manifest_find_role(const Manifest *m, PayloadRole role);

Manifest *manifest_free(Manifest *m);
DEFINE_TRIVIAL_CLEANUP_FUNC(Manifest *, manifest_free);
