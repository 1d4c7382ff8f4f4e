/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/rm-rf.h"
#include "basic/macro.h"

/* A block device's size (BLKGETSIZE64) is checked on loop devices by the
 * integration tests, through slot_partition_open() (test-install.sh and
 * every test that installs into a slot). */
static void test_fd_data_size(void **state) {
        char path[] = "/tmp/abide-test-fileio.XXXXXX";
        uint64_t size = 1;

        int fd = mkstemp(path);
        assert_true(fd >= 0);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(fd_data_size(fd, &size), 0);
        assert_int_equal(size, 0);
        assert_int_equal(ftruncate(fd, 12345), 0);
        assert_int_equal(fd_data_size(fd, &size), 0);
        assert_int_equal(size, 12345);
        /* Sparse, beyond 4 GiB: the length, not what is allocated. */
        assert_int_equal(ftruncate(fd, (off_t) 5 << 30), 0);
        assert_int_equal(fd_data_size(fd, &size), 0);
        assert_true(size == (uint64_t) 5 << 30);
        safe_close(fd);

        /* Neither a regular file nor a block device: a directory, a character device, a pipe. */
        size = 7;
        fd = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(fd_data_size(fd, &size), -ENOTBLK);
        safe_close(fd);
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(fd_data_size(fd, &size), -ENOTBLK);
        safe_close(fd);
        int p[2];
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        assert_int_equal(fd_data_size(p[0], &size), -ENOTBLK);
        safe_close(p[0]);
        safe_close(p[1]);
        assert_int_equal(size, 7);

        /* No file at all. */
        assert_int_equal(fd_data_size(-1, &size), -EBADF);
        assert_int_equal(size, 7);
}

static void test_mkdir_and_lock(void **state) {
        char base[] = "/tmp/abide-test-fileio.XXXXXX", p[256], q[256];
        struct stat st;
        int fd = -1, fd2 = -1;

        assert_non_null(mkdtemp(base));
        snprintf(p, sizeof p, "%s/a/b/c", base);
        assert_int_equal(mkdir_p(p, 0755), 0);
        assert_int_equal(stat(p, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(mkdir_p(p, 0755), 0); /* there already */

        /* The directory holding a path, not the path. */
        snprintf(p, sizeof p, "%s/x/y/state.json", base);
        assert_int_equal(mkdir_parents_of(p, 0755), 0);
        snprintf(q, sizeof q, "%s/x/y", base);
        assert_int_equal(stat(q, &st), 0);
        assert_int_equal(stat(p, &st), -1);
        assert_int_equal(mkdir_parents_of("state.json", 0755), 0);

        /* A file where a directory must go: one error naming it. */
        snprintf(p, sizeof p, "%s/file", base);
        fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        safe_close(fd);
        snprintf(q, sizeof q, "%s/file/sub", base);
        err_clear();
        assert_int_equal(mkdir_p(q, 0755), -ENOTDIR);
        assert_non_null(strstr(err_message(-ENOTDIR), "cannot create"));

        /* The lock: made with its directory; a second holder is told -EWOULDBLOCK, then gets it once free. */
        snprintf(p, sizeof p, "%s/new/dir/state.json.lock", base);
        assert_int_equal(lock_file(p, false, &fd), 0);
        assert_true(fd >= 0);
        assert_int_equal(lock_file(p, false, &fd2), -EWOULDBLOCK);
        safe_close(fd);
        assert_int_equal(lock_file(p, true, &fd2), 0);
        int other = open(p, O_RDONLY | O_CLOEXEC);
        assert_true(other >= 0);
        assert_int_equal(flock(other, LOCK_EX | LOCK_NB), -1);
        assert_int_equal(errno, EWOULDBLOCK);
        safe_close(other);
        safe_close(fd2);

        /* Never through a symlink. */
        snprintf(q, sizeof q, "%s/link.lock", base);
        assert_int_equal(symlink(p, q), 0);
        err_clear();
        assert_int_equal(lock_file(q, false, &fd), -ELOOP);
        assert_non_null(strstr(err_message(-ELOOP), "cannot open"));

        assert_int_equal(rm_rf(base), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fd_data_size),
                cmocka_unit_test(test_mkdir_and_lock),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
