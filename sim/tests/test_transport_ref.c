/* The in-process ref transport against a tiny fake device, driven through driver-side
 * rings from model/ring. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtiosim/blk.h"
#include "virtiosim/device.h"
#include "virtiosim/event.h"
#include "virtiosim/gmem.h"
#include "virtiosim/sim.h"
#include "virtiosim/trace.h"
#include "virtiosim/transport_ref.h"
#include "virtiosim/virtio.h"
#include "virtiosim/vring.h"

/* ------------------------------------------------------------------ fake device
 * Echo device: one readable 16-byte header (byte 0 = fill value, 0xEE = "cannot parse"
 * -> handle error), then writable buffers it fills completely; used len = in_bytes. */

#define FAKE_NQ 2
#define FAKE_QMAX 16

typedef struct fake_dev {
    vs_device base;
    uint64_t offered;
    bool refuse;
    int resets;
    int handled;
    uint64_t accepted;
} fake_dev;

static uint64_t fake_features(vs_device *d)
{
    return ((fake_dev *)d)->offered;
}

static int fake_accept(vs_device *d, uint64_t f, vs_err *e)
{
    fake_dev *fd = (fake_dev *)d;
    if (fd->refuse || (f & ~fd->offered))
        return vs_err_set(e, VS_ENOTSUP, "fake: refusing features 0x%llx",
                          (unsigned long long)f);
    fd->accepted = f;
    return 0;
}

static uint32_t fake_config_size(vs_device *d)
{
    (void)d;
    return 8;
}

static int fake_config_read(vs_device *d, uint32_t off, void *buf, uint32_t len, vs_err *e)
{
    (void)d;
    if (off + len > 8)
        return vs_err_set(e, VS_ERANGE, "fake: config read out of range");
    for (uint32_t i = 0; i < len; i++)
        ((uint8_t *)buf)[i] = (uint8_t)(0xa0 + off + i);
    return 0;
}

static uint16_t fake_nq(vs_device *d)
{
    (void)d;
    return FAKE_NQ;
}

static uint32_t fake_qmax(vs_device *d, uint16_t q)
{
    (void)d;
    (void)q;
    return FAKE_QMAX;
}

static int fake_handle(vs_device *d, uint16_t q, const vs_chain *c, uint32_t *written,
                       vs_err *e)
{
    fake_dev *fd = (fake_dev *)d;
    fd->handled++;
    if (c->n_out < 1 || c->seg[0].len < 1)
        return vs_err_set(e, VS_EPROTO, "queue %u: fake: no header", q);
    uint8_t fill;
    int rc = vs_gmem_ld8(d->gm, c->seg[0].gpa, &fill, e);
    if (rc < 0)
        return rc;
    if (fill == 0xEE)
        return vs_err_set(e, VS_EPROTO, "queue %u: fake: cannot parse request \"%u\"", q,
                          c->id);
    for (uint32_t i = c->n_out; i < c->nseg; i++) {
        rc = vs_gmem_fill(d->gm, c->seg[i].gpa, fill, c->seg[i].len, e);
        if (rc < 0)
            return rc;
    }
    *written = (uint32_t)c->in_bytes;
    return 0;
}

static void fake_reset(vs_device *d)
{
    ((fake_dev *)d)->resets++;
    d->driver_features = 0;
}

static const vs_device_ops fake_ops = {
    .name = "fake",
    .device_id = 99,
    .device_features = fake_features,
    .accept_features = fake_accept,
    .config_size = fake_config_size,
    .config_read = fake_config_read,
    .num_queues = fake_nq,
    .queue_max_size = fake_qmax,
    .handle = fake_handle,
    .reset = fake_reset,
};

/* ------------------------------------------------------------------ fixture */

typedef struct fx {
    vs_engine *eng;
    vs_gmem *gm;
    fake_dev dev;
    vs_transport *t;
    vs_event_bus bus;
    vs_trace *trace;
    vs_vq_layout lay[FAKE_NQ];
    vs_vq_drv *dq[FAKE_NQ];
    uint64_t hdr[64], buf[64];
    unsigned counts[VS_EV_KIND_COUNT];
    int irq_log[256];
    int nirq;
    uint32_t fetch_ids[256];
    unsigned nfetch;
    uint64_t last_doorbell_n;
    char last_error[VS_ERR_MSG_MAX];
    uint64_t last_irq_vec;
} fx;

static void count_sink(void *opaque, const vs_event *ev)
{
    fx *f = opaque;
    if ((unsigned)ev->kind < VS_EV_KIND_COUNT)
        f->counts[ev->kind]++;
    if (ev->kind == VS_EV_FETCH && f->nfetch < 256)
        f->fetch_ids[f->nfetch++] = ev->id;
    if (ev->kind == VS_EV_DOORBELL)
        f->last_doorbell_n = ev->val;
    if (ev->kind == VS_EV_IRQ)
        f->last_irq_vec = ev->val;
    if (ev->kind == VS_EV_DEVICE_ERROR)
        snprintf(f->last_error, sizeof f->last_error, "%s", ev->text ? ev->text : "");
}

static void on_irq(void *opaque, int queue)
{
    fx *f = opaque;
    if (f->nirq < 256)
        f->irq_log[f->nirq] = queue;
    f->nirq++;
}

#define OK(call)                                                                         \
    do {                                                                                 \
        vs_err e_ = {0};                                                                 \
        int rc_ = (call);                                                                \
        (void)e_;                                                                        \
        ck_assert_msg(rc_ >= 0, "%s -> %d", #call, rc_);                                 \
    } while (0)

static void fx_init(fx *f, uint64_t seed, const vs_ref_opts *o)
{
    memset(f, 0, sizeof *f);
    vs_err e = {0};
    ck_assert_int_eq(vs_engine_create(&f->eng, seed, &e), 0);
    ck_assert_msg(vs_gmem_create_flat(&f->gm, 4u << 20, &e) == 0, "%s", e.msg);
    f->dev.base.ops = &fake_ops;
    f->dev.base.gm = f->gm;
    f->dev.offered = VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_F_EVENT_IDX) | VS_BIT(VS_F_INDIRECT_DESC);
    ck_assert_int_eq(vs_event_bus_add(&f->bus, count_sink, f), 0);
    ck_assert_int_eq(vs_trace_create(&f->trace, NULL, &e), 0);
    ck_assert_int_eq(vs_trace_attach(f->trace, &f->bus, &e), 0);
    ck_assert_msg(vs_ref_transport_create(&f->t, f->eng, &f->dev.base, f->gm, o, &f->bus, &e) ==
                      0,
                  "%s", e.msg);
    f->t->irq_fn = on_irq;
    f->t->irq_opaque = f;
    for (int i = 0; i < 64; i++) {
        ck_assert_int_eq(vs_gmem_alloc(f->gm, 16, 16, &f->hdr[i], &e), 0);
        ck_assert_int_eq(vs_gmem_alloc(f->gm, 4096, 16, &f->buf[i], &e), 0);
    }
}

static void fx_free(fx *f)
{
    for (int i = 0; i < FAKE_NQ; i++)
        if (f->dq[i])
            vs_vq_drv_destroy(f->dq[i]);
    f->t->ops->destroy(f->t);
    vs_trace_destroy(f->trace);
    vs_gmem_destroy(f->gm);
    vs_engine_destroy(f->eng);
}

/* Negotiates `features`, sets up queue 0 (and 1 if two_queues); DRIVER_OK if driver_ok. */
static void fx_bring_up(fx *f, uint64_t features, bool driver_ok)
{
    vs_err e = {0};
    vs_transport *t = f->t;
    OK(t->ops->set_status(t, 0, &e));
    OK(t->ops->set_status(t, VS_STATUS_ACKNOWLEDGE, &e));
    OK(t->ops->set_status(t, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER, &e));
    OK(t->ops->set_driver_features(t, features, &e));
    OK(t->ops->set_status(t, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK,
                          &e));
    uint8_t st;
    OK(t->ops->get_status(t, &st, &e));
    ck_assert(st & VS_STATUS_FEATURES_OK);
    for (uint16_t q = 0; q < FAKE_NQ; q++) {
        if (f->dq[q]) {
            vs_vq_drv_destroy(f->dq[q]);
            vs_vq_layout_free(f->gm, &f->lay[q], NULL);
            f->dq[q] = NULL;
        }
        ck_assert_msg(vs_vq_layout_alloc(f->gm, VS_RING_SPLIT, FAKE_QMAX, &f->lay[q], &e) == 0,
                      "%s", e.msg);
        vs_vq_drv_opts o = {
            .queue_index = q,
            .features = ((features & VS_BIT(VS_F_EVENT_IDX)) ? VS_VQ_F_EVENT_IDX : 0u) |
                        ((features & VS_BIT(VS_F_INDIRECT_DESC)) ? VS_VQ_F_INDIRECT : 0u),
        };
        ck_assert_msg(vs_vq_drv_create(&f->dq[q], f->gm, &f->lay[q], &o, &e) == 0, "%s", e.msg);
        ck_assert_msg(t->ops->queue_setup(t, q, &f->lay[q], &e) == 0, "%s", e.msg);
    }
    if (driver_ok)
        OK(t->ops->set_status(t, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER |
                                     VS_STATUS_FEATURES_OK | VS_STATUS_DRIVER_OK,
                              &e));
}

#define FEAT_BASIC (VS_BIT(VS_F_VERSION_1))

/* Adds request i (header fill byte `fill`, one writable buffer of len) and publishes. */
static int fx_add(fx *f, uint16_t q, int i, uint8_t fill, uint32_t len)
{
    vs_err e = {0};
    ck_assert_int_eq(vs_gmem_st8(f->gm, f->hdr[i], fill, &e), 0);
    vs_seg segs[2] = {{f->hdr[i], 16}, {f->buf[i], len}};
    int id = vs_vq_drv_add(f->dq[q], segs, 1, 1, 0, (void *)(intptr_t)(i + 1), &e);
    ck_assert_msg(id >= 0, "%s", e.msg);
    vs_vq_drv_publish(f->dq[q]);
    return id;
}

static void fx_notify(fx *f, uint16_t q)
{
    vs_err e = {0};
    ck_assert_int_eq(f->t->ops->notify(f->t, q, &e), 0);
}

/* Collects everything used on q into cookies[]; returns the count. */
static int fx_collect(fx *f, uint16_t q, int *cookies, int max)
{
    int n = 0;
    vs_used u;
    vs_err e = {0};
    int rc;
    while ((rc = vs_vq_drv_collect(f->dq[q], &u, &e)) == 1) {
        if (n < max)
            cookies[n] = (int)(intptr_t)u.cookie;
        n++;
    }
    ck_assert_msg(rc == 0, "collect: %s", e.msg);
    return n;
}

static uint8_t fx_status(fx *f)
{
    uint8_t st = 0;
    ck_assert_int_eq(f->t->ops->get_status(f->t, &st, NULL), 0);
    return st;
}

/* ------------------------------------------------------------------ tests */

START_TEST(doorbell_coalescing)
{
    fx f;
    fx_init(&f, 1, NULL); /* doorbell latency 1000 ns */
    fx_bring_up(&f, FEAT_BASIC, true);
    for (int i = 0; i < 3; i++) {
        fx_add(&f, 0, i, 0x11, 64);
        fx_notify(&f, 0);
        vs_engine_run_until(f.eng, vs_engine_now(f.eng) + 100); /* all before the latency */
    }
    vs_engine_run_until(f.eng, 5000);
    ck_assert_uint_eq(f.counts[VS_EV_DOORBELL], 1);
    ck_assert_uint_eq(f.last_doorbell_n, 3);
    ck_assert_uint_eq(f.counts[VS_EV_FETCH], 3);
    ck_assert_uint_eq(vs_ref_inflight(f.t, 0), 3);
    /* After the wake-up a new notify schedules a new one. */
    fx_add(&f, 0, 3, 0x11, 64);
    fx_notify(&f, 0);
    vs_engine_run_until(f.eng, 7000);
    ck_assert_uint_eq(f.counts[VS_EV_DOORBELL], 2);
    ck_assert_uint_eq(f.last_doorbell_n, 1);
    while (!vs_engine_idle(f.eng))
        vs_engine_step(f.eng);
    int cookies[8];
    ck_assert_int_eq(fx_collect(&f, 0, cookies, 8), 4);
    /* The echo device really wrote the buffer. */
    uint8_t b;
    ck_assert_int_eq(vs_gmem_ld8(f.gm, f.buf[0] + 63, &b, NULL), 0);
    ck_assert_uint_eq(b, 0x11);
    ck_assert_int_eq(f.t->ops->notify(f.t, FAKE_NQ, NULL), -VS_EINVAL);
    fx_free(&f);
}
END_TEST

static void run_ooo(uint64_t seed, int *order, int n)
{
    vs_ref_opts o;
    vs_ref_opts_default(&o);
    o.service.dist = VS_SERVICE_UNIFORM;
    o.service.min_ns = 1000;
    o.service.max_ns = 100000;
    fx f;
    fx_init(&f, seed, &o);
    fx_bring_up(&f, FEAT_BASIC, true);
    for (int i = 0; i < n; i++)
        fx_add(&f, 0, i, (uint8_t)i, 32);
    fx_notify(&f, 0);
    vs_engine_run_until(f.eng, 1000); /* the doorbell fires: everything fetched */
    ck_assert_uint_eq(vs_ref_inflight(f.t, 0), (unsigned)n); /* real queue depth */
    int got = 0;
    for (int guard = 0; got < n && guard < 1000; guard++) {
        int w = f.t->ops->wait(f.t, 1000000, NULL);
        ck_assert_int_ge(w, 0);
        got += fx_collect(&f, 0, order + got, n - got);
    }
    ck_assert_int_eq(got, n);
    fx_free(&f);
}

START_TEST(service_time_out_of_order)
{
    enum { N = 8 }; /* 2 descriptors per request, queue size 16 */
    int a[N], b[N], c[N];
    run_ooo(1234, a, N);
    run_ooo(1234, b, N);
    run_ooo(999, c, N);
    int inversions = 0, diff = 0;
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(a[i], b[i]); /* same seed, same order */
        diff += a[i] != c[i];
        if (i && a[i] < a[i - 1])
            inversions++;
    }
    ck_assert_msg(inversions > 0, "completions came back in submission order");
    ck_assert_msg(diff > 0, "a different seed gave the same order");
}
END_TEST

START_TEST(service_time_exp_and_fixed)
{
    /* Exponential: also out of order. Fixed: in order, and all completions of one
     * doorbell land at the same instant -> one publish, one interrupt. */
    vs_ref_opts o;
    vs_ref_opts_default(&o);
    o.service.dist = VS_SERVICE_EXP;
    o.service.mean_ns = 50000;
    fx f;
    fx_init(&f, 5, &o);
    fx_bring_up(&f, FEAT_BASIC, true);
    for (int i = 0; i < 8; i++)
        fx_add(&f, 0, i, 1, 8);
    fx_notify(&f, 0);
    int order[10], got = 0;
    while (got < 8 && f.t->ops->wait(f.t, 10000000, NULL) > 0)
        got += fx_collect(&f, 0, order + got, 8 - got);
    ck_assert_int_eq(got, 8);
    int inv = 0;
    for (int i = 1; i < 8; i++)
        inv += order[i] < order[i - 1];
    ck_assert_int_gt(inv, 0);
    fx_free(&f);

    vs_ref_opts_default(&o); /* fixed 10000 ns */
    fx_init(&f, 5, &o);
    fx_bring_up(&f, FEAT_BASIC, true);
    for (int i = 0; i < 4; i++)
        fx_add(&f, 0, i, 1, 8);
    fx_notify(&f, 0);
    ck_assert_int_eq(f.t->ops->wait(f.t, 1000000, NULL), 1);
    /* doorbell 1000 + service 10000 + irq latency 500 */
    ck_assert_uint_eq(vs_engine_now(f.eng), 11500);
    ck_assert_int_eq(fx_collect(&f, 0, order, 10), 4);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(order[i], i + 1);
    vs_engine_run_until(f.eng, 100000);
    ck_assert_uint_eq(f.counts[VS_EV_IRQ], 1);
    ck_assert_int_eq(f.nirq, 1);
    ck_assert_int_eq(f.irq_log[0], 0);
    ck_assert_uint_eq(f.last_irq_vec, 1); /* queue 0 -> MSI-X vector 1 */
    fx_free(&f);
}
END_TEST

START_TEST(msix_mask_pending_unmask)
{
    fx f;
    fx_init(&f, 1, NULL);
    fx_bring_up(&f, FEAT_BASIC, true);
    ck_assert_uint_eq(vs_ref_msix_vectors(f.t), FAKE_NQ + 1);
    ck_assert_int_eq(vs_ref_msix_mask(f.t, 1, true, NULL), 0);
    fx_add(&f, 0, 0, 1, 8);
    fx_notify(&f, 0);
    ck_assert_int_eq(f.t->ops->wait(f.t, 1000000, NULL), 0);
    ck_assert(vs_engine_idle(f.eng));
    ck_assert_int_eq(f.nirq, 0);
    ck_assert_uint_eq(f.counts[VS_EV_IRQ], 0);
    ck_assert(vs_ref_msix_pending(f.t, 1));
    ck_assert(!vs_ref_msix_pending(f.t, 2));
    /* Masking another vector does nothing to this one. */
    ck_assert_int_eq(vs_ref_msix_mask(f.t, 2, false, NULL), 0);
    ck_assert_int_eq(f.nirq, 0);
    ck_assert_int_eq(vs_ref_msix_mask(f.t, 1, false, NULL), 0);
    ck_assert(!vs_ref_msix_pending(f.t, 1));
    ck_assert_int_eq(f.nirq, 1);
    ck_assert_int_eq(f.irq_log[0], 0);
    ck_assert_uint_eq(f.counts[VS_EV_IRQ], 1);
    ck_assert_uint_eq(f.last_irq_vec, 1);
    /* Unmasking again delivers nothing more. */
    ck_assert_int_eq(vs_ref_msix_mask(f.t, 1, false, NULL), 0);
    ck_assert_int_eq(f.nirq, 1);
    ck_assert_int_eq(vs_ref_msix_mask(f.t, FAKE_NQ + 1, true, NULL), -VS_EINVAL);
    /* Queue 1 uses vector 2. */
    fx_add(&f, 1, 1, 1, 8);
    fx_notify(&f, 1);
    ck_assert_int_eq(f.t->ops->wait(f.t, 1000000, NULL), 1);
    ck_assert_int_eq(f.irq_log[1], 1);
    ck_assert_uint_eq(f.last_irq_vec, 2);
    /* Config vector 0. */
    ck_assert_int_eq(vs_ref_config_changed(f.t, NULL), 0);
    ck_assert_int_eq(f.t->ops->wait(f.t, 1000000, NULL), 1);
    ck_assert_int_eq(f.irq_log[2], VS_IRQ_CONFIG);
    ck_assert_uint_eq(f.last_irq_vec, 0);
    ck_assert_uint_eq(f.counts[VS_EV_CONFIG_CHANGE], 1);
    fx_free(&f);
}
END_TEST

START_TEST(intx_isr_read_to_clear)
{
    vs_ref_opts o;
    vs_ref_opts_default(&o);
    o.irq_mode = VS_IRQ_INTX;
    fx f;
    fx_init(&f, 1, &o);
    fx_bring_up(&f, FEAT_BASIC, true);
    fx_add(&f, 0, 0, 1, 8);
    fx_notify(&f, 0);
    ck_assert_int_eq(f.t->ops->wait(f.t, 1000000, NULL), 1);
    ck_assert_uint_eq(f.last_irq_vec, VS_REF_NO_VECTOR);
    uint8_t isr = 0xff;
    ck_assert_int_eq(f.t->ops->read_isr(f.t, &isr, NULL), 0);
    ck_assert_uint_eq(isr, 1);
    ck_assert_int_eq(f.t->ops->read_isr(f.t, &isr, NULL), 0);
    ck_assert_uint_eq(isr, 0);
    ck_assert_int_eq(vs_ref_config_changed(f.t, NULL), 0);
    ck_assert_int_eq(f.t->ops->wait(f.t, 1000000, NULL), 1);
    ck_assert_uint_eq(vs_ref_isr_peek(f.t), 2);
    fx_add(&f, 0, 1, 1, 8);
    fx_notify(&f, 0);
    ck_assert_int_eq(f.t->ops->wait(f.t, 1000000, NULL), 1);
    ck_assert_int_eq(f.t->ops->read_isr(f.t, &isr, NULL), 0);
    ck_assert_uint_eq(isr, 3);
    ck_assert_int_eq(f.t->ops->read_isr(f.t, &isr, NULL), 0);
    ck_assert_uint_eq(isr, 0);
    fx_free(&f);
}
END_TEST

START_TEST(poll_mode_no_interrupts)
{
    vs_ref_opts o;
    vs_ref_opts_default(&o);
    o.irq_mode = VS_IRQ_POLL;
    fx f;
    fx_init(&f, 1, &o);
    fx_bring_up(&f, FEAT_BASIC, true);
    fx_add(&f, 0, 0, 1, 8);
    fx_notify(&f, 0);
    ck_assert_int_eq(f.t->ops->wait(f.t, 1000000, NULL), 0);
    ck_assert(vs_engine_idle(f.eng));
    ck_assert_uint_eq(vs_engine_now(f.eng), 11000); /* idle: clock at the last event */
    ck_assert_int_eq(f.nirq, 0);
    ck_assert_uint_eq(f.counts[VS_EV_IRQ], 0);
    int c[2];
    ck_assert_int_eq(fx_collect(&f, 0, c, 2), 1);
    uint8_t isr = 9;
    ck_assert_int_eq(f.t->ops->read_isr(f.t, &isr, NULL), 0);
    ck_assert_uint_eq(isr, 0);
    fx_free(&f);
}
END_TEST

START_TEST(wait_timeout_and_idle)
{
    fx f;
    fx_init(&f, 1, NULL);
    fx_bring_up(&f, FEAT_BASIC, true);
    /* Idle engine: returns 0 at once, clock unchanged. */
    uint64_t t0 = vs_engine_now(f.eng);
    ck_assert_int_eq(f.t->ops->wait(f.t, 5000, NULL), 0);
    ck_assert_uint_eq(vs_engine_now(f.eng), t0);
    /* Work pending beyond the deadline: returns 0 with the clock at the deadline. */
    fx_add(&f, 0, 0, 1, 8);
    fx_notify(&f, 0);
    ck_assert_int_eq(f.t->ops->wait(f.t, 5000, NULL), 0);
    ck_assert_uint_eq(vs_engine_now(f.eng), t0 + 5000);
    ck_assert_int_eq(f.t->ops->wait(f.t, 100000, NULL), 1);
    ck_assert_uint_eq(vs_engine_now(f.eng), t0 + 11500);
    fx_free(&f);
}
END_TEST

START_TEST(features_ok_refusal)
{
    fx f;
    fx_init(&f, 1, NULL);
    vs_transport *t = f.t;
    uint64_t df;
    ck_assert_int_eq(t->ops->get_device_features(t, &df, NULL), 0);
    ck_assert_uint_eq(df, f.dev.offered);
    /* Unoffered bit -> the fake device refuses -> FEATURES_OK reads back clear. */
    OK(t->ops->set_status(t, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER, NULL));
    OK(t->ops->set_driver_features(t, FEAT_BASIC | VS_BIT(VS_F_RING_PACKED), NULL));
    OK(t->ops->set_status(t, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK,
                          NULL));
    ck_assert_uint_eq(fx_status(&f), VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER);
    ck_assert_uint_eq(f.dev.base.driver_features, 0);
    ck_assert_uint_eq(f.counts[VS_EV_NOTE], 1);
    /* A device that refuses everything. */
    f.dev.refuse = true;
    OK(t->ops->set_driver_features(t, FEAT_BASIC, NULL));
    OK(t->ops->set_status(t, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK,
                          NULL));
    ck_assert(!(fx_status(&f) & VS_STATUS_FEATURES_OK));
    /* Acceptable subset -> FEATURES_OK stays, device sees the features. */
    f.dev.refuse = false;
    uint64_t want = FEAT_BASIC | VS_BIT(VS_F_EVENT_IDX);
    OK(t->ops->set_driver_features(t, want, NULL));
    OK(t->ops->set_status(t, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK,
                          NULL));
    ck_assert(fx_status(&f) & VS_STATUS_FEATURES_OK);
    ck_assert_uint_eq(f.dev.base.driver_features, want);
    ck_assert_uint_eq(f.dev.accepted, want);
    /* Frozen after FEATURES_OK. */
    OK(t->ops->set_driver_features(t, FEAT_BASIC, NULL));
    ck_assert_uint_eq(f.dev.base.driver_features, want);
    /* DRIVER_OK without accepted features does not make the device process. */
    OK(t->ops->set_status(t, 0, NULL));
    ck_assert_uint_eq(fx_status(&f), 0);
    ck_assert_uint_eq(f.dev.base.driver_features, 0);
    fx_free(&f);
}
END_TEST

START_TEST(driver_ok_gating)
{
    fx f;
    fx_init(&f, 1, NULL);
    fx_bring_up(&f, FEAT_BASIC, false); /* queues set up, no DRIVER_OK */
    fx_add(&f, 0, 0, 1, 8);
    fx_notify(&f, 0);
    vs_engine_run_until(f.eng, 1000000);
    ck_assert_uint_eq(f.counts[VS_EV_DOORBELL], 1);
    ck_assert_uint_eq(f.counts[VS_EV_FETCH], 0);
    ck_assert_int_eq(f.dev.handled, 0);
    int c[4];
    ck_assert_int_eq(fx_collect(&f, 0, c, 4), 0);
    /* DRIVER_OK + a kick: now it is processed. */
    OK(f.t->ops->set_status(f.t, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER |
                                     VS_STATUS_FEATURES_OK | VS_STATUS_DRIVER_OK,
                            NULL));
    fx_notify(&f, 0);
    ck_assert_int_eq(f.t->ops->wait(f.t, 1000000, NULL), 1);
    ck_assert_int_eq(fx_collect(&f, 0, c, 4), 1);
    fx_free(&f);

    /* The mutant consumes before DRIVER_OK. */
    vs_ref_opts o;
    vs_ref_opts_default(&o);
    o.mutations = VS_REF_MUT_CONSUMES_BEFORE_DRIVER_OK;
    fx_init(&f, 1, &o);
    fx_bring_up(&f, FEAT_BASIC, false);
    fx_add(&f, 0, 0, 1, 8);
    fx_notify(&f, 0);
    vs_engine_run_until(f.eng, 1000000);
    ck_assert_uint_eq(f.counts[VS_EV_FETCH], 1);
    ck_assert_int_eq(f.dev.handled, 1);
    ck_assert_int_eq(fx_collect(&f, 0, c, 4), 1);
    fx_free(&f);
}
END_TEST

static void check_error_path(fx *f)
{
    uint8_t st = fx_status(f);
    ck_assert_msg(st & VS_STATUS_DEVICE_NEEDS_RESET, "status 0x%x", st);
    ck_assert(vs_ref_device_stopped(f->t));
    ck_assert_uint_eq(f->counts[VS_EV_DEVICE_ERROR], 1);
    ck_assert_uint_eq(f->counts[VS_EV_CONFIG_CHANGE], 1);
    ck_assert_int_ge(f->nirq, 1);
    ck_assert_int_eq(f->irq_log[f->nirq - 1], VS_IRQ_CONFIG);
    /* Driver status writes keep NEEDS_RESET; the device stays stopped. */
    OK(f->t->ops->set_status(f->t, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER |
                                        VS_STATUS_FEATURES_OK | VS_STATUS_DRIVER_OK |
                                        VS_STATUS_FAILED,
                             NULL));
    ck_assert(fx_status(f) & VS_STATUS_DEVICE_NEEDS_RESET);
    unsigned fetched = f->counts[VS_EV_FETCH];
    int handled = f->dev.handled;
    fx_add(f, 1, 10, 1, 8);
    fx_notify(f, 1);
    vs_engine_run_until(f->eng, vs_engine_now(f->eng) + 1000000);
    ck_assert_uint_eq(f->counts[VS_EV_FETCH], fetched);
    ck_assert_int_eq(f->dev.handled, handled);
}

START_TEST(device_error_malformed_chain)
{
    fx f;
    fx_init(&f, 1, NULL);
    fx_bring_up(&f, FEAT_BASIC, true);
    vs_desc d[2] = {
        {.addr = f.hdr[0], .len = 16, .flags = VS_DESC_F_NEXT, .next = 1},
        {.addr = f.buf[0], .len = 8, .flags = VS_DESC_F_WRITE | VS_DESC_F_NEXT, .next = 40},
    };
    vs_err e = {0};
    ck_assert_msg(vs_vq_drv_add_raw(f.dq[0], d, 2, NULL, &e) >= 0, "%s", e.msg);
    vs_vq_drv_publish(f.dq[0]);
    fx_notify(&f, 0);
    ck_assert_int_eq(f.t->ops->wait(f.t, 1000000, NULL), 1);
    check_error_path(&f);
    ck_assert_msg(strstr(f.last_error, "queue 0") != NULL, "error text: %s", f.last_error);
    ck_assert_int_eq(f.dev.handled, 0);

    /* Reset: device reset, status 0, queues gone; bring-up again works. */
    int resets = f.dev.resets;
    OK(f.t->ops->reset(f.t, NULL));
    ck_assert_int_eq(f.dev.resets, resets + 1);
    ck_assert_uint_eq(fx_status(&f), 0);
    ck_assert(!vs_ref_device_stopped(f.t));
    ck_assert_int_eq(f.t->ops->notify(f.t, 0, NULL), 0); /* queue gone: ignored */
    fx_bring_up(&f, FEAT_BASIC, true);
    fx_add(&f, 0, 1, 0x22, 8);
    fx_notify(&f, 0);
    ck_assert_int_eq(f.t->ops->wait(f.t, 1000000, NULL), 1);
    int c[2];
    ck_assert_int_eq(fx_collect(&f, 0, c, 2), 1);
    fx_free(&f);
}
END_TEST

START_TEST(device_error_handle_fails)
{
    fx f;
    fx_init(&f, 1, NULL);
    fx_bring_up(&f, FEAT_BASIC, true);
    fx_add(&f, 0, 0, 0x01, 8);
    fx_add(&f, 0, 1, 0xEE, 8); /* unparseable */
    fx_notify(&f, 0);
    /* Both complete at the same instant: the good one pushed, then the error. */
    for (int i = 0; i < 5 && !vs_ref_device_stopped(f.t); i++)
        f.t->ops->wait(f.t, 1000000, NULL);
    vs_engine_run_until(f.eng, vs_engine_now(f.eng) + 1000000);
    check_error_path(&f);
    ck_assert_ptr_nonnull(strstr(f.last_error, "cannot parse"));
    fx_free(&f);
}
END_TEST

START_TEST(reset_drops_pending_work)
{
    fx f;
    fx_init(&f, 1, NULL);
    fx_bring_up(&f, FEAT_BASIC, true);
    fx_add(&f, 0, 0, 1, 8);
    fx_notify(&f, 0);
    vs_engine_run_until(f.eng, 2000); /* fetched, completion pending */
    ck_assert_uint_eq(vs_ref_inflight(f.t, 0), 1);
    OK(f.t->ops->set_status(f.t, 0, NULL));
    ck_assert(vs_engine_idle(f.eng));
    ck_assert_uint_eq(vs_ref_inflight(f.t, 0), 0);
    vs_engine_run_until(f.eng, 1000000);
    ck_assert_int_eq(f.dev.handled, 0);
    ck_assert_int_eq(f.nirq, 0);
    /* queue_disable likewise. */
    fx_bring_up(&f, FEAT_BASIC, true);
    fx_add(&f, 0, 0, 1, 8);
    fx_notify(&f, 0);
    vs_engine_run_until(f.eng, vs_engine_now(f.eng) + 2000);
    OK(f.t->ops->queue_disable(f.t, 0, NULL));
    ck_assert(vs_engine_idle(f.eng));
    fx_free(&f);
}
END_TEST

START_TEST(queue_setup_and_config)
{
    fx f;
    fx_init(&f, 1, NULL);
    vs_transport *t = f.t;
    uint16_t nq;
    uint32_t max;
    ck_assert_int_eq(t->ops->num_queues(t, &nq, NULL), 0);
    ck_assert_uint_eq(nq, FAKE_NQ);
    ck_assert_int_eq(t->ops->queue_max_size(t, 0, &max, NULL), 0);
    ck_assert_uint_eq(max, FAKE_QMAX);
    ck_assert_int_eq(t->ops->queue_max_size(t, FAKE_NQ, &max, NULL), -VS_EINVAL);
    vs_vq_layout big;
    vs_err e = {0};
    ck_assert_int_eq(vs_vq_layout_alloc(f.gm, VS_RING_SPLIT, 32, &big, &e), 0);
    ck_assert_int_eq(t->ops->queue_setup(t, 0, &big, &e), -VS_EINVAL);
    fx_bring_up(&f, FEAT_BASIC, true);
    ck_assert_int_eq(t->ops->queue_setup(t, 0, &f.lay[0], &e), -VS_ESTATE);
    ck_assert_int_eq(t->ops->queue_setup(t, FAKE_NQ, &f.lay[0], &e), -VS_EINVAL);
    uint8_t cfg[4];
    ck_assert_int_eq(t->ops->config_read(t, 2, cfg, 4, NULL), 0);
    ck_assert_uint_eq(cfg[0], 0xa2);
    ck_assert_uint_eq(cfg[3], 0xa5);
    ck_assert_int_lt(t->ops->config_read(t, 6, cfg, 4, NULL), 0);
    ck_assert_int_eq(t->ops->config_write(t, 0, cfg, 1, NULL), -VS_ENOTSUP);
    uint32_t gen = 99;
    f.dev.base.config_generation = 7;
    ck_assert_int_eq(t->ops->config_generation(t, &gen, NULL), 0);
    ck_assert_uint_eq(gen, 7);
    ck_assert(vs_ref_is(t));
    ck_assert_str_eq(t->ops->name, "ref");
    ck_assert_uint_eq(t->device_id, 99);
    vs_ref_opts bad;
    vs_ref_opts_default(&bad);
    bad.service.dist = VS_SERVICE_UNIFORM;
    bad.service.min_ns = 10;
    bad.service.max_ns = 5;
    vs_transport *t2 = NULL;
    ck_assert_int_eq(vs_ref_transport_create(&t2, f.eng, &f.dev.base, f.gm, &bad, NULL, &e),
                     -VS_EINVAL);
    fx_free(&f);
}
END_TEST

START_TEST(event_idx_suppresses_interrupts)
{
    /* With EVENT_IDX negotiated and the driver disabling interrupts, completions do not
     * interrupt; re-enabling works. Exercises the feature plumbing into vs_vq_dev. */
    fx f;
    fx_init(&f, 1, NULL);
    uint64_t feat = FEAT_BASIC | VS_BIT(VS_F_EVENT_IDX);
    fx_bring_up(&f, feat, true);
    int c[4];
    /* The first used element always interrupts (no earlier decision to compare with). */
    fx_add(&f, 0, 2, 1, 8);
    fx_notify(&f, 0);
    ck_assert_int_eq(f.t->ops->wait(f.t, 1000000, NULL), 1);
    ck_assert_int_eq(fx_collect(&f, 0, c, 4), 1);
    vs_vq_drv_irq_disable(f.dq[0]);
    fx_add(&f, 0, 0, 1, 8);
    if (vs_vq_drv_kick_needed(f.dq[0]))
        fx_notify(&f, 0);
    vs_engine_run_until(f.eng, vs_engine_now(f.eng) + 1000000);
    ck_assert_int_eq(f.nirq, 1);
    ck_assert_int_eq(fx_collect(&f, 0, c, 4), 1);
    vs_vq_drv_irq_enable(f.dq[0]);
    fx_add(&f, 0, 1, 1, 8);
    if (vs_vq_drv_kick_needed(f.dq[0]))
        fx_notify(&f, 0);
    ck_assert_int_eq(f.t->ops->wait(f.t, 1000000, NULL), 1);
    ck_assert_int_eq(fx_collect(&f, 0, c, 4), 1);
    fx_free(&f);
}
END_TEST

/* A run with a mixed workload; returns the trace digest. */
static void run_digest(uint64_t seed, char hex[VS_TRACE_DIGEST_HEX])
{
    vs_ref_opts o;
    vs_ref_opts_default(&o);
    o.service.dist = VS_SERVICE_EXP;
    o.service.mean_ns = 20000;
    fx f;
    fx_init(&f, seed, &o);
    fx_bring_up(&f, FEAT_BASIC | VS_BIT(VS_F_EVENT_IDX), true);
    int next = 0, got = 0, c[64];
    for (int round = 0; round < 4; round++) {
        for (int k = 0; k < 6; k++, next++) {
            fx_add(&f, (uint16_t)(k & 1), next, (uint8_t)next, 64);
            fx_notify(&f, (uint16_t)(k & 1));
        }
        while (f.t->ops->wait(f.t, 200000, NULL) > 0) {
            got += fx_collect(&f, 0, c, 64);
            got += fx_collect(&f, 1, c, 64);
        }
    }
    vs_engine_run_until(f.eng, vs_engine_now(f.eng) + 10000000);
    got += fx_collect(&f, 0, c, 64);
    got += fx_collect(&f, 1, c, 64);
    ck_assert_int_eq(got, 24);
    ck_assert_ptr_nonnull(vs_trace_digest_hex(f.trace, hex));
    ck_assert_uint_gt(vs_trace_lines(f.trace), 24);
    fx_free(&f);
}

/* VIRTIO_F_SUSPEND: disregarded before DRIVER_OK; with work in flight the suspend shows
 * only once it has completed and been notified; a config change meanwhile is notified on
 * resume; nothing is fetched while suspended. */
START_TEST(suspend_handshake)
{
    fx f;
    fx_init(&f, 1, NULL);
    f.dev.offered |= VS_BIT(VS_F_SUSPEND);
    const uint8_t run = VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK;
    fx_bring_up(&f, FEAT_BASIC | VS_BIT(VS_F_SUSPEND), false);
    OK(f.t->ops->set_status(f.t, run | VS_STATUS_SUSPEND, NULL));
    ck_assert_uint_eq(fx_status(&f), run); /* not initialized yet: disregarded */
    OK(f.t->ops->set_status(f.t, run | VS_STATUS_DRIVER_OK, NULL));
    fx_add(&f, 0, 0, 1, 8);
    fx_notify(&f, 0);
    vs_engine_run_until(f.eng, vs_engine_now(f.eng) + 2000); /* fetched, not completed */
    ck_assert_uint_eq(vs_ref_inflight(f.t, 0), 1);
    OK(f.t->ops->set_status(f.t, run | VS_STATUS_DRIVER_OK | VS_STATUS_SUSPEND, NULL));
    ck_assert(fx_status(&f) & VS_STATUS_DRIVER_OK); /* still finishing */
    vs_engine_run_until(f.eng, vs_engine_now(f.eng) + 100000);
    ck_assert_uint_eq(fx_status(&f), run | VS_STATUS_SUSPEND);
    ck_assert_int_eq(f.dev.handled, 1);
    ck_assert_int_eq(f.nirq, 1);
    /* suspended: a new buffer and a config change wait for the resume */
    fx_add(&f, 0, 1, 2, 8);
    fx_notify(&f, 0);
    OK(vs_ref_config_changed(f.t, NULL));
    vs_engine_run_until(f.eng, vs_engine_now(f.eng) + 100000);
    ck_assert_int_eq(f.dev.handled, 1);
    ck_assert_int_eq(f.nirq, 1);
    OK(f.t->ops->set_status(f.t, run | VS_STATUS_DRIVER_OK | VS_STATUS_SUSPEND, NULL));
    ck_assert_uint_eq(fx_status(&f), run | VS_STATUS_DRIVER_OK);
    vs_engine_run_until(f.eng, vs_engine_now(f.eng) + 100000);
    ck_assert_int_eq(f.dev.handled, 2);
    ck_assert_int_ge(f.nirq, 3); /* config change + the second request */
    ck_assert_int_eq(f.irq_log[1], VS_IRQ_CONFIG);
    fx_free(&f);
}
END_TEST

/* VIRTIO_F_IN_ORDER negotiated: completions keep fetch order whatever the service times. */
START_TEST(in_order_completions)
{
    vs_ref_opts o;
    vs_ref_opts_default(&o);
    o.service = (vs_service_time){.dist = VS_SERVICE_UNIFORM, .min_ns = 1000, .max_ns = 50000};
    fx f;
    fx_init(&f, 7, &o);
    f.dev.offered |= VS_BIT(VS_F_IN_ORDER);
    fx_bring_up(&f, FEAT_BASIC | VS_BIT(VS_F_IN_ORDER), true);
    for (int i = 0; i < 8; i++)
        fx_add(&f, 0, i, (uint8_t)(i + 1), 8);
    fx_notify(&f, 0);
    vs_engine_run_until(f.eng, 10000000);
    int cookies[8];
    ck_assert_int_eq(fx_collect(&f, 0, cookies, 8), 8);
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(cookies[i], i + 1);
    fx_free(&f);
}
END_TEST

START_TEST(determinism_digest)
{
    char a[VS_TRACE_DIGEST_HEX], b[VS_TRACE_DIGEST_HEX], c[VS_TRACE_DIGEST_HEX];
    run_digest(42, a);
    run_digest(42, b);
    run_digest(43, c);
    ck_assert_str_eq(a, b);
    ck_assert_str_ne(a, c);
}
END_TEST

START_TEST(blk_read_write_through_ref)
{
    /* Integration with the reference virtio-blk: OUT then IN of one sector, over a
     * split (_i == 0) and a packed (_i == 1) ring. */
    vs_ring_format fmt = _i ? VS_RING_PACKED : VS_RING_SPLIT;
    uint64_t feat = VS_BIT(VS_F_VERSION_1) | (_i ? VS_BIT(VS_F_RING_PACKED) : 0);
    vs_err e = {0};
    vs_engine *eng;
    vs_gmem *gm;
    vs_device *blk;
    vs_transport *t;
    ck_assert_int_eq(vs_engine_create(&eng, 3, &e), 0);
    ck_assert_int_eq(vs_gmem_create_flat(&gm, 1u << 20, &e), 0);
    vs_blk_opts bo;
    vs_blk_opts_default(&bo);
    ck_assert_msg(vs_blk_create(&blk, gm, &bo, &e) == 0, "%s", e.msg);
    ck_assert_msg(vs_ref_transport_create(&t, eng, blk, gm, NULL, NULL, &e) == 0, "%s", e.msg);
    OK(t->ops->set_status(t, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER, &e));
    OK(t->ops->set_driver_features(t, feat, &e));
    OK(t->ops->set_status(t, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK,
                          &e));
    uint8_t st;
    OK(t->ops->get_status(t, &st, &e));
    ck_assert(st & VS_STATUS_FEATURES_OK);
    uint32_t max;
    OK(t->ops->queue_max_size(t, 0, &max, &e));
    vs_vq_layout lay;
    ck_assert_int_eq(vs_vq_layout_alloc(gm, fmt, 16, &lay, &e), 0);
    vs_vq_drv *dq;
    vs_vq_drv_opts dopt = {0};
    ck_assert_int_eq(vs_vq_drv_create(&dq, gm, &lay, &dopt, &e), 0);
    ck_assert_msg(t->ops->queue_setup(t, 0, &lay, &e) == 0, "%s", e.msg);
    OK(t->ops->set_status(t, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK |
                                 VS_STATUS_DRIVER_OK,
                          &e));
    uint64_t hdr, data, status;
    ck_assert_int_eq(vs_gmem_alloc(gm, 16, 16, &hdr, &e), 0);
    ck_assert_int_eq(vs_gmem_alloc(gm, 512, 16, &data, &e), 0);
    ck_assert_int_eq(vs_gmem_alloc(gm, 16, 16, &status, &e), 0);
    for (int pass = 0; pass < 2; pass++) {
        uint32_t type = pass == 0 ? VS_BLK_T_OUT : VS_BLK_T_IN;
        ck_assert_int_eq(vs_gmem_st32(gm, hdr, type, &e), 0);
        ck_assert_int_eq(vs_gmem_st32(gm, hdr + 4, 0, &e), 0);
        ck_assert_int_eq(vs_gmem_st64(gm, hdr + 8, 5, &e), 0);
        ck_assert_int_eq(vs_gmem_fill(gm, data, pass == 0 ? 0x5a : 0, 512, &e), 0);
        ck_assert_int_eq(vs_gmem_st8(gm, status, 0xff, &e), 0);
        vs_seg segs[3] = {{hdr, 16}, {data, 512}, {status, 1}};
        unsigned n_out = pass == 0 ? 2 : 1;
        ck_assert(vs_vq_drv_add(dq, segs, n_out, 3 - n_out, 0, NULL, &e) >= 0);
        vs_vq_drv_publish(dq);
        OK(t->ops->notify(t, 0, &e));
        vs_engine_run_until(eng, vs_engine_now(eng) + 1000000);
        vs_used u;
        ck_assert_int_eq(vs_vq_drv_collect(dq, &u, &e), 1);
        uint8_t sb;
        ck_assert_int_eq(vs_gmem_ld8(gm, status, &sb, &e), 0);
        ck_assert_uint_eq(sb, VS_BLK_S_OK);
        ck_assert_uint_eq(u.len, pass == 0 ? 1 : 513);
    }
    uint8_t b;
    ck_assert_int_eq(vs_gmem_ld8(gm, data + 511, &b, &e), 0);
    ck_assert_uint_eq(b, 0x5a);
    ck_assert(!vs_ref_device_stopped(t));
    t->ops->destroy(t);
    vs_vq_drv_destroy(dq);
    blk->ops->destroy(blk);
    vs_gmem_destroy(gm);
    vs_engine_destroy(eng);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("transport_ref");
    TCase *tc = tcase_create("ref");
    tcase_add_test(tc, doorbell_coalescing);
    tcase_add_test(tc, service_time_out_of_order);
    tcase_add_test(tc, service_time_exp_and_fixed);
    tcase_add_test(tc, msix_mask_pending_unmask);
    tcase_add_test(tc, intx_isr_read_to_clear);
    tcase_add_test(tc, poll_mode_no_interrupts);
    tcase_add_test(tc, wait_timeout_and_idle);
    tcase_add_test(tc, features_ok_refusal);
    tcase_add_test(tc, driver_ok_gating);
    tcase_add_test(tc, device_error_malformed_chain);
    tcase_add_test(tc, device_error_handle_fails);
    tcase_add_test(tc, reset_drops_pending_work);
    tcase_add_test(tc, queue_setup_and_config);
    tcase_add_test(tc, event_idx_suppresses_interrupts);
    tcase_add_test(tc, determinism_digest);
    tcase_add_test(tc, suspend_handshake);
    tcase_add_test(tc, in_order_completions);
    tcase_add_loop_test(tc, blk_read_write_through_ref, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
