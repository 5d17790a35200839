/* report.html: one self-contained page (inline CSS, JS and SVG; no network assets),
 * written as well-formed XHTML so XML tools can read it too. */
#include "report_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void H(FILE *f, const char *s) { vs_xml_escape(f, s ? s : "", false); }

static void A(FILE *f, const char *name, const char *val)
{
    fprintf(f, " %s=\"", name);
    vs_xml_escape(f, val ? val : "", true);
    fputc('"', f);
}

static const char *fmt_ns(uint64_t ns, char *buf, size_t len)
{
    if (ns < 1000)
        snprintf(buf, len, "%" PRIu64 " ns", ns);
    else if (ns < UINT64_C(1000000))
        snprintf(buf, len, "%.1f \xc2\xb5s", (double)ns / 1e3);
    else if (ns < UINT64_C(1000000000))
        snprintf(buf, len, "%.2f ms", (double)ns / 1e6);
    else
        snprintf(buf, len, "%.3f s", (double)ns / 1e9);
    return buf;
}

static const char CSS[] =
    "body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;"
    "color:#1d2330;background:#fafbfc}\n"
    "header{background:#1d2b4a;color:#fff;padding:16px 24px}\n"
    "header h1{margin:0 0 8px;font-size:22px}\n"
    "header table td{padding:1px 12px 1px 0;color:#dfe6f3}\n"
    "header table td.k{color:#9fb0d0}\n"
    "main{padding:8px 24px 40px}\n"
    "h2{border-bottom:2px solid #d5dbe5;padding-bottom:4px;margin-top:28px}\n"
    "h3{margin:18px 0 6px}\n"
    "nav a{color:#cfe0ff;margin-right:14px}\n"
    ".badges{margin-top:10px}\n"
    ".badge{display:inline-block;padding:2px 8px;border-radius:10px;margin:2px 6px 2px 0;"
    "font-size:12px;font-weight:600;color:#1d2330}\n"
    "table.grid{border-collapse:collapse;width:100%;background:#fff}\n"
    "table.grid th,table.grid td{border:1px solid #e1e5ec;padding:3px 6px;text-align:left;"
    "vertical-align:top}\n"
    "table.grid thead th{background:#eef1f6;position:sticky;top:0}\n"
    "tr.clause th{background:#dde4f0;font-size:13px}\n"
    "td.id,td.mono,.mono{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:12px}\n"
    ".v{font-weight:600;white-space:nowrap}\n"
    ".v-pass{background:#c8e6c9}.v-fail{background:#ffcdd2;color:#8e0000}\n"
    ".v-not_exercised{background:#eceff1}.v-not_applicable{background:#d6eaf8}\n"
    ".v-untestable{background:#e8daef}.v-no_check{background:#fff3c4}\n"
    ".v-error{background:#ffab91}.v-skipped{background:#eceff1}\n"
    ".v-xfail{background:#ffe0b2}.v-xpass{background:#fff9c4}\n"
    ".known-box{border-left:4px solid #ef6c00;background:#fff;padding:6px 10px;margin:8px 0}\n"
    ".filters{margin:8px 0;display:flex;gap:14px;align-items:center;flex-wrap:wrap}\n"
    ".filters select,.filters input{font-size:13px;padding:2px 4px}\n"
    ".fail-box{border-left:4px solid #c62828;background:#fff;padding:6px 10px;margin:8px 0}\n"
    ".fail-box ul{margin:4px 0 0 18px;padding:0}\n"
    ".banner{background:#fff3c4;border:1px solid #e0c060;padding:8px 12px;margin:12px 0}\n"
    ".legend span{display:inline-block;margin-right:14px;font-size:12px}\n"
    ".legend i{display:inline-block;width:10px;height:10px;margin-right:4px}\n"
    "svg.tl{background:#fff;border:1px solid #e1e5ec;display:block;margin:4px 0;"
    "max-width:100%;height:auto}\n"
    "svg.tl text{font:11px system-ui,sans-serif;fill:#444}\n"
    ".muted{color:#6b7385}\n"
    "td.feat{overflow-wrap:anywhere;max-width:420px}\n"
    "td.nw{white-space:nowrap}\n"
    "#matrix-table{table-layout:fixed}\n"
    "#matrix-table td{overflow-wrap:anywhere}\n"
    "#matrix-table td.v{overflow-wrap:normal}\n";

static const char JS[] =
    "(function () {\n"
    "  function el(id) { return document.getElementById(id); }\n"
    "  var fa = el('f-area'), fr = el('f-role'), fv = el('f-verdict'), fq = el('f-text');\n"
    "  var table = el('matrix-table');\n"
    "  function apply() {\n"
    "    var a = fa.value, r = fr.value, v = fv.value, q = fq.value.toLowerCase();\n"
    "    var shown = 0, total = 0;\n"
    "    var bodies = table.tBodies;\n"
    "    for (var b = 0; b < bodies.length; b++) {\n"
    "      var rows = bodies[b].rows, visible = 0;\n"
    "      for (var i = 0; i < rows.length; i++) {\n"
    "        var t = rows[i];\n"
    "        if (t.className !== 'st') continue;\n"
    "        total++;\n"
    "        var ok = (!a || t.getAttribute('data-area') === a) &&\n"
    "                 (!r || t.getAttribute('data-role') === r) &&\n"
    "                 (!v || t.getAttribute('data-verdict') === v) &&\n"
    "                 (!q || t.textContent.toLowerCase().indexOf(q) >= 0);\n"
    "        t.style.display = ok ? '' : 'none';\n"
    "        if (ok) { shown++; visible++; }\n"
    "      }\n"
    "      if (rows.length > 0 && rows[0].className === 'clause')\n"
    "        rows[0].style.display = visible ? '' : 'none';\n"
    "    }\n"
    "    el('shown').textContent = shown + ' of ' + total + ' statements shown';\n"
    "  }\n"
    "  [fa, fr, fv].forEach(function (x) { x.addEventListener('change', apply); });\n"
    "  fq.addEventListener('input', apply);\n"
    "  apply();\n"
    "  document.title = 'virtiosim report: ok';\n"
    "})();\n";

/* ------------------------------------------------------------------ timeline */

static const struct {
    enum vs_event_kind kind;
    const char *label, *color;
    bool optional;          /* left out of the legend when the run has none */
} TL_KINDS[] = {
    {VS_EV_KICK, "kick", "#1f77b4"},
    {VS_EV_DOORBELL, "doorbell", "#17becf"},
    {VS_EV_FETCH, "fetch", "#9467bd"},
    {VS_EV_USED, "used", "#2ca02c"},
    {VS_EV_IRQ, "interrupt", "#ff7f0e"},
    {VS_EV_DEVICE_ERROR, "device error", "#d62728"},
    {VS_EV_CONFIG_CHANGE, "config change", "#8c564b"},
    {VS_EV_IOT_SERVE, "iothread serve", "#e377c2", true}, /* the iothread notify path */
};
#define TL_NKINDS (sizeof TL_KINDS / sizeof TL_KINDS[0])
#define TL_W 1200
#define TL_LEFT 86
#define TL_RIGHT 16
#define TL_TOP 8
#define TL_ROW 7
#define TL_LANE (TL_ROW * (int)TL_NKINDS + 10)

static void timeline_svg(FILE *f, const vs_timeline *tl, size_t idx)
{
    size_t n = vs_timeline_count(tl);
    const vs_timeline_mark *m = vs_timeline_marks(tl);
    char b1[32], b2[32];
    fputs("<div class=\"legend\">", f);
    for (size_t k = 0; k < TL_NKINDS; k++) {
        if (TL_KINDS[k].optional && !vs_timeline_offered_kind(tl, TL_KINDS[k].kind))
            continue;
        fprintf(f, "<span><i style=\"background:%s\"></i>%s: %" PRIu64 "</span>",
                TL_KINDS[k].color, TL_KINDS[k].label,
                vs_timeline_offered_kind(tl, TL_KINDS[k].kind));
    }
    fprintf(f, "<span class=\"muted\">%zu of %" PRIu64 " marks kept", n,
            vs_timeline_offered(tl));
    if (vs_timeline_stride(tl) > 1)
        fprintf(f, " (a uniform sample: 1 in %" PRIu32 "; device errors and config changes "
                "all kept)", vs_timeline_stride(tl));
    fputs("</span></div>\n", f);
    if (n == 0) {
        fputs("<p class=\"muted\">No kicks, fetches, completions or interrupts recorded.</p>\n",
              f);
        return;
    }

    /* lanes: queues that have marks, plus "config" for queue -1 */
    int maxq = vs_timeline_max_queue(tl);
    size_t nq = (size_t)(maxq + 2);      /* slot 0 = queue -1 */
    int *lane = calloc(nq, sizeof *lane);
    const int plotw = TL_W - TL_LEFT - TL_RIGHT;
    unsigned char *used = calloc((size_t)plotw + 1, 1);
    if (!lane || !used) {
        free(lane);
        free(used);
        fputs("<p class=\"muted\">(timeline omitted: out of memory)</p>\n", f);
        return;
    }
    for (size_t i = 0; i < n; i++)
        lane[m[i].queue + 1] = 1;
    int nl = 0;
    for (size_t q = 1; q < nq; q++)      /* queues first, config lane last */
        if (lane[q])
            lane[q] = ++nl;
    if (lane[0])
        lane[0] = ++nl;
    uint64_t tmax = vs_timeline_t_max(tl);
    if (tmax == 0)
        tmax = 1;
    int h = TL_TOP + nl * TL_LANE + 26;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"tl\" width=\"%d\" "
            "height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\" id=\"tl-svg-%zu\">\n",
            TL_W, h, TL_W, h, idx);
    /* lane backgrounds and labels */
    for (size_t q = 0; q < nq; q++) {
        if (!lane[q])
            continue;
        int y = TL_TOP + (lane[q] - 1) * TL_LANE;
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\"/>\n",
                TL_LEFT, y, plotw, TL_LANE - 4, (lane[q] % 2) ? "#f4f6fa" : "#eaeef5");
        if (q == 0)
            fprintf(f, "<text x=\"6\" y=\"%d\">config</text>\n", y + TL_LANE / 2);
        else
            fprintf(f, "<text x=\"6\" y=\"%d\">queue %zu</text>\n", y + TL_LANE / 2, q - 1);
    }
    /* marks: one path per (lane, kind), at most one tick per pixel column */
    for (size_t q = 0; q < nq; q++) {
        if (!lane[q])
            continue;
        int y0 = TL_TOP + (lane[q] - 1) * TL_LANE + 2;
        for (size_t k = 0; k < TL_NKINDS; k++) {
            memset(used, 0, (size_t)plotw + 1);
            bool open = false;
            uint64_t cnt = 0;
            for (size_t i = 0; i < n; i++) {
                if (m[i].kind != TL_KINDS[k].kind || m[i].queue + 1 != (int)q)
                    continue;
                cnt++;
                int x = (int)((double)m[i].t_ns / (double)tmax * plotw);
                if (x < 0)
                    x = 0;
                if (x > plotw)
                    x = plotw;
                if (used[x])
                    continue;
                used[x] = 1;
                if (!open) {
                    fprintf(f, "<path stroke=\"%s\" stroke-width=\"1.6\" fill=\"none\" d=\"",
                            TL_KINDS[k].color);
                    open = true;
                }
                fprintf(f, "M%d %dv%d", TL_LEFT + x, y0 + (int)k * TL_ROW, TL_ROW - 1);
            }
            if (open)
                fprintf(f, "\"><title>%s %s: %" PRIu64 " marks</title></path>\n",
                        q == 0 ? "config" : "queue", TL_KINDS[k].label, cnt);
        }
    }
    /* time axis */
    int ya = TL_TOP + nl * TL_LANE;
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>\n", TL_LEFT,
            ya, TL_LEFT + plotw, ya);
    for (int t = 0; t <= 5; t++) {
        int x = TL_LEFT + plotw * t / 5;
        uint64_t ns = (uint64_t)((double)tmax * t / 5.0);
        fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>", x, ya, x,
                ya + 4);
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"%s\">%s</text>\n", x, ya + 16,
                t == 0 ? "start" : t == 5 ? "end" : "middle", fmt_ns(ns, b1, sizeof b1));
    }
    fputs("</svg>\n", f);
    fprintf(f, "<p class=\"muted\">virtual time 0 \xe2\x80\x93 %s</p>\n",
            fmt_ns(vs_timeline_t_max(tl), b2, sizeof b2));
    free(lane);
    free(used);
}

/* ------------------------------------------------------------------- page */

static void verdict_cell(FILE *f, const char *v)
{
    fprintf(f, "<td class=\"v v-%s\">%s</td>", v, v);
}

static void evidence_list(FILE *f, const vs_stmt_result *r)
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
        fprintf(f, "<li class=\"muted\">%" PRIu64 " violations in all, first %u shown</li>",
                r->violations, r->n_evidence);
    fputs("</ul>\n", f);
}

static void header(FILE *f, const vs_rep_ctx *c)
{
    const vs_report_run *run = c->run;
    fputs("<header>\n<h1>", f);
    H(f, vs_rep_s(run->tool, "virtiosim"));
    fputs(" conformance report</h1>\n<table>", f);
    const char *rows[][2] = {
        {"tool", run->tool_version}, {"back-end", run->backend},
        {"back-end version", run->backend_version}, {"suite", run->suite},
        {"started", run->started},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        if (!rows[i][1])
            continue;
        fprintf(f, "<tr><td class=\"k\">%s</td><td>", rows[i][0]);
        if (i == 0) {
            H(f, vs_rep_s(run->tool, "virtiosim"));
            fputc(' ', f);
        }
        H(f, rows[i][1]);
        fputs("</td></tr>", f);
    }
    fputs("</table>\n<div class=\"badges\">", f);
    fprintf(f, "<span class=\"badge\" style=\"background:#dfe6f3\">%zu scenarios</span>",
            run->n_scenarios);
    for (unsigned v = 0; v < VS_SCN_VERDICT_COUNT; v++)
        if (c->scn_count[v])
            fprintf(f, "<span class=\"badge v-%s\">%zu %s</span>",
                    vs_scn_verdict_name((enum vs_scn_verdict)v), c->scn_count[v],
                    vs_scn_verdict_name((enum vs_scn_verdict)v));
    if (c->scn_xfail)
        fprintf(f, "<span class=\"badge v-xfail\">%zu expected fail</span>", c->scn_xfail);
    if (c->scn_xpass)
        fprintf(f, "<span class=\"badge v-xpass\">%zu unexpected pass</span>", c->scn_xpass);
    fputs("</div>\n<div class=\"badges\">", f);
    size_t total = 0;
    for (unsigned v = 0; v < VS_VERDICT_COUNT; v++)
        total += c->stmt_count[v];
    fprintf(f, "<span class=\"badge\" style=\"background:#dfe6f3\">%zu statements</span>",
            total);
    static const enum vs_verdict order[] = {
        VS_VERDICT_PASS, VS_VERDICT_FAIL, VS_VERDICT_NOT_EXERCISED,
        VS_VERDICT_NOT_APPLICABLE, VS_VERDICT_UNTESTABLE, VS_VERDICT_NO_CHECK};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
        fprintf(f, "<span class=\"badge v-%s\">%zu %s</span>", vs_verdict_name(order[i]),
                c->stmt_count[order[i]], vs_verdict_name(order[i]));
    if (c->stmt_xfail)
        fprintf(f, "<span class=\"badge v-xfail\">%zu expected fail</span>", c->stmt_xfail);
    fputs("</div>\n<nav><a href=\"#scenarios\">Scenarios</a><a href=\"#failures\">Failures</a>"
          "<a href=\"#timelines\">Timelines</a><a href=\"#matrix\">Statement matrix</a></nav>\n"
          "</header>\n", f);
}

static void scenarios_table(FILE *f, const vs_report_run *run)
{
    char fn[1024], b1[32];
    fputs("<h2 id=\"scenarios\">Scenarios</h2>\n", f);
    if (!run->n_scenarios) {
        fputs("<p class=\"muted\">No scenario finished.</p>\n", f);
        return;
    }
    fputs("<table class=\"grid\"><thead><tr><th>#</th><th>scenario</th><th>verdict</th>"
          "<th>seed</th><th>steps</th><th>virtual time</th><th>features</th>"
          "<th>trace digest</th><th>message</th></tr></thead><tbody>\n", f);
    for (size_t i = 0; i < run->n_scenarios; i++) {
        const vs_report_scenario *s = &run->scenarios[i];
        fprintf(f, "<tr><td>%zu</td><td><a href=\"#tl-%zu\">", i + 1, i);
        H(f, vs_rep_s(s->name, "(unnamed)"));
        fputs("</a>", f);
        if (s->path) {
            fputs("<br/><span class=\"muted mono\">", f);
            H(f, s->path);
            fputs("</span>", f);
        }
        fputs("</td>", f);
        if (s->verdict == VS_SCN_FAIL && s->expect == VS_REPORT_EXPECT_FAIL)
            fputs("<td class=\"v v-xfail\">expected fail</td>", f);
        else if (s->expect == VS_REPORT_EXPECT_XPASS)
            fputs("<td class=\"v v-xpass\">unexpected pass</td>", f);
        else
            verdict_cell(f, vs_scn_verdict_name(s->verdict));
        fprintf(f, "<td class=\"mono\">%" PRIu64 "</td><td>%" PRIu64 "</td><td class=\"nw\">"
                "%s</td>", s->seed, s->steps_run, fmt_ns(s->virtual_ns, b1, sizeof b1));
        fprintf(f, "<td class=\"mono feat\">0x%" PRIx64 "<br/>", s->features);
        H(f, vs_rep_feature_names(s, fn, sizeof fn));
        fputs("</td><td class=\"mono\">", f);
        if (s->trace_digest) {
            char d[17];
            snprintf(d, sizeof d, "%s", s->trace_digest);
            fputs("<span", f);
            A(f, "title", s->trace_digest);
            fputs(">", f);
            H(f, d);
            fputs("\xe2\x80\xa6</span>", f);
        }
        fputs("</td><td>", f);
        if (s->fail_step >= 0) {
            fprintf(f, "step %ld", s->fail_step);
            if (s->fail_step_desc) {
                fputs(" (", f);
                H(f, s->fail_step_desc);
                fputs(")", f);
            }
            fputs(": ", f);
        }
        H(f, s->message);
        fputs("</td></tr>\n", f);
    }
    fputs("</tbody></table>\n", f);
}

/* Failures the expected-results file explains: shown with their reason and evidence,
 * apart from the failures that count. */
static void known(FILE *f, const vs_rep_ctx *c)
{
    const vs_report_run *run = c->run;
    if (!c->scn_xfail && !c->stmt_xfail && !c->scn_xpass)
        return;
    fputs("<h2 id=\"known\">Known non-conformances</h2>\n<p class=\"muted\">From ", f);
    H(f, vs_rep_s(run->expected_file, "the expected-results file"));
    fputs(": the checks are as strict as ever; these failures are recorded, not counted."
          "</p>\n", f);
    for (size_t i = 0; i < run->n_scenarios; i++) {
        const vs_report_scenario *s = &run->scenarios[i];
        if (s->expect == VS_REPORT_EXPECT_NONE)
            continue;
        bool x = s->verdict == VS_SCN_FAIL && s->expect == VS_REPORT_EXPECT_FAIL;
        fputs("<div class=\"known-box\"><b>scenario ", f);
        H(f, vs_rep_s(s->name, "(unnamed)"));
        fputs(x ? "</b>: expected failure. <i>Why:</i> " : "</b>: listed as an expected "
                  "failure but passed: update the file. <i>Listed because:</i> ", f);
        H(f, s->expect_reason);
        if (x && s->message) {
            fputs("<br/><i>Seen:</i> ", f);
            H(f, s->message);
        }
        fputs("</div>\n", f);
    }
    for (size_t i = 0; c->agg && i < c->agg->n_stmt; i++) {
        const char *why = vs_rep_stmt_expected(c, i);
        if (!why)
            continue;
        const vs_stmt_result *r = &c->agg->stmt[i];
        fputs("<div class=\"known-box\"", f);
        A(f, "id", r->st->id);
        fputs("><b class=\"mono\">", f);
        H(f, r->st->id);
        fputs("</b>: expected failure. <i>Why:</i> ", f);
        H(f, why);
        evidence_list(f, r);
        fputs("</div>\n", f);
    }
}

static void failures(FILE *f, const vs_rep_ctx *c)
{
    const vs_report_run *run = c->run;
    fputs("<h2 id=\"failures\">Failures</h2>\n", f);
    bool any = false;
    for (size_t i = 0; i < run->n_scenarios; i++) {
        const vs_report_scenario *s = &run->scenarios[i];
        if ((s->verdict != VS_SCN_FAIL && s->verdict != VS_SCN_ERROR) ||
            (s->verdict == VS_SCN_FAIL && s->expect == VS_REPORT_EXPECT_FAIL))
            continue;
        any = true;
        fputs("<div class=\"fail-box\"><b>scenario ", f);
        H(f, vs_rep_s(s->name, "(unnamed)"));
        fprintf(f, "</b>: %s", vs_scn_verdict_name(s->verdict));
        if (s->fail_step >= 0) {
            fprintf(f, " at step %ld", s->fail_step);
            if (s->fail_step_desc) {
                fputs(" (", f);
                H(f, s->fail_step_desc);
                fputs(")", f);
            }
        }
        if (s->message) {
            fputs(": ", f);
            H(f, s->message);
        }
        fputs("</div>\n", f);
    }
    for (size_t k = 0; k < c->n_clauses; k++) {
        const vs_rep_clause *cl = &c->clauses[k];
        if (!cl->count[VS_VERDICT_FAIL])
            continue;
        any = true;
        fputs("<h3>", f);
        H(f, cl->name);
        fprintf(f, " \xe2\x80\x94 %zu failed</h3>\n", cl->count[VS_VERDICT_FAIL]);
        for (size_t j = 0; j < cl->n; j++) {
            const vs_stmt_result *r = &c->agg->stmt[cl->idx[j]];
            if (r->verdict != VS_VERDICT_FAIL || vs_rep_stmt_expected(c, cl->idx[j]))
                continue;
            fputs("<div class=\"fail-box\"", f);
            A(f, "id", r->st->id);
            fputs("><b class=\"mono\">", f);
            H(f, r->st->id);
            fprintf(f, "</b> (%s %s, ", vs_role_name(r->st->role), vs_level_name(r->st->level));
            H(f, r->st->label);
            fputs("): ", f);
            H(f, r->st->paraphrase);
            evidence_list(f, r);
            fputs("</div>\n", f);
        }
    }
    if (!any)
        fputs("<p>None.</p>\n", f);
    known(f, c);
}

static void matrix(FILE *f, const vs_rep_ctx *c)
{
    fputs("<h2 id=\"matrix\">Statement matrix</h2>\n", f);
    if (!c->agg || !c->n_clauses) {
        fputs("<p class=\"muted\">No statement results.</p>\n", f);
        return;
    }
    /* filter options: areas in catalogue order */
    fputs("<div class=\"filters\"><label>area <select id=\"f-area\"><option value=\"\">all"
          "</option>", f);
    const char *areas[64];
    size_t na = 0;
    for (size_t i = 0; i < c->agg->n_stmt; i++) {
        const vs_statement *st = c->agg->stmt[i].st;
        if (!st || !st->area)
            continue;
        size_t k;
        for (k = 0; k < na; k++)
            if (strcmp(areas[k], st->area) == 0)
                break;
        if (k == na && na < sizeof areas / sizeof areas[0]) {
            areas[na++] = st->area;
            fputs("<option", f);
            A(f, "value", st->area);
            fputs(">", f);
            H(f, st->area);
            fputs("</option>", f);
        }
    }
    fputs("</select></label><label>role <select id=\"f-role\"><option value=\"\">all</option>"
          "<option value=\"device\">device</option><option value=\"driver\">driver</option>"
          "</select></label><label>verdict <select id=\"f-verdict\"><option value=\"\">all"
          "</option>", f);
    for (unsigned v = 0; v < VS_VERDICT_COUNT; v++)
        fprintf(f, "<option value=\"%s\">%s (%zu)</option>", vs_verdict_name(v),
                vs_verdict_name(v), c->stmt_count[v]);
    fputs("</select></label><label>text <input id=\"f-text\" type=\"search\" "
          "placeholder=\"id, label, words\"/></label><span id=\"shown\" class=\"muted\"></span>"
          "</div>\n", f);
    fputs("<table class=\"grid\" id=\"matrix-table\"><colgroup><col style=\"width:15%\"/>"
          "<col style=\"width:9%\"/><col style=\"width:5%\"/><col style=\"width:6%\"/>"
          "<col style=\"width:13%\"/><col style=\"width:25%\"/><col style=\"width:11%\"/>"
          "<col style=\"width:16%\"/></colgroup>\n", f);
    fputs("<thead><tr><th>id</th><th>clause</th>"
          "<th>role</th><th>level</th><th>label</th><th>paraphrase</th><th>verdict</th>"
          "<th>reason / evidence</th></tr></thead>\n", f);
    for (size_t k = 0; k < c->n_clauses; k++) {
        const vs_rep_clause *cl = &c->clauses[k];
        fputs("<tbody><tr class=\"clause\"><th colspan=\"8\">", f);
        H(f, cl->name);
        fprintf(f, " \xe2\x80\x94 %zu statements: %zu pass, %zu fail, %zu not exercised",
                cl->n, cl->count[VS_VERDICT_PASS], cl->count[VS_VERDICT_FAIL],
                cl->count[VS_VERDICT_NOT_EXERCISED] + cl->count[VS_VERDICT_NO_CHECK]);
        fputs("</th></tr>\n", f);
        for (size_t j = 0; j < cl->n; j++) {
            const vs_stmt_result *r = &c->agg->stmt[cl->idx[j]];
            const vs_statement *st = r->st;
            const char *vn = vs_verdict_name(r->verdict);
            fputs("<tr class=\"st\"", f);
            A(f, "data-area", st->area);
            A(f, "data-role", vs_role_name(st->role));
            A(f, "data-verdict", vn);
            fputs("><td class=\"id\">", f);
            H(f, st->id);
            fputs("</td><td>", f);
            H(f, cl->name);
            fprintf(f, "</td><td>%s</td><td>%s</td><td class=\"mono\">", vs_role_name(st->role),
                    vs_level_name(st->level));
            H(f, st->label);
            fputs("</td><td>", f);
            H(f, st->paraphrase);
            fputs("</td>", f);
            verdict_cell(f, vn);
            fputs("<td>", f);
            if (r->verdict == VS_VERDICT_FAIL && vs_rep_stmt_expected(c, cl->idx[j])) {
                char href[128];
                snprintf(href, sizeof href, "#%s", st->id);
                fputs("expected (", f);
                fputs("<a", f);
                A(f, "href", href);
                fprintf(f, ">%" PRIu64 " violation%s</a>)", r->violations,
                        r->violations == 1 ? "" : "s");
            } else if (r->verdict == VS_VERDICT_FAIL) {
                char href[128];
                snprintf(href, sizeof href, "#%s", st->id);
                fputs("<a", f);
                A(f, "href", href);
                fputs(">", f);
                fprintf(f, "%" PRIu64 " violation%s</a>", r->violations,
                        r->violations == 1 ? "" : "s");
            } else if (r->verdict == VS_VERDICT_PASS) {
                fprintf(f, "exercised %" PRIu64 "\xc3\x97", r->exercised);
            } else {
                H(f, r->reason);
            }
            fputs("</td></tr>\n", f);
        }
        fputs("</tbody>\n", f);
    }
    fputs("</table>\n", f);
}

static void timelines(FILE *f, const vs_report_run *run)
{
    fputs("<h2 id=\"timelines\">Timelines</h2>\n", f);
    if (!run->n_scenarios)
        fputs("<p class=\"muted\">No scenario finished.</p>\n", f);
    for (size_t i = 0; i < run->n_scenarios; i++) {
        const vs_report_scenario *s = &run->scenarios[i];
        fprintf(f, "<h3 id=\"tl-%zu\">", i);
        H(f, vs_rep_s(s->name, "(unnamed)"));
        fprintf(f, " <span class=\"badge v-%s\">%s</span></h3>\n",
                vs_scn_verdict_name(s->verdict), vs_scn_verdict_name(s->verdict));
        if (s->timeline)
            timeline_svg(f, s->timeline, i);
        else
            fputs("<p class=\"muted\">No timeline recorded.</p>\n", f);
    }
}

int vs_report_html_fp(FILE *f, const vs_report_run *run, vs_err *e)
{
    if (!f)
        return vs_err_set(e, VS_EINVAL, "report.html: NULL stream");
    vs_rep_ctx c;
    int rc = vs_rep_ctx_init(&c, run, e);
    if (rc < 0)
        return rc;
    fputs("<!DOCTYPE html>\n<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n"
          "<head>\n<meta charset=\"utf-8\"/>\n<title>", f);
    H(f, vs_rep_s(run->tool, "virtiosim"));
    fputs(" report</title>\n<style>/*<![CDATA[*/\n", f);
    fputs(CSS, f);
    fputs("/*]]>*/</style>\n</head>\n<body>\n", f);
    header(f, &c);
    fputs("<main>\n", f);
    if (run->interrupted)
        fputs("<div class=\"banner\"><b>Interrupted run.</b> This report covers only the "
              "scenarios that finished before the run was stopped.</div>\n", f);
    scenarios_table(f, run);
    failures(f, &c);
    timelines(f, run);
    matrix(f, &c);
    fputs("</main>\n<script>//<![CDATA[\n", f);
    if (c.agg && c.n_clauses)
        fputs(JS, f);
    else
        fputs("document.title = 'virtiosim report: ok';\n", f);
    fputs("//]]></script>\n</body>\n</html>\n", f);
    vs_rep_ctx_fini(&c);
    return vs_rep_ferror(f, VS_REPORT_HTML, e);
}
