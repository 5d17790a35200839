/* Config space and feature negotiation of the reference virtio-blk device (spec 5.2.3,
 * 5.2.4, 5.2.5): what it offers, what it accepts at FEATURES_OK, the config fields each
 * offered feature makes present. */
#include "blk_int.h"

#include <string.h>

#include "virtiosim/le.h"

/* ------------------------------------------------------------- config space */

static uint32_t cfg_size(const blk_dev *b)
{
    return offered(b, VS_BLK_F_ZONED)          ? VS_BLK_CFG_SIZE_ZONED
           : offered(b, VS_BLK_F_SECURE_ERASE) ? VS_BLK_CFG_SIZE_SE
                                               : VS_BLK_CFG_SIZE;
}

static void build_config(const blk_dev *b, uint8_t cfg[VS_BLK_CFG_SIZE_ZONED])
{
    memset(cfg, 0, VS_BLK_CFG_SIZE_ZONED);
    if (vs__blkdev_zoned_cfg_visible(b))
        vs__blkdev_build_zoned_config(b, cfg);
    vs_le64_put(cfg + VS_BLK_CFG_CAPACITY, b->capacity);
    if (offered(b, VS_BLK_F_SIZE_MAX))
        vs_le32_put(cfg + VS_BLK_CFG_SIZE_MAX, b->o.size_max);
    if (offered(b, VS_BLK_F_SEG_MAX))
        vs_le32_put(cfg + VS_BLK_CFG_SEG_MAX, b->o.seg_max);
    if (offered(b, VS_BLK_F_GEOMETRY)) {
        vs_le16_put(cfg + VS_BLK_CFG_CYLINDERS, b->o.cylinders);
        cfg[VS_BLK_CFG_HEADS] = b->o.heads;
        cfg[VS_BLK_CFG_SECTORS] = b->o.sectors;
    }
    if (offered(b, VS_BLK_F_BLK_SIZE))
        vs_le32_put(cfg + VS_BLK_CFG_BLK_SIZE, b->o.blk_size);
    if (offered(b, VS_BLK_F_TOPOLOGY)) {
        cfg[VS_BLK_CFG_PHYS_BLOCK_EXP] = b->o.physical_block_exp;
        cfg[VS_BLK_CFG_ALIGN_OFFSET] = b->o.alignment_offset;
        vs_le16_put(cfg + VS_BLK_CFG_MIN_IO_SIZE, b->o.min_io_size);
        vs_le32_put(cfg + VS_BLK_CFG_OPT_IO_SIZE, b->o.opt_io_size);
    }
    if (offered(b, VS_BLK_F_CONFIG_WCE))
        cfg[VS_BLK_CFG_WRITEBACK] = b->writeback;
    if (offered(b, VS_BLK_F_MQ))
        vs_le16_put(cfg + VS_BLK_CFG_NUM_QUEUES, b->o.num_queues);
    if (offered(b, VS_BLK_F_DISCARD)) {
        vs_le32_put(cfg + VS_BLK_CFG_MAX_DISCARD_SECTORS, b->o.max_discard_sectors);
        vs_le32_put(cfg + VS_BLK_CFG_MAX_DISCARD_SEG, b->o.max_discard_seg);
        vs_le32_put(cfg + VS_BLK_CFG_DISCARD_SECTOR_ALIGN, b->o.discard_sector_alignment);
    }
    if (offered(b, VS_BLK_F_WRITE_ZEROES)) {
        vs_le32_put(cfg + VS_BLK_CFG_MAX_WZ_SECTORS, b->o.max_write_zeroes_sectors);
        vs_le32_put(cfg + VS_BLK_CFG_MAX_WZ_SEG, b->o.max_write_zeroes_seg);
        cfg[VS_BLK_CFG_WZ_MAY_UNMAP] = b->o.write_zeroes_may_unmap ? 1 : 0;
    }
    if (offered(b, VS_BLK_F_SECURE_ERASE)) {
        vs_le32_put(cfg + VS_BLK_CFG_MAX_SE_SECTORS, b->o.max_secure_erase_sectors);
        vs_le32_put(cfg + VS_BLK_CFG_MAX_SE_SEG, b->o.max_secure_erase_seg);
        vs_le32_put(cfg + VS_BLK_CFG_SE_SECTOR_ALIGN,
                 zmut(b, VS_BLK_ZMUT_SE_ALIGN_NOT_ZONE) ? 1 : se_align(b));
    }
    if (b->dev.mutations & VS_BLK_MUT_PADDING_NONZERO)
        cfg[VS_BLK_CFG_WRITEBACK + 1] = 0xff; /* mutant: garbage in unused0 */
}

static int cfg_range(const blk_dev *b, uint32_t off, uint32_t len, const void *buf,
                     const char *op, vs_err *e)
{
    if ((uint64_t)off + len > cfg_size(b))
        return vs_err_set(e, VS_ERANGE, "blk: config %s [%u, +%u) outside %u-byte config space",
                          op, off, len, cfg_size(b));
    if (len && !buf)
        return vs_err_set(e, VS_EINVAL, "blk: config %s with NULL buffer", op);
    return 0;
}

int vs__blkdev_config_read(vs_device *d, uint32_t off, void *buf, uint32_t len, vs_err *e)
{
    int rc = cfg_range(to_blk(d), off, len, buf, "read", e);
    if (rc < 0 || len == 0)
        return rc;
    uint8_t cfg[VS_BLK_CFG_SIZE_ZONED];
    build_config(to_blk(d), cfg);
    memcpy(buf, cfg + off, len);
    return 0;
}

int vs__blkdev_config_write(vs_device *d, uint32_t off, const void *buf, uint32_t len,
                            vs_err *e)
{
    blk_dev *b = to_blk(d);
    int rc = cfg_range(b, off, len, buf, "write", e);
    if (rc < 0 || len == 0)
        return rc;
    if (off <= VS_BLK_CFG_WRITEBACK && VS_BLK_CFG_WRITEBACK < off + len &&
        neg(b, VS_BLK_F_CONFIG_WCE)) {
        uint8_t v = ((const uint8_t *)buf)[VS_BLK_CFG_WRITEBACK - off];
        if (v <= 1)
            b->writeback = v;
    }
    return 0;
}

uint32_t vs__blkdev_config_size(vs_device *d) { return cfg_size(to_blk(d)); }

/* ------------------------------------------------------------------ features */

/* What a device created with options o offers (o normalised by vs_blk_create). */
uint64_t vs__blkdev_features_for(const vs_blk_opts *o)
{
    uint64_t f = VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_BLK_F_SEG_MAX) | o->extra_features;
    if (o->size_max)
        f |= VS_BIT(VS_BLK_F_SIZE_MAX);
    if (o->geometry)
        f |= VS_BIT(VS_BLK_F_GEOMETRY);
    if (o->read_only)
        f |= VS_BIT(VS_BLK_F_RO);
    if (o->blk_size)
        f |= VS_BIT(VS_BLK_F_BLK_SIZE);
    if (o->flush)
        f |= VS_BIT(VS_BLK_F_FLUSH);
    if (o->topology)
        f |= VS_BIT(VS_BLK_F_TOPOLOGY);
    if (o->config_wce)
        f |= VS_BIT(VS_BLK_F_CONFIG_WCE);
    if (o->num_queues > 1)
        f |= VS_BIT(VS_BLK_F_MQ);
    if (o->discard)
        f |= VS_BIT(VS_BLK_F_DISCARD);
    if (o->write_zeroes)
        f |= VS_BIT(VS_BLK_F_WRITE_ZEROES);
    if (o->secure_erase)
        f |= VS_BIT(VS_BLK_F_SECURE_ERASE);
    if (o->lifetime)
        f |= VS_BIT(VS_BLK_F_LIFETIME);
    if (o->zoned.on) /* DISCARD / WRITE_ZEROES are not offered in zoned mode (unless asked) */
        f = (f | VS_BIT(VS_BLK_F_ZONED)) &
            ~((o->zoned.offer_discard ? 0 : VS_BIT(VS_BLK_F_DISCARD)) |
              VS_BIT(VS_BLK_F_WRITE_ZEROES));
    /* Mutants: deliberately wrong offers. */
    if (o->mutations & VS_BLK_MUT_NO_VERSION_1)
        f &= ~VS_BIT(VS_F_VERSION_1);
    if ((o->mutations & VS_BLK_MUT_WCE_WITHOUT_FLUSH) && o->config_wce)
        f &= ~VS_BIT(VS_BLK_F_FLUSH);
    if (o->mutations & VS_BLK_MUT_OFFERS_LEGACY_BIT)
        f |= VS_BIT(27); /* VIRTIO_F_ANY_LAYOUT: legacy interface only */
    if (o->mutations & VS_BLK_MUT_OFFERS_SR_IOV)
        f |= VS_BIT(VS_F_SR_IOV); /* neither transport has an SR-IOV capability */
    return f;
}

uint64_t vs__blkdev_device_features(vs_device *d) { return to_blk(d)->features; }

int vs__blkdev_accept_features(vs_device *d, uint64_t f, vs_err *e)
{
    blk_dev *b = to_blk(d);
    if (!(d->mutations & VS_BLK_MUT_ACCEPTS_BAD_FEATURES)) {
        uint64_t bad = f & ~b->features;
        if (bad)
            return vs_err_set(e, VS_ENOTSUP,
                              "blk: driver accepted features the device did not offer: "
                              "0x%016llx (offered 0x%016llx)",
                              (unsigned long long)bad, (unsigned long long)b->features);
        if (!(f & VS_BIT(VS_F_VERSION_1)) && !(d->mutations & VS_BLK_MUT_NO_VERSION_1))
            return vs_err_set(e, VS_ENOTSUP,
                              "blk: driver did not accept VIRTIO_F_VERSION_1 (legacy "
                              "interface not supported)");
    }
    /* A host-managed zoned device cannot work for a driver that declines ZONED. */
    if (offered(b, VS_BLK_F_ZONED) && b->o.zoned.model == VS_BLK_Z_HM &&
        !(f & VS_BIT(VS_BLK_F_ZONED)) && !zmut(b, VS_BLK_ZMUT_HM_ACCEPTS_UNZONED))
        return vs_err_set(e, VS_ENOTSUP,
                          "blk: host-managed zoned device: the driver declined "
                          "VIRTIO_BLK_F_ZONED");
    b->features_accepted = true;
    /* Spec 5.2.5: CONFIG_WCE without FLUSH => writeback initialised to 0. */
    if ((f & VS_BIT(VS_BLK_F_CONFIG_WCE)) && !(f & VS_BIT(VS_BLK_F_FLUSH)) &&
        !(d->mutations & VS_BLK_MUT_WCE_NOT_CLEARED)) /* mutant: forgets this */
        b->writeback = 0;
    return 0;
}
