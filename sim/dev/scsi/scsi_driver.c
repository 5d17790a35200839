/* virtio-scsi's driver personality: the config it reads, the request builders (commands
 * with data-out, data-in or both; task management and asynchronous notification on the
 * controlq; device-writable event buffers on the eventq), completion and the judgement of
 * a response. Bring-up follows Linux's virtio_scsi: every queue set up, sense_size and
 * cdb_size written, then after DRIVER_OK the eventq filled. */
#include "sim/dev/scsi/scsi_drv_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtiosim/le.h"

/* ------------------------------------------------------------------ state and config */

static int scsi_state_create(vs_driver *d, void **state, vs_err *e)
{
    scsi_drv *s = calloc(1, sizeof *s);
    if (!s)
        return vs_err_set(e, VS_ENOMEM, "scsi driver: out of memory");
    s->next_tag = 1;
    s->next_pattern = 2;
    s->ev_bufs = SCSI_EVENTQ_DEFAULT;
    s->want_sense = VS_SCSI_SENSE_SIZE_DEFAULT;
    s->want_cdb = VS_SCSI_CDB_SIZE_DEFAULT;
    s->seed = d->o.seed;
    s->mutations = d->o.dev_mutations;   /* enum scsi_drv_mutation (driver mutants) */
    *state = s;
    return 0;
}

static void scsi_state_free(vs_driver *d, void *state)
{
    (void)d;
    scsi_drv *s = state;
    if (!s)
        return;
    for (unsigned i = 0; i < s->nlun; i++)
        scsi_shadow_free(&s->lun[i]);
    free(s);
}

bool scsi_driver_is(const vs_driver *d) { return d->pers == &vs_scsi_drv_personality; }

static int cfg_read32(vs_driver *d, uint32_t off, uint32_t *v, vs_err *e)
{
    uint8_t b[4] = {0};
    int rc = vs_driver_config_read(d, off, b, 4, e);
    *v = vs_le32_get(b);
    return rc;
}

static int cfg_write32(vs_driver *d, uint32_t off, uint32_t v, vs_err *e)
{
    uint8_t b[4];
    vs_le32_put(b, v);
    return vs_driver_config_write(d, off, b, 4, e);
}

/* The whole config, field by field as Linux reads it (virtscsi_probe). */
static int read_config(vs_driver *d, vs_err *e)
{
    scsi_drv *s = scsi_drv_of(d);
    uint8_t raw[VS_SCSI_CFG_SIZE] = {0};
    for (unsigned i = 0; i < vs_scsi_cfg_nfields; i++) {
        const vs_scsi_cfg_field *f = &vs_scsi_cfg_fields[i];
        int rc = vs_driver_config_read(d, f->off, raw + f->off, f->len, e);
        if (rc < 0)
            return rc;
    }
    vs_scsi_config_get(raw, &s->cfg);
    s->max_per_lun = s->cfg.cmd_per_lun;
    return 0;
}

/* Queue setup: the config the requests need. The driver-writable fields are written after
 * DRIVER_OK (scsi_bring_up), so the scenario's driver options and mutations are known. */
static int scsi_setup(vs_driver *d, vs_err *e)
{
    scsi_drv *s = scsi_drv_of(d);
    s->ev_posted = 0;
    for (unsigned i = 0; i < s->nlun; i++)
        s->lun[i].outstanding = 0;
    return read_config(d, e);
}

/* sense_size and cdb_size as the driver wants them (and nothing else, unless mutated). */
static int write_sizes(vs_driver *d, vs_err *e)
{
    scsi_drv *s = scsi_drv_of(d);
    int rc = 0;
    if (s->want_sense && s->want_sense != s->cfg.sense_size)
        rc = cfg_write32(d, VS_SCSI_CFG_SENSE_SIZE, s->want_sense, e);
    if (rc == 0 && s->want_cdb && s->want_cdb != s->cfg.cdb_size)
        rc = cfg_write32(d, VS_SCSI_CFG_CDB_SIZE, s->want_cdb, e);
    if (rc == 0 && (s->mutations & SCSI_DMUT_WRITES_CONFIG))
        rc = cfg_write32(d, VS_SCSI_CFG_MAX_SECTORS, s->cfg.max_sectors / 2 + 1, e);
    if (rc < 0)
        return rc;
    /* read back what the device now uses */
    if ((rc = cfg_read32(d, VS_SCSI_CFG_SENSE_SIZE, &s->cfg.sense_size, e)) < 0 ||
        (rc = cfg_read32(d, VS_SCSI_CFG_CDB_SIZE, &s->cfg.cdb_size, e)) < 0)
        return rc;
    return 0;
}


/* ------------------------------------------------------------------ requests */

static void fail_msg(scsi_result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_msg(scsi_result *r, const char *fmt, ...)
{
    if (r->msg[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->msg, sizeof r->msg, fmt, ap);
    va_end(ap);
}

static bool use_indirect(const vs_driver *d, uint32_t flags)
{
    return (flags & SC_INDIRECT) || (d->o.use_indirect && !(flags & SC_DIRECT));
}

/* Data segments of len bytes in pieces of the driver's segment size. */
static uint32_t data_segs(const vs_driver *d, uint32_t len, uint32_t flags, uint32_t *seg)
{
    uint32_t sz = (flags & SC_ONE_SEG) || !d->o.seg_size ? len : d->o.seg_size;
    if (!sz || sz > len)
        sz = len;
    *seg = sz;
    return len ? (len + sz - 1) / sz : 0;
}

static void lay_data(vs_drv_req *rq, uint32_t *k, uint32_t len, uint32_t seg, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        rq->seg[(*k)++].len = i + 1 < n ? seg : len - seg * (n - 1);
}

/* Writes len bytes of buf over the segments [first, first + n). */
static int scatter(vs_driver *d, const vs_drv_req *rq, uint32_t first, uint32_t n,
                   const uint8_t *buf, vs_err *e)
{
    uint64_t pos = 0;
    for (uint32_t i = 0; i < n; i++) {
        const vs_seg *sg = &rq->seg[first + i];
        int rc = vs_gmem_write(d->gm, sg->gpa, buf + pos, sg->len, e);
        if (rc < 0)
            return rc;
        pos += sg->len;
    }
    return 0;
}

/* Commands the driver keeps in flight per LUN: cmd_per_lun, and no more than a queue
 * holds (Linux: shost->cmd_per_lun = min(cmd_per_lun, virtqueue size)). */
static uint32_t lun_depth(const vs_driver *d)
{
    const scsi_drv *s = scsi_drv_of(d);
    uint32_t cpl = s->cfg.cmd_per_lun ? s->cfg.cmd_per_lun : UINT32_MAX;
    if (s->mutations & SCSI_DMUT_IGNORE_CMD_PER_LUN)
        cpl = UINT32_MAX;
    if (s->mutations & SCSI_DMUT_IGNORE_QUEUE_SIZE)
        return cpl;
    return cpl < d->qsize ? cpl : d->qsize;
}

/* The LUN slot a command addresses (its shadow and cmd_per_lun count), -1 none. */
static int lun_of(const scsi_drv *s, const uint8_t lun[8])
{
    vs_scsi_lun_addr a;
    if (vs_scsi_lun_decode(lun, &a) < 0 || a.kind != VS_SCSI_LUN_SINGLE)
        return -1;
    return scsi_lun_find(s, a.target, a.lun);
}

/* Data-out: a WRITE's blocks carry a fresh pattern tag (the shadow learns them at
 * completion); other data-out the command's pattern. */
static int fill_data_out(vs_driver *d, vs_drv_req *rq, const scsi_cmd *c, uint32_t first,
                         uint32_t n, vs_err *e)
{
    scsi_drv *s = scsi_drv_of(d);
    scsi_req *r = scsi_rq(rq);
    if (c->flags & SC_ANY_DATA) {
        r->write_tag = SCSI_TAG_UNKNOWN;
        return 0;
    }
    if ((c->flags & SC_PARAM) && c->out_len <= sizeof c->param)
        return scatter(d, rq, first, n, c->param, e);
    uint8_t *buf = malloc(c->out_len);
    if (!buf)
        return vs_err_set(e, VS_ENOMEM, "scsi driver: out of memory");
    const scsi_lun *l = r->lun_ix >= 0 ? &s->lun[r->lun_ix] : NULL;
    uint32_t bl = l && l->block_len ? l->block_len : 512;
    if (r->rw && r->write) {
        r->write_tag = c->pattern ? (UINT64_C(1) << 62) | c->pattern : s->next_pattern++;
        for (uint32_t off = 0; off < c->out_len; off += bl)
            scsi_pattern_block(s->seed, r->write_tag, r->lba + off / bl, buf + off,
                               c->out_len - off < bl ? c->out_len - off : bl);
    } else {
        scsi_pattern_block(s->seed, c->pattern ? c->pattern : 1, 0, buf, c->out_len);
    }
    int rc = scatter(d, rq, first, n, buf, e);
    free(buf);
    return rc;
}

/* READ / WRITE of a known LUN: the blocks, and for a read what they should hold. */
static int plan_rw(vs_driver *d, scsi_req *r, vs_drv_req *rq, const scsi_cmd *c, vs_err *e)
{
    scsi_drv *s = scsi_drv_of(d);
    vs_scsi_rw rw;
    if (r->lun_ix < 0 || (c->flags & SC_UNTRACKED) ||
        vs_scsi_cdb_rw(c->cdb, c->cdb_len, &rw) < 0 || !rw.data ||
        (rw.opcode != VS_SCSI_READ_6 && rw.opcode != VS_SCSI_READ_10 &&
         rw.opcode != VS_SCSI_READ_12 && rw.opcode != VS_SCSI_READ_16 &&
         rw.opcode != VS_SCSI_WRITE_6 && rw.opcode != VS_SCSI_WRITE_10 &&
         rw.opcode != VS_SCSI_WRITE_12 && rw.opcode != VS_SCSI_WRITE_16))
        return 0;
    scsi_lun *l = &s->lun[r->lun_ix];
    if (!l->tag || !l->block_len || rw.lba > l->blocks || rw.nblocks > l->blocks - rw.lba ||
        (uint64_t)rw.nblocks * l->block_len != (rw.write ? c->out_len : c->in_len))
        return 0;   /* not tracked: out of range or a buffer that does not match */
    r->rw = true;
    r->write = rw.write;
    r->lba = rw.lba;
    r->nblocks = rw.nblocks;
    if (rw.write || (c->flags & SC_NO_VERIFY))
        return 0;
    r->snap = rq->owned = malloc((size_t)rw.nblocks * sizeof *r->snap);
    if (!r->snap)
        return vs_err_set(e, VS_ENOMEM, "scsi driver: out of memory");
    for (uint32_t i = 0; i < rw.nblocks; i++)
        r->snap[i] = l->busy[rw.lba + i] ? SCSI_SNAP_SKIP : l->tag[rw.lba + i];
    return 0;
}

/* Writes in flight per block (+1 at submission, -1 at completion or abort). SCSI lets a
 * device run overlapping commands in any order (SIMPLE task attribute): a block written by
 * two writes in flight at once is marked contended (BUSY_CONTENDED) and holds an unknown
 * one of them until no write to it is in flight. */
#define BUSY_CONTENDED 0x80000000u
static void busy_range(scsi_drv *s, const scsi_req *r, int delta, bool set, uint64_t tag)
{
    if (!r->rw || !r->write || r->lun_ix < 0)
        return;
    scsi_lun *l = &s->lun[r->lun_ix];
    for (uint32_t i = 0; i < r->nblocks; i++) {
        uint32_t *b = &l->busy[r->lba + i];
        if (delta > 0) {
            *b = (*b ? *b | BUSY_CONTENDED : 0) + 1;
            continue;
        }
        bool contended = (*b & BUSY_CONTENDED) != 0;
        uint32_t n = (*b & ~BUSY_CONTENDED) - 1;
        *b = n ? n | (contended ? BUSY_CONTENDED : 0) : 0;
        if (set)
            l->tag[r->lba + i] = contended ? SCSI_TAG_UNKNOWN : tag;
    }
}

/* Opcodes that leave the medium as it was (anything else, unless tracked as a READ or
 * WRITE, makes the LUN's shadow unknown). */
static bool read_only_opcode(uint8_t op)
{
    switch (op) {
    case VS_SCSI_TEST_UNIT_READY: case VS_SCSI_REQUEST_SENSE: case VS_SCSI_READ_6:
    case VS_SCSI_INQUIRY: case VS_SCSI_MODE_SENSE_6: case VS_SCSI_START_STOP_UNIT:
    case VS_SCSI_PREVENT_ALLOW: case VS_SCSI_READ_CAPACITY_10: case VS_SCSI_READ_10:
    case VS_SCSI_VERIFY_10: case VS_SCSI_SYNCHRONIZE_CACHE_10: case VS_SCSI_MODE_SENSE_10:
    case VS_SCSI_READ_16: case VS_SCSI_VERIFY_16: case VS_SCSI_SYNCHRONIZE_CACHE_16:
    case VS_SCSI_SERVICE_ACTION_IN_16: case VS_SCSI_REPORT_LUNS: case VS_SCSI_READ_12:
    case VS_SCSI_VERIFY_12:
        return true;
    default:
        return false;
    }
}

/* Header [readable: hdr (1 or 2), data-out] [writable: response, data-in]. */
static int cmd_layout(vs_driver *d, const scsi_cmd *c, vs_drv_req **out, vs_err *e)
{
    scsi_drv *s = scsi_drv_of(d);
    uint64_t hdr = vs_scsi_cmd_req_len(s->cfg.cdb_size, false);
    uint64_t resp = vs_scsi_cmd_resp_len(s->cfg.sense_size);
    uint32_t hl = c->hdr_len ? c->hdr_len : (uint32_t)hdr;
    uint32_t rl = c->resp_len ? c->resp_len : (uint32_t)resp;
    bool split = (c->flags & SC_SPLIT_HDR) || (d->o.chain_layout & VS_DRV_LAYOUT_SPLIT_HEADER);
    uint32_t hsegs = split && hl > 1 ? 2 : 1;
    uint32_t oseg, iseg;
    uint32_t no = data_segs(d, c->out_len, c->flags, &oseg);
    uint32_t ni = data_segs(d, c->in_len, c->flags, &iseg);
    if (s->cfg.seg_max && no + ni > s->cfg.seg_max)
        return vs_err_set(e, VS_EINVAL, "scsi: %u data segments exceed seg_max %u", no + ni,
                          s->cfg.seg_max);
    uint32_t nseg = hsegs + no + 1 + ni;
    if (nseg > d->qsize && !use_indirect(d, c->flags))
        return vs_err_set(e, VS_EINVAL, "scsi: %u descriptors exceed the queue size %u", nseg,
                          d->qsize);
    vs_drv_req *rq;
    int rc = vs__drv_req_new(d, (uint16_t)(VS_SCSI_Q_REQ0 + c->rq), nseg, &rq, e);
    if (rc < 0)
        return rc;
    uint32_t k = 0;
    rq->seg[k++].len = hsegs == 2 ? hl / 2 : hl;
    if (hsegs == 2)
        rq->seg[k++].len = hl - hl / 2;
    lay_data(rq, &k, c->out_len, oseg, no);
    rq->n_out = k;
    scsi_req *r = scsi_rq(rq);
    r->hsegs = hsegs;
    r->resp_seg = k;
    rq->seg[k++].len = rl;
    r->data_in_first = k;
    r->data_in_count = ni;
    lay_data(rq, &k, c->in_len, iseg, ni);
    r->resp_len = rl;
    *out = rq;
    return 0;
}

/* The command header (VS_SCSI_REQ_FIXED + cdb_size bytes) at hb. */
static void pack_hdr(const scsi_drv *s, const scsi_req *r, const scsi_cmd *c, uint8_t *hb,
                     uint32_t cdb_size)
{
    bool mut = (s->mutations & SCSI_DMUT_TASK_ATTR) != 0;
    vs_scsi_cmd_req f; /* fixed fields only: the CDB comes from c */
    memcpy(f.lun, c->lun, 8);
    f.id = r->tag;
    f.task_attr = mut ? VS_SCSI_S_ORDERED : c->task_attr;
    f.prio = mut ? 1 : c->prio;
    f.crn = mut ? 1 : c->crn;
    vs_scsi_cmd_req_pack(hb, cdb_size, &f, c->cdb, c->cdb_len);
}

static int cmd_fill(vs_driver *d, vs_drv_req *rq, const scsi_cmd *c, vs_err *e)
{
    scsi_drv *s = scsi_drv_of(d);
    scsi_req *r = scsi_rq(rq);
    /* vs_scsi_cmd_req_pack, not _put: a vs_scsi_cmd_req with its 256-byte CDB array
     * filled per command is measurable */
    uint8_t hb[VS_SCSI_REQ_FIXED + VS_SCSI_CDB_MAX];
    uint32_t cdb_size = s->cfg.cdb_size;
    if (cdb_size > VS_SCSI_CDB_MAX)
        return vs_err_set(e, VS_EINVAL, "scsi: cdb_size %u too large", cdb_size);
    size_t n = VS_SCSI_REQ_FIXED + cdb_size;
    /* the usual header (one segment of exactly n bytes) is packed where it lies when
     * nothing watches guest memory accesses; the same bytes vs_gmem_write would store */
    uint8_t *g = r->hsegs == 1 && rq->seg[0].len == n && !vs_gmem_hooked(d->gm)
                     ? vs_gmem_translate(d->gm, rq->seg[0].gpa, n, VS_GMEM_WRITE, NULL) : NULL;
    if (g) {
        pack_hdr(s, r, c, g, cdb_size);
        return c->out_len ? fill_data_out(d, rq, c, 1, rq->n_out - 1, e) : 0;
    }
    pack_hdr(s, r, c, hb, cdb_size);
    uint32_t hsegs = r->hsegs;
    /* a truncated header carries the first bytes of the whole one; a longer one zeroes */
    size_t hl = rq->seg[0].len + (hsegs == 2 ? rq->seg[1].len : 0);
    if (hl > sizeof hb)
        hl = sizeof hb;
    if (hl > (size_t)n)
        memset(hb + n, 0, hl - (size_t)n);
    int rc = vs_gmem_write(d->gm, rq->seg[0].gpa, hb, rq->seg[0].len, e);
    if (rc == 0 && hsegs == 2)
        rc = vs_gmem_write(d->gm, rq->seg[1].gpa, hb + rq->seg[0].len, rq->seg[1].len, e);
    if (rc == 0 && c->out_len)
        rc = fill_data_out(d, rq, c, hsegs, rq->n_out - hsegs, e);
    return rc;
}

int scsi_cmd_submit(vs_driver *d, const scsi_cmd *c, vs_err *e)
{
    if (!scsi_driver_is(d))
        return vs_err_set(e, VS_ENOTSUP, "scsi: device id %u is not virtio-scsi",
                          d->t->device_id);
    if (VS_SCSI_Q_REQ0 + c->rq >= d->nq)
        return vs_err_set(e, VS_EINVAL, "scsi: request queue %u is not set up", c->rq);
    scsi_drv *s = scsi_drv_of(d);
    int rc = scsi_refill(d, e);   /* used event buffers are replaced before new work */
    if (rc < 0)
        return rc;
    bool indirect = use_indirect(d, c->flags);
    if (indirect && !(d->features & VS_BIT(VS_F_INDIRECT_DESC)))
        return vs_err_set(e, VS_ENOTSUP, "scsi: indirect request without INDIRECT_DESC");
    int lix = (c->flags & SC_LUN_IX) && c->lun_ix >= 0 && (unsigned)c->lun_ix < s->nlun &&
                      s->lun[c->lun_ix].present
                  ? c->lun_ix : lun_of(s, c->lun);
    if (lix >= 0 && s->lun[lix].outstanding >= lun_depth(d))
        return -VS_ENOSPC;   /* the LUN's queue depth is full */
    vs_drv_req *rq = NULL;
    if ((rc = cmd_layout(d, c, &rq, e)) < 0)
        return rc;
    scsi_req *r = scsi_rq(rq);
    r->kind = SK_CMD;
    r->opcode = c->cdb_len ? c->cdb[0] : 0;
    r->tag = c->tag ? c->tag : s->next_tag++;
    r->user = c->user;
    r->flags = c->flags;
    r->lun_ix = lix;
    r->out_len = c->out_len;
    r->in_len = c->in_len;
    /* unverified data-in is not looked at: only the response (the first writable
     * segment) must not hold stale pool bytes */
    rq->poison_first_only = (c->flags & SC_NO_VERIFY) != 0;
    if ((rc = plan_rw(d, r, rq, c, e)) < 0 || (rc = vs__drv_req_layout(d, rq, e)) < 0 ||
        (rc = cmd_fill(d, rq, c, e)) < 0)
        goto fail;
    if (lix >= 0 && !r->rw && !(c->flags & SC_UNTRACKED) && !read_only_opcode(r->opcode))
        scsi_shadow_set(&s->lun[lix], 0, s->lun[lix].blocks, SCSI_TAG_UNKNOWN);
    busy_range(s, r, +1, false, 0);
    if (lix >= 0)
        s->lun[lix].outstanding++;
    rc = vs__drv_req_commit(d, rq, indirect, (c->flags & SC_DEFER) != 0, e);
    if (rc < 0 && !rq->added) {
        busy_range(s, r, -1, false, 0);
        if (lix >= 0)
            s->lun[lix].outstanding--;
        goto fail;
    }
    return rc;
fail:
    vs__drv_req_free(d, rq);
    return rc;
}

/* A controlq request: readable req_len bytes, writable resp_len bytes. */
static int ctrl_submit(vs_driver *d, const uint8_t *req, uint32_t req_len, uint32_t resp_len,
                       uint8_t kind, uint32_t subtype, uint64_t tag, bool defer, vs_err *e)
{
    if (!scsi_driver_is(d) || d->nq <= VS_SCSI_Q_CTRL)
        return vs_err_set(e, VS_ESTATE, "scsi: the controlq is not set up");
    vs_drv_req *rq = NULL;
    int rc = scsi_refill(d, e);
    if (rc == 0)
        rc = vs__drv_req_new(d, VS_SCSI_Q_CTRL, 2, &rq, e);
    if (rc < 0)
        return rc;
    rq->n_out = 1;
    rq->seg[0].len = req_len;
    rq->seg[1].len = resp_len;
    scsi_req *r = scsi_rq(rq);
    r->kind = kind;
    r->subtype = subtype;
    r->tag = tag;
    r->lun_ix = -1;
    r->resp_seg = 1;
    r->resp_len = resp_len;
    if ((rc = vs__drv_req_layout(d, rq, e)) < 0 ||
        (rc = vs_gmem_write(d->gm, rq->seg[0].gpa, req, req_len, e)) < 0)
        goto fail;
    rc = vs__drv_req_commit(d, rq, use_indirect(d, 0), defer, e);
    if (rc < 0 && !rq->added)
        goto fail;
    return rc;
fail:
    vs__drv_req_free(d, rq);
    return rc;
}

int scsi_tmf_submit(vs_driver *d, uint32_t subtype, const uint8_t lun[8], uint64_t tag,
                    bool defer, vs_err *e)
{
    vs_scsi_tmf_req t = {.type = VS_SCSI_T_TMF, .subtype = subtype, .id = tag};
    memcpy(t.lun, lun, 8);
    uint8_t b[VS_SCSI_TMF_REQ_BYTES];
    vs_scsi_tmf_req_put(b, &t);
    return ctrl_submit(d, b, sizeof b, VS_SCSI_TMF_RESP_BYTES, SK_TMF, subtype, tag, defer, e);
}

int scsi_an_submit(vs_driver *d, uint32_t type, const uint8_t lun[8], uint32_t requested,
                   vs_err *e)
{
    vs_scsi_an_req a = {.type = type, .event_requested = requested};
    memcpy(a.lun, lun, 8);
    uint8_t b[VS_SCSI_AN_REQ_BYTES];
    vs_scsi_an_req_put(b, &a);
    return ctrl_submit(d, b, sizeof b, VS_SCSI_AN_RESP_BYTES, SK_AN, type, 0, false, e);
}

/* One device-writable event buffer (ev_len bytes; mutated: readable or short). */
static int event_post(vs_driver *d, vs_err *e)
{
    scsi_drv *s = scsi_drv_of(d);
    uint32_t len = s->ev_len ? s->ev_len : s->cfg.event_info_size;
    if (len < VS_SCSI_EVENT_BYTES)
        len = VS_SCSI_EVENT_BYTES;
    if (s->mutations & SCSI_DMUT_EVENT_SHORT)
        len = 8;
    if ((s->mutations & SCSI_DMUT_EVENT_BELOW_INFO) && s->cfg.event_info_size > 1)
        len = s->cfg.event_info_size - 1;
    bool readable = (s->mutations & SCSI_DMUT_EVENT_READABLE) != 0;
    vs_drv_req *rq;
    int rc = vs__drv_req_new(d, VS_SCSI_Q_EVENT, 1, &rq, e);
    if (rc < 0)
        return rc;
    rq->n_out = readable ? 1 : 0;
    rq->seg[0].len = len;
    scsi_req *r = scsi_rq(rq);
    r->kind = SK_EVENT;
    r->lun_ix = -1;
    r->resp_len = len;
    if ((rc = vs__drv_req_layout(d, rq, e)) < 0)
        goto fail;
    if (readable) {
        uint8_t z[64] = {0};
        if ((rc = vs_gmem_write(d->gm, rq->seg[0].gpa, z, len < 64 ? len : 64, e)) < 0)
            goto fail;
    }
    rc = vs__drv_req_commit(d, rq, false, true, e);
    if (rc < 0 && !rq->added)
        goto fail;
    s->ev_posted++;
    return rc;
fail:
    vs__drv_req_free(d, rq);
    return rc;
}

int scsi_eventq_fill(vs_driver *d, vs_err *e)
{
    scsi_drv *s = scsi_drv_of(d);
    if (d->nq <= VS_SCSI_Q_EVENT || (s->mutations & SCSI_DMUT_NO_EVENTQ))
        return 0;
    bool any = false;
    while (s->ev_posted < s->ev_bufs) {
        int rc = event_post(d, e);
        if (rc < 0)
            return rc;
        any = true;
    }
    return any ? vs_driver_flush(d, VS_SCSI_Q_EVENT, e) : 0;
}

/* After DRIVER_OK: the sizes the driver wants, then the eventq. */

int scsi_bring_up(vs_driver *d, vs_err *e)
{
    int rc = write_sizes(d, e);
    return rc < 0 ? rc : scsi_eventq_fill(d, e);
}

/* ------------------------------------------------------------------ waiting */

unsigned scsi_busy(const vs_driver *d)
{
    unsigned n = vs_driver_outstanding(d, -1);
    unsigned ev = d->nq > VS_SCSI_Q_EVENT ? vs_driver_outstanding(d, VS_SCSI_Q_EVENT) : 0;
    return n - ev;
}

int scsi_refill(vs_driver *d, vs_err *e)
{
    scsi_drv *s = scsi_drv_of(d);
    if ((s->mutations & SCSI_DMUT_NO_REFILL) || s->ev_posted >= s->ev_bufs)
        return 0;
    return scsi_eventq_fill(d, e);
}

int scsi_run(vs_driver *d, uint64_t timeout_ns, vs_err *e)
{
    vs_drv_waiter w = {.start = vs_driver_now(d),
                       .timeout_ns = timeout_ns ? timeout_ns : d->o.timeout_ns};
    int rc = vs_driver_flush(d, -1, e);
    if (rc >= 0)
        rc = vs_driver_poll(d, e);
    while (rc >= 0 && scsi_busy(d))
        rc = vs__drv_wait_some(d, &w, e);
    if (rc >= 0)
        rc = scsi_refill(d, e);
    return rc < 0 ? rc : 0;
}

bool scsi_take(vs_driver *d, uint8_t kind, int q, int id, scsi_result *out)
{
    for (size_t i = 0; i < d->res_n; i++) {
        const scsi_result *x = vs__drv_result_at(d, i);
        if ((kind && x->kind != kind) || (q >= 0 && x->queue != q) ||
            (id >= 0 && x->id != (uint32_t)id))
            continue;
        if (out)
            *out = *x;
        vs__drv_result_remove(d, i);
        return true;
    }
    return false;
}

int scsi_cmd_do(vs_driver *d, const scsi_cmd *c, scsi_result *res, vs_err *e)
{
    int id = scsi_cmd_submit(d, c, e);
    if (id == -VS_ENOSPC)
        return vs_err_set(e, VS_ENOSPC, "scsi: the LUN already has cmd_per_lun commands "
                          "outstanding");
    if (id < 0)
        return id;
    int rc = scsi_run(d, 0, e);
    if (rc < 0)
        return rc;
    if (!scsi_take(d, SK_CMD, VS_SCSI_Q_REQ0 + c->rq, id, res))
        return vs_err_set(e, VS_EPROTO, "scsi: command (id %d) completed without a result", id);
    return 0;
}

/* ------------------------------------------------------------------ LUNs */

int scsi_lun_find(const scsi_drv *s, uint8_t target, uint16_t lun)
{
    for (unsigned i = 0; i < s->nlun; i++)
        if (s->lun[i].present && s->lun[i].target == target && s->lun[i].lun == lun)
            return (int)i;
    return -1;
}

int scsi_lun_add(scsi_drv *s, uint8_t target, uint16_t lun)
{
    int ix = scsi_lun_find(s, target, lun);
    if (ix >= 0)
        return ix;
    for (unsigned i = 0; i < s->nlun; i++)   /* seen before: keeps what it knew */
        if (s->lun[i].target == target && s->lun[i].lun == lun) {
            s->lun[i].present = true;
            return (int)i;
        }
    for (unsigned i = 0; i < s->nlun; i++)
        if (!s->lun[i].present && !s->lun[i].outstanding) {
            scsi_shadow_free(&s->lun[i]);
            s->lun[i] = (scsi_lun){.target = target, .lun = lun, .present = true};
            return (int)i;
        }
    if (s->nlun >= SCSI_MAX_LUNS)
        return -1;
    s->lun[s->nlun] = (scsi_lun){.target = target, .lun = lun, .present = true};
    return (int)s->nlun++;
}

void scsi_lun_drop(scsi_drv *s, int ix)
{
    if (ix >= 0 && (unsigned)ix < s->nlun)
        s->lun[ix].present = false;   /* the slot stays until its commands complete */
}

/* ------------------------------------------------------------------ completion */

static void verify_in(vs_driver *d, vs_drv_req *rq, scsi_result *res)
{
    scsi_drv *s = scsi_drv_of(d);
    const scsi_req *r = scsi_rq(rq);
    const scsi_lun *l = &s->lun[r->lun_ix];
    uint32_t bl = l->block_len;
    uint8_t got[4096], exp[4096];
    if (bl > sizeof got)
        return;
    uint32_t seg = r->data_in_first, segoff = 0;
    for (uint32_t b = 0; b < r->nblocks; b++) {
        uint32_t have = 0;  /* gather one block over the segments */
        while (have < bl && seg < r->data_in_first + r->data_in_count) {
            const vs_seg *sg = &rq->seg[seg];
            uint32_t k = sg->len - segoff < bl - have ? sg->len - segoff : bl - have;
            if (vs_gmem_read(d->gm, sg->gpa + segoff, got + have, k, NULL) < 0)
                return;
            have += k;
            segoff += k;
            if (segoff == sg->len) {
                seg++;
                segoff = 0;
            }
        }
        uint64_t lba = r->lba + b, want = r->snap[b];
        if (want == SCSI_SNAP_SKIP || want == SCSI_TAG_UNKNOWN || l->busy[lba] ||
            l->tag[lba] != want)
            continue;   /* changed or being changed since submission */
        scsi_pattern_block(s->seed, want, lba, exp, bl);
        if (memcmp(got, exp, bl)) {
            unsigned off = 0;
            while (got[off] == exp[off])
                off++;
            res->data_ok = false;
            fail_msg(res, "verify: LUN %u:%u block %llu offset %u: got 0x%02x, expected 0x%02x",
                     l->target, l->lun, (unsigned long long)lba, off, got[off], exp[off]);
            return;
        }
        res->blocks_verified++;
    }
}

static void complete_cmd(vs_driver *d, vs_drv_req *rq, const vs_drv_done *done,
                         scsi_result *res)
{
    scsi_drv *s = scsi_drv_of(d);
    scsi_req *r = scsi_rq(rq);
    uint8_t b[VS_SCSI_RESP_FIXED + VS_SCSI_SENSE_MAX];
    uint32_t rl = r->resp_len < sizeof b ? r->resp_len : (uint32_t)sizeof b;
    /* the fixed fields first, the sense bytes only when sense_len says there are some
     * (vs_scsi_cmd_resp_get would copy and pad the whole sense field per command); the
     * sense bytes are parsed where they lie, b + 12 */
    uint64_t gpa = rq->seg[r->resp_seg].gpa;
    uint32_t fixed = rl < VS_SCSI_RESP_FIXED ? rl : VS_SCSI_RESP_FIXED;
    /* the fixed fields where they lie when nothing watches guest memory accesses (the
     * pool chunk is one region), else copied */
    const uint8_t *f = fixed == VS_SCSI_RESP_FIXED && !vs_gmem_hooked(d->gm)
                           ? vs_gmem_translate(d->gm, gpa, fixed, VS_GMEM_READ, NULL) : NULL;
    if (!f) {
        memset(b, 0, fixed);
        vs_gmem_read(d->gm, gpa, b, fixed, NULL);
        f = b;
    }
    uint32_t ss = rl >= VS_SCSI_RESP_FIXED ? rl - VS_SCSI_RESP_FIXED : 0;
    res->resp_ok = rl >= VS_SCSI_RESP_FIXED;
    if (res->resp_ok) {
        vs_scsi_cmd_resp fx; /* the fixed fields only */
        vs_scsi_cmd_resp_fixed_at(f, &fx);
        res->response = fx.response;
        res->status = fx.status;
        res->status_qualifier = fx.status_qualifier;
        res->sense_len = fx.sense_len;
        res->residual = fx.residual;
        vs_scsi_sense sn;
        uint32_t sl = fx.sense_len < ss ? fx.sense_len : ss;
        if (sl) {
            memset(b + VS_SCSI_RESP_FIXED, 0, sl);
            vs_gmem_read(d->gm, gpa + VS_SCSI_RESP_FIXED, b + VS_SCSI_RESP_FIXED, sl, NULL);
        }
        if (sl && vs_scsi_sense_parse(b + VS_SCSI_RESP_FIXED, sl, &sn) == 0) {
            res->sense_parsed = true;
            res->sense_key = sn.key;
            res->asc = sn.asc;
            res->ascq = sn.ascq;
        }
    }
    bool good = res->resp_ok && res->response == VS_SCSI_S_OK &&
                res->status == VS_SCSI_ST_GOOD;
    if ((r->flags & SC_KEEP_DATA) && r->data_in_count) {
        const vs_seg *sg = &rq->seg[r->data_in_first];
        res->data_len = sg->len < SCSI_DATA_KEEP ? sg->len : SCSI_DATA_KEEP;
        vs_gmem_read(d->gm, sg->gpa, res->data, res->data_len, NULL);
    }
    res->data_ok = true;
    if (good && r->rw && !r->write && r->snap)
        verify_in(d, rq, res);
    if (done->len_valid && done->used_len < (rl < VS_SCSI_RESP_FIXED ? rl : VS_SCSI_RESP_FIXED))
        fail_msg(res, "used length %u does not cover the response header", done->used_len);
    /* the shadow: what the LUN holds now */
    uint64_t tag = good && !res->residual ? r->write_tag : SCSI_TAG_UNKNOWN;
    busy_range(s, r, -1, r->rw && r->write, tag);
    if (r->lun_ix >= 0 && s->lun[r->lun_ix].outstanding)
        s->lun[r->lun_ix].outstanding--;
}

static void complete_ctrl(vs_driver *d, vs_drv_req *rq, scsi_result *res)
{
    const scsi_req *r = scsi_rq(rq);
    uint8_t b[VS_SCSI_AN_RESP_BYTES] = {0};
    uint32_t n = r->resp_len < sizeof b ? r->resp_len : (uint32_t)sizeof b;
    vs_gmem_read(d->gm, rq->seg[r->resp_seg].gpa, b, n, NULL);
    res->resp_ok = true;
    if (r->kind == SK_TMF) {
        res->response = b[0];
    } else {
        vs_scsi_an_resp a;
        vs_scsi_an_resp_get(b, &a);
        res->event_actual = a.event_actual;
        res->response = a.response;
    }
}

/* An event: what it says, and whether it asks for a scan (rescan, removal, lost events). */
static void complete_event(vs_driver *d, vs_drv_req *rq, const vs_drv_done *done,
                           scsi_result *res)
{
    scsi_drv *s = scsi_drv_of(d);
    if (s->ev_posted)
        s->ev_posted--;
    uint8_t b[VS_SCSI_EVENT_BYTES] = {0};
    uint32_t len = rq->seg[0].len < sizeof b ? rq->seg[0].len : (uint32_t)sizeof b;
    vs_gmem_read(d->gm, rq->seg[0].gpa, b, len, NULL);
    vs_scsi_event ev;
    vs_scsi_event_get(b, &ev);
    res->event = ev.event;
    res->reason = ev.reason;
    memcpy(res->lun8, ev.lun, 8);
    res->resp_ok = !done->len_valid || done->used_len >= VS_SCSI_EVENT_BYTES;
    s->events_seen++;
    if (ev.event & VS_SCSI_T_EVENTS_MISSED)
        s->events_missed++;
    uint32_t type = ev.event & ~VS_SCSI_T_EVENTS_MISSED;
    bool rescan = (ev.event & VS_SCSI_T_EVENTS_MISSED) ||
                  (type == VS_SCSI_T_TRANSPORT_RESET && ev.reason != VS_SCSI_EVT_RESET_HARD);
    if (rescan && !(s->mutations & SCSI_DMUT_NO_RESCAN)) {
        s->rescan_due = true;
        s->rescans++;
    }
    if (type == VS_SCSI_T_TRANSPORT_RESET && ev.reason == VS_SCSI_EVT_RESET_REMOVED) {
        vs_scsi_lun_addr a;
        if (vs_scsi_lun_decode(ev.lun, &a) == 0)
            scsi_lun_drop(s, scsi_lun_find(s, a.target, a.lun));
    }
}

static void scsi_complete(vs_driver *d, vs_drv_req *rq, const vs_drv_done *done, void *slot)
{
    scsi_result *res = slot;
    res->queue = done->queue;
    res->id = done->id;
    res->used_len = done->used_len;
    res->len_valid = done->len_valid;
    res->complete_ns = done->complete_ns;
    if (!rq) {
        snprintf(res->msg, sizeof res->msg, "used element without a request");
        return;
    }
    const scsi_req *r = scsi_rq(rq);
    res->kind = r->kind;
    res->submit_ns = rq->submit_ns;
    res->latency_ns = done->complete_ns - rq->submit_ns;
    res->guard_ok = done->guard_ok;
    if (rq->fault) {
        res->fault = true;
        snprintf(res->msg, sizeof res->msg,
                 "device completed a malformed chain (expected DEVICE_NEEDS_RESET)");
        return;
    }
    res->tag = r->tag;
    res->user = r->user;
    res->opcode = r->opcode;
    res->subtype = r->subtype;
    res->in_len = r->in_len;
    res->out_len = r->out_len;
    res->resp_len = r->resp_len;
    if (r->kind == SK_CMD)
        complete_cmd(d, rq, done, res);
    else if (r->kind == SK_EVENT)
        complete_event(d, rq, done, res);
    else
        complete_ctrl(d, rq, res);
    if (!done->guard_ok)
        fail_msg(res, "%.150s", done->guard_msg);
    res->ok = res->resp_ok && res->data_ok && res->guard_ok && !res->msg[0];
    if (r->kind != SK_CMD)
        res->ok = res->resp_ok && res->guard_ok && !res->msg[0];
}

static void scsi_abort(vs_driver *d, vs_drv_req *rq)
{
    scsi_drv *s = scsi_drv_of(d);
    scsi_req *r = scsi_rq(rq);
    if (rq->fault)
        return;
    if (r->kind == SK_EVENT && s->ev_posted)
        s->ev_posted--;
    busy_range(s, r, -1, r->rw && r->write, SCSI_TAG_UNKNOWN);
    if (r->kind == SK_CMD && r->lun_ix >= 0 && s->lun[r->lun_ix].outstanding)
        s->lun[r->lun_ix].outstanding--;
}

/* Fault chains start from a TMF QUERY TASK SET of LUN 0:0 (the controlq's smallest
 * request: a 24-byte header and a 1-byte response). */
static void scsi_fault_shape(vs_driver *d, vs_drv_req *rq, vs_drv_fault_shape *sh)
{
    (void)d;
    scsi_req *r = scsi_rq(rq);
    r->kind = SK_TMF;
    r->lun_ix = -1;
    vs_scsi_tmf_req t = {.type = VS_SCSI_T_TMF, .subtype = VS_SCSI_T_TMF_QUERY_TASK_SET};
    vs_scsi_lun_encode(t.lun, 0, 0);
    vs_scsi_tmf_req_put(sh->hdr, &t);
    sh->hdr_len = VS_SCSI_TMF_REQ_BYTES;
    sh->status_len = VS_SCSI_TMF_RESP_BYTES;
}

const vs_drv_personality vs_scsi_drv_personality = {
    .default_features = SCSI_DRV_FEATURES,
    .multiqueue_feature = -1,
    .req_size = sizeof(scsi_req),
    .result_size = sizeof(scsi_result),
    .state_create = scsi_state_create,
    .state_free = scsi_state_free,
    .setup = scsi_setup,
    .complete = scsi_complete,
    .abort = scsi_abort,
    .fault_shape = scsi_fault_shape,
};
