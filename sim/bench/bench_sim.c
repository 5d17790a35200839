/* In-process simulated virtio-blk requests per second (4 KiB random read/write, QD32,
 * RAM-backed): bare, with the conformance monitors and timeline, and with everything a
 * normal run attaches (monitors, timeline, JSONL trace + SHA-256 digest). Prints the
 * median of several runs as `bench:` lines; monitor-cost is monitored time / bare time. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "model/bench/bench_util.h"

#include "virtiosim/runner.h"
#include "virtiosim/scenario.h"

#define RUNS 5

/* Requests per second of one run, or < 0 on failure. */
enum mode { BARE, MONITORS, FULL };

static double one_run(const vs_scenario *s, enum mode m)
{
    vs_run_opts o = {.backend = "ref", .bare = m == BARE, .no_trace = m == MONITORS};
    vs_scenario_result r;
    vs_err e = {0};
    double t0 = vs_bench_now_s();
    int rc = vs_run_scenario(s, &o, &r, &e);
    double dt = vs_bench_now_s() - t0;
    double rate = rc == 0 && r.verdict == VS_SCN_PASS ? (double)r.requests / dt : -1;
    if (rate < 0)
        fprintf(stderr, "bench_sim: run failed: %s %s\n", e.msg, r.message);
    vs_scenario_result_clear(&r);
    return rate;
}

static double median_rate(const vs_scenario *s, enum mode m)
{
    double v[RUNS];
    for (int i = 0; i < RUNS; i++)
        if ((v[i] = one_run(s, m)) < 0)
            return -1;
    qsort(v, RUNS, sizeof v[0], vs_bench_cmp_d);
    return v[RUNS / 2];
}

static double bare_rate_of(const char *path)
{
    vs_scenario *s;
    vs_err e = {0};
    if (vs_scenario_load(path, &s, &e) < 0) {
        fprintf(stderr, "bench_sim: %s\n", e.msg);
        return -1;
    }
    double r = median_rate(s, BARE);
    vs_scenario_free(s);
    return r;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "sim/bench/randrw-4k-qd32.yaml";
    vs_scenario *s;
    vs_err e = {0};
    if (vs_scenario_load(path, &s, &e) < 0) {
        fprintf(stderr, "bench_sim: %s\n", e.msg);
        return 1;
    }
    double bare = median_rate(s, BARE);
    double mon = median_rate(s, MONITORS);
    double full = median_rate(s, FULL);
    vs_scenario_free(s);
    if (bare < 0 || mon < 0 || full < 0)
        return 1;
    printf("bench: sim-blk-4k-randrw-qd32 %.3f Mreq/s\n", bare / 1e6);
    printf("bench: sim-blk-4k-randrw-qd32-monitored %.3f Mreq/s\n", mon / 1e6);
    printf("bench: sim-blk-4k-randrw-qd32-monitored-traced %.3f Mreq/s\n", full / 1e6);
    printf("bench: monitor-cost %.2f x-bare-time\n", bare / mon);
    printf("bench: monitor-and-trace-cost %.2f x-bare-time\n", bare / full);
    if (argc <= 1) {
        /* The same with a disk that fits in the caches: what the simulator itself costs,
         * without the random 4 KiB copies into a 64 MiB RAM disk that miss every cache. */
        double small = bare_rate_of("sim/bench/randrw-4k-qd32-4mib.yaml");
        if (small < 0)
            return 1;
        printf("bench: sim-blk-4k-randrw-qd32-4MiB-disk %.3f Mreq/s\n", small / 1e6);
    }
    return 0;
}
