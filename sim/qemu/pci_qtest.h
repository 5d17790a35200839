/* PCI through the qtest socket: config mechanism #1 (ports 0xcf8/0xcfc), bus-0 scan,
 * BAR sizing/assignment, command register, virtio-pci capabilities and MSI-X.
 *
 * Only bus 0 is scanned (q35 root bus: devices added with -device without bus= land
 * there).  BARs are placed from a caller-chosen MMIO window (default
 * VS_PCI_MMIO_BASE..VS_PCI_MMIO_END, below the IOAPIC/LAPIC/flash area) and an I/O port
 * window (VS_PCI_IO_BASE..), each naturally aligned to its size. */
#ifndef VIRTIOSIM_QEMU_PCI_QTEST_H
#define VIRTIOSIM_QEMU_PCI_QTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <virtiosim/error.h>

#include "qtest.h"

#define VS_PCI_MMIO_BASE 0xE0000000ull
#define VS_PCI_MMIO_END 0xFEC00000ull /* exclusive; IOAPIC at 0xFEC00000 */
#define VS_PCI_IO_BASE 0xC000u
#define VS_PCI_IO_END 0x10000u

#define VS_PCI_VENDOR_VIRTIO 0x1AF4u
#define VS_PCI_DEVICE_VIRTIO_MODERN(type) (0x1040u + (type))
#define VS_VIRTIO_TYPE_BLK 2u
#define VS_VIRTIO_TYPE_CONSOLE 3u
#define VS_VIRTIO_TYPE_SCSI 8u

/* config space registers */
#define VS_PCI_VENDOR_ID 0x00
#define VS_PCI_DEVICE_ID 0x02
#define VS_PCI_COMMAND 0x04
#define VS_PCI_STATUS 0x06
#define VS_PCI_CLASS_REV 0x08
#define VS_PCI_HEADER_TYPE 0x0E
#define VS_PCI_BAR0 0x10
#define VS_PCI_SUBSYS_VENDOR 0x2C
#define VS_PCI_SUBSYS_ID 0x2E
#define VS_PCI_CAP_PTR 0x34
#define VS_PCI_CMD_IO 0x1u
#define VS_PCI_CMD_MEM 0x2u
#define VS_PCI_CMD_MASTER 0x4u
#define VS_PCI_CMD_INTX_DISABLE 0x400u
#define VS_PCI_STATUS_CAP_LIST 0x10u
#define VS_PCI_CAP_ID_MSIX 0x11u
#define VS_PCI_CAP_ID_VNDR 0x09u

/* virtio_pci_cap cfg_type */
#define VS_VIRTIO_PCI_CAP_COMMON 1u
#define VS_VIRTIO_PCI_CAP_NOTIFY 2u
#define VS_VIRTIO_PCI_CAP_ISR 3u
#define VS_VIRTIO_PCI_CAP_DEVICE 4u
#define VS_VIRTIO_PCI_CAP_PCI_CFG 5u

/* virtio common config offsets (virtio 1.x, 4.1.4.3) */
#define VS_VIRTIO_COMMON_DFSELECT 0x00
#define VS_VIRTIO_COMMON_DF 0x04
#define VS_VIRTIO_COMMON_GFSELECT 0x08
#define VS_VIRTIO_COMMON_GF 0x0C
#define VS_VIRTIO_COMMON_MSIX 0x10
#define VS_VIRTIO_COMMON_NUMQ 0x12
#define VS_VIRTIO_COMMON_STATUS 0x14
#define VS_VIRTIO_COMMON_CFGGENERATION 0x15
#define VS_VIRTIO_COMMON_Q_SELECT 0x16
#define VS_VIRTIO_COMMON_Q_SIZE 0x18
#define VS_VIRTIO_COMMON_Q_MSIX 0x1A
#define VS_VIRTIO_COMMON_Q_ENABLE 0x1C
#define VS_VIRTIO_COMMON_Q_NOFF 0x1E
#define VS_VIRTIO_COMMON_Q_DESCLO 0x20
#define VS_VIRTIO_COMMON_Q_DESCHI 0x24
#define VS_VIRTIO_COMMON_Q_AVAILLO 0x28
#define VS_VIRTIO_COMMON_Q_AVAILHI 0x2C
#define VS_VIRTIO_COMMON_Q_USEDLO 0x30
#define VS_VIRTIO_COMMON_Q_USEDHI 0x34

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

typedef struct vs_pci_bar {
    bool present;
    bool io;
    bool is64;       /* 64-bit memory BAR (occupies this and the next slot) */
    bool prefetch;
    uint64_t size;
    uint64_t addr;   /* assigned address (GPA / port), 0 if unassigned */
} vs_pci_bar;

typedef struct vs_pci_alloc {
    uint64_t mmio_next, mmio_end;
    uint32_t io_next, io_end;
} vs_pci_alloc;

/* ---- config space ---- */
int vs_pci_cfg_read8(vs_qtest *q, vs_pci_bdf d, uint8_t off, uint8_t *v, vs_err *e);
int vs_pci_cfg_read16(vs_qtest *q, vs_pci_bdf d, uint8_t off, uint16_t *v, vs_err *e);
int vs_pci_cfg_read32(vs_qtest *q, vs_pci_bdf d, uint8_t off, uint32_t *v, vs_err *e);
int vs_pci_cfg_write8(vs_qtest *q, vs_pci_bdf d, uint8_t off, uint8_t v, vs_err *e);
int vs_pci_cfg_write16(vs_qtest *q, vs_pci_bdf d, uint8_t off, uint16_t v, vs_err *e);
int vs_pci_cfg_write32(vs_qtest *q, vs_pci_bdf d, uint8_t off, uint32_t v, vs_err *e);

/* ---- enumeration ---- */
/* Functions present on bus 0 (all 8 functions of multi-function devices); *n gets the
 * total found (may exceed max; only max are stored). */
int vs_pci_scan_bus0(vs_qtest *q, vs_pci_func *out, size_t max, size_t *n, vs_err *e);
/* index-th function (0-based, scan order) with vendor/device; -VS_ERANGE if absent. */
int vs_pci_find(vs_qtest *q, uint16_t vendor, uint16_t device, unsigned index,
                vs_pci_func *out, vs_err *e);
/* Modern virtio device of the given virtio type (VS_VIRTIO_TYPE_*). */
int vs_pci_find_virtio(vs_qtest *q, unsigned virtio_type, unsigned index, vs_pci_func *out,
                       vs_err *e);

/* ---- BARs and command register ---- */
void vs_pci_alloc_init(vs_pci_alloc *a, uint64_t mmio_base, uint64_t mmio_end,
                       uint32_t io_base, uint32_t io_end);
void vs_pci_alloc_default(vs_pci_alloc *a);
/* Sizes all six BARs (with decoding disabled), assigns each present BAR from a, and
 * writes the addresses.  Leaves the command register's IO/MEM bits off. */
int vs_pci_assign_bars(vs_qtest *q, vs_pci_alloc *a, vs_pci_bdf d, vs_pci_bar bars[6],
                       vs_err *e);
/* Sets the command register bits given in set, clears those in clear. */
int vs_pci_command(vs_qtest *q, vs_pci_bdf d, uint16_t set, uint16_t clear, vs_err *e);

/* ---- capabilities ---- */
typedef struct vs_pci_region {
    bool present;
    uint8_t bar;
    uint32_t offset, length;
    uint64_t gpa;       /* bars[bar].addr + offset (0 if BAR unassigned) */
} vs_pci_region;

typedef struct vs_pci_msix {
    bool present;
    uint8_t cap;        /* config-space offset of the capability */
    uint16_t table_size;
    uint8_t table_bar, pba_bar;
    uint32_t table_off, pba_off;
    uint64_t table_gpa, pba_gpa;
} vs_pci_msix;

typedef struct vs_virtio_pci_caps {
    vs_pci_region common, notify, isr, device;
    uint32_t notify_off_multiplier;
    uint8_t pci_cfg_cap;        /* config offset of the VIRTIO_PCI_CAP_PCI_CFG cap, 0 if none */
    vs_pci_msix msix;
} vs_virtio_pci_caps;

/* Offset of the first capability with the given id at or after `after` (0 = from the
 * start of the list); 0 if none.  Walk is bounded against loops. */
int vs_pci_find_cap(vs_qtest *q, vs_pci_bdf d, uint8_t cap_id, uint8_t after, uint8_t *off,
                    vs_err *e);
/* Walks the list: virtio vendor caps (first of each cfg_type, as the spec asks drivers
 * to use) and MSI-X; resolves GPAs from bars. */
int vs_pci_virtio_caps(vs_qtest *q, vs_pci_bdf d, const vs_pci_bar bars[6],
                       vs_virtio_pci_caps *out, vs_err *e);
int vs_pci_msix_read(vs_qtest *q, vs_pci_bdf d, const vs_pci_bar bars[6], vs_pci_msix *out,
                     vs_err *e);
/* MSI-X Enable on/off; Function Mask cleared when enabling. */
int vs_pci_msix_enable(vs_qtest *q, vs_pci_bdf d, const vs_pci_msix *m, bool enable,
                       vs_err *e);
/* Programs table entry: message address / data, vector control mask bit. */
int vs_pci_msix_set_entry(vs_qtest *q, const vs_pci_msix *m, uint16_t entry, uint64_t addr,
                          uint32_t data, bool masked, vs_err *e);
int vs_pci_msix_mask(vs_qtest *q, const vs_pci_msix *m, uint16_t entry, bool masked,
                     vs_err *e);
/* Pending bit of entry from the PBA. */
int vs_pci_msix_pending(vs_qtest *q, const vs_pci_msix *m, uint16_t entry, bool *pending,
                        vs_err *e);

/* ---- all of the above for one virtio device ---- */
typedef struct vs_pci_virtio_dev {
    vs_pci_func func;
    vs_pci_bar bars[6];
    vs_virtio_pci_caps caps;
} vs_pci_virtio_dev;

/* Finds the index-th modern virtio device of the type, assigns BARs from a, walks the
 * caps (common/notify/isr/device must exist), enables MEM + bus master (and IO if an IO
 * BAR exists).  MSI-X is left disabled. */
int vs_pci_virtio_setup(vs_qtest *q, vs_pci_alloc *a, unsigned virtio_type, unsigned index,
                        vs_pci_virtio_dev *out, vs_err *e);
/* GPA of the notify address of a queue: notify.gpa + queue_notify_off * multiplier. */
uint64_t vs_pci_virtio_notify_addr(const vs_pci_virtio_dev *d, uint16_t queue_notify_off);

#endif
