/* The "vhost-kernel" transport: virtiosim as the VMM of a kernel vhost device
 * (/dev/vhost-scsi), driven with the vhost ioctls, the role QEMU's vhost-scsi plays.
 *
 * The kernel's vhost worker is the device; virtiosim's driver drives it over rings in
 * virtiosim's own guest memory. Every ioctl is first judged by the kernel flavour of the
 * vhost model (virtiosim/vhost.h: vs_vhost_kernel_to_msg + vs_vhost_apply): an ioctl the
 * model rejects is never issued (-VS_ESTATE / -VS_EPROTO naming the rule: a bug in this
 * VMM, not in the kernel).
 *
 *   create: open(dev_path), VHOST_SET_OWNER, VHOST_GET_FEATURES.
 *   get_device_features: GET_FEATURES & features_mask (the VMM decides what its driver is
 *     offered, as QEMU does with its feature-bit lists) | vmm_features.
 *   set_status: FEATURES_OK -> VHOST_SET_FEATURES(driver features); it sticks iff they
 *     are a subset of the offer and the kernel took them. DRIVER_OK -> VHOST_SET_MEM_TABLE
 *     (one region: guest-physical 0, the whole memfd, userspace_addr = this process's
 *     mapping of it), then per set-up queue SET_VRING_NUM, SET_VRING_BASE(0),
 *     SET_VRING_ADDR (user addresses), SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR
 *     (eventfds we own), then the endpoint (VHOST_SCSI_SET_ENDPOINT with the WWPN) when
 *     one is configured. 0 (reset) -> VHOST_SCSI_CLEAR_ENDPOINT and GET_VRING_BASE per
 *     started ring; the next DRIVER_OK replays the bring-up.
 *   config_read / config_write: the config space is the VMM's (vhost has none): the bytes
 *     given in the options. A write that changes them is -VS_ENOTSUP (QEMU's vhost-scsi
 *     refuses sense_size / cdb_size changes too); rewriting the same value is accepted.
 *   notify: write(kick eventfd). wait: poll the call and err eventfds; a call is an
 *     interrupt of its queue, an err (vhost's vq_err) a VS_EV_NOTE + DEVICE_NEEDS_RESET.
 *   destroy: CLEAR_ENDPOINT, GET_VRING_BASE on every started ring, close everything.
 *
 * Guest memory must be one flat region at GPA 0 (vs_gmem_create_flat). */
#ifndef VIRTIOSIM_VHOST_KERNEL_H
#define VIRTIOSIM_VHOST_KERNEL_H

#include <stdbool.h>
#include <stdint.h>

#include "virtiosim/error.h"
#include "virtiosim/event.h"
#include "virtiosim/gmem.h"
#include "virtiosim/virtio.h"

#define VS_VHOST_KERNEL_CONFIG_MAX 256u
#define VS_VHOST_KERNEL_MAX_QUEUES 64u

typedef struct vs_vhost_kernel_opts {
    char dev_path[128];          /* "/dev/vhost-scsi" */
    uint32_t device_id;          /* enum vs_device_id */
    enum vs_irq_mode irq_mode;
    uint16_t num_queues;         /* rings the VMM presents, 1..VS_VHOST_KERNEL_MAX_QUEUES */
    uint32_t queue_max_size;     /* 0 = 1024 */
    uint64_t features_mask;      /* of GET_FEATURES, what the driver is offered */
    uint64_t vmm_features;       /* bits the VMM adds to the offer (never sent to vhost) */
    uint8_t config[VS_VHOST_KERNEL_CONFIG_MAX];
    uint32_t config_len;
    /* vhost-scsi: the endpoint set at DRIVER_OK (wwpn "" for none) */
    char scsi_wwpn[224];
    uint16_t scsi_tpgt;
} vs_vhost_kernel_opts;

int vs_vhost_kernel_transport_create(vs_transport **out, vs_gmem *gm,
                                     const vs_vhost_kernel_opts *o, vs_event_bus *bus,
                                     vs_err *e);
bool vs_vhost_kernel_transport_is(const vs_transport *t);
/* VHOST_GET_FEATURES as the kernel answered it (0 if t is not this transport). */
uint64_t vs_vhost_kernel_features(const vs_transport *t);

#endif
