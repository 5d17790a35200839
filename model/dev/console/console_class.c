/* What the core of layer 1 knows about virtio-console (model/device_class.h). */
#include "model/device_class.h"
#include "virtiosim/console.h"
#include "virtiosim/virtio.h"

static const vs_dev_feature console_features[] = {
    {VS_CONSOLE_F_SIZE, "VIRTIO_CONSOLE_F_SIZE"},
    {VS_CONSOLE_F_MULTIPORT, "VIRTIO_CONSOLE_F_MULTIPORT"},
    {VS_CONSOLE_F_EMERG_WRITE, "VIRTIO_CONSOLE_F_EMERG_WRITE"},
};

const vs_device_class vs_device_classes_console = {
    .name = "console",
    .device_id = VS_DEV_CONSOLE,
    .feature_prefix = "VIRTIO_CONSOLE_F_",
    .features = console_features,
    .nfeatures = sizeof console_features / sizeof console_features[0],
    .vhost_config_len = VS_CONSOLE_CFG_LEN,
    .num_queues_feature = -1,
    .pci_wide_fields_end = VS_CONSOLE_CFG_EMERG_WR,
    .pci_class = 0x078000, /* simple communication controller, other (as QEMU's) */
};
