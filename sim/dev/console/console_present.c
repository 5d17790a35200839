/* How virtio-console presents itself to the back-ends (sim/backend_dev.h): the reference
 * device built from the scenario's `device:` keys (host ends scripted in-process), and
 * QEMU's virtio-serial-pci (console_qemu.c). Its mutants, and the vs_sim_dev table. */
#include "sim/dev/console/console_sim_int.h"
#include "sim/sim_dev.h"
#include "virtiosim/virtio.h"

static int ref_create(vs_run_ctx *c, vs_device **out, vs_err *e)
{
    vs_console_opts o = con_opts_of(c->s)->dev;
    if (c->o->mutant)
        o.mutations = c->o->mutant->dev_mutations;
    int rc = vs_console_create(out, c->gm, &o, e);
    return rc < 0 ? vs_err_prefix(e, "reference virtio-console") : rc;
}

const struct vs_backend_present vs_console_backends = {
    .ref_create = ref_create,
    .qemu_args = con_qemu_args,
    .teardown = con_qemu_teardown,
    .skip = con_skip,
};

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})
#define SCN(f) "scenarios/console/" f

/* dev_mutations: enum vs_console_mutation (the device); drv_dev_mutations: enum
 * con_drv_mutation (the driver model's own bugs, vs_driver_opts.dev_mutations). */
static const vs_mutant mutants[] = {
    {"console-emerg-needs-features", "an emerg_wr write before FEATURES_OK makes it refuse "
     "FEATURES_OK", .dev_mutations = VS_CONSOLE_MUT_EMERG_NEEDS_FEATURES,
     .fails = LIST("console.device.console-init.1"), .checks = LIST("console-emerg-any-time"),
     .scenarios = LIST(SCN("emerg-before-features-ok.yaml"))},
    {"console-emerg-dropped", "emerg_wr bytes never reach the host output",
     .dev_mutations = VS_CONSOLE_MUT_EMERG_DROPPED,
     .fails = LIST("console.device.console-init.2"), .checks = LIST("console-emerg-output"),
     .scenarios = LIST(SCN("emerg-after-features-ok.yaml"))},
    {"console-add-twice", "announces its first port twice with DEVICE_ADD",
     .dev_mutations = VS_CONSOLE_MUT_ADD_TWICE,
     .fails = LIST("console.device.multiport.1"), .checks = LIST("console-add-new-port"),
     .scenarios = LIST(SCN("multiport-bringup.yaml"))},
    {"console-add-out-of-range", "announces a port max_nr_ports with DEVICE_ADD",
     .dev_mutations = VS_CONSOLE_MUT_ADD_OUT_OF_RANGE,
     .fails = LIST("console.device.multiport.1"), .checks = LIST("console-add-new-port"),
     .scenarios = LIST(SCN("multiport-bringup.yaml"))},
    {"console-remove-unknown", "a removal also sends DEVICE_REMOVE for a port never added",
     .dev_mutations = VS_CONSOLE_MUT_REMOVE_UNKNOWN,
     .fails = LIST("console.device.multiport.2"), .checks = LIST("console-remove-added-port"),
     .scenarios = LIST(SCN("hot-add-remove.yaml"))},
    {"console-rx-corrupt", "inverts every 1000th byte it delivers to a receive buffer",
     .dev_mutations = VS_CONSOLE_MUT_RX_CORRUPT, .fails = LIST(NULL),
     .checks = LIST("console-stream-integrity"),
     .scenarios = LIST(SCN("traffic-both-ways.yaml"))},
    {"console-tx-drops", "loses every 1000th byte it takes from a transmitq",
     .dev_mutations = VS_CONSOLE_MUT_TX_DROPS, .fails = LIST(NULL),
     .checks = LIST("console-stream-integrity"),
     .scenarios = LIST(SCN("traffic-both-ways.yaml"))},
    {"console-hostile-crash", "takes a hostile control message as a device error",
     .dev_mutations = VS_CONSOLE_MUT_HOSTILE_CRASH, .fails = LIST(NULL),
     .checks = LIST("console-hostile-survived"), .scenarios = LIST(SCN("hostile-port-id.yaml"))},
    {"console-drv-rx-readable", "the driver's receive buffers start with a readable "
     "descriptor", .drv_dev_mutations = CON_DRV_MUT_RX_READABLE,
     .fails = LIST("console.driver.console-op.1"), .checks = LIST("console-rx-writable"),
     .scenarios = LIST(SCN("single-port.yaml"))},
    {"console-drv-tx-writable", "the driver's transmit chains end with a writable "
     "descriptor", .drv_dev_mutations = CON_DRV_MUT_TX_WRITABLE,
     .fails = LIST("console.driver.console-op.2"), .checks = LIST("console-tx-readable"),
     .scenarios = LIST(SCN("single-port.yaml"))},
    {"console-drv-no-device-ready", "the driver never sends DEVICE_READY",
     .drv_dev_mutations = CON_DRV_MUT_NO_DEVICE_READY,
     .fails = LIST("console.driver.multiport.1"), .checks = LIST("console-device-ready"),
     .scenarios = LIST(SCN("multiport-bringup.yaml"))},
    {"console-drv-ignores-console-port", "the driver does not answer CONSOLE_PORT",
     .drv_dev_mutations = CON_DRV_MUT_IGNORE_CONSOLE,
     .fails = LIST("console.driver.multiport.3"), .checks = LIST("console-port-open-reply"),
     .scenarios = LIST(SCN("multiport-bringup.yaml"))},
    {"console-drv-open-zero", "the driver answers CONSOLE_PORT with PORT_OPEN value 0",
     .drv_dev_mutations = CON_DRV_MUT_OPEN_ZERO,
     .fails = LIST("console.driver.multiport.4"), .checks = LIST("console-port-open-reply"),
     .scenarios = LIST(SCN("multiport-bringup.yaml"))},
};

const struct vs_mutant_set vs_console_mutants = {mutants, sizeof mutants / sizeof mutants[0]};

const vs_sim_dev vs_sim_devs_console = {
    .name = "console",
    .device_id = VS_DEV_CONSOLE,
    .judge_driver = true,
    .driver = &vs_console_drv_personality,
    .steps = &vs_console_step_set,
    .backends = &vs_console_backends,
    .mutants = &vs_console_mutants,
};
