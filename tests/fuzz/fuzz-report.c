/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A stored report, any bytes: what devices uploaded to the endpoint
 * (abide-build channel watch reads them) and what the device's spool holds
 * after a power cut. What report_record_parse() accepts is written again by
 * report_event_to_json() to a report that parses to the same record; the
 * spool's file names and the ids parse only as they are formatted. */
#include <inttypes.h>
#include <stdio.h>

#include "fuzz-util.h"

#include "basic/error.h"
#include "report/report-event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(report_record_done) ReportRecord rec = { .type = _REPORT_EVENT_INVALID, .slot = _SLOT_INVALID },
                                                    rec2 = { .type = _REPORT_EVENT_INVALID, .slot = _SLOT_INVALID };
        _cleanup_free_ char *text = fuzz_strndup(data, size), *json = NULL;
        size_t len;

        if (!text)
                return 0;

        /* A spool file's name: one of ours formats back to itself but for the sequence number's zeros. */
        uint64_t seq;
        ReportEventType type;
        if (report_spool_name_parse(text, &seq, &type) == 0) {
                char name[REPORT_SPOOL_NAME_MAX];
                FUZZ_ASSERT(type >= 0 && type < _REPORT_EVENT_MAX);
                report_spool_name_format(seq, type, name);
                uint64_t seq2;
                ReportEventType type2;
                FUZZ_ASSERT(report_spool_name_parse(name, &seq2, &type2) == 0 && seq2 == seq && type2 == type);
        }
        /* An id: its machine-id is one, and the id names it. */
        if (report_id_parse(text, NULL, &seq) == 0) {
                const char *dash = strrchr(text, '-');
                FUZZ_ASSERT(dash && strlen(dash + 1) == 8);
        }
        err_clear();

        if (report_record_parse((const char *) data, size, &rec) < 0) {
                err_clear();
                return 0;
        }
        FUZZ_ASSERT(rec.type >= 0 && rec.type < _REPORT_EVENT_MAX);
        FUZZ_ASSERT(report_machine_id_valid(rec.machine_id));
        FUZZ_ASSERT(report_id_parse(rec.id, rec.machine_id, &seq) == 0 && seq == rec.seq);
        unsigned random;
        FUZZ_ASSERT(sscanf(rec.id + strlen(rec.id) - 8, "%8x", &random) == 1);

        ReportEvent e = {
                .type = rec.type,
                .machine_id = rec.machine_id,
                .compatible = rec.compatible,
                .from_version = rec.from_version,
                .to_version = rec.to_version,
                .slot = rec.slot,
                .reason = rec.reason,
                .check = rec.check,
                .channel_serial_set = rec.channel_serial_set,
                .channel_serial = rec.channel_serial,
                .time = rec.time,
        };
        FUZZ_ASSERT(report_event_to_json(&e, rec.seq, (uint32_t) random, &json, &len) == 0);
        /* The members written beside the input's (boot, nulls) can take a report at the limit past it. */
        if (len > REPORT_MAX_SIZE)
                return 0;
        FUZZ_ASSERT(report_record_parse(json, len, &rec2) == 0);
        FUZZ_ASSERT(rec2.type == rec.type && rec2.seq == rec.seq && rec2.time == rec.time && rec2.slot == rec.slot);
        FUZZ_ASSERT(streq_ptr(rec2.machine_id, rec.machine_id) && streq_ptr(rec2.compatible, rec.compatible) &&
                    streq_ptr(rec2.from_version, rec.from_version) && streq_ptr(rec2.to_version, rec.to_version) &&
                    streq_ptr(rec2.reason, rec.reason) && streq_ptr(rec2.check, rec.check));
        FUZZ_ASSERT(rec2.channel_serial_set == rec.channel_serial_set && rec2.channel_serial == rec.channel_serial);
        return 0;
}
