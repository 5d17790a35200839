/* virtio-scsi's mutants: deliberately broken reference scsi devices (vs_mutant.dev_mutations:
 * enum vs_scsi_mutation) and deliberately broken scsi drivers (vs_mutant.drv_dev_mutations:
 * enum scsi_drv_mutation, which the runner hands the driver as vs_driver_opts.dev_mutations;
 * their runs judge both roles), each meant to make exactly the named statements and checks
 * fail on the named scenarios. */
#include <stddef.h>

#include "sim/dev/scsi/scsi_sim_int.h"

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})
#define SCN(f) "scenarios/scsi/" f ".yaml"

static const vs_mutant mutants[] = {
    /* the device */
    {"scsi-reset-keeps-sizes", "a reset leaves sense_size and cdb_size as the driver wrote "
     "them", 0, VS_SCSI_MUT_RESET_KEEPS_SIZES, 0, LIST("scsi.device.config-layout.1"),
     LIST("scsi-reset-sizes"), LIST(SCN("reset-sizes"))},
    {"scsi-status-not-sam", "reports GOOD as status 01h", 0, VS_SCSI_MUT_STATUS_NOT_SAM, 0,
     LIST("scsi.device.request-queues.1"), LIST("scsi-status-sam"), LIST(SCN("rw-basic"))},
    {"scsi-bad-target-ok", "answers a missing target with OK, CHECK CONDITION, LOGICAL UNIT "
     "NOT SUPPORTED", 0, VS_SCSI_MUT_BAD_TARGET_OK, 0, LIST("scsi.device.request-queues.2"),
     LIST("scsi-response-code"), LIST(SCN("bad-target"))},
    {"scsi-inout-accepted", "executes data-out + data-in commands without INOUT", 0,
     VS_SCSI_MUT_INOUT_ACCEPTED, 0, LIST("scsi.device.request-queues.2"),
     LIST("scsi-response-code"), LIST(SCN("inout-not-negotiated"))},
    {"scsi-no-events-missed", "drops events on an empty eventq without EVENTS_MISSED", 0,
     VS_SCSI_MUT_NO_EVENTS_MISSED, 0, LIST("scsi.device.eventq.1"),
     LIST("scsi-events-missed"), LIST(SCN("events-missed"))},
    {"scsi-hotplug-unnegotiated", "sends rescan / removed events without HOTPLUG", 0,
     VS_SCSI_MUT_HOTPLUG_UNNEGOTIATED, 0, LIST("scsi.device.eventq.2"),
     LIST("scsi-hotplug-events"), LIST(SCN("hotplug-not-negotiated"))},
    {"scsi-param-change-mmc", "sends PARAM_CHANGE for an MMC unit", 0,
     VS_SCSI_MUT_PARAM_CHANGE_MMC, 0, LIST("scsi.device.eventq.3"),
     LIST("scsi-mmc-param-change"), LIST(SCN("mmc-capacity-change"))},
    {"scsi-residual-wrong", "reports a residual one more than it is", 0,
     VS_SCSI_MUT_RESIDUAL_WRONG, 0, LIST(NULL), LIST("scsi-residual"), LIST(SCN("rw-basic"))},
    {"scsi-sense-len-full", "sense_len says the whole sense when sense_size cut it", 0,
     VS_SCSI_MUT_SENSE_LEN_FULL, 0, LIST(NULL), LIST("scsi-sense-len"),
     LIST(SCN("sense-size"))},
    {"scsi-used-len-short", "used length leaves out the data-in bytes", 0,
     VS_SCSI_MUT_USED_LEN_SHORT, 0, LIST(NULL), LIST("scsi-used-len"), LIST(SCN("rw-basic"))},
    {"scsi-lun-reset-keeps", "LOGICAL UNIT RESET leaves the unit's commands pending", 0,
     VS_SCSI_MUT_LUN_RESET_KEEPS, 0, LIST(NULL), LIST("scsi-tmf-order"),
     LIST(SCN("lun-reset"))},
    /* the driver (drv_dev_mutations: enum scsi_drv_mutation) */
#define DM(name, what, bit, stmts, checks, scns) \
    {name, what, 0, 0, 0, stmts, checks, scns, .drv_dev_mutations = bit}
    DM("scsi-drv-task-attr", "driver: commands with task_attr ORDERED, prio 1, crn 1",
       SCSI_DMUT_TASK_ATTR, LIST("scsi.driver.request-queues.1"), LIST("scsi-task-attr-zero"),
       LIST(SCN("rw-basic"))),
    DM("scsi-drv-no-eventq", "driver: never posts an eventq buffer", SCSI_DMUT_NO_EVENTQ,
       LIST("scsi.device.scsi-init.2"), LIST("scsi-eventq-posted"), LIST(SCN("rw-basic"))),
    DM("scsi-drv-event-readable", "driver: eventq buffers are device-readable",
       SCSI_DMUT_EVENT_READABLE, LIST("scsi.driver.eventq.2"),
       LIST("scsi-event-buffer-writable"), LIST(SCN("rw-basic"))),
    DM("scsi-drv-event-short", "driver: 8-byte eventq buffers", SCSI_DMUT_EVENT_SHORT,
       LIST("scsi.driver.eventq.3", "scsi.driver.eventq.4"),
       LIST("scsi-event-buffer-info-size", "scsi-event-buffer-16"), LIST(SCN("rw-basic"))),
    DM("scsi-drv-event-below-info", "driver: eventq buffers one byte below event_info_size",
       SCSI_DMUT_EVENT_BELOW_INFO, LIST("scsi.driver.eventq.3"),
       LIST("scsi-event-buffer-info-size"), LIST(SCN("event-info-size"))),
    DM("scsi-drv-no-refill", "driver: used eventq buffers are not replaced", SCSI_DMUT_NO_REFILL,
       LIST("scsi.driver.eventq.1"), LIST("scsi-eventq-refill"), LIST(SCN("hotplug"))),
    DM("scsi-drv-cmd-per-lun", "driver: ignores cmd_per_lun", SCSI_DMUT_IGNORE_CMD_PER_LUN,
       LIST("scsi.driver.config-layout.2"), LIST("scsi-cmd-per-lun"), LIST(SCN("cmd-per-lun"))),
    DM("scsi-drv-queue-size", "driver: keeps cmd_per_lun commands per LUN even above the "
       "queue size", SCSI_DMUT_IGNORE_QUEUE_SIZE, LIST("scsi.driver.config-layout.3"),
       LIST("scsi-lun-queue-size"), LIST(SCN("lun-queue-size"))),
    DM("scsi-drv-writes-config", "driver: writes max_sectors at bring-up",
       SCSI_DMUT_WRITES_CONFIG, LIST("scsi.driver.config-layout.1"),
       LIST("scsi-driver-config-writes"), LIST(SCN("rw-basic"))),
    DM("scsi-drv-no-rescan", "driver: no scan after a rescan event or lost events",
       SCSI_DMUT_NO_RESCAN, LIST("scsi.driver.eventq.5", "scsi.driver.eventq.7"),
       LIST("scsi-lost-events-rescan", "scsi-hotplug-rescan"),
       LIST(SCN("events-missed"), SCN("hotplug"))),
#undef DM
};

const struct vs_mutant_set vs_scsi_mutants = {mutants, sizeof mutants / sizeof mutants[0]};
