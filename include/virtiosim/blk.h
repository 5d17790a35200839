/* Reference virtio-blk device (spec 5.2) and the request format the driver model uses. */
#ifndef VIRTIOSIM_BLK_H
#define VIRTIOSIM_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "virtiosim/device.h"

/* Feature bits (spec 5.2.3). */
enum vs_blk_feature_bit {
    VS_BLK_F_SIZE_MAX = 1,
    VS_BLK_F_SEG_MAX = 2,
    VS_BLK_F_GEOMETRY = 4,
    VS_BLK_F_RO = 5,
    VS_BLK_F_BLK_SIZE = 6,
    VS_BLK_F_FLUSH = 9,
    VS_BLK_F_TOPOLOGY = 10,
    VS_BLK_F_CONFIG_WCE = 11,
    VS_BLK_F_MQ = 12,
    VS_BLK_F_DISCARD = 13,
    VS_BLK_F_WRITE_ZEROES = 14,
    VS_BLK_F_LIFETIME = 15,
    VS_BLK_F_SECURE_ERASE = 16,
    VS_BLK_F_ZONED = 17,
};

enum vs_blk_req_type {
    VS_BLK_T_IN = 0,
    VS_BLK_T_OUT = 1,
    VS_BLK_T_FLUSH = 4,
    VS_BLK_T_GET_ID = 8,
    VS_BLK_T_GET_LIFETIME = 10,
    VS_BLK_T_DISCARD = 11,
    VS_BLK_T_WRITE_ZEROES = 13,
    VS_BLK_T_SECURE_ERASE = 14,
    VS_BLK_T_ZONE_APPEND = 15,    /* zoned (VIRTIO_BLK_F_ZONED) request types */
    VS_BLK_T_ZONE_REPORT = 16,
    VS_BLK_T_ZONE_OPEN = 18,
    VS_BLK_T_ZONE_CLOSE = 20,
    VS_BLK_T_ZONE_FINISH = 22,
    VS_BLK_T_ZONE_RESET = 24,
    VS_BLK_T_ZONE_RESET_ALL = 26,
};

enum vs_blk_status {
    VS_BLK_S_OK = 0,
    VS_BLK_S_IOERR = 1,
    VS_BLK_S_UNSUPP = 2,
    VS_BLK_S_ZONE_INVALID_CMD = 3,     /* zoned status codes (ZONED negotiated) */
    VS_BLK_S_ZONE_UNALIGNED_WP = 4,
    VS_BLK_S_ZONE_OPEN_RESOURCE = 5,
    VS_BLK_S_ZONE_ACTIVE_RESOURCE = 6,
};

/* Zoned models (config zoned.model), zone types and zone states (zone report). */
enum vs_blk_zoned_model { VS_BLK_Z_NONE = 0, VS_BLK_Z_HM = 1, VS_BLK_Z_HA = 2 };
enum vs_blk_zone_type { VS_BLK_ZT_CONV = 1, VS_BLK_ZT_SWR = 2, VS_BLK_ZT_SWP = 3 };
enum vs_blk_zone_state {
    VS_BLK_ZS_NOT_WP = 0,
    VS_BLK_ZS_EMPTY = 1,
    VS_BLK_ZS_IOPEN = 2,
    VS_BLK_ZS_EOPEN = 3,
    VS_BLK_ZS_CLOSED = 4,
    VS_BLK_ZS_RDONLY = 13,
    VS_BLK_ZS_FULL = 14,
    VS_BLK_ZS_OFFLINE = 15,
};
/* Zone report: 64-byte header {le64 nr_zones, 56 reserved}, then 64-byte descriptors
 * {le64 z_cap, le64 z_start, le64 z_wp, u8 z_type, u8 z_state, 38 reserved}. */
#define VS_BLK_ZONE_REPORT_HDR 64u
#define VS_BLK_ZONE_DESC 64u
/* ZONE_APPEND: the writable part is {le64 append_sector, u8 status}. */
#define VS_BLK_APPEND_IN 9u

#define VS_BLK_SECTOR 512u
#define VS_BLK_ID_BYTES 20u
#define VS_BLK_F_DWZ_UNMAP 1u   /* discard/write-zeroes segment flag */

/* ------------------------------------------------------------------ wire format
 * The one codec of virtio-blk (model/dev/blk/blk_codec.c): the reference device, the
 * driver model, the monitors and the fuzzers all encode and decode through it. */

/* Request header (device-readable, 16 bytes): le32 type, le32 reserved (ioprio),
 * le64 sector. */
#define VS_BLK_HDR_BYTES 16u
typedef struct vs_blk_req_hdr {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
} vs_blk_req_hdr;

/* DISCARD / WRITE_ZEROES / SECURE_ERASE segment (16 bytes): le64 sector,
 * le32 num_sectors, le32 flags (bit 0 UNMAP, the rest reserved). */
#define VS_BLK_DWZ_SEG_BYTES 16u
typedef struct vs_blk_dwz_seg {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;
} vs_blk_dwz_seg;

/* One zone descriptor of a ZONE_REPORT (VS_BLK_ZONE_DESC bytes). */
typedef struct vs_blk_zone_desc {
    uint64_t z_cap, z_start, z_wp;
    uint8_t z_type, z_state;
} vs_blk_zone_desc;

void vs_blk_hdr_get(const uint8_t *p, vs_blk_req_hdr *h);
void vs_blk_hdr_put(uint8_t *p, const vs_blk_req_hdr *h);
void vs_blk_dwz_get(const uint8_t *p, vs_blk_dwz_seg *s);
void vs_blk_dwz_put(uint8_t *p, const vs_blk_dwz_seg *s);
/* Zone report: the header's nr_zones, and descriptor i (0-based, after the header). */
uint64_t vs_blk_zone_report_nr(const uint8_t *report);
void vs_blk_zone_report_nr_put(uint8_t *report, uint64_t nr_zones);
void vs_blk_zone_desc_get(const uint8_t *p, vs_blk_zone_desc *z);
void vs_blk_zone_desc_put(uint8_t *p, const vs_blk_zone_desc *z);

/* Config space layout offsets (spec 5.2.4). */
enum vs_blk_cfg_off {
    VS_BLK_CFG_CAPACITY = 0,          /* le64 */
    VS_BLK_CFG_SIZE_MAX = 8,          /* le32 */
    VS_BLK_CFG_SEG_MAX = 12,          /* le32 */
    VS_BLK_CFG_CYLINDERS = 16,        /* le16 */
    VS_BLK_CFG_HEADS = 18,            /* u8 */
    VS_BLK_CFG_SECTORS = 19,          /* u8 */
    VS_BLK_CFG_BLK_SIZE = 20,         /* le32 */
    VS_BLK_CFG_PHYS_BLOCK_EXP = 24,   /* u8 */
    VS_BLK_CFG_ALIGN_OFFSET = 25,     /* u8 */
    VS_BLK_CFG_MIN_IO_SIZE = 26,      /* le16 */
    VS_BLK_CFG_OPT_IO_SIZE = 28,      /* le32 */
    VS_BLK_CFG_WRITEBACK = 32,        /* u8 */
    VS_BLK_CFG_NUM_QUEUES = 34,       /* le16 */
    VS_BLK_CFG_MAX_DISCARD_SECTORS = 36,
    VS_BLK_CFG_MAX_DISCARD_SEG = 40,
    VS_BLK_CFG_DISCARD_SECTOR_ALIGN = 44,
    VS_BLK_CFG_MAX_WZ_SECTORS = 48,
    VS_BLK_CFG_MAX_WZ_SEG = 52,
    VS_BLK_CFG_WZ_MAY_UNMAP = 56,     /* u8 */
    VS_BLK_CFG_SIZE = 60,             /* bytes of config without ZONED (up to unused1) */
    VS_BLK_CFG_MAX_SE_SECTORS = 60,   /* le32; secure erase (SECURE_ERASE offered) */
    VS_BLK_CFG_MAX_SE_SEG = 64,       /* le32 */
    VS_BLK_CFG_SE_SECTOR_ALIGN = 68,  /* le32 */
    VS_BLK_CFG_SIZE_SE = 72,          /* bytes of config with SECURE_ERASE, without ZONED */
    VS_BLK_CFG_ZONE_SECTORS = 72,     /* le32; zoned struct (60..71: secure erase, 0) */
    VS_BLK_CFG_MAX_OPEN_ZONES = 76,   /* le32 */
    VS_BLK_CFG_MAX_ACTIVE_ZONES = 80, /* le32 */
    VS_BLK_CFG_MAX_APPEND_SECTORS = 84, /* le32 */
    VS_BLK_CFG_WRITE_GRANULARITY = 88,  /* le32, bytes */
    VS_BLK_CFG_ZONED_MODEL = 92,      /* u8; then unused2[3] */
    VS_BLK_CFG_SIZE_ZONED = 96,       /* bytes of config when ZONED is offered */
};

/* The config fields each feature bit makes present (spec 5.2.4), in offset order;
 * capacity is always there (feature -1). One table for the driver model (what it may read
 * before FEATURES_OK) and the monitors (accesses to fields of features not offered). */
typedef struct vs_blk_cfg_group {
    uint32_t off, len;
    int feature;
} vs_blk_cfg_group;
extern const vs_blk_cfg_group vs_blk_cfg_groups[];
extern const unsigned vs_blk_cfg_ngroups;

/* Config fields by the names scenarios use (`expect: config:` and friends), padding
 * included (unused0/1/2 must read 0). */
typedef struct vs_blk_cfg_field {
    const char *name;
    uint32_t off, len;
} vs_blk_cfg_field;
extern const vs_blk_cfg_field vs_blk_cfg_fields[];
extern const unsigned vs_blk_cfg_nfields;
const vs_blk_cfg_field *vs_blk_cfg_field_find(const char *name);

/* Deliberate bugs of the blk device, for mutant tests. */
enum vs_blk_mutation {
    VS_BLK_MUT_BAD_STATUS = 1u << 0,        /* status byte 7 on success */
    VS_BLK_MUT_IN_LEN_SHORT = 1u << 1,      /* used.len omits the status byte */
    VS_BLK_MUT_WRITES_READONLY = 1u << 2,   /* scribbles on the request header */
    VS_BLK_MUT_ACCEPT_RO_WRITE = 1u << 3,   /* OUT succeeds on a read-only device */
    VS_BLK_MUT_RO_WRITES_DATA = 1u << 24,   /* OUT on a read-only device writes the data,
                                               then reports IOERR (high bit: merges) */
    VS_BLK_MUT_HEADER_ONE_DESC = 1u << 25,  /* a request header not in one descriptor is a
                                               device error (depends on framing) */
    VS_BLK_MUT_DISCARD_UNMAP_OK = 1u << 26, /* DISCARD with the UNMAP flag completes OK */
    VS_BLK_MUT_ACCEPTS_BAD_FEATURES = 1u << 4, /* FEATURES_OK for un-offered bits */
    VS_BLK_MUT_NO_VERSION_1 = 1u << 5,      /* VIRTIO_F_VERSION_1 not offered (nor required) */
    VS_BLK_MUT_WCE_WITHOUT_FLUSH = 1u << 6, /* offers CONFIG_WCE but not FLUSH */
    VS_BLK_MUT_OFFERS_LEGACY_BIT = 1u << 7, /* offers VIRTIO_F_ANY_LAYOUT (legacy only) */
    VS_BLK_MUT_WCE_NOT_CLEARED = 1u << 8,   /* CONFIG_WCE without FLUSH keeps writeback 1 */
    VS_BLK_MUT_PADDING_NONZERO = 1u << 9,   /* config padding byte unused0 reads 0xff */
    VS_BLK_MUT_DWZ_FLAGS_IGNORED = 1u << 10, /* unknown DWZ flags / discard UNMAP accepted */
    VS_BLK_MUT_ZONE_IOERR = 1u << 11,       /* zone requests without ZONED get IOERR */
    VS_BLK_MUT_OFFERS_SR_IOV = 1u << 12,    /* offers VIRTIO_F_SR_IOV (no SR-IOV capability) */
    VS_BLK_MUT_WZ_KEEPS_DATA = 1u << 13,    /* WRITE_ZEROES completes OK, data left as it was */
    VS_BLK_MUT_LIFETIME_RESERVED = 1u << 14, /* GET_LIFETIME pre_eol_info 4 (reserved) */
};
#define VS_BLK_LIFETIME_BYTES 6u  /* le16 pre_eol_info, le16 estimate A, le16 estimate B */

/* Deliberate bugs of the zoned mode, one at a time (vs_blk_opts.zoned_mutation): a value,
 * not flags, because each zoned mutant breaks exactly one rule. */
enum vs_blk_zoned_mutation {
    VS_BLK_ZMUT_NONE = 0,
    VS_BLK_ZMUT_HM_ACCEPTS_UNZONED,  /* host-managed: FEATURES_OK without ZONED */
    VS_BLK_ZMUT_UNUSED2_NONZERO,     /* zoned.unused2[0] reads 0xff */
    VS_BLK_ZMUT_APPEND_OVER_SEGS,    /* max_append_sectors > seg_max * size_max / 512 */
    VS_BLK_ZMUT_ZONE_SIZE_LIES,      /* config zone_sectors is half the real zone size */
    VS_BLK_ZMUT_MODEL_LIES,          /* host-managed zones, config model says host-aware */
    VS_BLK_ZMUT_MGMT_CONV_OK,        /* open/close/finish/reset of a conventional zone: OK */
    VS_BLK_ZMUT_OPEN_FULL_OK,        /* ZONE_OPEN of a full zone: OK, zone stays full */
    VS_BLK_ZMUT_CLOSE_EMPTY_OK,      /* ZONE_CLOSE of an empty zone: OK */
    VS_BLK_ZMUT_FINISH_RDONLY_OK,    /* ZONE_FINISH of a read-only zone: OK */
    VS_BLK_ZMUT_RESET_RDONLY_OK,     /* ZONE_RESET of a read-only zone: OK */
    VS_BLK_ZMUT_OPEN_NO_LIMITS,      /* explicit open ignores max_open / max_active */
    VS_BLK_ZMUT_IMPLICIT_NO_LIMITS,  /* implicit open (write, append) ignores the limits */
    VS_BLK_ZMUT_OPEN_LIMIT_LOW,      /* enforces max_open_zones - 1 */
    VS_BLK_ZMUT_ACTIVE_LIMIT_LOW,    /* enforces max_active_zones - 1 */
    VS_BLK_ZMUT_APPEND_CONV_OK,      /* ZONE_APPEND to a conventional zone writes, OK */
    VS_BLK_ZMUT_APPEND_MID_ZONE,     /* ZONE_APPEND sector need not be the zone start */
    VS_BLK_ZMUT_NO_CAPACITY_CHECK,   /* writes may run past the zone capacity (to its end) */
    VS_BLK_ZMUT_APPEND_ZERO_MAX_INVALID, /* max_append_sectors 0: append gets INVALID_CMD */
    VS_BLK_ZMUT_APPEND_NO_MAX,       /* appends beyond max_append_sectors succeed */
    VS_BLK_ZMUT_READ_SPANS_OK,       /* reads may cross from a SWR zone into the next */
    VS_BLK_ZMUT_WRITE_ANYWHERE,      /* SWR writes away from the write pointer succeed */
    VS_BLK_ZMUT_RDONLY_WRITE_OK,     /* writes to a read-only zone succeed */
    VS_BLK_ZMUT_OFFLINE_READ_OK,     /* reads of an offline zone succeed */
    VS_BLK_ZMUT_APPEND_SECTOR_WRONG, /* append_sector is one past the first sector written */
    VS_BLK_ZMUT_RESET_KEEPS_DATA,    /* ZONE_RESET leaves the old data readable */
    VS_BLK_ZMUT_GRANULARITY_IGNORED, /* write_granularity not enforced (512 is) */
    VS_BLK_ZMUT_APPEND_MAX_HALF,     /* appends above half of max_append_sectors fail */
    VS_BLK_ZMUT_SE_ALIGN_NOT_ZONE,   /* secure_erase_sector_alignment 1, not zone_sectors */
    VS_BLK_ZMUT_SE_PARTIAL_OK,       /* secure erase of part of a zone: OK */
    VS_BLK_ZMUT_SE_NO_ZONE_RESET,    /* secure erase zeroes data, zones keep their state */
    VS_BLK_ZMUT_DECLINED_KEEPS_FIELDS, /* host-aware, ZONED declined: zoned fields not zeroed */
    VS_BLK_ZMUT_SE_MISALIGNED_OK,    /* secure erase starting inside a zone: OK */
};

/* Zoned mode (VIRTIO_BLK_F_ZONED). Zones of zone_sectors each (the last may be smaller);
 * the first conventional_zones are conventional, the others sequential-write-required
 * (host-managed) or sequential-write-preferred (host-aware). */
typedef struct vs_blk_zoned_opts {
    bool on;                     /* offer VIRTIO_BLK_F_ZONED */
    uint8_t model;               /* enum vs_blk_zoned_model */
    uint32_t zone_sectors;       /* required when on */
    uint32_t zone_capacity;      /* writable sectors per sequential zone; 0 = zone size */
    uint32_t conventional_zones;
    uint32_t max_open_zones, max_active_zones; /* 0 = no limit */
    uint32_t max_append_sectors; /* 0 = ZONE_APPEND not supported */
    uint32_t write_granularity;  /* bytes; 0 = 512 */
    uint64_t read_only_zones, offline_zones; /* bit i: zone i starts read-only / offline */
    bool offer_discard;          /* keep DISCARD offered (when discard is on): a driver must
                                    decline it for a host-managed model */
} vs_blk_zoned_opts;

typedef struct vs_blk_opts {
    uint64_t capacity_sectors;   /* 512-byte sectors; 0 with image_path = image size */
    const char *image_path;      /* raw image (pread/pwrite); NULL = RAM */
    bool create_image;           /* create/extend the file to capacity if needed */
    /* Without image_path: RAM storage of capacity_sectors * 512 bytes the caller owns and
     * keeps until every device using it is destroyed (`serve`'s connections share one
     * disk); NULL = the device's own */
    uint8_t *ram_shared;
    bool read_only;              /* offers VIRTIO_BLK_F_RO, rejects writes */
    uint16_t num_queues;         /* > 1 offers VIRTIO_BLK_F_MQ; 0 = 1 */
    uint32_t queue_size;         /* max queue size; 0 = 256 */
    uint32_t blk_size;           /* 0 = 512 (no BLK_SIZE feature) */
    uint32_t seg_max;            /* 0 = queue_size - 2 */
    uint32_t size_max;           /* 0 = no SIZE_MAX feature */
    bool writeback;              /* CONFIG_WCE initial writeback value (restored on reset) */
    bool flush, discard, write_zeroes, config_wce, topology, geometry;
    bool lifetime;               /* offers VIRTIO_BLK_F_LIFETIME (off by default): GET_LIFETIME
                                    reports pre_eol_info 1 (normal), estimates 0x02 / 0x01 */
    bool secure_erase;           /* offers VIRTIO_BLK_F_SECURE_ERASE (off by default); in
                                    zoned mode it resets whole zones, sizes and alignment are
                                    multiples of zone_sectors */
    uint32_t max_secure_erase_sectors, max_secure_erase_seg; /* 0 = UINT32_MAX, 1 */
    /* 0 = defaults: sectors UINT32_MAX, seg 1, alignment 1. DISCARD start sectors must be
     * multiples of discard_sector_alignment (else IOERR). */
    uint32_t max_discard_sectors, max_discard_seg, discard_sector_alignment;
    uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;
    bool write_zeroes_may_unmap;
    uint64_t extra_features;     /* device-independent bits (>= 24) to offer (EVENT_IDX, ...) */
    const char *serial;          /* GET_ID string, up to 20 bytes (copied); NULL = empty */
    uint32_t mutations;          /* enum vs_blk_mutation */
    vs_blk_zoned_opts zoned;     /* off by default */
    uint32_t zoned_mutation;     /* enum vs_blk_zoned_mutation */
    /* Values reported when GEOMETRY / TOPOLOGY are offered. Geometry all 0 = derived
     * from capacity (16 heads, 63 sectors, cylinders = capacity / 1008, at most 65535). */
    uint16_t cylinders;
    uint8_t heads, sectors;
    uint8_t physical_block_exp, alignment_offset;
    uint16_t min_io_size;        /* in blk_size blocks */
    uint32_t opt_io_size;        /* in blk_size blocks */
} vs_blk_opts;

/* Fills defaults (capacity 2048 sectors, RAM, 1 queue, flush+discard+write_zeroes+
 * config_wce+topology+geometry on, EVENT_IDX|INDIRECT_DESC|RING_PACKED offered). */
void vs_blk_opts_default(vs_blk_opts *o);

/* Creates the device (behaviour decisions are listed at the top of model/dev/blk/blk.c
 * and blk_zoned.c).
 * Refuses CONFIG_WCE without FLUSH, device-specific bits in extra_features, a serial
 * longer than 20 bytes, blk_size not a power of two >= 512, and an image smaller than
 * the capacity unless create_image (which creates/extends it). gm must outlive the
 * device; the opts strings are not referenced after the call. */
int vs_blk_create(vs_device **out, vs_gmem *gm, const vs_blk_opts *o, vs_err *e);

/* Storage access for tests and scenario verification (bypasses the rings). */
int vs_blk_storage_read(vs_device *d, uint64_t sector, void *buf, uint32_t nsectors,
                        vs_err *e);
/* Writes storage directly (scenario set-up); ignores read_only. */
int vs_blk_storage_write(vs_device *d, uint64_t sector, const void *buf,
                         uint32_t nsectors, vs_err *e);
/* Capacity currently reported in config space (512-byte sectors). */
uint64_t vs_blk_capacity(const vs_device *d);
/* Changes the capacity in config space, as a resize does (1 sector up to the size the
 * device was created with; not in zoned mode). The caller notifies the driver (a config
 * change through the transport). */
int vs_blk_resize(vs_device *d, uint64_t sectors, vs_err *e);

#endif
