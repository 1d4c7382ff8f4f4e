/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char err_buf[ERR_MAX];
static _Thread_local bool err_have;

/* The message is one line whatever a path or a peer's text in it holds: control characters become '?'. */
static void one_line(char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        *s = '?';
}

static int abs_errno(int errnum) {
        if (errnum == 0)
                return EIO;
        return errnum < 0 ? -errnum : errnum;
}

int err_set(int errnum, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(err_buf, sizeof err_buf, fmt, ap);
        va_end(ap);
        one_line(err_buf);
        err_have = true;
        return -abs_errno(errnum);
}

int err_prefix(int errnum, const char *fmt, ...) {
        char prefix[ERR_MAX], old[ERR_MAX];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(prefix, sizeof prefix, fmt, ap);
        va_end(ap);

        if (err_have)
                (void) snprintf(old, sizeof old, "%s", err_buf);
        else
                (void) snprintf(old, sizeof old, "%s", strerror(abs_errno(errnum)));
        size_t n = strlen(prefix);
        if (n > ERR_MAX - 3)
                n = ERR_MAX - 3;
        memcpy(err_buf, prefix, n);
        memcpy(err_buf + n, ": ", 2);
        (void) snprintf(err_buf + n + 2, sizeof err_buf - n - 2, "%.*s", (int) (ERR_MAX - n - 3), old);
        one_line(err_buf);
        err_have = true;
        return -abs_errno(errnum);
}

const char *err_message(int errnum) {
        if (err_have)
                return err_buf;
        return strerror(abs_errno(errnum));
}

void err_clear(void) {
        err_have = false;
        err_buf[0] = 0;
}
