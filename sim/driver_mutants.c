/* The driver mutants: deliberately broken variants of the simulator's driver model, each
 * meant to make the driver-role statements of one check fail (enum vs_drv_mutation).
 * They run on scenarios where the correct driver breaks no driver-role rule at all
 * (`virtiosim mutants` runs that baseline too), so a failure is the mutant's. */
#include <stddef.h>

#include "sim/mutant_dev.h"
#include "virtiosim/driver.h"

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

static const char *const *const clean_split = L("scenarios/driver/clean-split.yaml");
static const char *const *const clean_indirect = L("scenarios/driver/clean-split-indirect.yaml");
static const char *const *const clean_both = L("scenarios/driver/clean-split.yaml",
                                               "scenarios/blk/packed-rw.yaml");

static const vs_mutant driver_mutants[] = {
    {.name = "drv-driver-before-ack", .what = "driver: DRIVER set before ACKNOWLEDGE",
     .drv_mutations = VS_DRV_MUT_DRIVER_BEFORE_ACK,
     .fails = L("generic.driver.status.1", "generic.driver.init.1"),
     .checks = L("init-order"), .scenarios = clean_both},
    {.name = "drv-status-drops-bit", .what = "driver: DRIVER_OK written without ACKNOWLEDGE",
     .drv_mutations = VS_DRV_MUT_STATUS_DROPS_BIT,
     .fails = L("generic.driver.status.2"), .checks = L("status-monotonic"),
     .scenarios = clean_both},
    {.name = "drv-no-reset-wait", .what = "driver: goes on after a reset without reading 0",
     .drv_mutations = VS_DRV_MUT_NO_RESET_WAIT,
     .fails = L("generic.driver.reset.1"), .checks = L("reset-wait-zero"),
     .scenarios = clean_both},
    {.name = "drv-failed-no-reset",
     .what = "driver: sets FAILED, then starts over without a reset",
     .drv_mutations = VS_DRV_MUT_FAILED_NO_RESET,
     .fails = L("generic.driver.status.3"), .checks = L("failed-then-reset"),
     .also = L("generic.driver.status.2"), .scenarios = clean_both},
    {.name = "drv-unoffered-feature", .what = "driver: accepts RING_RESET, which is not offered",
     .drv_mutations = VS_DRV_MUT_UNOFFERED_FEATURE,
     .fails = L("generic.driver.features.1"), .checks = L("features-subset"),
     .scenarios = clean_split},
    {.name = "drv-reserved-feature", .what = "driver: accepts feature bit 45 (reserved)",
     .drv_mutations = VS_DRV_MUT_RESERVED_FEATURE,
     .fails = L("generic.driver.features.5"), .checks = L("features-no-reserved"),
     .also = L("generic.driver.features.1"), .scenarios = clean_split},
    {.name = "drv-features-after-ok",
     .what = "driver: rewrites its features, changed, after FEATURES_OK",
     .drv_mutations = VS_DRV_MUT_FEATURES_AFTER_OK,
     .fails = L("generic.driver.init.3"), .checks = L("features-frozen"),
     .scenarios = clean_split},
    {.name = "drv-decline-version-1", .what = "driver: does not accept VERSION_1",
     .drv_mutations = VS_DRV_MUT_DECLINE_VERSION_1,
     .fails = L("generic.driver.reserved-features.1"), .checks = L("accept-version-1"),
     .scenarios = clean_split},
    {.name = "drv-kick-before-driver-ok", .what = "driver: notifies queue 0 before DRIVER_OK",
     .drv_mutations = VS_DRV_MUT_KICK_BEFORE_DRIVER_OK,
     .fails = L("generic.driver.init.6"), .checks = L("no-kick-before-driver-ok"),
     .scenarios = clean_both},
    {.name = "drv-config-write-early",
     .what = "driver: writes a config byte before FEATURES_OK",
     .drv_mutations = VS_DRV_MUT_CONFIG_WRITE_EARLY,
     .fails = L("generic.driver.init.2"), .checks = L("no-config-write-before-features-ok"),
     .scenarios = clean_split},
    {.name = "drv-config-no-generation",
     .what = "driver: reads device config without config_generation around it",
     .drv_mutations = VS_DRV_MUT_CONFIG_NO_GENERATION,
     .fails = L("generic.driver.config-space.2"), .checks = L("config-generation-bracket"),
     .scenarios = clean_split},
    {.name = "drv-used-flags-dirty", .what = "driver: split used.flags not 0 at queue setup",
     .drv_mutations = VS_DRV_MUT_USED_FLAGS_DIRTY,
     .fails = L("split.driver.avail-notif-suppression.1"), .checks = L("used-flags-zeroed"),
     /* the device never writes used.flags with EVENT_IDX, so the garbage stays and the
        device-side flags check sees it too */
     .also = L("split.device.avail-notif-suppression.2"), .scenarios = clean_split},
    {.name = "drv-avail-flags-reserved", .what = "driver: sets an undefined avail.flags bit",
     .drv_mutations = VS_DRV_MUT_AVAIL_FLAGS_RESERVED,
     /* with EVENT_IDX negotiated avail.flags must be 0 */
     .fails = L("split.driver.used-notif-suppression.2"), .checks = L("avail-flags-valid"),
     .scenarios = clean_split},
    {.name = "drv-no-kick", .what = "driver: never notifies the device",
     .drv_mutations = VS_DRV_MUT_NO_KICK,
     /* with EVENT_IDX: the avail_event rule and "used.flags must be disregarded" */
     .fails = L("split.driver.avail-notif-suppression.5",
                "split.driver.avail-notif-suppression.6"),
     .checks = L("kick-when-needed"), .scenarios = clean_split},
    {.name = "drv-kick-always", .what = "driver: notifies although the device suppressed it",
     .drv_mutations = VS_DRV_MUT_KICK_ALWAYS,
     .fails = L("split.driver.avail-notif-suppression.7"), .checks = L("kick-only-when-needed"),
     /* only a device that lets avail_event lag gives a notification to suppress */
     .scenarios = L("scenarios/driver/clean-split-iothread.yaml")},
    {.name = "drv-writable-first", .what = "driver: writable descriptors before readable ones",
     .drv_mutations = VS_DRV_MUT_WRITABLE_FIRST,
     .fails = L("split.driver.message-framing.1"), .checks = L("chain-shape"),
     .scenarios = clean_split},
    {.name = "drv-indirect-next", .what = "driver: NEXT beside INDIRECT on one descriptor",
     .drv_mutations = VS_DRV_MUT_INDIRECT_NEXT,
     .fails = L("split.driver.indirect.4"), .checks = L("chain-shape"),
     /* NEXT sends the walk on into descriptor 0 and round again: what the device is then
        shown is a loop, longer than the queue, its writable entries before readable ones */
     .also = L("split.driver.desc-table.1", "split.driver.indirect.3",
               "split.driver.message-framing.1"),
     .scenarios = clean_indirect},
    {.name = "drv-nested-indirect", .what = "driver: INDIRECT on an entry of an indirect table",
     .drv_mutations = VS_DRV_MUT_NESTED_INDIRECT,
     .fails = L("split.driver.indirect.2"), .checks = L("chain-shape"),
     .scenarios = clean_indirect},
    {.name = "drv-indirect-unnegotiated",
     .what = "driver: indirect tables without INDIRECT_DESC negotiated",
     .drv_mutations = VS_DRV_MUT_INDIRECT_UNNEGOTIATED,
     .fails = L("split.driver.indirect.1"), .checks = L("chain-shape"),
     .scenarios = clean_indirect},
};

const struct vs_mutant_set vs_driver_mutant_set = {
    driver_mutants, sizeof driver_mutants / sizeof driver_mutants[0]};
