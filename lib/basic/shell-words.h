/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "macro.h"

/*
 * Splits a command line from a config file into words as a POSIX shell
 * does, and does nothing else: blanks (space, tab, newline) separate words;
 * single quotes keep everything up to the next one; double quotes keep
 * everything but a backslash before $ ` " \ or a newline; a backslash
 * outside quotes keeps the next character; a backslash-newline joins lines.
 * No substitutions: $VAR, $(...), `...`, ~ and globs are words as written.
 * *ret is a NULL-terminated vector of the words, at least one; returns the
 * count. An unterminated quote, a backslash at the end, or no word at all
 * is -EINVAL, the reason and the line recorded.
 */
int shell_words_split(const char *line, char ***ret);

void shell_words_free(char **v);
static inline void shell_words_freep(char ***v) {
        shell_words_free(*v);
}
