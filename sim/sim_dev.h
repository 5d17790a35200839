/* The simulator's hook table for one device type (private to virtiosim; layer 4).
 *
 * A device plugs into the simulator with one `const vs_sim_dev vs_sim_devs_<name>`,
 * defined in sim/dev/<name>/; the build generates the registry `vs_sim_devs[]` from the
 * folders (tools/gen_registry.py), so no core file names a device. The table gathers the
 * sub-tables of each part of the simulator:
 *
 *   driver    the driver personality (sim/driver_dev.h): default features, early config
 *             reads, completion and abort of its requests
 *   steps     the scenario steps the device adds, and its `device:` keys (sim/step_dev.h)
 *   backends  how each real back-end presents the device (QEMU -device/-blockdev, the
 *             vhost-user device type and config length, qemu-storage-daemon's export)
 *   mutants   its deliberately broken variants (sim/mutants.c lists them for `virtiosim mutants`)
 *   campaign  its request-abuse classes for `virtiosim campaign` (sim/campaign.h)
 *
 * sim/dev/README.md ("Adding a device") walks every hook with blk as the worked example. */
#ifndef VS_SIM_DEV_H
#define VS_SIM_DEV_H

#include <stdbool.h>
#include <stdint.h>

struct vs_drv_personality;
struct vs_step_set;
struct vs_backend_present;
struct vs_mutant_set;
struct vs_camp_set;
struct vs_profile_dev;

typedef struct vs_sim_dev {
    const char *name;            /* "blk": the scenario's `device: kind`, serve --device */
    uint32_t device_id;          /* virtio device id (enum vs_device_id) */
    /* The device of scenarios that name none (`device: kind` absent): at most one table
     * sets it (blk, whose scenarios predate the choice). */
    bool default_kind;
    /* Its scenarios judge the simulator's own driver too (monitors in both roles): the
     * device's driver statements are about the driver model, not the back-end. */
    bool judge_driver;
    const struct vs_drv_personality *driver;
    const struct vs_step_set *steps;
    const struct vs_backend_present *backends;
    const struct vs_mutant_set *mutants;
    /* Its hostile-input classes beyond the core's (sim/campaign.h), NULL: none. */
    const struct vs_camp_set *campaign;
    /* Its device profile, preconditions and probe (sim/profile_dev.h), NULL: none. */
    const struct vs_profile_dev *profile;
} vs_sim_dev;

/* The generated registry: every device folder's table, NULL-terminated, by name. */
extern const vs_sim_dev *const vs_sim_devs[];

const vs_sim_dev *vs_sim_dev_by_name(const char *name);  /* NULL: unknown */
const vs_sim_dev *vs_sim_dev_by_id(uint32_t device_id);  /* NULL: unknown */

#endif
