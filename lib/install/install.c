/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "install.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/progress.h"
#include "boot/boot-entry.h"
#include "boot/floor-store.h"
#include "bundle/bundle.h"
#include "crypto/authenticode.h"
#include "crypto/trust.h"
#include "install/install-policy.h"
#include "install/install-stream.h"
#include "install/install-target.h"
#include "slot/state.h"
#include "verity/verity.h"

/* Room the ESP keeps beyond the new kernel and initrd (FAT clusters, directory entries). */
#define ESP_SLACK (256U * 1024)

/* The slot's partitions flushed in a thread, while the kernel and initrd are written to the ESP. */
typedef struct Flush {
        pthread_t thread;
        bool running;
        size_t n;
        int parts[_SLOT_PART_MAX]; /* the targets to flush */
        int error;                /* errno of the first fdatasync that failed */
        size_t failed;
} Flush;

typedef struct Install {
        const AbideConfig *config;
        BootBackend *boot;
        const InstallOptions *opts;
        Slot booted, target;
        InstallTarget parts[_SLOT_PART_MAX];
        char *kernel_dir;
        BundleReader *reader;
        AbideState *state;        /* the state file as last read, under its lock (state_update()) */
        const ImageIdentity *running, *bundle_id; /* what install_policy_check() judged */
        DeltaSource *src;         /* a delta install: not owned */
        uint64_t *offsets;
        DeltaPlan *plan;
        char *running_kernel_dir;
        VerityLeafHasher *hasher;
        uint8_t *leaves;          /* root's dm-verity leaf digests, as read back while it was written */
        InstallStream *root_stream; /* root's read-back, still hashing after root was written */
        bool have_leaves;
        uint8_t *tree;            /* root.verity, read back as soon as it was written */
        size_t tree_size;
        bool tree_checked;        /* root and its tree, as read back, proven against the signed root hash */
        bool unsynced[_SLOT_PART_MAX]; /* written, not yet flushed */
        Flush flush;
        bool uki;                 /* the device boots signed UKIs: [Paths] SecureBootCert= exists */
} Install;

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

static SlotPart role_part(PayloadRole role) {
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

/*
 * What this device writes of a payload: every slot partition; the kernel
 * and initrd for a type #1 entry, or (Secure Boot) only the target slot's
 * UKI, whose command line names that slot. The others are still read and
 * checked against the manifest, as every member is, but not written.
 */
static bool payload_needed(const Install *in, PayloadRole role) {
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
                if (!payload_needed(in, p->role))
                        continue;
                SlotPart part = role_part(p->role);
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

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

/* The target's old kernel, initrd, staged UKI and temporaries of an interrupted install. */
static int clean_kernel_dir(const char *dir) {
        _cleanup_(closedirp) DIR *d = opendir(dir);
        struct dirent *de;

        if (!d)
                return err_set(errno, "cannot open %s: %m", dir);
        while ((de = readdir(d))) {
                if (!streq(de->d_name, "vmlinuz") && !streq(de->d_name, "initrd") && !streq(de->d_name, UKI_STAGED) &&
                    strncmp(de->d_name, ".#", 2) != 0)
                        continue;
                if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
                        return err_set(errno, "cannot remove %s/%s: %m", dir, de->d_name);
        }
        return fsync_directory_of(dir) < 0 ? err_set(EIO, "cannot sync %s", dir) : 0;
}

/* Nothing of an older signature may follow the new one. */
static int clear_after_signature(InstallTarget *t, SlotPart part, const Payload *p, bool sync) {
        if (part != SLOT_PART_VERITY_SIG)
                return 0;
        uint64_t from = (p->size + INSTALL_ALIGN - 1) / INSTALL_ALIGN * INSTALL_ALIGN;
        return install_zero_range(t->fd, t->direct, sync, from, t->size, t->label);
}

/* The kernel or initrd into the slot's kernel dir, atomically: streamed from the bundle
 * reader, or (data) from memory. The ESP is writable for this file only; the temporary
 * goes (cleanup order) before the scope ends. */
static int write_kernel_file(Install *in, const Payload *p, const uint8_t *data, size_t len) {
        _cleanup_(boot_writable_endp) BootBackend *esp = NULL;
        _cleanup_(atomic_file_freep) AtomicFile *f = NULL;
        _cleanup_free_ char *path = NULL;
        int r;

        if (asprintf(&path, "%s/%s", in->kernel_dir, install_role_file(p->role)) < 0)
                return -ENOMEM;
        r = boot_writable_begin(in->boot, &esp);
        if (r < 0)
                return r;
        r = atomic_file_open(path, 0644, &f);
        if (r < 0)
                return err_set(r, "cannot create %s: %s", path, strerror(-r));
        if (data) {
                r = loop_write(f->fd, data, len);
                if (r < 0)
                        return err_set(r, "cannot write %s: %s", path, strerror(-r));
        } else {
                r = install_stream_payload(in->reader, p, f->fd, false, true, path, NULL, NULL);
                if (r < 0)
                        return r;
        }
        r = atomic_file_commit(f);
        if (r < 0)
                return err_set(r, "cannot write %s: %s", path, strerror(-r));
        return boot_writable_end(TAKE_PTR(esp));
}

/* The leaves, and the tree read back with them, are held in memory: up to 32 MiB each (a 4 GiB root). */
#define LEAVES_MAX (32U * 1024 * 1024)

/* Root is read back while it is written when its tree is one verity-tree.c checks. */
static int prepare_leaves(Install *in) {
        const VerityParams *v = &bundle_reader_manifest(in->reader)->verity;
        if (!in->parts[SLOT_PART_ROOT].direct || verity_tree_supported(v) < 0)
                return 0;
        if (v->data_blocks > LEAVES_MAX / SHA256_DIGEST_SIZE)
                return 0;
        in->leaves = malloc((size_t) v->data_blocks * SHA256_DIGEST_SIZE);
        if (!in->leaves)
                return -ENOMEM;
        return verity_leaf_hasher_new(v, &in->hasher);
}

static void *flush_thread(void *userdata) {
        Install *in = userdata;
        Flush *f = &in->flush;
        for (size_t i = 0; i < f->n; i++)
                if (fdatasync(in->parts[f->parts[i]].fd) < 0) {
                        f->error = errno;
                        f->failed = i;
                        break;
                }
        return NULL;
}

/*
 * Whether a flush already queued covers t: a partition written only with
 * O_DIRECT (no dirty page cache: the signature partition's buffered end was
 * written out with sync_file_range()) on the same disk as one flushed. A
 * flush, fdatasync() of a block device, ends with a cache flush of its whole
 * disk, and covers every write completed before it was issued; a partition's
 * own fdatasync() would only repeat it (on the benchmark's loop device, each
 * is a journal commit of the backing file, 20-50 ms).
 */
static bool flush_covers(const Install *in, const Flush *f, const InstallTarget *t) {
        if (!t->blockdev || !t->direct || t->disk == 0)
                return false;
        for (size_t j = 0; j < f->n; j++) {
                const InstallTarget *o = &in->parts[f->parts[j]];
                if (o->blockdev && o->disk == t->disk)
                        return true;
        }
        return false;
}

/* Starts the flush of every partition written since the last one, unless one still runs. */
static int flush_start(Install *in) {
        Flush *f = &in->flush;
        if (f->running)
                return 0;
        f->n = 0;
        f->error = 0;
        for (int i = 0; i < _SLOT_PART_MAX; i++) {
                if (!in->unsynced[i])
                        continue;
                in->unsynced[i] = false;
                if (flush_covers(in, f, &in->parts[i]))
                        continue;
                f->parts[f->n++] = i;
        }
        if (f->n == 0)
                return 0;
        if (pthread_create(&f->thread, NULL, flush_thread, in) == 0) {
                f->running = true;
                return 0;
        }
        flush_thread(in); /* no thread: here, now */
        return f->error ? err_set(f->error, "cannot sync %s: %s", in->parts[f->parts[f->failed]].label,
                                  strerror(f->error)) : 0;
}

/* Waits for the flush, then syncs what was written after it started: then everything written is on the devices. */
static int flush_finish(Install *in) {
        Flush *f = &in->flush;
        if (f->running) {
                pthread_join(f->thread, NULL);
                f->running = false;
                if (f->error)
                        return err_set(f->error, "cannot sync %s: %s", in->parts[f->parts[f->failed]].label,
                                       strerror(f->error));
        }
        for (int i = 0; i < _SLOT_PART_MAX; i++)
                if (in->unsynced[i]) {
                        if (fdatasync(in->parts[i].fd) < 0)
                                return err_set(errno, "cannot sync %s: %m", in->parts[i].label);
                        in->unsynced[i] = false;
                }
        return 0;
}

/*
 * Root's bytes were not hashed as they streamed (install_stream_start()):
 * its tree, read back as soon as it was written, is checked as soon as
 * root's read-back is done, so that a bad root (a corrupt bundle, or
 * storage that keeps other bytes) is refused before the kernel and initrd
 * are written.
 */
static int check_tree_early(Install *in) {
        const InstallTarget *root = &in->parts[SLOT_PART_ROOT], *verity = &in->parts[SLOT_PART_VERITY];
        if (!in->have_leaves || !in->tree || in->tree_checked)
                return 0;
        int r = install_check_tree(&bundle_reader_manifest(in->reader)->verity, in->tree, in->tree_size, in->leaves);
        if (r < 0)
                return err_prefix(r, "%s and %s", root->label, verity->label);
        in->tree_checked = true;
        free(in->tree);
        in->tree = NULL;
        return 0;
}

/*
 * Before the ESP is written, and once all is streamed: the partitions
 * written so far are flushed in a thread, once root's read-back has read
 * everything (the flush then holds none of its reads); meanwhile root's
 * hashing ends here, its tree is checked, and then the kernel and initrd
 * are written beside the flush (docs/install.md, "Where the time goes").
 */
static int settle(Install *in) {
        int r;
        if (in->root_stream)
                install_stream_wait_fetched(in->root_stream);
        r = flush_start(in);
        if (r < 0)
                return r;
        if (in->root_stream) {
                r = install_stream_finish(TAKE_PTR(in->root_stream));
                if (r < 0)
                        return r;
                in->have_leaves = r > 0;
        }
        return check_tree_early(in);
}

static int stream_all(Install *in) {
        int r = prepare_leaves(in);
        if (r < 0)
                return r;
        for (;;) {
                const Payload *p = NULL;
                r = bundle_reader_next(in->reader, &p);
                if (r < 0)
                        return r;
                if (r == 0)
                        return settle(in);

                SlotPart part = role_part(p->role);
                if (part >= 0) {
                        InstallTarget *t = &in->parts[part];
                        /* Unsynced: one flush for all of them, in settle(). */
                        in->unsynced[part] = true;
                        if (part == SLOT_PART_ROOT && in->leaves && !in->root_stream && !in->have_leaves)
                                r = install_stream_start(in->reader, p, t->fd, t->direct, t->label, in->hasher,
                                                         in->leaves, &in->root_stream);
                        else
                                r = install_stream_payload(in->reader, p, t->fd, t->direct, false, t->label, NULL, NULL);
                        if (r >= 0)
                                r = clear_after_signature(t, part, p, false);
                        /* The tree as the device holds it, read before the flush is queued (a direct target:
                         * the read is the device's), to be checked with root's leaves in settle(). */
                        if (r >= 0 && part == SLOT_PART_VERITY && t->direct && in->leaves && !in->tree) {
                                r = install_readback_verity(t->fd, t->direct, p, &in->tree);
                                if (r < 0)
                                        r = err_prefix(r, "%s and %s", in->parts[SLOT_PART_ROOT].label, t->label);
                                else
                                        in->tree_size = (size_t) p->size;
                        }
                        if (r < 0)
                                return r;
                        continue;
                }
                /* Not written here: bundle_reader_next() reads and checks it. */
                if (!payload_needed(in, p->role))
                        continue;
                r = settle(in);
                if (r >= 0)
                        r = write_kernel_file(in, p, NULL, 0);
                if (r < 0)
                        return r;
        }
}

/* Writes len bytes of data to a target partition (padded with zeros for O_DIRECT), synced. */
static int write_buffer(InstallTarget *t, const uint8_t *data, size_t len) {
        size_t padded = (len + INSTALL_ALIGN - 1) / INSTALL_ALIGN * INSTALL_ALIGN;
        _cleanup_free_ uint8_t *buf = NULL;
        if (padded == 0)
                return 0;
        if (posix_memalign((void **) &buf, INSTALL_ALIGN, padded) != 0)
                return -ENOMEM;
        memcpy(buf, data, len);
        memset(buf + len, 0, padded - len);
        size_t n = t->direct ? padded : len;
        for (size_t done = 0; done < n;) {
                ssize_t k = pwrite(t->fd, buf + done, n - done, (off_t) done);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        return err_set(k < 0 ? errno : ENOSPC, "cannot write %s: %s", t->label, strerror(k < 0 ? errno : ENOSPC));
                done += (size_t) k;
        }
        if (fdatasync(t->fd) < 0)
                return err_set(errno, "cannot sync %s: %m", t->label);
        return 0;
}

/* stream_all() of a delta install: root from the plan, the others from memory. */
static int delta_all(Install *in, const Manifest *m) {
        int r;

        for (size_t i = 0; i < m->n_payloads; i++) {
                const Payload *p = &m->payloads[i];
                SlotPart part = role_part(p->role);
                if (part == SLOT_PART_ROOT) {
                        InstallTarget *t = &in->parts[part];
                        r = delta_write_root(in->plan, t->fd, t->direct, t->label);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (!payload_needed(in, p->role))
                        continue;
                const uint8_t *data;
                size_t len;
                r = delta_payload(in->plan, p, &data, &len);
                if (r < 0)
                        return r;
                if (part >= 0) {
                        InstallTarget *t = &in->parts[part];
                        r = write_buffer(t, data, len);
                        if (r >= 0)
                                r = clear_after_signature(t, part, p, true);
                } else
                        r = write_kernel_file(in, p, data, len);
                if (r < 0)
                        return r;
        }
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
                needed[i] = payload_needed(in, m->payloads[i].role);
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

typedef struct VerityJob {
        const char *data, *hash;
        const VerityParams *params;
        int r;
        char message[512];
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

        SlotPart part = role_part(p->role);
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
        char message[512];
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
static int verify_all(Install *in, const Manifest *m) {
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
                if (role_part(role) < 0 && payload_needed(in, role)) {
                        r = readback_one(in, &m->payloads[i]);
                        if (r < 0)
                                return r;
                }
        }
        r = flush_finish(in);
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
                if (role_part(role) >= 0 && role != PAYLOAD_ROOT &&
                    !(role == PAYLOAD_VERITY && (in->have_leaves || leaves_now)) && payload_needed(in, role))
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
static int check_uki(Install *in, char **ret_path) {
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

typedef enum Record {
        RECORD_BEGIN,   /* installing, after the policy is judged again */
        RECORD_DONE,    /* pending: verified, its entry about to be written */
        RECORD_UNDO,    /* back to installing: the entry could not be written */
} Record;

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
static int state_turn(Install *in, int *ret_fd) {
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
static int state_update(Install *in, const Manifest *m, Record what) {
        bool done = what == RECORD_DONE;
        const char *path = in->config->state_file;
        int r;

        AbideState *now = NULL;
        r = state_load(path, &now);
        if (r < 0)
                return err_prefix(r, "state file %s", path);
        state_free(in->state);
        in->state = now;

        if (what == RECORD_BEGIN) {
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
        return err_set(EBADMSG, "bundle: manifest SHA-256 %s is not the channel's %s", got_hex, want_hex);
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
                r = bundle_reader_open_source(delta_source_bundle(src), trust, &in.reader);
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
                r = bundle_reader_open(fd, trust, &in.reader);
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

        /* The first turn on the state file (state_turn()), then the ESP's scope. */
        _cleanup_close_ int turn = -EBADF;
        r = state_turn(&in, &turn);
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
        r = state_update(&in, m, RECORD_BEGIN);
        if (r < 0)
                return r;
        r = boot_remove(boot, in.target);
        if (r < 0)
                return err_prefix(r, "cannot remove slot %s's boot entry", slot_to_string(in.target));
        r = clean_kernel_dir(in.kernel_dir);
        if (r < 0)
                return r;
        r = boot_writable_end(TAKE_PTR(esp));
        if (r < 0)
                return r;
        turn = safe_close(turn);

        r = src ? delta_all(&in, m) : stream_all(&in);
        if (r < 0)
                return r;
        if (src)
                delta_summary(in.plan, &res.summary);
        r = verify_all(&in, m);
        if (r < 0)
                return r;

        _cleanup_free_ char *uki = NULL;
        if (in.uki) {
                r = check_uki(&in, &uki);
                if (r < 0)
                        return r;
        }
        /* The trial is recorded before its entry exists: an entry the state file does not know as a
         * trial would be booted and counted by the loader, but its failure never recorded as a rollback
         * (DESIGN.md "Slot states"). A state file that cannot be written (abide-data full) fails the
         * install here, with the slot still unbootable; a crash before the entry leaves a pending
         * record with no entry, which nothing acts on. */
        r = state_turn(&in, &turn);
        if (r < 0)
                return r;
        r = state_update(&in, m, RECORD_DONE);
        if (r < 0)
                return r;
        BootEntrySpec spec = { .version = m->version, .cmdline = m->cmdline, .tries = tries, .uki = uki };
        r = boot_write(boot, in.target, &spec);
        if (r < 0) {
                char cause[1024];
                (void) snprintf(cause, sizeof cause, "%s", err_message(r));
                /* No entry: the record goes back to installing, as far as the state file can be written. */
                (void) state_update(&in, m, RECORD_UNDO);
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
