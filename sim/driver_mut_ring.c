/* The ring-level driver mutants (test only, enum vs_drv_mutation): what a deliberately
 * broken driver shows the device about its rings. Each breaks one driver-role rule the
 * monitors judge from the event stream and ring memory; the correct driver never gets
 * here (vs_driver_opts.mutations is 0). */

#include "sim/driver_int.h"
#include "virtiosim/gmem.h"
#include "virtiosim/le.h"

/* The queue areas a mutant gives the device instead of the ones it allocated: the device
 * area moved 2 bytes on (misaligned, still inside its page-rounded allocation) or far
 * past guest RAM. The driver's own view stays on the allocation. */
void vs__drv_mut_shown_layout(const vs_driver *d, vs_vq_layout *shown)
{
    if (vs__drv_mut(d, VS_DRV_MUT_RING_MISALIGNED))
        shown->device_gpa += 2;
    if (vs__drv_mut(d, VS_DRV_MUT_RING_OUTSIDE_RAM))
        shown->device_gpa = UINT64_C(1) << 46;
}

/* Before a split publish: avail idx written (and announced) while the first new ring
 * entry holds a head that names no chain, as a driver without the barrier between the
 * two stores would show the device; then the entry is put right for the real publish. */
static void idx_before_entry(vs_driver *d, vs_drv_queue *q, uint16_t qi)
{
    uint8_t b[2], keep[2];
    uint16_t nidx = vs_vq_drv_avail_idx(q->vq);
    if (vs_gmem_read(d->gm, q->layout.driver_gpa + 2, b, 2, NULL) < 0 || vs_le16_get(b) == nidx)
        return;
    uint64_t slot = q->layout.driver_gpa + 4 + 2ull * (vs_le16_get(b) % q->layout.size);
    if (vs_gmem_read(d->gm, slot, keep, 2, NULL) < 0)
        return;
    uint8_t stale[2], idx[2];
    vs_le16_put(stale, (uint16_t)q->layout.size); /* no descriptor has that index */
    vs_le16_put(idx, nidx);
    if (vs_gmem_write(d->gm, slot, stale, 2, NULL) < 0 ||
        vs_gmem_write(d->gm, q->layout.driver_gpa + 2, idx, 2, NULL) < 0)
        return;
    vs_event ev = {.kind = VS_EV_PUBLISH, .queue = qi, .idx = nidx};
    vs__drv_emit(d, &ev);
    (void)vs_gmem_write(d->gm, slot, keep, 2, NULL);
}

/* Before a split publish: avail idx written one back (and announced), so the device
 * sees the index move backwards before the real publish moves it on. */
void vs__drv_mut_before_publish(vs_driver *d, uint16_t qi)
{
    vs_drv_queue *q = &d->q[qi];
    if (q->layout.format != VS_RING_SPLIT)
        return;
    if (vs__drv_mut(d, VS_DRV_MUT_IDX_BEFORE_ENTRY))
        idx_before_entry(d, q, qi);
    if (!vs__drv_mut(d, VS_DRV_MUT_AVAIL_IDX_BACK))
        return;
    uint8_t b[2];
    if (vs_gmem_read(d->gm, q->layout.driver_gpa + 2, b, 2, NULL) < 0)
        return;
    uint16_t idx = (uint16_t)(vs_le16_get(b) - 1);
    vs_le16_put(b, idx);
    if (vs_gmem_write(d->gm, q->layout.driver_gpa + 2, b, 2, NULL) < 0)
        return;
    vs_event ev = {.kind = VS_EV_PUBLISH, .queue = qi, .idx = idx};
    vs__drv_emit(d, &ev);
}

/* After the first packed publish of a queue (from slot 0, wrap counter 1): its first list
 * copied into the slots that follow and made available too, although the device still
 * owns them once the ring is that full: a driver that does not wait for room. */
static void packed_no_room(vs_driver *d, vs_drv_queue *q, uint16_t qi, uint16_t from)
{
    uint32_t n = q->layout.size;
    uint16_t end = vs_vq_drv_avail_idx(q->vq);
    if (from != 0x8000u || end == from)
        return;
    uint32_t at = end & 0x7fffu;
    bool w = (end & 0x8000u) != 0;
    for (uint32_t k = 0; k < n; k++) {
        uint8_t r[16];
        if (vs_gmem_read(d->gm, q->layout.desc_gpa + 16ull * k, r, 16, NULL) < 0)
            return;
        uint16_t f = vs_le16_get(r + 14);
        vs_le16_put(r + 14, (uint16_t)((f & ~(0x80u | 0x8000u)) | (w ? 0x80u : 0x8000u)));
        if (vs_gmem_write(d->gm, q->layout.desc_gpa + 16ull * at, r, 16, NULL) < 0)
            return;
        if (++at == n) {
            at = 0;
            w = !w;
        }
        if (!(f & 1u)) /* the list's last descriptor */
            break;
    }
    vs_event ev = {.kind = VS_EV_PUBLISH, .queue = qi, .idx = at | (w ? 0x8000u : 0)};
    vs__drv_emit(d, &ev);
}

/* After a packed publish: the buffer id of the first published list's head rewritten
 * while the device may not have fetched it yet. Only a head with NEXT set: the device
 * takes a list's id from its last descriptor, so it still completes the right buffer. */
void vs__drv_mut_after_publish(vs_driver *d, uint16_t qi, uint16_t from)
{
    vs_drv_queue *q = &d->q[qi];
    if (q->layout.format != VS_RING_PACKED)
        return;
    if (vs__drv_mut(d, VS_DRV_MUT_PACKED_NO_ROOM))
        packed_no_room(d, q, qi, from);
    if (!vs__drv_mut(d, VS_DRV_MUT_PACKED_REWRITE_AVAIL))
        return;
    uint64_t gpa = q->layout.desc_gpa + 16ull * (from & 0x7fffu);
    uint8_t desc[16];
    if (vs_gmem_read(d->gm, gpa, desc, sizeof desc, NULL) < 0)
        return;
    if (!(vs_le16_get(desc + 14) & 1u)) /* VIRTQ_DESC_F_NEXT */
        return;
    vs_le16_put(desc + 12, (uint16_t)(vs_le16_get(desc + 12) ^ 0x4000u));
    (void)vs_gmem_write(d->gm, gpa + 12, desc + 12, 2, NULL);
}

/* One split descriptor (or indirect table entry) at gpa. */
typedef struct {
    uint8_t b[16];
} raw_desc;
#define D_FLAGS(r) vs_le16_get((r)->b + 12)
#define D_NEXT(r) vs_le16_get((r)->b + 14)
#define F_NEXT 1u
#define F_INDIRECT 4u

static bool rd(vs_driver *d, uint64_t gpa, raw_desc *r)
{
    return vs_gmem_read(d->gm, gpa, r->b, 16, NULL) == 0;
}

static bool wr(vs_driver *d, uint64_t gpa, const raw_desc *r)
{
    return vs_gmem_write(d->gm, gpa, r->b, 16, NULL) == 0;
}

/* Entries 0, 1, 2 of a chain laid out i -> i + 1 at base (a descriptor table of n slots
 * or an indirect table) relinked as 0 -> 2 -> 1: the same buffers in the same order, out
 * of slot order. */
static void shuffle3(vs_driver *d, uint64_t base, uint16_t first, uint32_t n)
{
    uint16_t s1 = (uint16_t)((first + 1u) % n), s2 = (uint16_t)((first + 2u) % n);
    raw_desc a, b, c;
    if (!rd(d, base + 16ull * first, &a) || !rd(d, base + 16ull * s1, &b) ||
        !rd(d, base + 16ull * s2, &c))
        return;
    if (!(D_FLAGS(&a) & F_NEXT) || D_NEXT(&a) != s1 || !(D_FLAGS(&b) & F_NEXT) ||
        D_NEXT(&b) != s2)
        return;
    vs_le16_put(a.b + 14, s2);
    vs_le16_put(b.b + 14, s1);
    (void)(wr(d, base + 16ull * first, &a) && wr(d, base + 16ull * s1, &c) &&
           wr(d, base + 16ull * s2, &b));
}

/* The head of a chain published before avail idx `seen` that the driver still owns (not
 * completed), other than the new ones in [seen, end); n if none. */
static uint16_t outstanding_head(vs_driver *d, vs_drv_queue *q, uint16_t qi, uint16_t seen,
                                 uint16_t end)
{
    uint32_t n = q->layout.size;
    uint64_t entry = q->layout.driver_gpa + 4;
    for (uint32_t k = 1; k <= n; k++) {
        uint8_t b[2];
        if (vs_gmem_read(d->gm, entry + 2ull * ((uint16_t)(seen - k) % n), b, 2, NULL) < 0)
            return (uint16_t)n;
        uint16_t h = vs_le16_get(b);
        bool fresh = false;
        for (uint16_t i = seen; i != end && !fresh; i++)
            fresh = vs_gmem_read(d->gm, entry + 2ull * (i % n), b, 2, NULL) == 0 &&
                    vs_le16_get(b) == h;
        for (const vs_drv_req *rq = d->live; rq && !fresh; rq = rq->next)
            if (rq->q == qi && rq->id == (int)h)
                return h;
    }
    return (uint16_t)n;
}

/* Split, before a publish: the first new chain's second descriptor moved into the head
 * slot of a chain the device still owns, and linked from there: a descriptor reclaimed
 * without a reset. Once a run. */
static void reclaim_live(vs_driver *d, vs_drv_queue *q, uint16_t qi, uint16_t seen,
                         uint16_t head, raw_desc *r)
{
    uint32_t n = q->layout.size;
    uint16_t p = outstanding_head(d, q, qi, seen, vs_vq_drv_avail_idx(q->vq));
    raw_desc second;
    if (d->mut_reclaimed || p >= n || p == head || !(D_FLAGS(r) & F_NEXT) ||
        D_NEXT(r) >= n || !rd(d, q->layout.desc_gpa + 16ull * D_NEXT(r), &second) ||
        !wr(d, q->layout.desc_gpa + 16ull * p, &second))
        return;
    vs_le16_put(r->b + 14, p);
    (void)wr(d, q->layout.desc_gpa + 16ull * head, r);
    d->mut_reclaimed = true;
}

/* Split, before a publish: the first new chain (named by the avail entry at the index the
 * device has seen) looped back to its head, linked out of slot order, or put where an
 * outstanding chain is. */
void vs__drv_mut_split_chain(vs_driver *d, uint16_t qi)
{
    vs_drv_queue *q = &d->q[qi];
    uint32_t n = q->layout.size;
    uint8_t b[2];
    uint16_t seen = 0;
    if (q->layout.format != VS_RING_SPLIT ||
        vs_gmem_read(d->gm, q->layout.driver_gpa + 2, b, 2, NULL) < 0 ||
        (seen = vs_le16_get(b)) == vs_vq_drv_avail_idx(q->vq) ||
        vs_gmem_read(d->gm, q->layout.driver_gpa + 4 + 2ull * (seen % n), b, 2, NULL) < 0)
        return;
    uint16_t head = vs_le16_get(b);
    raw_desc r;
    if (head >= n || !rd(d, q->layout.desc_gpa + 16ull * head, &r))
        return;
    if (vs__drv_mut(d, VS_DRV_MUT_RECLAIM_LIVE)) {
        reclaim_live(d, q, qi, seen, head, &r);
        return;
    }
    if (vs__drv_mut(d, VS_DRV_MUT_IN_ORDER_SHUFFLE)) {
        if (D_FLAGS(&r) & F_INDIRECT)
            shuffle3(d, vs_le64_get(r.b), 0, vs_le32_get(r.b + 8) / 16);
        else
            shuffle3(d, q->layout.desc_gpa, head, n);
    }
    if (!vs__drv_mut(d, VS_DRV_MUT_CHAIN_LOOP))
        return;
    uint16_t at = head;
    for (uint32_t k = 0; k < n && (D_FLAGS(&r) & F_NEXT); k++) {
        at = D_NEXT(&r);
        if (at >= n || !rd(d, q->layout.desc_gpa + 16ull * at, &r))
            return;
    }
    vs_le16_put(r.b + 12, (uint16_t)(D_FLAGS(&r) | F_NEXT));
    vs_le16_put(r.b + 14, head);
    (void)wr(d, q->layout.desc_gpa + 16ull * at, &r);
}

/* Packed, after the model's publish and before it is announced: the first list's second
 * descriptor made unavailable again (its head already is), or NEXT (and the available
 * bits of the slot's lap) set on every slot of the ring from the list's head on. */
void vs__drv_mut_packed_list(vs_driver *d, uint16_t qi, uint16_t from)
{
    vs_drv_queue *q = &d->q[qi];
    uint32_t n = q->layout.size, head = from & 0x7fffu;
    bool wrap = (from & 0x8000u) != 0;
    raw_desc r;
    if (q->layout.format != VS_RING_PACKED || !rd(d, q->layout.desc_gpa + 16ull * head, &r))
        return;
    const uint16_t F_AVAIL = 1u << 7, F_USED = 1u << 15, F_WRITE = 2u;
    if (vs__drv_mut(d, VS_DRV_MUT_PACKED_HEAD_EARLY) && (vs_le16_get(r.b + 14) & F_NEXT)) {
        uint64_t gpa = q->layout.desc_gpa + 16ull * ((head + 1) % n);
        raw_desc s;
        if (rd(d, gpa, &s)) {
            vs_le16_put(s.b + 14, (uint16_t)(vs_le16_get(s.b + 14) ^ F_AVAIL));
            (void)wr(d, gpa, &s);
        }
    }
    if (!vs__drv_mut(d, VS_DRV_MUT_CHAIN_LOOP))
        return;
    uint16_t keep = F_WRITE;
    bool inside = true; /* still in the list as published */
    for (uint32_t k = 0; k < n; k++) {
        uint32_t slot = (head + k) % n;
        bool w = wrap ^ (head + k >= n);
        uint64_t gpa = q->layout.desc_gpa + 16ull * slot;
        if (!rd(d, gpa, &r))
            return;
        uint16_t f = vs_le16_get(r.b + 14);
        /* past the list the slots go on as its last descriptor was: writable or not */
        if (inside)
            keep = f & F_WRITE;
        uint16_t nf = inside ? f : keep;
        inside = inside && (f & F_NEXT);
        f = (uint16_t)(nf & ~(F_AVAIL | F_USED));
        vs_le16_put(r.b + 14, (uint16_t)(f | F_NEXT | (w ? F_AVAIL : F_USED)));
        (void)wr(d, gpa, &r);
    }
    /* ... and exposed as one list: the whole lap made available */
    vs_event ev = {.kind = VS_EV_PUBLISH, .queue = qi, .idx = from ^ 0x8000u};
    vs__drv_emit(d, &ev);
}
