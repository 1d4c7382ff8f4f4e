/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "basic/error.h"
#include "basic/opt-error.h"

static const struct option options[] = {
        { "help", no_argument, NULL, 'h' },
        { "tries", required_argument, NULL, 't' },
        { "timer", no_argument, NULL, 'T' },
        { "json", no_argument, NULL, 'j' },
        {}
};

/* The error for argv (NULL-terminated), parsed as the verbs do: the optstring starts with ':'. */
static const char *refuse(char **argv) {
        int argc = 0, c;
        while (argv[argc])
                argc++;
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":ht:j", options, NULL)) >= 0)
                if (c == ':' || c == '?') {
                        err_clear();
                        assert_int_equal(opt_error(c, argv, options, "--help"), -EINVAL);
                        return err_message(EINVAL);
                }
        fail_msg("getopt_long() took every option");
        return NULL;
}

#define REFUSE(want, ...) assert_string_equal(refuse((char *[]) { "verb", __VA_ARGS__, NULL }), want)

static void test_opt_error(void **state) {
        /* A missing value, long, abbreviated or short (alone or last of a cluster). */
        REFUSE("option '--tries' needs a value (see --help)", "x", "--tries");
        REFUSE("option '--tr' needs a value (see --help)", "--tr");
        REFUSE("option '-t' needs a value (see --help)", "-t");
        REFUSE("option '-t' needs a value (see --help)", "x", "-jt");
        /* Unknown: long, ambiguous, short alone or inside a cluster (not the word before it). */
        REFUSE("unknown option '--bogus' (see --help)", "--bogus");
        REFUSE("unknown option '--t' (see --help)", "--t");
        REFUSE("unknown option '-x' (see --help)", "-x");
        REFUSE("unknown option '-x' (see --help)", "--json", "-xj");
        REFUSE("unknown option '-x' (see --help)", "-jx");
        /* A long option that takes no value given one, also when its val is no short option. */
        REFUSE("option '--json' takes no value (see --help)", "--json=1");
        REFUSE("option '--json' takes no value (see --help)", "--js=");
        REFUSE("option '--timer' takes no value (see --help)", "--timer=yes");
        /* ... which an unknown short option after a long one with a value is not. */
        REFUSE("unknown option '-T' (see --help)", "--tries=3", "-T");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_opt_error),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
