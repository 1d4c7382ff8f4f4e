/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "install-policy.h"

#include <inttypes.h>

#include "basic/error.h"

int install_policy_check(const ImageIdentity *running, const ImageIdentity *bundle, const SecurityFloor *floor,
                         bool force) {
        char what[256];
        int r;

        if (!streq_ptr(running->compatible, bundle->compatible))
                return err_set(EMEDIUMTYPE, "bundle is for '%s', this device runs '%s'",
                               bundle->compatible ?: "", running->compatible ?: "");
        snprintf(what, sizeof what, "bundle %s", bundle->version ?: "");
        r = floor_check(floor, what, true, bundle->security_version);
        if (r < 0)
                return r;
        if (bundle->security_version < running->security_version)
                return err_set(EPERM, "bundle %s has security version %" PRIu64 ", lower than the running image's %" PRIu64,
                               bundle->version ?: "", bundle->security_version, running->security_version);
        if (!force && streq_ptr(running->version, bundle->version))
                return err_set(EEXIST, "version %s is already running (use --force to install it again)",
                               bundle->version ?: "");
        return 0;
}

unsigned install_policy_tries(unsigned arg_tries, unsigned manifest_tries, unsigned config_tries) {
        if (arg_tries > 0)
                return arg_tries;
        if (manifest_tries > 0)
                return manifest_tries;
        return config_tries > 0 ? config_tries : 3;
}

bool install_policy_fits(uint64_t size, uint64_t part_size, uint64_t align) {
        if (align == 0)
                align = 1;
        if (size > part_size)
                return false;
        uint64_t rounded = size / align * align;
        if (rounded < size) {
                if (rounded > UINT64_MAX - align)
                        return false;
                rounded += align;
        }
        return rounded <= part_size;
}
