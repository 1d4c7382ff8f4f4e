/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * What a lexical pass over JSON text sees that json-c 0.16 does not report:
 *  - json-c cuts object keys at a "\u0000" escape ("root\u0000x" becomes
 *    "root") and stores string values with the NUL inside;
 *  - it keeps only the last of duplicate keys; comparing the members it kept
 *    with the name separators in the text finds them;
 *  - it takes single-quoted strings even in strict mode, and comments
 *    outside strict mode; a NUL escape inside either is not seen here.
 * A backslash escapes the next character, so "\\u0000" is a backslash and
 * the text u0000, not a NUL. Pure; the caller words the error.
 */
typedef struct JsonScan {
        size_t name_separators; /* ':' outside strings: one per object member in valid JSON */
        size_t nul_escape;      /* offset of the first "\u0000" escape in a string, or SIZE_MAX */
        size_t single_quote;    /* offset of the first ' outside strings, or SIZE_MAX */
        size_t comment;         /* offset of the first / outside strings (a comment to json-c), or SIZE_MAX */
} JsonScan;

void json_scan(const char *json, size_t len, JsonScan *ret);
