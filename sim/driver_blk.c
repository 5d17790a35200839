/* virtio-blk on the driver model: request builders, data patterns, the per-sector
 * shadow, verification of completions, and the fio-style workload. */
#define VS_DRIVER_INTERNAL
#include "virtiosim/driver.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtiosim/le.h"

#define SNAP_SKIP UINT64_MAX
#define SHADOW_RANGE_MAX (UINT32_C(1) << 22)  /* sectors tracked per request */

/* ------------------------------------------------------------------ shadow */

typedef struct shadow_ent {
    uint64_t key;   /* sector + 1; 0 = empty */
    uint64_t tag;
    uint32_t busy;  /* writes in flight */
    bool overlap;   /* two writes were in flight at once since busy was last 0 */
} shadow_ent;

typedef struct shadow_range {
    uint64_t first, end; /* [first, end) */
} shadow_range;

struct vs_blk_shadow {
    shadow_ent *t;
    size_t cap, n;
    /* Given up wholesale (vs_blk_shadow_forget): unknown unless an entry says otherwise.
     * Entries inside were dropped when the range was added, so any entry there is newer. */
    shadow_range *unknown;
    size_t n_unknown, cap_unknown;
};

static size_t sh_hash(uint64_t k, size_t cap)
{
    k ^= k >> 33;
    k *= UINT64_C(0xff51afd7ed558ccd);
    k ^= k >> 33;
    return (size_t)k & (cap - 1);
}

static shadow_ent *sh_find(const struct vs_blk_shadow *s, uint64_t sector)
{
    if (!s || !s->cap)
        return NULL;
    uint64_t key = sector + 1;
    for (size_t i = sh_hash(key, s->cap);; i = (i + 1) & (s->cap - 1)) {
        if (s->t[i].key == key)
            return &s->t[i];
        if (s->t[i].key == 0)
            return NULL;
    }
}

static shadow_ent *sh_get(vs_driver *d, uint64_t sector)
{
    struct vs_blk_shadow *s = d->shadow;
    if (!s) {
        s = d->shadow = calloc(1, sizeof *s);
        if (!s)
            return NULL;
    }
    shadow_ent *x = sh_find(s, sector);
    if (x)
        return x;
    if ((s->n + 1) * 4 >= s->cap * 3) {
        size_t ncap = s->cap ? s->cap * 2 : 1024;
        shadow_ent *nt = calloc(ncap, sizeof *nt);
        if (!nt)
            return NULL;
        for (size_t i = 0; i < s->cap; i++)
            if (s->t[i].key) {
                size_t j = sh_hash(s->t[i].key, ncap);
                while (nt[j].key)
                    j = (j + 1) & (ncap - 1);
                nt[j] = s->t[i];
            }
        free(s->t);
        s->t = nt;
        s->cap = ncap;
    }
    uint64_t key = sector + 1;
    size_t i = sh_hash(key, s->cap);
    while (s->t[i].key)
        i = (i + 1) & (s->cap - 1);
    s->t[i] = (shadow_ent){.key = key, .tag = d->shadow_default};
    s->n++;
    return &s->t[i];
}

void vs__blk_shadow_free(vs_driver *d)
{
    if (d->shadow) {
        free(d->shadow->unknown);
        free(d->shadow->t);
        free(d->shadow);
        d->shadow = NULL;
    }
}

uint64_t vs_blk_shadow_get(const vs_driver *d, uint64_t sector)
{
    const shadow_ent *x = sh_find(d->shadow, sector);
    if (x)
        return x->tag;
    if (d->shadow)
        for (size_t i = 0; i < d->shadow->n_unknown; i++)
            if (sector >= d->shadow->unknown[i].first && sector < d->shadow->unknown[i].end)
                return VS_SHADOW_UNKNOWN;
    return d->shadow_default;
}

int vs_blk_shadow_forget(vs_driver *d, uint64_t first, uint64_t count, vs_err *e)
{
    if (!count)
        return 0;
    uint64_t end = first + count < first ? UINT64_MAX : first + count;
    struct vs_blk_shadow *s = d->shadow;
    if (!s) {
        s = d->shadow = calloc(1, sizeof *s);
        if (!s)
            return vs_err_set(e, VS_ENOMEM, "blk shadow: out of memory");
    }
    for (size_t i = 0; i < s->cap; i++)
        if (s->t[i].key && s->t[i].key - 1 >= first && s->t[i].key - 1 < end && s->t[i].busy)
            return vs_err_set(e, VS_ESTATE, "blk shadow: sector %llu has a write in flight",
                              (unsigned long long)(s->t[i].key - 1));
    if (s->n_unknown == s->cap_unknown) {
        size_t nc = s->cap_unknown ? 2 * s->cap_unknown : 4;
        shadow_range *nr = realloc(s->unknown, nc * sizeof *nr);
        if (!nr)
            return vs_err_set(e, VS_ENOMEM, "blk shadow: out of memory");
        s->unknown = nr;
        s->cap_unknown = nc;
    }
    /* Drop the entries inside: copy the survivors out, then rehash them (keeps probe
     * chains intact). */
    size_t n = 0;
    for (size_t i = 0; i < s->cap; i++)
        if (s->t[i].key && !(s->t[i].key - 1 >= first && s->t[i].key - 1 < end))
            n++;
    shadow_ent *old = n ? malloc(n * sizeof *old) : NULL;
    if (n && !old)
        return vs_err_set(e, VS_ENOMEM, "blk shadow: out of memory");
    for (size_t i = 0, k = 0; i < s->cap; i++)
        if (s->t[i].key && !(s->t[i].key - 1 >= first && s->t[i].key - 1 < end))
            old[k++] = s->t[i];
    s->unknown[s->n_unknown++] = (shadow_range){first, end};
    if (s->cap)
        memset(s->t, 0, s->cap * sizeof *s->t);
    for (size_t i = 0; i < n; i++) {
        size_t j = sh_hash(old[i].key, s->cap);
        while (s->t[j].key)
            j = (j + 1) & (s->cap - 1);
        s->t[j] = old[i];
    }
    s->n = n;
    free(old);
    return 0;
}

void vs_blk_shadow_assume(vs_driver *d, uint64_t state)
{
    d->shadow_default = state;
}

static uint32_t busy_of(const vs_driver *d, uint64_t sector)
{
    const shadow_ent *x = sh_find(d->shadow, sector);
    return x ? x->busy : 0;
}

/* Sectors [a, a + n) now hold something the driver cannot predict (a zone reset fills
 * them with the device's pattern; an append lands where the device chooses). */
static void shadow_forget(vs_driver *d, uint64_t a, uint64_t n)
{
    struct vs_blk_shadow *s = d->shadow;
    for (size_t i = 0; s && i < s->cap; i++)
        if (s->t[i].key && s->t[i].key - 1 >= a && s->t[i].key - 1 - a < n)
            s->t[i].tag = VS_SHADOW_UNKNOWN;
}

/* ------------------------------------------------------------------ patterns */

static uint64_t pattern_word(uint64_t seed, uint64_t tag, uint64_t sector, uint32_t w)
{
    uint64_t st = seed ^ (tag * UINT64_C(0xd6e8feb86659fd93)) ^
                  (sector * UINT64_C(0x9e3779b97f4a7c15)) ^ ((uint64_t)w << 48);
    return vs__splitmix64(&st);
}

uint8_t vs_blk_pattern_byte(uint64_t seed, uint64_t tag, uint64_t sector, uint32_t off)
{
    return (uint8_t)(pattern_word(seed, tag, sector, off / 8) >> (8 * (off % 8)));
}

static void pattern_sector(uint64_t seed, uint64_t tag, uint64_t sector, uint8_t *out)
{
    /* Same words as pattern_word, with the per-sector part computed once. */
    uint64_t base = seed ^ (tag * UINT64_C(0xd6e8feb86659fd93)) ^
                    (sector * UINT64_C(0x9e3779b97f4a7c15));
    for (uint32_t w = 0; w < VS_BLK_SECTOR / 8; w++) {
        uint64_t st = base ^ ((uint64_t)w << 48);
        uint64_t v = vs__splitmix64(&st);
        for (unsigned b = 0; b < 8; b++)
            out[w * 8 + b] = (uint8_t)(v >> (8 * b));
    }
}

/* ------------------------------------------------------------------ submission */

static bool is_write_type(uint32_t t)
{
    return t == VS_BLK_T_OUT || t == VS_BLK_T_DISCARD || t == VS_BLK_T_WRITE_ZEROES ||
           t == VS_BLK_T_SECURE_ERASE;
}

static bool tracks_range(const vs_drv_req *rq)
{
    return is_write_type(rq->r.type) && rq->r.nsectors && rq->r.nsectors <= SHADOW_RANGE_MAX &&
           (rq->r.flags & (VS_BLK_REQ_UNTRACKED | VS_BLK_REQ_ANY_DATA)) !=
               (VS_BLK_REQ_UNTRACKED | VS_BLK_REQ_ANY_DATA);
}

static void range_busy(vs_driver *d, const vs_drv_req *rq, int delta, bool set,
                       uint64_t tag)
{
    if (!tracks_range(rq))
        return;
    for (uint64_t s = rq->r.sector; s < rq->r.sector + rq->r.nsectors; s++) {
        shadow_ent *x = sh_get(d, s);
        if (!x)
            return;
        /* virtio-blk orders nothing between requests in flight: when two writes to a
         * sector overlap in time, either may land last, so the content is unknown. */
        if (delta > 0 && x->busy)
            x->overlap = true;
        if (delta < 0 && x->busy)
            x->busy--;
        else if (delta > 0)
            x->busy++;
        if (set)
            x->tag = x->overlap ? VS_SHADOW_UNKNOWN : tag;
        if (x->busy == 0)
            x->overlap = false;
    }
}

void vs__blk_abort(vs_driver *d, vs_drv_req *rq)
{
    if (!rq->fault)
        range_busy(d, rq, -1, true, VS_SHADOW_UNKNOWN);
}




static bool known_type(uint32_t t)
{
    return t == VS_BLK_T_IN || t == VS_BLK_T_OUT || t == VS_BLK_T_FLUSH ||
           t == VS_BLK_T_GET_ID || t == VS_BLK_T_DISCARD || t == VS_BLK_T_WRITE_ZEROES;
}

static uint8_t default_status(const vs_driver *d, const vs_blk_req *r)
{
    if (!known_type(r->type))
        return VS_BLK_S_UNSUPP;
    if (r->type == VS_BLK_T_DISCARD && !(d->features & VS_BIT(VS_BLK_F_DISCARD)))
        return VS_BLK_S_UNSUPP;
    if (r->type == VS_BLK_T_WRITE_ZEROES && !(d->features & VS_BIT(VS_BLK_F_WRITE_ZEROES)))
        return VS_BLK_S_UNSUPP;
    if (d->ro && is_write_type(r->type))
        return VS_BLK_S_IOERR;
    if ((r->type == VS_BLK_T_IN || is_write_type(r->type)) &&
        (r->sector > d->capacity || r->nsectors > d->capacity - r->sector))
        return VS_BLK_S_IOERR;
    return VS_BLK_S_OK;
}

int vs_blk_submit(vs_driver *d, const vs_blk_req *r, vs_err *e)
{
    if (!r)
        return vs_err_set(e, VS_EINVAL, "blk: NULL request");
    if (r->queue >= d->nq || !d->q[r->queue].vq)
        return vs_err_set(e, VS_EINVAL, "blk: queue %u is not set up (%u queues)", r->queue,
                          d->nq);
    if (d->t->device_id != VS_DEV_BLK)
        return vs_err_set(e, VS_ENOTSUP, "blk: device id %u is not virtio-blk",
                          d->t->device_id);
    bool indirect = (r->flags & VS_BLK_REQ_INDIRECT) ||
                    (d->o.use_indirect && !(r->flags & VS_BLK_REQ_DIRECT));
    if (indirect && !(d->features & VS_BIT(VS_F_INDIRECT_DESC)))
        return vs_err_set(e, VS_ENOTSUP, "blk: indirect request but VIRTIO_F_INDIRECT_DESC "
                          "is not negotiated");

    /* Shape: readable [hdr, data-out | dwz], writable [data-in], status. */
    uint64_t data = 0;
    bool data_in = false, dwz = false, append = false;
    uint32_t expect_len = 1;
    switch (r->type) {
    case VS_BLK_T_ZONE_APPEND: /* data out, then le64 append_sector + status in */
        data = (uint64_t)r->nsectors * VS_BLK_SECTOR;
        append = true;
        expect_len = VS_BLK_APPEND_IN;
        break;
    case VS_BLK_T_ZONE_REPORT:
        data = r->data_len;
        data_in = true;
        expect_len = (uint32_t)(data + 1);
        break;
    case VS_BLK_T_IN:
        data = (uint64_t)r->nsectors * VS_BLK_SECTOR;
        data_in = true;
        expect_len = (uint32_t)(data + 1);
        break;
    case VS_BLK_T_OUT:
        data = (uint64_t)r->nsectors * VS_BLK_SECTOR;
        break;
    case VS_BLK_T_FLUSH:
        break;
    case VS_BLK_T_GET_ID:
        data = VS_BLK_ID_BYTES;
        data_in = true;
        expect_len = VS_BLK_ID_BYTES + 1;
        break;
    case VS_BLK_T_GET_LIFETIME:
        data = VS_BLK_LIFETIME_BYTES;
        data_in = true;
        expect_len = VS_BLK_LIFETIME_BYTES + 1;
        break;
    case VS_BLK_T_DISCARD:
    case VS_BLK_T_WRITE_ZEROES:
    case VS_BLK_T_SECURE_ERASE:
        dwz = true;
        break;
    default:
        data = r->data_len;
        data_in = (r->flags & VS_BLK_REQ_DATA_IN) != 0;
        break;
    }
    if (data > UINT32_MAX - 1)
        return vs_err_set(e, VS_EINVAL, "blk: %llu data bytes is too large",
                          (unsigned long long)data);
    uint32_t seg = r->seg_size ? r->seg_size : d->o.seg_size;
    if (d->size_max && (!seg || seg > d->size_max))
        seg = d->size_max;
    if (!seg || seg > data)
        seg = data ? (uint32_t)data : 1;
    uint32_t nd = data ? (uint32_t)((data + seg - 1) / seg) : 0;
    if (d->seg_max && nd > d->seg_max)
        return vs_err_set(e, VS_EINVAL,
                          "blk: %u data segments exceed the device's seg_max %u "
                          "(segment size %u)", nd, d->seg_max, seg);
    uint32_t hsegs = d->o.chain_layout & VS_DRV_LAYOUT_SPLIT_HEADER ? 2 : 1;
    uint32_t nseg = hsegs + nd + (dwz ? 1 : 0) + (append ? 1 : 0) + 1;
    if (nseg > d->qsize && !indirect)
        return vs_err_set(e, VS_EINVAL, "blk: %u descriptors exceed the queue size %u",
                          nseg, d->qsize);

    vs_drv_req *rq;
    int rc = vs__drv_req_new(d, r->queue, nseg, &rq, e);
    if (rc < 0)
        return rc;
    rq->r = *r;
    rq->data_in = data_in;
    rq->expect_len = expect_len;
    rq->expect_status = (r->flags & VS_BLK_REQ_EXPECT) ? r->expect_status
                                                        : default_status(d, r);
    uint32_t k = 0;
    for (uint32_t i = 0; i < hsegs; i++)
        rq->seg[k++].len = 16 / hsegs;
    uint32_t dwz_seg = k;
    if (dwz)
        rq->seg[k++].len = 16;
    if (!data_in) {
        rq->data_first = k;
        for (uint32_t i = 0; i < nd; i++, k++)
            rq->seg[k].len = (uint32_t)(i + 1 < nd ? seg : data - (uint64_t)seg * (nd - 1));
    }
    rq->n_out = k;
    if (data_in) {
        rq->data_first = k;
        for (uint32_t i = 0; i < nd; i++, k++)
            rq->seg[k].len = (uint32_t)(i + 1 < nd ? seg : data - (uint64_t)seg * (nd - 1));
    }
    rq->data_count = nd;
    if (append)
        rq->seg[k++].len = 8; /* append_sector */
    rq->status_seg = k;
    rq->seg[k++].len = 1;

    if ((rc = vs__drv_req_layout(d, rq, e)) < 0)
        goto fail;
    uint8_t hb[16] = {0};
    vs_le32_put(hb, r->type);
    vs_le64_put(hb + 8, r->sector);
    for (uint32_t i = 0; i < hsegs; i++)
        if ((rc = vs_gmem_write(d->gm, rq->seg[i].gpa, hb + i * (16 / hsegs), 16 / hsegs, e)) < 0)
            goto fail;
    if (dwz) {
        uint8_t pb[16] = {0};
        vs_le64_put(pb, r->sector);
        vs_le32_put(pb + 8, r->nsectors);
        vs_le32_put(pb + 12, ((r->type == VS_BLK_T_WRITE_ZEROES && (r->flags & VS_BLK_REQ_UNMAP))
                               ? VS_BLK_F_DWZ_UNMAP : 0u) | r->dwz_flags);
        if ((rc = vs_gmem_write(d->gm, rq->seg[dwz_seg].gpa, pb, 16, e)) < 0)
            goto fail;
    }
    if (!data_in && nd && (r->flags & VS_BLK_REQ_ANY_DATA) && r->type == VS_BLK_T_OUT) {
        rq->write_tag = VS_SHADOW_UNKNOWN; /* whatever the pool chunk held is written */
    } else if (!data_in && nd) {
        /* OUT: the pattern for a fresh tag; raw readable data: the pattern for tag 1. */
        /* Scenario-chosen patterns live in their own tag space, above the counter's. */
        uint64_t tag = r->type != VS_BLK_T_OUT && !append ? 1
                       : r->pattern ? (UINT64_C(1) << 62) | r->pattern
                                    : d->next_tag++;
        rq->write_tag = r->type == VS_BLK_T_OUT ? tag : 0;
        /* The whole payload once, sector by sector, then scattered over the segments. */
        uint64_t total = 0;
        for (uint32_t i = 0; i < nd; i++)
            total += rq->seg[rq->data_first + i].len;
        uint64_t nsec = (total + VS_BLK_SECTOR - 1) / VS_BLK_SECTOR;
        uint8_t *payload = malloc(nsec * VS_BLK_SECTOR);
        if (!payload) {
            rc = vs_err_set(e, VS_ENOMEM, "blk: out of memory");
            goto fail;
        }
        for (uint64_t s = 0; s < nsec; s++)
            pattern_sector(d->o.seed, tag, r->sector + s, payload + s * VS_BLK_SECTOR);
        uint64_t pos = 0;
        for (uint32_t i = 0; i < nd && rc >= 0; i++) {
            const vs_seg *sg = &rq->seg[rq->data_first + i];
            rc = vs_gmem_write(d->gm, sg->gpa, payload + pos, sg->len, e);
            pos += sg->len;
        }
        free(payload);
        if (rc < 0)
            goto fail;
    }
    if (r->type == VS_BLK_T_IN && !(r->flags & VS_BLK_REQ_NO_VERIFY) && r->nsectors &&
        r->nsectors <= SHADOW_RANGE_MAX) {
        rq->snap = malloc((size_t)r->nsectors * sizeof *rq->snap);
        if (!rq->snap) {
            rc = vs_err_set(e, VS_ENOMEM, "blk: out of memory");
            goto fail;
        }
        for (uint32_t i = 0; i < r->nsectors; i++) {
            uint64_t s = r->sector + i;
            rq->snap[i] = busy_of(d, s) ? SNAP_SKIP : vs_blk_shadow_get(d, s);
        }
    }
    range_busy(d, rq, +1, false, 0);
    rc = vs__drv_req_commit(d, rq, indirect, (r->flags & VS_BLK_REQ_DEFER) != 0, e);
    if (rc < 0) {
        if (rq->added)
            return rc; /* live: completes (or is aborted) like any other */
        range_busy(d, rq, -1, false, 0);
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
    size_t n = d->res_n;
    for (size_t i = n; i-- > 0;) {
        vs_blk_result *x = &d->res[(d->res_head + i) % d->res_cap];
        if (x->queue == r->queue && x->id == (uint32_t)id && !x->fault) {
            if (res)
                *res = *x;
            /* remove entry i, keeping order */
            for (size_t j = i; j + 1 < n; j++)
                d->res[(d->res_head + j) % d->res_cap] =
                    d->res[(d->res_head + j + 1) % d->res_cap];
            d->res_n--;
            return 0;
        }
    }
    return vs_err_set(e, VS_EPROTO, "blk: request (queue %u id %d) completed without a result",
                      r->queue, id);
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

static void verify_in(vs_driver *d, vs_drv_req *rq, vs_blk_result *res)
{
    uint64_t bytes = (uint64_t)rq->r.nsectors * VS_BLK_SECTOR;
    uint8_t *buf = malloc(bytes ? bytes : 1);
    if (!buf) {
        res->data_ok = false;
        fail_msg(res, "verify: out of memory");
        return;
    }
    uint64_t pos = 0;
    vs_err ge;
    vs_err_clear(&ge);
    for (uint32_t i = 0; i < rq->data_count; i++) {
        const vs_seg *sg = &rq->seg[rq->data_first + i];
        if (vs_gmem_read(d->gm, sg->gpa, buf + pos, sg->len, &ge) < 0) {
            res->data_ok = false;
            fail_msg(res, "verify: %s", ge.msg);
            free(buf);
            return;
        }
        pos += sg->len;
    }
    uint8_t exp[VS_BLK_SECTOR];
    for (uint32_t i = 0; i < rq->r.nsectors; i++) {
        uint64_t s = rq->r.sector + i;
        uint64_t want = rq->snap[i];
        /* Changed (or being changed) since submission: either version is legal. */
        if (want == SNAP_SKIP || busy_of(d, s) || vs_blk_shadow_get(d, s) != want ||
            want == VS_SHADOW_UNKNOWN) {
            res->sectors_skipped++;
            continue;
        }
        if (want == VS_SHADOW_ZERO)
            memset(exp, 0, sizeof exp);
        else
            pattern_sector(d->o.seed, want, s, exp);
        const uint8_t *got = buf + (uint64_t)i * VS_BLK_SECTOR;
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

void vs__blk_complete(vs_driver *d, vs_drv_req *rq, uint32_t used_len, bool len_valid,
                      vs_blk_result *res)
{
    res->type = rq->r.type;
    res->sector = rq->r.sector;
    res->nsectors = rq->r.nsectors;
    res->user = rq->r.user;
    res->expect_status = rq->expect_status;
    res->expect_len = rq->expect_len;
    res->data_ok = true;
    uint8_t st = 0xff;
    vs_err ge;
    vs_err_clear(&ge);
    if (vs_gmem_ld8(d->gm, rq->seg[rq->status_seg].gpa, &st, &ge) < 0)
        fail_msg(res, "status byte unreadable: %s", ge.msg);
    res->status = st;
    res->status_ok = st == rq->expect_status;
    if (!res->status_ok)
        fail_msg(res, "status %u, expected %u%s", st, rq->expect_status,
                 st == VS_DRV_POISON ? " (status byte never written)" : "");
    /* A failed request may write less than everything; it must write the status. A
     * packed used descriptor without VIRTQ_DESC_F_WRITE has no length to judge. */
    if (!len_valid)
        res->len_ok = true;
    else if (st == VS_BLK_S_OK || !res->status_ok)
        res->len_ok = used_len == rq->expect_len;
    else
        res->len_ok = used_len >= 1 && used_len <= rq->expect_len;
    if (!res->len_ok)
        fail_msg(res, "used length %u, expected %u", used_len, rq->expect_len);
    if (rq->r.type == VS_BLK_T_GET_ID && st == VS_BLK_S_OK) {
        vs_gmem_read(d->gm, rq->seg[rq->data_first].gpa, res->id_str, VS_BLK_ID_BYTES, NULL);
        res->id_str[VS_BLK_ID_BYTES] = 0;
    }
    if (rq->r.type == VS_BLK_T_IN && st == VS_BLK_S_OK && rq->snap)
        verify_in(d, rq, res);
    if (rq->r.type == VS_BLK_T_ZONE_APPEND && st == VS_BLK_S_OK) {
        uint8_t b[8] = {0};
        vs_gmem_read(d->gm, rq->seg[rq->status_seg - 1].gpa, b, 8, NULL);
        res->append_sector = vs_le64_get(b);
        shadow_forget(d, res->append_sector, rq->r.nsectors);
    }
    if (rq->r.type == VS_BLK_T_ZONE_REPORT && st == VS_BLK_S_OK && rq->data_count) {
        uint8_t b[VS_BLK_ZONE_DESC];
        const vs_seg *sg = &rq->seg[rq->data_first];
        if (sg->len >= VS_BLK_ZONE_REPORT_HDR &&
            vs_gmem_read(d->gm, sg->gpa, b, 8, NULL) == 0) {
            res->nr_zones = vs_le64_get(b);
            for (uint32_t z = 0; z < VS_BLK_RESULT_ZONES && z < res->nr_zones; z++) {
                uint64_t off = VS_BLK_ZONE_REPORT_HDR + (uint64_t)z * VS_BLK_ZONE_DESC;
                if (off + VS_BLK_ZONE_DESC > sg->len ||
                    vs_gmem_read(d->gm, sg->gpa + off, b, VS_BLK_ZONE_DESC, NULL) < 0)
                    break;
                res->zone_state[z] = b[25];
                res->zone_wp[z] = vs_le64_get(b + 16);
            }
        }
    }
    if (st == VS_BLK_S_OK && d->zone_sectors &&
        (rq->r.type == VS_BLK_T_ZONE_RESET || rq->r.type == VS_BLK_T_ZONE_FINISH))
        shadow_forget(d, rq->r.sector, d->zone_sectors);
    if (st == VS_BLK_S_OK && rq->r.type == VS_BLK_T_ZONE_RESET_ALL)
        shadow_forget(d, 0, UINT64_MAX);
    /* Shadow: what the disk holds now. */
    if (tracks_range(rq)) {
        uint64_t tag = VS_SHADOW_UNKNOWN;
        if (st == VS_BLK_S_OK && rq->r.type == VS_BLK_T_OUT)
            tag = rq->write_tag;
        else if (st == VS_BLK_S_OK && rq->r.type == VS_BLK_T_WRITE_ZEROES)
            tag = VS_SHADOW_ZERO;
        /* a rejected write that changed nothing (IOERR/UNSUPP) leaves sectors unknown:
         * the driver cannot tell how much of it happened */
        range_busy(d, rq, -1, true, tag);
    }
    res->ok = res->status_ok && res->len_ok && res->data_ok;
}

/* ------------------------------------------------------------------ workload */

static const char *const rw_names[] = {"read", "write", "randread", "randwrite", "rw",
                                       "randrw"};

const char *vs_rw_kind_name(vs_rw_kind k)
{
    return (unsigned)k < 6 ? rw_names[k] : "unknown";
}

int vs_rw_kind_parse(const char *s, vs_rw_kind *out, vs_err *e)
{
    for (unsigned i = 0; i < 6; i++)
        if (s && !strcmp(s, rw_names[i])) {
            *out = (vs_rw_kind)i;
            return 0;
        }
    if (s && !strcmp(s, "readwrite")) {
        *out = VS_RW_RW;
        return 0;
    }
    return vs_err_set(e, VS_EINVAL,
                      "unknown rw '%s' (read, write, randread, randwrite, rw, randrw)",
                      s ? s : "(null)");
}

/* The k-th smallest of v[0..n) (k < n), reordering v: quickselect, median-of-three pivot,
 * three-way partition. Same value as sorting and taking v[k], in O(n). */
static uint64_t select_kth(uint64_t *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n; /* the answer's rank lies in [lo, hi) */
    while (hi - lo > 1) {
        uint64_t a = v[lo], b = v[lo + (hi - lo) / 2], c = v[hi - 1];
        uint64_t p = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        /* [lo, lt) < p, [lt, i) == p, (gt, hi) > p */
        size_t lt = lo, i = lo, gt = hi;
        while (i < gt) {
            uint64_t x = v[i];
            if (x < p) {
                v[i++] = v[lt];
                v[lt++] = x;
            } else if (x > p) {
                v[i] = v[--gt];
                v[gt] = x;
            } else {
                i++;
            }
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return p;
    }
    return v[lo];
}

#define WL_MARK UINT64_C(0x776c000000000000)  /* "wl" in the user field */

int vs_blk_workload_run(vs_driver *d, const vs_blk_workload *w, vs_blk_workload_stats *st,
                        vs_err *e)
{
    if (!w || !st)
        return vs_err_set(e, VS_EINVAL, "workload: NULL argument");
    memset(st, 0, sizeof *st);
    if (!d->nq)
        return vs_err_set(e, VS_ESTATE, "workload: driver not initialised");
    if (vs_driver_outstanding(d, -1))
        return vs_err_set(e, VS_ESTATE, "workload: %u requests already outstanding",
                          vs_driver_outstanding(d, -1));
    if ((unsigned)w->rw > VS_RW_RANDRW)
        return vs_err_set(e, VS_EINVAL, "workload: unknown rw %d", (int)w->rw);
    uint32_t bs = w->bs ? w->bs : 4096;
    if (bs % VS_BLK_SECTOR)
        return vs_err_set(e, VS_EINVAL, "workload: bs %u is not a multiple of 512", bs);
    if (w->offset % VS_BLK_SECTOR)
        return vs_err_set(e, VS_EINVAL, "workload: offset %llu is not a multiple of 512",
                          (unsigned long long)w->offset);
    uint64_t cap_bytes = d->capacity * VS_BLK_SECTOR;
    if (w->offset >= cap_bytes)
        return vs_err_set(e, VS_EINVAL, "workload: offset %llu beyond capacity %llu bytes",
                          (unsigned long long)w->offset, (unsigned long long)cap_bytes);
    uint64_t size = w->size ? w->size : cap_bytes - w->offset;
    if (size > cap_bytes - w->offset)
        return vs_err_set(e, VS_EINVAL, "workload: offset+size beyond capacity %llu bytes",
                          (unsigned long long)cap_bytes);
    uint64_t nblocks = size / bs;
    if (!nblocks)
        return vs_err_set(e, VS_EINVAL, "workload: region of %llu bytes holds no %u-byte block",
                          (unsigned long long)size, bs);
    uint64_t nr = w->nr_ops ? w->nr_ops : nblocks;
    uint16_t nq = w->queues ? w->queues : d->nq;
    if (nq > d->nq)
        return vs_err_set(e, VS_EINVAL, "workload: %u queues requested, %u set up", nq, d->nq);
    uint32_t depth = w->iodepth ? w->iodepth : 1;
    uint32_t mix = w->rwmixread ? w->rwmixread : 50;
    if (mix > 100)
        return vs_err_set(e, VS_EINVAL, "workload: rwmixread %u > 100", mix);
    uint64_t rng = w->seed ? w->seed : d->o.seed;
    rng ^= UINT64_C(0x5eed0f10);
    /* Unverified writes: give the region up once instead of per sector and request. */
    uint32_t untracked = 0;
    if (!w->verify && w->rw != VS_RW_READ && w->rw != VS_RW_RANDREAD) {
        int frc = vs_blk_shadow_forget(d, w->offset / VS_BLK_SECTOR,
                                       nblocks * (bs / VS_BLK_SECTOR), e);
        if (frc < 0)
            return frc;
        untracked = VS_BLK_REQ_UNTRACKED;
    }
    uint64_t *lat = malloc((size_t)(nr ? nr : 1) * sizeof *lat);
    /* Results queued before the workload are put back afterwards. */
    size_t nold = d->res_n;
    vs_blk_result *old = nold ? malloc(nold * sizeof *old) : NULL;
    if (!lat || (nold && !old)) {
        free(lat);
        free(old);
        return vs_err_set(e, VS_ENOMEM, "workload: out of memory");
    }
    for (size_t i = 0; i < nold; i++)
        vs_blk_take_result(d, &old[i]);

    vs_drv_waiter wt = {.start = vs_driver_now(d),
                        .timeout_ns = w->timeout_ns ? w->timeout_ns : d->o.timeout_ns};
    uint64_t issued = 0, seq = 0, done = 0;
    uint16_t rr = 0;
    int rc = 0;
    while (done < nr) {
        /* fill up to iodepth */
        bool submitted = false;
        while (issued < nr && vs_driver_outstanding(d, -1) < depth) {
            bool rd;
            switch (w->rw) {
            case VS_RW_READ: case VS_RW_RANDREAD: rd = true; break;
            case VS_RW_WRITE: case VS_RW_RANDWRITE: rd = false; break;
            default: rd = vs__splitmix64(&rng) % 100 < mix; break;
            }
            bool rnd = w->rw == VS_RW_RANDREAD || w->rw == VS_RW_RANDWRITE ||
                       w->rw == VS_RW_RANDRW;
            uint64_t blk = rnd ? vs__splitmix64(&rng) % nblocks : seq++ % nblocks;
            vs_blk_req r = {.type = rd ? VS_BLK_T_IN : VS_BLK_T_OUT,
                            .sector = (w->offset + blk * bs) / VS_BLK_SECTOR,
                            .nsectors = bs / VS_BLK_SECTOR,
                            .queue = rr,
                            .flags = VS_BLK_REQ_DEFER | (rd ? 0 : untracked) |
                                     (w->verify ? 0 : VS_BLK_REQ_NO_VERIFY | VS_BLK_REQ_ANY_DATA),
                            .user = WL_MARK | issued};
            vs_err se;
            vs_err_clear(&se);
            int id = vs_blk_submit(d, &r, &se);
            if (id == -VS_ENOSPC) {
                if (!rnd)
                    seq--;   /* a random draw is simply dropped (still deterministic) */
                break;
            }
            if (id < 0) {
                rc = id;
                if (e)
                    *e = se;
                goto out;
            }
            submitted = true;
            issued++;
            rr = (uint16_t)((rr + 1) % nq);
        }
        if (submitted && (rc = vs_driver_flush(d, -1, e)) < 0)
            goto out;
        if (vs_driver_outstanding(d, -1)) {
            if ((rc = vs__drv_wait_some(d, &wt, e)) < 0)
                goto out;
        } else if (issued < nr && !submitted) {
            rc = vs_err_set(e, VS_ENOSPC, "workload: cannot submit (ring or pool too small "
                            "for bs %u)", bs);
            goto out;
        }
        const vs_blk_result *res;
        for (; (res = vs__blk_peek_result(d)); vs_blk_take_result(d, NULL)) {
            if ((res->user & UINT64_C(0xffff000000000000)) != WL_MARK || res->fault)
                continue;
            lat[done++] = res->latency_ns;
            st->ops++;
            if (res->type == VS_BLK_T_IN) {
                st->reads++;
                st->bytes_read += (uint64_t)res->nsectors * VS_BLK_SECTOR;
            } else {
                st->writes++;
                st->bytes_written += (uint64_t)res->nsectors * VS_BLK_SECTOR;
            }
            bool verr = !res->data_ok;
            if (verr)
                st->verify_failures++;
            if (!res->status_ok || !res->len_ok || !res->guard_ok)
                st->errors++;
            if (!res->ok && !st->first_error[0])
                snprintf(st->first_error, sizeof st->first_error, "%s %llu+%u q%u: %.150s",
                         res->type == VS_BLK_T_IN ? "read" : "write",
                         (unsigned long long)res->sector, res->nsectors, res->queue, res->msg);
        }
    }
out:
    st->elapsed_ns = vs_driver_now(d) - wt.start;
    if (done) {
        uint64_t sum = 0, lo = lat[0], hi = lat[0];
        for (uint64_t i = 0; i < done; i++) {
            sum += lat[i];
            lo = lat[i] < lo ? lat[i] : lo;
            hi = lat[i] > hi ? lat[i] : hi;
        }
        st->lat_min_ns = lo;
        st->lat_max_ns = hi;
        st->lat_median_ns = select_kth(lat, done, done / 2);
        st->lat_mean_ns = sum / done;
    }
    free(lat);
    /* restore older results in front */
    if (nold) {
        size_t nnew = d->res_n;
        vs_blk_result *tmp = nnew ? malloc(nnew * sizeof *tmp) : NULL;
        for (size_t i = 0; tmp && i < nnew; i++)
            vs_blk_take_result(d, &tmp[i]);
        for (size_t i = 0; i < nold; i++)
            vs__drv_push_result(d, &old[i], false);
        for (size_t i = 0; tmp && i < nnew; i++)
            vs__drv_push_result(d, &tmp[i], false);
        free(tmp);
        free(old);
    }
    return rc < 0 ? rc : 0;
}
