/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The multipart/byteranges parser of delta fetches on any body: the input is
 * a boundary, a newline, then the body. Whatever the body, the parser's
 * outcome does not depend on how the body is cut into reads (at once, byte
 * by byte, in pieces the input picks), and each data callback lies within
 * the part just announced, in order. */
#include "fuzz-util.h"

#include "basic/error.h"
#include "net/http-multipart.h"
#include "net/http-policy.h"

typedef struct Trace {
        uint64_t hash;          /* FNV-1a over the events */
        unsigned parts;
        uint64_t start, end, next;
        bool in_part;
} Trace;

static void mix(Trace *t, const void *p, size_t n) {
        for (size_t i = 0; i < n; i++) {
                t->hash ^= ((const uint8_t *) p)[i];
                t->hash *= 0x100000001b3ULL;
        }
}

static int on_part(void *userdata, uint64_t start, uint64_t end, uint64_t total) {
        Trace *t = userdata;
        FUZZ_ASSERT(start <= end && end != UINT64_MAX);
        FUZZ_ASSERT(total == HTTP_SIZE_UNKNOWN || end < total);
        /* The previous part was delivered whole before this one starts. */
        FUZZ_ASSERT(!t->in_part || t->next == t->end + 1);
        t->parts++;
        t->start = start;
        t->end = end;
        t->next = start;
        t->in_part = true;
        uint64_t v[3] = { start, end, total };
        mix(t, v, sizeof v);
        /* A callback that refuses: the feed stops with its error. */
        return start == 0xdead ? -ESTALE : 0;
}

static int on_data(void *userdata, uint64_t offset, const uint8_t *p, size_t n) {
        Trace *t = userdata;
        FUZZ_ASSERT(t->in_part && n > 0 && offset == t->next && n - 1 <= t->end - offset);
        t->next += n;
        /* Not the offset: it follows from the part's start (checked above), and the calls differ with the cuts. */
        mix(t, p, n);
        return 0;
}

static const HttpMultipartCallbacks cbs = { .part = on_part, .data = on_data };

/* Feeds body in pieces: each the size the next cut byte gives (1..256), or step bytes when cuts is NULL. */
static int run(const char *boundary, const uint8_t *body, size_t n, size_t step, const uint8_t *cuts, size_t n_cuts,
               Trace *t, bool *done) {
        HttpMultipart m;
        *t = (Trace) { .hash = 0xcbf29ce484222325ULL };
        http_multipart_init(&m, boundary);
        size_t c = 0;
        for (size_t i = 0; i < n;) {
                size_t k = cuts && n_cuts ? (size_t) cuts[c++ % n_cuts] + 1 : step;
                k = MIN(k, n - i);
                int r = http_multipart_feed(&m, body + i, k, &cbs, t);
                if (r < 0) {
                        *done = false;
                        err_clear();
                        return r;
                }
                i += k;
        }
        *done = http_multipart_done(&m);
        FUZZ_ASSERT(m.parts == t->parts);
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *nl = memchr(data, '\n', MIN(size, (size_t) HTTP_BOUNDARY_MAX + 1));
        char boundary[HTTP_BOUNDARY_MAX + 1];
        if (!nl || nl == data || memchr(data, 0, (size_t) (nl - data)))
                return 0;
        memcpy(boundary, data, (size_t) (nl - data));
        boundary[nl - data] = 0;
        const uint8_t *body = nl + 1;
        size_t n = size - (size_t) (body - data);

        Trace whole, bytes, pieces;
        bool d1, d2, d3;
        int r1 = run(boundary, body, n, n ? n : 1, NULL, 0, &whole, &d1);
        int r2 = run(boundary, body, n, 1, NULL, 0, &bytes, &d2);
        /* Cut where the body itself says: its bytes read backwards as piece sizes. */
        _cleanup_free_ uint8_t *cuts = malloc(n ? n : 1);
        if (!cuts)
                return 0;
        for (size_t i = 0; i < n; i++)
                cuts[i] = body[n - 1 - i];
        int r3 = run(boundary, body, n, 0, cuts, n, &pieces, &d3);
        FUZZ_ASSERT(r1 == r2 && r2 == r3);
        FUZZ_ASSERT(d1 == d2 && d2 == d3);
        if (r1 == 0)
                FUZZ_ASSERT(whole.hash == bytes.hash && bytes.hash == pieces.hash);
        return 0;
}
