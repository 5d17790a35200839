/* 4 KiB reads at queue depth 32 against QEMU's virtio-blk-pci (null-co), through the
 * qemu transport and the driver-side split ring.  Prints the medians of RUNS runs:
 *   bench: qemu-blk-4k-qd32 <N> kreq/s
 *   bench: qemu-blk-cpu-ratio <virtiosim cpu / qemu cpu> ratio
 * MSI-X interrupts arrive on eventfds (sim/qemu/irqfd.h) and virtiosim and QEMU share one
 * CPU (vs_qemu_backend_opts.same_cpu), unless told otherwise:
 * VIRTIOSIM_BENCH_INTX=1 waits for INTx on the qtest socket instead of MSI-X;
 * VIRTIOSIM_BENCH_IRQFD=0 polls the MSI-X slots in guest RAM; VIRTIOSIM_BENCH_SAME_CPU=0
 * lets the scheduler place both. Other knobs: VIRTIOSIM_BENCH_SECONDS (default 1),
 * VIRTIOSIM_BENCH_QD (32), VIRTIOSIM_BENCH_IOEVENTFD (1), VIRTIOSIM_BENCH_SPIN_NS,
 * VIRTIOSIM_BENCH_SLEEP_NS. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/bench/bench_util.h"

#include "virtiosim/blk_qemu.h"
#include "virtiosim/gmem.h"
#include "virtiosim/qemu.h"
#include "virtiosim/virtio.h"
#include "virtiosim/vring.h"

#define MAXQD 128
#define RUNS 3

static long env_long(const char *name, long def)
{
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 0) : def;
}

#define TRY(call)                                                                          \
    do {                                                                                   \
        int rc_ = (call);                                                                  \
        if (rc_ < 0) {                                                                     \
            fprintf(stderr, "bench_qemu: %s: %s\n", #call, err.msg);                       \
            goto out;                                                                      \
        }                                                                                  \
    } while (0)

/* One run: QEMU started, warmed up, timed; *kreqs and *ratio filled. 0 or 1 (failed). */
/* VIRTIOSIM_BENCH_QD, or 32 when unset or out of range (what the runs use and print). */
static long bench_qd(void)
{
    long qd = env_long("VIRTIOSIM_BENCH_QD", 32);
    return qd < 1 || qd > MAXQD ? 32 : qd;
}

static int one_run(double *kreqs, double *ratio)
{
    vs_err err = { 0 };
    vs_gmem *gm = NULL;
    vs_transport *t = NULL;
    vs_vq_drv *vq = NULL;
    int status = 1;
    double secs = (double)env_long("VIRTIOSIM_BENCH_SECONDS", 1);
    long qd = bench_qd();

    TRY(vs_gmem_create_flat(&gm, 64u << 20, &err));
    vs_qemu_blk_params p;
    vs_qemu_blk_params_default(&p);
    p.capacity = UINT64_C(1) << 30;
    p.ioeventfd = env_long("VIRTIOSIM_BENCH_IOEVENTFD", 1) != 0;
    vs_qemu_args a;
    TRY(vs_qemu_blk_args(&p, &a, &err));
    vs_qemu_backend_opts o;
    vs_qemu_backend_opts_default(&o);
    o.device_type = VS_DEV_BLK;
    o.device_args = a.argv;
    o.poll_spin_ns = (uint64_t)env_long("VIRTIOSIM_BENCH_SPIN_NS", 0);
    o.poll_sleep_max_ns = (uint64_t)env_long("VIRTIOSIM_BENCH_SLEEP_NS", 0);
    /* INTx: the transport sleeps on the qtest socket until QEMU reports the IRQ line,
     * instead of polling the MSI-X slots in shared memory. */
    bool intx = env_long("VIRTIOSIM_BENCH_INTX", 0) != 0;
    o.irq_mode = intx ? VS_IRQ_INTX : VS_IRQ_MSIX;
    o.no_irqfd = env_long("VIRTIOSIM_BENCH_IRQFD", 1) == 0;
    o.same_cpu = env_long("VIRTIOSIM_BENCH_SAME_CPU", 1) != 0;
    TRY(vs_qemu_transport_create(&t, gm, &o, NULL, &err));

    /* bring-up */
    const uint8_t A = VS_STATUS_ACKNOWLEDGE, D = VS_STATUS_DRIVER, F = VS_STATUS_FEATURES_OK;
    uint64_t dev = 0;
    TRY(t->ops->set_status(t, A, &err));
    TRY(t->ops->set_status(t, A | D, &err));
    TRY(t->ops->get_device_features(t, &dev, &err));
    uint64_t want = VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_F_EVENT_IDX);
    TRY(t->ops->set_driver_features(t, dev & want, &err));
    TRY(t->ops->set_status(t, A | D | F, &err));
    vs_vq_layout l;
    TRY(vs_vq_layout_alloc(gm, VS_RING_SPLIT, 256, &l, &err));
    vs_vq_drv_opts qo = { .features = (dev & VS_BIT(VS_F_EVENT_IDX)) ? VS_VQ_F_EVENT_IDX : 0 };
    TRY(vs_vq_drv_create(&vq, gm, &l, &qo, &err));
    TRY(t->ops->queue_setup(t, 0, &l, &err));
    TRY(t->ops->set_status(t, A | D | F | VS_STATUS_DRIVER_OK, &err));

    /* per-slot buffers: header + status in one page, 4 KiB data */
    uint64_t meta = 0, data = 0;
    TRY(vs_gmem_alloc(gm, (uint64_t)MAXQD * 32, VS_GMEM_PAGE, &meta, &err));
    TRY(vs_gmem_alloc(gm, (uint64_t)MAXQD * 4096, VS_GMEM_PAGE, &data, &err));
    vs_seg segs[MAXQD][3];
    uint64_t sector_span = p.capacity / 512 - 8;
    uint64_t next_sector = 0, completed = 0, errors = 0;
    for (long i = 0; i < qd; i++) {
        uint64_t h = meta + 32u * (uint64_t)i;
        segs[i][0] = (vs_seg){ h, 16 };
        segs[i][1] = (vs_seg){ data + 4096u * (uint64_t)i, 4096 };
        segs[i][2] = (vs_seg){ h + 16, 1 };
        TRY(vs_gmem_st32(gm, h, 0 /* IN */, &err));
    }

#define SUBMIT(i)                                                                          \
    do {                                                                                   \
        TRY(vs_gmem_st64(gm, segs[i][0].gpa + 8, next_sector, &err));                      \
        next_sector = (next_sector + 8) % sector_span;                                     \
        TRY(vs_gmem_st8(gm, segs[i][2].gpa, 0xff, &err));                                  \
        TRY(vs_vq_drv_add(vq, segs[i], 1, 2, 0, (void *)(uintptr_t)(i), &err));            \
    } while (0)

    for (long i = 0; i < qd; i++)
        SUBMIT(i);
    vs_vq_drv_publish(vq);
    if (vs_vq_drv_kick_needed(vq))
        TRY(t->ops->notify(t, 0, &err));

    /* warm-up 0.2 s, then the timed run */
    double t_start = 0, t_end = 0;
    uint64_t c0 = 0, self0 = 0, qemu0 = 0, self1 = 0, qemu1 = 0;
    vs_qemu_stats st0, st1;
    memset(&st0, 0, sizeof st0);
    double t_warm = vs_bench_now_s();
    bool timing = false;
    for (;;) {
        double now = vs_bench_now_s();
        if (!timing && now - t_warm >= 0.2) {
            timing = true;
            t_start = now;
            c0 = completed;
            TRY(vs_qemu_transport_cpu(t, &self0, &qemu0, &err));
            vs_qemu_transport_stats(t, &st0);
        }
        if (timing && now - t_start >= secs) {
            t_end = now;
            TRY(vs_qemu_transport_cpu(t, &self1, &qemu1, &err));
            vs_qemu_transport_stats(t, &st1);
            break;
        }
        vs_used u;
        int got = 0, rc;
        while ((rc = vs_vq_drv_collect(vq, &u, &err)) > 0) {
            long i = (long)(uintptr_t)u.cookie;
            uint8_t s = 0;
            TRY(vs_gmem_ld8(gm, segs[i][2].gpa, &s, &err));
            if (s != 0)
                errors++;
            completed++;
            got++;
            SUBMIT(i);
        }
        TRY(rc);
        if (got) {
            vs_vq_drv_publish(vq);
            if (vs_vq_drv_kick_needed(vq))
                TRY(t->ops->notify(t, 0, &err));
            continue;
        }
        TRY(t->ops->wait(t, 100000000u, &err));
        if (intx) {
            uint8_t isr;
            TRY(t->ops->read_isr(t, &isr, &err)); /* lowers the line */
        }
    }
    double dt = t_end - t_start;
    double n = (double)(completed - c0);
    double self_ns = (double)(self1 - self0), qemu_ns = (double)(qemu1 - qemu0);
    *kreqs = n / dt / 1e3;
    *ratio = qemu_ns > 0 ? self_ns / qemu_ns : -1.0;
    fprintf(stderr,
            "bench_qemu: %.0f requests in %.2f s, errors %" PRIu64 "; cpu: virtiosim %.2f us/req, "
            "qemu %.2f us/req; kicks %.3f/req, irqs %.3f/req (eventfd %.3f/req), sleeps %.3f/req, "
            "qtest writes %" PRIu64 "\n", n, dt, errors, self_ns / n / 1e3, qemu_ns / n / 1e3,
            (double)(st1.kicks - st0.kicks) / n, (double)(st1.irqs - st0.irqs) / n,
            (double)(st1.irqfd_signals - st0.irqfd_signals) / n,
            (double)(st1.wait_sleeps - st0.wait_sleeps) / n, st1.qtest_writes - st0.qtest_writes);
    status = errors ? 1 : 0;
out:
    if (vq)
        vs_vq_drv_destroy(vq);
    if (t)
        t->ops->destroy(t);
    vs_gmem_destroy(gm);
    return status;
}

int main(void)
{
    double k[RUNS], r[RUNS];
    for (int i = 0; i < RUNS; i++)
        if (one_run(&k[i], &r[i]) != 0)
            return 1;
    qsort(k, RUNS, sizeof k[0], vs_bench_cmp_d);
    qsort(r, RUNS, sizeof r[0], vs_bench_cmp_d);
    printf("bench: qemu-blk-4k-qd%ld %.1f kreq/s\n", bench_qd(), k[RUNS / 2]);
    printf("bench: qemu-blk-cpu-ratio %.3f ratio\n", r[RUNS / 2]);
    return 0;
}
