/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ctl-floor.h"

#include <inttypes.h>

#include "basic/error.h"
#include "boot/floor-store.h"
#include "slot/image-identity.h"

void ctl_image_done(CtlImage *i) {
        free(i->version);
        *i = (CtlImage) {};
}

void ctl_running_image(Ctl *ctl, CtlImage *ret) {
        _cleanup_(image_identity_done) ImageIdentity id = {};
        const char *path = ctl->config->image_info ?: IMAGE_INFO_PATH;

        *ret = (CtlImage) {};
        int r = image_identity_load(path, &id);
        if (r < 0) {
                ctl_warn("%s; the running image's security version is unknown", err_message(r));
                err_clear();
                return;
        }
        *ret = (CtlImage) { .known = true, .sv = id.security_version, .version = TAKE_PTR(id.version) };
}

void ctl_floor(Ctl *ctl, const AbideState *st, SecurityFloor *ret) {
        floor_load(ctl->config->efivars, st, ret);
}

static void describe(char *buf, size_t size, Slot slot, const char *version) {
        if (version)
                snprintf(buf, size, "slot %s (%s)", slot_to_string(slot), version);
        else
                snprintf(buf, size, "slot %s", slot_to_string(slot));
}

int ctl_floor_check_booted(Ctl *ctl, const AbideState *st, Slot booted, const CtlImage *img) {
        SecurityFloor f;
        char what[256];

        ctl_floor(ctl, st, &f);
        describe(what, sizeof what, booted, img->version);
        return floor_check(&f, what, img->known, img->sv);
}

static bool strand_other(Ctl *ctl, AbideState *st, Slot other, const SecurityFloor *f) {
        const SlotRecord *rec = &st->slots[other];
        BootEntryInfo e[_SLOT_MAX];

        if (!rec->sv_known || rec->security_version >= f->value)
                return false;
        if (ctl_entries(ctl, e) < 0) {
                err_clear();
                return false;
        }
        BootCounterState s = e[other].counter.state;
        boot_entry_infos_done(e);
        if (s == BOOT_COUNTER_MISSING || s == BOOT_COUNTER_BAD)
                return false;
        int r = boot_mark_bad(ctl->boot, other);
        if (r < 0) {
                ctl_warn("slot %s is below the floor %" PRIu64 ", but cannot be marked bad: %s", slot_to_string(other),
                         f->value, err_message(r));
                err_clear();
                return false;
        }
        state_set_bad(st, other);
        char why[128];
        snprintf(why, sizeof why, "security version %" PRIu64 ", below the floor %" PRIu64, rec->security_version, f->value);
        if (state_set_failure(st, other, "security-floor", why, ctl_now()) < 0)
                ctl_warn("cannot record why slot %s was marked bad", slot_to_string(other));
        printf("Slot %s (security version %" PRIu64 ") is below the floor %" PRIu64 " now: marked bad\n",
               slot_to_string(other), rec->security_version, f->value);
        return true;
}

bool ctl_floor_bless(Ctl *ctl, AbideState *st, Slot booted, const CtlImage *img) {
        SecurityFloor before, after;

        if (!img->known)
                return false;
        bool changed = !st->slots[booted].sv_known || st->slots[booted].security_version != img->sv;
        uint64_t state_floor = st->floor.valid ? st->floor.security_version : 0;
        state_set_security_version(st, booted, img->sv);
        if (!st->slots[booted].version && img->version && (st->slots[booted].version = strdup(img->version)))
                changed = true;
        ctl_floor(ctl, st, &before);
        int r = floor_raise(ctl->config->efivars, st, img->sv, img->version, ctl_now());
        if (r < 0) {
                ctl_warn("%s; the state file keeps the floor", err_message(r));
                err_clear();
        }
        ctl_floor(ctl, st, &after);
        if (after.value > before.value)
                printf("Security floor raised to %" PRIu64 "\n", after.value);
        changed = changed || (st->floor.valid ? st->floor.security_version : 0) != state_floor;
        return strand_other(ctl, st, slot_other(booted), &after) || changed;
}

int ctl_floor_check_switch(Ctl *ctl, Slot slot) {
        _cleanup_(state_freep) AbideState *st = NULL;
        _cleanup_(ctl_image_done) CtlImage running = {};
        SecurityFloor f;
        Slot booted;
        char what[256];

        /* An unreadable state file: the EFI copy alone, and no slot's security version is known. */
        if (ctl_state_load(ctl, &st) < 0)
                err_clear();
        ctl_floor(ctl, st, &f);
        if (f.value == 0)
                return 0;

        if (ctl_booted(ctl, &booted) >= 0 && booted == slot) {
                ctl_running_image(ctl, &running);
                describe(what, sizeof what, slot, running.version);
                return floor_check(&f, what, running.known, running.sv);
        }
        err_clear();
        const SlotRecord *rec = st ? &st->slots[slot] : NULL;
        describe(what, sizeof what, slot, rec ? rec->version : NULL);
        return floor_check(&f, what, rec && rec->sv_known, rec ? rec->security_version : 0);
}
