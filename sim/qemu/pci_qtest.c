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


static int read_func(vs_qtest *q, vs_pci_bdf d, uint32_t id, vs_pci_func *f, vs_err *e)
{
    uint32_t cls = 0, hdr = 0, sub = 0;
    int rc = cfg_read(q, d, VS_PCI_CLASS_REV, 4, &cls, e);
    if (rc == 0)
        rc = cfg_read(q, d, 0x0C, 4, &hdr, e);
    if (rc == 0)
        rc = cfg_read(q, d, VS_PCI_SUBSYS_VENDOR, 4, &sub, e);
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
        uint32_t hdr = 0;
        rc = cfg_read(q, d0, VS_PCI_HEADER_TYPE, 1, &hdr, e);
        if (rc < 0)
            return rc;
        unsigned nfn = (hdr & 0x80) ? 8 : 1;
        for (unsigned fn = 0; fn < nfn; fn++) {
            vs_pci_bdf d = { 0, (uint8_t)dev, (uint8_t)fn };
            uint32_t id = (uint32_t)ids[dev];
            if (fn) {
                rc = cfg_read(q, d, 0, 4, &id, e);
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
