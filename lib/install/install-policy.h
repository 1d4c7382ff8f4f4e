/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "basic/macro.h"
#include "slot/floor.h"
#include "slot/image-identity.h"

/*
 * Whether the bundle may replace the other slot while `running` is booted.
 * Refuses, with a one-line reason: another compatible string (EMEDIUMTYPE),
 * a security version below the device's anti-rollback floor (EPERM, the
 * floor outlives rollbacks and switches) or below the running image's
 * (EPERM), the version already running unless force (EEXIST). Versions are
 * not ordered otherwise: a downgrade with an equal or higher security
 * version is allowed. Pure.
 */
int install_policy_check(const ImageIdentity *running, const ImageIdentity *bundle, const SecurityFloor *floor,
                         bool force);

/* Boot tries for the new entry: --tries (0: unset), else the manifest's, else the config's. */
unsigned install_policy_tries(unsigned arg_tries, unsigned manifest_tries, unsigned config_tries);

/* Whether a payload of size bytes fits a partition of part_size bytes (O_DIRECT rounds up to align). */
bool install_policy_fits(uint64_t size, uint64_t part_size, uint64_t align);
