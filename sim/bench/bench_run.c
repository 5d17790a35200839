/* The path users run: each scenario below goes through vs_run_scenario with the options
 * `virtiosim run` uses by default (monitors, timeline, pattern verification, the trace
 * digest; no trace file), timed around the whole call, so scenario start-up (guest
 * memory, the device, QEMU's launch) counts. Prints the median of RUNS runs:
 *   bench: run-blk-randrw-qd32-verified <N> Mreq/s
 *   bench: run-qemu-blk-randrw-qd32-verified <N> kreq/s   (QEMU, default options)
 *   bench: run-blk-64k-verified <N> GB/s
 * and what a trace file costs a request of the first one, in each format:
 *   bench: trace-vst-bytes-per-request <N> B     (--trace-format vst)
 *   bench: trace-jsonl-bytes-per-request <N> B   (--trace-format jsonl)
 * `bench_run NAME` runs one of them; VIRTIOSIM_BENCH_RUNS=n changes RUNS (1 for
 * profiling under callgrind). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/bench/bench_util.h"

#include "virtiosim/runner.h"
#include "virtiosim/scenario.h"
#include "virtiosim/trace.h"

#define RUNS 5
#define MAX_RUNS 15

enum unit { MREQ_S, KREQ_S, GB_S };

static const struct bench {
    const char *name;
    const char *path;    /* from the source tree's root, like the other benchmarks */
    const char *backend; /* what --backend would say */
    enum unit unit;
    double block;        /* bytes per request, for GB/s */
} benches[] = {
    {"run-blk-randrw-qd32-verified", "sim/bench/run-blk-randrw-qd32-verified.yaml", "ref",
     MREQ_S, 0},
    {"run-qemu-blk-randrw-qd32-verified", "sim/bench/run-qemu-blk-randrw-qd32-verified.yaml",
     "qemu", KREQ_S, 0},
    {"run-blk-64k-verified", "sim/bench/run-blk-64k-verified.yaml", "ref", GB_S, 65536},
};

/* Requests per second of one passing run, or < 0 (the run failed or erred). */
static double one_run(const struct bench *b, const vs_scenario *s)
{
    /* The CLI's defaults for `virtiosim run [--backend X] FILE` (sim/main.c). */
    vs_run_opts o = {.backend = b->backend, .qemu_same_cpu = !strcmp(b->backend, "qemu")};
    vs_scenario_result r;
    vs_err e = {0};
    double t0 = vs_bench_now_s();
    int rc = vs_run_scenario(s, &o, &r, &e);
    double dt = vs_bench_now_s() - t0;
    double rate = rc == 0 && r.verdict == VS_SCN_PASS && r.requests ? (double)r.requests / dt
                                                                     : -1;
    if (rate < 0)
        fprintf(stderr, "bench_run: %s: run failed: %s %s\n", b->name, e.msg, r.message);
    vs_scenario_result_clear(&r);
    return rate;
}

static int run_bench(const struct bench *b, int runs)
{
    vs_scenario *s;
    vs_err e = {0};
    if (vs_scenario_load(b->path, &s, &e) < 0) {
        fprintf(stderr, "bench_run: %s\n", e.msg);
        return -1;
    }
    double v[MAX_RUNS];
    int i = 0;
    for (; i < runs; i++)
        if ((v[i] = one_run(b, s)) < 0)
            break;
    vs_scenario_free(s);
    if (i < runs)
        return -1;
    qsort(v, (size_t)runs, sizeof v[0], vs_bench_cmp_d);
    double med = v[runs / 2];
    if (b->unit == MREQ_S)
        printf("bench: %s %.3f Mreq/s\n", b->name, med / 1e6);
    else if (b->unit == KREQ_S)
        printf("bench: %s %.1f kreq/s\n", b->name, med / 1e3);
    else
        printf("bench: %s %.3f GB/s\n", b->name, med * b->block / 1e9);
    fflush(stdout);
    return 0;
}

/* Bytes a request of b's scenario writes to a trace file of format fmt, or < 0. */
static double trace_bytes(const struct bench *b, enum vs_trace_file_format fmt)
{
    vs_scenario *s;
    vs_err e = {0};
    if (vs_scenario_load(b->path, &s, &e) < 0) {
        fprintf(stderr, "bench_run: %s\n", e.msg);
        return -1;
    }
    FILE *f = tmpfile();
    vs_run_opts o = {.backend = b->backend, .trace = f, .trace_format = (int)fmt};
    vs_scenario_result r;
    int rc = f ? vs_trace_file_begin(f, fmt) : -1;
    if (rc == 0)
        rc = vs_run_scenario(s, &o, &r, &e);
    double per = -1;
    if (rc == 0 && r.verdict == VS_SCN_PASS && r.requests && fflush(f) == 0)
        per = (double)ftell(f) / (double)r.requests;
    if (rc == 0)
        vs_scenario_result_clear(&r);
    if (f)
        fclose(f);
    vs_scenario_free(s);
    return per;
}

static int trace_sizes(void)
{
    double v = trace_bytes(&benches[0], VS_TRACE_FILE_VST);
    double j = trace_bytes(&benches[0], VS_TRACE_FILE_JSONL);
    if (v < 0 || j < 0) {
        fprintf(stderr, "bench_run: trace size: the run failed\n");
        return -1;
    }
    printf("bench: trace-vst-bytes-per-request %.1f B\n", v);
    printf("bench: trace-jsonl-bytes-per-request %.1f B\n", j);
    return 0;
}

int main(int argc, char **argv)
{
    const char *env = getenv("VIRTIOSIM_BENCH_RUNS");
    int runs = env && *env ? atoi(env) : RUNS;
    if (runs < 1 || runs > MAX_RUNS)
        runs = RUNS;
    int found = 0, rc = 0;
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++) {
        if (argc > 1 && strcmp(argv[1], benches[i].name) != 0)
            continue;
        found = 1;
        if (run_bench(&benches[i], runs) < 0)
            rc = 1;
    }
    if (argc < 2 || strcmp(argv[1], "trace-size") == 0) {
        found = 1;
        if (trace_sizes() < 0)
            rc = 1;
    }
    if (!found) {
        fprintf(stderr, "bench_run: no benchmark named %s\n", argv[1]);
        return 2;
    }
    return rc;
}
