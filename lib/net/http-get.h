/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

#include "net/http-fetch.h"

/*
 * Small files over HTTP(S) (the fleet channel, docs/channel.md): the whole
 * body into memory through http_fetch_start(), with its retries and TLS
 * settings. A body larger than max is refused (-EFBIG) as soon as max is
 * passed, without reading the rest. *ret is NUL-terminated; errors name
 * the URL (without credentials) and the cause.
 */
int http_get(const char *url, const HttpFetchOptions *o, size_t max, char **ret, size_t *ret_len);

#define HTTP_GET_MAX 8
/* n (at most HTTP_GET_MAX) files fetched at once, body i at most max[i] bytes: all or none.
 * ret_urls (may be NULL): each body's URL once redirects were followed (urls[i] when none were). */
int http_get_all(const char *const *urls, const size_t *max, size_t n, const HttpFetchOptions *o, char **ret,
                 size_t *ret_len, char **ret_urls);

/*
 * ref resolved against base as a browser would (RFC 3986): an absolute URL
 * stays as it is, "x.abide" or "../b/x.abide" becomes a sibling of base's
 * last path segment. -EINVAL naming ref when it cannot be resolved.
 */
int http_url_resolve(const char *base, const char *ref, char **ret);
