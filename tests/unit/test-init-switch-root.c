/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * abide-init's check of the new root's init before anything is moved
 * (bootctl/init/init-switch-root.c init_check_exec()): the path resolved
 * inside the root as execv() sees it after the chroot, so an absolute
 * symlink (Debian's /sbin/init -> /lib/systemd/systemd) is followed into
 * the root, not into the initramfs, and nothing outside the root counts.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "init-switch-root.h"

static char dir[] = "/tmp/test-init-switch-root.XXXXXX";

/* A fresh root below dir/NAME with the directories an image has; returns its path (static buffer). */
static const char *new_root(const char *name) {
        static char root[256];
        char p[512];

        snprintf(root, sizeof root, "%s/%s", dir, name);
        assert_int_equal(mkdir(root, 0755), 0);
        for (const char *const *d = (const char *const[]) { "sbin", "bin", "lib", "lib/systemd", NULL }; *d; d++) {
                snprintf(p, sizeof p, "%s/%s", root, *d);
                assert_int_equal(mkdir(p, 0755), 0);
        }
        return root;
}

static void put(const char *root, const char *path, mode_t mode) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", root, path);
        assert_int_equal(write_file_atomic(p, "#!/bin/sh\n", 10, mode), 0);
}

static void link_to(const char *root, const char *path, const char *target) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", root, path);
        assert_int_equal(symlink(target, p), 0);
}

static void test_absolute_symlink(void **state) {
        (void) state;
        const char *root = new_root("systemd");
        /* A name the build machine does not have, so that only the root's can count. */
        put(root, "lib/systemd/abide-test-systemd", 0755);
        link_to(root, "sbin/init", "/lib/systemd/abide-test-systemd");
        assert_int_equal(init_check_exec(root, "/sbin/init"), 0);
}

static void test_relative_symlink_and_file(void **state) {
        (void) state;
        const char *root = new_root("busybox");
        put(root, "bin/busybox", 0755);
        link_to(root, "sbin/init", "../bin/busybox");
        assert_int_equal(init_check_exec(root, "/sbin/init"), 0);
        assert_int_equal(init_check_exec(root, "/bin/busybox"), 0);
}

static void test_refused(void **state) {
        (void) state;
        const char *root = new_root("bad");
        /* Missing, and a dangling absolute link (its target exists only outside the root). */
        assert_int_equal(init_check_exec(root, "/sbin/init"), -ENOENT);
        assert_non_null(strstr(err_message(-ENOENT), "the root file system has no executable /sbin/init"));
        link_to(root, "sbin/init", "/bin/sh");
        assert_int_equal(init_check_exec(root, "/sbin/init"), -ENOENT);
        /* ".." cannot climb out of the root either. */
        link_to(root, "sbin/climb", "../../../../../../../bin/sh");
        assert_int_equal(init_check_exec(root, "/sbin/climb"), -ENOENT);
        /* Not executable, and not a regular file. */
        put(root, "lib/systemd/systemd", 0644);
        assert_int_equal(init_check_exec(root, "/lib/systemd/systemd"), -EACCES);
        assert_int_equal(init_check_exec(root, "/lib/systemd"), -EACCES);
        assert_non_null(strstr(err_message(-EACCES), "/lib/systemd is not a regular file"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_absolute_symlink),
                cmocka_unit_test(test_relative_symlink_and_file),
                cmocka_unit_test(test_refused),
        };
        if (!mkdtemp(dir))
                return 1;
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        char cmd[160];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        (void) !system(cmd);
        return r;
}
