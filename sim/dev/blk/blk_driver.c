/* virtio-blk on the driver model: the personality (default features, the config it
 * reads, completion and abort of its requests, its fault chain), the request builders and
 * the verification of completions. The shadow and the data patterns are blk_shadow.c, the
 * workload blk_workload.c. Every request is encoded and decoded with the blk codec. */
#include "sim/dev/blk/blk_drv_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtiosim/le.h"

/* ------------------------------------------------------------------ state and config */

static int blk_state_create(vs_driver *d, void **state, vs_err *e)
{
    if (d->o.dev_mutations & VS_BLK_DRV_MUT_DECLINE_RO) /* a driver mutant's feature set */
        d->o.features &= ~VS_BIT(VS_BLK_F_RO);
    vs_blk_drv *b = calloc(1, sizeof *b);
    if (!b)
        return vs_err_set(e, VS_ENOMEM, "driver: out of memory");
    b->next_tag = 2;
    b->shadow_default = VS_SHADOW_UNKNOWN;
    *state = b;
    return 0;
}

static void blk_state_free(vs_driver *d, void *state)
{
    (void)d;
    if (state) {
        blk_shadow_free(state);
        free(state);
    }
}

uint64_t vs_driver_blk_capacity(const vs_driver *d)
{
    return d->pers == &vs_blk_drv_personality ? blk_drv(d)->capacity : 0;
}

/* Before the driver writes its features: with read_config_early every field of the
 * offered features (not writeback, written only after FEATURES_OK), and with ZONED
 * offered the zoned model, as Linux reads it: the model says whether the device may be
 * driven without ZONED (the monitors judge a host-managed one that accepts that). After
 * FEATURES_OK: the same fields once more. */
static int blk_config_early(vs_driver *d, uint64_t offered, bool features_ok, vs_err *e)
{
    int rc;
    for (unsigned i = 0; d->o.read_config_early && i < vs_blk_cfg_ngroups; i++) {
        const vs_blk_cfg_group *g = &vs_blk_cfg_groups[i];
        uint8_t buf[32];
        if (g->off == VS_BLK_CFG_WRITEBACK ||
            (g->feature >= 0 && !(offered & VS_BIT(g->feature))))
            continue;
        if ((rc = vs_driver_config_read(d, g->off, buf, g->len, e)) < 0)
            return rc;
    }
    if (!features_ok && (offered & VS_BIT(VS_BLK_F_CONFIG_WCE)) &&
        (d->o.dev_mutations & VS_BLK_DRV_MUT_WRITEBACK_EARLY)) {
        uint8_t wb = 0;
        if ((rc = vs_driver_config_read(d, VS_BLK_CFG_WRITEBACK, &wb, 1, e)) < 0)
            return rc;
    }
    if (!features_ok && (d->o.dev_mutations & VS_BLK_DRV_MUT_CFG_UNOFFERED)) {
        /* a mutant: the first optional field before the zoned ones whose feature the
         * device does not offer, read all the same */
        for (unsigned i = 0; i + 1 < vs_blk_cfg_ngroups; i++) {
            const vs_blk_cfg_group *g = &vs_blk_cfg_groups[i];
            uint8_t buf[32];
            if (g->feature < 0 || (offered & VS_BIT(g->feature)))
                continue;
            if ((rc = vs_driver_config_read(d, g->off, buf, g->len, e)) < 0)
                return rc;
            break;
        }
    }
    if (!features_ok && (offered & VS_BIT(VS_BLK_F_ZONED))) {
        uint8_t model = 0;
        if ((rc = vs_driver_config_read(d, VS_BLK_CFG_ZONED_MODEL, &model, 1, e)) < 0)
            return rc;
        /* blk.driver.blk-init.5: no DISCARD for a host-managed device */
        if (model == VS_BLK_Z_HM && !(d->o.dev_mutations & VS_BLK_DRV_MUT_HM_DISCARD))
            d->o.features &= ~VS_BIT(VS_BLK_F_DISCARD);
    }
    if (features_ok && (d->features & VS_BIT(VS_BLK_F_ZONED)) &&
        (d->o.dev_mutations & VS_BLK_DRV_MUT_HM_FAILED_LATE)) {
        /* a mutant without host-managed support that finds out after FEATURES_OK */
        uint8_t model = 0;
        if ((rc = vs_driver_config_read(d, VS_BLK_CFG_ZONED_MODEL, &model, 1, e)) < 0)
            return rc;
        if (model == VS_BLK_Z_HM)
            return vs_err_set(e, VS_ENOTSUP, "driver: no host-managed zoned support");
    }
    return 0;
}

/* A config-change interrupt (not about an error): the capacity may have changed
 * (blk.driver.blk-op.1). */
static int blk_config_changed(vs_driver *d, vs_err *e)
{
    if (d->o.dev_mutations & VS_BLK_DRV_MUT_CONFIG_IRQ_IGNORED)
        return 0;
    uint8_t cap[8] = {0};
    int rc = vs_driver_config_read(d, VS_BLK_CFG_CAPACITY, cap, 8, e);
    if (rc < 0)
        return rc;
    blk_drv(d)->capacity = vs_le64_get(cap);
    return 0;
}

/* The range-segment limit of a DISCARD (0), SECURE_ERASE (1) or WRITE_ZEROES (2), read
 * once per setup, when a request first has more than one segment. */
static int dwz_max_seg(vs_driver *d, uint32_t type, uint32_t *max, vs_err *e)
{
    static const uint32_t off[3] = {VS_BLK_CFG_MAX_DISCARD_SEG, VS_BLK_CFG_MAX_SE_SEG,
                                    VS_BLK_CFG_MAX_WZ_SEG};
    vs_blk_drv *b = blk_drv(d);
    unsigned k = type == VS_BLK_T_DISCARD ? 0 : type == VS_BLK_T_SECURE_ERASE ? 1 : 2;
    if (!(b->dwz_max_known & (1u << k))) {
        uint8_t v[4] = {0};
        int rc = vs_driver_config_read(d, off[k], v, 4, e);
        if (rc < 0)
            return rc;
        b->dwz_max[k] = vs_le32_get(v);
        b->dwz_max_known |= (uint8_t)(1u << k);
    }
    *max = b->dwz_max[k];
    return 0;
}

int blk_writeback_write(vs_driver *d, uint8_t v, vs_err *e)
{
    vs_blk_drv *b = blk_drv(d);
    int rc = vs_driver_config_write(d, VS_BLK_CFG_WRITEBACK, &v, 1, e);
    if (rc < 0 || v || b->wr_gen <= b->flushed_gen || !(d->features & VS_BIT(VS_BLK_F_FLUSH)) ||
        (d->o.dev_mutations & VS_BLK_DRV_MUT_WT_NO_FLUSH))
        return rc;
    vs_blk_result res;
    if ((rc = vs_blk_do(d, &(vs_blk_req){.type = VS_BLK_T_FLUSH}, &res, e)) < 0)
        return rc;
    return res.ok ? 0 : vs_err_set(e, VS_EPROTO, "blk: FLUSH before writethrough: %s", res.msg);
}

static int cfg_le32(vs_driver *d, uint32_t off, uint32_t *v, vs_err *e)
{
    uint8_t b[4] = {0};
    int rc = vs_driver_config_read(d, off, b, 4, e);
    *v = vs_le32_get(b);
    return rc;
}

/* At queue setup: what the requests need (capacity, limits, read-only, zone size). */
static int blk_setup(vs_driver *d, vs_err *e)
{
    vs_blk_drv *b = blk_drv(d);
    uint8_t cap[8] = {0};
    int rc = vs_driver_config_read(d, VS_BLK_CFG_CAPACITY, cap, 8, e);
    if (rc < 0)
        return rc;
    b->capacity = vs_le64_get(cap);
    b->seg_max = 0;
    b->size_max = 0;
    if ((d->features & VS_BIT(VS_BLK_F_SEG_MAX)) &&
        (rc = cfg_le32(d, VS_BLK_CFG_SEG_MAX, &b->seg_max, e)) < 0)
        return rc;
    if ((d->features & VS_BIT(VS_BLK_F_SIZE_MAX)) &&
        (rc = cfg_le32(d, VS_BLK_CFG_SIZE_MAX, &b->size_max, e)) < 0)
        return rc;
    b->ro = (d->features & VS_BIT(VS_BLK_F_RO)) != 0;
    b->dwz_max_known = 0;
    b->zone_sectors = 0;
    if (d->features & VS_BIT(VS_BLK_F_ZONED)) { /* the zoned characteristics, as Linux reads them */
        for (uint32_t off = VS_BLK_CFG_ZONE_SECTORS; off < VS_BLK_CFG_ZONED_MODEL; off += 4) {
            uint32_t v = 0;
            if ((rc = cfg_le32(d, off, &v, e)) < 0)
                return rc;
            if (off == VS_BLK_CFG_ZONE_SECTORS)
                b->zone_sectors = v;
        }
        uint8_t model = 0;
        if ((rc = vs_driver_config_read(d, VS_BLK_CFG_ZONED_MODEL, &model, 1, e)) < 0)
            return rc;
    }
    return 0;
}

/* fill_before_driver_ok: 8-sector reads spread over the disk. */
static int blk_fill_early(vs_driver *d, uint32_t n, vs_err *e)
{
    uint64_t cap = blk_drv(d)->capacity;
    uint64_t span = cap > 8 ? cap / 8 : 1;
    for (uint32_t i = 0; i < n; i++) {
        vs_blk_req r = {.type = VS_BLK_T_IN, .sector = (i % span) * 8, .nsectors = 8,
                        .flags = VS_BLK_REQ_DEFER};
        int rc = vs_blk_submit(d, &r, e);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ submission */

static bool known_type(uint32_t t)
{
    return t == VS_BLK_T_IN || t == VS_BLK_T_OUT || t == VS_BLK_T_FLUSH ||
           t == VS_BLK_T_GET_ID || t == VS_BLK_T_DISCARD || t == VS_BLK_T_WRITE_ZEROES;
}

static uint8_t default_status(const vs_driver *d, const vs_blk_req *r)
{
    const vs_blk_drv *b = blk_drv(d);
    if (!known_type(r->type))
        return VS_BLK_S_UNSUPP;
    if (r->type == VS_BLK_T_DISCARD && !(d->features & VS_BIT(VS_BLK_F_DISCARD)))
        return VS_BLK_S_UNSUPP;
    if (r->type == VS_BLK_T_WRITE_ZEROES && !(d->features & VS_BIT(VS_BLK_F_WRITE_ZEROES)))
        return VS_BLK_S_UNSUPP;
    if (b->ro && blk_is_write_type(r->type))
        return VS_BLK_S_IOERR;
    if ((r->type == VS_BLK_T_IN || blk_is_write_type(r->type)) &&
        (r->sector > b->capacity || r->nsectors > b->capacity - r->sector))
        return VS_BLK_S_IOERR;
    return VS_BLK_S_OK;
}

/* The sectors of an OUT or ZONE_APPEND's data (a driver mutant's may differ from the
 * request's). */
static uint32_t blk_mut_sectors(const vs_driver *d, const vs_blk_req *r)
{
    uint32_t mu = d->o.dev_mutations, n = r->nsectors;
    if (r->type == VS_BLK_T_ZONE_APPEND && (mu & VS_BLK_DRV_MUT_APPEND_SHORT) && n > 1)
        return n - 1;
    if (r->type == VS_BLK_T_ZONE_APPEND && (mu & VS_BLK_DRV_MUT_APPEND_DOUBLE) &&
        n <= UINT32_MAX / 2)
        return 2 * n;
    if (r->type == VS_BLK_T_OUT && (mu & VS_BLK_DRV_MUT_ZONE_WRITE_SHORT) &&
        blk_drv(d)->zone_sectors && n > 1)
        return n - 1;
    return n;
}

/* How many range segments a DISCARD / WRITE_ZEROES / SECURE_ERASE gets: more than one
 * only within the device's max_*_seg (blk.driver.blk-op.9..11). */
static int dwz_segments(vs_driver *d, const vs_blk_req *r, uint32_t *n, vs_err *e)
{
    *n = r->dwz_segs ? r->dwz_segs : 1;
    if (*n == 1)
        return 0;
    if (*n > 65536) /* 1 MiB of segments: the buffer length must not wrap */
        return vs_err_set(e, VS_EINVAL, "blk: %u range segments (at most 65536)", *n);
    uint32_t max;
    int rc = dwz_max_seg(d, r->type, &max, e);
    if (rc < 0)
        return rc;
    uint32_t over = r->type == VS_BLK_T_DISCARD        ? VS_BLK_DRV_MUT_DISCARD_SEGS_OVER
                    : r->type == VS_BLK_T_SECURE_ERASE ? VS_BLK_DRV_MUT_SE_SEGS_OVER
                                                       : VS_BLK_DRV_MUT_WZ_SEGS_OVER;
    if (d->o.dev_mutations & over) {
        *n = max < 65536 ? max + 1 : 65536; /* a mutant: one more than the device allows */
        return 0;
    }
    if (*n > max)
        return vs_err_set(e, VS_EINVAL, "blk: %u range segments exceed the device's limit "
                          "of %u (max_*_seg)", *n, max);
    if (*n > r->nsectors)
        return vs_err_set(e, VS_EINVAL, "blk: %u range segments for %u sectors", *n,
                          r->nsectors);
    return 0;
}

/* A request's chain: readable [hdr, data-out | dwz], writable [data-in], status. */
typedef struct blk_shape {
    uint64_t data;           /* data bytes */
    bool data_in, dwz, append;
    uint32_t dwz_len;        /* the range segments' bytes */
    uint32_t dwz_n;          /* range segments */
    uint32_t expect_len;
    uint32_t seg, nd, hsegs; /* data segment size and count, header segments */
} blk_shape;

static int blk_shape_of(vs_driver *d, const vs_blk_req *r, bool indirect, blk_shape *sh,
                        vs_err *e)
{
    const vs_blk_drv *b = blk_drv(d);
    int rc;
    *sh = (blk_shape){.expect_len = 1};
    switch (r->type) {
    case VS_BLK_T_ZONE_APPEND: /* data out, then le64 append_sector + status in */
        sh->data = (uint64_t)blk_mut_sectors(d, r) * VS_BLK_SECTOR;
        sh->append = true;
        sh->expect_len = VS_BLK_APPEND_IN;
        break;
    case VS_BLK_T_ZONE_REPORT:
        sh->data = r->data_len;
        sh->data_in = true;
        sh->expect_len = (uint32_t)(sh->data + 1);
        break;
    case VS_BLK_T_IN:
        sh->data = (uint64_t)r->nsectors * VS_BLK_SECTOR;
        sh->data_in = true;
        sh->expect_len = (uint32_t)(sh->data + 1);
        break;
    case VS_BLK_T_OUT:
        sh->data = (uint64_t)blk_mut_sectors(d, r) * VS_BLK_SECTOR +
                   (d->o.dev_mutations & VS_BLK_DRV_MUT_OUT_PLUS_8 ? 8 : 0);
        break;
    case VS_BLK_T_FLUSH:
        sh->data = d->o.dev_mutations & VS_BLK_DRV_MUT_FLUSH_DATA ? VS_BLK_SECTOR : 0;
        break;
    case VS_BLK_T_GET_ID:
        sh->data = d->o.dev_mutations & VS_BLK_DRV_MUT_GET_ID_SHORT ? 16 : VS_BLK_ID_BYTES;
        sh->data_in = true;
        sh->expect_len = (uint32_t)sh->data + 1;
        break;
    case VS_BLK_T_GET_LIFETIME:
        sh->data = VS_BLK_LIFETIME_BYTES;
        sh->data_in = true;
        sh->expect_len = VS_BLK_LIFETIME_BYTES + 1;
        break;
    case VS_BLK_T_DISCARD:
    case VS_BLK_T_WRITE_ZEROES:
    case VS_BLK_T_SECURE_ERASE:
        sh->dwz = true;
        if ((rc = dwz_segments(d, r, &sh->dwz_n, e)) < 0)
            return rc;
        sh->dwz_len = sh->dwz_n * VS_BLK_DWZ_SEG_BYTES +
                      (d->o.dev_mutations & VS_BLK_DRV_MUT_DWZ_20 ? 4 : 0);
        break;
    default:
        sh->data = r->data_len;
        sh->data_in = (r->flags & VS_BLK_REQ_DATA_IN) != 0;
        break;
    }
    if (sh->data > UINT32_MAX - 1)
        return vs_err_set(e, VS_EINVAL, "blk: %llu data bytes is too large",
                          (unsigned long long)sh->data);
    uint32_t seg = r->seg_size ? r->seg_size : d->o.seg_size;
    if (b->size_max && (!seg || seg > b->size_max))
        seg = b->size_max;
    if (!seg || seg > sh->data)
        seg = sh->data ? (uint32_t)sh->data : 1;
    if ((d->o.dev_mutations & VS_BLK_DRV_MUT_SEG_MAX_IGNORED) && b->seg_max && seg > 1 &&
        sh->data > (uint64_t)b->seg_max * (seg / 2))
        seg /= 2; /* a mutant: more data segments than seg_max, sent all the same */
    sh->seg = seg;
    sh->nd = sh->data ? (uint32_t)((sh->data + seg - 1) / seg) : 0;
    if (b->seg_max && sh->nd > b->seg_max &&
        !(d->o.dev_mutations & VS_BLK_DRV_MUT_SEG_MAX_IGNORED))
        return vs_err_set(e, VS_EINVAL,
                          "blk: %u data segments exceed the device's seg_max %u "
                          "(segment size %u)", sh->nd, b->seg_max, seg);
    sh->hsegs = d->o.chain_layout & VS_DRV_LAYOUT_SPLIT_HEADER ? 2 : 1;
    uint32_t nseg = sh->hsegs + sh->nd + (sh->dwz ? 1 : 0) + (sh->append ? 1 : 0) + 1;
    if (nseg > d->qsize && !indirect)
        return vs_err_set(e, VS_EINVAL, "blk: %u descriptors exceed the queue size %u",
                          nseg, d->qsize);
    return 0;
}

/* Segment lengths in chain order. Returns the dwz segment's index. */
static uint32_t blk_lay_out(vs_drv_req *rq, const blk_shape *sh)
{
    vs_blk_drv_req *br = blk_rq(rq);
    uint32_t k = 0;
    for (uint32_t i = 0; i < sh->hsegs; i++)
        rq->seg[k++].len = VS_BLK_HDR_BYTES / sh->hsegs;
    uint32_t dwz_seg = k;
    if (sh->dwz)
        rq->seg[k++].len = sh->dwz_len;
    uint32_t nd = sh->nd, seg = sh->seg;
    if (!sh->data_in) {
        br->data_first = k;
        for (uint32_t i = 0; i < nd; i++, k++)
            rq->seg[k].len = (uint32_t)(i + 1 < nd ? seg : sh->data - (uint64_t)seg * (nd - 1));
    }
    rq->n_out = k;
    if (sh->data_in) {
        br->data_first = k;
        for (uint32_t i = 0; i < nd; i++, k++)
            rq->seg[k].len = (uint32_t)(i + 1 < nd ? seg : sh->data - (uint64_t)seg * (nd - 1));
    }
    br->data_count = nd;
    if (sh->append)
        rq->seg[k++].len = 8; /* append_sector */
    br->status_seg = k;
    rq->seg[k++].len = 1;
    return dwz_seg;
}

/* Can every segment be read or written in place: whole sectors, inside one region? */
static bool in_place(const vs_gmem *gm, const vs_seg *seg, uint32_t n,
                     enum vs_gmem_access_kind kind)
{
    for (uint32_t i = 0; i < n; i++)
        if (!seg[i].len || seg[i].len % VS_BLK_SECTOR ||
            !vs_gmem_range_ok(gm, seg[i].gpa, seg[i].len, kind))
            return false;
    return true;
}

/* Readable data: OUT the pattern of a fresh tag (or the scenario's), raw readable data
 * the pattern of tag 1. */
static int blk_write_data(vs_driver *d, vs_drv_req *rq, bool append, vs_err *e)
{
    vs_blk_drv *b = blk_drv(d);
    vs_blk_drv_req *br = blk_rq(rq);
    const vs_blk_req *r = &br->r;
    uint32_t nd = br->data_count;
    if ((r->flags & VS_BLK_REQ_ANY_DATA) && r->type == VS_BLK_T_OUT) {
        br->write_tag = VS_SHADOW_UNKNOWN; /* whatever the pool chunk held is written */
        return 0;
    }
    /* Scenario-chosen patterns live in their own tag space, above the counter's. */
    uint64_t tag = r->type != VS_BLK_T_OUT && !append ? 1
                   : r->pattern ? (UINT64_C(1) << 62) | r->pattern
                                : b->next_tag++;
    br->write_tag = r->type == VS_BLK_T_OUT ? tag : 0;
    /* The whole payload once, sector by sector, then scattered over the segments. */
    uint64_t total = 0;
    for (uint32_t i = 0; i < nd; i++)
        total += rq->seg[br->data_first + i].len;
    uint64_t nsec = (total + VS_BLK_SECTOR - 1) / VS_BLK_SECTOR;
    if (total == nsec * VS_BLK_SECTOR &&
        in_place(d->gm, rq->seg + br->data_first, nd, VS_GMEM_WRITE)) {
        /* Whole sectors per segment (the usual case): the pattern straight into guest
         * memory, without a staging copy. */
        uint64_t s = 0;
        for (uint32_t i = 0; i < nd; i++) {
            const vs_seg *sg = &rq->seg[br->data_first + i];
            uint8_t *h = vs_gmem_translate(d->gm, sg->gpa, sg->len, VS_GMEM_WRITE, e);
            if (!h)
                return -VS_ERANGE;
            for (uint32_t k = 0; k < sg->len / VS_BLK_SECTOR; k++, s++)
                blk_pattern_sector(d->o.seed, tag, r->sector + s, h + k * VS_BLK_SECTOR);
        }
        return 0;
    }
    uint8_t *payload = malloc(nsec * VS_BLK_SECTOR);
    if (!payload)
        return vs_err_set(e, VS_ENOMEM, "blk: out of memory");
    for (uint64_t s = 0; s < nsec; s++)
        blk_pattern_sector(d->o.seed, tag, r->sector + s, payload + s * VS_BLK_SECTOR);
    uint64_t pos = 0;
    int rc = 0;
    for (uint32_t i = 0; i < nd && rc >= 0; i++) {
        const vs_seg *sg = &rq->seg[br->data_first + i];
        rc = vs_gmem_write(d->gm, sg->gpa, payload + pos, sg->len, e);
        pos += sg->len;
    }
    free(payload);
    return rc;
}

/* The header sector of a zone request a driver mutant gets wrong. */
static uint64_t blk_mut_zone_sector(const vs_driver *d, const vs_blk_req *r, uint64_t sector)
{
    uint32_t mu = d->o.dev_mutations, t = r->type;
    bool mgmt = t == VS_BLK_T_ZONE_OPEN || t == VS_BLK_T_ZONE_CLOSE ||
                t == VS_BLK_T_ZONE_FINISH || t == VS_BLK_T_ZONE_RESET;
    if (!mu)
        return sector;
    if ((mgmt && (mu & VS_BLK_DRV_MUT_ZONE_PAST_END)) ||
        (t == VS_BLK_T_ZONE_REPORT && (mu & VS_BLK_DRV_MUT_REPORT_PAST_END)))
        return blk_drv(d)->capacity;
    if ((mgmt && (mu & VS_BLK_DRV_MUT_ZONE_MID)) ||
        (t == VS_BLK_T_ZONE_APPEND && (mu & VS_BLK_DRV_MUT_APPEND_MID)))
        return sector + 8;
    if (t == VS_BLK_T_ZONE_RESET_ALL && (mu & VS_BLK_DRV_MUT_RESET_ALL_SECTOR))
        return blk_drv(d)->zone_sectors ? blk_drv(d)->zone_sectors : 8;
    return sector;
}

/* Header, DISCARD/WRITE_ZEROES segment, data, and for a verified read the sectors'
 * expected state. */
static int blk_fill(vs_driver *d, vs_drv_req *rq, const blk_shape *sh, uint32_t dwz_seg,
                    vs_err *e)
{
    vs_blk_drv_req *br = blk_rq(rq);
    const vs_blk_req *r = &br->r;
    int rc;
    uint8_t hb[VS_BLK_HDR_BYTES];
    uint64_t sector = r->sector;
    if (r->type == VS_BLK_T_FLUSH && (d->o.dev_mutations & VS_BLK_DRV_MUT_FLUSH_SECTOR))
        sector = 8;
    if (r->type == VS_BLK_T_IN && (d->o.dev_mutations & VS_BLK_DRV_MUT_IN_PAST_END))
        sector = blk_drv(d)->capacity;
    sector = blk_mut_zone_sector(d, r, sector);
    vs_blk_hdr_put(hb, &(vs_blk_req_hdr){.type = r->type, .sector = sector});
    uint32_t hl = VS_BLK_HDR_BYTES / sh->hsegs;
    for (uint32_t i = 0; i < sh->hsegs; i++)
        if ((rc = vs_gmem_write(d->gm, rq->seg[i].gpa, hb + i * hl, hl, e)) < 0)
            return rc;
    if (sh->dwz) {
        uint8_t pb[VS_BLK_DWZ_SEG_BYTES];
        bool unmap = (r->type == VS_BLK_T_WRITE_ZEROES && (r->flags & VS_BLK_REQ_UNMAP)) ||
                     (r->type == VS_BLK_T_DISCARD &&
                      (d->o.dev_mutations & VS_BLK_DRV_MUT_DISCARD_UNMAP));
        /* the range in dwz_n parts, the last one taking what does not divide */
        uint32_t per = r->nsectors / sh->dwz_n;
        for (uint32_t i = 0; i < sh->dwz_n; i++) {
            uint32_t n = i + 1 < sh->dwz_n ? per : r->nsectors - per * (sh->dwz_n - 1);
            vs_blk_dwz_put(pb, &(vs_blk_dwz_seg){.sector = r->sector + (uint64_t)per * i,
                                                 .num_sectors = n,
                                                 .flags = (unmap ? VS_BLK_F_DWZ_UNMAP : 0u) |
                                                          r->dwz_flags});
            if ((rc = vs_gmem_write(d->gm, rq->seg[dwz_seg].gpa + sizeof pb * i, pb,
                                    sizeof pb, e)) < 0)
                return rc;
        }
    }
    if (!sh->data_in && sh->nd && (rc = blk_write_data(d, rq, sh->append, e)) < 0)
        return rc;
    if (r->type == VS_BLK_T_IN && !(r->flags & VS_BLK_REQ_NO_VERIFY) && r->nsectors &&
        r->nsectors <= SHADOW_RANGE_MAX) {
        const vs_blk_drv *b = blk_drv(d);
        br->snap = rq->owned = malloc((size_t)r->nsectors * sizeof *br->snap);
        if (!br->snap)
            return vs_err_set(e, VS_ENOMEM, "blk: out of memory");
        blk_shadow_cursor cur = {0};
        for (uint32_t i = 0; i < r->nsectors; i++) {
            uint64_t s = r->sector + i;
            uint32_t busy;
            uint64_t tag = blk_shadow_state_at(b, &cur, s, &busy);
            br->snap[i] = busy ? SNAP_SKIP : tag;
        }
    }
    return 0;
}

int vs_blk_submit(vs_driver *d, const vs_blk_req *r, vs_err *e)
{
    if (!r)
        return vs_err_set(e, VS_EINVAL, "blk: NULL request");
    if (r->queue >= d->nq || !d->q[r->queue].vq)
        return vs_err_set(e, VS_EINVAL, "blk: queue %u is not set up (%u queues)", r->queue,
                          d->nq);
    if (d->t->device_id != VS_DEV_BLK || d->pers != &vs_blk_drv_personality)
        return vs_err_set(e, VS_ENOTSUP, "blk: device id %u is not virtio-blk",
                          d->t->device_id);
    bool indirect = (r->flags & VS_BLK_REQ_INDIRECT) ||
                    (d->o.use_indirect && !(r->flags & VS_BLK_REQ_DIRECT));
    if (indirect && !(d->features & VS_BIT(VS_F_INDIRECT_DESC)))
        return vs_err_set(e, VS_ENOTSUP, "blk: indirect request but VIRTIO_F_INDIRECT_DESC "
                          "is not negotiated");
    blk_shape sh;
    int rc = blk_shape_of(d, r, indirect, &sh, e);
    if (rc < 0)
        return rc;
    uint32_t nseg = sh.hsegs + sh.nd + (sh.dwz ? 1 : 0) + (sh.append ? 1 : 0) + 1;
    vs_drv_req *rq;
    if ((rc = vs__drv_req_new(d, r->queue, nseg, &rq, e)) < 0)
        return rc;
    vs_blk_drv_req *br = blk_rq(rq);
    br->r = *r;
    br->flush_gen = blk_drv(d)->wr_gen; /* a FLUSH covers the writes completed by now */
    br->data_in = sh.data_in;
    br->expect_len = sh.expect_len;
    br->expect_status = (r->flags & VS_BLK_REQ_EXPECT) ? r->expect_status
                                                        : default_status(d, r);
    rq->poison_last_only = (r->flags & VS_BLK_REQ_NO_VERIFY) != 0;
    uint32_t dwz_seg = blk_lay_out(rq, &sh);
    if ((rc = vs__drv_req_layout(d, rq, e)) < 0 || (rc = blk_fill(d, rq, &sh, dwz_seg, e)) < 0)
        goto fail;
    blk_range_busy(blk_drv(d), br, +1, false, 0);
    rc = vs__drv_req_commit(d, rq, indirect, (r->flags & VS_BLK_REQ_DEFER) != 0, e);
    if (rc < 0) {
        if (rq->added)
            return rc; /* live: completes (or is aborted) like any other */
        blk_range_busy(blk_drv(d), br, -1, false, 0);
        goto fail;
    }
    return rc;
fail:
    vs__drv_req_free(d, rq);
    return rc;
}

int vs_blk_read(vs_driver *d, uint16_t q, uint64_t sector, uint32_t nsectors, vs_err *e)
{
    vs_blk_req r = {.type = VS_BLK_T_IN, .sector = sector, .nsectors = nsectors, .queue = q};
    return vs_blk_submit(d, &r, e);
}

int vs_blk_write(vs_driver *d, uint16_t q, uint64_t sector, uint32_t nsectors, vs_err *e)
{
    vs_blk_req r = {.type = VS_BLK_T_OUT, .sector = sector, .nsectors = nsectors, .queue = q};
    return vs_blk_submit(d, &r, e);
}

int vs_blk_do(vs_driver *d, const vs_blk_req *r, vs_blk_result *res, vs_err *e)
{
    /* Older results stay queued; ours is found by queue + id. */
    int id = vs_blk_submit(d, r, e);
    if (id < 0)
        return id;
    int rc = vs_driver_run(d, 0, e);
    if (rc < 0)
        return rc;
    for (size_t i = d->res_n; i-- > 0;) {
        const vs_blk_result *x = vs__drv_result_at(d, i);
        if (x->queue == r->queue && x->id == (uint32_t)id && !x->fault) {
            if (res)
                *res = *x;
            vs__drv_result_remove(d, i);
            return 0;
        }
    }
    return vs_err_set(e, VS_EPROTO, "blk: request (queue %u id %d) completed without a result",
                      r->queue, id);
}

int vs_blk_take_result(vs_driver *d, vs_blk_result *out)
{
    return vs_driver_take_result(d, out);
}

size_t vs_blk_results_pending(const vs_driver *d)
{
    return vs_driver_results_pending(d);
}

/* ------------------------------------------------------------------ completion */

static void fail_msg(vs_blk_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void fail_msg(vs_blk_result *res, const char *fmt, ...)
{
    if (res->msg[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->msg, sizeof res->msg, fmt, ap);
    va_end(ap);
}

/* Walks the request's data sector by sector where it lies in guest memory (each segment
 * translated once), or through buf when verify_in had to copy it. */
typedef struct sector_cur {
    const vs_seg *seg;      /* the current segment */
    const uint8_t *host;    /* its bytes, NULL before the first */
    uint32_t left;          /* its sectors not yet taken */
} sector_cur;

static const uint8_t *sector_data(vs_driver *d, sector_cur *c, const uint8_t *buf,
                                  uint32_t i, vs_err *e)
{
    if (buf)
        return buf + (uint64_t)i * VS_BLK_SECTOR;
    if (!c->left) {
        if (c->host)
            c->seg++;
        c->host = vs_gmem_translate(d->gm, c->seg->gpa, c->seg->len, VS_GMEM_READ, e);
        if (!c->host)
            return NULL;
        c->left = c->seg->len / VS_BLK_SECTOR;
    }
    const uint8_t *p = c->host + (uint64_t)(c->seg->len / VS_BLK_SECTOR - c->left) *
                                     VS_BLK_SECTOR;
    c->left--;
    return p;
}

static void verify_in(vs_driver *d, vs_drv_req *rq, vs_blk_result *res)
{
    const vs_blk_drv *b = blk_drv(d);
    const vs_blk_drv_req *br = blk_rq(rq);
    uint64_t bytes = (uint64_t)br->r.nsectors * VS_BLK_SECTOR;
    uint64_t seg_bytes = 0;
    for (uint32_t i = 0; i < br->data_count; i++)
        seg_bytes += rq->seg[br->data_first + i].len;
    uint8_t *buf = NULL;
    vs_err ge;
    vs_err_clear(&ge);
    /* Whole sectors per segment (the usual case): compared where they lie, no copy. */
    bool direct = seg_bytes == bytes &&
                  in_place(d->gm, rq->seg + br->data_first, br->data_count, VS_GMEM_READ);
    if (!direct && !(buf = malloc(bytes ? bytes : 1))) {
        res->data_ok = false;
        fail_msg(res, "verify: out of memory");
        return;
    }
    uint64_t pos = 0;
    for (uint32_t i = 0; buf && i < br->data_count; i++) {
        const vs_seg *sg = &rq->seg[br->data_first + i];
        if (vs_gmem_read(d->gm, sg->gpa, buf + pos, sg->len, &ge) < 0) {
            res->data_ok = false;
            fail_msg(res, "verify: %s", ge.msg);
            free(buf);
            return;
        }
        pos += sg->len;
    }
    uint8_t exp[VS_BLK_SECTOR];
    sector_cur cur = {.seg = rq->seg + br->data_first};
    blk_shadow_cursor sc = {0};
    for (uint32_t i = 0; i < br->r.nsectors; i++) {
        uint64_t s = br->r.sector + i;
        uint64_t want = br->snap[i];
        const uint8_t *got = sector_data(d, &cur, buf, i, &ge);
        if (!got) {
            res->data_ok = false;
            fail_msg(res, "verify: %s", ge.msg);
            break;
        }
        /* Changed (or being changed) since submission: either version is legal. */
        uint32_t busy = 0;
        if (want == SNAP_SKIP || want == VS_SHADOW_UNKNOWN ||
            blk_shadow_state_at(b, &sc, s, &busy) != want || busy) {
            res->sectors_skipped++;
            continue;
        }
        if (want != VS_SHADOW_ZERO && blk_pattern_match(d->o.seed, want, s, got)) {
            res->sectors_verified++;
            continue;
        }
        if (want == VS_SHADOW_ZERO)
            memset(exp, 0, sizeof exp);
        else
            blk_pattern_sector(d->o.seed, want, s, exp);
        if (memcmp(got, exp, VS_BLK_SECTOR)) {
            unsigned off = 0;
            while (got[off] == exp[off])
                off++;
            res->data_ok = false;
            if (want == VS_SHADOW_ZERO)
                fail_msg(res, "verify: sector %llu offset %u: got 0x%02x, expected 0x00 "
                         "(zeroed)", (unsigned long long)s, off, got[off]);
            else
                fail_msg(res, "verify: sector %llu offset %u: got 0x%02x, expected 0x%02x "
                         "(pattern tag %llu)", (unsigned long long)s, off, got[off],
                         exp[off], (unsigned long long)want);
            break;
        }
        res->sectors_verified++;
    }
    free(buf);
}

/* ZONE_REPORT: nr_zones and the first descriptors' state and write pointer. */
static void zone_report(vs_driver *d, const vs_seg *sg, vs_blk_result *res)
{
    uint8_t b[VS_BLK_ZONE_DESC];
    if (sg->len < VS_BLK_ZONE_REPORT_HDR || vs_gmem_read(d->gm, sg->gpa, b, 8, NULL) != 0)
        return;
    res->nr_zones = vs_blk_zone_report_nr(b);
    for (uint32_t z = 0; z < VS_BLK_RESULT_ZONES && z < res->nr_zones; z++) {
        uint64_t off = VS_BLK_ZONE_REPORT_HDR + (uint64_t)z * VS_BLK_ZONE_DESC;
        if (off + VS_BLK_ZONE_DESC > sg->len ||
            vs_gmem_read(d->gm, sg->gpa + off, b, VS_BLK_ZONE_DESC, NULL) < 0)
            break;
        vs_blk_zone_desc zd;
        vs_blk_zone_desc_get(b, &zd);
        res->zone_state[z] = zd.z_state;
        res->zone_wp[z] = zd.z_wp;
    }
}

/* Status, used length, the data a read returned, and what the disk holds now. (Inlined
 * into blk_complete: one call frame less per request.) */
static inline __attribute__((always_inline)) void blk_judge(vs_driver *d, vs_drv_req *rq, const vs_drv_done *done,
                      vs_blk_result *res)
{
    vs_blk_drv *b = blk_drv(d);
    vs_blk_drv_req *br = blk_rq(rq);
    uint32_t used_len = done->used_len;
    res->data_ok = true;
    uint8_t st = 0xff;
    vs_err ge;
    vs_err_clear(&ge);
    if (vs_gmem_ld8(d->gm, rq->seg[br->status_seg].gpa, &st, &ge) < 0)
        fail_msg(res, "status byte unreadable: %s", ge.msg);
    res->status = st;
    res->status_ok = st == br->expect_status;
    if (!res->status_ok)
        fail_msg(res, "status %u, expected %u%s", st, br->expect_status,
                 st == VS_DRV_POISON ? " (status byte never written)" : "");
    /* A failed request may write less than everything; it must write the status. A
     * packed used descriptor without VIRTQ_DESC_F_WRITE has no length to judge. */
    if (!done->len_valid)
        res->len_ok = true;
    else if (st == VS_BLK_S_OK || !res->status_ok)
        res->len_ok = used_len == br->expect_len;
    else
        res->len_ok = used_len >= 1 && used_len <= br->expect_len;
    if (!res->len_ok)
        fail_msg(res, "used length %u, expected %u", used_len, br->expect_len);
    uint32_t type = br->r.type;
    if (st == VS_BLK_S_OK && (type == VS_BLK_T_OUT || type == VS_BLK_T_WRITE_ZEROES))
        b->wr_gen++;
    else if (st == VS_BLK_S_OK && type == VS_BLK_T_FLUSH && br->flush_gen > b->flushed_gen)
        b->flushed_gen = br->flush_gen;
    if (type == VS_BLK_T_GET_ID && st == VS_BLK_S_OK) {
        vs_gmem_read(d->gm, rq->seg[br->data_first].gpa, res->id_str, VS_BLK_ID_BYTES, NULL);
        res->id_str[VS_BLK_ID_BYTES] = 0;
    }
    if (type == VS_BLK_T_IN && st == VS_BLK_S_OK && br->snap)
        verify_in(d, rq, res);
    if (type == VS_BLK_T_ZONE_APPEND && st == VS_BLK_S_OK) {
        uint8_t a[8] = {0};
        vs_gmem_read(d->gm, rq->seg[br->status_seg - 1].gpa, a, 8, NULL);
        res->append_sector = vs_le64_get(a);
        blk_shadow_unknown(b, res->append_sector, br->r.nsectors);
    }
    if (type == VS_BLK_T_ZONE_REPORT && st == VS_BLK_S_OK && br->data_count)
        zone_report(d, &rq->seg[br->data_first], res);
    if (st == VS_BLK_S_OK && b->zone_sectors &&
        (type == VS_BLK_T_ZONE_RESET || type == VS_BLK_T_ZONE_FINISH))
        blk_shadow_unknown(b, br->r.sector, b->zone_sectors);
    if (st == VS_BLK_S_OK && type == VS_BLK_T_ZONE_RESET_ALL)
        blk_shadow_unknown(b, 0, UINT64_MAX);
    /* Shadow: what the disk holds now. */
    if (blk_tracks_range(br)) {
        uint64_t tag = VS_SHADOW_UNKNOWN;
        if (st == VS_BLK_S_OK && type == VS_BLK_T_OUT)
            tag = br->write_tag;
        else if (st == VS_BLK_S_OK && type == VS_BLK_T_WRITE_ZEROES)
            tag = VS_SHADOW_ZERO;
        /* a rejected write that changed nothing (IOERR/UNSUPP) leaves sectors unknown:
         * the driver cannot tell how much of it happened */
        blk_range_busy(b, br, -1, true, tag);
    }
    res->ok = res->status_ok && res->len_ok && res->data_ok;
}

static void blk_complete(vs_driver *d, vs_drv_req *rq, const vs_drv_done *done, void *slot)
{
    vs_blk_result *res = slot;
    res->complete_ns = done->complete_ns;
    res->queue = done->queue;
    res->id = done->id;
    res->used_len = done->used_len;
    if (!rq) {
        snprintf(res->msg, sizeof res->msg, "used element without a request");
        return;
    }
    const vs_blk_drv_req *br = blk_rq(rq);
    if (rq->fault) {
        res->fault = true;
        res->type = br->r.type;
        res->submit_ns = rq->submit_ns;
        res->latency_ns = res->complete_ns - rq->submit_ns;
        res->guard_ok = true;
        snprintf(res->msg, sizeof res->msg,
                 "device completed a malformed chain (expected DEVICE_NEEDS_RESET)");
        return;
    }
    res->type = br->r.type;
    res->sector = br->r.sector;
    res->nsectors = br->r.nsectors;
    res->user = br->r.user;
    res->expect_status = br->expect_status;
    res->expect_len = br->expect_len;
    blk_judge(d, rq, done, res);
    res->guard_ok = done->guard_ok;
    if (!done->guard_ok) {
        if (res->ok)
            snprintf(res->msg, sizeof res->msg, "%.199s", done->guard_msg);
        res->ok = false;
    }
    res->submit_ns = rq->submit_ns;
    res->latency_ns = res->complete_ns - rq->submit_ns;
}

static void blk_abort(vs_driver *d, vs_drv_req *rq)
{
    if (!rq->fault)
        blk_range_busy(blk_drv(d), blk_rq(rq), -1, true, VS_SHADOW_UNKNOWN);
}

/* Fault chains start from a FLUSH: header and status only. */
static void blk_fault_shape(vs_driver *d, vs_drv_req *rq, vs_drv_fault_shape *sh)
{
    (void)d;
    blk_rq(rq)->r.type = VS_BLK_T_FLUSH;
    vs_blk_hdr_put(sh->hdr, &(vs_blk_req_hdr){.type = VS_BLK_T_FLUSH});
    sh->hdr_len = VS_BLK_HDR_BYTES;
    sh->status_len = 1;
}

const vs_drv_personality vs_blk_drv_personality = {
    .default_features = VS_DRV_FEATURES_BLK_DEFAULT,
    .multiqueue_feature = VS_BLK_F_MQ,
    .req_size = sizeof(vs_blk_drv_req),
    .result_size = sizeof(vs_blk_result),
    .state_create = blk_state_create,
    .state_free = blk_state_free,
    .read_config_early = blk_config_early,
    .setup = blk_setup,
    .fill_early = blk_fill_early,
    .complete = blk_complete,
    .abort = blk_abort,
    .fault_shape = blk_fault_shape,
    .config_changed = blk_config_changed,
};
