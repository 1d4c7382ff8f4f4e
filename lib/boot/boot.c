/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "boot.h"

#include "basic/error.h"
#include "boot/backend.h"

/* The GRUB environment backend joins this table. */
static const BootBackendOps *const backends[] = {
        &boot_backend_systemd_boot,
        &boot_backend_uboot,
};

void boot_entry_info_done(BootEntryInfo *e) {
        free(e->file);
        free(e->version);
        *e = (BootEntryInfo) {};
}

void boot_entry_infos_done(BootEntryInfo e[static _SLOT_MAX]) {
        for (int i = 0; i < _SLOT_MAX; i++)
                boot_entry_info_done(&e[i]);
}

int boot_backend_open(const AbideConfig *c, BootBackend **ret) {
        const BootBackendOps *ops = NULL;

        for (size_t i = 0; i < ELEMENTSOF(backends); i++)
                if (streq(backends[i]->name, c->backend))
                        ops = backends[i];
        if (!ops)
                return err_set(EOPNOTSUPP, "unknown boot backend '%s' in abide.conf", c->backend);

        _cleanup_(boot_backend_freep) BootBackend *b = calloc(1, sizeof *b);
        if (!b)
                return -ENOMEM;
        int r = ops->open(b, c);
        if (r < 0)
                return r;
        b->ops = ops;
        *ret = TAKE_PTR(b);
        return 0;
}

BootBackend *boot_backend_free(BootBackend *b) {
        if (!b)
                return NULL;
        if (b->ops)
                b->ops->close(b);
        free(b);
        return NULL;
}

static int check_slot(Slot slot) {
        return slot >= 0 && slot < _SLOT_MAX ? 0 : err_set(EINVAL, "invalid slot");
}

const char *boot_backend_name(const BootBackend *b) {
        return b->ops->name;
}

int boot_booted_slot(BootBackend *b, Slot *ret) {
        return b->ops->booted_slot(b, ret);
}

int boot_selected_failure(BootBackend *b, Slot selected, const char *file, Slot booted, char **ret) {
        if (b->ops->selected_failure)
                return b->ops->selected_failure(b, selected, file, booted, ret);
        return asprintf(ret, "the loader selected slot %s (%s), which did not start; slot %s started", slot_to_string(selected),
                        file ?: "", slot_to_string(booted)) < 0 ? -ENOMEM : 0;
}

int boot_selected_slot(BootBackend *b, Slot *ret) {
        return b->ops->selected_slot ? b->ops->selected_slot(b, ret) : -ENOENT;
}

int boot_list(BootBackend *b, BootEntryInfo ret[static _SLOT_MAX]) {
        return b->ops->list(b, ret);
}

int boot_remove(BootBackend *b, Slot slot) {
        return check_slot(slot) ?: b->ops->remove(b, slot);
}

int boot_write(BootBackend *b, Slot slot, const BootEntrySpec *spec) {
        return check_slot(slot) ?: b->ops->write(b, slot, spec);
}

int boot_check_tries(BootBackend *b, unsigned tries) {
        unsigned max = b->ops->max_tries ?: BOOT_COUNTER_MAX;
        if (tries > max)
                return err_set(EINVAL, "too many tries for %s: %u (at most %u)", b->ops->name, tries, max);
        return 0;
}

int boot_mark_good(BootBackend *b, Slot slot) {
        return check_slot(slot) ?: b->ops->mark_good(b, slot);
}

int boot_mark_bad(BootBackend *b, Slot slot) {
        return check_slot(slot) ?: b->ops->mark_bad(b, slot);
}

int boot_set_next(BootBackend *b, Slot slot, bool once) {
        return check_slot(slot) ?: b->ops->set_next(b, slot, once);
}

int boot_clear_next(BootBackend *b, bool once) {
        return b->ops->clear_next(b, once);
}

int boot_get_next(BootBackend *b, Slot *ret_default, Slot *ret_once) {
        return b->ops->get_next(b, ret_default, ret_once);
}

int boot_kernel_dir(BootBackend *b, Slot slot, char **ret) {
        return check_slot(slot) ?: b->ops->kernel_dir(b, slot, ret);
}

const char *boot_location(const BootBackend *b) {
        return b->ops->location(b);
}

int boot_writable_begin(BootBackend *b, BootBackend **ret_scope) {
        int r = b->ops->writable_begin ? b->ops->writable_begin(b) : 0;
        if (r < 0)
                return r;
        *ret_scope = b;
        return 0;
}

int boot_writable_end(BootBackend *b) {
        return b->ops->writable_end ? b->ops->writable_end(b, false) : 0;
}

void boot_writable_endp(BootBackend **b) {
        if (*b && (*b)->ops->writable_end)
                (void) (*b)->ops->writable_end(*b, true);
}
