/* What the benchmark programs share: a monotonic clock in seconds and a median (their
 * figures are medians of several runs). */
#ifndef VS_BENCH_UTIL_H
#define VS_BENCH_UTIL_H

#include <stddef.h>
#include <stdlib.h>
#include <time.h>

static inline double vs_bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* qsort order of doubles */
static inline int vs_bench_cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n) (sorts v in place). */
static inline double vs_bench_median(double *v, size_t n)
{
    qsort(v, n, sizeof v[0], vs_bench_cmp_d);
    return v[n / 2];
}

#endif
