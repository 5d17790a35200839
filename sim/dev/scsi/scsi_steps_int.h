/* virtio-scsi's steps, shared by their schemas (scsi_steps.c) and how they run
 * (scsi_run_steps.c, scsi_run_events.c). Private to sim/dev/scsi/. */
#ifndef VS_SCSI_STEPS_INT_H
#define VS_SCSI_STEPS_INT_H

#include "sim/dev/scsi/scsi_sim_int.h"

typedef struct scsi_named_cdb {
    const char *name;
    uint8_t opcode;
} scsi_named_cdb;
extern const scsi_named_cdb scsi_named_cdbs[];
const char *scsi_response_word(uint8_t r);

extern const vs_step_type scsi_step_command, scsi_step_scan, scsi_step_tmf, scsi_step_an,
    scsi_step_hold, scsi_step_release, scsi_step_hotplug, scsi_step_capacity_change,
    scsi_step_eventq, scsi_step_workload, scsi_step_config_write;

int scsi_run_command(vs_run_ctx *c, const vs_step *t);
int scsi_run_scan(vs_run_ctx *c, const vs_step *t);
int scsi_run_tmf(vs_run_ctx *c, const vs_step *t);
int scsi_run_an(vs_run_ctx *c, const vs_step *t);
int scsi_run_hold(vs_run_ctx *c, const vs_step *t);
int scsi_run_release(vs_run_ctx *c, const vs_step *t);
int scsi_run_hotplug(vs_run_ctx *c, const vs_step *t);
int scsi_run_capacity_change(vs_run_ctx *c, const vs_step *t);
int scsi_run_eventq(vs_run_ctx *c, const vs_step *t);
int scsi_run_workload(vs_run_ctx *c, const vs_step *t);
int scsi_run_config_write(vs_run_ctx *c, const vs_step *t);

/* scsi's part of the core's steps */
int scsi_expect_config(vs_loader *L, const yaml_node_t *v, void *ctx);
int scsi_expect_config_run(vs_run_ctx *c, const vs_step *t);
void scsi_after_init(vs_run_ctx *c);
int scsi_submit_filler(vs_run_ctx *c, uint16_t queue, uint32_t i, vs_err *e);
bool scsi_fault_completed(vs_run_ctx *c);

/* scsi_run_steps.c, for the event steps: the step's command built from its keys; the
 * LUN's 8 bytes */
int scsi_build_cmd(vs_run_ctx *c, const scsi_step *p, scsi_cmd *cmd, vs_err *e);
void scsi_step_lun(const scsi_step *p, uint8_t lun[8]);
/* Rescans when an event asked for it (Linux: the event worker's scsi_scan_target). */
int scsi_rescan_if_due(vs_run_ctx *c, vs_err *e);

#endif
