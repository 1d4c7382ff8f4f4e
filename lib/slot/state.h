/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "basic/macro.h"
#include "slot/slot.h"

/*
 * The state file on abide-data (JSON, written atomically). It only adds
 * history: which slot is bootable is decided by the boot entries on the
 * ESP, so losing or corrupting this file never makes a slot unbootable.
 */

#define STATE_OUTPUT_MAX 1024

typedef struct SlotFailure {
        char *check;     /* failing check; NULL: no failure recorded */
        char *output;    /* excerpt of its output */
        uint64_t time;   /* unix seconds */
} SlotFailure;

typedef struct SlotRecord {
        SlotState state;
        char *version;
        uint64_t installed;   /* unix seconds; 0: unknown */
        /* Installed and neither confirmed good nor reported as rolled back yet. */
        bool trial;
        SlotFailure failure;
        /* The image's security version (manifest at install, image.json at bless). */
        bool sv_known;
        uint64_t security_version;
        /* What the install that wrote this slot read from its bundle (docs/delta.md). */
        bool fetch_known;
        bool delta;                 /* a delta install: only the blocks the device did not have */
        uint64_t fetched;           /* bytes read from the source (HTTP bodies, retries included) */
        uint64_t bundle_size;
} SlotRecord;

typedef struct RollbackEvent {
        bool valid;
        Slot from, to;
        char *version;   /* of the slot rolled back from */
        char *reason;
        uint64_t time;
        bool reported;   /* hooks ran and it was shown once */
} RollbackEvent;

/* This file's copy of the anti-rollback floor (slot/floor.h); the EFI variable holds the other. */
typedef struct FloorRecord {
        bool valid;
        uint64_t security_version;
        char *version;   /* the image whose bless raised it */
        uint64_t time;
} FloorRecord;

typedef struct AbideState {
        SlotRecord slots[_SLOT_MAX];
        RollbackEvent rollback;
        FloorRecord floor;
} AbideState;

int state_new(AbideState **ret);
AbideState *state_free(AbideState *s);
DEFINE_TRIVIAL_CLEANUP_FUNC(AbideState *, state_free);

/* A missing file is an empty state; a corrupt one is -EBADMSG with the reason. */
int state_load(const char *path, AbideState **ret);
/* Temp file, fsync, rename, fsync of the directory (created when missing). */
int state_save(const AbideState *s, const char *path);
/*
 * An exclusive flock() on "<path>.lock" (created, with its directory): held
 * by boot-check for its whole run and by mark-good and mark-bad, so a slot's
 * verdict is decided by one of them at a time, from the entries and the
 * state the previous one left. wait: block until it is free; else -EBUSY
 * while another process holds it.
 */
int state_lock(const char *path, bool wait, int *ret_fd);

int state_to_json_string(const AbideState *s, char **ret);
int state_from_json_string(const char *text, AbideState **ret);

/* Install: before the first byte is written; drops the slot's old history. */
int state_install_begin(AbideState *s, Slot slot, const char *version, uint64_t now);
/* Install: after the slot's boot entry was written. */
void state_install_done(AbideState *s, Slot slot, uint64_t now);
/* A failed health check (or a manual mark-bad); output is truncated to STATE_OUTPUT_MAX. */
int state_set_failure(AbideState *s, Slot slot, const char *check, const char *output, uint64_t now);
void state_set_good(AbideState *s, Slot slot);
void state_set_bad(AbideState *s, Slot slot);
void state_set_security_version(AbideState *s, Slot slot, uint64_t sv);
void state_set_fetch(AbideState *s, Slot slot, bool delta, uint64_t fetched, uint64_t bundle_size);
/* Raises this file's floor to sv, blessed as version; never lowers it. 1: raised, 0: already there. */
int state_raise_floor(AbideState *s, uint64_t sv, const char *version, uint64_t now);
/* Records the rollback away from "from" and closes its trial (so it is recorded once). */
int state_record_rollback(AbideState *s, Slot from, const char *reason, uint64_t now);
