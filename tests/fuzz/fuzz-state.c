/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The state file on abide-data (writable storage, so any bytes): what
 * state_from_json_string() accepts writes back to JSON that reads back to
 * the same text and the same state, field by field. */
#include "fuzz-util.h"

#include "slot/state.h"

static void check_same(const AbideState *a, const AbideState *b) {
        for (Slot i = 0; i < _SLOT_MAX; i++) {
                const SlotRecord *x = &a->slots[i], *y = &b->slots[i];
                FUZZ_ASSERT(x->state == y->state && streq_ptr(x->version, y->version) && x->installed == y->installed &&
                            x->trial == y->trial);
                FUZZ_ASSERT(streq_ptr(x->failure.check, y->failure.check) && streq_ptr(x->failure.output, y->failure.output) &&
                            x->failure.time == y->failure.time);
                FUZZ_ASSERT(x->sv_known == y->sv_known && (!x->sv_known || x->security_version == y->security_version));
                FUZZ_ASSERT(x->fetch_known == y->fetch_known);
                if (x->fetch_known)
                        FUZZ_ASSERT(x->delta == y->delta && x->fetched == y->fetched && x->bundle_size == y->bundle_size);
        }
        const RollbackEvent *r = &a->rollback, *q = &b->rollback;
        FUZZ_ASSERT(r->valid == q->valid);
        if (r->valid)
                FUZZ_ASSERT(r->from == q->from && r->to == q->to && streq_ptr(r->version, q->version) &&
                            streq_ptr(r->reason, q->reason) && r->time == q->time && r->reported == q->reported);
        const FloorRecord *f = &a->floor, *g = &b->floor;
        FUZZ_ASSERT(f->valid == g->valid);
        if (f->valid)
                FUZZ_ASSERT(f->security_version == g->security_version && streq_ptr(f->version, g->version) &&
                            f->time == g->time);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(state_freep) AbideState *s = NULL, *s2 = NULL;
        _cleanup_free_ char *text = fuzz_strndup(data, size), *json = NULL, *json2 = NULL;

        if (!text || state_from_json_string(text, &s) < 0)
                return 0;
        FUZZ_ASSERT(state_to_json_string(s, &json) == 0);
        FUZZ_ASSERT(state_from_json_string(json, &s2) == 0);
        FUZZ_ASSERT(state_to_json_string(s2, &json2) == 0);
        FUZZ_ASSERT(streq(json, json2));
        check_same(s, s2);
        return 0;
}
