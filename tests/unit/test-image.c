/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "agent.h"
#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/rm-rf.h"
#include "image-info.h"
#include "initramfs.h"

static char tmpdir[64];

static const char *at(const char *rel) {
        static char p[4][PATH_MAX];
        static unsigned i;
        char *b = p[i++ % 4];
        snprintf(b, PATH_MAX, "%s/%s", tmpdir, rel);
        return b;
}

static void make_dir(const char *rel) {
        char cmd[PATH_MAX + 64];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", at(rel));
        assert_int_equal(system(cmd), 0);
}

static void make_file(const char *rel, const char *text, mode_t mode) {
        assert_int_equal(write_file_atomic(at(rel), text, strlen(text), mode), 0);
}

static char *slurp(const char *rel) {
        char *s = NULL;
        assert_int_equal(read_full_file(at(rel), 1 << 20, &s, NULL), 0);
        return s;
}

static int setup(void **state) {
        snprintf(tmpdir, sizeof tmpdir, "/tmp/test-image.XXXXXX");
        assert_non_null(mkdtemp(tmpdir));
        make_dir("agent/usr/sbin");
        make_file("agent/usr/sbin/sentinel", "#!/bin/sh\n", 0755);
        make_dir("agent/etc/sentinel");
        make_file("agent/etc/sentinel/content.def", "x\n", 0644);
        return 0;
}

static int teardown(void **state) {
        assert_int_equal(rm_rf(tmpdir), 0);
        return 0;
}

static RecipeAgent agent(void) {
        static char source[PATH_MAX];
        snprintf(source, sizeof source, "%s/agent", tmpdir);
        return (RecipeAgent) {
                .present = true,
                .name = (char *) "sentinel",
                .source = source,
                .exec = (char *) "/usr/sbin/sentinel --daemon",
                .health = (char *) "/usr/sbin/sentinel --health",
                .health_timeout_sec = 60,
        };
}

static void test_image_info(void **state) {
        Recipe r = {
                .name = (char *) "abide-demo",
                .version = (char *) "1.2.3",
                .compatible = (char *) "abide-demo-x86_64",
                .security_version = 7,
        };
        char *a = NULL, *b = NULL;

        assert_int_equal(image_info_format(&r, "build-42", &a), 0);
        assert_string_equal(a,
                            "{\n"
                            "  \"format\": 1,\n"
                            "  \"name\": \"abide-demo\",\n"
                            "  \"version\": \"1.2.3\",\n"
                            "  \"compatible\": \"abide-demo-x86_64\",\n"
                            "  \"security_version\": 7,\n"
                            "  \"build_id\": \"build-42\"\n"
                            "}\n");
        /* Deterministic: same input, same bytes. */
        assert_int_equal(image_info_format(&r, "build-42", &b), 0);
        assert_string_equal(a, b);
        free(b);

        /* Quotes and slashes survive as JSON, unescaped slashes. */
        r.version = (char *) "1.0/\"x\"";
        assert_int_equal(image_info_format(&r, "b", &b), 0);
        assert_non_null(strstr(b, "\"version\": \"1.0/\\\"x\\\"\""));
        free(b);
        r.version = (char *) "1.2.3";

        make_dir("info");
        assert_int_equal(image_write_info(&r, "build-42", at("info")), 0);
        char *onfile = slurp("info/usr/lib/abide/image.json");
        assert_string_equal(onfile, a);
        free(onfile);
        free(a);

        assert_int_equal(image_info_format(&r, "", &a), -EINVAL);
        r.compatible = NULL;
        assert_int_equal(image_info_format(&r, "b", &a), -EINVAL);
        assert_non_null(strstr(err_message(-EINVAL), "compatible"));
}

static void test_agent_formats(void **state) {
        RecipeAgent a = agent();
        char *s = NULL;

        assert_int_equal(agent_unit_format(&a, &s), 0);
        assert_non_null(strstr(s, "\nType=forking\n"));
        assert_non_null(strstr(s, "\nExecStart=/usr/sbin/sentinel --daemon\n"));
        assert_non_null(strstr(s, "\nWantedBy=multi-user.target\n"));
        free(s);

        assert_int_equal(agent_init_script_format(&a, &s), 0);
        assert_true(strncmp(s, "#!/bin/sh\n", 10) == 0);
        assert_non_null(strstr(s, "        /usr/sbin/sentinel --daemon || echo"));
        free(s);

        assert_int_equal(agent_health_probe_format(&a, &s), 0);
        assert_true(strncmp(s, "#!/bin/sh\n", 10) == 0);
        assert_non_null(strstr(s, "\nexec /usr/sbin/sentinel --health\n"));
        free(s);

        /* Names go into file and unit names; commands into scripts line by line. */
        const char *bad_names[] = { "", ".hidden", "a/b", "a b", "x;reboot", "../x", "a\nb" };
        for (size_t i = 0; i < ELEMENTSOF(bad_names); i++) {
                a = agent();
                a.name = (char *) bad_names[i];
                assert_int_equal(agent_unit_format(&a, &s), -EINVAL);
        }
        a = agent();
        a.exec = (char *) "/usr/sbin/sentinel\nreboot";
        assert_int_equal(agent_init_script_format(&a, &s), -EINVAL);
        assert_non_null(strstr(err_message(-EINVAL), "line break"));
        a = agent();
        a.health = (char *) "sentinel --health";
        assert_int_equal(agent_health_probe_format(&a, &s), -EINVAL);
        assert_non_null(strstr(err_message(-EINVAL), "absolute"));
        a = agent();
        a.health_timeout_sec = 0;
        assert_int_equal(agent_health_probe_format(&a, &s), -EINVAL);
}

static void test_bake_busybox(void **state) {
        RecipeAgent a = agent();
        struct stat st;

        make_dir("bb");
        make_dir("bb/usr/lib/abide");
        make_file("bb/usr/lib/abide/abide.conf", "[Paths]\nDisk=/dev/vda\n", 0644);
        assert_int_equal(image_has_systemd(at("bb")), 0);
        assert_int_equal(image_bake_agent(&a, at("bb")), 0);

        assert_int_equal(stat(at("bb/usr/sbin/sentinel"), &st), 0);
        assert_int_equal(stat(at("bb/etc/sentinel/content.def"), &st), 0);
        assert_int_equal(stat(at("bb/etc/init.d/S50abide-agent-sentinel"), &st), 0);
        assert_int_equal(st.st_mode & 0777, 0755);
        assert_int_equal(stat(at("bb/usr/lib/abide/health.d/50-agent-sentinel"), &st), 0);
        assert_int_equal(st.st_mode & 0777, 0755);
        assert_int_equal(stat(at("bb/usr/lib/systemd/system/abide-agent-sentinel.service"), &st), -1);

        /* The image's own vendor config is kept; ours is appended. */
        char *conf = slurp("bb/usr/lib/abide/abide.conf");
        assert_true(strncmp(conf, "[Paths]\nDisk=/dev/vda\n", 21) == 0);
        assert_non_null(strstr(conf, "\n[Health]\nTimeoutSec=60\n"));
        free(conf);

        char *probe = slurp("bb/usr/lib/abide/health.d/50-agent-sentinel");
        assert_non_null(strstr(probe, "exec /usr/sbin/sentinel --health\n"));
        free(probe);
}

static void test_bake_systemd(void **state) {
        RecipeAgent a = agent();
        char link[PATH_MAX];
        struct stat st;

        make_dir("sd/usr/lib/systemd");
        make_file("sd/usr/lib/systemd/systemd", "", 0755);
        assert_int_equal(image_has_systemd(at("sd")), 1);
        assert_int_equal(image_bake_agent(&a, at("sd")), 0);

        assert_int_equal(stat(at("sd/usr/lib/systemd/system/abide-agent-sentinel.service"), &st), 0);
        ssize_t n = readlink(at("sd/usr/lib/systemd/system/multi-user.target.wants/abide-agent-sentinel.service"),
                             link, sizeof link - 1);
        assert_true(n > 0);
        link[n] = 0;
        assert_string_equal(link, "../abide-agent-sentinel.service");
        assert_int_equal(stat(at("sd/etc/init.d/S50abide-agent-sentinel"), &st), -1);
        char *conf = slurp("sd/usr/lib/abide/abide.conf");
        assert_true(strncmp(conf, "# Written by abide-build", 24) == 0);
        free(conf);

        /* Baking twice (a rebuild into the same tree) is fine. */
        assert_int_equal(image_bake_agent(&a, at("sd")), 0);
}

static void test_watchdog(void **state) {
        RecipeAgent a = agent();
        int r;

        make_dir("wb/usr/lib/abide");
        make_dir("ws/usr/lib/systemd");
        make_file("ws/usr/lib/systemd/systemd", "", 0755);
        /* busybox: HealthTimeoutSec= plus the boot must fit in abide.watchdog= (default 120 s). */
        a.health_timeout_sec = 90;
        assert_int_equal(image_agent_check_watchdog(&a, "console=ttyS0", at("wb")), 0);
        assert_int_equal(image_agent_check_watchdog(&a, NULL, at("wb")), 0);
        a.health_timeout_sec = 91;
        r = image_agent_check_watchdog(&a, "console=ttyS0", at("wb"));
        assert_int_equal(r, -EINVAL);
        assert_non_null(strstr(err_message(r), "HealthTimeoutSec=91 does not fit in the boot watchdog (abide.watchdog=120 s"));
        assert_non_null(strstr(err_message(r), "at most 90, or raise abide.watchdog="));
        /* The last abide.watchdog= counts, as abide-init reads it; 0 arms none. */
        assert_int_equal(image_agent_check_watchdog(&a, "abide.watchdog=60 quiet abide.watchdog=121", at("wb")), 0);
        assert_int_equal(image_agent_check_watchdog(&a, "abide.watchdog=121 abide.watchdog=120", at("wb")), -EINVAL);
        assert_int_equal(image_agent_check_watchdog(&a, "abide.watchdog=0", at("wb")), 0);
        a.health_timeout_sec = 1;
        r = image_agent_check_watchdog(&a, "abide.watchdog=10", at("wb"));
        assert_int_equal(r, -EINVAL);
        assert_non_null(strstr(err_message(r), "at most 0,"));
        /* systemd takes the watchdog over itself; no [Agent], nothing to fit. */
        a.health_timeout_sec = 3600;
        assert_int_equal(image_agent_check_watchdog(&a, "abide.watchdog=10", at("ws")), 0);
        a.present = false;
        assert_int_equal(image_agent_check_watchdog(&a, "abide.watchdog=10", at("wb")), 0);
}

static void test_bake_errors(void **state) {
        RecipeAgent a = agent();
        struct stat st;
        int r;

        make_dir("e1");
        a.exec = (char *) "/usr/sbin/not-there --daemon";
        r = image_bake_agent(&a, at("e1"));
        assert_true(r < 0);
        assert_non_null(strstr(err_message(r), "/usr/sbin/not-there is not an executable in the image"));

        a = agent();
        a.source = (char *) "/nonexistent/abide-agent-source";
        r = image_bake_agent(&a, at("e1"));
        assert_true(r < 0);
        assert_non_null(strstr(err_message(r), "[Agent] Source"));

        /* A symlink in the image pointing out must not let us write outside. */
        make_dir("e2/usr/lib");
        assert_int_equal(symlink(at("outside"), at("e2/usr/lib/abide")), 0);
        make_dir("outside");
        a = agent();
        r = image_bake_agent(&a, at("e2"));
        assert_int_equal(r, -EXDEV);
        assert_non_null(strstr(err_message(r), "through symlink 'usr/lib/abide'"));
        assert_int_equal(stat(at("outside/health.d"), &st), -1);
        assert_int_equal(stat(at("outside/abide.conf"), &st), -1);

        /* Nor read a file of the build machine into the image through one. */
        make_dir("e3/usr/lib/abide");
        make_file("host-secret", "host secret\n", 0600);
        assert_int_equal(symlink(at("host-secret"), at("e3/usr/lib/abide/abide.conf")), 0);
        a = agent();
        r = image_bake_agent(&a, at("e3"));
        assert_int_equal(r, -EXDEV);
        assert_non_null(strstr(err_message(r), "/usr/lib/abide/abide.conf: through symlink 'usr/lib/abide/abide.conf'"));
        assert_int_equal(lstat(at("e3/usr/lib/abide/abide.conf"), &st), 0);
        assert_true(S_ISLNK(st.st_mode));
        char *secret = slurp("host-secret");
        assert_string_equal(secret, "host secret\n");
        free(secret);

        /* A program that is a symlink is followed inside the image, as the device will: a dangling
         * one (or one to a file only the build machine has) would fail every trial's health check. */
        make_dir("e4/usr/sbin");
        make_dir("e4/bin");
        make_file("e4/bin/busybox", "#!/bin/sh\n", 0755);
        assert_int_equal(symlink("/bin/busybox", at("e4/usr/sbin/probe")), 0);
        assert_int_equal(symlink("/usr/sbin/gone", at("e4/usr/sbin/dangling")), 0);
        assert_int_equal(symlink(at("host-secret"), at("e4/usr/sbin/host")), 0);
        assert_int_equal(symlink("../../bin", at("e4/usr/sbin/dir")), 0);
        a = agent();
        a.source = NULL;
        a.exec = (char *) "/bin/busybox sentinel";
        a.health = (char *) "/usr/sbin/probe --health";
        assert_int_equal(image_bake_agent(&a, at("e4")), 0);
        a.health = (char *) "/usr/sbin/dangling --health";
        r = image_bake_agent(&a, at("e4"));
        assert_true(r < 0);
        assert_non_null(strstr(err_message(r), "[Agent] Health: /usr/sbin/dangling is not an executable in the image"));
        a.health = (char *) "/usr/sbin/host --health";
        r = image_bake_agent(&a, at("e4"));
        assert_true(r < 0);
        assert_non_null(strstr(err_message(r), "[Agent] Health: /usr/sbin/host is not an executable in the image"));
        a.health = (char *) "/usr/sbin/dir --health";
        r = image_bake_agent(&a, at("e4"));
        assert_true(r < 0);
        assert_non_null(strstr(err_message(r), "[Agent] Health: /usr/sbin/dir is not an executable in the image"));

        a = agent();
        a.present = false;
        assert_int_equal(image_bake_agent(&a, at("no-such-staging")), 0);
}

static void test_kernel_version(void **state) {
        char *v = NULL;

        assert_int_equal(initramfs_kernel_version("/boot/vmlinuz-9.9.0-56-fake", &v), 0);
        assert_string_equal(v, "9.9.0-56-fake");
        free(v);
        assert_int_equal(initramfs_kernel_version("vmlinuz-6.12.1+deb13", &v), 0);
        assert_string_equal(v, "6.12.1+deb13");
        free(v);
        assert_int_equal(initramfs_kernel_version("/boot/vmlinuz", &v), -EINVAL);
        assert_int_equal(initramfs_kernel_version("/boot/vmlinuz-", &v), -EINVAL);
        assert_int_equal(initramfs_kernel_version("/boot/bzImage", &v), -EINVAL);
        assert_int_equal(initramfs_kernel_version("/boot/vmlinuz-..", &v), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_image_info),
                cmocka_unit_test(test_agent_formats),
                cmocka_unit_test(test_bake_busybox),
                cmocka_unit_test(test_bake_systemd),
                cmocka_unit_test(test_watchdog),
                cmocka_unit_test(test_bake_errors),
                cmocka_unit_test(test_kernel_version),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
