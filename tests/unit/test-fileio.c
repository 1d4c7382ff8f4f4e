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
#include <unistd.h>

#include <cmocka.h>

#include "basic/fileio.h"
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

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fd_data_size),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
