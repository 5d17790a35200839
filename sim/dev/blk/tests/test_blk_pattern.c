/* The data pattern writes carry and reads are verified against: the sector generator
 * (vectorized on x86-64 hosts) gives exactly vs_blk_pattern_byte's bytes, and those bytes
 * are pinned (a change would silently change what every verified run writes). And the
 * per-sector shadow's table under a workload that fills one lane. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "sim/dev/blk/blk_drv_int.h"
#include "virtiosim/blk_driver.h"

START_TEST(sector_matches_the_byte_definition)
{
    uint8_t out[VS_BLK_SECTOR];
    uint64_t x = 0x243f6a8885a308d3ull;
    for (int round = 0; round < 300; round++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t seed = round < 100 ? (uint64_t)round : x;
        uint64_t tag = round % 3 ? x >> 20 : (UINT64_C(1) << 62) | (uint64_t)round;
        uint64_t sector = x * 0x9e3779b97f4a7c15ull >> (round % 64);
        blk_pattern_sector(seed, tag, sector, out);
        for (uint32_t off = 0; off < VS_BLK_SECTOR; off++)
            ck_assert_msg(out[off] == vs_blk_pattern_byte(seed, tag, sector, off),
                          "seed %llu tag %llu sector %llu offset %u",
                          (unsigned long long)seed, (unsigned long long)tag,
                          (unsigned long long)sector, off);
    }
}
END_TEST

START_TEST(pattern_bytes_are_pinned)
{
    static const uint8_t want[8] = {0xee, 0x29, 0xdb, 0xe4, 0x67, 0x00, 0xc4, 0x7c};
    uint8_t out[VS_BLK_SECTOR];
    blk_pattern_sector(1, 2, 3, out);
    for (int i = 0; i < 8; i++)
        ck_assert_uint_eq(out[504 + i], want[i]);
}
END_TEST

/* The fused check used by verification: true for the generated sector, false when any
 * single byte differs (every offset, so no lane or word is left out of the compare). */
START_TEST(match_accepts_exactly_the_pattern)
{
    uint8_t buf[VS_BLK_SECTOR];
    for (uint64_t tag = 1; tag < 4; tag++) {
        blk_pattern_sector(7, tag, 1000 + tag, buf);
        ck_assert(blk_pattern_match(7, tag, 1000 + tag, buf));
        ck_assert(!blk_pattern_match(7, tag + 1, 1000 + tag, buf));
        ck_assert(!blk_pattern_match(7, tag, 1001 + tag, buf));
        for (uint32_t off = 0; off < VS_BLK_SECTOR; off++) {
            buf[off] ^= 0x01;
            ck_assert_msg(!blk_pattern_match(7, tag, 1000 + tag, buf), "offset %u", off);
            buf[off] ^= 0x01;
        }
    }
}
END_TEST

/* The shadow's hash keeps eight consecutive sectors together and probes lane by lane:
 * sectors that all fall in one lane (a 4 KiB stride) must still find free slots (the
 * table grows by the fullest lane), and every sector must be found again. */
START_TEST(shadow_one_lane_and_all_lanes)
{
    for (int stride = 1; stride <= 8; stride += 7) {
        vs_blk_drv *b = calloc(1, sizeof *b);
        ck_assert_ptr_nonnull(b);
        vs_blk_drv_req br = {0};
        br.r.nsectors = 1;
        for (uint64_t i = 0; i < 20000; i++) {
            br.r.sector = 5 + i * (uint64_t)stride;
            blk_range_busy_sectors(b, &br, 1, true, 100 + i);
        }
        for (uint64_t i = 0; i < 20000; i++)
            ck_assert_uint_eq(blk_shadow_busy(b, 5 + i * (uint64_t)stride), 1);
        ck_assert_uint_eq(blk_shadow_busy(b, 3), 0);
        uint32_t busy = 9;
        ck_assert_uint_eq(blk_shadow_state(b, 5 + 7 * (uint64_t)stride, &busy), 107);
        ck_assert_uint_eq(busy, 1);
        blk_shadow_state(b, 3, &busy);
        ck_assert_uint_eq(busy, 0);
        blk_shadow_free(b);
        free(b);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("blk_pattern");
    TCase *tc = tcase_create("pattern");
    tcase_add_test(tc, sector_matches_the_byte_definition);
    tcase_add_test(tc, pattern_bytes_are_pinned);
    tcase_add_test(tc, shadow_one_lane_and_all_lanes);
    tcase_add_test(tc, match_accepts_exactly_the_pattern);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
