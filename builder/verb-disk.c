/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "basic/error.h"
#include "verb.h"

int verb_disk(int argc, char *argv[]) {
        return err_set(ENOSYS, "not implemented yet");
}
