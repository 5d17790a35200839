/* The driver model: a guest-side virtio driver that talks to a device only through the
 * vs_transport contract (virtio.h), guest memory (gmem.h) and the driver side of the
 * rings (vring.h). The same driver therefore runs over the in-process reference
 * transport, a QEMU virtio-pci device or a vhost-user back-end.
 *
 * Every driver action is reported on the event bus (event.h) with the time from the
 * caller's clock: RESET, STATUS_WRITE/READ, FEATURES_READ/WRITE, CONFIG_READ/GEN,
 * QUEUE_SETUP, AVAIL, PUBLISH, KICK/KICK_SUPPRESSED, USED, USED_INVALID, IRQ_MASK,
 * ISR_READ.
 *
 * Buffers live in a pool in guest memory. Every segment the driver hands to the device
 * is followed by VS_DRV_GUARD_LEN guard bytes of a known pattern; device-readable
 * segments are filled before submission and remembered, device-writable ones are
 * pre-filled with VS_DRV_POISON. On completion (and in vs_driver_guard_ok) the driver
 * checks that no guard changed and no readable byte changed.
 *
 * The driver knows no device type: what is specific to one (default features, the
 * config it reads, its requests, how a completion is judged) is its personality, found
 * through the simulator's device registry (sim/driver_dev.h). Each device's request API
 * has its own header (virtio-blk: virtiosim/blk_driver.h). */
#ifndef VIRTIOSIM_DRIVER_H
#define VIRTIOSIM_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtiosim/error.h"
#include "virtiosim/event.h"
#include "virtiosim/gmem.h"
#include "virtiosim/virtio.h"
#include "virtiosim/vring.h"

#define VS_DRV_GUARD_LEN 16u
#define VS_DRV_POISON 0xd5u         /* fill of device-writable bytes before submission */
#define VS_DRV_MAX_QUEUES 64u

/* Guard byte i (0..15) after every buffer. */
static inline uint8_t vs_drv_guard_byte(unsigned i)
{
    return (uint8_t)(0xa5u ^ (i * 0x3bu));
}

/* A completed request's result, in the device's result type (its header says which). */
typedef void (*vs_drv_result_fn)(void *opaque, const void *result);

/* Legal chain shapes few drivers use (devices must not depend on the usual ones). */
enum vs_drv_layout {
    VS_DRV_LAYOUT_INDIRECT_WRITE = 1u << 0, /* split + indirect: WRITE on the descriptor
                                               naming the table (devices ignore it) */
    VS_DRV_LAYOUT_DIRECT_FIRST = 1u << 1,   /* split + indirect: the first segment in a
                                               direct descriptor, then the indirect one */
    VS_DRV_LAYOUT_SPLIT_HEADER = 1u << 2,   /* the request header in two descriptors of
                                               half its size each */
};

typedef struct vs_driver_opts {
    /* Features the driver is willing to use; negotiated = features & offered. 0 = the
     * device personality's default (its header names them).
     * VERSION_1 is always required (added if missing; an error if not offered).
     * RING_PACKED is dropped for split rings and required for packed rings. */
    uint64_t features;
    vs_ring_format ring;          /* VS_RING_PACKED only if RING_PACKED is negotiated */
    uint32_t queue_size;          /* 0 = the device's queue_max_size; larger = error */
    uint16_t num_queues;          /* queues to set up; 0 = 1; more than offered = error */
    enum vs_irq_mode irq_mode;    /* written to the transport's irq_mode before setup;
                                   * VS_IRQ_POLL = used-buffer notifications suppressed,
                                   * the driver polls every poll_interval_ns */
    bool use_indirect;            /* requests in one indirect table (needs INDIRECT_DESC) */
    bool irq_delayed;             /* re-arm interrupts like virtqueue_enable_cb_delayed */
    bool mislead_suppression;     /* test only (split): also keep the suppression field the
                                     negotiated mechanism makes the device ignore saying
                                     "no interrupt" (VS_VQ_F_MISLEAD_SUPPRESSION) */
    uint32_t chain_layout;        /* enum vs_drv_layout: legal but unusual chain shapes a
                                     device must accept */
    bool suspend_before_driver_ok; /* test only: vs_driver_init writes SUSPEND before
                                     DRIVER_OK and fails if the device keeps it */
    bool read_config_early;       /* read every config field of the offered features (the
                                     personality's choice of fields) before
                                     FEATURES_OK and again after it */
    uint32_t fill_before_driver_ok; /* test only: vs_driver_init makes this many reads
                                     available on queue 0 after queue setup and before
                                     DRIVER_OK, without notifying (legal); they complete
                                     once the device runs */
    const volatile int *stop;     /* when non-zero, waits give up ("interrupted") */
    bool no_readable_copy;        /* skip the driver's own copy-and-compare of readable
                                     buffers (a conformance monitor checks them instead) */
    uint32_t queue_depth;         /* max outstanding requests per queue; 0 = ring limit */
    uint64_t seed;                /* data patterns (and workload default seed) */
    uint32_t seg_size;            /* data segment size in bytes; 0 = one segment */
    uint64_t pool_bytes;          /* guest buffer pool; 0 = 4 MiB */
    uint64_t poll_interval_ns;    /* polling mode wait step; 0 = 1000 */
    uint64_t timeout_ns;          /* default for vs_driver_run; 0 = 10 s */
    uint64_t wait_slice_ns;       /* longest single transport wait inside the driver's
                                     waits, so `stop` is seen within it even when a
                                     transport sleeps through the signal (real back-ends;
                                     0 = no limit: a virtual clock must not be sliced) */
    bool reuse_setup;             /* after the first queue setup, keep what the personality's
                                     setup read (capacity, limits, ...) and the device's
                                     queue count across re-initialisations instead of
                                     reading them again (campaigns: a device that is reset
                                     after every input does not change them) */
    vs_drv_result_fn on_result;   /* optional: called for each completed request */
    void *on_result_opaque;
    uint64_t mutations;           /* test only: enum vs_drv_mutation and the VS_DRV_MUT_
                                     defines past bit 31 (driver mutants) */
    uint32_t dev_mutations;       /* test only: the personality's own driver bugs */
} vs_driver_opts;

/* Deliberately broken variants of the driver model (test only). Each breaks one rule a
 * driver-role check judges, so the check can be proven to fire: the driver mutants of
 * `virtiosim mutants` (sim/driver_mutants.c). */
enum vs_drv_mutation {
    VS_DRV_MUT_DRIVER_BEFORE_ACK = 1u << 0,   /* DRIVER written before ACKNOWLEDGE */
    VS_DRV_MUT_STATUS_DROPS_BIT = 1u << 1,    /* DRIVER_OK written without ACKNOWLEDGE */
    VS_DRV_MUT_NO_RESET_WAIT = 1u << 2,       /* goes on after a reset without reading 0 */
    VS_DRV_MUT_UNOFFERED_FEATURE = 1u << 3,   /* also accepts RING_RESET, not offered */
    VS_DRV_MUT_RESERVED_FEATURE = 1u << 4,    /* also accepts bit 45, which is reserved */
    VS_DRV_MUT_FEATURES_AFTER_OK = 1u << 5,   /* rewrites its features, changed, after
                                                 FEATURES_OK */
    VS_DRV_MUT_DECLINE_VERSION_1 = 1u << 6,   /* does not accept VERSION_1 */
    VS_DRV_MUT_KICK_BEFORE_DRIVER_OK = 1u << 7, /* notifies queue 0 before DRIVER_OK */
    VS_DRV_MUT_CONFIG_WRITE_EARLY = 1u << 8,  /* writes a config byte before FEATURES_OK */
    VS_DRV_MUT_CONFIG_NO_GENERATION = 1u << 9, /* reads config without config_generation */
    VS_DRV_MUT_USED_FLAGS_DIRTY = 1u << 10,   /* split: used.flags non-zero at setup */
    VS_DRV_MUT_AVAIL_FLAGS_RESERVED = 1u << 11, /* split: an undefined avail.flags bit */
    VS_DRV_MUT_NO_KICK = 1u << 12,            /* never notifies */
    VS_DRV_MUT_FAILED_NO_RESET = 1u << 13,    /* sets FAILED, then initializes again
                                                 without a reset */
    VS_DRV_MUT_KICK_ALWAYS = 1u << 14,        /* notifies when the device suppressed it */
    VS_DRV_MUT_WRITABLE_FIRST = 1u << 15,     /* writable descriptors first */
    VS_DRV_MUT_INDIRECT_NEXT = 1u << 16,      /* NEXT beside INDIRECT (packed: INDIRECT in
                                                 a NEXT-linked list) */
    VS_DRV_MUT_NESTED_INDIRECT = 1u << 17,    /* INDIRECT inside a table */
    VS_DRV_MUT_INDIRECT_UNNEGOTIATED = 1u << 18, /* indirect tables without INDIRECT_DESC
                                                    negotiated */
    /* VIRTIO_F_SUSPEND */
    VS_DRV_MUT_SUSPEND_BEFORE_DRIVER_OK = 1u << 19, /* requests SUSPEND during init */
    VS_DRV_MUT_SUSPEND_NO_WAIT = 1u << 20,    /* goes on without reading SUSPEND back */
    VS_DRV_MUT_KICK_SUSPENDED = 1u << 21,     /* notifies a queue while suspended */
    VS_DRV_MUT_CONFIG_WRITE_SUSPENDED = 1u << 22, /* writes config while suspended */
    VS_DRV_MUT_RESUME_NO_WAIT = 1u << 23,     /* goes on without reading the resume back */
    VS_DRV_MUT_RING_MISALIGNED = 1u << 24,    /* gives the device a used ring (packed: device
                                                 area) 2 bytes past its 4-byte alignment */
    VS_DRV_MUT_RING_OUTSIDE_RAM = 1u << 25,   /* gives the device a used ring (packed: device
                                                 area) beyond guest RAM */
    VS_DRV_MUT_DECLINE_RECOMMENDED = 1u << 26, /* declines ACCESS_PLATFORM, ORDER_PLATFORM,
                                                  NOTIF_CONFIG_DATA when offered, and
                                                  RING_PACKED (falls back to split) */
    VS_DRV_MUT_AVAIL_IDX_BACK = 1u << 27,     /* split: avail idx written one back before
                                                 each publish */
    VS_DRV_MUT_PACKED_REWRITE_AVAIL = 1u << 28, /* packed: rewrites the buffer id of a list's
                                                   head after making it available */
    VS_DRV_MUT_IDX_BEFORE_ENTRY = 1u << 29,   /* split: avail idx published while the first
                                                 new ring entry still holds a stale head */
};
/* ... past bit 31 (an enum constant must fit an int) */
#define VS_DRV_MUT_CHAIN_LOOP (UINT64_C(1) << 30)       /* split: the first new chain's last
                                                           descriptor links back to its head;
                                                           packed: NEXT on every ring slot */
#define VS_DRV_MUT_IN_ORDER_SHUFFLE (UINT64_C(1) << 31) /* split, IN_ORDER: a chain (or its
                                                           indirect table) of 3+ linked out
                                                           of slot order */
#define VS_DRV_MUT_PACKED_HEAD_EARLY (UINT64_C(1) << 32) /* packed: a list's head available
                                                            while its second descriptor is
                                                            not yet */
#define VS_DRV_MUT_PACKED_NO_ROOM (UINT64_C(1) << 34)  /* packed: the queue's first list
                                                           exposed again at once, in slots
                                                           the device has not given back */
#define VS_DRV_MUT_EXPOSE_SUSPENDED (UINT64_C(1) << 35) /* makes a FLUSH available once
                                                           SUSPEND shows */
#define VS_DRV_MUT_ON_AFTER_REFUSAL (UINT64_C(1) << 33) /* goes on to set queues up and
                                                           DRIVER_OK when FEATURES_OK reads
                                                           back clear */
/* Generic driver rules (the checks of conformance/mon_drv_generic.c). */
#define VS_DRV_MUT_GIVE_UP_UNKNOWN (UINT64_C(1) << 48) /* FAILED when the offer holds bits
                                                          it has no name for */
#define VS_DRV_MUT_ACCEPT_UNKNOWN (UINT64_C(1) << 49)  /* accepts offered undefined bits */
#define VS_DRV_MUT_NO_V1_GOES_ON (UINT64_C(1) << 50)   /* goes on without VERSION_1 offered */
#define VS_DRV_MUT_ACCEPT_SR_IOV (UINT64_C(1) << 51)   /* accepts SR_IOV when offered */
#define VS_DRV_MUT_RECLAIM_LIVE (UINT64_C(1) << 52)    /* split: once, a new chain's head put
                                                          in the slot of the last published
                                                          chain, still outstanding */
#define VS_DRV_MUT_REENABLE_STALE (UINT64_C(1) << 53)  /* split: a queue set up again after
                                                          its reset shows the device a stale
                                                          avail idx at setup */
#define VS_DRV_MUT_FAIL_ON_EMPTY_IRQ (UINT64_C(1) << 54) /* FAILED after a queue interrupt
                                                            that had nothing to collect */
#define VS_DRV_MUT_NEEDS_RESET_WAITS (UINT64_C(1) << 55) /* vs_driver_recover notifies the
                                                            queues with requests outstanding
                                                            again first, as if the device
                                                            would still complete them */

/* Defaults: the personality's features, split, max queue size, 1 queue, MSI-X, direct
 * descriptors, no depth limit, seed 1, one data segment. */
void vs_driver_opts_default(vs_driver_opts *o);

typedef struct vs_driver vs_driver;

/* Creates a driver over transport t (not owned) and installs t's irq callback. bus may
 * be NULL (no events). now returns the time stamped on events and used for latencies and
 * timeouts (virtual clock for the ref back-end, wall clock for real ones); NULL = a
 * monotonic wall clock. Nothing is written to the device until vs_driver_init. */
int vs_driver_create(vs_driver **out, vs_transport *t, const vs_driver_opts *o,
                     vs_event_bus *bus, uint64_t (*now)(void *), void *now_opaque,
                     vs_err *e);
/* Frees host and guest resources (rings, pool). Does not reset the device. */
void vs_driver_destroy(vs_driver *d);

/* ---------------------------------------------------------------- initialisation */

/* The spec's sequence (3.1.1): reset (and wait for status 0), ACKNOWLEDGE, DRIVER, read
 * device features, write the negotiated subset, FEATURES_OK, re-read status (FAILED and
 * -VS_EPROTO if FEATURES_OK did not stick), device-specific config reads, queue setup,
 * DRIVER_OK. Any failure after the reset sets FAILED. Equivalent to vs_driver_negotiate +
 * vs_driver_setup_queues + vs_driver_set_status(DRIVER_OK). */
int vs_driver_init(vs_driver *d, vs_err *e);
/* Steps 1-6 (through the FEATURES_OK re-read). */
int vs_driver_negotiate(vs_driver *d, vs_err *e);
/* Step 7: reads device config (what the personality needs: capacity, limits, ...),
 * allocates the
 * pool, sets up num_queues queues (layout alloc + transport queue_setup + ring create). */
int vs_driver_setup_queues(vs_driver *d, vs_err *e);
/* Resets the device (status 0, waits until it reads 0), frees the rings and drops every
 * outstanding request. The driver can be initialised again afterwards. */
int vs_driver_reset(vs_driver *d, vs_err *e);
/* The device showed DEVICE_NEEDS_RESET: the driver counts on none of its outstanding
 * requests (neither that they complete nor that they do not) and resets at once, as
 * vs_driver_reset; the caller initializes again. -VS_ESTATE if status does not show it. */
int vs_driver_recover(vs_driver *d, vs_err *e);
/* Adds bits to the status the driver last wrote and writes it (the normal, legal way). */
int vs_driver_set_status(vs_driver *d, uint8_t bits, vs_err *e);

/* Raw access for scenarios that want to poke the device (no legality checks). */
int vs_driver_write_status_raw(vs_driver *d, uint8_t status, vs_err *e);
int vs_driver_read_status(vs_driver *d, uint8_t *status, vs_err *e);
int vs_driver_read_features(vs_driver *d, uint64_t *features, vs_err *e);
int vs_driver_write_features_raw(vs_driver *d, uint64_t features, vs_err *e);
/* Config read with the generation protocol: read gen, read, re-read gen, retry (up to 16
 * times, then -VS_EPROTO). Emits CONFIG_GEN and CONFIG_READ (val = value when len <= 8). */
int vs_driver_config_read(vs_driver *d, uint32_t off, void *buf, uint32_t len, vs_err *e);
/* One config access, no generation protocol. */
int vs_driver_config_read_raw(vs_driver *d, uint32_t off, void *buf, uint32_t len,
                              vs_err *e);
int vs_driver_config_write(vs_driver *d, uint32_t off, const void *buf, uint32_t len,
                           vs_err *e);

/* ---------------------------------------------------------------- state */

uint64_t vs_driver_device_features(const vs_driver *d);  /* offered (last read) */
uint64_t vs_driver_features(const vs_driver *d);         /* negotiated */
uint8_t vs_driver_status(const vs_driver *d);            /* last status written */
uint16_t vs_driver_num_queues(const vs_driver *d);       /* queues set up */
vs_vq_drv *vs_driver_queue(vs_driver *d, uint16_t q);    /* NULL if not set up */
uint32_t vs_driver_queue_size(const vs_driver *d);
unsigned vs_driver_outstanding(const vs_driver *d, int q);  /* q < 0: all queues */
/* DEVICE_NEEDS_RESET seen in a status read (after a config interrupt, or polled). */
bool vs_driver_needs_reset(const vs_driver *d);
/* A queue the device broke with an invalid used element (no longer collected). */
bool vs_driver_queue_broken(const vs_driver *d, uint16_t q);
uint64_t vs_driver_now(vs_driver *d);

typedef struct vs_driver_counters {
    uint64_t submitted, completed, kicks, kicks_suppressed, irqs, config_irqs;
    uint64_t used_invalid, guard_violations, aborted;
} vs_driver_counters;
void vs_driver_counters_get(const vs_driver *d, vs_driver_counters *c);

/* Checks the guard bytes and the readable bytes of every buffer still owned by the
 * device, and returns false if any violation was seen since create (message in e names
 * the first: queue, chain id, segment, offset). */
bool vs_driver_guard_ok(vs_driver *d, vs_err *e);

/* ---------------------------------------------------------------- completion */

/* Completed results not yet taken (also passed to opts.on_result), oldest first, in the
 * device's result type (out may be NULL: dropped). 1 got one, 0 none. */
int vs_driver_take_result(vs_driver *d, void *out);
size_t vs_driver_results_pending(const vs_driver *d);

/* Publishes every chain added deferred (not yet published) on queue q (q < 0: all) and
 * kicks where vs_vq_drv_kick_needed says so (KICK), else emits KICK_SUPPRESSED. */
int vs_driver_flush(vs_driver *d, int q, vs_err *e);
/* VIRTIO_F_RING_RESET: resets queue q (transport queue_disable; requests outstanding on
 * it are abandoned), then vs_driver_queue_enable sets it up again on fresh rings of
 * `size` entries (0: the size it had). */
int vs_driver_queue_reset(vs_driver *d, uint16_t q, vs_err *e);
int vs_driver_queue_enable(vs_driver *d, uint16_t q, uint32_t size, vs_err *e);
/* VIRTIO_F_SUSPEND: sets SUSPEND and polls status until the device shows SUSPEND with
 * DRIVER_OK clear (0) or DEVICE_NEEDS_RESET (1); resume sets DRIVER_OK again and polls
 * until DRIVER_OK shows with SUSPEND clear (0) or DEVICE_NEEDS_RESET (1). The driver's view
 * of status becomes what it read. */
int vs_driver_suspend(vs_driver *d, vs_err *e);
int vs_driver_resume(vs_driver *d, vs_err *e);
/* Test only: writes SUSPEND between FEATURES_OK and DRIVER_OK (a device must disregard
 * it) and reads status back; 0 if SUSPEND reads clear, 1 if the device kept it. */
int vs_driver_suspend_early(vs_driver *d, vs_err *e);
/* Sends an available-buffer notification for queue q without making anything available
 * (legal; a device must tolerate it). */
int vs_driver_notify(vs_driver *d, uint16_t q, vs_err *e);
/* Collects used elements: in interrupt mode on the queues with a pending interrupt, in
 * polling mode on all queues; handles a pending config interrupt (status read). Does not
 * wait. Returns the number of requests completed, or < 0 (a queue broke: -VS_EPROTO). */
int vs_driver_poll(vs_driver *d, vs_err *e);
/* One transport wait (timeout_ns in interrupt mode, min(timeout, poll interval) in
 * polling mode) followed by vs_driver_poll. Returns completions, or < 0. */
int vs_driver_wait(vs_driver *d, uint64_t timeout_ns, vs_err *e);
/* Waits + collects until no request is outstanding. timeout_ns 0 = opts timeout.
 * -VS_ETIMEDOUT on timeout, -VS_ESTATE when the device set DEVICE_NEEDS_RESET,
 * -VS_EPROTO when a queue broke. */
int vs_driver_run(vs_driver *d, uint64_t timeout_ns, vs_err *e);
/* Waits until a status read shows any bit of mask (e.g. DEVICE_NEEDS_RESET), reading
 * status after each wait. 1 seen, -VS_ETIMEDOUT otherwise. */
int vs_driver_wait_status(vs_driver *d, uint8_t mask, uint64_t timeout_ns, vs_err *e);

/* ---------------------------------------------------------------- faults */

enum vs_fault {
    VS_FAULT_LOOP = 1,           /* split: desc 0 -> 1 -> 0 */
    VS_FAULT_NEXT_OOR,           /* split: next = queue size */
    VS_FAULT_ADDR_OOR,           /* buffer address outside guest RAM */
    VS_FAULT_NESTED_INDIRECT,    /* indirect table containing an INDIRECT descriptor */
    VS_FAULT_WRITE_BEFORE_READ,  /* writable descriptor before a readable one */
    VS_FAULT_ZERO_LEN,           /* a zero-length descriptor */
    VS_FAULT_LEN_OVERFLOW,       /* addr + len wraps the 64-bit space */
};
#define VS_FAULT_LAST VS_FAULT_LEN_OVERFLOW
const char *vs_fault_name(enum vs_fault f);
int vs_fault_parse(const char *s, enum vs_fault *out, vs_err *e);

/* fio's rw= patterns, for the workloads of the devices that have one. */
typedef enum vs_rw_kind {
    VS_RW_READ = 0, VS_RW_WRITE, VS_RW_RANDREAD, VS_RW_RANDWRITE, VS_RW_RW, VS_RW_RANDRW
} vs_rw_kind;
int vs_rw_kind_parse(const char *s, vs_rw_kind *out, vs_err *e);
const char *vs_rw_kind_name(vs_rw_kind k);

/* Submits a hand-built chain shaped like the device's simplest request (the personality
 * gives its header and status sizes) with the fault (vs_vq_drv_add_raw; AVAIL with
 * chain->raw), publishes and kicks. The expected device reaction is DEVICE_NEEDS_RESET
 * plus a config interrupt (see vs_driver_wait_status / vs_driver_needs_reset). Returns
 * the chain id; -VS_ENOTSUP for split-only faults on a packed ring (or a device without
 * a personality). */
int vs_driver_submit_fault(vs_driver *d, uint16_t q, enum vs_fault kind, vs_err *e);

#endif
