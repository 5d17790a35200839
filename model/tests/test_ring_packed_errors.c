/* Unit tests for the packed virtqueue (model/ring_packed.c): layout and chain validation
 * errors, buffer ids, the device mutants. Round trips are in test_ring_packed.c. */
#include "ring_packed_fixture.h"

START_TEST(test_bad_layout)
{
    vs_gmem *gm;
    vs_err e = {0};
    ck_assert(vs_gmem_create_flat(&gm, 4 * MIB, &e) == 0);
    vs_vq_layout l;
    ck_assert(vs_vq_layout_alloc(gm, VS_RING_PACKED, 8, &l, &e) == 0);
    vs_vq_drv *d;
    vs_vq_layout bad = l;
    bad.desc_gpa += 8;
    ck_assert_int_eq(vs_packed_drv_create(&d, gm, &bad, NULL, &e), -VS_EINVAL);
    ck_assert_ptr_null(strstr(e.msg, "xyz"));
    ck_assert_ptr_nonnull(strstr(e.msg, "misaligned"));
    bad = l;
    bad.size = 0;
    ck_assert_int_eq(vs_packed_drv_create(&d, gm, &bad, NULL, &e), -VS_EINVAL);
    bad = l;
    bad.desc_gpa = 64 * MIB;
    vs_vq_dev *v;
    ck_assert_int_lt(vs_packed_dev_create(&v, gm, &bad, NULL, &e), 0);
    bad = l;
    bad.format = VS_RING_SPLIT;
    ck_assert_int_eq(vs_packed_dev_create(&v, gm, &bad, NULL, &e), -VS_EINVAL);
    vs_gmem_destroy(gm);
}
END_TEST

/* ------------------------------------------------------------------ validation */

static void inject(fx *f, const vs_desc *d, unsigned n)
{
    vs_err e = {0};
    int id = vs_packed_drv_add_raw(f->drv, d, n, NULL, &e);
    ck_assert_msg(id >= 0, "add_raw: %s", e.msg);
    vs_packed_drv_publish(f->drv);
}

static uint64_t table_at(fx *f, unsigned k)
{
    return f->buf + 512 * 1024 + 4096ull * k;
}

static void put_table(fx *f, unsigned k, const vs_desc *t, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint64_t g = table_at(f, k) + 16ull * i;
        vs_gmem_st64(f->gm, g, t[i].addr, NULL);
        vs_gmem_st32(f->gm, g + 8, t[i].len, NULL);
        vs_gmem_st16(f->gm, g + 12, t[i].next, NULL);
        vs_gmem_st16(f->gm, g + 14, t[i].flags, NULL);
    }
}

#define W VS_DESC_F_WRITE
#define N VS_DESC_F_NEXT
#define I VS_DESC_F_INDIRECT

START_TEST(test_err_zero_length)
{
    fx f;
    fx_init(&f, 8, 0, 0, 0);
    vs_desc d[2] = {{f.buf, 16, N, 0}, {f.buf + 64, 0, W, 0}};
    inject(&f, d, 2);
    expect_pop_error(&f, VS_EPROTO, "desc 1: zero-length buffer (packed: zero-length buffer)");
    fx_fini(&f);
}
END_TEST

START_TEST(test_err_chain_too_long)
{
    fx f;
    fx_init(&f, 4, 0, 0, 0);
    vs_desc d[4];
    for (int i = 0; i < 4; i++)
        d[i] = (vs_desc){f.buf, 16, N, 0};
    inject(&f, d, 4);
    expect_pop_error(&f, VS_EPROTO, "chain longer than queue size 4 (packed: chain too long)");
    fx_fini(&f);
}
END_TEST

START_TEST(test_err_chain_not_available)
{
    fx f;
    fx_init(&f, 8, 0, 0, 0);
    vs_desc d[1] = {{f.buf, 16, N, 0}};
    inject(&f, d, 1); /* NEXT into slot 1, which the driver never made available */
    expect_pop_error(&f, VS_EPROTO,
        "desc 1: chain continues into a descriptor not marked available");
    fx_fini(&f);
}
END_TEST

START_TEST(test_err_indirect_not_negotiated)
{
    fx f;
    fx_init(&f, 8, 0, 0, 0);
    vs_desc t[1] = {{f.buf, 16, 0, 0}};
    put_table(&f, 0, t, 1);
    vs_desc d[1] = {{table_at(&f, 0), 16, I, 0}};
    inject(&f, d, 1);
    expect_pop_error(&f, VS_EPROTO, "(packed: indirect not negotiated)");
    fx_fini(&f);
}
END_TEST

START_TEST(test_err_indirect_with_next)
{
    fx f;
    fx_init(&f, 8, 0, VS_VQ_F_INDIRECT, 0);
    vs_desc t[1] = {{f.buf, 16, 0, 0}};
    put_table(&f, 0, t, 1);
    vs_desc d[2] = {{table_at(&f, 0), 16, I | N, 0}, {f.buf, 16, 0, 0}};
    inject(&f, d, 2);
    expect_pop_error(&f, VS_EPROTO,
        "desc 0: INDIRECT together with NEXT (packed: indirect with next)");
    fx_fini(&f);
}
END_TEST

START_TEST(test_err_indirect_in_chain)
{
    fx f;
    fx_init(&f, 8, 0, VS_VQ_F_INDIRECT, 0);
    vs_desc t[1] = {{f.buf, 16, 0, 0}};
    put_table(&f, 0, t, 1);
    vs_desc d[2] = {{f.buf, 16, N, 0}, {table_at(&f, 0), 16, I, 0}};
    inject(&f, d, 2);
    expect_pop_error(&f, VS_EPROTO,
        "desc 1: INDIRECT descriptor inside a NEXT chain (packed: indirect in chain)");
    fx_fini(&f);
}
END_TEST

START_TEST(test_err_indirect_len)
{
    static const uint32_t lens[] = {0, 24, 17};
    for (unsigned k = 0; k < 3; k++) {
        fx f;
        fx_init(&f, 8, 0, VS_VQ_F_INDIRECT, 0);
        vs_desc t[2] = {{f.buf, 16, 0, 0}, {f.buf, 16, 0, 0}};
        put_table(&f, 0, t, 2);
        vs_desc d[1] = {{table_at(&f, 0), lens[k], I, 0}};
        inject(&f, d, 1);
        expect_pop_error(&f, VS_EPROTO, "(packed: indirect table length)");
        fx_fini(&f);
    }
}
END_TEST

START_TEST(test_err_indirect_too_long)
{
    fx f;
    fx_init(&f, 4, 0, VS_VQ_F_INDIRECT, 0);
    vs_desc t[5];
    for (int i = 0; i < 5; i++)
        t[i] = (vs_desc){f.buf, 16, 0, 0};
    put_table(&f, 0, t, 5);
    vs_desc d[1] = {{table_at(&f, 0), 80, I, 0}};
    inject(&f, d, 1);
    expect_pop_error(&f, VS_EPROTO,
        "indirect table of 5 entries > queue size 4 (packed: indirect table too long)");
    fx_fini(&f);
}
END_TEST

START_TEST(test_err_indirect_outside)
{
    fx f;
    fx_init(&f, 8, 0, VS_VQ_F_INDIRECT, 0);
    vs_desc d[1] = {{32 * MIB - 16, 32, I, 0}};
    inject(&f, d, 1);
    expect_pop_error(&f, VS_EPROTO, "(packed: indirect table address)");
    fx_fini(&f);
}
END_TEST

START_TEST(test_err_nested_indirect)
{
    fx f;
    fx_init(&f, 8, 0, VS_VQ_F_INDIRECT, 0);
    vs_desc t2[1] = {{f.buf, 16, 0, 0}};
    put_table(&f, 1, t2, 1);
    vs_desc t[2] = {{f.buf, 16, 0, 0}, {table_at(&f, 1), 16, I, 0}};
    put_table(&f, 0, t, 2);
    vs_desc d[1] = {{table_at(&f, 0), 32, I, 0}};
    inject(&f, d, 1);
    expect_pop_error(&f, VS_EPROTO,
        "indirect entry 1: INDIRECT inside an indirect table (packed: nested indirect)");
    fx_fini(&f);
}
END_TEST

/* A driver may put an indirect table at any address: the device reads it as bytes (a
 * struct load from an odd address is undefined behaviour and traps under UBSan). */
START_TEST(test_indirect_table_misaligned)
{
    fx f;
    fx_init(&f, 8, 0, VS_VQ_F_INDIRECT, 0);
    vs_desc t[2] = {{f.buf, 16, 0, 0}, {f.buf + 64, 32, W, 0}};
    uint64_t odd = table_at(&f, 0) + 3;
    for (unsigned i = 0; i < 2; i++) {
        vs_gmem_st64(f.gm, odd + 16ull * i, t[i].addr, NULL);
        vs_gmem_st32(f.gm, odd + 16ull * i + 8, t[i].len, NULL);
        vs_gmem_st16(f.gm, odd + 16ull * i + 12, 0, NULL);
        vs_gmem_st16(f.gm, odd + 16ull * i + 14, t[i].flags, NULL);
    }
    vs_desc d[1] = {{odd, 32, I, 0}};
    inject(&f, d, 1);
    chain_buf cb;
    must_pop(&f, &cb);
    ck_assert(cb.c.indirect);
    ck_assert_uint_eq(cb.c.nseg, 2);
    ck_assert_uint_eq(cb.c.seg[1].gpa, f.buf + 64);
    ck_assert_uint_eq(cb.c.seg[1].len, 32);
    ck_assert(cb.c.seg[1].write);
    fx_fini(&f);
}
END_TEST

START_TEST(test_err_read_after_write)
{
    fx f;
    fx_init(&f, 8, 0, 0, 0);
    vs_desc d[3] = {{f.buf, 16, N, 0}, {f.buf, 16, W | N, 0}, {f.buf, 16, 0, 0}};
    inject(&f, d, 3);
    expect_pop_error(&f, VS_EPROTO,
        "desc 2: device-readable descriptor after a device-writable one (packed: readable after writable)");
    fx_fini(&f);
}
END_TEST

START_TEST(test_err_read_after_write_indirect)
{
    fx f;
    fx_init(&f, 8, 0, VS_VQ_F_INDIRECT, 0);
    vs_desc t[2] = {{f.buf, 16, W, 0}, {f.buf, 16, 0, 0}};
    put_table(&f, 0, t, 2);
    vs_desc d[1] = {{table_at(&f, 0), 32, I, 0}};
    inject(&f, d, 1);
    expect_pop_error(&f, VS_EPROTO,
        "desc 0: indirect entry 1: device-readable descriptor after a device-writable one");
    fx_fini(&f);
}
END_TEST

START_TEST(test_err_zero_length_indirect)
{
    fx f;
    fx_init(&f, 8, 0, VS_VQ_F_INDIRECT, 0);
    vs_desc t[2] = {{f.buf, 16, 0, 0}, {f.buf, 0, W, 0}};
    put_table(&f, 0, t, 2);
    vs_desc d[1] = {{table_at(&f, 0), 32, I, 0}};
    inject(&f, d, 1);
    expect_pop_error(&f, VS_EPROTO,
        "indirect entry 1: zero-length buffer (packed: zero-length buffer)");
    fx_fini(&f);
}
END_TEST

START_TEST(test_err_buffer_outside)
{
    fx f;
    fx_init(&f, 8, 0, 0, 0);
    vs_desc d[1] = {{32 * MIB - 8, 16, 0, 0}};
    inject(&f, d, 1);
    expect_pop_error(&f, VS_EPROTO, "(packed: buffer address)");
    fx_fini(&f);
}
END_TEST

/* gmem: [0,4M) RAM, [4M,6M) read-only, [6M,8M) RAM, [8M,9M) hole */
static vs_gmem *regions_gm(void)
{
    vs_gmem *gm;
    vs_err e = {0};
    ck_assert_msg(vs_gmem_create(&gm, 8 * MIB, "t", &e) == 0, "%s", e.msg);
    ck_assert_msg(vs_gmem_add_region(gm, 0, 4 * MIB, 0, 0, &e) == 0, "%s", e.msg);
    ck_assert_msg(vs_gmem_add_region(gm, 4 * MIB, 2 * MIB, 4 * MIB, VS_GMEM_READONLY, &e) == 0,
                  "%s", e.msg);
    ck_assert_msg(vs_gmem_add_region(gm, 6 * MIB, 2 * MIB, 6 * MIB, 0, &e) == 0, "%s", e.msg);
    ck_assert_msg(vs_gmem_add_region(gm, 8 * MIB, MIB, 0, VS_GMEM_HOLE, &e) == 0, "%s", e.msg);
    return gm;
}

START_TEST(test_err_write_readonly)
{
    fx f;
    fx_init_gm(&f, regions_gm(), 8, 0, 0, 0, 0);
    vs_desc d[2] = {{4 * MIB, 16, N, 0}, {4 * MIB + 64, 16, W, 0}};
    inject(&f, d, 2);
    expect_pop_error(&f, VS_EPROTO,
        "desc 1: writable buffer [0x400040, +16) not in writable guest memory (packed: buffer address)");
    fx_fini(&f);
}
END_TEST

START_TEST(test_err_buffer_in_hole)
{
    fx f;
    fx_init_gm(&f, regions_gm(), 8, 0, 0, 0, 0);
    vs_desc d[1] = {{8 * MIB - 8, 16, 0, 0}}; /* RAM then hole */
    inject(&f, d, 1);
    expect_pop_error(&f, VS_EPROTO, "(packed: buffer address)");
    fx_fini(&f);
}
END_TEST

START_TEST(test_buffer_spanning_regions)
{
    fx f;
    fx_init_gm(&f, regions_gm(), 8, 0, 0, 0, 0);
    vs_err e = {0};
    /* readable across RAM|RO|RAM boundaries is fine, host pointer NULL */
    vs_desc d[2] = {{4 * MIB - 8, 2 * MIB + 16, N, 0}, {f.buf, 16, W, 0}};
    inject(&f, d, 2);
    chain_buf cb;
    must_pop(&f, &cb);
    ck_assert_ptr_null(cb.seg[0].host);
    ck_assert_ptr_nonnull(cb.seg[1].host);
    ck_assert_int_eq(vs_packed_dev_push(f.dev, &cb.c, 16, &e), 0);
    fx_fini(&f);
}
END_TEST

START_TEST(test_err_seg_capacity)
{
    fx f;
    fx_init(&f, 8, 0, 0, 0);
    vs_desc d[3] = {{f.buf, 16, N, 0}, {f.buf, 16, N, 0}, {f.buf, 16, 0, 0}};
    inject(&f, d, 3);
    vs_err e = {0};
    vs_dseg seg[2];
    vs_chain c = {.seg = seg, .seg_cap = 2};
    ck_assert_int_eq(vs_packed_dev_pop(f.dev, &c, &e), -VS_ERANGE);
    ck_assert_ptr_nonnull(strstr(e.msg,
        "queue 3: desc 2: chain has more than 2 segments (device: segment capacity)"));
    ck_assert(vs_packed_dev_broken(f.dev));
    fx_fini(&f);
}
END_TEST

START_TEST(test_id_from_last_desc)
{
    fx f;
    fx_init(&f, 8, 0, 0, 0);
    vs_err e = {0};
    vs_desc d[3] = {{f.buf, 16, N, 5}, {f.buf, 16, N, 6}, {f.buf, 16, W, 2}};
    int id = vs_packed_drv_add_raw(f.drv, d, 3, (void *)7, &e);
    ck_assert_int_eq(id, 2); /* tracked under the id the ring carries */
    vs_packed_drv_publish(f.drv);
    /* AVAIL/USED bits in add_raw come from the wrap counter, not from descs */
    vs_desc d2[1] = {{f.buf, 16, VS_DESC_F_USED, 2}}; /* id 2 busy -> another id */
    int id2 = vs_packed_drv_add_raw(f.drv, d2, 1, NULL, &e);
    ck_assert_int_ge(id2, 0);
    ck_assert_int_ne(id2, 2);
    vs_packed_drv_publish(f.drv);
    ck_assert_uint_eq(slot_flags(&f, 3), VS_DESC_F_AVAIL);
    chain_buf cb;
    must_pop(&f, &cb);
    ck_assert_uint_eq(cb.c.id, 2);
    ck_assert_uint_eq(cb.c.ndesc, 3);
    ck_assert_int_eq(vs_packed_dev_push(f.dev, &cb.c, 3, &e), 0);
    vs_packed_dev_publish(f.dev);
    vs_used u;
    ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), 1);
    ck_assert_ptr_eq(u.cookie, (void *)7);
    ck_assert_uint_eq(u.len, 3);
    fx_fini(&f);
}
END_TEST

/* ------------------------------------------------------------------ collect checks */

START_TEST(test_collect_bogus_id)
{
    fx f;
    fx_init(&f, 8, 0, 0, 0);
    vs_err e = {0};
    vs_seg s = {f.buf, 16};
    int id = vs_packed_drv_add(f.drv, &s, 1, 0, 0, NULL, &e);
    ck_assert_int_eq(id, 0);
    vs_packed_drv_publish(f.drv);
    /* Forge a used descriptor with id 9 >= size 8 at slot 0. */
    f.ring[0].id = htole16(9);
    f.ring[0].flags = htole16(VS_DESC_F_AVAIL | VS_DESC_F_USED);
    vs_used u;
    for (int k = 0; k < 2; k++) { /* state unchanged: same error twice */
        vs_err_clear(&e);
        ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), -VS_EPROTO);
        ck_assert_ptr_nonnull(strstr(e.msg,
            "queue 3: desc 0: used buffer id 9 >= queue size 8 (packed: used id out of range)"));
        ck_assert_uint_eq(u.id, 9); /* the caller's evidence names what the device wrote */
        ck_assert_ptr_null(u.cookie);
        ck_assert_uint_eq(vs_packed_drv_outstanding(f.drv), 1);
        ck_assert_uint_eq(vs_packed_drv_num_free(f.drv), 7);
        ck_assert_uint_eq(vs_packed_drv_used_idx(f.drv), 0x8000);
    }
    f.ring[0].id = htole16(4); /* in range but never made available */
    ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), -VS_EPROTO);
    ck_assert_ptr_nonnull(strstr(e.msg,
        "used buffer id 4 is not outstanding (packed: used id not available)"));
    f.ring[0].id = htole16(0);
    ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), 1);
    ck_assert_uint_eq(u.id, 0);
    fx_fini(&f);
}
END_TEST

START_TEST(test_mut_bad_id)
{
    fx f;
    fx_init(&f, 8, 0, 0, VS_VQ_MUT_USED_BAD_ID);
    vs_err e = {0};
    vs_seg s = {f.buf, 16};
    ck_assert_int_eq(vs_packed_drv_add(f.drv, &s, 1, 0, 0, NULL, &e), 0);
    vs_packed_drv_publish(f.drv);
    chain_buf cb;
    must_pop(&f, &cb);
    ck_assert_int_eq(vs_packed_dev_push(f.dev, &cb.c, 0, &e), 0);
    vs_packed_dev_publish(f.dev);
    vs_used u;
    ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), -VS_EPROTO);
    ck_assert_ptr_nonnull(strstr(e.msg, "used buffer id 1 is not outstanding"));
    fx_fini(&f);
}
END_TEST

START_TEST(test_mut_len_double_skip_irq)
{
    vs_err e = {0};
    vs_seg s[2] = {{0, 16}, {0, 100}};
    vs_used u;
    chain_buf cb;
    {   /* used.len = writable bytes + 1 */
        fx f;
        fx_init(&f, 8, 0, 0, VS_VQ_MUT_USED_LEN_TOO_LONG);
        s[0].gpa = f.buf;
        s[1].gpa = f.buf + 4096;
        ck_assert_int_ge(vs_packed_drv_add(f.drv, s, 1, 1, 0, NULL, &e), 0);
        vs_packed_drv_publish(f.drv);
        must_pop(&f, &cb);
        ck_assert_int_eq(vs_packed_dev_push(f.dev, &cb.c, 10, &e), 0);
        vs_packed_dev_publish(f.dev);
        ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), 1);
        ck_assert_uint_eq(u.len, 101);
        fx_fini(&f);
    }
    {   /* every used element twice: the second one names a collected id */
        fx f;
        fx_init(&f, 8, 0, 0, VS_VQ_MUT_DOUBLE_COMPLETE);
        s[0].gpa = f.buf;
        ck_assert_int_ge(vs_packed_drv_add(f.drv, s, 1, 0, 0, NULL, &e), 0);
        ck_assert_int_ge(vs_packed_drv_add(f.drv, s, 1, 0, 0, NULL, &e), 0);
        vs_packed_drv_publish(f.drv);
        must_pop(&f, &cb);
        ck_assert_int_eq(vs_packed_dev_push(f.dev, &cb.c, 0, &e), 0);
        vs_packed_dev_publish(f.dev);
        ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), 1);
        ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), -VS_EPROTO);
        ck_assert_ptr_nonnull(strstr(e.msg, "not outstanding"));
        fx_fini(&f);
    }
    {   /* skip: the second used element lands one slot late, the driver misses it */
        fx f;
        fx_init(&f, 8, 0, 0, VS_VQ_MUT_SKIP_USED_IDX);
        s[0].gpa = f.buf;
        for (int i = 0; i < 3; i++)
            ck_assert_int_ge(vs_packed_drv_add(f.drv, s, 1, 0, 0, NULL, &e), 0);
        vs_packed_drv_publish(f.drv);
        for (int i = 0; i < 2; i++) {
            must_pop(&f, &cb);
            ck_assert_int_eq(vs_packed_dev_push(f.dev, &cb.c, 0, &e), 0);
        }
        vs_packed_dev_publish(f.dev);
        ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), 1);
        ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), 0);
        ck_assert_uint_eq(slot_flags(&f, 2), VS_DESC_F_AVAIL | VS_DESC_F_USED);
        fx_fini(&f);
    }
    {   /* irq although the driver disabled interrupts */
        fx f;
        fx_init(&f, 8, 0, 0, VS_VQ_MUT_IRQ_WHEN_SUPPRESSED);
        s[0].gpa = f.buf;
        vs_packed_drv_irq_disable(f.drv);
        ck_assert_int_ge(vs_packed_drv_add(f.drv, s, 1, 0, 0, NULL, &e), 0);
        vs_packed_drv_publish(f.drv);
        must_pop(&f, &cb);
        ck_assert_int_eq(vs_packed_dev_push(f.dev, &cb.c, 0, &e), 0);
        vs_packed_dev_publish(f.dev);
        ck_assert(vs_packed_dev_irq_needed(f.dev));
        fx_fini(&f);
    }
}
END_TEST

START_TEST(test_push_without_pop)
{
    fx f;
    fx_init(&f, 8, 0, 0, 0);
    vs_err e = {0};
    vs_dseg seg[1];
    vs_chain c = {.id = 0, .ndesc = 1, .seg = seg, .seg_cap = 1};
    ck_assert_int_eq(vs_packed_dev_push(f.dev, &c, 0, &e), -VS_ESTATE);
    fx_fini(&f);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ring_packed_errors");
    TCase *t = tcase_create("core");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_bad_layout);
    tcase_add_test(t, test_err_zero_length);
    tcase_add_test(t, test_err_chain_too_long);
    tcase_add_test(t, test_err_chain_not_available);
    tcase_add_test(t, test_err_indirect_not_negotiated);
    tcase_add_test(t, test_err_indirect_with_next);
    tcase_add_test(t, test_err_indirect_in_chain);
    tcase_add_test(t, test_err_indirect_len);
    tcase_add_test(t, test_err_indirect_too_long);
    tcase_add_test(t, test_err_indirect_outside);
    tcase_add_test(t, test_err_nested_indirect);
    tcase_add_test(t, test_indirect_table_misaligned);
    tcase_add_test(t, test_err_read_after_write);
    tcase_add_test(t, test_err_read_after_write_indirect);
    tcase_add_test(t, test_err_zero_length_indirect);
    tcase_add_test(t, test_err_buffer_outside);
    tcase_add_test(t, test_err_write_readonly);
    tcase_add_test(t, test_err_buffer_in_hole);
    tcase_add_test(t, test_buffer_spanning_regions);
    tcase_add_test(t, test_err_seg_capacity);
    tcase_add_test(t, test_id_from_last_desc);
    tcase_add_test(t, test_collect_bogus_id);
    tcase_add_test(t, test_mut_bad_id);
    tcase_add_test(t, test_mut_len_double_skip_irq);
    tcase_add_test(t, test_push_without_pop);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
