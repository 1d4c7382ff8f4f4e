/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Placeholder until the install verb lands (issue 4, install helper). */
#include "basic/error.h"
#include "verbs.h"

int verb_install(int argc, char *argv[]) {
        return err_set(ENOSYS, "not implemented yet");
}
