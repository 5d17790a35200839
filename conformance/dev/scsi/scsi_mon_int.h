/* Internal to conformance/dev/scsi/: the virtio-scsi monitor extension (vs_mon_devs_scsi,
 * see conformance/monitor_dev.h). Its state per monitors (scsi_mon) and per chain
 * (scsi_chain), its checks (enum vs_scsi_chk, numbered from CK_DEV_FIRST):
 *   scsi_checks.c  the check table and the hook table vs_mon_devs_scsi
 *   scsi_mon.c     config, requests made available / completed, events, host notes */
#ifndef VIRTIOSIM_CONFORMANCE_DEV_SCSI_MON_INT_H
#define VIRTIOSIM_CONFORMANCE_DEV_SCSI_MON_INT_H

#include "conformance/monitor_dev.h"
#include "virtiosim/le.h"
#include "virtiosim/scsi.h"

#define SCSI_MON_LUNS 128u

enum vs_scsi_chk {
    /* device role */
    CK_SCSI_RESET_SIZES = CK_DEV_FIRST, /* reset restores sense_size 96, cdb_size 32 */
    CK_SCSI_EVENTQ_POSTED,  /* a buffer on the eventq before the first command */
    CK_SCSI_STATUS_SAM,     /* status is a SAM code */
    CK_SCSI_RESPONSE,       /* response byte defined and matching the outcome */
    CK_SCSI_EVENTS_MISSED,  /* the event after a drop carries EVENTS_MISSED */
    CK_SCSI_HOTPLUG_EVENTS, /* no rescan / removed events without HOTPLUG */
    CK_SCSI_MMC_PARAM,      /* no PARAM_CHANGE for MMC units */
    CK_SCSI_RESIDUAL,       /* residual within the transfer, 0 for a full one */
    CK_SCSI_SENSE_LEN,      /* sense_len within sense_size */
    CK_SCSI_USED_LEN,       /* used length covers the response and the data-in moved */
    CK_SCSI_TMF_ORDER,      /* commands a TMF ends are used before the TMF */
    /* driver role */
    CK_SCSI_D_CFG_WRITE,    /* config writes only to sense_size / cdb_size */
    CK_SCSI_D_PER_LUN,      /* per LUN <= cmd_per_lun */
    CK_SCSI_D_PER_LUN_QS,   /* per LUN <= queue size */
    CK_SCSI_D_TASK_ATTR,    /* task_attr, prio, crn zero */
    CK_SCSI_D_REFILL,       /* consumed eventq buffers replaced before new work */
    CK_SCSI_D_EV_WRITABLE,  /* eventq buffers device-writable */
    CK_SCSI_D_EV_INFO,      /* eventq buffers >= event_info_size */
    CK_SCSI_D_EV_16,        /* eventq buffers >= 16 bytes */
    CK_SCSI_D_LOST_RESCAN,  /* after lost events: a scan before other commands */
    CK_SCSI_D_HP_RESCAN,    /* after rescan / removed of LUN 0: the target rescanned */
    CK_SCSI_END
};

enum scsi_chain_kind { CH_NONE = 0, CH_CMD, CH_TMF, CH_AN, CH_EVENT };

/* Per chain (vs_mon_dev.chain_bytes). */
typedef struct scsi_chain {
    uint8_t kind;
    bool lun_ok;               /* a single-level LUN */
    uint8_t target, opcode, cdb1;
    uint16_t lun;
    uint32_t resp_bytes;       /* the writable response part (12 + sense_size) */
    uint64_t data_out, data_in;
    uint64_t tag;
    uint32_t subtype;          /* TMF */
    uint64_t rw_blocks;        /* READ/WRITE transfer length (blocks), 0 none */
    uint32_t sense_size;
    uint64_t order;            /* made available as the order-th chain (all queues) */
} scsi_chain;

typedef struct scsi_lun_track {
    uint32_t key;              /* target << 16 | lun, + 1 (0: free) */
    uint32_t out;              /* commands outstanding */
    bool mmc;
} scsi_lun_track;

/* Per monitors (m->dev_state). */
typedef struct scsi_mon {
    uint32_t sense_size, cdb_size;       /* as the device uses them now */
    bool sizes_written;                  /* since the last reset */
    uint32_t cmd_per_lun, event_info_size;
    bool cmd_per_lun_known;
    bool cmd_seen;                       /* a command made available since reset */
    uint64_t ev_posted;                  /* eventq buffers made available, not used */
    uint64_t ev_total;                   /* made available since reset */
    uint32_t refill_due;                 /* eventq buffers used, not replaced */
    bool refill_stale;                   /* other requests went out while refill_due */
    ctx refill_cx;                       /* the first of them (the evidence) */
    bool missed_pending;                 /* an event was due while the eventq was empty */
    bool lost_rescan_due;                /* an EVENTS_MISSED event was collected */
    int hp_rescan_target;                /* -1, or the target a LUN 0 event named */
    uint64_t avail_clock;                /* chains made available, every queue */
    bool targets_known;                  /* the harness said which LUNs exist */
    uint8_t target_luns[256];            /* LUNs known per target (saturating) */
    scsi_lun_track lun[SCSI_MON_LUNS];
} scsi_mon;

static inline scsi_mon *sm(const vs_monitors *m) { return m->dev_state; }
static inline scsi_chain *sc(chain_rec *c) { return mon_chain_dev(c); }

/* scsi_mon.c */
int scsi_mon_create(vs_monitors *m, vs_err *e);
void scsi_mon_destroy(vs_monitors *m);
void scsi_mon_reset(vs_monitors *m);
void scsi_mon_config(vs_monitors *m, const vs_event *ev, bool write);
void scsi_mon_avail(vs_monitors *m, qstate *q, chain_rec *c, const vs_event *ev);
void scsi_mon_used(vs_monitors *m, qstate *q, chain_rec *c, const vs_event *ev, ctx cx);
void scsi_mon_retire(vs_monitors *m, chain_rec *c);
void scsi_mon_note(vs_monitors *m, const vs_event *ev);
void scsi_mon_finish(vs_monitors *m);
/* scsi_mon_cmd.c: a command's completion */
void scsi_mon_cmd_used(vs_monitors *m, chain_rec *c, const vs_event *ev, ctx cx);
void scsi_mon_tmf_used(vs_monitors *m, chain_rec *c, const vs_event *ev, ctx cx);
scsi_lun_track *scsi_mon_lun(vs_monitors *m, uint8_t target, uint16_t lun, bool add);

#endif
