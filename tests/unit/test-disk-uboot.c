/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../builder/disk-uboot.h"
#include "basic/error.h"
#include "basic/fileio.h"

static char dir[] = "/tmp/test-disk-uboot.XXXXXX";

static int setup(void **state) {
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
        char p[128];
        const char *names[] = { "defaults.env", "env.fd" };
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                snprintf(p, sizeof p, "%s/%s", dir, names[i]);
                (void) unlink(p);
        }
        return rmdir(dir);
}

static uint32_t crc32_ref(const uint8_t *p, size_t n) {
        uint32_t c = 0xffffffffu;
        for (size_t i = 0; i < n; i++) {
                c ^= p[i];
                for (int k = 0; k < 8; k++)
                        c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
        }
        return ~c;
}

/* Writes the defaults, builds the environment, checks its CRC and returns its text (the NUL-separated variables). */
static void env_from(const char *defaults, uint8_t *ret) {
        char dpath[128], epath[128];
        Manifest m = { .cmdline = (char *) "console=ttyAMA0" };

        snprintf(dpath, sizeof dpath, "%s/defaults.env", dir);
        snprintf(epath, sizeof epath, "%s/env.fd", dir);
        FILE *f = fopen(dpath, "we");
        assert_non_null(f);
        fputs(defaults, f);
        assert_int_equal(fclose(f), 0);
        assert_int_equal(disk_uboot_env_write(epath, &m, dpath), 0);

        f = fopen(epath, "re");
        assert_non_null(f);
        assert_int_equal(fread(ret, 1, DISK_UBOOT_ENV_SIZE, f), DISK_UBOOT_ENV_SIZE);
        fclose(f);
        uint32_t crc = (uint32_t) ret[0] | (uint32_t) ret[1] << 8 | (uint32_t) ret[2] << 16 | (uint32_t) ret[3] << 24;
        assert_int_equal(crc, crc32_ref(ret + 4, DISK_UBOOT_ENV_SIZE - 4));
}

static const char want[] = "bootcmd=run distro_bootcmd\0bootdelay=2\0BOOT_ORDER=A\0abide_good=A\0"
                           "abide_cmdline_a=console=ttyAMA0\0";

static void test_env_text(void **state) {
        uint8_t *env = malloc(DISK_UBOOT_ENV_SIZE);
        assert_non_null(env);
        env_from("# board defaults\nbootcmd=run distro_bootcmd\n\nbootdelay=2\nBOOT_ORDER=B A\nabide_good=B\n", env);
        assert_memory_equal(env + 4, want, sizeof want);
        free(env);
}

/* A defaults file saved with CRLF line ends: U-Boot would run "distro_bootcmd\r", which does not exist. */
static void test_env_crlf(void **state) {
        uint8_t *env = malloc(DISK_UBOOT_ENV_SIZE);
        assert_non_null(env);
        env_from("# board defaults\r\nbootcmd=run distro_bootcmd\r\nbootdelay=2\r\n", env);
        assert_memory_equal(env + 4, want, sizeof want);
        /* A blank line is "\r" alone. */
        env_from("bootcmd=run distro_bootcmd\r\n\r\nbootdelay=2\r\n", env);
        assert_memory_equal(env + 4, want, sizeof want);
        free(env);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_env_text),
                cmocka_unit_test(test_env_crlf),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
