/* suspend-honoured (VIRTIO_F_SUSPEND): the handshake, silence while suspended, config
 * changes notified after the resume. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/monitor_dev.h"

/* ------------------------------------------------------------ suspend */

static uint64_t su_rings_hash(vs_monitors *m, bool *okp)
{
    uint64_t acc = FNV0;
    *okp = true;
    for (uint32_t i = 0; i < MAX_QUEUES; i++) {
        uint64_t h;
        if (!m->q[i].setup)
            continue;
        if (!qr_hash(m, &m->q[i].l, &h))
            *okp = false;
        acc = hash_words(acc, (const uint8_t *)&h, sizeof h);
    }
    return acc;
}

/* A config change seen during a suspension must be notified once the device resumed. */
static void su_judge_cfg(vs_monitors *m)
{
    if (!m->su_cfg_changed || !m->su_resumed)
        return;
    if (m->cfg_irq_count > m->su_cfg_irq_at_resume)
        ok(m, CK_SUSPEND, 3);
    else
        bad(m, CK_SUSPEND, 3, NOCTX, "a config change made while suspended notified on resume",
            "config generation changed during the suspension; no config interrupt since the "
            "resume");
    m->su_cfg_changed = m->su_resumed = false;
}

/* ------------------------------------------------------------ the driver's side */

static void sud_bad(vs_monitors *m, int k, const char *want, const char *seen)
{
    m->sud_broke[k] = true;
    bad(m, CK_D_SUSPEND, k, NOCTX, want, "%s", seen);
}

static void sud_on_write(vs_monitors *m, uint8_t base, uint8_t v)
{
    uint8_t added = v & ~base;
    if (added & VS_STATUS_SUSPEND) {
        if (!(base & VS_STATUS_DRIVER_OK) || !has(neg(m), VS_F_SUSPEND)) {
            sud_bad(m, 0, "SUSPEND only with DRIVER_OK set and VIRTIO_F_SUSPEND negotiated",
                    !(base & VS_STATUS_DRIVER_OK) ? "SUSPEND written before DRIVER_OK"
                                                   : "SUSPEND written, feature not negotiated");
            return;
        }
        ok(m, CK_D_SUSPEND, 0);
        m->sud = SUD_REQ;
        memset(m->sud_broke, 0, sizeof m->sud_broke);
    } else if ((m->sud == SUD_REQ || m->sud == SUD_SHOWN) && (v & VS_STATUS_DRIVER_OK)) {
        /* the resume (the request itself carried DRIVER_OK as well, but added SUSPEND) */
        if (m->sud == SUD_REQ)
            sud_bad(m, 1, "status read back showing the suspension before resuming",
                    "resumed without a status read showing SUSPEND set and DRIVER_OK clear");
        else
            ok(m, CK_D_SUSPEND, 1);
        for (int k = 2; k < 5; k++)
            if (!m->sud_broke[k])
                ok(m, CK_D_SUSPEND, k);
        m->sud = SUD_RESUMING;
    }
}

static void sud_on_read(vs_monitors *m, uint8_t v)
{
    if (v & VS_STATUS_DEVICE_NEEDS_RESET)
        m->sud = SUD_NONE;
    else if (m->sud == SUD_REQ && (v & VS_STATUS_SUSPEND) && !(v & VS_STATUS_DRIVER_OK))
        m->sud = SUD_SHOWN;
    else if (m->sud == SUD_RESUMING && (v & VS_STATUS_DRIVER_OK) && !(v & VS_STATUS_SUSPEND)) {
        if (!m->sud_broke[5])
            ok(m, CK_D_SUSPEND, 5);
        m->sud = SUD_NONE;
    }
}

void sud_on_action(vs_monitors *m, const vs_event *ev)
{
    if (m->sud == SUD_NONE || !role_on(m, CK_D_SUSPEND) || m->backend_view)
        return;
    static const char *const what[] = {"buffers exposed", "a notification", "a config write"};
    int w = ev->kind == VS_EV_KICK ? 1 : ev->kind == VS_EV_CONFIG_WRITE ? 2 : 0;
    char seen[96];
    if (m->sud == SUD_RESUMING) {
        snprintf(seen, sizeof seen, "%s before status showed the resume", what[w]);
        sud_bad(m, 5, "nothing until status shows DRIVER_OK without SUSPEND", seen);
    } else {
        snprintf(seen, sizeof seen, "%s after SUSPEND was requested", what[w]);
        sud_bad(m, 2 + w, "no buffers, notifications or config writes while suspending", seen);
    }
}

void su_on_write(vs_monitors *m, uint8_t v)
{
    uint8_t base = m->su_base;
    m->su_base = v;
    if (role_on(m, CK_D_SUSPEND) && !m->backend_view)
        sud_on_write(m, base, v);
    if (!has(neg(m), VS_F_SUSPEND) || !role_on(m, CK_SUSPEND))
        return;
    uint8_t added = v & ~base;
    uint64_t now = m->cur ? m->cur->t_ns : m->last_t;
    if ((added & VS_STATUS_SUSPEND) && !(base & VS_STATUS_DRIVER_OK)) {
        m->su_early = true;
    } else if ((added & VS_STATUS_SUSPEND) && m->su == SU_NONE) {
        su_judge_cfg(m);
        m->su = SU_REQ;
        m->su_t = now;
        m->su_reads = 0;
    } else if (m->su == SU_DONE && (v & VS_STATUS_DRIVER_OK)) {
        bool hok;
        uint64_t h = su_rings_hash(m, &hok);
        if (m->su_hash_ok && hok && h != m->su_hash)
            bad(m, CK_SUSPEND, 1, NOCTX, "the rings untouched while suspended",
                "ring memory the device writes changed while the device showed SUSPEND");
        else if (m->su_hash_ok && hok)
            ok(m, CK_SUSPEND, 1);
        m->su = SU_RESUMING;
        m->su_t = now;
        m->su_reads = 0;
        m->su_cfg_irq_at_resume = m->cfg_irq_count;
    }
}

void su_on_read(vs_monitors *m, uint8_t v)
{
    m->su_base = v;
    sud_on_read(m, v);
    if (!has(neg(m), VS_F_SUSPEND) || !role_on(m, CK_SUSPEND))
        return;
    uint64_t now = m->cur ? m->cur->t_ns : m->last_t;
    if (m->su_early) {
        m->su_early = false;
        if (v & VS_STATUS_SUSPEND)
            bad(m, CK_SUSPEND, 0, NOCTX, "SUSPEND before DRIVER_OK disregarded",
                "status 0x%02x shows SUSPEND written before DRIVER_OK", v);
        else
            ok(m, CK_SUSPEND, 0);
    }
    if (m->su != SU_REQ && m->su != SU_RESUMING)
        return;
    bool req = m->su == SU_REQ;
    int k = req ? 4 : 5;
    bool done = req ? (v & VS_STATUS_SUSPEND) && !(v & VS_STATUS_DRIVER_OK)
                    : (v & VS_STATUS_DRIVER_OK) && !(v & VS_STATUS_SUSPEND);
    if ((v & VS_STATUS_DEVICE_NEEDS_RESET) || done) {
        ok(m, CK_SUSPEND, k);
        m->su = done && req ? SU_DONE : SU_NONE;
        if (done && req) {
            m->su_hash = su_rings_hash(m, &m->su_hash_ok);
            m->su_gate_reported = m->su_cfg_irq_reported = false;
        }
        if (done && !req)
            m->su_resumed = true;
        return;
    }
    if (++m->su_reads > SUSPEND_SETTLE_READS || now - m->su_t > SUSPEND_SETTLE_NS) {
        bad(m, CK_SUSPEND, k, NOCTX,
            req ? "SUSPEND shown (DRIVER_OK clear) or DEVICE_NEEDS_RESET"
                : "DRIVER_OK shown (SUSPEND clear) or DEVICE_NEEDS_RESET",
            "status 0x%02x after %" PRIu32 " reads and %" PRIu64 " ns", v, m->su_reads,
            now - m->su_t);
        m->su = SU_NONE;
    }
}

void su_on_gen(vs_monitors *m, uint64_t gen)
{
    if (m->gen_known && gen != m->gen_last && (m->su == SU_DONE || m->su == SU_RESUMING))
        m->su_cfg_changed = true;
    m->gen_known = true;
    m->gen_last = gen;
}

/* End of a run or reset: a handshake the device never finished, a pending notification. */
void su_end(vs_monitors *m)
{
    if (role_on(m, CK_SUSPEND) && (m->su == SU_REQ || m->su == SU_RESUMING) && m->su_reads)
        bad(m, CK_SUSPEND, m->su == SU_REQ ? 4 : 5, NOCTX,
            m->su == SU_REQ ? "the suspend completes" : "the resume completes",
            "status never showed it (%" PRIu32 " reads)", m->su_reads);
    if (role_on(m, CK_SUSPEND))
        su_judge_cfg(m);
    m->su = SU_NONE;
    m->sud = SUD_NONE;
    m->su_early = m->su_cfg_changed = m->su_resumed = false;
    m->su_base = 0;
}
