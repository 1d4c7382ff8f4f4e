/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/opt-error.h"
#include "bundle/bundle.h"
#include "channel-dir.h"
#include "verb.h"

static void help(void) {
        printf("Usage: abide-build channel SUBCOMMAND DIR ...\n\n"
               "Publishes a fleet channel: DIR/channel.json, signed in DIR/channel.json.sig,\n"
               "for any static web server (docs/channel.md). Every change verifies the current\n"
               "files against --ca (nothing is signed again that a release signer did not sign),\n"
               "grows the serial, sets 'updated' (SOURCE_DATE_EPOCH when set), signs, checks\n"
               "that --ca verifies the new signature, and replaces both files.\n\n"
               "  init DIR --key K --cert C [--ca CA] [--name NAME]\n"
               "                                            an empty channel (serial 1), named NAME\n"
               "  add DIR BUNDLE --key K --cert C --ca CA   publish BUNDLE (verified against CA) as the\n"
               "      [--url URL] [--copy] [--percent P]    release for its compatible; the bundle is\n"
               "      [--stages 1,10,50,100] [--window HH:MM-HH:MM] [--force]\n"
               "                                            referred to by --url, or by its path\n"
               "                                            relative to DIR (--copy: into DIR/bundles/)\n"
               "  rollout DIR COMPATIBLE PERCENT --key K --cert C --ca CA\n"
               "  halt DIR COMPATIBLE [--reason TEXT] --key K --cert C --ca CA\n"
               "  resume DIR COMPATIBLE --key K --cert C --ca CA\n"
               "  refresh DIR --key K --cert C --ca CA [--name NAME]\n"
               "                                            sign again unchanged (cron: renews the expiry;\n"
               "                                            --name names a channel that has no name)\n"
               "  show DIR [--ca CA] [--json]               print it (verified with --ca)\n"
               "  watch ...                                 see abide-build channel watch --help\n\n"
               "  --percent P   rollout percentage, 0..100, two decimals at most (default: the first\n"
               "                of --stages, else 100)\n"
               "  --force       add a release whose security version is below the current one\n"
               "  --expires-in DAYS   devices refuse the channel DAYS (1..3650) after this change\n"
               "                unless it is signed again; every change keeps the validity it has\n"
               "  --no-expires  drop the expiry\n");
}

typedef struct Args {
        const char *key, *cert, *ca, *url, *percent, *stages, *window, *reason, *name, *expires_in;
        bool copy, force, json, no_expires;
        char **pos;
        int n_pos;
} Args;

static int parse_args(int argc, char *argv[], Args *a) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "key", required_argument, NULL, 'k' },
                { "cert", required_argument, NULL, 'c' },
                { "ca", required_argument, NULL, 'a' },
                { "url", required_argument, NULL, 'u' },
                { "percent", required_argument, NULL, 'p' },
                { "stages", required_argument, NULL, 's' },
                { "window", required_argument, NULL, 'w' },
                { "reason", required_argument, NULL, 'r' },
                { "copy", no_argument, NULL, 'C' },
                { "force", no_argument, NULL, 'f' },
                { "json", no_argument, NULL, 'j' },
                { "name", required_argument, NULL, 'N' },
                { "expires-in", required_argument, NULL, 'E' },
                { "no-expires", no_argument, NULL, 'X' },
                {},
        };
        int c;

        /* One error line: ours, not getopt's as well. */
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 1;
                case 'k': a->key = optarg; break;
                case 'c': a->cert = optarg; break;
                case 'a': a->ca = optarg; break;
                case 'u': a->url = optarg; break;
                case 'p': a->percent = optarg; break;
                case 's': a->stages = optarg; break;
                case 'w': a->window = optarg; break;
                case 'r': a->reason = optarg; break;
                case 'C': a->copy = true; break;
                case 'f': a->force = true; break;
                case 'j': a->json = true; break;
                case 'N': a->name = optarg; break;
                case 'E': a->expires_in = optarg; break;
                case 'X': a->no_expires = true; break;
                default:
                        return opt_error(c, argv, options, "abide-build channel --help");
                }
        a->pos = argv + optind;
        a->n_pos = argc - optind;
        return 0;
}

static int want_pos(const Args *a, const char *sub, int n, const char *usage) {
        if (a->n_pos != n)
                return err_set(EINVAL, "%s: expected %s (see abide-build channel --help)", sub, usage);
        return 0;
}

static int load_signer(const Args *a, const char *sub, Signer **ret) {
        _cleanup_(signer_freep) Signer *s = NULL;
        int r;

        if (!a->key || !a->cert)
                return err_set(EINVAL, "%s: --key and --cert are required", sub);
        r = signer_load(a->key, a->cert, &s);
        if (r < 0)
                return err_prefix(r, "%s", sub);
        r = signer_check_release(s);
        if (r < 0)
                return err_prefix(r, "%s", sub);
        *ret = TAKE_PTR(s);
        return 0;
}

static int parse_stages(const char *text, ChannelRelease *rel) {
        _cleanup_free_ char *copy = strdup(text);
        _cleanup_free_ unsigned *stages = NULL;
        size_t n = 0;
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                unsigned *s = reallocarray(stages, n + 1, sizeof *s);
                if (!s)
                        return -ENOMEM;
                stages = s;
                if (channel_percent_parse(t, &stages[n]) < 0)
                        return err_set(EINVAL, "--stages: '%s' is not a percentage in 0..100", t);
                n++;
        }
        if (n == 0)
                return err_set(EINVAL, "--stages: empty");
        for (size_t i = 0; i < n; i++)
                if (stages[i] == 0 || (i > 0 && stages[i] <= stages[i - 1]) || (i == n - 1 && stages[i] != 10000))
                        return err_set(EINVAL, "--stages: '%s' must ascend from above 0 to 100", text);
        rel->stages_bp = TAKE_PTR(stages);
        rel->n_stages = n;
        return 0;
}

/* A path as a relative URL reference (RFC 3986): every byte but the
 * unreserved ones and '/' percent-encoded. Devices resolve `bundle` against
 * the channel's URL, where a file name's '#', '?', '%' or a ':' in its first
 * segment would otherwise name another resource. */
static int url_path_escape(const char *path, char **ret) {
        static const char hex[] = "0123456789ABCDEF";
        char *out = malloc(strlen(path) * 3 + 1), *o = out;

        if (!out)
                return -ENOMEM;
        for (const unsigned char *p = (const unsigned char *) path; *p; p++)
                if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
                    strchr("-._~/", *p))
                        *o++ = (char) *p;
                else {
                        *o++ = '%';
                        *o++ = hex[*p >> 4];
                        *o++ = hex[*p & 15];
                }
        *o = '\0';
        *ret = out;
        return 0;
}

/* The bundle as DIR's readers reach it: its path relative to DIR, which
 * must hold it (the static server serves DIR), as a URL reference. */
static int relative_bundle(const char *dir, const char *bundle, char **ret) {
        char d[PATH_MAX], b[PATH_MAX];

        if (!realpath(dir, d))
                return err_set(errno, "%s: %m", dir);
        if (!realpath(bundle, b))
                return err_set(errno, "%s: %m", bundle);
        size_t n = strlen(d);
        if (strncmp(b, d, n) != 0 || b[n] != '/')
                return err_set(EINVAL, "%s: not inside %s; use --copy or --url", bundle, dir);
        return url_path_escape(b + n + 1, ret);
}

static int copy_file(const char *from, const char *to) {
        _cleanup_(atomic_file_freep) AtomicFile *f = NULL;
        _cleanup_close_ int in = open(from, O_RDONLY | O_CLOEXEC);
        static uint8_t buf[1 << 20];
        ssize_t n;
        int r;

        if (in < 0)
                return err_set(errno, "%s: %m", from);
        r = atomic_file_open(to, 0644, &f);
        if (r < 0)
                return err_prefix(r, "%s", to);
        while ((n = loop_read(in, buf, sizeof buf)) > 0) {
                r = loop_write(f->fd, buf, (size_t) n);
                if (r < 0)
                        return err_prefix(r, "%s", to);
        }
        if (n < 0)
                return err_prefix((int) n, "%s", from);
        r = atomic_file_commit(f);
        if (r < 0)
                return err_prefix(r, "%s", to);
        return 0;
}

/* Verifies the bundle as a device would (signature against CA, every
 * payload's size and digest) and fills the release from its manifest. */
static int read_bundle(const char *path, TrustStore *trust, ChannelRelease *rel) {
        _cleanup_(bundle_reader_freep) BundleReader *b = NULL;
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        static uint8_t buf[1 << 20];
        const Payload *p;
        struct stat st;
        size_t len = 0;
        int r;

        if (fd < 0)
                return err_set(errno, "%s: %m", path);
        if (fstat(fd, &st) < 0)
                return err_set(errno, "%s: %m", path);
        if (!S_ISREG(st.st_mode))
                return err_set(EINVAL, "%s: not a regular file", path);
        r = bundle_reader_open(fd, NULL, trust, &b);
        if (r < 0)
                return err_prefix(r, "%s", path);
        while ((r = bundle_reader_next(b, &p)) > 0) {
                ssize_t n;
                while ((n = bundle_reader_read(b, buf, sizeof buf)) > 0)
                        ;
                if (n < 0)
                        return err_prefix((int) n, "%s", path);
        }
        if (r < 0)
                return err_prefix(r, "%s", path);

        const Manifest *m = bundle_reader_manifest(b);
        const char *json = bundle_reader_manifest_json(b, &len);
        /* The device compares this with the manifest.json it reads from the
         * bundle: the member's bytes, exactly as stored. */
        r = sha256_buf(json, len, rel->manifest_sha256);
        if (r < 0)
                return r;
        rel->compatible = strdup(m->compatible);
        rel->version = strdup(m->version);
        if (!rel->compatible || !rel->version)
                return -ENOMEM;
        rel->security_version = m->security_version;
        rel->size = (uint64_t) st.st_size;
        return 0;
}

/* --expires-in DAYS / --no-expires as channel_dir_save() takes them. */
static int parse_expiry(const Args *a, const char *sub, uint64_t *ret) {
        if (a->expires_in && a->no_expires)
                return err_set(EINVAL, "%s: --expires-in and --no-expires exclude each other", sub);
        if (a->no_expires) {
                *ret = CHANNEL_EXPIRY_NONE;
                return 0;
        }
        if (!a->expires_in) {
                *ret = CHANNEL_EXPIRY_KEEP;
                return 0;
        }
        /* Whole days: the publisher re-signs well within them (cron), and a device
         * clock a few hours off does not matter. Beyond 10 years, drop the expiry. */
        char *end;
        errno = 0;
        unsigned long days = strtoul(a->expires_in, &end, 10);
        if (errno || end == a->expires_in || *end || a->expires_in[0] == '-' || days < 1 || days > 3650)
                return err_set(EINVAL, "%s: --expires-in '%s' is not a number of days in 1..3650", sub, a->expires_in);
        *ret = (uint64_t) days * 86400;
        return 0;
}

static void release_clear(ChannelRelease *r) {
        free(r->compatible);
        free(r->version);
        free(r->bundle);
        free(r->stages_bp);
        free(r->halt_reason);
        *r = (ChannelRelease) {};
}

static int sub_add(const char *dir, const char *bundle, const Args *a, TrustStore *trust, Channel *c, uint64_t now) {
        _cleanup_(release_clear) ChannelRelease rel = {};
        int r;

        if (a->url && a->copy)
                return err_set(EINVAL, "add: --url and --copy exclude each other");
        r = read_bundle(bundle, trust, &rel);
        if (r < 0)
                return err_prefix(r, "add");

        const ChannelRelease *cur = channel_find(c, rel.compatible);
        if (cur && rel.security_version < cur->security_version && !a->force)
                return err_set(EPERM, "add: %s has security version %" PRIu64 " < %" PRIu64 " of the current release "
                               "%s for %s (--force to publish it anyway)", bundle, rel.security_version,
                               cur->security_version, cur->version, rel.compatible);

        if (a->stages) {
                r = parse_stages(a->stages, &rel);
                if (r < 0)
                        return err_prefix(r, "add");
        }
        rel.percent_bp = rel.n_stages > 0 ? rel.stages_bp[0] : 10000;
        if (a->percent && channel_percent_parse(a->percent, &rel.percent_bp) < 0)
                return err_set(EINVAL, "add: --percent '%s' is not a percentage in 0..100 (two decimals at most)",
                               a->percent);
        if (a->window && channel_window_parse(a->window, &rel.window) < 0)
                return err_set(EINVAL, "add: --window '%s' is not HH:MM-HH:MM (UTC, 00:00..23:59, two different times)",
                               a->window);
        rel.published = now;

        if (a->url)
                rel.bundle = strdup(a->url);
        else if (a->copy) {
                _cleanup_free_ char *path = NULL;
                const char *base = strrchr(bundle, '/');
                base = base ? base + 1 : bundle;
                if (asprintf(&path, "bundles/%s", base) < 0)
                        return -ENOMEM;
                r = url_path_escape(path, &rel.bundle);
                if (r < 0)
                        return r;
        } else {
                r = relative_bundle(dir, bundle, &rel.bundle);
                if (r < 0)
                        return err_prefix(r, "add");
        }
        if (!rel.bundle)
                return -ENOMEM;

        r = channel_set_release(c, &rel);
        if (r < 0)
                return err_prefix(r, "add");
        return 0;
}

/* Copies the bundle into DIR/bundles/ unless an identical one is there; a
 * different file of that name is never replaced (devices may be reading it).
 * ret_created says whether the caller must remove it on a later failure. */
static int copy_bundle(const char *dir, const char *bundle, char **ret_created) {
        _cleanup_free_ char *bdir = NULL, *dest = NULL;
        uint8_t h1[SHA256_DIGEST_SIZE], h2[SHA256_DIGEST_SIZE];
        const char *base = strrchr(bundle, '/');
        int r;

        base = base ? base + 1 : bundle;
        if (asprintf(&bdir, "%s/bundles", dir) < 0 || asprintf(&dest, "%s/%s", bdir, base) < 0)
                return -ENOMEM;
        if (mkdir(bdir, 0755) < 0 && errno != EEXIST)
                return err_set(errno, "%s: %m", bdir);
        if (access(dest, F_OK) == 0) {
                r = sha256_file(bundle, h1, NULL);
                if (r < 0)
                        return err_prefix(r, "%s", bundle);
                r = sha256_file(dest, h2, NULL);
                if (r < 0)
                        return err_prefix(r, "%s", dest);
                if (memcmp(h1, h2, sizeof h1) != 0)
                        return err_set(EEXIST, "add: %s exists with other content; not replaced", dest);
                *ret_created = NULL;
                return 0;
        }
        r = copy_file(bundle, dest);
        if (r < 0)
                return err_prefix(r, "add");
        *ret_created = TAKE_PTR(dest);
        return 0;
}

static int print_channel(const Channel *c, const char *signer, bool verified) {
        printf("Name:      %s\n", c->name ?: "none");
        printf("Serial:    %" PRIu64 "\n", c->serial);
        printf("Updated:   %" PRIu64 "\n", c->updated);
        if (c->expires)
                printf("Expires:   %" PRIu64 " (%" PRIu64 " s after the update)\n", c->expires, c->expires - c->updated);
        else
                printf("Expires:   never\n");
        printf("Signature: %s%s\n", verified ? "verified, signed by " : "not verified (no --ca)",
               verified ? signer : "");
        for (size_t i = 0; i < c->n_releases; i++) {
                const ChannelRelease *r = &c->releases[i];
                char hex[SHA256_HEX_SIZE], pct[8], w[12];

                hex_encode(r->manifest_sha256, SHA256_DIGEST_SIZE, hex);
                channel_percent_format(r->percent_bp, pct);
                channel_window_format(&r->window, w);
                printf("\n%s\n", r->compatible);
                printf("  version:          %s\n", r->version);
                printf("  security version: %" PRIu64 "\n", r->security_version);
                printf("  bundle:           %s (%" PRIu64 " bytes)\n", r->bundle, r->size);
                printf("  manifest sha256:  %s\n", hex);
                printf("  rollout:          %s %%", pct);
                for (size_t k = 0; k < r->n_stages; k++) {
                        channel_percent_format(r->stages_bp[k], pct);
                        printf("%s%s", k ? "," : " (stages ", pct);
                }
                printf("%s\n", r->n_stages ? ")" : "");
                printf("  window:           %s\n", r->window.set ? w : "any time");
                printf("  published:        %" PRIu64 "\n", r->published);
                if (r->halted)
                        printf("  HALTED%s%s\n", r->halt_reason ? ": " : "", r->halt_reason ?: "");
        }
        return 0;
}

static int sub_show(const char *dir, const Args *a) {
        _cleanup_(trust_store_freep) TrustStore *trust = NULL;
        _cleanup_(channel_freep) Channel *c = NULL;
        _cleanup_free_ char *signer = NULL, *json = NULL;
        size_t len = 0;
        int r;

        if (a->ca) {
                r = trust_store_load(a->ca, &trust);
                if (r < 0)
                        return err_prefix(r, "show: %s", a->ca);
        }
        r = channel_dir_load(dir, trust, &c, &signer);
        if (r < 0)
                return err_prefix(r, "show");
        if (!a->json)
                return print_channel(c, signer, trust);
        r = channel_serialize(c, &json, &len);
        if (r < 0)
                return r;
        /* The channel itself, then whether it was verified: one object. */
        printf("{\n  \"channel\": %.*s,\n  \"verified\": %s,\n  \"signer\": ", (int) len - 1, json,
               trust ? "true" : "false");
        if (signer) {
                putchar('"');
                for (const char *p = signer; *p; p++)
                        printf(*p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
                printf("\"\n}\n");
        } else
                printf("null\n}\n");
        return 0;
}

int verb_channel(int argc, char *argv[]) {
        _cleanup_(signer_freep) Signer *signer = NULL;
        _cleanup_(trust_store_freep) TrustStore *trust = NULL;
        _cleanup_(channel_freep) Channel *c = NULL;
        _cleanup_close_ int lock = -EBADF;
        _cleanup_free_ char *created = NULL;
        bool made_dir = false;
        Args a = {};
        uint64_t now;
        int r;

        if (argc < 2)
                return err_set(EINVAL, "expected a subcommand (see abide-build channel --help)");
        if (streq(argv[1], "--help") || streq(argv[1], "-h")) {
                help();
                return 0;
        }
        const char *sub = argv[1];
        if (streq(sub, "watch"))
                return verb_channel_watch(argc, argv);
        if (!streq(sub, "init") && !streq(sub, "add") && !streq(sub, "rollout") && !streq(sub, "halt") &&
            !streq(sub, "resume") && !streq(sub, "refresh") && !streq(sub, "show"))
                return err_set(EINVAL, "unknown subcommand '%s' (see abide-build channel --help)", sub);
        r = parse_args(argc - 1, argv + 1, &a);
        if (r != 0)
                return r > 0 ? 0 : r;
        if (a.n_pos < 1)
                return err_set(EINVAL, "%s: expected DIR (see abide-build channel --help)", sub);
        const char *dir = a.pos[0];

        /* The name is set once: init, or refresh of a channel that has none. */
        if (a.name && !streq(sub, "init") && !streq(sub, "refresh"))
                return err_set(EINVAL, "%s: --name is for init and refresh", sub);
        if (a.name && (r = channel_name_validate(a.name)) < 0)
                return err_prefix(r, "%s: --name", sub);
        if (streq(sub, "show") && (a.expires_in || a.no_expires))
                return err_set(EINVAL, "show: --expires-in and --no-expires are for the changes");
        uint64_t expires_in = CHANNEL_EXPIRY_KEEP;
        r = parse_expiry(&a, sub, &expires_in);
        if (r < 0)
                return r;

        if (streq(sub, "show")) {
                r = want_pos(&a, sub, 1, "DIR");
                return r < 0 ? r : sub_show(dir, &a);
        }

        r = streq(sub, "init") || streq(sub, "refresh") ? want_pos(&a, sub, 1, "DIR") :
            streq(sub, "add")     ? want_pos(&a, sub, 2, "DIR BUNDLE") :
            streq(sub, "rollout") ? want_pos(&a, sub, 3, "DIR COMPATIBLE PERCENT") :
                                    want_pos(&a, sub, 2, "DIR COMPATIBLE");
        if (r < 0)
                return r;
        /* The arguments' own checks come before the key, the lock and the channel file. */
        unsigned percent_bp = 0;
        if (streq(sub, "rollout") && channel_percent_parse(a.pos[2], &percent_bp) < 0)
                return err_set(EINVAL, "rollout: '%s' is not a percentage in 0..100 (two decimals at most)", a.pos[2]);
        if (streq(sub, "halt") && a.reason && (strlen(a.reason) > 1024 || strpbrk(a.reason, "\n\r\t")))
                return err_set(EINVAL, "halt: --reason: one line of at most 1024 bytes, please");
        r = channel_dir_now(&now);
        if (r < 0)
                return r;
        r = load_signer(&a, sub, &signer);
        if (r < 0)
                return r;
        /* What is signed again must have been signed by a release signer: a channel.json
         * changed in DIR (by hand, by a compromised web server) would otherwise be laundered. */
        if (!streq(sub, "init") && !a.ca)
                return err_set(EINVAL, "%s: --ca CA is required: the current %s/" CHANNEL_FILE " is verified against it "
                               "before it is signed again%s", sub, dir, streq(sub, "add") ? ", and so is the bundle" : "");
        if (a.ca) {
                r = trust_store_load(a.ca, &trust);
                if (r < 0)
                        return err_prefix(r, "%s: %s", sub, a.ca);
        }

        if (streq(sub, "init")) {
                if (mkdir(dir, 0755) == 0)
                        made_dir = true;
                else if (errno != EEXIST)
                        return err_set(errno, "init: %s: %m", dir);
                r = channel_dir_lock(dir, &lock);
                if (r < 0)
                        return err_prefix(r, "init");
                _cleanup_free_ char *path = NULL;
                if (asprintf(&path, "%s/" CHANNEL_FILE, dir) < 0)
                        return -ENOMEM;
                if (access(path, F_OK) == 0)
                        return err_set(EEXIST, "init: %s already exists", path);
                c = calloc(1, sizeof *c);
                if (!c)
                        return -ENOMEM;
                if (a.name && !(c->name = strdup(a.name)))
                        return -ENOMEM;
        } else {
                r = channel_dir_lock(dir, &lock);
                if (r < 0)
                        return err_prefix(r, "%s", sub);
                r = channel_dir_load(dir, trust, &c, NULL);
                if (r < 0)
                        return err_prefix(r, "%s", sub);
        }

        if (streq(sub, "add")) {
                r = sub_add(dir, a.pos[1], &a, trust, c, now);
                if (r < 0)
                        return r;
                if (a.copy) {
                        r = copy_bundle(dir, a.pos[1], &created);
                        if (r < 0)
                                return r;
                }
        } else if (streq(sub, "refresh")) {
                /* Devices that follow the name would all refuse the channel under another. */
                if (a.name && c->name && !streq(c->name, a.name))
                        return err_set(EEXIST, "refresh: %s/" CHANNEL_FILE " is named '%s', not renamed to '%s' (devices "
                                       "with [Update] ChannelName=%s would refuse it)", dir, c->name, a.name, c->name);
                if (a.name && !c->name && !(c->name = strdup(a.name)))
                        return -ENOMEM;
        } else if (!streq(sub, "init")) {
                ChannelRelease *rel = channel_find(c, a.pos[1]);
                if (!rel)
                        return err_set(ENOENT, "%s: no release for compatible '%s' in %s/" CHANNEL_FILE, sub, a.pos[1],
                                       dir);
                if (streq(sub, "rollout"))
                        rel->percent_bp = percent_bp;
                else if (streq(sub, "halt")) {
                        rel->halted = true;
                        free(rel->halt_reason);
                        rel->halt_reason = NULL;
                        if (a.reason && !(rel->halt_reason = strdup(a.reason)))
                                return -ENOMEM;
                } else {
                        rel->halted = false;
                        free(TAKE_PTR(rel->halt_reason));
                }
        }

        r = channel_dir_save(dir, c, signer, trust, now, expires_in);
        if (r < 0) {
                if (created)
                        (void) unlink(created);
                if (made_dir)
                        (void) rmdir(dir);
                return err_prefix(r, "%s", sub);
        }
        printf("%s/" CHANNEL_FILE ": serial %" PRIu64, dir, c->serial);
        if (c->expires)
                printf(", expires %" PRIu64, c->expires);
        printf("\n");
        return 0;
}
