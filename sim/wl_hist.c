/* Request latencies of a workload, for every device's workload (sim/wl_hist.h). */
#include "sim/wl_hist.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Request latencies, streamed into fixed memory (~3 MiB) whatever number_ios is. Values
 * are logged in arrival order; a full log is radix-sorted and merged into the sorted table
 * of distinct values with their counts (sequential passes: a hash table of the same size
 * missed the cache on every request of a long run). While a run has at most WLH_HEXACT
 * distinct values (all shipped scenarios) the median is exact; past that every value goes
 * to a log-linear histogram (the HdrHistogram idea): values below 2^WLH_HB exact, above, a
 * bucket keeps the top WLH_HB bits, so its midpoint is within 1/2^WLH_HB (0.4 %) of any
 * value in it. Min, max and mean are always exact. */

/* Sized for a run's requests (up to WLH_HEXACT): a run of N requests has at most N
 * distinct latencies, so it stays exact exactly when the full table would, and short runs
 * do not touch megabytes of fresh pages. */
vs_wl_hist *vs_wl_hist_new(uint64_t requests)
{
    unsigned bits = 6;
    while (bits < WLH_HSLOT_BITS && (UINT64_C(1) << (bits - 1)) < requests)
        bits++;
    size_t nslots = (size_t)1 << bits;
    vs_wl_hist *h = calloc(1, sizeof *h + nslots * sizeof h->slot[0] +
                                  nslots * sizeof(uint64_t));
    if (h) {
        h->bits = bits;
        h->nslots = 1u << bits;
        h->vals = (uint64_t *)(void *)&h->slot[nslots];
        h->scratch = h->vals + nslots / 2;
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

/* LSD radix sort of v[0..n) by bytes, skipping the bytes all values share. */
static void radix_sort(uint64_t *v, uint64_t *tmp, unsigned n)
{
    uint64_t all_or = 0, all_and = ~UINT64_C(0);
    for (unsigned i = 0; i < n; i++)
        all_or |= v[i], all_and &= v[i];
    uint64_t *src = v, *dst = tmp;
    for (unsigned shift = 0; shift < 64; shift += 8) {
        if ((((all_or ^ all_and) >> shift) & 0xff) == 0)
            continue;
        unsigned cnt[256] = {0};
        for (unsigned i = 0; i < n; i++)
            cnt[(src[i] >> shift) & 0xff]++;
        for (unsigned b = 0, sum = 0; b < 256; b++) {
            unsigned c = cnt[b];
            cnt[b] = sum;
            sum += c;
        }
        for (unsigned i = 0; i < n; i++)
            dst[cnt[(src[i] >> shift) & 0xff]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != v)
        memcpy(v, src, (size_t)n * sizeof *v);
}

/* Every value into the log-linear histogram, for good. */
static void hist_fold(vs_wl_hist *h)
{
    h->bucketed = true;
    for (unsigned i = 0; i < h->distinct; i++)
        h->count[hist_index(h->slot[i].v)] += h->slot[i].n;
    for (unsigned i = 0; i < h->nvals; i++)
        h->count[hist_index(h->vals[i])]++;
    h->distinct = h->nvals = 0;
}

/* The log into the sorted table (merging from the top down, in place); folds when the
 * run has more distinct values than the table keeps exact. */
static void hist_merge(vs_wl_hist *h)
{
    unsigned nv = h->nvals, du = h->distinct;
    radix_sort(h->vals, h->scratch, nv);
    unsigned out = du + nv, i = du, j = nv; /* reads [0, i) and [0, j), writes [out, ...) */
    while (j > 0) {
        uint64_t v = h->vals[j - 1], c = 0;
        while (j > 0 && h->vals[j - 1] == v)
            j--, c++;
        while (i > 0 && h->slot[i - 1].v > v) {
            h->slot[--out] = h->slot[--i];
        }
        if (i > 0 && h->slot[i - 1].v == v)
            c += h->slot[--i].n;
        out--;
        h->slot[out].v = v;
        h->slot[out].n = c;
    }
    /* what is left of the table is already in place below out */
    unsigned kept = i, moved = du + nv - out;
    if (out != kept)
        memmove(&h->slot[kept], &h->slot[out], (size_t)moved * sizeof h->slot[0]);
    h->distinct = kept + moved;
    h->nvals = 0;
    if (h->distinct > h->nslots / 2)
        hist_fold(h);
}

void vs_wl_hist_add(vs_wl_hist *h, uint64_t v)
{
    h->min = h->n && h->min < v ? h->min : v;
    h->max = h->n && h->max > v ? h->max : v;
    h->n++;
    h->sum += v;
    if (h->bucketed) {
        h->count[hist_index(v)]++;
        return;
    }
    h->vals[h->nvals++] = v;
    if (h->nvals == h->nslots / 2)
        hist_merge(h);
}

/* The value of rank k (0-based, k < n): exact in exact mode, else to the histogram's
 * precision clamped to the exact [min, max]. */
uint64_t vs_wl_hist_rank(vs_wl_hist *h, uint64_t k)
{
    uint64_t seen = 0;
    if (!h->bucketed && h->nvals)
        hist_merge(h);
    if (!h->bucketed) {
        for (unsigned i = 0; i < h->distinct; i++)
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
