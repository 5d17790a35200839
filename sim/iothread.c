/* The iothread notify path (sim/iothread.h): eventfd counters per queue, iothreads that
 * sleep in "epoll_wait" until a signal, wake a drawn latency later and serve every
 * signalled queue of theirs in one pass. */
#include "sim/iothread.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct iot_q {
    uint64_t count;        /* the eventfd counter: notifications not read yet */
    uint64_t since_ns;     /* when the oldest of them arrived */
} iot_q;

enum iot_state { IOT_SLEEP, IOT_WAKING, IOT_BUSY };

typedef struct iot_thread {
    struct vs_iot *t;
    uint16_t index;
    enum iot_state st;
    vs_timer h;            /* the wake-up (WAKING) or the end of the pass (BUSY) */
    uint64_t signalled_ns; /* WAKING: when the signal that wakes it arrived */
    uint32_t pending;      /* its queues with a non-zero counter */
    vs_rng *rng;           /* "iothread.<index>" */
} iot_thread;

struct vs_iot {
    vs_engine *eng;
    vs_event_bus *bus;
    vs_iothread_opts o;
    uint16_t nq, nt;
    iot_q *q;
    iot_thread *th;
    vs_iot_serve_fn serve;
    void *opaque;
    vs_iothread_stats st;
};

static void emit(vs_iot *t, enum vs_event_kind kind, int32_t q, uint16_t th, uint32_t idx,
                 uint32_t len, uint64_t val)
{
    if (!t->bus || t->bus->n == 0)
        return;
    vs_event ev = {.kind = kind, .t_ns = vs_engine_now(t->eng), .queue = q, .id = th,
                   .idx = idx, .len = len, .val = val};
    vs_event_emit(t->bus, &ev);
}

static uint32_t sat32(uint64_t v) { return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v; }

int vs_iot_opts_check(const vs_iothread_opts *o, vs_err *e)
{
    switch (o->wake.dist) {
    case VS_SERVICE_FIXED:
    case VS_SERVICE_EXP:
        return 0;
    case VS_SERVICE_UNIFORM:
        if (o->wake.min_ns > o->wake.max_ns)
            return vs_err_set(e, VS_EINVAL, "iothread: uniform wake latency min %llu > max %llu",
                              (unsigned long long)o->wake.min_ns,
                              (unsigned long long)o->wake.max_ns);
        return 0;
    default:
        return vs_err_set(e, VS_EINVAL, "iothread: unknown wake latency distribution %d",
                          (int)o->wake.dist);
    }
}

/* ------------------------------------------------------------------ passes */

static void pass_end_cb(void *arg);

/* Serves the thread's signalled queues once; returns the chains fetched. */
static uint64_t one_pass(iot_thread *th)
{
    vs_iot *t = th->t;
    uint64_t now = vs_engine_now(t->eng), chains = 0;
    uint32_t served = 0;
    t->st.passes++;
    for (uint32_t q = th->index; q < t->nq && th->pending; q += t->nt) {
        iot_q *iq = &t->q[q];
        if (!iq->count)
            continue;
        uint64_t count = iq->count, waited = now - iq->since_ns;
        iq->count = 0; /* eventfd_read: the counter is read and cleared first */
        th->pending--;
        uint32_t n = t->serve(t->opaque, (uint16_t)q);
        served++;
        chains += n;
        t->st.serves++;
        t->st.chains += n;
        t->st.wait_ns += waited;
        if (waited > t->st.wait_max_ns)
            t->st.wait_max_ns = waited;
        emit(t, VS_EV_IOT_SERVE, (int32_t)q, th->index, n, sat32(count), waited);
    }
    if (chains > t->st.max_chains)
        t->st.max_chains = chains;
    emit(t, VS_EV_IOT_PASS, -1, th->index, served, 0, chains);
    return chains;
}

/* Passes until the thread is busy or has nothing signalled; then it sleeps. */
static void run_passes(iot_thread *th)
{
    vs_iot *t = th->t;
    while (th->pending) {
        uint64_t chains = one_pass(th);
        uint64_t busy = t->o.handler_ns && chains > UINT64_MAX / t->o.handler_ns
                            ? UINT64_MAX : t->o.handler_ns * chains;
        if (busy) {
            vs_timer h = vs_engine_after(t->eng, busy, pass_end_cb, th);
            if (h > 0) {
                th->st = IOT_BUSY;
                th->h = h;
                return;
            } /* cannot schedule (clock overflow): the work took no time */
        }
    }
    th->st = IOT_SLEEP;
}

static void pass_end_cb(void *arg)
{
    iot_thread *th = arg;
    th->h = 0;
    th->st = IOT_SLEEP;
    run_passes(th); /* signalled while busy: epoll_wait returns at once, no wake-up */
}

static void wake_cb(void *arg)
{
    iot_thread *th = arg;
    vs_iot *t = th->t;
    th->h = 0;
    t->st.wakes++;
    emit(t, VS_EV_IOT_WAKE, -1, th->index, th->pending, 0,
         vs_engine_now(t->eng) - th->signalled_ns);
    run_passes(th);
}

/* ------------------------------------------------------------------ signals */

void vs_iot_signal(vs_iot *t, uint16_t q, uint64_t n)
{
    if (!t || q >= t->nq || n == 0)
        return;
    iot_q *iq = &t->q[q];
    iot_thread *th = &t->th[q % t->nt];
    uint64_t now = vs_engine_now(t->eng);
    if (!iq->count) {
        iq->since_ns = now;
        th->pending++;
    }
    iq->count = n > UINT64_MAX - iq->count ? UINT64_MAX : iq->count + n;
    t->st.signals++;
    t->st.notifications += n;
    emit(t, VS_EV_IOT_SIGNAL, q, th->index, sat32(iq->count), 0, n);
    if (th->st != IOT_SLEEP)
        return; /* waking or busy: the pass will see the counter */
    th->signalled_ns = now;
    vs_timer h = vs_engine_after(t->eng, vs_time_draw(&t->o.wake, th->rng), wake_cb, th);
    if (h > 0) {
        th->st = IOT_WAKING;
        th->h = h;
    } else {
        wake_cb(th); /* cannot schedule (clock overflow): at once */
    }
}

void vs_iot_drop(vs_iot *t, uint16_t q)
{
    if (!t || q >= t->nq || !t->q[q].count)
        return;
    iot_thread *th = &t->th[q % t->nt];
    t->q[q].count = 0;
    th->pending--;
    if (!th->pending && th->st == IOT_WAKING) { /* nothing left to wake up for */
        vs_engine_cancel(t->eng, th->h);
        th->h = 0;
        th->st = IOT_SLEEP;
    }
}

void vs_iot_reset(vs_iot *t)
{
    if (!t)
        return;
    for (uint32_t q = 0; q < t->nq; q++)
        t->q[q].count = 0;
    for (uint32_t i = 0; i < t->nt; i++) {
        vs_engine_cancel(t->eng, t->th[i].h);
        t->th[i].h = 0;
        t->th[i].st = IOT_SLEEP;
        t->th[i].pending = 0;
    }
}

void vs_iot_stats(const vs_iot *t, vs_iothread_stats *out)
{
    if (t)
        *out = t->st;
}

bool vs_iot_pending(const vs_iot *t, uint16_t q)
{
    return t && q < t->nq && t->q[q].count;
}

void vs_iot_stats_clear(vs_iot *t)
{
    if (t)
        memset(&t->st, 0, sizeof t->st);
}

/* ------------------------------------------------------------------ life */

int vs_iot_create(vs_iot **out, vs_engine *eng, const vs_iothread_opts *o, uint16_t nq,
                  vs_event_bus *bus, vs_iot_serve_fn serve, void *opaque, vs_err *e)
{
    int rc = vs_iot_opts_check(o, e);
    if (rc < 0)
        return rc;
    vs_iot *t = calloc(1, sizeof *t);
    if (!t)
        return vs_err_set(e, VS_ENOMEM, "iothread: out of memory");
    t->eng = eng;
    t->bus = bus;
    t->o = *o;
    t->nq = nq;
    t->nt = o->threads ? o->threads : 1;
    t->serve = serve;
    t->opaque = opaque;
    t->q = calloc(nq ? nq : 1, sizeof *t->q);
    t->th = calloc(t->nt, sizeof *t->th);
    if (!t->q || !t->th) {
        vs_iot_destroy(t);
        return vs_err_set(e, VS_ENOMEM, "iothread: out of memory");
    }
    for (uint16_t i = 0; i < t->nt; i++) {
        char name[32];
        snprintf(name, sizeof name, "iothread.%u", i);
        t->th[i].t = t;
        t->th[i].index = i;
        if (!(t->th[i].rng = vs_engine_rng(eng, name))) {
            vs_iot_destroy(t);
            return vs_err_set(e, VS_ENOMEM, "iothread: out of memory (rng stream)");
        }
    }
    *out = t;
    return 0;
}

void vs_iot_destroy(vs_iot *t)
{
    if (!t)
        return;
    if (t->th)
        for (uint32_t i = 0; i < t->nt; i++)
            vs_engine_cancel(t->eng, t->th[i].h);
    free(t->q);
    free(t->th);
    free(t);
}
