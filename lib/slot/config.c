/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config.h"

#include <ini.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "basic/error.h"
#include "basic/fileio.h"

typedef enum KeyKind {
        KEY_PATH,       /* absolute path */
        KEY_STRING,
        KEY_UINT,
        KEY_BOOL,
        KEY_LIST,       /* words; repeating the key appends, an empty value clears */
} KeyKind;

typedef struct ConfigKey {
        const char *section;
        const char *key;
        KeyKind kind;
        size_t offset;
        unsigned min, max;
        bool local;     /* may be set by /etc/abide/abide.conf on abide-data */
} ConfigKey;

#define PATH_KEY(s, k, field) { s, k, KEY_PATH, offsetof(AbideConfig, field), 0, 0, false }
#define LOCAL_PATH_KEY(s, k, field) { s, k, KEY_PATH, offsetof(AbideConfig, field), 0, 0, true }

/* local = false: trust, and what runs as root; only from verified storage (docs/trust.md). */
static const ConfigKey config_keys[] = {
        LOCAL_PATH_KEY("Paths", "ESP", esp),
        PATH_KEY("Paths", "EfiVars", efivars),
        LOCAL_PATH_KEY("Paths", "State", state_file),
        PATH_KEY("Paths", "Keys", keys_dir),
        PATH_KEY("Paths", "SecureBootCert", secure_boot_cert),
        PATH_KEY("Paths", "VendorHealthDir", health_dirs[0]),
        LOCAL_PATH_KEY("Paths", "HealthDir", health_dirs[1]),
        PATH_KEY("Paths", "RollbackHooks", rollback_hooks_dir),
        LOCAL_PATH_KEY("Paths", "Disk", disk),
        LOCAL_PATH_KEY("Paths", "Cmdline", cmdline),
        PATH_KEY("Paths", "ImageInfo", image_info),
        LOCAL_PATH_KEY("Slots", "RootA", partitions[SLOT_A][SLOT_PART_ROOT]),
        LOCAL_PATH_KEY("Slots", "VerityA", partitions[SLOT_A][SLOT_PART_VERITY]),
        LOCAL_PATH_KEY("Slots", "VeritySigA", partitions[SLOT_A][SLOT_PART_VERITY_SIG]),
        LOCAL_PATH_KEY("Slots", "RootB", partitions[SLOT_B][SLOT_PART_ROOT]),
        LOCAL_PATH_KEY("Slots", "VerityB", partitions[SLOT_B][SLOT_PART_VERITY]),
        LOCAL_PATH_KEY("Slots", "VeritySigB", partitions[SLOT_B][SLOT_PART_VERITY_SIG]),
        LOCAL_PATH_KEY("Slots", "Data", data_partition),
        { "Boot", "Backend", KEY_STRING, offsetof(AbideConfig, backend), 0, 0, false },
        { "Boot", "Tries", KEY_UINT, offsetof(AbideConfig, tries), 1, 99, true },
        PATH_KEY("Boot", "UBootEnvConfig", uboot_env_config),
        /* Vendor only: a board whose U-Boot keeps one copy (QEMU virt); a power cut while writing loses it. */
        { "Boot", "UBootEnvSingleCopy", KEY_BOOL, offsetof(AbideConfig, uboot_env_single_copy), 0, 0, false },
        { "Boot", "RebootCommand", KEY_STRING, offsetof(AbideConfig, reboot_command), 0, 0, false },
        { "Health", "Agent", KEY_STRING, offsetof(AbideConfig, agent_probe), 0, 0, false },
        { "Health", "TimeoutSec", KEY_UINT, offsetof(AbideConfig, health_timeout_sec), 1, 86400, true },
        { "Health", "CheckTimeoutSec", KEY_UINT, offsetof(AbideConfig, check_timeout_sec), 1, 86400, true },
        { "Trust", "CheckTime", KEY_BOOL, offsetof(AbideConfig, trust_check_time), 0, 0, false },
        { "Trust", "Signer", KEY_LIST, offsetof(AbideConfig, trust_signers), 0, 0, false },
        { "Trust", "Deny", KEY_LIST, offsetof(AbideConfig, trust_deny), 0, 0, false },
        { "Trust", "SignerEKU", KEY_STRING, offsetof(AbideConfig, trust_signer_eku), 0, 0, false },
        PATH_KEY("Trust", "CRL", trust_crl),
        /* Per device (a client certificate, a token): on abide-data. The signature decides trust, not TLS. */
        { "Network", "StallTimeoutSec", KEY_UINT, offsetof(AbideConfig, net_stall_timeout_sec), 0, 86400, true },
        { "Network", "Retries", KEY_UINT, offsetof(AbideConfig, net_retries), 0, 100000, true },
        { "Network", "TimeoutSec", KEY_UINT, offsetof(AbideConfig, net_timeout_sec), 0, 7 * 86400, true },
        { "Network", "ConnectTimeoutSec", KEY_UINT, offsetof(AbideConfig, net_connect_timeout_sec), 1, 3600, true },
        { "Network", "MaxRedirects", KEY_UINT, offsetof(AbideConfig, net_max_redirects), 0, 50, true },
        { "Network", "AllowHTTP", KEY_BOOL, offsetof(AbideConfig, net_allow_http), 0, 0, true },
        { "Network", "Delta", KEY_BOOL, offsetof(AbideConfig, net_delta), 0, 0, true },
        { "Network", "DeltaConnections", KEY_UINT, offsetof(AbideConfig, net_delta_connections), 1, 16, true },
        LOCAL_PATH_KEY("Network", "CAFile", net_ca_file),
        LOCAL_PATH_KEY("Network", "ClientCertificate", net_client_cert),
        LOCAL_PATH_KEY("Network", "ClientKey", net_client_key),
        LOCAL_PATH_KEY("Network", "HeadersFile", net_headers_file),
        /* Which channel a device follows and where it reports are per device; the signatures decide trust. */
        { "Update", "Channel", KEY_STRING, offsetof(AbideConfig, update_channel), 0, 0, true },
        { "Update", "ChannelName", KEY_STRING, offsetof(AbideConfig, update_channel_name), 0, 0, true },
        { "Update", "Reboot", KEY_STRING, offsetof(AbideConfig, update_reboot), 0, 0, true },
        LOCAL_PATH_KEY("Update", "MachineIdFile", update_machine_id),
        LOCAL_PATH_KEY("Update", "State", update_state),
        { "Update", "IntervalSec", KEY_UINT, offsetof(AbideConfig, update_interval_sec), 10, 30 * 86400, true },
        { "Update", "RandomDelaySec", KEY_UINT, offsetof(AbideConfig, update_random_delay_sec), 0, 30 * 86400, true },
        { "Report", "URL", KEY_STRING, offsetof(AbideConfig, report_url), 0, 0, true },
        { "Report", "Method", KEY_STRING, offsetof(AbideConfig, report_method), 0, 0, true },
        LOCAL_PATH_KEY("Report", "Spool", report_spool),
        LOCAL_PATH_KEY("Report", "CAFile", report_ca_file),
        LOCAL_PATH_KEY("Report", "ClientCertificate", report_client_cert),
        LOCAL_PATH_KEY("Report", "ClientKey", report_client_key),
        LOCAL_PATH_KEY("Report", "HeadersFile", report_headers_file),
};

static int set_string(char **field, const char *value) {
        char *copy = NULL;

        /* An empty value resets the key to "find it" / none. */
        if (*value) {
                copy = strdup(value);
                if (!copy)
                        return -ENOMEM;
        }
        free(*field);
        *field = copy;
        return 0;
}

int config_new_default(AbideConfig **ret) {
        _cleanup_(config_freep) AbideConfig *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;

        if (set_string(&c->efivars, "/sys/firmware/efi/efivars") < 0 ||
            set_string(&c->state_file, "/var/lib/abide/state.json") < 0 ||
            set_string(&c->keys_dir, "/usr/lib/abide/keys") < 0 ||
            set_string(&c->secure_boot_cert, "/usr/lib/abide/secure-boot/db.crt") < 0 ||
            set_string(&c->health_dirs[0], "/usr/lib/abide/health.d") < 0 ||
            set_string(&c->health_dirs[1], "/etc/abide/health.d") < 0 ||
            set_string(&c->rollback_hooks_dir, "/usr/lib/abide/on-rollback.d") < 0 ||
            set_string(&c->cmdline, "/proc/cmdline") < 0 ||
            set_string(&c->image_info, "/usr/lib/abide/image.json") < 0 ||
            set_string(&c->backend, "systemd-boot") < 0 ||
            set_string(&c->uboot_env_config, "/etc/fw_env.config") < 0 ||
            set_string(&c->reboot_command, "reboot") < 0 ||
            set_string(&c->update_reboot, "now") < 0 ||
            set_string(&c->update_machine_id, "/etc/machine-id") < 0 ||
            set_string(&c->update_state, "/var/lib/abide/update.json") < 0 ||
            set_string(&c->report_method, "PUT") < 0 ||
            set_string(&c->report_spool, "/var/lib/abide/reports") < 0)
                return -ENOMEM;
        c->tries = 3;
        c->health_timeout_sec = 60;
        c->check_timeout_sec = 30;
        c->net_stall_timeout_sec = 60;
        c->net_retries = 10;
        c->net_connect_timeout_sec = 30;
        c->net_max_redirects = 5;
        c->net_allow_http = true;
        c->net_delta = true;
        c->net_delta_connections = 4;
        c->update_interval_sec = 3600;
        c->update_random_delay_sec = 600;
        *ret = TAKE_PTR(c);
        return 0;
}

typedef struct ParseState {
        AbideConfig *config;
        const char *path;
        bool local;
        int error;
} ParseState;

static int append_word_list(char **field, const char *value) {
        char *joined;

        if (!*value || !*field)
                return set_string(field, value);
        if (asprintf(&joined, "%s %s", *field, value) < 0)
                return -ENOMEM;
        free(*field);
        *field = joined;
        return 0;
}

static int note_ignored(ParseState *st, const char *section, const char *key) {
        char *s, **v;

        if (asprintf(&s, "%s: [%s] %s=", st->path, section, key) < 0)
                return -ENOMEM;
        v = reallocarray(st->config->ignored, st->config->n_ignored + 1, sizeof *v);
        if (!v) {
                free(s);
                return -ENOMEM;
        }
        st->config->ignored = v;
        v[st->config->n_ignored++] = s;
        return 0;
}

/*
 * An empty value resets the key to its default, as in systemd's files:
 * "find it" or none where the default is that (ESP=, Disk=, Agent=), the
 * built-in value where there is one (EfiVars=, State=, Backend=, Tries=),
 * never a NULL where the code needs a value. A list key's empty value
 * clears it (append_word_list()).
 */
static int reset_to_default(void *field, const ConfigKey *k) {
        _cleanup_(config_freep) AbideConfig *d = NULL;
        int r = config_new_default(&d);
        if (r < 0)
                return r;
        const void *from = (const uint8_t *) d + k->offset;
        switch (k->kind) {
        case KEY_PATH:
        case KEY_STRING:
                return set_string(field, *(char *const *) from ?: "");
        case KEY_UINT:
                *(unsigned *) field = *(const unsigned *) from;
                return 0;
        case KEY_BOOL:
                *(bool *) field = *(const bool *) from;
                return 0;
        case KEY_LIST:
                break;
        }
        return -EINVAL;
}

static int handler(void *user, const char *section, const char *key, const char *value) {
        ParseState *st = user;

        for (size_t i = 0; i < ELEMENTSOF(config_keys); i++) {
                const ConfigKey *k = &config_keys[i];
                if (!streq(k->section, section) || !streq(k->key, key))
                        continue;

                if (st->local && !k->local) {
                        if (note_ignored(st, section, key) < 0) {
                                st->error = -ENOMEM;
                                return 0;
                        }
                        return 1;
                }

                void *field = (uint8_t *) st->config + k->offset;
                if (!*value && k->kind != KEY_LIST) {
                        int r = reset_to_default(field, k);
                        if (r < 0) {
                                st->error = r;
                                return 0;
                        }
                        return 1;
                }
                switch (k->kind) {
                case KEY_BOOL: {
                        static const char *const yes[] = { "yes", "true", "1", "on" }, *const no[] = { "no", "false", "0", "off" };
                        for (size_t j = 0; j < ELEMENTSOF(yes); j++)
                                if (streq(value, yes[j]) || streq(value, no[j])) {
                                        *(bool *) field = streq(value, yes[j]);
                                        return 1;
                                }
                        st->error = err_set(EINVAL, "%s= must be yes or no: %s", key, value);
                        return 0;
                }
                case KEY_LIST:
                        if (append_word_list(field, value) < 0) {
                                st->error = -ENOMEM;
                                return 0;
                        }
                        return 1;
                case KEY_PATH:
                        if (*value && value[0] != '/') {
                                st->error = err_set(EINVAL, "%s= must be an absolute path: %s", key, value);
                                return 0;
                        }
                        __attribute__((fallthrough));
                case KEY_STRING:
                        if (set_string(field, value) < 0) {
                                st->error = -ENOMEM;
                                return 0;
                        }
                        return 1;
                case KEY_UINT: {
                        char *end;
                        errno = 0;
                        unsigned long v = strtoul(value, &end, 10);
                        if (errno != 0 || end == value || *end || value[0] == '-' || v < k->min || v > k->max) {
                                st->error = err_set(EINVAL, "%s= must be a number in %u..%u: %s",
                                                    key, k->min, k->max, value);
                                return 0;
                        }
                        *(unsigned *) field = (unsigned) v;
                        return 1;
                }
                }
        }
        st->error = err_set(EINVAL, "unknown key [%s] %s=", section, key);
        return 0;
}

static bool one_of(const char *v, const char *a, const char *b, const char *c) {
        return v && (streq(v, a) || streq(v, b) || (c && streq(v, c)));
}

/* Values of a closed set, checked once both files are read. */
static int config_validate(const AbideConfig *c) {
        if (!one_of(c->update_reboot, "now", "window", "never"))
                return err_set(EINVAL, "[Update] Reboot= must be now, window or never: %s", c->update_reboot ?: "(empty)");
        if (!one_of(c->report_method, "PUT", "POST", NULL))
                return err_set(EINVAL, "[Report] Method= must be PUT or POST: %s", c->report_method ?: "(empty)");
        return 0;
}

/* The longest line read whole (a URL with a signed query, a path of PATH_MAX bytes), and the largest file. */
#define CONFIG_MAX_LINE (64 * 1024)
#define CONFIG_MAX_SIZE (1024 * 1024)

/* Each line within CONFIG_MAX_LINE and without a NUL byte: inih would read a longer one as pieces (the
 * first a cut value), and stops a line at a NUL. */
static int check_lines(const char *path, const char *text, size_t size) {
        unsigned line = 1;
        for (const char *p = text, *end = text + size; p < end; line++) {
                const char *nl = memchr(p, '\n', end - p);
                size_t len = (nl ? nl : end) - p;
                if (memchr(p, 0, len))
                        return err_set(EINVAL, "%s:%u: NUL byte in line", path, line);
                if (len > CONFIG_MAX_LINE - 3)
                        return err_set(EINVAL, "%s:%u: line longer than %d bytes", path, line, CONFIG_MAX_LINE - 3);
                p += len + 1;
        }
        return 0;
}

static int config_parse_file(AbideConfig *c, const char *path, bool must_exist, bool local) {
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        r = read_full_file(path, CONFIG_MAX_SIZE, &text, &size);
        if (r == -ENOENT && !must_exist)
                return 0;
        if (r == -EFBIG)
                return err_set(EFBIG, "config %s: larger than %d bytes", path, CONFIG_MAX_SIZE);
        if (r < 0)
                return err_set(r, "cannot open config %s: %s", path, strerror(-r));
        r = check_lines(path, text, size);
        if (r < 0)
                return r;

        /* inih goes on after a refused line and returns the first bad line's number: stop there, so the
         * message is that line's. Lines of up to CONFIG_MAX_LINE in a heap buffer, not its 200 on the
         * stack. Process-wide options in this libinih, as recipe_load() sets them: restored after. */
        ParseState st = { .config = c, .path = path, .local = local };
        bool saved_stop = ini_stop_on_first_error, saved_stack = ini_use_stack, saved_realloc = ini_allow_realloc;
        int saved_max_line = ini_max_line;
        ini_stop_on_first_error = true;
        ini_use_stack = false;
        ini_allow_realloc = true;
        ini_max_line = CONFIG_MAX_LINE;
        r = ini_parse_string(text, handler, &st);
        ini_stop_on_first_error = saved_stop;
        ini_use_stack = saved_stack;
        ini_allow_realloc = saved_realloc;
        ini_max_line = saved_max_line;
        if (st.error < 0)
                return err_prefix(st.error, "%s:%d", path, r);
        if (r < 0)
                return err_set(ENOMEM, "%s: out of memory", path);
        if (r > 0)
                return err_set(EINVAL, "%s:%d: syntax error", path, r);
        return 0;
}

int config_load(const char *path, AbideConfig **ret) {
        _cleanup_(config_freep) AbideConfig *c = NULL;
        int r;

        r = config_new_default(&c);
        if (r < 0)
                return r;

        if (!path) {
                const char *e = getenv("ABIDE_CONF");
                if (e && *e)
                        path = e;
        }
        if (!path)
                return config_load_layered(ABIDE_CONF_VENDOR_PATH, ABIDE_CONF_PATH, ret);
        r = config_parse_file(c, path, true, false);
        if (r < 0)
                return r;
        r = config_validate(c);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(c);
        return 0;
}

int config_load_layered(const char *vendor_path, const char *local_path, AbideConfig **ret) {
        _cleanup_(config_freep) AbideConfig *c = NULL;
        int r;

        r = config_new_default(&c);
        if (r < 0)
                return r;
        if (vendor_path && (r = config_parse_file(c, vendor_path, false, false)) < 0)
                return r;
        if (local_path && (r = config_parse_file(c, local_path, false, true)) < 0)
                return r;
        r = config_validate(c);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(c);
        return 0;
}

AbideConfig *config_free(AbideConfig *c) {
        if (!c)
                return NULL;
        free(c->esp);
        free(c->efivars);
        free(c->state_file);
        free(c->keys_dir);
        free(c->secure_boot_cert);
        free(c->health_dirs[0]);
        free(c->health_dirs[1]);
        free(c->rollback_hooks_dir);
        free(c->disk);
        free(c->cmdline);
        free(c->image_info);
        for (int s = 0; s < _SLOT_MAX; s++)
                for (int p = 0; p < _SLOT_PART_MAX; p++)
                        free(c->partitions[s][p]);
        free(c->data_partition);
        free(c->backend);
        free(c->uboot_env_config);
        free(c->reboot_command);
        free(c->agent_probe);
        free(c->trust_signers);
        free(c->trust_deny);
        free(c->trust_signer_eku);
        free(c->trust_crl);
        free(c->net_ca_file);
        free(c->net_client_cert);
        free(c->net_client_key);
        free(c->net_headers_file);
        free(c->update_channel);
        free(c->update_channel_name);
        free(c->update_reboot);
        free(c->update_machine_id);
        free(c->update_state);
        free(c->report_url);
        free(c->report_method);
        free(c->report_spool);
        free(c->report_ca_file);
        free(c->report_client_cert);
        free(c->report_client_key);
        free(c->report_headers_file);
        for (size_t i = 0; i < c->n_ignored; i++)
                free(c->ignored[i]);
        free(c->ignored);
        free(c);
        return NULL;
}
