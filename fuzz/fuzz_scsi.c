/* libFuzzer harness: the virtio-scsi codec (include/virtiosim/scsi.h) and the reference
 * device's request parsing (model/dev/scsi/) on hostile chains.
 *
 * Input format (also what fuzz/corpus/scsi/ seeds use):
 *   byte 0: mode: even = codec, odd = device
 *   codec:  byte 1 cdb_size, byte 2 sense_size, byte 3 flags (bit 0 T10_PI); the rest is
 *           decoded as a command request, a response, TMF / AN requests, an event, a LUN,
 *           a CDB (block range), an UNMAP parameter list and sense data.
 *   device: byte 1 queue (mod 4: 0 controlq, 1 eventq, 2 request queue, 3 no such
 *           queue), byte 2 negotiated device features (bits 0-3), byte 3 bit 0: hold the
 *           commands of LU 0:0, bit 1: then LOGICAL UNIT RESET, bit 2: then hot-add a LU;
 *           byte 4 cdb_size, byte 5 sense_size written to config (values the device
 *           ignores included), byte 6 segment count (1-8), byte 7 readable segment count,
 *           then one le16 length per segment; the rest is the readable part's bytes.
 * Invariants checked (abort = finding): decoding never reads out of bounds; decoded
 * requests, responses, TMF / AN / event structs re-encode to the same bytes; a LUN that
 * decodes as single-level re-encodes to the same target and LUN; a parsed block range
 * rebuilds to a CDB that parses the same; an UNMAP descriptor count fits the list; the
 * device never crashes, returns < 0, 0 or VS_DEV_DEFERRED, and its used length never
 * exceeds the writable part. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virtiosim/gmem.h"
#include "virtiosim/le.h"
#include "virtiosim/scsi.h"

static void check(int cond)
{
    if (!cond)
        abort();
}

static void fuzz_codec(const uint8_t *p, size_t n)
{
    if (n < 4)
        return;
    uint32_t cdb_size = p[1], sense_size = p[2];
    bool pi = p[3] & 1;
    p += 4;
    n -= 4;
    static uint8_t out[19 + 256 + 8 + 12 + 256];
    vs_scsi_cmd_req r;
    if (vs_scsi_cmd_req_get(p, n, cdb_size, pi, &r) == 0) {
        int64_t w = vs_scsi_cmd_req_put(out, sizeof out, cdb_size, pi, &r);
        check(w == (int64_t)vs_scsi_cmd_req_len(cdb_size, pi));
        check(memcmp(out, p, (size_t)w) == 0);
    }
    vs_scsi_cmd_resp s;
    if (vs_scsi_cmd_resp_get(p, n, sense_size, &s) == 0) {
        uint32_t full = s.sense_len;
        s.sense_len = sense_size; /* copy the whole field back */
        int64_t w = vs_scsi_cmd_resp_put(out, sizeof out, sense_size, &s);
        check(w == 12 + (int64_t)sense_size);
        vs_le32_put(out, full);
        /* the struct keeps VS_SCSI_SENSE_MAX sense bytes; the rest is written as zeros */
        uint32_t kept = sense_size < VS_SCSI_SENSE_MAX ? sense_size : VS_SCSI_SENSE_MAX;
        check(memcmp(out, p, 12 + kept) == 0);
    }
    if (n >= VS_SCSI_TMF_REQ_BYTES) {
        vs_scsi_tmf_req t;
        vs_scsi_tmf_req_get(p, &t);
        vs_scsi_tmf_req_put(out, &t);
        check(memcmp(out, p, VS_SCSI_TMF_REQ_BYTES) == 0);
    }
    if (n >= VS_SCSI_AN_REQ_BYTES) {
        vs_scsi_an_req a;
        vs_scsi_an_req_get(p, &a);
        vs_scsi_an_req_put(out, &a);
        check(memcmp(out, p, VS_SCSI_AN_REQ_BYTES) == 0);
        vs_scsi_event ev;
        vs_scsi_event_get(p, &ev);
        vs_scsi_event_put(out, &ev);
        check(memcmp(out, p, VS_SCSI_EVENT_BYTES) == 0);
    }
    if (n >= 8) {
        vs_scsi_lun_addr a;
        int rc = vs_scsi_lun_decode(p, &a);
        check((rc == 0) == (a.kind != VS_SCSI_LUN_BAD));
        if (a.kind == VS_SCSI_LUN_SINGLE) {
            uint8_t l[8];
            vs_scsi_lun_addr b;
            check(a.lun <= VS_SCSI_MAX_LUN);
            check(vs_scsi_lun_encode(l, a.target, a.lun) == 0);
            check(vs_scsi_lun_decode(l, &b) == 0 && b.target == a.target && b.lun == a.lun);
        }
    }
    vs_scsi_rw rw, rw2;
    if (vs_scsi_cdb_rw(p, n, &rw) == 0) {
        uint8_t cdb[16];
        check(vs_scsi_cdb_len(p[0]) <= n);
        int len = vs_scsi_cdb_rw_build(cdb, &rw);
        check(len == (int)vs_scsi_cdb_len(p[0]));
        check(vs_scsi_cdb_rw(cdb, (size_t)len, &rw2) == 0);
        check(rw2.lba == rw.lba && rw2.nblocks == rw.nblocks && rw2.write == rw.write);
    }
    int64_t cnt = vs_scsi_unmap_count(p, n);
    if (cnt >= 0) {
        check(VS_SCSI_UNMAP_HDR + (size_t)cnt * VS_SCSI_UNMAP_DESC <= n);
        vs_scsi_unmap_desc d;
        if (cnt > 0)
            vs_scsi_unmap_desc_get(p, (uint32_t)cnt - 1, &d);
    }
    vs_scsi_sense sn;
    if (vs_scsi_sense_parse(p, n, &sn) == 0)
        check(sn.key < 16);
    if (n)
        (void)vs_scsi_status_is_sam(p[0]);
}

/* ------------------------------------------------------------------ device */

#define GM_SIZE (1u << 20)
static unsigned completions;

static void on_complete(void *ctx, uint16_t q, uint16_t id, uint32_t written)
{
    (void)ctx;
    (void)id;
    check(q < 3);
    check(written <= GM_SIZE * 8u);
    completions++;
}

static void fuzz_device(const uint8_t *p, size_t n)
{
    if (n < 8)
        return;
    static vs_gmem *gm;
    vs_err e;
    if (!gm)
        check(vs_gmem_create_flat(&gm, GM_SIZE, &e) == 0);
    vs_scsi_opts o;
    vs_scsi_opts_default(&o);
    o.t10_pi = true;
    o.nluns = 2;
    o.luns[0].blocks = 64;
    o.luns[1] = (vs_scsi_lun_opts){.target = 1, .lun = 3, .type = VS_SCSI_TYPE_MMC,
                                   .block_size = 2048, .blocks = 8};
    vs_device *d;
    check(vs_scsi_create(&d, gm, &o, &e) == 0);
    d->complete = on_complete;
    d->driver_features = VS_BIT(VS_F_VERSION_1) | (p[2] & 0x0fu);
    uint16_t q = p[1] & 3;
    uint8_t v[4];
    vs_le32_put(v, p[4] * 2u); /* up to 510: some writes are ignored */
    check(d->ops->config_write(d, VS_SCSI_CFG_CDB_SIZE, v, 4, &e) == 0);
    vs_le32_put(v, p[5] * 3u);
    check(d->ops->config_write(d, VS_SCSI_CFG_SENSE_SIZE, v, 4, &e) == 0);
    if (p[3] & 1)
        check(vs_scsi_hold(d, 0, 0, UINT32_MAX, &e) == 0);
    unsigned nseg = (p[6] & 7) + 1u, n_out = p[7] % (nseg + 1u);
    size_t pos = 8;
    vs_dseg seg[8];
    uint64_t gpa = 0, in = 0;
    for (unsigned i = 0; i < nseg; i++) {
        uint32_t len = pos + 2 <= n ? vs_le16_get(p + pos) : 0;
        pos += 2;
        if (gpa + len > GM_SIZE)
            len = 0;
        seg[i] = (vs_dseg){.gpa = gpa, .len = len, .write = i >= n_out};
        if (i >= n_out)
            in += len;
        gpa += len;
    }
    /* the readable bytes: what follows, repeated */
    uint64_t readable = n_out ? seg[n_out - 1].gpa + seg[n_out - 1].len : 0;
    for (uint64_t off = 0; pos < n && off < readable; off += n - pos)
        vs_gmem_write(gm, off, p + pos, readable - off < n - pos ? readable - off : n - pos,
                      NULL);
    vs_chain c = {.id = 7, .nseg = nseg, .n_out = n_out, .seg = seg, .seg_cap = 8};
    uint32_t written = 0;
    int rc = d->ops->handle(d, q, &c, &written, &e);
    check(rc <= VS_DEV_DEFERRED);
    if (rc == 0)
        check(written <= in);
    if (p[3] & 2) { /* LOGICAL UNIT RESET of LU 0:0 on the controlq */
        uint8_t t[VS_SCSI_TMF_REQ_BYTES + 1];
        vs_scsi_tmf_req r = {.type = VS_SCSI_T_TMF, .subtype = VS_SCSI_T_TMF_LOGICAL_UNIT_RESET};
        vs_scsi_lun_encode(r.lun, 0, 0);
        vs_scsi_tmf_req_put(t, &r);
        vs_gmem_write(gm, GM_SIZE - 64, t, VS_SCSI_TMF_REQ_BYTES, NULL);
        vs_dseg ts[2] = {{.gpa = GM_SIZE - 64, .len = VS_SCSI_TMF_REQ_BYTES},
                         {.gpa = GM_SIZE - 32, .len = 1, .write = true}};
        vs_chain tc = {.id = 8, .nseg = 2, .n_out = 1, .seg = ts, .seg_cap = 2};
        check(d->ops->handle(d, VS_SCSI_Q_CTRL, &tc, &written, &e) == 0);
    }
    if (p[3] & 4) {
        vs_scsi_lun_opts l = {.target = 0, .lun = 9, .blocks = 8};
        check(vs_scsi_lun_add(d, &l, &e) == 0);
    }
    d->ops->drain(d, -1);
    d->ops->reset(d);
    d->ops->destroy(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (data[0] & 1)
        fuzz_device(data, size);
    else
        fuzz_codec(data, size);
    return 0;
}
