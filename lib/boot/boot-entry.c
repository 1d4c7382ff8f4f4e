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

static const char *const type_suffix[_BOOT_ENTRY_TYPE_MAX] = {
        [BOOT_ENTRY_TYPE1] = BOOT_ENTRY_SUFFIX,
        [BOOT_ENTRY_TYPE2] = BOOT_UKI_SUFFIX,
};

const char *boot_entry_type_suffix(BootEntryType t) {
        return t >= 0 && t < _BOOT_ENTRY_TYPE_MAX ? type_suffix[t] : NULL;
}

static bool ends_with(const char *s, const char *suffix) {
        size_t n = strlen(s), ls = strlen(suffix);
        return n >= ls && streq(s + n - ls, suffix);
}

BootEntryType boot_entry_name_type(const char *name) {
        for (BootEntryType t = 0; t < _BOOT_ENTRY_TYPE_MAX; t++)
                if (ends_with(name, type_suffix[t]))
                        return t;
        return _BOOT_ENTRY_TYPE_INVALID;
}

bool boot_entry_name_is_ours_type(const char *name, BootEntryType type) {
        const char *suffix = boot_entry_type_suffix(type);
        return suffix && strncmp(name, BOOT_ENTRY_PREFIX, strlen(BOOT_ENTRY_PREFIX)) == 0 && ends_with(name, suffix);
}

bool boot_entry_name_is_ours(const char *name) {
        return boot_entry_name_is_ours_type(name, BOOT_ENTRY_TYPE1);
}

int boot_entry_name_parse_type(const char *name, BootEntryType type, Slot *ret_slot, BootCounter *ret_counter) {
        BootCounter c = { .state = BOOT_COUNTER_GOOD };
        const char *p = name, *suffix = boot_entry_type_suffix(type);
        char slot_name[2] = {};

        if (!suffix || strncmp(p, BOOT_ENTRY_PREFIX, strlen(BOOT_ENTRY_PREFIX)) != 0)
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
        if (!streq(p, suffix))
                return -EINVAL;

        if (c.state == BOOT_COUNTER_BAD)
                c.left = 0;
        *ret_slot = slot;
        *ret_counter = c;
        return 0;
}

int boot_entry_name_parse(const char *name, Slot *ret_slot, BootCounter *ret_counter) {
        return boot_entry_name_parse_type(name, BOOT_ENTRY_TYPE1, ret_slot, ret_counter);
}

int boot_entry_name_parse_any(const char *name, Slot *ret_slot, BootCounter *ret_counter, BootEntryType *ret_type) {
        BootEntryType t = boot_entry_name_type(name);
        if (t < 0)
                return -EINVAL;
        int r = boot_entry_name_parse_type(name, t, ret_slot, ret_counter);
        if (r >= 0 && ret_type)
                *ret_type = t;
        return r;
}

int boot_entry_name_format_type(Slot slot, const BootCounter *counter, BootEntryType type,
                                char buf[static BOOT_ENTRY_NAME_MAX]) {
        const char *s = slot_to_string(slot), *suffix = boot_entry_type_suffix(type);
        int n;

        if (!s || !suffix)
                return -EINVAL;
        switch (counter->state) {
        case BOOT_COUNTER_GOOD:
                n = snprintf(buf, BOOT_ENTRY_NAME_MAX, BOOT_ENTRY_PREFIX "%s%s", s, suffix);
                break;
        case BOOT_COUNTER_PENDING:
        case BOOT_COUNTER_BAD: {
                unsigned left = counter->state == BOOT_COUNTER_BAD ? 0 : counter->left;
                if (left > BOOT_COUNTER_MAX || counter->done > BOOT_COUNTER_MAX ||
                    (counter->state == BOOT_COUNTER_PENDING && left == 0))
                        return -EINVAL;
                if (counter->done > 0)
                        n = snprintf(buf, BOOT_ENTRY_NAME_MAX, BOOT_ENTRY_PREFIX "%s+%u-%u%s", s, left, counter->done,
                                     suffix);
                else
                        n = snprintf(buf, BOOT_ENTRY_NAME_MAX, BOOT_ENTRY_PREFIX "%s+%u%s", s, left, suffix);
                break;
        }
        default:
                return -EINVAL;
        }
        return n > 0 && n < BOOT_ENTRY_NAME_MAX ? 0 : -EINVAL;
}

int boot_entry_name_format(Slot slot, const BootCounter *counter, char buf[static BOOT_ENTRY_NAME_MAX]) {
        return boot_entry_name_format_type(slot, counter, BOOT_ENTRY_TYPE1, buf);
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
