/* The qemu transport against QEMU's virtio-blk-pci, driven with the driver-side rings of
 * model/ring.  QEMU is installed on CI: nothing here is skipped. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "virtiosim/blk.h"
#include "virtiosim/blk_qemu.h"
#include "virtiosim/event.h"
#include "virtiosim/gmem.h"
#include "virtiosim/qemu.h"
#include "virtiosim/qmp.h"
#include "virtiosim/virtio.h"
#include "virtiosim/vring.h"

#include "sim/child.h"             /* vs__child_keeper_start */
#include "sim/qemu/qemu_proc.h" /* vs_qemu_live_count */

#define MEM (32u << 20)
#define IMG_BYTES (1u << 20)
#define T_IN 0u
#define T_OUT 1u

typedef struct fx {
    vs_gmem *gm;
    vs_transport *t;
    vs_vq_drv *vq;
    vs_vq_layout l;
    uint64_t hdr, data, status;
    int irqs[4];
    int cfg_irqs;
    int ev_irq;
    vs_event_bus bus;
    char img[64];
    uint64_t features;
} fx;

static void on_irq(void *opaque, int queue)
{
    fx *f = opaque;
    if (queue == VS_IRQ_CONFIG)
        f->cfg_irqs++;
    else if (queue >= 0 && queue < 4)
        f->irqs[queue]++;
}

static void on_event(void *opaque, const vs_event *ev)
{
    fx *f = opaque;
    if (ev->kind == VS_EV_IRQ)
        f->ev_irq++;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#define OK(call)                                                                           \
    do {                                                                                   \
        vs_err e_ = { 0 };                                                                 \
        vs_err *e = &e_;                                                                   \
        int rc_ = (call);                                                                  \
        ck_assert_msg(rc_ >= 0, "%s -> %s: %s", #call, vs_errc_name(rc_), e_.msg);         \
    } while (0)

static void make_image(fx *f)
{
    snprintf(f->img, sizeof f->img, "/tmp/vs-qemu-img-XXXXXX");
    int fd = mkstemp(f->img);
    ck_assert_int_ge(fd, 0);
    static uint8_t buf[IMG_BYTES];
    for (unsigned i = 0; i < IMG_BYTES; i++)
        buf[i] = (uint8_t)(i / 512 + i);
    ck_assert_int_eq(write(fd, buf, IMG_BYTES), IMG_BYTES);
    close(fd);
}

static void start_with(fx *f, vs_qemu_blk_params *p, const vs_qemu_backend_opts *base);

/* Starts QEMU with the given params; irq mode as given. */
static void start(fx *f, vs_qemu_blk_params *p, enum vs_irq_mode mode)
{
    vs_qemu_backend_opts o;
    vs_qemu_backend_opts_default(&o);
    o.device_type = VS_DEV_BLK;
    o.irq_mode = mode;
    start_with(f, p, &o);
}

static void start_with(fx *f, vs_qemu_blk_params *p, const vs_qemu_backend_opts *base)
{
    memset(f, 0, sizeof *f);
    OK(vs_gmem_create_flat(&f->gm, MEM, e));
    vs_event_bus_add(&f->bus, on_event, f);
    vs_qemu_args a;
    OK(vs_qemu_blk_args(p, &a, e));
    vs_qemu_backend_opts o = *base;
    o.device_args = a.argv;
    OK(vs_qemu_transport_create(&f->t, f->gm, &o, &f->bus, e));
    f->t->irq_fn = on_irq;
    f->t->irq_opaque = f;
    ck_assert(vs_qemu_transport_is(f->t));
    ck_assert_int_gt(vs_qemu_transport_pid(f->t), 0);
    ck_assert_ptr_nonnull(strstr(vs_qemu_transport_version(f->t), "QEMU emulator version"));
}

/* Status sequence up to FEATURES_OK + one queue + DRIVER_OK. */
static void bring_up(fx *f, vs_ring_format fmt, uint64_t want)
{
    vs_transport *t = f->t;
    uint8_t st = 0xff;
    OK(t->ops->reset(t, e));
    OK(t->ops->get_status(t, &st, e));
    ck_assert_uint_eq(st, 0);
    OK(t->ops->set_status(t, VS_STATUS_ACKNOWLEDGE, e));
    OK(t->ops->set_status(t, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER, e));
    uint64_t dev = 0;
    OK(t->ops->get_device_features(t, &dev, e));
    ck_assert_msg(dev & VS_BIT(VS_F_VERSION_1), "features 0x%llx", (unsigned long long)dev);
    want |= VS_BIT(VS_F_VERSION_1);
    if (fmt == VS_RING_PACKED)
        want |= VS_BIT(VS_F_RING_PACKED);
    ck_assert_msg((dev & want) == want, "device 0x%llx lacks 0x%llx", (unsigned long long)dev,
                  (unsigned long long)want);
    f->features = want;
    OK(t->ops->set_driver_features(t, want, e));
    uint8_t s3 = VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK;
    OK(t->ops->set_status(t, s3, e));
    OK(t->ops->get_status(t, &st, e));
    ck_assert_uint_eq(st, s3);
    uint16_t nq = 0;
    OK(t->ops->num_queues(t, &nq, e));
    ck_assert_uint_ge(nq, 1);
    uint32_t max = 0;
    OK(t->ops->queue_max_size(t, 0, &max, e));
    ck_assert_uint_eq(max, 256);
    OK(vs_vq_layout_alloc(f->gm, fmt, 16, &f->l, e));
    ck_assert(f->l.desc_gpa < 0xA0000u || f->l.desc_gpa >= 0x100000u); /* not in the VGA window */
    vs_vq_drv_opts qo = { .queue_index = 0,
                          .features = (want & VS_BIT(VS_F_EVENT_IDX)) ? VS_VQ_F_EVENT_IDX : 0 };
    OK(vs_vq_drv_create(&f->vq, f->gm, &f->l, &qo, e));
    OK(t->ops->queue_setup(t, 0, &f->l, e));
    OK(t->ops->set_status(t, s3 | VS_STATUS_DRIVER_OK, e));
    OK(t->ops->get_status(t, &st, e));
    ck_assert_uint_eq(st, s3 | VS_STATUS_DRIVER_OK);
    OK(vs_gmem_alloc(f->gm, 3 * VS_GMEM_PAGE, VS_GMEM_PAGE, &f->hdr, e));
    f->data = f->hdr + VS_GMEM_PAGE;
    f->status = f->hdr + 2 * VS_GMEM_PAGE;
}

/* One blk request of len bytes at sector; returns the blk status byte. */
static int blk_req(fx *f, uint32_t type, uint64_t sector, uint32_t len, uint32_t *used_len)
{
    vs_transport *t = f->t;
    OK(vs_gmem_st32(f->gm, f->hdr, type, e));
    OK(vs_gmem_st32(f->gm, f->hdr + 4, 0, e));
    OK(vs_gmem_st64(f->gm, f->hdr + 8, sector, e));
    OK(vs_gmem_st8(f->gm, f->status, 0xff, e));
    vs_seg s[3] = { { f->hdr, 16 }, { f->data, len }, { f->status, 1 } };
    unsigned n_out = type == T_OUT ? 2 : 1;
    OK(vs_vq_drv_add(f->vq, s, n_out, 3 - n_out, 0, f, e));
    vs_vq_drv_publish(f->vq);
    if (vs_vq_drv_kick_needed(f->vq))
        OK(t->ops->notify(t, 0, e));
    vs_used u;
    int got = 0;
    double t0 = now_s();
    while (!got) {
        vs_err er = { 0 };
        got = vs_vq_drv_collect(f->vq, &u, &er);
        ck_assert_msg(got >= 0, "collect: %s", er.msg);
        if (got)
            break;
        ck_assert_msg(now_s() - t0 < 5.0, "request timed out");
        OK(t->ops->wait(t, 100000000u, e));
    }
    ck_assert_ptr_eq(u.cookie, f);
    if (used_len)
        *used_len = u.len;
    uint8_t st = 0;
    OK(vs_gmem_ld8(f->gm, f->status, &st, e));
    return st;
}

static void finish(fx *f)
{
    if (f->vq)
        vs_vq_drv_destroy(f->vq);
    if (f->t)
        f->t->ops->destroy(f->t);
    vs_gmem_destroy(f->gm);
    if (f->img[0])
        unlink(f->img);
    ck_assert_int_eq(vs_qemu_live_count(), 0);
    ck_assert(waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD);
}

static void roundtrip(fx *f)
{
    /* write a pattern to sector 3, read it back, and read sector 0 as the file has it */
    uint8_t pat[512], back[512];
    for (int i = 0; i < 512; i++)
        pat[i] = (uint8_t)(0x5a ^ i);
    OK(vs_gmem_write(f->gm, f->data, pat, 512, e));
    uint32_t ulen = 0;
    ck_assert_int_eq(blk_req(f, T_OUT, 3, 512, &ulen), 0);
    OK(vs_gmem_fill(f->gm, f->data, 0, 512, e));
    ck_assert_int_eq(blk_req(f, T_IN, 3, 512, &ulen), 0);
    if (f->l.format == VS_RING_SPLIT) {
        ck_assert_uint_eq(ulen, 513);
    } else {
        /* QEMU 7.2 writes the packed used descriptor with len 513 but without
         * VIRTQ_DESC_F_WRITE, so the length is "reserved" and the ring reports 0 (spec
         * 2.8.5 "Element Length is reserved for used descriptors without the
         * VIRTQ_DESC_F_WRITE flag").  Record the raw descriptor as evidence. */
        uint16_t slot = (uint16_t)((vs_vq_drv_avail_idx(f->vq) & 0x7fff) - 3);
        uint32_t rlen = 0;
        uint16_t rflags = 0;
        OK(vs_gmem_ld32(f->gm, f->l.desc_gpa + 16u * slot + 8, &rlen, e));
        OK(vs_gmem_ld16(f->gm, f->l.desc_gpa + 16u * slot + 14, &rflags, e));
        fprintf(stderr, "packed used desc %u: len %u flags 0x%04x (ring says len %u)\n", slot,
                rlen, rflags, ulen);
        ck_assert_uint_eq(rlen, 513);
        ck_assert_uint_eq(rflags & VS_DESC_F_WRITE, 0);
        ck_assert_uint_eq(ulen, 0);
    }
    OK(vs_gmem_read(f->gm, f->data, back, 512, e));
    ck_assert_mem_eq(back, pat, 512);
    ck_assert_int_eq(blk_req(f, T_IN, 0, 512, NULL), 0);
    OK(vs_gmem_read(f->gm, f->data, back, 512, e));
    for (int i = 0; i < 512; i++)
        ck_assert_uint_eq(back[i], (uint8_t)i);
    /* and the file really changed */
    FILE *fp = fopen(f->img, "rb");
    ck_assert_ptr_nonnull(fp);
    fseek(fp, 3 * 512, SEEK_SET);
    ck_assert_int_eq(fread(back, 1, 512, fp), 512);
    fclose(fp);
    ck_assert_mem_eq(back, pat, 512);
}

/* QEMU on a fresh image file (see make_image) with the given options. */
static void start_on_image(fx *f, const vs_qemu_backend_opts *o, const char *serial)
{
    vs_qemu_blk_params p;
    vs_qemu_blk_params_default(&p);
    fx tmp;
    make_image(&tmp);
    p.image = tmp.img;
    p.serial = serial;
    start_with(f, &p, o);
    memcpy(f->img, tmp.img, sizeof f->img);
}

START_TEST(split_msix_roundtrip)
{
    fx f;
    vs_qemu_backend_opts o;
    vs_qemu_backend_opts_default(&o);
    o.device_type = VS_DEV_BLK;
    start_on_image(&f, &o, "vs,serial");
    bring_up(&f, VS_RING_SPLIT, VS_BIT(VS_F_EVENT_IDX));
    /* config: capacity (le64 at 0) in 512-byte sectors, any width */
    uint64_t cap = 0;
    OK(f.t->ops->config_read(f.t, 0, &cap, 8, e));
    ck_assert_uint_eq(cap, IMG_BYTES / 512);
    uint8_t b[3];
    OK(f.t->ops->config_read(f.t, 1, b, 3, e));
    ck_assert_uint_eq(b[0], (IMG_BYTES / 512) >> 8);
    uint32_t gen = 99;
    OK(f.t->ops->config_generation(f.t, &gen, e));
    vs_err er = { 0 };
    ck_assert_int_eq(f.t->ops->config_read(f.t, 0x1000, b, 1, &er), -VS_ERANGE);
    roundtrip(&f);
    ck_assert_int_ge(f.irqs[0], 1);
    ck_assert_int_eq(f.cfg_irqs, 0);
    ck_assert_int_ge(f.ev_irq, f.irqs[0]);
    /* queue_disable without RING_RESET: not supported */
    ck_assert_int_eq(f.t->ops->queue_disable(f.t, 0, &er), -VS_ENOTSUP);
    uint64_t self = 0, q = 0;
    OK(vs_qemu_transport_cpu(f.t, &self, &q, e));
    ck_assert_uint_gt(self, 0);
    finish(&f);
}
END_TEST

static int open_fds(void)
{
    vs__child_keeper_start(); /* its socket stays open for good once started */
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            n++;
    return n;
}

/* MSI-X messages arrive as eventfd signals (sim/qemu/irqfd.h): no timed sleeps, every
 * interrupt counted by the bridge, and nothing of the bridge left open afterwards. */
START_TEST(msix_through_eventfds)
{
    int fds0 = open_fds();
    fx f;
    vs_qemu_backend_opts o;
    vs_qemu_backend_opts_default(&o);
    o.device_type = VS_DEV_BLK;
    start_on_image(&f, &o, NULL);
    bring_up(&f, VS_RING_SPLIT, 0);
    roundtrip(&f);
    vs_qemu_stats st;
    vs_qemu_transport_stats(f.t, &st);
    ck_assert_int_ge(f.irqs[0], 1);
    ck_assert_uint_ge(st.irqfd_signals, (uint64_t)f.irqs[0]);
    ck_assert_uint_eq(st.wait_sleeps, 0);
    /* a reset forgets signals not yet delivered; the queue works again afterwards */
    vs_vq_drv_destroy(f.vq);
    f.vq = NULL;
    bring_up(&f, VS_RING_SPLIT, 0);
    roundtrip(&f);
    finish(&f);
    ck_assert_int_eq(open_fds(), fds0);
}
END_TEST

/* Register writes wait for the next read, kick or wait and go out with it in one batch
 * (sim/qemu/qtest_bus.h): a bring-up and a request cost far fewer socket writes than
 * commands (each write was its own batch before), and the device still works. */
START_TEST(register_writes_are_batched)
{
    fx f;
    vs_qemu_backend_opts o;
    vs_qemu_backend_opts_default(&o);
    o.device_type = VS_DEV_BLK;
    start_on_image(&f, &o, NULL);
    vs_qemu_stats s0, s1;
    vs_qemu_transport_stats(f.t, &s0);
    bring_up(&f, VS_RING_SPLIT, 0);
    roundtrip(&f);
    vs_qemu_transport_stats(f.t, &s1);
    uint64_t cmds = s1.qtest_commands - s0.qtest_commands;
    uint64_t batches = s1.qtest_writes - s0.qtest_writes;
    fprintf(stderr, "bring-up + request: %llu qtest commands in %llu batches\n",
            (unsigned long long)cmds, (unsigned long long)batches);
    ck_assert_uint_gt(batches, 0);
    ck_assert_uint_ge(cmds, 2 * batches);
    finish(&f);
}
END_TEST

/* The fallback (no_irqfd): MSI-X messages land in guest RAM and are polled for. */
START_TEST(msix_slot_polling_fallback)
{
    fx f;
    vs_qemu_backend_opts o;
    vs_qemu_backend_opts_default(&o);
    o.device_type = VS_DEV_BLK;
    o.no_irqfd = true;
    start_on_image(&f, &o, NULL);
    ck_assert_ptr_null(strstr(vs_qemu_transport_cmdline(f.t), "ivshmem"));
    bring_up(&f, VS_RING_SPLIT, 0);
    roundtrip(&f);
    vs_qemu_stats st;
    vs_qemu_transport_stats(f.t, &st);
    ck_assert_int_ge(f.irqs[0], 1);
    ck_assert_uint_eq(st.irqfd_signals, 0);
    finish(&f);
}
END_TEST

/* same_cpu pins QEMU and the caller to one CPU, and gives the caller its affinity back. */
START_TEST(same_cpu_restores_affinity)
{
    cpu_set_t before, during, after;
    ck_assert_int_eq(sched_getaffinity(0, sizeof before, &before), 0);
    fx f;
    vs_qemu_blk_params p;
    vs_qemu_blk_params_default(&p);
    vs_qemu_backend_opts o;
    vs_qemu_backend_opts_default(&o);
    o.device_type = VS_DEV_BLK;
    o.same_cpu = true;
    start_with(&f, &p, &o);
    ck_assert_int_eq(sched_getaffinity(0, sizeof during, &during), 0);
    ck_assert_int_eq(CPU_COUNT(&during), 1);
    cpu_set_t qset;
    ck_assert_int_eq(sched_getaffinity(vs_qemu_transport_pid(f.t), sizeof qset, &qset), 0);
    ck_assert(CPU_EQUAL(&qset, &during));
    bring_up(&f, VS_RING_SPLIT, 0);
    ck_assert_int_eq(blk_req(&f, T_IN, 0, 512, NULL), 0);
    finish(&f);
    ck_assert_int_eq(sched_getaffinity(0, sizeof after, &after), 0);
    ck_assert(CPU_EQUAL(&before, &after));
}
END_TEST

START_TEST(packed_roundtrip_and_queue_reset)
{
    fx f, tmp;
    vs_qemu_blk_params p;
    vs_qemu_blk_params_default(&p);
    make_image(&tmp);
    p.image = tmp.img;
    p.packed = true;
    start(&f, &p, VS_IRQ_MSIX);
    memcpy(f.img, tmp.img, sizeof f.img);
    bring_up(&f, VS_RING_PACKED, VS_BIT(VS_F_EVENT_IDX) | VS_BIT(VS_F_RING_RESET));
    roundtrip(&f);
    ck_assert_int_ge(f.irqs[0], 1);
    OK(f.t->ops->queue_disable(f.t, 0, e));
    /* QEMU 7.2 non-conformance: queue_reset reads 0 right after the reset */
    ck_assert_int_eq(vs_qemu_transport_last_queue_reset(f.t), 0);
    vs_err er = { 0 };
    ck_assert_int_eq(f.t->ops->notify(f.t, 0, &er), -VS_ESTATE);
    /* the queue can be set up again and works */
    OK(f.t->ops->queue_setup(f.t, 0, &f.l, e));
    vs_vq_drv_destroy(f.vq);
    vs_vq_drv_opts qo = { .features = VS_VQ_F_EVENT_IDX };
    OK(vs_vq_drv_create(&f.vq, f.gm, &f.l, &qo, e));
    ck_assert_int_eq(blk_req(&f, T_IN, 3, 512, NULL), 0);
    finish(&f);
}
END_TEST

START_TEST(intx_roundtrip)
{
    fx f, tmp;
    vs_qemu_blk_params p;
    vs_qemu_blk_params_default(&p);
    make_image(&tmp);
    p.image = tmp.img;
    start(&f, &p, VS_IRQ_INTX);
    memcpy(f.img, tmp.img, sizeof f.img);
    bring_up(&f, VS_RING_SPLIT, 0);
    roundtrip(&f);
    ck_assert_int_ge(f.irqs[0], 1);
    uint8_t isr = 0;
    OK(f.t->ops->read_isr(f.t, &isr, e));
    ck_assert_uint_eq(isr & 1, 1); /* nobody read it yet */
    OK(f.t->ops->read_isr(f.t, &isr, e));
    ck_assert_uint_eq(isr, 0);     /* read-to-clear */
    finish(&f);
}
END_TEST

START_TEST(blkdebug_read_error)
{
    fx f;
    vs_qemu_blk_params p;
    vs_qemu_blk_params_default(&p);
    p.capacity = 1u << 20;
    vs_qemu_blkdebug_rule r = { VS_QEMU_BLKDBG_READ_AIO, 8, 5 /* EIO */, true };
    p.rules = &r;
    p.n_rules = 1;
    start(&f, &p, VS_IRQ_MSIX);
    bring_up(&f, VS_RING_SPLIT, VS_BIT(VS_F_EVENT_IDX));
    ck_assert_int_eq(blk_req(&f, T_IN, 0, 512, NULL), 0);
    ck_assert_int_eq(blk_req(&f, T_IN, 8, 512, NULL), 1); /* VIRTIO_BLK_S_IOERR */
    ck_assert_int_eq(blk_req(&f, T_IN, 8, 512, NULL), 0); /* once */
    finish(&f);
}
END_TEST

/* QEMU's control monitor: commands, QEMU's errors, events kept across commands, a dead
 * QEMU. */
START_TEST(qmp_monitor)
{
    fx f;
    vs_qemu_blk_params p;
    vs_qemu_blk_params_default(&p);
    start(&f, &p, VS_IRQ_MSIX);
    vs_qmp *q = vs_qemu_transport_qmp(f.t);
    ck_assert_ptr_nonnull(q);
    char ret[512], data[256];
    OK(vs_qmp_execute(q, "query-status", NULL, ret, sizeof ret, e));
    ck_assert_msg(strstr(ret, "\"running\":true"), "query-status: %s", ret);
    ck_assert_msg(strchr(vs_qmp_version(q), '.'), "version %s", vs_qmp_version(q));
    vs_err er = { 0 };
    ck_assert_int_eq(vs_qmp_execute(q, "no-such-command", NULL, NULL, 0, &er), -VS_EBACKEND);
    ck_assert_msg(strstr(er.msg, "CommandNotFound"), "msg: %s", er.msg);
    ck_assert_int_eq(vs_qmp_execute(q, "stop", "[1]", NULL, 0, &er), -VS_EINVAL);
    /* STOP and RESUME arrive while the commands wait; both are kept, in order */
    OK(vs_qmp_executef(q, e, "stop", "{}"));
    OK(vs_qmp_execute(q, "cont", NULL, NULL, 0, e));
    OK(vs_qmp_wait_event(q, "RESUME", NULL, NULL, 2000, data, sizeof data, e));
    ck_assert_int_eq(vs_qmp_wait_event(q, "STOP", NULL, NULL, 200, NULL, 0, &er),
                     -VS_ETIMEDOUT); /* consumed with the RESUME after it */
    /* a hot-plugged drive: blockdev-add, then its node is listed */
    OK(vs_qmp_executef(q, e, "blockdev-add", "{\"driver\": \"null-co\", \"node-name\": "
                       "\"%s\", \"size\": %d}", "hp0", 1 << 20));
    OK(vs_qmp_execute(q, "query-named-block-nodes", NULL, ret, sizeof ret, e));
    ck_assert_msg(strstr(ret, "hp0"), "nodes: %.200s", ret);
    kill(vs_qemu_transport_pid(f.t), SIGKILL);
    ck_assert_int_eq(vs_qmp_execute(q, "query-status", NULL, NULL, 0, &er), -VS_EBACKEND);
    finish(&f);
}
END_TEST

START_TEST(qemu_killed)
{
    fx f;
    vs_qemu_blk_params p;
    vs_qemu_blk_params_default(&p);
    start(&f, &p, VS_IRQ_MSIX);
    bring_up(&f, VS_RING_SPLIT, VS_BIT(VS_F_EVENT_IDX));
    ck_assert_int_eq(blk_req(&f, T_IN, 0, 512, NULL), 0);
    kill(vs_qemu_transport_pid(f.t), SIGKILL);
    double t0 = now_s();
    vs_err er = { 0 };
    uint8_t st;
    int rc = f.t->ops->get_status(f.t, &st, &er);
    ck_assert_int_eq(rc, -VS_EBACKEND);
    ck_assert_msg(now_s() - t0 < 1.0, "took %.3f s", now_s() - t0);
    ck_assert_msg(strstr(er.msg, "signal 9"), "msg: %s", er.msg);
    /* sticky: wait and notify fail too */
    ck_assert_int_eq(f.t->ops->wait(f.t, 1000000, &er), -VS_EBACKEND);
    ck_assert_int_eq(f.t->ops->notify(f.t, 0, &er), -VS_EBACKEND);
    finish(&f);
}
END_TEST

START_TEST(qemu_killed_while_waiting)
{
    fx f;
    vs_qemu_blk_params p;
    vs_qemu_blk_params_default(&p);
    start(&f, &p, VS_IRQ_MSIX);
    bring_up(&f, VS_RING_SPLIT, 0);
    kill(vs_qemu_transport_pid(f.t), SIGKILL);
    double t0 = now_s();
    vs_err er = { 0 };
    int rc = f.t->ops->wait(f.t, 3000000000u, &er);
    ck_assert_int_eq(rc, -VS_EBACKEND);
    ck_assert_msg(now_s() - t0 < 1.0, "took %.3f s", now_s() - t0);
    finish(&f);
}
END_TEST

START_TEST(zero_length_descriptor)
{
    fx f;
    vs_qemu_blk_params p;
    vs_qemu_blk_params_default(&p);
    start(&f, &p, VS_IRQ_MSIX);
    bring_up(&f, VS_RING_SPLIT, 0);
    vs_desc d[3] = {
        { f.hdr, 16, VS_DESC_F_NEXT, 1 },
        { f.data, 0, VS_DESC_F_NEXT | VS_DESC_F_WRITE, 2 },
        { f.status, 1, VS_DESC_F_WRITE, 0 },
    };
    OK(vs_gmem_st32(f.gm, f.hdr, T_IN, e));
    OK(vs_vq_drv_add_raw(f.vq, d, 3, NULL, e));
    vs_vq_drv_publish(f.vq);
    OK(f.t->ops->notify(f.t, 0, e));
    /* QEMU raises a config interrupt when it marks the device broken */
    double t0 = now_s();
    while (f.cfg_irqs == 0 && now_s() - t0 < 3.0)
        OK(f.t->ops->wait(f.t, 100000000u, e));
    ck_assert_int_ge(f.cfg_irqs, 1);
    uint8_t st = 0;
    OK(f.t->ops->get_status(f.t, &st, e));
    ck_assert_msg(st & VS_STATUS_DEVICE_NEEDS_RESET, "status 0x%x", st);
    char buf[4096];
    vs_qemu_transport_stderr(f.t, buf, sizeof buf);
    ck_assert_msg(strstr(buf, "zero sized"), "stderr: %s", buf);
    /* a reset brings it back */
    OK(f.t->ops->reset(f.t, e));
    OK(f.t->ops->get_status(f.t, &st, e));
    ck_assert_uint_eq(st, 0);
    finish(&f);
}
END_TEST

START_TEST(bad_args_and_builder)
{
    vs_qemu_blk_params p;
    vs_qemu_blk_params_default(&p);
    vs_qemu_args a;
    vs_err er = { 0 };
    p.capacity = 1000;
    ck_assert_int_eq(vs_qemu_blk_args(&p, &a, &er), -VS_EINVAL);
    vs_qemu_blk_params_default(&p);
    p.queue_size = 100;
    ck_assert_int_eq(vs_qemu_blk_args(&p, &a, &er), -VS_EINVAL);
    vs_qemu_blk_params_default(&p);
    p.num_queues = 2;
    p.queue_size = 128;
    p.packed = true;
    p.read_only = true;
    p.serial = "a,b";
    OK(vs_qemu_blk_args(&p, &a, e));
    ck_assert_uint_eq(a.argc, 4);
    ck_assert_str_eq(a.argv[0], "-device");
    ck_assert_ptr_nonnull(strstr(a.argv[1], "num-queues=2,queue-size=128,packed=on"));
    ck_assert_ptr_nonnull(strstr(a.argv[1], "serial=a,,b"));
    ck_assert_ptr_nonnull(strstr(a.argv[3], "read-only=on"));
    ck_assert_ptr_null(a.argv[4]);
    ck_assert_ptr_null(strstr(a.argv[1], "in_order")); /* QEMU 7.2 has no such property */
    p.in_order = true;
    OK(vs_qemu_blk_args(&p, &a, e));
    ck_assert_ptr_nonnull(strstr(a.argv[1], ",in_order=on"));
    p.in_order = false;
    OK(vs_qemu_blk_args(&p, &a, e));
    /* a device QEMU rejects: create fails with QEMU's message, nothing left running */
    vs_gmem *gm = NULL;
    OK(vs_gmem_create_flat(&gm, MEM, e));
    const char *bad[] = { "-device", "virtio-blk-pci,drive=nosuch", NULL };
    vs_qemu_backend_opts o;
    vs_qemu_backend_opts_default(&o);
    o.device_type = VS_DEV_BLK;
    o.device_args = bad;
    vs_transport *t = NULL;
    ck_assert_int_eq(vs_qemu_transport_create(&t, gm, &o, NULL, &er), -VS_EBACKEND);
    ck_assert_ptr_nonnull(strstr(er.msg, "nosuch"));
    ck_assert_ptr_null(t);
    /* device props of QEMU 7.2 accepted, 2 queues, read-only -> BLK_F_RO offered */
    OK(vs_qemu_blk_args(&p, &a, e));
    o.device_args = a.argv;
    OK(vs_qemu_transport_create(&t, gm, &o, NULL, e));
    uint16_t nq = 0;
    OK(t->ops->num_queues(t, &nq, e));
    ck_assert_uint_eq(nq, 2);
    uint64_t feat = 0;
    OK(t->ops->get_device_features(t, &feat, e));
    ck_assert(feat & VS_BIT(VS_BLK_F_RO));
    ck_assert(feat & VS_BIT(VS_F_RING_PACKED));
    ck_assert(feat & VS_BIT(VS_BLK_F_MQ));
    uint32_t max = 0;
    OK(t->ops->queue_max_size(t, 1, &max, e));
    ck_assert_uint_eq(max, 128);
    char serial[20] = "";
    t->ops->destroy(t);
    (void)serial;
    vs_gmem_destroy(gm);
    ck_assert_int_eq(vs_qemu_live_count(), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("transport_qemu");
    TCase *tc = tcase_create("qemu");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, bad_args_and_builder);
    tcase_add_test(tc, split_msix_roundtrip);
    tcase_add_test(tc, msix_through_eventfds);
    tcase_add_test(tc, register_writes_are_batched);
    tcase_add_test(tc, msix_slot_polling_fallback);
    tcase_add_test(tc, same_cpu_restores_affinity);
    tcase_add_test(tc, packed_roundtrip_and_queue_reset);
    tcase_add_test(tc, intx_roundtrip);
    tcase_add_test(tc, blkdebug_read_error);
    tcase_add_test(tc, qmp_monitor);
    tcase_add_test(tc, qemu_killed);
    tcase_add_test(tc, qemu_killed_while_waiting);
    tcase_add_test(tc, zero_length_descriptor);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
