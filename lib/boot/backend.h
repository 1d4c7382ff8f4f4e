/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Private to lib/boot: what a backend implements (one file per backend). */
#include "boot/boot.h"

typedef struct BootBackendOps {
        const char *name;
        unsigned max_tries;   /* the most tries an entry can count; 0: BOOT_COUNTER_MAX */
        int (*open)(BootBackend *b, const AbideConfig *c);
        void (*close)(BootBackend *b);
        int (*booted_slot)(BootBackend *b, Slot *ret);
        int (*selected_slot)(BootBackend *b, Slot *ret);   /* NULL: the loader does not say */
        /* Why the selected slot (entry file) did not start and booted did, one line; NULL: a generic text. */
        int (*selected_failure)(BootBackend *b, Slot selected, const char *file, Slot booted, char **ret);
        int (*list)(BootBackend *b, BootEntryInfo ret[static _SLOT_MAX]);
        int (*remove)(BootBackend *b, Slot slot);
        int (*write)(BootBackend *b, Slot slot, const BootEntrySpec *spec);
        int (*mark_good)(BootBackend *b, Slot slot);
        int (*mark_bad)(BootBackend *b, Slot slot);
        int (*set_next)(BootBackend *b, Slot slot, bool once);
        int (*clear_next)(BootBackend *b, bool once);
        int (*get_next)(BootBackend *b, Slot *ret_default, Slot *ret_once);
        int (*kernel_dir)(BootBackend *b, Slot slot, char **ret);
        const char *(*location)(const BootBackend *b);
        /* The boot storage is writable between these (nested, counted); NULL: always writable. */
        int (*writable_begin)(BootBackend *b);
        int (*writable_end)(BootBackend *b, bool cleanup);
} BootBackendOps;

struct BootBackend {
        const BootBackendOps *ops;
        void *data;   /* the backend's own */
};

extern const BootBackendOps boot_backend_systemd_boot;
extern const BootBackendOps boot_backend_uboot;
