/* Transport-level conformance checks for the pci area of conformance/catalogue.tsv.
 *
 * PROBE checks drive a function through its bus ops (enumerate, read, provoke) and judge
 * what it answers; LOG checks judge a recorded access log. Every check names the
 * statements it covers; every device-role check is made to fail by one mutant of the
 * model (vs_pci_mutation_info.check). Works over any vs_pci_bus (model or QEMU). */
#include "virtiosim/pci.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "model/device_class.h"
#include "model/pci_checks_int.h"
#include "virtiosim/virtio.h"

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})

static const vs_pci_check_info checks[] = {
    {"pci-ids", VS_PCI_CHECK_PROBE, "device",
     LIST("pci.device.discovery.1", "pci.device.discovery.2", "pci.device.discovery.3",
          "pci.device.discovery.4", "pci.device.discovery.5"),
     "vendor, device, revision and subsystem IDs"},
    {"cap-list", VS_PCI_CHECK_PROBE, "device",
     LIST("pci.device.caps.1", "pci.device.pci-bus.1"),
     "capability list well-formed: pointers aligned and inside config space, cap_len "
     "covers each structure, regions inside memory BARs"},
    {"cap-align", VS_PCI_CHECK_PROBE, "device",
     LIST("pci.device.common-cfg.1", "pci.device.common-cfg.2", "pci.device.notify-cap.1",
          "pci.device.isr.1", "pci.device.device-cfg.1", "pci.device.pci-cfg-cap.1"),
     "required virtio capabilities present, common/device offsets 4-byte aligned"},
    {"notify-cap", VS_PCI_CHECK_PROBE, "device",
     LIST("pci.device.notify-cap.2", "pci.device.notify-cap.3", "pci.device.notify-cap.4",
          "pci.device.notify-cap.5", "pci.device.notify-cap.6", "pci.device.notify-cap.7",
          "pci.device.notify-cap.8", "pci.device.notify-cap.9", "pci.device.notify-cap.10",
          "pci.device.notify-cap.11"),
     "notify offset alignment, multiplier, length covering every queue"},
    {"feature-windows", VS_PCI_CHECK_PROBE, "device",
     LIST("pci.device.common-cfg.3", "pci.device.common-cfg.4"),
     "device_feature / driver_feature windows per select value"},
    {"config-generation", VS_PCI_CHECK_PROBE, "device", LIST("pci.device.common-cfg.5"),
     "config_generation changes across a device config change"},
    {"reset", VS_PCI_CHECK_PROBE, "device",
     LIST("pci.device.common-cfg.6", "pci.device.common-cfg.7"),
     "status 0 resets: status and every queue_enable read 0"},
    {"queue-size", VS_PCI_CHECK_PROBE, "device",
     LIST("pci.device.common-cfg.13", "pci.device.common-cfg.14"),
     "queue_size 0 for absent queues, 0 or a power of two without RING_PACKED"},
    {"queue-reset", VS_PCI_CHECK_PROBE, "device",
     LIST("pci.device.common-cfg.8", "pci.device.common-cfg.9", "pci.device.common-cfg.10",
          "pci.device.common-cfg.12"),
     "queue_reset reads 0 after reset / enable; resetting a queue disables it"},
    {"msix-vectors", VS_PCI_CHECK_PROBE, "device",
     LIST("pci.device.msix.4", "pci.device.msix.5", "pci.device.msix.6", "pci.device.msix.7",
          "pci.device.msix.8", "pci.device.msix.9"),
     "config/queue vector mapping, NO_VECTOR read-back, unmapped after reset"},
    {"msix-table", VS_PCI_CHECK_PROBE, "device",
     LIST("pci.device.msix.1", "pci.device.msix.2"),
     "MSI-X Table Size in 2..0x800 and consistent with table/PBA in the BAR"},
    {"isr", VS_PCI_CHECK_PROBE, "device",
     LIST("pci.device.isr.2", "pci.device.isr.3", "pci.device.isr.4", "pci.device.isr.5"),
     "INTx: ISR bits set before the interrupt, Status bit 3 mirrors, read clears"},
    {"cfg-64bit-halves", VS_PCI_CHECK_PROBE, "device", LIST("pci.device.layout.1"),
     "halves of 64-bit common config fields written and read independently"},
    {"device-cfg-widths", VS_PCI_CHECK_PROBE, "device", LIST("pci.device.layout.1"),
     "device config: 8/16/32-bit reads of the same bytes agree (little-endian)"},
    {"pci-cfg-window", VS_PCI_CHECK_PROBE, "device",
     LIST("pci.device.pci-cfg-cap.2", "pci.device.pci-cfg-cap.3"),
     "the pci_cfg access window reads and writes the BAR"},
    {"no-vector-silent", VS_PCI_CHECK_PROBE, "device",
     LIST("pci.device.config-notif.1", "pci.device.used-notif.1"),
     "MSI-X enabled: events mapped to NO_VECTOR send no message"},
    {"log-isr-clear", VS_PCI_CHECK_LOG, "device", LIST("pci.device.isr.5"),
     "an ISR read with no interrupt since the previous one reads 0"},
    {"log-queue-size", VS_PCI_CHECK_LOG, "device", LIST("pci.device.common-cfg.14"),
     "queue_size reads 0 or a power of two when RING_PACKED is not negotiated"},
    {"log-driver-widths", VS_PCI_CHECK_LOG, "driver", LIST("pci.driver.layout.1"),
     "driver accesses to common/device config match field width and alignment"},
    {"log-driver-ro-writes", VS_PCI_CHECK_LOG, "driver", LIST("pci.driver.common-cfg.1"),
     "driver never writes read-only common config fields"},
    {"log-driver-queue-enable-0", VS_PCI_CHECK_LOG, "driver", LIST("pci.driver.common-cfg.6"),
     "driver never writes 0 to queue_enable"},
    {"log-driver-notify-width", VS_PCI_CHECK_LOG, "driver",
     LIST("pci.driver.avail-notif.1", "pci.driver.avail-notif.2"),
     "notifications are 16-bit (32-bit with NOTIFICATION_DATA)"},
    {"log-driver-queue-size", VS_PCI_CHECK_LOG, "driver",
     LIST("pci.driver.common-cfg.2", "pci.driver.common-cfg.3"),
     "queue_size writes: never 0 (RING_PACKED), powers of two (split)"},
    {"log-driver-enable-last", VS_PCI_CHECK_LOG, "driver", LIST("pci.driver.common-cfg.4"),
     "no queue_size / ring address write to a queue after its queue_enable"},
    {"log-driver-reset-wait", VS_PCI_CHECK_LOG, "driver", LIST("pci.driver.common-cfg.5"),
     "after writing status 0, no other write until a status read returns 0"},
    {"log-driver-msix-range", VS_PCI_CHECK_LOG, "driver", LIST("pci.driver.msix.2"),
     "config/queue vectors written are NO_VECTOR or inside the MSI-X table"},
    {"log-driver-msix-readback", VS_PCI_CHECK_LOG, "driver", LIST("pci.driver.msix.3"),
     "each config/queue vector write is read back before the next step"},
    {"log-driver-notify-value", VS_PCI_CHECK_LOG, "driver",
     LIST("pci.driver.avail-notif.3", "pci.driver.avail-notif.4", "pci.driver.avail-notif.5",
          "pci.driver.avail-notif.6"),
     "the notification value (vq_index) names the queue whose notify address is written "
     "(with NOTIF_CONFIG_DATA: is that queue's queue_notif_config_data)"},
    {"log-driver-queue-reset-wait", VS_PCI_CHECK_LOG, "driver",
     LIST("pci.driver.common-cfg.7", "generic.driver.vq-reset.1"),
     "after queue_reset=1, the queue is set up again only once queue_reset reads 0"},
    {"log-driver-cap-writes", VS_PCI_CHECK_LOG, "driver", LIST("pci.driver.caps.7"),
     "no config write inside a virtio capability other than the PCI_CFG one"},
    {"log-driver-cfg-window", VS_PCI_CHECK_LOG, "driver",
     LIST("pci.driver.pci-cfg-cap.1", "pci.driver.pci-cfg-cap.2", "pci.driver.pci-cfg-cap.3"),
     "pci_cfg_data used with cap.offset a multiple of cap.length 1/2/4, inside a structure"},
    {"log-driver-isr-msix", VS_PCI_CHECK_LOG, "driver", LIST("pci.driver.isr.1"),
     "with MSI-X, no ISR read in answer to a queue interrupt"},
    {"log-driver-caps", VS_PCI_CHECK_LOG, "driver",
     LIST("pci.driver.caps.1", "pci.driver.caps.2", "pci.driver.caps.3", "pci.driver.caps.4",
          "pci.driver.caps.6"),
     "BAR accesses go to the structures a correct capability walk picks (first of each "
     "type; reserved cfg_type or bar skipped; longer cap_len or length taken)"},
    {"log-driver-msix-size", VS_PCI_CHECK_LOG, "driver", LIST("pci.driver.msix.1"),
     "at DRIVER_OK, whatever the MSI-X table size, every enabled queue can interrupt: a "
     "vector inside the table, or MSI-X off (INTx)"},
    {"log-driver-intx-both", VS_PCI_CHECK_LOG, "driver", LIST("pci.driver.config-notif.1"),
     "INTx: after an ISR read showing a config change and used buffers, the config change "
     "is handled (a status, generation or device config read) before the next ISR read"},
    {"log-driver-notify-data", VS_PCI_CHECK_LOG, "driver", LIST("packed.driver.desc-table.3"),
     "packed ring with NOTIFICATION_DATA: next_off/next_wrap name the first slot not yet "
     "made available"},
};

size_t vs_pci_check_count(void) { return sizeof checks / sizeof checks[0]; }
const vs_pci_check_info *vs_pci_check_at(size_t i)
{
    return i < vs_pci_check_count() ? &checks[i] : NULL;
}
const vs_pci_check_info *vs_pci_check_find(const char *name)
{
    for (size_t i = 0; name && i < vs_pci_check_count(); i++)
        if (strcmp(checks[i].name, name) == 0)
            return &checks[i];
    return NULL;
}

/* ------------------------------------------------------------------ findings */

typedef struct ctx {
    const vs_pci_probe *p;
    vs_pci_bus b;
    vs_pcib_dev d;
    vs_pci_findings *out;
    const char *check;
    uint64_t offered;
    uint16_t nq;
} ctx;

static vs_pci_finding *find_entry(vs_pci_findings *f, const char *check, const char *id)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->f[i].id == id && f->f[i].check == check)
            return &f->f[i];
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->f[i].id, id) == 0 && strcmp(f->f[i].check, check) == 0)
            return &f->f[i];
    return NULL;
}

/* Records a verdict: FAIL beats PASS beats NOT_EXERCISED/NOT_APPLICABLE; the first
 * evidence of the winning verdict is kept. */
void vs__pci_verdict(vs_pci_findings *f, const char *check, const char *id,
                     enum vs_pci_verdict v, const char *fmt, ...)
{
    static const int rank[] = {[VS_PCI_PASS] = 2, [VS_PCI_FAIL] = 3,
                               [VS_PCI_NOT_EXERCISED] = 1, [VS_PCI_NOT_APPLICABLE] = 0};
    vs_pci_finding *x = find_entry(f, check, id);
    if (!x) {
        if (f->n >= VS_PCI_FINDINGS_MAX) {
            f->dropped++;
            return;
        }
        x = &f->f[f->n++];
        x->check = check;
        x->id = id;
        x->verdict = v;
        x->evidence[0] = 0;
    } else if (rank[v] <= rank[x->verdict]) {
        return;
    }
    x->verdict = v;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->evidence, sizeof x->evidence, fmt, ap);
    va_end(ap);
}

#define PASS(c, id) vs__pci_verdict((c)->out, (c)->check, id, VS_PCI_PASS, "%s", "")
#define FAIL(c, id, ...) vs__pci_verdict((c)->out, (c)->check, id, VS_PCI_FAIL, __VA_ARGS__)
#define NOTEX(c, id, ...) vs__pci_verdict((c)->out, (c)->check, id, VS_PCI_NOT_EXERCISED, __VA_ARGS__)
#define NA(c, id, ...) vs__pci_verdict((c)->out, (c)->check, id, VS_PCI_NOT_APPLICABLE, __VA_ARGS__)
#define EXPECT(c, id, cond, ...)           \
    do {                                   \
        if (cond)                          \
            PASS(c, id);                   \
        else                               \
            FAIL(c, id, __VA_ARGS__);      \
    } while (0)

const vs_pci_finding *vs_pci_findings_get(const vs_pci_findings *f, const char *id)
{
    const vs_pci_finding *any = NULL;
    for (size_t i = 0; f && i < f->n; i++)
        if (strcmp(f->f[i].id, id) == 0) {
            if (f->f[i].verdict == VS_PCI_FAIL)
                return &f->f[i];
            if (!any || f->f[i].verdict == VS_PCI_PASS)
                any = &f->f[i];
        }
    return any;
}

const vs_pci_finding *vs_pci_findings_fail(const vs_pci_findings *f, const char *id)
{
    const vs_pci_finding *x = vs_pci_findings_get(f, id);
    return x && x->verdict == VS_PCI_FAIL ? x : NULL;
}

size_t vs_pci_findings_failures(const vs_pci_findings *f)
{
    size_t n = 0;
    for (size_t i = 0; f && i < f->n; i++)
        n += f->f[i].verdict == VS_PCI_FAIL;
    return n;
}

/* ------------------------------------------------------------------ probe helpers */

static int cr(ctx *c, uint32_t off, unsigned w, uint64_t *v, vs_err *e)
{
    return vs_pcib_common_read(c->b, &c->d, off, w, v, e);
}
static int cw(ctx *c, uint32_t off, unsigned w, uint64_t v, vs_err *e)
{
    return vs_pcib_common_write(c->b, &c->d, off, w, v, e);
}

static int dev_reset(ctx *c, vs_err *e)
{
    int rc = cw(c, VS_VIRTIO_COMMON_STATUS, 1, 0, e);
    for (int i = 0; rc == 0 && i < 1000; i++) {
        uint64_t s = 1;
        rc = cr(c, VS_VIRTIO_COMMON_STATUS, 1, &s, e);
        if (rc == 0 && s == 0)
            return 0;
    }
    return rc;
}

/* reset, ACKNOWLEDGE|DRIVER, write features f, FEATURES_OK; *ok = accepted */
static int negotiate(ctx *c, uint64_t f, bool *ok, vs_err *e)
{
    uint64_t st = 0;
    int rc = dev_reset(c, e);
    if (rc == 0)
        rc = cw(c, VS_VIRTIO_COMMON_STATUS, 1, VS_STATUS_ACKNOWLEDGE, e);
    if (rc == 0)
        rc = cw(c, VS_VIRTIO_COMMON_STATUS, 1, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER, e);
    for (unsigned w = 0; rc == 0 && w < 2; w++) {
        rc = cw(c, VS_VIRTIO_COMMON_GFSELECT, 4, w, e);
        if (rc == 0)
            rc = cw(c, VS_VIRTIO_COMMON_GF, 4, (uint32_t)(f >> (32 * w)), e);
    }
    if (rc == 0)
        rc = cw(c, VS_VIRTIO_COMMON_STATUS, 1,
                VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK, e);
    if (rc == 0)
        rc = cr(c, VS_VIRTIO_COMMON_STATUS, 1, &st, e);
    if (ok)
        *ok = (st & VS_STATUS_FEATURES_OK) != 0;
    return rc;
}

static int read_offered(ctx *c, vs_err *e)
{
    uint64_t lo = 0, hi = 0;
    int rc = cw(c, VS_VIRTIO_COMMON_DFSELECT, 4, 0, e);
    if (rc == 0)
        rc = cr(c, VS_VIRTIO_COMMON_DF, 4, &lo, e);
    if (rc == 0)
        rc = cw(c, VS_VIRTIO_COMMON_DFSELECT, 4, 1, e);
    if (rc == 0)
        rc = cr(c, VS_VIRTIO_COMMON_DF, 4, &hi, e);
    c->offered = lo | hi << 32;
    return rc;
}


/* provoke hooks: any value >= 0 is success */
static int hook_cfg(ctx *c, vs_err *e)
{
    int rc = c->p->config_change(c->p->opaque, e);
    return rc < 0 ? rc : 0;
}
static int hook_q(ctx *c, uint16_t q, vs_err *e)
{
    int rc = c->p->queue_irq(c->p->opaque, q, e);
    return rc < 0 ? rc : 0;
}

/* A queue set up with harmless addresses (never notified). */
static int setup_queue(ctx *c, uint16_t q, vs_err *e)
{
    uint64_t base = 0x100000u + 0x4000u * q;
    int rc = cw(c, VS_VIRTIO_COMMON_Q_SELECT, 2, q, e);
    if (rc == 0)
        rc = cw(c, VS_VIRTIO_COMMON_Q_DESCLO, 4, base, e);
    if (rc == 0)
        rc = cw(c, VS_VIRTIO_COMMON_Q_DESCHI, 4, 0, e);
    if (rc == 0)
        rc = cw(c, VS_VIRTIO_COMMON_Q_AVAILLO, 4, base + 0x1000, e);
    if (rc == 0)
        rc = cw(c, VS_VIRTIO_COMMON_Q_AVAILHI, 4, 0, e);
    if (rc == 0)
        rc = cw(c, VS_VIRTIO_COMMON_Q_USEDLO, 4, base + 0x2000, e);
    if (rc == 0)
        rc = cw(c, VS_VIRTIO_COMMON_Q_USEDHI, 4, 0, e);
    if (rc == 0)
        rc = cw(c, VS_VIRTIO_COMMON_Q_ENABLE, 2, 1, e);
    return rc;
}

/* ------------------------------------------------------------------ probe checks */

static int ck_ids(ctx *c, vs_err *e)
{
    (void)e;
    const vs_pcib_dev *d = &c->d;
    EXPECT(c, "pci.device.discovery.1", d->vendor == VS_PCI_VENDOR_VIRTIO,
           "expected vendor 0x1af4, seen 0x%04x", d->vendor);
    bool modern = d->device_id >= 0x1040 && d->device_id <= 0x107f;
    bool transitional = d->device_id >= 0x1000 && d->device_id <= 0x103f;
    EXPECT(c, "pci.device.discovery.2", modern || transitional,
           "expected device ID 0x1040+type or a transitional ID, seen 0x%04x", d->device_id);
    if (transitional) {
        NA(c, "pci.device.discovery.3", "transitional device");
        NA(c, "pci.device.discovery.4", "transitional device");
        NA(c, "pci.device.discovery.5", "transitional device");
        return 0;
    }
    EXPECT(c, "pci.device.discovery.3", modern,
           "expected a non-transitional ID in 0x1040..0x107f, seen 0x%04x", d->device_id);
    EXPECT(c, "pci.device.discovery.4", d->revision >= 1,
           "expected revision ID >= 1, seen %u", d->revision);
    EXPECT(c, "pci.device.discovery.5", d->subsys_id >= 0x40,
           "expected subsystem ID >= 0x40, seen 0x%04x", d->subsys_id);
    return 0;
}

static unsigned min_cap_len(uint8_t type)
{
    switch (type) {
    case VS_VIRTIO_PCI_CAP_NOTIFY: return VS_PCI_CAP_NOTIFY_LEN;
    case VS_VIRTIO_PCI_CAP_PCI_CFG: return VS_PCI_CAP_PCI_CFG_LEN;
    case 8: return 24; /* shared memory: virtio_pci_cap64 */
    default: return VS_PCI_CAP_VIRTIO_LEN;
    }
}

static int ck_cap_list(ctx *c, vs_err *e)
{
    uint16_t status = 0;
    uint8_t ptr = 0;
    int rc = vs_pcib_cfg_read16(c->b, VS_PCI_STATUS, &status, e);
    if (rc == 0)
        rc = vs_pcib_cfg_read8(c->b, VS_PCI_CAP_PTR, &ptr, e);
    if (rc < 0)
        return rc;
    if (!(status & VS_PCI_STATUS_CAP_LIST)) {
        FAIL(c, "pci.device.pci-bus.1", "expected Status.Capabilities List set, seen 0x%04x",
             status);
        return 0;
    }
    bool seen[256] = {false};
    unsigned ncap = 0;
    while (ptr) {
        if (ptr < 0x40 || (ptr & 3)) {
            FAIL(c, "pci.device.pci-bus.1",
                 "expected capability pointers 4-byte aligned and >= 0x40, seen 0x%02x", ptr);
            break;
        }
        if (seen[ptr] || ++ncap > 48) {
            FAIL(c, "pci.device.pci-bus.1", "capability list loops at 0x%02x", ptr);
            break;
        }
        seen[ptr] = true;
        uint8_t id = 0, next = 0, len = 0, type = 0, bar = 0;
        uint32_t off = 0, length = 0;
        rc = vs_pcib_cfg_read8(c->b, ptr, &id, e);
        if (rc == 0)
            rc = vs_pcib_cfg_read8(c->b, (uint16_t)(ptr + 1), &next, e);
        if (rc == 0 && id == VS_PCI_CAP_ID_VNDR) {
            rc = vs_pcib_cfg_read8(c->b, (uint16_t)(ptr + 2), &len, e);
            if (rc == 0)
                rc = vs_pcib_cfg_read8(c->b, (uint16_t)(ptr + 3), &type, e);
            if (rc == 0)
                rc = vs_pcib_cfg_read8(c->b, (uint16_t)(ptr + 4), &bar, e);
            if (rc == 0)
                rc = vs_pcib_cfg_read32(c->b, (uint16_t)(ptr + 8), &off, e);
            if (rc == 0)
                rc = vs_pcib_cfg_read32(c->b, (uint16_t)(ptr + 12), &length, e);
        }
        if (rc < 0)
            return rc;
        if (id == VS_PCI_CAP_ID_VNDR && type >= 1 && type <= 9) {
            unsigned need = min_cap_len(type);
            EXPECT(c, "pci.device.caps.1", len >= need && ptr + len <= 256,
                   "cap 0x%02x (cfg_type %u): expected cap_len >= %u inside config space, "
                   "seen %u", ptr, type, need, len);
            if (type >= 1 && type <= 4 && bar <= 5) {
                const vs_pcib_bar *br = &c->d.bars[bar];
                EXPECT(c, "pci.device.pci-bus.1",
                       br->present && !br->io && (uint64_t)off + length <= br->size,
                       "cap 0x%02x (cfg_type %u): expected [0x%x, +0x%x) inside memory BAR%u "
                       "(size 0x%" PRIx64 "%s)", ptr, type, off, length, bar, br->size,
                       br->present ? (br->io ? ", I/O" : "") : ", absent");
            }
        } else {
            PASS(c, "pci.device.pci-bus.1");
        }
        ptr = next;
    }
    return 0;
}

static int ck_cap_align(ctx *c, vs_err *e)
{
    (void)e;
    const vs_pcib_dev *d = &c->d;
    EXPECT(c, "pci.device.common-cfg.2", d->common.present,
           "expected a VIRTIO_PCI_CAP_COMMON_CFG capability, none found");
    EXPECT(c, "pci.device.notify-cap.1", d->notify.present,
           "expected a VIRTIO_PCI_CAP_NOTIFY_CFG capability, none found");
    EXPECT(c, "pci.device.isr.1", d->isr.present,
           "expected a VIRTIO_PCI_CAP_ISR_CFG capability, none found");
    EXPECT(c, "pci.device.pci-cfg-cap.1", d->pci_cfg_cap != 0,
           "expected a VIRTIO_PCI_CAP_PCI_CFG capability, none found");
    if (d->common.present)
        EXPECT(c, "pci.device.common-cfg.1", d->common.offset % 4 == 0,
               "expected common cfg offset 4-byte aligned, seen 0x%x", d->common.offset);
    if (d->device.present)
        EXPECT(c, "pci.device.device-cfg.1", d->device.offset % 4 == 0,
               "expected device cfg offset 4-byte aligned, seen 0x%x", d->device.offset);
    else
        NA(c, "pci.device.device-cfg.1", "no device-specific config capability");
    return 0;
}

static int ck_notify(ctx *c, vs_err *e)
{
    const vs_pcib_dev *d = &c->d;
    if (!d->notify.present) {
        NOTEX(c, "pci.device.notify-cap.2", "no notify capability");
        return 0;
    }
    bool nd = (c->offered & VS_BIT(VS_F_NOTIFICATION_DATA)) != 0;
    static const char *const ids_plain[] = {"pci.device.notify-cap.2", "pci.device.notify-cap.3",
                                            "pci.device.notify-cap.4", "pci.device.notify-cap.5",
                                            "pci.device.notify-cap.6"};
    static const char *const ids_nd[] = {"pci.device.notify-cap.8", "pci.device.notify-cap.7",
                                         "pci.device.notify-cap.9", "pci.device.notify-cap.10",
                                         "pci.device.notify-cap.11"};
    const char *const *ids = nd ? ids_nd : ids_plain;
    const char *const *other = nd ? ids_plain : ids_nd;
    for (int i = 0; i < 5; i++)
        NA(c, other[i], nd ? "NOTIFICATION_DATA offered" : "NOTIFICATION_DATA not offered");
    unsigned unit = nd ? 4 : 2;
    uint32_t m = d->notify_off_multiplier, len = d->notify.length;
    EXPECT(c, ids[0], d->notify.offset % unit == 0,
           "expected notify cap.offset %u-byte aligned, seen 0x%x", unit, d->notify.offset);
    EXPECT(c, ids[1], m == 0 || (vs__pci_is_pow2(m) && m % unit == 0),
           "expected notify_off_multiplier 0 or a power of two multiple of %u, seen %u", unit, m);
    EXPECT(c, ids[2], len >= unit, "expected notify cap.length >= %u, seen %u", unit, len);
    for (uint16_t q = 0; q < c->nq; q++) {
        uint64_t off = 0;
        int rc = cw(c, VS_VIRTIO_COMMON_Q_SELECT, 2, q, e);
        if (rc == 0)
            rc = cr(c, VS_VIRTIO_COMMON_Q_NOFF, 2, &off, e);
        if (rc < 0)
            return rc;
        uint64_t need = off * m + unit;
        EXPECT(c, ids[3], len >= need,
               "queue %u: expected cap.length to cover notify offset %" PRIu64 " + %u, seen %u",
               q, off * m, unit, len);
        EXPECT(c, ids[4], len >= need,
               "queue %u: expected cap.length >= queue_notify_off %" PRIu64 " * %u + %u, seen %u",
               q, off, m, unit, len);
    }
    return 0;
}

static int ck_features(ctx *c, vs_err *e)
{
    int rc = dev_reset(c, e);
    for (uint32_t sel = 0; rc == 0 && sel < 4; sel++) {
        uint64_t v = 0, v2 = 0;
        rc = cw(c, VS_VIRTIO_COMMON_DFSELECT, 4, sel, e);
        if (rc == 0)
            rc = cr(c, VS_VIRTIO_COMMON_DF, 4, &v, e);
        if (rc == 0)
            rc = cr(c, VS_VIRTIO_COMMON_DF, 4, &v2, e);
        if (rc < 0)
            break;
        uint64_t want = sel < 2 ? (uint32_t)(c->offered >> (32 * sel)) : 0;
        EXPECT(c, "pci.device.common-cfg.3", v == want && v2 == v,
               "device_feature_select %u: expected 0x%08" PRIx64 " (bits %u..%u), seen 0x%08" PRIx64,
               sel, want, 32 * sel, 32 * sel + 31, v);
    }
    if (rc == 0)
        rc = cw(c, VS_VIRTIO_COMMON_STATUS, 1, VS_STATUS_ACKNOWLEDGE, e);
    if (rc == 0)
        rc = cw(c, VS_VIRTIO_COMMON_STATUS, 1, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER, e);
    for (uint32_t sel = 0; rc == 0 && sel < 2; sel++) {
        uint32_t want = (uint32_t)(c->offered >> (32 * sel));
        uint64_t v = 0;
        rc = cw(c, VS_VIRTIO_COMMON_GFSELECT, 4, sel, e);
        if (rc == 0)
            rc = cw(c, VS_VIRTIO_COMMON_GF, 4, want, e);
        if (rc == 0)
            rc = cr(c, VS_VIRTIO_COMMON_GF, 4, &v, e);
        if (rc < 0)
            break;
        EXPECT(c, "pci.device.common-cfg.4", (uint32_t)v == want,
               "driver_feature_select %u: wrote offered bits 0x%08x, read back 0x%08" PRIx64,
               sel, want, v);
    }
    if (rc == 0)
        rc = dev_reset(c, e);
    return rc;
}

static int ck_generation(ctx *c, vs_err *e)
{
    if (!c->p->config_change) {
        NOTEX(c, "pci.device.common-cfg.5", "no config_change hook to provoke a change");
        return 0;
    }
    uint64_t g0 = 0, g1 = 0;
    uint8_t b = 0;
    int rc = dev_reset(c, e);
    if (rc == 0)
        rc = cr(c, VS_VIRTIO_COMMON_CFGGENERATION, 1, &g0, e);
    if (rc == 0 && c->d.device.addr)
        rc = vs_pcib_read8(c->b, c->d.device.addr, &b, e);
    if (rc == 0)
        rc = hook_cfg(c, e);
    if (rc == 0 && c->d.device.addr)
        rc = vs_pcib_read8(c->b, c->d.device.addr, &b, e);
    if (rc == 0)
        rc = cr(c, VS_VIRTIO_COMMON_CFGGENERATION, 1, &g1, e);
    if (rc < 0)
        return rc;
    EXPECT(c, "pci.device.common-cfg.5", g0 != g1,
           "expected config_generation to change across a config change, seen %" PRIu64
           " before and after", g0);
    return dev_reset(c, e);
}

static int ck_reset(ctx *c, vs_err *e)
{
    bool ok = false;
    int rc = negotiate(c, VS_BIT(VS_F_VERSION_1), &ok, e);
    for (uint16_t q = 0; rc == 0 && q < c->nq; q++)
        rc = setup_queue(c, q, e);
    if (rc == 0)
        rc = cw(c, VS_VIRTIO_COMMON_STATUS, 1, 0, e);
    uint64_t st = 0xff;
    int polls = 0;
    for (; rc == 0 && polls < 1000 && st != 0; polls++)
        rc = cr(c, VS_VIRTIO_COMMON_STATUS, 1, &st, e);
    if (rc < 0)
        return rc;
    EXPECT(c, "pci.device.common-cfg.6", st == 0,
           "expected device_status 0 after writing 0, seen 0x%02" PRIx64 " after %d reads", st,
           polls);
    for (uint16_t q = 0; q < c->nq; q++) {
        uint64_t en = 0;
        rc = cw(c, VS_VIRTIO_COMMON_Q_SELECT, 2, q, e);
        if (rc == 0)
            rc = cr(c, VS_VIRTIO_COMMON_Q_ENABLE, 2, &en, e);
        if (rc < 0)
            return rc;
        EXPECT(c, "pci.device.common-cfg.7", en == 0,
               "queue %u: expected queue_enable 0 after reset, seen %" PRIu64, q, en);
    }
    return dev_reset(c, e);
}

static int ck_queue_size(ctx *c, vs_err *e)
{
    const uint16_t absent[] = {c->nq, (uint16_t)(c->nq + 1), 0x7fff, 0xffff};
    int rc = dev_reset(c, e);
    for (size_t i = 0; rc == 0 && i < 4; i++) {
        if (absent[i] < c->nq)
            continue;
        uint64_t v = 0;
        rc = cw(c, VS_VIRTIO_COMMON_Q_SELECT, 2, absent[i], e);
        if (rc == 0)
            rc = cr(c, VS_VIRTIO_COMMON_Q_SIZE, 2, &v, e);
        if (rc == 0)
            EXPECT(c, "pci.device.common-cfg.13", v == 0,
                   "queue_select %u (num_queues %u): expected queue_size 0, seen %" PRIu64,
                   absent[i], c->nq, v);
    }
    bool ok = false;
    if (rc == 0)
        rc = negotiate(c, c->offered & VS_BIT(VS_F_VERSION_1), &ok, e);
    if (rc < 0)
        return rc;
    if (!ok) {
        NOTEX(c, "pci.device.common-cfg.14", "device refused VERSION_1 alone at FEATURES_OK");
    } else {
        for (uint16_t q = 0; q < c->nq; q++) {
            uint64_t v = 0;
            rc = cw(c, VS_VIRTIO_COMMON_Q_SELECT, 2, q, e);
            if (rc == 0)
                rc = cr(c, VS_VIRTIO_COMMON_Q_SIZE, 2, &v, e);
            if (rc < 0)
                return rc;
            EXPECT(c, "pci.device.common-cfg.14", v == 0 || vs__pci_is_pow2(v),
                   "queue %u, RING_PACKED not negotiated: expected queue_size 0 or a power "
                   "of two, seen %" PRIu64, q, v);
        }
    }
    return dev_reset(c, e);
}

static int ck_queue_reset(ctx *c, vs_err *e)
{
    static const char *const ids[] = {"pci.device.common-cfg.8", "pci.device.common-cfg.9",
                                       "pci.device.common-cfg.10", "pci.device.common-cfg.12"};
    if (!(c->offered & VS_BIT(VS_F_RING_RESET))) {
        for (int i = 0; i < 4; i++)
            NA(c, ids[i], "VIRTIO_F_RING_RESET not offered");
        return 0;
    }
    bool ok = false;
    int rc = negotiate(c, VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_F_RING_RESET), &ok, e);
    if (rc < 0)
        return rc;
    if (!ok || c->nq == 0) {
        for (int i = 0; i < 4; i++)
            NOTEX(c, ids[i], "VERSION_1|RING_RESET refused or no queues");
        return dev_reset(c, e);
    }
    for (uint16_t q = 0; q < c->nq; q++) {
        uint64_t v = 0;
        rc = cw(c, VS_VIRTIO_COMMON_Q_SELECT, 2, q, e);
        if (rc == 0)
            rc = cr(c, VS_VIRTIO_COMMON_Q_RESET, 2, &v, e);
        if (rc < 0)
            return rc;
        EXPECT(c, ids[0], v == 0, "queue %u: expected queue_reset 0 after reset, seen %" PRIu64,
               q, v);
    }
    uint64_t v = 0, en = 1, desc = 1;
    rc = setup_queue(c, 0, e);
    if (rc == 0)
        rc = cr(c, VS_VIRTIO_COMMON_Q_RESET, 2, &v, e);
    if (rc < 0)
        return rc;
    EXPECT(c, ids[1], v == 0, "queue 0 enabled: expected queue_reset 0, seen %" PRIu64, v);
    rc = cw(c, VS_VIRTIO_COMMON_Q_RESET, 2, 1, e);
    v = 1;
    for (int i = 0; rc == 0 && i < 1000 && v != 0; i++)
        rc = cr(c, VS_VIRTIO_COMMON_Q_RESET, 2, &v, e);
    if (rc == 0)
        rc = cr(c, VS_VIRTIO_COMMON_Q_ENABLE, 2, &en, e);
    if (rc == 0)
        rc = cr(c, VS_VIRTIO_COMMON_Q_DESCLO, 4, &desc, e);
    if (rc < 0)
        return rc;
    EXPECT(c, ids[3], v == 0 && en == 0,
           "after queue_reset=1: expected queue_reset 0 and queue_enable 0, seen %" PRIu64
           " and %" PRIu64, v, en);
    EXPECT(c, ids[2], v == 0 && desc == 0,
           "after queue_reset=1: expected queue_desc back to 0, seen 0x%" PRIx64, desc);
    return dev_reset(c, e);
}

static int vec_rw(ctx *c, int q, uint16_t vec, uint64_t *back, vs_err *e)
{
    int rc = 0;
    uint32_t off = VS_VIRTIO_COMMON_MSIX;
    if (q >= 0) {
        rc = cw(c, VS_VIRTIO_COMMON_Q_SELECT, 2, (uint16_t)q, e);
        off = VS_VIRTIO_COMMON_Q_MSIX;
    }
    if (rc == 0)
        rc = cw(c, off, 2, vec, e);
    if (rc == 0)
        rc = cr(c, off, 2, back, e);
    return rc;
}

static int ck_msix_vectors(ctx *c, vs_err *e)
{
    static const char *const ids[] = {"pci.device.msix.4", "pci.device.msix.5", "pci.device.msix.6",
                                      "pci.device.msix.7", "pci.device.msix.8", "pci.device.msix.9"};
    if (!c->d.msix.present) {
        for (int i = 0; i < 6; i++)
            NA(c, ids[i], "no MSI-X capability");
        return 0;
    }
    uint16_t n = c->d.msix.table_size;
    uint16_t lim = n > 64 ? 64 : n;
    int rc = dev_reset(c, e);
    for (int q = -1; rc == 0 && q < (int)c->nq; q++) {
        const char *what = q < 0 ? "config_msix_vector" : "queue_msix_vector";
        for (uint16_t v = 0; rc == 0 && v < lim; v++) {
            uint64_t back = 0;
            rc = vec_rw(c, q, v, &back, e);
            if (rc < 0)
                break;
            if (back == VS_PCI_NO_VECTOR)
                FAIL(c, ids[4], "%s (queue %d): valid vector %u refused (read NO_VECTOR)", what,
                     q, v);
            else
                PASS(c, ids[4]);
            EXPECT(c, ids[0], back == v, "%s (queue %d): mapped vector %u, read back %" PRIu64,
                   what, q, v, back);
            EXPECT(c, ids[2], back == v || back == VS_PCI_NO_VECTOR,
                   "%s (queue %d): mapped %u, read back %" PRIu64 " (neither it nor NO_VECTOR)",
                   what, q, v, back);
        }
        uint64_t back = 0;
        if (rc == 0)
            rc = vec_rw(c, q, VS_PCI_NO_VECTOR, &back, e);
        if (rc == 0) {
            EXPECT(c, ids[1], back == VS_PCI_NO_VECTOR,
                   "%s (queue %d): unmapped (NO_VECTOR), read back %" PRIu64, what, q, back);
            EXPECT(c, ids[2], back == VS_PCI_NO_VECTOR,
                   "%s (queue %d): unmapped, read back %" PRIu64, what, q, back);
        }
        const uint16_t beyond[] = {n, 0x7ff, 0x7fe};
        for (size_t i = 0; rc == 0 && i < 3; i++) {
            if (beyond[i] < n)
                continue;
            rc = vec_rw(c, q, beyond[i], &back, e);
            if (rc == 0)
                EXPECT(c, ids[5], back == VS_PCI_NO_VECTOR,
                       "%s (queue %d): vector %u beyond Table Size %u, expected NO_VECTOR, "
                       "read back %" PRIu64, what, q, beyond[i], n, back);
        }
        if (rc == 0)
            rc = vec_rw(c, q, 0, &back, e); /* leave mapped for the reset part */
    }
    if (rc == 0)
        rc = dev_reset(c, e);
    for (int q = -1; rc == 0 && q < (int)c->nq; q++) {
        uint64_t back = 0;
        if (q >= 0)
            rc = cw(c, VS_VIRTIO_COMMON_Q_SELECT, 2, (uint16_t)q, e);
        if (rc == 0)
            rc = cr(c, q < 0 ? VS_VIRTIO_COMMON_MSIX : VS_VIRTIO_COMMON_Q_MSIX, 2, &back, e);
        if (rc == 0)
            EXPECT(c, ids[3], back == VS_PCI_NO_VECTOR,
                   "%s (queue %d) after reset: expected NO_VECTOR, seen %" PRIu64,
                   q < 0 ? "config_msix_vector" : "queue_msix_vector", q, back);
    }
    return rc;
}

static int ck_msix_table(ctx *c, vs_err *e)
{
    (void)e;
    const vs_pcib_msix *m = &c->d.msix;
    if (!m->present) {
        NA(c, "pci.device.msix.1", "no MSI-X capability");
        NA(c, "pci.device.msix.2", "no MSI-X capability");
        return 0;
    }
    EXPECT(c, "pci.device.msix.1", m->table_size >= 2 && m->table_size <= 0x800,
           "expected 2..0x800 MSI-X vectors, seen %u", m->table_size);
    const vs_pcib_bar *tb = &c->d.bars[m->table_bar], *pb = &c->d.bars[m->pba_bar];
    uint64_t tend = (uint64_t)m->table_off + 16u * m->table_size;
    uint64_t pend = (uint64_t)m->pba_off + 8u * ((m->table_size + 63u) / 64u);
    bool overlap = m->table_bar == m->pba_bar && m->table_off < pend && m->pba_off < tend;
    EXPECT(c, "pci.device.msix.2",
           tb->present && !tb->io && tend <= tb->size && pb->present && !pb->io &&
               pend <= pb->size && !overlap,
           "Table Size %u: table [0x%x, 0x%" PRIx64 ") in BAR%u (0x%" PRIx64 " bytes), PBA "
           "[0x%x, 0x%" PRIx64 ") in BAR%u (0x%" PRIx64 " bytes)%s",
           m->table_size, m->table_off, tend, m->table_bar, tb->size, m->pba_off, pend,
           m->pba_bar, pb->size, overlap ? ": they overlap" : "");
    return 0;
}

static int isr_read(ctx *c, uint8_t *v, vs_err *e) { return vs_pcib_read8(c->b, c->d.isr.addr, v, e); }

static int ck_isr(ctx *c, vs_err *e)
{
    static const char *const ids[] = {"pci.device.isr.2", "pci.device.isr.3", "pci.device.isr.4",
                                      "pci.device.isr.5"};
    if (!c->d.isr.addr) {
        for (int i = 0; i < 4; i++)
            NOTEX(c, ids[i], "no ISR region");
        return 0;
    }
    if (!c->p->config_change && !c->p->queue_irq) {
        for (int i = 0; i < 4; i++)
            NOTEX(c, ids[i], "no config_change / queue_irq hook to provoke an interrupt");
        return 0;
    }
    int rc = dev_reset(c, e);
    if (rc == 0 && c->d.msix.present)
        rc = vs_pcib_msix_enable(c->b, &c->d, false, e);
    uint8_t junk;
    if (rc == 0)
        rc = isr_read(c, &junk, e);
    for (int round = 0; rc == 0 && round < 2; round++) {
        bool cfgchg = round == 0;
        if (cfgchg && !c->p->config_change) {
            NOTEX(c, ids[0], "no config_change hook");
            continue;
        }
        if (!cfgchg && (!c->p->queue_irq || c->nq == 0)) {
            NOTEX(c, ids[1], "no queue_irq hook");
            continue;
        }
        rc = cfgchg ? hook_cfg(c, e) : hook_q(c, 0, e);
        uint16_t st1 = 0, st2 = 0;
        uint8_t i1 = 0, i2 = 0;
        if (rc == 0)
            rc = vs_pcib_cfg_read16(c->b, VS_PCI_STATUS, &st1, e);
        if (rc == 0)
            rc = isr_read(c, &i1, e);
        if (rc == 0)
            rc = vs_pcib_cfg_read16(c->b, VS_PCI_STATUS, &st2, e);
        if (rc == 0)
            rc = isr_read(c, &i2, e);
        if (rc < 0)
            break;
        uint8_t bit = cfgchg ? VS_PCI_ISR_CONFIG : VS_PCI_ISR_QUEUE;
        EXPECT(c, ids[cfgchg ? 0 : 1], i1 & bit,
               "%s interrupt (INTx): expected ISR bit %u set, read 0x%02x",
               cfgchg ? "config" : "queue 0", cfgchg ? 1 : 0, i1);
        EXPECT(c, ids[2], !!(st1 & VS_PCI_STATUS_INTERRUPT) == (i1 != 0),
               "expected PCI Status bit 3 = (ISR != 0): Status 0x%04x, then ISR 0x%02x", st1, i1);
        EXPECT(c, ids[2], !!(st2 & VS_PCI_STATUS_INTERRUPT) == (i2 != 0),
               "expected PCI Status bit 3 = (ISR != 0): Status 0x%04x, then ISR 0x%02x", st2, i2);
        EXPECT(c, ids[3], i1 == 0 || i2 == 0,
               "ISR read 0x%02x, then again with no new event: expected 0, read 0x%02x", i1, i2);
    }
    if (rc == 0)
        rc = dev_reset(c, e);
    if (rc == 0)
        rc = isr_read(c, &junk, e);
    return rc;
}

static int ck_halves(ctx *c, vs_err *e)
{
    int rc = dev_reset(c, e);
    if (rc < 0 || c->nq == 0) {
        if (rc == 0)
            NOTEX(c, "pci.device.layout.1", "no queues");
        return rc;
    }
    const struct { uint32_t lo; bool high_first; } f[] = {
        {VS_VIRTIO_COMMON_Q_DESCLO, true}, {VS_VIRTIO_COMMON_Q_AVAILLO, false},
        {VS_VIRTIO_COMMON_Q_USEDLO, true}};
    rc = cw(c, VS_VIRTIO_COMMON_Q_SELECT, 2, 0, e);
    for (size_t i = 0; rc == 0 && i < 3; i++) {
        uint32_t lo = 0x9abc0000u + (uint32_t)i * 0x1000u, hi = 0x12u + (uint32_t)i;
        uint64_t rlo = 0, rhi = 0;
        if (f[i].high_first) {
            rc = cw(c, f[i].lo + 4, 4, hi, e);
            if (rc == 0)
                rc = cw(c, f[i].lo, 4, lo, e);
        } else {
            rc = cw(c, f[i].lo, 4, lo, e);
            if (rc == 0)
                rc = cw(c, f[i].lo + 4, 4, hi, e);
        }
        if (rc == 0)
            rc = cr(c, f[i].lo + 4, 4, &rhi, e);
        if (rc == 0)
            rc = cr(c, f[i].lo, 4, &rlo, e);
        if (rc == 0)
            EXPECT(c, "pci.device.layout.1", rlo == lo && rhi == hi,
                   "common cfg 0x%02x: wrote %s half first (hi 0x%08x, lo 0x%08x), read back "
                   "hi 0x%08" PRIx64 " lo 0x%08" PRIx64, f[i].lo, f[i].high_first ? "high" : "low",
                   hi, lo, rhi, rlo);
    }
    if (rc == 0)
        rc = dev_reset(c, e);
    return rc;
}

static int ck_devcfg_widths(ctx *c, vs_err *e)
{
    if (!c->d.device.addr) {
        NA(c, "pci.device.layout.1", "no device-specific config");
        return 0;
    }
    uint32_t len = c->d.device.length < 64 ? c->d.device.length & ~3u : 64;
    /* Drivers access fields at their natural width, so only the span of multi-byte fields
     * is compared: a wide read that crosses a device's config end may legitimately read
     * all-ones (QEMU does), while the single bytes still read the field and padding. */
    uint16_t type = c->d.device_id >= 0x1040 ? (uint16_t)(c->d.device_id - 0x1040) : 0;
    const vs_device_class *cls = vs_device_class_by_id(type);
    if (cls && cls->pci_wide_fields_end && len > cls->pci_wide_fields_end)
        len = cls->pci_wide_fields_end; /* u8 fields and padding follow */
    uint64_t base = c->d.device.addr;
    if (base % 4) {
        NOTEX(c, "pci.device.layout.1", "device config at a misaligned address 0x%" PRIx64
              ": 16/32-bit accesses impossible", base);
        return 0;
    }
    for (int attempt = 0; attempt < 4; attempt++) {
        uint64_t g0 = 0, g1 = 0;
        uint8_t bytes[64];
        int rc = cr(c, VS_VIRTIO_COMMON_CFGGENERATION, 1, &g0, e);
        for (uint32_t i = 0; rc == 0 && i < len; i++)
            rc = vs_pcib_read8(c->b, base + i, &bytes[i], e);
        bool bad = false;
        char ev[160] = "";
        for (uint32_t i = 0; rc == 0 && i < len && !bad; i += 2) {
            uint16_t v = 0;
            rc = vs_pcib_read16(c->b, base + i, &v, e);
            uint16_t want = (uint16_t)(bytes[i] | bytes[i + 1] << 8);
            if (rc == 0 && v != want) {
                bad = true;
                snprintf(ev, sizeof ev, "offset %u: 16-bit read 0x%04x, bytes say 0x%04x", i, v,
                         want);
            }
        }
        for (uint32_t i = 0; rc == 0 && i < len && !bad; i += 4) {
            uint32_t v = 0;
            rc = vs_pcib_read32(c->b, base + i, &v, e);
            uint32_t want = (uint32_t)bytes[i] | (uint32_t)bytes[i + 1] << 8 |
                            (uint32_t)bytes[i + 2] << 16 | (uint32_t)bytes[i + 3] << 24;
            if (rc == 0 && v != want) {
                bad = true;
                snprintf(ev, sizeof ev, "offset %u: 32-bit read 0x%08x, bytes say 0x%08x", i, v,
                         want);
            }
        }
        if (rc == 0)
            rc = cr(c, VS_VIRTIO_COMMON_CFGGENERATION, 1, &g1, e);
        if (rc < 0)
            return rc;
        if (g0 != g1)
            continue; /* config changed under us: retry */
        EXPECT(c, "pci.device.layout.1", !bad, "device config widths disagree: %s", ev);
        return 0;
    }
    NOTEX(c, "pci.device.layout.1", "config_generation never stable over 4 attempts");
    return 0;
}

static int window(ctx *c, uint8_t bar, uint32_t off, uint32_t len, bool write, uint32_t *v,
                  vs_err *e)
{
    uint16_t cap = c->d.pci_cfg_cap;
    int rc = vs_pcib_cfg_write8(c->b, (uint16_t)(cap + 4), bar, e);
    if (rc == 0)
        rc = vs_pcib_cfg_write32(c->b, (uint16_t)(cap + 8), off, e);
    if (rc == 0)
        rc = vs_pcib_cfg_write32(c->b, (uint16_t)(cap + 12), len, e);
    if (rc < 0)
        return rc;
    if (write)
        return len == 2 ? vs_pcib_cfg_write16(c->b, (uint16_t)(cap + 16), (uint16_t)*v, e)
                        : vs_pcib_cfg_write32(c->b, (uint16_t)(cap + 16), *v, e);
    if (len == 2) {
        uint16_t x = 0;
        rc = vs_pcib_cfg_read16(c->b, (uint16_t)(cap + 16), &x, e);
        *v = x;
        return rc;
    }
    return vs_pcib_cfg_read32(c->b, (uint16_t)(cap + 16), v, e);
}

static int ck_window(ctx *c, vs_err *e)
{
    if (!c->d.pci_cfg_cap || !c->d.common.present) {
        NA(c, "pci.device.pci-cfg-cap.2", "no PCI_CFG capability");
        NA(c, "pci.device.pci-cfg-cap.3", "no PCI_CFG capability");
        return 0;
    }
    int rc = dev_reset(c, e);
    uint64_t direct = 0;
    uint32_t via = 0xdead;
    if (rc == 0)
        rc = cr(c, VS_VIRTIO_COMMON_NUMQ, 2, &direct, e);
    if (rc == 0)
        rc = window(c, c->d.common.bar, c->d.common.offset + VS_VIRTIO_COMMON_NUMQ, 2, false,
                    &via, e);
    if (rc < 0)
        return rc;
    EXPECT(c, "pci.device.pci-cfg-cap.3", via == direct,
           "num_queues through pci_cfg_data read 0x%04x, directly 0x%04" PRIx64, via, direct);
    uint32_t sel = c->nq > 1 ? 1 : 0x5a;
    rc = window(c, c->d.common.bar, c->d.common.offset + VS_VIRTIO_COMMON_Q_SELECT, 2, true,
                &sel, e);
    if (rc == 0)
        rc = cr(c, VS_VIRTIO_COMMON_Q_SELECT, 2, &direct, e);
    if (rc < 0)
        return rc;
    EXPECT(c, "pci.device.pci-cfg-cap.2", direct == sel,
           "wrote queue_select 0x%04x through pci_cfg_data, direct read 0x%04" PRIx64, sel,
           direct);
    return dev_reset(c, e);
}

static int ck_no_vector(ctx *c, vs_err *e)
{
    static const char *const ids[] = {"pci.device.config-notif.1", "pci.device.used-notif.1"};
    if (!c->d.msix.present) {
        NA(c, ids[0], "no MSI-X capability");
        NA(c, ids[1], "no MSI-X capability");
        return 0;
    }
    if (!c->p->gm || !c->p->msix_target) {
        NOTEX(c, ids[0], "no guest memory target for MSI-X messages");
        NOTEX(c, ids[1], "no guest memory target for MSI-X messages");
        return 0;
    }
    uint16_t n = c->d.msix.table_size > 16 ? 16 : c->d.msix.table_size;
    int rc = dev_reset(c, e);
    for (uint16_t v = 0; rc == 0 && v < n; v++)
        rc = vs_pcib_msix_set_entry(c->b, &c->d, v, c->p->msix_target + 4u * v,
                                    0xa5a50000u | v, false, e);
    if (rc == 0)
        rc = vs_pcib_msix_enable(c->b, &c->d, true, e);
    for (int round = 0; rc == 0 && round < 2; round++) {
        bool cfgchg = round == 0;
        if ((cfgchg && !c->p->config_change) || (!cfgchg && (!c->p->queue_irq || !c->nq))) {
            NOTEX(c, ids[round], "no hook to provoke the interrupt");
            continue;
        }
        rc = vs_gmem_fill(c->p->gm, c->p->msix_target, 0, 4u * n, e);
        if (rc == 0)
            rc = cfgchg ? hook_cfg(c, e) : hook_q(c, 0, e);
        uint32_t hit = 0;
        uint16_t at = 0;
        for (uint16_t v = 0; rc == 0 && v < n && !hit; v++) {
            rc = vs_gmem_ld32(c->p->gm, c->p->msix_target + 4u * v, &hit, e);
            at = v;
        }
        if (rc < 0)
            break;
        EXPECT(c, ids[round], hit == 0,
               "%s mapped to NO_VECTOR with MSI-X enabled: expected no message, vector %u "
               "wrote 0x%08x", cfgchg ? "config change" : "queue 0", at, hit);
    }
    if (rc == 0)
        rc = vs_pcib_msix_enable(c->b, &c->d, false, e);
    if (rc == 0)
        rc = dev_reset(c, e);
    return rc;
}

typedef int (*probe_fn)(ctx *c, vs_err *e);
static const struct { const char *name; probe_fn fn; } probes[] = {
    {"pci-ids", ck_ids},
    {"cap-list", ck_cap_list},
    {"cap-align", ck_cap_align},
    {"notify-cap", ck_notify},
    {"feature-windows", ck_features},
    {"config-generation", ck_generation},
    {"reset", ck_reset},
    {"queue-size", ck_queue_size},
    {"queue-reset", ck_queue_reset},
    {"msix-vectors", ck_msix_vectors},
    {"msix-table", ck_msix_table},
    {"isr", ck_isr},
    {"cfg-64bit-halves", ck_halves},
    {"device-cfg-widths", ck_devcfg_widths},
    {"pci-cfg-window", ck_window},
    {"no-vector-silent", ck_no_vector},
};

int vs_pci_check_probe(const vs_pci_probe *p, const char *name, vs_pci_findings *out,
                       vs_err *e)
{
    if (!p || !out || !p->bus.ops)
        return vs_err_set(e, VS_EINVAL, "pci checks: probe, bus and findings required");
    const vs_pci_check_info *info = name ? vs_pci_check_find(name) : NULL;
    if (name && (!info || info->kind != VS_PCI_CHECK_PROBE))
        return vs_err_set(e, VS_EINVAL, "pci checks: no probe check '%s'", name);
    ctx c = {.p = p, .b = p->bus, .out = out};
    int rc = vs_pcib_virtio_setup(p->bus, p->mmio_base, p->mmio_end, &c.d, e);
    if (rc < 0)
        return vs_err_prefix(e, "pci checks: enumeration");
    uint64_t nq = 0;
    rc = read_offered(&c, e);
    if (rc == 0)
        rc = cr(&c, VS_VIRTIO_COMMON_NUMQ, 2, &nq, e);
    if (rc < 0)
        return rc;
    c.nq = (uint16_t)nq;
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++) {
        if (name && strcmp(name, probes[i].name) != 0)
            continue;
        c.check = vs_pci_check_find(probes[i].name)->name;
        rc = probes[i].fn(&c, e);
        if (rc < 0)
            return vs_err_prefix(e, "pci check %s", probes[i].name);
    }
    return 0;
}

/* ------------------------------------------------------------------ log checks */

typedef struct logstate {
    uint64_t gf;            /* driver features written */
    uint32_t gfsel;
    uint64_t negotiated;
    bool features_ok;
} logstate;

static void track(logstate *s, const vs_pci_access *a)
{
    if (a->space != VS_PCI_SPACE_MMIO || !a->write || a->region != VS_PCI_REG_COMMON)
        return;
    if (a->roff == VS_VIRTIO_COMMON_GFSELECT && a->width == 4)
        s->gfsel = (uint32_t)a->val;
    else if (a->roff == VS_VIRTIO_COMMON_GF && a->width == 4 && s->gfsel < 2)
        s->gf = (s->gf & ~(0xffffffffull << (32 * s->gfsel))) |
                (a->val & 0xffffffffull) << (32 * s->gfsel);
    else if (a->roff == VS_VIRTIO_COMMON_STATUS && a->width == 1) {
        if (a->val == 0) {
            memset(s, 0, sizeof *s);
        } else if ((a->val & VS_STATUS_FEATURES_OK) && !s->features_ok) {
            s->features_ok = true;
            s->negotiated = s->gf;
        }
    }
}

unsigned vs__pci_common_width(uint32_t off)
{
    if (off < 0x10)
        return off % 4 == 0 ? 4 : 0;
    if (off == VS_VIRTIO_COMMON_STATUS || off == VS_VIRTIO_COMMON_CFGGENERATION)
        return 1;
    if (off < 0x20 || (off >= 0x38 && off < 0x40))
        return off % 2 == 0 ? 2 : 0;
    if (off < 0x38)
        return off % 4 == 0 ? 4 : 0;
    return 0;
}

int vs_pci_check_log(const vs_pci_access *log, size_t n, const char *name,
                     vs_pci_findings *out, vs_err *e)
{
    if (!out || (n && !log))
        return vs_err_set(e, VS_EINVAL, "pci log checks: log and findings required");
    const vs_pci_check_info *info = name ? vs_pci_check_find(name) : NULL;
    if (name && (!info || info->kind != VS_PCI_CHECK_LOG))
        return vs_err_set(e, VS_EINVAL, "pci checks: no log check '%s'", name);
#define WANT(nm) (!name || strcmp(name, nm) == 0)
    ctx c = {.out = out};
    logstate s = {0};
    vs_pci_drv_judge j;
    vs_pci_drv_judge_init(&j, out, NULL);
    bool isr_seen = false, irq_since = false;
    for (size_t i = 0; i < n; i++) {
        const vs_pci_access *a = &log[i];
        if (a->space == VS_PCI_SPACE_IRQ) {
            irq_since = true;
            continue;
        }
        if (a->space != VS_PCI_SPACE_MMIO)
            continue;
        if (WANT("log-isr-clear") && a->region == VS_PCI_REG_ISR && !a->write && a->roff == 0) {
            c.check = "log-isr-clear";
            if (isr_seen && !irq_since)
                EXPECT(&c, "pci.device.isr.5", a->val == 0,
                       "access %zu: ISR read 0x%02" PRIx64 " with no interrupt since the "
                       "previous ISR read", i, a->val);
            isr_seen = true;
            irq_since = false;
        }
        if (a->region == VS_PCI_REG_COMMON) {
            if (WANT("log-queue-size") && !a->write && a->roff == VS_VIRTIO_COMMON_Q_SIZE &&
                a->width == 2 && s.features_ok) {
                c.check = "log-queue-size";
                if (s.negotiated & VS_BIT(VS_F_RING_PACKED))
                    NA(&c, "pci.device.common-cfg.14", "RING_PACKED negotiated");
                else
                    EXPECT(&c, "pci.device.common-cfg.14", a->val == 0 || vs__pci_is_pow2(a->val),
                           "access %zu: queue %d queue_size read %" PRIu64, i, a->queue, a->val);
            }
            track(&s, a);
        }
        vs__pci_drv_access(&j, a, i, name);
    }
#undef WANT
    return 0;
}
