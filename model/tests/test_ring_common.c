/* Ring geometry (vs_vq_area_sizes_for) and layout allocation, both formats. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "virtiosim/vring.h"

START_TEST(test_split_sizes)
{
    vs_vq_area_sizes a;
    vs_err e;
    static const uint32_t sizes[] = {1, 2, 256, 32768};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        uint32_t n = sizes[k];
        ck_assert_int_eq(vs_vq_area_sizes_for(VS_RING_SPLIT, n, &a, &e), 0);
        ck_assert_uint_eq(a.desc_bytes, 16ull * n);
        ck_assert_uint_eq(a.driver_bytes, 6ull + 2ull * n);
        ck_assert_uint_eq(a.device_bytes, 6ull + 8ull * n);
        ck_assert_uint_eq(a.desc_align, 16);
        ck_assert_uint_eq(a.driver_align, 2);
        ck_assert_uint_eq(a.device_align, 4);
    }
}
END_TEST

START_TEST(test_packed_sizes)
{
    vs_vq_area_sizes a;
    vs_err e;
    static const uint32_t sizes[] = {1, 3, 255, 32768};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        uint32_t n = sizes[k];
        ck_assert_int_eq(vs_vq_area_sizes_for(VS_RING_PACKED, n, &a, &e), 0);
        ck_assert_uint_eq(a.desc_bytes, 16ull * n);
        ck_assert_uint_eq(a.driver_bytes, 4);
        ck_assert_uint_eq(a.device_bytes, 4);
        ck_assert_uint_eq(a.desc_align, 16);
        ck_assert_uint_eq(a.driver_align, 4);
        ck_assert_uint_eq(a.device_align, 4);
    }
}
END_TEST

START_TEST(test_invalid_sizes)
{
    vs_vq_area_sizes a;
    vs_err e;
    vs_err_clear(&e);
    ck_assert_int_eq(vs_vq_area_sizes_for(VS_RING_SPLIT, 0, &a, &e), -VS_EINVAL);
    ck_assert_int_eq(e.code, VS_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "queue size 0"));
    ck_assert_int_eq(vs_vq_area_sizes_for(VS_RING_SPLIT, 3, &a, &e), -VS_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "power of two"));
    ck_assert_int_eq(vs_vq_area_sizes_for(VS_RING_SPLIT, 32769, &a, &e), -VS_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "32769"));
    ck_assert_int_eq(vs_vq_area_sizes_for(VS_RING_SPLIT, 65536, &a, &e), -VS_EINVAL);
    ck_assert_int_eq(vs_vq_area_sizes_for(VS_RING_PACKED, 0, &a, &e), -VS_EINVAL);
    ck_assert_int_eq(vs_vq_area_sizes_for(VS_RING_PACKED, 32769, &a, &e), -VS_EINVAL);
    ck_assert_int_eq(vs_vq_area_sizes_for((vs_ring_format)7, 16, &a, &e), -VS_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "format"));
    ck_assert_int_eq(vs_vq_area_sizes_for(VS_RING_SPLIT, 16, NULL, &e), -VS_EINVAL);
    /* NULL vs_err is allowed */
    ck_assert_int_eq(vs_vq_area_sizes_for(VS_RING_SPLIT, 3, &a, NULL), -VS_EINVAL);
}
END_TEST

static void check_layout(vs_gmem *gm, vs_ring_format fmt, uint32_t n)
{
    vs_err e;
    vs_vq_area_sizes a;
    vs_vq_layout l;
    ck_assert_int_eq(vs_vq_area_sizes_for(fmt, n, &a, &e), 0);
    uint64_t before = vs_gmem_bytes_free(gm);
    /* dirty the memory first so "zeroed" is a real check */
    ck_assert_int_eq(vs_gmem_fill(gm, 0, 0xa5, 1u << 20, &e), 0);
    int rc = vs_vq_layout_alloc(gm, fmt, n, &l, &e);
    ck_assert_msg(rc == 0, "alloc: %s", e.msg);
    ck_assert_int_eq(l.format, fmt);
    ck_assert_uint_eq(l.size, n);
    ck_assert_uint_eq(l.desc_gpa % a.desc_align, 0);
    ck_assert_uint_eq(l.driver_gpa % a.driver_align, 0);
    ck_assert_uint_eq(l.device_gpa % a.device_align, 0);
    const uint64_t g[3] = {l.desc_gpa, l.driver_gpa, l.device_gpa};
    const uint64_t b[3] = {a.desc_bytes, a.driver_bytes, a.device_bytes};
    for (int i = 0; i < 3; i++) {
        ck_assert(vs_gmem_range_ok(gm, g[i], b[i], VS_GMEM_WRITE));
        for (int j = 0; j < 3; j++)
            if (i != j)
                ck_assert(g[i] + b[i] <= g[j] || g[j] + b[j] <= g[i]); /* no overlap */
        uint8_t *p = vs_gmem_translate(gm, g[i], b[i], VS_GMEM_READ, &e);
        ck_assert_ptr_nonnull(p);
        for (uint64_t k = 0; k < b[i]; k++)
            ck_assert_uint_eq(p[k], 0);
    }
    ck_assert_uint_lt(vs_gmem_bytes_free(gm), before);
    ck_assert_int_eq(vs_vq_layout_free(gm, &l, &e), 0);
    ck_assert_uint_eq(vs_gmem_bytes_free(gm), before);
}

START_TEST(test_layout_alloc)
{
    vs_gmem *gm;
    vs_err e;
    ck_assert_int_eq(vs_gmem_create_flat(&gm, 4u << 20, &e), 0);
    /* keep the first MiB busy so the layout lands elsewhere than gpa 0 */
    uint64_t pad;
    ck_assert_int_eq(vs_gmem_alloc(gm, 4096, 1, &pad, &e), 0);
    check_layout(gm, VS_RING_SPLIT, 1);
    check_layout(gm, VS_RING_SPLIT, 256);
    check_layout(gm, VS_RING_SPLIT, 32768);
    check_layout(gm, VS_RING_PACKED, 1);
    check_layout(gm, VS_RING_PACKED, 100);
    check_layout(gm, VS_RING_PACKED, 32768);
    vs_gmem_destroy(gm);
}
END_TEST

START_TEST(test_layout_alloc_errors)
{
    vs_gmem *gm;
    vs_err e;
    vs_vq_layout l;
    ck_assert_int_eq(vs_gmem_create_flat(&gm, 64u << 10, &e), 0);
    uint64_t before = vs_gmem_bytes_free(gm);
    ck_assert_int_eq(vs_vq_layout_alloc(gm, VS_RING_SPLIT, 3, &l, &e), -VS_EINVAL);
    ck_assert_int_eq(vs_vq_layout_alloc(gm, VS_RING_PACKED, 0, &l, &e), -VS_EINVAL);
    ck_assert_int_eq(vs_vq_layout_alloc(gm, VS_RING_SPLIT, 32769, &l, &e), -VS_EINVAL);
    /* 32768 * 16 bytes of descriptors do not fit in 64 KiB: nothing may leak */
    ck_assert_int_eq(vs_vq_layout_alloc(gm, VS_RING_SPLIT, 32768, &l, &e), -VS_ENOMEM);
    ck_assert_ptr_nonnull(strstr(e.msg, "vq layout alloc"));
    ck_assert_uint_eq(vs_gmem_bytes_free(gm), before);
    /* the descriptor table (64 KiB) fits, the avail ring then does not: rolled back */
    ck_assert_int_eq(vs_vq_layout_alloc(gm, VS_RING_SPLIT, 4096, &l, &e), -VS_ENOMEM);
    ck_assert_uint_eq(vs_gmem_bytes_free(gm), before);
    ck_assert_int_eq(vs_vq_layout_alloc(gm, VS_RING_SPLIT, 16, NULL, &e), -VS_EINVAL);
    vs_gmem_destroy(gm);
}
END_TEST

START_TEST(test_create_rejects_bad_layout)
{
    vs_gmem *gm;
    vs_err e;
    vs_vq_layout l;
    vs_vq_drv *d = (vs_vq_drv *)1;
    vs_vq_dev *v = (vs_vq_dev *)1;
    ck_assert_int_eq(vs_gmem_create_flat(&gm, 1u << 20, &e), 0);
    ck_assert_int_eq(vs_vq_layout_alloc(gm, VS_RING_SPLIT, 16, &l, &e), 0);
    vs_vq_layout bad = l;
    bad.size = 12;
    ck_assert_int_eq(vs_vq_drv_create(&d, gm, &bad, NULL, &e), -VS_EINVAL);
    ck_assert_ptr_null(d);
    ck_assert_int_eq(vs_vq_dev_create(&v, gm, &bad, NULL, &e), -VS_EINVAL);
    ck_assert_ptr_null(v);
    bad = l;
    bad.driver_gpa += 1; /* avail ring must be 2-aligned */
    ck_assert_int_eq(vs_vq_drv_create(&d, gm, &bad, NULL, &e), -VS_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "aligned"));
    bad = l;
    bad.device_gpa = 1ull << 40; /* outside guest memory */
    ck_assert_int_lt(vs_vq_dev_create(&v, gm, &bad, NULL, &e), 0);
    ck_assert_ptr_nonnull(strstr(e.msg, "used ring"));
    bad = l;
    bad.format = (vs_ring_format)9;
    ck_assert_int_eq(vs_vq_drv_create(&d, gm, &bad, NULL, &e), -VS_EINVAL);
    ck_assert_int_eq(vs_vq_drv_create(&d, gm, &l, NULL, &e), 0);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(vs_vq_drv_layout(d)->desc_gpa, l.desc_gpa);
    vs_vq_drv_destroy(d);
    vs_vq_drv_destroy(NULL);
    vs_vq_dev_destroy(NULL);
    ck_assert_int_eq(vs_vq_layout_free(gm, &l, &e), 0);
    vs_gmem_destroy(gm);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ring_common");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_split_sizes);
    tcase_add_test(tc, test_packed_sizes);
    tcase_add_test(tc, test_invalid_sizes);
    tcase_add_test(tc, test_layout_alloc);
    tcase_add_test(tc, test_layout_alloc_errors);
    tcase_add_test(tc, test_create_rejects_bad_layout);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
