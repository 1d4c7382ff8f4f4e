/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "basic/macro.h"
#include "install/delta-source.h"
#include "install/install.h"
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

/* A delta install's source (docs/delta.md): the URL read with Range requests, with [Network]'s settings. */
int install_url_delta_open(const AbideConfig *c, const char *url, InstallUrl **ret, DeltaSource **ret_src);

/* What a delta install did, or (dry run) would do: "Fetched ..." / "Would fetch ...", on stdout. */
void install_delta_print(DeltaSource *src, const InstallResult *res, bool dry_run);

InstallUrl *install_url_free(InstallUrl *u);
DEFINE_TRIVIAL_CLEANUP_FUNC(InstallUrl *, install_url_free);
