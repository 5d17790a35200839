/* virtiosim mutants: every mutant (a deliberately broken device or driver) against the
 * scenarios that should catch it, and the correct device and driver against the same. */
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtiosim/conformance.h"
#include "virtiosim/runner.h"
#include "virtiosim/scenario.h"

#include "sim/cli.h"
#include "sim/mutant_dev.h"
#include "sim/sim_dev.h"
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

static int run_mutant(const vs_mutant *mu, const vs_cli_strlist *files, int notify, bool judge_driver,
                      bool *ok)
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
        vs_run_opts o = {.backend = "ref", .mutant = mu, .notify = notify,
                         .judge_driver = judge_driver};
        vs_scenario_result r;
        int rr = vs_run_scenario(s, &o, &r, &e);
        if (rr == 0 && r.conformance)
            vs_results_merge(agg, r.conformance, &e);
        /* The correct device must also pass every step, not just every statement. */
        if (!mu && (rr < 0 || (r.verdict != VS_SCN_PASS && r.verdict != VS_SCN_SKIPPED))) {
            printf("BAD  (correct %s) %s: %s\n", judge_driver ? "driver" : "device", s->name,
                   rr < 0 ? e.msg : r.message);
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
    printf("%-4s %-28s %s\n", *ok ? "ok" : "BAD",
           mu ? mu->name : judge_driver ? "(correct driver)" : "(correct device)",
           mu ? mu->what : judge_driver ? "no statement of either role fails on the driver "
                                          "mutants' scenarios"
                                        : "no statement fails, no check sees a violation");
    if (missing[0])
        printf("     did not fail:%s\n", missing);
    if (unexpected[0])
        printf("     failed unexpectedly:%s\n", unexpected);
    vs_results_destroy(agg);
    return EXIT_PASS;
}

int vs_cli_mutants(int argc, char **argv)
{
    /* --notify iothread: the same table with the iothread notify path (1 + enum
     * vs_notify_path; 0: the scenarios' own) */
    int notify = 0;
    if (argc == 3 && !strcmp(argv[1], "--notify") &&
        (!strcmp(argv[2], "iothread") || !strcmp(argv[2], "direct")))
        notify = !strcmp(argv[2], "iothread") ? 2 : 1;
    else if (argc > 1) {
        vs_cli_usage(stderr, "mutants");
        return EXIT_USAGE;
    }
    int bad = 0;
    vs_cli_strlist all = {0}, drv = {0};
    for (size_t m = 0; m < vs_mutant_count(); m++) {
        const vs_mutant *mu = vs_mutant_at(m);
        vs_cli_strlist files = {0};
        for (const char *const *f = mu->scenarios; *f; f++) {
            char path[PATH_MAX];
            if (vs_cli_find_data(*f, path, sizeof path) < 0) {
                fprintf(stderr, "virtiosim mutants: %s: not found here, in the source tree "
                                "or the installed share/virtiosim\n", *f);
                vs_cli_strlist_free(&files);
                vs_cli_strlist_free(&all);
                return EXIT_USAGE;
            }
            vs_cli_strlist_add(&files, path);
            vs_cli_strlist_add_once(vs_mutant_is_driver(mu) ? &drv : &all, path);
        }
        bool ok;
        int rc = run_mutant(mu, &files, notify, false, &ok);
        vs_cli_strlist_free(&files);
        if (rc != EXIT_PASS) {
            vs_cli_strlist_free(&all);
            vs_cli_strlist_free(&drv);
            return rc;
        }
        bad += !ok;
    }
    /* The correct device over every device mutant's scenarios, and the correct driver,
     * judged in both roles, over the driver mutants' ones. */
    bool ok, dok = true;
    int rc = run_mutant(NULL, &all, notify, false, &ok);
    if (rc == EXIT_PASS && drv.n)
        rc = run_mutant(NULL, &drv, notify, true, &dok);
    vs_cli_strlist_free(&all);
    vs_cli_strlist_free(&drv);
    if (rc != EXIT_PASS)
        return rc;
    bad += !ok + !dok;
    printf("%zu mutants + the correct device: %d wrong\n", vs_mutant_count(), bad);
    return bad ? EXIT_FAILED : EXIT_PASS;
}
