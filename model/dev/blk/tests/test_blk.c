/* Unit tests of the reference virtio-blk device (model/dev/blk/). Chains are built by
 * hand over flat guest memory; no rings involved. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* fallocate, fdatasync, pread; the build does not define it */
#endif
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "virtiosim/blk.h"
#include "virtiosim/gmem.h"
#include "virtiosim/virtio.h"

#define GM_SIZE (4u << 20)
#define MAXSEG 64
#define FILL 0xcc

/* ------------------------------------------------------------------ fixture */

static vs_gmem *gm;
static uint64_t next_gpa;

static void setup(void)
{
    vs_err e = {0};
    ck_assert_int_eq(vs_gmem_create_flat(&gm, GM_SIZE, &e), 0);
    next_gpa = 0x1003; /* odd, unaligned addresses on purpose */
}

static void teardown(void)
{
    vs_gmem_destroy(gm);
    gm = NULL;
}

typedef struct tchain {
    vs_chain c;
    vs_dseg seg[MAXSEG];
} tchain;

static void tc_init(tchain *t)
{
    memset(t, 0, sizeof *t);
    t->c.seg = t->seg;
    t->c.seg_cap = MAXSEG;
}

static void tc_add(tchain *t, uint32_t len, bool write)
{
    ck_assert_uint_lt(t->c.nseg, MAXSEG);
    vs_dseg *s = &t->seg[t->c.nseg++];
    s->gpa = next_gpa;
    s->len = len;
    s->write = write;
    s->host = len ? vs_gmem_translate(gm, s->gpa, len, write ? VS_GMEM_WRITE : VS_GMEM_READ,
                                      NULL)
                  : NULL;
    next_gpa += len + 13;
    ck_assert_uint_lt(next_gpa, GM_SIZE);
    vs_gmem_fill(gm, s->gpa, FILL, len, NULL);
    if (write) {
        t->c.in_bytes += len;
    } else {
        ck_assert_uint_eq(t->c.n_out, t->c.nseg - 1); /* readable first */
        t->c.n_out++;
        t->c.out_bytes += len;
    }
}

/* Byte streams over the readable (write=false) or writable part. */
static void tc_io(tchain *t, bool writable, uint64_t off, void *buf, uint64_t len, bool put)
{
    uint8_t *p = buf;
    for (uint32_t i = 0; i < t->c.nseg && len; i++) {
        vs_dseg *s = &t->seg[i];
        if (s->write != writable)
            continue;
        if (off >= s->len) {
            off -= s->len;
            continue;
        }
        uint64_t n = s->len - off < len ? s->len - off : len;
        int r = put ? vs_gmem_write(gm, s->gpa + off, p, n, NULL)
                    : vs_gmem_read(gm, s->gpa + off, p, n, NULL);
        ck_assert_int_eq(r, 0);
        p += n;
        len -= n;
        off = 0;
    }
    ck_assert_uint_eq(len, 0);
}

static void tc_hdr(tchain *t, uint32_t type, uint64_t sector)
{
    uint8_t h[16];
    for (int i = 0; i < 4; i++)
        h[i] = (uint8_t)(type >> (8 * i));
    memset(h + 4, 0, 4);
    for (int i = 0; i < 8; i++)
        h[8 + i] = (uint8_t)(sector >> (8 * i));
    tc_io(t, false, 0, h, 16, true);
}

static uint8_t tc_status(tchain *t)
{
    uint8_t s;
    tc_io(t, true, t->c.in_bytes - 1, &s, 1, false);
    return s;
}

/* Request builders: out_lens/in_lens are segment sizes (0-terminated lists). */
static void tc_build(tchain *t, const uint32_t *out_lens, const uint32_t *in_lens)
{
    tc_init(t);
    for (; out_lens && *out_lens; out_lens++)
        tc_add(t, *out_lens, false);
    for (; in_lens && *in_lens; in_lens++)
        tc_add(t, *in_lens, true);
}

static vs_device *mkdev(const vs_blk_opts *o)
{
    vs_device *d = NULL;
    vs_err e = {0};
    int rc = vs_blk_create(&d, gm, o, &e);
    ck_assert_msg(rc == 0, "create: %s", e.msg);
    return d;
}

static vs_device *mkdefault(void)
{
    vs_blk_opts o;
    vs_blk_opts_default(&o);
    return mkdev(&o);
}

static void negotiate(vs_device *d, uint64_t f)
{
    vs_err e = {0};
    int rc = d->ops->accept_features(d, f, &e);
    ck_assert_msg(rc == 0, "accept: %s", e.msg);
    d->driver_features = f;
}

static void negotiate_all(vs_device *d) { negotiate(d, d->ops->device_features(d)); }

static int handle(vs_device *d, tchain *t, uint32_t *w, vs_err *e)
{
    return d->ops->handle(d, 0, &t->c, w, e);
}

static void pattern(uint8_t *buf, size_t len, unsigned seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(i * 7 + seed * 31 + (i >> 9));
}

/* OUT of len bytes from buf at sector, readable part split as given (after header). */
static uint8_t do_out(vs_device *d, uint64_t sector, const uint8_t *buf, uint32_t len,
                      uint32_t *written)
{
    tchain t;
    uint32_t outs[] = {16, len, 0};
    if (len == 0)
        outs[1] = 0;
    uint32_t ins[] = {1, 0};
    tc_build(&t, outs, ins);
    tc_hdr(&t, VS_BLK_T_OUT, sector);
    if (len)
        tc_io(&t, false, 16, (void *)buf, len, true);
    vs_err e = {0};
    uint32_t w = 0;
    int rc = handle(d, &t, &w, &e);
    ck_assert_msg(rc == 0, "OUT: %s", e.msg);
    if (written)
        *written = w;
    return tc_status(&t);
}

static uint8_t do_in(vs_device *d, uint64_t sector, uint8_t *buf, uint32_t len,
                     uint32_t *written)
{
    tchain t;
    uint32_t outs[] = {16, 0};
    uint32_t ins[] = {len + 1, 0};
    tc_build(&t, outs, ins);
    tc_hdr(&t, VS_BLK_T_IN, sector);
    vs_err e = {0};
    uint32_t w = 0;
    int rc = handle(d, &t, &w, &e);
    ck_assert_msg(rc == 0, "IN: %s", e.msg);
    if (written)
        *written = w;
    if (len)
        tc_io(&t, true, 0, buf, len, false);
    return tc_status(&t);
}

/* DISCARD / WRITE_ZEROES with n segments {sector, num, flags}. */
static uint8_t do_dwz(vs_device *d, uint32_t type, const uint64_t (*segs)[3], unsigned n,
                      uint32_t *written)
{
    tchain t;
    uint32_t outs[] = {16, n * 16, 0};
    if (n == 0)
        outs[1] = 0;
    uint32_t ins[] = {1, 0};
    tc_build(&t, outs, ins);
    tc_hdr(&t, type, 0);
    for (unsigned i = 0; i < n; i++) {
        uint8_t raw[16];
        for (int k = 0; k < 8; k++)
            raw[k] = (uint8_t)(segs[i][0] >> (8 * k));
        for (int k = 0; k < 4; k++) {
            raw[8 + k] = (uint8_t)(segs[i][1] >> (8 * k));
            raw[12 + k] = (uint8_t)(segs[i][2] >> (8 * k));
        }
        tc_io(&t, false, 16 + 16 * i, raw, 16, true);
    }
    vs_err e = {0};
    uint32_t w = 0;
    int rc = handle(d, &t, &w, &e);
    ck_assert_msg(rc == 0, "DWZ: %s", e.msg);
    if (written)
        *written = w;
    return tc_status(&t);
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != v)
            return false;
    return true;
}

static void fill_storage(vs_device *d, uint64_t sector, uint32_t nsec, uint8_t v)
{
    uint8_t *buf = malloc((size_t)nsec * 512);
    memset(buf, v, (size_t)nsec * 512);
    ck_assert_int_eq(vs_blk_storage_write(d, sector, buf, nsec, NULL), 0);
    free(buf);
}

static bool storage_is(vs_device *d, uint64_t sector, uint32_t nsec, uint8_t v)
{
    uint8_t *buf = malloc((size_t)nsec * 512);
    ck_assert_int_eq(vs_blk_storage_read(d, sector, buf, nsec, NULL), 0);
    bool ok = all_bytes(buf, (size_t)nsec * 512, v);
    free(buf);
    return ok;
}

/* ------------------------------------------------------------------ features */

START_TEST(features_offered)
{
    vs_blk_opts o;
    vs_blk_opts_default(&o);
    vs_device *d = mkdev(&o);
    uint64_t f = d->ops->device_features(d);
    ck_assert(f & VS_BIT(VS_F_VERSION_1));
    ck_assert(f & VS_BIT(VS_BLK_F_SEG_MAX));
    ck_assert(f & VS_BIT(VS_BLK_F_FLUSH));
    ck_assert(f & VS_BIT(VS_BLK_F_CONFIG_WCE));
    ck_assert(f & VS_BIT(VS_BLK_F_DISCARD));
    ck_assert(f & VS_BIT(VS_BLK_F_WRITE_ZEROES));
    ck_assert(f & VS_BIT(VS_BLK_F_TOPOLOGY));
    ck_assert(f & VS_BIT(VS_BLK_F_GEOMETRY));
    ck_assert(f & VS_BIT(VS_F_EVENT_IDX));
    ck_assert(f & VS_BIT(VS_F_INDIRECT_DESC));
    ck_assert(f & VS_BIT(VS_F_RING_PACKED));
    ck_assert(!(f & VS_BIT(VS_BLK_F_RO)));
    ck_assert(!(f & VS_BIT(VS_BLK_F_MQ)));
    ck_assert(!(f & VS_BIT(VS_BLK_F_SIZE_MAX)));
    ck_assert(!(f & VS_BIT(VS_BLK_F_BLK_SIZE)));
    ck_assert_str_eq(d->ops->name, "blk");
    ck_assert_uint_eq(d->ops->device_id, VS_DEV_BLK);
    ck_assert_uint_eq(d->ops->num_queues(d), 1);
    ck_assert_uint_eq(d->ops->queue_max_size(d, 0), 256);
    ck_assert_uint_eq(d->ops->queue_max_size(d, 1), 0);
    ck_assert_uint_eq(d->ops->config_size(d), VS_BLK_CFG_SIZE);
    d->ops->destroy(d);

    o.read_only = true;
    o.num_queues = 4;
    o.queue_size = 64;
    o.size_max = 65536;
    o.blk_size = 4096;
    o.flush = o.config_wce = o.discard = o.write_zeroes = o.topology = o.geometry = false;
    o.extra_features = 0;
    d = mkdev(&o);
    f = d->ops->device_features(d);
    ck_assert_uint_eq(f, VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_BLK_F_SEG_MAX) |
                             VS_BIT(VS_BLK_F_RO) | VS_BIT(VS_BLK_F_MQ) |
                             VS_BIT(VS_BLK_F_SIZE_MAX) | VS_BIT(VS_BLK_F_BLK_SIZE));
    ck_assert_uint_eq(d->ops->num_queues(d), 4);
    ck_assert_uint_eq(d->ops->queue_max_size(d, 3), 64);
    ck_assert_uint_eq(d->ops->queue_max_size(d, 4), 0);
    d->ops->destroy(d);
}
END_TEST

START_TEST(features_accept_refuse)
{
    vs_device *d = mkdefault();
    uint64_t f = d->ops->device_features(d);
    vs_err e = {0};
    ck_assert_int_eq(d->ops->accept_features(d, f, &e), 0);
    ck_assert_int_eq(d->ops->accept_features(d, VS_BIT(VS_F_VERSION_1), &e), 0);
    ck_assert_int_eq(d->ops->accept_features(d, f | VS_BIT(VS_BLK_F_RO), &e), -VS_ENOTSUP);
    ck_assert_ptr_nonnull(strstr(e.msg, "not offer"));
    vs_err_clear(&e);
    ck_assert_int_eq(d->ops->accept_features(d, VS_BIT(VS_F_IN_ORDER) | VS_BIT(VS_F_VERSION_1),
                                             &e),
                     -VS_ENOTSUP);
    vs_err_clear(&e);
    ck_assert_int_eq(d->ops->accept_features(d, f & ~VS_BIT(VS_F_VERSION_1), &e), -VS_ENOTSUP);
    ck_assert_ptr_nonnull(strstr(e.msg, "VERSION_1"));
    d->ops->destroy(d);
}
END_TEST

START_TEST(mut_accepts_bad_features)
{
    vs_blk_opts o;
    vs_blk_opts_default(&o);
    o.mutations = VS_BLK_MUT_ACCEPTS_BAD_FEATURES;
    vs_device *d = mkdev(&o);
    vs_err e = {0};
    ck_assert_int_eq(d->ops->accept_features(d, VS_BIT(VS_BLK_F_RO) | VS_BIT(VS_F_IN_ORDER), &e),
                     0);
    d->ops->destroy(d);
}
END_TEST

START_TEST(create_validation)
{
    vs_blk_opts o;
    vs_device *d = NULL;
    vs_err e = {0};
    vs_blk_opts_default(&o);
    o.flush = false; /* config_wce still on */
    ck_assert_int_eq(vs_blk_create(&d, gm, &o, &e), -VS_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "FLUSH"));
    vs_blk_opts_default(&o);
    o.serial = "123456789012345678901";
    ck_assert_int_eq(vs_blk_create(&d, gm, &o, &e), -VS_EINVAL);
    vs_blk_opts_default(&o);
    o.blk_size = 1000;
    ck_assert_int_eq(vs_blk_create(&d, gm, &o, &e), -VS_EINVAL);
    vs_blk_opts_default(&o);
    o.extra_features |= VS_BIT(VS_BLK_F_LIFETIME);
    ck_assert_int_eq(vs_blk_create(&d, gm, &o, &e), -VS_EINVAL);
    vs_blk_opts_default(&o);
    o.capacity_sectors = 0;
    ck_assert_int_eq(vs_blk_create(&d, gm, &o, &e), -VS_EINVAL);
    ck_assert_ptr_null(d);
    ck_assert_int_eq(vs_blk_create(&d, NULL, &o, &e), -VS_EINVAL);
}
END_TEST

/* ------------------------------------------------------------------ config */

static void put(uint8_t *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void check_all_widths(vs_device *d, const uint8_t *exp)
{
    static const uint32_t widths[] = {1, 2, 4, 8};
    for (unsigned wi = 0; wi < 4; wi++) {
        for (uint32_t off = 0; off + widths[wi] <= VS_BLK_CFG_SIZE; off++) {
            uint8_t buf[8];
            memset(buf, 0x5a, sizeof buf);
            vs_err e = {0};
            ck_assert_int_eq(d->ops->config_read(d, off, buf, widths[wi], &e), 0);
            ck_assert_msg(memcmp(buf, exp + off, widths[wi]) == 0,
                          "config read off %u width %u differs", off, widths[wi]);
        }
    }
    uint8_t all[VS_BLK_CFG_SIZE];
    ck_assert_int_eq(d->ops->config_read(d, 0, all, sizeof all, NULL), 0);
    ck_assert_mem_eq(all, exp, sizeof all);
}

START_TEST(config_fields)
{
    vs_blk_opts o;
    vs_blk_opts_default(&o);
    o.capacity_sectors = 0x123456; /* > 1008 * 65535? no: cylinders = 0x123456/1008 */
    o.num_queues = 3;
    o.size_max = 0x10000;
    o.seg_max = 126;
    o.blk_size = 4096;
    o.physical_block_exp = 3;
    o.alignment_offset = 1;
    o.min_io_size = 8;
    o.opt_io_size = 0x100;
    o.writeback = true;
    o.max_discard_sectors = 0x1111;
    o.max_discard_seg = 5;
    o.discard_sector_alignment = 8;
    o.max_write_zeroes_sectors = 0x2222;
    o.max_write_zeroes_seg = 6;
    o.write_zeroes_may_unmap = true;
    vs_device *d = mkdev(&o);
    uint8_t exp[VS_BLK_CFG_SIZE] = {0};
    put(exp + VS_BLK_CFG_CAPACITY, 0x123456, 8);
    put(exp + VS_BLK_CFG_SIZE_MAX, 0x10000, 4);
    put(exp + VS_BLK_CFG_SEG_MAX, 126, 4);
    put(exp + VS_BLK_CFG_CYLINDERS, 0x123456 / 1008, 2);
    exp[VS_BLK_CFG_HEADS] = 16;
    exp[VS_BLK_CFG_SECTORS] = 63;
    put(exp + VS_BLK_CFG_BLK_SIZE, 4096, 4);
    exp[VS_BLK_CFG_PHYS_BLOCK_EXP] = 3;
    exp[VS_BLK_CFG_ALIGN_OFFSET] = 1;
    put(exp + VS_BLK_CFG_MIN_IO_SIZE, 8, 2);
    put(exp + VS_BLK_CFG_OPT_IO_SIZE, 0x100, 4);
    exp[VS_BLK_CFG_WRITEBACK] = 1;
    put(exp + VS_BLK_CFG_NUM_QUEUES, 3, 2);
    put(exp + VS_BLK_CFG_MAX_DISCARD_SECTORS, 0x1111, 4);
    put(exp + VS_BLK_CFG_MAX_DISCARD_SEG, 5, 4);
    put(exp + VS_BLK_CFG_DISCARD_SECTOR_ALIGN, 8, 4);
    put(exp + VS_BLK_CFG_MAX_WZ_SECTORS, 0x2222, 4);
    put(exp + VS_BLK_CFG_MAX_WZ_SEG, 6, 4);
    exp[VS_BLK_CFG_WZ_MAY_UNMAP] = 1;
    check_all_widths(d, exp);

    vs_err e = {0};
    uint8_t b[8];
    ck_assert_int_eq(d->ops->config_read(d, 57, b, 4, &e), -VS_ERANGE);
    ck_assert_str_ne(e.msg, "");
    ck_assert_int_eq(d->ops->config_read(d, UINT32_MAX, b, 2, &e), -VS_ERANGE);
    ck_assert_int_eq(d->ops->config_write(d, 60, b, 1, &e), -VS_ERANGE);
    d->ops->destroy(d);
}
END_TEST

START_TEST(config_absent_fields_zero)
{
    vs_blk_opts o;
    vs_blk_opts_default(&o);
    o.capacity_sectors = 4096;
    o.flush = o.config_wce = o.discard = o.write_zeroes = o.topology = o.geometry = false;
    o.seg_max = 7;
    vs_device *d = mkdev(&o);
    uint8_t exp[VS_BLK_CFG_SIZE] = {0};
    put(exp + VS_BLK_CFG_CAPACITY, 4096, 8);
    put(exp + VS_BLK_CFG_SEG_MAX, 7, 4);
    check_all_widths(d, exp);
    d->ops->destroy(d);
}
END_TEST

static uint8_t read_wb(vs_device *d)
{
    uint8_t v = 0xff;
    ck_assert_int_eq(d->ops->config_read(d, VS_BLK_CFG_WRITEBACK, &v, 1, NULL), 0);
    return v;
}

START_TEST(config_wce_write)
{
    vs_device *d = mkdefault(); /* writeback = 1 initially */
    uint8_t zero = 0, one = 1, two = 2;
    ck_assert_uint_eq(read_wb(d), 1);
    /* Not negotiated yet: ignored. */
    ck_assert_int_eq(d->ops->config_write(d, VS_BLK_CFG_WRITEBACK, &zero, 1, NULL), 0);
    ck_assert_uint_eq(read_wb(d), 1);
    negotiate_all(d);
    ck_assert_int_eq(d->ops->config_write(d, VS_BLK_CFG_WRITEBACK, &zero, 1, NULL), 0);
    ck_assert_uint_eq(read_wb(d), 0);
    ck_assert_int_eq(d->ops->config_write(d, VS_BLK_CFG_WRITEBACK, &two, 1, NULL), 0);
    ck_assert_uint_eq(read_wb(d), 0);
    ck_assert_int_eq(d->ops->config_write(d, VS_BLK_CFG_WRITEBACK, &one, 1, NULL), 0);
    ck_assert_uint_eq(read_wb(d), 1);
    /* Wider write covering writeback: only writeback changes. */
    uint8_t w4[4] = {0, 0x77, 0x77, 0x77};
    ck_assert_int_eq(d->ops->config_write(d, VS_BLK_CFG_WRITEBACK, w4, 4, NULL), 0);
    ck_assert_uint_eq(read_wb(d), 0);
    uint8_t r4[4];
    ck_assert_int_eq(d->ops->config_read(d, VS_BLK_CFG_WRITEBACK, r4, 4, NULL), 0);
    ck_assert_uint_eq(r4[1], 0);
    ck_assert_uint_eq(r4[2], 0);
    /* Other fields: writes ignored. */
    uint8_t cap[8] = {1, 2, 3, 4, 5, 6, 7, 8}, now[8];
    ck_assert_int_eq(d->ops->config_write(d, VS_BLK_CFG_CAPACITY, cap, 8, NULL), 0);
    ck_assert_int_eq(d->ops->config_read(d, VS_BLK_CFG_CAPACITY, now, 8, NULL), 0);
    ck_assert_uint_eq(now[0] | now[1] << 8, 2048);
    /* Reset restores the initial value and clears driver features. */
    d->ops->reset(d);
    ck_assert_uint_eq(read_wb(d), 1);
    ck_assert_uint_eq(d->driver_features, 0);
    d->ops->destroy(d);
}
END_TEST

START_TEST(config_wce_without_flush_forces_writethrough)
{
    vs_device *d = mkdefault();
    ck_assert_uint_eq(read_wb(d), 1);
    negotiate(d, VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_BLK_F_CONFIG_WCE));
    ck_assert_uint_eq(read_wb(d), 0);
    d->ops->reset(d);
    ck_assert_uint_eq(read_wb(d), 1);
    negotiate(d, VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_BLK_F_CONFIG_WCE) | VS_BIT(VS_BLK_F_FLUSH));
    ck_assert_uint_eq(read_wb(d), 1);
    d->ops->destroy(d);
}
END_TEST

/* ------------------------------------------------------------------ IN / OUT */

START_TEST(out_in_split_segments)
{
    vs_device *d = mkdefault();
    negotiate_all(d);
    enum { LEN = 1536 };
    uint8_t data[LEN], back[LEN];
    pattern(data, LEN, 1);

    /* OUT: header split 5 + 11, data split 3 / 509 / 1000 / 24; the header's second
     * piece shares no segment with data. Then another with header+data sharing a seg. */
    tchain t;
    uint32_t outs[] = {5, 11, 3, 509, 1000, 24, 0};
    uint32_t ins[] = {1, 0};
    tc_build(&t, outs, ins);
    tc_hdr(&t, VS_BLK_T_OUT, 10);
    tc_io(&t, false, 16, data, LEN, true);
    vs_err e = {0};
    uint32_t w = 99;
    ck_assert_int_eq(handle(d, &t, &w, &e), 0);
    ck_assert_uint_eq(tc_status(&t), VS_BLK_S_OK);
    ck_assert_uint_eq(w, 1);
    ck_assert_int_eq(vs_blk_storage_read(d, 10, back, 3, NULL), 0);
    ck_assert_mem_eq(back, data, LEN);

    /* header + first data bytes in one segment */
    pattern(data, LEN, 2);
    uint32_t outs2[] = {9, 7 + 100, 1436, 0};
    tc_build(&t, outs2, ins);
    tc_hdr(&t, VS_BLK_T_OUT, 20);
    tc_io(&t, false, 16, data, LEN, true);
    ck_assert_int_eq(handle(d, &t, &w, &e), 0);
    ck_assert_uint_eq(tc_status(&t), VS_BLK_S_OK);
    ck_assert_int_eq(vs_blk_storage_read(d, 20, back, 3, NULL), 0);
    ck_assert_mem_eq(back, data, LEN);

    /* IN: header split 15 + 1, writable split 7 / 1000 / 400 / 129+status. */
    uint32_t outs3[] = {15, 1, 0};
    uint32_t ins3[] = {7, 1000, 400, 130, 0};
    tc_build(&t, outs3, ins3);
    tc_hdr(&t, VS_BLK_T_IN, 20);
    ck_assert_int_eq(handle(d, &t, &w, &e), 0);
    ck_assert_uint_eq(tc_status(&t), VS_BLK_S_OK);
    ck_assert_uint_eq(w, LEN + 1);
    memset(back, 0, LEN);
    tc_io(&t, true, 0, back, LEN, false);
    ck_assert_mem_eq(back, data, LEN);

    /* IN: status alone in a last 1-byte segment, zero-length segments in between. */
    uint32_t ins4[] = {512, 1, 0};
    tc_build(&t, outs3, ins4);
    tc_add(&t, 0, true); /* trailing empty writable segment */
    tc_hdr(&t, VS_BLK_T_IN, 10);
    ck_assert_int_eq(handle(d, &t, &w, &e), 0);
    ck_assert_uint_eq(tc_status(&t), VS_BLK_S_OK);
    ck_assert_uint_eq(w, 513);
    pattern(data, LEN, 1);
    tc_io(&t, true, 0, back, 512, false);
    ck_assert_mem_eq(back, data, 512);
    d->ops->destroy(d);
}
END_TEST

START_TEST(in_out_zero_length_and_boundary)
{
    vs_device *d = mkdefault(); /* 2048 sectors */
    negotiate_all(d);
    uint8_t buf[1024];
    uint32_t w;
    ck_assert_uint_eq(do_in(d, 5, buf, 0, &w), VS_BLK_S_OK);
    ck_assert_uint_eq(w, 1);
    ck_assert_uint_eq(do_out(d, 5, buf, 0, &w), VS_BLK_S_OK);
    ck_assert_uint_eq(w, 1);
    pattern(buf, sizeof buf, 9);
    ck_assert_uint_eq(do_out(d, 2046, buf, 1024, &w), VS_BLK_S_OK); /* last 2 sectors */
    uint8_t back[1024];
    ck_assert_uint_eq(do_in(d, 2046, back, 1024, &w), VS_BLK_S_OK);
    ck_assert_mem_eq(back, buf, 1024);
    ck_assert_uint_eq(w, 1025);
    d->ops->destroy(d);
}
END_TEST

START_TEST(ioerr_out_of_range)
{
    vs_device *d = mkdefault();
    negotiate_all(d);
    fill_storage(d, 2040, 8, 0x11);
    uint8_t buf[1024];
    memset(buf, 0x22, sizeof buf);
    uint32_t w;
    ck_assert_uint_eq(do_out(d, 2047, buf, 1024, &w), VS_BLK_S_IOERR);
    ck_assert_uint_eq(w, 1);
    ck_assert(storage_is(d, 2040, 8, 0x11)); /* nothing written, not even sector 2047 */
    ck_assert_uint_eq(do_out(d, 2048, buf, 512, &w), VS_BLK_S_IOERR);
    ck_assert_uint_eq(do_out(d, UINT64_MAX, buf, 512, &w), VS_BLK_S_IOERR);
    ck_assert_uint_eq(do_in(d, 2047, buf, 1024, &w), VS_BLK_S_IOERR);
    /* the data area is zero-filled and used len covers the writable part */
    ck_assert(all_bytes(buf, 1024, 0));
    ck_assert_uint_eq(w, 1025);
    ck_assert_uint_eq(do_in(d, UINT64_MAX - 1, buf, 1024, &w), VS_BLK_S_IOERR);
    ck_assert_uint_eq(do_in(d, 2048, buf, 0, &w), VS_BLK_S_OK); /* empty at the end: ok */
    d->ops->destroy(d);
}
END_TEST

START_TEST(ioerr_unaligned_length)
{
    vs_device *d = mkdefault();
    negotiate_all(d);
    fill_storage(d, 0, 4, 0x33);
    uint8_t buf[1000];
    memset(buf, 0x44, sizeof buf);
    uint32_t w;
    ck_assert_uint_eq(do_out(d, 0, buf, 1000, &w), VS_BLK_S_IOERR);
    ck_assert(storage_is(d, 0, 4, 0x33));
    ck_assert_uint_eq(do_in(d, 0, buf, 700, &w), VS_BLK_S_IOERR);
    ck_assert_uint_eq(w, 701);
    ck_assert(all_bytes(buf, 700, 0));
    d->ops->destroy(d);
}
END_TEST

START_TEST(read_only_device)
{
    vs_blk_opts o;
    vs_blk_opts_default(&o);
    o.read_only = true;
    vs_device *d = mkdev(&o);
    negotiate_all(d);
    fill_storage(d, 0, 16, 0x55);
    uint8_t buf[512];
    memset(buf, 0x66, sizeof buf);
    uint32_t w;
    ck_assert_uint_eq(do_out(d, 0, buf, 512, &w), VS_BLK_S_IOERR);
    ck_assert_uint_eq(w, 1);
    ck_assert(storage_is(d, 0, 16, 0x55));
    uint64_t seg[1][3] = {{0, 8, 0}};
    ck_assert_uint_eq(do_dwz(d, VS_BLK_T_WRITE_ZEROES, seg, 1, &w), VS_BLK_S_IOERR);
    ck_assert_uint_eq(do_dwz(d, VS_BLK_T_DISCARD, seg, 1, &w), VS_BLK_S_IOERR);
    ck_assert(storage_is(d, 0, 16, 0x55));
    ck_assert_uint_eq(do_in(d, 0, buf, 512, &w), VS_BLK_S_OK);
    ck_assert(all_bytes(buf, 512, 0x55));
    d->ops->destroy(d);
}
END_TEST

/* ------------------------------------------------------------------ FLUSH / GET_ID */

static uint8_t do_simple(vs_device *d, uint32_t type, uint64_t sector, uint32_t in_len,
                         uint32_t *w, tchain *t)
{
    uint32_t outs[] = {16, 0};
    uint32_t ins[] = {in_len, 0};
    tc_build(t, outs, ins);
    tc_hdr(t, type, sector);
    vs_err e = {0};
    int rc = handle(d, t, w, &e);
    ck_assert_msg(rc == 0, "%s", e.msg);
    return tc_status(t);
}

START_TEST(flush_requests)
{
    vs_device *d = mkdefault();
    tchain t;
    uint32_t w;
    negotiate(d, VS_BIT(VS_F_VERSION_1)); /* FLUSH offered, not negotiated */
    ck_assert_uint_eq(do_simple(d, VS_BLK_T_FLUSH, 0, 1, &w, &t), VS_BLK_S_UNSUPP);
    ck_assert_uint_eq(w, 1);
    negotiate(d, VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_BLK_F_FLUSH));
    ck_assert_uint_eq(do_simple(d, VS_BLK_T_FLUSH, 0, 1, &w, &t), VS_BLK_S_OK);
    ck_assert_uint_eq(w, 1);
    d->ops->destroy(d);

    vs_blk_opts o;
    vs_blk_opts_default(&o);
    o.flush = o.config_wce = false;
    d = mkdev(&o);
    negotiate_all(d);
    ck_assert_uint_eq(do_simple(d, VS_BLK_T_FLUSH, 0, 1, &w, &t), VS_BLK_S_UNSUPP);
    d->ops->destroy(d);
}
END_TEST

START_TEST(get_id_padding_truncation)
{
    vs_blk_opts o;
    vs_blk_opts_default(&o);
    o.serial = "SER-42";
    vs_device *d = mkdev(&o);
    negotiate_all(d);
    tchain t;
    uint32_t w;
    uint8_t id[40];
    ck_assert_uint_eq(do_simple(d, VS_BLK_T_GET_ID, 0, 21, &w, &t), VS_BLK_S_OK);
    ck_assert_uint_eq(w, 21);
    tc_io(&t, true, 0, id, 20, false);
    ck_assert_mem_eq(id, "SER-42", 6);
    ck_assert(all_bytes(id + 6, 14, 0));
    /* shorter data area: truncated */
    ck_assert_uint_eq(do_simple(d, VS_BLK_T_GET_ID, 0, 4, &w, &t), VS_BLK_S_OK);
    ck_assert_uint_eq(w, 4);
    tc_io(&t, true, 0, id, 3, false);
    ck_assert_mem_eq(id, "SER", 3);
    /* longer data area: zero padded all the way */
    ck_assert_uint_eq(do_simple(d, VS_BLK_T_GET_ID, 0, 33, &w, &t), VS_BLK_S_OK);
    ck_assert_uint_eq(w, 33);
    tc_io(&t, true, 0, id, 32, false);
    ck_assert(all_bytes(id + 6, 26, 0));
    /* split writable segments: 2 / 19 (incl. status) */
    uint32_t outs[] = {16, 0};
    uint32_t ins[] = {2, 19, 0};
    tc_build(&t, outs, ins);
    tc_hdr(&t, VS_BLK_T_GET_ID, 0);
    ck_assert_int_eq(handle(d, &t, &w, NULL), 0);
    tc_io(&t, true, 0, id, 20, false);
    ck_assert_mem_eq(id, "SER-42\0\0", 8);
    d->ops->destroy(d);

    /* exactly 20 bytes: no NUL terminator */
    o.serial = "ABCDEFGHIJKLMNOPQRST";
    d = mkdev(&o);
    ck_assert_uint_eq(do_simple(d, VS_BLK_T_GET_ID, 0, 21, &w, &t), VS_BLK_S_OK);
    tc_io(&t, true, 0, id, 20, false);
    ck_assert_mem_eq(id, "ABCDEFGHIJKLMNOPQRST", 20);
    d->ops->destroy(d);
}
END_TEST

START_TEST(unsupported_types)
{
    vs_device *d = mkdefault();
    negotiate_all(d);
    tchain t;
    uint32_t w;
    static const uint32_t types[] = {2, 3, VS_BLK_T_GET_LIFETIME, VS_BLK_T_SECURE_ERASE, 16,
                                     99, 0x80000000u, 0x80000001u};
    for (unsigned i = 0; i < sizeof types / sizeof types[0]; i++) {
        ck_assert_uint_eq(do_simple(d, types[i], 0, 1, &w, &t), VS_BLK_S_UNSUPP);
        ck_assert_uint_eq(w, 1);
    }
    /* with a data area: zero-filled, whole writable part reported */
    ck_assert_uint_eq(do_simple(d, VS_BLK_T_GET_LIFETIME, 0, 7, &w, &t), VS_BLK_S_UNSUPP);
    ck_assert_uint_eq(w, 7);
    uint8_t buf[6];
    tc_io(&t, true, 0, buf, 6, false);
    ck_assert(all_bytes(buf, 6, 0));
    d->ops->destroy(d);
}
END_TEST

/* ------------------------------------------------------------------ zoned */

/* 8 zones of 2048 sectors: zone 0 conventional, 1..7 SWR; zone 6 read-only, 7 offline. */
static vs_device *mkzoned(uint8_t model)
{
    vs_blk_opts o;
    vs_blk_opts_default(&o);
    o.capacity_sectors = 8 * 2048;
    o.zoned = (vs_blk_zoned_opts){.on = true, .model = model, .zone_sectors = 2048,
                                  .conventional_zones = 1, .max_open_zones = 2,
                                  .max_active_zones = 3, .max_append_sectors = 16,
                                  .read_only_zones = 1u << 6, .offline_zones = 1u << 7};
    return mkdev(&o);
}

static uint8_t zone_append(vs_device *d, uint64_t sector, uint32_t nsec, uint64_t *as)
{
    tchain t;
    uint32_t outs[] = {16, nsec * 512, 0}, ins[] = {8, 1, 0};
    tc_build(&t, outs, ins);
    tc_hdr(&t, VS_BLK_T_ZONE_APPEND, sector);
    vs_err e = {0};
    uint32_t w = 0;
    ck_assert_msg(handle(d, &t, &w, &e) == 0, "append: %s", e.msg);
    ck_assert_uint_eq(w, 9);
    uint8_t b[8];
    tc_io(&t, true, 0, b, 8, false);
    *as = 0;
    for (int i = 7; i >= 0; i--)
        *as = *as << 8 | b[i];
    return tc_status(&t);
}

/* The first n zone descriptors from sector: states and write pointers. */
static void zone_report(vs_device *d, uint64_t sector, unsigned n, uint8_t *st, uint64_t *wp)
{
    tchain t;
    uint32_t len = 64 + 64 * n;
    uint8_t buf[64 + 64 * 8];
    ck_assert_uint_le(n, 8);
    ck_assert_uint_eq(do_simple(d, VS_BLK_T_ZONE_REPORT, sector, len + 1, &(uint32_t){0}, &t),
                      VS_BLK_S_OK);
    tc_io(&t, true, 0, buf, len, false);
    ck_assert_uint_eq(buf[0], n);
    for (unsigned i = 0; i < n; i++) {
        const uint8_t *z = buf + 64 + 64 * i;
        st[i] = z[25];
        wp[i] = 0;
        for (int k = 7; k >= 0; k--)
            wp[i] = wp[i] << 8 | z[16 + k];
    }
}

START_TEST(zoned_config_and_features)
{
    vs_device *d = mkzoned(VS_BLK_Z_HM);
    uint64_t f = d->ops->device_features(d);
    ck_assert(f & VS_BIT(VS_BLK_F_ZONED));
    ck_assert(!(f & VS_BIT(VS_BLK_F_DISCARD)) && !(f & VS_BIT(VS_BLK_F_WRITE_ZEROES)));
    ck_assert_uint_eq(d->ops->config_size(d), VS_BLK_CFG_SIZE_ZONED);
    uint8_t cfg[VS_BLK_CFG_SIZE_ZONED];
    ck_assert_int_eq(d->ops->config_read(d, 0, cfg, sizeof cfg, NULL), 0);
    ck_assert_uint_eq(cfg[VS_BLK_CFG_ZONE_SECTORS + 1], 2048 >> 8);
    ck_assert_uint_eq(cfg[VS_BLK_CFG_MAX_APPEND_SECTORS], 16);
    ck_assert_uint_eq(cfg[VS_BLK_CFG_WRITE_GRANULARITY + 1], 512 >> 8);
    ck_assert_uint_eq(cfg[VS_BLK_CFG_ZONED_MODEL], VS_BLK_Z_HM);
    ck_assert(all_bytes(cfg + VS_BLK_CFG_ZONED_MODEL + 1, 3, 0));
    vs_err e = {0}; /* host-managed: ZONED declined, FEATURES_OK refused */
    ck_assert_int_lt(d->ops->accept_features(d, f & ~VS_BIT(VS_BLK_F_ZONED), &e), 0);
    d->ops->destroy(d);
    d = mkzoned(VS_BLK_Z_HA); /* host-aware: proceeds, zoned fields read 0 */
    negotiate(d, d->ops->device_features(d) & ~VS_BIT(VS_BLK_F_ZONED));
    ck_assert_int_eq(d->ops->config_read(d, 0, cfg, sizeof cfg, NULL), 0);
    ck_assert(all_bytes(cfg + VS_BLK_CFG_ZONE_SECTORS, 24, 0));
    tchain t;
    uint32_t w;
    ck_assert_uint_eq(do_simple(d, VS_BLK_T_ZONE_RESET_ALL, 0, 1, &w, &t), VS_BLK_S_UNSUPP);
    d->ops->destroy(d);
}
END_TEST

START_TEST(zoned_write_pointer_and_append)
{
    vs_device *d = mkzoned(VS_BLK_Z_HM);
    negotiate_all(d);
    uint8_t buf[8 * 512], st[8];
    uint64_t wp[8], as;
    pattern(buf, sizeof buf, 3);
    ck_assert_uint_eq(do_out(d, 2048, buf, 4096, NULL), VS_BLK_S_OK);
    ck_assert_uint_eq(do_out(d, 2048, buf, 512, NULL), VS_BLK_S_ZONE_UNALIGNED_WP);
    ck_assert_uint_eq(zone_append(d, 2048, 4, &as), VS_BLK_S_OK);
    ck_assert_uint_eq(as, 2056);
    ck_assert_uint_eq(zone_append(d, 2050, 4, &as), VS_BLK_S_ZONE_INVALID_CMD);
    ck_assert_uint_eq(zone_append(d, 2048, 17, &as), VS_BLK_S_ZONE_INVALID_CMD);
    ck_assert_uint_eq(zone_append(d, 0, 4, &as), VS_BLK_S_ZONE_INVALID_CMD);
    ck_assert_uint_eq(do_out(d, 0, buf, 512, NULL), VS_BLK_S_OK); /* conventional */
    ck_assert_uint_eq(do_out(d, 6 * 2048, buf, 512, NULL), VS_BLK_S_ZONE_INVALID_CMD);
    ck_assert_uint_eq(do_in(d, 7 * 2048, buf, 512, NULL), VS_BLK_S_ZONE_INVALID_CMD);
    ck_assert_uint_eq(do_in(d, 4096 - 1, buf, 1024, NULL), VS_BLK_S_ZONE_INVALID_CMD);
    zone_report(d, 0, 8, st, wp);
    ck_assert_uint_eq(st[0], VS_BLK_ZS_NOT_WP);
    ck_assert_uint_eq(st[1], VS_BLK_ZS_IOPEN);
    ck_assert_uint_eq(wp[1], 2060);
    ck_assert_uint_eq(st[2], VS_BLK_ZS_EMPTY);
    ck_assert_uint_eq(st[6], VS_BLK_ZS_RDONLY);
    ck_assert_uint_eq(st[7], VS_BLK_ZS_OFFLINE);
    /* reset: the written sectors read as zeroes again */
    tchain t;
    uint32_t w;
    ck_assert_uint_eq(do_simple(d, VS_BLK_T_ZONE_RESET, 2048, 1, &w, &t), VS_BLK_S_OK);
    ck_assert_uint_eq(do_in(d, 2048, buf, 4096, NULL), VS_BLK_S_OK);
    ck_assert(all_bytes(buf, 4096, 0));
    d->ops->destroy(d);
}
END_TEST

START_TEST(zoned_resources_and_management)
{
    vs_device *d = mkzoned(VS_BLK_Z_HM);
    negotiate_all(d);
    tchain t;
    uint32_t w;
    uint8_t buf[512];
    memset(buf, 1, sizeof buf);
    ck_assert_uint_eq(do_simple(d, VS_BLK_T_ZONE_OPEN, 0, 1, &w, &t), VS_BLK_S_ZONE_INVALID_CMD);
    ck_assert_uint_eq(do_simple(d, VS_BLK_T_ZONE_CLOSE, 2048, 1, &w, &t),
                      VS_BLK_S_ZONE_INVALID_CMD); /* empty */
    ck_assert_uint_eq(do_out(d, 2048, buf, 512, NULL), VS_BLK_S_OK);
    ck_assert_uint_eq(do_simple(d, VS_BLK_T_ZONE_CLOSE, 2048, 1, &w, &t), VS_BLK_S_OK);
    ck_assert_uint_eq(do_simple(d, VS_BLK_T_ZONE_OPEN, 4096, 1, &w, &t), VS_BLK_S_OK);
    ck_assert_uint_eq(do_simple(d, VS_BLK_T_ZONE_OPEN, 6144, 1, &w, &t), VS_BLK_S_OK);
    /* 2 open (the limit), 3 active (the limit) */
    ck_assert_uint_eq(do_simple(d, VS_BLK_T_ZONE_OPEN, 8192, 1, &w, &t),
                      VS_BLK_S_ZONE_ACTIVE_RESOURCE);
    ck_assert_uint_eq(do_simple(d, VS_BLK_T_ZONE_OPEN, 2048, 1, &w, &t),
                      VS_BLK_S_ZONE_OPEN_RESOURCE);
    ck_assert_uint_eq(do_out(d, 2049, buf, 512, NULL), VS_BLK_S_ZONE_OPEN_RESOURCE);
    ck_assert_uint_eq(do_simple(d, VS_BLK_T_ZONE_FINISH, 4096, 1, &w, &t), VS_BLK_S_OK);
    ck_assert_uint_eq(do_simple(d, VS_BLK_T_ZONE_OPEN, 4096, 1, &w, &t),
                      VS_BLK_S_ZONE_INVALID_CMD); /* full */
    ck_assert_uint_eq(do_simple(d, VS_BLK_T_ZONE_RESET, 6 * 2048, 1, &w, &t),
                      VS_BLK_S_ZONE_INVALID_CMD); /* read-only */
    ck_assert_uint_eq(do_simple(d, VS_BLK_T_ZONE_RESET_ALL, 0, 1, &w, &t), VS_BLK_S_OK);
    uint8_t st[8];
    uint64_t wp[8];
    zone_report(d, 2048, 4, st, wp);
    for (unsigned i = 0; i < 4; i++) {
        ck_assert_uint_eq(st[i], VS_BLK_ZS_EMPTY);
        ck_assert_uint_eq(wp[i], 2048 * (i + 1));
    }
    d->ops->destroy(d);
}
END_TEST

START_TEST(zoned_create_validation)
{
    vs_blk_opts o;
    vs_blk_opts_default(&o);
    o.zoned.on = true;
    vs_device *d = NULL;
    vs_err e = {0};
    ck_assert_int_lt(vs_blk_create(&d, gm, &o, &e), 0); /* no zone size */
    o.zoned.zone_sectors = 1024;
    o.zoned.zone_capacity = 2048;
    ck_assert_int_lt(vs_blk_create(&d, gm, &o, &e), 0);
    o.zoned.zone_capacity = 0;
    o.zoned.write_granularity = 1000;
    ck_assert_int_lt(vs_blk_create(&d, gm, &o, &e), 0);
    o.zoned.write_granularity = 4096;
    ck_assert_int_eq(vs_blk_create(&d, gm, &o, &e), 0);
    d->ops->destroy(d);
}
END_TEST

/* ------------------------------------------------------------------ DISCARD / WZ */

START_TEST(write_zeroes_ok)
{
    vs_device *d = mkdefault();
    negotiate_all(d);
    fill_storage(d, 0, 64, 0x77);
    uint64_t segs[3][3] = {{1, 2, 0}, {10, 5, VS_BLK_F_DWZ_UNMAP}, {63, 1, 0}};
    uint32_t w = 0;
    ck_assert_uint_eq(do_dwz(d, VS_BLK_T_WRITE_ZEROES, segs, 3, &w), VS_BLK_S_OK);
    ck_assert_uint_eq(w, 1);
    ck_assert(storage_is(d, 0, 1, 0x77));
    ck_assert(storage_is(d, 1, 2, 0));
    ck_assert(storage_is(d, 3, 7, 0x77));
    ck_assert(storage_is(d, 10, 5, 0));
    ck_assert(storage_is(d, 15, 48, 0x77));
    ck_assert(storage_is(d, 63, 1, 0));
    /* segment payload split oddly across descriptors */
    fill_storage(d, 0, 64, 0x77);
    tchain t;
    uint32_t outs[] = {16, 5, 11, 0};
    uint32_t ins[] = {1, 0};
    tc_build(&t, outs, ins);
    tc_hdr(&t, VS_BLK_T_WRITE_ZEROES, 0);
    uint8_t raw[16] = {4, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0};
    tc_io(&t, false, 16, raw, 16, true);
    ck_assert_int_eq(handle(d, &t, &w, NULL), 0);
    ck_assert_uint_eq(tc_status(&t), VS_BLK_S_OK);
    ck_assert(storage_is(d, 4, 3, 0));
    ck_assert(storage_is(d, 7, 1, 0x77));
    ck_assert(storage_is(d, 0, 4, 0x77));
    d->ops->destroy(d);
}
END_TEST

START_TEST(write_zeroes_limits_and_flags)
{
    vs_blk_opts o;
    vs_blk_opts_default(&o);
    o.max_write_zeroes_seg = 2;
    o.max_write_zeroes_sectors = 16;
    vs_device *d = mkdev(&o);
    negotiate_all(d);
    fill_storage(d, 0, 64, 0x77);
    uint32_t w;
    uint64_t three[3][3] = {{0, 1, 0}, {2, 1, 0}, {4, 1, 0}};
    ck_assert_uint_eq(do_dwz(d, VS_BLK_T_WRITE_ZEROES, three, 3, &w), VS_BLK_S_IOERR);
    ck_assert_uint_eq(do_dwz(d, VS_BLK_T_WRITE_ZEROES, three, 2, &w), VS_BLK_S_OK);
    fill_storage(d, 0, 64, 0x77);
    uint64_t big[1][3] = {{0, 17, 0}};
    ck_assert_uint_eq(do_dwz(d, VS_BLK_T_WRITE_ZEROES, big, 1, &w), VS_BLK_S_IOERR);
    uint64_t edge[1][3] = {{2040, 9, 0}};
    ck_assert_uint_eq(do_dwz(d, VS_BLK_T_WRITE_ZEROES, edge, 1, &w), VS_BLK_S_IOERR);
    uint64_t wrap[1][3] = {{UINT64_MAX - 1, 4, 0}};
    ck_assert_uint_eq(do_dwz(d, VS_BLK_T_WRITE_ZEROES, wrap, 1, &w), VS_BLK_S_IOERR);
    uint64_t badflag[2][3] = {{0, 1, 0}, {8, 1, 2}};
    ck_assert_uint_eq(do_dwz(d, VS_BLK_T_WRITE_ZEROES, badflag, 2, &w), VS_BLK_S_UNSUPP);
    uint64_t hiflag[1][3] = {{0, 1, 0x80000001u}};
    ck_assert_uint_eq(do_dwz(d, VS_BLK_T_WRITE_ZEROES, hiflag, 1, &w), VS_BLK_S_UNSUPP);
    /* a failing request changes nothing (first segment valid) */
    uint64_t mixed[2][3] = {{0, 1, 0}, {2047, 2, 0}};
    ck_assert_uint_eq(do_dwz(d, VS_BLK_T_WRITE_ZEROES, mixed, 2, &w), VS_BLK_S_IOERR);
    ck_assert(storage_is(d, 0, 64, 0x77));
    /* empty payload / not a multiple of 16 */
    ck_assert_uint_eq(do_dwz(d, VS_BLK_T_WRITE_ZEROES, NULL, 0, &w), VS_BLK_S_IOERR);
    tchain t;
    uint32_t outs[] = {16, 20, 0};
    uint32_t ins[] = {1, 0};
    tc_build(&t, outs, ins);
    tc_hdr(&t, VS_BLK_T_WRITE_ZEROES, 0);
    ck_assert_int_eq(handle(d, &t, &w, NULL), 0);
    ck_assert_uint_eq(tc_status(&t), VS_BLK_S_IOERR);
    ck_assert(storage_is(d, 0, 64, 0x77));
    /* not negotiated */
    negotiate(d, VS_BIT(VS_F_VERSION_1));
    uint64_t one[1][3] = {{0, 1, 0}};
    ck_assert_uint_eq(do_dwz(d, VS_BLK_T_WRITE_ZEROES, one, 1, &w), VS_BLK_S_UNSUPP);
    ck_assert(storage_is(d, 0, 64, 0x77));
    d->ops->destroy(d);
}
END_TEST

START_TEST(discard_limits_and_flags)
{
    vs_blk_opts o;
    vs_blk_opts_default(&o);
    o.max_discard_seg = 2;
    o.max_discard_sectors = 32;
    o.discard_sector_alignment = 8;
    vs_device *d = mkdev(&o);
    negotiate_all(d);
    fill_storage(d, 0, 64, 0x77);
    uint32_t w;
    uint64_t ok[2][3] = {{8, 8, 0}, {32, 3, 0}};
    ck_assert_uint_eq(do_dwz(d, VS_BLK_T_DISCARD, ok, 2, &w), VS_BLK_S_OK);
    ck_assert_uint_eq(w, 1);
    ck_assert(storage_is(d, 8, 8, 0)); /* this device zeroes discarded ranges */
    ck_assert(storage_is(d, 32, 3, 0));
    ck_assert(storage_is(d, 0, 8, 0x77));
    fill_storage(d, 0, 64, 0x77);
    uint64_t unmap[1][3] = {{8, 8, VS_BLK_F_DWZ_UNMAP}};
    ck_assert_uint_eq(do_dwz(d, VS_BLK_T_DISCARD, unmap, 1, &w), VS_BLK_S_UNSUPP);
    uint64_t badflag[1][3] = {{8, 8, 4}};
    ck_assert_uint_eq(do_dwz(d, VS_BLK_T_DISCARD, badflag, 1, &w), VS_BLK_S_UNSUPP);
    uint64_t unaligned[1][3] = {{9, 8, 0}};
    ck_assert_uint_eq(do_dwz(d, VS_BLK_T_DISCARD, unaligned, 1, &w), VS_BLK_S_IOERR);
    uint64_t toolong[1][3] = {{0, 33, 0}};
    ck_assert_uint_eq(do_dwz(d, VS_BLK_T_DISCARD, toolong, 1, &w), VS_BLK_S_IOERR);
    uint64_t three[3][3] = {{0, 8, 0}, {8, 8, 0}, {16, 8, 0}};
    ck_assert_uint_eq(do_dwz(d, VS_BLK_T_DISCARD, three, 3, &w), VS_BLK_S_IOERR);
    uint64_t beyond[1][3] = {{2048, 8, 0}};
    ck_assert_uint_eq(do_dwz(d, VS_BLK_T_DISCARD, beyond, 1, &w), VS_BLK_S_IOERR);
    ck_assert(storage_is(d, 0, 64, 0x77));
    negotiate(d, VS_BIT(VS_F_VERSION_1));
    ck_assert_uint_eq(do_dwz(d, VS_BLK_T_DISCARD, ok, 1, &w), VS_BLK_S_UNSUPP);
    ck_assert(storage_is(d, 0, 64, 0x77));
    d->ops->destroy(d);
}
END_TEST

/* ------------------------------------------------------------------ malformed */

static void expect_malformed(vs_device *d, tchain *t, const char *needle)
{
    vs_err e = {0};
    uint32_t w = 1234;
    int rc = handle(d, t, &w, &e);
    ck_assert_msg(rc < 0, "expected a device error (%s)", needle);
    ck_assert_int_eq(rc, -e.code);
    ck_assert_msg(strstr(e.msg, needle) != NULL, "message '%s' lacks '%s'", e.msg, needle);
    ck_assert_uint_eq(w, 0);
}

START_TEST(malformed_chains)
{
    vs_device *d = mkdefault();
    negotiate_all(d);
    tchain t;
    /* no writable byte */
    uint32_t o16[] = {16, 0}, o16d[] = {16, 512, 0}, o15[] = {15, 0}, o8[] = {8, 7, 0};
    uint32_t i1[] = {1, 0}, i513[] = {513, 0}, i0[] = {0};
    tc_build(&t, o16d, i0);
    tc_hdr(&t, VS_BLK_T_OUT, 0);
    expect_malformed(d, &t, "status");
    tc_build(&t, o16, NULL);
    tc_add(&t, 0, true); /* zero-length writable only */
    tc_hdr(&t, VS_BLK_T_FLUSH, 0);
    expect_malformed(d, &t, "status");
    /* header shorter than 16 bytes, in one and in two segments */
    tc_build(&t, o15, i1);
    expect_malformed(d, &t, "header");
    tc_build(&t, o8, i1);
    expect_malformed(d, &t, "header");
    tc_build(&t, NULL, i513);
    expect_malformed(d, &t, "header");
    /* IN with readable data */
    tc_build(&t, o16d, i513);
    tc_hdr(&t, VS_BLK_T_IN, 0);
    expect_malformed(d, &t, "IN");
    /* OUT with writable data before the status */
    tc_build(&t, o16d, i513);
    tc_hdr(&t, VS_BLK_T_OUT, 0);
    expect_malformed(d, &t, "OUT");
    /* FLUSH / DISCARD / WRITE_ZEROES with writable data */
    uint32_t i2[] = {2, 0};
    tc_build(&t, o16, i2);
    tc_hdr(&t, VS_BLK_T_FLUSH, 0);
    expect_malformed(d, &t, "FLUSH");
    uint32_t o32[] = {16, 16, 0};
    tc_build(&t, o32, i2);
    tc_hdr(&t, VS_BLK_T_WRITE_ZEROES, 0);
    expect_malformed(d, &t, "WRITE_ZEROES");
    tc_build(&t, o32, i2);
    tc_hdr(&t, VS_BLK_T_DISCARD, 0);
    expect_malformed(d, &t, "DISCARD");
    /* GET_ID with readable data */
    tc_build(&t, o32, i1);
    tc_hdr(&t, VS_BLK_T_GET_ID, 0);
    expect_malformed(d, &t, "GET_ID");
    /* writable segment before a readable one */
    tc_build(&t, o16, i1);
    t.seg[0].write = true;
    expect_malformed(d, &t, "readable segments must precede");
    /* n_out > nseg */
    tc_build(&t, o16, i1);
    t.c.n_out = 5;
    expect_malformed(d, &t, "n_out");
    /* unmapped guest memory in the data area */
    tc_build(&t, o16, i513);
    tc_hdr(&t, VS_BLK_T_IN, 0);
    t.seg[1].gpa = GM_SIZE + 4096;
    t.seg[1].host = NULL;
    expect_malformed(d, &t, "writable segment 1");
    /* queue that does not exist */
    tc_build(&t, o16, i1);
    tc_hdr(&t, VS_BLK_T_FLUSH, 0);
    vs_err e = {0};
    uint32_t w;
    ck_assert_int_lt(d->ops->handle(d, 1, &t.c, &w, &e), 0);
    ck_assert_ptr_nonnull(strstr(e.msg, "queue 1"));
    d->ops->destroy(d);
}
END_TEST

START_TEST(multiqueue_needs_mq)
{
    vs_blk_opts o;
    vs_blk_opts_default(&o);
    o.num_queues = 2;
    vs_device *d = mkdev(&o);
    negotiate(d, VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_BLK_F_FLUSH));
    tchain t;
    uint32_t o16[] = {16, 0}, i1[] = {1, 0};
    tc_build(&t, o16, i1);
    tc_hdr(&t, VS_BLK_T_FLUSH, 0);
    uint32_t w;
    vs_err e = {0};
    ck_assert_int_lt(d->ops->handle(d, 1, &t.c, &w, &e), 0);
    ck_assert_ptr_nonnull(strstr(e.msg, "MQ"));
    negotiate(d, VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_BLK_F_FLUSH) | VS_BIT(VS_BLK_F_MQ));
    ck_assert_int_eq(d->ops->handle(d, 1, &t.c, &w, &e), 0);
    ck_assert_uint_eq(tc_status(&t), VS_BLK_S_OK);
    ck_assert_int_lt(d->ops->handle(d, 2, &t.c, &w, &e), 0);
    d->ops->destroy(d);
}
END_TEST

/* ------------------------------------------------------------------ mutations */

START_TEST(mut_bad_status)
{
    vs_device *d = mkdefault();
    negotiate_all(d);
    uint8_t buf[512] = {0};
    ck_assert_uint_eq(do_out(d, 0, buf, 512, NULL), VS_BLK_S_OK);
    d->mutations = VS_BLK_MUT_BAD_STATUS;
    ck_assert_uint_eq(do_out(d, 0, buf, 512, NULL), 7);
    ck_assert_uint_eq(do_in(d, 0, buf, 512, NULL), 7);
    /* errors keep their real status */
    ck_assert_uint_eq(do_in(d, 5000, buf, 512, NULL), VS_BLK_S_IOERR);
    d->ops->destroy(d);
}
END_TEST

START_TEST(mut_in_len_short)
{
    vs_device *d = mkdefault();
    negotiate_all(d);
    uint8_t buf[1024];
    uint32_t w;
    ck_assert_uint_eq(do_in(d, 0, buf, 1024, &w), VS_BLK_S_OK);
    ck_assert_uint_eq(w, 1025);
    d->mutations = VS_BLK_MUT_IN_LEN_SHORT;
    ck_assert_uint_eq(do_in(d, 0, buf, 1024, &w), VS_BLK_S_OK);
    ck_assert_uint_eq(w, 1024);
    d->ops->destroy(d);
}
END_TEST

START_TEST(mut_writes_readonly)
{
    vs_device *d = mkdefault();
    negotiate_all(d);
    tchain t;
    uint32_t o16[] = {6, 10, 0}, i1[] = {513, 0};
    uint8_t before[16], after[16];
    tc_build(&t, o16, i1);
    tc_hdr(&t, VS_BLK_T_IN, 3);
    tc_io(&t, false, 0, before, 16, false);
    uint32_t w;
    ck_assert_int_eq(handle(d, &t, &w, NULL), 0);
    tc_io(&t, false, 0, after, 16, false);
    ck_assert_mem_eq(before, after, 16);
    d->mutations = VS_BLK_MUT_WRITES_READONLY;
    ck_assert_int_eq(handle(d, &t, &w, NULL), 0);
    tc_io(&t, false, 0, after, 16, false);
    ck_assert(memcmp(before, after, 16) != 0);
    ck_assert_mem_eq(before, after, 4);         /* type intact */
    ck_assert_mem_eq(before + 8, after + 8, 8); /* sector intact */
    ck_assert_uint_eq(tc_status(&t), VS_BLK_S_OK);
    d->ops->destroy(d);
}
END_TEST

START_TEST(mut_accept_ro_write)
{
    vs_blk_opts o;
    vs_blk_opts_default(&o);
    o.read_only = true;
    vs_device *d = mkdev(&o);
    negotiate_all(d);
    uint8_t buf[512];
    memset(buf, 0x99, sizeof buf);
    ck_assert_uint_eq(do_out(d, 4, buf, 512, NULL), VS_BLK_S_IOERR);
    ck_assert(storage_is(d, 4, 1, 0));
    d->mutations = VS_BLK_MUT_ACCEPT_RO_WRITE;
    ck_assert_uint_eq(do_out(d, 4, buf, 512, NULL), VS_BLK_S_OK);
    ck_assert(storage_is(d, 4, 1, 0x99));
    /* only OUT is affected */
    uint64_t seg[1][3] = {{4, 1, 0}};
    ck_assert_uint_eq(do_dwz(d, VS_BLK_T_WRITE_ZEROES, seg, 1, NULL), VS_BLK_S_IOERR);
    d->ops->destroy(d);
}
END_TEST

/* ------------------------------------------------------------------ storage */

static char *mktemp_image(void)
{
    char *path = strdup("/tmp/vs-blk-test-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    return path;
}

START_TEST(file_backed_persists)
{
    char *path = mktemp_image();
    vs_blk_opts o;
    vs_blk_opts_default(&o);
    o.image_path = path;
    o.create_image = true;
    o.capacity_sectors = 64;
    vs_device *d = mkdev(&o);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_size, 64 * 512);
    negotiate_all(d);
    uint8_t data[2048], back[2048];
    pattern(data, sizeof data, 5);
    ck_assert_uint_eq(do_out(d, 7, data, sizeof data, NULL), VS_BLK_S_OK);
    /* on disk right after the request */
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, back, sizeof back, 7 * 512), (ssize_t)sizeof back);
    close(fd);
    ck_assert_mem_eq(back, data, sizeof data);
    tchain t;
    uint32_t w;
    ck_assert_uint_eq(do_simple(d, VS_BLK_T_FLUSH, 0, 1, &w, &t), VS_BLK_S_OK);
    uint64_t seg[1][3] = {{8, 1, VS_BLK_F_DWZ_UNMAP}};
    ck_assert_uint_eq(do_dwz(d, VS_BLK_T_WRITE_ZEROES, seg, 1, NULL), VS_BLK_S_OK);
    memset(data + 512, 0, 512);
    d->ops->destroy(d);

    /* recreate from the same file; capacity 0 = size from the file */
    o.create_image = false;
    o.capacity_sectors = 0;
    d = mkdev(&o);
    ck_assert_uint_eq(vs_blk_capacity(d), 64);
    negotiate_all(d);
    memset(back, 0, sizeof back);
    ck_assert_uint_eq(do_in(d, 7, back, sizeof back, NULL), VS_BLK_S_OK);
    ck_assert_mem_eq(back, data, sizeof back);
    ck_assert_int_eq(vs_blk_storage_read(d, 7, back, 4, NULL), 0);
    ck_assert_mem_eq(back, data, sizeof back);
    uint64_t disc[1][3] = {{9, 2, 0}};
    ck_assert_uint_eq(do_dwz(d, VS_BLK_T_DISCARD, disc, 1, NULL), VS_BLK_S_OK);
    ck_assert(storage_is(d, 9, 2, 0));
    /* reset keeps storage */
    d->ops->reset(d);
    negotiate_all(d);
    ck_assert_int_eq(vs_blk_storage_read(d, 7, back, 2, NULL), 0);
    ck_assert_mem_eq(back, data, 1024);
    d->ops->destroy(d);

    /* image smaller than the capacity without create_image: refused */
    o.capacity_sectors = 128;
    vs_err e = {0};
    vs_device *d2 = NULL;
    ck_assert_int_eq(vs_blk_create(&d2, gm, &o, &e), -VS_EINVAL);
    ck_assert_ptr_nonnull(strstr(e.msg, "smaller"));
    ck_assert_ptr_null(d2);
    unlink(path);
    o.capacity_sectors = 8;
    ck_assert_int_eq(vs_blk_create(&d2, gm, &o, &e), -VS_EIO);
    free(path);
}
END_TEST

START_TEST(file_writethrough_modes)
{
    /* Writes with writeback=0 (CONFIG_WCE) and with FLUSH un-negotiated succeed (they
     * fdatasync); the data is on disk either way. */
    char *path = mktemp_image();
    vs_blk_opts o;
    vs_blk_opts_default(&o);
    o.image_path = path;
    o.create_image = true;
    o.capacity_sectors = 16;
    vs_device *d = mkdev(&o);
    negotiate(d, VS_BIT(VS_F_VERSION_1));
    uint8_t data[512];
    pattern(data, sizeof data, 3);
    ck_assert_uint_eq(do_out(d, 1, data, 512, NULL), VS_BLK_S_OK);
    negotiate_all(d);
    uint8_t zero = 0;
    ck_assert_int_eq(d->ops->config_write(d, VS_BLK_CFG_WRITEBACK, &zero, 1, NULL), 0);
    ck_assert_uint_eq(do_out(d, 2, data, 512, NULL), VS_BLK_S_OK);
    d->ops->destroy(d);
    o.create_image = false;
    d = mkdev(&o);
    uint8_t back[1024];
    ck_assert_int_eq(vs_blk_storage_read(d, 1, back, 2, NULL), 0);
    ck_assert_mem_eq(back, data, 512);
    ck_assert_mem_eq(back + 512, data, 512);
    d->ops->destroy(d);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(host_io_errors_are_ioerr)
{
    /* /dev/full: reads return zeros, writes fail with ENOSPC -> IOERR status. */
    vs_blk_opts o;
    vs_blk_opts_default(&o);
    o.image_path = "/dev/full";
    o.capacity_sectors = 16;
    vs_device *d = NULL;
    vs_err e = {0};
    if (access("/dev/full", R_OK | W_OK) == 0) {
        ck_assert_msg(vs_blk_create(&d, gm, &o, &e) == 0, "%s", e.msg);
        negotiate_all(d);
        uint8_t buf[512];
        memset(buf, 0x5a, sizeof buf);
        uint32_t w;
        ck_assert_uint_eq(do_out(d, 0, buf, 512, &w), VS_BLK_S_IOERR);
        ck_assert_uint_eq(w, 1);
        uint64_t seg[1][3] = {{0, 1, 0}};
        ck_assert_uint_eq(do_dwz(d, VS_BLK_T_WRITE_ZEROES, seg, 1, NULL), VS_BLK_S_IOERR);
        ck_assert_uint_eq(do_in(d, 0, buf, 512, &w), VS_BLK_S_OK);
        ck_assert(all_bytes(buf, 512, 0));
        d->ops->destroy(d);
    }

    /* an image truncated behind the device's back: reads fail -> IOERR, data zeroed */
    char *path = mktemp_image();
    o.image_path = path;
    o.create_image = true;
    o.capacity_sectors = 16;
    d = mkdev(&o);
    negotiate_all(d);
    fill_storage(d, 0, 16, 0x42);
    ck_assert_int_eq(truncate(path, 512), 0);
    uint8_t buf[1024];
    uint32_t w;
    ck_assert_uint_eq(do_in(d, 0, buf, 512, &w), VS_BLK_S_OK);
    ck_assert(all_bytes(buf, 512, 0x42));
    ck_assert_uint_eq(do_in(d, 0, buf, 1024, &w), VS_BLK_S_IOERR);
    ck_assert_uint_eq(w, 1025);
    ck_assert(all_bytes(buf, 1024, 0));
    ck_assert_int_eq(vs_blk_storage_read(d, 2, buf, 1, &e), -VS_EIO);
    d->ops->destroy(d);
    unlink(path);
    free(path);
}
END_TEST

START_TEST(storage_api_range)
{
    vs_device *d = mkdefault();
    uint8_t buf[1024];
    vs_err e = {0};
    ck_assert_int_eq(vs_blk_storage_read(d, 2047, buf, 2, &e), -VS_ERANGE);
    ck_assert_str_ne(e.msg, "");
    ck_assert_int_eq(vs_blk_storage_write(d, 2048, buf, 1, &e), -VS_ERANGE);
    ck_assert_int_eq(vs_blk_storage_read(d, 2046, buf, 2, &e), 0);
    ck_assert_uint_eq(vs_blk_capacity(d), 2048);
    d->ops->destroy(d);
}
END_TEST

static Suite *blk_suite(void)
{
    Suite *s = suite_create("blk");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, features_offered);
    tcase_add_test(tc, features_accept_refuse);
    tcase_add_test(tc, mut_accepts_bad_features);
    tcase_add_test(tc, create_validation);
    tcase_add_test(tc, config_fields);
    tcase_add_test(tc, config_absent_fields_zero);
    tcase_add_test(tc, config_wce_write);
    tcase_add_test(tc, config_wce_without_flush_forces_writethrough);
    tcase_add_test(tc, out_in_split_segments);
    tcase_add_test(tc, in_out_zero_length_and_boundary);
    tcase_add_test(tc, ioerr_out_of_range);
    tcase_add_test(tc, ioerr_unaligned_length);
    tcase_add_test(tc, read_only_device);
    tcase_add_test(tc, flush_requests);
    tcase_add_test(tc, get_id_padding_truncation);
    tcase_add_test(tc, unsupported_types);
    tcase_add_test(tc, write_zeroes_ok);
    tcase_add_test(tc, write_zeroes_limits_and_flags);
    tcase_add_test(tc, discard_limits_and_flags);
    tcase_add_test(tc, malformed_chains);
    tcase_add_test(tc, multiqueue_needs_mq);
    tcase_add_test(tc, mut_bad_status);
    tcase_add_test(tc, mut_in_len_short);
    tcase_add_test(tc, mut_writes_readonly);
    tcase_add_test(tc, mut_accept_ro_write);
    tcase_add_test(tc, file_backed_persists);
    tcase_add_test(tc, file_writethrough_modes);
    tcase_add_test(tc, host_io_errors_are_ioerr);
    tcase_add_test(tc, storage_api_range);
    tcase_add_test(tc, zoned_config_and_features);
    tcase_add_test(tc, zoned_write_pointer_and_append);
    tcase_add_test(tc, zoned_resources_and_management);
    tcase_add_test(tc, zoned_create_validation);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(blk_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
