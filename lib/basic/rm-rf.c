/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "rm-rf.h"

#include <ftw.h>
#include <stdio.h>

#include "macro.h"

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        if (remove(path) < 0 && errno != ENOENT)
                return -1;
        return 0;
}

int rm_rf(const char *path) {
        if (access(path, F_OK) < 0)
                return errno == ENOENT ? 0 : negative_errno();
        if (nftw(path, rm_one, 64, FTW_DEPTH | FTW_PHYS | FTW_MOUNT) != 0)
                return negative_errno();
        return 0;
}
