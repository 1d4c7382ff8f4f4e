/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * abide-init, PID 1 of the initramfs (docs/boot.md): pseudo filesystems,
 * command line, modules, watchdog, the slot's partitions, the root hash's
 * signature, dm-verity, the root and abide-data, switch_root. This file
 * only sequences the steps; any failure is one console line and a reboot,
 * never a shell and never an unverified root.
 */
#include <getopt.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <time.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/json-strict.h"
#include "boot/efivars.h"
#include "init-cmdline.h"
#include "init-discover.h"
#include "init-esp.h"
#include "init-floor.h"
#include "init-identity.h"
#include "init-log.h"
#include "init-modules.h"
#include "init-mount.h"
#include "init-signature.h"
#include "init-switch-root.h"
#include "init-verity.h"
#include "init-watchdog.h"

#define INIT_PATH "/sbin/init"
#define CMDLINE_MAX 4096
#define WATCHDOG_WAIT_MS 3000

static const char *short_hash(const char *h) {
        static char buf[20];
        snprintf(buf, sizeof buf, "%.12s...", h);
        return buf;
}

/*
 * The kernel takes a GPT only from a valid primary copy: with the primary damaged (a power cut
 * inside the first boot's table write, a damaged first sector) the disk shows no partition
 * nodes, while libblkid still reads the table from the backup (docs/boot.md, "A device's own
 * UUIDs"). Then the slot is found as byte ranges of the disk and its signature verified there,
 * and only then is that disk's table written again from the backup. 0 when it was: the caller
 * looks for the partitions again.
 */
static int repair_unread_table(const AbideConfig *c, Slot slot, const char *keys, const char *esp_uuid) {
        _cleanup_(init_partitions_done) InitPartitions ranged = {};
        _cleanup_free_ char *hash = NULL, *signer = NULL, *new_esp = NULL, *repaired = NULL;
        SlotPartition esp = {};
        AbideConfig narrowed = *c;   /* shallow: only read, and only disk differs */
        int r;

        if (esp_uuid) {
                r = slot_partition_find_by_uuid(c, esp_uuid, &esp);
                if (r >= 0 && esp.offset == 0 && esp.size == 0)
                        r = -EEXIST;   /* the ESP has its node: not this failure */
                if (r < 0) {
                        slot_partition_done(&esp);
                        return r;
                }
                narrowed.disk = esp.path;   /* the whole disk, the ESP a range of it */
        }
        r = init_discover(&narrowed, slot, 0, true, NULL, &ranged);
        const char *disk = ranged.slot[SLOT_PART_ROOT].path;
        for (int p = 0; r >= 0 && p < _SLOT_PART_MAX; p++)
                if (ranged.slot[p].offset == 0 || !streq(ranged.slot[p].path, disk))
                        r = -EEXIST;   /* partition nodes there, or the slot spread over disks */
        if (r >= 0)
                r = init_signature_verify(&ranged.slot[SLOT_PART_VERITY_SIG], keys, &hash, &signer);
        if (r >= 0)
                r = init_identity_check(disk, true, false, esp_uuid, &new_esp, &repaired);
        if (r >= 0 && r != INIT_IDENTITY_KEPT)
                init_log("disk %s: the kernel read no partition table (its primary copy is damaged); slot %s verified "
                         "in place, the table written again: %s", disk, slot_to_string(slot),
                         repaired);
        slot_partition_done(&esp);
        err_clear();
        return r >= 0 && r != INIT_IDENTITY_KEPT ? 0 : -ENOENT;
}

/* Steps 4 and 5, shared by the boot and the test mode: the verified root hash. */
static void find_and_verify(const AbideConfig *c, Slot slot, unsigned wait_sec, bool allow_ranges, const char *keys,
                            const char *esp_uuid, InitPartitions *ret_parts, char **ret_root_hash) {
        const char *s = slot_to_string(slot);
        _cleanup_free_ char *signer = NULL;
        int r;

        init_step_deadline("partitions", wait_sec + 30);
        r = init_discover(c, slot, wait_sec, allow_ranges, esp_uuid, ret_parts);
        if (r == -ENOENT && !allow_ranges) {
                const char *why = strdupa(err_message(r));
                init_step_deadline("partition table", 60);
                if (repair_unread_table(c, slot, keys, esp_uuid) == 0)
                        r = init_discover(c, slot, wait_sec, allow_ranges, esp_uuid, ret_parts);
                else
                        r = err_set(ENOENT, "%s", why);
        }
        if (r < 0)
                init_fail("slot %s: partitions: %s", s, err_message(r));
        init_log("slot %s: root %s, verity %s, signature %s, data %s", s, ret_parts->slot[SLOT_PART_ROOT].path,
                 ret_parts->slot[SLOT_PART_VERITY].path, ret_parts->slot[SLOT_PART_VERITY_SIG].path,
                 ret_parts->data.path);

        init_step_deadline("signature", 60);
        r = init_signature_verify(&ret_parts->slot[SLOT_PART_VERITY_SIG], keys, ret_root_hash, &signer);
        if (r < 0)
                init_fail("slot %s: %s", s, err_message(r));
        init_log("slot %s: root hash %s signed by %s", s, short_hash(*ret_root_hash), signer);
}

/* The ESP's UUID as it reads now, for abidectl when the loader's variable does not say it: a U-Boot
 * boot (abide.esp=), or a first boot that changed it. Not fatal: abidectl then searches as before. */
static void leave_esp_note(const char *esp_uuid) {
        int r = mkdir_parents_of(INIT_IDENTITY_NOTE, 0755);
        if (r >= 0)
                r = write_file_atomic(INIT_IDENTITY_NOTE, esp_uuid, strlen(esp_uuid), 0644);
        if (r < 0)
                init_log("cannot leave the ESP's UUID in %s: %s", INIT_IDENTITY_NOTE, err_message(r));
}

/* The partition table step (docs/boot.md, "A device's own UUIDs"), only on the disk whose slot
 * was just found and verified: a factory disk's first boot gives it UUIDs of its own; a table
 * copy that is damaged is written again from the other. Not fatal: the disk then boots as it is.
 * When the ESP's UUID changed, the new one replaces the loader's for the rest of the boot
 * (abidectl's through the note): returns true then. */
static bool disk_identity(const AbideConfig *c, Slot slot, unsigned wait_sec, char **esp_uuid, InitPartitions *parts) {
        _cleanup_free_ char *disk = NULL, *new_esp = NULL, *repaired = NULL;
        int r;

        init_step_deadline("identity", 60);
        r = slot_partition_parent_disk(parts->slot[SLOT_PART_ROOT].path, &disk);
        if (r >= 0)
                r = init_identity_check(disk, true, true, *esp_uuid, &new_esp, &repaired);
        if (r < 0) {
                init_log("disk identity: %s; the partition table is left as it is this boot", err_message(r));
                return false;
        }
        if (r == INIT_IDENTITY_KEPT)
                return false;
        if (r == INIT_IDENTITY_REPAIRED)
                init_log("disk %s: partition table written again: %s", disk, repaired);
        else
                init_log("disk %s: first boot: the factory image's disk GUID and partition UUIDs replaced by its own", disk);
        bool esp_changed = new_esp;
        if (esp_changed) {
                init_log("the loader's ESP %s is now %s", *esp_uuid, new_esp);
                free(*esp_uuid);
                *esp_uuid = TAKE_PTR(new_esp);
        }
        /* The kernel read the table again: the partitions' device nodes come back. */
        init_partitions_done(parts);
        r = init_discover(c, slot, wait_sec, false, *esp_uuid, parts);
        if (r < 0)
                init_fail("slot %s: partitions after the table was written: %s", slot_to_string(slot), err_message(r));
        return esp_changed;
}

_noreturn_ static void boot(int argc, char *argv[]) {
        _cleanup_(config_freep) AbideConfig *config = NULL;
        _cleanup_(init_partitions_done) InitPartitions parts = {};
        _cleanup_free_ char *cmdline = NULL, *root_hash = NULL, *node = NULL;
        InitCmdline cl;
        int r;

        init_step_deadline("start", 30);
        r = init_mount_pseudo();
        init_log_open();
        if (r < 0)
                init_fail("start: %s", err_message(r));
        r = read_full_file("/proc/cmdline", CMDLINE_MAX, &cmdline, NULL);
        if (r < 0)
                init_fail("start: cannot read /proc/cmdline: %s", err_message(r));
        r = init_cmdline_parse(cmdline, &cl);
        if (r < 0)
                init_fail("command line: %s", err_message(r));
        const char *s = slot_to_string(cl.slot);
        init_log("slot %s, watchdog %u s, disk wait %u s", s, cl.watchdog_sec, cl.wait_sec);

        init_step_deadline("modules", 120);
        unsigned loaded, failed, absent;
        r = init_modules_load(INIT_MODULES_LOAD, &loaded, &failed, &absent);
        if (r < 0)
                init_log("modules: %s; going on with the built-in drivers", err_message(r));
        else if (failed > 0)
                init_log("modules: %u loaded, %u failed, %u for absent hardware", loaded, failed, absent);
        else
                init_log("modules: %u loaded, %u for absent hardware", loaded, absent);

        init_step_deadline("watchdog", 30);
        if (cl.watchdog_sec == 0)
                init_log("watchdog: disabled by abide.watchdog=0");
        else {
                const char *dev;
                unsigned t;
                r = init_watchdog_arm(cl.watchdog_sec, WATCHDOG_WAIT_MS, &dev, &t);
                if (r == -ENODEV)
                        init_log("watchdog: none found, boot not guarded");
                else if (r < 0)
                        init_log("watchdog: %s", err_message(r));
                else
                        init_log("watchdog: %s armed, %u s; the booted system must ping it", dev, t);
        }

        r = config_new_default(&config);
        if (r < 0)
                init_fail("start: out of memory");
        /* Not fatal: without EFI variables every disk is searched, as in a test VM with -kernel. */
        _cleanup_free_ char *esp_uuid = NULL;
        bool esp_from_cmdline = false;
        r = init_efi_setup(&esp_uuid);
        if (r < 0)
                init_log("EFI: %s; searching every disk", err_message(r));
        else if (r > 0)
                init_log("loader started from the ESP %s: looking on its disk only", esp_uuid);
        else if (cl.esp_uuid[0]) {
                /* No loader interface (U-Boot): boot.cmd says the partition it loaded from. */
                esp_uuid = strdup(cl.esp_uuid);
                if (!esp_uuid)
                        init_fail("start: out of memory");
                esp_from_cmdline = true;
                init_log("boot script started from the partition %s (abide.esp=): looking on its disk only", esp_uuid);
        } else if (cl.esp_invalid)
                init_log("abide.esp= is not a UUID: ignored, searching every disk");
        find_and_verify(config, cl.slot, cl.wait_sec, false, INIT_KEYS_DIR, esp_uuid, &parts, &root_hash);
        if (disk_identity(config, cl.slot, cl.wait_sec, &esp_uuid, &parts) || esp_from_cmdline)
                leave_esp_note(esp_uuid);

        init_step_deadline("verity", 60);
        r = init_verity_activate(parts.slot[SLOT_PART_ROOT].path, parts.slot[SLOT_PART_VERITY].path, root_hash,
                                 INIT_VERITY_NAME, &node);
        if (r < 0)
                init_fail("slot %s: %s", s, err_message(r));
        init_log("slot %s: dm-verity active on %s", s, node);

        init_step_deadline("mount", 60);
        const char *type = NULL;
        r = init_mount_root(node, INIT_SYSROOT, &type);
        if (r < 0)
                init_fail("slot %s: root: %s", s, err_message(r));
        r = init_mount_data(parts.data.path, INIT_DATA_DIR, INIT_SYSROOT);
        if (r < 0)
                init_fail("abide-data: %s", err_message(r));
        init_log("root (%s) read-only on %s, abide-data on /var and under /etc", type, INIT_SYSROOT);

        /* An older, validly signed image written into the slot is refused here (docs/anti-rollback.md). */
        InitFloor fl;
        r = init_floor_check(INIT_SYSROOT, EFIVARS_DEFAULT_DIR, &fl);
        if (r < 0)
                init_fail("slot %s: %s", s, err_message(r));
        init_log("slot %s: security version %" PRIu64 ", floor %" PRIu64 " (%s)", s, fl.sv, fl.floor,
                 floor_source_to_string(fl.source));

        /* Not fatal: the slot is verified and mounted; without the ESP the booted
         * system cannot bless itself, so a trial runs out and is rolled back. */
        _cleanup_free_ char *esp = NULL;
        r = init_mount_esp(config, INIT_SYSROOT, esp_uuid, &esp);
        if (r < 0)
                init_log("ESP: %s; abidectl will not find it", err_message(r));
        else if (r > 0)
                init_log("ESP %s on %s", esp, INIT_ESP_DIR);

        /* CLOCK_BOOTTIME starts with the kernel's timekeeping: the time the boot spent before userspace ran. */
        struct timespec now;
        if (clock_gettime(CLOCK_BOOTTIME, &now) == 0)
                init_log("switch_root after %.2f s since kernel start", (double) now.tv_sec + (double) now.tv_nsec / 1e9);
        init_log("switching to %s", INIT_PATH);
        init_step_deadline("switch_root", 30);
        argv[0] = (char *) INIT_PATH;
        r = init_switch_root(INIT_SYSROOT, INIT_PATH, argv);
        init_fail("switch_root: %s", err_message(r));
}

static void help(void) {
        printf("Usage: abide-init                 (as PID 1 of the initramfs only)\n"
               "       abide-init --test-verify-slot SLOT --disk DISK [--keys PATH] [--wait SEC] [--first-boot]\n\n"
               "PID 1 of abide's initramfs: verifies the slot named by abide.slot= on the\n"
               "kernel command line, activates dm-verity and switches to its /sbin/init;\n"
               "reboots on any failure (docs/boot.md).\n\n"
               "The test mode runs the partition and signature steps on DISK (a disk\n"
               "image or block device) and prints the verified root hash; failures print\n"
               "one line on stderr and exit 1 instead of rebooting.\n"
               "  --test-verify-slot SLOT  a or b\n"
               "  --disk DISK              where to look for the partitions\n"
               "  --keys PATH              trusted CA directory or PEM file (default %s)\n"
               "  --wait SEC               wait this long for the partitions (default 0)\n"
               "  --first-boot             then the boot's partition table step: a factory disk gets its\n"
               "                           own UUIDs, a damaged table copy is written again\n",
               INIT_KEYS_DIR);
}

static int test_mode(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "test-verify-slot", required_argument, NULL, 's' },
                { "disk", required_argument, NULL, 'd' },
                { "keys", required_argument, NULL, 'k' },
                { "wait", required_argument, NULL, 'w' },
                { "first-boot", no_argument, NULL, 'f' },
                {}
        };
        const char *slot_arg = NULL, *disk = NULL, *keys = INIT_KEYS_DIR;
        unsigned wait_sec = 0;
        bool first_boot = false;
        int c;

        init_log_set_test_mode(true);
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case 's':
                        slot_arg = optarg;
                        break;
                case 'd':
                        disk = optarg;
                        break;
                case 'k':
                        keys = optarg;
                        break;
                case 'f':
                        first_boot = true;
                        break;
                case 'w': {
                        int r = init_cmdline_parse_seconds("--wait", optarg, INIT_WAIT_MAX_SEC, &wait_sec);
                        if (r < 0)
                                init_fail("%s", err_message(r));
                        break;
                }
                default:
                        return 1;
                }
        if (optind < argc)
                init_fail("unexpected argument '%s'", argv[optind]);
        if (!slot_arg || !disk)
                init_fail("the test mode needs --test-verify-slot SLOT and --disk DISK");
        Slot slot = slot_from_string(slot_arg);
        if (slot < 0)
                init_fail("--test-verify-slot %s: expected a or b", slot_arg);

        _cleanup_(config_freep) AbideConfig *config = NULL;
        _cleanup_(init_partitions_done) InitPartitions parts = {};
        _cleanup_free_ char *root_hash = NULL;
        if (config_new_default(&config) < 0 || !(config->disk = strdup(disk)))
                init_fail("out of memory");
        find_and_verify(config, slot, wait_sec, true, keys, NULL, &parts, &root_hash);
        if (first_boot) {
                _cleanup_free_ char *unused = NULL, *repaired = NULL;
                struct stat st;
                int r = stat(disk, &st) < 0 ? err_set(errno, "%s: %m", disk)
                                            : init_identity_check(disk, S_ISBLK(st.st_mode), true, NULL, &unused, &repaired);
                if (r < 0)
                        init_fail("%s", err_message(r));
                if (r == INIT_IDENTITY_OWN)
                        fprintf(stderr, "abide-init: disk %s: the factory image's disk GUID and partition UUIDs replaced by its own\n", disk);
                else if (r == INIT_IDENTITY_REPAIRED)
                        fprintf(stderr, "abide-init: disk %s: partition table written again: %s\n", disk, repaired);
                else
                        fprintf(stderr, "abide-init: disk %s: has its own UUIDs already, or no GPT: unchanged\n", disk);
        }
        init_step_deadline(NULL, 0);
        printf("%s\n", root_hash);
        return 0;
}

int main(int argc, char *argv[]) {
        if (json_use_unseeded_hash() < 0)
                init_fail("start: json-c refused its unseeded string hash");
        /* As PID 1 the arguments are the kernel's leftovers for init, never options. */
        if (getpid() == 1)
                boot(argc, argv);
        if (argc > 1)
                return test_mode(argc, argv);
        fprintf(stderr, "abide-init: not PID 1: this is the initramfs's init; see --help for the test mode\n");
        return 1;
}
