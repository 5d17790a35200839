/* The core's hostile-input classes (sim/campaign.h): descriptor, ring, indirect, packed
 * and lifecycle abuse, built around the device's simplest request (its personality's
 * fault_shape) so they apply to any device. Each generator draws only its knobs; each
 * apply turns knobs into ring contents, notifications or status writes. A knob at 0 is
 * the mildest form of the abuse. */
#include <string.h>

#include <stdio.h>

#include "sim/campaign.h"
#include "sim/driver_int.h"
#include "virtiosim/gmem.h"
#include "virtiosim/pci.h"
#include "virtiosim/transport_pci.h"

/* ------------------------------------------------------------------ helpers */

static uint64_t resolve(const vs_drv_hostile *h, uint64_t a)
{
    if (a == VS_CAMP_HDR)
        return h->hdr;
    if (a == VS_CAMP_STATUS)
        return h->status;
    if (a == VS_CAMP_UNMAPPED)
        return h->unmapped;
    if ((a & UINT64_C(0xffffffff00000000)) == VS_CAMP_SCRATCH)
        return h->scratch + (a & 0xfffffu);
    return a;
}

int vs_camp_submit(vs_camp_env *env, vs_desc *ds, unsigned n, const vs_camp_table *tables,
                   unsigned ntables, const void *data, uint32_t data_len, vs_err *e)
{
    vs_drv_hostile h;
    int rc = vs__drv_hostile_begin(env->d, 0, VS_CAMP_SCRATCH_LEN, &h, e);
    if (rc < 0)
        return rc;
    if (data_len && (rc = vs_gmem_write(env->gm, h.scratch, data, data_len, e)) < 0)
        goto fail;
    for (unsigned t = 0; t < ntables; t++)
        for (unsigned i = 0; i < tables[t].n; i++) {
            vs_desc x = tables[t].d[i];
            x.addr = resolve(&h, x.addr);
            uint64_t at = h.scratch + tables[t].off + 16u * i;
            if (at + 16 > h.scratch + VS_CAMP_SCRATCH_LEN)
                break;
            if ((rc = vs__drv_write_table_desc(env->d, at, &x, e)) < 0)
                goto fail;
        }
    for (unsigned i = 0; i < n; i++)
        ds[i].addr = resolve(&h, ds[i].addr);
    rc = vs__drv_hostile_submit(env->d, &h, ds, n, true, e);
    if (rc >= 0)
        env->chain = rc;
    return rc < 0 ? rc : 0;
fail:
    vs__drv_hostile_cancel(env->d, &h);
    return rc;
}

static bool packed(const vs_camp_env *env) { return env->ring == VS_RING_PACKED; }

/* The simplest request, well formed: header, status. */
static void shape_lens(const vs_camp_env *env, uint32_t *hl, uint32_t *sl)
{
    vs_drv_fault_shape sh = {0};
    /* fault_shape only fills the shape and the request's device data; a scratch request
     * is not needed to learn the lengths, so ask through a throw-away begin. */
    vs_drv_hostile h;
    vs_err e = {0};
    if (vs__drv_hostile_begin(env->d, 0, 16, &h, &e) == 0) {
        sh = h.sh;
        vs__drv_hostile_cancel(env->d, &h);
    }
    *hl = sh.hdr_len ? sh.hdr_len : 16;
    *sl = sh.status_len ? sh.status_len : 1;
}

static void pair(const vs_camp_env *env, vs_desc *ds)
{
    uint32_t hl, sl;
    shape_lens(env, &hl, &sl);
    ds[0] = (vs_desc){.addr = VS_CAMP_HDR, .len = hl, .flags = VS_DESC_F_NEXT, .next = 1};
    ds[1] = (vs_desc){.addr = VS_CAMP_STATUS, .len = sl, .flags = VS_DESC_F_WRITE};
}

static void gen_ring_any(vs_rng *r, vs_camp_input *in)
{
    in->p[0] = vs_rng_below(r, 2);
}

/* ------------------------------------------------------------------ descriptors */

static void gen_next_oor(vs_rng *r, vs_camp_input *in)
{
    in->p[1] = vs_rng_below(r, 3);          /* 0: = queue size, 1: 0xffff, 2: random above */
    in->p[2] = vs_rng_below(r, 0x8000);
}

static int apply_next_oor(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    vs_desc ds[2];
    pair(env, ds);
    uint32_t q = env->qsize;
    ds[0].next = (uint16_t)(in->p[1] == 0 ? q : in->p[1] == 1 ? 0xffff
                                            : q + 1 + in->p[2] % (0x10000 - q - 1));
    return vs_camp_submit(env, ds, 2, NULL, 0, NULL, 0, e);
}

static void gen_loop(vs_rng *r, vs_camp_input *in)
{
    in->p[1] = vs_rng_below(r, 6);          /* descriptors in the loop - 1 */
    in->p[2] = vs_rng_below(r, 8);          /* where the last one points back to */
}

static int apply_loop(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    vs_desc ds[8];
    uint32_t hl, sl;
    shape_lens(env, &hl, &sl);
    unsigned n = 1 + (unsigned)in->p[1];
    if (n > env->qsize)
        n = env->qsize;
    for (unsigned i = 0; i < n; i++)
        ds[i] = (vs_desc){.addr = VS_CAMP_HDR, .len = hl, .flags = VS_DESC_F_NEXT,
                          .next = (uint16_t)(i + 1)};
    ds[n - 1].next = (uint16_t)(in->p[2] % n);
    return vs_camp_submit(env, ds, n, NULL, 0, NULL, 0, e);
}

/* A chain longer than the queue: an indirect table of queue size + 1 + k entries. */
static void gen_too_long(vs_rng *r, vs_camp_input *in)
{
    in->p[0] = vs_rng_below(r, 2);
    in->p[1] = vs_rng_below(r, 64);
}

static int apply_too_long(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    static vs_camp_table tb[16];
    uint32_t hl, sl;
    shape_lens(env, &hl, &sl);
    unsigned want = env->qsize + 1 + (unsigned)in->p[1];
    if (want > 16 * 16)
        return vs_err_set(e, VS_ENOTSUP, "queue size %u: a table that long does not fit",
                          env->qsize);
    /* one logical table spread over consecutive vs_camp_table blocks of 16 */
    unsigned nt = (want + 15) / 16;
    for (unsigned t = 0; t < nt; t++) {
        tb[t].off = 16u * 16u * t;
        tb[t].n = 16;
        for (unsigned i = 0; i < 16; i++) {
            unsigned k = t * 16 + i;
            uint16_t fl = packed(env) ? 0 : VS_DESC_F_NEXT;
            tb[t].d[i] = (vs_desc){.addr = VS_CAMP_HDR, .len = hl, .flags = fl,
                                   .next = (uint16_t)(k + 1)};
            if (k == want - 1)
                tb[t].d[i] = (vs_desc){.addr = VS_CAMP_STATUS, .len = sl,
                                       .flags = VS_DESC_F_WRITE};
        }
    }
    tb[nt - 1].n = want - 16 * (nt - 1);
    vs_desc d0 = {.addr = VS_CAMP_SCRATCH, .len = 16 * want, .flags = VS_DESC_F_INDIRECT};
    return vs_camp_submit(env, &d0, 1, tb, nt, NULL, 0, e);
}

static void gen_lengths(vs_rng *r, vs_camp_input *in)
{
    in->p[0] = vs_rng_below(r, 2);
    in->p[1] = vs_rng_below(r, 4);  /* 0 zero header, 1 zero status, 2 huge header, 3 several
                                       huge descriptors past 2^32 in total */
    in->p[2] = vs_rng_below(r, 4);  /* extra huge descriptors */
}

static int apply_lengths(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    vs_desc ds[8];
    pair(env, ds);
    unsigned n = 2;
    switch (in->p[1]) {
    case 0: ds[0].len = 0; break;
    case 1: ds[1].len = 0; break;
    case 2: ds[0].len = UINT32_MAX; break;
    default: {
        /* header, then 2..5 readable descriptors of 2 GiB each, then status */
        unsigned k = 2 + (unsigned)in->p[2];
        ds[k + 1] = ds[1];
        for (unsigned i = 1; i <= k; i++)
            ds[i] = (vs_desc){.addr = VS_CAMP_SCRATCH, .len = 0x80000000u,
                              .flags = VS_DESC_F_NEXT, .next = (uint16_t)(i + 1)};
        n = k + 2;
    }
    }
    return vs_camp_submit(env, ds, n, NULL, 0, NULL, 0, e);
}

static void gen_addr(vs_rng *r, vs_camp_input *in)
{
    in->p[0] = vs_rng_below(r, 2);
    in->p[1] = vs_rng_below(r, 4);  /* 0 unmapped, 1 64-bit wrap, 2 straddles the end of
                                       RAM, 3 GPA 0 */
    in->p[2] = vs_rng_below(r, 2);  /* which descriptor: header or status */
    in->p[3] = vs_rng_below(r, 4096);
}

static int apply_addr(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    vs_desc ds[2];
    pair(env, ds);
    vs_desc *x = &ds[in->p[2] & 1];
    switch (in->p[1]) {
    case 0: x->addr = VS_CAMP_UNMAPPED; break;
    case 1:
        x->addr = UINT64_MAX - in->p[3] % 16;
        x->len = 64;
        break;
    case 2: {
        uint64_t top = vs__drv_unmapped_gpa(env->d) - (UINT64_C(1) << 30);
        x->addr = top - 8;
        x->len = 16 + (uint32_t)in->p[3];
        break;
    }
    default: x->addr = 0; break;
    }
    return vs_camp_submit(env, ds, 2, NULL, 0, NULL, 0, e);
}

/* A buffer on top of the rings themselves, or two buffers on each other. */
static void gen_alias(vs_rng *r, vs_camp_input *in)
{
    in->p[0] = vs_rng_below(r, 2);
    in->p[1] = vs_rng_below(r, 4);  /* 0 status on header, 1 on the descriptors, 2 on the
                                       driver area, 3 on the device area */
    in->p[2] = vs_rng_below(r, 64);
}

static int apply_alias(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    vs_desc ds[2];
    pair(env, ds);
    const vs_vq_layout *l = vs_vq_drv_layout(vs_driver_queue(env->d, 0));
    uint64_t off = in->p[2];
    switch (in->p[1]) {
    case 0: ds[1].addr = VS_CAMP_HDR; break;
    case 1: ds[1].addr = l->desc_gpa + off; break;
    case 2: ds[1].addr = l->driver_gpa + off % 4; break;
    default: ds[1].addr = l->device_gpa + off % 8; break;
    }
    ds[1].len = in->p[1] ? 16 : ds[1].len;
    env->dirty = in->p[1] != 0;   /* the device may have written over the rings */
    return vs_camp_submit(env, ds, 2, NULL, 0, NULL, 0, e);
}

static int apply_write_before_read(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    (void)in;
    uint32_t hl, sl;
    shape_lens(env, &hl, &sl);
    vs_desc ds[2] = {
        {.addr = VS_CAMP_STATUS, .len = sl, .flags = VS_DESC_F_WRITE | VS_DESC_F_NEXT, .next = 1},
        {.addr = VS_CAMP_HDR, .len = hl, .flags = 0},
    };
    return vs_camp_submit(env, ds, 2, NULL, 0, NULL, 0, e);
}

/* ------------------------------------------------------------------ indirect */

static void gen_indirect(vs_rng *r, vs_camp_input *in)
{
    in->p[0] = vs_rng_below(r, 2);
    in->p[1] = vs_rng_below(r, 5);  /* 0 nested, 1 nested twice, 2 empty table, 3 length not a
                                       multiple of 16, 4 misaligned table */
    in->p[2] = 1 + vs_rng_below(r, 15);
}

static int apply_indirect(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    uint32_t hl, sl;
    shape_lens(env, &hl, &sl);
    uint16_t nx = packed(env) ? 0 : VS_DESC_F_NEXT;
    vs_camp_table tb[2] = {
        {.off = 0, .n = 2, .d = {{.addr = VS_CAMP_HDR, .len = hl, .flags = nx, .next = 1},
                                 {.addr = VS_CAMP_STATUS, .len = sl, .flags = VS_DESC_F_WRITE}}},
        {.off = 512, .n = 2, .d = {{.addr = VS_CAMP_HDR, .len = hl, .flags = nx, .next = 1},
                                   {.addr = VS_CAMP_STATUS, .len = sl,
                                    .flags = VS_DESC_F_WRITE}}},
    };
    vs_desc d0 = {.addr = VS_CAMP_SCRATCH, .len = 32, .flags = VS_DESC_F_INDIRECT};
    switch (in->p[1]) {
    case 0:   /* table: [header, INDIRECT -> table 2] */
    case 1:   /* ... and table 2 points at itself */
        tb[0].d[1] = (vs_desc){.addr = VS_CAMP_SCRATCH + 512, .len = 32,
                               .flags = VS_DESC_F_INDIRECT};
        if (in->p[1] == 1)
            tb[1].d[1] = (vs_desc){.addr = VS_CAMP_SCRATCH + 512, .len = 32,
                                   .flags = VS_DESC_F_INDIRECT};
        break;
    case 2: d0.len = 0; break;
    case 3: d0.len = 32 - (uint32_t)in->p[2]; break;
    default:
        tb[0].off = (uint32_t)in->p[2];
        d0.addr = VS_CAMP_SCRATCH + in->p[2];
        break;
    }
    return vs_camp_submit(env, &d0, 1, tb, 2, NULL, 0, e);
}

static int apply_indirect_next(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    (void)in;
    uint32_t hl, sl;
    shape_lens(env, &hl, &sl);
    vs_camp_table tb = {.off = 0, .n = 2,
                        .d = {{.addr = VS_CAMP_HDR, .len = hl, .flags = VS_DESC_F_NEXT, .next = 1},
                              {.addr = VS_CAMP_STATUS, .len = sl, .flags = VS_DESC_F_WRITE}}};
    vs_desc ds[2] = {
        {.addr = VS_CAMP_SCRATCH, .len = 32, .flags = VS_DESC_F_INDIRECT | VS_DESC_F_NEXT,
         .next = 1},
        {.addr = VS_CAMP_STATUS, .len = sl, .flags = VS_DESC_F_WRITE},
    };
    return vs_camp_submit(env, ds, 2, &tb, 1, NULL, 0, e);
}

/* Legal (split): a direct header, then an indirect descriptor holding the status. */
static int apply_direct_then_indirect(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    (void)in;
    uint32_t hl, sl;
    shape_lens(env, &hl, &sl);
    vs_camp_table tb = {.off = 0, .n = 1,
                        .d = {{.addr = VS_CAMP_STATUS, .len = sl, .flags = VS_DESC_F_WRITE}}};
    vs_desc ds[2] = {
        {.addr = VS_CAMP_HDR, .len = hl, .flags = VS_DESC_F_NEXT, .next = 1},
        {.addr = VS_CAMP_SCRATCH, .len = 16, .flags = VS_DESC_F_INDIRECT},
    };
    return vs_camp_submit(env, ds, 2, &tb, 1, NULL, 0, e);
}

/* Packed: an INDIRECT descriptor inside a NEXT-linked list. */
static int apply_packed_list_indirect(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    (void)in;
    uint32_t hl, sl;
    shape_lens(env, &hl, &sl);
    vs_camp_table tb = {.off = 0, .n = 1,
                        .d = {{.addr = VS_CAMP_STATUS, .len = sl, .flags = VS_DESC_F_WRITE}}};
    vs_desc ds[2] = {
        {.addr = VS_CAMP_HDR, .len = hl, .flags = VS_DESC_F_NEXT},
        {.addr = VS_CAMP_SCRATCH, .len = 16, .flags = VS_DESC_F_INDIRECT},
    };
    return vs_camp_submit(env, ds, 2, &tb, 1, NULL, 0, e);
}

/* ------------------------------------------------------------------ rings (split) */

static int ring_notify(vs_camp_env *env, vs_err *e)
{
    return vs_driver_notify(env->d, 0, e);
}

static void gen_avail(vs_rng *r, vs_camp_input *in)
{
    in->p[1] = vs_rng_below(r, 4);  /* 0 jump by queue size + 1, 1 by 0x8000, 2 rewind,
                                       3 head out of range */
    in->p[2] = vs_rng_below(r, 0x10000);
}

static int apply_avail(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    const vs_vq_layout *l = vs_vq_drv_layout(vs_driver_queue(env->d, 0));
    uint16_t idx = vs_vq_drv_avail_idx(vs_driver_queue(env->d, 0)), q = (uint16_t)env->qsize;
    int rc = 0;
    env->dirty = true;
    switch (in->p[1]) {
    case 0: idx = (uint16_t)(idx + q + 1 + in->p[2] % 8); break;
    case 1: idx = (uint16_t)(idx + 0x8000); break;
    case 2: idx = (uint16_t)(idx - 1 - in->p[2] % 4); break;
    default:
        rc = vs_gmem_st16(env->gm, l->driver_gpa + 4 + 2u * (idx % q),
                          (uint16_t)(q + in->p[2] % (0x10000u - q)), e);
        idx = (uint16_t)(idx + 1);
        break;
    }
    if (rc == 0)
        rc = vs_gmem_st16(env->gm, l->driver_gpa + 2, idx, e);
    return rc < 0 ? rc : ring_notify(env, e);
}

static void gen_flags(vs_rng *r, vs_camp_input *in)
{
    in->p[1] = vs_rng_below(r, 2);       /* 0 avail flags, 1 used ring scribbled */
    in->p[2] = vs_rng_below(r, 0x10000);
}

static int apply_flags(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    const vs_vq_layout *l = vs_vq_drv_layout(vs_driver_queue(env->d, 0));
    env->dirty = true;
    int rc;
    if (in->p[1] == 0)
        rc = vs_gmem_st16(env->gm, l->driver_gpa, (uint16_t)(in->p[2] | 2), e);
    else   /* the used ring is the device's: the driver writes its idx and first element */
        rc = vs_gmem_st32(env->gm, l->device_gpa, (uint32_t)(in->p[2] << 16 | 1), e);
    if (rc < 0)
        return rc;
    /* then a well-formed request, so the device has to look at the ring */
    vs_desc ds[2];
    pair(env, ds);
    return vs_camp_submit(env, ds, 2, NULL, 0, NULL, 0, e);
}

/* Notifications: for a queue that does not exist, or many with nothing new (legal). */
static void gen_notify(vs_rng *r, vs_camp_input *in)
{
    in->p[1] = vs_rng_below(r, 2);
    in->p[2] = vs_rng_below(r, 64);
}

static int apply_notify(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    if (in->p[1] == 0) {
        uint16_t nq = vs_driver_num_queues(env->d);
        int rc = env->t->ops->notify(env->t, (uint16_t)(nq + in->p[2]), e);
        return rc == -VS_ERANGE || rc == -VS_EINVAL ? vs_err_set(e, VS_ENOTSUP, "%s", e->msg)
                                                    : rc;
    }
    for (unsigned i = 0; i <= in->p[2]; i++) {
        int rc = vs_driver_notify(env->d, 0, e);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Queue size 1: the queue set up with one descriptor, and a chain of two on it (NEXT to
 * itself, or past the table). The rings live in the request's scratch area. */
static void gen_small(vs_rng *r, vs_camp_input *in)
{
    in->p[1] = vs_rng_below(r, 2);  /* 0 next = 0 (itself), 1 next = 1 (past the table) */
}

static int apply_small(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    env->relax = env->dirty = true;
    int rc = vs_driver_negotiate(env->d, e);   /* starts with a reset */
    if (rc < 0)
        return rc;
    vs_drv_hostile h;
    if ((rc = vs__drv_hostile_begin(env->d, 0, 256, &h, e)) < 0)
        return rc;
    uint64_t base = (h.scratch + 63) & ~UINT64_C(63);
    vs_vq_layout l = {.format = VS_RING_SPLIT, .size = 1, .desc_gpa = base,
                      .driver_gpa = base + 64, .device_gpa = base + 128};
    vs_gmem *gm = env->gm;
    if ((rc = vs_gmem_write(gm, base, (uint8_t[192]){0}, 192, e)) == 0 &&
        (rc = env->t->ops->queue_setup(env->t, 0, &l, e)) == 0 &&
        (rc = vs_driver_write_status_raw(env->d, (uint8_t)(vs_driver_status(env->d) |
                                                           VS_STATUS_DRIVER_OK), e)) == 0 &&
        (rc = vs_gmem_st64(gm, base, h.hdr, e)) == 0 &&
        (rc = vs_gmem_st32(gm, base + 8, h.hdr_len, e)) == 0 &&
        (rc = vs_gmem_st16(gm, base + 12, VS_DESC_F_NEXT, e)) == 0 &&
        (rc = vs_gmem_st16(gm, base + 14, (uint16_t)(in->p[1] ? 1 : 0), e)) == 0 &&
        (rc = vs_gmem_st16(gm, base + 64 + 4, 0, e)) == 0 &&
        (rc = vs_gmem_st16(gm, base + 64 + 2, 1, e)) == 0)
        rc = env->t->ops->notify(env->t, 0, e);
    vs__drv_hostile_cancel(env->d, &h);   /* the reset before the probe ends its use */
    return rc;
}

/* ------------------------------------------------------------------ packed */

static void gen_wrap(vs_rng *r, vs_camp_input *in)
{
    in->p[0] = 1;
    in->p[1] = vs_rng_below(r, 4);  /* AVAIL/USED bits: 0 both = wrap, 1 both = !wrap,
                                       2 AVAIL = !wrap USED = wrap, 3 right bits two slots
                                       ahead of the next one */
    in->p[2] = vs_rng_below(r, 0x10000); /* buffer id */
}

static int apply_wrap(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    vs_vq_drv *q = vs_driver_queue(env->d, 0);
    const vs_vq_layout *l = vs_vq_drv_layout(q);
    uint16_t a = vs_vq_drv_avail_idx(q);
    uint16_t slot = a & 0x7fff;
    bool w = a & 0x8000;
    uint16_t av = 1u << 7, us = 1u << 15, fl;
    switch (in->p[1]) {
    case 0: fl = w ? av | us : 0; break;
    case 1: fl = w ? 0 : av | us; break;
    case 2: fl = w ? us : av; break;
    default:
        fl = w ? av : us;
        slot = (uint16_t)((slot + 2) % env->qsize);
        break;
    }
    vs_drv_hostile h;
    int rc = vs__drv_hostile_begin(env->d, 0, 16, &h, e);
    if (rc < 0)
        return rc;
    uint64_t at = l->desc_gpa + 16u * slot;
    env->dirty = true;
    if ((rc = vs_gmem_st64(env->gm, at, h.hdr, e)) == 0 &&
        (rc = vs_gmem_st32(env->gm, at + 8, h.hdr_len, e)) == 0 &&
        (rc = vs_gmem_st16(env->gm, at + 12, (uint16_t)in->p[2], e)) == 0)
        rc = vs_gmem_st16(env->gm, at + 14, fl, e);
    vs__drv_hostile_cancel(env->d, &h);
    return rc < 0 ? rc : ring_notify(env, e);
}

/* ------------------------------------------------------------------ lifecycle */

static void gen_life(vs_rng *r, vs_camp_input *in)
{
    in->p[1] = vs_rng_below(r, 4);
    in->p[2] = vs_rng_below(r, 64);
}

/* Makes one well-formed request available and notifies before DRIVER_OK. */
static int apply_kick_early(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    int rc = vs_driver_negotiate(env->d, e);   /* starts with a reset */
    if (rc == 0)
        rc = vs_driver_setup_queues(env->d, e);
    env->relax = true;
    if (rc < 0)
        return rc;
    if (in->p[1] & 1) {
        vs_desc ds[2];
        pair(env, ds);
        rc = vs_camp_submit(env, ds, 2, NULL, 0, NULL, 0, e);
    } else {
        rc = vs_driver_notify(env->d, 0, e);
    }
    if (rc == 0)
        rc = vs_driver_set_status(env->d, VS_STATUS_DRIVER_OK, e);
    return rc;
}

/* Writes other features after FEATURES_OK was accepted, then goes on. */
static int apply_features_late(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    int rc = vs_driver_negotiate(env->d, e);   /* starts with a reset */
    env->relax = true;
    if (rc < 0)
        return rc;
    uint64_t off = vs_driver_device_features(env->d), neg = vs_driver_features(env->d);
    uint64_t f;
    switch (in->p[1]) {
    case 0: f = off; break;                                  /* everything offered */
    case 1: f = neg & ~(UINT64_C(1) << VS_F_VERSION_1); break;
    case 2: f = ~UINT64_C(0); break;                         /* undefined bits too */
    default: f = neg ^ (UINT64_C(1) << (in->p[2] % 64)); break;
    }
    rc = vs_driver_write_features_raw(env->d, f, e);
    if (rc == 0)
        rc = vs_driver_setup_queues(env->d, e);
    if (rc == 0)
        rc = vs_driver_set_status(env->d, VS_STATUS_DRIVER_OK, e);
    return rc;
}

/* Clears a status bit the driver set (only a reset may), then makes a request available. */
static int apply_status_clear(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    static const uint8_t bits[] = {VS_STATUS_ACKNOWLEDGE, VS_STATUS_DRIVER,
                                   VS_STATUS_FEATURES_OK, VS_STATUS_DRIVER_OK};
    uint8_t st = vs_driver_status(env->d);
    env->relax = true;
    int rc = vs_driver_write_status_raw(env->d, (uint8_t)(st & ~bits[in->p[1] % 4]), e);
    if (rc < 0)
        return rc;
    vs_desc ds[2];
    pair(env, ds);
    return vs_camp_submit(env, ds, 2, NULL, 0, NULL, 0, e);
}

/* Enables queue 0 with addresses nobody set (0, or outside RAM), then notifies. */
static int apply_queue_noaddr(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    int rc = vs_driver_negotiate(env->d, e);   /* starts with a reset */
    env->relax = true;
    env->dirty = true;
    if (rc < 0)
        return rc;
    uint64_t base = (in->p[1] & 1) ? vs__drv_unmapped_gpa(env->d) : 0;
    vs_vq_layout l = {.format = env->ring, .size = env->qsize, .desc_gpa = base,
                      .driver_gpa = base, .device_gpa = base};
    if ((rc = env->t->ops->queue_setup(env->t, 0, &l, e)) < 0)
        return rc;
    if ((rc = vs_driver_write_status_raw(env->d, (uint8_t)(vs_driver_status(env->d) |
                                                           VS_STATUS_DRIVER_OK), e)) < 0)
        return rc;
    return env->t->ops->notify(env->t, 0, e);
}

static void gen_msix(vs_rng *r, vs_camp_input *in)
{
    in->p[1] = vs_rng_below(r, 2);
    in->p[2] = vs_rng_below(r, 4);
    in->p[3] = vs_rng_below(r, 64);
}

/* Maps the configuration event (which 0) or queue 0's (which 1) to a vector beyond the
 * MSI-X table, straight through the common configuration: the device must refuse it and
 * read back NO_VECTOR. kind 0: the first vector past the table; 1: further past; 2: 0x7ff
 * (the largest Table Size); 3: 0xfffe (just below NO_VECTOR). */
static int apply_msix_oor(vs_camp_env *env, const vs_camp_input *in, vs_err *e)
{
    const vs_pcib_dev *lay = vs_pci_transport_layout(env->t);
    vs_pci_bus b;
    if (!lay || vs_pci_transport_bus(env->t, &b) < 0 || !lay->msix.present ||
        !lay->common.addr || env->t->irq_mode != VS_IRQ_MSIX)
        return vs_err_set(e, VS_ENOTSUP, "needs a virtio-pci function using MSI-X");
    uint32_t n = lay->msix.table_size, v;
    switch (in->p[2] & 3) {
    case 0: v = n; break;
    case 1: v = n + 1 + (uint32_t)in->p[3]; break;
    case 2: v = 0x7ff; break;
    default: v = 0xfffe; break;
    }
    if (v < n || v > 0xfffe)
        v = n < 0xfffe ? n : 0xfffe;
    env->relax = true;   /* the mapping is the driver's to restore: reset after */
    uint64_t base = lay->common.addr;
    uint16_t off = in->p[1] ? VS_VIRTIO_COMMON_Q_MSIX : VS_VIRTIO_COMMON_MSIX;
    uint16_t back = 0;
    int rc = in->p[1] ? vs_pcib_write16(b, base + VS_VIRTIO_COMMON_Q_SELECT, 0, e) : 0;
    if (rc == 0)
        rc = vs_pcib_write16(b, base + off, (uint16_t)v, e);
    if (rc == 0)
        rc = vs_pcib_read16(b, base + off, &back, e);
    if (rc == 0 && back != 0xffff)
        snprintf(env->wrong, sizeof env->wrong,
                 "%s mapped to vector %u of a %u-entry MSI-X table reads back %u, not "
                 "NO_VECTOR 0xffff (pci.device.msix.9)",
                 in->p[1] ? "queue 0's event" : "the configuration event", v, n, back);
    return rc;
}

/* ------------------------------------------------------------------ the table */

#define SAFE VS_CAMP_SAFE_DEFAULT
#define BOTH (VS_CAMP_F_SPLIT | VS_CAMP_F_PACKED)
static const vs_camp_class classes[] = {
    {"desc-next-out-of-range", "-",
     "a chained descriptor's next names a slot of the table (2.7.5: next < queue size)",
     "survived or needs-reset", VS_CAMP_F_SPLIT, SAFE, "ring,which,value", gen_next_oor,
     apply_next_oor},
    {"desc-loop", "split.driver.desc-table.1",
     "a chain ends (at most 2^32 bytes, so no loops)", "survived or needs-reset",
     VS_CAMP_F_SPLIT, SAFE, "ring,length,back_to", gen_loop, apply_loop},
    {"chain-too-long", "split.driver.indirect.3",
     "a chain (with its indirect table) is never longer than the queue size",
     "survived or needs-reset", BOTH, SAFE, "ring,extra", gen_too_long, apply_too_long},
    {"desc-length", "split.driver.desc-table.1",
     "buffers have sensible lengths and a chain totals at most 2^32 bytes",
     "survived or needs-reset", BOTH, SAFE, "ring,kind,extra", gen_lengths, apply_lengths},
    {"buffer-address", "-",
     "buffers lie in guest RAM (no 64-bit wrap, no straddling its end, not at GPA 0 unless "
     "RAM is there)", "survived or needs-reset", BOTH, SAFE, "ring,kind,which,offset",
     gen_addr, apply_addr},
    {"buffer-aliasing", "-",
     "a device-writable buffer overlaps neither a readable one nor the rings",
     "survived or needs-reset", BOTH, SAFE, "ring,onto,offset", gen_alias, apply_alias},
    {"write-before-read", "split.driver.message-framing.1",
     "device-writable descriptors come after all device-readable ones",
     "survived or needs-reset", BOTH, SAFE, "ring", gen_ring_any, apply_write_before_read},
    {"indirect-abuse", "split.driver.indirect.2",
     "indirect tables are one level deep, non-empty, whole 16-byte entries",
     "survived or needs-reset", BOTH, SAFE, "ring,kind,amount", gen_indirect, apply_indirect},
    {"indirect-with-next", "split.driver.indirect.4",
     "INDIRECT and NEXT are never set together", "survived or needs-reset", VS_CAMP_F_SPLIT,
     SAFE, "ring", gen_ring_any, apply_indirect_next},
    {"direct-then-indirect", "split.device.indirect.2",
     "legal input: direct descriptors ending in one indirect descriptor (the device must "
     "cope)", "survived with the chain used", VS_CAMP_F_SPLIT | VS_CAMP_F_MUST_USE,
     1u << VS_CAMP_SURVIVED, "ring", gen_ring_any, apply_direct_then_indirect},
    {"packed-indirect-in-list", "packed.driver.indirect.4",
     "no INDIRECT descriptor inside a NEXT-linked packed list", "survived or needs-reset",
     VS_CAMP_F_PACKED, SAFE, "ring", gen_ring_any, apply_packed_list_indirect},
    {"avail-index-abuse", "split.driver.avail-ring.1",
     "avail idx never moves backwards nor more than a queue ahead; heads name descriptors",
     "survived or needs-reset", VS_CAMP_F_SPLIT | VS_CAMP_F_DIRTY | VS_CAMP_F_DROP_OK, SAFE,
     "ring,kind,value", gen_avail, apply_avail},
    {"ring-flags-abuse", "split.driver.used-notif-suppression.1",
     "avail flags are 0 or 1; the driver leaves the used ring alone",
     "survived or needs-reset", VS_CAMP_F_SPLIT | VS_CAMP_F_DIRTY, SAFE, "ring,kind,value",
     gen_flags, apply_flags},
    {"notification-lies", "pci.driver.avail-notif.3",
     "a notification names an existing queue (and empty ones must be tolerated)",
     "survived", VS_CAMP_F_SPLIT | VS_CAMP_F_DROP_OK, 1u << VS_CAMP_SURVIVED,
     "ring,kind,count", gen_notify, apply_notify},
    {"queue-size-1", "split.driver.indirect.3",
     "on a queue of one descriptor, a chain of one (no NEXT to itself or past the table)",
     "survived or needs-reset", VS_CAMP_F_SPLIT | VS_CAMP_F_RESET_PROBE | VS_CAMP_F_DROP_OK,
     SAFE, "ring,next", gen_small, apply_small},
    {"packed-wrap-confusion", "packed.driver.desc-table.2",
     "AVAIL/USED bits follow the driver's wrap counter; slots are made available in order",
     "survived or needs-reset", VS_CAMP_F_PACKED | VS_CAMP_F_DIRTY | VS_CAMP_F_DROP_OK, SAFE,
     "ring,bits,id", gen_wrap, apply_wrap},
    {"kick-before-driver-ok", "generic.driver.init.6",
     "no available-buffer notification before DRIVER_OK", "survived or needs-reset",
     VS_CAMP_F_SPLIT | VS_CAMP_F_RESET_PROBE | VS_CAMP_F_DROP_OK, SAFE, "ring,with_chain",
     gen_life, apply_kick_early},
    {"features-after-features-ok", "generic.driver.init.3",
     "no feature bits written once FEATURES_OK is set", "survived or needs-reset",
     VS_CAMP_F_SPLIT | VS_CAMP_F_RESET_PROBE | VS_CAMP_F_DROP_OK, SAFE, "ring,kind,bit",
     gen_life, apply_features_late},
    {"status-bit-cleared", "generic.driver.status.2",
     "a status bit, once set, is cleared only by a reset", "survived or needs-reset",
     VS_CAMP_F_SPLIT | VS_CAMP_F_RESET_PROBE | VS_CAMP_F_DROP_OK, SAFE, "ring,bit",
     gen_life, apply_status_clear},
    {"queue-enable-without-addresses", "pci.driver.common-cfg.4",
     "a queue's addresses are set before it is enabled", "survived or needs-reset",
     VS_CAMP_F_SPLIT | VS_CAMP_F_RESET_PROBE | VS_CAMP_F_DROP_OK, SAFE, "ring,where",
     gen_life, apply_queue_noaddr},
    {"msix-vector-out-of-range", "pci.driver.msix.2",
     "no event is mapped to a vector beyond the MSI-X table (the device must read back "
     "NO_VECTOR 0xffff: pci.device.msix.9)", "survived or needs-reset, NO_VECTOR read back",
     VS_CAMP_F_SPLIT | VS_CAMP_F_RESET_PROBE, SAFE, "ring,which,kind,past", gen_msix,
     apply_msix_oor},
};

static const vs_camp_class *const class_ptrs[] = {
    &classes[0], &classes[1], &classes[2], &classes[3], &classes[4], &classes[5],
    &classes[6], &classes[7], &classes[8], &classes[9], &classes[10], &classes[11],
    &classes[12], &classes[13], &classes[14], &classes[15], &classes[16], &classes[17],
    &classes[18], &classes[19], &classes[20],
};

const vs_camp_set vs_camp_core_classes = {class_ptrs, sizeof class_ptrs / sizeof class_ptrs[0]};
_Static_assert(sizeof class_ptrs / sizeof class_ptrs[0] == sizeof classes / sizeof classes[0],
               "every class listed");
