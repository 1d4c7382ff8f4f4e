/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "secureboot-keys.h"

#include <fcntl.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/process.h"
#include "basic/rm-rf.h"
#include "basic/uuid.h"
#include "crypto/keygen-util.h"
#include "crypto/openssl-util.h"

/* RSA-2048: the UEFI specification requires firmware to take it for PK, KEK
 * and db; larger keys fail on some real machines. */
#define SB_RSA_BITS 2048
#define SB_DAYS (30 * 365)

enum { SB_PK, SB_KEK, SB_DB, _SB_MAX };

static const struct {
        const char *var;     /* the EFI variable, and the files' stem */
        const char *cn;
        int signer;          /* whose key signs the .auth update */
} sb_keys[_SB_MAX] = {
        [SB_PK] = { "PK", "abide Secure Boot PK", SB_PK },
        [SB_KEK] = { "KEK", "abide Secure Boot KEK", SB_PK },
        [SB_DB] = { "db", "abide Secure Boot db", SB_KEK },
};

/* Files moved from the staging directory into dir, in this order. */
static const char *const sb_outputs[] = {
        "PK.key", "PK.crt", "PK.esl",
        "KEK.key", "KEK.crt", "KEK.esl",
        "db.key", "db.crt", "db.esl",
        "GUID",
        "loader/keys/" SECUREBOOT_KEYS_NAME "/PK.auth",
        "loader/keys/" SECUREBOOT_KEYS_NAME "/KEK.auth",
        "loader/keys/" SECUREBOOT_KEYS_NAME "/db.auth",
};

static int write_new(const char *dir, const char *name, const uint8_t *data, size_t size, mode_t mode) {
        _cleanup_free_ char *p = NULL;
        int r;

        if (asprintf(&p, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        r = write_file_atomic(p, data, size, mode);
        if (r < 0)
                return err_set(r, "%s: cannot write: %s", p, strerror(-r));
        return 0;
}

static int make_guid(char ret[static 37]) {
        uint8_t b[16];

        if (RAND_bytes(b, sizeof b) != 1)
                return err_set(EIO, "random GUID: %s", openssl_error_reason());
        uuid_v4_format(b, ret);
        return 0;
}

static int make_key(const char *stage, size_t i) {
        static const char *const exts[][2] = {
                { "basicConstraints", "critical,CA:TRUE" },
                { "keyUsage", "critical,digitalSignature,keyCertSign" },
                { "subjectKeyIdentifier", "hash" },
                {},
        };
        _cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
        _cleanup_(X509_freep) X509 *cert = NULL;
        _cleanup_free_ uint8_t *pem_key = NULL, *pem_cert = NULL;
        size_t key_size = 0, cert_size = 0;
        char name[16];
        int r;

        if ((r = keygen_new_key(SB_RSA_BITS, &key)) < 0 ||
            (r = keygen_new_cert(key, sb_keys[i].cn, SB_DAYS, NULL, NULL, exts, &cert)) < 0 ||
            (r = keygen_pem_key(key, &pem_key, &key_size)) < 0 ||
            (r = keygen_pem_cert(cert, &pem_cert, &cert_size)) < 0)
                goto finish;
        snprintf(name, sizeof name, "%s.key", sb_keys[i].var);
        if ((r = write_new(stage, name, pem_key, key_size, 0600)) < 0)
                goto finish;
        snprintf(name, sizeof name, "%s.crt", sb_keys[i].var);
        if ((r = write_new(stage, name, pem_cert, cert_size, 0644)) < 0)
                goto finish;
finish:
        if (pem_key)
                explicit_bzero(pem_key, key_size);
        return r;
}

static int make_auth(const char *stage, size_t i, const char *guid) {
        _cleanup_free_ char *crt = NULL, *esl = NULL, *auth = NULL, *skey = NULL, *scrt = NULL;
        const char *signer = sb_keys[sb_keys[i].signer].var;
        int r;

        if (asprintf(&crt, "%s/%s.crt", stage, sb_keys[i].var) < 0 ||
            asprintf(&esl, "%s/%s.esl", stage, sb_keys[i].var) < 0 ||
            asprintf(&auth, "%s/loader/keys/" SECUREBOOT_KEYS_NAME "/%s.auth", stage, sb_keys[i].var) < 0 ||
            asprintf(&skey, "%s/%s.key", stage, signer) < 0 ||
            asprintf(&scrt, "%s/%s.crt", stage, signer) < 0)
                return -ENOMEM;

        char *const to_esl[] = { (char *) "cert-to-efi-sig-list", (char *) "-g", (char *) guid, crt, esl, NULL };
        r = process_run(to_esl, NULL, NULL);
        if (r < 0)
                return r;
        char *const sign[] = { (char *) "sign-efi-sig-list", (char *) "-g", (char *) guid, (char *) "-k", skey,
                               (char *) "-c", scrt, (char *) sb_keys[i].var, esl, auth, NULL };
        /* sign-efi-sig-list stamps localtime(); UEFI wants GMT there (TimeZone 0), and a stamp
         * ahead of UTC would make the firmware refuse later, correctly dated updates. */
        char *const utc[] = { (char *) "TZ=UTC0", NULL };
        r = process_run(sign, utc, NULL);
        if (r < 0)
                return r;
        /* sign-efi-sig-list makes it 0600; it is public, and copied to the ESP. */
        if (chmod(auth, 0644) < 0)
                return err_set(errno, "%s: %s", auth, strerror(errno));
        return 0;
}

static int check_absent(const char *dir) {
        for (size_t i = 0; i < ELEMENTSOF(sb_outputs); i++) {
                _cleanup_free_ char *p = NULL;
                struct stat st;

                if (asprintf(&p, "%s/%s", dir, sb_outputs[i]) < 0)
                        return -ENOMEM;
                if (lstat(p, &st) == 0)
                        return err_set(EEXIST, "%s already exists, refusing to overwrite", p);
                if (errno != ENOENT && errno != ENOTDIR)
                        return err_set(errno, "%s: %s", p, strerror(errno));
        }
        return 0;
}

/* Renames every output from stage into dir; on failure undoes the renames done and removes the
 * directories it made, never anything else: another keygen may have filled dir meanwhile. */
static int commit(const char *stage, const char *dir) {
        static const char *const dirs[] = { "loader", "loader/keys", "loader/keys/" SECUREBOOT_KEYS_NAME };
        bool made[ELEMENTSOF(dirs)] = {};
        size_t done = 0;
        int r = 0;

        for (size_t i = 0; i < ELEMENTSOF(dirs) && r >= 0; i++) {
                _cleanup_free_ char *p = NULL;
                if (asprintf(&p, "%s/%s", dir, dirs[i]) < 0)
                        r = -ENOMEM;
                else if (mkdir(p, 0755) >= 0)
                        made[i] = true;
                else if (errno != EEXIST)
                        r = err_set(errno, "%s: cannot create directory: %s", p, strerror(errno));
        }
        for (; r >= 0 && done < ELEMENTSOF(sb_outputs); done++) {
                _cleanup_free_ char *from = NULL, *to = NULL;

                if (asprintf(&from, "%s/%s", stage, sb_outputs[done]) < 0 ||
                    asprintf(&to, "%s/%s", dir, sb_outputs[done]) < 0) {
                        r = -ENOMEM;
                        break;
                }
                /* RENAME_NOREPLACE: a file that appeared since check_absent() is kept. */
                if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) < 0) {
                        r = errno == EEXIST ? err_set(EEXIST, "%s already exists, refusing to overwrite", to)
                                            : err_set(errno, "%s: cannot move into place: %s", to, strerror(errno));
                        break;
                }
        }
        if (r < 0) {
                for (size_t j = 0; j < done; j++) {
                        _cleanup_free_ char *to = NULL;
                        if (asprintf(&to, "%s/%s", dir, sb_outputs[j]) >= 0)
                                (void) unlink(to);
                }
                for (size_t i = ELEMENTSOF(dirs); i-- > 0;) {
                        _cleanup_free_ char *p = NULL;
                        if (made[i] && asprintf(&p, "%s/%s", dir, dirs[i]) >= 0)
                                (void) rmdir(p);
                }
        }
        return r;
}

int secureboot_keygen(const char *dir) {
        _cleanup_free_ char *stage = NULL, *stage_keys = NULL;
        char guid[37];
        bool created_dir = false;
        int r;

        r = check_absent(dir);
        if (r < 0)
                return r;
        if (mkdir(dir, 0755) >= 0)
                created_dir = true;
        else if (errno != EEXIST)
                return err_set(errno, "%s: cannot create directory: %s", dir, strerror(errno));

        if (asprintf(&stage, "%s/.#secure-boot.XXXXXX", dir) < 0)
                return -ENOMEM;
        if (!mkdtemp(stage)) {
                r = err_set(errno, "%s: cannot create a staging directory: %s", dir, strerror(errno));
                goto finish;
        }

        if (asprintf(&stage_keys, "%s/loader/keys/" SECUREBOOT_KEYS_NAME, stage) < 0) {
                r = -ENOMEM;
                goto finish;
        }
        if ((r = make_guid(guid)) < 0 || (r = mkdir_p(stage_keys, 0755)) < 0)
                goto finish;
        char guid_line[38];
        snprintf(guid_line, sizeof guid_line, "%s\n", guid);
        if ((r = write_new(stage, "GUID", (const uint8_t *) guid_line, strlen(guid_line), 0644)) < 0)
                goto finish;
        for (size_t i = 0; i < _SB_MAX; i++)
                if ((r = make_key(stage, i)) < 0)
                        goto finish;
        for (size_t i = 0; i < _SB_MAX; i++)
                if ((r = make_auth(stage, i, guid)) < 0)
                        goto finish;

        r = commit(stage, dir);
finish:
        if (stage)
                (void) rm_rf(stage);
        /* Only if empty: a keygen racing this one may have put its key set there. */
        if (r < 0 && created_dir)
                (void) rmdir(dir);
        return r;
}
