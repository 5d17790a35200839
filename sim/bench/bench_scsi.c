/* virtio-scsi commands per second: 4 KiB random READ/WRITE (10) at queue depth 32 over
 * the scsi driver model (REPORT LUNS / INQUIRY / READ CAPACITY scan first, data
 * unverified), in-process against the reference device (bare, and with the monitors and
 * timeline; the monitor cost is monitored time / bare time, the median over pairs of
 * alternating runs) and against QEMU's virtio-scsi-pci with a scsi-hd LUN. Prints medians
 * of several runs as `bench:` lines. QEMU's figure is the difference of a long and a short
 * run (QEMU's start-up and the scan cancel out); without QEMU the line says so and the
 * benchmark still succeeds. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "model/bench/bench_util.h"

#include "virtiosim/runner.h"
#include "virtiosim/scenario.h"

#define RUNS 5

/* One run of path: its seconds and commands; < 0 on failure. */
static double one_run(const char *path, const char *backend, bool bare, uint64_t *cmds)
{
    vs_scenario *s;
    vs_err e = {0};
    if (vs_scenario_load(path, &s, &e) < 0) {
        fprintf(stderr, "bench_scsi: %s\n", e.msg);
        return -1;
    }
    vs_run_opts o = {.backend = backend, .bare = bare, .no_trace = !bare,
                     .qemu_same_cpu = true};
    vs_scenario_result r;
    double t0 = vs_bench_now_s();
    int rc = vs_run_scenario(s, &o, &r, &e);
    double dt = vs_bench_now_s() - t0;
    bool ok = rc == 0 && r.verdict == VS_SCN_PASS;
    if (!ok)
        fprintf(stderr, "bench_scsi: %s on %s: %s %s\n", path, backend, e.msg, r.message);
    *cmds = r.requests;
    vs_scenario_result_clear(&r);
    vs_scenario_free(s);
    return ok ? dt : -1;
}

/* One in-process run's commands per second; < 0 on failure. */
static double sim_rate(bool bare)
{
    uint64_t n;
    double dt = one_run("sim/bench/scsi-randrw-4k-qd32.yaml", "ref", bare, &n);
    return dt > 0 ? (double)n / dt : -1;
}

/* Bare and monitored rates (medians of RUNS) and the monitor cost: bare and monitored
 * runs alternate and the cost is the median of each pair's ratio, so a change of the
 * machine's speed between the two series does not show as monitor cost. */
static int sim_rates(double *bare, double *mon, double *cost)
{
    double b[RUNS], m[RUNS], r[RUNS];
    for (int i = 0; i < RUNS; i++) {
        b[i] = sim_rate(true);
        m[i] = sim_rate(false);
        if (b[i] <= 0 || m[i] <= 0)
            return -1;
        r[i] = b[i] / m[i];
    }
    *bare = vs_bench_median(b, RUNS);
    *mon = vs_bench_median(m, RUNS);
    *cost = vs_bench_median(r, RUNS);
    return 0;
}

/* QEMU: (long - short commands) / (long - short seconds), median of 3. 0: no QEMU. */
static double qemu_rate(void)
{
    double v[3];
    for (int i = 0; i < 3; i++) {
        uint64_t n1, n2;
        double t1 = one_run("sim/bench/qemu-scsi-4k-qd32-short.yaml", "qemu", true, &n1);
        if (t1 < 0)
            return i == 0 ? 0 : -1;   /* no QEMU at all: said, not failed */
        double t2 = one_run("sim/bench/qemu-scsi-4k-qd32.yaml", "qemu", true, &n2);
        if (t2 < 0 || t2 <= t1 || n2 <= n1)
            return -1;
        v[i] = (double)(n2 - n1) / (t2 - t1);
    }
    return vs_bench_median(v, 3);
}

int main(void)
{
    double bare, mon, cost;
    if (sim_rates(&bare, &mon, &cost) < 0)
        return 1;
    printf("bench: sim-scsi-4k-randrw-qd32 %.3f Mcmd/s\n", bare / 1e6);
    printf("bench: sim-scsi-4k-randrw-qd32-monitored %.3f Mcmd/s\n", mon / 1e6);
    printf("bench: scsi-monitor-cost %.2f x-bare-time\n", cost);
    double q = qemu_rate();
    if (q < 0)
        return 1;
    if (q == 0)
        printf("bench: qemu-scsi-4k-qd32 skipped (no QEMU)\n");
    else
        printf("bench: qemu-scsi-4k-qd32 %.1f kcmd/s\n", q / 1e3);
    return 0;
}
