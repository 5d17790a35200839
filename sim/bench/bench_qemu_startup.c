/* What a scenario against QEMU costs before and after its steps: the wall time of
 * vs_run_scenario for a scenario that does almost nothing (qemu-scenario-startup.yaml),
 * run RUNS times back to back with a QEMU per scenario (--qemu-fresh) and with one QEMU
 * reused across them (the CLI's default), interleaved so both see the same machine.
 * Prints the medians and their ratio:
 *   bench: qemu-scenario-startup-fresh-ms <N> ms
 *   bench: qemu-scenario-startup-reused-ms <N> ms
 *   bench: qemu-scenario-startup-reuse-ratio <N> x   (fresh / reused)
 * VIRTIOSIM_BENCH_RUNS=n changes RUNS. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>

#include "model/bench/bench_util.h"

#include "virtiosim/qemu.h"
#include "virtiosim/runner.h"
#include "virtiosim/scenario.h"

#define RUNS 9
#define MAX_RUNS 31
#define PATH "sim/bench/qemu-scenario-startup.yaml"

/* Wall milliseconds of one passing run, or < 0. */
static double one_run(const vs_scenario *s, bool reuse)
{
    vs_run_opts o = {.backend = "qemu", .qemu_reuse = reuse};
    vs_scenario_result r;
    vs_err e = {0};
    double t0 = vs_bench_now_s();
    int rc = vs_run_scenario(s, &o, &r, &e);
    double ms = (vs_bench_now_s() - t0) * 1e3;
    if (rc < 0 || r.verdict != VS_SCN_PASS) {
        fprintf(stderr, "bench_qemu_startup: run failed: %s %s\n", e.msg, r.message);
        ms = -1;
    }
    vs_scenario_result_clear(&r);
    return ms;
}

int main(void)
{
    const char *env = getenv("VIRTIOSIM_BENCH_RUNS");
    int runs = env && *env ? atoi(env) : RUNS;
    if (runs < 1 || runs > MAX_RUNS)
        runs = RUNS;
    vs_scenario *s;
    vs_err e = {0};
    if (vs_scenario_load(PATH, &s, &e) < 0) {
        fprintf(stderr, "bench_qemu_startup: %s\n", e.msg);
        return 1;
    }
    double fresh[MAX_RUNS], reused[MAX_RUNS];
    int rc = one_run(s, true) < 0; /* the first reuse run starts the QEMU the others take */
    for (int i = 0; i < runs && !rc; i++) {
        fresh[i] = one_run(s, false);
        reused[i] = one_run(s, true);
        rc = fresh[i] < 0 || reused[i] < 0;
    }
    unsigned started = 0, taken = 0;
    vs_qemu_reuse_counts(&started, &taken);
    vs_qemu_reuse_drop();
    vs_scenario_free(s);
    if (rc)
        return 1;
    if (taken != (unsigned)runs) {
        fprintf(stderr, "bench_qemu_startup: %u of %d runs took the parked QEMU\n", taken,
                runs);
        return 1;
    }
    qsort(fresh, (size_t)runs, sizeof fresh[0], vs_bench_cmp_d);
    qsort(reused, (size_t)runs, sizeof reused[0], vs_bench_cmp_d);
    double f = fresh[runs / 2], r = reused[runs / 2];
    printf("bench: qemu-scenario-startup-fresh-ms %.1f ms\n", f);
    printf("bench: qemu-scenario-startup-reused-ms %.1f ms\n", r);
    printf("bench: qemu-scenario-startup-reuse-ratio %.1f x\n", r > 0 ? f / r : 0);
    return 0;
}
