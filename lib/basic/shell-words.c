/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "shell-words.h"

#include <limits.h>

#include "error.h"

void shell_words_free(char **v) {
        if (!v)
                return;
        for (char **p = v; *p; p++)
                free(*p);
        free(v);
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\n';
}

/* Copies the word starting at *p into word (as long as the input at most), moves *p past it. */
static int word_next(const char *line, const char **p, char *word, size_t *ret_len) {
        const char *s = *p;
        size_t n = 0;

        while (*s && !is_blank(*s)) {
                if (*s == '\'') {
                        const char *end = strchr(s + 1, '\'');
                        if (!end)
                                return err_set(EINVAL, "unterminated single quote: %s", line);
                        memcpy(word + n, s + 1, (size_t) (end - s - 1));
                        n += (size_t) (end - s - 1);
                        s = end + 1;
                } else if (*s == '"') {
                        for (s++; *s != '"'; s++) {
                                if (!*s)
                                        return err_set(EINVAL, "unterminated double quote: %s", line);
                                if (*s == '\\' && s[1] == '\n')
                                        s++;
                                else if (*s == '\\' && s[1] && strchr("$`\"\\", s[1]))
                                        word[n++] = *++s;
                                else
                                        word[n++] = *s;
                        }
                        s++;
                } else if (*s == '\\') {
                        if (!s[1])
                                return err_set(EINVAL, "backslash at the end: %s", line);
                        if (s[1] != '\n')
                                word[n++] = s[1];
                        s += 2;
                } else
                        word[n++] = *s++;
        }
        *p = s;
        *ret_len = n;
        return 0;
}

int shell_words_split(const char *line, char ***ret) {
        _cleanup_(shell_words_freep) char **v = NULL;
        _cleanup_free_ char *word = malloc(strlen(line) + 1);
        const char *s = line;
        size_t n = 0, len = 0;
        int r;

        if (!word)
                return -ENOMEM;
        for (;;) {
                while (is_blank(*s))
                        s++;
                if (!*s)
                        break;
                r = word_next(line, &s, word, &len);
                if (r < 0)
                        return r;
                if (n >= INT_MAX - 1)
                        return err_set(E2BIG, "too many words");
                char **w = reallocarray(v, n + 2, sizeof *w);
                if (!w)
                        return -ENOMEM;
                v = w;
                v[n + 1] = NULL;
                if (!(v[n] = strndup(word, len)))
                        return -ENOMEM;
                n++;
        }
        if (n == 0)
                return err_set(EINVAL, "no command: '%s'", line);
        *ret = TAKE_PTR(v);
        return (int) n;
}
