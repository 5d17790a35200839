/* In-process bytes through one virtio-console port (guest to host end, every byte
 * verified at the host end), bare: no monitors, trace or timeline. Prints the median of
 * several runs as a `bench:` line. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "model/bench/bench_util.h"

#include "virtiosim/runner.h"
#include "virtiosim/scenario.h"

#define RUNS 5
#define BYTES (1024.0 * 1024.0 * 1024.0)   /* what the scenario sends */

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "sim/bench/console-stream.yaml";
    vs_scenario *s;
    vs_err e = {0};
    if (vs_scenario_load(path, &s, &e) < 0) {
        fprintf(stderr, "bench_console: %s\n", e.msg);
        return 1;
    }
    double v[RUNS];
    for (int i = 0; i < RUNS; i++) {
        vs_run_opts o = {.backend = "ref", .bare = true};
        vs_scenario_result r;
        double t0 = vs_bench_now_s();
        int rc = vs_run_scenario(s, &o, &r, &e);
        double dt = vs_bench_now_s() - t0;
        bool ok = rc == 0 && r.verdict == VS_SCN_PASS;
        if (!ok)
            fprintf(stderr, "bench_console: run failed: %s %s\n", e.msg, r.message);
        vs_scenario_result_clear(&r);
        if (!ok) {
            vs_scenario_free(s);
            return 1;
        }
        v[i] = BYTES / dt;
    }
    vs_scenario_free(s);
    qsort(v, RUNS, sizeof v[0], vs_bench_cmp_d);
    printf("bench: sim-console-stream %.2f GB/s\n", v[RUNS / 2] / 1e9);
    return 0;
}
