/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/opt-error.h"
#include "basic/process.h"
#include "basic/progress.h"
#include "basic/rm-rf.h"
#include "bundle/bundle.h"
#include "crypto/trust.h"
#include "disk-data.h"
#include "disk-esp.h"
#include "disk-layout.h"
#include "disk-uboot.h"
#include "verb.h"

#define COPY_CHUNK (1024 * 1024)

static void help(void) {
        printf("Usage: abide-build disk BUNDLE|- --cert CA -o DISK [OPTIONS...]\n\n"
               "Makes a factory disk image (GPT): the ESP with systemd-boot and slot A's kernel,\n"
               "initrd and boot entry; slot A written from the bundle; slot B empty; abide-data\n"
               "(ext4) with /etc/abide/abide.conf (the image carries its own CA). The bundle's\n"
               "signature is checked against CA and every payload's size and SHA-256 as it is\n"
               "written; on any error no DISK is left behind.\n"
               "An arm64 bundle boots through U-Boot instead: the first partition holds\n"
               "/boot.scr and slot A's kernel and initrd under /abide/a/, and U-Boot's initial\n"
               "environment is written to DISK.env.fd (docs/uboot.md).\n\n"
               "  --cert CA        trusted CA certificate(s) the bundle is checked against\n"
               "  -o, --output F   the disk image file to write (replaced whole if it exists; a device\n"
               "                   node is refused: copy the image to a disk afterwards)\n"
               "  --size S         whole disk (K, M, G, T suffixes); abide-data takes the rest\n"
               "  --esp-size S     ESP size (default: room for two slots' kernels to double)\n"
               "  --slot-size S    each root partition (default: the root image plus half)\n"
               "  --data-size S    abide-data when --size is not given (default 256M)\n"
               "  --uboot-defaults F  arm64: the board's default U-Boot environment (VAR=VALUE\n"
               "                   lines; default builder/uboot/qemu-virt.env, QEMU virt's)\n"
               "  --secure-boot DIR  a Secure Boot disk (docs/secure-boot.md): the bundle must\n"
               "                   carry signed UKIs ([Boot] UKI=yes) that DIR/db.crt verifies;\n"
               "                   the ESP gets systemd-boot signed with DIR/db.key, slot A's UKI\n"
               "                   as /EFI/Linux/abide-a.efi (no type #1 entry), and\n"
               "                   DIR/loader/keys/abide/{PK,KEK,db}.auth as /loader/keys/auto/,\n"
               "                   which systemd-boot enrolls at the first boot (loader.conf:\n"
               "                   secure-boot-enroll force). DIR is keygen --secure-boot's\n"
               "                   output; only db.key, db.crt and those three .auth files\n"
               "                   are read\n");
}

typedef struct Workdir {
        char *path;
} Workdir;

static void workdir_done(Workdir *w) {
        if (w->path) {
                (void) rm_rf(w->path);
                free(w->path);
        }
}

/* Scratch files live next to the output: same file system, so copies can share extents. */
static int workdir_make(const char *out, Workdir *ret) {
        _cleanup_free_ char *copy = strdup(out), *copy2 = strdup(out), *p = NULL;

        if (!copy || !copy2)
                return -ENOMEM;
        if (asprintf(&p, "%s/.#%s.work.XXXXXX", dirname(copy), basename(copy2)) < 0)
                return -ENOMEM;
        if (!mkdtemp(p))
                return err_set(errno, "cannot create a scratch directory next to %s: %m", out);
        ret->path = TAKE_PTR(p);
        return 0;
}

static int write_at(int fd, uint64_t offset, const void *buf, size_t n) {
        const uint8_t *p = buf;

        while (n > 0) {
                ssize_t k = pwrite(fd, p, n, (off_t) offset);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                p += k;
                n -= (size_t) k;
                offset += (uint64_t) k;
        }
        return 0;
}

/* Streams the current payload into fd at offset; the reader checks size and digest at the end. */
static int stream_payload(BundleReader *b, const Payload *p, int fd, uint64_t offset, uint64_t room) {
        static uint8_t buf[COPY_CHUNK];
        uint64_t done = 0;
        ssize_t n;
        int r;

        if (p->size > room)
                return err_set(ENOSPC, "payload %s (%" PRIu64 " bytes) does not fit its partition (%" PRIu64 " bytes)",
                               p->name, p->size, room);
        progress_begin(p->name, p->size);
        while ((n = bundle_reader_read(b, buf, sizeof buf)) > 0) {
                /* The reader fails on oversize too; this keeps a lying stream inside the partition. */
                if ((uint64_t) n > room - done)
                        return err_set(ENOSPC, "payload %s: larger than its partition", p->name);
                r = write_at(fd, offset + done, buf, (size_t) n);
                if (r < 0)
                        return err_set(-r, "writing payload %s: %m", p->name);
                done += (uint64_t) n;
                progress_update(done);
        }
        progress_end();
        return n < 0 ? (int) n : 0;
}

static int stream_payload_to_file(BundleReader *b, const Payload *p, const char *path) {
        _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

        if (fd < 0)
                return err_set(errno, "%s: %m", path);
        return stream_payload(b, p, fd, 0, p->size);
}

/* Copies src into dst at offset, only its data extents, so the image stays sparse. */
static int copy_file_at(const char *src, int dst, uint64_t offset, uint64_t room) {
        static uint8_t buf[COPY_CHUNK];
        _cleanup_close_ int fd = open(src, O_RDONLY | O_CLOEXEC);
        struct stat st;

        if (fd < 0 || fstat(fd, &st) < 0)
                return err_set(errno, "%s: %m", src);
        if ((uint64_t) st.st_size > room)
                return err_set(ENOSPC, "%s does not fit its partition", src);

        off_t pos = 0;
        for (;;) {
                off_t data = lseek(fd, pos, SEEK_DATA);
                if (data < 0 && errno == ENXIO)
                        return 0;
                if (data < 0)
                        return err_set(errno, "%s: %m", src);
                off_t hole = lseek(fd, data, SEEK_HOLE);
                if (hole < 0)
                        return err_set(errno, "%s: %m", src);
                for (pos = data; pos < hole;) {
                        ssize_t n = pread(fd, buf, (size_t) MIN((off_t) sizeof buf, hole - pos), pos);
                        if (n < 0)
                                return err_set(errno, "%s: %m", src);
                        if (n == 0)
                                return err_set(EIO, "%s: shrank while copied", src);
                        int r = write_at(dst, offset + (uint64_t) pos, buf, (size_t) n);
                        if (r < 0)
                                return err_set(-r, "writing %s into the image: %m", src);
                        pos += n;
                }
        }
}

static int write_partition_table(const DiskLayout *l, const char *image, const char *workdir) {
        _cleanup_free_ char *script = NULL, *script_path = NULL;
        int r;

        r = disk_layout_to_sfdisk(l, &script);
        if (r < 0)
                return r;
        if (asprintf(&script_path, "%s/sfdisk.script", workdir) < 0)
                return -ENOMEM;
        r = write_file_atomic(script_path, script, strlen(script), 0644);
        if (r < 0)
                return err_prefix(r, "%s", script_path);

        /* sfdisk reads its script from stdin only; paths go in as arguments, never into the shell text. */
        char *argv[] = { "sh", "-c", "exec sfdisk --quiet --no-reread --no-tell-kernel --wipe never -- \"$1\" < \"$2\"",
                         "sh", (char *) image, script_path, NULL };
        return process_run(argv, NULL, NULL);
}

/* DISK is a file, made beside it and renamed over it: whatever stands at its name is replaced,
 * so a device node there (-o /dev/sdX) would become a file instead of being written. */
static int check_output(const char *path) {
        struct stat st;

        if (stat(path, &st) < 0)
                return errno == ENOENT ? 0 : err_set(errno, "%s: %m", path);
        if (S_ISREG(st.st_mode))
                return 0;
        if (S_ISBLK(st.st_mode))
                return err_set(EINVAL, "%s: is a block device; abide-build disk writes an image file (copy it "
                               "to the device afterwards, e.g. with dd)", path);
        if (S_ISDIR(st.st_mode))
                return err_set(EISDIR, "%s: is a directory; -o names the disk image file", path);
        return err_set(EINVAL, "%s: not a regular file; -o names the disk image file", path);
}

typedef struct DiskArgs {
        const char *bundle, *cert, *output;
        DiskSizes sizes;
        const char *uboot_defaults;
        const char *secure_boot;
} DiskArgs;

static int parse_args(int argc, char *argv[], DiskArgs *a) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "cert", required_argument, NULL, 'c' },
                { "output", required_argument, NULL, 'o' },
                { "size", required_argument, NULL, 's' },
                { "esp-size", required_argument, NULL, 'E' },
                { "slot-size", required_argument, NULL, 'S' },
                { "data-size", required_argument, NULL, 'D' },
                { "uboot-defaults", required_argument, NULL, 'U' },
                { "secure-boot", required_argument, NULL, 'B' },
                {},
        };
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, ":ho:", options, NULL)) >= 0) {
                uint64_t *size = NULL;
                const char *name = NULL;
                switch (c) {
                case 'h':
                        help();
                        return 1;
                case 'c':
                        a->cert = optarg;
                        continue;
                case 'o':
                        a->output = optarg;
                        continue;
                case 'U':
                        a->uboot_defaults = optarg;
                        continue;
                case 'B':
                        a->secure_boot = optarg;
                        continue;
                case 's':
                        size = &a->sizes.disk;
                        name = "--size";
                        break;
                case 'E':
                        size = &a->sizes.esp;
                        name = "--esp-size";
                        break;
                case 'S':
                        size = &a->sizes.slot;
                        name = "--slot-size";
                        break;
                case 'D':
                        size = &a->sizes.data;
                        name = "--data-size";
                        break;
                default:
                        return opt_error(c, argv, options, "abide-build disk --help");
                }
                r = disk_parse_size(optarg, size);
                if (r < 0)
                        return err_prefix(r, "%s", name);
        }
        if (optind != argc - 1)
                return err_set(EINVAL, "expected one BUNDLE argument (see abide-build disk --help)");
        if (!a->cert)
                return err_set(EINVAL, "--cert CA is required: the disk trusts only this CA");
        if (!a->output)
                return err_set(EINVAL, "-o DISK is required");
        a->bundle = argv[optind];
        return 0;
}

int verb_disk(int argc, char *argv[]) {
        _cleanup_(trust_store_freep) TrustStore *trust = NULL;
        _cleanup_(bundle_reader_freep) BundleReader *b = NULL;
        _cleanup_(atomic_file_freep) AtomicFile *out = NULL;
        _cleanup_(workdir_done) Workdir work = {};
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *kernel = NULL, *initrd = NULL, *esp = NULL, *data = NULL, *uki_a = NULL, *uki_b = NULL;
        _cleanup_free_ char *boot_scr = NULL, *uboot_defaults = NULL, *env_path = NULL;
        DiskArgs a = {};
        DiskLayout l;
        const Payload *p;
        int r;

        r = parse_args(argc, argv, &a);
        if (r != 0)
                return r < 0 ? r : 0;

        r = check_output(a.output);
        if (r < 0)
                return r;
        r = trust_store_load(a.cert, &trust);
        if (r < 0)
                return err_prefix(r, "%s", a.cert);
        fd = streq(a.bundle, "-") ? fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3) : open(a.bundle, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return err_set(errno, "%s: %m", a.bundle);
        r = bundle_reader_open(fd, NULL, trust, &b);
        if (r < 0)
                return err_prefix(r, "%s", a.bundle);
        const Manifest *m = bundle_reader_manifest(b);

        r = disk_layout_compute(m, &a.sizes, &l);
        if (r < 0)
                return err_prefix(r, "%s", a.bundle);

        /* arm64 boots through U-Boot: find its files before writing anything. */
        bool uboot = m->architecture == ARCH_ARM64;
        if (uboot) {
                r = disk_uboot_find("boot.scr", &boot_scr);
                if (r < 0)
                        return r;
                if (a.uboot_defaults)
                        uboot_defaults = strdup(a.uboot_defaults);
                else
                        r = disk_uboot_find("qemu-virt.env", &uboot_defaults);
                if (r < 0)
                        return r;
                if (!uboot_defaults || asprintf(&env_path, "%s.env.fd", a.output) < 0)
                        return -ENOMEM;
        }
        if (a.secure_boot) {
                if (uboot)
                        return err_set(EINVAL, "--secure-boot: %s is an arm64 bundle, which boots through U-Boot",
                                       a.bundle);
                if (!manifest_find_role(m, PAYLOAD_UKI_A))
                        return err_set(EINVAL, "--secure-boot: %s has no signed UKIs (uki-a, uki-b; build it with "
                                       "[Boot] UKI=yes)", a.bundle);
                r = disk_esp_secure_boot_check(a.secure_boot);
                if (r < 0)
                        return r;
        }

        r = atomic_file_open(a.output, 0644, &out);
        if (r < 0)
                return err_set(-r, "%s: %m", a.output);
        r = workdir_make(a.output, &work);
        if (r < 0)
                return r;
        if (ftruncate(out->fd, (off_t) l.disk_size) < 0)
                return err_set(errno, "%s: %m", a.output);
        progress_step("partition table");
        r = write_partition_table(&l, out->tmp_path, work.path);
        if (r < 0)
                return r;

        if (asprintf(&kernel, "%s/vmlinuz", work.path) < 0 || asprintf(&initrd, "%s/initrd", work.path) < 0 ||
            asprintf(&uki_a, "%s/abide-a.efi", work.path) < 0 || asprintf(&uki_b, "%s/abide-b.efi", work.path) < 0 ||
            asprintf(&esp, "%s/esp.img", work.path) < 0 || asprintf(&data, "%s/data.img", work.path) < 0)
                return -ENOMEM;

        while ((r = bundle_reader_next(b, &p)) > 0) {
                const DiskPart *part = NULL;
                switch (p->role) {
                case PAYLOAD_ROOT:
                        part = &l.parts[DISK_PART_ROOT_A];
                        break;
                case PAYLOAD_VERITY:
                        part = &l.parts[DISK_PART_VERITY_A];
                        break;
                case PAYLOAD_VERITY_SIG:
                        part = &l.parts[DISK_PART_VERITY_SIG_A];
                        break;
                case PAYLOAD_KERNEL:
                        r = stream_payload_to_file(b, p, kernel);
                        break;
                case PAYLOAD_INITRD:
                        r = stream_payload_to_file(b, p, initrd);
                        break;
                case PAYLOAD_UKI_A:
                case PAYLOAD_UKI_B:
                        /* Checked against the manifest like every payload; only --secure-boot puts slot a's
                         * on the ESP, else slot a boots from vmlinuz and initrd (type #1). */
                        r = stream_payload_to_file(b, p, p->role == PAYLOAD_UKI_A ? uki_a : uki_b);
                        break;
                default:
                        return err_set(EBADMSG, "%s: payload %s has an unknown role", a.bundle, p->name);
                }
                if (part)
                        r = stream_payload(b, p, out->fd, part->offset, part->size);
                if (r < 0)
                        return err_prefix(r, "%s", a.bundle);
        }
        if (r < 0)
                return err_prefix(r, "%s", a.bundle);

        if (a.secure_boot)
                /* Both: slot b's is what a later install of this release would write. */
                for (int i = 0; i < 2; i++) {
                        r = disk_esp_secure_boot_verify(a.secure_boot, i == 0 ? uki_a : uki_b,
                                                        i == 0 ? "abide-a.efi (uki-a)" : "abide-b.efi (uki-b)");
                        if (r < 0)
                                return err_prefix(r, "%s", a.bundle);
                }

        /* Equal bundles give equal disks: the file systems' times are the bundle's build date, as
         * mtools (SOURCE_DATE_EPOCH), mke2fs and debugfs (E2FSPROGS_FAKE_TIME) take it. */
        time_t epoch;
        char epoch_text[32];
        r = manifest_build_epoch(m, &epoch);
        if (r < 0)
                return err_prefix(r, "%s", a.bundle);
        (void) snprintf(epoch_text, sizeof epoch_text, "%lld", (long long) epoch);
        if (setenv("SOURCE_DATE_EPOCH", epoch_text, 1) < 0 || setenv("E2FSPROGS_FAKE_TIME", epoch_text, 1) < 0)
                return -ENOMEM;

        progress_step(uboot ? "boot partition (U-Boot)" : "ESP");
        const DiskPart *pe = &l.parts[DISK_PART_ESP], *pd = &l.parts[DISK_PART_DATA];
        if (uboot)
                r = disk_uboot_boot_make(esp, pe->size, pe->uuid, boot_scr, kernel, initrd);
        else
                r = disk_esp_make(esp, pe->size, pe->uuid, m, kernel, initrd,
                                  a.secure_boot ? &(DiskSecureBoot) { .dir = a.secure_boot, .uki_a = uki_a } : NULL,
                                  work.path);
        if (r < 0)
                return r;
        r = copy_file_at(esp, out->fd, pe->offset, pe->size);
        if (r < 0)
                return r;

        progress_step("abide-data");
        r = disk_data_make(data, pd->size, pd->uuid, m, epoch, work.path);
        if (r < 0)
                return r;
        r = copy_file_at(data, out->fd, pd->offset, pd->size);
        if (r < 0)
                return r;

        if (uboot) {
                progress_step("U-Boot environment");
                r = disk_uboot_env_write(env_path, m, uboot_defaults);
                if (r < 0)
                        return r;
        }

        r = atomic_file_commit(out);
        if (r < 0)
                return err_set(-r, "%s: %m", a.output);
        if (uboot)
                printf("%s: U-Boot environment (BOOT_ORDER=A, abide_good=A)\n", env_path);
        printf("%s: %s %s in slot a, %" PRIu64 " MiB%s\n", a.output, m->name, m->version, l.disk_size >> 20,
               a.secure_boot ? ", Secure Boot (keys enrolled at the first boot)" : "");
        return 0;
}
