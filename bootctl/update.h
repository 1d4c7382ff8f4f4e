/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <json-c/json.h>

#include "channel/channel.h"
#include "ctl.h"
#include "slot/image-identity.h"
#include "slot/update-state.h"

/* What `abidectl update` knows of this device when it decides (verb-update.c). */
typedef struct UpdateDevice {
        char machine_id[33];
        ImageIdentity image;
        Slot booted;
        SlotState booted_state;
        unsigned booted_tries_left;
        Slot other;
        SlotState other_state;
        char *other_version;
        ChannelDevice dev;
} UpdateDevice;

int update_device_load(Ctl *ctl, UpdateDevice *d, const UpdateState *us);
void update_device_done(UpdateDevice *d);

/* One run's outcome, for the lines and the JSON object (update-print.c). */
typedef struct UpdateReport {
        char *signer;
        uint64_t fetch_usec, decide_usec;   /* since the start: channel verified; decision taken */
        json_object *json;                  /* the decision, built while the channel is alive */
        bool installed;
        const char *reboot;                 /* "now", "deferred", "never"; NULL: no reboot concerned */
        bool reboot_pending;
} UpdateReport;

void update_report_done(UpdateReport *r);

/* The facts of the decision, with its verdict and reason (the channel's, or the verb's own
 * "booted-on-trial"): lines on stdout (human), and rep->json. */
int update_report_decision(UpdateReport *rep, const AbideConfig *c, const Channel *ch, const UpdateDevice *dev,
                           const ChannelDecision *dec, const char *verdict, const char *reason, bool dry_run, bool json);

/* After the run: the reboot line (human), or the whole JSON object. */
void update_report_finish(UpdateReport *rep, bool json);

/* `abidectl status --json`'s "update" object (docs/status-json.md); NULL only without memory. */
json_object *update_status_json(const AbideConfig *c);
