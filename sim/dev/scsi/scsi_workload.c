/* virtio-scsi driver: the fio-style workload (rw, bs, iodepth, rwmixread, number_ios,
 * verify) as READ/WRITE (10) or (16) commands over one LUN or every LUN the scan found,
 * spread over the request queues, never more than cmd_per_lun in flight per LUN. The
 * latencies go to the core's workload histogram (sim/wl_hist.h). */
#include "sim/dev/scsi/scsi_drv_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/wl_hist.h"

#define WL_MARK UINT64_C(0x5753000000000000)  /* "WS" in the user field */

typedef struct wl_plan {
    uint32_t bs, depth, mix;
    uint64_t nr, rng;
    uint16_t nq;
    int luns[SCSI_MAX_LUNS];
    uint64_t nblocks[SCSI_MAX_LUNS];   /* bs-sized blocks of the region, per LUN */
    uint64_t first[SCSI_MAX_LUNS];     /* the region's first LBA */
    uint32_t per[SCSI_MAX_LUNS];       /* LUN blocks per bs (divided once, not per command) */
    unsigned nl;
    scsi_cmd cmd;   /* zeroed once; wl_submit sets what changes per command (zeroing the
                       whole command with its 256-byte CDB array each time is measurable) */
    unsigned cmd_li;                   /* the plan's LUN cmd.lun addresses (nl: none yet) */
} wl_plan;

static int wl_prepare(vs_driver *d, const scsi_workload *w, wl_plan *p, vs_err *e)
{
    scsi_drv *s = scsi_drv_of(d);
    if (scsi_busy(d))
        return vs_err_set(e, VS_ESTATE, "workload: commands already outstanding");
    *p = (wl_plan){.bs = w->bs ? w->bs : 4096, .depth = w->iodepth ? w->iodepth : 1,
                   .mix = w->rwmixread ? w->rwmixread : 50,
                   .rng = d->o.seed ^ UINT64_C(0x5eed5c51)};
    uint16_t rqs = (uint16_t)(d->nq - VS_SCSI_Q_REQ0);
    p->nq = w->queues ? w->queues : rqs;
    if (p->nq > rqs || !p->nq)
        return vs_err_set(e, VS_EINVAL, "workload: %u request queues asked for, %u set up",
                          p->nq, rqs);
    for (unsigned i = 0; i < s->nlun; i++) {
        const scsi_lun *l = &s->lun[i];
        if (!l->present || l->type != 0 || !l->block_len || (!w->all_luns && (int)i != w->lun_ix))
            continue;
        if (p->bs % l->block_len)
            return vs_err_set(e, VS_EINVAL, "workload: bs %u is not a multiple of LUN %u:%u's "
                              "block length %u", p->bs, l->target, l->lun, l->block_len);
        uint64_t bytes = l->blocks * l->block_len;
        if (w->offset >= bytes || w->offset % l->block_len)
            return vs_err_set(e, VS_EINVAL, "workload: offset %llu is not a block of LUN %u:%u",
                              (unsigned long long)w->offset, l->target, l->lun);
        uint64_t size = w->size ? w->size : bytes - w->offset;
        if (size > bytes - w->offset || size / p->bs == 0)
            return vs_err_set(e, VS_EINVAL, "workload: region does not fit LUN %u:%u",
                              l->target, l->lun);
        p->luns[p->nl] = (int)i;
        p->nblocks[p->nl] = size / p->bs;
        p->first[p->nl] = w->offset / l->block_len;
        p->per[p->nl] = p->bs / l->block_len;
        p->nl++;
    }
    if (!p->nl)
        return vs_err_set(e, VS_ESTATE, "workload: no disk LUN (scan first)");
    p->cmd_li = p->nl;
    p->nr = w->nr_ops;
    /* Unverified writes: the regions are given up once instead of per block and command. */
    if (!w->verify && w->rw != VS_RW_READ && w->rw != VS_RW_RANDREAD)
        for (unsigned i = 0; i < p->nl; i++)
            scsi_shadow_set(&s->lun[p->luns[i]], p->first[i],
                            p->nblocks[i] * (p->bs / s->lun[p->luns[i]].block_len),
                            SCSI_TAG_UNKNOWN);
    return 0;
}

typedef struct wl_run {
    uint64_t issued, done, seq;
    uint16_t rr;
} wl_run;

/* One READ or WRITE of bs bytes at block blk of the plan's LUN li. */
static int wl_submit(vs_driver *d, const scsi_workload *w, wl_plan *p, wl_run *r, unsigned li,
                     uint64_t blk, bool rd, vs_err *e)
{
    scsi_drv *s = scsi_drv_of(d);
    int ix = p->luns[li];
    const scsi_lun *l = &s->lun[ix];
    uint32_t per = p->per[li];
    vs_scsi_rw rw = {.opcode = w->cdb16 ? (rd ? VS_SCSI_READ_16 : VS_SCSI_WRITE_16)
                                        : (rd ? VS_SCSI_READ_10 : VS_SCSI_WRITE_10),
                     .write = !rd, .data = true, .lba = blk * per, .nblocks = per};
    scsi_cmd *c = &p->cmd;   /* only cdb[0, cdb_len) is read: no stale byte after it */
    c->rq = r->rr;
    c->flags = SC_DEFER | (w->verify ? 0 : SC_NO_VERIFY | SC_ANY_DATA | SC_UNTRACKED);
    c->user = WL_MARK | r->issued;
    int n = vs_scsi_cdb_rw_build(c->cdb, &rw);
    if (n < 0)
        return vs_err_set(e, VS_EINVAL, "workload: LBA %llu does not fit a 10-byte CDB (cdb16)",
                          (unsigned long long)rw.lba);
    c->cdb_len = (uint32_t)n;
    c->in_len = rd ? p->bs : 0;
    c->out_len = rd ? 0 : p->bs;
    if (p->cmd_li != li) {   /* encoded when the LUN changes */
        p->cmd_li = li;
        c->lun_ix = vs_scsi_lun_encode(c->lun, l->target, l->lun) == 0 ? ix : -1;
        if (c->lun_ix < 0)
            memset(c->lun, 0, sizeof c->lun);
    }
    if (c->lun_ix >= 0)
        c->flags |= SC_LUN_IX;
    return scsi_cmd_submit(d, c, e);
}

/* Submits until iodepth commands are in flight, everything is issued, or a LUN or ring is
 * full (-VS_ENOSPC stops the fill: the next completion makes room). */
static int wl_fill(vs_driver *d, const scsi_workload *w, wl_plan *p, wl_run *r, bool *any,
                   vs_err *e)
{
    *any = false;
    bool rnd = w->rw == VS_RW_RANDREAD || w->rw == VS_RW_RANDWRITE || w->rw == VS_RW_RANDRW;
    while (r->issued < p->nr && r->issued - r->done < p->depth) {
        bool rd;
        switch (w->rw) {
        case VS_RW_READ: case VS_RW_RANDREAD: rd = true; break;
        case VS_RW_WRITE: case VS_RW_RANDWRITE: rd = false; break;
        default: rd = vs__splitmix64(&p->rng) % 100 < p->mix; break;
        }
        unsigned li = p->nl > 1 ? (unsigned)(vs__splitmix64(&p->rng) % p->nl) : 0;
        uint64_t blk = rnd ? vs__splitmix64(&p->rng) % p->nblocks[li]
                           : r->seq % p->nblocks[li];
        vs_err se;
        vs_err_clear(&se);
        int rc = wl_submit(d, w, p, r, li, blk + p->first[li] / p->per[li], rd, &se);
        if (rc == -VS_ENOSPC)
            break;
        if (rc < 0) {
            *e = se;
            return rc;
        }
        if (!rnd)
            r->seq++;
        *any = true;
        r->issued++;
        if (++r->rr == p->nq)   /* round robin over the request queues */
            r->rr = 0;
    }
    return 0;
}

static void wl_collect(vs_driver *d, wl_run *r, vs_wl_hist *lat, scsi_workload_stats *st)
{
    for (size_t i = 0; i < d->res_n;) {
        const scsi_result *res = vs__drv_result_at(d, i);
        if (res->kind != SK_CMD || (res->user & UINT64_C(0xffff000000000000)) != WL_MARK) {
            i++;   /* events and earlier results stay for the steps */
            continue;
        }
        vs_wl_hist_add(lat, res->latency_ns);
        r->done++;
        st->ops++;
        bool rd = res->opcode == VS_SCSI_READ_10 || res->opcode == VS_SCSI_READ_16;
        if (rd)
            st->reads++;
        else
            st->writes++;
        if (!res->data_ok)
            st->verify_failures++;
        bool good = res->resp_ok && res->response == VS_SCSI_S_OK &&
                    res->status == VS_SCSI_ST_GOOD && !res->residual;
        if (!good || !res->guard_ok)
            st->errors++;
        if ((!good || !res->ok) && !st->first_error[0])
            snprintf(st->first_error, sizeof st->first_error,
                     "%s q%u: response %u status 0x%02x residual %u sense %x/%02x/%02x %.100s",
                     rd ? "read" : "write", res->queue, res->response, res->status,
                     res->residual, res->sense_key, res->asc, res->ascq, res->msg);
        if (i == 0)
            vs_driver_take_result(d, NULL);   /* the usual case: O(1) */
        else
            vs__drv_result_remove(d, i);
    }
}

static uint32_t max_in_flight(const scsi_drv *s, const wl_plan *p)
{
    uint32_t m = 0;
    for (unsigned i = 0; i < p->nl; i++)
        if (s->lun[p->luns[i]].outstanding > m)
            m = s->lun[p->luns[i]].outstanding;
    return m;
}

int scsi_workload_run(vs_driver *d, const scsi_workload *w, scsi_workload_stats *st,
                      vs_err *e)
{
    memset(st, 0, sizeof *st);
    wl_plan p;
    int rc = wl_prepare(d, w, &p, e);
    if (rc < 0)
        return rc;
    vs_wl_hist *lat = vs_wl_hist_new(p.nr);
    if (!lat)
        return vs_err_set(e, VS_ENOMEM, "workload: out of memory");
    scsi_drv *s = scsi_drv_of(d);
    uint64_t t0 = vs_driver_now(d);
    vs_drv_waiter wt = {.start = t0, .timeout_ns = w->timeout_ns ? w->timeout_ns : d->o.timeout_ns,
                        .progress = true};
    wl_run r = {0};
    while (r.done < p.nr) {
        bool submitted;
        if ((rc = wl_fill(d, w, &p, &r, &submitted, e)) < 0)
            break;
        uint32_t m = max_in_flight(s, &p);
        if (m > st->max_per_lun)
            st->max_per_lun = m;
        if (submitted && (rc = vs_driver_flush(d, -1, e)) < 0)
            break;
        if (r.issued > r.done) {
            if ((rc = vs__drv_wait_some(d, &wt, e)) < 0)
                break;
        } else if (!submitted) {
            rc = vs_err_set(e, VS_ENOSPC, "workload: cannot submit (ring or pool too small "
                            "for bs %u)", p.bs);
            break;
        }
        uint64_t before = r.done;
        wl_collect(d, &r, lat, st);
        if (r.done != before)
            wt.start = vs_driver_now(d);
        if ((rc = scsi_refill(d, e)) < 0)
            break;
    }
    st->elapsed_ns = vs_driver_now(d) - t0;
    vs_wl_hist_summary(lat, &st->lat_min_ns, &st->lat_median_ns, &st->lat_max_ns,
                       &st->lat_mean_ns);
    free(lat);
    return rc < 0 ? rc : 0;
}
