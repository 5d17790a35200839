/* Deferred completions through the ref transport (VS_DEV_DEFERRED, vs_device.complete,
 * ops->drain), with the reference virtio-scsi device: an eventq buffer used only when an
 * event comes, a held command aborted by a TMF (used before the TMF), held commands
 * completed before a device reset, and a queue reset forgetting what the device held. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "virtiosim/gmem.h"
#include "virtiosim/scsi.h"
#include "virtiosim/sim.h"
#include "virtiosim/transport_ref.h"
#include "virtiosim/vring.h"

#define NQ 3
#define QSZ 16

typedef struct fx {
    vs_engine *eng;
    vs_gmem *gm;
    vs_device *dev;
    vs_transport *t;
    vs_vq_layout lay[NQ];
    vs_vq_drv *dq[NQ];
} fx;

#define OK(call) ck_assert_int_ge((call), 0)

static void fx_init(fx *f, bool packed)
{
    memset(f, 0, sizeof *f);
    vs_err e = {0};
    ck_assert_int_eq(vs_engine_create(&f->eng, 7, &e), 0);
    ck_assert_int_eq(vs_gmem_create_flat(&f->gm, 2u << 20, &e), 0);
    vs_scsi_opts o;
    vs_scsi_opts_default(&o);
    ck_assert_msg(vs_scsi_create(&f->dev, f->gm, &o, &e) == 0, "%s", e.msg);
    ck_assert_msg(vs_ref_transport_create(&f->t, f->eng, f->dev, f->gm, NULL, NULL, &e) == 0,
                  "%s", e.msg);
    ck_assert_ptr_nonnull(f->dev->complete);
    vs_transport *t = f->t;
    uint8_t drv = VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER;
    OK(t->ops->set_status(t, drv, &e));
    OK(t->ops->set_driver_features(t, VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_SCSI_F_HOTPLUG) |
                                          (packed ? VS_BIT(VS_F_RING_PACKED) : 0), &e));
    OK(t->ops->set_status(t, drv | VS_STATUS_FEATURES_OK, &e));
    for (uint16_t q = 0; q < NQ; q++) {
        ck_assert_int_eq(vs_vq_layout_alloc(f->gm, packed ? VS_RING_PACKED : VS_RING_SPLIT, QSZ,
                                            &f->lay[q], &e), 0);
        vs_vq_drv_opts dopt = {.queue_index = q};
        ck_assert_int_eq(vs_vq_drv_create(&f->dq[q], f->gm, &f->lay[q], &dopt, &e), 0);
        ck_assert_msg(t->ops->queue_setup(t, q, &f->lay[q], &e) == 0, "%s", e.msg);
    }
    OK(t->ops->set_status(t, drv | VS_STATUS_FEATURES_OK | VS_STATUS_DRIVER_OK, &e));
}

static void fx_free(fx *f)
{
    f->t->ops->destroy(f->t);
    ck_assert_ptr_null(f->dev->complete);
    f->dev->ops->destroy(f->dev);
    for (int q = 0; q < NQ; q++)
        vs_vq_drv_destroy(f->dq[q]);
    vs_gmem_destroy(f->gm);
    vs_engine_destroy(f->eng);
}

static void settle(fx *f)
{
    vs_engine_run_until(f->eng, vs_engine_now(f->eng) + 10000000);
}

/* Adds readable bytes `out` (if any) and writable buffers of in_len; notifies. */
static uint64_t add(fx *f, uint16_t q, const void *out, uint32_t out_len, uint32_t in_len,
                    int cookie)
{
    vs_err e = {0};
    uint64_t ro = 0, wr;
    vs_seg segs[2];
    unsigned n_out = 0;
    if (out_len) {
        ck_assert_int_eq(vs_gmem_alloc(f->gm, out_len, 16, &ro, &e), 0);
        ck_assert_int_eq(vs_gmem_write(f->gm, ro, out, out_len, &e), 0);
        segs[n_out++] = (vs_seg){ro, out_len};
    }
    ck_assert_int_eq(vs_gmem_alloc(f->gm, in_len, 16, &wr, &e), 0);
    segs[n_out] = (vs_seg){wr, in_len};
    ck_assert(vs_vq_drv_add(f->dq[q], segs, n_out, 1, 0, (void *)(intptr_t)cookie, &e) >= 0);
    vs_vq_drv_publish(f->dq[q]);
    OK(f->t->ops->notify(f->t, q, &e));
    return wr;
}

static int collect(fx *f, uint16_t q, int *cookies, uint32_t *lens)
{
    vs_used u;
    vs_err e = {0};
    int n = 0;
    while (vs_vq_drv_collect(f->dq[q], &u, &e) == 1) {
        cookies[n] = (int)(intptr_t)u.cookie;
        lens[n++] = u.len;
    }
    return n;
}

static uint64_t tur(fx *f, uint64_t id, int cookie)
{
    uint8_t h[51];
    vs_scsi_cmd_req r = {.id = id, .cdb_len = 6};
    vs_scsi_lun_encode(r.lun, 0, 0);
    vs_scsi_cmd_req_put(h, sizeof h, 32, false, &r);
    return add(f, VS_SCSI_Q_REQ0, h, sizeof h, 108, cookie);
}

START_TEST(eventq_and_tmf_through_ref)
{
    fx f;
    fx_init(&f, _i == 1); /* split, packed */
    vs_err e = {0};
    int ck[8];
    uint32_t len[8];
    /* an eventq buffer waits for an event */
    uint64_t evbuf = add(&f, VS_SCSI_Q_EVENT, NULL, 0, 16, 1);
    settle(&f);
    ck_assert_int_eq(collect(&f, VS_SCSI_Q_EVENT, ck, len), 0);
    ck_assert_uint_eq(vs_scsi_event_buffers(f.dev), 1);
    ck_assert_uint_eq(vs_ref_inflight(f.t, VS_SCSI_Q_EVENT), 1);
    vs_scsi_lun_opts l = {.target = 0, .lun = 4};
    ck_assert_int_eq(vs_scsi_lun_add(f.dev, &l, &e), 0);
    settle(&f);
    ck_assert_int_eq(collect(&f, VS_SCSI_Q_EVENT, ck, len), 1);
    ck_assert_uint_eq(len[0], 16);
    uint8_t eb[16];
    vs_gmem_read(f.gm, evbuf, eb, 16, &e);
    vs_scsi_event ev;
    vs_scsi_event_get(eb, &ev);
    ck_assert_uint_eq(ev.event, VS_SCSI_T_TRANSPORT_RESET);
    ck_assert_uint_eq(ev.reason, VS_SCSI_EVT_RESET_RESCAN);
    /* two held commands, ABORT TASK of the second: its used element comes first */
    ck_assert_int_eq(vs_scsi_hold(f.dev, 0, 0, UINT32_MAX, &e), 0);
    tur(&f, 1, 10);
    uint64_t resp2 = tur(&f, 2, 11);
    settle(&f);
    ck_assert_int_eq(collect(&f, VS_SCSI_Q_REQ0, ck, len), 0);
    ck_assert_uint_eq(vs_scsi_held(f.dev), 2);
    uint8_t tmf[VS_SCSI_TMF_REQ_BYTES];
    vs_scsi_tmf_req tr = {.type = VS_SCSI_T_TMF, .subtype = VS_SCSI_T_TMF_ABORT_TASK, .id = 2};
    vs_scsi_lun_encode(tr.lun, 0, 0);
    vs_scsi_tmf_req_put(tmf, &tr);
    add(&f, VS_SCSI_Q_CTRL, tmf, sizeof tmf, 1, 20);
    settle(&f);
    ck_assert_int_eq(collect(&f, VS_SCSI_Q_REQ0, ck, len), 1);
    ck_assert_int_eq(ck[0], 11);
    ck_assert_uint_eq(len[0], 108);
    ck_assert_int_eq(collect(&f, VS_SCSI_Q_CTRL, ck, len), 1);
    uint8_t rb[12];
    vs_gmem_read(f.gm, resp2, rb, 12, &e);
    ck_assert_uint_eq(rb[11], VS_SCSI_S_ABORTED);
    /* the other one is still held: a device reset completes it (RESET) first */
    ck_assert_uint_eq(vs_ref_inflight(f.t, VS_SCSI_Q_REQ0), 1);
    add(&f, VS_SCSI_Q_EVENT, NULL, 0, 16, 2);
    settle(&f);
    OK(f.t->ops->set_status(f.t, 0, &e));
    ck_assert_int_eq(collect(&f, VS_SCSI_Q_REQ0, ck, len), 1);
    ck_assert_int_eq(ck[0], 10);
    ck_assert_int_eq(collect(&f, VS_SCSI_Q_EVENT, ck, len), 0); /* forgotten */
    ck_assert_uint_eq(vs_scsi_held(f.dev), 0);
    ck_assert_uint_eq(vs_scsi_event_buffers(f.dev), 0);
    ck_assert(!vs_ref_device_stopped(f.t));
    fx_free(&f);
}
END_TEST

START_TEST(queue_reset_forgets_held)
{
    fx f;
    fx_init(&f, false);
    vs_err e = {0};
    int ck[4];
    uint32_t len[4];
    ck_assert_int_eq(vs_scsi_hold(f.dev, 0, 0, 1, &e), 0);
    tur(&f, 5, 1);
    settle(&f);
    ck_assert_uint_eq(vs_scsi_held(f.dev), 1);
    OK(f.t->ops->queue_disable(f.t, VS_SCSI_Q_REQ0, &e));
    ck_assert_uint_eq(vs_scsi_held(f.dev), 0);
    ck_assert_int_eq(collect(&f, VS_SCSI_Q_REQ0, ck, len), 0);
    /* a late completion of a forgotten chain is ignored, not pushed */
    f.dev->complete(f.dev->complete_ctx, VS_SCSI_Q_REQ0, 0, 108);
    ck_assert_int_eq(collect(&f, VS_SCSI_Q_REQ0, ck, len), 0);
    ck_assert(!vs_ref_device_stopped(f.t));
    fx_free(&f);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("transport_ref_defer");
    TCase *tc = tcase_create("defer");
    tcase_add_loop_test(tc, eventq_and_tmf_through_ref, 0, 2);
    tcase_add_test(tc, queue_reset_forgets_held);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
