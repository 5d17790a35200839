/* The "qemu" transport: vs_transport over QEMU's virtio-pci modern interface, driven
 * through the qtest socket, with guest RAM (rings, buffers, MSI-X messages) shared. */
#define _GNU_SOURCE
#include "virtiosim/qemu.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pci_qtest.h"
#include "qemu_proc.h"
#include "qtest.h"

#define NO_VECTOR 0xffffu
#define MSI_DATA_TAG 0x56530000u
#define COMMON_Q_RESET 0x3a   /* virtio 1.2 queue_reset (QEMU 7.2: VIRTIO_PCI_COMMON_Q_RESET) */
#define MAX_QUEUES 1024u

typedef struct qemu_transport {
    vs_transport base;
    vs_qemu_backend_opts o;
    vs_event_bus *bus;
    vs_qemu *qemu;
    vs_qtest *qt;
    vs_pci_virtio_dev dev;
    uint64_t common, isr_gpa, devcfg;
    uint32_t devcfg_len;
    uint16_t nq;
    uint64_t *notify_addr;     /* per queue, 0 = not set up */
    bool msix_on;              /* MSI-X enabled in the PCI function */
    bool intx_intercepted;
    bool intx_fallback;        /* intercept unavailable: poll the ISR */
    uint8_t isr_acc;           /* ISR bits read by wait() but not yet by read_isr */
    uint64_t msi_gpa;
    uint64_t low_gpa[97];      /* guest pages reserved below 1 MiB (VGA window / BIOS) */
    unsigned n_low;
    uint32_t *msi_slot;        /* host view of the slots */
    uint16_t nvec;
    uint64_t drv_features;
    uint16_t last_queue_reset; /* queue_reset read back by the last queue_disable */
    bool dead;
    vs_err dead_err;
    char version[160];
    struct timespec t0;
    uint64_t qemu_cpu_last;
    size_t stderr_seen;
    pid_t pid;
    vs_qemu_stats st;
} qemu_transport;

static const vs_transport_ops qemu_ops;

/* ------------------------------------------------------------------ helpers */

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rel_ns(const qemu_transport *t)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)(ts.tv_sec - t->t0.tv_sec) * 1000000000u +
           (uint64_t)(ts.tv_nsec - t->t0.tv_nsec);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static void emit(qemu_transport *t, enum vs_event_kind kind, int32_t queue, uint64_t val,
                 const char *text)
{
    if (!t->bus || !t->bus->n)
        return;
    vs_event ev = { .kind = kind, .t_ns = rel_ns(t), .queue = queue, .val = val, .text = text };
    vs_event_emit(t->bus, &ev);
}

/* After a failed qtest call: is QEMU gone?  Turns the error into the sticky
 * "QEMU died" error when it is. */
static int fail(qemu_transport *t, int rc, vs_err *e, const char *what)
{
    if (t->dead) {
        if (e)
            *e = t->dead_err;
        return -VS_EBACKEND;
    }
    if (rc == -VS_EBACKEND || rc == -VS_ETIMEDOUT || vs_qtest_broken(t->qt)) {
        vs_err ce = { 0 };
        if (vs_qemu_check(t->qemu, rc == -VS_EBACKEND ? 200 : 0, &ce) < 0) {
            t->dead = true;
            t->dead_err = ce;
            vs_err_prefix(&t->dead_err, "qemu: %s", what);
            if (e)
                *e = t->dead_err;
            return -VS_EBACKEND;
        }
    }
    if (e && e->code)
        vs_err_prefix(e, "qemu: %s", what);
    return rc;
}

static int check_live(qemu_transport *t, vs_err *e)
{
    if (t->dead) {
        if (e)
            *e = t->dead_err;
        return -VS_EBACKEND;
    }
    return 0;
}

#define QT(t, call, what)                                                                  \
    do {                                                                                   \
        int rc_ = (call);                                                                  \
        if (rc_ < 0)                                                                       \
            return fail((t), rc_, e, (what));                                              \
    } while (0)

static qemu_transport *qt_of(vs_transport *vt) { return (qemu_transport *)vt; }

/* ------------------------------------------------------------------ interrupts */

static int program_msix(qemu_transport *t, vs_err *e)
{
    const vs_pci_msix *m = &t->dev.caps.msix;
    for (uint16_t v = 0; v < t->nvec; v++)
        QT(t, vs_pci_msix_set_entry(t->qt, m, v, t->msi_gpa + 4u * v, MSI_DATA_TAG | v, false, e),
           "MSI-X table");
    QT(t, vs_pci_msix_enable(t->qt, t->dev.func.bdf, m, true, e), "MSI-X enable");
    t->msix_on = true;
    return 0;
}

static int set_config_vector(qemu_transport *t, vs_err *e)
{
    uint16_t want = t->msix_on ? 0 : NO_VECTOR, got = 0;
    QT(t, vs_qtest_writew(t->qt, t->common + VS_VIRTIO_COMMON_MSIX, want, e), "config vector");
    QT(t, vs_qtest_readw(t->qt, t->common + VS_VIRTIO_COMMON_MSIX, &got, e), "config vector");
    if (got != want)
        return vs_err_set(e, VS_EBACKEND, "qemu: config_msix_vector %u read back as 0x%x",
                          want, got);
    return 0;
}

/* Makes the PCI function match t->base.irq_mode. */
static int apply_irq_mode(qemu_transport *t, vs_err *e)
{
    enum vs_irq_mode m = t->base.irq_mode;
    if (m == VS_IRQ_MSIX && !t->msix_on) {
        if (!t->dev.caps.msix.present || t->nvec == 0)
            return vs_err_set(e, VS_ENOTSUP, "qemu: device has no MSI-X");
        int rc = program_msix(t, e);
        if (rc < 0)
            return rc;
    } else if (m != VS_IRQ_MSIX && t->msix_on) {
        QT(t, vs_pci_msix_enable(t->qt, t->dev.func.bdf, &t->dev.caps.msix, false, e),
           "MSI-X disable");
        t->msix_on = false;
    }
    if (m == VS_IRQ_INTX && !t->intx_intercepted && !t->intx_fallback) {
        vs_err ie = { 0 };
        int rc = vs_qtest_irq_intercept_in(t->qt, "ioapic", &ie);
        if (rc == 0)
            t->intx_intercepted = true;
        else if (rc == -VS_EPROTO)
            t->intx_fallback = true; /* poll the ISR instead */
        else {
            if (e)
                *e = ie;
            return fail(t, rc, e, "irq_intercept_in");
        }
    }
    return 0;
}

static void deliver(qemu_transport *t, int queue, uint16_t vector)
{
    t->st.irqs++;
    emit(t, VS_EV_IRQ, queue, vector, NULL);
    if (queue == VS_IRQ_CONFIG) {
        emit(t, VS_EV_CONFIG_CHANGE, -1, 0, NULL);
        if (t->bus && t->bus->n) {
            char buf[4096];
            size_t n = vs_qemu_stderr_text(t->qemu, buf, sizeof buf);
            if (n > t->stderr_seen) {
                emit(t, VS_EV_NOTE, -1, 0, buf + t->stderr_seen);
                t->stderr_seen = n;
            }
        }
    }
    if (t->base.irq_fn)
        t->base.irq_fn(t->base.irq_opaque, queue);
}

/* Collects MSI-X messages that landed in the slots; returns the number delivered. */
static int poll_msix(qemu_transport *t)
{
    int n = 0;
    for (uint16_t v = 0; v < t->nvec; v++) {
        if (!__atomic_load_n(&t->msi_slot[v], __ATOMIC_RELAXED))
            continue;
        uint32_t val = __atomic_exchange_n(&t->msi_slot[v], 0u, __ATOMIC_ACQ_REL);
        if (!val)
            continue;
        deliver(t, v == 0 ? VS_IRQ_CONFIG : (int)v - 1, v);
        n++;
    }
    return n;
}

static int intx_level(const qemu_transport *t)
{
    for (unsigned i = 0; i < 24; i++)
        if (vs_qtest_irq_level(t->qt, i) > 0)
            return 1;
    return 0;
}

/* INTx: 1 if the line is up (or, without the intercept, the ISR is non-zero). */
static int poll_intx(qemu_transport *t, int timeout_ms, vs_err *e)
{
    if (t->intx_fallback) {
        uint8_t isr = 0;
        QT(t, vs_qtest_readb(t->qt, t->isr_gpa, &isr, e), "ISR read");
        t->isr_acc |= isr;
        if (t->isr_acc)
            return 1;
        if (timeout_ms > 0)
            usleep(200);
        return 0;
    }
    if (intx_level(t))
        return 1;
    QT(t, vs_qtest_poll_async(t->qt, timeout_ms, e), "IRQ poll");
    return intx_level(t);
}

static int op_wait(vs_transport *vt, uint64_t timeout_ns, vs_err *e)
{
    qemu_transport *t = qt_of(vt);
    int rc = check_live(t, e);
    if (rc < 0)
        return rc;
    t->st.waits++;
    if (vt->irq_mode == VS_IRQ_POLL) {
        uint64_t ns = timeout_ns < 20000 ? timeout_ns : 20000;
        if (ns) {
            struct timespec ts = { 0, (long)ns };
            nanosleep(&ts, NULL);
        }
        if (!vs_qemu_alive(t->qemu))
            return fail(t, -VS_EBACKEND, e, "wait");
        return 0;
    }
    if (vt->irq_mode == VS_IRQ_INTX) {
        uint64_t start = mono_ns();
        for (;;) {
            uint64_t el = mono_ns() - start;
            int ms = el >= timeout_ns ? 0 : (int)((timeout_ns - el + 999999) / 1000000);
            if (ms > 5)
                ms = 5;
            rc = poll_intx(t, ms, e);
            if (rc < 0)
                return rc;
            if (rc > 0) {
                deliver(t, 0, NO_VECTOR);
                return 1;
            }
            if (mono_ns() - start >= timeout_ns)
                return 0;
        }
    }
    /* MSI-X */
    int n = poll_msix(t);
    if (n)
        return n;
    uint64_t start = mono_ns();
    uint64_t spin = t->o.poll_spin_ns < timeout_ns ? t->o.poll_spin_ns : timeout_ns;
    for (unsigned i = 1;; i++) {
        cpu_relax();
        if ((n = poll_msix(t)))
            return n;
        if ((i & 31) == 0 && mono_ns() - start >= spin)
            break;
    }
    uint64_t sleep_ns = 2000, last_alive = mono_ns();
    for (;;) {
        uint64_t now = mono_ns();
        if (now - start >= timeout_ns)
            return poll_msix(t);
        if (now - last_alive >= 1000000) {
            last_alive = now;
            if (!vs_qemu_alive(t->qemu))
                return fail(t, -VS_EBACKEND, e, "wait");
        }
        uint64_t left = timeout_ns - (now - start);
        uint64_t s = sleep_ns < left ? sleep_ns : left;
        struct timespec ts = { (time_t)(s / 1000000000u), (long)(s % 1000000000u) };
        nanosleep(&ts, NULL);
        t->st.wait_sleeps++;
        if ((n = poll_msix(t)))
            return n;
        if (sleep_ns < t->o.poll_sleep_max_ns)
            sleep_ns *= 2;
        if (sleep_ns > t->o.poll_sleep_max_ns)
            sleep_ns = t->o.poll_sleep_max_ns;
    }
}

static int op_read_isr(vs_transport *vt, uint8_t *isr, vs_err *e)
{
    qemu_transport *t = qt_of(vt);
    int rc = check_live(t, e);
    if (rc < 0)
        return rc;
    uint8_t v = 0;
    QT(t, vs_qtest_readb(t->qt, t->isr_gpa, &v, e), "ISR read");
    v |= t->isr_acc;
    t->isr_acc = 0;
    if (isr)
        *isr = v;
    if (t->intx_intercepted) {
        /* pick up the "IRQ lower" the read caused, so wait() sees the line low */
        rc = vs_qtest_poll_async(t->qt, 0, e);
        if (rc < 0)
            return fail(t, rc, e, "IRQ poll");
    }
    return 0;
}

/* ------------------------------------------------------------------ status & features */

static int do_reset(qemu_transport *t, vs_err *e)
{
    QT(t, vs_qtest_writeb(t->qt, t->common + VS_VIRTIO_COMMON_STATUS, 0, e), "reset");
    uint64_t deadline = mono_ns() + (uint64_t)t->o.step_timeout_ms * 1000000u;
    for (;;) {
        uint8_t s = 0xff;
        QT(t, vs_qtest_readb(t->qt, t->common + VS_VIRTIO_COMMON_STATUS, &s, e), "reset");
        if (s == 0)
            break;
        if (mono_ns() > deadline)
            return vs_err_set(e, VS_ETIMEDOUT, "qemu: status still 0x%02x after reset", s);
        usleep(100);
    }
    for (uint16_t q = 0; q < t->nq; q++)
        t->notify_addr[q] = 0;
    t->drv_features = 0;
    t->isr_acc = 0;
    int rc = apply_irq_mode(t, e);
    if (rc < 0)
        return rc;
    if (t->msix_on) {
        rc = set_config_vector(t, e);
        if (rc < 0)
            return rc;
    }
    /* stale messages from before the reset */
    for (uint16_t v = 0; v < t->nvec; v++)
        __atomic_store_n(&t->msi_slot[v], 0u, __ATOMIC_RELEASE);
    return 0;
}

static int op_reset(vs_transport *vt, vs_err *e)
{
    qemu_transport *t = qt_of(vt);
    int rc = check_live(t, e);
    if (rc < 0)
        return rc;
    return do_reset(t, e);
}

static int op_get_status(vs_transport *vt, uint8_t *status, vs_err *e)
{
    qemu_transport *t = qt_of(vt);
    int rc = check_live(t, e);
    if (rc < 0)
        return rc;
    uint8_t s = 0;
    QT(t, vs_qtest_readb(t->qt, t->common + VS_VIRTIO_COMMON_STATUS, &s, e), "status read");
    *status = s;
    return 0;
}

static int op_set_status(vs_transport *vt, uint8_t status, vs_err *e)
{
    qemu_transport *t = qt_of(vt);
    int rc = check_live(t, e);
    if (rc < 0)
        return rc;
    if (status == 0)
        return do_reset(t, e);
    QT(t, vs_qtest_writeb(t->qt, t->common + VS_VIRTIO_COMMON_STATUS, status, e),
       "status write");
    return 0;
}

static int op_get_device_features(vs_transport *vt, uint64_t *f, vs_err *e)
{
    qemu_transport *t = qt_of(vt);
    int rc = check_live(t, e);
    if (rc < 0)
        return rc;
    uint64_t lo = 0, hi = 0;
    QT(t, vs_qtest_queue_writel(t->qt, t->common + VS_VIRTIO_COMMON_DFSELECT, 0, e), "features");
    QT(t, vs_qtest_queue(t->qt, VS_QT_READL, t->common + VS_VIRTIO_COMMON_DF, 0, &lo, e),
       "features");
    QT(t, vs_qtest_queue_writel(t->qt, t->common + VS_VIRTIO_COMMON_DFSELECT, 1, e), "features");
    QT(t, vs_qtest_queue(t->qt, VS_QT_READL, t->common + VS_VIRTIO_COMMON_DF, 0, &hi, e),
       "features");
    QT(t, vs_qtest_flush(t->qt, e), "features");
    *f = (hi << 32) | (lo & 0xffffffffu);
    return 0;
}

static int op_set_driver_features(vs_transport *vt, uint64_t f, vs_err *e)
{
    qemu_transport *t = qt_of(vt);
    int rc = check_live(t, e);
    if (rc < 0)
        return rc;
    uint64_t c = t->common;
    QT(t, vs_qtest_queue_writel(t->qt, c + VS_VIRTIO_COMMON_GFSELECT, 0, e), "features");
    QT(t, vs_qtest_queue_writel(t->qt, c + VS_VIRTIO_COMMON_GF, (uint32_t)f, e), "features");
    QT(t, vs_qtest_queue_writel(t->qt, c + VS_VIRTIO_COMMON_GFSELECT, 1, e), "features");
    QT(t, vs_qtest_queue_writel(t->qt, c + VS_VIRTIO_COMMON_GF, (uint32_t)(f >> 32), e),
       "features");
    QT(t, vs_qtest_flush(t->qt, e), "features");
    t->drv_features = f;
    return 0;
}

/* ------------------------------------------------------------------ config space */

static int check_cfg_range(qemu_transport *t, uint32_t off, uint32_t len, vs_err *e)
{
    if ((uint64_t)off + len > t->devcfg_len)
        return vs_err_set(e, VS_ERANGE,
                          "qemu: config access [%u, %u) outside device config (%u bytes)",
                          off, off + len, t->devcfg_len);
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

static int op_config_read(vs_transport *vt, uint32_t off, void *buf, uint32_t len, vs_err *e)
{
    qemu_transport *t = qt_of(vt);
    int rc = check_live(t, e);
    if (rc < 0)
        return rc;
    if (len == 0)
        return 0;
    if (!buf)
        return vs_err_set(e, VS_EINVAL, "qemu: config read into NULL");
    if ((rc = check_cfg_range(t, off, len, e)) < 0)
        return rc;
    uint64_t vals[64];
    uint32_t pos = 0;
    uint8_t *out = buf;
    while (pos < len) {
        /* one batch of up to 64 accesses */
        uint32_t start = pos, n = 0;
        while (pos < len && n < 64) {
            uint32_t w = access_width(off + pos, len - pos);
            enum vs_qtest_op op = w == 4 ? VS_QT_READL : w == 2 ? VS_QT_READW : VS_QT_READB;
            QT(t, vs_qtest_queue(t->qt, op, t->devcfg + off + pos, 0, &vals[n], e), "config read");
            pos += w;
            n++;
        }
        QT(t, vs_qtest_flush(t->qt, e), "config read");
        for (uint32_t i = 0, p = start; i < n; i++) {
            uint32_t w = access_width(off + p, len - p);
            for (uint32_t b = 0; b < w; b++)
                out[p + b] = (uint8_t)(vals[i] >> (8 * b));
            p += w;
        }
    }
    return 0;
}

static int op_config_write(vs_transport *vt, uint32_t off, const void *buf, uint32_t len,
                           vs_err *e)
{
    qemu_transport *t = qt_of(vt);
    int rc = check_live(t, e);
    if (rc < 0)
        return rc;
    if (len == 0)
        return 0;
    if (!buf)
        return vs_err_set(e, VS_EINVAL, "qemu: config write from NULL");
    if ((rc = check_cfg_range(t, off, len, e)) < 0)
        return rc;
    const uint8_t *in = buf;
    for (uint32_t pos = 0; pos < len;) {
        uint32_t w = access_width(off + pos, len - pos);
        uint64_t v = 0;
        for (uint32_t b = 0; b < w; b++)
            v |= (uint64_t)in[pos + b] << (8 * b);
        enum vs_qtest_op op = w == 4 ? VS_QT_WRITEL : w == 2 ? VS_QT_WRITEW : VS_QT_WRITEB;
        QT(t, vs_qtest_queue(t->qt, op, t->devcfg + off + pos, v, NULL, e), "config write");
        pos += w;
    }
    QT(t, vs_qtest_flush(t->qt, e), "config write");
    return 0;
}

static int op_config_generation(vs_transport *vt, uint32_t *gen, vs_err *e)
{
    qemu_transport *t = qt_of(vt);
    int rc = check_live(t, e);
    if (rc < 0)
        return rc;
    uint8_t g = 0;
    QT(t, vs_qtest_readb(t->qt, t->common + VS_VIRTIO_COMMON_CFGGENERATION, &g, e),
       "config generation");
    *gen = g;
    return 0;
}

/* ------------------------------------------------------------------ queues */

static int op_num_queues(vs_transport *vt, uint16_t *n, vs_err *e)
{
    qemu_transport *t = qt_of(vt);
    int rc = check_live(t, e);
    if (rc < 0)
        return rc;
    uint16_t v = 0;
    QT(t, vs_qtest_readw(t->qt, t->common + VS_VIRTIO_COMMON_NUMQ, &v, e), "num_queues");
    *n = v;
    return 0;
}

static int check_queue(qemu_transport *t, uint16_t q, vs_err *e)
{
    if (q >= t->nq)
        return vs_err_set(e, VS_ERANGE, "qemu: queue %u >= num_queues %u", q, t->nq);
    return 0;
}

static int op_queue_max_size(vs_transport *vt, uint16_t q, uint32_t *size, vs_err *e)
{
    qemu_transport *t = qt_of(vt);
    int rc = check_live(t, e);
    if (rc < 0)
        return rc;
    if ((rc = check_queue(t, q, e)) < 0)
        return rc;
    uint64_t v = 0;
    QT(t, vs_qtest_queue_writew(t->qt, t->common + VS_VIRTIO_COMMON_Q_SELECT, q, e), "queue_size");
    QT(t, vs_qtest_queue(t->qt, VS_QT_READW, t->common + VS_VIRTIO_COMMON_Q_SIZE, 0, &v, e),
       "queue_size");
    QT(t, vs_qtest_flush(t->qt, e), "queue_size");
    *size = (uint32_t)v;
    return 0;
}

static int op_queue_setup(vs_transport *vt, uint16_t q, const vs_vq_layout *l, vs_err *e)
{
    qemu_transport *t = qt_of(vt);
    int rc = check_live(t, e);
    if (rc < 0)
        return rc;
    if ((rc = check_queue(t, q, e)) < 0)
        return rc;
    if (!l || l->size == 0 || l->size > 0xffff)
        return vs_err_set(e, VS_EINVAL, "qemu: queue %u: bad layout", q);
    if ((rc = apply_irq_mode(t, e)) < 0)
        return rc;
    uint64_t c = t->common, maxsz = 0, vec = 0, noff = 0;
    vs_qtest *qt = t->qt;
    QT(t, vs_qtest_queue_writew(qt, c + VS_VIRTIO_COMMON_Q_SELECT, q, e), "queue setup");
    QT(t, vs_qtest_queue(qt, VS_QT_READW, c + VS_VIRTIO_COMMON_Q_SIZE, 0, &maxsz, e),
       "queue setup");
    QT(t, vs_qtest_flush(qt, e), "queue setup");
    if (maxsz == 0)
        return vs_err_set(e, VS_EINVAL, "qemu: queue %u not available (max size 0)", q);
    if (l->size > maxsz)
        return vs_err_set(e, VS_EINVAL, "qemu: queue %u: size %u > device maximum %u", q,
                          l->size, (unsigned)maxsz);
    uint16_t want_vec = t->msix_on ? (uint16_t)(q + 1) : NO_VECTOR;
    if (t->msix_on && q + 1u >= t->nvec)
        return vs_err_set(e, VS_ENOTSUP, "qemu: queue %u needs MSI-X vector %u, table has %u",
                          q, q + 1, t->nvec);
    QT(t, vs_qtest_queue_writew(qt, c + VS_VIRTIO_COMMON_Q_SIZE, (uint16_t)l->size, e),
       "queue setup");
    QT(t, vs_qtest_queue_writew(qt, c + VS_VIRTIO_COMMON_Q_MSIX, want_vec, e), "queue setup");
    QT(t, vs_qtest_queue(qt, VS_QT_READW, c + VS_VIRTIO_COMMON_Q_MSIX, 0, &vec, e),
       "queue setup");
    QT(t, vs_qtest_queue_writel(qt, c + VS_VIRTIO_COMMON_Q_DESCLO, (uint32_t)l->desc_gpa, e), "queue setup");
    QT(t, vs_qtest_queue_writel(qt, c + VS_VIRTIO_COMMON_Q_DESCHI, (uint32_t)(l->desc_gpa >> 32), e), "queue setup");
    QT(t, vs_qtest_queue_writel(qt, c + VS_VIRTIO_COMMON_Q_AVAILLO, (uint32_t)l->driver_gpa, e), "queue setup");
    QT(t, vs_qtest_queue_writel(qt, c + VS_VIRTIO_COMMON_Q_AVAILHI, (uint32_t)(l->driver_gpa >> 32), e), "queue setup");
    QT(t, vs_qtest_queue_writel(qt, c + VS_VIRTIO_COMMON_Q_USEDLO, (uint32_t)l->device_gpa, e), "queue setup");
    QT(t, vs_qtest_queue_writel(qt, c + VS_VIRTIO_COMMON_Q_USEDHI, (uint32_t)(l->device_gpa >> 32), e), "queue setup");
    QT(t, vs_qtest_queue(qt, VS_QT_READW, c + VS_VIRTIO_COMMON_Q_NOFF, 0, &noff, e),
       "queue setup");
    QT(t, vs_qtest_flush(qt, e), "queue setup");
    if (vec != want_vec)
        return vs_err_set(e, VS_EBACKEND,
                          "qemu: queue %u: queue_msix_vector %u read back as 0x%04x%s", q,
                          want_vec, (unsigned)vec,
                          vec == NO_VECTOR ? " (NO_VECTOR: device refused the vector)" : "");
    QT(t, vs_qtest_writew(qt, c + VS_VIRTIO_COMMON_Q_ENABLE, 1, e), "queue enable");
    t->notify_addr[q] = vs_pci_virtio_notify_addr(&t->dev, (uint16_t)noff);
    return 0;
}

static int op_queue_disable(vs_transport *vt, uint16_t q, vs_err *e)
{
    qemu_transport *t = qt_of(vt);
    int rc = check_live(t, e);
    if (rc < 0)
        return rc;
    if ((rc = check_queue(t, q, e)) < 0)
        return rc;
    if (!(t->drv_features & VS_BIT(VS_F_RING_RESET)))
        return vs_err_set(e, VS_ENOTSUP,
                          "qemu: queue %u: disabling a queue needs VIRTIO_F_RING_RESET", q);
    uint64_t v = 0, en = 0;
    QT(t, vs_qtest_queue_writew(t->qt, t->common + VS_VIRTIO_COMMON_Q_SELECT, q, e), "queue reset");
    QT(t, vs_qtest_queue_writew(t->qt, t->common + COMMON_Q_RESET, 1, e), "queue reset");
    QT(t, vs_qtest_queue(t->qt, VS_QT_READW, t->common + COMMON_Q_RESET, 0, &v, e),
       "queue reset");
    QT(t, vs_qtest_queue(t->qt, VS_QT_READW, t->common + VS_VIRTIO_COMMON_Q_ENABLE, 0, &en, e),
       "queue reset");
    QT(t, vs_qtest_flush(t->qt, e), "queue reset");
    if (en != 0)
        return vs_err_set(e, VS_EBACKEND, "qemu: queue %u: queue_enable reads %u after queue_reset",
                          q, (unsigned)en);
    t->last_queue_reset = (uint16_t)v;
    if (v != 1) {
        /* QEMU 7.2 resets synchronously and presents 0 right away; the spec wants 1 until
         * the queue is re-enabled.  Not fatal for us: the queue is reset (enable = 0). */
        char m[160];
        snprintf(m, sizeof m, "qemu: queue %u: queue_reset reads %u after a queue reset "
                 "(device should present 1 until re-enabled)", q, (unsigned)v);
        emit(t, VS_EV_NOTE, q, v, m);
    }
    t->notify_addr[q] = 0;
    return 0;
}

static int op_notify(vs_transport *vt, uint16_t q, vs_err *e)
{
    qemu_transport *t = qt_of(vt);
    if (t->dead)
        return check_live(t, e);
    if (q >= t->nq || !t->notify_addr[q])
        return vs_err_set(e, VS_ESTATE, "qemu: notify: queue %u not set up", q);
    t->st.kicks++;
    QT(t, vs_qtest_queue_writew(t->qt, t->notify_addr[q], q, e), "notify");
    if (t->o.sync_notify)
        QT(t, vs_qtest_flush(t->qt, e), "notify");
    else
        QT(t, vs_qtest_post(t->qt, e), "notify");
    return 0;
}

/* ------------------------------------------------------------------ lifecycle */

static void op_destroy(vs_transport *vt)
{
    qemu_transport *t = qt_of(vt);
    if (!t)
        return;
    if (t->qemu) {
        vs_qemu_transport_cpu(vt, NULL, NULL, NULL); /* keep the last reading */
        vs_qemu_destroy(t->qemu);
    }
    if (t->msi_gpa)
        vs_gmem_free(t->base.gm, t->msi_gpa, NULL);
    for (unsigned i = 0; i < t->n_low; i++)
        vs_gmem_free(t->base.gm, t->low_gpa[i], NULL);
    free(t->notify_addr);
    free(t);
}

static const vs_transport_ops qemu_ops = {
    .name = "qemu",
    .reset = op_reset,
    .get_status = op_get_status,
    .set_status = op_set_status,
    .get_device_features = op_get_device_features,
    .set_driver_features = op_set_driver_features,
    .config_read = op_config_read,
    .config_write = op_config_write,
    .config_generation = op_config_generation,
    .num_queues = op_num_queues,
    .queue_max_size = op_queue_max_size,
    .queue_setup = op_queue_setup,
    .queue_disable = op_queue_disable,
    .notify = op_notify,
    .wait = op_wait,
    .read_isr = op_read_isr,
    .destroy = op_destroy,
};

void vs_qemu_backend_opts_default(vs_qemu_backend_opts *o)
{
    memset(o, 0, sizeof *o);
    o->device_type = VS_DEV_BLK;
    o->irq_mode = VS_IRQ_MSIX;
    o->step_timeout_ms = 5000;
    o->startup_timeout_ms = 10000;
    o->poll_spin_ns = 5000;
    o->poll_sleep_max_ns = 100000;
}

static unsigned pci_type_of(uint32_t device_type)
{
    switch (device_type) {
    case VS_DEV_BLK: return VS_VIRTIO_TYPE_BLK;
    case VS_DEV_SCSI: return VS_VIRTIO_TYPE_SCSI;
    case VS_DEV_CONSOLE: return VS_VIRTIO_TYPE_CONSOLE;
    default: return 0;
    }
}

int vs_qemu_transport_create(vs_transport **out, vs_gmem *gm, const vs_qemu_backend_opts *o,
                             vs_event_bus *bus, vs_err *e)
{
    if (!out || !gm)
        return vs_err_set(e, VS_EINVAL, "qemu: transport needs out and guest memory");
    *out = NULL;
    vs_qemu_backend_opts def;
    vs_qemu_backend_opts_default(&def);
    vs_qemu_backend_opts op = o ? *o : def;
    if (!op.device_type)
        op.device_type = VS_DEV_BLK;
    if (op.step_timeout_ms <= 0)
        op.step_timeout_ms = def.step_timeout_ms;
    if (op.startup_timeout_ms <= 0)
        op.startup_timeout_ms = def.startup_timeout_ms;
    if (!op.poll_spin_ns)
        op.poll_spin_ns = def.poll_spin_ns;
    if (!op.poll_sleep_max_ns)
        op.poll_sleep_max_ns = def.poll_sleep_max_ns;
    unsigned ptype = pci_type_of(op.device_type);
    if (!ptype)
        return vs_err_set(e, VS_ENOTSUP, "qemu: device type %u not supported", op.device_type);
    if (op.irq_mode != VS_IRQ_MSIX && op.irq_mode != VS_IRQ_INTX && op.irq_mode != VS_IRQ_POLL)
        return vs_err_set(e, VS_EINVAL, "qemu: unknown irq mode %d", (int)op.irq_mode);
    if (!op.device_args || !op.device_args[0])
        return vs_err_set(e, VS_EINVAL, "qemu: no device arguments (see vs_qemu_blk_args)");

    /* guest RAM: the whole memfd, flat from GPA 0 */
    uint64_t size = vs_gmem_file_size(gm);
    if (vs_gmem_region_count(gm) < 1)
        return vs_err_set(e, VS_EINVAL, "qemu: guest memory has no regions");
    const vs_gmem_region *r0 = vs_gmem_region_at(gm, 0);
    if (r0->gpa != 0 || r0->file_offset != 0 || (r0->flags & (VS_GMEM_HOLE | VS_GMEM_READONLY)))
        return vs_err_set(e, VS_EINVAL,
                          "qemu: guest memory must start with a RAM region at GPA 0 / file "
                          "offset 0 (GPA = memfd offset in QEMU)");
    if (size == 0 || size % (1u << 20) || size > (UINT64_C(2) << 30))
        return vs_err_set(e, VS_EINVAL,
                          "qemu: guest memory must be a multiple of 1 MiB and at most 2 GiB "
                          "(q35 low RAM), is %" PRIu64 " bytes", size);

    int rc = vs_qemu_install_cleanup(e);
    if (rc < 0)
        return rc;
    qemu_transport *t = calloc(1, sizeof *t);
    if (!t)
        return vs_err_set(e, VS_ENOMEM, "qemu: out of memory");
    t->base.ops = &qemu_ops;
    t->base.gm = gm;
    t->base.device_id = op.device_type;
    t->base.irq_mode = op.irq_mode;
    t->o = op;
    t->bus = bus;
    t->pid = -1;
    clock_gettime(CLOCK_MONOTONIC, &t->t0);

    if (vs_qemu_version(op.qemu_path, t->version, sizeof t->version, e) < 0) {
        free(t);
        return -VS_EBACKEND;
    }
    /* QEMU does not route DMA to 0xA0000-0xFFFFF (VGA window, BIOS shadow): keep the
     * allocator out of the first MiB (or at least out of that window) */
    uint64_t g = 0;
    if (vs_gmem_alloc(gm, 1u << 20, 1u << 20, &g, NULL) == 0) {
        if (g == 0)
            t->low_gpa[t->n_low++] = 0;
        else
            vs_gmem_free(gm, g, NULL);
    }
    if (t->n_low == 0) {
        uint64_t tmp[256];
        unsigned ntmp = 0;
        while (ntmp < 256 && vs_gmem_alloc(gm, VS_GMEM_PAGE, VS_GMEM_PAGE, &g, NULL) == 0) {
            if (g >= 0x100000u) {
                vs_gmem_free(gm, g, NULL);
                break;
            }
            if (g >= 0xA0000u && t->n_low < 96)
                t->low_gpa[t->n_low++] = g;
            else
                tmp[ntmp++] = g;
        }
        for (unsigned i = 0; i < ntmp; i++)
            vs_gmem_free(gm, tmp[i], NULL);
    }
    /* interrupt page: one 4-byte slot per MSI-X vector */
    if ((rc = vs_gmem_alloc(gm, VS_GMEM_PAGE, VS_GMEM_PAGE, &t->msi_gpa, e)) < 0) {
        free(t);
        return vs_err_prefix(e, "qemu: MSI-X page");
    }
    t->msi_slot = vs_gmem_translate(gm, t->msi_gpa, VS_GMEM_PAGE, VS_GMEM_WRITE, e);
    if (!t->msi_slot) {
        rc = -VS_EINVAL;
        goto fail;
    }

    vs_qemu_opts qo = { .qemu_path = op.qemu_path, .mem_fd = vs_gmem_fd(gm), .mem_size = size,
                        .extra_args = op.device_args, .accel = op.accel, .machine = op.machine,
                        .startup_timeout_ms = op.startup_timeout_ms,
                        .qtest_timeout_ms = op.step_timeout_ms };
    if ((rc = vs_qemu_start(&qo, &t->qemu, e)) < 0)
        goto fail;
    t->qt = vs_qemu_qtest(t->qemu);
    t->pid = vs_qemu_pid(t->qemu);

    vs_pci_alloc alloc;
    vs_pci_alloc_default(&alloc);
    if ((rc = vs_pci_virtio_setup(t->qt, &alloc, ptype, op.device_index, &t->dev, e)) < 0) {
        rc = fail(t, rc, e, "PCI setup");
        goto fail;
    }
    const vs_virtio_pci_caps *c = &t->dev.caps;
    t->common = c->common.gpa;
    t->isr_gpa = c->isr.gpa;
    t->devcfg = c->device.gpa;
    t->devcfg_len = c->device.length;
    t->nvec = c->msix.present ? c->msix.table_size : 0;
    if (t->nvec > VS_GMEM_PAGE / 4)
        t->nvec = VS_GMEM_PAGE / 4;
    uint16_t nq = 0;
    if ((rc = vs_qtest_readw(t->qt, t->common + VS_VIRTIO_COMMON_NUMQ, &nq, e)) < 0) {
        rc = fail(t, rc, e, "num_queues");
        goto fail;
    }
    t->nq = nq > MAX_QUEUES ? MAX_QUEUES : nq;
    t->notify_addr = calloc(t->nq ? t->nq : 1, sizeof *t->notify_addr);
    if (!t->notify_addr) {
        rc = vs_err_set(e, VS_ENOMEM, "qemu: out of memory");
        goto fail;
    }
    if ((rc = do_reset(t, e)) < 0)
        goto fail;
    *out = &t->base;
    return 0;
fail:
    op_destroy(&t->base);
    return rc < 0 ? rc : -VS_EBACKEND;
}

/* ------------------------------------------------------------------ extras */

bool vs_qemu_transport_is(const vs_transport *t) { return t && t->ops == &qemu_ops; }

size_t vs_qemu_transport_stderr(const vs_transport *vt, char *buf, size_t len)
{
    if (!buf || !len)
        return 0;
    buf[0] = 0;
    if (!vs_qemu_transport_is(vt))
        return 0;
    const qemu_transport *t = (const qemu_transport *)vt;
    return t->qemu ? vs_qemu_stderr_text(t->qemu, buf, len) : 0;
}

const char *vs_qemu_transport_version(const vs_transport *vt)
{
    return vs_qemu_transport_is(vt) ? ((const qemu_transport *)vt)->version : NULL;
}

pid_t vs_qemu_transport_pid(const vs_transport *vt)
{
    return vs_qemu_transport_is(vt) ? ((const qemu_transport *)vt)->pid : -1;
}

const char *vs_qemu_transport_cmdline(const vs_transport *vt)
{
    if (!vs_qemu_transport_is(vt))
        return NULL;
    const qemu_transport *t = (const qemu_transport *)vt;
    return t->qemu ? vs_qemu_cmdline(t->qemu) : NULL;
}

int vs_qemu_transport_last_queue_reset(const vs_transport *vt)
{
    return vs_qemu_transport_is(vt) ? ((const qemu_transport *)vt)->last_queue_reset : -1;
}

uint64_t vs_qemu_transport_driver_features(const vs_transport *vt)
{
    return vs_qemu_transport_is(vt) ? ((const qemu_transport *)vt)->drv_features : 0;
}

static int read_proc_cpu(pid_t pid, uint64_t *ns)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* comm may contain spaces */
    if (!p)
        return -1;
    unsigned long long ut = 0, stime = 0;
    /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
     * utime(14) stime(15) */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &stime) != 2)
        return -1;
    long tck = sysconf(_SC_CLK_TCK);
    if (tck <= 0)
        tck = 100;
    *ns = (ut + stime) * (1000000000ull / (unsigned long long)tck);
    return 0;
}

int vs_qemu_transport_cpu(vs_transport *vt, uint64_t *self_ns, uint64_t *qemu_ns, vs_err *e)
{
    if (!vs_qemu_transport_is(vt))
        return vs_err_set(e, VS_EINVAL, "qemu: not a qemu transport");
    qemu_transport *t = qt_of(vt);
    if (self_ns) {
        struct timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        *self_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
    uint64_t q = 0;
    if (!t->dead && t->qemu && t->pid > 0 && read_proc_cpu(t->pid, &q) == 0 &&
        q >= t->qemu_cpu_last)
        t->qemu_cpu_last = q;
    if (qemu_ns)
        *qemu_ns = t->qemu_cpu_last;
    return 0;
}

void vs_qemu_transport_stats(const vs_transport *vt, vs_qemu_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!vs_qemu_transport_is(vt))
        return;
    const qemu_transport *t = (const qemu_transport *)vt;
    *out = t->st;
    if (t->qt && !t->dead) {
        out->qtest_commands = vs_qtest_stat_commands(t->qt);
        out->qtest_writes = vs_qtest_stat_writes(t->qt);
    }
}

/* ------------------------------------------------------------------ argument builder */

void vs_qemu_blk_params_default(vs_qemu_blk_params *p)
{
    memset(p, 0, sizeof *p);
    p->capacity = UINT64_C(64) << 20;
    p->event_idx = true;
    p->indirect_desc = true;
    p->discard = true;
    p->write_zeroes = true;
    p->ioeventfd = true;
}

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool overflow;
} sbuf;

static void sb_put(sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_put(sbuf *s, const char *fmt, ...)
{
    if (s->overflow)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(s->p + s->len, s->cap - s->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= s->cap - s->len) {
        s->overflow = true;
        return;
    }
    s->len += (size_t)n;
}

/* QEMU option values: a comma is written as ",,". */
static void sb_put_escaped(sbuf *s, const char *v)
{
    for (; *v && !s->overflow; v++) {
        if (*v == ',')
            sb_put(s, ",,");
        else
            sb_put(s, "%c", *v);
    }
}

static const char *onoff(bool b) { return b ? "on" : "off"; }

int vs_qemu_blk_args(const vs_qemu_blk_params *p, vs_qemu_args *out, vs_err *e)
{
    if (!p || !out)
        return vs_err_set(e, VS_EINVAL, "qemu: blk args: NULL argument");
    memset(out, 0, sizeof *out);
    if (!p->image && (p->capacity == 0 || p->capacity % 512))
        return vs_err_set(e, VS_EINVAL, "qemu: blk args: capacity %" PRIu64
                          " is not a non-zero multiple of 512", p->capacity);
    if (p->queue_size && (p->queue_size < 2 || (p->queue_size & (p->queue_size - 1)) ||
                          p->queue_size > 1024))
        return vs_err_set(e, VS_EINVAL,
                          "qemu: blk args: queue size %u (QEMU wants a power of two, 2..1024)",
                          p->queue_size);
    if (p->n_rules && !p->rules)
        return vs_err_set(e, VS_EINVAL, "qemu: blk args: %zu rules but no array", p->n_rules);
    for (size_t i = 0; i < p->n_rules; i++) {
        const vs_qemu_blkdebug_rule *r = &p->rules[i];
        if (r->event != VS_QEMU_BLKDBG_READ_AIO && r->event != VS_QEMU_BLKDBG_WRITE_AIO)
            return vs_err_set(e, VS_EINVAL, "qemu: blk args: rule %zu: unknown event", i);
        if (r->err_no <= 0 || r->err_no > 4095)
            return vs_err_set(e, VS_EINVAL, "qemu: blk args: rule %zu: errno %d", i, r->err_no);
        if (r->sector < -1)
            return vs_err_set(e, VS_EINVAL, "qemu: blk args: rule %zu: sector %" PRId64, i,
                              r->sector);
    }
    sbuf s = { .p = out->buf, .cap = sizeof out->buf };
    const char *node = "vsd0";

    size_t dev_off = s.len;
    sb_put(&s, "virtio-blk-pci,disable-legacy=on,drive=%s,rerror=report,werror=report", node);
    if (p->num_queues)
        sb_put(&s, ",num-queues=%u", p->num_queues);
    if (p->queue_size)
        sb_put(&s, ",queue-size=%u", p->queue_size);
    sb_put(&s, ",packed=%s,event_idx=%s,indirect_desc=%s,discard=%s,write-zeroes=%s,ioeventfd=%s",
           onoff(p->packed), onoff(p->event_idx), onoff(p->indirect_desc), onoff(p->discard),
           onoff(p->write_zeroes), onoff(p->ioeventfd));
    if (p->serial) {
        sb_put(&s, ",serial=");
        sb_put_escaped(&s, p->serial);
    }
    sb_put(&s, "%c", 0);
    if (s.overflow)
        goto overflow;
    size_t bd_off = s.len;

    /* the image node (protocol level) */
    sbuf img = { 0 };
    char imgbuf[1536];
    img.p = imgbuf;
    img.cap = sizeof imgbuf;
    const char *pfx = p->n_rules ? "file.image." : "";
    if (p->image) {
        sb_put(&img, "%sdriver=file,%sfilename=", pfx, pfx);
        sb_put_escaped(&img, p->image);
    } else {
        sb_put(&img, "%sdriver=null-co,%ssize=%" PRIu64 ",%sread-zeroes=on", pfx, pfx,
               p->capacity, pfx);
    }
    if (img.overflow)
        goto overflow;

    if (!p->n_rules) {
        sb_put(&s, "node-name=%s,%s", node, imgbuf);
    } else {
        sb_put(&s, "driver=raw,node-name=%s,file.driver=blkdebug", node);
        for (size_t i = 0; i < p->n_rules; i++) {
            const vs_qemu_blkdebug_rule *r = &p->rules[i];
            sb_put(&s, ",file.inject-error.%zu.event=%s,file.inject-error.%zu.errno=%d", i,
                   r->event == VS_QEMU_BLKDBG_READ_AIO ? "read_aio" : "write_aio", i, r->err_no);
            if (r->sector >= 0)
                sb_put(&s, ",file.inject-error.%zu.sector=%" PRId64, i, r->sector);
            sb_put(&s, ",file.inject-error.%zu.once=%s", i, onoff(r->once));
        }
        sb_put(&s, ",%s", imgbuf);
    }
    if (p->read_only)
        sb_put(&s, ",read-only=on");
    sb_put(&s, "%c", 0);
    if (s.overflow)
        goto overflow;
    out->argv[0] = "-device";
    out->argv[1] = out->buf + dev_off;
    out->argv[2] = "-blockdev";
    out->argv[3] = out->buf + bd_off;
    out->argv[4] = NULL;
    out->argc = 4;
    return 0;
overflow:
    memset(out, 0, sizeof *out);
    return vs_err_set(e, VS_EINVAL, "qemu: blk args: arguments too long");
}
