/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <ftw.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "recipe.h"

static char tmpdir[] = "/tmp/test-recipe.XXXXXX";
static char recipe_path[PATH_MAX];

static void touch(const char *rel, mode_t mode) {
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
        int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        assert_true(fd >= 0);
        close(fd);
}

static void mkdir_rel(const char *rel) {
        char p[PATH_MAX];
        snprintf(p, sizeof p, "%s/%s", tmpdir, rel);
        assert_int_equal(mkdir(p, 0755), 0);
}

static int setup(void **state) {
        assert_non_null(mkdtemp(tmpdir));
        mkdir_rel("rootfs");
        mkdir_rel("agent");
        mkdir_rel("oci");
        touch("oci/index.json", 0644);
        touch("base.tar.gz", 0644);
        touch("pkg_1.2_amd64.deb", 0644);
        touch("pkg_1.10_amd64.deb", 0644);
        touch("pkg_1.9_amd64.deb", 0644);
        touch("vmlinuz-9.9.0-9-fake", 0644);
        touch("vmlinuz-9.9.0-10-fake", 0644);
        touch("vmlinuz-9.9.0-2-fake", 0644);
        snprintf(recipe_path, sizeof recipe_path, "%s/demo.conf", tmpdir);
        return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(p);
}

static int teardown(void **state) {
        return nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void write_recipe(const char *text) {
        FILE *f = fopen(recipe_path, "we");
        assert_non_null(f);
        fputs(text, f);
        fclose(f);
}

static Recipe *load_ok(const char *text, char *const *overrides) {
        Recipe *r = NULL;
        write_recipe(text);
        err_clear();
        int k = recipe_load(recipe_path, overrides, &r);
        if (k < 0)
                fail_msg("recipe_load failed: %s", err_message(k));
        assert_non_null(r);
        return r;
}

/* The error must carry "<recipe>:<suffix>"; suffix starts with ":LINE: ..." or ": ...". */
static void load_fails(const char *text, char *const *overrides, const char *suffix) {
        char want[PATH_MAX + 256];
        Recipe *r = NULL;

        write_recipe(text);
        err_clear();
        int k = recipe_load(recipe_path, overrides, &r);
        if (k >= 0)
                fail_msg("recipe loaded but should have failed with '%s':\n%s", suffix, text);
        assert_null(r);
        snprintf(want, sizeof want, "%s%s", recipe_path, suffix);
        if (!strstr(err_message(k), want))
                fail_msg("error '%s' does not contain '%s'", err_message(k), want);
}

/* Like load_fails(); the "%s" in expected becomes the temporary directory. */
static void load_fails_dir(const char *text, const char *expected) {
        char suffix[PATH_MAX * 2];
        const char *at = strstr(expected, "%s");
        assert_non_null(at);
        snprintf(suffix, sizeof suffix, "%.*s%s%s", (int) (at - expected), expected, tmpdir, at + 2);
        load_fails(text, NULL, suffix);
}

#define IMAGE "[Image]\nName=demo\nVersion=1.0\nCompatible=abide-demo-x86_64\n"
#define CONTENT "[Content]\nLayer=tree:rootfs\n"

static void test_full(void **state) {
        char path[PATH_MAX];
        _cleanup_(recipe_freep) Recipe *r = load_ok(
                "# a full recipe\n"
                "; with both comment styles\n"
                "[Image]\n"
                "Name=edge-demo\n"
                "Version=1.2.0~rc1+git.5   # inline comment\n"
                "Compatible=abide-demo-x86_64\n"
                "Filesystem=squashfs\n"
                "SecurityVersion=7\n"
                "\n"
                "[Content]\n"
                "Layer=tar:base.tar.gz\n"
                "Layer=deb:pkg_*_amd64.deb ; picks 1.10\n"
                "Layer=tree:rootfs\n"
                "Layer=oci:oci\n"
                "Binary=/bin/sh\n"
                "\n"
                "[Agent]\n"
                "Name=sentinel\n"
                "Source=agent\n"
                "Exec=/usr/sbin/sentinel --daemon\n"
                "Health=/usr/sbin/sentinel --health\n"
                "HealthTimeoutSec=30\n"
                "\n"
                "[Boot]\n"
                "Kernel=vmlinuz-*\n"
                "Cmdline=console=ttyS0 panic=5\n"
                "Tries=5\n", NULL);

        assert_string_equal(r->path, recipe_path);
        assert_string_equal(r->name, "edge-demo");
        assert_string_equal(r->version, "1.2.0~rc1+git.5");
        assert_string_equal(r->compatible, "abide-demo-x86_64");
        assert_string_equal(r->filesystem, "squashfs");
        assert_int_equal(r->security_version, 7);

        assert_int_equal(r->n_layers, 4);
        assert_int_equal(r->layers[0].type, LAYER_TAR);
        snprintf(path, sizeof path, "%s/base.tar.gz", tmpdir);
        assert_string_equal(r->layers[0].path, path);
        assert_int_equal(r->layers[0].line, 11);
        assert_int_equal(r->layers[1].type, LAYER_DEB);
        snprintf(path, sizeof path, "%s/pkg_1.10_amd64.deb", tmpdir);
        assert_string_equal(r->layers[1].path, path);
        assert_int_equal(r->layers[2].type, LAYER_TREE);
        assert_int_equal(r->layers[3].type, LAYER_OCI);
        assert_int_equal(r->layers[3].line, 14);
        assert_int_equal(r->n_binaries, 1);
        assert_string_equal(r->binaries[0].source, "/bin/sh");

        assert_true(r->agent.present);
        assert_string_equal(r->agent.name, "sentinel");
        snprintf(path, sizeof path, "%s/agent", tmpdir);
        assert_string_equal(r->agent.source, path);
        assert_string_equal(r->agent.exec, "/usr/sbin/sentinel --daemon");
        assert_string_equal(r->agent.health, "/usr/sbin/sentinel --health");
        assert_int_equal(r->agent.health_timeout_sec, 30);

        assert_true(r->boot.present);
        snprintf(path, sizeof path, "%s/vmlinuz-9.9.0-10-fake", tmpdir);
        assert_string_equal(r->boot.kernel, path);
        assert_string_equal(r->boot.cmdline, "console=ttyS0 panic=5");
        assert_int_equal(r->boot.tries, 5);
}

static void test_defaults(void **state) {
        _cleanup_(recipe_freep) Recipe *r = load_ok(IMAGE CONTENT, NULL);

        assert_string_equal(r->filesystem, "erofs");
        assert_int_equal(r->security_version, 0);
        assert_false(r->agent.present);
        assert_false(r->boot.present);
        assert_int_equal(r->boot.tries, 3);
        assert_int_equal(r->n_binaries, 0);
}

static void test_architecture(void **state) {
        _cleanup_(recipe_freep) Recipe *native = load_ok(IMAGE CONTENT, NULL);
        assert_int_equal(native->architecture, architecture_native());

        _cleanup_(recipe_freep) Recipe *a = load_ok(IMAGE "Architecture=arm64\n" CONTENT
                                                    "[Boot]\nKernel=image:/boot/vmlinuz-*\n", NULL);
        assert_int_equal(a->architecture, ARCH_ARM64);
        assert_true(a->boot.kernel_in_image);
        /* Resolved later, in the staged tree: kept as the pattern. */
        assert_string_equal(a->boot.kernel, "/boot/vmlinuz-*");

        /* A build-machine path after image: (a later --set) switches back. */
        char *set[] = { (char *) "Boot.Kernel=vmlinuz-*", NULL };
        _cleanup_(recipe_freep) Recipe *h = load_ok(IMAGE CONTENT "[Boot]\nKernel=image:/boot/vmlinuz-*\n", set);
        assert_false(h->boot.kernel_in_image);
        assert_non_null(strstr(h->boot.kernel, "vmlinuz-9.9.0-10-fake"));

        /* U-Boot's script counts one digit: an arm64 bundle with more tries could be installed nowhere. */
        _cleanup_(recipe_freep) Recipe *nine = load_ok(IMAGE "Architecture=arm64\n" CONTENT
                                                       "[Boot]\nKernel=image:/boot/vmlinuz-*\nTries=9\n", NULL);
        assert_int_equal(nine->boot.tries, 9);
        load_fails(IMAGE "Architecture=arm64\n" CONTENT "[Boot]\nKernel=image:/boot/vmlinuz-*\nTries=12\n", NULL,
                   ": [Boot] Tries=12: an arm64 image boots through U-Boot, whose boot script counts at most 9 tries");
        char *tries[] = { (char *) "Boot.Tries=10", NULL };
        load_fails(IMAGE "Architecture=arm64\n" CONTENT "[Boot]\nKernel=image:/boot/vmlinuz-*\n", tries,
                   ": [Boot] Tries=10: an arm64 image boots through U-Boot, whose boot script counts at most 9 tries");
        _cleanup_(recipe_freep) Recipe *x86 = load_ok(IMAGE CONTENT "[Boot]\nKernel=vmlinuz-*\nTries=12\n", NULL);
        assert_int_equal(x86->boot.tries, 12);

        load_fails(IMAGE "Architecture=sparc\n" CONTENT, NULL,
                   ":5: [Image] Architecture: unknown architecture 'sparc' (expected x86-64, arm64)");
        load_fails(IMAGE CONTENT "[Boot]\nKernel=image:boot/vmlinuz\n", NULL,
                   ":8: [Boot] Kernel: 'image:boot/vmlinuz': the kernel must be an absolute path inside the image");
        load_fails(IMAGE CONTENT "[Boot]\nKernel=image:/boot/../../vmlinuz\n", NULL,
                   ":8: [Boot] Kernel: 'image:/boot/../../vmlinuz': the kernel must be an absolute path inside the image");

        /* Another architecture's image cannot take the build machine's kernel and modules. */
        const char *other = architecture_to_string(architecture_native() == ARCH_ARM64 ? ARCH_X86_64 : ARCH_ARM64);
        char text[512];
        snprintf(text, sizeof text, IMAGE "Architecture=%s\n" CONTENT "[Boot]\nKernel=vmlinuz-*\n", other);
        load_fails(text, NULL, ": [Boot] Kernel= must be image:PATH");
}

static void test_repeatable_order(void **state) {
        _cleanup_(recipe_freep) Recipe *r = load_ok(
                IMAGE
                "[Content]\n"
                "Layer=tree:rootfs\n"
                "Binary=/bin/sh\n"
                "Layer=tar:base.tar.gz\n"
                "Binary=/bin/ls\n"
                "Layer=tree:agent\n"
                "Binary=/bin/cat\n", NULL);

        assert_int_equal(r->n_layers, 3);
        assert_int_equal(r->layers[0].type, LAYER_TREE);
        assert_int_equal(r->layers[1].type, LAYER_TAR);
        assert_int_equal(r->layers[2].type, LAYER_TREE);
        assert_non_null(strstr(r->layers[0].path, "/rootfs"));
        assert_non_null(strstr(r->layers[2].path, "/agent"));
        assert_int_equal(r->n_binaries, 3);
        assert_string_equal(r->binaries[0].source, "/bin/sh");
        assert_string_equal(r->binaries[1].source, "/bin/ls");
        assert_string_equal(r->binaries[2].source, "/bin/cat");
        assert_string_equal(r->binaries[0].dest, "/bin/sh");
}

static void test_binary_destination(void **state) {
        _cleanup_(recipe_freep) Recipe *r = load_ok(IMAGE "[Content]\nLayer=tree:rootfs\nBinary=/bin/ls:/usr/sbin/lister\n",
                                                    NULL);
        assert_int_equal(r->n_binaries, 1);
        assert_string_equal(r->binaries[0].source, "/bin/ls");
        assert_string_equal(r->binaries[0].dest, "/usr/sbin/lister");

        load_fails(IMAGE "[Content]\nLayer=tree:rootfs\nBinary=/bin/ls:usr/sbin/x\n", NULL,
                   ":7: [Content] Binary: 'usr/sbin/x': the destination must be an absolute file path in the image");
        load_fails(IMAGE "[Content]\nLayer=tree:rootfs\nBinary=/bin/ls:/usr/../../x\n", NULL,
                   ":7: [Content] Binary: '/usr/../../x': the destination must be an absolute file path in the image");
}

static void test_file_entries(void **state) {
        /* File= takes any regular file (no executable bit), kept in order with Binary=;
         * an empty File= drops only the File= entries. */
        _cleanup_(recipe_freep) Recipe *r = load_ok(IMAGE "[Content]\nLayer=tree:rootfs\n"
                                                    "File=/etc/passwd:/etc/x.crt\nBinary=/bin/ls\nFile=/etc/group\n", NULL);
        assert_int_equal(r->n_binaries, 3);
        assert_true(r->binaries[0].plain);
        assert_string_equal(r->binaries[0].dest, "/etc/x.crt");
        assert_false(r->binaries[1].plain);
        assert_true(r->binaries[2].plain);
        assert_string_equal(r->binaries[2].dest, "/etc/group");

        _cleanup_(recipe_freep) Recipe *e = load_ok(IMAGE "[Content]\nLayer=tree:rootfs\n"
                                                    "File=/etc/passwd\nBinary=/bin/ls\nFile=\n", NULL);
        assert_int_equal(e->n_binaries, 1);
        assert_string_equal(e->binaries[0].source, "/bin/ls");

        load_fails(IMAGE "[Content]\nLayer=tree:rootfs\nFile=/etc\n", NULL,
                   ":7: [Content] File: '/etc' is not a regular file");
        load_fails(IMAGE "[Content]\nLayer=tree:rootfs\nFile=/etc/passwd:etc/x\n", NULL,
                   ":7: [Content] File: 'etc/x': the destination must be an absolute file path in the image");
        load_fails(IMAGE "[Content]\nLayer=tree:rootfs\nBinary=/etc/passwd\n", NULL,
                   ":7: [Content] Binary: '/etc/passwd' is not an executable file");
}

static void test_compression(void **state) {
        _cleanup_(recipe_freep) Recipe *d = load_ok(IMAGE "[Content]\nLayer=tree:rootfs\n", NULL);
        assert_null(d->compression);
        _cleanup_(recipe_freep) Recipe *z = load_ok(IMAGE "Compression=lz4hc\n[Content]\nLayer=tree:rootfs\n", NULL);
        assert_string_equal(z->compression, "lz4hc");
        _cleanup_(recipe_freep) Recipe *n = load_ok(IMAGE "Filesystem=squashfs\nCompression=none\n[Content]\nLayer=tree:rootfs\n", NULL);
        assert_string_equal(n->compression, "none");
        load_fails(IMAGE "Compression=gzip\n[Content]\nLayer=tree:rootfs\n", NULL,
                   ":5: [Image] Compression: unknown compression 'gzip' (expected none, lz4, lz4hc)");
        load_fails(IMAGE "Filesystem=squashfs\nCompression=lz4\n[Content]\nLayer=tree:rootfs\n", NULL,
                   ": [Image] Compression=lz4 needs Filesystem=erofs");
}

static void test_empty_resets_list(void **state) {
        _cleanup_(recipe_freep) Recipe *r = load_ok(
                IMAGE "[Content]\nLayer=tree:rootfs\nLayer=\nLayer=tar:base.tar.gz\n", NULL);
        assert_int_equal(r->n_layers, 1);
        assert_int_equal(r->layers[0].type, LAYER_TAR);
}

static void test_set_overrides(void **state) {
        char *const sets[] = {
                (char *) "Image.Version=2.0.77",
                (char *) "Content.Layer=tar:base.tar.gz",
                (char *) "Boot.Tries=9",
                (char *) "Boot.Kernel=vmlinuz-9.9.0-2-fake",
                NULL,
        };
        _cleanup_(recipe_freep) Recipe *r = load_ok(IMAGE CONTENT, sets);

        assert_string_equal(r->version, "2.0.77");
        assert_int_equal(r->n_layers, 2);
        assert_int_equal(r->layers[0].type, LAYER_TREE);
        assert_int_equal(r->layers[1].type, LAYER_TAR);
        assert_int_equal(r->layers[1].line, 0);
        /* --set may create a section the file lacks. */
        assert_true(r->boot.present);
        assert_int_equal(r->boot.tries, 9);
}

static void test_set_last_wins(void **state) {
        char *const sets[] = { (char *) "Image.Version=3", (char *) "Image.Version=4", NULL };
        _cleanup_(recipe_freep) Recipe *r = load_ok(IMAGE CONTENT, sets);
        assert_string_equal(r->version, "4");
}

static void test_set_errors(void **state) {
        char *const nodot[] = { (char *) "Version=2", NULL };
        char *const noeq[] = { (char *) "Image.Version", NULL };
        char *const nokey[] = { (char *) "Image.=2", NULL };
        char *const badval[] = { (char *) "Image.Version=2 0", NULL };
        char *const unkkey[] = { (char *) "Image.Colour=red", NULL };
        char *const tries[] = { (char *) "Boot.Tries=0", NULL };
        Recipe *r = NULL;
        int k;

        write_recipe(IMAGE CONTENT);
        char *const *bad_syntax[] = { nodot, noeq, nokey };
        for (size_t i = 0; i < ELEMENTSOF(bad_syntax); i++) {
                err_clear();
                k = recipe_load(recipe_path, bad_syntax[i], &r);
                assert_int_equal(k, -EINVAL);
                assert_null(r);
                assert_non_null(strstr(err_message(k), "expected Section.Key=Value"));
                assert_non_null(strstr(err_message(k), bad_syntax[i][0]));
        }

        load_fails(IMAGE CONTENT, badval, ": --set Image.Version: '2 0': character ' ' not allowed");
        load_fails(IMAGE CONTENT, unkkey, ": --set Image.Colour: unknown key");
        load_fails(IMAGE CONTENT, tries, ": --set Boot.Tries: 0 is out of range 1..16");
}

static void test_errors(void **state) {
        load_fails(CONTENT, NULL, ": [Image] section missing");
        load_fails("[Image]\nName=demo\nCompatible=x\n" CONTENT, NULL, ": [Image] Version= is required");
        load_fails(IMAGE "[Content]\nBinary=/bin/sh\n", NULL, ": [Content] at least one Layer= is required");
        load_fails(IMAGE CONTENT "[Agent]\nName=a\nExec=/a\n", NULL, ": [Agent] Health= is required");

        load_fails(IMAGE CONTENT "[Network]\nAddress=1\n", NULL,
                   ":7: unknown section [Network] (expected Image, Content, Agent, Boot)");
        /* Even an empty unknown section is caught. */
        load_fails(IMAGE CONTENT "[Extra]\n", NULL, ":7: unknown section [Extra]");
        load_fails(IMAGE "Colour=blue\n" CONTENT, NULL, ":5: [Image] Colour: unknown key");
        load_fails("Name=x\n" IMAGE CONTENT, NULL, ":1: Name= outside of a section");
        load_fails(IMAGE "Name=again\n" CONTENT, NULL, ":5: [Image] Name: already set on line 2");
        load_fails(IMAGE CONTENT "this is not ini\n", NULL, ":7: syntax error");
        load_fails(IMAGE CONTENT "  continued\n", NULL, ":7: syntax error");

        load_fails("[Image]\nName=demo\nVersion=1.0/../x\nCompatible=c\n" CONTENT, NULL,
                   ":3: [Image] Version: '1.0/../x': character '/' not allowed");
        load_fails("[Image]\nName=de mo\nVersion=1\nCompatible=c\n" CONTENT, NULL,
                   ":2: [Image] Name: 'de mo': character ' ' not allowed");
        load_fails("[Image]\nName=-x\nVersion=1\nCompatible=c\n" CONTENT, NULL,
                   ":2: [Image] Name: '-x' must start with a letter or digit");
        load_fails("[Image]\nName=x\nVersion=\nCompatible=c\n" CONTENT, NULL, ":3: [Image] Version: empty value");
        load_fails(IMAGE "Filesystem=ext4\n" CONTENT, NULL,
                   ":5: [Image] Filesystem: unknown filesystem 'ext4' (expected erofs, squashfs)");
        load_fails(IMAGE "SecurityVersion=-1\n" CONTENT, NULL, ":5: [Image] SecurityVersion: '-1' is not a number");
        load_fails(IMAGE "SecurityVersion=99999999999999999999\n" CONTENT, NULL,
                   ":5: [Image] SecurityVersion: '99999999999999999999' is not a number");
        /* The manifest takes 0..2^63-1: a larger one is refused here, not after the build. */
        load_fails(IMAGE "SecurityVersion=9223372036854775808\n" CONTENT, NULL,
                   ":5: [Image] SecurityVersion: 9223372036854775808 is out of range 0..9223372036854775807");
        load_fails(IMAGE "SecurityVersion=18446744073709551615\n" CONTENT, NULL,
                   ":5: [Image] SecurityVersion: 18446744073709551615 is out of range 0..9223372036854775807");
        {
                _cleanup_(recipe_freep) Recipe *r = load_ok(IMAGE "SecurityVersion=9223372036854775807\n" CONTENT, NULL);
                assert_true(r->security_version == INT64_MAX);
        }

        load_fails(IMAGE "[Content]\nLayer=zip:rootfs\n", NULL,
                   ":6: [Content] Layer: unknown layer type 'zip' (expected tree, tar, deb, oci)");
        load_fails(IMAGE "[Content]\nLayer=rootfs\n", NULL, ":6: [Content] Layer: 'rootfs': expected TYPE:PATH");
        load_fails_dir(IMAGE "[Content]\nLayer=tar:missing.tar\n",
                       ":6: [Content] Layer: '%s/missing.tar': No such file or directory");
        load_fails_dir(IMAGE "[Content]\nLayer=deb:nothing_*.deb\n",
                       ":6: [Content] Layer: no file matches '%s/nothing_*.deb'");
        load_fails_dir(IMAGE "[Content]\nLayer=tree:base.tar.gz\n",
                       ":6: [Content] Layer: '%s/base.tar.gz' is not a directory");
        load_fails_dir(IMAGE "[Content]\nLayer=tar:rootfs\n", ":6: [Content] Layer: '%s/rootfs' is not a regular file");
        load_fails_dir(IMAGE "[Content]\nLayer=oci:rootfs\n",
                       ":6: [Content] Layer: '%s/rootfs' is not an OCI image layout (no index.json)");
        load_fails(IMAGE CONTENT "Binary=bin/sh\n", NULL, ":7: [Content] Binary: 'bin/sh' is not an absolute path");
        load_fails(IMAGE CONTENT "Binary=/nonexistent/prog\n", NULL,
                   ":7: [Content] Binary: '/nonexistent/prog': No such file or directory");
        load_fails(IMAGE CONTENT "Binary=/etc/passwd\n", NULL, ":7: [Content] Binary: '/etc/passwd' is not an executable file");

        load_fails_dir(IMAGE CONTENT "[Agent]\nName=a\nSource=nowhere\n",
                       ":9: [Agent] Source: '%s/nowhere': No such file or directory");
        load_fails(IMAGE CONTENT "[Agent]\nExec=sentinel\n", NULL,
                   ":8: [Agent] Exec: 'sentinel': the program must be an absolute path inside the image");
        load_fails(IMAGE CONTENT "[Agent]\nHealthTimeoutSec=0\n", NULL, ":8: [Agent] HealthTimeoutSec: 0 is out of range 1..3600");

        load_fails(IMAGE CONTENT "[Boot]\nTries=0\n", NULL, ":8: [Boot] Tries: 0 is out of range 1..16");
        load_fails(IMAGE CONTENT "[Boot]\nTries=17\n", NULL, ":8: [Boot] Tries: 17 is out of range 1..16");
        load_fails(IMAGE CONTENT "[Boot]\nTries=3x\n", NULL, ":8: [Boot] Tries: '3x' is not a number");
        load_fails_dir(IMAGE CONTENT "[Boot]\nKernel=bzImage-*\n", ":8: [Boot] Kernel: no file matches '%s/bzImage-*'");
        load_fails(IMAGE CONTENT "[Boot]\nCmdline=quiet\n", NULL, ": [Boot] Kernel= is required");
}

static void test_long_line(void **state) {
        char text[8192];
        char cmdline[4001];

        memset(cmdline, 'x', sizeof cmdline - 1);
        cmdline[sizeof cmdline - 1] = 0;
        snprintf(text, sizeof text, IMAGE CONTENT "[Boot]\nKernel=vmlinuz-9.9.0-2-fake\nCmdline=%s\nTries=2\n", cmdline);
        _cleanup_(recipe_freep) Recipe *r = load_ok(text, NULL);
        assert_string_equal(r->boot.cmdline, cmdline);
        assert_int_equal(r->boot.tries, 2);

        /* Line numbers stay right after a line longer than inih's first buffer. */
        snprintf(text, sizeof text, IMAGE CONTENT "[Boot]\nCmdline=%s\nTries=0\n", cmdline);
        load_fails(text, NULL, ":9: [Boot] Tries: 0 is out of range");
}

/* [Boot] Cmdline= follows the manifest's boot.cmdline rule (cmdline_check()),
 * with the recipe's line in the message. */
static void test_cmdline_rule(void **state) {
        const struct {
                const char *cmdline, *msg;
        } refused[] = {
                { "abide.slot=a", ":8: [Boot] Cmdline must not set abide.slot= (abidectl adds it)" },
                { "console=ttyS0 abide.slot", ":8: [Boot] Cmdline must not set abide.slot=" },
                { "abide.slot=a --", ":8: [Boot] Cmdline must not set abide.slot=" },
                { "console=ttyS0 --", ":8: [Boot] Cmdline must not contain a '--' word" },
                { "console=\"ttyS0\"", ":8: [Boot] Cmdline must not contain a quote character (\")" },
                { "x='y'", ":8: [Boot] Cmdline must not contain a quote character (')" },
                { "a\\b", ":8: [Boot] Cmdline must not contain a backslash" },
                { "a\tb", ":8: [Boot] Cmdline must not contain control character 0x09" },
                { "a\x7f", ":8: [Boot] Cmdline must not contain control character 0x7f" },
                { "caf\xc3\xa9", ":8: [Boot] Cmdline must not contain non-ASCII byte 0xc3" },
        };
        char text[1024];

        for (size_t i = 0; i < ELEMENTSOF(refused); i++) {
                snprintf(text, sizeof text, IMAGE CONTENT "[Boot]\nCmdline=%s\nKernel=vmlinuz-9.9.0-2-fake\n",
                         refused[i].cmdline);
                load_fails(text, NULL, refused[i].msg);
        }

        char *const set[] = { (char *) "Boot.Cmdline=quiet abide.slot=b", NULL };
        load_fails(IMAGE CONTENT "[Boot]\nKernel=vmlinuz-9.9.0-2-fake\n", set,
                   ": --set Boot.Cmdline must not set abide.slot=");

        const char *accepted[] = { "console=ttyS0 panic=5", "abide.slotx=1", "abide.watchdog=60", "---", "" };
        for (size_t i = 0; i < ELEMENTSOF(accepted); i++) {
                snprintf(text, sizeof text, IMAGE CONTENT "[Boot]\nCmdline=%s\nKernel=vmlinuz-9.9.0-2-fake\n",
                         accepted[i]);
                _cleanup_(recipe_freep) Recipe *r = load_ok(text, NULL);
                assert_string_equal(r->boot.cmdline, accepted[i]);
        }

        /* Longer than a manifest takes. */
        static char big[8192];
        memset(big, 'x', 4097);
        snprintf(text, sizeof text, "%s", IMAGE CONTENT "[Boot]\nCmdline=");
        _cleanup_free_ char *t = NULL;
        assert_true(asprintf(&t, "%s%s\n", text, big) > 0);
        load_fails(t, NULL, ":8: [Boot] Cmdline: longer than 4096 bytes");
}

static void test_missing_file(void **state) {
        Recipe *r = NULL;
        err_clear();
        int k = recipe_load("/nonexistent/recipe.conf", NULL, &r);
        assert_int_equal(k, -ENOENT);
        assert_null(r);
        assert_string_equal(err_message(k), "/nonexistent/recipe.conf: No such file or directory");
}

static void test_layer_type_strings(void **state) {
        for (LayerType t = 0; t < _LAYER_TYPE_MAX; t++)
                assert_int_equal(layer_type_from_string(layer_type_to_string(t)), t);
        assert_int_equal(layer_type_from_string("zip"), _LAYER_TYPE_INVALID);
        assert_int_equal(layer_type_from_string(NULL), _LAYER_TYPE_INVALID);
        assert_null(layer_type_to_string(_LAYER_TYPE_MAX));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_full),
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_architecture),
                cmocka_unit_test(test_repeatable_order),
                cmocka_unit_test(test_binary_destination),
                cmocka_unit_test(test_file_entries),
                cmocka_unit_test(test_compression),
                cmocka_unit_test(test_empty_resets_list),
                cmocka_unit_test(test_set_overrides),
                cmocka_unit_test(test_set_last_wins),
                cmocka_unit_test(test_set_errors),
                cmocka_unit_test(test_errors),
                cmocka_unit_test(test_long_line),
                cmocka_unit_test(test_cmdline_rule),
                cmocka_unit_test(test_missing_file),
                cmocka_unit_test(test_layer_type_strings),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
