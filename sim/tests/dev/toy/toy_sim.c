/* The toy device in the simulator (toy.h): its driver personality, its one scenario step
 * `echo: {bytes: N}`, its `device:` key `broken` (the mutant), and how the in-process
 * back-end creates it. Only what the tables need; the other hooks are NULL. */
#include <stdlib.h>
#include <string.h>

#include "model/tests/dev/toy/toy.h"
#include "sim/backend_dev.h"
#include "sim/driver_dev.h"
#include "sim/driver_int.h"
#include "sim/sim_dev.h"
#include "sim/step_dev.h"

typedef struct toy_result {
    uint32_t used_len, want_len;
    bool data_ok;
} toy_result;

typedef struct toy_req {
    uint32_t bytes;
    uint8_t seed;
} toy_req;

static uint8_t pattern(uint8_t seed, uint32_t i) { return (uint8_t)(seed + i * 7u); }

/* ------------------------------------------------------------------ driver */

static void toy_complete(vs_driver *d, vs_drv_req *rq, const vs_drv_done *done, void *res)
{
    toy_result *r = res;
    r->used_len = done->used_len;
    if (!rq)
        return;
    const toy_req *t = rq->dev;
    r->want_len = t->bytes;
    uint8_t buf[VS_TOY_MAX_BYTES];
    vs_err e = {0};
    r->data_ok = vs_gmem_read(d->gm, rq->seg[1].gpa, buf, t->bytes, &e) == 0;
    for (uint32_t i = 0; r->data_ok && i < t->bytes; i++)
        r->data_ok = buf[i] == pattern(t->seed, i);
}

static const vs_drv_personality toy_driver = {
    .default_features = VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_TOY_F_ECHO),
    .multiqueue_feature = -1,
    .req_size = sizeof(toy_req),
    .result_size = sizeof(toy_result),
    .complete = toy_complete,
};

/* One echo request on queue 0: `bytes` readable, as many writable. */
static int toy_submit(vs_driver *d, uint32_t bytes, uint8_t seed, vs_err *e)
{
    vs_drv_req *rq;
    int rc = vs__drv_req_new(d, 0, 2, &rq, e);
    if (rc < 0)
        return rc;
    rq->n_out = 1;
    rq->seg[0].len = bytes;
    rq->seg[1].len = bytes;
    *(toy_req *)rq->dev = (toy_req){bytes, seed};
    if ((rc = vs__drv_req_layout(d, rq, e)) < 0)
        goto fail;
    uint8_t buf[VS_TOY_MAX_BYTES];
    for (uint32_t i = 0; i < bytes; i++)
        buf[i] = pattern(seed, i);
    if ((rc = vs_gmem_write(d->gm, rq->seg[0].gpa, buf, bytes, e)) < 0)
        goto fail;
    if ((rc = vs__drv_req_commit(d, rq, false, false, e)) < 0)
        goto fail;
    return rc;
fail:
    vs__drv_req_free(d, rq);
    return rc;
}

/* ------------------------------------------------------------------ scenario */

typedef struct toy_opts {
    bool broken;
} toy_opts;

typedef struct toy_step {
    uint32_t bytes;
} toy_step;

static VS_PARSER(p_broken)
{
    vs_scenario *s = ctx;
    return vs_ld_bool(L, v, &((toy_opts *)s->dev_opts)->broken);
}

static VS_PARSER(p_bytes)
{
    vs_step *t = ctx;
    return vs_ld_u32(L, v, VS_TOY_MAX_BYTES, &((toy_step *)t->dev)->bytes);
}

static int run_echo(vs_run_ctx *c, const vs_step *t)
{
    const toy_step *p = t->dev;
    vs_err e = {0};
    int rc = toy_submit(c->d, p->bytes, (uint8_t)c->step, &e);
    if (rc >= 0)
        rc = vs_driver_run(c->d, 0, &e);
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    toy_result r;
    if (vs_driver_take_result(c->d, &r) != 1)
        return vs_run_expect_failed(c, "no result");
    if (r.used_len != r.want_len || !r.data_ok)
        return vs_run_expect_failed(c, "echo of %u bytes: used len %u, data %s", r.want_len,
                                    r.used_len, r.data_ok ? "ok" : "wrong");
    return 0;
}

static const vs_field echo_fields[] = {{"bytes", p_bytes}, {NULL, NULL}};
static const vs_step_type step_echo = {
    .name = "echo", .fields = echo_fields, .required = {"bytes"},
    .params_size = sizeof(toy_step), .run = run_echo,
};
static const vs_step_type *const toy_steps[] = {&step_echo, NULL};
static const vs_field toy_keys[] = {{"broken", p_broken}, {NULL, NULL}};

static void toy_defaults(vs_scenario *s) { (void)s; }

static const struct vs_step_set toy_step_set = {
    .steps = toy_steps,
    .device_keys = toy_keys,
    .options_size = sizeof(toy_opts),
    .defaults = toy_defaults,
    .feature_example = "VIRTIO_TOY_F_ECHO",
};

/* ------------------------------------------------------------------ back-ends */

static int toy_ref_create(vs_run_ctx *c, vs_device **out, vs_err *e)
{
    const toy_opts *o = c->s->dev_opts;
    return vs_toy_create(out, c->gm, o->broken ? VS_TOY_MUT_SHORT_LEN : 0, e);
}

static const struct vs_backend_present toy_backends = {.ref_create = toy_ref_create};

const vs_sim_dev vs_sim_devs_toy = {
    .name = "toy",
    .device_id = VS_TOY_DEVICE_ID,
    .driver = &toy_driver,
    .steps = &toy_step_set,
    .backends = &toy_backends,
};
