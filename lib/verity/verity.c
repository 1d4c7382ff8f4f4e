/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "verity/verity.h"

#include <assert.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libcryptsetup.h>
#include <pthread.h>
#include <stdarg.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/uuid.h"
#include "verity/verity-tree.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct crypt_device *, crypt_free);

/* libcryptsetup's last error line, kept for our one-line message; its log
 * must never reach stderr of the calling program. */
static _Thread_local char verity_log_last[512];

static void verity_log(int level, const char *msg, void *userdata) {
        if (level != CRYPT_LOG_ERROR || !msg)
                return;
        (void) snprintf(verity_log_last, sizeof verity_log_last, "%s", msg);
        /* One line: fold newlines, drop the trailing period. */
        for (char *p = verity_log_last; *p; p++)
                if (*p == '\n')
                        *p = ' ';
        size_t n = strlen(verity_log_last);
        while (n > 0 && strchr(" .", verity_log_last[n - 1]))
                verity_log_last[--n] = 0;
}

static void verity_log_begin(void) {
        verity_log_last[0] = 0;
        /* The default handler matters too: crypt_init() logs before a
         * context exists to carry our callback. */
        crypt_set_log_callback(NULL, verity_log, NULL);
}

/* Records "<what>: <libcryptsetup's last error or strerror>". */
_printf_(2, 3) static int verity_error(int r, const char *fmt, ...) {
        char what[512];
        va_list ap;

        va_start(ap, fmt);
        (void) vsnprintf(what, sizeof what, fmt, ap);
        va_end(ap);
        r = r > 0 ? -r : r == 0 ? -EIO : r;
        return err_set(r, "%s: %s", what, verity_log_last[0] ? verity_log_last : strerror(-r));
}

static void derive_bytes(const char *domain, const uint8_t digest[SHA256_DIGEST_SIZE],
                         uint8_t ret[SHA256_DIGEST_SIZE]) {
        uint8_t buf[64 + SHA256_DIGEST_SIZE];
        size_t n = strlen(domain);

        assert(n <= 64);
        memcpy(buf, domain, n);
        memcpy(buf + n, digest, SHA256_DIGEST_SIZE);
        /* SHA-256 over a small buffer cannot fail short of a broken OpenSSL. */
        if (sha256_buf(buf, n + SHA256_DIGEST_SIZE, ret) < 0)
                abort();
}

/* The UUID's 16 bytes: the start of a domain-separated digest of the image. */
static void derive_uuid(const uint8_t image_sha256[SHA256_DIGEST_SIZE], uint8_t u[SHA256_DIGEST_SIZE]) {
        derive_bytes("abide verity uuid", image_sha256, u);

        /* Hash-derived IDs get the random-UUID bits, as systemd does for
         * its app-specific IDs: version 4, variant RFC 4122. */
        u[6] = (u[6] & 0x0f) | 0x40;
        u[8] = (u[8] & 0x3f) | 0x80;
}

void verity_params_derive(const uint8_t image_sha256[SHA256_DIGEST_SIZE], VerityParams *ret) {
        uint8_t u[SHA256_DIGEST_SIZE];
        VerityParams p = {
                .hash_algorithm = "sha256",
                .data_block_size = VERITY_BLOCK_SIZE,
                .hash_block_size = VERITY_BLOCK_SIZE,
                .salt_size = VERITY_SALT_SIZE,
        };

        /* Domain separation: neither value is the image digest itself, nor each other. */
        derive_bytes("abide verity salt", image_sha256, p.salt);
        derive_uuid(image_sha256, u);
        uuid_v4_format(u, p.uuid);
        *ret = p;
}

int verity_params_set_salt_for(VerityParams *p, const char *name) {
        uint8_t d[SHA256_DIGEST_SIZE];
        int r = sha256_buf(name, strlen(name), d);
        if (r < 0)
                return r;
        derive_bytes("abide verity salt", d, p->salt);
        p->salt_size = VERITY_SALT_SIZE;
        return 0;
}

static int data_file_size(const char *path, uint64_t *ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

        if (fd < 0)
                return err_set(errno, "verity: cannot open data file %s: %s", path, strerror(errno));
        int r = fd_data_size(fd, ret);
        if (r == -ENOTBLK)
                return err_set(EINVAL, "verity: data %s is not a regular file or block device", path);
        if (r < 0)
                return err_set(-r, "verity: cannot get size of %s: %s", path, strerror(-r));
        return 0;
}

static int params_check(const VerityParams *p) {
        if (p->hash_algorithm[0] == 0 || !memchr(p->hash_algorithm, 0, sizeof p->hash_algorithm))
                return err_set(EINVAL, "verity: no hash algorithm set");
        if (p->data_block_size == 0 || p->hash_block_size == 0)
                return err_set(EINVAL, "verity: block size not set");
        if (p->salt_size > VERITY_SALT_SIZE)
                return err_set(EINVAL, "verity: salt of %zu bytes, at most %d allowed", p->salt_size, VERITY_SALT_SIZE);
        /* An empty UUID would let libcryptsetup pick a random one. */
        if (p->uuid[0] == 0 || !memchr(p->uuid, 0, sizeof p->uuid))
                return err_set(EINVAL, "verity: no UUID set");
        return 0;
}

/* The whole data's SHA-256, on a second thread: beside libcryptsetup's
 * tree (both read the same cached file, path), or beside the leaves (the
 * mapped data, data and size). */
typedef struct DigestJob {
        const char *path;
        const uint8_t *data;
        uint64_t size;
        pthread_t thread;
        bool started;
        int r;
        uint8_t digest[SHA256_DIGEST_SIZE];
} DigestJob;

static void *digest_job_run(void *userdata) {
        DigestJob *j = userdata;
        j->r = j->data ? sha256_buf(j->data, (size_t) j->size, j->digest) : sha256_file(j->path, j->digest, NULL);
        return NULL;
}

static int digest_job_start(DigestJob *j) {
        int r = -pthread_create(&j->thread, NULL, digest_job_run, j);
        if (r < 0)
                return err_set(r, "verity: cannot start a thread: %s", strerror(-r));
        j->started = true;
        return 0;
}

static int digest_job_wait(DigestJob *j) {
        if (!j->started)
                return 0;
        j->started = false;
        (void) pthread_join(j->thread, NULL);
        if (j->r < 0)
                return err_set(j->r, "verity: cannot hash %s: %s", j->path, strerror(-j->r));
        return 0;
}

/* The superblock veritysetup writes at offset 0 of the hash file (struct
 * verity_sb in cryptsetup's lib/verity/verity.c): "verity\0\0", version,
 * hash type, then the UUID's 16 bytes. The root hash does not cover it. */
#define VERITY_SB_SIGNATURE "verity\0\0"
#define VERITY_SB_UUID_OFFSET 16

static int superblock_set_uuid(int fd, const char *path, const uint8_t uuid[16]) {
        uint8_t sig[8];

        if (pread(fd, sig, sizeof sig, 0) != (ssize_t) sizeof sig || memcmp(sig, VERITY_SB_SIGNATURE, sizeof sig) != 0)
                return err_set(EIO, "verity: %s does not start with a verity superblock", path);
        if (pwrite(fd, uuid, 16, VERITY_SB_UUID_OFFSET) != 16)
                return err_set(errno ?: EIO, "verity: cannot write the UUID into %s: %m", path);
        return 0;
}

static int format_tree(const char *data_path, const char *hash_path, VerityParams *params, DigestJob *job) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_(atomic_file_freep) AtomicFile *f = NULL;
        char root[64];
        size_t root_size = sizeof root;
        uint64_t size = 0;
        int r;

        r = params_check(params);
        if (r < 0)
                return r;
        r = data_file_size(data_path, &size);
        if (r < 0)
                return r;
        if (size == 0)
                return err_set(EINVAL, "verity: data file %s is empty", data_path);
        if (size % params->data_block_size != 0)
                return err_set(EINVAL, "verity: size of %s (%" PRIu64 " bytes) is not a multiple of the block size %" PRIu32,
                               data_path, size, params->data_block_size);

        r = atomic_file_open(hash_path, 0644, &f);
        if (r < 0)
                return err_set(r, "verity: cannot create hash file %s: %s", hash_path, strerror(-r));

        verity_log_begin();
        r = crypt_init(&cd, f->tmp_path);
        if (r < 0)
                return verity_error(r, "verity: cannot open hash file %s", f->tmp_path);
        crypt_set_log_callback(cd, verity_log, NULL);

        struct crypt_params_verity vp = {
                .hash_name = params->hash_algorithm,
                .data_device = data_path,
                .salt = (const char *) params->salt,
                .salt_size = (uint32_t) params->salt_size,
                .hash_type = 1,
                .data_block_size = params->data_block_size,
                .hash_block_size = params->hash_block_size,
                .data_size = size / params->data_block_size,
                .flags = CRYPT_VERITY_CREATE_HASH,
        };
        r = crypt_format(cd, CRYPT_VERITY, NULL, NULL, params->uuid, NULL, 0, &vp);
        if (r < 0)
                return verity_error(r, "verity: formatting %s failed", data_path);

        r = crypt_volume_key_get(cd, CRYPT_ANY_SLOT, root, &root_size, NULL, 0);
        if (r < 0)
                return verity_error(r, "verity: cannot read root hash of %s", data_path);
        if (root_size == 0 || root_size * 2 >= sizeof params->root_hash)
                return err_set(EINVAL, "verity: root hash of %zu bytes does not fit", root_size);

        /* Close libcryptsetup's descriptors before the rename. */
        crypt_free(TAKE_PTR(cd));
        if (job) {
                uint8_t u[SHA256_DIGEST_SIZE];

                r = digest_job_wait(job);
                if (r < 0)
                        return r;
                derive_uuid(job->digest, u);
                r = superblock_set_uuid(f->fd, f->tmp_path, u);
                if (r < 0)
                        return r;
                uuid_v4_format(u, params->uuid);
        }
        r = atomic_file_commit(f);
        if (r < 0)
                return err_set(r, "verity: cannot write hash file %s: %s", hash_path, strerror(-r));

        params->data_blocks = vp.data_size;
        hex_encode((const uint8_t *) root, root_size, params->root_hash);
        return 0;
}

int verity_format(const char *data_path, const char *hash_path, VerityParams *params) {
        return format_tree(data_path, hash_path, params, NULL);
}

/* Past this the leaves and the tree held in memory would pass 256 MiB: libcryptsetup builds it instead. */
#define ONE_PASS_MAX_DATA ((uint64_t) 16 << 30)

/*
 * One read of the data for both: the leaves on this thread, the whole
 * file's SHA-256 on a second, then the UUID derived from that digest, the
 * tree built from the leaves (verity_tree_build(), veritysetup's layout;
 * test-verity.c compares the bytes with libcryptsetup's) and written.
 * libcryptsetup's crypt_format() read the data again and took 1.10 s for
 * 1 GiB here against 0.72 s for both hashes this way (docs/build.md).
 * -EOPNOTSUPP where it does not apply: the caller uses libcryptsetup.
 */
static int format_one_pass(const char *data_path, const char *hash_path, VerityParams *p, uint64_t size,
                           uint8_t ret_sha256[SHA256_DIGEST_SIZE]) {
        _cleanup_(verity_leaf_hasher_freep) VerityLeafHasher *h = NULL;
        _cleanup_(atomic_file_freep) AtomicFile *f = NULL;
        _cleanup_free_ uint8_t *leaves = NULL, *tree = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint8_t root[SHA256_DIGEST_SIZE], u[SHA256_DIGEST_SIZE];
        size_t tree_len = 0;
        struct stat st;
        int r;

        if (p->data_block_size != VERITY_BLOCK_SIZE || size > ONE_PASS_MAX_DATA || size > SIZE_MAX)
                return -EOPNOTSUPP;
        p->data_blocks = size / VERITY_BLOCK_SIZE;
        if (verity_tree_supported(p) < 0)
                return -EOPNOTSUPP;
        fd = open(data_path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return err_set(errno, "verity: cannot open data file %s: %s", data_path, strerror(errno));
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t) st.st_size != size)
                return -EOPNOTSUPP;
        leaves = malloc((size_t) p->data_blocks * SHA256_DIGEST_SIZE);
        if (!leaves)
                return -ENOMEM;
        r = verity_leaf_hasher_new(p, &h);
        if (r < 0)
                return r;
        void *m = mmap(NULL, (size_t) size, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED)
                return -EOPNOTSUPP;
        (void) madvise(m, (size_t) size, MADV_SEQUENTIAL);

        DigestJob job = { .path = data_path, .data = m, .size = size };
        r = digest_job_start(&job);
        if (r < 0) {
                (void) munmap(m, (size_t) size);
                return r;
        }
        r = verity_leaf_hash(h, m, p->data_blocks, leaves);
        int k = digest_job_wait(&job);
        (void) munmap(m, (size_t) size);
        if (r < 0)
                return err_set(r, "verity: cannot hash %s: %s", data_path, strerror(-r));
        if (k < 0)
                return k;

        derive_uuid(job.digest, u);
        uuid_v4_format(u, p->uuid);
        r = verity_tree_build(p, leaves, &tree, &tree_len, root);
        if (r < 0)
                return err_set(r, "verity: cannot build the tree of %s: %s", data_path, strerror(-r));
        r = atomic_file_open(hash_path, 0644, &f);
        if (r < 0)
                return err_set(r, "verity: cannot create hash file %s: %s", hash_path, strerror(-r));
        r = loop_write(f->fd, tree, tree_len);
        if (r >= 0)
                r = atomic_file_commit(f);
        if (r < 0)
                return err_set(r, "verity: cannot write hash file %s: %s", hash_path, strerror(-r));
        hex_encode(root, SHA256_DIGEST_SIZE, p->root_hash);
        memcpy(ret_sha256, job.digest, SHA256_DIGEST_SIZE);
        return 0;
}

int verity_format_derive_uuid(const char *data_path, const char *hash_path, VerityParams *params,
                              uint8_t ret_sha256[SHA256_DIGEST_SIZE]) {
        DigestJob job = { .path = data_path };
        VerityParams p = *params;
        uint64_t size = 0;

        /* A placeholder for libcryptsetup; the superblock gets the real one. */
        (void) snprintf(p.uuid, sizeof p.uuid, "00000000-0000-4000-8000-000000000000");
        int r = params_check(&p);
        if (r < 0)
                return r;
        r = data_file_size(data_path, &size);
        if (r < 0)
                return r;
        if (size == 0)
                return err_set(EINVAL, "verity: data file %s is empty", data_path);
        if (size % p.data_block_size != 0)
                return err_set(EINVAL, "verity: size of %s (%" PRIu64 " bytes) is not a multiple of the block size %" PRIu32,
                               data_path, size, p.data_block_size);
        r = format_one_pass(data_path, hash_path, &p, size, ret_sha256);
        if (r >= 0) {
                *params = p;
                return 1;
        }
        if (r != -EOPNOTSUPP)
                return r;

        p.data_blocks = 0;
        (void) snprintf(p.uuid, sizeof p.uuid, "00000000-0000-4000-8000-000000000000");
        r = digest_job_start(&job);
        if (r < 0)
                return r;
        r = format_tree(data_path, hash_path, &p, &job);
        int k = digest_job_wait(&job);
        if (r < 0)
                return r;
        if (k < 0)
                return k;
        *params = p;
        memcpy(ret_sha256, job.digest, SHA256_DIGEST_SIZE);
        return 0;
}

static int verity_check_superblock(struct crypt_device *cd, const char *hash_path, const VerityParams *p) {
        struct crypt_params_verity info = {};
        int r;

        r = crypt_get_verity_info(cd, &info);
        if (r < 0)
                return verity_error(r, "verity: cannot read superblock of %s", hash_path);
        if (!streq_ptr(info.hash_name, p->hash_algorithm))
                return err_set(EBADMSG, "verity: %s uses hash %s, expected %s", hash_path,
                               info.hash_name ?: "(none)", p->hash_algorithm);
        if (info.data_block_size != p->data_block_size || info.hash_block_size != p->hash_block_size)
                return err_set(EBADMSG, "verity: %s has block sizes %" PRIu32 "/%" PRIu32 ", expected %" PRIu32 "/%" PRIu32,
                               hash_path, info.data_block_size, info.hash_block_size,
                               p->data_block_size, p->hash_block_size);
        if (info.data_size != p->data_blocks)
                return err_set(EBADMSG, "verity: %s covers %" PRIu64 " data blocks, expected %" PRIu64,
                               hash_path, info.data_size, p->data_blocks);
        if (info.hash_type != 1)
                return err_set(EBADMSG, "verity: %s has hash type %" PRIu32 ", expected 1", hash_path, info.hash_type);
        if (info.salt_size != p->salt_size || memcmp(info.salt, p->salt, p->salt_size) != 0)
                return err_set(EBADMSG, "verity: salt in %s differs from the expected one", hash_path);
        const char *uuid = crypt_get_uuid(cd);
        if (!uuid || strcasecmp(uuid, p->uuid) != 0)
                return err_set(EBADMSG, "verity: UUID of %s is %s, expected %s", hash_path, uuid ?: "(none)", p->uuid);
        return 0;
}

int verity_verify(const char *data_path, const char *hash_path, const VerityParams *params) {
        _cleanup_(crypt_freep) struct crypt_device *cd = NULL;
        _cleanup_free_ uint8_t *root = NULL;
        size_t root_size = 0;
        uint64_t size = 0;
        int r;

        r = params_check(params);
        if (r < 0)
                return r;
        r = hex_decode(params->root_hash, strlen(params->root_hash), &root, &root_size);
        if (r < 0 || root_size == 0)
                return err_set(EINVAL, "verity: root hash '%s' is not hex", params->root_hash);
        r = data_file_size(data_path, &size);
        if (r < 0)
                return r;
        if (size / params->data_block_size < params->data_blocks)
                return err_set(EBADMSG, "verity: %s holds %" PRIu64 " blocks, expected %" PRIu64,
                               data_path, size / params->data_block_size, params->data_blocks);

        verity_log_begin();
        r = crypt_init_data_device(&cd, hash_path, data_path);
        if (r < 0)
                return verity_error(r, "verity: cannot open %s / %s", hash_path, data_path);
        crypt_set_log_callback(cd, verity_log, NULL);

        /* The check is requested at load time (the activation flags are
         * CRYPT_ACTIVATE_*); activating without a name then only checks
         * every block in userspace, exactly `veritysetup verify`. */
        struct crypt_params_verity vp = { .flags = CRYPT_VERITY_CHECK_HASH };
        r = crypt_load(cd, CRYPT_VERITY, &vp);
        if (r < 0)
                return verity_error(r, "verity: no valid superblock in %s", hash_path);
        r = verity_check_superblock(cd, hash_path, params);
        if (r < 0)
                return r;

        r = crypt_activate_by_volume_key(cd, NULL, (const char *) root, root_size, 0);
        /* libcryptsetup reports a bad data or hash block as -EPERM and a
         * root hash mismatch as -EFAULT. */
        if (r == -EPERM || r == -EFAULT)
                return verity_error(EBADMSG, "verity: %s does not match %s and root hash %s",
                                    data_path, hash_path, params->root_hash);
        if (r < 0)
                return verity_error(r, "verity: cannot verify %s against %s", data_path, hash_path);
        return 0;
}
