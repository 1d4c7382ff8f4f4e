/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bundle/cmdline-check.h"

#include "basic/error.h"

static bool key_is(const char *w, size_t key, const char *name) {
        return key == strlen(name) && strncmp(w, name, key) == 0;
}

/* As abide-init reads them: decimal digits only, at most max. */
static bool is_seconds(const char *v, size_t n, unsigned max) {
        unsigned long x = 0;

        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++) {
                if (v[i] < '0' || v[i] > '9')
                        return false;
                x = x * 10 + (unsigned) (v[i] - '0');
                if (x > max)
                        return false;
        }
        return true;
}

static int check_word(const char *what, const char *w, size_t n) {
        static const struct {
                const char *key;
                unsigned max;
        } seconds[] = {
                { "abide.watchdog", CMDLINE_WATCHDOG_MAX_SEC },
                { "abide.wait", CMDLINE_WAIT_MAX_SEC },
        };
        size_t key = strcspn(w, "= ");

        if (key > n)
                key = n;
        if (key_is(w, key, "abide.slot"))
                return err_set(EINVAL, "%s must not set abide.slot= (abidectl adds it)", what);
        /* The loader's word on this boot (docs/boot.md, docs/uboot.md): an image's value would stand
         * when the loader's is missing, naming a partition or a failure that is not this boot's. */
        if (key_is(w, key, "abide.esp") || key_is(w, key, "abide.unloadable"))
                return err_set(EINVAL, "%s must not set %.*s= (the boot loader adds it)", what, (int) key, w);
        for (size_t i = 0; i < ELEMENTSOF(seconds); i++)
                if (key_is(w, key, seconds[i].key) &&
                    (key == n || !is_seconds(w + key + 1, n - key - 1, seconds[i].max)))
                        return err_set(EINVAL,
                                       "%s must not set %.*s: abide-init takes %s=SECONDS, 0..%u, and would not boot",
                                       what, (int) MIN(n, (size_t) 64), w, seconds[i].key, seconds[i].max);
        if (n == 2 && strncmp(w, "--", 2) == 0)
                return err_set(EINVAL, "%s must not contain a '--' word (the kernel hands what follows it to init)",
                               what);
        return 0;
}

int cmdline_check(const char *what, const char *cmdline) {
        int r;

        if (!cmdline)
                return -EINVAL;

        /* Characters first: they decide how the words split. */
        for (const char *c = cmdline; *c; c++) {
                unsigned char u = (unsigned char) *c;
                if (u < 0x20 || u == 0x7f)
                        return err_set(EINVAL, "%s must not contain control character 0x%02x", what, u);
                if (u > 0x7f)
                        return err_set(EINVAL, "%s must not contain non-ASCII byte 0x%02x", what, u);
                if (u == '"' || u == '\'')
                        return err_set(EINVAL, "%s must not contain a quote character (%c)", what, u);
                if (u == '\\')
                        return err_set(EINVAL, "%s must not contain a backslash", what);
        }

        for (const char *w = cmdline; *w;) {
                if (*w == ' ') {
                        w++;
                        continue;
                }
                size_t n = strcspn(w, " ");
                r = check_word(what, w, n);
                if (r < 0)
                        return r;
                w += n;
        }
        return 0;
}

unsigned cmdline_watchdog_sec(const char *cmdline) {
        unsigned sec = CMDLINE_WATCHDOG_DEFAULT_SEC;
        static const char key[] = "abide.watchdog=";

        for (const char *w = cmdline ?: ""; *w;) {
                if (*w == ' ') {
                        w++;
                        continue;
                }
                size_t n = strcspn(w, " ");
                if (n > strlen(key) && strncmp(w, key, strlen(key)) == 0) {
                        unsigned long x = 0;
                        for (size_t i = strlen(key); i < n && x <= CMDLINE_WATCHDOG_MAX_SEC; i++)
                                x = x * 10 + (unsigned) (w[i] - '0');
                        sec = (unsigned) MIN(x, (unsigned long) CMDLINE_WATCHDOG_MAX_SEC);
                }
                w += n;
        }
        return sec;
}
