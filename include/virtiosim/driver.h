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
 * virtio-blk requests (driver_blk.c) keep a sparse per-sector shadow of what the driver
 * believes is on the disk and verify read data against it. */
#ifndef VIRTIOSIM_DRIVER_H
#define VIRTIOSIM_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtiosim/blk.h"
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

/* Features this driver model knows how to use with virtio-blk. */
#define VS_DRV_FEATURES_BLK_DEFAULT                                                       \
    (VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_F_INDIRECT_DESC) | VS_BIT(VS_F_EVENT_IDX) |      \
     VS_BIT(VS_F_RING_PACKED) | VS_BIT(VS_BLK_F_SIZE_MAX) | VS_BIT(VS_BLK_F_SEG_MAX) |   \
     VS_BIT(VS_BLK_F_GEOMETRY) | VS_BIT(VS_BLK_F_RO) | VS_BIT(VS_BLK_F_BLK_SIZE) |       \
     VS_BIT(VS_BLK_F_FLUSH) | VS_BIT(VS_BLK_F_TOPOLOGY) | VS_BIT(VS_BLK_F_CONFIG_WCE) |  \
     VS_BIT(VS_BLK_F_MQ) | VS_BIT(VS_BLK_F_DISCARD) | VS_BIT(VS_BLK_F_WRITE_ZEROES) |     \
     VS_BIT(VS_BLK_F_ZONED) | VS_BIT(VS_BLK_F_SECURE_ERASE) | VS_BIT(VS_BLK_F_LIFETIME))

typedef struct vs_blk_result vs_blk_result;
typedef void (*vs_drv_result_fn)(void *opaque, const vs_blk_result *r);

/* Legal chain shapes few drivers use (devices must not depend on the usual ones). */
enum vs_drv_layout {
    VS_DRV_LAYOUT_INDIRECT_WRITE = 1u << 0, /* split + indirect: WRITE on the descriptor
                                               naming the table (devices ignore it) */
    VS_DRV_LAYOUT_DIRECT_FIRST = 1u << 1,   /* split + indirect: the first segment in a
                                               direct descriptor, then the indirect one */
    VS_DRV_LAYOUT_SPLIT_HEADER = 1u << 2,   /* blk: the 16-byte request header in two
                                               8-byte descriptors */
};

typedef struct vs_driver_opts {
    /* Features the driver is willing to use; negotiated = features & offered.
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
    bool read_config_early;       /* blk: read every field of the offered features (not
                                     writeback) before FEATURES_OK and again after it */
    uint32_t fill_before_driver_ok; /* test only: vs_driver_init makes this many blk reads
                                     available on queue 0 after queue setup and before
                                     DRIVER_OK, without notifying (legal); they complete
                                     once the device runs */
    const volatile int *stop;     /* when non-zero, waits give up ("interrupted") */
    bool no_readable_copy;        /* skip the driver's own copy-and-compare of readable
                                     buffers (a conformance monitor checks them instead) */
    uint32_t queue_depth;         /* max outstanding requests per queue; 0 = ring limit */
    uint64_t seed;                /* data patterns (and workload default seed) */
    uint32_t seg_size;            /* blk data segment size in bytes; 0 = one segment */
    uint64_t pool_bytes;          /* guest buffer pool; 0 = 4 MiB */
    uint64_t poll_interval_ns;    /* polling mode wait step; 0 = 1000 */
    uint64_t timeout_ns;          /* default for vs_driver_run; 0 = 10 s */
    vs_drv_result_fn on_result;   /* optional: called for each completed blk request */
    void *on_result_opaque;
} vs_driver_opts;

/* Defaults: VS_DRV_FEATURES_BLK_DEFAULT, split, max queue size, 1 queue, MSI-X, direct
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
/* Step 7: reads device config (blk: capacity, seg_max, size_max, ...), allocates the
 * pool, sets up num_queues queues (layout alloc + transport queue_setup + ring create). */
int vs_driver_setup_queues(vs_driver *d, vs_err *e);
/* Resets the device (status 0, waits until it reads 0), frees the rings and drops every
 * outstanding request. The driver can be initialised again afterwards. */
int vs_driver_reset(vs_driver *d, vs_err *e);
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
/* blk config read at setup (0 before). */
uint64_t vs_driver_blk_capacity(const vs_driver *d);

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

/* Publishes every chain added with VS_BLK_REQ_DEFER on queue q (q < 0: all) and kicks
 * where vs_vq_drv_kick_needed says so (KICK), else emits KICK_SUPPRESSED. */
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

/* ---------------------------------------------------------------- virtio-blk */

enum vs_blk_req_flags {
    VS_BLK_REQ_UNMAP = 1u << 0,      /* WRITE_ZEROES: set VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP */
    VS_BLK_REQ_INDIRECT = 1u << 1,   /* force indirect (needs INDIRECT_DESC) */
    VS_BLK_REQ_DIRECT = 1u << 2,     /* force direct even if opts.use_indirect */
    VS_BLK_REQ_NO_VERIFY = 1u << 3,  /* skip data verification (status/len still checked) */
    VS_BLK_REQ_DEFER = 1u << 4,      /* add only; publish + kick at vs_driver_flush */
    VS_BLK_REQ_DATA_IN = 1u << 5,    /* raw types: data_len bytes are device-writable */
    VS_BLK_REQ_EXPECT = 1u << 6,     /* expect_status overrides the default expectation */
    VS_BLK_REQ_ANY_DATA = 1u << 7,   /* OUT: content irrelevant (no pattern generated; the
                                        sectors become unknown to the shadow) */
    VS_BLK_REQ_UNTRACKED = 1u << 8,  /* OUT with ANY_DATA into a range already given up
                                        with vs_blk_shadow_forget: no per-sector shadow
                                        bookkeeping at all (unverified workloads) */
};

typedef struct vs_blk_req {
    uint32_t type;          /* enum vs_blk_req_type, or any number (unknown-type tests) */
    uint64_t sector;
    uint32_t nsectors;      /* IN/OUT/ZONE_APPEND data, DISCARD/WRITE_ZEROES range */
    uint32_t data_len;      /* raw/unknown types: data bytes (readable unless DATA_IN);
                               ZONE_REPORT: report buffer bytes */
    uint32_t flags;         /* enum vs_blk_req_flags */
    uint16_t queue;
    uint32_t seg_size;      /* 0 = opts.seg_size */
    uint8_t expect_status;  /* with VS_BLK_REQ_EXPECT */
    uint32_t pattern;       /* OUT: data pattern number; 0 = a fresh pattern per write */
    uint64_t user;          /* copied into the result */
    uint32_t dwz_flags;     /* DISCARD/WRITE_ZEROES: raw segment flag bits ORed in (tests of
                               the device's flag validation) */
} vs_blk_req;

#define VS_BLK_RESULT_ZONES 16u

struct vs_blk_result {
    uint32_t type;
    uint64_t sector;
    uint32_t nsectors;
    uint16_t queue;
    uint32_t id;            /* chain id */
    uint64_t user;
    bool fault;             /* a vs_driver_submit_fault chain the device completed */
    uint8_t status;         /* status byte the device wrote */
    uint8_t expect_status;
    uint32_t used_len;
    uint32_t expect_len;
    bool status_ok, len_ok, data_ok, guard_ok;
    bool ok;                /* all of the above */
    uint32_t sectors_verified, sectors_skipped;
    char id_str[VS_BLK_ID_BYTES + 1];  /* GET_ID */
    uint64_t append_sector;            /* ZONE_APPEND completed with OK */
    uint64_t nr_zones;                 /* ZONE_REPORT: nr_zones of the report header */
    uint8_t zone_state[VS_BLK_RESULT_ZONES]; /* ZONE_REPORT: the first descriptors */
    uint64_t zone_wp[VS_BLK_RESULT_ZONES];
    char msg[200];          /* first failure, "" when ok */
    uint64_t submit_ns, complete_ns, latency_ns;
};

/* Builds and submits one request: header (16 B readable), data segments (seg_size
 * each), DISCARD/WRITE_ZEROES payload, 1-byte status. Returns the chain id (>= 0),
 * -VS_ENOSPC when the queue-depth limit or the ring is full, or another error. */
int vs_blk_submit(vs_driver *d, const vs_blk_req *r, vs_err *e);
/* Convenience builders (queue 0, default segmentation). */
int vs_blk_read(vs_driver *d, uint16_t q, uint64_t sector, uint32_t nsectors, vs_err *e);
int vs_blk_write(vs_driver *d, uint16_t q, uint64_t sector, uint32_t nsectors, vs_err *e);
/* Submits, runs to completion and returns the result in *res (0), or < 0. */
int vs_blk_do(vs_driver *d, const vs_blk_req *r, vs_blk_result *res, vs_err *e);

/* Completed results not yet taken (also passed to opts.on_result). 1 got one, 0 none. */
int vs_blk_take_result(vs_driver *d, vs_blk_result *out);
size_t vs_blk_results_pending(const vs_driver *d);

/* The shadow: what the driver believes sector s holds. */
enum { VS_SHADOW_UNKNOWN = 0, VS_SHADOW_ZERO = 1 };  /* >= 2: pattern tag */
uint64_t vs_blk_shadow_get(const vs_driver *d, uint64_t sector);
/* State of sectors never written by this driver (default UNKNOWN; ZERO for fresh disks). */
void vs_blk_shadow_assume(vs_driver *d, uint64_t state);
/* Sectors [first, first + count) become unknown in one step (what an unverified workload
 * writes there is never checked). Fails with VS_ESTATE while a write to them is in
 * flight. */
int vs_blk_shadow_forget(vs_driver *d, uint64_t first, uint64_t count, vs_err *e);
/* Byte `off` (0..511) of sector `sector` written with pattern tag `tag` (>= 2). */
uint8_t vs_blk_pattern_byte(uint64_t seed, uint64_t tag, uint64_t sector, uint32_t off);

/* fio-style workload. */
typedef enum vs_rw_kind {
    VS_RW_READ = 0, VS_RW_WRITE, VS_RW_RANDREAD, VS_RW_RANDWRITE, VS_RW_RW, VS_RW_RANDRW
} vs_rw_kind;
int vs_rw_kind_parse(const char *s, vs_rw_kind *out, vs_err *e);
const char *vs_rw_kind_name(vs_rw_kind k);

typedef struct vs_blk_workload {
    vs_rw_kind rw;
    uint32_t bs;            /* bytes, multiple of 512; 0 = 4096 */
    uint32_t iodepth;       /* outstanding requests (all queues); 0 = 1 */
    uint32_t rwmixread;     /* % reads for rw/randrw; 0 = 50 */
    uint64_t nr_ops;        /* requests; 0 = size / bs */
    uint64_t offset;        /* first byte of the region */
    uint64_t size;          /* region bytes; 0 = capacity - offset */
    bool verify;
    uint16_t queues;        /* spread round-robin over the first N queues; 0 = all */
    uint64_t seed;          /* offsets and the read/write mix; 0 = opts seed */
    uint64_t timeout_ns;    /* whole run; 0 = opts timeout */
} vs_blk_workload;

typedef struct vs_blk_workload_stats {
    uint64_t ops, reads, writes, errors, verify_failures;
    uint64_t bytes_read, bytes_written;
    uint64_t lat_min_ns, lat_median_ns, lat_max_ns, lat_mean_ns;
    uint64_t elapsed_ns;
    char first_error[200];
} vs_blk_workload_stats;

/* Runs the workload to completion. Request failures are counted, not returned; the
 * return value is < 0 only when the run itself could not proceed (timeout, NEEDS_RESET,
 * broken queue, bad parameters). */
int vs_blk_workload_run(vs_driver *d, const vs_blk_workload *w, vs_blk_workload_stats *st,
                        vs_err *e);

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

/* Submits a hand-built blk-shaped chain with the fault (vs_vq_drv_add_raw; AVAIL with
 * chain->raw), publishes and kicks. The expected device reaction is DEVICE_NEEDS_RESET
 * plus a config interrupt (see vs_driver_wait_status / vs_driver_needs_reset). Returns
 * the chain id; -VS_ENOTSUP for split-only faults on a packed ring. */
int vs_driver_submit_fault(vs_driver *d, uint16_t q, enum vs_fault kind, vs_err *e);

/* ---------------------------------------------------------------- internal
 * Shared by sim/driver.c and sim/driver_blk.c only (they define VS_DRIVER_INTERNAL).
 * Not an API: nothing else may rely on these. */
#ifdef VS_DRIVER_INTERNAL

typedef struct vs_drv_req {
    struct vs_drv_req *prev, *next;  /* live list (owned by the device) */
    uint16_t q;
    int id;
    bool fault, indirect, added;
    uint32_t nseg, n_out;
    vs_seg *seg;                     /* [nseg]; out segments first */
    uint64_t chunk_gpa;              /* pool chunk holding every segment + guards */
    uint64_t chunk_bytes;            /* the part of it the segments and guards use */
    uint32_t chunk_units;
    uint8_t *ro_copy;                /* readable bytes as submitted */
    uint64_t ro_bytes;
    uint64_t submit_ns;
    /* blk */
    vs_blk_req r;
    uint32_t data_first, data_count, status_seg;
    bool data_in;
    uint64_t write_tag;              /* OUT: pattern tag; 0 none */
    uint64_t *snap;                  /* IN: expected state per sector at submit (~0 skip) */
    uint32_t expect_len;
    uint8_t expect_status;
} vs_drv_req;

typedef struct vs_drv_queue {
    vs_vq_drv *vq;
    vs_vq_layout layout;
    bool have_layout;
    unsigned live;                   /* requests added and not completed */
    unsigned unpublished;
    bool irq_pending, irq_masked, broken;
    bool ue_emitted;                 /* split + EVENT_IDX: a VS_EV_USED_EVENT was emitted */
    uint16_t ue_last;                /* ... with this value */
    vs_vq_layout old_layout;         /* rings of the queue before its last queue reset: kept
                                        allocated (a device that goes on writing there must
                                        not corrupt anything else) until the next one */
    bool have_old_layout;
} vs_drv_queue;

struct vs_blk_shadow;

struct vs_driver {
    vs_transport *t;
    vs_gmem *gm;
    vs_driver_opts o;
    vs_event_bus *bus;
    uint64_t (*now)(void *);
    void *now_opaque;
    uint8_t status;                  /* last written */
    uint64_t dev_features, features;
    uint16_t nq;
    uint32_t qsize;
    vs_drv_queue q[VS_DRV_MAX_QUEUES];
    bool config_pending, isr_pending, needs_reset;
    /* pool */
    uint64_t pool_gpa, pool_bytes;
    uint32_t pool_units, pool_hint;  /* every unit below pool_hint is in use */
    /* Freed chunks of one size (pool_cache_units), kept marked in use and handed out again
     * last-freed first; flushed back into the map when a search fails. */
    uint32_t pool_cache_units, pool_cache_n;
    uint32_t pool_cache[64];
    uint64_t *pool_map;
    vs_drv_req *live;                /* live list head */
    vs_drv_req *spare;               /* freed small request blocks, reused (via ->next) */
    unsigned nspare;
    /* guard bookkeeping */
    bool guard_bad;
    char guard_msg[VS_ERR_MSG_MAX];
    vs_driver_counters c;
    /* results */
    vs_blk_result *res;
    size_t res_head, res_n, res_cap;
    vs_blk_result *res_slot;         /* handed out by vs__drv_result_slot, not yet committed */
    vs_blk_result res_overflow;      /* the slot when the ring cannot grow: notified, dropped */
    /* blk */
    uint64_t capacity;
    uint32_t seg_max, size_max;
    uint32_t zone_sectors;           /* ZONED negotiated: zoned.zone_sectors, else 0 */
    bool ro;
    uint64_t next_tag;
    struct vs_blk_shadow *shadow;
    uint64_t shadow_default;
};

int vs__drv_req_new(vs_driver *d, uint16_t q, uint32_t nseg, vs_drv_req **out, vs_err *e);
/* seg[i].len and n_out set: allocates the pool chunk, fills seg[i].gpa, guards and
 * poison (writable segments). */
int vs__drv_req_layout(vs_driver *d, vs_drv_req *rq, vs_err *e);
/* Readable contents written: snapshots them, adds the chain, emits AVAIL, publishes and
 * kicks unless defer. Returns the id. On error the request is still the caller's. */
int vs__drv_req_commit(vs_driver *d, vs_drv_req *rq, bool indirect, bool defer, vs_err *e);
int vs__drv_add_raw(vs_driver *d, vs_drv_req *rq, const vs_desc *descs, unsigned n,
                    vs_err *e);
void vs__drv_req_free(vs_driver *d, vs_drv_req *rq);
void vs__drv_emit(vs_driver *d, vs_event *ev);
int vs__drv_pool_alloc(vs_driver *d, uint64_t bytes, uint64_t *gpa, uint32_t *units,
                       vs_err *e);
void vs__drv_pool_free(vs_driver *d, uint64_t gpa, uint32_t units);
void vs__drv_push_result(vs_driver *d, const vs_blk_result *r, bool notify);
vs_blk_result *vs__drv_result_slot(vs_driver *d);
void vs__drv_result_commit(vs_driver *d, bool notify);
const vs_blk_result *vs__blk_peek_result(const vs_driver *d); /* oldest, or NULL */
uint64_t vs__splitmix64(uint64_t *state);
typedef struct vs_drv_waiter {
    uint64_t start, timeout_ns;
    unsigned stall, idle;
} vs_drv_waiter;
/* One wait step with timeout / idle-device / NEEDS_RESET detection: completions or < 0. */
int vs__drv_wait_some(vs_driver *d, vs_drv_waiter *w, vs_err *e);
/* driver_blk.c */
void vs__blk_complete(vs_driver *d, vs_drv_req *rq, uint32_t used_len, bool len_valid,
                      vs_blk_result *res);
void vs__blk_abort(vs_driver *d, vs_drv_req *rq);
void vs__blk_shadow_free(vs_driver *d);

#endif /* VS_DRIVER_INTERNAL */

#endif
