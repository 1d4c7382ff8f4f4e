/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/opt-error.h"
#include "basic/progress.h"
#include "basic/rm-rf.h"
#include "build-context.h"
#include "build-guard.h"
#include "bundle/bundle.h"
#include "crypto/signer.h"
#include "crypto/verity-sig.h"
#include "image/image-info.h"
#include "mkfs.h"
#include "uki.h"
#include "verb.h"
#include "verity/verity.h"

static void help(void) {
        printf("Usage: abide-build build RECIPE --key KEY --cert CERT [-o DIR] [--set SECTION.KEY=VALUE...]\n\n"
               "Builds the recipe's read-only root image, its dm-verity hash tree and signed\n"
               "root hash, and packs them with the kernel and initramfs into the signed bundle\n"
               "DIR/<name>-<version>.abide (DIR defaults to the current directory).\n\n"
               "  --key KEY        PEM private key of the release signing certificate\n"
               "  --cert CERT      PEM signing certificate (embedded in the signatures)\n"
               "  -o, --output DIR where the bundle goes\n"
               "  --ca CA          release CA (PEM) baked into the image's /etc/abide/keys and\n"
               "                   the initramfs; needed when the recipe has [Boot]\n"
               "  --init PATH      abide-init for the initramfs (default $ABIDE_INIT, then\n"
               "                   " ABIDE_INIT_DEFAULT ")\n"
               "  --set S.K=V      override a recipe key, e.g. --set Image.Version=1.2.3\n"
               "  --secure-boot-key KEY, --secure-boot-cert CERT\n"
               "                   Secure Boot db key and certificate (keygen --secure-boot):\n"
               "                   with [Boot] UKI=yes, a signed UKI per slot goes in the bundle\n"
               "                   (abide-a.efi, abide-b.efi; docs/secure-boot.md)\n\n"
               "SOURCE_DATE_EPOCH, when set, fixes every timestamp, the signatures' signing time\n"
               "too (the UKIs' included): equal inputs give an equal bundle with RSA keys (ECDSA\n"
               "signatures differ every time).\n");
}

static int build_date_now(time_t *ret) {
        const char *e = getenv("SOURCE_DATE_EPOCH");
        if (!e || !*e) {
                *ret = time(NULL);
                return 0;
        }
        char *end;
        errno = 0;
        long long v = strtoll(e, &end, 10);
        if (errno != 0 || *end || v < 0 || v > 253402300799LL)
                return err_set(EINVAL, "SOURCE_DATE_EPOCH='%s' is not a UNIX time", e);
        *ret = (time_t) v;
        return 0;
}

static int write_verity_sig(Signer *s, const char *root_hash, const char *path) {
        _cleanup_free_ uint8_t *sig = NULL;
        _cleanup_free_ char *buf = NULL;
        char fpr[SHA256_HEX_SIZE];
        size_t sig_len, len;
        int r;

        r = signer_sign_pkcs7(s, root_hash, strlen(root_hash), &sig, &sig_len);
        if (r < 0)
                return err_prefix(r, "signing the root hash");
        r = signer_cert_fingerprint(s, fpr);
        if (r < 0)
                return r;
        VeritySig vs = {
                .root_hash = (char *) root_hash,
                .fingerprint = fpr,
                .signature = sig,
                .signature_size = sig_len,
        };
        r = verity_sig_format(&vs, &buf, &len);
        if (r < 0)
                return r;
        return write_file_atomic(path, buf, len, 0644);
}

static int add_payload(Manifest *m, const char *name, PayloadRole role, const char *path, const uint8_t *known_digest) {
        Payload *p = &m->payloads[m->n_payloads];
        struct stat st;
        int r;

        if (stat(path, &st) < 0)
                return err_set(errno, "%s: %m", path);
        if (!S_ISREG(st.st_mode))
                return err_set(EINVAL, "%s: not a regular file", path);
        if (known_digest)
                memcpy(p->sha256, known_digest, SHA256_DIGEST_SIZE);
        else {
                r = sha256_file(path, p->sha256, NULL);
                if (r < 0)
                        return err_prefix(r, "hashing %s", path);
        }
        p->name = strdup(name);
        if (!p->name)
                return -ENOMEM;
        p->role = role;
        p->size = (uint64_t) st.st_size;
        m->n_payloads++;
        return 0;
}

/* Signs the manifest, padded (bundle_manifest_pad()) so that the root image
 * starts on a file system block inside the bundle: bundle_write_in_place() then
 * builds the bundle around the image instead of copying it. Returns 1 when
 * aligned, 0 when not (the bundle is then copied, same format). The signature's
 * signingTime is the build date, so SOURCE_DATE_EPOCH fixes it too. */
static int sign_manifest(Signer *s, const Manifest *m, time_t build_date, char **json, size_t *json_len,
                         uint8_t **sig, size_t *sig_len) {
        int r;

        for (unsigned tries = 0;; tries++) {
                uint64_t off;

                free(*sig);
                *sig = NULL;
                r = signer_sign_cms(s, *json, *json_len, build_date, sig, sig_len);
                if (r < 0)
                        return err_prefix(r, "signing the manifest");
                r = bundle_first_payload_offset(m, *json_len, *sig_len, &off);
                if (r < 0)
                        return r;
                if (off % BUNDLE_INSERT_ALIGN == 0)
                        return 1;
                /* A signature of another size can move it again (ECDSA's DER
                 * integers vary by a byte): a few tries. */
                if (tries == 3)
                        return 0;
                r = bundle_manifest_pad(json, json_len, off, BUNDLE_INSERT_ALIGN);
                if (r == -EFBIG) {
                        err_clear();
                        return 0;
                }
                if (r < 0)
                        return r;
        }
}

static int format_date(time_t t, char **ret) {
        struct tm tm;
        char buf[32];

        if (!gmtime_r(&t, &tm) || strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
                return err_set(EINVAL, "cannot format build date %lld", (long long) t);
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

static bool path_is_below(const char *path, const char *dir) {
        size_t n = strlen(dir);
        if (streq(dir, "/"))
                return true;
        return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == 0);
}

/* A directory copied into the image must not hold the output directory: the build's
 * work directory (with the staging tree being filled) would be copied into itself
 * until paths grew too long, and earlier bundles would land in the image. */
static int check_output_outside_trees(const Recipe *recipe, const char *outdir) {
        _cleanup_free_ char *out = realpath(outdir, NULL);
        if (!out)
                return err_set(errno, "output directory %s: %m", outdir);

        for (size_t i = 0; i <= recipe->n_layers; i++) {
                bool agent = i == recipe->n_layers;
                const char *dir = agent ? recipe->agent.source : recipe->layers[i].path;
                if (!dir || (!agent && recipe->layers[i].type != LAYER_TREE))
                        continue;
                _cleanup_free_ char *real = realpath(dir, NULL);
                if (!real)
                        return err_set(errno, "%s %s: %m", agent ? "[Agent] Source" : "layer tree:", dir);
                if (path_is_below(out, real))
                        return err_set(ELOOP, "the output directory %s is inside %s%s: the build would copy itself into the image",
                                       outdir, agent ? "[Agent] Source " : "layer tree:", dir);
        }
        return 0;
}

typedef struct BuildArgs {
        const char *recipe;
        char **sets;
        const char *key, *cert, *ca, *init, *outdir;
        const char *sb_key, *sb_cert;
} BuildArgs;

/* The signed UKIs of both slots, in the work directory, as payloads uki-a and uki-b. */
static int add_ukis(Manifest *m, const BuildContext *ctx, const BuildArgs *a, const char *stub,
                    char *ret_paths[static 2]) {
        static const struct {
                const char *slot, *name;
                PayloadRole role;
        } ukis[] = {
                { "a", "abide-a.efi", PAYLOAD_UKI_A },
                { "b", "abide-b.efi", PAYLOAD_UKI_B },
        };
        _cleanup_free_ char *osrel = NULL;
        int r;

        r = uki_os_release(ctx->recipe->name, ctx->recipe->version, &osrel);
        if (r < 0)
                return r;
        for (size_t i = 0; i < ELEMENTSOF(ukis); i++) {
                UkiInputs in = {
                        .stub = stub,
                        .kernel = ctx->kernel_path,
                        .initrd = ctx->initrd_path,
                        .cmdline = ctx->recipe->boot.cmdline,
                        .os_release = osrel,
                        .key = a->sb_key,
                        .cert = a->sb_cert,
                        .signing_time = ctx->epoch,
                };
                if (asprintf(&ret_paths[i], "%s/%s", ctx->workdir, ukis[i].name) < 0)
                        return -ENOMEM;
                progress_step("abide-build: signed UKI for slot %s", ukis[i].slot);
                r = uki_build(&in, ukis[i].slot, ctx->workdir, ret_paths[i]);
                if (r < 0)
                        return err_prefix(r, "UKI for slot %s", ukis[i].slot);
                r = add_payload(m, ukis[i].name, ukis[i].role, ret_paths[i], NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* _cleanup_free_ on an array frees only its first element. */
static void free_uki_paths(char *(*a)[2]) {
        free((*a)[0]);
        free((*a)[1]);
}

static int build(const BuildArgs *a) {
        _cleanup_(signer_freep) Signer *signer = NULL;
        _cleanup_(recipe_freep) Recipe *recipe = NULL;
        _cleanup_(manifest_freep) Manifest *m = NULL;
        _cleanup_(build_context_freep) BuildContext *ctx = NULL;
        _cleanup_free_ char *json = NULL, *bundle_path = NULL, *seed = NULL, *stub = NULL;
        _cleanup_(free_uki_paths) char *uki_paths[2] = {};
        _cleanup_free_ uint8_t *sig = NULL;
        uint8_t root_digest[SHA256_DIGEST_SIZE] = {};
        char uuid[37];
        size_t json_len, sig_len;
        time_t epoch = 0;
        int r;

        /* Cheap checks first: a bad key or recipe must not cost a build. */
        r = signer_load(a->key, a->cert, &signer);
        if (r < 0)
                return r;
        /* Devices refuse anything else; fail the pipeline, not the fleet. */
        r = signer_check_release(signer);
        if (r < 0)
                return r;
        r = recipe_load(a->recipe, a->sets, &recipe);
        if (r < 0)
                return r;
        if (recipe->boot.present && !a->ca)
                return err_set(EINVAL, "the recipe has [Boot]: --ca is needed for the initramfs");
        if (recipe->boot.present && access(a->init, X_OK) < 0)
                return err_set(errno, "abide-init %s: %m (set --init or $ABIDE_INIT)", a->init);
        if (recipe->boot.uki != !!a->sb_key || !a->sb_key != !a->sb_cert)
                return err_set(EINVAL, recipe->boot.uki
                                               ? "the recipe has [Boot] UKI=yes: --secure-boot-key and --secure-boot-cert are needed"
                                               : "--secure-boot-key and --secure-boot-cert go together, with [Boot] UKI=yes in the recipe");
        if (recipe->boot.uki) {
                r = uki_find_stub(recipe->architecture, &stub);
                if (r < 0)
                        return r;
                if (access(a->sb_key, R_OK) < 0 || access(a->sb_cert, R_OK) < 0)
                        return err_set(errno, "Secure Boot key %s or certificate %s: %m", a->sb_key, a->sb_cert);
                /* What sbsign would refuse only once the image is made: not a key, or not the certificate's. */
                _cleanup_(signer_freep) Signer *sb = NULL;
                r = signer_load(a->sb_key, a->sb_cert, &sb);
                if (r < 0)
                        return err_prefix(r, "Secure Boot key");
        }
        r = build_date_now(&epoch);
        if (r < 0)
                return r;
        bool made_outdir = mkdir(a->outdir, 0755) >= 0;
        if (!made_outdir && errno != EEXIST)
                return err_set(errno, "cannot create output directory %s: %m", a->outdir);
        if (asprintf(&bundle_path, "%s/%s-%s" BUNDLE_SUFFIX, a->outdir, recipe->name, recipe->version) < 0)
                return -ENOMEM;
        r = check_output_outside_trees(recipe, a->outdir);
        if (r < 0) {
                if (made_outdir)
                        (void) rmdir(a->outdir);
                return r;
        }

        /* The output directory is the caller's. What the build creates without a mode from the
         * layers (the image's "/", directories a tar implies without entries of their own,
         * /usr/lib/abide) would otherwise take the caller's umask: under umask 077 the
         * image's "/" was 0700. */
        (void) umask(022);
        r = build_context_new(a->outdir, recipe, epoch, &ctx);
        if (r < 0)
                return r;
        r = build_guard(ctx->workdir);
        if (r < 0)
                return r;

        ctx->ca_path = a->ca;
        ctx->secure_boot_cert_path = a->sb_cert;
        ctx->init_path = a->init;
        r = build_context_compose(ctx);
        if (r < 0)
                return r;

        if (asprintf(&seed, "%s\n%s\n%s\n%" PRIu64 "\n%lld", recipe->name, recipe->version, recipe->compatible,
                     recipe->security_version, (long long) epoch) < 0)
                return -ENOMEM;
        r = mkfs_derive_uuid(ctx->staging, seed, uuid);
        if (r < 0)
                return r;
        /* The build id names this exact content: the filesystem UUID derived from it. */
        r = image_write_info(recipe, uuid, ctx->staging);
        if (r < 0)
                return r;
        progress_step("abide-build: making the %s image", recipe->filesystem);
        r = mkfs_image(recipe->filesystem, recipe->compression, ctx->staging, ctx->staging_linked,
                       ctx->root_path, epoch, uuid);
        if (r < 0)
                return r;

        m = calloc(1, sizeof *m);
        if (!m)
                return -ENOMEM;
        m->payloads = calloc(MANIFEST_PAYLOADS_MAX, sizeof *m->payloads);
        if (!m->payloads)
                return -ENOMEM;

        progress_step("abide-build: computing dm-verity");
        /* Block sizes and algorithm; the UUID comes from the image digest, which
         * is computed beside the tree (verity_format_derive_uuid()). */
        verity_params_derive(root_digest, &m->verity);
        /* One salt per product line, so delta installs can match blocks across releases by leaf hash. */
        r = verity_params_set_salt_for(&m->verity, recipe->compatible);
        if (r < 0)
                return r;
        r = verity_format_derive_uuid(ctx->root_path, ctx->verity_path, &m->verity, root_digest);
        if (r < 0)
                return r;
        r = write_verity_sig(signer, m->verity.root_hash, ctx->verity_sig_path);
        if (r < 0)
                return r;

        m->format = MANIFEST_FORMAT;
        m->name = strdup(recipe->name);
        m->version = strdup(recipe->version);
        m->compatible = strdup(recipe->compatible);
        m->filesystem = strdup(recipe->filesystem);
        m->cmdline = strdup(recipe->boot.present && recipe->boot.cmdline ? recipe->boot.cmdline : "");
        if (!m->name || !m->version || !m->compatible || !m->filesystem || !m->cmdline)
                return -ENOMEM;
        m->security_version = recipe->security_version;
        m->architecture = recipe->architecture;
        m->tries = recipe->boot.present && recipe->boot.tries > 0 ? recipe->boot.tries : 3;
        r = format_date(epoch, &m->build_date);
        if (r < 0)
                return r;

        const char *paths[MANIFEST_PAYLOADS_MAX];
        r = add_payload(m, "root.img", PAYLOAD_ROOT, ctx->root_path, root_digest);
        if (r >= 0)
                r = add_payload(m, "root.verity", PAYLOAD_VERITY, ctx->verity_path, NULL);
        if (r >= 0)
                r = add_payload(m, "root.verity-sig", PAYLOAD_VERITY_SIG, ctx->verity_sig_path, NULL);
        paths[0] = ctx->root_path;
        paths[1] = ctx->verity_path;
        paths[2] = ctx->verity_sig_path;
        if (r >= 0 && ctx->kernel_path) {
                paths[m->n_payloads] = ctx->kernel_path;
                r = add_payload(m, "vmlinuz", PAYLOAD_KERNEL, ctx->kernel_path, NULL);
        }
        if (r >= 0 && ctx->initrd_path) {
                paths[m->n_payloads] = ctx->initrd_path;
                r = add_payload(m, "initrd", PAYLOAD_INITRD, ctx->initrd_path, NULL);
        }
        if (r >= 0 && recipe->boot.uki) {
                size_t first = m->n_payloads;
                r = add_ukis(m, ctx, a, stub, uki_paths);
                for (size_t i = 0; r >= 0 && i < ELEMENTSOF(uki_paths); i++)
                        paths[first + i] = uki_paths[i];
        }
        if (r < 0)
                return r;

        r = manifest_validate(m);
        if (r < 0)
                return err_prefix(r, "built manifest is invalid");
        r = manifest_to_json(m, &json, &json_len);
        if (r < 0)
                return r;
        int aligned = sign_manifest(signer, m, epoch, &json, &json_len, &sig, &sig_len);
        if (aligned < 0)
                return aligned;

        progress_step("abide-build: writing %s", bundle_path);
        r = -EOPNOTSUPP;
        if (aligned)
                r = bundle_write_in_place(bundle_path, m, json, json_len, sig, sig_len, paths);
        if (r == -EOPNOTSUPP) {
                err_clear();
                r = bundle_write(bundle_path, m, json, json_len, sig, sig_len, paths);
        }
        if (r < 0)
                return r;

        printf("%s\n", bundle_path);
        return 0;
}

int verb_build(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "key", required_argument, NULL, 'k' },
                { "cert", required_argument, NULL, 'c' },
                { "output", required_argument, NULL, 'o' },
                { "set", required_argument, NULL, 's' },
                { "ca", required_argument, NULL, 'C' },
                { "init", required_argument, NULL, 'i' },
                { "secure-boot-key", required_argument, NULL, 'K' },
                { "secure-boot-cert", required_argument, NULL, 'E' },
                {},
        };
        _cleanup_free_ char **sets = calloc((size_t) argc + 1, sizeof(char *));
        BuildArgs a = { .sets = sets, .outdir = ".", .init = getenv("ABIDE_INIT") };
        size_t n_sets = 0;
        int c;

        if (!sets)
                return -ENOMEM;
        optind = 0;
        while ((c = getopt_long(argc, argv, ":ho:", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case 'k':
                        a.key = optarg;
                        break;
                case 'c':
                        a.cert = optarg;
                        break;
                case 'C':
                        a.ca = optarg;
                        break;
                case 'i':
                        a.init = optarg;
                        break;
                case 'o':
                        a.outdir = optarg;
                        break;
                case 'K':
                        a.sb_key = optarg;
                        break;
                case 'E':
                        a.sb_cert = optarg;
                        break;
                case 's':
                        sets[n_sets++] = optarg;
                        break;
                default:
                        return opt_error(c, argv, options, "abide-build build --help");
                }
        if (optind != argc - 1)
                return err_set(EINVAL, "expected one RECIPE argument (see abide-build build --help)");
        if (!a.key || !a.cert)
                return err_set(EINVAL, "--key and --cert are required");
        if (!a.init || !*a.init)
                a.init = ABIDE_INIT_DEFAULT;
        a.recipe = argv[optind];
        return build(&a);
}
