/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "init-cmdline.h"

#include <ctype.h>
#include <limits.h>
#include <string.h>

#include "basic/error.h"
#include "slot/kernel-cmdline.h"

/* Decimal digits only: no sign, no spaces, no suffix, at most max. */
int init_cmdline_parse_seconds(const char *key, const char *v, unsigned max, unsigned *ret) {
        unsigned long long x = 0;

        if (!*v)
                return err_set(EINVAL, "%s= is empty", key);
        for (const char *c = v; *c; c++) {
                if (*c < '0' || *c > '9')
                        return err_set(EINVAL, "%s=%s is not a number of seconds", key, v);
                x = x * 10 + (unsigned) (*c - '0');
                if (x > max)
                        return err_set(ERANGE, "%s=%s is more than %u seconds", key, v, max);
        }
        *ret = (unsigned) x;
        return 0;
}

/* 8-4-4-4-12 hex digits, any case. */
static bool is_uuid(const char *v) {
        if (strlen(v) != 36)
                return false;
        for (size_t i = 0; i < 36; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;
                if (dash ? v[i] != '-' : !isxdigit((unsigned char) v[i]))
                        return false;
        }
        return true;
}

int init_cmdline_parse(const char *cmdline, InitCmdline *ret) {
        InitCmdline c = {
                .slot = _SLOT_INVALID,
                .watchdog_sec = INIT_WATCHDOG_DEFAULT_SEC,
                .wait_sec = INIT_WAIT_DEFAULT_SEC,
        };
        const char *p = cmdline;
        int r;

        /* The slot as abidectl reads it too (lib/slot/kernel-cmdline.c). */
        r = kernel_cmdline_slot(cmdline, &c.slot);
        if (r == -ENOENT)
                return err_set(EINVAL, "no abide.slot= on the kernel command line");
        if (r < 0)
                return r;
        for (;;) {
                _cleanup_free_ char *w = NULL;
                r = kernel_cmdline_next_word(&p, &w);
                if (r < 0)
                        return r;
                if (!w || streq(w, "--"))
                        break;

                char *eq = strchr(w, '=');
                if (!eq) {
                        if (streq(w, "abide.watchdog") || streq(w, "abide.wait"))
                                return err_set(EINVAL, "%s needs a value", w);
                        continue;
                }
                *eq = 0;
                const char *key = w, *v = eq + 1;

                if (streq(key, "abide.watchdog")) {
                        r = init_cmdline_parse_seconds(key, v, INIT_WATCHDOG_MAX_SEC, &c.watchdog_sec);
                        if (r < 0)
                                return r;
                } else if (streq(key, "abide.wait")) {
                        r = init_cmdline_parse_seconds(key, v, INIT_WAIT_MAX_SEC, &c.wait_sec);
                        if (r < 0)
                                return r;
                } else if (streq(key, "abide.esp")) {
                        c.esp_invalid = !is_uuid(v);
                        c.esp_uuid[0] = 0;
                        if (!c.esp_invalid)
                                for (size_t i = 0; i <= 36; i++)
                                        c.esp_uuid[i] = (char) tolower((unsigned char) v[i]);
                }
        }

        *ret = c;
        return 0;
}
