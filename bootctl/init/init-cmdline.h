/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "slot/slot.h"

#define INIT_WATCHDOG_DEFAULT_SEC 120
#define INIT_WATCHDOG_MAX_SEC 86400
#define INIT_WAIT_DEFAULT_SEC 30
#define INIT_WAIT_MAX_SEC 3600

/* What abide-init takes from the kernel command line. */
typedef struct InitCmdline {
        Slot slot;              /* abide.slot=a|b, required */
        unsigned watchdog_sec;  /* abide.watchdog=SECONDS, 0 disables */
        unsigned wait_sec;      /* abide.wait=SECONDS for the disk */
        /* abide.esp=UUID: the PARTUUID of the partition the loader started from, said by a loader
         * without LoaderDevicePartUUID (U-Boot's boot.cmd), lowercase; "" when not given. A value
         * that is not a UUID is not an error (the boot goes on searching every disk): esp_invalid. */
        char esp_uuid[37];
        bool esp_invalid;
} InitCmdline;

/*
 * Parses a kernel command line as the kernel splits it: words separated by
 * white space, double quotes group ("abide.slot=a" and abide.slot="a" both
 * work), everything after a lone "--" belongs to init and is ignored. The
 * last occurrence of a key wins. Other abide.* keys are ignored (an older
 * init on a newer entry must still boot). Pure: no I/O.
 */
int init_cmdline_parse(const char *cmdline, InitCmdline *ret);

/* A number of seconds as the keys above take it: decimal digits only, at most max. key names it in errors. */
int init_cmdline_parse_seconds(const char *key, const char *value, unsigned max, unsigned *ret);
