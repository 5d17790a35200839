/* The in-process "ref" transport: a vs_transport (virtio.h) over a reference vs_device,
 * run on the simulation engine's virtual clock.
 *
 * Device side of the status machine: a FEATURES_OK write asks the device
 * (accept_features); a refusal leaves FEATURES_OK clear. Writing 0 (or ops->reset)
 * resets the device, drops its queues and every pending doorbell, completion and
 * interrupt, clears ISR and MSI-X pending bits (masks stay). Queues are processed only
 * while DRIVER_OK and FEATURES_OK are set and FAILED / DEVICE_NEEDS_RESET are clear.
 *
 * Doorbells behave like an ioeventfd counter: notifications while a wake-up is pending
 * coalesce; the device wakes doorbell_latency_ns later (VS_EV_DOORBELL, val = number
 * coalesced), disables notifications, fetches every available chain (VS_EV_FETCH each)
 * and schedules each chain's completion after a service time drawn from stream
 * "service.q<N>", then re-enables notifications and re-checks. So completions really go
 * out of order and queue depth is real.
 *
 * A completion runs dev->ops->handle and pushes the used element; the publish and the
 * interrupt check happen once per queue per instant (completions at the same virtual
 * time are published together), and an interrupt is delivered irq_latency_ns later
 * (interrupts to one vector scheduled but not yet delivered coalesce).
 *
 * VIRTIO_F_IN_ORDER (when offered through extra features and negotiated): a completion
 * never goes out before that of a chain fetched earlier on the queue (it waits for it).
 *
 * VIRTIO_F_SUSPEND (not when hooked): SUSPEND written before DRIVER_OK is disregarded;
 * with DRIVER_OK set the device stops fetching, lets requests in flight complete and their
 * interrupts go out, and only then shows SUSPEND with DRIVER_OK clear; a config change
 * meanwhile is notified once the driver resumes it by setting DRIVER_OK (SUSPEND clears
 * at once). vs_ref_config_changed is how a test makes the device change its config.
 *
 * Notify paths (opts.notify). VS_NOTIFY_DIRECT, the default, is the doorbell above.
 * VS_NOTIFY_IOTHREAD models ACRN's device model: the doorbell (after doorbell_latency_ns,
 * the exit and the hypervisor's ioeventfd match) writes the queue's eventfd (counter +=
 * the notifications it carries; VS_EV_IOT_SIGNAL). The queue belongs to iothread
 * q % threads. A sleeping iothread wakes a latency drawn from opts.iothread.wake (stream
 * "iothread.<N>") after the signal (VS_EV_IOT_WAKE); signals meanwhile only add to the
 * counters. Awake, it makes one pass over its signalled queues in index order: for each,
 * reads and clears the counter and runs the notify handler (the same drain as above:
 * notifications off, fetch everything, on, re-check; VS_EV_IOT_SERVE), then
 * VS_EV_IOT_PASS. The pass keeps the thread busy handler_ns per chain fetched; a queue
 * signalled while it is busy is served by a pass right after (no wake-up: epoll_wait
 * returns at once), otherwise the thread sleeps. Completions, publish, interrupts,
 * suspend, queue reset and the error path are those of the direct path.
 *
 * Device error path (malformed chain, handle() < 0, used push failure): status gets
 * DEVICE_NEEDS_RESET, VS_EV_DEVICE_ERROR (text = message), VS_EV_CONFIG_CHANGE, a config
 * interrupt; pending work is dropped and the device does nothing more until reset.
 *
 * Interrupts: MSI-X: config vector 0, queue q vector q + 1, per-vector mask and pending
 * bit. INTx: ISR bit 0 (queue) / bit 1 (config), read_isr reads and clears. POLL:
 * nothing is delivered. Delivery calls t->irq_fn(t->irq_opaque, q or VS_IRQ_CONFIG)
 * and emits VS_EV_IRQ (val = MSI-X vector, VS_REF_NO_VECTOR in INTx mode). The mode is
 * the public field t->irq_mode (initialised from the options; may be changed while no
 * queue is set up).
 *
 * wait(timeout_ns) runs engine events until an interrupt was delivered, virtual time
 * advanced by timeout_ns (clock ends at the deadline) or the engine is idle (clock
 * unchanged); returns the interrupts delivered. In POLL mode it runs until idle or the
 * deadline and returns 0. wait from inside an irq callback is -VS_ESTATE.
 *
 * Events: only the device side (DOORBELL or the IOT_* events of the iothread path, FETCH,
 * DEVICE_ERROR, IRQ, CONFIG_CHANGE); the driver model emits the driver's.
 *
 * Ownership: the transport owns none of eng, dev, gm, bus; destroy the transport
 * before them. */
#ifndef VIRTIOSIM_TRANSPORT_REF_H
#define VIRTIOSIM_TRANSPORT_REF_H

#include <stdbool.h>
#include <stdint.h>

#include "virtiosim/device.h"
#include "virtiosim/error.h"
#include "virtiosim/event.h"
#include "virtiosim/gmem.h"
#include "virtiosim/sim.h"
#include "virtiosim/virtio.h"

#define VS_REF_NO_VECTOR 0xffffu

enum vs_service_dist {
    VS_SERVICE_FIXED = 0,    /* always fixed_ns */
    VS_SERVICE_UNIFORM = 1,  /* uniform integer in [min_ns, max_ns] */
    VS_SERVICE_EXP = 2,      /* exponential with mean_ns, rounded to ns */
};

typedef struct vs_service_time {
    enum vs_service_dist dist;
    uint64_t fixed_ns;
    uint64_t min_ns, max_ns;
    uint64_t mean_ns;
} vs_service_time;

/* Deliberate transport-level bugs of the reference device (mutants). */
enum vs_ref_mutation {
    VS_REF_MUT_NONE = 0,
    VS_REF_MUT_CONSUMES_BEFORE_DRIVER_OK = 1u << 0, /* processes once a queue is set up */
    VS_REF_MUT_NO_CONFIG_IRQ_ON_ERROR = 1u << 1, /* error path: no config-change interrupt */
    VS_REF_MUT_RESET_KEEPS_STATUS = 1u << 2,  /* reset leaves the status byte as it was */
    VS_REF_MUT_IRQ_AFTER_RESET = 1u << 3,     /* reset raises an interrupt on each live queue */
    VS_REF_MUT_FETCH_SWAPPED = 1u << 4,       /* starts work on the second chain of each
                                                 batch of two or more before the first */
    VS_REF_MUT_SPURIOUS_NOTIFY_ERROR = 1u << 5, /* a notification that finds no new buffer
                                                 (and none in flight) is a device error */
    VS_REF_MUT_CONFIG_LATE = 1u << 6,         /* device config beyond capacity reads 0
                                                 until FEATURES_OK is accepted */
    VS_REF_MUT_QUEUE_RESET_IGNORED = 1u << 7, /* queue_disable (queue reset) leaves the queue
                                                 running until it is set up again */
    VS_REF_MUT_QUEUE_RESET_KEEPS_POS = 1u << 8, /* a queue set up again after a queue reset
                                                 resumes at its old available index */
    VS_REF_MUT_REENABLE_OLD_RINGS = 1u << 9,  /* ... with a new size keeps its old rings */
    /* VIRTIO_F_SUSPEND */
    VS_REF_MUT_SUSPEND_BEFORE_INIT = 1u << 10, /* keeps SUSPEND written before DRIVER_OK */
    VS_REF_MUT_SUSPEND_EARLY_REPORT = 1u << 11, /* shows suspended at once; requests in
                                                 flight complete afterwards */
    VS_REF_MUT_SUSPEND_CFG_IRQ = 1u << 12,    /* notifies a config change while suspended
                                                 (and again on resume) */
    VS_REF_MUT_SUSPEND_CFG_DROPPED = 1u << 13, /* never notifies a config change that
                                                 happened while suspended */
    VS_REF_MUT_SUSPEND_IGNORED = 1u << 14,    /* a SUSPEND request changes nothing */
    VS_REF_MUT_RESUME_IGNORED = 1u << 15,     /* stays suspended when DRIVER_OK is set */
    VS_REF_MUT_OUT_OF_ORDER = 1u << 16,       /* with VIRTIO_F_IN_ORDER, still completes
                                                 requests out of order */
    VS_REF_MUT_ALL = (1u << 17) - 1,
};

/* How a doorbell reaches the device (see "Notify paths" above). */
enum vs_notify_path {
    VS_NOTIFY_DIRECT = 0,    /* the device itself wakes doorbell_latency_ns after a kick */
    VS_NOTIFY_IOTHREAD = 1,  /* ACRN's device model: eventfd signal, iothread wake-up */
};

typedef struct vs_iothread_opts {
    uint16_t threads;          /* iothreads; queue q belongs to iothread q % threads (0: 1) */
    vs_service_time wake;      /* how long a sleeping iothread takes to run once signalled */
    uint64_t handler_ns;       /* time the iothread spends per chain it fetches (busy) */
} vs_iothread_opts;

/* What the iothreads did since the transport was created (all threads together). */
typedef struct vs_iothread_stats {
    uint64_t signals;          /* eventfd writes (a write may carry several notifications) */
    uint64_t notifications;    /* notifications those writes carried */
    uint64_t wakes;            /* wake-ups from the epoll wait */
    uint64_t passes;           /* passes over the signalled queues (a wake-up, or a pass
                                  that follows a busy one at once) */
    uint64_t serves;           /* queues served (one eventfd read + notify handler each) */
    uint64_t chains;           /* chains fetched by the handlers */
    uint64_t max_chains;       /* most chains fetched in one pass */
    uint64_t wait_ns;          /* sum over serves of how long the oldest signal waited */
    uint64_t wait_max_ns;
} vs_iothread_stats;

typedef struct vs_ref_opts {
    enum vs_irq_mode irq_mode;
    uint64_t doorbell_latency_ns;
    uint64_t irq_latency_ns;
    vs_service_time service;
    uint32_t mutations;        /* enum vs_ref_mutation */
    uint32_t ring_mutations;   /* enum vs_vq_mutation, passed to every vs_vq_dev */
    uint32_t pci_mutations;    /* enum vs_pci_mutation (pci.h): only the PCI model
                                  transport (transport_pci.h) uses it */
    enum vs_notify_path notify;
    uint32_t pci_drv_mutations; /* enum vs_pci_drv_mutation (transport_pci.h): the PCI
                                   model transport's driver half */
    vs_iothread_opts iothread; /* with VS_NOTIFY_IOTHREAD */
    bool notify_off_while_busy; /* queue notifications stay off (split without EVENT_IDX:
                                   used.flags NO_NOTIFY) while requests are in flight; the
                                   device looks at the ring again as they complete */
    /* the PCI model transport's function (pci.h vs_pci_model_opts): a layout quirk (enum
     * vs_pci_layout_quirk) and the MSI-X table size (0: num_queues + 1) */
    uint32_t pci_layout_quirks;
    uint16_t pci_msix_vectors;
    uint64_t echo_irq_ns;      /* test provocation (0: off): every queue interrupt is
                                  delivered once more this long after, reporting nothing
                                  new by then (not when hooked) */
} vs_ref_opts;

/* MSI-X, doorbell latency 1000 ns, irq latency 500 ns, fixed service time 10000 ns, no
 * mutations. A NULL opts to create means these defaults. */
void vs_ref_opts_default(vs_ref_opts *o);

/* Checks the options (uniform min <= max, known distribution and irq mode). */
int vs_ref_opts_check(const vs_ref_opts *o, vs_err *e);

int vs_ref_transport_create(vs_transport **out, vs_engine *eng, vs_device *dev,
                            vs_gmem *gm, const vs_ref_opts *o, vs_event_bus *bus,
                            vs_err *e);

/* Is t a ref transport? (the calls below return -VS_EINVAL / false / 0 otherwise) */
bool vs_ref_is(const vs_transport *t);

/* MSI-X per-vector mask (vector 0 = config, q + 1 = queue q). Unmasking a vector with
 * its pending bit set clears the bit and delivers the interrupt now. */
int vs_ref_msix_mask(vs_transport *t, uint16_t vector, bool masked, vs_err *e);
bool vs_ref_msix_pending(const vs_transport *t, uint16_t vector);
uint16_t vs_ref_msix_vectors(const vs_transport *t);   /* num_queues + 1 */

/* The device changed its config (after bumping dev->config_generation): emits
 * VS_EV_CONFIG_CHANGE and raises a config interrupt. */
int vs_ref_config_changed(vs_transport *t, vs_err *e);
/* A provocation: the device takes its error path now (DEVICE_NEEDS_RESET, a config
 * interrupt, its requests in flight never complete), as on a chain it cannot parse. */
int vs_ref_device_error(vs_transport *t, const char *why, vs_err *e);

/* The iothreads' counters (notify VS_NOTIFY_IOTHREAD); -VS_ENOTSUP on the direct path.
 * For the PCI model transport, ask its device half (vs_pci_model_transport_device_half). */
int vs_ref_iothread_stats(const vs_transport *t, vs_iothread_stats *out, vs_err *e);
/* Zeroes them (the runner's expectations judge one stretch of a scenario at a time). */
void vs_ref_iothread_stats_clear(vs_transport *t);

/* Introspection for tests and the runner. */
/* A notification of queue q has not reached its handler yet (a doorbell under way, or an
 * eventfd count no iothread has read). */
bool vs_ref_notify_pending(const vs_transport *t, uint16_t q);
uint64_t vs_ref_irqs_delivered(const vs_transport *t);  /* since creation */
uint32_t vs_ref_inflight(const vs_transport *t, uint16_t q); /* fetched, not completed */
bool vs_ref_device_stopped(const vs_transport *t);       /* error path taken, no reset yet */
uint8_t vs_ref_isr_peek(const vs_transport *t);          /* ISR without clearing */

/* ------------------------------------------------------------ the device half alone
 * The device half of this transport (doorbells with coalescing, fetch, service times,
 * out-of-order completions, publish + interrupt check per instant, per-vector interrupt
 * coalescing, the device error path) can serve another front-end that owns status,
 * features and interrupt delivery — the in-process virtio-pci model (transport_pci.h).
 * The front-end drives it through the transport ops queue_setup, queue_disable, notify
 * and reset only. Differences from the plain transport:
 *  - queues are processed while hooks->live() is true (or under the
 *    CONSUMES_BEFORE_DRIVER_OK mutant); ring features come from dev->driver_features;
 *  - an interrupt due on a vector (after irq_latency_ns, coalesced per vector as usual)
 *    is handed to hooks->irq(queue or VS_IRQ_CONFIG) instead of being delivered: no
 *    VS_EV_IRQ, no ISR, irq_mode ignored;
 *  - the device error path emits VS_EV_DEVICE_ERROR, drops pending work, stops until
 *    reset and calls hooks->device_error(queue, message); the front-end sets
 *    DEVICE_NEEDS_RESET and raises the config interrupt. */
typedef struct vs_ref_hooks {
    void *opaque;
    bool (*live)(void *opaque);
    void (*irq)(void *opaque, int queue);
    void (*device_error)(void *opaque, int queue, const char *msg);
} vs_ref_hooks;

int vs_ref_transport_create_hooked(vs_transport **out, vs_engine *eng, vs_device *dev,
                                   vs_gmem *gm, const vs_ref_opts *o, vs_event_bus *bus,
                                   const vs_ref_hooks *hooks, vs_err *e);

#endif
