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
