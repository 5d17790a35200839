/* Reference virtio-scsi device (VIRTIO 1.4 "SCSI Host Device"): config space, features,
 * request queues, creation, the vs_device_ops table and the host-side API. controlq is
 * scsi_ctrl.c, eventq scsi_events.c, the SCSI target scsi_target*.c (scsi_int.h).
 *
 * Transport-independent and clock-free like blk: handle() performs one request. Two
 * things cannot complete at once, so the device defers them (handle() returns
 * VS_DEV_DEFERRED and completes later through vs_device.complete): eventq buffers, until
 * there is an event; and commands to a LUN the host asked to hold (vs_scsi_hold), until a
 * TMF, a reset, or vs_scsi_release. Without a transport that sets vs_device.complete,
 * holds are ignored and eventq buffers are a device error.
 *
 * Queues: 0 controlq, 1 eventq, 2 .. 2 + num_queues - 1 request queues.
 * Features: INOUT, HOTPLUG, CHANGE offered (options); T10_PI offered only with the
 * t10_pi option, and then honoured by skipping: pi_bytesout bytes after the header are
 * not read, pi_bytesin bytes after the response are zero-filled (no protection checking;
 * the LUs report no protection in INQUIRY / READ CAPACITY 16).
 *
 * Request layout: readable {header: lun, id, task_attr, prio, crn, cdb[cdb_size] (+ PI
 * fields)} [pi_out] dataout; writable {sense_len, residual, status_qualifier, status,
 * response, sense[sense_size]} [pi_in] datain. Segment boundaries do not matter (a
 * header split across descriptors is legal).
 *
 * DEVICE ERRORS (handle() < 0; the transport sets DEVICE_NEEDS_RESET): a queue that does
 * not exist; an inconsistent chain (readable after writable segments); a command whose
 * writable part exceeds 4 GiB - 1 (no used length could cover it); a command header
 * shorter than 19 + cdb_size (+ 8); a writable part shorter than 12 + sense_size; a
 * controlq request shorter than its type's readable part or with a writable part shorter
 * than its response, or of an unknown type; an eventq buffer with readable bytes; eventq
 * buffers without deferred completion; a guest memory access that fails.
 *
 * Responses on the request queues:
 *   - BAD_TARGET: a LUN not in the single-level format, or a target with no LU;
 *   - FAILURE: data-out and data-in both present without INOUT (nothing executed), PI
 *     byte counts larger than the data parts;
 *   - OVERRUN: the CDB needs more data than the buffers hold (nothing executed);
 *   - ABORTED / RESET: held commands ended by ABORT TASK (SET) / CLEAR TASK SET, and by
 *     LOGICAL UNIT RESET / I_T NEXUS RESET / device reset (commands outstanding at a
 *     device reset are completed with RESET before the queues go; a reset of one queue
 *     only makes the device forget that queue's held commands);
 *   - BUSY, TRANSPORT_FAILURE, TARGET_FAILURE, NEXUS_FAILURE, FAILURE: injected by the
 *     host (vs_scsi_inject_response);
 *   - OK otherwise, with the target's SAM status and fixed sense. The sense field gets
 *     min(sense length, sense_size) bytes and sense_len says how many were written; the
 *     rest of the sense field is zero-filled (the used length covers it).
 *   residual = (dataout + datain bytes) - (bytes the command transferred both ways); for
 *   responses other than OK it is the whole data length. Used length: 12 + sense_size
 *   (+ pi_bytesin) + data-in bytes written.
 *
 * Config: 36 bytes, every field readable at any offset and width. Only sense_size and
 * cdb_size take writes (like QEMU, values >= 65536 / >= 256 are ignored); other writes
 * are ignored. Reset restores 96 / 32. No unit attention at power-on or device reset (a
 * reset TMF does raise one).
 */
#include "scsi_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "virtiosim/le.h"

#define XFER_MAX (64u << 20)
#define MEDIUM_STREAM_MIN 1024u   /* smaller writes to RAM storage go through the cache */
#define SENSE_SIZE_LIMIT 65536u
#define CDB_SIZE_LIMIT 256u

static const vs_device_ops scsi_ops;

scsi_dev *vs__scsi_dev(vs_device *d, vs_err *e)
{
    if (!d || d->ops != &scsi_ops) {
        vs_err_set(e, VS_EINVAL, "scsi: not a scsi device");
        return NULL;
    }
    return to_scsi(d);
}

/* ------------------------------------------------------------------ chain access */

/* The host bytes of [off, off + len) of a chain part when they lie in one segment that
 * vs_chain_xfer would copy through (host_ok, a host pointer allowing the direction);
 * NULL: go through vs_chain_xfer. */
static inline uint8_t *part_host(const scsi_dev *s, const vs_chain *c, bool writable,
                                 uint64_t off, uint64_t len, bool to_guest)
{
    if (!s->host_ok)
        return NULL;
    uint32_t end = writable ? c->nseg : c->n_out;
    for (uint32_t i = writable ? c->n_out : 0; i < end; i++) {
        const vs_dseg *g = &c->seg[i];
        if (off < g->len)
            return g->host && len <= g->len - off && (g->write || !to_guest)
                       ? (uint8_t *)g->host + off : NULL;
        off -= g->len;
    }
    return NULL;
}

int vs__scsi_chain_xfer(scsi_dev *s, const vs_chain *c, bool writable, uint64_t off,
                        void *buf, uint64_t len, bool to_guest, vs_err *e)
{
    /* the usual case (a data buffer in one segment) without the general walk */
    uint8_t *h = len ? part_host(s, c, writable, off, len, to_guest) : NULL;
    if (h) {
        memcpy(to_guest ? h : buf, to_guest ? buf : h, (size_t)len);
        return 0;
    }
    int rc = vs_chain_xfer(s->dev.gm, c, writable, off, buf, len, to_guest, s->host_ok, e);
    return rc < 0 ? vs_err_prefix(e, "scsi") : 0;
}

static int chain_zero(scsi_dev *s, const vs_chain *c, uint64_t off, uint64_t len, vs_err *e)
{
    static const uint8_t zeros[4096];
    while (len) {
        uint64_t n = len < sizeof zeros ? len : sizeof zeros;
        int rc = vs__scsi_chain_xfer(s, c, true, off, (void *)zeros, n, true, e);
        if (rc < 0)
            return rc;
        off += n;
        len -= n;
    }
    return 0;
}

int vs__scsi_chain_check(const vs_chain *c, uint64_t *out_bytes, uint64_t *in_bytes,
                         vs_err *e)
{
    if (c->n_out > c->nseg || (c->nseg && !c->seg))
        return vs_err_set(e, VS_EINVAL, "scsi: malformed chain (n_out %u > nseg %u)",
                          c->n_out, c->nseg);
    uint64_t o = 0, i = 0;
    for (uint32_t k = 0; k < c->nseg; k++) {
        bool wr = k >= c->n_out;
        if (c->seg[k].write != wr)
            return vs_err_set(e, VS_EINVAL, "scsi: segment %u is device-%s but lies in the "
                              "%s part", k, c->seg[k].write ? "writable" : "readable",
                              wr ? "writable" : "readable");
        if (wr)
            i += c->seg[k].len;
        else
            o += c->seg[k].len;
    }
    *out_bytes = o;
    *in_bytes = i;
    return 0;
}

int vs__scsi_buf_reserve(scsi_dev *s, size_t n, vs_err *e)
{
    if (s->buf_cap >= n)
        return 0;
    size_t cap = s->buf_cap ? s->buf_cap : 4096;
    while (cap < n)
        cap *= 2;
    uint8_t *b = realloc(s->buf, cap);
    if (!b)
        return vs_err_set(e, VS_ENOMEM, "scsi: out of memory (%zu bytes)", cap);
    s->buf = b;
    s->buf_cap = cap;
    return 0;
}

/* ------------------------------------------------------------------ requests */

/* One parsed command chain. */
typedef struct scsi_req {
    const vs_chain *c;
    uint64_t out_bytes, in_bytes;
    uint64_t hdr_len, resp_len;
    uint64_t dout, din;     /* data-out / data-in bytes (after PI) */
    uint32_t pi_out, pi_in;
    bool pi_bad;            /* PI byte counts larger than the data parts */
    /* the header as read; its fields are taken where they lie (no vs_scsi_cmd_req copy
     * with its 256-byte cdb array per command) */
    uint8_t hdr[VS_SCSI_REQ_FIXED + CDB_SIZE_LIMIT + VS_SCSI_PI_BYTES]; /* cdb_size < 256 */
    uint64_t id;
    uint32_t cdb_len;       /* cdb_size: the CDB is hdr + VS_SCSI_REQ_FIXED */
} scsi_req;

static int parse_req(scsi_dev *s, const vs_chain *c, scsi_req *r, vs_err *e)
{
    r->c = c;
    int rc = vs__scsi_chain_check(c, &r->out_bytes, &r->in_bytes, e);
    if (rc < 0)
        return rc;
    uint32_t cdb_size = smut(s, VS_SCSI_MUT_CDB_SIZE_FIXED) ? VS_SCSI_CDB_SIZE_DEFAULT
                                                            : s->cdb_size;
    bool pi = sneg(s, VS_SCSI_F_T10_PI);
    r->hdr_len = vs_scsi_cmd_req_len(cdb_size, pi);
    r->resp_len = vs_scsi_cmd_resp_len(s->sense_size);
    if (r->out_bytes < r->hdr_len)
        return vs_err_set(e, VS_EINVAL, "scsi: command header truncated: %llu readable "
                          "bytes, need %llu", (unsigned long long)r->out_bytes,
                          (unsigned long long)r->hdr_len);
    if (r->in_bytes > UINT32_MAX) /* the used length could not say how much was written */
        return vs_err_set(e, VS_EINVAL, "scsi: writable part of %llu bytes exceeds 4 GiB - 1",
                          (unsigned long long)r->in_bytes);
    if (r->in_bytes < r->resp_len)
        return vs_err_set(e, VS_EINVAL, "scsi: response buffer too short: %llu writable "
                          "bytes, need %llu", (unsigned long long)r->in_bytes,
                          (unsigned long long)r->resp_len);
    if ((rc = vs__scsi_chain_xfer(s, c, false, 0, r->hdr, r->hdr_len, false, e)) < 0)
        return vs_err_prefix(e, "scsi: reading command header");
    r->id = vs_scsi_cmd_req_id_at(r->hdr);
    r->cdb_len = vs_scsi_cmd_req_cdb_len(cdb_size);
    uint32_t pi_bytesout = 0, pi_bytesin = 0;
    if (pi)
        vs_scsi_cmd_req_pi_at(r->hdr, cdb_size, &pi_bytesout, &pi_bytesin);
    r->pi_bad = false;
    r->pi_out = r->pi_in = 0;
    r->dout = r->out_bytes - r->hdr_len; /* header and response fit: checked above */
    r->din = r->in_bytes - r->resp_len;
    if (!pi)   /* what vs_scsi_cmd_layout_of says without PI */
        return 0;
    vs_scsi_cmd_layout l;
    r->pi_bad = vs_scsi_cmd_layout_of(r->out_bytes, r->in_bytes, cdb_size, s->sense_size, pi,
                                      pi_bytesout, pi_bytesin, &l) < 0;
    if (r->pi_bad) /* header and response fit (checked above): the PI counts do not */
        vs_scsi_cmd_layout_of(r->out_bytes, r->in_bytes, cdb_size, s->sense_size, false, 0, 0,
                              &l);
    r->dout = l.dout;
    r->din = l.din;
    r->pi_out = l.pi_out;
    r->pi_in = l.pi_in;
    return 0;
}

/* Writes the response (12 + sense_size bytes; f's fixed fields, its sense array unused:
 * sense_n bytes at sense) and, with PI, zeroes pi_in. */
static int put_resp(scsi_dev *s, const scsi_req *r, const vs_scsi_cmd_resp *f,
                    const uint8_t *sense, uint32_t sense_n, vs_err *e)
{
    /* packed straight into the response segment when it holds all of it */
    uint8_t *p = part_host(s, r->c, true, 0, r->resp_len, true);
    int rc = 0;
    if (p) {
        vs_scsi_cmd_resp_pack(p, s->sense_size, f, sense, sense_n);
    } else if ((rc = vs__scsi_buf_reserve(s, r->resp_len, e)) < 0) {
        return rc;
    } else {
        vs_scsi_cmd_resp_pack(s->buf, s->sense_size, f, sense, sense_n);
        if ((rc = vs__scsi_chain_xfer(s, r->c, true, 0, s->buf, r->resp_len, true, e)) < 0)
            return vs_err_prefix(e, "scsi: writing the response");
    }
    if (r->pi_in)
        return chain_zero(s, r->c, r->resp_len, r->pi_in, e);
    return 0;
}

/* Completes a parsed command with only a response code: nothing transferred. */
static int req_fail(scsi_dev *s, const scsi_req *r, uint8_t response, uint32_t *written,
                    vs_err *e)
{
    uint64_t data = r->dout + r->din;
    /* fixed fields only: the sense array is not read (no sense bytes) */
    vs_scsi_cmd_resp f;
    f.sense_len = 0;
    f.residual = data > UINT32_MAX ? UINT32_MAX : (uint32_t)data;
    f.status_qualifier = 0;
    f.status = 0;
    f.response = response;
    if (smut(s, VS_SCSI_MUT_RESIDUAL_WRONG))
        f.residual++;
    int rc = put_resp(s, r, &f, NULL, 0, e);
    if (rc < 0)
        return rc;
    *written = (uint32_t)(r->resp_len + r->pi_in);
    return 0;
}

int vs__scsi_req_fail(scsi_dev *s, const vs_chain *c, uint8_t response, uint32_t *written,
                      vs_err *e)
{
    scsi_req r;
    int rc = parse_req(s, c, &r, e);
    if (rc < 0)
        return rc;
    return req_fail(s, &r, response, written, e);
}

/* The target reads data-out through this (io->fetch). */
typedef struct fetch_ctx {
    scsi_dev *s;
    const vs_chain *c;
    uint64_t at;  /* readable offset of the data-out */
    vs_err *e;
} fetch_ctx;

/* Copies len bytes (a multiple of 64, dst 16-byte aligned) with streaming stores: a write
 * to RAM storage lands at a random place of a medium far larger than the caches and is
 * seldom read back soon, so it is not worth reading the lines in first (the stores
 * would) and evicting what the next commands use (about a tenth more commands per second
 * on 4 KiB random writes to a 64 MiB LU). The fence orders the stores before the
 * completion that follows, for a device served by another thread. */
static void copy_to_medium(void *dst, const void *src, size_t len)
{
#if defined(__SSE2__)
    __m128i *d = dst;
    const __m128i *q = src;
    for (size_t i = 0; i < len / 16; i += 4) {
        __m128i a = _mm_loadu_si128(q + i), b = _mm_loadu_si128(q + i + 1);
        __m128i c = _mm_loadu_si128(q + i + 2), x = _mm_loadu_si128(q + i + 3);
        _mm_stream_si128(d + i, a);
        _mm_stream_si128(d + i + 1, b);
        _mm_stream_si128(d + i + 2, c);
        _mm_stream_si128(d + i + 3, x);
    }
    _mm_sfence();
#else
    memcpy(dst, src, len);
#endif
}

static int fetch_out(void *ctx, uint32_t off, void *dst, uint32_t len, bool medium)
{
    fetch_ctx *f = ctx;
    if (medium && len >= MEDIUM_STREAM_MIN && !(len & 63) && !((uintptr_t)dst & 15)) {
        const uint8_t *h = part_host(f->s, f->c, false, f->at + off, len, false);
        if (h) {
            copy_to_medium(dst, h, len);
            return 0;
        }
    }
    return vs__scsi_chain_xfer(f->s, f->c, false, f->at + off, dst, len, false, f->e);
}

/* Runs the command on the target and writes the results. */
static int req_exec(scsi_dev *s, const scsi_req *r, const vs_scsi_lun_addr *a, scsi_lu *lu,
                    uint32_t *written, vs_err *e)
{
    uint32_t dout = r->dout > XFER_MAX ? XFER_MAX : (uint32_t)r->dout;
    uint32_t din = r->din > XFER_MAX ? XFER_MAX : (uint32_t)r->din;
    size_t off_in = r->resp_len;
    int rc = vs__scsi_buf_reserve(s, off_in + din, e);
    if (rc < 0)
        return rc;
    fetch_ctx f = {s, r->c, r->hdr_len + r->pi_out, e};
    /* the inputs only: vs__scsi_tgt_exec sets every result field before it is read (an
     * initialiser would zero the whole struct per command) */
    scsi_io io;
    io.cdb = vs_scsi_cmd_req_cdb_at(r->hdr);
    io.cdb_len = r->cdb_len;
    io.out = NULL;
    io.out_len = dout;
    io.fetch = fetch_out;
    io.fetch_ctx = &f;
    io.in = s->buf + off_in;
    io.in_cap = din;
    vs__scsi_tgt_exec(&s->tgt, lu, a->target, a->kind == VS_SCSI_LUN_REPORT_LUNS, &io);
    if (io.fetch_failed)
        return vs_err_prefix(e, "scsi: reading data-out");
    if (io.overrun)
        return req_fail(s, r, VS_SCSI_S_OVERRUN, written, e);
    /* fixed fields only: put_resp takes the sense bytes from io */
    vs_scsi_cmd_resp resp;
    resp.response = VS_SCSI_S_OK;
    resp.status = io.status;
    resp.status_qualifier = 0;
    if (io.status == VS_SCSI_ST_GOOD && smut(s, VS_SCSI_MUT_STATUS_NOT_SAM))
        resp.status = 0x01;
    uint32_t sense_n = io.sense_len < s->sense_size ? io.sense_len : s->sense_size;
    resp.sense_len = smut(s, VS_SCSI_MUT_SENSE_LEN_FULL) ? io.sense_len : sense_n;
    uint64_t moved = (uint64_t)io.out_used + io.in_len;
    resp.residual = (uint32_t)(r->dout + r->din - moved > UINT32_MAX
                                ? UINT32_MAX : r->dout + r->din - moved);
    if (smut(s, VS_SCSI_MUT_RESIDUAL_WRONG))
        resp.residual++;
    if ((rc = put_resp(s, r, &resp, io.sense, sense_n, e)) < 0)
        return rc;
    if (smut(s, VS_SCSI_MUT_SENSE_OVERFLOW) && io.sense_len > sense_n) {
        uint64_t room = r->in_bytes - VS_SCSI_RESP_FIXED, n = io.sense_len;
        if (n > room)
            n = room;
        vs__scsi_chain_xfer(s, r->c, true, VS_SCSI_RESP_FIXED, io.sense, n, true, e);
    }
    uint64_t in_at = r->resp_len + r->pi_in;
    if (io.in_len && (rc = vs__scsi_chain_xfer(s, r->c, true, in_at, (void *)io.in_data,
                                               io.in_len, true, e)) < 0)
        return vs_err_prefix(e, "scsi: writing data-in");
    *written = (uint32_t)(in_at + (smut(s, VS_SCSI_MUT_USED_LEN_SHORT) ? 0 : io.in_len));
    return 0;
}

static int req_run(scsi_dev *s, uint16_t q, const vs_chain *c, bool may_hold,
                   uint32_t *written, vs_err *e);

int vs__scsi_req_run(scsi_dev *s, uint16_t q, const vs_chain *c, bool may_hold,
                     uint32_t *written, vs_err *e)
{
    /* A command run as it is popped (may_hold) is copied through the ring's host pointers;
     * a held one runs later, when the front-end may have replaced its memory table. */
    s->host_ok = may_hold && !vs_gmem_hooked(s->dev.gm);
    int rc = req_run(s, q, c, may_hold, written, e);
    s->host_ok = false;
    return rc;
}

static int req_run(scsi_dev *s, uint16_t q, const vs_chain *c, bool may_hold,
                   uint32_t *written, vs_err *e)
{
    scsi_req r;
    int rc = parse_req(s, c, &r, e);
    if (rc < 0)
        return rc;
    vs_scsi_lun_addr a;
    vs_scsi_lun_decode(r.hdr, &a);
    if (a.kind == VS_SCSI_LUN_BAD)
        return req_fail(s, &r, VS_SCSI_S_BAD_TARGET, written, e);
    /* looked up once: the target runs the command on this LU too */
    scsi_lu *lu = a.kind == VS_SCSI_LUN_SINGLE ? vs__scsi_tgt_find(&s->tgt, a.target, a.lun)
                                               : NULL;
    if (a.kind == VS_SCSI_LUN_SINGLE && !lu && !vs__scsi_tgt_has_target(&s->tgt, a.target) &&
        !smut(s, VS_SCSI_MUT_BAD_TARGET_OK))
        return req_fail(s, &r, VS_SCSI_S_BAD_TARGET, written, e);
    if (r.pi_bad)
        return req_fail(s, &r, VS_SCSI_S_FAILURE, written, e);
    if (r.dout && r.din && !sneg(s, VS_SCSI_F_INOUT) && !smut(s, VS_SCSI_MUT_INOUT_ACCEPTED))
        return req_fail(s, &r, VS_SCSI_S_FAILURE, written, e);
    if (lu && lu->inject) {
        lu->inject--;
        return req_fail(s, &r, lu->inject_resp, written, e);
    }
    if (lu && lu->hold && may_hold && s->dev.complete) {
        if (lu->hold != UINT32_MAX)
            lu->hold--;
        rc = vs__scsi_held_add(s, q, c, a.target, a.lun, r.id);
        if (rc < 0)
            return vs_err_set(e, VS_ENOMEM, "scsi: out of memory holding a command");
        return VS_DEV_DEFERRED;
    }
    return req_exec(s, &r, &a, lu, written, e);
}

/* ------------------------------------------------------------------ config, features */

static void build_config(const scsi_dev *s, uint8_t cfg[VS_SCSI_CFG_SIZE])
{
    vs_scsi_config c = {
        .num_queues = s->o.num_queues,
        .seg_max = s->o.seg_max,
        .max_sectors = s->o.max_sectors,
        .cmd_per_lun = s->o.cmd_per_lun,
        .event_info_size = s->o.event_info_size > VS_SCSI_EVENT_BYTES ? s->o.event_info_size
                                                                       : VS_SCSI_EVENT_BYTES,
        .sense_size = s->sense_size,
        .cdb_size = s->cdb_size,
        .max_channel = 0,
        .max_target = (uint16_t)s->o.max_target,
        .max_lun = (uint32_t)s->o.max_lun,
    };
    vs_scsi_config_put(cfg, &c);
}

static int cfg_range(uint32_t off, uint32_t len, const void *buf, const char *what, vs_err *e)
{
    if (len && !buf)
        return vs_err_set(e, VS_EINVAL, "scsi: config %s: NULL buffer", what);
    if (off > VS_SCSI_CFG_SIZE || len > VS_SCSI_CFG_SIZE - off)
        return vs_err_set(e, VS_ERANGE, "scsi: config %s [%u, +%u) outside %u bytes", what,
                          off, len, VS_SCSI_CFG_SIZE);
    return 0;
}

static uint32_t scsi_config_size(vs_device *d)
{
    (void)d;
    return VS_SCSI_CFG_SIZE;
}

static int scsi_config_read(vs_device *d, uint32_t off, void *buf, uint32_t len, vs_err *e)
{
    int rc = cfg_range(off, len, buf, "read", e);
    if (rc < 0 || len == 0)
        return rc;
    uint8_t cfg[VS_SCSI_CFG_SIZE];
    build_config(to_scsi(d), cfg);
    memcpy(buf, cfg + off, len);
    return 0;
}

static int scsi_config_write(vs_device *d, uint32_t off, const void *buf, uint32_t len,
                             vs_err *e)
{
    scsi_dev *s = to_scsi(d);
    int rc = cfg_range(off, len, buf, "write", e);
    if (rc < 0 || len == 0)
        return rc;
    uint8_t cfg[VS_SCSI_CFG_SIZE];
    build_config(s, cfg);
    memcpy(cfg + off, buf, len); /* read-only fields: the copy is dropped below */
    uint32_t sense = vs_le32_get(cfg + VS_SCSI_CFG_SENSE_SIZE);
    uint32_t cdb = vs_le32_get(cfg + VS_SCSI_CFG_CDB_SIZE);
    if (sense < SENSE_SIZE_LIMIT)
        s->sense_size = sense;
    if (cdb < CDB_SIZE_LIMIT)
        s->cdb_size = cdb;
    return 0;
}

static uint64_t scsi_device_features(vs_device *d) { return to_scsi(d)->features; }

static int scsi_accept_features(vs_device *d, uint64_t f, vs_err *e)
{
    scsi_dev *s = to_scsi(d);
    uint64_t bad = f & ~s->features;
    if (bad)
        return vs_err_set(e, VS_ENOTSUP, "scsi: driver accepted features the device did not "
                          "offer: 0x%016llx (offered 0x%016llx)", (unsigned long long)bad,
                          (unsigned long long)s->features);
    if (!(f & VS_BIT(VS_F_VERSION_1)))
        return vs_err_set(e, VS_ENOTSUP, "scsi: driver did not accept VIRTIO_F_VERSION_1 "
                          "(legacy interface not supported)");
    return 0;
}

/* ------------------------------------------------------------------ vs_device_ops */

static int scsi_handle(vs_device *d, uint16_t q, const vs_chain *c, uint32_t *written,
                       vs_err *e)
{
    scsi_dev *s = to_scsi(d);
    if (!c || !written)
        return vs_err_set(e, VS_EINVAL, "scsi: handle: NULL chain or written");
    *written = 0;
    int rc;
    if (q == VS_SCSI_Q_CTRL)
        rc = vs__scsi_ctrl(s, c, written, e);
    else if (q == VS_SCSI_Q_EVENT)
        rc = vs__scsi_eventq(s, c, written, e);
    else if (q < VS_SCSI_Q_REQ0 + s->o.num_queues)
        rc = vs__scsi_req_run(s, q, c, true, written, e);
    else
        return vs_err_set(e, VS_EINVAL, "scsi: request on queue %u, device has %u", q,
                          VS_SCSI_Q_REQ0 + s->o.num_queues);
    if (rc < 0)
        *written = 0;
    return rc;
}

static uint16_t scsi_num_queues(vs_device *d)
{
    return (uint16_t)(VS_SCSI_Q_REQ0 + to_scsi(d)->o.num_queues);
}

static uint32_t scsi_queue_max_size(vs_device *d, uint16_t q)
{
    return q < scsi_num_queues(d) ? to_scsi(d)->o.queue_size : 0;
}

/* Device reset (q < 0): commands must be completed before it, with RESET (a mutant
 * forgets them); eventq buffers are not commands and are forgotten. A reset of one queue
 * (VIRTIO_F_RING_RESET) takes its chains away from the device: forgotten. */
static void scsi_drain(vs_device *d, int32_t q)
{
    scsi_dev *s = to_scsi(d);
    if (q < 0 && !smut(s, VS_SCSI_MUT_RESET_DROPS_PENDING))
        vs__scsi_held_finish_queue(s, -1, VS_SCSI_S_RESET);
    vs__scsi_held_forget_queue(s, q);
    if (q < 0 || q == VS_SCSI_Q_EVENT)
        vs__scsi_events_forget(s);
}

static void set_defaults(scsi_dev *s)
{
    bool bad = smut(s, VS_SCSI_MUT_BAD_DEFAULTS);
    s->sense_size = bad ? 64 : VS_SCSI_SENSE_SIZE_DEFAULT;
    s->cdb_size = bad ? 16 : VS_SCSI_CDB_SIZE_DEFAULT;
}

static void scsi_reset(vs_device *d)
{
    scsi_dev *s = to_scsi(d);
    vs__scsi_held_forget_queue(s, -1);
    vs__scsi_events_forget(s);
    s->missed = false;
    if (!smut(s, VS_SCSI_MUT_RESET_KEEPS_SIZES))
        set_defaults(s);
    for (unsigned i = 0; i < s->tgt.n; i++) {
        s->tgt.lu[i]->an_subscribed = 0;
        s->tgt.lu[i]->prevent = false;
    }
    d->driver_features = 0;
}

static void scsi_destroy(vs_device *d)
{
    if (!d)
        return;
    scsi_dev *s = to_scsi(d);
    vs__scsi_held_forget_queue(s, -1);
    vs__scsi_events_forget(s);
    free(s->held);
    free(s->evbuf);
    vs__scsi_tgt_fini(&s->tgt);
    free(s->buf);
    free(s);
}

static const vs_device_ops scsi_ops = {
    .name = "scsi",
    .device_id = VS_DEV_SCSI,
    .device_features = scsi_device_features,
    .accept_features = scsi_accept_features,
    .config_size = scsi_config_size,
    .config_read = scsi_config_read,
    .config_write = scsi_config_write,
    .num_queues = scsi_num_queues,
    .queue_max_size = scsi_queue_max_size,
    .handle = scsi_handle,
    .reset = scsi_reset,
    .drain = scsi_drain,
    .destroy = scsi_destroy,
};

/* ------------------------------------------------------------------ creation */

void vs_scsi_opts_default(vs_scsi_opts *o)
{
    memset(o, 0, sizeof *o);
    o->num_queues = 1;
    o->queue_size = 128;
    o->max_sectors = 0xffff;
    o->cmd_per_lun = 128;
    o->max_target = -1;
    o->max_lun = -1;
    o->inout = o->hotplug = o->change = true;
    o->extra_features =
        VS_BIT(VS_F_EVENT_IDX) | VS_BIT(VS_F_INDIRECT_DESC) | VS_BIT(VS_F_RING_PACKED);
    o->nluns = 1;
    o->luns[0].blocks = 2048;
}

int vs_scsi_create(vs_device **out, vs_gmem *gm, const vs_scsi_opts *opts, vs_err *e)
{
    if (!out || !gm || !opts)
        return vs_err_set(e, VS_EINVAL, "scsi: create: NULL argument");
    *out = NULL;
    vs_scsi_opts o = *opts;
    if (o.num_queues == 0)
        o.num_queues = 1;
    if (o.num_queues > 1024)
        return vs_err_set(e, VS_EINVAL, "scsi: %u request queues (at most 1024)",
                          o.num_queues);
    if (o.queue_size == 0)
        o.queue_size = 128;
    if (o.queue_size > VS_VQ_MAX_SIZE)
        return vs_err_set(e, VS_EINVAL, "scsi: queue_size %u > %u", o.queue_size,
                          VS_VQ_MAX_SIZE);
    if (o.seg_max == 0)
        o.seg_max = o.queue_size > 2 ? o.queue_size - 2 : 1;
    if (o.max_sectors == 0)
        o.max_sectors = 0xffff;
    if (o.cmd_per_lun == 0)
        o.cmd_per_lun = 128;
    if (o.max_target < 0)
        o.max_target = 255;
    if (o.max_lun < 0)
        o.max_lun = VS_SCSI_MAX_LUN;
    if (o.max_target > 255 || o.max_lun > (int32_t)VS_SCSI_MAX_LUN)
        return vs_err_set(e, VS_EINVAL, "scsi: max_target %d / max_lun %d beyond 255 / %u",
                          o.max_target, o.max_lun, VS_SCSI_MAX_LUN);
    if (o.extra_features & (VS_BIT(24) - 1))
        return vs_err_set(e, VS_EINVAL, "scsi: extra_features 0x%llx has device-specific "
                          "bits (< 24)", (unsigned long long)o.extra_features);
    if (o.nluns > VS_SCSI_MAX_LUNS)
        return vs_err_set(e, VS_EINVAL, "scsi: %u LUNs (at most %u)", o.nluns,
                          VS_SCSI_MAX_LUNS);
    scsi_dev *s = calloc(1, sizeof *s);
    if (!s)
        return vs_err_set(e, VS_ENOMEM, "scsi: out of memory");
    s->dev.ops = &scsi_ops;
    s->dev.gm = gm;
    s->dev.mutations = o.mutations;
    set_defaults(s);
    vs__scsi_tgt_init(&s->tgt, e);
    for (unsigned i = 0; i < o.nluns; i++) {
        int rc = vs__scsi_tgt_add(&s->tgt, &o.luns[i], e);
        if (rc < 0) {
            scsi_destroy(&s->dev);
            return rc;
        }
        o.luns[i].image_path = NULL;
    }
    s->features = VS_BIT(VS_F_VERSION_1) | o.extra_features;
    if (o.inout)
        s->features |= VS_BIT(VS_SCSI_F_INOUT);
    if (o.hotplug)
        s->features |= VS_BIT(VS_SCSI_F_HOTPLUG);
    if (o.change)
        s->features |= VS_BIT(VS_SCSI_F_CHANGE);
    if (o.t10_pi)
        s->features |= VS_BIT(VS_SCSI_F_T10_PI);
    s->o = o;
    *out = &s->dev;
    return 0;
}
