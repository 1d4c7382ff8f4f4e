/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/macro.h"
#include "crypto/hash.h"

/*
 * The fleet channel (docs/channel.md): channel.json, signed by a release
 * signer in channel.json.sig (CMS, detached, DER, as the manifest), served
 * by any static web server. Per `compatible`, the release devices should
 * run. Parse, serialize and decide are pure (no I/O, no clock: the caller
 * passes the time), so unit tests cover every branch.
 */

#define CHANNEL_FORMAT 1
/* A channel file larger than this is refused before it is parsed. */
#define CHANNEL_MAX_SIZE (1024 * 1024)
/* At most this many releases (compatibles) in one channel. */
#define CHANNEL_RELEASES_MAX 4096
/* Rollout buckets: basis points. */
#define CHANNEL_BUCKETS 10000
/* The longest channel name, in bytes. */
#define CHANNEL_NAME_MAX 256
/* A device clock further than this past the channel's `updated` is taken as wrong (a
 * dead RTC read as 2070), not as proof that the channel expired (docs/channel.md). */
#define CHANNEL_CLOCK_AHEAD_MAX (10ULL * 366 * 86400)

typedef struct ChannelWindow {
        bool set;
        /* Minutes after 00:00 UTC, [start, end); end < start wraps midnight. */
        unsigned start_min, end_min;
} ChannelWindow;

typedef struct ChannelRelease {
        char *compatible;
        char *version;
        uint64_t security_version;
        char *bundle;                       /* URL, or a path relative to channel.json's URL */
        uint64_t size;                      /* bundle bytes */
        uint8_t manifest_sha256[SHA256_DIGEST_SIZE];
        /* Rollout: devices whose bucket is below percent_bp take the release
         * (basis points, 0..10000: 25 % is 2500). */
        unsigned percent_bp;
        unsigned *stages_bp;                /* the planned stages, ascending, last 10000; may be empty */
        size_t n_stages;
        bool halted;
        char *halt_reason;                  /* NULL when not halted or none given */
        ChannelWindow window;
        uint64_t published;                 /* when this release was added (Unix s, the publisher's clock) */
} ChannelRelease;

typedef struct Channel {
        char *name;                         /* the channel's signed name ("stable"); NULL: none */
        uint64_t serial;                    /* grows with every change of the file */
        uint64_t updated;                   /* the publisher's clock at the last change */
        uint64_t expires;                   /* Unix s from which devices refuse it; 0: never (a set
                                             * one is always above updated, so never 0) */
        ChannelRelease *releases;           /* at most one per compatible */
        size_t n_releases;
} Channel;

Channel *channel_free(Channel *c);
DEFINE_TRIVIAL_CLEANUP_FUNC(Channel *, channel_free);

/* Strict: unknown keys, wrong types, duplicate compatibles, a bad window or
 * percentage are errors naming the key. */
int channel_parse(const char *json, size_t len, Channel **ret);
/* Canonical JSON (sorted keys, two-space indent, trailing newline): the bytes that get signed. */
int channel_serialize(const Channel *c, char **ret, size_t *ret_len);

ChannelRelease *channel_find(const Channel *c, const char *compatible);

/* A channel name: 1..CHANNEL_NAME_MAX bytes, no control character; -EINVAL names the fault. */
int channel_name_validate(const char *name);
/* The device's [Update] ChannelName= against the channel's signed name: 0 when want is NULL
 * (the device names no channel) or equal; -EACCES naming both when the channel has another
 * name or none (a channel without a name is no proof of being the one wanted). */
int channel_check_name(const Channel *c, const char *want);

/* Added after the first draft (the names above are unchanged):
 * Replaces the release of rel->compatible, or appends one, taking ownership of
 * rel's strings and stages (rel is zeroed); -EINVAL names a bad field. */
int channel_set_release(Channel *c, ChannelRelease *rel);
/* "25", "25%", "12.5", "0.01" <-> basis points 0..10000; at most two decimals.
 * Format writes the JSON spelling ("25", "12.5", "0.01"). */
int channel_percent_parse(const char *s, unsigned *ret_bp);
void channel_percent_format(unsigned bp, char ret[static 8]);

/* The device's bucket for a release: SHA-256("abide-rollout\0" machine_id "\0"
 * compatible "\0" version), first 8 bytes big-endian, modulo 10000. Stable
 * per device and release, so raising the percentage only adds devices. */
unsigned channel_bucket(const char *machine_id, const char *compatible, const char *version);

/* Whether time (Unix s, UTC) is inside the window; always when unset. */
bool channel_window_contains(const ChannelWindow *w, uint64_t time);
/* "HH:MM-HH:MM" <-> window (00:00..23:59, start != end; unset formats as ""). */
int channel_window_parse(const char *s, ChannelWindow *ret);
void channel_window_format(const ChannelWindow *w, char ret[static 12]);

/* The channel's expiry judged by the device's clock (now: Unix s, 0 when unset). The clock
 * is believed unless it is unset, before the channel's `updated` (the channel cannot have
 * been written in the device's future) or more than CHANNEL_CLOCK_AHEAD_MAX past it. */
typedef enum ChannelExpiry {
        CHANNEL_EXPIRY_NONE,         /* the channel has no expires */
        CHANNEL_EXPIRY_VALID,        /* now is before it */
        CHANNEL_EXPIRY_PAST,         /* now is at or after it */
        CHANNEL_EXPIRY_CLOCK_WRONG,  /* not judged: the clock is not believed */
} ChannelExpiry;

ChannelExpiry channel_expiry_judge(const Channel *c, uint64_t now);

/* What the device knows when it decides. */
typedef struct ChannelDevice {
        const char *machine_id;
        const char *compatible;             /* of the running image */
        const char *running_version;
        uint64_t floor;                     /* anti-rollback floor (security version) */
        uint64_t last_serial;               /* highest serial seen and accepted; 0: none */
        const char *other_version;          /* the other slot's image, NULL when empty */
        bool other_pending;                 /* it is installed and on trial, not yet blessed or bad */
        bool other_bad;                     /* it was marked bad or rolled back from */
        uint64_t now;                       /* the device's clock, Unix s; 0: not trusted */
} ChannelDevice;

typedef enum ChannelVerdict {
        CHANNEL_INSTALL,           /* install this release now */
        CHANNEL_UP_TO_DATE,        /* the release is what runs */
        CHANNEL_NO_RELEASE,        /* none for this compatible */
        CHANNEL_HALTED,
        CHANNEL_NOT_IN_ROLLOUT,
        CHANNEL_OUTSIDE_WINDOW,
        CHANNEL_ALREADY_PENDING,   /* installed in the other slot, waiting for its trial boot */
        CHANNEL_FAILED_HERE,       /* this release failed on this device (bad / rolled back): not again */
        CHANNEL_BELOW_FLOOR,
        CHANNEL_REPLAY,            /* serial below the last one seen: refused */
        CHANNEL_EXPIRED,           /* past its expires by a plausible device clock: refused */
        _CHANNEL_VERDICT_MAX,
} ChannelVerdict;

const char *channel_verdict_to_string(ChannelVerdict v);  /* "install", "up-to-date", ... */
int channel_verdict_from_string(const char *s);          /* a ChannelVerdict, or -EINVAL */

typedef struct ChannelDecision {
        ChannelVerdict verdict;
        const ChannelRelease *release;      /* NULL for NO_RELEASE, REPLAY and EXPIRED */
        unsigned bucket;                    /* the device's bucket, when a release was found */
        char reason[256];                   /* one line, for --dry-run and the reports */
} ChannelDecision;

/* Pure: the verdict for this device, the rules in the order of docs/channel.md, "The decision". */
void channel_decide(const Channel *c, const ChannelDevice *d, ChannelDecision *ret);
