/* The driver model's fault chains (vs_driver_submit_fault): malformed chains built by
 * hand around the device's simplest well-formed request (its personality's fault_shape),
 * to see the device set DEVICE_NEEDS_RESET instead of processing them. */
#include "sim/driver_int.h"

#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ faults */

const char *vs_fault_name(enum vs_fault f)
{
    switch (f) {
    case VS_FAULT_LOOP: return "loop";
    case VS_FAULT_NEXT_OOR: return "next_out_of_range";
    case VS_FAULT_ADDR_OOR: return "addr_out_of_range";
    case VS_FAULT_NESTED_INDIRECT: return "nested_indirect";
    case VS_FAULT_WRITE_BEFORE_READ: return "write_before_read";
    case VS_FAULT_ZERO_LEN: return "zero_length";
    case VS_FAULT_LEN_OVERFLOW: return "length_overflow";
    }
    return "unknown";
}

int vs_fault_parse(const char *s, enum vs_fault *out, vs_err *e)
{
    for (int f = VS_FAULT_LOOP; f <= VS_FAULT_LAST; f++)
        if (s && !strcmp(s, vs_fault_name((enum vs_fault)f))) {
            *out = (enum vs_fault)f;
            return 0;
        }
    return vs_err_set(e, VS_EINVAL,
                      "unknown fault '%s' (loop, next_out_of_range, addr_out_of_range, "
                      "nested_indirect, write_before_read, zero_length, length_overflow)",
                      s ? s : "(null)");
}

/* A GPA no region covers (above the highest region end). */
uint64_t vs__drv_unmapped_gpa(vs_driver *d)
{
    uint64_t top = 0;
    for (size_t i = 0; i < vs_gmem_region_count(d->gm); i++) {
        const vs_gmem_region *r = vs_gmem_region_at(d->gm, i);
        if (r->gpa + r->size > top)
            top = r->gpa + r->size;
    }
    return (top + VS_GMEM_PAGE - 1) / VS_GMEM_PAGE * VS_GMEM_PAGE + (UINT64_C(1) << 30);
}

int vs__drv_write_table_desc(vs_driver *d, uint64_t gpa, const vs_desc *x, vs_err *e)
{
    int rc = vs_gmem_st64(d->gm, gpa, x->addr, e);
    if (rc == 0)
        rc = vs_gmem_st32(d->gm, gpa + 8, x->len, e);
    if (rc == 0) {
        if (d->o.ring == VS_RING_SPLIT) {
            rc = vs_gmem_st16(d->gm, gpa + 12, x->flags, e);
            if (rc == 0)
                rc = vs_gmem_st16(d->gm, gpa + 14, x->next, e);
        } else {
            rc = vs_gmem_st16(d->gm, gpa + 12, 0, e);  /* id: unused in a table */
            if (rc == 0)
                rc = vs_gmem_st16(d->gm, gpa + 14, x->flags, e);
        }
    }
    return rc;
}

int vs__drv_hostile_begin(vs_driver *d, uint16_t qi, uint32_t scratch_len, vs_drv_hostile *h,
                          vs_err *e)
{
    memset(h, 0, sizeof *h);
    if (!d->pers || !d->pers->fault_shape)
        return vs_err_set(e, VS_ENOTSUP, "driver: no fault chains for device id %u",
                          d->t->device_id);
    int rc = vs__drv_depth_check(d, qi, e);
    if (rc < 0)
        return rc;
    if ((rc = vs__drv_req_new(d, qi, 3, &h->rq, e)) < 0)
        return rc;
    d->pers->fault_shape(d, h->rq, &h->sh);
    vs_drv_req *rq = h->rq;
    rq->n_out = 2;
    rq->seg[0].len = h->sh.hdr_len;   /* header */
    rq->seg[1].len = scratch_len;     /* scratch: indirect tables, data (readable) */
    rq->seg[2].len = h->sh.status_len;
    if ((rc = vs__drv_req_layout(d, rq, e)) < 0 ||
        (rc = vs_gmem_write(d->gm, rq->seg[0].gpa, h->sh.hdr, h->sh.hdr_len, e)) < 0) {
        vs__drv_req_free(d, rq);
        h->rq = NULL;
        return rc;
    }
    h->hdr = rq->seg[0].gpa;
    h->scratch = rq->seg[1].gpa;
    h->status = rq->seg[2].gpa;
    h->hdr_len = h->sh.hdr_len;
    h->scratch_len = scratch_len;
    h->status_len = h->sh.status_len;
    h->unmapped = vs__drv_unmapped_gpa(d);
    return 0;
}

void vs__drv_hostile_cancel(vs_driver *d, vs_drv_hostile *h)
{
    if (h->rq)
        vs__drv_req_free(d, h->rq);
    h->rq = NULL;
}

int vs__drv_hostile_submit(vs_driver *d, vs_drv_hostile *h, vs_desc *ds, unsigned n, bool kick,
                           vs_err *e)
{
    vs_drv_req *rq = h->rq;
    uint16_t qi = rq->q;
    if (d->o.ring == VS_RING_PACKED) {
        /* packed: `next` is the buffer id; use one no live request of this queue holds */
        uint16_t qsize = (uint16_t)d->qsize, id = 0;
        for (bool clash = true; clash && id < qsize;) {
            clash = false;
            for (vs_drv_req *o = d->live; o; o = o->next)
                if (o->q == qi && o->id == id) {
                    clash = true;
                    id++;
                    break;
                }
        }
        for (unsigned i = 0; i < n; i++)
            ds[i].next = id;
    }
    free(rq->ro_copy);
    rq->ro_copy = NULL;
    int rc = vs__drv_add_raw(d, rq, ds, n, e);
    if (rc < 0) {
        vs__drv_hostile_cancel(d, h);
        return rc;
    }
    h->rq = NULL;   /* the device's now */
    int id = rc;
    if (kick && (rc = vs__drv_publish_kick(d, qi, e)) < 0)
        return rc;
    return id;
}

int vs_driver_submit_fault(vs_driver *d, uint16_t qi, enum vs_fault kind, vs_err *e)
{
    if (d->o.ring == VS_RING_PACKED && (kind == VS_FAULT_LOOP || kind == VS_FAULT_NEXT_OOR))
        return vs_err_set(e, VS_ENOTSUP, "driver: fault %s needs a split ring",
                          vs_fault_name(kind));
    if (kind < VS_FAULT_LOOP || kind > VS_FAULT_LAST)
        return vs_err_set(e, VS_EINVAL, "driver: unknown fault %d", (int)kind);
    /* The device's simplest well-formed request (header + status, and a readable area
     * for an indirect table), then the fault. */
    vs_drv_hostile h;
    int rc = vs__drv_hostile_begin(d, qi, 4 * 16, &h, e);
    if (rc < 0)
        return rc;
    uint32_t hlen = h.hdr_len, slen = h.status_len;
    uint64_t hdr = h.hdr, st = h.status, tbl = h.scratch;
    uint16_t qsize = (uint16_t)d->qsize;
    vs_desc ds[2];
    unsigned n = 2;
    memset(ds, 0, sizeof ds);
    ds[0] = (vs_desc){.addr = hdr, .len = hlen, .flags = VS_DESC_F_NEXT, .next = 1};
    ds[1] = (vs_desc){.addr = st, .len = slen, .flags = VS_DESC_F_WRITE, .next = 0};
    switch (kind) {
    case VS_FAULT_LOOP:
        ds[1].flags |= VS_DESC_F_NEXT;
        ds[1].next = 0;
        break;
    case VS_FAULT_NEXT_OOR:
        ds[0].next = qsize;  /* >= n: written verbatim */
        break;
    case VS_FAULT_ADDR_OOR:
        ds[0].addr = h.unmapped;
        break;
    case VS_FAULT_LEN_OVERFLOW:
        ds[0].addr = UINT64_MAX - 7;
        break;
    case VS_FAULT_ZERO_LEN:
        ds[0].len = 0;
        break;
    case VS_FAULT_WRITE_BEFORE_READ:
        ds[0] = (vs_desc){.addr = st, .len = slen, .flags = VS_DESC_F_WRITE | VS_DESC_F_NEXT,
                          .next = 1};
        ds[1] = (vs_desc){.addr = hdr, .len = hlen, .flags = 0};
        break;
    case VS_FAULT_NESTED_INDIRECT: {
        /* table: [0] header, [1] INDIRECT -> table again */
        vs_desc t0 = {.addr = hdr, .len = hlen, .flags = VS_DESC_F_NEXT, .next = 1};
        vs_desc t1 = {.addr = tbl, .len = 32, .flags = VS_DESC_F_INDIRECT};
        if (d->o.ring == VS_RING_PACKED)
            t0.flags = 0;
        if ((rc = vs__drv_write_table_desc(d, tbl, &t0, e)) < 0 ||
            (rc = vs__drv_write_table_desc(d, tbl + 16, &t1, e)) < 0) {
            vs__drv_hostile_cancel(d, &h);
            return rc;
        }
        ds[0] = (vs_desc){.addr = tbl, .len = 32, .flags = VS_DESC_F_INDIRECT};
        n = 1;
        break;
    }
    }
    return vs__drv_hostile_submit(d, &h, ds, n, true, e);
}
