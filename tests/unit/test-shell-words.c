/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "basic/error.h"
#include "basic/shell-words.h"

/* The words of line, joined by '|' for comparing. */
static void check(const char *line, const char *want) {
        _cleanup_(shell_words_freep) char **v = NULL;
        char joined[512] = "";

        int n = shell_words_split(line, &v);
        if (n < 0)
                fail_msg("'%s': %s", line, err_message(n));
        for (int i = 0; i < n; i++) {
                assert_non_null(v[i]);
                if (i > 0)
                        strcat(joined, "|");
                strcat(joined, v[i]);
        }
        assert_null(v[n]);
        if (strcmp(joined, want) != 0)
                fail_msg("'%s' split into '%s', not '%s'", line, joined, want);
}

static void test_split(void **state) {
        check("/usr/sbin/agent --health", "/usr/sbin/agent|--health");
        check("  a \t b\n c  ", "a|b|c");
        /* Quotes group and go; what they hold is kept as written. */
        check("/bin/sh -c \"echo agent says no; exit 1\"", "/bin/sh|-c|echo agent says no; exit 1");
        check("/bin/sh -c 'echo \"$1\" \\ x'", "/bin/sh|-c|echo \"$1\" \\ x");
        check("a'b c'd\"e f\"g", "ab cde fg");
        check("'' \"\" x", "||x");
        /* Backslash: the next character outside quotes; in double quotes only before $ ` \" \\ and a newline. */
        check("a\\ b \\'c\\\" \\\\", "a b|'c\"|\\");
        check("\"\\$ \\` \\\" \\\\ \\n \\a\"", "$ ` \" \\ \\n \\a");
        check("a\\\nb \"c\\\nd\"", "ab|cd");
        /* No substitutions: variables, commands, ~ and globs are passed as written. */
        check("probe $HOME ${HOME} ~ ~/x /* ? [a] $(id) `id`", "probe|$HOME|${HOME}|~|~/x|/*|?|[a]|$(id)|`id`");
        check("\"$HOME\"", "$HOME");
}

static void test_refused(void **state) {
        static const struct {
                const char *line, *want;
        } cases[] = {
                { "a 'b", "unterminated single quote: a 'b" },
                { "a \"b", "unterminated double quote: a \"b" },
                { "a \"b\\\"", "unterminated double quote" },
                { "a \\", "backslash at the end: a \\" },
                { "", "no command" },
                { " \t\n", "no command" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                char **v = NULL;
                err_clear();
                int r = shell_words_split(cases[i].line, &v);
                assert_int_equal(r, -EINVAL);
                assert_null(v);
                if (!strstr(err_message(r), cases[i].want))
                        fail_msg("'%s': \"%s\" lacks \"%s\"", cases[i].line, err_message(r), cases[i].want);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_split),
                cmocka_unit_test(test_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
