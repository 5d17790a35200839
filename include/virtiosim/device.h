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
    void (*reset)(vs_device *d);       /* back to power-on state (storage kept) */
    /* Optional, for devices that defer chains (VS_DEV_DEFERRED): the transport is about to
     * drop the chains of queue q (-1: every queue; device reset, queue reset): the device
     * completes now (through vs_device.complete) or forgets every chain of it it holds,
     * and never completes them afterwards. Called while the queues still work. */
    void (*drain)(vs_device *d, int32_t q);
    void (*destroy)(vs_device *d);
} vs_device_ops;

struct vs_device {
    const vs_device_ops *ops;
    vs_gmem *gm;
    uint64_t driver_features;   /* set by the transport once FEATURES_OK is accepted */
    uint32_t config_generation; /* bumped by the device when config changes */
    uint32_t mutations;         /* device-specific deliberate bugs (0 in production) */
    /* Deferred completion, set by a transport that supports it (NULL: the device must not
     * defer). A handle() that returns VS_DEV_DEFERRED keeps the chain (its own copy of the
     * segments); the device later completes it with complete(complete_ctx, q, chain id,
     * used length), from handle() of another chain or from a host-side call, and the
     * transport pushes the used element and signals the driver. */
    void (*complete)(void *ctx, uint16_t q, uint16_t chain_id, uint32_t written);
    void *complete_ctx;
};

/* handle() result: the device keeps the chain and completes it later (see complete). */
#define VS_DEV_DEFERRED 1

#endif
