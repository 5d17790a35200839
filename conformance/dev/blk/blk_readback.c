/* Sector contents: blk-read-back (an OK read returns what the sector is known to hold)
 * and blk-write-zeroes-reads-zero, with the write log both use to tell which writes
 * overlapped in time. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/dev/blk/blk_mon_int.h"

/* A data sector of a chain, without copying it where possible (buf otherwise). */
const uint8_t *chain_sector(vs_monitors *m, const chain_rec *c, bool writable, uint64_t off,
                            uint8_t buf[VS_BLK_SECTOR])
{
    const uint8_t *p = chain_span(m, c, writable, off, VS_BLK_SECTOR);
    if (p)
        return p;
    return chain_read(m, c, writable, off, buf, VS_BLK_SECTOR) ? buf : NULL;
}

/* ------------------------------------------------------------ blk: read back */

static void rb_give_up(vs_monitors *m)
{
    blk_mon *bs = bm(m);
    free(bs->rb);
    bs->rb = NULL;
    bs->rb_failed = true; /* fewer checks, never a false one */
}

static bool rb_ready(vs_monitors *m)
{
    blk_mon *bs = bm(m);
    if (bs->blk_clock >= UINT32_MAX - 2 && bs->rb)
        rb_give_up(m);
    if (!bs->rb && !bs->rb_failed && !(bs->rb = calloc(RB_SECTORS, sizeof *bs->rb)))
        bs->rb_failed = true;
    return bs->rb != NULL;
}

/* A write-type request covering [a, b) made available: the sectors are unknown until it
 * is done, except on a read-only device, where it must change nothing. */
static void rb_on_avail(vs_monitors *m, chain_rec *c, uint64_t a, uint64_t b)
{
    blk_mon *bs = bm(m);
    if (!role_on(m, CK_BLK_READ_BACK) || a >= RB_SECTORS || !rb_ready(m))
        return;
    b = b < RB_SECTORS ? b : RB_SECTORS;
    bool ro = blk_read_only(m);
    for (uint64_t s = a; s < b; s++) {
        rb_sec *x = &bs->rb[s];
        if (ro) {
            x->ro_write = true;
            continue;
        }
        if (x->inflight == UINT16_MAX) {
            rb_give_up(m); /* the ones counted so far are simply forgotten with the table */
            return;
        }
        x->known = false;
        x->inflight++;
        x->wclock = (uint32_t)bc(c)->blk_clock;
    }
    if (!ro && a < b) {
        bc(c)->rb_counted = true;
        bc(c)->rb_a = a;
        bc(c)->rb_b = b;
        bs->rb_inflight++;
    }
}

/* A counted write completed. An OK OUT that no other write overlapped in time defines
 * the contents of its sectors (its readable data, unchanged: readable-unchanged). */
void rb_write_done(vs_monitors *m, chain_rec *c, bool ok_out)
{
    blk_mon *bs = bm(m);
    if (!bc(c)->rb_counted || !bs->rb)
        return;
    bc(c)->rb_counted = false;
    if (bs->rb_inflight)
        bs->rb_inflight--;
    uint32_t clk = (uint32_t)++bs->blk_clock;
    /* The data in place when it is one buffer (the usual case): one translation. */
    uint64_t off0 = VS_BLK_HDR_BYTES + (bc(c)->rb_a - bc(c)->blk_sector) * VS_BLK_SECTOR;
    const uint8_t *span =
        ok_out ? chain_span(m, c, false, off0, (bc(c)->rb_b - bc(c)->rb_a) * VS_BLK_SECTOR) : NULL;
    for (uint64_t s = bc(c)->rb_a; s < bc(c)->rb_b; s++) {
        rb_sec *x = &bs->rb[s];
        bool alone = x->wclock == (uint32_t)bc(c)->blk_clock && x->inflight == 1;
        if (x->inflight)
            x->inflight--;
        x->wclock = clk;
        uint8_t buf[VS_BLK_SECTOR];
        uint64_t off = off0 + (s - bc(c)->rb_a) * VS_BLK_SECTOR;
        const uint8_t *p = !(ok_out && alone) ? NULL
                           : span             ? span + (off - off0)
                                              : chain_sector(m, c, false, off, buf);
        if (p) {
            x->hash = hash_words(FNV0, p, VS_BLK_SECTOR);
            x->known = true;
            x->ro_write = false;
        }
    }
}

/* The device stopped: outstanding writes may or may not have happened. */
void rb_reset(vs_monitors *m)
{
    blk_mon *bs = bm(m);
    if (!bs->rb || !bs->rb_inflight)
        return;
    uint32_t clk = (uint32_t)++bs->blk_clock;
    for (uint32_t s = 0; s < RB_SECTORS; s++)
        if (bs->rb[s].inflight) {
            bs->rb[s] = (rb_sec){.wclock = clk};
        }
    bs->rb_inflight = 0;
}

/* An IN completed with OK: each sector no write overlapped must hold what it is known to
 * hold; otherwise what it read becomes known. */
void rb_check_read(vs_monitors *m, const chain_rec *c, bool packed, ctx cx)
{
    if (!role_on(m, CK_BLK_READ_BACK) || c->in_bytes < 1 + VS_BLK_SECTOR ||
        bc(c)->blk_sector >= RB_SECTORS || !rb_ready(m))
        return;
    uint64_t nsec = (c->in_bytes - 1) / VS_BLK_SECTOR, data = nsec * VS_BLK_SECTOR;
    uint32_t data_descs = 0; /* writable descriptors holding data */
    for (uint32_t i = c->n_out; i < c->nseg && data; i++) {
        uint64_t take = c->seg[i].len < data ? c->seg[i].len : data;
        data_descs += take > 0;
        data -= take;
    }
    bool multi = packed && data_descs >= 2;
    const uint8_t *span = chain_span(m, c, true, 0, nsec * VS_BLK_SECTOR);
    for (uint64_t i = 0; i < nsec && bc(c)->blk_sector + i < RB_SECTORS; i++) {
        rb_sec *x = &bm(m)->rb[bc(c)->blk_sector + i];
        if (x->inflight || x->wclock >= bc(c)->blk_clock)
            continue; /* a write overlapped the read: either contents are right */
        uint8_t buf[VS_BLK_SECTOR];
        const uint8_t *p =
            span ? span + i * VS_BLK_SECTOR : chain_sector(m, c, true, i * VS_BLK_SECTOR, buf);
        if (!p)
            return;
        uint64_t h = hash_words(FNV0, p, VS_BLK_SECTOR);
        if (!x->known) {
            x->known = true;
            x->hash = h;
            continue;
        }
        int k = x->ro_write ? 0 : multi ? 1 : -1;
        if (h == x->hash) {
            ok(m, CK_BLK_READ_BACK, k);
            continue;
        }
        bad(m, CK_BLK_READ_BACK, k, cx,
            k == 0   ? "a rejected write on a read-only device changes nothing"
            : k == 1 ? "writable descriptors filled in list order"
                     : "a read returns what the sector holds",
            "sector %" PRIu64 " reads hash %016" PRIx64 ", it held %016" PRIx64 "%s",
            bc(c)->blk_sector + i, h, x->hash,
            k == 0   ? " before a write on the read-only device"
            : k == 1 ? " (data spread over several descriptors)"
                     : "");
        x->hash = h; /* reported once per change */
        x->ro_write = false;
    }
}

/* ------------------------------------------------------------ blk: write zeroes */

static bool blk_writes(const chain_rec *c)
{
    if (!bc(c)->blk_ok)
        return true; /* hand-built or unparsable: assume the worst */
    uint32_t t = bc(c)->blk_type;
    return t != VS_BLK_T_IN && t != VS_BLK_T_FLUSH && t != VS_BLK_T_GET_ID &&
           t != VS_BLK_T_GET_LIFETIME;
}

bool dwz_seg(vs_monitors *m, const chain_rec *c, uint64_t s, uint64_t *a, uint64_t *b)
{
    uint8_t sb[VS_BLK_DWZ_SEG_BYTES];
    if (!chain_read(m, c, false, VS_BLK_HDR_BYTES + VS_BLK_DWZ_SEG_BYTES * s, sb, sizeof sb))
        return false;
    vs_blk_dwz_seg seg;
    vs_blk_dwz_get(sb, &seg);
    *a = seg.sector;
    *b = sat_add(seg.sector, seg.num_sectors);
    return true;
}

/* The sectors a write-type request may change (conservatively all). */
static void blk_envelope(vs_monitors *m, const chain_rec *c, uint64_t *a, uint64_t *b)
{
    *a = 0;
    *b = UINT64_MAX;
    if (!bc(c)->blk_ok)
        return;
    uint32_t t = bc(c)->blk_type;
    if (t == VS_BLK_T_OUT) {
        *a = bc(c)->blk_sector;
        uint64_t data = c->out_bytes - VS_BLK_HDR_BYTES;
        *b = sat_add(bc(c)->blk_sector, (data + VS_BLK_SECTOR - 1) / VS_BLK_SECTOR);
    } else if (t == VS_BLK_T_DISCARD || t == VS_BLK_T_WRITE_ZEROES ||
               t == VS_BLK_T_SECURE_ERASE) {
        uint64_t nsegs = (c->out_bytes - VS_BLK_HDR_BYTES) / VS_BLK_DWZ_SEG_BYTES;
        uint64_t lo = UINT64_MAX, hi = 0;
        if (nsegs == 0 || nsegs > 4096)
            return;
        for (uint64_t s = 0; s < nsegs; s++) {
            uint64_t x, y;
            if (!dwz_seg(m, c, s, &x, &y))
                return;
            lo = x < lo ? x : lo;
            hi = y > hi ? y : hi;
        }
        *a = lo;
        *b = hi;
    }
}

static void zr_put(vs_monitors *m, uint64_t a, uint64_t b, uint64_t clock)
{
    blk_mon *bs = bm(m);
    if (a >= b)
        return;
    if (bs->n_zr == ZR_MAX) { /* forget the oldest: fewer checks, never a false one */
        memmove(bs->zr, bs->zr + 1, (ZR_MAX - 1) * sizeof *bs->zr);
        bs->n_zr--;
    }
    bs->zr[bs->n_zr++] = (zrange){a, b, clock};
}

static void zr_remove(vs_monitors *m, uint64_t a, uint64_t b)
{
    blk_mon *bs = bm(m);
    zrange old[ZR_MAX];
    uint32_t n = bs->n_zr;
    memcpy(old, bs->zr, n * sizeof *old);
    bs->n_zr = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (old[i].b <= a || b <= old[i].a) {
            zr_put(m, old[i].a, old[i].b, old[i].clock);
            continue;
        }
        zr_put(m, old[i].a, a, old[i].clock);
        zr_put(m, b, old[i].b, old[i].clock);
    }
}

/* A chain made available: remember when, and what a write may change. */
void blk_on_avail(vs_monitors *m, chain_rec *c)
{
    blk_mon *bs = bm(m);
    bc(c)->blk_clock = ++bs->blk_clock;
    if (bs->rb && bc(c)->blk_type == VS_BLK_T_IN && bc(c)->blk_sector < RB_SECTORS - 8) {
        /* the read's completion looks its sectors up in a table too big for the cache;
         * by then (other requests in flight later) the lines are in */
        __builtin_prefetch(&bs->rb[bc(c)->blk_sector]);
        __builtin_prefetch(&bs->rb[bc(c)->blk_sector + 7]);
    }
    if (!blk_writes(c))
        return;
    uint64_t a, b;
    blk_envelope(m, c, &a, &b);
    zr_remove(m, a, b);
    rb_on_avail(m, c, a, b);
    wlog *w = &bs->wl[bs->wl_total % WLOG_MAX];
    if (bs->wl_total >= WLOG_MAX && w->done == 0)
        bs->wl_live_evicted++;
    *w = (wlog){a, b, bc(c)->blk_clock, 0};
    bc(c)->blk_wl = ++bs->wl_total;
}

void blk_write_done(vs_monitors *m, chain_rec *c)
{
    blk_mon *bs = bm(m);
    if (!bc(c)->blk_wl)
        return;
    uint64_t i = bc(c)->blk_wl - 1;
    if (bs->wl_total - i > WLOG_MAX) {
        if (bs->wl_live_evicted)
            bs->wl_live_evicted--;
    } else {
        bs->wl[i % WLOG_MAX].done = ++bs->blk_clock;
    }
    bc(c)->blk_wl = 0;
}

/* A WRITE_ZEROES completed with OK: its segments read as zeroes from now on, except
 * where another write overlapped it in time (its order is then unknown). */
void wz_completed(vs_monitors *m, chain_rec *c)
{
    blk_mon *b = bm(m);
    if (!bc(c)->blk_wl || b->wl_live_evicted || b->wl_total - (bc(c)->blk_wl - 1) > WLOG_MAX)
        return;
    uint64_t nsegs = (c->out_bytes - VS_BLK_HDR_BYTES) / VS_BLK_DWZ_SEG_BYTES;
    uint64_t first = b->wl_total > WLOG_MAX ? b->wl_total - WLOG_MAX : 0;
    for (uint64_t s = 0; s < nsegs && s < 256; s++) {
        uint64_t pa[16], pb[16];
        uint32_t np = 0;
        if (!dwz_seg(m, c, s, &pa[0], &pb[0]))
            return;
        np = 1;
        for (uint64_t i = first; i < b->wl_total && np; i++) {
            const wlog *w = &b->wl[i % WLOG_MAX];
            if (i == bc(c)->blk_wl - 1 ||
                (w->start < bc(c)->blk_clock && w->done && w->done < bc(c)->blk_clock))
                continue; /* itself, or done before it was made available */
            for (uint32_t p = 0; p < np;) { /* subtract [w->a, w->b) */
                if (pb[p] <= w->a || w->b <= pa[p]) {
                    p++;
                    continue;
                }
                uint64_t la = pa[p], rb = pb[p];
                pa[p] = pa[np - 1];
                pb[p] = pb[np - 1];
                np--;
                if (la < w->a && np < 16) {
                    pa[np] = la;
                    pb[np++] = w->a;
                }
                if (w->b < rb && np < 16) {
                    pa[np] = w->b;
                    pb[np++] = rb;
                }
            }
        }
        uint64_t clk = ++b->blk_clock;
        for (uint32_t p = 0; p < np; p++)
            zr_put(m, pa[p], pb[p], clk);
    }
}

/* An IN completed with OK: sectors zeroed before it was made available read as zeroes. */
void wz_check_read(vs_monitors *m, const chain_rec *c, ctx cx)
{
    blk_mon *bs = bm(m);
    uint64_t a = bc(c)->blk_sector, nsec = (c->in_bytes - 1) / VS_BLK_SECTOR;
    uint64_t b = sat_add(a, nsec);
    for (uint32_t i = 0; i < bs->n_zr; i++) {
        const zrange *z = &bs->zr[i];
        if (z->clock >= bc(c)->blk_clock || z->b <= a || b <= z->a)
            continue;
        uint64_t oa = z->a > a ? z->a : a, ob = z->b < b ? z->b : b;
        uint64_t off = (oa - a) * VS_BLK_SECTOR, end = (ob - a) * VS_BLK_SECTOR;
        bool zero = true;
        uint8_t buf[4096];
        while (off < end && zero) {
            uint64_t take = end - off < sizeof buf ? end - off : sizeof buf;
            if (!chain_read(m, c, true, off, buf, take))
                return;
            for (uint64_t k = 0; k < take; k++)
                if (buf[k]) {
                    uint64_t at = off + k;
                    bad(m, CK_BLK_WZ_ZEROES, 0, cx, "zeroes after WRITE_ZEROES",
                        "sector %" PRIu64 " byte %" PRIu64 " reads 0x%02x; sectors %" PRIu64
                        "..%" PRIu64 " were zeroed",
                        a + at / VS_BLK_SECTOR, at % VS_BLK_SECTOR, buf[k], z->a, z->b - 1);
                    zero = false;
                    break;
                }
            off += take;
        }
        if (zero)
            ok(m, CK_BLK_WZ_ZEROES, 0);
    }
}
