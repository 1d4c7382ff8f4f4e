/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The bundle reader's tar and manifest handling on any bytes, read from a
 * memfd as from a file. No trust store: the signature's bytes are OpenSSL's
 * business, the structure around them is ours. Every payload is read to
 * its end, where the reader checks size and SHA-256. The same bytes also go
 * through the delta path's reader (bundle_reader_open_source() and
 * bundle_reader_index(), libarchive skipping data over a source read at
 * offsets): every offset it gives must lie inside the input. */
#include "fuzz-util.h"

#include <sys/mman.h>

#include "bundle/bundle.h"

typedef struct Mem {
        const uint8_t *data;
        size_t size;
} Mem;

static int mem_read_at(void *userdata, uint64_t offset, void *buf, size_t n) {
        Mem *m = userdata;
        FUZZ_ASSERT(offset <= m->size && n <= m->size - offset);
        memcpy(buf, m->data + offset, n);
        return 0;
}

static void indexed(const uint8_t *data, size_t size) {
        _cleanup_(bundle_reader_freep) BundleReader *b = NULL;
        Mem mem = { data, size };
        BundleSource src = { .size = size, .read_at = mem_read_at, .userdata = &mem };
        uint64_t offsets[MANIFEST_PAYLOADS_MAX];

        if (bundle_reader_open_source(&src, NULL, NULL, &b) < 0)
                return;
        const Manifest *m = bundle_reader_manifest(b);
        FUZZ_ASSERT(m && manifest_validate(m) == 0);
        if (bundle_reader_index(b, offsets) < 0)
                return;
        for (size_t i = 0; i < m->n_payloads; i++)
                FUZZ_ASSERT(offsets[i] <= size && m->payloads[i].size <= size - offsets[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(bundle_reader_freep) BundleReader *b = NULL;
        _cleanup_close_ int fd = -EBADF;
        static uint8_t buf[64 * 1024];
        const Payload *p;
        int r;

        fd = memfd_create("fuzz-bundle", MFD_CLOEXEC);
        FUZZ_ASSERT(fd >= 0);
        for (size_t done = 0; done < size;) {
                ssize_t k = write(fd, data + done, size - done);
                FUZZ_ASSERT(k > 0);
                done += (size_t) k;
        }
        FUZZ_ASSERT(lseek(fd, 0, SEEK_SET) == 0);
        indexed(data, size);

        if (bundle_reader_open(fd, NULL, NULL, &b) < 0)
                return 0;
        const Manifest *m = bundle_reader_manifest(b);
        FUZZ_ASSERT(m && manifest_validate(m) == 0);
        size_t json_len = 0;
        FUZZ_ASSERT(bundle_reader_manifest_json(b, &json_len) && json_len > 0);

        size_t seen = 0;
        while ((r = bundle_reader_next(b, &p)) > 0) {
                FUZZ_ASSERT(seen < m->n_payloads && p == &m->payloads[seen]);
                uint64_t total = 0;
                ssize_t k;
                while ((k = bundle_reader_read(b, buf, sizeof buf)) > 0)
                        total += (uint64_t) k;
                if (k < 0)
                        return 0;
                /* 0 means the payload ended with its declared size and digest. */
                FUZZ_ASSERT(total == p->size);
                seen++;
        }
        if (r == 0)
                FUZZ_ASSERT(seen == m->n_payloads);
        return 0;
}
