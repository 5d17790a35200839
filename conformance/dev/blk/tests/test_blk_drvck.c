/* blk driver-role rules of conformance/dev/blk/blk_drvck.c fed synthetic events: the
 * branches the driver mutants do not reach (a NEEDS_RESET or a reset ends the wait for a
 * capacity read without a verdict, FAILED before FEATURES_OK is the right way to give up
 * on a host-managed model, DISCARD judged only when it is offered). */
#include <check.h>
#include <string.h>

#include "virtiosim/blk.h"
#include "virtiosim/conformance.h"
#include "virtiosim/gmem.h"
#include "virtiosim/virtio.h"

typedef struct h {
    vs_gmem *gm;
    vs_monitors *m;
    uint64_t t;
    uint64_t neg;       /* the driver's features, for the statements' feature expressions */
} h;

static void open_h(h *x)
{
    memset(x, 0, sizeof *x);
    ck_assert_int_eq(vs_gmem_create_flat(&x->gm, 1u << 16, NULL), 0);
    ck_assert_int_eq(vs_monitors_create(&x->m, x->gm, VS_DEV_BLK, VS_ROLE_DRIVER, NULL), 0);
}

static void ev(h *x, enum vs_event_kind k, uint64_t val)
{
    vs_event e = {.kind = k, .t_ns = x->t += 10, .queue = -1, .val = val};
    vs_monitors_on_event(x->m, &e);
}

static void cfg_read(h *x, uint32_t off, uint32_t len, uint64_t val)
{
    vs_event e = {.kind = VS_EV_CONFIG_READ, .t_ns = x->t += 10, .queue = -1, .off = off,
                  .len = len, .val = val};
    vs_monitors_on_event(x->m, &e);
}

/* Reset, ACKNOWLEDGE | DRIVER, the offer, the zoned model read (model < 0: not read),
 * the driver's features. */
static void negotiate(h *x, uint64_t offered, int model, uint64_t accepted)
{
    ev(x, VS_EV_RESET, 0);
    ev(x, VS_EV_STATUS_READ, 0);
    ev(x, VS_EV_STATUS_WRITE, VS_STATUS_ACKNOWLEDGE);
    ev(x, VS_EV_STATUS_WRITE, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER);
    ev(x, VS_EV_FEATURES_READ, offered);
    if (model >= 0)
        cfg_read(x, VS_BLK_CFG_ZONED_MODEL, 1, (uint64_t)model);
    ev(x, VS_EV_FEATURES_WRITE, accepted);
    x->neg = accepted;
}

static const uint8_t OKS = VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER | VS_STATUS_FEATURES_OK;

static void driver_ok(h *x)
{
    ev(x, VS_EV_STATUS_WRITE, OKS);
    ev(x, VS_EV_STATUS_READ, OKS);
    ev(x, VS_EV_STATUS_WRITE, OKS | VS_STATUS_DRIVER_OK);
}

static enum vs_verdict close_h(h *x, const char *id)
{
    ck_assert_int_eq(vs_monitors_finish(x->m, x->neg, NULL), 0);
    const vs_results *r = vs_monitors_results(x->m);
    enum vs_verdict v = VS_VERDICT_NOT_EXERCISED;
    bool found = false;
    for (size_t i = 0; i < r->n_stmt; i++)
        if (strcmp(r->stmt[i].st->id, id) == 0) {
            v = r->stmt[i].verdict;
            found = true;
        }
    ck_assert_msg(found, "no statement %s", id);
    vs_monitors_destroy(x->m);
    vs_gmem_destroy(x->gm);
    return v;
}

#define V1 VS_BIT(VS_F_VERSION_1)
#define ZONED VS_BIT(VS_BLK_F_ZONED)
#define DISCARD VS_BIT(VS_BLK_F_DISCARD)

/* blk.driver.blk-op.1: answered, never answered, about an error, ended by a reset. */
START_TEST(capacity_reread)
{
    static const char *const op1 = "blk.driver.blk-op.1";
    for (int k = 0; k < 4; k++) {
        h x;
        open_h(&x);
        negotiate(&x, V1, -1, V1);
        driver_ok(&x);
        ev(&x, VS_EV_CONFIG_CHANGE, 0);
        if (k == 0)
            cfg_read(&x, VS_BLK_CFG_CAPACITY, 8, 4096);
        else if (k == 2)
            ev(&x, VS_EV_STATUS_READ, OKS | VS_STATUS_DRIVER_OK | VS_STATUS_DEVICE_NEEDS_RESET);
        else if (k == 3)
            ev(&x, VS_EV_RESET, 0);
        enum vs_verdict want[4] = {VS_VERDICT_PASS, VS_VERDICT_FAIL, VS_VERDICT_NOT_EXERCISED,
                                   VS_VERDICT_NOT_EXERCISED};
        enum vs_verdict got = close_h(&x, op1);
        ck_assert_msg(got == want[k], "case %d: %s", k, vs_verdict_name(got));
    }
}
END_TEST

/* blk.driver.blk-init.6: FAILED before FEATURES_OK passes, FAILED after it fails,
 * DRIVER_OK passes; a model other than HM is not judged. */
START_TEST(host_managed_give_up)
{
    static const char *const init6 = "blk.driver.blk-init.6";
    struct {
        int model;
        int how; /* 0 FAILED before FEATURES_OK, 1 after, 2 DRIVER_OK */
        enum vs_verdict want;
    } c[] = {{VS_BLK_Z_HM, 0, VS_VERDICT_PASS}, {VS_BLK_Z_HM, 1, VS_VERDICT_FAIL},
             {VS_BLK_Z_HM, 2, VS_VERDICT_PASS}, {VS_BLK_Z_HA, 1, VS_VERDICT_NOT_EXERCISED}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        h x;
        open_h(&x);
        negotiate(&x, V1 | ZONED, c[i].model, V1 | ZONED);
        if (c[i].how == 0) {
            ev(&x, VS_EV_STATUS_WRITE, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER |
                                           VS_STATUS_FAILED);
        } else if (c[i].how == 1) {
            ev(&x, VS_EV_STATUS_WRITE, OKS);
            ev(&x, VS_EV_STATUS_READ, OKS);
            ev(&x, VS_EV_STATUS_WRITE, OKS | VS_STATUS_FAILED);
        } else {
            driver_ok(&x);
        }
        enum vs_verdict got = close_h(&x, init6);
        ck_assert_msg(got == c[i].want, "case %zu: %s", i, vs_verdict_name(got));
    }
}
END_TEST

/* blk.driver.blk-init.5: judged only with DISCARD offered and the model read as HM
 * (before or after FEATURES_OK). */
START_TEST(host_managed_discard)
{
    static const char *const init5 = "blk.driver.blk-init.5";
    struct {
        uint64_t offered, accepted;
        int model;
        bool model_late;
        enum vs_verdict want;
    } c[] = {
        {V1 | ZONED | DISCARD, V1 | ZONED, VS_BLK_Z_HM, false, VS_VERDICT_PASS},
        {V1 | ZONED | DISCARD, V1 | ZONED | DISCARD, VS_BLK_Z_HM, false, VS_VERDICT_FAIL},
        {V1 | ZONED | DISCARD, V1 | ZONED | DISCARD, VS_BLK_Z_HM, true, VS_VERDICT_FAIL},
        {V1 | ZONED | DISCARD, V1 | ZONED | DISCARD, VS_BLK_Z_HA, false,
         VS_VERDICT_NOT_EXERCISED},
        {V1 | ZONED, V1 | ZONED, VS_BLK_Z_HM, false, VS_VERDICT_NOT_EXERCISED},
    };
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        h x;
        open_h(&x);
        negotiate(&x, c[i].offered, c[i].model_late ? -1 : c[i].model, c[i].accepted);
        driver_ok(&x);
        if (c[i].model_late)
            cfg_read(&x, VS_BLK_CFG_ZONED_MODEL, 1, (uint64_t)c[i].model);
        enum vs_verdict got = close_h(&x, init5);
        ck_assert_msg(got == c[i].want, "case %zu: %s", i, vs_verdict_name(got));
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("blk driver-role rules");
    TCase *tc = tcase_create("events");
    tcase_add_test(tc, capacity_reread);
    tcase_add_test(tc, host_managed_give_up);
    tcase_add_test(tc, host_managed_discard);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
