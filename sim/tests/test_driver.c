/* Unit tests of the driver model (sim/driver*.c, sim/dev/blk/blk_*.c) over a FAKE transport:
 * an in-process loopback that owns device-side queues (vs_vq_dev) and a tiny blk-like
 * responder, with knobs for misbehaviour (corrupt data, overrun a buffer, no interrupts,
 * refuse features, bump the config generation). One test also runs the driver over the
 * real reference transport + reference virtio-blk. */
#define _GNU_SOURCE
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtiosim/blk.h"
#include "virtiosim/blk_driver.h"
#include "virtiosim/driver.h"
#include "virtiosim/event.h"
#include "virtiosim/gmem.h"
#include "virtiosim/sim.h"
#include "virtiosim/transport_ref.h"
#include "virtiosim/virtio.h"
#include "virtiosim/vring.h"

#define CAP 256u       /* sectors */
#define NQ 2
#define MAXSEG 300

/* ------------------------------------------------------------------ fake transport */

typedef struct fake {
    vs_transport t;
    uint8_t status;
    uint64_t offered, drv_features, refuse_mask;
    uint32_t gen;
    int gen_bumps;            /* bump the generation during this many config reads */
    uint32_t qmax;
    vs_vq_dev *dq[NQ];
    uint8_t disk[CAP * VS_BLK_SECTOR];
    uint64_t now;
    char log[8192];
    /* knobs */
    bool no_irq;              /* never interrupt */
    bool corrupt_reads;       /* flip a byte in every IN's data */
    bool overrun_in;          /* write one byte past the first writable data buffer */
    bool scribble_header;     /* write into the (readable) request header */
    bool stopped;
    int served;
    uint64_t hdr_gpa[64];     /* first segment of each chain served, in order */
} fake;

static void lg(fake *f, const char *fmt, ...)
{
    size_t n = strlen(f->log);
    if (n + 64 >= sizeof f->log)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->log + n, sizeof f->log - n, fmt, ap);
    va_end(ap);
    strcat(f->log, " ");
}

#define F(t) ((fake *)(t))

static void fk_drop(fake *f)
{
    for (int i = 0; i < NQ; i++) {
        vs_vq_dev_destroy(f->dq[i]);
        f->dq[i] = NULL;
    }
}

static int fk_reset(vs_transport *t, vs_err *e)
{
    (void)e;
    lg(F(t), "reset");
    F(t)->status = 0;
    F(t)->stopped = false;
    fk_drop(F(t));
    return 0;
}

static int fk_get_status(vs_transport *t, uint8_t *s, vs_err *e)
{
    (void)e;
    lg(F(t), "gs");
    *s = F(t)->status;
    return 0;
}

static int fk_set_status(vs_transport *t, uint8_t s, vs_err *e)
{
    (void)e;
    fake *f = F(t);
    lg(f, "ss%02x", s);
    if (s == 0)
        return fk_reset(t, e);
    if ((s & VS_STATUS_FEATURES_OK) && !(f->status & VS_STATUS_FEATURES_OK) &&
        (f->drv_features & f->refuse_mask))
        s &= (uint8_t)~VS_STATUS_FEATURES_OK;
    f->status = (uint8_t)(s | (f->status & VS_STATUS_DEVICE_NEEDS_RESET));
    return 0;
}

static int fk_get_features(vs_transport *t, uint64_t *v, vs_err *e)
{
    (void)e;
    lg(F(t), "gf");
    *v = F(t)->offered;
    return 0;
}

static int fk_set_features(vs_transport *t, uint64_t v, vs_err *e)
{
    (void)e;
    lg(F(t), "sf");
    F(t)->drv_features = v;
    return 0;
}

static int fk_config_read(vs_transport *t, uint32_t off, void *buf, uint32_t len, vs_err *e)
{
    fake *f = F(t);
    lg(f, "cr%u", off);
    uint8_t cfg[64] = {0};
    uint64_t cap = CAP;
    memcpy(cfg, &cap, 8); /* little-endian host */
    uint16_t nq = NQ;
    memcpy(cfg + VS_BLK_CFG_NUM_QUEUES, &nq, 2);
    if (off + len > sizeof cfg)
        return vs_err_set(e, VS_ERANGE, "config");
    memcpy(buf, cfg + off, len);
    if (f->gen_bumps > 0) {
        f->gen_bumps--;
        f->gen++;
    }
    return 0;
}

static int fk_config_write(vs_transport *t, uint32_t off, const void *b, uint32_t l, vs_err *e)
{
    (void)t, (void)off, (void)b, (void)l, (void)e;
    return 0;
}

static int fk_gen(vs_transport *t, uint32_t *g, vs_err *e)
{
    (void)e;
    lg(F(t), "gen");
    *g = F(t)->gen;
    return 0;
}

static int fk_nq(vs_transport *t, uint16_t *n, vs_err *e)
{
    (void)e;
    lg(F(t), "nq");
    *n = NQ;
    return 0;
}

static int fk_qmax(vs_transport *t, uint16_t q, uint32_t *s, vs_err *e)
{
    (void)e;
    lg(F(t), "qmax%u", q);
    *s = F(t)->qmax;
    return 0;
}

static int fk_qsetup(vs_transport *t, uint16_t q, const vs_vq_layout *l, vs_err *e)
{
    fake *f = F(t);
    lg(f, "qs%u", q);
    if (q >= NQ)
        return vs_err_set(e, VS_EINVAL, "queue");
    uint32_t feat = 0;
    if (f->drv_features & VS_BIT(VS_F_EVENT_IDX))
        feat |= VS_VQ_F_EVENT_IDX;
    if (f->drv_features & VS_BIT(VS_F_INDIRECT_DESC))
        feat |= VS_VQ_F_INDIRECT;
    vs_vq_dev_opts o = {.queue_index = q, .features = feat};
    vs_vq_dev_destroy(f->dq[q]);
    f->dq[q] = NULL;
    return vs_vq_dev_create(&f->dq[q], t->gm, l, &o, e);
}

static int fk_qdisable(vs_transport *t, uint16_t q, vs_err *e)
{
    (void)t, (void)q, (void)e;
    return 0;
}

static int fk_notify(vs_transport *t, uint16_t q, vs_err *e)
{
    (void)e;
    lg(F(t), "kick%u", q);
    return 0;
}

static void seg_rw(fake *f, const vs_dseg *s, uint64_t *pos, uint8_t *disk, bool to_guest,
                   uint64_t limit)
{
    uint64_t n = s->len;
    if (*pos + n > limit)
        n = limit > *pos ? limit - *pos : 0;
    if (to_guest)
        vs_gmem_write(f->t.gm, s->gpa, disk + *pos, n, NULL);
    else
        vs_gmem_read(f->t.gm, s->gpa, disk + *pos, n, NULL);
    *pos += s->len;
}

/* Handles one chain like a (simplistic) virtio-blk device. */
static uint32_t fk_handle(fake *f, const vs_chain *c)
{
    uint8_t hb[16];
    vs_gmem_read(f->t.gm, c->seg[0].gpa, hb, 16, NULL);
    uint32_t type = hb[0] | hb[1] << 8 | hb[2] << 16 | (uint32_t)hb[3] << 24;
    uint64_t sector = 0;
    for (int i = 0; i < 8; i++)
        sector |= (uint64_t)hb[8 + i] << (8 * i);
    const vs_dseg *st = &c->seg[c->nseg - 1];
    uint8_t status = VS_BLK_S_OK;
    uint32_t written = 1;
    uint64_t limit = sizeof f->disk;
    uint64_t pos = sector * VS_BLK_SECTOR;
    if (f->scribble_header)
        vs_gmem_st8(f->t.gm, c->seg[0].gpa + 4, 0x77, NULL);
    switch (type) {
    case VS_BLK_T_IN: {
        uint64_t bytes = c->in_bytes - 1;
        if (pos + bytes > limit) {
            status = VS_BLK_S_IOERR;
            break;
        }
        for (uint32_t i = c->n_out; i + 1 < c->nseg; i++)
            seg_rw(f, &c->seg[i], &pos, f->disk, true, limit);
        if (f->corrupt_reads)
            vs_gmem_st8(f->t.gm, c->seg[c->n_out].gpa + 3,
                        (uint8_t)(f->disk[sector * 512 + 3] ^ 0x40), NULL);
        if (f->overrun_in)
            vs_gmem_st8(f->t.gm, c->seg[c->n_out].gpa + c->seg[c->n_out].len, 0, NULL);
        written = (uint32_t)c->in_bytes;
        break;
    }
    case VS_BLK_T_OUT:
        if (pos + c->out_bytes - 16 > limit) {
            status = VS_BLK_S_IOERR;
            break;
        }
        for (uint32_t i = 1; i < c->n_out; i++)
            seg_rw(f, &c->seg[i], &pos, f->disk, false, limit);
        break;
    case VS_BLK_T_FLUSH:
        break;
    case VS_BLK_T_GET_ID:
        vs_gmem_write(f->t.gm, c->seg[c->n_out].gpa, "fake-serial-0001\0\0\0\0", 20, NULL);
        written = 21;
        break;
    case VS_BLK_T_DISCARD:
    case VS_BLK_T_WRITE_ZEROES: {
        uint8_t p[16];
        vs_gmem_read(f->t.gm, c->seg[1].gpa, p, 16, NULL);
        uint64_t s = 0;
        for (int i = 0; i < 8; i++)
            s |= (uint64_t)p[i] << (8 * i);
        uint32_t n = p[8] | p[9] << 8 | p[10] << 16 | (uint32_t)p[11] << 24;
        if ((s + n) * 512 > limit)
            status = VS_BLK_S_IOERR;
        else if (type == VS_BLK_T_WRITE_ZEROES)
            memset(f->disk + s * 512, 0, (size_t)n * 512);
        else
            memset(f->disk + s * 512, 0xee, (size_t)n * 512); /* discard: anything */
        break;
    }
    default:
        status = VS_BLK_S_UNSUPP;
        break;
    }
    vs_gmem_st8(f->t.gm, st->gpa, status, NULL);
    return written;
}

static int fk_wait(vs_transport *t, uint64_t timeout, vs_err *e)
{
    fake *f = F(t);
    int irqs = 0;
    bool work = false;
    bool live = (f->status & VS_STATUS_DRIVER_OK) && !f->stopped;
    for (int q = 0; q < NQ && live; q++) {
        if (!f->dq[q])
            continue;
        vs_dseg seg[MAXSEG];
        vs_chain c = {.seg = seg, .seg_cap = MAXSEG};
        bool pushed = false;
        for (;;) {
            vs_err pe = {0};
            int rc = vs_vq_dev_pop(f->dq[q], &c, &pe);
            if (rc == 0)
                break;
            if (rc < 0) {
                lg(f, "devfault");
                f->stopped = true;
                f->status |= VS_STATUS_DEVICE_NEEDS_RESET;
                if (t->irq_fn && t->irq_mode != VS_IRQ_POLL)
                    t->irq_fn(t->irq_opaque, VS_IRQ_CONFIG);
                irqs++;
                work = true;
                break;
            }
            uint32_t w = fk_handle(f, &c);
            ck_assert_int_eq(vs_vq_dev_push(f->dq[q], &c, w, e), 0);
            if (f->served < 64)
                f->hdr_gpa[f->served] = c.seg[0].gpa;
            f->served++;
            pushed = work = true;
        }
        if (pushed) {
            vs_vq_dev_publish(f->dq[q]);
            if (vs_vq_dev_irq_needed(f->dq[q]) && !f->no_irq && t->irq_mode != VS_IRQ_POLL &&
                t->irq_fn) {
                t->irq_fn(t->irq_opaque, q);
                irqs++;
            }
        }
    }
    f->now += work ? 1000 : timeout;
    return irqs;
}

static int fk_isr(vs_transport *t, uint8_t *isr, vs_err *e)
{
    (void)t, (void)e;
    *isr = 1;
    return 0;
}

static void fk_destroy(vs_transport *t)
{
    fk_drop(F(t));
}

static const vs_transport_ops fake_ops = {
    .name = "fake", .reset = fk_reset, .get_status = fk_get_status,
    .set_status = fk_set_status, .get_device_features = fk_get_features,
    .set_driver_features = fk_set_features, .config_read = fk_config_read,
    .config_write = fk_config_write, .config_generation = fk_gen, .num_queues = fk_nq,
    .queue_max_size = fk_qmax, .queue_setup = fk_qsetup, .queue_disable = fk_qdisable,
    .notify = fk_notify, .wait = fk_wait, .read_isr = fk_isr, .destroy = fk_destroy,
};

static uint64_t fk_now(void *opaque)
{
    return ((fake *)opaque)->now;
}

/* ------------------------------------------------------------------ fixture */

static vs_gmem *gm;
static fake *fk;
static vs_driver *drv;
static vs_event_bus bus;
static unsigned ev_count[VS_EV_KIND_COUNT];
static char ev_log[4096];

static void on_event(void *opaque, const vs_event *ev)
{
    (void)opaque;
    ev_count[ev->kind]++;
    if (ev->kind == VS_EV_STATUS_WRITE || ev->kind == VS_EV_RESET ||
        ev->kind == VS_EV_FEATURES_READ || ev->kind == VS_EV_FEATURES_WRITE ||
        ev->kind == VS_EV_QUEUE_SETUP) {
        size_t n = strlen(ev_log);
        if (n + 32 < sizeof ev_log)
            snprintf(ev_log + n, sizeof ev_log - n, "%s:%llx ", vs_event_kind_name(ev->kind),
                     (unsigned long long)(ev->kind == VS_EV_QUEUE_SETUP ? (uint64_t)ev->queue
                                                                        : ev->val));
    }
    if (ev->kind == VS_EV_AVAIL)
        ck_assert_ptr_nonnull(ev->chain);
    if (ev->kind == VS_EV_QUEUE_SETUP)
        ck_assert_ptr_nonnull(ev->layout);
}

static void setup(void)
{
    vs_err e = {0};
    ck_assert_int_eq(vs_gmem_create_flat(&gm, 16u << 20, &e), 0);
    fk = calloc(1, sizeof *fk);
    fk->t.ops = &fake_ops;
    fk->t.gm = gm;
    fk->t.device_id = VS_DEV_BLK;
    fk->offered = VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_F_EVENT_IDX) |
                  VS_BIT(VS_F_INDIRECT_DESC) | VS_BIT(VS_F_RING_PACKED) |
                  VS_BIT(VS_BLK_F_FLUSH) | VS_BIT(VS_BLK_F_DISCARD) |
                  VS_BIT(VS_BLK_F_WRITE_ZEROES) | VS_BIT(VS_BLK_F_MQ);
    fk->qmax = 64;
    drv = NULL;
    memset(&bus, 0, sizeof bus);
    vs_event_bus_add(&bus, on_event, NULL);
    memset(ev_count, 0, sizeof ev_count);
    ev_log[0] = 0;
}

static void teardown(void)
{
    vs_driver_destroy(drv);
    drv = NULL;
    fk_drop(fk);
    free(fk);
    vs_gmem_destroy(gm);
}

static void mk(const vs_driver_opts *o)
{
    vs_err e = {0};
    ck_assert_msg(vs_driver_create(&drv, &fk->t, o, &bus, fk_now, fk, &e) == 0, "%s", e.msg);
}

static void mk_init(const vs_driver_opts *o)
{
    vs_err e = {0};
    mk(o);
    ck_assert_msg(vs_driver_init(drv, &e) == 0, "%s", e.msg);
}

static vs_blk_result do_req(vs_blk_req r)
{
    vs_err e = {0};
    vs_blk_result res;
    ck_assert_msg(vs_blk_do(drv, &r, &res, &e) == 0, "%s", e.msg);
    return res;
}

/* ------------------------------------------------------------------ tests */

START_TEST(test_init_sequence)
{
    mk_init(NULL);
    /* transport-level order: reset, wait for 0, ACK, DRIVER, features, FEATURES_OK,
     * re-read, config (generation protocol), queue setup, DRIVER_OK */
    const char *want_prefix = "reset gs ss01 ss03 gf sf ss0b gs gen cr0 gen nq qmax0 qs0 ss0f ";
    ck_assert_msg(strcmp(fk->log, want_prefix) == 0, "log: %s", fk->log);
    ck_assert_uint_eq(fk->status, 0x0f);
    ck_assert_uint_eq(vs_driver_status(drv), 0x0f);
    ck_assert_msg(strstr(ev_log, "reset:0 status_write:1 status_write:3 features_read:") ==
                      ev_log, "events: %s", ev_log);
    ck_assert_ptr_nonnull(strstr(ev_log, "status_write:b queue_setup:0 status_write:f"));
    ck_assert_uint_eq(ev_count[VS_EV_STATUS_READ], 2);
    ck_assert_uint_eq(ev_count[VS_EV_CONFIG_GEN], 2);
    ck_assert_uint_eq(vs_driver_blk_capacity(drv), CAP);
    ck_assert_uint_eq(vs_driver_queue_size(drv), 64);
}
END_TEST

START_TEST(test_feature_intersection)
{
    fk->offered |= VS_BIT(50) | VS_BIT(VS_F_IN_ORDER);
    vs_driver_opts o;
    vs_driver_opts_default(&o);
    o.features = VS_BIT(VS_BLK_F_FLUSH) | VS_BIT(VS_F_EVENT_IDX) | VS_BIT(VS_BLK_F_RO) |
                 VS_BIT(VS_F_RING_PACKED);  /* RO not offered; packed dropped for split */
    mk_init(&o);
    uint64_t want = VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_BLK_F_FLUSH) | VS_BIT(VS_F_EVENT_IDX);
    ck_assert_uint_eq(vs_driver_features(drv), want);
    ck_assert_uint_eq(fk->drv_features, want);
    ck_assert_uint_eq(vs_driver_device_features(drv), fk->offered);
}
END_TEST

START_TEST(test_packed_needs_feature)
{
    fk->offered &= ~VS_BIT(VS_F_RING_PACKED);
    vs_driver_opts o;
    vs_driver_opts_default(&o);
    o.ring = VS_RING_PACKED;
    mk(&o);
    vs_err e = {0};
    ck_assert_int_eq(vs_driver_init(drv, &e), -VS_ENOTSUP);
    ck_assert_ptr_nonnull(strstr(e.msg, "RING_PACKED"));
    ck_assert(fk->status & VS_STATUS_FAILED);
}
END_TEST

START_TEST(test_no_version1)
{
    fk->offered &= ~VS_BIT(VS_F_VERSION_1);
    mk(NULL);
    vs_err e = {0};
    ck_assert_int_lt(vs_driver_init(drv, &e), 0);
    ck_assert_ptr_nonnull(strstr(e.msg, "VERSION_1"));
    ck_assert(fk->status & VS_STATUS_FAILED);
}
END_TEST

START_TEST(test_features_ok_refused)
{
    fk->refuse_mask = VS_BIT(VS_BLK_F_FLUSH);
    mk(NULL);
    vs_err e = {0};
    ck_assert_int_eq(vs_driver_init(drv, &e), -VS_EPROTO);
    ck_assert_msg(strstr(e.msg, "FEATURES_OK") != NULL, "%s", e.msg);
    ck_assert(fk->status & VS_STATUS_FAILED);
    ck_assert(!(fk->status & VS_STATUS_DRIVER_OK));
    ck_assert_ptr_null(strstr(fk->log, "qs0")); /* no queue setup after refusal */
}
END_TEST

START_TEST(test_queue_size_too_large)
{
    vs_driver_opts o;
    vs_driver_opts_default(&o);
    o.queue_size = 128;
    mk(&o);
    vs_err e = {0};
    ck_assert_int_eq(vs_driver_init(drv, &e), -VS_EINVAL);
    ck_assert_msg(strstr(e.msg, "exceeds the device's maximum 64") != NULL, "%s", e.msg);
    ck_assert(fk->status & VS_STATUS_FAILED);
}
END_TEST

START_TEST(test_config_generation_retry)
{
    fk->gen_bumps = 1; /* the first capacity read races with a config change */
    mk_init(NULL);
    ck_assert_uint_eq(ev_count[VS_EV_CONFIG_GEN], 4);
    ck_assert_uint_eq(vs_driver_blk_capacity(drv), CAP);
}
END_TEST

/* _i: 0 split direct, 1 split indirect, 2 packed direct, 3 packed indirect */
START_TEST(test_roundtrip_all_types)
{
    vs_driver_opts o;
    vs_driver_opts_default(&o);
    o.ring = _i >= 2 ? VS_RING_PACKED : VS_RING_SPLIT;
    o.use_indirect = _i % 2;
    o.seg_size = 1024;  /* 8 sectors -> 4 data segments */
    mk_init(&o);
    vs_blk_result r = do_req((vs_blk_req){.type = VS_BLK_T_OUT, .sector = 10, .nsectors = 8});
    ck_assert_msg(r.ok, "%s", r.msg);
    ck_assert_uint_eq(r.used_len, 1);
    ck_assert_uint_ge(vs_blk_shadow_get(drv, 10), 2);
    r = do_req((vs_blk_req){.type = VS_BLK_T_IN, .sector = 10, .nsectors = 8});
    ck_assert_msg(r.ok, "%s", r.msg);
    ck_assert_uint_eq(r.used_len, 8 * 512 + 1);
    ck_assert_uint_eq(r.sectors_verified, 8);
    ck_assert_uint_gt(r.latency_ns, 0);
    r = do_req((vs_blk_req){.type = VS_BLK_T_FLUSH});
    ck_assert_msg(r.ok, "%s", r.msg);
    r = do_req((vs_blk_req){.type = VS_BLK_T_GET_ID});
    ck_assert_msg(r.ok, "%s", r.msg);
    ck_assert_uint_eq(r.used_len, 21);
    ck_assert_str_eq(r.id_str, "fake-serial-0001");
    r = do_req((vs_blk_req){.type = VS_BLK_T_WRITE_ZEROES, .sector = 12, .nsectors = 2,
                            .flags = VS_BLK_REQ_UNMAP});
    ck_assert_msg(r.ok, "%s", r.msg);
    ck_assert_uint_eq(vs_blk_shadow_get(drv, 12), VS_SHADOW_ZERO);
    r = do_req((vs_blk_req){.type = VS_BLK_T_IN, .sector = 10, .nsectors = 8});
    ck_assert_msg(r.ok, "%s", r.msg);
    ck_assert_uint_eq(r.sectors_verified, 8);
    r = do_req((vs_blk_req){.type = VS_BLK_T_DISCARD, .sector = 16, .nsectors = 2});
    ck_assert_msg(r.ok, "%s", r.msg);
    ck_assert_uint_eq(vs_blk_shadow_get(drv, 16), VS_SHADOW_UNKNOWN);
    r = do_req((vs_blk_req){.type = VS_BLK_T_IN, .sector = 10, .nsectors = 8});
    ck_assert_msg(r.ok, "%s", r.msg);
    ck_assert_uint_eq(r.sectors_verified, 6);
    ck_assert_uint_eq(r.sectors_skipped, 2);
    r = do_req((vs_blk_req){.type = 99, .data_len = 8});
    ck_assert_msg(r.ok, "%s", r.msg);
    ck_assert_uint_eq(r.status, VS_BLK_S_UNSUPP);
    /* out of range: IOERR expected by default */
    r = do_req((vs_blk_req){.type = VS_BLK_T_IN, .sector = CAP - 1, .nsectors = 2});
    ck_assert_msg(r.ok, "%s", r.msg);
    ck_assert_uint_eq(r.status, VS_BLK_S_IOERR);
    vs_err e = {0};
    ck_assert_msg(vs_driver_guard_ok(drv, &e), "%s", e.msg);
    ck_assert_uint_gt(ev_count[VS_EV_AVAIL], 0);
    ck_assert_uint_eq(ev_count[VS_EV_AVAIL], ev_count[VS_EV_USED]);
    ck_assert_uint_gt(ev_count[VS_EV_PUBLISH], 0);
}
END_TEST

START_TEST(test_verify_catches_corruption)
{
    mk_init(NULL);
    vs_blk_result r = do_req((vs_blk_req){.type = VS_BLK_T_OUT, .sector = 3, .nsectors = 1});
    ck_assert(r.ok);
    fk->corrupt_reads = true;
    r = do_req((vs_blk_req){.type = VS_BLK_T_IN, .sector = 3, .nsectors = 1});
    ck_assert(!r.ok);
    ck_assert(!r.data_ok);
    ck_assert(r.status_ok);
    ck_assert_msg(strstr(r.msg, "sector 3 offset 3") != NULL, "%s", r.msg);
}
END_TEST

START_TEST(test_verify_catches_stale_data)
{
    mk_init(NULL);
    ck_assert(do_req((vs_blk_req){.type = VS_BLK_T_OUT, .sector = 5, .nsectors = 1}).ok);
    uint8_t old[512];
    memcpy(old, fk->disk + 5 * 512, 512);
    ck_assert(do_req((vs_blk_req){.type = VS_BLK_T_OUT, .sector = 5, .nsectors = 1}).ok);
    memcpy(fk->disk + 5 * 512, old, 512); /* device "lost" the second write */
    vs_blk_result r = do_req((vs_blk_req){.type = VS_BLK_T_IN, .sector = 5, .nsectors = 1});
    ck_assert(!r.data_ok);
}
END_TEST

START_TEST(test_guard_catches_overwrite)
{
    mk_init(NULL);
    fk->overrun_in = true;
    vs_blk_result r = do_req((vs_blk_req){.type = VS_BLK_T_IN, .sector = 0, .nsectors = 1,
                                          .flags = VS_BLK_REQ_NO_VERIFY});
    ck_assert(!r.guard_ok);
    ck_assert(!r.ok);
    ck_assert_msg(strstr(r.msg, "guard byte 0") != NULL, "%s", r.msg);
    vs_err e = {0};
    ck_assert(!vs_driver_guard_ok(drv, &e));
    ck_assert_ptr_nonnull(strstr(e.msg, "guard"));
    vs_driver_counters c;
    vs_driver_counters_get(drv, &c);
    ck_assert_uint_eq(c.guard_violations, 1);
}
END_TEST

START_TEST(test_guard_catches_readable_write)
{
    mk_init(NULL);
    fk->scribble_header = true;
    vs_blk_result r = do_req((vs_blk_req){.type = VS_BLK_T_FLUSH});
    ck_assert(!r.guard_ok);
    ck_assert_msg(strstr(r.msg, "device-readable byte 4 changed") != NULL, "%s", r.msg);
}
END_TEST

START_TEST(test_pool_reuses_freed_buffers)
{
    /* Buffers come back the way a real driver's allocator hands them out: a freed chunk of
     * the size requests keep using is reused, last freed first; a request of another size
     * gets the lowest free fit, and once the size changes the cached chunks go back. */
    mk_init(NULL);
    vs_err e = {0};
    ck_assert(do_req((vs_blk_req){.type = VS_BLK_T_IN, .sector = 0, .nsectors = 1}).ok);
    ck_assert(do_req((vs_blk_req){.type = VS_BLK_T_IN, .sector = 1, .nsectors = 1}).ok);
    ck_assert_uint_eq(fk->hdr_gpa[1], fk->hdr_gpa[0]);
    /* three in flight together (A B C), completed in that order */
    fk->stopped = true;
    for (int i = 0; i < 3; i++)
        ck_assert_int_ge(vs_blk_read(drv, 0, (uint64_t)i, 1, &e), 0);
    fk->stopped = false;
    ck_assert_int_eq(vs_driver_run(drv, 0, &e), 0);
    ck_assert_int_eq(fk->served, 5);
    uint64_t a = fk->hdr_gpa[2], b = fk->hdr_gpa[3], c = fk->hdr_gpa[4];
    ck_assert(a < b && b < c);
    ck_assert_uint_eq(a, fk->hdr_gpa[0]);
    ck_assert(do_req((vs_blk_req){.type = VS_BLK_T_IN, .sector = 9, .nsectors = 1}).ok);
    ck_assert_uint_eq(fk->hdr_gpa[5], c); /* the last one freed */
    /* another size: placed above the cached chunks, which stay reserved */
    ck_assert(do_req((vs_blk_req){.type = VS_BLK_T_IN, .sector = 0, .nsectors = 16}).ok);
    ck_assert(fk->hdr_gpa[6] > c);
    /* its free switched the cache to its size and released A B C: lowest fit again */
    ck_assert(do_req((vs_blk_req){.type = VS_BLK_T_IN, .sector = 3, .nsectors = 1}).ok);
    ck_assert_uint_eq(fk->hdr_gpa[7], a);
}
END_TEST

START_TEST(test_pool_cache_gives_way)
{
    /* Chunks kept for reuse never make a larger request fail: when no fit is left they
     * go back to the pool and the search runs again. */
    vs_driver_opts o;
    vs_driver_opts_default(&o);
    o.pool_bytes = 64 * 1024;
    mk_init(&o);
    vs_err e = {0};
    fk->stopped = true;
    for (int i = 0; i < 20; i++)
        ck_assert_msg(vs_blk_read(drv, 0, (uint64_t)i, 1, &e) >= 0, "%d: %s", i, e.msg);
    fk->stopped = false;
    ck_assert_int_eq(vs_driver_run(drv, 0, &e), 0);
    vs_blk_result r = do_req((vs_blk_req){.type = VS_BLK_T_IN, .sector = 0, .nsectors = 110});
    ck_assert_msg(r.ok, "%s", r.msg);
}
END_TEST

START_TEST(test_queue_depth_limit)
{
    vs_driver_opts o;
    vs_driver_opts_default(&o);
    o.queue_depth = 2;
    mk_init(&o);
    vs_err e = {0};
    ck_assert_int_ge(vs_blk_read(drv, 0, 0, 1, &e), 0);
    ck_assert_int_ge(vs_blk_read(drv, 0, 1, 1, &e), 0);
    ck_assert_int_eq(vs_blk_read(drv, 0, 2, 1, &e), -VS_ENOSPC);
    ck_assert_ptr_nonnull(strstr(e.msg, "queue-depth limit 2"));
    ck_assert_uint_eq(vs_driver_outstanding(drv, 0), 2);
    ck_assert_int_eq(vs_driver_run(drv, 0, &e), 0);
    ck_assert_uint_eq(vs_driver_outstanding(drv, -1), 0);
    ck_assert_uint_eq(vs_blk_results_pending(drv), 2);
    ck_assert_int_ge(vs_blk_read(drv, 0, 2, 1, &e), 0);
    /* the workload never exceeds the limit either */
    ck_assert_int_eq(vs_driver_run(drv, 0, &e), 0);
    vs_blk_workload w = {.rw = VS_RW_RANDREAD, .bs = 512, .iodepth = 16, .nr_ops = 40};
    vs_blk_workload_stats st;
    ck_assert_msg(vs_blk_workload_run(drv, &w, &st, &e) == 0, "%s", e.msg);
    ck_assert_uint_eq(st.ops, 40);
    ck_assert_uint_eq(vs_blk_results_pending(drv), 3); /* older results kept */
}
END_TEST

START_TEST(test_interrupt_mode_needs_irq)
{
    mk_init(NULL);
    fk->no_irq = true;
    vs_err e = {0};
    ck_assert_int_ge(vs_blk_read(drv, 0, 0, 1, &e), 0);
    ck_assert_int_eq(vs_driver_run(drv, 100000, &e), -VS_ETIMEDOUT);
    ck_assert_uint_eq(fk->served, 1);          /* the device did complete it */
    ck_assert_uint_eq(ev_count[VS_EV_USED], 0); /* but the driver was never told */
}
END_TEST

START_TEST(test_polling_mode)
{
    vs_driver_opts o;
    vs_driver_opts_default(&o);
    o.irq_mode = VS_IRQ_POLL;
    mk_init(&o);
    ck_assert_int_eq(fk->t.irq_mode, VS_IRQ_POLL);
    ck_assert_uint_eq(ev_count[VS_EV_IRQ_MASK], 1);
    fk->no_irq = true;
    vs_blk_result r = do_req((vs_blk_req){.type = VS_BLK_T_IN, .sector = 0, .nsectors = 1});
    ck_assert_msg(r.ok, "%s", r.msg);
    vs_driver_counters c;
    vs_driver_counters_get(drv, &c);
    ck_assert_uint_eq(c.irqs, 0);
    ck_assert_uint_eq(c.completed, 1);
}
END_TEST

START_TEST(test_interrupt_mode_counts_irqs)
{
    mk_init(NULL);
    vs_blk_result r = do_req((vs_blk_req){.type = VS_BLK_T_IN, .sector = 0, .nsectors = 1});
    ck_assert(r.ok);
    vs_driver_counters c;
    vs_driver_counters_get(drv, &c);
    ck_assert_uint_ge(c.irqs, 1);
    ck_assert_uint_eq(c.kicks + c.kicks_suppressed, 1);
}
END_TEST

START_TEST(test_workload_counts)
{
    vs_driver_opts o;
    vs_driver_opts_default(&o);
    o.num_queues = 2;
    o.ring = _i ? VS_RING_PACKED : VS_RING_SPLIT;
    mk_init(&o);
    vs_blk_shadow_assume(drv, VS_SHADOW_ZERO); /* the fake disk starts zeroed */
    vs_blk_workload w = {.rw = VS_RW_RANDRW, .bs = 2048, .iodepth = 8, .rwmixread = 60,
                         .nr_ops = 300, .verify = true, .seed = 7};
    vs_blk_workload_stats st;
    vs_err e = {0};
    ck_assert_msg(vs_blk_workload_run(drv, &w, &st, &e) == 0, "%s", e.msg);
    ck_assert_uint_eq(st.ops, 300);
    ck_assert_uint_eq(st.reads + st.writes, 300);
    ck_assert_uint_gt(st.reads, 100);
    ck_assert_uint_gt(st.writes, 60);
    ck_assert_msg(st.errors == 0 && st.verify_failures == 0, "%s", st.first_error);
    ck_assert_uint_le(st.lat_min_ns, st.lat_median_ns);
    ck_assert_uint_le(st.lat_median_ns, st.lat_max_ns);
    ck_assert_uint_gt(st.lat_min_ns, 0);
    ck_assert_uint_eq(st.bytes_read, st.reads * 2048);
    uint64_t reads1 = st.reads;
    /* both queues were used */
    ck_assert_ptr_nonnull(strstr(fk->log, "kick1"));
    /* same seed, same mix */
    ck_assert_int_eq(vs_blk_workload_run(drv, &w, &st, &e), 0);
    ck_assert_uint_eq(st.reads, reads1);
    /* with corruption, verify failures are counted, not returned */
    fk->corrupt_reads = true;
    w.rw = VS_RW_READ;
    w.nr_ops = 20;
    ck_assert_int_eq(vs_blk_workload_run(drv, &w, &st, &e), 0);
    ck_assert_uint_gt(st.verify_failures, 0);
    ck_assert_str_ne(st.first_error, "");
}
END_TEST

/* An unverified workload gives its region up in one step: sectors written before become
 * unknown (a later verified read accepts anything there), sectors outside keep their
 * tags, and later tracked writes inside count again. */
START_TEST(test_unverified_workload_forgets_region)
{
    mk_init(NULL);
    vs_blk_shadow_assume(drv, VS_SHADOW_ZERO);
    vs_blk_result r = do_req((vs_blk_req){.type = VS_BLK_T_OUT, .sector = 8, .nsectors = 8});
    ck_assert_msg(r.ok, "%s", r.msg);
    r = do_req((vs_blk_req){.type = VS_BLK_T_OUT, .sector = 64, .nsectors = 2});
    ck_assert_msg(r.ok, "%s", r.msg);
    uint64_t out_tag = vs_blk_shadow_get(drv, 64);
    ck_assert_uint_ge(out_tag, 2);
    vs_blk_workload w = {.rw = VS_RW_RANDWRITE, .bs = 4096, .iodepth = 4, .nr_ops = 40,
                         .offset = 0, .size = 32 * 512, .verify = false, .seed = 3};
    vs_blk_workload_stats st;
    vs_err e = {0};
    ck_assert_msg(vs_blk_workload_run(drv, &w, &st, &e) == 0, "%s", e.msg);
    ck_assert_uint_eq(st.writes, 40);
    for (uint64_t s = 0; s < 32; s++)
        ck_assert_uint_eq(vs_blk_shadow_get(drv, s), VS_SHADOW_UNKNOWN);
    ck_assert_uint_eq(vs_blk_shadow_get(drv, 64), out_tag);       /* outside: kept */
    ck_assert_uint_eq(vs_blk_shadow_get(drv, 40), VS_SHADOW_ZERO); /* never written */
    r = do_req((vs_blk_req){.type = VS_BLK_T_IN, .sector = 8, .nsectors = 8});
    ck_assert_msg(r.ok, "%s", r.msg);
    ck_assert_uint_eq(r.sectors_verified, 0);
    r = do_req((vs_blk_req){.type = VS_BLK_T_OUT, .sector = 8, .nsectors = 1});
    ck_assert_msg(r.ok, "%s", r.msg);
    ck_assert_uint_ge(vs_blk_shadow_get(drv, 8), 2);
    r = do_req((vs_blk_req){.type = VS_BLK_T_IN, .sector = 8, .nsectors = 2});
    ck_assert_msg(r.ok, "%s", r.msg);
    ck_assert_uint_eq(r.sectors_verified, 1);
    ck_assert_uint_eq(r.sectors_skipped, 1);
    /* a range with a write in flight cannot be given up */
    vs_blk_req wr = {.type = VS_BLK_T_OUT, .sector = 100, .nsectors = 1,
                     .flags = VS_BLK_REQ_DEFER};
    ck_assert_int_ge(vs_blk_submit(drv, &wr, &e), 0);
    ck_assert_int_eq(vs_blk_shadow_forget(drv, 96, 8, &e), -VS_ESTATE);
    ck_assert_int_eq(vs_blk_shadow_forget(drv, 101, 8, &e), 0);
}
END_TEST

START_TEST(test_workload_bad_params)
{
    mk_init(NULL);
    vs_blk_workload w = {.rw = VS_RW_READ, .bs = 1000};
    vs_blk_workload_stats st;
    vs_err e = {0};
    ck_assert_int_eq(vs_blk_workload_run(drv, &w, &st, &e), -VS_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "multiple of 512"));
    vs_rw_kind k;
    ck_assert_int_eq(vs_rw_kind_parse("randrw", &k, &e), 0);
    ck_assert_int_eq(k, VS_RW_RANDRW);
    ck_assert_int_eq(vs_rw_kind_parse("sideways", &k, &e), -VS_EINVAL);
}
END_TEST

/* _i indexes the fault kinds */
START_TEST(test_fault_needs_reset)
{
    static const enum vs_fault kinds[] = {
        VS_FAULT_LOOP, VS_FAULT_NEXT_OOR, VS_FAULT_ADDR_OOR, VS_FAULT_NESTED_INDIRECT,
        VS_FAULT_WRITE_BEFORE_READ, VS_FAULT_LEN_OVERFLOW};
    mk_init(NULL);
    vs_err e = {0};
    ck_assert_msg(vs_driver_submit_fault(drv, 0, kinds[_i], &e) >= 0, "%s", e.msg);
    ck_assert_msg(vs_driver_wait_status(drv, VS_STATUS_DEVICE_NEEDS_RESET, 1000000, &e) == 1,
                  "%s: %s (log %s)", vs_fault_name(kinds[_i]), e.msg, fk->log);
    ck_assert(vs_driver_needs_reset(drv));
    ck_assert_ptr_nonnull(strstr(fk->log, "devfault"));
    vs_driver_counters c;
    vs_driver_counters_get(drv, &c);
    ck_assert_uint_eq(c.config_irqs, 1);
    /* recover: reset + init, and the device works again */
    ck_assert_int_eq(vs_driver_reset(drv, &e), 0);
    ck_assert(!vs_driver_needs_reset(drv));
    ck_assert_int_eq(vs_driver_init(drv, &e), 0);
    ck_assert(do_req((vs_blk_req){.type = VS_BLK_T_FLUSH}).ok);
}
END_TEST

START_TEST(test_fault_run_reports_needs_reset)
{
    mk_init(NULL);
    vs_err e = {0};
    ck_assert_int_ge(vs_driver_submit_fault(drv, 0, VS_FAULT_NEXT_OOR, &e), 0);
    ck_assert_int_eq(vs_driver_run(drv, 1000000, &e), -VS_ESTATE);
    ck_assert_ptr_nonnull(strstr(e.msg, "DEVICE_NEEDS_RESET"));
    enum vs_fault f;
    ck_assert_int_eq(vs_fault_parse("nested_indirect", &f, &e), 0);
    ck_assert_int_eq(f, VS_FAULT_NESTED_INDIRECT);
}
END_TEST

START_TEST(test_raw_access)
{
    mk(NULL);
    vs_err e = {0};
    ck_assert_int_eq(vs_driver_write_status_raw(drv, 0x42, &e), 0);
    ck_assert_uint_eq(fk->status, 0x42);
    ck_assert_int_eq(vs_driver_write_features_raw(drv, VS_BIT(61), &e), 0);
    ck_assert_uint_eq(fk->drv_features, VS_BIT(61));
    uint8_t s;
    ck_assert_int_eq(vs_driver_read_status(drv, &s, &e), 0);
    ck_assert_uint_eq(s, 0x42);
    ck_assert_uint_eq(ev_count[VS_EV_STATUS_WRITE], 1);
    ck_assert_uint_eq(ev_count[VS_EV_FEATURES_WRITE], 1);
}
END_TEST

/* ------------------------------------------------------------------ over the ref transport */

static uint64_t eng_now(void *opaque)
{
    return vs_engine_now(opaque);
}

START_TEST(test_ref_transport_workload)
{
    vs_err e = {0};
    vs_engine *eng;
    ck_assert_int_eq(vs_engine_create(&eng, 42, &e), 0);
    vs_blk_opts bo;
    vs_blk_opts_default(&bo);
    bo.num_queues = 2;
    vs_device *dev;
    ck_assert_msg(vs_blk_create(&dev, gm, &bo, &e) == 0, "%s", e.msg);
    vs_ref_opts ro;
    vs_ref_opts_default(&ro);
    ro.service.dist = VS_SERVICE_UNIFORM;
    ro.service.min_ns = 1000;
    ro.service.max_ns = 50000;
    vs_transport *t;
    ck_assert_msg(vs_ref_transport_create(&t, eng, dev, gm, &ro, &bus, &e) == 0, "%s", e.msg);
    vs_driver_opts o;
    vs_driver_opts_default(&o);
    o.num_queues = 2;
    o.ring = _i >= 2 ? VS_RING_PACKED : VS_RING_SPLIT;
    o.irq_mode = _i % 2 ? VS_IRQ_POLL : VS_IRQ_MSIX;
    o.seg_size = 1536;
    vs_driver *d;
    ck_assert_int_eq(vs_driver_create(&d, t, &o, &bus, eng_now, eng, &e), 0);
    ck_assert_msg(vs_driver_init(d, &e) == 0, "%s", e.msg);
    vs_blk_shadow_assume(d, VS_SHADOW_ZERO);
    vs_blk_workload w = {.rw = VS_RW_RANDRW, .bs = 4096, .iodepth = 16, .nr_ops = 400,
                         .verify = true, .seed = 3};
    vs_blk_workload_stats st;
    ck_assert_msg(vs_blk_workload_run(d, &w, &st, &e) == 0, "%s", e.msg);
    ck_assert_uint_eq(st.ops, 400);
    ck_assert_msg(st.errors == 0 && st.verify_failures == 0, "%s", st.first_error);
    ck_assert_uint_lt(st.lat_min_ns, st.lat_max_ns); /* out-of-order service times */
    vs_blk_result r;
    vs_blk_req gid = {.type = VS_BLK_T_GET_ID};
    ck_assert_msg(vs_blk_do(d, &gid, &r, &e) == 0, "%s", e.msg);
    ck_assert_msg(r.ok, "%s", r.msg);
    ck_assert(vs_driver_guard_ok(d, &e));
    /* fault -> DEVICE_NEEDS_RESET + config interrupt */
    enum vs_fault f = o.ring == VS_RING_SPLIT ? VS_FAULT_LOOP : VS_FAULT_ADDR_OOR;
    ck_assert_int_ge(vs_driver_submit_fault(d, 1, f, &e), 0);
    ck_assert_msg(vs_driver_wait_status(d, VS_STATUS_DEVICE_NEEDS_RESET, 10000000, &e) == 1,
                  "%s", e.msg);
    ck_assert_int_eq(vs_driver_reset(d, &e), 0);
    vs_driver_destroy(d);
    t->ops->destroy(t);
    dev->ops->destroy(dev);
    vs_engine_destroy(eng);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("driver");
    TCase *tc = tcase_create("fake");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_init_sequence);
    tcase_add_test(tc, test_feature_intersection);
    tcase_add_test(tc, test_packed_needs_feature);
    tcase_add_test(tc, test_no_version1);
    tcase_add_test(tc, test_features_ok_refused);
    tcase_add_test(tc, test_queue_size_too_large);
    tcase_add_test(tc, test_config_generation_retry);
    tcase_add_loop_test(tc, test_roundtrip_all_types, 0, 4);
    tcase_add_test(tc, test_verify_catches_corruption);
    tcase_add_test(tc, test_verify_catches_stale_data);
    tcase_add_test(tc, test_guard_catches_overwrite);
    tcase_add_test(tc, test_guard_catches_readable_write);
    tcase_add_test(tc, test_queue_depth_limit);
    tcase_add_test(tc, test_pool_reuses_freed_buffers);
    tcase_add_test(tc, test_pool_cache_gives_way);
    tcase_add_test(tc, test_interrupt_mode_needs_irq);
    tcase_add_test(tc, test_polling_mode);
    tcase_add_test(tc, test_interrupt_mode_counts_irqs);
    tcase_add_loop_test(tc, test_workload_counts, 0, 2);
    tcase_add_test(tc, test_unverified_workload_forgets_region);
    tcase_add_test(tc, test_workload_bad_params);
    tcase_add_loop_test(tc, test_fault_needs_reset, 0, 6);
    tcase_add_test(tc, test_fault_run_reports_needs_reset);
    tcase_add_test(tc, test_raw_access);
    suite_add_tcase(s, tc);
    TCase *tr = tcase_create("ref");
    tcase_add_checked_fixture(tr, setup, teardown);
    tcase_add_loop_test(tr, test_ref_transport_workload, 0, 4);
    suite_add_tcase(s, tr);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
