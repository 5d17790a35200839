/* Runs one scenario: builds guest memory, the back-end, the driver model, the trace and
 * the monitors, executes the steps in order and turns what happened into a verdict.
 * A step that does not get what it expects stops the scenario (what follows would test
 * a device in an unknown state). */
#define _GNU_SOURCE
#include "virtiosim/runner.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/backend_dev.h"
#include "sim/profile_dev.h"
#include "sim/runner_int.h"
#include "sim/step_dev.h"
#include "virtiosim/qemu.h"
#include "virtiosim/report.h"
#include "virtiosim/virtio.h"

uint64_t vs_run_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t vs_run_now(void *opaque)
{
    vs_run_ctx *c = opaque;
    return c->real ? vs_run_wall_ns() - c->wall0 : vs_engine_now(c->eng);
}

static void emit(vs_run_ctx *c, enum vs_event_kind kind, uint64_t val, const char *text)
{
    vs_event ev = {.kind = kind, .t_ns = vs_run_now(c), .queue = -1, .val = val, .text = text};
    vs_event_emit(&c->bus, &ev);
}

int vs_run_expect_failed(vs_run_ctx *c, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    emit(c, VS_EV_EXPECT, 0, msg);
    snprintf(c->r->message, sizeof c->r->message, "%s:%u: step %u (%s): %s", c->s->path,
             c->s->steps[c->step].line, c->step + 1, c->step_desc, msg);
    return 1;
}

void vs_run_expect_ok(vs_run_ctx *c, const char *what)
{
    emit(c, VS_EV_EXPECT, 1, what);
}

/* A conformance-relevant failure of the device (timeout, NEEDS_RESET, broken queue) is a
 * step failure; a dead back-end is an infrastructure error. */
int vs_run_driver_error(vs_run_ctx *c, int rc, const vs_err *e)
{
    if (-rc == VS_EBACKEND || -rc == VS_ENOMEM) {
        snprintf(c->r->message, sizeof c->r->message, "%s:%u: step %u (%s): %s", c->s->path,
                 c->s->steps[c->step].line, c->step + 1, c->step_desc, e->msg);
        return rc;
    }
    return vs_run_expect_failed(c, "%s", e->msg[0] ? e->msg : vs_errc_name(rc));
}

void vs_run_request_done(vs_run_ctx *c)
{
    c->r->requests++;
    if (!c->o->progress || c->total < 5000)
        return;
    c->done++;
    if ((c->done & 1023) == 0 || c->done == c->total) {
        uint64_t now = vs_run_wall_ns();
        if (now - c->last_progress_wall > 200000000ull || c->done == c->total) {
            c->last_progress_wall = now;
            fprintf(stderr, "\r  %s: step %u workload %" PRIu64 "/%" PRIu64 " requests\033[K",
                    c->s->name, c->step + 1, c->done, c->total);
            if (c->done == c->total)
                fputc('\r', stderr);
            fflush(stderr);
        }
    }
}

static void describe_step(const vs_step *st, char *buf, size_t n)
{
    if (st->type->describe)
        st->type->describe(st, buf, n);
    else
        snprintf(buf, n, "%s", st->type->name);
}

/* Guest RAM big enough for every queue's rings and indirect tables and the buffer pool;
 * the memfd is sparse, so generosity costs address space, not memory. */
static uint64_t pool_bytes_for(const vs_scenario *s)
{
    /* Room for the busiest workload (depth x block size) or the largest single request,
     * whichever is bigger — not their product. */
    uint64_t need = 0;
    for (unsigned i = 0; i < s->nsteps; i++) {
        const vs_step *st = &s->steps[i];
        uint64_t b = st->type->buffer_bytes ? st->type->buffer_bytes(st) : 64 * 1024;
        if (b > need)
            need = b;
    }
    uint64_t pool = need * 2;
    return pool < (8u << 20) ? (8u << 20) : pool;
}

static uint64_t gmem_bytes_for(const vs_scenario *s, uint64_t pool)
{
    /* Ring areas plus indirect tables (capped at 8 MiB a queue by the driver); an unset
     * queue size becomes the device's maximum, at most 32768. */
    uint64_t qs = s->driver.queue_size ? s->driver.queue_size : VS_VQ_MAX_SIZE;
    uint64_t per_queue = qs * (16 + 8 + 2 + 8) + (9u << 20);
    uint64_t total = (32u << 20) + pool + per_queue * s->driver.queues;
    return (total + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
}

static void teardown(vs_run_ctx *c)
{
    vs_driver_destroy(c->d);
    if (c->t)
        c->t->ops->destroy(c->t);
    if (c->dev)
        c->dev->ops->destroy(c->dev);
    vs_monitors_destroy(c->mon);
    free(c->pci_f);
    vs_trace_destroy(c->trace);
    if (c->chrome_open)
        vs_chrome_trace_end(c->o->chrome);
    vs_engine_destroy(c->eng);
    if (c->qemu_reuse)
        vs_qemu_reuse_release_gmem(c->gm); /* kept while a parked QEMU maps it */
    else
        vs_gmem_destroy(c->gm);
    if (c->be && c->be->teardown)
        c->be->teardown(c);
    if (c->sd && c->sd->backends->teardown)
        c->sd->backends->teardown(c);
}

void vs_scenario_result_clear(vs_scenario_result *r)
{
    vs_results_destroy(r->conformance);
    vs_timeline_destroy(r->timeline);
    memset(r, 0, sizeof *r);
}

/* Whether the scenario runs on this back-end at all: 0 it does, 1 skipped (r says why),
 * <0 an error. */
static int applies(const vs_scenario *s, const vs_run_opts *o, const vs_backend *be,
                   const char *spec, vs_scenario_result *r, vs_err *e)
{
    if (!be)
        return vs_err_set(e, VS_ENOTSUP, "back-end '%s' is not available", spec);
    if ((be->caps & VS_BE_REAL) && o->mutant && !vs_mutant_is_driver(o->mutant))
        return vs_err_set(e, VS_ENOTSUP, "mutants are variants of the reference device; "
                                         "they do not apply to --backend %s", spec);
    if (!(s->backends & be->applies)) {
        r->verdict = VS_SCN_SKIPPED;
        snprintf(r->message, sizeof r->message, "does not apply to the %s back-end",
                 be->family);
        return 1;
    }
    const char *why = vs_backend_unpresented(be, s->dev->backends);
    if (!why && s->dev->backends->skip)
        why = s->dev->backends->skip(s, be->caps);
    if (why) {
        r->verdict = VS_SCN_SKIPPED;
        snprintf(r->message, sizeof r->message, "%s", why);
        return 1;
    }
    return 0;
}

/* Whether the run judges the simulator's own driver too: asked for, a driver mutant, or
 * a device whose scenarios prove its driver statements. */
static bool judges_driver(const vs_run_ctx *c)
{
    return c->o->judge_driver || vs_mutant_is_driver(c->o->mutant) || c->sd->judge_driver;
}

/* Guest memory, clock, trace, monitors and timeline: everything before the back-end. */
/* Config bytes as the driver read them, for the reports' identity section. */
static void config_seen(void *opaque, const vs_event *ev)
{
    vs_scenario_result *r = opaque;
    if (ev->kind != VS_EV_CONFIG_READ || ev->len > 8 || ev->off >= VS_RUN_CONFIG_MAX ||
        ev->len > VS_RUN_CONFIG_MAX - ev->off)
        return;
    for (uint32_t i = 0; i < ev->len; i++) {
        r->config[ev->off + i] = (uint8_t)(ev->val >> (8 * i));
        r->config_known[ev->off + i] = true;
    }
}

static int attach_observers(vs_run_ctx *c, uint64_t pool, vs_err *e)
{
    const vs_scenario *s = c->s;
    const vs_run_opts *o = c->o;
    vs_scenario_result *r = c->r;
    int rc = c->qemu_reuse ? vs_qemu_reuse_gmem(&c->gm, gmem_bytes_for(s, pool), e)
                           : vs_gmem_create_flat(&c->gm, gmem_bytes_for(s, pool), e);
    if (rc == 0)
        rc = vs_engine_create(&c->eng, r->seed, e);
    /* A bare run (benchmarks) leaves the event bus empty: no trace, monitors, timeline. */
    if (rc == 0 && !o->bare && !o->no_trace) {
        rc = vs_trace_create_as(&c->trace, o->trace,
                                (enum vs_trace_file_format)o->trace_format, e);
        /* where this scenario's records begin, outside its digest */
        if (rc == 0)
            vs_trace_scenario(c->trace, s->name, o->backend ? o->backend : "ref", r->seed,
                              c->real);
    }
    if (rc == 0 && c->trace)
        rc = vs_trace_attach(c->trace, &c->bus, e);
    if (rc == 0 && !o->bare)
        rc = vs_monitors_create(&c->mon, c->gm, s->device_id,
                                judges_driver(c) ? VS_ROLE_BOTH : VS_ROLE_DEVICE, e);
    if (rc == 0 && c->mon) {
        vs_monitors_set_scenario(c->mon, s->name);
        vs_monitors_set_interrupts_observable(c->mon, s->driver.interrupts != VS_IRQ_POLL);
        vs_monitors_set_irq_latency(c->mon, s->timing.irq_latency_ns);
        if (!c->real) /* the in-process device offers what the scenario says */
            vs_monitors_set_offer_provoked(c->mon, s->extra_features, s->withheld_features);
        if (!c->real && s->config_extra)
            vs_monitors_set_config_larger(c->mon, true);
        rc = vs_event_bus_add(&c->bus, vs_monitors_on_event, c->mon);
    }
    if (rc == 0 && o->chrome && !o->bare) {
        vs_chrome_trace_begin(o->chrome, s->name, o->backend ? o->backend : "ref", r->seed,
                              c->real);
        rc = vs_event_bus_add(&c->bus, vs_chrome_trace_event, o->chrome);
        c->chrome_open = rc == 0;
    }
    if (rc == 0 && !o->bare)
        rc = vs_timeline_create(&r->timeline, 0, e);
    if (rc == 0 && r->timeline)
        rc = vs_event_bus_add(&c->bus, vs_timeline_on_event, r->timeline);
    if (rc == 0 && !o->bare)
        rc = vs_event_bus_add(&c->bus, config_seen, r);
    return rc;
}

static void request_done(void *opaque, const void *result)
{
    (void)result;
    vs_run_request_done(opaque);
}

static int create_driver(vs_run_ctx *c, uint64_t pool, vs_err *e)
{
    const vs_scenario *s = c->s;
    vs_driver_opts dopts;
    vs_driver_opts_default(&dopts);
    dopts.features = s->driver.features;
    dopts.ring = s->driver.packed ? VS_RING_PACKED : VS_RING_SPLIT;
    dopts.queue_size = s->driver.queue_size;
    dopts.num_queues = s->driver.queues;
    dopts.irq_mode = (enum vs_irq_mode)s->driver.interrupts;
    dopts.use_indirect = s->driver.indirect;
    dopts.irq_delayed = s->driver.interrupt_delay;
    dopts.mislead_suppression = s->driver.mislead_suppression;
    dopts.fill_before_driver_ok = s->driver.fill_before_driver_ok;
    dopts.chain_layout = s->driver.chain_layout;
    dopts.read_config_early = s->driver.read_config_early;
    dopts.suspend_before_driver_ok = s->driver.suspend_before_driver_ok;
    dopts.no_readable_copy = true; /* the readable-unchanged monitor owns that check */
    dopts.stop = c->o->stop;
    dopts.seed = c->r->seed;
    dopts.seg_size = s->driver.seg_size;
    dopts.pool_bytes = pool;
    dopts.timeout_ns = c->real ? 20ull * 1000000000ull : VS_RUN_STEP_TIMEOUT_NS;
    /* ^C / SIGTERM end a wait on a real back-end within this, whatever its transport. */
    dopts.wait_slice_ns = c->real ? 200ull * 1000000ull : 0;
    if (c->o->mutant) {
        dopts.mutations = c->o->mutant->drv_mutations;
        dopts.dev_mutations = c->o->mutant->drv_dev_mutations;
    }
    dopts.on_result = request_done;
    dopts.on_result_opaque = c;
    return vs_driver_create(&c->d, c->t, &dopts, &c->bus, vs_run_now, c, e);
}

/* The steps in order; the first that does not get what it expects ends the scenario. */
static void run_steps(vs_run_ctx *c)
{
    const vs_scenario *s = c->s;
    const vs_run_opts *o = c->o;
    vs_scenario_result *r = c->r;
    for (c->step = 0; c->step < s->nsteps; c->step++) {
        const vs_step *st = &s->steps[c->step];
        if (o->stop && *o->stop) {
            r->verdict = VS_SCN_SKIPPED;
            snprintf(r->message, sizeof r->message, "interrupted before step %u (%s)",
                     c->step + 1, st->type->name);
            break;
        }
        describe_step(st, c->step_desc, sizeof c->step_desc);
        if (c->mon)
            vs_monitors_set_step(c->mon, c->step, c->step_desc);
        emit(c, VS_EV_STEP, c->step, c->step_desc);
        if (o->verbose)
            fprintf(stderr, "  %s: step %u/%u %s\n", s->name, c->step + 1, s->nsteps,
                    c->step_desc);
        int rc = st->type->run(c, st);
        r->steps_run = c->step + 1;
        if (rc != 0 && o->stop && *o->stop) {
            /* Cut short by ^C: not a verdict on the device. */
            r->verdict = VS_SCN_SKIPPED;
            snprintf(r->message, sizeof r->message, "interrupted during step %u (%s)",
                     c->step + 1, c->step_desc);
            break;
        }
        if (rc == 2) {
            r->verdict = VS_SCN_SKIPPED;
            break;
        }
        if (rc != 0) {
            r->failed_step = (int)c->step;
            snprintf(r->failed_step_desc, sizeof r->failed_step_desc, "%s", c->step_desc);
            if (rc < 0) {
                r->verdict = VS_SCN_ERROR;
                if (!r->message[0])
                    snprintf(r->message, sizeof r->message, "%s:%u: step %u (%s): %s",
                             s->path, st->line, c->step + 1, c->step_desc, vs_errc_name(rc));
            } else {
                r->verdict = VS_SCN_FAIL;
            }
            break;
        }
    }
}

/* The transport's last word (vhost-user: the rings' GET_VRING_BASE replies) before the
 * verdict: a back-end that gets the final stop wrong errs the scenario, as at a reset. */
static void close_device(vs_run_ctx *c)
{
    vs_scenario_result *r = c->r;
    vs_err e = {0};
    if (!c->t || !c->t->ops->close || r->verdict == VS_SCN_SKIPPED ||
        c->t->ops->close(c->t, &e) == 0)
        return;
    if (r->verdict == VS_SCN_PASS) {
        r->verdict = VS_SCN_ERROR;
        snprintf(r->message, sizeof r->message, "%s: closing the device: %s", c->s->path,
                 e.msg);
    } else {
        size_t n = strlen(r->message);
        snprintf(r->message + n, sizeof r->message - n, "; closing the device: %s", e.msg);
    }
}

/* The monitors' judgement joins the steps': a failed statement fails the scenario. */
static void judge(vs_run_ctx *c)
{
    const vs_scenario *s = c->s;
    vs_scenario_result *r = c->r;
    vs_err fe = {0};
    if (c->mon && vs_monitors_finish(c->mon, r->negotiated, &fe) == 0 &&
        vs_results_create(&r->conformance, &fe) == 0)
        vs_results_merge(r->conformance, vs_monitors_results(c->mon), &fe);
    if (r->conformance) {
        snprintf(r->conformance->scenario, sizeof r->conformance->scenario, "%s", s->name);
        if (c->pci_f)
            vs_pci_results_fold(r->conformance, c->pci_f, s->name, 0);
        /* the virtio-pci driver's own accesses, when the driver role is judged */
        const vs_pci_findings *df = vs_pci_transport_driver_findings(c->t);
        if (df && judges_driver(c))
            vs_pci_results_fold(r->conformance, df, s->name, 0);
        /* A device-level finding (what the device offers and presents) is the run's,
         * reported once; this scenario's verdict is about its own steps. */
        size_t nfail = vs_results_scenario_failures(r->conformance);
        if (nfail && r->verdict == VS_SCN_PASS) {
            r->verdict = VS_SCN_FAIL;
            /* Name the first failing statement with its first evidence. */
            for (size_t i = 0; i < r->conformance->n_stmt; i++) {
                const vs_stmt_result *sr = &r->conformance->stmt[i];
                if (sr->verdict != VS_VERDICT_FAIL || sr->device_level)
                    continue;
                char ev[300] = "";
                if (sr->n_evidence)
                    vs_evidence_format(&sr->evidence[0], ev, sizeof ev);
                snprintf(r->message, sizeof r->message, "%zu statement%s failed, first %s: %s",
                         nfail, nfail == 1 ? "" : "s", sr->st->id, ev);
                break;
            }
        }
    }
    if ((c->be->caps & VS_BE_QEMU) && c->t && r->verdict != VS_SCN_PASS) {
        /* QEMU's own words are the evidence of how it reacted. */
        char err[256];
        if (vs_qemu_transport_stderr(c->t, err, sizeof err) > 0) {
            for (char *p = err; *p; p++)
                if (*p == '\n')
                    *p = ' ';
            size_t n = strlen(r->message);
            snprintf(r->message + n, sizeof r->message - n, "; QEMU stderr: %s", err);
        }
    }
}

/* The result's identity and whether the scenario applies to the back-end: 0 it does
 * (*be and *arg set), 1 it does not (r says why), < 0 an error. */
static int run_prepare(const vs_scenario *s, const vs_run_opts *o, vs_scenario_result *r,
                       const vs_backend **bep, const char **arg, vs_err *e)
{
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", s->name);
    snprintf(r->path, sizeof r->path, "%s", s->path);
    r->seed = o->seed_set ? o->seed : s->seed;
    r->failed_step = -1;
    r->device_id = s->device_id;
    const char *spec = o->backend ? o->backend : "ref";
    *arg = NULL;
    *bep = vs_backend_find(spec, arg);
    return applies(s, o, *bep, spec, r, e);
}

/* Whether a step of s changes QEMU beyond what its reset undoes (vs_step_type.own_qemu). */
static bool needs_own_qemu(const vs_scenario *s)
{
    for (unsigned i = 0; i < s->nsteps; i++)
        if (s->steps[i].type->own_qemu)
            return true;
    return false;
}

/* vs__run_open once the back-end is known to apply. */
static int run_build(vs_run_ctx *c, const vs_scenario *s, const vs_run_opts *o,
                     vs_scenario_result *r, const vs_backend *be, const char *arg, vs_err *e)
{
    if (!be->build) /* a batch back-end (the vhost-kernel guest): `virtiosim run/suite` */
        return vs_err_set(e, VS_ENOTSUP, "--backend %s runs a whole list of scenarios at "
                          "once (virtiosim run / suite)", be->name);
    *c = (vs_run_ctx){.s = s, .sd = s->dev, .be = be, .o = o, .r = r,
                      .real = be->caps & VS_BE_REAL, .external = be->caps & VS_BE_EXTERNAL,
                      .pci = o->pci || s->transport_pci || (be->caps & VS_BE_PCI),
                      .qemu_reuse = o->qemu_reuse && (be->caps & VS_BE_QEMU_REUSE) &&
                                    !needs_own_qemu(s),
                      .wall0 = vs_run_wall_ns()};
    if (!c->real)
        snprintf(r->backend_version, sizeof r->backend_version,
                 "virtiosim reference devices %s", VS_VERSION);
    uint64_t pool = pool_bytes_for(s);
    int rc = attach_observers(c, pool, e);
    if (rc == 0)
        rc = be->build(c, arg, e);
    /* When the scenario is about the PCI transport (`transport: pci`, --transport pci), the
     * function (the model or QEMU's) is probed before the driver touches it: capabilities,
     * common config, MSI-X, ISR, ... Device scenarios leave the transport alone. */
    if (rc == 0 && c->pci && vs_pci_transport_is(c->t) && !o->bare) {
        if (!(c->pci_f = calloc(1, sizeof *c->pci_f)))
            rc = vs_err_set(e, VS_ENOMEM, "out of memory");
        else if (vs_pci_transport_checks(c->t, NULL, s->name, c->pci_f, e) < 0)
            rc = vs_err_prefix(e, "pci probe");
    }
    if (rc == 0)
        rc = create_driver(c, pool, e);
    if (rc < 0) {
        r->verdict = VS_SCN_ERROR;
        snprintf(r->message, sizeof r->message, "%s", e->msg);
        teardown(c);
        return rc;
    }
    if (c->real && c->mon)
        vs_monitors_set_async_device(c->mon, true);
    return 0;
}

/* Builds one run's context up to a created driver (nothing written to the device yet):
 * guest memory, observers, the back-end, the PCI probe. 1: the scenario does not apply
 * (r says why, nothing built); < 0: an error (r and e say what; nothing left built). */
int vs__run_open(vs_run_ctx *c, const vs_scenario *s, const vs_run_opts *o,
                 vs_scenario_result *r, vs_err *e)
{
    const vs_backend *be;
    const char *arg;
    int rc = run_prepare(s, o, r, &be, &arg, e);
    if (rc != 0)
        return rc;
    if (be->run)
        return vs_err_set(e, VS_ENOTSUP, "--backend %s runs whole scenarios itself", be->name);
    return run_build(c, s, o, r, be, arg, e);
}

void vs__run_close(vs_run_ctx *c)
{
    teardown(c);
    memset(c, 0, sizeof *c);
}

int vs_run_scenario(const vs_scenario *s, const vs_run_opts *o, vs_scenario_result *r,
                    vs_err *e)
{
    static const vs_run_opts defaults = {.backend = "ref"};
    if (!o)
        o = &defaults;
    uint64_t t0 = vs_run_wall_ns();
    const vs_backend *be;
    const char *arg;
    int rc = run_prepare(s, o, r, &be, &arg, e);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    if (be->run) /* the back-end runs the whole scenario (the test guest) */
        return be->run(s, o, arg, r, e);
    vs_run_ctx c;
    rc = run_build(&c, s, o, r, be, arg, e);
    if (rc < 0)
        return r->verdict == VS_SCN_ERROR ? 0 : rc;
    if (vs__run_preconditions(&c) == 0)
        run_steps(&c);
    close_device(&c);
    if (r->negotiated == 0)
        r->negotiated = vs_driver_features(c.d);
    r->offered = vs_driver_device_features(c.d);
    r->real_backend = c.real;
    judge(&c);
    if (c.trace)
        vs_trace_digest_hex(c.trace, r->digest);
    r->virtual_ns = vs_run_now(&c);
    r->wall_ns = vs_run_wall_ns() - t0;
    /* A scenario that ended in a verdict may leave its QEMU to the next one (parked only
     * if QEMU passes the checks of a reset); an error or an interruption may not. */
    if (c.qemu_reuse && c.t)
        vs_qemu_transport_keep(c.t, (r->verdict == VS_SCN_PASS || r->verdict == VS_SCN_FAIL) &&
                                        !(o->stop && *o->stop));
    teardown(&c);
    return 0;
}
