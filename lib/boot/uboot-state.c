/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "uboot-state.h"

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

static int parse_left(const char *v, int *ret) {
        if (!v || !*v) {
                *ret = UBOOT_LEFT_GOOD;
                return 0;
        }
        if (v[1] || v[0] < '0' || v[0] > '0' + (int) UBOOT_TRIES_MAX)
                return -EINVAL;
        *ret = v[0] - '0';
        return 0;
}

int uboot_state_parse(const char *order, const char *left[static _SLOT_MAX], const char *once,
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
                if (parse_left(left[i], &s.left[i]) < 0)
                        return -EINVAL;
        *ret = s;
        return 0;
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
        *ret = (UBootBoot) { .slot = slot, .counted = s->left[slot] > 0 };
        if (ret->counted)
                s->left[slot]--;
        return true;
}

void uboot_state_boot(UBootState *s, UBootBoot *ret) {
        Slot once = s->once;

        /* A one-time choice is spent whether or not it could be honoured. */
        s->once = _SLOT_INVALID;
        if (once >= 0 && uboot_state_listed(s, once) && try_slot(s, once, ret))
                return;
        for (unsigned i = 0; i < s->n_order; i++)
                if (try_slot(s, s->order[i], ret))
                        return;
        /* Nothing listed has tries left: the last good slot, else the first listed, else the factory slot A. */
        *ret = (UBootBoot) { .slot = s->good >= 0 ? s->good : s->n_order > 0 ? s->order[0] : SLOT_A, .fallback = true };
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
