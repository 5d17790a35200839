/* `report merge`: one run rebuilt from the results.json of several (the shards of a
 * --shard K/N run), then written with the same four writers as any run. Rebuilding from
 * JSON needs no extra state: every scenario row is in results.json, its statements'
 * pass/fail verdicts too, and the run's statements carry verdict, counters and evidence;
 * the aggregate is vs_results_merge of each input's statements (fail > pass >
 * not_exercised > not_applicable, counters summed), so it equals the unsharded one. */
#define _GNU_SOURCE
#include "report_int.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

typedef struct mrg {
    json_t **docs;
    const char *const *paths;
    size_t n_docs;
    bool sharded;                 /* every input a shard of one list: restore its order */
    unsigned shard_n;
    vs_report_scenario *scn;
    size_t n_scn;
    size_t *pos;                  /* each scenario's index in the unsharded list */
    size_t *doc_of;               /* the input each scenario comes from */
    vs_results **scn_res;         /* owned, per scenario */
    char **names;                 /* owned: joined feature names, per scenario */
    vs_results **doc_res;         /* owned, per input: its statements */
    vs_results *agg;
    vs_report_expected_stmt *xs;
    size_t n_xs;
    vs_report_device dev;         /* the identity of the input that saw it first */
    vs_report_cfg_value *cfg;     /* owned: dev.config */
} mrg;

static const char *jget_s(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static uint64_t jget_u(const json_t *o, const char *k)
{
    json_int_t v = json_integer_value(json_object_get(o, k));
    return v > 0 ? (uint64_t)v : 0;
}

static int load_doc(const char *path, json_t **out, vs_err *e)
{
    json_error_t je;
    json_t *d = json_load_file(path, 0, &je);
    if (!d)
        return vs_err_set(e, VS_EINVAL, "%s: %s", path, je.text);
    const char *schema = jget_s(d, "schema");
    if (!schema ||
        (strcmp(schema, VS_RESULTS_SCHEMA) != 0 && strcmp(schema, VS_RESULTS_SCHEMA_1_0) != 0) ||
        !json_is_array(json_object_get(d, "scenarios")) ||
        !json_is_array(json_object_get(d, "statements"))) {
        json_decref(d);
        return vs_err_set(e, VS_EINVAL, "%s: not a %s document", path, VS_RESULTS_SCHEMA);
    }
    *out = d;
    return 0;
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Inputs must describe parts of one run. */
static int check_agree(const mrg *m, vs_err *e)
{
    const json_t *d0 = m->docs[0];
    for (size_t i = 1; i < m->n_docs; i++) {
        const json_t *d = m->docs[i];
        static const char *const what[] = {"back-end", "suite", "expected-results file"};
        const char *a[3] = {jget_s(json_object_get(d0, "backend"), "name"), jget_s(d0, "suite"),
                            jget_s(d0, "expected_file")};
        const char *b[3] = {jget_s(json_object_get(d, "backend"), "name"), jget_s(d, "suite"),
                            jget_s(d, "expected_file")};
        for (int k = 0; k < 3; k++)
            if (!same_str(a[k], b[k]))
                return vs_err_set(e, VS_EINVAL, "%s: %s '%s' differs from %s's '%s'",
                                  m->paths[i], what[k], b[k] ? b[k] : "(none)", m->paths[0],
                                  a[k] ? a[k] : "(none)");
    }
    return 0;
}

/* Shards of one list: all present once, the same N and list, each of the right size. */
static int check_shards(mrg *m, vs_err *e)
{
    size_t with = 0;
    for (size_t i = 0; i < m->n_docs; i++)
        with += json_is_object(json_object_get(m->docs[i], "shard"));
    if (with == 0)
        return 0;
    if (with != m->n_docs)
        return vs_err_set(e, VS_EINVAL, "some inputs are shards (--shard K/N) and some are not");
    const json_t *s0 = json_object_get(m->docs[0], "shard");
    uint64_t n = jget_u(s0, "count"), total = jget_u(s0, "scenarios_total");
    bool *seen = calloc(n + 1, sizeof *seen);
    if (!seen)
        return vs_err_set(e, VS_ENOMEM, "report merge: out of memory");
    int rc = 0;
    for (size_t i = 0; i < m->n_docs && rc == 0; i++) {
        const json_t *s = json_object_get(m->docs[i], "shard");
        uint64_t k = jget_u(s, "index");
        size_t want = k >= 1 && k - 1 < total ? (size_t)((total - k) / n + 1) : 0;
        if (jget_u(s, "count") != n || jget_u(s, "scenarios_total") != total || k < 1 || k > n)
            rc = vs_err_set(e, VS_EINVAL, "%s: shard %" PRIu64 "/%" PRIu64 " of %" PRIu64
                            " scenarios is not part of %s's %" PRIu64 "-way split of %" PRIu64,
                            m->paths[i], k, jget_u(s, "count"), jget_u(s, "scenarios_total"),
                            m->paths[0], n, total);
        else if (seen[k])
            rc = vs_err_set(e, VS_EINVAL, "%s: shard %" PRIu64 "/%" PRIu64 " given twice",
                            m->paths[i], k, n);
        else if (json_array_size(json_object_get(m->docs[i], "scenarios")) != want)
            rc = vs_err_set(e, VS_EINVAL, "%s: shard %" PRIu64 "/%" PRIu64 " should list %zu "
                            "scenarios", m->paths[i], k, n, want);
        else
            seen[k] = true;
    }
    for (uint64_t k = 1; k <= n && rc == 0; k++)
        if (!seen[k])
            rc = vs_err_set(e, VS_EINVAL, "shard %" PRIu64 "/%" PRIu64 " is missing", k, n);
    free(seen);
    m->sharded = rc == 0;
    m->shard_n = (unsigned)n;
    return rc;
}

static void evidence_from(vs_evidence *ev, const json_t *o)
{
    memset(ev, 0, sizeof *ev);
    snprintf(ev->check, sizeof ev->check, "%s", vs_rep_s(jget_s(o, "check"), ""));
    snprintf(ev->scenario, sizeof ev->scenario, "%s", vs_rep_s(jget_s(o, "scenario"), ""));
    ev->step = (uint32_t)jget_u(o, "step");
    snprintf(ev->step_desc, sizeof ev->step_desc, "%s", vs_rep_s(jget_s(o, "step_desc"), ""));
    ev->t_ns = jget_u(o, "t_ns");
    const json_t *q = json_object_get(o, "queue"), *id = json_object_get(o, "id"),
                 *idx = json_object_get(o, "idx");
    ev->queue = json_is_integer(q) ? (int32_t)json_integer_value(q) : -1;
    ev->has_id = json_is_integer(id);
    ev->id = (uint32_t)json_integer_value(id);
    ev->has_idx = json_is_integer(idx);
    ev->idx = (uint32_t)json_integer_value(idx);
    snprintf(ev->expected, sizeof ev->expected, "%s", vs_rep_s(jget_s(o, "expected"), ""));
    snprintf(ev->seen, sizeof ev->seen, "%s", vs_rep_s(jget_s(o, "seen"), ""));
}

static int verdict_of(const char *s)
{
    for (int v = 0; s && v < VS_VERDICT_COUNT; v++)
        if (strcmp(s, vs_verdict_name((enum vs_verdict)v)) == 0)
            return v;
    return -1;
}

/* An input's statements[] as a vs_results. */
static int doc_results(const char *path, const json_t *doc, vs_results **out, vs_err *e)
{
    int rc = vs_results_create(out, e);
    if (rc < 0)
        return rc;
    vs_results *r = *out;
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(doc, "statements"), i, o) {
        const char *id = jget_s(o, "id");
        long k = id ? vs_catalogue_index(id) : -1;
        int v = verdict_of(jget_s(o, "verdict"));
        if (k < 0 || (size_t)k >= r->n_stmt || v < 0)
            return vs_err_set(e, VS_EINVAL, "%s: statement %s (%s) is not in this catalogue",
                              path, id ? id : "?", vs_rep_s(jget_s(o, "verdict"), "?"));
        vs_stmt_result *s = &r->stmt[k];
        s->verdict = (enum vs_verdict)v;
        snprintf(s->reason, sizeof s->reason, "%s", vs_rep_s(jget_s(o, "reason"), ""));
        s->checks[0] = '\0';
        size_t c;
        json_t *ck;
        json_array_foreach(json_object_get(o, "checks"), c, ck) {
            size_t used = strlen(s->checks);
            snprintf(s->checks + used, sizeof s->checks - used, "%s%s", c ? "," : "",
                     vs_rep_s(json_string_value(ck), ""));
        }
        s->exercised = jget_u(o, "exercised");
        s->violations = jget_u(o, "violations");
        s->n_evidence = 0;
        size_t j;
        json_t *ev;
        json_array_foreach(json_object_get(o, "evidence"), j, ev)
            if (s->n_evidence < VS_EVIDENCE_MAX)
                evidence_from(&s->evidence[s->n_evidence++], ev);
    }
    vs_results_recount(r);
    return 0;
}

static size_t scn_pos(const mrg *m, const char *name)
{
    for (size_t i = 0; i < m->n_scn; i++)
        if (m->scn[i].name && strcmp(m->scn[i].name, name) == 0)
            return m->pos[i];
    return SIZE_MAX;
}

typedef struct ev_ref {
    size_t pos, doc, j;
    const vs_evidence *ev;
} ev_ref;

static int cmp_ev(const void *a, const void *b)
{
    const ev_ref *x = a, *y = b;
    if (x->pos != y->pos)
        return x->pos < y->pos ? -1 : 1;
    if (x->doc != y->doc)
        return x->doc < y->doc ? -1 : 1;
    return x->j < y->j ? -1 : x->j > y->j;
}

/* The run's aggregate: verdicts and counters by vs_results_merge. */
static int build_aggregate(mrg *m, vs_err *e)
{
    int rc = vs_results_create(&m->agg, e);
    for (size_t d = 0; d < m->n_docs && rc == 0; d++) {
        rc = doc_results(m->paths[d], m->docs[d], &m->doc_res[d], e);
        if (rc == 0)
            rc = vs_results_merge(m->agg, m->doc_res[d], e);
    }
    return rc;
}

static bool same_finding(const vs_evidence *a, const vs_evidence *b)
{
    return !strcmp(a->check, b->check) && !strcmp(a->expected, b->expected) &&
           !strcmp(a->seen, b->seen);
}

/* What vs_results_merge could not know: which scenario came first. The evidence kept is
 * the first VS_EVIDENCE_MAX in the unsharded order, and a pass / fail verdict's reason is
 * the first scenario's with that verdict, as a single run keeps them. */
static int order_aggregate(mrg *m, vs_err *e)
{
    ev_ref *refs = calloc(m->n_docs * VS_EVIDENCE_MAX + 1, sizeof *refs);
    if (!refs)
        return vs_err_set(e, VS_ENOMEM, "report merge: out of memory");
    for (size_t i = 0; i < m->agg->n_stmt; i++) {
        size_t n = 0;
        for (size_t d = 0; d < m->n_docs; d++)
            for (size_t j = 0; j < m->doc_res[d]->stmt[i].n_evidence; j++) {
                const vs_evidence *ev = &m->doc_res[d]->stmt[i].evidence[j];
                refs[n++] = (ev_ref){scn_pos(m, ev->scenario), d, j, ev};
            }
        qsort(refs, n, sizeof *refs, cmp_ev);
        vs_stmt_result *s = &m->agg->stmt[i];
        s->n_evidence = 0;
        for (size_t k = 0; k < n && s->n_evidence < VS_EVIDENCE_MAX; k++) {
            bool dup = false; /* a device finding each shard saw is one finding */
            for (unsigned j = 0; s->device_level && j < s->n_evidence && !dup; j++)
                dup = same_finding(&s->evidence[j], refs[k].ev);
            if (!dup)
                s->evidence[s->n_evidence++] = *refs[k].ev;
        }
        for (size_t p = 0; p < m->n_scn; p++) {
            const vs_results *r = m->scn_res[p];
            if ((s->verdict == VS_VERDICT_PASS || s->verdict == VS_VERDICT_FAIL) && r &&
                r->stmt[i].verdict == s->verdict) {
                memcpy(s->reason, m->doc_res[m->doc_of[p]]->stmt[i].reason, sizeof s->reason);
                break;
            }
        }
    }
    free(refs);
    return 0;
}

/* A scenario's own statements: pass/fail from its row, the evidence its run's statements
 * name it in, and its violation total (results.json keeps the total, not each count). */
static int scenario_results(mrg *m, size_t d, const json_t *o, vs_results **out, vs_err *e)
{
    int rc = vs_results_create(out, e);
    if (rc < 0)
        return rc;
    vs_results *r = *out;
    const char *name = jget_s(o, "name");
    const char *id;
    json_t *v;
    vs_stmt_result *first_fail = NULL;
    uint64_t counted = 0;
    json_object_foreach(json_object_get(o, "statements"), id, v) {
        long k = vs_catalogue_index(id);
        int verdict = verdict_of(json_string_value(v));
        if (k < 0 || (size_t)k >= r->n_stmt || verdict < 0)
            return vs_err_set(e, VS_EINVAL, "%s: scenario %s: statement %s is not in this "
                              "catalogue", m->paths[d], vs_rep_s(name, "?"), id);
        vs_stmt_result *s = &r->stmt[k];
        s->verdict = (enum vs_verdict)verdict;
        s->exercised = 1;
        if (s->verdict != VS_VERDICT_FAIL)
            continue;
        const vs_stmt_result *run = &m->doc_res[d]->stmt[k];
        for (unsigned j = 0; j < run->n_evidence; j++)
            if (name && strncmp(run->evidence[j].scenario, name, sizeof run->evidence[j].scenario
                                - 1) == 0 && s->n_evidence < VS_EVIDENCE_MAX)
                s->evidence[s->n_evidence++] = run->evidence[j];
        s->violations = s->n_evidence ? s->n_evidence : 1;
        counted += s->violations;
        if (!first_fail)
            first_fail = s;
    }
    uint64_t total = jget_u(o, "violations");
    if (first_fail && total > counted)
        first_fail->violations += total - counted;
    /* device-level verdicts are not in the row: the scenario the input names as the first
     * to judge a finding gets its verdict back, so the first-scenario order holds */
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(m->docs[d], "device_findings"), i, f) {
        long k = vs_catalogue_index(vs_rep_s(jget_s(f, "id"), ""));
        int verdict = verdict_of(jget_s(f, "verdict"));
        if (k >= 0 && (size_t)k < r->n_stmt && verdict >= 0 && name &&
            !strcmp(vs_rep_s(jget_s(f, "scenario"), ""), name)) {
            r->stmt[k].verdict = (enum vs_verdict)verdict;
            r->stmt[k].exercised = 1;
        }
    }
    r->n_scenarios = 1;
    snprintf(r->scenario, sizeof r->scenario, "%s", vs_rep_s(name, ""));
    vs_results_recount(r);
    return 0;
}

static int scenario_row(mrg *m, size_t d, const json_t *o, size_t slot, vs_err *e)
{
    vs_report_scenario *s = &m->scn[slot];
    s->name = jget_s(o, "name");
    s->path = jget_s(o, "path");
    s->seed = strtoull(vs_rep_s(jget_s(o, "seed"), "0"), NULL, 10);
    s->trace_digest = jget_s(o, "trace_digest");
    const char *v = jget_s(o, "verdict");
    s->verdict = VS_SCN_ERROR;
    for (unsigned k = 0; v && k < VS_SCN_VERDICT_COUNT; k++)
        if (strcmp(v, vs_scn_verdict_name((enum vs_scn_verdict)k)) == 0)
            s->verdict = (enum vs_scn_verdict)k;
    s->message = jget_s(o, "message");
    const json_t *fs = json_object_get(o, "fail_step");
    s->fail_step = json_is_integer(fs) ? (long)json_integer_value(fs) : -1;
    s->fail_step_desc = jget_s(o, "fail_step_desc");
    s->steps_run = jget_u(o, "steps_run");
    s->virtual_ns = jget_u(o, "virtual_ns");
    s->wall_ns = jget_u(o, "wall_ns");
    s->device_id = (uint32_t)jget_u(o, "device_id");
    s->features = strtoull(vs_rep_s(jget_s(o, "features"), "0"), NULL, 16);
    /* the names as recorded: this build may name bits differently */
    size_t len = 1, i;
    json_t *fn;
    json_array_foreach(json_object_get(o, "feature_names"), i, fn)
        len += strlen(vs_rep_s(json_string_value(fn), "")) + 1;
    if (!(m->names[slot] = calloc(1, len)))
        return vs_err_set(e, VS_ENOMEM, "report merge: out of memory");
    json_array_foreach(json_object_get(o, "feature_names"), i, fn) {
        if (i)
            strcat(m->names[slot], "|");
        strcat(m->names[slot], vs_rep_s(json_string_value(fn), ""));
    }
    /* none recorded: derived as a run derives it ("0" for no features) */
    s->feature_names = m->names[slot][0] ? m->names[slot] : NULL;
    const json_t *tl = json_object_get(o, "timeline");
    if ((s->has_timeline_counts = json_is_object(tl))) {
        s->tl_offered = jget_u(tl, "offered");
        s->tl_kept = jget_u(tl, "kept");
        s->tl_stride = jget_u(tl, "stride");
    }
    const json_t *x = json_object_get(o, "expected");
    const char *state = jget_s(x, "state");
    s->expect = !state ? VS_REPORT_EXPECT_NONE
                : strcmp(state, "expected-fail") == 0 ? VS_REPORT_EXPECT_FAIL
                                                      : VS_REPORT_EXPECT_XPASS;
    s->expect_reason = jget_s(x, "reason");
    int rc = scenario_results(m, d, o, &m->scn_res[slot], e);
    s->results = m->scn_res[slot];
    return rc;
}

static int build_scenarios(mrg *m, vs_err *e)
{
    size_t n = 0;
    for (size_t d = 0; d < m->n_docs; d++)
        n += json_array_size(json_object_get(m->docs[d], "scenarios"));
    m->scn = calloc(n + 1, sizeof *m->scn);
    m->pos = calloc(n + 1, sizeof *m->pos);
    m->scn_res = calloc(n + 1, sizeof *m->scn_res);
    m->names = calloc(n + 1, sizeof *m->names);
    m->doc_of = calloc(n + 1, sizeof *m->doc_of);
    if (!m->scn || !m->pos || !m->scn_res || !m->names || !m->doc_of)
        return vs_err_set(e, VS_ENOMEM, "report merge: out of memory");
    m->n_scn = n;
    /* Positions first (the evidence order needs them), then the rows. */
    size_t next = 0;
    for (size_t d = 0; d < m->n_docs; d++) {
        size_t k = m->sharded ? jget_u(json_object_get(m->docs[d], "shard"), "index") - 1 : 0;
        size_t j;
        json_t *o;
        json_array_foreach(json_object_get(m->docs[d], "scenarios"), j, o) {
            size_t p = m->sharded ? k + j * m->shard_n : next;
            if (p >= n)
                return vs_err_set(e, VS_EINVAL, "%s: more scenarios than its shard holds",
                                  m->paths[d]);
            m->pos[p] = p;
            m->doc_of[p] = d;
            m->scn[p].name = jget_s(o, "name");
            next++;
        }
    }
    int rc = build_aggregate(m, e);
    next = 0;
    for (size_t d = 0; d < m->n_docs && rc == 0; d++) {
        size_t k = m->sharded ? jget_u(json_object_get(m->docs[d], "shard"), "index") - 1 : 0;
        size_t j;
        json_t *o;
        json_array_foreach(json_object_get(m->docs[d], "scenarios"), j, o) {
            size_t p = m->sharded ? k + j * m->shard_n : next++;
            if ((rc = scenario_row(m, d, o, p, e)) < 0)
                break;
        }
    }
    return rc == 0 ? order_aggregate(m, e) : rc;
}

static void mrg_free(mrg *m)
{
    for (size_t i = 0; i < m->n_scn; i++) {
        if (m->scn_res)
            vs_results_destroy(m->scn_res[i]);
        if (m->names)
            free(m->names[i]);
    }
    for (size_t d = 0; d < m->n_docs; d++) {
        if (m->doc_res)
            vs_results_destroy(m->doc_res[d]);
        json_decref(m->docs[d]);
    }
    free(m->scn);
    free(m->pos);
    free(m->doc_of);
    free(m->scn_res);
    free(m->names);
    free(m->doc_res);
    free(m->docs);
    free(m->xs);
    free(m->cfg);
    vs_results_destroy(m->agg);
}

static uint64_t jget_hex(const json_t *o, const char *k)
{
    const char *v = jget_s(o, k);
    return v ? strtoull(v, NULL, 0) : 0;
}

/* The device identity of the run: of all inputs', the one seen by the scenario that comes
 * first in the merged order (as the unsharded run took the first scenario's view). */
static const vs_report_device *merged_device(mrg *m)
{
    const json_t *best = NULL;
    size_t best_pos = SIZE_MAX;
    for (size_t d = 0; d < m->n_docs; d++) {
        const json_t *dv = json_object_get(m->docs[d], "device");
        const char *sn = jget_s(dv, "scenario");
        size_t p = sn ? scn_pos(m, sn) : SIZE_MAX;
        if (json_is_object(dv) && (!best || p < best_pos)) {
            best = dv;
            best_pos = p;
        }
    }
    if (!best)
        return NULL;
    const json_t *cfg = json_object_get(best, "config");
    m->cfg = calloc(json_array_size(cfg) + 1, sizeof *m->cfg);
    if (!m->cfg)
        return NULL;
    const json_t *off = json_object_get(best, "offered");
    m->dev = (vs_report_device){
        .scenario = jget_s(best, "scenario"), .device_id = (uint32_t)jget_u(best, "device_id"),
        .device_name = jget_s(best, "device"), .offered_known = json_is_string(off),
        .offered = jget_hex(best, "offered"), .negotiated = jget_hex(best, "negotiated"),
        .config = m->cfg};
    size_t i;
    json_t *f;
    json_array_foreach(cfg, i, f)
        if (jget_s(f, "name"))
            m->cfg[m->dev.n_config++] = (vs_report_cfg_value){
                jget_s(f, "name"), (uint32_t)jget_u(f, "offset"), (uint32_t)jget_u(f, "size"),
                jget_hex(f, "value")};
    return &m->dev;
}

/* The run description around the rebuilt scenarios and aggregate. */
static vs_report_run merged_run(mrg *m)
{
    const json_t *d0 = m->docs[0];
    vs_report_run run = {
        .tool = jget_s(json_object_get(d0, "tool"), "name"),
        .tool_version = jget_s(json_object_get(d0, "tool"), "version"),
        .backend = jget_s(json_object_get(d0, "backend"), "name"),
        .suite = jget_s(d0, "suite"),
        .n_scenarios = m->n_scn,
        .scenarios = m->scn,
        .aggregate = m->agg,
        .expected_file = jget_s(d0, "expected_file"),
    };
    for (size_t d = 0; d < m->n_docs; d++) {
        const json_t *doc = m->docs[d];
        const char *bv = jget_s(json_object_get(doc, "backend"), "version");
        if (bv && (!run.backend_version || strncmp(run.backend_version, "unknown", 7) == 0))
            run.backend_version = bv;
        const char *st = jget_s(doc, "started");
        if (st && (!run.started || strcmp(st, run.started) < 0))
            run.started = st;
        run.interrupted |= json_is_true(json_object_get(doc, "interrupted"));
        run.wall_clock |= !strcmp(vs_rep_s(jget_s(doc, "clock"), ""), "wall");
        const json_t *vm = json_object_get(doc, "expected_version_mismatch");
        if (vm && !run.expected_version) {
            run.expected_version = jget_s(vm, "expected");
            run.expected_version_seen = jget_s(vm, "backend");
        }
    }
    const json_t *xs = json_object_get(d0, "expected_statements");
    m->xs = calloc(json_array_size(xs) + 1, sizeof *m->xs);
    size_t i;
    json_t *x;
    json_array_foreach(xs, i, x)
        if (m->xs)
            m->xs[m->n_xs++] = (vs_report_expected_stmt){jget_s(x, "id"), jget_s(x, "reason")};
    run.expected_stmts = m->xs;
    run.n_expected_stmts = m->n_xs;
    run.device = merged_device(m);
    return run;
}

int vs_report_merge(const char *out_dir, const char *const *inputs, size_t n,
                    vs_report_merge_stats *stats, vs_err *e)
{
    if (!out_dir || !inputs || !n)
        return vs_err_set(e, VS_EINVAL, "report merge: nothing to merge");
    mrg m = {.paths = inputs, .n_docs = n};
    m.docs = calloc(n, sizeof *m.docs);
    m.doc_res = calloc(n, sizeof *m.doc_res);
    int rc = m.docs && m.doc_res ? 0 : vs_err_set(e, VS_ENOMEM, "report merge: out of memory");
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = inputs[i] ? load_doc(inputs[i], &m.docs[i], e)
                       : vs_err_set(e, VS_ENOMEM, "report merge: out of memory");
    if (rc == 0)
        rc = check_agree(&m, e);
    if (rc == 0)
        rc = check_shards(&m, e);
    if (rc == 0)
        rc = build_scenarios(&m, e);
    vs_report_run run;
    if (rc == 0) {
        run = merged_run(&m);
        rc = vs_report_write_all(out_dir, &run, e);
    }
    vs_rep_ctx c;
    if (rc == 0 && stats && vs_rep_ctx_init(&c, &run, e) == 0) {
        memset(stats, 0, sizeof *stats);
        stats->scenarios = m.n_scn;
        memcpy(stats->scn_count, c.scn_count, sizeof stats->scn_count);
        stats->scn_xfail = c.scn_xfail;
        stats->scn_xpass = c.scn_xpass;
        stats->stmt_fail = c.stmt_count[VS_VERDICT_FAIL];
        stats->interrupted = run.interrupted;
        vs_rep_ctx_fini(&c);
    }
    mrg_free(&m);
    return rc;
}
