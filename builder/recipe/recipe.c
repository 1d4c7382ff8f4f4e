/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "recipe.h"

#include <glob.h>
#include <ini.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "boot/uboot-state.h"
#include "bundle/cmdline-check.h"
#include "bundle/manifest.h"

#define RECIPE_MAX_LINE (64 * 1024)
#define RECIPE_NAME_MAX 128

static bool endswith(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && streq(s + a - b, suffix);
}

static void *mfree(void *p) {
        free(p);
        return NULL;
}

static const char *const layer_type_table[_LAYER_TYPE_MAX] = {
        [LAYER_TREE] = "tree",
        [LAYER_TAR] = "tar",
        [LAYER_DEB] = "deb",
        [LAYER_OCI] = "oci",
};

const char *layer_type_to_string(LayerType t) {
        if (t < 0 || t >= _LAYER_TYPE_MAX)
                return NULL;
        return layer_type_table[t];
}

LayerType layer_type_from_string(const char *s) {
        for (LayerType t = 0; s && t < _LAYER_TYPE_MAX; t++)
                if (streq(s, layer_type_table[t]))
                        return t;
        return _LAYER_TYPE_INVALID;
}

typedef struct Parser Parser;
typedef struct RecipeKey RecipeKey;

struct RecipeKey {
        const char *section;
        const char *key;
        bool repeatable;
        bool allow_empty;
        int (*parse)(Parser *p, const RecipeKey *k, const char *value);
        size_t offset;          /* of the field in Recipe */
        uint64_t min, max;      /* for numbers */
};

struct Parser {
        Recipe *recipe;
        FILE *f;
        const char *display;    /* the recipe path as given, for messages */
        char *dir;              /* the recipe's directory, absolute */
        unsigned line;          /* 0 while applying --set */
        char *buf;              /* the current line, handed to inih piecewise */
        size_t bufsize, buflen, bufpos;
        bool seen_image, seen_content;
        unsigned key_line[32];  /* where each non-repeatable key was set */
        int r;
};

_printf_(5, 6)
static int parser_error(Parser *p, const char *section, const char *key, int err, const char *fmt, ...) {
        _cleanup_free_ char *detail = NULL;
        va_list ap;

        va_start(ap, fmt);
        int n = vasprintf(&detail, fmt, ap);
        va_end(ap);
        if (n < 0)
                return err_set(ENOMEM, "out of memory");

        if (p->line > 0)
                return err_set(err, "%s:%u: [%s] %s: %s", p->display, p->line, section, key, detail);
        return err_set(err, "%s: --set %s.%s: %s", p->display, section, key, detail);
}

static char *parser_path(Parser *p, const char *value) {
        char *s;

        if (value[0] == '/')
                return strdup(value);
        if (asprintf(&s, "%s/%s", p->dir, value) < 0)
                return NULL;
        return s;
}

static bool has_glob(const char *s) {
        return strpbrk(s, "*?[") != NULL;
}

/* Resolves a path value: relative to the recipe's directory; a glob picks the
 * highest version among its matches (strverscmp), so "linux-*.deb" or
 * "/boot/vmlinuz-*" follow upgrades without editing the recipe. */
static int parser_resolve(Parser *p, const RecipeKey *k, const char *value, char **ret) {
        _cleanup_free_ char *path = parser_path(p, value);
        if (!path)
                return err_set(ENOMEM, "out of memory");

        if (has_glob(path)) {
                glob_t g = {};
                int gr = glob(path, 0, NULL, &g);
                if (gr == GLOB_NOMATCH || (gr == 0 && g.gl_pathc == 0)) {
                        globfree(&g);
                        return parser_error(p, k->section, k->key, ENOENT, "no file matches '%s'", path);
                }
                if (gr != 0) {
                        globfree(&g);
                        return parser_error(p, k->section, k->key, EIO, "cannot expand '%s'", path);
                }
                const char *best = g.gl_pathv[0];
                for (size_t i = 1; i < g.gl_pathc; i++)
                        if (strverscmp(g.gl_pathv[i], best) > 0)
                                best = g.gl_pathv[i];
                free(path);
                path = strdup(best);
                globfree(&g);
                if (!path)
                        return err_set(ENOMEM, "out of memory");
        }

        struct stat st;
        if (stat(path, &st) < 0)
                return parser_error(p, k->section, k->key, errno, "'%s': %m", path);

        *ret = TAKE_PTR(path);
        return 0;
}

static int check_charset(Parser *p, const RecipeKey *k, const char *value) {
        static const char allowed[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+~-";

        if (strlen(value) > RECIPE_NAME_MAX)
                return parser_error(p, k->section, k->key, EINVAL, "'%.32s...' is longer than %d characters",
                                    value, RECIPE_NAME_MAX);
        size_t bad = strspn(value, allowed);
        if (value[bad])
                return parser_error(p, k->section, k->key, EINVAL,
                                    "'%s': character '%c' not allowed (use A-Z a-z 0-9 . _ + ~ -)", value, value[bad]);
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", value[0]))
                return parser_error(p, k->section, k->key, EINVAL, "'%s' must start with a letter or digit", value);
        return 0;
}

static char **field_str(Parser *p, const RecipeKey *k) {
        return (char **) ((uint8_t *) p->recipe + k->offset);
}

static int set_string(Parser *p, const RecipeKey *k, char *owned) {
        char **f = field_str(p, k);
        free(*f);
        *f = owned;
        return 0;
}

static int parse_name(Parser *p, const RecipeKey *k, const char *value) {
        int r = check_charset(p, k, value);
        if (r < 0)
                return r;
        char *s = strdup(value);
        if (!s)
                return err_set(ENOMEM, "out of memory");
        return set_string(p, k, s);
}

static int parse_string(Parser *p, const RecipeKey *k, const char *value) {
        char *s = strdup(value);
        if (!s)
                return err_set(ENOMEM, "out of memory");
        return set_string(p, k, s);
}

/* The kernel command line: the same rule as the manifest's boot.cmdline
 * (cmdline_check()), so a recipe the manifest would refuse fails here, with
 * its line, before anything is built. */
static int parse_cmdline(Parser *p, const RecipeKey *k, const char *value) {
        _cleanup_free_ char *what = NULL;
        int r;

        if (strlen(value) > MANIFEST_CMDLINE_MAX)
                return parser_error(p, k->section, k->key, EINVAL, "longer than %d bytes", MANIFEST_CMDLINE_MAX);
        r = p->line > 0 ? asprintf(&what, "%s:%u: [%s] %s", p->display, p->line, k->section, k->key)
                        : asprintf(&what, "%s: --set %s.%s", p->display, k->section, k->key);
        if (r < 0)
                return err_set(ENOMEM, "out of memory");
        r = cmdline_check(what, value);
        if (r < 0)
                return r;
        return parse_string(p, k, value);
}

static int parse_bool(Parser *p, const RecipeKey *k, const char *value) {
        bool *f = (bool *) ((uint8_t *) p->recipe + k->offset);
        if (streq(value, "yes") || streq(value, "true") || streq(value, "1"))
                *f = true;
        else if (streq(value, "no") || streq(value, "false") || streq(value, "0"))
                *f = false;
        else
                return parser_error(p, k->section, k->key, EINVAL, "'%s' is not a boolean (yes or no)", value);
        return 0;
}

/* A command line run inside the image: its program must be an absolute path there. */
static int parse_command(Parser *p, const RecipeKey *k, const char *value) {
        if (value[0] != '/')
                return parser_error(p, k->section, k->key, EINVAL,
                                    "'%s': the program must be an absolute path inside the image", value);
        return parse_string(p, k, value);
}

static int parse_filesystem(Parser *p, const RecipeKey *k, const char *value) {
        if (!streq(value, "erofs") && !streq(value, "squashfs"))
                return parser_error(p, k->section, k->key, EINVAL,
                                    "unknown filesystem '%s' (expected erofs, squashfs)", value);
        return parse_string(p, k, value);
}

static int parse_compression(Parser *p, const RecipeKey *k, const char *value) {
        if (!streq(value, "none") && !streq(value, "lz4") && !streq(value, "lz4hc"))
                return parser_error(p, k->section, k->key, EINVAL,
                                    "unknown compression '%s' (expected none, lz4, lz4hc)", value);
        return parse_string(p, k, value);
}

static int parse_number(Parser *p, const RecipeKey *k, const char *value, uint64_t *ret) {
        char *end;

        errno = 0;
        unsigned long long v = strtoull(value, &end, 10);
        if (!strchr("0123456789", value[0]) || *end || errno == ERANGE)
                return parser_error(p, k->section, k->key, EINVAL, "'%s' is not a number", value);
        if (v < k->min || v > k->max)
                return parser_error(p, k->section, k->key, ERANGE, "%llu is out of range %" PRIu64 "..%" PRIu64,
                                    v, k->min, k->max);
        *ret = v;
        return 0;
}

static int parse_u64(Parser *p, const RecipeKey *k, const char *value) {
        return parse_number(p, k, value, (uint64_t *) ((uint8_t *) p->recipe + k->offset));
}

static int parse_unsigned(Parser *p, const RecipeKey *k, const char *value) {
        uint64_t v;
        int r = parse_number(p, k, value, &v);
        if (r < 0)
                return r;
        *(unsigned *) ((uint8_t *) p->recipe + k->offset) = (unsigned) v;
        return 0;
}

static int parse_file(Parser *p, const RecipeKey *k, const char *value, mode_t type, char **ret) {
        _cleanup_free_ char *path = NULL;
        struct stat st;

        int r = parser_resolve(p, k, value, &path);
        if (r < 0)
                return r;
        if (stat(path, &st) < 0)
                return parser_error(p, k->section, k->key, errno, "'%s': %m", path);
        if (type == S_IFDIR && !S_ISDIR(st.st_mode))
                return parser_error(p, k->section, k->key, ENOTDIR, "'%s' is not a directory", path);
        if (type == S_IFREG && !S_ISREG(st.st_mode))
                return parser_error(p, k->section, k->key, EINVAL, "'%s' is not a regular file", path);
        *ret = TAKE_PTR(path);
        return 0;
}

static int parse_dir(Parser *p, const RecipeKey *k, const char *value) {
        char *path;
        int r = parse_file(p, k, value, S_IFDIR, &path);
        if (r < 0)
                return r;
        return set_string(p, k, path);
}

static int parse_architecture(Parser *p, const RecipeKey *k, const char *value) {
        Architecture a = architecture_from_string(value);
        if (a < 0)
                return parser_error(p, k->section, k->key, EINVAL, "unknown architecture '%s' (expected %s, %s)", value,
                                    architecture_to_string(ARCH_X86_64), architecture_to_string(ARCH_ARM64));
        p->recipe->architecture = a;
        return 0;
}

#define KERNEL_IMAGE_PREFIX "image:"

/* Kernel=image:/boot/vmlinuz-*: a path inside the image, looked up once the layers are staged. */
static int parse_kernel(Parser *p, const RecipeKey *k, const char *value) {
        char *path;
        int r;

        if (strncmp(value, KERNEL_IMAGE_PREFIX, strlen(KERNEL_IMAGE_PREFIX)) == 0) {
                const char *in = value + strlen(KERNEL_IMAGE_PREFIX);
                size_t n = strlen(in);
                if (in[0] != '/' || strstr(in, "/../") || (n >= 3 && streq(in + n - 3, "/..")))
                        return parser_error(p, k->section, k->key, EINVAL,
                                            "'%s': the kernel must be an absolute path inside the image", value);
                if (!(path = strdup(in)))
                        return err_set(ENOMEM, "out of memory");
                p->recipe->boot.kernel_in_image = true;
                return set_string(p, k, path);
        }
        r = parse_file(p, k, value, S_IFREG, &path);
        if (r < 0)
                return r;
        p->recipe->boot.kernel_in_image = false;
        return set_string(p, k, path);
}

static int parse_layer(Parser *p, const RecipeKey *k, const char *value) {
        Recipe *rc = p->recipe;

        if (!*value) {
                /* An empty assignment resets the list, as in systemd unit files. */
                for (size_t i = 0; i < rc->n_layers; i++)
                        free(rc->layers[i].path);
                rc->layers = mfree(rc->layers);
                rc->n_layers = 0;
                return 0;
        }

        const char *colon = strchr(value, ':');
        if (!colon)
                return parser_error(p, k->section, k->key, EINVAL,
                                    "'%s': expected TYPE:PATH (types tree, tar, deb, oci)", value);
        _cleanup_free_ char *tname = strndup(value, colon - value);
        if (!tname)
                return err_set(ENOMEM, "out of memory");
        LayerType t = layer_type_from_string(tname);
        if (t < 0)
                return parser_error(p, k->section, k->key, EINVAL,
                                    "unknown layer type '%s' (expected tree, tar, deb, oci)", tname);
        if (!colon[1])
                return parser_error(p, k->section, k->key, EINVAL, "'%s': empty path", value);

        _cleanup_free_ char *path = NULL;
        int r = parse_file(p, k, colon + 1, (t == LAYER_TREE || t == LAYER_OCI) ? S_IFDIR : S_IFREG, &path);
        if (r < 0)
                return r;
        if (t == LAYER_OCI) {
                _cleanup_free_ char *index = NULL;
                if (asprintf(&index, "%s/index.json", path) < 0)
                        return err_set(ENOMEM, "out of memory");
                if (access(index, F_OK) < 0)
                        return parser_error(p, k->section, k->key, ENOENT,
                                            "'%s' is not an OCI image layout (no index.json)", path);
        }

        RecipeLayer *n = reallocarray(rc->layers, rc->n_layers + 1, sizeof *n);
        if (!n)
                return err_set(ENOMEM, "out of memory");
        rc->layers = n;
        rc->layers[rc->n_layers++] = (RecipeLayer) { .type = t, .path = TAKE_PTR(path), .line = p->line };
        return 0;
}

/* Drops the Binary= (plain false) or File= (plain true) entries. */
static void recipe_binaries_clear(Recipe *rc, bool plain) {
        size_t kept = 0;
        for (size_t i = 0; i < rc->n_binaries; i++) {
                if (rc->binaries[i].plain != plain) {
                        rc->binaries[kept++] = rc->binaries[i];
                        continue;
                }
                free(rc->binaries[i].source);
                free(rc->binaries[i].dest);
        }
        rc->n_binaries = kept;
        if (kept == 0)
                rc->binaries = mfree(rc->binaries);
}

static int parse_binary(Parser *p, const RecipeKey *k, const char *value) {
        Recipe *rc = p->recipe;
        bool plain = streq(k->key, "File");
        struct stat st;

        if (!*value) {
                recipe_binaries_clear(rc, plain);
                return 0;
        }
        /* SOURCE[:DEST]: without DEST the program lands at its own path in the image. */
        _cleanup_free_ char *source = strdup(value);
        if (!source)
                return err_set(ENOMEM, "out of memory");
        char *colon = strchr(source, ':');
        const char *dest = source;
        if (colon) {
                *colon = 0;
                dest = colon + 1;
                if (dest[0] != '/' || strstr(dest, "/../") || endswith(dest, "/..") || endswith(dest, "/"))
                        return parser_error(p, k->section, k->key, EINVAL,
                                            "'%s': the destination must be an absolute file path in the image", dest);
        }
        value = source;
        if (value[0] != '/')
                return parser_error(p, k->section, k->key, EINVAL, "'%s' is not an absolute path", value);
        if (has_glob(value))
                return parser_error(p, k->section, k->key, EINVAL, "'%s': globs are not allowed here", value);
        if (stat(value, &st) < 0)
                return parser_error(p, k->section, k->key, errno, "'%s': %m", value);
        if (plain && !S_ISREG(st.st_mode))
                return parser_error(p, k->section, k->key, EINVAL, "'%s' is not a regular file", value);
        if (!plain && (!S_ISREG(st.st_mode) || access(value, X_OK) < 0))
                return parser_error(p, k->section, k->key, EINVAL, "'%s' is not an executable file", value);

        RecipeBinary *n = reallocarray(rc->binaries, rc->n_binaries + 1, sizeof *n);
        if (!n)
                return err_set(ENOMEM, "out of memory");
        rc->binaries = n;
        RecipeBinary b = { .source = strdup(source), .dest = strdup(dest), .plain = plain };
        if (!b.source || !b.dest) {
                free(b.source);
                free(b.dest);
                return err_set(ENOMEM, "out of memory");
        }
        rc->binaries[rc->n_binaries++] = b;
        return 0;
}

#define F(field) offsetof(Recipe, field)
static const RecipeKey keys[] = {
        { "Image",   "Name",             false, false, parse_name,       F(name) },
        { "Image",   "Version",          false, false, parse_name,       F(version) },
        { "Image",   "Compatible",       false, false, parse_name,       F(compatible) },
        { "Image",   "Filesystem",       false, false, parse_filesystem, F(filesystem) },
        { "Image",   "Compression",      false, false, parse_compression, F(compression) },
        { "Image",   "Architecture",     false, false, parse_architecture, 0 },
        { "Image",   "SecurityVersion",  false, false, parse_u64,        F(security_version), 0, INT64_MAX },
        { "Content", "Layer",            true,  true,  parse_layer,      0 },
        { "Content", "Binary",           true,  true,  parse_binary,     0 },
        { "Content", "File",             true,  true,  parse_binary,     0 },
        { "Agent",   "Name",             false, false, parse_name,       F(agent.name) },
        { "Agent",   "Source",           false, false, parse_dir,        F(agent.source) },
        { "Agent",   "Exec",             false, false, parse_command,    F(agent.exec) },
        { "Agent",   "Health",           false, false, parse_command,    F(agent.health) },
        { "Agent",   "HealthTimeoutSec", false, false, parse_unsigned,   F(agent.health_timeout_sec), 1, 3600 },
        { "Boot",    "Kernel",           false, false, parse_kernel,     F(boot.kernel) },
        { "Boot",    "Cmdline",          false, true,  parse_cmdline,    F(boot.cmdline) },
        { "Boot",    "Tries",            false, false, parse_unsigned,   F(boot.tries), 1, 16 },
        { "Boot",    "UKI",              false, false, parse_bool,       F(boot.uki) },
};
#undef F

_Static_assert(ELEMENTSOF(keys) <= 32, "Parser.key_line too small");

static int section_mark(Parser *p, const char *section) {
        if (streq(section, "Image"))
                p->seen_image = true;
        else if (streq(section, "Content"))
                p->seen_content = true;
        else if (streq(section, "Agent"))
                p->recipe->agent.present = true;
        else if (streq(section, "Boot"))
                p->recipe->boot.present = true;
        else
                return -ENOENT;
        return 0;
}

static int unknown_section(Parser *p, const char *section) {
        if (p->line > 0)
                return err_set(EINVAL, "%s:%u: unknown section [%s] (expected Image, Content, Agent, Boot)",
                               p->display, p->line, section);
        return err_set(EINVAL, "%s: --set %s: unknown section [%s] (expected Image, Content, Agent, Boot)",
                       p->display, section, section);
}

static int parser_assign(Parser *p, const char *section, const char *key, const char *value) {
        if (!*section)
                return err_set(EINVAL, "%s:%u: %s= outside of a section", p->display, p->line, key);
        if (section_mark(p, section) < 0)
                return unknown_section(p, section);

        for (size_t i = 0; i < ELEMENTSOF(keys); i++) {
                const RecipeKey *k = keys + i;
                if (!streq(k->section, section) || !streq(k->key, key))
                        continue;

                if (!*value && !k->allow_empty)
                        return parser_error(p, section, key, EINVAL, "empty value");
                /* In the file a key is given once; --set (line 0) replaces it. */
                if (!k->repeatable && p->line > 0) {
                        if (p->key_line[i] > 0)
                                return parser_error(p, section, key, EEXIST, "already set on line %u",
                                                    p->key_line[i]);
                        p->key_line[i] = p->line;
                }
                return k->parse(p, k, value);
        }
        return parser_error(p, section, key, EINVAL, "unknown key");
}

static int parser_handler(void *user, const char *section, const char *name, const char *value) {
        Parser *p = user;

        if (p->r < 0)
                return 0;
        p->r = parser_assign(p, section, name, value);
        return p->r >= 0;
}

/* Fed to inih line by line so that the handler knows the line number (this
 * libinih is built without INI_HANDLER_LINENO); also catches section headers,
 * which inih does not report when the section has no keys. */
static char *parser_reader(char *str, int num, void *stream) {
        Parser *p = stream;

        if (p->r < 0 || num < 2)
                return NULL;

        if (p->bufpos >= p->buflen) {
                ssize_t n = getline(&p->buf, &p->bufsize, p->f);
                if (n < 0)
                        return NULL;
                p->line++;
                p->buflen = n;
                p->bufpos = 0;
                if (strlen(p->buf) != (size_t) n) {
                        p->r = err_set(EINVAL, "%s:%u: NUL byte in line", p->display, p->line);
                        return NULL;
                }

                const char *s = p->buf + strspn(p->buf, " \t");
                const char *e = s[0] == '[' ? strchr(s, ']') : NULL;
                if (e) {
                        _cleanup_free_ char *name = strndup(s + 1, e - s - 1);
                        if (!name) {
                                p->r = err_set(ENOMEM, "out of memory");
                                return NULL;
                        }
                        if (section_mark(p, name) < 0) {
                                p->r = unknown_section(p, name);
                                return NULL;
                        }
                }
        }

        size_t n = MIN(p->buflen - p->bufpos, (size_t) num - 1);
        memcpy(str, p->buf + p->bufpos, n);
        str[n] = 0;
        p->bufpos += n;
        return str;
}

static int parser_override(Parser *p, const char *assignment) {
        const char *eq = strchr(assignment, '=');
        const char *dot = eq ? memchr(assignment, '.', eq - assignment) : NULL;

        if (!eq || !dot || dot == assignment || dot + 1 == eq)
                return err_set(EINVAL, "--set '%s': expected Section.Key=Value", assignment);

        _cleanup_free_ char *section = strndup(assignment, dot - assignment);
        _cleanup_free_ char *key = strndup(dot + 1, eq - dot - 1);
        if (!section || !key)
                return err_set(ENOMEM, "out of memory");
        p->line = 0;
        return parser_assign(p, section, key, eq + 1);
}

static int recipe_check(Parser *p) {
        Recipe *rc = p->recipe;

        if (!p->seen_image)
                return err_set(EINVAL, "%s: [Image] section missing (Name=, Version=, Compatible= are required)",
                               p->display);
        const struct { const char *section, *key; const char *value; } required[] = {
                { "Image", "Name", rc->name },
                { "Image", "Version", rc->version },
                { "Image", "Compatible", rc->compatible },
                { "Agent", "Name", rc->agent.present ? rc->agent.name : "" },
                { "Agent", "Exec", rc->agent.present ? rc->agent.exec : "" },
                { "Agent", "Health", rc->agent.present ? rc->agent.health : "" },
                { "Boot", "Kernel", rc->boot.present ? rc->boot.kernel : "" },
        };
        for (size_t i = 0; i < ELEMENTSOF(required); i++)
                if (!required[i].value)
                        return err_set(EINVAL, "%s: [%s] %s= is required", p->display, required[i].section,
                                       required[i].key);
        if (rc->n_layers == 0)
                return err_set(EINVAL, "%s: [Content] at least one Layer= is required", p->display);
        /* The build machine's kernel has the build machine's modules: both must come from the layers. */
        if (rc->boot.present && !rc->boot.kernel_in_image && rc->architecture != architecture_native())
                return err_set(EINVAL, "%s: [Boot] Kernel= must be image:PATH (a kernel from the layers) "
                               "when [Image] Architecture=%s is not the build machine's", p->display,
                               architecture_to_string(rc->architecture));
        /* arm64 images boot through U-Boot (abide-build disk, docs/uboot.md), whose script counts one digit:
         * every device would refuse to install the bundle. */
        if (rc->architecture == ARCH_ARM64 && rc->boot.tries > UBOOT_TRIES_MAX)
                return err_set(EINVAL, "%s: [Boot] Tries=%u: an arm64 image boots through U-Boot, whose boot script "
                               "counts at most %u tries", p->display, rc->boot.tries, UBOOT_TRIES_MAX);
        return 0;
}

static int parser_init_dir(Parser *p, const char *path) {
        _cleanup_free_ char *copy = strdup(path);
        if (!copy)
                return err_set(ENOMEM, "out of memory");
        char *slash = strrchr(copy, '/');
        const char *dir = slash ? (slash == copy ? "/" : (*slash = 0, copy)) : ".";
        p->dir = realpath(dir, NULL);
        if (!p->dir)
                return err_set(errno, "%s: %m", dir);
        return 0;
}

int recipe_load(const char *path, char *const *overrides, Recipe **ret) {
        _cleanup_(recipe_freep) Recipe *rc = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        Parser p = { .display = path };
        int r;

        f = fopen(path, "re");
        if (!f)
                return err_set(errno, "%s: %m", path);
        struct stat st;
        if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode))
                return err_set(EISDIR, "%s: is a directory, not a recipe", path);

        rc = calloc(1, sizeof *rc);
        if (!rc)
                return err_set(ENOMEM, "out of memory");
        rc->architecture = architecture_native();
        rc->path = strdup(path);
        if (!rc->path)
                return err_set(ENOMEM, "out of memory");
        rc->agent.health_timeout_sec = 60;
        rc->boot.tries = 3;
        p.recipe = rc;
        p.f = f;

        r = parser_init_dir(&p, path);
        if (r < 0)
                goto finish;

        /* The options are process-wide in this libinih: set for this parse, then restored. */
        bool saved_multiline = ini_allow_multiline, saved_inline = ini_allow_inline_comments,
             saved_stack = ini_use_stack, saved_realloc = ini_allow_realloc, saved_stop = ini_stop_on_first_error;
        char *saved_inline_prefixes = ini_inline_comment_prefixes, *saved_start_prefixes = ini_start_comment_prefixes;
        int saved_max_line = ini_max_line;

        ini_allow_multiline = false;
        ini_allow_inline_comments = true;
        ini_inline_comment_prefixes = (char *) "#;";
        ini_start_comment_prefixes = (char *) "#;";
        ini_use_stack = false;
        ini_allow_realloc = true;
        ini_max_line = RECIPE_MAX_LINE;
        ini_stop_on_first_error = true;

        int line = ini_parse_stream(parser_reader, &p, parser_handler, &p);

        ini_allow_multiline = saved_multiline;
        ini_allow_inline_comments = saved_inline;
        ini_inline_comment_prefixes = saved_inline_prefixes;
        ini_start_comment_prefixes = saved_start_prefixes;
        ini_use_stack = saved_stack;
        ini_allow_realloc = saved_realloc;
        ini_max_line = saved_max_line;
        ini_stop_on_first_error = saved_stop;
        if (p.r < 0) {
                r = p.r;
                goto finish;
        }
        if (ferror(f)) {
                r = err_set(EIO, "%s: read error", path);
                goto finish;
        }
        if (line > 0) {
                r = err_set(EINVAL, "%s:%d: syntax error (expected [Section], Key=Value or a comment)", path, line);
                goto finish;
        }
        if (line < 0) {
                r = err_set(ENOMEM, "%s: out of memory", path);
                goto finish;
        }

        for (char *const *o = overrides; o && *o; o++) {
                r = parser_override(&p, *o);
                if (r < 0)
                        goto finish;
        }

        r = recipe_check(&p);
        if (r < 0)
                goto finish;
        /* Known only now: Architecture= may follow the layers, or come from --set. */
        for (size_t i = 0; i < rc->n_layers; i++)
                rc->layers[i].architecture = rc->architecture;
        if (!rc->filesystem && !(rc->filesystem = strdup("erofs"))) {
                r = err_set(ENOMEM, "out of memory");
                goto finish;
        }
        /* squashfs is always zstd-compressed (and no option helps its deltas: docs/recipe.md). */
        if (rc->compression && !streq(rc->compression, "none") && !streq(rc->filesystem, "erofs")) {
                r = err_set(EINVAL, "%s: [Image] Compression=%s needs Filesystem=erofs", rc->path, rc->compression);
                goto finish;
        }

        *ret = TAKE_PTR(rc);
        r = 0;
finish:
        free(p.dir);
        free(p.buf);
        return r;
}

Recipe *recipe_free(Recipe *r) {
        if (!r)
                return NULL;
        free(r->path);
        free(r->name);
        free(r->version);
        free(r->compatible);
        free(r->filesystem);
        free(r->compression);
        for (size_t i = 0; i < r->n_layers; i++)
                free(r->layers[i].path);
        free(r->layers);
        recipe_binaries_clear(r, false);
        recipe_binaries_clear(r, true);
        free(r->agent.name);
        free(r->agent.source);
        free(r->agent.exec);
        free(r->agent.health);
        free(r->boot.kernel);
        free(r->boot.cmdline);
        free(r);
        return NULL;
}
