/* Bytes through one virtio-console port, guest to host end, every byte verified at the
 * host end, bare (no monitors, trace or timeline): in-process (sim-console-stream), and
 * through QEMU's virtio-serial-pci to a socket virtiosim serves (qemu-console-stream; a
 * long run minus a short one, so QEMU's start-up cancels out). Medians of several runs. */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "model/bench/bench_util.h"

#include "virtiosim/runner.h"
#include "virtiosim/scenario.h"

#define RUNS 5
#define BYTES (1024.0 * 1024.0 * 1024.0)   /* what the in-process scenario sends */
#define QEMU_LONG (256.0 * 1024 * 1024)     /* ... and the two QEMU ones */
#define QEMU_SHORT (32.0 * 1024 * 1024)

/* Seconds of one passing run of the scenario at path on backend; < 0 on failure. */
static double run_s(const char *path, const char *backend)
{
    vs_scenario *s;
    vs_err e = {0};
    if (vs_scenario_load(path, &s, &e) < 0) {
        fprintf(stderr, "bench_console: %s\n", e.msg);
        return -1;
    }
    vs_run_opts o = {.backend = backend, .bare = true};
    vs_scenario_result r;
    double t0 = vs_bench_now_s();
    int rc = vs_run_scenario(s, &o, &r, &e);
    double dt = vs_bench_now_s() - t0;
    bool ok = rc == 0 && r.verdict == VS_SCN_PASS;
    if (!ok)
        fprintf(stderr, "bench_console: %s: run failed: %s %s\n", path, e.msg, r.message);
    vs_scenario_result_clear(&r);
    vs_scenario_free(s);
    return ok ? dt : -1;
}

int main(void)
{
    double v[RUNS];
    for (int i = 0; i < RUNS; i++) {
        double t = run_s("sim/bench/console-stream.yaml", "ref");
        if (t < 0)
            return 1;
        v[i] = BYTES / t;
    }
    printf("bench: sim-console-stream %.2f GB/s\n", vs_bench_median(v, RUNS) / 1e9);
    for (int i = 0; i < RUNS; i++) {
        double tl = run_s("sim/bench/console-stream-qemu.yaml", "qemu");
        double ts = run_s("sim/bench/console-stream-qemu-short.yaml", "qemu");
        if (tl < 0 || ts < 0)
            return 1;
        v[i] = tl > ts ? (QEMU_LONG - QEMU_SHORT) / (tl - ts) : 0;
    }
    printf("bench: qemu-console-stream %.0f MB/s\n", vs_bench_median(v, RUNS) / 1e6);
    return 0;
}
