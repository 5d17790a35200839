/* Internal to conformance/dev/blk/: the virtio-blk monitor extension (vs_mon_devs_blk,
 * see conformance/monitor_dev.h). Its state per monitors (blk_mon) and per chain
 * (blk_chain), its checks (enum vs_blk_chk, numbered from CK_DEV_FIRST) and the functions
 * its files share:
 *   blk_checks.c    the check table and the hook table vs_mon_devs_blk
 *   blk_requests.c  requests made available / completed: header, status byte, request
 *                   shape, read-only, discard / write-zeroes flags, lifetime; features,
 *                   reset
 *   blk_config.c    config space: optional fields, writeback, padding, changes
 *   blk_readback.c  blk-read-back and blk-write-zeroes-reads-zero (sector contents)
 *   blk_zoned.c     the zone model and the zoned checks
 *   blk_drvck.c     driver-role rules: zoned feature choice, capacity re-read on a config
 *                   interrupt, discard / write-zeroes / secure-erase segment counts, FLUSH
 *                   after a switch to writethrough, zone request sectors and sizes */
#ifndef VIRTIOSIM_CONFORMANCE_DEV_BLK_MON_INT_H
#define VIRTIOSIM_CONFORMANCE_DEV_BLK_MON_INT_H

#include "conformance/monitor_dev.h"
#include "virtiosim/blk.h"
#include "virtiosim/le.h"

/* blk-write-zeroes-reads-zero: zeroed ranges kept, and the write-request log */
#define ZR_MAX 128u
#define WLOG_MAX 1024u
/* blk-read-back: sectors whose contents are tracked (the first 32 MiB) */
#define RB_SECTORS 65536u
/* config bytes whose reads are tracked (changes; config-readable-before-features-ok) */
#define BLK_CFG_TRACKED 80u

enum vs_blk_chk {
    CK_OFFER_DEPS = CK_DEV_FIRST, /* offered set closed under dependencies */
    CK_BLK_FLUSH_OFFERED,
    CK_BLK_CFG_PADDING,
    CK_BLK_WCE_INITIAL,
    CK_BLK_RO_WRITE,
    CK_BLK_DWZ_FLAGS,
    CK_BLK_ZONED_UNSUPP,
    CK_BLK_LIFETIME,
    CK_BLK_CFG_CHANGE,
    CK_BLK_STATUS,
    CK_BLK_USED_LEN,
    CK_BLK_WZ_ZEROES,     /* sectors zeroed by an OK WRITE_ZEROES read back as zeroes */
    CK_BLK_READ_BACK,     /* an OK read returns what the sector is known to hold */
    CK_ZONED_FOK,         /* host-managed: FEATURES_OK refused without ZONED */
    CK_ZONED_CONFIG,      /* zoned config: unused2 zero, max_append within segments */
    CK_ZONE_REPORT,       /* zone report geometry and zone types match the config */
    CK_ZONE_MGMT,         /* open/close/finish/reset: INVALID_CMD where impossible */
    CK_ZONE_IO,           /* read/write/append: the zoned error statuses */
    CK_ZONE_RES,          /* open/active resource limits */
    CK_ZONE_LIMITS,       /* max_append_sectors and write_granularity are the real limits */
    CK_ZONE_APPEND_SECTOR,/* append_sector = write pointer */
    CK_ZONE_UNWRITTEN,    /* unwritten sectors read as one fill byte */
    CK_ZONE_SE,           /* zoned secure erase: whole zones, handled as ZONE_RESET */
    /* driver role */
    CK_D_CFG_OPTIONAL,
    CK_D_BLK_WCE_EARLY,
    CK_D_BLK_REQ,
    CK_D_BLK_PK_SEGS,     /* packed: descriptors per list within seg_max + 2 */
    CK_D_BLK_ZONED_FEAT,  /* host-managed: no DISCARD; give up before FEATURES_OK */
    CK_D_BLK_CAP_REREAD,  /* capacity read after a config interrupt */
    CK_D_BLK_DWZ_SEGS,    /* at most max_*_seg range segments */
    CK_D_BLK_WT_FLUSH,    /* FLUSH after switching writeback off with writes unflushed */
    CK_D_BLK_ZONE_REQ,    /* zone request sectors and append / write sizes */
    CK_BLK_END
};

/* Per chain (vs_mon_dev.chain_bytes). */
typedef struct blk_chain {
    bool blk_ok;          /* header parsed */
    uint32_t blk_type;
    uint64_t blk_sector;
    uint32_t blk_dwz_flags; /* OR of segment flags */
    uint64_t blk_clock;   /* monitor clock when made available */
    uint64_t blk_wl;      /* write-log entry + 1 (0: not a write) */
    bool rb_counted;      /* blk-read-back: a write counted in rb[rb_a, rb_b).inflight */
    uint64_t rb_a, rb_b;
    bool z_counted;       /* zoned: counted in z_live */
    bool z_solo;          /* zoned: nothing else outstanding when made available */
    uint64_t z_seq;       /* zoned: z_seq when made available */
    uint64_t flush_gen;   /* FLUSH: blk_mon.wr_gen when made available */
} blk_chain;

/* sectors [a, b) zeroed by a WRITE_ZEROES completed at monitor clock `clock` */
typedef struct zrange {
    uint64_t a, b, clock;
} zrange;

/* a write-type request's sector envelope, made available at `start`, completed at
 * `done` (0: outstanding) */
typedef struct wlog {
    uint64_t a, b, start, done;
} wlog;

/* blk-read-back: what one sector is known to hold. 16 bytes, so the table (touched at a
 * random place by every request) is 1 MiB; the check gives up (fewer checks, never a false
 * one) before the clock or a count would outgrow its field. */
typedef struct rb_sec {
    uint64_t hash;
    uint32_t wclock;      /* monitor clock of the last write made available or done */
    uint16_t inflight;    /* outstanding write-type requests that cover it */
    bool known;
    bool ro_write;        /* a write to it was made available on a read-only device */
} rb_sec;

/* zoned: the monitors' view of one zone (valid only when known) */
typedef struct mzone {
    bool known;
    uint8_t type, state;
    uint64_t wp;          /* UINT64_MAX where the write pointer is not valid */
    uint64_t cap;
    uint64_t uw;          /* first unwritten sector (UINT64_MAX: unknown) */
    bool se_pending;      /* secure-erased since the last report: must report empty */
} mzone;

/* Per monitors (m->dev_state). */
typedef struct blk_mon {
    cfg_track cfg[BLK_CFG_TRACKED];
    bool wce_first_read_done;
    uint64_t capacity;
    bool capacity_known;
    uint8_t cap_bytes[8];
    uint8_t cap_mask;
    /* write-zeroes tracking (device-wide: every queue shares the disk) */
    uint64_t blk_clock;
    uint32_t n_zr;
    zrange zr[ZR_MAX];
    uint64_t wl_total;            /* entries ever logged; entry i at wl[i % WLOG_MAX] */
    uint64_t wl_live_evicted;     /* outstanding writes whose entry was overwritten */
    wlog wl[WLOG_MAX];
    rb_sec *rb;                   /* RB_SECTORS entries, allocated on first use */
    bool rb_failed;
    uint64_t rb_inflight;         /* writes counted in rb[].inflight */
    /* zoned: config bytes 72..95 as read, the zone model, requests in flight */
    uint8_t zc[VS_BLK_CFG_SIZE_ZONED - VS_BLK_CFG_ZONE_SECTORS];
    bool zc_known[VS_BLK_CFG_SIZE_ZONED - VS_BLK_CFG_ZONE_SECTORS];
    bool z_model_pre_known;       /* zoned.model read before FEATURES_OK */
    uint8_t z_model_pre;
    uint32_t seg_max, size_max;
    uint8_t segs_known;           /* bit 0 seg_max, bit 1 size_max */
    mzone *zn;
    uint64_t nz, zs;
    uint64_t z_seq;               /* zoned requests made available */
    uint32_t z_live;              /* zoned requests outstanding */
    bool z_fill_known;
    uint8_t z_fill;
    bool se_align_known;
    uint32_t se_align;
    /* driver role (blk_drvck.c) */
    uint8_t status_prev;          /* status as last written (transitions) */
    uint32_t dwz_max[3];          /* max_discard_seg, max_secure_erase_seg,
                                     max_write_zeroes_seg as read */
    uint8_t dwz_max_known;        /* bit i: dwz_max[i] read */
    bool zf_discard_judged;       /* HM + DISCARD judged since the reset */
    bool hm_fok;                  /* FEATURES_OK set with ZONED for a host-managed model */
    bool cap_pending;             /* a config interrupt the driver has not read capacity
                                     since */
    int wb;                       /* writeback as last read or written; -1 unknown */
    uint64_t wr_gen;              /* writes completed that may sit in a writeback cache */
    uint64_t flushed_gen;         /* ... of them covered by a completed FLUSH */
    uint64_t wt_due;              /* writeback switched off with writes up to this unflushed
                                     (0: nothing due) */
} blk_mon;

static inline blk_mon *bm(const vs_monitors *m) { return (blk_mon *)m->dev_state; }

/* zoned config bytes 72..95 as the driver read them */
static inline uint32_t zc32(const vs_monitors *m, uint32_t off)
{
    return vs_le32_get(bm(m)->zc + (off - VS_BLK_CFG_ZONE_SECTORS));
}
static inline bool zc_has(const vs_monitors *m, uint32_t off, uint32_t len)
{
    for (uint32_t i = 0; i < len; i++)
        if (!bm(m)->zc_known[off - VS_BLK_CFG_ZONE_SECTORS + i])
            return false;
    return true;
}
/* the chain's blk state (the record itself is never const memory) */
static inline blk_chain *bc(const chain_rec *c)
{
    return (blk_chain *)mon_chain_dev((chain_rec *)(uintptr_t)c);
}

static inline uint64_t sat_add(uint64_t a, uint64_t b) { return a + b < a ? UINT64_MAX : a + b; }

static inline bool blk_read_only(const vs_monitors *m)
{
    return has(m->offered_known ? m->offered : neg(m), VS_BLK_F_RO);
}

/* Shared between the blk files: one prefix at link time, short names in the source. */
#define chain_sector vs__blkmon_chain_sector
#define dwz_seg vs__blkmon_dwz_seg
#define rb_write_done vs__blkmon_rb_write_done
#define rb_reset vs__blkmon_rb_reset
#define rb_check_read vs__blkmon_rb_check_read
#define blk_on_avail vs__blkmon_blk_on_avail
#define blk_write_done vs__blkmon_blk_write_done
#define wz_completed vs__blkmon_wz_completed
#define wz_check_read vs__blkmon_wz_check_read
#define zoned_neg vs__blkmon_zoned_neg
#define z_ready vs__blkmon_z_ready
#define drv_chain_avail vs__blkmon_drv_chain_avail
#define drv_chain_used vs__blkmon_drv_chain_used
#define drv_config_access vs__blkmon_drv_config_access
#define drv_reset vs__blkmon_drv_reset
#define blk_event vs__blkmon_event
#define blk_finish vs__blkmon_finish
#define z_forget_all vs__blkmon_z_forget_all
#define zone_on_used vs__blkmon_zone_on_used
#define zone_config_read vs__blkmon_zone_config_read
#define blk_config_access vs__blkmon_config_access
#define blk_features_offered vs__blkmon_features_offered
#define blk_features_ok_read vs__blkmon_features_ok_read
#define blk_reset vs__blkmon_reset
#define blk_chain_avail vs__blkmon_chain_avail
#define blk_chain_used vs__blkmon_chain_used
#define blk_chain_retire vs__blkmon_chain_retire

/* blk_readback.c */
const uint8_t *chain_sector(vs_monitors *m, const chain_rec *c, bool writable, uint64_t off,
                            uint8_t buf[VS_BLK_SECTOR]);
/* Segment s of a DISCARD / WRITE_ZEROES / SECURE_ERASE: sectors [*a, *b). */
bool dwz_seg(vs_monitors *m, const chain_rec *c, uint64_t s, uint64_t *a, uint64_t *b);
void rb_write_done(vs_monitors *m, chain_rec *c, bool ok_out);
void rb_reset(vs_monitors *m);
void rb_check_read(vs_monitors *m, const chain_rec *c, bool packed, ctx cx);
void blk_on_avail(vs_monitors *m, chain_rec *c);
void blk_write_done(vs_monitors *m, chain_rec *c);
void wz_completed(vs_monitors *m, chain_rec *c);
void wz_check_read(vs_monitors *m, const chain_rec *c, ctx cx);

/* blk_zoned.c */
bool zoned_neg(const vs_monitors *m);
/* The zone array sized from zone_sectors and capacity as read (false: not yet known). */
bool z_ready(vs_monitors *m);
void z_forget_all(vs_monitors *m);
void zone_on_used(vs_monitors *m, chain_rec *c, uint8_t st, ctx cx);
void zone_config_read(vs_monitors *m, uint32_t off, uint32_t len, uint64_t val);

/* blk_drvck.c: the driver-role rules (hooks called from the files above, and two of the
 * table's own) */
void drv_chain_avail(vs_monitors *m, chain_rec *c, const vs_event *ev);
void drv_chain_used(vs_monitors *m, chain_rec *c, uint8_t st);
void drv_config_access(vs_monitors *m, const vs_event *ev, bool write);
void drv_reset(vs_monitors *m);
void blk_event(vs_monitors *m, const vs_event *ev);
void blk_finish(vs_monitors *m);

/* blk_config.c */
void blk_config_access(vs_monitors *m, const vs_event *ev, bool write);

/* blk_requests.c: the hooks */
void blk_features_offered(vs_monitors *m, uint64_t f);
void blk_features_ok_read(vs_monitors *m, bool set);
void blk_reset(vs_monitors *m);
void blk_chain_avail(vs_monitors *m, qstate *q, chain_rec *c, const vs_event *ev);
void blk_chain_used(vs_monitors *m, qstate *q, chain_rec *c, const vs_event *ev, ctx cx);
void blk_chain_retire(vs_monitors *m, chain_rec *c);

#endif
