/* Chain records: what each chain id holds while outstanding (segments, the hash of its
 * readable bytes, guard bytes after its writable buffers), made available,
 * completed (readable-unchanged, write-confined, used-len-bound, used-id-outstanding). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/monitor_dev.h"

void chain_free(chain_rec *c)
{
    if (!c)
        return;
    free(c->seg);
    free(c->guard);
    free(c->guard_ok);
    free(c->slots);
    free(c);
}

void queue_drop(vs_monitors *m, qstate *q)
{
    if (q->due && m->n_due)
        m->n_due--;
    if (q->byid) {
        for (uint32_t i = 0; i < ID_SPACE; i++)
            chain_free(q->byid[i]);
        free(q->byid);
    }
    free(q->fo_id);
    free(q->fo_seq);
    free(q->pk_snap);
    free(q->pk_snap_ok);
    free(q->pend);
    free(q->po_id);
    free(q->po_seq);
    free(q->gd_owner);
    memset(q, 0, sizeof *q);
}

/* Reads `n` bytes at logical offset `off` of the readable (write=false) or writable
 * part of a chain. */
bool chain_read(vs_monitors *m, const chain_rec *c, bool writable, uint64_t off,
                       void *buf, uint64_t n)
{
    uint8_t *dst = buf;
    uint32_t first = writable ? c->n_out : 0, end = writable ? c->nseg : c->n_out;
    for (uint32_t i = first; i < end && n > 0; i++) {
        uint64_t len = c->seg[i].len;
        if (off >= len) {
            off -= len;
            continue;
        }
        uint64_t take = len - off < n ? len - off : n;
        if (vs_gmem_read(m->gm, c->seg[i].gpa + off, dst, take, NULL) < 0)
            return false;
        dst += take;
        n -= take;
        off = 0;
    }
    return n == 0;
}

/* Where bytes [off, off + n) of the readable / writable part of a chain lie in host memory,
 * when they are in one descriptor's buffer (else NULL: copy them with chain_read). Saves
 * the monitors a copy of every data sector they hash. */
const uint8_t *chain_span(vs_monitors *m, const chain_rec *c, bool writable, uint64_t off,
                                 uint64_t n)
{
    uint32_t first = writable ? c->n_out : 0, end = writable ? c->nseg : c->n_out;
    for (uint32_t i = first; i < end; i++) {
        uint64_t len = c->seg[i].len;
        if (off >= len) {
            off -= len;
            continue;
        }
        if (len - off < n)
            return NULL;
        return vs_gmem_translate(m->gm, c->seg[i].gpa + off, n, VS_GMEM_READ, NULL);
    }
    return NULL;
}

bool hash_readable(vs_monitors *m, const chain_rec *c, uint64_t *h)
{
    uint64_t acc = FNV0;
    uint8_t buf[4096];
    for (uint32_t i = 0; i < c->n_out; i++) {
        const uint8_t *direct =
            c->seg[i].len ? vs_gmem_translate(m->gm, c->seg[i].gpa, c->seg[i].len,
                                              VS_GMEM_READ, NULL)
                          : NULL;
        if (direct) {
            acc = hash_words(acc, direct, c->seg[i].len);
            continue;
        }
        uint64_t pos = 0;
        while (pos < c->seg[i].len) {
            uint64_t take = c->seg[i].len - pos < sizeof buf ? c->seg[i].len - pos : sizeof buf;
            if (vs_gmem_read(m->gm, c->seg[i].gpa + pos, buf, take, NULL) < 0)
                return false;
            acc = hash_words(acc, buf, take);
            pos += take;
        }
    }
    *h = acc;
    return true;
}

/* Grows *p to at least n elements of elem bytes (contents kept, new part undefined). */
bool ensure_cap(void **p, uint32_t *cap, uint32_t n, size_t elem)
{
    if (n <= *cap && *p)
        return true;
    void *x = realloc(*p, (size_t)n * elem);
    if (!x)
        return false;
    *p = x;
    *cap = n;
    return true;
}

/* Clears a record for reuse, keeping its buffers and their capacities. */
static void chain_reset(vs_monitors *m, chain_rec *c)
{
    chain_rec k = *c;
    memset(c, 0, sizeof *c + m->dev_chain_bytes);
    c->seg = k.seg;
    c->seg_cap = k.seg_cap;
    c->guard = k.guard;
    c->guard_cap = k.guard_cap;
    c->guard_ok = k.guard_ok;
    c->gok_cap = k.gok_cap;
    c->slots = k.slots;
    c->slots_cap = k.slots_cap;
}

void on_avail(vs_monitors *m, const vs_event *ev)
{
    qstate *q = getq(m, ev->queue);
    if (!q || !q->setup || !ev->chain)
        return;
    uint32_t id = ev->id & 0xffffu;
    chain_rec *c = q->byid[id];
    if (c && c->live && !c->completed) {
        /* re-made available while outstanding: the driver reused a live id */
        q->live--;
    }
    /* The record of an id is reused (its arrays keep their capacity). */
    if (c && !q_split(q))
        pd_release(q, c);
    if (c) {
        /* a live id made available again: its completion will never be seen */
        if (m->dev && m->dev->chain_retire)
            m->dev->chain_retire(m, c);
        chain_reset(m, c);
    } else {
        c = calloc(1, sizeof *c + m->dev_chain_bytes);
        if (!c)
            return;
        q->byid[id] = c;
    }
    const vs_ev_chain *ch = ev->chain;
    c->nseg = ch->n_out + ch->n_in;
    c->n_out = ch->n_out;
    c->raw = ch->raw;
    c->illegal = false;
    uint32_t nw = ch->n_in;
    /* the guard bytes only write-confined (a device-role check) reads */
    bool guard = role_on(m, CK_GUARD);
    if (!ensure_cap((void **)&c->seg, &c->seg_cap, c->nseg ? c->nseg : 1, sizeof *c->seg) ||
        (guard &&
         (!ensure_cap((void **)&c->guard, &c->guard_cap, nw ? nw : 1, GUARD_LEN) ||
          !ensure_cap((void **)&c->guard_ok, &c->gok_cap, nw ? nw : 1, sizeof *c->guard_ok)))) {
        q->byid[id] = NULL;
        chain_free(c);
        return;
    }
    if (guard) {
        memset(c->guard, 0, (size_t)(nw ? nw : 1) * GUARD_LEN);
        memset(c->guard_ok, 0, (size_t)(nw ? nw : 1) * sizeof *c->guard_ok);
    }
    memcpy(c->seg, ch->seg, c->nseg * sizeof *c->seg);
    for (uint32_t i = 0; i < c->nseg; i++) {
        if (i < c->n_out)
            c->out_bytes += c->seg[i].len;
        else
            c->in_bytes += c->seg[i].len;
    }
    c->live = true;
    q->live++;
    if (!q_split(q)) {
        if (q->pend_n < UINT32_MAX &&
            ensure_cap((void **)&q->pend, &q->pend_cap, q->pend_n + 1, sizeof *q->pend))
            q->pend[q->pend_n++] = (uint16_t)id;
        else
            q->pend_n = UINT32_MAX; /* no memory: the publish scans every record */
        c->aseq = ++q->aseq_next;
        fo_push(q, id, c->aseq);
        pk_on_avail(q, ch);
    }
    /* The copies only device-role checks compare at completion: a driver-only run (the
     * vhost-user server's) takes none of them. */
    c->canary_ok = false;
    if (!c->raw && role_on(m, CK_READABLE))
        c->canary_ok = hash_readable(m, c, &c->canary);
    if (!c->raw && guard) {
        for (uint32_t w = 0; w < nw; w++) {
            const vs_seg *s = &c->seg[c->n_out + w];
            uint64_t g = s->gpa + s->len;
            bool inside = false;
            for (uint32_t j = c->n_out; j < c->nseg; j++)
                if (g < c->seg[j].gpa + c->seg[j].len && c->seg[j].gpa < g + GUARD_LEN)
                    inside = true;
            c->guard_ok[w] = !inside &&
                             vs_gmem_read(m->gm, g, c->guard + GUARD_LEN * w, GUARD_LEN, NULL) == 0;
        }
    }
    if (m->dev && m->dev->chain_avail)
        m->dev->chain_avail(m, q, c, ev);
}

/* readable-unchanged and write-confined at completion: the readable bytes against their
 * copy or hash, the guard bytes after each writable buffer. */
static void used_buffers_unchanged(vs_monitors *m, chain_rec *c, int k, ctx cx)
{
    if (role_on(m, CK_READABLE) && c->canary_ok) {
        uint64_t h = 0;
        if (hash_readable(m, c, &h)) {
            if (h != c->canary)
                bad(m, CK_READABLE, k, cx, "device-readable bytes unchanged",
                    "readable bytes (%" PRIu64 ") changed: hash %016" PRIx64 " -> %016" PRIx64,
                    c->out_bytes, c->canary, h);
            else
                ok(m, CK_READABLE, k);
        }
    }
    if (role_on(m, CK_GUARD)) {
        for (uint32_t w = 0; w + c->n_out < c->nseg; w++) {
            if (!c->guard_ok[w])
                continue;
            uint8_t g[GUARD_LEN];
            const vs_seg *s = &c->seg[c->n_out + w];
            if (vs_gmem_read(m->gm, s->gpa + s->len, g, GUARD_LEN, NULL) < 0)
                continue;
            if (memcmp(g, c->guard + GUARD_LEN * w, GUARD_LEN)) {
                unsigned first = 0;
                while (first < GUARD_LEN && g[first] == c->guard[GUARD_LEN * w + first])
                    first++;
                bad(m, CK_GUARD, k, cx, "no writes past the writable buffer",
                    "guard byte %u after writable segment %" PRIu32 " (0x%" PRIx64 "+%" PRIu32
                    ") changed", first, w, s->gpa, s->len);
            } else {
                ok(m, CK_GUARD, k);
            }
        }
    }
}

void on_used(vs_monitors *m, const vs_event *ev)
{
    qstate *q = getq(m, ev->queue);
    device_gate(m, ev, q, "used element");
    if (!q || !q->setup)
        return;
    qr_judge_old(m, ev->queue, false);
    qreset *qr = &m->qr[ev->queue];
    if (qr->fresh && role_on(m, CK_QRESET) && --qr->fresh_left == 0) {
        qr->fresh = false;
        ok(m, CK_QRESET, qr->resized ? 2 : 1);
    }
    uint32_t id = ev->id;
    ctx cx = (ctx){.queue = ev->queue, .has_id = true, .id = id, .has_idx = true, .idx = ev->idx};
    int k = q_split(q) ? 0 : 1;
    chain_rec *c = id < ID_SPACE ? q->byid[id] : NULL;
    /* used idx progress (split) */
    uint16_t u;
    if (q_split(q) && role_on(m, CK_USED_IDX) && used_idx_mem(m, q, &u)) {
        uint16_t before = (uint16_t)(ev->idx - 1);
        uint16_t ahead = (uint16_t)(u - before);
        uint32_t n = q->live;
        if (ahead > n)
            bad(m, CK_USED_IDX, 0, cx, "used idx ahead by at most the outstanding chains",
                "used idx %u is %u ahead of %u with %" PRIu32 " outstanding", u, ahead, before, n);
        else
            ok(m, CK_USED_IDX, 0);
    }
    q->collected = (uint16_t)ev->idx;
    if (!q_split(q))
        pk_on_used(m, ev->queue, q, ev);
    if (!c || !c->live) {
        if (role_on(m, CK_USED_ID)) {
            if (c && c->completed)
                bad(m, CK_USED_ID, k, cx, "each chain completed once",
                    "id %" PRIu32 " completed again (first at used idx %" PRIu32 ")", id,
                    c->completed_idx);
            else
                bad(m, CK_USED_ID, k, cx, "used id names an outstanding chain",
                    "id %" PRIu32 " was never made available", id);
        }
        return;
    }
    if (role_on(m, CK_USED_ID))
        ok(m, CK_USED_ID, k);
    if (role_on(m, CK_LEGAL_INPUT)) {
        for (int b = 0; b < 3; b++)
            if (c->odd & (1u << b))
                ok(m, CK_LEGAL_INPUT, b);
        if (m->spurious_kick && q_split(q))
            ok(m, CK_LEGAL_INPUT, 3); /* still serving after it */
    }
    if (role_on(m, CK_USED_LEN) && !c->raw) { /* a hand-built chain's shape is deliberate */
        if (ev->len > c->in_bytes)
            bad(m, CK_USED_LEN, k, cx, "used len <= writable bytes",
                "len %" PRIu32 " > %" PRIu64 " writable bytes", ev->len, c->in_bytes);
        else
            ok(m, CK_USED_LEN, k);
    }
    if (!c->raw)
        used_buffers_unchanged(m, c, k, cx);
    if (q_split(q) && c->desc_ok && role_on(m, CK_DESC_TABLE)) {
        uint64_t h;
        if (hash_desc(m, q, c, &h)) {
            if (h != c->desc_hash)
                bad(m, CK_DESC_TABLE, 0, cx, "descriptor table untouched by the device",
                    "descriptors of chain %" PRIu32 " changed while outstanding", id);
            else
                ok(m, CK_DESC_TABLE, 0);
        }
    }
    if (has(neg(m), VS_F_IN_ORDER) && role_on(m, CK_IN_ORDER) && c->published) {
        uint64_t min = UINT64_MAX;
        uint32_t min_id = id;
        po_oldest(q, &min_id, &min);
        if (min != c->seq)
            bad(m, CK_IN_ORDER, 0, cx, "used in the order made available",
                "id %" PRIu32 " used before id %" PRIu32, id, min_id);
        else
            ok(m, CK_IN_ORDER, 0);
    }
    if (m->dev && m->dev->chain_used)
        m->dev->chain_used(m, q, c, ev, cx);
    if (!q_split(q))
        pd_release(q, c);
    c->live = false;
    c->completed = true;
    c->completed_idx = ev->idx;
    if (q->live)
        q->live--;
}
