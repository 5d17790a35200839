/* The virtio-scsi wire format (VIRTIO 1.4 "SCSI Host Device"): config space, command
 * request / response, controlq requests, events, LUN addressing; and the SCSI pieces
 * every layer needs (status codes, CDB fields, UNMAP lists, sense data). Pure functions:
 * no device state, safe on hostile input (every length is checked before a byte is read). */
#include "virtiosim/scsi.h"

#include <string.h>

#include "virtiosim/le.h"

/* ------------------------------------------------------------------ config space */

void vs_scsi_config_get(const uint8_t p[VS_SCSI_CFG_SIZE], vs_scsi_config *c)
{
    c->num_queues = vs_le32_get(p + VS_SCSI_CFG_NUM_QUEUES);
    c->seg_max = vs_le32_get(p + VS_SCSI_CFG_SEG_MAX);
    c->max_sectors = vs_le32_get(p + VS_SCSI_CFG_MAX_SECTORS);
    c->cmd_per_lun = vs_le32_get(p + VS_SCSI_CFG_CMD_PER_LUN);
    c->event_info_size = vs_le32_get(p + VS_SCSI_CFG_EVENT_INFO_SIZE);
    c->sense_size = vs_le32_get(p + VS_SCSI_CFG_SENSE_SIZE);
    c->cdb_size = vs_le32_get(p + VS_SCSI_CFG_CDB_SIZE);
    c->max_channel = vs_le16_get(p + VS_SCSI_CFG_MAX_CHANNEL);
    c->max_target = vs_le16_get(p + VS_SCSI_CFG_MAX_TARGET);
    c->max_lun = vs_le32_get(p + VS_SCSI_CFG_MAX_LUN);
}

void vs_scsi_config_put(uint8_t p[VS_SCSI_CFG_SIZE], const vs_scsi_config *c)
{
    vs_le32_put(p + VS_SCSI_CFG_NUM_QUEUES, c->num_queues);
    vs_le32_put(p + VS_SCSI_CFG_SEG_MAX, c->seg_max);
    vs_le32_put(p + VS_SCSI_CFG_MAX_SECTORS, c->max_sectors);
    vs_le32_put(p + VS_SCSI_CFG_CMD_PER_LUN, c->cmd_per_lun);
    vs_le32_put(p + VS_SCSI_CFG_EVENT_INFO_SIZE, c->event_info_size);
    vs_le32_put(p + VS_SCSI_CFG_SENSE_SIZE, c->sense_size);
    vs_le32_put(p + VS_SCSI_CFG_CDB_SIZE, c->cdb_size);
    vs_le16_put(p + VS_SCSI_CFG_MAX_CHANNEL, c->max_channel);
    vs_le16_put(p + VS_SCSI_CFG_MAX_TARGET, c->max_target);
    vs_le32_put(p + VS_SCSI_CFG_MAX_LUN, c->max_lun);
}

const vs_scsi_cfg_field vs_scsi_cfg_fields[] = {
    {"num_queues", VS_SCSI_CFG_NUM_QUEUES, 4, false},
    {"seg_max", VS_SCSI_CFG_SEG_MAX, 4, false},
    {"max_sectors", VS_SCSI_CFG_MAX_SECTORS, 4, false},
    {"cmd_per_lun", VS_SCSI_CFG_CMD_PER_LUN, 4, false},
    {"event_info_size", VS_SCSI_CFG_EVENT_INFO_SIZE, 4, false},
    {"sense_size", VS_SCSI_CFG_SENSE_SIZE, 4, true},
    {"cdb_size", VS_SCSI_CFG_CDB_SIZE, 4, true},
    {"max_channel", VS_SCSI_CFG_MAX_CHANNEL, 2, false},
    {"max_target", VS_SCSI_CFG_MAX_TARGET, 2, false},
    {"max_lun", VS_SCSI_CFG_MAX_LUN, 4, false},
};
const unsigned vs_scsi_cfg_nfields = sizeof vs_scsi_cfg_fields / sizeof vs_scsi_cfg_fields[0];

const vs_scsi_cfg_field *vs_scsi_cfg_field_find(const char *name)
{
    for (unsigned i = 0; name && i < vs_scsi_cfg_nfields; i++)
        if (strcmp(vs_scsi_cfg_fields[i].name, name) == 0)
            return &vs_scsi_cfg_fields[i];
    return NULL;
}

const vs_scsi_cfg_field *vs_scsi_cfg_field_at(uint32_t off)
{
    for (unsigned i = 0; i < vs_scsi_cfg_nfields; i++) {
        const vs_scsi_cfg_field *f = &vs_scsi_cfg_fields[i];
        if (off >= f->off && off < f->off + f->len)
            return f;
    }
    return NULL;
}

/* ------------------------------------------------------------------ names */

const char *vs_scsi_response_name(uint8_t response, bool tmf)
{
    static const char *const names[] = {
        "OK", "OVERRUN", "ABORTED", "BAD_TARGET", "RESET", "BUSY", "TRANSPORT_FAILURE",
        "TARGET_FAILURE", "NEXUS_FAILURE", "FAILURE", NULL, NULL, "INCORRECT_LUN",
    };
    if (tmf && response == VS_SCSI_S_FUNCTION_COMPLETE)
        return "FUNCTION_COMPLETE";
    if (tmf && response == VS_SCSI_S_FUNCTION_SUCCEEDED)
        return "FUNCTION_SUCCEEDED";
    if (tmf && response == VS_SCSI_S_FUNCTION_REJECTED)
        return "FUNCTION_REJECTED";
    return response < sizeof names / sizeof names[0] ? names[response] : NULL;
}

const char *vs_scsi_tmf_name(uint32_t subtype)
{
    static const char *const names[] = {
        "ABORT_TASK",       "ABORT_TASK_SET",     "CLEAR_ACA",  "CLEAR_TASK_SET",
        "I_T_NEXUS_RESET", "LOGICAL_UNIT_RESET", "QUERY_TASK", "QUERY_TASK_SET",
    };
    return subtype < sizeof names / sizeof names[0] ? names[subtype] : NULL;
}

/* ------------------------------------------------------------------ command request */

uint64_t vs_scsi_cmd_req_len(uint32_t cdb_size, bool pi)
{
    return VS_SCSI_REQ_FIXED + (uint64_t)cdb_size + (pi ? VS_SCSI_PI_BYTES : 0);
}

int vs_scsi_cmd_req_get(const uint8_t *p, size_t len, uint32_t cdb_size, bool pi,
                        vs_scsi_cmd_req *r)
{
    if (!p || len < vs_scsi_cmd_req_len(cdb_size, pi))
        return -VS_EINVAL;
    memcpy(r->lun, p, 8);
    r->id = vs_scsi_cmd_req_id_at(p);
    r->task_attr = p[16];
    r->prio = p[17];
    r->crn = p[18];
    r->cdb_len = vs_scsi_cmd_req_cdb_len(cdb_size);
    memcpy(r->cdb, vs_scsi_cmd_req_cdb_at(p), r->cdb_len);
    if (r->cdb_len < VS_SCSI_CDB_MAX)
        memset(r->cdb + r->cdb_len, 0, VS_SCSI_CDB_MAX - r->cdb_len);
    r->pi_bytesout = r->pi_bytesin = 0;
    if (pi)
        vs_scsi_cmd_req_pi_at(p, cdb_size, &r->pi_bytesout, &r->pi_bytesin);
    return 0;
}

int64_t vs_scsi_cmd_req_put(uint8_t *p, size_t cap, uint32_t cdb_size, bool pi,
                            const vs_scsi_cmd_req *r)
{
    uint64_t n = vs_scsi_cmd_req_len(cdb_size, pi);
    if (!p || cap < n)
        return -VS_EINVAL;
    vs_scsi_cmd_req_pack(p, cdb_size, r, r->cdb, r->cdb_len);
    if (pi) {
        vs_le32_put(p + VS_SCSI_REQ_FIXED + cdb_size, r->pi_bytesout);
        vs_le32_put(p + VS_SCSI_REQ_FIXED + cdb_size + 4, r->pi_bytesin);
    }
    return (int64_t)n;
}

/* A variable area of size bytes at dst: the first min(n, size, max) bytes of src, zeros
 * after (the CDB of a request, the sense of a response). */
static void put_area(uint8_t *dst, uint32_t size, const uint8_t *src, uint32_t n,
                     uint32_t max)
{
    uint32_t c = n < size ? n : size;
    if (c > max)
        c = max;
    if (c)
        memcpy(dst, src, c);
    memset(dst + c, 0, size - c);
}

void vs_scsi_cmd_req_pack(uint8_t *p, uint32_t cdb_size, const vs_scsi_cmd_req *f,
                          const uint8_t *cdb, uint32_t cdb_len)
{
    memcpy(p, f->lun, 8);
    vs_le64_put(p + 8, f->id);
    p[16] = f->task_attr;
    p[17] = f->prio;
    p[18] = f->crn;
    put_area(p + VS_SCSI_REQ_FIXED, cdb_size, cdb, cdb_len, VS_SCSI_CDB_MAX);
}

/* ------------------------------------------------------------------ command response */

uint64_t vs_scsi_cmd_resp_len(uint32_t sense_size)
{
    return VS_SCSI_RESP_FIXED + (uint64_t)sense_size;
}

int vs_scsi_cmd_resp_get(const uint8_t *p, size_t len, uint32_t sense_size,
                         vs_scsi_cmd_resp *r)
{
    if (!p || len < vs_scsi_cmd_resp_len(sense_size))
        return -VS_EINVAL;
    vs_scsi_cmd_resp_fixed_at(p, r);
    uint32_t n = sense_size < VS_SCSI_SENSE_MAX ? sense_size : VS_SCSI_SENSE_MAX;
    memcpy(r->sense, p + VS_SCSI_RESP_FIXED, n);
    memset(r->sense + n, 0, VS_SCSI_SENSE_MAX - n);
    return 0;
}

int64_t vs_scsi_cmd_resp_put(uint8_t *p, size_t cap, uint32_t sense_size,
                             const vs_scsi_cmd_resp *r)
{
    uint64_t n = vs_scsi_cmd_resp_len(sense_size);
    if (!p || cap < n)
        return -VS_EINVAL;
    vs_scsi_cmd_resp_pack(p, sense_size, r, r->sense, r->sense_len);
    return (int64_t)n;
}

void vs_scsi_cmd_resp_pack(uint8_t *p, uint32_t sense_size, const vs_scsi_cmd_resp *f,
                           const uint8_t *sense, uint32_t sense_n)
{
    vs_le32_put(p, f->sense_len);
    vs_le32_put(p + 4, f->residual);
    vs_le16_put(p + 8, f->status_qualifier);
    p[10] = f->status;
    p[11] = f->response;
    put_area(p + VS_SCSI_RESP_FIXED, sense_size, sense, sense_n, VS_SCSI_SENSE_MAX);
}

int vs_scsi_cmd_layout_of(uint64_t out_bytes, uint64_t in_bytes, uint32_t cdb_size,
                          uint32_t sense_size, bool pi, uint32_t pi_bytesout,
                          uint32_t pi_bytesin, vs_scsi_cmd_layout *l)
{
    memset(l, 0, sizeof *l);
    l->hdr_len = vs_scsi_cmd_req_len(cdb_size, pi);
    l->resp_len = vs_scsi_cmd_resp_len(sense_size);
    if (out_bytes < l->hdr_len || in_bytes < l->resp_len)
        return -VS_EINVAL;
    l->dout = out_bytes - l->hdr_len;
    l->din = in_bytes - l->resp_len;
    if (!pi)
        return 0;
    if (pi_bytesout > l->dout || pi_bytesin > l->din)
        return -VS_EINVAL;
    l->pi_out = pi_bytesout;
    l->pi_in = pi_bytesin;
    l->dout -= pi_bytesout;
    l->din -= pi_bytesin;
    return 0;
}

/* ------------------------------------------------------------------ controlq, eventq */

void vs_scsi_tmf_req_get(const uint8_t p[VS_SCSI_TMF_REQ_BYTES], vs_scsi_tmf_req *r)
{
    r->type = vs_le32_get(p);
    r->subtype = vs_le32_get(p + 4);
    memcpy(r->lun, p + 8, 8);
    r->id = vs_le64_get(p + 16);
}

void vs_scsi_tmf_req_put(uint8_t p[VS_SCSI_TMF_REQ_BYTES], const vs_scsi_tmf_req *r)
{
    vs_le32_put(p, r->type);
    vs_le32_put(p + 4, r->subtype);
    memcpy(p + 8, r->lun, 8);
    vs_le64_put(p + 16, r->id);
}

void vs_scsi_an_req_get(const uint8_t p[VS_SCSI_AN_REQ_BYTES], vs_scsi_an_req *r)
{
    r->type = vs_le32_get(p);
    memcpy(r->lun, p + 4, 8);
    r->event_requested = vs_le32_get(p + 12);
}

void vs_scsi_an_req_put(uint8_t p[VS_SCSI_AN_REQ_BYTES], const vs_scsi_an_req *r)
{
    vs_le32_put(p, r->type);
    memcpy(p + 4, r->lun, 8);
    vs_le32_put(p + 12, r->event_requested);
}

void vs_scsi_an_resp_get(const uint8_t p[VS_SCSI_AN_RESP_BYTES], vs_scsi_an_resp *r)
{
    r->event_actual = vs_le32_get(p);
    r->response = p[4];
}

void vs_scsi_an_resp_put(uint8_t p[VS_SCSI_AN_RESP_BYTES], const vs_scsi_an_resp *r)
{
    vs_le32_put(p, r->event_actual);
    p[4] = r->response;
}

void vs_scsi_event_get(const uint8_t p[VS_SCSI_EVENT_BYTES], vs_scsi_event *ev)
{
    ev->event = vs_le32_get(p);
    memcpy(ev->lun, p + 4, 8);
    ev->reason = vs_le32_get(p + 12);
}

void vs_scsi_event_put(uint8_t p[VS_SCSI_EVENT_BYTES], const vs_scsi_event *ev)
{
    vs_le32_put(p, ev->event);
    memcpy(p + 4, ev->lun, 8);
    vs_le32_put(p + 12, ev->reason);
}

/* ------------------------------------------------------------------ LUN addressing */

int vs_scsi_lun_encode(uint8_t lun[8], uint8_t target, uint16_t l)
{
    if (l > VS_SCSI_MAX_LUN)
        return -VS_EINVAL;
    memset(lun, 0, 8);
    lun[0] = 1;
    lun[1] = target;
    lun[2] = (uint8_t)(0x40 | l >> 8); /* flat space addressing */
    lun[3] = (uint8_t)l;
    return 0;
}

void vs_scsi_lun_encode_report_luns(uint8_t lun[8])
{
    memset(lun, 0, 8);
    lun[0] = 0xc1;
    lun[1] = 0x01;
}

int vs_scsi_lun_decode(const uint8_t lun[8], vs_scsi_lun_addr *a)
{
    static const uint8_t zero[6];
    a->kind = VS_SCSI_LUN_BAD;
    a->target = 0;
    a->lun = 0;
    if (lun[0] == 0xc1 && lun[1] == 0x01 && memcmp(lun + 2, zero, 6) == 0) {
        a->kind = VS_SCSI_LUN_REPORT_LUNS;
        return 0;
    }
    if (lun[0] != 1 || memcmp(lun + 4, zero, 4) != 0)
        return -VS_EINVAL;
    uint8_t method = lun[2] >> 6;
    if (method == 1) {          /* flat space: 14-bit LUN */
        a->lun = (uint16_t)((lun[2] & 0x3f) << 8 | lun[3]);
    } else if (method == 0) {   /* peripheral device addressing: bus 0 only */
        if (lun[2] != 0)
            return -VS_EINVAL;
        a->lun = lun[3];
    } else {
        return -VS_EINVAL;
    }
    a->kind = VS_SCSI_LUN_SINGLE;
    a->target = lun[1];
    return 0;
}

/* ------------------------------------------------------------------ SCSI status, CDBs */

bool vs_scsi_status_is_sam(uint8_t status)
{
    switch (status) {
    case VS_SCSI_ST_GOOD:
    case VS_SCSI_ST_CHECK_CONDITION:
    case VS_SCSI_ST_CONDITION_MET:
    case VS_SCSI_ST_BUSY:
    case VS_SCSI_ST_RESERVATION_CONFLICT:
    case VS_SCSI_ST_TASK_SET_FULL:
    case VS_SCSI_ST_ACA_ACTIVE:
    case VS_SCSI_ST_TASK_ABORTED:
        return true;
    default:
        return false;
    }
}

unsigned vs_scsi_cdb_len(uint8_t opcode)
{
    static const uint8_t by_group[8] = {6, 10, 10, 0, 16, 12, 0, 0};
    return by_group[opcode >> 5];
}

int vs_scsi_cdb_rw(const uint8_t *cdb, size_t len, vs_scsi_rw *rw)
{
    if (!cdb || len < 1)
        return -VS_EINVAL;
    uint8_t op = cdb[0];
    unsigned need = vs_scsi_cdb_len(op);
    if (need == 0 || len < need)
        return -VS_EINVAL;
    memset(rw, 0, sizeof *rw);
    rw->opcode = op;
    rw->flags = cdb[1];
    switch (op) {
    case VS_SCSI_READ_6:
    case VS_SCSI_WRITE_6:
        rw->lba = (uint64_t)(cdb[1] & 0x1f) << 16 | vs_scsi_be16_get(cdb + 2);
        rw->nblocks = cdb[4] ? cdb[4] : 256;
        rw->flags = 0;
        break;
    case VS_SCSI_READ_10:
    case VS_SCSI_WRITE_10:
    case VS_SCSI_VERIFY_10:
    case VS_SCSI_SYNCHRONIZE_CACHE_10:
        rw->lba = vs_scsi_be32_get(cdb + 2);
        rw->nblocks = vs_scsi_be16_get(cdb + 7);
        break;
    case VS_SCSI_READ_12:
    case VS_SCSI_WRITE_12:
    case VS_SCSI_VERIFY_12:
        rw->lba = vs_scsi_be32_get(cdb + 2);
        rw->nblocks = vs_scsi_be32_get(cdb + 6);
        break;
    case VS_SCSI_READ_16:
    case VS_SCSI_WRITE_16:
    case VS_SCSI_VERIFY_16:
    case VS_SCSI_SYNCHRONIZE_CACHE_16:
    case VS_SCSI_WRITE_SAME_16:
        rw->lba = vs_scsi_be64_get(cdb + 2);
        rw->nblocks = vs_scsi_be32_get(cdb + 10);
        break;
    default:
        return -VS_EINVAL;
    }
    switch (op) {
    case VS_SCSI_WRITE_6:
    case VS_SCSI_WRITE_10:
    case VS_SCSI_WRITE_12:
    case VS_SCSI_WRITE_16:
        rw->write = rw->data = true;
        break;
    case VS_SCSI_READ_6:
    case VS_SCSI_READ_10:
    case VS_SCSI_READ_12:
    case VS_SCSI_READ_16:
        rw->data = true;
        break;
    case VS_SCSI_VERIFY_10:
    case VS_SCSI_VERIFY_12:
    case VS_SCSI_VERIFY_16:
        rw->write = rw->data = (cdb[1] & 0x06) != 0; /* BYTCHK: compare data-out */
        break;
    case VS_SCSI_WRITE_SAME_16:
        rw->write = true;
        rw->data = !(cdb[1] & 0x01); /* NDOB: no data-out block */
        break;
    default:
        break;
    }
    return 0;
}

int vs_scsi_cdb_rw_build(uint8_t *cdb, const vs_scsi_rw *rw)
{
    uint8_t op = rw->opcode;
    unsigned n = vs_scsi_cdb_len(op);
    if (n == 0)
        return -VS_EINVAL;
    memset(cdb, 0, n);
    cdb[0] = op;
    switch (op) {
    case VS_SCSI_READ_6:
    case VS_SCSI_WRITE_6:
        if (rw->lba > 0x1fffff || rw->nblocks == 0 || rw->nblocks > 256)
            return -VS_EINVAL;
        cdb[1] = (uint8_t)(rw->lba >> 16);
        vs_scsi_be16_put(cdb + 2, (uint16_t)rw->lba);
        cdb[4] = (uint8_t)rw->nblocks; /* 256 -> 0 */
        return 6;
    case VS_SCSI_READ_10:
    case VS_SCSI_WRITE_10:
    case VS_SCSI_VERIFY_10:
    case VS_SCSI_SYNCHRONIZE_CACHE_10:
        if (rw->lba > UINT32_MAX || rw->nblocks > UINT16_MAX)
            return -VS_EINVAL;
        cdb[1] = rw->flags;
        vs_scsi_be32_put(cdb + 2, (uint32_t)rw->lba);
        vs_scsi_be16_put(cdb + 7, (uint16_t)rw->nblocks);
        return 10;
    case VS_SCSI_READ_12:
    case VS_SCSI_WRITE_12:
    case VS_SCSI_VERIFY_12:
        if (rw->lba > UINT32_MAX)
            return -VS_EINVAL;
        cdb[1] = rw->flags;
        vs_scsi_be32_put(cdb + 2, (uint32_t)rw->lba);
        vs_scsi_be32_put(cdb + 6, rw->nblocks);
        return 12;
    case VS_SCSI_READ_16:
    case VS_SCSI_WRITE_16:
    case VS_SCSI_VERIFY_16:
    case VS_SCSI_SYNCHRONIZE_CACHE_16:
    case VS_SCSI_WRITE_SAME_16:
        cdb[1] = rw->flags;
        vs_scsi_be64_put(cdb + 2, rw->lba);
        vs_scsi_be32_put(cdb + 10, rw->nblocks);
        return 16;
    default:
        return -VS_EINVAL;
    }
}

/* ------------------------------------------------------------------ UNMAP */

int64_t vs_scsi_unmap_count(const uint8_t *p, size_t len)
{
    if (!p || len < VS_SCSI_UNMAP_HDR)
        return -VS_EINVAL;
    uint32_t data_len = vs_scsi_be16_get(p);
    uint32_t desc_len = vs_scsi_be16_get(p + 2);
    /* the data length counts the bytes after itself; a list may be followed by padding */
    if ((uint64_t)data_len + 2 > len || data_len < VS_SCSI_UNMAP_HDR - 2)
        return -VS_EINVAL;
    if (desc_len % VS_SCSI_UNMAP_DESC || desc_len > data_len - (VS_SCSI_UNMAP_HDR - 2))
        return -VS_EINVAL;
    return desc_len / VS_SCSI_UNMAP_DESC;
}

void vs_scsi_unmap_desc_get(const uint8_t *p, uint32_t i, vs_scsi_unmap_desc *d)
{
    const uint8_t *q = p + VS_SCSI_UNMAP_HDR + (size_t)i * VS_SCSI_UNMAP_DESC;
    d->lba = vs_scsi_be64_get(q);
    d->nblocks = vs_scsi_be32_get(q + 8);
}

size_t vs_scsi_unmap_build(uint8_t *p, size_t cap, const vs_scsi_unmap_desc *d, uint32_t n)
{
    size_t need = VS_SCSI_UNMAP_HDR + (size_t)n * VS_SCSI_UNMAP_DESC;
    if (!p || cap < need || need - 2 > UINT16_MAX)
        return 0;
    memset(p, 0, need);
    vs_scsi_be16_put(p, (uint16_t)(need - 2));
    vs_scsi_be16_put(p + 2, (uint16_t)(n * VS_SCSI_UNMAP_DESC));
    for (uint32_t i = 0; i < n; i++) {
        uint8_t *q = p + VS_SCSI_UNMAP_HDR + (size_t)i * VS_SCSI_UNMAP_DESC;
        vs_scsi_be64_put(q, d[i].lba);
        vs_scsi_be32_put(q + 8, d[i].nblocks);
    }
    return need;
}

/* ------------------------------------------------------------------ sense data */

void vs_scsi_sense_build(uint8_t out[VS_SCSI_SENSE_FIXED_BYTES], const vs_scsi_sense *s)
{
    memset(out, 0, VS_SCSI_SENSE_FIXED_BYTES);
    out[0] = 0x70 | (s->info_valid ? 0x80 : 0);
    out[2] = s->key & 0x0f;
    vs_scsi_be32_put(out + 3, s->info);
    out[7] = VS_SCSI_SENSE_FIXED_BYTES - 8; /* additional sense length */
    out[12] = s->asc;
    out[13] = s->ascq;
}

int vs_scsi_sense_parse(const uint8_t *p, size_t len, vs_scsi_sense *s)
{
    if (!p || len < 1)
        return -VS_EINVAL;
    memset(s, 0, sizeof *s);
    s->response_code = p[0] & 0x7f;
    switch (s->response_code) {
    case 0x70:
    case 0x71:
        if (len < 14)
            return -VS_EINVAL;
        s->info_valid = (p[0] & 0x80) != 0;
        s->key = p[2] & 0x0f;
        s->info = vs_scsi_be32_get(p + 3);
        s->asc = p[12];
        s->ascq = p[13];
        return 0;
    case 0x72:
    case 0x73:
        if (len < 4)
            return -VS_EINVAL;
        s->key = p[1] & 0x0f;
        s->asc = p[2];
        s->ascq = p[3];
        return 0;
    default:
        return -VS_EINVAL;
    }
}
