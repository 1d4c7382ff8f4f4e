/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/opt-error.h"
#include "basic/progress.h"
#include "bundle/bundle.h"
#include "crypto/trust.h"
#include "verb.h"

static void help(void) {
        printf("Usage: abide-build inspect BUNDLE [--cert CA] [--json]\n\n"
               "Prints a bundle's manifest. With --cert, also verifies the manifest signature\n"
               "against CA (a PEM file or a directory of them) and streams every payload\n"
               "checking its size and SHA-256; any mismatch fails with the reason.\n\n"
               "  --cert CA   trusted CA certificate(s)\n"
               "  --json      print {\"manifest\": {...}, \"verified\": bool, \"signer\": str|null}\n");
}

static int verify_payloads(BundleReader *b) {
        const Payload *p;
        static uint8_t buf[1 << 20];
        int r;

        while ((r = bundle_reader_next(b, &p)) > 0) {
                uint64_t done = 0;
                ssize_t n;

                progress_begin(p->name, p->size);
                while ((n = bundle_reader_read(b, buf, sizeof buf)) > 0) {
                        done += (uint64_t) n;
                        progress_update(done);
                }
                progress_end();
                if (n < 0)
                        return (int) n;
        }
        return r;
}

static void print_human(const char *path, const Manifest *m, const char *signer) {
        char hex[SHA256_HEX_SIZE];

        printf("Bundle:           %s\n", path);
        printf("Name:             %s\n", m->name);
        printf("Version:          %s\n", m->version);
        printf("Compatible:       %s\n", m->compatible);
        printf("Build date:       %s\n", m->build_date);
        printf("Security version: %" PRIu64 "\n", m->security_version);
        printf("Filesystem:       %s\n", m->filesystem);
        printf("Architecture:     %s\n", architecture_to_string(m->architecture));
        printf("Cmdline:          %s\n", m->cmdline);
        printf("Tries:            %u\n", m->tries);
        printf("Verity:           %s, %" PRIu32 "/%" PRIu32 " byte blocks, %" PRIu64 " data blocks\n",
               m->verity.hash_algorithm, m->verity.data_block_size, m->verity.hash_block_size, m->verity.data_blocks);
        printf("  root hash:      %s\n", m->verity.root_hash);
        hex_encode(m->verity.salt, m->verity.salt_size, hex);
        printf("  salt:           %s\n", hex);
        printf("  uuid:           %s\n", m->verity.uuid);
        printf("Payloads:\n");
        for (size_t i = 0; i < m->n_payloads; i++) {
                hex_encode(m->payloads[i].sha256, SHA256_DIGEST_SIZE, hex);
                printf("  %-16s %-10s %12" PRIu64 "  %s\n", m->payloads[i].name,
                       payload_role_to_string(m->payloads[i].role), m->payloads[i].size, hex);
        }
        if (signer)
                printf("Signature:        verified, signed by %s; all payloads match\n", signer);
        else
                printf("Signature:        not verified (no --cert)\n");
}

DEFINE_TRIVIAL_CLEANUP_FUNC(json_object *, json_object_put);

static int print_json(BundleReader *b, const char *signer) {
        size_t len;
        const char *text = bundle_reader_manifest_json(b, &len);
        _cleanup_(json_object_putp) json_object *root = json_object_new_object();
        json_object *manifest = json_tokener_parse(text);

        if (!root || !manifest) {
                json_object_put(manifest);
                return -ENOMEM;
        }
        json_object_object_add(root, "manifest", manifest);
        json_object_object_add(root, "verified", json_object_new_boolean(signer != NULL));
        json_object_object_add(root, "signer", signer ? json_object_new_string(signer) : NULL);
        printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                                                                  JSON_C_TO_STRING_NOSLASHESCAPE));
        return 0;
}

int verb_inspect(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "cert", required_argument, NULL, 'c' },
                { "json", no_argument, NULL, 'j' },
                {},
        };
        _cleanup_(trust_store_freep) TrustStore *trust = NULL;
        _cleanup_(bundle_reader_freep) BundleReader *b = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *cert = NULL;
        bool json = false;
        int c, r;

        optind = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case 'c':
                        cert = optarg;
                        break;
                case 'j':
                        json = true;
                        break;
                default:
                        return opt_error(c, argv, options, "abide-build inspect --help");
                }
        if (optind != argc - 1)
                return err_set(EINVAL, "expected one BUNDLE argument (see abide-build inspect --help)");
        const char *path = argv[optind];

        if (cert) {
                r = trust_store_load(cert, &trust);
                if (r < 0)
                        return r;
        }
        fd = streq(path, "-") ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return err_set(errno, "%s: %m", path);

        r = bundle_reader_open(fd, NULL, trust, &b);
        if (r < 0)
                return err_prefix(r, "%s", path);
        if (trust) {
                r = verify_payloads(b);
                if (r < 0)
                        return err_prefix(r, "%s", path);
        }

        const char *signer = trust ? bundle_reader_signer(b) : NULL;
        if (json)
                return print_json(b, signer);
        print_human(path, bundle_reader_manifest(b), signer);
        return 0;
}
