/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "basic/macro.h"
#include "bundle/bundle.h"
#include "net/http-fetch.h"

/*
 * A bundle read at offsets for a delta install (docs/delta.md): a file or
 * block device (pread), or a URL (HTTP Range requests, each checked against
 * the size and validators of the first answer, so the bundle cannot change
 * under the install). Ranges of payload bytes come back to back; from a
 * URL, one request's ranges at a time, with the next requests on their way
 * beside it, each on a connection of its own (up to DeltaConnections=).
 */
typedef struct DeltaSource DeltaSource;

typedef struct DeltaStats {
        uint64_t fetched;       /* bytes read from the source (HTTP bodies, dropped ones included) */
        unsigned requests;      /* HTTP requests; 0 for a file */
        uint64_t size;          /* of the bundle */
        char one_range[256];    /* URL: why the server got one range a request ("" when several) */
        /* URL: the server refused a request (HTTP 503 or 429) while several were on their way: from
         * then on lowered_to at once at the most (0: never lowered). */
        unsigned lowered_to, lowered_from;
        long lowered_status;
} DeltaStats;

/* Asks for the first bytes: -EOPNOTSUPP when the server does not answer Range requests (use the stream).
 * connections: requests on their way at once at the most, 1 to 16 (DeltaConnections=). */
int delta_source_open_url(const char *url, const HttpFetchOptions *o, unsigned connections, DeltaSource **ret);
int delta_source_open_file(const char *path, DeltaSource **ret);
const BundleSource *delta_source_bundle(DeltaSource *s);
const char *delta_source_display(DeltaSource *s);
bool delta_source_is_url(DeltaSource *s);
int delta_source_read_at(DeltaSource *s, uint64_t offset, void *buf, size_t n);
/* Whether delta_source_read_at() of these bytes is answered from memory (the head, what was fetched ahead). */
bool delta_source_holds(DeltaSource *s, uint64_t offset, uint64_t n);
/* Then exactly the sum of the ranges' lengths through ranges_read, in order. */
int delta_source_ranges_begin(DeltaSource *s, const HttpByteRange *ranges, size_t n);
int delta_source_ranges_read(DeltaSource *s, void *buf, size_t n);
int delta_source_ranges_end(DeltaSource *s);
/*
 * A URL: fetches the ranges (in increasing order, not overlapping, at most
 * 8 MiB in all) as delta_source_ranges_begin() does, several in one request,
 * and keeps them; a later delta_source_read_at() that lies wholly inside
 * one of them is answered from memory. The bytes are the bundle's as any
 * other request's (the same validators), checked by whatever reads them.
 * A file: nothing to do. Once per source.
 */
int delta_source_prefetch(DeltaSource *s, const HttpByteRange *ranges, size_t n);
void delta_source_stats(DeltaSource *s, DeltaStats *ret);
DeltaSource *delta_source_free(DeltaSource *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(DeltaSource *, delta_source_free);
