/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * helper-uboot ORDER A_LEFT B_LEFT ONCE GOOD [LOADS]   ("-": unset)
 * helper-uboot --left VALUE...
 * What lib/boot/uboot-state.c says the boot script does with that
 * environment: "slot=<a|b|reset> fallback=<0|1> A=<BOOT_A_LEFT>
 * B=<BOOT_B_LEFT> once=<abide_once> noload=<slots passed over>" after the
 * boot ("-": unset, none). LOADS: the slots whose kernel and initrd load
 * ("ab" when not given, "-": none). test-uboot-env.sh runs the script itself
 * on the same environments and compares.
 */
#include <stdio.h>
#include <string.h>

#include "boot/uboot-state.h"

static const char *arg(const char *s) {
        return s[0] == '-' && !s[1] ? NULL : s;
}

/* A BOOT_x_LEFT reading as the script's side prints it: "-" for good (no counter), else the count. */
static const char *left_text(int v, char buf[static 12]) {
        if (v == UBOOT_LEFT_GOOD)
                return "-";
        snprintf(buf, 12, "%d", v);
        return buf;
}

int main(int argc, char *argv[]) {
        UBootState s;
        UBootBoot b;
        char left[_SLOT_MAX][12];

        /* --left VALUE...: each BOOT_x_LEFT's reading, on one line ("-": unset, or good), as test-uboot-env.sh
         * compares what the script saved. */
        if (argc >= 3 && streq(argv[1], "--left")) {
                for (int i = 2; i < argc; i++) {
                        int v = UBOOT_LEFT_GOOD;
                        if (arg(argv[i])) {
                                uboot_state_parse("A", (const char *[]) { argv[i], NULL }, NULL, NULL, NULL, &s);
                                v = s.left[SLOT_A];
                        }
                        printf("%s%s", i > 2 ? " " : "", left_text(v, left[0]));
                }
                printf("\n");
                return 0;
        }
        if (argc != 6 && argc != 7) {
                fprintf(stderr, "usage: helper-uboot ORDER A_LEFT B_LEFT ONCE GOOD [LOADS] | --left VALUE...\n");
                return 2;
        }
        bool loads[_SLOT_MAX] = { true, true };
        if (argc == 7)
                for (Slot i = 0; i < _SLOT_MAX; i++)
                        loads[i] = strchr(argv[6], slot_to_string(i)[0]) != NULL;
        uboot_state_parse(arg(argv[1]), (const char *[]) { arg(argv[2]), arg(argv[3]) }, arg(argv[4]), NULL, arg(argv[5]), &s);
        uboot_state_boot_loading(&s, loads, &b);
        /* Parsed for every slot; the script touches only the one it counts. */
        printf("slot=%s fallback=%d A=%s B=%s once=%s noload=%s%s%s\n", b.slot >= 0 ? slot_to_string(b.slot) : "reset",
               b.fallback, left_text(s.left[SLOT_A], left[SLOT_A]), left_text(s.left[SLOT_B], left[SLOT_B]),
               s.once >= 0 ? uboot_slot_name(s.once) : "-",
               b.unloadable[SLOT_A] ? "a" : "", b.unloadable[SLOT_B] ? "b" : "",
               b.unloadable[SLOT_A] || b.unloadable[SLOT_B] ? "" : "-");
        return 0;
}
