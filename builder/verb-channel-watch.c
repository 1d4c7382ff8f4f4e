/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * abide-build channel watch (docs/report.md, "The rollout stops itself"):
 * reads the reports an endpoint stored, and per release of the channel
 * halts it when too many devices that took it failed, or advances it to
 * the next planned stage when enough of them blessed it. The decision is
 * lib/report/report-watch.c's; this file reads and writes.
 */
#include <dirent.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/opt-error.h"
#include "channel-dir.h"
#include "report/report-watch.h"
#include "verb.h"

typedef struct WatchArgs {
        const char *dir, *reports, *key, *cert, *ca;
        ReportWatchPolicy policy;
        bool dry_run;
} WatchArgs;

static void help(void) {
        printf("Usage: abide-build channel watch DIR --reports RDIR --key K --cert C --ca CA\n"
               "         [--max-failure-percent N] [--min-blessed-percent N] [--min-devices N] [--dry-run]\n\n"
               "Reads the device reports stored in RDIR (docs/report.md; e.g. the root of nginx's\n"
               "dav location) and, for each release in DIR/channel.json, counts the devices that\n"
               "took it (started its install), failed it (rolled back, marked bad, install failed)\n"
               "and blessed it. More than N %% failed: halts the release. Otherwise, when at least\n"
               "--min-blessed-percent of them and --min-devices blessed it: moves it to the next\n"
               "of its planned --stages. Prints one line per release; writes (serial + 1, signed)\n"
               "only when something changed.\n\n"
               "  --reports RDIR             the stored reports (*.json); a malformed one is skipped\n"
               "  --ca CA                    verify DIR's signature before acting on it, and the new\n"
               "                             one before writing it (required unless --dry-run)\n"
               "  --max-failure-percent N    default 5\n"
               "  --min-blessed-percent N    default 90\n"
               "  --min-devices N            default 1\n"
               "  --dry-run                  print the decisions, write nothing (no key needed)\n");
}

static int parse_uint(const char *opt, const char *s, unsigned max, unsigned *ret) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-' || v > max)
                return err_set(EINVAL, "watch: invalid %s '%s' (0..%u)", opt, s, max);
        *ret = (unsigned) v;
        return 0;
}

static int parse_args(int argc, char *argv[], WatchArgs *a) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "reports", required_argument, NULL, 'r' },
                { "key", required_argument, NULL, 'k' },
                { "cert", required_argument, NULL, 'c' },
                { "ca", required_argument, NULL, 'a' },
                { "max-failure-percent", required_argument, NULL, 'F' },
                { "min-blessed-percent", required_argument, NULL, 'B' },
                { "min-devices", required_argument, NULL, 'D' },
                { "dry-run", no_argument, NULL, 'n' },
                {}
        };
        int c, r;

        *a = (WatchArgs) { .policy = { .max_failure_percent = 5, .min_blessed_percent = 90, .min_devices = 1 } };
        optind = 0;
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 1;
                case 'r': a->reports = optarg; break;
                case 'k': a->key = optarg; break;
                case 'c': a->cert = optarg; break;
                case 'a': a->ca = optarg; break;
                case 'n': a->dry_run = true; break;
                case 'F':
                        if ((r = parse_uint("--max-failure-percent", optarg, 100, &a->policy.max_failure_percent)) < 0)
                                return r;
                        break;
                case 'B':
                        if ((r = parse_uint("--min-blessed-percent", optarg, 100, &a->policy.min_blessed_percent)) < 0)
                                return r;
                        break;
                case 'D':
                        if ((r = parse_uint("--min-devices", optarg, 1000000, &a->policy.min_devices)) < 0)
                                return r;
                        break;
                default:
                        return err_prefix(opt_error(c, argv, options, "abide-build channel watch --help"), "watch");
                }
        if (optind + 1 != argc)
                return err_set(EINVAL, "watch: expected DIR (see abide-build channel watch --help)");
        a->dir = argv[optind];
        if (!a->reports)
                return err_set(EINVAL, "watch: --reports RDIR is required");
        if (!a->dry_run && (!a->key || !a->cert))
                return err_set(EINVAL, "watch: --key and --cert are required (or --dry-run)");
        /* As every change: only a channel a release signer signed is signed again. */
        if (!a->dry_run && !a->ca)
                return err_set(EINVAL, "watch: --ca CA is required: the current %s/" CHANNEL_FILE " is verified against "
                               "it before it is signed again (or --dry-run)", a->dir);
        return 0;
}

typedef struct Reports {
        ReportRecord *recs;
        size_t n;
        size_t skipped;
} Reports;

static void reports_done(Reports *r) {
        for (size_t i = 0; i < r->n; i++)
                report_record_done(&r->recs[i]);
        free(r->recs);
        *r = (Reports) {};
}

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

static void warn(const char *fmt, ...) _printf_(1, 2);
static void warn(const char *fmt, ...) {
        va_list ap;
        fprintf(stderr, "abide-build: channel: watch: warning: ");
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

/* Every *.json in dir that is a report; anything else there is skipped with a warning. */
static int reports_load(const char *dir, Reports *ret) {
        _cleanup_(closedirp) DIR *d = opendir(dir);
        Reports rs = {};
        size_t alloc = 0;

        if (!d)
                return err_set(errno, "watch: cannot read the reports directory %s: %m", dir);
        for (struct dirent *de; (errno = 0, de = readdir(d));) {
                size_t n = strlen(de->d_name);
                if (de->d_name[0] == '.' || n <= 5 || !streq(de->d_name + n - 5, ".json"))
                        continue;
                _cleanup_free_ char *path = NULL, *text = NULL;
                size_t len;
                struct stat st;
                if (asprintf(&path, "%s/%s", dir, de->d_name) < 0) {
                        reports_done(&rs);
                        return -ENOMEM;
                }
                /* Only regular files: a link could point anywhere on the publisher's machine. */
                if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
                        warn("%s: not a regular file, skipped", path);
                        rs.skipped++;
                        continue;
                }
                int r = read_full_file(path, REPORT_MAX_SIZE, &text, &len);
                if (r < 0) {
                        warn("%s: %s, skipped", path, r == -EFBIG ? "larger than a report" : strerror(-r));
                        rs.skipped++;
                        continue;
                }
                ReportRecord rec;
                r = report_record_parse(text, len, &rec);
                if (r < 0) {
                        warn("%s: %s, skipped", path, err_message(r));
                        err_clear();
                        rs.skipped++;
                        continue;
                }
                if (rs.n == alloc) {
                        alloc = alloc ? alloc * 2 : 64;
                        ReportRecord *l = reallocarray(rs.recs, alloc, sizeof *l);
                        if (!l) {
                                report_record_done(&rec);
                                reports_done(&rs);
                                return -ENOMEM;
                        }
                        rs.recs = l;
                }
                rs.recs[rs.n++] = rec;
        }
        if (errno) {
                int r = err_set(errno, "watch: cannot read the reports directory %s: %m", dir);
                reports_done(&rs);
                return r;
        }
        *ret = rs;
        return 0;
}

/* Decides for one release; 1 when it changed. */
static int watch_release(ChannelRelease *rel, const Reports *rs, const ReportWatchPolicy *p, bool dry_run) {
        _cleanup_free_ const ReportRecord **mine = calloc(MAX(rs->n, 1), sizeof *mine);
        size_t n = 0;
        ReportTally t;
        ReportWatchDecision d;
        char now[8], next[8];

        if (!mine)
                return -ENOMEM;
        for (size_t i = 0; i < rs->n; i++)
                if (streq_ptr(rs->recs[i].compatible, rel->compatible) && streq_ptr(rs->recs[i].to_version, rel->version))
                        mine[n++] = &rs->recs[i];
        report_tally(mine, n, &t);
        report_watch_decide(&t, p, rel->halted, rel->percent_bp, rel->stages_bp, rel->n_stages, &d);

        channel_percent_format(rel->percent_bp, now);
        switch (d.action) {
        case REPORT_WATCH_HALT: {
                printf("%s %s: halt: %s\n", rel->compatible, rel->version, d.reason);
                if (dry_run)
                        return 1;
                _cleanup_free_ char *reason = NULL;
                if (asprintf(&reason, "watch: %s", d.reason) < 0)
                        return -ENOMEM;
                rel->halted = true;
                free(rel->halt_reason);
                rel->halt_reason = TAKE_PTR(reason);
                return 1;
        }
        case REPORT_WATCH_ADVANCE:
                channel_percent_format(d.next_percent_bp, next);
                printf("%s %s: advance %s%% -> %s%%: %s\n", rel->compatible, rel->version, now, next, d.reason);
                if (!dry_run)
                        rel->percent_bp = d.next_percent_bp;
                return 1;
        case REPORT_WATCH_NONE:
        default:
                printf("%s %s: no change: %s\n", rel->compatible, rel->version, d.reason);
                return 0;
        }
}

int verb_channel_watch(int argc, char *argv[]) {
        _cleanup_(signer_freep) Signer *signer = NULL;
        _cleanup_(trust_store_freep) TrustStore *trust = NULL;
        _cleanup_(channel_freep) Channel *c = NULL;
        _cleanup_(reports_done) Reports rs = {};
        _cleanup_close_ int lock = -EBADF;
        WatchArgs a;
        size_t changed = 0;
        uint64_t now;
        int r;

        /* verb_channel() hands over its argv: "channel", "watch", ... */
        if (argc > 0 && streq(argv[0], "channel"))
                argc--, argv++;
        r = parse_args(argc, argv, &a);
        if (r != 0)
                return r > 0 ? 0 : r;

        if (!a.dry_run) {
                r = signer_load(a.key, a.cert, &signer);
                if (r >= 0)
                        r = signer_check_release(signer);
                if (r < 0)
                        return err_prefix(r, "watch");
        }
        if (a.ca) {
                r = trust_store_load(a.ca, &trust);
                if (r < 0)
                        return err_prefix(r, "watch: %s", a.ca);
        }
        /* Held from the read to the write: a halt by hand in between is not lost. */
        r = channel_dir_lock(a.dir, &lock);
        if (r < 0)
                return err_prefix(r, "watch");
        r = channel_dir_load(a.dir, trust, &c, NULL);
        if (r < 0)
                return err_prefix(r, "watch");
        r = reports_load(a.reports, &rs);
        if (r < 0)
                return r;

        printf("%zu report%s read from %s", rs.n, rs.n == 1 ? "" : "s", a.reports);
        if (rs.skipped > 0)
                printf(" (%zu skipped)", rs.skipped);
        printf("\n");
        for (size_t i = 0; i < c->n_releases; i++) {
                r = watch_release(&c->releases[i], &rs, &a.policy, a.dry_run);
                if (r < 0)
                        return r;
                changed += (size_t) r;
        }

        if (changed == 0) {
                printf("%s/" CHANNEL_FILE ": unchanged (serial %" PRIu64 ")\n", a.dir, c->serial);
                return 0;
        }
        if (a.dry_run) {
                printf("%s/" CHANNEL_FILE ": --dry-run, not written (serial %" PRIu64 ")\n", a.dir, c->serial);
                return 0;
        }
        r = channel_dir_now(&now);
        if (r < 0)
                return r;
        r = channel_dir_save(a.dir, c, signer, trust, now, CHANNEL_EXPIRY_KEEP);
        if (r < 0)
                return err_prefix(r, "watch");
        printf("%s/" CHANNEL_FILE ": serial %" PRIu64 "\n", a.dir, c->serial);
        return 0;
}
