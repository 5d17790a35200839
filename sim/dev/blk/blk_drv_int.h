/* virtio-blk's driver personality, internals shared by sim/dev/blk/blk_driver.c (request
 * builders, completion and verification, the personality table), blk_shadow.c (the
 * per-sector shadow and the data patterns) and blk_workload.c. */
#ifndef VS_BLK_DRV_INT_H
#define VS_BLK_DRV_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/driver_int.h"
#include "virtiosim/blk_driver.h"

#define SNAP_SKIP UINT64_MAX
#define SHADOW_RANGE_MAX (UINT32_C(1) << 22)  /* sectors tracked per request */

struct vs_blk_shadow;

/* blk's own driver bugs (test only, vs_driver_opts.dev_mutations): each breaks one request
 * rule the blk-request-shape check judges (the drv-blk-* mutants, blk_mutants.c). */
enum vs_blk_drv_mutation {
    VS_BLK_DRV_MUT_FLUSH_SECTOR = 1u << 0,  /* FLUSH headers carry sector 8 */
    VS_BLK_DRV_MUT_GET_ID_SHORT = 1u << 1,  /* GET_ID with 16 bytes of data */
    VS_BLK_DRV_MUT_DISCARD_UNMAP = 1u << 2, /* DISCARD segments with the unmap flag */
    VS_BLK_DRV_MUT_DWZ_20 = 1u << 3,        /* DISCARD/WRITE_ZEROES data of 20 bytes */
    VS_BLK_DRV_MUT_OUT_PLUS_8 = 1u << 4,    /* OUT data 8 bytes past its sectors */
    VS_BLK_DRV_MUT_FLUSH_DATA = 1u << 5,    /* FLUSH with a 512-byte data buffer */
    VS_BLK_DRV_MUT_IN_PAST_END = 1u << 6,   /* IN headers name the sector at capacity */
    VS_BLK_DRV_MUT_WRITEBACK_EARLY = 1u << 7, /* reads writeback before FEATURES_OK */
    VS_BLK_DRV_MUT_CFG_UNOFFERED = 1u << 8, /* reads the zoned model, ZONED not offered */
    VS_BLK_DRV_MUT_SEG_MAX_IGNORED = 1u << 9, /* twice the data segments seg_max allows */
    VS_BLK_DRV_MUT_DECLINE_RO = 1u << 10,   /* does not accept RO when it is offered */
    VS_BLK_DRV_MUT_HM_DISCARD = 1u << 11,   /* accepts DISCARD for a host-managed model */
    VS_BLK_DRV_MUT_HM_FAILED_LATE = 1u << 12, /* no host-managed support: FEATURES_OK,
                                                 then FAILED once it reads the model */
    VS_BLK_DRV_MUT_CONFIG_IRQ_IGNORED = 1u << 13, /* no capacity read on a config irq */
    VS_BLK_DRV_MUT_DISCARD_SEGS_OVER = 1u << 14, /* multi-segment DISCARD: max + 1 */
    VS_BLK_DRV_MUT_WT_NO_FLUSH = 1u << 15,  /* no FLUSH when switching writeback off */
    VS_BLK_DRV_MUT_ZONE_PAST_END = 1u << 16, /* zone management at the capacity sector */
    VS_BLK_DRV_MUT_REPORT_PAST_END = 1u << 17, /* ZONE_REPORT at the capacity sector */
    VS_BLK_DRV_MUT_ZONE_MID = 1u << 18,     /* zone management 8 sectors into the zone */
    VS_BLK_DRV_MUT_RESET_ALL_SECTOR = 1u << 19, /* ZONE_RESET_ALL names zone 1 */
    VS_BLK_DRV_MUT_APPEND_MID = 1u << 20,   /* ZONE_APPEND 8 sectors into the zone */
    VS_BLK_DRV_MUT_APPEND_SHORT = 1u << 21, /* ZONE_APPEND one sector short */
    VS_BLK_DRV_MUT_APPEND_DOUBLE = 1u << 22, /* ZONE_APPEND twice the sectors asked */
    VS_BLK_DRV_MUT_ZONE_WRITE_SHORT = 1u << 23, /* ZONED: OUT one sector short */
    VS_BLK_DRV_MUT_SE_SEGS_OVER = 1u << 24, /* multi-segment SECURE_ERASE: max + 1 */
    VS_BLK_DRV_MUT_WZ_SEGS_OVER = 1u << 25, /* multi-segment WRITE_ZEROES: max + 1 */
};

/* Per driver (the personality's state). */
typedef struct vs_blk_drv {
    uint64_t capacity;               /* config read at setup */
    uint32_t seg_max, size_max;
    uint32_t zone_sectors;           /* ZONED negotiated: zoned.zone_sectors, else 0 */
    bool ro;
    uint64_t next_tag;               /* the next write's pattern tag */
    uint32_t dwz_max[3];             /* max_discard_seg, max_secure_erase_seg,
                                        max_write_zeroes_seg, read when first needed */
    uint8_t dwz_max_known;
    uint64_t wr_gen, flushed_gen;    /* writes completed OK; those a FLUSH covered */
    struct vs_blk_shadow *shadow;
    uint64_t shadow_default;
} vs_blk_drv;

/* Per request (the personality's device data). */
typedef struct vs_blk_drv_req {
    vs_blk_req r;
    uint32_t data_first, data_count, status_seg;
    bool data_in;
    uint64_t write_tag;              /* OUT: pattern tag; 0 none */
    uint64_t *snap;                  /* IN: expected state per sector at submit (~0 skip);
                                        the request's `owned` block */
    uint32_t expect_len;
    uint8_t expect_status;
    uint64_t flush_gen;              /* FLUSH: vs_blk_drv.wr_gen at submission */
} vs_blk_drv_req;

extern const vs_drv_personality vs_blk_drv_personality;

static inline vs_blk_drv *blk_drv(const vs_driver *d) { return vs__drv_state(d); }
static inline vs_blk_drv_req *blk_rq(const vs_drv_req *rq) { return rq->dev; }

/* Writes the writeback config field; switching it to 0 with writes not yet flushed, a
 * FLUSH first makes them durable (blk.driver.blk-op.12: after the switch the driver may
 * not count on the cache having written them). */
int blk_writeback_write(vs_driver *d, uint8_t v, vs_err *e);

/* blk_shadow.c */
void blk_shadow_free(vs_blk_drv *b);
uint32_t blk_shadow_busy(const vs_blk_drv *b, uint64_t sector);
/* The sector's shadow tag (as vs_blk_shadow_get) and, in *busy, its writes in flight. */
uint64_t blk_shadow_state(const vs_blk_drv *b, uint64_t sector, uint32_t *busy);
/* The same along a run of sectors: the cursor keeps the sector's group of eight, so a
 * request's sectors cost one lookup per group. Valid while the shadow is not changed. */
typedef struct blk_shadow_cursor {
    const void *g;
    uint64_t group;
    bool valid;
} blk_shadow_cursor;
uint64_t blk_shadow_state_at(const vs_blk_drv *b, blk_shadow_cursor *c, uint64_t sector,
                             uint32_t *busy);
/* Sectors [a, a + n) now hold something the driver cannot predict. */
void blk_shadow_unknown(vs_blk_drv *b, uint64_t a, uint64_t n);
static inline bool blk_is_write_type(uint32_t t)
{
    return t == VS_BLK_T_OUT || t == VS_BLK_T_DISCARD || t == VS_BLK_T_WRITE_ZEROES ||
           t == VS_BLK_T_SECURE_ERASE;
}
/* Does the request's range take part in the shadow (a write, not given up)? */
static inline bool blk_tracks_range(const vs_blk_drv_req *br)
{
    return blk_is_write_type(br->r.type) && br->r.nsectors &&
           br->r.nsectors <= SHADOW_RANGE_MAX &&
           (br->r.flags & (VS_BLK_REQ_UNTRACKED | VS_BLK_REQ_ANY_DATA)) !=
               (VS_BLK_REQ_UNTRACKED | VS_BLK_REQ_ANY_DATA);
}
void blk_range_busy_sectors(vs_blk_drv *b, const vs_blk_drv_req *br, int delta, bool set,
                            uint64_t tag);
/* Writes in flight over the request's range: +1 at submission, -1 at completion or
 * abort; set: the sectors now hold tag. (The test inline: most requests of a workload
 * take no part.) */
static inline void blk_range_busy(vs_blk_drv *b, const vs_blk_drv_req *br, int delta,
                                  bool set, uint64_t tag)
{
    if (blk_tracks_range(br))
        blk_range_busy_sectors(b, br, delta, set, tag);
}
/* One sector of pattern tag (vs_blk_pattern_byte for every byte, computed faster). */
void blk_pattern_sector(uint64_t seed, uint64_t tag, uint64_t sector, uint8_t *out);
/* Does got hold exactly that sector of pattern tag? */
bool blk_pattern_match(uint64_t seed, uint64_t tag, uint64_t sector, const uint8_t *got);

#endif
