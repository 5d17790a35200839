/* results.ktap, KTAP version 1 (Linux Documentation/dev-tools/ktap.rst):
 *
 *   KTAP version 1
 *   1..(2 + clauses)
 *     KTAP version 1                        test 1: the scenarios
 *     # Subtest: scenarios
 *     1..S
 *     # evidence ...
 *     not ok 1 blk/read-bad
 *     ok 2 blk/read-basic
 *     ok 3 blk/read-known # XFAIL why   a failure the expected-results file explains
 *   not ok 1 scenarios
 *   # generic.device.features.4: [offer-...] ...   test 2: the device findings, judged once
 *   not ok 2 device findings
 *     KTAP version 1                        test 3..: one per conformance clause
 *     # Subtest: Block Device Conformance
 *     1..K
 *     ok 1 blk.device.x
 *     ok 2 blk.device.y # SKIP not_exercised: not exercised
 *   ok 3 Block Device Conformance
 *
 * Descriptions cannot contain '#' (replaced by '_') or line breaks; diagnostics are
 * "# " lines directly before the result they explain. */
#define _GNU_SOURCE
#include "report_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "virtiosim/virtio.h"

static void indent(FILE *f, int level)
{
    for (int i = 0; i < level; i++)
        fputs("  ", f);
}

/* One line of text without '#', control characters or invalid UTF-8. */
static void clean(FILE *f, const char *s, bool allow_hash)
{
    char *u = vs_utf8_sanitize(s ? s : "");
    if (!u)
        return;
    for (unsigned char *p = (unsigned char *)u; *p; p++) {
        unsigned char ch = *p;
        if (ch < 0x20 || ch == 0x7f)
            ch = ' ';
        else if (ch == '#' && !allow_hash)
            ch = '_';
        fputc(ch, f);
    }
    free(u);
}

/* "# text" lines, one per line of text. */
static void diag(FILE *f, int level, const char *text)
{
    const char *p = text ? text : "";
    do {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char *line = strndup(p, n);
        if (!line)
            return;
        indent(f, level);
        fputs("# ", f);
        clean(f, line, true);
        fputc('\n', f);
        free(line);
        p = nl ? nl + 1 : NULL;
    } while (p && *p);
}

/* "# Subtest: NAME" after a nested version line names the nested block, as KUnit writes
 * it, so the kernel's KTAP parser (and TAP14 readers) see named suites. */
static void subtest(FILE *f, const char *name)
{
    indent(f, 1);
    fputs("# Subtest: ", f);
    clean(f, name, false);
    fputc('\n', f);
}

static void result(FILE *f, int level, bool ok, size_t n, const char *desc,
                   const char *directive, const char *why)
{
    indent(f, level);
    fprintf(f, "%s %zu ", ok ? "ok" : "not ok", n);
    clean(f, desc, false);
    if (directive) {
        fprintf(f, " # %s", directive);
        if (why && *why) {
            fputc(' ', f);
            clean(f, why, true);
        }
    }
    fputc('\n', f);
}

static void evidence_diags(FILE *f, int level, const vs_stmt_result *r)
{
    char buf[1024];
    for (unsigned i = 0; i < r->n_evidence && i < VS_EVIDENCE_MAX; i++) {
        int n = snprintf(buf, sizeof buf, "%s: ", r->st ? r->st->id : "?");
        if (n < 0 || (size_t)n >= sizeof buf)
            n = 0;
        vs_evidence_format(&r->evidence[i], buf + n, sizeof buf - (size_t)n);
        diag(f, level, buf);
    }
    if (r->violations > r->n_evidence) {
        snprintf(buf, sizeof buf, "%s: %" PRIu64 " violations in all, %s %u shown",
                 r->st ? r->st->id : "?", r->violations, r->device_level ? "distinct" : "first",
                 r->n_evidence);
        diag(f, level, buf);
    }
}

/* Test 2: the device findings (what the device offers and presents), judged once for
 * the run, with the evidence of each failed one. */
static void device_test(FILE *f, const vs_rep_ctx *c)
{
    char buf[1200];
    const vs_report_device *dv = c->run->device;
    if (dv) {
        char fn[1024];
        vs_features_format(dv->device_id, dv->offered, fn, sizeof fn);
        snprintf(buf, sizeof buf, "device %s offers 0x%016" PRIx64 " %s (as seen by %s)",
                 vs_rep_s(dv->device_name, "?"), dv->offered, fn, vs_rep_s(dv->scenario, "-"));
        diag(f, 0, buf);
    }
    for (size_t i = 0; c->agg && i < c->agg->n_stmt; i++)
        if (c->agg->stmt[i].device_level && c->agg->stmt[i].verdict == VS_VERDICT_FAIL)
            evidence_diags(f, 0, &c->agg->stmt[i]);
    snprintf(buf, sizeof buf, "device-level statements: %zu pass, %zu fail, %zu expected fail",
             c->dev_pass, c->dev_fail, c->dev_xfail);
    diag(f, 0, buf);
    if (c->dev_fail)
        result(f, 0, false, 2, "device findings", NULL, NULL);
    else if (c->dev_xfail)
        result(f, 0, true, 2, "device findings", "XFAIL", "listed in the expected-results file");
    else if (!c->dev_pass)
        result(f, 0, true, 2, "device findings", "SKIP", "no scenario reached the device");
    else
        result(f, 0, true, 2, "device findings", NULL, NULL);
}

int vs_report_ktap_fp(FILE *f, const vs_report_run *run, vs_err *e)
{
    if (!f)
        return vs_err_set(e, VS_EINVAL, "results.ktap: NULL stream");
    vs_rep_ctx c;
    int rc = vs_rep_ctx_init(&c, run, e);
    if (rc < 0)
        return rc;
    char buf[1200];

    fputs("KTAP version 1\n", f);
    snprintf(buf, sizeof buf, "%s %s, backend %s%s%s%s", vs_rep_s(run->tool, "virtiosim"),
             vs_rep_s(run->tool_version, "?"), vs_rep_s(run->backend, "?"),
             run->backend_version ? " (" : "", vs_rep_s(run->backend_version, ""),
             run->backend_version ? ")" : "");
    diag(f, 0, buf);
    if (run->suite) {
        snprintf(buf, sizeof buf, "suite %s", run->suite);
        diag(f, 0, buf);
    }
    if (run->interrupted)
        diag(f, 0, "interrupted: this report covers only the scenarios that finished");
    fprintf(f, "1..%zu\n", 2 + c.n_clauses);

    /* test 1: scenarios */
    indent(f, 1);
    fputs("KTAP version 1\n", f);
    subtest(f, "scenarios");
    indent(f, 1);
    fprintf(f, "1..%zu\n", run->n_scenarios);
    bool any_fail = false;
    for (size_t i = 0; i < run->n_scenarios; i++) {
        const vs_report_scenario *s = &run->scenarios[i];
        char fn[1024];
        snprintf(buf, sizeof buf, "seed %" PRIu64 ", %" PRIu64 " steps, %" PRIu64
                 " ns %s, features %s, trace %s", s->seed, s->steps_run, s->virtual_ns,
                 run->wall_clock ? "wall-clock" : "virtual",
                 vs_rep_feature_names(s, fn, sizeof fn), vs_rep_s(s->trace_digest, "-"));
        diag(f, 1, buf);
        bool xfail = s->verdict == VS_SCN_FAIL && s->expect == VS_REPORT_EXPECT_FAIL;
        if (s->verdict == VS_SCN_FAIL || s->verdict == VS_SCN_ERROR) {
            any_fail |= !xfail;
            if (s->fail_step >= 0) {
                snprintf(buf, sizeof buf, "failed at step %ld%s%s%s", s->fail_step,
                         s->fail_step_desc ? " (" : "", vs_rep_s(s->fail_step_desc, ""),
                         s->fail_step_desc ? ")" : "");
                diag(f, 1, buf);
            }
            if (s->message)
                diag(f, 1, s->message);
            for (size_t j = 0; s->results && s->results->stmt && j < s->results->n_stmt; j++)
                if (s->results->stmt[j].verdict == VS_VERDICT_FAIL &&
                    !s->results->stmt[j].device_level) /* those are test 2's */
                    evidence_diags(f, 1, &s->results->stmt[j]);
        }
        const char *name = vs_rep_s(s->name, "(unnamed)");
        switch (s->verdict) {
        case VS_SCN_PASS: result(f, 1, true, i + 1, name, NULL, NULL); break;
        case VS_SCN_FAIL:
            /* a known failure: "ok # XFAIL", as kselftest writes it and the exit code
             * counts it */
            result(f, 1, xfail, i + 1, name, xfail ? "XFAIL" : NULL, s->expect_reason);
            break;
        case VS_SCN_SKIPPED:
        case VS_SCN_NOT_APPLICABLE:
            result(f, 1, true, i + 1, name, "SKIP", vs_rep_s(s->message, "skipped"));
            break;
        default:
            result(f, 1, false, i + 1, name, "ERROR", vs_rep_s(s->message, "error"));
        }
    }
    if (run->n_scenarios == 0)
        result(f, 0, true, 1, "scenarios", "SKIP", "no scenario finished");
    else
        result(f, 0, !any_fail, 1, "scenarios", NULL, NULL);

    device_test(f, &c);

    /* tests 3..: one per clause */
    for (size_t k = 0; k < c.n_clauses; k++) {
        const vs_rep_clause *cl = &c.clauses[k];
        indent(f, 1);
        fputs("KTAP version 1\n", f);
        subtest(f, cl->name);
        indent(f, 1);
        fprintf(f, "1..%zu\n", cl->n);
        for (size_t j = 0; j < cl->n; j++) {
            const vs_stmt_result *r = &c.agg->stmt[cl->idx[j]];
            const char *xf = vs_rep_stmt_expected(&c, cl->idx[j]);
            if (r->verdict == VS_VERDICT_PASS) {
                result(f, 1, true, j + 1, r->st->id, NULL, NULL);
            } else if (r->verdict == VS_VERDICT_FAIL) {
                snprintf(buf, sizeof buf, "%s %s %s: %s", vs_role_name(r->st->role),
                         vs_level_name(r->st->level), vs_rep_s(r->st->label, "-"),
                         vs_rep_s(r->st->paraphrase, ""));
                diag(f, 1, buf);
                evidence_diags(f, 1, r);
                result(f, 1, xf != NULL, j + 1, r->st->id, xf ? "XFAIL" : NULL, xf);
            } else {
                snprintf(buf, sizeof buf, "%s: %s", vs_verdict_name(r->verdict), r->reason);
                result(f, 1, true, j + 1, r->st->id, "SKIP", buf);
            }
        }
        size_t decided = cl->count[VS_VERDICT_PASS] + cl->count[VS_VERDICT_FAIL] + cl->xfail;
        if (cl->count[VS_VERDICT_FAIL]) {
            snprintf(buf, sizeof buf, "%s: %zu of %zu statements failed", cl->name,
                     cl->count[VS_VERDICT_FAIL], cl->n);
            diag(f, 0, buf);
            result(f, 0, false, k + 3, cl->name, NULL, NULL);
        } else if (decided == 0) {
            result(f, 0, true, k + 3, cl->name, "SKIP", "no statement exercised");
        } else {
            result(f, 0, true, k + 3, cl->name, NULL, NULL);
        }
    }
    vs_rep_ctx_fini(&c);
    return vs_rep_ferror(f, VS_REPORT_KTAP, e);
}
