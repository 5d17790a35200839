/* In-process "ref" transport over a reference vs_device (see virtiosim/transport_ref.h). */
#include "virtiosim/transport_ref.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/iothread.h"

#define REQ_NONE UINT32_MAX
#define SCRATCH_SEGS_MIN 1024u  /* like QEMU's VIRTQUEUE_MAX_SIZE: indirect tables */

struct ref_tr;

typedef struct ref_req {
    struct ref_queue *rq;
    vs_timer h;            /* pending completion */
    uint32_t next_free;
    uint32_t seg_alloc;
    bool busy;             /* fetched, not yet completed (scheduled, in handle or deferred) */
    vs_chain chain;        /* chain.seg owned, seg_alloc entries */
} ref_req;

typedef struct ref_queue {
    struct ref_tr *tr;
    uint16_t index;
    vs_vq_dev *vq;         /* NULL while not set up */
    uint32_t size;
    vs_rng *rng;           /* "service.q<N>", owned by the engine */
    vs_timer doorbell_h;
    uint64_t coalesced;
    uint64_t fetched;      /* chains fetched since setup (the iothread counts per serve) */
    vs_timer flush_h;
    ref_req *reqs;
    uint32_t free_head;
    uint32_t inflight;
    vs_chain scratch;
    uint64_t last_done_ns; /* IN_ORDER: when the latest completion is scheduled */
    /* queue-reset mutants: what the queue was before its last queue_disable */
    bool was_reset;
    uint16_t old_base;
    vs_vq_layout old_layout;
} ref_queue;

typedef struct ref_vec {
    struct ref_tr *tr;
    uint16_t vector;
    int queue;             /* VS_IRQ_CONFIG for vector 0 */
    bool masked, pending;
    vs_timer irq_h;
    vs_timer echo_h;       /* opts.echo_irq_ns: the interrupt delivered again */
} ref_vec;

typedef struct ref_tr {
    vs_transport pub;      /* first: vs_transport * <-> ref_tr * */
    vs_engine *eng;
    vs_device *dev;
    vs_event_bus *bus;
    vs_ref_opts o;
    uint8_t status;
    uint8_t isr;
    bool stopped;
    uint64_t drv_features;
    uint16_t nq;
    ref_queue *q;
    ref_vec *vec;          /* nq + 1 */
    uint64_t irqs;
    unsigned in_irq;
    bool in_wait;
    bool hooked;           /* device half of another front-end (vs_ref_hooks) */
    vs_ref_hooks hooks;
    enum { SUS_NONE, SUS_PENDING, SUS_DONE } sus; /* VIRTIO_F_SUSPEND */
    bool cfg_deferred;     /* a config change to notify on resume */
    vs_iot *iot;           /* notify VS_NOTIFY_IOTHREAD, else NULL */
} ref_tr;

static const vs_transport_ops ref_ops;

static inline ref_tr *TR(vs_transport *t) { return (ref_tr *)t; }

/* ------------------------------------------------------------------ options */

void vs_ref_opts_default(vs_ref_opts *o)
{
    memset(o, 0, sizeof *o);
    o->irq_mode = VS_IRQ_MSIX;
    o->doorbell_latency_ns = 1000;
    o->irq_latency_ns = 500;
    o->service.dist = VS_SERVICE_FIXED;
    o->service.fixed_ns = 10000;
}

int vs_ref_opts_check(const vs_ref_opts *o, vs_err *e)
{
    if (!o)
        return vs_err_set(e, VS_EINVAL, "ref: NULL options");
    if (o->irq_mode != VS_IRQ_MSIX && o->irq_mode != VS_IRQ_INTX && o->irq_mode != VS_IRQ_POLL)
        return vs_err_set(e, VS_EINVAL, "ref: unknown irq mode %d", (int)o->irq_mode);
    switch (o->service.dist) {
    case VS_SERVICE_FIXED:
    case VS_SERVICE_EXP:
        break;
    case VS_SERVICE_UNIFORM:
        if (o->service.min_ns > o->service.max_ns)
            return vs_err_set(e, VS_EINVAL,
                              "ref: uniform service time min %llu > max %llu",
                              (unsigned long long)o->service.min_ns,
                              (unsigned long long)o->service.max_ns);
        break;
    default:
        return vs_err_set(e, VS_EINVAL, "ref: unknown service time distribution %d",
                          (int)o->service.dist);
    }
    if (o->notify != VS_NOTIFY_DIRECT && o->notify != VS_NOTIFY_IOTHREAD)
        return vs_err_set(e, VS_EINVAL, "ref: unknown notify path %d", (int)o->notify);
    if (o->notify == VS_NOTIFY_IOTHREAD) {
        int rc = vs_iot_opts_check(&o->iothread, e);
        if (rc < 0)
            return rc;
    }
    if (o->mutations & ~(uint32_t)VS_REF_MUT_ALL)
        return vs_err_set(e, VS_EINVAL, "ref: unknown mutation bits 0x%x",
                          o->mutations & ~(uint32_t)VS_REF_MUT_ALL);
    return 0;
}

/* ------------------------------------------------------------------ events */

static void emit(ref_tr *tr, enum vs_event_kind kind, int32_t q, uint32_t id, uint32_t idx,
                 uint64_t val, const char *text)
{
    if (!tr->bus || tr->bus->n == 0)
        return;
    vs_event ev = {
        .kind = kind,
        .t_ns = vs_engine_now(tr->eng),
        .queue = q,
        .id = id,
        .idx = idx,
        .val = val,
        .text = text,
    };
    vs_event_emit(tr->bus, &ev);
}

/* ------------------------------------------------------------------ interrupts */

static void deliver(ref_tr *tr, ref_vec *v)
{
    enum vs_irq_mode mode = tr->pub.irq_mode;
    if (mode == VS_IRQ_POLL)
        return;
    if (mode == VS_IRQ_MSIX && v->masked) {
        v->pending = true;
        return;
    }
    if (mode == VS_IRQ_INTX)
        tr->isr |= v->queue == VS_IRQ_CONFIG ? 2 : 1;
    tr->irqs++;
    emit(tr, VS_EV_IRQ, v->queue, 0, 0, mode == VS_IRQ_MSIX ? v->vector : VS_REF_NO_VECTOR,
         NULL);
    if (tr->pub.irq_fn) {
        tr->in_irq++;
        tr->pub.irq_fn(tr->pub.irq_opaque, v->queue);
        tr->in_irq--;
    }
}

/* opts.echo_irq_ns (a provocation): a queue interrupt delivered once more, later; by then
 * the driver has collected what the first one announced, so it reports nothing new. */
static void echo_cb(void *arg)
{
    ref_vec *v = arg;
    v->echo_h = 0;
    deliver(v->tr, v);
}

static void echo_schedule(ref_tr *tr, ref_vec *v)
{
    if (!tr->o.echo_irq_ns || v->queue == VS_IRQ_CONFIG || v->echo_h > 0)
        return;
    vs_timer h = vs_engine_after(tr->eng, tr->o.echo_irq_ns, echo_cb, v);
    if (h > 0)
        v->echo_h = h;
}

static void irq_cb(void *arg)
{
    ref_vec *v = arg;
    v->irq_h = 0;
    if (v->tr->hooked) {
        v->tr->hooks.irq(v->tr->hooks.opaque, v->queue);
    } else {
        deliver(v->tr, v);
        echo_schedule(v->tr, v);
    }
}

/* Schedules an interrupt on vector vi after irq_latency_ns; coalesces with one already
 * scheduled for that vector. */
static void raise_irq(ref_tr *tr, uint16_t vi)
{
    ref_vec *v = &tr->vec[vi];
    if ((!tr->hooked && tr->pub.irq_mode == VS_IRQ_POLL) || v->irq_h > 0)
        return;
    vs_timer h = vs_engine_after(tr->eng, tr->o.irq_latency_ns, irq_cb, v);
    if (h > 0)
        v->irq_h = h;
    else
        irq_cb(v); /* cannot schedule (out of memory / clock overflow): now */
}

/* ------------------------------------------------------------------ queues */

static void queue_cancel_work(ref_queue *rq)
{
    vs_engine *eng = rq->tr->eng;
    vs_engine_cancel(eng, rq->doorbell_h);
    vs_engine_cancel(eng, rq->flush_h);
    rq->doorbell_h = rq->flush_h = 0;
    rq->coalesced = 0;
    vs_iot_drop(rq->tr->iot, rq->index);
    if (rq->reqs) {
        rq->free_head = REQ_NONE;
        for (uint32_t i = rq->size; i-- > 0;) {
            ref_req *r = &rq->reqs[i];
            vs_engine_cancel(eng, r->h);
            r->h = 0;
            r->busy = false;
            r->next_free = rq->free_head;
            rq->free_head = i;
        }
    }
    rq->inflight = 0;
}

static void queue_teardown(ref_queue *rq)
{
    queue_cancel_work(rq);
    if (rq->vq) {
        vs_vq_dev_destroy(rq->vq);
        rq->vq = NULL;
    }
    if (rq->reqs) {
        for (uint32_t i = 0; i < rq->size; i++)
            free(rq->reqs[i].chain.seg);
        free(rq->reqs);
        rq->reqs = NULL;
    }
    free(rq->scratch.seg);
    memset(&rq->scratch, 0, sizeof rq->scratch);
    rq->size = 0;
    rq->free_head = REQ_NONE;
}

/* The device error path: DEVICE_NEEDS_RESET, DEVICE_ERROR + CONFIG_CHANGE events,
 * config interrupt, nothing more until reset. */
static void device_error(ref_tr *tr, int32_t q, const char *msg)
{
    if (tr->stopped)
        return;
    tr->stopped = true;
    if (!tr->hooked)
        tr->status |= VS_STATUS_DEVICE_NEEDS_RESET;
    emit(tr, VS_EV_DEVICE_ERROR, q, 0, 0, 0, msg);
    for (uint16_t i = 0; i < tr->nq; i++)
        queue_cancel_work(&tr->q[i]);
    if (tr->hooked) {
        tr->hooks.device_error(tr->hooks.opaque, q, msg);
        return;
    }
    /* Mutant: DEVICE_NEEDS_RESET is set silently, the driver is never told. */
    if (tr->o.mutations & VS_REF_MUT_NO_CONFIG_IRQ_ON_ERROR)
        return;
    emit(tr, VS_EV_CONFIG_CHANGE, -1, 0, 0, 0, NULL);
    raise_irq(tr, 0);
}

static bool can_process(const ref_tr *tr)
{
    if (tr->stopped)
        return false;
    if (tr->o.mutations & VS_REF_MUT_CONSUMES_BEFORE_DRIVER_OK)
        return true;
    if (tr->hooked)
        return tr->hooks.live(tr->hooks.opaque);
    uint8_t need = VS_STATUS_DRIVER_OK | VS_STATUS_FEATURES_OK;
    return (tr->status & need) == need && !(tr->status & VS_STATUS_FAILED) &&
           tr->sus == SUS_NONE;
}

static uint64_t service_ns(ref_tr *tr, ref_queue *rq)
{
    return vs_time_draw(&tr->o.service, rq->rng);
}

static void process(ref_tr *tr, ref_queue *rq);

static void flush_cb(void *arg)
{
    ref_queue *rq = arg;
    rq->flush_h = 0;
    if (!rq->vq || rq->tr->stopped)
        return;
    vs_vq_dev_publish(rq->vq);
    if (vs_vq_dev_irq_needed(rq->vq))
        raise_irq(rq->tr, (uint16_t)(rq->index + 1));
    /* notifications were off while busy: what the driver added meanwhile is found here */
    if (rq->tr->o.notify_off_while_busy && rq->vq && can_process(rq->tr))
        process(rq->tr, rq);
}

static void req_free(ref_queue *rq, ref_req *r)
{
    r->h = 0;
    r->busy = false;
    r->next_free = rq->free_head;
    rq->free_head = (uint32_t)(r - rq->reqs);
    if (rq->inflight)
        rq->inflight--;
}

/* Pushes the used element of a handled chain; publish + interrupt check once per instant. */
static void finish_req(ref_tr *tr, ref_queue *rq, ref_req *r, uint32_t written)
{
    vs_err e;
    vs_err_clear(&e);
    int rc = vs_vq_dev_push(rq->vq, &r->chain, written, &e);
    req_free(rq, r);
    if (rc < 0) {
        device_error(tr, rq->index, e.msg[0] ? e.msg : "used element push failed");
        return;
    }
    /* Publish + interrupt check once per instant: completions already scheduled for
     * this time run first (FIFO), then the flush. With nothing else due at this instant
     * the flush event would run next anyway: run it now and spare the engine a round. */
    if (rq->flush_h > 0)
        return;
    uint64_t now = vs_engine_now(tr->eng), next_t;
    vs_timer h = vs_engine_next_time(tr->eng, &next_t) && next_t == now
                     ? vs_engine_at(tr->eng, now, flush_cb, rq)
                     : 0;
    if (h > 0)
        rq->flush_h = h;
    else
        flush_cb(rq); /* nothing else due now, or cannot schedule */
}

static void complete_cb(void *arg)
{
    ref_req *r = arg;
    ref_queue *rq = r->rq;
    ref_tr *tr = rq->tr;
    r->h = 0;
    if (!rq->vq || tr->stopped)
        return;
    uint32_t written = 0;
    vs_err e;
    vs_err_clear(&e);
    int rc = tr->dev->ops->handle(tr->dev, rq->index, &r->chain, &written, &e);
    if (rc < 0) {
        req_free(rq, r);
        if (!e.msg[0])
            snprintf(e.msg, sizeof e.msg, "queue %u: device error %s", rq->index,
                     vs_errc_name(-rc));
        device_error(tr, rq->index, e.msg);
        return;
    }
    if (rc == VS_DEV_DEFERRED)
        return; /* the device completes it (dev_complete), maybe already has */
    finish_req(tr, rq, r, written);
}

/* vs_device.complete: a chain the device deferred is done. Unknown chains (dropped by a
 * reset or a queue reset) are ignored. */
static void dev_complete(void *ctx, uint16_t q, uint16_t chain_id, uint32_t written)
{
    ref_tr *tr = ctx;
    if (q >= tr->nq || tr->stopped)
        return;
    ref_queue *rq = &tr->q[q];
    if (!rq->vq || !rq->reqs)
        return;
    for (uint32_t i = 0; i < rq->size; i++) {
        ref_req *r = &rq->reqs[i];
        if (r->busy && r->h == 0 && r->chain.id == chain_id) {
            finish_req(tr, rq, r, written);
            return;
        }
    }
}

/* Before the transport drops queue q's chains (-1: all): a device holding some completes
 * or forgets them while the queues still work. */
static void dev_drain(ref_tr *tr, int32_t q)
{
    if (tr->dev->ops->drain && !tr->stopped)
        tr->dev->ops->drain(tr->dev, q);
}

static int copy_chain(ref_req *r, const vs_chain *c)
{
    if (c->nseg > r->seg_alloc) {
        uint32_t n = r->seg_alloc ? r->seg_alloc : 4;
        while (n < c->nseg)
            n *= 2;
        vs_dseg *s = realloc(r->chain.seg, (size_t)n * sizeof *s);
        if (!s)
            return -VS_ENOMEM;
        r->chain.seg = s;
        r->seg_alloc = n;
    }
    vs_dseg *seg = r->chain.seg;
    r->chain = *c;
    r->chain.seg = seg;
    r->chain.seg_cap = r->seg_alloc;
    if (c->nseg)
        memcpy(seg, c->seg, (size_t)c->nseg * sizeof *seg);
    return 0;
}

/* Starts work on a fetched chain: FETCH event, completion scheduled. False on error
 * (reported). */
static bool start_req(ref_tr *tr, ref_queue *rq, ref_req *r)
{
    char msg[VS_ERR_MSG_MAX];
    emit(tr, VS_EV_FETCH, rq->index, r->chain.id, vs_vq_dev_get_base(rq->vq), 0, NULL);
    uint64_t at = vs_engine_now(tr->eng) + service_ns(tr, rq);
    /* IN_ORDER: not before an earlier chain (same instant: FIFO keeps fetch order) */
    if ((tr->dev->driver_features & VS_BIT(VS_F_IN_ORDER)) &&
        !(tr->o.mutations & VS_REF_MUT_OUT_OF_ORDER) && at < rq->last_done_ns)
        at = rq->last_done_ns;
    rq->last_done_ns = at;
    vs_timer h = vs_engine_at(tr->eng, at, complete_cb, r);
    if (h <= 0) {
        snprintf(msg, sizeof msg, "queue %u: cannot schedule completion (%s)", rq->index,
                 vs_errc_name((int)-h));
        device_error(tr, rq->index, msg);
        return false;
    }
    r->h = h;
    return true;
}

/* Fetch every available chain, schedule its completion; then re-enable notifications
 * and re-check. */
static void process(ref_tr *tr, ref_queue *rq)
{
    char msg[VS_ERR_MSG_MAX];
    /* Mutant FETCH_SWAPPED: the first chain of a batch waits for the second. */
    bool swap = (tr->o.mutations & VS_REF_MUT_FETCH_SWAPPED) != 0;
    for (;;) {
        ref_req *held = NULL;
        vs_vq_dev_notify_disable(rq->vq);
        for (;;) {
            vs_err e;
            vs_err_clear(&e);
            rq->scratch.nseg = 0;
            int rc = vs_vq_dev_pop(rq->vq, &rq->scratch, &e);
            if (rc < 0) {
                device_error(tr, rq->index, e.msg[0] ? e.msg : "malformed chain");
                return;
            }
            if (rc == 0)
                break;
            if (rq->free_head == REQ_NONE) {
                snprintf(msg, sizeof msg, "queue %u: more than %u chains in flight",
                         rq->index, rq->size);
                device_error(tr, rq->index, msg);
                return;
            }
            ref_req *r = &rq->reqs[rq->free_head];
            if (copy_chain(r, &rq->scratch) < 0) {
                snprintf(msg, sizeof msg, "queue %u: out of memory holding a chain",
                         rq->index);
                device_error(tr, rq->index, msg);
                return;
            }
            rq->free_head = r->next_free;
            r->next_free = REQ_NONE;
            r->busy = true;
            rq->inflight++;
            rq->fetched++;
            if (swap && !held) {
                held = r;
                continue;
            }
            if (!start_req(tr, rq, r))
                return;
            if (held) {
                ref_req *h1 = held;
                held = NULL;
                if (!start_req(tr, rq, h1))
                    return;
                swap = false; /* one swap per call: later batches in order */
            }
        }
        if (held && !start_req(tr, rq, held))
            return;
        if (tr->o.notify_off_while_busy && rq->inflight)
            break; /* stays off: the completions look at the ring again */
        if (!vs_vq_dev_notify_enable(rq->vq))
            break;
    }
}

/* The queue's notify handler: whoever runs it (the device woken by the doorbell, or an
 * iothread) finds the queue as it is now. */
static void serve_queue(ref_tr *tr, ref_queue *rq)
{
    if (!rq->vq || !can_process(tr))
        return;
    if ((tr->o.mutations & VS_REF_MUT_SPURIOUS_NOTIFY_ERROR) && rq->inflight == 0 &&
        !vs_vq_dev_notify_enable(rq->vq)) {
        device_error(tr, rq->index, "mutant: a notification announced no new buffer");
        return;
    }
    process(tr, rq);
}

static void doorbell_cb(void *arg)
{
    ref_queue *rq = arg;
    ref_tr *tr = rq->tr;
    uint64_t n = rq->coalesced;
    rq->doorbell_h = 0;
    rq->coalesced = 0;
    if (tr->iot) { /* the hypervisor writes the queue's eventfd; an iothread serves it */
        vs_iot_signal(tr->iot, rq->index, n);
        return;
    }
    emit(tr, VS_EV_DOORBELL, rq->index, 0, 0, n, NULL);
    serve_queue(tr, rq);
}

static uint32_t iot_serve(void *opaque, uint16_t q)
{
    ref_tr *tr = opaque;
    ref_queue *rq = &tr->q[q];
    uint64_t before = rq->fetched;
    serve_queue(tr, rq);
    uint64_t n = rq->fetched - before;
    return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* ------------------------------------------------------------------ transport ops */

static void do_reset(ref_tr *tr)
{
    /* Mutant IRQ_AFTER_RESET: remembers which queues were live. */
    bool busy[64] = {false};
    dev_drain(tr, -1);
    for (uint16_t i = 0; i < tr->nq; i++) {
        if (i < 64)
            busy[i] = tr->q[i].vq != NULL;
        queue_teardown(&tr->q[i]);
    }
    for (uint16_t v = 0; v <= tr->nq; v++) {
        vs_engine_cancel(tr->eng, tr->vec[v].irq_h);
        vs_engine_cancel(tr->eng, tr->vec[v].echo_h);
        tr->vec[v].irq_h = tr->vec[v].echo_h = 0;
        tr->vec[v].pending = false;
    }
    vs_iot_reset(tr->iot);
    if (tr->dev->ops->reset)
        tr->dev->ops->reset(tr->dev);
    tr->dev->driver_features = 0;
    tr->isr = 0;
    /* Mutant RESET_KEEPS_STATUS: everything else is reset, the status byte is not. */
    if (!(tr->o.mutations & VS_REF_MUT_RESET_KEEPS_STATUS))
        tr->status = 0;
    tr->drv_features = 0;
    tr->stopped = false;
    tr->sus = SUS_NONE;
    tr->cfg_deferred = false;
    /* Mutant IRQ_AFTER_RESET: a used-buffer interrupt on every queue the reset dropped. */
    if ((tr->o.mutations & VS_REF_MUT_IRQ_AFTER_RESET) && !tr->hooked)
        for (uint16_t i = 0; i < tr->nq && i < 64; i++)
            if (busy[i])
                deliver(tr, &tr->vec[i + 1]); /* at once: the reset is already done */
}

static int ref_reset(vs_transport *t, vs_err *e)
{
    (void)e;
    do_reset(TR(t));
    return 0;
}

static int ref_notify(vs_transport *t, uint16_t q, vs_err *e);

/* Suspending: nothing in flight, nothing left to publish or to interrupt for. */
static bool suspend_settled(const ref_tr *tr)
{
    if (tr->o.mutations & VS_REF_MUT_SUSPEND_EARLY_REPORT)
        return true; /* mutant */
    for (uint16_t i = 0; i < tr->nq; i++)
        if (tr->q[i].inflight || tr->q[i].flush_h > 0 || tr->vec[i + 1].irq_h > 0)
            return false;
    return true;
}

static int ref_get_status(vs_transport *t, uint8_t *status, vs_err *e)
{
    if (!status)
        return vs_err_set(e, VS_EINVAL, "ref: NULL status");
    ref_tr *tr = TR(t);
    if (tr->sus == SUS_PENDING && suspend_settled(tr)) {
        tr->sus = SUS_DONE;
        tr->status &= (uint8_t)~VS_STATUS_DRIVER_OK;
    }
    *status = tr->status;
    return 0;
}

/* The SUSPEND handshake for a status write; true when the write resumes the device. */
static bool suspend_step(ref_tr *tr, uint8_t cur, uint8_t *next)
{
    if (tr->hooked || !(tr->dev->driver_features & VS_BIT(VS_F_SUSPEND)))
        return false;
    uint8_t added = (uint8_t)(*next & ~cur);
    uint32_t mut = tr->o.mutations;
    if ((added & VS_STATUS_SUSPEND) && !(cur & VS_STATUS_DRIVER_OK)) {
        if (!(mut & VS_REF_MUT_SUSPEND_BEFORE_INIT))
            *next &= (uint8_t)~VS_STATUS_SUSPEND; /* not initialized yet: disregarded */
    } else if ((added & VS_STATUS_SUSPEND) && tr->sus == SUS_NONE) {
        if (!(mut & VS_REF_MUT_SUSPEND_IGNORED))
            tr->sus = SUS_PENDING; /* completes once in-flight work is done */
    } else if (tr->sus == SUS_DONE && (added & VS_STATUS_DRIVER_OK)) {
        if (mut & VS_REF_MUT_RESUME_IGNORED) {
            *next = cur;
            return false;
        }
        *next &= (uint8_t)~VS_STATUS_SUSPEND;
        tr->sus = SUS_NONE;
        return true;
    }
    return false;
}

static int ref_set_status(vs_transport *t, uint8_t s, vs_err *e)
{
    (void)e;
    ref_tr *tr = TR(t);
    if (s == 0) {
        do_reset(tr);
        return 0;
    }
    uint8_t cur = tr->status;
    /* DEVICE_NEEDS_RESET belongs to the device: the driver can neither set nor clear it. */
    uint8_t next = (uint8_t)((s & ~VS_STATUS_DEVICE_NEEDS_RESET) |
                             (cur & VS_STATUS_DEVICE_NEEDS_RESET));
    if ((next & VS_STATUS_FEATURES_OK) && !(cur & VS_STATUS_FEATURES_OK)) {
        vs_err de;
        vs_err_clear(&de);
        int rc = tr->dev->ops->accept_features
                     ? tr->dev->ops->accept_features(tr->dev, tr->drv_features, &de)
                     : 0;
        if (rc < 0) {
            next &= (uint8_t)~VS_STATUS_FEATURES_OK;
            char msg[VS_ERR_MSG_MAX + 48];
            snprintf(msg, sizeof msg, "device refused FEATURES_OK: %s",
                     de.msg[0] ? de.msg : vs_errc_name(-rc));
            emit(tr, VS_EV_NOTE, -1, 0, 0, 0, msg);
        } else {
            tr->dev->driver_features = tr->drv_features;
        }
    }
    bool resumed = suspend_step(tr, cur, &next);
    tr->status = next;
    if (resumed) {
        if (tr->cfg_deferred) {
            tr->cfg_deferred = false;
            emit(tr, VS_EV_CONFIG_CHANGE, -1, 0, 0, 0, NULL);
            raise_irq(tr, 0);
        }
        for (uint16_t i = 0; i < tr->nq; i++) /* buffers made available meanwhile */
            (void)ref_notify(t, i, NULL);
    }
    return 0;
}

static int ref_get_device_features(vs_transport *t, uint64_t *f, vs_err *e)
{
    if (!f)
        return vs_err_set(e, VS_EINVAL, "ref: NULL features");
    ref_tr *tr = TR(t);
    *f = tr->dev->ops->device_features ? tr->dev->ops->device_features(tr->dev) : 0;
    return 0;
}

static int ref_set_driver_features(vs_transport *t, uint64_t f, vs_err *e)
{
    (void)e;
    ref_tr *tr = TR(t);
    /* Like a real device: the feature register is frozen once FEATURES_OK is accepted. */
    if (!(tr->status & VS_STATUS_FEATURES_OK))
        tr->drv_features = f;
    return 0;
}

static int ref_config_read(vs_transport *t, uint32_t off, void *buf, uint32_t len, vs_err *e)
{
    ref_tr *tr = TR(t);
    if (!tr->dev->ops->config_read)
        return vs_err_set(e, VS_ENOTSUP, "ref: device has no config space");
    if ((tr->o.mutations & VS_REF_MUT_CONFIG_LATE) && off >= 8 && buf &&
        !(tr->status & VS_STATUS_FEATURES_OK)) {
        memset(buf, 0, len); /* mutant: fields "not ready" before negotiation */
        return 0;
    }
    return tr->dev->ops->config_read(tr->dev, off, buf, len, e);
}

static int ref_config_write(vs_transport *t, uint32_t off, const void *buf, uint32_t len,
                            vs_err *e)
{
    ref_tr *tr = TR(t);
    if (!tr->dev->ops->config_write)
        return vs_err_set(e, VS_ENOTSUP, "ref: device config space is read-only");
    return tr->dev->ops->config_write(tr->dev, off, buf, len, e);
}

static int ref_config_generation(vs_transport *t, uint32_t *gen, vs_err *e)
{
    if (!gen)
        return vs_err_set(e, VS_EINVAL, "ref: NULL generation");
    *gen = TR(t)->dev->config_generation;
    return 0;
}

static int ref_num_queues(vs_transport *t, uint16_t *n, vs_err *e)
{
    if (!n)
        return vs_err_set(e, VS_EINVAL, "ref: NULL count");
    *n = TR(t)->nq;
    return 0;
}

static int ref_queue_max_size(vs_transport *t, uint16_t q, uint32_t *size, vs_err *e)
{
    ref_tr *tr = TR(t);
    if (!size)
        return vs_err_set(e, VS_EINVAL, "ref: NULL size");
    if (q >= tr->nq)
        return vs_err_set(e, VS_EINVAL, "ref: queue %u >= num_queues %u", q, tr->nq);
    *size = tr->dev->ops->queue_max_size(tr->dev, q);
    return 0;
}

static int ref_notify(vs_transport *t, uint16_t q, vs_err *e);

static int ref_queue_setup(vs_transport *t, uint16_t q, const vs_vq_layout *l, vs_err *e)
{
    ref_tr *tr = TR(t);
    if (q >= tr->nq)
        return vs_err_set(e, VS_EINVAL, "ref: queue %u >= num_queues %u", q, tr->nq);
    if (!l)
        return vs_err_set(e, VS_EINVAL, "ref: queue %u: NULL layout", q);
    ref_queue *rq = &tr->q[q];
    if (rq->vq && rq->was_reset && (tr->o.mutations & VS_REF_MUT_QUEUE_RESET_IGNORED))
        queue_teardown(rq); /* the mutant stops the old queue only now */
    if (rq->vq)
        return vs_err_set(e, VS_ESTATE, "ref: queue %u already enabled", q);
    if (rq->was_reset && (tr->o.mutations & VS_REF_MUT_REENABLE_OLD_RINGS) &&
        l->size != rq->old_layout.size)
        l = &rq->old_layout; /* mutant: ignores the configuration the driver changed */
    uint32_t max = tr->dev->ops->queue_max_size(tr->dev, q);
    if (l->size == 0 || l->size > max)
        return vs_err_set(e, VS_EINVAL, "ref: queue %u: size %u not in 1..%u", q, l->size,
                          max);
    uint64_t f = (tr->hooked || (tr->status & VS_STATUS_FEATURES_OK))
                     ? tr->dev->driver_features : 0;
    vs_vq_dev_opts o = {
        .queue_index = q,
        .features = ((f & VS_BIT(VS_F_EVENT_IDX)) ? VS_VQ_F_EVENT_IDX : 0u) |
                    ((f & VS_BIT(VS_F_INDIRECT_DESC)) ? VS_VQ_F_INDIRECT : 0u),
        .mutations = tr->o.ring_mutations,
    };
    uint32_t cap = l->size > SCRATCH_SEGS_MIN ? l->size : SCRATCH_SEGS_MIN;
    rq->reqs = calloc(l->size, sizeof *rq->reqs);
    rq->scratch.seg = calloc(cap, sizeof *rq->scratch.seg);
    if (!rq->reqs || !rq->scratch.seg) {
        queue_teardown(rq);
        return vs_err_set(e, VS_ENOMEM, "ref: queue %u: out of memory", q);
    }
    rq->scratch.seg_cap = cap;
    rq->size = l->size;
    for (uint32_t i = 0; i < l->size; i++)
        rq->reqs[i].rq = rq;
    int rc = vs_vq_dev_create(&rq->vq, tr->pub.gm, l, &o, e);
    if (rc < 0) {
        rq->vq = NULL;
        queue_teardown(rq);
        return rc;
    }
    queue_cancel_work(rq); /* builds the free list */
    if (rq->was_reset && (tr->o.mutations & VS_REF_MUT_QUEUE_RESET_KEEPS_POS))
        (void)vs_vq_dev_set_base(rq->vq, rq->old_base, NULL); /* mutant */
    rq->was_reset = false;
    /* Mutant CONSUMES_BEFORE_DRIVER_OK: the device also starts polling a queue as soon as
     * it is set up (one wake-up a doorbell latency later, as if notified). */
    if ((tr->o.mutations & VS_REF_MUT_CONSUMES_BEFORE_DRIVER_OK) && !tr->hooked)
        (void)ref_notify(t, q, NULL);
    return 0;
}

static int ref_queue_disable(vs_transport *t, uint16_t q, vs_err *e)
{
    ref_tr *tr = TR(t);
    if (q >= tr->nq)
        return vs_err_set(e, VS_EINVAL, "ref: queue %u >= num_queues %u", q, tr->nq);
    ref_queue *rq = &tr->q[q];
    if (rq->vq) {
        rq->was_reset = true;
        rq->old_base = vs_vq_dev_get_base(rq->vq);
        rq->old_layout = *vs_vq_dev_layout(rq->vq);
    }
    if (!(tr->o.mutations & VS_REF_MUT_QUEUE_RESET_IGNORED)) {
        dev_drain(tr, q);
        queue_teardown(rq);
    }
    return 0;
}

static int ref_notify(vs_transport *t, uint16_t q, vs_err *e)
{
    ref_tr *tr = TR(t);
    if (q >= tr->nq)
        return vs_err_set(e, VS_EINVAL, "ref: notify: queue %u >= num_queues %u", q, tr->nq);
    ref_queue *rq = &tr->q[q];
    /* Like a doorbell write to a disabled queue or a stopped device: ignored. */
    if (!rq->vq || tr->stopped)
        return 0;
    if (rq->doorbell_h > 0) {
        rq->coalesced++;
        return 0;
    }
    vs_timer h = vs_engine_after(tr->eng, tr->o.doorbell_latency_ns, doorbell_cb, rq);
    if (h <= 0)
        return vs_err_set(e, (int)-h, "ref: queue %u: cannot schedule doorbell", q);
    rq->doorbell_h = h;
    rq->coalesced = 1;
    return 0;
}

static bool always(void *arg)
{
    (void)arg;
    return true;
}

typedef struct wait_ctx {
    const ref_tr *tr;
    uint64_t start;
} wait_ctx;

static bool wait_pred(void *arg)
{
    const wait_ctx *w = arg;
    return w->tr->irqs == w->start;
}

static int ref_wait(vs_transport *t, uint64_t timeout_ns, vs_err *e)
{
    ref_tr *tr = TR(t);
    if (tr->in_irq || tr->in_wait)
        return vs_err_set(e, VS_ESTATE, "ref: wait called from inside an interrupt/wait");
    uint64_t now = vs_engine_now(tr->eng);
    uint64_t deadline = timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
    wait_ctx w = {tr, tr->irqs};
    tr->in_wait = true;
    if (tr->pub.irq_mode == VS_IRQ_POLL)
        vs_engine_run_while(tr->eng, always, NULL, deadline, NULL);
    else
        vs_engine_run_while(tr->eng, wait_pred, &w, deadline, NULL);
    tr->in_wait = false;
    uint64_t n = tr->irqs - w.start;
    return n > INT_MAX ? INT_MAX : (int)n;
}

static int ref_read_isr(vs_transport *t, uint8_t *isr, vs_err *e)
{
    ref_tr *tr = TR(t);
    if (!isr)
        return vs_err_set(e, VS_EINVAL, "ref: NULL isr");
    if (tr->pub.irq_mode != VS_IRQ_INTX) {
        *isr = 0;
        return 0;
    }
    *isr = tr->isr;
    tr->isr = 0;
    return 0;
}

static void ref_destroy(vs_transport *t)
{
    if (!t)
        return;
    ref_tr *tr = TR(t);
    if (tr->dev && tr->dev->complete_ctx == tr) {
        tr->dev->complete = NULL;
        tr->dev->complete_ctx = NULL;
    }
    if (tr->q)
        for (uint16_t i = 0; i < tr->nq; i++)
            queue_teardown(&tr->q[i]);
    if (tr->vec)
        for (uint32_t v = 0; v <= tr->nq; v++) {
            vs_engine_cancel(tr->eng, tr->vec[v].irq_h);
            vs_engine_cancel(tr->eng, tr->vec[v].echo_h);
        }
    vs_iot_destroy(tr->iot);
    free(tr->q);
    free(tr->vec);
    free(tr);
}

static const vs_transport_ops ref_ops = {
    .name = "ref",
    .reset = ref_reset,
    .get_status = ref_get_status,
    .set_status = ref_set_status,
    .get_device_features = ref_get_device_features,
    .set_driver_features = ref_set_driver_features,
    .config_read = ref_config_read,
    .config_write = ref_config_write,
    .config_generation = ref_config_generation,
    .num_queues = ref_num_queues,
    .queue_max_size = ref_queue_max_size,
    .queue_setup = ref_queue_setup,
    .queue_disable = ref_queue_disable,
    .notify = ref_notify,
    .wait = ref_wait,
    .read_isr = ref_read_isr,
    .destroy = ref_destroy,
};

/* ------------------------------------------------------------------ public */

static int ref_create(vs_transport **out, vs_engine *eng, vs_device *dev, vs_gmem *gm,
                      const vs_ref_opts *o, vs_event_bus *bus, const vs_ref_hooks *hooks,
                      vs_err *e);

int vs_ref_transport_create(vs_transport **out, vs_engine *eng, vs_device *dev,
                            vs_gmem *gm, const vs_ref_opts *o, vs_event_bus *bus,
                            vs_err *e)
{
    return ref_create(out, eng, dev, gm, o, bus, NULL, e);
}

int vs_ref_transport_create_hooked(vs_transport **out, vs_engine *eng, vs_device *dev,
                                   vs_gmem *gm, const vs_ref_opts *o, vs_event_bus *bus,
                                   const vs_ref_hooks *hooks, vs_err *e)
{
    if (!hooks || !hooks->live || !hooks->irq || !hooks->device_error)
        return vs_err_set(e, VS_EINVAL, "ref: hooked device side needs live/irq/device_error");
    return ref_create(out, eng, dev, gm, o, bus, hooks, e);
}

static int ref_create(vs_transport **out, vs_engine *eng, vs_device *dev, vs_gmem *gm,
                      const vs_ref_opts *o, vs_event_bus *bus, const vs_ref_hooks *hooks,
                      vs_err *e)
{
    if (!out || !eng || !dev || !dev->ops || !gm)
        return vs_err_set(e, VS_EINVAL, "ref: NULL out, engine, device or guest memory");
    if (!dev->ops->handle || !dev->ops->num_queues || !dev->ops->queue_max_size)
        return vs_err_set(e, VS_EINVAL, "ref: device '%s' lacks handle/num_queues/queue_max_size",
                          dev->ops->name ? dev->ops->name : "?");
    vs_ref_opts def;
    if (!o) {
        vs_ref_opts_default(&def);
        o = &def;
    }
    int rc = vs_ref_opts_check(o, e);
    if (rc < 0)
        return rc;
    ref_tr *tr = calloc(1, sizeof *tr);
    if (!tr)
        return vs_err_set(e, VS_ENOMEM, "ref: out of memory");
    tr->pub.ops = &ref_ops;
    tr->pub.gm = gm;
    tr->pub.device_id = dev->ops->device_id;
    tr->pub.irq_mode = o->irq_mode;
    tr->eng = eng;
    tr->dev = dev;
    tr->bus = bus;
    tr->o = *o;
    if (hooks) {
        tr->hooked = true;
        tr->hooks = *hooks;
        tr->pub.irq_mode = VS_IRQ_MSIX; /* the front-end decides how interrupts go out */
    }
    if (dev->ops->drain) { /* a device that defers chains completes them through us */
        dev->complete = dev_complete;
        dev->complete_ctx = tr;
    }
    tr->nq = dev->ops->num_queues(dev);
    tr->q = calloc(tr->nq ? tr->nq : 1, sizeof *tr->q);
    tr->vec = calloc((size_t)tr->nq + 1, sizeof *tr->vec);
    if (!tr->q || !tr->vec) {
        ref_destroy(&tr->pub);
        return vs_err_set(e, VS_ENOMEM, "ref: out of memory");
    }
    for (uint32_t v = 0; v <= tr->nq; v++) {
        tr->vec[v].tr = tr;
        tr->vec[v].vector = (uint16_t)v;
        tr->vec[v].queue = v == 0 ? VS_IRQ_CONFIG : (int)v - 1;
    }
    for (uint16_t i = 0; i < tr->nq; i++) {
        ref_queue *rq = &tr->q[i];
        char name[32];
        snprintf(name, sizeof name, "service.q%u", i);
        rq->tr = tr;
        rq->index = i;
        rq->free_head = REQ_NONE;
        rq->rng = vs_engine_rng(eng, name);
        if (!rq->rng) {
            ref_destroy(&tr->pub);
            return vs_err_set(e, VS_ENOMEM, "ref: out of memory (rng stream)");
        }
    }
    if (o->notify == VS_NOTIFY_IOTHREAD &&
        (rc = vs_iot_create(&tr->iot, eng, &o->iothread, tr->nq, bus, iot_serve, tr, e)) < 0) {
        tr->iot = NULL;
        ref_destroy(&tr->pub);
        return rc;
    }
    *out = &tr->pub;
    return 0;
}

bool vs_ref_is(const vs_transport *t)
{
    return t && t->ops == &ref_ops;
}

int vs_ref_msix_mask(vs_transport *t, uint16_t vector, bool masked, vs_err *e)
{
    if (!vs_ref_is(t))
        return vs_err_set(e, VS_EINVAL, "ref: not a ref transport");
    ref_tr *tr = TR(t);
    if (vector > tr->nq)
        return vs_err_set(e, VS_EINVAL, "ref: MSI-X vector %u >= %u vectors", vector,
                          tr->nq + 1u);
    ref_vec *v = &tr->vec[vector];
    v->masked = masked;
    if (!masked && v->pending) {
        v->pending = false;
        deliver(tr, v);
    }
    return 0;
}

bool vs_ref_msix_pending(const vs_transport *t, uint16_t vector)
{
    if (!vs_ref_is(t))
        return false;
    const ref_tr *tr = (const ref_tr *)t;
    return vector <= tr->nq && tr->vec[vector].pending;
}

uint16_t vs_ref_msix_vectors(const vs_transport *t)
{
    return vs_ref_is(t) ? (uint16_t)(((const ref_tr *)t)->nq + 1u) : 0;
}

int vs_ref_config_changed(vs_transport *t, vs_err *e)
{
    if (!vs_ref_is(t))
        return vs_err_set(e, VS_EINVAL, "ref: not a ref transport");
    ref_tr *tr = TR(t);
    if (tr->sus != SUS_NONE) { /* notified on resume */
        if (!(tr->o.mutations & VS_REF_MUT_SUSPEND_CFG_DROPPED))
            tr->cfg_deferred = true;
        if (!(tr->o.mutations & VS_REF_MUT_SUSPEND_CFG_IRQ))
            return 0;
    }
    emit(tr, VS_EV_CONFIG_CHANGE, -1, 0, 0, 0, NULL);
    raise_irq(tr, 0);
    return 0;
}

int vs_ref_device_error(vs_transport *t, const char *why, vs_err *e)
{
    if (!vs_ref_is(t))
        return vs_err_set(e, VS_EINVAL, "ref: not a ref transport");
    device_error(TR(t), -1, why ? why : "device error (provoked)");
    return 0;
}

int vs_ref_iothread_stats(const vs_transport *t, vs_iothread_stats *out, vs_err *e)
{
    if (!vs_ref_is(t) || !out)
        return vs_err_set(e, VS_EINVAL, "ref: not a ref transport, or NULL stats");
    const ref_tr *tr = (const ref_tr *)t;
    if (!tr->iot)
        return vs_err_set(e, VS_ENOTSUP, "ref: no iothread (the notify path is direct)");
    vs_iot_stats(tr->iot, out);
    return 0;
}

void vs_ref_iothread_stats_clear(vs_transport *t)
{
    if (vs_ref_is(t))
        vs_iot_stats_clear(TR(t)->iot);
}

bool vs_ref_notify_pending(const vs_transport *t, uint16_t q)
{
    if (!vs_ref_is(t))
        return false;
    const ref_tr *tr = (const ref_tr *)t;
    return q < tr->nq && (tr->q[q].doorbell_h > 0 || vs_iot_pending(tr->iot, q));
}

uint64_t vs_ref_irqs_delivered(const vs_transport *t)
{
    return vs_ref_is(t) ? ((const ref_tr *)t)->irqs : 0;
}

uint32_t vs_ref_inflight(const vs_transport *t, uint16_t q)
{
    if (!vs_ref_is(t))
        return 0;
    const ref_tr *tr = (const ref_tr *)t;
    return q < tr->nq ? tr->q[q].inflight : 0;
}

bool vs_ref_device_stopped(const vs_transport *t)
{
    return vs_ref_is(t) && ((const ref_tr *)t)->stopped;
}

uint8_t vs_ref_isr_peek(const vs_transport *t)
{
    return vs_ref_is(t) ? ((const ref_tr *)t)->isr : 0;
}
