/* The virtio-scsi monitor extension: its checks (what each verifies, the catalogue
 * statements it covers; the monitors refer to a statement by its position in `ids`) and
 * its hook table, vs_mon_devs_scsi, found by the generated registry vs_mon_devs[]. */
#include "conformance/dev/scsi/scsi_mon_int.h"

#define IDS(...) (const char *const[]){__VA_ARGS__, NULL}
#define NOIDS (const char *const[]){NULL}
#define DEV VS_ROLE_DEVICE
#define DRV VS_ROLE_DRIVER

static const vs_check_info scsi_checks[CK_SCSI_END - CK_DEV_FIRST] = {
    [CK_SCSI_RESET_SIZES - CK_DEV_FIRST] = {"scsi-reset-sizes", DEV, "scsi",
        "after a reset, sense_size reads 96 and cdb_size 32 until the driver writes them",
        IDS("scsi.device.config-layout.1")},
    [CK_SCSI_EVENTQ_POSTED - CK_DEV_FIRST] = {"scsi-eventq-posted", DEV, "scsi",
        "the driver has made an eventq buffer available before its first command after "
        "DRIVER_OK", IDS("scsi.device.scsi-init.2")},
    [CK_SCSI_STATUS_SAM - CK_DEV_FIRST] = {"scsi-status-sam", DEV, "scsi",
        "a command completed with response OK carries a SAM status code",
        IDS("scsi.device.request-queues.1")},
    [CK_SCSI_RESPONSE - CK_DEV_FIRST] = {"scsi-response-code", DEV, "scsi",
        "the response byte is a code the spec defines for its queue, FAILURE for data-out "
        "and data-in without INOUT, BAD_TARGET (not LUN NOT SUPPORTED) for REPORT LUNS or "
        "INQUIRY to LUN 0 of a target that does not exist",
        IDS("scsi.device.request-queues.2")},
    [CK_SCSI_EVENTS_MISSED - CK_DEV_FIRST] = {"scsi-events-missed", DEV, "scsi",
        "an event due while the eventq had no buffer is followed by an event with "
        "EVENTS_MISSED set", IDS("scsi.device.eventq.1")},
    [CK_SCSI_HOTPLUG_EVENTS - CK_DEV_FIRST] = {"scsi-hotplug-events", DEV, "scsi",
        "without HOTPLUG negotiated, no TRANSPORT_RESET event with reason RESCAN or REMOVED",
        IDS("scsi.device.eventq.2")},
    [CK_SCSI_MMC_PARAM - CK_DEV_FIRST] = {"scsi-mmc-param-change", DEV, "scsi",
        "no PARAM_CHANGE event for a logical unit whose INQUIRY says MMC (type 05h)",
        IDS("scsi.device.eventq.3")},
    [CK_SCSI_RESIDUAL - CK_DEV_FIRST] = {"scsi-residual", DEV, "scsi",
        "residual is at most the data-out plus data-in bytes, and 0 for a READ or WRITE "
        "with GOOD status whose buffer holds exactly its blocks (no catalogue row: the spec "
        "defines residual descriptively)", NOIDS},
    [CK_SCSI_SENSE_LEN - CK_DEV_FIRST] = {"scsi-sense-len", DEV, "scsi",
        "sense_len (bytes written to the sense field) is at most sense_size (no catalogue "
        "row)", NOIDS},
    [CK_SCSI_USED_LEN - CK_DEV_FIRST] = {"scsi-used-len", DEV, "scsi",
        "a command's used length covers the 12-byte response header, and with response OK "
        "the data-in bytes it says it moved (data-in - residual) (no catalogue row)", NOIDS},
    [CK_SCSI_TMF_ORDER - CK_DEV_FIRST] = {"scsi-tmf-order", DEV, "scsi",
        "when ABORT TASK, ABORT TASK SET, CLEAR TASK SET, LOGICAL UNIT RESET or I_T NEXUS "
        "RESET completes, the commands it ends are already in their used rings (split; no "
        "catalogue row: spec 5.6.6.2 says so in the controlq's description)", NOIDS},
    [CK_SCSI_D_CFG_WRITE - CK_DEV_FIRST] = {"scsi-driver-config-writes", DRV, "scsi",
        "the driver writes no config field but sense_size and cdb_size",
        IDS("scsi.driver.config-layout.1")},
    [CK_SCSI_D_PER_LUN - CK_DEV_FIRST] = {"scsi-cmd-per-lun", DRV, "scsi",
        "commands outstanding per LUN never exceed cmd_per_lun",
        IDS("scsi.driver.config-layout.2")},
    [CK_SCSI_D_PER_LUN_QS - CK_DEV_FIRST] = {"scsi-lun-queue-size", DRV, "scsi",
        "commands outstanding per LUN never exceed the size of the queue they go to",
        IDS("scsi.driver.config-layout.3")},
    [CK_SCSI_D_TASK_ATTR - CK_DEV_FIRST] = {"scsi-task-attr-zero", DRV, "scsi",
        "every command header has task_attr, prio and crn 0",
        IDS("scsi.driver.request-queues.1")},
    [CK_SCSI_D_REFILL - CK_DEV_FIRST] = {"scsi-eventq-refill", DRV, "scsi",
        "the driver replaces the eventq buffers the device used: no request while the "
        "eventq is empty, none left unreplaced at the end while the driver went on",
        IDS("scsi.driver.eventq.1")},
    [CK_SCSI_D_EV_WRITABLE - CK_DEV_FIRST] = {"scsi-event-buffer-writable", DRV, "scsi",
        "eventq buffers have no device-readable part", IDS("scsi.driver.eventq.2")},
    [CK_SCSI_D_EV_INFO - CK_DEV_FIRST] = {"scsi-event-buffer-info-size", DRV, "scsi",
        "eventq buffers are at least event_info_size bytes", IDS("scsi.driver.eventq.3")},
    [CK_SCSI_D_EV_16 - CK_DEV_FIRST] = {"scsi-event-buffer-16", DRV, "scsi",
        "eventq buffers hold a struct virtio_scsi_event (16 bytes)",
        IDS("scsi.driver.eventq.4")},
    [CK_SCSI_D_LOST_RESCAN - CK_DEV_FIRST] = {"scsi-lost-events-rescan", DRV, "scsi",
        "after an event with EVENTS_MISSED, the driver's next command is REPORT LUNS, "
        "INQUIRY or TEST UNIT READY", IDS("scsi.driver.eventq.5")},
    [CK_SCSI_D_HP_RESCAN - CK_DEV_FIRST] = {"scsi-hotplug-rescan", DRV, "scsi",
        "after TRANSPORT_RESET rescan or removed for LUN 0 (HOTPLUG), the driver's next "
        "command to that target is REPORT LUNS or INQUIRY", IDS("scsi.driver.eventq.7")},
};

const vs_mon_dev vs_mon_devs_scsi = {
    .name = "scsi",
    .device_id = VS_DEV_SCSI,
    .checks = scsi_checks,
    .n_checks = CK_SCSI_END - CK_DEV_FIRST,
    .chain_bytes = (sizeof(scsi_chain) + 7) / 8 * 8,
    .create = scsi_mon_create,
    .destroy = scsi_mon_destroy,
    .reset = scsi_mon_reset,
    .config_access = scsi_mon_config,
    .chain_avail = scsi_mon_avail,
    .chain_used = scsi_mon_used,
    .chain_retire = scsi_mon_retire,
    .event = scsi_mon_note,
    .finish = scsi_mon_finish,
};
