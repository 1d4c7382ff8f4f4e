/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "uboot-state.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

const char *uboot_slot_name(Slot s) {
        return s == SLOT_A ? "A" : s == SLOT_B ? "B" : NULL;
}

Slot uboot_slot_from_name(const char *s) {
        if (s && streq(s, "A"))
                return SLOT_A;
        if (s && streq(s, "B"))
                return SLOT_B;
        return _SLOT_INVALID;
}

bool uboot_state_listed(const UBootState *s, Slot slot) {
        for (unsigned i = 0; i < s->n_order; i++)
                if (s->order[i] == slot)
                        return true;
        return false;
}

static void append(UBootState *s, Slot slot) {
        if (!uboot_state_listed(s, slot) && s->n_order < _SLOT_MAX)
                s->order[s->n_order++] = slot;
}

/* U-Boot's simple_strtoul() (lib/strto.c, 2020.07 on) over the n bytes at p: "0x" is hexadecimal whatever
 * the base, a leading 0 octal when the base is 0, else decimal; up to the first character that is not a
 * digit of the base; wraps. */
static uint64_t uboot_strtoul(const char *p, size_t n, unsigned base) {
        const char *end = p + n;
        if (n >= 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
                base = 16;
                p += 2;
        } else if (n >= 1 && p[0] == '0' && base == 0)
                base = 8;
        if (base == 0)
                base = 10;
        uint64_t r = 0;
        for (; p < end; p++) {
                unsigned d = *p >= '0' && *p <= '9' ? (unsigned) (*p - '0')
                             : *p >= 'a' && *p <= 'f' ? (unsigned) (*p - 'a' + 10)
                             : *p >= 'A' && *p <= 'F' ? (unsigned) (*p - 'A' + 10) : 16;
                if (d >= base)
                        break;
                r = r * base + d;
        }
        return r;
}

/*
 * The boots the script gives a counter of one word, at most UBOOT_TRIES_MAX; 0: it skips the slot.
 * "test ${BOOT_x_LEFT} -gt 0" is simple_strtol(v, NULL, 0) > 0; setexpr then subtracts in hexadecimal
 * and saves "%lx", whose leading decimal digits test reads on the next boot: from x it counts on while
 * the leading hex digit is 1..9, down to 16^k (x having k+1 hex digits), and stops at "f..f" or "0".
 */
static int left_of_word(const char *w, size_t n) {
        uint64_t t = w[0] == '-' ? 0 - uboot_strtoul(w + 1, n - 1, 0) : uboot_strtoul(w, n, 0);
        if ((int64_t) t <= 0)
                return 0;
        uint64_t x = uboot_strtoul(w, n, 16) - 1;
        unsigned k = 0;
        while (k < 15 && x >> (4 * (k + 1)))
                k++;
        uint64_t lead = x >> (4 * k);
        if (lead == 0 || lead > 9)
                return 1;
        uint64_t more = x - ((uint64_t) 1 << (4 * k)) + 1;
        return more >= UBOOT_TRIES_MAX - 1 ? (int) UBOOT_TRIES_MAX : (int) more + 1;
}

/*
 * BOOT_x_LEFT as the script reads it: unset or empty is good; anything else is one word (the script quotes
 * it, so hush neither splits nor parses it again: checked on U-Boot 2023.01 with "1 2", "1;echo", '1"2',
 * "1$x") and counted per left_of_word(): a value that is not a plain number is counted for its leading
 * number ("1 2" once) or skipped (" 3", "a"), never booted uncounted.
 */
static int parse_left(const char *v) {
        if (!v || !*v)
                return UBOOT_LEFT_GOOD;
        return left_of_word(v, strlen(v));
}

void uboot_state_parse(const char *order, const char *left[static _SLOT_MAX], const char *once,
                       const char *pinned, const char *good, UBootState *ret) {
        UBootState s = { .once = uboot_slot_from_name(once), .pinned = uboot_slot_from_name(pinned),
                         .good = uboot_slot_from_name(good) };
        /* Words as hush splits them (spaces, tabs, newlines); only the one-letter words A and B are slots. */
        for (const char *p = order ?: ""; *p;) {
                size_t n = strcspn(p, " \t\n");
                if (n == 1 && (p[0] == 'A' || p[0] == 'B'))
                        append(&s, p[0] == 'A' ? SLOT_A : SLOT_B);
                p += n;
                p += strspn(p, " \t\n");
        }
        for (Slot i = 0; i < _SLOT_MAX; i++)
                s.left[i] = parse_left(left[i]);
        *ret = s;
}

void uboot_state_format_order(const UBootState *s, char buf[static 8]) {
        buf[0] = 0;
        for (unsigned i = 0; i < s->n_order; i++) {
                if (i > 0)
                        strcat(buf, " ");
                strcat(buf, uboot_slot_name(s->order[i]));
        }
}

bool uboot_state_format_left(const UBootState *s, Slot slot, char buf[static 4]) {
        if (!uboot_state_listed(s, slot) || s->left[slot] == UBOOT_LEFT_GOOD)
                return false;
        snprintf(buf, 4, "%d", s->left[slot]);
        return true;
}

BootCounter uboot_state_counter(const UBootState *s, Slot slot) {
        if (!uboot_state_listed(s, slot))
                return (BootCounter) { .state = BOOT_COUNTER_MISSING };
        if (s->left[slot] == UBOOT_LEFT_GOOD)
                return (BootCounter) { .state = BOOT_COUNTER_GOOD };
        if (s->left[slot] == 0)
                return (BootCounter) { .state = BOOT_COUNTER_BAD };
        return (BootCounter) { .state = BOOT_COUNTER_PENDING, .left = (unsigned) s->left[slot] };
}

/* The script's per-slot test: good boots uncounted, pending boots counted, bad is skipped. */
static bool try_slot(UBootState *s, Slot slot, UBootBoot *ret) {
        if (s->left[slot] == 0)
                return false;
        ret->slot = slot;
        ret->counted = s->left[slot] > 0;
        if (ret->counted)
                s->left[slot]--;
        return true;
}

/* One pass of the script: the slot it picks among those not yet passed over (a try counted), or the
 * fallback; false when none is left. */
static bool pick(UBootState *s, Slot once, const bool passed[static _SLOT_MAX], UBootBoot *ret) {
        ret->counted = ret->fallback = false;
        if (once >= 0 && uboot_state_listed(s, once) && !passed[once] && try_slot(s, once, ret))
                return true;
        for (unsigned i = 0; i < s->n_order; i++)
                if (!passed[s->order[i]] && try_slot(s, s->order[i], ret))
                        return true;
        /* Nothing listed has tries left: the last good slot, else the first listed, else the factory slot A
         * when nothing is listed; never an unlisted slot otherwise (it may be half written). */
        Slot cand[1 + _SLOT_MAX];
        unsigned n = 0;
        if (s->good >= 0)
                cand[n++] = s->good;
        for (unsigned i = 0; i < s->n_order; i++)
                cand[n++] = s->order[i];
        if (n == 0)
                cand[n++] = SLOT_A;
        for (unsigned i = 0; i < n; i++)
                if (!passed[cand[i]]) {
                        ret->slot = cand[i];
                        ret->fallback = true;
                        return true;
                }
        return false;
}

void uboot_state_boot_loading(UBootState *s, const bool loads[static _SLOT_MAX], UBootBoot *ret) {
        UBootBoot b = { .slot = _SLOT_INVALID };
        Slot once = s->once;

        /* A one-time choice is spent whether or not it could be honoured. */
        s->once = _SLOT_INVALID;
        while (pick(s, once, b.unloadable, &b)) {
                if (loads[b.slot]) {
                        *ret = b;
                        return;
                }
                b.unloadable[b.slot] = true;
        }
        b.slot = _SLOT_INVALID;
        b.counted = b.fallback = false;
        *ret = b;
}

void uboot_state_boot(UBootState *s, UBootBoot *ret) {
        uboot_state_boot_loading(s, (const bool[_SLOT_MAX]) { true, true }, ret);
}

static void unlist(UBootState *s, Slot slot) {
        unsigned j = 0;
        for (unsigned i = 0; i < s->n_order; i++)
                if (s->order[i] != slot)
                        s->order[j++] = s->order[i];
        s->n_order = j;
}

static void clear_choices(UBootState *s, Slot slot) {
        if (s->once == slot)
                s->once = _SLOT_INVALID;
        if (s->pinned == slot)
                s->pinned = _SLOT_INVALID;
}

int uboot_state_write(UBootState *s, Slot slot, unsigned tries) {
        if (tries > UBOOT_TRIES_MAX)
                return -EINVAL;
        unlist(s, slot);
        memmove(s->order + 1, s->order, s->n_order * sizeof s->order[0]);
        s->order[0] = slot;
        s->n_order++;
        s->left[slot] = tries > 0 ? (int) tries : UBOOT_LEFT_GOOD;
        if (tries == 0)
                s->good = slot;
        /* The new image comes first, as systemd-boot's version sort puts it; an older pin would hide it. */
        if (s->pinned >= 0 && s->pinned != slot)
                s->pinned = _SLOT_INVALID;
        return 0;
}

void uboot_state_remove(UBootState *s, Slot slot) {
        unlist(s, slot);
        s->left[slot] = UBOOT_LEFT_GOOD;
        clear_choices(s, slot);
        if (s->good == slot)
                s->good = _SLOT_INVALID;
}

void uboot_state_keep_running(UBootState *s, Slot running) {
        if (running < 0 || running >= _SLOT_MAX || uboot_state_listed(s, running))
                return;
        append(s, running);
        s->left[running] = UBOOT_LEFT_GOOD;
}

int uboot_state_mark_good(UBootState *s, Slot slot) {
        if (!uboot_state_listed(s, slot))
                return -ENOENT;
        s->left[slot] = UBOOT_LEFT_GOOD;
        s->good = slot;
        return 0;
}

int uboot_state_mark_bad(UBootState *s, Slot slot) {
        if (!uboot_state_listed(s, slot))
                return -ENOENT;
        unlist(s, slot);
        s->order[s->n_order++] = slot;
        s->left[slot] = 0;
        clear_choices(s, slot);
        return 0;
}

int uboot_state_set_next(UBootState *s, Slot slot, bool once) {
        if (!uboot_state_listed(s, slot))
                return -ENOENT;
        if (once) {
                s->once = slot;
                return 0;
        }
        unlist(s, slot);
        memmove(s->order + 1, s->order, s->n_order * sizeof s->order[0]);
        s->order[0] = slot;
        s->n_order++;
        s->pinned = slot;
        return 0;
}

void uboot_state_clear_next(UBootState *s, bool once) {
        if (once)
                s->once = _SLOT_INVALID;
        else
                s->pinned = _SLOT_INVALID;
}

void uboot_state_get_next(const UBootState *s, Slot *ret_default, Slot *ret_once) {
        if (ret_default)
                *ret_default = s->pinned >= 0 && s->n_order > 0 && s->order[0] == s->pinned ? s->pinned : _SLOT_INVALID;
        if (ret_once)
                *ret_once = s->once >= 0 && uboot_state_listed(s, s->once) ? s->once : _SLOT_INVALID;
}
