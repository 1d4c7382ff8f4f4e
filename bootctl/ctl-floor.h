/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "ctl.h"
#include "slot/floor.h"

/*
 * The anti-rollback floor as the verbs see it (docs/anti-rollback.md):
 * blessing raises it, nothing below it is blessed or switched to.
 */

/* The running image as image.json ([Paths] ImageInfo=) says; unreadable: sv unknown. */
typedef struct CtlImage {
        bool known;
        uint64_t sv;
        char *version;
} CtlImage;

void ctl_image_done(CtlImage *i);
/* Never fails: an image that does not say its security version is refused by any floor above 0. */
void ctl_running_image(Ctl *ctl, CtlImage *ret);

/* The floor from the EFI variable and st (NULL: unreadable state file). */
void ctl_floor(Ctl *ctl, const AbideState *st, SecurityFloor *ret);

/* 0 when the booted slot's image may be blessed, else -EPERM with the one-line reason. */
int ctl_floor_check_booted(Ctl *ctl, const AbideState *st, Slot booted, const CtlImage *img);

/*
 * After the booted slot was blessed: records its security version and
 * raises the floor to it (never lowers; st changed, the caller saves it).
 * The other slot, when its recorded security version is now below the
 * floor, can no longer boot: its entry is marked bad, so neither the
 * loader's order nor a pin sends the device into it. Failures to write the
 * EFI variable or the other slot's entry are warnings: the bless stands.
 * Returns whether st changed.
 */
bool ctl_floor_bless(Ctl *ctl, AbideState *st, Slot booted, const CtlImage *img);

/* switch/rollback: refuses a slot whose image is below the floor, or not known to be at it. */
int ctl_floor_check_switch(Ctl *ctl, Slot slot);
