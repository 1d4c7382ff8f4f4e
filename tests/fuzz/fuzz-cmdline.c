/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The kernel command line, both ends of the rule: abide-init's parser on any
 * line, and for every image command line cmdline_check() lets through, the
 * boot entry abidectl writes ("<cmdline> abide.slot=<slot>") must make
 * abide-init pick that slot. */
#include "fuzz-util.h"

#include "boot/boot-entry.h"
#include "bundle/cmdline-check.h"
#include "init-cmdline.h"

/* One rule: what cmdline_check() lets through, abide-init takes. */
_Static_assert(CMDLINE_WATCHDOG_MAX_SEC == INIT_WATCHDOG_MAX_SEC, "abide.watchdog= bounds differ");
_Static_assert(CMDLINE_WATCHDOG_DEFAULT_SEC == INIT_WATCHDOG_DEFAULT_SEC, "abide.watchdog= defaults differ");
_Static_assert(CMDLINE_WAIT_MAX_SEC == INIT_WAIT_MAX_SEC, "abide.wait= bounds differ");

static void check_entry(const char *cmdline, Slot slot) {
        _cleanup_free_ char *text = NULL;
        InitCmdline c;

        FUZZ_ASSERT(boot_entry_format(slot, &(BootEntrySpec) { .version = "1.0", .cmdline = cmdline, .tries = 3 },
                                      &text) == 0);
        const char *o = strstr(text, "\noptions ");
        FUZZ_ASSERT(o);
        o += strlen("\noptions ");
        _cleanup_free_ char *options = strndup(o, strcspn(o, "\n"));
        FUZZ_ASSERT(options);
        FUZZ_ASSERT(init_cmdline_parse(options, &c) == 0);
        FUZZ_ASSERT(c.slot == slot);
        /* Only the loader says which partition it started from. */
        FUZZ_ASSERT(!c.esp_uuid[0] && !c.esp_invalid);
        /* The builder's reading of the watchdog (the HealthTimeoutSec= bound) is abide-init's. */
        FUZZ_ASSERT(c.watchdog_sec == cmdline_watchdog_sec(cmdline));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *s = fuzz_strndup(data, size);
        InitCmdline c;

        if (!s)
                return 0;
        if (init_cmdline_parse(s, &c) == 0) {
                FUZZ_ASSERT(c.slot == SLOT_A || c.slot == SLOT_B);
                /* abide.esp=: none, or a lowercase UUID (it is looked up as a PARTUUID) */
                size_t n = strlen(c.esp_uuid);
                FUZZ_ASSERT(n == 0 || n == 36);
                for (size_t i = 0; i < n; i++)
                        FUZZ_ASSERT((i == 8 || i == 13 || i == 18 || i == 23) ? c.esp_uuid[i] == '-'
                                                                              : !!strchr("0123456789abcdef", c.esp_uuid[i]));
                FUZZ_ASSERT(!(n && c.esp_invalid));
        }

        if (strlen(s) > 4096 || cmdline_check("boot.cmdline", s) < 0)
                return 0;
        check_entry(s, SLOT_A);
        check_entry(s, SLOT_B);
        return 0;
}
