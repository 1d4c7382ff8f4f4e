/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * abide-init's ESP check (bootctl/init/init-esp.c init_check_esp()) with
 * stand-ins for fsck.fat: exit 0 is clean, 1 repaired, anything else (or a
 * signal, or no checker at all) is logged and never stops the boot; the
 * checker's own lines reach the console without its banner and iconv noise.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "basic/fileio.h"
#include "init-esp.h"
#include "init-log.h"

static char dir[] = "/tmp/test-init-esp.XXXXXX";

/* Writes an executable stand-in for fsck.fat; returns its path (static buffer). */
static const char *fake_fsck(const char *body) {
        static char path[128];
        char text[1024];

        snprintf(path, sizeof path, "%s/fsck.fat", dir);
        snprintf(text, sizeof text, "#!/bin/sh\n"
                                    "[ \"$1\" = -a ] || { echo \"unexpected $*\"; exit 9; }\n"
                                    "%s\n", body);
        (void) unlink(path);
        assert_int_equal(write_file_atomic(path, text, strlen(text), 0755), 0);
        return path;
}

/* Runs init_check_esp() with the log (stdout in test mode) captured into *ret_log. */
static InitEspCheck check_logged(const char *fsck, char **ret_log) {
        char path[128];
        snprintf(path, sizeof path, "%s/log", dir);
        fflush(stdout);
        int saved = dup(STDOUT_FILENO);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(saved >= 0 && fd >= 0);
        dup2(fd, STDOUT_FILENO);
        close(fd);
        InitEspCheck c = init_check_esp(fsck, "/dev/vda1");
        fflush(stdout);
        dup2(saved, STDOUT_FILENO);
        close(saved);
        assert_int_equal(read_full_file(path, 1 << 20, ret_log, NULL), 0);
        print_message("%s", *ret_log);
        return c;
}

static void test_clean(void **state) {
        _cleanup_free_ char *log = NULL;
        assert_int_equal(check_logged(fake_fsck("echo 'fsck.fat 4.2 (2021-01-31)'; exit 0"), &log), INIT_ESP_CLEAN);
        assert_string_equal(log, "abide-init: ESP /dev/vda1: fsck.fat: clean\n");
}

static void test_repaired(void **state) {
        _cleanup_free_ char *log = NULL;
        const char *f = fake_fsck("echo 'Cannot initialize conversion from codepage 850 to ANSI_X3.4-1968: Invalid argument'\n"
                                  "echo 'Using internal CP850 conversion table'\n"
                                  "echo 'fsck.fat 4.2 (2021-01-31)'\n"
                                  "echo 'Dirty bit is set. Fs was not properly unmounted.'\n"
                                  "echo ' Automatically removing dirty bit.' >&2\n"
                                  "exit 1");
        assert_int_equal(check_logged(f, &log), INIT_ESP_REPAIRED);
        assert_string_equal(log, "abide-init: ESP /dev/vda1: fsck.fat> Dirty bit is set. Fs was not properly unmounted.\n"
                                 "abide-init: ESP /dev/vda1: fsck.fat> Automatically removing dirty bit.\n"
                                 "abide-init: ESP /dev/vda1: fsck.fat: repaired\n");
}

static void test_failed(void **state) {
        _cleanup_free_ char *log = NULL;
        assert_int_equal(check_logged(fake_fsck("echo 'Read 512 bytes at 0: Input/output error'; exit 4"), &log),
                         INIT_ESP_FAILED);
        assert_string_equal(log, "abide-init: ESP /dev/vda1: fsck.fat> Read 512 bytes at 0: Input/output error\n"
                                 "abide-init: ESP /dev/vda1: fsck.fat: failed (exit 4); mounting it read-only anyway\n");

        free(log);
        log = NULL;
        assert_int_equal(check_logged(fake_fsck("kill -SEGV $$"), &log), INIT_ESP_FAILED);
        assert_non_null(strstr(log, "fsck.fat: failed (killed by signal 11); mounting it read-only anyway\n"));
}

static void test_output_bounded(void **state) {
        _cleanup_free_ char *log = NULL;
        assert_int_equal(check_logged(fake_fsck("i=0; while [ $i -lt 100 ]; do echo \"line $i\"; i=$((i+1)); done; exit 1"),
                                      &log), INIT_ESP_REPAIRED);
        unsigned lines = 0;
        for (const char *p = log; (p = strchr(p, '\n')); p++)
                lines++;
        assert_true(lines <= 22);
        assert_non_null(strstr(log, "fsck.fat> ...\n"));
        assert_non_null(strstr(log, "fsck.fat: repaired\n"));
}

static void test_unchecked(void **state) {
        _cleanup_free_ char *log = NULL;
        char path[128];
        snprintf(path, sizeof path, "%s/no-fsck.fat", dir);
        assert_int_equal(check_logged(path, &log), INIT_ESP_UNCHECKED);
        assert_non_null(strstr(log, "no-fsck.fat in the initramfs: not checked\n"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_clean),
                cmocka_unit_test(test_repaired),
                cmocka_unit_test(test_failed),
                cmocka_unit_test(test_output_bounded),
                cmocka_unit_test(test_unchecked),
        };
        if (!mkdtemp(dir))
                return 1;
        init_log_set_test_mode(true);
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        char cmd[160];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        (void) !system(cmd);
        return r;
}
