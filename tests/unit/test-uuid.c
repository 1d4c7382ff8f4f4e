/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "basic/uuid.h"

static void test_format(void **state) {
        char s[UUID_STRING_MAX];
        (void) state;

        /* the version and variant bits set, the other bits kept, lowercase */
        uuid_v4_format((const uint8_t[16]) { 0 }, s);
        assert_string_equal(s, "00000000-0000-4000-8000-000000000000");
        uint8_t ff[16];
        memset(ff, 0xff, sizeof ff);
        uuid_v4_format(ff, s);
        assert_string_equal(s, "ffffffff-ffff-4fff-bfff-ffffffffffff");
        uuid_v4_format((const uint8_t[16]) { 0x4a, 0xb1, 0x01, 0x4a, 0x9d, 0x19, 0x44, 0xf8, 0x8c, 0x04, 0xdc, 0x0c, 0x41,
                                             0x5a, 0xd4, 0x6d },
                       s);
        assert_string_equal(s, "4ab1014a-9d19-44f8-8c04-dc0c415ad46d");
        /* the caller's bytes are not changed */
        assert_int_equal(ff[6], 0xff);
        assert_int_equal(ff[8], 0xff);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_format),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
