/* The driver-role PCI checks: how a driver uses the virtio-pci transport, judged access
 * by access (vs_pci_drv_judge: the streaming form sim/transport_pci.c feeds with every
 * access its driver makes; vs_pci_check_log runs the same code over a recorded log).
 * Each check is proven by a mutant of that driver (sim/driver_mutants.c, pci-drv-*). */
#include "virtiosim/pci.h"

#include <inttypes.h>
#include <string.h>

#include "model/pci_checks_int.h"
#include "virtiosim/virtio.h"

typedef struct ctx {
    vs_pci_findings *out;
    const char *check;
} ctx;

#define PASS(c, id) vs__pci_verdict((c)->out, (c)->check, id, VS_PCI_PASS, "%s", "")
#define FAIL(c, id, ...) vs__pci_verdict((c)->out, (c)->check, id, VS_PCI_FAIL, __VA_ARGS__)
#define NOTEX(c, id, ...) \
    vs__pci_verdict((c)->out, (c)->check, id, VS_PCI_NOT_EXERCISED, __VA_ARGS__)
#define NA(c, id, ...) \
    vs__pci_verdict((c)->out, (c)->check, id, VS_PCI_NOT_APPLICABLE, __VA_ARGS__)
#define EXPECT(c, id, cond, ...)      \
    do {                              \
        if (cond)                     \
            PASS(c, id);              \
        else                          \
            FAIL(c, id, __VA_ARGS__); \
    } while (0)

/* ------------------------------------------------------------------ driver role, streamed */

void vs_pci_drv_judge_init(vs_pci_drv_judge *j, vs_pci_findings *out, const vs_pcib_dev *layout)
{
    memset(j, 0, sizeof *j);
    j->out = out;
    j->layout = layout;
    j->vec_pending = -1;
}

static bool drv_want(const char *name, const char *check)
{
    return !name || strcmp(name, check) == 0;
}

static uint64_t qbit(int32_t q) { return q >= 0 && q < VS_PCI_JUDGE_QUEUES ? 1ull << q : 0; }

/* The driver's own feature bookkeeping (as track(), kept per judge). */
static void drv_track(vs_pci_drv_judge *j, const vs_pci_access *a)
{
    if (!a->write)
        return;
    if (a->roff == VS_VIRTIO_COMMON_GFSELECT && a->width == 4)
        j->gfsel = (uint32_t)a->val;
    else if (a->roff == VS_VIRTIO_COMMON_GF && a->width == 4 && j->gfsel < 2)
        j->gf = (j->gf & ~(0xffffffffull << (32 * j->gfsel))) |
                (a->val & 0xffffffffull) << (32 * j->gfsel);
    else if (a->roff == VS_VIRTIO_COMMON_STATUS && a->width == 1) {
        if (a->val == 0) {
            j->gf = j->negotiated = 0;
            j->gfsel = 0;
            j->features_ok = false;
            j->enabled = j->noff_known = j->qreset = j->qvec_ok = j->ndata_known = 0;
        } else if ((a->val & VS_STATUS_FEATURES_OK) && !j->features_ok) {
            j->features_ok = true;
            j->negotiated = j->gf;
        }
    } else if (a->roff == VS_VIRTIO_COMMON_Q_SIZE && qbit(a->queue)) {
        j->qsize[a->queue] = (uint16_t)a->val;
    } else if ((a->roff == VS_VIRTIO_COMMON_Q_DESCLO || a->roff == VS_VIRTIO_COMMON_Q_DESCHI) &&
               a->width == 4 && qbit(a->queue)) {
        unsigned sh = a->roff == VS_VIRTIO_COMMON_Q_DESCLO ? 0 : 32;
        j->qdesc[a->queue] = (j->qdesc[a->queue] & ~(0xffffffffull << sh)) |
                             (a->val & 0xffffffffull) << sh;
    } else if (a->roff == VS_VIRTIO_COMMON_Q_ENABLE && a->val == 1) {
        j->enabled |= qbit(a->queue);
    } else if (a->roff == VS_VIRTIO_COMMON_Q_RESET && a->val == 1) {
        j->enabled &= ~qbit(a->queue);
        j->qreset |= qbit(a->queue);
    }
}

static bool is_vector_field(uint32_t off)
{
    return off == VS_VIRTIO_COMMON_MSIX || off == VS_VIRTIO_COMMON_Q_MSIX;
}

/* A vector write not read back before the driver moves on. */
static void drv_vec_moved_on(ctx *c, vs_pci_drv_judge *j, const vs_pci_access *a, size_t i,
                             const char *name)
{
    if (j->vec_pending < 0 || !drv_want(name, "log-driver-msix-readback"))
        return;
    c->check = "log-driver-msix-readback";
    FAIL(c, "pci.driver.msix.3",
         "access %zu: %s of common cfg 0x%02x before reading back the vector written to "
         "0x%02x (queue %d)", i, a->write ? "write" : "read", a->roff,
         (unsigned)j->vec_pending, j->vec_queue);
    j->vec_pending = -1;
}

static void drv_msix(ctx *c, vs_pci_drv_judge *j, const vs_pci_access *a, size_t i,
                     const char *name)
{
    const vs_pcib_msix *mx = j->layout ? &j->layout->msix : NULL;
    /* the queue's vector as written, then as read back (NO_VECTOR: refused) */
    if (a->roff == VS_VIRTIO_COMMON_Q_MSIX && qbit(a->queue)) {
        if (a->val != VS_PCI_NO_VECTOR && mx && mx->present && a->val < mx->table_size)
            j->qvec_ok |= qbit(a->queue);
        else
            j->qvec_ok &= ~qbit(a->queue);
    }
    if (!a->write) {
        if ((int)a->roff == j->vec_pending &&
            (a->roff == VS_VIRTIO_COMMON_MSIX || a->queue == j->vec_queue)) {
            if (drv_want(name, "log-driver-msix-readback")) {
                c->check = "log-driver-msix-readback";
                PASS(c, "pci.driver.msix.3");
            }
            j->vec_pending = -1;
        }
        return;
    }
    drv_vec_moved_on(c, j, a, i, name);
    j->vec_pending = (int)a->roff;
    j->vec_queue = a->roff == VS_VIRTIO_COMMON_MSIX ? -1 : a->queue;
    if (!drv_want(name, "log-driver-msix-range"))
        return;
    c->check = "log-driver-msix-range";
    const vs_pcib_msix *m = j->layout ? &j->layout->msix : NULL;
    if (a->val == VS_PCI_NO_VECTOR)
        PASS(c, "pci.driver.msix.2");
    else if (!m || !m->present)
        NOTEX(c, "pci.driver.msix.2", "MSI-X table size unknown");
    else
        EXPECT(c, "pci.driver.msix.2", a->val < m->table_size,
               "access %zu: vector %" PRIu64 " written to common cfg 0x%02x, the MSI-X table "
               "has %u entries", i, a->val, a->roff, (unsigned)m->table_size);
}

static void drv_common(ctx *c, vs_pci_drv_judge *j, const vs_pci_access *a, size_t i,
                       const char *name)
{
    uint32_t o = a->roff;
    unsigned fw = vs__pci_common_width(o);
    if (drv_want(name, "log-driver-widths")) {
        c->check = "log-driver-widths";
        EXPECT(c, "pci.driver.layout.1", fw && a->width == fw,
               "access %zu: %u-byte %s at common cfg 0x%02x (field width %u)", i, a->width,
               a->write ? "write" : "read", o, fw);
    }
    if (is_vector_field(o))
        drv_msix(c, j, a, i, name);
    else if (a->write && o != VS_VIRTIO_COMMON_Q_SELECT)
        drv_vec_moved_on(c, j, a, i, name);
    if (!a->write) {
        /* a status read of any width counts: the width has its own check */
        bool status0 = o <= VS_VIRTIO_COMMON_STATUS && o + a->width > VS_VIRTIO_COMMON_STATUS &&
                       ((a->val >> (8 * (VS_VIRTIO_COMMON_STATUS - o))) & 0xff) == 0;
        if (status0 && j->reset_pending) {
            j->reset_pending = false;
            if (drv_want(name, "log-driver-reset-wait")) {
                c->check = "log-driver-reset-wait";
                PASS(c, "pci.driver.common-cfg.5");
            }
        }
        if (o == VS_VIRTIO_COMMON_Q_RESET && a->val == 0 && (j->qreset & qbit(a->queue))) {
            j->qreset &= ~qbit(a->queue);
            if (drv_want(name, "log-driver-queue-reset-wait")) {
                c->check = "log-driver-queue-reset-wait";
                PASS(c, "pci.driver.common-cfg.7");
                PASS(c, "generic.driver.vq-reset.1"); /* the transport-neutral rule */
            }
        }
        if (o == VS_VIRTIO_COMMON_Q_NOFF && a->width == 2 && qbit(a->queue)) {
            j->noff[a->queue] = (uint16_t)a->val;
            j->noff_known |= qbit(a->queue);
        }
        if (o == VS_VIRTIO_COMMON_Q_NDATA && a->width == 2 && qbit(a->queue)) {
            j->ndata[a->queue] = (uint16_t)a->val;
            j->ndata_known |= qbit(a->queue);
        }
        return;
    }
    if (drv_want(name, "log-driver-ro-writes")) {
        c->check = "log-driver-ro-writes";
        bool ro = (o >= VS_VIRTIO_COMMON_DF && o < VS_VIRTIO_COMMON_DF + 4) ||
                  (o >= VS_VIRTIO_COMMON_NUMQ && o < VS_VIRTIO_COMMON_NUMQ + 2) ||
                  o == VS_VIRTIO_COMMON_CFGGENERATION ||
                  (o >= VS_VIRTIO_COMMON_Q_NOFF && o < VS_VIRTIO_COMMON_Q_NOFF + 2) ||
                  (o >= VS_VIRTIO_COMMON_Q_NDATA && o < VS_VIRTIO_COMMON_Q_NDATA + 2);
        EXPECT(c, "pci.driver.common-cfg.1", !ro,
               "access %zu: driver wrote 0x%" PRIx64 " to read-only common cfg 0x%02x", i,
               a->val, o);
    }
    if (o == VS_VIRTIO_COMMON_Q_ENABLE && drv_want(name, "log-driver-queue-enable-0")) {
        c->check = "log-driver-queue-enable-0";
        EXPECT(c, "pci.driver.common-cfg.6", a->val != 0,
               "access %zu: driver wrote 0 to queue_enable of queue %d", i, a->queue);
    }
    if (o == VS_VIRTIO_COMMON_Q_SIZE && drv_want(name, "log-driver-queue-size")) {
        c->check = "log-driver-queue-size";
        uint64_t f = j->features_ok ? j->negotiated : j->gf;
        bool packed = (f & VS_BIT(VS_F_RING_PACKED)) != 0;
        const char *id = packed ? "pci.driver.common-cfg.2" : "pci.driver.common-cfg.3";
        NA(c, packed ? "pci.driver.common-cfg.3" : "pci.driver.common-cfg.2",
           packed ? "RING_PACKED negotiated" : "RING_PACKED not negotiated");
        EXPECT(c, id, packed ? a->val != 0 : vs__pci_is_pow2(a->val),
               "access %zu: queue %d queue_size written %" PRIu64 "%s", i, a->queue, a->val,
               packed ? " with RING_PACKED" : ", not a power of two, without RING_PACKED");
    }
    bool qfield = o == VS_VIRTIO_COMMON_Q_SIZE ||
                  (o >= VS_VIRTIO_COMMON_Q_DESCLO && o < VS_VIRTIO_COMMON_Q_USEDHI + 4);
    bool qsetup = qfield || o == VS_VIRTIO_COMMON_Q_MSIX || o == VS_VIRTIO_COMMON_Q_ENABLE;
    if (qsetup && (j->qreset & qbit(a->queue)) && drv_want(name, "log-driver-queue-reset-wait")) {
        c->check = "log-driver-queue-reset-wait";
        FAIL(c, "pci.driver.common-cfg.7",
             "access %zu: common cfg 0x%02x of queue %d written after queue_reset=1, before "
             "queue_reset read 0", i, o, a->queue);
        FAIL(c, "generic.driver.vq-reset.1",
             "access %zu: queue %d set up again before its reset was seen complete "
             "(queue_reset read 0)", i, a->queue);
        j->qreset &= ~qbit(a->queue);
    }
    if (drv_want(name, "log-driver-enable-last")) {
        c->check = "log-driver-enable-last";
        if (qfield && (j->enabled & qbit(a->queue)))
            FAIL(c, "pci.driver.common-cfg.4",
                 "access %zu: common cfg 0x%02x of queue %d written after its queue_enable",
                 i, o, a->queue);
        else if (o == VS_VIRTIO_COMMON_Q_ENABLE && a->val == 1)
            PASS(c, "pci.driver.common-cfg.4");
    }
}

/* Packed ring with NOTIFICATION_DATA: next_off/next_wrap name the first slot the driver
 * has not made available (its AVAIL bit is not next_wrap) right after the last one it did
 * (AVAIL equal to that slot's wrap), read from the ring as the device would. */
static void drv_notify_data(ctx *c, vs_pci_drv_judge *j, const vs_pci_access *a, size_t i,
                            int q)
{
    c->check = "log-driver-notify-data";
    const char *id = "packed.driver.desc-table.3";
    uint16_t size = j->qsize[q];
    if (!j->gm || !size || !j->qdesc[q]) {
        NOTEX(c, id, "queue %d's ring not known", q);
        return;
    }
    uint32_t off = (uint32_t)(a->val >> 16) & 0x7fff;
    bool wrap = (a->val >> 31) & 1;
    if (off >= size) {
        FAIL(c, id, "access %zu: queue %d notification next_off %u beyond the ring (%u)", i, q,
             off, size);
        return;
    }
    uint8_t fb[2] = {0}, pb[2] = {0};
    uint32_t prev = off ? off - 1 : size - 1u;
    bool pwrap = off ? wrap : !wrap;
    if (vs_gmem_read(j->gm, j->qdesc[q] + 16u * off + 14, fb, 2, NULL) < 0 ||
        vs_gmem_read(j->gm, j->qdesc[q] + 16u * prev + 14, pb, 2, NULL) < 0) {
        NOTEX(c, id, "queue %d's ring not readable", q);
        return;
    }
    bool avail = (fb[0] & VS_DESC_F_AVAIL) != 0, pavail = (pb[0] & VS_DESC_F_AVAIL) != 0;
    bool first = off == 0 && wrap; /* nothing exposed yet */
    EXPECT(c, id, avail != wrap && (first || pavail == pwrap),
           "access %zu: queue %d notification names slot %u wrap %d, but that slot is %s "
           "and slot %u %s", i, q, off, wrap, avail == wrap ? "already available" : "not yet available",
           prev, pavail == pwrap ? "is available" : "is not available either");
}

/* The queue whose notify address a write hit (-1: not attributable). */
static int notify_queue(const vs_pci_drv_judge *j, const vs_pci_access *a)
{
    uint32_t mult = j->layout ? j->layout->notify_off_multiplier : 0;
    for (int k = 0; mult && k < VS_PCI_JUDGE_QUEUES; k++)
        if ((j->noff_known & (1ull << k)) && (uint64_t)j->noff[k] * mult == a->roff)
            return k;
    return -1;
}

static void drv_notify(ctx *c, vs_pci_drv_judge *j, const vs_pci_access *a, size_t i,
                       const char *name)
{
    bool nd = (j->negotiated & VS_BIT(VS_F_NOTIFICATION_DATA)) != 0;
    bool ncd = (j->negotiated & VS_BIT(VS_F_NOTIF_CONFIG_DATA)) != 0;
    if (drv_want(name, "log-driver-notify-width")) {
        c->check = "log-driver-notify-width";
        const char *id = nd ? "pci.driver.avail-notif.2" : "pci.driver.avail-notif.1";
        unsigned want = nd ? 4 : 2;
        EXPECT(c, id, a->width == want,
               "access %zu: %u-byte notification (expected %u-byte%s)", i, a->width, want,
               nd ? ", NOTIFICATION_DATA negotiated" : "");
    }
    int q = notify_queue(j, a);
    /* a 16-bit write carries no ring position: the width check speaks for it */
    if (nd && q >= 0 && a->width == 4 && (j->negotiated & VS_BIT(VS_F_RING_PACKED)) &&
        drv_want(name, "log-driver-notify-data"))
        drv_notify_data(c, j, a, i, q);
    if (!drv_want(name, "log-driver-notify-value"))
        return;
    c->check = "log-driver-notify-value";
    const char *id = ncd ? (nd ? "pci.driver.avail-notif.6" : "pci.driver.avail-notif.5")
                         : (nd ? "pci.driver.avail-notif.4" : "pci.driver.avail-notif.3");
    if (q < 0) {
        NOTEX(c, id, "notify address not attributable to one queue");
        return;
    }
    if (ncd && !(j->ndata_known & qbit(q))) {
        FAIL(c, id, "access %zu: queue %d notified with NOTIF_CONFIG_DATA before its "
             "queue_notif_config_data was read", i, q);
        return;
    }
    uint64_t want = ncd ? j->ndata[q] : (uint64_t)q;
    EXPECT(c, id, (a->val & 0xffff) == want,
           "access %zu: notification value 0x%" PRIx64 " at the notify address of queue %d "
           "(expected 0x%" PRIx64 " in the low 16 bits)", i, a->val, q, want);
}

/* At DRIVER_OK, whatever the MSI-X table size: with MSI-X enabled every enabled queue has
 * a vector inside the table (else its interrupts are lost); without, INTx serves. */
static void drv_msix_size(ctx *c, const vs_pci_drv_judge *j, size_t i)
{
    const vs_pcib_msix *m = j->layout ? &j->layout->msix : NULL;
    c->check = "log-driver-msix-size";
    if (!m || !m->present) {
        NOTEX(c, "pci.driver.msix.1", "no MSI-X capability");
        return;
    }
    uint64_t lost = j->msix_on ? j->enabled & ~j->qvec_ok : 0;
    int q = 0;
    while (lost && !(lost & (1ull << q)))
        q++;
    EXPECT(c, "pci.driver.msix.1", !lost,
           "access %zu: DRIVER_OK with MSI-X enabled and queue %d without a vector in the "
           "%u-entry table: its used-buffer interrupts are lost", i, q, (unsigned)m->table_size);
}

/* INTx, one ISR read showing a configuration change and used buffers: the driver must
 * handle the change too (read device_status, config_generation or the device config)
 * before its next ISR read; the used buffers it handles as for any queue interrupt. */
static void drv_isr_both(ctx *c, vs_pci_drv_judge *j, const vs_pci_access *a, size_t i)
{
    c->check = "log-driver-intx-both";
    bool cfg_read = !a->write && ((a->region == VS_PCI_REG_COMMON &&
                                   (a->roff == VS_VIRTIO_COMMON_STATUS ||
                                    a->roff == VS_VIRTIO_COMMON_CFGGENERATION)) ||
                                  a->region == VS_PCI_REG_DEVICE);
    if (j->isr_both && cfg_read) {
        j->isr_both = false;
        PASS(c, "pci.driver.config-notif.1");
        return;
    }
    if (a->region != VS_PCI_REG_ISR || a->write || a->roff != 0)
        return;
    if (j->isr_both)
        FAIL(c, "pci.driver.config-notif.1", "access %zu: ISR read again without handling the "
             "configuration change an earlier ISR read (0x3: config and queue) reported", i);
    j->isr_both = (a->val & (VS_PCI_ISR_QUEUE | VS_PCI_ISR_CONFIG)) ==
                  (VS_PCI_ISR_QUEUE | VS_PCI_ISR_CONFIG);
}

/* ------------------------------------------------------------------ capabilities */

static uint8_t cap_defined_len(uint8_t type)
{
    return type == VS_VIRTIO_PCI_CAP_NOTIFY || type == VS_VIRTIO_PCI_CAP_PCI_CFG
               ? VS_PCI_CAP_NOTIFY_LEN : VS_PCI_CAP_VIRTIO_LEN;
}

static int jrd(vs_pci_bus b, uint16_t off, unsigned w, uint32_t *v, vs_err *e)
{
    return b.ops->cfg_read(b.opaque, off, w, v, e);
}

static void walk_classify(vs_pci_drv_judge *j, vs_pci_judge_cap *k)
{
    bool known = k->type >= VS_VIRTIO_PCI_CAP_COMMON && k->type <= VS_VIRTIO_PCI_CAP_DEVICE;
    if (!known && k->type != VS_VIRTIO_PCI_CAP_PCI_CFG && k->type != 8 && k->type != 9)
        k->role = VS_PCI_JCAP_RESERVED_TYPE;
    else if (!known)
        k->role = 0; /* PCI_CFG, shared memory, vendor data: not a structure to map */
    else if (k->bar > 5)
        k->role = VS_PCI_JCAP_RESERVED_BAR;
    else {
        k->role = VS_PCI_JCAP_CHOSEN;
        for (uint8_t x = 0; x < j->ncaps; x++)
            if (j->caps[x].type == k->type && j->caps[x].role == VS_PCI_JCAP_CHOSEN)
                k->role = VS_PCI_JCAP_LATER;
    }
}

int vs_pci_drv_judge_walk(vs_pci_drv_judge *j, vs_pci_bus raw, vs_err *e)
{
    if (!j || !raw.ops)
        return vs_err_set(e, VS_EINVAL, "pci judge: no bus to walk");
    j->walked = false;
    j->ncaps = 0;
    for (unsigned b = 0; b < 6; b++) {
        uint32_t lo = 0, hi = 0;
        int rc = jrd(raw, (uint16_t)(VS_PCI_BAR0 + 4 * b), 4, &lo, e);
        if (rc < 0)
            return rc;
        if ((lo & 1) == 0 && (lo & 6) == 4 && b < 5 &&
            (rc = jrd(raw, (uint16_t)(VS_PCI_BAR0 + 4 * (b + 1)), 4, &hi, e)) < 0)
            return rc;
        j->bar_base[b] = (lo & 1) ? 0 : ((uint64_t)hi << 32 | (lo & ~0xFu));
        if ((lo & 1) == 0 && (lo & 6) == 4 && b < 5)
            j->bar_base[++b] = 0;
    }
    uint8_t cap = 0;
    for (int guard = 0; guard < 48 && j->ncaps < VS_PCI_JUDGE_CAPS; guard++) {
        int rc = vs_pcib_find_cap(raw, VS_PCI_CAP_ID_VNDR, cap, &cap, e);
        if (rc < 0)
            return rc;
        if (!cap)
            break;
        uint32_t w0 = 0, w1 = 0, off = 0, len = 0;
        if ((rc = jrd(raw, cap, 4, &w0, e)) < 0 || (rc = jrd(raw, (uint16_t)(cap + 4), 4, &w1, e)) < 0 ||
            (rc = jrd(raw, (uint16_t)(cap + 8), 4, &off, e)) < 0 ||
            (rc = jrd(raw, (uint16_t)(cap + 12), 4, &len, e)) < 0)
            return rc;
        vs_pci_judge_cap *k = &j->caps[j->ncaps];
        *k = (vs_pci_judge_cap){.cap = cap, .cap_len = (uint8_t)(w0 >> 16),
                                .type = (uint8_t)(w0 >> 24), .bar = (uint8_t)w1,
                                .offset = off, .length = len};
        if (k->cap_len < VS_PCI_CAP_VIRTIO_LEN)
            continue;
        walk_classify(j, k);
        j->ncaps++;
    }
    j->walked = true;
    return 0;
}

static bool cap_has(const vs_pci_drv_judge *j, uint8_t role)
{
    for (uint8_t x = 0; x < j->ncaps; x++)
        if (j->caps[x].role == role)
            return true;
    return false;
}

static const vs_pci_judge_cap *chosen_of(const vs_pci_drv_judge *j, uint8_t type)
{
    for (uint8_t x = 0; x < j->ncaps; x++)
        if (j->caps[x].type == type && j->caps[x].role == VS_PCI_JCAP_CHOSEN)
            return &j->caps[x];
    return NULL;
}

static bool cap_covers(const vs_pci_judge_cap *k, uint64_t base, uint64_t addr)
{
    return base && addr >= base + k->offset && addr - (base + k->offset) < k->length;
}

/* The structure a correct walk picks for the type is larger than the structure itself. */
static bool chosen_longer(const vs_pci_judge_cap *k)
{
    return k->type == VS_VIRTIO_PCI_CAP_COMMON && k->length > VS_VIRTIO_COMMON_SIZE;
}

/* An access to a chosen structure passes every provocation of the layout; one to a
 * structure a correct walk passes over fails the statement that says why. */
static void drv_caps(ctx *c, const vs_pci_drv_judge *j, const vs_pci_access *a, size_t i)
{
    c->check = "log-driver-caps";
    const vs_pci_judge_cap *hit = NULL;
    for (uint8_t x = 0; x < j->ncaps && !hit; x++) {
        const vs_pci_judge_cap *k = &j->caps[x];
        if (k->bar <= 5 && (k->role == VS_PCI_JCAP_CHOSEN || k->role == VS_PCI_JCAP_LATER ||
                            k->role == VS_PCI_JCAP_RESERVED_TYPE) &&
            cap_covers(k, j->bar_base[k->bar], a->addr))
            hit = k;
    }
    if (hit && hit->role == VS_PCI_JCAP_CHOSEN) {
        if (cap_has(j, VS_PCI_JCAP_RESERVED_TYPE))
            PASS(c, "pci.driver.caps.1");
        if (cap_has(j, VS_PCI_JCAP_RESERVED_BAR))
            PASS(c, "pci.driver.caps.4");
        for (uint8_t x = 0; x < j->ncaps; x++)
            if (j->caps[x].role == VS_PCI_JCAP_LATER && j->caps[x].type == hit->type)
                PASS(c, "pci.driver.caps.2");
        if (hit->cap_len > cap_defined_len(hit->type))
            PASS(c, "pci.driver.caps.3");
        if (chosen_longer(hit))
            PASS(c, "pci.driver.caps.6");
        return;
    }
    if (hit && hit->role == VS_PCI_JCAP_RESERVED_TYPE) {
        FAIL(c, "pci.driver.caps.1", "access %zu: 0x%" PRIx64 " is in the region of the "
             "capability at 0x%02x, whose cfg_type 0x%02x is reserved", i, a->addr, hit->cap,
             hit->type);
        return;
    }
    if (hit) { /* a later capability of a type */
        const vs_pci_judge_cap *k0 = chosen_of(j, hit->type);
        if (k0 && k0->cap_len > cap_defined_len(k0->type))
            FAIL(c, "pci.driver.caps.3", "access %zu: the driver uses the capability at "
                 "0x%02x, passing over the first one at 0x%02x (cap_len %u)", i, hit->cap,
                 k0->cap, k0->cap_len);
        else if (k0 && chosen_longer(k0) && hit->length < k0->length)
            FAIL(c, "pci.driver.caps.6", "access %zu: the driver uses the capability at "
                 "0x%02x (length 0x%x), passing over the first one at 0x%02x (length 0x%x)",
                 i, hit->cap, hit->length, k0->cap, k0->length);
        else
            FAIL(c, "pci.driver.caps.2", "access %zu: the driver uses the capability at "
                 "0x%02x, not the first of cfg_type %u at 0x%02x", i, hit->cap, hit->type,
                 k0 ? k0->cap : 0);
        return;
    }
    for (uint8_t x = 0; x < j->ncaps; x++) {
        const vs_pci_judge_cap *k = &j->caps[x];
        for (unsigned b = 0; k->role == VS_PCI_JCAP_RESERVED_BAR && b < 6; b++)
            if (cap_covers(k, j->bar_base[b], a->addr)) {
                FAIL(c, "pci.driver.caps.4", "access %zu: 0x%" PRIx64 " is in no structure "
                     "but where the capability at 0x%02x with reserved bar %u points (taken "
                     "as BAR%u)", i, a->addr, k->cap, k->bar, b);
                return;
            }
    }
}


/* Config space: writes into virtio capabilities, and the PCI_CFG access window. */
static bool in_region_cap(const vs_pcib_region *r, uint32_t o)
{
    return r->present && r->cap && o >= r->cap && o < (uint32_t)r->cap + r->cap_len;
}

static bool window_inside(const vs_pcib_dev *d, uint8_t bar, uint32_t off, uint32_t len)
{
    const vs_pcib_region *rs[] = {&d->common, &d->notify, &d->isr, &d->device};
    for (size_t k = 0; k < 4; k++)
        if (rs[k]->present && rs[k]->bar == bar && off >= rs[k]->offset &&
            (uint64_t)off + len <= (uint64_t)rs[k]->offset + rs[k]->length)
            return true;
    return false;
}

static void drv_window(ctx *c, vs_pci_drv_judge *j, const vs_pci_access *a, size_t i)
{
    uint32_t off = j->win_off, len = j->win_len;
    c->check = "log-driver-cfg-window";
    EXPECT(c, "pci.driver.pci-cfg-cap.1", len && off % len == 0,
           "access %zu: pci_cfg_data %s with cap.offset 0x%x, cap.length %u", i,
           a->write ? "written" : "read", off, len);
    EXPECT(c, "pci.driver.pci-cfg-cap.2",
           (len == 1 || len == 2 || len == 4) && off % len == 0,
           "access %zu: window access of %u bytes at BAR offset 0x%x", i, len, off);
    EXPECT(c, "pci.driver.pci-cfg-cap.3", window_inside(j->layout, j->win_bar, off, len),
           "access %zu: window on BAR %u offset 0x%x length %u is outside every virtio "
           "structure", i, j->win_bar, off, len);
}

static void drv_cfg(ctx *c, vs_pci_drv_judge *j, const vs_pci_access *a, size_t i,
                    const char *name)
{
    const vs_pcib_dev *d = j->layout;
    if (!d)
        return;
    uint32_t o = (uint32_t)a->addr;
    if (a->write && d->msix.present && d->msix.cap && o == d->msix.cap + 2u && a->width == 2)
        j->msix_on = (a->val & 0x8000) != 0;
    if (a->write && drv_want(name, "log-driver-cap-writes")) {
        const vs_pcib_region *rs[] = {&d->common, &d->notify, &d->isr, &d->device};
        for (size_t k = 0; k < 4; k++)
            if (in_region_cap(rs[k], o)) {
                c->check = "log-driver-cap-writes";
                FAIL(c, "pci.driver.caps.7",
                     "access %zu: config write of 0x%" PRIx64 " at 0x%02x, inside the virtio "
                     "capability at 0x%02x", i, a->val, o, rs[k]->cap);
            }
    }
    uint32_t base = d->pci_cfg_cap;
    if (!base || o < base || o >= base + 20u)
        return;
    uint32_t r = o - base;
    if (a->write && r == 4 && a->width == 1)
        j->win_bar = (uint8_t)a->val;
    else if (a->write && r == 8 && a->width == 4)
        j->win_off = (uint32_t)a->val;
    else if (a->write && r == 12 && a->width == 4)
        j->win_len = (uint32_t)a->val;
    else if (r >= 16 && drv_want(name, "log-driver-cfg-window"))
        drv_window(c, j, a, i);
}

/* MSI-X on: a queue interrupt needs no ISR read (the vector says what happened). */
static void drv_isr_after_irq(ctx *c, vs_pci_drv_judge *j, const vs_pci_access *a, size_t i,
                              const char *name)
{
    if (!j->after_qirq || a->space != VS_PCI_SPACE_MMIO)
        return;
    j->after_qirq = false;
    if (!drv_want(name, "log-driver-isr-msix"))
        return;
    c->check = "log-driver-isr-msix";
    EXPECT(c, "pci.driver.isr.1", !(a->region == VS_PCI_REG_ISR && !a->write),
           "access %zu: ISR read right after a queue interrupt with MSI-X enabled", i);
}

static const char *region_name(uint8_t r)
{
    static const char *const names[] = {"the function at", "common cfg", "notify",
                                        "ISR",             "device cfg", "MSI-X table",
                                        "MSI-X PBA",       "unclaimed MMIO"};
    return r < sizeof names / sizeof names[0] ? names[r] : "?";
}

void vs__pci_drv_access(vs_pci_drv_judge *j, const vs_pci_access *a, size_t i,
                        const char *name)
{
    ctx cx = {.out = j->out}, *c = &cx;
    if (a->space == VS_PCI_SPACE_IRQ) {
        j->after_qirq = j->msix_on && a->queue >= 0;
        return;
    }
    if (a->space == VS_PCI_SPACE_CFG) {
        drv_cfg(c, j, a, i, name);
        return;
    }
    if (a->space != VS_PCI_SPACE_MMIO)
        return;
    drv_isr_after_irq(c, j, a, i, name);
    if (j->walked && drv_want(name, "log-driver-caps"))
        drv_caps(c, j, a, i);
    if (drv_want(name, "log-driver-intx-both"))
        drv_isr_both(c, j, a, i);
    if (a->write && a->region == VS_PCI_REG_COMMON && a->roff == VS_VIRTIO_COMMON_STATUS &&
        (a->val & VS_STATUS_DRIVER_OK) && drv_want(name, "log-driver-msix-size"))
        drv_msix_size(c, j, i);
    if (a->write && j->reset_pending && drv_want(name, "log-driver-reset-wait") &&
        !(a->region == VS_PCI_REG_COMMON && a->roff == VS_VIRTIO_COMMON_STATUS && a->val == 0)) {
        c->check = "log-driver-reset-wait";
        FAIL(c, "pci.driver.common-cfg.5",
             "access %zu: write to %s 0x%02x after the reset write, before status read 0", i,
             region_name(a->region), a->roff);
        j->reset_pending = false;
    }
    if (a->region == VS_PCI_REG_COMMON) {
        drv_common(c, j, a, i, name);
        drv_track(j, a);
        if (a->write && a->roff == VS_VIRTIO_COMMON_STATUS && a->val == 0 && a->width == 1)
            j->reset_pending = true;
    } else if (a->region == VS_PCI_REG_DEVICE && drv_want(name, "log-driver-widths")) {
        c->check = "log-driver-widths";
        EXPECT(c, "pci.driver.layout.1", a->width <= 4 && a->roff % a->width == 0,
               "access %zu: %u-byte %s at device cfg 0x%x (must be 1/2/4, aligned)", i,
               a->width, a->write ? "write" : "read", a->roff);
    } else if (a->region == VS_PCI_REG_NOTIFY && a->write) {
        drv_vec_moved_on(c, j, a, i, name);
        drv_notify(c, j, a, i, name);
    }
}

void vs_pci_drv_judge_access(vs_pci_drv_judge *j, const vs_pci_access *a)
{
    if (!j || !a || !j->out)
        return;
    vs__pci_drv_access(j, a, j->n++, NULL);
}

