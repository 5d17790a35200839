/* Queue setup (driver ring checks) and the device gate: nothing fetched, used or
 * interrupted before DRIVER_OK, after a reset, for a reset queue or while suspended. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/monitor_dev.h"

/* ------------------------------------------------------------ queues */

void on_queue_setup(vs_monitors *m, const vs_event *ev)
{
    qstate *q = getq(m, ev->queue);
    if (!q || !ev->layout)
        return;
    bool reenable = m->qr[ev->queue].await_enable; /* set up again after a queue reset */
    qr_on_setup(m, ev->queue, ev->layout->size);
    queue_drop(m, q);
    q->l = *ev->layout;
    q->byid = calloc(ID_SPACE, sizeof *q->byid);
    if (!q->byid)
        return;
    q->setup = true;
    if (reenable)
        gd_on_reenable(m, ev->queue, q);
    ctx cx = qctx(ev->queue);
    bool packed = q->l.format == VS_RING_PACKED;
    if (role_on(m, CK_D_RING_ALIGN)) {
        uint32_t da = packed ? 4 : 2;
        if (q->l.desc_gpa % 16 || q->l.driver_gpa % da || q->l.device_gpa % 4)
            bad(m, CK_D_RING_ALIGN, packed, cx, packed ? "alignment 16/4/4" : "alignment 16/2/4",
                "desc 0x%" PRIx64 " driver 0x%" PRIx64 " device 0x%" PRIx64, q->l.desc_gpa,
                q->l.driver_gpa, q->l.device_gpa);
        else
            ok(m, CK_D_RING_ALIGN, packed);
    }
    if (!packed && role_on(m, CK_D_USED_FLAGS_ZERO)) {
        uint16_t fl;
        if (ld16(m, q->l.device_gpa, &fl)) {
            if (fl)
                bad(m, CK_D_USED_FLAGS_ZERO, 0, cx, "used.flags 0 at setup", "used.flags 0x%x", fl);
            else
                ok(m, CK_D_USED_FLAGS_ZERO, 0);
        }
    }
    if (role_on(m, CK_D_ADDR_RAM) && !has(neg(m), VS_F_ACCESS_PLATFORM)) {
        vs_vq_area_sizes s;
        if (vs_vq_area_sizes_for(q->l.format, q->l.size, &s, NULL) == 0) {
            if (!vs_gmem_span_ok(m->gm, q->l.desc_gpa, s.desc_bytes, VS_GMEM_READ) ||
                !vs_gmem_span_ok(m->gm, q->l.driver_gpa, s.driver_bytes, VS_GMEM_READ) ||
                !vs_gmem_span_ok(m->gm, q->l.device_gpa, s.device_bytes, VS_GMEM_READ))
                bad(m, CK_D_ADDR_RAM, 0, cx, "ring areas inside guest RAM",
                    "desc 0x%" PRIx64 " driver 0x%" PRIx64 " device 0x%" PRIx64, q->l.desc_gpa,
                    q->l.driver_gpa, q->l.device_gpa);
            else
                ok(m, CK_D_ADDR_RAM, 0);
        }
    }
    if (role_on(m, CK_D_INIT_ORDER) && !m->backend_view) {
        if (!m->fok_confirmed && !m->fok_refused)
            bad(m, CK_D_INIT_ORDER, 0, cx, "queue setup after FEATURES_OK was read back",
                "queue setup with status 0x%02x", m->status_w);
        else
            ok(m, CK_D_INIT_ORDER, 0);
    }
    if (m->fok_refused && role_on(m, CK_D_ABANDON))
        bad(m, CK_D_ABANDON, 0, cx, "no queue setup after FEATURES_OK was refused",
            "queue %" PRId32 " set up", ev->queue);
    if (packed && q->l.size) {
        q->pk_snap = calloc(q->l.size, 16);
        q->pk_snap_ok = calloc(q->l.size, sizeof *q->pk_snap_ok);
        if (!q->pk_snap || !q->pk_snap_ok)
            q->pk_lost = true;
        q->pd_wrap = true; /* the driver's ring wrap counter starts at 1 */
        if (m->backend_view) { /* the ring's base (slot | wrap << 15): where the device starts */
            q->pd_slot = (uint16_t)((ev->idx & 0x7fffu) % q->l.size);
            q->pd_wrap = (ev->idx & 0x8000u) != 0;
        }
    }
    if (!packed) {
        uint16_t u = 0;
        ld16(m, q->l.device_gpa + 2, &u);
        q->collected = q->irq_base = q->unmask_base = q->used_at_mask = u;
        if (m->backend_view)
            q->avail_pub = (uint16_t)ev->idx; /* the ring's base: where the device starts */
        else
            ld16(m, q->l.driver_gpa + 2, &q->avail_pub);
        q->kick_base = q->avail_pub;
    }
}

void device_gate(vs_monitors *m, const vs_event *ev, qstate *q, const char *what)
{
    ctx cx = qctx(ev->queue);
    if (m->su == SU_DONE && ev->kind != VS_EV_USED && role_on(m, CK_SUSPEND) &&
        !m->su_gate_reported) { /* a USED is the driver collecting: not the device */
        m->su_gate_reported = true;
        bad(m, CK_SUSPEND, 1, cx, "nothing while suspended", "%s while suspended", what);
    }
    if (role_on(m, CK_BEFORE_DRIVER_OK)) {
        if (!(m->status_w & VS_STATUS_DRIVER_OK))
            bad(m, CK_BEFORE_DRIVER_OK, 0, cx, "nothing before DRIVER_OK",
                "%s with status 0x%02x", what, m->status_w);
        else
            ok(m, CK_BEFORE_DRIVER_OK, 0);
    }
    if (ev->queue >= 0 && (uint32_t)ev->queue < MAX_QUEUES && m->qr[ev->queue].await_enable &&
        role_on(m, CK_QRESET)) {
        if (!m->qr[ev->queue].gate_reported)
            bad(m, CK_QRESET, 0, cx, "nothing for a queue after its reset",
                "%s on queue %" PRId32 " after its queue reset", what, ev->queue);
        m->qr[ev->queue].gate_reported = true;
        return;
    }
    if (role_on(m, CK_AFTER_RESET) && m->after_reset) {
        if (!q || !q->setup)
            bad(m, CK_AFTER_RESET, 0, cx, "silence after reset until queue setup",
                "%s on a queue not set up since reset", what);
        else
            ok(m, CK_AFTER_RESET, 0);
    }
}
