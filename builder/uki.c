/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "uki.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/process.h"

#define UKI_STUB_DIR "/usr/lib/systemd/boot/efi"
#define UKI_STUB_MAX (16 * 1024 * 1024)
#define UKI_PAGE 4096

static const char *const section_names[_UKI_SECTION_MAX] = {
        [UKI_SECTION_OSREL] = ".osrel",
        [UKI_SECTION_CMDLINE] = ".cmdline",
        [UKI_SECTION_LINUX] = ".linux",
        [UKI_SECTION_INITRD] = ".initrd",
};

const char *uki_section_name(UkiSection s) {
        return s >= 0 && s < _UKI_SECTION_MAX ? section_names[s] : NULL;
}

static uint16_t le16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static uint64_t le64(const uint8_t *p) {
        return (uint64_t) le32(p) | (uint64_t) le32(p + 4) << 32;
}

static uint64_t round_up(uint64_t v, uint64_t a) {
        return (v + a - 1) / a * a;
}

/* Offset of the PE signature, checked; the COFF header follows it. */
static int pe_header(const uint8_t *b, size_t n, size_t *ret) {
        if (n < 0x40 || b[0] != 'M' || b[1] != 'Z')
                return err_set(EBADMSG, "not a PE image (no MZ header)");
        size_t pe = le32(b + 0x3c);
        if (pe > n || n - pe < 24 || memcmp(b + pe, "PE\0\0", 4) != 0)
                return err_set(EBADMSG, "not a PE image (no PE signature)");
        *ret = pe;
        return 0;
}

int uki_layout(const uint8_t *stub, size_t stub_size, const uint64_t sizes[_UKI_SECTION_MAX],
               uint64_t ret_vma[_UKI_SECTION_MAX]) {
        size_t pe;
        int r;

        r = pe_header(stub, stub_size, &pe);
        if (r < 0)
                return r;
        const uint8_t *coff = stub + pe + 4;
        size_t n_sections = le16(coff + 2), opt_size = le16(coff + 16);
        const uint8_t *opt = coff + 20;
        if (opt_size < 40 || (size_t) (opt - stub) + opt_size > stub_size)
                return err_set(EBADMSG, "PE optional header truncated");
        if (le16(opt) != 0x20b)
                return err_set(EBADMSG, "not a PE32+ image (optional header magic 0x%x)", le16(opt));
        uint64_t image_base = le64(opt + 24);
        uint32_t align = le32(opt + 32);
        if (align == 0 || (align & (align - 1)) != 0)
                return err_set(EBADMSG, "PE SectionAlignment 0x%" PRIx32 " is not a power of two", align);
        const uint8_t *sec = opt + opt_size;
        if (n_sections == 0 || (size_t) (sec - stub) + n_sections * 40 > stub_size)
                return err_set(EBADMSG, "PE section table truncated");

        uint64_t end = 0;
        for (size_t i = 0; i < n_sections; i++, sec += 40) {
                char name[9] = {};
                memcpy(name, sec, 8);
                for (UkiSection s = 0; s < _UKI_SECTION_MAX; s++)
                        if (streq(name, section_names[s]))
                                return err_set(EBADMSG, "the stub already has a %s section", name);
                uint64_t e = (uint64_t) le32(sec + 12) + le32(sec + 8);
                if (e > end)
                        end = e;
        }

        /* 4 KiB as well: page-aligned sections are what every firmware loads. */
        uint64_t a = align > UKI_PAGE ? align : UKI_PAGE, off = round_up(end, a), vma[_UKI_SECTION_MAX];
        for (UkiSection s = 0; s < _UKI_SECTION_MAX; s++) {
                if (sizes[s] > UINT32_MAX || off + sizes[s] + a > UINT32_MAX)
                        return err_set(EFBIG, "%s (%" PRIu64 " bytes) does not fit a PE image", section_names[s], sizes[s]);
                vma[s] = image_base + off;
                off = round_up(off + (sizes[s] ?: 1), a);
        }
        memcpy(ret_vma, vma, sizeof vma);
        return 0;
}

int uki_find_stub(Architecture arch, char **ret) {
        const ArchInfo *ai = arch_info(arch);
        _cleanup_free_ char *p = NULL;

        if (!ai || !ai->efi_arch)
                return err_set(EINVAL, "no UEFI stub for architecture %s", architecture_to_string(arch));
        if (asprintf(&p, UKI_STUB_DIR "/linux%s.efi.stub", ai->efi_arch) < 0)
                return -ENOMEM;
        if (access(p, R_OK) < 0)
                return err_set(errno, "systemd's UEFI stub %s: %m (install systemd-boot-efi)", p);
        *ret = TAKE_PTR(p);
        return 0;
}

int uki_os_release(const char *name, const char *version, char **ret) {
        /* Recipe names and versions are [A-Za-z0-9._+~-]: nothing to quote or escape. No IMAGE_ID:
         * systemd-boot sorts type #2 entries by IMAGE_ID, else ID, and type #1 entries by their
         * sort-key; "abide" for both keeps the slots in one order, by version, whatever their type. */
        if (asprintf(ret, "NAME=\"%s\"\nID=abide\nPRETTY_NAME=\"%s %s\"\nVERSION_ID=%s\nIMAGE_VERSION=%s\n", name, name,
                     version, version, version) < 0)
                return -ENOMEM;
        return 0;
}

static int file_size(const char *path, uint64_t *ret) {
        struct stat st;
        if (stat(path, &st) < 0)
                return err_set(errno, "%s: %m", path);
        if (!S_ISREG(st.st_mode))
                return err_set(EINVAL, "%s: not a regular file", path);
        *ret = (uint64_t) st.st_size;
        return 0;
}

/* objcopy stamps the current time into the COFF header; the stub's own keeps builds reproducible. */
static int copy_timestamp(const uint8_t *stub, size_t stub_size, const char *path) {
        uint8_t head[0x200];
        size_t pe;
        int r;

        r = pe_header(stub, stub_size, &pe);
        if (r < 0)
                return r;
        _cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return err_set(errno, "%s: %m", path);
        ssize_t n = pread(fd, head, sizeof head, 0);
        if (n < 0)
                return err_set(errno, "%s: %m", path);
        size_t out_pe;
        r = pe_header(head, (size_t) n, &out_pe);
        if (r < 0)
                return err_prefix(r, "%s", path);
        if (pwrite(fd, stub + pe + 8, 4, (off_t) (out_pe + 8)) != 4)
                return err_set(errno, "%s: %m", path);
        return 0;
}

/* _cleanup_free_ on an array frees only its first element. */
static void free_adds(char *(*a)[_UKI_SECTION_MAX]) {
        for (size_t i = 0; i < _UKI_SECTION_MAX; i++)
                free((*a)[i]);
}

int uki_build(const UkiInputs *in, const char *slot, const char *workdir, const char *out) {
        _cleanup_free_ char *stub = NULL, *osrel = NULL, *cmdline_path = NULL, *cmdline = NULL, *unsigned_path = NULL;
        char vma[_UKI_SECTION_MAX][64];
        uint64_t sizes[_UKI_SECTION_MAX], vmas[_UKI_SECTION_MAX];
        size_t stub_size;
        int r;

        r = read_full_file(in->stub, UKI_STUB_MAX, &stub, &stub_size);
        if (r < 0)
                return err_set(r, "UEFI stub %s: %s", in->stub, strerror(-r));
        if (asprintf(&cmdline, "%s%sabide.slot=%s", in->cmdline ?: "", in->cmdline && *in->cmdline ? " " : "", slot) < 0 ||
            asprintf(&osrel, "%s/uki-%s.osrel", workdir, slot) < 0 ||
            asprintf(&cmdline_path, "%s/uki-%s.cmdline", workdir, slot) < 0 ||
            asprintf(&unsigned_path, "%s/uki-%s.unsigned.efi", workdir, slot) < 0)
                return -ENOMEM;
        r = write_file_atomic(osrel, in->os_release, strlen(in->os_release), 0644);
        if (r >= 0)
                r = write_file_atomic(cmdline_path, cmdline, strlen(cmdline), 0644);
        if (r < 0)
                return err_set(r, "%s: cannot write: %s", workdir, strerror(-r));

        const char *files[_UKI_SECTION_MAX] = {
                [UKI_SECTION_OSREL] = osrel,
                [UKI_SECTION_CMDLINE] = cmdline_path,
                [UKI_SECTION_LINUX] = in->kernel,
                [UKI_SECTION_INITRD] = in->initrd,
        };
        for (UkiSection s = 0; s < _UKI_SECTION_MAX; s++) {
                r = file_size(files[s], &sizes[s]);
                if (r < 0)
                        return r;
        }
        r = uki_layout((const uint8_t *) stub, stub_size, sizes, vmas);
        if (r < 0)
                return err_prefix(r, "UEFI stub %s", in->stub);

        char *argv[3 + 4 * _UKI_SECTION_MAX + 1];
        size_t n = 0;
        argv[n++] = (char *) "objcopy";
        _cleanup_(free_adds) char *adds[_UKI_SECTION_MAX] = {};
        for (UkiSection s = 0; s < _UKI_SECTION_MAX; s++) {
                if (asprintf(&adds[s], "%s=%s", section_names[s], files[s]) < 0)
                        return -ENOMEM;
                argv[n++] = (char *) "--add-section";
                argv[n++] = adds[s];
        }
        for (UkiSection s = 0; s < _UKI_SECTION_MAX; s++) {
                snprintf(vma[s], sizeof vma[s], "%s=0x%" PRIx64, section_names[s], vmas[s]);
                argv[n++] = (char *) "--change-section-vma";
                argv[n++] = vma[s];
        }
        argv[n++] = (char *) in->stub;
        argv[n++] = unsigned_path;
        argv[n] = NULL;
        r = process_run(argv, NULL, NULL);
        if (r < 0)
                return r;
        r = copy_timestamp((const uint8_t *) stub, stub_size, unsigned_path);
        if (r < 0)
                return r;

        /* sbsign signs with the clock as the signature's signingTime and has no option to set it;
         * faketime (libfaketime) holds sbsign's clock at the build date, in UTC, so equal inputs
         * sign equally (docs/secure-boot.md). */
        char when[32];
        struct tm tm;
        if (!gmtime_r(&in->signing_time, &tm) || strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm) == 0)
                return err_set(EINVAL, "signing time %lld cannot be written as a date", (long long) in->signing_time);
        char *const sign[] = { (char *) "faketime", (char *) "-f", when, (char *) "sbsign", (char *) "--key",
                               (char *) in->key, (char *) "--cert", (char *) in->cert, (char *) "--output",
                               (char *) out, unsigned_path, NULL };
        char *const sign_env[] = { (char *) "TZ=UTC", NULL };
        r = process_run(sign, sign_env, NULL);
        (void) unlink(unsigned_path);
        (void) unlink(osrel);
        (void) unlink(cmdline_path);
        if (r < 0)
                (void) unlink(out);
        return r;
}
