/* Hostile-input campaign throughput (sim/campaign.h): inputs per second, each input with
 * its health probe and, where the device asked for one, its reset and re-initialisation.
 * The back-end is started once before the clock starts (a real campaign starts it once
 * too; restarts after crashes are the back-end's doing, not the engine's). Medians of RUNS:
 *   bench: campaign-ref <N> inputs/s     every class of the catalogue, split and packed
 *   bench: campaign-qemu <N> inputs/s    QEMU's virtio-blk-pci (Debian's 7.2 unless
 *                                        $VIRTIOSIM_QEMU), split-ring classes (packed
 *                                        inputs crash or hang QEMU 7.2: restarts, not
 *                                        campaign speed)
 * VIRTIOSIM_BENCH_CAMPAIGN_QEMU=0 skips the QEMU line, VIRTIOSIM_BENCH_CAMPAIGN_REF=0 the
 * reference line (tools/bench_qemu10.sh runs only the QEMU one, against QEMU 10.0). */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/bench/bench_util.h"

#include "sim/campaign.h"

#define RUNS 5

/* Inputs per second over n inputs after a warm-up input (which starts the back-end). */
static int rate(const vs_campaign_opts *o, uint64_t n, double *out)
{
    vs_campaign *c;
    vs_err e = {0};
    if (vs_campaign_create(&c, o, &e) < 0) {
        fprintf(stderr, "bench_campaign: %s\n", e.msg);
        return -1;
    }
    enum vs_camp_verdict v;
    enum vs_camp_fate f;
    bool sk;
    char what[400];
    vs_camp_input in;
    int rc = 0;
    for (uint64_t i = 0; i < (uint64_t)vs_campaign_nclasses(c) && rc == 0; i++) {
        vs_campaign_input(c, o->seed, i, &in);   /* every session started */
        rc = vs_campaign_run_one(c, &in, &v, &f, &sk, what, sizeof what, &e);
    }
    double t0 = vs_bench_now_s();
    for (uint64_t i = 0; i < n && rc == 0; i++) {
        vs_campaign_input(c, o->seed, i, &in);
        rc = vs_campaign_run_one(c, &in, &v, &f, &sk, what, sizeof what, &e);
    }
    double dt = vs_bench_now_s() - t0;
    uint64_t restarts = vs_campaign_restarts(c);
    vs_campaign_destroy(c);
    if (rc < 0) {
        fprintf(stderr, "bench_campaign: %s\n", e.msg);
        return -1;
    }
    if (restarts)
        fprintf(stderr, "bench_campaign: %s: %" PRIu64 " back-end restarts in the run\n",
                o->backend, restarts);
    *out = (double)n / dt;
    return 0;
}

static int median(const vs_campaign_opts *o, uint64_t n, const char *name)
{
    double r[RUNS];
    for (int i = 0; i < RUNS; i++)
        if (rate(o, n, &r[i]) < 0)
            return 1;
    qsort(r, RUNS, sizeof r[0], vs_bench_cmp_d);
    printf("bench: %s %.0f inputs/s\n", name, r[RUNS / 2]);
    fflush(stdout);
    return 0;
}

int main(void)
{
    vs_campaign_opts o = {.backend = "ref", .seed = 1, .minimise = false};
    const char *r = getenv("VIRTIOSIM_BENCH_CAMPAIGN_REF");
    int rc = r && !strcmp(r, "0") ? 0 : median(&o, 200000, "campaign-ref");
    const char *q = getenv("VIRTIOSIM_BENCH_CAMPAIGN_QEMU");
    if (rc == 0 && !(q && !strcmp(q, "0"))) {
        o.backend = "qemu";
        o.rings = VS_CAMP_F_SPLIT;
        rc = median(&o, 3000, "campaign-qemu");
    }
    return rc;
}
