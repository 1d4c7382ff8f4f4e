/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "bundle/cmdline-check.h"

#include "basic/error.h"

static int check_word(const char *what, const char *w, size_t n) {
        size_t key = strcspn(w, "= ");

        if (key > n)
                key = n;
        if (key == strlen("abide.slot") && strncmp(w, "abide.slot", key) == 0)
                return err_set(EINVAL, "%s must not set abide.slot= (abidectl adds it)", what);
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
