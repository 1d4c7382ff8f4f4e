/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "channel/channel.h"
#include "crypto/signer.h"
#include "crypto/trust.h"

/*
 * A channel directory as `abide-build channel` publishes it (docs/channel.md):
 * DIR/channel.json and DIR/channel.json.sig. Every change goes through
 * channel_dir_lock() .. channel_dir_save(), so two publishers (a person and
 * `channel watch`) never lose each other's change.
 */
#define CHANNEL_FILE "channel.json"
#define CHANNEL_SIG_FILE "channel.json.sig"

/* An exclusive flock() on DIR itself, held until the fd is closed. */
int channel_dir_lock(const char *dir, int *ret_fd);

/* Reads and parses DIR/channel.json. With trust, also verifies channel.json.sig
 * over its exact bytes first (a missing one does not verify); ret_signer (may be
 * NULL) gets the signer's subject. Every change loads with trust: a channel.json
 * changed by anyone but a release signer is never signed again. */
int channel_dir_load(const char *dir, TrustStore *trust, Channel **ret, char **ret_signer);

/* The publisher's clock: SOURCE_DATE_EPOCH when set, else now. */
int channel_dir_now(uint64_t *ret);

/* What a change does to the channel's expiry (docs/channel.md): KEEP moves an
 * expires along with updated, so that expires - updated (the validity the
 * publisher chose) stays; NONE drops it; any other value is seconds from now. */
#define CHANNEL_EXPIRY_KEEP UINT64_MAX
#define CHANNEL_EXPIRY_NONE 0

/* Sets c->serial to serial + 1, c->updated to now and c->expires as expires_in
 * says, serializes, signs with s (signingTime now as well), checks that trust
 * (when given) verifies the new signature as devices will, and writes both
 * files, each to a temporary name first: fsync both, rename the .sig, rename
 * channel.json, fsync DIR. On error nothing changed. */
int channel_dir_save(const char *dir, Channel *c, Signer *s, TrustStore *trust, uint64_t now, uint64_t expires_in);
