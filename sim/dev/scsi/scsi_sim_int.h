/* virtio-scsi in the simulator, shared by its files (private to sim/dev/scsi/): the
 * scenario's `device:` options, the parameters of scsi's steps, and the sub-tables of its
 * vs_sim_dev. */
#ifndef VS_SCSI_SIM_INT_H
#define VS_SCSI_SIM_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "sim/backend_dev.h"
#include "sim/dev/scsi/scsi_drv_int.h"
#include "sim/mutant_dev.h"
#include "sim/step_dev.h"
#include "virtiosim/driver.h"
#include "virtiosim/scsi.h"

#define SCSI_SCN_LUNS 16
#define SCSI_SCN_INJECT 8
#define SCSI_EXPECT_EVENTS 8

/* One logical unit of the scenario's device. */
typedef struct scsi_lun_opt {
    uint8_t target;
    uint16_t lun;
    uint64_t bytes;
    uint32_t block_len;
    bool read_only;
    bool mmc;              /* type mmc: a CD/DVD unit (peripheral type 05h) */
    bool null;             /* file: null (QEMU null-co: reads zeroes, writes dropped) */
    char *file;            /* raw image, resolved path; NULL: RAM */
} scsi_lun_opt;

/* The scenario's `device:` keys (vs_scenario.dev_opts). */
typedef struct scsi_scn_opts {
    scsi_lun_opt lun[SCSI_SCN_LUNS];
    unsigned nluns;
    uint16_t num_queues;   /* request queues */
    uint32_t seg_max, max_sectors, cmd_per_lun, event_info_size;
    uint16_t max_target;
    uint32_t max_lun;
    bool inout, hotplug, change;   /* offered */
    uint32_t eventq_buffers;       /* the driver keeps this many posted */
    uint32_t event_len;            /* their size (0: event_info_size) */
    uint32_t sense_size, cdb_size; /* what the driver writes at bring-up */
    struct {
        unsigned lun;      /* index in lun[] */
        bool write;
        uint64_t lba;
        bool once;
    } inject[SCSI_SCN_INJECT];     /* I/O errors below QEMU's device (blkdebug) */
    unsigned n_inject;
} scsi_scn_opts;

static inline const scsi_scn_opts *scsi_opts_of(const vs_scenario *s)
{
    return (const scsi_scn_opts *)s->dev_opts;
}

/* What a step expects of a completion; has_* says which keys were given. */
typedef struct scsi_expect {
    bool has_response, has_status, has_key, has_asc, has_ascq, has_residual, has_sense_len;
    uint8_t response, status, key, asc, ascq;
    uint32_t residual, sense_len;
} scsi_expect;

/* The parameters of one scsi step (vs_step.dev). */
typedef struct scsi_step {
    /* the command */
    uint8_t cdb[VS_SCSI_CDB_MAX];
    uint32_t cdb_len;
    int cdb_op;            /* a named CDB (built at run time from the keys), -1: hex */
    uint8_t target;
    uint16_t lun;
    bool report_luns_wlun; /* lun: report_luns (the well-known LUN) */
    bool raw_lun;          /* lun8 as given */
    uint8_t lun8[8];
    uint16_t rq;           /* request queue */
    uint64_t lba;
    uint32_t blocks;
    bool has_data_in, has_data_out;
    uint32_t data_in, data_out;
    uint32_t pattern;
    uint32_t page;         /* INQUIRY VPD page (evpd when has_page) */
    bool has_page;
    uint32_t hdr_len, resp_len;
    bool split_header, indirect, direct, verify;
    bool expect_needs_reset;   /* a malformed command: the device's error path */
    uint8_t task_attr, prio, crn;
    scsi_expect x;
    /* scan */
    uint16_t targets;
    int expect_luns;       /* -1: any */
    /* tmf / an */
    uint32_t subtype;
    int tag_ref;           /* tmf: 0 the tag given, 1 the last held command's, 2 none */
    uint64_t tag;
    uint8_t expect_tmf;
    bool has_expect_tmf;
    int expect_held;       /* response the held commands complete with; -1: don't care */
    uint32_t an_events;
    bool has_event_actual;
    uint32_t event_actual;
    /* hotplug / capacity / hold / eventq */
    bool remove;
    uint64_t bytes;
    uint32_t count;
    uint32_t buffers;
    struct { uint32_t event, reason; bool missed, has_reason, any_lun; } ev[SCSI_EXPECT_EVENTS];
    unsigned nev;
    bool expect_no_event;
    /* workload */
    struct {
        vs_rw_kind rw;
        uint32_t bs, iodepth, rwmixread;
        uint64_t number_ios, offset, size;
        bool verify, cdb16, all_luns;
        uint16_t queues;
    } wl;
    /* config_write */
    uint32_t cfg_off, value;
} scsi_step;

extern const struct vs_step_set vs_scsi_step_set;
extern const struct vs_backend_present vs_scsi_backends;
extern const struct vs_mutant_set vs_scsi_mutants;

/* scsi_scenario.c */
extern const vs_field scsi_device_keys[];
void scsi_scenario_defaults(vs_scenario *s);
int scsi_scenario_finish(vs_loader *L, vs_scenario *s, const yaml_node_t *root);
void scsi_options_free(void *opts);

/* scsi_host.c: what the steps ask of the reference device's host side (hot-plug, capacity,
 * held commands); -VS_ENOTSUP on a back-end without one. */
int scsi_host_hotplug(vs_run_ctx *c, uint8_t target, uint16_t lun, bool remove,
                      uint64_t bytes, vs_err *e);
int scsi_host_capacity(vs_run_ctx *c, uint8_t target, uint16_t lun, uint64_t bytes, vs_err *e);
int scsi_host_hold(vs_run_ctx *c, uint8_t target, uint16_t lun, uint32_t count, vs_err *e);
int scsi_host_release(vs_run_ctx *c, vs_err *e);

/* scsi_lio.c: `--backend vhost-kernel:DEV` (the kernel's vhost-scsi behind LIO) */
struct vs_vhost_kernel_opts;
const char *scsi_lio_unsupported(const vs_scenario *s);
int scsi_vhost_kernel(vs_run_ctx *c, struct vs_vhost_kernel_opts *ko, vs_err *e);
bool scsi_lio_owns(const vs_run_ctx *c);
void scsi_lio_teardown(vs_run_ctx *c);
int scsi_lio_hotplug(vs_run_ctx *c, uint8_t target, uint16_t lun, bool remove, uint64_t bytes,
                     vs_err *e);

#endif
