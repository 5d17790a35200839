/* The device status machine: status writes and reads (driver init order, reset,
 * FEATURES_OK, NEEDS_RESET), the feature offer and the driver's acceptance, the device
 * error path, and the checks that close a window (reset, end of run). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/monitor_dev.h"

/* A window of the device's life ends (reset, end of run): the checks that wait for it. */
void end_window(vs_monitors *m)
{
    su_end(m);
    for (uint32_t i = 0; i < MAX_QUEUES; i++) {
        qr_judge_old(m, (int32_t)i, true);
        m->qr[i].await_enable = m->qr[i].fresh = false;
    }
    for (uint32_t i = 0; i < MAX_QUEUES; i++) {
        check_irq_required(m, (int32_t)i, &m->q[i]);
        pk_check_all(m, (int32_t)i, &m->q[i]);
    }
    if (m->needs_reset_pending && role_on(m, CK_NEEDS_RESET_IRQ)) {
        if (m->cfg_irq_count > m->cfg_irq_at_driver_ok)
            ok(m, CK_NEEDS_RESET_IRQ, 0);
        else
            bad(m, CK_NEEDS_RESET_IRQ, 0, NOCTX, "a config-change interrupt",
                "DEVICE_NEEDS_RESET with DRIVER_OK set and no config interrupt");
        m->needs_reset_pending = false;
    }
    if (m->dev_error_pending && m->dev_error_read_without && role_on(m, CK_ERROR_NEEDS_RESET))
        bad(m, CK_ERROR_NEEDS_RESET, 0, NOCTX, "DEVICE_NEEDS_RESET after a device error",
            "status reads without DEVICE_NEEDS_RESET");
    m->dev_error_pending = false;
    m->dev_error_read_without = false;
    gd_end(m);
}

/* ------------------------------------------------------------ feature tables */

/* Legacy-only bits: NOTIFY_ON_EMPTY, ANY_LAYOUT, BAD_FEATURE, and the device's own. */
static bool legacy_bit(const vs_monitors *m, unsigned bit)
{
    if (bit == 24 || bit == 27 || bit == 30)
        return true;
    return m->dev && has(m->dev->legacy_features, bit);
}

uint64_t offer_invalid_bits(const vs_monitors *m, uint64_t f)
{
    uint64_t badbits = 0;
    for (unsigned b = 0; b < 64; b++)
        if (has(f, b) && (legacy_bit(m, b) || !vs_feature_name(m->device_id, b)))
            badbits |= VS_BIT(b);
    return badbits;
}

void on_features_read(vs_monitors *m, const vs_event *ev)
{
    m->offered = ev->val;
    m->offered_known = true;
    gd_on_features_read(m, ev->val);
    if (m->offer_checked_valid && m->offer_checked == ev->val)
        return;
    m->offer_checked = ev->val;
    m->offer_checked_valid = true;
    uint64_t f = ev->val;
    if (role_on(m, CK_OFFER_VALID)) {
        uint64_t b = offer_invalid_bits(m, f) & ~m->provoked_add;
        if (b)
            bad(m, CK_OFFER_VALID, 0, NOCTX, "only defined, non-legacy feature bits",
                "offered 0x%016" PRIx64 ", invalid bits 0x%016" PRIx64, f, b);
        else
            ok(m, CK_OFFER_VALID, 0);
    }
    if (role_on(m, CK_OFFER_VERSION_1) && !has(m->provoked_del, VS_F_VERSION_1)) {
        if (has(f, VS_F_VERSION_1))
            ok(m, CK_OFFER_VERSION_1, 0);
        else
            bad(m, CK_OFFER_VERSION_1, 0, NOCTX, "VIRTIO_F_VERSION_1 (bit 32) offered",
                "offered 0x%016" PRIx64, f);
    }
    if (role_on(m, CK_OFFER_SR_IOV) && !has(m->provoked_add, VS_F_SR_IOV)) {
        if (has(f, VS_F_SR_IOV) && !m->sriov_capable)
            bad(m, CK_OFFER_SR_IOV, 0, NOCTX, "VIRTIO_F_SR_IOV only with an SR-IOV capability",
                "VIRTIO_F_SR_IOV (bit 37) offered (0x%016" PRIx64 ") without one", f);
        else
            ok(m, CK_OFFER_SR_IOV, 0);
    }
    if (m->dev && m->dev->features_offered)
        m->dev->features_offered(m, f);
}

void on_features_write(vs_monitors *m, const vs_event *ev)
{
    uint64_t f = ev->val;
    if (role_on(m, CK_D_FEAT_FROZEN) && m->fok_written) {
        if (f != m->drv_features)
            bad(m, CK_D_FEAT_FROZEN, 0, NOCTX, "driver features unchanged after FEATURES_OK",
                "0x%016" PRIx64 " -> 0x%016" PRIx64, m->drv_features, f);
        else
            ok(m, CK_D_FEAT_FROZEN, 0);
    }
    if (role_on(m, CK_D_INIT_ORDER) && !m->backend_view) {
        if (!(m->status_w & VS_STATUS_DRIVER))
            bad(m, CK_D_INIT_ORDER, 0, NOCTX,
                "features written after DRIVER and before FEATURES_OK",
                "features written with status 0x%02x", m->status_w);
        else
            ok(m, CK_D_INIT_ORDER, 0);
    }
    if (m->offered_known) {
        uint64_t off = m->offered;
        /* Backend view: what the driver was offered is the front-end's business. */
        bool offer_seen = !m->backend_view || m->fe_mask_known;
        if (m->backend_view)
            off &= m->fe_mask_known ? m->fe_mask : ~0ull;
        if (role_on(m, CK_D_FEAT_SUBSET)) {
            if (f & ~off)
                bad(m, CK_D_FEAT_SUBSET, 0, NOCTX, "driver features within the offered set",
                    "accepted 0x%016" PRIx64 " not offered (offered 0x%016" PRIx64 ")",
                    f & ~off, off);
            else
                ok(m, CK_D_FEAT_SUBSET, 0);
        }
        if (offer_seen && role_on(m, CK_D_ACCEPT_VERSION_1) && has(off, VS_F_VERSION_1)) {
            if (has(f, VS_F_VERSION_1))
                ok(m, CK_D_ACCEPT_VERSION_1, 0);
            else
                bad(m, CK_D_ACCEPT_VERSION_1, 0, NOCTX, "VERSION_1 accepted when offered",
                    "driver features 0x%016" PRIx64, f);
        }
        if (offer_seen && role_on(m, CK_D_ACCEPT_RECOMMENDED)) {
            /* the generic bits, then the device extension's */
            static const vs_mon_recommend rec[] = {
                {VS_F_ACCESS_PLATFORM, 0}, {VS_F_RING_PACKED, 1},
                {VS_F_ORDER_PLATFORM, 2}, {VS_F_NOTIF_CONFIG_DATA, 3},
            };
            size_t n_gen = sizeof rec / sizeof rec[0];
            size_t n_dev = m->dev ? m->dev->n_recommended : 0;
            for (size_t i = 0; i < n_gen + n_dev; i++) {
                const vs_mon_recommend *r = i < n_gen ? &rec[i] : &m->dev->recommended[i - n_gen];
                if (!has(off, r->bit))
                    continue;
                if (has(f, r->bit))
                    ok(m, CK_D_ACCEPT_RECOMMENDED, r->k);
                else
                    bad(m, CK_D_ACCEPT_RECOMMENDED, r->k, NOCTX,
                        "offered feature accepted", "%s offered but not accepted",
                        vs_feature_name(m->device_id, r->bit));
            }
        }
    }
    if (role_on(m, CK_D_FEAT_RESERVED)) {
        uint64_t b = offer_invalid_bits(m, f);
        if (b)
            bad(m, CK_D_FEAT_RESERVED, 0, NOCTX, "no undefined or reserved bits accepted",
                "accepted 0x%016" PRIx64 ", invalid 0x%016" PRIx64, f, b);
        else
            ok(m, CK_D_FEAT_RESERVED, 0);
    }
    gd_on_features_write(m, f);
    m->drv_features = f;
    m->drv_features_written = true;
}

/* ------------------------------------------------------------ status */

void do_reset(vs_monitors *m)
{
    end_window(m);
    if (m->dev && m->dev->reset) /* the device has stopped: requests in flight are over */
        m->dev->reset(m);
    for (uint32_t i = 0; i < MAX_QUEUES; i++)
        queue_drop(m, &m->q[i]);
    m->status_w = 0;
    m->failed_written = false;
    m->after_reset = true;
    m->await_reset_read = true;
    m->reset_zero_read = false;
    m->reset_nonzero_reads = 0;
    m->reset_t = m->cur ? m->cur->t_ns : m->last_t;
    m->saw_zero_after_reset = false;
    m->reset_seen = true;
    m->drv_features_written = false;
    m->fok_written = m->fok_confirmed = m->fok_await_read = m->fok_refused = false;
    m->needs_reset_pending = false;
    m->spurious_kick = m->error_judged = false;
    for (uint32_t i = 0; m->early && i < m->dev->cfg_early_bytes; i++)
        m->early[i].known = false;
}

void on_status_write(vs_monitors *m, const vs_event *ev)
{
    uint8_t v = (uint8_t)ev->val, cur = m->status_w;
    if (v == 0) {
        if (m->status_w != 0 || !m->await_reset_read)
            do_reset(m);
        return;
    }
    su_on_write(m, v);
    m->await_reset_read = false; /* a write ends the settle window */
    bool suspend = has(neg(m), VS_F_SUSPEND);
    if (role_on(m, CK_D_STATUS_MONOTONIC) && !suspend) {
        if ((v & cur) != cur)
            bad(m, CK_D_STATUS_MONOTONIC, 0, NOCTX, "status bits only added",
                "status 0x%02x written over 0x%02x", v, cur);
        else
            ok(m, CK_D_STATUS_MONOTONIC, 0);
    }
    uint8_t added = v & ~cur;
    if (role_on(m, CK_D_FAILED_RESET) && m->failed_written && !(v & VS_STATUS_FAILED))
        bad(m, CK_D_FAILED_RESET, 0, NOCTX, "a reset (status 0) after FAILED",
            "status 0x%02x written after FAILED without reset", v);
    else if (role_on(m, CK_D_FAILED_RESET) && (added & VS_STATUS_ACKNOWLEDGE) && m->reset_seen)
        ok(m, CK_D_FAILED_RESET, 0);
    if (role_on(m, CK_D_RESET_WAIT) && (added & VS_STATUS_ACKNOWLEDGE) && m->reset_seen) {
        if (m->saw_zero_after_reset)
            ok(m, CK_D_RESET_WAIT, 0);
        else
            bad(m, CK_D_RESET_WAIT, 0, NOCTX, "status read back as 0 before ACKNOWLEDGE",
                "ACKNOWLEDGE written without a 0 status read after reset");
    }
    if (role_on(m, CK_D_INIT_ORDER)) {
        const char *why = NULL;
        uint8_t have = cur | (v & ~added);
        if ((added & VS_STATUS_DRIVER) && !((have | added) & VS_STATUS_ACKNOWLEDGE))
            why = "DRIVER before ACKNOWLEDGE";
        else if ((added & VS_STATUS_FEATURES_OK) && !((have | added) & VS_STATUS_DRIVER))
            why = "FEATURES_OK before DRIVER";
        else if ((added & VS_STATUS_FEATURES_OK) && !m->drv_features_written)
            why = "FEATURES_OK before the driver features were written";
        else if ((added & VS_STATUS_DRIVER_OK) && !((have | added) & VS_STATUS_FEATURES_OK))
            why = "DRIVER_OK before FEATURES_OK";
        else if ((added & VS_STATUS_DRIVER_OK) && !m->fok_confirmed)
            why = "DRIVER_OK before FEATURES_OK was read back";
        if (why) {
            bad(m, CK_D_INIT_ORDER, 0, NOCTX,
                "ACKNOWLEDGE, DRIVER, features, FEATURES_OK, re-read, setup, DRIVER_OK", "%s", why);
            bad(m, CK_D_INIT_ORDER, 1, NOCTX, "status bits set in initialization order", "%s",
                why);
        } else if (added & (VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK |
                            VS_STATUS_DRIVER_OK)) {
            ok(m, CK_D_INIT_ORDER, 0);
            ok(m, CK_D_INIT_ORDER, 1);
        }
    }
    if (m->fok_refused && role_on(m, CK_D_ABANDON)) {
        if (added & VS_STATUS_DRIVER_OK) {
            bad(m, CK_D_ABANDON, 0, NOCTX, "no DRIVER_OK after FEATURES_OK was refused",
                "DRIVER_OK written");
            /* going on is not signalling the failure: FAILED was not written first */
            if (!m->failed_written)
                bad(m, CK_D_ABANDON, 1, NOCTX, "FAILED written after FEATURES_OK was refused",
                    "DRIVER_OK written, FAILED never");
        }
        if (added & VS_STATUS_FAILED) { /* gave up: both halves observed kept */
            ok(m, CK_D_ABANDON, 0);
            ok(m, CK_D_ABANDON, 1);
        }
    }
    gd_on_status_added(m, added);
    if (added & VS_STATUS_FAILED)
        gd_after_spurious(m, true, -1);
    if (added & VS_STATUS_FAILED)
        m->failed_written = true;
    if (added & VS_STATUS_FEATURES_OK) {
        m->fok_written = true;
        m->fok_await_read = true;
    }
    if (added & VS_STATUS_DRIVER_OK)
        m->cfg_irq_at_driver_ok = m->cfg_irq_count;
    m->status_w = v;
}

/* The device took its error path (DEVICE_ERROR event, or DEVICE_NEEDS_RESET read): unless
 * a hand-built (fault-injection) chain is outstanding to explain it, it is held against the
 * unusual legal chains then outstanding (no-error-on-legal-input) and against freshly reset
 * or re-enabled queues. One scan, once per reset. */
void on_device_error(vs_monitors *m)
{
    if (m->error_judged)
        return;
    m->error_judged = true;
    uint8_t odd = 0;
    bool live = false;
    for (uint32_t i = 0; i < MAX_QUEUES; i++) {
        qstate *q = &m->q[i];
        if (!q->setup || !q->live)
            continue;
        for (uint32_t id = 0; id < ID_SPACE; id++) {
            chain_rec *c = q->byid[id];
            if (!c || !c->live)
                continue;
            if (c->raw || c->illegal)
                return; /* fault injection, or the driver's own illegal chain, explains it */
            live = true;
            if (c->published)
                odd |= c->odd;
        }
    }
    static const char *const what[] = {
        "WRITE on an indirect descriptor disregarded",
        "direct descriptors followed by an indirect one accepted",
        "a request header split over descriptors accepted",
    };
    for (int k = 0; k < 3 && role_on(m, CK_LEGAL_INPUT); k++)
        if (odd & (1u << k))
            bad(m, CK_LEGAL_INPUT, k, NOCTX, what[k],
                "device error (DEVICE_NEEDS_RESET) with such a chain outstanding");
    if (!odd && !live && m->spurious_kick && role_on(m, CK_LEGAL_INPUT))
        bad(m, CK_LEGAL_INPUT, 3, NOCTX, "notifications without new buffers tolerated",
            "device error (DEVICE_NEEDS_RESET) with nothing outstanding after a notification "
            "that announced no new buffer");
    for (uint32_t i = 0; i < MAX_QUEUES; i++)
        qr_fresh_failed(m, (int32_t)i, "device error");
}

void on_status_read(vs_monitors *m, const vs_event *ev)
{
    uint8_t v = (uint8_t)ev->val;
    su_on_read(m, v);
    /* After a reset the device may still be resetting: status must read 0 within
     * RESET_SETTLE_READS reads and RESET_SETTLE_NS, and once it has read 0 it must stay 0
     * until the driver writes status again. */
    if (m->await_reset_read && role_on(m, CK_RESET_ZERO)) {
        if (v == 0) {
            if (!m->reset_zero_read)
                ok(m, CK_RESET_ZERO, 0);
            m->reset_zero_read = true;
        } else if (m->reset_zero_read) {
            m->await_reset_read = false;
            bad(m, CK_RESET_ZERO, 0, NOCTX, "status stays 0 after reading 0 following a reset",
                "status 0x%02x after it had read 0", v);
        } else if (++m->reset_nonzero_reads > RESET_SETTLE_READS ||
                   ev->t_ns - m->reset_t > RESET_SETTLE_NS) {
            m->await_reset_read = false;
            bad(m, CK_RESET_ZERO, 0, NOCTX, "status 0 within a bounded time after reset",
                "status 0x%02x after %" PRIu32 " reads and %" PRIu64 " ns since the reset", v,
                m->reset_nonzero_reads, ev->t_ns - m->reset_t);
        }
    } else if (m->await_reset_read) {
        m->await_reset_read = false;
    }
    if (v == 0 && m->status_w == 0)
        m->saw_zero_after_reset = true;
    if (m->fok_await_read && (m->status_w & VS_STATUS_FEATURES_OK)) {
        m->fok_await_read = false;
        bool set = v & VS_STATUS_FEATURES_OK;
        if (set)
            m->fok_confirmed = true;
        else
            m->fok_refused = true;
        if (m->dev && m->dev->features_ok_read)
            m->dev->features_ok_read(m, set);
        if (role_on(m, CK_FEATURES_OK_REFUSE) && m->offered_known &&
            (m->drv_features & ~m->offered)) {
            if (set)
                bad(m, CK_FEATURES_OK_REFUSE, 0, NOCTX,
                    "FEATURES_OK clear when un-offered bits were accepted",
                    "FEATURES_OK set with driver features 0x%016" PRIx64 " (offered 0x%016" PRIx64 ")",
                    m->drv_features, m->offered);
            else
                ok(m, CK_FEATURES_OK_REFUSE, 0);
        }
    }
    if ((v & VS_STATUS_DEVICE_NEEDS_RESET) && (m->status_w & VS_STATUS_DRIVER_OK))
        m->needs_reset_pending = true;
    if (v & VS_STATUS_DEVICE_NEEDS_RESET) {
        on_device_error(m);
        gd_on_status_read(m, v);
    }
    if (m->dev_error_pending) {
        if (v & VS_STATUS_DEVICE_NEEDS_RESET) {
            if (role_on(m, CK_ERROR_NEEDS_RESET))
                ok(m, CK_ERROR_NEEDS_RESET, 0);
            m->dev_error_pending = false;
            m->dev_error_read_without = false;
        } else {
            m->dev_error_read_without = true;
        }
    }
}
