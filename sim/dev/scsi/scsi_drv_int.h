/* virtio-scsi on the driver model (private to sim/dev/scsi/): the personality's state, its
 * requests (commands on the request queues, task management and asynchronous notification
 * on the controlq, event buffers on the eventq), their results, the LUN scan and the
 * shadow that verifies data. Every request is encoded and decoded with the scsi codec
 * (virtiosim/scsi.h). */
#ifndef VS_SCSI_DRV_INT_H
#define VS_SCSI_DRV_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/driver_int.h"
#include "virtiosim/scsi.h"

#define SCSI_MAX_LUNS 64          /* LUNs the driver keeps track of (scan, shadow) */
#define SCSI_EVENTQ_DEFAULT 8     /* eventq buffers, as Linux's VIRTIO_SCSI_EVENT_LEN */
#define SCSI_EVENTQ_MAX 64
#define SCSI_DATA_KEEP 96         /* data-in bytes a result keeps (scan answers) */
#define SCSI_SHADOW_MAX (UINT64_C(1) << 22) /* blocks tracked per LUN */
#define SCSI_TAG_UNKNOWN UINT64_MAX
#define SCSI_TAG_ZERO 0
#define SCSI_SNAP_SKIP (UINT64_MAX - 1)

/* The driver's default features: INOUT, HOTPLUG and CHANGE (T10_PI is not used). */
#define SCSI_DRV_FEATURES                                                              \
    (VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_F_INDIRECT_DESC) | VS_BIT(VS_F_EVENT_IDX) |   \
     VS_BIT(VS_SCSI_F_INOUT) | VS_BIT(VS_SCSI_F_HOTPLUG) | VS_BIT(VS_SCSI_F_CHANGE))

/* Deliberate bugs of the driver model (driver-role mutants), enum scsi_drv_mutation: the
 * mutants carry them in vs_mutant.drv_dev_mutations, the driver gets them as
 * vs_driver_opts.dev_mutations. */
enum scsi_drv_mutation {
    SCSI_DMUT_TASK_ATTR = 1u << 0,     /* task_attr ORDERED, prio and crn non-zero */
    SCSI_DMUT_EVENT_READABLE = 1u << 1, /* eventq buffers device-readable */
    SCSI_DMUT_EVENT_SHORT = 1u << 2,   /* eventq buffers of 8 bytes */
    SCSI_DMUT_EVENT_BELOW_INFO = 1u << 3, /* eventq buffers of event_info_size - 1 */
    SCSI_DMUT_NO_REFILL = 1u << 4,     /* consumed eventq buffers are not replaced */
    SCSI_DMUT_NO_EVENTQ = 1u << 5,     /* the eventq is left empty */
    SCSI_DMUT_IGNORE_CMD_PER_LUN = 1u << 6, /* the workload ignores cmd_per_lun */
    SCSI_DMUT_WRITES_CONFIG = 1u << 7, /* writes max_sectors at bring-up */
    SCSI_DMUT_NO_RESCAN = 1u << 8,     /* no scan after a rescan / lost event */
    SCSI_DMUT_IGNORE_QUEUE_SIZE = 1u << 10, /* per LUN: cmd_per_lun even above the queue size */
};

enum scsi_kind { SK_CMD = 1, SK_TMF, SK_AN, SK_EVENT };

/* A command the caller asks for (scsi_cmd_submit). */
enum scsi_cmd_flags {
    SC_DEFER = 1u << 0,       /* add, publish later (vs_driver_flush) */
    SC_INDIRECT = 1u << 1,    /* one indirect table */
    SC_DIRECT = 1u << 2,      /* never indirect (overrides the driver option) */
    SC_SPLIT_HDR = 1u << 3,   /* the header in two descriptors */
    SC_NO_VERIFY = 1u << 4,   /* data-in not compared with the shadow */
    SC_ANY_DATA = 1u << 5,    /* data-out: whatever the buffer held (workload without
                                 verification) */
    SC_KEEP_DATA = 1u << 6,   /* the result keeps the first data-in bytes */
    SC_ONE_SEG = 1u << 7,     /* data in one descriptor whatever the segment size */
    SC_PARAM = 1u << 8,       /* data-out: param[] (out_len <= sizeof param) */
    SC_UNTRACKED = 1u << 9,   /* no shadow bookkeeping: the caller gave the range up */
    SC_LUN_IX = 1u << 10,     /* lun_ix is the slot of the present LUN lun[] addresses (the
                                 caller looked it up; saves decoding lun[] per command) */
};

typedef struct scsi_cmd {
    uint16_t rq;              /* request queue (virtqueue 2 + rq) */
    uint8_t lun[8];
    uint64_t tag;             /* the id field (0: the driver numbers it) */
    uint8_t task_attr, prio, crn;
    uint8_t cdb[VS_SCSI_CDB_MAX];
    uint32_t cdb_len;
    uint32_t out_len, in_len; /* data-out and data-in bytes */
    uint32_t hdr_len;         /* 0: the whole header; else only this many bytes */
    uint32_t resp_len;        /* 0: the whole response; else only this many bytes */
    uint32_t flags;           /* enum scsi_cmd_flags */
    uint64_t pattern;         /* data-out pattern tag of a command that is not a WRITE */
    uint64_t user;
    int lun_ix;               /* SC_LUN_IX: the LUN's slot */
    uint8_t param[VS_SCSI_UNMAP_HDR + VS_SCSI_UNMAP_DESC]; /* SC_PARAM: the data-out */
} scsi_cmd;

/* One LUN the driver knows (scan, hot-plug). */
typedef struct scsi_lun {
    uint8_t target;
    uint16_t lun;
    uint8_t type;             /* INQUIRY peripheral device type */
    uint64_t blocks;          /* READ CAPACITY */
    uint32_t block_len;
    uint32_t outstanding;     /* commands in flight (cmd_per_lun) */
    uint64_t *tag;            /* shadow: pattern tag per block (NULL: not tracked) */
    uint32_t *busy;           /* writes in flight per block */
    bool present;
    bool fresh_shadow;        /* just allocated: the scan's caller sets what it holds */
} scsi_lun;

/* A command the device was asked to hold. */
typedef struct scsi_held {
    int id;
    uint16_t q;
    uint64_t tag;
    int lun_ix;
} scsi_held;

/* Per driver (the personality's state). */
typedef struct scsi_drv {
    vs_scsi_config cfg;       /* as read at setup (sense_size, cdb_size as written) */
    uint32_t want_sense, want_cdb; /* written at setup (0: leave the device's) */
    uint32_t ev_bufs, ev_len; /* eventq buffers to keep posted and their size (0: the
                                 config's event_info_size, at least 16) */
    uint32_t ev_posted;       /* buffers on the eventq now */
    uint32_t mutations;       /* enum scsi_drv_mutation */
    uint64_t next_tag, next_pattern;
    scsi_lun lun[SCSI_MAX_LUNS];
    unsigned nlun;
    uint64_t seed;
    uint64_t events_seen, events_missed, rescans; /* rescan requests from events */
    bool rescan_due;          /* an event asked for a scan */
    uint32_t max_per_lun;     /* commands per LUN the driver allows (cmd_per_lun) */
    scsi_held held[64];
    unsigned nheld;           /* commands the device was asked to hold (scsi_hold) */
} scsi_drv;

/* Per request (the personality's device data). */
typedef struct scsi_req {
    uint8_t kind;             /* enum scsi_kind */
    uint8_t opcode;
    uint64_t tag;
    uint64_t user;
    uint32_t flags;
    int lun_ix;               /* the LUN's slot, -1 none */
    uint32_t out_len, in_len;
    uint32_t hsegs, resp_seg, data_in_first, data_in_count, resp_len;
    /* READ / WRITE: the blocks and what they were expected to hold */
    bool rw, write;
    uint64_t lba;
    uint32_t nblocks;
    uint64_t write_tag;
    uint64_t *snap;           /* the request's `owned` block */
    uint32_t subtype;         /* TMF subtype / AN type */
} scsi_req;

/* A completion (the personality's result type). */
typedef struct scsi_result {
    uint8_t kind;
    bool fault, ok, guard_ok, data_ok, len_valid, resp_ok;
    uint16_t queue;
    uint32_t id, used_len;
    uint64_t tag, user;
    uint8_t opcode, lun8[8];
    uint32_t in_len, out_len, resp_len;
    /* command */
    uint8_t response, status;
    uint16_t status_qualifier;
    uint32_t sense_len, residual;
    uint8_t sense_key, asc, ascq;
    bool sense_parsed;
    uint32_t blocks_verified;
    uint8_t data[SCSI_DATA_KEEP];
    uint32_t data_len;
    /* TMF / AN */
    uint32_t subtype, event_actual;
    /* event */
    uint32_t event, reason;
    uint64_t submit_ns, complete_ns, latency_ns;
    char msg[160];
} scsi_result;

extern const vs_drv_personality vs_scsi_drv_personality;

static inline scsi_drv *scsi_drv_of(const vs_driver *d) { return vs__drv_state(d); }
static inline scsi_req *scsi_rq(const vs_drv_req *rq) { return rq->dev; }

/* scsi_driver.c */
bool scsi_driver_is(const vs_driver *d);
int scsi_cmd_submit(vs_driver *d, const scsi_cmd *c, vs_err *e);
int scsi_tmf_submit(vs_driver *d, uint32_t subtype, const uint8_t lun[8], uint64_t tag,
                    bool defer, vs_err *e);
int scsi_an_submit(vs_driver *d, uint32_t type, const uint8_t lun[8], uint32_t requested,
                   vs_err *e);
/* Keeps ev_bufs buffers on the eventq (the bring-up fill and every refill). */
int scsi_eventq_fill(vs_driver *d, vs_err *e);
/* Replaces used event buffers (the driver's refill; none under SCSI_DMUT_NO_REFILL). */
int scsi_refill(vs_driver *d, vs_err *e);
/* After DRIVER_OK: sense_size and cdb_size written as the driver wants them, then the
 * eventq filled (Linux: virtscsi_init, then virtscsi_kick_event_all). */
int scsi_bring_up(vs_driver *d, vs_err *e);
/* Waits until no command or control request is outstanding (event buffers stay), refilling
 * the eventq as events arrive. */
int scsi_run(vs_driver *d, uint64_t timeout_ns, vs_err *e);
/* Commands and control requests outstanding (event buffers not counted). */
unsigned scsi_busy(const vs_driver *d);
/* Submits, runs and takes this request's result (others stay queued). */
int scsi_cmd_do(vs_driver *d, const scsi_cmd *c, scsi_result *res, vs_err *e);
/* Takes the oldest result of kind (0: any) matching the id on queue q (id < 0: any). */
bool scsi_take(vs_driver *d, uint8_t kind, int q, int id, scsi_result *out);
int scsi_lun_find(const scsi_drv *s, uint8_t target, uint16_t lun);
int scsi_lun_add(scsi_drv *s, uint8_t target, uint16_t lun);
void scsi_lun_drop(scsi_drv *s, int ix);

/* scsi_scan.c: the scan Linux's SCSI midlayer does (REPORT LUNS, INQUIRY, READ
 * CAPACITY), per target up to max_targets. Returns LUNs found, < 0 on error. */
int scsi_scan(vs_driver *d, uint16_t max_targets, bool track_data, vs_err *e);
/* The LUN's shadow: blocks [lba, lba + n) now hold tag (SCSI_TAG_UNKNOWN: unpredictable). */
void scsi_shadow_set(scsi_lun *l, uint64_t lba, uint64_t n, uint64_t tag);
int scsi_shadow_alloc(scsi_lun *l, uint64_t initial, vs_err *e);
void scsi_shadow_free(scsi_lun *l);
/* One block of pattern tag (tag SCSI_TAG_ZERO: zeroes). */
void scsi_pattern_block(uint64_t seed, uint64_t tag, uint64_t lba, uint8_t *out, uint32_t len);

/* scsi_workload.c */
typedef struct scsi_workload {
    vs_rw_kind rw;
    uint32_t bs, iodepth, rwmixread;
    uint64_t nr_ops, offset, size;  /* bytes */
    bool verify, cdb16;
    uint16_t queues;                /* request queues to spread over (0: all) */
    bool all_luns;                  /* every LUN found by the scan, else lun_ix */
    int lun_ix;
    uint64_t timeout_ns;
} scsi_workload;
typedef struct scsi_workload_stats {
    uint64_t ops, reads, writes, errors, verify_failures, elapsed_ns;
    uint64_t lat_min_ns, lat_median_ns, lat_max_ns, lat_mean_ns;
    uint32_t max_per_lun;           /* the most commands seen in flight on one LUN */
    char first_error[200];
} scsi_workload_stats;
int scsi_workload_run(vs_driver *d, const scsi_workload *w, scsi_workload_stats *st,
                      vs_err *e);

#endif
