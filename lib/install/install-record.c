/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "install-private.h"

#include <time.h>

#include "basic/error.h"
#include "boot/floor-store.h"
#include "install/install-policy.h"

/*
 * The state file is shared: boot-check, mark-good and mark-bad take turns on
 * its lock (state_lock()) and save it too while an install runs (a floor
 * raised by a bless, a first boot recorded, a slot marked bad). The install
 * takes two turns: one around the target's record as installing and the
 * removal of its entry, one around its record as pending and the new entry.
 * A turn is taken before the ESP's write scope, as the others take it (the
 * state lock, then the ESP's: never the other way round, or an install
 * waiting for its turn would hold a mark-good out of the ESP). Each save
 * reads the file again under the lock and changes only the target's record:
 * a copy read at the start and saved later would undo what the others wrote
 * during the download; the lock held for the whole install would hold a
 * boot-check (and with it the busybox watchdog) for as long.
 */
int install_record_turn(Install *in, int *ret_fd) {
        const char *path = in->config->state_file;
        int r = state_lock(path, false, ret_fd);
        if (r == -EBUSY) {
                if (in->opts->on_state_wait)
                        in->opts->on_state_wait(err_message(r), in->opts->userdata);
                err_clear();
                r = state_lock(path, true, ret_fd);
        }
        if (r < 0)
                return err_prefix(r, "state file %s", path);
        return 0;
}

/*
 * Under a turn: the target's record in the state file as it is now. Before
 * the first write the policy is judged again on the floor as it is now: a
 * bless that raised it since the first check refuses the bundle here, with
 * nothing written.
 */
int install_record(Install *in, const Manifest *m, InstallRecord what) {
        bool done = what == INSTALL_RECORD_DONE;
        const char *path = in->config->state_file;
        int r;

        AbideState *now = NULL;
        r = state_load(path, &now);
        if (r < 0)
                return err_prefix(r, "state file %s", path);
        state_free(in->state);
        in->state = now;

        if (what == INSTALL_RECORD_BEGIN) {
                SecurityFloor floor;
                floor_load(in->config->efivars, in->state, &floor);
                r = install_policy_check(in->running, in->bundle_id, &floor, in->opts->force);
                if (r < 0)
                        return r;
        }
        if (!done) {
                r = state_install_begin(in->state, in->target, m->version, (uint64_t) time(NULL));
                if (r >= 0)
                        state_set_security_version(in->state, in->target, m->security_version);
        } else {
                state_install_done(in->state, in->target, (uint64_t) time(NULL));
                if (in->src) {
                        DeltaStats st;
                        delta_source_stats(in->src, &st);
                        state_set_fetch(in->state, in->target, true, st.fetched, st.size);
                } else {
                        uint64_t n = bundle_reader_bytes(in->reader);
                        state_set_fetch(in->state, in->target, false, n, n);
                }
                r = 0;
        }
        if (r >= 0)
                r = state_save(in->state, path);
        if (r < 0)
                return err_prefix(r, "cannot record slot %s as %s in %s", slot_to_string(in->target),
                                  done ? "pending" : "installing", path);
        return 0;
}

