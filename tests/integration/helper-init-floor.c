/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * abide-init's floor step (bootctl/init/init-floor.c) on a directory tree,
 * for test-init.sh: the EFI variable cases QEMU without OVMF cannot reach.
 *   helper-init-floor SYSROOT EFIVARS_DIR
 * Prints "sv=<n|unknown> floor=<n> source=<s> efi=<0|1> state=<0|1>", then
 * exits 0 when the image may boot, else prints the reason on stderr, exit 1.
 */
#include <inttypes.h>
#include <stdio.h>

#include "basic/error.h"
#include "init-floor.h"

int main(int argc, char *argv[]) {
        InitFloor f;

        if (argc != 3) {
                fprintf(stderr, "usage: helper-init-floor SYSROOT EFIVARS_DIR\n");
                return 2;
        }
        int r = init_floor_check(argv[1], argv[2], &f);
        if (f.sv_known)
                printf("sv=%" PRIu64, f.sv);
        else
                printf("sv=unknown");
        printf(" floor=%" PRIu64 " source=%s efi=%d state=%d\n", f.floor, floor_source_to_string(f.source), f.efi, f.state);
        if (r < 0) {
                fprintf(stderr, "abide-init: %s\n", err_message(r));
                return 1;
        }
        return 0;
}
