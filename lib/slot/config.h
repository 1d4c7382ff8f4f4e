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
        char *secure_boot_cert;   /* the Secure Boot db certificate(s) UKIs must verify against (docs/secure-boot.md) */
        char *health_dirs[2];      /* each may be NULL */
        char *rollback_hooks_dir;
        char *disk;                /* disk or disk image holding the slots; NULL: every block device */
        char *cmdline;             /* kernel command line file, fallback for the booted slot */
        char *image_info;          /* the running image's identity (image.json in the verified root) */
        char *partitions[_SLOT_MAX][_SLOT_PART_MAX]; /* overrides; NULL: by PARTLABEL */
        char *data_partition;      /* override; NULL: by PARTLABEL abide-data */
        char *backend;             /* boot backend name */
        char *uboot_env_config;    /* uboot backend: fw_env.config naming the environment's two copies */
        bool uboot_env_single_copy; /* uboot backend: a one-copy environment may be written (QEMU virt) */
        unsigned tries;
        char *reboot_command;
        char *agent_probe;         /* command line of the agent's health probe; NULL: none */
        unsigned health_timeout_sec;  /* deadline for all checks to pass */
        unsigned check_timeout_sec;   /* bound for one check run */
        /* [Trust]: what install accepts as a release signer (crypto/trust.h TrustPolicy). */
        bool trust_check_time;
        char *trust_signers;          /* SHA-256 fingerprints, space separated; NULL: any */
        char *trust_deny;
        char *trust_signer_eku;
        char *trust_crl;
        /* [Network]: abidectl install URL (docs/network.md). Local: TLS is not what decides trust. */
        unsigned net_stall_timeout_sec;    /* 0: never */
        unsigned net_retries;
        unsigned net_timeout_sec;          /* the whole download; 0: none */
        unsigned net_connect_timeout_sec;
        unsigned net_max_redirects;
        bool net_allow_http;
        bool net_delta;            /* install URL: fetch only the blocks the device lacks (docs/delta.md) */
        unsigned net_delta_connections; /* a delta's requests on their way at once at the most */
        char *net_ca_file;                 /* NULL: the system store */
        char *net_client_cert;
        char *net_client_key;
        char *net_headers_file;
        /* [Update]: abidectl update (docs/channel.md). Local: the channel's signature decides trust. */
        char *update_channel;              /* URL of channel.json; NULL: abidectl update refuses */
        char *update_channel_name;         /* the channel's signed name required; NULL: any, or none */
        char *update_reboot;               /* "now", "window" or "never" */
        char *update_machine_id;           /* file holding the rollout identity */
        char *update_state;                /* last serial seen, last decision, failures */
        unsigned update_interval_sec;      /* the timer's period */
        unsigned update_random_delay_sec;  /* spread over the fleet */
        /* [Report]: events sent as JSON (docs/report.md). Local. */
        char *report_url;                  /* NULL: events are spooled and kept */
        char *report_method;               /* "PUT" (one file per event under report_url) or "POST" */
        char *report_spool;
        char *report_ca_file;
        char *report_client_cert;
        char *report_client_key;
        char *report_headers_file;
        /* "FILE: [Section] Key=" of keys the local file may not set, ignored. */
        char **ignored;
        size_t n_ignored;
} AbideConfig;

/*
 * Loads path; when path is NULL, $ABIDE_CONF, else the vendor file then
 * /etc/abide/abide.conf (both optional, later keys override earlier ones).
 * A named file must exist. Unknown sections or keys are errors.
 *
 * The vendor file lives in the verified root; /etc/abide/abide.conf is on
 * the writable abide-data partition (the /etc overlay). What decides trust
 * (trust anchors, [Trust], the commands and hooks run as root, the boot
 * backend, the running image's identity, the floor's EFI variables) is
 * taken only from the vendor file or a file named explicitly; such a key
 * in /etc/abide/abide.conf is ignored and listed in ->ignored, so a stray
 * key never stops a device from updating.
 */
int config_load(const char *path, AbideConfig **ret);
/* The same with both layered files named (tests; NULL skips one). */
int config_load_layered(const char *vendor_path, const char *local_path, AbideConfig **ret);
/* Defaults only. */
int config_new_default(AbideConfig **ret);
AbideConfig *config_free(AbideConfig *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(AbideConfig *, config_free);
