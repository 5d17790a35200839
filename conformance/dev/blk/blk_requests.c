/* blk requests: the header and segments of each chain made available (through the blk
 * codec), the request-shape driver check, and at completion the status byte, used len,
 * read-only writes, discard / write-zeroes flags, zone requests without ZONED and the
 * lifetime values; the feature offer; the hooks that feed blk_readback.c and blk_zoned.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/dev/blk/blk_mon_int.h"

void blk_features_offered(vs_monitors *m, uint64_t f)
{
    if (role_on(m, CK_OFFER_DEPS)) {
        if (has(f, VS_BLK_F_CONFIG_WCE) && !has(f, VS_BLK_F_FLUSH)) {
            bad(m, CK_OFFER_DEPS, 0, NOCTX, "CONFIG_WCE offered only with FLUSH",
                "CONFIG_WCE without FLUSH (offered 0x%016" PRIx64 ")", f);
            bad(m, CK_OFFER_DEPS, 1, NOCTX, "CONFIG_WCE offered only with FLUSH",
                "CONFIG_WCE without FLUSH (offered 0x%016" PRIx64 ")", f);
        } else {
            ok(m, CK_OFFER_DEPS, 0);
            ok(m, CK_OFFER_DEPS, 1);
        }
        /* ZONED needs FEATURES_OK to be negotiated: never on a legacy device */
        if (has(f, VS_BLK_F_ZONED) && !has(f, VS_F_VERSION_1))
            bad(m, CK_OFFER_DEPS, 2, NOCTX, "ZONED offered only with VERSION_1",
                "ZONED offered by a legacy device (offered 0x%016" PRIx64 ")", f);
        else if (has(f, VS_BLK_F_ZONED))
            ok(m, CK_OFFER_DEPS, 2);
    }
    if (role_on(m, CK_BLK_FLUSH_OFFERED)) {
        if (has(f, VS_BLK_F_FLUSH))
            ok(m, CK_BLK_FLUSH_OFFERED, 0);
        else
            bad(m, CK_BLK_FLUSH_OFFERED, 0, NOCTX, "VIRTIO_BLK_F_FLUSH offered",
                "offered 0x%016" PRIx64, f);
    }
}

void blk_features_ok_read(vs_monitors *m, bool set)
{
    blk_mon *bs = bm(m);
    if (role_on(m, CK_ZONED_FOK) && m->offered_known &&
        has(m->offered, VS_BLK_F_ZONED) && !has(m->drv_features, VS_BLK_F_ZONED) &&
        !(m->drv_features & ~m->offered) && bs->z_model_pre_known &&
        bs->z_model_pre == VS_BLK_Z_HM) {
        if (set)
            bad(m, CK_ZONED_FOK, 0, NOCTX,
                "FEATURES_OK clear: host-managed device, ZONED declined",
                "FEATURES_OK set with driver features 0x%016" PRIx64, m->drv_features);
        else
            ok(m, CK_ZONED_FOK, 0);
    }
}

void blk_reset(vs_monitors *m)
{
    /* outstanding writes are over, done or not */
    blk_mon *b = bm(m);
    for (uint64_t i = b->wl_total > WLOG_MAX ? b->wl_total - WLOG_MAX : 0; i < b->wl_total; i++)
        if (!b->wl[i % WLOG_MAX].done)
            b->wl[i % WLOG_MAX].done = ++b->blk_clock;
    b->wl_live_evicted = 0;
    rb_reset(m);
    if (b->z_live) /* zone requests in flight may or may not have happened */
        z_forget_all(m);
    b->z_live = 0;
    b->z_model_pre_known = false;
    drv_reset(m);
    for (size_t i = 0; i < BLK_CFG_TRACKED; i++)
        b->cfg[i].known = false;
    b->wce_first_read_done = false;
}

/* The request header, and the OR of the segment flags of a discard / write-zeroes /
 * secure erase. */
static void parse_request(vs_monitors *m, chain_rec *c)
{
    blk_chain *b = bc(c);
    uint8_t h[VS_BLK_HDR_BYTES];
    if (!chain_read(m, c, false, 0, h, sizeof h))
        return;
    vs_blk_req_hdr hdr;
    vs_blk_hdr_get(h, &hdr);
    b->blk_type = hdr.type;
    b->blk_sector = hdr.sector;
    b->blk_ok = true;
    if (b->blk_type != VS_BLK_T_DISCARD && b->blk_type != VS_BLK_T_WRITE_ZEROES &&
        b->blk_type != VS_BLK_T_SECURE_ERASE)
        return;
    uint64_t nsegs = (c->out_bytes - VS_BLK_HDR_BYTES) / VS_BLK_DWZ_SEG_BYTES;
    for (uint64_t s = 0; s < nsegs && s < 4096; s++) {
        uint8_t sb[VS_BLK_DWZ_SEG_BYTES];
        if (!chain_read(m, c, false, VS_BLK_HDR_BYTES + VS_BLK_DWZ_SEG_BYTES * s, sb, sizeof sb))
            break;
        vs_blk_dwz_seg seg;
        vs_blk_dwz_get(sb, &seg);
        b->blk_dwz_flags |= seg.flags;
    }
}

/* blk-request-shape (driver). */
static void request_shape(vs_monitors *m, chain_rec *c, const vs_event *ev)
{
    blk_mon *bs = bm(m);
    ctx cx = idctx(ev->queue, ev->id & 0xffffu);
    uint32_t t = bc(c)->blk_type;
    uint64_t out_data = c->out_bytes - VS_BLK_HDR_BYTES;
    uint64_t in_data = c->in_bytes ? c->in_bytes - 1 : 0;
    if (t == VS_BLK_T_IN || t == VS_BLK_T_OUT) {
        uint64_t data = t == VS_BLK_T_IN ? in_data : out_data;
        if (data % VS_BLK_SECTOR)
            bad(m, CK_D_BLK_REQ, 0, cx, "data length a multiple of 512",
                "%s with %" PRIu64 " data bytes", t ? "OUT" : "IN", data);
        else
            ok(m, CK_D_BLK_REQ, 0);
        if (bs->capacity_known) {
            if (bc(c)->blk_sector + data / VS_BLK_SECTOR > bs->capacity)
                bad(m, CK_D_BLK_REQ, 1, cx, "request within capacity",
                    "sector %" PRIu64 " + %" PRIu64 " sectors > capacity %" PRIu64,
                    bc(c)->blk_sector, data / VS_BLK_SECTOR, bs->capacity);
            else
                ok(m, CK_D_BLK_REQ, 1);
        }
    } else if (t == VS_BLK_T_FLUSH) {
        if (bc(c)->blk_sector)
            bad(m, CK_D_BLK_REQ, 2, cx, "FLUSH sector 0", "sector %" PRIu64, bc(c)->blk_sector);
        else
            ok(m, CK_D_BLK_REQ, 2);
        if (out_data || in_data)
            bad(m, CK_D_BLK_REQ, 3, cx, "FLUSH without data",
                "%" PRIu64 " out / %" PRIu64 " in data bytes", out_data, in_data);
        else
            ok(m, CK_D_BLK_REQ, 3);
    } else if (t == VS_BLK_T_GET_ID) {
        if (in_data != VS_BLK_ID_BYTES)
            bad(m, CK_D_BLK_REQ, 4, cx, "GET_ID with 20 data bytes", "%" PRIu64 " bytes",
                in_data);
        else
            ok(m, CK_D_BLK_REQ, 4);
    } else if (t == VS_BLK_T_DISCARD || t == VS_BLK_T_WRITE_ZEROES ||
               t == VS_BLK_T_SECURE_ERASE) {
        if (out_data % VS_BLK_DWZ_SEG_BYTES)
            bad(m, CK_D_BLK_REQ, 5, cx, "data a multiple of 16 bytes",
                "type %" PRIu32 " with %" PRIu64 " data bytes", t, out_data);
        else
            ok(m, CK_D_BLK_REQ, 5);
        if (t == VS_BLK_T_DISCARD) {
            if (bc(c)->blk_dwz_flags & VS_BLK_F_DWZ_UNMAP)
                bad(m, CK_D_BLK_REQ, 6, cx, "unmap clear in discard segments",
                    "segment flags 0x%" PRIx32, bc(c)->blk_dwz_flags);
            else
                ok(m, CK_D_BLK_REQ, 6);
        }
    }
}

/* Packed ring: the device limit on a list is seg_max data segments (the statements name
 * the device's limit; for blk that is seg_max) plus the header and status descriptors. */
static void packed_list_length(vs_monitors *m, const chain_rec *c, const vs_event *ev)
{
    blk_mon *bs = bm(m);
    if (!has(neg(m), VS_BLK_F_SEG_MAX) || !(bs->segs_known & 1) || !ev->chain)
        return;
    int k = ev->chain->indirect ? 1 : 0;
    ctx cx = idctx(ev->queue, ev->id);
    if ((uint64_t)c->nseg > (uint64_t)bs->seg_max + 2)
        bad(m, CK_D_BLK_PK_SEGS, k, cx, "at most seg_max + 2 descriptors per request",
            "%s of %" PRIu32 " descriptors with seg_max %" PRIu32,
            k ? "indirect table" : "list", c->nseg, bs->seg_max);
    else
        ok(m, CK_D_BLK_PK_SEGS, k);
}

void blk_chain_avail(vs_monitors *m, qstate *q, chain_rec *c, const vs_event *ev)
{
    blk_mon *bs = bm(m);
    if (!q_split(q) && !c->raw && role_on(m, CK_D_BLK_PK_SEGS))
        packed_list_length(m, c, ev);
    if (!c->raw && c->n_out && c->seg[0].len < VS_BLK_HDR_BYTES)
        c->odd |= ODD_FRAMING; /* legal: the device must cope (no-error-on-legal-input) */
    if (!c->raw && c->out_bytes >= VS_BLK_HDR_BYTES)
        parse_request(m, c);
    blk_on_avail(m, c);
    if (bc(c)->blk_ok) /* before it counts as in flight: the zone model is current */
        drv_chain_avail(m, c, ev);
    if (bc(c)->blk_ok && zoned_neg(m)) {
        bc(c)->z_counted = true;
        bc(c)->z_solo = bs->z_live == 0;
        bc(c)->z_seq = ++bs->z_seq;
        bs->z_live++;
    }
    if (bc(c)->blk_ok && role_on(m, CK_D_BLK_REQ))
        request_shape(m, c, ev);
}

/* The status byte's checks: its value, used len, read-only writes, segment flags, zone
 * requests without ZONED. */
static void used_status(vs_monitors *m, chain_rec *c, const vs_event *ev, uint8_t st, ctx cx)
{
    uint64_t f = neg(m);
    uint32_t t = bc(c)->blk_type;
    if (role_on(m, CK_BLK_STATUS)) {
        if (st > (has(f, VS_BLK_F_ZONED) ? VS_BLK_S_ZONE_ACTIVE_RESOURCE
                                         : VS_BLK_S_UNSUPP))
            bad(m, CK_BLK_STATUS, -1, cx,
                has(f, VS_BLK_F_ZONED) ? "status OK, IOERR, UNSUPP or a zoned status"
                                       : "status OK, IOERR or UNSUPP",
                "status byte %u", st);
        else
            ok(m, CK_BLK_STATUS, -1);
    }
    if (role_on(m, CK_BLK_USED_LEN) && ev->val != 1) { /* val 1: len reserved */
        if (ev->len < 1)
            bad(m, CK_BLK_USED_LEN, -1, cx, "used len covers the status byte",
                "len %" PRIu32, ev->len);
        else if (t == VS_BLK_T_IN && st == VS_BLK_S_OK && ev->len != c->in_bytes)
            bad(m, CK_BLK_USED_LEN, -1, cx, "IN used len = data + 1",
                "len %" PRIu32 ", writable %" PRIu64, ev->len, c->in_bytes);
        else
            ok(m, CK_BLK_USED_LEN, -1);
    }
    if (t == VS_BLK_T_OUT && blk_read_only(m) && role_on(m, CK_BLK_RO_WRITE)) {
        if (st != VS_BLK_S_IOERR)
            bad(m, CK_BLK_RO_WRITE, 0, cx, "IOERR for a write to a read-only device",
                "status %u", st);
        else
            ok(m, CK_BLK_RO_WRITE, 0);
    }
    bool dwz = t == VS_BLK_T_DISCARD || t == VS_BLK_T_WRITE_ZEROES ||
               t == VS_BLK_T_SECURE_ERASE;
    if (dwz && role_on(m, CK_BLK_DWZ_FLAGS)) {
        if (bc(c)->blk_dwz_flags & ~VS_BLK_F_DWZ_UNMAP) {
            if (st != VS_BLK_S_UNSUPP)
                bad(m, CK_BLK_DWZ_FLAGS, 0, cx, "UNSUPP for unknown segment flags",
                    "type %" PRIu32 " flags 0x%" PRIx32 " status %u", t,
                    bc(c)->blk_dwz_flags, st);
            else
                ok(m, CK_BLK_DWZ_FLAGS, 0);
        } else if (t == VS_BLK_T_DISCARD && (bc(c)->blk_dwz_flags & VS_BLK_F_DWZ_UNMAP) &&
                   has(f, VS_BLK_F_DISCARD)) {
            if (st != VS_BLK_S_UNSUPP)
                bad(m, CK_BLK_DWZ_FLAGS, 1, cx, "UNSUPP for discard with unmap",
                    "status %u", st);
            else
                ok(m, CK_BLK_DWZ_FLAGS, 1);
        }
    }
    bool zone = t == VS_BLK_T_ZONE_APPEND || t == VS_BLK_T_ZONE_REPORT ||
                t == VS_BLK_T_ZONE_OPEN || t == VS_BLK_T_ZONE_CLOSE || t == VS_BLK_T_ZONE_FINISH ||
                t == VS_BLK_T_ZONE_RESET || t == VS_BLK_T_ZONE_RESET_ALL;
    if (zone && !has(f, VS_BLK_F_ZONED) && role_on(m, CK_BLK_ZONED_UNSUPP)) {
        if (st != VS_BLK_S_UNSUPP)
            bad(m, CK_BLK_ZONED_UNSUPP, 0, cx, "UNSUPP for zone requests without ZONED",
                "type %" PRIu32 " status %u", t, st);
        else
            ok(m, CK_BLK_ZONED_UNSUPP, 0);
    }
}

/* What an OK request's data says: zeroed sectors, the zone model, read-back, lifetime. */
static void used_data(vs_monitors *m, qstate *q, chain_rec *c, uint8_t st, ctx cx)
{
    uint64_t f = neg(m);
    uint32_t t = bc(c)->blk_type;
    if (t == VS_BLK_T_WRITE_ZEROES && st == VS_BLK_S_OK &&
        has(f, VS_BLK_F_WRITE_ZEROES))
        wz_completed(m, c);
    zone_on_used(m, c, st, cx);
    if (t == VS_BLK_T_IN && st == VS_BLK_S_OK && c->in_bytes > VS_BLK_SECTOR &&
        bm(m)->n_zr && role_on(m, CK_BLK_WZ_ZEROES))
        wz_check_read(m, c, cx);
    if (t == VS_BLK_T_IN && st == VS_BLK_S_OK)
        rb_check_read(m, c, !q_split(q), cx);
    if (t == VS_BLK_T_GET_LIFETIME && st == VS_BLK_S_OK &&
        c->in_bytes >= VS_BLK_LIFETIME_BYTES + 1 &&
        role_on(m, CK_BLK_LIFETIME)) {
        uint8_t lt[VS_BLK_LIFETIME_BYTES];
        if (chain_read(m, c, true, 0, lt, sizeof lt)) {
            uint16_t pre = vs_le16_get(lt), a = vs_le16_get(lt + 2), b = vs_le16_get(lt + 4);
            if (pre > 3 || a > 0x0b || b > 0x0b)
                bad(m, CK_BLK_LIFETIME, 0, cx, "pre_eol_info <= 3, estimates <= 0x0b",
                    "pre_eol_info %u, estimates 0x%x 0x%x", pre, a, b);
            else
                ok(m, CK_BLK_LIFETIME, 0);
        }
    }
}

void blk_chain_used(vs_monitors *m, qstate *q, chain_rec *c, const vs_event *ev, ctx cx)
{
    blk_mon *bs = bm(m);
    bool out_ok = false;
    if (bc(c)->blk_ok && c->nseg > c->n_out) {
        const vs_seg *last = &c->seg[c->nseg - 1];
        uint8_t st;
        if (last->len && vs_gmem_ld8(m->gm, last->gpa + last->len - 1, &st, NULL) == 0) {
            used_status(m, c, ev, st, cx);
            used_data(m, q, c, st, cx);
            drv_chain_used(m, c, st);
            out_ok = bc(c)->blk_type == VS_BLK_T_OUT && st == VS_BLK_S_OK;
        }
    }
    rb_write_done(m, c, out_ok);
    if (bc(c)->z_counted) { /* completed without a readable status: the model cannot follow */
        bc(c)->z_counted = false;
        if (bs->z_live)
            bs->z_live--;
        z_forget_all(m);
    }
    blk_write_done(m, c);
}

/* A chain id made available again: whatever the old request counted as in flight
 * (read-back sectors, the write log, the zone model) is released, so those checks go on
 * for the sectors it covered instead of waiting for the next reset. */
void blk_chain_retire(vs_monitors *m, chain_rec *c)
{
    blk_mon *bs = bm(m);
    rb_write_done(m, c, false);
    blk_write_done(m, c);
    if (bc(c)->z_counted) {
        bc(c)->z_counted = false;
        if (bs->z_live)
            bs->z_live--;
        bs->z_seq++;
    }
}
