/* Virtio core: feature bits, the device status machine, config generation, and the
 * transport contract every back-end implements (in-process, PCI model, QEMU, vhost-user),
 * so one driver model drives them all. */
#ifndef VIRTIOSIM_VIRTIO_H
#define VIRTIOSIM_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtiosim/error.h"
#include "virtiosim/vring.h"

/* Device IDs (spec 5). */
enum vs_device_id {
    VS_DEV_NET = 1,
    VS_DEV_BLK = 2,
    VS_DEV_CONSOLE = 3,
    VS_DEV_SCSI = 8,
};

/* Device-independent feature bits (spec 6). */
enum vs_feature_bit {
    VS_F_INDIRECT_DESC = 28,
    VS_F_EVENT_IDX = 29,
    VS_F_VERSION_1 = 32,
    VS_F_ACCESS_PLATFORM = 33,
    VS_F_RING_PACKED = 34,
    VS_F_IN_ORDER = 35,
    VS_F_ORDER_PLATFORM = 36,
    VS_F_SR_IOV = 37,
    VS_F_NOTIFICATION_DATA = 38,
    VS_F_NOTIF_CONFIG_DATA = 39,
    VS_F_RING_RESET = 40,
    VS_F_ADMIN_VQ = 41,
    VS_F_SUSPEND = 43,                /* VIRTIO_F_SUSPEND (42 is device-specific) */
    VS_F_DEVICE_STATUS_SUSPEND = 43,  /* old name of VS_F_SUSPEND */
};

enum vs_scsi_feature_bit {
    VS_SCSI_F_INOUT = 0,
    VS_SCSI_F_HOTPLUG = 1,
    VS_SCSI_F_CHANGE = 2,
    VS_SCSI_F_T10_PI = 3,
};

enum vs_console_feature_bit {
    VS_CONSOLE_F_SIZE = 0,
    VS_CONSOLE_F_MULTIPORT = 1,
    VS_CONSOLE_F_EMERG_WRITE = 2,
};

#define VS_BIT(n) (UINT64_C(1) << (n))

/* "VIRTIO_F_EVENT_IDX", "VIRTIO_BLK_F_RO", ...; NULL if the bit has no name for that
 * device type (device-specific names come from the device classes, model/dev/). */
const char *vs_feature_name(uint32_t device_id, unsigned bit);
/* Reverse lookup; accepts the full name or the short one ("EVENT_IDX", "RO"). -1 if none. */
int vs_feature_bit(uint32_t device_id, const char *name);
/* Formats a feature set as "VERSION_1|EVENT_IDX|..." (unknown bits as "bit37"). */
size_t vs_features_format(uint32_t device_id, uint64_t features, char *buf, size_t len);

/* Device status bits (spec 2.1). */
enum vs_status_bit {
    VS_STATUS_ACKNOWLEDGE = 1,
    VS_STATUS_DRIVER = 2,
    VS_STATUS_DRIVER_OK = 4,
    VS_STATUS_FEATURES_OK = 8,
    VS_STATUS_SUSPEND = 16,
    VS_STATUS_DEVICE_NEEDS_RESET = 64,
    VS_STATUS_FAILED = 128,
};

size_t vs_status_format(uint8_t status, char *buf, size_t len);

/* Is writing `next` over `cur` a legal step for a driver? (0 = reset is always legal;
 * bits are only ever added, in the order ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK,
 * one of those four per write; FAILED may be added at any time, after which only a reset
 * (or rewriting the same value) is legal; SUSPEND only while DRIVER_OK is set;
 * DEVICE_NEEDS_RESET is the device's to set.) Illegal steps return -VS_EPROTO. */
int vs_status_driver_write_ok(uint8_t cur, uint8_t next, vs_err *e);
/* May a device change status from cur to next on its own? (only by adding
 * DEVICE_NEEDS_RESET, by clearing FEATURES_OK in response to the FEATURES_OK write, or by
 * the SUSPEND handshake: clearing DRIVER_OK once suspended, clearing SUSPEND on resume.) */
int vs_status_device_change_ok(uint8_t cur, uint8_t next, vs_err *e);

/* Config generation: a device bumps it whenever it changes config fields; a driver
 * reading a multi-field value re-reads until the generation is stable. */
typedef struct vs_config_gen {
    uint32_t gen;
} vs_config_gen;

static inline void vs_config_gen_bump(vs_config_gen *g) { g->gen++; }

/* ------------------------------------------------------------ transport contract
 * What the driver model needs from any transport. Each call may fail with a back-end
 * error (a dead QEMU, a broken socket) — never a crash. Interrupts are delivered through
 * the callback installed with set_irq_handler, from inside `wait` (real back-ends) or
 * from events on the virtual clock (in-process back-end). */

typedef struct vs_transport vs_transport;

/* queue >= 0: used-buffer notification for that queue; VS_IRQ_CONFIG: config change. */
#define VS_IRQ_CONFIG (-1)
typedef void (*vs_irq_fn)(void *opaque, int queue);

enum vs_irq_mode { VS_IRQ_MSIX = 0, VS_IRQ_INTX = 1, VS_IRQ_POLL = 2 };

typedef struct vs_transport_ops {
    const char *name;  /* "ref", "pci-model", "qemu", "vhost-user" */
    int (*reset)(vs_transport *t, vs_err *e);
    int (*get_status)(vs_transport *t, uint8_t *status, vs_err *e);
    int (*set_status)(vs_transport *t, uint8_t status, vs_err *e);
    int (*get_device_features)(vs_transport *t, uint64_t *f, vs_err *e);
    int (*set_driver_features)(vs_transport *t, uint64_t f, vs_err *e);
    int (*config_read)(vs_transport *t, uint32_t off, void *buf, uint32_t len, vs_err *e);
    int (*config_write)(vs_transport *t, uint32_t off, const void *buf, uint32_t len,
                        vs_err *e);
    int (*config_generation)(vs_transport *t, uint32_t *gen, vs_err *e);
    int (*num_queues)(vs_transport *t, uint16_t *n, vs_err *e);
    int (*queue_max_size)(vs_transport *t, uint16_t q, uint32_t *size, vs_err *e);
    /* Sets size + addresses + vector and enables the queue. */
    int (*queue_setup)(vs_transport *t, uint16_t q, const vs_vq_layout *l, vs_err *e);
    /* VIRTIO_F_RING_RESET's queue reset (PCI: queue_reset): on return the device has
     * dropped the queue's work and will not touch its rings; queue_setup enables it again,
     * possibly with another size and other rings. */
    int (*queue_disable)(vs_transport *t, uint16_t q, vs_err *e);
    int (*notify)(vs_transport *t, uint16_t q, vs_err *e);
    /* Waits for at least one interrupt or until the (virtual or wall-clock) timeout;
     * returns the number of interrupts delivered, 0 on timeout. */
    int (*wait)(vs_transport *t, uint64_t timeout_ns, vs_err *e);
    /* Reads and clears the ISR (INTx mode); other modes may return 0. */
    int (*read_isr)(vs_transport *t, uint8_t *isr, vs_err *e);
    void (*destroy)(vs_transport *t);
    /* Optional (NULL: nothing to say): stops the device at the end of a run, before
     * destroy, and returns what the back-end got wrong doing so (vhost-user: the
     * GET_VRING_BASE replies of the started rings). The transport stays destroyable. */
    int (*close)(vs_transport *t, vs_err *e);
    /* Optional (NULL: notify is used): a notification carrying VIRTIO_F_NOTIFICATION_DATA's
     * value, data = queue | next_off/next_wrap << 16, for transports that pass it on. */
    int (*notify_data)(vs_transport *t, uint16_t q, uint32_t data, vs_err *e);
} vs_transport_ops;

struct vs_transport {
    const vs_transport_ops *ops;
    vs_gmem *gm;            /* guest memory the back-end shares */
    uint32_t device_id;
    enum vs_irq_mode irq_mode;
    vs_irq_fn irq_fn;
    void *irq_opaque;
};

#endif
