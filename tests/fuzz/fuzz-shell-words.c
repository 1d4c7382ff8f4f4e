/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Agent='s word splitter (lib/basic/shell-words.c) on any line, and a round
 * trip: the words it returns, quoted back (single quotes, then double quotes
 * with backslashes), split again into the very same words. */
#include "fuzz-util.h"

#include "basic/shell-words.h"

/* 'word' with each ' as '\'' (the shell's way). */
static char *quote_single(const char *w) {
        char *q = malloc(strlen(w) * 4 + 3), *p = q;
        if (!q)
                return NULL;
        *p++ = '\'';
        for (; *w; w++)
                if (*w == '\'') {
                        memcpy(p, "'\\''", 4);
                        p += 4;
                } else
                        *p++ = *w;
        *p++ = '\'';
        *p = 0;
        return q;
}

/* "word" with $ ` " \ escaped. */
static char *quote_double(const char *w) {
        char *q = malloc(strlen(w) * 2 + 3), *p = q;
        if (!q)
                return NULL;
        *p++ = '"';
        for (; *w; w++) {
                if (strchr("$`\"\\", *w))
                        *p++ = '\\';
                *p++ = *w;
        }
        *p++ = '"';
        *p = 0;
        return q;
}

static void round_trip(char **words, int n, char *(*quote)(const char *)) {
        size_t len = 1;
        for (int i = 0; i < n; i++)
                len += strlen(words[i]) * 4 + 3;
        _cleanup_free_ char *line = malloc(len);
        FUZZ_ASSERT(line);
        line[0] = 0;
        for (int i = 0; i < n; i++) {
                _cleanup_free_ char *q = quote(words[i]);
                FUZZ_ASSERT(q);
                if (i > 0)
                        strcat(line, " ");
                strcat(line, q);
        }
        _cleanup_(shell_words_freep) char **again = NULL;
        FUZZ_ASSERT(shell_words_split(line, &again) == n);
        for (int i = 0; i < n; i++)
                FUZZ_ASSERT(streq(words[i], again[i]));
        FUZZ_ASSERT(!again[n]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size > 4096)
                return 0;
        _cleanup_free_ char *s = fuzz_strndup(data, size);
        _cleanup_(shell_words_freep) char **words = NULL;
        if (!s)
                return 0;

        int n = shell_words_split(s, &words);
        if (n < 0)
                return 0;
        FUZZ_ASSERT(n >= 1 && words);
        for (int i = 0; i < n; i++)
                FUZZ_ASSERT(words[i] && strlen(words[i]) <= size);
        FUZZ_ASSERT(!words[n]);
        round_trip(words, n, quote_single);
        round_trip(words, n, quote_double);
        return 0;
}
