/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "slot/config.h"

static char tmpdir[] = "/tmp/abide-test-config.XXXXXX";
static char vendor[PATH_MAX], local[PATH_MAX];

static int setup(void **state) {
        assert_non_null(mkdtemp(tmpdir));
        snprintf(vendor, sizeof vendor, "%s/vendor.conf", tmpdir);
        snprintf(local, sizeof local, "%s/local.conf", tmpdir);
        return 0;
}

static int teardown(void **state) {
        unlink(vendor);
        unlink(local);
        rmdir(tmpdir);
        return 0;
}

static void write_conf(const char *path, const char *text) {
        assert_int_equal(write_file_atomic(path, text, strlen(text), 0644), 0);
}

static void test_defaults_are_verified_storage(void **state) {
        _cleanup_(config_freep) AbideConfig *c = NULL;

        assert_int_equal(config_new_default(&c), 0);
        /* Trust anchors, hooks and identity come from the dm-verity root. */
        assert_string_equal(c->keys_dir, "/usr/lib/abide/keys");
        assert_string_equal(c->rollback_hooks_dir, "/usr/lib/abide/on-rollback.d");
        assert_string_equal(c->image_info, "/usr/lib/abide/image.json");
        assert_string_equal(c->health_dirs[0], "/usr/lib/abide/health.d");
        assert_false(c->trust_check_time);
        assert_null(c->trust_signers);
        assert_int_equal(c->n_ignored, 0);
}

/* What decides trust in /etc/abide/abide.conf (abide-data) is ignored and listed. */
static void test_local_cannot_set_trust(void **state) {
        _cleanup_(config_freep) AbideConfig *c = NULL;

        write_conf(vendor, "[Health]\nAgent=/usr/sbin/agent --health\n[Trust]\nSigner=" 
                           "aa00000000000000000000000000000000000000000000000000000000000000\n");
        write_conf(local, "[Paths]\nKeys=/etc/abide/keys\nRollbackHooks=/etc/abide/on-rollback.d\n"
                          "ImageInfo=/etc/fake.json\nEfiVars=/etc/efivars\nVendorHealthDir=/etc/h\n"
                          "HealthDir=/etc/abide/health.d\nState=/var/x.json\n"
                          "[Boot]\nRebootCommand=/bin/evil\nBackend=other\nTries=5\n"
                          "[Health]\nAgent=/bin/true\nTimeoutSec=90\n"
                          "[Trust]\nCheckTime=yes\nSigner=\nDeny=\nSignerEKU=1.2.3\nCRL=/etc/x.crl\n");
        assert_int_equal(config_load_layered(vendor, local, &c), 0);

        assert_string_equal(c->keys_dir, "/usr/lib/abide/keys");
        assert_string_equal(c->rollback_hooks_dir, "/usr/lib/abide/on-rollback.d");
        assert_string_equal(c->image_info, "/usr/lib/abide/image.json");
        assert_string_equal(c->efivars, "/sys/firmware/efi/efivars");
        assert_string_equal(c->health_dirs[0], "/usr/lib/abide/health.d");
        assert_string_equal(c->reboot_command, "reboot");
        assert_string_equal(c->backend, "systemd-boot");
        assert_string_equal(c->agent_probe, "/usr/sbin/agent --health");
        assert_false(c->trust_check_time);
        assert_string_equal(c->trust_signers, "aa00000000000000000000000000000000000000000000000000000000000000");
        assert_null(c->trust_deny);
        assert_null(c->trust_signer_eku);
        assert_null(c->trust_crl);

        /* Local settings that do not decide trust still apply. */
        assert_string_equal(c->health_dirs[1], "/etc/abide/health.d");
        assert_string_equal(c->state_file, "/var/x.json");
        assert_int_equal(c->tries, 5);
        assert_int_equal(c->health_timeout_sec, 90);

        assert_int_equal(c->n_ignored, 13);
        char want[PATH_MAX + 64];
        snprintf(want, sizeof want, "%s: [Paths] Keys=", local);
        assert_string_equal(c->ignored[0], want);
        snprintf(want, sizeof want, "%s: [Trust] CRL=", local);
        assert_string_equal(c->ignored[12], want);
}

/* The vendor file, or a file named explicitly, sets all of it. */
static void test_vendor_sets_trust(void **state) {
        _cleanup_(config_freep) AbideConfig *c = NULL, *e = NULL;
        const char *text = "[Paths]\nKeys=/usr/lib/abide/release-keys\n"
                           "[Trust]\nCheckTime=yes\nSigner=aa\nSigner=bb\nDeny=cc\nSignerEKU=1.3.6.1.4.1.1\nCRL=/usr/lib/abide/revoked.crl\n";

        write_conf(vendor, text);
        unlink(local);
        assert_int_equal(config_load_layered(vendor, local, &c), 0);
        assert_string_equal(c->keys_dir, "/usr/lib/abide/release-keys");
        assert_true(c->trust_check_time);
        /* Repeating a list key appends. */
        assert_string_equal(c->trust_signers, "aa bb");
        assert_string_equal(c->trust_deny, "cc");
        assert_string_equal(c->trust_signer_eku, "1.3.6.1.4.1.1");
        assert_string_equal(c->trust_crl, "/usr/lib/abide/revoked.crl");
        assert_int_equal(c->n_ignored, 0);

        assert_int_equal(config_load(vendor, &e), 0);
        assert_true(e->trust_check_time);
        assert_string_equal(e->trust_signers, "aa bb");
}

/* An empty value resets a key to its default: never a NULL where abidectl needs a value (EfiVars= and
 * Backend= empty crashed `abidectl status`; found by fuzz-config). */
static void test_empty_resets(void **state) {
        _cleanup_(config_freep) AbideConfig *c = NULL, *d = NULL;

        write_conf(vendor, "[Paths]\nEfiVars=/x\nEfiVars=\nKeys=\nESP=/boot\nESP=\n"
                           "[Boot]\nBackend=uboot\nBackend=\nTries=7\nTries=\nRebootCommand=\n"
                           "[Network]\nAllowHTTP=no\nAllowHTTP=\nDeltaConnections=\n"
                           "[Update]\nReboot=\nState=\n[Report]\nMethod=\nSpool=\n");
        write_conf(local, "[Paths]\nState=\n");
        assert_int_equal(config_new_default(&d), 0);
        assert_int_equal(config_load_layered(vendor, local, &c), 0);
        assert_string_equal(c->efivars, d->efivars);
        assert_string_equal(c->keys_dir, d->keys_dir);
        assert_null(c->esp);
        assert_string_equal(c->backend, "systemd-boot");
        assert_int_equal(c->tries, 3);
        assert_string_equal(c->reboot_command, d->reboot_command);
        assert_true(c->net_allow_http == d->net_allow_http);
        assert_int_equal(c->net_delta_connections, d->net_delta_connections);
        assert_string_equal(c->update_reboot, "now");
        assert_string_equal(c->update_state, d->update_state);
        assert_string_equal(c->report_method, "PUT");
        assert_string_equal(c->report_spool, d->report_spool);
        assert_string_equal(c->state_file, d->state_file);
        unlink(local);
}

static void test_bad_values(void **state) {
        static const struct {
                const char *text, *want;
        } cases[] = {
                { "[Trust]\nCheckTime=maybe\n", "CheckTime= must be yes or no: maybe" },
                { "[Trust]\nCRL=relative.crl\n", "CRL= must be an absolute path" },
                { "[Trust]\nPin=x\n", "unknown key [Trust] Pin=" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                AbideConfig *c = NULL;
                write_conf(vendor, cases[i].text);
                err_clear();
                int r = config_load(vendor, &c);
                assert_int_equal(r, -EINVAL);
                assert_null(c);
                if (!strstr(err_message(r), cases[i].want))
                        fail_msg("\"%s\" lacks \"%s\"", err_message(r), cases[i].want);
        }
        /* An error is not forgotten by an empty value after it. */
        AbideConfig *e = NULL;
        write_conf(vendor, "[Health]\nTimeoutSec=0\n[Boot]\nTries=\n");
        err_clear();
        assert_int_equal(config_load(vendor, &e), -EINVAL);
        assert_non_null(strstr(err_message(-EINVAL), "TimeoutSec= must be a number in 1..86400: 0"));
        /* The first error is reported, with its own line: a bad key or a syntax error after it changes neither. */
        static const struct {
                const char *text, *want;
        } firsts[] = {
                { "[Boot]\nTries=abc\n[Health]\nTimeoutSec=0\n", ":2: Tries= must be a number in " },
                { "[Boot]\nTries=abc\nnot a line\n", ":2: Tries= must be a number in " },
                { "[Boot]\nnot a line\n[Health]\nTimeoutSec=0\n", ":2: syntax error" },
        };
        for (size_t i = 0; i < ELEMENTSOF(firsts); i++) {
                write_conf(vendor, firsts[i].text);
                err_clear();
                assert_int_equal(config_load(vendor, &e), -EINVAL);
                const char *m = err_message(-EINVAL);
                if (!strstr(m, firsts[i].want) || strstr(m, "TimeoutSec"))
                        fail_msg("\"%s\" lacks \"%s\"", m, firsts[i].want);
        }
        /* A syntax error in the local file is still an error: it is not a trust key. */
        AbideConfig *c = NULL;
        write_conf(vendor, "");
        write_conf(local, "[Health]\nTimeoutSec=0\n");
        assert_int_equal(config_load_layered(vendor, local, &c), -EINVAL);
}

/* [Network] is per device: the local file on abide-data sets every key. */
static void test_network_local(void **state) {
        _cleanup_(config_freep) AbideConfig *d = NULL, *c = NULL;

        assert_int_equal(config_new_default(&d), 0);
        assert_int_equal(d->net_stall_timeout_sec, 60);
        assert_int_equal(d->net_retries, 10);
        assert_int_equal(d->net_timeout_sec, 0);
        assert_int_equal(d->net_connect_timeout_sec, 30);
        assert_int_equal(d->net_max_redirects, 5);
        assert_true(d->net_allow_http);
        assert_true(d->net_delta);
        assert_int_equal(d->net_delta_connections, 4);
        assert_null(d->net_ca_file);

        write_conf(vendor, "[Network]\nAllowHTTP=yes\nRetries=3\n");
        write_conf(local, "[Network]\nStallTimeoutSec=5\nRetries=0\nTimeoutSec=600\nConnectTimeoutSec=7\n"
                          "MaxRedirects=0\nAllowHTTP=no\nCAFile=/data/ca.pem\nClientCertificate=/data/dev.crt\n"
                          "ClientKey=/data/dev.key\nHeadersFile=/data/headers\nDelta=no\nDeltaConnections=1\n");
        assert_int_equal(config_load_layered(vendor, local, &c), 0);
        assert_int_equal(c->n_ignored, 0);
        assert_int_equal(c->net_stall_timeout_sec, 5);
        assert_int_equal(c->net_retries, 0);
        assert_int_equal(c->net_timeout_sec, 600);
        assert_int_equal(c->net_connect_timeout_sec, 7);
        assert_int_equal(c->net_max_redirects, 0);
        assert_false(c->net_allow_http);
        assert_string_equal(c->net_ca_file, "/data/ca.pem");
        assert_string_equal(c->net_client_cert, "/data/dev.crt");
        assert_string_equal(c->net_client_key, "/data/dev.key");
        assert_string_equal(c->net_headers_file, "/data/headers");
        assert_false(c->net_delta);
        assert_int_equal(c->net_delta_connections, 1);

        /* Which channel a device follows, by URL and by signed name, is per device too. */
        config_free(TAKE_PTR(c));
        assert_null(d->update_channel_name);
        write_conf(vendor, "[Update]\nChannelName=edge\n");
        write_conf(local, "[Update]\nChannel=https://u.example/stable/channel.json\nChannelName=stable\n");
        assert_int_equal(config_load_layered(vendor, local, &c), 0);
        assert_int_equal(c->n_ignored, 0);
        assert_string_equal(c->update_channel_name, "stable");
        config_free(TAKE_PTR(c));
        write_conf(local, "[Update]\nChannelName=\n");
        assert_int_equal(config_load_layered(vendor, local, &c), 0);
        assert_null(c->update_channel_name);

        AbideConfig *bad = NULL;
        write_conf(local, "[Network]\nConnectTimeoutSec=0\n");
        assert_int_equal(config_load_layered(vendor, local, &bad), -EINVAL);
        write_conf(local, "[Network]\nDeltaConnections=0\n");
        assert_int_equal(config_load_layered(vendor, local, &bad), -EINVAL);
        write_conf(local, "[Network]\nDeltaConnections=17\n");
        assert_int_equal(config_load_layered(vendor, local, &bad), -EINVAL);
        write_conf(local, "[Network]\nDeltaConnections=16\n");
        assert_int_equal(config_load_layered(vendor, local, &bad), 0);
        assert_int_equal(bad->net_delta_connections, 16);
        bad = config_free(bad);
        write_conf(local, "[Network]\nCAFile=ca.pem\n");
        assert_int_equal(config_load_layered(vendor, local, &bad), -EINVAL);
        assert_null(bad);
}

/* Long lines are read whole (a URL with a signed query, a deep path), up to 64 KiB; a longer line, a NUL
 * byte or a file of more than 1 MiB is refused with its line, never read as a cut value. */
static void test_long_lines(void **state) {
        _cleanup_(config_freep) AbideConfig *c = NULL;
        size_t n = 60000;
        char *url = malloc(n + 1), *text = malloc(n + 4200);
        assert_non_null(url);
        assert_non_null(text);

        /* A URL of 60000 bytes whose query holds '=' after any cut an inih line buffer would make. */
        int h = snprintf(url, n + 1, "https://u.example/channel.json?X-Sig=");
        for (size_t i = (size_t) h; i < n; i++)
                url[i] = i % 50 == 0 ? '&' : i % 50 == 5 ? '=' : 'a' + i % 26;
        url[n] = 0;
        snprintf(text, n + 4200, "[Update]\nChannel=%s\n[Paths]\nESP=/%0*d\n", url, 4000, 7);
        write_conf(local, text);
        write_conf(vendor, "");
        assert_int_equal(config_load_layered(vendor, local, &c), 0);
        assert_string_equal(c->update_channel, url);
        assert_int_equal(strlen(c->esp), 4001);

        static const struct {
                size_t len;
                const char *want;
        } lines[] = {
                { 65533, NULL },
                { 65534, "vendor.conf:3: line longer than 65533 bytes" },
                { 300000, "vendor.conf:3: line longer than 65533 bytes" },
        };
        for (size_t i = 0; i < ELEMENTSOF(lines); i++) {
                AbideConfig *e = NULL;
                /* "Cmdline=/" and a path of the rest: the line is exactly lines[i].len bytes. */
                char *t = malloc(lines[i].len + 64);
                assert_non_null(t);
                int k = snprintf(t, 64, "[Paths]\n#\nCmdline=/");
                memset(t + k, 'x', lines[i].len - strlen("Cmdline=/"));
                strcpy(t + k + lines[i].len - strlen("Cmdline=/"), "\n");
                write_conf(vendor, t);
                free(t);
                err_clear();
                int r = config_load(vendor, &e);
                if (!lines[i].want) {
                        assert_int_equal(r, 0);
                        assert_int_equal(strlen(e->cmdline), lines[i].len - strlen("Cmdline="));
                        config_free(e);
                } else {
                        assert_int_equal(r, -EINVAL);
                        assert_null(e);
                        if (!strstr(err_message(r), lines[i].want))
                                fail_msg("\"%s\" lacks \"%s\"", err_message(r), lines[i].want);
                }
        }

        AbideConfig *e = NULL;
        assert_int_equal(write_file_atomic(vendor, "[Boot]\nTries=3\0\nTries=4\n", 24, 0644), 0);
        err_clear();
        assert_int_equal(config_load(vendor, &e), -EINVAL);
        assert_non_null(strstr(err_message(-EINVAL), "vendor.conf:2: NUL byte in line"));
        char *big = malloc(1024 * 1024 + 2);
        assert_non_null(big);
        memset(big, '#', 1024 * 1024 + 1);
        for (size_t i = 100; i < 1024 * 1024; i += 100)
                big[i] = '\n';
        big[1024 * 1024 + 1] = 0;
        write_conf(vendor, big);
        free(big);
        err_clear();
        assert_int_equal(config_load(vendor, &e), -EFBIG);
        assert_non_null(strstr(err_message(-EFBIG), "larger than 1048576 bytes"));
        free(url);
        free(text);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults_are_verified_storage),
                cmocka_unit_test(test_local_cannot_set_trust),
                cmocka_unit_test(test_vendor_sets_trust),
                cmocka_unit_test(test_empty_resets),
                cmocka_unit_test(test_bad_values),
                cmocka_unit_test(test_network_local),
                cmocka_unit_test(test_long_lines),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
