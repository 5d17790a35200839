/* Split virtqueue: driver and device sides, index wrap, notification suppression,
 * every device-side chain validation rule, mutations, randomized round trips. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtiosim/vring.h"

#define QIDX 3
#define GMEM_BYTES (48u << 20)
#define BUF_BYTES (1u << 20)
#define MAX_SEGS 64

typedef struct rig {
    vs_gmem *gm;
    vs_vq_layout l;
    vs_vq_drv *d;
    vs_vq_dev *v;
    uint64_t buf;         /* BUF_BYTES of data buffers */
    vs_dseg segs[MAX_SEGS];
    vs_chain c;
    vs_err e;
} rig;

static void rig_init2(rig *r, uint32_t size, uint32_t drv_feat, uint32_t dev_feat,
                      uint32_t mut, uint16_t indirect_max)
{
    memset(r, 0, sizeof *r);
    ck_assert_int_eq(vs_gmem_create_flat(&r->gm, GMEM_BYTES, &r->e), 0);
    ck_assert_int_eq(vs_gmem_alloc(r->gm, BUF_BYTES, 4096, &r->buf, &r->e), 0);
    ck_assert_int_eq(vs_vq_layout_alloc(r->gm, VS_RING_SPLIT, size, &r->l, &r->e), 0);
    vs_vq_drv_opts dopt = {.queue_index = QIDX, .features = drv_feat,
                           .indirect_max = indirect_max};
    vs_vq_dev_opts vopt = {.queue_index = QIDX, .features = dev_feat, .mutations = mut};
    int rc = vs_vq_drv_create(&r->d, r->gm, &r->l, &dopt, &r->e);
    ck_assert_msg(rc == 0, "drv create: %s", r->e.msg);
    rc = vs_vq_dev_create(&r->v, r->gm, &r->l, &vopt, &r->e);
    ck_assert_msg(rc == 0, "dev create: %s", r->e.msg);
    r->c.seg = r->segs;
    r->c.seg_cap = MAX_SEGS;
    vs_err_clear(&r->e);
}

static void rig_init(rig *r, uint32_t size, uint32_t feat, uint32_t mut)
{
    rig_init2(r, size, feat, feat, mut, 0);
}

static void rig_fini(rig *r)
{
    vs_vq_drv_destroy(r->d);
    vs_vq_dev_destroy(r->v);
    ck_assert_int_eq(vs_vq_layout_free(r->gm, &r->l, &r->e), 0);
    vs_gmem_destroy(r->gm);
}

static vs_seg seg_at(const rig *r, uint64_t off, uint32_t len)
{
    vs_seg s = {r->buf + off, len};
    return s;
}

/* add + publish a 1-out/1-in chain */
static int add1(rig *r, void *cookie)
{
    vs_seg s[2] = {seg_at(r, 0, 16), seg_at(r, 4096, 512)};
    int id = vs_vq_drv_add(r->d, s, 1, 1, 0, cookie, &r->e);
    ck_assert_msg(id >= 0, "add: %s", r->e.msg);
    vs_vq_drv_publish(r->d);
    return id;
}

static void pop_ok(rig *r)
{
    int rc = vs_vq_dev_pop(r->v, &r->c, &r->e);
    ck_assert_msg(rc == 1, "pop rc %d: %s", rc, r->e.msg);
}

static void pop_err(rig *r, int code, const char *substr)
{
    vs_err_clear(&r->e);
    int rc = vs_vq_dev_pop(r->v, &r->c, &r->e);
    ck_assert_msg(rc == -code, "pop rc %d, expected %d (%s)", rc, -code, r->e.msg);
    ck_assert_int_eq(r->e.code, code);
    ck_assert_msg(strstr(r->e.msg, substr) != NULL, "message '%s' lacks '%s'", r->e.msg, substr);
    if (code != VS_ENOSPC) {
        ck_assert(vs_vq_dev_broken(r->v));
        /* broken: every later pop fails */
        vs_err e2;
        ck_assert_int_eq(vs_vq_dev_pop(r->v, &r->c, &e2), -VS_ESTATE);
        ck_assert_ptr_nonnull(strstr(e2.msg, "broken"));
    }
}

static void push_pub(rig *r, uint32_t written)
{
    int rc = vs_vq_dev_push(r->v, &r->c, written, &r->e);
    ck_assert_msg(rc == 0, "push: %s", r->e.msg);
    vs_vq_dev_publish(r->v);
}

/* Writes an indirect table of n descriptors at buffer offset off; returns its gpa. */
static uint64_t put_table(rig *r, uint64_t off, const vs_desc *t, unsigned n)
{
    for (unsigned k = 0; k < n; k++) {
        uint64_t g = r->buf + off + 16ull * k;
        ck_assert_int_eq(vs_gmem_st64(r->gm, g, t[k].addr, &r->e), 0);
        ck_assert_int_eq(vs_gmem_st32(r->gm, g + 8, t[k].len, &r->e), 0);
        ck_assert_int_eq(vs_gmem_st16(r->gm, g + 12, t[k].flags, &r->e), 0);
        ck_assert_int_eq(vs_gmem_st16(r->gm, g + 14, t[k].next, &r->e), 0);
    }
    return r->buf + off;
}

static void add_raw_pub(rig *r, const vs_desc *d, unsigned n)
{
    int id = vs_vq_drv_add_raw(r->d, d, n, NULL, &r->e);
    ck_assert_msg(id >= 0, "add_raw: %s", r->e.msg);
    vs_vq_drv_publish(r->d);
}

/* ------------------------------------------------------------------ basic ops */

START_TEST(test_roundtrip_direct)
{
    rig r;
    rig_init(&r, 16, 0, 0);
    ck_assert_uint_eq(vs_vq_drv_num_free(r.d), 16);
    ck_assert_int_eq(vs_vq_dev_pop(r.v, &r.c, &r.e), 0); /* nothing yet */
    vs_seg s[3] = {seg_at(&r, 0, 100), seg_at(&r, 200, 28), seg_at(&r, 8192, 4000)};
    int cookie;
    int id = vs_vq_drv_add(r.d, s, 2, 1, 0, &cookie, &r.e);
    ck_assert_int_ge(id, 0);
    ck_assert_uint_eq(vs_vq_drv_num_free(r.d), 13);
    ck_assert_uint_eq(vs_vq_drv_outstanding(r.d), 1);
    ck_assert_int_eq(vs_vq_dev_pop(r.v, &r.c, &r.e), 0); /* added but not published */
    vs_vq_drv_publish(r.d);
    ck_assert_uint_eq(vs_vq_drv_avail_idx(r.d), 1);
    pop_ok(&r);
    ck_assert_uint_eq(r.c.id, (unsigned)id);
    ck_assert_uint_eq(r.c.head, (unsigned)id);
    ck_assert_uint_eq(r.c.ndesc, 3);
    ck_assert(!r.c.indirect);
    ck_assert_uint_eq(r.c.nseg, 3);
    ck_assert_uint_eq(r.c.n_out, 2);
    ck_assert_uint_eq(r.c.out_bytes, 128);
    ck_assert_uint_eq(r.c.in_bytes, 4000);
    for (int k = 0; k < 3; k++) {
        ck_assert_uint_eq(r.segs[k].gpa, s[k].gpa);
        ck_assert_uint_eq(r.segs[k].len, s[k].len);
        ck_assert_int_eq(r.segs[k].write, k == 2);
        ck_assert_ptr_eq(r.segs[k].host,
                         vs_gmem_translate(r.gm, s[k].gpa, s[k].len, VS_GMEM_READ, NULL));
    }
    ck_assert_uint_eq(vs_vq_dev_get_base(r.v), 1);
    ck_assert_int_eq(vs_vq_dev_pop(r.v, &r.c, &r.e), 0);
    vs_used u;
    ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), 0); /* nothing used yet */
    ck_assert_int_eq(vs_vq_dev_push(r.v, &r.c, 1234, &r.e), 0);
    ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), 0); /* pushed, not published */
    vs_vq_dev_publish(r.v);
    ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), 1);
    ck_assert_uint_eq(u.id, (unsigned)id);
    ck_assert_uint_eq(u.len, 1234);
    ck_assert_ptr_eq(u.cookie, &cookie);
    ck_assert_uint_eq(vs_vq_drv_num_free(r.d), 16);
    ck_assert_uint_eq(vs_vq_drv_outstanding(r.d), 0);
    ck_assert_uint_eq(vs_vq_drv_used_idx(r.d), 1);
    ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), 0);
    rig_fini(&r);
}
END_TEST

START_TEST(test_roundtrip_indirect)
{
    rig r;
    rig_init(&r, 4, VS_VQ_F_INDIRECT, 0);
    vs_seg s[6];
    for (int k = 0; k < 6; k++)
        s[k] = seg_at(&r, 1000u * k, 10u + k);
    int cookie;
    int id = vs_vq_drv_add(r.d, s, 2, 2, VS_ADD_INDIRECT, &cookie, &r.e);
    ck_assert_int_ge(id, 0);
    ck_assert_uint_eq(vs_vq_drv_num_free(r.d), 3);
    vs_vq_drv_publish(r.d);
    pop_ok(&r);
    ck_assert(r.c.indirect);
    ck_assert_uint_eq(r.c.ndesc, 1);
    ck_assert_uint_eq(r.c.nseg, 4);
    ck_assert_uint_eq(r.c.n_out, 2);
    ck_assert_uint_eq(r.c.out_bytes, 21);
    ck_assert_uint_eq(r.c.in_bytes, 25);
    for (int k = 0; k < 4; k++) {
        ck_assert_uint_eq(r.segs[k].gpa, s[k].gpa);
        ck_assert_int_eq(r.segs[k].write, k >= 2);
    }
    push_pub(&r, 25);
    vs_used u;
    ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), 1);
    ck_assert_ptr_eq(u.cookie, &cookie);
    ck_assert_uint_eq(u.len, 25);
    ck_assert_uint_eq(vs_vq_drv_num_free(r.d), 4);
    /* 5 segments in a queue of 4: the spec's chain-length limit applies to indirect too */
    ck_assert_int_eq(vs_vq_drv_add(r.d, s, 3, 2, VS_ADD_INDIRECT, NULL, &r.e), -VS_EINVAL);
    /* four indirect chains fill the four descriptors */
    for (int k = 0; k < 4; k++)
        ck_assert_int_ge(vs_vq_drv_add(r.d, s, 1, 1, VS_ADD_INDIRECT, NULL, &r.e), 0);
    ck_assert_int_eq(vs_vq_drv_add(r.d, s, 1, 1, VS_ADD_INDIRECT, NULL, &r.e), -VS_ENOSPC);
    rig_fini(&r);
}
END_TEST

START_TEST(test_indirect_limits_driver)
{
    rig r;
    rig_init2(&r, 64, VS_VQ_F_INDIRECT, VS_VQ_F_INDIRECT, 0, 4);
    vs_seg s[8];
    for (int k = 0; k < 8; k++)
        s[k] = seg_at(&r, 64u * k, 8);
    ck_assert_int_ge(vs_vq_drv_add(r.d, s, 2, 2, VS_ADD_INDIRECT, NULL, &r.e), 0);
    ck_assert_int_eq(vs_vq_drv_add(r.d, s, 3, 2, VS_ADD_INDIRECT, NULL, &r.e), -VS_EINVAL);
    ck_assert_ptr_nonnull(strstr(r.e.msg, "indirect table size 4"));
    rig_fini(&r);
    rig_init(&r, 64, 0, 0);
    ck_assert_int_eq(vs_vq_drv_add(r.d, s, 1, 0, VS_ADD_INDIRECT, NULL, &r.e), -VS_ENOTSUP);
    ck_assert_ptr_nonnull(strstr(r.e.msg, "not negotiated"));
    ck_assert_uint_eq(vs_vq_drv_num_free(r.d), 64);
    rig_fini(&r);
}
END_TEST

START_TEST(test_ring_full_and_bad_add)
{
    rig r;
    rig_init(&r, 4, 0, 0);
    vs_seg s[5];
    for (int k = 0; k < 5; k++)
        s[k] = seg_at(&r, 64u * k, 8);
    ck_assert_int_eq(vs_vq_drv_add(r.d, s, 0, 0, 0, NULL, &r.e), -VS_EINVAL);
    ck_assert_int_eq(vs_vq_drv_add(r.d, NULL, 1, 0, 0, NULL, &r.e), -VS_EINVAL);
    ck_assert_int_eq(vs_vq_drv_add(r.d, s, 3, 2, 0, NULL, &r.e), -VS_EINVAL);
    ck_assert_int_ge(vs_vq_drv_add(r.d, s, 1, 2, 0, NULL, &r.e), 0);
    ck_assert_int_eq(vs_vq_drv_add(r.d, s, 2, 0, 0, NULL, &r.e), -VS_ENOSPC);
    ck_assert_int_eq(r.e.code, VS_ENOSPC);
    ck_assert_int_ge(vs_vq_drv_add(r.d, s, 1, 0, 0, NULL, &r.e), 0);
    ck_assert_int_eq(vs_vq_drv_add(r.d, s, 1, 0, 0, NULL, &r.e), -VS_ENOSPC);
    ck_assert_uint_eq(vs_vq_drv_num_free(r.d), 0);
    ck_assert_uint_eq(vs_vq_drv_outstanding(r.d), 2);
    vs_desc raw = {r.buf, 8, 0, 0};
    ck_assert_int_eq(vs_vq_drv_add_raw(r.d, &raw, 1, NULL, &r.e), -VS_ENOSPC);
    ck_assert_int_eq(vs_vq_drv_add_raw(r.d, &raw, 0, NULL, &r.e), -VS_EINVAL);
    rig_fini(&r);
}
END_TEST

/* Fill the whole ring, complete in reverse order, one chain using every descriptor. */
static void sizes_case(uint32_t n)
{
    rig r;
    rig_init(&r, n, 0, 0);
    vs_seg one = seg_at(&r, 0, 64);
    for (uint32_t k = 0; k < n; k++)
        ck_assert_int_ge(vs_vq_drv_add(r.d, &one, 0, 1, 0, (void *)(uintptr_t)(k + 1), &r.e), 0);
    ck_assert_int_eq(vs_vq_drv_add(r.d, &one, 0, 1, 0, NULL, &r.e), -VS_ENOSPC);
    vs_vq_drv_publish(r.d);
    uint16_t *ids = malloc(sizeof *ids * n);
    for (uint32_t k = 0; k < n; k++) {
        pop_ok(&r);
        ids[k] = r.c.id;
    }
    ck_assert_int_eq(vs_vq_dev_pop(r.v, &r.c, &r.e), 0);
    for (uint32_t k = n; k-- > 0;) {
        r.c.id = ids[k];
        r.c.in_bytes = 64;
        ck_assert_int_eq(vs_vq_dev_push(r.v, &r.c, k % 65, &r.e), 0);
    }
    vs_vq_dev_publish(r.v);
    for (uint32_t k = n; k-- > 0;) {
        vs_used u;
        ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), 1);
        ck_assert_uint_eq(u.id, ids[k]);
        ck_assert_uint_eq(u.len, k % 65);
        ck_assert_ptr_eq(u.cookie, (void *)(uintptr_t)(k + 1));
    }
    ck_assert_uint_eq(vs_vq_drv_num_free(r.d), n);
    /* one chain that uses every descriptor */
    vs_seg *s = malloc(sizeof *s * n);
    vs_dseg *ds = malloc(sizeof *ds * n);
    for (uint32_t k = 0; k < n; k++)
        s[k] = seg_at(&r, 16ull * (k % 1024), 16);
    ck_assert_int_ge(vs_vq_drv_add(r.d, s, n / 2, n - n / 2, 0, NULL, &r.e), 0);
    ck_assert_uint_eq(vs_vq_drv_num_free(r.d), 0);
    vs_vq_drv_publish(r.d);
    r.c.seg = ds;
    r.c.seg_cap = n;
    pop_ok(&r);
    ck_assert_uint_eq(r.c.nseg, n);
    ck_assert_uint_eq(r.c.ndesc, n);
    ck_assert_uint_eq(r.c.n_out, n / 2);
    push_pub(&r, 0);
    vs_used u;
    ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), 1);
    ck_assert_uint_eq(vs_vq_drv_num_free(r.d), n);
    r.c.seg = r.segs;
    free(s);
    free(ds);
    free(ids);
    rig_fini(&r);
}

START_TEST(test_sizes)
{
    sizes_case(1);
    sizes_case(2);
    sizes_case(256);
    sizes_case(32768);
}
END_TEST

/* > 65536 round trips in varying batches: avail and used idx wrap 65535 -> 0. */
START_TEST(test_index_wrap)
{
    rig r;
    rig_init(&r, 8, VS_VQ_F_EVENT_IDX, 0);
    uint32_t done = 0, batch = 1;
    bool saw_wrap = false;
    while (done < 70000) {
        uint16_t before = vs_vq_drv_avail_idx(r.d);
        for (uint32_t k = 0; k < batch; k++)
            add1(&r, (void *)(uintptr_t)(done + k + 1));
        if (vs_vq_drv_avail_idx(r.d) < before)
            saw_wrap = true;
        for (uint32_t k = 0; k < batch; k++) {
            pop_ok(&r);
            ck_assert_int_eq(vs_vq_dev_push(r.v, &r.c, k, &r.e), 0);
        }
        vs_vq_dev_publish(r.v);
        for (uint32_t k = 0; k < batch; k++) {
            vs_used u;
            ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), 1);
            ck_assert_ptr_eq(u.cookie, (void *)(uintptr_t)(done + k + 1));
            ck_assert_uint_eq(u.len, k);
        }
        done += batch;
        ck_assert_uint_eq(vs_vq_drv_avail_idx(r.d), (uint16_t)done);
        ck_assert_uint_eq(vs_vq_drv_used_idx(r.d), (uint16_t)done);
        ck_assert_uint_eq(vs_vq_dev_get_base(r.v), (uint16_t)done);
        batch = batch % 4 + 1; /* add1 takes 2 of the 8 descriptors */
    }
    ck_assert(saw_wrap);
    ck_assert_uint_eq(vs_vq_drv_num_free(r.d), 8);
    rig_fini(&r);
}
END_TEST

/* Starting right before the wrap: the device's base and the rings' indexes are set
 * directly, as after a vhost SET_VRING_BASE / migration. */
START_TEST(test_set_base_near_wrap)
{
    rig r;
    rig_init(&r, 16, 0, 0);
    ck_assert_int_eq(vs_vq_dev_set_base(r.v, 65530, &r.e), 0);
    ck_assert_uint_eq(vs_vq_dev_get_base(r.v), 65530);
    /* driver has published nothing: 0 - 65530 = 6 "available" heads (all head 0, len 0):
     * the zero descriptor is rejected */
    pop_err(&r, VS_ENOTSUP, "zero-length");
    rig_fini(&r);

    rig_init(&r, 16, 0, 0);
    ck_assert_int_eq(vs_vq_dev_set_base(r.v, 65535, &r.e), 0);
    /* avail idx 0 - 65535 = 1 ahead; desc 0 made valid by hand */
    ck_assert_int_eq(vs_gmem_st64(r.gm, r.l.desc_gpa, r.buf, &r.e), 0);
    ck_assert_int_eq(vs_gmem_st32(r.gm, r.l.desc_gpa + 8, 32, &r.e), 0);
    pop_ok(&r);
    ck_assert_uint_eq(vs_vq_dev_get_base(r.v), 0);
    ck_assert_int_eq(vs_vq_dev_pop(r.v, &r.c, &r.e), 0);
    rig_fini(&r);
}
END_TEST

/* ---------------------------------------------------------- event index rule */

static bool ref_need_event(unsigned ev, unsigned nw, unsigned old)
{
    /* Independent form of the spec rule: notify iff the entry at index `ev` was
     * written in this batch, i.e. ev lies in the half-open window [old, new) taken
     * modulo 2^16. */
    unsigned dist_new = (nw + 65536u - old) % 65536u;
    unsigned dist_ev = (ev + 65536u - old) % 65536u;
    return dist_ev < dist_new;
}

START_TEST(test_need_event_exhaustive)
{
    unsigned vals[64];
    for (unsigned k = 0; k < 64; k++)
        vals[k] = (65536u - 32u + k) % 65536u; /* 65504..65535, 0..31 */
    unsigned n_true = 0;
    for (unsigned a = 0; a < 64; a++)
        for (unsigned b = 0; b < 64; b++)
            for (unsigned c = 0; c < 64; c++) {
                bool got = vs_vq_need_event((uint16_t)vals[a], (uint16_t)vals[b],
                                            (uint16_t)vals[c]);
                bool want = ref_need_event(vals[a], vals[b], vals[c]);
                if (got != want)
                    ck_abort_msg("need_event(%u, %u, %u) = %d, spec says %d", vals[a],
                                 vals[b], vals[c], got, want);
                n_true += got;
            }
    ck_assert_uint_gt(n_true, 0);
    /* the spec's own example: used_event 0 -> notify after the first buffer */
    ck_assert(vs_vq_need_event(0, 1, 0));
    ck_assert(!vs_vq_need_event(0, 2, 1));
    ck_assert(vs_vq_need_event(0, 1, 65535)); /* "again after the 65536th" */
    ck_assert(!vs_vq_need_event(0, 0, 65535));
    ck_assert(!vs_vq_need_event(5, 5, 5));
}
END_TEST

/* --------------------------------------------------- notification suppression */

START_TEST(test_kick_no_event_idx)
{
    rig r;
    rig_init(&r, 16, 0, 0);
    ck_assert(!vs_vq_drv_kick_needed(r.d)); /* nothing published */
    add1(&r, NULL);
    ck_assert(vs_vq_drv_kick_needed(r.d));
    ck_assert(!vs_vq_drv_kick_needed(r.d)); /* window consumed */
    vs_vq_dev_notify_disable(r.v);
    add1(&r, NULL);
    ck_assert(!vs_vq_drv_kick_needed(r.d));
    ck_assert(vs_vq_dev_notify_enable(r.v)); /* 2 chains pending */
    add1(&r, NULL);
    ck_assert(vs_vq_drv_kick_needed(r.d));
    for (int k = 0; k < 3; k++)
        pop_ok(&r);
    ck_assert(!vs_vq_dev_notify_enable(r.v));
    rig_fini(&r);
}
END_TEST

START_TEST(test_kick_event_idx)
{
    rig r;
    rig_init(&r, 16, VS_VQ_F_EVENT_IDX, 0);
    uint16_t avail_event;
    uint64_t ae_gpa = r.l.device_gpa + 4 + 8 * 16;
    add1(&r, NULL);
    ck_assert(vs_vq_drv_kick_needed(r.d)); /* avail_event 0 in [0, 1) */
    add1(&r, NULL);
    ck_assert(!vs_vq_drv_kick_needed(r.d)); /* device has not moved avail_event */
    pop_ok(&r);
    pop_ok(&r);
    ck_assert_int_eq(vs_gmem_ld16(r.gm, ae_gpa, &avail_event, &r.e), 0);
    ck_assert_uint_eq(avail_event, 2);
    add1(&r, NULL);
    ck_assert(vs_vq_drv_kick_needed(r.d));
    vs_vq_dev_notify_disable(r.v);
    uint16_t flags;
    ck_assert_int_eq(vs_gmem_ld16(r.gm, r.l.device_gpa, &flags, &r.e), 0);
    ck_assert_uint_eq(flags, 0); /* EVENT_IDX: device MUST keep flags 0 */
    add1(&r, NULL);
    add1(&r, NULL);
    ck_assert(!vs_vq_drv_kick_needed(r.d));
    ck_assert(vs_vq_dev_notify_enable(r.v)); /* 3 chains pending */
    ck_assert_int_eq(vs_gmem_ld16(r.gm, ae_gpa, &avail_event, &r.e), 0);
    ck_assert_uint_eq(avail_event, 2);
    add1(&r, NULL);
    ck_assert(!vs_vq_drv_kick_needed(r.d)); /* 2 not in [5,6): device is still behind */
    for (int k = 0; k < 4; k++)
        pop_ok(&r);
    add1(&r, NULL);
    ck_assert(vs_vq_drv_kick_needed(r.d)); /* avail_event 6 in [6,7) */
    rig_fini(&r);
}
END_TEST

START_TEST(test_irq_no_event_idx)
{
    rig r;
    rig_init(&r, 16, 0, 0);
    vs_used u;
    add1(&r, NULL);
    add1(&r, NULL);
    add1(&r, NULL);
    pop_ok(&r);
    push_pub(&r, 1);
    ck_assert(vs_vq_dev_irq_needed(r.v));
    ck_assert(!vs_vq_dev_irq_needed(r.v)); /* nothing new */
    vs_vq_drv_irq_disable(r.d);
    pop_ok(&r);
    push_pub(&r, 1);
    ck_assert(!vs_vq_dev_irq_needed(r.v));
    ck_assert(vs_vq_drv_irq_enable(r.d)); /* 2 used pending */
    ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), 1);
    ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), 1);
    ck_assert(!vs_vq_drv_irq_enable(r.d));
    pop_ok(&r);
    push_pub(&r, 1);
    ck_assert(vs_vq_dev_irq_needed(r.v));
    rig_fini(&r);
}
END_TEST

START_TEST(test_irq_event_idx)
{
    rig r;
    rig_init(&r, 16, VS_VQ_F_EVENT_IDX, 0);
    vs_used u;
    for (int k = 0; k < 6; k++)
        add1(&r, NULL);
    pop_ok(&r);
    push_pub(&r, 0);
    ck_assert(vs_vq_dev_irq_needed(r.v)); /* first decision, used_event 0 in [0,1) */
    pop_ok(&r);
    push_pub(&r, 0);
    ck_assert(!vs_vq_dev_irq_needed(r.v)); /* driver has not collected: used_event 0 */
    ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), 1);
    ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), 1); /* used_event := 2 */
    uint16_t ue;
    ck_assert_int_eq(vs_gmem_ld16(r.gm, r.l.driver_gpa + 4 + 2 * 16, &ue, &r.e), 0);
    ck_assert_uint_eq(ue, 2);
    pop_ok(&r);
    push_pub(&r, 0);
    ck_assert(vs_vq_dev_irq_needed(r.v)); /* 2 in [2,3) */
    vs_vq_drv_irq_disable(r.d);
    uint16_t flags;
    ck_assert_int_eq(vs_gmem_ld16(r.gm, r.l.driver_gpa, &flags, &r.e), 0);
    ck_assert_uint_eq(flags, 0); /* EVENT_IDX: driver MUST keep flags 0 */
    ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), 1);
    pop_ok(&r);
    push_pub(&r, 0);
    ck_assert(!vs_vq_dev_irq_needed(r.v));
    ck_assert(vs_vq_drv_irq_enable(r.d)); /* one pending; used_event := 3 */
    ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), 1);
    pop_ok(&r);
    push_pub(&r, 0);
    ck_assert(vs_vq_dev_irq_needed(r.v)); /* used_event 4 in [4,5) */
    rig_fini(&r);
}
END_TEST

/* ------------------------------------------------------ driver-side validation */

START_TEST(test_collect_rejects_bogus_id)
{
    rig r;
    rig_init(&r, 16, 0, 0);
    int id = add1(&r, NULL);
    pop_ok(&r);
    /* device writes a used element with id 999 (out of range) */
    uint64_t ring = r.l.device_gpa + 4;
    ck_assert_int_eq(vs_gmem_st32(r.gm, ring, 999, &r.e), 0);
    ck_assert_int_eq(vs_gmem_st32(r.gm, ring + 4, 0, &r.e), 0);
    ck_assert_int_eq(vs_gmem_st16(r.gm, r.l.device_gpa + 2, 1, &r.e), 0);
    vs_used u;
    for (int rep = 0; rep < 2; rep++) { /* state unchanged: same error again */
        ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), -VS_EPROTO);
        ck_assert_ptr_nonnull(strstr(r.e.msg, "queue 3: used ring[0]: id 999 >= queue size 16"));
        ck_assert_ptr_nonnull(strstr(r.e.msg, "used id out of range"));
        ck_assert_uint_eq(u.id, 999); /* the caller's evidence names what the device wrote */
        ck_assert_ptr_null(u.cookie);
        ck_assert_uint_eq(vs_vq_drv_num_free(r.d), 14);
        ck_assert_uint_eq(vs_vq_drv_used_idx(r.d), 0);
    }
    /* in range but not outstanding */
    ck_assert_int_eq(vs_gmem_st32(r.gm, ring, (uint32_t)(id + 5) % 16, &r.e), 0);
    ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), -VS_EPROTO);
    ck_assert_ptr_nonnull(strstr(r.e.msg, "not the head of an outstanding chain"));
    /* used idx beyond what is outstanding */
    ck_assert_int_eq(vs_gmem_st32(r.gm, ring, (uint32_t)id, &r.e), 0);
    ck_assert_int_eq(vs_gmem_st32(r.gm, ring + 4, 512, &r.e), 0);
    ck_assert_int_eq(vs_gmem_st16(r.gm, r.l.device_gpa + 2, 2, &r.e), 0);
    ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), -VS_EPROTO);
    ck_assert_ptr_nonnull(strstr(r.e.msg, "used idx ahead"));
    /* fixed: collects fine */
    ck_assert_int_eq(vs_gmem_st16(r.gm, r.l.device_gpa + 2, 1, &r.e), 0);
    ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), 1);
    ck_assert_uint_eq(u.len, 512);
    ck_assert_uint_eq(vs_vq_drv_num_free(r.d), 16);
    /* a len beyond the writable bytes is collected as is: the monitors judge it */
    vs_seg s2[1] = {{r.buf, 64}};
    int id2 = vs_vq_drv_add(r.d, s2, 0, 1, 0, NULL, &r.e);
    ck_assert_int_ge(id2, 0);
    vs_vq_drv_publish(r.d);
    ck_assert_int_eq(vs_gmem_st32(r.gm, ring + 8, (uint32_t)id2, &r.e), 0);
    ck_assert_int_eq(vs_gmem_st32(r.gm, ring + 12, 9999, &r.e), 0);
    ck_assert_int_eq(vs_gmem_st16(r.gm, r.l.device_gpa + 2, 2, &r.e), 0);
    ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), 1);
    ck_assert_uint_eq(u.len, 9999);
    rig_fini(&r);
}
END_TEST

/* ----------------------------------------------------- device-side validation */

START_TEST(test_err_next_out_of_range)
{
    rig r;
    rig_init(&r, 16, 0, 0);
    vs_desc d[1] = {{r.buf, 8, VS_DESC_F_NEXT, 17}};
    add_raw_pub(&r, d, 1);
    pop_err(&r, VS_EPROTO, "queue 3: desc 0: next 17 >= queue size 16 (split: next out of range)");
    rig_fini(&r);
}
END_TEST

START_TEST(test_err_loop)
{
    rig r;
    rig_init(&r, 16, 0, 0);
    vs_desc d[3] = {{r.buf, 8, VS_DESC_F_NEXT, 1},
                    {r.buf, 8, VS_DESC_F_NEXT, 2},
                    {r.buf, 8, VS_DESC_F_NEXT, 1}};
    add_raw_pub(&r, d, 3);
    pop_err(&r, VS_EPROTO, "descriptor loop");
    rig_fini(&r);
}
END_TEST

START_TEST(test_err_chain_longer_than_size)
{
    rig r;
    rig_init(&r, 4, VS_VQ_F_INDIRECT, 0);
    vs_desc t[5];
    for (int k = 0; k < 5; k++)
        t[k] = (vs_desc){r.buf + 4096, 8, k < 4 ? VS_DESC_F_NEXT : 0, (uint16_t)(k + 1)};
    uint64_t tg = put_table(&r, 0, t, 5);
    vs_desc d = {tg, 5 * 16, VS_DESC_F_INDIRECT, 0};
    add_raw_pub(&r, &d, 1);
    pop_err(&r, VS_EPROTO, "chain longer than queue size");
    rig_fini(&r);
    /* direct prefix + indirect: 2 direct + 3 indirect = 5 > 4 */
    rig_init(&r, 4, VS_VQ_F_INDIRECT, 0);
    for (int k = 0; k < 3; k++)
        t[k] = (vs_desc){r.buf + 4096, 8, k < 2 ? VS_DESC_F_NEXT : 0, (uint16_t)(k + 1)};
    tg = put_table(&r, 0, t, 3);
    vs_desc dd[3] = {{r.buf + 4096, 8, VS_DESC_F_NEXT, 1},
                     {r.buf + 4096, 8, VS_DESC_F_NEXT, 2},
                     {tg, 3 * 16, VS_DESC_F_INDIRECT, 0}};
    add_raw_pub(&r, dd, 3);
    pop_err(&r, VS_EPROTO, "chain longer than queue size");
    rig_fini(&r);
}
END_TEST

START_TEST(test_err_indirect_not_negotiated)
{
    rig r;
    /* driver side allowed (fault injection), device did not negotiate */
    rig_init2(&r, 16, VS_VQ_F_INDIRECT, 0, 0, 0);
    vs_seg s = seg_at(&r, 0, 8);
    ck_assert_int_ge(vs_vq_drv_add(r.d, &s, 1, 0, VS_ADD_INDIRECT, NULL, &r.e), 0);
    vs_vq_drv_publish(r.d);
    pop_err(&r, VS_EPROTO, "(split: INDIRECT not negotiated)");
    rig_fini(&r);
}
END_TEST

START_TEST(test_err_indirect_with_next)
{
    rig r;
    rig_init(&r, 16, VS_VQ_F_INDIRECT, 0);
    vs_desc t = {r.buf + 4096, 8, 0, 0};
    uint64_t tg = put_table(&r, 0, &t, 1);
    vs_desc d[2] = {{tg, 16, VS_DESC_F_INDIRECT | VS_DESC_F_NEXT, 1}, {r.buf, 8, 0, 0}};
    add_raw_pub(&r, d, 2);
    pop_err(&r, VS_EPROTO, "INDIRECT and NEXT both set (split: INDIRECT with NEXT)");
    rig_fini(&r);
}
END_TEST

START_TEST(test_err_nested_indirect)
{
    rig r;
    rig_init(&r, 16, VS_VQ_F_INDIRECT, 0);
    vs_desc inner = {r.buf + 4096, 8, 0, 0};
    uint64_t ig = put_table(&r, 512, &inner, 1);
    vs_desc t[2] = {{r.buf + 4096, 8, VS_DESC_F_NEXT, 1}, {ig, 16, VS_DESC_F_INDIRECT, 0}};
    uint64_t tg = put_table(&r, 0, t, 2);
    vs_desc d = {tg, 32, VS_DESC_F_INDIRECT, 0};
    int id = vs_vq_drv_add_raw(r.d, &d, 1, NULL, &r.e);
    vs_vq_drv_publish(r.d);
    char want[96];
    snprintf(want, sizeof want, "queue 3: desc %d: indirect entry 1: INDIRECT descriptor inside", id);
    pop_err(&r, VS_EPROTO, want);
    ck_assert_msg(strstr(r.e.msg, "(split: nested indirect)") != NULL, "%s", r.e.msg);
    rig_fini(&r);
}
END_TEST

static void indirect_len_case(uint64_t addr_off_or_abs, bool absolute, uint32_t len,
                              const char *substr)
{
    rig r;
    rig_init(&r, 16, VS_VQ_F_INDIRECT, 0);
    vs_desc d = {absolute ? addr_off_or_abs : r.buf + addr_off_or_abs, len,
                 VS_DESC_F_INDIRECT, 0};
    add_raw_pub(&r, &d, 1);
    pop_err(&r, VS_EPROTO, substr);
    rig_fini(&r);
}

START_TEST(test_err_indirect_table)
{
    indirect_len_case(0, false, 0, "len 0 is not a non-zero multiple of 16 (split: indirect table length)");
    indirect_len_case(0, false, 24, "len 24 is not a non-zero multiple of 16");
    indirect_len_case(GMEM_BYTES - 16, true, 32, "(split: indirect table outside guest memory)");
    indirect_len_case(1ull << 40, true, 16, "indirect table outside guest memory");
    indirect_len_case(UINT64_MAX - 15, true, 32, "(split: address wrap)");
}
END_TEST

START_TEST(test_err_indirect_next_and_loop)
{
    rig r;
    rig_init(&r, 16, VS_VQ_F_INDIRECT, 0);
    vs_desc t[2] = {{r.buf + 4096, 8, VS_DESC_F_NEXT, 1}, {r.buf + 4096, 8, VS_DESC_F_NEXT, 2}};
    uint64_t tg = put_table(&r, 0, t, 2);
    vs_desc d = {tg, 32, VS_DESC_F_INDIRECT, 0};
    add_raw_pub(&r, &d, 1);
    pop_err(&r, VS_EPROTO, "indirect entry 1: next 2 >= indirect table entries 2 (split: next out of range)");
    rig_fini(&r);
    rig_init(&r, 16, VS_VQ_F_INDIRECT, 0);
    t[1].next = 0;
    tg = put_table(&r, 0, t, 2);
    d.addr = tg;
    add_raw_pub(&r, &d, 1);
    pop_err(&r, VS_EPROTO, "(split: indirect descriptor loop)");
    rig_fini(&r);
}
END_TEST

START_TEST(test_err_write_then_read)
{
    rig r;
    rig_init(&r, 16, 0, 0);
    vs_desc d[3] = {{r.buf, 8, VS_DESC_F_NEXT, 1},
                    {r.buf + 64, 8, VS_DESC_F_NEXT | VS_DESC_F_WRITE, 2},
                    {r.buf + 128, 8, 0, 0}};
    add_raw_pub(&r, d, 3);
    pop_err(&r, VS_EPROTO, "readable descriptor after a device-writable one (split: readable after writable)");
    rig_fini(&r);
    /* the same inside an indirect table */
    rig_init(&r, 16, VS_VQ_F_INDIRECT, 0);
    vs_desc t[2] = {{r.buf + 4096, 8, VS_DESC_F_NEXT | VS_DESC_F_WRITE, 1}, {r.buf + 4096, 8, 0, 0}};
    uint64_t tg = put_table(&r, 0, t, 2);
    vs_desc dd = {tg, 32, VS_DESC_F_INDIRECT, 0};
    add_raw_pub(&r, &dd, 1);
    pop_err(&r, VS_EPROTO, "indirect entry 1: device-readable descriptor after");
    rig_fini(&r);
}
END_TEST

START_TEST(test_err_buffer_outside_memory)
{
    rig r;
    rig_init(&r, 16, 0, 0);
    vs_desc d[2] = {{r.buf, 8, VS_DESC_F_NEXT, 1}, {GMEM_BYTES - 4, 8, VS_DESC_F_WRITE, 0}};
    add_raw_pub(&r, d, 2);
    pop_err(&r, VS_EPROTO, "is not writable guest memory (split: buffer outside guest memory)");
    rig_fini(&r);
    rig_init(&r, 16, 0, 0);
    vs_desc d2 = {1ull << 44, 4096, 0, 0};
    add_raw_pub(&r, &d2, 1);
    pop_err(&r, VS_EPROTO, "not readable guest memory");
    rig_fini(&r);
}
END_TEST

START_TEST(test_err_addr_wrap)
{
    rig r;
    rig_init(&r, 16, 0, 0);
    vs_desc d = {UINT64_MAX - 10, 100, 0, 0};
    add_raw_pub(&r, &d, 1);
    pop_err(&r, VS_EPROTO, "wraps the 64-bit address space (split: address wrap)");
    rig_fini(&r);
}
END_TEST

START_TEST(test_err_zero_length)
{
    rig r;
    rig_init(&r, 16, 0, 0);
    vs_desc d[2] = {{r.buf, 8, VS_DESC_F_NEXT, 1}, {r.buf, 0, VS_DESC_F_WRITE, 0}};
    add_raw_pub(&r, d, 2);
    pop_err(&r, VS_ENOTSUP, "has length 0 (device policy: zero-length descriptor)");
    rig_fini(&r);
}
END_TEST

START_TEST(test_err_avail_jump)
{
    rig r;
    rig_init(&r, 16, 0, 0);
    add1(&r, NULL);
    ck_assert_int_eq(vs_gmem_st16(r.gm, r.l.driver_gpa + 2, 17, &r.e), 0);
    pop_err(&r, VS_EPROTO, "queue 3: avail idx 17 is 17 ahead of last_avail_idx 0, more than queue size 16 (split: avail idx jump)");
    rig_fini(&r);
    /* exactly size ahead is fine (full ring) */
    rig_init(&r, 16, 0, 0);
    vs_seg one = seg_at(&r, 0, 8);
    for (int k = 0; k < 16; k++)
        ck_assert_int_ge(vs_vq_drv_add(r.d, &one, 1, 0, 0, NULL, &r.e), 0);
    vs_vq_drv_publish(r.d);
    for (int k = 0; k < 16; k++)
        pop_ok(&r);
    rig_fini(&r);
}
END_TEST

START_TEST(test_err_head_out_of_range)
{
    rig r;
    rig_init(&r, 16, 0, 0);
    add1(&r, NULL);
    ck_assert_int_eq(vs_gmem_st16(r.gm, r.l.driver_gpa + 4, 16, &r.e), 0);
    pop_err(&r, VS_EPROTO, "head 16 >= queue size 16 (split: head out of range)");
    rig_fini(&r);
}
END_TEST

START_TEST(test_seg_cap_not_fatal)
{
    rig r;
    rig_init(&r, 16, 0, 0);
    vs_seg s[4] = {seg_at(&r, 0, 8), seg_at(&r, 64, 8), seg_at(&r, 128, 8), seg_at(&r, 192, 8)};
    ck_assert_int_ge(vs_vq_drv_add(r.d, s, 2, 2, 0, NULL, &r.e), 0);
    vs_vq_drv_publish(r.d);
    r.c.seg_cap = 3;
    pop_err(&r, VS_ENOSPC, "(device limit: segments)");
    ck_assert(!vs_vq_dev_broken(r.v));
    ck_assert_uint_eq(vs_vq_dev_get_base(r.v), 0);
    r.c.seg_cap = 4;
    pop_ok(&r);
    ck_assert_uint_eq(r.c.nseg, 4);
    rig_fini(&r);
}
END_TEST

/* Spec-legal shapes that must be accepted. */
START_TEST(test_accept_direct_then_indirect)
{
    rig r;
    rig_init(&r, 16, VS_VQ_F_INDIRECT, 0);
    vs_desc t[2] = {{r.buf + 4096, 100, VS_DESC_F_NEXT, 1}, {r.buf + 8192, 50, VS_DESC_F_WRITE, 0}};
    uint64_t tg = put_table(&r, 0, t, 2);
    /* WRITE on the INDIRECT descriptor must be ignored (2.7.5.3.2) */
    vs_desc d[2] = {{r.buf + 512, 10, VS_DESC_F_NEXT, 1},
                    {tg, 32, VS_DESC_F_INDIRECT | VS_DESC_F_WRITE, 0}};
    int id = vs_vq_drv_add_raw(r.d, d, 2, (void *)7, &r.e);
    ck_assert_int_ge(id, 0);
    vs_vq_drv_publish(r.d);
    pop_ok(&r);
    ck_assert(r.c.indirect);
    ck_assert_uint_eq(r.c.ndesc, 2);
    ck_assert_uint_eq(r.c.nseg, 3);
    ck_assert_uint_eq(r.c.n_out, 2);
    ck_assert_uint_eq(r.c.out_bytes, 110);
    ck_assert_uint_eq(r.c.in_bytes, 50);
    push_pub(&r, 50);
    vs_used u;
    ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), 1);
    ck_assert_ptr_eq(u.cookie, (void *)7);
    ck_assert_uint_eq(vs_vq_drv_num_free(r.d), 16);
    rig_fini(&r);
}
END_TEST

/* A buffer spanning two adjacent regions is valid memory, but has no single host
 * pointer. */
START_TEST(test_buffer_spanning_regions)
{
    vs_gmem *gm;
    vs_err e;
    ck_assert_int_eq(vs_gmem_create(&gm, 1u << 20, "span", &e), 0);
    ck_assert_int_eq(vs_gmem_add_region(gm, 0, 512u << 10, 0, 0, &e), 0);
    ck_assert_int_eq(vs_gmem_add_region(gm, 512u << 10, 512u << 10, 512u << 10, 0, &e), 0);
    vs_vq_layout l;
    ck_assert_int_eq(vs_vq_layout_alloc(gm, VS_RING_SPLIT, 8, &l, &e), 0);
    vs_vq_drv *d;
    vs_vq_dev *v;
    ck_assert_int_eq(vs_vq_drv_create(&d, gm, &l, NULL, &e), 0);
    ck_assert_int_eq(vs_vq_dev_create(&v, gm, &l, NULL, &e), 0);
    vs_seg s = {(512u << 10) - 8, 16};
    ck_assert_int_ge(vs_vq_drv_add(d, &s, 1, 0, 0, NULL, &e), 0);
    vs_vq_drv_publish(d);
    vs_dseg ds[2];
    vs_chain c = {.seg = ds, .seg_cap = 2};
    int rc = vs_vq_dev_pop(v, &c, &e);
    ck_assert_msg(rc == 1, "pop: %s", e.msg);
    ck_assert_ptr_null(ds[0].host);
    ck_assert_uint_eq(ds[0].len, 16);
    vs_vq_drv_destroy(d);
    vs_vq_dev_destroy(v);
    vs_gmem_destroy(gm);
}
END_TEST

/* --------------------------------------------------------------- device misc */

START_TEST(test_push_errors)
{
    rig r;
    rig_init(&r, 16, 0, 0);
    add1(&r, NULL);
    pop_ok(&r);
    ck_assert_int_eq(vs_vq_dev_push(r.v, &r.c, 513, &r.e), -VS_EINVAL); /* > writable */
    ck_assert_int_eq(vs_vq_dev_push(r.v, NULL, 0, &r.e), -VS_EINVAL);
    vs_chain bad = r.c;
    bad.id = 16;
    ck_assert_int_eq(vs_vq_dev_push(r.v, &bad, 0, &r.e), -VS_EINVAL);
    ck_assert_int_eq(vs_vq_dev_push(r.v, &r.c, 512, &r.e), 0);
    ck_assert_int_eq(vs_vq_dev_push(r.v, &r.c, 512, &r.e), -VS_ESTATE); /* nothing in flight */
    rig_fini(&r);
}
END_TEST

/* ------------------------------------------------------------------ mutations */

static void mutant_setup(rig *r, uint32_t mut)
{
    rig_init(r, 16, 0, mut);
    add1(r, (void *)1);
    add1(r, (void *)2);
    pop_ok(r);
    push_pub(r, 100);
}

START_TEST(test_mutations)
{
    rig r;
    vs_used u;
    /* The over-long len reaches the driver as is: the monitors judge it. */
    mutant_setup(&r, VS_VQ_MUT_USED_LEN_TOO_LONG);
    ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), 1);
    ck_assert_uint_eq(u.len, 513);
    rig_fini(&r);

    mutant_setup(&r, VS_VQ_MUT_USED_BAD_ID);
    ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), -VS_EPROTO);
    ck_assert_ptr_nonnull(strstr(r.e.msg, "id 1 is not the head of an outstanding chain"));
    rig_fini(&r);

    mutant_setup(&r, VS_VQ_MUT_DOUBLE_COMPLETE);
    ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), 1);
    ck_assert_ptr_eq(u.cookie, (void *)1);
    ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), -VS_EPROTO);
    ck_assert_ptr_nonnull(strstr(r.e.msg, "not the head of an outstanding chain"));
    rig_fini(&r);

    /* used idx 2 for one element; slot 1 is still zero (id 0 = the element just
     * collected) and only one chain remains outstanding after the first collect */
    mutant_setup(&r, VS_VQ_MUT_SKIP_USED_IDX);
    ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), 1);
    ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), -VS_EPROTO);
    ck_assert_ptr_nonnull(strstr(r.e.msg, "not the head of an outstanding chain"));
    rig_fini(&r);

    mutant_setup(&r, VS_VQ_MUT_IRQ_WHEN_SUPPRESSED);
    ck_assert(vs_vq_dev_irq_needed(r.v));
    vs_vq_drv_irq_disable(r.d);
    pop_ok(&r);
    push_pub(&r, 1);
    ck_assert(vs_vq_dev_irq_needed(r.v)); /* the mutant ignores NO_INTERRUPT */
    rig_fini(&r);

    /* the non-mutant respects it */
    mutant_setup(&r, 0);
    ck_assert(vs_vq_dev_irq_needed(r.v));
    vs_vq_drv_irq_disable(r.d);
    pop_ok(&r);
    push_pub(&r, 1);
    ck_assert(!vs_vq_dev_irq_needed(r.v));
    rig_fini(&r);
}
END_TEST

/* ----------------------------------------------------------- randomized */

static uint64_t rng_state;
static uint32_t rnd(uint32_t n) /* xorshift64*, uniform enough for shapes */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 33) % n;
}

typedef struct pending {
    vs_chain c;
    vs_dseg segs[8];
} pending;

typedef struct expect {
    bool live;
    uint32_t out_bytes, in_bytes;
    unsigned nseg, n_out;
} expect;

static void random_case(uint32_t size, uint32_t feat)
{
    rig r;
    rig_init(&r, size, feat, 0);
    rng_state = 0x9E3779B97F4A7C15ull ^ size;
    expect *ex = calloc(65536, sizeof *ex); /* keyed by cookie serial */
    pending *pend = calloc(size + 1, sizeof *pend);
    uint32_t npend = 0, serial = 0, completed = 0;
    for (int step = 0; step < 40000; step++) {
        uint32_t op = rnd(4);
        if (op < 2) { /* add up to 3 chains */
            uint32_t k = 1 + rnd(3);
            for (uint32_t j = 0; j < k; j++) {
                unsigned n = 1 + rnd(8), n_out = rnd(n + 1);
                vs_seg s[8];
                uint32_t ob = 0, ib = 0;
                for (unsigned q = 0; q < n; q++) {
                    s[q] = seg_at(&r, 4096ull * rnd(200) + rnd(64), 1 + rnd(3000));
                    if (q < n_out)
                        ob += s[q].len;
                    else
                        ib += s[q].len;
                }
                unsigned fl = (feat & VS_VQ_F_INDIRECT) && rnd(2) ? VS_ADD_INDIRECT : 0;
                uint32_t ser = (serial++ % 65535) + 1;
                int id = vs_vq_drv_add(r.d, s, n_out, n - n_out, fl,
                                       (void *)(uintptr_t)ser, &r.e);
                if (id == -VS_ENOSPC || (id == -VS_EINVAL && n > size)) {
                    serial--;
                    continue;
                }
                ck_assert_msg(id >= 0, "add: %s", r.e.msg);
                ck_assert(!ex[ser].live);
                ex[ser] = (expect){true, ob, ib, n, n_out};
            }
            vs_vq_drv_publish(r.d);
            (void)vs_vq_drv_kick_needed(r.d);
        } else if (op == 2) { /* device pops everything available */
            for (;;) {
                pending *p = &pend[npend];
                p->c.seg = p->segs;
                p->c.seg_cap = 8;
                int rc = vs_vq_dev_pop(r.v, &p->c, &r.e);
                ck_assert_msg(rc >= 0, "pop: %s", r.e.msg);
                if (rc == 0)
                    break;
                npend++;
                ck_assert_uint_le(npend, size);
            }
        } else if (npend) { /* device completes a random subset in random order */
            uint32_t k = 1 + rnd(npend);
            for (uint32_t j = 0; j < k; j++) {
                uint32_t pick = rnd(npend);
                pending tmp = pend[pick];
                pend[pick] = pend[npend - 1];
                npend--;
                uint32_t w = tmp.c.in_bytes ? rnd((uint32_t)tmp.c.in_bytes + 1) : 0;
                ck_assert_int_eq(vs_vq_dev_push(r.v, &tmp.c, w, &r.e), 0);
                /* remember what we wrote to check at collect: len lives in the ring */
            }
            vs_vq_dev_publish(r.v);
            (void)vs_vq_dev_irq_needed(r.v);
            vs_used u;
            int rc;
            while ((rc = vs_vq_drv_collect(r.d, &u, &r.e)) == 1) {
                uint32_t ser = (uint32_t)(uintptr_t)u.cookie;
                ck_assert(ex[ser].live);
                ck_assert_uint_le(u.len, ex[ser].in_bytes);
                ex[ser].live = false;
                completed++;
            }
            ck_assert_msg(rc == 0, "collect: %s", r.e.msg);
        }
    }
    /* drain */
    for (;;) {
        pending *p = &pend[npend];
        p->c.seg = p->segs;
        p->c.seg_cap = 8;
        int rc = vs_vq_dev_pop(r.v, &p->c, &r.e);
        ck_assert_int_ge(rc, 0);
        if (!rc)
            break;
        npend++;
    }
    while (npend) {
        npend--;
        ck_assert_int_eq(vs_vq_dev_push(r.v, &pend[npend].c, 0, &r.e), 0);
    }
    vs_vq_dev_publish(r.v);
    vs_used u;
    while (vs_vq_drv_collect(r.d, &u, &r.e) == 1) {
        ex[(uintptr_t)u.cookie].live = false;
        completed++;
    }
    for (uint32_t k = 0; k < 65536; k++)
        ck_assert(!ex[k].live);
    ck_assert_uint_gt(completed, 1000);
    ck_assert_uint_eq(vs_vq_drv_num_free(r.d), size);
    ck_assert_uint_eq(vs_vq_drv_outstanding(r.d), 0);
    free(ex);
    free(pend);
    rig_fini(&r);
}

/* Pop checks the shape it got against what the driver added: done via the segments'
 * byte counts in random_case_shapes. */
static void random_shapes(uint32_t size, uint32_t feat)
{
    rig r;
    rig_init(&r, size, feat, 0);
    rng_state = 12345;
    for (int it = 0; it < 5000; it++) {
        unsigned n = 1 + rnd(8), n_out = rnd(n + 1);
        vs_seg s[8];
        for (unsigned q = 0; q < n; q++)
            s[q] = seg_at(&r, 4096ull * rnd(200), 1 + rnd(3000));
        unsigned fl = (feat & VS_VQ_F_INDIRECT) && rnd(2) ? VS_ADD_INDIRECT : 0;
        int id = vs_vq_drv_add(r.d, s, n_out, n - n_out, fl, (void *)(uintptr_t)(it + 1), &r.e);
        if (n > size) {
            ck_assert_int_eq(id, -VS_EINVAL);
            continue;
        }
        ck_assert_msg(id >= 0, "add: %s", r.e.msg);
        vs_vq_drv_publish(r.d);
        pop_ok(&r);
        ck_assert_uint_eq(r.c.nseg, n);
        ck_assert_uint_eq(r.c.n_out, n_out);
        ck_assert_int_eq(r.c.indirect, fl != 0);
        ck_assert_uint_eq(r.c.ndesc, fl ? 1 : n);
        for (unsigned q = 0; q < n; q++) {
            ck_assert_uint_eq(r.segs[q].gpa, s[q].gpa);
            ck_assert_uint_eq(r.segs[q].len, s[q].len);
            ck_assert_int_eq(r.segs[q].write, q >= n_out);
        }
        uint32_t w = r.c.in_bytes ? rnd((uint32_t)r.c.in_bytes + 1) : 0;
        push_pub(&r, w);
        vs_used u;
        ck_assert_int_eq(vs_vq_drv_collect(r.d, &u, &r.e), 1);
        ck_assert_uint_eq(u.len, w);
        ck_assert_uint_eq(u.id, (unsigned)id);
        ck_assert_ptr_eq(u.cookie, (void *)(uintptr_t)(it + 1));
    }
    ck_assert_uint_eq(vs_vq_drv_num_free(r.d), size);
    rig_fini(&r);
}

START_TEST(test_random_roundtrips)
{
    random_case(64, VS_VQ_F_INDIRECT | VS_VQ_F_EVENT_IDX);
    random_case(16, VS_VQ_F_INDIRECT);
    random_case(8, 0);
    random_shapes(4, VS_VQ_F_INDIRECT);
    random_shapes(256, VS_VQ_F_INDIRECT | VS_VQ_F_EVENT_IDX);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ring_split");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_roundtrip_direct);
    tcase_add_test(tc, test_roundtrip_indirect);
    tcase_add_test(tc, test_indirect_limits_driver);
    tcase_add_test(tc, test_ring_full_and_bad_add);
    tcase_add_test(tc, test_sizes);
    tcase_add_test(tc, test_index_wrap);
    tcase_add_test(tc, test_set_base_near_wrap);
    tcase_add_test(tc, test_need_event_exhaustive);
    tcase_add_test(tc, test_kick_no_event_idx);
    tcase_add_test(tc, test_kick_event_idx);
    tcase_add_test(tc, test_irq_no_event_idx);
    tcase_add_test(tc, test_irq_event_idx);
    tcase_add_test(tc, test_collect_rejects_bogus_id);
    tcase_add_test(tc, test_err_next_out_of_range);
    tcase_add_test(tc, test_err_loop);
    tcase_add_test(tc, test_err_chain_longer_than_size);
    tcase_add_test(tc, test_err_indirect_not_negotiated);
    tcase_add_test(tc, test_err_indirect_with_next);
    tcase_add_test(tc, test_err_nested_indirect);
    tcase_add_test(tc, test_err_indirect_table);
    tcase_add_test(tc, test_err_indirect_next_and_loop);
    tcase_add_test(tc, test_err_write_then_read);
    tcase_add_test(tc, test_err_buffer_outside_memory);
    tcase_add_test(tc, test_err_addr_wrap);
    tcase_add_test(tc, test_err_zero_length);
    tcase_add_test(tc, test_err_avail_jump);
    tcase_add_test(tc, test_err_head_out_of_range);
    tcase_add_test(tc, test_seg_cap_not_fatal);
    tcase_add_test(tc, test_accept_direct_then_indirect);
    tcase_add_test(tc, test_buffer_spanning_regions);
    tcase_add_test(tc, test_push_errors);
    tcase_add_test(tc, test_mutations);
    tcase_add_test(tc, test_random_roundtrips);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
