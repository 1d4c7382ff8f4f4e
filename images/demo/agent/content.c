/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "content.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONTENT_MAX (1024 * 1024)
#define MAGIC "SENTINEL-CONTENT 1"

static const char *const variant_names[_VARIANT_MAX] = {
        [VARIANT_GOOD] = "good",
        [VARIANT_CRASH] = "crash",
        [VARIANT_PANIC] = "panic",
        [VARIANT_HANG] = "hang",
};

const char *variant_to_string(Variant v) {
        return v >= 0 && v < _VARIANT_MAX ? variant_names[v] : NULL;
}

static int variant_from_string(const char *s) {
        for (int i = 0; i < _VARIANT_MAX; i++)
                if (strcmp(variant_names[i], s) == 0)
                        return i;
        return -EINVAL;
}

static int fail(char *err, size_t errlen, int r, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int r, const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
        return r;
}

static int read_file(const char *path, char **ret, size_t *ret_size) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;

        char *buf = malloc(CONTENT_MAX + 2);
        if (!buf) {
                close(fd);
                return -ENOMEM;
        }
        size_t n = 0;
        for (;;) {
                ssize_t k = read(fd, buf + n, CONTENT_MAX + 1 - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0) {
                        int r = -errno;
                        free(buf);
                        close(fd);
                        return r;
                }
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > CONTENT_MAX) {
                        free(buf);
                        close(fd);
                        return -EFBIG;
                }
        }
        close(fd);
        buf[n] = 0;
        *ret = buf;
        *ret_size = n;
        return 0;
}

static void sha256_hex(const void *data, size_t n, char out[65]) {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned len = 0;

        if (EVP_Digest(data, n, md, &len, EVP_sha256(), NULL) != 1 || len != 32) {
                out[0] = 0;
                return;
        }
        for (unsigned i = 0; i < 32; i++)
                sprintf(out + 2 * i, "%02x", md[i]);
}

/* A body line is empty, a comment, or "rule NAME PATTERN". */
static int check_body(char *body, const char *path, unsigned first_line, unsigned *ret_rules, char *err, size_t errlen) {
        unsigned line = first_line, rules = 0;

        for (char *p = body, *nl; *p; p = nl + 1, line++) {
                nl = strchr(p, '\n');
                if (!nl)
                        return fail(err, errlen, -EBADMSG, "content %s:%u: body does not end with a newline", path, line);
                *nl = 0;
                if (*p == 0 || *p == '#')
                        continue;
                char name[64], pattern[256];
                if (sscanf(p, "rule %63s %255[^\n]", name, pattern) != 2)
                        return fail(err, errlen, -EBADMSG, "content %s:%u: not a rule line: %.40s", path, line, p);
                rules++;
        }
        if (rules == 0)
                return fail(err, errlen, -EBADMSG, "content %s: no rules in body", path);
        *ret_rules = rules;
        return 0;
}

int content_load(const char *path, Content *ret, char *err, size_t errlen) {
        char *buf = NULL;
        size_t size = 0;
        int r;

        r = read_file(path, &buf, &size);
        if (r == -EFBIG)
                return fail(err, errlen, r, "content %s: larger than %d bytes", path, CONTENT_MAX);
        if (r < 0)
                return fail(err, errlen, r, "content %s: %s", path, strerror(-r));
        if (memchr(buf, 0, size)) {
                free(buf);
                return fail(err, errlen, -EBADMSG, "content %s: contains a NUL byte", path);
        }

        Content c = { .variant = -1 };
        char want_sum[65] = "";
        unsigned line = 1;
        char *p = buf, *body = NULL;

        for (char *nl; (nl = strchr(p, '\n')); p = nl + 1, line++) {
                *nl = 0;
                if (line == 1) {
                        if (strcmp(p, MAGIC) != 0) {
                                r = fail(err, errlen, -EBADMSG, "content %s:1: not a sentinel content file (expected \"%s\")", path, MAGIC);
                                goto out;
                        }
                        continue;
                }
                if (strcmp(p, "---") == 0) {
                        body = nl + 1;
                        line++;
                        break;
                }
                char *colon = strstr(p, ": ");
                if (!colon) {
                        r = fail(err, errlen, -EBADMSG, "content %s:%u: header line is not \"key: value\"", path, line);
                        goto out;
                }
                *colon = 0;
                const char *v = colon + 2;
                if (strcmp(p, "channel") == 0) {
                        char *end;
                        errno = 0;
                        unsigned long ch = strtoul(v, &end, 10);
                        if (errno || *end || end == v || ch > 99999) {
                                r = fail(err, errlen, -EBADMSG, "content %s:%u: bad channel \"%s\"", path, line, v);
                                goto out;
                        }
                        c.channel = (unsigned) ch;
                } else if (strcmp(p, "version") == 0)
                        snprintf(c.version, sizeof c.version, "%s", v);
                else if (strcmp(p, "variant") == 0) {
                        c.variant = variant_from_string(v);
                        if (c.variant < 0) {
                                r = fail(err, errlen, -EBADMSG, "content %s:%u: unknown variant \"%s\"", path, line, v);
                                goto out;
                        }
                } else if (strcmp(p, "body-sha256") == 0) {
                        if (strlen(v) != 64 || strspn(v, "0123456789abcdef") != 64) {
                                r = fail(err, errlen, -EBADMSG, "content %s:%u: body-sha256 is not 64 lowercase hex digits", path, line);
                                goto out;
                        }
                        memcpy(want_sum, v, 65);
                } else {
                        r = fail(err, errlen, -EBADMSG, "content %s:%u: unknown header key \"%s\"", path, line, p);
                        goto out;
                }
        }

        if (!body) {
                r = fail(err, errlen, -EBADMSG, "content %s: truncated, no \"---\" line ends the header", path);
                goto out;
        }
        if (!want_sum[0] || c.variant < 0 || c.channel == 0) {
                r = fail(err, errlen, -EBADMSG, "content %s: header lacks %s", path,
                         !want_sum[0] ? "body-sha256" : c.variant < 0 ? "variant" : "channel");
                goto out;
        }

        char have_sum[65];
        sha256_hex(body, size - (size_t) (body - buf), have_sum);
        if (strcmp(have_sum, want_sum) != 0) {
                r = fail(err, errlen, -EBADMSG, "content %s: body checksum mismatch (header %.12s..., body %.12s...), refusing to load",
                         path, want_sum, have_sum);
                goto out;
        }

        r = check_body(body, path, line, &c.n_rules, err, errlen);
        if (r < 0)
                goto out;

        *ret = c;
        r = 0;
out:
        free(buf);
        return r;
}
