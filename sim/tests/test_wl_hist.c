/* Workload latency statistics (sim/wl_hist.c): exact medians whether the values stay in
 * the arrival log, are merged into the sorted table (more values than the log holds, few
 * distinct) or fall back to the log-linear histogram (too many distinct values). */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "sim/wl_hist.h"

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Adds n values (x_i mod modulo, scaled) to a table sized for hint requests; returns the
 * median it reports and stores the true one in *want. */
static uint64_t median_of(uint64_t hint, unsigned n, uint64_t modulo, uint64_t *want)
{
    vs_wl_hist *h = vs_wl_hist_new(hint);
    ck_assert_ptr_nonnull(h);
    uint64_t *all = malloc(n * sizeof *all), x = 88172645463325252ull;
    ck_assert_ptr_nonnull(all);
    for (unsigned i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        all[i] = 1000 + (x % modulo) * 37;
        vs_wl_hist_add(h, all[i]);
    }
    qsort(all, n, sizeof *all, cmp_u64);
    *want = all[n / 2];
    uint64_t mn = 0, med = 0, mx = 0, mean = 0;
    vs_wl_hist_summary(h, &mn, &med, &mx, &mean);
    ck_assert_uint_eq(mn, all[0]);
    ck_assert_uint_eq(mx, all[n - 1]);
    free(all);
    free(h);
    return med;
}

START_TEST(median_exact_in_the_log)
{
    uint64_t want;
    ck_assert_uint_eq(median_of(1000, 1000, UINT64_C(1) << 40, &want), want);
    ck_assert_uint_eq(median_of(5, 5, 1000, &want), want);
}
END_TEST

START_TEST(median_exact_past_the_log_with_few_distinct_values)
{
    uint64_t want; /* sized for 10 (a 32-value log), 5000 values of 7 kinds */
    ck_assert_uint_eq(median_of(10, 5000, 7, &want), want);
    ck_assert_uint_eq(median_of(10, 32, 1000, &want), want);
    ck_assert_uint_eq(median_of(10, 33, 1000, &want), want);
    /* several full logs merged into the sorted table: 50 Ki distinct values stay exact */
    ck_assert_uint_eq(median_of(200000, 200000, 50000, &want), want);
    ck_assert_uint_eq(median_of(200000, 131073, 65536, &want), want);
}
END_TEST

START_TEST(median_close_when_bucketed)
{
    uint64_t want; /* many distinct values past a small table: within the 0.4 % buckets */
    uint64_t got = median_of(10, 5000, UINT64_C(1) << 30, &want);
    uint64_t d = got > want ? got - want : want - got;
    ck_assert_msg(d * 200 <= want, "median %llu, true %llu", (unsigned long long)got,
                  (unsigned long long)want);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("wl_hist");
    TCase *tc = tcase_create("hist");
    tcase_add_test(tc, median_exact_in_the_log);
    tcase_add_test(tc, median_exact_past_the_log_with_few_distinct_values);
    tcase_add_test(tc, median_close_when_bucketed);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
