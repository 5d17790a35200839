#define _GNU_SOURCE
#include "pci_qtest.h"

#include <inttypes.h>
#include <string.h>

#define CF8 0xCF8
#define CFC 0xCFC

static uint32_t cfg_addr(vs_pci_bdf d, uint8_t off)
{
    return 0x80000000u | ((uint32_t)d.bus << 16) | ((uint32_t)(d.dev & 31) << 11) |
           ((uint32_t)(d.fn & 7) << 8) | (off & 0xFCu);
}

static int cfg_read(vs_qtest *q, vs_pci_bdf d, uint8_t off, unsigned size, uint32_t *v,
                    vs_err *e)
{
    if ((size == 2 && (off & 1)) || (size == 4 && (off & 3)))
        return vs_err_set(e, VS_EINVAL, "pci: unaligned %u-byte config read at 0x%x", size,
                          off);
    uint64_t r = 0;
    enum vs_qtest_op op = size == 1 ? VS_QT_INB : size == 2 ? VS_QT_INW : VS_QT_INL;
    int rc = vs_qtest_queue(q, VS_QT_OUTL, CF8, cfg_addr(d, off), NULL, e);
    if (rc == 0)
        rc = vs_qtest_queue(q, op, CFC + (off & 3u), 0, &r, e);
    if (rc == 0)
        rc = vs_qtest_flush(q, e);
    if (rc < 0)
        return rc;
    *v = (uint32_t)r;
    return 0;
}

static int cfg_write(vs_qtest *q, vs_pci_bdf d, uint8_t off, unsigned size, uint32_t v,
                     vs_err *e)
{
    if ((size == 2 && (off & 1)) || (size == 4 && (off & 3)))
        return vs_err_set(e, VS_EINVAL, "pci: unaligned %u-byte config write at 0x%x", size,
                          off);
    enum vs_qtest_op op = size == 1 ? VS_QT_OUTB : size == 2 ? VS_QT_OUTW : VS_QT_OUTL;
    int rc = vs_qtest_queue(q, VS_QT_OUTL, CF8, cfg_addr(d, off), NULL, e);
    if (rc == 0)
        rc = vs_qtest_queue(q, op, CFC + (off & 3u), v, NULL, e);
    if (rc == 0)
        rc = vs_qtest_flush(q, e);
    return rc;
}

int vs_pci_cfg_read8(vs_qtest *q, vs_pci_bdf d, uint8_t off, uint8_t *v, vs_err *e)
{
    uint32_t x = 0;
    int rc = cfg_read(q, d, off, 1, &x, e);
    if (rc == 0 && v)
        *v = (uint8_t)x;
    return rc;
}
int vs_pci_cfg_read16(vs_qtest *q, vs_pci_bdf d, uint8_t off, uint16_t *v, vs_err *e)
{
    uint32_t x = 0;
    int rc = cfg_read(q, d, off, 2, &x, e);
    if (rc == 0 && v)
        *v = (uint16_t)x;
    return rc;
}
int vs_pci_cfg_read32(vs_qtest *q, vs_pci_bdf d, uint8_t off, uint32_t *v, vs_err *e)
{
    uint32_t x = 0;
    int rc = cfg_read(q, d, off, 4, &x, e);
    if (rc == 0 && v)
        *v = x;
    return rc;
}
int vs_pci_cfg_write8(vs_qtest *q, vs_pci_bdf d, uint8_t off, uint8_t v, vs_err *e)
{
    return cfg_write(q, d, off, 1, v, e);
}
int vs_pci_cfg_write16(vs_qtest *q, vs_pci_bdf d, uint8_t off, uint16_t v, vs_err *e)
{
    return cfg_write(q, d, off, 2, v, e);
}
int vs_pci_cfg_write32(vs_qtest *q, vs_pci_bdf d, uint8_t off, uint32_t v, vs_err *e)
{
    return cfg_write(q, d, off, 4, v, e);
}

/* ------------------------------------------------------------------ scan */

static int read_func(vs_qtest *q, vs_pci_bdf d, uint32_t id, vs_pci_func *f, vs_err *e)
{
    uint32_t cls = 0, hdr = 0, sub = 0;
    int rc = vs_pci_cfg_read32(q, d, VS_PCI_CLASS_REV, &cls, e);
    if (rc == 0)
        rc = vs_pci_cfg_read32(q, d, 0x0C, &hdr, e);
    if (rc == 0)
        rc = vs_pci_cfg_read32(q, d, VS_PCI_SUBSYS_VENDOR, &sub, e);
    if (rc < 0)
        return rc;
    memset(f, 0, sizeof *f);
    f->bdf = d;
    f->vendor = (uint16_t)id;
    f->device = (uint16_t)(id >> 16);
    f->revision = (uint8_t)cls;
    f->prog_if = (uint8_t)(cls >> 8);
    f->subclass = (uint8_t)(cls >> 16);
    f->class_code = (uint8_t)(cls >> 24);
    f->header_type = (uint8_t)((hdr >> 16) & 0x7f);
    f->subsys_vendor = (uint16_t)sub;
    f->subsys_id = (uint16_t)(sub >> 16);
    return 0;
}

int vs_pci_scan_bus0(vs_qtest *q, vs_pci_func *out, size_t max, size_t *n, vs_err *e)
{
    size_t found = 0;
    /* One pipelined batch reads vendor/device of function 0 of all 32 slots. */
    uint64_t ids[32];
    int rc = 0;
    for (unsigned dev = 0; dev < 32 && rc == 0; dev++) {
        vs_pci_bdf d = { 0, (uint8_t)dev, 0 };
        ids[dev] = 0xffffffffu;
        rc = vs_qtest_queue(q, VS_QT_OUTL, CF8, cfg_addr(d, 0), NULL, e);
        if (rc == 0)
            rc = vs_qtest_queue(q, VS_QT_INL, CFC, 0, &ids[dev], e);
    }
    if (rc == 0)
        rc = vs_qtest_flush(q, e);
    if (rc < 0)
        return rc;
    for (unsigned dev = 0; dev < 32; dev++) {
        if ((ids[dev] & 0xffff) == 0xffff || (ids[dev] & 0xffff) == 0)
            continue;
        vs_pci_bdf d0 = { 0, (uint8_t)dev, 0 };
        uint8_t hdr = 0;
        rc = vs_pci_cfg_read8(q, d0, VS_PCI_HEADER_TYPE, &hdr, e);
        if (rc < 0)
            return rc;
        unsigned nfn = (hdr & 0x80) ? 8 : 1;
        for (unsigned fn = 0; fn < nfn; fn++) {
            vs_pci_bdf d = { 0, (uint8_t)dev, (uint8_t)fn };
            uint32_t id = (uint32_t)ids[dev];
            if (fn) {
                rc = vs_pci_cfg_read32(q, d, 0, &id, e);
                if (rc < 0)
                    return rc;
                if ((id & 0xffff) == 0xffff || (id & 0xffff) == 0)
                    continue;
            }
            if (found < max && out) {
                rc = read_func(q, d, id, &out[found], e);
                if (rc < 0)
                    return rc;
            }
            found++;
        }
    }
    if (n)
        *n = found;
    return 0;
}

int vs_pci_find(vs_qtest *q, uint16_t vendor, uint16_t device, unsigned index,
                vs_pci_func *out, vs_err *e)
{
    vs_pci_func fs[64];
    size_t n = 0;
    int rc = vs_pci_scan_bus0(q, fs, 64, &n, e);
    if (rc < 0)
        return rc;
    if (n > 64)
        n = 64;
    for (size_t i = 0; i < n; i++) {
        if (fs[i].vendor == vendor && fs[i].device == device) {
            if (index-- == 0) {
                if (out)
                    *out = fs[i];
                return 0;
            }
        }
    }
    return vs_err_set(e, VS_ERANGE, "pci: no device %04x:%04x (instance %u) on bus 0", vendor,
                      device, index);
}

int vs_pci_find_virtio(vs_qtest *q, unsigned virtio_type, unsigned index, vs_pci_func *out,
                       vs_err *e)
{
    if (virtio_type > 0xff)
        return vs_err_set(e, VS_EINVAL, "pci: bad virtio type %u", virtio_type);
    return vs_pci_find(q, VS_PCI_VENDOR_VIRTIO,
                       (uint16_t)VS_PCI_DEVICE_VIRTIO_MODERN(virtio_type), index, out, e);
}

/* ------------------------------------------------------------------ BARs */

void vs_pci_alloc_init(vs_pci_alloc *a, uint64_t mmio_base, uint64_t mmio_end,
                       uint32_t io_base, uint32_t io_end)
{
    a->mmio_next = mmio_base;
    a->mmio_end = mmio_end;
    a->io_next = io_base;
    a->io_end = io_end;
}

void vs_pci_alloc_default(vs_pci_alloc *a)
{
    vs_pci_alloc_init(a, VS_PCI_MMIO_BASE, VS_PCI_MMIO_END, VS_PCI_IO_BASE, VS_PCI_IO_END);
}

int vs_pci_command(vs_qtest *q, vs_pci_bdf d, uint16_t set, uint16_t clear, vs_err *e)
{
    uint16_t cmd = 0;
    int rc = vs_pci_cfg_read16(q, d, VS_PCI_COMMAND, &cmd, e);
    if (rc < 0)
        return rc;
    cmd = (uint16_t)((cmd & ~clear) | set);
    return vs_pci_cfg_write16(q, d, VS_PCI_COMMAND, cmd, e);
}

int vs_pci_assign_bars(vs_qtest *q, vs_pci_alloc *a, vs_pci_bdf d, vs_pci_bar bars[6],
                       vs_err *e)
{
    memset(bars, 0, 6 * sizeof bars[0]);
    int rc = vs_pci_command(q, d, 0, VS_PCI_CMD_IO | VS_PCI_CMD_MEM, e);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < 6; i++) {
        uint8_t off = (uint8_t)(VS_PCI_BAR0 + 4 * i);
        uint32_t orig = 0, lo = 0, hi = 0;
        rc = vs_pci_cfg_read32(q, d, off, &orig, e);
        if (rc == 0)
            rc = vs_pci_cfg_write32(q, d, off, 0xffffffffu, e);
        if (rc == 0)
            rc = vs_pci_cfg_read32(q, d, off, &lo, e);
        if (rc < 0)
            return rc;
        vs_pci_bar *b = &bars[i];
        if (orig & 1) { /* I/O */
            uint32_t mask = lo & ~3u & 0xffffu;
            if (!mask)
                continue;
            uint32_t size = (~mask + 1) & 0xffffu;
            if (!size)
                continue;
            uint32_t base = (a->io_next + size - 1) & ~(size - 1);
            if (base + size > a->io_end)
                return vs_err_set(e, VS_ENOSPC, "pci %02x:%02x.%x: BAR%u: I/O window full",
                                  d.bus, d.dev, d.fn, i);
            a->io_next = base + size;
            b->present = b->io = true;
            b->size = size;
            b->addr = base;
            rc = vs_pci_cfg_write32(q, d, off, base, e);
            if (rc < 0)
                return rc;
            continue;
        }
        bool is64 = ((orig >> 1) & 3) == 2;
        if (is64 && i == 5)
            return vs_err_set(e, VS_EPROTO, "pci %02x:%02x.%x: 64-bit BAR5", d.bus, d.dev,
                              d.fn);
        if (is64) {
            rc = vs_pci_cfg_write32(q, d, (uint8_t)(off + 4), 0xffffffffu, e);
            if (rc == 0)
                rc = vs_pci_cfg_read32(q, d, (uint8_t)(off + 4), &hi, e);
            if (rc < 0)
                return rc;
        }
        uint64_t mask = ((uint64_t)hi << 32) | (lo & ~0xFu);
        if (!is64)
            mask |= 0xffffffff00000000ull;
        if ((lo & ~0xFu) == 0 && hi == 0) {
            if (is64)
                i++;
            continue;
        }
        uint64_t size = ~mask + 1;
        uint64_t base = (a->mmio_next + size - 1) & ~(size - 1);
        if (base + size > a->mmio_end || base + size < base)
            return vs_err_set(e, VS_ENOSPC,
                              "pci %02x:%02x.%x: BAR%u (0x%" PRIx64 " bytes): MMIO window full",
                              d.bus, d.dev, d.fn, i, size);
        a->mmio_next = base + size;
        b->present = true;
        b->is64 = is64;
        b->prefetch = (orig & 8) != 0;
        b->size = size;
        b->addr = base;
        rc = vs_pci_cfg_write32(q, d, off, (uint32_t)base, e);
        if (rc == 0 && is64)
            rc = vs_pci_cfg_write32(q, d, (uint8_t)(off + 4), (uint32_t)(base >> 32), e);
        if (rc < 0)
            return rc;
        if (is64)
            i++; /* upper half slot */
    }
    return 0;
}

/* ------------------------------------------------------------------ caps */

int vs_pci_find_cap(vs_qtest *q, vs_pci_bdf d, uint8_t cap_id, uint8_t after, uint8_t *off,
                    vs_err *e)
{
    *off = 0;
    uint16_t status = 0;
    int rc = vs_pci_cfg_read16(q, d, VS_PCI_STATUS, &status, e);
    if (rc < 0)
        return rc;
    if (!(status & VS_PCI_STATUS_CAP_LIST))
        return 0;
    uint8_t ptr = 0;
    if (after) {
        rc = vs_pci_cfg_read8(q, d, (uint8_t)(after + 1), &ptr, e);
    } else {
        rc = vs_pci_cfg_read8(q, d, VS_PCI_CAP_PTR, &ptr, e);
    }
    if (rc < 0)
        return rc;
    for (int guard = 0; ptr >= 0x40 && guard < 48; guard++) {
        ptr &= 0xFC;
        uint16_t hdr = 0;
        rc = vs_pci_cfg_read16(q, d, ptr, &hdr, e);
        if (rc < 0)
            return rc;
        if ((hdr & 0xff) == cap_id) {
            *off = ptr;
            return 0;
        }
        ptr = (uint8_t)(hdr >> 8);
    }
    return 0;
}

int vs_pci_msix_read(vs_qtest *q, vs_pci_bdf d, const vs_pci_bar bars[6], vs_pci_msix *m,
                     vs_err *e)
{
    memset(m, 0, sizeof *m);
    uint8_t cap;
    int rc = vs_pci_find_cap(q, d, VS_PCI_CAP_ID_MSIX, 0, &cap, e);
    if (rc < 0 || !cap)
        return rc;
    uint16_t ctl = 0;
    uint32_t tbl = 0, pba = 0;
    rc = vs_pci_cfg_read16(q, d, (uint8_t)(cap + 2), &ctl, e);
    if (rc == 0)
        rc = vs_pci_cfg_read32(q, d, (uint8_t)(cap + 4), &tbl, e);
    if (rc == 0)
        rc = vs_pci_cfg_read32(q, d, (uint8_t)(cap + 8), &pba, e);
    if (rc < 0)
        return rc;
    m->present = true;
    m->cap = cap;
    m->table_size = (uint16_t)((ctl & 0x7ff) + 1);
    m->table_bar = tbl & 7;
    m->table_off = tbl & ~7u;
    m->pba_bar = pba & 7;
    m->pba_off = pba & ~7u;
    if (m->table_bar > 5 || m->pba_bar > 5)
        return vs_err_set(e, VS_EPROTO, "pci: MSI-X BIR out of range");
    if (bars && bars[m->table_bar].present && bars[m->table_bar].addr)
        m->table_gpa = bars[m->table_bar].addr + m->table_off;
    if (bars && bars[m->pba_bar].present && bars[m->pba_bar].addr)
        m->pba_gpa = bars[m->pba_bar].addr + m->pba_off;
    return 0;
}

int vs_pci_virtio_caps(vs_qtest *q, vs_pci_bdf d, const vs_pci_bar bars[6],
                       vs_virtio_pci_caps *out, vs_err *e)
{
    memset(out, 0, sizeof *out);
    uint8_t cap = 0;
    for (int guard = 0; guard < 48; guard++) {
        int rc = vs_pci_find_cap(q, d, VS_PCI_CAP_ID_VNDR, cap, &cap, e);
        if (rc < 0)
            return rc;
        if (!cap)
            break;
        uint32_t w0 = 0, off = 0, len = 0;
        uint8_t bar = 0;
        rc = vs_pci_cfg_read32(q, d, cap, &w0, e);
        if (rc == 0)
            rc = vs_pci_cfg_read8(q, d, (uint8_t)(cap + 4), &bar, e);
        if (rc == 0)
            rc = vs_pci_cfg_read32(q, d, (uint8_t)(cap + 8), &off, e);
        if (rc == 0)
            rc = vs_pci_cfg_read32(q, d, (uint8_t)(cap + 12), &len, e);
        if (rc < 0)
            return rc;
        uint8_t cap_len = (uint8_t)(w0 >> 16), type = (uint8_t)(w0 >> 24);
        if (cap_len < 16)
            continue;
        vs_pci_region *r = NULL;
        switch (type) {
        case VS_VIRTIO_PCI_CAP_COMMON: r = &out->common; break;
        case VS_VIRTIO_PCI_CAP_NOTIFY: r = &out->notify; break;
        case VS_VIRTIO_PCI_CAP_ISR: r = &out->isr; break;
        case VS_VIRTIO_PCI_CAP_DEVICE: r = &out->device; break;
        case VS_VIRTIO_PCI_CAP_PCI_CFG:
            if (!out->pci_cfg_cap)
                out->pci_cfg_cap = cap;
            continue;
        default:
            continue; /* vendor-specific, shared memory, ... */
        }
        if (r->present || bar > 5)
            continue; /* the first cap of a type wins; reserved BAR values ignored */
        r->present = true;
        r->bar = bar;
        r->offset = off;
        r->length = len;
        if (bars && bars[bar].present && bars[bar].addr)
            r->gpa = bars[bar].addr + off;
        if (type == VS_VIRTIO_PCI_CAP_NOTIFY) {
            if (cap_len < 20)
                return vs_err_set(e, VS_EPROTO, "pci: notify cap too short (%u)", cap_len);
            rc = vs_pci_cfg_read32(q, d, (uint8_t)(cap + 16), &out->notify_off_multiplier, e);
            if (rc < 0)
                return rc;
        }
    }
    return vs_pci_msix_read(q, d, bars, &out->msix, e);
}

int vs_pci_msix_enable(vs_qtest *q, vs_pci_bdf d, const vs_pci_msix *m, bool enable,
                       vs_err *e)
{
    if (!m || !m->present)
        return vs_err_set(e, VS_ENOTSUP, "pci: no MSI-X capability");
    uint16_t ctl = 0;
    int rc = vs_pci_cfg_read16(q, d, (uint8_t)(m->cap + 2), &ctl, e);
    if (rc < 0)
        return rc;
    if (enable)
        ctl = (uint16_t)((ctl | 0x8000u) & ~0x4000u);
    else
        ctl = (uint16_t)(ctl & ~0x8000u);
    return vs_pci_cfg_write16(q, d, (uint8_t)(m->cap + 2), ctl, e);
}

int vs_pci_msix_set_entry(vs_qtest *q, const vs_pci_msix *m, uint16_t entry, uint64_t addr,
                          uint32_t data, bool masked, vs_err *e)
{
    if (!m || !m->present || !m->table_gpa)
        return vs_err_set(e, VS_ENOTSUP, "pci: MSI-X table not mapped");
    if (entry >= m->table_size)
        return vs_err_set(e, VS_ERANGE, "pci: MSI-X entry %u >= table size %u", entry,
                          m->table_size);
    uint64_t t = m->table_gpa + 16u * entry;
    /* mask first so the entry never fires half-written, then address, data, unmask */
    int rc = vs_qtest_queue_writel(q, t + 12, 1, e);
    if (rc == 0)
        rc = vs_qtest_queue_writel(q, t + 0, (uint32_t)addr, e);
    if (rc == 0)
        rc = vs_qtest_queue_writel(q, t + 4, (uint32_t)(addr >> 32), e);
    if (rc == 0)
        rc = vs_qtest_queue_writel(q, t + 8, data, e);
    if (rc == 0)
        rc = vs_qtest_queue_writel(q, t + 12, masked ? 1u : 0u, e);
    if (rc == 0)
        rc = vs_qtest_flush(q, e);
    return rc;
}

int vs_pci_msix_mask(vs_qtest *q, const vs_pci_msix *m, uint16_t entry, bool masked,
                     vs_err *e)
{
    if (!m || !m->present || !m->table_gpa)
        return vs_err_set(e, VS_ENOTSUP, "pci: MSI-X table not mapped");
    if (entry >= m->table_size)
        return vs_err_set(e, VS_ERANGE, "pci: MSI-X entry %u >= table size %u", entry,
                          m->table_size);
    return vs_qtest_writel(q, m->table_gpa + 16u * entry + 12, masked ? 1u : 0u, e);
}

int vs_pci_msix_pending(vs_qtest *q, const vs_pci_msix *m, uint16_t entry, bool *pending,
                        vs_err *e)
{
    if (!m || !m->present || !m->pba_gpa)
        return vs_err_set(e, VS_ENOTSUP, "pci: MSI-X PBA not mapped");
    if (entry >= m->table_size)
        return vs_err_set(e, VS_ERANGE, "pci: MSI-X entry %u >= table size %u", entry,
                          m->table_size);
    uint64_t v = 0;
    int rc = vs_qtest_readq(q, m->pba_gpa + 8u * (entry / 64), &v, e);
    if (rc == 0 && pending)
        *pending = (v >> (entry % 64)) & 1;
    return rc;
}

int vs_pci_virtio_setup(vs_qtest *q, vs_pci_alloc *a, unsigned virtio_type, unsigned index,
                        vs_pci_virtio_dev *out, vs_err *e)
{
    memset(out, 0, sizeof *out);
    int rc = vs_pci_find_virtio(q, virtio_type, index, &out->func, e);
    if (rc < 0)
        return rc;
    vs_pci_bdf d = out->func.bdf;
    rc = vs_pci_assign_bars(q, a, d, out->bars, e);
    if (rc < 0)
        return rc;
    rc = vs_pci_virtio_caps(q, d, out->bars, &out->caps, e);
    if (rc < 0)
        return rc;
    const vs_virtio_pci_caps *c = &out->caps;
    if (!c->common.present || !c->notify.present || !c->isr.present)
        return vs_err_set(e, VS_EPROTO,
                          "pci %02x:%02x.%x: missing virtio capability (common %d notify %d "
                          "isr %d)", d.bus, d.dev, d.fn, c->common.present, c->notify.present,
                          c->isr.present);
    const vs_pci_region *regs[] = { &c->common, &c->notify, &c->isr, &c->device };
    for (size_t i = 0; i < 4; i++) {
        const vs_pci_region *r = regs[i];
        if (!r->present)
            continue;
        const vs_pci_bar *b = &out->bars[r->bar];
        if (!b->present || b->io || (uint64_t)r->offset + r->length > b->size)
            return vs_err_set(e, VS_EPROTO,
                              "pci %02x:%02x.%x: virtio cap region outside BAR%u", d.bus,
                              d.dev, d.fn, r->bar);
    }
    uint16_t set = VS_PCI_CMD_MEM | VS_PCI_CMD_MASTER;
    for (int i = 0; i < 6; i++)
        if (out->bars[i].present && out->bars[i].io)
            set |= VS_PCI_CMD_IO;
    return vs_pci_command(q, d, set, 0, e);
}

uint64_t vs_pci_virtio_notify_addr(const vs_pci_virtio_dev *d, uint16_t queue_notify_off)
{
    return d->caps.notify.gpa + (uint64_t)queue_notify_off * d->caps.notify_off_multiplier;
}
