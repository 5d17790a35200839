/* ONE virtio-pci modern driver as a vs_transport (virtio.h) over any vs_pci_bus (pci.h),
 * and the in-process back-end that puts it in front of a reference device.
 *
 * The driver (sim/transport_pci.c) does what a guest OS does: enumeration, BAR
 * assignment and capability walk (vs_pcib_virtio_setup), common config for status,
 * features and queues (queue_select, queue_size, queue_desc/driver/device,
 * queue_msix_vector, queue_enable, queue_reset), device-specific config (widths 4/2/1;
 * the generation protocol is the caller's), notify at notify cap + queue_notify_off *
 * notify_off_multiplier (value = queue index), ISR read-to-clear, and interrupts:
 *   VS_IRQ_MSIX: MSI-X enabled; config vector 0, queue q vector q + 1. Entry v's message
 *     address is the 4-byte slot v of one page of guest RAM allocated from the vs_gmem at
 *     create, data = VS_PCI_MSI_DATA_TAG | v. The device's MSI write lands in guest memory;
 *     wait() swaps each slot to 0 and delivers one interrupt per slot that was set.
 *   VS_IRQ_INTX: MSI-X disabled; the platform reports the INTx level (or, if it cannot,
 *     the driver polls the ISR). An interrupt is delivered as queue 0 (INTx cannot say
 *     which); read_isr reads (and so clears) the ISR; ISR bit 1 emits VS_EV_CONFIG_CHANGE.
 *   VS_IRQ_POLL: wait() lets time pass and returns 0.
 * The mode is t->irq_mode (the driver model sets it after create); it is applied at reset
 * and at every queue_setup. Delivery calls t->irq_fn(queue or VS_IRQ_CONFIG) and emits
 * VS_EV_IRQ (val = vector, 0xffff for INTx); a config interrupt also emits
 * VS_EV_CONFIG_CHANGE. Event times come from the platform's now().
 *
 * What differs between back-ends — how time passes and how an interrupt is seen — is the
 * platform (vs_pci_platform_ops) given by the creator: the model runs the simulation
 * engine; QEMU spins/sleeps on the slot page and watches the qtest socket.
 *
 * The in-process back-end (vs_pci_model_transport_create) is deterministic on the
 * virtual clock: the model's NOTIFY schedules a doorbell after doorbell_latency_ns; the
 * device half of the ref transport (transport_ref.h, vs_ref_transport_create_hooked)
 * fetches chains from device-side rings created from the model's QUEUE_ENABLE layout,
 * completes them after service times from stream "service.q<N>" (dev->ops->handle, push,
 * publish) and, irq_latency_ns later, calls vs_pci_raise: the model WRITES the MSI-X
 * message into guest memory (or sets ISR + INTx), and the driver's wait() finds it — the
 * same code path as with QEMU. Malformed chain / handle() < 0: VS_EV_DEVICE_ERROR, then
 * vs_pci_device_error (DEVICE_NEEDS_RESET + config interrupt). */
#ifndef VIRTIOSIM_TRANSPORT_PCI_H
#define VIRTIOSIM_TRANSPORT_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "virtiosim/conformance.h"
#include "virtiosim/device.h"
#include "virtiosim/error.h"
#include "virtiosim/event.h"
#include "virtiosim/gmem.h"
#include "virtiosim/pci.h"
#include "virtiosim/sim.h"
#include "virtiosim/transport_ref.h"
#include "virtiosim/virtio.h"

#define VS_PCI_MSI_DATA_TAG 0x56530000u

/* ------------------------------------------------------------ the platform */

/* How time passes and how interrupts are seen. All members but now/wait optional. */
typedef struct vs_pci_platform_ops {
    /* Time stamped on events: virtual ns (model) or ns since start (real). */
    uint64_t (*now)(void *p);
    /* Lets up to timeout_ns pass, returning as soon as ready(arg) is true (ready is
     * checked before any time passes). ready == NULL: just let time pass (polling mode;
     * a platform may return early). 0 on return (ready or timed out), < 0 back-end error.
     * intx: the driver is waiting for the INTx line (a platform may block on it). */
    int (*wait)(void *p, uint64_t timeout_ns, bool (*ready)(void *arg), void *arg,
                bool intx, vs_err *e);
    /* INTx: start watching the line (called once, when INTx mode is first applied).
     * -VS_ENOTSUP or NULL: the platform cannot see the line; the driver polls the ISR. */
    int (*intx_arm)(void *p, vs_err *e);
    /* INTx line asserted now? 1 / 0 / < 0 error. Also called after an ISR read. */
    int (*intx_level)(void *p, vs_err *e);
    /* Called before every transport op: < 0 stops it (e.g. a dead QEMU, sticky). */
    int (*check)(void *p, vs_err *e);
    /* A bus access or platform call failed with rc: returns the error to report (e.g.
     * turns a broken socket into "QEMU killed by signal 9 ..."). */
    int (*fail)(void *p, int rc, vs_err *e, const char *what);
    /* A config interrupt was delivered (QEMU: emit its new stderr as VS_EV_NOTE). */
    void (*on_config_irq)(void *p, vs_event_bus *bus, uint64_t t_ns);
    /* Optional MSI-X routing: may give vector v its own message target instead of the
     * slot page (QEMU: an ivshmem doorbell that signals an eventfd, see sim/qemu/irqfd.h).
     * slot_gpa is where the transport looks for vector v's message; a platform that
     * routes v elsewhere must write a non-zero word there (during wait()) when v fires.
     * 1: *addr / *data filled; 0: use the slot page. */
    int (*msix_route)(void *p, uint16_t v, uint64_t slot_gpa, uint64_t *addr, uint32_t *data);
    /* Optional: forget interrupts signalled so far but not yet written to slots (reset). */
    void (*msix_discard)(void *p);
    /* Called last by the transport's destroy. */
    void (*destroy)(void *p);
} vs_pci_platform_ops;

typedef struct vs_pci_transport_opts {
    const char *name;               /* t->ops->name: "pci-model", "qemu"; NULL = "pci" */
    uint32_t device_type;           /* t->device_id; 0 = from the PCI device ID */
    enum vs_irq_mode irq_mode;      /* initial t->irq_mode */
    uint64_t mmio_base, mmio_end;   /* BAR window; 0,0 = 0xE0000000..0xFEC00000 */
    uint64_t reset_timeout_ns;      /* status must read 0 within; 0 = 5 s (platform time) */
    uint64_t reset_poll_ns;         /* re-read interval while waiting; 0 = 100 us */
    uint32_t drv_mutations;         /* test only: enum vs_pci_drv_mutation */
} vs_pci_transport_opts;

/* Deliberately broken variants of this driver (test only): each breaks one rule of the
 * driver-role PCI checks (pci.h, vs_pci_drv_judge), so the check can be proven to fire:
 * the pci-drv-* mutants of `virtiosim mutants` (sim/driver_mutants.c). */
enum vs_pci_drv_mutation {
    VS_PCI_DRV_MUT_WIDE_STATUS = 1u << 0,    /* polls device_status with 4-byte reads */
    VS_PCI_DRV_MUT_WRITE_NUMQ = 1u << 1,     /* writes num_queues back after reading it */
    VS_PCI_DRV_MUT_ENABLE_0 = 1u << 2,       /* writes queue_enable 0 before setting up */
    VS_PCI_DRV_MUT_NOTIFY_32 = 1u << 3,      /* 4-byte notifications */
    VS_PCI_DRV_MUT_QSIZE_ODD = 1u << 4,      /* writes size - 1 to queue_size first */
    VS_PCI_DRV_MUT_QSIZE_0 = 1u << 5,        /* writes 0 to queue_size first */
    VS_PCI_DRV_MUT_ADDR_AFTER_ENABLE = 1u << 6, /* rewrites queue_desc after queue_enable */
    VS_PCI_DRV_MUT_VECTOR_BEYOND = 1u << 7,  /* tries a vector past the MSI-X table first */
    VS_PCI_DRV_MUT_NO_READBACK = 1u << 8,    /* never reads queue_msix_vector back */
    VS_PCI_DRV_MUT_NOTIFY_VALUE = 1u << 9,   /* notifies with queue index + 1 */
    VS_PCI_DRV_MUT_NO_RESET_WAIT = 1u << 10, /* goes on after the reset write at once */
    VS_PCI_DRV_MUT_NO_QRESET_WAIT = 1u << 11, /* never reads queue_reset back */
    VS_PCI_DRV_MUT_WRITE_CAP = 1u << 12,     /* writes the common capability's bar byte */
    VS_PCI_DRV_MUT_WINDOW_UNALIGNED = 1u << 13, /* window read: offset not a multiple of
                                                   its length */
    VS_PCI_DRV_MUT_WINDOW_OUTSIDE = 1u << 14, /* window read between two structures */
    VS_PCI_DRV_MUT_ISR_AFTER_IRQ = 1u << 15, /* reads the ISR after each MSI-X queue
                                                interrupt */
    /* with VIRTIO_F_NOTIFICATION_DATA / NOTIF_CONFIG_DATA negotiated */
    VS_PCI_DRV_MUT_NOTIFY_DATA_16 = 1u << 16, /* 16-bit notifications (queue index only) */
    VS_PCI_DRV_MUT_NOTIFY_DATA_INDEX = 1u << 17, /* vq_index = queue index + 1 */
    VS_PCI_DRV_MUT_NOTIFY_DATA_OFF = 1u << 18, /* next_off one slot too far */
    VS_PCI_DRV_MUT_NOTIFY_NO_CONFIG_DATA = 1u << 19, /* the queue index, not
                                                        queue_notif_config_data */
    /* the capability walk (vs_pcib_walk_bug) */
    VS_PCI_DRV_MUT_CAP_TYPE_NIBBLE = 1u << 20, /* cfg_type read as 4 bits */
    VS_PCI_DRV_MUT_CAP_BAR_MOD8 = 1u << 21,   /* bar taken modulo 8, unchecked */
    VS_PCI_DRV_MUT_CAP_LAST_WINS = 1u << 22,  /* the last capability of a type wins */
    VS_PCI_DRV_MUT_CAP_STRICT_LEN = 1u << 23, /* prefers a later cap of the defined cap_len */
    VS_PCI_DRV_MUT_CAP_STRICT_LENGTH = 1u << 24, /* prefers a later common config 0x40 long */
    VS_PCI_DRV_MUT_MSIX_NO_FALLBACK = 1u << 25, /* MSI-X table too small for a vector per
                                                   queue: keeps MSI-X, queues at NO_VECTOR */
    VS_PCI_DRV_MUT_ISR_ONE_CAUSE = 1u << 26,  /* an ISR showing config + queue: only the
                                                 used buffers are handled */
    VS_PCI_DRV_MUT_CFG_UPPER_BOUND = 1u << 28, /* gives up (features read fails) on a
                                                 device config structure over 256 bytes */
};

void vs_pci_transport_opts_default(vs_pci_transport_opts *o);

/* Enumerates the function behind bus, allocates the MSI-X slot page from gm, resets the
 * device and applies the irq mode. On success the transport owns the platform (calls
 * plat->destroy(p) when destroyed); on failure it does not. bus may be NULL. */
int vs_pci_transport_create(vs_transport **out, vs_pci_bus bus, vs_gmem *gm,
                            const vs_pci_platform_ops *plat, void *p,
                            const vs_pci_transport_opts *o, vs_event_bus *evbus, vs_err *e);

/* Is t a transport of this driver (model or QEMU)? */
bool vs_pci_transport_is(const vs_transport *t);
/* The platform behind t (NULL if not a pci transport or another platform). */
void *vs_pci_transport_platform(const vs_transport *t, const vs_pci_platform_ops *plat);
/* The function's bus and enumerated layout (NULL if not a pci transport). */
const vs_pcib_dev *vs_pci_transport_layout(const vs_transport *t);
int vs_pci_transport_bus(const vs_transport *t, vs_pci_bus *out);

typedef struct vs_pci_transport_stats {
    uint64_t kicks, irqs, waits;
} vs_pci_transport_stats;
void vs_pci_transport_stats_get(const vs_transport *t, vs_pci_transport_stats *out);
/* queue_reset read right after the last queue_disable (spec: 1); -1 if none / not pci. */
int vs_pci_transport_last_queue_reset(const vs_transport *t);
/* What the driver-role PCI checks found in the accesses this driver made (every access
 * after enumeration, the probe checks' excepted); NULL if not a pci transport. */
const vs_pci_findings *vs_pci_transport_driver_findings(const vs_transport *t);
/* Features as last written with set_driver_features. */
uint64_t vs_pci_transport_driver_features(const vs_transport *t);

/* ------------------------------------------------------------ the in-process back-end */

/* The PCI model (vs_pci_model_create, mutations = o->pci_mutations) in front of dev, the
 * ref device half on eng, and the driver above, with name "pci-model". o as for
 * vs_ref_transport_create (NULL = defaults; irq_mode is the initial t->irq_mode).
 * Owns the model and the device half; not eng, dev, gm, bus (destroy the transport
 * first). */
int vs_pci_model_transport_create(vs_transport **out, vs_engine *eng, vs_device *dev,
                                  vs_gmem *gm, const vs_ref_opts *o, vs_event_bus *bus,
                                  vs_err *e);
bool vs_pci_model_transport_is(const vs_transport *t);
/* The model function behind a pci-model transport (NULL otherwise): for tests and for
 * provoking config changes (vs_pci_config_changed). */
vs_pci_fn *vs_pci_model_transport_fn(const vs_transport *t);
/* The device half (a hooked ref transport, transport_ref.h) behind a pci-model transport
 * (NULL otherwise): its iothread counters, for instance (vs_ref_iothread_stats). */
vs_transport *vs_pci_model_transport_device_half(const vs_transport *t);
/* The device changed its config: config_generation moves and a config interrupt is
 * raised through the model (vs_pci_config_changed). */
int vs_pci_model_transport_config_changed(vs_transport *t, vs_err *e);

/* ------------------------------------------------------------ PCI transport checks */

/* Runs every probe check of pci.h (vs_pci_check_probe) against the function behind a
 * pci transport (model or QEMU), then enumerates it again and resets it, so the driver
 * can initialise as if nothing happened. Call it right after creating the transport and
 * BEFORE vs_driver_init. The model's probe can provoke config changes and queue
 * interrupts; QEMU's cannot (those statements stay not exercised).
 *
 * Findings are folded into r (a vs_results from vs_results_create, or a scenario's):
 * per pci.* statement: FAIL (violations++, evidence: check name, scenario, step 0
 * "pci probe", expected/seen from the finding) beats PASS (exercised++) beats
 * NOT_EXERCISED / NOT_APPLICABLE (reason = the finding's text); counts are recomputed.
 * findings (optional) gets the raw findings. Returns the number of FAIL findings (>= 0),
 * or < 0 if the function could not be probed or set up again. */
int vs_pci_transport_checks(vs_transport *t, vs_results *r, const char *scenario,
                            vs_pci_findings *findings, vs_err *e);

/* The folding step alone: findings kept from an earlier vs_pci_transport_checks(t, NULL,
 * ..., findings, e) go into r (e.g. the scenario's results once the monitors finished,
 * so n_scenarios is not bumped as vs_results_merge would). t_ns: evidence time. Returns
 * the number of FAIL findings, -VS_EINVAL for NULL arguments. */
int vs_pci_results_fold(vs_results *r, const vs_pci_findings *f, const char *scenario,
                        uint64_t t_ns);

#endif
