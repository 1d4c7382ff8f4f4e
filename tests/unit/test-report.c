/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "report/report-event.h"
#include "report/report-send.h"
#include "report/report-spool.h"
#include "report/report-watch.h"

#define MID "0123456789abcdef0123456789abcdef"

static void test_type_names(void **state) {
        for (int i = 0; i < _REPORT_EVENT_MAX; i++) {
                const char *s = report_event_type_to_string((ReportEventType) i);
                assert_non_null(s);
                assert_int_equal(report_event_type_from_string(s), i);
        }
        assert_string_equal(report_event_type_to_string(REPORT_BLESSED), "blessed");
        assert_string_equal(report_event_type_to_string(REPORT_INSTALL_FAILED), "install-failed");
        assert_null(report_event_type_to_string(_REPORT_EVENT_MAX));
        assert_null(report_event_type_to_string(_REPORT_EVENT_INVALID));
        assert_int_equal(report_event_type_from_string("success"), _REPORT_EVENT_INVALID);
        assert_int_equal(report_event_type_from_string("Blessed"), _REPORT_EVENT_INVALID);
        assert_int_equal(report_event_type_from_string(""), _REPORT_EVENT_INVALID);
        assert_int_equal(report_event_type_from_string(NULL), _REPORT_EVENT_INVALID);
}

static void test_machine_id(void **state) {
        char long_id[66];
        assert_true(report_machine_id_valid(MID));
        assert_true(report_machine_id_valid("dev-1.site_2"));
        assert_true(report_machine_id_valid("x"));
        memset(long_id, 'a', 64);
        long_id[64] = 0;
        assert_true(report_machine_id_valid(long_id));
        long_id[64] = 'a';
        long_id[65] = 0;
        assert_false(report_machine_id_valid(long_id));
        assert_false(report_machine_id_valid(""));
        assert_false(report_machine_id_valid(NULL));
        assert_false(report_machine_id_valid("../etc"));
        assert_false(report_machine_id_valid(".hidden"));
        assert_false(report_machine_id_valid("-x"));
        assert_false(report_machine_id_valid("a/b"));
        assert_false(report_machine_id_valid("a b"));
        assert_false(report_machine_id_valid("a\n"));
        assert_false(report_machine_id_valid("a?b"));
}

static void test_id(void **state) {
        char id[REPORT_ID_MAX];
        uint64_t seq;

        assert_int_equal(report_id_format(MID, 7, 0xdeadbeef, id), 0);
        assert_string_equal(id, MID "-00000007-deadbeef");
        assert_int_equal(report_id_parse(id, MID, &seq), 0);
        assert_int_equal(seq, 7);
        assert_int_equal(report_id_parse(id, NULL, &seq), 0);
        /* A machine-id with dashes and a digit run of its own, a sequence past 8 digits. */
        assert_int_equal(report_id_format("dev-00000001", 123456789, 1, id), 0);
        assert_string_equal(id, "dev-00000001-123456789-00000001");
        assert_int_equal(report_id_parse(id, "dev-00000001", &seq), 0);
        assert_int_equal(seq, 123456789);

        assert_int_equal(report_id_format("a/b", 1, 1, id), -EINVAL);
        assert_int_equal(report_id_format(NULL, 1, 1, id), -EINVAL);
        assert_int_equal(report_id_parse(MID "-00000007-deadbeef", "other", &seq), -EINVAL);
        assert_int_equal(report_id_parse(MID "-0000007-deadbeef", NULL, &seq), -EINVAL);   /* 7 digits */
        assert_int_equal(report_id_parse(MID "-00000007-deadbee", NULL, &seq), -EINVAL);   /* 7 hex */
        assert_int_equal(report_id_parse(MID "-00000007-DEADBEEF", NULL, &seq), -EINVAL);  /* upper case */
        assert_int_equal(report_id_parse(MID "-00000007_deadbeef", NULL, &seq), -EINVAL);
        assert_int_equal(report_id_parse("-00000007-deadbeef", NULL, &seq), -EINVAL);
        assert_int_equal(report_id_parse("00000007-deadbeef", NULL, &seq), -EINVAL);
        assert_int_equal(report_id_parse("../x-00000007-deadbeef", NULL, &seq), -EINVAL);
        assert_int_equal(report_id_parse("", NULL, &seq), -EINVAL);
        assert_int_equal(report_id_parse("a-99999999999999999999-deadbeef", NULL, &seq), -EINVAL);
}

static void test_spool_names(void **state) {
        char name[REPORT_SPOOL_NAME_MAX];
        uint64_t seq;
        ReportEventType t;

        report_spool_name_format(42, REPORT_ROLLED_BACK, name);
        assert_string_equal(name, "00000042-rolled-back.json");
        assert_int_equal(report_spool_name_parse(name, &seq, &t), 0);
        assert_int_equal(seq, 42);
        assert_int_equal(t, REPORT_ROLLED_BACK);
        report_spool_name_format(123456789, REPORT_BLESSED, name);
        assert_string_equal(name, "123456789-blessed.json");
        assert_int_equal(report_spool_name_parse(name, &seq, &t), 0);
        assert_int_equal(seq, 123456789);

        /* Not ours: the counter, the error, locks, temporaries, set-aside files, strangers. */
        const char *bad[] = {
                "seq", "last-error", ".lock", ".send-lock", ".#00000001-blessed.json.Ab12Cd",
                "00000001-blessed.json.corrupt", "1-blessed.json", "00000001-success.json",
                "00000001-blessed.JSON", "00000001blessed.json", "00000001-.json", "00000001-blessed",
                "x0000001-blessed.json", "",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(report_spool_name_parse(bad[i], &seq, &t), -EINVAL);

        /* Ours up to 2^62; above it a number no add gave out, out of range. */
        assert_int_equal(report_spool_name_parse("4611686018427387904-blessed.json", &seq, &t), 0);
        assert_int_equal(seq, REPORT_SEQ_MAX);
        const char *range[] = {
                "4611686018427387905-blessed.json", "9223372036854775808-installed.json",
                "9999999999999999999-blessed.json", "18446744073709551615-blessed.json",
                "000000000000000000001-marked-bad.json",
        };
        for (size_t i = 0; i < ELEMENTSOF(range); i++)
                assert_int_equal(report_spool_name_parse(range[i], &seq, &t), -ERANGE);
        assert_int_equal(report_spool_name_parse("18446744073709551615-blessed.json.corrupt", &seq, &t), -EINVAL);
}

static void test_spool_order(void **state) {
        /* Numeric, not by name: 100000000 comes after 99999999 though it sorts before it as text. */
        ReportSpoolEntry e[3] = {
                { .seq = 100000000, .type = REPORT_BLESSED, .name = "100000000-blessed.json" },
                { .seq = 2, .type = REPORT_INSTALLED, .name = "00000002-installed.json" },
                { .seq = 99999999, .type = REPORT_INSTALL_STARTED, .name = "99999999-install-started.json" },
        };
        qsort(e, 3, sizeof e[0], report_spool_entry_compare);
        assert_int_equal(e[0].seq, 2);
        assert_int_equal(e[1].seq, 99999999);
        assert_int_equal(e[2].seq, 100000000);
}

static const ReportEvent full_event = {
        .type = REPORT_MARKED_BAD,
        .machine_id = MID,
        .compatible = "abide-demo-x86_64",
        .from_version = "1.0",
        .to_version = "2.0",
        .slot = SLOT_B,
        .tries_done = 1,
        .tries_left_set = true,
        .tries_left = 0,
        .reason = "exit 3: agent \"down\"\nport 8080/tcp closed",
        .check = "20-probe",
        .channel_serial_set = true,
        .channel_serial = 9,
        .time = 1721362200,
};

static void test_event_json(void **state) {
        _cleanup_free_ char *json = NULL;
        _cleanup_(report_record_done) ReportRecord rec = {};
        size_t len;

        assert_int_equal(report_event_to_json(&full_event, 5, 0x0badcafe, &json, &len), 0);
        assert_int_equal(strlen(json), len);
        assert_true(json[len - 1] == '\n');
        assert_ptr_equal(strchr(json, '\n'), json + len - 1);
        assert_non_null(strstr(json, "{\"format\":1,\"id\":\"" MID "-00000005-0badcafe\",\"event\":\"marked-bad\","
                                     "\"time\":1721362200,\"machine_id\":\"" MID "\","));
        assert_non_null(strstr(json, "\"boot\":{\"tries_done\":1,\"tries_left\":0}"));
        assert_non_null(strstr(json, "\"channel_serial\":9}"));
        assert_non_null(strstr(json, "port 8080/tcp"));  /* no "\/" */

        assert_int_equal(report_record_parse(json, len, &rec), 0);
        assert_string_equal(rec.id, MID "-00000005-0badcafe");
        assert_int_equal(rec.type, REPORT_MARKED_BAD);
        assert_int_equal(rec.seq, 5);
        assert_int_equal(rec.time, 1721362200);
        assert_string_equal(rec.machine_id, MID);
        assert_string_equal(rec.compatible, "abide-demo-x86_64");
        assert_string_equal(rec.from_version, "1.0");
        assert_string_equal(rec.to_version, "2.0");
        assert_int_equal(rec.slot, SLOT_B);
        assert_string_equal(rec.reason, full_event.reason);
        assert_string_equal(rec.check, "20-probe");
        assert_true(rec.channel_serial_set);
        assert_int_equal(rec.channel_serial, 9);
}

static void test_event_json_nulls(void **state) {
        _cleanup_free_ char *json = NULL;
        _cleanup_(report_record_done) ReportRecord rec = {};
        ReportEvent e = { .type = REPORT_INSTALL_FAILED, .machine_id = "m", .slot = _SLOT_INVALID, .reason = "boom" };
        size_t len;

        assert_int_equal(report_event_to_json(&e, 1, 0, &json, &len), 0);
        assert_non_null(strstr(json, "\"compatible\":null,\"from_version\":null,\"to_version\":null,\"slot\":null,"
                                     "\"boot\":{\"tries_done\":0,\"tries_left\":null},\"reason\":\"boom\",\"check\":null,"
                                     "\"channel_serial\":null}"));
        assert_int_equal(report_record_parse(json, len, &rec), 0);
        assert_null(rec.compatible);
        assert_null(rec.to_version);
        assert_int_equal(rec.slot, _SLOT_INVALID);
        assert_false(rec.channel_serial_set);

        e.machine_id = NULL;
        assert_int_equal(report_event_to_json(&e, 1, 0, &json, &len), -EINVAL);
        e.machine_id = "m";
        e.type = _REPORT_EVENT_MAX;
        assert_int_equal(report_event_to_json(&e, 1, 0, &json, &len), -EINVAL);
}

static void expect_bad_record(const char *json, int want, const char *part) {
        ReportRecord rec = {};
        err_clear();
        assert_int_equal(report_record_parse(json, strlen(json), &rec), want);
        if (part && !strstr(err_message(want), part))
                fail_msg("'%s': message '%s' lacks '%s'", json, err_message(want), part);
}

#define GOOD_HEAD "{\"format\":1,\"id\":\"m-00000001-00000000\",\"machine_id\":\"m\",\"compatible\":\"c\",\"time\":1,"

static void test_record_bad(void **state) {
        ReportRecord rec = {};
        const char good[] = GOOD_HEAD "\"event\":\"blessed\"}";
        assert_int_equal(report_record_parse(good, strlen(good), &rec), 0);
        report_record_done(&rec);

        expect_bad_record("", -EINVAL, "not valid JSON");
        expect_bad_record("{\"format\":1,\"id\":", -EINVAL, "truncated");
        expect_bad_record(GOOD_HEAD "\"event\":\"blessed\"} {}", -EINVAL, NULL);
        expect_bad_record("[]", -EINVAL, "not a JSON object");
        expect_bad_record("{\"format\":2}", -EPROTONOSUPPORT, "format 2 is not 1");
        expect_bad_record("{\"format\":\"1\"}", -EINVAL, "'format' is not a non-negative integer");
        expect_bad_record(GOOD_HEAD "\"event\":\"success\"}", -EINVAL, "unknown event 'success'");
        expect_bad_record(GOOD_HEAD "\"event\":1}", -EINVAL, "'event' is not a string");
        expect_bad_record(GOOD_HEAD "\"event\":\"blessed\",\"slot\":\"c\"}", -EINVAL, "slot 'c'");
        expect_bad_record(GOOD_HEAD "\"event\":\"blessed\",\"to_version\":2}", -EINVAL, "'to_version' is not a string");
        expect_bad_record(GOOD_HEAD "\"event\":\"blessed\",\"channel_serial\":-1}", -EINVAL, "channel_serial");
        expect_bad_record("{\"format\":1,\"id\":\"x-00000001-00000000\",\"machine_id\":\"m\",\"time\":1,\"event\":\"blessed\"}",
                          -EINVAL, "is not of machine-id m");
        expect_bad_record("{\"format\":1,\"id\":\"m-00000001-00000000\",\"machine_id\":\"../m\",\"time\":1,\"event\":\"blessed\"}",
                          -EINVAL, "machine_id '../m'");
        expect_bad_record("{\"format\":1,\"machine_id\":\"m\",\"time\":1,\"event\":\"blessed\"}", -EINVAL, "'id' is missing");
        expect_bad_record("{\"format\":1,\"id\":\"m-00000001-00000000\",\"machine_id\":\"m\",\"event\":\"blessed\"}", -EINVAL,
                          "'time' is missing");
        /* A NUL inside: json-c would cut the string there. */
        char nul[] = GOOD_HEAD "\"event\":\"blessed\",\"reason\":\"a\0b\"}";
        err_clear();
        assert_int_equal(report_record_parse(nul, sizeof nul - 1, &rec), -EINVAL);
        /* Oversized. */
        size_t big = REPORT_MAX_SIZE + 1;
        _cleanup_free_ char *huge = malloc(big);
        assert_non_null(huge);
        memset(huge, ' ', big);
        assert_int_equal(report_record_parse(huge, big, &rec), -EFBIG);
}

static void test_put_url(void **state) {
        _cleanup_free_ char *a = NULL, *b = NULL;
        assert_int_equal(report_put_url("https://r.example/reports", "m-00000001-00000000", &a), 0);
        assert_string_equal(a, "https://r.example/reports/m-00000001-00000000.json");
        assert_int_equal(report_put_url("https://r.example/reports/", "m-00000001-00000000", &b), 0);
        assert_string_equal(b, "https://r.example/reports/m-00000001-00000000.json");
}

/* rec(): a report of device d with sequence number seq, for the tally. */
static ReportRecord rec_make(const char *d, uint64_t seq, ReportEventType t) {
        return (ReportRecord) { .id = (char *) d, .machine_id = (char *) d, .seq = seq, .type = t, .slot = _SLOT_INVALID };
}

static void test_tally(void **state) {
        ReportRecord r[] = {
                rec_make("d1", 1, REPORT_UPDATE_FOUND),          /* d1: found only: did not take it */
                rec_make("d2", 2, REPORT_INSTALLED),
                rec_make("d2", 1, REPORT_INSTALL_STARTED),
                rec_make("d2", 3, REPORT_BLESSED),               /* d2: blessed */
                rec_make("d3", 4, REPORT_BLESSED),               /* d3: retried after a failed install: blessed */
                rec_make("d3", 1, REPORT_INSTALL_STARTED),
                rec_make("d3", 2, REPORT_INSTALL_FAILED),
                rec_make("d3", 3, REPORT_INSTALL_STARTED),
                rec_make("d4", 1, REPORT_INSTALL_STARTED),
                rec_make("d4", 3, REPORT_ROLLED_BACK),           /* d4: marked bad, then rolled back: one failure */
                rec_make("d4", 2, REPORT_MARKED_BAD),
                rec_make("d5", 1, REPORT_INSTALL_STARTED),
                rec_make("d5", 2, REPORT_BLESSED),
                rec_make("d5", 3, REPORT_MARKED_BAD),            /* d5: blessed, then marked bad by hand */
                rec_make("d6", 1, REPORT_INSTALL_STARTED),       /* d6: still on trial */
                rec_make("d6", 1, REPORT_INSTALL_STARTED),       /* the same report stored twice (POST) */
                rec_make("d7", 1, REPORT_INSTALL_FAILED),        /* d7: failed before it said it started */
        };
        const ReportRecord *p[ELEMENTSOF(r)];
        ReportTally t;

        for (size_t i = 0; i < ELEMENTSOF(r); i++)
                p[i] = &r[i];
        report_tally(p, ELEMENTSOF(r), &t);
        assert_int_equal(t.took, 6);
        assert_int_equal(t.blessed, 2);
        assert_int_equal(t.failed, 3);
        assert_int_equal(t.rolled_back, 1);
        assert_int_equal(t.marked_bad, 1);
        assert_int_equal(t.install_failed, 1);

        report_tally(p, 0, &t);
        assert_int_equal(t.took, 0);
}

static const unsigned stages[] = { 500, 2500, 10000 };
static const ReportWatchPolicy policy = { .max_failure_percent = 5, .min_blessed_percent = 90, .min_devices = 1 };

static ReportWatchDecision decide(size_t took, size_t failed, size_t blessed, bool halted, unsigned bp,
                                  const ReportWatchPolicy *p) {
        ReportTally t = { .took = took, .failed = failed, .blessed = blessed, .rolled_back = failed };
        ReportWatchDecision d;
        report_watch_decide(&t, p ?: &policy, halted, bp, stages, ELEMENTSOF(stages), &d);
        return d;
}

static void test_watch_decide(void **state) {
        ReportWatchDecision d;

        d = decide(0, 0, 0, false, 500, NULL);
        assert_int_equal(d.action, REPORT_WATCH_NONE);
        assert_string_equal(d.reason, "no device took it yet (stage 5%)");

        /* 1 of 20 is 5 %: not more than 5 %. 2 of 20 is. */
        d = decide(20, 1, 10, false, 500, NULL);
        assert_int_equal(d.action, REPORT_WATCH_NONE);
        d = decide(20, 2, 18, false, 500, NULL);
        assert_int_equal(d.action, REPORT_WATCH_HALT);
        assert_string_equal(d.reason, "2 of 20 devices that took it failed (2 rolled back, 0 marked bad, 0 install failed), "
                                      "more than 5% at stage 5%");
        /* One failure of one device halts: the first ring is where it must stop. */
        d = decide(1, 1, 0, false, 500, NULL);
        assert_int_equal(d.action, REPORT_WATCH_HALT);
        /* At the last stage a failure still halts (the devices not updated yet stay). */
        d = decide(10, 5, 5, false, 10000, NULL);
        assert_int_equal(d.action, REPORT_WATCH_HALT);

        /* 9 of 10 is 90 %: advance to the next stage above the current percentage. */
        d = decide(10, 0, 9, false, 500, NULL);
        assert_int_equal(d.action, REPORT_WATCH_ADVANCE);
        assert_int_equal(d.next_percent_bp, 2500);
        assert_string_equal(d.reason, "9 of 10 blessed, 0 failed: stage 5% -> 25%");
        d = decide(10, 0, 8, false, 500, NULL);
        assert_int_equal(d.action, REPORT_WATCH_NONE);
        assert_string_equal(d.reason, "waiting at stage 5%: 8 of 10 blessed (needs 90% and at least 1), 0 failed");
        /* A percentage set by hand between stages goes to the next one above it. */
        d = decide(10, 0, 10, false, 1250, NULL);
        assert_int_equal(d.action, REPORT_WATCH_ADVANCE);
        assert_int_equal(d.next_percent_bp, 2500);
        assert_non_null(strstr(d.reason, "12.5% -> 25%"));
        d = decide(10, 0, 10, false, 10000, NULL);
        assert_int_equal(d.action, REPORT_WATCH_NONE);
        assert_string_equal(d.reason, "last stage 100%: 10 of 10 blessed, 0 failed");

        ReportWatchPolicy many = { .max_failure_percent = 5, .min_blessed_percent = 90, .min_devices = 20 };
        d = decide(10, 0, 10, false, 500, &many);
        assert_int_equal(d.action, REPORT_WATCH_NONE);
        d = decide(20, 0, 20, false, 500, &many);
        assert_int_equal(d.action, REPORT_WATCH_ADVANCE);

        d = decide(10, 5, 5, true, 500, NULL);
        assert_int_equal(d.action, REPORT_WATCH_NONE);
        assert_non_null(strstr(d.reason, "halted already"));

        /* No planned stages: nothing to advance to. */
        ReportTally t = { .took = 3, .blessed = 3 };
        report_watch_decide(&t, &policy, false, 500, NULL, 0, &d);
        assert_int_equal(d.action, REPORT_WATCH_NONE);
}

static int count_files(const char *dir, const char *prefix) {
        DIR *d = opendir(dir);
        int n = 0;
        assert_non_null(d);
        for (struct dirent *de; (de = readdir(d));)
                if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
                        n++;
        closedir(d);
        return n;
}

static void test_spool_io(void **state) {
        char base[] = "/tmp/test-report.XXXXXX";
        _cleanup_free_ char *dir = NULL, *path = NULL, *seqfile = NULL, *text = NULL, *err = NULL;
        _cleanup_free_ ReportSpoolEntry *list = NULL;
        ReportEvent e = full_event;
        size_t n;
        uint64_t seq;

        assert_non_null(mkdtemp(base));
        assert_true(asprintf(&dir, "%s/var/lib/abide/reports", base) > 0);
        assert_true(asprintf(&seqfile, "%s/seq", dir) > 0);

        /* A missing directory holds nothing; the first event creates it. */
        assert_int_equal(report_spool_list(dir, &list, &n), 0);
        assert_int_equal(n, 0);
        assert_int_equal(report_spool_add(dir, &e, 1, &seq), 0);
        assert_int_equal(seq, 1);
        e.type = REPORT_ROLLED_BACK;
        assert_int_equal(report_spool_add(dir, &e, 2, &seq), 0);
        assert_int_equal(seq, 2);
        assert_int_equal(read_full_file(seqfile, 64, &text, NULL), 0);
        assert_string_equal(text, "2\n");

        assert_int_equal(report_spool_list(dir, &list, &n), 0);
        assert_int_equal(n, 2);
        assert_string_equal(list[0].name, "00000001-marked-bad.json");
        assert_string_equal(list[1].name, "00000002-rolled-back.json");

        /* Sent: removed, and the counter still only grows. */
        assert_int_equal(report_spool_remove(dir, &list[0]), 0);
        assert_int_equal(report_spool_remove(dir, &list[1]), 0);
        assert_int_equal(report_spool_add(dir, &e, 3, &seq), 0);
        assert_int_equal(seq, 3);

        /* A lost counter: the queued events' numbers are never reused. */
        assert_int_equal(unlink(seqfile), 0);
        assert_int_equal(report_spool_add(dir, &e, 4, &seq), 0);
        assert_int_equal(seq, 4);
        /* A garbled counter likewise. */
        assert_int_equal(write_file_atomic(seqfile, "x\n", 2, 0644), 0);
        assert_int_equal(report_spool_add(dir, &e, 5, &seq), 0);
        assert_int_equal(seq, 5);

        /* A temporary file a power cut left: never listed, cleared by the next add. */
        assert_true(asprintf(&path, "%s/.#00000009-blessed.json.AbCdEf", dir) > 0);
        assert_int_equal(write_file_atomic(path, "{", 1, 0644), 0);
        free(list);
        list = NULL;
        assert_int_equal(report_spool_list(dir, &list, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(report_spool_add(dir, &e, 6, &seq), 0);
        assert_int_equal(seq, 6);
        assert_int_equal(count_files(dir, ".#"), 0);

        /* Each spooled file is a report of its own number. */
        free(list);
        list = NULL;
        assert_int_equal(report_spool_list(dir, &list, &n), 0);
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *json = NULL;
                _cleanup_(report_record_done) ReportRecord rec = {};
                size_t len;
                assert_int_equal(report_spool_read(dir, &list[i], &json, &len), 0);
                assert_int_equal(report_record_parse(json, len, &rec), 0);
                assert_int_equal(rec.seq, list[i].seq);
        }

        assert_int_equal(report_spool_last_error(dir, &err), 0);
        assert_null(err);
        assert_int_equal(report_spool_set_error(dir, "PUT x: HTTP 500\nsecond line"), 0);
        assert_int_equal(report_spool_last_error(dir, &err), 0);
        assert_string_equal(err, "PUT x: HTTP 500 second line");
        assert_int_equal(report_spool_set_error(dir, NULL), 0);
        free(err);
        err = NULL;
        assert_int_equal(report_spool_last_error(dir, &err), 0);
        assert_null(err);

        _cleanup_free_ char *cmd = NULL;
        assert_true(asprintf(&cmd, "rm -rf '%s'", base) > 0);
        assert_int_equal(system(cmd), 0);
}

/* spool_file DIR NAME: an empty file. */
static void spool_file(const char *dir, const char *name) {
        _cleanup_free_ char *path = NULL;
        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        assert_int_equal(write_file_atomic(path, "", 0, 0644), 0);
}

static bool spool_has(const char *dir, const char *name) {
        _cleanup_free_ char *path = NULL;
        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        return access(path, F_OK) == 0;
}

/* Numbers above 2^62 in the counter or a name are garbage and never stop the spool; up to 2^62 they count. */
static void test_spool_seq_bound(void **state) {
        char dir[] = "/tmp/test-report.XXXXXX";
        _cleanup_free_ char *seqfile = NULL;
        _cleanup_free_ ReportSpoolEntry *list = NULL;
        ReportEvent e = full_event;
        uint64_t seq;
        size_t n;

        assert_non_null(mkdtemp(dir));
        assert_true(asprintf(&seqfile, "%s/seq", dir) > 0);
        assert_int_equal(report_spool_add(dir, &e, 1, &seq), 0);
        assert_int_equal(seq, 1);

        /* A counter of 2^64 - 1 or 2^62 is garbled: the queued event's number carries on. */
        assert_int_equal(write_file_atomic(seqfile, "18446744073709551615\n", 21, 0644), 0);
        assert_int_equal(report_spool_add(dir, &e, 2, &seq), 0);
        assert_int_equal(seq, 2);
        assert_int_equal(write_file_atomic(seqfile, "4611686018427387904\n", 20, 0644), 0);
        assert_int_equal(report_spool_add(dir, &e, 3, &seq), 0);
        assert_int_equal(seq, 3);

        /* Names above 2^62 are set aside by the next add, never listed, and do not raise the numbering. */
        spool_file(dir, "9999999999999999999-blessed.json");
        spool_file(dir, "4611686018427387905-installed.json");
        spool_file(dir, "18446744073709551615-rolled-back.json");
        assert_int_equal(report_spool_list(dir, &list, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(report_spool_add(dir, &e, 4, &seq), 0);
        assert_int_equal(seq, 4);
        assert_true(spool_has(dir, "9999999999999999999-blessed.json.corrupt"));
        assert_true(spool_has(dir, "4611686018427387905-installed.json.corrupt"));
        assert_true(spool_has(dir, "18446744073709551615-rolled-back.json.corrupt"));
        assert_false(spool_has(dir, "9999999999999999999-blessed.json"));
        free(list);
        list = NULL;
        assert_int_equal(report_spool_list(dir, &list, &n), 0);
        assert_int_equal(n, 4);
        assert_int_equal(list[3].seq, 4);

        /* Below the bound the counter is believed, up to 2^62 itself. */
        assert_int_equal(write_file_atomic(seqfile, "4611686018427387000\n", 20, 0644), 0);
        assert_int_equal(report_spool_add(dir, &e, 5, &seq), 0);
        assert_int_equal(seq, UINT64_C(4611686018427387001));
        assert_int_equal(write_file_atomic(seqfile, "4611686018427387903\n", 20, 0644), 0);
        assert_int_equal(report_spool_add(dir, &e, 6, &seq), 0);
        assert_int_equal(seq, REPORT_SEQ_MAX);
        assert_true(spool_has(dir, "4611686018427387904-marked-bad.json"));
        /* Nothing is left above a queued 2^62: refused until that event is sent, then numbering goes on. */
        assert_int_equal(report_spool_add(dir, &e, 7, &seq), -EOVERFLOW);
        assert_non_null(strstr(err_message(-EOVERFLOW), "4611686018427387904-marked-bad.json holds the last sequence number"));
        err_clear();
        free(list);
        list = NULL;
        assert_int_equal(report_spool_list(dir, &list, &n), 0);
        assert_int_equal(n, 6);
        assert_int_equal(list[5].seq, REPORT_SEQ_MAX);
        assert_int_equal(report_spool_remove(dir, &list[5]), 0);
        assert_int_equal(report_spool_add(dir, &e, 8, &seq), 0);
        assert_int_equal(seq, UINT64_C(4611686018427387002));

        _cleanup_free_ char *cmd = NULL;
        assert_true(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
        assert_int_equal(system(cmd), 0);
}

/* Each lock removes the temporaries of what it writes: an add never those of last-error, which a sender writes under .send-lock. */
static void test_spool_temporaries(void **state) {
        char dir[] = "/tmp/test-report.XXXXXX";
        ReportEvent e = full_event;

        assert_non_null(mkdtemp(dir));
        spool_file(dir, ".#last-error.GhIjKl");
        spool_file(dir, ".#00000009-blessed.json.AbCdEf");
        spool_file(dir, ".#seq.MnOpQr");
        assert_int_equal(report_spool_add(dir, &e, 1, NULL), 0);
        assert_true(spool_has(dir, ".#last-error.GhIjKl"));
        assert_int_equal(count_files(dir, ".#"), 1);
        assert_int_equal(report_spool_set_error(dir, "PUT x: HTTP 500"), 0);
        assert_int_equal(count_files(dir, ".#"), 0);
        spool_file(dir, ".#last-error.StUvWx");
        assert_int_equal(report_spool_set_error(dir, NULL), 0);
        assert_int_equal(count_files(dir, ".#"), 0);
        assert_false(spool_has(dir, "last-error"));

        _cleanup_free_ char *cmd = NULL;
        assert_true(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
        assert_int_equal(system(cmd), 0);
}

/* What the sender sets aside (-EBADMSG) is told from what is gone (-ENOENT) and what reads. */
static void test_spool_read_bad(void **state) {
        char dir[] = "/tmp/test-report.XXXXXX";
        _cleanup_free_ char *big = malloc(REPORT_MAX_SIZE + 1), *path = NULL, *good = NULL;
        _cleanup_free_ ReportSpoolEntry *list = NULL;
        ReportEvent e = full_event;
        size_t n;

        assert_non_null(big);
        memset(big, 'x', REPORT_MAX_SIZE + 1);
        assert_non_null(mkdtemp(dir));
        assert_int_equal(report_spool_add(dir, &e, 1, NULL), 0);
        assert_true(asprintf(&good, "%s/00000001-marked-bad.json", dir) > 0);
        assert_true(asprintf(&path, "%s/00000002-blessed.json", dir) > 0);
        assert_int_equal(write_file_atomic(path, big, REPORT_MAX_SIZE, 0644), 0);
        path[strlen(dir) + 8] = '3';
        assert_int_equal(write_file_atomic(path, big, REPORT_MAX_SIZE + 1, 0644), 0);
        path[strlen(dir) + 8] = '4';
        assert_int_equal(mkdir(path, 0755), 0);
        path[strlen(dir) + 8] = '5';
        assert_int_equal(symlink(good, path), 0);
        path[strlen(dir) + 8] = '6';
        assert_int_equal(mkfifo(path, 0644), 0);

        assert_int_equal(report_spool_list(dir, &list, &n), 0);
        assert_int_equal(n, 6);
        const int expected[] = { 0, 0, -EBADMSG, -EBADMSG, -EBADMSG, -EBADMSG };
        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *json = NULL;
                size_t len = 0;
                assert_int_equal(list[i].seq, i + 1);
                assert_int_equal(report_spool_read(dir, &list[i], &json, &len), expected[i]);
                if (expected[i] < 0) {
                        assert_null(json);
                        assert_non_null(strstr(err_message(expected[i]), list[i].name));
                } else if (i == 1)
                        /* Exactly the limit is still read. */
                        assert_int_equal(len, REPORT_MAX_SIZE);
                err_clear();
        }
        assert_int_equal(unlink(good), 0);
        _cleanup_free_ char *json = NULL;
        size_t len;
        assert_int_equal(report_spool_read(dir, &list[0], &json, &len), -ENOENT);
        err_clear();

        _cleanup_free_ char *cmd = NULL;
        assert_true(asprintf(&cmd, "rm -rf '%s'", dir) > 0);
        assert_int_equal(system(cmd), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_type_names),
                cmocka_unit_test(test_machine_id),
                cmocka_unit_test(test_id),
                cmocka_unit_test(test_spool_names),
                cmocka_unit_test(test_spool_order),
                cmocka_unit_test(test_event_json),
                cmocka_unit_test(test_event_json_nulls),
                cmocka_unit_test(test_record_bad),
                cmocka_unit_test(test_put_url),
                cmocka_unit_test(test_tally),
                cmocka_unit_test(test_watch_decide),
                cmocka_unit_test(test_spool_io),
                cmocka_unit_test(test_spool_read_bad),
                cmocka_unit_test(test_spool_seq_bound),
                cmocka_unit_test(test_spool_temporaries),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
