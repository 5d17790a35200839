/* Reference devices (model/dev/): the transport-independent part of a virtio device.
 * A transport (in-process, PCI model, vhost-user server) owns status, feature
 * negotiation order, queues and interrupts; it calls into the device to decide what to
 * offer and accept, for config space, and to handle each fetched chain.
 *
 * Devices are synchronous and clock-free: `handle` performs one request completely and
 * says how many bytes it wrote; *when* it completes is the simulator's business. */
#ifndef VIRTIOSIM_DEVICE_H
#define VIRTIOSIM_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "virtiosim/error.h"
#include "virtiosim/gmem.h"
#include "virtiosim/vring.h"

typedef struct vs_device vs_device;

typedef struct vs_device_ops {
    const char *name;                                   /* "blk", "scsi", "console" */
    uint32_t device_id;                                 /* enum vs_device_id */
    uint64_t (*device_features)(vs_device *d);          /* offered, incl. VERSION_1 */
    /* FEATURES_OK decision: 0 accepts the driver's subset, < 0 refuses (with why). */
    int (*accept_features)(vs_device *d, uint64_t driver_features, vs_err *e);
    uint32_t (*config_size)(vs_device *d);
    int (*config_read)(vs_device *d, uint32_t off, void *buf, uint32_t len, vs_err *e);
    int (*config_write)(vs_device *d, uint32_t off, const void *buf, uint32_t len,
                        vs_err *e);
    uint16_t (*num_queues)(vs_device *d);
    uint32_t (*queue_max_size)(vs_device *d, uint16_t q);
    /* Performs one request. On success *written is the used length. A request the
     * device cannot parse at all (the spec's "device error") returns < 0: the transport
     * then sets DEVICE_NEEDS_RESET and raises a config interrupt. A request that parses
     * but fails (I/O error, out of range, unsupported) is a success with a status byte. */
    int (*handle)(vs_device *d, uint16_t q, const vs_chain *c, uint32_t *written,
                  vs_err *e);
    /* handle may also return VS_DEV_DEFERRED: the device keeps the chain (a receive
     * buffer with nothing to receive yet) and completes it later, through host.wake. */
    void (*reset)(vs_device *d);       /* back to power-on state (storage kept) */
    void (*destroy)(vs_device *d);
} vs_device_ops;

/* Returned by handle: the chain stays with the device until it calls host.wake. */
#define VS_DEV_DEFERRED 1

/* How a device gets the transport's attention outside a driver request (set by the
 * transport that runs it; the callbacks may be NULL). A device whose work starts on its
 * own side (bytes arriving from the host, a control message the device sends) defers
 * the driver's buffers and wakes the queue when it has something for them. */
typedef struct vs_device_host {
    void *opaque;
    /* Queue q's deferred chains may complete now: the transport offers them to handle
     * again, oldest first, at the current virtual time (never from inside this call). */
    void (*wake)(void *opaque, uint16_t q);
    /* Something the device rejected or wants on the record (a VS_EV_NOTE event; q or -1). */
    void (*note)(void *opaque, int32_t q, const char *text);
} vs_device_host;

struct vs_device {
    const vs_device_ops *ops;
    vs_gmem *gm;
    uint64_t driver_features;   /* set by the transport once FEATURES_OK is accepted */
    uint32_t config_generation; /* bumped by the device when config changes */
    uint32_t mutations;         /* device-specific deliberate bugs (0 in production) */
    vs_device_host host;        /* filled by the transport */
};

#endif
