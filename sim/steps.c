/* The device-neutral steps of a scenario (sim/step_dev.h): initialization, expectations
 * on status and features, resets, malformed chains, waiting, notifications, queue reset
 * and enable, suspend and resume, config changes. What a step needs of the device (its
 * config expectations, requests to keep in flight, ...) comes from the device's step set. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/sim_dev.h"
#include "sim/step_dev.h"
#include "virtiosim/qemu.h"
#include "virtiosim/transport_ref.h"
#include "virtiosim/virtio.h"

#define T ((vs_step *)ctx)
#define PARSER(name) static int name(vs_loader *L, const yaml_node_t *v, void *ctx)

/* ------------------------------------------------------------------ schemas */

PARSER(st_init_expect)
{
    static const char *const names[] = {"ok", "features_refused", "gives_up"};
    int k = 0;
    int r = vs_ld_enum(L, v, names, 3, &k);
    T->expect_features_refused = k == 1;
    T->expect_gives_up = k == 2;
    return r;
}
PARSER(st_force) { return vs_ld_features(L, v, &T->force_features); }
PARSER(ex_status)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return vs_ld_fail(L, v, "expected a list of status bits such as [DRIVER_OK]");
    static const char *const names[] = {"ACKNOWLEDGE", "DRIVER", "DRIVER_OK", "FEATURES_OK",
                                        "SUSPEND", NULL, "DEVICE_NEEDS_RESET", "FAILED"};
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        int k = 0;
        int r = vs_ld_enum(L, vs_ld_node(L, *i), names, 8, &k);
        if (r < 0)
            return r;
        T->status_set |= (uint8_t)(1u << k);
    }
    return 0;
}
PARSER(ex_needs_reset)
{
    bool b = false;
    int r = vs_ld_bool(L, v, &b);
    T->needs_reset = b;
    return r;
}
PARSER(ex_features) { return vs_ld_features(L, v, &T->features_required); }
/* config fields are the device's: its parser keeps them in T->dev */
PARSER(ex_config)
{
    const vs_sim_dev *d = vs_ld_dev(L);
    if (!d->steps->expect_config)
        return vs_ld_fail(L, v, "a %s device has no config fields to expect", d->name);
    return d->steps->expect_config(L, v, ctx);
}
/* expect: {iothread: {KEY: VALUE or {min: A, max: B}}} (enum vs_iot_expect) */
static const struct {
    const char *name;
    bool time;
} iot_keys[VS_IOT_X_COUNT] = {
    [VS_IOT_X_WAKES] = {"wakes", false},
    [VS_IOT_X_PASSES] = {"passes", false},
    [VS_IOT_X_SIGNALS] = {"signals", false},
    [VS_IOT_X_CHAINS] = {"chains", false},
    [VS_IOT_X_CHAINS_PER_PASS] = {"chains_per_pass", false},
    [VS_IOT_X_CHAINS_PER_WAKE] = {"chains_per_wake", false},
    [VS_IOT_X_QUEUES_PER_PASS] = {"queues_per_pass", false},
    [VS_IOT_X_KICKS_PER_WAKE] = {"kicks_per_wake", false},
    [VS_IOT_X_MAX_CHAINS_PER_PASS] = {"max_chains_per_pass", false},
    [VS_IOT_X_WAIT_MEAN] = {"wait_mean", true},
    [VS_IOT_X_WAIT_MAX] = {"wait_max", true},
};

static int iot_num(vs_loader *L, const yaml_node_t *n, bool time, double *out)
{
    if (time) {
        uint64_t ns = 0;
        int r = vs_ld_time(L, n, &ns);
        *out = (double)ns;
        return r;
    }
    const char *s = vs_ld_scalar(n);
    char *end = NULL;
    double d = s && *s ? strtod(s, &end) : NAN;
    if (!s || !*s || *end || !isfinite(d) || d < 0)
        return vs_ld_fail(L, n, "expected a number such as 2 or 1.5, found %s",
                          s ? s : vs_ld_kind(n));
    *out = d;
    return 0;
}

typedef struct iot_rg {
    vs_step *t;
    int k;
    bool any;
} iot_rg;
#define RG ((iot_rg *)ctx)
PARSER(rg_min)
{
    RG->any = true;
    return iot_num(L, v, iot_keys[RG->k].time, &RG->t->iot_min[RG->k]);
}
PARSER(rg_max)
{
    RG->any = true;
    return iot_num(L, v, iot_keys[RG->k].time, &RG->t->iot_max[RG->k]);
}
static const vs_field range_fields[] = {{"min", rg_min}, {"max", rg_max}, {NULL, NULL}};

static int iot_range(vs_loader *L, const yaml_node_t *v, vs_step *t, int k)
{
    t->iot_set |= 1u << k;
    t->iot_min[k] = 0;
    t->iot_max[k] = HUGE_VAL;
    if (v->type != YAML_MAPPING_NODE) { /* one value: exactly that */
        int r = iot_num(L, v, iot_keys[k].time, &t->iot_min[k]);
        t->iot_max[k] = t->iot_min[k];
        return r;
    }
    iot_rg rg = {t, k, false};
    int r = vs_ld_walk(L, v, range_fields, &rg, iot_keys[k].name);
    if (r < 0)
        return r;
    if (!rg.any)
        return vs_ld_fail(L, v, "expected a value or {min: A, max: B}");
    if (t->iot_max[k] < t->iot_min[k])
        return vs_ld_fail(L, v, "%s: 'max' is below 'min'", iot_keys[k].name);
    return 0;
}
#define IOT_KEY(fn, k) \
    PARSER(fn) { return iot_range(L, v, T, k); }
IOT_KEY(ix_wakes, VS_IOT_X_WAKES)
IOT_KEY(ix_passes, VS_IOT_X_PASSES)
IOT_KEY(ix_signals, VS_IOT_X_SIGNALS)
IOT_KEY(ix_chains, VS_IOT_X_CHAINS)
IOT_KEY(ix_cpp, VS_IOT_X_CHAINS_PER_PASS)
IOT_KEY(ix_cpw, VS_IOT_X_CHAINS_PER_WAKE)
IOT_KEY(ix_qpp, VS_IOT_X_QUEUES_PER_PASS)
IOT_KEY(ix_kpw, VS_IOT_X_KICKS_PER_WAKE)
IOT_KEY(ix_max, VS_IOT_X_MAX_CHAINS_PER_PASS)
IOT_KEY(ix_wait, VS_IOT_X_WAIT_MEAN)
IOT_KEY(ix_wait_max, VS_IOT_X_WAIT_MAX)
static const vs_field iothread_fields[] = {
    {"wakes", ix_wakes}, {"passes", ix_passes}, {"signals", ix_signals},
    {"chains", ix_chains}, {"chains_per_pass", ix_cpp}, {"chains_per_wake", ix_cpw},
    {"queues_per_pass", ix_qpp}, {"kicks_per_wake", ix_kpw},
    {"max_chains_per_pass", ix_max}, {"wait_mean", ix_wait}, {"wait_max", ix_wait_max},
    {NULL, NULL},
};
PARSER(ex_iothread)
{
    int r = vs_ld_walk(L, v, iothread_fields, ctx, "iothread");
    if (r == 0 && !T->iot_set)
        return vs_ld_fail(L, v, "expected at least one iothread counter such as "
                                "chains_per_pass");
    return r;
}
PARSER(st_reinit) { return vs_ld_bool(L, v, &T->reinit); }
PARSER(st_fault_kind)
{
    static const char *names[VS_FAULT_LAST + 1];
    for (int i = VS_FAULT_LOOP; i <= VS_FAULT_LAST; i++)
        names[i] = vs_fault_name((enum vs_fault)i);
    int k = 0;
    int r = vs_ld_enum(L, v, names, VS_FAULT_LAST + 1, &k);
    T->fault = (enum vs_fault)k;
    return r;
}
PARSER(st_fault_expect)
{
    static const char *const names[] = {"needs_reset", "survives"};
    int k = 0;
    int r = vs_ld_enum(L, v, names, 2, &k);
    T->fault_survives = k == 1;
    return r;
}
PARSER(st_wait_time) { return vs_ld_time(L, v, &T->wait_ns); }
PARSER(st_notify_count) { return vs_ld_u32(L, v, 131072, &T->count); }
PARSER(st_outstanding) { return vs_ld_u32(L, v, 1024, &T->count); }
PARSER(st_qsize) { return vs_ld_u32(L, v, VS_VQ_MAX_SIZE, &T->qsize); }
PARSER(st_sus_expect)
{
    static const char *const names[] = {"done", "needs_reset"};
    int k = 0;
    int r = vs_ld_enum(L, v, names, 2, &k);
    T->expect_needs_reset = k == 1;
    return r;
}

static const vs_field init_fields[] = {
    {"expect", st_init_expect}, {"force_features", st_force}, {NULL, NULL},
};
static const vs_field expect_fields[] = {
    {"status", ex_status}, {"needs_reset", ex_needs_reset}, {"config", ex_config},
    {"features", ex_features}, {"iothread", ex_iothread}, {NULL, NULL},
};
static const vs_field reset_fields[] = {{"reinit", st_reinit}, {NULL, NULL}};
static const vs_field fault_fields[] = {
    {"kind", st_fault_kind}, {"queue", vs_step_queue}, {"expect", st_fault_expect},
    {NULL, NULL},
};
static const vs_field wait_fields[] = {{"time", st_wait_time}, {NULL, NULL}};
static const vs_field notify_fields[] = {
    {"queue", vs_step_queue}, {"count", st_notify_count}, {NULL, NULL},
};
static const vs_field queue_reset_fields[] = {
    {"queue", vs_step_queue}, {"outstanding", st_outstanding}, {"after", st_wait_time},
    {NULL, NULL},
};
static const vs_field queue_enable_fields[] = {
    {"queue", vs_step_queue}, {"size", st_qsize}, {NULL, NULL},
};
static const vs_field suspend_fields[] = {
    {"outstanding", st_outstanding}, {"after", st_wait_time}, {"expect", st_sus_expect},
    {NULL, NULL},
};
static const vs_field resume_fields[] = {{"expect", st_sus_expect}, {NULL, NULL}};
/* config_change and device_error: with `outstanding` requests in flight, `after` later */
static const vs_field in_flight_fields[] = {
    {"outstanding", st_outstanding}, {"after", st_wait_time}, {NULL, NULL},
};

/* Room for `count` small requests (queue_reset and suspend keep that many in flight). */
static uint64_t count_buffer_bytes(const vs_step *t)
{
    return (uint64_t)t->count * 512 + 64 * 1024;
}

/* ------------------------------------------------------------------ init, expect */

/* The initialization sequence by hand, writing bits the device never offered: a
 * conforming device must leave FEATURES_OK clear. The driver ends with FAILED, as the
 * spec asks of a driver whose features were refused. */
static int do_forced_init(vs_run_ctx *c, const vs_step *st)
{
    vs_err e = {0};
    uint64_t offered;
    uint8_t status;
    int rc = vs_driver_reset(c->d, &e);
    if (rc == 0)
        rc = vs_driver_set_status(c->d, VS_STATUS_ACKNOWLEDGE, &e);
    if (rc == 0)
        rc = vs_driver_set_status(c->d, VS_STATUS_DRIVER, &e);
    if (rc == 0)
        rc = vs_driver_read_features(c->d, &offered, &e);
    if (rc == 0 && (offered & st->force_features)) {
        char names[160];
        vs_features_format(c->sd->device_id, offered & st->force_features, names, sizeof names);
        return vs_run_expect_failed(c, "force_features names bits the device offers (%s): "
                                       "choose bits it does not offer", names);
    }
    if (rc == 0)
        rc = vs_driver_write_features_raw(
            c->d, (offered & c->s->driver.features) | st->force_features, &e);
    if (rc == 0)
        rc = vs_driver_set_status(c->d, VS_STATUS_FEATURES_OK, &e);
    if (rc == 0)
        rc = vs_driver_read_status(c->d, &status, &e);
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    bool refused = !(status & VS_STATUS_FEATURES_OK);
    vs_driver_set_status(c->d, VS_STATUS_FAILED, &e);
    if (refused != st->expect_features_refused)
        return vs_run_expect_failed(c, "FEATURES_OK was %s, expected it to be %s",
                                    refused ? "refused" : "accepted",
                                    st->expect_features_refused ? "refused" : "accepted");
    vs_run_expect_ok(c, refused ? "FEATURES_OK refused" : "FEATURES_OK accepted");
    return 0;
}

static int do_init(vs_run_ctx *c, const vs_step *st)
{
    if (st->force_features)
        return do_forced_init(c, st);
    vs_err e = {0};
    int rc = vs_driver_init(c->d, &e);
    if (st->expect_features_refused) {
        if (rc >= 0)
            return vs_run_expect_failed(c, "the device accepted FEATURES_OK, expected a "
                                           "refusal");
        vs_run_expect_ok(c, "FEATURES_OK refused");
        return 0;
    }
    if (st->expect_gives_up) { /* the offer leaves the driver nothing to work with */
        if (rc >= 0)
            return vs_run_expect_failed(c, "the driver initialized, expected it to give up");
        vs_run_expect_ok(c, "the driver gave up");
        return 0;
    }
    if (rc == -VS_ENOTSUP && c->step == 0) {
        /* The device does not offer what this scenario is about (e.g. RING_PACKED). */
        snprintf(c->r->message, sizeof c->r->message, "not applicable: %s", e.msg);
        return 2;
    }
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    c->r->negotiated = vs_driver_features(c->d);
    if (c->sd->steps->after_init)
        c->sd->steps->after_init(c);
    vs_run_expect_ok(c, "initialized");
    return 0;
}

static int validate_expect(const vs_scenario *s, const vs_step *t, vs_err *e)
{
    if (t->iot_set && s->iothread.notify != VS_NOTIFY_IOTHREAD)
        return vs_err_set(e, VS_EINVAL, "%s:%u:%u: expect: iothread needs the iothread notify "
                          "path (transport: {notify: iothread})", s->path, t->line, t->col);
    return 0;
}

/* The in-process device half (the ref transport, or the one behind the PCI model). */
static vs_transport *device_half(vs_run_ctx *c)
{
    return vs_pci_model_transport_is(c->t) ? vs_pci_model_transport_device_half(c->t) : c->t;
}

/* The iothread counters since the previous such expectation (they are cleared after). */
static int expect_iothread(vs_run_ctx *c, const vs_step *st)
{
    vs_transport *t = device_half(c);
    vs_iothread_stats s;
    vs_err e = {0};
    if (c->real)
        return vs_run_expect_failed(c, "iothread: a real back-end's threads are not modelled");
    if (vs_ref_iothread_stats(t, &s, &e) < 0)
        return vs_run_expect_failed(c, "iothread: %s", e.msg);
    vs_ref_iothread_stats_clear(t);
#define RATIO(a, b) ((b) ? (double)(a) / (double)(b) : 0.0)
    double v[VS_IOT_X_COUNT] = {
        [VS_IOT_X_WAKES] = (double)s.wakes,
        [VS_IOT_X_PASSES] = (double)s.passes,
        [VS_IOT_X_SIGNALS] = (double)s.signals,
        [VS_IOT_X_CHAINS] = (double)s.chains,
        [VS_IOT_X_CHAINS_PER_PASS] = RATIO(s.chains, s.passes),
        [VS_IOT_X_CHAINS_PER_WAKE] = RATIO(s.chains, s.wakes),
        [VS_IOT_X_QUEUES_PER_PASS] = RATIO(s.serves, s.passes),
        [VS_IOT_X_KICKS_PER_WAKE] = RATIO(s.notifications, s.wakes),
        [VS_IOT_X_MAX_CHAINS_PER_PASS] = (double)s.max_chains,
        [VS_IOT_X_WAIT_MEAN] = RATIO(s.wait_ns, s.serves),
        [VS_IOT_X_WAIT_MAX] = (double)s.wait_max_ns,
    };
#undef RATIO
    char sum[240];
    snprintf(sum, sizeof sum, "iothread: %" PRIu64 " wakes, %" PRIu64 " passes, %" PRIu64
             " chains (%.2f per pass, %.2f per wake, max %" PRIu64 "), %.2f queues per pass, "
             "%.2f kicks per wake, wait mean %.0f ns max %" PRIu64 " ns", s.wakes, s.passes,
             s.chains, v[VS_IOT_X_CHAINS_PER_PASS], v[VS_IOT_X_CHAINS_PER_WAKE], s.max_chains,
             v[VS_IOT_X_QUEUES_PER_PASS], v[VS_IOT_X_KICKS_PER_WAKE], v[VS_IOT_X_WAIT_MEAN],
             s.wait_max_ns);
    for (int k = 0; k < VS_IOT_X_COUNT; k++)
        if ((st->iot_set & (1u << k)) && (v[k] < st->iot_min[k] || v[k] > st->iot_max[k]))
            return vs_run_expect_failed(c, "%s %.2f is outside [%.2f, %.2f] (%s)",
                                        iot_keys[k].name, v[k], st->iot_min[k], st->iot_max[k],
                                        sum);
    vs_run_expect_ok(c, sum);
    return 0;
}

static int run_expect(vs_run_ctx *c, const vs_step *st)
{
    vs_err e = {0};
    uint8_t status;
    int rc = vs_driver_read_status(c->d, &status, &e);
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    if ((status & st->status_set) != st->status_set) {
        char want[96], seen[96];
        vs_status_format(st->status_set, want, sizeof want);
        vs_status_format(status, seen, sizeof seen);
        return vs_run_expect_failed(c, "status %s does not include %s", seen, want);
    }
    if (st->needs_reset >= 0) {
        bool set = status & VS_STATUS_DEVICE_NEEDS_RESET;
        if (set != (bool)st->needs_reset)
            return vs_run_expect_failed(c, "DEVICE_NEEDS_RESET is %s, expected %s",
                                        set ? "set" : "clear",
                                        st->needs_reset ? "set" : "clear");
    }
    uint64_t neg = vs_driver_features(c->d);
    if ((neg & st->features_required) != st->features_required) {
        char missing[256];
        vs_features_format(c->sd->device_id, st->features_required & ~neg, missing,
                           sizeof missing);
        return vs_run_expect_failed(c, "features not negotiated: %s", missing);
    }
    if (st->dev && (rc = c->sd->steps->expect_config_run(c, st)) != 0)
        return rc;
    if (st->iot_set)
        return expect_iothread(c, st);
    vs_run_expect_ok(c, "expectations met");
    return 0;
}

static int run_reset(vs_run_ctx *c, const vs_step *st)
{
    vs_err e = {0};
    /* A real back-end's interrupts come on their own. A device sends DEVICE_NEEDS_RESET's
     * config interrupt before a status read can show the bit, but the driver may not have
     * looked since: take what was sent before the reset closes the window the monitors
     * judge it in. Only a look: a back-end that cannot answer is the reset's business. */
    if (c->real && vs_driver_needs_reset(c->d)) {
        vs_err ignored = {0};
        (void)vs_driver_wait(c->d, 0, &ignored);
    }
    int rc = vs_driver_reset(c->d, &e);
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    if (!st->reinit) {
        vs_run_expect_ok(c, "reset");
        return 0;
    }
    return do_init(c, st);
}

/* ------------------------------------------------------------------ fault */

/* A real device raises its config interrupt asynchronously to the status change the
 * driver polled: give it a moment to arrive before the next step resets the device, so
 * the monitors judge the device and not the race. */
static void await_config_irq(vs_run_ctx *c, uint64_t before)
{
    vs_driver_counters k;
    for (int i = 0; i < 50; i++) {
        vs_driver_counters_get(c->d, &k);
        if (k.config_irqs > before)
            return;
        vs_err e = {0};
        if (vs_driver_wait(c->d, 2000000ull, &e) < 0)
            return;
    }
}

/* vhost-user: device status is emulated by the front-end, so only a real round trip (a
 * one-byte GET_CONFIG) tells whether the back-end is still there. A back-end that hung up
 * after a malformed chain took its error path (libvhost-user does that): the front-end
 * then shows DEVICE_NEEDS_RESET, and the driver's reset reconnects. 1 when it hung up. */
static int vhost_hung_up(vs_run_ctx *c, vs_err *e)
{
    (void)e;
    if (!vs_vhost_user_transport_is(c->t))
        return 0;
    uint8_t b;
    vs_err ce = {0};
    if (vs_driver_config_read_raw(c->d, 0, &b, 1, &ce) == 0)
        return 0;
    /* The driver reads the DEVICE_NEEDS_RESET the front-end shows for the lost back-end,
     * as a guest would after the config interrupt: its next reset is then a recovery, not
     * a loss it never saw. */
    vs_driver_read_status(c->d, &b, &ce);
    return 1;
}

/* `expect: survives`: either reaction is legal, the device broke itself or it served the
 * chain. */
static int fault_survives(vs_run_ctx *c, const vs_step *st, uint64_t irqs_before)
{
    vs_err e = {0};
    for (int i = 0; i < 100; i++) {
        if (vs_driver_needs_reset(c->d) ||
            (c->sd->steps->fault_completed && c->sd->steps->fault_completed(c)))
            break;
        if (vs_driver_wait(c->d, 10000000ull, &e) < 0 && !vs_driver_needs_reset(c->d))
            break;
        uint8_t status;
        if (vs_driver_read_status(c->d, &status, &e) == 0 &&
            (status & VS_STATUS_DEVICE_NEEDS_RESET))
            break;
    }
    vs_err re = {0};
    if (vs_vhost_user_transport_is(c->t))
        vs_driver_wait(c->d, 50000000ull, &re); /* a back-end may hang up just after */
    int hung = vhost_hung_up(c, &re);
    if (hung < 0)
        return vs_run_expect_failed(c, "the back-end hung up after a %s chain and could not be "
                                       "reconnected: %s", vs_fault_name(st->fault), re.msg);
    if (hung) {
        vs_run_expect_ok(c, "the back-end hung up on the malformed chain (its error path)");
        return 0;
    }
    uint8_t status = 0;
    vs_err se = {0};
    int src = vs_driver_read_status(c->d, &status, &se);
    if (src < 0)
        return vs_run_driver_error(c, src, &se);
    bool broke = status & VS_STATUS_DEVICE_NEEDS_RESET;
    if (broke && c->real)
        await_config_irq(c, irqs_before);
    vs_run_expect_ok(c, broke ? "the device set DEVICE_NEEDS_RESET"
                              : "the device served or ignored the chain and kept running");
    return 0;
}

static int run_fault(vs_run_ctx *c, const vs_step *st)
{
    vs_err e = {0};
    vs_driver_counters k0;
    vs_driver_counters_get(c->d, &k0);
    int rc = vs_driver_submit_fault(c->d, st->queue, st->fault, &e);
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    if (st->fault_survives)
        return fault_survives(c, st, k0.config_irqs);
    const char *qemu_said = NULL;
    char err[200] = "";
    rc = vs_driver_wait_status(c->d, VS_STATUS_DEVICE_NEEDS_RESET, 1000000000ull, &e);
    if (rc < 0) {
        vs_err re = {0};
        int hung = vhost_hung_up(c, &re);
        if (hung > 0) {
            vs_run_expect_ok(c, "the vhost-user back-end hung up on the malformed chain (its "
                                "error path)");
            return 0;
        }
        return vs_run_expect_failed(c, "the device did not set DEVICE_NEEDS_RESET after a %s "
                                       "chain: %s%s%s", vs_fault_name(st->fault), e.msg,
                                    hung < 0 ? "; reconnect: " : "", hung < 0 ? re.msg : "");
    }
    if (c->real) {
        await_config_irq(c, k0.config_irqs);
        if (vs_qemu_transport_is(c->t) && vs_qemu_transport_stderr(c->t, err, sizeof err) > 0) {
            for (char *p = err; *p; p++)
                if (*p == '\n')
                    *p = ' ';
            qemu_said = err;
        }
    }
    char msg[300];
    snprintf(msg, sizeof msg, "DEVICE_NEEDS_RESET set%s%s", qemu_said ? "; QEMU: " : "",
             qemu_said ? qemu_said : "");
    vs_run_expect_ok(c, msg);
    return 0;
}

static void describe_fault(const vs_step *t, char *buf, size_t n)
{
    snprintf(buf, n, "fault %s", vs_fault_name(t->fault));
}

/* ------------------------------------------------------------------ the others */

static void pass_time(vs_run_ctx *c, uint64_t ns)
{
    if (!c->real && ns)
        vs_engine_run_until(c->eng, vs_engine_now(c->eng) + ns);
}

typedef struct pending_ctx {
    vs_transport *t;
    uint16_t q;
} pending_ctx;

static bool notify_pending(void *arg)
{
    const pending_ctx *p = arg;
    return vs_ref_notify_pending(p->t, p->q);
}

/* `after`, then (in-process, with requests submitted) until the device has seen their
 * notification, so they are in flight in the device whatever the notify path (an
 * iothread may wake later than `after`). */
static void settle(vs_run_ctx *c, const vs_step *st)
{
    pass_time(c, st->wait_ns);
    if (c->real || !st->count)
        return;
    pending_ctx p = {device_half(c), st->queue};
    vs_engine_run_while(c->eng, notify_pending, &p,
                        vs_engine_now(c->eng) + VS_RUN_STEP_TIMEOUT_NS, NULL);
}

/* `outstanding: N`: N of the device's harmless requests in flight. */
static int submit_fillers(vs_run_ctx *c, const vs_step *st, vs_err *e)
{
    if (st->count && !c->sd->steps->submit_filler)
        return vs_err_set(e, VS_ENOTSUP, "a %s device has no requests to keep outstanding",
                          c->sd->name);
    for (uint32_t i = 0; i < st->count; i++) {
        int rc = c->sd->steps->submit_filler(c, st->queue, i, e);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int run_suspend_resume(vs_run_ctx *c, const vs_step *st, bool suspend)
{
    vs_err e = {0};
    int rc;
    /* requests in flight when suspending: the device finishes them first */
    if (suspend && (rc = submit_fillers(c, st, &e)) < 0)
        return vs_run_driver_error(c, rc, &e);
    if (suspend)
        settle(c, st);
    else
        pass_time(c, st->wait_ns);
    rc = suspend ? vs_driver_suspend(c->d, &e) : vs_driver_resume(c->d, &e);
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    if ((rc == 1) != st->expect_needs_reset)
        return vs_run_expect_failed(c, "%s", rc == 1 ? "the device set DEVICE_NEEDS_RESET"
                                                     : "DEVICE_NEEDS_RESET expected");
    vs_run_expect_ok(c, rc == 1 ? "DEVICE_NEEDS_RESET" : suspend ? "suspended" : "resumed");
    return 0;
}
static int run_suspend(vs_run_ctx *c, const vs_step *st) { return run_suspend_resume(c, st, true); }
static int run_resume(vs_run_ctx *c, const vs_step *st) { return run_suspend_resume(c, st, false); }

static int run_config_change(vs_run_ctx *c, const vs_step *st)
{
    vs_err e = {0};
    if (c->real)
        return vs_run_expect_failed(c, "config_change needs the in-process back-end");
    /* requests completed, their interrupt not yet handled, when the change is signalled
       (INTx: one ISR read shows both causes) */
    int frc = submit_fillers(c, st, &e);
    if (frc < 0)
        return vs_run_driver_error(c, frc, &e);
    pass_time(c, st->wait_ns);
    c->dev->config_generation++;
    int rc = vs_ref_is(c->t) ? vs_ref_config_changed(c->t, &e)
                             : vs_pci_model_transport_config_changed(c->t, &e);
    uint8_t buf[8];
    uint32_t len = c->sd->steps->config_probe_len;
    if (rc >= 0) /* the driver notices through the generation */
        rc = vs_driver_config_read(c->d, c->sd->steps->config_probe_off, buf,
                                   len < sizeof buf ? len : sizeof buf, &e);
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    vs_run_expect_ok(c, "config changed");
    return 0;
}

/* `device_error`: with requests in flight the in-process device takes its error path; the
 * driver reads DEVICE_NEEDS_RESET after the config interrupt and recovers (resets at once,
 * dropping them). An `init` step sets the device up again. */
static int run_device_error(vs_run_ctx *c, const vs_step *st)
{
    vs_err e = {0};
    int rc;
    if (c->real)
        return vs_run_expect_failed(c, "device_error needs the in-process back-end");
    if ((rc = submit_fillers(c, st, &e)) < 0)
        return vs_run_driver_error(c, rc, &e);
    settle(c, st);
    unsigned out = vs_driver_outstanding(c->d, -1);
    if ((rc = vs_ref_device_error(device_half(c), "device error (device_error step)", &e)) < 0)
        return vs_run_driver_error(c, rc, &e);
    for (int i = 0; i < 100 && !vs_driver_needs_reset(c->d); i++)
        if (vs_driver_wait(c->d, 1000000ull, &e) < 0 && !vs_driver_needs_reset(c->d))
            break;
    if ((rc = vs_driver_recover(c->d, &e)) < 0)
        return vs_run_driver_error(c, rc, &e);
    vs_run_expect_ok(c, out ? "DEVICE_NEEDS_RESET with requests in flight; reset"
                            : "DEVICE_NEEDS_RESET; reset");
    return 0;
}

static int run_queue_reset(vs_run_ctx *c, const vs_step *st)
{
    vs_err e = {0};
    int rc;
    /* requests in flight when the queue is reset: the device must drop them */
    if ((rc = submit_fillers(c, st, &e)) < 0)
        return vs_run_driver_error(c, rc, &e);
    settle(c, st);
    if ((rc = vs_driver_queue_reset(c->d, st->queue, &e)) < 0)
        return vs_run_driver_error(c, rc, &e);
    vs_run_expect_ok(c, "queue reset");
    return 0;
}

static int run_queue_enable(vs_run_ctx *c, const vs_step *st)
{
    vs_err e = {0};
    int rc = vs_driver_queue_enable(c->d, st->queue, st->qsize, &e);
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    vs_run_expect_ok(c, "queue enabled");
    return 0;
}

static int run_notify(vs_run_ctx *c, const vs_step *st)
{
    vs_err e = {0};
    int rc;
    for (uint32_t i = 0; i < (st->count ? st->count : 1); i++)
        if ((rc = vs_driver_notify(c->d, st->queue, &e)) < 0)
            return vs_run_driver_error(c, rc, &e);
    vs_run_expect_ok(c, "notified");
    return 0;
}

static int run_wait(vs_run_ctx *c, const vs_step *st)
{
    if (c->real) {
        struct timespec ts = {(time_t)(st->wait_ns / 1000000000ull),
                              (long)(st->wait_ns % 1000000000ull)};
        nanosleep(&ts, NULL);
    } else {
        vs_engine_run_until(c->eng, vs_engine_now(c->eng) + st->wait_ns);
    }
    return 0;
}

/* ------------------------------------------------------------------ the table */

#define CORE(nm, flds, bare, run_fn, ...)                                                      \
    static const vs_step_type step_##nm = {.name = #nm, .fields = flds, .bare_ok = bare,       \
                                           .run = run_fn, .buffer_bytes = count_buffer_bytes, \
                                           __VA_ARGS__}
CORE(init, init_fields, true, do_init);
CORE(expect, expect_fields, false, run_expect, .validate = validate_expect);
CORE(reset, reset_fields, true, run_reset);
CORE(fault, fault_fields, false, run_fault, .required = {"kind"}, .describe = describe_fault);
CORE(wait, wait_fields, false, run_wait, .required = {"time"});
CORE(notify, notify_fields, true, run_notify);
CORE(queue_reset, queue_reset_fields, true, run_queue_reset);
CORE(queue_enable, queue_enable_fields, true, run_queue_enable);
CORE(suspend, suspend_fields, true, run_suspend);
CORE(resume, resume_fields, true, run_resume);
CORE(config_change, in_flight_fields, true, run_config_change);
CORE(device_error, in_flight_fields, true, run_device_error);

const vs_step_type *const vs_core_steps[] = {
    &step_init, &step_expect, &step_reset, &step_fault, &step_wait, &step_notify,
    &step_queue_reset, &step_queue_enable, &step_suspend, &step_resume, &step_config_change,
    &step_device_error, NULL,
};
