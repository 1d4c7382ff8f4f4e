/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <stdio.h>

#include "basic/error.h"
#include "basic/opt-error.h"
#include "crypto/keygen.h"
#include "secureboot-keys.h"
#include "verb.h"

static void help(FILE *f) {
        fprintf(f, "Usage: abide-build keygen [--secure-boot] -o DIR\n\n"
                   "Makes a demo CA and a signing key under it, for trying abide out:\n"
                   "  DIR/ca.pem       CA certificate: install on devices as a trusted key\n"
                   "  DIR/ca.key       CA private key (unencrypted, mode 0600)\n"
                   "  DIR/signing.key  signing private key (unencrypted, mode 0600)\n"
                   "  DIR/signing.crt  signing certificate, issued by the CA\n\n"
                   "With --secure-boot, a UEFI Secure Boot key set instead (docs/secure-boot.md):\n"
                   "  DIR/{PK,KEK,db}.key  private keys (RSA-2048, unencrypted, mode 0600)\n"
                   "  DIR/{PK,KEK,db}.crt  self-signed certificates; db.crt verifies signed UKIs\n"
                   "  DIR/{PK,KEK,db}.esl  EFI signature lists, owner GUID in DIR/GUID\n"
                   "  DIR/loader/keys/" SECUREBOOT_KEYS_NAME "/{PK,KEK,db}.auth  signed updates for systemd-boot's\n"
                   "                       secure-boot-enroll (PK and KEK signed by PK, db by KEK)\n\n"
                   "Existing files are never overwritten. For production, use your own CA.\n\n"
                   "Options:\n"
                   "  -o, --output DIR  where to write the files (created when missing)\n"
                   "      --secure-boot make the Secure Boot keys (needs efitools)\n"
                   "  -h, --help        show this help\n");
}

int verb_keygen(int argc, char *argv[]) {
        static const struct option options[] = {
                { "output", required_argument, NULL, 'o' },
                { "secure-boot", no_argument, NULL, 'S' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *output = NULL;
        bool secure_boot = false;
        int c, r;

        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, "+:o:h", options, NULL)) >= 0)
                switch (c) {
                case 'o':
                        output = optarg;
                        break;
                case 'S':
                        secure_boot = true;
                        break;
                case 'h':
                        help(stdout);
                        return 0;
                default:
                        return opt_error(c, argv, options, "--help");
                }
        if (optind < argc)
                return err_set(EINVAL, "unexpected argument '%s' (see --help)", argv[optind]);
        if (!output || !*output)
                return err_set(EINVAL, "missing -o DIR (see --help)");

        if (secure_boot) {
                r = secureboot_keygen(output);
                if (r < 0)
                        return r;
                printf("Wrote %s/{PK,KEK,db}.{key,crt,esl}, %s/GUID, %s/loader/keys/%s/{PK,KEK,db}.auth\n", output,
                       output, output, SECUREBOOT_KEYS_NAME);
                return 0;
        }
        r = keygen_demo(output);
        if (r < 0)
                return r;
        printf("Wrote %s/ca.pem, %s/ca.key, %s/signing.key, %s/signing.crt\n", output, output, output, output);
        return 0;
}
