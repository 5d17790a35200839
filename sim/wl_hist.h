/* Request latencies of a workload (sim/wl_hist.c), shared by the devices' fio-style
 * workloads (sim/dev/<name>/): streamed into bounded memory whatever the request count,
 * exact for runs of up to 64 Ki distinct latencies (private to virtiosim; layer 4). */
#ifndef VS_WL_HIST_H
#define VS_WL_HIST_H

#include <stdbool.h>
#include <stdint.h>

enum { WLH_HB = 8, WLH_HSUB = 1 << (WLH_HB - 1), WLH_HBUCKETS = (1 << WLH_HB) + (64 - WLH_HB) * WLH_HSUB,
       WLH_HSLOT_BITS = 17, WLH_HSLOTS = 1 << WLH_HSLOT_BITS, WLH_HEXACT = WLH_HSLOTS / 2 };

struct vs_wl_hist {
    uint64_t n, min, max;
    unsigned __int128 sum;        /* 2^40 requests of up to 2^64 ns do not wrap it */
    bool bucketed;
    unsigned bits, nslots;        /* 2^bits slots, sized from the run; exact while the run
                                   * has at most nslots / 2 distinct values */
    unsigned distinct;            /* slot[0 .. distinct): the values so far, sorted, with
                                   * their counts (exact mode) */
    uint64_t *vals;               /* the latest values in arrival order (up to nslots / 2,
                                   * after slot[]), merged into slot[] when full */
    unsigned nvals;
    uint64_t *scratch;            /* nslots / 2 words for sorting vals */
    uint64_t count[WLH_HBUCKETS];
    struct { uint64_t v, n; } slot[];
};
typedef struct vs_wl_hist vs_wl_hist;

/* A table for a run of `requests` requests (free() it); NULL: out of memory. */
vs_wl_hist *vs_wl_hist_new(uint64_t requests);
void vs_wl_hist_add(vs_wl_hist *h, uint64_t v);
/* The value of rank k (0-based, k < n); reorders the table (the last use). */
uint64_t vs_wl_hist_rank(vs_wl_hist *h, uint64_t k);
/* min, median (rank n/2), max and mean; nothing when no value was added. The last use. */
void vs_wl_hist_summary(vs_wl_hist *h, uint64_t *min, uint64_t *median, uint64_t *max,
                        uint64_t *mean);

#endif
