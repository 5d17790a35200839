/* vs_pci_bus_ops over qtest for one PCI function (see qtest_bus.h). */
#include "qtest_bus.h"

#define CF8 0xCF8u
#define CFC 0xCFCu

static uint32_t cfg_addr(vs_pci_bdf d, uint16_t off)
{
    return 0x80000000u | ((uint32_t)d.bus << 16) | ((uint32_t)(d.dev & 31) << 11) |
           ((uint32_t)(d.fn & 7) << 8) | (off & 0xFCu);
}

static int finish_write(vs_qtest_bus *b, bool push, vs_err *e)
{
    if (b->sync_writes)
        return vs_qtest_flush(b->qt, e);
    return b->defer_writes && !push ? 0 : vs_qtest_post(b->qt, e);
}

static int qb_cfg_read(void *opaque, uint16_t off, unsigned width, uint32_t *v, vs_err *e)
{
    vs_qtest_bus *b = opaque;
    int rc = vs_pci_check_cfg_access(off, width, 4096, e);
    if (rc < 0)
        return rc;
    if (off >= 256) {
        *v = 0;
        return 0;
    }
    uint64_t r = 0;
    enum vs_qtest_op op = width == 1 ? VS_QT_INB : width == 2 ? VS_QT_INW : VS_QT_INL;
    rc = vs_qtest_queue(b->qt, VS_QT_OUTL, CF8, cfg_addr(b->bdf, off), NULL, e);
    if (rc == 0)
        rc = vs_qtest_queue(b->qt, op, CFC + (off & 3u), 0, &r, e);
    if (rc == 0)
        rc = vs_qtest_flush(b->qt, e);
    if (rc < 0)
        return rc;
    *v = (uint32_t)r;
    return 0;
}

static int qb_cfg_write(void *opaque, uint16_t off, unsigned width, uint32_t v, vs_err *e)
{
    vs_qtest_bus *b = opaque;
    int rc = vs_pci_check_cfg_access(off, width, 4096, e);
    if (rc < 0 || off >= 256)
        return rc;
    enum vs_qtest_op op = width == 1 ? VS_QT_OUTB : width == 2 ? VS_QT_OUTW : VS_QT_OUTL;
    rc = vs_qtest_queue(b->qt, VS_QT_OUTL, CF8, cfg_addr(b->bdf, off), NULL, e);
    if (rc == 0)
        rc = vs_qtest_queue(b->qt, op, CFC + (off & 3u), v, NULL, e);
    return rc < 0 ? rc : finish_write(b, false, e);
}

static int qb_mmio_read(void *opaque, uint64_t addr, unsigned width, uint64_t *v, vs_err *e)
{
    vs_qtest_bus *b = opaque;
    int rc = vs_pci_check_mmio_access(addr, width, e);
    if (rc < 0)
        return rc;
    switch (width) {
    case 1: {
        uint8_t x = 0;
        rc = vs_qtest_readb(b->qt, addr, &x, e);
        *v = x;
        break;
    }
    case 2: {
        uint16_t x = 0;
        rc = vs_qtest_readw(b->qt, addr, &x, e);
        *v = x;
        break;
    }
    case 4: {
        uint32_t x = 0;
        rc = vs_qtest_readl(b->qt, addr, &x, e);
        *v = x;
        break;
    }
    default:
        rc = vs_qtest_readq(b->qt, addr, v, e);
        break;
    }
    return rc;
}

static int qb_mmio_write(void *opaque, uint64_t addr, unsigned width, uint64_t v, vs_err *e)
{
    vs_qtest_bus *b = opaque;
    int rc = vs_pci_check_mmio_access(addr, width, e);
    if (rc < 0)
        return rc;
    enum vs_qtest_op op = width == 1   ? VS_QT_WRITEB
                          : width == 2 ? VS_QT_WRITEW
                          : width == 4 ? VS_QT_WRITEL
                                       : VS_QT_WRITEQ;
    rc = vs_qtest_queue(b->qt, op, addr, v, NULL, e);
    return rc < 0 ? rc : finish_write(b, addr >= b->push_lo && addr < b->push_hi, e);
}

const vs_pci_bus_ops vs_qtest_bus_ops = {
    .name = "qtest",
    .cfg_read = qb_cfg_read,
    .cfg_write = qb_cfg_write,
    .mmio_read = qb_mmio_read,
    .mmio_write = qb_mmio_write,
};

vs_pci_bus vs_qtest_bus_init(vs_qtest_bus *b, vs_qtest *qt, vs_pci_bdf bdf, bool sync_writes)
{
    b->qt = qt;
    b->bdf = bdf;
    b->sync_writes = sync_writes;
    b->defer_writes = false;
    b->push_lo = b->push_hi = 0;
    return (vs_pci_bus){.ops = &vs_qtest_bus_ops, .opaque = b};
}
