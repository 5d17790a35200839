/* The iothread notify path of the in-process transports (private to virtiosim; layer 4):
 * per-queue eventfd counters and iothreads that wake on the virtual clock and serve every
 * signalled queue in one pass (the model is described in virtiosim/transport_ref.h, the
 * mapping to ACRN's device model in sim/README.md). It knows neither rings nor devices:
 * serving a queue is the transport's callback. */
#ifndef VS_IOTHREAD_H
#define VS_IOTHREAD_H

#include <stdbool.h>
#include <stdint.h>

#include "virtiosim/error.h"
#include "virtiosim/event.h"
#include "virtiosim/sim.h"
#include "virtiosim/transport_ref.h"

/* One draw of a time distribution (service times, wake-up latencies). */
static inline uint64_t vs_time_draw(const vs_service_time *s, vs_rng *r)
{
    switch (s->dist) {
    case VS_SERVICE_UNIFORM:
        return vs_rng_range(r, s->min_ns, s->max_ns);
    case VS_SERVICE_EXP: {
        double x = vs_rng_exp(r, (double)s->mean_ns) + 0.5;
        if (x >= 4.0e18) /* keep now + dt far from overflow */
            return UINT64_C(4000000000000000000);
        return (uint64_t)x;
    }
    case VS_SERVICE_FIXED:
    default:
        return s->fixed_ns;
    }
}

typedef struct vs_iot vs_iot;

/* Runs queue q's notify handler; returns the chains it fetched. */
typedef uint32_t (*vs_iot_serve_fn)(void *opaque, uint16_t q);

/* Checks the options (a known wake-up distribution, uniform min <= max). */
int vs_iot_opts_check(const vs_iothread_opts *o, vs_err *e);
/* nq queues; events go to bus (may be NULL). */
int vs_iot_create(vs_iot **out, vs_engine *eng, const vs_iothread_opts *o, uint16_t nq,
                  vs_event_bus *bus, vs_iot_serve_fn serve, void *opaque, vs_err *e);
void vs_iot_destroy(vs_iot *t);
/* The doorbell of queue q reached the device carrying n notifications: eventfd write. */
void vs_iot_signal(vs_iot *t, uint16_t q, uint64_t n);
/* Queue q stops (queue reset, teardown, device error): its unread signals are dropped. */
void vs_iot_drop(vs_iot *t, uint16_t q);
/* Device reset: every signal dropped, every iothread back in its epoll wait. */
void vs_iot_reset(vs_iot *t);
void vs_iot_stats(const vs_iot *t, vs_iothread_stats *out);
/* Queue q's eventfd has an unread count. */
bool vs_iot_pending(const vs_iot *t, uint16_t q);
void vs_iot_stats_clear(vs_iot *t);

#endif
