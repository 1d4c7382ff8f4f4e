/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "boot/boot.h"
#include "net/http-fetch.h"
#include "slot/config.h"
#include "slot/slot.h"
#include "slot/state.h"

/* --config FILE, before the verb; NULL: $ABIDE_CONF or /etc/abide/abide.conf. */
extern const char *arg_config;

/* What every verb works on: the configuration and the boot backend. */
typedef struct Ctl {
        AbideConfig *config;
        BootBackend *boot;
} Ctl;

int ctl_open(Ctl *ret);

/* [Network]'s settings as fetch options (install URL, update's channel); callbacks unset. */
void ctl_fetch_options(const AbideConfig *c, HttpFetchOptions *ret);
void ctl_done(Ctl *c);

/* The state file; a corrupt one is an error naming the file. */
int ctl_state_load(Ctl *c, AbideState **ret);
int ctl_state_save(Ctl *c, const AbideState *s);
/* state_lock(), waiting (with a warning) while another abidectl holds it. */
int ctl_state_lock(Ctl *c, int *ret_fd);

/* Both entries, the booted slot (_SLOT_INVALID when unknown). */
int ctl_entries(Ctl *c, BootEntryInfo ret[static _SLOT_MAX]);
int ctl_booted(Ctl *c, Slot *ret);

/* "a"/"b" argument, with a one-line error otherwise. */
int ctl_parse_slot(const char *s, Slot *ret);

/* Boots slot next, once or from now on; refuses a slot that could pin a failing trial. */
int ctl_switch_to(Ctl *ctl, Slot slot, bool once);

uint64_t ctl_now(void);
/* Warnings are the only thing the program prints besides results and the final error. */
void ctl_warn(const char *fmt, ...) _printf_(1, 2);
extern const char *ctl_verb;
