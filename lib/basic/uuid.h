/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#define UUID_STRING_MAX 37
/* The nil UUID. As a GPT disk GUID: the factory image's mark (abide-build disk writes it, abide-init
 * gives such a disk its own UUIDs at its first boot; docs/boot.md, "A device's own UUIDs"). */
#define UUID_NIL "00000000-0000-0000-0000-000000000000"

/*
 * 16 bytes (random, or the start of a digest) as a version 4, RFC 4122
 * variant UUID, lowercase: bytes 6 and 8 get the version and variant bits,
 * as systemd does for its hash-derived IDs. The same bytes always give the
 * same string (reproducible builds derive theirs).
 */
void uuid_v4_format(const uint8_t bytes[16], char ret[UUID_STRING_MAX]);
