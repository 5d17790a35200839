/* Unit tests for guest memory (model/gmem.c). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pread */
#endif
#include "virtiosim/gmem.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MiB (1024u * 1024u)

static vs_gmem *flat(uint64_t size)
{
    vs_gmem *gm = NULL;
    vs_err e = {0};
    int rc = vs_gmem_create_flat(&gm, size, &e);
    ck_assert_msg(rc == 0, "create_flat: %s", e.msg);
    ck_assert_ptr_nonnull(gm);
    return gm;
}

START_TEST(create_destroy)
{
    vs_gmem *gm = flat(2 * MiB);
    ck_assert_int_ge(vs_gmem_fd(gm), 0);
    ck_assert_uint_eq(vs_gmem_file_size(gm), 2 * MiB);
    ck_assert_ptr_nonnull(vs_gmem_host_base(gm));
    ck_assert_uint_eq(vs_gmem_region_count(gm), 1);
    const vs_gmem_region *r = vs_gmem_region_at(gm, 0);
    ck_assert_uint_eq(r->gpa, 0);
    ck_assert_uint_eq(r->size, 2 * MiB);
    ck_assert_ptr_null(vs_gmem_region_at(gm, 1));
    vs_gmem_destroy(gm);
    vs_gmem_destroy(NULL);

    /* File size is rounded up to a page. */
    vs_err e = {0};
    ck_assert_int_eq(vs_gmem_create(&gm, 100, "t", &e), 0);
    ck_assert_uint_eq(vs_gmem_file_size(gm), 4096);
    ck_assert_uint_eq(vs_gmem_region_count(gm), 0);
    vs_gmem_destroy(gm);

    ck_assert_int_eq(vs_gmem_create(&gm, 0, "t", &e), -VS_EINVAL);
    ck_assert_ptr_null(gm);
}
END_TEST

START_TEST(region_add_errors)
{
    vs_gmem *gm = NULL;
    vs_err e = {0};
    ck_assert_int_eq(vs_gmem_create(&gm, 1 * MiB, "regions", &e), 0);
    ck_assert_int_eq(vs_gmem_add_region(gm, 0x100000, 0x10000, 0, 0, &e), 0);

    /* zero size */
    ck_assert_int_eq(vs_gmem_add_region(gm, 0x0, 0, 0, 0, &e), -VS_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "size 0"));
    /* overlap at start, end, containment, identical */
    ck_assert_int_eq(vs_gmem_add_region(gm, 0xff000, 0x2000, 0, 0, &e), -VS_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "overlaps"));
    ck_assert_int_eq(vs_gmem_add_region(gm, 0x10f000, 0x2000, 0, 0, &e), -VS_EINVAL);
    ck_assert_int_eq(vs_gmem_add_region(gm, 0x104000, 0x1000, 0, 0, &e), -VS_EINVAL);
    ck_assert_int_eq(vs_gmem_add_region(gm, 0x0, 0x200000, 0, VS_GMEM_HOLE, &e), -VS_EINVAL);
    /* wrap-around */
    ck_assert_int_eq(vs_gmem_add_region(gm, UINT64_MAX - 0xfff, 0x2000, 0, VS_GMEM_HOLE, &e),
                     -VS_ERANGE);
    ck_assert_ptr_nonnull(strstr(e.msg, "wraps"));
    /* outside the file */
    ck_assert_int_eq(vs_gmem_add_region(gm, 0x200000, 0x1000, 1 * MiB, 0, &e), -VS_ERANGE);
    ck_assert_ptr_nonnull(strstr(e.msg, "outside"));
    ck_assert_int_eq(vs_gmem_add_region(gm, 0x200000, 0x2000, 1 * MiB - 0x1000, 0, &e),
                     -VS_ERANGE);
    ck_assert_int_eq(vs_gmem_add_region(gm, 0x200000, 0x1000, UINT64_MAX - 0x10, 0, &e),
                     -VS_ERANGE);
    /* bad flags */
    ck_assert_int_eq(vs_gmem_add_region(gm, 0x200000, 0x1000, 0, 0x80, &e), -VS_EINVAL);
    ck_assert_uint_eq(vs_gmem_region_count(gm), 1);

    /* ...but a hole needs no backing, and adjacent regions are fine; table stays sorted. */
    ck_assert_int_eq(vs_gmem_add_region(gm, 0x40000000, 0x40000000, 0, VS_GMEM_HOLE, &e), 0);
    ck_assert_int_eq(vs_gmem_add_region(gm, 0xf0000, 0x10000, 0x10000, 0, &e), 0);
    ck_assert_int_eq(vs_gmem_add_region(gm, 0x110000, 0x1000, 0x20000, VS_GMEM_READONLY, &e), 0);
    ck_assert_uint_eq(vs_gmem_region_count(gm), 4);
    for (size_t i = 1; i < vs_gmem_region_count(gm); i++)
        ck_assert_uint_lt(vs_gmem_region_at(gm, i - 1)->gpa, vs_gmem_region_at(gm, i)->gpa);
    vs_gmem_destroy(gm);
}
END_TEST

START_TEST(translate_errors)
{
    vs_gmem *gm = NULL;
    vs_err e = {0};
    ck_assert_int_eq(vs_gmem_create(&gm, 4 * MiB, "xl", &e), 0);
    ck_assert_int_eq(vs_gmem_add_region(gm, 0, 0x200000, 0, 0, &e), 0);
    ck_assert_int_eq(vs_gmem_add_region(gm, 0x200000, 0x100000, 0x200000, VS_GMEM_READONLY, &e),
                     0);
    ck_assert_int_eq(vs_gmem_add_region(gm, 0x300000, 0x100000, 0, VS_GMEM_HOLE, &e), 0);
    ck_assert_int_eq(vs_gmem_add_region(gm, UINT64_MAX - 0x1fff, 0x1000, 0x300000, 0, &e), 0);
    uint8_t *base = vs_gmem_host_base(gm);

    /* good: pointer arithmetic matches the file */
    ck_assert_ptr_eq(vs_gmem_translate(gm, 0x1234, 16, VS_GMEM_WRITE, &e), base + 0x1234);
    ck_assert_ptr_eq(vs_gmem_translate(gm, 0x1ff000, 0x1000, VS_GMEM_READ, &e), base + 0x1ff000);
    ck_assert_ptr_eq(vs_gmem_translate(gm, 0x200010, 4, VS_GMEM_READ, &e), base + 0x200010);
    ck_assert_ptr_eq(vs_gmem_translate(gm, UINT64_MAX - 0x1fff, 0x1000, VS_GMEM_READ, &e),
                     base + 0x300000);
    /* the cache must not let a later region's access be served by the cached one */
    ck_assert_ptr_eq(vs_gmem_translate(gm, 0x10, 4, VS_GMEM_READ, &e), base + 0x10);

    /* unmapped */
    vs_err_clear(&e);
    ck_assert_ptr_null(vs_gmem_translate(gm, 0x500000, 4, VS_GMEM_READ, &e));
    ck_assert_int_eq(e.code, VS_ERANGE);
    ck_assert_ptr_nonnull(strstr(e.msg, "not mapped"));
    ck_assert_ptr_nonnull(strstr(e.msg, "0x500000"));
    /* crossing a region end, even into an adjacent region */
    ck_assert_ptr_null(vs_gmem_translate(gm, 0x1ff000, 0x2000, VS_GMEM_READ, &e));
    ck_assert_int_eq(e.code, VS_ERANGE);
    ck_assert_str_eq(e.msg, "gpa 0x1ff000+0x2000 crosses end of region [0x0,0x200000)");
    /* 64-bit wrap */
    ck_assert_ptr_null(vs_gmem_translate(gm, UINT64_MAX - 1, 4, VS_GMEM_READ, &e));
    ck_assert_int_eq(e.code, VS_ERANGE);
    ck_assert_ptr_nonnull(strstr(e.msg, "wraps"));
    ck_assert_ptr_null(vs_gmem_translate(gm, 0x10, UINT64_MAX, VS_GMEM_READ, &e));
    ck_assert_int_eq(e.code, VS_ERANGE);
    /* len 0, also inside the cached region */
    ck_assert_ptr_null(vs_gmem_translate(gm, 0x10, 0, VS_GMEM_READ, &e));
    ck_assert_int_eq(e.code, VS_EINVAL);
    /* read-only refuses writes only */
    ck_assert_ptr_null(vs_gmem_translate(gm, 0x200010, 4, VS_GMEM_WRITE, &e));
    ck_assert_int_eq(e.code, VS_ERANGE);
    ck_assert_ptr_nonnull(strstr(e.msg, "read-only"));
    ck_assert_ptr_nonnull(vs_gmem_translate(gm, 0x200010, 4, VS_GMEM_READ, &e));
    /* the cached RO region still refuses a write */
    ck_assert_ptr_null(vs_gmem_translate(gm, 0x200010, 4, VS_GMEM_WRITE, &e));
    /* hole refuses everything */
    ck_assert_ptr_null(vs_gmem_translate(gm, 0x300000, 4, VS_GMEM_READ, &e));
    ck_assert_int_eq(e.code, VS_ERANGE);
    ck_assert_ptr_nonnull(strstr(e.msg, "hole"));
    ck_assert_ptr_null(vs_gmem_translate(gm, 0x300000, 4, VS_GMEM_WRITE, &e));

    /* range_ok agrees and needs no vs_err */
    ck_assert(vs_gmem_range_ok(gm, 0x0, 0x200000, VS_GMEM_WRITE));
    ck_assert(!vs_gmem_range_ok(gm, 0x0, 0x200001, VS_GMEM_READ));
    ck_assert(!vs_gmem_range_ok(gm, 0x200000, 4, VS_GMEM_WRITE));
    ck_assert(vs_gmem_range_ok(gm, 0x200000, 4, VS_GMEM_READ));
    ck_assert(!vs_gmem_range_ok(gm, 0x300000, 1, VS_GMEM_READ));
    ck_assert(!vs_gmem_range_ok(gm, UINT64_MAX - 1, 4, VS_GMEM_READ));
    ck_assert(!vs_gmem_range_ok(gm, 0x10, 0, VS_GMEM_READ));
    /* span_ok also accepts adjacent regions, each checked for kind */
    ck_assert(vs_gmem_span_ok(gm, 0x0, 0x200001, VS_GMEM_READ));
    ck_assert(vs_gmem_span_ok(gm, 0x1ff000, 0x101000, VS_GMEM_READ));
    ck_assert(!vs_gmem_span_ok(gm, 0x1ff000, 0x2000, VS_GMEM_WRITE));
    ck_assert(!vs_gmem_span_ok(gm, 0x1ff000, 0x101001, VS_GMEM_READ));
    ck_assert(!vs_gmem_span_ok(gm, 0x500000, 1, VS_GMEM_READ));
    ck_assert(!vs_gmem_span_ok(gm, UINT64_MAX - 1, 4, VS_GMEM_READ));
    ck_assert(!vs_gmem_span_ok(gm, 0x10, 0, VS_GMEM_READ));
    ck_assert(vs_gmem_span_ok(gm, 0x10, 4, VS_GMEM_WRITE));

    /* scalar accessors check bounds but not alignment */
    uint32_t v32;
    ck_assert_int_eq(vs_gmem_ld32(gm, 0x1fffe, &v32, &e), 0);
    ck_assert_int_eq(vs_gmem_ld32(gm, 0x1ffffe, &v32, &e), -VS_ERANGE);
    ck_assert_int_eq(vs_gmem_st32(gm, 0x200000, 1, &e), -VS_ERANGE);
    ck_assert_int_eq(vs_gmem_ld32(gm, 0x300000, &v32, NULL), -VS_ERANGE);
    vs_gmem_destroy(gm);
}
END_TEST

START_TEST(multi_region_bulk)
{
    vs_gmem *gm = NULL;
    vs_err e = {0};
    /* Two GPA-adjacent regions backed by non-adjacent, swapped file ranges. */
    ck_assert_int_eq(vs_gmem_create(&gm, 0x10000, "multi", &e), 0);
    ck_assert_int_eq(vs_gmem_add_region(gm, 0x1000, 0x1000, 0x8000, 0, &e), 0);
    ck_assert_int_eq(vs_gmem_add_region(gm, 0x2000, 0x1000, 0x2000, 0, &e), 0);
    ck_assert_int_eq(vs_gmem_add_region(gm, 0x3000, 0x1000, 0x4000, VS_GMEM_READONLY, &e), 0);
    ck_assert_int_eq(vs_gmem_add_region(gm, 0x5000, 0x1000, 0x5000, 0, &e), 0);
    uint8_t *base = vs_gmem_host_base(gm);

    uint8_t src[0x200], dst[0x200];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (uint8_t)(i * 7 + 1);
    ck_assert_int_eq(vs_gmem_write(gm, 0x1f00, src, sizeof src, &e), 0);
    ck_assert_mem_eq(base + 0x8f00, src, 0x100);
    ck_assert_mem_eq(base + 0x2000, src + 0x100, 0x100);
    memset(dst, 0, sizeof dst);
    ck_assert_int_eq(vs_gmem_read(gm, 0x1f00, dst, sizeof dst, &e), 0);
    ck_assert_mem_eq(dst, src, sizeof src);

    /* reading across into the RO region is fine, writing is not, and leaves memory as is */
    ck_assert_int_eq(vs_gmem_read(gm, 0x2f00, dst, sizeof dst, &e), 0);
    ck_assert_int_eq(vs_gmem_write(gm, 0x2f00, src, sizeof src, &e), -VS_ERANGE);
    ck_assert_ptr_nonnull(strstr(e.msg, "read-only"));
    ck_assert_uint_eq(base[0x2f00], 0);
    /* a gap stops it */
    ck_assert_int_eq(vs_gmem_read(gm, 0x3f00, dst, sizeof dst, &e), -VS_ERANGE);
    ck_assert_ptr_nonnull(strstr(e.msg, "0x4000 is not mapped"));

    /* fill across the boundary */
    ck_assert_int_eq(vs_gmem_fill(gm, 0x1ff0, 0xab, 0x20, &e), 0);
    for (int i = 0; i < 0x10; i++) {
        ck_assert_uint_eq(base[0x8ff0 + i], 0xab);
        ck_assert_uint_eq(base[0x2000 + i], 0xab);
    }
    ck_assert_uint_eq(base[0x2010], src[0x110]);
    /* len 0 is a no-op anywhere, even unmapped */
    ck_assert_int_eq(vs_gmem_read(gm, 0xdead0000, dst, 0, &e), 0);
    ck_assert_int_eq(vs_gmem_write(gm, 0xdead0000, src, 0, &e), 0);
    ck_assert_int_eq(vs_gmem_fill(gm, 0xdead0000, 1, 0, &e), 0);
    /* wrap */
    ck_assert_int_eq(vs_gmem_read(gm, UINT64_MAX - 1, dst, 4, &e), -VS_ERANGE);
    vs_gmem_destroy(gm);
}
END_TEST

START_TEST(scalar_le)
{
    vs_gmem *gm = flat(0x10000);
    vs_err e = {0};
    uint8_t *b = vs_gmem_host_base(gm);

    ck_assert_int_eq(vs_gmem_st16(gm, 0x101, 0x1234, &e), 0);
    ck_assert_uint_eq(b[0x101], 0x34);
    ck_assert_uint_eq(b[0x102], 0x12);
    ck_assert_int_eq(vs_gmem_st32(gm, 0x203, 0x11223344u, &e), 0);
    const uint8_t le32[] = {0x44, 0x33, 0x22, 0x11};
    ck_assert_mem_eq(b + 0x203, le32, 4);
    ck_assert_int_eq(vs_gmem_st64(gm, 0x305, 0x0102030405060708ull, &e), 0);
    const uint8_t le64[] = {8, 7, 6, 5, 4, 3, 2, 1};
    ck_assert_mem_eq(b + 0x305, le64, 8);
    ck_assert_int_eq(vs_gmem_st8(gm, 0x400, 0xfe, &e), 0);
    ck_assert_uint_eq(b[0x400], 0xfe);

    const uint8_t raw[] = {0xef, 0xbe, 0xad, 0xde, 0x78, 0x56, 0x34, 0x12};
    memcpy(b + 0x501, raw, sizeof raw);
    uint8_t v8;
    uint16_t v16;
    uint32_t v32;
    uint64_t v64;
    ck_assert_int_eq(vs_gmem_ld8(gm, 0x501, &v8, &e), 0);
    ck_assert_uint_eq(v8, 0xef);
    ck_assert_int_eq(vs_gmem_ld16(gm, 0x501, &v16, &e), 0);
    ck_assert_uint_eq(v16, 0xbeef);
    ck_assert_int_eq(vs_gmem_ld32(gm, 0x501, &v32, &e), 0);
    ck_assert_uint_eq(v32, 0xdeadbeefu);
    ck_assert_int_eq(vs_gmem_ld64(gm, 0x501, &v64, &e), 0);
    ck_assert_uint_eq(v64, 0x12345678deadbeefull);

    /* last bytes of memory: in bounds; one further: out */
    ck_assert_int_eq(vs_gmem_st64(gm, 0x10000 - 8, 1, &e), 0);
    ck_assert_int_eq(vs_gmem_st64(gm, 0x10000 - 7, 1, &e), -VS_ERANGE);
    ck_assert_int_eq(vs_gmem_ld16(gm, 0x10000 - 1, &v16, &e), -VS_ERANGE);
    ck_assert_int_eq(vs_gmem_ld8(gm, 0x10000, &v8, &e), -VS_ERANGE);
    vs_gmem_destroy(gm);
}
END_TEST

START_TEST(alloc_basic)
{
    vs_gmem *gm = flat(1 * MiB);
    vs_err e = {0};
    /* page 0 is never handed out */
    ck_assert_uint_eq(vs_gmem_bytes_free(gm), 1 * MiB - 4096);

    uint64_t a, b, c;
    vs_gmem_fill(gm, 0, 0x5a, 1 * MiB, &e);
    ck_assert_int_eq(vs_gmem_alloc(gm, 100, 1, &a, &e), 0);
    ck_assert_uint_ne(a, 0);
    ck_assert_uint_eq(a % 4096, 0);
    ck_assert_uint_eq(vs_gmem_bytes_free(gm), 1 * MiB - 2 * 4096);
    uint8_t *p = vs_gmem_translate(gm, a, 4096, VS_GMEM_READ, &e);
    for (int i = 0; i < 4096; i++)
        ck_assert_uint_eq(p[i], 0);

    ck_assert_int_eq(vs_gmem_alloc(gm, 8192, 65536, &b, &e), 0);
    ck_assert_uint_eq(b % 65536, 0);
    ck_assert_uint_ne(b, 0);
    p = vs_gmem_translate(gm, b, 8192, VS_GMEM_READ, &e);
    for (int i = 0; i < 8192; i++)
        ck_assert_uint_eq(p[i], 0);

    /* bad args */
    ck_assert_int_eq(vs_gmem_alloc(gm, 0, 1, &c, &e), -VS_EINVAL);
    ck_assert_int_eq(vs_gmem_alloc(gm, 4096, 3, &c, &e), -VS_EINVAL);
    ck_assert_int_eq(vs_gmem_alloc(gm, 4096, 0, &c, &e), -VS_EINVAL);
    ck_assert_int_eq(vs_gmem_alloc(gm, UINT64_MAX, 1, &c, &e), -VS_ENOMEM);
    ck_assert_int_eq(vs_gmem_free(gm, a + 4096, &e), -VS_EINVAL);
    ck_assert_int_eq(vs_gmem_free(gm, 0, &e), -VS_EINVAL);

    /* free + reuse (first fit returns the same page), double free is an error */
    ck_assert_int_eq(vs_gmem_free(gm, a, &e), 0);
    ck_assert_int_eq(vs_gmem_free(gm, a, &e), -VS_EINVAL);
    vs_gmem_fill(gm, a, 0x77, 4096, &e);
    ck_assert_int_eq(vs_gmem_alloc(gm, 4096, 4096, &c, &e), 0);
    ck_assert_uint_eq(c, a);
    uint8_t v;
    vs_gmem_ld8(gm, c + 100, &v, &e);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(vs_gmem_free(gm, c, &e), 0);
    ck_assert_int_eq(vs_gmem_free(gm, b, &e), 0);
    /* everything coalesced again */
    ck_assert_uint_eq(vs_gmem_bytes_free(gm), 1 * MiB - 4096);
    ck_assert_int_eq(vs_gmem_alloc(gm, 1 * MiB - 4096, 4096, &a, &e), 0);
    ck_assert_uint_eq(a, 4096);
    ck_assert_int_eq(vs_gmem_free(gm, a, &e), 0);
    vs_gmem_destroy(gm);
}
END_TEST

START_TEST(alloc_large_zeroed)
{
    /* Large allocations are zeroed by dropping the memfd's pages: the memory reads back
     * as zeros through our mapping and through another process's mapping of the fd (as
     * QEMU sees it), and the bytes on either side keep what they held. */
    vs_gmem *gm = flat(4 * MiB);
    vs_err e = {0};
    int fd = vs_gmem_fd(gm);
    uint8_t *other = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ck_assert_ptr_ne(other, MAP_FAILED);
    uint64_t small, big;
    ck_assert_int_eq(vs_gmem_alloc(gm, 4096, 4096, &small, &e), 0);
    ck_assert_int_eq(vs_gmem_fill(gm, 0, 0x5a, 4 * MiB, &e), 0);
    ck_assert_int_eq(vs_gmem_alloc(gm, 1 * MiB + 4096, 4096, &big, &e), 0);
    const uint8_t *p = vs_gmem_translate(gm, big, 1 * MiB + 4096, VS_GMEM_READ, &e);
    ck_assert_ptr_nonnull(p);
    for (uint64_t i = 0; i < 1 * MiB + 4096; i++) {
        ck_assert_uint_eq(p[i], 0);
        ck_assert_uint_eq(other[big + i], 0);
    }
    ck_assert_uint_eq(other[big - 1], 0x5a);
    ck_assert_uint_eq(other[big + 1 * MiB + 4096], 0x5a);
    ck_assert_uint_eq(other[small], 0x5a);
    /* dirtied, freed and allocated again: zero again */
    ck_assert_int_eq(vs_gmem_fill(gm, big, 0x33, 1 * MiB + 4096, &e), 0);
    ck_assert_int_eq(vs_gmem_free(gm, big, &e), 0);
    uint64_t again;
    ck_assert_int_eq(vs_gmem_alloc(gm, 1 * MiB + 4096, 4096, &again, &e), 0);
    ck_assert_uint_eq(again, big);
    for (uint64_t i = 0; i < 1 * MiB + 4096; i += 97)
        ck_assert_uint_eq(other[again + i], 0);
    munmap(other, 4 * MiB);
    vs_gmem_destroy(gm);
}
END_TEST

START_TEST(alloc_exhaustion)
{
    vs_gmem *gm = flat(64 * 4096);
    vs_err e = {0};
    uint64_t g[64];
    int n = 0;
    while (vs_gmem_alloc(gm, 4096, 4096, &g[n], &e) == 0) {
        ck_assert_uint_ne(g[n], 0);
        for (int i = 0; i < n; i++)
            ck_assert_uint_ne(g[i], g[n]);
        n++;
        ck_assert_int_lt(n, 64);
    }
    ck_assert_int_eq(e.code, VS_ENOMEM);
    ck_assert_int_eq(n, 63); /* all pages but page 0 */
    ck_assert_uint_eq(vs_gmem_bytes_free(gm), 0);
    uint64_t x;
    ck_assert_int_eq(vs_gmem_alloc(gm, 1, 1, &x, &e), -VS_ENOMEM);

    /* Free every other page: 2 pages are free nowhere contiguous -> fragmentation. */
    for (int i = 0; i < n; i += 2)
        ck_assert_int_eq(vs_gmem_free(gm, g[i], &e), 0);
    ck_assert_int_eq(vs_gmem_alloc(gm, 8192, 4096, &x, &e), -VS_ENOMEM);
    ck_assert_int_eq(vs_gmem_alloc(gm, 4096, 4096, &x, &e), 0);
    ck_assert_int_eq(vs_gmem_free(gm, x, &e), 0);
    for (int i = 1; i < n; i += 2)
        ck_assert_int_eq(vs_gmem_free(gm, g[i], &e), 0);
    ck_assert_int_eq(vs_gmem_alloc(gm, 63 * 4096, 1, &x, &e), 0);
    ck_assert_uint_eq(x, 4096);
    vs_gmem_destroy(gm);
}
END_TEST

START_TEST(alloc_regions)
{
    vs_gmem *gm = NULL;
    vs_err e = {0};
    ck_assert_int_eq(vs_gmem_create(&gm, 16 * 4096, "alloc", &e), 0);
    /* RAM, RO, hole, then two GPA-adjacent RAM regions; unaligned edges are trimmed. */
    ck_assert_int_eq(vs_gmem_add_region(gm, 0x0, 0x2000, 0, 0, &e), 0);
    ck_assert_int_eq(vs_gmem_add_region(gm, 0x10000, 0x4000, 0x2000, VS_GMEM_READONLY, &e), 0);
    ck_assert_int_eq(vs_gmem_add_region(gm, 0x20000, 0x4000, 0, VS_GMEM_HOLE, &e), 0);
    ck_assert_int_eq(vs_gmem_add_region(gm, 0x30000, 0x2000, 0x6000, 0, &e), 0);
    ck_assert_int_eq(vs_gmem_add_region(gm, 0x32000, 0x2800, 0x8000, 0, &e), 0);
    ck_assert_uint_eq(vs_gmem_bytes_free(gm), 0x1000 + 0x2000 + 0x2000);

    /* 0x3000 bytes would fit only by spanning the two adjacent regions: refused. */
    uint64_t x;
    ck_assert_int_eq(vs_gmem_alloc(gm, 0x3000, 1, &x, &e), -VS_ENOMEM);
    uint64_t got[5];
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(vs_gmem_alloc(gm, 0x1000, 1, &got[i], &e), 0);
        ck_assert_uint_ne(got[i], 0);
        ck_assert(vs_gmem_range_ok(gm, got[i], 0x1000, VS_GMEM_WRITE));
    }
    ck_assert_int_eq(vs_gmem_alloc(gm, 0x1000, 1, &x, &e), -VS_ENOMEM);
    ck_assert_uint_eq(got[0], 0x1000);
    ck_assert_uint_eq(got[1], 0x30000);
    ck_assert_uint_eq(got[2], 0x31000);
    ck_assert_uint_eq(got[3], 0x32000);
    ck_assert_uint_eq(got[4], 0x33000);
    vs_gmem_destroy(gm);
}
END_TEST

/* ------------------------------------------------------------------- hooks */

struct watch {
    int calls;
    vs_gmem_access last;
};

static int watch_hook(void *opaque, const vs_gmem_access *a, vs_err *e)
{
    (void)e;
    struct watch *w = opaque;
    w->calls++;
    w->last = *a;
    return 0;
}

static int fault_hook(void *opaque, const vs_gmem_access *a, vs_err *e)
{
    uint64_t bad = *(uint64_t *)opaque;
    if (a->gpa <= bad && bad - a->gpa < a->len)
        return vs_err_set(e, VS_EIO, "injected fault at 0x%llx", (unsigned long long)bad);
    return 0;
}

static int order_hook_a(void *opaque, const vs_gmem_access *a, vs_err *e)
{
    (void)a, (void)e;
    char *s = opaque;
    strcat(s, "a");
    return 0;
}

static int order_hook_b(void *opaque, const vs_gmem_access *a, vs_err *e)
{
    (void)a, (void)e;
    char *s = opaque;
    strcat(s, "b");
    return 0;
}

/* A hook that reads guest memory itself must not recurse. */
struct re_ctx {
    int n;
    vs_gmem *gm;
};

static int reentrant_hook(void *opaque, const vs_gmem_access *a, vs_err *e)
{
    (void)a;
    uint32_t v;
    struct re_ctx *c = opaque;
    c->n++;
    return vs_gmem_ld32(c->gm, 0x100, &v, e) < 0 ? -VS_EIO : 0;
}

START_TEST(hooks)
{
    vs_gmem *gm = flat(0x10000);
    vs_err e = {0};
    struct watch w = {0};
    int h = vs_gmem_hook_add(gm, watch_hook, &w, &e);
    ck_assert_int_ge(h, 0);

    uint32_t v;
    uint8_t buf[32] = {0};
    ck_assert_int_eq(vs_gmem_ld32(gm, 0x100, &v, &e), 0);
    ck_assert_int_eq(w.calls, 1);
    ck_assert_int_eq(w.last.kind, VS_GMEM_READ);
    ck_assert_uint_eq(w.last.gpa, 0x100);
    ck_assert_uint_eq(w.last.len, 4);
    ck_assert_int_eq(vs_gmem_st16(gm, 0x200, 1, &e), 0);
    ck_assert_int_eq(w.last.kind, VS_GMEM_WRITE);
    ck_assert_uint_eq(w.last.len, 2);
    ck_assert_int_eq(vs_gmem_read(gm, 0x300, buf, 16, &e), 0);
    ck_assert_int_eq(vs_gmem_write(gm, 0x300, buf, 16, &e), 0);
    ck_assert_int_eq(vs_gmem_fill(gm, 0x300, 0, 16, &e), 0);
    ck_assert_ptr_nonnull(vs_gmem_translate(gm, 0x300, 16, VS_GMEM_READ, &e));
    ck_assert_int_eq(w.calls, 6);
    /* range_ok runs no hooks */
    ck_assert(vs_gmem_range_ok(gm, 0x300, 16, VS_GMEM_READ));
    ck_assert_int_eq(w.calls, 6);

    /* fault injection */
    uint64_t bad = 0x1002;
    int f = vs_gmem_hook_add(gm, fault_hook, &bad, &e);
    ck_assert_int_ge(f, 0);
    ck_assert_int_ne(f, h);
    vs_err_clear(&e);
    ck_assert_int_eq(vs_gmem_ld32(gm, 0x1000, &v, &e), -VS_EIO);
    ck_assert_int_eq(e.code, VS_EIO);
    ck_assert_str_eq(e.msg, "injected fault at 0x1002");
    ck_assert_int_eq(vs_gmem_ld32(gm, 0x1000, &v, NULL), -VS_EIO);
    ck_assert_ptr_null(vs_gmem_translate(gm, 0x1000, 8, VS_GMEM_READ, &e));
    ck_assert_int_eq(vs_gmem_write(gm, 0xff0, buf, 32, &e), -VS_EIO);
    ck_assert_int_eq(vs_gmem_ld32(gm, 0x1004, &v, &e), 0);

    /* removal restores */
    vs_gmem_hook_remove(gm, f);
    vs_gmem_hook_remove(gm, f); /* unknown handle: ignored */
    ck_assert_int_eq(vs_gmem_ld32(gm, 0x1000, &v, &e), 0);
    int before = w.calls;
    vs_gmem_hook_remove(gm, h);
    ck_assert_int_eq(vs_gmem_ld32(gm, 0x1000, &v, &e), 0);
    ck_assert_int_eq(w.calls, before);

    /* order of installation; capacity */
    char order[64] = "";
    int ha = vs_gmem_hook_add(gm, order_hook_a, order, &e);
    int hb = vs_gmem_hook_add(gm, order_hook_b, order, &e);
    ck_assert_int_eq(vs_gmem_ld8(gm, 0, (uint8_t *)buf, &e), 0);
    ck_assert_str_eq(order, "ab");
    vs_gmem_hook_remove(gm, ha);
    vs_gmem_hook_remove(gm, hb);
    int hs[32], n = 0;
    while ((hs[n] = vs_gmem_hook_add(gm, watch_hook, &w, &e)) >= 0)
        ck_assert_int_lt(++n, 32);
    ck_assert_int_eq(hs[n], -VS_ENOSPC);
    ck_assert_int_eq(n, 16);
    for (int i = 0; i < n; i++)
        vs_gmem_hook_remove(gm, hs[i]);

    /* re-entrancy guard */
    struct re_ctx re = {0, gm};
    int hr = vs_gmem_hook_add(gm, reentrant_hook, &re, &e);
    ck_assert_int_eq(vs_gmem_ld32(gm, 0x200, &v, &e), 0);
    ck_assert_int_eq(re.n, 1);
    vs_gmem_hook_remove(gm, hr);
    vs_gmem_destroy(gm);
}
END_TEST

START_TEST(shared_mapping)
{
    vs_gmem *gm = flat(0x10000);
    vs_err e = {0};
    int fd = vs_gmem_fd(gm);
    uint8_t *other = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ck_assert_ptr_ne(other, MAP_FAILED);
    ck_assert_int_eq(vs_gmem_st32(gm, 0x4000, 0xcafef00du, &e), 0);
    const uint8_t le[] = {0x0d, 0xf0, 0xfe, 0xca};
    ck_assert_mem_eq(other + 0x4000, le, 4);
    /* and the other way round */
    other[0x5000] = 0x42;
    uint8_t v;
    ck_assert_int_eq(vs_gmem_ld8(gm, 0x5000, &v, &e), 0);
    ck_assert_uint_eq(v, 0x42);
    /* visible through the fd itself, as a back-end reading the file would see it */
    uint8_t r;
    ck_assert_int_eq(pread(fd, &r, 1, 0x4003), 1);
    ck_assert_uint_eq(r, 0xca);
    munmap(other, 0x10000);
    vs_gmem_destroy(gm);
}
END_TEST

/* reset: a gmem as new (zeroed, nothing allocated, no hooks), the next allocations land
 * where a fresh gmem's do, and other mappings of the memfd see the zeros. */
START_TEST(reset_is_fresh)
{
    vs_gmem *fresh = flat(4 * MiB), *gm = flat(4 * MiB);
    vs_err e = {0};
    uint64_t want[3], a[3], junk, free0 = vs_gmem_bytes_free(gm);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(vs_gmem_alloc(fresh, 8192 << i, 4096, &want[i], &e), 0);
    ck_assert_int_eq(vs_gmem_alloc(gm, 65536, 4096, &junk, &e), 0);
    ck_assert_int_eq(vs_gmem_alloc(gm, 4096, 4096, &junk, &e), 0);
    ck_assert_int_eq(vs_gmem_st32(gm, 0x300000, 0xabcdef01, &e), 0);
    struct watch w = {0};
    ck_assert_int_ge(vs_gmem_hook_add(gm, watch_hook, &w, &e), 0);
    uint8_t *other = mmap(NULL, 4 * MiB, PROT_READ, MAP_SHARED, vs_gmem_fd(gm), 0);
    ck_assert_ptr_ne(other, MAP_FAILED);
    ck_assert_uint_eq(other[0x300000], 0x01);

    ck_assert_int_eq(vs_gmem_reset(gm, &e), 0);
    ck_assert_uint_eq(vs_gmem_bytes_free(gm), free0);
    uint32_t v = 1;
    ck_assert_int_eq(vs_gmem_ld32(gm, 0x300000, &v, &e), 0);
    ck_assert_uint_eq(v, 0);
    ck_assert_uint_eq(other[0x300000], 0);
    ck_assert_int_eq(w.calls, 0);              /* the hook is gone */
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(vs_gmem_alloc(gm, 8192 << i, 4096, &a[i], &e), 0);
        ck_assert_uint_eq(a[i], want[i]);
    }
    munmap(other, 4 * MiB);
    vs_gmem_destroy(fresh);
    vs_gmem_destroy(gm);
    vs_gmem *ext = NULL;
    static uint8_t mem[4096];
    vs_gmem_ext_region r = {.gpa = 0, .size = sizeof mem, .host = mem};
    ck_assert_int_eq(vs_gmem_create_external(&ext, &r, 1, &e), 0);
    ck_assert_int_eq(vs_gmem_reset(ext, &e), -VS_EINVAL);   /* no memfd to zero */
    vs_gmem_destroy(ext);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("gmem");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, create_destroy);
    tcase_add_test(tc, region_add_errors);
    tcase_add_test(tc, alloc_large_zeroed);
    tcase_add_test(tc, translate_errors);
    tcase_add_test(tc, multi_region_bulk);
    tcase_add_test(tc, scalar_le);
    tcase_add_test(tc, alloc_basic);
    tcase_add_test(tc, alloc_exhaustion);
    tcase_add_test(tc, alloc_regions);
    tcase_add_test(tc, hooks);
    tcase_add_test(tc, shared_mapping);
    tcase_add_test(tc, reset_is_fresh);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
