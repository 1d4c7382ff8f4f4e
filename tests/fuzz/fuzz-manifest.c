/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* manifest_parse() on any bytes; what it accepts must write back to JSON
 * that parses to the same text again (the writer is deterministic) and to
 * the same manifest, field by field. */
#include "fuzz-util.h"

#include "bundle/manifest.h"

static void check_same(const Manifest *a, const Manifest *b) {
        FUZZ_ASSERT(a->format == b->format && streq_ptr(a->name, b->name) && streq_ptr(a->version, b->version) &&
                    streq_ptr(a->compatible, b->compatible) && streq_ptr(a->build_date, b->build_date) &&
                    a->security_version == b->security_version && streq_ptr(a->filesystem, b->filesystem) &&
                    a->architecture == b->architecture && streq_ptr(a->cmdline, b->cmdline) && a->tries == b->tries);
        const VerityParams *v = &a->verity, *w = &b->verity;
        FUZZ_ASSERT(streq(v->hash_algorithm, w->hash_algorithm) && v->data_block_size == w->data_block_size &&
                    v->hash_block_size == w->hash_block_size && v->data_blocks == w->data_blocks &&
                    v->salt_size == w->salt_size && memcmp(v->salt, w->salt, v->salt_size) == 0 &&
                    streq(v->uuid, w->uuid) && streq(v->root_hash, w->root_hash));
        FUZZ_ASSERT(a->n_payloads == b->n_payloads);
        for (size_t i = 0; i < a->n_payloads; i++) {
                const Payload *p = &a->payloads[i], *q = &b->payloads[i];
                FUZZ_ASSERT(streq_ptr(p->name, q->name) && p->role == q->role && p->size == q->size &&
                            memcmp(p->sha256, q->sha256, sizeof p->sha256) == 0);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(manifest_freep) Manifest *m = NULL, *m2 = NULL;
        _cleanup_free_ char *json = NULL, *json2 = NULL;
        size_t len = 0, len2 = 0;

        if (manifest_parse((const char *) data, size, &m) < 0)
                return 0;
        FUZZ_ASSERT(manifest_validate(m) == 0);
        FUZZ_ASSERT(manifest_to_json(m, &json, &len) == 0);
        FUZZ_ASSERT(manifest_parse(json, len, &m2) == 0);
        FUZZ_ASSERT(manifest_to_json(m2, &json2, &len2) == 0);
        FUZZ_ASSERT(len == len2 && memcmp(json, json2, len) == 0);
        check_same(m, m2);
        return 0;
}
