/* The virtio-pci driver's mutants about what a device may offer or present (sim/
 * transport_pci.c): NOTIFICATION_DATA and NOTIF_CONFIG_DATA notifications, capability
 * walks over unusual layouts (transport: {layout: ...}), small MSI-X tables and one INTx
 * interrupt for two causes. Each runs on a scenario where the correct driver breaks no
 * driver-role rule; sim/mutants.c lists them after the driver model's own. */
#include <stddef.h>

#include "sim/mutant_dev.h"
#include "virtiosim/transport_pci.h"

#define L(...) ((const char *const[]){__VA_ARGS__, NULL})

static const char *const *const nd_packed = L("scenarios/driver/clean-pci-notification-data.yaml");
static const char *const *const ncd = L("scenarios/driver/clean-pci-notif-config-data.yaml");
static const char *const *const nd_ncd = L("scenarios/driver/clean-pci-notif-both.yaml");
static const char *const *const msix_small = L("scenarios/driver/clean-pci-msix-2.yaml");
static const char *const *const intx_both = L("scenarios/driver/clean-pci-intx-both.yaml");
#define CAP_SCN(x) L("scenarios/driver/clean-pci-cap-" x ".yaml")

static const vs_mutant pci_drv_mutants[] = {
    {.name = "pci-drv-notify-data-16",
     .what = "pci driver: 16-bit notifications with NOTIFICATION_DATA",
     .pci_drv_mutations = VS_PCI_DRV_MUT_NOTIFY_DATA_16,
     .fails = L("pci.driver.avail-notif.2"), .checks = L("log-driver-notify-width"),
     .scenarios = nd_packed},
    {.name = "pci-drv-notify-data-index",
     .what = "pci driver: NOTIFICATION_DATA's vq_index is the queue index + 1",
     .pci_drv_mutations = VS_PCI_DRV_MUT_NOTIFY_DATA_INDEX,
     .fails = L("pci.driver.avail-notif.4"), .checks = L("log-driver-notify-value"),
     .scenarios = nd_packed},
    {.name = "pci-drv-notify-data-off",
     .what = "pci driver: NOTIFICATION_DATA's next_off one slot past the driver's position",
     .pci_drv_mutations = VS_PCI_DRV_MUT_NOTIFY_DATA_OFF,
     .fails = L("packed.driver.desc-table.3"), .checks = L("log-driver-notify-data"),
     .scenarios = nd_packed},
    {.name = "pci-drv-notify-no-config-data",
     .what = "pci driver: notifies with the queue index, not queue_notif_config_data",
     .pci_drv_mutations = VS_PCI_DRV_MUT_NOTIFY_NO_CONFIG_DATA,
     .fails = L("pci.driver.avail-notif.5"), .checks = L("log-driver-notify-value"),
     .scenarios = ncd},
    {.name = "pci-drv-notify-data-no-config-data",
     .what = "pci driver: NOTIFICATION_DATA carries the queue index, not "
             "queue_notif_config_data",
     .pci_drv_mutations = VS_PCI_DRV_MUT_NOTIFY_NO_CONFIG_DATA,
     .fails = L("pci.driver.avail-notif.6"), .checks = L("log-driver-notify-value"),
     .scenarios = nd_ncd},
    /* capability walks over unusual layouts (transport: {layout: ...}) */
    {.name = "pci-drv-cap-type-nibble",
     .what = "pci driver: reads cfg_type as 4 bits, so reserved 0x11 is common config",
     .pci_drv_mutations = VS_PCI_DRV_MUT_CAP_TYPE_NIBBLE,
     .fails = L("pci.driver.caps.1"), .checks = L("log-driver-caps"),
     .scenarios = CAP_SCN("reserved-type")},
    {.name = "pci-drv-cap-bar-mod8",
     .what = "pci driver: takes a capability's bar modulo 8, so reserved 12 is BAR4",
     .pci_drv_mutations = VS_PCI_DRV_MUT_CAP_BAR_MOD8,
     .fails = L("pci.driver.caps.4"), .checks = L("log-driver-caps"),
     .scenarios = CAP_SCN("reserved-bar")},
    {.name = "pci-drv-cap-last-wins",
     .what = "pci driver: the last capability of a type wins",
     .pci_drv_mutations = VS_PCI_DRV_MUT_CAP_LAST_WINS,
     .fails = L("pci.driver.caps.2"), .checks = L("log-driver-caps"),
     .scenarios = CAP_SCN("duplicate")},
    {.name = "pci-drv-cap-strict-len",
     .what = "pci driver: prefers a later capability whose cap_len is the defined one",
     .pci_drv_mutations = VS_PCI_DRV_MUT_CAP_STRICT_LEN,
     .fails = L("pci.driver.caps.3"), .checks = L("log-driver-caps"),
     .scenarios = CAP_SCN("long-len")},
    {.name = "pci-drv-cap-strict-length",
     .what = "pci driver: prefers a later common configuration exactly 0x40 long",
     .pci_drv_mutations = VS_PCI_DRV_MUT_CAP_STRICT_LENGTH,
     .fails = L("pci.driver.caps.6"), .checks = L("log-driver-caps"),
     .scenarios = CAP_SCN("exact-length")},
    {.name = "pci-drv-msix-no-fallback",
     .what = "pci driver: an MSI-X table too small for a vector per queue: keeps MSI-X, "
             "the queues at NO_VECTOR",
     .pci_drv_mutations = VS_PCI_DRV_MUT_MSIX_NO_FALLBACK,
     .fails = L("pci.driver.msix.1"), .checks = L("log-driver-msix-size"),
     .scenarios = msix_small},
    {.name = "pci-drv-isr-one-cause",
     .what = "pci driver: an ISR read showing a config change and used buffers: handles only "
             "the used buffers",
     .pci_drv_mutations = VS_PCI_DRV_MUT_ISR_ONE_CAUSE,
     .fails = L("pci.driver.config-notif.1"), .checks = L("log-driver-intx-both"),
     .scenarios = intx_both},
};

const struct vs_mutant_set vs_pci_drv_mutant_set = {
    pci_drv_mutants, sizeof pci_drv_mutants / sizeof pci_drv_mutants[0]};
