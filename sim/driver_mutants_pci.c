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
};

const struct vs_mutant_set vs_pci_drv_mutant_set = {
    pci_drv_mutants, sizeof pci_drv_mutants / sizeof pci_drv_mutants[0]};
