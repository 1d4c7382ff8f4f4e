/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "kernel-cmdline.h"

#include <ctype.h>

#include "basic/error.h"

int kernel_cmdline_next_word(const char **p, char **ret) {
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

int kernel_cmdline_slot(const char *cmdline, Slot *ret) {
        Slot found = _SLOT_INVALID;
        const char *p = cmdline;

        for (;;) {
                _cleanup_free_ char *w = NULL;
                int r = kernel_cmdline_next_word(&p, &w);
                if (r < 0)
                        return r;
                if (!w || streq(w, "--"))
                        break;
                if (streq(w, "abide.slot"))
                        return err_set(EINVAL, "abide.slot needs a value");
                if (strncmp(w, "abide.slot=", 11) != 0)
                        continue;
                found = slot_from_string(w + 11);
                if (found < 0)
                        return err_set(EINVAL, "abide.slot=%s: expected a or b", w + 11);
        }
        if (found < 0)
                return -ENOENT;
        *ret = found;
        return 0;
}
