/* virtiosim command line. Exit codes: 0 all passed, 1 a scenario or statement failed,
 * 2 usage or scenario-file error, 3 back-end or infrastructure error. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "virtiosim/conformance.h"
#include "virtiosim/gmem.h"
#include "virtiosim/vhost.h"
#include "virtiosim/vhost_user.h"
#include "virtiosim/report.h"
#include "virtiosim/runner.h"
#include "virtiosim/scenario.h"
#include "virtiosim/virtio.h"

#include "sim/backend_dev.h"
#include "sim/child.h"
#include "sim/sim_dev.h"

enum { EXIT_PASS = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_INFRA = 3 };

/* int rather than sig_atomic_t so the runner and driver can watch it through a
 * `const volatile int *` (sig_atomic_t is int on every platform virtiosim builds on). */
static volatile int g_interrupted;

/* First ^C: finish up (the runner stops the scenario, stops children, writes reports).
 * Second: kill every child process (QEMU, qemu-storage-daemon) and die. */
static void on_signal(int sig)
{
    if (g_interrupted) {
        vs_child_die_of_signal(sig);
        return;
    }
    g_interrupted = 1;
}

static void usage(FILE *f)
{
    fputs("usage: virtiosim COMMAND [OPTIONS] ...\n"
          "\n"
          "  run [OPTIONS] SCENARIO|DIR...   replay scenarios (DIR: every *.yaml below it)\n"
          "  suite NAME|FILE [OPTIONS]       certification run of a named suite\n"
          "                                  (scenarios/suites/NAME.yaml)\n"
          "  clauses [--area A] [--role R] [--json] [--scenarios DIR]\n"
          "                                  the statement catalogue and its coverage\n"
          "  report diff OLD.json NEW.json   verdicts that changed between two runs\n"
          "  serve --device blk --vhost-user SOCKET [--image FILE] [--capacity SIZE]\n"
          "        [--read-only] [--queues N] [--once] [--report DIR]\n"
          "                                  export the reference device to a vhost-user\n"
          "                                  front-end and judge the front-end's messages\n"
          "  mutants                         prove every check fails against its mutant\n"
          "                                  (run from the source tree's root)\n"
          "\n"
          "options of run and suite:\n"
          "  --backend ref|qemu   the device under test: ref (default), the in-process\n"
          "                       reference device on a virtual clock; qemu, QEMU's\n"
          "                       virtio-blk-pci driven without a guest\n"
          "  --backend pci        the same as --backend ref --transport pci\n"
          "  --backend qsd        qemu-storage-daemon's vhost-user-blk export (started here)\n"
          "  --backend vhost-user:SOCKET   any vhost-user-blk back-end listening on SOCKET\n"
          "  --backend qemu-vhost-user:SOCKET   QEMU's vhost-user-blk-pci in front of it\n"
          "  --qemu PATH          qemu-system-x86_64 to use (default: $VIRTIOSIM_QEMU, PATH)\n"
          "  --qemu-same-cpu      run virtiosim and QEMU on one CPU: kicks and interrupts\n"
          "                       become local wake-ups (faster; avoid with parallel runs)\n"
          "  --transport pci      with --backend ref: the reference device behind an\n"
          "                       in-process virtio-pci function (the same PCI driver code\n"
          "                       as for QEMU, deterministic)\n"
          "  --seed N             override every scenario's seed\n"
          "  --trace FILE         write every event as JSON Lines\n"
          "  --report DIR         write results.json, junit.xml, results.ktap, report.html\n"
          "  --mutant NAME        run against a deliberately broken device (see `mutants`)\n"
          "  --expected FILE      known non-conformances of the back-end (XFAIL, with the\n"
          "                       reason); e.g. scenarios/expected/qemu-7.2.yaml\n"
          "  -q, --quiet          only the summary line (and failures)\n"
          "  -v, --verbose        every step\n"
          "\n"
          "  -h, --help           this text\n"
          "  --version            version\n"
          "\n"
          "exit codes: 0 all passed, 1 a scenario or statement failed, 2 usage or scenario\n"
          "error, 3 back-end or infrastructure error\n",
          f);
}

/* ------------------------------------------------------------------ scenario lists */

typedef struct strlist {
    char **v;
    size_t n, cap;
} strlist;

static int strlist_add(strlist *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s)))
        return -1;
    l->n++;
    return 0;
}

static void strlist_free(strlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* Every *.yaml below dir, in name order; suite folders hold suites, not scenarios. */
static int collect_dir(const char *dir, strlist *out)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "virtiosim: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    strlist names = {0};
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        strlist_add(&names, de->d_name);
    }
    closedir(d);
    qsort(names.v, names.n, sizeof *names.v, cmp_str);
    int rc = 0;
    for (size_t i = 0; i < names.n && rc == 0; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", dir, names.v[i]);
        struct stat st;
        /* Directories are walked only when they are real ones: a symlink to a directory
         * could loop or run scenarios twice. */
        if (lstat(path, &st) != 0 || (S_ISLNK(st.st_mode) && stat(path, &st) == 0 &&
                                      S_ISDIR(st.st_mode)))
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (strcmp(names.v[i], "suites") != 0)
                rc = collect_dir(path, out);
        } else if (has_suffix(names.v[i], ".yaml") || has_suffix(names.v[i], ".yml")) {
            rc = strlist_add(out, path);
        }
    }
    strlist_free(&names);
    return rc;
}

static int collect(char *const *args, int n, strlist *out)
{
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(args[i], &st) != 0) {
            fprintf(stderr, "virtiosim: %s: %s\n", args[i], strerror(errno));
            return -1;
        }
        if (S_ISDIR(st.st_mode) ? collect_dir(args[i], out) : strlist_add(out, args[i]))
            return -1;
    }
    if (out->n == 0) {
        fprintf(stderr, "virtiosim: no scenario files found\n");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ running */

typedef struct run_cli {
    vs_run_opts o;
    vs_expected *expected;
    const char *report_dir;
    const char *trace_path;
    const char *suite;
    int quiet, verbose;
} run_cli;

static double secs(uint64_t ns) { return (double)ns / 1e9; }

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A failed scenario is an expected failure when the file lists it, or when every way it
 * failed is a listed statement (no step failed, every failing statement is listed). */
static const vs_expected_entry *expected_failure(const vs_expected *x,
                                                 const vs_scenario_result *r)
{
    const vs_expected_entry *e = vs_expected_find(x, r->name);
    if (e || !x || r->verdict != VS_SCN_FAIL || r->failed_step >= 0 || !r->conformance)
        return e;
    for (size_t i = 0; i < r->conformance->n_stmt; i++) {
        const vs_stmt_result *sr = &r->conformance->stmt[i];
        if (sr->verdict != VS_VERDICT_FAIL)
            continue;
        const vs_expected_entry *se = vs_expected_find_statement(x, sr->st->id);
        if (!se)
            return NULL;
        e = se;
    }
    return e;
}

/* A scenario that did not fail yet failed a statement: skipped (e.g. the back-end offers
 * no VERSION_1, which is itself a MUST failed) with the monitors' verdicts already in.
 * Statements listed in --expected, or the scenario itself, do not count. */
static bool failed_statements_only(const vs_expected *x, const vs_scenario_result *r)
{
    if (r->verdict != VS_SCN_SKIPPED || !r->conformance ||
        !r->conformance->count[VS_VERDICT_FAIL] || vs_expected_find(x, r->name))
        return false;
    for (size_t i = 0; i < r->conformance->n_stmt; i++) {
        const vs_stmt_result *sr = &r->conformance->stmt[i];
        if (sr->verdict == VS_VERDICT_FAIL && !vs_expected_find_statement(x, sr->st->id))
            return true;
    }
    return false;
}

static void print_result(const run_cli *rc, const vs_scenario_result *r)
{
    static const char *const tags[] = {"PASS", "FAIL", "ERROR", "SKIP"};
    const vs_expected_entry *x = expected_failure(rc->expected, r);
    const char *tag = tags[r->verdict];
    if (x)
        tag = r->verdict == VS_SCN_FAIL ? "XFAIL" : r->verdict == VS_SCN_PASS ? "XPASS" : tag;
    bool stmt_failed = failed_statements_only(rc->expected, r);
    bool bad = r->verdict == VS_SCN_FAIL || r->verdict == VS_SCN_ERROR || stmt_failed;
    if (rc->quiet && !bad && !x)
        return;
    const char *arg;
    const vs_backend *be = vs_backend_find(rc->o.backend ? rc->o.backend : "ref", &arg);
    printf("%-5s %-34s %3u steps %8.3f s  %s %10.3f ms\n", tag, r->name, r->steps_run,
           secs(r->wall_ns), !be || (be->caps & VS_BE_REAL) ? "wall   " : "virtual",
           (double)r->virtual_ns / 1e6);
    if (x && r->verdict == VS_SCN_PASS)
        printf("      listed as an expected failure in %s but passed: update that file\n",
               rc->expected->path);
    if (r->message[0] && (bad || !rc->quiet))
        printf("      %s\n", r->message);
    if (stmt_failed)
        printf("      skipped, but %zu statement%s failed: the run fails\n",
               r->conformance->count[VS_VERDICT_FAIL],
               r->conformance->count[VS_VERDICT_FAIL] == 1 ? "" : "s");
    fflush(stdout);
}

/* Loads, runs and reports a list of scenario files. */
/* One scenario's row of the reports. */
static vs_report_scenario report_row(const vs_scenario *s, const vs_scenario_result *r)
{
    return (vs_report_scenario){
        .name = r->name,
        .path = r->path,
        .seed = r->seed,
        .trace_digest = r->digest[0] ? r->digest : NULL,
        .verdict = r->verdict,
        .message = r->message[0] ? r->message : NULL,
        .fail_step = r->failed_step,
        .fail_step_desc = r->failed_step_desc[0] ? r->failed_step_desc : NULL,
        .steps_run = r->steps_run,
        .virtual_ns = r->virtual_ns,
        .wall_ns = r->wall_ns,
        .device_id = s->device_id,
        .features = r->negotiated,
        .results = r->conformance,
        .timeline = r->timeline,
    };
}

static void print_summary(const run_cli *rc, size_t ran, const size_t *counts, size_t xfail,
                          uint64_t wall, const vs_results *agg)
{
    printf("%zu scenario%s: %zu passed, %zu failed", ran, ran == 1 ? "" : "s",
           counts[VS_SCN_PASS], counts[VS_SCN_FAIL] - xfail);
    if (rc->expected)
        printf(" (+%zu expected)", xfail);
    printf(", %zu errors, %zu skipped in %.2f s", counts[VS_SCN_ERROR], counts[VS_SCN_SKIPPED],
           secs(wall));
    printf("; statements: %zu pass, %zu fail, %zu not exercised, %zu not applicable, "
           "%zu untestable\n",
           agg->count[VS_VERDICT_PASS], agg->count[VS_VERDICT_FAIL],
           agg->count[VS_VERDICT_NOT_EXERCISED] + agg->count[VS_VERDICT_NO_CHECK],
           agg->count[VS_VERDICT_NOT_APPLICABLE], agg->count[VS_VERDICT_UNTESTABLE]);
}

static int run_files(run_cli *rc, const strlist *files)
{
    /* Load everything first: a malformed file is reported before anything runs. */
    vs_scenario **sc = calloc(files->n, sizeof *sc);
    vs_scenario_result *res = calloc(files->n, sizeof *res);
    vs_report_scenario *rep = calloc(files->n, sizeof *rep);
    if (!sc || !res || !rep) {
        fprintf(stderr, "virtiosim: out of memory\n");
        free(sc), free(res), free(rep);
        return EXIT_INFRA;
    }
    int exit_code = EXIT_PASS;
    for (size_t i = 0; i < files->n; i++) {
        vs_err e = {0};
        if (vs_scenario_load(files->v[i], &sc[i], &e) < 0) {
            fprintf(stderr, "%s\n", e.msg);
            exit_code = EXIT_USAGE;
        }
    }
    if (exit_code != EXIT_PASS)
        goto out;

    FILE *trace = NULL;
    if (rc->trace_path && !(trace = fopen(rc->trace_path, "w"))) {
        fprintf(stderr, "virtiosim: %s: %s\n", rc->trace_path, strerror(errno));
        exit_code = EXIT_USAGE;
        goto out;
    }
    rc->o.trace = trace;
    rc->o.progress = !rc->quiet && isatty(STDERR_FILENO);
    rc->o.stop = &g_interrupted;
    rc->o.verbose = rc->verbose;

    /* The first ^C finishes the current scenario and writes the reports; a second one
     * (SA_RESETHAND) ends the process at once. */
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    char started[40];
    time_t now = time(NULL);
    strftime(started, sizeof started, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    uint64_t t0 = mono_ns();
    size_t ran = 0, counts[VS_SCN_VERDICT_COUNT] = {0}, xfail = 0, stmt_failed = 0;
    vs_results *agg = NULL;
    vs_err e = {0};
    if (vs_results_create(&agg, &e) < 0) {
        fprintf(stderr, "virtiosim: %s\n", e.msg);
        exit_code = EXIT_INFRA;
        goto out_trace;
    }
    for (size_t i = 0; i < files->n && !g_interrupted; i++) {
        vs_err re = {0};
        if (vs_run_scenario(sc[i], &rc->o, &res[i], &re) < 0) {
            res[i].verdict = VS_SCN_ERROR;
            snprintf(res[i].message, sizeof res[i].message, "%s", re.msg);
        }
        ran++;
        counts[res[i].verdict]++;
        const vs_expected_entry *xe = expected_failure(rc->expected, &res[i]);
        if (xe && res[i].verdict == VS_SCN_FAIL) {
            xfail++;
            char m[sizeof res[i].message];
            snprintf(m, sizeof m, "expected failure (%s): %s | %s", rc->expected->path,
                     xe->reason, res[i].message);
            memcpy(res[i].message, m, sizeof m);
        }
        /* A scenario cut short by ^C says nothing about the device: keep its partial
         * verdicts out of the run's aggregate. */
        if (res[i].conformance && !(g_interrupted && res[i].verdict == VS_SCN_SKIPPED)) {
            vs_results_merge(agg, res[i].conformance, &re);
            stmt_failed += failed_statements_only(rc->expected, &res[i]);
        }
        print_result(rc, &res[i]);
        rep[i] = report_row(sc[i], &res[i]);
        if (xe && res[i].verdict == VS_SCN_FAIL)
            rep[i].expect = VS_REPORT_EXPECT_FAIL;
        else if (xe && res[i].verdict == VS_SCN_PASS)
            rep[i].expect = VS_REPORT_EXPECT_XPASS;
        rep[i].expect_reason = rep[i].expect ? xe->reason : NULL;
    }
    if (g_interrupted)
        fprintf(stderr, "virtiosim: interrupted after %zu of %zu scenarios\n", ran, files->n);
    /* The reports list every scenario of the run; those ^C kept from running as skipped. */
    for (size_t i = ran; i < files->n; i++)
        rep[i] = (vs_report_scenario){
            .name = sc[i]->name,
            .path = sc[i]->path,
            .seed = rc->o.seed_set ? rc->o.seed : sc[i]->seed,
            .verdict = VS_SCN_SKIPPED,
            .message = "not run: interrupted",
            .fail_step = -1,
            .device_id = sc[i]->device_id,
        };
    const char *backend_version = NULL;
    for (size_t i = 0; i < ran && !backend_version; i++)
        if (res[i].verdict != VS_SCN_SKIPPED && res[i].backend_version[0])
            backend_version = res[i].backend_version;

    print_summary(rc, ran, counts, xfail, mono_ns() - t0, agg);

    if (rc->report_dir) {
        vs_report_run run = {
            .tool = "virtiosim",
            .tool_version = VS_VERSION,
            .backend = rc->o.backend ? rc->o.backend : "ref",
            .backend_version = backend_version ? backend_version : "unknown (nothing ran)",
            .started = started,
            .suite = rc->suite,
            .interrupted = g_interrupted,
            .n_scenarios = files->n,
            .scenarios = rep,
            .aggregate = agg,
        };
        vs_report_expected_stmt xs[64];
        if (rc->expected) {
            run.expected_file = rc->expected->path;
            for (unsigned k = 0; k < rc->expected->n && run.n_expected_stmts < 64; k++)
                if (rc->expected->e[k].statement)
                    xs[run.n_expected_stmts++] = (vs_report_expected_stmt){
                        rc->expected->e[k].statement, rc->expected->e[k].reason};
            run.expected_stmts = xs;
        }
        if (vs_report_write_all(rc->report_dir, &run, &e) < 0) {
            fprintf(stderr, "virtiosim: writing reports: %s\n", e.msg);
            exit_code = EXIT_INFRA;
        } else if (!rc->quiet) {
            printf("reports: %s/{%s,%s,%s,%s}\n", rc->report_dir, VS_REPORT_JSON,
                   VS_REPORT_JUNIT, VS_REPORT_KTAP, VS_REPORT_HTML);
        }
    }
    if (exit_code == EXIT_PASS) {
        if (counts[VS_SCN_ERROR])
            exit_code = EXIT_INFRA;
        else if (counts[VS_SCN_FAIL] > xfail || stmt_failed || g_interrupted)
            exit_code = EXIT_FAILED;
    }
    vs_results_destroy(agg);
out_trace:
    if (trace)
        fclose(trace);
out:
    for (size_t i = 0; i < files->n; i++) {
        vs_scenario_result_clear(&res[i]);
        vs_scenario_free(sc[i]);
    }
    free(sc);
    free(res);
    free(rep);
    return exit_code;
}

enum { OPT_BACKEND = 1000, OPT_SEED, OPT_TRACE, OPT_REPORT, OPT_MUTANT, OPT_QEMU, OPT_QEMU_SAME_CPU, OPT_EXPECTED,
       OPT_TRANSPORT };

static const struct option run_options[] = {
    {"backend", required_argument, NULL, OPT_BACKEND},
    {"seed", required_argument, NULL, OPT_SEED},
    {"trace", required_argument, NULL, OPT_TRACE},
    {"report", required_argument, NULL, OPT_REPORT},
    {"mutant", required_argument, NULL, OPT_MUTANT},
    {"qemu", required_argument, NULL, OPT_QEMU},
    {"qemu-same-cpu", no_argument, NULL, OPT_QEMU_SAME_CPU},
    {"expected", required_argument, NULL, OPT_EXPECTED},
    {"transport", required_argument, NULL, OPT_TRANSPORT},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int parse_run_options(int argc, char **argv, run_cli *rc)
{
    rc->o.backend = "ref";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "qvh", run_options, NULL)) != -1) {
        switch (c) {
        case OPT_BACKEND: {
            const char *arg;
            if (!vs_backend_find(optarg, &arg)) {
                char names[200] = "";
                vs_backend_names(names, sizeof names);
                fprintf(stderr, "virtiosim: unknown back-end '%s' (available: %s)\n", optarg,
                        names);
                return -1;
            }
            rc->o.backend = optarg;
            break;
        }
        case OPT_QEMU: rc->o.qemu_path = optarg; break;
        case OPT_QEMU_SAME_CPU: rc->o.qemu_same_cpu = true; break;
        case OPT_TRANSPORT:
            if (strcmp(optarg, "pci") != 0 && strcmp(optarg, "default") != 0) {
                fprintf(stderr, "virtiosim: --transport is pci or default\n");
                return -1;
            }
            rc->o.pci = strcmp(optarg, "pci") == 0;
            break;
        case OPT_EXPECTED: {
            vs_err e = {0};
            vs_expected_free(rc->expected);
            if (vs_expected_load(optarg, &rc->expected, &e) < 0) {
                fprintf(stderr, "%s\n", e.msg);
                return -1;
            }
            break;
        }
        case OPT_SEED: {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 0);
            if (errno || *end || end == optarg || optarg[0] == '-') {
                fprintf(stderr, "virtiosim: --seed expects a non-negative number, got '%s'\n",
                        optarg);
                return -1;
            }
            rc->o.seed_set = true;
            rc->o.seed = v;
            break;
        }
        case OPT_TRACE: rc->trace_path = optarg; break;
        case OPT_REPORT: rc->report_dir = optarg; break;
        case OPT_MUTANT:
            if (!(rc->o.mutant = vs_mutant_find(optarg))) {
                fprintf(stderr, "virtiosim: unknown mutant '%s' (see `virtiosim mutants`)\n",
                        optarg);
                return -1;
            }
            break;
        case 'q': rc->quiet = 1; break;
        case 'v': rc->verbose = 1; break;
        case 'h': usage(stdout); exit(EXIT_PASS);
        default: return -1;
        }
    }
    return 0;
}

/* Options that only make sense with the in-process reference device. */
static int check_option_combinations(const run_cli *rc)
{
    const char *arg;
    const vs_backend *be = vs_backend_find(rc->o.backend ? rc->o.backend : "ref", &arg);
    bool ref = be && !(be->caps & VS_BE_REAL);
    if (rc->o.mutant && !ref) {
        fprintf(stderr, "virtiosim: --mutant needs --backend ref (mutants are variants of "
                        "the reference device)\n");
        return -1;
    }
    bool qemu = be && (be->caps & VS_BE_QEMU);
    if (rc->o.qemu_same_cpu && !qemu) {
        fprintf(stderr, "virtiosim: --qemu-same-cpu needs a QEMU back-end (--backend qemu or "
                        "qemu-vhost-user:SOCKET)\n");
        return -1;
    }
    if (rc->o.pci && !ref) {
        fprintf(stderr, "virtiosim: --transport pci needs --backend ref (QEMU is PCI "
                        "already; vhost-user has no PCI function)\n");
        return -1;
    }
    return 0;
}

static int cmd_run(int argc, char **argv)
{
    run_cli rc = {0};
    if (parse_run_options(argc, argv, &rc) < 0 || check_option_combinations(&rc) < 0)
        return EXIT_USAGE;
    if (optind >= argc) {
        fprintf(stderr, "virtiosim run: expected at least one SCENARIO or DIR\n");
        return EXIT_USAGE;
    }
    strlist files = {0};
    if (collect(argv + optind, argc - optind, &files) < 0) {
        strlist_free(&files);
        return EXIT_USAGE;
    }
    int r = run_files(&rc, &files);
    vs_expected_free(rc.expected);
    strlist_free(&files);
    return r;
}

/* Suites live in scenarios/suites/ of the working directory or of the source tree the
 * binary was built in (build/virtiosim → scenarios/suites). */
static int find_suite(const char *name, char *out, size_t len)
{
    if (strchr(name, '/') || has_suffix(name, ".yaml")) {
        snprintf(out, len, "%s", name);
        return access(out, R_OK);
    }
    snprintf(out, len, "scenarios/suites/%s.yaml", name);
    if (access(out, R_OK) == 0)
        return 0;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            static const char *const rel[] = {"../scenarios/suites",
                                              "../share/virtiosim/scenarios/suites"};
            for (int i = 0; i < 2; i++) {
                int w = snprintf(out, len, "%s/%s/%s.yaml", exe, rel[i], name);
                if (w > 0 && (size_t)w < len && access(out, R_OK) == 0)
                    return 0;
            }
        }
    }
    return -1;
}

static int cmd_suite(int argc, char **argv)
{
    run_cli rc = {0};
    if (parse_run_options(argc, argv, &rc) < 0 || check_option_combinations(&rc) < 0)
        return EXIT_USAGE;
    if (optind != argc - 1) {
        fprintf(stderr, "virtiosim suite: expected one suite NAME (e.g. blk-device)\n");
        return EXIT_USAGE;
    }
    char path[PATH_MAX];
    if (find_suite(argv[optind], path, sizeof path) < 0) {
        if (strchr(argv[optind], '/') || has_suffix(argv[optind], ".yaml"))
            fprintf(stderr, "virtiosim suite: %s: %s\n", argv[optind], strerror(errno));
        else
            fprintf(stderr, "virtiosim suite: no suite '%s' (looked for "
                            "scenarios/suites/%s.yaml here and beside the program)\n",
                    argv[optind], argv[optind]);
        return EXIT_USAGE;
    }
    vs_suite *s;
    vs_err e = {0};
    if (vs_suite_load(path, &s, &e) < 0) {
        fprintf(stderr, "%s\n", e.msg);
        return EXIT_USAGE;
    }
    strlist files = {0};
    for (unsigned i = 0; i < s->nscenarios; i++)
        strlist_add(&files, s->scenarios[i]);
    rc.suite = s->name;
    if (!rc.quiet)
        printf("suite %s: %u scenarios\n", s->name, s->nscenarios);
    int r = run_files(&rc, &files);
    vs_expected_free(rc.expected);
    strlist_free(&files);
    vs_suite_free(s);
    return r;
}

/* ------------------------------------------------------------------ clauses */

static bool mutant_proves(const char *id)
{
    for (size_t i = 0; i < vs_mutant_count(); i++)
        for (const char *const *f = vs_mutant_at(i)->fails; f && *f; f++)
            if (strcmp(*f, id) == 0)
                return true;
    return false;
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            printf("\\%c", ch);
        else if (ch < 0x20)
            printf("\\u%04x", ch);
        else
            putchar(ch);
    }
    putchar('"');
}

/* Which scenarios of dir exercise each statement (runs them in-process): a
 * comma-separated list of names per statement. -1: a file would not load. */
static int collect_exercised(const char *dir, char **exercised_by, size_t n)
{
    strlist files = {0};
    char *args[] = {(char *)dir};
    if (collect(args, 1, &files) < 0)
        return -1;
    for (size_t f = 0; f < files.n; f++) {
        vs_scenario *s;
        vs_err e = {0};
        if (vs_scenario_load(files.v[f], &s, &e) < 0) {
            fprintf(stderr, "%s\n", e.msg);
            return -1;
        }
        vs_scenario_result r;
        vs_run_opts o = {.backend = "ref"};
        if (vs_run_scenario(s, &o, &r, &e) == 0 && r.conformance) {
            for (size_t i = 0; i < n; i++) {
                if (!r.conformance->stmt[i].exercised)
                    continue;
                char *old = exercised_by[i], *nw;
                if (asprintf(&nw, "%s%s%s", old ? old : "", old ? "," : "", s->name) >= 0) {
                    free(old);
                    exercised_by[i] = nw;
                }
            }
        }
        vs_scenario_result_clear(&r);
        vs_scenario_free(s);
    }
    strlist_free(&files);
    return 0;
}

static void print_statement_json(const vs_statement *st, size_t shown, const char *names,
                                 bool mut, const char *exercised_by)
{
    printf("%s\n {\"id\":", shown ? "," : "");
    json_str(st->id);
    printf(",\"area\":");
    json_str(st->area);
    printf(",\"role\":");
    json_str(vs_role_name(st->role));
    printf(",\"level\":");
    json_str(vs_level_name(st->level));
    printf(",\"clause\":");
    json_str(st->clause);
    printf(",\"label\":");
    json_str(st->label);
    printf(",\"feature\":");
    json_str(st->feature);
    printf(",\"paraphrase\":");
    json_str(st->paraphrase);
    printf(",\"how\":");
    json_str(st->check);
    printf(",\"checks\":");
    json_str(names);
    printf(",\"mutant\":%s,\"exercised_by\":", mut ? "true" : "false");
    json_str(exercised_by ? exercised_by : "");
    printf("}");
}

static int cmd_clauses(int argc, char **argv)
{
    static const struct option opts[] = {
        {"area", required_argument, NULL, 'a'}, {"role", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'},       {"scenarios", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
    };
    const char *area = NULL, *role = NULL, *scen_dir = NULL;
    bool json = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'a': area = optarg; break;
        case 'r': role = optarg; break;
        case 'j': json = true; break;
        case 's': scen_dir = optarg; break;
        case 'h': usage(stdout); return EXIT_PASS;
        default: return EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "virtiosim clauses: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    if (role && strcmp(role, "device") && strcmp(role, "driver")) {
        fprintf(stderr, "virtiosim clauses: --role is device or driver\n");
        return EXIT_USAGE;
    }
    size_t n = vs_catalogue_count();
    /* Optional: which scenarios exercise each statement (runs them in-process). */
    char **exercised_by = calloc(n, sizeof *exercised_by);
    if (!exercised_by)
        return EXIT_INFRA;
    if (scen_dir && collect_exercised(scen_dir, exercised_by, n) < 0)
        return EXIT_USAGE;
    size_t shown = 0, checked = 0, proven = 0;
    if (json)
        printf("[");
    for (size_t i = 0; i < n; i++) {
        const vs_statement *st = vs_catalogue_at(i);
        if (area && strcmp(st->area, area) != 0)
            continue;
        if (role && strcmp(vs_role_name(st->role), role) != 0)
            continue;
        const vs_check_info *checks[8];
        size_t nc = vs_checks_for_statement(st->id, checks, 8);
        bool mut = mutant_proves(st->id);
        char names[200] = "";
        for (size_t k = 0; k < nc && k < 8; k++) {
            strncat(names, k ? "," : "", sizeof names - strlen(names) - 1);
            strncat(names, checks[k]->name, sizeof names - strlen(names) - 1);
        }
        checked += nc > 0;
        proven += mut;
        if (json) {
            print_statement_json(st, shown, names, mut, exercised_by[i]);
        } else {
            printf("%-38s %-10s %-5s %-6s %s\n", st->id, vs_level_name(st->level),
                   nc ? "check" : (st->method == VS_METHOD_UNTESTABLE ? "untst" : "-"),
                   mut ? "mutant" : "-", st->paraphrase);
            if (nc)
                printf("%38s checks: %s\n", "", names);
            if (exercised_by[i])
                printf("%38s exercised by: %s\n", "", exercised_by[i]);
        }
        shown++;
    }
    /* vhost-user rules come from QEMU's docs/interop/vhost-user.rst, not the VIRTIO spec:
     * they live in their own table (model/vhost_rules.c) and are judged by the vhost-user
     * server (front-end rules) and front-end (back-end rules). */
    size_t vu = 0;
    for (size_t i = 0; i < vs_vhost_rule_count() && (!area || !strcmp(area, "vhost-user")); i++) {
        const vs_vhost_rule *r = vs_vhost_rule_at(i);
        const char *rrole = r->role == VS_VHOST_ROLE_FRONTEND ? "driver" : "device";
        if (role && strcmp(role, rrole) != 0)
            continue;
        if (json) {
            printf("%s\n {\"id\":", shown ? "," : "");
            json_str(r->id);
            printf(",\"area\":\"vhost-user\",\"role\":");
            json_str(rrole);
            printf(",\"side\":");
            json_str(r->role == VS_VHOST_ROLE_FRONTEND ? "frontend" : "backend");
            printf(",\"level\":");
            json_str(vs_vhost_rule_level_name(r->level));
            printf(",\"clause\":\"vhost-user\",\"label\":");
            json_str(r->spec_ref);
            printf(",\"feature\":\"-\",\"paraphrase\":");
            json_str(r->paraphrase);
            printf(",\"how\":");
            json_str(r->check);
            printf(",\"checks\":\"vhost-protocol-model\",\"mutant\":false,\"exercised_by\":\"\"}");
        } else {
            printf("%-38s %-10s %-5s %-6s %s\n", r->id, vs_vhost_rule_level_name(r->level),
                   "check", "-", r->paraphrase);
        }
        shown++;
        vu++;
    }
    if (json)
        printf("\n]\n");
    else
        printf("%zu statements, %zu with a check, %zu proven by a mutant%s", shown - vu, checked,
               proven, vu ? "" : "\n");
    if (!json && vu)
        printf("; %zu vhost-user rules (docs/interop/vhost-user.rst), judged by the protocol "
               "model\n", vu);
    for (size_t i = 0; i < n; i++)
        free(exercised_by[i]);
    free(exercised_by);
    return EXIT_PASS;
}

/* ------------------------------------------------------------------ report diff */

static int cmd_report(int argc, char **argv)
{
    if (argc != 4 || strcmp(argv[1], "diff") != 0) {
        fprintf(stderr, "usage: virtiosim report diff OLD.json NEW.json\n");
        return EXIT_USAGE;
    }
    vs_report_diff_stats st;
    vs_err e = {0};
    int n = vs_report_diff_ex(argv[2], argv[3], stdout, &st, &e);
    if (n < 0) {
        fprintf(stderr, "virtiosim report diff: %s\n", e.msg);
        return EXIT_USAGE;
    }
    printf("%d change%s, %u statement regression%s, %u scenario regression%s\n", n,
           n == 1 ? "" : "s", st.stmt_regressions, st.stmt_regressions == 1 ? "" : "s",
           st.scn_regressions, st.scn_regressions == 1 ? "" : "s");
    return st.stmt_regressions || st.scn_regressions ? EXIT_FAILED : EXIT_PASS;
}

/* ------------------------------------------------------------------ mutants */

/* Runs every mutant against the scenarios that provoke it and checks that exactly the
 * statements it names fail and the checks it names see violations; then runs the correct
 * device over all of those scenarios and checks that nothing fails. */
static bool listed(const char *const *list, const char *s)
{
    for (; list && *list; list++)
        if (strcmp(*list, s) == 0)
            return true;
    return false;
}

static void append(char *buf, size_t len, const char *s)
{
    strncat(buf, " ", len - strlen(buf) - 1);
    strncat(buf, s, len - strlen(buf) - 1);
}

static int run_mutant(const vs_mutant *mu, const strlist *files, bool *ok)
{
    bool correct_failed = false;
    vs_results *agg = NULL;
    vs_err e = {0};
    if (vs_results_create(&agg, &e) < 0)
        return EXIT_INFRA;
    for (size_t f = 0; f < files->n; f++) {
        vs_scenario *s;
        if (vs_scenario_load(files->v[f], &s, &e) < 0) {
            fprintf(stderr, "%s\n", e.msg);
            vs_results_destroy(agg);
            return EXIT_USAGE;
        }
        vs_run_opts o = {.backend = "ref", .mutant = mu};
        vs_scenario_result r;
        int rr = vs_run_scenario(s, &o, &r, &e);
        if (rr == 0 && r.conformance)
            vs_results_merge(agg, r.conformance, &e);
        /* The correct device must also pass every step, not just every statement. */
        if (!mu && (rr < 0 || (r.verdict != VS_SCN_PASS && r.verdict != VS_SCN_SKIPPED))) {
            printf("BAD  (correct device) %s: %s\n", s->name, rr < 0 ? e.msg : r.message);
            correct_failed = true;
        }
        vs_scenario_result_clear(&r);
        vs_scenario_free(s);
    }
    char unexpected[600] = "", missing[600] = "";
    for (size_t i = 0; i < agg->n_stmt; i++) {
        const vs_stmt_result *sr = &agg->stmt[i];
        bool intended = mu && listed(mu->fails, sr->st->id);
        bool tolerated = mu && listed(mu->also, sr->st->id);
        if (sr->verdict == VS_VERDICT_FAIL && !intended && !tolerated)
            append(unexpected, sizeof unexpected, sr->st->id);
        if (sr->verdict != VS_VERDICT_FAIL && intended)
            append(missing, sizeof missing, sr->st->id);
    }
    for (size_t i = 0; i < agg->n_check; i++) {
        const vs_check_result *cr = &agg->check[i];
        bool intended = mu && listed(mu->checks, cr->check->name);
        if (cr->violations && !intended && !cr->check->ids[0])
            append(unexpected, sizeof unexpected, cr->check->name);
        if (!cr->violations && intended)
            append(missing, sizeof missing, cr->check->name);
    }
    *ok = !unexpected[0] && !missing[0] && !correct_failed;
    printf("%-4s %-28s %s\n", *ok ? "ok" : "BAD", mu ? mu->name : "(correct device)",
           mu ? mu->what : "no statement fails, no check sees a violation");
    if (missing[0])
        printf("     did not fail:%s\n", missing);
    if (unexpected[0])
        printf("     failed unexpectedly:%s\n", unexpected);
    vs_results_destroy(agg);
    return EXIT_PASS;
}

static int cmd_mutants(int argc, char **argv)
{
    (void)argv;
    if (argc > 1) {
        fprintf(stderr, "usage: virtiosim mutants   (run from the source tree's root)\n");
        return EXIT_USAGE;
    }
    int bad = 0;
    strlist all = {0};
    for (size_t m = 0; m < vs_mutant_count(); m++) {
        const vs_mutant *mu = vs_mutant_at(m);
        strlist files = {0};
        for (const char *const *f = mu->scenarios; *f; f++) {
            if (access(*f, R_OK) != 0) {
                fprintf(stderr, "virtiosim mutants: %s: %s (run from the source tree)\n", *f,
                        strerror(errno));
                return EXIT_USAGE;
            }
            strlist_add(&files, *f);
            bool seen = false;
            for (size_t k = 0; k < all.n; k++)
                seen |= strcmp(all.v[k], *f) == 0;
            if (!seen)
                strlist_add(&all, *f);
        }
        bool ok;
        int rc = run_mutant(mu, &files, &ok);
        strlist_free(&files);
        if (rc != EXIT_PASS)
            return rc;
        bad += !ok;
    }
    bool ok;
    int rc = run_mutant(NULL, &all, &ok);
    strlist_free(&all);
    if (rc != EXIT_PASS)
        return rc;
    bad += !ok;
    printf("%zu mutants + the correct device: %d wrong\n", vs_mutant_count(), bad);
    return bad ? EXIT_FAILED : EXIT_PASS;
}

/* ------------------------------------------------------------------ serve */

static vs_vhost_server *g_server;

static void on_serve_signal(int sig)
{
    (void)sig;
    if (g_server)
        vs_vhost_server_stop(g_server); /* async-signal-safe */
}

/* Per-connection scenarios kept with their own results (the aggregate covers all). */
#define SERVE_KEEP_RESULTS 256u

typedef struct serve_ctx {
    const char *report_dir;
    const char *sock;
    vs_vhost_server *srv;
    const vs_sim_dev *sd;         /* the device served */
    vs_device *dev;
    char started[40];
    /* the driver behind the current connection, judged from the server's events */
    vs_monitors *mon;
    vs_gmem *mon_gm;
    uint64_t mon_features;
    uint64_t conn_done;           /* connections finished */
    uint64_t conn_t0;             /* monotonic ns at the first event of the connection */
    vs_results *agg;              /* all connections merged */
    vs_report_scenario *scn;      /* one per finished connection */
    vs_results **scn_res;         /* owned; NULL beyond SERVE_KEEP_RESULTS */
    char **scn_str;               /* owned name + message strings, 2 per scenario */
    size_t n_scn, cap_scn;
    bool infra_error;
} serve_ctx;

/* A chain the server's ring rejected, by the rule its message names, and the driver
 * statement that rule is (split ring). Rules that are device policy or a device limit
 * (zero-length descriptors, chains spanning regions, segment arrays) name none: the spec
 * does not forbid them. */
static const struct {
    const char *rule, *stmt, *expected;
    bool needs_no_access_platform;
} serve_rule_map[] = {
    {"(split: next out of range)", "split.driver.desc-table.1", "every next < queue size", false},
    {"(split: descriptor loop or chain longer than queue size)", "split.driver.desc-table.1",
     "chain terminates", false},
    {"(split: indirect descriptor loop)", "split.driver.desc-table.1",
     "indirect chain terminates", false},
    {"(split: chain longer than queue size)", "split.driver.indirect.3",
     "chain length <= queue size", false},
    {"(split: nested indirect)", "split.driver.indirect.2", "no INDIRECT inside an indirect table",
     false},
    {"(split: INDIRECT not negotiated)", "split.driver.indirect.1",
     "no INDIRECT without VIRTIO_F_INDIRECT_DESC", false},
    {"(split: INDIRECT with NEXT)", "split.driver.indirect.4", "INDIRECT and NEXT never together",
     false},
    {"(split: readable after writable)", "split.driver.message-framing.1",
     "readable descriptors before writable ones", false},
    {"(split: head out of range)", "split.driver.updating-idx.1",
     "avail ring slots name chains just made available", false},
    {"(split: avail idx jump)", "split.driver.avail-ring.1", "avail idx advances by 0..queue size",
     false},
    {"(split: buffer outside guest memory)", "generic.driver.reserved-features.4",
     "buffers inside guest RAM", true},
    {"(split: indirect table outside guest memory)", "generic.driver.reserved-features.4",
     "buffers inside guest RAM", true},
};

static void serve_mon_start(serve_ctx *sc)
{
    vs_err e = {0};
    if (vs_monitors_create(&sc->mon, sc->dev->gm, sc->sd->device_id, VS_ROLE_DRIVER, &e) < 0) {
        fprintf(stderr, "virtiosim serve: conformance monitors: %s\n", e.msg);
        sc->mon = NULL;
        sc->infra_error = true;
        return;
    }
    char name[48];
    snprintf(name, sizeof name, "connection-%" PRIu64, sc->conn_done + 1);
    vs_monitors_set_scenario(sc->mon, name);
    vs_monitors_set_backend_view(sc->mon, true);
    vs_monitors_set_async_device(sc->mon, true);
    sc->mon_gm = sc->dev->gm;
    sc->mon_features = 0;
    sc->conn_t0 = mono_ns();
}

/* The server's event stream -> the driver-role monitors of the current connection. */
static void serve_on_event(void *opaque, const vs_event *ev)
{
    serve_ctx *sc = opaque;
    if (!sc->mon) {
        serve_mon_start(sc);
        if (!sc->mon)
            return;
    }
    if (sc->dev->gm != sc->mon_gm) { /* the front-end's memory table came or changed */
        vs_monitors_set_gmem(sc->mon, sc->dev->gm);
        sc->mon_gm = sc->dev->gm;
    }
    if (ev->kind == VS_EV_FEATURES_WRITE)
        sc->mon_features = ev->val;
    if (ev->kind == VS_EV_DEVICE_ERROR && ev->text) {
        for (size_t i = 0; i < sizeof serve_rule_map / sizeof serve_rule_map[0]; i++) {
            if (!strstr(ev->text, serve_rule_map[i].rule))
                continue;
            if (serve_rule_map[i].needs_no_access_platform &&
                ((sc->mon_features >> VS_F_ACCESS_PLATFORM) & 1))
                break;
            vs_err e = {0};
            if (vs_monitors_report_driver_violation(sc->mon, serve_rule_map[i].stmt, ev->queue,
                                                    false, 0, serve_rule_map[i].expected,
                                                    ev->text, &e) < 0)
                fprintf(stderr, "virtiosim serve: %s\n", e.msg);
            break;
        }
    }
    vs_monitors_on_event(sc->mon, ev);
}

/* A deep copy (vs_results holds no pointers it owns besides its two arrays). */
static vs_results *serve_results_copy(const vs_results *r)
{
    vs_results *c = NULL;
    vs_err e = {0};
    if (!r || vs_results_create(&c, &e) < 0)
        return NULL;
    if (c->n_stmt != r->n_stmt || c->n_check != r->n_check) {
        vs_results_destroy(c);
        return NULL;
    }
    vs_stmt_result *st = c->stmt;
    vs_check_result *ck = c->check;
    memcpy(st, r->stmt, r->n_stmt * sizeof *st);
    memcpy(ck, r->check, r->n_check * sizeof *ck);
    *c = *r;
    c->stmt = st;
    c->check = ck;
    return c;
}

static void write_conformance_reports(serve_ctx *sc)
{
    vs_report_run run = {
        .tool = "virtiosim",
        .tool_version = VS_VERSION,
        .backend = "vhost-user front-end",
        .backend_version = "unknown (a vhost-user front-end)",
        .started = sc->started,
        .n_scenarios = sc->n_scn,
        .scenarios = sc->scn,
        .aggregate = sc->agg,
    };
    vs_err e = {0};
    if (vs_report_write_all(sc->report_dir, &run, &e) < 0) {
        fprintf(stderr, "virtiosim serve: writing reports: %s\n", e.msg);
        sc->infra_error = true;
    }
}

/* Ends the current connection's monitors: one scenario "connection-N" in the reports. */
static void serve_mon_finish(serve_ctx *sc, const vs_vhost_server_stats *st)
{
    if (!sc->mon)
        serve_mon_start(sc); /* a connection without events still gets its scenario */
    if (!sc->mon)
        return;
    vs_err e = {0};
    uint64_t viol = vs_monitors_violations(sc->mon);
    const vs_results *r = NULL;
    if (vs_monitors_finish(sc->mon, sc->mon_features, &e) == 0)
        r = vs_monitors_results(sc->mon);
    if (r && sc->agg && vs_results_merge(sc->agg, r, &e) < 0)
        fprintf(stderr, "virtiosim serve: merging results: %s\n", e.msg);
    if (sc->n_scn == sc->cap_scn) {
        size_t ncap = sc->cap_scn ? 2 * sc->cap_scn : 16;
        vs_report_scenario *a = realloc(sc->scn, ncap * sizeof *a);
        if (a)
            sc->scn = a;
        vs_results **b = a ? realloc(sc->scn_res, ncap * sizeof *b) : NULL;
        if (b)
            sc->scn_res = b;
        char **c = b ? realloc(sc->scn_str, 2 * ncap * sizeof *c) : NULL;
        if (c)
            sc->scn_str = c;
        if (!a || !b || !c) {
            vs_monitors_destroy(sc->mon);
            sc->mon = NULL;
            sc->conn_done++;
            sc->infra_error = true;
            return;
        }
        sc->cap_scn = ncap;
    }
    size_t i = sc->n_scn++;
    vs_results *keep = i < SERVE_KEEP_RESULTS ? serve_results_copy(r) : NULL;
    sc->scn_res[i] = keep;
    char name[48], msg[160];
    snprintf(name, sizeof name, "connection-%" PRIu64, sc->conn_done + 1);
    bool fail = viol || st->rejected;
    snprintf(msg, sizeof msg, "%" PRIu64 " driver statement violation(s), %" PRIu64
             " vhost-user rejection(s)", viol, st->rejected);
    sc->scn_str[2 * i] = strdup(name);
    sc->scn_str[2 * i + 1] = fail ? strdup(msg) : NULL;
    sc->scn[i] = (vs_report_scenario){
        .name = sc->scn_str[2 * i],
        .path = sc->sock,
        .verdict = fail ? VS_SCN_FAIL : VS_SCN_PASS,
        .message = sc->scn_str[2 * i + 1],
        .fail_step = -1,
        .steps_run = st->messages,
        .wall_ns = mono_ns() - sc->conn_t0,
        .device_id = sc->sd->device_id,
        .features = sc->mon_features,
        .results = keep,
    };
    vs_monitors_destroy(sc->mon);
    sc->mon = NULL;
    sc->conn_done++;
}

static void serve_ctx_free(serve_ctx *sc)
{
    vs_monitors_destroy(sc->mon);
    sc->mon = NULL;
    for (size_t i = 0; i < sc->n_scn; i++) {
        vs_results_destroy(sc->scn_res[i]);
        free(sc->scn_str[2 * i]);
        free(sc->scn_str[2 * i + 1]);
    }
    free(sc->scn);
    free(sc->scn_res);
    free(sc->scn_str);
    vs_results_destroy(sc->agg);
}

/* The front-end's verdicts: one entry per vhost-user rule, failed where a message broke it,
 * with the recorded violations as evidence. Written atomically after every connection. */
static void write_serve_report(const serve_ctx *sc)
{
    json_t *rules = json_array(), *viol = json_array();
    for (size_t i = 0; i < vs_vhost_rule_count(); i++) {
        const vs_vhost_rule *r = vs_vhost_rule_at(i);
        uint64_t n = vs_vhost_server_rule_violations(sc->srv, r->id);
        bool frontend = r->role == VS_VHOST_ROLE_FRONTEND;
        json_array_append_new(rules, json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "id", r->id,
            "role", frontend ? "frontend" : "backend", "level",
            vs_vhost_rule_level_name(r->level), "paraphrase", r->paraphrase, "violations",
            (json_int_t)n, "verdict", !frontend ? "not_applicable" : n ? "fail" : "no_violation"));
    }
    for (size_t i = 0; i < vs_vhost_server_violation_count(sc->srv); i++) {
        const vs_vhost_violation *v = vs_vhost_server_violation_at(sc->srv, i);
        json_array_append_new(viol, json_pack("{s:s?, s:s, s:i, s:I, s:I, s:s}", "rule", v->rule,
            "request", vs_vhost_req_name(v->request), "ring", v->ring, "connection",
            (json_int_t)v->connection, "message", (json_int_t)v->message, "text", v->msg));
    }
    vs_vhost_server_stats st;
    vs_vhost_server_stats_get(sc->srv, &st);
    json_t *doc = json_pack("{s:s, s:s, s:o, s:o, s:{s:I, s:I, s:I, s:I, s:I}}",
        "schema", "virtiosim-vhost-user-server/1", "tool_version", VS_VERSION, "rules", rules,
        "violations", viol, "stats", "connections", (json_int_t)st.connections, "messages",
        (json_int_t)st.messages, "rejected", (json_int_t)st.rejected, "requests",
        (json_int_t)st.requests, "device_errors", (json_int_t)st.device_errors);
    char path[PATH_MAX], tmp[PATH_MAX];
    mkdir(sc->report_dir, 0755);
    snprintf(path, sizeof path, "%s/vhost-user-server.json", sc->report_dir);
    snprintf(tmp, sizeof tmp, "%s/.vhost-user-server.json.tmp.%d", sc->report_dir, (int)getpid());
    if (doc && json_dump_file(doc, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) == 0 &&
        rename(tmp, path) == 0)
        fprintf(stderr, "virtiosim serve: report %s\n", path);
    else
        fprintf(stderr, "virtiosim serve: could not write %s\n", path);
    json_decref(doc);
}

static void on_disconnect(void *opaque, uint64_t connection, const vs_vhost_server_stats *s,
                          const char *reason)
{
    serve_ctx *sc = opaque;
    uint64_t viol = sc->mon ? vs_monitors_violations(sc->mon) : 0;
    serve_mon_finish(sc, s);
    printf("connection %" PRIu64 ": %" PRIu64 " messages, %" PRIu64 " rejected, %" PRIu64
           " requests, %" PRIu64 " device errors, %" PRIu64 " driver violations (%s)\n",
           connection, s->messages, s->rejected, s->requests, s->device_errors, viol,
           reason ? reason : "disconnected");
    fflush(stdout);
    if (sc->report_dir) {
        write_serve_report(sc);
        write_conformance_reports(sc);
    }
}

static int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {
        {"device", required_argument, NULL, 'd'}, {"vhost-user", required_argument, NULL, 's'},
        {"image", required_argument, NULL, 'i'},  {"capacity", required_argument, NULL, 'c'},
        {"read-only", no_argument, NULL, 'r'},     {"queues", required_argument, NULL, 'n'},
        {"once", no_argument, NULL, 'o'},          {"report", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    const char *dev = NULL, *sock = NULL, *image = NULL;
    uint64_t capacity = 64u << 20;
    bool ro = false, once = false;
    unsigned long queues = 1;
    serve_ctx sc = {0};
    vs_event_bus bus = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dev = optarg; break;
        case 's': sock = optarg; break;
        case 'i': image = optarg; break;
        case 'c':
            if (vs_parse_size(optarg, &capacity) < 0 || capacity < 512 || capacity % 512) {
                fprintf(stderr, "virtiosim serve: --capacity wants a size in bytes that is "
                                "a multiple of 512, such as 64MiB\n");
                return EXIT_USAGE;
            }
            break;
        case 'r': ro = true; break;
        case 'n': {
            char *end;
            queues = strtoul(optarg, &end, 10);
            if (*end || queues < 1 || queues > 64) {
                fprintf(stderr, "virtiosim serve: --queues wants 1..64\n");
                return EXIT_USAGE;
            }
            break;
        }
        case 'o': once = true; break;
        case 'R': sc.report_dir = optarg; break;
        case 'h': usage(stdout); return EXIT_PASS;
        default: return EXIT_USAGE;
        }
    }
    const vs_sim_dev *sd = dev ? vs_sim_dev_by_name(dev) : NULL;
    if (!sd || !sd->backends->serve_create || !sock || optind != argc) {
        fprintf(stderr, "usage: virtiosim serve --device NAME --vhost-user SOCKET [--image FILE]"
                        " [--capacity SIZE] [--read-only] [--queues N] [--once] [--report DIR]"
                        "\n       devices that can be served:");
        for (const vs_sim_dev *const *d = vs_sim_devs; *d; d++)
            if ((*d)->backends->serve_create)
                fprintf(stderr, " %s", (*d)->name);
        fputc('\n', stderr);
        return EXIT_USAGE;
    }
    vs_err e = {0};
    vs_gmem *placeholder = NULL; /* the device runs over the front-end's memory once mapped */
    vs_device *d = NULL;
    vs_serve_opts so_dev = {.image = image, .capacity = capacity, .read_only = ro,
                            .queues = (uint16_t)queues};
    int rc = vs_gmem_create_flat(&placeholder, 1u << 20, &e);
    if (rc == 0)
        rc = sd->backends->serve_create(placeholder, &so_dev, &d, &e);
    /* The foreign driver is judged per catalogue statement from what the server sees. */
    sc.sd = sd;
    sc.dev = d;
    sc.sock = sock;
    time_t now = time(NULL);
    strftime(sc.started, sizeof sc.started, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    if (rc == 0)
        rc = vs_results_create(&sc.agg, &e);
    if (rc == 0)
        rc = vs_event_bus_add(&bus, serve_on_event, &sc);
    vs_vhost_server_opts so = {.dev = d, .on_disconnect = on_disconnect,
                               .disconnect_opaque = &sc, .bus = &bus};
    if (rc == 0)
        rc = vs_vhost_server_create(&sc.srv, &so, &e);
    if (rc == 0)
        rc = vs_vhost_server_listen(sc.srv, sock, &e);
    if (rc < 0) {
        fprintf(stderr, "virtiosim serve: %s\n", e.msg);
        vs_vhost_server_destroy(sc.srv);
        serve_ctx_free(&sc);
        if (d)
            d->ops->destroy(d);
        vs_gmem_destroy(placeholder);
        return EXIT_INFRA;
    }
    g_server = sc.srv;
    struct sigaction sa = {.sa_handler = on_serve_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    printf("serving %s (%" PRIu64 " bytes%s%s) on %s\n", sd->backends->serve_what, capacity,
           ro ? ", read-only" : "", image ? ", image" : "", sock);
    fflush(stdout);
    rc = vs_vhost_server_run(sc.srv, once ? 1 : 0, &e);
    g_server = NULL;
    int code = EXIT_PASS;
    if (rc < 0) {
        fprintf(stderr, "virtiosim serve: %s\n", e.msg);
        code = EXIT_INFRA;
    } else if (vs_vhost_server_violation_count(sc.srv) ||
               (sc.agg && sc.agg->count[VS_VERDICT_FAIL])) {
        code = EXIT_FAILED; /* the front-end broke vhost-user rules or the driver a statement */
    }
    if (sc.report_dir) {
        write_serve_report(&sc);
        write_conformance_reports(&sc);
    }
    if (sc.infra_error && code == EXIT_PASS)
        code = EXIT_INFRA;
    vs_vhost_server_destroy(sc.srv);
    serve_ctx_free(&sc);
    d->ops->destroy(d);
    vs_gmem_destroy(placeholder);
    unlink(sock);
    return code;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return EXIT_PASS;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("virtiosim %s\n", VS_VERSION);
        return EXIT_PASS;
    }
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "suite"))
        return cmd_suite(argc - 1, argv + 1);
    if (!strcmp(cmd, "clauses"))
        return cmd_clauses(argc - 1, argv + 1);
    if (!strcmp(cmd, "report"))
        return cmd_report(argc - 1, argv + 1);
    if (!strcmp(cmd, "mutants"))
        return cmd_mutants(argc - 1, argv + 1);
    if (!strcmp(cmd, "serve"))
        return cmd_serve(argc - 1, argv + 1);
    fprintf(stderr, "virtiosim: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
