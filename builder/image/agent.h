/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "recipe.h"

/* Where the baked agent's health probe goes; abidectl boot-check runs every
 * executable there. */
#define IMAGE_HEALTH_DIR "usr/lib/abide/health.d"
/* abidectl's vendor config; HealthTimeoutSec= becomes its [Health] TimeoutSec=,
 * the deadline for all checks to pass (lib/slot/config.h). */
#define IMAGE_VENDOR_CONF "usr/lib/abide/abide.conf"

/*
 * Bakes the recipe's [Agent] into the staging tree:
 *  - copies its Source tree (laid out like "/"), when set, in as a tree layer would;
 *  - makes it start at boot: /usr/lib/systemd/system/abide-agent-NAME.service,
 *    enabled for multi-user.target, when the tree has systemd; otherwise the
 *    busybox init script /etc/init.d/S50abide-agent-NAME. Either way Exec= is
 *    expected to daemonize and return once the agent is ready (Type=forking);
 *  - writes /usr/lib/abide/health.d/50-agent-NAME running Health=, and
 *    appends "[Health] TimeoutSec=HealthTimeoutSec" to /usr/lib/abide/abide.conf.
 * Does nothing when a->present is false.
 */
int image_bake_agent(const RecipeAgent *a, const char *staging);

/*
 * Time abide-init's watchdog leaves for the kernel, abide-init and the init
 * scripts to reach boot-check (13-16 s measured under QEMU without KVM).
 */
#define IMAGE_BOOT_TO_CHECK_SEC 30

/*
 * A busybox image pings abide-init's watchdog only once boot-check has
 * returned (abide-boot-check.sh; docs/boot.md "The watchdog contract"), so
 * an agent that is healthy but slow, within HealthTimeoutSec=, would have the
 * device reset and its tries burnt. Refuses HealthTimeoutSec= above the
 * watchdog timeout that cmdline arms (abide.watchdog=, default 120 s) less
 * IMAGE_BOOT_TO_CHECK_SEC. A systemd image (its PID 1 takes the watchdog over
 * with RuntimeWatchdogSec=), abide.watchdog=0 and no [Agent] pass.
 */
int image_agent_check_watchdog(const RecipeAgent *a, const char *cmdline, const char *staging);

/* The generated files as text, for tests. ret is a newly allocated string. */
int agent_unit_format(const RecipeAgent *a, char **ret);
int agent_init_script_format(const RecipeAgent *a, char **ret);
int agent_health_probe_format(const RecipeAgent *a, char **ret);

/* Whether the staging tree has systemd as its init. */
int image_has_systemd(const char *staging);
