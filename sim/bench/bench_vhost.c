/* 4 KiB random reads at queue depth 32 against qemu-storage-daemon's vhost-user-blk
 * export (null-co), through the vhost-user front-end transport and the driver-side split
 * ring.  Median of 3 runs.  Prints
 *   bench: vhost-user-qsd-4k-qd32 <N> kreq/s
 *   bench: vhost-user-qsd-kicks-per-req <x> ratio
 *   bench: vhost-user-qsd-calls-per-req <x> ratio
 *   bench: vhost-user-virtiosim-4k-qd32 <N> kreq/s   (same, against virtiosim's own
 *          vhost-user server + reference blk device in a thread, over a socketpair;
 *          VIRTIOSIM_BENCH_SERVER=0 skips it; the server's event bus feeds driver-role
 *          monitors in back-end view as `virtiosim serve` does, VIRTIOSIM_BENCH_MONITORS=0
 *          runs it without)
 * Knobs: VIRTIOSIM_BENCH_SECONDS (default 2 per run), VIRTIOSIM_BENCH_QD (32),
 * VIRTIOSIM_BENCH_EVENT_IDX (1), VIRTIOSIM_BENCH_SPIN_NS (transport wait spin, 20000),
 * VIRTIOSIM_BENCH_RUNS (3; with the server: rounds, each a qsd run and a server run in
 * alternating order, VIRTIOSIM_BENCH_INTERLEAVE=0 for all qsd runs first; then also
 *   bench: vhost-user-virtiosim-vs-qsd <median of the per-round ratios> ratio),
 * and the back-ends' own CPU time per request (qemu-storage-daemon's process; the
 * server's thread, monitors included), which a loaded host disturbs far less than the
 * rates: vhost-user-{qsd,virtiosim}-cpu-per-req (ns) and, interleaved,
 * vhost-user-virtiosim-vs-qsd-cpu (median per-round qsd / ours: above 1, ours is cheaper).
 * VIRTIOSIM_BENCH_VERBOSE (0), VIRTIOSIM_BENCH_SERVER_POLL_NS
 * (the server's poll_ns, 0).
 *
 * Hot path: EVENT_IDX on both sides (the back-end asks for a kick only when it went idle,
 * we ask for a call only for the first completion after we drained the used ring), all
 * free slots refilled and published in one batch, one transport wait per batch. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "model/bench/bench_util.h"

#include "virtiosim/blk.h"
#include "virtiosim/conformance.h"
#include "virtiosim/gmem.h"
#include "virtiosim/vhost_frontend.h"
#include "virtiosim/vhost_user.h"
#include "virtiosim/virtio.h"
#include "virtiosim/vring.h"

#define MAXQD 256
#define QSIZE 256
#define DISK_BYTES (UINT64_C(1) << 30)

static long env_long(const char *name, long def)
{
    const char *v = getenv(name);
    return v && *v ? strtol(v, NULL, 0) : def;
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static void on_irq(void *opaque, int queue)
{
    (void)queue;
    (*(uint64_t *)opaque)++;
}

typedef struct run_result {
    double rate;
    uint64_t ops, kicks, calls, errors;
    double cpu_ns; /* the back-end's CPU time per request (0: not measured) */
} run_result;

/* Where the back-end's CPU time is read: a process (/proc/PID/stat, all its threads) or
 * a thread's CPU clock. */
typedef struct cpu_probe {
    pid_t pid;
    bool thread;
    clockid_t cid;
} cpu_probe;

/* The CPU time so far in *ns; false when it cannot be read. */
static bool probe_ns(const cpu_probe *p, uint64_t *ns)
{
    if (!p)
        return false;
    if (p->thread) {
        struct timespec ts;
        if (clock_gettime(p->cid, &ts) != 0)
            return false;
        *ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        return true;
    }
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)p->pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *r = strrchr(buf, ')'); /* fields after the command name */
    unsigned long long ut = 0, st = 0;
    if (!r || sscanf(r + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                     &st) != 2)
        return false;
    long hz = sysconf(_SC_CLK_TCK);
    *ns = (ut + st) * (1000000000ull / (unsigned long long)(hz > 0 ? hz : 100));
    return true;
}

#define TRY(call)                                                                          \
    do {                                                                                   \
        int rc_ = (call);                                                                  \
        if (rc_ < 0) {                                                                     \
            fprintf(stderr, "bench_vhost: %s: %s\n", #call, err->msg);                     \
            goto out;                                                                      \
        }                                                                                  \
    } while (0)

/* One run on a fresh device bring-up over the existing connection. */
static int one_run(vs_transport *t, vs_gmem *gm, long qd, bool event_idx, double secs,
                   uint64_t disk_bytes, const cpu_probe *cp, run_result *rr, vs_err *err)
{
    int status = -1;
    vs_vq_drv *vq = NULL;
    vs_vq_layout l;
    bool have_layout = false;
    uint64_t slots = 0, irqs = 0;
    memset(rr, 0, sizeof *rr);
    t->irq_fn = on_irq;
    t->irq_opaque = &irqs;

    TRY(t->ops->reset(t, err));
    TRY(t->ops->set_status(t, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER, err));
    uint64_t offered;
    TRY(t->ops->get_device_features(t, &offered, err));
    uint64_t want = VS_BIT(VS_F_VERSION_1) | (event_idx ? VS_BIT(VS_F_EVENT_IDX) : 0);
    uint64_t neg = want & offered;
    TRY(t->ops->set_driver_features(t, neg, err));
    TRY(t->ops->set_status(t, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER |
                                  VS_STATUS_FEATURES_OK, err));
    TRY(vs_vq_layout_alloc(gm, VS_RING_SPLIT, QSIZE, &l, err));
    have_layout = true;
    vs_vq_drv_opts vo = {.queue_index = 0,
                         .features = (neg & VS_BIT(VS_F_EVENT_IDX)) ? VS_VQ_F_EVENT_IDX : 0};
    TRY(vs_vq_drv_create(&vq, gm, &l, &vo, err));
    TRY(t->ops->queue_setup(t, 0, &l, err));
    TRY(t->ops->set_status(t, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER |
                                  VS_STATUS_FEATURES_OK | VS_STATUS_DRIVER_OK, err));

    /* per slot (8 KiB stride): 16-byte header, 4 KiB data, status byte */
    TRY(vs_gmem_alloc(gm, (uint64_t)qd * 8192, 4096, &slots, err));
    uint8_t *hb = vs_gmem_host_base(gm);
    uint64_t seed = 12345, nsect = disk_bytes / 512 / 8;
    long free_slot[MAXQD];
    long nfree = 0;
    for (long i = 0; i < qd; i++)
        free_slot[nfree++] = i;
    vs_vhost_fe_stats st0, st1;
    TRY(vs_vhost_user_stats(t, &st0, err));
    uint64_t cpu0 = 0, cpu1 = 0;
    bool cpu_ok = probe_ns(cp, &cpu0);
    double t0 = vs_bench_now_s(), deadline = t0 + secs;
    uint64_t ops = 0;
    bool stopping = false;
    unsigned outstanding = 0;
    for (;;) {
        /* refill */
        if (!stopping && nfree) {
            while (nfree) {
                long s = free_slot[--nfree];
                uint64_t base = slots + (uint64_t)s * 8192;
                vs_blk_req_hdr h = {.type = VS_BLK_T_IN, .reserved = 0,
                                    .sector = (rng_next(&seed) % nsect) * 8};
                memcpy(hb + base, &h, sizeof h);
                /* header at +0, data at +512, status at +4608 */
                vs_seg sg[3] = {{base, 16}, {base + 512, 4096}, {base + 4608, 1}};
                hb[base + 4608] = 0xff;
                int id = vs_vq_drv_add(vq, sg, 1, 2, 0, (void *)(intptr_t)s, err);
                if (id < 0) {
                    free_slot[nfree++] = s;
                    break;
                }
                outstanding++;
            }
            vs_vq_drv_publish(vq);
            if (vs_vq_drv_kick_needed(vq))
                TRY(t->ops->notify(t, 0, err));
        }
        /* collect */
        int got = 0;
        for (;;) {
            vs_used u;
            int rc = vs_vq_drv_collect(vq, &u, err);
            if (rc < 0)
                goto out;
            if (rc == 0) {
                if (got || !vs_vq_drv_irq_enable(vq))
                    break;
                continue;
            }
            long s = (long)(intptr_t)u.cookie;
            uint64_t base = slots + (uint64_t)s * 8192;
            if (hb[base + 4608] != VS_BLK_S_OK || u.len != 4097)
                rr->errors++;
            free_slot[nfree++] = s;
            outstanding--;
            ops++;
            got++;
        }
        if (got) {
            if (vs_bench_now_s() >= deadline)
                stopping = true;
            if (stopping && !outstanding)
                break;
            continue;
        }
        if (stopping && !outstanding)
            break;
        int w = t->ops->wait(t, 1000000000u, err);
        if (w < 0)
            goto out;
        if (w == 0 && vs_bench_now_s() > deadline + 5) {
            vs_err_set(err, VS_ETIMEDOUT, "no completion for 1 s (%u outstanding)",
                       outstanding);
            goto out;
        }
    }
    double el = vs_bench_now_s() - t0;
    if (cpu_ok && probe_ns(cp, &cpu1) && cpu1 > cpu0 && ops)
        rr->cpu_ns = (double)(cpu1 - cpu0) / (double)ops;
    TRY(vs_vhost_user_stats(t, &st1, err));
    rr->ops = ops;
    rr->rate = (double)ops / el;
    rr->kicks = st1.kicks - st0.kicks;
    rr->calls = st1.calls - st0.calls;
    (void)irqs;
    status = 0;
out:
    if (t && t->ops)
        t->ops->reset(t, NULL);
    if (vq)
        vs_vq_drv_destroy(vq);
    if (have_layout)
        vs_vq_layout_free(gm, &l, NULL);
    if (slots)
        vs_gmem_free(gm, slots, NULL);
    return status;
}

typedef struct srv_thread {
    vs_vhost_server *srv;
    int fd;
    vs_err err;
    int rc;
} srv_thread;

static void *srv_main(void *arg)
{
    srv_thread *st = arg;
    st->rc = vs_vhost_server_serve_fd(st->srv, st->fd, &st->err);
    return NULL;
}

/* The monitors `virtiosim serve` attaches to the server's bus (sim/main.c
 * serve_on_event): driver role, back-end view, asynchronous device, memory followed. */
typedef struct bench_mon {
    vs_monitors *mon;
    vs_device *dev;
    vs_gmem *gm;
    bool failed;
} bench_mon;

static void bench_mon_event(void *opaque, const vs_event *ev)
{
    bench_mon *bm = opaque;
    if (!bm->mon) {
        vs_err e = {0};
        if (bm->failed ||
            vs_monitors_create(&bm->mon, bm->dev->gm, VS_DEV_BLK, VS_ROLE_DRIVER, &e) < 0) {
            bm->failed = true;
            return;
        }
        vs_monitors_set_scenario(bm->mon, "bench");
        vs_monitors_set_backend_view(bm->mon, true);
        vs_monitors_set_async_device(bm->mon, true);
        bm->gm = bm->dev->gm;
    }
    if (bm->dev->gm != bm->gm) {
        vs_monitors_set_gmem(bm->mon, bm->dev->gm);
        bm->gm = bm->dev->gm;
    }
    vs_monitors_on_event(bm->mon, ev);
}

static void bench_mon_show(const vs_results *r)
{
    for (size_t i = 0; r && i < r->n_stmt; i++)
        for (unsigned k = 0; k < r->stmt[i].n_evidence; k++) {
            char b[600];
            vs_evidence_format(&r->stmt[i].evidence[k], b, sizeof b);
            fprintf(stderr, "bench_vhost: %s: %s\n", r->stmt[i].st->id, b);
        }
}

/* The same workload against virtiosim's vhost-user server (reference blk, RAM). */
/* Median of the measured (non-zero) values of v[0..n), 0 if none; sorts v. */
static double median_set(double *v, long n)
{
    qsort(v, (size_t)n, sizeof v[0], vs_bench_cmp_d);
    long z = 0;
    while (z < n && v[z] <= 0)
        z++;
    return z < n ? v[z + (n - z) / 2] : 0;
}

static void print_qsd(long qd, double *rates, double *cpu, long runs, const run_result *last)
{
    qsort(rates, (size_t)runs, sizeof rates[0], vs_bench_cmp_d);
    printf("bench: vhost-user-qsd-4k-qd%ld %.1f kreq/s\n", qd, rates[runs / 2] / 1000.0);
    printf("bench: vhost-user-qsd-kicks-per-req %.4f ratio\n",
           (double)last->kicks / (double)(last->ops ? last->ops : 1));
    printf("bench: vhost-user-qsd-calls-per-req %.4f ratio\n",
           (double)last->calls / (double)(last->ops ? last->ops : 1));
    printf("bench: vhost-user-qsd-cpu-per-req %.0f ns\n", median_set(cpu, runs));
}

/* With tq (qemu-storage-daemon's transport): interleaved rounds, each one run on either
 * back-end, the order alternating (qsd first in even rounds), so a load change on the
 * shared host hits both alike; medians of each side and of the per-round ratios. */
static int server_bench(vs_gmem *gm, long qd, bool event_idx, double secs, long runs,
                        const vs_vhost_fe_opts *fo, bool monitors, bool verbose,
                        vs_transport *tq, const cpu_probe *qp, vs_err *err)
{
    double qrates[15], ratio[15], cpu[15] = {0}, qcpu[15] = {0}, cratio[15] = {0};
    cpu_probe sp = {.thread = true};
    run_result qr = {0};
    const uint64_t disk = 64u << 20;
    vs_gmem *dev_gm = NULL;
    vs_device *dev = NULL;
    vs_vhost_server *srv = NULL;
    vs_transport *t = NULL;
    srv_thread th = {.fd = -1};
    bool started = false;
    int rc = -1;
    pthread_t tid;
    int sv[2] = {-1, -1};
    double rates[15];
    run_result rr = {0};
    vs_event_bus bus = {0};
    bench_mon bm = {0};
    TRY(vs_gmem_create_flat(&dev_gm, 1u << 20, err));
    vs_blk_opts bo;
    vs_blk_opts_default(&bo);
    bo.capacity_sectors = disk / 512;
    bo.queue_size = QSIZE;
    TRY(vs_blk_create(&dev, dev_gm, &bo, err));
    vs_vhost_server_opts so = {.dev = dev};
    so.poll_ns = (uint32_t)env_long("VIRTIOSIM_BENCH_SERVER_POLL_NS", 0);
    if (monitors) {
        bm.dev = dev;
        TRY(vs_event_bus_add(&bus, bench_mon_event, &bm));
        so.bus = &bus;
    }
    TRY(vs_vhost_server_create(&srv, &so, err));
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        vs_err_set(err, VS_EIO, "socketpair failed");
        goto out;
    }
    th.srv = srv;
    th.fd = sv[1];
    sv[1] = -1;
    if (pthread_create(&tid, NULL, srv_main, &th) != 0) {
        close(th.fd);
        vs_err_set(err, VS_EIO, "pthread_create failed");
        goto out;
    }
    started = true;
    if (pthread_getcpuclockid(tid, &sp.cid) != 0)
        sp.cid = (clockid_t)-1; /* probe_ns then fails: not measured */
    {
        int fd = sv[0];
        sv[0] = -1;
        TRY(vs_vhost_user_transport_create_fd(&t, gm, fd, fo, NULL, err));
    }
    for (long i = 0; i < runs; i++) {
        if (tq && i % 2 == 0)
            TRY(one_run(tq, gm, qd, event_idx, secs, DISK_BYTES, qp, &qr, err));
        TRY(one_run(t, gm, qd, event_idx, secs, disk, &sp, &rr, err));
        if (tq && i % 2 == 1)
            TRY(one_run(tq, gm, qd, event_idx, secs, DISK_BYTES, qp, &qr, err));
        cpu[i] = rr.cpu_ns;
        if (tq) {
            qcpu[i] = qr.cpu_ns;
            cratio[i] = rr.cpu_ns > 0 ? qr.cpu_ns / rr.cpu_ns : 0;
        }
        rates[i] = rr.rate;
        if (tq) {
            qrates[i] = qr.rate;
            ratio[i] = rr.rate / qr.rate;
            if (qr.errors) {
                vs_err_set(err, VS_EIO, "%llu qsd requests failed",
                           (unsigned long long)qr.errors);
                goto out;
            }
        }
        if (verbose)
            fprintf(stderr, "server run %ld: %.0f req/s, %.3f kicks/req, %.3f calls/req%s",
                    i, rr.rate, (double)rr.kicks / (double)rr.ops,
                    (double)rr.calls / (double)rr.ops, tq ? "" : "\n");
        if (verbose && tq)
            fprintf(stderr, "; qsd %.0f req/s; ratio %.3f; cpu/req %.0f ns, qsd %.0f ns\n",
                    qr.rate, ratio[i], rr.cpu_ns, qr.cpu_ns);
        if (rr.errors) {
            vs_err_set(err, VS_EIO, "%llu requests failed", (unsigned long long)rr.errors);
            goto out;
        }
    }
    if (monitors && (bm.failed || !bm.mon)) {
        vs_err_set(err, VS_EIO, "conformance monitors did not start");
        goto out;
    }
    /* the bench's driver is minimal (it declines packed, a SHOULD): findings are shown,
     * not fatal */
    if (verbose && bm.mon && vs_monitors_violations(bm.mon) &&
        vs_monitors_finish(bm.mon, 0, NULL) == 0)
        bench_mon_show(vs_monitors_results(bm.mon));
    if (tq)
        print_qsd(qd, qrates, qcpu, runs, &qr);
    qsort(rates, (size_t)runs, sizeof rates[0], vs_bench_cmp_d);
    printf("bench: vhost-user-virtiosim-4k-qd%ld%s %.1f kreq/s\n", qd,
           monitors ? "" : "-nomon", rates[runs / 2] / 1000.0);
    if (tq) {
        qsort(ratio, (size_t)runs, sizeof ratio[0], vs_bench_cmp_d);
        printf("bench: vhost-user-virtiosim%s-vs-qsd %.3f ratio\n", monitors ? "" : "-nomon",
               ratio[runs / 2]);
    }
    printf("bench: vhost-user-virtiosim%s-cpu-per-req %.0f ns\n", monitors ? "" : "-nomon",
           median_set(cpu, runs));
    if (tq)
        printf("bench: vhost-user-virtiosim%s-vs-qsd-cpu %.3f ratio\n",
               monitors ? "" : "-nomon", median_set(cratio, runs));
    rc = 0;
out:
    if (t)
        t->ops->destroy(t);
    if (started) {
        vs_vhost_server_stop(srv);
        pthread_join(tid, NULL);
    }
    if (sv[0] >= 0)
        close(sv[0]);
    if (srv)
        vs_vhost_server_destroy(srv);
    if (bm.mon)
        vs_monitors_destroy(bm.mon);
    if (dev)
        dev->ops->destroy(dev);
    if (dev_gm)
        vs_gmem_destroy(dev_gm);
    return rc;
}

int main(void)
{
    vs_err errv = {0}, *err = &errv;
    vs_gmem *gm = NULL;
    vs_transport *t = NULL;
    vs_qsd *q = NULL;
    int status = 1;
    double secs = (double)env_long("VIRTIOSIM_BENCH_SECONDS", 2);
    long qd = env_long("VIRTIOSIM_BENCH_QD", 32);
    long runs = env_long("VIRTIOSIM_BENCH_RUNS", 3);
    bool event_idx = env_long("VIRTIOSIM_BENCH_EVENT_IDX", 1) != 0;
    bool verbose = env_long("VIRTIOSIM_BENCH_VERBOSE", 0) != 0;
    bool monitors = env_long("VIRTIOSIM_BENCH_MONITORS", 1) != 0;
    if (qd < 1 || qd > MAXQD || qd > QSIZE / 3)
        qd = 32;
    if (runs < 1 || runs > 15)
        runs = 3;

    TRY(vs_qsd_install_cleanup(err));
    vs_qsd_opts qo;
    vs_qsd_opts_default(&qo);
    qo.null_co = true;
    qo.size = DISK_BYTES;
    TRY(vs_qsd_start(&qo, &q, err));
    TRY(vs_gmem_create_flat(&gm, 64u << 20, err));
    vs_vhost_fe_opts fo;
    vs_vhost_fe_opts_default(&fo);
    fo.device_id = VS_DEV_BLK;
    fo.spin_ns = (uint64_t)env_long("VIRTIOSIM_BENCH_SPIN_NS", 20000);
    if (!fo.spin_ns)
        fo.spin_ns = UINT64_MAX;  /* 0 from the environment: never spin */
    TRY(vs_vhost_user_transport_create(&t, gm, vs_qsd_socket_path(q), &fo, NULL, err));
    if (verbose) {
        char v[200] = "";
        vs_qsd_version(NULL, v, sizeof v, NULL);
        vs_vhost_fe_stats st;
        vs_vhost_user_stats(t, &st, NULL);
        char fb[512];
        vs_features_format(VS_DEV_BLK, st.features, fb, sizeof fb);
        fprintf(stderr, "%s\n%s\nfeatures 0x%" PRIx64 " %s\nprotocol features offered 0x%"
                PRIx64 " negotiated 0x%" PRIx64 " queues %u\n", v, vs_qsd_cmdline(q),
                st.features, fb, st.protocol_offered, st.protocol_features, st.backend_queues);
    }
    /* interleaved (default): qsd and ours alternate round by round */
    bool interleave = env_long("VIRTIOSIM_BENCH_INTERLEAVE", 1) != 0 &&
                      env_long("VIRTIOSIM_BENCH_SERVER", 1) != 0;
    double rates[15], qcpu[15] = {0};
    run_result rr = {0}, last = {0};
    cpu_probe qp = {.pid = vs_qsd_pid(q)};
    for (long i = 0; !interleave && i < runs; i++) {
        TRY(one_run(t, gm, qd, event_idx, secs, DISK_BYTES, &qp, &rr, err));
        rates[i] = rr.rate;
        qcpu[i] = rr.cpu_ns;
        last = rr;
        if (verbose)
            fprintf(stderr, "run %ld: %.0f req/s, %" PRIu64 " ops, %.3f kicks/req, %.3f "
                    "calls/req, %" PRIu64 " errors\n", i, rr.rate, rr.ops,
                    (double)rr.kicks / (double)rr.ops, (double)rr.calls / (double)rr.ops,
                    rr.errors);
        if (rr.errors) {
            fprintf(stderr, "bench_vhost: %" PRIu64 " requests failed\n", rr.errors);
            goto out;
        }
    }
    if (!interleave) {
        print_qsd(qd, rates, qcpu, runs, &last);
        t->ops->destroy(t);
        t = NULL;
    }
    if (env_long("VIRTIOSIM_BENCH_SERVER", 1) &&
        server_bench(gm, qd, event_idx, secs, runs, &fo, monitors, verbose, t, &qp, err) < 0) {
        fprintf(stderr, "bench_vhost: virtiosim server: %s\n", err->msg);
        goto out;
    }
    status = 0;
out:
    if (t)
        t->ops->destroy(t);
    if (q)
        vs_qsd_stop(q, NULL);
    if (gm)
        vs_gmem_destroy(gm);
    return status;
}
