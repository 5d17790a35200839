/* Runs one scenario: builds guest memory, the back-end, the driver model, the trace and
 * the monitors, executes the steps in order and turns what happened into a verdict.
 * A step that does not get what it expects stops the scenario (what follows would test
 * a device in an unknown state). */
#define _GNU_SOURCE
#include "virtiosim/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "virtiosim/blk.h"
#include "virtiosim/blk_driver.h"
#include "virtiosim/driver.h"
#include "virtiosim/event.h"
#include "virtiosim/gmem.h"
#include "virtiosim/qemu.h"
#include "virtiosim/report.h"
#include "virtiosim/sim.h"
#include "virtiosim/trace.h"
#include "virtiosim/transport_pci.h"
#include "virtiosim/transport_ref.h"
#include "virtiosim/vhost_frontend.h"

/* Virtual-time budget for one step on the in-process back-end: generous, because a
 * workload of 70,000 requests legitimately takes virtual seconds. */
#define STEP_TIMEOUT_NS (600ull * 1000000000ull)

typedef struct run_ctx {
    const vs_scenario *s;
    const vs_run_opts *o;
    vs_scenario_result *r;
    vs_gmem *gm;
    vs_engine *eng;
    vs_device *dev;
    vs_transport *t;
    vs_driver *d;
    vs_event_bus bus;
    vs_trace *trace;
    vs_monitors *mon;
    bool real;                  /* a real back-end: wall-clock time, no engine events */
    bool external;              /* a back-end someone else runs: its disk is not fresh */
    uint64_t wall0;
    int tmp_image_fd;           /* QEMU: unlinked image for a RAM scenario (-1 none) */
    char tmp_image_path[64];    /* /proc/PID/fd/N: how QEMU opens it */
    vs_qemu_args qargs;
    vs_qsd *qsd;                /* --backend qsd: the daemon we started */
    vs_pci_findings *pci_f;     /* PCI transport: what the probe found */
    vs_qemu_blkdebug_rule rules[VS_STEP_MAX_CFG];
    unsigned step;
    char step_desc[96];
    /* progress */
    uint64_t done, total;
    uint64_t last_progress_wall;
} run_ctx;

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t ctx_now(void *opaque)
{
    run_ctx *c = opaque;
    return c->real ? wall_ns() - c->wall0 : vs_engine_now(c->eng);
}

static void emit(run_ctx *c, enum vs_event_kind kind, uint64_t val, const char *text)
{
    vs_event ev = {.kind = kind, .t_ns = ctx_now(c), .queue = -1, .val = val, .text = text};
    vs_event_emit(&c->bus, &ev);
}

/* Records an unmet expectation; returns 1 (the step failed). */
static int expect_failed(run_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int expect_failed(run_ctx *c, const char *fmt, ...)
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

static void expect_ok(run_ctx *c, const char *what)
{
    emit(c, VS_EV_EXPECT, 1, what);
}

/* A driver call failed: a conformance-relevant failure of the device (timeout, NEEDS_RESET,
 * broken queue) is a step failure; a dead back-end is an infrastructure error. */
static int driver_error(run_ctx *c, int rc, const vs_err *e)
{
    if (-rc == VS_EBACKEND || -rc == VS_ENOMEM) {
        snprintf(c->r->message, sizeof c->r->message, "%s:%u: step %u (%s): %s", c->s->path,
                 c->s->steps[c->step].line, c->step + 1, c->step_desc, e->msg);
        return rc;
    }
    return expect_failed(c, "%s", e->msg[0] ? e->msg : vs_errc_name(rc));
}

static void on_result(void *opaque, const void *res)
{
    run_ctx *c = opaque;
    (void)res;
    c->r->requests++;
    if (!c->o->progress || c->total < 5000)
        return;
    c->done++;
    if ((c->done & 1023) == 0 || c->done == c->total) {
        uint64_t now = wall_ns();
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

static const char *status_name(uint8_t st)
{
    switch (st) {
    case VS_BLK_S_OK: return "ok";
    case VS_BLK_S_IOERR: return "ioerr";
    case VS_BLK_S_UNSUPP: return "unsupp";
    case VS_BLK_S_ZONE_INVALID_CMD: return "zone_invalid_cmd";
    case VS_BLK_S_ZONE_UNALIGNED_WP: return "zone_unaligned_wp";
    case VS_BLK_S_ZONE_OPEN_RESOURCE: return "zone_open_resource";
    case VS_BLK_S_ZONE_ACTIVE_RESOURCE: return "zone_active_resource";
    default: return "invalid";
    }
}

/* One blk request with an expected status byte. */
static int do_request(run_ctx *c, const vs_step *st, vs_blk_req *req)
{
    vs_err e = {0};
    vs_blk_result res;
    req->queue = st->queue;
    req->flags |= VS_BLK_REQ_EXPECT;
    req->expect_status = (uint8_t)st->expect;
    if (!st->verify)
        req->flags |= VS_BLK_REQ_NO_VERIFY;
    int rc = vs_blk_do(c->d, req, &res, &e);
    if (rc < 0)
        return driver_error(c, rc, &e);
    if (res.status != st->expect)
        return expect_failed(c, "device answered %s (status byte %u), expected %s",
                             status_name(res.status), res.status,
                             status_name((uint8_t)st->expect));
    if (!res.ok)
        return expect_failed(c, "%s", res.msg);
    if (st->kind == VS_STEP_GET_ID && st->expect_id && strcmp(res.id_str, st->expect_id) != 0)
        return expect_failed(c, "GET_ID returned \"%s\", expected \"%s\"", res.id_str,
                             st->expect_id);
    if (st->kind == VS_STEP_ZONE_APPEND && st->has_expect_sector && res.status == VS_BLK_S_OK &&
        res.append_sector != st->expect_sector)
        return expect_failed(c, "append_sector %" PRIu64 ", expected %" PRIu64,
                             res.append_sector, st->expect_sector);
    if (st->kind == VS_STEP_ZONE_REPORT && res.status == VS_BLK_S_OK) {
        if (res.nr_zones < st->n_states || res.nr_zones < st->n_wp)
            return expect_failed(c, "zone report has %" PRIu64 " zones, expected at least %u",
                                 res.nr_zones, st->n_states > st->n_wp ? st->n_states : st->n_wp);
        for (unsigned i = 0; i < st->n_states; i++)
            if (res.zone_state[i] != st->expect_states[i])
                return expect_failed(c, "reported zone %u is in state %u, expected %u", i,
                                     res.zone_state[i], st->expect_states[i]);
        for (unsigned i = 0; i < st->n_wp; i++)
            if (res.zone_wp[i] != st->expect_wp[i])
                return expect_failed(c, "reported zone %u has write pointer %" PRIu64
                                     ", expected %" PRIu64, i, res.zone_wp[i], st->expect_wp[i]);
    }
    expect_ok(c, status_name(res.status));
    return 0;
}


static int do_expect(run_ctx *c, const vs_step *st)
{
    vs_err e = {0};
    uint8_t status;
    int rc = vs_driver_read_status(c->d, &status, &e);
    if (rc < 0)
        return driver_error(c, rc, &e);
    if ((status & st->status_set) != st->status_set) {
        char want[96], seen[96];
        vs_status_format(st->status_set, want, sizeof want);
        vs_status_format(status, seen, sizeof seen);
        return expect_failed(c, "status %s does not include %s", seen, want);
    }
    if (st->needs_reset >= 0) {
        bool set = status & VS_STATUS_DEVICE_NEEDS_RESET;
        if (set != (bool)st->needs_reset)
            return expect_failed(c, "DEVICE_NEEDS_RESET is %s, expected %s",
                                 set ? "set" : "clear", st->needs_reset ? "set" : "clear");
    }
    uint64_t neg = vs_driver_features(c->d);
    if ((neg & st->features_required) != st->features_required) {
        char missing[256];
        vs_features_format(VS_DEV_BLK, st->features_required & ~neg, missing, sizeof missing);
        return expect_failed(c, "features not negotiated: %s", missing);
    }
    for (unsigned i = 0; i < st->ncfg; i++) {
        const vs_blk_cfg_field *f = vs_blk_cfg_field_find(st->cfg[i].field);
        if (!f)
            return expect_failed(c, "unknown config field %s", st->cfg[i].field);
        uint64_t v = 0;
        uint8_t buf[8] = {0};
        rc = vs_driver_config_read(c->d, f->off, buf, f->len, &e);
        if (rc < 0)
            return driver_error(c, rc, &e);
        for (unsigned b = 0; b < f->len; b++)
            v |= (uint64_t)buf[b] << (8 * b);
        if (v != st->cfg[i].value)
            return expect_failed(c, "config %s is %" PRIu64 ", expected %" PRIu64, f->name, v,
                                 st->cfg[i].value);
    }
    expect_ok(c, "expectations met");
    return 0;
}

/* The initialization sequence by hand, writing bits the device never offered: a
 * conforming device must leave FEATURES_OK clear. The driver ends with FAILED, as the
 * spec asks of a driver whose features were refused. */
static int do_forced_init(run_ctx *c, const vs_step *st)
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
        vs_features_format(VS_DEV_BLK, offered & st->force_features, names, sizeof names);
        return expect_failed(c, "force_features names bits the device offers (%s): choose "
                                "bits it does not offer", names);
    }
    if (rc == 0)
        rc = vs_driver_write_features_raw(
            c->d, (offered & c->s->driver.features) | st->force_features, &e);
    if (rc == 0)
        rc = vs_driver_set_status(c->d, VS_STATUS_FEATURES_OK, &e);
    if (rc == 0)
        rc = vs_driver_read_status(c->d, &status, &e);
    if (rc < 0)
        return driver_error(c, rc, &e);
    bool refused = !(status & VS_STATUS_FEATURES_OK);
    vs_driver_set_status(c->d, VS_STATUS_FAILED, &e);
    if (refused != st->expect_features_refused)
        return expect_failed(c, "FEATURES_OK was %s, expected it to be %s",
                             refused ? "refused" : "accepted",
                             st->expect_features_refused ? "refused" : "accepted");
    expect_ok(c, refused ? "FEATURES_OK refused" : "FEATURES_OK accepted");
    return 0;
}

static int do_init(run_ctx *c, const vs_step *st)
{
    if (st->force_features)
        return do_forced_init(c, st);
    vs_err e = {0};
    int rc = vs_driver_init(c->d, &e);
    if (st->expect_features_refused) {
        if (rc >= 0)
            return expect_failed(c, "the device accepted FEATURES_OK, expected a refusal");
        expect_ok(c, "FEATURES_OK refused");
        return 0;
    }
    if (rc == -VS_ENOTSUP && c->step == 0) {
        /* The device does not offer what this scenario is about (e.g. RING_PACKED). */
        snprintf(c->r->message, sizeof c->r->message, "not applicable: %s", e.msg);
        return 2;
    }
    if (rc < 0)
        return driver_error(c, rc, &e);
    c->r->negotiated = vs_driver_features(c->d);
    /* A disk virtiosim created starts zeroed; a zoned one fills unwritten sectors with a
     * pattern of its own choosing. */
    if (!c->s->device.image && !c->external && !(c->r->negotiated & VS_BIT(VS_BLK_F_ZONED)))
        vs_blk_shadow_assume(c->d, VS_SHADOW_ZERO);
    expect_ok(c, "initialized");
    return 0;
}

static int do_workload(run_ctx *c, const vs_step *st)
{
    vs_err e = {0};
    vs_blk_workload w = {
        .rw = st->wl.rw,
        .bs = st->wl.bs,
        .iodepth = st->wl.iodepth,
        .rwmixread = st->wl.rwmixread,
        .nr_ops = st->wl.number_ios,
        .offset = st->wl.offset * VS_BLK_SECTOR, /* bounded by the loader: no wrap */
        .size = st->wl.size * VS_BLK_SECTOR,
        .verify = st->wl.verify,
        .queues = st->wl.queues,
        .timeout_ns = STEP_TIMEOUT_NS,
    };
    vs_blk_workload_stats ws;
    c->done = 0;
    c->total = w.nr_ops;
    int rc = vs_blk_workload_run(c->d, &w, &ws, &e);
    c->total = 0;
    if (rc < 0)
        return driver_error(c, rc, &e);
    if (ws.errors || ws.verify_failures)
        return expect_failed(c, "%" PRIu64 " of %" PRIu64 " requests failed (%" PRIu64
                                " verify failures): %s",
                             ws.errors + ws.verify_failures, ws.ops, ws.verify_failures,
                             ws.first_error);
    char msg[160];
    snprintf(msg, sizeof msg, "%" PRIu64 " requests, latency min/median/max %" PRIu64 "/%" PRIu64
                              "/%" PRIu64 " ns", ws.ops, ws.lat_min_ns, ws.lat_median_ns,
             ws.lat_max_ns);
    expect_ok(c, msg);
    return 0;
}

/* A real device raises its config interrupt asynchronously to the status change the
 * driver polled: give it a moment to arrive before the next step resets the device, so
 * the monitors judge the device and not the race. */
static void await_config_irq(run_ctx *c, uint64_t before)
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
static int vhost_hung_up(run_ctx *c, vs_err *e)
{
    (void)e;
    if (!vs_vhost_user_transport_is(c->t))
        return 0;
    uint8_t b;
    vs_err ce = {0};
    return vs_driver_config_read_raw(c->d, 0, &b, 1, &ce) == 0 ? 0 : 1;
}

/* Did the device complete the malformed chain (rather than reject it)? */
static bool fault_completed(run_ctx *c)
{
    vs_blk_result res;
    bool seen = false;
    while (vs_blk_take_result(c->d, &res) == 1)
        seen |= res.fault;
    return seen;
}

static int do_fault(run_ctx *c, const vs_step *st)
{
    vs_err e = {0};
    vs_driver_counters k0;
    vs_driver_counters_get(c->d, &k0);
    int rc = vs_driver_submit_fault(c->d, st->queue, st->fault, &e);
    if (rc < 0)
        return driver_error(c, rc, &e);
    const char *qemu_said = NULL;
    char err[200] = "";
    if (st->fault_survives) {
        /* Either reaction is legal: the device broke itself, or it served the chain. */
        for (int i = 0; i < 100; i++) {
            if (vs_driver_needs_reset(c->d) || fault_completed(c))
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
            return expect_failed(c, "the back-end hung up after a %s chain and could not be "
                                    "reconnected: %s", vs_fault_name(st->fault), re.msg);
        if (hung) {
            expect_ok(c, "the back-end hung up on the malformed chain (its error path)");
            return 0;
        }
        uint8_t status = 0;
        vs_err se = {0};
        int src = vs_driver_read_status(c->d, &status, &se);
        if (src < 0)
            return driver_error(c, src, &se);
        bool broke = status & VS_STATUS_DEVICE_NEEDS_RESET;
        if (broke && c->real)
            await_config_irq(c, k0.config_irqs);
        expect_ok(c, broke ? "the device set DEVICE_NEEDS_RESET"
                           : "the device served or ignored the chain and kept running");
        return 0;
    }
    rc = vs_driver_wait_status(c->d, VS_STATUS_DEVICE_NEEDS_RESET, 1000000000ull, &e);
    if (rc < 0) {
        vs_err re = {0};
        int hung = vhost_hung_up(c, &re);
        if (hung > 0) {
            expect_ok(c, "the vhost-user back-end hung up on the malformed chain (its error "
                         "path)");
            return 0;
        }
        return expect_failed(c, "the device did not set DEVICE_NEEDS_RESET after a %s chain: %s%s%s",
                             vs_fault_name(st->fault), e.msg, hung < 0 ? "; reconnect: " : "",
                             hung < 0 ? re.msg : "");
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
    expect_ok(c, msg);
    return 0;
}

static void describe_step(const vs_step *st, char *buf, size_t n)
{
    const char *k = vs_step_kind_name(st->kind);
    switch (st->kind) {
    case VS_STEP_READ:
    case VS_STEP_WRITE:
    case VS_STEP_DISCARD:
    case VS_STEP_WRITE_ZEROES:
    case VS_STEP_SECURE_ERASE:
        snprintf(buf, n, "%s sector %" PRIu64 " count %u queue %u", k, st->sector, st->count,
                 st->queue);
        break;
    case VS_STEP_REQUEST:
        snprintf(buf, n, "request type %u", st->req_type);
        break;
    case VS_STEP_ZONE_APPEND:
        snprintf(buf, n, "%s sector %" PRIu64 " count %u", k, st->sector, st->count);
        break;
    case VS_STEP_ZONE_REPORT:
        snprintf(buf, n, "%s sector %" PRIu64 " zones %u", k, st->sector, st->zones);
        break;
    case VS_STEP_ZONE_OPEN:
    case VS_STEP_ZONE_CLOSE:
    case VS_STEP_ZONE_FINISH:
    case VS_STEP_ZONE_RESET:
        snprintf(buf, n, "%s sector %" PRIu64, k, st->sector);
        break;
    case VS_STEP_WORKLOAD:
        snprintf(buf, n, "workload %s bs %u iodepth %u x%" PRIu64, vs_rw_kind_name(st->wl.rw),
                 st->wl.bs, st->wl.iodepth, st->wl.number_ios);
        break;
    case VS_STEP_FAULT:
        snprintf(buf, n, "fault %s", vs_fault_name(st->fault));
        break;
    default:
        snprintf(buf, n, "%s", k);
    }
}

static int run_step(run_ctx *c, const vs_step *st)
{
    vs_err e = {0};
    vs_blk_req req = {.sector = st->sector, .nsectors = st->count};
    int rc;
    switch (st->kind) {
    case VS_STEP_INIT:
        return do_init(c, st);
    case VS_STEP_READ:
        req.type = VS_BLK_T_IN;
        return do_request(c, st, &req);
    case VS_STEP_WRITE:
        req.type = VS_BLK_T_OUT;
        req.pattern = st->pattern;
        return do_request(c, st, &req);
    case VS_STEP_FLUSH:
        req.type = VS_BLK_T_FLUSH;
        return do_request(c, st, &req);
    case VS_STEP_GET_ID:
        req.type = VS_BLK_T_GET_ID;
        return do_request(c, st, &req);
    case VS_STEP_DISCARD:
        req.type = VS_BLK_T_DISCARD;
        req.flags = st->unmap ? VS_BLK_REQ_UNMAP : 0;
        req.dwz_flags = st->dwz_flags;
        return do_request(c, st, &req);
    case VS_STEP_WRITE_ZEROES:
        req.type = VS_BLK_T_WRITE_ZEROES;
        req.flags = st->unmap ? VS_BLK_REQ_UNMAP : 0;
        req.dwz_flags = st->dwz_flags;
        return do_request(c, st, &req);
    case VS_STEP_REQUEST:
        req.type = st->req_type;
        return do_request(c, st, &req);
    case VS_STEP_GET_LIFETIME:
        req.type = VS_BLK_T_GET_LIFETIME;
        return do_request(c, st, &req);
    case VS_STEP_SECURE_ERASE:
        req.type = VS_BLK_T_SECURE_ERASE;
        req.dwz_flags = st->dwz_flags;
        return do_request(c, st, &req);
    case VS_STEP_ZONE_APPEND:
        req.type = VS_BLK_T_ZONE_APPEND;
        req.pattern = st->pattern;
        return do_request(c, st, &req);
    case VS_STEP_ZONE_REPORT:
        req.type = VS_BLK_T_ZONE_REPORT;
        req.nsectors = 0;
        req.data_len = VS_BLK_ZONE_REPORT_HDR + st->zones * VS_BLK_ZONE_DESC;
        req.seg_size = req.data_len; /* one buffer: the report is parsed from it */
        return do_request(c, st, &req);
    case VS_STEP_ZONE_OPEN:
    case VS_STEP_ZONE_CLOSE:
    case VS_STEP_ZONE_FINISH:
    case VS_STEP_ZONE_RESET:
    case VS_STEP_ZONE_RESET_ALL: {
        static const uint32_t types[] = {VS_BLK_T_ZONE_OPEN, VS_BLK_T_ZONE_CLOSE,
                                         VS_BLK_T_ZONE_FINISH, VS_BLK_T_ZONE_RESET,
                                         VS_BLK_T_ZONE_RESET_ALL};
        req.type = types[st->kind - VS_STEP_ZONE_OPEN];
        req.nsectors = 0;
        return do_request(c, st, &req);
    }
    case VS_STEP_WORKLOAD:
        return do_workload(c, st);
    case VS_STEP_EXPECT:
        return do_expect(c, st);
    case VS_STEP_CONFIG_WRITE: {
        uint8_t v = (uint8_t)st->value;
        rc = vs_driver_config_write(c->d, VS_BLK_CFG_WRITEBACK, &v, 1, &e);
        if (rc < 0)
            return driver_error(c, rc, &e);
        expect_ok(c, "config written");
        return 0;
    }
    case VS_STEP_RESET:
        rc = vs_driver_reset(c->d, &e);
        if (rc < 0)
            return driver_error(c, rc, &e);
        if (!st->reinit) {
            expect_ok(c, "reset");
            return 0;
        }
        return do_init(c, st);
    case VS_STEP_FAULT:
        return do_fault(c, st);
    case VS_STEP_SUSPEND:
    case VS_STEP_RESUME:
        /* reads in flight when suspending: the device finishes them first */
        for (uint32_t i = 0; st->kind == VS_STEP_SUSPEND && i < st->count; i++) {
            vs_blk_req r = {.type = VS_BLK_T_IN, .sector = 8ull * i, .nsectors = 8,
                            .flags = VS_BLK_REQ_NO_VERIFY};
            if ((rc = vs_blk_submit(c->d, &r, &e)) < 0)
                return driver_error(c, rc, &e);
        }
        if (!c->real && st->wait_ns)
            vs_engine_run_until(c->eng, vs_engine_now(c->eng) + st->wait_ns);
        rc = st->kind == VS_STEP_SUSPEND ? vs_driver_suspend(c->d, &e) : vs_driver_resume(c->d, &e);
        if (rc < 0)
            return driver_error(c, rc, &e);
        if ((rc == 1) != st->expect_needs_reset)
            return expect_failed(c, "%s", rc == 1 ? "the device set DEVICE_NEEDS_RESET"
                                                  : "DEVICE_NEEDS_RESET expected");
        expect_ok(c, rc == 1 ? "DEVICE_NEEDS_RESET"
                             : st->kind == VS_STEP_SUSPEND ? "suspended" : "resumed");
        return 0;
    case VS_STEP_CONFIG_CHANGE: {
        if (c->real)
            return expect_failed(c, "config_change needs the in-process back-end");
        c->dev->config_generation++;
        rc = vs_ref_is(c->t) ? vs_ref_config_changed(c->t, &e)
                             : vs_pci_model_transport_config_changed(c->t, &e);
        uint64_t cap;
        if (rc >= 0) /* the driver notices through the generation */
            rc = vs_driver_config_read(c->d, VS_BLK_CFG_CAPACITY, &cap, 8, &e);
        if (rc < 0)
            return driver_error(c, rc, &e);
        expect_ok(c, "config changed");
        return 0;
    }
    case VS_STEP_QUEUE_RESET:
        /* reads in flight when the queue is reset: the device must drop them */
        for (uint32_t i = 0; i < st->count; i++) {
            vs_blk_req r = {.type = VS_BLK_T_IN, .sector = 8ull * i, .nsectors = 8,
                            .queue = st->queue, .flags = VS_BLK_REQ_NO_VERIFY};
            if ((rc = vs_blk_submit(c->d, &r, &e)) < 0)
                return driver_error(c, rc, &e);
        }
        if (!c->real && st->wait_ns)
            vs_engine_run_until(c->eng, vs_engine_now(c->eng) + st->wait_ns);
        if ((rc = vs_driver_queue_reset(c->d, st->queue, &e)) < 0)
            return driver_error(c, rc, &e);
        expect_ok(c, "queue reset");
        return 0;
    case VS_STEP_QUEUE_ENABLE:
        if ((rc = vs_driver_queue_enable(c->d, st->queue, st->qsize, &e)) < 0)
            return driver_error(c, rc, &e);
        expect_ok(c, "queue enabled");
        return 0;
    case VS_STEP_NOTIFY:
        for (uint32_t i = 0; i < (st->count ? st->count : 1); i++)
            if ((rc = vs_driver_notify(c->d, st->queue, &e)) < 0)
                return driver_error(c, rc, &e);
        expect_ok(c, "notified");
        return 0;
    case VS_STEP_WAIT:
        if (c->real) {
            struct timespec ts = {(time_t)(st->wait_ns / 1000000000ull),
                                  (long)(st->wait_ns % 1000000000ull)};
            nanosleep(&ts, NULL);
        } else {
            vs_engine_run_until(c->eng, vs_engine_now(c->eng) + st->wait_ns);
        }
        return 0;
    }
    return expect_failed(c, "step kind %d not implemented", (int)st->kind);
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
        uint64_t b = st->kind == VS_STEP_WORKLOAD
                         ? (uint64_t)st->wl.iodepth * (st->wl.bs + 64 * 1024)
                         : (uint64_t)st->count * VS_BLK_SECTOR + 64 * 1024;
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

static int build_ref(run_ctx *c, vs_err *e)
{
    const vs_scenario *s = c->s;
    vs_blk_opts bo;
    vs_blk_opts_default(&bo);
    bo.capacity_sectors = s->device.capacity_sectors;
    bo.image_path = s->device.image;
    bo.create_image = s->device.image != NULL;
    bo.read_only = s->device.read_only;
    bo.num_queues = s->device.num_queues;
    bo.queue_size = s->device.queue_size;
    bo.blk_size = s->device.blk_size;
    bo.seg_max = s->device.seg_max;
    bo.size_max = s->device.size_max;
    bo.writeback = s->device.writeback;
    bo.flush = s->device.flush;
    bo.discard = s->device.discard;
    bo.write_zeroes = s->device.write_zeroes;
    bo.config_wce = s->device.config_wce;
    bo.topology = s->device.topology;
    bo.geometry = s->device.geometry;
    bo.secure_erase = s->device.secure_erase;
    bo.lifetime = s->device.lifetime;
    bo.max_discard_sectors = s->device.max_discard_sectors;
    bo.max_discard_seg = s->device.max_discard_seg;
    bo.discard_sector_alignment = s->device.discard_sector_alignment;
    bo.max_write_zeroes_sectors = s->device.max_write_zeroes_sectors;
    bo.max_write_zeroes_seg = s->device.max_write_zeroes_seg;
    bo.write_zeroes_may_unmap = s->device.write_zeroes_may_unmap;
    bo.serial = s->device.serial;
    bo.extra_features |= s->device.extra_features;
    bo.zoned.on = s->device.zoned.on;
    bo.zoned.model = s->device.zoned.model;
    bo.zoned.zone_sectors = s->device.zoned.zone_sectors;
    bo.zoned.zone_capacity = s->device.zoned.zone_capacity;
    bo.zoned.conventional_zones = s->device.zoned.conventional_zones;
    bo.zoned.max_open_zones = s->device.zoned.max_open_zones;
    bo.zoned.max_active_zones = s->device.zoned.max_active_zones;
    bo.zoned.max_append_sectors = s->device.zoned.max_append_sectors;
    bo.zoned.write_granularity = s->device.zoned.write_granularity;
    bo.zoned.read_only_zones = s->device.zoned.read_only_zones;
    bo.zoned.offline_zones = s->device.zoned.offline_zones;
    if (c->o->mutant) {
        bo.mutations = c->o->mutant->blk_mutations;
        bo.zoned_mutation = c->o->mutant->zoned_mutation;
    }
    int rc = vs_blk_create(&c->dev, c->gm, &bo, e);
    if (rc < 0)
        return vs_err_prefix(e, "reference virtio-blk");

    vs_ref_opts ro;
    vs_ref_opts_default(&ro);
    ro.irq_mode = (enum vs_irq_mode)s->driver.interrupts;
    ro.doorbell_latency_ns = s->timing.doorbell_latency_ns;
    ro.irq_latency_ns = s->timing.irq_latency_ns;
    switch (s->timing.dist) {
    case VS_DIST_FIXED:
        ro.service.dist = VS_SERVICE_FIXED;
        ro.service.fixed_ns = s->timing.a_ns;
        break;
    case VS_DIST_UNIFORM:
        ro.service.dist = VS_SERVICE_UNIFORM;
        ro.service.min_ns = s->timing.a_ns;
        ro.service.max_ns = s->timing.b_ns;
        break;
    case VS_DIST_EXPONENTIAL:
        ro.service.dist = VS_SERVICE_EXP;
        ro.service.mean_ns = s->timing.a_ns;
        break;
    }
    if (c->o->mutant) {
        ro.mutations = c->o->mutant->ref_mutations;
        ro.ring_mutations = c->o->mutant->ring_mutations;
        ro.pci_mutations = c->o->mutant->pci_mutations;
    }
    if (c->o->pci || c->s->transport_pci || ro.pci_mutations)
        return vs_pci_model_transport_create(&c->t, c->eng, c->dev, c->gm, &ro, &c->bus, e);
    return vs_ref_transport_create(&c->t, c->eng, c->dev, c->gm, &ro, &c->bus, e);
}

/* QEMU gets guest RAM from our memfd and the disk from a raw file: a RAM scenario gets a
 * temporary image (null-co would discard writes and break read verification). */
static int start_qemu(run_ctx *c, const char *const *args, vs_err *e);

/* QEMU's vhost-user-blk-pci in front of a vhost-user back-end at sock: our driver talks
 * virtio-pci to QEMU, QEMU talks vhost-user to the back-end, both share our guest RAM. */
static int build_qemu_vhost(run_ctx *c, const char *sock, vs_err *e)
{
    static char chardev[300], device[120];
    snprintf(chardev, sizeof chardev, "socket,id=vsvu0,path=%s", sock);
    snprintf(device, sizeof device, "vhost-user-blk-pci,disable-legacy=on,chardev=vsvu0,num-queues=%u",
             c->s->device.num_queues);
    static const char *args[6];
    args[0] = "-chardev";
    args[1] = chardev;
    args[2] = "-device";
    args[3] = device;
    args[4] = NULL;
    return start_qemu(c, args, e);
}

static int start_qemu(run_ctx *c, const char *const *args, vs_err *e)
{
    vs_qemu_backend_opts o;
    vs_qemu_backend_opts_default(&o);
    o.qemu_path = c->o->qemu_path;
    o.same_cpu = c->o->qemu_same_cpu;
    o.device_args = args;
    o.irq_mode = (enum vs_irq_mode)c->s->driver.interrupts;
    int rc = vs_qemu_transport_create(&c->t, c->gm, &o, &c->bus, e);
    if (rc < 0)
        return rc;
    snprintf(c->r->backend_version, sizeof c->r->backend_version, "%s",
             vs_qemu_transport_version(c->t));
    return 0;
}

static int build_qemu(run_ctx *c, vs_err *e)
{
    const vs_scenario *s = c->s;
    const char *image = s->device.image;
    uint64_t bytes = s->device.capacity_sectors * VS_BLK_SECTOR;
    if (!image) {
        /* The image never has a name once created: QEMU opens it through our descriptor,
         * so no exit path (SIGKILL included) can leave it behind. */
        const char *dir = getenv("TMPDIR");
        char tmpl[PATH_MAX];
        snprintf(tmpl, sizeof tmpl, "%s/virtiosim-img-XXXXXX", dir && *dir ? dir : "/tmp");
        int fd = mkstemp(tmpl);
        if (fd >= 0)
            unlink(tmpl);
        if (fd < 0 || ftruncate(fd, (off_t)bytes) < 0) {
            int err = errno;
            if (fd >= 0)
                close(fd);
            return vs_err_set(e, VS_EIO, "temporary image in %s: %s", dir && *dir ? dir : "/tmp",
                              strerror(err));
        }
        c->tmp_image_fd = fd;
        snprintf(c->tmp_image_path, sizeof c->tmp_image_path, "/proc/%d/fd/%d", (int)getpid(),
                 fd);
        image = c->tmp_image_path;
    } else if (access(image, F_OK) != 0) {
        int fd = open(image, O_RDWR | O_CREAT, 0644);
        if (fd < 0 || ftruncate(fd, (off_t)bytes) < 0) {
            int err = errno;
            if (fd >= 0)
                close(fd);
            return vs_err_set(e, VS_EIO, "image %s: %s", image, strerror(err));
        }
        close(fd);
    }
    vs_qemu_blk_params p;
    vs_qemu_blk_params_default(&p);
    p.capacity = bytes;
    p.image = image;
    p.read_only = s->device.read_only;
    p.num_queues = s->device.num_queues;
    p.queue_size = (uint16_t)s->device.queue_size;
    p.packed = true;    /* offered; the scenario's driver decides what it negotiates */
    p.event_idx = true;
    p.indirect_desc = true;
    p.serial = s->device.serial;
    p.discard = s->device.discard;
    p.write_zeroes = s->device.write_zeroes;
    for (unsigned i = 0; i < s->device.n_inject && i < VS_STEP_MAX_CFG; i++) {
        c->rules[i] = (vs_qemu_blkdebug_rule){
            .event = s->device.inject[i].write ? VS_QEMU_BLKDBG_WRITE_AIO : VS_QEMU_BLKDBG_READ_AIO,
            .sector = (int64_t)s->device.inject[i].sector,
            .err_no = EIO,
            .once = s->device.inject[i].once,
        };
    }
    p.rules = c->rules;
    p.n_rules = s->device.n_inject;
    int rc = vs_qemu_blk_args(&p, &c->qargs, e);
    if (rc < 0)
        return rc;
    rc = start_qemu(c, c->qargs.argv, e);
    if (rc < 0)
        return rc;
    return 0;
}

/* vhost-user: the device lives in another process that maps our guest RAM memfd.
 * `qsd` starts qemu-storage-daemon on a temporary image first; `vhost-user:SOCK` connects
 * to a back-end someone else runs. */
static int build_vhost(run_ctx *c, const char *sock, vs_err *e)
{
    const vs_scenario *s = c->s;
    if (!sock) {
        vs_qsd_opts qo;
        vs_qsd_opts_default(&qo);
        qo.size = s->device.capacity_sectors * VS_BLK_SECTOR;
        qo.image = s->device.image;
        qo.read_only = s->device.read_only;
        qo.num_queues = s->device.num_queues;
        int rc = vs_qsd_start(&qo, &c->qsd, e);
        if (rc < 0)
            return vs_err_prefix(e, "qsd");
        sock = vs_qsd_socket_path(c->qsd);
    }
    vs_vhost_fe_opts fo;
    vs_vhost_fe_opts_default(&fo);
    fo.irq_mode = (enum vs_irq_mode)s->driver.interrupts;
    int rc = vs_vhost_user_transport_create(&c->t, c->gm, sock, &fo, &c->bus, e);
    if (rc < 0)
        return vs_err_prefix(e, "vhost-user %s", sock);
    if (c->qsd)
        vs_qsd_version(NULL, c->r->backend_version, sizeof c->r->backend_version, NULL);
    else
        snprintf(c->r->backend_version, sizeof c->r->backend_version, "vhost-user back-end at %s",
                 sock);
    return 0;
}

static void teardown(run_ctx *c)
{
    vs_driver_destroy(c->d);
    if (c->t)
        c->t->ops->destroy(c->t);
    if (c->dev)
        c->dev->ops->destroy(c->dev);
    vs_monitors_destroy(c->mon);
    free(c->pci_f);
    vs_trace_destroy(c->trace);
    vs_engine_destroy(c->eng);
    vs_gmem_destroy(c->gm);
    if (c->qsd) {
        vs_err ignore = {0};
        vs_qsd_stop(c->qsd, &ignore);
    }
    if (c->tmp_image_fd >= 0)
        close(c->tmp_image_fd);
}

void vs_scenario_result_clear(vs_scenario_result *r)
{
    vs_results_destroy(r->conformance);
    vs_timeline_destroy(r->timeline);
    memset(r, 0, sizeof *r);
}

int vs_run_scenario(const vs_scenario *s, const vs_run_opts *o, vs_scenario_result *r,
                    vs_err *e)
{
    static const vs_run_opts defaults = {.backend = "ref"};
    if (!o)
        o = &defaults;
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", s->name);
    snprintf(r->path, sizeof r->path, "%s", s->path);
    r->seed = o->seed_set ? o->seed : s->seed;
    r->failed_step = -1;
    const char *be = o->backend ? o->backend : "ref";
    const char *qvu_sock = strncmp(be, "qemu-vhost-user:", 16) == 0 ? be + 16 : NULL;
    bool qemu = strcmp(be, "qemu") == 0 || qvu_sock;
    bool qsd = strcmp(be, "qsd") == 0;
    const char *vu_sock = strncmp(be, "vhost-user:", 11) == 0 ? be + 11 : NULL;
    bool vhost = qsd || vu_sock;
    if (!qemu && !vhost && strcmp(be, "ref") != 0)
        return vs_err_set(e, VS_ENOTSUP, "back-end '%s' is not available", be);
    if ((qemu || vhost) && o->mutant)
        return vs_err_set(e, VS_ENOTSUP, "mutants are variants of the reference device; "
                                         "they do not apply to --backend %s", be);
    unsigned want = qvu_sock ? VS_BACKEND_VHOST_USER
                    : qemu   ? VS_BACKEND_QEMU
                    : vhost  ? VS_BACKEND_VHOST_USER
                             : VS_BACKEND_REF;
    if (!(s->backends & want)) {
        r->verdict = VS_SCN_SKIPPED;
        snprintf(r->message, sizeof r->message, "does not apply to the %s back-end",
                 qemu ? "qemu" : vhost ? "vhost-user" : "ref");
        return 0;
    }
    if (!qemu && s->device.n_inject) {
        r->verdict = VS_SCN_SKIPPED;
        snprintf(r->message, sizeof r->message, "I/O error injection needs --backend qemu");
        return 0;
    }

    run_ctx c = {.s = s, .o = o, .r = r, .real = qemu || vhost, .tmp_image_fd = -1,
                 .external = vu_sock != NULL || qvu_sock != NULL,
                 .wall0 = wall_ns()};
    if (!qemu && !vhost)
        snprintf(r->backend_version, sizeof r->backend_version,
                 "virtiosim reference devices %s", VS_VERSION);
    uint64_t t0 = wall_ns();
    uint64_t pool = pool_bytes_for(s);
    int rc = vs_gmem_create_flat(&c.gm, gmem_bytes_for(s, pool), e);
    if (rc == 0)
        rc = vs_engine_create(&c.eng, r->seed, e);
    /* A bare run (benchmarks) leaves the event bus empty: no trace, monitors, timeline. */
    if (rc == 0 && !o->bare && !o->no_trace)
        rc = vs_trace_create(&c.trace, o->trace, e);
    if (rc == 0 && c.trace)
        rc = vs_trace_attach(c.trace, &c.bus, e);
    if (rc == 0 && !o->bare)
        rc = vs_monitors_create(&c.mon, c.gm, VS_DEV_BLK, VS_ROLE_DEVICE, e);
    if (rc == 0 && c.mon) {
        vs_monitors_set_scenario(c.mon, s->name);
        vs_monitors_set_interrupts_observable(c.mon, s->driver.interrupts != VS_IRQ_POLL);
        vs_monitors_set_irq_latency(c.mon, s->timing.irq_latency_ns);
        rc = vs_event_bus_add(&c.bus, vs_monitors_on_event, c.mon);
    }
    if (rc == 0 && !o->bare)
        rc = vs_timeline_create(&r->timeline, 0, e);
    if (rc == 0 && r->timeline)
        rc = vs_event_bus_add(&c.bus, vs_timeline_on_event, r->timeline);
    if (rc == 0)
        rc = qvu_sock ? build_qemu_vhost(&c, qvu_sock, e)
             : qemu   ? build_qemu(&c, e)
             : vhost  ? build_vhost(&c, vu_sock, e)
                      : build_ref(&c, e);
    /* When the scenario is about the PCI transport (`transport: pci`, --transport pci), the
     * function (the model or QEMU's) is probed before the driver touches it: capabilities,
     * common config, MSI-X, ISR, ... Device scenarios leave the transport alone. */
    if (rc == 0 && (o->pci || s->transport_pci) && vs_pci_transport_is(c.t) && !o->bare) {
        if (!(c.pci_f = calloc(1, sizeof *c.pci_f)))
            rc = vs_err_set(e, VS_ENOMEM, "out of memory");
        else if (vs_pci_transport_checks(c.t, NULL, s->name, c.pci_f, e) < 0)
            rc = vs_err_prefix(e, "pci probe");
    }
    if (rc == 0) {
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
        dopts.stop = o->stop;
        dopts.seed = r->seed;
        dopts.seg_size = s->driver.seg_size;
        dopts.pool_bytes = pool;
        dopts.timeout_ns = c.real ? 20ull * 1000000000ull : STEP_TIMEOUT_NS;
        dopts.on_result = on_result;
        dopts.on_result_opaque = &c;
        rc = vs_driver_create(&c.d, c.t, &dopts, &c.bus, ctx_now, &c, e);
    }
    if (rc < 0) {
        r->verdict = VS_SCN_ERROR;
        snprintf(r->message, sizeof r->message, "%s", e->msg);
        teardown(&c);
        return 0;
    }
    if ((qemu || vhost) && c.mon)
        vs_monitors_set_async_device(c.mon, true);

    for (c.step = 0; c.step < s->nsteps; c.step++) {
        const vs_step *st = &s->steps[c.step];
        if (o->stop && *o->stop) {
            r->verdict = VS_SCN_SKIPPED;
            snprintf(r->message, sizeof r->message, "interrupted before step %u (%s)",
                     c.step + 1, vs_step_kind_name(st->kind));
            break;
        }
        describe_step(st, c.step_desc, sizeof c.step_desc);
        if (c.mon)
            vs_monitors_set_step(c.mon, c.step, c.step_desc);
        emit(&c, VS_EV_STEP, c.step, c.step_desc);
        if (o->verbose)
            fprintf(stderr, "  %s: step %u/%u %s\n", s->name, c.step + 1, s->nsteps, c.step_desc);
        rc = run_step(&c, st);
        r->steps_run = c.step + 1;
        if (rc != 0 && o->stop && *o->stop) {
            /* Cut short by ^C: not a verdict on the device. */
            r->verdict = VS_SCN_SKIPPED;
            snprintf(r->message, sizeof r->message, "interrupted during step %u (%s)",
                     c.step + 1, c.step_desc);
            break;
        }
        if (rc == 2) {
            r->verdict = VS_SCN_SKIPPED;
            break;
        }
        if (rc != 0) {
            r->failed_step = (int)c.step;
            snprintf(r->failed_step_desc, sizeof r->failed_step_desc, "%s", c.step_desc);
            if (rc < 0) {
                r->verdict = VS_SCN_ERROR;
                if (!r->message[0])
                    snprintf(r->message, sizeof r->message, "%s:%u: step %u (%s): %s",
                             s->path, st->line, c.step + 1, c.step_desc, vs_errc_name(rc));
            } else {
                r->verdict = VS_SCN_FAIL;
            }
            break;
        }
    }
    if (r->negotiated == 0)
        r->negotiated = vs_driver_features(c.d);

    vs_err fe = {0};
    if (c.mon && vs_monitors_finish(c.mon, r->negotiated, &fe) == 0 &&
        vs_results_create(&r->conformance, &fe) == 0)
        vs_results_merge(r->conformance, vs_monitors_results(c.mon), &fe);
    if (r->conformance) {
        snprintf(r->conformance->scenario, sizeof r->conformance->scenario, "%s", s->name);
        if (c.pci_f)
            vs_pci_results_fold(r->conformance, c.pci_f, s->name, 0);
        size_t nfail = r->conformance->count[VS_VERDICT_FAIL];
        if (nfail && r->verdict == VS_SCN_PASS) {
            r->verdict = VS_SCN_FAIL;
            /* Name the first failing statement with its first evidence. */
            for (size_t i = 0; i < r->conformance->n_stmt; i++) {
                const vs_stmt_result *sr = &r->conformance->stmt[i];
                if (sr->verdict != VS_VERDICT_FAIL)
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
    if (qemu && c.t && r->verdict != VS_SCN_PASS) {
        /* QEMU's own words are the evidence of how it reacted. */
        char err[256];
        if (vs_qemu_transport_stderr(c.t, err, sizeof err) > 0) {
            for (char *p = err; *p; p++)
                if (*p == '\n')
                    *p = ' ';
            size_t n = strlen(r->message);
            snprintf(r->message + n, sizeof r->message - n, "; QEMU stderr: %s", err);
        }
    }
    if (c.trace)
        vs_trace_digest_hex(c.trace, r->digest);
    r->virtual_ns = ctx_now(&c);
    r->wall_ns = wall_ns() - t0;
    teardown(&c);
    return 0;
}
