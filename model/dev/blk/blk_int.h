/* Internals of the reference virtio-blk device, shared by its files:
 *   blk.c         requests (IN, OUT, FLUSH, GET_ID, GET_LIFETIME, DISCARD / WRITE_ZEROES /
 *                 SECURE_ERASE), storage, chain access, creation, the vs_device_ops table;
 *   blk_zoned.c   the zoned model (zone states, zone requests, zoned config fields);
 *   blk_config.c  config space and feature negotiation.
 * The decisions the device makes are listed at the top of blk.c and blk_zoned.c. */
#ifndef VS_MODEL_DEV_BLK_INT_H
#define VS_MODEL_DEV_BLK_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtiosim/blk.h"
#include "virtiosim/virtio.h"

#define BLK_BOUNCE (64u * 1024u)
#define BLK_STATUS_BAD 7u

typedef struct blk_zone {
    uint8_t type, state;     /* enum vs_blk_zone_type / vs_blk_zone_state */
    uint64_t wp;             /* write pointer (sector) */
} blk_zone;

typedef struct blk_dev {
    vs_device dev;           /* first: vs_device* <-> blk_dev* */
    vs_blk_opts o;           /* normalised copy (serial/image_path not owned) */
    char serial[VS_BLK_ID_BYTES];
    uint64_t capacity;       /* sectors */
    uint64_t features;       /* offered */
    uint8_t writeback;
    uint8_t writeback_init;
    uint8_t *ram;            /* RAM storage (anonymous mapping), or NULL */
    size_t ram_bytes;
    bool ram_borrowed;       /* ram is o.ram_shared: the caller unmaps it */
    int fd;                  /* file storage, or -1 */
    uint8_t *bounce;         /* BLK_BOUNCE bytes */
    bool features_accepted;  /* FEATURES_OK accepted since the last reset */
    blk_zone *zones;         /* zoned mode: nzones zones of zs sectors, else NULL */
    uint64_t nzones;
    uint64_t zs;
} blk_dev;

/* One parsed request. */
typedef struct blk_req {
    const vs_chain *c;
    uint32_t type;
    uint64_t sector;
    uint64_t out_bytes;  /* readable total */
    uint64_t in_bytes;   /* writable total, >= 1 */
} blk_req;

static inline blk_dev *to_blk(vs_device *d) { return (blk_dev *)d; }
static inline const blk_dev *to_cblk(const vs_device *d) { return (const blk_dev *)d; }

static inline bool neg(const blk_dev *b, unsigned bit)
{
    return (b->dev.driver_features & VS_BIT(bit)) != 0;
}
static inline bool offered(const blk_dev *b, unsigned bit)
{
    return (b->features & VS_BIT(bit)) != 0;
}

static inline int range_ok(const blk_dev *b, uint64_t sector, uint64_t nsec)
{
    return sector <= b->capacity && nsec <= b->capacity - sector;
}

static inline uint8_t io_status(int rc) { return rc < 0 ? VS_BLK_S_IOERR : VS_BLK_S_OK; }

static inline bool zmut(const blk_dev *b, enum vs_blk_zoned_mutation m)
{
    return b->o.zoned_mutation == m;
}

/* Zoned mode active: zones set up, ZONED negotiated, model HM or HA. */
static inline bool zoned_on(const blk_dev *b)
{
    return b->zones && neg(b, VS_BLK_F_ZONED) && b->o.zoned.model != VS_BLK_Z_NONE;
}

/* Secure erase alignment: whole zones in zoned mode (spec 5.2.6.2), else 1. */
static inline uint32_t se_align(const blk_dev *b)
{
    return b->o.zoned.on ? b->o.zoned.zone_sectors : 1;
}

/* blk.c: storage (host I/O: 0 or -errno) */
int vs__blkdev_st_write(blk_dev *b, uint64_t off, const void *buf, size_t len);
int vs__blkdev_st_zero(blk_dev *b, uint64_t off, uint64_t len, bool unmap);
int vs__blkdev_st_sync(blk_dev *b);
bool vs__blkdev_write_through(const blk_dev *b);
/* blk.c: chain access and completion */
int vs__blkdev_chain_xfer(blk_dev *b, const vs_chain *c, bool writable, uint64_t off,
                          void *buf, uint64_t len, bool to_guest, vs_err *e);
int vs__blkdev_chain_zero(blk_dev *b, const vs_chain *c, uint64_t off, uint64_t len,
                          vs_err *e);
int vs__blkdev_complete(blk_dev *b, const blk_req *r, uint8_t status, uint32_t written,
                        uint32_t *out_written, vs_err *e);
int vs__blkdev_fail_zero(blk_dev *b, const blk_req *r, uint8_t status, uint32_t *w,
                         vs_err *e);
int vs__blkdev_no_data_in(const blk_req *r, const char *what, vs_err *e);

/* blk_zoned.c */
uint8_t vs__blkdev_z_read_check(const blk_dev *b, uint64_t sector, uint64_t nsec);
uint8_t vs__blkdev_z_write_check(const blk_dev *b, uint64_t sector, uint64_t nsec,
                                 bool append, uint64_t *at);
void vs__blkdev_z_written(blk_dev *b, uint64_t at, uint64_t nsec);
int vs__blkdev_z_reset_zone(blk_dev *b, uint64_t i);
int vs__blkdev_req_zone_mgmt(blk_dev *b, const blk_req *r, uint32_t *w, vs_err *e);
int vs__blkdev_req_zone_append(blk_dev *b, const blk_req *r, uint32_t *w, vs_err *e);
int vs__blkdev_req_zone_report(blk_dev *b, const blk_req *r, uint32_t *w, vs_err *e);
int vs__blkdev_zoned_setup(blk_dev *b, vs_err *e);
bool vs__blkdev_zoned_cfg_visible(const blk_dev *b);
void vs__blkdev_build_zoned_config(const blk_dev *b, uint8_t *cfg);

/* blk_config.c */
uint64_t vs__blkdev_features_for(const vs_blk_opts *o);
uint64_t vs__blkdev_device_features(vs_device *d);
int vs__blkdev_accept_features(vs_device *d, uint64_t f, vs_err *e);
uint32_t vs__blkdev_config_size(vs_device *d);
int vs__blkdev_config_read(vs_device *d, uint32_t off, void *buf, uint32_t len, vs_err *e);
int vs__blkdev_config_write(vs_device *d, uint32_t off, const void *buf, uint32_t len,
                            vs_err *e);

#endif
