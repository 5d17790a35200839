/* The driver personality: what the device-neutral driver model (sim/driver.c) asks of
 * one device type (private to virtiosim; layer 4).
 *
 * A device folder sim/dev/<name>/ defines one `const vs_drv_personality` and points its
 * vs_sim_dev table's `driver` at it; vs_driver_create finds it through the registry by the
 * transport's device id (vs_sim_dev_by_id). A device without one can still be negotiated
 * and set up (no config reads, no requests). virtio-blk's is sim/dev/blk/blk_driver.c.
 *
 * Every hook runs once per setup step or once per request, never per byte or descriptor,
 * and may be NULL (nothing to do), except complete. The personality's own request API (virtio-blk:
 * vs_blk_submit) builds a request with the helpers of sim/driver_int.h. */
#ifndef VS_DRIVER_DEV_H
#define VS_DRIVER_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtiosim/error.h"

typedef struct vs_driver vs_driver;
typedef struct vs_drv_req vs_drv_req;

/* What the core knows about a completion when it hands it to the personality. */
typedef struct vs_drv_done {
    uint16_t queue;
    uint32_t id;                 /* chain id of the used element */
    uint32_t used_len;
    bool len_valid;              /* false: a packed used element with no length to judge */
    uint64_t complete_ns;
    bool guard_ok;               /* guards and readable bytes intact (always true for a
                                    fault chain, which has none) */
    const char *guard_msg;       /* the first violation when !guard_ok */
} vs_drv_done;

/* The well-formed request a fault chain starts from (vs_driver_submit_fault): a readable
 * header and a writable status, the fault is then built around them. */
typedef struct vs_drv_fault_shape {
    uint8_t hdr[32];
    uint32_t hdr_len;            /* <= sizeof hdr */
    uint32_t status_len;
} vs_drv_fault_shape;

typedef struct vs_drv_personality {
    /* vs_driver_opts.features 0 means these. */
    uint64_t default_features;
    /* More than one queue needs this feature bit (-1: any number of queues is fine). */
    int multiqueue_feature;
    /* Bytes of device data per request (vs__drv_req_dev) and per result (the type handed
     * to on_result and vs_driver_take_result). */
    size_t req_size, result_size;

    /* Per-driver device state (vs__drv_state), made at vs_driver_create, freed at
     * vs_driver_destroy. */
    int (*state_create)(vs_driver *d, void **state, vs_err *e);
    void (*state_free)(vs_driver *d, void *state);

    /* Config reads before the driver writes its features (features_ok false), and again
     * after FEATURES_OK was accepted (true). offered: the device's features. */
    int (*read_config_early)(vs_driver *d, uint64_t offered, bool features_ok, vs_err *e);
    /* Queue setup (vs_driver_setup_queues), before the queues: the config the requests
     * need (capacity, limits, ...). */
    int (*setup)(vs_driver *d, vs_err *e);
    /* vs_driver_opts.fill_before_driver_ok: makes n ordinary requests available on queue
     * 0, deferred (the core publishes them, and kicks after DRIVER_OK). */
    int (*fill_early)(vs_driver *d, uint32_t n, vs_err *e);

    /* A used element: fills res (result_size bytes, zeroed) from the request (NULL: the
     * device used a chain the driver never made available; rq->fault: a fault chain the
     * device completed) and updates the device state. The core frees rq afterwards. */
    void (*complete)(vs_driver *d, vs_drv_req *rq, const vs_drv_done *done, void *res);
    /* A request dropped without completion (reset, queue reset): undo its bookkeeping. */
    void (*abort)(vs_driver *d, vs_drv_req *rq);
    /* A fault chain's request: the header and status to build it from (and rq's device
     * data, for its result). NULL: the device has no fault chains. */
    void (*fault_shape)(vs_driver *d, vs_drv_req *rq, vs_drv_fault_shape *shape);
    /* A config-change interrupt after DRIVER_OK whose status read shows no
     * DEVICE_NEEDS_RESET: re-read what may have changed (blk: capacity). */
    int (*config_changed)(vs_driver *d, vs_err *e);
} vs_drv_personality;

#endif
