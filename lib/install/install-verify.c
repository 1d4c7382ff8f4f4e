/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "install-private.h"

#include <fcntl.h>
#include <inttypes.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/progress.h"
#include "bundle/bundle.h"
#include "crypto/authenticode.h"
#include "verity/verity.h"

/*
 * What landed, read back from the devices once the writes are flushed:
 * root and its tree against the signed root hash, every other payload
 * against its SHA-256 in the manifest, a staged UKI against the Secure Boot
 * db (docs/install.md, "One pass over root").
 */

typedef struct VerityJob {
        const char *data, *hash;
        const VerityParams *params;
        int r;
        char message[ERR_MAX];
} VerityJob;

static void *verity_thread(void *userdata) {
        VerityJob *j = userdata;
        j->r = verity_verify(j->data, j->hash, j->params);
        if (j->r < 0)
                snprintf(j->message, sizeof j->message, "%s", err_message(j->r));
        return NULL;
}

static int readback_one(Install *in, const Payload *p) {
        uint8_t digest[SHA256_DIGEST_SIZE];
        char want[SHA256_HEX_SIZE], got[SHA256_HEX_SIZE];
        _cleanup_free_ char *path = NULL;
        const char *what;
        int r;

        SlotPart part = install_role_part(p->role);
        if (part >= 0) {
                const InstallTarget *t = &in->parts[part];
                what = t->label;
                /* O_DIRECT reads are device reads, and fast where readahead is small (loop devices). */
                r = install_readback_sha256(t->fd, t->direct, p->size, digest);
        } else {
                if (asprintf(&path, "%s/%s", in->kernel_dir, install_role_file(p->role)) < 0)
                        return -ENOMEM;
                what = path;
                _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        return err_set(errno, "read back: cannot open %s: %m", path);
                r = install_readback_sha256(fd, false, p->size, digest);
        }
        if (r < 0)
                return err_prefix(r, "%s", what);
        if (memcmp(digest, p->sha256, SHA256_DIGEST_SIZE) != 0) {
                hex_encode(p->sha256, SHA256_DIGEST_SIZE, want);
                hex_encode(digest, SHA256_DIGEST_SIZE, got);
                return err_set(EBADMSG, "read back: %s holds sha256 %s over %" PRIu64 " bytes, the manifest says %s for '%s'",
                               what, got, p->size, want, p->name);
        }
        return 0;
}

typedef struct LeavesJob {
        const InstallTarget *root;
        uint64_t size;
        VerityLeafHasher *hasher;
        uint8_t *leaves;
        int r;
        char message[ERR_MAX];
} LeavesJob;

static void *leaves_thread(void *userdata) {
        LeavesJob *j = userdata;
        j->r = install_readback_leaves(j->root->fd, j->root->direct, j->size, j->hasher, j->leaves);
        if (j->r < 0)
                snprintf(j->message, sizeof j->message, "%s", err_message(j->r));
        return NULL;
}

/*
 * Root's leaves were not read back while it was written (a delta, a
 * buffered target): they are read now, after the flush, unless the tree is
 * one verity-tree.c does not check (then libcryptsetup does it all).
 */
static int leaves_after(Install *in, const VerityParams *v) {
        if (!in->leaves) {
                if (verity_tree_supported(v) < 0 || v->data_blocks > LEAVES_MAX / SHA256_DIGEST_SIZE) {
                        err_clear();
                        return 0;
                }
                in->leaves = malloc((size_t) v->data_blocks * SHA256_DIGEST_SIZE);
                if (!in->leaves)
                        return -ENOMEM;
        }
        if (!in->hasher) {
                int r = verity_leaf_hasher_new(v, &in->hasher);
                if (r < 0)
                        return r;
        }
        return 1;
}

/*
 * What landed, read back from the devices, in one pass over root: dm-verity
 * proves root and its tree against the signed root hash (the manifest binds
 * root's size to verity.data_blocks, so every byte of it is covered);
 * hashing root again for its sha256 would prove nothing more. Root was read
 * back while it was written (install_stream_payload()'s leaves): then the
 * tree is read back and checked here with those leaves (verity-tree.c).
 * Else (a buffered target, a delta) root is read back now for its leaves,
 * beside the other partitions, and the tree checked with them the same way;
 * libcryptsetup reads root and the tree, as `veritysetup verify` does, only
 * for a tree verity-tree.c does not check. The payloads the tree does not
 * cover (the signature, kernel and initrd; the verity partition's bytes)
 * are read back for their sha256.
 */
int install_verify_slot(Install *in, const Manifest *m) {
        const InstallTarget *root = &in->parts[SLOT_PART_ROOT], *verity = &in->parts[SLOT_PART_VERITY];
        const Payload *vp = manifest_find_role(m, PAYLOAD_VERITY);
        VerityJob job = { .data = root->path, .hash = verity->path, .params = &m->verity };
        LeavesJob leaves_job = { .root = root, .size = m->verity.data_blocks * VERITY_BLOCK_SIZE };
        bool leaves_now = false, threaded = false;
        pthread_t thread;
        int r;

        progress_step("Verifying slot %s", slot_to_string(in->target));
        /* Kernel and initrd first: they were synced as they were written, and are read beside the flush. */
        for (size_t i = 0; i < m->n_payloads; i++) {
                PayloadRole role = m->payloads[i].role;
                if (install_role_part(role) < 0 && install_payload_needed(in, role)) {
                        r = readback_one(in, &m->payloads[i]);
                        if (r < 0)
                                return r;
                }
        }
        r = install_flush_finish(in);
        if (r < 0)
                return r;
        /* Buffered writes (file targets) left pages that would answer instead of the device. */
        for (int i = 0; i < _SLOT_PART_MAX; i++)
                if (!in->parts[i].direct)
                        install_drop_cache(in->parts[i].fd);
        if (in->have_leaves) {
                /* Usually checked before the kernel was written (check_tree_early()). */
                if (!in->tree_checked) {
                        r = install_readback_tree(verity->fd, verity->direct, vp, &m->verity, in->leaves);
                        if (r < 0)
                                return err_prefix(r, "%s and %s", root->label, verity->label);
                }
        } else {
                r = vp ? leaves_after(in, &m->verity) : 0;
                if (r < 0)
                        return r;
                leaves_now = r > 0;
                if (leaves_now) {
                        leaves_job.hasher = in->hasher;
                        leaves_job.leaves = in->leaves;
                        r = -pthread_create(&thread, NULL, leaves_thread, &leaves_job);
                } else
                        r = -pthread_create(&thread, NULL, verity_thread, &job);
                if (r < 0)
                        return err_set(r, "cannot start the verity check: %s", strerror(-r));
                threaded = true;
        }
        /* Beside root's read-back: the partitions the tree does not prove (the verity partition itself is
         * read below, for the tree check, where root's leaves are read back here). */
        r = 0;
        for (size_t i = 0; i < m->n_payloads && r >= 0; i++) {
                PayloadRole role = m->payloads[i].role;
                if (install_role_part(role) >= 0 && role != PAYLOAD_ROOT &&
                    !(role == PAYLOAD_VERITY && (in->have_leaves || leaves_now)) && install_payload_needed(in, role))
                        r = readback_one(in, &m->payloads[i]);
        }
        if (!threaded)
                return r;
        pthread_join(thread, NULL);
        if (r < 0)
                return r;
        if (!leaves_now)
                return job.r < 0 ? err_set(job.r, "read back: %s", job.message) : 0;
        if (leaves_job.r < 0)
                return err_set(leaves_job.r, "%s: %s", root->label, leaves_job.message);
        r = install_readback_tree(verity->fd, verity->direct, vp, &m->verity, in->leaves);
        if (r < 0)
                return err_prefix(r, "%s and %s", root->label, verity->label);
        return 0;
}

/*
 * The staged UKI, as read back, against the db certificate(s) in the running
 * image: a UKI the firmware would refuse is refused here, before it becomes
 * the slot's entry (docs/secure-boot.md, "How abidectl checks a UKI").
 */
int install_verify_uki(Install *in, char **ret_path) {
        _cleanup_free_ char *path = NULL, *subject = NULL;
        if (asprintf(&path, "%s/" UKI_STAGED, in->kernel_dir) < 0)
                return -ENOMEM;
        int r = authenticode_verify_file(path, in->config->secure_boot_cert, &subject);
        if (r < 0) {
                _cleanup_free_ char *why = strdup(err_message(r));
                /* Not left on the ESP: it is no entry, and it could never become one. */
                _cleanup_(boot_writable_endp) BootBackend *esp = NULL;
                if (boot_writable_begin(in->boot, &esp) >= 0)
                        (void) unlink(path);
                return err_set(-r, "slot %s's UKI is not signed for this device's Secure Boot db (%s): %s",
                               slot_to_string(in->target), in->config->secure_boot_cert, why ?: "refused");
        }
        *ret_path = TAKE_PTR(path);
        return 0;
}

