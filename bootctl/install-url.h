/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "basic/macro.h"
#include "slot/config.h"

/* `abidectl install URL`: the bundle read from a download's pipe (docs/network.md). */
typedef struct InstallUrl InstallUrl;

/* Starts the download with abide.conf's [Network]; *ret_fd is read like standard input. */
int install_url_open(const AbideConfig *c, const char *url, InstallUrl **ret, int *ret_fd);

/*
 * After install_run() returned r: closes *fd (stopping the download if it
 * still runs) and returns the download's failure, named after the URL, when
 * it is what cut the stream; else r.
 */
int install_url_finish(InstallUrl *u, int *fd, int r);

/* "Fetched N bytes in K requests for a S-byte bundle", on stdout. */
void install_url_print_stats(InstallUrl *u);

InstallUrl *install_url_free(InstallUrl *u);
DEFINE_TRIVIAL_CLEANUP_FUNC(InstallUrl *, install_url_free);
