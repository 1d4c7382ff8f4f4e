/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "basic/json-scan.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

void json_scan(const char *json, size_t len, JsonScan *ret) {
        JsonScan s = { .nul_escape = SIZE_MAX, .single_quote = SIZE_MAX, .comment = SIZE_MAX };
        bool in_string = false;

        for (size_t i = 0; i < len; i++) {
                char c = json[i];
                if (in_string) {
                        if (c == '\\') {
                                if (s.nul_escape == SIZE_MAX && len - i >= 6 && memcmp(json + i + 1, "u0000", 5) == 0)
                                        s.nul_escape = i;
                                i++;
                        } else if (c == '"')
                                in_string = false;
                } else if (c == '"')
                        in_string = true;
                else if (c == ':')
                        s.name_separators++;
                else if (c == '\'' && s.single_quote == SIZE_MAX)
                        s.single_quote = i;
                else if (c == '/' && s.comment == SIZE_MAX)
                        s.comment = i;
        }
        *ret = s;
}
