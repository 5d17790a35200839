/* vs_pci_bus_ops (virtiosim/pci.h) over the qtest socket for ONE PCI function: config
 * space through mechanism #1 (outl 0xcf8 + in/out 0xcfc..0xcff), memory space through
 * readX/writeX. This is what lets sim/transport_pci.c — the one virtio-pci driver —
 * drive QEMU exactly as it drives the in-process model.
 *
 * Writes (config and memory) are pipelined: queued and sent without waiting for QEMU's
 * OK (vs_qtest_post), unless sync_writes is set; QEMU executes commands in order, so a
 * later read sees every earlier write. With defer_writes they are not even sent: they go
 * out in one batch with the next read, or when the owner pushes them (vs_qtest_post)
 * before it waits for QEMU — each sent batch wakes QEMU once, so a device bring-up of
 * twenty writes and ten reads costs ten wake-ups instead of thirty. A FAIL or a dead QEMU behind a posted write is
 * reported by the next access. Reads are one round trip each (config reads send the
 * 0xcf8 write and the read in one batch). Config offsets 256..4095 read as 0 and ignore
 * writes (mechanism #1 reaches only the first 256 bytes; the firmware sets up no ECAM). */
#ifndef VIRTIOSIM_QEMU_QTEST_BUS_H
#define VIRTIOSIM_QEMU_QTEST_BUS_H

#include <stdbool.h>

#include "virtiosim/pci.h"
#include "pci_qtest.h"
#include "qtest.h"

typedef struct vs_qtest_bus {
    vs_qtest *qt;
    vs_pci_bdf bdf;
    bool sync_writes;      /* wait for QEMU's OK on every write */
    bool defer_writes;     /* queue writes until the next read or the owner's post */
    uint64_t push_lo, push_hi; /* ... but send at once a write into [lo, hi) (the notify
                                  region: a kick, with whatever is queued before it) */
} vs_qtest_bus;

/* Fills b and returns the bus handle (valid while b and qt live). */
vs_pci_bus vs_qtest_bus_init(vs_qtest_bus *b, vs_qtest *qt, vs_pci_bdf bdf, bool sync_writes);

extern const vs_pci_bus_ops vs_qtest_bus_ops;

#endif
