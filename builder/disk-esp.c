/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "disk-esp.h"

#include <inttypes.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/process.h"
#include "boot/boot-entry.h"
#include "crypto/authenticode.h"
#include "crypto/openssl-util.h"

/*
 * Unattended boot: no menu, no editor (the signed command line stays as
 * it is), no firmware or auto-detected entries to fall into. No "default":
 * entries sort by version, and a bad entry (counter at +0) sorts last, so
 * the loader picks the newest bootable slot by itself.
 */
static const char loader_conf[] = "timeout 0\n"
                                  "editor no\n"
                                  "auto-entries no\n"
                                  "auto-firmware no\n"
                                  "console-mode keep\n";

/*
 * Secure Boot: with "force", systemd-boot enrolls the keys under
 * /loader/keys/auto/ by itself when the firmware is in setup mode (after a
 * countdown a key press aborts), then resets; in user mode it does nothing.
 * Only a directory named "auto" is enrolled unattended (systemd-boot 252's
 * secure_boot_discover_keys); any other name is only a menu entry, which
 * "timeout 0" hides. So keygen's loader/keys/abide/ goes to /loader/keys/auto/.
 */
static const char loader_conf_secure_boot[] = "secure-boot-enroll force\n";

static const char *const secure_boot_auth[] = { "PK", "KEK", "db" };

#define AUTH_MAX (1024U * 1024U)
#define EFI_TIME_SIZE 16
#define ESL_HEADER_SIZE 28
/* EFI_CERT_X509_GUID a5c059a1-94e4-4aa7-87b5-ab155c2bf072, as stored (mixed endian). */
static const uint8_t efi_cert_x509_guid[16] = { 0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a,
                                                0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72 };

static uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

/* entry (DER, from a signature list) is cert, or a CA whose key signed cert: as the firmware's db. */
static bool db_entry_trusts(const uint8_t *entry, size_t size, X509 *cert, const uint8_t *der, size_t der_size) {
        if (size == der_size && memcmp(entry, der, der_size) == 0)
                return true;
        const unsigned char *p = entry;
        _cleanup_(X509_freep) X509 *ca = d2i_X509(NULL, &p, (long) size);
        bool ok = ca && X509_check_issued(ca, cert) == X509_V_OK && X509_check_ca(ca) != 0 &&
                  X509_get0_pubkey(ca) && X509_verify(cert, X509_get0_pubkey(ca)) == 1;
        ERR_clear_error();
        return ok;
}

/*
 * Whether the signed update auth (EFI_VARIABLE_AUTHENTICATION_2: EFI_TIME,
 * WIN_CERTIFICATE_UEFI_GUID, then EFI_SIGNATURE_LISTs) enrolls a db that
 * trusts cert (DER der): 1 yes, 0 no, -EBADMSG malformed.
 */
static int auth_trusts_cert(const uint8_t *auth, size_t size, X509 *cert, const uint8_t *der, size_t der_size) {
        if (size < EFI_TIME_SIZE + 8)
                return -EBADMSG;
        uint32_t cert_len = le32(auth + EFI_TIME_SIZE);
        if (cert_len < 8 + 16 || cert_len > size - EFI_TIME_SIZE)
                return -EBADMSG;
        int found = 0;
        for (size_t off = EFI_TIME_SIZE + (size_t) cert_len; off < size;) {
                if (size - off < ESL_HEADER_SIZE)
                        return -EBADMSG;
                const uint8_t *l = auth + off;
                uint32_t list_size = le32(l + 16), header_size = le32(l + 20), sig_size = le32(l + 24);
                if (list_size < ESL_HEADER_SIZE || list_size > size - off || header_size > list_size - ESL_HEADER_SIZE ||
                    sig_size <= 16 || (list_size - ESL_HEADER_SIZE - header_size) % sig_size != 0)
                        return -EBADMSG;
                if (memcmp(l, efi_cert_x509_guid, 16) == 0)
                        for (size_t e = ESL_HEADER_SIZE + header_size; e < list_size && !found; e += sig_size)
                                found = db_entry_trusts(l + e + 16, sig_size - 16, cert, der, der_size);
                off += list_size;
        }
        return found;
}

/* DIR/db.crt (what signs systemd-boot, and what the UKIs are checked against) is in, or issued by a
 * certificate in, the db that DIR's db.auth enrolls: else the firmware would refuse all of it. */
static int check_db_enrolled(const char *dir) {
        _cleanup_(x509_stack_freep) STACK_OF(X509) *certs = NULL;
        _cleanup_free_ char *crt = NULL, *auth_path = NULL, *auth = NULL;
        unsigned char *der = NULL;
        size_t auth_size;
        int r;

        if (asprintf(&crt, "%s/db.crt", dir) < 0 || asprintf(&auth_path, "%s/loader/keys/abide/db.auth", dir) < 0)
                return -ENOMEM;
        r = pem_read_certs(crt, &certs);
        if (r < 0)
                return err_prefix(r, "--secure-boot: %s", crt);
        r = read_full_file(auth_path, AUTH_MAX, &auth, &auth_size);
        if (r < 0)
                return err_set(r, "--secure-boot: %s: %s", auth_path, strerror(-r));
        /* The first certificate is the one sbsign signs with. */
        X509 *signer = sk_X509_value(certs, 0);
        int der_size = i2d_X509(signer, &der);
        if (der_size <= 0)
                return err_set(EINVAL, "--secure-boot: %s: cannot encode its certificate", crt);
        r = auth_trusts_cert((const uint8_t *) auth, auth_size, signer, der, (size_t) der_size);
        OPENSSL_free(der);
        if (r < 0)
                return err_set(EBADMSG, "--secure-boot: %s: malformed (not a signed EFI variable update with signature lists)",
                               auth_path);
        if (r == 0)
                return err_set(EKEYREJECTED, "--secure-boot: %s is not in the db that %s enrolls (nor issued by a "
                               "certificate there): the firmware would refuse systemd-boot and the UKIs signed with "
                               "its key", crt, auth_path);
        return 0;
}

int disk_esp_secure_boot_check(const char *dir) {
        for (size_t i = 0; i < 2 + ELEMENTSOF(secure_boot_auth); i++) {
                _cleanup_free_ char *p = NULL;
                int r = i < 2 ? asprintf(&p, "%s/%s", dir, i == 0 ? "db.key" : "db.crt")
                              : asprintf(&p, "%s/loader/keys/abide/%s.auth", dir, secure_boot_auth[i - 2]);
                if (r < 0)
                        return -ENOMEM;
                if (access(p, R_OK) < 0)
                        return err_set(errno, "--secure-boot: %s: %m (made by abide-build keygen --secure-boot)", p);
        }
        return check_db_enrolled(dir);
}

/* As abidectl checks a UKI before installing it, and as the firmware will once db is enrolled. */
int disk_esp_secure_boot_verify(const char *dir, const char *efi, const char *name) {
        _cleanup_free_ char *crt = NULL;
        int r;

        if (asprintf(&crt, "%s/db.crt", dir) < 0)
                return -ENOMEM;
        r = authenticode_verify_file(efi, crt, NULL);
        if (r < 0)
                return err_prefix(r, "%s is not accepted by %s, the firmware would not boot it", name, crt);
        return 0;
}

static int write_scratch(const char *workdir, const char *name, const char *text, char **ret_path) {
        _cleanup_free_ char *p = NULL;
        int r;

        if (asprintf(&p, "%s/%s", workdir, name) < 0)
                return -ENOMEM;
        r = write_file_atomic(p, text, strlen(text), 0644);
        if (r < 0)
                return err_prefix(r, "%s", p);
        *ret_path = TAKE_PTR(p);
        return 0;
}

static char *const mtools_env[] = { "MTOOLS_SKIP_CHECK=1", NULL };

static int esp_copy(const char *esp, const char *src, const char *dst) {
        _cleanup_free_ char *target = NULL;

        if (asprintf(&target, "::%s", dst) < 0)
                return -ENOMEM;
        char *argv[] = { "mcopy", "-i", (char *) esp, "-o", (char *) src, target, NULL };
        return process_run(argv, mtools_env, NULL);
}

/* systemd-boot signed with db's key, into workdir. */
static int sign_loader(const char *dir, const char *workdir, char **ret_path) {
        _cleanup_free_ char *key = NULL, *crt = NULL, *out = NULL;
        int r;

        if (asprintf(&key, "%s/db.key", dir) < 0 || asprintf(&crt, "%s/db.crt", dir) < 0 ||
            asprintf(&out, "%s/systemd-bootx64.efi.signed", workdir) < 0)
                return -ENOMEM;
        char *argv[] = { "sbsign", "--key", key, "--cert", crt, "--output", out, DISK_SYSTEMD_BOOT_EFI, NULL };
        r = process_run(argv, NULL, NULL);
        if (r < 0)
                return err_prefix(r, "signing %s", DISK_SYSTEMD_BOOT_EFI);
        *ret_path = TAKE_PTR(out);
        return 0;
}

static int esp_make_secure_boot(const char *path, const char *conf_path, const DiskSecureBoot *sb,
                                const char *workdir) {
        _cleanup_free_ char *loader = NULL;
        /* Arrays, not _cleanup_free_ pointers: that attribute frees only an array's first element. */
        char auth[ELEMENTSOF(secure_boot_auth)][PATH_MAX], auth_dst[ELEMENTSOF(secure_boot_auth)][64];
        int r;

        r = sign_loader(sb->dir, workdir, &loader);
        if (r < 0)
                return r;
        char *mmd[] = { "mmd", "-i", (char *) path, "::/EFI/Linux", "::/loader/keys", "::/loader/keys/auto", NULL };
        r = process_run(mmd, mtools_env, NULL);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(secure_boot_auth); i++)
                if (snprintf(auth[i], sizeof auth[i], "%s/loader/keys/abide/%s.auth", sb->dir, secure_boot_auth[i]) >=
                            (int) sizeof auth[i] ||
                    snprintf(auth_dst[i], sizeof auth_dst[i], "/loader/keys/auto/%s.auth", secure_boot_auth[i]) >=
                            (int) sizeof auth_dst[i])
                        return err_set(ENAMETOOLONG, "%s: path too long", sb->dir);

        const struct {
                const char *src, *dst;
        } files[] = {
                { loader, "/EFI/BOOT/BOOTX64.EFI" },
                { loader, "/EFI/systemd/systemd-bootx64.efi" },
                { auth[0], auth_dst[0] },
                { auth[1], auth_dst[1] },
                { auth[2], auth_dst[2] },
                { conf_path, "/loader/loader.conf" },
                /* Last, as the type #1 entry: a good, blessed type #2 entry (no counter in its name). */
                { sb->uki_a, "/EFI/Linux/abide-a.efi" },
        };
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                r = esp_copy(path, files[i].src, files[i].dst);
                if (r < 0)
                        return err_prefix(r, "ESP %s", files[i].dst);
        }
        return 0;
}

int disk_esp_make(const char *path, uint64_t size, const char *volume_uuid, const Manifest *m,
                  const char *kernel_path, const char *initrd_path, const DiskSecureBoot *sb,
                  const char *workdir) {
        _cleanup_free_ char *entry = NULL, *entry_path = NULL, *conf_path = NULL, *conf = NULL;
        char blocks[32], volid[9];
        int r;

        if (access(DISK_SYSTEMD_BOOT_EFI, R_OK) < 0)
                return err_set(errno, "systemd-boot not found at %s (package systemd-boot-efi): %m",
                               DISK_SYSTEMD_BOOT_EFI);

        /* mkfs.vfat counts 1 KiB blocks; the volume ID follows the partition UUID. */
        snprintf(blocks, sizeof blocks, "%" PRIu64, size / 1024);
        memcpy(volid, volume_uuid, 8);
        volid[8] = 0;
        char *mkfs[] = { "mkfs.vfat", "-C", "-F", "32", "-n", "ESP", "-i", volid, "--invariant",
                         (char *) path, blocks, NULL };
        r = process_run(mkfs, NULL, NULL);
        if (r < 0)
                return r;

        char *mmd[] = { "mmd", "-i", (char *) path, "::/EFI", "::/EFI/BOOT", "::/EFI/systemd", "::/loader",
                        "::/loader/entries", "::/abide", "::/abide/a", "::/abide/b", NULL };
        r = process_run(mmd, mtools_env, NULL);
        if (r < 0)
                return r;

        if (asprintf(&conf, "%s%s", loader_conf, sb ? loader_conf_secure_boot : "") < 0)
                return -ENOMEM;
        r = write_scratch(workdir, "loader.conf", conf, &conf_path);
        if (r < 0)
                return r;
        if (sb)
                return esp_make_secure_boot(path, conf_path, sb, workdir);

        /* The same entry abidectl writes for an installed slot, here blessed: the factory image is known good. */
        r = boot_entry_format(SLOT_A, &(BootEntrySpec) { .version = m->version, .cmdline = m->cmdline }, &entry);
        if (r < 0)
                return r;
        r = write_scratch(workdir, "abide-a.conf", entry, &entry_path);
        if (r < 0)
                return r;

        const struct {
                const char *src, *dst;
        } files[] = {
                { DISK_SYSTEMD_BOOT_EFI, "/EFI/BOOT/BOOTX64.EFI" },
                { DISK_SYSTEMD_BOOT_EFI, "/EFI/systemd/systemd-bootx64.efi" },
                { kernel_path, "/abide/a/vmlinuz" },
                { initrd_path, "/abide/a/initrd" },
                { conf_path, "/loader/loader.conf" },
                /* Last: a disk with an entry has everything the entry names. */
                { entry_path, "/loader/entries/abide-a.conf" },
        };
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                r = esp_copy(path, files[i].src, files[i].dst);
                if (r < 0)
                        return err_prefix(r, "ESP %s", files[i].dst);
        }
        return 0;
}
