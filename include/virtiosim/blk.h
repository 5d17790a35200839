/* Reference virtio-blk device (spec 5.2) and the request format the driver model uses. */
#ifndef VIRTIOSIM_BLK_H
#define VIRTIOSIM_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "virtiosim/device.h"

enum vs_blk_req_type {
    VS_BLK_T_IN = 0,
    VS_BLK_T_OUT = 1,
    VS_BLK_T_FLUSH = 4,
    VS_BLK_T_GET_ID = 8,
    VS_BLK_T_GET_LIFETIME = 10,
    VS_BLK_T_DISCARD = 11,
    VS_BLK_T_WRITE_ZEROES = 13,
    VS_BLK_T_SECURE_ERASE = 14,
};

enum vs_blk_status { VS_BLK_S_OK = 0, VS_BLK_S_IOERR = 1, VS_BLK_S_UNSUPP = 2 };

#define VS_BLK_SECTOR 512u
#define VS_BLK_ID_BYTES 20u
#define VS_BLK_F_DWZ_UNMAP 1u   /* discard/write-zeroes segment flag */

/* Request header (out, 16 bytes) and discard/write-zeroes segment (16 bytes), LE. */
typedef struct vs_blk_req_hdr {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
} vs_blk_req_hdr;

typedef struct vs_blk_dwz_seg {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;
} vs_blk_dwz_seg;

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
    VS_BLK_CFG_SIZE = 60,             /* bytes of config we implement (up to unused1) */
};

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
};

typedef struct vs_blk_opts {
    uint64_t capacity_sectors;   /* 512-byte sectors; 0 with image_path = image size */
    const char *image_path;      /* raw image (pread/pwrite); NULL = RAM */
    bool create_image;           /* create/extend the file to capacity if needed */
    bool read_only;              /* offers VIRTIO_BLK_F_RO, rejects writes */
    uint16_t num_queues;         /* > 1 offers VIRTIO_BLK_F_MQ; 0 = 1 */
    uint32_t queue_size;         /* max queue size; 0 = 256 */
    uint32_t blk_size;           /* 0 = 512 (no BLK_SIZE feature) */
    uint32_t seg_max;            /* 0 = queue_size - 2 */
    uint32_t size_max;           /* 0 = no SIZE_MAX feature */
    bool writeback;              /* CONFIG_WCE initial writeback value (restored on reset) */
    bool flush, discard, write_zeroes, config_wce, topology, geometry;
    /* 0 = defaults: sectors UINT32_MAX, seg 1, alignment 1. DISCARD start sectors must be
     * multiples of discard_sector_alignment (else IOERR). */
    uint32_t max_discard_sectors, max_discard_seg, discard_sector_alignment;
    uint32_t max_write_zeroes_sectors, max_write_zeroes_seg;
    bool write_zeroes_may_unmap;
    uint64_t extra_features;     /* device-independent bits (>= 24) to offer (EVENT_IDX, ...) */
    const char *serial;          /* GET_ID string, up to 20 bytes (copied); NULL = empty */
    uint32_t mutations;          /* enum vs_blk_mutation */
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

/* Creates the device (behaviour decisions are listed at the top of model/dev/blk.c).
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

#endif
