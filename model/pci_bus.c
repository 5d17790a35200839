/* PCI access helpers over vs_pci_bus_ops: typed accessors, BAR sizing/assignment,
 * capability walk, MSI-X programming, and an access-logging bus wrapper. Mirrors what
 * sim/qemu/pci_qtest.c does over qtest, so the same code enumerates QEMU and the model. */
#include "virtiosim/pci.h"

#include <inttypes.h>
#include <string.h>

int vs_pci_check_cfg_access(uint16_t off, unsigned width, uint16_t cfg_size, vs_err *e)
{
    if (width != 1 && width != 2 && width != 4)
        return vs_err_set(e, VS_EINVAL, "pci: config access width %u (1, 2 or 4)", width);
    if (off % width)
        return vs_err_set(e, VS_EINVAL, "pci: unaligned %u-byte config access at 0x%x", width,
                          off);
    if (off >= 4096 || (cfg_size && (uint32_t)off + width > 4096u))
        return vs_err_set(e, VS_EINVAL, "pci: config offset 0x%x outside 4 KiB", off);
    return 0;
}

int vs_pci_check_mmio_access(uint64_t addr, unsigned width, vs_err *e)
{
    if (width != 1 && width != 2 && width != 4 && width != 8)
        return vs_err_set(e, VS_EINVAL, "pci: MMIO access width %u (1, 2, 4 or 8)", width);
    if (addr % width)
        return vs_err_set(e, VS_EINVAL, "pci: unaligned %u-byte MMIO access at 0x%" PRIx64,
                          width, addr);
    return 0;
}

static int bus_ok(vs_pci_bus b, vs_err *e)
{
    if (!b.ops || !b.ops->cfg_read || !b.ops->cfg_write || !b.ops->mmio_read ||
        !b.ops->mmio_write)
        return vs_err_set(e, VS_EINVAL, "pci: bus without ops");
    return 0;
}

#define CFG_RD(bits)                                                                    \
    int vs_pcib_cfg_read##bits(vs_pci_bus b, uint16_t off, uint##bits##_t *v, vs_err *e) \
    {                                                                                   \
        uint32_t x = 0;                                                                 \
        int rc = bus_ok(b, e);                                                          \
        if (rc == 0)                                                                    \
            rc = b.ops->cfg_read(b.opaque, off, (bits) / 8, &x, e);                     \
        if (rc == 0 && v)                                                               \
            *v = (uint##bits##_t)x;                                                     \
        return rc;                                                                      \
    }                                                                                   \
    int vs_pcib_cfg_write##bits(vs_pci_bus b, uint16_t off, uint##bits##_t v, vs_err *e) \
    {                                                                                   \
        int rc = bus_ok(b, e);                                                          \
        return rc ? rc : b.ops->cfg_write(b.opaque, off, (bits) / 8, v, e);             \
    }
CFG_RD(8)
CFG_RD(16)
CFG_RD(32)

#define MM_RD(bits)                                                                     \
    int vs_pcib_read##bits(vs_pci_bus b, uint64_t addr, uint##bits##_t *v, vs_err *e)    \
    {                                                                                   \
        uint64_t x = 0;                                                                 \
        int rc = bus_ok(b, e);                                                          \
        if (rc == 0)                                                                    \
            rc = b.ops->mmio_read(b.opaque, addr, (bits) / 8, &x, e);                   \
        if (rc == 0 && v)                                                               \
            *v = (uint##bits##_t)x;                                                     \
        return rc;                                                                      \
    }                                                                                   \
    int vs_pcib_write##bits(vs_pci_bus b, uint64_t addr, uint##bits##_t v, vs_err *e)    \
    {                                                                                   \
        int rc = bus_ok(b, e);                                                          \
        return rc ? rc : b.ops->mmio_write(b.opaque, addr, (bits) / 8, v, e);           \
    }
MM_RD(8)
MM_RD(16)
MM_RD(32)
MM_RD(64)

/* ------------------------------------------------------------------ enumeration */

int vs_pcib_command(vs_pci_bus b, uint16_t set, uint16_t clear, vs_err *e)
{
    uint16_t cmd = 0;
    int rc = vs_pcib_cfg_read16(b, VS_PCI_COMMAND, &cmd, e);
    if (rc < 0)
        return rc;
    cmd = (uint16_t)((cmd & ~clear) | set);
    return vs_pcib_cfg_write16(b, VS_PCI_COMMAND, cmd, e);
}

int vs_pcib_assign_bars(vs_pci_bus b, uint64_t *mmio_next, uint64_t mmio_end,
                        vs_pcib_bar bars[6], vs_err *e)
{
    memset(bars, 0, 6 * sizeof bars[0]);
    int rc = vs_pcib_command(b, 0, VS_PCI_CMD_IO | VS_PCI_CMD_MEM, e);
    if (rc < 0)
        return rc;
    for (unsigned i = 0; i < 6; i++) {
        uint16_t off = (uint16_t)(VS_PCI_BAR0 + 4 * i);
        uint32_t orig = 0, lo = 0, hi = 0;
        rc = vs_pcib_cfg_read32(b, off, &orig, e);
        if (rc == 0)
            rc = vs_pcib_cfg_write32(b, off, 0xffffffffu, e);
        if (rc == 0)
            rc = vs_pcib_cfg_read32(b, off, &lo, e);
        if (rc < 0)
            return rc;
        vs_pcib_bar *bar = &bars[i];
        if (orig & 1) { /* I/O: sized, not assigned */
            uint32_t mask = lo & ~3u & 0xffffu;
            if (mask) {
                bar->present = bar->io = true;
                bar->size = (~mask + 1) & 0xffffu;
            }
            continue;
        }
        bool is64 = ((orig >> 1) & 3) == 2;
        if (is64 && i == 5)
            return vs_err_set(e, VS_EPROTO, "pci: 64-bit BAR5 has no upper half");
        if (is64) {
            rc = vs_pcib_cfg_write32(b, (uint16_t)(off + 4), 0xffffffffu, e);
            if (rc == 0)
                rc = vs_pcib_cfg_read32(b, (uint16_t)(off + 4), &hi, e);
            if (rc < 0)
                return rc;
        }
        if ((lo & ~0xFu) == 0 && hi == 0) {
            /* not implemented: restore 0 */
            rc = vs_pcib_cfg_write32(b, off, 0, e);
            if (rc < 0)
                return rc;
            if (is64)
                i++;
            continue;
        }
        uint64_t mask = ((uint64_t)hi << 32) | (lo & ~0xFu);
        if (!is64)
            mask |= 0xffffffff00000000ull;
        uint64_t size = ~mask + 1;
        if (size == 0 || (size & (size - 1)))
            return vs_err_set(e, VS_EPROTO, "pci: BAR%u size mask 0x%016" PRIx64
                              " is not a power of two", i, mask);
        uint64_t base = (*mmio_next + size - 1) & ~(size - 1);
        if (base < *mmio_next || base + size > mmio_end || base + size < base)
            return vs_err_set(e, VS_ENOSPC, "pci: BAR%u (0x%" PRIx64 " bytes): MMIO window full",
                              i, size);
        if (!is64 && base + size > 0x100000000ull)
            return vs_err_set(e, VS_ENOSPC, "pci: 32-bit BAR%u above 4 GiB", i);
        *mmio_next = base + size;
        bar->present = true;
        bar->is64 = is64;
        bar->prefetch = (orig & 8) != 0;
        bar->size = size;
        bar->addr = base;
        rc = vs_pcib_cfg_write32(b, off, (uint32_t)base, e);
        if (rc == 0 && is64)
            rc = vs_pcib_cfg_write32(b, (uint16_t)(off + 4), (uint32_t)(base >> 32), e);
        if (rc < 0)
            return rc;
        if (is64)
            i++;
    }
    return 0;
}

int vs_pcib_find_cap(vs_pci_bus b, uint8_t cap_id, uint8_t after, uint8_t *off, vs_err *e)
{
    *off = 0;
    uint16_t status = 0;
    int rc = vs_pcib_cfg_read16(b, VS_PCI_STATUS, &status, e);
    if (rc < 0)
        return rc;
    if (!(status & VS_PCI_STATUS_CAP_LIST))
        return 0;
    uint8_t ptr = 0;
    rc = vs_pcib_cfg_read8(b, after ? (uint16_t)(after + 1) : VS_PCI_CAP_PTR, &ptr, e);
    if (rc < 0)
        return rc;
    for (int guard = 0; ptr >= 0x40 && guard < 48; guard++) {
        ptr &= 0xFC;
        uint8_t id = 0, next = 0;
        rc = vs_pcib_cfg_read8(b, ptr, &id, e);
        if (rc == 0)
            rc = vs_pcib_cfg_read8(b, (uint16_t)(ptr + 1), &next, e);
        if (rc < 0)
            return rc;
        if (id == cap_id) {
            *off = ptr;
            return 0;
        }
        ptr = next;
    }
    return 0;
}

int vs_pcib_read_ids(vs_pci_bus b, vs_pcib_dev *d, vs_err *e)
{
    uint32_t id = 0, cls = 0, hdr = 0, sub = 0;
    int rc = vs_pcib_cfg_read32(b, 0, &id, e);
    if (rc == 0)
        rc = vs_pcib_cfg_read32(b, VS_PCI_CLASS_REV, &cls, e);
    if (rc == 0)
        rc = vs_pcib_cfg_read32(b, 0x0C, &hdr, e);
    if (rc == 0)
        rc = vs_pcib_cfg_read32(b, VS_PCI_SUBSYS_VENDOR, &sub, e);
    if (rc < 0)
        return rc;
    d->vendor = (uint16_t)id;
    d->device_id = (uint16_t)(id >> 16);
    d->revision = (uint8_t)cls;
    d->prog_if = (uint8_t)(cls >> 8);
    d->subclass = (uint8_t)(cls >> 16);
    d->class_code = (uint8_t)(cls >> 24);
    d->header_type = (uint8_t)((hdr >> 16) & 0x7f);
    d->subsys_vendor = (uint16_t)sub;
    d->subsys_id = (uint16_t)(sub >> 16);
    d->virtio_type = d->device_id >= 0x1040 && d->device_id <= 0x107f ? d->device_id - 0x1040u : 0;
    return 0;
}

static void region_addr(vs_pcib_dev *d, vs_pcib_region *r)
{
    if (r->present && r->bar < 6 && d->bars[r->bar].present && d->bars[r->bar].addr)
        r->addr = d->bars[r->bar].addr + r->offset;
}

static int msix_read(vs_pci_bus b, vs_pcib_dev *d, vs_err *e)
{
    vs_pcib_msix *m = &d->msix;
    memset(m, 0, sizeof *m);
    uint8_t cap = 0;
    int rc = vs_pcib_find_cap(b, VS_PCI_CAP_ID_MSIX, 0, &cap, e);
    if (rc < 0 || !cap)
        return rc;
    uint16_t ctl = 0;
    uint32_t tbl = 0, pba = 0;
    rc = vs_pcib_cfg_read16(b, (uint16_t)(cap + 2), &ctl, e);
    if (rc == 0)
        rc = vs_pcib_cfg_read32(b, (uint16_t)(cap + 4), &tbl, e);
    if (rc == 0)
        rc = vs_pcib_cfg_read32(b, (uint16_t)(cap + 8), &pba, e);
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
    if (d->bars[m->table_bar].present && d->bars[m->table_bar].addr)
        m->table_addr = d->bars[m->table_bar].addr + m->table_off;
    if (d->bars[m->pba_bar].present && d->bars[m->pba_bar].addr)
        m->pba_addr = d->bars[m->pba_bar].addr + m->pba_off;
    return 0;
}

/* The size of the structure a capability describes, for the strict-length walk bug
 * (0: not judged; only the common configuration has a fixed size). */
static uint32_t structure_size(uint8_t type)
{
    return type == VS_VIRTIO_PCI_CAP_COMMON ? VS_VIRTIO_COMMON_SIZE : 0u;
}

/* Is the capability what a strict driver wants (cap_len / length exactly the defined)? */
static bool walk_exact(uint32_t bugs, uint8_t type, uint8_t cap_len, uint32_t len)
{
    uint8_t want = type == VS_VIRTIO_PCI_CAP_NOTIFY ? VS_PCI_CAP_NOTIFY_LEN : VS_PCI_CAP_VIRTIO_LEN;
    if ((bugs & VS_PCIB_WALK_STRICT_CAP_LEN) && cap_len != want)
        return false;
    return !((bugs & VS_PCIB_WALK_STRICT_LENGTH) && structure_size(type) &&
             len != structure_size(type));
}

/* Does a walk with these bugs pass over the capability (its fields as read)? The strict
 * bugs take an exact one over an earlier inexact one of its type. */
static bool walk_skips(uint32_t bugs, const vs_pcib_region *r, uint8_t type, uint8_t bar,
                       uint8_t cap_len, uint32_t len)
{
    if (bar > 5)
        return true;
    if (!r->present || (bugs & VS_PCIB_WALK_LAST_WINS))
        return false;
    return !(walk_exact(bugs, type, cap_len, len) &&
             !walk_exact(bugs, type, r->cap_len, r->length));
}

int vs_pcib_virtio_caps(vs_pci_bus b, vs_pcib_dev *d, vs_err *e)
{
    return vs_pcib_virtio_caps_ex(b, d, 0, e);
}

int vs_pcib_virtio_caps_ex(vs_pci_bus b, vs_pcib_dev *d, uint32_t bugs, vs_err *e)
{
    memset(&d->common, 0, sizeof d->common);
    d->notify = d->isr = d->device = d->common;
    d->notify_off_multiplier = 0;
    d->pci_cfg_cap = 0;
    uint8_t cap = 0;
    for (int guard = 0; guard < 48; guard++) {
        int rc = vs_pcib_find_cap(b, VS_PCI_CAP_ID_VNDR, cap, &cap, e);
        if (rc < 0)
            return rc;
        if (!cap)
            break;
        uint8_t cap_len = 0, type = 0, bar = 0;
        uint32_t off = 0, len = 0;
        rc = vs_pcib_cfg_read8(b, (uint16_t)(cap + 2), &cap_len, e);
        if (rc == 0)
            rc = vs_pcib_cfg_read8(b, (uint16_t)(cap + 3), &type, e);
        if (rc == 0)
            rc = vs_pcib_cfg_read8(b, (uint16_t)(cap + 4), &bar, e);
        if (rc == 0)
            rc = vs_pcib_cfg_read32(b, (uint16_t)(cap + 8), &off, e);
        if (rc == 0)
            rc = vs_pcib_cfg_read32(b, (uint16_t)(cap + 12), &len, e);
        if (rc < 0)
            return rc;
        if (cap_len < VS_PCI_CAP_VIRTIO_LEN)
            continue;
        if (bugs & VS_PCIB_WALK_TYPE_NIBBLE)
            type &= 0x0f;
        if (bugs & VS_PCIB_WALK_BAR_MOD8)
            bar &= 7;
        vs_pcib_region *r = NULL;
        switch (type) {
        case VS_VIRTIO_PCI_CAP_COMMON: r = &d->common; break;
        case VS_VIRTIO_PCI_CAP_NOTIFY: r = &d->notify; break;
        case VS_VIRTIO_PCI_CAP_ISR: r = &d->isr; break;
        case VS_VIRTIO_PCI_CAP_DEVICE: r = &d->device; break;
        case VS_VIRTIO_PCI_CAP_PCI_CFG:
            if (!d->pci_cfg_cap)
                d->pci_cfg_cap = cap;
            continue;
        default:
            continue; /* reserved / shared memory / vendor data */
        }
        if (walk_skips(bugs, r, type, bar, cap_len, len))
            continue;
        r->present = true;
        r->cap = cap;
        r->cap_len = cap_len;
        r->bar = bar;
        r->offset = off;
        r->length = len;
        region_addr(d, r);
        if (type == VS_VIRTIO_PCI_CAP_NOTIFY && cap_len >= VS_PCI_CAP_NOTIFY_LEN) {
            rc = vs_pcib_cfg_read32(b, (uint16_t)(cap + 16), &d->notify_off_multiplier, e);
            if (rc < 0)
                return rc;
        }
    }
    return msix_read(b, d, e);
}

int vs_pcib_virtio_setup(vs_pci_bus b, uint64_t mmio_base, uint64_t mmio_end,
                         vs_pcib_dev *d, vs_err *e)
{
    return vs_pcib_virtio_setup_ex(b, mmio_base, mmio_end, d, 0, e);
}

int vs_pcib_virtio_setup_ex(vs_pci_bus b, uint64_t mmio_base, uint64_t mmio_end,
                            vs_pcib_dev *d, uint32_t bugs, vs_err *e)
{
    memset(d, 0, sizeof *d);
    int rc = vs_pcib_read_ids(b, d, e);
    if (rc < 0)
        return rc;
    if (d->vendor != VS_PCI_VENDOR_VIRTIO)
        return vs_err_set(e, VS_EPROTO, "pci: vendor 0x%04x is not virtio", d->vendor);
    if (mmio_base == 0 && mmio_end == 0) {
        mmio_base = 0xE0000000ull;
        mmio_end = 0xFEC00000ull;
    }
    uint64_t next = mmio_base;
    rc = vs_pcib_assign_bars(b, &next, mmio_end, d->bars, e);
    if (rc == 0)
        rc = vs_pcib_virtio_caps_ex(b, d, bugs, e);
    if (rc < 0)
        return rc;
    if (!d->common.present || !d->notify.present || !d->isr.present)
        return vs_err_set(e, VS_EPROTO, "pci: missing virtio capability (common %d notify %d "
                          "isr %d)", d->common.present, d->notify.present, d->isr.present);
    const vs_pcib_region *regs[] = {&d->common, &d->notify, &d->isr, &d->device};
    for (size_t i = 0; i < 4; i++) {
        const vs_pcib_region *r = regs[i];
        if (!r->present)
            continue;
        const vs_pcib_bar *bar = &d->bars[r->bar];
        if (!bar->present || bar->io || (uint64_t)r->offset + r->length > bar->size)
            return vs_err_set(e, VS_EPROTO, "pci: virtio cap region outside BAR%u", r->bar);
    }
    return vs_pcib_command(b, VS_PCI_CMD_MEM | VS_PCI_CMD_MASTER, 0, e);
}

int vs_pcib_msix_enable(vs_pci_bus b, const vs_pcib_dev *d, bool enable, vs_err *e)
{
    if (!d->msix.present)
        return vs_err_set(e, VS_ENOTSUP, "pci: no MSI-X capability");
    uint16_t ctl = 0;
    int rc = vs_pcib_cfg_read16(b, (uint16_t)(d->msix.cap + 2), &ctl, e);
    if (rc < 0)
        return rc;
    if (enable)
        ctl = (uint16_t)((ctl | VS_PCI_MSIX_CTRL_ENABLE) & ~VS_PCI_MSIX_CTRL_MASKALL);
    else
        ctl = (uint16_t)(ctl & ~VS_PCI_MSIX_CTRL_ENABLE);
    return vs_pcib_cfg_write16(b, (uint16_t)(d->msix.cap + 2), ctl, e);
}

static int msix_entry_ok(const vs_pcib_dev *d, uint16_t entry, vs_err *e)
{
    if (!d->msix.present || !d->msix.table_addr)
        return vs_err_set(e, VS_ENOTSUP, "pci: MSI-X table not mapped");
    if (entry >= d->msix.table_size)
        return vs_err_set(e, VS_ERANGE, "pci: MSI-X entry %u >= table size %u", entry,
                          d->msix.table_size);
    return 0;
}

int vs_pcib_msix_set_entry(vs_pci_bus b, const vs_pcib_dev *d, uint16_t entry,
                           uint64_t addr, uint32_t data, bool masked, vs_err *e)
{
    int rc = msix_entry_ok(d, entry, e);
    if (rc < 0)
        return rc;
    uint64_t t = d->msix.table_addr + 16u * entry;
    rc = vs_pcib_write32(b, t + 12, 1, e);
    if (rc == 0)
        rc = vs_pcib_write32(b, t + 0, (uint32_t)addr, e);
    if (rc == 0)
        rc = vs_pcib_write32(b, t + 4, (uint32_t)(addr >> 32), e);
    if (rc == 0)
        rc = vs_pcib_write32(b, t + 8, data, e);
    if (rc == 0)
        rc = vs_pcib_write32(b, t + 12, masked ? 1u : 0u, e);
    return rc;
}

int vs_pcib_msix_mask(vs_pci_bus b, const vs_pcib_dev *d, uint16_t entry, bool masked,
                      vs_err *e)
{
    int rc = msix_entry_ok(d, entry, e);
    return rc ? rc : vs_pcib_write32(b, d->msix.table_addr + 16u * entry + 12,
                                     masked ? 1u : 0u, e);
}

int vs_pcib_msix_pending(vs_pci_bus b, const vs_pcib_dev *d, uint16_t entry, bool *pending,
                         vs_err *e)
{
    if (!d->msix.present || !d->msix.pba_addr)
        return vs_err_set(e, VS_ENOTSUP, "pci: MSI-X PBA not mapped");
    if (entry >= d->msix.table_size)
        return vs_err_set(e, VS_ERANGE, "pci: MSI-X entry %u >= table size %u", entry,
                          d->msix.table_size);
    uint64_t v = 0;
    int rc = vs_pcib_read64(b, d->msix.pba_addr + 8u * (entry / 64), &v, e);
    if (rc == 0 && pending)
        *pending = (v >> (entry % 64)) & 1;
    return rc;
}

int vs_pcib_common_read(vs_pci_bus b, const vs_pcib_dev *d, uint32_t off, unsigned width,
                        uint64_t *v, vs_err *e)
{
    if (!d->common.present || !d->common.addr)
        return vs_err_set(e, VS_ENOTSUP, "pci: common config not mapped");
    int rc = bus_ok(b, e);
    return rc ? rc : b.ops->mmio_read(b.opaque, d->common.addr + off, width, v, e);
}

int vs_pcib_common_write(vs_pci_bus b, const vs_pcib_dev *d, uint32_t off, unsigned width,
                         uint64_t v, vs_err *e)
{
    if (!d->common.present || !d->common.addr)
        return vs_err_set(e, VS_ENOTSUP, "pci: common config not mapped");
    int rc = bus_ok(b, e);
    return rc ? rc : b.ops->mmio_write(b.opaque, d->common.addr + off, width, v, e);
}

uint64_t vs_pcib_notify_addr(const vs_pcib_dev *d, uint16_t queue_notify_off)
{
    return d->notify.addr + (uint64_t)queue_notify_off * d->notify_off_multiplier;
}

/* ------------------------------------------------------------------ logger */

static void lg_decode(vs_pci_logger *lg, vs_pci_access *a)
{
    a->region = VS_PCI_REG_NONE;
    a->roff = (uint32_t)a->addr;
    a->queue = -1;
    const vs_pcib_dev *d = lg->layout;
    if (a->space != VS_PCI_SPACE_MMIO || !d)
        return;
    const struct { const vs_pcib_region *r; uint8_t kind; } regs[] = {
        {&d->common, VS_PCI_REG_COMMON}, {&d->notify, VS_PCI_REG_NOTIFY},
        {&d->isr, VS_PCI_REG_ISR}, {&d->device, VS_PCI_REG_DEVICE}};
    for (size_t i = 0; i < 4; i++) {
        const vs_pcib_region *r = regs[i].r;
        if (r->present && r->addr && a->addr >= r->addr && a->addr - r->addr < r->length) {
            a->region = regs[i].kind;
            a->roff = (uint32_t)(a->addr - r->addr);
            if (a->region == VS_PCI_REG_COMMON) {
                if (a->write && a->roff == VS_VIRTIO_COMMON_Q_SELECT && a->width == 2)
                    lg->qsel = (uint16_t)a->val;
                a->queue = lg->qsel;
            }
            return;
        }
    }
    const vs_pcib_msix *m = &d->msix;
    if (m->present && m->table_addr && a->addr >= m->table_addr &&
        a->addr - m->table_addr < 16ull * m->table_size) {
        a->region = VS_PCI_REG_MSIX_TABLE;
        a->roff = (uint32_t)(a->addr - m->table_addr);
    } else if (m->present && m->pba_addr && a->addr >= m->pba_addr &&
               a->addr - m->pba_addr < 8ull * ((m->table_size + 63u) / 64u)) {
        a->region = VS_PCI_REG_MSIX_PBA;
        a->roff = (uint32_t)(a->addr - m->pba_addr);
    }
}

static void lg_add(vs_pci_logger *lg, uint8_t space, bool write, unsigned width,
                   uint64_t addr, uint64_t val)
{
    if (lg->on_access) {
        vs_pci_access x = {.space = space, .write = write, .width = (uint8_t)width,
                           .addr = addr, .val = val};
        lg_decode(lg, &x);
        lg->on_access(lg->on_opaque, &x);
        if (lg->n >= lg->cap)
            lg->dropped++;
        else
            lg->log[lg->n++] = x;
        return;
    }
    if (lg->n >= lg->cap) {
        lg->dropped++;
        return;
    }
    vs_pci_access *a = &lg->log[lg->n++];
    memset(a, 0, sizeof *a);
    a->space = space;
    a->write = write;
    a->width = (uint8_t)width;
    a->addr = addr;
    a->val = val;
    lg_decode(lg, a);
}

static int lg_cfg_read(void *o, uint16_t off, unsigned w, uint32_t *v, vs_err *e)
{
    vs_pci_logger *lg = o;
    int rc = lg->inner.ops->cfg_read(lg->inner.opaque, off, w, v, e);
    if (rc == 0)
        lg_add(lg, VS_PCI_SPACE_CFG, false, w, off, *v);
    return rc;
}
static int lg_cfg_write(void *o, uint16_t off, unsigned w, uint32_t v, vs_err *e)
{
    vs_pci_logger *lg = o;
    int rc = lg->inner.ops->cfg_write(lg->inner.opaque, off, w, v, e);
    if (rc == 0)
        lg_add(lg, VS_PCI_SPACE_CFG, true, w, off, v);
    return rc;
}
static int lg_mmio_read(void *o, uint64_t a, unsigned w, uint64_t *v, vs_err *e)
{
    vs_pci_logger *lg = o;
    int rc = lg->inner.ops->mmio_read(lg->inner.opaque, a, w, v, e);
    if (rc == 0)
        lg_add(lg, VS_PCI_SPACE_MMIO, false, w, a, *v);
    return rc;
}
static int lg_mmio_write(void *o, uint64_t a, unsigned w, uint64_t v, vs_err *e)
{
    vs_pci_logger *lg = o;
    int rc = lg->inner.ops->mmio_write(lg->inner.opaque, a, w, v, e);
    if (rc == 0)
        lg_add(lg, VS_PCI_SPACE_MMIO, true, w, a, v);
    return rc;
}

static const vs_pci_bus_ops logger_ops = {
    .name = "log",
    .cfg_read = lg_cfg_read,
    .cfg_write = lg_cfg_write,
    .mmio_read = lg_mmio_read,
    .mmio_write = lg_mmio_write,
};

vs_pci_bus vs_pci_logger_init(vs_pci_logger *lg, vs_pci_bus inner, vs_pci_access *log,
                              size_t cap, const vs_pcib_dev *layout)
{
    memset(lg, 0, sizeof *lg);
    lg->inner = inner;
    lg->log = log;
    lg->cap = log ? cap : 0;
    lg->layout = layout;
    return (vs_pci_bus){&logger_ops, lg};
}
