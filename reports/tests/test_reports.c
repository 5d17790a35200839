/* Reports: XML escaping, UTF-8 sanitizing, the four writers on a synthetic run (hostile
 * strings included), atomic writes, an interrupted run, the timeline sample, the content
 * digest and `report diff`.
 *
 * With VS_REPORT_OUT=DIR set, test_emit also writes the fixture's reports into DIR/full,
 * an interrupted run into DIR/interrupted and a changed run into DIR/changed, for
 * tests/test_reports_formats.py. */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "virtiosim/blk.h"
#include "virtiosim/report.h"
#include "virtiosim/virtio.h"

#define HOSTILE "evil <\"&'> \x01\x1b]]> #1"

/* ------------------------------------------------------------------ fixture */

typedef struct fixture {
    vs_results *r1, *r2, *agg;
    vs_timeline *tl1, *tl2;
    vs_report_scenario scn[3];
    vs_report_run run;
    long i_fail, i_pass, i_na;    /* catalogue indexes we set */
} fixture;

static vs_evidence mk_ev(const char *scenario, uint32_t step, const char *seen)
{
    vs_evidence ev = {0};
    snprintf(ev.check, sizeof ev.check, "used-len-bound");
    snprintf(ev.scenario, sizeof ev.scenario, "%s", scenario);
    ev.step = step;
    snprintf(ev.step_desc, sizeof ev.step_desc, "read <sector> & \"check\"");
    ev.t_ns = 123456;
    ev.queue = 0;
    ev.has_id = true;
    ev.id = 7;
    ev.has_idx = true;
    ev.idx = 3;
    snprintf(ev.expected, sizeof ev.expected, "len <= 512");
    snprintf(ev.seen, sizeof ev.seen, "%s", seen);
    return ev;
}

/* First statement of `area` checked by observation/provocation, skipping `not`. */
static long pick(const vs_results *r, const char *area, long not1, long not2)
{
    for (size_t i = 0; i < r->n_stmt; i++) {
        const vs_statement *st = r->stmt[i].st;
        if ((long)i == not1 || (long)i == not2 || strcmp(st->area, area) != 0)
            continue;
        if (st->method != VS_METHOD_UNTESTABLE)
            return (long)i;
    }
    return -1;
}

static void feed(vs_timeline *tl, unsigned n, int queues)
{
    for (unsigned i = 0; i < n; i++) {
        vs_event ev = {0};
        ev.t_ns = (uint64_t)i * 1000;
        ev.queue = (int32_t)(i % (unsigned)queues);
        static const enum vs_event_kind k[] = {VS_EV_KICK, VS_EV_DOORBELL, VS_EV_FETCH,
                                               VS_EV_USED, VS_EV_IRQ, VS_EV_AVAIL};
        ev.kind = k[i % 6];
        vs_timeline_on_event(tl, &ev);
    }
    vs_event ev = {.kind = VS_EV_DEVICE_ERROR, .t_ns = (uint64_t)n * 500, .queue = 0};
    vs_timeline_on_event(tl, &ev);
    ev = (vs_event){.kind = VS_EV_CONFIG_CHANGE, .t_ns = (uint64_t)n * 700, .queue = -1};
    vs_timeline_on_event(tl, &ev);
    ev = (vs_event){.kind = VS_EV_IRQ, .t_ns = (uint64_t)n * 700 + 10, .queue = -1};
    vs_timeline_on_event(tl, &ev);
}

static void fixture_init(fixture *fx)
{
    memset(fx, 0, sizeof *fx);
    vs_err e = {0};
    ck_assert_msg(vs_results_create(&fx->r1, &e) == 0, "%s", e.msg);
    ck_assert_msg(vs_results_create(&fx->r2, &e) == 0, "%s", e.msg);
    ck_assert_msg(vs_results_create(&fx->agg, &e) == 0, "%s", e.msg);
    ck_assert_uint_eq(fx->r1->n_stmt, vs_catalogue_count());

    fx->i_fail = pick(fx->r1, "blk", -1, -1);
    fx->i_pass = pick(fx->r1, "blk", fx->i_fail, -1);
    fx->i_na = pick(fx->r1, "packed", -1, -1);
    ck_assert(fx->i_fail >= 0 && fx->i_pass >= 0 && fx->i_na >= 0);

    snprintf(fx->r1->scenario, sizeof fx->r1->scenario, "blk/read-basic");
    fx->r1->n_scenarios = 1;
    fx->r1->stmt[fx->i_pass].verdict = VS_VERDICT_PASS;
    fx->r1->stmt[fx->i_pass].exercised = 12;
    fx->r1->stmt[fx->i_fail].verdict = VS_VERDICT_PASS;
    fx->r1->stmt[fx->i_fail].exercised = 3;
    fx->r1->stmt[fx->i_na].verdict = VS_VERDICT_NOT_APPLICABLE;
    snprintf(fx->r1->stmt[fx->i_na].reason, sizeof fx->r1->stmt[0].reason,
             "feature expression false: VIRTIO_F_RING_PACKED");
    vs_results_recount(fx->r1);

    snprintf(fx->r2->scenario, sizeof fx->r2->scenario, "%s", HOSTILE);
    fx->r2->n_scenarios = 1;
    vs_stmt_result *f = &fx->r2->stmt[fx->i_fail];
    f->verdict = VS_VERDICT_FAIL;
    f->exercised = 5;
    f->violations = 6;
    f->n_evidence = 2;
    f->evidence[0] = mk_ev(HOSTILE, 4, "len 4096 <\"&'> \x02 \xff\xfe bad utf8");
    f->evidence[1] = mk_ev(HOSTILE, 5, "len 8192\nsecond line\r\n");
    fx->r2->stmt[fx->i_pass].verdict = VS_VERDICT_PASS;
    fx->r2->stmt[fx->i_pass].exercised = 2;
    vs_results_recount(fx->r2);

    ck_assert(vs_results_merge(fx->agg, fx->r1, &e) == 0);
    ck_assert(vs_results_merge(fx->agg, fx->r2, &e) == 0);
    ck_assert_int_eq(fx->agg->stmt[fx->i_fail].verdict, VS_VERDICT_FAIL);
    fx->agg->stmt[fx->i_na] = fx->r1->stmt[fx->i_na];   /* not_applicable */
    vs_results_recount(fx->agg);

    ck_assert(vs_timeline_create(&fx->tl1, 0, &e) == 0);
    ck_assert(vs_timeline_create(&fx->tl2, 0, &e) == 0);
    feed(fx->tl1, 600, 2);
    feed(fx->tl2, 50000, 3);   /* beyond the cap */

    fx->scn[0] = (vs_report_scenario){
        .name = "blk/read-basic", .path = "scenarios/blk/read-basic.yaml", .seed = 1,
        .trace_digest = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        .verdict = VS_SCN_PASS, .fail_step = -1, .steps_run = 9, .virtual_ns = 600000,
        .wall_ns = 1500000, .device_id = VS_DEV_BLK,
        .features = VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_F_EVENT_IDX) | VS_BIT(VS_BLK_F_FLUSH),
        .results = fx->r1, .timeline = fx->tl1};
    fx->scn[1] = (vs_report_scenario){
        .name = HOSTILE, .path = "scenarios/blk/evil.yaml", .seed = UINT64_MAX,
        .trace_digest = "00ff", .verdict = VS_SCN_FAIL,
        .message = "used len too big: <\"&'>\nline two \x7f \xc0\xaf overlong",
        .fail_step = 4, .fail_step_desc = "wait used <q0>", .steps_run = 5,
        .virtual_ns = 50000000, .wall_ns = 2000000, .device_id = VS_DEV_BLK,
        .features = VS_BIT(VS_F_VERSION_1), .feature_names = "VERSION_1",
        .results = fx->r2, .timeline = fx->tl2};
    fx->scn[2] = (vs_report_scenario){
        .name = "blk/needs-qemu", .seed = 3, .verdict = VS_SCN_SKIPPED,
        .message = "back-end ref cannot run this", .fail_step = -1};
    fx->run = (vs_report_run){
        .tool = "virtiosim", .tool_version = "0.1.0", .backend = "ref",
        .backend_version = "ref 0.1.0 <]]>&", .started = "2024-05-01T12:00:00Z",
        .suite = "blk-smoke", .n_scenarios = 3, .scenarios = fx->scn,
        .aggregate = fx->agg};
}

static void fixture_fini(fixture *fx)
{
    vs_results_destroy(fx->r1);
    vs_results_destroy(fx->r2);
    vs_results_destroy(fx->agg);
    vs_timeline_destroy(fx->tl1);
    vs_timeline_destroy(fx->tl2);
}

/* --------------------------------------------------------------- utilities */

static char *tmpdir(void)
{
    char tmpl[] = "/tmp/vs-report-XXXXXX";
    char *d = mkdtemp(tmpl);
    ck_assert_ptr_nonnull(d);
    return strdup(d);
}

static char *slurp(const char *dir, const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

/* Number of dot files (left-over temporaries) in dir. */
static int dotfiles(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] == '.' && strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static void rm_rf(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static char *escaped(const char *s, bool attr)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    vs_xml_escape(f, s, attr);
    fclose(f);
    return buf;
}

/* No byte that XML 1.0 forbids and no invalid UTF-8 anywhere in buf. */
static void assert_clean_text(const char *buf, size_t len, const char *what)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        ck_assert_msg(c >= 0x20 || c == '\n' || c == '\t', "%s: control byte 0x%02x at %zu",
                      what, c, i);
    }
    char *u = vs_utf8_sanitize(buf);
    ck_assert_str_eq(u, buf);
    free(u);
}

/* ------------------------------------------------------------------- tests */

START_TEST(test_xml_escape)
{
    char *s = escaped("<\"&'>", false);
    ck_assert_str_eq(s, "&lt;&quot;&amp;&#39;&gt;");
    free(s);
    s = escaped("a\tb\nc\rd\x01" "e\x1b" "f", false);
    ck_assert_str_eq(s, "a\tb\nc&#13;d\\x01e\\x1bf");
    free(s);
    s = escaped("a\tb\nc", true);
    ck_assert_str_eq(s, "a&#9;b&#10;c");
    free(s);
    /* invalid UTF-8: lone continuation, overlong '/', surrogate, truncated sequence */
    s = escaped("x\x80y\xc0\xafz\xed\xa0\x80w\xe2\x82", false);
    ck_assert_str_eq(s, "x\xef\xbf\xbdy\xef\xbf\xbd\xef\xbf\xbdz\xef\xbf\xbd\xef\xbf\xbd"
                        "\xef\xbf\xbdw\xef\xbf\xbd\xef\xbf\xbd");
    free(s);
    /* valid multi-byte passes through; U+FFFE is not an XML character */
    s = escaped("\xc2\xb5s \xe2\x80\x94 \xf0\x9f\x98\x80 \xef\xbf\xbe", false);
    ck_assert_str_eq(s, "\xc2\xb5s \xe2\x80\x94 \xf0\x9f\x98\x80 \\u{FFFE}");
    free(s);
    s = escaped("]]>", false);
    ck_assert_str_eq(s, "]]&gt;");
    free(s);
    s = escaped(NULL, false);
    ck_assert_str_eq(s, "");
    free(s);
}
END_TEST

START_TEST(test_utf8_sanitize)
{
    ck_assert_ptr_null(vs_utf8_sanitize(NULL));
    char *s = vs_utf8_sanitize("ok \xc3\xa9");
    ck_assert_str_eq(s, "ok \xc3\xa9");
    free(s);
    s = vs_utf8_sanitize("\xff\xf8\x88\x80\x80\x80");
    ck_assert_str_eq(s, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                        "\xef\xbf\xbd");
    free(s);
    s = vs_utf8_sanitize("\xf4\x90\x80\x80");   /* > U+10FFFF */
    ck_assert_str_eq(s, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    free(s);
}
END_TEST

START_TEST(test_write_all)
{
    fixture fx;
    fixture_init(&fx);
    char *dir = tmpdir();
    char sub[512];
    snprintf(sub, sizeof sub, "%s/a/b", dir);   /* created with parents */
    vs_err e = {0};
    ck_assert_msg(vs_report_write_all(sub, &fx.run, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(dotfiles(sub), 0);
    const char *names[] = {VS_REPORT_JSON, VS_REPORT_JUNIT, VS_REPORT_KTAP, VS_REPORT_HTML};
    for (size_t i = 0; i < 4; i++) {
        size_t len;
        char *b = slurp(sub, names[i], &len);
        ck_assert_uint_gt(len, 200);
        assert_clean_text(b, len, names[i]);
        free(b);
    }
    size_t len;
    char *junit = slurp(sub, VS_REPORT_JUNIT, &len);
    ck_assert_ptr_nonnull(strstr(junit, "evil &lt;&quot;&amp;&#39;&gt; \\x01\\x1b]]&gt; #1"));
    ck_assert_ptr_nonnull(strstr(junit, "<testsuite name=\"scenarios\" tests=\"3\" "
                                        "failures=\"1\" errors=\"0\" skipped=\"1\""));
    ck_assert_ptr_nonnull(strstr(junit, "<testsuite name=\"Block Device Conformance\""));
    ck_assert_ptr_nonnull(strstr(junit, "<skipped message=\"back-end ref cannot run this\"/>"));
    ck_assert_ptr_null(strstr(junit, "]]>"));
    free(junit);
    char *html = slurp(sub, VS_REPORT_HTML, &len);
    ck_assert_ptr_nonnull(strstr(html, "document.title = 'virtiosim report: ok'"));
    ck_assert_ptr_nonnull(strstr(html, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
    ck_assert_ptr_nonnull(strstr(html, "ref 0.1.0 &lt;]]&gt;&amp;"));
    /* no network asset: the only URLs are the XHTML and SVG namespaces */
    for (const char *p = strstr(html, "://"); p; p = strstr(p + 3, "://"))
        ck_assert_msg(strncmp(p - 4, "http://www.w3.org/", 18) == 0, "URL at %.40s", p - 8);
    ck_assert_ptr_null(strstr(html, "<script src"));
    ck_assert_ptr_null(strstr(html, "<link"));
    free(html);
    rm_rf(dir);
    free(dir);
    fixture_fini(&fx);
}
END_TEST

START_TEST(test_json_content)
{
    fixture fx;
    fixture_init(&fx);
    char *dir = tmpdir();
    vs_err e = {0};
    ck_assert_msg(vs_report_write_json(dir, &fx.run, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(dotfiles(dir), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, VS_REPORT_JSON);
    json_error_t je;
    json_t *d = json_load_file(path, 0, &je);
    ck_assert_msg(d != NULL, "%s", je.text);
    ck_assert_str_eq(json_string_value(json_object_get(d, "schema")), VS_RESULTS_SCHEMA);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "backend"), "name")),
                     "ref");
    json_t *st = json_object_get(d, "statements");
    ck_assert_uint_eq(json_array_size(st), vs_catalogue_count());
    json_t *fail = json_array_get(st, (size_t)fx.i_fail);
    ck_assert_str_eq(json_string_value(json_object_get(fail, "verdict")), "fail");
    json_t *ev = json_object_get(fail, "evidence");
    ck_assert_uint_eq(json_array_size(ev), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(ev, 0), "t_ns")),
                     123456);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(ev, 0), "seen")),
                     "len 4096 <\"&'> \x02 \xef\xbf\xbd\xef\xbf\xbd bad utf8");
    json_t *scns = json_object_get(d, "scenarios");
    ck_assert_uint_eq(json_array_size(scns), 3);
    json_t *s1 = json_array_get(scns, 1);
    ck_assert_str_eq(json_string_value(json_object_get(s1, "seed")), "18446744073709551615");
    ck_assert_str_eq(json_string_value(json_object_get(s1, "verdict")), "fail");
    ck_assert_int_eq(json_integer_value(json_object_get(s1, "fail_step")), 4);
    /* per-scenario verdicts: only pass / fail */
    json_t *sv = json_object_get(s1, "statements");
    ck_assert_uint_eq(json_object_size(sv), 2);
    ck_assert_str_eq(json_string_value(json_object_get(sv, fx.agg->stmt[fx.i_fail].st->id)),
                     "fail");
    json_t *s0 = json_array_get(scns, 0);
    json_t *fnames = json_object_get(s0, "feature_names");
    ck_assert_uint_eq(json_array_size(fnames), 3);
    ck_assert(json_is_null(json_object_get(json_array_get(scns, 2), "results")) ||
              json_object_size(json_object_get(json_array_get(scns, 2), "statements")) == 0);
    json_t *sum = json_object_get(d, "summary");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(sum, "statements"),
                                                        "fail")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(sum, "scenarios"),
                                                        "skipped")), 1);
    size_t total = 0, i;
    json_t *cl;
    json_array_foreach(json_object_get(sum, "clauses"), i, cl)
        total += (size_t)json_integer_value(json_object_get(cl, "total"));
    ck_assert_uint_eq(total, vs_catalogue_count());

    /* the content digest ignores wall-clock fields, follows everything else */
    char d1[65], d2[65], d3[65];
    ck_assert(vs_report_content_digest(&fx.run, d1, &e) == 0);
    ck_assert_str_eq(json_string_value(json_object_get(d, "content_digest")), d1);
    fx.run.started = "1999-12-31T23:59:59Z";
    fx.scn[0].wall_ns = 42;
    ck_assert(vs_report_content_digest(&fx.run, d2, &e) == 0);
    ck_assert_str_eq(d1, d2);
    fx.scn[0].seed = 2;
    ck_assert(vs_report_content_digest(&fx.run, d3, &e) == 0);
    ck_assert_str_ne(d1, d3);
    json_decref(d);
    rm_rf(dir);
    free(dir);
    fixture_fini(&fx);
}
END_TEST

START_TEST(test_ktap_lines)
{
    fixture fx;
    fixture_init(&fx);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    vs_err e = {0};
    ck_assert(vs_report_ktap_fp(f, &fx.run, &e) == 0);
    fclose(f);
    ck_assert(strncmp(buf, "KTAP version 1\n", 15) == 0);
    /* every line is a version, plan, result or diagnostic line at 0 or 1 indent */
    int top_plan = -1, top_results = 0;
    char *save = NULL;
    for (char *l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *p = l;
        int lvl = 0;
        while (p[0] == ' ' && p[1] == ' ') {
            p += 2;
            lvl++;
        }
        ck_assert_int_le(lvl, 1);
        if (strncmp(p, "# ", 2) == 0 || strcmp(p, "KTAP version 1") == 0)
            continue;
        int n;
        if (sscanf(p, "1..%d", &n) == 1) {
            if (lvl == 0)
                top_plan = n;
            continue;
        }
        ck_assert_msg(strncmp(p, "ok ", 3) == 0 || strncmp(p, "not ok ", 7) == 0, "line: %s",
                      l);
        if (lvl == 0)
            top_results++;
        /* a description never contains '#' except as the directive separator */
        char *h = strchr(p, '#');
        if (h)
            ck_assert_msg(h[-1] == ' ' && h[1] == ' ' &&
                          (strncmp(h + 2, "SKIP", 4) == 0 || strncmp(h + 2, "ERROR", 5) == 0),
                          "line: %s", l);
    }
    ck_assert_int_gt(top_plan, 2);
    ck_assert_int_eq(top_plan, top_results);
    free(buf);
    fixture_fini(&fx);
}
END_TEST

START_TEST(test_interrupted)
{
    /* What a runner has after SIGINT: one scenario half-described, no aggregate. */
    vs_report_scenario s = {.verdict = VS_SCN_ERROR, .fail_step = -1,
                            .message = "interrupted (SIGINT)"};
    vs_report_run run = {.interrupted = true, .n_scenarios = 1, .scenarios = &s};
    char *dir = tmpdir();
    vs_err e = {0};
    ck_assert_msg(vs_report_write_all(dir, &run, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(dotfiles(dir), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, VS_REPORT_JSON);
    json_t *d = json_load_file(path, 0, NULL);
    ck_assert_ptr_nonnull(d);
    ck_assert(json_is_true(json_object_get(d, "interrupted")));
    ck_assert_uint_eq(json_array_size(json_object_get(d, "statements")), vs_catalogue_count());
    json_decref(d);
    /* and nothing at all */
    vs_report_run empty = {.interrupted = true};
    ck_assert_msg(vs_report_write_all(dir, &empty, &e) == 0, "%s", e.msg);
    size_t len;
    char *k = slurp(dir, VS_REPORT_KTAP, &len);
    ck_assert_ptr_nonnull(strstr(k, "ok 1 scenarios # SKIP no scenario finished"));
    free(k);
    rm_rf(dir);
    free(dir);
}
END_TEST

START_TEST(test_atomic_failure)
{
    fixture fx;
    fixture_init(&fx);
    char *dir = tmpdir();
    vs_err e = {0};
    ck_assert(vs_report_write_json(dir, &fx.run, &e) == 0);
    size_t len0;
    char *before = slurp(dir, VS_REPORT_JSON, &len0);
    /* a writer failing half-way (bad input) leaves the old file and no temporary */
    vs_report_run bad = {.n_scenarios = 2, .scenarios = NULL};
    ck_assert_int_eq(vs_report_write_json(dir, &bad, &e), -VS_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "no array"));
    ck_assert_int_eq(dotfiles(dir), 0);
    size_t len1;
    char *after = slurp(dir, VS_REPORT_JSON, &len1);
    ck_assert_uint_eq(len0, len1);
    ck_assert(memcmp(before, after, len0) == 0);
    free(before);
    free(after);
    /* a directory that is a file */
    char file[512];
    snprintf(file, sizeof file, "%s/%s", dir, VS_REPORT_JSON);
    ck_assert_int_eq(vs_report_write_all(file, &fx.run, &e), -VS_EIO);
    ck_assert_int_eq(vs_report_write_html(NULL, &fx.run, &e), -VS_EINVAL);
    ck_assert_int_eq(vs_report_json_fp(NULL, &fx.run, &e), -VS_EINVAL);
    ck_assert_int_eq(vs_report_ktap_fp(stdout, NULL, &e), -VS_EINVAL);
    rm_rf(dir);
    free(dir);
    fixture_fini(&fx);
}
END_TEST

/* A report is written into a file without a name, and temporaries of writers that died
 * (SIGKILL, or a second ^C between link and rename) go at the next write; those of live
 * writers stay. */
START_TEST(test_atomic_leaves_no_names)
{
    fixture fx;
    fixture_init(&fx);
    char *dir = tmpdir();
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0)
        _exit(0);
    ck_assert_int_eq(waitpid(child, NULL, 0), child);
    char stale[600], live[600];
    snprintf(stale, sizeof stale, "%s/.%s.tmp.%ld", dir, VS_REPORT_JSON, (long)child);
    snprintf(live, sizeof live, "%s/.%s.tmp.%ld", dir, VS_REPORT_JSON, (long)getppid());
    FILE *f = fopen(stale, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_ptr_nonnull(f = fopen(live, "w"));
    fclose(f);
    vs_err e = {0};
    ck_assert_int_eq(vs_report_write_json(dir, &fx.run, &e), 0);
    ck_assert_int_ne(access(stale, F_OK), 0);
    ck_assert_int_eq(access(live, F_OK), 0);
    unlink(live);
    ck_assert_int_eq(dotfiles(dir), 0);
    struct stat st;
    char dst[600];
    snprintf(dst, sizeof dst, "%s/%s", dir, VS_REPORT_JSON);
    ck_assert_int_eq(stat(dst, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0644);
    rm_rf(dir);
    free(dir);
    fixture_fini(&fx);
}
END_TEST

START_TEST(test_timeline_sample)
{
    vs_timeline *tl;
    vs_err e = {0};
    ck_assert(vs_timeline_create(&tl, 64, &e) == 0);
    feed(tl, 10000, 4);
    /* 10000 events, 1 in 6 not recorded (AVAIL), + error + config change + config irq */
    uint64_t rec = 10000 - 10000 / 6 + 3;
    ck_assert_uint_eq(vs_timeline_offered(tl), rec);
    ck_assert_uint_eq(vs_timeline_offered_kind(tl, VS_EV_KICK), 1667);
    ck_assert_uint_eq(vs_timeline_offered_kind(tl, VS_EV_AVAIL), 0);
    ck_assert_uint_eq(vs_timeline_offered_kind(tl, VS_EV_DEVICE_ERROR), 1);
    size_t n = vs_timeline_count(tl);
    uint32_t stride = vs_timeline_stride(tl);
    ck_assert_uint_le(n, 64);
    ck_assert_uint_ge(n, 32);
    ck_assert_uint_ge(stride, 128);
    const vs_timeline_mark *m = vs_timeline_marks(tl);
    bool err = false, cfg = false;
    for (size_t i = 0; i < n; i++) {
        if (m[i].kind == VS_EV_DEVICE_ERROR)
            err = true;
        else if (m[i].kind == VS_EV_CONFIG_CHANGE)
            cfg = true;
        else
            ck_assert_uint_eq(m[i].ordinal % stride, 0);
        if (i)
            ck_assert_uint_gt(m[i].ordinal, m[i - 1].ordinal);
    }
    ck_assert(err && cfg);   /* rare kinds survive the sampling */
    ck_assert_int_eq(vs_timeline_max_queue(tl), 3);
    ck_assert_uint_eq(vs_timeline_t_max(tl), 9999ull * 1000);
    vs_timeline_destroy(tl);

    /* below the cap nothing is dropped */
    ck_assert(vs_timeline_create(&tl, 0, &e) == 0);
    feed(tl, 600, 2);
    ck_assert_uint_eq(vs_timeline_count(tl), vs_timeline_offered(tl));
    ck_assert_uint_eq(vs_timeline_stride(tl), 1);
    vs_timeline_destroy(tl);
    vs_timeline_on_event(NULL, NULL);   /* harmless */
    ck_assert_int_eq(vs_timeline_create(NULL, 0, &e), -VS_EINVAL);
}
END_TEST

static void write_json_to(const char *dir, const vs_report_run *run)
{
    vs_err e = {0};
    ck_assert_msg(vs_report_write_json(dir, run, &e) == 0, "%s", e.msg);
}

START_TEST(test_diff)
{
    fixture fx;
    fixture_init(&fx);
    char *dir = tmpdir();
    char a[512], b[512], pa[600], pb[600];
    snprintf(a, sizeof a, "%s/old", dir);
    snprintf(b, sizeof b, "%s/new", dir);
    snprintf(pa, sizeof pa, "%s/%s", a, VS_REPORT_JSON);
    snprintf(pb, sizeof pb, "%s/%s", b, VS_REPORT_JSON);
    write_json_to(a, &fx.run);
    /* new run: a passing statement fails, the first scenario fails, the third vanishes */
    fx.agg->stmt[fx.i_pass].verdict = VS_VERDICT_FAIL;
    fx.agg->stmt[fx.i_na].verdict = VS_VERDICT_PASS;
    fx.scn[0].verdict = VS_SCN_FAIL;
    fx.run.n_scenarios = 2;
    write_json_to(b, &fx.run);

    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    vs_report_diff_stats st;
    vs_err e = {0};
    int n = vs_report_diff_ex(pa, pb, f, &st, &e);
    fclose(f);
    ck_assert_msg(n == 4, "n=%d %s\n%s", n, e.msg, out);
    ck_assert_uint_eq(st.stmt_changes, 2);
    ck_assert_uint_eq(st.scn_changes, 2);   /* scn0 changed, scn2 absent */
    ck_assert_uint_eq(st.stmt_regressions, 1);
    ck_assert_uint_eq(st.scn_regressions, 1);
    char line[256];
    snprintf(line, sizeof line, "statement %s: pass -> fail\n", fx.agg->stmt[fx.i_pass].st->id);
    ck_assert_msg(strstr(out, line) != NULL, "%s", out);
    snprintf(line, sizeof line, "statement %s: not_applicable -> pass\n",
             fx.agg->stmt[fx.i_na].st->id);
    ck_assert_msg(strstr(out, line) != NULL, "%s", out);
    ck_assert_ptr_nonnull(strstr(out, "scenario blk/read-basic: pass -> fail\n"));
    ck_assert_ptr_nonnull(strstr(out, "scenario blk/needs-qemu: skipped -> absent\n"));
    free(out);

    ck_assert_int_eq(vs_report_diff(pa, pa, NULL, &e), 0);
    ck_assert_int_eq(vs_report_diff(pb, pa, NULL, &e), 4);

    /* not a results document, unreadable, malformed */
    char bogus[600];
    snprintf(bogus, sizeof bogus, "%s/bogus.json", dir);
    FILE *g = fopen(bogus, "w");
    fputs("{\"schema\": \"something-else/2\", \"statements\": []}", g);
    fclose(g);
    ck_assert_int_eq(vs_report_diff(pa, bogus, NULL, &e), -VS_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "not a virtiosim-results/1.1 document"));
    g = fopen(bogus, "w");
    fputs("{\"schema\": ", g);
    fclose(g);
    ck_assert_int_eq(vs_report_diff(bogus, pa, NULL, &e), -VS_EINVAL);
    ck_assert_int_eq(vs_report_diff("/nonexistent/x.json", pa, NULL, &e), -VS_EINVAL);
    ck_assert_int_eq(vs_report_diff(NULL, pa, NULL, &e), -VS_EINVAL);
    rm_rf(dir);
    free(dir);
    fixture_fini(&fx);
}
END_TEST

START_TEST(test_emit)
{
    const char *out = getenv("VS_REPORT_OUT");
    if (!out || !*out)
        return;
    fixture fx;
    fixture_init(&fx);
    char d[1024];
    vs_err e = {0};
    snprintf(d, sizeof d, "%s/full", out);
    ck_assert_msg(vs_report_write_all(d, &fx.run, &e) == 0, "%s", e.msg);
    vs_report_scenario s = {.name = "blk/half", .verdict = VS_SCN_ERROR, .fail_step = 2,
                            .message = "interrupted (SIGINT)", .results = fx.r1};
    vs_report_run run = {.tool = "virtiosim", .backend = "ref", .interrupted = true,
                         .n_scenarios = 1, .scenarios = &s};
    snprintf(d, sizeof d, "%s/interrupted", out);
    ck_assert_msg(vs_report_write_all(d, &run, &e) == 0, "%s", e.msg);
    vs_stmt_result *r = &fx.agg->stmt[fx.i_pass];
    r->verdict = VS_VERDICT_FAIL;
    r->violations = 1;
    r->n_evidence = 1;
    r->evidence[0] = mk_ev("blk/read-basic", 2, "len 600");
    vs_results_recount(fx.agg);
    snprintf(d, sizeof d, "%s/changed", out);
    ck_assert_msg(vs_report_write_all(d, &fx.run, &e) == 0, "%s", e.msg);
    FILE *f = fopen(strcat(d, "/expected-regression.txt"), "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "%s\n", fx.agg->stmt[fx.i_pass].st->id);
    fclose(f);
    fixture_fini(&fx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reports");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_xml_escape);
    tcase_add_test(tc, test_utf8_sanitize);
    tcase_add_test(tc, test_write_all);
    tcase_add_test(tc, test_json_content);
    tcase_add_test(tc, test_ktap_lines);
    tcase_add_test(tc, test_interrupted);
    tcase_add_test(tc, test_atomic_failure);
    tcase_add_test(tc, test_atomic_leaves_no_names);
    tcase_add_test(tc, test_timeline_sample);
    tcase_add_test(tc, test_diff);
    tcase_add_test(tc, test_emit);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
