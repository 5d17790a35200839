/* The "qemu" transport: vs_transport over QEMU's virtio-pci modern interface, with guest
 * RAM (rings, buffers, MSI-X messages) shared.  The virtio-pci driver itself is the one
 * in sim/transport_pci.c, over the qtest PCI bus of qtest_bus.c; this file is the QEMU
 * platform under it (process, time, interrupt detection, errors) and the QEMU extras. */
#define _GNU_SOURCE
#include "virtiosim/qemu.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "virtiosim/qmp.h"
#include "virtiosim/transport_pci.h"

#include "cpu_claim.h"
#include "irqfd.h"
#include "pci_qtest.h"
#include "qemu_proc.h"
#include "qemu_reuse.h"
#include "qtest.h"
#include "qtest_bus.h"

/* The QEMU platform (vs_pci_platform_ops) and what the qemu extras need. */
typedef struct qemu_plat {
    vs_qemu_backend_opts o;
    vs_gmem *gm;
    vs_qemu *qemu;
    vs_qtest *qt;
    vs_qtest_bus qbus;
    bool intx_armed;
    uint64_t low_gpa[97];      /* guest pages reserved below 1 MiB (VGA window / BIOS) */
    unsigned n_low;
    bool dead;
    vs_err dead_err;
    char version[160];
    struct timespec t0;
    uint64_t qemu_cpu_last;
    size_t stderr_seen;
    pid_t pid;
    uint64_t wait_sleeps;
    /* MSI-X over eventfds (irqfd.h): pfd[v] for vector v, pfd[nirq] the qtest socket */
    vs_irqfd_bridge *irqfd;
    uint64_t irqfd_doorbell;            /* GPA of ivshmem's doorbell register */
    uint32_t *irq_slot[VS_IRQFD_MAX_VECTORS];
    struct pollfd pfd[VS_IRQFD_MAX_VECTORS + 1];
    unsigned nirq;                      /* vectors routed to eventfds */
    bool irq_unrouted;                  /* some vector still writes the slot page */
    uint64_t irqfd_signals;
    vs_qmp *qmp;                        /* QEMU's control monitor (NULL: no_qmp) */
    bool pinned;                        /* the caller's affinity was changed: restore */
    int cpu;                            /* pinned: the CPU QEMU and we share */
    cpu_set_t saved_affinity;
    /* reuse (qemu_reuse.h) */
    char *key;                          /* this start's key (NULL: never parked) */
    bool keep;                          /* the caller lets it be parked */
    bool qmp_lent;                      /* the scenario used QMP (hot-plug, ...) */
    bool reused;                        /* taken from the park, not started */
    unsigned takes;                     /* times this QEMU was taken from the park */
    int64_t stderr_start;               /* stderr bytes when the scenario began */
    uint64_t cpu_base;                  /* QEMU's CPU time when taken */
    uint64_t qt_cmds_base, qt_writes_base;
} qemu_plat;

/* Where the ivshmem device's BARs go: the top MiB of the PCI window, which the virtio
 * function's BAR assignment then leaves alone. */
#define IRQFD_BAR_BASE (VS_PCI_MMIO_END - 0x100000ull)

static const vs_pci_platform_ops qemu_plat_ops;

/* ------------------------------------------------------------------ helpers */

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t qp_now(void *p)
{
    const qemu_plat *q = p;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)(ts.tv_sec - q->t0.tv_sec) * 1000000000u +
           (uint64_t)(ts.tv_nsec - q->t0.tv_nsec);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* After a failed qtest call: is QEMU gone?  Turns the error into the sticky
 * "QEMU died" error when it is. */
static int qp_fail(void *p, int rc, vs_err *e, const char *what)
{
    qemu_plat *q = p;
    if (q->dead) {
        if (e)
            *e = q->dead_err;
        return -VS_EBACKEND;
    }
    if (rc == -VS_EBACKEND || rc == -VS_ETIMEDOUT || (q->qt && vs_qtest_broken(q->qt))) {
        vs_err ce = { 0 };
        if (q->qemu && vs_qemu_check(q->qemu, rc == -VS_EBACKEND ? 200 : 0, &ce) < 0) {
            q->dead = true;
            q->dead_err = ce;
            vs_err_prefix(&q->dead_err, "qemu: %s", what);
            if (e)
                *e = q->dead_err;
            return -VS_EBACKEND;
        }
    }
    if (e && e->code)
        vs_err_prefix(e, "qemu: %s", what);
    return rc;
}

static int qp_check(void *p, vs_err *e)
{
    qemu_plat *q = p;
    if (q->dead) {
        if (e)
            *e = q->dead_err;
        return -VS_EBACKEND;
    }
    return 0;
}

/* ------------------------------------------------------------------ interrupts & time */

static int qp_intx_arm(void *p, vs_err *e)
{
    qemu_plat *q = p;
    vs_err ie = { 0 };
    int rc = vs_qtest_irq_intercept_in(q->qt, "ioapic", &ie);
    if (rc == 0) {
        q->intx_armed = true;
        return 0;
    }
    if (rc == -VS_EPROTO)
        return -VS_ENOTSUP; /* the driver polls the ISR instead */
    if (e)
        *e = ie;
    return qp_fail(q, rc, e, "irq_intercept_in");
}

static int qp_intx_level(void *p, vs_err *e)
{
    qemu_plat *q = p;
    int rc = vs_qtest_poll_async(q->qt, 0, e);
    if (rc < 0)
        return qp_fail(q, rc, e, "IRQ poll");
    for (unsigned i = 0; i < 24; i++)
        if (vs_qtest_irq_level(q->qt, i) > 0)
            return 1;
    return 0;
}

/* Moves eventfd signals (pfd[].revents already filled by poll) into the slot words the
 * transport reads; also services the qtest socket. */
static int irqfd_collect(qemu_plat *q, vs_err *e)
{
    for (unsigned v = 0; v < q->nirq; v++) {
        if (!(q->pfd[v].revents & POLLIN))
            continue;
        uint64_t n = 0;
        if (read(q->pfd[v].fd, &n, sizeof n) == (ssize_t)sizeof n && n && q->irq_slot[v]) {
            __atomic_store_n(q->irq_slot[v], vs_irqfd_bridge_msi_data(v), __ATOMIC_RELEASE);
            q->irqfd_signals++;
        }
    }
    if (q->pfd[q->nirq].revents) {
        int rc = vs_qtest_poll_async(q->qt, 0, e);
        if (rc < 0)
            return qp_fail(q, rc, e, "wait");
        if (!vs_qemu_alive(q->qemu))
            return qp_fail(q, -VS_EBACKEND, e, "wait");
    }
    return 0;
}

/* Some vectors on eventfds, the rest writing the slot page (more vectors than the bridge
 * has): the slot-polling wait must still move the eventfd signals into their slots. */
static int pull_routed(qemu_plat *q, vs_err *e)
{
    if (!q->nirq || poll(q->pfd, q->nirq, 0) <= 0)
        return 0;
    q->pfd[q->nirq].revents = 0; /* the qtest socket was not polled here */
    return irqfd_collect(q, e);
}

/* MSI-X with every vector on an eventfd: block in poll() until one fires (or QEMU's
 * socket speaks, e.g. because it died). No spinning, no timed wake-ups. */
static int irqfd_wait(qemu_plat *q, uint64_t timeout_ns, bool (*ready)(void *), void *arg,
                      vs_err *e)
{
    if (ready(arg))
        return 0;
    uint64_t start = mono_ns();
    int ms = timeout_ns >= 1000000000u ? 1000 : (int)((timeout_ns + 999999) / 1000000);
    for (;;) {
        int r = poll(q->pfd, q->nirq + 1, ms);
        if (r < 0 && errno != EINTR)
            return vs_err_set(e, VS_EIO, "qemu: wait: poll: %s", strerror(errno));
        if (r > 0) {
            int rc = irqfd_collect(q, e);
            if (rc < 0)
                return rc;
        }
        if (ready(arg))
            return 0;
        uint64_t el = mono_ns() - start;
        if (el >= timeout_ns)
            return 0;
        if (r == 0 && !vs_qemu_alive(q->qemu)) /* a quiet second: is QEMU still there? */
            return qp_fail(q, -VS_EBACKEND, e, "wait");
        uint64_t left_ms = (timeout_ns - el + 999999) / 1000000;
        ms = left_ms > 1000 ? 1000 : (int)left_ms;
    }
}

static int qp_msix_route(void *p, uint16_t v, uint64_t slot_gpa, uint64_t *addr,
                         uint32_t *data)
{
    qemu_plat *q = p;
    if (!q->irqfd || v >= vs_irqfd_bridge_vectors(q->irqfd)) {
        q->irq_unrouted = q->irq_unrouted || q->irqfd != NULL;
        return 0;
    }
    q->irq_slot[v] = vs_gmem_translate(q->gm, slot_gpa, 4, VS_GMEM_WRITE, NULL);
    if (!q->irq_slot[v])
        return 0;
    *addr = q->irqfd_doorbell;
    *data = vs_irqfd_bridge_msi_data(v);
    if (v >= q->nirq) {
        for (unsigned i = q->nirq; i <= v; i++)
            q->pfd[i] = (struct pollfd){ .fd = vs_irqfd_bridge_fd(q->irqfd, i), .events = POLLIN };
        q->nirq = v + 1u;
        q->pfd[q->nirq] = (struct pollfd){ .fd = vs_qtest_fd(q->qt), .events = 0 };
    }
    return 1;
}

static void qp_msix_discard(void *p)
{
    qemu_plat *q = p;
    for (unsigned v = 0; v < q->nirq; v++) {
        uint64_t n;
        while (read(q->pfd[v].fd, &n, sizeof n) == (ssize_t)sizeof n)
            ;
    }
}

/* Waiting: the INTx line over the qtest socket (blocking on it), or MSI-X messages in
 * the slot page (spin, then sleep with exponential back-off, checking that QEMU lives
 * about every millisecond of sleeping). */
/* Sends the writes the qtest bus deferred: before waiting for QEMU, nothing may stay
 * queued that QEMU should act on. */
static int qp_push(qemu_plat *q, vs_err *e)
{
    if (!q->qt || !vs_qtest_queued(q->qt))
        return 0;
    int rc = vs_qtest_post(q->qt, e);
    return rc < 0 ? qp_fail(q, rc, e, "write") : 0;
}

static int qp_wait(void *p, uint64_t timeout_ns, bool (*ready)(void *), void *arg, bool intx,
                   vs_err *e)
{
    qemu_plat *q = p;
    int prc = qp_push(q, e);
    if (prc < 0)
        return prc;
    if (!ready) {
        uint64_t ns = timeout_ns < 20000 ? timeout_ns : 20000;
        if (ns) {
            struct timespec ts = { 0, (long)ns };
            nanosleep(&ts, NULL);
        }
        if (!vs_qemu_alive(q->qemu))
            return qp_fail(q, -VS_EBACKEND, e, "wait");
        return 0;
    }
    if (intx && q->intx_armed) {
        uint64_t start = mono_ns();
        for (;;) {
            if (ready(arg))
                return 0;
            uint64_t el = mono_ns() - start;
            if (el >= timeout_ns)
                return 0;
            int ms = (int)((timeout_ns - el + 999999) / 1000000);
            if (ms > 5)
                ms = 5;
            int rc = vs_qtest_poll_async(q->qt, ms, e);
            if (rc < 0)
                return qp_fail(q, rc, e, "IRQ poll");
        }
    }
    if (q->nirq && !q->irq_unrouted)
        return irqfd_wait(q, timeout_ns, ready, arg, e);
    if (ready(arg))
        return 0;
    uint64_t start = mono_ns();
    uint64_t spin = q->o.poll_spin_ns < timeout_ns ? q->o.poll_spin_ns : timeout_ns;
    for (unsigned i = 1;; i++) {
        cpu_relax();
        if (ready(arg))
            return 0;
        if ((i & 31) == 0) {
            int rc = pull_routed(q, e);
            if (rc < 0)
                return rc;
            if (mono_ns() - start >= spin)
                break;
        }
    }
    uint64_t sleep_ns = 2000, last_alive = mono_ns();
    for (;;) {
        uint64_t now = mono_ns();
        if (now - start >= timeout_ns)
            return 0;
        if (now - last_alive >= 1000000) {
            last_alive = now;
            if (!vs_qemu_alive(q->qemu))
                return qp_fail(q, -VS_EBACKEND, e, "wait");
        }
        uint64_t left = timeout_ns - (now - start);
        uint64_t s = sleep_ns < left ? sleep_ns : left;
        struct timespec ts = { (time_t)(s / 1000000000u), (long)(s % 1000000000u) };
        nanosleep(&ts, NULL);
        q->wait_sleeps++;
        int rc = pull_routed(q, e);
        if (rc < 0)
            return rc;
        if (ready(arg))
            return 0;
        if (sleep_ns < q->o.poll_sleep_max_ns)
            sleep_ns *= 2;
        if (sleep_ns > q->o.poll_sleep_max_ns)
            sleep_ns = q->o.poll_sleep_max_ns;
    }
}

/* A config interrupt: QEMU's new stderr (e.g. why it marked the device broken). */
static void qp_on_config_irq(void *p, vs_event_bus *bus, uint64_t t_ns)
{
    qemu_plat *q = p;
    if (!bus || !bus->n || !q->qemu)
        return;
    char buf[4096];
    size_t n = vs_qemu_stderr_text(q->qemu, buf, sizeof buf);
    if (n > q->stderr_seen) {
        vs_event ev = { .kind = VS_EV_NOTE, .t_ns = t_ns, .queue = -1, .text = buf + q->stderr_seen };
        vs_event_emit(bus, &ev);
        q->stderr_seen = n;
    }
}

static int read_proc_cpu(pid_t pid, uint64_t *ns);
static bool try_park(qemu_plat *q);

static void qp_destroy(void *p)
{
    qemu_plat *q = p;
    if (!q)
        return;
    bool parked = q->key && q->keep && try_park(q);
    if (parked)
        q->qemu = NULL; /* the slot owns process, bridge, monitor and CPU claim */
    if (q->qemu) {
        uint64_t c = 0;
        if (!q->dead && q->pid > 0 && read_proc_cpu(q->pid, &c) == 0 && c >= q->qemu_cpu_last)
            q->qemu_cpu_last = c; /* keep the last reading */
        vs_qemu_destroy(q->qemu);
    }
    vs_irqfd_bridge_destroy(q->irqfd);
    vs_qmp_close(q->qmp);
    free(q->key);
    if (q->pinned) {
        pthread_setaffinity_np(pthread_self(), sizeof q->saved_affinity, &q->saved_affinity);
        if (!parked)
            vs__cpu_unclaim(q->cpu);
    }
    for (unsigned i = 0; i < q->n_low; i++)
        vs_gmem_free(q->gm, q->low_gpa[i], NULL);
    free(q);
}

static const vs_pci_platform_ops qemu_plat_ops = {
    .now = qp_now,
    .wait = qp_wait,
    .intx_arm = qp_intx_arm,
    .intx_level = qp_intx_level,
    .check = qp_check,
    .fail = qp_fail,
    .on_config_irq = qp_on_config_irq,
    .msix_route = qp_msix_route,
    .msix_discard = qp_msix_discard,
    .destroy = qp_destroy,
};

static qemu_plat *qp_of(const vs_transport *t)
{
    return vs_pci_transport_platform(t, &qemu_plat_ops);
}

/* ------------------------------------------------------------------ create */

void vs_qemu_backend_opts_default(vs_qemu_backend_opts *o)
{
    memset(o, 0, sizeof *o); /* device_type: the caller's to give */
    o->irq_mode = VS_IRQ_MSIX;
    o->step_timeout_ms = 5000;
    o->startup_timeout_ms = 10000;
    o->poll_spin_ns = 5000;
    o->poll_sleep_max_ns = 100000;
}

/* Gives the ivshmem-doorbell function of the irqfd bridge its BARs (registers, its own
 * MSI-X table, the unused shared memory) in the top MiB of the window and turns on
 * memory decoding, so the doorbell register can receive the virtio device's MSI-X
 * writes. */
static int irqfd_setup(qemu_plat *q, vs_err *e)
{
    vs_pci_func f;
    int rc = vs_pci_find(q->qt, VS_IRQFD_PCI_VENDOR, VS_IRQFD_PCI_DEVICE, 0, &f, e);
    if (rc < 0)
        return rc;
    vs_qtest_bus qb;
    vs_pci_bus b = vs_qtest_bus_init(&qb, q->qt, f.bdf, true);
    if ((rc = vs_pcib_cfg_write32(b, 0x10, (uint32_t)IRQFD_BAR_BASE, e)) < 0 ||
        (rc = vs_pcib_cfg_write32(b, 0x14, (uint32_t)IRQFD_BAR_BASE + 0x1000u, e)) < 0 ||
        (rc = vs_pcib_cfg_write32(b, 0x18, (uint32_t)IRQFD_BAR_BASE + 0x2000u, e)) < 0 ||
        (rc = vs_pcib_cfg_write32(b, 0x1c, 0, e)) < 0 ||
        (rc = vs_pcib_cfg_write16(b, 0x04, 0x0002, e)) < 0) /* memory space */
        return rc;
    uint32_t bar0 = 0;
    if ((rc = vs_pcib_cfg_read32(b, 0x10, &bar0, e)) < 0)
        return rc;
    if ((bar0 & ~0xfu) != (uint32_t)IRQFD_BAR_BASE)
        return vs_err_set(e, VS_EBACKEND, "irqfd bridge: ivshmem BAR0 reads 0x%08x", bar0);
    q->irqfd_doorbell = IRQFD_BAR_BASE + VS_IRQFD_DOORBELL_OFF;
    return 0;
}

/* QEMU does not route DMA to 0xA0000-0xFFFFF (VGA window, BIOS shadow): keep the
 * allocator out of the first MiB (or at least out of that window), holding it in
 * q->low_gpa. */
static void reserve_low_mib(qemu_plat *q, vs_gmem *gm)
{
    uint64_t g = 0;
    if (vs_gmem_alloc(gm, 1u << 20, 1u << 20, &g, NULL) == 0) {
        if (g == 0)
            q->low_gpa[q->n_low++] = 0;
        else
            vs_gmem_free(gm, g, NULL);
    }
    if (q->n_low == 0) {
        uint64_t tmp[256];
        unsigned ntmp = 0;
        while (ntmp < 256 && vs_gmem_alloc(gm, VS_GMEM_PAGE, VS_GMEM_PAGE, &g, NULL) == 0) {
            if (g >= 0x100000u) {
                vs_gmem_free(gm, g, NULL);
                break;
            }
            if (g >= 0xA0000u && q->n_low < 96)
                q->low_gpa[q->n_low++] = g;
            else
                tmp[ntmp++] = g;
        }
        for (unsigned i = 0; i < ntmp; i++)
            vs_gmem_free(gm, tmp[i], NULL);
    }
}

/* Pins this thread to cpu (q->saved_affinity is restored at destroy): true if done. */
static bool pin_to(qemu_plat *q, int cpu)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    if (cpu < 0 || cpu >= CPU_SETSIZE ||
        pthread_getaffinity_np(pthread_self(), sizeof q->saved_affinity, &q->saved_affinity))
        return false;
    CPU_SET(cpu, &one);
    if (pthread_setaffinity_np(pthread_self(), sizeof one, &one) != 0)
        return false;
    q->pinned = true;
    q->cpu = cpu;
    return true;
}

/* same_cpu (the CLI's default for --backend qemu): pin this thread and QEMU to one CPU,
 * claimed against other virtiosim processes (cpu_claim.h; q->saved_affinity is restored
 * and the claim given back at destroy). Best effort: unpinned when every CPU is claimed or
 * anything fails. */
static void pin_same_cpu(qemu_plat *q, vs_qemu_opts *qo)
{
    int cpu = vs__cpu_claim();
    if (cpu < 0)
        return;
    if (!pin_to(q, cpu)) {
        vs__cpu_unclaim(cpu);
        return;
    }
    qo->pin_cpu = true;
    qo->cpu = cpu;
}

/* QEMU's control monitor on a socketpair: our end becomes q->qmp, *peer is the end QEMU
 * inherits (closed by the caller once QEMU started). */
static int qmp_prepare(qemu_plat *q, int *peer, char *chardev, size_t n, vs_err *e)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return vs_err_set(e, VS_EIO, "qemu: QMP socketpair: %s", strerror(errno));
    int rc = vs_qmp_open(sv[0], q->o.step_timeout_ms, &q->qmp, e);
    if (rc < 0) {
        close(sv[1]);
        return rc;
    }
    *peer = sv[1];
    snprintf(chardev, n, "socket,id=vsqmp,fd=%d", sv[1]);
    return 0;
}

/* Starts QEMU for q: the irqfd bridge and QMP on socketpairs, the device's arguments. */
static int start_fresh(qemu_plat *q, const vs_qemu_backend_opts *op, uint64_t size, vs_err *e)
{
    int rc;
    const char *args[VS_QEMU_ARGS_MAX + 9];
    size_t na = 0;
    int keep[2], nkeep = 0, qmp_peer = -1;
    char qmp_chardev[64];
    if (!op->no_irqfd) {
        if ((rc = vs_irqfd_bridge_create(&q->irqfd, VS_IRQFD_MAX_VECTORS, e)) < 0)
            return rc;
        args[na++] = "-chardev";
        args[na++] = vs_irqfd_bridge_chardev_arg(q->irqfd);
        args[na++] = "-device";
        args[na++] = vs_irqfd_bridge_device_arg(q->irqfd);
        keep[nkeep++] = vs_irqfd_bridge_qemu_fd(q->irqfd);
    }
    if (!op->no_qmp) {
        if ((rc = qmp_prepare(q, &qmp_peer, qmp_chardev, sizeof qmp_chardev, e)) < 0)
            return rc;
        args[na++] = "-chardev";
        args[na++] = qmp_chardev;
        args[na++] = "-mon";
        args[na++] = "chardev=vsqmp,mode=control";
        keep[nkeep++] = qmp_peer;
    }
    for (size_t i = 0; op->device_args[i]; i++) {
        if (na >= VS_QEMU_ARGS_MAX + 8) {
            rc = vs_err_set(e, VS_EINVAL, "qemu: more than %d device arguments",
                            VS_QEMU_ARGS_MAX);
            return rc;
        }
        args[na++] = op->device_args[i];
    }
    args[na] = NULL;
    vs_qemu_opts qo = { .qemu_path = op->qemu_path, .mem_fd = vs_gmem_fd(q->gm), .mem_size = size,
                        .extra_args = args, .accel = op->accel, .machine = op->machine,
                        .keep_fds = nkeep ? keep : NULL, .n_keep_fds = (size_t)nkeep,
                        .startup_timeout_ms = op->startup_timeout_ms,
                        .qtest_timeout_ms = op->step_timeout_ms };
    if (op->same_cpu)
        pin_same_cpu(q, &qo);
    rc = vs_qemu_start(&qo, &q->qemu, e);
    vs_irqfd_bridge_release_qemu_end(q->irqfd);
    if (qmp_peer >= 0)
        close(qmp_peer);
    if (rc == 0 && op->reuse)
        qr_note_start();
    return rc;
}

/* A parked QEMU started with the same key on the same guest memory, if there is one:
 * reset when it was parked, so what is left is to aim the ivshmem doorbell again and
 * forget signals still pending on the vectors' eventfds. */
static bool take_parked(qemu_plat *q, uint64_t size)
{
    q->key = qr_key(&q->o, size, q->o.device_args);
    vs_qemu_parked pk;
    if (!qr_take(q->key, q->gm, &pk))
        return false;
    free(pk.key);
    q->qemu = pk.qemu;
    q->irqfd = pk.irqfd;
    q->qmp = pk.qmp;
    q->reused = true;
    q->takes = pk.takes + 1;
    if (pk.cpu >= 0 && !pin_to(q, pk.cpu))
        vs__cpu_unclaim(pk.cpu); /* the park's claim is ours now */
    for (unsigned v = 0; q->irqfd && v < vs_irqfd_bridge_vectors(q->irqfd); v++) {
        uint64_t n;
        while (read(vs_irqfd_bridge_fd(q->irqfd, v), &n, sizeof n) == (ssize_t)sizeof n)
            ;
    }
    vs_qtest *qt = vs_qemu_qtest(q->qemu);
    q->qt_cmds_base = vs_qtest_stat_commands(qt);
    q->qt_writes_base = vs_qtest_stat_writes(qt);
    read_proc_cpu(vs_qemu_pid(q->qemu), &q->cpu_base);
    q->qemu_cpu_last = q->cpu_base;
    return true;
}

static int transport_create(vs_transport **out, vs_gmem *gm, const vs_qemu_backend_opts *o,
                            vs_event_bus *bus, vs_err *e)
{
    if (!out || !gm)
        return vs_err_set(e, VS_EINVAL, "qemu: transport needs out and guest memory");
    *out = NULL;
    vs_qemu_backend_opts def;
    vs_qemu_backend_opts_default(&def);
    vs_qemu_backend_opts op = o ? *o : def;
    if (op.step_timeout_ms <= 0)
        op.step_timeout_ms = def.step_timeout_ms;
    if (op.startup_timeout_ms <= 0)
        op.startup_timeout_ms = def.startup_timeout_ms;
    if (!op.poll_spin_ns)
        op.poll_spin_ns = def.poll_spin_ns;
    if (!op.poll_sleep_max_ns)
        op.poll_sleep_max_ns = def.poll_sleep_max_ns;
    /* A modern virtio-pci function's type is the virtio device id (PCI id 0x1040 + id). */
    unsigned ptype = op.device_type;
    if (!ptype || ptype > 0xff)
        return vs_err_set(e, VS_EINVAL, "qemu: no valid device type given (%u)",
                          op.device_type);
    if (op.irq_mode != VS_IRQ_MSIX && op.irq_mode != VS_IRQ_INTX && op.irq_mode != VS_IRQ_POLL)
        return vs_err_set(e, VS_EINVAL, "qemu: unknown irq mode %d", (int)op.irq_mode);
    if (!op.device_args || !op.device_args[0])
        return vs_err_set(e, VS_EINVAL, "qemu: no device arguments");

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
    qemu_plat *q = calloc(1, sizeof *q);
    if (!q)
        return vs_err_set(e, VS_ENOMEM, "qemu: out of memory");
    q->o = op;
    q->gm = gm;
    q->pid = -1;
    q->cpu = -1;
    clock_gettime(CLOCK_MONOTONIC, &q->t0);

    if (vs_qemu_version(op.qemu_path, q->version, sizeof q->version, e) < 0) {
        free(q);
        return -VS_EBACKEND;
    }
    reserve_low_mib(q, gm);

    if (!(op.reuse && take_parked(q, size)) && (rc = start_fresh(q, &op, size, e)) < 0)
        goto fail;
    q->qt = vs_qemu_qtest(q->qemu);
    q->pid = vs_qemu_pid(q->qemu);
    vs_qtest_set_batch_waits(q->qt, q->pinned);
    q->stderr_start = vs_qemu_stderr_size(q->qemu);
    if (q->irqfd && (rc = irqfd_setup(q, e)) < 0) {
        rc = qp_fail(q, rc, e, "irqfd setup");
        goto fail;
    }

    vs_pci_func func;
    if ((rc = vs_pci_find_virtio(q->qt, ptype, op.device_index, &func, e)) < 0) {
        rc = qp_fail(q, rc, e, "PCI setup");
        goto fail;
    }
    vs_pci_bus pbus = vs_qtest_bus_init(&q->qbus, q->qt, func.bdf, op.sync_notify);
    vs_pci_transport_opts po;
    vs_pci_transport_opts_default(&po);
    po.name = "qemu";
    po.device_type = op.device_type;
    po.irq_mode = op.irq_mode;
    po.mmio_base = VS_PCI_MMIO_BASE;
    po.mmio_end = q->irqfd ? IRQFD_BAR_BASE : VS_PCI_MMIO_END;
    po.reset_timeout_ns = (uint64_t)op.step_timeout_ms * 1000000u;
    if ((rc = vs_pci_transport_create(out, pbus, gm, &qemu_plat_ops, q, &po, bus, e)) < 0)
        goto fail;
    /* From here on writes wait for the next read, a kick or a wait (qp_push). */
    const vs_pcib_dev *lay = vs_pci_transport_layout(*out);
    if (!op.sync_notify && lay && lay->notify.present && lay->notify.addr) {
        q->qbus.defer_writes = true;
        q->qbus.push_lo = lay->notify.addr;
        q->qbus.push_hi = lay->notify.addr + lay->notify.length;
    }
    return 0;
fail:
    qp_destroy(q);
    return rc < 0 ? rc : -VS_EBACKEND;
}

/* Whether an argument asks for aio=io_uring (VS_QEMU_AIO_IO_URING). */
static bool wants_io_uring(const char *const *args)
{
    for (size_t i = 0; args && args[i]; i++)
        if (strstr(args[i], VS_QEMU_AIO_IO_URING))
            return true;
    return false;
}

/* QEMU's words when it cannot give a file aio=io_uring: no io_uring in the host ("Unable
 * to use io_uring: ..."), or none in the build (the enum value is missing, or older
 * builds' "... was specified, but is not supported"). */
static bool refused_io_uring(const char *msg)
{
    return strstr(msg, "Unable to use io_uring") || strstr(msg, "value 'io_uring'") ||
           strstr(msg, "io_uring was specified");
}

int vs_qemu_transport_create(vs_transport **out, vs_gmem *gm, const vs_qemu_backend_opts *o,
                             vs_event_bus *bus, vs_err *e)
{
    int rc = transport_create(out, gm, o, bus, e);
    if (rc >= 0 || !o || !e || !wants_io_uring(o->device_args) || !refused_io_uring(e->msg))
        return rc;
    /* This QEMU (or its host) cannot do io_uring: start it again with its thread pool,
     * the option cut out of copies of the arguments ("file.aio=io_uring," included). */
    vs__qemu_io_uring_refused();
    const char *args[VS_QEMU_ARGS_MAX + 1];
    char *owned[VS_QEMU_ARGS_MAX + 1];
    size_t n = 0;
    for (; o->device_args[n] && n < VS_QEMU_ARGS_MAX; n++) {
        owned[n] = strdup(o->device_args[n]);
        if (!owned[n]) {
            rc = vs_err_set(e, VS_ENOMEM, "qemu: out of memory");
            goto out;
        }
        char *p;
        while ((p = strstr(owned[n], VS_QEMU_AIO_IO_URING))) {
            char *start = p, *end = p + strlen(VS_QEMU_AIO_IO_URING);
            while (start > owned[n] && start[-1] != ',') /* a "file." prefix */
                start--;
            if (*end == ',')
                end++;
            else if (start > owned[n])
                start--;                                 /* the comma before it */
            memmove(start, end, strlen(end) + 1);
        }
        args[n] = owned[n];
    }
    args[n] = NULL;
    vs_qemu_backend_opts again = *o;
    again.device_args = args;
    vs_err first = e ? *e : (vs_err){0};
    rc = transport_create(out, gm, &again, bus, e);
    if (rc < 0 && e)
        vs_err_prefix(e, "(after QEMU refused aio=io_uring: %.200s)", first.msg);
out:
    while (n)
        free(owned[--n]);
    return rc;
}

/* ------------------------------------------------------------------ parking */

void vs_qemu_transport_keep(vs_transport *t, bool keep)
{
    qemu_plat *q = qp_of(t);
    if (q)
        q->keep = keep;
}

bool vs_qemu_transport_reused(const vs_transport *t)
{
    const qemu_plat *q = qp_of(t);
    return q && q->reused;
}

/* Whether QEMU is as the scenario found it but for what a machine reset undoes. */
static bool parkable(qemu_plat *q)
{
    if (q->dead || q->qmp_lent || q->intx_armed || !q->qemu || !q->qmp || !q->qt ||
        vs_qtest_broken(q->qt) || !vs_qemu_alive(q->qemu))
        return false;
    /* anything QEMU said (a device it marked broken, an I/O error) ends its use */
    int64_t err = vs_qemu_stderr_size(q->qemu);
    return err >= 0 && err == q->stderr_start;
}

/* Resets the whole machine (QMP system_reset: every device, PCI config and BARs, MSI-X,
 * queues, in-flight requests drained) and parks QEMU when it comes back: the function's
 * command register must read 0 again and nothing may be left unsaid on either socket. */
static bool try_park(qemu_plat *q)
{
    if (!parkable(q) || qp_push(q, NULL) < 0 || vs_qtest_drain(q->qt, NULL) < 0)
        return false;
    int ms = q->o.step_timeout_ms < 2000 ? q->o.step_timeout_ms : 2000;
    if (vs_qmp_execute(q->qmp, "system_reset", NULL, NULL, 0, NULL) < 0 ||
        vs_qmp_wait_event(q->qmp, "RESET", NULL, NULL, ms, NULL, 0, NULL) < 0)
        return false;
    vs_qtest_bus qb;
    vs_pci_bus b = vs_qtest_bus_init(&qb, q->qt, q->qbus.bdf, true);
    uint16_t cmd = 0xffff;
    if (!q->qbus.qt || vs_pcib_cfg_read16(b, 0x04, &cmd, NULL) < 0 || cmd != 0 ||
        !parkable(q))
        return false;
    vs_qemu_parked pk = {.key = q->key, .qemu = q->qemu, .irqfd = q->irqfd, .qmp = q->qmp,
                         .gm = q->gm, .cpu = q->pinned ? q->cpu : -1, .takes = q->takes};
    q->key = NULL;
    q->irqfd = NULL;
    q->qmp = NULL;
    q->qt = NULL;
    qr_park(&pk);
    return true;
}

/* ------------------------------------------------------------------ extras */

bool vs_qemu_transport_is(const vs_transport *t) { return qp_of(t) != NULL; }

vs_qmp *vs_qemu_transport_qmp(vs_transport *t)
{
    qemu_plat *q = qp_of(t);
    if (q && !q->dead)
        qp_push(q, NULL);   /* QMP commands come after every register write made so far */
    if (q)
        q->qmp_lent = true; /* whatever it changes, a fresh QEMU would not have */
    return q ? q->qmp : NULL;
}

size_t vs_qemu_transport_stderr(const vs_transport *vt, char *buf, size_t len)
{
    if (!buf || !len)
        return 0;
    buf[0] = 0;
    const qemu_plat *q = qp_of(vt);
    return q && q->qemu ? vs_qemu_stderr_text(q->qemu, buf, len) : 0;
}

const char *vs_qemu_transport_version(const vs_transport *vt)
{
    const qemu_plat *q = qp_of(vt);
    return q ? q->version : NULL;
}

pid_t vs_qemu_transport_pid(const vs_transport *vt)
{
    const qemu_plat *q = qp_of(vt);
    return q ? q->pid : -1;
}

const char *vs_qemu_transport_cmdline(const vs_transport *vt)
{
    const qemu_plat *q = qp_of(vt);
    return q && q->qemu ? vs_qemu_cmdline(q->qemu) : NULL;
}

int vs_qemu_transport_last_queue_reset(const vs_transport *vt)
{
    return vs_qemu_transport_is(vt) ? vs_pci_transport_last_queue_reset(vt) : -1;
}

uint64_t vs_qemu_transport_driver_features(const vs_transport *vt)
{
    return vs_qemu_transport_is(vt) ? vs_pci_transport_driver_features(vt) : 0;
}

/* QEMU's CPU time, measured like our own CLOCK_PROCESS_CPUTIME_ID: the scheduler's exact
 * runtime of every thread (/proc/PID/task/TID/schedstat, first field, ns). utime + stime in
 * /proc/PID/stat are tick-sampled and badly undercount a process that runs in short bursts
 * between ticks — which is exactly how an I/O-driven QEMU runs — so they are only the
 * fallback when schedstat is not available. */
static int read_proc_cpu(pid_t pid, uint64_t *ns)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
    DIR *d = opendir(path);
    if (d) {
        uint64_t sum = 0;
        bool any = false;
        struct dirent *de;
        while ((de = readdir(d))) {
            if (de->d_name[0] == '.')
                continue;
            char sp[96];
            snprintf(sp, sizeof sp, "/proc/%d/task/%.16s/schedstat", (int)pid, de->d_name);
            FILE *f = fopen(sp, "re");
            unsigned long long run = 0;
            if (f && fscanf(f, "%llu", &run) == 1) {
                sum += run;
                any = true;
            }
            if (f)
                fclose(f);
        }
        closedir(d);
        if (any) {
            *ns = sum;
            return 0;
        }
    }
    char buf[2048];
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
    qemu_plat *q = qp_of(vt);
    if (!q)
        return vs_err_set(e, VS_EINVAL, "qemu: not a qemu transport");
    if (self_ns) {
        struct timespec ts;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        *self_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
    }
    uint64_t c = 0;
    if (!q->dead && q->qemu && q->pid > 0 && read_proc_cpu(q->pid, &c) == 0 &&
        c >= q->qemu_cpu_last)
        q->qemu_cpu_last = c;
    if (qemu_ns)   /* a reused QEMU: since this transport took it */
        *qemu_ns = q->qemu_cpu_last - q->cpu_base;
    return 0;
}

void vs_qemu_transport_stats(const vs_transport *vt, vs_qemu_stats *out)
{
    memset(out, 0, sizeof *out);
    const qemu_plat *q = qp_of(vt);
    if (!q)
        return;
    vs_pci_transport_stats ps;
    vs_pci_transport_stats_get(vt, &ps);
    out->kicks = ps.kicks;
    out->irqs = ps.irqs;
    out->waits = ps.waits;
    out->wait_sleeps = q->wait_sleeps;
    out->irqfd_signals = q->irqfd_signals;
    if (q->qt && !q->dead) {
        out->qtest_commands = vs_qtest_stat_commands(q->qt) - q->qt_cmds_base;
        out->qtest_writes = vs_qtest_stat_writes(q->qt) - q->qt_writes_base;
    }
}
