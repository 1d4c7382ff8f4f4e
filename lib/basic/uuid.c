/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "uuid.h"

#include <stdio.h>

void uuid_v4_format(const uint8_t bytes[16], char ret[UUID_STRING_MAX]) {
        const uint8_t *b = bytes;
        uint8_t v = (uint8_t) ((b[6] & 0x0f) | 0x40), r = (uint8_t) ((b[8] & 0x3f) | 0x80);

        (void) snprintf(ret, UUID_STRING_MAX, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                        b[0], b[1], b[2], b[3], b[4], b[5], v, b[7], r, b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}
