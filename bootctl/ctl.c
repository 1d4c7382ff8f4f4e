/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ctl.h"

#include <stdarg.h>
#include <time.h>

#include "basic/error.h"
#include "boot/loader-esp.h"
#include "slot/slot-discover.h"

const char *arg_config = NULL;
const char *ctl_verb = NULL;

/* With no Disk= configured, look for the slots only on the disk the loader
 * started from (LoaderDevicePartUUID names its ESP, lib/boot/loader-esp.h), as abide-init does: a
 * second disk with abide labels (a reflash stick) must not make them ambiguous.
 * Anything missing on the way leaves the search as it was. */
static void narrow_to_boot_disk(AbideConfig *c) {
        _cleanup_free_ char *uuid = NULL, *disk = NULL;

        if (!c->disk && loader_esp_uuid(c->efivars, &uuid) >= 0 &&
            slot_disk_of_partuuid(c, uuid, &disk) >= 0)
                c->disk = TAKE_PTR(disk);
        err_clear();
}

int ctl_open(Ctl *ret) {
        Ctl c = {};
        int r = config_load(arg_config, &c.config);
        if (r < 0)
                return r;
        for (size_t i = 0; i < c.config->n_ignored; i++)
                ctl_warn("%s ignored: trust and what runs as root are set only in %s (verified root)",
                         c.config->ignored[i], ABIDE_CONF_VENDOR_PATH);
        narrow_to_boot_disk(c.config);
        r = boot_backend_open(c.config, &c.boot);
        if (r < 0) {
                config_free(c.config);
                return r;
        }
        *ret = c;
        return 0;
}

void ctl_done(Ctl *c) {
        boot_backend_free(c->boot);
        config_free(c->config);
        *c = (Ctl) {};
}

int ctl_state_load(Ctl *c, AbideState **ret) {
        return state_load(c->config->state_file, ret);
}

int ctl_state_save(Ctl *c, const AbideState *s) {
        return state_save(s, c->config->state_file);
}

int ctl_state_lock(Ctl *c, int *ret_fd) {
        int r = state_lock(c->config->state_file, false, ret_fd);
        if (r == -EBUSY) {
                /* Another boot-check, mark-good or mark-bad is deciding; its verdict is what this one
                 * starts from. */
                ctl_warn("%s; waiting for it", err_message(r));
                err_clear();
                r = state_lock(c->config->state_file, true, ret_fd);
        }
        if (r >= 0 || r == -ENOMEM)
                return r;
        /* A state directory that cannot take the lock file (full, read-only) must not stop a
         * trial from being blessed: the entries decide, the state file is history. */
        ctl_warn("%s; going on without it", err_message(r));
        err_clear();
        *ret_fd = -EBADF;
        return 0;
}

int ctl_entries(Ctl *c, BootEntryInfo ret[static _SLOT_MAX]) {
        return boot_list(c->boot, ret);
}

int ctl_booted(Ctl *c, Slot *ret) {
        return boot_booted_slot(c->boot, ret);
}

int ctl_parse_slot(const char *s, Slot *ret) {
        Slot slot = slot_from_string(s);
        if (slot < 0)
                return err_set(EINVAL, "unknown slot '%s' (expected a or b)", s);
        *ret = slot;
        return 0;
}

uint64_t ctl_now(void) {
        return (uint64_t) time(NULL);
}

void ctl_warn(const char *fmt, ...) {
        va_list ap;
        fprintf(stderr, "abidectl: %s: warning: ", ctl_verb ?: "?");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

int ctl_switch_to(Ctl *ctl, Slot slot, bool once) {
        BootEntryInfo e[_SLOT_MAX];
        int r = ctl_entries(ctl, e);
        if (r < 0)
                return r;
        BootCounter c = e[slot].counter;
        boot_entry_infos_done(e);

        switch (c.state) {
        case BOOT_COUNTER_MISSING:
                return err_set(ENOENT, "slot %s has no boot entry", slot_to_string(slot));
        case BOOT_COUNTER_BAD:
                return err_set(EBUSY, "slot %s is marked bad", slot_to_string(slot));
        case BOOT_COUNTER_PENDING:
                /* The loader honours a default even once the trial used up its tries: only a
                 * one-time choice is safe for a slot on trial. */
                if (!once)
                        return err_set(EBUSY, "slot %s is on trial (%u tries left); use --once", slot_to_string(slot), c.left);
                break;
        case BOOT_COUNTER_GOOD:
        default:
                break;
        }
        r = boot_set_next(ctl->boot, slot, once);
        if (r < 0)
                return r;
        printf("Slot %s boots next%s\n", slot_to_string(slot), once ? " (once)" : " from now on");
        return 0;
}

void ctl_fetch_options(const AbideConfig *c, HttpFetchOptions *ret) {
        *ret = (HttpFetchOptions) {
                .stall_timeout_sec = c->net_stall_timeout_sec,
                .retries = c->net_retries,
                .timeout_sec = c->net_timeout_sec,
                .connect_timeout_sec = c->net_connect_timeout_sec,
                .max_redirects = c->net_max_redirects,
                .allow_http = c->net_allow_http,
                .ca_file = c->net_ca_file,
                .client_cert = c->net_client_cert,
                .client_key = c->net_client_key,
                .headers_file = c->net_headers_file,
        };
}
