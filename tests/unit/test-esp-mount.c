/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lib/boot/esp-mount on a plain directory (no remount: that needs a mount
 * point and root, tests/integration/test-esp-mount.sh does it): scopes nest,
 * the ESP is locked from the first begin() to the last end(), another
 * process's lock makes begin() wait, and esp_is_mount_point() tells "/" from
 * a directory.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <cmocka.h>

#include "boot/esp-mount.h"

static char dir[] = "/tmp/test-esp-mount.XXXXXX";

/* Whether another process could take the ESP's lock now. */
static bool lockable_by_other(void) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                _exit(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : 1);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void test_nested_scopes(void **state) {
        EspMount m;
        EspMount *outer = NULL, *inner = NULL;

        assert_int_equal(esp_mount_init(&m, dir), 0);
        assert_true(lockable_by_other());

        assert_int_equal(esp_writable_begin(&m, &outer), 0);
        assert_ptr_equal(outer, &m);
        assert_int_equal(m.n_writers, 1);
        assert_false(m.remounted);    /* not a mount point: no remount */
        assert_false(lockable_by_other());

        assert_int_equal(esp_writable_begin(&m, &inner), 0);
        assert_int_equal(m.n_writers, 2);
        assert_int_equal(esp_writable_end(inner), 0);
        assert_int_equal(m.n_writers, 1);
        assert_false(lockable_by_other());   /* the outer scope still holds it */

        assert_int_equal(esp_writable_end(outer), 0);
        assert_int_equal(m.n_writers, 0);
        assert_true(lockable_by_other());
        /* An end() too many is harmless. */
        assert_int_equal(esp_writable_end(&m), 0);
        esp_mount_done(&m);
}

static void test_cleanup_helper(void **state) {
        EspMount m;

        assert_int_equal(esp_mount_init(&m, dir), 0);
        {
                _cleanup_(esp_writable_endp) EspMount *scope = NULL;
                assert_int_equal(esp_writable_begin(&m, &scope), 0);
                assert_false(lockable_by_other());
        }
        assert_int_equal(m.n_writers, 0);
        assert_true(lockable_by_other());

        /* done() ends a scope left open. */
        EspMount *scope = NULL;
        assert_int_equal(esp_writable_begin(&m, &scope), 0);
        esp_mount_done(&m);
        assert_true(lockable_by_other());
}

static void test_waits_for_other_writer(void **state) {
        EspMount m;
        EspMount *scope = NULL;
        int pipefd[2];
        char released[64];

        snprintf(released, sizeof released, "%s/released", dir);
        (void) unlink(released);

        assert_int_equal(pipe(pipefd), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (fd < 0 || flock(fd, LOCK_EX) < 0)
                        _exit(1);
                (void) !write(pipefd[1], "x", 1);
                struct timespec hold = { .tv_nsec = 300 * 1000 * 1000 };
                nanosleep(&hold, NULL);
                /* Written before the lock goes with the process. */
                int mark = open(released, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                _exit(mark >= 0 ? 0 : 1);
        }
        char c;
        assert_int_equal(read(pipefd[0], &c, 1), 1);

        assert_int_equal(esp_mount_init(&m, dir), 0);
        assert_int_equal(esp_writable_begin(&m, &scope), 0);
        /* It got the lock only after the other writer let go. */
        assert_int_equal(access(released, F_OK), 0);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        assert_int_equal(esp_writable_end(scope), 0);
        (void) unlink(released);
        esp_mount_done(&m);
        close(pipefd[0]);
        close(pipefd[1]);
}

static void test_missing_dir(void **state) {
        EspMount m;
        EspMount *scope = NULL;
        char path[64];

        snprintf(path, sizeof path, "%s/none", dir);
        assert_int_equal(esp_mount_init(&m, path), 0);
        assert_int_equal(esp_writable_begin(&m, &scope), -ENOENT);
        assert_null(scope);
        assert_int_equal(m.n_writers, 0);
        esp_mount_done(&m);
}

static void test_is_mount_point(void **state) {
        assert_int_equal(esp_is_mount_point("/"), 1);
        assert_int_equal(esp_is_mount_point("/proc"), 1);
        assert_int_equal(esp_is_mount_point(dir), 0);
        char path[64];
        snprintf(path, sizeof path, "%s/none", dir);
        assert_int_equal(esp_is_mount_point(path), -ENOENT);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_nested_scopes),
                cmocka_unit_test(test_cleanup_helper),
                cmocka_unit_test(test_waits_for_other_writer),
                cmocka_unit_test(test_missing_dir),
                cmocka_unit_test(test_is_mount_point),
        };
        if (!mkdtemp(dir))
                return 1;
        int r = cmocka_run_group_tests(tests, NULL, NULL);
        (void) rmdir(dir);
        return r;
}
