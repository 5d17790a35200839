/* virtio-scsi (VIRTIO 1.4 "SCSI Host Device"): the wire format every layer shares, the
 * SCSI helpers (LUN addressing, CDBs, sense data), and the reference device. */
#ifndef VIRTIOSIM_SCSI_H
#define VIRTIOSIM_SCSI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtiosim/device.h"
#include "virtiosim/le.h"
#include "virtiosim/virtio.h"

/* Feature bits: enum vs_scsi_feature_bit (VS_SCSI_F_INOUT, _HOTPLUG, _CHANGE, _T10_PI)
 * lives in virtiosim/virtio.h. */

/* Virtqueues: 0 controlq, 1 eventq, 2.. request queues (config num_queues of them). */
enum vs_scsi_queue { VS_SCSI_Q_CTRL = 0, VS_SCSI_Q_EVENT = 1, VS_SCSI_Q_REQ0 = 2 };

/* ------------------------------------------------------------------ wire format
 * The one codec of virtio-scsi (model/dev/scsi/scsi_codec.c): the reference device, the
 * driver model, the monitors and the fuzzer all encode and decode through it. */

/* Config space (all fields always present), 36 bytes. */
enum vs_scsi_cfg_off {
    VS_SCSI_CFG_NUM_QUEUES = 0,       /* le32: request queues */
    VS_SCSI_CFG_SEG_MAX = 4,          /* le32 */
    VS_SCSI_CFG_MAX_SECTORS = 8,      /* le32 */
    VS_SCSI_CFG_CMD_PER_LUN = 12,     /* le32 */
    VS_SCSI_CFG_EVENT_INFO_SIZE = 16, /* le32 */
    VS_SCSI_CFG_SENSE_SIZE = 20,      /* le32, driver-writable */
    VS_SCSI_CFG_CDB_SIZE = 24,        /* le32, driver-writable */
    VS_SCSI_CFG_MAX_CHANNEL = 28,     /* le16 */
    VS_SCSI_CFG_MAX_TARGET = 30,      /* le16 */
    VS_SCSI_CFG_MAX_LUN = 32,         /* le32 */
    VS_SCSI_CFG_SIZE = 36,
};
#define VS_SCSI_SENSE_SIZE_DEFAULT 96u
#define VS_SCSI_CDB_SIZE_DEFAULT 32u

typedef struct vs_scsi_config {
    uint32_t num_queues, seg_max, max_sectors, cmd_per_lun, event_info_size;
    uint32_t sense_size, cdb_size;
    uint16_t max_channel, max_target;
    uint32_t max_lun;
} vs_scsi_config;
void vs_scsi_config_get(const uint8_t p[VS_SCSI_CFG_SIZE], vs_scsi_config *c);
void vs_scsi_config_put(uint8_t p[VS_SCSI_CFG_SIZE], const vs_scsi_config *c);

/* Config fields by the names scenarios use; driver_writable: sense_size and cdb_size only
 * (the driver MUST NOT write the others). */
typedef struct vs_scsi_cfg_field {
    const char *name;
    uint32_t off, len;
    bool driver_writable;
} vs_scsi_cfg_field;
extern const vs_scsi_cfg_field vs_scsi_cfg_fields[];
extern const unsigned vs_scsi_cfg_nfields;
const vs_scsi_cfg_field *vs_scsi_cfg_field_find(const char *name);
/* The field holding byte `off` of config space, or NULL outside it. */
const vs_scsi_cfg_field *vs_scsi_cfg_field_at(uint32_t off);

/* Response codes (request queues and controlq). */
enum vs_scsi_response {
    VS_SCSI_S_OK = 0,
    VS_SCSI_S_FUNCTION_COMPLETE = 0, /* TMF */
    VS_SCSI_S_OVERRUN = 1,
    VS_SCSI_S_ABORTED = 2,
    VS_SCSI_S_BAD_TARGET = 3,
    VS_SCSI_S_RESET = 4,
    VS_SCSI_S_BUSY = 5,
    VS_SCSI_S_TRANSPORT_FAILURE = 6,
    VS_SCSI_S_TARGET_FAILURE = 7,
    VS_SCSI_S_NEXUS_FAILURE = 8,
    VS_SCSI_S_FAILURE = 9,
    VS_SCSI_S_FUNCTION_SUCCEEDED = 10, /* TMF */
    VS_SCSI_S_FUNCTION_REJECTED = 11,  /* TMF */
    VS_SCSI_S_INCORRECT_LUN = 12,      /* controlq */
};
/* Name of a response code ("OK", "BAD_TARGET", ...; "FUNCTION_*" only with tmf), or NULL. */
const char *vs_scsi_response_name(uint8_t response, bool tmf);

enum vs_scsi_task_attr {
    VS_SCSI_S_SIMPLE = 0,
    VS_SCSI_S_ORDERED = 1,
    VS_SCSI_S_HEAD = 2,
    VS_SCSI_S_ACA = 3,
};

/* Command request, device-readable part: u8 lun[8], le64 id, u8 task_attr, u8 prio,
 * u8 crn, u8 cdb[cdb_size], then with T10_PI: le32 pi_bytesout, le32 pi_bytesin. The cdb
 * is cdb_size bytes on the wire whatever its value; the struct keeps the first
 * VS_SCSI_CDB_MAX of them (cdb_len). */
#define VS_SCSI_CDB_MAX 256u
#define VS_SCSI_REQ_FIXED 19u   /* lun + id + task_attr + prio + crn */
#define VS_SCSI_PI_BYTES 8u     /* pi_bytesout + pi_bytesin */
typedef struct vs_scsi_cmd_req {
    uint8_t lun[8];
    uint64_t id;
    uint8_t task_attr, prio, crn;
    uint32_t pi_bytesout, pi_bytesin; /* T10_PI only */
    uint32_t cdb_len;                 /* bytes valid in cdb: min(cdb_size, VS_SCSI_CDB_MAX) */
    uint8_t cdb[VS_SCSI_CDB_MAX];
} vs_scsi_cmd_req;
/* Bytes of the request header for a cdb_size and T10_PI (0 on overflow past 4 GiB). */
uint64_t vs_scsi_cmd_req_len(uint32_t cdb_size, bool pi);
/* Decode from len bytes; < 0 (VS_EINVAL) when len is shorter than the header. */
int vs_scsi_cmd_req_get(const uint8_t *p, size_t len, uint32_t cdb_size, bool pi,
                        vs_scsi_cmd_req *r);
/* Fields of an encoded header p (vs_scsi_cmd_req_len bytes) read where they lie, for a
 * caller that needs a few of them per command without a vs_scsi_cmd_req (and its
 * 256-byte CDB copy). The LUN is p itself (vs_scsi_lun_decode). */
static inline uint64_t vs_scsi_cmd_req_id_at(const uint8_t *p) { return vs_le64_get(p + 8); }
static inline const uint8_t *vs_scsi_cmd_req_cdb_at(const uint8_t *p)
{
    return p + VS_SCSI_REQ_FIXED;
}
/* CDB bytes a header carries for a cdb_size (what vs_scsi_cmd_req.cdb_len says). */
static inline uint32_t vs_scsi_cmd_req_cdb_len(uint32_t cdb_size)
{
    return cdb_size < VS_SCSI_CDB_MAX ? cdb_size : VS_SCSI_CDB_MAX;
}
/* T10_PI: pi_bytesout and pi_bytesin, after the cdb_size CDB bytes. */
static inline void vs_scsi_cmd_req_pi_at(const uint8_t *p, uint32_t cdb_size, uint32_t *out,
                                         uint32_t *in)
{
    *out = vs_le32_get(p + VS_SCSI_REQ_FIXED + cdb_size);
    *in = vs_le32_get(p + VS_SCSI_REQ_FIXED + cdb_size + 4);
}
/* Encode into cap bytes (cdb zero-padded to cdb_size); bytes written, < 0 if cap short. */
int64_t vs_scsi_cmd_req_put(uint8_t *p, size_t cap, uint32_t cdb_size, bool pi,
                            const vs_scsi_cmd_req *r);
/* The same without T10_PI from the fixed fields of f (f->cdb unused) and cdb_len bytes at
 * cdb, into p, which holds VS_SCSI_REQ_FIXED + cdb_size bytes (cdb_size at most
 * VS_SCSI_CDB_MAX): no vs_scsi_cmd_req with its CDB array. */
void vs_scsi_cmd_req_pack(uint8_t *p, uint32_t cdb_size, const vs_scsi_cmd_req *f,
                          const uint8_t *cdb, uint32_t cdb_len);

/* Command response, device-writable part: le32 sense_len, le32 residual,
 * le16 status_qualifier, u8 status, u8 response, u8 sense[sense_size]. */
#define VS_SCSI_SENSE_MAX 252u   /* SPC: the largest sense data */
#define VS_SCSI_RESP_FIXED 12u
typedef struct vs_scsi_cmd_resp {
    uint32_t sense_len, residual;
    uint16_t status_qualifier;
    uint8_t status, response;
    uint8_t sense[VS_SCSI_SENSE_MAX]; /* the first min(sense_size, VS_SCSI_SENSE_MAX) */
} vs_scsi_cmd_resp;
uint64_t vs_scsi_cmd_resp_len(uint32_t sense_size);
/* The fixed fields of an encoded response p (VS_SCSI_RESP_FIXED bytes), read where they
 * lie; r->sense is left alone (the sense bytes follow at p + VS_SCSI_RESP_FIXED). */
static inline void vs_scsi_cmd_resp_fixed_at(const uint8_t *p, vs_scsi_cmd_resp *r)
{
    r->sense_len = vs_le32_get(p);
    r->residual = vs_le32_get(p + 4);
    r->status_qualifier = vs_le16_get(p + 8);
    r->status = p[10];
    r->response = p[11];
}
int vs_scsi_cmd_resp_get(const uint8_t *p, size_t len, uint32_t sense_size,
                         vs_scsi_cmd_resp *r);
/* Writes the fixed part and sense_size sense bytes: min(sense_len, sense_size,
 * VS_SCSI_SENSE_MAX) from r->sense, zeros after; sense_len is written as given. */
int64_t vs_scsi_cmd_resp_put(uint8_t *p, size_t cap, uint32_t sense_size,
                             const vs_scsi_cmd_resp *r);
/* The same from the fixed fields of f (f->sense unused) and sense_n bytes at sense (the
 * field f->sense_len may say otherwise: a device's choice), into p, which holds
 * vs_scsi_cmd_resp_len(sense_size) bytes: no vs_scsi_cmd_resp with its sense array. */
void vs_scsi_cmd_resp_pack(uint8_t *p, uint32_t sense_size, const vs_scsi_cmd_resp *f,
                           const uint8_t *sense, uint32_t sense_n);

/* Where the parts of a command chain lie, from its readable / writable byte counts (what
 * the device and the monitors both need to judge residual and used length). */
typedef struct vs_scsi_cmd_layout {
    uint64_t hdr_len, resp_len;  /* request header, response incl. sense_size */
    uint64_t dout, din;          /* data-out / data-in bytes (after the PI bytes) */
    uint32_t pi_out, pi_in;      /* PI bytes (T10_PI only) */
} vs_scsi_cmd_layout;
/* < 0 (VS_EINVAL) when the header or the response does not fit (the device error path),
 * or the PI byte counts exceed the data parts (the device answers FAILURE). */
int vs_scsi_cmd_layout_of(uint64_t out_bytes, uint64_t in_bytes, uint32_t cdb_size,
                          uint32_t sense_size, bool pi, uint32_t pi_bytesout,
                          uint32_t pi_bytesin, vs_scsi_cmd_layout *l);

/* controlq: every request starts with le32 type. */
enum vs_scsi_ctrl_type { VS_SCSI_T_TMF = 0, VS_SCSI_T_AN_QUERY = 1, VS_SCSI_T_AN_SUBSCRIBE = 2 };
enum vs_scsi_tmf_subtype {
    VS_SCSI_T_TMF_ABORT_TASK = 0,
    VS_SCSI_T_TMF_ABORT_TASK_SET = 1,
    VS_SCSI_T_TMF_CLEAR_ACA = 2,
    VS_SCSI_T_TMF_CLEAR_TASK_SET = 3,
    VS_SCSI_T_TMF_I_T_NEXUS_RESET = 4,
    VS_SCSI_T_TMF_LOGICAL_UNIT_RESET = 5,
    VS_SCSI_T_TMF_QUERY_TASK = 6,
    VS_SCSI_T_TMF_QUERY_TASK_SET = 7,
};
const char *vs_scsi_tmf_name(uint32_t subtype); /* "ABORT_TASK", ...; NULL if unknown */

/* TMF: readable {le32 type, le32 subtype, u8 lun[8], le64 id} (24), writable u8 response. */
#define VS_SCSI_TMF_REQ_BYTES 24u
#define VS_SCSI_TMF_RESP_BYTES 1u
typedef struct vs_scsi_tmf_req {
    uint32_t type, subtype;
    uint8_t lun[8];
    uint64_t id;
} vs_scsi_tmf_req;
void vs_scsi_tmf_req_get(const uint8_t p[VS_SCSI_TMF_REQ_BYTES], vs_scsi_tmf_req *r);
void vs_scsi_tmf_req_put(uint8_t p[VS_SCSI_TMF_REQ_BYTES], const vs_scsi_tmf_req *r);

/* AN query / subscribe: readable {le32 type, u8 lun[8], le32 event_requested} (16),
 * writable {le32 event_actual, u8 response} (5). */
#define VS_SCSI_AN_REQ_BYTES 16u
#define VS_SCSI_AN_RESP_BYTES 5u
enum vs_scsi_an_event {
    VS_SCSI_EVT_ASYNC_OPERATIONAL_CHANGE = 2,
    VS_SCSI_EVT_ASYNC_POWER_MGMT = 4,
    VS_SCSI_EVT_ASYNC_EXTERNAL_REQUEST = 8,
    VS_SCSI_EVT_ASYNC_MEDIA_CHANGE = 16,
    VS_SCSI_EVT_ASYNC_MULTI_HOST = 32,
    VS_SCSI_EVT_ASYNC_DEVICE_BUSY = 64,
};
typedef struct vs_scsi_an_req {
    uint32_t type;
    uint8_t lun[8];
    uint32_t event_requested;
} vs_scsi_an_req;
typedef struct vs_scsi_an_resp {
    uint32_t event_actual;
    uint8_t response;
} vs_scsi_an_resp;
void vs_scsi_an_req_get(const uint8_t p[VS_SCSI_AN_REQ_BYTES], vs_scsi_an_req *r);
void vs_scsi_an_req_put(uint8_t p[VS_SCSI_AN_REQ_BYTES], const vs_scsi_an_req *r);
void vs_scsi_an_resp_get(const uint8_t p[VS_SCSI_AN_RESP_BYTES], vs_scsi_an_resp *r);
void vs_scsi_an_resp_put(uint8_t p[VS_SCSI_AN_RESP_BYTES], const vs_scsi_an_resp *r);

/* eventq: {le32 event, u8 lun[8], le32 reason} (16 bytes). */
#define VS_SCSI_EVENT_BYTES 16u
#define VS_SCSI_T_EVENTS_MISSED 0x80000000u
enum vs_scsi_event_type {
    VS_SCSI_T_NO_EVENT = 0,
    VS_SCSI_T_TRANSPORT_RESET = 1,
    VS_SCSI_T_ASYNC_NOTIFY = 2,
    VS_SCSI_T_PARAM_CHANGE = 3,
};
enum vs_scsi_reset_reason {
    VS_SCSI_EVT_RESET_HARD = 0,
    VS_SCSI_EVT_RESET_RESCAN = 1,
    VS_SCSI_EVT_RESET_REMOVED = 2,
};
typedef struct vs_scsi_event {
    uint32_t event;  /* type | VS_SCSI_T_EVENTS_MISSED */
    uint8_t lun[8];
    uint32_t reason; /* PARAM_CHANGE: asc | ascq << 8 */
} vs_scsi_event;
void vs_scsi_event_get(const uint8_t p[VS_SCSI_EVENT_BYTES], vs_scsi_event *ev);
void vs_scsi_event_put(uint8_t p[VS_SCSI_EVENT_BYTES], const vs_scsi_event *ev);

/* LUN addressing: the single-level format {1, target, 0x40 | lun >> 8, lun & 0xff, 0 x4}
 * (flat space; the peripheral form {.., 0, lun < 256} decodes too), and the REPORT LUNS
 * well-known logical unit {0xc1, 0x01, 0 x6}. */
enum vs_scsi_lun_kind { VS_SCSI_LUN_BAD = 0, VS_SCSI_LUN_SINGLE, VS_SCSI_LUN_REPORT_LUNS };
typedef struct vs_scsi_lun_addr {
    uint8_t kind;   /* enum vs_scsi_lun_kind */
    uint8_t target;
    uint16_t lun;   /* 0..16383 */
} vs_scsi_lun_addr;
#define VS_SCSI_MAX_LUN 16383u
/* Encodes target/lun (lun > 16383: VS_EINVAL, lun untouched). */
int vs_scsi_lun_encode(uint8_t lun[8], uint8_t target, uint16_t l);
void vs_scsi_lun_encode_report_luns(uint8_t lun[8]);
/* Decodes; an unsupported format gives kind VS_SCSI_LUN_BAD and returns VS_EINVAL. */
int vs_scsi_lun_decode(const uint8_t lun[8], vs_scsi_lun_addr *a);

/* ------------------------------------------------------------------ SCSI (SAM / SPC / SBC) */

/* SAM status codes. */
enum vs_scsi_status {
    VS_SCSI_ST_GOOD = 0x00,
    VS_SCSI_ST_CHECK_CONDITION = 0x02,
    VS_SCSI_ST_CONDITION_MET = 0x04,
    VS_SCSI_ST_BUSY = 0x08,
    VS_SCSI_ST_RESERVATION_CONFLICT = 0x18,
    VS_SCSI_ST_TASK_SET_FULL = 0x28,
    VS_SCSI_ST_ACA_ACTIVE = 0x30,
    VS_SCSI_ST_TASK_ABORTED = 0x40,
};
/* A status code SAM defines (the obsolete 10h, 14h, 22h are not). */
bool vs_scsi_status_is_sam(uint8_t status);

/* Operation codes the target knows. */
enum vs_scsi_opcode {
    VS_SCSI_TEST_UNIT_READY = 0x00,
    VS_SCSI_REQUEST_SENSE = 0x03,
    VS_SCSI_READ_6 = 0x08,
    VS_SCSI_WRITE_6 = 0x0a,
    VS_SCSI_INQUIRY = 0x12,
    VS_SCSI_MODE_SENSE_6 = 0x1a,
    VS_SCSI_START_STOP_UNIT = 0x1b,
    VS_SCSI_PREVENT_ALLOW = 0x1e,
    VS_SCSI_READ_CAPACITY_10 = 0x25,
    VS_SCSI_READ_10 = 0x28,
    VS_SCSI_WRITE_10 = 0x2a,
    VS_SCSI_VERIFY_10 = 0x2f,
    VS_SCSI_SYNCHRONIZE_CACHE_10 = 0x35,
    VS_SCSI_UNMAP = 0x42,
    VS_SCSI_MODE_SENSE_10 = 0x5a,
    VS_SCSI_READ_16 = 0x88,
    VS_SCSI_WRITE_16 = 0x8a,
    VS_SCSI_VERIFY_16 = 0x8f,
    VS_SCSI_SYNCHRONIZE_CACHE_16 = 0x91,
    VS_SCSI_WRITE_SAME_16 = 0x93,
    VS_SCSI_SERVICE_ACTION_IN_16 = 0x9e, /* service action 10h: READ CAPACITY (16) */
    VS_SCSI_REPORT_LUNS = 0xa0,
    VS_SCSI_READ_12 = 0xa8,
    VS_SCSI_WRITE_12 = 0xaa,
    VS_SCSI_VERIFY_12 = 0xaf,
};
#define VS_SCSI_SAI_READ_CAPACITY_16 0x10u

/* CDB length from the opcode's group code: 6, 10, 12 or 16; 0 for the reserved group 3
 * (variable length) and vendor-specific groups 6 and 7. */
unsigned vs_scsi_cdb_len(uint8_t opcode);

/* The block range of a READ / WRITE (6, 10, 12, 16), VERIFY (10, 12, 16), WRITE SAME (16)
 * or SYNCHRONIZE CACHE (10, 16) CDB. READ/WRITE(6): a transfer length of 0 means 256
 * blocks; for the others 0 means no block (SYNCHRONIZE CACHE: to the end of the medium). */
typedef struct vs_scsi_rw {
    uint8_t opcode;
    bool write;     /* data flows to the device (WRITE, WRITE SAME) */
    bool data;      /* moves data blocks (READ/WRITE; VERIFY with BYTCHK; WRITE SAME: one) */
    uint64_t lba;
    uint32_t nblocks;
    uint8_t flags;  /* byte 1 of the CDB (FUA, BYTCHK, UNMAP, ANCHOR, ...) */
} vs_scsi_rw;
/* < 0 (VS_EINVAL) if the opcode is none of these or len is shorter than its CDB. */
int vs_scsi_cdb_rw(const uint8_t *cdb, size_t len, vs_scsi_rw *rw);
/* Builds a READ/WRITE/VERIFY/SYNCHRONIZE CACHE/WRITE SAME CDB of opcode rw->opcode into
 * cdb (16 bytes of room); returns its length, < 0 when a field does not fit the opcode. */
int vs_scsi_cdb_rw_build(uint8_t *cdb, const vs_scsi_rw *rw);

/* UNMAP parameter list: an 8-byte header {be16 data length, be16 block descriptor data
 * length, 4 reserved} and 16-byte descriptors {be64 lba, be32 blocks, 4 reserved}. */
#define VS_SCSI_UNMAP_HDR 8u
#define VS_SCSI_UNMAP_DESC 16u
typedef struct vs_scsi_unmap_desc {
    uint64_t lba;
    uint32_t nblocks;
} vs_scsi_unmap_desc;
/* Validates the header against len (data length = len-2 or less, descriptor length a
 * multiple of 16 and within the list) and returns the descriptor count, < 0 if malformed.
 * Descriptor i: vs_scsi_unmap_desc_get(p, i, &d) (caller checks i < count). */
int64_t vs_scsi_unmap_count(const uint8_t *p, size_t len);
void vs_scsi_unmap_desc_get(const uint8_t *p, uint32_t i, vs_scsi_unmap_desc *d);
size_t vs_scsi_unmap_build(uint8_t *p, size_t cap, const vs_scsi_unmap_desc *d, uint32_t n);

/* Sense keys and the additional sense codes the target uses (asc << 8 | ascq). */
enum vs_scsi_sense_key {
    VS_SCSI_SK_NO_SENSE = 0x0,
    VS_SCSI_SK_RECOVERED_ERROR = 0x1,
    VS_SCSI_SK_NOT_READY = 0x2,
    VS_SCSI_SK_MEDIUM_ERROR = 0x3,
    VS_SCSI_SK_HARDWARE_ERROR = 0x4,
    VS_SCSI_SK_ILLEGAL_REQUEST = 0x5,
    VS_SCSI_SK_UNIT_ATTENTION = 0x6,
    VS_SCSI_SK_DATA_PROTECT = 0x7,
    VS_SCSI_SK_ABORTED_COMMAND = 0xb,
    VS_SCSI_SK_MISCOMPARE = 0xe,
};
enum vs_scsi_asc {
    VS_SCSI_ASC_NONE = 0x0000,
    VS_SCSI_ASC_PARAM_LIST_LENGTH_ERROR = 0x1a00,
    VS_SCSI_ASC_INVALID_OPCODE = 0x2000,
    VS_SCSI_ASC_LBA_OUT_OF_RANGE = 0x2100,
    VS_SCSI_ASC_INVALID_FIELD_IN_CDB = 0x2400,
    VS_SCSI_ASC_LUN_NOT_SUPPORTED = 0x2500,
    VS_SCSI_ASC_INVALID_FIELD_IN_PARAM = 0x2600,
    VS_SCSI_ASC_WRITE_PROTECTED = 0x2700,
    VS_SCSI_ASC_RESET_OCCURRED = 0x2900,
    VS_SCSI_ASC_CAPACITY_CHANGED = 0x2a09,
    VS_SCSI_ASC_SAVING_PARAMS_UNSUPPORTED = 0x3900,
    VS_SCSI_ASC_REPORTED_LUNS_CHANGED = 0x3f0e,
    VS_SCSI_ASC_MISCOMPARE_VERIFY = 0x1d00,
};
/* Fixed-format sense data (response code 70h, additional length 10): 18 bytes. */
#define VS_SCSI_SENSE_FIXED_BYTES 18u
typedef struct vs_scsi_sense {
    uint8_t response_code; /* 70h/71h fixed, 72h/73h descriptor */
    uint8_t key;
    uint8_t asc, ascq;
    bool info_valid;
    uint32_t info;         /* fixed format only */
} vs_scsi_sense;
/* Fills 18 bytes (current error, information field valid when info_valid). */
void vs_scsi_sense_build(uint8_t out[VS_SCSI_SENSE_FIXED_BYTES], const vs_scsi_sense *s);
/* Parses fixed (70h/71h) or descriptor (72h/73h) sense data; < 0 if too short or another
 * response code. */
int vs_scsi_sense_parse(const uint8_t *p, size_t len, vs_scsi_sense *s);

/* Big-endian fields of CDBs and SCSI data (virtio's own fields are little-endian). */
static inline uint16_t vs_scsi_be16_get(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t vs_scsi_be32_get(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t vs_scsi_be64_get(const uint8_t *p)
{
    return (uint64_t)vs_scsi_be32_get(p) << 32 | vs_scsi_be32_get(p + 4);
}
static inline void vs_scsi_be16_put(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void vs_scsi_be32_put(uint8_t *p, uint32_t v)
{
    vs_scsi_be16_put(p, (uint16_t)(v >> 16));
    vs_scsi_be16_put(p + 2, (uint16_t)v);
}
static inline void vs_scsi_be64_put(uint8_t *p, uint64_t v)
{
    vs_scsi_be32_put(p, (uint32_t)(v >> 32));
    vs_scsi_be32_put(p + 4, (uint32_t)v);
}


/* ------------------------------------------------------------------ reference device
 * model/dev/scsi/: a virtio-scsi host with a small SCSI target (disk and MMC LUNs in RAM
 * or on raw files). Behaviour decisions are listed at the top of model/dev/scsi/scsi.c. */

enum vs_scsi_lun_type { VS_SCSI_TYPE_DISK = 0x00, VS_SCSI_TYPE_MMC = 0x05 };

typedef struct vs_scsi_lun_opts {
    uint8_t target;
    uint16_t lun;             /* 0..16383 */
    uint8_t type;             /* enum vs_scsi_lun_type */
    uint32_t block_size;      /* 512 (0) or 4096; MMC LUNs: 2048 allowed too */
    uint64_t blocks;          /* 0: image size / block_size (with image_path), else 2048 */
    const char *image_path;   /* raw image (pread/pwrite); NULL = RAM */
    bool create_image;        /* create/extend the image to blocks * block_size */
    bool read_only;           /* writes fail with DATA PROTECT (MMC LUNs always) */
} vs_scsi_lun_opts;

/* Deliberate bugs, for mutant tests; each breaks exactly one rule. */
enum vs_scsi_mutation {
    VS_SCSI_MUT_RESET_KEEPS_SIZES = 1u << 0,  /* reset leaves sense_size/cdb_size as written */
    VS_SCSI_MUT_STATUS_NOT_SAM = 1u << 1,     /* GOOD is reported as status 01h */
    VS_SCSI_MUT_BAD_TARGET_OK = 1u << 2,      /* a missing target: response OK, CHECK
                                                 CONDITION / LUN NOT SUPPORTED */
    VS_SCSI_MUT_RESET_DROPS_PENDING = 1u << 3, /* held commands never completed at reset */
    VS_SCSI_MUT_NO_EVENTS_MISSED = 1u << 4,   /* dropped events leave no EVENTS_MISSED bit */
    VS_SCSI_MUT_HOTPLUG_UNNEGOTIATED = 1u << 5, /* TRANSPORT_RESET rescan/removed sent
                                                   without HOTPLUG negotiated */
    VS_SCSI_MUT_PARAM_CHANGE_MMC = 1u << 6,   /* PARAM_CHANGE sent for an MMC LUN */
    VS_SCSI_MUT_RESIDUAL_WRONG = 1u << 7,     /* residual one more than it is */
    VS_SCSI_MUT_SENSE_LEN_FULL = 1u << 8,     /* sense_len is the full sense length even
                                                 when sense_size truncated it */
    VS_SCSI_MUT_SENSE_OVERFLOW = 1u << 9,     /* the whole sense is written even when longer
                                                 than sense_size (past the sense field) */
    VS_SCSI_MUT_USED_LEN_SHORT = 1u << 10,    /* used length omits the data-in bytes */
    VS_SCSI_MUT_INOUT_ACCEPTED = 1u << 11,    /* data-in + data-out without INOUT executed */
    VS_SCSI_MUT_TMF_BEFORE_ABORT = 1u << 12,  /* a TMF completes before the commands it
                                                 aborts or resets */
    VS_SCSI_MUT_CDB_SIZE_FIXED = 1u << 13,    /* requests parsed with cdb_size 32 whatever
                                                 the driver wrote */
    VS_SCSI_MUT_LUN_RESET_KEEPS = 1u << 14,   /* LOGICAL UNIT RESET leaves held commands
                                                 pending */
    VS_SCSI_MUT_NO_UA_AFTER_RESET = 1u << 15, /* no unit attention after a reset TMF */
    VS_SCSI_MUT_BAD_DEFAULTS = 1u << 16,      /* sense_size 64 / cdb_size 16 at power-on
                                                 and after reset */
    VS_SCSI_MUT_ABORT_KEEPS = 1u << 17,       /* ABORT TASK (SET) leaves the command pending */
    VS_SCSI_MUT_EVENT_OVERSIZE = 1u << 18,    /* events fill 24 bytes (> event_info_size)
                                                 when the buffer has room */
};

#define VS_SCSI_MAX_LUNS 64u
typedef struct vs_scsi_opts {
    uint16_t num_queues;      /* request queues; 0 = 1 */
    uint32_t queue_size;      /* max size of every queue; 0 = 128 */
    uint32_t seg_max;         /* 0 = queue_size - 2 */
    uint32_t max_sectors;     /* 0 = 0xffff */
    uint32_t cmd_per_lun;     /* 0 = 128 */
    int32_t max_target;       /* < 0 = 255 */
    int32_t max_lun;          /* < 0 = 16383 */
    bool inout, hotplug, change; /* offered device features */
    bool t10_pi;              /* offer T10_PI: PI bytes are skipped (out) / zeroed (in) */
    uint64_t extra_features;  /* device-independent bits (>= 24) to offer */
    unsigned nluns;
    vs_scsi_lun_opts luns[VS_SCSI_MAX_LUNS];
    uint32_t mutations;       /* enum vs_scsi_mutation */
    uint32_t event_info_size; /* what config event_info_size says; 0 (or < 16) = 16 */
} vs_scsi_opts;

/* Defaults: one request queue of 128, INOUT + HOTPLUG + CHANGE offered, no T10_PI,
 * EVENT_IDX | INDIRECT_DESC | RING_PACKED, one 2048-block RAM disk at target 0 LUN 0. */
void vs_scsi_opts_default(vs_scsi_opts *o);
/* Creates the device; refuses bad LUN options (duplicate address, block size, an image
 * smaller than the capacity unless create_image). gm must outlive the device. */
int vs_scsi_create(vs_device **out, vs_gmem *gm, const vs_scsi_opts *o, vs_err *e);

/* Host side (scenario steps): each raises the events and unit attentions a real host
 * would. Errors: not a scsi device, no such LUN, bad options. */
int vs_scsi_lun_add(vs_device *d, const vs_scsi_lun_opts *l, vs_err *e);
int vs_scsi_lun_remove(vs_device *d, uint8_t target, uint16_t lun, vs_err *e);
int vs_scsi_set_capacity(vs_device *d, uint8_t target, uint16_t lun, uint64_t blocks,
                         vs_err *e);
int vs_scsi_set_read_only(vs_device *d, uint8_t target, uint16_t lun, bool ro, vs_err *e);
/* The next `count` commands to the LUN are held (UINT32_MAX: every command until
 * released) instead of completed: they stay outstanding until a TMF, a device reset or
 * vs_scsi_release. Needs a transport that completes deferred chains (vs_device.complete). */
int vs_scsi_hold(vs_device *d, uint8_t target, uint16_t lun, uint32_t count, vs_err *e);
/* Executes and completes the LUN's held commands, oldest first; stops holding. */
int vs_scsi_release(vs_device *d, uint8_t target, uint16_t lun, vs_err *e);
uint32_t vs_scsi_held(const vs_device *d);          /* commands held, all LUNs */
/* The next `count` commands to the LUN complete with `response` (BUSY,
 * TRANSPORT_FAILURE, TARGET_FAILURE, NEXUS_FAILURE, FAILURE) without being executed. */
int vs_scsi_inject_response(vs_device *d, uint8_t target, uint16_t lun, uint8_t response,
                            uint32_t count, vs_err *e);
/* An asynchronous event of the LUN's physical interface: ASYNC_NOTIFY with the subset
 * the driver subscribed to (nothing if that subset is empty). */
int vs_scsi_raise_async(vs_device *d, uint8_t target, uint16_t lun, uint32_t events,
                        vs_err *e);
/* eventq state: buffers the device holds, events dropped for lack of one. */
uint32_t vs_scsi_event_buffers(const vs_device *d);
uint64_t vs_scsi_events_dropped(const vs_device *d);
/* Storage access for verification (bypasses the rings; writes ignore read_only). */
int vs_scsi_storage_read(vs_device *d, uint8_t target, uint16_t lun, uint64_t lba,
                         void *buf, uint32_t nblocks, vs_err *e);
int vs_scsi_storage_write(vs_device *d, uint8_t target, uint16_t lun, uint64_t lba,
                          const void *buf, uint32_t nblocks, vs_err *e);

#endif
