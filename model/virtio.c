/* Virtio core: feature-bit names and the device status rules (spec "Device Status
 * Field", "Feature Bits", "Device Initialization", "Device Suspend"). */
#include "virtiosim/virtio.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "model/device_class.h"

/* Full spec names; the short form is what follows "_F_". */
typedef vs_dev_feature feat_name;

/* Device-independent bits, including the legacy ones so traces of transitional devices
 * still read well. */
static const feat_name common_feats[] = {
    {24, "VIRTIO_F_NOTIFY_ON_EMPTY"},
    {27, "VIRTIO_F_ANY_LAYOUT"},
    {VS_F_INDIRECT_DESC, "VIRTIO_F_INDIRECT_DESC"},
    {VS_F_EVENT_IDX, "VIRTIO_F_EVENT_IDX"},
    {VS_F_VERSION_1, "VIRTIO_F_VERSION_1"},
    {VS_F_ACCESS_PLATFORM, "VIRTIO_F_ACCESS_PLATFORM"},
    {VS_F_RING_PACKED, "VIRTIO_F_RING_PACKED"},
    {VS_F_IN_ORDER, "VIRTIO_F_IN_ORDER"},
    {VS_F_ORDER_PLATFORM, "VIRTIO_F_ORDER_PLATFORM"},
    {VS_F_SR_IOV, "VIRTIO_F_SR_IOV"},
    {VS_F_NOTIFICATION_DATA, "VIRTIO_F_NOTIFICATION_DATA"},
    {VS_F_NOTIF_CONFIG_DATA, "VIRTIO_F_NOTIF_CONFIG_DATA"},
    {VS_F_RING_RESET, "VIRTIO_F_RING_RESET"},
    {VS_F_ADMIN_VQ, "VIRTIO_F_ADMIN_VQ"},
    {VS_F_SUSPEND, "VIRTIO_F_SUSPEND"},
};

/* Devices that have no model/dev/ folder yet (their slices come with their issues). */
static const feat_name scsi_feats[] = {
    {VS_SCSI_F_INOUT, "VIRTIO_SCSI_F_INOUT"},
    {VS_SCSI_F_HOTPLUG, "VIRTIO_SCSI_F_HOTPLUG"},
    {VS_SCSI_F_CHANGE, "VIRTIO_SCSI_F_CHANGE"},
    {VS_SCSI_F_T10_PI, "VIRTIO_SCSI_F_T10_PI"},
};

static const feat_name console_feats[] = {
    {VS_CONSOLE_F_SIZE, "VIRTIO_CONSOLE_F_SIZE"},
    {VS_CONSOLE_F_MULTIPORT, "VIRTIO_CONSOLE_F_MULTIPORT"},
    {VS_CONSOLE_F_EMERG_WRITE, "VIRTIO_CONSOLE_F_EMERG_WRITE"},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const vs_device_class *vs_device_class_by_id(uint32_t device_id)
{
    for (const vs_device_class *const *c = vs_device_classes; *c; c++)
        if ((*c)->device_id == device_id)
            return *c;
    return NULL;
}

const vs_device_class *vs_device_class_by_name(const char *name)
{
    for (const vs_device_class *const *c = vs_device_classes; name && *c; c++)
        if (strcmp((*c)->name, name) == 0)
            return *c;
    return NULL;
}

static const feat_name *dev_table(uint32_t device_id, size_t *n)
{
    const vs_device_class *c = vs_device_class_by_id(device_id);
    if (c) {
        *n = c->nfeatures;
        return c->features;
    }
    switch (device_id) {
    case VS_DEV_SCSI:
        *n = NELEM(scsi_feats);
        return scsi_feats;
    case VS_DEV_CONSOLE:
        *n = NELEM(console_feats);
        return console_feats;
    default:
        *n = 0;
        return NULL;
    }
}

static const char *short_name(const char *full)
{
    const char *p = strstr(full, "_F_");
    return p ? p + 3 : full;
}

const char *vs_feature_name(uint32_t device_id, unsigned bit)
{
    size_t n;
    const feat_name *t = dev_table(device_id, &n);
    for (size_t i = 0; i < n; i++)
        if (t[i].bit == bit)
            return t[i].name;
    for (size_t i = 0; i < NELEM(common_feats); i++)
        if (common_feats[i].bit == bit)
            return common_feats[i].name;
    return NULL;
}

static int lookup(const feat_name *t, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcasecmp(name, t[i].name) || !strcasecmp(name, short_name(t[i].name)))
            return (int)t[i].bit;
    return -1;
}

int vs_feature_bit(uint32_t device_id, const char *name)
{
    if (!name || !*name)
        return -1;
    size_t n;
    const feat_name *t = dev_table(device_id, &n);
    int bit = lookup(t, n, name);
    if (bit < 0)
        bit = lookup(common_feats, NELEM(common_feats), name);
    if (bit < 0 && !strncasecmp(name, "bit", 3)) {
        /* Round trip of vs_features_format's "bitN" for unnamed bits. */
        unsigned v = 0;
        const char *p = name + 3;
        if (*p < '0' || *p > '9')
            return -1;
        for (; *p >= '0' && *p <= '9'; p++)
            if ((v = v * 10 + (unsigned)(*p - '0')) > 63)
                return -1;
        if (*p == '\0')
            bit = (int)v;
    }
    return bit;
}

/* Appends to buf like snprintf; *pos counts the full length even when truncated. */
static void append(char *buf, size_t len, size_t *pos, const char *s)
{
    size_t n = strlen(s);
    if (*pos < len) {
        size_t room = len - 1 - *pos;
        size_t k = n < room ? n : room;
        memcpy(buf + *pos, s, k);
        buf[*pos + k] = '\0';
    }
    *pos += n;
}

size_t vs_features_format(uint32_t device_id, uint64_t features, char *buf, size_t len)
{
    size_t pos = 0;
    if (buf && len)
        buf[0] = '\0';
    else
        len = 0;
    if (!features) {
        append(buf, len, &pos, "0");
        return pos;
    }
    for (unsigned b = 0; b < 64; b++) {
        if (!(features & VS_BIT(b)))
            continue;
        if (pos)
            append(buf, len, &pos, "|");
        const char *nm = vs_feature_name(device_id, b);
        char tmp[16];
        if (!nm) {
            snprintf(tmp, sizeof tmp, "bit%u", b);
            nm = tmp;
        } else {
            nm = short_name(nm);
        }
        append(buf, len, &pos, nm);
    }
    return pos;
}

/* ------------------------------------------------------------------- status */

/* Initialization order of the four sequence bits (note: not numeric order). */
static const uint8_t init_order[] = {
    VS_STATUS_ACKNOWLEDGE, VS_STATUS_DRIVER, VS_STATUS_FEATURES_OK, VS_STATUS_DRIVER_OK};
#define INIT_BITS                                                                         \
    (VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK | VS_STATUS_DRIVER_OK)

static const struct {
    uint8_t bit;
    const char *name;
} status_names[] = {
    {VS_STATUS_ACKNOWLEDGE, "ACKNOWLEDGE"},
    {VS_STATUS_DRIVER, "DRIVER"},
    {VS_STATUS_FEATURES_OK, "FEATURES_OK"},
    {VS_STATUS_DRIVER_OK, "DRIVER_OK"},
    {VS_STATUS_SUSPEND, "SUSPEND"},
    {VS_STATUS_DEVICE_NEEDS_RESET, "DEVICE_NEEDS_RESET"},
    {VS_STATUS_FAILED, "FAILED"},
};

static const char *status_bit_name(uint8_t bit)
{
    for (size_t i = 0; i < NELEM(status_names); i++)
        if (status_names[i].bit == bit)
            return status_names[i].name;
    return "bit5"; /* 0x20 is the only unnamed status bit */
}

size_t vs_status_format(uint8_t status, char *buf, size_t len)
{
    size_t pos = 0;
    if (buf && len)
        buf[0] = '\0';
    else
        len = 0;
    if (!status) {
        append(buf, len, &pos, "0");
        return pos;
    }
    /* Init order first, so the string reads like the sequence the driver follows. */
    uint8_t left = status;
    for (size_t i = 0; i < NELEM(status_names); i++) {
        if (status & status_names[i].bit) {
            if (pos)
                append(buf, len, &pos, "|");
            append(buf, len, &pos, status_names[i].name);
            left &= (uint8_t)~status_names[i].bit;
        }
    }
    for (unsigned b = 0; b < 8; b++) {
        if (left & (1u << b)) {
            char tmp[8];
            snprintf(tmp, sizeof tmp, "bit%u", b);
            if (pos)
                append(buf, len, &pos, "|");
            append(buf, len, &pos, tmp);
        }
    }
    return pos;
}

#define KNOWN_STATUS                                                                      \
    (INIT_BITS | VS_STATUS_SUSPEND | VS_STATUS_DEVICE_NEEDS_RESET | VS_STATUS_FAILED)

int vs_status_driver_write_ok(uint8_t cur, uint8_t next, vs_err *e)
{
    char cs[96], ns[96];
    if (next == 0)
        return 0; /* reset is always allowed */
    vs_status_format(cur, cs, sizeof cs);
    vs_status_format(next, ns, sizeof ns);
    uint8_t cleared = (uint8_t)(cur & ~next), added = (uint8_t)(next & ~cur);
    if (cleared) {
        char b[96];
        vs_status_format(cleared, b, sizeof b);
        return vs_err_set(e, VS_EPROTO,
                          "status %s -> %s clears %s: a driver clears bits only by writing 0 "
                          "(reset)",
                          cs, ns, b);
    }
    if (added & VS_STATUS_DEVICE_NEEDS_RESET)
        return vs_err_set(e, VS_EPROTO,
                          "status %s -> %s sets DEVICE_NEEDS_RESET, which only the device sets",
                          cs, ns);
    if (added & ~KNOWN_STATUS)
        return vs_err_set(e, VS_EPROTO, "status %s -> %s sets reserved bit 0x%02x", cs, ns,
                          (unsigned)(added & ~KNOWN_STATUS));
    if (added && (cur & VS_STATUS_FAILED))
        return vs_err_set(e, VS_EPROTO,
                          "status %s -> %s adds bits after FAILED: the driver must reset first",
                          cs, ns);
    uint8_t steps = added & INIT_BITS;
    if (steps & (steps - 1))
        return vs_err_set(e, VS_EPROTO,
                          "status %s -> %s sets several initialization bits in one write: "
                          "ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK are separate steps",
                          cs, ns);
    if (steps) {
        for (size_t i = 0; init_order[i] != steps; i++)
            if (!(cur & init_order[i]))
                return vs_err_set(e, VS_EPROTO,
                                  "status %s -> %s sets %s before %s (initialization order "
                                  "ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK)",
                                  cs, ns, status_bit_name(steps),
                                  status_bit_name(init_order[i]));
    }
    if ((added & VS_STATUS_SUSPEND) && !(cur & VS_STATUS_DRIVER_OK))
        return vs_err_set(e, VS_EPROTO,
                          "status %s -> %s sets SUSPEND while DRIVER_OK is clear: only a "
                          "running device may be suspended",
                          cs, ns);
    return 0;
}

int vs_status_device_change_ok(uint8_t cur, uint8_t next, vs_err *e)
{
    char cs[96], ns[96];
    if (next == cur)
        return 0;
    vs_status_format(cur, cs, sizeof cs);
    vs_status_format(next, ns, sizeof ns);
    uint8_t cleared = (uint8_t)(cur & ~next), added = (uint8_t)(next & ~cur);
    if (added & ~VS_STATUS_DEVICE_NEEDS_RESET) {
        char b[96];
        vs_status_format(added & ~VS_STATUS_DEVICE_NEEDS_RESET, b, sizeof b);
        return vs_err_set(e, VS_EPROTO,
                          "device changed status %s -> %s: it set %s (a device may only add "
                          "DEVICE_NEEDS_RESET)",
                          cs, ns, b);
    }
    if ((cleared & VS_STATUS_FEATURES_OK) && (cur & VS_STATUS_DRIVER_OK))
        return vs_err_set(e, VS_EPROTO,
                          "device changed status %s -> %s: it cleared FEATURES_OK after "
                          "DRIVER_OK (refusing features is only possible before DRIVER_OK)",
                          cs, ns);
    if ((cleared & VS_STATUS_DRIVER_OK) && !(next & VS_STATUS_SUSPEND))
        return vs_err_set(e, VS_EPROTO,
                          "device changed status %s -> %s: it cleared DRIVER_OK without being "
                          "suspended (only a completed suspend clears DRIVER_OK)",
                          cs, ns);
    /* Clearing SUSPEND completes a resume (driver set DRIVER_OK again), or ignores a
     * SUSPEND written before initialization finished (FEATURES_OK not set). */
    if ((cleared & VS_STATUS_SUSPEND) &&
        !((next & VS_STATUS_DRIVER_OK) || !(cur & VS_STATUS_FEATURES_OK)))
        return vs_err_set(e, VS_EPROTO,
                          "device changed status %s -> %s: it cleared SUSPEND without a resume "
                          "request (the driver resumes by setting DRIVER_OK)",
                          cs, ns);
    uint8_t other = cleared & (uint8_t)~(VS_STATUS_FEATURES_OK | VS_STATUS_DRIVER_OK |
                                         VS_STATUS_SUSPEND);
    if (other) {
        char b[96];
        vs_status_format(other, b, sizeof b);
        return vs_err_set(e, VS_EPROTO,
                          "device changed status %s -> %s: it cleared %s (a device clears "
                          "status only on reset by the driver)",
                          cs, ns, b);
    }
    return 0;
}
