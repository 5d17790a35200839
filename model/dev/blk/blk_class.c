/* What the core of layer 1 knows about virtio-blk (model/device_class.h): its feature
 * names, and how a vhost-user front-end and the PCI checks see its config space. */
#include "model/device_class.h"
#include "virtiosim/blk.h"
#include "virtiosim/virtio.h"

static const vs_dev_feature blk_features[] = {
    {0, "VIRTIO_BLK_F_BARRIER"}, /* legacy */
    {VS_BLK_F_SIZE_MAX, "VIRTIO_BLK_F_SIZE_MAX"},
    {VS_BLK_F_SEG_MAX, "VIRTIO_BLK_F_SEG_MAX"},
    {VS_BLK_F_GEOMETRY, "VIRTIO_BLK_F_GEOMETRY"},
    {VS_BLK_F_RO, "VIRTIO_BLK_F_RO"},
    {VS_BLK_F_BLK_SIZE, "VIRTIO_BLK_F_BLK_SIZE"},
    {7, "VIRTIO_BLK_F_SCSI"}, /* legacy */
    {VS_BLK_F_FLUSH, "VIRTIO_BLK_F_FLUSH"},
    {VS_BLK_F_TOPOLOGY, "VIRTIO_BLK_F_TOPOLOGY"},
    {VS_BLK_F_CONFIG_WCE, "VIRTIO_BLK_F_CONFIG_WCE"},
    {VS_BLK_F_MQ, "VIRTIO_BLK_F_MQ"},
    {VS_BLK_F_DISCARD, "VIRTIO_BLK_F_DISCARD"},
    {VS_BLK_F_WRITE_ZEROES, "VIRTIO_BLK_F_WRITE_ZEROES"},
    {VS_BLK_F_LIFETIME, "VIRTIO_BLK_F_LIFETIME"},
    {VS_BLK_F_SECURE_ERASE, "VIRTIO_BLK_F_SECURE_ERASE"},
    {VS_BLK_F_ZONED, "VIRTIO_BLK_F_ZONED"},
};

/* The codec's named fields (blk_codec.c), one at a time. */
static const char *blk_cfg_field(unsigned i, uint32_t *off, uint32_t *len)
{
    if (i >= vs_blk_cfg_nfields)
        return NULL;
    *off = vs_blk_cfg_fields[i].off;
    *len = vs_blk_cfg_fields[i].len;
    return vs_blk_cfg_fields[i].name;
}

const vs_device_class vs_device_classes_blk = {
    .name = "blk",
    .device_id = VS_DEV_BLK,
    .feature_prefix = "VIRTIO_BLK_F_",
    .features = blk_features,
    .nfeatures = sizeof blk_features / sizeof blk_features[0],
    /* struct virtio_blk_config through unused1[3]: QEMU 7.2's vhost-user-blk and
     * libvhost-user back-ends (qemu-storage-daemon) accept exactly this size */
    .vhost_config_len = VS_BLK_CFG_SIZE,
    .num_queues_feature = VS_BLK_F_MQ,
    .num_queues_off = VS_BLK_CFG_NUM_QUEUES,
    /* max_write_zeroes_seg is the last multi-byte field; u8 fields and padding follow */
    .pci_wide_fields_end = VS_BLK_CFG_WZ_MAY_UNMAP,
    .pci_class = 0x010000, /* mass storage, SCSI (as QEMU's virtio-blk-pci) */
    .cfg_field = blk_cfg_field,
};
