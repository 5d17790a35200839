/* Packed ring: used descriptor slots unchanged until reused
 * (packed-used-desc-unchanged), chains fetched in ring order (packed-fetch-in-ring-order). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/monitor_dev.h"
#include "virtiosim/le.h"

/* ------------------------------------------------------------ packed: used descriptors */

static void pk_check_slot(vs_monitors *m, int32_t qi, qstate *q, uint16_t slot)
{
    if (slot >= q->l.size || !q->pk_snap_ok[slot])
        return;
    uint8_t now[16];
    const uint8_t *was = q->pk_snap + 16u * slot;
    if (vs_gmem_read(m->gm, q->l.desc_gpa + 16ull * slot, now, 16, NULL) < 0)
        return;
    if (memcmp(now, was, 16) == 0) {
        ok(m, CK_PK_USED_DESC, 0);
        return;
    }
    q->pk_snap_ok[slot] = false; /* reported once */
    /* packed descriptor: le64 addr, le32 len, le16 id, le16 flags */
    uint64_t a0 = vs_le64_get(was), a1 = vs_le64_get(now);
    uint32_t l0 = vs_le32_get(was + 8), l1 = vs_le32_get(now + 8);
    uint16_t i0 = vs_le16_get(was + 12), i1 = vs_le16_get(now + 12);
    uint16_t f0 = vs_le16_get(was + 14), f1 = vs_le16_get(now + 14);
    ctx cx = {.queue = qi, .has_id = true, .id = i0, .has_idx = true, .idx = slot};
    bad(m, CK_PK_USED_DESC, 0, cx, "a used descriptor unchanged until the driver reuses it",
        "slot %u rewritten after it was used: addr 0x%" PRIx64 "->0x%" PRIx64 " len %" PRIu32
        "->%" PRIu32 " id %u->%u flags 0x%04x->0x%04x",
        slot, a0, a1, l0, l1, i0, i1, f0, f1);
}

/* The most recently used slots, and a few more in rotation. */
void pk_check_recent(vs_monitors *m, int32_t qi, qstate *q)
{
    if (!q->setup || q_split(q) || !q->pk_snap || q->pk_lost || !role_on(m, CK_PK_USED_DESC))
        return;
    for (uint32_t i = 0; i < q->pk_recent_n; i++)
        pk_check_slot(m, qi, q, q->pk_recent[i]);
    for (uint32_t i = 0; i < PK_SWEEP; i++) {
        pk_check_slot(m, qi, q, (uint16_t)q->pk_cursor);
        q->pk_cursor = (q->pk_cursor + 1) % q->l.size;
    }
}

/* Queue end (reset, disable, finish): every snapshot. */
void pk_check_all(vs_monitors *m, int32_t qi, qstate *q)
{
    if (!q->setup || q_split(q) || !q->pk_snap || q->pk_lost || !role_on(m, CK_PK_USED_DESC))
        return;
    for (uint32_t s = 0; s < q->l.size; s++)
        pk_check_slot(m, qi, q, (uint16_t)s);
}

/* The driver made a chain available at its next slots: those slots are its again. */
void pk_on_avail(qstate *q, const vs_ev_chain *ch)
{
    if (!q->pk_snap || q->pk_lost)
        return;
    uint32_t n = ch->indirect ? 1 : ch->n_out + ch->n_in;
    if (ch->raw) {
        n = ch->n_out + ch->n_in; /* raw: one segment per descriptor, at most 8 reported */
        if (n >= 8) {
            q->pk_lost = true;
            return;
        }
    }
    if (n == 0 || n > q->l.size) {
        q->pk_lost = true;
        return;
    }
    for (uint32_t k = 0; k < n; k++)
        q->pk_snap_ok[(q->pk_avail_slot + k) % q->l.size] = false;
    q->pk_avail_slot = (uint16_t)((q->pk_avail_slot + n) % q->l.size);
}

/* The driver collected the used element at its used slot; ev->idx is its next one. */
void pk_on_used(vs_monitors *m, int32_t qi, qstate *q, const vs_event *ev)
{
    if (!q->pk_snap || q->pk_lost)
        return;
    pk_check_recent(m, qi, q);
    uint16_t slot = q->pk_used_slot;
    if (vs_gmem_read(m->gm, q->l.desc_gpa + 16ull * slot, q->pk_snap + 16u * slot, 16, NULL) ==
        0) {
        q->pk_snap_ok[slot] = true;
        q->pk_recent[q->pk_recent_pos] = slot;
        q->pk_recent_pos = (q->pk_recent_pos + 1) % PK_RECENT;
        if (q->pk_recent_n < PK_RECENT)
            q->pk_recent_n++;
    }
    uint16_t next = (uint16_t)(ev->idx & 0x7fffu);
    if (next >= q->l.size)
        q->pk_lost = true;
    else
        q->pk_used_slot = next;
}

/* ------------------------------------------------------------ packed: fetch order */

void fo_push(qstate *q, uint32_t id, uint64_t seq)
{
    if (q->fo_lost)
        return;
    if (q->fo_n == q->fo_cap) {
        uint32_t nc = q->fo_cap ? q->fo_cap * 2 : 64;
        uint32_t *ni = nc <= FO_MAX ? malloc((size_t)nc * sizeof *ni) : NULL;
        uint64_t *ns = ni ? malloc((size_t)nc * sizeof *ns) : NULL;
        if (!ns) {
            free(ni);
            q->fo_lost = true;
            return;
        }
        for (uint32_t i = 0; i < q->fo_n; i++) {
            ni[i] = q->fo_id[(q->fo_head + i) % q->fo_cap];
            ns[i] = q->fo_seq[(q->fo_head + i) % q->fo_cap];
        }
        free(q->fo_id);
        free(q->fo_seq);
        q->fo_id = ni;
        q->fo_seq = ns;
        q->fo_cap = nc;
        q->fo_head = 0;
    }
    uint32_t at = (q->fo_head + q->fo_n) % q->fo_cap;
    q->fo_id[at] = id;
    q->fo_seq[at] = seq;
    q->fo_n++;
}

/* The earliest chain made available and not yet fetched (stale entries dropped). */
static chain_rec *fo_front(qstate *q)
{
    while (q->fo_n) {
        uint32_t id = q->fo_id[q->fo_head];
        chain_rec *c = q->byid[id];
        if (c && c->live && !c->fetched && c->aseq == q->fo_seq[q->fo_head])
            return c;
        q->fo_head = (q->fo_head + 1) % q->fo_cap;
        q->fo_n--;
    }
    return NULL;
}

static void fetch_order(vs_monitors *m, const vs_event *ev, qstate *q, chain_rec *c)
{
    if (q_split(q) || q->fo_lost || !role_on(m, CK_PK_FETCH_ORDER))
        return;
    chain_rec *f = fo_front(q);
    if (!f)
        return;
    if (f == c) {
        ok(m, CK_PK_FETCH_ORDER, 0);
        return;
    }
    if (f->raw || c->raw || !f->published)
        return; /* hand-built chains: the ring positions are not ours to judge */
    uint32_t fid = q->fo_id[q->fo_head];
    bad(m, CK_PK_FETCH_ORDER, 0, idctx(ev->queue, ev->id), "chains fetched in ring order",
        "id %" PRIu32 " fetched before id %" PRIu32 ", which was made available earlier",
        ev->id, fid);
}

/* A chain fetched (in-process back-ends): only published chains, once per time they are
 * made available, in ring order (packed). */
void on_fetch(vs_monitors *m, const vs_event *ev)
{
    qstate *q = getq(m, ev->queue);
    device_gate(m, ev, q, "chain fetched");
    if (!q || !q->setup)
        return;
    chain_rec *c = ev->id < ID_SPACE ? q->byid[ev->id] : NULL;
    pk_check_recent(m, ev->queue, q);
    bool refetch = c && c->live && c->published && c->fetched;
    if (c && c->live && c->published && !c->fetched) {
        fetch_order(m, ev, q, c);
        if (!q_split(q))
            pd_on_fetch(m, ev->queue, q, c, ev->id);
        c->fetched = true;
    }
    if (!role_on(m, CK_FETCH_AVAIL))
        return;
    int k = q_split(q) ? -1 : 0;
    ctx cx = idctx(ev->queue, ev->id);
    if (!c || !c->live || !c->published)
        bad(m, CK_FETCH_AVAIL, k, cx, "only published chains fetched",
            "id %" PRIu32 " fetched but not available", ev->id);
    else if (refetch) /* its descriptors were not made available again */
        bad(m, CK_FETCH_AVAIL, k, cx, "a chain fetched once per time it is made available",
            "id %" PRIu32 " fetched again without being made available again", ev->id);
    else
        ok(m, CK_FETCH_AVAIL, k);
}

/* ------------------------------------------------------------ packed: driver lists */

/* Descriptor at slot s is available for wrap counter w: AVAIL == w, USED != w. */
static bool pd_avail(uint16_t fl, bool w)
{
    return ((fl & VS_DESC_F_AVAIL) != 0) == w && ((fl & VS_DESC_F_USED) != 0) != w;
}

typedef struct pd_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t id, flags;
} pd_desc;

static bool pd_read(vs_monitors *m, uint64_t gpa, pd_desc *d)
{
    uint8_t b[16];
    if (vs_gmem_read(m->gm, gpa, b, 16, NULL) < 0)
        return false;
    *d = (pd_desc){vs_le64_get(b), vs_le32_get(b + 8), vs_le16_get(b + 12),
                   vs_le16_get(b + 14)};
    return true;
}

/* The entries of an indirect table: WRITE is their only flag, readable before writable. */
static void pd_indirect_table(vs_monitors *m, ctx cx, const pd_desc *d)
{
    uint32_t n = d->len / 16;
    bool wr = false, flag_bad = false, order_bad = false;
    for (uint32_t i = 0; i < n && i < 4096u; i++) {
        pd_desc e;
        if (!pd_read(m, d->addr + 16ull * i, &e))
            return;
        if ((e.flags & ~VS_DESC_F_WRITE) && !flag_bad) {
            flag_bad = true;
            bad(m, CK_D_PK_SHAPE, 4, cx, "indirect table entries flagged WRITE at most",
                "entry %" PRIu32 " of the table at 0x%" PRIx64 " has flags 0x%04x", i, d->addr,
                e.flags);
        }
        if (wr && !(e.flags & VS_DESC_F_WRITE) && !order_bad) {
            order_bad = true;
            bad(m, CK_D_PK_SHAPE, 0, cx, "readable descriptors before writable ones",
                "entry %" PRIu32 " of the table at 0x%" PRIx64 " readable after a writable one",
                i, d->addr);
        }
        wr |= (e.flags & VS_DESC_F_WRITE) != 0;
    }
    if (!flag_bad)
        ok(m, CK_D_PK_SHAPE, 4);
}

/* One descriptor of a list (k-th, k from 0): INDIRECT rules and readable-before-writable. */
static void pd_check_desc(vs_monitors *m, ctx cx, const pd_desc *d, uint32_t k, bool *wr)
{
    if (!has(neg(m), VS_F_INDIRECT_DESC)) {
        if (d->flags & VS_DESC_F_INDIRECT)
            bad(m, CK_D_PK_SHAPE, 2, cx, "INDIRECT only when VIRTIO_F_INDIRECT_DESC is negotiated",
                "slot %" PRIu32 " flags 0x%04x without INDIRECT_DESC", cx.idx, d->flags);
        else
            ok(m, CK_D_PK_SHAPE, 2);
    }
    if (d->flags & VS_DESC_F_INDIRECT) {
        if (k > 0 || (d->flags & VS_DESC_F_NEXT))
            bad(m, CK_D_PK_SHAPE, 3, cx, "an INDIRECT descriptor alone in its list",
                "slot %" PRIu32 " flags 0x%04x is descriptor %" PRIu32 " of a NEXT-linked list",
                cx.idx, d->flags, k);
        else
            ok(m, CK_D_PK_SHAPE, 3);
        pd_indirect_table(m, cx, d);
        return;
    }
    if (*wr && !(d->flags & VS_DESC_F_WRITE))
        bad(m, CK_D_PK_SHAPE, 0, cx, "readable descriptors before writable ones",
            "slot %" PRIu32 " readable after a writable one", cx.idx);
    else
        ok(m, CK_D_PK_SHAPE, 0);
    *wr |= (d->flags & VS_DESC_F_WRITE) != 0;
}

static uint64_t pd_hash_slots(vs_monitors *m, const qstate *q, uint16_t first, uint16_t n,
                              bool *okp)
{
    uint64_t h = FNV0;
    *okp = true;
    for (uint16_t i = 0; i < n; i++) {
        uint8_t b[16];
        if (vs_gmem_read(m->gm, q->l.desc_gpa + 16ull * ((first + i) % q->l.size), b, 16,
                         NULL) < 0)
            *okp = false;
        h = hash_words(h, b, 16);
    }
    return h;
}

/* A list of n slots from `first` with buffer id `id` (its last descriptor's): room for it,
 * and what the fetch check compares. */
static void pd_list_done(vs_monitors *m, int32_t qi, qstate *q, uint16_t first, uint16_t n,
                         uint16_t id)
{
    chain_rec *c = q->byid[id];
    ctx cx = {.queue = qi, .has_id = true, .id = id, .has_idx = true, .idx = first};
    if (role_on(m, CK_D_PK_ROOM) && !q->pd_lost) {
        /* both statements: too little room means slots still the device's rewritten */
        for (int k = 0; k < 2; k++) {
            if (q->pd_out + n > q->l.size)
                bad(m, CK_D_PK_ROOM, k, cx, "a list only in slots the device has marked used",
                    "list of %u at slot %u with %" PRIu32 " of %u slots still the device's", n,
                    first, q->pd_out, q->l.size);
            else
                ok(m, CK_D_PK_ROOM, k);
        }
    }
    if (!c || !c->live || c->pd_n) {
        q->pd_lost = true; /* a list we cannot pair with its chain: stop counting slots */
        return;
    }
    c->pd_first = first;
    c->pd_n = n;
    q->pd_out += n;
    c->pd_hash = pd_hash_slots(m, q, first, n, &c->pd_hash_ok);
}

/* Any hand-built (fault) chain pending: its ring layout is deliberate, not judged. */
static bool pd_raw_pending(const qstate *q)
{
    if (q->pend_n == UINT32_MAX)
        return true;
    for (uint32_t i = 0; i < q->pend_n; i++) {
        const chain_rec *c = q->byid[q->pend[i]];
        if (c && c->raw)
            return true;
    }
    return false;
}

/* A publish (ev->idx = the driver's next slot | wrap << 15): walk the lists between the
 * last position and this one as the device would read them. */
void pd_on_publish(vs_monitors *m, int32_t qi, qstate *q, const vs_event *ev)
{
    uint16_t end = (uint16_t)(ev->idx & 0x7fffu);
    bool end_w = (ev->idx & 0x8000u) != 0;
    if (!q->l.size || end >= q->l.size)
        return;
    bool judge = !pd_raw_pending(q) &&
                 (role_on(m, CK_D_PK_SHAPE) || role_on(m, CK_D_PK_ROOM) ||
                  role_on(m, CK_D_PK_AVAIL_FIXED));
    uint16_t s = q->pd_slot;
    bool w = q->pd_wrap;
    uint32_t steps = 0;
    while (judge && (s != end || w != end_w) && steps < q->l.size) {
        uint16_t first = s;
        uint32_t k = 0;
        bool wr = false, whole = false;
        pd_desc d = {0};
        while (steps < q->l.size) {
            ctx cx = {.queue = qi, .has_idx = true, .idx = s};
            if (!pd_read(m, q->l.desc_gpa + 16ull * s, &d))
                goto out;
            if (!pd_avail(d.flags, w)) {
                if (k > 0 && role_on(m, CK_D_PK_SHAPE))
                    bad(m, CK_D_PK_SHAPE, 1, cx, "every descriptor of a list available with its head",
                        "slot %u (descriptor %" PRIu32 " of the list at slot %u) flags 0x%04x "
                        "not available for wrap counter %d",
                        s, k, first, d.flags, w);
                goto out; /* the head itself not available: position lost, resync */
            }
            if (role_on(m, CK_D_PK_SHAPE))
                pd_check_desc(m, cx, &d, k, &wr);
            k++;
            steps++;
            if (++s == q->l.size) {
                s = 0;
                w = !w;
            }
            if (!(d.flags & VS_DESC_F_NEXT)) {
                whole = true;
                break;
            }
            if (s == end && w == end_w) {
                if (k >= q->l.size && role_on(m, CK_D_PK_SHAPE)) /* all slots, still NEXT */
                    bad(m, CK_D_PK_SHAPE, 5, cx, "a list of at most queue size descriptors",
                        "the list at slot %u has NEXT on all %" PRIu32 " slots of the ring",
                        first, k);
                else if (role_on(m, CK_D_PK_SHAPE))
                    bad(m, CK_D_PK_SHAPE, 1, cx, "every descriptor of a list available with its head",
                        "the list at slot %u continues (NEXT) past the published position %u",
                        first, end);
                goto out;
            }
        }
        if (!whole)
            goto out;
        if (role_on(m, CK_D_PK_SHAPE)) {
            ok(m, CK_D_PK_SHAPE, 1);
            ok(m, CK_D_PK_SHAPE, 5);
        }
        pd_list_done(m, qi, q, first, (uint16_t)k, d.id);
    }
out:
    if (!judge || s != end || w != end_w)
        q->pd_lost = true; /* slots not all accounted for */
    q->pd_slot = end;
    q->pd_wrap = end_w;
}

/* The chain's slots are the driver's again (used, or its id made available anew). */
void pd_release(qstate *q, chain_rec *c)
{
    if (!c->pd_n)
        return;
    q->pd_out = q->pd_out >= c->pd_n ? q->pd_out - c->pd_n : 0;
    c->pd_n = 0;
    c->pd_hash_ok = false;
}

/* The device fetched a published chain: its slots as at publish. */
void pd_on_fetch(vs_monitors *m, int32_t qi, qstate *q, chain_rec *c, uint32_t id)
{
    if (!c->pd_hash_ok || !role_on(m, CK_D_PK_AVAIL_FIXED))
        return;
    bool okr;
    uint64_t h = pd_hash_slots(m, q, c->pd_first, c->pd_n, &okr);
    c->pd_hash_ok = false;
    if (!okr)
        return;
    if (h == c->pd_hash) {
        ok(m, CK_D_PK_AVAIL_FIXED, 0);
        ok(m, CK_D_PK_AVAIL_FIXED, 1);
        return;
    }
    ctx cx = {.queue = qi, .has_id = true, .id = id, .has_idx = true, .idx = c->pd_first};
    /* both statements: a descriptor not final when its AVAIL flag flipped (the barrier
     * itself is invisible) shows the same way */
    for (int k = 0; k < 2; k++)
        bad(m, CK_D_PK_AVAIL_FIXED, k, cx, "an available descriptor unchanged until fetched",
            "slots %u..%u changed between publish and fetch", c->pd_first,
            (c->pd_first + c->pd_n - 1u) % q->l.size);
}
