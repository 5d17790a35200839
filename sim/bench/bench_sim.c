/* In-process simulated virtio-blk requests per second (4 KiB random read/write, QD32,
 * RAM-backed), bare and with the conformance monitors + trace + timeline attached.
 * Prints the median of several runs as `bench:` lines. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "virtiosim/runner.h"
#include "virtiosim/scenario.h"

#define RUNS 5

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Requests per second of one run, or < 0 on failure. */
static double one_run(const vs_scenario *s, bool bare)
{
    vs_run_opts o = {.backend = "ref", .bare = bare};
    vs_scenario_result r;
    vs_err e = {0};
    double t0 = now_s();
    int rc = vs_run_scenario(s, &o, &r, &e);
    double dt = now_s() - t0;
    double rate = rc == 0 && r.verdict == VS_SCN_PASS ? (double)r.requests / dt : -1;
    if (rate < 0)
        fprintf(stderr, "bench_sim: run failed: %s %s\n", e.msg, r.message);
    vs_scenario_result_clear(&r);
    return rate;
}

static double median_rate(const vs_scenario *s, bool bare)
{
    double v[RUNS];
    for (int i = 0; i < RUNS; i++)
        if ((v[i] = one_run(s, bare)) < 0)
            return -1;
    qsort(v, RUNS, sizeof v[0], cmp_d);
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
    double r = median_rate(s, true);
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
    double bare = median_rate(s, true);
    double mon = median_rate(s, false);
    vs_scenario_free(s);
    if (bare < 0 || mon < 0)
        return 1;
    printf("bench: sim-blk-4k-randrw-qd32 %.3f Mreq/s\n", bare / 1e6);
    printf("bench: sim-blk-4k-randrw-qd32-monitored %.3f Mreq/s\n", mon / 1e6);
    printf("bench: monitor-cost %.2f x-bare-time\n", bare / mon);
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
