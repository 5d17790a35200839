/* The virtio-pci modern function model (include/virtiosim/pci.h, model/PCI.md).
 *
 * Config space is a byte array with a per-byte write mask (as QEMU's PCIDevice does):
 * a write changes only writable bits, which also gives BAR sizing for free (the
 * address bits below the BAR size are read-only zero). Side effects are applied after
 * the masked write: command register (bus master -> pending MSI-X), MSI-X control,
 * the pci_cfg access window.
 *
 * Memory space: BAR1 (32-bit) holds the MSI-X table and PBA, BAR4/5 (64-bit,
 * prefetchable) holds common config, ISR, device config and notify, 4 KiB each.
 *
 * Behaviour decisions where the spec leaves the device free (all mirrored from QEMU 7.2
 * unless noted):
 *  - common config reads compose bytes of the structure, so any width/offset reads
 *    something defined; writes must hit a field exactly (offset + width; a 32-bit half
 *    or the whole of a 64-bit field) or are ignored;
 *  - read-only fields ignore writes; driver_feature writes after FEATURES_OK are ignored;
 *  - queue_size writes of 0, above the maximum, or (split) not a power of two are
 *    ignored (QEMU: virtio_queue_set_num); writes to size/addresses of an enabled queue
 *    are ignored (not QEMU: it takes them);
 *  - queue_enable = 0 is ignored (QEMU flags a device error instead);
 *  - a vector beyond the MSI-X table reads back NO_VECTOR; mapping does not require
 *    MSI-X to be enabled;
 *  - queue_reset (with RING_RESET negotiated) completes within the write;
 *  - the ISR is set only in INTx mode (QEMU sets it always);
 *  - an MSI-X message while bus mastering is off is held pending (QEMU drops it);
 *  - notify: the queue is derived from the address (multiplier != 0) or from the
 *    value's low 16 bits (multiplier 0); notifications for disabled queues are dropped.
 */
#include "virtiosim/pci.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "model/device_class.h"
#include "virtiosim/virtio.h"

/* config-space layout */
#define CAP_COMMON 0x40
#define CAP_ISR 0x50
#define CAP_DEVICE 0x60
#define CAP_NOTIFY 0x70
#define CAP_PCICFG 0x84
#define CAP_MSIX 0x98
#define BAR_MSIX 1
#define BAR_VIRTIO 4
#define BAR_VIRTIO_SIZE 0x4000u
#define REGION_LEN 0x1000u
/* layout quirks (opts.layout_quirks): one more capability at CAP_QUIRK, and a second
 * window onto the common configuration at BAR4 + DECOY_OFF (the BAR doubles) */
#define CAP_QUIRK 0xA4
#define DECOY_OFF 0x4000u
#define QUIRK_CFG_TYPE 0x11u  /* reserved (its low nibble reads as common) */
#define QUIRK_BAR 12u         /* reserved (modulo 8 it is BAR4) */
#define NDATA_TAG 0xA500u     /* queue_notif_config_data = tag | queue, with NOTIF_CONFIG_DATA */

typedef struct pq {
    uint16_t max, size, vector, enable, reset;
    uint64_t desc, driver, device;
} pq;

struct vs_pci_fn {
    vs_device *dev;
    vs_gmem *gm;
    vs_pci_model_opts o;
    uint32_t mut;
    uint32_t quirks;        /* enum vs_pci_layout_quirk */
    uint16_t cfg_size;
    uint8_t cfg[4096];
    uint8_t wmask[4096];
    /* layout */
    uint32_t bar1_size;
    uint32_t common_off, isr_off, dev_off, dev_len, notify_off, notify_len;
    uint32_t mult;
    uint16_t nvec;          /* real MSI-X entries (0 = no MSI-X) */
    uint32_t pba_off;
    uint8_t *table;         /* 16 * nvec */
    uint64_t *pba;          /* (nvec + 63) / 64 */
    uint32_t cfg_len;       /* device config size */
    /* virtio state */
    uint16_t nq;
    pq *q;
    uint32_t dfsel, gfsel;
    uint64_t gf;
    uint64_t negotiated;
    uint16_t cfg_vector;
    uint8_t status;
    uint8_t gen;
    uint16_t qsel;
    uint8_t isr;
    /* log */
    vs_pci_access *log;
    size_t log_n, log_cap;
};

/* ------------------------------------------------------------------ mutation table */

static const vs_pci_mutation_info mutations[] = {
    {"revision-0", VS_PCI_MUT_REVISION_0, "pci-ids", "pci.device.discovery.4",
     "PCI revision ID 0 on a non-transitional device"},
    {"cap-len-short", VS_PCI_MUT_CAP_LEN_SHORT, "cap-list", "pci.device.caps.1",
     "notify capability cap_len 16 (excludes notify_off_multiplier)"},
    {"cap-misaligned", VS_PCI_MUT_CAP_MISALIGNED, "cap-align", "pci.device.device-cfg.1",
     "device-specific config at BAR offset 0x2002"},
    {"notify-multiplier-odd", VS_PCI_MUT_NOTIFY_MULT_ODD, "notify-cap",
     "pci.device.notify-cap.3", "notify_off_multiplier 3"},
    {"feature-select-ignored", VS_PCI_MUT_FEATURE_SELECT_IGNORED, "feature-windows",
     "pci.device.common-cfg.3", "device_feature uses device_feature_select & 1"},
    {"cfg-gen-stuck", VS_PCI_MUT_CFG_GEN_STUCK, "config-generation",
     "pci.device.common-cfg.5", "config_generation never changes"},
    {"enable-survives-reset", VS_PCI_MUT_ENABLE_SURVIVES_RESET, "reset",
     "pci.device.common-cfg.7", "queue_enable still reads 1 after a device reset"},
    {"queue-size-not-pow2", VS_PCI_MUT_QUEUE_SIZE_NOT_POW2, "queue-size",
     "pci.device.common-cfg.14", "queue_size reads the maximum minus one"},
    {"no-vector-ignored", VS_PCI_MUT_NO_VECTOR_IGNORED, "msix-vectors",
     "pci.device.msix.9", "a vector beyond the table reads back as written"},
    {"msix-pba-overlaps", VS_PCI_MUT_MSIX_PBA_OVERLAP, "msix-table",
     "pci.device.msix.2", "PBA Offset points into the MSI-X table"},
    {"isr-not-cleared", VS_PCI_MUT_ISR_NOT_CLEARED, "isr", "pci.device.isr.5",
     "reading ISR status does not clear it"},
    {"cfg64-halves-coupled", VS_PCI_MUT_CFG64_HALVES_COUPLED, "cfg-64bit-halves",
     "pci.device.layout.1", "writing the low half of a 64-bit field zeroes the high half"},
    {"device-cfg-wrong-width", VS_PCI_MUT_DEVCFG_WRONG_WIDTH, "device-cfg-widths",
     "pci.device.layout.1", "16/32-bit device config reads come back byte-swapped"},
    {"pci-cfg-window-broken", VS_PCI_MUT_PCI_CFG_WINDOW_BROKEN, "pci-cfg-window",
     "pci.device.pci-cfg-cap.3", "pci_cfg_data reads 0 and writes are dropped"},
    {"irq-on-no-vector", VS_PCI_MUT_IRQ_ON_NO_VECTOR, "no-vector-silent",
     "pci.device.config-notif.1", "unmapped (NO_VECTOR) events still fire vector 0"},
    {"queue-reset-keeps-enable", VS_PCI_MUT_QUEUE_RESET_KEEPS_ENABLE, "queue-reset",
     "pci.device.common-cfg.12", "queue_enable still reads 1 after queue_reset"},
};

size_t vs_pci_mutation_count(void) { return sizeof mutations / sizeof mutations[0]; }

const vs_pci_mutation_info *vs_pci_mutation_at(size_t i)
{
    return i < vs_pci_mutation_count() ? &mutations[i] : NULL;
}

const vs_pci_mutation_info *vs_pci_mutation_find(const char *name)
{
    for (size_t i = 0; name && i < vs_pci_mutation_count(); i++)
        if (strcmp(mutations[i].name, name) == 0)
            return &mutations[i];
    return NULL;
}

/* ------------------------------------------------------------------ helpers */

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}
static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_n(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}
static void put_n(uint8_t *p, unsigned n, uint64_t v)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static bool pow2(uint32_t v) { return v && !(v & (v - 1)); }

static void emit(vs_pci_fn *fn, enum vs_pci_event_kind k, int32_t q, uint64_t val,
                 const vs_vq_layout *l)
{
    if (!fn->o.event_fn)
        return;
    vs_pci_event ev = {.kind = k, .queue = q, .val = val, .layout = l};
    fn->o.event_fn(fn->o.event_opaque, &ev);
}

static void log_add(vs_pci_fn *fn, uint8_t space, bool write, unsigned width, uint64_t addr,
                    uint64_t val, uint8_t region, uint32_t roff, int32_t queue, uint8_t irq)
{
    if (fn->log_n >= fn->log_cap)
        return;
    vs_pci_access *a = &fn->log[fn->log_n++];
    a->space = space;
    a->write = write;
    a->width = (uint8_t)width;
    a->region = region;
    a->roff = roff;
    a->addr = addr;
    a->val = val;
    a->queue = queue;
    a->irq = irq;
}

static uint16_t cmd(const vs_pci_fn *fn) { return (uint16_t)get_n(fn->cfg + VS_PCI_COMMAND, 2); }
static bool msix_enabled(const vs_pci_fn *fn)
{
    return fn->nvec && (fn->cfg[CAP_MSIX + 3] & 0x80);
}
static bool msix_maskall(const vs_pci_fn *fn) { return (fn->cfg[CAP_MSIX + 3] & 0x40) != 0; }

/* ------------------------------------------------------------------ interrupts */

static int msix_send(vs_pci_fn *fn, uint16_t v, vs_err *e)
{
    const uint8_t *ent = fn->table + 16u * v;
    uint64_t addr = get32(ent) | (uint64_t)get32(ent + 4) << 32;
    uint32_t data = get32(ent + 8);
    int rc = vs_gmem_st32(fn->gm, addr, data, e);
    if (rc < 0)
        return vs_err_prefix(e, "pci: MSI-X vector %u message to 0x%" PRIx64, v, addr);
    return 0;
}

static bool msix_deliverable(const vs_pci_fn *fn, uint16_t v)
{
    return msix_enabled(fn) && !msix_maskall(fn) && !(fn->table[16u * v + 12] & 1) &&
           (cmd(fn) & VS_PCI_CMD_MASTER);
}

/* Sends pending messages that became deliverable. Errors are not reportable from the
 * config/MMIO write that unmasked them; the pending bit then stays set. */
static void msix_flush(vs_pci_fn *fn)
{
    for (uint16_t v = 0; v < fn->nvec; v++) {
        if (!((fn->pba[v / 64] >> (v % 64)) & 1) || !msix_deliverable(fn, v))
            continue;
        if (msix_send(fn, v, NULL) == 0)
            fn->pba[v / 64] &= ~(UINT64_C(1) << (v % 64));
    }
}

int vs_pci_raise(vs_pci_fn *fn, int queue, vs_err *e)
{
    if (!fn)
        return vs_err_set(e, VS_EINVAL, "pci: raise on NULL function");
    if (queue != VS_PCI_IRQ_CONFIG && (queue < 0 || queue >= fn->nq))
        return vs_err_set(e, VS_ERANGE, "pci: raise for queue %d (device has %u)", queue,
                          fn->nq);
    int outcome;
    uint16_t vec = queue == VS_PCI_IRQ_CONFIG ? fn->cfg_vector : fn->q[queue].vector;
    if (msix_enabled(fn)) {
        if (vec == VS_PCI_NO_VECTOR && (fn->mut & VS_PCI_MUT_IRQ_ON_NO_VECTOR))
            vec = 0;
        if (vec >= fn->nvec) {
            outcome = VS_PCI_IRQ_NO_VECTOR;
        } else if (msix_deliverable(fn, vec)) {
            int rc = msix_send(fn, vec, e);
            if (rc < 0)
                return rc;
            outcome = VS_PCI_IRQ_MSIX_SENT;
        } else {
            fn->pba[vec / 64] |= UINT64_C(1) << (vec % 64);
            outcome = VS_PCI_IRQ_MSIX_PENDING;
        }
    } else {
        fn->isr |= queue == VS_PCI_IRQ_CONFIG ? VS_PCI_ISR_CONFIG : VS_PCI_ISR_QUEUE;
        vec = VS_PCI_NO_VECTOR;
        outcome = VS_PCI_IRQ_INTX;
    }
    log_add(fn, VS_PCI_SPACE_IRQ, false, 0, 0, vec, VS_PCI_REG_NONE, 0, queue,
            (uint8_t)outcome);
    return outcome;
}

int vs_pci_config_changed(vs_pci_fn *fn, vs_err *e)
{
    if (!fn)
        return vs_err_set(e, VS_EINVAL, "pci: NULL function");
    fn->gen++;
    return vs_pci_raise(fn, VS_PCI_IRQ_CONFIG, e);
}

int vs_pci_device_error(vs_pci_fn *fn, vs_err *e)
{
    if (!fn)
        return vs_err_set(e, VS_EINVAL, "pci: NULL function");
    fn->status |= VS_STATUS_DEVICE_NEEDS_RESET;
    return vs_pci_raise(fn, VS_PCI_IRQ_CONFIG, e);
}

bool vs_pci_intx_level(const vs_pci_fn *fn)
{
    return fn && !msix_enabled(fn) && fn->isr && !(cmd(fn) & VS_PCI_CMD_INTX_DISABLE);
}

uint8_t vs_pci_isr_peek(const vs_pci_fn *fn) { return fn ? fn->isr : 0; }

/* ------------------------------------------------------------------ virtio state */

static void queue_defaults(vs_pci_fn *fn, pq *q, bool keep_enable)
{
    q->size = q->max;
    q->vector = VS_PCI_NO_VECTOR;
    if (!keep_enable)
        q->enable = 0;
    q->reset = 0;
    q->desc = q->driver = q->device = 0;
    (void)fn;
}

static void device_reset(vs_pci_fn *fn)
{
    if (fn->dev->ops->reset)
        fn->dev->ops->reset(fn->dev);
    fn->dev->driver_features = 0;
    fn->status = 0;
    fn->dfsel = fn->gfsel = 0;
    fn->gf = 0;
    fn->negotiated = 0;
    fn->cfg_vector = VS_PCI_NO_VECTOR;
    fn->qsel = 0;
    for (uint16_t i = 0; i < fn->nq; i++)
        queue_defaults(fn, &fn->q[i], (fn->mut & VS_PCI_MUT_ENABLE_SURVIVES_RESET) != 0);
    fn->isr = 0;
    if (fn->pba)
        memset(fn->pba, 0, 8u * ((fn->nvec + 63u) / 64u));
    emit(fn, VS_PCI_EV_RESET, -1, 0, NULL);
}

static vs_ring_format ring_format(const vs_pci_fn *fn)
{
    return (fn->negotiated & VS_BIT(VS_F_RING_PACKED)) ? VS_RING_PACKED : VS_RING_SPLIT;
}

static void fill_layout(const vs_pci_fn *fn, const pq *q, vs_vq_layout *l)
{
    l->format = ring_format(fn);
    l->size = q->size;
    l->desc_gpa = q->desc;
    l->driver_gpa = q->driver;
    l->device_gpa = q->device;
}

static void status_write(vs_pci_fn *fn, uint8_t v)
{
    if (v == 0) {
        device_reset(fn);
        emit(fn, VS_PCI_EV_STATUS, -1, 0, NULL);
        return;
    }
    uint8_t prev = fn->status;
    uint8_t next = (uint8_t)(v | (prev & VS_STATUS_DEVICE_NEEDS_RESET));
    if ((next & VS_STATUS_FEATURES_OK) && !(prev & VS_STATUS_FEATURES_OK)) {
        vs_err e2 = {0};
        int rc = fn->dev->ops->accept_features
                     ? fn->dev->ops->accept_features(fn->dev, fn->gf, &e2)
                     : 0;
        if (rc == 0) {
            fn->dev->driver_features = fn->gf;
            fn->negotiated = fn->gf;
        } else {
            next = (uint8_t)(next & ~VS_STATUS_FEATURES_OK);
        }
    }
    fn->status = next;
    emit(fn, VS_PCI_EV_STATUS, -1, next, NULL);
}

static uint64_t device_features(const vs_pci_fn *fn)
{
    return fn->dev->ops->device_features ? fn->dev->ops->device_features(fn->dev) : 0;
}

static void common_snapshot(const vs_pci_fn *fn, uint8_t b[VS_VIRTIO_COMMON_SIZE])
{
    memset(b, 0, VS_VIRTIO_COMMON_SIZE);
    uint64_t df = device_features(fn);
    uint32_t dsel = fn->dfsel;
    if (fn->mut & VS_PCI_MUT_FEATURE_SELECT_IGNORED)
        dsel &= 1;
    put32(b + VS_VIRTIO_COMMON_DFSELECT, fn->dfsel);
    put32(b + VS_VIRTIO_COMMON_DF, dsel == 0 ? (uint32_t)df : dsel == 1 ? (uint32_t)(df >> 32) : 0);
    put32(b + VS_VIRTIO_COMMON_GFSELECT, fn->gfsel);
    put32(b + VS_VIRTIO_COMMON_GF, fn->gfsel == 0   ? (uint32_t)fn->gf
                                   : fn->gfsel == 1 ? (uint32_t)(fn->gf >> 32)
                                                    : 0);
    put16(b + VS_VIRTIO_COMMON_MSIX, fn->cfg_vector);
    put16(b + VS_VIRTIO_COMMON_NUMQ, fn->nq);
    b[VS_VIRTIO_COMMON_STATUS] = fn->status;
    b[VS_VIRTIO_COMMON_CFGGENERATION] =
        (fn->mut & VS_PCI_MUT_CFG_GEN_STUCK) ? 0 : (uint8_t)(fn->gen + fn->dev->config_generation);
    put16(b + VS_VIRTIO_COMMON_Q_SELECT, fn->qsel);
    if (fn->qsel < fn->nq) {
        const pq *q = &fn->q[fn->qsel];
        uint16_t size = q->size;
        if ((fn->mut & VS_PCI_MUT_QUEUE_SIZE_NOT_POW2) && size == q->max && size > 2)
            size = (uint16_t)(size - 1);
        put16(b + VS_VIRTIO_COMMON_Q_SIZE, size);
        put16(b + VS_VIRTIO_COMMON_Q_MSIX, q->vector);
        put16(b + VS_VIRTIO_COMMON_Q_ENABLE, q->enable);
        put16(b + VS_VIRTIO_COMMON_Q_NOFF, fn->qsel);
        put64(b + VS_VIRTIO_COMMON_Q_DESCLO, q->desc);
        put64(b + VS_VIRTIO_COMMON_Q_AVAILLO, q->driver);
        put64(b + VS_VIRTIO_COMMON_Q_USEDLO, q->device);
        bool ncd = (df & VS_BIT(VS_F_NOTIF_CONFIG_DATA)) != 0;
        put16(b + VS_VIRTIO_COMMON_Q_NDATA, (uint16_t)(ncd ? NDATA_TAG | fn->qsel : fn->qsel));
        put16(b + VS_VIRTIO_COMMON_Q_RESET, q->reset);
    } else {
        put16(b + VS_VIRTIO_COMMON_Q_MSIX, VS_PCI_NO_VECTOR);
    }
    put16(b + VS_VIRTIO_COMMON_ADM_Q_IDX, fn->nq);
}

static uint16_t vector_filter(const vs_pci_fn *fn, uint16_t v)
{
    if (v == VS_PCI_NO_VECTOR || v < fn->nvec)
        return v;
    return (fn->mut & VS_PCI_MUT_NO_VECTOR_IGNORED) ? v : VS_PCI_NO_VECTOR;
}

static void addr_write(vs_pci_fn *fn, uint64_t *field, bool high, unsigned width, uint64_t v)
{
    if (width == 8) {
        *field = v;
    } else if (high) {
        *field = (*field & 0xffffffffull) | (v & 0xffffffffull) << 32;
    } else if (fn->mut & VS_PCI_MUT_CFG64_HALVES_COUPLED) {
        *field = v & 0xffffffffull;
    } else {
        *field = (*field & ~0xffffffffull) | (v & 0xffffffffull);
    }
}

static void common_write(vs_pci_fn *fn, uint32_t off, unsigned w, uint64_t v)
{
    pq *q = fn->qsel < fn->nq ? &fn->q[fn->qsel] : NULL;
    switch (off) {
    case VS_VIRTIO_COMMON_DFSELECT:
        if (w == 4)
            fn->dfsel = (uint32_t)v;
        return;
    case VS_VIRTIO_COMMON_GFSELECT:
        if (w == 4)
            fn->gfsel = (uint32_t)v;
        return;
    case VS_VIRTIO_COMMON_GF:
        if (w != 4 || fn->gfsel > 1 || (fn->status & VS_STATUS_FEATURES_OK))
            return;
        if (fn->gfsel == 0)
            fn->gf = (fn->gf & ~0xffffffffull) | (v & 0xffffffffull);
        else
            fn->gf = (fn->gf & 0xffffffffull) | (v & 0xffffffffull) << 32;
        return;
    case VS_VIRTIO_COMMON_MSIX:
        if (w == 2)
            fn->cfg_vector = vector_filter(fn, (uint16_t)v);
        return;
    case VS_VIRTIO_COMMON_STATUS:
        if (w == 1)
            status_write(fn, (uint8_t)v);
        return;
    case VS_VIRTIO_COMMON_Q_SELECT:
        if (w == 2)
            fn->qsel = (uint16_t)v;
        return;
    case VS_VIRTIO_COMMON_Q_SIZE:
        if (w != 2 || !q || q->enable)
            return;
        if (v == 0 || v > q->max)
            return;
        if (!(fn->negotiated & VS_BIT(VS_F_RING_PACKED)) && !pow2((uint32_t)v))
            return;
        q->size = (uint16_t)v;
        return;
    case VS_VIRTIO_COMMON_Q_MSIX:
        if (w == 2 && q)
            q->vector = vector_filter(fn, (uint16_t)v);
        return;
    case VS_VIRTIO_COMMON_Q_ENABLE:
        if (w != 2 || !q || v != 1 || q->enable || q->size == 0)
            return;
        q->enable = 1;
        q->reset = 0;
        {
            vs_vq_layout l;
            fill_layout(fn, q, &l);
            emit(fn, VS_PCI_EV_QUEUE_ENABLE, fn->qsel, 1, &l);
        }
        return;
    case VS_VIRTIO_COMMON_Q_RESET:
        if (w != 2 || !q || v != 1 || !(fn->negotiated & VS_BIT(VS_F_RING_RESET)))
            return;
        queue_defaults(fn, q, (fn->mut & VS_PCI_MUT_QUEUE_RESET_KEEPS_ENABLE) != 0);
        emit(fn, VS_PCI_EV_QUEUE_RESET, fn->qsel, 0, NULL);
        return;
    default:
        break;
    }
    /* 64-bit queue address fields: halves (4) or whole (8, aligned) */
    if (off >= VS_VIRTIO_COMMON_Q_DESCLO && off < VS_VIRTIO_COMMON_Q_NDATA && q && !q->enable &&
        (w == 4 || (w == 8 && off % 8 == 0))) {
        uint32_t base = off & ~7u;
        bool high = (off & 7u) == 4;
        uint64_t *field = base == VS_VIRTIO_COMMON_Q_DESCLO    ? &q->desc
                          : base == VS_VIRTIO_COMMON_Q_AVAILLO ? &q->driver
                                                               : &q->device;
        addr_write(fn, field, high, w, v);
    }
    /* everything else: read-only or no field -> ignored */
}

/* ------------------------------------------------------------------ regions */

static uint64_t devcfg_read(vs_pci_fn *fn, uint32_t off, unsigned w)
{
    if (w == 8)
        return devcfg_read(fn, off, 4) | devcfg_read(fn, off + 4, 4) << 32;
    uint8_t buf[4] = {0};
    if (off < fn->cfg_len && fn->dev->ops->config_read) {
        uint32_t n = fn->cfg_len - off < w ? fn->cfg_len - off : w;
        if (fn->dev->ops->config_read(fn->dev, off, buf, n, NULL) < 0)
            memset(buf, 0, sizeof buf);
    }
    uint64_t v = get_n(buf, w);
    if ((fn->mut & VS_PCI_MUT_DEVCFG_WRONG_WIDTH) && w > 1) {
        uint64_t s = 0;
        for (unsigned i = 0; i < w; i++)
            s |= ((v >> (8 * i)) & 0xff) << (8 * (w - 1 - i));
        v = s;
    }
    return v;
}

static void devcfg_write(vs_pci_fn *fn, uint32_t off, unsigned w, uint64_t v)
{
    if (w == 8) {
        devcfg_write(fn, off, 4, v & 0xffffffffu);
        devcfg_write(fn, off + 4, 4, v >> 32);
        return;
    }
    if (off >= fn->cfg_len || !fn->dev->ops->config_write)
        return;
    uint8_t buf[4];
    put_n(buf, w, v);
    uint32_t n = fn->cfg_len - off < w ? fn->cfg_len - off : w;
    (void)fn->dev->ops->config_write(fn->dev, off, buf, n, NULL);
}

/* One access to BAR `bar` at offset `off` (already known to be inside the BAR). */
static uint8_t bar_access(vs_pci_fn *fn, unsigned bar, uint32_t off, unsigned w, bool write,
                          uint64_t *val, uint32_t *roff)
{
    *roff = off;
    if (bar == BAR_MSIX && fn->nvec) {
        if (off < 16u * fn->nvec) {
            uint8_t *p = fn->table + off;
            if (write) {
                if (w == 4 || w == 8) {
                    put_n(p, w, *val);
                    msix_flush(fn);
                }
            } else {
                *val = get_n(p, w);
            }
            return VS_PCI_REG_MSIX_TABLE;
        }
        uint32_t pba_bytes = 8u * ((fn->nvec + 63u) / 64u);
        if (off >= fn->pba_off && off - fn->pba_off < pba_bytes) {
            *roff = off - fn->pba_off;
            if (!write) {
                uint8_t tmp[8];
                uint32_t o = *roff;
                put64(tmp, fn->pba[o / 8]);
                *val = get_n(tmp + (o % 8), w);
            }
            return VS_PCI_REG_MSIX_PBA;
        }
        if (!write)
            *val = 0;
        return VS_PCI_REG_NONE;
    }
    if (bar == BAR_VIRTIO) {
        if (fn->quirks && off >= DECOY_OFF && off - DECOY_OFF < REGION_LEN)
            off = off - DECOY_OFF + fn->common_off; /* the second window */
        if (off >= fn->common_off && off - fn->common_off < REGION_LEN) {
            uint32_t o = *roff = off - fn->common_off;
            if (write) {
                common_write(fn, o, w, *val);
            } else {
                uint8_t b[VS_VIRTIO_COMMON_SIZE + 8] = {0};
                common_snapshot(fn, b);
                *val = o < VS_VIRTIO_COMMON_SIZE ? get_n(b + o, w) : 0;
            }
            return VS_PCI_REG_COMMON;
        }
        if (off >= fn->isr_off && off - fn->isr_off < REGION_LEN) {
            uint32_t o = *roff = off - fn->isr_off;
            if (!write) {
                *val = o == 0 ? fn->isr : 0;
                if (o == 0 && !(fn->mut & VS_PCI_MUT_ISR_NOT_CLEARED))
                    fn->isr = 0;
            }
            return VS_PCI_REG_ISR;
        }
        if (off >= fn->dev_off && off - fn->dev_off < fn->dev_len) {
            uint32_t o = *roff = off - fn->dev_off;
            if (write)
                devcfg_write(fn, o, w, *val);
            else
                *val = devcfg_read(fn, o, w);
            return VS_PCI_REG_DEVICE;
        }
        if (off >= fn->notify_off && off - fn->notify_off < fn->notify_len) {
            uint32_t o = *roff = off - fn->notify_off;
            if (write) {
                int32_t qi = -1;
                if (fn->mult) {
                    if (o % fn->mult == 0)
                        qi = (int32_t)(o / fn->mult);
                } else {
                    qi = (int32_t)(*val & 0xffff);
                }
                if (qi >= 0 && qi < fn->nq && fn->q[qi].enable)
                    emit(fn, VS_PCI_EV_NOTIFY, qi, *val, NULL);
            } else {
                *val = 0;
            }
            return VS_PCI_REG_NOTIFY;
        }
    }
    if (!write)
        *val = 0;
    return VS_PCI_REG_NONE;
}

static uint64_t bar_base(const vs_pci_fn *fn, unsigned bar)
{
    uint64_t lo = get32(fn->cfg + VS_PCI_BAR0 + 4 * bar) & ~0xFu;
    if (bar == BAR_VIRTIO)
        lo |= (uint64_t)get32(fn->cfg + VS_PCI_BAR0 + 4 * (bar + 1)) << 32;
    return lo;
}

static uint64_t bar_size(const vs_pci_fn *fn, unsigned bar)
{
    if (bar == BAR_MSIX)
        return fn->nvec ? fn->bar1_size : 0;
    if (bar == BAR_VIRTIO)
        return fn->quirks ? 2 * BAR_VIRTIO_SIZE : BAR_VIRTIO_SIZE;
    return 0;
}

/* Which BAR decodes addr? -1 if none. */
static int decode(const vs_pci_fn *fn, uint64_t addr, unsigned w, uint32_t *off)
{
    if (!(cmd(fn) & VS_PCI_CMD_MEM))
        return -1;
    for (unsigned bar = 0; bar < 6; bar++) {
        uint64_t size = bar_size(fn, bar);
        if (!size)
            continue;
        uint64_t base = bar_base(fn, bar);
        if (addr >= base && addr - base < size && addr - base + w <= size) {
            *off = (uint32_t)(addr - base);
            return (int)bar;
        }
    }
    return -1;
}

/* ------------------------------------------------------------------ bus ops */

static int m_mmio_read(void *o, uint64_t addr, unsigned w, uint64_t *v, vs_err *e)
{
    vs_pci_fn *fn = o;
    int rc = vs_pci_check_mmio_access(addr, w, e);
    if (rc < 0)
        return rc;
    uint32_t off = 0, roff = 0;
    int bar = decode(fn, addr, w, &off);
    uint64_t val = 0;
    uint8_t region = VS_PCI_REG_UNCLAIMED;
    if (bar < 0) {
        val = w == 8 ? ~0ull : (1ull << (8 * w)) - 1;
    } else {
        region = bar_access(fn, (unsigned)bar, off, w, false, &val, &roff);
        if (w < 8)
            val &= (1ull << (8 * w)) - 1;
    }
    if (v)
        *v = val;
    log_add(fn, VS_PCI_SPACE_MMIO, false, w, addr, val, region, roff,
            region == VS_PCI_REG_COMMON ? fn->qsel : -1, 0);
    return 0;
}

static int m_mmio_write(void *o, uint64_t addr, unsigned w, uint64_t v, vs_err *e)
{
    vs_pci_fn *fn = o;
    int rc = vs_pci_check_mmio_access(addr, w, e);
    if (rc < 0)
        return rc;
    if (w < 8)
        v &= (1ull << (8 * w)) - 1;
    uint32_t off = 0, roff = 0;
    int bar = decode(fn, addr, w, &off);
    uint8_t region = VS_PCI_REG_UNCLAIMED;
    uint16_t qsel_before = fn->qsel;
    if (bar >= 0)
        region = bar_access(fn, (unsigned)bar, off, w, true, &v, &roff);
    log_add(fn, VS_PCI_SPACE_MMIO, true, w, addr, v, region, roff,
            region == VS_PCI_REG_COMMON ? (roff == VS_VIRTIO_COMMON_Q_SELECT ? fn->qsel
                                                                             : qsel_before)
                                        : -1,
            0);
    return 0;
}

/* pci_cfg window: cap.bar @+4, cap.offset @+8, cap.length @+12, data @+16 */
static void window_access(vs_pci_fn *fn, bool write)
{
    uint8_t *c = fn->cfg + CAP_PCICFG;
    unsigned bar = c[4];
    uint32_t off = get32(c + 8), len = get32(c + 12);
    if (fn->mut & VS_PCI_MUT_PCI_CFG_WINDOW_BROKEN) {
        if (!write)
            memset(c + 16, 0, 4);
        return;
    }
    if (bar > 5 || (len != 1 && len != 2 && len != 4) || off % len)
        return;
    uint64_t size = bar_size(fn, bar);
    if (!size || (uint64_t)off + len > size)
        return;
    uint64_t v = write ? get_n(c + 16, len) : 0;
    uint32_t roff;
    (void)bar_access(fn, bar, off, len, write, &v, &roff);
    if (!write)
        put_n(c + 16, len, v);
}

static bool overlaps(uint16_t off, unsigned w, uint16_t start, unsigned len)
{
    return off < start + len && start < off + w;
}

static int m_cfg_read(void *o, uint16_t off, unsigned w, uint32_t *v, vs_err *e)
{
    vs_pci_fn *fn = o;
    int rc = vs_pci_check_cfg_access(off, w, fn->cfg_size, e);
    if (rc < 0)
        return rc;
    uint32_t val = 0;
    if (off < fn->cfg_size) {
        if (overlaps(off, w, CAP_PCICFG + 16, 4))
            window_access(fn, false);
        uint8_t st = fn->cfg[VS_PCI_STATUS];
        st = (uint8_t)(st & ~VS_PCI_STATUS_INTERRUPT);
        if (!msix_enabled(fn) && fn->isr)
            st |= VS_PCI_STATUS_INTERRUPT;
        fn->cfg[VS_PCI_STATUS] = st;
        val = (uint32_t)get_n(fn->cfg + off, w);
    }
    if (v)
        *v = val;
    log_add(fn, VS_PCI_SPACE_CFG, false, w, off, val, VS_PCI_REG_NONE, off, -1, 0);
    return 0;
}

static int m_cfg_write(void *o, uint16_t off, unsigned w, uint32_t v, vs_err *e)
{
    vs_pci_fn *fn = o;
    int rc = vs_pci_check_cfg_access(off, w, fn->cfg_size, e);
    if (rc < 0)
        return rc;
    log_add(fn, VS_PCI_SPACE_CFG, true, w, off, v, VS_PCI_REG_NONE, off, -1, 0);
    if (off >= fn->cfg_size)
        return 0;
    for (unsigned i = 0; i < w; i++) {
        uint8_t b = (uint8_t)(v >> (8 * i));
        uint8_t m = fn->wmask[off + i];
        fn->cfg[off + i] = (uint8_t)((fn->cfg[off + i] & ~m) | (b & m));
    }
    if (overlaps(off, w, CAP_PCICFG + 16, 4))
        window_access(fn, true);
    if (overlaps(off, w, VS_PCI_COMMAND, 2) || (fn->nvec && overlaps(off, w, CAP_MSIX + 2, 2)))
        msix_flush(fn);
    return 0;
}

static const vs_pci_bus_ops model_ops = {
    .name = "pci-model",
    .cfg_read = m_cfg_read,
    .cfg_write = m_cfg_write,
    .mmio_read = m_mmio_read,
    .mmio_write = m_mmio_write,
};

/* ------------------------------------------------------------------ construction */

/* PCI class code: the device class's, else the one QEMU gives that device type. */
static uint32_t class_for(uint32_t id)
{
    const vs_device_class *cls = vs_device_class_by_id(id);
    if (cls && cls->pci_class)
        return cls->pci_class;
    switch (id) {
    case 1: return 0x020000;  /* network controller */
    case 3: return 0x078000;  /* communication, other */
    case 8: return 0x010000;  /* mass storage, SCSI */
    default: return 0xff0000; /* unassigned class (QEMU: PCI_CLASS_OTHERS) */
    }
}

static void vcap(vs_pci_fn *fn, uint8_t at, uint8_t next, uint8_t len, uint8_t type,
                 uint8_t bar, uint32_t off, uint32_t length)
{
    uint8_t *c = fn->cfg + at;
    c[0] = VS_PCI_CAP_ID_VNDR;
    c[1] = next;
    c[2] = len;
    c[3] = type;
    c[4] = bar;
    put32(c + 8, off);
    put32(c + 12, length);
}

/* The layout quirks (valid layouts a driver must cope with), each one capability at
 * CAP_QUIRK: listed first (a reserved cfg_type or bar, both leading to the second
 * window) or, for the duplicates, listed first as the real common configuration while the
 * one at CAP_COMMON, now last, leads to the second window. */
static void build_quirk(vs_pci_fn *fn)
{
    uint8_t *c = fn->cfg;
    uint32_t q = fn->quirks;
    if (q & (VS_PCI_QUIRK_RESERVED_CFG_TYPE | VS_PCI_QUIRK_RESERVED_BAR)) {
        bool type = (q & VS_PCI_QUIRK_RESERVED_CFG_TYPE) != 0;
        vcap(fn, CAP_QUIRK, c[VS_PCI_CAP_PTR], VS_PCI_CAP_VIRTIO_LEN,
             (uint8_t)(type ? QUIRK_CFG_TYPE : VS_VIRTIO_PCI_CAP_COMMON),
             (uint8_t)(type ? BAR_VIRTIO : QUIRK_BAR), DECOY_OFF, REGION_LEN);
        c[VS_PCI_CAP_PTR] = CAP_QUIRK;
        return;
    }
    /* duplicates: the first common capability (longer cap_len with LONG_CAP_LEN: four
     * vendor bytes follow), the later one on the second window (exactly the structure's
     * size with DUP_EXACT_LENGTH) */
    uint8_t len = (q & VS_PCI_QUIRK_LONG_CAP_LEN) ? VS_PCI_CAP_VIRTIO_LEN + 4 : VS_PCI_CAP_VIRTIO_LEN;
    vcap(fn, CAP_QUIRK, c[VS_PCI_CAP_PTR], len, VS_VIRTIO_PCI_CAP_COMMON, BAR_VIRTIO,
         fn->common_off, REGION_LEN);
    if (len > VS_PCI_CAP_VIRTIO_LEN)
        put32(c + CAP_QUIRK + VS_PCI_CAP_VIRTIO_LEN, 0x5a5a5a5au);
    c[VS_PCI_CAP_PTR] = CAP_QUIRK;
    put32(c + CAP_COMMON + 8, DECOY_OFF);
    put32(c + CAP_COMMON + 12,
          (q & VS_PCI_QUIRK_DUP_EXACT_LENGTH) ? VS_VIRTIO_COMMON_SIZE : REGION_LEN);
}

static void build_config(vs_pci_fn *fn)
{
    memset(fn->cfg, 0, sizeof fn->cfg);
    memset(fn->wmask, 0, sizeof fn->wmask);
    uint8_t *c = fn->cfg;
    uint32_t id = fn->dev->ops->device_id;
    put16(c + VS_PCI_VENDOR_ID, VS_PCI_VENDOR_VIRTIO);
    put16(c + VS_PCI_DEVICE_ID, (uint16_t)VS_PCI_DEVICE_VIRTIO_MODERN(id));
    put16(fn->wmask + VS_PCI_COMMAND, VS_PCI_CMD_IO | VS_PCI_CMD_MEM | VS_PCI_CMD_MASTER |
                                          VS_PCI_CMD_INTX_DISABLE);
    put16(c + VS_PCI_STATUS, VS_PCI_STATUS_CAP_LIST);
    put32(c + VS_PCI_CLASS_REV, class_for(id) << 8 |
                                    ((fn->mut & VS_PCI_MUT_REVISION_0) ? 0u : 1u));
    c[VS_PCI_HEADER_TYPE] = 0;
    if (fn->nvec) {
        put32(fn->wmask + VS_PCI_BAR0 + 4 * BAR_MSIX, ~(fn->bar1_size - 1) & ~0xFu);
    }
    c[VS_PCI_BAR0 + 4 * BAR_VIRTIO] = 0x0C; /* 64-bit, prefetchable */
    put32(fn->wmask + VS_PCI_BAR0 + 4 * BAR_VIRTIO,
          ~((fn->quirks ? 2 * BAR_VIRTIO_SIZE : BAR_VIRTIO_SIZE) - 1) & ~0xFu);
    put32(fn->wmask + VS_PCI_BAR0 + 4 * (BAR_VIRTIO + 1), 0xffffffffu);
    put16(c + VS_PCI_SUBSYS_VENDOR, fn->o.subsys_vendor ? fn->o.subsys_vendor : 0x1af4);
    put16(c + VS_PCI_SUBSYS_ID, fn->o.subsys_id ? fn->o.subsys_id : 0x1100);
    fn->wmask[VS_PCI_INTERRUPT_LINE] = 0xff;
    c[VS_PCI_INTERRUPT_PIN] = 1;

    c[VS_PCI_CAP_PTR] = fn->nvec ? CAP_MSIX : CAP_PCICFG;
    vcap(fn, CAP_COMMON, 0, VS_PCI_CAP_VIRTIO_LEN, VS_VIRTIO_PCI_CAP_COMMON, BAR_VIRTIO,
         fn->common_off, REGION_LEN);
    vcap(fn, CAP_ISR, CAP_COMMON, VS_PCI_CAP_VIRTIO_LEN, VS_VIRTIO_PCI_CAP_ISR, BAR_VIRTIO,
         fn->isr_off, REGION_LEN);
    uint8_t after_dev = CAP_ISR;
    if (fn->cfg_len) {
        vcap(fn, CAP_DEVICE, CAP_ISR, VS_PCI_CAP_VIRTIO_LEN, VS_VIRTIO_PCI_CAP_DEVICE,
             BAR_VIRTIO, fn->dev_off, fn->dev_len);
        after_dev = CAP_DEVICE;
    }
    vcap(fn, CAP_NOTIFY, after_dev,
         (fn->mut & VS_PCI_MUT_CAP_LEN_SHORT) ? VS_PCI_CAP_VIRTIO_LEN : VS_PCI_CAP_NOTIFY_LEN,
         VS_VIRTIO_PCI_CAP_NOTIFY, BAR_VIRTIO, fn->notify_off, fn->notify_len);
    put32(c + CAP_NOTIFY + 16, fn->mult);
    vcap(fn, CAP_PCICFG, CAP_NOTIFY, VS_PCI_CAP_PCI_CFG_LEN, VS_VIRTIO_PCI_CAP_PCI_CFG, 0, 0,
         0);
    fn->wmask[CAP_PCICFG + 4] = 0xff;
    memset(fn->wmask + CAP_PCICFG + 8, 0xff, 12); /* offset, length, data */
    if (fn->nvec) {
        uint8_t *m = c + CAP_MSIX;
        m[0] = VS_PCI_CAP_ID_MSIX;
        m[1] = CAP_PCICFG;
        put16(m + 2, (uint16_t)(fn->nvec - 1));
        put32(m + 4, 0 | BAR_MSIX);
        put32(m + 8, ((fn->mut & VS_PCI_MUT_MSIX_PBA_OVERLAP) ? 0 : fn->pba_off) | BAR_MSIX);
        fn->wmask[CAP_MSIX + 3] = 0xC0;
    }
    if (fn->quirks)
        build_quirk(fn);
}

void vs_pci_model_opts_default(vs_pci_model_opts *o)
{
    memset(o, 0, sizeof *o);
    o->msix_vectors = VS_PCI_MSIX_DEFAULT;
    o->notify_off_multiplier = 4;
}

int vs_pci_model_create(vs_pci_fn **out, vs_device *dev, vs_gmem *gm,
                        const vs_pci_model_opts *o, vs_err *e)
{
    if (!out || !dev || !dev->ops || !gm)
        return vs_err_set(e, VS_EINVAL, "pci: create needs out, device and guest memory");
    *out = NULL;
    vs_pci_model_opts d;
    if (!o) {
        vs_pci_model_opts_default(&d);
        o = &d;
    }
    uint16_t nq = dev->ops->num_queues ? dev->ops->num_queues(dev) : 0;
    uint32_t nvec = o->msix_vectors == VS_PCI_MSIX_DEFAULT ? nq + 1u : o->msix_vectors;
    if (nvec > VS_PCI_MSIX_MAX)
        return vs_err_set(e, VS_EINVAL, "pci: %u MSI-X vectors (at most %u)", nvec,
                          VS_PCI_MSIX_MAX);
    uint32_t mult = o->notify_off_multiplier;
    if (o->mutations & VS_PCI_MUT_NOTIFY_MULT_ODD)
        mult = 3;
    if ((uint64_t)mult * (nq ? nq - 1u : 0) + 4 > REGION_LEN)
        return vs_err_set(e, VS_EINVAL, "pci: notify_off_multiplier %u x %u queues does not "
                          "fit the 4 KiB notify region", mult, nq);
    vs_pci_fn *fn = calloc(1, sizeof *fn);
    if (!fn)
        return vs_err_set(e, VS_ENOMEM, "pci: out of memory");
    fn->dev = dev;
    fn->gm = gm;
    fn->o = *o;
    fn->mut = o->mutations;
    fn->quirks = o->layout_quirks;
    fn->cfg_size = o->pcie ? 4096 : 256;
    fn->mult = mult;
    fn->nq = nq;
    fn->nvec = (uint16_t)nvec;
    fn->common_off = 0;
    fn->isr_off = 0x1000;
    fn->dev_off = (fn->mut & VS_PCI_MUT_CAP_MISALIGNED) ? 0x2002 : 0x2000;
    fn->dev_len = REGION_LEN - (fn->dev_off - 0x2000);
    fn->notify_off = 0x3000;
    fn->notify_len = REGION_LEN;
    fn->cfg_len = dev->ops->config_size ? dev->ops->config_size(dev) : 0;
    if (fn->cfg_len > REGION_LEN)
        fn->cfg_len = REGION_LEN;
    if (nvec) {
        fn->pba_off = (16u * nvec + 0x7ffu) & ~0x7ffu;
        uint32_t need = fn->pba_off + 8u * ((nvec + 63u) / 64u);
        fn->bar1_size = 0x1000;
        while (fn->bar1_size < need)
            fn->bar1_size <<= 1;
        fn->table = calloc(nvec, 16);
        fn->pba = calloc((nvec + 63u) / 64u, 8);
    }
    fn->q = nq ? calloc(nq, sizeof *fn->q) : NULL;
    if (o->log_cap)
        fn->log = calloc(o->log_cap, sizeof *fn->log);
    if ((nvec && (!fn->table || !fn->pba)) || (nq && !fn->q) || (o->log_cap && !fn->log)) {
        vs_pci_model_destroy(fn);
        return vs_err_set(e, VS_ENOMEM, "pci: out of memory");
    }
    fn->log_cap = o->log_cap;
    for (uint16_t i = 0; i < nq; i++) {
        uint32_t max = dev->ops->queue_max_size ? dev->ops->queue_max_size(dev, i) : 0;
        fn->q[i].max = (uint16_t)(max > VS_VQ_MAX_SIZE ? VS_VQ_MAX_SIZE : max);
    }
    vs_pci_model_pci_reset(fn);
    *out = fn;
    return 0;
}

void vs_pci_model_pci_reset(vs_pci_fn *fn)
{
    if (!fn)
        return;
    build_config(fn);
    for (uint16_t v = 0; v < fn->nvec; v++)
        put32(fn->table + 16u * v + 12, VS_PCI_MSIX_ENTRY_MASKED);
    for (uint16_t v = 0; v < fn->nvec; v++)
        memset(fn->table + 16u * v, 0, 12);
    fn->gen = 0;
    device_reset(fn);
}

void vs_pci_model_destroy(vs_pci_fn *fn)
{
    if (!fn)
        return;
    free(fn->table);
    free(fn->pba);
    free(fn->q);
    free(fn->log);
    free(fn);
}

vs_pci_bus vs_pci_model_bus(vs_pci_fn *fn) { return (vs_pci_bus){&model_ops, fn}; }

/* ------------------------------------------------------------------ embedding hooks */

uint16_t vs_pci_num_queues(const vs_pci_fn *fn) { return fn ? fn->nq : 0; }

int vs_pci_queue_state_get(const vs_pci_fn *fn, uint16_t q, vs_pci_queue_state *out,
                           vs_err *e)
{
    if (!fn || !out)
        return vs_err_set(e, VS_EINVAL, "pci: queue_state needs fn and out");
    memset(out, 0, sizeof *out);
    out->msix_vector = VS_PCI_NO_VECTOR;
    if (q >= fn->nq)
        return 0;
    const pq *s = &fn->q[q];
    out->exists = true;
    out->enabled = s->enable != 0;
    out->size = s->size;
    out->max_size = s->max;
    out->msix_vector = s->vector;
    out->notify_off = q;
    out->desc = s->desc;
    out->driver = s->driver;
    out->device = s->device;
    return 0;
}

int vs_pci_queue_layout(const vs_pci_fn *fn, uint16_t q, vs_vq_layout *out, vs_err *e)
{
    if (!fn || !out)
        return vs_err_set(e, VS_EINVAL, "pci: queue_layout needs fn and out");
    if (q >= fn->nq)
        return vs_err_set(e, VS_ERANGE, "pci: queue %u does not exist (%u queues)", q, fn->nq);
    if (!fn->q[q].enable)
        return vs_err_set(e, VS_ESTATE, "pci: queue %u is not enabled", q);
    fill_layout(fn, &fn->q[q], out);
    return 0;
}

uint8_t vs_pci_device_status(const vs_pci_fn *fn) { return fn ? fn->status : 0; }
uint64_t vs_pci_negotiated_features(const vs_pci_fn *fn) { return fn ? fn->negotiated : 0; }
bool vs_pci_dma_allowed(const vs_pci_fn *fn) { return fn && (cmd(fn) & VS_PCI_CMD_MASTER); }

bool vs_pci_device_live(const vs_pci_fn *fn)
{
    if (!fn)
        return false;
    uint8_t s = fn->status;
    return (s & VS_STATUS_DRIVER_OK) && (s & VS_STATUS_FEATURES_OK) &&
           !(s & (VS_STATUS_FAILED | VS_STATUS_DEVICE_NEEDS_RESET)) && vs_pci_dma_allowed(fn);
}

const vs_pci_access *vs_pci_model_log(const vs_pci_fn *fn, size_t *n)
{
    if (n)
        *n = fn ? fn->log_n : 0;
    return fn ? fn->log : NULL;
}

void vs_pci_model_log_clear(vs_pci_fn *fn)
{
    if (fn)
        fn->log_n = 0;
}
