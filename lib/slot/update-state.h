/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "basic/macro.h"

/*
 * What `abidectl update` remembers between runs ([Update] State=, on
 * abide-data; docs/channel.md): the highest channel serial accepted (the
 * replay guard), the last check and decision, and the failures that set
 * the timer's backoff. Written atomically (temp file, fsync, rename).
 */

#define UPDATE_STATE_FORMAT 1
/* The backoff never waits longer than this, whatever the interval. */
#define UPDATE_BACKOFF_MAX_SEC (24 * 3600)

typedef struct UpdateState {
        uint64_t last_serial;        /* 0: no channel accepted yet */
        char *channel;               /* the Channel= URL last_serial was accepted from; NULL: not recorded */
        uint64_t last_check;         /* Unix s of the last run that fetched (or tried to); 0: never */
        bool have_decision;
        char *verdict;               /* channel_verdict_to_string(), or "error" */
        char *reason;
        char *version;               /* the release decided on; NULL: none */
        unsigned failures;           /* consecutive failed runs */
        char *last_error;            /* the last failure's message; NULL after a success */
        uint64_t next_attempt;       /* --timer runs before this are skipped; 0: any time */
        char *reboot_deferred;       /* version installed with Reboot=window outside the window; NULL: none */
} UpdateState;

void update_state_done(UpdateState *s);

/*
 * An exclusive flock() on "<path>.lock" (created, with its directory), held
 * by one `abidectl update` from before it reads the state until after it
 * wrote it: two runs at once would each write what they read, and the
 * later write could lower last_serial below a serial the other accepted.
 * -EBUSY, without waiting, while another process holds it.
 */
int update_state_lock(const char *path, int *ret_fd);

/* A missing file is an empty state; a corrupt one is -EBADMSG naming the key. */
int update_state_load(const char *path, UpdateState *ret);
int update_state_save(const UpdateState *s, const char *path);
int update_state_to_json_string(const UpdateState *s, char **ret);
int update_state_from_json_string(const char *text, UpdateState *ret);

/*
 * The replay floor is one channel's: when the configured channel is not the
 * one last_serial was accepted from (a device moved from .../edge/ to
 * .../stable/, whose serials count on their own), last_serial starts afresh
 * at 0. A state without a recorded channel keeps its floor. Pure.
 */
void update_state_use_channel(UpdateState *s, const char *channel);
/* An accepted channel: last_serial rises to serial (never falls), channel is recorded. */
int update_state_accept(UpdateState *s, const char *channel, uint64_t serial);

/* Records the run's decision (strings copied; version may be NULL). */
int update_state_set_decision(UpdateState *s, const char *verdict, const char *reason, const char *version);

/*
 * The delay after the n-th consecutive failure (n >= 1): the interval
 * doubled per failure beyond the first, at most UPDATE_BACKOFF_MAX_SEC
 * (or the interval when that is longer), then jittered uniformly into
 * [delay / 2, delay] by random (any 64-bit value), so devices that failed
 * together do not come back together. Pure.
 */
uint64_t update_backoff_sec(unsigned failures, unsigned interval_sec, uint64_t random);
/* The longest delay update_backoff_sec() can give for this interval. */
uint64_t update_backoff_max_sec(unsigned interval_sec);

typedef enum UpdateWait {
        UPDATE_WAIT_DUE,          /* no backoff, or it is over: try */
        UPDATE_WAIT_BACKOFF,      /* in the backoff: skip */
        UPDATE_WAIT_CLOCK_BACK,   /* last_check is after now: the clock went back; backoff ignored, try */
        UPDATE_WAIT_CLOCK_AHEAD,  /* next_attempt is further ahead than any backoff: recorded under a clock
                                   * set ahead; ignored, try */
} UpdateWait;

/*
 * Whether the timer's run at now waits for the backoff; *ret_wait is what
 * is left of it (next_attempt - now; 0 when due). A wrong clock never holds
 * the device off longer than one backoff: a backoff recorded under a clock
 * that was ahead, or one the clock has since gone back from, is ignored.
 * Pure.
 */
UpdateWait update_state_wait(const UpdateState *s, uint64_t now, unsigned interval_sec, uint64_t *ret_wait);

/* A failed run at now: failures + 1, last_error, next_attempt from update_backoff_sec(). */
int update_state_fail(UpdateState *s, const char *error, uint64_t now, unsigned interval_sec, uint64_t random);
/* A successful run: failures and backoff cleared. */
void update_state_succeed(UpdateState *s);
