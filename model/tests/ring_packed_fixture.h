/* The fixture shared by the packed-virtqueue unit tests (test_ring_packed.c: round trips,
 * wrap, sizes, events; test_ring_packed_errors.c: layout and chain validation, ids,
 * mutants): a driver and a device side over one layout in guest memory. Static inline so
 * each program takes only what it uses. */
#ifndef VS_MODEL_TESTS_RING_PACKED_FIXTURE_H
#define VS_MODEL_TESTS_RING_PACKED_FIXTURE_H

#include "model/ring_internal.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Little-endian helpers (virtio 1.x rings are little-endian). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define le16toh(x) __builtin_bswap16(x)
#define le32toh(x) __builtin_bswap32(x)
#define le64toh(x) __builtin_bswap64(x)
#else
#define le16toh(x) ((uint16_t)(x))
#define le32toh(x) ((uint32_t)(x))
#define le64toh(x) ((uint64_t)(x))
#endif
#define htole16(x) le16toh(x)
#define htole32(x) le32toh(x)
#define htole64(x) le64toh(x)

#define MIB (1024ull * 1024ull)

struct pdesc_t {
    uint64_t addr;
    uint32_t len;
    uint16_t id;
    uint16_t flags;
};

typedef struct fx {
    vs_gmem *gm;
    vs_vq_layout l;
    vs_vq_drv *drv;
    vs_vq_dev *dev;
    uint64_t buf;      /* 1 MiB data area for segments */
    struct pdesc_t *ring;
    uint16_t *drv_ev;  /* [0] off_wrap, [1] flags */
    uint16_t *dev_ev;
} fx;

static inline void fx_init_gm(fx *f, vs_gmem *gm, uint32_t size, uint32_t dfeat,
                              uint32_t vfeat, uint32_t mut, uint16_t ind_max)
{
    vs_err e = {0};
    memset(f, 0, sizeof *f);
    f->gm = gm;
    ck_assert_msg(vs_vq_layout_alloc(gm, VS_RING_PACKED, size, &f->l, &e) == 0, "%s", e.msg);
    vs_vq_drv_opts dop = {.queue_index = 3, .features = dfeat, .indirect_max = ind_max};
    ck_assert_msg(vs_packed_drv_create(&f->drv, gm, &f->l, &dop, &e) == 0, "%s", e.msg);
    vs_vq_dev_opts vop = {.queue_index = 3, .features = vfeat, .mutations = mut};
    ck_assert_msg(vs_packed_dev_create(&f->dev, gm, &f->l, &vop, &e) == 0, "%s", e.msg);
    ck_assert_msg(vs_gmem_alloc(gm, MIB, 4096, &f->buf, &e) == 0, "%s", e.msg);
    f->ring = vs_gmem_translate(gm, f->l.desc_gpa, 16ull * size, VS_GMEM_WRITE, NULL);
    f->drv_ev = vs_gmem_translate(gm, f->l.driver_gpa, 4, VS_GMEM_WRITE, NULL);
    f->dev_ev = vs_gmem_translate(gm, f->l.device_gpa, 4, VS_GMEM_WRITE, NULL);
    ck_assert_ptr_nonnull(f->ring);
    ck_assert_ptr_nonnull(f->drv_ev);
    ck_assert_ptr_nonnull(f->dev_ev);
}

static inline void fx_init(fx *f, uint32_t size, uint32_t dfeat, uint32_t vfeat,
                           uint32_t mut)
{
    vs_gmem *gm;
    vs_err e = {0};
    ck_assert_msg(vs_gmem_create_flat(&gm, 32 * MIB, &e) == 0, "%s", e.msg);
    fx_init_gm(f, gm, size, dfeat, vfeat, mut, 0);
}

static inline void fx_fini(fx *f)
{
    vs_packed_drv_destroy(f->drv);
    vs_packed_dev_destroy(f->dev);
    vs_gmem_destroy(f->gm);
}

static inline uint16_t slot_flags(const fx *f, unsigned slot)
{
    return le16toh(f->ring[slot].flags);
}

#define SEGS 16
typedef struct chain_buf {
    vs_chain c;
    vs_dseg seg[SEGS];
} chain_buf;

static inline void chain_init(chain_buf *cb)
{
    memset(&cb->c, 0, sizeof cb->c);
    cb->c.seg = cb->seg;
    cb->c.seg_cap = SEGS;
}

/* Pops one chain that must be there. */
static inline void must_pop(fx *f, chain_buf *cb)
{
    vs_err e = {0};
    chain_init(cb);
    int rc = vs_packed_dev_pop(f->dev, &cb->c, &e);
    ck_assert_msg(rc == 1, "pop rc %d: %s", rc, e.msg);
}

/* Runs pop on an injected chain and checks the error. */
static inline void expect_pop_error(fx *f, int code, const char *needle)
{
    vs_err e = {0};
    chain_buf cb;
    chain_init(&cb);
    int rc = vs_packed_dev_pop(f->dev, &cb.c, &e);
    ck_assert_int_eq(rc, -code);
    ck_assert_int_eq(e.code, code);
    ck_assert_msg(strstr(e.msg, needle) != NULL, "message '%s' lacks '%s'", e.msg, needle);
    ck_assert_msg(strstr(e.msg, "queue 3: desc ") == e.msg, "message '%s' lacks prefix", e.msg);
    ck_assert(vs_packed_dev_broken(f->dev));
    vs_err e2 = {0};
    chain_init(&cb);
    ck_assert_int_eq(vs_packed_dev_pop(f->dev, &cb.c, &e2), -VS_ESTATE);
}

#endif
