/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "basic/error.h"

static bool has_control(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        return true;
        return false;
}

/* A message is one line, whatever its arguments hold. */
static void test_one_line(void **state) {
        int r = err_set(ENOENT, "cannot open %s: %s", "/tmp/a\nb\tc\x7f.abide", "No such file");
        assert_int_equal(r, -ENOENT);
        assert_string_equal(err_message(r), "cannot open /tmp/a?b?c?.abide: No such file");

        r = err_prefix(r, "install %s", "\r\nx");
        assert_int_equal(r, -ENOENT);
        assert_string_equal(err_message(r), "install ??x: cannot open /tmp/a?b?c?.abide: No such file");

        /* UTF-8 is left alone. */
        err_set(EINVAL, "name %s", "caf\xc3\xa9");
        assert_string_equal(err_message(-EINVAL), "name caf\xc3\xa9");
        err_clear();
        assert_string_equal(err_message(-EIO), strerror(EIO));
}

/* A path as long as PATH_MAX keeps the reason after it. */
static void test_long_path(void **state) {
        char path[4097];
        memset(path, 'p', sizeof path - 1);
        path[0] = '/';
        path[sizeof path - 1] = 0;

        int r = err_set(EBADMSG, "%s: member 4 'root.verity': sha256 mismatch", path);
        r = err_prefix(r, "release 2.0");
        const char *m = err_message(r);
        assert_false(has_control(m));
        assert_true(strlen(m) > sizeof path);
        assert_string_equal(m + strlen(m) - strlen(": member 4 'root.verity': sha256 mismatch"),
                            ": member 4 'root.verity': sha256 mismatch");
        err_clear();
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_one_line),
                cmocka_unit_test(test_long_path),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
