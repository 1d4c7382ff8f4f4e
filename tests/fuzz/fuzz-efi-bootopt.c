/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The firmware's boot variables, any bytes (written by the firmware, other
 * operating systems, efibootmgr): BootOrder, BootCurrent and Boot####
 * options in an efivarfs-like directory, then efi_fallback_options_ensure().
 * Input: byte 0 the flags (bits 0-2: how many options, bit 3: BootCurrent,
 * bit 4: the options start from ours, the input's bytes xor'ed over them,
 * bit 5: an empty BootOrder rather than none when its length is 0),
 * byte 1 BootOrder's length in bytes, then BootOrder, BootCurrent (2), and
 * each option: its number's low byte (numbers 0x0000-0x00ff), a length
 * byte, its bytes. Whatever they hold: a clean error, or BootOrder names
 * our two options once each and every other entry as before, ours hold
 * exactly the options abidectl makes, no other variable changed, and a
 * second call changes nothing. */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz-util.h"

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/rm-rf.h"
#include "boot/efi-bootopt.h"
#include "boot/efivars.h"

#define GLOBAL "-" EFIVARS_GLOBAL_GUID
#define MAX_OPTIONS 7

static const EspLocation esp = {
        .partition_number = 1, .start_lba = 0x800, .size_lba = 0x32000,
        .part_uuid = { 0x00, 0xee, 0xff, 0xc0, 0x34, 0x12, 0xbc, 0x4a, 0x8d, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab },
};

/* Ours as abidectl makes them (attributes and all), from a call on an empty directory. */
static uint8_t *ours[2];
static size_t ours_size[2];

static void put(const char *dir, const char *name, const uint8_t *data, size_t size) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s" GLOBAL, dir, name);
        static const uint8_t attrs[4] = { 7, 0, 0, 0 };
        fuzz_put(path, attrs, sizeof attrs, data, size);
}

/* The file's bytes, attributes included; NULL when missing. */
static uint8_t *get(const char *dir, const char *name, size_t *ret_size) {
        char path[PATH_MAX];
        char *buf = NULL;
        snprintf(path, sizeof path, "%s/%s" GLOBAL, dir, name);
        if (read_full_file(path, 1 << 20, &buf, ret_size) < 0)
                return NULL;
        return (uint8_t *) buf;
}

static uint16_t le16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

static void init_ours(void) {
        char dir[PATH_MAX];
        bool changed;
        FUZZ_ASSERT(fuzz_scratch_dir("fuzz-efi-bootopt", dir) == 0);
        FUZZ_ASSERT(efi_fallback_options_ensure(dir, &esp, &changed) == 0 && changed);
        /* On an empty directory: Boot0000 and Boot0001, A then B. */
        ours[0] = get(dir, "Boot0000", &ours_size[0]);
        ours[1] = get(dir, "Boot0001", &ours_size[1]);
        FUZZ_ASSERT(ours[0] && ours[1] && ours_size[0] > 4 && ours_size[1] > 4);
        FUZZ_ASSERT(rm_rf(dir) == 0);
}

typedef struct Var {
        char name[16];
        uint8_t *data;          /* attributes included */
        size_t size;
} Var;

static bool is_ours(const uint8_t *opt, size_t size, int slot) {
        return opt && size == ours_size[slot] && memcmp(opt, ours[slot], size) == 0;
}

static bool var_exists(const Var *vars, size_t n_vars, unsigned number) {
        char name[16];
        snprintf(name, sizeof name, "Boot%04X", number);
        for (size_t i = 0; i < n_vars; i++)
                if (streq(vars[i].name, name))
                        return true;
        return false;
}

/* list without a and b, into out; returns its length. */
static size_t without(const uint16_t *list, size_t n, unsigned a, unsigned b, uint16_t *out) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
                if (list[i] != a && list[i] != b)
                        out[m++] = list[i];
        return m;
}

/* After a call that succeeded: what must hold whatever the variables held before. current: BootCurrent
 * as the call read it, -1 when none. */
static void check_success(const char *dir, const Var *vars, size_t n_vars, const uint16_t *order, size_t n_order,
                          int current) {
        bool changed;
        DIR *d;

        /* BootOrder: ours once each, A right before B, never first (the loader's option must come
         * before them); the others as they were, in their order, and BootCurrent appended before ours
         * when it names an option BootOrder did not list. Or, with nothing but ours to list and no
         * BootCurrent option, ours not listed at all: BootOrder empty, or left absent. */
        size_t new_size = 0;
        _cleanup_free_ uint8_t *raw = get(dir, "BootOrder", &new_size);
        bool had_order = false;
        for (size_t i = 0; i < n_vars; i++)
                had_order = had_order || streq(vars[i].name, "BootOrder");
        FUZZ_ASSERT(raw || !had_order);
        FUZZ_ASSERT(!raw || (new_size >= 4 && (new_size - 4) % 2 == 0));
        size_t n_new = raw ? (new_size - 4) / 2 : 0;
        uint16_t *now_order = calloc(n_new + 1, sizeof *now_order);
        uint16_t *r_now = calloc(n_new + 1, sizeof *r_now), *r_old = calloc(n_order + 2, sizeof *r_old);
        FUZZ_ASSERT(now_order && r_now && r_old);
        for (size_t i = 0; i < n_new; i++)
                now_order[i] = le16(raw + 4 + 2 * i);
        /* Which adjacent pair is ours: the one whose options abidectl made and that fits (another option
         * may hold the same bytes as ours). */
        bool found = false;
        unsigned num[2] = {};
        for (size_t i = 1; i + 1 < n_new && !found; i++) {
                bool holds = true;
                for (int sl = 0; sl < 2 && holds; sl++) {
                        char name[16];
                        size_t opt_size;
                        snprintf(name, sizeof name, "Boot%04X", now_order[i + sl]);
                        _cleanup_free_ uint8_t *opt = get(dir, name, &opt_size);
                        holds = is_ours(opt, opt_size, sl);
                }
                unsigned a = now_order[i], b = now_order[i + 1];
                if (!holds || a == b)
                        continue;
                size_t seen_a = 0, seen_b = 0;
                for (size_t k = 0; k < n_new; k++) {
                        seen_a += now_order[k] == a;
                        seen_b += now_order[k] == b;
                }
                size_t m_now = without(now_order, n_new, a, b, r_now), m_old = without(order, n_order, a, b, r_old);
                bool same_rest = m_now == m_old && memcmp(r_now, r_old, m_now * sizeof *r_now) == 0;
                if (!same_rest && current >= 0 && (unsigned) current != a && (unsigned) current != b &&
                    var_exists(vars, n_vars, (unsigned) current)) {
                        bool listed = false;
                        for (size_t k = 0; k < m_old; k++)
                                listed = listed || r_old[k] == current;
                        r_old[m_old] = (uint16_t) current;
                        same_rest = !listed && m_now == m_old + 1 &&
                                    memcmp(r_now, r_old, m_now * sizeof *r_now) == 0 && now_order[i - 1] == current;
                }
                if (same_rest && seen_a == 1 && seen_b == 1) {
                        found = true;
                        num[0] = a;
                        num[1] = b;
                }
        }
        if (!found)
                FUZZ_ASSERT(n_new == 0);
        free(now_order);
        free(r_now);
        free(r_old);

        /* Every other variable as it was, but an option of ours made or rewritten in place: when
         * listed, the pair in BootOrder; when not, at most one of each. */
        size_t made[2] = {};
        d = opendir(dir);
        FUZZ_ASSERT(d);
        for (struct dirent *de; (de = readdir(d));) {
                if (de->d_name[0] == '.')
                        continue;
                char name[16], a[16], b[16];
                snprintf(name, sizeof name, "%.*s", (int) (strlen(de->d_name) - strlen(GLOBAL)), de->d_name);
                if (streq(name, "BootOrder"))
                        continue;
                size_t now_size;
                _cleanup_free_ uint8_t *now = get(dir, name, &now_size);
                FUZZ_ASSERT(now);
                const Var *before = NULL;
                for (size_t i = 0; i < n_vars && !before; i++)
                        if (streq(vars[i].name, name))
                                before = &vars[i];
                if (before && now_size == before->size && memcmp(now, before->data, now_size) == 0)
                        continue;
                snprintf(a, sizeof a, "Boot%04X", num[0]);
                snprintf(b, sizeof b, "Boot%04X", num[1]);
                if (found) {
                        FUZZ_ASSERT(streq(name, a) || streq(name, b));
                        continue;
                }
                int sl = is_ours(now, now_size, 0) ? 0 : is_ours(now, now_size, 1) ? 1 : -1;
                FUZZ_ASSERT(sl >= 0);
                FUZZ_ASSERT(++made[sl] == 1);
        }
        closedir(d);
        /* Nothing removed. */
        for (size_t i = 0; i < n_vars; i++) {
                size_t now_size;
                _cleanup_free_ uint8_t *now = get(dir, vars[i].name, &now_size);
                FUZZ_ASSERT(now);
        }

        /* Once more: nothing to change. */
        FUZZ_ASSERT(efi_fallback_options_ensure(dir, &esp, &changed) == 0);
        FUZZ_ASSERT(!changed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const uint8_t *p = data, *end = data + size;
        char dir[PATH_MAX];
        Var vars[MAX_OPTIONS + 2] = {};
        size_t n_vars = 0;
        uint16_t order[128];
        size_t n_order = 0;
        bool have_order = false;
        bool changed;
        int r;

        if (!ours[0])
                init_ours();
        if (size < 2)
                return 0;
        uint8_t flags = *p++;
        size_t order_len = *p++;
        if ((size_t) (end - p) < order_len)
                return 0;
        FUZZ_ASSERT(fuzz_scratch_dir("fuzz-efi-bootopt", dir) == 0);
        if (order_len > 0 || (flags & 0x20)) {
                put(dir, "BootOrder", p, order_len);
                have_order = true;
                for (size_t i = 0; i + 1 < order_len && n_order < ELEMENTSOF(order); i += 2)
                        order[n_order++] = le16(p + i);
        }
        p += order_len;
        if ((flags & 8) && end - p >= 2) {
                put(dir, "BootCurrent", p, 2);
                p += 2;
        }
        for (unsigned i = 0; i < (flags & 7u) && end - p >= 2; i++) {
                unsigned number = p[0];
                size_t len = p[1];
                p += 2;
                len = MIN(len, (size_t) (end - p));
                _cleanup_free_ uint8_t *opt = NULL;
                size_t opt_size = len;
                if (flags & 0x10) {
                        /* One of ours, the input xor'ed over its first bytes. */
                        const uint8_t *base = ours[i & 1] + 4;
                        opt_size = ours_size[i & 1] - 4;
                        opt = malloc(opt_size);
                        FUZZ_ASSERT(opt);
                        memcpy(opt, base, opt_size);
                        for (size_t k = 0; k < len && k < opt_size; k++)
                                opt[k] ^= p[k];
                } else {
                        opt = malloc(len ? len : 1);
                        FUZZ_ASSERT(opt);
                        memcpy(opt, p, len);
                }
                p += len;
                char name[16];
                snprintf(name, sizeof name, "Boot%04X", number);
                put(dir, name, opt, opt_size);
        }

        /* Every variable as it is now. */
        DIR *d = opendir(dir);
        FUZZ_ASSERT(d);
        for (struct dirent *de; (de = readdir(d));) {
                if (de->d_name[0] == '.')
                        continue;
                FUZZ_ASSERT(n_vars < ELEMENTSOF(vars));
                Var *v = &vars[n_vars++];
                snprintf(v->name, sizeof v->name, "%.*s", (int) (strlen(de->d_name) - strlen(GLOBAL)), de->d_name);
                v->data = get(dir, v->name, &v->size);
                FUZZ_ASSERT(v->data);
        }
        closedir(d);

        r = efi_fallback_options_ensure(dir, &esp, &changed);
        if (r < 0) {
                /* A BootOrder that is no list of numbers is left alone, and so is everything else. */
                FUZZ_ASSERT(r == -EBADMSG && have_order && order_len % 2 != 0);
                for (size_t i = 0; i < n_vars; i++) {
                        size_t now_size;
                        _cleanup_free_ uint8_t *now = get(dir, vars[i].name, &now_size);
                        FUZZ_ASSERT(now && now_size == vars[i].size && memcmp(now, vars[i].data, now_size) == 0);
                }
                err_clear();
                goto out;
        }

        int current = -1;
        for (size_t i = 0; i < n_vars; i++)
                if (streq(vars[i].name, "BootCurrent") && vars[i].size == 4 + 2)
                        current = le16(vars[i].data + 4);
        check_success(dir, vars, n_vars, order, n_order, current);
out:
        for (size_t i = 0; i < n_vars; i++)
                free(vars[i].data);
        FUZZ_ASSERT(rm_rf(dir) == 0);
        return 0;
}
