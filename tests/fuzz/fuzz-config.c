/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* abide.conf, any bytes: the vendor file baked into the image and the
 * device's local file (the input, cut at its first "\n%%\n" into the two;
 * without one the input is the local file). Either a clean error, or a
 * configuration whose values are inside the documented ranges. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "fuzz-util.h"

#include "basic/error.h"
#include "basic/rm-rf.h"
#include "slot/config.h"

static bool one_of(const char *s, const char *a, const char *b, const char *c) {
        return s && (streq(s, a) || streq(s, b) || (c && streq(s, c)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(config_freep) AbideConfig *c = NULL;
        char dir[PATH_MAX], vendor[PATH_MAX + 16], local[PATH_MAX + 16];

        FUZZ_ASSERT(fuzz_scratch_dir("fuzz-config", dir) == 0);
        snprintf(vendor, sizeof vendor, "%s/vendor.conf", dir);
        snprintf(local, sizeof local, "%s/abide.conf", dir);

        const uint8_t *cut = memmem(data, size, "\n%%\n", 4);
        bool have_vendor = cut != NULL;
        if (cut) {
                fuzz_put(vendor, NULL, 0, data, (size_t) (cut - data) + 1);
                fuzz_put(local, NULL, 0, cut + 4, size - (size_t) (cut + 4 - data));
        } else
                fuzz_put(local, NULL, 0, data, size);

        int r = config_load_layered(have_vendor ? vendor : NULL, local, &c);
        if (r < 0)
                FUZZ_ASSERT(err_message(r)[0]);
        else {
                FUZZ_ASSERT(c->tries >= 1 && c->tries <= 99);
                FUZZ_ASSERT(c->health_timeout_sec >= 1 && c->check_timeout_sec >= 1);
                FUZZ_ASSERT(c->net_delta_connections >= 1 && c->net_delta_connections <= 16);
                FUZZ_ASSERT(c->net_connect_timeout_sec >= 1);
                FUZZ_ASSERT(one_of(c->update_reboot, "now", "window", "never"));
                FUZZ_ASSERT(one_of(c->report_method, "PUT", "POST", NULL));
                FUZZ_ASSERT(c->state_file && c->efivars && c->backend);
                for (size_t i = 0; i < c->n_ignored; i++)
                        FUZZ_ASSERT(c->ignored[i] && c->ignored[i][0]);
        }
        err_clear();
        FUZZ_ASSERT(rm_rf(dir) == 0);
        return 0;
}
