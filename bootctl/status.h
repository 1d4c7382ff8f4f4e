/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "boot/boot.h"
#include "slot/state.h"

/* A slot's state as status reports it: the entry decides, the state file adds "installing". */
SlotState status_slot_state(const BootEntryInfo *e, const SlotRecord *r);
/* The version to show: the entry's, else the state file's. */
const char *status_slot_version(const BootEntryInfo *e, const SlotRecord *r);
