/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The U-Boot environment's boot variables, any values (the environment is
 * writable storage: a torn write, another tool, a hand at the U-Boot
 * prompt), then any sequence of abidectl's transitions and power-ons. The
 * input's first six lines are BOOT_ORDER, BOOT_A_LEFT, BOOT_B_LEFT,
 * abide_once, abide_default and abide_good (a missing line: unset); each
 * byte after them one step. What is parsed formats back to itself, every
 * state stays well formed, a power-on boots a slot whose files load (or
 * resets when none is left to try), a slot
 * written with N tries boots at most N times before it is marked good, and
 * a counter (any value, not only abide's one digit: the script quotes it)
 * gives the boots the script's test and setexpr give it, boot after boot;
 * a slot whose files do not load is passed over in the same boot. */
#include "fuzz-util.h"

#include <ctype.h>
#include <inttypes.h>

#include "boot/uboot-state.h"

static void check_state(const UBootState *s) {
        FUZZ_ASSERT(s->n_order <= _SLOT_MAX);
        for (unsigned i = 0; i < s->n_order; i++) {
                FUZZ_ASSERT(s->order[i] >= 0 && s->order[i] < _SLOT_MAX);
                for (unsigned j = 0; j < i; j++)
                        FUZZ_ASSERT(s->order[j] != s->order[i]);
        }
        for (Slot i = 0; i < _SLOT_MAX; i++)
                FUZZ_ASSERT(s->left[i] == UBOOT_LEFT_GOOD || (s->left[i] >= 0 && s->left[i] <= (int) UBOOT_TRIES_MAX));
        FUZZ_ASSERT(s->once == _SLOT_INVALID || (s->once >= 0 && s->once < _SLOT_MAX));
        FUZZ_ASSERT(s->pinned == _SLOT_INVALID || (s->pinned >= 0 && s->pinned < _SLOT_MAX));
        FUZZ_ASSERT(s->good == _SLOT_INVALID || (s->good >= 0 && s->good < _SLOT_MAX));
}

/* The variables as abidectl writes them, parsed again: the same state. */
static void check_round_trip(const UBootState *s) {
        char order[8], left[_SLOT_MAX][4];
        const char *lp[_SLOT_MAX];
        UBootState t;

        uboot_state_format_order(s, order);
        for (Slot i = 0; i < _SLOT_MAX; i++)
                lp[i] = uboot_state_format_left(s, i, left[i]) ? left[i] : NULL;
        uboot_state_parse(order, lp, uboot_slot_name(s->once), uboot_slot_name(s->pinned), uboot_slot_name(s->good), &t);
        FUZZ_ASSERT(t.n_order == s->n_order && memcmp(t.order, s->order, s->n_order * sizeof s->order[0]) == 0);
        for (unsigned i = 0; i < s->n_order; i++)
                FUZZ_ASSERT(t.left[s->order[i]] == s->left[s->order[i]]);
        FUZZ_ASSERT(t.once == s->once && t.pinned == s->pinned && t.good == s->good);
        for (Slot i = 0; i < _SLOT_MAX; i++) {
                BootCounter a = uboot_state_counter(s, i), b = uboot_state_counter(&t, i);
                FUZZ_ASSERT(a.state == b.state && a.left == b.left);
        }
}

/* U-Boot's simple_strtoul(), the reference for check_left(): "0x" hex, a leading 0 octal for base 0, else decimal. */
static uint64_t ref_strtoul(const char *p, unsigned base) {
        if (p[0] == '0' && (p[1] | 0x20) == 'x') {
                base = 16;
                p += 2;
        } else if (p[0] == '0' && base == 0)
                base = 8;
        if (base == 0)
                base = 10;
        uint64_t r = 0;
        for (; isxdigit((unsigned char) *p); p++) {
                unsigned d = isdigit((unsigned char) *p) ? (unsigned) (*p - '0') : (unsigned) ((*p | 0x20) - 'a' + 10);
                if (d >= base)
                        break;
                r = r * base + d;
        }
        return r;
}

/* A counter (any value: the script quotes it), as the script treats it boot after boot:
 * test ${v} -gt 0, then setexpr v ${v} - 1 saved as "%lx". The state read the boots it gives, at most
 * UBOOT_TRIES_MAX (0: skipped); an unset or empty counter is good. left -2: the slot is not listed. */
static void check_left(const char *v, int left) {
        char w[64];
        unsigned boots = 0;

        if (left == -2)
                return;
        if (!v || !*v) {
                FUZZ_ASSERT(left == UBOOT_LEFT_GOOD);
                return;
        }
        /* The script quotes the value: any bytes are one word to test and setexpr. */
        if (strlen(v) >= sizeof w)
                return;
        strcpy(w, v);
        while (boots < UBOOT_TRIES_MAX) {
                uint64_t t = w[0] == '-' ? 0 - ref_strtoul(w + 1, 0) : ref_strtoul(w, 0);
                if ((int64_t) t <= 0)
                        break;
                boots++;
                snprintf(w, sizeof w, "%" PRIx64, ref_strtoul(w, 16) - 1);
        }
        FUZZ_ASSERT(left == (int) boots);
}

/* A power-on where loads[slot] says whether the slot's kernel and initrd can be loaded. */
static UBootBoot power_on(UBootState *s, const bool loads[static _SLOT_MAX]) {
        UBootState before = *s;
        UBootBoot b;

        uboot_state_boot_loading(s, loads, &b);
        FUZZ_ASSERT(s->once == _SLOT_INVALID);
        /* Only slots whose files do not load are passed over; counters only go down, by one at most. */
        for (Slot i = 0; i < _SLOT_MAX; i++) {
                FUZZ_ASSERT(!b.unloadable[i] || !loads[i]);
                FUZZ_ASSERT(s->left[i] == before.left[i] || (before.left[i] > 0 && s->left[i] == before.left[i] - 1));
        }
        if (b.slot == _SLOT_INVALID) {
                /* Nothing loadable was left: every listed slot (or A, when none is) was tried. */
                for (unsigned i = 0; i < before.n_order; i++)
                        FUZZ_ASSERT(b.unloadable[before.order[i]]);
                FUZZ_ASSERT(before.n_order > 0 || before.good >= 0 || b.unloadable[SLOT_A]);
                return b;
        }
        FUZZ_ASSERT(b.slot >= 0 && b.slot < _SLOT_MAX && loads[b.slot] && !b.unloadable[b.slot]);
        if (b.fallback) {
                FUZZ_ASSERT(!b.counted);
                /* Only when no listed slot that loads had a try left. */
                for (unsigned i = 0; i < before.n_order; i++)
                        FUZZ_ASSERT(before.left[before.order[i]] == 0 || b.unloadable[before.order[i]]);
                /* An unlisted slot only as abide_good or the factory slot A with nothing listed. */
                FUZZ_ASSERT(uboot_state_listed(&before, b.slot) || before.good == b.slot ||
                            (b.slot == SLOT_A && before.n_order == 0));
                return b;
        }
        FUZZ_ASSERT(uboot_state_listed(&before, b.slot) && before.left[b.slot] != 0);
        FUZZ_ASSERT(b.counted == (before.left[b.slot] > 0));
        FUZZ_ASSERT(s->left[b.slot] == (b.counted ? before.left[b.slot] - 1 : before.left[b.slot]));
        return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        char *field[6] = {};
        const uint8_t *p = data, *end = data + size;
        int r;

        for (size_t i = 0; i < ELEMENTSOF(field) && p < end; i++) {
                const uint8_t *nl = memchr(p, '\n', (size_t) (end - p));
                size_t n = nl ? (size_t) (nl - p) : (size_t) (end - p);
                field[i] = fuzz_strndup(p, n);
                if (!field[i])
                        goto out;
                p += n + (nl ? 1 : 0);
        }

        UBootState s;
        const char *left[_SLOT_MAX] = { field[1], field[2] };
        uboot_state_parse(field[0], left, field[3], field[4], field[5], &s);
        for (Slot i = 0; i < _SLOT_MAX; i++)
                check_left(left[i], uboot_state_listed(&s, i) ? s.left[i] : -2);
        check_state(&s);
        check_round_trip(&s);

        /* The steps: the low three bits pick one, the next the slot, the rest the tries. */
        Slot trial = _SLOT_INVALID;
        unsigned trial_tries = 0, trial_boots = 0;
        for (; p < end; p++) {
                Slot slot = (*p >> 3) & 1 ? SLOT_B : SLOT_A;
                unsigned tries = *p >> 4;
                switch (*p & 7) {
                case 0:
                        r = uboot_state_write(&s, slot, tries);
                        FUZZ_ASSERT(r == (tries > UBOOT_TRIES_MAX ? -EINVAL : 0));
                        if (r == 0) {
                                FUZZ_ASSERT(s.order[0] == slot);
                                trial = tries > 0 ? slot : _SLOT_INVALID;
                                trial_tries = tries;
                                trial_boots = 0;
                        }
                        break;
                case 1:
                        r = uboot_state_mark_good(&s, slot);
                        FUZZ_ASSERT(r == 0 || r == -ENOENT);
                        if (r == 0) {
                                FUZZ_ASSERT(uboot_state_counter(&s, slot).state == BOOT_COUNTER_GOOD);
                                if (slot == trial)
                                        trial = _SLOT_INVALID;
                        }
                        break;
                case 2:
                        r = uboot_state_mark_bad(&s, slot);
                        FUZZ_ASSERT(r == 0 || r == -ENOENT);
                        if (r == 0)
                                FUZZ_ASSERT(uboot_state_counter(&s, slot).state == BOOT_COUNTER_BAD &&
                                            s.order[s.n_order - 1] == slot);
                        break;
                case 3:
                        uboot_state_remove(&s, slot);
                        FUZZ_ASSERT(uboot_state_counter(&s, slot).state == BOOT_COUNTER_MISSING);
                        if (slot == trial)
                                trial = _SLOT_INVALID;
                        break;
                case 4:
                case 5: {
                        bool once = (*p & 7) == 5;
                        r = uboot_state_set_next(&s, slot, once);
                        FUZZ_ASSERT(r == 0 || r == -ENOENT);
                        Slot def, one;
                        uboot_state_get_next(&s, &def, &one);
                        if (r == 0)
                                FUZZ_ASSERT(once ? one == slot : def == slot);
                        break;
                }
                case 6:
                        uboot_state_clear_next(&s, tries & 1);
                        break;
                case 7: {
                        /* Bits 4 and 5: slot a's or b's files cannot be loaded. */
                        bool loads[_SLOT_MAX] = { !(*p & 0x10), !(*p & 0x20) };
                        int before = trial >= 0 ? s.left[trial] : 0;
                        power_on(&s, loads);
                        /* A trial's try is counted whether or not its files load: never more than its tries. */
                        if (trial >= 0 && s.left[trial] != before) {
                                trial_boots++;
                                FUZZ_ASSERT(trial_boots <= trial_tries);
                        }
                        break;
                }
                }
                check_state(&s);
                check_round_trip(&s);
        }
out:
        for (size_t i = 0; i < ELEMENTSOF(field); i++)
                free(field[i]);
        return 0;
}
