/* The event stream: everything that happens between driver and device, as seen from
 * outside the device (ring memory and transport accesses). The trace records it, the
 * conformance monitors check it, the HTML timeline draws it. The same events come from
 * every back-end, so a monitor never depends on which device is under test.
 *
 * Events are plain values; pointers inside one are valid only during the callback. */
#ifndef VIRTIOSIM_EVENT_H
#define VIRTIOSIM_EVENT_H

#include <stdbool.h>
#include <stdint.h>

#include "virtiosim/vring.h"

enum vs_event_kind {
    VS_EV_RESET = 1,        /* driver wrote 0 to status (or transport reset) */
    VS_EV_STATUS_WRITE,     /* val = status written by the driver */
    VS_EV_STATUS_READ,      /* val = status the device reported */
    VS_EV_FEATURES_READ,    /* val = device features offered */
    VS_EV_FEATURES_WRITE,   /* val = driver features written */
    VS_EV_CONFIG_READ,      /* off/len, val = value (len <= 8) */
    VS_EV_CONFIG_WRITE,     /* off/len, val = value */
    VS_EV_CONFIG_GEN,       /* val = generation read */
    VS_EV_QUEUE_SETUP,      /* queue, layout */
    VS_EV_QUEUE_DISABLE,    /* queue */
    VS_EV_AVAIL,            /* queue, id, chain: driver made a chain available */
    VS_EV_PUBLISH,          /* queue, idx = new avail idx (split) / next slot|wrap<<15 */
    VS_EV_KICK,             /* queue: available-buffer notification sent */
    VS_EV_KICK_SUPPRESSED,  /* queue: driver skipped a kick because the device asked */
    VS_EV_DOORBELL,         /* queue: device woke up on (coalesced) notifications; ref only */
    VS_EV_FETCH,            /* queue, id: device fetched a chain; ref/server only */
    VS_EV_DEVICE_ERROR,     /* queue, text: device rejected a chain (device error path) */
    VS_EV_USED,             /* queue, id, len, idx = used idx after it: driver collected;
                               val = 1 when len is reserved (packed, no WRITE flag) */
    VS_EV_USED_INVALID,     /* queue, id, len, text: device produced a bad used element */
    VS_EV_IRQ_MASK,         /* queue, val = 1 suppressed / 0 enabled (driver's request) */
    VS_EV_IRQ,              /* queue (or -1 config), val = vector; interrupt delivered */
    VS_EV_ISR_READ,         /* val = ISR value read */
    VS_EV_CONFIG_CHANGE,    /* device raised a config-change interrupt */
    VS_EV_STEP,             /* scenario step begins: text = step description, val = index */
    VS_EV_EXPECT,           /* scenario expectation: val = 1 ok / 0 failed, text = detail */
    VS_EV_NOTE,             /* free text, e.g. back-end stderr line */
    VS_EV_USED_EVENT,       /* queue, idx = used_event the driver has just published (split
                               with EVENT_IDX; emitted when the value changes) */
    /* The iothread notify path of the in-process transports (transport_ref.h, notify
     * VS_NOTIFY_IOTHREAD); id = the iothread's number in all four. */
    VS_EV_IOT_SIGNAL,       /* queue: its eventfd was written; val = notifications in this
                               write, idx = the eventfd counter after it */
    VS_EV_IOT_WAKE,         /* an iothread woke from its epoll wait; val = ns it took to
                               wake (from the signal that woke it), idx = queues signalled */
    VS_EV_IOT_SERVE,        /* queue: the iothread ran its notify handler (after the
                               handler's VS_EV_FETCH events); idx = chains it
                               fetched, len = the eventfd counter it read (saturated), val =
                               ns the oldest unread signal waited */
    VS_EV_IOT_PASS,         /* an iothread's pass ended; idx = queues served, val = chains */
    VS_EV_HOST_IO,          /* the host end of a device moved bytes (console ports): queue =
                               the data queue they belong to (a receiveq: the host wrote
                               them, to be delivered; a transmitq: the host read them, after
                               the device consumed them), len = count, data = the bytes */
    VS_EV_KIND_COUNT
};

/* A chain as the driver built it, for VS_EV_AVAIL. */
typedef struct vs_ev_chain {
    const vs_seg *seg;     /* out segments first */
    uint32_t n_out, n_in;
    bool indirect;
    bool raw;              /* hand-built (fault injection): monitors skip shape checks */
} vs_ev_chain;

typedef struct vs_event {
    enum vs_event_kind kind;
    uint64_t t_ns;          /* virtual time (ref) or wall-clock since start (real) */
    int32_t queue;          /* -1 when not about a queue */
    uint32_t id;            /* chain id (split head / packed buffer id) */
    uint32_t len;           /* used len, config access length */
    uint32_t off;           /* config offset */
    uint32_t idx;           /* ring index after the event */
    uint64_t val;           /* kind-specific value */
    const vs_ev_chain *chain;
    const vs_vq_layout *layout;
    const char *text;
    const uint8_t *data;    /* VS_EV_HOST_IO: len bytes */
} vs_event;

const char *vs_event_kind_name(enum vs_event_kind k);

/* An observer of the stream (trace writer, monitors, timeline). */
typedef void (*vs_event_fn)(void *opaque, const vs_event *ev);

#define VS_EVENT_SINKS_MAX 8
typedef struct vs_event_bus {
    unsigned n;
    vs_event_fn fn[VS_EVENT_SINKS_MAX];
    void *opaque[VS_EVENT_SINKS_MAX];
} vs_event_bus;

int vs_event_bus_add(vs_event_bus *b, vs_event_fn fn, void *opaque);

static inline void vs_event_emit(const vs_event_bus *b, const vs_event *ev)
{
    for (unsigned i = 0; i < b->n; i++)
        b->fn[i](b->opaque[i], ev);
}

#endif
