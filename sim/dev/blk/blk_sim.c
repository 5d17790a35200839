/* virtio-blk in the simulator: the table that plugs blk into the core (sim/sim_dev.h). */
#include "sim/sim_dev.h"

#include "sim/dev/blk/blk_sim_int.h"
#include "sim/dev/blk/blk_drv_int.h"
#include "virtiosim/virtio.h"

const vs_sim_dev vs_sim_devs_blk = {
    .name = "blk",
    .device_id = VS_DEV_BLK,
    .default_kind = true,
    .steps = &vs_blk_step_set,
    .backends = &vs_blk_backends,
    .mutants = &vs_blk_mutants,
    .driver = &vs_blk_drv_personality,
    .campaign = &vs_blk_campaign,
    .profile = &vs_blk_profile,
};
