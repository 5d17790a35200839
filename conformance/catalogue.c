/* The statement catalogue (embedded from build/gen/catalogue_data.c), feature
 * expressions, verdict names and the results aggregate. */
#include "virtiosim/conformance.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/device_class.h"
#include "virtiosim/virtio.h"

extern const vs_statement vs_catalogue_data[];
extern const size_t vs_catalogue_data_n;

size_t vs_catalogue_count(void) { return vs_catalogue_data_n; }

const vs_statement *vs_catalogue_at(size_t i)
{
    return i < vs_catalogue_data_n ? &vs_catalogue_data[i] : NULL;
}

/* Row numbers sorted by id, built once per process: every run looks up each check's
 * statements at set-up (thousands of lookups; linear strcmp scans were a third of a short
 * scenario's instructions). NULL if the allocation failed: then a linear scan. */
static uint32_t *by_id;
static pthread_once_t by_id_once = PTHREAD_ONCE_INIT;

static int cmp_row_id(const void *a, const void *b)
{
    return strcmp(vs_catalogue_data[*(const uint32_t *)a].id,
                  vs_catalogue_data[*(const uint32_t *)b].id);
}

static void by_id_build(void)
{
    uint32_t *v = malloc((vs_catalogue_data_n ? vs_catalogue_data_n : 1) * sizeof *v);
    if (!v)
        return;
    for (size_t i = 0; i < vs_catalogue_data_n; i++)
        v[i] = (uint32_t)i;
    qsort(v, vs_catalogue_data_n, sizeof *v, cmp_row_id);
    by_id = v;
}

long vs_catalogue_index(const char *id)
{
    if (!id)
        return -1;
    pthread_once(&by_id_once, by_id_build);
    if (!by_id) {
        for (size_t i = 0; i < vs_catalogue_data_n; i++)
            if (strcmp(vs_catalogue_data[i].id, id) == 0)
                return (long)i;
        return -1;
    }
    size_t lo = 0, hi = vs_catalogue_data_n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(vs_catalogue_data[by_id[mid]].id, id);
        if (c == 0)
            return (long)by_id[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

const vs_statement *vs_catalogue_find(const char *id)
{
    long i = vs_catalogue_index(id);
    return i < 0 ? NULL : &vs_catalogue_data[i];
}

const char *vs_role_name(enum vs_role r)
{
    switch (r) {
    case VS_ROLE_DEVICE: return "device";
    case VS_ROLE_DRIVER: return "driver";
    case VS_ROLE_BOTH: return "both";
    }
    return "?";
}

const char *vs_level_name(enum vs_level l)
{
    switch (l) {
    case VS_LEVEL_MUST: return "MUST";
    case VS_LEVEL_MUST_NOT: return "MUST NOT";
    case VS_LEVEL_SHOULD: return "SHOULD";
    case VS_LEVEL_SHOULD_NOT: return "SHOULD NOT";
    }
    return "?";
}

const char *vs_check_method_name(enum vs_check_method m)
{
    switch (m) {
    case VS_METHOD_OBSERVE: return "observe";
    case VS_METHOD_PROVOKE: return "provoke";
    case VS_METHOD_UNTESTABLE: return "untestable";
    }
    return "?";
}

const char *vs_verdict_name(enum vs_verdict v)
{
    switch (v) {
    case VS_VERDICT_NOT_EXERCISED: return "not_exercised";
    case VS_VERDICT_PASS: return "pass";
    case VS_VERDICT_FAIL: return "fail";
    case VS_VERDICT_NOT_APPLICABLE: return "not_applicable";
    case VS_VERDICT_UNTESTABLE: return "untestable";
    case VS_VERDICT_NO_CHECK: return "no_check";
    case VS_VERDICT_COUNT: break;
    }
    return "?";
}

/* ------------------------------------------------------------ feature expressions */

/* Catalogue areas and feature prefixes of the device types that have no device folder
 * yet: their statements are in the catalogue before their code is. A device with a folder
 * answers through its class (model/dev/<name>/), which takes precedence. */
static const struct { const char *area, *prefix; uint32_t dev; } pending_areas[] = {
    {"scsi", "VIRTIO_SCSI_F_", VS_DEV_SCSI},
    {"console", "VIRTIO_CONSOLE_F_", VS_DEV_CONSOLE},
    {"net", "VIRTIO_NET_F_", VS_DEV_NET},
};
#define N_PENDING (sizeof pending_areas / sizeof pending_areas[0])

uint32_t vs_catalogue_area_device(const char *area)
{
    const vs_device_class *dc = vs_device_class_by_name(area);
    if (dc)
        return dc->device_id;
    for (size_t i = 0; i < N_PENDING; i++)
        if (strcmp(area, pending_areas[i].area) == 0)
            return pending_areas[i].dev;
    return 0;
}

static bool has_prefix(const char *name, size_t n, const char *prefix)
{
    size_t pl = strlen(prefix);
    return n > pl && strncmp(name, prefix, pl) == 0;
}

/* Device type a feature name belongs to, 0 for device-independent names. */
static uint32_t name_device(const char *name, size_t n)
{
    for (const vs_device_class *const *dc = vs_device_classes; *dc; dc++)
        if ((*dc)->feature_prefix && has_prefix(name, n, (*dc)->feature_prefix))
            return (*dc)->device_id;
    for (size_t i = 0; i < N_PENDING; i++)
        if (has_prefix(name, n, pending_areas[i].prefix))
            return pending_areas[i].dev;
    return 0;
}

static int eval_term(uint32_t device_id, const char *s, size_t n, uint64_t features,
                     bool *out, vs_err *e)
{
    bool neg = false;
    if (n > 0 && s[0] == '!') {
        neg = true;
        s++;
        n--;
    }
    if (n == 0 || n >= 64)
        return vs_err_set(e, VS_EINVAL, "feature expression: empty or overlong name");
    char name[64];
    memcpy(name, s, n);
    name[n] = '\0';
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return vs_err_set(e, VS_EINVAL, "feature expression: bad character '%c' in '%s'",
                              c, name);
    }
    uint32_t dev = name_device(name, n);
    bool have;
    if (dev != 0 && dev != device_id) {
        /* a feature of another device type: resolve it there to reject typos, but it
         * is never part of this device's feature set */
        if (vs_feature_bit(dev, name) < 0)
            return vs_err_set(e, VS_EINVAL, "feature expression: unknown feature '%s'", name);
        have = false;
    } else {
        int bit = vs_feature_bit(device_id, name);
        if (bit < 0 || bit > 63)
            return vs_err_set(e, VS_EINVAL, "feature expression: unknown feature '%s'", name);
        have = (features >> bit) & 1;
    }
    *out = neg ? !have : have;
    return 0;
}

int vs_feature_expr_eval(uint32_t device_id, const char *expr, uint64_t features,
                         bool *out, vs_err *e)
{
    if (!expr || !out)
        return vs_err_set(e, VS_EINVAL, "feature expression: NULL argument");
    if (strcmp(expr, "-") == 0 || expr[0] == '\0') {
        *out = true;
        return 0;
    }
    /* OR of AND-terms */
    bool any = false;
    const char *p = expr;
    for (;;) {
        const char *bar = strchr(p, '|');
        const char *end = bar ? bar : p + strlen(p);
        bool all = true;
        const char *q = p;
        for (;;) {
            const char *amp = memchr(q, '&', (size_t)(end - q));
            const char *tend = amp ? amp : end;
            bool v = false;
            int rc = eval_term(device_id, q, (size_t)(tend - q), features, &v, e);
            if (rc < 0)
                return vs_err_prefix(e, "'%s'", expr);
            all = all && v;
            if (!amp)
                break;
            q = amp + 1;
        }
        any = any || all;
        if (!bar)
            break;
        p = bar + 1;
    }
    *out = any;
    return 0;
}

/* ------------------------------------------------------------------ evidence */

size_t vs_evidence_format(const vs_evidence *ev, char *buf, size_t len)
{
    if (!ev || !buf || len == 0)
        return 0;
    char q[24] = "", id[24] = "", idx[24] = "";
    if (ev->queue >= 0)
        snprintf(q, sizeof q, " queue %" PRId32, ev->queue);
    if (ev->has_id)
        snprintf(id, sizeof id, " id %" PRIu32, ev->id);
    if (ev->has_idx)
        snprintf(idx, sizeof idx, " idx %" PRIu32, ev->idx);
    int n = snprintf(buf, len, "[%s] scenario '%s' step %" PRIu32 "%s%s%s t=%" PRIu64
                     "ns%s%s%s: expected %s; seen %s",
                     ev->check, ev->scenario, ev->step, ev->step_desc[0] ? " (" : "",
                     ev->step_desc, ev->step_desc[0] ? ")" : "", ev->t_ns, q, id, idx,
                     ev->expected, ev->seen);
    return n < 0 ? 0 : (size_t)n;
}

/* ------------------------------------------------------------------- results */

int vs_results_create(vs_results **out, vs_err *e)
{
    if (!out)
        return vs_err_set(e, VS_EINVAL, "vs_results_create: NULL out");
    *out = NULL;
    vs_results *r = calloc(1, sizeof *r);
    if (!r)
        return vs_err_set(e, VS_ENOMEM, "results: out of memory");
    r->n_stmt = vs_catalogue_count();
    r->n_check = vs_check_count();
    r->stmt = calloc(r->n_stmt ? r->n_stmt : 1, sizeof *r->stmt);
    r->check = calloc(r->n_check ? r->n_check : 1, sizeof *r->check);
    if (!r->stmt || !r->check) {
        vs_results_destroy(r);
        return vs_err_set(e, VS_ENOMEM, "results: out of memory");
    }
    for (size_t i = 0; i < r->n_stmt; i++) {
        vs_stmt_result *s = &r->stmt[i];
        s->st = vs_catalogue_at(i);
        const vs_check_info *cov[8];
        size_t nc = vs_checks_for_statement(s->st->id, cov, 8);
        size_t off = 0;
        for (size_t k = 0; k < nc && k < 8; k++) {
            int w = snprintf(s->checks + off, sizeof s->checks - off, "%s%s", k ? "," : "",
                             cov[k]->name);
            if (w < 0 || (size_t)w >= sizeof s->checks - off)
                break;
            off += (size_t)w;
        }
        bool dl = nc > 0;
        for (size_t k = 0; k < nc && k < 8; k++)
            dl &= cov[k]->device_level;
        s->device_level = dl && nc <= 8;
        if (s->st->method == VS_METHOD_UNTESTABLE) {
            s->verdict = VS_VERDICT_UNTESTABLE;
            snprintf(s->reason, sizeof s->reason, "%s", s->st->check_text);
        } else if (nc == 0) {
            s->verdict = VS_VERDICT_NO_CHECK;
            snprintf(s->reason, sizeof s->reason, "no check implemented");
        } else {
            s->verdict = VS_VERDICT_NOT_EXERCISED;
            snprintf(s->reason, sizeof s->reason, "not exercised");
        }
    }
    for (size_t i = 0; i < r->n_check; i++)
        r->check[i].check = vs_check_at(i);
    vs_results_recount(r);
    *out = r;
    return 0;
}

void vs_results_destroy(vs_results *r)
{
    if (!r)
        return;
    free(r->stmt);
    free(r->check);
    free(r);
}

void vs_results_recount(vs_results *r)
{
    if (!r)
        return;
    memset(r->count, 0, sizeof r->count);
    for (size_t i = 0; i < r->n_stmt; i++)
        if (r->stmt[i].verdict < VS_VERDICT_COUNT)
            r->count[r->stmt[i].verdict]++;
}

size_t vs_results_scenario_failures(const vs_results *r)
{
    size_t n = 0;
    for (size_t i = 0; r && i < r->n_stmt; i++)
        n += r->stmt[i].verdict == VS_VERDICT_FAIL && !r->stmt[i].device_level;
    return n;
}

const vs_stmt_result *vs_results_find(const vs_results *r, const char *id)
{
    if (!r)
        return NULL;
    long i = vs_catalogue_index(id);
    if (i < 0 || (size_t)i >= r->n_stmt)
        return NULL;
    return &r->stmt[i];
}

/* Rank for merging: higher wins. */
static int verdict_rank(enum vs_verdict v)
{
    switch (v) {
    case VS_VERDICT_FAIL: return 5;
    case VS_VERDICT_PASS: return 4;
    case VS_VERDICT_NOT_EXERCISED: return 3;
    case VS_VERDICT_NOT_APPLICABLE: return 2;
    case VS_VERDICT_UNTESTABLE: return 1;
    case VS_VERDICT_NO_CHECK: return 0;
    case VS_VERDICT_COUNT: break;
    }
    return -1;
}

static bool same_finding(const vs_evidence *a, const vs_evidence *b)
{
    return !strcmp(a->check, b->check) && !strcmp(a->expected, b->expected) &&
           !strcmp(a->seen, b->seen);
}

/* once: a device-level finding is kept once, however many scenarios saw it */
static void merge_evidence(vs_evidence *dst, unsigned *nd, const vs_evidence *src,
                           unsigned ns, bool once)
{
    for (unsigned i = 0; i < ns && *nd < VS_EVIDENCE_MAX; i++) {
        bool dup = false;
        for (unsigned k = 0; once && k < *nd && !dup; k++)
            dup = same_finding(&dst[k], &src[i]);
        if (!dup)
            dst[(*nd)++] = src[i];
    }
}

int vs_results_merge(vs_results *into, const vs_results *from, vs_err *e)
{
    if (!into || !from)
        return vs_err_set(e, VS_EINVAL, "vs_results_merge: NULL argument");
    if (into->n_stmt != from->n_stmt || into->n_check != from->n_check)
        return vs_err_set(e, VS_EINVAL, "vs_results_merge: results of different catalogues");
    bool first = into->n_scenarios == 0;
    for (size_t i = 0; i < into->n_stmt; i++) {
        vs_stmt_result *d = &into->stmt[i];
        const vs_stmt_result *s = &from->stmt[i];
        if (first || verdict_rank(s->verdict) > verdict_rank(d->verdict)) {
            d->verdict = s->verdict;
            memcpy(d->reason, s->reason, sizeof d->reason);
        }
        d->exercised += s->exercised;
        d->violations += s->violations;
        merge_evidence(d->evidence, &d->n_evidence, s->evidence, s->n_evidence,
                       d->device_level);
    }
    for (size_t i = 0; i < into->n_check; i++) {
        vs_check_result *d = &into->check[i];
        const vs_check_result *s = &from->check[i];
        d->exercised += s->exercised;
        d->violations += s->violations;
        merge_evidence(d->evidence, &d->n_evidence, s->evidence, s->n_evidence,
                       d->check && d->check->device_level);
    }
    into->n_scenarios += from->n_scenarios ? from->n_scenarios : 1;
    into->scenario[0] = '\0';
    vs_results_recount(into);
    return 0;
}
