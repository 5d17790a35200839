/* Private to reports/: the context every writer builds from a vs_report_run (aggregate,
 * clause grouping, counts) and the atomic file writer. */
#ifndef VIRTIOSIM_REPORTS_REPORT_INT_H
#define VIRTIOSIM_REPORTS_REPORT_INT_H

#include <stdio.h>

#include "virtiosim/report.h"

typedef struct vs_rep_clause {
    const char *name;             /* display name (vs_report_clause_name) */
    const char *raw;              /* vs_statement.clause as in the catalogue */
    size_t n;                     /* statements in it */
    size_t *idx;                  /* their indexes into agg->stmt, catalogue order */
    size_t count[VS_VERDICT_COUNT]; /* VS_VERDICT_FAIL: unexpected failures only */
    size_t xfail;                 /* failures the expected-results file explains */
} vs_rep_clause;

typedef struct vs_rep_ctx {
    const vs_report_run *run;
    const vs_results *agg;        /* run->aggregate, or owned, or NULL */
    vs_results *owned;
    size_t n_clauses;             /* in order of first appearance in the catalogue */
    vs_rep_clause *clauses;
    /* Counts as the exit code sees them: VS_SCN_FAIL and VS_VERDICT_FAIL are the
     * unexpected failures; expected ones are counted apart. */
    size_t scn_count[VS_SCN_VERDICT_COUNT];
    size_t scn_xfail, scn_xpass;
    size_t stmt_count[VS_VERDICT_COUNT];
    size_t stmt_xfail;
    const char **stmt_expect;     /* per agg->stmt: why its failure is expected, or NULL */
    /* Device findings (device-level statements, judged once for the run): passed, failed
     * unexpectedly, failed as expected. */
    size_t dev_pass, dev_fail, dev_xfail;
} vs_rep_ctx;

int vs_rep_ctx_init(vs_rep_ctx *c, const vs_report_run *run, vs_err *e);
void vs_rep_ctx_fini(vs_rep_ctx *c);
/* Why aggregate statement i failed as expected, or NULL (not failed, or unexpected). */
static inline const char *vs_rep_stmt_expected(const vs_rep_ctx *c, size_t i)
{
    return c->stmt_expect ? c->stmt_expect[i] : NULL;
}

/* s, or dflt when s is NULL. */
static inline const char *vs_rep_s(const char *s, const char *dflt) { return s ? s : dflt; }

/* Feature names of a scenario into buf (its feature_names, or derived). */
const char *vs_rep_feature_names(const vs_report_scenario *s, char *buf, size_t len);

/* report.html's pieces above the scenario list (html_summary.c): the run's verdict and
 * headline per role and level and per clause, the device under test, its findings, and
 * what each verdict means. Text goes through vs_xml_escape. */
void vs_rep_html_banner(FILE *f, const vs_rep_ctx *c);
void vs_rep_html_headline(FILE *f, const vs_rep_ctx *c);
void vs_rep_html_device(FILE *f, const vs_rep_ctx *c);
void vs_rep_html_device_findings(FILE *f, const vs_rep_ctx *c);
void vs_rep_html_legend(FILE *f);
void vs_rep_html_evidence(FILE *f, const vs_stmt_result *r);
/* Whether any statement of the role was monitored in the run (a role the run did not
 * watch has every statement "not exercised: ROLE role not monitored"). */
bool vs_rep_role_monitored(const vs_rep_ctx *c, enum vs_role role);

typedef int (*vs_rep_writer)(FILE *f, const vs_report_run *run, vs_err *e);
/* mkdir -p dir, write DIR/.NAME.tmp.PID with fn, fflush + fsync, rename to DIR/NAME,
 * fsync(DIR). On failure the temp file is removed and the old NAME is untouched. */
int vs_rep_atomic(const char *dir, const char *name, vs_rep_writer fn,
                  const vs_report_run *run, vs_err *e);

/* Stream error check after writing: -VS_EIO with a message if ferror(f). */
int vs_rep_ferror(FILE *f, const char *what, vs_err *e);

/* Decodes one UTF-8 sequence at s (NUL-terminated): returns its length (1-4) and sets
 * *cp, or 0 if s does not start a valid sequence (overlong, surrogate, > U+10FFFF,
 * truncated). */
int vs_rep_utf8_next(const unsigned char *s, uint32_t *cp);

#endif
