/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "basic/macro.h"
#include "slot/slot.h"

#define ABIDE_CONF_PATH "/etc/abide/abide.conf"
/* Vendor defaults baked into the image (e.g. the agent's health probe), read first. */
#define ABIDE_CONF_VENDOR_PATH "/usr/lib/abide/abide.conf"

/*
 * /etc/abide/abide.conf (docs/abide-conf.md). Every field has a default
 * that works on a standard disk; NULL means "find it" for esp, disk and the
 * partition overrides.
 */
typedef struct AbideConfig {
        char *esp;                 /* mounted ESP directory; NULL: auto */
        char *efivars;             /* efivarfs directory */
        char *state_file;          /* on abide-data */
        char *keys_dir;
        char *health_dirs[2];      /* each may be NULL */
        char *rollback_hooks_dir;
        char *disk;                /* disk or disk image holding the slots; NULL: every block device */
        char *cmdline;             /* kernel command line file, fallback for the booted slot */
        char *image_info;          /* the running image's identity (image.json in the verified root) */
        char *partitions[_SLOT_MAX][_SLOT_PART_MAX]; /* overrides; NULL: by PARTLABEL */
        char *data_partition;      /* override; NULL: by PARTLABEL abide-data */
        char *backend;             /* boot backend name */
        unsigned tries;
        char *reboot_command;
        char *agent_probe;         /* command line of the agent's health probe; NULL: none */
        unsigned health_timeout_sec;  /* deadline for all checks to pass */
        unsigned check_timeout_sec;   /* bound for one check run */
} AbideConfig;

/*
 * Loads path; when path is NULL, $ABIDE_CONF, else the vendor file then
 * /etc/abide/abide.conf (both optional, later keys override earlier ones).
 * A named file must exist. Unknown sections or keys are errors.
 */
int config_load(const char *path, AbideConfig **ret);
/* Defaults only. */
int config_new_default(AbideConfig **ret);
AbideConfig *config_free(AbideConfig *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(AbideConfig *, config_free);
