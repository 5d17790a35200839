/* The model layer's hook table for one device type (private to virtiosim; layer 1).
 *
 * A device plugs into layer 1 with one `const vs_device_class vs_device_classes_<name>`,
 * defined in model/dev/<name>/; the build generates the registry `vs_device_classes[]`
 * from the folders (tools/gen_registry.py), so the core (feature names, PCI checks, the
 * vhost-user front-end, the QEMU transport) learns what it must know about a device
 * without naming it. The reference device itself is reached through `vs_device_ops`
 * (virtiosim/device.h); this table is what the core needs when no reference device is
 * there (a real back-end, a trace, a catalogue entry). Adding a device: sim/dev/README.md. */
#ifndef VS_MODEL_DEVICE_CLASS_H
#define VS_MODEL_DEVICE_CLASS_H

#include <stdbool.h>
#include <stdint.h>

/* One device-specific feature bit and its spec name ("VIRTIO_BLK_F_RO"). */
typedef struct vs_dev_feature {
    unsigned bit;
    const char *name;
} vs_dev_feature;

typedef struct vs_device_class {
    const char *name;              /* "blk": folder name, scenario `device:` kind */
    uint32_t device_id;            /* virtio device id (enum vs_device_id) */
    /* Prefix of its feature names ("VIRTIO_BLK_F_"): tells which device a feature
     * expression of the catalogue belongs to. */
    const char *feature_prefix;
    const vs_dev_feature *features;  /* its bits (< 24 and 42), legacy ones included */
    unsigned nfeatures;
    /* Bytes of device config a vhost-user front-end fetches with GET_CONFIG: what the
     * common back-ends (QEMU 7.2, libvhost-user, qemu-storage-daemon) answer for this
     * device, which may be less than the spec's full structure. */
    uint32_t vhost_config_len;
    /* Queue count in config space, for a back-end that has no GET_QUEUE_NUM: the le16 at
     * num_queues_off, present when feature num_queues_feature is offered (-1: none). */
    int num_queues_feature;
    uint32_t num_queues_off;
    /* num_queues_always: that count is always in config space (num_queues_feature is not
     * consulted); num_queues_extra: queues the device has beyond it (scsi: controlq and
     * eventq before its request queues). */
    bool num_queues_always;
    uint16_t num_queues_extra;
    /* The PCI config-width check compares 16/32-bit reads with byte reads only below this
     * offset, where the multi-byte fields end (0: up to the first 64 bytes). */
    uint32_t pci_wide_fields_end;
    /* PCI class code (class << 16 | subclass << 8 | prog-if) of its virtio-pci function in
     * the in-process PCI model (0: "other", 0xff0000). */
    uint32_t pci_class;
} vs_device_class;

/* The generated registry: every device folder's class, NULL-terminated, by name. */
extern const vs_device_class *const vs_device_classes[];

const vs_device_class *vs_device_class_by_id(uint32_t device_id);  /* NULL: unknown */
const vs_device_class *vs_device_class_by_name(const char *name);  /* NULL: unknown */

#endif
