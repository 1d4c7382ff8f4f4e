/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "init-cmdline.h"

#include <ctype.h>
#include <limits.h>

#include "basic/error.h"

/* Reads the next word at *p into a new string, quotes removed; NULL at the end. */
static int next_word(const char **p, char **ret) {
        const char *s = *p;
        while (*s && isspace((unsigned char) *s))
                s++;
        if (!*s) {
                *p = s;
                *ret = NULL;
                return 0;
        }

        size_t len = strlen(s);
        _cleanup_free_ char *w = malloc(len + 1);
        if (!w)
                return -ENOMEM;
        size_t n = 0;
        bool quoted = false;
        for (; *s && (quoted || !isspace((unsigned char) *s)); s++) {
                if (*s == '"')
                        quoted = !quoted;
                else
                        w[n++] = *s;
        }
        if (quoted)
                return err_set(EINVAL, "unterminated quote in the kernel command line");
        w[n] = 0;
        *p = s;
        *ret = TAKE_PTR(w);
        return 0;
}

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

int init_cmdline_parse(const char *cmdline, InitCmdline *ret) {
        InitCmdline c = {
                .slot = _SLOT_INVALID,
                .watchdog_sec = INIT_WATCHDOG_DEFAULT_SEC,
                .wait_sec = INIT_WAIT_DEFAULT_SEC,
        };
        const char *p = cmdline;
        int r;

        for (;;) {
                _cleanup_free_ char *w = NULL;
                r = next_word(&p, &w);
                if (r < 0)
                        return r;
                if (!w || streq(w, "--"))
                        break;

                char *eq = strchr(w, '=');
                if (!eq) {
                        if (streq(w, "abide.slot") || streq(w, "abide.watchdog") || streq(w, "abide.wait"))
                                return err_set(EINVAL, "%s needs a value", w);
                        continue;
                }
                *eq = 0;
                const char *key = w, *v = eq + 1;

                if (streq(key, "abide.slot")) {
                        Slot s = slot_from_string(v);
                        if (s < 0)
                                return err_set(EINVAL, "abide.slot=%s: expected a or b", v);
                        c.slot = s;
                } else if (streq(key, "abide.watchdog")) {
                        r = init_cmdline_parse_seconds(key, v, INIT_WATCHDOG_MAX_SEC, &c.watchdog_sec);
                        if (r < 0)
                                return r;
                } else if (streq(key, "abide.wait")) {
                        r = init_cmdline_parse_seconds(key, v, INIT_WAIT_MAX_SEC, &c.wait_sec);
                        if (r < 0)
                                return r;
                }
        }

        if (c.slot < 0)
                return err_set(EINVAL, "no abide.slot= on the kernel command line");
        *ret = c;
        return 0;
}
