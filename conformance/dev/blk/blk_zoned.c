/* The zoned checks (VIRTIO_BLK_F_ZONED) and the zone model they judge against. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/dev/blk/blk_mon_int.h"

/* ------------------------------------------------------------ blk: zoned */

/* The monitors' own zone model, built only from what the driver sees: zoned config reads,
 * zone reports, and the requests and statuses of completed chains. A zone is "known"
 * after a report names it and stays known while every request that could change it
 * completes alone (no other request outstanding); anything ambiguous (overlapping
 * requests, a reset with requests in flight, a result the model did not predict) makes
 * the zones concerned unknown again, so a judgement is never made on a guess. */

bool zoned_neg(const vs_monitors *m)
{
    return has(neg(m), VS_BLK_F_ZONED) && m->fok_written;
}

void z_forget_all(vs_monitors *m)
{
    blk_mon *bs = bm(m);
    for (uint64_t i = 0; i < bs->nz; i++)
        bs->zn[i].known = bs->zn[i].se_pending = false;
}

/* Zone array sized from zone_sectors and capacity (once both are read). */
bool z_ready(vs_monitors *m)
{
    blk_mon *bs = bm(m);
    if (!zc_has(m, VS_BLK_CFG_ZONE_SECTORS, 4) || !bs->capacity_known)
        return false;
    uint64_t zs = zc32(m, VS_BLK_CFG_ZONE_SECTORS);
    if (zs == 0)
        return false;
    uint64_t nz = (bs->capacity + zs - 1) / zs;
    if (nz == 0 || nz > (1u << 20))
        return false;
    if (bs->zn && bs->nz == nz && bs->zs == zs)
        return true;
    free(bs->zn);
    bs->zn = calloc(nz, sizeof *bs->zn);
    bs->nz = bs->zn ? nz : 0;
    bs->zs = zs;
    return bs->zn != NULL;
}

static uint64_t zlen(const vs_monitors *m, uint64_t i)
{
    blk_mon *bs = bm(m);
    uint64_t s = i * bs->zs;
    return bs->capacity - s < bs->zs ? bs->capacity - s : bs->zs;
}

static bool z_wp_valid(uint8_t st)
{
    return st == VS_BLK_ZS_EMPTY || st == VS_BLK_ZS_IOPEN || st == VS_BLK_ZS_EOPEN ||
           st == VS_BLK_ZS_CLOSED;
}

/* Open / active counts; false unless every zone is known. */
static bool z_counts_known(const vs_monitors *m, uint32_t *open, uint32_t *active, bool *iopen)
{
    blk_mon *bs = bm(m);
    *open = *active = 0;
    *iopen = false;
    for (uint64_t i = 0; i < bs->nz; i++) {
        const mzone *z = &bs->zn[i];
        if (!z->known)
            return false;
        bool o = z->state == VS_BLK_ZS_IOPEN || z->state == VS_BLK_ZS_EOPEN;
        *open += o;
        *active += o || z->state == VS_BLK_ZS_CLOSED;
        *iopen |= z->state == VS_BLK_ZS_IOPEN;
    }
    return true;
}

/* A rule the request breaks: the statuses it allows, and where to report. */
typedef struct zrule {
    unsigned ck;
    int k;
    uint8_t allow[2];
    const char *what;
} zrule;
#define ZJ_MAX 12
typedef struct zjudge {
    zrule r[ZJ_MAX];
    unsigned n;
} zjudge;

static void zj_add(zjudge *j, unsigned ck, int k, uint8_t a, uint8_t b, const char *what)
{
    if (j->n < ZJ_MAX)
        j->r[j->n++] = (zrule){ck, k, {a, b}, what};
}

static const char *zs_name(uint8_t st)
{
    static const char *const n[] = {"OK", "IOERR", "UNSUPP", "ZONE_INVALID_CMD",
                                    "ZONE_UNALIGNED_WP", "ZONE_OPEN_RESOURCE",
                                    "ZONE_ACTIVE_RESOURCE"};
    return st < 7 ? n[st] : "invalid";
}

/* Status st must be allowed by one of the broken rules; true when the model predicted it. */
static bool zj_settle(vs_monitors *m, const zjudge *j, uint8_t st, ctx cx, uint32_t t,
                      uint64_t sector)
{
    bool any = false;
    for (unsigned i = 0; i < j->n; i++)
        any |= st == j->r[i].allow[0] || st == j->r[i].allow[1];
    for (unsigned i = 0; i < j->n; i++) {
        const zrule *r = &j->r[i];
        if (!role_on(m, r->ck))
            continue;
        if (any) {
            ok(m, r->ck, r->k);
            continue;
        }
        char exp[96];
        snprintf(exp, sizeof exp, "%s for %s", zs_name(r->allow[0]), r->what);
        bad(m, r->ck, r->k, cx, exp, "type %" PRIu32 " sector %" PRIu64 " completed with %s",
            t, sector, zs_name(st));
    }
    return any;
}

/* Resources for zone z to become open (implicitly: k = 1, explicitly: k = 0). */
static void zj_resources(vs_monitors *m, zjudge *j, const mzone *z, int k, uint8_t st, ctx cx,
                         bool *autoclose)
{
    uint32_t open, active;
    bool iopen;
    *autoclose = false;
    if (!(z->state == VS_BLK_ZS_EMPTY || z->state == VS_BLK_ZS_CLOSED) ||
        !z_counts_known(m, &open, &active, &iopen))
        return;
    if (!zc_has(m, VS_BLK_CFG_MAX_OPEN_ZONES, 4) || !zc_has(m, VS_BLK_CFG_MAX_ACTIVE_ZONES, 4))
        return; /* limits not read: nothing to judge against */
    uint32_t mo = zc32(m, VS_BLK_CFG_MAX_OPEN_ZONES), ma = zc32(m, VS_BLK_CFG_MAX_ACTIVE_ZONES);
    bool act_over = z->state == VS_BLK_ZS_EMPTY && ma && active >= ma;
    bool open_over = mo && open >= mo;
    if (act_over || (open_over && !iopen)) {
        zj_add(j, CK_ZONE_RES, k, VS_BLK_S_ZONE_ACTIVE_RESOURCE, VS_BLK_S_ZONE_OPEN_RESOURCE,
               act_over ? "no active zone resource left" : "no open zone resource left");
        return;
    }
    if (open_over) { /* the device may implicitly close an implicitly open zone */
        *autoclose = true;
        return;
    }
    /* room left: a resource status would misreport the limits */
    if (st == VS_BLK_S_ZONE_OPEN_RESOURCE && role_on(m, CK_ZONE_RES))
        bad(m, CK_ZONE_RES, 2, cx, "no OPEN_RESOURCE below max_open_zones",
            "OPEN_RESOURCE with %" PRIu32 " open zones, max_open_zones %" PRIu32, open, mo);
    else if (st == VS_BLK_S_ZONE_ACTIVE_RESOURCE && role_on(m, CK_ZONE_RES))
        bad(m, CK_ZONE_RES, 3, cx, "no ACTIVE_RESOURCE below max_active_zones",
            "ACTIVE_RESOURCE with %" PRIu32 " active zones, max_active_zones %" PRIu32, active,
            ma);
    else if (role_on(m, CK_ZONE_RES)) {
        if (mo)
            ok(m, CK_ZONE_RES, 2);
        if (ma && z->state == VS_BLK_ZS_EMPTY)
            ok(m, CK_ZONE_RES, 3);
    }
}

static void z_mark_iopen_unknown(vs_monitors *m)
{
    blk_mon *bs = bm(m);
    for (uint64_t i = 0; i < bs->nz; i++)
        if (bs->zn[i].known && bs->zn[i].state == VS_BLK_ZS_IOPEN)
            bs->zn[i].known = false;
}

/* A write of nsec sectors landed at `at` in known zone zi. */
static void z_advance(vs_monitors *m, uint64_t zi, uint64_t at, uint64_t nsec)
{
    blk_mon *bs = bm(m);
    mzone *z = &bs->zn[zi];
    if (z->type == VS_BLK_ZT_CONV || !nsec)
        return;
    z->se_pending = false;
    if (z->state == VS_BLK_ZS_EMPTY || z->state == VS_BLK_ZS_CLOSED)
        z->state = VS_BLK_ZS_IOPEN;
    if (at + nsec > z->wp)
        z->wp = at + nsec;
    if (z->wp > z->uw)
        z->uw = z->wp;
    if (z->wp >= zi * bs->zs + z->cap) {
        z->state = VS_BLK_ZS_FULL;
        z->uw = zi * bs->zs + z->cap;
    }
}

static void zone_report_done(vs_monitors *m, const chain_rec *c, ctx cx)
{
    blk_mon *bs = bm(m);
    uint64_t len = c->in_bytes - 1;
    uint8_t h[8];
    if (len < VS_BLK_ZONE_REPORT_HDR || !chain_read(m, c, true, 0, h, 8))
        return;
    uint64_t nr = vs_blk_zone_report_nr(h);
    uint64_t fit = (len - VS_BLK_ZONE_REPORT_HDR) / VS_BLK_ZONE_DESC;
    if (nr > fit)
        nr = fit;
    bool geo_ok = true;
    uint8_t model = bs->zc_known[VS_BLK_CFG_ZONED_MODEL - VS_BLK_CFG_ZONE_SECTORS]
                        ? bs->zc[VS_BLK_CFG_ZONED_MODEL - VS_BLK_CFG_ZONE_SECTORS] : 0xff;
    for (uint64_t i = 0; i < nr && i < (1u << 16); i++) {
        uint8_t d[VS_BLK_ZONE_DESC];
        if (!chain_read(m, c, true, VS_BLK_ZONE_REPORT_HDR + i * VS_BLK_ZONE_DESC, d, sizeof d))
            return;
        vs_blk_zone_desc zd;
        vs_blk_zone_desc_get(d, &zd);
        uint64_t cap = zd.z_cap, start = zd.z_start, wp = zd.z_wp;
        uint8_t type = zd.z_type, state = zd.z_state;
        uint64_t want = (bc(c)->blk_sector / bs->zs + i) * bs->zs;
        if (role_on(m, CK_ZONE_REPORT)) {
            if (start != want || cap > bs->zs)
                bad(m, CK_ZONE_REPORT, 0, cx, "zones zone_sectors apart, z_cap <= zone_sectors",
                    "descriptor %" PRIu64 ": z_start %" PRIu64 " (expected %" PRIu64
                    "), z_cap %" PRIu64 ", zone_sectors %" PRIu64, i, start, want, cap, bs->zs);
            else
                ok(m, CK_ZONE_REPORT, 0);
        }
        geo_ok &= start == want && cap <= bs->zs;
        if (model <= VS_BLK_Z_HA && role_on(m, CK_ZONE_REPORT)) {
            bool fits = type == VS_BLK_ZT_CONV ||
                        (model == VS_BLK_Z_HM && type == VS_BLK_ZT_SWR) ||
                        (model == VS_BLK_Z_HA && type == VS_BLK_ZT_SWP);
            if (!fits)
                bad(m, CK_ZONE_REPORT, 1, cx, "zone types that fit the reported model",
                    "model %u but zone at %" PRIu64 " has type %u", model, start, type);
            else
                ok(m, CK_ZONE_REPORT, 1);
        }
        if (!geo_ok || want / bs->zs >= bs->nz)
            continue;
        mzone *z = &bs->zn[want / bs->zs];
        if (z->se_pending && type != VS_BLK_ZT_CONV && state != VS_BLK_ZS_RDONLY &&
            state != VS_BLK_ZS_OFFLINE && role_on(m, CK_ZONE_SE)) {
            if (state != VS_BLK_ZS_EMPTY || wp != start)
                bad(m, CK_ZONE_SE, 1, cx, "a secure-erased zone reported empty, wp at its start",
                    "zone at %" PRIu64 " in state %u, write pointer %" PRIu64, start, state, wp);
            else
                ok(m, CK_ZONE_SE, 1);
        }
        *z = (mzone){.known = true, .type = type, .state = state, .wp = wp, .cap = cap};
        /* where unwritten data starts: the write pointer; unknown for a full zone */
        z->uw = type != VS_BLK_ZT_CONV && z_wp_valid(state) ? wp : UINT64_MAX;
        if (type == VS_BLK_ZT_CONV || !z_wp_valid(state))
            z->wp = UINT64_MAX;
    }
    if (!geo_ok)
        z_forget_all(m);
}

/* Unwritten sectors of an OK read: one fill byte, the same all run. */
static void zone_check_unwritten(vs_monitors *m, const chain_rec *c, uint64_t nsec, ctx cx)
{
    blk_mon *bs = bm(m);
    uint64_t a = bc(c)->blk_sector, b = a + nsec;
    for (uint64_t zi = a / bs->zs; zi < bs->nz && zi * bs->zs < b; zi++) {
        const mzone *z = &bs->zn[zi];
        if (!z->known || z->type == VS_BLK_ZT_CONV || z->uw == UINT64_MAX)
            continue;
        uint64_t lo = z->uw > a ? z->uw : a, hi = zi * bs->zs + zlen(m, zi);
        if (hi > b)
            hi = b;
        if (lo >= hi || hi - lo > 2048)
            continue; /* nothing unwritten in range, or more than we care to scan */
        uint8_t buf[VS_BLK_SECTOR];
        bool good = true;
        for (uint64_t s = lo; s < hi && good; s++) {
            if (!chain_read(m, c, true, (s - a) * VS_BLK_SECTOR, buf, sizeof buf))
                return;
            if (!bs->z_fill_known) {
                bs->z_fill = buf[0];
                bs->z_fill_known = true;
            }
            for (unsigned k = 0; k < sizeof buf; k++)
                if (buf[k] != bs->z_fill) {
                    for (int st = 0; st < 2; st++)
                        bad(m, CK_ZONE_UNWRITTEN, st, cx, "unwritten data reads as the fill byte",
                            "sector %" PRIu64 " (write pointer %" PRIu64 ") byte %u = 0x%02x, "
                            "fill 0x%02x", s, z->uw, k, buf[k], bs->z_fill);
                    good = false;
                    break;
                }
        }
        if (good) {
            ok(m, CK_ZONE_UNWRITTEN, 0);
            ok(m, CK_ZONE_UNWRITTEN, 1);
        }
    }
}

/* A SECURE_ERASE completed (solo, ZONED negotiated): whole zones only; its zones must
 * then be reported empty. */
static void zone_secure_erase_done(vs_monitors *m, const chain_rec *c, uint8_t st, ctx cx)
{
    blk_mon *bs = bm(m);
    uint64_t nsegs = (c->out_bytes - VS_BLK_HDR_BYTES) / VS_BLK_DWZ_SEG_BYTES;
    bool partial = false;
    for (uint64_t i = 0; i < nsegs && i < 256; i++) {
        uint64_t a, b;
        if (!dwz_seg(m, c, i, &a, &b))
            return;
        if (a % bs->zs || ((b - a) % bs->zs && b != bs->capacity))
            partial = true; /* starts inside a zone, or ends inside one (not the last) */
    }
    if (bc(c)->blk_dwz_flags)
        partial = false; /* flags are judged by blk-dwz-flags-unsupp */
    if (partial && role_on(m, CK_ZONE_SE)) {
        if (st == VS_BLK_S_OK)
            bad(m, CK_ZONE_SE, 0, cx, "no OK for a secure erase of part of a zone",
                "secure erase of %" PRIu64 " segment(s) not in whole zones completed with OK",
                nsegs);
        else
            ok(m, CK_ZONE_SE, 0);
    }
    for (uint64_t i = 0; i < nsegs && i < 256; i++) {
        uint64_t a, b;
        if (!dwz_seg(m, c, i, &a, &b))
            return;
        for (uint64_t zi = a / bs->zs; zi < bs->nz && zi * bs->zs < b; zi++) {
            mzone *z = &bs->zn[zi];
            bool whole = a <= zi * bs->zs && zi * bs->zs + zlen(m, zi) <= b;
            if (st == VS_BLK_S_OK && !partial && whole && z->known && z->type != VS_BLK_ZT_CONV &&
                z->state != VS_BLK_ZS_RDONLY && z->state != VS_BLK_ZS_OFFLINE) {
                z->state = VS_BLK_ZS_EMPTY;
                z->wp = z->uw = zi * bs->zs;
                z->se_pending = true;
            } else if (st == VS_BLK_S_OK && !partial && whole && !z->known) {
                z->se_pending = true; /* whatever it was, a reset leaves it empty */
            } else if (st == VS_BLK_S_OK || st == VS_BLK_S_IOERR) {
                z->known = z->se_pending = false;
            }
        }
    }
}

/* A blk chain completed with status st while ZONED is negotiated. */
/* One read, write, append or management request the zone model follows. */
typedef struct zreq {
    uint32_t t;
    uint64_t s, zi, last, nsec;  /* start sector, its zone, the last zone, sectors */
    bool mgmt, append, changes;
} zreq;

/* The rules a request to known zone z breaks (into j); *at: where an append's data goes. */
static void zone_rules(vs_monitors *m, const zreq *r, const mzone *z, uint32_t wg, uint8_t st,
                       ctx cx, zjudge *j, bool *autoclose, uint64_t *at)
{
    const uint8_t INV = VS_BLK_S_ZONE_INVALID_CMD, UWP = VS_BLK_S_ZONE_UNALIGNED_WP;
    uint32_t t = r->t;
    uint64_t s = r->s, zi = r->zi, last = r->last, nsec = r->nsec, zs = bm(m)->zs;
    bool mgmt = r->mgmt, append = r->append;
    uint64_t zstart = zi * zs;
    if (mgmt && z->type == VS_BLK_ZT_CONV) {
        zj_add(j, CK_ZONE_MGMT, 0, INV, INV, "zone management of a conventional zone");
    } else if (mgmt) {
        uint8_t zst = z->state;
        if (t == VS_BLK_T_ZONE_OPEN && (zst == VS_BLK_ZS_FULL || zst == VS_BLK_ZS_RDONLY))
            zj_add(j, CK_ZONE_MGMT, 1, INV, INV, "opening a full or read-only zone");
        else if (t == VS_BLK_T_ZONE_OPEN)
            zj_resources(m, j, z, 0, st, cx, autoclose);
        if (t == VS_BLK_T_ZONE_CLOSE &&
            (zst == VS_BLK_ZS_EMPTY || zst == VS_BLK_ZS_FULL || zst == VS_BLK_ZS_RDONLY))
            zj_add(j, CK_ZONE_MGMT, 2, INV, INV, "closing an empty, full or read-only zone");
        if (t == VS_BLK_T_ZONE_FINISH && zst == VS_BLK_ZS_RDONLY)
            zj_add(j, CK_ZONE_MGMT, 3, INV, INV, "finishing a read-only zone");
        if (t == VS_BLK_T_ZONE_RESET && zst == VS_BLK_ZS_RDONLY)
            zj_add(j, CK_ZONE_MGMT, 4, INV, INV, "resetting a read-only zone");
    } else if (append) {
        if (z->type != VS_BLK_ZT_SWR)
            zj_add(j, CK_ZONE_IO, 0, INV, INV, "an append to a zone that is not SWR");
        else if (s != zstart)
            zj_add(j, CK_ZONE_IO, 1, INV, INV, "an append not at the zone start");
        else if (z->state == VS_BLK_ZS_RDONLY)
            zj_add(j, CK_ZONE_IO, 7, INV, INV, "an append to a read-only zone");
        else if (z->state == VS_BLK_ZS_FULL)
            zj_add(j, CK_ZONE_IO, 2, INV, INV, "an append to a full zone");
        else if (z_wp_valid(z->state) && nsec) {
            *at = z->wp;
            if (wg && (nsec * VS_BLK_SECTOR) % wg)
                zj_add(j, CK_ZONE_LIMITS, 1, UWP, INV, "an append not a multiple of "
                       "write_granularity");
            if (*at + nsec > zstart + zlen(m, zi))
                zj_add(j, CK_ZONE_IO, 5, INV, INV, "an append that crosses the zone end");
            else if (*at + nsec > zstart + z->cap)
                zj_add(j, CK_ZONE_IO, 2, INV, INV, "an append past the zone capacity");
            if (!j->n)
                zj_resources(m, j, z, 1, st, cx, autoclose);
        }
    } else if (t == VS_BLK_T_IN) {
        if (last != zi && z->type == VS_BLK_ZT_SWR)
            zj_add(j, CK_ZONE_IO, 5, INV, INV, "a read across a SWR zone boundary");
    } else if (z->type != VS_BLK_ZT_CONV && nsec) { /* OUT */
        /* several rules may apply at once: any status one of them allows will do */
        bool off_wp = z->type == VS_BLK_ZT_SWR && z_wp_valid(z->state) && s != z->wp;
        if (last != zi) {
            zj_add(j, CK_ZONE_IO, 5, INV, INV, "a write across a zone boundary");
            if (off_wp)
                zj_add(j, CK_ZONE_IO, 6, UWP, UWP, "a write away from the write pointer");
        } else if (z->state == VS_BLK_ZS_RDONLY) {
            zj_add(j, CK_ZONE_IO, 7, INV, INV, "a write to a read-only zone");
        } else if (z->state == VS_BLK_ZS_FULL) {
            zj_add(j, CK_ZONE_IO, 2, INV, UWP, "a write to a full zone");
        } else if (z_wp_valid(z->state)) {
            if (wg && ((s * VS_BLK_SECTOR) % wg || (nsec * VS_BLK_SECTOR) % wg))
                zj_add(j, CK_ZONE_LIMITS, 1, UWP, INV, "a write not aligned to "
                       "write_granularity");
            if (off_wp)
                zj_add(j, CK_ZONE_IO, 6, UWP, UWP, "a write away from the write pointer");
            if (s + nsec > zstart + z->cap)
                zj_add(j, CK_ZONE_IO, 2, INV, INV, "a write past the zone capacity");
            if (!j->n)
                zj_resources(m, j, z, 1, st, cx, autoclose);
        }
    }
}

/* A request the model predicted completed with OK: what it did to the zone. */
static void zone_apply(vs_monitors *m, chain_rec *c, const zreq *r, mzone *z, uint64_t at,
                       ctx cx)
{
    uint32_t t = r->t;
    uint64_t s = r->s, zi = r->zi, nsec = r->nsec, zs = bm(m)->zs;
    bool append = r->append;
    if (t == VS_BLK_T_IN) {
        if (role_on(m, CK_ZONE_UNWRITTEN))
            zone_check_unwritten(m, c, nsec, cx);
        return;
    }
    if (append) {
        uint8_t b[8];
        if (z_wp_valid(z->state) && chain_read(m, c, true, 0, b, 8) &&
            role_on(m, CK_ZONE_APPEND_SECTOR)) {
            uint64_t as = vs_le64_get(b); /* append_sector */
            if (as != z->wp) {
                bad(m, CK_ZONE_APPEND_SECTOR, 0, cx, "append_sector = the write pointer",
                    "append_sector %" PRIu64 ", write pointer %" PRIu64, as, z->wp);
                z->known = false;
                return;
            }
            ok(m, CK_ZONE_APPEND_SECTOR, 0);
        }
        if (z_wp_valid(z->state))
            z_advance(m, zi, z->wp, nsec);
        else
            z->known = false;
        return;
    }
    if (t == VS_BLK_T_OUT) {
        if (z->type == VS_BLK_ZT_SWP && z->wp != s)
            z->known = false; /* a random write: where the device puts the pointer is its call */
        else if (z->type != VS_BLK_ZT_CONV)
            z_advance(m, zi, at, nsec);
        return;
    }
    uint64_t zstart = zi * zs;
    z->se_pending = false;
    switch (t) { /* management that succeeded */
    case VS_BLK_T_ZONE_OPEN:
        if (z_wp_valid(z->state))
            z->state = VS_BLK_ZS_EOPEN;
        break;
    case VS_BLK_T_ZONE_CLOSE:
        if (z->state == VS_BLK_ZS_IOPEN || z->state == VS_BLK_ZS_EOPEN)
            z->state = z->wp == zstart ? VS_BLK_ZS_EMPTY : VS_BLK_ZS_CLOSED;
        break;
    case VS_BLK_T_ZONE_FINISH: /* data from the old write pointer on stays unwritten */
        if (z_wp_valid(z->state)) {
            z->uw = z->wp;
            z->state = VS_BLK_ZS_FULL;
            z->wp = UINT64_MAX;
        }
        break;
    default: /* VS_BLK_T_ZONE_RESET */
        if (z->type != VS_BLK_ZT_CONV && z->state != VS_BLK_ZS_RDONLY &&
            z->state != VS_BLK_ZS_OFFLINE)
            z->state = VS_BLK_ZS_EMPTY, z->wp = z->uw = zstart;
        break;
    }
}

void zone_on_used(vs_monitors *m, chain_rec *c, uint8_t st, ctx cx)
{
    blk_mon *bs = bm(m);
    if (!bc(c)->z_counted)
        return;
    bc(c)->z_counted = false;
    if (bs->z_live)
        bs->z_live--;
    uint32_t t = bc(c)->blk_type;
    bool changes = t != VS_BLK_T_IN && t != VS_BLK_T_ZONE_REPORT && t != VS_BLK_T_GET_ID &&
                   t != VS_BLK_T_FLUSH;
    bool solo = bc(c)->z_solo && bc(c)->z_seq == bs->z_seq;
    if (!solo) {
        if (changes)
            z_forget_all(m);
        return;
    }
    if (!z_ready(m))
        return;
    uint64_t s = bc(c)->blk_sector, zs = bs->zs, zi = s / zs;
    if (t == VS_BLK_T_ZONE_REPORT) {
        if (st == VS_BLK_S_OK)
            zone_report_done(m, c, cx);
        return;
    }
    if (t == VS_BLK_T_SECURE_ERASE && has(neg(m), VS_BLK_F_SECURE_ERASE)) {
        zone_secure_erase_done(m, c, st, cx);
        return;
    }
    if (t == VS_BLK_T_ZONE_RESET_ALL) {
        if (st != VS_BLK_S_OK) {
            z_forget_all(m);
            return;
        }
        for (uint64_t i = 0; i < bs->nz; i++) {
            mzone *z = &bs->zn[i];
            z->se_pending = false;
            if (z->known && z->type != VS_BLK_ZT_CONV &&
                (z_wp_valid(z->state) || z->state == VS_BLK_ZS_FULL))
                z->state = VS_BLK_ZS_EMPTY, z->wp = z->uw = i * zs;
        }
        return;
    }
    bool mgmt = t == VS_BLK_T_ZONE_OPEN || t == VS_BLK_T_ZONE_CLOSE ||
                t == VS_BLK_T_ZONE_FINISH || t == VS_BLK_T_ZONE_RESET;
    bool append = t == VS_BLK_T_ZONE_APPEND;
    if (!mgmt && !append && t != VS_BLK_T_IN && t != VS_BLK_T_OUT) {
        if (changes)
            z_forget_all(m);
        return;
    }
    if (s >= bs->capacity || (mgmt && s % zs)) { /* driver errors: not judged */
        if (changes && st == VS_BLK_S_OK)
            z_forget_all(m);
        return;
    }
    uint64_t data = append || t == VS_BLK_T_OUT ? c->out_bytes - VS_BLK_HDR_BYTES
                                                : (t == VS_BLK_T_IN ? c->in_bytes - 1 : 0);
    if (append && c->in_bytes != VS_BLK_APPEND_IN) { /* not an append the model knows */
        if (st == VS_BLK_S_OK)
            z_forget_all(m);
        return;
    }
    uint64_t nsec = data / VS_BLK_SECTOR, last = (s + (nsec ? nsec : 1) - 1) / zs;
    if (data % VS_BLK_SECTOR || s + nsec > bs->capacity || last >= bs->nz) {
        if (changes && st == VS_BLK_S_OK)
            z_forget_all(m);
        return;
    }
    zreq r = {t, s, zi, last, nsec, mgmt, append, changes};
    mzone *z = &bs->zn[zi];
    zjudge j = {.n = 0};
    const uint8_t INV = VS_BLK_S_ZONE_INVALID_CMD;
    bool all_known = true, offline = false;
    for (uint64_t i = zi; i <= (mgmt || append ? zi : last); i++) {
        all_known &= bs->zn[i].known;
        offline |= bs->zn[i].known && bs->zn[i].state == VS_BLK_ZS_OFFLINE;
    }
    if (offline)
        zj_add(&j, CK_ZONE_IO, 8, INV, INV, "an offline zone");
    uint32_t mas = zc_has(m, VS_BLK_CFG_MAX_APPEND_SECTORS, 4)
                       ? zc32(m, VS_BLK_CFG_MAX_APPEND_SECTORS) : UINT32_MAX;
    uint32_t wg = zc_has(m, VS_BLK_CFG_WRITE_GRANULARITY, 4)
                      ? zc32(m, VS_BLK_CFG_WRITE_GRANULARITY) : 0;
    bool autoclose = false, size_rule = false;
    uint64_t at = s; /* where the data goes */
    if (append && mas != UINT32_MAX && nsec) {
        if (mas == 0)
            zj_add(&j, CK_ZONE_IO, 3, VS_BLK_S_UNSUPP, VS_BLK_S_UNSUPP,
                   "an append with max_append_sectors 0");
        else if (nsec > mas)
            zj_add(&j, CK_ZONE_IO, 4, INV, INV, "an append over max_append_sectors");
        size_rule = true;
    }
    if (z->known && !offline)
        zone_rules(m, &r, z, wg, st, cx, &j, &autoclose, &at);
    bool predicted = true;
    if (j.n) {
        predicted = zj_settle(m, &j, st, cx, t, s);
    } else if (size_rule && all_known && z->known && z->type == VS_BLK_ZT_SWR &&
               z_wp_valid(z->state) && role_on(m, CK_ZONE_LIMITS)) {
        /* a valid append within max_append_sectors: not refused as too big */
        if (st == VS_BLK_S_ZONE_INVALID_CMD || st == VS_BLK_S_UNSUPP)
            bad(m, CK_ZONE_LIMITS, 0, cx, "an append within max_append_sectors accepted",
                "%" PRIu64 " sectors (max_append_sectors %" PRIu32 ") completed with %s", nsec,
                mas, zs_name(st));
        else
            ok(m, CK_ZONE_LIMITS, 0);
    }
    if (!all_known || !predicted) {
        if (changes && st == VS_BLK_S_OK) /* the model cannot say what happened */
            for (uint64_t i = zi; i <= last && i < bs->nz; i++)
                bs->zn[i].known = false;
        if (!predicted && autoclose)
            z_mark_iopen_unknown(m);
        return;
    }
    if (st != VS_BLK_S_OK)
        return; /* failed requests change nothing */
    if (autoclose)
        z_mark_iopen_unknown(m);
    zone_apply(m, c, &r, z, at, cx);
}

/* Zoned config bytes read (72..95), and the checks on them. */
void zone_config_read(vs_monitors *m, uint32_t off, uint32_t len, uint64_t val)
{
    blk_mon *bs = bm(m);
    if (off == VS_BLK_CFG_SE_SECTOR_ALIGN && len == 4) {
        bs->se_align = (uint32_t)val;
        bs->se_align_known = true;
    }
    for (uint32_t b = off; b < off + len; b++) {
        if (b < VS_BLK_CFG_ZONE_SECTORS || b >= VS_BLK_CFG_SIZE_ZONED)
            continue;
        uint8_t v = (uint8_t)(val >> (8 * (b - off)));
        bs->zc[b - VS_BLK_CFG_ZONE_SECTORS] = v;
        bs->zc_known[b - VS_BLK_CFG_ZONE_SECTORS] = true;
        if (b == VS_BLK_CFG_ZONED_MODEL && !(m->status_w & VS_STATUS_FEATURES_OK)) {
            bs->z_model_pre = v;
            bs->z_model_pre_known = true;
        }
        /* ZONED declined by the driver of a host-aware / none-model device */
        if ((m->status_w & VS_STATUS_FEATURES_OK) && m->fok_confirmed && m->offered_known &&
            has(m->offered, VS_BLK_F_ZONED) && !has(m->drv_features, VS_BLK_F_ZONED) &&
            bs->z_model_pre_known && bs->z_model_pre != VS_BLK_Z_HM &&
            role_on(m, CK_ZONED_FOK)) {
            if (v)
                bad(m, CK_ZONED_FOK, 1, NOCTX, "zoned fields 0 once ZONED is declined",
                    "config byte %" PRIu32 " = 0x%02x (model %u, ZONED declined)", b, v,
                    bs->z_model_pre);
            else
                ok(m, CK_ZONED_FOK, 1);
        }
        if (b > VS_BLK_CFG_ZONED_MODEL && role_on(m, CK_ZONED_CONFIG) && m->offered_known &&
            has(m->offered, VS_BLK_F_ZONED)) {
            if (v)
                bad(m, CK_ZONED_CONFIG, 0, NOCTX, "zoned.unused2 reads 0",
                    "config byte %" PRIu32 " = 0x%02x", b, v);
            else
                ok(m, CK_ZONED_CONFIG, 0);
        }
    }
    if (overlaps(off, len, VS_BLK_CFG_MAX_APPEND_SECTORS, 4) &&
        zc_has(m, VS_BLK_CFG_MAX_APPEND_SECTORS, 4) && bs->segs_known == 3 &&
        role_on(m, CK_ZONED_CONFIG) && m->offered_known &&
        has(m->offered, VS_BLK_F_SEG_MAX) && has(m->offered, VS_BLK_F_SIZE_MAX)) {
        uint64_t mas = zc32(m, VS_BLK_CFG_MAX_APPEND_SECTORS);
        uint64_t lim = (uint64_t)bs->seg_max * bs->size_max;
        if (mas * VS_BLK_SECTOR > lim)
            bad(m, CK_ZONED_CONFIG, 1, NOCTX, "max_append_sectors * 512 <= seg_max * size_max",
                "max_append_sectors %" PRIu64 ", seg_max %" PRIu32 ", size_max %" PRIu32, mas,
                bs->seg_max, bs->size_max);
        else
            ok(m, CK_ZONED_CONFIG, 1);
    }
    if (bs->se_align_known && zc_has(m, VS_BLK_CFG_ZONE_SECTORS, 4) &&
        zc32(m, VS_BLK_CFG_ZONE_SECTORS) && role_on(m, CK_ZONED_CONFIG) && m->offered_known &&
        has(m->offered, VS_BLK_F_SECURE_ERASE) && has(m->offered, VS_BLK_F_ZONED) &&
        (overlaps(off, len, VS_BLK_CFG_SE_SECTOR_ALIGN, 4) ||
         overlaps(off, len, VS_BLK_CFG_ZONE_SECTORS, 4))) {
        uint32_t zs = zc32(m, VS_BLK_CFG_ZONE_SECTORS);
        if (bs->se_align % zs)
            bad(m, CK_ZONED_CONFIG, 2, NOCTX,
                "secure_erase_sector_alignment a multiple of zone_sectors",
                "secure_erase_sector_alignment %" PRIu32 ", zone_sectors %" PRIu32, bs->se_align,
                zs);
        else
            ok(m, CK_ZONED_CONFIG, 2);
    }
}
