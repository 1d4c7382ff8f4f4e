/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <time.h>

#include <stddef.h>
#include <stdint.h>

#include "basic/arch.h"

/* The sections a UKI adds to systemd's stub, in the order they are laid out. */
typedef enum UkiSection {
        UKI_SECTION_OSREL,
        UKI_SECTION_CMDLINE,
        UKI_SECTION_LINUX,
        UKI_SECTION_INITRD,
        _UKI_SECTION_MAX,
} UkiSection;

/*
 * Where each section goes: after the stub's last section, each at a multiple
 * of the stub's SectionAlignment and of 4 KiB, ImageBase added (what objcopy's
 * --change-section-vma takes). stub is the stub's bytes; sizes[] the sections'.
 * Refuses (-EBADMSG, naming what) a file that is not a PE32+ image, and a
 * stub that already has one of the sections. Pure: no I/O.
 */
int uki_layout(const uint8_t *stub, size_t stub_size, const uint64_t sizes[_UKI_SECTION_MAX],
               uint64_t ret_vma[_UKI_SECTION_MAX]);

const char *uki_section_name(UkiSection s);

/* systemd's stub for arch (systemd-boot-efi): /usr/lib/systemd/boot/efi/linux<arch>.efi.stub. */
int uki_find_stub(Architecture arch, char **ret);

/* The .osrel text: the image's name and version (ID=abide, IMAGE_ID=, IMAGE_VERSION=, VERSION_ID=,
 * PRETTY_NAME=), what systemd-boot shows and sorts type #2 entries by. */
int uki_os_release(const char *name, const char *version, char **ret);

typedef struct UkiInputs {
        const char *stub;
        const char *kernel;
        const char *initrd;
        const char *cmdline;    /* the recipe's, without abide.slot=; may be empty */
        const char *os_release; /* the .osrel section's text */
        const char *key;        /* db key and certificate, PEM, for sbsign */
        const char *cert;
        time_t signing_time;    /* the signature's signing time: the build date */
} UkiInputs;

/*
 * Writes out, a UKI for slot ("a" or "b"): the stub with .osrel, .cmdline
 * ("<cmdline> abide.slot=<slot>"), .linux and .initrd added (objcopy), its
 * PE time stamp set to the stub's (objcopy writes the current time) and
 * signed with the db key (sbsign, its clock held at signing_time by
 * faketime). workdir takes the temporary files. Equal inputs give an equal
 * file, signature included (RSA keys).
 */
int uki_build(const UkiInputs *in, const char *slot, const char *workdir, const char *out);
