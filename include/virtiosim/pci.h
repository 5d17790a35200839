/* virtio over PCI (VIRTIO 1.x section 4.1, transport-pci.tex), three parts:
 *
 *  1. PCI ACCESS (vs_pci_bus_ops): the four primitive accesses a guest can make to ONE
 *     PCI function — config-space read/write and memory-space read/write. Both the
 *     in-process model below and QEMU-over-qtest implement it, so one virtio-pci driver
 *     (enumeration, BAR sizing, capability walk, common config, notify, ISR, MSI-X) runs
 *     unchanged over either. Generic driver-side helpers over the bus (vs_pcib_*) do
 *     the enumeration a firmware/OS would do.
 *  2. THE MODEL (vs_pci_fn): a virtio-pci modern function in front of a vs_device +
 *     vs_gmem — config space, capability list, BARs, common config, notify, ISR,
 *     device-specific config window, MSI-X table and PBA — plus the hooks the embedding
 *     (the simulator) needs: notify events, queue registers, interrupt raise. Pure and
 *     clock-free (layer 1): every effect happens inside the access that causes it.
 *  3. TRANSPORT CONFORMANCE (vs_pci_check_*): checks of the device-role `pci.*`
 *     statements of conformance/catalogue.tsv, run by probing a function through its
 *     bus ops or by reading an access log; each is proven by a mutant of the model
 *     (vs_pci_mutation).
 *
 * Everything is little-endian. Errors are values (negative VS_E* + message). */
#ifndef VIRTIOSIM_PCI_H
#define VIRTIOSIM_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtiosim/device.h"
#include "virtiosim/error.h"
#include "virtiosim/gmem.h"
#include "virtiosim/vring.h"

/* ===================================================================== constants
 * Names and values are token-identical to sim/qemu/pci_qtest.h (so both headers can be
 * included together); the ones pci_qtest.h lacks are new. */
#ifndef VS_PCI_VENDOR_VIRTIO
#define VS_PCI_VENDOR_VIRTIO 0x1AF4u
#endif
#ifndef VS_PCI_DEVICE_VIRTIO_MODERN
#define VS_PCI_DEVICE_VIRTIO_MODERN(type) (0x1040u + (type))
#endif
#ifndef VS_PCI_VENDOR_ID
#define VS_PCI_VENDOR_ID 0x00
#define VS_PCI_DEVICE_ID 0x02
#define VS_PCI_COMMAND 0x04
#define VS_PCI_STATUS 0x06
#define VS_PCI_CLASS_REV 0x08
#define VS_PCI_HEADER_TYPE 0x0E
#define VS_PCI_BAR0 0x10
#define VS_PCI_SUBSYS_VENDOR 0x2C
#define VS_PCI_SUBSYS_ID 0x2E
#define VS_PCI_CAP_PTR 0x34
#define VS_PCI_CMD_IO 0x1u
#define VS_PCI_CMD_MEM 0x2u
#define VS_PCI_CMD_MASTER 0x4u
#define VS_PCI_CMD_INTX_DISABLE 0x400u
#define VS_PCI_STATUS_CAP_LIST 0x10u
#define VS_PCI_CAP_ID_MSIX 0x11u
#define VS_PCI_CAP_ID_VNDR 0x09u
#endif
#ifndef VS_VIRTIO_PCI_CAP_COMMON
#define VS_VIRTIO_PCI_CAP_COMMON 1u
#define VS_VIRTIO_PCI_CAP_NOTIFY 2u
#define VS_VIRTIO_PCI_CAP_ISR 3u
#define VS_VIRTIO_PCI_CAP_DEVICE 4u
#define VS_VIRTIO_PCI_CAP_PCI_CFG 5u
#endif
#ifndef VS_VIRTIO_COMMON_DFSELECT
#define VS_VIRTIO_COMMON_DFSELECT 0x00
#define VS_VIRTIO_COMMON_DF 0x04
#define VS_VIRTIO_COMMON_GFSELECT 0x08
#define VS_VIRTIO_COMMON_GF 0x0C
#define VS_VIRTIO_COMMON_MSIX 0x10
#define VS_VIRTIO_COMMON_NUMQ 0x12
#define VS_VIRTIO_COMMON_STATUS 0x14
#define VS_VIRTIO_COMMON_CFGGENERATION 0x15
#define VS_VIRTIO_COMMON_Q_SELECT 0x16
#define VS_VIRTIO_COMMON_Q_SIZE 0x18
#define VS_VIRTIO_COMMON_Q_MSIX 0x1A
#define VS_VIRTIO_COMMON_Q_ENABLE 0x1C
#define VS_VIRTIO_COMMON_Q_NOFF 0x1E
#define VS_VIRTIO_COMMON_Q_DESCLO 0x20
#define VS_VIRTIO_COMMON_Q_DESCHI 0x24
#define VS_VIRTIO_COMMON_Q_AVAILLO 0x28
#define VS_VIRTIO_COMMON_Q_AVAILHI 0x2C
#define VS_VIRTIO_COMMON_Q_USEDLO 0x30
#define VS_VIRTIO_COMMON_Q_USEDHI 0x34
#endif
/* new in this header */
#define VS_VIRTIO_COMMON_Q_NDATA 0x38      /* queue_notif_config_data (le16) */
#define VS_VIRTIO_COMMON_Q_RESET 0x3A      /* queue_reset (le16) */
#define VS_VIRTIO_COMMON_ADM_Q_IDX 0x3C    /* admin_queue_index (le16) */
#define VS_VIRTIO_COMMON_ADM_Q_NUM 0x3E    /* admin_queue_num (le16) */
#define VS_VIRTIO_COMMON_SIZE 0x40
#define VS_PCI_STATUS_INTERRUPT 0x08u      /* PCI Status bit 3: INTx asserted (ISR != 0) */
#define VS_PCI_INTERRUPT_LINE 0x3C
#define VS_PCI_INTERRUPT_PIN 0x3D
#define VS_PCI_MSIX_CTRL_ENABLE 0x8000u
#define VS_PCI_MSIX_CTRL_MASKALL 0x4000u
#define VS_PCI_MSIX_ENTRY_MASKED 0x1u      /* vector control bit 0 */
#define VS_PCI_NO_VECTOR 0xFFFFu           /* VIRTIO_MSI_NO_VECTOR */
#define VS_PCI_ISR_QUEUE 0x1u
#define VS_PCI_ISR_CONFIG 0x2u
#define VS_PCI_CAP_VIRTIO_LEN 16u          /* struct virtio_pci_cap */
#define VS_PCI_CAP_NOTIFY_LEN 20u          /* struct virtio_pci_notify_cap */
#define VS_PCI_CAP_PCI_CFG_LEN 20u         /* struct virtio_pci_cfg_cap */
#define VS_PCI_CAP_MSIX_LEN 12u

/* ===================================================================== 1. PCI ACCESS
 *
 * One vs_pci_bus_ops instance + opaque = ONE PCI function (one B:D.F): there is no bus
 * number, device or function argument. An implementation over a real bus (QEMU qtest:
 * 0xcf8/0xcfc for config, readX/writeX for memory) binds the B:D.F in its opaque.
 *
 * cfg_read / cfg_write — configuration space of the function.
 *   off:   byte offset, 0..255 (conventional) or 0..4095 (PCIe extended).
 *   width: 1, 2 or 4 bytes, naturally aligned (off % width == 0).
 *   v:     the value, zero-extended to 32 bits (width 1 → 0..0xff).
 *   Out-of-range offset, bad width or misalignment: -VS_EINVAL, no access made.
 *   Offsets between the implemented size and 4095 read as 0 and ignore writes (what a
 *   conventional function behind a PCIe root port does).
 *
 * mmio_read / mmio_write — memory space, by ABSOLUTE bus (guest-physical) address.
 *   The function claims the address only if one of its memory BARs decodes it: Memory
 *   Space Enable set in the command register and addr inside [BAR base, base + size).
 *   width: 1, 2, 4 or 8 bytes, naturally aligned; v zero-extended to 64 bits.
 *   Bad width / misalignment: -VS_EINVAL. An access no BAR claims is a PCI master abort:
 *   reads return all-ones (of the width), writes are dropped, and the call SUCCEEDS —
 *   exactly what the CPU sees on a real platform and over qtest, so a driver can never
 *   behave differently on the two. (The model marks such accesses in its log.)
 *
 * Failures: a negative VS_E* code means the ACCESS could not be made (bad arguments,
 * a dead QEMU: VS_EBACKEND); it never means "the device did something odd" — device
 * behaviour is only ever visible through the values read.
 * All four calls are synchronous: side effects (a doorbell event, an interrupt message
 * written to guest memory, a device reset) have happened when the call returns.
 * I/O space is not part of the interface: modern virtio-pci functions need none (QEMU
 * with disable-legacy=on exposes none; the model has no I/O BAR). */
typedef struct vs_pci_bus_ops {
    const char *name; /* "pci-model", "qtest", "log" */
    int (*cfg_read)(void *opaque, uint16_t off, unsigned width, uint32_t *v, vs_err *e);
    int (*cfg_write)(void *opaque, uint16_t off, unsigned width, uint32_t v, vs_err *e);
    int (*mmio_read)(void *opaque, uint64_t addr, unsigned width, uint64_t *v, vs_err *e);
    int (*mmio_write)(void *opaque, uint64_t addr, unsigned width, uint64_t v, vs_err *e);
} vs_pci_bus_ops;

/* A function handle: ops + the opaque passed to every op. Copy it freely. */
typedef struct vs_pci_bus {
    const vs_pci_bus_ops *ops;
    void *opaque;
} vs_pci_bus;

/* Argument checks shared by implementations: 0 or -VS_EINVAL with a message. */
int vs_pci_check_cfg_access(uint16_t off, unsigned width, uint16_t cfg_size, vs_err *e);
int vs_pci_check_mmio_access(uint64_t addr, unsigned width, vs_err *e);

/* ---- typed helpers over a bus (driver side) ---- */
int vs_pcib_cfg_read8(vs_pci_bus b, uint16_t off, uint8_t *v, vs_err *e);
int vs_pcib_cfg_read16(vs_pci_bus b, uint16_t off, uint16_t *v, vs_err *e);
int vs_pcib_cfg_read32(vs_pci_bus b, uint16_t off, uint32_t *v, vs_err *e);
int vs_pcib_cfg_write8(vs_pci_bus b, uint16_t off, uint8_t v, vs_err *e);
int vs_pcib_cfg_write16(vs_pci_bus b, uint16_t off, uint16_t v, vs_err *e);
int vs_pcib_cfg_write32(vs_pci_bus b, uint16_t off, uint32_t v, vs_err *e);
int vs_pcib_read8(vs_pci_bus b, uint64_t addr, uint8_t *v, vs_err *e);
int vs_pcib_read16(vs_pci_bus b, uint64_t addr, uint16_t *v, vs_err *e);
int vs_pcib_read32(vs_pci_bus b, uint64_t addr, uint32_t *v, vs_err *e);
int vs_pcib_read64(vs_pci_bus b, uint64_t addr, uint64_t *v, vs_err *e);
int vs_pcib_write8(vs_pci_bus b, uint64_t addr, uint8_t v, vs_err *e);
int vs_pcib_write16(vs_pci_bus b, uint64_t addr, uint16_t v, vs_err *e);
int vs_pcib_write32(vs_pci_bus b, uint64_t addr, uint32_t v, vs_err *e);
int vs_pcib_write64(vs_pci_bus b, uint64_t addr, uint64_t v, vs_err *e);

/* ---- enumeration over a bus (what sim/qemu/pci_qtest.c does over qtest) ---- */
typedef struct vs_pcib_bar {
    bool present, io, is64, prefetch;
    uint64_t size;
    uint64_t addr;      /* assigned bus address, 0 if unassigned */
} vs_pcib_bar;

typedef struct vs_pcib_region {
    bool present;
    uint8_t cap;        /* config offset of the capability */
    uint8_t cap_len;
    uint8_t bar;
    uint32_t offset, length;
    uint64_t addr;      /* bars[bar].addr + offset (0 if the BAR is unassigned) */
} vs_pcib_region;

typedef struct vs_pcib_msix {
    bool present;
    uint8_t cap;
    uint16_t table_size;        /* entries (Table Size field + 1) */
    uint8_t table_bar, pba_bar;
    uint32_t table_off, pba_off;
    uint64_t table_addr, pba_addr;
} vs_pcib_msix;

typedef struct vs_pcib_dev {
    uint16_t vendor, device_id, subsys_vendor, subsys_id;
    uint8_t revision, prog_if, subclass, class_code, header_type;
    uint32_t virtio_type;       /* device - 0x1040 for modern IDs, else 0 */
    vs_pcib_bar bars[6];
    vs_pcib_region common, notify, isr, device;
    uint32_t notify_off_multiplier;
    uint8_t pci_cfg_cap;        /* config offset of the PCI_CFG access cap, 0 if none */
    vs_pcib_msix msix;
} vs_pcib_dev;

/* Sizes every BAR (decoding off while sizing: write all-ones, read the mask back, restore
 * nothing), assigns present memory BARs from [*mmio_next, mmio_end) naturally aligned,
 * advances *mmio_next. I/O BARs are sized and reported but not assigned. */
int vs_pcib_assign_bars(vs_pci_bus b, uint64_t *mmio_next, uint64_t mmio_end,
                        vs_pcib_bar bars[6], vs_err *e);
/* Offset of the first capability with cap_id after `after` (0 = list start); 0 if none.
 * The walk is bounded (48 steps) and ignores pointers below 0x40. */
int vs_pcib_find_cap(vs_pci_bus b, uint8_t cap_id, uint8_t after, uint8_t *off, vs_err *e);
/* Reads IDs, walks virtio vendor caps (first of each type with a valid bar wins, as the
 * spec asks drivers) and MSI-X; fills addresses from d->bars (call assign_bars first). */
int vs_pcib_read_ids(vs_pci_bus b, vs_pcib_dev *d, vs_err *e);
int vs_pcib_virtio_caps(vs_pci_bus b, vs_pcib_dev *d, vs_err *e);
/* All of the above + Memory Space and Bus Master enable; MSI-X left disabled. */
int vs_pcib_virtio_setup(vs_pci_bus b, uint64_t mmio_base, uint64_t mmio_end,
                         vs_pcib_dev *d, vs_err *e);
/* Test only: capability walks with a driver's bugs (the pci.driver.caps.* mutants). */
enum vs_pcib_walk_bug {
    VS_PCIB_WALK_TYPE_NIBBLE = 1u << 0,   /* reads cfg_type as 4 bits: 0x11 is common */
    VS_PCIB_WALK_BAR_MOD8 = 1u << 1,      /* takes the bar modulo 8, unchecked: 12 is BAR4 */
    VS_PCIB_WALK_LAST_WINS = 1u << 2,     /* the last capability of a type wins */
    VS_PCIB_WALK_STRICT_CAP_LEN = 1u << 3, /* takes a later capability with the defined
                                              cap_len over an earlier longer one */
    VS_PCIB_WALK_STRICT_LENGTH = 1u << 4, /* takes a later common configuration exactly 0x40
                                             long over an earlier longer one */
};
int vs_pcib_virtio_caps_ex(vs_pci_bus b, vs_pcib_dev *d, uint32_t bugs, vs_err *e);
int vs_pcib_virtio_setup_ex(vs_pci_bus b, uint64_t mmio_base, uint64_t mmio_end,
                            vs_pcib_dev *d, uint32_t bugs, vs_err *e);
int vs_pcib_command(vs_pci_bus b, uint16_t set, uint16_t clear, vs_err *e);
int vs_pcib_msix_enable(vs_pci_bus b, const vs_pcib_dev *d, bool enable, vs_err *e);
int vs_pcib_msix_set_entry(vs_pci_bus b, const vs_pcib_dev *d, uint16_t entry,
                           uint64_t addr, uint32_t data, bool masked, vs_err *e);
int vs_pcib_msix_mask(vs_pci_bus b, const vs_pcib_dev *d, uint16_t entry, bool masked,
                      vs_err *e);
int vs_pcib_msix_pending(vs_pci_bus b, const vs_pcib_dev *d, uint16_t entry, bool *pending,
                         vs_err *e);
/* Common-config shorthands (address = d->common.addr + off). */
int vs_pcib_common_read(vs_pci_bus b, const vs_pcib_dev *d, uint32_t off, unsigned width,
                        uint64_t *v, vs_err *e);
int vs_pcib_common_write(vs_pci_bus b, const vs_pcib_dev *d, uint32_t off, unsigned width,
                         uint64_t v, vs_err *e);
/* notify.addr + queue_notify_off * notify_off_multiplier */
uint64_t vs_pcib_notify_addr(const vs_pcib_dev *d, uint16_t queue_notify_off);

/* ===================================================================== access log
 * A record of accesses (and, from the model, of interrupts it raised), for the
 * observe-style checks. The model keeps one (opts.log_cap); vs_pci_logger wraps any
 * bus (e.g. qtest) and records what passes through it. */
enum vs_pci_space {
    VS_PCI_SPACE_CFG = 0,
    VS_PCI_SPACE_MMIO = 1,
    VS_PCI_SPACE_IRQ = 2,   /* model only: an interrupt raise, see vs_pci_access.irq */
};

/* Which structure an access hit (decoded by the model, or by a logger given a layout). */
enum vs_pci_region_kind {
    VS_PCI_REG_NONE = 0,    /* unknown / plain config header */
    VS_PCI_REG_COMMON,
    VS_PCI_REG_NOTIFY,
    VS_PCI_REG_ISR,
    VS_PCI_REG_DEVICE,
    VS_PCI_REG_MSIX_TABLE,
    VS_PCI_REG_MSIX_PBA,
    VS_PCI_REG_UNCLAIMED,   /* MMIO nobody decoded (master abort) */
};

/* How a raise ended (vs_pci_raise's return value and log entries). */
enum vs_pci_irq_outcome {
    VS_PCI_IRQ_MSIX_SENT = 1,  /* message written to guest memory */
    VS_PCI_IRQ_MSIX_PENDING,   /* masked (entry / function) or no bus master: PBA bit set */
    VS_PCI_IRQ_NO_VECTOR,      /* MSI-X enabled, event unmapped: nothing happens */
    VS_PCI_IRQ_INTX,           /* MSI-X disabled: ISR bit set, INTx level asserted */
};

typedef struct vs_pci_access {
    uint8_t space;        /* enum vs_pci_space */
    uint8_t write;        /* 1 write, 0 read */
    uint8_t width;        /* bytes; 0 for IRQ entries */
    uint8_t region;       /* enum vs_pci_region_kind */
    uint32_t roff;        /* offset inside the region (cfg: == addr) */
    uint64_t addr;        /* config offset or bus address */
    uint64_t val;         /* value read or written; IRQ: vector (0xffff INTx / none) */
    int32_t queue;        /* IRQ: queue or -1 config; COMMON: queue_select; else -1 */
    uint8_t irq;          /* IRQ: enum vs_pci_irq_outcome */
} vs_pci_access;

typedef struct vs_pci_logger {
    vs_pci_bus inner;
    vs_pci_access *log;
    size_t n, cap;
    size_t dropped;           /* entries that did not fit */
    const vs_pcib_dev *layout; /* optional: decode regions from this */
    uint16_t qsel;            /* tracked queue_select */
    /* optional: sees every decoded access, whether or not the log has room (a streaming
     * judge, e.g. vs_pci_drv_judge_access) */
    void (*on_access)(void *opaque, const vs_pci_access *a);
    void *on_opaque;
} vs_pci_logger;

/* log/cap: caller-owned storage. The returned bus records into it. */
vs_pci_bus vs_pci_logger_init(vs_pci_logger *lg, vs_pci_bus inner, vs_pci_access *log,
                              size_t cap, const vs_pcib_dev *layout);

/* ===================================================================== 2. THE MODEL */

/* Deliberate bugs, one per transport check (see vs_pci_mutation_info). */
enum vs_pci_mutation {
    VS_PCI_MUT_NONE = 0,
    VS_PCI_MUT_REVISION_0 = 1u << 0,           /* revision ID 0 (pci-ids) */
    VS_PCI_MUT_CAP_LEN_SHORT = 1u << 1,        /* notify cap_len 16 (cap-list) */
    VS_PCI_MUT_CAP_MISALIGNED = 1u << 2,       /* device cfg at BAR offset 0x2002 (cap-align) */
    VS_PCI_MUT_NOTIFY_MULT_ODD = 1u << 3,      /* notify_off_multiplier 3 (notify-cap) */
    VS_PCI_MUT_FEATURE_SELECT_IGNORED = 1u << 4, /* device_feature: window select & 1 */
    VS_PCI_MUT_CFG_GEN_STUCK = 1u << 5,        /* config_generation never changes */
    VS_PCI_MUT_ENABLE_SURVIVES_RESET = 1u << 6, /* queue_enable keeps 1 over a reset */
    VS_PCI_MUT_QUEUE_SIZE_NOT_POW2 = 1u << 7,  /* queue_size reads max - 1 */
    VS_PCI_MUT_NO_VECTOR_IGNORED = 1u << 8,    /* an out-of-table vector reads back as written */
    VS_PCI_MUT_MSIX_PBA_OVERLAP = 1u << 9,     /* PBA Offset advertised inside the table */
    VS_PCI_MUT_ISR_NOT_CLEARED = 1u << 10,     /* ISR read does not clear it */
    VS_PCI_MUT_CFG64_HALVES_COUPLED = 1u << 11, /* writing a low half zeroes the high half */
    VS_PCI_MUT_DEVCFG_WRONG_WIDTH = 1u << 12,  /* 16/32-bit device cfg reads byte-swapped */
    VS_PCI_MUT_PCI_CFG_WINDOW_BROKEN = 1u << 13, /* pci_cfg_data reads 0, writes dropped */
    VS_PCI_MUT_IRQ_ON_NO_VECTOR = 1u << 14,    /* NO_VECTOR events still fire vector 0 */
    VS_PCI_MUT_QUEUE_RESET_KEEPS_ENABLE = 1u << 15, /* queue_reset leaves queue_enable 1 */
};

typedef struct vs_pci_mutation_info {
    const char *name;       /* "isr-not-cleared" */
    uint32_t flag;          /* enum vs_pci_mutation */
    const char *check;      /* the check it makes fail */
    const char *id;         /* the statement that check then reports */
    const char *what;
} vs_pci_mutation_info;

size_t vs_pci_mutation_count(void);
const vs_pci_mutation_info *vs_pci_mutation_at(size_t i);
const vs_pci_mutation_info *vs_pci_mutation_find(const char *name);

/* What the model tells its embedding (synchronously, from inside the access). */
enum vs_pci_event_kind {
    VS_PCI_EV_NOTIFY = 1,   /* driver wrote the notify address: queue, val = value written */
    VS_PCI_EV_QUEUE_ENABLE, /* queue enabled: create the device-side ring from layout */
    VS_PCI_EV_QUEUE_RESET,  /* queue reset via queue_reset: drop the device-side ring */
    VS_PCI_EV_RESET,        /* device reset (status 0 or PCI reset): drop all rings */
    VS_PCI_EV_STATUS,       /* device_status written: val = resulting status */
};

typedef struct vs_pci_event {
    enum vs_pci_event_kind kind;
    int32_t queue;          /* -1 when not about a queue */
    uint64_t val;
    const vs_vq_layout *layout; /* QUEUE_ENABLE only */
} vs_pci_event;

typedef void (*vs_pci_event_fn)(void *opaque, const vs_pci_event *ev);

/* Unusual but valid layouts, each provoking a driver-role capability statement
 * (pci.driver.caps.*): one more vendor capability and a second window onto the common
 * configuration at BAR4 + 0x4000 (BAR4 grows to 32 KiB). Use one at a time. */
enum vs_pci_layout_quirk {
    VS_PCI_QUIRK_RESERVED_CFG_TYPE = 1u << 0, /* listed first: cfg_type 0x11 (reserved) */
    VS_PCI_QUIRK_RESERVED_BAR = 1u << 1,     /* listed first: common, bar 12 (reserved) */
    VS_PCI_QUIRK_DUP_COMMON = 1u << 2,       /* two common capabilities, the later one on
                                                the second window */
    VS_PCI_QUIRK_LONG_CAP_LEN = 1u << 3,     /* ... the first with cap_len 20 */
    VS_PCI_QUIRK_DUP_EXACT_LENGTH = 1u << 4, /* ... the later one 0x40 long, the first
                                                4 KiB (larger than the structure) */
};

typedef struct vs_pci_model_opts {
    uint16_t msix_vectors;           /* MSI-X table entries, 0..2048; 0 = no MSI-X cap.
                                        Use VS_PCI_MSIX_DEFAULT for num_queues + 1. */
    uint32_t notify_off_multiplier;  /* default 4 (QEMU); 0 = one address for all */
    bool pcie;                       /* 4096-byte config space instead of 256 */
    uint16_t subsys_vendor;          /* 0 = 0x1af4 */
    uint16_t subsys_id;              /* 0 = 0x1100 (QEMU's) */
    uint32_t mutations;              /* enum vs_pci_mutation */
    uint32_t layout_quirks;          /* enum vs_pci_layout_quirk */
    size_t log_cap;                  /* access-log entries kept: the first log_cap since
                                        create / vs_pci_model_log_clear; 0 = no log */
    vs_pci_event_fn event_fn;
    void *event_opaque;
} vs_pci_model_opts;

#define VS_PCI_MSIX_DEFAULT 0xFFFFu
#define VS_PCI_MSIX_MAX 2048u

/* msix_vectors = VS_PCI_MSIX_DEFAULT, multiplier 4, conventional config space. */
void vs_pci_model_opts_default(vs_pci_model_opts *o);

typedef struct vs_pci_fn vs_pci_fn;

/* Wraps dev (not owned; must outlive fn). gm: where MSI-X messages are written and the
 * rings live (not owned). Layout (as QEMU 7.2 virtio-pci): BAR1 32-bit MSI-X (table @0,
 * PBA @ table end rounded to 2 KiB), BAR4 64-bit prefetchable 16 KiB: common @0,
 * ISR @0x1000, device @0x2000, notify @0x3000, each 4 KiB. Capability list (config
 * offsets): MSI-X 0x98 -> pci_cfg 0x84 -> notify 0x70 -> device 0x60 -> ISR 0x50 ->
 * common 0x40. queue_notify_off = queue index. */
int vs_pci_model_create(vs_pci_fn **out, vs_device *dev, vs_gmem *gm,
                        const vs_pci_model_opts *o, vs_err *e);
void vs_pci_model_destroy(vs_pci_fn *fn);

/* The function's bus ops (valid until destroy). */
vs_pci_bus vs_pci_model_bus(vs_pci_fn *fn);

/* PCI-level reset (power-on / FLR): config header back to defaults (BARs 0, command 0,
 * MSI-X disabled, table entries masked), then a virtio device reset. */
void vs_pci_model_pci_reset(vs_pci_fn *fn);

/* ---- queue-side hooks for the embedding ---- */
typedef struct vs_pci_queue_state {
    bool exists;            /* q < num_queues */
    bool enabled;           /* queue_enable reads 1 */
    uint16_t size, max_size;
    uint16_t msix_vector;
    uint16_t notify_off;
    uint64_t desc, driver, device;
} vs_pci_queue_state;

uint16_t vs_pci_num_queues(const vs_pci_fn *fn);
int vs_pci_queue_state_get(const vs_pci_fn *fn, uint16_t q, vs_pci_queue_state *out,
                           vs_err *e);
/* Layout of an enabled queue (format from the negotiated RING_PACKED). */
int vs_pci_queue_layout(const vs_pci_fn *fn, uint16_t q, vs_vq_layout *out, vs_err *e);
uint8_t vs_pci_device_status(const vs_pci_fn *fn);
uint64_t vs_pci_negotiated_features(const vs_pci_fn *fn); /* 0 until FEATURES_OK taken */
/* May the function touch guest memory (Bus Master Enable)? Rings and MSI-X need it. */
bool vs_pci_dma_allowed(const vs_pci_fn *fn);
/* Should the device process its queues? DRIVER_OK & FEATURES_OK set, FAILED and
 * DEVICE_NEEDS_RESET clear, bus master on. */
bool vs_pci_device_live(const vs_pci_fn *fn);

/* ---- interrupts ---- */
/* Raises a used-buffer (queue >= 0) or config-change (VS_PCI_IRQ_CONFIG) interrupt:
 * MSI-X enabled: event's vector NO_VECTOR -> nothing; entry or function masked or no
 * bus master -> PBA bit set (sent when unmasked); else a 32-bit store of the entry's
 * data to its address in gm. MSI-X disabled: ISR bit 0 (queue) / 1 (config) set, INTx
 * asserted (PCI Status bit 3) unless Interrupt Disable. Returns the outcome (> 0) or a
 * negative error (bad queue, message address outside guest memory). */
#define VS_PCI_IRQ_CONFIG (-1)
int vs_pci_raise(vs_pci_fn *fn, int queue, vs_err *e);
/* The device's configuration changed: config_generation moves, then a config interrupt
 * is raised (return value as vs_pci_raise). */
int vs_pci_config_changed(vs_pci_fn *fn, vs_err *e);
/* Device error: sets DEVICE_NEEDS_RESET and raises a config interrupt. */
int vs_pci_device_error(vs_pci_fn *fn, vs_err *e);
bool vs_pci_intx_level(const vs_pci_fn *fn);   /* INTx line asserted now */
uint8_t vs_pci_isr_peek(const vs_pci_fn *fn);  /* ISR without clearing it */

/* ---- the access log ---- */
const vs_pci_access *vs_pci_model_log(const vs_pci_fn *fn, size_t *n);
void vs_pci_model_log_clear(vs_pci_fn *fn);

/* ===================================================================== 3. CHECKS */

enum vs_pci_verdict {
    VS_PCI_PASS = 0,
    VS_PCI_FAIL,
    VS_PCI_NOT_EXERCISED,   /* e.g. needs a provoke hook the caller did not give */
    VS_PCI_NOT_APPLICABLE,  /* feature-conditioned statement, feature absent */
};

typedef struct vs_pci_finding {
    const char *check;      /* check name */
    const char *id;         /* catalogue statement id */
    enum vs_pci_verdict verdict;
    char evidence[200];     /* FAIL: "expected ..., seen ..."; else a reason or "" */
} vs_pci_finding;

#define VS_PCI_FINDINGS_MAX 128
typedef struct vs_pci_findings {
    size_t n;
    size_t dropped;
    vs_pci_finding f[VS_PCI_FINDINGS_MAX];
} vs_pci_findings;

/* How a probe check may drive the function under test. The probes reset the device
 * (status 0) before and after themselves and leave MSI-X disabled. */
typedef struct vs_pci_probe {
    vs_pci_bus bus;
    uint64_t mmio_base, mmio_end;    /* where BARs may be placed; 0,0 = 0xE0000000.. */
    vs_gmem *gm;                     /* guest memory for MSI-X message targets (optional) */
    uint64_t msix_target;            /* gpa of 64 scratch bytes in gm for messages */
    /* Make the device change its device-specific config AND signal it (e.g. the model:
     * vs_pci_config_changed; QEMU: block_resize). NULL: generation / config-interrupt
     * statements are not exercised. */
    int (*config_change)(void *opaque, vs_err *e);
    /* Make the device send a used-buffer interrupt for queue q (the model:
     * vs_pci_raise). NULL: queue-interrupt statements are not exercised. */
    int (*queue_irq)(void *opaque, uint16_t q, vs_err *e);
    void *opaque;
} vs_pci_probe;

enum vs_pci_check_kind { VS_PCI_CHECK_PROBE = 1, VS_PCI_CHECK_LOG = 2 };

typedef struct vs_pci_check_info {
    const char *name;
    enum vs_pci_check_kind kind;
    const char *role;               /* "device" or "driver" */
    const char *const *ids;         /* statements it covers, NULL-terminated */
    const char *what;
} vs_pci_check_info;

size_t vs_pci_check_count(void);
const vs_pci_check_info *vs_pci_check_at(size_t i);
const vs_pci_check_info *vs_pci_check_find(const char *name);

/* Runs one probe check (by name) or all of them (name NULL) against the function,
 * appending findings. Returns 0 when the checks could run (whatever they found), < 0
 * when the function could not be accessed at all. */
int vs_pci_check_probe(const vs_pci_probe *p, const char *name, vs_pci_findings *out,
                       vs_err *e);
/* Runs one (or all) log checks over an access log. Region decoding must be present in
 * the entries (model log, or a logger given a layout). */
int vs_pci_check_log(const vs_pci_access *log, size_t n, const char *name,
                     vs_pci_findings *out, vs_err *e);

/* The driver-role log checks as a stream: feed every decoded access a driver makes
 * (vs_pci_logger.on_access) and the findings accumulate in *out (the caller's). layout
 * (optional, the enumerated function) gives the MSI-X table size. */
#define VS_PCI_JUDGE_QUEUES 64
#define VS_PCI_JUDGE_CAPS 16
/* A virtio vendor capability as the judge's own walk found it (vs_pci_drv_judge_walk). */
typedef struct vs_pci_judge_cap {
    uint8_t cap, cap_len, type, bar;
    uint32_t offset, length;
    uint8_t role;               /* enum vs_pci_judge_cap_role */
} vs_pci_judge_cap;
enum vs_pci_judge_cap_role {
    VS_PCI_JCAP_CHOSEN = 1,     /* the first valid one of its type: the one to use */
    VS_PCI_JCAP_LATER,          /* a later one of a type already found */
    VS_PCI_JCAP_RESERVED_TYPE,
    VS_PCI_JCAP_RESERVED_BAR,
};
typedef struct vs_pci_drv_judge {
    vs_pci_findings *out;
    const vs_pcib_dev *layout;
    size_t n;                   /* accesses seen */
    uint64_t gf, negotiated;
    uint32_t gfsel;
    bool features_ok;
    bool reset_pending;         /* status 0 written, no status read of 0 since */
    int vec_pending;            /* a vector field written, not yet read back: its offset */
    int vec_queue;
    uint64_t enabled;           /* queues (< VS_PCI_JUDGE_QUEUES) with queue_enable 1 */
    uint64_t qreset;            /* queue_reset=1 written, not yet read back 0 */
    bool msix_on;               /* MSI-X Enable written 1 */
    bool after_qirq;            /* a queue interrupt (MSI-X) delivered, nothing read since */
    uint8_t win_bar;            /* the PCI_CFG window as last written */
    uint32_t win_off, win_len;
    uint64_t noff_known;
    uint16_t noff[VS_PCI_JUDGE_QUEUES]; /* queue_notify_off read per queue */
    uint64_t qvec_ok;           /* queues whose vector read back inside the table */
    bool isr_both;              /* an ISR read showed config change + used buffers, no
                                   config read since */
    uint64_t ndata_known;
    uint16_t ndata[VS_PCI_JUDGE_QUEUES]; /* queue_notif_config_data read per queue */
    /* the rings, for the notification data (optional: gm NULL leaves it unjudged) */
    vs_gmem *gm;
    uint64_t qdesc[VS_PCI_JUDGE_QUEUES];
    uint16_t qsize[VS_PCI_JUDGE_QUEUES];
    /* the capability list as a correct walk reads it (vs_pci_drv_judge_walk) */
    bool walked;
    uint8_t ncaps;
    vs_pci_judge_cap caps[VS_PCI_JUDGE_CAPS];
    uint64_t bar_base[6];
} vs_pci_drv_judge;
void vs_pci_drv_judge_init(vs_pci_drv_judge *j, vs_pci_findings *out, const vs_pcib_dev *layout);
/* Reads the function's capability list and BAR addresses through raw (a bus the judge
 * does not see: call it after the driver assigned the BARs), so the driver's accesses can
 * be judged against the structures a correct walk picks (pci.driver.caps.*). */
int vs_pci_drv_judge_walk(vs_pci_drv_judge *j, vs_pci_bus raw, vs_err *e);
void vs_pci_drv_judge_access(vs_pci_drv_judge *j, const vs_pci_access *a);

/* Convenience: first FAIL finding for id (NULL if none) / any finding for id. */
const vs_pci_finding *vs_pci_findings_fail(const vs_pci_findings *f, const char *id);
const vs_pci_finding *vs_pci_findings_get(const vs_pci_findings *f, const char *id);
size_t vs_pci_findings_failures(const vs_pci_findings *f);

#endif
