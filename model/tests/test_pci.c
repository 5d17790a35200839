/* Unit tests of the virtio-pci function model (model/pci.c), the bus helpers
 * (model/pci_bus.c) and the transport checks (model/pci_checks.c).
 * The model is enumerated through its bus ops exactly as sim/qemu/pci_qtest.c enumerates
 * QEMU, then driven like a guest driver would: full virtio-blk init, requests through
 * split rings, MSI-X messages into guest memory, INTx + ISR. */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtiosim/blk.h"
#include "virtiosim/gmem.h"
#include "virtiosim/pci.h"
#include "virtiosim/virtio.h"
#include "virtiosim/vring.h"

#define GM_SIZE (4u << 20)
#define MSIX_TARGET 0x3000u     /* scratch page for MSI-X messages */
#define PROBE_TARGET 0x5000u
#define LOG_CAP 8192

static vs_gmem *gm;
static vs_device *dev;
static vs_pci_fn *fn;
static vs_pci_bus bus;
static vs_pcib_dev pd;

/* embedding state: device-side rings created from QUEUE_ENABLE */
static vs_vq_dev *dq[4];
static unsigned notifies[4];
static unsigned resets;

static void on_event(void *opaque, const vs_pci_event *ev)
{
    (void)opaque;
    switch (ev->kind) {
    case VS_PCI_EV_NOTIFY:
        if (ev->queue >= 0 && ev->queue < 4)
            notifies[ev->queue]++;
        break;
    case VS_PCI_EV_QUEUE_ENABLE: {
        vs_vq_dev_opts o = {.queue_index = (uint16_t)ev->queue};
        vs_err e = {0};
        if (ev->queue >= 0 && ev->queue < 4 && !dq[ev->queue])
            ck_assert_msg(vs_vq_dev_create(&dq[ev->queue], gm, ev->layout, &o, &e) == 0, "%s",
                          e.msg);
        break;
    }
    case VS_PCI_EV_QUEUE_RESET:
    case VS_PCI_EV_RESET:
        for (int i = 0; i < 4; i++) {
            if (ev->kind == VS_PCI_EV_RESET || i == ev->queue) {
                vs_vq_dev_destroy(dq[i]);
                dq[i] = NULL;
            }
        }
        resets++;
        break;
    default:
        break;
    }
}

static void make_fn(uint32_t mutations, uint16_t msix, uint64_t extra)
{
    vs_err e = {0};
    vs_blk_opts bo;
    vs_blk_opts_default(&bo);
    bo.extra_features |= extra;
    ck_assert_msg(vs_blk_create(&dev, gm, &bo, &e) == 0, "%s", e.msg);
    vs_pci_model_opts o;
    vs_pci_model_opts_default(&o);
    o.mutations = mutations;
    o.msix_vectors = msix;
    o.log_cap = LOG_CAP;
    o.event_fn = on_event;
    ck_assert_msg(vs_pci_model_create(&fn, dev, gm, &o, &e) == 0, "%s", e.msg);
    bus = vs_pci_model_bus(fn);
}

static void setup(void)
{
    vs_err e = {0};
    ck_assert_int_eq(vs_gmem_create_flat(&gm, GM_SIZE, &e), 0);
    /* keep the low 1 MiB for MSI-X targets and probe queues' dummy addresses */
    uint64_t gpa;
    ck_assert_int_eq(vs_gmem_alloc(gm, 0x200000, 4096, &gpa, &e), 0);
    memset(dq, 0, sizeof dq);
    memset(notifies, 0, sizeof notifies);
    resets = 0;
    make_fn(0, VS_PCI_MSIX_DEFAULT, VS_BIT(VS_F_RING_RESET));
}

static void teardown(void)
{
    for (int i = 0; i < 4; i++) {
        vs_vq_dev_destroy(dq[i]);
        dq[i] = NULL;
    }
    vs_pci_model_destroy(fn);
    fn = NULL;
    if (dev)
        dev->ops->destroy(dev);
    dev = NULL;
    vs_gmem_destroy(gm);
    gm = NULL;
}

static void remake(uint32_t mutations)
{
    for (int i = 0; i < 4; i++) {
        vs_vq_dev_destroy(dq[i]);
        dq[i] = NULL;
    }
    vs_pci_model_destroy(fn);
    dev->ops->destroy(dev);
    make_fn(mutations, VS_PCI_MSIX_DEFAULT, VS_BIT(VS_F_RING_RESET));
}

static void enumerate(void)
{
    vs_err e = {0};
    ck_assert_msg(vs_pcib_virtio_setup(bus, 0, 0, &pd, &e) == 0, "%s", e.msg);
}

static uint64_t crd(uint32_t off, unsigned w)
{
    uint64_t v = 0;
    vs_err e = {0};
    ck_assert_msg(vs_pcib_common_read(bus, &pd, off, w, &v, &e) == 0, "%s", e.msg);
    return v;
}

static void cwr(uint32_t off, unsigned w, uint64_t v)
{
    vs_err e = {0};
    ck_assert_msg(vs_pcib_common_write(bus, &pd, off, w, v, &e) == 0, "%s", e.msg);
}

/* ------------------------------------------------------------------ enumeration */

START_TEST(enumerate_like_qemu)
{
    vs_err e = {0};
    /* BAR sizing by hand first: all-ones in, size mask out */
    uint32_t v = 0;
    ck_assert_int_eq(vs_pcib_cfg_write32(bus, VS_PCI_BAR0 + 4, 0xffffffffu, &e), 0);
    ck_assert_int_eq(vs_pcib_cfg_read32(bus, VS_PCI_BAR0 + 4, &v, &e), 0);
    ck_assert_uint_eq(v, 0xfffff000u);                   /* 4 KiB, 32-bit, non-prefetch */
    ck_assert_int_eq(vs_pcib_cfg_write32(bus, VS_PCI_BAR0 + 16, 0xffffffffu, &e), 0);
    ck_assert_int_eq(vs_pcib_cfg_read32(bus, VS_PCI_BAR0 + 16, &v, &e), 0);
    ck_assert_uint_eq(v, 0xffffc00cu);                   /* 16 KiB, 64-bit, prefetchable */
    ck_assert_int_eq(vs_pcib_cfg_write32(bus, VS_PCI_BAR0, 0xffffffffu, &e), 0);
    ck_assert_int_eq(vs_pcib_cfg_read32(bus, VS_PCI_BAR0, &v, &e), 0);
    ck_assert_uint_eq(v, 0);                             /* unimplemented */

    enumerate();
    ck_assert_uint_eq(pd.vendor, 0x1af4);
    ck_assert_uint_eq(pd.device_id, 0x1042);
    ck_assert_uint_eq(pd.virtio_type, 2);
    ck_assert_uint_eq(pd.revision, 1);
    ck_assert_uint_eq(pd.class_code, 0x01);
    ck_assert_uint_eq(pd.subsys_vendor, 0x1af4);
    ck_assert_uint_ge(pd.subsys_id, 0x40);
    ck_assert(!pd.bars[0].present);
    ck_assert(pd.bars[1].present && !pd.bars[1].is64 && pd.bars[1].size == 0x1000);
    ck_assert(pd.bars[4].present && pd.bars[4].is64 && pd.bars[4].prefetch);
    ck_assert_uint_eq(pd.bars[4].size, 0x4000);
    ck_assert_uint_eq(pd.bars[4].addr % 0x4000, 0);
    ck_assert(pd.common.present && pd.common.bar == 4 && pd.common.offset == 0);
    ck_assert(pd.isr.present && pd.isr.offset == 0x1000);
    ck_assert(pd.device.present && pd.device.offset == 0x2000);
    ck_assert(pd.notify.present && pd.notify.offset == 0x3000);
    ck_assert_uint_eq(pd.notify_off_multiplier, 4);
    ck_assert_uint_eq(pd.pci_cfg_cap, 0x84);
    ck_assert(pd.msix.present && pd.msix.cap == 0x98);
    ck_assert_uint_eq(pd.msix.table_size, 2);
    ck_assert_uint_eq(pd.msix.table_bar, 1);
    ck_assert_uint_eq(pd.msix.pba_off, 0x800);
    ck_assert_uint_eq(pd.common.addr, pd.bars[4].addr);
    uint16_t cmd = 0;
    ck_assert_int_eq(vs_pcib_cfg_read16(bus, VS_PCI_COMMAND, &cmd, &e), 0);
    ck_assert_uint_eq(cmd & 6, 6);
    ck_assert_uint_eq(crd(VS_VIRTIO_COMMON_NUMQ, 2), 1);
    ck_assert(vs_pci_dma_allowed(fn));
}
END_TEST

START_TEST(access_rules)
{
    vs_err e = {0};
    enumerate();
    uint32_t v = 0;
    uint64_t x = 0;
    ck_assert_int_eq(bus.ops->cfg_read(bus.opaque, 1, 2, &v, &e), -VS_EINVAL);
    ck_assert_int_eq(bus.ops->cfg_read(bus.opaque, 0, 3, &v, &e), -VS_EINVAL);
    ck_assert_int_eq(bus.ops->cfg_read(bus.opaque, 4096, 1, &v, &e), -VS_EINVAL);
    ck_assert_int_eq(bus.ops->mmio_read(bus.opaque, pd.common.addr + 2, 4, &x, &e), -VS_EINVAL);
    ck_assert_int_eq(bus.ops->mmio_write(bus.opaque, pd.common.addr, 16, 0, &e), -VS_EINVAL);
    /* beyond the 256-byte conventional space: reads 0 */
    ck_assert_int_eq(bus.ops->cfg_read(bus.opaque, 0x100, 4, &v, &e), 0);
    ck_assert_uint_eq(v, 0);
    /* read-only header */
    ck_assert_int_eq(vs_pcib_cfg_write16(bus, VS_PCI_VENDOR_ID, 0x1234, &e), 0);
    uint16_t ven = 0;
    ck_assert_int_eq(vs_pcib_cfg_read16(bus, VS_PCI_VENDOR_ID, &ven, &e), 0);
    ck_assert_uint_eq(ven, 0x1af4);
    /* master abort: nothing decodes -> all-ones, success */
    ck_assert_int_eq(vs_pcib_read64(bus, 0x10, &x, &e), 0);
    ck_assert_uint_eq(x, ~0ull);
    ck_assert_int_eq(vs_pcib_command(bus, 0, VS_PCI_CMD_MEM, &e), 0);
    uint16_t nq = 0;
    ck_assert_int_eq(vs_pcib_read16(bus, pd.common.addr + VS_VIRTIO_COMMON_NUMQ, &nq, &e), 0);
    ck_assert_uint_eq(nq, 0xffff);
    size_t n = 0;
    const vs_pci_access *log = vs_pci_model_log(fn, &n);
    ck_assert_uint_gt(n, 0);
    ck_assert_uint_eq(log[n - 1].region, VS_PCI_REG_UNCLAIMED);
    ck_assert_int_eq(vs_pcib_command(bus, VS_PCI_CMD_MEM, 0, &e), 0);
    ck_assert_uint_eq(crd(VS_VIRTIO_COMMON_NUMQ, 2), 1);
    /* read-only common fields ignore writes; wrong-width writes are ignored */
    cwr(VS_VIRTIO_COMMON_NUMQ, 2, 7);
    ck_assert_uint_eq(crd(VS_VIRTIO_COMMON_NUMQ, 2), 1);
    cwr(VS_VIRTIO_COMMON_Q_SELECT, 1, 3);
    ck_assert_uint_eq(crd(VS_VIRTIO_COMMON_Q_SELECT, 2), 0);
    /* 8-byte read of a 64-bit field composes both halves */
    cwr(VS_VIRTIO_COMMON_Q_DESCLO, 4, 0x1000);
    cwr(VS_VIRTIO_COMMON_Q_DESCHI, 4, 0x2);
    ck_assert_uint_eq(crd(VS_VIRTIO_COMMON_Q_DESCLO, 8), 0x200001000ull);
    cwr(VS_VIRTIO_COMMON_Q_DESCHI, 4, 0);
    cwr(VS_VIRTIO_COMMON_Q_DESCLO, 4, 0x10000);
    cwr(VS_VIRTIO_COMMON_Q_AVAILLO, 4, 0x11000);
    cwr(VS_VIRTIO_COMMON_Q_USEDLO, 4, 0x12000);
    /* queue_size rules: smaller power of two taken, odd / 0 / too big ignored */
    ck_assert_uint_eq(crd(VS_VIRTIO_COMMON_Q_SIZE, 2), 256);
    cwr(VS_VIRTIO_COMMON_Q_SIZE, 2, 100);
    ck_assert_uint_eq(crd(VS_VIRTIO_COMMON_Q_SIZE, 2), 256);
    cwr(VS_VIRTIO_COMMON_Q_SIZE, 2, 512);
    ck_assert_uint_eq(crd(VS_VIRTIO_COMMON_Q_SIZE, 2), 256);
    cwr(VS_VIRTIO_COMMON_Q_SIZE, 2, 64);
    ck_assert_uint_eq(crd(VS_VIRTIO_COMMON_Q_SIZE, 2), 64);
    /* vectors: beyond table -> NO_VECTOR */
    cwr(VS_VIRTIO_COMMON_Q_MSIX, 2, 2);
    ck_assert_uint_eq(crd(VS_VIRTIO_COMMON_Q_MSIX, 2), VS_PCI_NO_VECTOR);
    cwr(VS_VIRTIO_COMMON_Q_MSIX, 2, 1);
    ck_assert_uint_eq(crd(VS_VIRTIO_COMMON_Q_MSIX, 2), 1);
    /* queue_enable 0 ignored, 1 enables, then writes to the layout are ignored */
    cwr(VS_VIRTIO_COMMON_Q_ENABLE, 2, 0);
    ck_assert_uint_eq(crd(VS_VIRTIO_COMMON_Q_ENABLE, 2), 0);
    cwr(VS_VIRTIO_COMMON_Q_ENABLE, 2, 1);
    ck_assert_uint_eq(crd(VS_VIRTIO_COMMON_Q_ENABLE, 2), 1);
    ck_assert_ptr_nonnull(dq[0]);
    cwr(VS_VIRTIO_COMMON_Q_SIZE, 2, 32);
    ck_assert_uint_eq(crd(VS_VIRTIO_COMMON_Q_SIZE, 2), 64);
    vs_vq_layout l;
    ck_assert_int_eq(vs_pci_queue_layout(fn, 0, &l, &e), 0);
    ck_assert_uint_eq(l.size, 64);
    ck_assert_uint_eq(l.desc_gpa, 0x10000);
    ck_assert_uint_eq(l.device_gpa, 0x12000);
    /* reset: everything back */
    cwr(VS_VIRTIO_COMMON_STATUS, 1, 0);
    ck_assert_ptr_null(dq[0]);
    ck_assert_uint_eq(crd(VS_VIRTIO_COMMON_Q_ENABLE, 2), 0);
    ck_assert_uint_eq(crd(VS_VIRTIO_COMMON_Q_SIZE, 2), 256);
    ck_assert_uint_eq(crd(VS_VIRTIO_COMMON_Q_MSIX, 2), VS_PCI_NO_VECTOR);
    ck_assert_int_eq(vs_pci_queue_layout(fn, 0, &l, &e), -VS_ESTATE);
    /* selecting an absent queue */
    cwr(VS_VIRTIO_COMMON_Q_SELECT, 2, 5);
    ck_assert_uint_eq(crd(VS_VIRTIO_COMMON_Q_SIZE, 2), 0);
    /* raise on a bad queue is an error, not a crash */
    ck_assert_int_eq(vs_pci_raise(fn, 9, &e), -VS_ERANGE);
}
END_TEST

/* ------------------------------------------------------------------ blk I/O */

static void serve(uint16_t q)
{
    vs_err e = {0};
    vs_dseg segs[16];
    vs_chain c = {.seg = segs, .seg_cap = 16};
    int got = 0;
    ck_assert(vs_pci_device_live(fn));
    while (vs_vq_dev_pop(dq[q], &c, &e) == 1) {
        uint32_t written = 0;
        ck_assert_msg(dev->ops->handle(dev, q, &c, &written, &e) == 0, "%s", e.msg);
        ck_assert_int_eq(vs_vq_dev_push(dq[q], &c, written, &e), 0);
        got++;
    }
    ck_assert_int_gt(got, 0);
    vs_vq_dev_publish(dq[q]);
    if (vs_vq_dev_irq_needed(dq[q]))
        ck_assert_int_gt(vs_pci_raise(fn, q, &e), 0);
}

static void driver_init(vs_vq_drv **drv, bool msix)
{
    vs_err e = {0};
    enumerate();
    cwr(VS_VIRTIO_COMMON_STATUS, 1, 0);
    ck_assert_uint_eq(crd(VS_VIRTIO_COMMON_STATUS, 1), 0);
    cwr(VS_VIRTIO_COMMON_STATUS, 1, VS_STATUS_ACKNOWLEDGE);
    cwr(VS_VIRTIO_COMMON_STATUS, 1, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER);
    cwr(VS_VIRTIO_COMMON_DFSELECT, 4, 1);
    uint64_t hi = crd(VS_VIRTIO_COMMON_DF, 4);
    ck_assert(hi & 1); /* VERSION_1 */
    cwr(VS_VIRTIO_COMMON_GFSELECT, 4, 0);
    cwr(VS_VIRTIO_COMMON_GF, 4, 0);
    cwr(VS_VIRTIO_COMMON_GFSELECT, 4, 1);
    cwr(VS_VIRTIO_COMMON_GF, 4, 1);
    cwr(VS_VIRTIO_COMMON_STATUS, 1, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER |
                                         VS_STATUS_FEATURES_OK);
    ck_assert_uint_eq(crd(VS_VIRTIO_COMMON_STATUS, 1) & VS_STATUS_FEATURES_OK,
                      VS_STATUS_FEATURES_OK);
    ck_assert_uint_eq(vs_pci_negotiated_features(fn), VS_BIT(VS_F_VERSION_1));
    if (msix) {
        ck_assert_int_eq(vs_pcib_msix_set_entry(bus, &pd, 0, MSIX_TARGET, 0x1000, false, &e), 0);
        ck_assert_int_eq(vs_pcib_msix_set_entry(bus, &pd, 1, MSIX_TARGET + 4, 0x1001, false, &e),
                         0);
        ck_assert_int_eq(vs_pcib_msix_enable(bus, &pd, true, &e), 0);
        cwr(VS_VIRTIO_COMMON_MSIX, 2, 0);
        ck_assert_uint_eq(crd(VS_VIRTIO_COMMON_MSIX, 2), 0);
    }
    cwr(VS_VIRTIO_COMMON_Q_SELECT, 2, 0);
    ck_assert_uint_eq(crd(VS_VIRTIO_COMMON_Q_SIZE, 2), 256);
    cwr(VS_VIRTIO_COMMON_Q_SIZE, 2, 64);
    vs_vq_layout l;
    ck_assert_int_eq(vs_vq_layout_alloc(gm, VS_RING_SPLIT, 64, &l, &e), 0);
    cwr(VS_VIRTIO_COMMON_Q_DESCLO, 4, (uint32_t)l.desc_gpa);
    cwr(VS_VIRTIO_COMMON_Q_DESCHI, 4, l.desc_gpa >> 32);
    cwr(VS_VIRTIO_COMMON_Q_AVAILLO, 4, (uint32_t)l.driver_gpa);
    cwr(VS_VIRTIO_COMMON_Q_AVAILHI, 4, l.driver_gpa >> 32);
    cwr(VS_VIRTIO_COMMON_Q_USEDLO, 4, (uint32_t)l.device_gpa);
    cwr(VS_VIRTIO_COMMON_Q_USEDHI, 4, l.device_gpa >> 32);
    if (msix) {
        cwr(VS_VIRTIO_COMMON_Q_MSIX, 2, 1);
        ck_assert_uint_eq(crd(VS_VIRTIO_COMMON_Q_MSIX, 2), 1);
    }
    vs_vq_drv_opts dop = {.queue_index = 0};
    ck_assert_int_eq(vs_vq_drv_create(drv, gm, &l, &dop, &e), 0);
    cwr(VS_VIRTIO_COMMON_Q_ENABLE, 2, 1);
    ck_assert_ptr_nonnull(dq[0]);
    const vs_vq_layout *dl = vs_vq_dev_layout(dq[0]);
    ck_assert_uint_eq(dl->size, 64);
    ck_assert_uint_eq(dl->desc_gpa, l.desc_gpa);
    ck_assert_uint_eq(dl->device_gpa, l.device_gpa);
    cwr(VS_VIRTIO_COMMON_STATUS, 1, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER |
                                         VS_STATUS_FEATURES_OK | VS_STATUS_DRIVER_OK);
    ck_assert(vs_pci_device_live(fn));
}

/* one request: hdr (out), data (out for OUT / in for IN), status (in) */
static uint8_t blk_request(vs_vq_drv *drv, uint32_t type, uint64_t sector, uint64_t data_gpa)
{
    vs_err e = {0};
    uint64_t hdr_gpa, st_gpa;
    ck_assert_int_eq(vs_gmem_alloc(gm, 4096, 4096, &hdr_gpa, &e), 0);
    st_gpa = hdr_gpa + 64;
    uint8_t hdr[16] = {0};
    hdr[0] = (uint8_t)type;
    for (int i = 0; i < 8; i++)
        hdr[8 + i] = (uint8_t)(sector >> (8 * i));
    ck_assert_int_eq(vs_gmem_write(gm, hdr_gpa, hdr, 16, &e), 0);
    ck_assert_int_eq(vs_gmem_st8(gm, st_gpa, 0xee, &e), 0);
    vs_seg segs[3] = {{hdr_gpa, 16}, {data_gpa, 512}, {st_gpa, 1}};
    unsigned n_out = type == VS_BLK_T_OUT ? 2 : 1;
    ck_assert_int_ge(vs_vq_drv_add(drv, segs, n_out, 3 - n_out, 0, NULL, &e), 0);
    vs_vq_drv_publish(drv);
    ck_assert(vs_vq_drv_kick_needed(drv));
    uint64_t noff = crd(VS_VIRTIO_COMMON_Q_NOFF, 2);
    unsigned before = notifies[0];
    ck_assert_int_eq(vs_pcib_write16(bus, vs_pcib_notify_addr(&pd, (uint16_t)noff), 0, &e), 0);
    ck_assert_uint_eq(notifies[0], before + 1);
    serve(0);
    vs_used u;
    ck_assert_int_eq(vs_vq_drv_collect(drv, &u, &e), 1);
    ck_assert_uint_eq(u.len, type == VS_BLK_T_IN ? 513 : 1);
    uint8_t st = 0xff;
    ck_assert_int_eq(vs_gmem_ld8(gm, st_gpa, &st, &e), 0);
    vs_gmem_free(gm, hdr_gpa, NULL);
    return st;
}

START_TEST(blk_rw_through_model_msix)
{
    vs_err e = {0};
    vs_vq_drv *drv = NULL;
    driver_init(&drv, true);
    uint64_t wbuf, rbuf;
    ck_assert_int_eq(vs_gmem_alloc(gm, 4096, 4096, &wbuf, &e), 0);
    ck_assert_int_eq(vs_gmem_alloc(gm, 4096, 4096, &rbuf, &e), 0);
    uint8_t pat[512];
    for (int i = 0; i < 512; i++)
        pat[i] = (uint8_t)(i * 7 + 3);
    ck_assert_int_eq(vs_gmem_write(gm, wbuf, pat, 512, &e), 0);
    ck_assert_int_eq(vs_gmem_st32(gm, MSIX_TARGET + 4, 0, &e), 0);
    ck_assert_uint_eq(blk_request(drv, VS_BLK_T_OUT, 5, wbuf), VS_BLK_S_OK);
    uint32_t msg = 0;
    ck_assert_int_eq(vs_gmem_ld32(gm, MSIX_TARGET + 4, &msg, &e), 0);
    ck_assert_uint_eq(msg, 0x1001); /* queue 0 -> vector 1 -> its data at its address */
    uint8_t back[512];
    ck_assert_int_eq(vs_blk_storage_read(dev, 5, back, 1, &e), 0);
    ck_assert_mem_eq(back, pat, 512);
    ck_assert_int_eq(vs_gmem_st32(gm, MSIX_TARGET + 4, 0, &e), 0);
    ck_assert_uint_eq(blk_request(drv, VS_BLK_T_IN, 5, rbuf), VS_BLK_S_OK);
    ck_assert_int_eq(vs_gmem_read(gm, rbuf, back, 512, &e), 0);
    ck_assert_mem_eq(back, pat, 512);
    ck_assert_int_eq(vs_gmem_ld32(gm, MSIX_TARGET + 4, &msg, &e), 0);
    ck_assert_uint_eq(msg, 0x1001);
    ck_assert_uint_eq(vs_pci_isr_peek(fn), 0); /* ISR unused with MSI-X */
    /* the driver's accesses obey the driver rules */
    size_t n = 0;
    const vs_pci_access *log = vs_pci_model_log(fn, &n);
    vs_pci_findings f = {0};
    ck_assert_int_eq(vs_pci_check_log(log, n, NULL, &f, &e), 0);
    ck_assert_uint_eq(vs_pci_findings_failures(&f), 0);
    ck_assert_ptr_nonnull(vs_pci_findings_get(&f, "pci.driver.avail-notif.1"));
    ck_assert_int_eq(vs_pci_findings_get(&f, "pci.driver.layout.1")->verdict, VS_PCI_PASS);
    vs_vq_drv_destroy(drv);
}
END_TEST

START_TEST(msix_mask_pending)
{
    vs_err e = {0};
    enumerate();
    ck_assert_int_eq(vs_pcib_msix_set_entry(bus, &pd, 1, MSIX_TARGET + 8, 0xbeef, true, &e), 0);
    ck_assert_int_eq(vs_pcib_msix_enable(bus, &pd, true, &e), 0);
    cwr(VS_VIRTIO_COMMON_Q_SELECT, 2, 0);
    cwr(VS_VIRTIO_COMMON_Q_MSIX, 2, 1);
    ck_assert_int_eq(vs_gmem_st32(gm, MSIX_TARGET + 8, 0, &e), 0);
    ck_assert_int_eq(vs_pci_raise(fn, 0, &e), VS_PCI_IRQ_MSIX_PENDING);
    bool pend = false;
    ck_assert_int_eq(vs_pcib_msix_pending(bus, &pd, 1, &pend, &e), 0);
    ck_assert(pend);
    uint32_t msg = 1;
    ck_assert_int_eq(vs_gmem_ld32(gm, MSIX_TARGET + 8, &msg, &e), 0);
    ck_assert_uint_eq(msg, 0);
    ck_assert_int_eq(vs_pcib_msix_mask(bus, &pd, 1, false, &e), 0); /* unmask -> sent */
    ck_assert_int_eq(vs_gmem_ld32(gm, MSIX_TARGET + 8, &msg, &e), 0);
    ck_assert_uint_eq(msg, 0xbeef);
    ck_assert_int_eq(vs_pcib_msix_pending(bus, &pd, 1, &pend, &e), 0);
    ck_assert(!pend);
    /* function mask */
    uint16_t ctl = 0;
    ck_assert_int_eq(vs_pcib_cfg_read16(bus, pd.msix.cap + 2, &ctl, &e), 0);
    ck_assert_int_eq(vs_pcib_cfg_write16(bus, pd.msix.cap + 2, ctl | VS_PCI_MSIX_CTRL_MASKALL,
                                         &e), 0);
    ck_assert_int_eq(vs_gmem_st32(gm, MSIX_TARGET + 8, 0, &e), 0);
    ck_assert_int_eq(vs_pci_raise(fn, 0, &e), VS_PCI_IRQ_MSIX_PENDING);
    ck_assert_int_eq(vs_pcib_cfg_write16(bus, pd.msix.cap + 2, ctl, &e), 0);
    ck_assert_int_eq(vs_gmem_ld32(gm, MSIX_TARGET + 8, &msg, &e), 0);
    ck_assert_uint_eq(msg, 0xbeef);
    /* no bus master: held pending until enabled again */
    ck_assert_int_eq(vs_pcib_command(bus, 0, VS_PCI_CMD_MASTER, &e), 0);
    ck_assert_int_eq(vs_gmem_st32(gm, MSIX_TARGET + 8, 0, &e), 0);
    ck_assert_int_eq(vs_pci_raise(fn, 0, &e), VS_PCI_IRQ_MSIX_PENDING);
    ck_assert_int_eq(vs_pcib_command(bus, VS_PCI_CMD_MASTER, 0, &e), 0);
    ck_assert_int_eq(vs_gmem_ld32(gm, MSIX_TARGET + 8, &msg, &e), 0);
    ck_assert_uint_eq(msg, 0xbeef);
    /* unmapped: nothing */
    cwr(VS_VIRTIO_COMMON_Q_MSIX, 2, VS_PCI_NO_VECTOR);
    ck_assert_int_eq(vs_pci_raise(fn, 0, &e), VS_PCI_IRQ_NO_VECTOR);
    /* a message address outside guest memory is an error value */
    ck_assert_int_eq(vs_pcib_msix_set_entry(bus, &pd, 0, 0xfee00000u, 1, false, &e), 0);
    cwr(VS_VIRTIO_COMMON_MSIX, 2, 0);
    ck_assert_int_lt(vs_pci_raise(fn, VS_PCI_IRQ_CONFIG, &e), 0);
}
END_TEST

START_TEST(intx_isr_read_clears)
{
    vs_err e = {0};
    vs_vq_drv *drv = NULL;
    driver_init(&drv, false);
    uint64_t buf;
    ck_assert_int_eq(vs_gmem_alloc(gm, 4096, 4096, &buf, &e), 0);
    ck_assert_uint_eq(blk_request(drv, VS_BLK_T_IN, 0, buf), VS_BLK_S_OK);
    ck_assert(vs_pci_intx_level(fn));
    uint16_t st = 0;
    ck_assert_int_eq(vs_pcib_cfg_read16(bus, VS_PCI_STATUS, &st, &e), 0);
    ck_assert(st & VS_PCI_STATUS_INTERRUPT);
    uint8_t isr = 0;
    ck_assert_int_eq(vs_pcib_read8(bus, pd.isr.addr, &isr, &e), 0);
    ck_assert_uint_eq(isr, VS_PCI_ISR_QUEUE);
    ck_assert(!vs_pci_intx_level(fn));
    ck_assert_int_eq(vs_pcib_read8(bus, pd.isr.addr, &isr, &e), 0);
    ck_assert_uint_eq(isr, 0);
    ck_assert_int_eq(vs_pcib_cfg_read16(bus, VS_PCI_STATUS, &st, &e), 0);
    ck_assert(!(st & VS_PCI_STATUS_INTERRUPT));
    /* config change: bit 1, generation moves */
    uint64_t g0 = crd(VS_VIRTIO_COMMON_CFGGENERATION, 1);
    ck_assert_int_eq(vs_pci_config_changed(fn, &e), VS_PCI_IRQ_INTX);
    ck_assert_uint_ne(crd(VS_VIRTIO_COMMON_CFGGENERATION, 1), g0);
    ck_assert_int_eq(vs_pcib_read8(bus, pd.isr.addr, &isr, &e), 0);
    ck_assert_uint_eq(isr, VS_PCI_ISR_CONFIG);
    /* Interrupt Disable keeps the line low but ISR still works */
    ck_assert_int_eq(vs_pcib_command(bus, VS_PCI_CMD_INTX_DISABLE, 0, &e), 0);
    ck_assert_int_eq(vs_pci_raise(fn, 0, &e), VS_PCI_IRQ_INTX);
    ck_assert(!vs_pci_intx_level(fn));
    ck_assert_uint_eq(vs_pci_isr_peek(fn), 1);
    /* device error path */
    ck_assert_int_eq(vs_pci_device_error(fn, &e), VS_PCI_IRQ_INTX);
    ck_assert(crd(VS_VIRTIO_COMMON_STATUS, 1) & VS_STATUS_DEVICE_NEEDS_RESET);
    ck_assert(!vs_pci_device_live(fn));
    vs_vq_drv_destroy(drv);
}
END_TEST

START_TEST(pci_cfg_window_and_pci_reset)
{
    vs_err e = {0};
    enumerate();
    uint8_t cap = pd.pci_cfg_cap;
    ck_assert_int_eq(vs_pcib_cfg_write8(bus, cap + 4, 4, &e), 0);
    ck_assert_int_eq(vs_pcib_cfg_write32(bus, cap + 8, pd.device.offset, &e), 0);
    ck_assert_int_eq(vs_pcib_cfg_write32(bus, cap + 12, 4, &e), 0);
    uint32_t v = 0;
    ck_assert_int_eq(vs_pcib_cfg_read32(bus, cap + 16, &v, &e), 0);
    ck_assert_uint_eq(v, 2048); /* blk capacity, low half */
    /* works with memory decoding off, too */
    ck_assert_int_eq(vs_pcib_command(bus, 0, VS_PCI_CMD_MEM, &e), 0);
    v = 0;
    ck_assert_int_eq(vs_pcib_cfg_read32(bus, cap + 16, &v, &e), 0);
    ck_assert_uint_eq(v, 2048);
    vs_pci_model_pci_reset(fn);
    uint32_t bar = 1;
    ck_assert_int_eq(vs_pcib_cfg_read32(bus, VS_PCI_BAR0 + 16, &bar, &e), 0);
    ck_assert_uint_eq(bar, 0x0c);
    uint16_t cmd = 1;
    ck_assert_int_eq(vs_pcib_cfg_read16(bus, VS_PCI_COMMAND, &cmd, &e), 0);
    ck_assert_uint_eq(cmd, 0);
}
END_TEST

START_TEST(logger_wraps_any_bus)
{
    vs_err e = {0};
    enumerate();
    static vs_pci_access log[256];
    vs_pci_logger lg;
    vs_pci_bus lb = vs_pci_logger_init(&lg, bus, log, 256, &pd);
    uint64_t v = 0;
    ck_assert_int_eq(vs_pcib_common_write(lb, &pd, VS_VIRTIO_COMMON_Q_SELECT, 2, 0, &e), 0);
    ck_assert_int_eq(vs_pcib_common_write(lb, &pd, VS_VIRTIO_COMMON_Q_ENABLE, 2, 0, &e), 0);
    ck_assert_int_eq(vs_pcib_common_read(lb, &pd, VS_VIRTIO_COMMON_Q_SIZE, 4, &v, &e), 0);
    ck_assert_int_eq(vs_pcib_write32(lb, pd.notify.addr, 0, &e), 0);
    ck_assert_int_eq(vs_pcib_common_write(lb, &pd, VS_VIRTIO_COMMON_NUMQ, 2, 3, &e), 0);
    ck_assert_uint_eq(lg.n, 5);
    ck_assert_uint_eq(log[1].region, VS_PCI_REG_COMMON);
    ck_assert_uint_eq(log[1].roff, VS_VIRTIO_COMMON_Q_ENABLE);
    vs_pci_findings f = {0};
    ck_assert_int_eq(vs_pci_check_log(log, lg.n, NULL, &f, &e), 0);
    ck_assert_ptr_nonnull(vs_pci_findings_fail(&f, "pci.driver.common-cfg.6"));
    ck_assert_ptr_nonnull(vs_pci_findings_fail(&f, "pci.driver.layout.1"));
    ck_assert_ptr_nonnull(vs_pci_findings_fail(&f, "pci.driver.avail-notif.1"));
    ck_assert_ptr_nonnull(vs_pci_findings_fail(&f, "pci.driver.common-cfg.1"));
    /* unknown check name */
    ck_assert_int_eq(vs_pci_check_log(log, lg.n, "nope", &f, &e), -VS_EINVAL);
}
END_TEST

static void judge_cb(void *opaque, const vs_pci_access *a) { vs_pci_drv_judge_access(opaque, a); }

static int cw16(vs_pci_bus b, uint32_t off, uint64_t v, vs_err *e)
{
    return vs_pcib_common_write(b, &pd, off, 2, v, e);
}

/* The streaming driver judge: quiet on a well-behaved sequence, each rule broken once
 * afterwards fails exactly its statement. */
START_TEST(drv_judge_streams)
{
    vs_err e = {0};
    enumerate();
    static vs_pci_findings f;
    memset(&f, 0, sizeof f);
    vs_pci_drv_judge j;
    vs_pci_drv_judge_init(&j, &f, &pd);
    vs_pci_logger lg;
    vs_pci_bus b = vs_pci_logger_init(&lg, bus, NULL, 0, &pd);
    lg.on_access = judge_cb;
    lg.on_opaque = &j;
    uint64_t v = 0;
    ck_assert_int_eq(vs_pcib_common_write(b, &pd, VS_VIRTIO_COMMON_STATUS, 1, 0, &e), 0);
    ck_assert_int_eq(vs_pcib_common_read(b, &pd, VS_VIRTIO_COMMON_STATUS, 1, &v, &e), 0);
    ck_assert_int_eq(vs_pcib_msix_enable(b, &pd, true, &e), 0);
    ck_assert_int_eq(cw16(b, VS_VIRTIO_COMMON_Q_SELECT, 0, &e), 0);
    ck_assert_int_eq(cw16(b, VS_VIRTIO_COMMON_Q_SIZE, 64, &e), 0);
    ck_assert_int_eq(cw16(b, VS_VIRTIO_COMMON_Q_MSIX, 1, &e), 0);
    ck_assert_int_eq(vs_pcib_common_read(b, &pd, VS_VIRTIO_COMMON_Q_MSIX, 2, &v, &e), 0);
    ck_assert_int_eq(vs_pcib_common_read(b, &pd, VS_VIRTIO_COMMON_Q_NOFF, 2, &v, &e), 0);
    ck_assert_int_eq(cw16(b, VS_VIRTIO_COMMON_Q_ENABLE, 1, &e), 0);
    uint64_t na = vs_pcib_notify_addr(&pd, (uint16_t)v);
    ck_assert_int_eq(b.ops->mmio_write(b.opaque, na, 2, 0, &e), 0);
    vs_pci_access irq = {.space = VS_PCI_SPACE_IRQ, .queue = 0, .val = 1};
    vs_pci_drv_judge_access(&j, &irq);
    ck_assert_int_eq(b.ops->mmio_write(b.opaque, na, 2, 0, &e), 0);
    ck_assert_uint_eq(vs_pci_findings_failures(&f), 0);
    const char *passed[] = {"pci.driver.common-cfg.5", "pci.driver.msix.2", "pci.driver.msix.3",
                            "pci.driver.common-cfg.4", "pci.driver.avail-notif.3",
                            "pci.driver.isr.1", "pci.driver.common-cfg.3"};
    for (size_t i = 0; i < sizeof passed / sizeof passed[0]; i++)
        ck_assert_msg(vs_pci_findings_get(&f, passed[i]) &&
                          vs_pci_findings_get(&f, passed[i])->verdict == VS_PCI_PASS,
                      "%s not passed", passed[i]);
    /* now break the rules */
    ck_assert_int_eq(vs_pcib_common_write(b, &pd, VS_VIRTIO_COMMON_Q_DESCLO, 4, 0, &e), 0);
    ck_assert_ptr_nonnull(vs_pci_findings_fail(&f, "pci.driver.common-cfg.4"));
    ck_assert_int_eq(b.ops->mmio_write(b.opaque, na, 2, 1, &e), 0);
    ck_assert_ptr_nonnull(vs_pci_findings_fail(&f, "pci.driver.avail-notif.3"));
    vs_pci_drv_judge_access(&j, &irq);
    uint8_t isr;
    ck_assert_int_eq(vs_pcib_read8(b, pd.isr.addr, &isr, &e), 0);
    ck_assert_ptr_nonnull(vs_pci_findings_fail(&f, "pci.driver.isr.1"));
    ck_assert_int_eq(cw16(b, VS_VIRTIO_COMMON_Q_MSIX, 0x7ff, &e), 0);
    ck_assert_ptr_nonnull(vs_pci_findings_fail(&f, "pci.driver.msix.2"));
    ck_assert_int_eq(cw16(b, VS_VIRTIO_COMMON_Q_SIZE, 64, &e), 0); /* moved on */
    ck_assert_ptr_nonnull(vs_pci_findings_fail(&f, "pci.driver.msix.3"));
    ck_assert_int_eq(vs_pcib_common_write(b, &pd, VS_VIRTIO_COMMON_STATUS, 1, 0, &e), 0);
    ck_assert_int_eq(cw16(b, VS_VIRTIO_COMMON_Q_SELECT, 0, &e), 0);
    ck_assert_ptr_nonnull(vs_pci_findings_fail(&f, "pci.driver.common-cfg.5"));
    ck_assert_int_eq(cw16(b, VS_VIRTIO_COMMON_Q_SIZE, 63, &e), 0);
    ck_assert_ptr_nonnull(vs_pci_findings_fail(&f, "pci.driver.common-cfg.3"));
    /* config space: a write inside the common capability, an unaligned window */
    ck_assert_ptr_null(vs_pci_findings_fail(&f, "pci.driver.caps.7"));
    ck_assert_int_eq(b.ops->cfg_write(b.opaque, pd.common.cap + 4u, 1, pd.common.bar, &e), 0);
    ck_assert_ptr_nonnull(vs_pci_findings_fail(&f, "pci.driver.caps.7"));
    uint32_t w = 0, base = pd.pci_cfg_cap;
    ck_assert_uint_ne(base, 0);
    ck_assert_int_eq(b.ops->cfg_write(b.opaque, (uint16_t)(base + 4), 1, pd.device.bar, &e), 0);
    ck_assert_int_eq(b.ops->cfg_write(b.opaque, (uint16_t)(base + 8), 4, pd.device.offset + 1, &e), 0);
    ck_assert_int_eq(b.ops->cfg_write(b.opaque, (uint16_t)(base + 12), 4, 2, &e), 0);
    ck_assert_int_eq(b.ops->cfg_read(b.opaque, (uint16_t)(base + 16), 4, &w, &e), 0);
    ck_assert_ptr_nonnull(vs_pci_findings_fail(&f, "pci.driver.pci-cfg-cap.1"));
    ck_assert_ptr_null(vs_pci_findings_fail(&f, "pci.driver.pci-cfg-cap.3"));
}
END_TEST

/* ------------------------------------------------------------------ checks + mutants */

static int hook_cfg(void *o, vs_err *e)
{
    (void)o;
    int rc = vs_pci_config_changed(fn, e);
    return rc < 0 ? rc : 0;
}
static int hook_q(void *o, uint16_t q, vs_err *e)
{
    (void)o;
    int rc = vs_pci_raise(fn, q, e);
    return rc < 0 ? rc : 0;
}

static void probe(const char *name, vs_pci_findings *f)
{
    vs_err e = {0};
    vs_pci_probe p = {.bus = bus, .gm = gm, .msix_target = PROBE_TARGET,
                      .config_change = hook_cfg, .queue_irq = hook_q};
    memset(f, 0, sizeof *f);
    ck_assert_msg(vs_pci_check_probe(&p, name, f, &e) == 0, "%s: %s", name ? name : "all",
                  e.msg);
}

START_TEST(all_checks_pass_on_correct_model)
{
    vs_pci_findings f;
    probe(NULL, &f);
    for (size_t i = 0; i < f.n; i++)
        ck_assert_msg(f.f[i].verdict != VS_PCI_FAIL, "%s %s: %s", f.f[i].check, f.f[i].id,
                      f.f[i].evidence);
    /* every device check exercised something */
    for (size_t i = 0; i < vs_pci_check_count(); i++) {
        const vs_pci_check_info *c = vs_pci_check_at(i);
        if (c->kind != VS_PCI_CHECK_PROBE)
            continue;
        bool passed = false;
        for (size_t j = 0; j < f.n; j++)
            passed |= strcmp(f.f[j].check, c->name) == 0 && f.f[j].verdict == VS_PCI_PASS;
        ck_assert_msg(passed, "check %s passed nothing", c->name);
    }
    /* statements the catalogue knows */
    ck_assert_int_eq(vs_pci_findings_get(&f, "pci.device.notify-cap.3")->verdict, VS_PCI_PASS);
    ck_assert_int_eq(vs_pci_findings_get(&f, "pci.device.notify-cap.7")->verdict,
                     VS_PCI_NOT_APPLICABLE);
    ck_assert_int_eq(vs_pci_findings_get(&f, "pci.device.common-cfg.12")->verdict, VS_PCI_PASS);
    ck_assert_int_eq(vs_pci_findings_get(&f, "pci.device.isr.5")->verdict, VS_PCI_PASS);
    ck_assert_int_eq(vs_pci_findings_get(&f, "pci.device.msix.9")->verdict, VS_PCI_PASS);
    /* the probes left the device reset */
    ck_assert_uint_eq(vs_pci_device_status(fn), 0);
    /* the probe accesses, as logged by the model, satisfy the log checks too */
    size_t n = 0;
    const vs_pci_access *log = vs_pci_model_log(fn, &n);
    vs_pci_findings lf = {0};
    vs_err e = {0};
    ck_assert_int_eq(vs_pci_check_log(log, n, "log-isr-clear", &lf, &e), 0);
    ck_assert_int_eq(vs_pci_check_log(log, n, "log-queue-size", &lf, &e), 0);
    ck_assert_uint_eq(vs_pci_findings_failures(&lf), 0);
    ck_assert_int_eq(vs_pci_findings_get(&lf, "pci.device.isr.5")->verdict, VS_PCI_PASS);
    ck_assert_int_eq(vs_pci_findings_get(&lf, "pci.device.common-cfg.14")->verdict,
                     VS_PCI_PASS);
}
END_TEST

/* Each mutant makes its check report its statement, and only that check fails. */
START_TEST(each_mutant_fails_its_check)
{
    const vs_pci_mutation_info *m = vs_pci_mutation_at((size_t)_i);
    ck_assert_ptr_nonnull(m);
    ck_assert_ptr_nonnull(vs_pci_check_find(m->check));
    vs_pci_findings f;
    probe(m->check, &f); /* correct model: the check passes */
    ck_assert_msg(vs_pci_findings_failures(&f) == 0, "%s fails on the correct model", m->check);
    ck_assert_int_eq(vs_pci_findings_get(&f, m->id)->verdict, VS_PCI_PASS);
    remake(m->flag);
    probe(m->check, &f);
    const vs_pci_finding *x = vs_pci_findings_fail(&f, m->id);
    ck_assert_msg(x != NULL, "mutant %s: check %s did not report %s", m->name, m->check, m->id);
    ck_assert_str_eq(x->check, m->check);
    ck_assert_uint_gt(strlen(x->evidence), 0);
    /* no other probe check fails against this mutant */
    probe(NULL, &f);
    for (size_t i = 0; i < f.n; i++)
        if (f.f[i].verdict == VS_PCI_FAIL)
            ck_assert_msg(strcmp(f.f[i].check, m->check) == 0,
                          "mutant %s also fails check %s (%s: %s)", m->name, f.f[i].check,
                          f.f[i].id, f.f[i].evidence);
}
END_TEST

START_TEST(log_checks_catch_mutants)
{
    vs_err e = {0};
    vs_pci_findings f = {0};
    remake(VS_PCI_MUT_ISR_NOT_CLEARED);
    enumerate();
    ck_assert_int_eq(vs_pci_raise(fn, 0, &e), VS_PCI_IRQ_INTX);
    vs_pci_model_log_clear(fn);
    uint8_t isr;
    ck_assert_int_eq(vs_pcib_read8(bus, pd.isr.addr, &isr, &e), 0);
    ck_assert_int_eq(vs_pcib_read8(bus, pd.isr.addr, &isr, &e), 0);
    size_t n = 0;
    const vs_pci_access *log = vs_pci_model_log(fn, &n);
    ck_assert_int_eq(vs_pci_check_log(log, n, "log-isr-clear", &f, &e), 0);
    ck_assert_ptr_nonnull(vs_pci_findings_fail(&f, "pci.device.isr.5"));

    remake(VS_PCI_MUT_QUEUE_SIZE_NOT_POW2);
    vs_vq_drv *drv = NULL;
    vs_pci_model_log_clear(fn);
    memset(&f, 0, sizeof f);
    /* the driver init reads queue_size after FEATURES_OK: 255 there */
    enumerate();
    cwr(VS_VIRTIO_COMMON_STATUS, 1, 0);
    cwr(VS_VIRTIO_COMMON_GFSELECT, 4, 1);
    cwr(VS_VIRTIO_COMMON_GF, 4, 1);
    cwr(VS_VIRTIO_COMMON_STATUS, 1, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER |
                                         VS_STATUS_FEATURES_OK);
    cwr(VS_VIRTIO_COMMON_Q_SELECT, 2, 0);
    ck_assert_uint_eq(crd(VS_VIRTIO_COMMON_Q_SIZE, 2), 255);
    log = vs_pci_model_log(fn, &n);
    ck_assert_int_eq(vs_pci_check_log(log, n, "log-queue-size", &f, &e), 0);
    ck_assert_ptr_nonnull(vs_pci_findings_fail(&f, "pci.device.common-cfg.14"));
    (void)drv;
}
END_TEST

START_TEST(registry_consistent)
{
    ck_assert_uint_ge(vs_pci_mutation_count(), 14);
    for (size_t i = 0; i < vs_pci_mutation_count(); i++) {
        const vs_pci_mutation_info *m = vs_pci_mutation_at(i);
        ck_assert_ptr_eq(vs_pci_mutation_find(m->name), m);
        const vs_pci_check_info *c = vs_pci_check_find(m->check);
        ck_assert_ptr_nonnull(c);
        bool covers = false;
        for (const char *const *id = c->ids; *id; id++)
            covers |= strcmp(*id, m->id) == 0;
        ck_assert_msg(covers, "check %s does not list %s", c->name, m->id);
        ck_assert_uint_eq(__builtin_popcount(m->flag), 1);
    }
    ck_assert_ptr_null(vs_pci_mutation_find("nope"));
    ck_assert_ptr_null(vs_pci_mutation_at(1000));
    /* every device-role probe check has a mutant */
    for (size_t i = 0; i < vs_pci_check_count(); i++) {
        const vs_pci_check_info *c = vs_pci_check_at(i);
        if (c->kind != VS_PCI_CHECK_PROBE)
            continue;
        bool has = false;
        for (size_t j = 0; j < vs_pci_mutation_count(); j++)
            has |= strcmp(vs_pci_mutation_at(j)->check, c->name) == 0;
        ck_assert_msg(has, "probe check %s has no mutant", c->name);
    }
}
END_TEST

START_TEST(create_rejects_bad_options)
{
    vs_err e = {0};
    vs_pci_fn *f2 = NULL;
    vs_pci_model_opts o;
    vs_pci_model_opts_default(&o);
    o.msix_vectors = 4000;
    ck_assert_int_eq(vs_pci_model_create(&f2, dev, gm, &o, &e), -VS_EINVAL);
    ck_assert_int_eq(vs_pci_model_create(&f2, NULL, gm, &o, &e), -VS_EINVAL);
    o.msix_vectors = 0; /* no MSI-X at all: caps skip it, vectors read NO_VECTOR */
    ck_assert_int_eq(vs_pci_model_create(&f2, dev, gm, &o, &e), 0);
    vs_pcib_dev d2;
    ck_assert_int_eq(vs_pcib_virtio_setup(vs_pci_model_bus(f2), 0, 0, &d2, &e), 0);
    ck_assert(!d2.msix.present);
    ck_assert(!d2.bars[1].present);
    ck_assert_int_eq(vs_pci_raise(f2, 0, &e), VS_PCI_IRQ_INTX);
    vs_pci_model_destroy(f2);
    /* multiplier 0: every queue shares one address, queue named by the value */
    o.notify_off_multiplier = 0;
    o.msix_vectors = VS_PCI_MSIX_DEFAULT;
    ck_assert_int_eq(vs_pci_model_create(&f2, dev, gm, &o, &e), 0);
    vs_pci_model_destroy(f2);
}
END_TEST

static Suite *pci_suite(void)
{
    Suite *s = suite_create("pci");
    TCase *t = tcase_create("model");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, enumerate_like_qemu);
    tcase_add_test(t, access_rules);
    tcase_add_test(t, blk_rw_through_model_msix);
    tcase_add_test(t, msix_mask_pending);
    tcase_add_test(t, intx_isr_read_clears);
    tcase_add_test(t, pci_cfg_window_and_pci_reset);
    tcase_add_test(t, logger_wraps_any_bus);
    tcase_add_test(t, drv_judge_streams);
    tcase_add_test(t, create_rejects_bad_options);
    suite_add_tcase(s, t);
    TCase *c = tcase_create("checks");
    tcase_add_checked_fixture(c, setup, teardown);
    tcase_add_test(c, all_checks_pass_on_correct_model);
    tcase_add_loop_test(c, each_mutant_fails_its_check, 0, (int)vs_pci_mutation_count());
    tcase_add_test(c, log_checks_catch_mutants);
    tcase_add_test(c, registry_consistent);
    suite_add_tcase(s, c);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(pci_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
