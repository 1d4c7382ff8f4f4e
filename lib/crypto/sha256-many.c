/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "crypto/sha256-many.h"

#include <stdlib.h>
#include <string.h>

#include "basic/error.h"

#if HAVE_IPSEC_MB
#include <dlfcn.h>
#include <intel-ipsec-mb.h>
#include <pthread.h>
#include <stdio.h>
#endif

/*
 * Messages staged per round: the prefix and the message copied side by
 * side (intel-ipsec-mb hashes one contiguous buffer per job), all submitted,
 * then the manager flushed. A multiple of the widest manager's 16 lanes, so
 * that only the last round of a call runs lanes empty; 32 slots of 4 KiB
 * stay in the L2 cache. sha256_many_in_place() hashes as many a pass
 * where they lie, without the copies.
 */
#define ROUND 32
#define SLOT_ALIGN 64

struct Sha256Many {
        Sha256Impl impl;
        uint8_t prefix[SHA256_MANY_PREFIX_MAX];
        size_t prefix_size;
        size_t size;
        Sha256 *h; /* OPENSSL */
#if HAVE_IPSEC_MB
        IMB_MGR *mgr;
        uint8_t *slots;
        size_t slot_size;
#endif
};

#if HAVE_IPSEC_MB
/*
 * intel-ipsec-mb, opened once for the process where it is installed (never
 * closed). The job calls go through the manager's own function pointers;
 * these are the only symbols taken. Its soname carries the major version of
 * the header built against, whose structures are used: a library of another
 * major version, or an older one, is not used.
 */
static struct {
        IMB_MGR *(*alloc_mb_mgr)(uint64_t flags);
        void (*free_mb_mgr)(IMB_MGR *mgr);
        void (*init_mb_mgr_sse)(IMB_MGR *mgr);
        void (*init_mb_mgr_avx2)(IMB_MGR *mgr);
        void (*init_mb_mgr_avx512)(IMB_MGR *mgr);
        int (*imb_get_errno)(IMB_MGR *mgr);
        const char *(*imb_get_strerror)(int errnum);
        unsigned (*imb_get_version)(void);
} imb;
static bool imb_loaded;
static pthread_once_t imb_once = PTHREAD_ONCE_INIT;

static void imb_load(void) {
        char soname[32];
        (void) snprintf(soname, sizeof soname, "libIPSec_MB.so.%u", (unsigned) (IMB_VERSION_NUM >> 16));
        void *dl = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
        if (!dl)
                return;
        void **slots[] = { (void **) &imb.alloc_mb_mgr, (void **) &imb.free_mb_mgr, (void **) &imb.init_mb_mgr_sse,
                           (void **) &imb.init_mb_mgr_avx2, (void **) &imb.init_mb_mgr_avx512,
                           (void **) &imb.imb_get_errno, (void **) &imb.imb_get_strerror,
                           (void **) &imb.imb_get_version };
        static const char *const names[] = { "alloc_mb_mgr", "free_mb_mgr", "init_mb_mgr_sse", "init_mb_mgr_avx2",
                                             "init_mb_mgr_avx512", "imb_get_errno", "imb_get_strerror",
                                             "imb_get_version" };
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (!(*slots[i] = dlsym(dl, names[i]))) {
                        (void) dlclose(dl);
                        return;
                }
        unsigned v = imb.imb_get_version();
        if (v >> 16 != IMB_VERSION_NUM >> 16 || v < IMB_VERSION_NUM) {
                (void) dlclose(dl);
                return;
        }
        imb_loaded = true;
}

#endif

const char *sha256_impl_name(Sha256Impl impl) {
        static const char *const names[_SHA256_IMPL_MAX] = {
                [SHA256_IMPL_AUTO] = "auto",
                [SHA256_IMPL_OPENSSL] = "openssl",
                [SHA256_IMPL_SHANI] = "ipsec-mb sha-ni x2",
                [SHA256_IMPL_AVX2] = "ipsec-mb avx2 x8",
                [SHA256_IMPL_AVX512] = "ipsec-mb avx512 x16",
        };
        return impl >= 0 && impl < _SHA256_IMPL_MAX ? names[impl] : "?";
}

Sha256Many *sha256_many_free(Sha256Many *m) {
        if (!m)
                return NULL;
        sha256_free(m->h);
#if HAVE_IPSEC_MB
        if (m->mgr)
                imb.free_mb_mgr(m->mgr);
        free(m->slots);
#endif
        free(m);
        return NULL;
}

#if HAVE_IPSEC_MB
/* What this CPU can run, as intel-ipsec-mb detects it. */
static bool cpu_has(IMB_MGR *mgr, Sha256Impl impl) {
        uint64_t f = mgr->features;

        switch (impl) {
        case SHA256_IMPL_SHANI:
                return (f & IMB_CPUFLAGS_SSE_T2) == IMB_CPUFLAGS_SSE_T2;
        case SHA256_IMPL_AVX2:
                return (f & IMB_CPUFLAGS_AVX2) == IMB_CPUFLAGS_AVX2;
        case SHA256_IMPL_AVX512:
                return (f & IMB_CPUFLAGS_AVX512) == IMB_CPUFLAGS_AVX512;
        default:
                return false;
        }
}

/*
 * SHA-NI first: two interleaved SHA-NI lanes hashed 4 KiB leaves 1.5-1.8x
 * as fast as OpenSSL's one SHA-NI stream here, and the AVX2 manager (which
 * does not use SHA-NI) no faster than OpenSSL. Without SHA-NI the SIMD lanes:
 * 1.21 GB/s with AVX2 against OpenSSL's 0.37 (docs/install.md).
 */
static int mgr_open(Sha256Many *m, Sha256Impl want) {
        (void) pthread_once(&imb_once, imb_load);
        if (!imb_loaded)
                return -EOPNOTSUPP;
        m->mgr = imb.alloc_mb_mgr(0);
        if (!m->mgr)
                return -ENOMEM;

        static const Sha256Impl order[] = { SHA256_IMPL_SHANI, SHA256_IMPL_AVX512, SHA256_IMPL_AVX2 };
        Sha256Impl impl = _SHA256_IMPL_MAX;
        for (size_t i = 0; i < ELEMENTSOF(order); i++)
                if ((want == SHA256_IMPL_AUTO || want == order[i]) && cpu_has(m->mgr, order[i])) {
                        impl = order[i];
                        break;
                }
        if (impl == _SHA256_IMPL_MAX)
                return -EOPNOTSUPP;

        if (impl == SHA256_IMPL_SHANI)
                imb.init_mb_mgr_sse(m->mgr);
        else if (impl == SHA256_IMPL_AVX512)
                imb.init_mb_mgr_avx512(m->mgr);
        else
                imb.init_mb_mgr_avx2(m->mgr);
        /* The manager runs its self-test in its init, where the library has one. */
        uint64_t f = m->mgr->features;
        if (imb.imb_get_errno(m->mgr) != 0 || ((f & IMB_FEATURE_SELF_TEST) && !(f & IMB_FEATURE_SELF_TEST_PASS)))
                return -EOPNOTSUPP;

        if (m->size > SIZE_MAX / ROUND / 2)
                return -ENOMEM;
        m->slot_size = (m->prefix_size + m->size + SLOT_ALIGN - 1) / SLOT_ALIGN * SLOT_ALIGN;
        m->slots = aligned_alloc(SLOT_ALIGN, m->slot_size * ROUND);
        if (!m->slots)
                return -ENOMEM;
        for (size_t i = 0; i < ROUND; i++)
                memcpy(m->slots + i * m->slot_size, m->prefix, m->prefix_size);
        m->impl = impl;
        return 0;
}

static int job_done(Sha256Many *m, IMB_JOB *j, unsigned *done) {
        if (j->status != IMB_STATUS_COMPLETED)
                return err_set(EIO, "sha256: intel-ipsec-mb job failed: %s", imb.imb_get_strerror(imb.imb_get_errno(m->mgr)));
        (*done)++;
        return 0;
}

/*
 * Hashes count messages of prefix_size + size bytes, the one at src[i] into
 * out[i]: all submitted, then the manager flushed, so that every buffer is
 * free again on return; after a failed job too, so that the manager is
 * empty for the next call.
 */
static int mb_round(Sha256Many *m, uint8_t *const src[], uint8_t *const out[], unsigned count) {
        unsigned done = 0;
        IMB_JOB *j;
        int r = 0;

        for (unsigned i = 0; r >= 0 && i < count; i++) {
                j = IMB_GET_NEXT_JOB(m->mgr);
                memset(j, 0, sizeof *j);
                j->cipher_mode = IMB_CIPHER_NULL;
                j->cipher_direction = IMB_DIR_ENCRYPT;
                j->chain_order = IMB_ORDER_HASH_CIPHER;
                j->hash_alg = IMB_AUTH_SHA_256;
                j->src = src[i];
                j->hash_start_src_offset_in_bytes = 0;
                j->msg_len_to_hash_in_bytes = m->prefix_size + m->size;
                j->auth_tag_output = out[i];
                j->auth_tag_output_len_in_bytes = SHA256_DIGEST_SIZE;
                for (j = IMB_SUBMIT_JOB(m->mgr); r >= 0 && j; j = IMB_GET_COMPLETED_JOB(m->mgr))
                        r = job_done(m, j, &done);
        }
        while ((j = IMB_FLUSH_JOB(m->mgr)))
                if (r >= 0)
                        r = job_done(m, j, &done);
        if (r >= 0 && done != count)
                r = err_set(EIO, "sha256: intel-ipsec-mb returned %u of %u jobs", done, count);
        return r;
}

static int many_mb(Sha256Many *m, const uint8_t *data, uint64_t n, uint8_t *ret) {
        uint8_t *src[ROUND], *out[ROUND];
        int r = 0;

        for (uint64_t first = 0; r >= 0 && first < n; first += ROUND) {
                unsigned count = (unsigned) MIN(n - first, (uint64_t) ROUND);
                for (unsigned i = 0; i < count; i++) {
                        src[i] = m->slots + i * m->slot_size;
                        memcpy(src[i] + m->prefix_size, data + (first + i) * m->size, m->size);
                        out[i] = ret + (first + i) * SHA256_DIGEST_SIZE;
                }
                r = mb_round(m, src, out, count);
        }
        return r;
}

/*
 * many_mb() without the copies: each message is hashed where it lies, with
 * the prefix written over the prefix_size bytes before it, the end of the
 * message before (or the room before data). The messages of a round go in
 * two passes, so that no job's bytes change while it runs: first the even
 * ones, their prefixes over the ends of odd ones, which are kept aside and
 * put back once the pass is done; then the odd ones, their prefixes over the
 * ends of even ones, which are hashed already and stay overwritten.
 */
static int many_mb_in_place(Sha256Many *m, uint8_t *data, uint64_t n, uint8_t *ret) {
        const size_t ps = m->prefix_size;
        uint8_t kept[ROUND][SHA256_MANY_PREFIX_MAX];
        uint8_t *src[ROUND], *out[ROUND];
        int r = 0;

        for (uint64_t first = 0; r >= 0 && first < n; first += 2 * ROUND) {
                uint64_t left = MIN(n - first, 2 * (uint64_t) ROUND);
                for (unsigned odd = 0; r >= 0 && odd < 2; odd++) {
                        unsigned count = 0;
                        for (uint64_t k = odd; k < left; k += 2, count++) {
                                uint8_t *msg = data + (first + k) * m->size;
                                src[count] = msg - ps;
                                out[count] = ret + (first + k) * SHA256_DIGEST_SIZE;
                                if (!odd)
                                        memcpy(kept[count], src[count], ps);
                                memcpy(src[count], m->prefix, ps);
                        }
                        r = mb_round(m, src, out, count);
                        if (!odd)
                                for (unsigned i = 0; i < count; i++)
                                        memcpy(src[i], kept[i], ps);
                }
        }
        return r;
}
#endif

int sha256_many_new(Sha256Impl impl, const void *prefix, size_t prefix_size, size_t size, Sha256Many **ret) {
        if (impl < 0 || impl >= _SHA256_IMPL_MAX || prefix_size > SHA256_MANY_PREFIX_MAX || size == 0 ||
            (prefix_size > 0 && !prefix))
                return -EINVAL;

        _cleanup_(sha256_many_freep) Sha256Many *m = calloc(1, sizeof *m);
        if (!m)
                return -ENOMEM;
        if (prefix_size > 0)
                memcpy(m->prefix, prefix, prefix_size);
        m->prefix_size = prefix_size;
        m->size = size;

        if (impl != SHA256_IMPL_OPENSSL) {
#if HAVE_IPSEC_MB
                int r = mgr_open(m, impl);
                if (r == -ENOMEM)
                        return r;
                if (r < 0 && impl != SHA256_IMPL_AUTO)
                        return r;
                if (r < 0 && m->mgr) { /* AUTO without the library or the lanes: OpenSSL */
                        imb.free_mb_mgr(m->mgr);
                        m->mgr = NULL;
                }
#else
                if (impl != SHA256_IMPL_AUTO)
                        return -EOPNOTSUPP;
#endif
        }
        if (m->impl == SHA256_IMPL_AUTO || m->impl == SHA256_IMPL_OPENSSL) {
                int r = sha256_new(&m->h);
                if (r < 0)
                        return r;
                m->impl = SHA256_IMPL_OPENSSL;
        }
        *ret = TAKE_PTR(m);
        return 0;
}

int sha256_many_dup(const Sha256Many *m, Sha256Many **ret) {
        return sha256_many_new(m->impl, m->prefix, m->prefix_size, m->size, ret);
}

Sha256Impl sha256_many_impl(const Sha256Many *m) {
        return m->impl;
}

int sha256_many(Sha256Many *m, const uint8_t *data, uint64_t n, uint8_t *ret) {
        if (!m || (n > 0 && (!data || !ret)))
                return -EINVAL;
#if HAVE_IPSEC_MB
        if (m->impl != SHA256_IMPL_OPENSSL)
                return many_mb(m, data, n, ret);
#endif
        for (uint64_t i = 0; i < n; i++) {
                int r = sha256_reset(m->h);
                if (r >= 0)
                        r = sha256_update(m->h, m->prefix, m->prefix_size);
                if (r >= 0)
                        r = sha256_update(m->h, data + i * m->size, m->size);
                if (r >= 0)
                        r = sha256_final(m->h, ret + i * SHA256_DIGEST_SIZE);
                if (r < 0)
                        return r;
        }
        return 0;
}

int sha256_many_in_place(Sha256Many *m, uint8_t *data, uint64_t n, uint8_t *ret) {
        if (!m || (n > 0 && (!data || !ret)))
                return -EINVAL;
#if HAVE_IPSEC_MB
        /* A prefix longer than a message would reach past the message before. */
        if (m->impl != SHA256_IMPL_OPENSSL && m->prefix_size <= m->size)
                return many_mb_in_place(m, data, n, ret);
#endif
        return sha256_many(m, data, n, ret);
}
