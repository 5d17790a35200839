/* report.html, the part a certification reviewer reads first: the run's verdict, a
 * headline per role and level (device MUST / SHOULD, driver MUST / SHOULD) and per clause,
 * the device under test as it presented itself, its findings (judged once for the run),
 * and what each verdict means. */
#include "report_int.h"

#include <inttypes.h>
#include <string.h>

#include "virtiosim/virtio.h"

static void H(FILE *f, const char *s) { vs_xml_escape(f, s ? s : "", false); }

/* Columns of the headline, in reading order. */
static const enum vs_verdict HL[] = {
    VS_VERDICT_PASS, VS_VERDICT_FAIL, VS_VERDICT_NOT_EXERCISED, VS_VERDICT_NOT_APPLICABLE,
    VS_VERDICT_UNTESTABLE, VS_VERDICT_NO_CHECK};
#define NHL (sizeof HL / sizeof HL[0])
static const char *const HL_LABEL[] = {"pass", "fail", "not exercised", "not applicable",
                                       "untestable", "no check"};

bool vs_rep_role_monitored(const vs_rep_ctx *c, enum vs_role role)
{
    for (size_t i = 0; c->agg && i < c->agg->n_stmt; i++) {
        const vs_stmt_result *r = &c->agg->stmt[i];
        if (!r->st || r->st->role != role)
            continue;
        if (r->verdict == VS_VERDICT_PASS || r->verdict == VS_VERDICT_FAIL ||
            (r->verdict == VS_VERDICT_NOT_EXERCISED && !strstr(r->reason, "not monitored")))
            return true;
    }
    return false;
}

void vs_rep_html_evidence(FILE *f, const vs_stmt_result *r)
{
    char buf[1024];
    fputs("<ul>", f);
    for (unsigned i = 0; i < r->n_evidence && i < VS_EVIDENCE_MAX; i++) {
        vs_evidence_format(&r->evidence[i], buf, sizeof buf);
        fputs("<li class=\"mono\">", f);
        H(f, buf);
        fputs("</li>", f);
    }
    if (r->violations > r->n_evidence)
        fprintf(f, "<li class=\"muted\">%" PRIu64 " violations in all, %s %u shown</li>",
                r->violations, r->device_level ? "distinct" : "first", r->n_evidence);
    fputs("</ul>\n", f);
}

/* One headline row: counts per verdict (a failure the expected-results file explains is
 * counted apart), and a bar of the same proportions. */
static void hl_row(FILE *f, const char *group, const char *note, const size_t *n, size_t xfail)
{
    size_t total = xfail;
    for (size_t k = 0; k < NHL; k++)
        total += n[HL[k]];
    fputs("<tr><th scope=\"row\">", f);
    H(f, group);
    if (note) {
        fputs("<br/><span class=\"muted\">", f);
        H(f, note);
        fputs("</span>", f);
    }
    fprintf(f, "</th><td class=\"num\">%zu</td>", total);
    for (size_t k = 0; k < NHL; k++)
        fprintf(f, "<td class=\"num%s\">%zu</td>",
                HL[k] == VS_VERDICT_FAIL && n[HL[k]] ? " hl-fail" : "", n[HL[k]]);
    fprintf(f, "<td class=\"num\">%zu</td><td><div class=\"bar\">", xfail);
    for (size_t k = 0; total && k < NHL; k++)
        if (n[HL[k]])
            fprintf(f, "<span class=\"b-%s\" style=\"width:%.2f%%\"></span>",
                    vs_verdict_name(HL[k]), 100.0 * (double)n[HL[k]] / (double)total);
    if (total && xfail)
        fprintf(f, "<span class=\"b-xfail\" style=\"width:%.2f%%\"></span>",
                100.0 * (double)xfail / (double)total);
    fputs("</div></td></tr>\n", f);
}

static void hl_head(FILE *f, const char *first)
{
    fprintf(f, "<table class=\"grid headline\"><thead><tr><th>%s</th><th>total</th>", first);
    for (size_t k = 0; k < NHL; k++)
        fprintf(f, "<th>%s</th>", HL_LABEL[k]);
    fputs("<th>expected fail</th><th style=\"width:22%\">share</th></tr></thead><tbody>\n", f);
}

/* The run's verdict in one line, in the failure colour when anything failed. */
void vs_rep_html_banner(FILE *f, const vs_rep_ctx *c)
{
    size_t scn_bad = c->scn_count[VS_SCN_FAIL] + c->scn_count[VS_SCN_ERROR];
    size_t st_bad = c->stmt_count[VS_VERDICT_FAIL];
    bool bad = scn_bad || st_bad;
    fprintf(f, "<div id=\"verdict\" class=\"verdict %s\"><b>%s</b> \xe2\x80\x94 ",
            bad ? "verdict-fail" : "verdict-pass", bad ? "FAIL" : "PASS");
    fprintf(f, "%zu of %zu statements failed (%zu of them device findings), %zu scenario%s "
            "failed or errored", st_bad, c->agg ? c->agg->n_stmt : 0, c->dev_fail, scn_bad,
            scn_bad == 1 ? "" : "s");
    if (c->stmt_xfail || c->scn_xfail)
        fprintf(f, "; %zu statement%s and %zu scenario%s fail as the expected-results file "
                "says", c->stmt_xfail, c->stmt_xfail == 1 ? "" : "s", c->scn_xfail,
                c->scn_xfail == 1 ? "" : "s");
    fputs(".</div>\n", f);
}

void vs_rep_html_headline(FILE *f, const vs_rep_ctx *c)
{
    fputs("<section id=\"headline\">\n", f);
    if (!c->agg) {
        fputs("<p class=\"muted\">No statement results.</p></section>\n", f);
        return;
    }
    /* [role][level] with MUST NOT counted as MUST and SHOULD NOT as SHOULD */
    size_t n[2][2][VS_VERDICT_COUNT] = {{{0}}}, x[2][2] = {{0}};
    for (size_t i = 0; i < c->agg->n_stmt; i++) {
        const vs_stmt_result *r = &c->agg->stmt[i];
        if (!r->st || r->verdict >= VS_VERDICT_COUNT)
            continue;
        int ro = r->st->role == VS_ROLE_DRIVER;
        int lv = r->st->level == VS_LEVEL_SHOULD || r->st->level == VS_LEVEL_SHOULD_NOT;
        if (vs_rep_stmt_expected(c, i))
            x[ro][lv]++;
        else
            n[ro][lv][r->verdict]++;
    }
    fputs("<h2>Headline</h2>\n", f);
    hl_head(f, "statements");
    static const char *const group[2][2] = {{"device-role MUST", "device-role SHOULD"},
                                            {"driver-role MUST", "driver-role SHOULD"}};
    for (int ro = 0; ro < 2; ro++) {
        bool mon = vs_rep_role_monitored(c, ro ? VS_ROLE_DRIVER : VS_ROLE_DEVICE);
        for (int lv = 0; lv < 2; lv++)
            hl_row(f, group[ro][lv], mon ? NULL : "role not monitored in this run", n[ro][lv],
                   x[ro][lv]);
    }
    fputs("</tbody></table>\n<h3>By conformance clause</h3>\n", f);
    hl_head(f, "clause");
    for (size_t k = 0; k < c->n_clauses; k++)
        hl_row(f, c->clauses[k].name, NULL, c->clauses[k].count, c->clauses[k].xfail);
    fputs("</tbody></table>\n</section>\n", f);
}

/* Offered features by name; a bit the driver did not take is shown apart. */
static void features(FILE *f, const vs_report_device *dv, uint64_t feats, bool mark_unused)
{
    fprintf(f, "<span class=\"mono\">0x%016" PRIx64 "</span><br/>", feats);
    if (!feats)
        fputs("<span class=\"muted\">none</span>", f);
    for (unsigned b = 0; b < 64; b++) {
        if (!(feats >> b & 1))
            continue;
        const char *nm = vs_feature_name(dv->device_id, b);
        char tmp[16];
        if (!nm) {
            snprintf(tmp, sizeof tmp, "bit %u", b);
            nm = tmp;
        }
        bool unused = mark_unused && !(dv->negotiated >> b & 1);
        fprintf(f, "<span class=\"feat%s\" title=\"bit %u%s\">", unused ? " feat-off" : "", b,
                unused ? ", offered, not negotiated" : "");
        H(f, nm);
        fputs("</span> ", f);
    }
}

static void kv(FILE *f, const char *k, const char *v)
{
    fprintf(f, "<tr><th scope=\"row\">%s</th><td>", k);
    H(f, v);
    fputs("</td></tr>\n", f);
}

void vs_rep_html_device(FILE *f, const vs_rep_ctx *c)
{
    const vs_report_run *run = c->run;
    const vs_report_device *dv = run->device;
    fputs("<section id=\"device\">\n<h2>Device under test</h2>\n<table class=\"grid kv\">\n", f);
    kv(f, "back-end", vs_rep_s(run->backend, "-"));
    kv(f, "back-end version", vs_rep_s(run->backend_version, "-"));
    kv(f, "times", run->wall_clock ? "wall-clock (a real back-end runs in real time)"
                                   : "virtual (the reference device on virtiosim's clock: "
                                     "deterministic, not real time)");
    if (!dv) {
        fputs("</table>\n<p class=\"muted\">No scenario reached a device.</p>\n</section>\n", f);
        return;
    }
    char buf[160];
    snprintf(buf, sizeof buf, "%s (virtio device ID %" PRIu32 ")",
             vs_rep_s(dv->device_name, "unknown"), dv->device_id);
    kv(f, "device type", buf);
    snprintf(buf, sizeof buf, "%s, the first scenario that reached it",
             vs_rep_s(dv->scenario, "-"));
    kv(f, "as presented to", buf);
    fputs("<tr><th scope=\"row\">offered features</th><td>", f);
    if (dv->offered_known)
        features(f, dv, dv->offered, true);
    else
        fputs("<span class=\"muted\">not read</span>", f);
    fputs("</td></tr>\n<tr><th scope=\"row\">negotiated features</th><td>", f);
    features(f, dv, dv->negotiated, false);
    fputs("</td></tr>\n<tr><th scope=\"row\">config (as read)</th><td>", f);
    if (!dv->n_config || !dv->config)
        fputs("<span class=\"muted\">no named field read</span>", f);
    else
        fputs("<table class=\"cfg\"><tr><th>field</th><th>offset</th><th>value</th></tr>", f);
    for (size_t i = 0; dv->config && i < dv->n_config; i++) {
        const vs_report_cfg_value *v = &dv->config[i];
        fputs("<tr><td class=\"mono\">", f);
        H(f, v->name);
        fprintf(f, "</td><td class=\"num\">%" PRIu32 "</td><td class=\"num mono\">%" PRIu64
                "</td></tr>", v->off, v->value);
    }
    if (dv->n_config && dv->config)
        fputs("</table>", f);
    fputs("</td></tr>\n</table>\n</section>\n", f);
}

void vs_rep_html_device_findings(FILE *f, const vs_rep_ctx *c)
{
    fputs("<h3 id=\"device-findings\">Device findings</h3>\n<p class=\"muted\">Judged from "
          "what the device presents (offered features, config layout and values), once for "
          "the run; a scenario does not fail because of them.</p>\n", f);
    bool any = false;
    for (size_t i = 0; c->agg && i < c->agg->n_stmt; i++) {
        const vs_stmt_result *r = &c->agg->stmt[i];
        if (!r->device_level || r->verdict != VS_VERDICT_FAIL)
            continue;
        const char *why = vs_rep_stmt_expected(c, i);
        any = true;
        fprintf(f, "<div class=\"%s\" id=\"%s\"><b class=\"mono\">", why ? "known-box"
                : "fail-box", r->st->id);
        H(f, r->st->id);
        fprintf(f, "</b> (%s %s): ", vs_role_name(r->st->role), vs_level_name(r->st->level));
        H(f, r->st->paraphrase);
        if (why) {
            fputs("<br/><i>Expected failure:</i> ", f);
            H(f, why);
        }
        vs_rep_html_evidence(f, r);
        fputs("</div>\n", f);
    }
    if (!any)
        fprintf(f, "<p>None: %zu device-level statement%s passed.</p>\n", c->dev_pass,
                c->dev_pass == 1 ? "" : "s");
}

void vs_rep_html_legend(FILE *f)
{
    fputs("<section id=\"legend\"><h2>How to read the verdicts</h2>\n<dl class=\"legend-dl\">"
          "<dt><span class=\"v v-pass\">pass</span></dt><dd>A check watched this statement "
          "and the device (or driver) never broke it in any scenario of the run.</dd>"
          "<dt><span class=\"v v-fail\">fail</span></dt><dd>It was broken at least once; the "
          "evidence says where (scenario, step, time, queue, descriptor) and what was "
          "expected and seen.</dd>"
          "<dt><span class=\"v v-not_exercised\">not exercised</span></dt><dd>virtiosim has "
          "a check, but no scenario of this run reached the situation it is about (or the "
          "role was not monitored). Neither conformance nor non-conformance is shown.</dd>"
          "<dt><span class=\"v v-not_applicable\">not applicable</span></dt><dd>The "
          "statement depends on a feature that was not negotiated.</dd>"
          "<dt><span class=\"v v-untestable\">untestable</span></dt><dd>It cannot be "
          "observed from outside the device; the reason is given with the statement.</dd>"
          "<dt><span class=\"v v-no_check\">no check</span></dt><dd>virtiosim has no check "
          "for this statement yet: the run says nothing about it either way, and a reviewer "
          "must judge it by other means.</dd></dl></section>\n", f);
}
