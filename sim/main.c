/* virtiosim command line. Exit codes: 0 all passed, 1 a scenario or statement failed,
 * 2 usage or scenario-file error, 3 back-end or infrastructure error. */
#define _GNU_SOURCE
#include <errno.h>
#include <fnmatch.h>
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
#include "virtiosim/pci.h"
#include "virtiosim/qemu.h"
#include "virtiosim/vhost.h"
#include "virtiosim/vhost_user.h"
#include "virtiosim/report.h"
#include "virtiosim/runner.h"
#include "virtiosim/scenario.h"
#include "virtiosim/trace.h"
#include "virtiosim/version.h"
#include "virtiosim/virtio.h"

#include "sim/backend_dev.h"
#include "sim/cli.h"
#include "sim/child.h"
#include "sim/sim_dev.h"


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

static void usage(FILE *f) { vs_cli_usage(f, NULL); }

/* ------------------------------------------------------------------ running */

typedef struct run_cli {
    vs_run_opts o;
    vs_expected *expected;
    const char *report_dir;
    const char *trace_path;
    bool trace_chrome;          /* --trace-format chrome */
    bool trace_vst;             /* --trace-format vst */
    const char *suite;
    int quiet, verbose;
    unsigned shard_k, shard_n;  /* --shard K/N (shard_n 0: the whole list) */
    vs_cli_strlist filters;            /* --filter GLOB: a scenario runs when any matches its name */
    bool list;                  /* --list: print what would run, run nothing */
    bool json;                  /* --json: a one-line JSON summary last on stdout */
    bool numbered;              /* "[k/N] " before each result line (stdout not a tty) */
    vs_profile *profile;        /* --device-profile FILE */
    bool qemu_fresh;            /* --qemu-fresh */
    int qemu_cpu;               /* --qemu-same-cpu 1, --qemu-any-cpu -1, neither 0 */
} run_cli;

static double secs(uint64_t ns) { return (double)ns / 1e9; }

uint64_t vs_cli_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
#define mono_ns vs_cli_mono_ns

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
        if (sr->verdict != VS_VERDICT_FAIL || sr->device_level)
            continue;
        const vs_expected_entry *se = vs_expected_find_statement(x, sr->st->id);
        if (!se)
            return NULL;
        e = se;
    }
    return e;
}

/* A scenario that did not fail yet failed a statement: skipped (e.g. a step found a
 * precondition unmet) with the monitors' verdicts already in. Statements listed in
 * --expected, or the scenario itself, do not count; nor do device-level findings, which
 * are the run's (device_findings). */
static bool failed_statements_only(const vs_expected *x, const vs_scenario_result *r)
{
    if ((r->verdict != VS_SCN_SKIPPED && r->verdict != VS_SCN_NOT_APPLICABLE) ||
        !r->conformance || !vs_results_scenario_failures(r->conformance) || vs_expected_find(x, r->name))
        return false;
    for (size_t i = 0; i < r->conformance->n_stmt; i++) {
        const vs_stmt_result *sr = &r->conformance->stmt[i];
        if (sr->verdict == VS_VERDICT_FAIL && !sr->device_level &&
            !vs_expected_find_statement(x, sr->st->id))
            return true;
    }
    return false;
}


/* One run's scenarios and tallies (run_files and its pieces). */
typedef struct run_state {
    vs_scenario **sc;           /* the scenarios this run runs (after --filter, --shard) */
    vs_scenario_result *res;
    vs_report_scenario *rep;
    size_t n, cap;              /* cap: room for the device-profile row */
    size_t total;               /* the list --shard partitions (after --filter) */
    size_t ran, counts[VS_SCN_VERDICT_COUNT], xfail, xpass, stmt_failed;
    vs_results *agg;
    const char *backend_version;
    bool version_checked;
    char version_seen[32];      /* set when the expected file's version differs */
    char started[40];
    uint64_t t0;
} run_state;

static void print_result(const run_cli *rc, const vs_scenario_result *r, size_t k, size_t n)
{
    static const char *const tags[] = {"PASS", "FAIL", "ERROR", "SKIP", "N/A"};
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
    /* A CI log has no progress bar: number the lines instead. */
    if (rc->numbered)
        printf("[%zu/%zu] ", k, n);
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

static void print_summary(const run_cli *rc, const run_state *st, uint64_t wall)
{
    const size_t *counts = st->counts;
    printf("%zu scenario%s: %zu passed, %zu failed", st->ran, st->ran == 1 ? "" : "s",
           counts[VS_SCN_PASS], counts[VS_SCN_FAIL] - st->xfail);
    if (rc->expected)
        printf(" (+%zu expected)", st->xfail);
    printf(", %zu errors, %zu skipped", counts[VS_SCN_ERROR], counts[VS_SCN_SKIPPED]);
    if (counts[VS_SCN_NOT_APPLICABLE])
        printf(", %zu not applicable", counts[VS_SCN_NOT_APPLICABLE]);
    printf(" in %.2f s", secs(wall));
    const vs_results *agg = st->agg;
    printf("; statements: %zu pass, %zu fail, %zu not exercised, %zu not applicable, "
           "%zu untestable\n",
           agg->count[VS_VERDICT_PASS], agg->count[VS_VERDICT_FAIL],
           agg->count[VS_VERDICT_NOT_EXERCISED] + agg->count[VS_VERDICT_NO_CHECK],
           agg->count[VS_VERDICT_NOT_APPLICABLE], agg->count[VS_VERDICT_UNTESTABLE]);
}

/* The expected-results file's version against the first version the back-end reports:
 * a file for another version is still applied, but never silently. */
static void check_expected_version(const run_cli *rc, run_state *st, const char *reported)
{
    if (st->version_checked || !rc->expected || !rc->expected->version)
        return;
    st->version_checked = true;
    char seen[sizeof st->version_seen];
    int m = vs_expected_version_check(rc->expected, reported, seen, sizeof seen);
    const vs_expected *x = rc->expected;
    if (m == 0) {
        memcpy(st->version_seen, seen, sizeof seen);
        fprintf(stderr, "virtiosim: warning: %s:%u:%u: these expected results are for %s %s, "
                "but the back-end is version %s (\"%s\"): applied anyway; write a file for %s\n",
                x->path, x->version_line, x->version_col, x->backend, x->version, seen,
                reported, seen);
    } else if (m < 0) {
        fprintf(stderr, "virtiosim: note: %s:%u:%u: the back-end reports no version (\"%s\"); "
                "cannot check the file's version %s\n", x->path, x->version_line,
                x->version_col, reported, x->version);
    }
}

/* Runs scenario i and counts it. */
static void run_one(run_cli *rc, run_state *st, size_t i)
{
    vs_scenario_result *r = &st->res[i];
    vs_err re = {0};
    if (vs_run_scenario(st->sc[i], &rc->o, r, &re) < 0) {
        r->verdict = VS_SCN_ERROR;
        snprintf(r->message, sizeof r->message, "%s", re.msg);
    }
    st->ran++;
    st->counts[r->verdict]++;
    if (r->verdict != VS_SCN_SKIPPED && r->backend_version[0]) {
        if (!st->backend_version)
            st->backend_version = r->backend_version;
        check_expected_version(rc, st, r->backend_version);
    }
    const vs_expected_entry *xe = expected_failure(rc->expected, r);
    if (xe && r->verdict == VS_SCN_FAIL) {
        st->xfail++;
        char m[sizeof r->message];
        /* truncating a long message is fine: the reports keep the whole reason */
        if (snprintf(m, sizeof m, "expected failure (%s): %s | %s", rc->expected->path,
                     xe->reason, r->message) >= 0)
            memcpy(r->message, m, sizeof m);
    }
    st->xpass += xe && r->verdict == VS_SCN_PASS;
    /* A scenario cut short by ^C says nothing about the device: keep its partial
     * verdicts out of the run's aggregate. */
    if (r->conformance && !(g_interrupted && r->verdict == VS_SCN_SKIPPED)) {
        vs_results_merge(st->agg, r->conformance, &re);
        st->stmt_failed += failed_statements_only(rc->expected, r);
    }
    print_result(rc, r, i + 1, st->n);
    st->rep[i] = report_row(st->sc[i], r);
    if (xe && r->verdict == VS_SCN_FAIL)
        st->rep[i].expect = VS_REPORT_EXPECT_FAIL;
    else if (xe && r->verdict == VS_SCN_PASS)
        st->rep[i].expect = VS_REPORT_EXPECT_XPASS;
    st->rep[i].expect_reason = st->rep[i].expect ? xe->reason : NULL;
}

static bool real_backend(const run_cli *rc)
{
    const char *arg;
    const vs_backend *be = vs_backend_find(rc->o.backend ? rc->o.backend : "ref", &arg);
    return !be || (be->caps & VS_BE_REAL);
}

static bool external_backend(const run_cli *rc)
{
    const char *arg;
    const vs_backend *be = vs_backend_find(rc->o.backend ? rc->o.backend : "ref", &arg);
    return be && (be->caps & VS_BE_EXTERNAL);
}

static int write_reports(const run_cli *rc, const run_state *st)
{
    vs_report_run run = {
        .tool = "virtiosim",
        .tool_version = VS_VERSION,
        .backend = rc->o.backend ? rc->o.backend : "ref",
        .backend_version = st->backend_version ? st->backend_version : "unknown (nothing ran)",
        .started = st->started,
        .suite = rc->suite,
        .interrupted = g_interrupted,
        .n_scenarios = st->n,
        .scenarios = st->rep,
        .aggregate = st->agg,
        .shard_k = rc->shard_k,
        .shard_n = rc->shard_n,
        .shard_total = st->total,
        .wall_clock = real_backend(rc),
    };
    vs_cli_device dev;
    if (vs_cli_device_identity(st->res, st->ran, external_backend(rc), &dev))
        run.device = &dev.dev;
    vs_report_expected_stmt xs[64];
    if (rc->expected) {
        run.expected_file = rc->expected->path;
        for (unsigned k = 0; k < rc->expected->n && run.n_expected_stmts < 64; k++)
            if (rc->expected->e[k].statement)
                xs[run.n_expected_stmts++] = (vs_report_expected_stmt){
                    rc->expected->e[k].statement, rc->expected->e[k].reason};
        run.expected_stmts = xs;
        if (st->version_seen[0]) {
            run.expected_version = rc->expected->version;
            run.expected_version_seen = st->version_seen;
        }
    }
    vs_err e = {0};
    if (vs_report_write_all(rc->report_dir, &run, &e) < 0) {
        fprintf(stderr, "virtiosim: writing reports: %s\n", e.msg);
        return EXIT_INFRA;
    }
    if (!rc->quiet)
        printf("reports: %s/{%s,%s,%s,%s}\n", rc->report_dir, VS_REPORT_JSON, VS_REPORT_JUNIT,
               VS_REPORT_KTAP, VS_REPORT_HTML);
    return EXIT_PASS;
}

/* --json: the run in one line, last on stdout, for a CI step to parse. */
static void print_json_summary(const run_cli *rc, const run_state *st, int exit_code)
{
    const size_t *c = st->counts;
    const vs_results *a = st->agg;
    char shard[32] = "";
    if (rc->shard_n)
        snprintf(shard, sizeof shard, "%u/%u", rc->shard_k, rc->shard_n);
    json_t *j = json_pack(
        "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I}, s:b,"
        " s:s?, s:s, s:s?, s:s?, s:s?, s:i}",
        "schema", "virtiosim-summary/1", "scenarios", (json_int_t)st->n,
        "ran", (json_int_t)st->ran, "pass", (json_int_t)c[VS_SCN_PASS],
        "fail", (json_int_t)(c[VS_SCN_FAIL] - st->xfail), "expected_fail", (json_int_t)st->xfail,
        "unexpected_pass", (json_int_t)st->xpass, "error", (json_int_t)c[VS_SCN_ERROR],
        "skipped", (json_int_t)c[VS_SCN_SKIPPED], "statements",
        "pass", (json_int_t)a->count[VS_VERDICT_PASS],
        "fail", (json_int_t)a->count[VS_VERDICT_FAIL],
        "not_exercised", (json_int_t)(a->count[VS_VERDICT_NOT_EXERCISED] +
                                      a->count[VS_VERDICT_NO_CHECK]),
        "not_applicable", (json_int_t)a->count[VS_VERDICT_NOT_APPLICABLE],
        "untestable", (json_int_t)a->count[VS_VERDICT_UNTESTABLE],
        "interrupted", (int)g_interrupted, "suite", rc->suite,
        "backend", rc->o.backend ? rc->o.backend : "ref", "backend_version", st->backend_version,
        "shard", shard[0] ? shard : NULL, "reports", rc->report_dir, "exit_code", exit_code);
    if (j && c[VS_SCN_NOT_APPLICABLE]) /* a key of its own only when there is one */
        json_object_set_new(j, "not_applicable",
                            json_integer((json_int_t)c[VS_SCN_NOT_APPLICABLE]));
    if (j && st->version_seen[0])
        json_object_set_new(j, "expected_version_mismatch",
                            json_pack("{s:s, s:s}", "expected", rc->expected->version,
                                      "backend", st->version_seen));
    char *line = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (line)
        printf("%s\n", line);
    free(line);
    json_decref(j);
    fflush(stdout);
}

static bool name_selected(const run_cli *rc, const char *name)
{
    if (!rc->filters.n)
        return true;
    for (size_t i = 0; i < rc->filters.n; i++)
        if (fnmatch(rc->filters.v[i], name, 0) == 0)
            return true;
    return false;
}

/* Loads every file (a malformed file is reported before anything runs, whatever is
 * selected), then keeps what --filter names and this --shard's part: the filtered list's
 * index i runs in shard K of N when i % N == K - 1. */
static int load_selected(const run_cli *rc, const vs_cli_strlist *files, run_state *st)
{
    int code = EXIT_PASS;
    for (size_t i = 0; i < files->n; i++) {
        vs_scenario *s = NULL;
        vs_err e = {0};
        if (vs_scenario_load(files->v[i], &s, &e) < 0) {
            fprintf(stderr, "%s\n", e.msg);
            code = EXIT_USAGE;
            continue;
        }
        if (code != EXIT_PASS || !name_selected(rc, s->name)) {
            vs_scenario_free(s);
            continue;
        }
        size_t idx = st->total++;
        if (rc->shard_n && idx % rc->shard_n != rc->shard_k - 1)
            vs_scenario_free(s);
        else
            st->sc[st->n++] = s;
    }
    if (code == EXIT_PASS && rc->filters.n && st->total == 0) {
        fprintf(stderr, "virtiosim: no scenario matches --filter %s%s\n", rc->filters.v[0],
                rc->filters.n > 1 ? " (or the other --filter patterns)" : "");
        code = EXIT_USAGE;
    }
    return code;
}

/* Ends the Chrome document (if any) and closes the trace file; <0 if writing failed. */
static int close_trace(FILE *trace, vs_chrome_trace *chrome, const char *path)
{
    vs_err e = {0};
    int rc = vs_chrome_trace_close(chrome, &e);
    if (rc < 0)
        fprintf(stderr, "virtiosim: %s: %s\n", path, e.msg);
    if (trace && fclose(trace) != 0) {
        fprintf(stderr, "virtiosim: %s: %s\n", path, strerror(errno));
        rc = -1;
    }
    return rc;
}

static int run_loop(run_cli *rc, run_state *st)
{
    FILE *trace = NULL;
    if (rc->trace_path && !(trace = fopen(rc->trace_path, "w"))) {
        fprintf(stderr, "virtiosim: %s: %s\n", rc->trace_path, strerror(errno));
        return EXIT_USAGE;
    }
    rc->o.trace = trace;
    if (trace && rc->trace_vst) {
        rc->o.trace_format = VS_TRACE_FILE_VST;
        if (vs_trace_file_begin(trace, VS_TRACE_FILE_VST) < 0) {
            fprintf(stderr, "virtiosim: %s: %s\n", rc->trace_path, strerror(errno));
            fclose(trace);
            return EXIT_USAGE;
        }
    }
    vs_chrome_trace *chrome = NULL;
    if (trace && rc->trace_chrome) {
        vs_err ce = {0};
        if (vs_chrome_trace_open(trace, &chrome, &ce) < 0) {
            fprintf(stderr, "virtiosim: %s: %s\n", rc->trace_path, ce.msg);
            fclose(trace);
            return EXIT_USAGE;
        }
        rc->o.chrome = chrome;
        rc->o.trace = NULL;
    }
    rc->o.progress = !rc->quiet && isatty(STDERR_FILENO);
    rc->o.stop = &g_interrupted;
    rc->o.verbose = rc->verbose;
    rc->numbered = !isatty(STDOUT_FILENO);

    /* The first ^C finishes the current scenario and writes the reports; a second one
     * (SA_RESETHAND) ends the process at once. */
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    time_t now = time(NULL);
    strftime(st->started, sizeof st->started, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    st->t0 = mono_ns();
    vs_err e = {0};
    if (vs_results_create(&st->agg, &e) < 0) {
        fprintf(stderr, "virtiosim: %s\n", e.msg);
        close_trace(trace, chrome, rc->trace_path);
        return EXIT_INFRA;
    }
    if (rc->shard_n && !rc->quiet)
        printf("shard %u/%u: %zu of %zu scenarios\n", rc->shard_k, rc->shard_n, st->n,
               st->total);
    for (size_t i = 0; i < st->n && !g_interrupted; i++)
        run_one(rc, st, i);
    vs_qemu_reuse_drop();   /* the last scenario's QEMU, if it was kept */
    if (g_interrupted)
        fprintf(stderr, "virtiosim: interrupted after %zu of %zu scenarios\n", st->ran, st->n);
    /* The reports list every scenario of the run; those ^C kept from running as skipped. */
    for (size_t i = st->ran; i < st->n; i++)
        st->rep[i] = (vs_report_scenario){
            .name = st->sc[i]->name,
            .path = st->sc[i]->path,
            .seed = rc->o.seed_set ? rc->o.seed : st->sc[i]->seed,
            .verdict = VS_SCN_SKIPPED,
            .message = "not run: interrupted",
            .fail_step = -1,
            .device_id = st->sc[i]->device_id,
        };
    /* The profile against what the device presents: one result of the run's, last. */
    if (rc->o.profile && !g_interrupted && st->n < st->cap) {
        size_t i = st->n;
        vs_err pe = {0};
        if (vs_profile_check(&rc->o, &st->sc[i], &st->res[i], &pe) == 0) {
            st->n++;
            st->ran++;
            st->counts[st->res[i].verdict]++;
            print_result(rc, &st->res[i], i + 1, st->n);
            st->rep[i] = report_row(st->sc[i], &st->res[i]);
        } else {
            fprintf(stderr, "virtiosim: device profile: %s\n", pe.msg);
            st->counts[VS_SCN_ERROR]++;
        }
    }
    size_t dev_failed = vs_cli_device_findings(st->agg, rc->expected, rc->quiet, st->res,
                                               st->rep, st->ran);
    print_summary(rc, st, mono_ns() - st->t0);
    int exit_code = rc->report_dir ? write_reports(rc, st) : EXIT_PASS;
    if (exit_code == EXIT_PASS) {
        if (st->counts[VS_SCN_ERROR])
            exit_code = EXIT_INFRA;
        else if (st->counts[VS_SCN_FAIL] > st->xfail || st->stmt_failed || dev_failed ||
                 g_interrupted)
            exit_code = EXIT_FAILED;
    }
    if (rc->json)
        print_json_summary(rc, st, exit_code);
    if (close_trace(trace, chrome, rc->trace_path) < 0 && exit_code == EXIT_PASS)
        exit_code = EXIT_INFRA;
    return exit_code;
}

/* Loads, selects, runs and reports a list of scenario files. */
static int run_files(run_cli *rc, const vs_cli_strlist *files)
{
    run_state st = {0};
    st.sc = calloc(files->n ? files->n : 1, sizeof *st.sc);
    st.res = calloc(files->n ? files->n : 1, sizeof *st.res);
    st.rep = calloc(files->n ? files->n : 1, sizeof *st.rep);
    if (rc->o.profile) { /* one more row: the device profile's result */
        free(st.sc), free(st.res), free(st.rep);
        st.sc = calloc(files->n + 1, sizeof *st.sc);
        st.res = calloc(files->n + 1, sizeof *st.res);
        st.rep = calloc(files->n + 1, sizeof *st.rep);
    }
    st.cap = files->n + (rc->o.profile != NULL);
    int exit_code = EXIT_INFRA;
    if (!st.sc || !st.res || !st.rep)
        fprintf(stderr, "virtiosim: out of memory\n");
    else if ((exit_code = load_selected(rc, files, &st)) != EXIT_PASS)
        ;
    else if (rc->list)
        for (size_t i = 0; i < st.n; i++)
            printf("%s\t%s\n", st.sc[i]->name, st.sc[i]->path);
    else
        exit_code = run_loop(rc, &st);
    vs_results_destroy(st.agg);
    for (size_t i = 0; i < st.n; i++) {
        vs_scenario_result_clear(&st.res[i]);
        vs_scenario_free(st.sc[i]);
    }
    free(st.sc);
    free(st.res);
    free(st.rep);
    return exit_code;
}

enum { OPT_BACKEND = 1000, OPT_SEED, OPT_TRACE, OPT_TRACE_FORMAT, OPT_REPORT, OPT_MUTANT, OPT_QEMU,
       OPT_QEMU_SAME_CPU, OPT_EXPECTED, OPT_TRANSPORT, OPT_SHARD, OPT_FILTER, OPT_LIST, OPT_JSON,
       OPT_NOTIFY, OPT_KERNEL, OPT_PROFILE, OPT_QEMU_FRESH, OPT_QEMU_ANY_CPU };

static const struct option run_options[] = {
    {"backend", required_argument, NULL, OPT_BACKEND},
    {"seed", required_argument, NULL, OPT_SEED},
    {"trace", required_argument, NULL, OPT_TRACE},
    {"trace-format", required_argument, NULL, OPT_TRACE_FORMAT},
    {"report", required_argument, NULL, OPT_REPORT},
    {"mutant", required_argument, NULL, OPT_MUTANT},
    {"qemu", required_argument, NULL, OPT_QEMU},
    {"qemu-same-cpu", no_argument, NULL, OPT_QEMU_SAME_CPU},
    {"qemu-any-cpu", no_argument, NULL, OPT_QEMU_ANY_CPU},
    {"qemu-fresh", no_argument, NULL, OPT_QEMU_FRESH},
    {"kernel", required_argument, NULL, OPT_KERNEL},
    {"expected", required_argument, NULL, OPT_EXPECTED},
    {"transport", required_argument, NULL, OPT_TRANSPORT},
    {"notify", required_argument, NULL, OPT_NOTIFY},
    {"shard", required_argument, NULL, OPT_SHARD},
    {"filter", required_argument, NULL, OPT_FILTER},
    {"device-profile", required_argument, NULL, OPT_PROFILE},
    {"list", no_argument, NULL, OPT_LIST},
    {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, 'q'},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int parse_run_options(int argc, char **argv, run_cli *rc)
{
    rc->o.backend = "ref";
    rc->o.qemu_reuse = true;    /* --qemu-fresh: a QEMU of its own for every scenario */
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
        case OPT_KERNEL: rc->o.kernel = optarg; break;
        case OPT_QEMU_SAME_CPU: rc->qemu_cpu = 1; break;
        case OPT_QEMU_ANY_CPU: rc->qemu_cpu = -1; break;
        case OPT_QEMU_FRESH: rc->o.qemu_reuse = false; rc->qemu_fresh = true; break;
        case OPT_TRANSPORT:
            if (strcmp(optarg, "pci") != 0 && strcmp(optarg, "default") != 0) {
                fprintf(stderr, "virtiosim: --transport is pci or default\n");
                return -1;
            }
            rc->o.pci = strcmp(optarg, "pci") == 0;
            break;
        case OPT_NOTIFY: /* 1 + enum vs_notify_path */
            if (strcmp(optarg, "direct") != 0 && strcmp(optarg, "iothread") != 0) {
                fprintf(stderr, "virtiosim: --notify is direct or iothread\n");
                return -1;
            }
            rc->o.notify = strcmp(optarg, "iothread") == 0 ? 2 : 1;
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
        case OPT_SHARD: {
            unsigned k, n;
            char end;
            if (sscanf(optarg, "%u/%u%c", &k, &n, &end) != 2 || n < 1 || k < 1 || k > n ||
                n > 100000 || optarg[0] == '-') {
                fprintf(stderr, "virtiosim: --shard expects K/N with 1 <= K <= N, got '%s'\n",
                        optarg);
                return -1;
            }
            rc->shard_k = k;
            rc->shard_n = n;
            break;
        }
        case OPT_PROFILE: {
            vs_err e = {0};
            vs_profile_free(rc->profile);
            if (vs_profile_load(optarg, &rc->profile, &e) < 0) {
                fprintf(stderr, "%s\n", e.msg);
                rc->profile = NULL;
                return -1;
            }
            rc->o.profile = rc->profile;
            break;
        }
        case OPT_FILTER:
            if (vs_cli_strlist_add(&rc->filters, optarg) < 0)
                return -1;
            break;
        case OPT_LIST: rc->list = true; break;
        case OPT_JSON: rc->json = true; break;
        case OPT_TRACE: rc->trace_path = optarg; break;
        case OPT_TRACE_FORMAT:
            if (strcmp(optarg, "jsonl") != 0 && strcmp(optarg, "chrome") != 0 &&
                strcmp(optarg, "vst") != 0) {
                fprintf(stderr, "virtiosim: --trace-format is jsonl, chrome or vst, not "
                        "'%s'\n", optarg);
                return -1;
            }
            rc->trace_chrome = strcmp(optarg, "chrome") == 0;
            rc->trace_vst = strcmp(optarg, "vst") == 0;
            break;
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
        case 'h': vs_cli_usage(stdout, argv[0]); exit(EXIT_PASS);
        default: return -1;
        }
    }
    return 0;
}

/* The back-end kind an expected-results file names for a --backend value: its name
 * without the socket argument ("vhost-user:/x.sock" -> "vhost-user"); pci is the ref
 * device behind the PCI function model. */
static void backend_family(const vs_backend *be, char *buf, size_t len)
{
    snprintf(buf, len, "%s", !be ? "?" : strcmp(be->name, "pci") == 0 ? "ref" : be->name);
    size_t n = strlen(buf);
    if (n && buf[n - 1] == ':')
        buf[n - 1] = '\0';
}

/* QEMU on virtiosim's CPU by default for the plain QEMU back-end: each kick and interrupt
 * is then a local wake-up, not one across CPUs (1.4x the verified run's throughput on a
 * 2-CPU VM, 0.6x the CPU time; sim/qemu/README.md). */
static void settle_qemu_cpu(run_cli *rc)
{
    const char *arg;
    const vs_backend *be = vs_backend_find(rc->o.backend ? rc->o.backend : "ref", &arg);
    rc->o.qemu_same_cpu = rc->qemu_cpu > 0 ||
                          (rc->qemu_cpu == 0 && be && !strcmp(be->name, "qemu"));
}

/* Options that only make sense with the in-process reference device, and an expected-
 * results file written for another back-end. */
static int check_option_combinations(const run_cli *rc)
{
    const char *arg;
    const vs_backend *be = vs_backend_find(rc->o.backend ? rc->o.backend : "ref", &arg);
    char family[32];
    backend_family(be, family, sizeof family);
    vs_err e = {0};
    if (vs_expected_bind(rc->expected, family, &e) < 0) {
        fprintf(stderr, "%s\n", e.msg);
        return -1;
    }
    bool ref = be && !(be->caps & VS_BE_REAL);
    /* a driver mutant breaks virtiosim's own driver: it may drive any back-end (a serve
     * or QEMU's vhost-user proxy then judges it) */
    if (rc->o.mutant && !ref && !vs_mutant_is_driver(rc->o.mutant)) {
        fprintf(stderr, "virtiosim: --mutant needs --backend ref (mutants are variants of "
                        "the reference device; only a driver mutant drives other back-ends)\n");
        return -1;
    }
    bool qemu = be && (be->caps & VS_BE_QEMU);
    if (rc->qemu_fresh && !qemu) {
        fprintf(stderr, "virtiosim: --qemu-fresh needs a QEMU back-end (--backend qemu)\n");
        return -1;
    }
    if (rc->qemu_cpu && !qemu) {
        fprintf(stderr, "virtiosim: --qemu-%s-cpu needs a QEMU back-end (--backend qemu or "
                        "qemu-vhost-user:SOCKET)\n", rc->qemu_cpu > 0 ? "same" : "any");
        return -1;
    }
    if (rc->o.notify && !ref) {
        fprintf(stderr, "virtiosim: --notify needs --backend ref or pci (a real back-end "
                        "has its own threads)\n");
        return -1;
    }
    if (rc->o.kernel && !(be && (be->run || be->batch))) {
        fprintf(stderr, "virtiosim: --kernel needs --backend guest or vhost-kernel\n");
        return -1;
    }
    if (be && be->batch && (rc->trace_path || rc->o.mutant || rc->json)) {
        fprintf(stderr, "virtiosim: --trace, --mutant and --json are not available with "
                        "--backend %s (the scenarios run inside the test guest)\n", be->name);
        return -1;
    }
    if (rc->o.profile && !(be && (be->caps & VS_BE_EXTERNAL))) {
        fprintf(stderr, "virtiosim: --device-profile needs a back-end someone else started "
                        "(vhost-user:SOCKET or qemu-vhost-user:SOCKET): the others present "
                        "each scenario's own device\n");
        return -1;
    }
    if (rc->o.pci && !ref) {
        fprintf(stderr, "virtiosim: --transport pci needs --backend ref (QEMU is PCI "
                        "already; vhost-user has no PCI function)\n");
        return -1;
    }
    return 0;
}

/* A batch back-end (`--backend vhost-kernel`: the test guest, booted once) runs the whole
 * list and writes the reports itself; the options it forwards go with it. */
static int run_batch(run_cli *rc, const vs_backend *be, const vs_cli_strlist *files)
{
    static char seed[32], shard[32];
    const char *extra[64];
    size_t n = 0;
    if (rc->o.seed_set) {
        snprintf(seed, sizeof seed, "--seed=%llu", (unsigned long long)rc->o.seed);
        extra[n++] = seed;
    }
    if (rc->shard_n) {
        snprintf(shard, sizeof shard, "--shard=%u/%u", rc->shard_k, rc->shard_n);
        extra[n++] = shard;
    }
    for (size_t i = 0; i < rc->filters.n && n < 62; i++) {
        extra[n++] = "--filter";
        extra[n++] = rc->filters.v[i];
    }
    if (rc->verbose && n < 64)
        extra[n++] = "-v";
    rc->o.stop = &g_interrupted;
    rc->o.verbose = rc->verbose;
    vs_batch b = {.files = (const char *const *)files->v, .n = files->n, .suite = rc->suite,
                  .report_dir = rc->report_dir,
                  .expected_path = rc->expected ? rc->expected->path : NULL, .o = &rc->o,
                  .extra = extra, .n_extra = n, .quiet = rc->quiet};
    vs_report_merge_stats ms = {0};
    vs_err e = {0};
    if (be->batch(&b, &ms, &e) < 0) {
        fprintf(stderr, "virtiosim: %s\n", e.msg);
        return EXIT_INFRA;
    }
    if (!rc->quiet)
        printf("%zu scenarios: %zu passed, %zu failed (+%zu expected), %zu errors, %zu "
               "skipped; %zu statements failed\n", ms.scenarios, ms.scn_count[VS_SCN_PASS],
               ms.scn_count[VS_SCN_FAIL], ms.scn_xfail, ms.scn_count[VS_SCN_ERROR],
               ms.scn_count[VS_SCN_SKIPPED], ms.stmt_fail);
    if (ms.scn_count[VS_SCN_ERROR])
        return EXIT_INFRA;
    return ms.scn_count[VS_SCN_FAIL] || ms.stmt_fail || ms.interrupted ? EXIT_FAILED
                                                                       : EXIT_PASS;
}

static int run_any(run_cli *rc, const vs_cli_strlist *files)
{
    const char *arg;
    const vs_backend *be = vs_backend_find(rc->o.backend ? rc->o.backend : "ref", &arg);
    if (be && be->batch && !rc->list)
        return run_batch(rc, be, files);
    return run_files(rc, files);
}

static void run_cli_free(run_cli *rc)
{
    vs_expected_free(rc->expected);
    rc->expected = NULL;
    vs_profile_free(rc->profile);
    rc->profile = NULL;
    vs_cli_strlist_free(&rc->filters);
}

static int cmd_run(int argc, char **argv)
{
    run_cli rc = {0};
    if (parse_run_options(argc, argv, &rc) < 0 || check_option_combinations(&rc) < 0) {
        run_cli_free(&rc);
        return EXIT_USAGE;
    }
    settle_qemu_cpu(&rc);
    if (optind >= argc) {
        fprintf(stderr, "virtiosim run: expected at least one SCENARIO or DIR\n");
        run_cli_free(&rc);
        return EXIT_USAGE;
    }
    vs_cli_strlist files = {0};
    if (vs_cli_collect(argv + optind, argc - optind, &files) < 0) {
        vs_cli_strlist_free(&files);
        run_cli_free(&rc);
        return EXIT_USAGE;
    }
    int r = run_any(&rc, &files);
    run_cli_free(&rc);
    vs_cli_strlist_free(&files);
    return r;
}

/* The suites folder that holds NAME.yaml (name NULL: the first suites folder found). */
static int find_suite_dir(const char *name, char *out, size_t len)
{
    char rel[PATH_MAX];
    int w = snprintf(rel, sizeof rel, "scenarios/suites%s%s%s", name ? "/" : "",
                     name ? name : "", name ? ".yaml" : "");
    if (w <= 0 || (size_t)w >= sizeof rel || vs_cli_find_data(rel, out, len) < 0)
        return -1;
    if (name)
        *strrchr(out, '/') = '\0';
    return 0;
}

static int find_suite(const char *name, char *out, size_t len)
{
    if (strchr(name, '/') || vs_cli_has_suffix(name, ".yaml")) {
        snprintf(out, len, "%s", name);
        return access(out, R_OK);
    }
    char dir[PATH_MAX];
    if (find_suite_dir(name, dir, sizeof dir) < 0)
        return -1;
    int w = snprintf(out, len, "%s/%s.yaml", dir, name);
    return w > 0 && (size_t)w < len ? 0 : -1;
}

/* `virtiosim suite` with no name: each suite's name and the first sentence of its
 * description (descriptions are folded paragraphs, so their first line is the file's). */
static int list_suites(void)
{
    char dir[PATH_MAX];
    if (find_suite_dir(NULL, dir, sizeof dir) < 0) {
        fprintf(stderr, "virtiosim suite: no scenarios/suites here or beside the program\n");
        return EXIT_USAGE;
    }
    vs_cli_strlist files = {0};
    char *args[] = {dir};
    if (vs_cli_collect(args, 1, &files) < 0)
        return EXIT_USAGE;
    int rc = EXIT_PASS;
    for (size_t i = 0; i < files.n; i++) {
        vs_suite *s;
        vs_err e = {0};
        if (vs_suite_load(files.v[i], &s, &e) < 0) {
            fprintf(stderr, "%s\n", e.msg);
            rc = EXIT_USAGE;
            continue;
        }
        const char *d = s->description ? s->description : "";
        size_t len = strcspn(d, "\n");
        const char *stop = strstr(d, ". ");
        if (stop && (size_t)(stop - d) < len)
            len = (size_t)(stop - d) + 1;
        printf("%-20s %.*s\n", s->name, (int)len, d);
        vs_suite_free(s);
    }
    vs_cli_strlist_free(&files);
    return rc;
}

static int cmd_suite(int argc, char **argv)
{
    run_cli rc = {0};
    if (parse_run_options(argc, argv, &rc) < 0 || check_option_combinations(&rc) < 0) {
        run_cli_free(&rc);
        return EXIT_USAGE;
    }
    settle_qemu_cpu(&rc);
    if (optind == argc) {
        run_cli_free(&rc);
        return list_suites();
    }
    if (optind != argc - 1) {
        fprintf(stderr, "virtiosim suite: expected one suite NAME (e.g. blk-device)\n");
        run_cli_free(&rc);
        return EXIT_USAGE;
    }
    char path[PATH_MAX];
    if (find_suite(argv[optind], path, sizeof path) < 0) {
        if (strchr(argv[optind], '/') || vs_cli_has_suffix(argv[optind], ".yaml"))
            fprintf(stderr, "virtiosim suite: %s: %s\n", argv[optind], strerror(errno));
        else
            fprintf(stderr, "virtiosim suite: no suite '%s' (looked for "
                            "scenarios/suites/%s.yaml here and beside the program)\n",
                    argv[optind], argv[optind]);
        run_cli_free(&rc);
        return EXIT_USAGE;
    }
    vs_suite *s;
    vs_err e = {0};
    if (vs_suite_load(path, &s, &e) < 0) {
        fprintf(stderr, "%s\n", e.msg);
        run_cli_free(&rc);
        return EXIT_USAGE;
    }
    vs_cli_strlist files = {0};
    for (unsigned i = 0; i < s->nscenarios; i++)
        vs_cli_strlist_add(&files, s->scenarios[i]);
    rc.suite = s->name;
    if (!rc.quiet && !rc.list)
        printf("suite %s: %u scenarios\n", s->name, s->nscenarios);
    int r = run_any(&rc, &files);
    run_cli_free(&rc);
    vs_cli_strlist_free(&files);
    vs_suite_free(s);
    return r;
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
        printf("virtiosim %s\n", vs_version()); /* the library's: they are built together */
        return EXIT_PASS;
    }
    /* report and mutants take no getopt options: their --help is looked for here */
    if ((!strcmp(cmd, "report") || !strcmp(cmd, "mutants") || !strcmp(cmd, "campaign")) &&
        vs_cli_wants_help(argc - 1, argv + 1)) {
        vs_cli_usage(stdout, cmd);
        return EXIT_PASS;
    }
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "suite"))
        return cmd_suite(argc - 1, argv + 1);
    if (!strcmp(cmd, "clauses"))
        return vs_cli_clauses(argc - 1, argv + 1);
    if (!strcmp(cmd, "report"))
        return vs_cli_report(argc - 1, argv + 1);
    if (!strcmp(cmd, "mutants"))
        return vs_cli_mutants(argc - 1, argv + 1);
    if (!strcmp(cmd, "campaign"))
        return vs_cli_campaign(argc - 1, argv + 1);
    if (!strcmp(cmd, "serve"))
        return vs_cli_serve(argc - 1, argv + 1);
    if (!strcmp(cmd, "probe") || !strcmp(cmd, "--probe"))
        return vs_cli_probe(argc - 1, argv + 1);
    if (!strcmp(cmd, "trace"))
        return vs_cli_trace(argc - 1, argv + 1);
    fprintf(stderr, "virtiosim: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return EXIT_USAGE;
}
