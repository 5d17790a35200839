/* virtio-blk on the driver model (sim/dev/blk/): request builders, data patterns, the
 * per-sector shadow of what the driver believes is on the disk (read data is verified
 * against it), results, and the fio-style workload.
 *
 * The driver (virtiosim/driver.h) finds this personality through the simulator's device
 * registry when the transport's device id is VS_DEV_BLK; results passed to
 * vs_driver_opts.on_result and taken with vs_driver_take_result are vs_blk_result. */
#ifndef VIRTIOSIM_BLK_DRIVER_H
#define VIRTIOSIM_BLK_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtiosim/blk.h"
#include "virtiosim/driver.h"
#include "virtiosim/error.h"
#include "virtiosim/virtio.h"

/* Features this driver model knows how to use with virtio-blk (the personality's
 * default: vs_driver_opts.features 0). */
#define VS_DRV_FEATURES_BLK_DEFAULT                                                       \
    (VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_F_INDIRECT_DESC) | VS_BIT(VS_F_EVENT_IDX) |      \
     VS_BIT(VS_F_RING_PACKED) | VS_BIT(VS_BLK_F_SIZE_MAX) | VS_BIT(VS_BLK_F_SEG_MAX) |   \
     VS_BIT(VS_BLK_F_GEOMETRY) | VS_BIT(VS_BLK_F_RO) | VS_BIT(VS_BLK_F_BLK_SIZE) |       \
     VS_BIT(VS_BLK_F_FLUSH) | VS_BIT(VS_BLK_F_TOPOLOGY) | VS_BIT(VS_BLK_F_CONFIG_WCE) |  \
     VS_BIT(VS_BLK_F_MQ) | VS_BIT(VS_BLK_F_DISCARD) | VS_BIT(VS_BLK_F_WRITE_ZEROES) |     \
     VS_BIT(VS_BLK_F_ZONED) | VS_BIT(VS_BLK_F_SECURE_ERASE) | VS_BIT(VS_BLK_F_LIFETIME))

/* blk config read at setup (0 before). */
uint64_t vs_driver_blk_capacity(const vs_driver *d);

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
    uint32_t dwz_segs;      /* DISCARD/WRITE_ZEROES/SECURE_ERASE: the range split into this
                               many segments (0 = 1); more than one reads the device's
                               max_*_seg and is refused beyond it */
} vs_blk_req;

#define VS_BLK_RESULT_ZONES 16u

typedef struct vs_blk_result {
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
} vs_blk_result;

/* Builds and submits one request: header (16 B readable), data segments (seg_size
 * each), DISCARD/WRITE_ZEROES payload, 1-byte status. Returns the chain id (>= 0),
 * -VS_ENOSPC when the queue-depth limit or the ring is full, or another error. */
int vs_blk_submit(vs_driver *d, const vs_blk_req *r, vs_err *e);
/* Convenience builders (queue 0, default segmentation). */
int vs_blk_read(vs_driver *d, uint16_t q, uint64_t sector, uint32_t nsectors, vs_err *e);
int vs_blk_write(vs_driver *d, uint16_t q, uint64_t sector, uint32_t nsectors, vs_err *e);
/* Submits, runs to completion and returns the result in *res (0), or < 0. */
int vs_blk_do(vs_driver *d, const vs_blk_req *r, vs_blk_result *res, vs_err *e);

/* Completed results not yet taken (also passed to opts.on_result, as a
 * const vs_blk_result *). 1 got one, 0 none. vs_driver_take_result with a type. */
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

/* fio-style workload (vs_rw_kind: driver.h). */
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
    uint64_t timeout_ns;    /* longest time without a completion (progress, not the
                               whole run: any number_ios can finish); 0 = opts timeout */
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

#endif
