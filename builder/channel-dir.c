/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/file.h>
#include <time.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "channel-dir.h"

int channel_dir_lock(const char *dir, int *ret_fd) {
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return err_set(errno, "%s: %m", dir);
        if (flock(fd, LOCK_EX) < 0)
                return err_set(errno, "%s: cannot lock: %m", dir);
        *ret_fd = TAKE_FD(fd);
        return 0;
}

int channel_dir_load(const char *dir, TrustStore *trust, Channel **ret, char **ret_signer) {
        _cleanup_free_ char *path = NULL, *sig_path = NULL, *json = NULL, *signer = NULL;
        _cleanup_free_ uint8_t *sig = NULL;
        _cleanup_(channel_freep) Channel *c = NULL;
        size_t len = 0, sig_len = 0;
        int r;

        if (asprintf(&path, "%s/" CHANNEL_FILE, dir) < 0 || asprintf(&sig_path, "%s/" CHANNEL_SIG_FILE, dir) < 0)
                return -ENOMEM;
        r = read_full_file(path, CHANNEL_MAX_SIZE, &json, &len);
        if (r == -ENOENT)
                return err_set(ENOENT, "%s: no channel here (abide-build channel init)", path);
        if (r < 0)
                return err_prefix(r, "%s", path);
        if (trust) {
                r = read_full_file(sig_path, 1024 * 1024, (char **) &sig, &sig_len);
                if (r < 0)
                        return err_prefix(r, "%s: not verified", sig_path);
                r = trust_verify_cms(trust, json, len, sig, sig_len, &signer);
                if (r < 0)
                        return err_prefix(r, "%s: not verified", sig_path);
        }
        r = channel_parse(json, len, &c);
        if (r < 0)
                return err_prefix(r, "%s", path);
        *ret = TAKE_PTR(c);
        if (ret_signer)
                *ret_signer = TAKE_PTR(signer);
        return 0;
}

int channel_dir_now(uint64_t *ret) {
        const char *e = getenv("SOURCE_DATE_EPOCH");
        if (!e || !*e) {
                time_t t = time(NULL);
                *ret = t > 0 ? (uint64_t) t : 0;
                return 0;
        }
        char *end;
        errno = 0;
        long long v = strtoll(e, &end, 10);
        if (errno != 0 || *end || v < 0 || v > 253402300799LL)
                return err_set(EINVAL, "SOURCE_DATE_EPOCH='%s' is not a UNIX time", e);
        *ret = (uint64_t) v;
        return 0;
}

static int write_temp(const char *path, const void *data, size_t len, AtomicFile **ret) {
        _cleanup_(atomic_file_freep) AtomicFile *f = NULL;
        int r;

        r = atomic_file_open(path, 0644, &f);
        if (r < 0)
                return err_prefix(r, "%s", path);
        r = loop_write(f->fd, data, len);
        if (r < 0)
                return err_prefix(r, "%s", f->tmp_path);
        if (fsync(f->fd) < 0)
                return err_set(errno, "%s: %m", f->tmp_path);
        *ret = TAKE_PTR(f);
        return 0;
}

int channel_dir_save(const char *dir, Channel *c, Signer *s, TrustStore *trust, uint64_t now, uint64_t expires_in) {
        _cleanup_(atomic_file_freep) AtomicFile *jf = NULL, *sf = NULL;
        _cleanup_free_ char *path = NULL, *sig_path = NULL, *json = NULL;
        _cleanup_free_ uint8_t *sig = NULL;
        size_t len = 0, sig_len = 0;
        uint64_t old_serial = c->serial, old_updated = c->updated, old_expires = c->expires;
        int r;

        if (c->serial >= INT64_MAX)
                return err_set(EOVERFLOW, "channel: serial %" PRIu64 " cannot grow", c->serial);
        c->serial++;
        /* Signing again is what keeps a channel alive: every change renews its expiry
         * (a parsed expires is above updated, so the period is positive). */
        if (expires_in == CHANNEL_EXPIRY_KEEP)
                c->expires = c->expires ? now + (c->expires - c->updated) : 0;
        else
                c->expires = expires_in == CHANNEL_EXPIRY_NONE ? 0 : now + expires_in;
        c->updated = now;
        r = channel_serialize(c, &json, &len);
        if (r < 0)
                goto fail;
        r = signer_sign_cms(s, json, len, (time_t) now, &sig, &sig_len);
        if (r < 0)
                goto fail;
        /* The publisher's CA is the devices': a key it does not trust would publish a
         * channel every device refuses. */
        if (trust) {
                r = trust_verify_cms(trust, json, len, sig, sig_len, NULL);
                if (r < 0) {
                        r = err_prefix(r, "the new signature does not verify against the CA");
                        goto fail;
                }
        }
        if (asprintf(&path, "%s/" CHANNEL_FILE, dir) < 0 || asprintf(&sig_path, "%s/" CHANNEL_SIG_FILE, dir) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        r = write_temp(sig_path, sig, sig_len, &sf);
        if (r < 0)
                goto fail;
        r = write_temp(path, json, len, &jf);
        if (r < 0)
                goto fail;

        /* Both are on disk; the renames are all that is left, so a reader sees
         * the new .sig with the old channel.json only between these two.
         * channel.json goes last: whoever sees the new channel also finds its
         * signature. */
        if (rename(sf->tmp_path, sf->path) < 0) {
                r = err_set(errno, "%s: %m", sig_path);
                goto fail;
        }
        free(TAKE_PTR(sf->tmp_path));
        if (rename(jf->tmp_path, jf->path) < 0) {
                r = err_set(errno, "%s: %m (%s was already replaced)", path, sig_path);
                goto fail;
        }
        free(TAKE_PTR(jf->tmp_path));
        r = fsync_directory_of(path);
        if (r < 0)
                return err_prefix(r, "%s", dir);
        return 0;
fail:
        c->serial = old_serial;
        c->updated = old_updated;
        c->expires = old_expires;
        return r;
}
