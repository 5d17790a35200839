/* The "qemu" back-end: a vs_transport (virtio.h) over one of QEMU's virtio-pci devices
 * (modern interface only), with QEMU started under a halting firmware and no guest.
 *
 * Guest RAM is the caller's memfd-backed vs_gmem, handed to QEMU whole and flat (GPA x =
 * memfd offset x, see sim/qemu/qemu_proc.h), so ring and buffer contents never cross a
 * socket: the qtest socket carries only PCI config and MMIO accesses (common config,
 * device config, notify, ISR).  The gmem must be a single RAM region at GPA 0 covering
 * the whole memfd (vs_gmem_create_flat), a multiple of 1 MiB, at most 2 GiB.
 *
 * Interrupts
 *   VS_IRQ_MSIX: MSI-X is enabled; config vector 0, queue q vector q + 1.  Every table
 *     entry's message address is a 4-byte slot in one page of guest RAM reserved at create
 *     (vs_gmem_alloc), data = 0x56530000 | vector.  QEMU's MSI write lands in our mapping;
 *     wait() swaps each slot to 0 and delivers one interrupt per slot that was set
 *     (interrupts to one vector between two waits coalesce, like a real MSI-X pending
 *     bit would not lose them).
 *   VS_IRQ_INTX: MSI-X disabled; QEMU's INTx line is watched with qtest's
 *     irq_intercept_in on the IOAPIC.  An interrupt is delivered as queue 0 (INTx
 *     cannot say which queue: the driver reads the ISR with read_isr, which clears it
 *     and lowers the line).
 *   VS_IRQ_POLL: wait() sleeps min(timeout, 20 us) and returns 0.
 *   The mode is the public field t->irq_mode (the driver model sets it after create); it
 *   is applied at reset and at every queue_setup.
 *   Delivery calls t->irq_fn(t->irq_opaque, queue or VS_IRQ_CONFIG) and emits VS_EV_IRQ
 *   (val = vector, 0xffff for INTx).  A config interrupt also emits VS_EV_CONFIG_CHANGE
 *   and, if QEMU wrote to stderr since the last look, VS_EV_NOTE with the new text.
 *
 * wait(timeout_ns) polls the slots: spins for poll_spin_ns (pause instruction), then
 * sleeps with exponential back-off up to poll_sleep_max_ns; it checks that QEMU is alive
 * about every millisecond of sleeping.
 *
 * Kicks: notify() writes the queue index (16 bits) to notify cap + queue_notify_off *
 * notify_off_multiplier as a *posted* qtest write (QEMU's OK is read later; at most 128
 * unread replies, see sim/qemu/README.md).  Ordering with later qtest accesses holds
 * because QEMU executes commands in order.
 *
 * Errors: a QEMU that exited or was killed makes every later op return -VS_EBACKEND
 * ("QEMU killed by signal 9 ..." with the tail of its stderr).  A device QEMU marks
 * broken shows DEVICE_NEEDS_RESET in get_status; QEMU's reason is in its stderr
 * (vs_qemu_transport_stderr), e.g. "virtio: zero sized buffers are not allowed".
 * Step timeouts (a qtest reply that does not come) give -VS_ETIMEDOUT.
 *
 * Ownership: the transport owns the QEMU process (stopped and cleaned up by destroy) and
 * the interrupt page it allocated in gm; not gm itself nor bus (destroy the transport
 * first).  Create also installs vs_qemu_install_cleanup() (atexit + SIGINT/SIGTERM/
 * SIGHUP kill every QEMU).  Start QEMU from a long-lived thread (PDEATHSIG). */
#ifndef VIRTIOSIM_QEMU_H
#define VIRTIOSIM_QEMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "virtiosim/error.h"
#include "virtiosim/event.h"
#include "virtiosim/gmem.h"
#include "virtiosim/qmp.h"
#include "virtiosim/virtio.h"

/* ------------------------------------------------------------ device arguments */

#define VS_QEMU_ARGS_MAX 160 /* a virtio-serial with 31 ports on chardevs takes 126 */
/* A NULL-terminated argument list whose strings live in buf: what a device's argument
 * builder (sim/dev/<name>/, its public header in include/virtiosim/) fills for
 * device_args below. */
typedef struct vs_qemu_args {
    const char *argv[VS_QEMU_ARGS_MAX + 1];
    unsigned argc;
    char buf[4096];
} vs_qemu_args;

/* ------------------------------------------------------------ transport */

typedef struct vs_qemu_backend_opts {
    const char *qemu_path;           /* NULL: $VIRTIOSIM_QEMU, else PATH */
    uint32_t device_type;            /* enum vs_device_id of the device: required */
    const char *const *device_args;  /* NULL-terminated, appended to QEMU's command line
                                        (a device's argument builder's argv); must
                                        create the device */
    unsigned device_index;           /* index-th device of that type (usually 0) */
    enum vs_irq_mode irq_mode;       /* initial t->irq_mode */
    int step_timeout_ms;             /* per qtest step; 0 = 5000 */
    int startup_timeout_ms;          /* 0 = 10000 */
    const char *accel;               /* NULL = "tcg" */
    const char *machine;             /* NULL = "q35" */
    uint64_t poll_spin_ns;           /* wait(): spin phase; 0 = 5000 */
    uint64_t poll_sleep_max_ns;      /* wait(): longest back-off sleep; 0 = 100000 */
    bool sync_notify;                /* wait for QEMU's OK on every kick */
    bool same_cpu;                   /* run QEMU and the calling thread on one CPU: every
                                        kick and interrupt is a local wake-up instead of
                                        a cross-CPU IPI. The CPU is claimed against other
                                        virtiosim processes (the caller's, else a free
                                        one; none free: not pinned). The thread's
                                        affinity is restored on destroy. */
    bool no_qmp;                     /* no control monitor (vs_qemu_transport_qmp: NULL) */
    bool no_irqfd;                   /* MSI-X: poll the slot page in guest RAM instead of
                                        blocking on eventfds (sim/qemu/irqfd.h), e.g. for
                                        a QEMU built without ivshmem */
    bool reuse;                      /* take a parked QEMU started with the same options,
                                        and park this one at destroy when the caller says
                                        so (vs_qemu_transport_keep): see "Reusing QEMU" */
} vs_qemu_backend_opts;

void vs_qemu_backend_opts_default(vs_qemu_backend_opts *o);

/* Starts QEMU with guest RAM = gm's memfd, finds the device, assigns BARs, enables
 * MSI-X (MSI-X mode), resets the device.  bus may be NULL. */
int vs_qemu_transport_create(vs_transport **out, vs_gmem *gm, const vs_qemu_backend_opts *o,
                             vs_event_bus *bus, vs_err *e);

/* Is t a qemu transport? (the calls below return 0 / NULL / -1 otherwise) */
bool vs_qemu_transport_is(const vs_transport *t);

/* QEMU's control monitor (virtiosim/qmp.h; owned by t), e.g. for hot-plug. */
vs_qmp *vs_qemu_transport_qmp(vs_transport *t);

/* QEMU's stderr so far (NUL-terminated, last 64 KiB at most); bytes copied. */
size_t vs_qemu_transport_stderr(const vs_transport *t, char *buf, size_t len);
/* First line of `qemu --version`, e.g. "QEMU emulator version 7.2.22 (Debian ...)". */
const char *vs_qemu_transport_version(const vs_transport *t);
/* QEMU's pid (-1 once stopped / not a qemu transport). */
pid_t vs_qemu_transport_pid(const vs_transport *t);
/* QEMU's command line (for reports). */
const char *vs_qemu_transport_cmdline(const vs_transport *t);

/* CPU time used so far: this process (CLOCK_PROCESS_CPUTIME_ID) and the QEMU child
 * (/proc/<pid>/stat utime + stime, all threads, 1/CLK_TCK resolution; the last value
 * read once QEMU is gone).  Either pointer may be NULL. */
int vs_qemu_transport_cpu(vs_transport *t, uint64_t *self_ns, uint64_t *qemu_ns, vs_err *e);

typedef struct vs_qemu_stats {
    uint64_t kicks;           /* notify() calls */
    uint64_t irqs;            /* interrupts delivered */
    uint64_t waits;           /* wait() calls */
    uint64_t wait_sleeps;     /* nanosleeps inside wait() */
    uint64_t irqfd_signals;   /* MSI-X messages that arrived as eventfd signals */
    uint64_t qtest_commands;  /* commands sent over the qtest socket */
    uint64_t qtest_writes;    /* write() calls on the qtest socket */
} vs_qemu_stats;

void vs_qemu_transport_stats(const vs_transport *t, vs_qemu_stats *out);

/* queue_reset value read right after the last queue_disable (spec: 1; QEMU 7.2 gives 0,
 * also emitted as VS_EV_NOTE); -1 if not a qemu transport. */
int vs_qemu_transport_last_queue_reset(const vs_transport *t);

/* Negotiated features as last written with set_driver_features. */
uint64_t vs_qemu_transport_driver_features(const vs_transport *t);

/* Whether a device's file image may ask QEMU for `aio=io_uring` (VS_QEMU_AIO_IO_URING in
 * its -blockdev) instead of QEMU's default thread pool, which costs a pool hand-off and
 * about three futex calls per request: the kernel lets this process create an io_uring
 * (probed once; seccomp or io_uring_disabled say no), $VIRTIOSIM_QEMU_IO_URING is not 0,
 * and no QEMU start refused it yet. vs_qemu_transport_create starts QEMU once more
 * without the option when QEMU refuses it (a build without io_uring), and later calls
 * say false. */
bool vs_qemu_io_uring_usable(void);
/* A scratch disk image of `bytes` zero bytes for QEMU: an unnamed file in $TMPDIR (else
 * /tmp), open close-on-exec in *fd, that QEMU opens as path ("/proc/PID/fd/N"). Nothing is
 * left behind once *fd is closed. tag names the file while it exists ("img"). */
int vs_qemu_scratch_image(uint64_t bytes, const char *tag, int *fd, char *path, size_t n,
                          vs_err *e);

/* ------------------------------------------------------------ reusing QEMU
 *
 * Starting QEMU costs ~90 ms; consecutive scenarios that ask for the same QEMU (binary,
 * accel, machine, memory size, options, the device's arguments) can share one. A
 * transport created with opts.reuse parks its QEMU at destroy when the caller said
 * vs_qemu_transport_keep(t, true) and QEMU is in a state a fresh one would give again:
 * alive and answering, no new stderr, QMP unused by the scenario (hot-plug, ...), no
 * INTx interception; then QMP system_reset (every device, PCI config, BARs, MSI-X,
 * queues) and a check that the function lost its command register. The next create
 * with the same key on the same guest memory takes it instead of starting one. Guest
 * memory must come from vs_qemu_reuse_gmem (zeroed for every run; its size rounded up to
 * a power of two of at least 64 MiB, so that nearby sizes share a QEMU) and go back through
 * vs_qemu_reuse_release_gmem; a disk the device's arguments name keeps its contents as
 * it would with a fresh QEMU, and a temporary disk comes from vs_qemu_reuse_scratch[_at]
 * (zeroed for every run). Never reused: blkdebug arguments (their rules have state),
 * other /proc/PID/fd paths (the same text may name another file later), a QEMU that
 * died, hung or failed the reset. Up to three QEMUs with different keys stay parked,
 * process-wide (the one parked longest ago makes room); not thread-safe.
 * vs_qemu_reuse_drop stops them (also at exit; every exit path kills them like any
 * QEMU, vs_qemu_install_cleanup). */
int vs_qemu_reuse_gmem(vs_gmem **out, uint64_t size, vs_err *e);
void vs_qemu_reuse_release_gmem(vs_gmem *gm);
/* An unlinked, zero-filled file of bytes bytes as /proc/PID/fd/N (owned here), one per
 * slot (a device with several disks takes one slot each); vs_qemu_reuse_scratch is slot 0.
 * The same slot and size give the same file, zeroed again. */
#define VS_QEMU_SCRATCH_SLOTS 16
int vs_qemu_reuse_scratch_at(unsigned slot, uint64_t bytes, char *path, size_t n, vs_err *e);
int vs_qemu_reuse_scratch(uint64_t bytes, char *path, size_t n, vs_err *e);
/* Whether t's QEMU may be parked at destroy (the scenario ended in a verdict). */
void vs_qemu_transport_keep(vs_transport *t, bool keep);
/* Whether t took a parked QEMU instead of starting one. */
bool vs_qemu_transport_reused(const vs_transport *t);
void vs_qemu_reuse_drop(void);
/* QEMUs started and parked QEMUs taken by reuse-enabled transports so far. */
void vs_qemu_reuse_counts(unsigned *started, unsigned *reused);
#define VS_QEMU_AIO_IO_URING "aio=io_uring"

#endif
