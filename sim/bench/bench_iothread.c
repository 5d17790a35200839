/* The iothread notify path against the direct one, in-process and bare (no monitors, no
 * trace): the same 4 KiB random read/write workload at queue depth 32
 * (sim/bench/randrw-4k-qd32.yaml, exponential service times, mean 20 us) with each notify
 * path. Prints the simulator's speed (wall-clock requests per second, median of several
 * runs) and what the model says the path costs a guest (requests per virtual second). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "model/bench/bench_util.h"

#include "virtiosim/runner.h"
#include "virtiosim/scenario.h"
#include "virtiosim/transport_ref.h"

#define RUNS 5

/* Requests per wall-clock second of one bare run with notify path np (< 0 on failure);
 * *virt gets requests per virtual second (the same every run: it is deterministic). */
static double one_run(const vs_scenario *s, enum vs_notify_path np, double *virt)
{
    vs_run_opts o = {.backend = "ref", .bare = true, .notify = 1 + (int)np};
    vs_scenario_result r;
    vs_err e = {0};
    double t0 = vs_bench_now_s();
    int rc = vs_run_scenario(s, &o, &r, &e);
    double dt = vs_bench_now_s() - t0;
    bool ok = rc == 0 && r.verdict == VS_SCN_PASS && r.virtual_ns;
    if (!ok)
        fprintf(stderr, "bench_iothread: run failed: %s %s\n", e.msg, r.message);
    else
        *virt = (double)r.requests / ((double)r.virtual_ns / 1e9);
    double rate = ok ? (double)r.requests / dt : -1;
    vs_scenario_result_clear(&r);
    return rate;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "sim/bench/randrw-4k-qd32.yaml";
    vs_scenario *s;
    vs_err e = {0};
    if (vs_scenario_load(path, &s, &e) < 0) {
        fprintf(stderr, "bench_iothread: %s\n", e.msg);
        return 1;
    }
    /* alternating, so a busy machine slows both alike */
    double vd = 0, vi = 0, d[RUNS], t[RUNS];
    for (int i = 0; i < RUNS; i++) {
        d[i] = one_run(s, VS_NOTIFY_DIRECT, &vd);
        t[i] = one_run(s, VS_NOTIFY_IOTHREAD, &vi);
        if (d[i] < 0 || t[i] < 0) {
            vs_scenario_free(s);
            return 1;
        }
    }
    vs_scenario_free(s);
    qsort(d, RUNS, sizeof d[0], vs_bench_cmp_d);
    qsort(t, RUNS, sizeof t[0], vs_bench_cmp_d);
    double direct = d[RUNS / 2], iot = t[RUNS / 2];
    printf("bench: sim-blk-4k-randrw-qd32-notify-direct %.3f Mreq/s\n", direct / 1e6);
    printf("bench: sim-blk-4k-randrw-qd32-notify-iothread %.3f Mreq/s\n", iot / 1e6);
    printf("bench: iothread-sim-cost %.2f x-direct-time\n", direct / iot);
    printf("bench: modelled-blk-qd32-notify-direct %.1f kIOPS-virtual\n", vd / 1e3);
    printf("bench: modelled-blk-qd32-notify-iothread %.1f kIOPS-virtual\n", vi / 1e3);
    return 0;
}
