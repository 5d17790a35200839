/* The one virtio-pci driver (sim/transport_pci.c) over the in-process PCI model in front
 * of the reference virtio-blk (deterministic, virtual clock) and over QEMU (qtest bus),
 * plus the PCI probe checks folded into conformance results. */
#define _GNU_SOURCE
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "virtiosim/blk.h"
#include "virtiosim/blk_qemu.h"
#include "virtiosim/blk_driver.h"
#include "virtiosim/conformance.h"
#include "virtiosim/driver.h"
#include "virtiosim/event.h"
#include "virtiosim/gmem.h"
#include "virtiosim/pci.h"
#include "virtiosim/qemu.h"
#include "virtiosim/sim.h"
#include "virtiosim/transport_pci.h"
#include "virtiosim/transport_ref.h"

#define MEM (32u << 20)

#define OK(call)                                                                           \
    do {                                                                                   \
        vs_err e_ = {0};                                                                   \
        vs_err *e = &e_;                                                                   \
        (void)e;                                                                           \
        int rc_ = (call);                                                                  \
        ck_assert_msg(rc_ >= 0, "%s -> %s: %s", #call, vs_errc_name(rc_), e_.msg);         \
    } while (0)

/* ------------------------------------------------------------------ event hashing */

typedef struct ev_hash {
    uint64_t h, n;
    uint64_t count[VS_EV_KIND_COUNT];
} ev_hash;

static void mix(ev_hash *x, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        x->h ^= (v >> (8 * i)) & 0xff;
        x->h *= 0x100000001b3ull;
    }
}

static void on_ev(void *opaque, const vs_event *ev)
{
    ev_hash *x = opaque;
    x->n++;
    if ((unsigned)ev->kind < VS_EV_KIND_COUNT)
        x->count[ev->kind]++;
    mix(x, ev->kind);
    mix(x, ev->t_ns);
    mix(x, (uint64_t)(int64_t)ev->queue);
    mix(x, ev->id);
    mix(x, ev->len);
    mix(x, ev->idx);
    mix(x, ev->val);
}

/* ------------------------------------------------------------------ model fixture */

typedef struct mfx {
    vs_engine *eng;
    vs_gmem *gm;
    vs_device *dev;
    vs_transport *t;
    vs_driver *d;
    vs_event_bus bus;
    ev_hash hash;
} mfx;

static uint64_t eng_now(void *opaque) { return vs_engine_now(opaque); }

static int mstart(mfx *f, uint64_t seed, const vs_ref_opts *ro, vs_err *e)
{
    memset(f, 0, sizeof *f);
    f->hash.h = 0xcbf29ce484222325ull;
    int rc = vs_engine_create(&f->eng, seed, e);
    if (rc == 0)
        rc = vs_gmem_create_flat(&f->gm, MEM, e);
    vs_blk_opts bo;
    vs_blk_opts_default(&bo);
    bo.capacity_sectors = 4096;
    bo.extra_features |= VS_BIT(VS_F_RING_RESET); /* so the queue-reset probes apply */
    if (rc == 0)
        rc = vs_blk_create(&f->dev, f->gm, &bo, e);
    if (rc == 0)
        rc = vs_event_bus_add(&f->bus, on_ev, &f->hash);
    if (rc == 0)
        rc = vs_pci_model_transport_create(&f->t, f->eng, f->dev, f->gm, ro, &f->bus, e);
    return rc;
}

static void mdriver(mfx *f, enum vs_irq_mode mode, vs_ring_format ring)
{
    vs_driver_opts o;
    vs_driver_opts_default(&o);
    o.irq_mode = mode;
    o.ring = ring;
    o.seed = 11;
    OK(vs_driver_create(&f->d, f->t, &o, &f->bus, eng_now, f->eng, e));
    OK(vs_driver_init(f->d, e));
}

static void mfinish(mfx *f)
{
    vs_driver_destroy(f->d);
    if (f->t)
        f->t->ops->destroy(f->t);
    if (f->dev)
        f->dev->ops->destroy(f->dev);
    vs_gmem_destroy(f->gm);
    vs_engine_destroy(f->eng);
}

static void ref_opts(vs_ref_opts *ro, enum vs_irq_mode mode)
{
    vs_ref_opts_default(ro);
    ro->irq_mode = mode;
    ro->service.dist = VS_SERVICE_UNIFORM;
    ro->service.min_ns = 2000;
    ro->service.max_ns = 40000;
}

/* write + verified read, then a verified random workload at depth 8 */
static void io(mfx *f)
{
    vs_blk_req w = {.type = VS_BLK_T_OUT, .sector = 5, .nsectors = 8};
    vs_blk_result res;
    OK(vs_blk_do(f->d, &w, &res, e));
    ck_assert_msg(res.ok, "write: %s", res.msg);
    vs_blk_req r = {.type = VS_BLK_T_IN, .sector = 5, .nsectors = 8};
    OK(vs_blk_do(f->d, &r, &res, e));
    ck_assert_msg(res.ok && res.sectors_verified == 8, "read: %s (verified %u)", res.msg,
                  res.sectors_verified);
    vs_blk_workload wl = {.rw = VS_RW_RANDRW, .bs = 4096, .iodepth = 8, .nr_ops = 300,
                          .verify = true, .size = 1u << 20};
    vs_blk_workload_stats st;
    OK(vs_blk_workload_run(f->d, &wl, &st, e));
    ck_assert_uint_eq(st.ops, 300);
    ck_assert_msg(st.errors == 0 && st.verify_failures == 0, "errors %llu verify %llu: %s",
                  (unsigned long long)st.errors, (unsigned long long)st.verify_failures,
                  st.first_error);
}

static ev_hash run_once(uint64_t seed, enum vs_irq_mode mode, vs_ring_format ring)
{
    mfx f;
    vs_ref_opts ro;
    ref_opts(&ro, mode);
    OK(mstart(&f, seed, &ro, e));
    ck_assert(vs_pci_transport_is(f.t));
    ck_assert(vs_pci_model_transport_is(f.t));
    ck_assert_str_eq(f.t->ops->name, "pci-model");
    mdriver(&f, mode, ring);
    io(&f);
    vs_pci_transport_stats st;
    vs_pci_transport_stats_get(f.t, &st);
    ck_assert_uint_gt(st.kicks, 0);
    ck_assert_uint_gt(st.irqs, 0);
    ev_hash h = f.hash;
    ck_assert_uint_gt(h.count[VS_EV_DOORBELL], 0);
    ck_assert_uint_gt(h.count[VS_EV_FETCH], 300);
    ck_assert_uint_gt(h.count[VS_EV_IRQ], 0);
    ck_assert_uint_eq(h.count[VS_EV_DEVICE_ERROR], 0);
    if (mode == VS_IRQ_INTX)
        ck_assert_uint_gt(h.count[VS_EV_ISR_READ], 0);
    mfinish(&f);
    return h;
}

START_TEST(model_msix_deterministic)
{
    ev_hash a = run_once(42, VS_IRQ_MSIX, VS_RING_SPLIT);
    ev_hash b = run_once(42, VS_IRQ_MSIX, VS_RING_SPLIT);
    ck_assert_uint_eq(a.n, b.n);
    ck_assert_uint_eq(a.h, b.h);
    ev_hash c = run_once(43, VS_IRQ_MSIX, VS_RING_SPLIT);
    ck_assert_msg(c.h != a.h, "another seed gave the same event stream");
    fprintf(stderr, "pci-model msix: %llu events, hash %016llx\n", (unsigned long long)a.n,
            (unsigned long long)a.h);
}
END_TEST

START_TEST(model_intx_deterministic)
{
    ev_hash a = run_once(7, VS_IRQ_INTX, VS_RING_SPLIT);
    ev_hash b = run_once(7, VS_IRQ_INTX, VS_RING_SPLIT);
    ck_assert_uint_eq(a.n, b.n);
    ck_assert_uint_eq(a.h, b.h);
}
END_TEST

START_TEST(model_packed_and_poll)
{
    run_once(3, VS_IRQ_MSIX, VS_RING_PACKED);
    /* polling: no interrupts are used, the workload still completes */
    mfx f;
    vs_ref_opts ro;
    ref_opts(&ro, VS_IRQ_POLL);
    OK(mstart(&f, 5, &ro, e));
    mdriver(&f, VS_IRQ_POLL, VS_RING_SPLIT);
    vs_blk_req r = {.type = VS_BLK_T_IN, .sector = 1, .nsectors = 1};
    vs_blk_result res;
    OK(vs_blk_do(f.d, &r, &res, e));
    ck_assert(res.status_ok);
    mfinish(&f);
}
END_TEST

/* the MSI-X message really is a store into guest memory, by the model */
START_TEST(model_msix_message_in_guest_ram)
{
    mfx f;
    OK(mstart(&f, 1, NULL, e));
    mdriver(&f, VS_IRQ_MSIX, VS_RING_SPLIT);
    vs_pci_fn *fn = vs_pci_model_transport_fn(f.t);
    ck_assert_ptr_nonnull(fn);
    const vs_pcib_dev *lay = vs_pci_transport_layout(f.t);
    ck_assert_ptr_nonnull(lay);
    ck_assert(lay->msix.present);
    vs_pci_bus b;
    OK(vs_pci_transport_bus(f.t, &b));
    uint32_t addr = 0, data = 0;
    OK(vs_pcib_read32(b, lay->msix.table_addr + 16 + 0, &addr, e));
    OK(vs_pcib_read32(b, lay->msix.table_addr + 16 + 8, &data, e));
    ck_assert_uint_eq(data, VS_PCI_MSI_DATA_TAG | 1);
    ck_assert_int_eq(vs_pci_raise(fn, 0, NULL), VS_PCI_IRQ_MSIX_SENT);
    uint32_t slot = 0;
    OK(vs_gmem_ld32(f.gm, addr, &slot, e));
    ck_assert_uint_eq(slot, VS_PCI_MSI_DATA_TAG | 1);
    /* config change through the model: a config interrupt + CONFIG_CHANGE event */
    uint64_t cc = f.hash.count[VS_EV_CONFIG_CHANGE];
    OK(vs_pci_model_transport_config_changed(f.t, e));
    OK(f.t->ops->wait(f.t, 1000000, e));
    ck_assert_uint_eq(f.hash.count[VS_EV_CONFIG_CHANGE], cc + 1);
    mfinish(&f);
}
END_TEST

static void device_error_path(enum vs_irq_mode mode)
{
    mfx f;
    vs_ref_opts ro;
    ref_opts(&ro, mode);
    OK(mstart(&f, 9, &ro, e));
    mdriver(&f, mode, VS_RING_SPLIT);
    OK(vs_blk_read(f.d, 0, 0, 1, e));
    OK(vs_driver_run(f.d, 0, e));
    OK(vs_driver_submit_fault(f.d, 0, VS_FAULT_NEXT_OOR, e));
    vs_err er = {0};
    int rc = vs_driver_wait_status(f.d, VS_STATUS_DEVICE_NEEDS_RESET, 10000000, &er);
    ck_assert_msg(rc == 1, "wait_status -> %d: %s", rc, er.msg);
    ck_assert(vs_driver_needs_reset(f.d));
    ck_assert_uint_eq(f.hash.count[VS_EV_DEVICE_ERROR], 1);
    ck_assert_uint_ge(f.hash.count[VS_EV_CONFIG_CHANGE], 1);
    uint8_t st = 0;
    OK(f.t->ops->get_status(f.t, &st, e));
    ck_assert(st & VS_STATUS_DEVICE_NEEDS_RESET);
    /* the device does nothing more until reset; after a reset it works again */
    OK(vs_driver_reset(f.d, e));
    OK(vs_driver_init(f.d, e));
    vs_blk_req r = {.type = VS_BLK_T_IN, .sector = 0, .nsectors = 1};
    vs_blk_result res;
    OK(vs_blk_do(f.d, &r, &res, e));
    ck_assert(res.status_ok);
    mfinish(&f);
}

START_TEST(model_device_error_msix) { device_error_path(VS_IRQ_MSIX); }
END_TEST

START_TEST(model_device_error_intx) { device_error_path(VS_IRQ_INTX); }
END_TEST

/* a ring mutant passes through the model's device half: used.len too long is caught */
START_TEST(model_ring_mutant_passes_through)
{
    mfx f;
    vs_ref_opts ro;
    ref_opts(&ro, VS_IRQ_MSIX);
    ro.ring_mutations = VS_VQ_MUT_USED_LEN_TOO_LONG;
    OK(mstart(&f, 2, &ro, e));
    mdriver(&f, VS_IRQ_MSIX, VS_RING_SPLIT);
    vs_blk_req r = {.type = VS_BLK_T_IN, .sector = 0, .nsectors = 1};
    vs_blk_result res;
    OK(vs_blk_do(f.d, &r, &res, e));
    ck_assert(!res.len_ok);
    mfinish(&f);
}
END_TEST

/* ------------------------------------------------------------------ checks */

START_TEST(checks_model_all_pass)
{
    mfx f;
    OK(mstart(&f, 1, NULL, e));
    vs_results *r = NULL;
    OK(vs_results_create(&r, e));
    vs_pci_findings *fd = calloc(1, sizeof *fd);
    int rc;
    {
        vs_err er = {0};
        rc = vs_pci_transport_checks(f.t, r, "pci-model-probe", fd, &er);
        ck_assert_msg(rc >= 0, "checks: %s", er.msg);
    }
    for (size_t i = 0; i < fd->n; i++)
        if (fd->f[i].verdict == VS_PCI_FAIL)
            fprintf(stderr, "model FAIL %s %s: %s\n", fd->f[i].check, fd->f[i].id,
                    fd->f[i].evidence);
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(r->count[VS_VERDICT_FAIL], 0);
    ck_assert_uint_gt(r->count[VS_VERDICT_PASS], 20);
    const vs_stmt_result *s = vs_results_find(r, "pci.device.isr.5");
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(s->verdict, VS_VERDICT_PASS);
    ck_assert_uint_ge(s->exercised, 1);
    s = vs_results_find(r, "pci.device.discovery.1");
    ck_assert_int_eq(s->verdict, VS_VERDICT_PASS);
    fprintf(stderr, "pci-model probe: %zu findings, %zu statements pass\n", fd->n,
            r->count[VS_VERDICT_PASS]);
    /* the results merge into a scenario's like any other */
    vs_results *agg = NULL;
    OK(vs_results_create(&agg, e));
    OK(vs_results_merge(agg, r, e));
    ck_assert_int_eq(vs_results_find(agg, "pci.device.isr.5")->verdict, VS_VERDICT_PASS);
    vs_results_destroy(agg);
    /* folding kept findings later gives the same verdicts */
    vs_results *late = NULL;
    OK(vs_results_create(&late, e));
    ck_assert_int_eq(vs_pci_results_fold(late, fd, "later", 0), 0);
    ck_assert_uint_eq(late->count[VS_VERDICT_PASS], r->count[VS_VERDICT_PASS]);
    ck_assert_int_eq(vs_pci_results_fold(NULL, fd, "x", 0), -VS_EINVAL);
    vs_results_destroy(late);
    /* and the driver initialises and works after the probe */
    mdriver(&f, VS_IRQ_MSIX, VS_RING_SPLIT);
    io(&f);
    vs_results_destroy(r);
    free(fd);
    mfinish(&f);
}
END_TEST

START_TEST(checks_model_mutants_fail)
{
    size_t tried = 0;
    for (size_t i = 0; i < vs_pci_mutation_count(); i++) {
        const vs_pci_mutation_info *mi = vs_pci_mutation_at(i);
        const vs_pci_check_info *ci = vs_pci_check_find(mi->check);
        if (!ci || ci->kind != VS_PCI_CHECK_PROBE)
            continue;
        mfx f;
        vs_ref_opts ro;
        vs_ref_opts_default(&ro);
        ro.pci_mutations = mi->flag;
        vs_err er = {0};
        int rc = mstart(&f, 1, &ro, &er);
        if (rc < 0) {
            /* the driver itself refuses this function: that is a detection too */
            fprintf(stderr, "mutant %s: create refused: %s\n", mi->name, er.msg);
            mfinish(&f);
            continue;
        }
        vs_results *r = NULL;
        OK(vs_results_create(&r, e));
        rc = vs_pci_transport_checks(f.t, r, "pci-mutant", NULL, &er);
        ck_assert_msg(rc > 0, "mutant %s: checks -> %d (%s)", mi->name, rc, er.msg);
        const vs_stmt_result *s = vs_results_find(r, mi->id);
        ck_assert_ptr_nonnull(s);
        ck_assert_msg(s->verdict == VS_VERDICT_FAIL, "mutant %s: %s is %s", mi->name, mi->id,
                      vs_verdict_name(s->verdict));
        ck_assert_uint_ge(s->n_evidence, 1);
        if (tried == 0) {
            char buf[400];
            vs_evidence_format(&s->evidence[0], buf, sizeof buf);
            fprintf(stderr, "mutant %s -> %s: %s\n", mi->name, mi->id, buf);
        }
        tried++;
        vs_results_destroy(r);
        mfinish(&f);
    }
    ck_assert_uint_ge(tried, 10);
}
END_TEST

/* ------------------------------------------------------------------ QEMU */

START_TEST(checks_qemu)
{
    vs_gmem *gm = NULL;
    OK(vs_gmem_create_flat(&gm, MEM, e));
    vs_qemu_blk_params p;
    vs_qemu_blk_params_default(&p);
    vs_qemu_args a;
    OK(vs_qemu_blk_args(&p, &a, e));
    vs_qemu_backend_opts o;
    vs_qemu_backend_opts_default(&o);
    o.device_type = VS_DEV_BLK;
    o.device_args = a.argv;
    vs_transport *t = NULL;
    ev_hash h = {.h = 1};
    vs_event_bus bus = {0};
    vs_event_bus_add(&bus, on_ev, &h);
    OK(vs_qemu_transport_create(&t, gm, &o, &bus, e));
    ck_assert(vs_pci_transport_is(t));
    ck_assert(vs_qemu_transport_is(t));
    ck_assert(!vs_pci_model_transport_is(t));
    vs_results *r = NULL;
    OK(vs_results_create(&r, e));
    vs_pci_findings *fd = calloc(1, sizeof *fd);
    vs_err er = {0};
    int rc = vs_pci_transport_checks(t, r, "qemu-probe", fd, &er);
    ck_assert_msg(rc >= 0, "checks: %s", er.msg);
    fprintf(stderr, "%s: probe %zu findings, %d FAIL, %zu statements pass, %zu not exercised\n",
            vs_qemu_transport_version(t), fd->n, rc, r->count[VS_VERDICT_PASS],
            r->count[VS_VERDICT_NOT_EXERCISED]);
    for (size_t i = 0; i < fd->n; i++)
        if (fd->f[i].verdict == VS_PCI_FAIL)
            fprintf(stderr, "  QEMU FAIL %s %s: %s\n", fd->f[i].check, fd->f[i].id,
                    fd->f[i].evidence);
    ck_assert_uint_eq(r->count[VS_VERDICT_FAIL], (size_t)rc > 0 ? r->count[VS_VERDICT_FAIL] : 0);
    ck_assert_uint_gt(r->count[VS_VERDICT_PASS], 15);
    /* the same driver then runs I/O against QEMU */
    vs_driver_opts dop;
    vs_driver_opts_default(&dop);
    vs_driver *d = NULL;
    OK(vs_driver_create(&d, t, &dop, &bus, NULL, NULL, e));
    OK(vs_driver_init(d, e));
    vs_blk_req rq = {.type = VS_BLK_T_IN, .sector = 0, .nsectors = 8};
    vs_blk_result res;
    OK(vs_blk_do(d, &rq, &res, e));
    ck_assert_msg(res.status_ok, "%s", res.msg);
    ck_assert_uint_gt(h.count[VS_EV_IRQ], 0);
    vs_driver_destroy(d);
    t->ops->destroy(t);
    vs_results_destroy(r);
    free(fd);
    vs_gmem_destroy(gm);
}
END_TEST

START_TEST(bad_args)
{
    vs_err er = {0};
    vs_transport *t = NULL;
    ck_assert_int_eq(vs_pci_model_transport_create(&t, NULL, NULL, NULL, NULL, NULL, &er),
                     -VS_EINVAL);
    ck_assert_int_eq(vs_pci_transport_checks(NULL, NULL, NULL, NULL, &er), -VS_EINVAL);
    ck_assert(!vs_pci_transport_is(NULL));
    ck_assert_ptr_null(vs_pci_model_transport_fn(NULL));
    mfx f;
    vs_ref_opts ro;
    vs_ref_opts_default(&ro);
    ro.irq_mode = (enum vs_irq_mode)9;
    ck_assert_int_eq(mstart(&f, 1, &ro, &er), -VS_EINVAL);
    mfinish(&f);
    /* notify before setup: -VS_ESTATE; config beyond the device's: -VS_ERANGE */
    OK(mstart(&f, 1, NULL, e));
    ck_assert_int_eq(f.t->ops->notify(f.t, 0, &er), -VS_ESTATE);
    uint8_t b;
    ck_assert_int_eq(f.t->ops->config_read(f.t, 0x1000, &b, 1, &er), -VS_ERANGE);
    uint64_t cap = 0;
    OK(f.t->ops->config_read(f.t, 0, &cap, 8, e));
    ck_assert_uint_eq(cap, 4096);
    mfinish(&f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("transport_pci");
    TCase *tc = tcase_create("pci");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bad_args);
    tcase_add_test(tc, model_msix_deterministic);
    tcase_add_test(tc, model_intx_deterministic);
    tcase_add_test(tc, model_packed_and_poll);
    tcase_add_test(tc, model_msix_message_in_guest_ram);
    tcase_add_test(tc, model_device_error_msix);
    tcase_add_test(tc, model_device_error_intx);
    tcase_add_test(tc, model_ring_mutant_passes_through);
    tcase_add_test(tc, checks_model_all_pass);
    tcase_add_test(tc, checks_model_mutants_fail);
    tcase_add_test(tc, checks_qemu);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
