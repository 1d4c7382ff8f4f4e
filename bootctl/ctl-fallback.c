/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "ctl-fallback.h"

#include <unistd.h>

#include "basic/error.h"
#include "boot/efi-bootopt.h"
#include "boot/loader-esp.h"
#include "slot/slot-discover.h"

void ctl_fallback_options(Ctl *ctl) {
        const AbideConfig *c = ctl->config;
        _cleanup_free_ char *uuid = NULL;
        SlotPartition esp = {};
        EspLocation where;
        bool changed = false;
        int r;

        if (!streq(boot_backend_name(ctl->boot), "systemd-boot") || !c->secure_boot_cert ||
            access(c->secure_boot_cert, F_OK) < 0)
                return;
        /* The ESP the loader started from. */
        r = loader_esp_uuid(c->efivars, &uuid);
        if (r < 0) {
                ctl_warn("no firmware fallback options: the loader did not say its ESP (LoaderDevicePartUUID: %s)",
                         strerror(-r));
                return;
        }
        r = slot_partition_find_by_uuid(c, uuid, &esp);
        if (r >= 0)
                r = esp_location_from_device(esp.path, &where);
        if (r >= 0)
                r = efi_fallback_options_ensure(c->efivars, &where, &changed);
        slot_partition_done(&esp);
        if (r < 0) {
                ctl_warn("no firmware fallback options: %s", err_message(r));
                err_clear();
                return;
        }
        if (changed)
                printf("Firmware fallback boot options to the good slots' UKIs written\n");
}
