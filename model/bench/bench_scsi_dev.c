/* The reference virtio-scsi device alone (no rings, no clock): 4 KiB READ(10) / WRITE(10)
 * at random block addresses of a 64 MiB RAM disk, half each, through vs_device_ops.handle
 * on chains prepared in guest memory (header, data-out, response + sense, data-in).
 * Median of 5 runs of 200,000 commands, in thread CPU time. Prints "bench: scsi-dev-4k-rw10 <value> Mcmd/s"
 * and the time per command. */
#ifndef _GNU_SOURCE
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/bench/bench_util.h"

#include "virtiosim/gmem.h"
#include "virtiosim/scsi.h"

#define NCHAINS 256u
#define CMDS 200000u
#define RUNS 5
#define BLOCKS (64u << 20) / 512u
#define XFER 4096u

/* CPU time of this thread: the machine is shared, wall time would measure the others */
static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct bchain {
    vs_chain c;
    vs_dseg seg[3];
} bchain;

int main(void)
{
    vs_gmem *gm;
    vs_err e = {0};
    if (vs_gmem_create_flat(&gm, 16u << 20, &e) < 0)
        return fprintf(stderr, "gmem: %s\n", e.msg), 1;
    vs_scsi_opts o;
    vs_scsi_opts_default(&o);
    o.luns[0].blocks = BLOCKS;
    vs_device *d;
    if (vs_scsi_create(&d, gm, &o, &e) < 0)
        return fprintf(stderr, "scsi: %s\n", e.msg), 1;
    d->driver_features = d->ops->device_features(d);
    static bchain ch[NCHAINS];
    uint64_t gpa = 0x10000, seed = 12345;
    for (unsigned i = 0; i < NCHAINS; i++) {
        bool wr = i & 1;
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        vs_scsi_cmd_req r = {.id = i, .cdb_len = 10};
        vs_scsi_lun_encode(r.lun, 0, 0);
        vs_scsi_rw rw = {.opcode = wr ? VS_SCSI_WRITE_10 : VS_SCSI_READ_10,
                         .lba = (seed >> 33) % (BLOCKS / 8) * 8, .nblocks = XFER / 512};
        vs_scsi_cdb_rw_build(r.cdb, &rw);
        uint8_t hdr[51];
        vs_scsi_cmd_req_put(hdr, sizeof hdr, 32, false, &r);
        bchain *b = &ch[i];
        b->c.seg = b->seg;
        b->c.seg_cap = 3;
        b->c.id = (uint16_t)i;
        vs_gmem_write(gm, gpa, hdr, sizeof hdr, &e);
        b->seg[0] = (vs_dseg){.gpa = gpa, .len = 51};
        gpa += 64;
        if (wr) {
            b->seg[1] = (vs_dseg){.gpa = gpa, .len = XFER};
            b->seg[2] = (vs_dseg){.gpa = gpa + XFER, .len = 108, .write = true};
            b->c.n_out = 2;
        } else {
            b->seg[1] = (vs_dseg){.gpa = gpa, .len = 108, .write = true};
            b->seg[2] = (vs_dseg){.gpa = gpa + 128, .len = XFER, .write = true};
            b->c.n_out = 1;
        }
        b->c.nseg = 3;
        gpa += XFER + 256;
    }
    double rate[RUNS];
    for (int run = 0; run < RUNS; run++) {
        double t0 = thread_cpu_s();
        for (unsigned k = 0; k < CMDS; k++) {
            uint32_t w;
            if (d->ops->handle(d, VS_SCSI_Q_REQ0, &ch[k % NCHAINS].c, &w, &e) != 0 ||
                w < 108)
                return fprintf(stderr, "handle: %s\n", e.msg), 1;
        }
        rate[run] = CMDS / (thread_cpu_s() - t0);
    }
    qsort(rate, RUNS, sizeof rate[0], vs_bench_cmp_d);
    printf("bench: scsi-dev-4k-rw10 %.2f Mcmd/s\n", rate[RUNS / 2] / 1e6);
    printf("bench: scsi-dev-4k-rw10-per-cmd %.0f ns\n", 1e9 / rate[RUNS / 2]);
    d->ops->destroy(d);
    vs_gmem_destroy(gm);
    return 0;
}
