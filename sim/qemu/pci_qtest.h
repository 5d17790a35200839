/* Finding a PCI function of the QEMU machine over the qtest socket: configuration
 * mechanism #1 (ports 0xcf8/0xcfc) and a scan of bus 0 (the q35 root bus, where devices
 * added with -device land). Everything after that — BARs, capabilities, MSI-X, common
 * config — goes through the PCI bus-ops interface: qtest_bus.h wraps the function found
 * here and sim/transport_pci.c drives it, exactly as it drives the in-process model. */
#ifndef VIRTIOSIM_QEMU_PCI_QTEST_H
#define VIRTIOSIM_QEMU_PCI_QTEST_H

#include <stddef.h>
#include <stdint.h>

#include "virtiosim/error.h"
#include "virtiosim/pci.h"

#include "qtest.h"

/* Where BARs go: below the IOAPIC / LAPIC / flash area at 0xFEC00000, above guest RAM. */
#define VS_PCI_MMIO_BASE 0xE0000000ull
#define VS_PCI_MMIO_END 0xFEC00000ull /* exclusive */

typedef struct vs_pci_bdf {
    uint8_t bus, dev, fn;
} vs_pci_bdf;

typedef struct vs_pci_func {
    vs_pci_bdf bdf;
    uint16_t vendor, device;
    uint16_t subsys_vendor, subsys_id;
    uint8_t class_code, subclass, prog_if, revision;
    uint8_t header_type; /* without the multi-function bit */
} vs_pci_func;

/* Functions present on bus 0 (all 8 functions of multi-function devices); *n gets the
 * total found (may exceed max; only max are stored). */
int vs_pci_scan_bus0(vs_qtest *q, vs_pci_func *out, size_t max, size_t *n, vs_err *e);
/* index-th function (0-based, scan order) with vendor/device; -VS_ERANGE if absent. */
int vs_pci_find(vs_qtest *q, uint16_t vendor, uint16_t device, unsigned index,
                vs_pci_func *out, vs_err *e);
/* Modern virtio device of the given virtio type (the virtio device id). */
int vs_pci_find_virtio(vs_qtest *q, unsigned virtio_type, unsigned index, vs_pci_func *out,
                       vs_err *e);

#endif
