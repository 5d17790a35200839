/* MSI-X interrupts from QEMU as eventfds, without KVM and without polling guest RAM.
 *
 * KVM delivers a device's MSI through an irqfd; under TCG nothing signals a process when
 * QEMU writes an MSI message into guest RAM, so the only way to see it is to poll. This
 * bridge borrows QEMU's ivshmem-doorbell device: virtiosim plays the ivshmem server on a
 * socketpair, announces one peer (ID 1) whose vector v is eventfd v, and the virtio
 * device's MSI-X table entry v is programmed with the doorbell register of ivshmem's
 * BAR0 as address and (1 << 16 | v) as data. A virtio interrupt is then a DMA write to
 * that register, which QEMU turns into a write to eventfd v — the same wake-up KVM's
 * irqfd gives, so virtiosim can block in poll() instead of spinning.
 *
 * The ivshmem protocol (QEMU docs/specs/ivshmem-spec.rst): 8-byte little-endian signed
 * messages, some carrying one fd: version 0; the client's own ID (0); "1" + eventfd, once
 * per vector (connect notifications of peer 1); "-1" + the shared-memory fd (a 4 KiB
 * memfd nobody uses). QEMU reads them synchronously while realizing the device, so they
 * are all queued in the socket before QEMU starts. */
#ifndef VIRTIOSIM_QEMU_IRQFD_H
#define VIRTIOSIM_QEMU_IRQFD_H

#include <stdint.h>

#include "virtiosim/error.h"

#define VS_IRQFD_MAX_VECTORS 64u
#define VS_IRQFD_PCI_SLOT 0x1eu       /* 00:1e.0, below q35's ICH9 functions at 1f */
#define VS_IRQFD_PEER 1u
#define VS_IRQFD_DOORBELL_OFF 12u     /* ivshmem BAR0 register: bits 31..16 peer, 15..0 vector */
#define VS_IRQFD_PCI_VENDOR 0x1af4u
#define VS_IRQFD_PCI_DEVICE 0x1110u

typedef struct vs_irqfd_bridge vs_irqfd_bridge;

/* Creates nvec eventfds (1..VS_IRQFD_MAX_VECTORS) and the socketpair with the whole
 * handshake already queued. */
int vs_irqfd_bridge_create(vs_irqfd_bridge **out, unsigned nvec, vs_err *e);
/* QEMU's end of the socketpair: the fd QEMU must inherit (keep_fds). */
int vs_irqfd_bridge_qemu_fd(const vs_irqfd_bridge *b);
/* "-chardev" and "-device" values naming that fd; valid while b lives. */
const char *vs_irqfd_bridge_chardev_arg(const vs_irqfd_bridge *b);
const char *vs_irqfd_bridge_device_arg(const vs_irqfd_bridge *b);
/* After QEMU started: our copy of QEMU's end is no longer needed. */
void vs_irqfd_bridge_release_qemu_end(vs_irqfd_bridge *b);
unsigned vs_irqfd_bridge_vectors(const vs_irqfd_bridge *b);
/* Eventfd of vector v (non-blocking), or -1. */
int vs_irqfd_bridge_fd(const vs_irqfd_bridge *b, unsigned v);
/* The MSI message data that rings vector v. */
uint32_t vs_irqfd_bridge_msi_data(unsigned v);
void vs_irqfd_bridge_destroy(vs_irqfd_bridge *b);

#endif
