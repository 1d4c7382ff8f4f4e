/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "install-private.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "bundle/bundle.h"

/*
 * The payloads onto the target: streamed from the bundle (root read back
 * and hashed beside its writes, its tree checked as soon as both are
 * read), or from a delta plan; the partitions flushed in one go before the
 * kernel and initrd are written to the ESP (docs/install.md).
 */

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

int install_clean_kernel_dir(const char *dir) {
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
        r = install_flush_start(in);
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

int install_write_stream(Install *in) {
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

                SlotPart part = install_role_part(p->role);
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
                if (!install_payload_needed(in, p->role))
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

/* install_write_stream() of a delta install: root from the plan, the others from memory. */
int install_write_delta(Install *in, const Manifest *m) {
        int r;

        for (size_t i = 0; i < m->n_payloads; i++) {
                const Payload *p = &m->payloads[i];
                SlotPart part = install_role_part(p->role);
                if (part == SLOT_PART_ROOT) {
                        InstallTarget *t = &in->parts[part];
                        r = delta_write_root(in->plan, t->fd, t->direct, t->label);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (!install_payload_needed(in, p->role))
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

