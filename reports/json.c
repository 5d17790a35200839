/* results.json (schema virtiosim-results/1.1, documented in reports/README.md), its
 * content digest, and `report diff`. */
#define _GNU_SOURCE
#include "report_int.h"

#include <inttypes.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "virtiosim/virtio.h"

/* A JSON string of s made valid UTF-8, or null. Never NULL unless out of memory. */
static json_t *jstr(const char *s)
{
    if (!s)
        return json_null();
    char *u = vs_utf8_sanitize(s);
    if (!u)
        return NULL;
    json_t *j = json_string(u);
    free(u);
    return j;
}

/* Sets key to v; a NULL v (allocation failure) is recorded in *oom. */
static void put(json_t *o, const char *key, json_t *v, bool *oom)
{
    if (!v || json_object_set_new(o, key, v) < 0)
        *oom = true;
}

static void push(json_t *a, json_t *v, bool *oom)
{
    if (!v || json_array_append_new(a, v) < 0)
        *oom = true;
}

static json_t *juint(uint64_t v)
{
    return json_integer(v > (uint64_t)INT64_MAX ? (json_int_t)INT64_MAX : (json_int_t)v);
}

static json_t *evidence_json(const vs_evidence *ev, bool *oom)
{
    json_t *o = json_object();
    if (!o) {
        *oom = true;
        return NULL;
    }
    put(o, "check", jstr(ev->check), oom);
    put(o, "scenario", jstr(ev->scenario), oom);
    put(o, "step", json_integer(ev->step), oom);
    put(o, "step_desc", jstr(ev->step_desc), oom);
    put(o, "t_ns", juint(ev->t_ns), oom);
    put(o, "queue", ev->queue >= 0 ? json_integer(ev->queue) : json_null(), oom);
    put(o, "id", ev->has_id ? json_integer(ev->id) : json_null(), oom);
    put(o, "idx", ev->has_idx ? json_integer(ev->idx) : json_null(), oom);
    put(o, "expected", jstr(ev->expected), oom);
    put(o, "seen", jstr(ev->seen), oom);
    return o;
}

static json_t *counts_json(const size_t *count, bool *oom)
{
    json_t *o = json_object();
    if (!o) {
        *oom = true;
        return NULL;
    }
    for (unsigned v = 0; v < VS_VERDICT_COUNT; v++)
        put(o, vs_verdict_name((enum vs_verdict)v), json_integer((json_int_t)count[v]), oom);
    return o;
}

/* A separator-joined list as a JSON array of strings; empty items (and, with skip_zero,
 * a lone "0": no features) are left out. */
static json_t *split_json(const char *list, char sep, bool skip_zero, bool *oom)
{
    json_t *a = json_array();
    if (!a) {
        *oom = true;
        return NULL;
    }
    const char *p = list;
    while (p && *p) {
        const char *c = strchr(p, sep);
        size_t n = c ? (size_t)(c - p) : strlen(p);
        if (n && !(skip_zero && n == 1 && p[0] == '0')) {
            char *s = strndup(p, n);
            if (!s)
                *oom = true;
            else
                push(a, jstr(s), oom);
            free(s);
        }
        p = c ? c + 1 : NULL;
    }
    return a;
}

/* expected: the run has an expected-results file (the "expected" keys appear only then, so
 * a run without one keeps its document and digest). */
static json_t *scenario_json(const vs_report_scenario *s, bool wall, bool expected, bool *oom)
{
    json_t *o = json_object();
    if (!o) {
        *oom = true;
        return NULL;
    }
    char buf[64], fn[1024];
    put(o, "name", jstr(vs_rep_s(s->name, "(unnamed)")), oom);
    put(o, "path", jstr(s->path), oom);
    snprintf(buf, sizeof buf, "%" PRIu64, s->seed);
    put(o, "seed", json_string(buf), oom);
    put(o, "trace_digest", jstr(s->trace_digest), oom);
    put(o, "verdict", json_string(vs_scn_verdict_name(s->verdict)), oom);
    put(o, "message", jstr(s->message), oom);
    put(o, "fail_step", s->fail_step >= 0 ? json_integer(s->fail_step) : json_null(), oom);
    put(o, "fail_step_desc", jstr(s->fail_step_desc), oom);
    put(o, "steps_run", juint(s->steps_run), oom);
    put(o, "virtual_ns", juint(s->virtual_ns), oom);
    if (wall)
        put(o, "wall_ns", juint(s->wall_ns), oom);
    put(o, "device_id", json_integer(s->device_id), oom);
    snprintf(buf, sizeof buf, "0x%016" PRIx64, s->features);
    put(o, "features", json_string(buf), oom);
    put(o, "feature_names", split_json(vs_rep_feature_names(s, fn, sizeof fn), '|', true, oom),
        oom);
    /* Only the non-trivial verdicts: the rest follow from the catalogue + features. */
    json_t *st = json_object();
    uint64_t violations = 0;
    if (st && s->results && s->results->stmt) {
        for (size_t i = 0; i < s->results->n_stmt; i++) {
            const vs_stmt_result *r = &s->results->stmt[i];
            violations += r->device_level ? 0 : r->violations;
            /* device-level verdicts are the run's (device_findings), not the scenario's */
            if (r->st && !r->device_level &&
                (r->verdict == VS_VERDICT_PASS || r->verdict == VS_VERDICT_FAIL))
                put(st, r->st->id, json_string(vs_verdict_name(r->verdict)), oom);
        }
    }
    put(o, "statements", st, oom);
    put(o, "violations", juint(violations), oom);
    if (s->timeline || s->has_timeline_counts) {
        json_t *t = json_object();
        if (t) {
            put(t, "offered", juint(s->timeline ? vs_timeline_offered(s->timeline)
                                                : s->tl_offered), oom);
            put(t, "kept", juint(s->timeline ? vs_timeline_count(s->timeline) : s->tl_kept),
                oom);
            put(t, "stride", juint(s->timeline ? vs_timeline_stride(s->timeline)
                                               : s->tl_stride), oom);
        }
        put(o, "timeline", t, oom);
    } else {
        put(o, "timeline", json_null(), oom);
    }
    if (expected && s->expect != VS_REPORT_EXPECT_NONE) {
        json_t *x = json_object();
        if (x) {
            put(x, "state", json_string(s->expect == VS_REPORT_EXPECT_FAIL ? "expected-fail"
                                                                           : "unexpected-pass"),
                oom);
            put(x, "reason", jstr(s->expect_reason), oom);
        }
        put(o, "expected", x, oom);
    }
    return o;
}

static json_t *statement_json(const vs_stmt_result *r, const char *expected, bool *oom)
{
    const vs_statement *st = r->st;
    json_t *o = json_object();
    if (!o) {
        *oom = true;
        return NULL;
    }
    put(o, "id", jstr(st->id), oom);
    put(o, "area", jstr(st->area), oom);
    put(o, "role", json_string(vs_role_name(st->role)), oom);
    put(o, "level", json_string(vs_level_name(st->level)), oom);
    put(o, "clause", jstr(vs_report_clause_name(st)), oom);
    put(o, "label", jstr(st->label), oom);
    put(o, "feature", jstr(st->feature), oom);
    put(o, "paraphrase", jstr(st->paraphrase), oom);
    put(o, "method", json_string(vs_check_method_name(st->method)), oom);
    put(o, "verdict", json_string(vs_verdict_name(r->verdict)), oom);
    put(o, "reason", jstr(r->reason), oom);
    put(o, "checks", split_json(r->checks, ',', false, oom), oom);
    put(o, "exercised", juint(r->exercised), oom);
    put(o, "violations", juint(r->violations), oom);
    json_t *ev = json_array();
    if (ev)
        for (unsigned i = 0; i < r->n_evidence && i < VS_EVIDENCE_MAX; i++)
            push(ev, evidence_json(&r->evidence[i], oom), oom);
    put(o, "evidence", ev, oom);
    if (expected)
        put(o, "expected", jstr(expected), oom);   /* why this failure is a known one */
    return o;
}

static json_t *hex64(uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "0x%016" PRIx64, v);
    return json_string(buf);
}

/* The device under test as presented: identity, offered features decoded by name,
 * config values as read. */
static json_t *device_json(const vs_report_device *dv, bool *oom)
{
    if (!dv)
        return json_null();
    json_t *o = json_object();
    if (!o) {
        *oom = true;
        return NULL;
    }
    char fn[1024];
    put(o, "scenario", jstr(dv->scenario), oom);
    put(o, "device_id", json_integer(dv->device_id), oom);
    put(o, "device", jstr(dv->device_name), oom);
    put(o, "offered", dv->offered_known ? hex64(dv->offered) : json_null(), oom);
    vs_features_format(dv->device_id, dv->offered_known ? dv->offered : 0, fn, sizeof fn);
    put(o, "offered_names", split_json(fn, '|', true, oom), oom);
    put(o, "negotiated", hex64(dv->negotiated), oom);
    vs_features_format(dv->device_id, dv->negotiated, fn, sizeof fn);
    put(o, "negotiated_names", split_json(fn, '|', true, oom), oom);
    json_t *cfg = json_array();
    for (size_t i = 0; cfg && dv->config && i < dv->n_config; i++) {
        json_t *f = json_object();
        if (f) {
            char v[24];
            snprintf(v, sizeof v, "%" PRIu64, dv->config[i].value);
            put(f, "name", jstr(dv->config[i].name), oom);
            put(f, "offset", json_integer(dv->config[i].off), oom);
            put(f, "size", json_integer(dv->config[i].len), oom);
            put(f, "value", json_string(v), oom);
        }
        push(cfg, f, oom);
    }
    put(o, "config", cfg, oom);
    return o;
}

/* The statements judged from what the device presents, once for the run: verdict and
 * deduplicated evidence (statements[] has the rest of each). */
static json_t *device_findings_json(const vs_rep_ctx *c, bool *oom)
{
    json_t *a = json_array();
    for (size_t i = 0; a && c->agg && i < c->agg->n_stmt; i++) {
        const vs_stmt_result *r = &c->agg->stmt[i];
        if (!r->st || !r->device_level ||
            (r->verdict != VS_VERDICT_PASS && r->verdict != VS_VERDICT_FAIL))
            continue;
        /* the first scenario that judged it so: where its reason comes from, and what
         * `report merge` needs to keep that order */
        const char *first = NULL;
        for (size_t k = 0; k < c->run->n_scenarios && !first; k++) {
            const vs_results *sr = c->run->scenarios[k].results;
            if (sr && sr->stmt && i < sr->n_stmt && sr->stmt[i].verdict == r->verdict)
                first = vs_rep_s(c->run->scenarios[k].name, "(unnamed)");
        }
        json_t *o = json_object();
        if (o) {
            put(o, "id", jstr(r->st->id), oom);
            put(o, "verdict", json_string(vs_verdict_name(r->verdict)), oom);
            put(o, "scenario", jstr(first), oom);
            put(o, "checks", split_json(r->checks, ',', false, oom), oom);
            json_t *ev = json_array();
            for (unsigned k = 0; ev && k < r->n_evidence && k < VS_EVIDENCE_MAX; k++)
                push(ev, evidence_json(&r->evidence[k], oom), oom);
            put(o, "evidence", ev, oom);
            const char *x = vs_rep_stmt_expected(c, i);
            if (x)
                put(o, "expected", jstr(x), oom);
        }
        push(a, o, oom);
    }
    if (!a)
        *oom = true;
    return a;
}

/* The whole document; wall=false leaves out the nondeterministic fields. */
static json_t *build_doc(const vs_rep_ctx *c, bool wall, bool *oom)
{
    const vs_report_run *run = c->run;
    json_t *d = json_object();
    if (!d) {
        *oom = true;
        return NULL;
    }
    put(d, "schema", json_string(VS_RESULTS_SCHEMA), oom);
    json_t *t = json_object();
    if (t) {
        put(t, "name", jstr(vs_rep_s(run->tool, "virtiosim")), oom);
        put(t, "version", jstr(run->tool_version), oom);
        /* what every scenario's trace_digest is the SHA-256 of (virtiosim/trace.h) */
        put(t, "trace_digest_of", json_string("virtiosim-events/1"), oom); /* trace.h's
                                                           VS_TRACE_DIGEST_OF, layer 4 */
    }
    put(d, "tool", t, oom);
    json_t *b = json_object();
    if (b) {
        put(b, "name", jstr(run->backend), oom);
        put(b, "version", jstr(run->backend_version), oom);
    }
    put(d, "backend", b, oom);
    put(d, "suite", jstr(run->suite), oom);
    if (wall)
        put(d, "started", jstr(run->started), oom);
    put(d, "interrupted", json_boolean(run->interrupted), oom);
    put(d, "clock", json_string(run->wall_clock ? "wall" : "virtual"), oom);
    put(d, "device", device_json(run->device, oom), oom);
    put(d, "device_findings", device_findings_json(c, oom), oom);
    if (run->expected_file) {
        put(d, "expected_file", jstr(run->expected_file), oom);
        /* the statements the file lists, so `report merge` can judge failures as here */
        json_t *xs = json_array();
        for (size_t i = 0; xs && i < run->n_expected_stmts; i++) {
            json_t *x = json_object();
            if (x) {
                put(x, "id", jstr(run->expected_stmts[i].id), oom);
                put(x, "reason", jstr(run->expected_stmts[i].reason), oom);
            }
            push(xs, x, oom);
        }
        put(d, "expected_statements", xs, oom);
    }
    if (run->expected_version && run->expected_version_seen) {
        json_t *m = json_object();
        if (m) {
            put(m, "expected", jstr(run->expected_version), oom);
            put(m, "backend", jstr(run->expected_version_seen), oom);
        }
        put(d, "expected_version_mismatch", m, oom);
    }
    if (run->shard_n) {
        json_t *sh = json_object();
        if (sh) {
            put(sh, "index", json_integer(run->shard_k), oom);
            put(sh, "count", json_integer(run->shard_n), oom);
            put(sh, "scenarios_total", juint(run->shard_total), oom);
        }
        put(d, "shard", sh, oom);
    }

    json_t *seeds = json_array(), *scns = json_array();
    for (size_t i = 0; seeds && scns && i < run->n_scenarios; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "%" PRIu64, run->scenarios[i].seed);
        push(seeds, json_string(buf), oom);
        push(scns, scenario_json(&run->scenarios[i], wall, run->expected_file != NULL, oom), oom);
    }
    put(d, "seeds", seeds, oom);
    put(d, "scenarios", scns, oom);

    json_t *sts = json_array();
    if (sts && c->agg && c->agg->stmt)
        for (size_t i = 0; i < c->agg->n_stmt; i++)
            if (c->agg->stmt[i].st)
                push(sts, statement_json(&c->agg->stmt[i], vs_rep_stmt_expected(c, i), oom), oom);
    put(d, "statements", sts, oom);

    json_t *sum = json_object();
    if (sum) {
        json_t *sc = json_object();
        if (sc)
            for (unsigned v = 0; v < VS_SCN_VERDICT_COUNT; v++)
                if (v != VS_SCN_NOT_APPLICABLE || c->scn_count[v]) /* 1.1 had no such key */
                    put(sc, vs_scn_verdict_name((enum vs_scn_verdict)v),
                        json_integer((json_int_t)c->scn_count[v]), oom);
        json_t *stc = counts_json(c->stmt_count, oom);
        if (run->expected_file) {
            /* "fail" counts the unexpected failures only, as the exit code does */
            put(sc, "expected_fail", json_integer((json_int_t)c->scn_xfail), oom);
            put(sc, "unexpected_pass", json_integer((json_int_t)c->scn_xpass), oom);
            put(stc, "expected_fail", json_integer((json_int_t)c->stmt_xfail), oom);
        }
        put(sum, "scenarios", sc, oom);
        put(sum, "statements", stc, oom);
        json_t *cl = json_array();
        for (size_t k = 0; cl && k < c->n_clauses; k++) {
            json_t *o = json_object();
            if (o) {
                put(o, "clause", jstr(c->clauses[k].name), oom);
                put(o, "total", json_integer((json_int_t)c->clauses[k].n), oom);
                put(o, "counts", counts_json(c->clauses[k].count, oom), oom);
            }
            push(cl, o, oom);
        }
        put(sum, "clauses", cl, oom);
    }
    put(d, "summary", sum, oom);
    return d;
}

static int digest_of(json_t *det, char out[65], vs_err *e)
{
    char *s = json_dumps(det, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    if (!s)
        return vs_err_set(e, VS_ENOMEM, "results.json: out of memory");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int ok = EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL);
    free(s);
    if (!ok || mdlen != 32)
        return vs_err_set(e, VS_EIO, "results.json: SHA-256 failed");
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return 0;
}

int vs_report_content_digest(const vs_report_run *run, char out[65], vs_err *e)
{
    if (!out)
        return vs_err_set(e, VS_EINVAL, "content digest: NULL out");
    vs_rep_ctx c;
    int rc = vs_rep_ctx_init(&c, run, e);
    if (rc < 0)
        return rc;
    bool oom = false;
    json_t *det = build_doc(&c, false, &oom);
    if (!det || oom)
        rc = vs_err_set(e, VS_ENOMEM, "results.json: out of memory");
    else
        rc = digest_of(det, out, e);
    json_decref(det);
    vs_rep_ctx_fini(&c);
    return rc;
}

static int dump_cb(const char *buf, size_t size, void *data)
{
    return fwrite(buf, 1, size, (FILE *)data) == size ? 0 : -1;
}

int vs_report_json_fp(FILE *f, const vs_report_run *run, vs_err *e)
{
    if (!f)
        return vs_err_set(e, VS_EINVAL, "results.json: NULL stream");
    vs_rep_ctx c;
    int rc = vs_rep_ctx_init(&c, run, e);
    if (rc < 0)
        return rc;
    bool oom = false;
    char dig[65];
    json_t *det = build_doc(&c, false, &oom);
    json_t *doc = build_doc(&c, true, &oom);
    if (!det || !doc || oom) {
        rc = vs_err_set(e, VS_ENOMEM, "results.json: out of memory");
        goto out;
    }
    if ((rc = digest_of(det, dig, e)) < 0)
        goto out;
    /* keep it near the top for humans: rebuild order schema, content_digest, ... */
    json_t *ordered = json_object();
    if (!ordered) {
        rc = vs_err_set(e, VS_ENOMEM, "results.json: out of memory");
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_set(ordered, "schema", json_object_get(doc, "schema"));
    put(ordered, "content_digest", json_string(dig), &oom);
    json_object_foreach(doc, key, val) {
        if (strcmp(key, "schema") != 0)
            json_object_set(ordered, key, val);
    }
    if (oom || json_dump_callback(ordered, dump_cb, f, JSON_INDENT(1)) != 0 ||
        fputc('\n', f) == EOF)
        rc = vs_err_set(e, VS_EIO, "results.json: write failed");
    json_decref(ordered);
out:
    json_decref(det);
    json_decref(doc);
    vs_rep_ctx_fini(&c);
    if (rc >= 0)
        rc = vs_rep_ferror(f, VS_REPORT_JSON, e);
    return rc;
}

/* ---------------------------------------------------------------------- diff */

static int load_results(const char *path, json_t **out, vs_err *e)
{
    json_error_t je;
    json_t *d = json_load_file(path, 0, &je);
    if (!d)
        return je.line > 0
                   ? vs_err_set(e, VS_EINVAL, "%s:%d:%d: %s", path, je.line, je.column, je.text)
                   : vs_err_set(e, VS_EINVAL, "%s: %s", path, je.text);
    const char *schema = json_string_value(json_object_get(d, "schema"));
    if (!json_is_object(d) || !schema ||
        (strcmp(schema, VS_RESULTS_SCHEMA) != 0 && strcmp(schema, VS_RESULTS_SCHEMA_1_0) != 0)) {
        int rc = vs_err_set(e, VS_EINVAL, "%s: not a %s document (schema \"%s\")", path,
                            VS_RESULTS_SCHEMA, schema ? schema : "?");
        json_decref(d);
        return rc;
    }
    if (!json_is_array(json_object_get(d, "statements")) ||
        !json_is_array(json_object_get(d, "scenarios"))) {
        json_decref(d);
        return vs_err_set(e, VS_EINVAL, "%s: no statements[] / scenarios[] arrays", path);
    }
    *out = d;
    return 0;
}

/* {key: verdict} from an array of objects; later duplicates are ignored. */
static json_t *verdict_map(json_t *arr, const char *keyname)
{
    json_t *m = json_object();
    size_t i;
    json_t *it;
    if (!m)
        return NULL;
    json_array_foreach(arr, i, it) {
        const char *k = json_string_value(json_object_get(it, keyname));
        const char *v = json_string_value(json_object_get(it, "verdict"));
        if (k && v && !json_object_get(m, k))
            json_object_set_new(m, k, json_string(v));
    }
    return m;
}

static void diff_maps(json_t *om, json_t *nm, const char *what, FILE *out, unsigned *n,
                      unsigned *regress, bool scn)
{
    const char *k;
    json_t *v;
    json_object_foreach(nm, k, v) {
        const char *nv = json_string_value(v);
        const char *ov = json_string_value(json_object_get(om, k));
        if (ov && strcmp(ov, nv) == 0)
            continue;
        if (out)
            fprintf(out, "%s %s: %s -> %s\n", what, k, ov ? ov : "absent", nv);
        (*n)++;
        if (ov && strcmp(ov, "pass") == 0 &&
            (strcmp(nv, "fail") == 0 || (scn && strcmp(nv, "error") == 0)))
            (*regress)++;
    }
    json_object_foreach(om, k, v) {
        if (json_object_get(nm, k))
            continue;
        if (out)
            fprintf(out, "%s %s: %s -> absent\n", what, k, json_string_value(v));
        (*n)++;
    }
}

int vs_report_diff_ex(const char *old_json_path, const char *new_json_path, FILE *out,
                      vs_report_diff_stats *stats, vs_err *e)
{
    if (!old_json_path || !new_json_path)
        return vs_err_set(e, VS_EINVAL, "report diff: NULL path");
    json_t *od = NULL, *nd = NULL;
    int rc = load_results(old_json_path, &od, e);
    if (rc < 0)
        return rc;
    if ((rc = load_results(new_json_path, &nd, e)) < 0) {
        json_decref(od);
        return rc;
    }
    vs_report_diff_stats s = {0};
    json_t *os = verdict_map(json_object_get(od, "statements"), "id");
    json_t *ns = verdict_map(json_object_get(nd, "statements"), "id");
    json_t *oc = verdict_map(json_object_get(od, "scenarios"), "name");
    json_t *nc = verdict_map(json_object_get(nd, "scenarios"), "name");
    if (!os || !ns || !oc || !nc) {
        rc = vs_err_set(e, VS_ENOMEM, "report diff: out of memory");
    } else {
        diff_maps(oc, nc, "scenario", out, &s.scn_changes, &s.scn_regressions, true);
        diff_maps(os, ns, "statement", out, &s.stmt_changes, &s.stmt_regressions, false);
        s.changes = s.scn_changes + s.stmt_changes;
        rc = (int)s.changes;
    }
    json_decref(os);
    json_decref(ns);
    json_decref(oc);
    json_decref(nc);
    json_decref(od);
    json_decref(nd);
    if (rc >= 0 && stats)
        *stats = s;
    return rc;
}

int vs_report_diff(const char *old_json_path, const char *new_json_path, FILE *out,
                   vs_err *e)
{
    return vs_report_diff_ex(old_json_path, new_json_path, out, NULL, e);
}
