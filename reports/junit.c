/* junit.xml: one <testsuite> for the scenarios, one for the device findings, one per
 * conformance clause. */
#include "report_int.h"

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "virtiosim/virtio.h"

static void attr(FILE *f, const char *name, const char *val)
{
    fprintf(f, " %s=\"", name);
    vs_xml_escape(f, val ? val : "", true);
    fputc('"', f);
}

static void evidence_text(FILE *f, const vs_stmt_result *r)
{
    char buf[1024];
    for (unsigned i = 0; i < r->n_evidence && i < VS_EVIDENCE_MAX; i++) {
        vs_evidence_format(&r->evidence[i], buf, sizeof buf);
        fputs(r->st ? r->st->id : "?", f);
        fputs(": ", f);
        vs_xml_escape(f, buf, false);
        fputc('\n', f);
    }
    if (r->violations > r->n_evidence)
        fprintf(f, "(%" PRIu64 " violations in all, %s %u shown)\n", r->violations,
                r->device_level ? "distinct" : "first", r->n_evidence);
}

static void scenario_case(FILE *f, const vs_report_scenario *s, bool wall)
{
    char fn[1024];
    fputs("    <testcase", f);
    attr(f, "name", vs_rep_s(s->name, "(unnamed)"));
    attr(f, "classname", "scenarios");
    fprintf(f, " time=\"%.6f\"", (double)s->wall_ns / 1e9);
    if (s->path)
        attr(f, "file", s->path);
    fputs(">\n", f);

    const char *tag = NULL;
    bool xfail = s->verdict == VS_SCN_FAIL && s->expect == VS_REPORT_EXPECT_FAIL;
    switch (s->verdict) {
    case VS_SCN_PASS: break;
    case VS_SCN_FAIL: tag = xfail ? "skipped" : "failure"; break;   /* as the exit code */
    case VS_SCN_SKIPPED:
    case VS_SCN_NOT_APPLICABLE: tag = "skipped"; break;
    default: tag = "error"; break;
    }
    if (tag) {
        char msg[1200];
        if (xfail)
            snprintf(msg, sizeof msg, "expected failure: %s", vs_rep_s(s->expect_reason, "-"));
        else if (s->fail_step >= 0)
            snprintf(msg, sizeof msg, "step %ld%s%s%s: %s", s->fail_step,
                     s->fail_step_desc ? " (" : "", vs_rep_s(s->fail_step_desc, ""),
                     s->fail_step_desc ? ")" : "", vs_rep_s(s->message, vs_scn_verdict_name(s->verdict)));
        else
            snprintf(msg, sizeof msg, "%s", vs_rep_s(s->message, vs_scn_verdict_name(s->verdict)));
        fprintf(f, "      <%s", tag);
        attr(f, "message", msg);
        if (strcmp(tag, "skipped") != 0)
            attr(f, "type", vs_scn_verdict_name(s->verdict));
        if (strcmp(tag, "skipped") == 0 || !s->results) {
            fputs("/>\n", f);
        } else {
            fputs(">", f);
            vs_xml_escape(f, msg, false);
            fputc('\n', f);
            /* device findings have their own test case */
            for (size_t i = 0; s->results->stmt && i < s->results->n_stmt; i++)
                if (s->results->stmt[i].verdict == VS_VERDICT_FAIL &&
                    !s->results->stmt[i].device_level)
                    evidence_text(f, &s->results->stmt[i]);
            fprintf(f, "</%s>\n", tag);
        }
    }
    fputs("      <system-out>", f);
    if (xfail || s->expect == VS_REPORT_EXPECT_XPASS) {
        /* the evidence of a known failure stays visible, and an outdated entry is named */
        fputs(xfail ? "expected failure; evidence: " : "listed as an expected failure but "
                                                       "passed: update the expected file\n", f);
        if (xfail) {
            vs_xml_escape(f, vs_rep_s(s->message, "-"), false);
            fputc('\n', f);
        }
    }
    fprintf(f, "seed %" PRIu64 "\nsteps run %" PRIu64 "\n%s time %" PRIu64 " ns\n",
            s->seed, s->steps_run, wall ? "wall-clock" : "virtual", s->virtual_ns);
    fprintf(f, "features 0x%016" PRIx64 " ", s->features);
    vs_xml_escape(f, vs_rep_feature_names(s, fn, sizeof fn), false);
    fputs("\ntrace digest ", f);
    vs_xml_escape(f, vs_rep_s(s->trace_digest, "-"), false);
    fputs("\n</system-out>\n    </testcase>\n", f);
}

static void statement_case(FILE *f, const vs_stmt_result *r, const char *clause,
                           const char *expected)
{
    const vs_statement *st = r->st;
    fputs("    <testcase", f);
    attr(f, "name", st->id);
    attr(f, "classname", clause);
    fputs(" time=\"0\">\n", f);
    char desc[512];
    snprintf(desc, sizeof desc, "%s %s [%s]: %s", vs_role_name(st->role),
             vs_level_name(st->level), vs_rep_s(st->label, "-"), vs_rep_s(st->paraphrase, ""));
    switch (expected && r->verdict == VS_VERDICT_FAIL ? VS_VERDICT_COUNT : r->verdict) {
    case VS_VERDICT_PASS:
        break;
    case VS_VERDICT_COUNT: {   /* a failure the expected-results file explains */
        char msg[600];
        snprintf(msg, sizeof msg, "expected failure: %s", expected);
        fputs("      <skipped", f);
        attr(f, "message", msg);
        fputs("/>\n", f);
        break;
    }
    case VS_VERDICT_FAIL: {
        char msg[256];
        snprintf(msg, sizeof msg, "%" PRIu64 " violation%s", r->violations,
                 r->violations == 1 ? "" : "s");
        fputs("      <failure", f);
        attr(f, "message", msg);
        attr(f, "type", "fail");
        fputs(">", f);
        vs_xml_escape(f, desc, false);
        fputc('\n', f);
        evidence_text(f, r);
        fputs("</failure>\n", f);
        break;
    }
    default: {
        char msg[256];
        snprintf(msg, sizeof msg, "%s: %s", vs_verdict_name(r->verdict), r->reason);
        fputs("      <skipped", f);
        attr(f, "message", msg);
        fputs("/>\n", f);
    }
    }
    fputs("      <system-out>", f);
    vs_xml_escape(f, desc, false);
    fprintf(f, "\nexercised %" PRIu64 "\n</system-out>\n    </testcase>\n", r->exercised);
}

/* The device under test and its findings (what it offers and presents, judged once for
 * the run): one test case of its own test suite, failed by an unexpected finding. */
static void device_suite(FILE *f, const vs_rep_ctx *c)
{
    const vs_report_run *run = c->run;
    bool judged = c->dev_pass || c->dev_fail || c->dev_xfail;
    fprintf(f, "  <testsuite name=\"device\" tests=\"1\" failures=\"%d\" errors=\"0\" "
            "skipped=\"%d\" time=\"0\">\n    <testcase name=\"device-findings\" "
            "classname=\"device\" time=\"0\">\n", c->dev_fail > 0,
            !judged || (!c->dev_fail && c->dev_xfail));
    char msg[256];
    if (c->dev_fail) {
        snprintf(msg, sizeof msg, "%zu device-level statement%s failed", c->dev_fail,
                 c->dev_fail == 1 ? "" : "s");
        fputs("      <failure", f);
        attr(f, "message", msg);
        attr(f, "type", "fail");
        fputs(">", f);
        for (size_t i = 0; c->agg && i < c->agg->n_stmt; i++)
            if (c->agg->stmt[i].device_level && c->agg->stmt[i].verdict == VS_VERDICT_FAIL &&
                !vs_rep_stmt_expected(c, i))
                evidence_text(f, &c->agg->stmt[i]);
        fputs("</failure>\n", f);
    } else if (!judged || c->dev_xfail) {
        snprintf(msg, sizeof msg, "%s", judged ? "expected failure: device findings the "
                 "expected-results file lists" : "not judged: no scenario reached the device");
        fputs("      <skipped", f);
        attr(f, "message", msg);
        fputs("/>\n", f);
    }
    fprintf(f, "      <system-out>device-level statements: %zu pass, %zu fail, %zu expected "
            "fail\n", c->dev_pass, c->dev_fail, c->dev_xfail);
    const vs_report_device *dv = run->device;
    if (dv) {
        char fn[1024];
        vs_features_format(dv->device_id, dv->offered, fn, sizeof fn);
        fprintf(f, "device %s (id %" PRIu32 "), as seen by ", vs_rep_s(dv->device_name, "?"),
                dv->device_id);
        vs_xml_escape(f, vs_rep_s(dv->scenario, "-"), false);
        fprintf(f, "\noffered 0x%016" PRIx64 " ", dv->offered);
        vs_xml_escape(f, fn, false);
        for (size_t i = 0; dv->config && i < dv->n_config; i++) {
            fputs("\nconfig ", f);
            vs_xml_escape(f, vs_rep_s(dv->config[i].name, "?"), false);
            fprintf(f, " = %" PRIu64, dv->config[i].value);
        }
        fputc('\n', f);
    }
    fputs("</system-out>\n    </testcase>\n  </testsuite>\n", f);
}

int vs_report_junit_fp(FILE *f, const vs_report_run *run, vs_err *e)
{
    if (!f)
        return vs_err_set(e, VS_EINVAL, "junit.xml: NULL stream");
    vs_rep_ctx c;
    int rc = vs_rep_ctx_init(&c, run, e);
    if (rc < 0)
        return rc;

    bool dev_judged = c.dev_pass || c.dev_fail || c.dev_xfail;
    size_t tests = run->n_scenarios + 1, failures = c.scn_count[VS_SCN_FAIL] + (c.dev_fail > 0),
           errors = c.scn_count[VS_SCN_ERROR],
           skipped = c.scn_count[VS_SCN_SKIPPED] + c.scn_count[VS_SCN_NOT_APPLICABLE] +
                     c.scn_xfail + (!dev_judged || (!c.dev_fail && c.dev_xfail));
    uint64_t wall = 0;
    for (size_t i = 0; i < run->n_scenarios; i++)
        wall += run->scenarios[i].wall_ns;
    for (size_t k = 0; k < c.n_clauses; k++) {
        tests += c.clauses[k].n;
        failures += c.clauses[k].count[VS_VERDICT_FAIL];
        skipped += c.clauses[k].n - c.clauses[k].count[VS_VERDICT_FAIL] -
                   c.clauses[k].count[VS_VERDICT_PASS];
    }

    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites", f);
    attr(f, "name", vs_rep_s(run->suite, vs_rep_s(run->tool, "virtiosim")));
    fprintf(f, " tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" time=\"%.6f\"",
            tests, failures, errors, skipped, (double)wall / 1e9);
    if (run->started)
        attr(f, "timestamp", run->started);
    fputs(">\n", f);

    fputs("  <testsuite name=\"scenarios\"", f);
    fprintf(f, " tests=\"%zu\" failures=\"%zu\" errors=\"%zu\" skipped=\"%zu\" time=\"%.6f\"",
            run->n_scenarios, c.scn_count[VS_SCN_FAIL], c.scn_count[VS_SCN_ERROR],
            c.scn_count[VS_SCN_SKIPPED] + c.scn_count[VS_SCN_NOT_APPLICABLE] + c.scn_xfail,
            (double)wall / 1e9);
    if (run->started)
        attr(f, "timestamp", run->started);
    fputs(">\n    <properties>\n", f);
    const char *props[][2] = {
        {"tool", run->tool}, {"tool_version", run->tool_version},
        {"backend", run->backend}, {"backend_version", run->backend_version},
        {"suite", run->suite}, {"started", run->started},
        {"interrupted", run->interrupted ? "true" : "false"},
    };
    for (size_t i = 0; i < sizeof props / sizeof props[0]; i++) {
        if (!props[i][1])
            continue;
        fputs("      <property", f);
        attr(f, "name", props[i][0]);
        attr(f, "value", props[i][1]);
        fputs("/>\n", f);
    }
    fputs("    </properties>\n", f);
    for (size_t i = 0; i < run->n_scenarios; i++)
        scenario_case(f, &run->scenarios[i], run->wall_clock);
    fputs("  </testsuite>\n", f);
    device_suite(f, &c);

    for (size_t k = 0; k < c.n_clauses; k++) {
        const vs_rep_clause *cl = &c.clauses[k];
        fputs("  <testsuite", f);
        attr(f, "name", cl->name);
        fprintf(f, " tests=\"%zu\" failures=\"%zu\" errors=\"0\" skipped=\"%zu\" time=\"0\">\n",
                cl->n, cl->count[VS_VERDICT_FAIL],
                cl->n - cl->count[VS_VERDICT_FAIL] - cl->count[VS_VERDICT_PASS]);
        for (size_t j = 0; j < cl->n; j++)
            statement_case(f, &c.agg->stmt[cl->idx[j]], cl->name,
                           vs_rep_stmt_expected(&c, cl->idx[j]));
        fputs("  </testsuite>\n", f);
    }
    fputs("</testsuites>\n", f);
    vs_rep_ctx_fini(&c);
    return vs_rep_ferror(f, VS_REPORT_JUNIT, e);
}
