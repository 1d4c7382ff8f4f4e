/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>

#include "basic/macro.h"

/*
 * The firmware's fallback to a good slot (docs/secure-boot.md, "Firmware
 * fallback options"): systemd-boot 252 returns to the firmware when the
 * firmware refuses the UKI it selected, and the firmware then tries the next
 * Boot#### option in BootOrder. Right after the option that runs
 * systemd-boot come "abide slot a" and "abide slot b", which start
 * \EFI\Linux\abide-<slot>.efi on the ESP: the name a slot's UKI has only
 * while the slot is good.
 */

typedef struct EspLocation {   /* the ESP partition, as an HD() device-path node needs it */
        uint32_t partition_number;
        uint64_t start_lba, size_lba;   /* in the disk's logical blocks, as HD() holds them */
        uint8_t part_uuid[16];          /* GPT partition GUID (binary, as stored in GPT) */
} EspLocation;

/*
 * The ESP's location from its partition's block device node (symlinks are
 * followed), read from the parent disk's partition table (libblkid).
 * -ENOTBLK when the path is not a partition; -ESTALE when the kernel's view of
 * the partition differs from the table on disk.
 */
int esp_location_from_device(const char *partition_device, EspLocation *ret);

/*
 * Ensures, in the efivarfs-format directory efivars_dir (lib/boot/efivars.h;
 * EFIVARS_DEFAULT_DIR is the system's store), that the Boot#### options
 * "abide slot a" and "abide slot b" exist with HD(esp)/File(\EFI\Linux\abide-<slot>.efi),
 * active, and that BootOrder lists them right after the option BootCurrent
 * names (else after the first entry), each once, the rest of BootOrder kept
 * in order. When BootCurrent is one of the two (the firmware fell back to
 * it), they stay after the entry they followed. Writes nothing when all is
 * already so (*ret_changed false).
 *
 * An option is ours when its description is "abide slot <slot>" and its path
 * ends in File(\EFI\Linux\abide-<slot>.efi) (any case): it is rewritten when
 * anything else differs (the ESP moved, inactive, extra data). Otherwise the
 * lowest Boot#### number that neither exists nor is listed in BootOrder is
 * taken. Malformed Boot#### variables are skipped and kept; a malformed
 * BootOrder (odd length) is refused (-EBADMSG) before anything is written.
 * Options are written before BootOrder, so an interrupted run leaves at most
 * options that the next run finds again.
 */
int efi_fallback_options_ensure(const char *efivars_dir, const EspLocation *esp, bool *ret_changed);
