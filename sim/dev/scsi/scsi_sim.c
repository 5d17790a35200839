/* virtio-scsi in the simulator: the table that plugs scsi into the core (sim/sim_dev.h). */
#include "sim/sim_dev.h"

#include "sim/dev/scsi/scsi_sim_int.h"
#include "virtiosim/virtio.h"

const vs_sim_dev vs_sim_devs_scsi = {
    .name = "scsi",
    .device_id = VS_DEV_SCSI,
    .judge_driver = true,
    .driver = &vs_scsi_drv_personality,
    .steps = &vs_scsi_step_set,
    .backends = &vs_scsi_backends,
    .mutants = &vs_scsi_mutants,
};
