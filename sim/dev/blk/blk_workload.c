/* virtio-blk driver: the fio-style workload (vs_blk_workload_run). */
#include "sim/dev/blk/blk_drv_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/wl_hist.h"

#define WL_MARK UINT64_C(0x776c000000000000)  /* "wl" in the user field */

/* A workload's parameters, checked and with the defaults filled in. */
typedef struct wl_plan {
    uint32_t bs, depth, mix, untracked;
    uint64_t nblocks, nr;
    uint16_t nq;
    uint64_t rng;
} wl_plan;

static int wl_prepare(vs_driver *d, const vs_blk_workload *w, wl_plan *p, vs_err *e)
{
    if (!d->nq)
        return vs_err_set(e, VS_ESTATE, "workload: driver not initialised");
    if (vs_driver_outstanding(d, -1))
        return vs_err_set(e, VS_ESTATE, "workload: %u requests already outstanding",
                          vs_driver_outstanding(d, -1));
    if (d->pers != &vs_blk_drv_personality)
        return vs_err_set(e, VS_ENOTSUP, "workload: device id %u is not virtio-blk",
                          d->t->device_id);
    if ((unsigned)w->rw > VS_RW_RANDRW)
        return vs_err_set(e, VS_EINVAL, "workload: unknown rw %d", (int)w->rw);
    uint32_t bs = w->bs ? w->bs : 4096;
    if (bs % VS_BLK_SECTOR)
        return vs_err_set(e, VS_EINVAL, "workload: bs %u is not a multiple of 512", bs);
    if (w->offset % VS_BLK_SECTOR)
        return vs_err_set(e, VS_EINVAL, "workload: offset %llu is not a multiple of 512",
                          (unsigned long long)w->offset);
    uint64_t cap_bytes = blk_drv(d)->capacity * VS_BLK_SECTOR;
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
    uint16_t nq = w->queues ? w->queues : d->nq;
    if (nq > d->nq)
        return vs_err_set(e, VS_EINVAL, "workload: %u queues requested, %u set up", nq, d->nq);
    uint32_t mix = w->rwmixread ? w->rwmixread : 50;
    if (mix > 100)
        return vs_err_set(e, VS_EINVAL, "workload: rwmixread %u > 100", mix);
    *p = (wl_plan){.bs = bs, .depth = w->iodepth ? w->iodepth : 1, .mix = mix,
                   .nblocks = nblocks, .nr = w->nr_ops ? w->nr_ops : nblocks, .nq = nq,
                   .rng = (w->seed ? w->seed : d->o.seed) ^ UINT64_C(0x5eed0f10)};
    /* Unverified writes: give the region up once instead of per sector and request. */
    if (!w->verify && w->rw != VS_RW_READ && w->rw != VS_RW_RANDREAD) {
        int frc = vs_blk_shadow_forget(d, w->offset / VS_BLK_SECTOR,
                                       nblocks * (bs / VS_BLK_SECTOR), e);
        if (frc < 0)
            return frc;
        p->untracked = VS_BLK_REQ_UNTRACKED;
    }
    return 0;
}

/* The run's progress: requests issued, the next sequential block, the next queue. */
typedef struct wl_run {
    uint64_t issued, seq, done;
    uint16_t rr;
} wl_run;

/* Submits (deferred) until iodepth requests are outstanding or all are issued; *any:
 * something was submitted. -VS_ENOSPC from a full ring or pool just stops the fill. */
static int wl_fill(vs_driver *d, const vs_blk_workload *w, wl_plan *p, wl_run *r,
                   bool *any, vs_err *e)
{
    *any = false;
    while (r->issued < p->nr && vs_driver_outstanding(d, -1) < p->depth) {
        bool rd;
        switch (w->rw) {
        case VS_RW_READ: case VS_RW_RANDREAD: rd = true; break;
        case VS_RW_WRITE: case VS_RW_RANDWRITE: rd = false; break;
        default: rd = vs__splitmix64(&p->rng) % 100 < p->mix; break;
        }
        bool rnd = w->rw == VS_RW_RANDREAD || w->rw == VS_RW_RANDWRITE ||
                   w->rw == VS_RW_RANDRW;
        uint64_t blk = rnd ? vs__splitmix64(&p->rng) % p->nblocks : r->seq++ % p->nblocks;
        vs_blk_req q = {.type = rd ? VS_BLK_T_IN : VS_BLK_T_OUT,
                        .sector = (w->offset + blk * p->bs) / VS_BLK_SECTOR,
                        .nsectors = p->bs / VS_BLK_SECTOR,
                        .queue = r->rr,
                        .flags = VS_BLK_REQ_DEFER | (rd ? 0 : p->untracked) |
                                 (w->verify ? 0 : VS_BLK_REQ_NO_VERIFY | VS_BLK_REQ_ANY_DATA),
                        .user = WL_MARK | r->issued};
        vs_err se;
        vs_err_clear(&se);
        int id = vs_blk_submit(d, &q, &se);
        if (id == -VS_ENOSPC) {
            if (!rnd)
                r->seq--;   /* a random draw is simply dropped (still deterministic) */
            break;
        }
        if (id < 0) {
            if (e)
                *e = se;
            return id;
        }
        *any = true;
        r->issued++;
        r->rr = (uint16_t)((r->rr + 1) % p->nq);
    }
    return 0;
}

/* Takes the completed results: the workload's are counted, others dropped. */
static void wl_collect(vs_driver *d, wl_run *r, vs_wl_hist *lat, vs_blk_workload_stats *st)
{
    for (; d->res_n; vs_driver_take_result(d, NULL)) {
        const vs_blk_result *res = vs__drv_result_at(d, 0);
        if ((res->user & UINT64_C(0xffff000000000000)) != WL_MARK || res->fault)
            continue;
        vs_wl_hist_add(lat, res->latency_ns);
        r->done++;
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

static void wl_latency(vs_blk_workload_stats *st, vs_wl_hist *h)
{
    vs_wl_hist_summary(h, &st->lat_min_ns, &st->lat_median_ns, &st->lat_max_ns,
                       &st->lat_mean_ns);
}

/* Puts the results queued before the workload back in front of the newer ones. */
static void wl_restore(vs_driver *d, vs_blk_result *old, size_t nold)
{
    size_t nnew = d->res_n;
    vs_blk_result *tmp = nnew ? malloc(nnew * sizeof *tmp) : NULL;
    for (size_t i = 0; tmp && i < nnew; i++)
        vs_driver_take_result(d, &tmp[i]);
    for (size_t i = 0; i < nold; i++)
        vs__drv_result_push(d, &old[i], false);
    for (size_t i = 0; tmp && i < nnew; i++)
        vs__drv_result_push(d, &tmp[i], false);
    free(tmp);
}

int vs_blk_workload_run(vs_driver *d, const vs_blk_workload *w, vs_blk_workload_stats *st,
                        vs_err *e)
{
    if (!w || !st)
        return vs_err_set(e, VS_EINVAL, "workload: NULL argument");
    memset(st, 0, sizeof *st);
    wl_plan p;
    int rc = wl_prepare(d, w, &p, e);
    if (rc < 0)
        return rc;
    vs_wl_hist *lat = vs_wl_hist_new(p.nr);   /* bounded, whatever p.nr is */
    /* Results queued before the workload are put back afterwards. */
    size_t nold = d->res_n;
    vs_blk_result *old = nold ? malloc(nold * sizeof *old) : NULL;
    if (!lat || (nold && !old)) {
        free(lat);
        free(old);
        return vs_err_set(e, VS_ENOMEM, "workload: out of memory");
    }
    for (size_t i = 0; i < nold; i++)
        vs_driver_take_result(d, &old[i]);

    uint64_t t0 = vs_driver_now(d);
    vs_drv_waiter wt = {.start = t0,
                        .timeout_ns = w->timeout_ns ? w->timeout_ns : d->o.timeout_ns,
                        .progress = true};
    wl_run r = {0};
    while (r.done < p.nr) {
        bool submitted;
        if ((rc = wl_fill(d, w, &p, &r, &submitted, e)) < 0)
            break;
        if (submitted && (rc = vs_driver_flush(d, -1, e)) < 0)
            break;
        if (vs_driver_outstanding(d, -1)) {
            if ((rc = vs__drv_wait_some(d, &wt, e)) < 0)
                break;
        } else if (r.issued < p.nr && !submitted) {
            rc = vs_err_set(e, VS_ENOSPC, "workload: cannot submit (ring or pool too small "
                            "for bs %u)", p.bs);
            break;
        }
        uint64_t before = r.done;
        wl_collect(d, &r, lat, st);
        /* The timeout is on progress: a device that completes keeps the run alive. */
        if (r.done != before)
            wt.start = vs_driver_now(d);
    }
    st->elapsed_ns = vs_driver_now(d) - t0;
    wl_latency(st, lat);
    free(lat);
    if (nold)
        wl_restore(d, old, nold);
    free(old);
    return rc < 0 ? rc : 0;
}
