/* Unit tests for the packed virtqueue (model/ring_packed.c), driver and device side: round
 * trips, wrap, random out-of-order use, sizes, batching, events, the public API. The
 * validation errors are in test_ring_packed_errors.c. */
#include "ring_packed_fixture.h"

/* ------------------------------------------------------------------ round trips */

START_TEST(test_roundtrip_direct)
{
    fx f;
    fx_init(&f, 16, 0, 0, 0);
    vs_err e = {0};
    vs_seg segs[3] = {{f.buf, 100}, {f.buf + 4096, 50}, {f.buf + 8192, 512}};
    int cookie;
    int id = vs_packed_drv_add(f.drv, segs, 2, 1, 0, &cookie, &e);
    ck_assert_msg(id >= 0, "%s", e.msg);
    ck_assert_uint_eq(vs_packed_drv_num_free(f.drv), 13);
    ck_assert_uint_eq(vs_packed_drv_outstanding(f.drv), 1);
    vs_packed_drv_publish(f.drv);
    ck_assert(vs_packed_drv_kick_needed(f.drv));
    ck_assert(!vs_packed_drv_kick_needed(f.drv)); /* window consumed */

    chain_buf cb;
    must_pop(&f, &cb);
    ck_assert_uint_eq(cb.c.id, (unsigned)id);
    ck_assert_uint_eq(cb.c.ndesc, 3);
    ck_assert_uint_eq(cb.c.head, 0);
    ck_assert(!cb.c.indirect);
    ck_assert_uint_eq(cb.c.nseg, 3);
    ck_assert_uint_eq(cb.c.n_out, 2);
    ck_assert_uint_eq(cb.c.out_bytes, 150);
    ck_assert_uint_eq(cb.c.in_bytes, 512);
    for (int i = 0; i < 3; i++) {
        ck_assert_uint_eq(cb.seg[i].gpa, segs[i].gpa);
        ck_assert_uint_eq(cb.seg[i].len, segs[i].len);
        ck_assert(cb.seg[i].write == (i == 2));
        ck_assert_ptr_eq(cb.seg[i].host, (uint8_t *)vs_gmem_host_base(f.gm) + segs[i].gpa);
    }
    chain_init(&cb);
    ck_assert_int_eq(vs_packed_dev_pop(f.dev, &cb.c, &e), 0);
    ck_assert_uint_eq(vs_packed_dev_get_base(f.dev), 0x8000u | 3);
    fx_fini(&f);
}
END_TEST

START_TEST(test_roundtrip_direct_complete)
{
    fx f;
    fx_init(&f, 16, 0, 0, 0);
    vs_err e = {0};
    vs_seg segs[2] = {{f.buf, 64}, {f.buf + 4096, 256}};
    int cookie;
    int id = vs_packed_drv_add(f.drv, segs, 1, 1, 0, &cookie, &e);
    ck_assert_int_ge(id, 0);
    vs_packed_drv_publish(f.drv);
    chain_buf cb;
    must_pop(&f, &cb);
    ck_assert_int_eq(vs_packed_dev_push(f.dev, &cb.c, 257, &e), -VS_EINVAL);
    ck_assert_int_eq(vs_packed_dev_push(f.dev, &cb.c, 200, &e), 0);
    vs_used u;
    ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), 0); /* not yet published */
    vs_packed_dev_publish(f.dev);
    ck_assert(vs_packed_dev_irq_needed(f.dev));
    ck_assert(!vs_packed_dev_irq_needed(f.dev));
    ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), 1);
    ck_assert_uint_eq(u.id, (unsigned)id);
    ck_assert_uint_eq(u.len, 200);
    ck_assert_ptr_eq(u.cookie, &cookie);
    ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), 0);
    ck_assert_uint_eq(vs_packed_drv_num_free(f.drv), 16);
    ck_assert_uint_eq(vs_packed_drv_outstanding(f.drv), 0);
    /* used descriptor in memory: AVAIL=USED=1, WRITE since len > 0 */
    ck_assert_uint_eq(slot_flags(&f, 0), VS_DESC_F_AVAIL | VS_DESC_F_USED | VS_DESC_F_WRITE);
    ck_assert_uint_eq(vs_packed_drv_used_idx(f.drv), 0x8000u | 2);
    /* A zero-length completion has no WRITE flag and reports len 0. */
    id = vs_packed_drv_add(f.drv, segs, 1, 0, 0, NULL, &e);
    vs_packed_drv_publish(f.drv);
    must_pop(&f, &cb);
    ck_assert_int_eq(vs_packed_dev_push(f.dev, &cb.c, 0, &e), 0);
    vs_packed_dev_publish(f.dev);
    ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), 1);
    ck_assert_uint_eq(u.len, 0);
    ck_assert_uint_eq(slot_flags(&f, 2), VS_DESC_F_AVAIL | VS_DESC_F_USED);
    fx_fini(&f);
}
END_TEST

START_TEST(test_roundtrip_indirect)
{
    fx f;
    vs_gmem *gm;
    vs_err e = {0};
    ck_assert(vs_gmem_create_flat(&gm, 32 * MIB, &e) == 0);
    fx_init_gm(&f, gm, 8, VS_VQ_F_INDIRECT, VS_VQ_F_INDIRECT, 0, 4);
    vs_seg segs[5];
    for (int i = 0; i < 5; i++)
        segs[i] = (vs_seg){f.buf + 4096u * i, 100u + i};
    ck_assert_int_eq(vs_packed_drv_add(f.drv, segs, 3, 2, VS_ADD_INDIRECT, NULL, &e),
                     -VS_EINVAL); /* > indirect_max 4 */
    int cookie;
    int id = vs_packed_drv_add(f.drv, segs, 2, 2, VS_ADD_INDIRECT, &cookie, &e);
    ck_assert_msg(id >= 0, "%s", e.msg);
    ck_assert_uint_eq(vs_packed_drv_num_free(f.drv), 7);
    ck_assert_uint_eq(slot_flags(&f, 0), 0); /* head not yet published */
    vs_packed_drv_publish(f.drv);
    ck_assert_uint_eq(slot_flags(&f, 0), VS_DESC_F_INDIRECT | VS_DESC_F_AVAIL);
    ck_assert_uint_eq(le32toh(f.ring[0].len), 64);
    chain_buf cb;
    must_pop(&f, &cb);
    ck_assert(cb.c.indirect);
    ck_assert_uint_eq(cb.c.ndesc, 1);
    ck_assert_uint_eq(cb.c.id, (unsigned)id);
    ck_assert_uint_eq(cb.c.nseg, 4);
    ck_assert_uint_eq(cb.c.n_out, 2);
    ck_assert_uint_eq(cb.c.out_bytes, 201);
    ck_assert_uint_eq(cb.c.in_bytes, 205);
    for (int i = 0; i < 4; i++) {
        ck_assert_uint_eq(cb.seg[i].gpa, segs[i].gpa);
        ck_assert_uint_eq(cb.seg[i].len, segs[i].len);
        ck_assert(cb.seg[i].write == (i >= 2));
    }
    ck_assert_int_eq(vs_packed_dev_push(f.dev, &cb.c, 7, &e), 0);
    vs_packed_dev_publish(f.dev);
    vs_used u;
    ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), 1);
    ck_assert_ptr_eq(u.cookie, &cookie);
    ck_assert_uint_eq(u.len, 7);
    ck_assert_uint_eq(vs_packed_drv_num_free(f.drv), 8);
    /* Many indirect chains in flight at once: each id has its own table. */
    for (int r = 0; r < 40; r++) {
        int ids[8];
        for (int i = 0; i < 8; i++) {
            ids[i] = vs_packed_drv_add(f.drv, &segs[i % 2], 1, 1 + (i % 3 == 0),
                                       VS_ADD_INDIRECT, (void *)(uintptr_t)(i + 1), &e);
            ck_assert_msg(ids[i] >= 0, "%s", e.msg);
        }
        ck_assert_int_eq(vs_packed_drv_add(f.drv, segs, 1, 0, VS_ADD_INDIRECT, NULL, &e),
                         -VS_ENOSPC);
        vs_packed_drv_publish(f.drv);
        chain_buf cbs[8];
        for (int i = 0; i < 8; i++) {
            must_pop(&f, &cbs[i]);
            ck_assert_uint_eq(cbs[i].c.nseg, 2u + (i % 3 == 0));
            ck_assert_uint_eq(cbs[i].seg[0].gpa, segs[i % 2].gpa);
        }
        for (int i = 7; i >= 0; i--)
            ck_assert_int_eq(vs_packed_dev_push(f.dev, &cbs[i].c, 0, &e), 0);
        vs_packed_dev_publish(f.dev);
        for (int i = 7; i >= 0; i--) {
            ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), 1);
            ck_assert_uint_eq(u.id, (unsigned)ids[i]);
            ck_assert_ptr_eq(u.cookie, (void *)(uintptr_t)(i + 1));
        }
    }
    fx_fini(&f);
}
END_TEST

START_TEST(test_indirect_not_negotiated_driver)
{
    fx f;
    fx_init(&f, 8, 0, 0, 0);
    vs_err e = {0};
    vs_seg s = {f.buf, 10};
    ck_assert_int_eq(vs_packed_drv_add(f.drv, &s, 1, 0, VS_ADD_INDIRECT, NULL, &e),
                     -VS_ENOTSUP);
    ck_assert_int_eq(vs_packed_drv_add(f.drv, &s, 0, 0, 0, NULL, &e), -VS_EINVAL);
    vs_seg z = {f.buf, 0};
    ck_assert_int_eq(vs_packed_drv_add(f.drv, &z, 1, 0, 0, NULL, &e), -VS_EINVAL);
    vs_seg many[9];
    for (int i = 0; i < 9; i++)
        many[i] = s;
    ck_assert_int_eq(vs_packed_drv_add(f.drv, many, 9, 0, 0, NULL, &e), -VS_EINVAL);
    for (int i = 0; i < 2; i++)
        ck_assert_int_ge(vs_packed_drv_add(f.drv, many, 3, 0, 0, NULL, &e), 0);
    ck_assert_int_eq(vs_packed_drv_add(f.drv, many, 3, 0, 0, NULL, &e), -VS_ENOSPC);
    ck_assert_int_ge(vs_packed_drv_add(f.drv, many, 2, 0, 0, NULL, &e), 0);
    ck_assert_uint_eq(vs_packed_drv_num_free(f.drv), 0);
    fx_fini(&f);
}
END_TEST

/* ------------------------------------------------------------------ wrap counters */

static void wrap_run(uint32_t size)
{
    fx f;
    fx_init(&f, size, 0, 0, 0);
    vs_err e = {0};
    uint64_t avail_lin = 0, used_lin = 0; /* linear slot positions */
    unsigned ops = 3 * size + 7, flips_seen = 0;
    bool last_wrap = true;
    for (unsigned op = 0; op < ops; op++) {
        unsigned n = 1 + op % 3;
        if (n > size)
            n = size;
        vs_seg segs[3] = {{f.buf, 8}, {f.buf + 64, 8}, {f.buf + 128, 8}};
        unsigned head = (unsigned)(avail_lin % size);
        bool wrap = (avail_lin / size) % 2 == 0;
        int id = vs_packed_drv_add(f.drv, segs, n - 1, 1, 0, (void *)(uintptr_t)op, &e);
        ck_assert_msg(id >= 0, "%s", e.msg);
        vs_packed_drv_publish(f.drv);
        /* Every descriptor of the chain carries the wrap bits of its own lap. */
        for (unsigned i = 0; i < n; i++) {
            uint64_t lin = avail_lin + i;
            bool w = (lin / size) % 2 == 0;
            uint16_t fl = slot_flags(&f, (unsigned)(lin % size));
            ck_assert_uint_eq(!!(fl & VS_DESC_F_AVAIL), w);
            ck_assert_uint_eq(!!(fl & VS_DESC_F_USED), !w);
        }
        avail_lin += n;
        uint16_t ai = vs_packed_drv_avail_idx(f.drv);
        ck_assert_uint_eq(ai & 0x7fff, avail_lin % size);
        ck_assert_uint_eq(ai >> 15, (avail_lin / size) % 2 == 0);
        chain_buf cb;
        must_pop(&f, &cb);
        ck_assert_uint_eq(cb.c.head, head);
        ck_assert_uint_eq(cb.c.ndesc, n);
        ck_assert_uint_eq(vs_packed_dev_get_base(f.dev), ai);
        ck_assert_int_eq(vs_packed_dev_push(f.dev, &cb.c, 4, &e), 0);
        vs_packed_dev_publish(f.dev);
        uint16_t fl = slot_flags(&f, head);
        ck_assert_uint_eq(!!(fl & VS_DESC_F_AVAIL), wrap);
        ck_assert_uint_eq(!!(fl & VS_DESC_F_USED), wrap);
        vs_used u;
        ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), 1);
        ck_assert_uint_eq(u.id, (unsigned)id);
        ck_assert_ptr_eq(u.cookie, (void *)(uintptr_t)op);
        used_lin += n;
        uint16_t ui = vs_packed_drv_used_idx(f.drv);
        ck_assert_uint_eq(ui & 0x7fff, used_lin % size);
        bool uw = ui >> 15;
        ck_assert_uint_eq(uw, (used_lin / size) % 2 == 0);
        if (uw != last_wrap)
            flips_seen++;
        last_wrap = uw;
    }
    ck_assert_uint_ge(flips_seen, 3);
    ck_assert_uint_eq(vs_packed_drv_num_free(f.drv), size);
    fx_fini(&f);
}

START_TEST(test_wrap_size4) { wrap_run(4); }
END_TEST
START_TEST(test_wrap_size256) { wrap_run(256); }
END_TEST


/* ------------------------------------------------------------------ random, out of order */

static uint64_t rng_state;
static uint32_t rnd(void) /* xorshift64, fixed seeds: deterministic */
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    rng_state = x;
    return (uint32_t)(x >> 16);
}

typedef struct expect {
    bool live;
    unsigned nseg, n_out;
    vs_seg seg[SEGS];
    void *cookie;
    uint32_t written;   /* +1; 0 = not completed */
} expect;

/* Driver adds random chains (direct and, when negotiated, indirect); the device pops them
 * (ring order, checked against a FIFO of added ids and against the added segments) and
 * completes popped chains in random order; the driver checks cookie and length. */
static void random_run(uint32_t size, uint32_t feats, unsigned ops, uint64_t seed)
{
    fx f;
    vs_gmem *gm;
    vs_err e = {0};
    ck_assert(vs_gmem_create_flat(&gm, 64 * MIB, &e) == 0);
    fx_init_gm(&f, gm, size, feats, feats, 0, 8);
    rng_state = seed;
    expect *ex = calloc(size, sizeof *ex);       /* by buffer id */
    int *fifo = calloc(size, sizeof *fifo);
    unsigned fh = 0, fn = 0;
    chain_buf *pool = calloc(size, sizeof *pool);
    unsigned npool = 0, adds = 0, completes = 0, indirects = 0, ooo = 0, multi = 0;
    unsigned maxn = size < 6 ? size : 6;
    for (unsigned op = 0; op < ops; op++) {
        unsigned what = rnd() % 8;
        if (what < 3) {
            expect x = {0};
            unsigned n = 1 + rnd() % maxn;
            x.nseg = n;
            x.n_out = rnd() % (n + 1);
            for (unsigned i = 0; i < n; i++) {
                x.seg[i].gpa = f.buf + (rnd() % 1000) * 512;
                x.seg[i].len = 1 + rnd() % 512;
            }
            x.cookie = (void *)(uintptr_t)(op + 1);
            unsigned fl = ((feats & VS_VQ_F_INDIRECT) && rnd() % 3 == 0) ? VS_ADD_INDIRECT : 0;
            unsigned before = vs_packed_drv_num_free(f.drv);
            int id = vs_packed_drv_add(f.drv, x.seg, x.n_out, n - x.n_out, fl, x.cookie, &e);
            unsigned need = fl ? 1 : n;
            if (need > before) {
                ck_assert_int_eq(id, -VS_ENOSPC);
                continue;
            }
            ck_assert_msg(id >= 0, "add: %s", e.msg);
            ck_assert_uint_lt((unsigned)id, size);
            ck_assert(!ex[id].live);
            ck_assert_uint_eq(vs_packed_drv_num_free(f.drv), before - need);
            x.live = true;
            ex[id] = x;
            fifo[(fh + fn) % size] = id;
            fn++;
            adds++;
            indirects += fl != 0;
            multi += n > 1 && !fl;
            if (rnd() % 2)
                vs_packed_drv_publish(f.drv);
        } else if (what < 5) {
            if (rnd() % 3 == 0)
                vs_packed_drv_publish(f.drv);
            if (npool == size)
                continue;
            chain_buf *cb = &pool[npool];
            chain_init(cb);
            int rc = vs_packed_dev_pop(f.dev, &cb->c, &e);
            ck_assert_msg(rc >= 0, "pop: %s", e.msg);
            if (rc == 0)
                continue;
            ck_assert_uint_gt(fn, 0);
            ck_assert_int_eq(cb->c.id, fifo[fh]);
            fh = (fh + 1) % size;
            fn--;
            const expect *x = &ex[cb->c.id];
            ck_assert(x->live);
            ck_assert_uint_eq(cb->c.nseg, x->nseg);
            ck_assert_uint_eq(cb->c.n_out, x->n_out);
            for (unsigned i = 0; i < x->nseg; i++) {
                ck_assert_uint_eq(cb->seg[i].gpa, x->seg[i].gpa);
                ck_assert_uint_eq(cb->seg[i].len, x->seg[i].len);
                ck_assert(cb->seg[i].write == (i >= x->n_out));
            }
            npool++;
        } else if (what < 7) {
            if (npool == 0)
                continue;
            unsigned k = rnd() % npool;
            ooo += k != 0;
            chain_buf *cb = &pool[k];
            uint32_t w = cb->c.in_bytes ? rnd() % ((uint32_t)cb->c.in_bytes + 1) : 0;
            ck_assert_int_eq(vs_packed_dev_push(f.dev, &cb->c, w, &e), 0);
            ex[cb->c.id].written = w + 1;
            /* keep pop order among the rest so k != 0 really is out of order */
            memmove(&pool[k], &pool[k + 1], (npool - k - 1) * sizeof *pool);
            npool--;
            for (unsigned i = k; i < npool; i++)
                pool[i].c.seg = pool[i].seg;
            if (rnd() % 2)
                vs_packed_dev_publish(f.dev);
        } else {
            if (rnd() % 2)
                vs_packed_dev_publish(f.dev);
            vs_used u;
            int rc;
            while ((rc = vs_packed_drv_collect(f.drv, &u, &e)) == 1) {
                ck_assert_uint_lt(u.id, size);
                expect *x = &ex[u.id];
                ck_assert(x->live);
                ck_assert_uint_ne(x->written, 0);
                ck_assert_ptr_eq(u.cookie, x->cookie);
                ck_assert_uint_eq(u.len, x->written - 1);
                x->live = false;
                x->written = 0;
                completes++;
            }
            ck_assert_msg(rc == 0, "collect: %s", e.msg);
        }
    }
    ck_assert_uint_gt(adds, ops / 30);
    ck_assert_uint_gt(completes, ops / 60);
    ck_assert_uint_gt(ooo, 0);
    if (size > 1)
        ck_assert_uint_gt(multi, 0);
    if (feats & VS_VQ_F_INDIRECT)
        ck_assert_uint_gt(indirects, 0);
    ck_assert(!vs_packed_dev_broken(f.dev));
    ck_assert_uint_eq(vs_packed_drv_outstanding(f.drv) + completes, adds);
    free(ex);
    free(fifo);
    free(pool);
    fx_fini(&f);
}

START_TEST(test_random_ooo_direct) { random_run(64, 0, 200000, 0x5eed0001ull); }
END_TEST
START_TEST(test_random_ooo_indirect)
{
    random_run(37, VS_VQ_F_INDIRECT | VS_VQ_F_EVENT_IDX, 200000, 0x5eed0002ull);
}
END_TEST
START_TEST(test_random_ooo_small)
{
    random_run(3, VS_VQ_F_INDIRECT, 50000, 0x5eed0003ull);
    random_run(5, 0, 50000, 0x5eed0004ull);
}
END_TEST

/* ------------------------------------------------------------------ queue sizes */

static void sizes_run(uint32_t size, unsigned rounds)
{
    fx f;
    vs_gmem *gm;
    vs_err e = {0};
    ck_assert(vs_gmem_create_flat(&gm, 64 * MIB, &e) == 0);
    fx_init_gm(&f, gm, size, VS_VQ_F_INDIRECT, VS_VQ_F_INDIRECT, 0, 2);
    unsigned maxn = size < 3 ? size : 3;
    /* Fill the ring completely, then drain it, several times over. */
    for (unsigned r = 0; r < rounds; r++) {
        unsigned added = 0, slots = 0;
        vs_seg segs[3] = {{f.buf, 1}, {f.buf + 8, 2}, {f.buf + 16, 3}};
        for (;;) {
            unsigned n = 1 + (added + r) % maxn;
            unsigned fl = (added % 5 == 4) ? VS_ADD_INDIRECT : 0;
            if (fl && n > 2)
                n = 2;
            int id = vs_packed_drv_add(f.drv, segs, n, 0, fl, (void *)(uintptr_t)(added + 1), &e);
            if (id == -VS_ENOSPC)
                break;
            ck_assert_msg(id >= 0, "%s", e.msg);
            added++;
            slots += fl ? 1 : n;
        }
        ck_assert_uint_ge(slots, size - maxn + 1);
        ck_assert_uint_eq(vs_packed_drv_num_free(f.drv), size - slots);
        vs_packed_drv_publish(f.drv);
        chain_buf cb;
        for (unsigned i = 0; i < added; i++) {
            must_pop(&f, &cb);
            ck_assert_int_eq(vs_packed_dev_push(f.dev, &cb.c, 0, &e), 0);
        }
        chain_init(&cb);
        ck_assert_int_eq(vs_packed_dev_pop(f.dev, &cb.c, &e), 0);
        vs_packed_dev_publish(f.dev);
        for (unsigned i = 0; i < added; i++) {
            vs_used u;
            ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), 1);
            ck_assert_ptr_eq(u.cookie, (void *)(uintptr_t)(i + 1));
        }
        ck_assert_uint_eq(vs_packed_drv_num_free(f.drv), size);
    }
    fx_fini(&f);
}

START_TEST(test_size_1) { sizes_run(1, 10); }
END_TEST
START_TEST(test_size_2) { sizes_run(2, 10); }
END_TEST
START_TEST(test_size_3) { sizes_run(3, 10); }
END_TEST
START_TEST(test_size_256) { sizes_run(256, 10); }
END_TEST
START_TEST(test_size_32768) { sizes_run(32768, 4); }
END_TEST

/* ------------------------------------------------------------------ batching */

START_TEST(test_batching)
{
    fx f;
    fx_init(&f, 8, 0, 0, 0);
    vs_err e = {0};
    vs_seg s[2] = {{0, 16}, {0, 16}};
    s[0].gpa = f.buf;
    s[1].gpa = f.buf + 64;
    for (int i = 0; i < 3; i++)
        ck_assert_int_ge(vs_packed_drv_add(f.drv, s, 1, 1, 0, NULL, &e), 0);
    chain_buf cb[3];
    chain_init(&cb[0]);
    ck_assert_int_eq(vs_packed_dev_pop(f.dev, &cb[0].c, &e), 0);
    ck_assert_uint_eq(slot_flags(&f, 0), 0); /* first head held back */
    ck_assert_uint_eq(slot_flags(&f, 2), VS_DESC_F_AVAIL | VS_DESC_F_NEXT);
    ck_assert(!vs_packed_dev_notify_enable(f.dev));
    vs_packed_drv_publish(f.drv);
    ck_assert(vs_packed_dev_notify_enable(f.dev));
    for (int i = 0; i < 3; i++)
        must_pop(&f, &cb[i]);
    /* completions in reverse order; nothing visible before publish */
    for (int i = 2; i >= 0; i--)
        ck_assert_int_eq(vs_packed_dev_push(f.dev, &cb[i].c, 1, &e), 0);
    vs_used u;
    ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), 0);
    ck_assert(!vs_packed_drv_irq_enable(f.drv));
    ck_assert_uint_eq(slot_flags(&f, 2), VS_DESC_F_AVAIL | VS_DESC_F_USED | VS_DESC_F_WRITE);
    vs_packed_dev_publish(f.dev);
    ck_assert(vs_packed_drv_irq_enable(f.drv));
    for (int i = 2; i >= 0; i--) {
        ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), 1);
        ck_assert_uint_eq(u.id, cb[i].c.id);
    }
    fx_fini(&f);
}
END_TEST

/* ------------------------------------------------------------------ event suppression */

START_TEST(test_events_basic)
{
    fx f;
    fx_init(&f, 8, 0, 0, 0);
    vs_err e = {0};
    vs_seg s = {f.buf, 16};
    chain_buf cb;
    /* kick: nothing published -> no kick */
    ck_assert(!vs_packed_drv_kick_needed(f.drv));
    vs_packed_dev_notify_disable(f.dev);
    ck_assert_uint_eq(le16toh(f.dev_ev[1]), 1);
    ck_assert_int_ge(vs_packed_drv_add(f.drv, &s, 1, 0, 0, NULL, &e), 0);
    vs_packed_drv_publish(f.drv);
    ck_assert(!vs_packed_drv_kick_needed(f.drv));
    ck_assert(vs_packed_dev_notify_enable(f.dev)); /* a chain is already there */
    ck_assert_uint_eq(le16toh(f.dev_ev[1]), 0);
    ck_assert_int_ge(vs_packed_drv_add(f.drv, &s, 1, 0, 0, NULL, &e), 0);
    vs_packed_drv_publish(f.drv);
    ck_assert(vs_packed_drv_kick_needed(f.drv));
    /* DESC without EVENT_IDX negotiated: treated as enabled */
    f.dev_ev[0] = htole16(5);
    f.dev_ev[1] = htole16(2);
    ck_assert_int_ge(vs_packed_drv_add(f.drv, &s, 1, 0, 0, NULL, &e), 0);
    vs_packed_drv_publish(f.drv);
    ck_assert(vs_packed_drv_kick_needed(f.drv));
    /* irq side */
    for (int i = 0; i < 3; i++) {
        must_pop(&f, &cb);
        ck_assert_int_eq(vs_packed_dev_push(f.dev, &cb.c, 0, &e), 0);
    }
    ck_assert(!vs_packed_dev_irq_needed(f.dev)); /* nothing published yet */
    vs_packed_drv_irq_disable(f.drv);
    ck_assert_uint_eq(le16toh(f.drv_ev[1]), 1);
    vs_packed_dev_publish(f.dev);
    ck_assert(!vs_packed_dev_irq_needed(f.dev));
    ck_assert(vs_packed_drv_irq_enable(f.drv)); /* used buffers pending */
    ck_assert_uint_eq(le16toh(f.drv_ev[1]), 0);
    vs_used u;
    while (vs_packed_drv_collect(f.drv, &u, &e) == 1)
        ;
    ck_assert(!vs_packed_drv_irq_enable(f.drv));
    ck_assert_int_ge(vs_packed_drv_add(f.drv, &s, 1, 0, 0, NULL, &e), 0);
    vs_packed_drv_publish(f.drv);
    must_pop(&f, &cb);
    ck_assert_int_eq(vs_packed_dev_push(f.dev, &cb.c, 0, &e), 0);
    vs_packed_dev_publish(f.dev);
    ck_assert(vs_packed_dev_irq_needed(f.dev));
    /* reserved flags value 3: conservative, notify */
    f.drv_ev[1] = htole16(3);
    ck_assert_int_ge(vs_packed_drv_add(f.drv, &s, 1, 0, 0, NULL, &e), 0);
    vs_packed_drv_publish(f.drv);
    must_pop(&f, &cb);
    ck_assert_int_eq(vs_packed_dev_push(f.dev, &cb.c, 0, &e), 0);
    vs_packed_dev_publish(f.dev);
    ck_assert(vs_packed_dev_irq_needed(f.dev));
    fx_fini(&f);
}
END_TEST

/* DESC mode with EVENT_IDX, checked against a reference on linear positions over many
 * wraps: the device asks for a kick at its next_avail when it re-enables, the driver for
 * an interrupt at its next used slot; a notification is due iff the event position lies
 * in the window published since the last check. */
static void event_idx_run(uint32_t size, uint64_t seed)
{
    fx f;
    uint32_t ft = VS_VQ_F_EVENT_IDX;
    fx_init(&f, size, ft, ft, 0);
    vs_err e = {0};
    rng_state = seed;
    uint64_t drv_pub = 0, drv_kick_mark = 0, drv_avail = 0;
    uint64_t dev_avail = 0, dev_used = 0, dev_pub = 0, dev_irq_mark = 0, drv_used = 0;
    int64_t kick_ev = -1, irq_ev = -1; /* linear event positions, -1 = ENABLE */
    bool kick_on = true, irq_on = true;
    unsigned kicks = 0, nokicks = 0, irqs = 0, noirqs = 0, wraps_desc = 0;
    chain_buf *pool = calloc(size, sizeof *pool);
    unsigned np = 0;
    vs_seg segs[3] = {{f.buf, 8}, {f.buf + 8, 8}, {f.buf + 16, 8}};
    for (unsigned op = 0; op < 20000; op++) {
        switch (rnd() % 7) {
        case 0: { /* add */
            unsigned n = 1 + rnd() % (size < 3 ? size : 3);
            int id = vs_packed_drv_add(f.drv, segs, n, 0, 0, NULL, &e);
            if (id >= 0)
                drv_avail += n;
            break;
        }
        case 1: { /* publish + kick check */
            vs_packed_drv_publish(f.drv);
            drv_pub = drv_avail;
            bool want;
            if (drv_pub == drv_kick_mark || !kick_on)
                want = false;
            else if (kick_ev < 0 || drv_pub - drv_kick_mark > size)
                want = true; /* ENABLE, or more than a ring unchecked: conservative */
            else
                want = (uint64_t)kick_ev >= drv_kick_mark && (uint64_t)kick_ev < drv_pub;
            bool got = vs_packed_drv_kick_needed(f.drv);
            ck_assert_msg(got == want, "op %u: kick got %d want %d (ev %lld window [%llu,%llu))",
                          op, got, want, (long long)kick_ev, (unsigned long long)drv_kick_mark,
                          (unsigned long long)drv_pub);
            if (want && kick_ev >= 0 && (uint64_t)kick_ev / size != drv_pub / size)
                wraps_desc++;
            kicks += got;
            nokicks += !got;
            drv_kick_mark = drv_pub;
            break;
        }
        case 2: { /* device re-enables or disables notifications */
            if (rnd() % 4 == 0) {
                vs_packed_dev_notify_disable(f.dev);
                kick_on = false;
            } else {
                vs_packed_dev_notify_enable(f.dev);
                kick_on = true;
                kick_ev = (int64_t)dev_avail;
            }
            break;
        }
        case 3: { /* pop */
            if (np == size)
                break;
            chain_init(&pool[np]);
            int rc = vs_packed_dev_pop(f.dev, &pool[np].c, &e);
            ck_assert_int_ge(rc, 0);
            if (rc == 1) {
                dev_avail += pool[np].c.ndesc;
                np++;
            }
            break;
        }
        case 4: { /* push (out of order) */
            if (!np)
                break;
            unsigned k = rnd() % np;
            ck_assert_int_eq(vs_packed_dev_push(f.dev, &pool[k].c, 0, &e), 0);
            dev_used += pool[k].c.ndesc;
            pool[k] = pool[--np];
            pool[k].c.seg = pool[k].seg;
            break;
        }
        case 5: { /* device publish + irq check */
            vs_packed_dev_publish(f.dev);
            dev_pub = dev_used;
            bool want;
            if (dev_pub == dev_irq_mark || !irq_on)
                want = false;
            else if (irq_ev < 0 || dev_pub - dev_irq_mark > size)
                want = true;
            else
                want = (uint64_t)irq_ev >= dev_irq_mark && (uint64_t)irq_ev < dev_pub;
            bool got = vs_packed_dev_irq_needed(f.dev);
            ck_assert_msg(got == want, "op %u: irq got %d want %d", op, got, want);
            irqs += got;
            noirqs += !got;
            dev_irq_mark = dev_pub;
            break;
        }
        case 6: { /* driver collects, then disables or re-enables */
            vs_used u;
            int rc;
            while ((rc = vs_packed_drv_collect(f.drv, &u, &e)) == 1)
                ;
            ck_assert_int_eq(rc, 0);
            drv_used = dev_pub;
            if (rnd() % 4 == 0) {
                vs_packed_drv_irq_disable(f.drv);
                irq_on = false;
            } else {
                ck_assert(!vs_packed_drv_irq_enable(f.drv));
                irq_on = true;
                irq_ev = (int64_t)drv_used;
            }
            break;
        }
        }
    }
    ck_assert_uint_gt(kicks, 50);
    ck_assert_uint_gt(nokicks, 50);
    ck_assert_uint_gt(irqs, 50);
    ck_assert_uint_gt(noirqs, 50);
    ck_assert_uint_gt(wraps_desc, 0);
    ck_assert_uint_gt(dev_used / size, 10); /* many wraps */
    free(pool);
    fx_fini(&f);
}

START_TEST(test_event_idx_size4) { event_idx_run(4, 0xe0e0e0e0ull); }
END_TEST
START_TEST(test_event_idx_size5) { event_idx_run(5, 0xabcdefull); }
END_TEST
START_TEST(test_event_idx_size64) { event_idx_run(64, 0x42ull); }
END_TEST

START_TEST(test_event_desc_across_wrap)
{
    fx f;
    uint32_t ft = VS_VQ_F_EVENT_IDX;
    fx_init(&f, 4, ft, ft, 0);
    vs_err e = {0};
    vs_seg s = {f.buf, 8};
    chain_buf cb;
    vs_used u;
    /* Move both sides to slot 3 of the first lap. */
    for (int i = 0; i < 3; i++) {
        ck_assert_int_ge(vs_packed_drv_add(f.drv, &s, 1, 0, 0, NULL, &e), 0);
        vs_packed_drv_publish(f.drv);
        must_pop(&f, &cb);
        ck_assert_int_eq(vs_packed_dev_push(f.dev, &cb.c, 0, &e), 0);
        vs_packed_dev_publish(f.dev);
        ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), 1);
    }
    (void)vs_packed_drv_kick_needed(f.drv);
    (void)vs_packed_dev_irq_needed(f.dev);
    /* Device wants a kick at slot 3, wrap 1 (written off/wrap in memory). */
    vs_packed_dev_notify_enable(f.dev);
    ck_assert_uint_eq(le16toh(f.dev_ev[0]), 0x8000u | 3);
    ck_assert_uint_eq(le16toh(f.dev_ev[1]), 2);
    /* Driver asks for an irq at slot 3, wrap 1. */
    ck_assert(!vs_packed_drv_irq_enable(f.drv));
    ck_assert_uint_eq(le16toh(f.drv_ev[0]), 0x8000u | 3);
    ck_assert_uint_eq(le16toh(f.drv_ev[1]), 2);
    /* Publish slots 3 (lap 1) and 0 (lap 2) together: crosses the wrap, event inside. */
    ck_assert_int_ge(vs_packed_drv_add(f.drv, &s, 1, 0, 0, NULL, &e), 0);
    ck_assert_int_ge(vs_packed_drv_add(f.drv, &s, 1, 0, 0, NULL, &e), 0);
    vs_packed_drv_publish(f.drv);
    ck_assert_uint_eq(vs_packed_drv_avail_idx(f.drv), 1); /* slot 1, wrap 0 */
    ck_assert(vs_packed_drv_kick_needed(f.drv));
    /* Event still at (3, wrap 1): the next publish (slot 1, lap 2) must not kick. */
    ck_assert_int_ge(vs_packed_drv_add(f.drv, &s, 1, 0, 0, NULL, &e), 0);
    vs_packed_drv_publish(f.drv);
    ck_assert(!vs_packed_drv_kick_needed(f.drv));
    /* Device: event for (1, wrap 0) -> the driver's previous-lap bits differ */
    chain_buf p3[3];
    for (int i = 0; i < 3; i++)
        must_pop(&f, &p3[i]);
    vs_packed_dev_notify_enable(f.dev);
    ck_assert_uint_eq(le16toh(f.dev_ev[0]), 2); /* slot 2, wrap 0 */
    ck_assert_uint_eq(vs_packed_dev_get_base(f.dev), 2);
    /* irq: the device completes the 3 chains at slots 3, 0, 1 (crossing the wrap); the
     * driver's event (3, wrap 1) lies in the published window. */
    for (int i = 2; i >= 0; i--)
        ck_assert_int_eq(vs_packed_dev_push(f.dev, &p3[i].c, 0, &e), 0);
    vs_packed_dev_publish(f.dev);
    ck_assert(vs_packed_dev_irq_needed(f.dev));
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), 1);
    ck_assert_uint_eq(vs_packed_drv_used_idx(f.drv), 2); /* slot 2, wrap 0 */
    ck_assert(!vs_packed_drv_irq_enable(f.drv));
    ck_assert_uint_eq(le16toh(f.drv_ev[0]), 2);
    /* One more completion at slot 2 of lap 2: event (2, wrap 0) reached. */
    ck_assert_int_ge(vs_packed_drv_add(f.drv, &s, 1, 0, 0, NULL, &e), 0);
    vs_packed_drv_publish(f.drv);
    ck_assert(vs_packed_drv_kick_needed(f.drv)); /* device event (2, wrap 0) */
    must_pop(&f, &cb);
    ck_assert_int_eq(vs_packed_dev_push(f.dev, &cb.c, 0, &e), 0);
    vs_packed_dev_publish(f.dev);
    ck_assert(vs_packed_dev_irq_needed(f.dev));
    /* The driver does not re-arm: the next completion (slot 3, lap 2) raises nothing, and
     * neither does the one after it at slot 0 of lap 3 (wrap 1 again, event wrap 0). */
    ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), 1);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_ge(vs_packed_drv_add(f.drv, &s, 1, 0, 0, NULL, &e), 0);
        vs_packed_drv_publish(f.drv);
        ck_assert(!vs_packed_drv_kick_needed(f.drv)); /* device did not re-arm either */
        must_pop(&f, &cb);
        ck_assert_int_eq(vs_packed_dev_push(f.dev, &cb.c, 0, &e), 0);
        vs_packed_dev_publish(f.dev);
        ck_assert(!vs_packed_dev_irq_needed(f.dev));
        ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), 1);
    }
    ck_assert_uint_eq(vs_packed_drv_used_idx(f.drv), 0x8000u | 1);
    fx_fini(&f);
}
END_TEST

/* ------------------------------------------------------------------ base */

START_TEST(test_set_get_base)
{
    fx f;
    fx_init(&f, 5, 0, 0, 0);
    vs_err e = {0};
    ck_assert_uint_eq(vs_packed_dev_get_base(f.dev), 0x8000);
    ck_assert_int_eq(vs_packed_dev_set_base(f.dev, 5, &e), -VS_ERANGE);
    ck_assert_int_eq(vs_packed_dev_set_base(f.dev, 0x8000u | 7, &e), -VS_ERANGE);
    vs_seg s = {f.buf, 8};
    chain_buf cb;
    vs_used u;
    for (int i = 0; i < 7; i++) {
        ck_assert_int_ge(vs_packed_drv_add(f.drv, &s, 1, 0, 0, NULL, &e), 0);
        vs_packed_drv_publish(f.drv);
        must_pop(&f, &cb);
        ck_assert_int_eq(vs_packed_dev_push(f.dev, &cb.c, 0, &e), 0);
        vs_packed_dev_publish(f.dev);
        ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), 1);
    }
    uint16_t base = vs_packed_dev_get_base(f.dev);
    ck_assert_uint_eq(base, 2); /* slot 2, wrap 0 */
    ck_assert_uint_eq(base, vs_packed_drv_avail_idx(f.drv));
    /* A new device instance resumes at the saved base (vhost GET/SET_VRING_BASE). */
    vs_packed_dev_destroy(f.dev);
    vs_vq_dev_opts vop = {.queue_index = 3};
    ck_assert(vs_packed_dev_create(&f.dev, f.gm, &f.l, &vop, &e) == 0);
    chain_init(&cb);
    ck_assert_int_eq(vs_packed_dev_pop(f.dev, &cb.c, &e), 0); /* slot 0 wrap 1 is used */
    ck_assert_int_eq(vs_packed_dev_set_base(f.dev, base, &e), 0);
    ck_assert_uint_eq(vs_packed_dev_get_base(f.dev), base);
    for (int i = 0; i < 6; i++) {
        ck_assert_int_ge(vs_packed_drv_add(f.drv, &s, 1, 0, 0, (void *)(uintptr_t)(i + 1), &e), 0);
        vs_packed_drv_publish(f.drv);
        must_pop(&f, &cb);
        ck_assert_int_eq(vs_packed_dev_push(f.dev, &cb.c, 0, &e), 0);
        vs_packed_dev_publish(f.dev);
        ck_assert_int_eq(vs_packed_drv_collect(f.drv, &u, &e), 1);
        ck_assert_ptr_eq(u.cookie, (void *)(uintptr_t)(i + 1));
    }
    ck_assert_uint_eq(vs_packed_dev_get_base(f.dev), 0x8000u | 3);
    fx_fini(&f);
}
END_TEST

/* ------------------------------------------------------------------ public API */

START_TEST(test_public_api)
{
    vs_gmem *gm;
    vs_err e = {0};
    ck_assert(vs_gmem_create_flat(&gm, 8 * MIB, &e) == 0);
    vs_vq_layout l;
    ck_assert(vs_vq_layout_alloc(gm, VS_RING_PACKED, 3, &l, &e) == 0);
    vs_vq_drv *d;
    vs_vq_dev *v;
    vs_vq_drv_opts dop = {.features = VS_VQ_F_INDIRECT};
    vs_vq_dev_opts vop = {.features = VS_VQ_F_INDIRECT};
    ck_assert_msg(vs_vq_drv_create(&d, gm, &l, &dop, &e) == 0, "%s", e.msg);
    ck_assert_msg(vs_vq_dev_create(&v, gm, &l, &vop, &e) == 0, "%s", e.msg);
    uint64_t buf;
    ck_assert(vs_gmem_alloc(gm, 4096, 4096, &buf, &e) == 0);
    vs_seg s[2] = {{buf, 10}, {buf + 100, 20}};
    for (int r = 0; r < 20; r++) {
        int id = vs_vq_drv_add(d, s, 1, 1, r % 2 ? VS_ADD_INDIRECT : 0, &e, &e);
        ck_assert_msg(id >= 0, "%s", e.msg);
        vs_vq_drv_publish(d);
        ck_assert(vs_vq_drv_kick_needed(d));
        vs_dseg seg[4];
        vs_chain c = {.seg = seg, .seg_cap = 4};
        ck_assert_int_eq(vs_vq_dev_pop(v, &c, &e), 1);
        ck_assert_uint_eq(c.nseg, 2);
        ck_assert_int_eq(vs_vq_dev_push(v, &c, 5, &e), 0);
        vs_vq_dev_publish(v);
        ck_assert(vs_vq_dev_irq_needed(v));
        vs_used u;
        ck_assert_int_eq(vs_vq_drv_collect(d, &u, &e), 1);
        ck_assert_uint_eq(u.len, 5);
        ck_assert_ptr_eq(u.cookie, &e);
    }
    ck_assert_uint_eq(vs_vq_drv_num_free(d), 3);
    vs_vq_drv_destroy(d);
    vs_vq_dev_destroy(v);
    vs_gmem_destroy(gm);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("ring_packed");
    TCase *t = tcase_create("core");
    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_roundtrip_direct);
    tcase_add_test(t, test_roundtrip_direct_complete);
    tcase_add_test(t, test_roundtrip_indirect);
    tcase_add_test(t, test_indirect_not_negotiated_driver);
    tcase_add_test(t, test_wrap_size4);
    tcase_add_test(t, test_wrap_size256);
    tcase_add_test(t, test_random_ooo_direct);
    tcase_add_test(t, test_random_ooo_indirect);
    tcase_add_test(t, test_random_ooo_small);
    tcase_add_test(t, test_size_1);
    tcase_add_test(t, test_size_2);
    tcase_add_test(t, test_size_3);
    tcase_add_test(t, test_size_256);
    tcase_add_test(t, test_size_32768);
    tcase_add_test(t, test_batching);
    tcase_add_test(t, test_events_basic);
    tcase_add_test(t, test_event_idx_size4);
    tcase_add_test(t, test_event_idx_size5);
    tcase_add_test(t, test_event_idx_size64);
    tcase_add_test(t, test_event_desc_across_wrap);
    tcase_add_test(t, test_set_get_base);
    tcase_add_test(t, test_public_api);
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
