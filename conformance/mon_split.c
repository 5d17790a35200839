/* Split ring: the chain walk at publish (driver chain-shape checks, descriptor
 * snapshot), publish and avail idx, IN_ORDER bookkeeping, the used idx bound. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/monitor_dev.h"
#include "virtiosim/le.h"

/* ------------------------------------------------------------ split chain walk */

/* Hash of a split chain's descriptors (its slots of the table, then its indirect table):
 * the slots are gathered and hashed in one call, through one translation of the table
 * when it lies in one region. Only ever compared with itself. */
bool hash_desc(vs_monitors *m, const qstate *q, const chain_rec *c, uint64_t *h)
{
    uint64_t acc = FNV0;
    uint8_t buf[256];
    uint32_t n = 0;
    const uint8_t *tbl =
        vs_gmem_translate(m->gm, q->l.desc_gpa, 16ull * q->l.size, VS_GMEM_READ, NULL);
    for (uint32_t i = 0; i < c->nslots; i++) {
        if (tbl)
            memcpy(buf + n, tbl + 16u * c->slots[i], 16);
        else if (vs_gmem_read(m->gm, q->l.desc_gpa + 16ull * c->slots[i], buf + n, 16, NULL) < 0)
            return false;
        n += 16;
        if (n == sizeof buf || i + 1 == c->nslots) {
            acc = hash_words(acc, buf, n);
            n = 0;
        }
    }
    if (c->ind_len) {
        uint64_t pos = 0;
        while (pos < c->ind_len) {
            uint64_t take = c->ind_len - pos < sizeof buf ? c->ind_len - pos : sizeof buf;
            if (vs_gmem_read(m->gm, c->ind_gpa + pos, buf, take, NULL) < 0)
                return false;
            acc = hash_words(acc, buf, take);
            pos += take;
        }
    }
    *h = acc;
    return true;
}

/* One split descriptor (le64 addr, le32 len, le16 flags, le16 next): entry i of a table
 * at gpa, from tbl (the table translated once, NULL if it could not be) or read alone. */
static bool rd_desc(vs_monitors *m, const uint8_t *tbl, uint64_t gpa, uint32_t i, vs_desc *d)
{
    uint8_t b[16];
    if (tbl)
        memcpy(b, tbl + 16ull * i, 16);
    else if (vs_gmem_read(m->gm, gpa + 16ull * i, b, 16, NULL) < 0)
        return false;
    d->addr = vs_le64_get(b);
    d->len = vs_le32_get(b + 8);
    d->flags = vs_le16_get(b + 12);
    d->next = vs_le16_get(b + 14);
    return true;
}

/* Walks the chain at `head` as the device would see it; driver shape checks (unless
 * the chain is hand-built) and a snapshot of the descriptor bytes for CK_DESC_TABLE. */
void split_walk(vs_monitors *m, qstate *q, int32_t qi, chain_rec *c, uint16_t head)
{
    bool drv = role_on(m, CK_D_CHAIN_SHAPE) && !c->raw;
    uint64_t f = neg(m);
    bool in_order = has(f, VS_F_IN_ORDER);
    ctx cx = idctx(qi, head);
    uint32_t size = q->l.size;
    c->nslots = 0;
    c->ind_len = 0;
    if (!ensure_cap((void **)&c->slots, &c->slots_cap, size ? size : 1, sizeof *c->slots))
        return;
    uint64_t total = 0;
    bool seen_write = false, shape_ok = true, loop = false;
    uint16_t i = head;
    /* one translation of the table rather than a checked read per descriptor */
    const uint8_t *tbl =
        size ? vs_gmem_translate(m->gm, q->l.desc_gpa, 16ull * size, VS_GMEM_READ, NULL) : NULL;
    for (;;) {
        if (i >= size) {
            if (drv)
                bad(m, CK_D_CHAIN_SHAPE, 1, cx, "every next < queue size",
                    "next %u >= queue size %" PRIu32, i, size);
            shape_ok = false;
            break;
        }
        if (c->nslots >= size) {
            loop = true;
            break;
        }
        vs_desc d;
        if (!rd_desc(m, tbl, q->l.desc_gpa, i, &d))
            return;
        c->slots[c->nslots++] = i;
        if (d.flags & VS_DESC_F_INDIRECT) {
            if (drv && !has(f, VS_F_INDIRECT_DESC)) {
                bad(m, CK_D_CHAIN_SHAPE, 2, cx, "no INDIRECT without VIRTIO_F_INDIRECT_DESC",
                    "desc %u has INDIRECT", i);
                shape_ok = false;
            }
            if (drv && (d.flags & VS_DESC_F_NEXT)) {
                bad(m, CK_D_CHAIN_SHAPE, 5, cx, "INDIRECT and NEXT never together",
                    "desc %u flags 0x%x", i, d.flags);
                shape_ok = false;
            }
            uint32_t n = d.len / 16;
            if (drv && n > size) {
                bad(m, CK_D_CHAIN_SHAPE, 4, cx, "indirect table entries <= queue size",
                    "%" PRIu32 " entries, queue size %" PRIu32, n, size);
                shape_ok = false;
            }
            if (!c->raw && (d.flags & VS_DESC_F_WRITE))
                c->odd |= ODD_IND_WRITE;
            if (!c->raw && c->nslots > 1)
                c->odd |= ODD_DIRECT_FIRST;
            c->ind_gpa = d.addr;
            c->ind_len = d.len;
            uint32_t j = 0, count = 0;
            const uint8_t *itbl =
                n ? vs_gmem_translate(m->gm, d.addr, 16ull * n, VS_GMEM_READ, NULL) : NULL;
            while (j < n && count <= n) {
                vs_desc e;
                if (!rd_desc(m, itbl, d.addr, j, &e))
                    break;
                count++;
                if (drv && (e.flags & VS_DESC_F_INDIRECT)) {
                    bad(m, CK_D_CHAIN_SHAPE, 3, cx, "no INDIRECT inside an indirect table",
                        "indirect entry %" PRIu32 " has INDIRECT", j);
                    shape_ok = false;
                }
                if (e.flags & VS_DESC_F_WRITE)
                    seen_write = true;
                else if (seen_write && drv) {
                    bad(m, CK_D_CHAIN_SHAPE, 0, cx, "readable descriptors before writable ones",
                        "indirect entry %" PRIu32 " readable after a writable one", j);
                    shape_ok = false;
                }
                if (drv && in_order && (e.flags & VS_DESC_F_NEXT) && e.next != j + 1) {
                    bad(m, CK_D_CHAIN_SHAPE, 7, cx, "IN_ORDER: indirect entry i chains to i+1",
                        "entry %" PRIu32 " next %u", j, e.next);
                    shape_ok = false;
                }
                if (drv && !vs_gmem_span_ok(m->gm, e.addr, e.len ? e.len : 1, VS_GMEM_READ) &&
                    !has(f, VS_F_ACCESS_PLATFORM))
                    bad(m, CK_D_ADDR_RAM, 0, cx, "buffers inside guest RAM",
                        "indirect entry %" PRIu32 " at 0x%" PRIx64 "+%" PRIu32, j, e.addr, e.len);
                total += e.len;
                if (!(e.flags & VS_DESC_F_NEXT))
                    break;
                j = e.next;
            }
        } else {
            if (d.flags & VS_DESC_F_WRITE)
                seen_write = true;
            else if (seen_write && drv) {
                bad(m, CK_D_CHAIN_SHAPE, 0, cx, "readable descriptors before writable ones",
                    "desc %u readable after a writable one", i);
                shape_ok = false;
            }
            if (drv && !has(f, VS_F_ACCESS_PLATFORM)) {
                if (!vs_gmem_span_ok(m->gm, d.addr, d.len ? d.len : 1, VS_GMEM_READ))
                    bad(m, CK_D_ADDR_RAM, 0, cx, "buffers inside guest RAM",
                        "desc %u at 0x%" PRIx64 "+%" PRIu32, i, d.addr, d.len);
                else
                    ok(m, CK_D_ADDR_RAM, 0);
            }
            total += d.len;
        }
        if (!(d.flags & VS_DESC_F_NEXT))
            break;
        if (drv && in_order && d.next != (uint16_t)((i + 1) % size)) {
            bad(m, CK_D_CHAIN_SHAPE, 6, cx, "IN_ORDER: next = (slot + 1) % queue size",
                "desc %u next %u", i, d.next);
            shape_ok = false;
        }
        i = d.next;
    }
    c->illegal = !shape_ok || loop;
    if (drv) {
        if (loop) {
            bad(m, CK_D_CHAIN_SHAPE, 1, cx, "chain terminates",
                "more than %" PRIu32 " descriptors (loop)", size);
            bad(m, CK_D_CHAIN_SHAPE, 4, cx, "chain length <= queue size",
                "more than %" PRIu32 " descriptors", size);
            shape_ok = false;
        } else if (total > (UINT64_C(1) << 32)) {
            bad(m, CK_D_CHAIN_SHAPE, 1, cx, "chain total <= 2^32 bytes",
                "%" PRIu64 " bytes", total);
            shape_ok = false;
        }
        if (shape_ok) {
            ok(m, CK_D_CHAIN_SHAPE, 0);
            ok(m, CK_D_CHAIN_SHAPE, 1);
            ok(m, CK_D_CHAIN_SHAPE, 8);
            if (has(f, VS_F_INDIRECT_DESC)) {
                ok(m, CK_D_CHAIN_SHAPE, 3);
                ok(m, CK_D_CHAIN_SHAPE, 4);
                ok(m, CK_D_CHAIN_SHAPE, 5);
            } else {
                ok(m, CK_D_CHAIN_SHAPE, 2);
            }
            if (in_order)
                ok(m, CK_D_CHAIN_SHAPE, 6);
        }
    }
    c->desc_ok = role_on(m, CK_DESC_TABLE) && hash_desc(m, q, c, &c->desc_hash);
}

/* IN_ORDER bookkeeping: remember a chain published with seq (no memory: po_n stays
 * UINT32_MAX and the in-order check scans every record instead). */
static void po_push(qstate *q, uint32_t id, uint64_t seq)
{
    if (q->po_n == UINT32_MAX)
        return;
    if (q->po_head && q->po_head >= q->po_n / 2) { /* compact the consumed front */
        memmove(q->po_id, q->po_id + q->po_head, (q->po_n - q->po_head) * sizeof *q->po_id);
        memmove(q->po_seq, q->po_seq + q->po_head, (q->po_n - q->po_head) * sizeof *q->po_seq);
        q->po_n -= q->po_head;
        q->po_head = 0;
    }
    if (!ensure_cap((void **)&q->po_id, &q->po_cap, q->po_n + 1, sizeof *q->po_id) ||
        !ensure_cap((void **)&q->po_seq, &q->po_cap2, q->po_n + 1, sizeof *q->po_seq)) {
        q->po_n = UINT32_MAX;
        return;
    }
    q->po_id[q->po_n] = id;
    q->po_seq[q->po_n] = seq;
    q->po_n++;
}

/* The oldest published chain still outstanding: its id, and false if none is known. */
bool po_oldest(qstate *q, uint32_t *id, uint64_t *seq)
{
    if (q->po_n == UINT32_MAX) {
        uint64_t min = UINT64_MAX;
        for (uint32_t i = 0; i < ID_SPACE; i++) {
            chain_rec *o = q->byid[i];
            if (o && o->live && o->published && o->seq < min) {
                min = o->seq;
                *id = i;
            }
        }
        *seq = min;
        return min != UINT64_MAX;
    }
    while (q->po_head < q->po_n) {
        chain_rec *o = q->byid[q->po_id[q->po_head]];
        if (o && o->live && o->published && o->seq == q->po_seq[q->po_head]) {
            *id = q->po_id[q->po_head];
            *seq = o->seq;
            return true;
        }
        q->po_head++;
    }
    return false;
}

static int cmp_u16(const void *a, const void *b)
{
    uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;
    return (x > y) - (x < y);
}

static void mark_published(vs_monitors *m, qstate *q, int32_t qi, chain_rec *c, uint16_t head)
{
    if (!c->published) {
        c->published = true;
        c->seq = q->seq_next++;
        if (has(neg(m), VS_F_IN_ORDER))
            po_push(q, head, c->seq);
    }
    if (q_split(q)) {
        split_walk(m, q, qi, c, head);
        gd_split_published(m, q, qi, c, head);
    }
}

void on_publish(vs_monitors *m, const vs_event *ev)
{
    qstate *q = getq(m, ev->queue);
    if (!q || !q->setup)
        return;
    uint16_t nidx = (uint16_t)ev->idx;
    ctx cx = (ctx){.queue = ev->queue, .has_idx = true, .idx = nidx};
    if (q_split(q)) {
        uint16_t delta = (uint16_t)(nidx - q->avail_pub);
        if (role_on(m, CK_D_AVAIL_IDX)) {
            if (delta > q->l.size)
                bad(m, CK_D_AVAIL_IDX, 0, cx, "avail idx advances by 0..queue size",
                    "avail idx %u -> %u", q->avail_pub, nidx);
            else
                ok(m, CK_D_AVAIL_IDX, 0);
        }
        if (delta <= q->l.size) {
            for (uint16_t k = 0; k < delta; k++) {
                uint16_t slot = (uint16_t)((q->avail_pub + k) % q->l.size), head;
                if (!ld16(m, q->l.driver_gpa + 4 + 2ull * slot, &head))
                    break;
                chain_rec *c = q->byid[head];
                if (c && c->live && !c->published) {
                    mark_published(m, q, ev->queue, c, head);
                } else if (role_on(m, CK_D_CHAIN_SHAPE) && !(c && c->raw)) {
                    bad(m, CK_D_CHAIN_SHAPE, 8, (ctx){.queue = ev->queue, .has_id = true,
                                                     .id = head, .has_idx = true, .idx = nidx},
                        "avail ring slots name chains just made available",
                        "avail slot %u names %u, not a pending chain", slot, head);
                }
            }
        }
        q->avail_pub = nidx;
        ring_flags_check(m, CK_D_AVAIL_FLAGS, q->l.driver_gpa, "avail", cx);
        return;
    }
    pd_on_publish(m, ev->queue, q, ev);
    if (q->pend_n == UINT32_MAX) {
        for (uint32_t id = 0; id < ID_SPACE; id++) {
            chain_rec *c = q->byid[id];
            if (c && c->live && !c->published)
                mark_published(m, q, ev->queue, c, (uint16_t)id);
        }
        q->pend_n = 0;
    } else {
        /* in id order, as a scan of every record would mark them */
        qsort(q->pend, q->pend_n, sizeof *q->pend, cmp_u16);
        for (uint32_t i = 0; i < q->pend_n; i++) {
            chain_rec *c = q->byid[q->pend[i]];
            if (c && c->live && !c->published)
                mark_published(m, q, ev->queue, c, q->pend[i]);
        }
        q->pend_n = 0;
    }
}

/* The driver refused a used element. When the used index in memory has run further ahead
 * than there are chains outstanding, that is the used-index rule, not a bad id: look at the
 * ring memory ourselves rather than trusting the driver's message. */
bool used_invalid_is_idx_jump(vs_monitors *m, const vs_event *ev)
{
    qstate *q = getq(m, ev->queue);
    uint16_t u;
    if (!q || !q->setup || !q_split(q) || !role_on(m, CK_USED_IDX) || !used_idx_mem(m, q, &u))
        return false;
    uint16_t ahead = (uint16_t)(u - q->collected);
    uint32_t n = q->live;
    if (ahead <= n)
        return false;
    ctx cx = (ctx){.queue = ev->queue, .has_idx = true, .idx = u};
    bad(m, CK_USED_IDX, 0, cx, "used idx ahead by at most the outstanding chains",
        "used idx %u is %u ahead of %u with %" PRIu32 " outstanding", u, ahead, q->collected, n);
    return true;
}
