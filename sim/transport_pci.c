/* One virtio-pci modern driver as a vs_transport over any vs_pci_bus, plus the
 * in-process back-end (PCI model + ref device half) and the PCI probe checks.
 * See virtiosim/transport_pci.h. */
#include "virtiosim/transport_pci.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NO_VECTOR 0xffffu
#define MAX_QUEUES 1024u
#define MAX_VEC 512u            /* slots in the first half of the page */
#define PROBE_SCRATCH 2048u     /* second half: MSI-X target of the probe checks */

typedef struct pci_tr {
    vs_transport pub;           /* first: vs_transport * <-> pci_tr * */
    vs_transport_ops ops;       /* per instance: carries the name */
    char name[32];
    vs_pci_bus bus;             /* the driver's accesses: judged (lg over raw) */
    vs_pci_bus raw;             /* the function's own bus: the probe checks use it */
    vs_pci_logger lg;
    vs_pci_drv_judge judge;
    vs_pci_findings drv_f;
    const vs_pci_platform_ops *plat;
    void *p;
    vs_event_bus *evbus;
    vs_pci_transport_opts o;
    vs_pcib_dev dev;
    uint64_t common, isr, devcfg;
    uint32_t devcfg_len;
    uint16_t nq;
    uint64_t *notify_addr;      /* per queue, 0 = not set up */
    uint16_t *ndata;            /* per queue: queue_notif_config_data (NOTIF_CONFIG_DATA) */
    uint16_t nvec;
    bool msix_on;
    bool intx_armed;
    bool intx_poll_isr;         /* the platform cannot see the line: poll the ISR */
    uint8_t isr_acc;            /* ISR bits read while polling, not yet by read_isr */
    uint64_t msi_gpa;
    uint32_t *msi_slot;
    uint64_t drv_features;
    int last_queue_reset;
    vs_pci_transport_stats st;
    int pred_rc;                /* error seen inside a wait predicate */
    vs_err pred_err;
    /* probe hooks (the model's; NULL for QEMU) */
    int (*probe_cfg)(void *opaque, vs_err *e);
    int (*probe_qirq)(void *opaque, uint16_t q, vs_err *e);
    void *probe_opaque;
} pci_tr;

static void pci_destroy(vs_transport *vt);
static int pci_reset(vs_transport *vt, vs_err *e);

static inline pci_tr *TR(vs_transport *t) { return (pci_tr *)t; }

void vs_pci_transport_opts_default(vs_pci_transport_opts *o)
{
    memset(o, 0, sizeof *o);
    o->irq_mode = VS_IRQ_MSIX;
    o->mmio_base = 0xE0000000ull;
    o->mmio_end = 0xFEC00000ull;
    o->reset_timeout_ns = 5000000000ull;
    o->reset_poll_ns = 100000;
}

/* ------------------------------------------------------------------ helpers */

static uint64_t now_ns(pci_tr *tr) { return tr->plat->now(tr->p); }

static void emit(pci_tr *tr, enum vs_event_kind kind, int32_t queue, uint64_t val,
                 const char *text)
{
    if (!tr->evbus || !tr->evbus->n)
        return;
    vs_event ev = {.kind = kind, .t_ns = now_ns(tr), .queue = queue, .val = val, .text = text};
    vs_event_emit(tr->evbus, &ev);
}

static int fail(pci_tr *tr, int rc, vs_err *e, const char *what)
{
    if (tr->plat->fail)
        return tr->plat->fail(tr->p, rc, e, what);
    if (e && e->code)
        vs_err_prefix(e, "%s: %s", tr->name, what);
    return rc;
}

static int check_live(pci_tr *tr, vs_err *e)
{
    return tr->plat->check ? tr->plat->check(tr->p, e) : 0;
}

static bool MUT(const pci_tr *tr, uint32_t m) { return (tr->o.drv_mutations & m) != 0; }

static void judge_access(void *opaque, const vs_pci_access *a)
{
    vs_pci_drv_judge_access(opaque, a);
}

#define B(tr, call, what)                                                                  \
    do {                                                                                   \
        int rc_ = (call);                                                                  \
        if (rc_ < 0)                                                                       \
            return fail((tr), rc_, e, (what));                                             \
    } while (0)

static int cw(pci_tr *tr, uint32_t off, unsigned w, uint64_t v, vs_err *e)
{
    return tr->bus.ops->mmio_write(tr->bus.opaque, tr->common + off, w, v, e);
}

static int cr(pci_tr *tr, uint32_t off, unsigned w, uint64_t *v, vs_err *e)
{
    return tr->bus.ops->mmio_read(tr->bus.opaque, tr->common + off, w, v, e);
}

/* ------------------------------------------------------------------ interrupts */

static int program_msix(pci_tr *tr, vs_err *e)
{
    for (uint16_t v = 0; v < tr->nvec; v++) {
        uint64_t addr = tr->msi_gpa + 4u * v;
        uint32_t data = VS_PCI_MSI_DATA_TAG | v;
        if (tr->plat->msix_route)
            tr->plat->msix_route(tr->p, v, addr, &addr, &data);
        B(tr, vs_pcib_msix_set_entry(tr->bus, &tr->dev, v, addr, data, false, e),
          "MSI-X table");
    }
    B(tr, vs_pcib_msix_enable(tr->bus, &tr->dev, true, e), "MSI-X enable");
    tr->msix_on = true;
    return 0;
}

static int set_config_vector(pci_tr *tr, vs_err *e)
{
    uint64_t want = tr->msix_on ? 0 : NO_VECTOR, got = 0;
    B(tr, cw(tr, VS_VIRTIO_COMMON_MSIX, 2, want, e), "config vector");
    B(tr, cr(tr, VS_VIRTIO_COMMON_MSIX, 2, &got, e), "config vector");
    if (got != want)
        return vs_err_set(e, VS_EBACKEND, "%s: config_msix_vector %u read back as 0x%x",
                          tr->name, (unsigned)want, (unsigned)got);
    return 0;
}

/* Makes the PCI function match pub.irq_mode. An MSI-X table without a vector for the
 * configuration and each queue (any Table Size 0..0x7FF is valid) means INTx instead. */
static int apply_irq_mode(pci_tr *tr, vs_err *e)
{
    if (tr->pub.irq_mode == VS_IRQ_MSIX && tr->dev.msix.present &&
        tr->nvec < tr->nq + 1u && !MUT(tr, VS_PCI_DRV_MUT_MSIX_NO_FALLBACK))
        tr->pub.irq_mode = VS_IRQ_INTX;
    enum vs_irq_mode m = tr->pub.irq_mode;
    if (m == VS_IRQ_MSIX && !tr->msix_on) {
        if (!tr->dev.msix.present || tr->nvec == 0)
            return vs_err_set(e, VS_ENOTSUP, "%s: device has no MSI-X", tr->name);
        int rc = program_msix(tr, e);
        if (rc < 0)
            return rc;
    } else if (m != VS_IRQ_MSIX && tr->msix_on) {
        B(tr, vs_pcib_msix_enable(tr->bus, &tr->dev, false, e), "MSI-X disable");
        tr->msix_on = false;
    }
    if (m == VS_IRQ_INTX && !tr->intx_armed && !tr->intx_poll_isr) {
        vs_err ie = {0};
        int rc = tr->plat->intx_arm ? tr->plat->intx_arm(tr->p, &ie) : -VS_ENOTSUP;
        if (rc == 0)
            tr->intx_armed = true;
        else if (rc == -VS_ENOTSUP)
            tr->intx_poll_isr = true;
        else {
            if (e)
                *e = ie;
            return rc;
        }
    }
    return 0;
}

static void deliver(pci_tr *tr, int queue, uint16_t vector)
{
    tr->st.irqs++;
    if (tr->msix_on) { /* the judge weighs the accesses that answer it */
        vs_pci_access x = {.space = VS_PCI_SPACE_IRQ, .queue = queue, .val = vector};
        vs_pci_drv_judge_access(&tr->judge, &x);
        uint8_t isr;
        if (queue >= 0 && MUT(tr, VS_PCI_DRV_MUT_ISR_AFTER_IRQ))
            (void)vs_pcib_read8(tr->bus, tr->isr, &isr, NULL);
    }
    emit(tr, VS_EV_IRQ, queue, vector, NULL);
    if (queue == VS_IRQ_CONFIG) {
        emit(tr, VS_EV_CONFIG_CHANGE, -1, 0, NULL);
        if (tr->plat->on_config_irq)
            tr->plat->on_config_irq(tr->p, tr->evbus, now_ns(tr));
    }
    if (tr->pub.irq_fn)
        tr->pub.irq_fn(tr->pub.irq_opaque, queue);
}

static bool msix_ready(void *arg)
{
    const pci_tr *tr = arg;
    for (uint16_t v = 0; v < tr->nvec; v++)
        if (__atomic_load_n(&tr->msi_slot[v], __ATOMIC_RELAXED))
            return true;
    return false;
}

/* Collects MSI-X messages that landed in the slots; returns the number delivered. */
static int poll_msix(pci_tr *tr)
{
    int n = 0;
    for (uint16_t v = 0; v < tr->nvec; v++) {
        if (!__atomic_load_n(&tr->msi_slot[v], __ATOMIC_RELAXED))
            continue;
        uint32_t val = __atomic_exchange_n(&tr->msi_slot[v], 0u, __ATOMIC_ACQ_REL);
        if (!val)
            continue;
        deliver(tr, v == 0 ? VS_IRQ_CONFIG : (int)v - 1, v);
        n++;
    }
    return n;
}

/* INTx: 1 if the line is up (or, when polling, the ISR is non-zero). */
static int intx_up(pci_tr *tr, vs_err *e)
{
    if (tr->intx_poll_isr) {
        uint8_t isr = 0;
        B(tr, vs_pcib_read8(tr->bus, tr->isr, &isr, e), "ISR read");
        tr->isr_acc |= isr;
        return tr->isr_acc != 0;
    }
    if (!tr->plat->intx_level)
        return 0;
    return tr->plat->intx_level(tr->p, e);
}

static bool intx_ready(void *arg)
{
    pci_tr *tr = arg;
    if (tr->pred_rc < 0)
        return true;
    vs_err pe = {0};
    int rc = intx_up(tr, &pe);
    if (rc < 0) {
        tr->pred_rc = rc;
        tr->pred_err = pe;
        return true;
    }
    return rc > 0;
}

static int pci_wait(vs_transport *vt, uint64_t timeout_ns, vs_err *e)
{
    pci_tr *tr = TR(vt);
    int rc = check_live(tr, e);
    if (rc < 0)
        return rc;
    tr->st.waits++;
    if (vt->irq_mode == VS_IRQ_POLL) {
        rc = tr->plat->wait(tr->p, timeout_ns, NULL, NULL, false, e);
        return rc < 0 ? rc : 0;
    }
    if (vt->irq_mode == VS_IRQ_INTX) {
        tr->pred_rc = 0;
        rc = tr->plat->wait(tr->p, timeout_ns, intx_ready, tr, true, e);
        if (rc < 0)
            return rc;
        if (tr->pred_rc < 0) {
            if (e)
                *e = tr->pred_err;
            return tr->pred_rc;
        }
        if ((rc = intx_up(tr, e)) < 0)
            return rc;
        if (rc > 0) {
            deliver(tr, 0, NO_VECTOR);
            return 1;
        }
        return 0;
    }
    int n = poll_msix(tr);
    if (n)
        return n;
    rc = tr->plat->wait(tr->p, timeout_ns, msix_ready, tr, false, e);
    if (rc < 0)
        return rc;
    return poll_msix(tr);
}

static int pci_read_isr(vs_transport *vt, uint8_t *isr, vs_err *e)
{
    pci_tr *tr = TR(vt);
    int rc = check_live(tr, e);
    if (rc < 0)
        return rc;
    uint8_t v = 0;
    B(tr, vs_pcib_read8(tr->bus, tr->isr, &v, e), "ISR read");
    v |= tr->isr_acc;
    tr->isr_acc = 0;
    if (MUT(tr, VS_PCI_DRV_MUT_ISR_ONE_CAUSE) && (v & VS_PCI_ISR_QUEUE))
        v &= (uint8_t)~VS_PCI_ISR_CONFIG;
    if (isr)
        *isr = v;
    if (vt->irq_mode == VS_IRQ_INTX && (v & VS_PCI_ISR_CONFIG))
        emit(tr, VS_EV_CONFIG_CHANGE, -1, 0, NULL);
    if (tr->intx_armed && tr->plat->intx_level) {
        /* pick up the line going low after the read */
        rc = tr->plat->intx_level(tr->p, e);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ status & features */

static int do_reset(pci_tr *tr, vs_err *e)
{
    B(tr, cw(tr, VS_VIRTIO_COMMON_STATUS, 1, 0, e), "reset");
    uint64_t start = now_ns(tr);
    uint64_t tries = tr->o.reset_timeout_ns / tr->o.reset_poll_ns + 1;
    for (uint64_t i = 0; !MUT(tr, VS_PCI_DRV_MUT_NO_RESET_WAIT); i++) {
        uint64_t s = 0xff;
        if (MUT(tr, VS_PCI_DRV_MUT_WIDE_STATUS)) /* status + generation + queue_select */
            B(tr, cr(tr, VS_VIRTIO_COMMON_STATUS, 4, &s, e), "reset");
        else
            B(tr, cr(tr, VS_VIRTIO_COMMON_STATUS, 1, &s, e), "reset");
        s &= 0xff;
        if (s == 0)
            break;
        if (i >= tries || now_ns(tr) - start > tr->o.reset_timeout_ns)
            return vs_err_set(e, VS_ETIMEDOUT, "%s: status still 0x%02x after reset", tr->name,
                              (unsigned)s);
        int rc = tr->plat->wait(tr->p, tr->o.reset_poll_ns, NULL, NULL, false, e);
        if (rc < 0)
            return rc;
    }
    for (uint16_t q = 0; q < tr->nq; q++)
        tr->notify_addr[q] = 0;
    tr->drv_features = 0;
    tr->isr_acc = 0;
    int rc = apply_irq_mode(tr, e);
    if (rc < 0)
        return rc;
    if (tr->msix_on && (rc = set_config_vector(tr, e)) < 0)
        return rc;
    /* stale messages from before the reset */
    if (tr->plat->msix_discard)
        tr->plat->msix_discard(tr->p);
    for (uint16_t v = 0; v < tr->nvec; v++)
        __atomic_store_n(&tr->msi_slot[v], 0u, __ATOMIC_RELEASE);
    return 0;
}

static int pci_reset(vs_transport *vt, vs_err *e)
{
    pci_tr *tr = TR(vt);
    int rc = check_live(tr, e);
    return rc < 0 ? rc : do_reset(tr, e);
}

static int pci_get_status(vs_transport *vt, uint8_t *status, vs_err *e)
{
    pci_tr *tr = TR(vt);
    int rc = check_live(tr, e);
    if (rc < 0)
        return rc;
    uint64_t s = 0;
    B(tr, cr(tr, VS_VIRTIO_COMMON_STATUS, 1, &s, e), "status read");
    *status = (uint8_t)s;
    return 0;
}

static int pci_set_status(vs_transport *vt, uint8_t status, vs_err *e)
{
    pci_tr *tr = TR(vt);
    int rc = check_live(tr, e);
    if (rc < 0)
        return rc;
    if (status == 0)
        return do_reset(tr, e);
    B(tr, cw(tr, VS_VIRTIO_COMMON_STATUS, 1, status, e), "status write");
    return 0;
}

static int pci_get_device_features(vs_transport *vt, uint64_t *f, vs_err *e)
{
    pci_tr *tr = TR(vt);
    int rc = check_live(tr, e);
    if (rc < 0)
        return rc;
    uint64_t lo = 0, hi = 0;
    B(tr, cw(tr, VS_VIRTIO_COMMON_DFSELECT, 4, 0, e), "features");
    B(tr, cr(tr, VS_VIRTIO_COMMON_DF, 4, &lo, e), "features");
    B(tr, cw(tr, VS_VIRTIO_COMMON_DFSELECT, 4, 1, e), "features");
    B(tr, cr(tr, VS_VIRTIO_COMMON_DF, 4, &hi, e), "features");
    *f = (hi << 32) | (lo & 0xffffffffu);
    if (MUT(tr, VS_PCI_DRV_MUT_CFG_UPPER_BOUND) && tr->devcfg_len > 256)
        return vs_err_set(e, VS_ENOTSUP, "%s: device config of %u bytes: more than 256",
                          tr->name, tr->devcfg_len);
    return 0;
}

static int pci_set_driver_features(vs_transport *vt, uint64_t f, vs_err *e)
{
    pci_tr *tr = TR(vt);
    int rc = check_live(tr, e);
    if (rc < 0)
        return rc;
    B(tr, cw(tr, VS_VIRTIO_COMMON_GFSELECT, 4, 0, e), "features");
    B(tr, cw(tr, VS_VIRTIO_COMMON_GF, 4, (uint32_t)f, e), "features");
    B(tr, cw(tr, VS_VIRTIO_COMMON_GFSELECT, 4, 1, e), "features");
    B(tr, cw(tr, VS_VIRTIO_COMMON_GF, 4, (uint32_t)(f >> 32), e), "features");
    tr->drv_features = f;
    return 0;
}

/* ------------------------------------------------------------------ config space */

static int check_cfg_range(pci_tr *tr, uint32_t off, uint32_t len, vs_err *e)
{
    if ((uint64_t)off + len > tr->devcfg_len)
        return vs_err_set(e, VS_ERANGE,
                          "%s: config access [%u, %u) outside device config (%u bytes)",
                          tr->name, off, off + len, tr->devcfg_len);
    return 0;
}

static uint32_t access_width(uint32_t off, uint32_t left)
{
    if (left >= 4 && off % 4 == 0)
        return 4;
    if (left >= 2 && off % 2 == 0)
        return 2;
    return 1;
}

static int pci_config_read(vs_transport *vt, uint32_t off, void *buf, uint32_t len, vs_err *e)
{
    pci_tr *tr = TR(vt);
    int rc = check_live(tr, e);
    if (rc < 0)
        return rc;
    if (len == 0)
        return 0;
    if (!buf)
        return vs_err_set(e, VS_EINVAL, "%s: config read into NULL", tr->name);
    if ((rc = check_cfg_range(tr, off, len, e)) < 0)
        return rc;
    uint8_t *out = buf;
    for (uint32_t pos = 0; pos < len;) {
        uint32_t w = access_width(off + pos, len - pos);
        uint64_t v = 0;
        B(tr, tr->bus.ops->mmio_read(tr->bus.opaque, tr->devcfg + off + pos, w, &v, e),
          "config read");
        for (uint32_t b = 0; b < w; b++)
            out[pos + b] = (uint8_t)(v >> (8 * b));
        pos += w;
    }
    return 0;
}

static int pci_config_write(vs_transport *vt, uint32_t off, const void *buf, uint32_t len,
                            vs_err *e)
{
    pci_tr *tr = TR(vt);
    int rc = check_live(tr, e);
    if (rc < 0)
        return rc;
    if (len == 0)
        return 0;
    if (!buf)
        return vs_err_set(e, VS_EINVAL, "%s: config write from NULL", tr->name);
    if ((rc = check_cfg_range(tr, off, len, e)) < 0)
        return rc;
    const uint8_t *in = buf;
    for (uint32_t pos = 0; pos < len;) {
        uint32_t w = access_width(off + pos, len - pos);
        uint64_t v = 0;
        for (uint32_t b = 0; b < w; b++)
            v |= (uint64_t)in[pos + b] << (8 * b);
        B(tr, tr->bus.ops->mmio_write(tr->bus.opaque, tr->devcfg + off + pos, w, v, e),
          "config write");
        pos += w;
    }
    return 0;
}

static int pci_config_generation(vs_transport *vt, uint32_t *gen, vs_err *e)
{
    pci_tr *tr = TR(vt);
    int rc = check_live(tr, e);
    if (rc < 0)
        return rc;
    uint64_t g = 0;
    B(tr, cr(tr, VS_VIRTIO_COMMON_CFGGENERATION, 1, &g, e), "config generation");
    *gen = (uint32_t)g;
    return 0;
}

/* ------------------------------------------------------------------ queues */

static int pci_num_queues(vs_transport *vt, uint16_t *n, vs_err *e)
{
    pci_tr *tr = TR(vt);
    int rc = check_live(tr, e);
    if (rc < 0)
        return rc;
    uint64_t v = 0;
    B(tr, cr(tr, VS_VIRTIO_COMMON_NUMQ, 2, &v, e), "num_queues");
    if (MUT(tr, VS_PCI_DRV_MUT_WRITE_NUMQ))
        B(tr, cw(tr, VS_VIRTIO_COMMON_NUMQ, 2, v, e), "num_queues");
    *n = (uint16_t)v;
    return 0;
}

static int check_queue(pci_tr *tr, uint16_t q, vs_err *e)
{
    if (q >= tr->nq)
        return vs_err_set(e, VS_ERANGE, "%s: queue %u >= num_queues %u", tr->name, q, tr->nq);
    return 0;
}

static int pci_queue_max_size(vs_transport *vt, uint16_t q, uint32_t *size, vs_err *e)
{
    pci_tr *tr = TR(vt);
    int rc = check_live(tr, e);
    if (rc < 0)
        return rc;
    if ((rc = check_queue(tr, q, e)) < 0)
        return rc;
    uint64_t v = 0;
    B(tr, cw(tr, VS_VIRTIO_COMMON_Q_SELECT, 2, q, e), "queue_size");
    B(tr, cr(tr, VS_VIRTIO_COMMON_Q_SIZE, 2, &v, e), "queue_size");
    *size = (uint32_t)v;
    return 0;
}

static int pci_queue_setup(vs_transport *vt, uint16_t q, const vs_vq_layout *l, vs_err *e)
{
    pci_tr *tr = TR(vt);
    int rc = check_live(tr, e);
    if (rc < 0)
        return rc;
    if ((rc = check_queue(tr, q, e)) < 0)
        return rc;
    if (!l || l->size == 0 || l->size > 0xffff)
        return vs_err_set(e, VS_EINVAL, "%s: queue %u: bad layout", tr->name, q);
    if ((rc = apply_irq_mode(tr, e)) < 0)
        return rc;
    uint64_t maxsz = 0, vec = 0, noff = 0;
    B(tr, cw(tr, VS_VIRTIO_COMMON_Q_SELECT, 2, q, e), "queue setup");
    B(tr, cr(tr, VS_VIRTIO_COMMON_Q_SIZE, 2, &maxsz, e), "queue setup");
    if (maxsz == 0)
        return vs_err_set(e, VS_EINVAL, "%s: queue %u not available (max size 0)", tr->name, q);
    if (l->size > maxsz)
        return vs_err_set(e, VS_EINVAL, "%s: queue %u: size %u > device maximum %u", tr->name,
                          q, l->size, (unsigned)maxsz);
    uint16_t want_vec = tr->msix_on ? (uint16_t)(q + 1) : NO_VECTOR;
    if (tr->msix_on && q + 1u >= tr->nvec && MUT(tr, VS_PCI_DRV_MUT_MSIX_NO_FALLBACK))
        want_vec = NO_VECTOR;
    else if (tr->msix_on && q + 1u >= tr->nvec)
        return vs_err_set(e, VS_ENOTSUP, "%s: queue %u needs MSI-X vector %u, table has %u",
                          tr->name, q, q + 1, tr->nvec);
    if (MUT(tr, VS_PCI_DRV_MUT_ENABLE_0))
        B(tr, cw(tr, VS_VIRTIO_COMMON_Q_ENABLE, 2, 0, e), "queue setup");
    if (MUT(tr, VS_PCI_DRV_MUT_QSIZE_ODD) && l->size > 2)
        B(tr, cw(tr, VS_VIRTIO_COMMON_Q_SIZE, 2, l->size - 1u, e), "queue setup");
    if (MUT(tr, VS_PCI_DRV_MUT_QSIZE_0))
        B(tr, cw(tr, VS_VIRTIO_COMMON_Q_SIZE, 2, 0, e), "queue setup");
    B(tr, cw(tr, VS_VIRTIO_COMMON_Q_SIZE, 2, l->size, e), "queue setup");
    if (MUT(tr, VS_PCI_DRV_MUT_VECTOR_BEYOND) && tr->msix_on) {
        B(tr, cw(tr, VS_VIRTIO_COMMON_Q_MSIX, 2, tr->dev.msix.table_size, e), "queue setup");
        B(tr, cr(tr, VS_VIRTIO_COMMON_Q_MSIX, 2, &vec, e), "queue setup");
    }
    B(tr, cw(tr, VS_VIRTIO_COMMON_Q_MSIX, 2, want_vec, e), "queue setup");
    if (MUT(tr, VS_PCI_DRV_MUT_NO_READBACK))
        vec = want_vec;
    else
        B(tr, cr(tr, VS_VIRTIO_COMMON_Q_MSIX, 2, &vec, e), "queue setup");
    B(tr, cw(tr, VS_VIRTIO_COMMON_Q_DESCLO, 4, (uint32_t)l->desc_gpa, e), "queue setup");
    B(tr, cw(tr, VS_VIRTIO_COMMON_Q_DESCHI, 4, (uint32_t)(l->desc_gpa >> 32), e), "queue setup");
    B(tr, cw(tr, VS_VIRTIO_COMMON_Q_AVAILLO, 4, (uint32_t)l->driver_gpa, e), "queue setup");
    B(tr, cw(tr, VS_VIRTIO_COMMON_Q_AVAILHI, 4, (uint32_t)(l->driver_gpa >> 32), e),
      "queue setup");
    B(tr, cw(tr, VS_VIRTIO_COMMON_Q_USEDLO, 4, (uint32_t)l->device_gpa, e), "queue setup");
    B(tr, cw(tr, VS_VIRTIO_COMMON_Q_USEDHI, 4, (uint32_t)(l->device_gpa >> 32), e),
      "queue setup");
    B(tr, cr(tr, VS_VIRTIO_COMMON_Q_NOFF, 2, &noff, e), "queue setup");
    if (tr->drv_features & VS_BIT(VS_F_NOTIF_CONFIG_DATA)) {
        uint64_t nd = 0;
        B(tr, cr(tr, VS_VIRTIO_COMMON_Q_NDATA, 2, &nd, e), "queue setup");
        tr->ndata[q] = (uint16_t)nd;
    }
    if (vec != want_vec)
        return vs_err_set(e, VS_EBACKEND,
                          "%s: queue %u: queue_msix_vector %u read back as 0x%04x%s", tr->name,
                          q, want_vec, (unsigned)vec,
                          vec == NO_VECTOR ? " (NO_VECTOR: device refused the vector)" : "");
    B(tr, cw(tr, VS_VIRTIO_COMMON_Q_ENABLE, 2, 1, e), "queue enable");
    if (MUT(tr, VS_PCI_DRV_MUT_ADDR_AFTER_ENABLE))
        B(tr, cw(tr, VS_VIRTIO_COMMON_Q_DESCLO, 4, (uint32_t)l->desc_gpa, e), "queue setup");
    tr->notify_addr[q] = vs_pcib_notify_addr(&tr->dev, (uint16_t)noff);
    return 0;
}

static int pci_queue_disable(vs_transport *vt, uint16_t q, vs_err *e)
{
    pci_tr *tr = TR(vt);
    int rc = check_live(tr, e);
    if (rc < 0)
        return rc;
    if ((rc = check_queue(tr, q, e)) < 0)
        return rc;
    if (!(tr->drv_features & VS_BIT(VS_F_RING_RESET)))
        return vs_err_set(e, VS_ENOTSUP,
                          "%s: queue %u: disabling a queue needs VIRTIO_F_RING_RESET", tr->name, q);
    uint64_t v = 0, en = 0;
    B(tr, cw(tr, VS_VIRTIO_COMMON_Q_SELECT, 2, q, e), "queue reset");
    B(tr, cw(tr, VS_VIRTIO_COMMON_Q_RESET, 2, 1, e), "queue reset");
    /* the reset is done only once queue_reset reads 0 (pci.driver.common-cfg.7) */
    uint64_t start = now_ns(tr), first = 0;
    for (unsigned i = 0; !MUT(tr, VS_PCI_DRV_MUT_NO_QRESET_WAIT); i++) {
        B(tr, cr(tr, VS_VIRTIO_COMMON_Q_RESET, 2, &v, e), "queue reset");
        if (i == 0)
            first = v;
        if (v == 0)
            break;
        if (now_ns(tr) - start > tr->o.reset_timeout_ns)
            return vs_err_set(e, VS_ETIMEDOUT, "%s: queue %u: queue_reset still 1", tr->name, q);
        if ((rc = tr->plat->wait(tr->p, tr->o.reset_poll_ns, NULL, NULL, false, e)) < 0)
            return rc;
    }
    v = first;
    B(tr, cr(tr, VS_VIRTIO_COMMON_Q_ENABLE, 2, &en, e), "queue reset");
    if (en != 0)
        return vs_err_set(e, VS_EBACKEND, "%s: queue %u: queue_enable reads %u after queue_reset",
                          tr->name, q, (unsigned)en);
    /* virtio 1.2: queue_reset reads 1 while the reset is ongoing and 0 (with queue_enable
     * 0) once it completed; both QEMU 7.2 and the model complete within the write. */
    tr->last_queue_reset = (int)v;
    tr->notify_addr[q] = 0;
    return 0;
}

/* One notification: 16 bits, the queue index (or its queue_notif_config_data); with
 * NOTIFICATION_DATA 32 bits, data's ring position above it. */
static int notify_write(pci_tr *tr, uint16_t q, uint32_t data, bool nd, vs_err *e)
{
    int rc = check_live(tr, e);
    if (rc < 0)
        return rc;
    if (q >= tr->nq || !tr->notify_addr[q])
        return vs_err_set(e, VS_ESTATE, "%s: notify: queue %u not set up", tr->name, q);
    tr->st.kicks++;
    uint32_t low = q;
    if ((tr->drv_features & VS_BIT(VS_F_NOTIF_CONFIG_DATA)) &&
        !MUT(tr, VS_PCI_DRV_MUT_NOTIFY_NO_CONFIG_DATA))
        low = tr->ndata[q];
    else if (MUT(tr, VS_PCI_DRV_MUT_NOTIFY_VALUE) ||
             (nd && MUT(tr, VS_PCI_DRV_MUT_NOTIFY_DATA_INDEX)))
        low = q + 1u;
    unsigned w = MUT(tr, VS_PCI_DRV_MUT_NOTIFY_32) ? 4 : 2;
    uint64_t v = low & 0xffffu;
    if (nd && !MUT(tr, VS_PCI_DRV_MUT_NOTIFY_DATA_16)) {
        uint32_t pos = data >> 16;
        if (MUT(tr, VS_PCI_DRV_MUT_NOTIFY_DATA_OFF))
            pos = (pos & 0x8000u) | ((pos + 1u) & 0x7fffu);
        w = 4;
        v |= (uint64_t)pos << 16;
    }
    B(tr, tr->bus.ops->mmio_write(tr->bus.opaque, tr->notify_addr[q], w, v, e), "notify");
    return 0;
}

static int pci_notify(vs_transport *vt, uint16_t q, vs_err *e)
{
    return notify_write(TR(vt), q, q, false, e);
}

static int pci_notify_data(vs_transport *vt, uint16_t q, uint32_t data, vs_err *e)
{
    pci_tr *tr = TR(vt);
    return notify_write(tr, q, data, (tr->drv_features & VS_BIT(VS_F_NOTIFICATION_DATA)) != 0, e);
}

/* ------------------------------------------------------------------ lifecycle */

/* The mutants' uses of config space: a capability write, the PCI_CFG window. */
static int cfg_mutants(pci_tr *tr, vs_err *e)
{
    const vs_pcib_dev *d = &tr->dev;
    if (MUT(tr, VS_PCI_DRV_MUT_WRITE_CAP) && d->common.cap)
        B(tr, tr->bus.ops->cfg_write(tr->bus.opaque, d->common.cap + 4u, 1, d->common.bar, e),
          "capability write");
    bool unal = MUT(tr, VS_PCI_DRV_MUT_WINDOW_UNALIGNED) && d->device.present;
    bool out = MUT(tr, VS_PCI_DRV_MUT_WINDOW_OUTSIDE);
    if (!d->pci_cfg_cap || !(unal || out))
        return 0;
    const vs_pcib_region *r = unal ? &d->device : &d->common;
    uint32_t off = r->offset + 1u;
    if (!unal) { /* past the end of every structure in the common config's BAR */
        const vs_pcib_region *rs[] = {&d->common, &d->notify, &d->isr, &d->device};
        off = 0;
        for (size_t k = 0; k < 4; k++)
            if (rs[k]->present && rs[k]->bar == r->bar && rs[k]->offset + rs[k]->length > off)
                off = (rs[k]->offset + rs[k]->length + 3u) & ~3u;
    }
    uint32_t v = 0, base = d->pci_cfg_cap;
    B(tr, tr->bus.ops->cfg_write(tr->bus.opaque, (uint16_t)(base + 4), 1, r->bar, e), "window");
    B(tr, tr->bus.ops->cfg_write(tr->bus.opaque, (uint16_t)(base + 8), 4, off, e), "window");
    B(tr, tr->bus.ops->cfg_write(tr->bus.opaque, (uint16_t)(base + 12), 4, unal ? 2 : 4, e),
      "window");
    B(tr, tr->bus.ops->cfg_read(tr->bus.opaque, (uint16_t)(base + 16), 4, &v, e), "window");
    return 0;
}

/* Enumeration + layout + reset; used at create and after the probe checks. */
static int setup_function(pci_tr *tr, vs_err *e)
{
    static const uint32_t walk[][2] = {
        {VS_PCI_DRV_MUT_CAP_TYPE_NIBBLE, VS_PCIB_WALK_TYPE_NIBBLE},
        {VS_PCI_DRV_MUT_CAP_BAR_MOD8, VS_PCIB_WALK_BAR_MOD8},
        {VS_PCI_DRV_MUT_CAP_LAST_WINS, VS_PCIB_WALK_LAST_WINS},
        {VS_PCI_DRV_MUT_CAP_STRICT_LEN, VS_PCIB_WALK_STRICT_CAP_LEN},
        {VS_PCI_DRV_MUT_CAP_STRICT_LENGTH, VS_PCIB_WALK_STRICT_LENGTH},
    };
    uint32_t bugs = 0;
    for (size_t k = 0; k < sizeof walk / sizeof walk[0]; k++)
        bugs |= MUT(tr, walk[k][0]) ? walk[k][1] : 0;
    B(tr, vs_pcib_virtio_setup_ex(tr->bus, tr->o.mmio_base, tr->o.mmio_end, &tr->dev, bugs, e),
      "PCI setup");
    /* the judge reads the capability list itself, past the driver */
    B(tr, vs_pci_drv_judge_walk(&tr->judge, tr->raw, e), "PCI setup");
    int rc = cfg_mutants(tr, e);
    if (rc < 0)
        return rc;
    if (!tr->dev.device.present)
        tr->dev.device.length = 0;
    tr->common = tr->dev.common.addr;
    tr->isr = tr->dev.isr.addr;
    tr->devcfg = tr->dev.device.addr;
    tr->devcfg_len = tr->dev.device.present ? tr->dev.device.length : 0;
    tr->nvec = tr->dev.msix.present ? tr->dev.msix.table_size : 0;
    if (tr->nvec > MAX_VEC)
        tr->nvec = MAX_VEC;
    tr->msix_on = false; /* setup leaves MSI-X disabled */
    uint64_t nq = 0;
    B(tr, cr(tr, VS_VIRTIO_COMMON_NUMQ, 2, &nq, e), "num_queues");
    if (!tr->notify_addr) {
        tr->nq = nq > MAX_QUEUES ? MAX_QUEUES : (uint16_t)nq;
        tr->notify_addr = calloc(tr->nq ? tr->nq : 1, sizeof *tr->notify_addr);
        tr->ndata = calloc(tr->nq ? tr->nq : 1, sizeof *tr->ndata);
        if (!tr->notify_addr || !tr->ndata)
            return vs_err_set(e, VS_ENOMEM, "%s: out of memory", tr->name);
    }
    return do_reset(tr, e);
}

static void tr_free(pci_tr *tr)
{
    if (tr->msi_gpa)
        vs_gmem_free(tr->pub.gm, tr->msi_gpa, NULL);
    free(tr->notify_addr);
    free(tr->ndata);
    free(tr);
}

static void pci_destroy(vs_transport *vt)
{
    if (!vt)
        return;
    pci_tr *tr = TR(vt);
    const vs_pci_platform_ops *plat = tr->plat;
    void *p = tr->p;
    tr_free(tr);
    if (plat->destroy)
        plat->destroy(p);
}

static const vs_transport_ops pci_ops_template = {
    .name = "pci",
    .reset = pci_reset,
    .get_status = pci_get_status,
    .set_status = pci_set_status,
    .get_device_features = pci_get_device_features,
    .set_driver_features = pci_set_driver_features,
    .config_read = pci_config_read,
    .config_write = pci_config_write,
    .config_generation = pci_config_generation,
    .num_queues = pci_num_queues,
    .queue_max_size = pci_queue_max_size,
    .queue_setup = pci_queue_setup,
    .queue_disable = pci_queue_disable,
    .notify = pci_notify,
    .notify_data = pci_notify_data,
    .wait = pci_wait,
    .read_isr = pci_read_isr,
    .destroy = pci_destroy,
};

int vs_pci_transport_create(vs_transport **out, vs_pci_bus bus, vs_gmem *gm,
                            const vs_pci_platform_ops *plat, void *p,
                            const vs_pci_transport_opts *o, vs_event_bus *evbus, vs_err *e)
{
    if (!out || !gm || !bus.ops || !plat || !plat->now || !plat->wait)
        return vs_err_set(e, VS_EINVAL, "pci: transport needs out, guest memory, bus and a "
                          "platform with now/wait");
    *out = NULL;
    vs_pci_transport_opts def;
    vs_pci_transport_opts_default(&def);
    vs_pci_transport_opts op = o ? *o : def;
    if (op.mmio_base == 0 && op.mmio_end == 0) {
        op.mmio_base = def.mmio_base;
        op.mmio_end = def.mmio_end;
    }
    if (!op.reset_timeout_ns)
        op.reset_timeout_ns = def.reset_timeout_ns;
    if (!op.reset_poll_ns)
        op.reset_poll_ns = def.reset_poll_ns;
    if (op.irq_mode != VS_IRQ_MSIX && op.irq_mode != VS_IRQ_INTX && op.irq_mode != VS_IRQ_POLL)
        return vs_err_set(e, VS_EINVAL, "pci: unknown irq mode %d", (int)op.irq_mode);
    pci_tr *tr = calloc(1, sizeof *tr);
    if (!tr)
        return vs_err_set(e, VS_ENOMEM, "pci: out of memory");
    snprintf(tr->name, sizeof tr->name, "%s", op.name ? op.name : "pci");
    tr->ops = pci_ops_template;
    tr->ops.name = tr->name;
    tr->pub.ops = &tr->ops;
    tr->pub.gm = gm;
    tr->pub.irq_mode = op.irq_mode;
    tr->raw = bus;
    /* the driver's accesses pass a judge (decoded against the layout enumerated below) */
    vs_pci_drv_judge_init(&tr->judge, &tr->drv_f, &tr->dev);
    tr->judge.gm = gm;
    tr->bus = vs_pci_logger_init(&tr->lg, bus, NULL, 0, &tr->dev);
    tr->lg.on_access = judge_access;
    tr->lg.on_opaque = &tr->judge;
    tr->plat = plat;
    tr->p = p;
    tr->evbus = evbus;
    tr->o = op;
    int rc = vs_gmem_alloc(gm, VS_GMEM_PAGE, VS_GMEM_PAGE, &tr->msi_gpa, e);
    if (rc < 0) {
        tr->msi_gpa = 0;
        tr_free(tr);
        return vs_err_prefix(e, "%s: MSI-X page", op.name ? op.name : "pci");
    }
    tr->msi_slot = vs_gmem_translate(gm, tr->msi_gpa, VS_GMEM_PAGE, VS_GMEM_WRITE, e);
    if (!tr->msi_slot) {
        tr_free(tr);
        return -VS_EINVAL;
    }
    if ((rc = setup_function(tr, e)) < 0) {
        tr_free(tr);
        return rc;
    }
    tr->pub.device_id = op.device_type ? op.device_type : tr->dev.virtio_type;
    *out = &tr->pub;
    return 0;
}

bool vs_pci_transport_is(const vs_transport *t)
{
    return t && t->ops && t->ops->reset == pci_reset;
}

void *vs_pci_transport_platform(const vs_transport *t, const vs_pci_platform_ops *plat)
{
    if (!vs_pci_transport_is(t))
        return NULL;
    const pci_tr *tr = (const pci_tr *)t;
    return tr->plat == plat ? tr->p : NULL;
}

const vs_pcib_dev *vs_pci_transport_layout(const vs_transport *t)
{
    return vs_pci_transport_is(t) ? &((const pci_tr *)t)->dev : NULL;
}

int vs_pci_transport_bus(const vs_transport *t, vs_pci_bus *out)
{
    if (!vs_pci_transport_is(t) || !out)
        return -VS_EINVAL;
    *out = ((const pci_tr *)t)->raw;
    return 0;
}

void vs_pci_transport_stats_get(const vs_transport *t, vs_pci_transport_stats *out)
{
    memset(out, 0, sizeof *out);
    if (vs_pci_transport_is(t))
        *out = ((const pci_tr *)t)->st;
}

int vs_pci_transport_last_queue_reset(const vs_transport *t)
{
    return vs_pci_transport_is(t) ? ((const pci_tr *)t)->last_queue_reset : -1;
}

const vs_pci_findings *vs_pci_transport_driver_findings(const vs_transport *t)
{
    return vs_pci_transport_is(t) ? &TR((vs_transport *)t)->drv_f : NULL;
}

uint64_t vs_pci_transport_driver_features(const vs_transport *t)
{
    return vs_pci_transport_is(t) ? ((const pci_tr *)t)->drv_features : 0;
}

/* ------------------------------------------------------------------ PCI checks */

static int verdict_rank(enum vs_verdict v)
{
    switch (v) {
    case VS_VERDICT_FAIL: return 5;
    case VS_VERDICT_PASS: return 4;
    case VS_VERDICT_NOT_EXERCISED: return 3;
    case VS_VERDICT_NOT_APPLICABLE: return 2;
    case VS_VERDICT_UNTESTABLE: return 1;
    default: return 0;
    }
}

static void fold_finding(vs_results *r, const vs_pci_finding *f, const char *scenario,
                         uint64_t t_ns)
{
    long idx = vs_catalogue_index(f->id);
    if (idx < 0 || (size_t)idx >= r->n_stmt)
        return;
    vs_stmt_result *s = &r->stmt[idx];
    if (s->verdict == VS_VERDICT_UNTESTABLE)
        return;
    enum vs_verdict v;
    switch (f->verdict) {
    case VS_PCI_PASS: v = VS_VERDICT_PASS; break;
    case VS_PCI_FAIL: v = VS_VERDICT_FAIL; break;
    case VS_PCI_NOT_APPLICABLE: v = VS_VERDICT_NOT_APPLICABLE; break;
    default: v = VS_VERDICT_NOT_EXERCISED; break;
    }
    if (v == VS_VERDICT_PASS || v == VS_VERDICT_FAIL)
        s->exercised++;
    if (v == VS_VERDICT_FAIL) {
        s->violations++;
        if (s->n_evidence < VS_EVIDENCE_MAX) {
            vs_evidence *ev = &s->evidence[s->n_evidence++];
            memset(ev, 0, sizeof *ev);
            snprintf(ev->check, sizeof ev->check, "pci-%s", f->check ? f->check : "?");
            snprintf(ev->scenario, sizeof ev->scenario, "%s", scenario ? scenario : "");
            snprintf(ev->step_desc, sizeof ev->step_desc, "%s",
                     f->check && !strncmp(f->check, "log-driver-", 11)
                         ? "the driver's PCI accesses" : "pci probe before driver init");
            ev->t_ns = t_ns;
            ev->queue = -1;
            const char *x = strstr(f->evidence, "expected ");
            const char *y = strstr(f->evidence, ", seen ");
            if (x && y && y > x) {
                x += strlen("expected ");
                snprintf(ev->expected, sizeof ev->expected, "%.*s", (int)(y - x), x);
                snprintf(ev->seen, sizeof ev->seen, "%s", y + strlen(", seen "));
            } else {
                snprintf(ev->expected, sizeof ev->expected, "%s", s->st->paraphrase);
                snprintf(ev->seen, sizeof ev->seen, "%s", f->evidence);
            }
        }
    }
    if (verdict_rank(v) > verdict_rank(s->verdict) ||
        (s->verdict == VS_VERDICT_NO_CHECK && v != VS_VERDICT_FAIL && v != VS_VERDICT_PASS)) {
        s->verdict = v;
        if (v == VS_VERDICT_PASS || v == VS_VERDICT_FAIL)
            s->reason[0] = 0;
        else
            snprintf(s->reason, sizeof s->reason, "pci probe: %s",
                     f->evidence[0] ? f->evidence : "not exercised");
    }
}

int vs_pci_results_fold(vs_results *r, const vs_pci_findings *f, const char *scenario,
                        uint64_t t_ns)
{
    if (!r || !f)
        return -VS_EINVAL;
    for (size_t i = 0; i < f->n; i++)
        fold_finding(r, &f->f[i], scenario, t_ns);
    vs_results_recount(r);
    size_t n = vs_pci_findings_failures(f);
    return n > INT_MAX ? INT_MAX : (int)n;
}

int vs_pci_transport_checks(vs_transport *t, vs_results *r, const char *scenario,
                            vs_pci_findings *findings, vs_err *e)
{
    if (!vs_pci_transport_is(t))
        return vs_err_set(e, VS_EINVAL, "pci checks: not a pci transport");
    pci_tr *tr = TR(t);
    int rc = check_live(tr, e);
    if (rc < 0)
        return rc;
    vs_pci_findings *f = findings ? findings : malloc(sizeof *f);
    if (!f)
        return vs_err_set(e, VS_ENOMEM, "pci checks: out of memory");
    memset(f, 0, sizeof *f);
    vs_pci_probe pr = {
        .bus = tr->raw,
        .mmio_base = tr->o.mmio_base,
        .mmio_end = tr->o.mmio_end,
        .gm = tr->pub.gm,
        .msix_target = tr->msi_gpa + PROBE_SCRATCH,
        .config_change = tr->probe_cfg,
        .queue_irq = tr->probe_qirq,
        .opaque = tr->probe_opaque,
    };
    rc = vs_pci_check_probe(&pr, NULL, f, e);
    if (rc < 0)
        rc = fail(tr, rc, e, "PCI probe");
    int rc2 = setup_function(tr, rc < 0 ? NULL : e);
    if (rc == 0 && rc2 < 0)
        rc = rc2;
    if (rc == 0 && r) {
        vs_pci_results_fold(r, f, scenario, now_ns(tr));
        if (scenario && !r->scenario[0])
            snprintf(r->scenario, sizeof r->scenario, "%s", scenario);
    }
    size_t nfail = rc == 0 ? vs_pci_findings_failures(f) : 0;
    if (f != findings)
        free(f);
    if (rc < 0)
        return rc;
    return nfail > INT_MAX ? INT_MAX : (int)nfail;
}

/* ------------------------------------------------------------------ the model back-end */

typedef struct model_plat {
    vs_engine *eng;
    vs_device *dev;
    vs_gmem *gm;
    vs_event_bus *bus;
    vs_pci_fn *fn;
    vs_transport *devside;      /* ref device half (hooked) */
    bool in_wait;
    vs_timer err_h;
    int err_queue;
    char err_msg[VS_ERR_MSG_MAX];
} model_plat;

static void model_emit(model_plat *mp, enum vs_event_kind kind, int32_t q, const char *text)
{
    if (!mp->bus || !mp->bus->n)
        return;
    vs_event ev = {.kind = kind, .t_ns = vs_engine_now(mp->eng), .queue = q, .text = text};
    vs_event_emit(mp->bus, &ev);
}

static void model_err_cb(void *arg)
{
    model_plat *mp = arg;
    mp->err_h = 0;
    vs_pci_device_error(mp->fn, NULL);
}

/* The model tells us what the driver did (synchronously, inside the access). */
static void model_event(void *opaque, const vs_pci_event *ev)
{
    model_plat *mp = opaque;
    if (!mp->devside)
        return;
    vs_transport *d = mp->devside;
    vs_err e = {0};
    switch (ev->kind) {
    case VS_PCI_EV_NOTIFY:
        if (ev->queue >= 0)
            d->ops->notify(d, (uint16_t)ev->queue, &e);
        break;
    case VS_PCI_EV_QUEUE_ENABLE:
        if (ev->queue >= 0 && ev->layout &&
            d->ops->queue_setup(d, (uint16_t)ev->queue, ev->layout, &e) < 0) {
            /* the device cannot use the queue: device error, raised outside the access */
            model_emit(mp, VS_EV_DEVICE_ERROR, ev->queue, e.msg);
            if (mp->err_h <= 0) {
                vs_timer h = vs_engine_at(mp->eng, vs_engine_now(mp->eng), model_err_cb, mp);
                mp->err_h = h > 0 ? h : 0;
            }
        }
        break;
    case VS_PCI_EV_QUEUE_RESET:
        if (ev->queue >= 0)
            d->ops->queue_disable(d, (uint16_t)ev->queue, &e);
        break;
    case VS_PCI_EV_RESET:
        vs_engine_cancel(mp->eng, mp->err_h);
        mp->err_h = 0;
        d->ops->reset(d, &e);
        break;
    case VS_PCI_EV_STATUS:
        break;
    }
}

static bool hook_live(void *opaque)
{
    return vs_pci_device_live(((model_plat *)opaque)->fn);
}

static void hook_irq(void *opaque, int queue)
{
    vs_pci_raise(((model_plat *)opaque)->fn, queue, NULL);
}

static void hook_device_error(void *opaque, int queue, const char *msg)
{
    (void)queue;
    (void)msg;
    vs_pci_device_error(((model_plat *)opaque)->fn, NULL);
}

static uint64_t mp_now(void *p) { return vs_engine_now(((model_plat *)p)->eng); }

typedef struct mp_wait_ctx {
    bool (*ready)(void *);
    void *arg;
} mp_wait_ctx;

static bool mp_pred(void *arg)
{
    const mp_wait_ctx *w = arg;
    return !w->ready(w->arg);
}

static bool mp_always(void *arg)
{
    (void)arg;
    return true;
}

static int mp_wait(void *p, uint64_t timeout_ns, bool (*ready)(void *), void *arg, bool intx,
                   vs_err *e)
{
    (void)intx;
    model_plat *mp = p;
    if (mp->in_wait)
        return vs_err_set(e, VS_ESTATE, "pci-model: wait called from inside a wait");
    uint64_t now = vs_engine_now(mp->eng);
    uint64_t deadline = timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
    mp_wait_ctx w = {ready, arg};
    mp->in_wait = true;
    if (ready)
        vs_engine_run_while(mp->eng, mp_pred, &w, deadline, NULL);
    else
        vs_engine_run_while(mp->eng, mp_always, NULL, deadline, NULL);
    mp->in_wait = false;
    return 0;
}

static int mp_intx_arm(void *p, vs_err *e)
{
    (void)p;
    (void)e;
    return 0;
}

static int mp_intx_level(void *p, vs_err *e)
{
    (void)e;
    return vs_pci_intx_level(((model_plat *)p)->fn) ? 1 : 0;
}

static void mp_destroy(void *p)
{
    model_plat *mp = p;
    if (!mp)
        return;
    if (mp->eng)
        vs_engine_cancel(mp->eng, mp->err_h);
    if (mp->devside)
        mp->devside->ops->destroy(mp->devside);
    mp->devside = NULL;
    if (mp->fn)
        vs_pci_model_destroy(mp->fn);
    free(mp);
}

static const vs_pci_platform_ops model_plat_ops = {
    .now = mp_now,
    .wait = mp_wait,
    .intx_arm = mp_intx_arm,
    .intx_level = mp_intx_level,
    .destroy = mp_destroy,
};

static int probe_cfg(void *opaque, vs_err *e)
{
    int rc = vs_pci_config_changed(((model_plat *)opaque)->fn, e);
    return rc < 0 ? rc : 0;
}

static int probe_qirq(void *opaque, uint16_t q, vs_err *e)
{
    int rc = vs_pci_raise(((model_plat *)opaque)->fn, q, e);
    return rc < 0 ? rc : 0;
}

int vs_pci_model_transport_create(vs_transport **out, vs_engine *eng, vs_device *dev,
                                  vs_gmem *gm, const vs_ref_opts *o, vs_event_bus *bus,
                                  vs_err *e)
{
    if (!out || !eng || !dev || !dev->ops || !gm)
        return vs_err_set(e, VS_EINVAL, "pci-model: NULL out, engine, device or guest memory");
    *out = NULL;
    vs_ref_opts def;
    if (!o) {
        vs_ref_opts_default(&def);
        o = &def;
    }
    int rc = vs_ref_opts_check(o, e);
    if (rc < 0)
        return rc;
    model_plat *mp = calloc(1, sizeof *mp);
    if (!mp)
        return vs_err_set(e, VS_ENOMEM, "pci-model: out of memory");
    mp->eng = eng;
    mp->dev = dev;
    mp->gm = gm;
    mp->bus = bus;
    vs_pci_model_opts mo;
    vs_pci_model_opts_default(&mo);
    mo.mutations = o->pci_mutations;
    mo.layout_quirks = o->pci_layout_quirks;
    if (o->pci_msix_vectors)
        mo.msix_vectors = o->pci_msix_vectors;
    mo.event_fn = model_event;
    mo.event_opaque = mp;
    if ((rc = vs_pci_model_create(&mp->fn, dev, gm, &mo, e)) < 0) {
        mp->fn = NULL;
        mp_destroy(mp);
        return vs_err_prefix(e, "pci-model");
    }
    vs_ref_hooks hooks = {.opaque = mp, .live = hook_live, .irq = hook_irq,
                          .device_error = hook_device_error};
    if ((rc = vs_ref_transport_create_hooked(&mp->devside, eng, dev, gm, o, bus, &hooks, e)) <
        0) {
        mp->devside = NULL;
        mp_destroy(mp);
        return vs_err_prefix(e, "pci-model");
    }
    vs_pci_transport_opts po;
    vs_pci_transport_opts_default(&po);
    po.name = "pci-model";
    po.device_type = dev->ops->device_id;
    po.irq_mode = o->irq_mode;
    po.drv_mutations = o->pci_drv_mutations;
    rc = vs_pci_transport_create(out, vs_pci_model_bus(mp->fn), gm, &model_plat_ops, mp, &po,
                                 bus, e);
    if (rc < 0) {
        mp_destroy(mp);
        return rc;
    }
    pci_tr *tr = TR(*out);
    tr->probe_cfg = probe_cfg;
    tr->probe_qirq = probe_qirq;
    tr->probe_opaque = mp;
    return 0;
}

bool vs_pci_model_transport_is(const vs_transport *t)
{
    return vs_pci_transport_platform(t, &model_plat_ops) != NULL;
}

vs_pci_fn *vs_pci_model_transport_fn(const vs_transport *t)
{
    model_plat *mp = vs_pci_transport_platform(t, &model_plat_ops);
    return mp ? mp->fn : NULL;
}

vs_transport *vs_pci_model_transport_device_half(const vs_transport *t)
{
    model_plat *mp = vs_pci_transport_platform(t, &model_plat_ops);
    return mp ? mp->devside : NULL;
}

int vs_pci_model_transport_config_changed(vs_transport *t, vs_err *e)
{
    vs_pci_fn *fn = vs_pci_model_transport_fn(t);
    if (!fn)
        return vs_err_set(e, VS_EINVAL, "pci-model: not a pci-model transport");
    int rc = vs_pci_config_changed(fn, e);
    return rc < 0 ? rc : 0;
}
