/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "ctl.h"
#include "install/install.h"

/*
 * Installs the bundle at path (a file, a block device, "-" for standard
 * input, or an http(s) URL) into the slot not booted, as `abidectl install`
 * does: from a URL as a delta unless [Network] Delta=no or full, falling
 * back to the whole stream when the server cannot serve ranges; with
 * want_delta a local file too. Prints the result lines. Shared by the
 * install and update verbs. ret (may be NULL) gets the result on success.
 */
int ctl_install(Ctl *ctl, const char *path, const InstallOptions *o, bool want_delta, bool full, InstallResult *ret);
