/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <sys/stat.h>

#include "basic/rm-rf.h"
#include "boot/boot.h"
#include "boot/efivars.h"

/* The systemd-boot backend over an ESP and an efivarfs directory of its own. */
static char dir[] = "/tmp/test-sdboot.XXXXXX";
static char vars[sizeof dir + 16];

static int setup(void **state) {
        _cleanup_(config_freep) AbideConfig *c = NULL;
        char esp[sizeof dir + 16];
        BootBackend *b = NULL;

        strcpy(dir, "/tmp/test-sdboot.XXXXXX");
        assert_non_null(mkdtemp(dir));
        snprintf(esp, sizeof esp, "%s/esp", dir);
        snprintf(vars, sizeof vars, "%s/efivars", dir);
        assert_int_equal(mkdir(esp, 0755), 0);
        assert_int_equal(mkdir(vars, 0755), 0);
        assert_int_equal(config_new_default(&c), 0);
        free(c->esp);
        free(c->efivars);
        c->esp = strdup(esp);
        c->efivars = strdup(vars);
        assert_non_null(c->esp);
        assert_non_null(c->efivars);
        assert_string_equal(c->backend, "systemd-boot");
        assert_int_equal(boot_backend_open(c, &b), 0);
        *state = b;
        return 0;
}

static int teardown(void **state) {
        boot_backend_free(*state);
        assert_int_equal(rm_rf(dir), 0);
        return 0;
}

static void next_of(BootBackend *b, const char *def, const char *once, Slot *ret_def, Slot *ret_once) {
        if (def)
                assert_int_equal(efivars_set_string(vars, "LoaderEntryDefault", def), 0);
        else
                assert_int_equal(efivars_delete(vars, "LoaderEntryDefault"), 0);
        if (once)
                assert_int_equal(efivars_set_string(vars, "LoaderEntryOneShot", once), 0);
        else
                assert_int_equal(efivars_delete(vars, "LoaderEntryOneShot"), 0);
        assert_int_equal(boot_get_next(b, ret_def, ret_once), 0);
}

/* Only abide's own choices count: the glob "abide-<slot>*" that boot_set_next() writes (the entry's
 * name changes with its counter). An exact entry name, another glob or a name of the same length is
 * someone else's choice, which abidectl reports as none and never clears (sdboot_write, mark_bad). */
static void test_get_next(void **state) {
        static const char *const others[] = { "abide-b?", "abide-bx", "abide-b+", "abide-b",  "abide-b**",
                                              "abide-b.conf", "abide-b+3.conf", "abide-b+0-3.conf", "abide-c*",
                                              "abide-*", "abide-B*", "xabide-b*", "debian.conf", "*", "" };
        BootBackend *b = *state;
        Slot def, once;

        next_of(b, NULL, NULL, &def, &once);
        assert_int_equal(def, _SLOT_INVALID);
        assert_int_equal(once, _SLOT_INVALID);
        next_of(b, "abide-b*", "abide-a*", &def, &once);
        assert_int_equal(def, SLOT_B);
        assert_int_equal(once, SLOT_A);
        for (size_t i = 0; i < ELEMENTSOF(others); i++) {
                next_of(b, others[i], others[i], &def, &once);
                if (def != _SLOT_INVALID || once != _SLOT_INVALID)
                        fail_msg("'%s' read as abide's choice of slot %s", others[i], slot_to_string(def >= 0 ? def : once));
        }
        /* What boot_set_next() writes reads back as that slot. */
        assert_int_equal(efivars_delete(vars, "LoaderEntryDefault"), 0);
        assert_int_equal(efivars_delete(vars, "LoaderEntryOneShot"), 0);
        assert_int_equal(boot_set_next(b, SLOT_A, false), 0);
        assert_int_equal(boot_set_next(b, SLOT_B, true), 0);
        assert_int_equal(boot_get_next(b, &def, &once), 0);
        assert_int_equal(def, SLOT_A);
        assert_int_equal(once, SLOT_B);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_get_next, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
