/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "boot-entry.h"

#include <ctype.h>

#include "basic/error.h"

/* Decimal digits only, no sign, at most BOOT_COUNTER_MAX; advances *p. */
static int parse_count(const char **p, unsigned *ret) {
        const char *s = *p;
        unsigned v = 0;

        if (!isdigit((unsigned char) *s))
                return -EINVAL;
        for (; isdigit((unsigned char) *s); s++) {
                v = v * 10 + (unsigned) (*s - '0');
                if (v > BOOT_COUNTER_MAX)
                        return -ERANGE;
        }
        *p = s;
        *ret = v;
        return 0;
}

bool boot_entry_name_is_ours(const char *name) {
        size_t n = strlen(name), ls = strlen(BOOT_ENTRY_SUFFIX);
        return strncmp(name, BOOT_ENTRY_PREFIX, strlen(BOOT_ENTRY_PREFIX)) == 0 && n >= ls &&
               streq(name + n - ls, BOOT_ENTRY_SUFFIX);
}

int boot_entry_name_parse(const char *name, Slot *ret_slot, BootCounter *ret_counter) {
        BootCounter c = { .state = BOOT_COUNTER_GOOD };
        const char *p = name;
        char slot_name[2] = {};

        if (strncmp(p, BOOT_ENTRY_PREFIX, strlen(BOOT_ENTRY_PREFIX)) != 0)
                return -EINVAL;
        p += strlen(BOOT_ENTRY_PREFIX);
        slot_name[0] = *p;
        Slot slot = slot_from_string(slot_name);
        if (slot < 0)
                return -EINVAL;
        p++;

        if (*p == '+') {
                p++;
                if (parse_count(&p, &c.left) < 0)
                        return -EINVAL;
                if (*p == '-') {
                        p++;
                        if (parse_count(&p, &c.done) < 0)
                                return -EINVAL;
                }
                c.state = c.left > 0 ? BOOT_COUNTER_PENDING : BOOT_COUNTER_BAD;
        }
        if (!streq(p, BOOT_ENTRY_SUFFIX))
                return -EINVAL;

        if (c.state == BOOT_COUNTER_BAD)
                c.left = 0;
        *ret_slot = slot;
        *ret_counter = c;
        return 0;
}

int boot_entry_name_format(Slot slot, const BootCounter *counter, char buf[static BOOT_ENTRY_NAME_MAX]) {
        const char *s = slot_to_string(slot);
        int n;

        if (!s)
                return -EINVAL;
        switch (counter->state) {
        case BOOT_COUNTER_GOOD:
                n = snprintf(buf, BOOT_ENTRY_NAME_MAX, BOOT_ENTRY_PREFIX "%s" BOOT_ENTRY_SUFFIX, s);
                break;
        case BOOT_COUNTER_PENDING:
        case BOOT_COUNTER_BAD: {
                unsigned left = counter->state == BOOT_COUNTER_BAD ? 0 : counter->left;
                if (left > BOOT_COUNTER_MAX || counter->done > BOOT_COUNTER_MAX ||
                    (counter->state == BOOT_COUNTER_PENDING && left == 0))
                        return -EINVAL;
                if (counter->done > 0)
                        n = snprintf(buf, BOOT_ENTRY_NAME_MAX, BOOT_ENTRY_PREFIX "%s+%u-%u" BOOT_ENTRY_SUFFIX,
                                     s, left, counter->done);
                else
                        n = snprintf(buf, BOOT_ENTRY_NAME_MAX, BOOT_ENTRY_PREFIX "%s+%u" BOOT_ENTRY_SUFFIX, s, left);
                break;
        }
        default:
                return -EINVAL;
        }
        return n > 0 && n < BOOT_ENTRY_NAME_MAX ? 0 : -EINVAL;
}

static bool printable_line(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        return false;
        return true;
}

int boot_entry_format(Slot slot, const BootEntrySpec *spec, char **ret) {
        const char *s = slot_to_string(slot);

        if (!s)
                return err_set(EINVAL, "invalid slot");
        if (!spec->version || !*spec->version || !printable_line(spec->version) || strchr(spec->version, ' '))
                return err_set(EINVAL, "invalid version for a boot entry: '%s'", spec->version ?: "");
        if (spec->cmdline && !printable_line(spec->cmdline))
                return err_set(EINVAL, "kernel command line contains control characters");

        const char *cmdline = spec->cmdline ?: "";
        if (asprintf(ret,
                     "title abide %s (slot %s)\n"
                     "version %s\n"
                     "sort-key abide\n"
                     "linux /abide/%s/vmlinuz\n"
                     "initrd /abide/%s/initrd\n"
                     "options %s%sabide.slot=%s\n",
                     spec->version, s, spec->version, s, s, cmdline, *cmdline ? " " : "", s) < 0)
                return -ENOMEM;
        return 0;
}

int boot_entry_parse_version(const char *text, char **ret) {
        for (const char *line = text; line && *line;) {
                const char *end = strchrnul(line, '\n');
                const char *p = line;
                while (p < end && (*p == ' ' || *p == '\t'))
                        p++;
                if (end - p > 8 && strncmp(p, "version", 7) == 0 && (p[7] == ' ' || p[7] == '\t')) {
                        p += 8;
                        while (p < end && (*p == ' ' || *p == '\t'))
                                p++;
                        const char *e = end;
                        while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
                                e--;
                        if (e == p)
                                return -ENOENT;
                        char *v = strndup(p, (size_t) (e - p));
                        if (!v)
                                return -ENOMEM;
                        *ret = v;
                        return 0;
                }
                line = *end ? end + 1 : NULL;
        }
        return -ENOENT;
}
