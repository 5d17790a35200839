/* Generic driver-role checks judged from what the device sees: how the driver answers an
 * offer holding bits it cannot know (undefined bits, SR_IOV without the capability, no
 * VERSION_1), whether it leaves the descriptors of outstanding buffers alone, whether a
 * queue set up again after a queue reset starts from fresh rings, and whether it keeps
 * going after an interrupt that reported nothing new. */
#include <inttypes.h>
#include <stdlib.h>

#include "conformance/monitor_dev.h"

/* ------------------------------------------------------------ the offer */

void gd_on_features_read(vs_monitors *m, uint64_t offered)
{
    uint64_t off = offered;
    if (m->backend_view) /* what the driver was offered is the front-end's business */
        off &= m->fe_mask_known ? m->fe_mask : 0;
    bool known = !m->backend_view || m->fe_mask_known;
    m->gd.unknown = known ? offer_invalid_bits(m, off) : 0;
    m->gd.no_v1 = known && !has(off, VS_F_VERSION_1);
}

void gd_on_features_write(vs_monitors *m, uint64_t f)
{
    if (m->gd.unknown && role_on(m, CK_D_OFFER_UNKNOWN)) {
        if (f & m->gd.unknown)
            bad(m, CK_D_OFFER_UNKNOWN, 1, NOCTX, "offered undefined bits disregarded",
                "accepted 0x%016" PRIx64 " of the undefined bits 0x%016" PRIx64 " offered",
                f & m->gd.unknown, m->gd.unknown);
        else
            ok(m, CK_D_OFFER_UNKNOWN, 1);
    }
    /* backend view: only what the front-end passed on was offered to the driver */
    uint64_t off = m->offered & (!m->backend_view ? ~0ull : m->fe_mask_known ? m->fe_mask : 0);
    if (m->offered_known && has(off, VS_F_SR_IOV) && role_on(m, CK_D_SR_IOV)) {
        if (has(f, VS_F_SR_IOV) && !m->sriov_capable)
            bad(m, CK_D_SR_IOV, 0, NOCTX, "VIRTIO_F_SR_IOV declined without an SR-IOV capability",
                "VIRTIO_F_SR_IOV accepted (driver features 0x%016" PRIx64 ")", f);
        else
            ok(m, CK_D_SR_IOV, 0);
    }
}

/* Status bits the driver adds (before mon_status records them). */
void gd_on_status_added(vs_monitors *m, uint8_t added)
{
    if (m->gd.unknown && role_on(m, CK_D_OFFER_UNKNOWN)) {
        /* FAILED for an offer it could have used: not for a refusal or a missing VERSION_1 */
        if ((added & VS_STATUS_FAILED) && !m->fok_refused && !m->gd.no_v1) {
            bad(m, CK_D_OFFER_UNKNOWN, 0, NOCTX, "DRIVER_OK although undefined bits are offered",
                "FAILED written after an offer with undefined bits 0x%016" PRIx64,
                m->gd.unknown);
            bad(m, CK_D_OFFER_UNKNOWN, 1, NOCTX, "offered undefined bits disregarded",
                "gave up (FAILED) over an offer with undefined bits 0x%016" PRIx64,
                m->gd.unknown);
        } else if (added & VS_STATUS_DRIVER_OK) {
            ok(m, CK_D_OFFER_UNKNOWN, 0);
        }
    }
    if (m->config_larger && role_on(m, CK_D_CFG_LARGER)) {
        if ((added & VS_STATUS_FAILED) && !m->fok_refused && !m->gd.no_v1)
            bad(m, CK_D_CFG_LARGER, 0, NOCTX, "DRIVER_OK with a longer config region",
                "FAILED written; the device config region is longer than the type's");
        else if (added & VS_STATUS_DRIVER_OK)
            ok(m, CK_D_CFG_LARGER, 0);
    }
    if (m->gd.no_v1 && role_on(m, CK_D_NO_VERSION_1) && !m->gd.no_v1_judged) {
        if (added & (VS_STATUS_FEATURES_OK | VS_STATUS_DRIVER_OK)) {
            m->gd.no_v1_judged = true;
            bad(m, CK_D_NO_VERSION_1, 0, NOCTX, "FAILED, no FEATURES_OK or DRIVER_OK",
                "%s written although VIRTIO_F_VERSION_1 was not offered",
                (added & VS_STATUS_FEATURES_OK) ? "FEATURES_OK" : "DRIVER_OK");
        } else if (added & VS_STATUS_FAILED) {
            m->gd.no_v1_judged = true;
            ok(m, CK_D_NO_VERSION_1, 0);
        }
    }
}

/* ------------------------------------------------------------ DEVICE_NEEDS_RESET */

void gd_on_status_read(vs_monitors *m, uint8_t v)
{
    if (!(v & VS_STATUS_DEVICE_NEEDS_RESET) || !(m->status_w & VS_STATUS_DRIVER_OK) || m->gd.nr)
        return;
    for (uint32_t i = 0; i < MAX_QUEUES; i++)
        if (m->q[i].setup && m->q[i].live)
            m->gd.nr = true;
}

void gd_on_driver_action(vs_monitors *m, const vs_event *ev)
{
    if (!m->gd.nr || m->gd.nr_broke || !role_on(m, CK_D_NEEDS_RESET_ACT))
        return;
    m->gd.nr_broke = true;
    bad(m, CK_D_NEEDS_RESET_ACT, 0, qctx(ev->queue), "a reset, nothing counting on the queue",
        "%s after reading DEVICE_NEEDS_RESET with requests outstanding",
        ev->kind == VS_EV_KICK ? "a notification" : "a buffer made available");
}

/* The reset that follows it. The end of a run without one proves nothing: the simulator's
 * driver stops with its scenario when a step fails. */
static void nr_end(vs_monitors *m)
{
    if (m->gd.nr && !m->gd.nr_broke && m->cur && role_on(m, CK_D_NEEDS_RESET_ACT))
        ok(m, CK_D_NEEDS_RESET_ACT, 0);
}

/* A window ends (reset, end of run): a driver offered no VERSION_1 must have said FAILED. */
void gd_end(vs_monitors *m)
{
    nr_end(m);
    m->gd.nr = m->gd.nr_broke = false;
    if (m->gd.no_v1 && !m->gd.no_v1_judged && role_on(m, CK_D_NO_VERSION_1))
        bad(m, CK_D_NO_VERSION_1, 0, NOCTX, "FAILED when VIRTIO_F_VERSION_1 is not offered",
            "the device was left (reset or end) without FAILED");
    m->gd.unknown = 0;
    m->gd.no_v1 = m->gd.no_v1_judged = false;
    m->gd.spurious = false;
}

/* ------------------------------------------------------------ outstanding buffers */

static bool holds_slot(const chain_rec *c, uint16_t s)
{
    for (uint32_t i = 0; i < c->nslots; i++)
        if (c->slots[i] == s)
            return true;
    return false;
}

/* A split chain just published: none of its descriptor slots may belong to a chain the
 * device still owns (the driver reclaimed it without a device or queue reset). */
void gd_split_published(vs_monitors *m, qstate *q, int32_t qi, chain_rec *c, uint16_t head)
{
    uint32_t n = q->l.size;
    /* the roles are fixed for the run: a device-role run keeps no slot owners at all */
    if (!n || c->raw || !role_on(m, CK_D_OUTSTANDING))
        return;
    if (!q->gd_owner && !(q->gd_owner = calloc(n, sizeof *q->gd_owner)))
        return;
    bool judge = !c->illegal, clash = false;
    for (uint32_t i = 0; i < c->nslots; i++) {
        uint16_t s = c->slots[i];
        if (s >= n)
            continue;
        uint32_t o = q->gd_owner[s];
        chain_rec *oc = o && o - 1 != head ? q->byid[o - 1] : NULL;
        if (judge && !clash && oc && oc->live && oc->published && !oc->raw &&
            holds_slot(oc, s)) { /* its id may have been reused since, on other slots */
            clash = true;
            ctx cx = idctx(qi, head);
            bad(m, CK_D_OUTSTANDING, 0, cx, "descriptors of outstanding buffers untouched",
                "descriptor %u, of chain %" PRIu32 " (outstanding), reused by chain %u", s,
                o - 1, head);
            bad(m, CK_D_OUTSTANDING, 1, cx, "a device or queue reset before reclaiming",
                "chain %" PRIu32 "'s descriptor %u reclaimed while the device owns it", o - 1,
                s);
        }
        q->gd_owner[s] = (uint32_t)head + 1;
    }
    if (judge && !clash && c->nslots) {
        ok(m, CK_D_OUTSTANDING, 0);
        ok(m, CK_D_OUTSTANDING, 1);
    }
}

/* ------------------------------------------------------------ queue set up again */

/* A queue set up after its queue reset (RING_RESET): fresh rings as at first setup. */
void gd_on_reenable(vs_monitors *m, int32_t qi, qstate *q)
{
    if (!role_on(m, CK_D_REENABLE_FRESH))
        return;
    ctx cx = qctx(qi);
    if (q_split(q)) {
        uint16_t ai = 0, ui = 0;
        if (!ld16(m, q->l.driver_gpa + 2, &ai) || !ld16(m, q->l.device_gpa + 2, &ui))
            return;
        if (ai || ui)
            bad(m, CK_D_REENABLE_FRESH, 0, cx, "avail idx and used idx 0 on the re-enabled queue",
                "avail idx %u, used idx %u when the queue was set up again", ai, ui);
        else
            ok(m, CK_D_REENABLE_FRESH, 0);
        return;
    }
    /* packed: no descriptor of the new ring already marked available or used */
    for (uint32_t s = 0; s < q->l.size; s++) {
        uint16_t fl;
        if (!ld16(m, q->l.desc_gpa + 16ull * s + 14, &fl))
            return;
        if (fl & (VS_DESC_F_AVAIL | VS_DESC_F_USED)) {
            bad(m, CK_D_REENABLE_FRESH, 0, cx, "a zeroed descriptor ring on the re-enabled queue",
                "descriptor %" PRIu32 " flags 0x%x when the queue was set up again", s, fl);
            return;
        }
    }
    ok(m, CK_D_REENABLE_FRESH, 0);
}

/* ------------------------------------------------------------ nothing-new interrupts */

/* A used-buffer interrupt for a split queue: did it report anything new? */
void gd_on_irq(vs_monitors *m, qstate *q)
{
    uint16_t cur;
    if (!q || !q->setup || !role_on(m, CK_D_SPURIOUS_IRQ) || !used_idx_mem(m, q, &cur))
        return;
    if (cur == q->collected)
        m->gd.spurious = true;
}

/* The driver after such an interrupt: giving up (FAILED) is the violation; the next used
 * element it collects shows it kept going. */
void gd_after_spurious(vs_monitors *m, bool failed, int32_t qi)
{
    if (!m->gd.spurious || !role_on(m, CK_D_SPURIOUS_IRQ))
        return;
    m->gd.spurious = false;
    if (failed)
        bad(m, CK_D_SPURIOUS_IRQ, 0, qctx(qi), "interrupts that report nothing new tolerated",
            "FAILED written after a used-buffer interrupt with no new used element");
    else
        ok(m, CK_D_SPURIOUS_IRQ, 0);
}
