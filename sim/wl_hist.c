/* Request latencies of a workload, for every device's workload (sim/wl_hist.h). */
#include "sim/wl_hist.h"

#include <stdbool.h>
#include <stdlib.h>

/* Request latencies, streamed into fixed memory (~2.1 MiB) whatever number_ios is. The
 * first WLH_HEXACT distinct values are counted exactly, so runs of up to 64 Ki requests (all
 * shipped scenarios: their traces print the median) get the exact median as before; past
 * that, every value goes to
 * a log-linear histogram (the HdrHistogram idea): values below 2^WLH_HB exact, above, a
 * bucket keeps the top WLH_HB bits, so its midpoint is within 1/2^WLH_HB (0.4 %) of any value in
 * it. Min, max and mean are always exact. */

/* A table with room for a run's requests (up to WLH_HEXACT distinct values): a run of N
 * requests has at most N distinct latencies, so it stays exact exactly when the full table
 * would, and short runs do not touch 2 MiB of fresh pages. */
vs_wl_hist *vs_wl_hist_new(uint64_t requests)
{
    unsigned bits = 6;
    while (bits < WLH_HSLOT_BITS && (UINT64_C(1) << (bits - 1)) < requests)
        bits++;
    size_t nslots = (size_t)1 << bits;
    vs_wl_hist *h = calloc(1, sizeof *h + nslots * sizeof h->slot[0] +
                                  nslots / 2 * sizeof(uint64_t));
    if (h) {
        h->bits = bits;
        h->nslots = 1u << bits;
        h->vals = (uint64_t *)(void *)&h->slot[nslots];
    }
    return h;
}

static unsigned hist_index(uint64_t v)
{
    if (v < (UINT64_C(1) << WLH_HB))
        return (unsigned)v;
    unsigned shift = (unsigned)(63 - __builtin_clzll(v)) - WLH_HB + 1;   /* 1 .. 64-WLH_HB */
    return (1u << WLH_HB) + (shift - 1) * WLH_HSUB + (unsigned)((v >> shift) - WLH_HSUB);
}

/* The midpoint of bucket i (its only value below 2^WLH_HB). */
static uint64_t hist_value(unsigned i)
{
    if (i < (1u << WLH_HB))
        return i;
    unsigned shift = (i - (1u << WLH_HB)) / WLH_HSUB + 1;
    uint64_t top = WLH_HSUB + (i - (1u << WLH_HB)) % WLH_HSUB;
    return (top << shift) + (UINT64_C(1) << (shift - 1));
}

/* Exact mode: 0, or 1 when v is a new value and the table is full. */
static int hist_exact_add(vs_wl_hist *h, uint64_t v)
{
    for (uint64_t i = (v * UINT64_C(0x9e3779b97f4a7c15)) >> (64 - h->bits);;
         i = (i + 1) & (h->nslots - 1)) {
        if (h->slot[i].n && h->slot[i].v == v) {
            h->slot[i].n++;
            return 0;
        }
        if (!h->slot[i].n) {
            if (h->distinct == h->nslots / 2)
                return 1;
            h->distinct++;
            h->slot[i].v = v;
            h->slot[i].n = 1;
            return 0;
        }
    }
}

/* The logged values into the hash table (at most nslots / 2: they all fit). */
static void hist_unlog(vs_wl_hist *h)
{
    uint64_t *vals = h->vals;
    h->vals = NULL;
    for (unsigned i = 0; i < h->nvals; i++)
        hist_exact_add(h, vals[i]);
}

void vs_wl_hist_add(vs_wl_hist *h, uint64_t v)
{
    h->min = h->n && h->min < v ? h->min : v;
    h->max = h->n && h->max > v ? h->max : v;
    h->n++;
    h->sum += v;
    /* A run no longer than the table was sized for appends (one sequential store, where a
     * hash insert was a cache miss per request); a longer one moves to the table, which
     * gives the same counts in any order. */
    if (h->vals && h->nvals < h->nslots / 2) {
        h->vals[h->nvals++] = v;
        return;
    }
    if (h->vals)
        hist_unlog(h);
    if (!h->bucketed && hist_exact_add(h, v) == 0)
        return;
    if (!h->bucketed) {         /* too many distinct values: fold the table in */
        h->bucketed = true;
        for (unsigned i = 0; i < h->nslots; i++)
            if (h->slot[i].n)
                h->count[hist_index(h->slot[i].v)] += h->slot[i].n;
    }
    h->count[hist_index(v)]++;
}

static int cmp_slot_v(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The value of rank k (0-based, k < n): exact in exact mode, else to the histogram's
 * precision clamped to the exact [min, max]. Exact mode buckets the table first and sorts
 * only the values of the bucket holding rank k (a full sort was ~4 % of a bare run);
 * reorders the table in place (last use). */
uint64_t vs_wl_hist_rank(vs_wl_hist *h, uint64_t k)
{
    uint64_t seen = 0;
    if (h->vals) {              /* logged values as slots of count 1 (the table is unused) */
        for (unsigned i = 0; i < h->nvals; i++)
            h->slot[i].v = h->vals[i], h->slot[i].n = 1;
        h->vals = NULL;
    }
    if (!h->bucketed) {
        for (unsigned i = 0; i < h->nslots; i++)
            if (h->slot[i].n)
                h->count[hist_index(h->slot[i].v)] += h->slot[i].n;
        unsigned b = 0;
        while (b < WLH_HBUCKETS - 1 && seen + h->count[b] <= k)
            seen += h->count[b++];
        unsigned m = 0;
        for (unsigned i = 0; i < h->nslots; i++)
            if (h->slot[i].n && hist_index(h->slot[i].v) == b)
                h->slot[m++] = h->slot[i];
        qsort(h->slot, m, sizeof h->slot[0], cmp_slot_v);
        for (unsigned i = 0; i < m; i++)
            if ((seen += h->slot[i].n) > k)
                return h->slot[i].v;
        return h->max;
    }
    for (unsigned i = 0; i < WLH_HBUCKETS; i++) {
        if ((seen += h->count[i]) > k) {
            uint64_t v = hist_value(i);
            return v < h->min ? h->min : v > h->max ? h->max : v;
        }
    }
    return h->max;
}


void vs_wl_hist_summary(vs_wl_hist *h, uint64_t *min, uint64_t *median, uint64_t *max,
                        uint64_t *mean)
{
    if (!h->n)
        return;
    *min = h->min;
    *max = h->max;
    *median = vs_wl_hist_rank(h, h->n / 2);
    *mean = (uint64_t)(h->sum / h->n);
}
