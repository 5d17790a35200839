/* Internals of the reference virtio-scsi device, shared by its files:
 *   scsi_target.c       the SCSI target: logical units, storage, unit attentions, the
 *                       command dispatcher and the block commands;
 *   scsi_target_cmds.c  the other commands (INQUIRY and VPD pages, REPORT LUNS, READ
 *                       CAPACITY, MODE SENSE, REQUEST SENSE, ...);
 *   scsi.c              the virtio side: config, features, request queues, creation, the
 *                       vs_device_ops table, the host-side API;
 *   scsi_ctrl.c         controlq (TMF, AN) and the held (outstanding) commands;
 *   scsi_events.c       eventq: buffers held by the device, events, EVENTS_MISSED.
 * The target knows nothing of virtqueues: it takes a CDB, a data-out span and a data-in
 * capacity and returns status, sense, data-in bytes and how much data-out it used. */
#ifndef VS_MODEL_DEV_SCSI_INT_H
#define VS_MODEL_DEV_SCSI_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtiosim/scsi.h"

/* ------------------------------------------------------------------ target */

enum { UA_RESET = 1u << 0, UA_CAPACITY = 1u << 1, UA_LUNS_CHANGED = 1u << 2 };

typedef struct scsi_lu {
    uint8_t target;
    uint16_t lun;
    uint8_t type;           /* enum vs_scsi_lun_type */
    bool ro;
    bool prevent;           /* PREVENT ALLOW MEDIUM REMOVAL state */
    bool stopped;           /* START STOP UNIT: START = 0 */
    uint8_t ua;             /* pending unit attentions (UA_*) */
    uint8_t an_subscribed;  /* AN events the driver subscribed to */
    uint32_t bs;            /* block size */
    uint64_t blocks;
    uint8_t *ram;           /* RAM storage (anonymous mapping), or NULL */
    size_t ram_bytes;
    int fd;                 /* file storage, or -1 */
    bool file_create;       /* may grow the file on a capacity change */
    uint32_t hold;          /* commands still to hold (UINT32_MAX: all) */
    uint32_t inject;        /* commands still to answer with inject_resp */
    uint8_t inject_resp;
} scsi_lu;

typedef struct scsi_tgt {
    scsi_lu *lu[VS_SCSI_MAX_LUNS]; /* present LUs, in the order added */
    unsigned n;
    uint8_t *bounce;        /* storage <-> data buffer for file-backed LUs */
    size_t bounce_cap;
    uint8_t *outbuf;        /* data-out fetched for commands that parse it */
    size_t outbuf_cap;
} scsi_tgt;

/* One command for the target. */
typedef struct scsi_io {
    const uint8_t *cdb;
    uint32_t cdb_len;
    const uint8_t *out;      /* data-out, or NULL: fetched on demand through fetch */
    uint32_t out_len;
    /* Copies data-out bytes [off, off + len) to dst; < 0 when they cannot be read (the
     * command then fails and fetch_failed is set). Lets a write to RAM storage go
     * straight from the caller's buffers to the medium (medium: dst is RAM storage,
     * which the copy may write around the caches). */
    int (*fetch)(void *ctx, uint32_t off, void *dst, uint32_t len, bool medium);
    void *fetch_ctx;
    bool fetch_failed;
    uint8_t *in;             /* data-in buffer */
    uint32_t in_cap;
    /* results */
    uint8_t status;          /* SAM status */
    uint8_t sense[VS_SCSI_SENSE_FIXED_BYTES];
    uint32_t sense_len;      /* 0 or VS_SCSI_SENSE_FIXED_BYTES */
    const uint8_t *in_data;  /* data-in bytes: io->in, or straight from RAM storage */
    uint32_t in_len;
    uint32_t out_used;       /* data-out bytes consumed */
    bool overrun;            /* the CDB needs more data than the buffers hold: not run */
    /* the CDB decoded as a block command while sizing the transfer (rw_ok), so the
     * dispatcher does not decode it twice */
    bool rw_ok;
    vs_scsi_rw rw;
} scsi_io;

int vs__scsi_tgt_init(scsi_tgt *t, vs_err *e);
void vs__scsi_tgt_fini(scsi_tgt *t);
int vs__scsi_tgt_add(scsi_tgt *t, const vs_scsi_lun_opts *o, vs_err *e);
int vs__scsi_tgt_remove(scsi_tgt *t, uint8_t target, uint16_t lun, vs_err *e);
scsi_lu *vs__scsi_tgt_find(scsi_tgt *t, uint8_t target, uint16_t lun);
bool vs__scsi_tgt_has_target(const scsi_tgt *t, uint8_t target);
int vs__scsi_tgt_resize(scsi_tgt *t, scsi_lu *lu, uint64_t blocks, vs_err *e);
/* Runs one command addressed to LU lu of target (vs__scsi_tgt_find's answer, looked up by
 * the caller; NULL: none) or, with report_luns, to that target's REPORT LUNS well-known
 * LU (lu NULL). A missing LU answers INQUIRY (qualifier 3) and REPORT LUNS, else ILLEGAL
 * REQUEST / LOGICAL UNIT NOT SUPPORTED. */
void vs__scsi_tgt_exec(scsi_tgt *t, scsi_lu *lu, uint8_t target, bool report_luns,
                       scsi_io *io);
/* Storage (host I/O: 0 or -errno); the range is checked by the caller. */
int vs__scsi_st_read(scsi_tgt *t, scsi_lu *lu, uint64_t lba, uint32_t n, uint8_t *buf);
int vs__scsi_st_write(scsi_lu *lu, uint64_t lba, uint32_t n, const uint8_t *buf);
/* Unit attention to every LU of a target (-1: all targets). */
void vs__scsi_tgt_ua(scsi_tgt *t, int target, uint8_t ua);

/* Command results. */
void vs__scsi_io_good(scsi_io *io);
void vs__scsi_io_check(scsi_io *io, uint8_t key, uint16_t asc_ascq);
/* Data-in of a fixed-size answer: copies min(len, allocation length, capacity). */
void vs__scsi_io_data(scsi_io *io, const uint8_t *data, uint32_t len, uint32_t alloc);

/* scsi_target_cmds.c */
void vs__scsi_cmd_inquiry(scsi_tgt *t, scsi_lu *lu, scsi_io *io);
void vs__scsi_cmd_report_luns(scsi_tgt *t, uint8_t target, scsi_io *io);
void vs__scsi_cmd_read_capacity(scsi_lu *lu, scsi_io *io);
void vs__scsi_cmd_mode_sense(scsi_lu *lu, scsi_io *io);
void vs__scsi_cmd_request_sense(scsi_lu *lu, scsi_io *io);
void vs__scsi_cmd_start_stop(scsi_lu *lu, scsi_io *io);
void vs__scsi_cmd_prevent_allow(scsi_lu *lu, scsi_io *io);

/* ------------------------------------------------------------------ device */

/* A chain the device keeps: a held command, or an eventq buffer. */
typedef struct scsi_held {
    uint16_t q;
    uint16_t id;            /* chain id (vs_device.complete) */
    uint8_t target;
    uint16_t lun;
    uint64_t tag;           /* command id */
    vs_chain c;             /* own copy; c.seg allocated */
} scsi_held;

typedef struct scsi_dev {
    vs_device dev;          /* first: vs_device* <-> scsi_dev* */
    vs_scsi_opts o;         /* normalised (LU options live in tgt) */
    uint64_t features;      /* offered */
    uint32_t sense_size, cdb_size;
    scsi_tgt tgt;
    uint8_t *buf;           /* request header / response / data bounce */
    size_t buf_cap;
    scsi_held *held;        /* held commands, oldest first */
    uint32_t nheld, held_cap;
    scsi_held *evbuf;       /* eventq buffers, oldest first */
    uint32_t nev, ev_cap;
    bool missed;            /* an event was dropped: next buffer reports it */
    bool host_ok;           /* the chain in hand was popped just now: its host pointers
                               hold (vs__scsi_chain_xfer copies through them) */
    uint64_t dropped;
} scsi_dev;

static inline scsi_dev *to_scsi(vs_device *d) { return (scsi_dev *)d; }
static inline bool sneg(const scsi_dev *s, unsigned bit)
{
    return (s->dev.driver_features & VS_BIT(bit)) != 0;
}
static inline bool smut(const scsi_dev *s, uint32_t m) { return (s->dev.mutations & m) != 0; }

/* scsi.c */
scsi_dev *vs__scsi_dev(vs_device *d, vs_err *e);   /* NULL (with e) if not scsi */
int vs__scsi_chain_xfer(scsi_dev *s, const vs_chain *c, bool writable, uint64_t off,
                        void *buf, uint64_t len, bool to_guest, vs_err *e);
int vs__scsi_chain_check(const vs_chain *c, uint64_t *out_bytes, uint64_t *in_bytes,
                         vs_err *e);
int vs__scsi_buf_reserve(scsi_dev *s, size_t n, vs_err *e);
/* Runs a request-queue command (held ones too); *written = used length. */
int vs__scsi_req_run(scsi_dev *s, uint16_t q, const vs_chain *c, bool may_hold,
                     uint32_t *written, vs_err *e);
/* Completes a command chain with only a response code (no data). */
int vs__scsi_req_fail(scsi_dev *s, const vs_chain *c, uint8_t response, uint32_t *written,
                      vs_err *e);
int vs__scsi_hold_copy(scsi_held *h, const vs_chain *c);
void vs__scsi_hold_free(scsi_held *h);

/* scsi_ctrl.c */
int vs__scsi_ctrl(scsi_dev *s, const vs_chain *c, uint32_t *written, vs_err *e);
int vs__scsi_held_add(scsi_dev *s, uint16_t q, const vs_chain *c, uint8_t target,
                      uint16_t lun, uint64_t tag);
/* Completes the held commands matching (target unless < 0; lun unless < 0; tag unless
 * tag_any) with `response`, oldest first, and forgets them. */
void vs__scsi_held_finish(scsi_dev *s, int target, int lun, bool tag_any, uint64_t tag,
                          uint8_t response);
/* The same for every held command of queue q (-1: all queues). */
void vs__scsi_held_finish_queue(scsi_dev *s, int32_t q, uint8_t response);
/* Forgets (never completes) the held commands of queue q (-1: all). */
void vs__scsi_held_forget_queue(scsi_dev *s, int32_t q);
/* Executes the LU's held commands and completes them, oldest first. */
void vs__scsi_held_release(scsi_dev *s, uint8_t target, uint16_t lun);
/* Held commands matching target/lun/tag (as held_finish). */
uint32_t vs__scsi_held_count(const scsi_dev *s, int target, int lun, bool tag_any,
                             uint64_t tag);

/* scsi_events.c */
int vs__scsi_eventq(scsi_dev *s, const vs_chain *c, uint32_t *written, vs_err *e);
void vs__scsi_event(scsi_dev *s, uint32_t type, uint8_t target, uint16_t lun,
                    uint32_t reason);
void vs__scsi_events_forget(scsi_dev *s);

#endif
