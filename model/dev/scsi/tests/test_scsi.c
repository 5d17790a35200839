/* Unit tests of the reference virtio-scsi device (model/dev/scsi/). Chains are built by
 * hand over flat guest memory; deferred completions are recorded by a fake transport
 * hook. No rings involved. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "virtiosim/gmem.h"
#include "virtiosim/le.h"
#include "virtiosim/scsi.h"

#define GM_SIZE (8u << 20)
#define MAXSEG 16
#define FILL 0xcc
#define RQ VS_SCSI_Q_REQ0

static vs_gmem *gm;
static uint64_t next_gpa;

typedef struct done_rec {
    uint16_t q, id;
    uint32_t written;
} done_rec;
static done_rec done[64];
static unsigned ndone;

static void rec_complete(void *ctx, uint16_t q, uint16_t id, uint32_t written)
{
    (void)ctx;
    ck_assert_uint_lt(ndone, 64);
    done[ndone++] = (done_rec){q, id, written};
}

static void setup(void)
{
    vs_err e = {0};
    ck_assert_int_eq(vs_gmem_create_flat(&gm, GM_SIZE, &e), 0);
    next_gpa = 0x1003;
    ndone = 0;
}

static void teardown(void)
{
    vs_gmem_destroy(gm);
    gm = NULL;
}

/* ------------------------------------------------------------------ chains */

typedef struct tchain {
    vs_chain c;
    vs_dseg seg[MAXSEG];
} tchain;

static void tc_init(tchain *t, uint16_t id)
{
    memset(t, 0, sizeof *t);
    t->c.seg = t->seg;
    t->c.seg_cap = MAXSEG;
    t->c.id = id;
}

static void tc_add(tchain *t, uint32_t len, bool write)
{
    ck_assert_uint_lt(t->c.nseg, MAXSEG);
    vs_dseg *s = &t->seg[t->c.nseg++];
    s->gpa = next_gpa;
    s->len = len;
    s->write = write;
    next_gpa += len + 13;
    if (next_gpa > GM_SIZE - (1u << 20))
        next_gpa = 0x1003; /* recycle: tests only look at the latest chains */
    vs_gmem_fill(gm, s->gpa, FILL, len, NULL);
    if (write) {
        t->c.in_bytes += len;
    } else {
        t->c.n_out++;
        t->c.out_bytes += len;
    }
}

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

static vs_device *mkdev(const vs_scsi_opts *o)
{
    vs_device *d = NULL;
    vs_err e = {0};
    int rc = vs_scsi_create(&d, gm, o, &e);
    ck_assert_msg(rc == 0, "create: %s", e.msg);
    d->complete = rec_complete;
    d->driver_features = d->ops->device_features(d);
    return d;
}

static vs_device *mkdev_default(void)
{
    vs_scsi_opts o;
    vs_scsi_opts_default(&o);
    return mkdev(&o);
}

/* One command. split: the header in three pieces. Returns handle()'s rc. */
typedef struct cmd {
    uint8_t target;
    uint16_t lun;
    const uint8_t *lun_raw;     /* overrides target/lun */
    uint64_t id;
    uint8_t cdb[32];
    uint32_t cdb_size;          /* 0 = 32 */
    uint32_t sense_size;        /* 0 = 96 */
    const uint8_t *dout;
    uint32_t dout_len;
    uint32_t din_cap;
    bool split;
    /* results */
    vs_scsi_cmd_resp resp;
    uint8_t din[65536];
    uint32_t written;
    tchain t;
} cmd;

static int run(vs_device *d, uint16_t q, cmd *c)
{
    uint32_t cs = c->cdb_size ? c->cdb_size : 32, ss = c->sense_size ? c->sense_size : 96;
    vs_scsi_cmd_req r = {.id = c->id, .cdb_len = cs < 32 ? cs : 32};
    memcpy(r.cdb, c->cdb, r.cdb_len);
    if (c->lun_raw)
        memcpy(r.lun, c->lun_raw, 8);
    else
        vs_scsi_lun_encode(r.lun, c->target, c->lun);
    uint8_t hdr[19 + 256 + 8];
    bool pi = (d->driver_features & VS_BIT(VS_SCSI_F_T10_PI)) != 0;
    int64_t hl = vs_scsi_cmd_req_put(hdr, sizeof hdr, cs, pi, &r);
    ck_assert_int_gt(hl, 0);
    tc_init(&c->t, (uint16_t)(c->id & 0xffff));
    if (c->split) {
        tc_add(&c->t, 5, false);
        tc_add(&c->t, 9, false);
        tc_add(&c->t, (uint32_t)hl - 14, false);
    } else {
        tc_add(&c->t, (uint32_t)hl, false);
    }
    tc_io(&c->t, false, 0, hdr, (uint64_t)hl, true);
    if (c->dout_len) {
        tc_add(&c->t, c->dout_len, false);
        tc_io(&c->t, false, (uint64_t)hl, (void *)c->dout, c->dout_len, true);
    }
    tc_add(&c->t, 12 + ss, true);
    if (c->din_cap)
        tc_add(&c->t, c->din_cap, true);
    vs_err e = {0};
    c->written = 0;
    int rc = d->ops->handle(d, q, &c->t.c, &c->written, &e);
    if (rc == 0) {
        uint8_t rb[12 + 256];
        tc_io(&c->t, true, 0, rb, 12 + (ss < 256 ? ss : 256), false);
        vs_scsi_cmd_resp_get(rb, sizeof rb, ss < 256 ? ss : 256, &c->resp);
        if (c->din_cap)
            tc_io(&c->t, true, 12 + ss, c->din, c->din_cap < sizeof c->din ? c->din_cap
                                                                            : sizeof c->din,
                  false);
    }
    return rc;
}

static void sense_is(const cmd *c, uint8_t key, uint16_t asc)
{
    ck_assert_uint_eq(c->resp.response, VS_SCSI_S_OK);
    ck_assert_uint_eq(c->resp.status, VS_SCSI_ST_CHECK_CONDITION);
    vs_scsi_sense s;
    ck_assert_int_eq(vs_scsi_sense_parse(c->resp.sense, c->resp.sense_len, &s), 0);
    ck_assert_uint_eq(s.key, key);
    ck_assert_uint_eq(s.asc, asc >> 8);
    ck_assert_uint_eq(s.ascq, asc & 0xff);
}

static void good(const cmd *c)
{
    ck_assert_uint_eq(c->resp.response, VS_SCSI_S_OK);
    ck_assert_uint_eq(c->resp.status, VS_SCSI_ST_GOOD);
    ck_assert_uint_eq(c->resp.sense_len, 0);
}

static void cdb_rw(cmd *c, uint8_t op, uint64_t lba, uint32_t n)
{
    vs_scsi_rw rw = {.opcode = op, .lba = lba, .nblocks = n};
    ck_assert_int_gt(vs_scsi_cdb_rw_build(c->cdb, &rw), 0);
}

/* ------------------------------------------------------------------ config, features */

START_TEST(config_defaults_writes_reset)
{
    vs_device *d = mkdev_default();
    ck_assert_uint_eq(d->ops->config_size(d), 36);
    ck_assert_uint_eq(d->ops->num_queues(d), 3);
    uint8_t cfg[36];
    vs_err e = {0};
    ck_assert_int_eq(d->ops->config_read(d, 0, cfg, 36, &e), 0);
    vs_scsi_config c;
    vs_scsi_config_get(cfg, &c);
    ck_assert_uint_eq(c.num_queues, 1);
    ck_assert_uint_eq(c.sense_size, 96);
    ck_assert_uint_eq(c.cdb_size, 32);
    ck_assert_uint_eq(c.event_info_size, 16);
    ck_assert_uint_eq(c.max_target, 255);
    ck_assert_uint_eq(c.max_lun, 16383);
    ck_assert_uint_eq(c.seg_max, 126);
    uint8_t b;
    ck_assert_int_eq(d->ops->config_read(d, 33, &b, 1, &e), 0);
    ck_assert_uint_eq(b, 0x3f);
    ck_assert_int_lt(d->ops->config_read(d, 35, cfg, 2, &e), 0);
    /* writable: sense_size and cdb_size; others ignored */
    uint8_t w[4];
    vs_le32_put(w, 32);
    ck_assert_int_eq(d->ops->config_write(d, VS_SCSI_CFG_SENSE_SIZE, w, 4, &e), 0);
    vs_le32_put(w, 16);
    ck_assert_int_eq(d->ops->config_write(d, VS_SCSI_CFG_CDB_SIZE, w, 4, &e), 0);
    ck_assert_int_eq(d->ops->config_write(d, VS_SCSI_CFG_NUM_QUEUES, w, 4, &e), 0);
    vs_le32_put(w, 300); /* too large: ignored */
    ck_assert_int_eq(d->ops->config_write(d, VS_SCSI_CFG_CDB_SIZE, w, 4, &e), 0);
    ck_assert_int_eq(d->ops->config_read(d, 0, cfg, 36, &e), 0);
    vs_scsi_config_get(cfg, &c);
    ck_assert_uint_eq(c.sense_size, 32);
    ck_assert_uint_eq(c.cdb_size, 16);
    ck_assert_uint_eq(c.num_queues, 1);
    d->ops->reset(d);
    ck_assert_int_eq(d->ops->config_read(d, 0, cfg, 36, &e), 0);
    vs_scsi_config_get(cfg, &c);
    ck_assert_uint_eq(c.sense_size, 96);
    ck_assert_uint_eq(c.cdb_size, 32);
    d->ops->destroy(d);

    /* mutant: reset keeps them */
    vs_scsi_opts o;
    vs_scsi_opts_default(&o);
    o.mutations = VS_SCSI_MUT_RESET_KEEPS_SIZES;
    d = mkdev(&o);
    vs_le32_put(w, 8);
    d->ops->config_write(d, VS_SCSI_CFG_SENSE_SIZE, w, 4, &e);
    d->ops->reset(d);
    d->ops->config_read(d, VS_SCSI_CFG_SENSE_SIZE, w, 4, &e);
    ck_assert_uint_eq(vs_le32_get(w), 8);
    d->ops->destroy(d);
}
END_TEST

START_TEST(features_offer_accept)
{
    vs_scsi_opts o;
    vs_scsi_opts_default(&o);
    o.hotplug = false;
    o.t10_pi = true;
    vs_device *d = mkdev(&o);
    uint64_t f = d->ops->device_features(d);
    ck_assert(f & VS_BIT(VS_F_VERSION_1));
    ck_assert(f & VS_BIT(VS_SCSI_F_INOUT));
    ck_assert(!(f & VS_BIT(VS_SCSI_F_HOTPLUG)));
    ck_assert(f & VS_BIT(VS_SCSI_F_CHANGE));
    ck_assert(f & VS_BIT(VS_SCSI_F_T10_PI));
    vs_err e = {0};
    ck_assert_int_eq(d->ops->accept_features(d, f, &e), 0);
    ck_assert_int_lt(d->ops->accept_features(d, f | VS_BIT(VS_SCSI_F_HOTPLUG), &e), 0);
    ck_assert_int_lt(d->ops->accept_features(d, VS_BIT(VS_SCSI_F_INOUT), &e), 0);
    d->ops->destroy(d);
    /* bad options */
    vs_scsi_opts_default(&o);
    o.nluns = 2; /* two LUs at 0:0 */
    ck_assert_int_lt(vs_scsi_create(&d, gm, &o, &e), 0);
    vs_scsi_opts_default(&o);
    o.luns[0].block_size = 1024;
    ck_assert_int_lt(vs_scsi_create(&d, gm, &o, &e), 0);
    vs_scsi_opts_default(&o);
    o.extra_features = 1;
    ck_assert_int_lt(vs_scsi_create(&d, gm, &o, &e), 0);
}
END_TEST

/* ------------------------------------------------------------------ commands */

START_TEST(read_write_all_sizes)
{
    vs_device *d = mkdev_default();
    static const uint8_t wr[] = {VS_SCSI_WRITE_6, VS_SCSI_WRITE_10, VS_SCSI_WRITE_12,
                                 VS_SCSI_WRITE_16};
    static const uint8_t rd[] = {VS_SCSI_READ_6, VS_SCSI_READ_10, VS_SCSI_READ_12,
                                 VS_SCSI_READ_16};
    static uint8_t data[4096], back[4096];
    static cmd c;
    for (unsigned i = 0; i < 4; i++) {
        for (unsigned k = 0; k < sizeof data; k++)
            data[k] = (uint8_t)(k * 7 + i);
        memset(&c, 0, sizeof c);
        cdb_rw(&c, wr[i], 100 + 8 * i, 8);
        c.dout = data;
        c.dout_len = 4096;
        c.split = i & 1;
        ck_assert_int_eq(run(d, RQ, &c), 0);
        good(&c);
        ck_assert_uint_eq(c.resp.residual, 0);
        ck_assert_uint_eq(c.written, 12 + 96);
        vs_err e = {0};
        ck_assert_int_eq(vs_scsi_storage_read(d, 0, 0, 100 + 8 * i, back, 8, &e), 0);
        ck_assert_mem_eq(back, data, 4096);
        memset(&c, 0, sizeof c);
        cdb_rw(&c, rd[i], 100 + 8 * i, 8);
        c.din_cap = 8192; /* larger than needed: residual */
        ck_assert_int_eq(run(d, RQ, &c), 0);
        good(&c);
        ck_assert_uint_eq(c.resp.residual, 4096);
        ck_assert_uint_eq(c.written, 12 + 96 + 4096);
        ck_assert_mem_eq(c.din, data, 4096);
    }
    /* READ CAPACITY 10 / 16 */
    memset(&c, 0, sizeof c);
    c.cdb[0] = VS_SCSI_READ_CAPACITY_10;
    c.din_cap = 8;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    good(&c);
    ck_assert_uint_eq(vs_scsi_be32_get(c.din), 2047);
    ck_assert_uint_eq(vs_scsi_be32_get(c.din + 4), 512);
    memset(&c, 0, sizeof c);
    c.cdb[0] = VS_SCSI_SERVICE_ACTION_IN_16;
    c.cdb[1] = VS_SCSI_SAI_READ_CAPACITY_16;
    vs_scsi_be32_put(c.cdb + 10, 32);
    c.din_cap = 32;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    good(&c);
    ck_assert_uint_eq(vs_scsi_be64_get(c.din), 2047);
    ck_assert_uint_eq(c.din[14] & 0x80, 0x80); /* LBPME */
    d->ops->destroy(d);
}
END_TEST

START_TEST(inquiry_vpd_report_luns)
{
    vs_scsi_opts o;
    vs_scsi_opts_default(&o);
    o.nluns = 3;
    o.luns[1] = (vs_scsi_lun_opts){.target = 0, .lun = 300, .blocks = 64};
    o.luns[2] = (vs_scsi_lun_opts){.target = 2, .lun = 1, .type = VS_SCSI_TYPE_MMC,
                                   .block_size = 2048, .blocks = 16};
    vs_device *d = mkdev(&o);
    static cmd c;
    memset(&c, 0, sizeof c);
    c.cdb[0] = VS_SCSI_INQUIRY;
    vs_scsi_be16_put(c.cdb + 3, 96);
    c.din_cap = 96;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    good(&c);
    ck_assert_uint_eq(c.din[0], 0);
    ck_assert_uint_eq(c.din[4], 31);
    ck_assert_mem_eq(c.din + 8, "VIRTIOSM", 8);
    ck_assert_uint_eq(c.resp.residual, 96 - 36);
    /* MMC LU, removable */
    c.target = 2;
    c.lun = 1;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    ck_assert_uint_eq(c.din[0], 5);
    ck_assert_uint_eq(c.din[1], 0x80);
    /* missing LU on an existing target: qualifier 3 */
    c.lun = 7;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    good(&c);
    ck_assert_uint_eq(c.din[0], 0x7f);
    /* VPD pages of a disk */
    static const uint8_t pages[] = {0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2};
    for (unsigned i = 0; i < sizeof pages; i++) {
        memset(&c, 0, sizeof c);
        c.cdb[0] = VS_SCSI_INQUIRY;
        c.cdb[1] = 1;
        c.cdb[2] = pages[i];
        vs_scsi_be16_put(c.cdb + 3, 255);
        c.din_cap = 255;
        ck_assert_int_eq(run(d, RQ, &c), 0);
        good(&c);
        ck_assert_uint_eq(c.din[1], pages[i]);
        if (pages[i] == 0)
            ck_assert_mem_eq(c.din + 4, pages, sizeof pages);
    }
    c.cdb[2] = 0xb3;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    sense_is(&c, VS_SCSI_SK_ILLEGAL_REQUEST, VS_SCSI_ASC_INVALID_FIELD_IN_CDB);
    /* REPORT LUNS of target 0: LUN 0 (peripheral), LUN 300 (flat) */
    memset(&c, 0, sizeof c);
    c.cdb[0] = VS_SCSI_REPORT_LUNS;
    vs_scsi_be32_put(c.cdb + 6, 64);
    c.din_cap = 64;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    good(&c);
    ck_assert_uint_eq(vs_scsi_be32_get(c.din), 16);
    ck_assert_uint_eq(c.din[8 + 1], 0);
    ck_assert_uint_eq(c.din[16], 0x41);
    ck_assert_uint_eq(c.din[17], 300 & 0xff);
    ck_assert_uint_eq(c.resp.residual, 64 - 24);
    /* through the REPORT LUNS well-known LU */
    uint8_t wl[8];
    vs_scsi_lun_encode_report_luns(wl);
    c.lun_raw = wl;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    good(&c);
    ck_assert_uint_eq(vs_scsi_be32_get(c.din), 16);
    memset(c.cdb, 0, sizeof c.cdb);
    c.cdb[0] = VS_SCSI_INQUIRY;
    c.cdb[4] = 36;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    good(&c);
    ck_assert_uint_eq(c.din[0], 0x1e); /* well-known logical unit */
    memset(c.cdb, 0, sizeof c.cdb);
    c.cdb[0] = VS_SCSI_REPORT_LUNS;
    /* allocation length below 16 */
    c.lun_raw = NULL;
    vs_scsi_be32_put(c.cdb + 6, 8);
    ck_assert_int_eq(run(d, RQ, &c), 0);
    sense_is(&c, VS_SCSI_SK_ILLEGAL_REQUEST, VS_SCSI_ASC_INVALID_FIELD_IN_CDB);
    d->ops->destroy(d);
}
END_TEST

START_TEST(errors_and_responses)
{
    vs_scsi_opts o;
    vs_scsi_opts_default(&o);
    o.nluns = 2;
    o.luns[1] = (vs_scsi_lun_opts){.target = 1, .lun = 0, .read_only = true};
    vs_device *d = mkdev(&o);
    static cmd c;
    /* unknown opcode */
    memset(&c, 0, sizeof c);
    c.cdb[0] = 0x3b; /* WRITE BUFFER */
    ck_assert_int_eq(run(d, RQ, &c), 0);
    sense_is(&c, VS_SCSI_SK_ILLEGAL_REQUEST, VS_SCSI_ASC_INVALID_OPCODE);
    ck_assert_uint_eq(c.resp.sense_len, 18);
    /* LBA out of range */
    memset(&c, 0, sizeof c);
    cdb_rw(&c, VS_SCSI_READ_10, 2047, 2);
    c.din_cap = 1024;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    sense_is(&c, VS_SCSI_SK_ILLEGAL_REQUEST, VS_SCSI_ASC_LBA_OUT_OF_RANGE);
    ck_assert_uint_eq(c.resp.residual, 1024);
    /* write to a read-only LU */
    static uint8_t z[512];
    memset(&c, 0, sizeof c);
    c.target = 1;
    cdb_rw(&c, VS_SCSI_WRITE_10, 0, 1);
    c.dout = z;
    c.dout_len = 512;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    sense_is(&c, VS_SCSI_SK_DATA_PROTECT, VS_SCSI_ASC_WRITE_PROTECTED);
    /* missing target: BAD_TARGET, whole residual */
    memset(&c, 0, sizeof c);
    c.target = 9;
    c.cdb[0] = VS_SCSI_TEST_UNIT_READY;
    c.din_cap = 100;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    ck_assert_uint_eq(c.resp.response, VS_SCSI_S_BAD_TARGET);
    ck_assert_uint_eq(c.resp.residual, 100);
    ck_assert_uint_eq(c.written, 12 + 96);
    /* LUN not in the single-level format */
    static const uint8_t badlun[8] = {2, 0, 0x40, 0, 0, 0, 0, 0};
    c.lun_raw = badlun;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    ck_assert_uint_eq(c.resp.response, VS_SCSI_S_BAD_TARGET);
    /* missing LU of an existing target: LOGICAL UNIT NOT SUPPORTED */
    memset(&c, 0, sizeof c);
    c.lun = 5;
    c.cdb[0] = VS_SCSI_TEST_UNIT_READY;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    sense_is(&c, VS_SCSI_SK_ILLEGAL_REQUEST, VS_SCSI_ASC_LUN_NOT_SUPPORTED);
    /* OVERRUN: READ of 4 blocks into 1024 bytes */
    memset(&c, 0, sizeof c);
    cdb_rw(&c, VS_SCSI_READ_10, 0, 4);
    c.din_cap = 1024;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    ck_assert_uint_eq(c.resp.response, VS_SCSI_S_OVERRUN);
    ck_assert_uint_eq(c.resp.residual, 1024);
    /* injected responses */
    vs_err e = {0};
    ck_assert_int_eq(vs_scsi_inject_response(d, 0, 0, VS_SCSI_S_BUSY, 1, &e), 0);
    ck_assert_int_lt(vs_scsi_inject_response(d, 0, 0, VS_SCSI_S_OK, 1, &e), 0);
    memset(&c, 0, sizeof c);
    c.cdb[0] = VS_SCSI_TEST_UNIT_READY;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    ck_assert_uint_eq(c.resp.response, VS_SCSI_S_BUSY);
    ck_assert_int_eq(run(d, RQ, &c), 0);
    good(&c);
    d->ops->destroy(d);

    /* mutants: missing target answered OK; status not SAM */
    o.mutations = VS_SCSI_MUT_BAD_TARGET_OK | VS_SCSI_MUT_STATUS_NOT_SAM;
    d = mkdev(&o);
    memset(&c, 0, sizeof c);
    c.target = 9;
    c.cdb[0] = VS_SCSI_TEST_UNIT_READY;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    sense_is(&c, VS_SCSI_SK_ILLEGAL_REQUEST, VS_SCSI_ASC_LUN_NOT_SUPPORTED);
    c.target = 0;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    ck_assert(!vs_scsi_status_is_sam(c.resp.status));
    d->ops->destroy(d);
}
END_TEST

START_TEST(inout_and_sense_truncation)
{
    vs_device *d = mkdev_default();
    static cmd c;
    static uint8_t data[512];
    memset(data, 0x5a, sizeof data);
    /* data-out and data-in without INOUT negotiated: FAILURE, nothing written */
    d->driver_features &= ~VS_BIT(VS_SCSI_F_INOUT);
    memset(&c, 0, sizeof c);
    cdb_rw(&c, VS_SCSI_WRITE_10, 5, 1);
    c.dout = data;
    c.dout_len = 512;
    c.din_cap = 512;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    ck_assert_uint_eq(c.resp.response, VS_SCSI_S_FAILURE);
    ck_assert_uint_eq(c.resp.residual, 1024);
    uint8_t back[512];
    vs_err e = {0};
    vs_scsi_storage_read(d, 0, 0, 5, back, 1, &e);
    ck_assert_uint_eq(back[0], 0);
    /* with INOUT: executed, the unused data-in is residual */
    d->driver_features |= VS_BIT(VS_SCSI_F_INOUT);
    ck_assert_int_eq(run(d, RQ, &c), 0);
    good(&c);
    ck_assert_uint_eq(c.resp.residual, 512);
    vs_scsi_storage_read(d, 0, 0, 5, back, 1, &e);
    ck_assert_uint_eq(back[0], 0x5a);
    /* sense_size 8: sense truncated, sense_len 8, nothing past it */
    uint8_t w[4];
    vs_le32_put(w, 8);
    d->ops->config_write(d, VS_SCSI_CFG_SENSE_SIZE, w, 4, &e);
    memset(&c, 0, sizeof c);
    c.sense_size = 8;
    c.cdb[0] = 0x3b;
    c.din_cap = 16;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    ck_assert_uint_eq(c.resp.status, VS_SCSI_ST_CHECK_CONDITION);
    ck_assert_uint_eq(c.resp.sense_len, 8);
    ck_assert_uint_eq(c.resp.sense[0], 0x70);
    ck_assert_uint_eq(c.din[0], FILL); /* data-in untouched */
    ck_assert_uint_eq(c.written, 20);
    d->ops->destroy(d);

    vs_scsi_opts o;
    vs_scsi_opts_default(&o);
    o.mutations = VS_SCSI_MUT_SENSE_LEN_FULL | VS_SCSI_MUT_SENSE_OVERFLOW;
    d = mkdev(&o);
    d->ops->config_write(d, VS_SCSI_CFG_SENSE_SIZE, w, 4, &e);
    ck_assert_int_eq(run(d, RQ, &c), 0);
    ck_assert_uint_eq(c.resp.sense_len, 18);
    ck_assert_uint_ne(c.din[0], FILL); /* sense spilled into the data-in */
    d->ops->destroy(d);
    o.mutations = VS_SCSI_MUT_INOUT_ACCEPTED | VS_SCSI_MUT_RESIDUAL_WRONG |
                  VS_SCSI_MUT_USED_LEN_SHORT;
    d = mkdev(&o);
    d->driver_features &= ~VS_BIT(VS_SCSI_F_INOUT);
    memset(&c, 0, sizeof c);
    cdb_rw(&c, VS_SCSI_READ_10, 0, 1);
    c.dout = data;
    c.dout_len = 512;
    c.din_cap = 512;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    good(&c);                                 /* executed without INOUT */
    ck_assert_uint_eq(c.resp.residual, 513);  /* 512 + 1 */
    ck_assert_uint_eq(c.written, 12 + 96);    /* data-in not counted */
    d->ops->destroy(d);
}
END_TEST

START_TEST(malformed_chains)
{
    vs_device *d = mkdev_default();
    vs_err e = {0};
    uint32_t w;
    tchain t;
    /* header truncated */
    tc_init(&t, 1);
    tc_add(&t, 40, false);
    tc_add(&t, 108, true);
    ck_assert_int_lt(d->ops->handle(d, RQ, &t.c, &w, &e), 0);
    ck_assert_ptr_nonnull(strstr(e.msg, "header truncated"));
    /* response buffer too short */
    tc_init(&t, 1);
    tc_add(&t, 51, false);
    tc_add(&t, 107, true);
    ck_assert_int_lt(d->ops->handle(d, RQ, &t.c, &w, &e), 0);
    ck_assert_ptr_nonnull(strstr(e.msg, "response buffer too short"));
    /* readable after writable */
    tc_init(&t, 1);
    tc_add(&t, 51, false);
    tc_add(&t, 108, true);
    t.seg[1].write = false;
    ck_assert_int_lt(d->ops->handle(d, RQ, &t.c, &w, &e), 0);
    /* no such queue */
    tc_init(&t, 1);
    tc_add(&t, 51, false);
    tc_add(&t, 108, true);
    ck_assert_int_lt(d->ops->handle(d, 3, &t.c, &w, &e), 0);
    /* unmapped guest memory */
    tc_init(&t, 1);
    tc_add(&t, 51, false);
    tc_add(&t, 108, true);
    t.seg[1].gpa = GM_SIZE + 4096;
    ck_assert_int_lt(d->ops->handle(d, RQ, &t.c, &w, &e), 0);
    /* cdb_size 6 with a 10-byte CDB: INVALID COMMAND OPERATION CODE */
    uint8_t v[4];
    vs_le32_put(v, 6);
    d->ops->config_write(d, VS_SCSI_CFG_CDB_SIZE, v, 4, &e);
    static cmd c;
    memset(&c, 0, sizeof c);
    c.cdb_size = 6;
    cdb_rw(&c, VS_SCSI_READ_10, 0, 1);
    c.din_cap = 512;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    sense_is(&c, VS_SCSI_SK_ILLEGAL_REQUEST, VS_SCSI_ASC_INVALID_OPCODE);
    cdb_rw(&c, VS_SCSI_READ_6, 0, 1); /* a 6-byte CDB fits */
    ck_assert_int_eq(run(d, RQ, &c), 0);
    good(&c);
    d->ops->destroy(d);
}
END_TEST

START_TEST(block_commands)
{
    vs_device *d = mkdev_default();
    static cmd c;
    static uint8_t pat[512], list[64];
    vs_err e = {0};
    memset(pat, 0x77, sizeof pat);
    /* WRITE SAME 16: 4 blocks of the pattern */
    memset(&c, 0, sizeof c);
    cdb_rw(&c, VS_SCSI_WRITE_SAME_16, 10, 4);
    c.dout = pat;
    c.dout_len = 512;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    good(&c);
    uint8_t back[2048];
    vs_scsi_storage_read(d, 0, 0, 10, back, 4, &e);
    ck_assert_uint_eq(back[2047], 0x77);
    /* VERIFY 10 BYTCHK 1: match, then a miscompare */
    memset(&c, 0, sizeof c);
    cdb_rw(&c, VS_SCSI_VERIFY_10, 10, 1);
    c.cdb[1] = 0x02;
    c.dout = pat;
    c.dout_len = 512;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    good(&c);
    cdb_rw(&c, VS_SCSI_VERIFY_10, 20, 1);
    c.cdb[1] = 0x02;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    sense_is(&c, VS_SCSI_SK_MISCOMPARE, VS_SCSI_ASC_MISCOMPARE_VERIFY);
    /* UNMAP two of the four blocks */
    vs_scsi_unmap_desc ud = {.lba = 11, .nblocks = 2};
    size_t n = vs_scsi_unmap_build(list, sizeof list, &ud, 1);
    memset(&c, 0, sizeof c);
    c.cdb[0] = VS_SCSI_UNMAP;
    vs_scsi_be16_put(c.cdb + 7, (uint16_t)n);
    c.dout = list;
    c.dout_len = (uint32_t)n;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    good(&c);
    vs_scsi_storage_read(d, 0, 0, 10, back, 4, &e);
    ck_assert_uint_eq(back[0], 0x77);
    ck_assert_uint_eq(back[512], 0);
    ck_assert_uint_eq(back[1535], 0);
    ck_assert_uint_eq(back[1536], 0x77);
    ud.lba = 2047; /* beyond the end */
    vs_scsi_unmap_build(list, sizeof list, &ud, 1);
    ck_assert_int_eq(run(d, RQ, &c), 0);
    sense_is(&c, VS_SCSI_SK_ILLEGAL_REQUEST, VS_SCSI_ASC_LBA_OUT_OF_RANGE);
    list[3] = 17; /* descriptor length not a multiple of 16 */
    ck_assert_int_eq(run(d, RQ, &c), 0);
    sense_is(&c, VS_SCSI_SK_ILLEGAL_REQUEST, VS_SCSI_ASC_INVALID_FIELD_IN_PARAM);
    /* SYNCHRONIZE CACHE 10 / 16 */
    memset(&c, 0, sizeof c);
    cdb_rw(&c, VS_SCSI_SYNCHRONIZE_CACHE_10, 0, 0);
    ck_assert_int_eq(run(d, RQ, &c), 0);
    good(&c);
    cdb_rw(&c, VS_SCSI_SYNCHRONIZE_CACHE_16, 4000, 1);
    ck_assert_int_eq(run(d, RQ, &c), 0);
    sense_is(&c, VS_SCSI_SK_ILLEGAL_REQUEST, VS_SCSI_ASC_LBA_OUT_OF_RANGE);
    /* MODE SENSE 6 / 10: caching page with WCE */
    memset(&c, 0, sizeof c);
    c.cdb[0] = VS_SCSI_MODE_SENSE_6;
    c.cdb[2] = 0x08;
    c.cdb[4] = 255;
    c.din_cap = 255;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    good(&c);
    ck_assert_uint_eq(c.din[0], 4 + 8 + 20 - 1);
    ck_assert_uint_eq(c.din[3], 8);
    ck_assert_uint_eq(c.din[12], 0x08);
    ck_assert_uint_eq(c.din[14] & 0x04, 0x04);
    memset(&c, 0, sizeof c);
    c.cdb[0] = VS_SCSI_MODE_SENSE_10;
    c.cdb[1] = 0x08; /* DBD */
    c.cdb[2] = 0x3f;
    vs_scsi_be16_put(c.cdb + 7, 255);
    c.din_cap = 255;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    good(&c);
    ck_assert_uint_eq(vs_scsi_be16_get(c.din), 8 + 20 + 12 - 2);
    ck_assert_uint_eq(c.din[8], 0x08);
    ck_assert_uint_eq(c.din[28], 0x0a);
    c.cdb[2] = 0xc8; /* saved values */
    ck_assert_int_eq(run(d, RQ, &c), 0);
    sense_is(&c, VS_SCSI_SK_ILLEGAL_REQUEST, VS_SCSI_ASC_SAVING_PARAMS_UNSUPPORTED);
    /* START STOP UNIT: stopped LU is not ready; PREVENT ALLOW */
    memset(&c, 0, sizeof c);
    c.cdb[0] = VS_SCSI_START_STOP_UNIT;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    good(&c);
    memset(&c, 0, sizeof c);
    c.cdb[0] = VS_SCSI_TEST_UNIT_READY;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    sense_is(&c, VS_SCSI_SK_NOT_READY, 0x0402);
    c.cdb[0] = VS_SCSI_START_STOP_UNIT;
    c.cdb[4] = 1;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    good(&c);
    memset(&c, 0, sizeof c);
    c.cdb[0] = VS_SCSI_PREVENT_ALLOW;
    c.cdb[4] = 1;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    good(&c);
    c.cdb[4] = 2;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    sense_is(&c, VS_SCSI_SK_ILLEGAL_REQUEST, VS_SCSI_ASC_INVALID_FIELD_IN_CDB);
    d->ops->destroy(d);
}
END_TEST

/* ------------------------------------------------------------------ controlq */

static int ctrl_tmf(vs_device *d, uint32_t subtype, uint8_t target, uint16_t lun,
                    uint64_t id, uint8_t *response)
{
    tchain t;
    tc_init(&t, 200);
    tc_add(&t, VS_SCSI_TMF_REQ_BYTES, false);
    tc_add(&t, 1, true);
    vs_scsi_tmf_req r = {.type = VS_SCSI_T_TMF, .subtype = subtype, .id = id};
    vs_scsi_lun_encode(r.lun, target, lun);
    uint8_t b[VS_SCSI_TMF_REQ_BYTES];
    vs_scsi_tmf_req_put(b, &r);
    tc_io(&t, false, 0, b, sizeof b, true);
    uint32_t w = 0;
    vs_err e = {0};
    int rc = d->ops->handle(d, VS_SCSI_Q_CTRL, &t.c, &w, &e);
    if (rc == 0) {
        ck_assert_uint_eq(w, 1);
        tc_io(&t, true, 0, response, 1, false);
    }
    return rc;
}

START_TEST(tmf_on_held_commands)
{
    vs_scsi_opts o;
    vs_scsi_opts_default(&o);
    o.nluns = 2;
    o.luns[1] = (vs_scsi_lun_opts){.target = 0, .lun = 1};
    vs_device *d = mkdev(&o);
    vs_err e = {0};
    ck_assert_int_eq(vs_scsi_hold(d, 0, 0, UINT32_MAX, &e), 0);
    static cmd c1, c2, c3;
    memset(&c1, 0, sizeof c1);
    c1.id = 11;
    c1.cdb[0] = VS_SCSI_TEST_UNIT_READY;
    c2 = c1;
    c2.id = 12;
    c3 = c1;
    c3.id = 13;
    ck_assert_int_eq(run(d, RQ, &c1), VS_DEV_DEFERRED);
    ck_assert_int_eq(run(d, RQ, &c2), VS_DEV_DEFERRED);
    ck_assert_int_eq(run(d, RQ, &c3), VS_DEV_DEFERRED);
    ck_assert_uint_eq(vs_scsi_held(d), 3);
    uint8_t r;
    ck_assert_int_eq(ctrl_tmf(d, VS_SCSI_T_TMF_QUERY_TASK, 0, 0, 12, &r), 0);
    ck_assert_uint_eq(r, VS_SCSI_S_FUNCTION_SUCCEEDED);
    ck_assert_int_eq(ctrl_tmf(d, VS_SCSI_T_TMF_QUERY_TASK_SET, 0, 1, 0, &r), 0);
    ck_assert_uint_eq(r, VS_SCSI_S_FUNCTION_COMPLETE);
    ck_assert_uint_eq(ndone, 0);
    /* ABORT TASK id 12: completed ABORTED before the TMF returns */
    ck_assert_int_eq(ctrl_tmf(d, VS_SCSI_T_TMF_ABORT_TASK, 0, 0, 12, &r), 0);
    ck_assert_uint_eq(r, VS_SCSI_S_FUNCTION_COMPLETE);
    ck_assert_uint_eq(ndone, 1);
    ck_assert_uint_eq(done[0].id, 12);
    ck_assert_uint_eq(done[0].written, 108);
    vs_scsi_cmd_resp resp;
    uint8_t rb[108];
    tc_io(&c2.t, true, 0, rb, sizeof rb, false);
    vs_scsi_cmd_resp_get(rb, sizeof rb, 96, &resp);
    ck_assert_uint_eq(resp.response, VS_SCSI_S_ABORTED);
    /* LOGICAL UNIT RESET: the other two RESET, then a unit attention */
    ck_assert_int_eq(ctrl_tmf(d, VS_SCSI_T_TMF_LOGICAL_UNIT_RESET, 0, 0, 0, &r), 0);
    ck_assert_uint_eq(ndone, 3);
    tc_io(&c3.t, true, 0, rb, sizeof rb, false);
    vs_scsi_cmd_resp_get(rb, sizeof rb, 96, &resp);
    ck_assert_uint_eq(resp.response, VS_SCSI_S_RESET);
    ck_assert_int_eq(vs_scsi_release(d, 0, 0, &e), 0);
    memset(&c1, 0, sizeof c1);
    c1.cdb[0] = VS_SCSI_TEST_UNIT_READY;
    ck_assert_int_eq(run(d, RQ, &c1), 0);
    sense_is(&c1, VS_SCSI_SK_UNIT_ATTENTION, VS_SCSI_ASC_RESET_OCCURRED);
    ck_assert_int_eq(run(d, RQ, &c1), 0);
    good(&c1);
    /* TMF addressing */
    ck_assert_int_eq(ctrl_tmf(d, VS_SCSI_T_TMF_ABORT_TASK_SET, 0, 9, 0, &r), 0);
    ck_assert_uint_eq(r, VS_SCSI_S_INCORRECT_LUN);
    ck_assert_int_eq(ctrl_tmf(d, VS_SCSI_T_TMF_ABORT_TASK_SET, 5, 0, 0, &r), 0);
    ck_assert_uint_eq(r, VS_SCSI_S_BAD_TARGET);
    ck_assert_int_eq(ctrl_tmf(d, VS_SCSI_T_TMF_I_T_NEXUS_RESET, 0, 9, 0, &r), 0);
    ck_assert_uint_eq(r, VS_SCSI_S_FUNCTION_COMPLETE);
    ck_assert_int_eq(ctrl_tmf(d, VS_SCSI_T_TMF_CLEAR_ACA, 0, 0, 0, &r), 0);
    ck_assert_uint_eq(r, VS_SCSI_S_FUNCTION_REJECTED);
    ck_assert_int_eq(ctrl_tmf(d, 99, 0, 0, 0, &r), 0);
    ck_assert_uint_eq(r, VS_SCSI_S_FUNCTION_REJECTED);
    /* release: held commands run */
    ndone = 0;
    ck_assert_int_eq(vs_scsi_hold(d, 0, 1, 1, &e), 0);
    memset(&c1, 0, sizeof c1);
    c1.lun = 1;
    c1.id = 21;
    cdb_rw(&c1, VS_SCSI_READ_10, 0, 1);
    c1.din_cap = 512;
    ck_assert_int_eq(run(d, RQ, &c1), VS_DEV_DEFERRED);
    c1.id = 22; /* hold count 1: the next one runs */
    ck_assert_int_eq(run(d, RQ, &c1), 0);
    ck_assert_int_eq(vs_scsi_release(d, 0, 1, &e), 0);
    ck_assert_uint_eq(ndone, 1);
    ck_assert_uint_eq(done[0].id, 21);
    ck_assert_uint_eq(done[0].written, 108 + 512);
    /* drain before a device reset: RESET */
    ndone = 0;
    ck_assert_int_eq(vs_scsi_hold(d, 0, 1, 1, &e), 0);
    ck_assert_int_eq(run(d, RQ, &c1), VS_DEV_DEFERRED);
    d->ops->drain(d, -1);
    ck_assert_uint_eq(ndone, 1);
    ck_assert_uint_eq(vs_scsi_held(d), 0);
    d->ops->destroy(d);

    /* mutants: reset drops held commands; TMF completes before the aborted command */
    o.mutations = VS_SCSI_MUT_RESET_DROPS_PENDING | VS_SCSI_MUT_TMF_BEFORE_ABORT;
    d = mkdev(&o);
    ndone = 0;
    vs_scsi_hold(d, 0, 0, UINT32_MAX, &e);
    ck_assert_int_eq(run(d, RQ, &c2), VS_DEV_DEFERRED);
    ck_assert_int_eq(ctrl_tmf(d, VS_SCSI_T_TMF_ABORT_TASK, 0, 0, 12, &r), VS_DEV_DEFERRED);
    ck_assert_uint_eq(ndone, 2);
    ck_assert_uint_eq(done[0].q, VS_SCSI_Q_CTRL);
    ck_assert_uint_eq(done[1].id, 12);
    ck_assert_int_eq(run(d, RQ, &c3), VS_DEV_DEFERRED);
    d->ops->drain(d, -1);
    ck_assert_uint_eq(ndone, 2);
    d->ops->destroy(d);
}
END_TEST

static int ctrl_an(vs_device *d, uint32_t type, uint8_t target, uint16_t lun, uint32_t ev,
                   vs_scsi_an_resp *resp)
{
    tchain t;
    tc_init(&t, 201);
    tc_add(&t, VS_SCSI_AN_REQ_BYTES, false);
    tc_add(&t, VS_SCSI_AN_RESP_BYTES, true);
    vs_scsi_an_req r = {.type = type, .event_requested = ev};
    vs_scsi_lun_encode(r.lun, target, lun);
    uint8_t b[VS_SCSI_AN_REQ_BYTES], rb[VS_SCSI_AN_RESP_BYTES];
    vs_scsi_an_req_put(b, &r);
    tc_io(&t, false, 0, b, sizeof b, true);
    uint32_t w = 0;
    vs_err e = {0};
    int rc = d->ops->handle(d, VS_SCSI_Q_CTRL, &t.c, &w, &e);
    if (rc == 0) {
        ck_assert_uint_eq(w, 5);
        tc_io(&t, true, 0, rb, sizeof rb, false);
        vs_scsi_an_resp_get(rb, resp);
    }
    return rc;
}

/* An eventq buffer of len bytes; returns handle()'s rc. */
static int post_event_buf(vs_device *d, tchain *t, uint16_t id, uint32_t len)
{
    tc_init(t, id);
    tc_add(t, len, true);
    uint32_t w = 0;
    vs_err e = {0};
    int rc = d->ops->handle(d, VS_SCSI_Q_EVENT, &t->c, &w, &e);
    if (rc == 0) {
        ck_assert_uint_lt(ndone, 64);
        done[ndone++] = (done_rec){VS_SCSI_Q_EVENT, id, w};
    }
    return rc;
}

static void event_of(tchain *t, vs_scsi_event *ev)
{
    uint8_t b[16];
    tc_io(t, true, 0, b, 16, false);
    vs_scsi_event_get(b, ev);
}

START_TEST(events_hotplug_change_missed)
{
    vs_scsi_opts o;
    vs_scsi_opts_default(&o);
    o.nluns = 2;
    o.luns[1] = (vs_scsi_lun_opts){.target = 0, .lun = 2, .type = VS_SCSI_TYPE_MMC,
                                   .block_size = 2048, .blocks = 8};
    vs_device *d = mkdev(&o);
    vs_err e = {0};
    static tchain b1, b2, b3;
    ck_assert_int_eq(post_event_buf(d, &b1, 1, 16), VS_DEV_DEFERRED);
    ck_assert_int_eq(post_event_buf(d, &b2, 2, 64), VS_DEV_DEFERRED);
    ck_assert_uint_eq(vs_scsi_event_buffers(d), 2);
    /* hot-add: TRANSPORT_RESET RESCAN in the oldest buffer */
    vs_scsi_lun_opts add = {.target = 0, .lun = 5};
    ck_assert_int_eq(vs_scsi_lun_add(d, &add, &e), 0);
    ck_assert_uint_eq(ndone, 1);
    ck_assert_uint_eq(done[0].id, 1);
    ck_assert_uint_eq(done[0].written, 16);
    vs_scsi_event ev;
    event_of(&b1, &ev);
    ck_assert_uint_eq(ev.event, VS_SCSI_T_TRANSPORT_RESET);
    ck_assert_uint_eq(ev.reason, VS_SCSI_EVT_RESET_RESCAN);
    ck_assert_uint_eq(ev.lun[3], 5);
    /* the other LUs of the target: REPORTED LUNS DATA HAS CHANGED */
    static cmd c;
    memset(&c, 0, sizeof c);
    c.cdb[0] = VS_SCSI_TEST_UNIT_READY;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    sense_is(&c, VS_SCSI_SK_UNIT_ATTENTION, VS_SCSI_ASC_REPORTED_LUNS_CHANGED);
    /* capacity change: PARAM_CHANGE 2Ah/09h and a unit attention */
    ck_assert_int_eq(vs_scsi_set_capacity(d, 0, 0, 4096, &e), 0);
    ck_assert_uint_eq(ndone, 2);
    event_of(&b2, &ev);
    ck_assert_uint_eq(ev.event, VS_SCSI_T_PARAM_CHANGE);
    ck_assert_uint_eq(ev.reason, 0x092a);
    ck_assert_int_eq(run(d, RQ, &c), 0);
    sense_is(&c, VS_SCSI_SK_UNIT_ATTENTION, VS_SCSI_ASC_CAPACITY_CHANGED);
    memset(&c, 0, sizeof c);
    cdb_rw(&c, VS_SCSI_READ_16, 4095, 1);
    c.din_cap = 512;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    good(&c);
    /* no buffer: events dropped; an MMC capacity change sends no event at all */
    ck_assert_int_eq(vs_scsi_set_capacity(d, 0, 2, 16, &e), 0);
    ck_assert_uint_eq(vs_scsi_events_dropped(d), 0);
    ck_assert_int_eq(vs_scsi_lun_remove(d, 0, 5, &e), 0);
    ck_assert_uint_eq(vs_scsi_events_dropped(d), 1);
    ck_assert_int_eq(post_event_buf(d, &b3, 3, 16), 0); /* at once: NO_EVENT | MISSED */
    event_of(&b3, &ev);
    ck_assert_uint_eq(ev.event, VS_SCSI_T_NO_EVENT | VS_SCSI_T_EVENTS_MISSED);
    ck_assert_int_eq(post_event_buf(d, &b3, 4, 8), 0); /* short: NO_EVENT at once */
    ck_assert_uint_eq(done[ndone - 1].written, 8);
    /* AN: query, subscribe, raise */
    vs_scsi_an_resp ar;
    ck_assert_int_eq(ctrl_an(d, VS_SCSI_T_AN_QUERY, 0, 2, 0xff, &ar), 0);
    ck_assert_uint_eq(ar.response, VS_SCSI_S_OK);
    ck_assert_uint_eq(ar.event_actual, 0x7e);
    ck_assert_int_eq(ctrl_an(d, VS_SCSI_T_AN_SUBSCRIBE, 0, 2,
                             VS_SCSI_EVT_ASYNC_MEDIA_CHANGE, &ar), 0);
    ck_assert_uint_eq(ar.event_actual, VS_SCSI_EVT_ASYNC_MEDIA_CHANGE);
    ck_assert_int_eq(ctrl_an(d, VS_SCSI_T_AN_QUERY, 0, 7, 0xff, &ar), 0);
    ck_assert_uint_eq(ar.response, VS_SCSI_S_INCORRECT_LUN);
    ck_assert_int_eq(post_event_buf(d, &b1, 5, 16), VS_DEV_DEFERRED);
    unsigned before = ndone;
    ck_assert_int_eq(vs_scsi_raise_async(d, 0, 2, VS_SCSI_EVT_ASYNC_POWER_MGMT, &e), 0);
    ck_assert_uint_eq(ndone, before); /* not subscribed: nothing */
    ck_assert_int_eq(vs_scsi_raise_async(d, 0, 2, 0x7e, &e), 0);
    ck_assert_uint_eq(ndone, before + 1);
    event_of(&b1, &ev);
    ck_assert_uint_eq(ev.event, VS_SCSI_T_ASYNC_NOTIFY);
    ck_assert_uint_eq(ev.reason, VS_SCSI_EVT_ASYNC_MEDIA_CHANGE);
    /* without HOTPLUG negotiated: no event, unit attention only */
    ck_assert_int_eq(post_event_buf(d, &b1, 6, 16), VS_DEV_DEFERRED);
    d->driver_features &= ~VS_BIT(VS_SCSI_F_HOTPLUG);
    before = ndone;
    ck_assert_int_eq(vs_scsi_lun_add(d, &add, &e), 0);
    ck_assert_uint_eq(ndone, before);
    /* readable bytes in an eventq buffer: device error */
    tchain bad;
    tc_init(&bad, 9);
    tc_add(&bad, 4, false);
    tc_add(&bad, 16, true);
    uint32_t w;
    ck_assert_int_lt(d->ops->handle(d, VS_SCSI_Q_EVENT, &bad.c, &w, &e), 0);
    d->ops->destroy(d);

    /* mutants: TRANSPORT_RESET without HOTPLUG, PARAM_CHANGE for MMC, no EVENTS_MISSED */
    o.mutations = VS_SCSI_MUT_HOTPLUG_UNNEGOTIATED | VS_SCSI_MUT_PARAM_CHANGE_MMC |
                  VS_SCSI_MUT_NO_EVENTS_MISSED;
    d = mkdev(&o);
    d->driver_features &= ~VS_BIT(VS_SCSI_F_HOTPLUG);
    ndone = 0;
    ck_assert_int_eq(post_event_buf(d, &b1, 1, 16), VS_DEV_DEFERRED);
    ck_assert_int_eq(vs_scsi_lun_add(d, &add, &e), 0);
    ck_assert_uint_eq(ndone, 1);
    ck_assert_int_eq(post_event_buf(d, &b1, 2, 16), VS_DEV_DEFERRED);
    ck_assert_int_eq(vs_scsi_set_capacity(d, 0, 2, 32, &e), 0);
    ck_assert_uint_eq(ndone, 2);
    event_of(&b1, &ev);
    ck_assert_uint_eq(ev.event, VS_SCSI_T_PARAM_CHANGE);
    ck_assert_int_eq(vs_scsi_lun_remove(d, 0, 5, &e), 0); /* dropped */
    ck_assert_int_eq(post_event_buf(d, &b1, 3, 16), VS_DEV_DEFERRED);
    d->ops->destroy(d);
}
END_TEST

START_TEST(more_mutants)
{
    vs_scsi_opts o;
    vs_scsi_opts_default(&o);
    o.mutations = VS_SCSI_MUT_BAD_DEFAULTS | VS_SCSI_MUT_ABORT_KEEPS |
                  VS_SCSI_MUT_EVENT_OVERSIZE;
    vs_device *d = mkdev(&o);
    vs_err e = {0};
    uint8_t w[4];
    d->ops->config_read(d, VS_SCSI_CFG_SENSE_SIZE, w, 4, &e);
    ck_assert_uint_eq(vs_le32_get(w), 64);
    d->ops->config_read(d, VS_SCSI_CFG_CDB_SIZE, w, 4, &e);
    ck_assert_uint_eq(vs_le32_get(w), 16);
    /* requests follow the (wrong) sizes it advertises */
    static cmd c;
    memset(&c, 0, sizeof c);
    c.cdb_size = 16;
    c.sense_size = 64;
    c.id = 3;
    c.cdb[0] = VS_SCSI_TEST_UNIT_READY;
    ck_assert_int_eq(vs_scsi_hold(d, 0, 0, 1, &e), 0);
    ck_assert_int_eq(run(d, RQ, &c), VS_DEV_DEFERRED);
    uint8_t r;
    ck_assert_int_eq(ctrl_tmf(d, VS_SCSI_T_TMF_ABORT_TASK, 0, 0, 3, &r), 0);
    ck_assert_uint_eq(r, VS_SCSI_S_FUNCTION_COMPLETE);
    ck_assert_uint_eq(ndone, 0);              /* still pending */
    ck_assert_uint_eq(vs_scsi_held(d), 1);
    tchain b;
    ck_assert_int_eq(post_event_buf(d, &b, 1, 64), VS_DEV_DEFERRED);
    vs_scsi_lun_opts add = {.target = 0, .lun = 1};
    ck_assert_int_eq(vs_scsi_lun_add(d, &add, &e), 0);
    ck_assert_uint_eq(ndone, 1);
    ck_assert_uint_eq(done[0].written, 24);   /* more than event_info_size */
    d->ops->destroy(d);
}
END_TEST

START_TEST(file_backed_lu)
{
    char path[] = "/tmp/vs-scsi-test-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    vs_scsi_opts o;
    vs_scsi_opts_default(&o);
    o.luns[0] = (vs_scsi_lun_opts){.image_path = path, .create_image = true, .blocks = 64,
                                   .block_size = 4096};
    vs_device *d = mkdev(&o);
    static cmd c;
    static uint8_t data[8192];
    memset(data, 0x3c, sizeof data);
    memset(&c, 0, sizeof c);
    cdb_rw(&c, VS_SCSI_WRITE_10, 62, 2);
    c.dout = data;
    c.dout_len = 8192;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    good(&c);
    memset(&c, 0, sizeof c);
    cdb_rw(&c, VS_SCSI_READ_10, 63, 1);
    c.din_cap = 4096;
    ck_assert_int_eq(run(d, RQ, &c), 0);
    good(&c);
    ck_assert_uint_eq(c.din[4095], 0x3c);
    cdb_rw(&c, VS_SCSI_SYNCHRONIZE_CACHE_10, 0, 0);
    ck_assert_int_eq(run(d, RQ, &c), 0);
    good(&c);
    d->ops->destroy(d);
    /* reopen without create: the data is there, size from the image */
    o.luns[0].create_image = false;
    o.luns[0].blocks = 0;
    d = mkdev(&o);
    uint8_t back[4096];
    vs_err e = {0};
    ck_assert_int_eq(vs_scsi_storage_read(d, 0, 0, 63, back, 1, &e), 0);
    ck_assert_uint_eq(back[0], 0x3c);
    ck_assert_int_lt(vs_scsi_storage_read(d, 0, 0, 64, back, 1, &e), 0);
    d->ops->destroy(d);
    o.luns[0].blocks = 128; /* larger than the image, no create */
    ck_assert_int_lt(vs_scsi_create(&d, gm, &o, &e), 0);
    unlink(path);
}
END_TEST

START_TEST(t10_pi_skipped)
{
    vs_scsi_opts o;
    vs_scsi_opts_default(&o);
    o.t10_pi = true;
    vs_device *d = mkdev(&o);
    /* header with PI fields: pi_bytesout 8 before the data-out, pi_bytesin 8 after the
     * response */
    static uint8_t buf[19 + 32 + 8 + 8 + 512];
    vs_scsi_cmd_req r = {.cdb_len = 10, .pi_bytesout = 8, .pi_bytesin = 8};
    vs_scsi_lun_encode(r.lun, 0, 0);
    vs_scsi_rw rw = {.opcode = VS_SCSI_WRITE_10, .lba = 3, .nblocks = 1};
    vs_scsi_cdb_rw_build(r.cdb, &rw);
    int64_t hl = vs_scsi_cmd_req_put(buf, sizeof buf, 32, true, &r);
    ck_assert_int_eq(hl, 59);
    memset(buf + hl, 0xee, 8);        /* pi_out */
    memset(buf + hl + 8, 0x42, 512);  /* data */
    tchain t;
    tc_init(&t, 1);
    tc_add(&t, (uint32_t)hl + 8 + 512, false);
    tc_io(&t, false, 0, buf, (uint64_t)hl + 8 + 512, true);
    tc_add(&t, 108 + 8, true);
    uint32_t w = 0;
    vs_err e = {0};
    ck_assert_int_eq(d->ops->handle(d, RQ, &t.c, &w, &e), 0);
    ck_assert_uint_eq(w, 116);
    uint8_t back[512];
    vs_scsi_storage_read(d, 0, 0, 3, back, 1, &e);
    ck_assert_uint_eq(back[0], 0x42);
    ck_assert_uint_eq(back[511], 0x42);
    /* PI byte count larger than the data part: FAILURE, nothing written */
    r.pi_bytesout = 10000;
    vs_scsi_cmd_req_put(buf, sizeof buf, 32, true, &r);
    tc_io(&t, false, 0, buf, (uint64_t)hl, true);
    ck_assert_int_eq(d->ops->handle(d, RQ, &t.c, &w, &e), 0);
    ck_assert_uint_eq(w, 108);
    uint8_t rb[12];
    tc_io(&t, true, 0, rb, 12, false);
    ck_assert_uint_eq(rb[11], VS_SCSI_S_FAILURE);
    d->ops->destroy(d);
}
END_TEST

Suite *scsi_suite(void);
Suite *scsi_suite(void)
{
    Suite *s = suite_create("scsi");
    TCase *tc = tcase_create("device");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, config_defaults_writes_reset);
    tcase_add_test(tc, features_offer_accept);
    tcase_add_test(tc, read_write_all_sizes);
    tcase_add_test(tc, inquiry_vpd_report_luns);
    tcase_add_test(tc, errors_and_responses);
    tcase_add_test(tc, inout_and_sense_truncation);
    tcase_add_test(tc, malformed_chains);
    tcase_add_test(tc, block_commands);
    tcase_add_test(tc, tmf_on_held_commands);
    tcase_add_test(tc, events_hotplug_change_missed);
    tcase_add_test(tc, more_mutants);
    tcase_add_test(tc, file_backed_lu);
    tcase_add_test(tc, t10_pi_skipped);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(scsi_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
