/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "install-private.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "boot/boot-entry.h"
#include "boot/floor-store.h"
#include "bundle/bundle.h"
#include "crypto/trust.h"
#include "install/install-policy.h"
#include "install/install-stream.h"
#include "install/install-target.h"
#include "slot/state.h"
#include "verity/verity.h"

/* Room the ESP keeps beyond the new kernel and initrd (FAT clusters, directory entries). */
#define ESP_SLACK (256U * 1024)

static void install_done(Install *in) {
        if (in->flush.running)
                pthread_join(in->flush.thread, NULL);
        install_stream_abort(in->root_stream);
        free(in->tree);
        for (int i = 0; i < _SLOT_PART_MAX; i++)
                install_target_done(&in->parts[i]);
        free(in->kernel_dir);
        free(in->offsets);
        delta_plan_free(in->plan);
        free(in->running_kernel_dir);
        verity_leaf_hasher_free(in->hasher);
        free(in->leaves);
        bundle_reader_free(in->reader);
        state_free(in->state);
}

void install_result_done(InstallResult *r) {
        if (!r)
                return;
        free(r->version);
        free(r->entry);
        free(r->signer);
        *r = (InstallResult) {};
}

SlotPart install_role_part(PayloadRole role) {
        switch (role) {
        case PAYLOAD_ROOT:
                return SLOT_PART_ROOT;
        case PAYLOAD_VERITY:
                return SLOT_PART_VERITY;
        case PAYLOAD_VERITY_SIG:
                return SLOT_PART_VERITY_SIG;
        default:
                return _SLOT_PART_INVALID;
        }
}

bool install_payload_needed(const Install *in, PayloadRole role) {
        switch (role) {
        case PAYLOAD_KERNEL:
        case PAYLOAD_INITRD:
                return !in->uki;
        case PAYLOAD_UKI_A:
        case PAYLOAD_UKI_B:
                return in->uki && role == (in->target == SLOT_A ? PAYLOAD_UKI_A : PAYLOAD_UKI_B);
        default:
                return true;
        }
}

static int open_targets(Install *in) {
        SlotPartition found[_SLOT_PART_MAX], running[_SLOT_PART_MAX];
        int r;

        r = slot_partitions_find(in->config, in->target, found);
        if (r < 0)
                return err_prefix(r, "slot %s", slot_to_string(in->target));
        for (int i = 0; i < _SLOT_PART_MAX && r >= 0; i++) {
                char label[64];
                r = slot_part_label(in->target, (SlotPart) i, label, sizeof label);
                if (r >= 0)
                        r = install_target_open(&found[i], label, &in->parts[i]);
        }
        for (int i = 0; i < _SLOT_PART_MAX; i++)
                slot_partition_done(&found[i]);
        if (r < 0)
                return r;

        /* A misconfigured override must never point the target at the running slot. */
        if (slot_partitions_find(in->config, in->booted, running) < 0) {
                err_clear();
                return 0;
        }
        for (int i = 0; i < _SLOT_PART_MAX && r >= 0; i++)
                for (int j = 0; j < _SLOT_PART_MAX && r >= 0; j++)
                        if (install_target_same(&in->parts[i], &running[j]))
                                r = err_set(EBUSY, "target partition %s (%s) is also a partition of the running slot %s",
                                            in->parts[i].label, in->parts[i].path, slot_to_string(in->booted));
        for (int i = 0; i < _SLOT_PART_MAX; i++)
                slot_partition_done(&running[i]);
        return r;
}

static uint64_t file_size_at(const char *dir, const char *name) {
        struct stat st;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t) st.st_size : 0;
}

/* Everything the bundle needs must fit before the first byte is written. */
static int check_payloads(Install *in, const Manifest *m) {
        uint64_t esp_need = 0;

        for (size_t i = 0; i < m->n_payloads; i++) {
                const Payload *p = &m->payloads[i];
                if (!install_payload_needed(in, p->role))
                        continue;
                SlotPart part = install_role_part(p->role);
                if (part < 0) {
                        esp_need += p->size;
                        continue;
                }
                const InstallTarget *t = &in->parts[part];
                if (!install_policy_fits(p->size, t->size, t->direct ? INSTALL_ALIGN : 1))
                        return err_set(EFBIG, "payload '%s' (%" PRIu64 " bytes) does not fit %s (%s, %" PRIu64 " bytes)",
                                       p->name, p->size, t->label, t->path, t->size);
        }
        if (in->uki) {
                /* The manifest has both UKIs or neither (manifest_validate()). */
                if (!manifest_find_role(m, PAYLOAD_UKI_A))
                        return err_set(ENOENT, "this device boots signed UKIs (%s exists) and the bundle has none: "
                                               "build it with [Boot] UKI=yes (docs/secure-boot.md)",
                                       in->config->secure_boot_cert);
        } else
                for (PayloadRole role = PAYLOAD_KERNEL; role <= PAYLOAD_INITRD; role++)
                        if (!manifest_find_role(m, role))
                                return err_set(ENOENT, "bundle has no %s payload; slot %s's boot entry needs %s/%s",
                                               payload_role_to_string(role), slot_to_string(in->target),
                                               in->kernel_dir, install_role_file(role));

        /* The slot's old kernel and initrd go before the new ones are written. */
        struct statvfs sv;
        if (statvfs(in->kernel_dir, &sv) < 0)
                return err_set(errno, "cannot stat the file system of %s: %m", in->kernel_dir);
        uint64_t avail = (uint64_t) sv.f_bavail * sv.f_frsize + file_size_at(in->kernel_dir, "vmlinuz") +
                         file_size_at(in->kernel_dir, "initrd") + file_size_at(in->kernel_dir, UKI_STAGED);
        if (avail < esp_need || avail - esp_need < ESP_SLACK)
                return err_set(ENOSPC, "%s (%" PRIu64 " bytes) do not fit %s (%" PRIu64 " bytes free)",
                               in->uki ? "the UKI" : "kernel and initrd", esp_need, in->kernel_dir, avail);
        return 0;
}

/* Before anything is written: root.verity fetched and checked, the local trees read, every block planned. */
static int delta_prepare(Install *in, const Manifest *m) {
        SlotPartition running[_SLOT_PART_MAX] = {};
        bool have_running = slot_partitions_find(in->config, in->booted, running) >= 0;
        int r;

        err_clear();
        if (boot_kernel_dir(in->boot, in->booted, &in->running_kernel_dir) < 0) {
                err_clear();
                in->running_kernel_dir = NULL;
        }
        bool needed[MANIFEST_PAYLOADS_MAX] = {};
        for (size_t i = 0; i < m->n_payloads && i < MANIFEST_PAYLOADS_MAX; i++)
                needed[i] = install_payload_needed(in, m->payloads[i].role);
        DeltaInputs di = {
                .needed = needed,
                .manifest = m,
                .offsets = in->offsets,
                .running = have_running ? running : NULL,
                .target_root_fd = in->parts[SLOT_PART_ROOT].fd,
                .target_verity_fd = in->parts[SLOT_PART_VERITY].fd,
                .target_root_size = in->parts[SLOT_PART_ROOT].size,
                .target_verity_size = in->parts[SLOT_PART_VERITY].size,
                .running_kernel_dir = in->running_kernel_dir,
        };
        r = delta_plan(in->src, &di, &in->plan);
        for (int i = 0; i < _SLOT_PART_MAX; i++)
                slot_partition_done(&running[i]);
        return r;
}

int install_trust_load(const AbideConfig *c, TrustStore **ret) {
        _cleanup_(trust_store_freep) TrustStore *trust = NULL;
        int r;

        r = trust_store_load(c->keys_dir, &trust);
        if (r < 0)
                return err_prefix(r, "trusted keys %s", c->keys_dir);
        r = trust_store_set_policy(trust, &(TrustPolicy) {
                .check_time = c->trust_check_time, .signer_eku = c->trust_signer_eku,
                .signer_pins = c->trust_signers, .deny = c->trust_deny, .crl_path = c->trust_crl });
        if (r < 0)
                return err_prefix(r, "abide.conf");
        *ret = TAKE_PTR(trust);
        return 0;
}

/* The manifest bytes as stored in the bundle (the member manifest.json), whose signature was just verified. */
static int check_manifest_sha256(BundleReader *reader, const uint8_t *expect) {
        uint8_t got[SHA256_DIGEST_SIZE];
        char got_hex[2 * SHA256_DIGEST_SIZE + 1], want_hex[2 * SHA256_DIGEST_SIZE + 1];
        size_t len;
        int r;

        if (!expect)
                return 0;
        const char *json = bundle_reader_manifest_json(reader, &len);
        r = sha256_buf(json, len, got);
        if (r < 0)
                return r;
        if (memcmp(got, expect, SHA256_DIGEST_SIZE) == 0)
                return 0;
        hex_encode(got, SHA256_DIGEST_SIZE, got_hex);
        hex_encode(expect, SHA256_DIGEST_SIZE, want_hex);
        return err_set(EBADMSG, "%s: manifest SHA-256 %s is not the channel's %s", bundle_reader_name(reader), got_hex, want_hex);
}

static int run(const AbideConfig *c, BootBackend *boot, int fd, DeltaSource *src, const InstallOptions *o,
               InstallResult *ret) {
        _cleanup_(install_done) Install in = { .config = c, .boot = boot, .opts = o, .src = src };
        _cleanup_(trust_store_freep) TrustStore *trust = NULL;
        _cleanup_(image_identity_done) ImageIdentity running = {};
        InstallResult res = {};
        int r;

        for (int i = 0; i < _SLOT_PART_MAX; i++)
                in.parts[i].fd = -EBADF;

        /* The running slot is never written: without knowing it, nothing is. */
        r = boot_booted_slot(boot, &in.booted);
        if (r < 0)
                return r;
        in.target = slot_other(in.booted);

        r = open_targets(&in);
        if (r < 0)
                return r;

        r = install_trust_load(c, &trust);
        if (r < 0)
                return r;
        /* Verifies the manifest's signature; nothing is written before this. */
        if (src) {
                r = bundle_reader_open_source(delta_source_bundle(src), delta_source_display(src), trust, &in.reader);
                if (r < 0)
                        return r;
                in.offsets = calloc(MANIFEST_PAYLOADS_MAX, sizeof *in.offsets);
                if (!in.offsets)
                        return -ENOMEM;
                r = delta_prefetch(src, in.reader);
                if (r < 0)
                        return r;
                r = bundle_reader_index(in.reader, in.offsets);
        } else
                r = bundle_reader_open(fd, o->bundle_name, trust, &in.reader);
        if (r < 0)
                return r;
        r = check_manifest_sha256(in.reader, o->expect_manifest_sha256);
        if (r < 0)
                return r;
        const Manifest *m = bundle_reader_manifest(in.reader);

        r = image_identity_load(c->image_info ?: IMAGE_INFO_PATH, &running);
        if (r < 0)
                return r;
        /* The floor: the EFI variable and the state file's copy, whatever slot runs. */
        r = state_load(c->state_file, &in.state);
        if (r < 0)
                return err_prefix(r, "state file %s", c->state_file);
        SecurityFloor floor;
        floor_load(c->efivars, in.state, &floor);
        ImageIdentity bundle = {
                .name = m->name,
                .version = m->version,
                .compatible = m->compatible,
                .security_version = m->security_version,
        };
        r = install_policy_check(&running, &bundle, &floor, o->force);
        if (r < 0)
                return r;
        in.running = &running;
        in.bundle_id = &bundle;

        r = boot_kernel_dir(boot, in.target, &in.kernel_dir);
        if (r < 0)
                return r;
        /* A device whose verified root carries the Secure Boot db certificate boots signed UKIs. */
        in.uki = c->secure_boot_cert && access(c->secure_boot_cert, F_OK) == 0;
        r = check_payloads(&in, m);
        if (r < 0)
                return r;

        unsigned tries = install_policy_tries(o->tries, m->tries, c->tries);
        BootCounter counter = { .state = BOOT_COUNTER_PENDING, .left = tries };
        char entry[BOOT_ENTRY_NAME_MAX];
        r = boot_entry_name_format_type(in.target, &counter, in.uki ? BOOT_ENTRY_TYPE2 : BOOT_ENTRY_TYPE1, entry);
        if (r < 0)
                return err_set(EINVAL, "cannot name slot %s's boot entry with %u tries", slot_to_string(in.target), tries);
        r = boot_check_tries(boot, tries);
        if (r < 0)
                return r;

        if (src) {
                r = delta_prepare(&in, m);
                if (r < 0)
                        return r;
                res.delta = true;
                delta_summary(in.plan, &res.summary);
                if (o->dry_run) {
                        res.slot = in.target;
                        res.version = strdup(m->version);
                        if (!res.version)
                                return -ENOMEM;
                        *ret = res;
                        return 0;
                }
        }

        /* The first turn on the state file (install_record_turn()), then the ESP's scope. */
        _cleanup_close_ int turn = -EBADF;
        r = install_record_turn(&in, &turn);
        if (r < 0)
                return r;
        /* An ESP that cannot be written fails here, before anything is. */
        _cleanup_(boot_writable_endp) BootBackend *esp = NULL;
        r = boot_writable_begin(boot, &esp);
        if (r < 0)
                return r;
        if (o->on_begin)
                o->on_begin(in.target, m->version, tries, o->userdata);
        /* From here on the target is written: first make it unbootable. */
        r = install_record(&in, m, INSTALL_RECORD_BEGIN);
        if (r < 0)
                return r;
        r = boot_remove(boot, in.target);
        if (r < 0)
                return err_prefix(r, "cannot remove slot %s's boot entry", slot_to_string(in.target));
        r = install_clean_kernel_dir(in.kernel_dir);
        if (r < 0)
                return r;
        r = boot_writable_end(TAKE_PTR(esp));
        if (r < 0)
                return r;
        turn = safe_close(turn);

        r = src ? install_write_delta(&in, m) : install_write_stream(&in);
        if (r < 0)
                return r;
        if (src)
                delta_summary(in.plan, &res.summary);
        r = install_verify_slot(&in, m);
        if (r < 0)
                return r;

        _cleanup_free_ char *uki = NULL;
        if (in.uki) {
                r = install_verify_uki(&in, &uki);
                if (r < 0)
                        return r;
        }
        /* The trial is recorded before its entry exists: an entry the state file does not know as a
         * trial would be booted and counted by the loader, but its failure never recorded as a rollback
         * (DESIGN.md "Slot states"). A state file that cannot be written (abide-data full) fails the
         * install here, with the slot still unbootable; a crash before the entry leaves a pending
         * record with no entry, which nothing acts on. */
        r = install_record_turn(&in, &turn);
        if (r < 0)
                return r;
        r = install_record(&in, m, INSTALL_RECORD_DONE);
        if (r < 0)
                return r;
        BootEntrySpec spec = { .version = m->version, .cmdline = m->cmdline, .tries = tries, .uki = uki };
        r = boot_write(boot, in.target, &spec);
        if (r < 0) {
                char cause[ERR_MAX];
                (void) snprintf(cause, sizeof cause, "%s", err_message(r));
                /* No entry: the record goes back to installing, as far as the state file can be written. */
                (void) install_record(&in, m, INSTALL_RECORD_UNDO);
                return err_set(r, "slot %s verified, but its boot entry: %s", slot_to_string(in.target), cause);
        }
        turn = safe_close(turn);

        res.slot = in.target;
        res.version = strdup(m->version);
        res.entry = strdup(entry);
        res.signer = bundle_reader_signer(in.reader) ? strdup(bundle_reader_signer(in.reader)) : NULL;
        if (!res.version || !res.entry) {
                install_result_done(&res);
                return -ENOMEM;
        }
        *ret = res;
        return 0;
}

int install_run(const AbideConfig *c, BootBackend *boot, int fd, const InstallOptions *o, InstallResult *ret) {
        return run(c, boot, fd, NULL, o, ret);
}

int install_run_delta(const AbideConfig *c, BootBackend *boot, DeltaSource *src, const InstallOptions *o,
                      InstallResult *ret) {
        return run(c, boot, -EBADF, src, o, ret);
}
