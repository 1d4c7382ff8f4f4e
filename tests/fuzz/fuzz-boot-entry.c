/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Boot entry names as the loader renames them ("abide-b+2-1.conf") and
 * entry text: a name that parses formats to a name that parses the same,
 * and only names of ours parse. */
#include "fuzz-util.h"

#include "boot/boot-entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *s = fuzz_strndup(data, size), *version = NULL;
        char buf[BOOT_ENTRY_NAME_MAX];
        BootCounter c, c2;
        Slot slot, slot2;

        if (!s)
                return 0;
        (void) boot_entry_name_is_ours(s);
        (void) boot_entry_parse_version(s, &version);

        BootEntryType type;
        if (boot_entry_name_parse_any(s, &slot, &c, &type) < 0) {
                FUZZ_ASSERT(boot_entry_name_parse(s, &slot, &c) < 0);
                return 0;
        }
        /* Type #1 (.conf) or #2 (.efi): the suffix decides, and round trips. */
        FUZZ_ASSERT(boot_entry_name_is_ours_type(s, type));
        FUZZ_ASSERT(boot_entry_name_type(s) == type);
        FUZZ_ASSERT(boot_entry_name_format_type(slot, &c, type, buf) >= 0);
        FUZZ_ASSERT(boot_entry_name_parse_type(buf, type, &slot2, &c2) >= 0);
        FUZZ_ASSERT(slot == slot2 && memcmp(&c, &c2, sizeof c) == 0);
        FUZZ_ASSERT(streq(buf, s) || strchr(s, '+'));
        return 0;
}
