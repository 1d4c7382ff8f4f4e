/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "init-floor.h"

#include "basic/error.h"
#include "boot/floor-store.h"
#include "slot/image-identity.h"
#include "slot/state.h"

int init_floor_check(const char *sysroot, const char *efivars_dir, InitFloor *ret) {
        _cleanup_(image_identity_done) ImageIdentity id = {};
        _cleanup_(state_freep) AbideState *st = NULL;
        _cleanup_free_ char *info = NULL, *state = NULL;
        SecurityFloor f;
        char what[256];

        if (asprintf(&info, "%s%s", sysroot, IMAGE_INFO_PATH) < 0 || asprintf(&state, "%s%s", sysroot, INIT_STATE_FILE) < 0)
                return -ENOMEM;
        /* An image that does not say its security version boots only without a floor. */
        bool known = image_identity_load(info, &id) >= 0;
        if (state_load(state, &st) < 0)
                st = NULL;
        err_clear();
        floor_load(efivars_dir, st, &f);

        *ret = (InitFloor) {
                .sv_known = known,
                .sv = known ? id.security_version : 0,
                .floor = f.value,
                .source = f.source,
                .efi = f.efi.have,
                .state = f.state.have,
        };
        snprintf(what, sizeof what, "image %s", known ? id.version : "(no image.json)");
        return floor_check(&f, what, known, ret->sv);
}
