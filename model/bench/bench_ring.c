/* Virtqueue round-trip throughput, single thread: add -> publish -> pop -> push ->
 * publish -> collect, with full device-side validation. Queue size 256; median of 5
 * runs of ~0.3 s each. Prints "bench: <name> <value> Mops/s". */
#ifndef _GNU_SOURCE
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "model/bench/bench_util.h"

#include "virtiosim/vring.h"

#define QSIZE 256u
#define BATCH 64u
#define RUNS 5

typedef struct ctx {
    vs_gmem *gm;
    vs_vq_layout l;
    vs_vq_drv *d;
    vs_vq_dev *v;
    vs_seg segs[3];
    unsigned nseg, n_out;
} ctx;

static int setup(ctx *c, vs_ring_format fmt, unsigned nseg)
{
    vs_err e;
    uint64_t buf;
    if (vs_gmem_create_flat(&c->gm, 16u << 20, &e) < 0 ||
        vs_gmem_alloc(c->gm, 1u << 20, 4096, &buf, &e) < 0 ||
        vs_vq_layout_alloc(c->gm, fmt, QSIZE, &c->l, &e) < 0 ||
        vs_vq_drv_create(&c->d, c->gm, &c->l, NULL, &e) < 0 ||
        vs_vq_dev_create(&c->v, c->gm, &c->l, NULL, &e) < 0) {
        fprintf(stderr, "bench_ring: setup: %s\n", e.msg);
        return -1;
    }
    c->nseg = nseg;
    c->n_out = nseg == 1 ? 0 : 2; /* 1 desc: one writable; 3 desc: hdr + data in, status */
    for (unsigned k = 0; k < nseg; k++) {
        c->segs[k].gpa = buf + 8192ull * k;
        c->segs[k].len = k == 0 ? 16 : 4096;
    }
    return 0;
}

static void teardown(ctx *c)
{
    vs_vq_drv_destroy(c->d);
    vs_vq_dev_destroy(c->v);
    vs_gmem_destroy(c->gm);
}

/* BATCH chains per iteration: add all, publish, pop all, push all, publish, collect all.
 * Returns round trips done, or -1 on error. */
static long run_for(ctx *c, double seconds)
{
    vs_err e;
    vs_dseg ds[4];
    vs_chain ch = {.seg = ds, .seg_cap = 4};
    vs_used u;
    long done = 0;
    const double end = vs_bench_now_s() + seconds;
    do {
        for (int rep = 0; rep < 64; rep++) {
            for (unsigned k = 0; k < BATCH; k++)
                if (vs_vq_drv_add(c->d, c->segs, c->n_out, c->nseg - c->n_out, 0,
                                  (void *)(uintptr_t)(k + 1), &e) < 0)
                    goto fail;
            vs_vq_drv_publish(c->d);
            for (unsigned k = 0; k < BATCH; k++) {
                if (vs_vq_dev_pop(c->v, &ch, &e) != 1 || vs_vq_dev_push(c->v, &ch, 1, &e) < 0)
                    goto fail;
            }
            vs_vq_dev_publish(c->v);
            for (unsigned k = 0; k < BATCH; k++)
                if (vs_vq_drv_collect(c->d, &u, &e) != 1)
                    goto fail;
            done += BATCH;
        }
    } while (vs_bench_now_s() < end);
    return done;
fail:
    fprintf(stderr, "bench_ring: %s\n", e.msg);
    return -1;
}

static int bench(const char *name, vs_ring_format fmt, unsigned nseg)
{
    ctx c;
    if (setup(&c, fmt, nseg) < 0)
        return -1;
    if (run_for(&c, 0.05) < 0) { /* warm-up */
        teardown(&c);
        return -1;
    }
    double rate[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t0 = vs_bench_now_s();
        long n = run_for(&c, 0.3);
        double t1 = vs_bench_now_s();
        if (n < 0) {
            teardown(&c);
            return -1;
        }
        rate[r] = (double)n / (t1 - t0) / 1e6;
    }
    teardown(&c);
    qsort(rate, RUNS, sizeof rate[0], vs_bench_cmp_d);
    printf("bench: %s %.2f Mops/s\n", name, rate[RUNS / 2]);
    fflush(stdout);
    return 0;
}

int main(void)
{
    if (bench("split-1desc-roundtrip", VS_RING_SPLIT, 1) < 0 ||
        bench("split-3desc-roundtrip", VS_RING_SPLIT, 3) < 0 ||
        bench("packed-1desc-roundtrip", VS_RING_PACKED, 1) < 0 ||
        bench("packed-3desc-roundtrip", VS_RING_PACKED, 3) < 0)
        return 1;
    return 0;
}
