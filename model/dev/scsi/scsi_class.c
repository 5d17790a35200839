/* What the core of layer 1 knows about virtio-scsi (model/device_class.h): its feature
 * names, and how a vhost-user front-end and the PCI checks see its config space. */
#include "model/device_class.h"
#include "virtiosim/scsi.h"
#include "virtiosim/virtio.h"

static const vs_dev_feature scsi_features[] = {
    {VS_SCSI_F_INOUT, "VIRTIO_SCSI_F_INOUT"},
    {VS_SCSI_F_HOTPLUG, "VIRTIO_SCSI_F_HOTPLUG"},
    {VS_SCSI_F_CHANGE, "VIRTIO_SCSI_F_CHANGE"},
    {VS_SCSI_F_T10_PI, "VIRTIO_SCSI_F_T10_PI"},
};

const vs_device_class vs_device_classes_scsi = {
    .name = "scsi",
    .device_id = VS_DEV_SCSI,
    .feature_prefix = "VIRTIO_SCSI_F_",
    .features = scsi_features,
    .nfeatures = sizeof scsi_features / sizeof scsi_features[0],
    /* struct virtio_scsi_config: every field always present */
    .vhost_config_len = VS_SCSI_CFG_SIZE,
    /* num_queues counts the request queues only (always present; its low 16 bits are
     * read): the device has controlq and eventq before them */
    .num_queues_feature = -1,
    .num_queues_off = VS_SCSI_CFG_NUM_QUEUES,
    .num_queues_always = true,
    .num_queues_extra = 2,
    .pci_wide_fields_end = VS_SCSI_CFG_SIZE, /* every field is le16 or le32 */
    .pci_class = 0x010000, /* mass storage, SCSI (as QEMU's virtio-scsi-pci) */
};
