/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "update-state.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/error.h"
#include "basic/fileio.h"

/* An update.json larger than this is not ours. */
#define UPDATE_STATE_MAX (64 * 1024)

void update_state_done(UpdateState *s) {
        free(s->channel);
        free(s->verdict);
        free(s->reason);
        free(s->version);
        free(s->last_error);
        free(s->reboot_deferred);
        *s = (UpdateState) {};
}

static void json_putp(json_object **j) {
        if (*j)
                json_object_put(*j);
}

static int set_str(char **field, const char *value) {
        char *copy = NULL;
        if (value && !(copy = strdup(value)))
                return -ENOMEM;
        free(*field);
        *field = copy;
        return 0;
}

static json_object *str_or_null(const char *s) {
        return s ? json_object_new_string(s) : NULL;
}

static json_object *time_or_null(uint64_t t) {
        return t ? json_object_new_int64((int64_t) t) : NULL;
}

int update_state_to_json_string(const UpdateState *s, char **ret) {
        _cleanup_(json_putp) json_object *root = json_object_new_object();
        if (!root)
                return -ENOMEM;

        json_object *d = NULL;
        if (s->have_decision) {
                d = json_object_new_object();
                if (!d)
                        return -ENOMEM;
                json_object_object_add(d, "verdict", json_object_new_string(s->verdict ?: ""));
                json_object_object_add(d, "reason", str_or_null(s->reason));
                json_object_object_add(d, "version", str_or_null(s->version));
        }
        if (json_object_object_add(root, "format", json_object_new_int(UPDATE_STATE_FORMAT)) < 0 ||
            json_object_object_add(root, "last_serial", s->last_serial ? json_object_new_int64((int64_t) s->last_serial) : NULL) < 0 ||
            json_object_object_add(root, "channel", str_or_null(s->channel)) < 0 ||
            json_object_object_add(root, "last_check", time_or_null(s->last_check)) < 0 ||
            json_object_object_add(root, "last_decision", d) < 0 ||
            json_object_object_add(root, "failures", json_object_new_int64(s->failures)) < 0 ||
            json_object_object_add(root, "last_error", str_or_null(s->last_error)) < 0 ||
            json_object_object_add(root, "next_attempt", time_or_null(s->next_attempt)) < 0 ||
            json_object_object_add(root, "reboot_deferred", str_or_null(s->reboot_deferred)) < 0)
                return -ENOMEM;

        const char *text = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE);
        size_t n = strlen(text);
        char *out = malloc(n + 2);
        if (!out)
                return -ENOMEM;
        memcpy(out, text, n);
        out[n] = '\n';
        out[n + 1] = '\0';
        *ret = out;
        return 0;
}

/* Absent or null: *ret untouched, 0. Of another type: -EBADMSG naming the key. */
static int member(json_object *o, const char *key, json_type type, json_object **ret) {
        json_object *v = NULL;
        if (!json_object_object_get_ex(o, key, &v) || !v)
                return 0;
        if (json_object_get_type(v) != type)
                return err_set(EBADMSG, "'%s' has the wrong type", key);
        *ret = v;
        return 1;
}

static int get_u64(json_object *o, const char *key, uint64_t *ret) {
        json_object *v;
        int r = member(o, key, json_type_int, &v);
        if (r <= 0)
                return r;
        int64_t i = json_object_get_int64(v);
        if (i < 0)
                return err_set(EBADMSG, "'%s' is negative", key);
        *ret = (uint64_t) i;
        return 0;
}

static int get_str(json_object *o, const char *key, char **ret) {
        json_object *v;
        int r = member(o, key, json_type_string, &v);
        if (r <= 0)
                return r;
        return set_str(ret, json_object_get_string(v));
}

int update_state_from_json_string(const char *text, UpdateState *ret) {
        _cleanup_(json_putp) json_object *root = NULL;
        _cleanup_(update_state_done) UpdateState s = {};
        json_object *d = NULL;
        uint64_t format = 0, failures = 0;
        int r;

        root = json_tokener_parse(text);
        if (!root || json_object_get_type(root) != json_type_object)
                return err_set(EBADMSG, "not a JSON object");
        if ((r = get_u64(root, "format", &format)) < 0)
                return r;
        if (format != UPDATE_STATE_FORMAT)
                return err_set(EBADMSG, "format %llu is not %d", (unsigned long long) format, UPDATE_STATE_FORMAT);
        if ((r = get_u64(root, "last_serial", &s.last_serial)) < 0 ||
            (r = get_str(root, "channel", &s.channel)) < 0 ||
            (r = get_u64(root, "last_check", &s.last_check)) < 0 ||
            (r = get_u64(root, "failures", &failures)) < 0 ||
            (r = get_str(root, "last_error", &s.last_error)) < 0 ||
            (r = get_u64(root, "next_attempt", &s.next_attempt)) < 0 ||
            (r = get_str(root, "reboot_deferred", &s.reboot_deferred)) < 0 ||
            (r = member(root, "last_decision", json_type_object, &d)) < 0)
                return r;
        if (failures > 1000000)
                return err_set(EBADMSG, "'failures' out of range");
        s.failures = (unsigned) failures;
        if (d) {
                s.have_decision = true;
                if ((r = get_str(d, "verdict", &s.verdict)) < 0 || (r = get_str(d, "reason", &s.reason)) < 0 ||
                    (r = get_str(d, "version", &s.version)) < 0)
                        return r;
                if (!s.verdict)
                        return err_set(EBADMSG, "'last_decision' without 'verdict'");
        }
        *ret = s;
        s = (UpdateState) {};
        return 0;
}

int update_state_load(const char *path, UpdateState *ret) {
        _cleanup_free_ char *text = NULL;
        int r;

        r = read_full_file(path, UPDATE_STATE_MAX, &text, NULL);
        if (r == -ENOENT) {
                *ret = (UpdateState) {};
                return 0;
        }
        if (r == -EFBIG)
                return err_set(EBADMSG, "%s: corrupt: larger than %d bytes", path, UPDATE_STATE_MAX);
        if (r < 0)
                return err_set(r, "cannot read %s: %s", path, strerror(-r));
        r = update_state_from_json_string(text, ret);
        if (r < 0)
                return err_prefix(r, "%s", path);
        return 0;
}

int update_state_lock(const char *path, int *ret_fd) {
        _cleanup_free_ char *lock = NULL;

        /* A file of its own: the state file itself is replaced by rename, which a lock on it would not survive. */
        if (asprintf(&lock, "%s.lock", path) < 0)
                return -ENOMEM;
        int r = lock_file(lock, false, ret_fd);
        if (r == -EWOULDBLOCK)
                return err_set(EBUSY, "another abidectl update is running (it holds %s)", lock);
        return r;
}

int update_state_save(const UpdateState *s, const char *path) {
        _cleanup_free_ char *text = NULL;
        int r;

        r = update_state_to_json_string(s, &text);
        if (r < 0)
                return r;
        /* The directory on abide-data exists once anything of abide ran; a first update may come before. */
        r = mkdir_parents_of(path, 0755);
        if (r < 0)
                return r;
        r = write_file_atomic(path, text, strlen(text), 0644);
        if (r < 0)
                return err_set(r, "cannot write %s: %s", path, strerror(-r));
        return 0;
}

void update_state_use_channel(UpdateState *s, const char *channel) {
        if (s->channel && channel && !streq(s->channel, channel))
                s->last_serial = 0;
}

int update_state_accept(UpdateState *s, const char *channel, uint64_t serial) {
        if (!streq_ptr(s->channel, channel) && set_str(&s->channel, channel) < 0)
                return -ENOMEM;
        if (serial > s->last_serial)
                s->last_serial = serial;
        return 0;
}

int update_state_set_decision(UpdateState *s, const char *verdict, const char *reason, const char *version) {
        if (set_str(&s->verdict, verdict) < 0 || set_str(&s->reason, reason) < 0 || set_str(&s->version, version) < 0)
                return -ENOMEM;
        s->have_decision = true;
        return 0;
}

uint64_t update_backoff_max_sec(unsigned interval_sec) {
        return interval_sec > UPDATE_BACKOFF_MAX_SEC ? interval_sec : UPDATE_BACKOFF_MAX_SEC;
}

uint64_t update_backoff_sec(unsigned failures, unsigned interval_sec, uint64_t random) {
        uint64_t cap = update_backoff_max_sec(interval_sec);
        uint64_t d = interval_sec ? interval_sec : 1;

        for (unsigned i = 1; i < failures && d < cap; i++)
                d *= 2;
        if (d > cap)
                d = cap;
        /* Uniform in [d / 2, d]. */
        uint64_t lo = d / 2;
        return lo + random % (d - lo + 1);
}

int update_state_fail(UpdateState *s, const char *error, uint64_t now, unsigned interval_sec, uint64_t random) {
        if (set_str(&s->last_error, error) < 0)
                return -ENOMEM;
        if (s->failures < 1000000)
                s->failures++;
        s->next_attempt = now + update_backoff_sec(s->failures, interval_sec, random);
        return 0;
}

UpdateWait update_state_wait(const UpdateState *s, uint64_t now, unsigned interval_sec, uint64_t *ret_wait) {
        uint64_t wait = s->next_attempt > now ? s->next_attempt - now : 0;

        *ret_wait = wait;
        if (wait == 0)
                return UPDATE_WAIT_DUE;
        if (s->last_check > now)
                return UPDATE_WAIT_CLOCK_BACK;
        /* A failure at now or before sets next_attempt at most one maximum backoff past now. */
        if (wait > update_backoff_max_sec(interval_sec))
                return UPDATE_WAIT_CLOCK_AHEAD;
        return UPDATE_WAIT_BACKOFF;
}

void update_state_succeed(UpdateState *s) {
        s->failures = 0;
        s->next_attempt = 0;
        free(s->last_error);
        s->last_error = NULL;
}
