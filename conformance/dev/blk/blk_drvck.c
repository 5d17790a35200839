/* blk driver-role rules judged from what the device sees (spec 5.2.5 and 5.2.6 driver
 * requirements): the features a driver takes for a host-managed zoned device and when it
 * gives up on one, a capacity read after a config interrupt, the range segments of
 * discard / write-zeroes / secure-erase requests, a FLUSH after switching writeback off,
 * and the sectors and sizes of zone requests. Everything here works from the driver's own
 * config reads, status writes and chains as the device sees them, nothing from the device
 * itself; where a view has no config accesses or status (a vhost-user back-end sees
 * neither), the rules that need them go unjudged rather than guessed. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/dev/blk/blk_mon_int.h"

/* ------------------------------------------------------------ status and features */

/* The zoned model the driver read (HM: 1), or -1. */
static int model_read(const vs_monitors *m)
{
    const blk_mon *bs = bm(m);
    if (bs->z_model_pre_known)
        return bs->z_model_pre;
    return zc_has(m, VS_BLK_CFG_ZONED_MODEL, 1)
               ? bs->zc[VS_BLK_CFG_ZONED_MODEL - VS_BLK_CFG_ZONE_SECTORS] : -1;
}

/* blk.driver.blk-init.5: with ZONED offered for a host-managed model the driver does not
 * accept DISCARD (judged once the model is read and the features are set). */
static void zoned_discard(vs_monitors *m)
{
    blk_mon *bs = bm(m);
    if (bs->zf_discard_judged || !m->offered_known || !has(m->offered, VS_BLK_F_ZONED) ||
        !has(m->offered, VS_BLK_F_DISCARD) || !m->fok_written ||
        model_read(m) != VS_BLK_Z_HM || !role_on(m, CK_D_BLK_ZONED_FEAT))
        return;
    bs->zf_discard_judged = true;
    if (has(m->drv_features, VS_BLK_F_DISCARD))
        bad(m, CK_D_BLK_ZONED_FEAT, 0, NOCTX, "DISCARD declined for a host-managed device",
            "driver features 0x%016" PRIx64 " with zoned model HM", m->drv_features);
    else
        ok(m, CK_D_BLK_ZONED_FEAT, 0);
}

/* ZONED accepted and model HM read: FEATURES_OK set means the driver drives it. */
static bool hm_accepted(const vs_monitors *m)
{
    return m->offered_known && has(m->offered, VS_BLK_F_ZONED) && m->drv_features_written &&
           has(m->drv_features, VS_BLK_F_ZONED) && model_read(m) == VS_BLK_Z_HM;
}

/* blk.driver.blk-init.6: a driver that cannot drive a host-managed device gives up with
 * FAILED instead of setting FEATURES_OK. Whether it can is its own business; giving up
 * with FAILED after FEATURES_OK and before DRIVER_OK, the model read as HM, says it
 * could not and set FEATURES_OK all the same (Linux's virtio-blk built without zoned
 * support fails its probe of a host-managed device that way, after FEATURES_OK). */
static void zoned_status_write(vs_monitors *m, uint8_t v)
{
    blk_mon *bs = bm(m);
    uint8_t prev = bs->status_prev, now = (uint8_t)(v & ~prev);
    bs->status_prev = v;
    if (!v)
        return;
    if (now & VS_STATUS_FEATURES_OK) {
        zoned_discard(m);
        bs->hm_fok = hm_accepted(m);
    }
    if (!role_on(m, CK_D_BLK_ZONED_FEAT))
        return;
    if ((now & VS_STATUS_FAILED) && bs->hm_fok && !(prev & VS_STATUS_DRIVER_OK)) {
        bs->hm_fok = false;
        bad(m, CK_D_BLK_ZONED_FEAT, 1, NOCTX,
            "FAILED instead of FEATURES_OK for a model the driver cannot drive",
            "FEATURES_OK set with ZONED, zoned model HM, then FAILED before DRIVER_OK");
    } else if ((now & VS_STATUS_FAILED) && !(prev & VS_STATUS_FEATURES_OK) && hm_accepted(m)) {
        ok(m, CK_D_BLK_ZONED_FEAT, 1);
    } else if ((now & VS_STATUS_DRIVER_OK) && bs->hm_fok) {
        bs->hm_fok = false;
        ok(m, CK_D_BLK_ZONED_FEAT, 1);
    }
}

/* ------------------------------------------------------------ config interrupts */

/* blk.driver.blk-op.1: after a config-change notification the driver reads capacity;
 * judged when the run (or connection) ends with one unanswered. A reset, or a status
 * read showing DEVICE_NEEDS_RESET (the notification was about the error), ends the wait
 * without a verdict. */
void blk_event(vs_monitors *m, const vs_event *ev)
{
    blk_mon *bs = bm(m);
    switch (ev->kind) {
    case VS_EV_STATUS_WRITE:
        zoned_status_write(m, (uint8_t)ev->val);
        break;
    case VS_EV_CONFIG_READ: /* the model read after FEATURES_OK */
        zoned_discard(m);
        if (m->fok_written && !(m->status_w & VS_STATUS_DRIVER_OK) && !bs->hm_fok)
            bs->hm_fok = hm_accepted(m);
        break;
    case VS_EV_STATUS_READ:
        if (ev->val & VS_STATUS_DEVICE_NEEDS_RESET)
            bs->cap_pending = false;
        break;
    case VS_EV_CONFIG_CHANGE:
        if (m->status_w & VS_STATUS_DRIVER_OK)
            bs->cap_pending = true;
        break;
    case VS_EV_IRQ:
        if (ev->queue < 0 && (m->status_w & VS_STATUS_DRIVER_OK))
            bs->cap_pending = true;
        break;
    default:
        break;
    }
}

/* The window for the FLUSH owed since writeback was switched off ends (how: what ended
 * it): owed still, it was never sent. */
static void wt_window_end(vs_monitors *m, const char *how)
{
    blk_mon *bs = bm(m);
    if (bs->wt_due && role_on(m, CK_D_BLK_WT_FLUSH))
        bad(m, CK_D_BLK_WT_FLUSH, 0, NOCTX, "FLUSH after switching writeback off",
            "writeback set to 0 with completed writes unflushed; %s without a FLUSH", how);
    bs->wt_due = 0;
}

void blk_finish(vs_monitors *m)
{
    blk_mon *bs = bm(m);
    if (bs->cap_pending && role_on(m, CK_D_BLK_CAP_REREAD))
        bad(m, CK_D_BLK_CAP_REREAD, 0, NOCTX, "capacity read after a config interrupt",
            "a config-change interrupt was never followed by a capacity read");
    bs->cap_pending = false;
    wt_window_end(m, "the run ended");
}

void drv_reset(vs_monitors *m)
{
    blk_mon *bs = bm(m);
    bs->cap_pending = false;
    wt_window_end(m, "the device was reset");
    bs->flushed_gen = bs->wr_gen;
    bs->wb = -1;
    bs->zf_discard_judged = bs->hm_fok = false;
    bs->status_prev = 0;
}

/* ------------------------------------------------------------ config access */

static const uint32_t dwz_max_off[3] = {VS_BLK_CFG_MAX_DISCARD_SEG, VS_BLK_CFG_MAX_SE_SEG,
                                        VS_BLK_CFG_MAX_WZ_SEG};

/* The limits the segment-count rule needs, the writeback value, a capacity read (any
 * width: a front-end may read the whole config at once), writeback switched off. */
void drv_config_access(vs_monitors *m, const vs_event *ev, bool write)
{
    blk_mon *bs = bm(m);
    uint32_t off = ev->off, len = ev->len;
    if (!write && overlaps(off, len, VS_BLK_CFG_CAPACITY, 8) && bs->cap_pending) {
        bs->cap_pending = false;
        if (role_on(m, CK_D_BLK_CAP_REREAD))
            ok(m, CK_D_BLK_CAP_REREAD, 0);
    }
    if (len > 8)
        return;
    for (unsigned i = 0; !write && i < 3; i++)
        if (off <= dwz_max_off[i] && dwz_max_off[i] + 4 <= off + len) {
            bs->dwz_max[i] = (uint32_t)(ev->val >> (8 * (dwz_max_off[i] - off)));
            bs->dwz_max_known |= (uint8_t)(1u << i);
        }
    if (!overlaps(off, len, VS_BLK_CFG_WRITEBACK, 1))
        return;
    int v = (uint8_t)(ev->val >> (8 * (VS_BLK_CFG_WRITEBACK - off)));
    /* blk.driver.blk-op.12: writes that may sit in the cache must be flushed before the
     * driver counts on them; after the switch the device no longer says they need it */
    if (write && v == 0 && bs->wb != 0 && bs->wr_gen > bs->flushed_gen &&
        has(neg(m), VS_BLK_F_CONFIG_WCE) && has(neg(m), VS_BLK_F_FLUSH))
        bs->wt_due = bs->wr_gen;
    bs->wb = v;
}

/* ------------------------------------------------------------ requests */

static bool is_dwz(uint32_t t)
{
    return t == VS_BLK_T_DISCARD || t == VS_BLK_T_SECURE_ERASE || t == VS_BLK_T_WRITE_ZEROES;
}

/* blk.driver.blk-op.9..11: range segments within max_discard_seg, max_secure_erase_seg,
 * max_write_zeroes_seg, the limits as the driver read them. */
static void dwz_segments(vs_monitors *m, const chain_rec *c, ctx cx)
{
    static const char *const name[3] = {"max_discard_seg", "max_secure_erase_seg",
                                        "max_write_zeroes_seg"};
    blk_mon *bs = bm(m);
    uint32_t t = bc(c)->blk_type;
    int k = t == VS_BLK_T_DISCARD ? 0 : t == VS_BLK_T_SECURE_ERASE ? 1 : 2;
    if (!(bs->dwz_max_known & (1u << k)))
        return;
    uint64_t nsegs = (c->out_bytes - VS_BLK_HDR_BYTES) / VS_BLK_DWZ_SEG_BYTES;
    if (nsegs > bs->dwz_max[k])
        bad(m, CK_D_BLK_DWZ_SEGS, k, cx, "segments within the device's limit",
            "%" PRIu64 " range segments, %s %" PRIu32, nsegs, name[k], bs->dwz_max[k]);
    else
        ok(m, CK_D_BLK_DWZ_SEGS, k);
}

/* One zone rule (statement k of blk-zone-request-shape). */
static void zrule(vs_monitors *m, int k, bool good, ctx cx, const char *want, const char *fmt,
                  uint64_t a, uint64_t b)
{
    if (good) {
        ok(m, CK_D_BLK_ZONE_REQ, k);
        return;
    }
    char seen[96];
    snprintf(seen, sizeof seen, fmt, a, b);
    bad(m, CK_D_BLK_ZONE_REQ, k, cx, want, "%s", seen);
}

/* blk.driver.blk-op.23 for an OUT: a sequential zone's writes are write_granularity
 * aligned in start and size; and for OUT and ZONE_APPEND, the data fits between the
 * write pointer and the zone capacity (zone known, nothing else in flight). */
static void zone_write_fit(vs_monitors *m, uint64_t s, uint64_t data, bool append, bool solo,
                           ctx cx)
{
    blk_mon *bs = bm(m);
    uint64_t zi = s / bs->zs;
    if (zi >= bs->nz || !bs->zn[zi].known || bs->zn[zi].type == VS_BLK_ZT_CONV)
        return;
    const mzone *z = &bs->zn[zi];
    uint32_t wg = zc_has(m, VS_BLK_CFG_WRITE_GRANULARITY, 4)
                      ? zc32(m, VS_BLK_CFG_WRITE_GRANULARITY) : 0;
    if (!append && wg)
        zrule(m, 7, (s * VS_BLK_SECTOR) % wg == 0 && data % wg == 0, cx,
              "sequential-zone writes aligned to write_granularity",
              "sector %" PRIu64 ", %" PRIu64 " bytes", s, data);
    bool wp_ok = z->state == VS_BLK_ZS_EMPTY || z->state == VS_BLK_ZS_IOPEN ||
                 z->state == VS_BLK_ZS_EOPEN || z->state == VS_BLK_ZS_CLOSED;
    if (solo && wp_ok && z->wp != UINT64_MAX && z->type == VS_BLK_ZT_SWR)
        zrule(m, 7, z->wp + data / VS_BLK_SECTOR <= zi * bs->zs + z->cap, cx,
              "data within the zone capacity from the write pointer",
              "write pointer %" PRIu64 " + %" PRIu64 " sectors past the zone capacity",
              z->wp, data / VS_BLK_SECTOR);
}

/* blk.driver.blk-op.16..23, ZONED negotiated and the geometry read. */
static void zone_request(vs_monitors *m, const chain_rec *c, bool solo, ctx cx)
{
    blk_mon *bs = bm(m);
    uint32_t t = bc(c)->blk_type;
    uint64_t s = bc(c)->blk_sector, cap = bs->capacity, zs = bs->zs;
    uint64_t out = c->out_bytes - VS_BLK_HDR_BYTES;
    bool mgmt = t == VS_BLK_T_ZONE_OPEN || t == VS_BLK_T_ZONE_CLOSE ||
                t == VS_BLK_T_ZONE_FINISH || t == VS_BLK_T_ZONE_RESET;
    if (t == VS_BLK_T_ZONE_REPORT) {
        zrule(m, 1, s < cap, cx, "ZONE_REPORT sector inside the device",
              "sector %" PRIu64 ", capacity %" PRIu64, s, cap);
    } else if (t == VS_BLK_T_ZONE_RESET_ALL) {
        zrule(m, 3, s == 0, cx, "ZONE_RESET_ALL sector 0", "sector %" PRIu64, s, 0);
    } else if (mgmt || t == VS_BLK_T_ZONE_APPEND) {
        zrule(m, 0, s < cap, cx, "a zone sector address inside the device",
              "sector %" PRIu64 ", capacity %" PRIu64, s, cap);
        if (s >= cap)
            return;
        if (mgmt) {
            zrule(m, 2, s % zs == 0, cx, "the first sector of the zone",
                  "sector %" PRIu64 ", zone_sectors %" PRIu64, s, zs);
            return;
        }
        zrule(m, 4, s % zs == 0, cx, "ZONE_APPEND at the zone start",
              "sector %" PRIu64 ", zone_sectors %" PRIu64, s, zs);
        if (zc_has(m, VS_BLK_CFG_WRITE_GRANULARITY, 4) && zc32(m, VS_BLK_CFG_WRITE_GRANULARITY))
            zrule(m, 5, out % zc32(m, VS_BLK_CFG_WRITE_GRANULARITY) == 0, cx,
                  "append size a multiple of write_granularity",
                  "%" PRIu64 " bytes, write_granularity %" PRIu64, out,
                  zc32(m, VS_BLK_CFG_WRITE_GRANULARITY));
        if (zc_has(m, VS_BLK_CFG_MAX_APPEND_SECTORS, 4))
            zrule(m, 6, out <= (uint64_t)zc32(m, VS_BLK_CFG_MAX_APPEND_SECTORS) * VS_BLK_SECTOR,
                  cx, "append size within max_append_sectors",
                  "%" PRIu64 " bytes, max_append_sectors %" PRIu64, out,
                  zc32(m, VS_BLK_CFG_MAX_APPEND_SECTORS));
        if (s % zs == 0)
            zone_write_fit(m, s, out, true, solo, cx);
    } else if (t == VS_BLK_T_OUT && s < cap && out) {
        zone_write_fit(m, s, out, false, solo, cx);
    }
}

/* A chain made available (header parsed): its driver-role rules. */
void drv_chain_avail(vs_monitors *m, chain_rec *c, const vs_event *ev)
{
    blk_mon *bs = bm(m);
    ctx cx = idctx(ev->queue, ev->id & 0xffffu);
    uint32_t t = bc(c)->blk_type;
    if (t == VS_BLK_T_FLUSH)
        bc(c)->flush_gen = bs->wr_gen;
    if (is_dwz(t) && role_on(m, CK_D_BLK_DWZ_SEGS))
        dwz_segments(m, c, cx);
    if (zoned_neg(m) && role_on(m, CK_D_BLK_ZONE_REQ) && z_ready(m))
        zone_request(m, c, bs->z_live == 0, cx);
}

/* A request completed with status st: writes that may sit in a writeback cache, and the
 * FLUSHes that cover them. */
void drv_chain_used(vs_monitors *m, chain_rec *c, uint8_t st)
{
    blk_mon *bs = bm(m);
    uint32_t t = bc(c)->blk_type;
    if (st != VS_BLK_S_OK || !has(neg(m), VS_BLK_F_CONFIG_WCE))
        return;
    if ((t == VS_BLK_T_OUT || t == VS_BLK_T_WRITE_ZEROES) && bs->wb != 0)
        bs->wr_gen++;
    if (t != VS_BLK_T_FLUSH || bc(c)->flush_gen <= bs->flushed_gen)
        return;
    bs->flushed_gen = bc(c)->flush_gen;
    if (bs->wt_due && bs->flushed_gen >= bs->wt_due) {
        bs->wt_due = 0;
        if (role_on(m, CK_D_BLK_WT_FLUSH))
            ok(m, CK_D_BLK_WT_FLUSH, 0);
    }
}
