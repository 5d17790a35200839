/* Recording a violation with its evidence (ok() is inline in monitor_int.h). A leaf of
 * the monitors: every monitor file calls it, it calls none of them. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "conformance/monitor_int.h"

void bad(vs_monitors *m, unsigned c, int k, ctx cx, const char *expected, const char *fmt, ...)
{
    vs_evidence ev;
    memset(&ev, 0, sizeof ev);
    copy_str(ev.check, sizeof ev.check, vs_check_local(m, c)->name);
    copy_str(ev.scenario, sizeof ev.scenario, m->scenario);
    ev.step = m->step;
    copy_str(ev.step_desc, sizeof ev.step_desc, m->step_desc);
    ev.t_ns = m->cur ? m->cur->t_ns : m->last_t;
    ev.queue = cx.queue;
    ev.has_id = cx.has_id;
    ev.id = cx.id;
    ev.has_idx = cx.has_idx;
    ev.idx = cx.idx;
    copy_str(ev.expected, sizeof ev.expected, expected);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ev.seen, sizeof ev.seen, fmt, ap);
    va_end(ap);
    m->violations++;
    vs_check_result *cr = &m->res->check[ck_global(m, c)];
    cr->exercised++;
    cr->violations++;
    if (cr->n_evidence < VS_EVIDENCE_MAX)
        cr->evidence[cr->n_evidence++] = ev;
    if (k >= 0 && k < IDS_MAX && m->sidx[c][k] >= 0) {
        vs_stmt_result *s = &m->res->stmt[m->sidx[c][k]];
        s->exercised++;
        s->violations++;
        if (s->n_evidence < VS_EVIDENCE_MAX)
            s->evidence[s->n_evidence++] = ev;
    }
}
