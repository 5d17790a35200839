/* Notifications: interrupts with and without EVENT_IDX (the used_event windows),
 * the driver's kicks and their suppression, used.flags. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/monitor_dev.h"

/* ------------------------------------------------------------ end-of-window checks */

/* EVENT_IDX, split, in-process device: is the used_event window of q being judged? The
 * device publishes and decides in one step of the simulation, so the used_event value it
 * read is the one the driver last published (VS_EV_USED_EVENT). */
static bool ei_judged(const vs_monitors *m, const qstate *q)
{
    return q->setup && q_split(q) && m->irq_observable && !m->async_device &&
           has(neg(m), VS_F_EVENT_IDX) && (m->status_w & VS_STATUS_DRIVER_OK) &&
           role_on(m, CK_IRQ_EI_REQUIRED);
}

/* Ends the current used_event window: if the used idx moved from at-or-before used_event
 * to past it while that value was published, the device crossed it and owes an interrupt
 * (by the end of the window + the interrupt latency, unless one came in the window). */
static void ei_close_window(vs_monitors *m, int32_t qi, qstate *q, bool reopen)
{
    uint16_t u;
    if (!ei_judged(m, q) || !used_idx_mem(m, q, &u)) {
        q->ue_known = false;
        return;
    }
    if (q->ue_known && vs_vq_need_event(q->ue, u, q->ue_base)) {
        uint16_t fl = 0;
        ld16(m, q->l.driver_gpa, &fl);
        bool flags_no_irq = fl & 1;
        if (q->irq_count > q->ue_irqs) {
            ok(m, CK_IRQ_EI_REQUIRED, 0);
            if (flags_no_irq)
                ok(m, CK_IRQ_EI_REQUIRED, 1);
        } else if (!q->due) {
            q->due = true;
            m->n_due++;
            q->due_flags = flags_no_irq;
            q->due_by = (m->cur ? m->cur->t_ns : m->last_t) + m->irq_latency_ns;
            q->due_ue = q->ue;
            q->due_idx = u;
        }
    }
    (void)qi;
    q->ue_known = false;
    if (reopen) {
        q->ue_known = true;
        q->ue_base = u;
        q->ue_irqs = q->irq_count;
    }
}

/* A crossing whose interrupt did not come within the latency window is a violation
 * (final: at a reset, queue disable or the end of the run, one still in time is dropped,
 * since a reset cancels pending interrupts). */
void ei_due_expire(vs_monitors *m, int32_t qi, qstate *q, bool final)
{
    if (!q->due)
        return;
    uint64_t now = m->cur ? m->cur->t_ns : m->last_t;
    if (now <= q->due_by && !final)
        return;
    if (now > q->due_by) {
        ctx cx = {.queue = qi, .has_idx = true, .idx = q->due_idx};
        bad(m, CK_IRQ_EI_REQUIRED, 0, cx, "an interrupt once used idx passes used_event",
            "used idx reached %u past used_event %u; no interrupt within %" PRIu64 " ns",
            q->due_idx, q->due_ue, m->irq_latency_ns);
        if (q->due_flags)
            bad(m, CK_IRQ_EI_REQUIRED, 1, cx, "avail.flags NO_INTERRUPT disregarded with EVENT_IDX",
                "no interrupt for used idx %u past used_event %u while avail.flags had "
                "NO_INTERRUPT", q->due_idx, q->due_ue);
    }
    q->due = false;
    if (m->n_due)
        m->n_due--;
}

void on_used_event(vs_monitors *m, const vs_event *ev)
{
    qstate *q = getq(m, ev->queue);
    if (!q || !q->setup)
        return;
    ei_close_window(m, ev->queue, q, true);
    if (q->ue_known)
        q->ue = (uint16_t)ev->idx;
}

/* Entries the driver collected while interrupts were enabled must have been announced
 * (split only; evaluated at reset, queue disable and finish). */
void check_irq_required(vs_monitors *m, int32_t qi, qstate *q)
{
    if (!q->setup || !q_split(q) || !m->irq_observable || m->async_device || q->masked)
        return;
    if (!(m->status_w & VS_STATUS_DRIVER_OK))
        return;
    uint16_t covered = q->irq_base;
    if (ahead16(q->unmask_base, covered))
        covered = q->unmask_base;
    if (has(neg(m), VS_F_EVENT_IDX)) {
        ei_close_window(m, qi, q, false);
        ei_due_expire(m, qi, q, true);
    } else {
        if (!role_on(m, CK_IRQ_FLAGS_REQUIRED))
            return;
        /* Would used_event (which the device must disregard) have suppressed it? */
        uint16_t ue;
        bool ue_says_no = ld16(m, q->l.driver_gpa + 4 + 2ull * q->l.size, &ue) &&
                          !vs_vq_need_event(ue, q->collected, covered);
        if (ahead16(q->collected, covered)) {
            ctx cx = {.queue = qi, .has_idx = true, .idx = q->collected};
            bad(m, CK_IRQ_FLAGS_REQUIRED, 0, cx,
                "an interrupt after used entries while avail.flags = 0",
                "used idx %u, last interrupt covered %u", q->collected, covered);
            if (ue_says_no)
                bad(m, CK_IRQ_FLAGS_REQUIRED, 1, cx, "used_event disregarded without EVENT_IDX",
                    "no interrupt for used idx %u -> %u; used_event %u would suppress it",
                    covered, q->collected, ue);
        } else if (q->irq_count) {
            ok(m, CK_IRQ_FLAGS_REQUIRED, 0);
            ok(m, CK_IRQ_FLAGS_REQUIRED, 1);
        }
    }
}

void on_kick(vs_monitors *m, const vs_event *ev, bool sent)
{
    qstate *q = getq(m, ev->queue);
    ctx cx = qctx(ev->queue);
    if (m->backend_view)
        return; /* no status register; kick timing unknown (see set_backend_view) */
    if (sent && role_on(m, CK_D_KICK_EARLY)) {
        if (!(m->status_w & VS_STATUS_DRIVER_OK))
            bad(m, CK_D_KICK_EARLY, 0, cx, "no notification before DRIVER_OK",
                "kick with status 0x%02x", m->status_w);
        else
            ok(m, CK_D_KICK_EARLY, 0);
    }
    if (!q || !q->setup || !q_split(q))
        return;
    bool ei = has(neg(m), VS_F_EVENT_IDX);
    bool need;
    uint16_t v;
    if (ei) {
        if (!ld16(m, q->l.device_gpa + 4 + 8ull * q->l.size, &v))
            return;
        need = vs_vq_need_event(v, q->avail_pub, q->kick_base);
    } else {
        if (!ld16(m, q->l.device_gpa, &v))
            return;
        need = !(v & 1);
    }
    if (sent && q->avail_pub == q->kick_base)
        m->spurious_kick = true; /* legal; the device must cope (no-error-on-legal-input) */
    if (q->avail_pub != q->kick_base || !sent) {
        if (sent && !need && role_on(m, CK_D_KICK_UNNEEDED))
            bad(m, CK_D_KICK_UNNEEDED, ei, cx, "no notification the device suppressed",
                ei ? "kick with avail_event %u not crossed (%u -> %u)" : "kick with used.flags 0x%x",
                v, q->kick_base, q->avail_pub);
        else if (sent && role_on(m, CK_D_KICK_UNNEEDED))
            ok(m, CK_D_KICK_UNNEEDED, ei);
        if (!sent && need && q->avail_pub != q->kick_base && role_on(m, CK_D_KICK_NEEDED)) {
            bad(m, CK_D_KICK_NEEDED, ei, cx, "a notification the device asked for",
                ei ? "suppressed although avail_event %u crossed (%u -> %u)"
                   : "suppressed with used.flags 0x%x (%u -> %u)",
                v, q->kick_base, q->avail_pub);
            bad(m, CK_D_KICK_NEEDED, ei ? 3 : 2, cx, "a notification the device asked for",
                "suppressed (%s)", ei ? "used.flags must be disregarded" : "avail_event must be disregarded");
        } else if (role_on(m, CK_D_KICK_NEEDED)) {
            ok(m, CK_D_KICK_NEEDED, ei);
            ok(m, CK_D_KICK_NEEDED, ei ? 3 : 2);
        }
    }
    q->kick_base = q->avail_pub;
}

void on_irq_mask(vs_monitors *m, const vs_event *ev)
{
    qstate *q = getq(m, ev->queue);
    if (!q || !q->setup)
        return;
    uint16_t u = q->collected;
    used_idx_mem(m, q, &u);
    if (ev->val) {
        q->masked = true;
        q->used_at_mask = u;
    } else {
        q->masked = false;
        q->unmask_base = u;
    }
}

void on_irq(vs_monitors *m, const vs_event *ev)
{
    if (ev->queue < 0) {
        m->cfg_irq_count++;
        if (m->su == SU_DONE && role_on(m, CK_SUSPEND) && !m->su_cfg_irq_reported) {
            m->su_cfg_irq_reported = true;
            bad(m, CK_SUSPEND, 2, NOCTX, "no config interrupt while suspended",
                "config interrupt while the device showed SUSPEND");
        }
        return;
    }
    qstate *q = getq(m, ev->queue);
    device_gate(m, ev, q, "queue interrupt");
    if (q && q->setup && !q_split(q))
        pk_check_recent(m, ev->queue, q);
    if (!q || !q->setup || !q_split(q))
        return;
    q->irq_count++;
    gd_on_irq(m, q);
    if (q->due) {
        ok(m, CK_IRQ_EI_REQUIRED, 0);
        if (q->due_flags)
            ok(m, CK_IRQ_EI_REQUIRED, 1);
        q->due = false;
        if (m->n_due)
            m->n_due--;
    }
    uint16_t cur;
    if (!used_idx_mem(m, q, &cur))
        return;
    ctx cx = (ctx){.queue = ev->queue, .has_idx = true, .idx = cur};
    ring_flags_check(m, CK_USED_FLAGS, q->l.device_gpa, "used", cx);
    if (m->async_device) {
        /* seen after the fact: nothing to attribute */
    } else if (has(neg(m), VS_F_EVENT_IDX)) {
        uint16_t ue;
        if (role_on(m, CK_IRQ_EI_SPURIOUS) && cur != q->irq_base &&
            ld16(m, q->l.driver_gpa + 4 + 2ull * q->l.size, &ue)) {
            if (!vs_vq_need_event(ue, cur, q->irq_base))
                bad(m, CK_IRQ_EI_SPURIOUS, 0, cx, "interrupt only when used_event is crossed",
                    "interrupt for used idx %u -> %u with used_event %u", q->irq_base, cur, ue);
            else
                ok(m, CK_IRQ_EI_SPURIOUS, 0);
        }
    } else if (role_on(m, CK_IRQ_FLAGS_SUPPRESSED)) {
        if (q->masked && cur != q->used_at_mask)
            bad(m, CK_IRQ_FLAGS_SUPPRESSED, 0, cx, "no interrupt while NO_INTERRUPT is set",
                "interrupt after used idx %u -> %u while suppressed", q->used_at_mask, cur);
        else if (q->masked)
            ok(m, CK_IRQ_FLAGS_SUPPRESSED, 0);
    }
    q->irq_base = cur;
    if (q->masked)
        q->used_at_mask = cur;
}
