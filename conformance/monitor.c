/* Conformance monitors: per-queue and per-device state built from the event stream
 * plus reads of guest memory, checked against the catalogue. See conformance.h; the
 * monitors' files are listed in monitor_int.h, the device extensions in monitor_dev.h.
 * This file: create / destroy / finish and the event dispatch (verdicts are recorded by
 * mon_verdict.c, which every monitor file calls and which calls none of them). */
#include "virtiosim/conformance.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/monitor_dev.h"

/* ------------------------------------------------------------ public */

int vs_monitors_create(vs_monitors **out, vs_gmem *gm, uint32_t device_id, unsigned roles,
                       vs_err *e)
{
    if (!out || !gm)
        return vs_err_set(e, VS_EINVAL, "monitors: NULL argument");
    *out = NULL;
    if (!(roles & VS_ROLE_BOTH) || (roles & ~(unsigned)VS_ROLE_BOTH))
        return vs_err_set(e, VS_EINVAL, "monitors: roles must be device, driver or both");
    vs_monitors *m = calloc(1, sizeof *m);
    if (!m)
        return vs_err_set(e, VS_ENOMEM, "monitors: out of memory");
    int rc = vs_results_create(&m->res, e);
    if (rc < 0) {
        free(m);
        return rc;
    }
    m->gm = gm;
    m->device_id = device_id;
    m->roles = roles;
    m->irq_observable = true;
    m->irq_latency_ns = 500;
    /* the device extension, and where its checks start in the registry */
    size_t base = CK_COUNT;
    for (const vs_mon_dev *const *d = vs_mon_devs; *d; base += (*d)->n_checks, d++)
        if ((*d)->device_id == device_id) {
            m->dev = *d;
            m->dev_checks = (*d)->checks;
            m->dev_shift = base - CK_DEV_FIRST;
            m->dev_chain_bytes = (*d)->chain_bytes;
            break;
        }
    m->n_local = CK_COUNT + (m->dev ? m->dev->n_checks : 0);
    m->sidx = calloc(m->n_local, sizeof *m->sidx);
    if (!m->sidx) {
        vs_monitors_destroy(m);
        return vs_err_set(e, VS_ENOMEM, "monitors: out of memory");
    }
    for (unsigned c = 0; c < m->n_local; c++) {
        const vs_check_info *ci = vs_check_local(m, c);
        size_t k = 0;
        for (; k < IDS_MAX; k++)
            m->sidx[c][k] = -1;
        k = 0;
        for (const char *const *p = ci->ids; *p && k < IDS_MAX; p++, k++) {
            m->sidx[c][k] = vs_catalogue_index(*p);
            if (m->sidx[c][k] < 0) {
                vs_monitors_destroy(m);
                return vs_err_set(e, VS_EINVAL, "monitors: check %s names unknown statement %s",
                                  ci->name, *p);
            }
        }
    }
    if (m->dev && m->dev->cfg_early_bytes &&
        !(m->early = calloc(m->dev->cfg_early_bytes, sizeof *m->early))) {
        vs_monitors_destroy(m);
        return vs_err_set(e, VS_ENOMEM, "monitors: out of memory");
    }
    if (m->dev && m->dev->create && (rc = m->dev->create(m, e)) < 0) {
        vs_monitors_destroy(m);
        return rc;
    }
    *out = m;
    return 0;
}

void vs_monitors_destroy(vs_monitors *m)
{
    if (!m)
        return;
    for (uint32_t i = 0; i < MAX_QUEUES; i++)
        queue_drop(m, &m->q[i]);
    if (m->dev && m->dev->destroy)
        m->dev->destroy(m);
    vs_results_destroy(m->res);
    free(m->sidx);
    free(m->early);
    free(m);
}

void vs_monitors_set_scenario(vs_monitors *m, const char *name)
{
    if (m)
        copy_str(m->scenario, sizeof m->scenario, name);
}

void vs_monitors_set_step(vs_monitors *m, uint32_t index, const char *desc)
{
    if (!m)
        return;
    m->step = index;
    copy_str(m->step_desc, sizeof m->step_desc, desc);
}

void vs_monitors_set_async_device(vs_monitors *m, bool async)
{
    if (m)
        m->async_device = async;
}

void vs_monitors_set_backend_view(vs_monitors *m, bool on)
{
    if (m)
        m->backend_view = on;
}

void vs_monitors_set_frontend_offer_mask(vs_monitors *m, uint64_t mask)
{
    if (m) {
        m->fe_mask = mask;
        m->fe_mask_known = true;
    }
}

void vs_monitors_set_gmem(vs_monitors *m, vs_gmem *gm)
{
    if (m && gm)
        m->gm = gm;
}

int vs_monitors_report_driver_violation(vs_monitors *m, const char *statement_id,
                                        int32_t queue, bool has_id, uint32_t id,
                                        const char *expected, const char *seen, vs_err *e)
{
    if (!m || !statement_id)
        return vs_err_set(e, VS_EINVAL, "monitors: NULL argument");
    if (m->finished)
        return vs_err_set(e, VS_ESTATE, "monitors: already finished");
    long si = vs_catalogue_index(statement_id);
    if (si < 0)
        return vs_err_set(e, VS_EINVAL, "monitors: unknown statement %s", statement_id);
    if (vs_catalogue_at((size_t)si)->role != VS_ROLE_DRIVER)
        return vs_err_set(e, VS_EINVAL, "monitors: %s is not a driver statement", statement_id);
    for (unsigned c = 0; c < m->n_local; c++) {
        if (vs_check_local(m, c)->role != VS_ROLE_DRIVER)
            continue;
        for (int k = 0; k < IDS_MAX; k++)
            if (m->sidx[c][k] == si) {
                if (!role_on(m, c))
                    return 0; /* driver role not monitored: nothing to record */
                bad(m, c, k,
                    (ctx){.queue = queue, .has_id = has_id, .id = id},
                    expected ? expected : "", "%s", seen ? seen : "");
                return 0;
            }
    }
    return vs_err_set(e, VS_EINVAL, "monitors: no driver check covers %s", statement_id);
}

void vs_monitors_set_sriov_capable(vs_monitors *m, bool on)
{
    if (m)
        m->sriov_capable = on;
}

void vs_monitors_set_offer_provoked(vs_monitors *m, uint64_t added, uint64_t withheld)
{
    if (m) {
        m->provoked_add = added;
        m->provoked_del = withheld;
    }
}

void vs_monitors_set_config_larger(vs_monitors *m, bool on)
{
    if (m)
        m->config_larger = on;
}

void vs_monitors_set_irq_latency(vs_monitors *m, uint64_t ns)
{
    if (m)
        m->irq_latency_ns = ns;
}

void vs_monitors_set_interrupts_observable(vs_monitors *m, bool on)
{
    if (m)
        m->irq_observable = on;
}

void vs_monitors_on_event(void *opaque, const vs_event *ev)
{
    vs_monitors *m = opaque;
    if (!m || !ev || m->finished)
        return;
    m->cur = ev;
    m->last_t = ev->t_ns;
    if (m->n_due && ev->kind != VS_EV_IRQ)
        for (uint32_t i = 0; i < MAX_QUEUES && m->n_due; i++)
            ei_due_expire(m, (int32_t)i, &m->q[i], false);
    cfg_gen_track(m, ev);
    switch (ev->kind) {
    case VS_EV_RESET: do_reset(m); break;
    case VS_EV_STATUS_WRITE: on_status_write(m, ev); break;
    case VS_EV_STATUS_READ: on_status_read(m, ev); break;
    case VS_EV_FEATURES_READ: on_features_read(m, ev); break;
    case VS_EV_FEATURES_WRITE: on_features_write(m, ev); break;
    case VS_EV_CONFIG_READ: on_config_access(m, ev, false); break;
    case VS_EV_CONFIG_WRITE: sud_on_action(m, ev); on_config_access(m, ev, true); break;
    case VS_EV_QUEUE_SETUP: on_queue_setup(m, ev); break;
    case VS_EV_QUEUE_DISABLE: {
        qstate *q = getq(m, ev->queue);
        if (q) {
            qr_on_disable(m, ev->queue, q);
            check_irq_required(m, ev->queue, q);
            pk_check_all(m, ev->queue, q);
            queue_drop(m, q);
        }
        break;
    }
    case VS_EV_AVAIL:
        sud_on_action(m, ev);
        gd_on_driver_action(m, ev);
        on_avail(m, ev);
        break;
    case VS_EV_PUBLISH: on_publish(m, ev); break;
    case VS_EV_KICK:
        sud_on_action(m, ev);
        gd_on_driver_action(m, ev);
        on_kick(m, ev, true);
        break;
    case VS_EV_KICK_SUPPRESSED: on_kick(m, ev, false); break;
    case VS_EV_FETCH: on_fetch(m, ev); break;
    case VS_EV_DEVICE_ERROR:
        m->dev_error_pending = true;
        m->dev_error_read_without = false;
        on_device_error(m);
        break;
    case VS_EV_USED:
        gd_after_spurious(m, false, ev->queue);
        on_used(m, ev);
        break;
    case VS_EV_USED_INVALID:
        if (ev->queue >= 0 && (uint32_t)ev->queue < MAX_QUEUES) {
            m->q[ev->queue].pk_lost = true;
            qr_fresh_failed(m, ev->queue, "an invalid used element");
        }
        if (used_invalid_is_idx_jump(m, ev))
            break;
        if (role_on(m, CK_USED_ID)) {
            qstate *q = getq(m, ev->queue);
            bad(m, CK_USED_ID, (q && q->setup && !q_split(q)) ? 1 : 0,
                (ctx){.queue = ev->queue, .has_id = true, .id = ev->id},
                "a valid used element", "%s", ev->text ? ev->text : "invalid used element");
        }
        break;
    case VS_EV_IRQ_MASK: on_irq_mask(m, ev); break;
    case VS_EV_IRQ: on_irq(m, ev); break;
    case VS_EV_USED_EVENT: on_used_event(m, ev); break;
    case VS_EV_CONFIG_CHANGE: m->cfg_irq_count++; break;
    case VS_EV_CONFIG_GEN: su_on_gen(m, ev->val); break;
    case VS_EV_STEP: vs_monitors_set_step(m, (uint32_t)ev->val, ev->text); break;
    default: break;
    }
    if (m->dev && m->dev->event)
        m->dev->event(m, ev);
    m->cur = NULL;
}

int vs_monitors_finish(vs_monitors *m, uint64_t negotiated_features, vs_err *e)
{
    if (!m)
        return vs_err_set(e, VS_EINVAL, "monitors: NULL");
    if (m->finished)
        return vs_err_set(e, VS_ESTATE, "monitors: finish called twice");
    end_window(m);
    if (m->dev && m->dev->finish)
        m->dev->finish(m);
    m->finished = true;
    vs_results *r = m->res;
    copy_str(r->scenario, sizeof r->scenario, m->scenario);
    r->n_scenarios = 1;
    for (size_t i = 0; i < r->n_stmt; i++) {
        vs_stmt_result *s = &r->stmt[i];
        if (s->violations) {
            s->verdict = VS_VERDICT_FAIL;
            snprintf(s->reason, sizeof s->reason, "%" PRIu64 " violation(s)", s->violations);
            continue;
        }
        if (s->verdict == VS_VERDICT_UNTESTABLE || s->verdict == VS_VERDICT_NO_CHECK)
            continue;
        bool app = true;
        vs_err fe = {0};
        if (vs_feature_expr_eval(m->device_id, s->st->feature, negotiated_features, &app,
                                 &fe) < 0)
            app = true;
        uint32_t area_dev = vs_catalogue_area_device(s->st->area);
        if (area_dev && area_dev != m->device_id)
            app = false;
        if (!app) {
            s->verdict = VS_VERDICT_NOT_APPLICABLE;
            snprintf(s->reason, sizeof s->reason, "feature expression '%s' false",
                     s->st->feature);
        } else if (!(m->roles & s->st->role)) {
            s->verdict = VS_VERDICT_NOT_EXERCISED;
            snprintf(s->reason, sizeof s->reason, "%s role not monitored",
                     vs_role_name(s->st->role));
        } else if (s->exercised) {
            s->verdict = VS_VERDICT_PASS;
            snprintf(s->reason, sizeof s->reason, "exercised %" PRIu64 " time(s)", s->exercised);
        } else {
            s->verdict = VS_VERDICT_NOT_EXERCISED;
            snprintf(s->reason, sizeof s->reason, "not exercised");
        }
    }
    vs_results_recount(r);
    return 0;
}

const vs_results *vs_monitors_results(const vs_monitors *m)
{
    return m && m->finished ? m->res : NULL;
}

uint64_t vs_monitors_violations(const vs_monitors *m) { return m ? m->violations : 0; }
