/* vhost-user back-end server (layer 4): `virtiosim serve --device blk --vhost-user SOCK`.
 *
 * Listens on a unix socket and serves front-ends with a reference device (vs_device, e.g.
 * from vs_blk_create): one at a time over one shared device (opts.dev), or concurrently,
 * each with its own device and event bus from opts.conn_open, in a thread of its own. Protocol legality is judged by the shared model
 * (virtiosim/vhost.h); every rejection is logged, counted and recorded with the id of the
 * vhost-user rule it violates, so a report can list protocol verdicts. Ring and buffer
 * memory is the front-end's: the SET_MEM_TABLE fds are mapped MAP_SHARED and wrapped in
 * a vs_gmem (vs_gmem_create_external), so the device-side rings (vs_vq_dev_*) and the
 * device run directly over it. Kicks arrive on eventfds, completions are signalled on the
 * call eventfds (when the ring runs low and at the end of a batch, if the driver wants a
 * call), a malformed chain or a device error
 * stops that ring (it is marked broken) and signals the err eventfd if one was set.
 *
 * A front-end that disconnects at any point, sends garbage, wrong fd counts, oversized
 * payloads or unmappable fds is dropped or rejected, never crashes or hangs the server
 * (reads and writes of one message time out after `io_timeout_ms`); every fd received
 * and not kept is closed. run / serve_fd run in one thread (plus, in concurrent mode, one
 * thread per connection, joined before run returns); vs_vhost_server_stop may be called
 * from any thread or a signal handler, the counters and violations read from any thread. */
#ifndef VIRTIOSIM_VHOST_USER_H
#define VIRTIOSIM_VHOST_USER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtiosim/device.h"
#include "virtiosim/error.h"
#include "virtiosim/event.h"
#include "virtiosim/vhost.h"

typedef struct vs_vhost_server vs_vhost_server;

/* Per-connection (and cumulative) counters. */
typedef struct vs_vhost_server_stats {
    uint64_t connections;     /* front-ends accepted (cumulative only) */
    uint64_t messages;        /* messages received */
    uint64_t rejected;        /* messages rejected (protocol violations + failures) */
    uint64_t replies;         /* replies sent */
    uint64_t kicks;           /* kick eventfd reads (each may cover several kicks) */
    uint64_t requests;        /* chains completed */
    uint64_t calls;           /* call eventfd writes */
    uint64_t device_errors;   /* rings stopped: malformed chain or device error */
    uint64_t fds_received;
    uint64_t fds_closed;      /* received fds closed (rejected, replaced, at cleanup) */
} vs_vhost_server_stats;

/* One recorded protocol violation or failure. */
typedef struct vs_vhost_violation {
    const char *rule;         /* rule id (vs_vhost_rule_find), NULL for non-protocol */
    uint32_t request;         /* message that caused it (0: not a message, e.g. a kick) */
    int32_t ring;             /* -1 if none */
    uint64_t connection;      /* 1-based connection number */
    uint64_t message;         /* message number inside the connection (1-based) */
    char msg[VS_ERR_MSG_MAX];
} vs_vhost_violation;

/* Log sink: level 0 error, 1 warning, 2 info, 3 debug. NULL = stderr for levels <= 1. */
typedef void (*vs_vhost_log_fn)(void *opaque, int level, const char *line);

/* Called after each front-end disconnects (cleanup done): stats of that connection. */
typedef void (*vs_vhost_disconnect_fn)(void *opaque, uint64_t connection,
                                       const vs_vhost_server_stats *conn_stats,
                                       const char *reason);

/* Concurrent mode: what one connection runs on. */
typedef struct vs_vhost_conn_ctx {
    vs_device *dev;             /* required: this connection's device (its gm is swapped
                                   for the front-end's memory while mapped) */
    vs_event_bus *bus;          /* this connection's event stream, or NULL */
    void *opaque;               /* the caller's, handed back to conn_close */
} vs_vhost_conn_ctx;

/* Called in the connection's thread before its first message; < 0 refuses it (closed). */
typedef int (*vs_vhost_conn_open_fn)(void *opaque, uint64_t connection, vs_vhost_conn_ctx *out,
                                     vs_err *e);
/* Called in the connection's thread after it ended and was cleaned up (st NULL when it
 * never started: conn_open's device is still handed back to be freed). */
typedef void (*vs_vhost_conn_close_fn)(void *opaque, uint64_t connection,
                                       const vs_vhost_conn_ctx *ctx,
                                       const vs_vhost_server_stats *st, const char *reason);

typedef struct vs_vhost_server_opts {
    vs_device *dev;             /* required; not owned. dev->gm is swapped for the
                                   front-end's memory while a connection has a memory
                                   table, and restored afterwards */
    uint64_t proto_features;    /* protocol features to offer; 0 = default (MQ,
                                   REPLY_ACK, CONFIG, RESET_DEVICE) */
    uint64_t extra_features;    /* virtio features to offer besides the device's */
    int io_timeout_ms;          /* one message read/write; 0 = 5000 */
    unsigned batch;             /* chains per batch (then notifications back on); 0 = 64 */
    uint32_t poll_ns;           /* a ring that ran dry is re-checked this long, with
                                   notifications off, before it waits for a kick (as
                                   QEMU's poll-max-ns); 0 = never (default) */
    vs_vhost_log_fn log;
    void *log_opaque;
    int log_level;              /* highest level passed to log; default 0 -> 1 */
    vs_vhost_disconnect_fn on_disconnect;
    void *disconnect_opaque;
    vs_event_bus *bus;          /* optional event stream (server's view): KICK, FETCH,
                                   DEVICE_ERROR, IRQ (call), QUEUE_SETUP (idx = the ring's
                                   base), QUEUE_DISABLE, FEATURES_READ/WRITE (virtio bits
                                   only), RESET, NOTE (rejections), and per fetched chain,
                                   before FETCH and before the device handles it: AVAIL
                                   (segments, readable first) + PUBLISH (idx = the device's
                                   next avail idx); a rejected chain gets DEVICE_ERROR only,
                                   its text naming the ring rule "(split: ...)" */
    bool emit_used;             /* also emit VS_EV_USED per push (text "device push") */
    size_t violations_max;      /* violations recorded; 0 = 256 (counts keep going) */
    pthread_mutex_t *dev_lock;  /* optional: held while the server works (between polls),
                                   so another thread holding it may use the device's host
                                   side, whose completions the server then pushes */
    /* Concurrent mode (dev and bus then unused): every front-end its own device, bus
     * and thread; on_disconnect, if set, is called from that thread too. */
    vs_vhost_conn_open_fn conn_open;
    vs_vhost_conn_close_fn conn_close;
    void *conn_opaque;
    unsigned max_live;          /* connections served at once; 0 = 64 (more wait in the
                                   listen backlog) */
} vs_vhost_server_opts;

int vs_vhost_server_create(vs_vhost_server **out, const vs_vhost_server_opts *o, vs_err *e);
void vs_vhost_server_destroy(vs_vhost_server *s);  /* closes the listening socket */

/* Binds and listens on path (an existing socket file is replaced). */
int vs_vhost_server_listen(vs_vhost_server *s, const char *path, vs_err *e);

/* Accepts and serves front-ends (one after the other, or concurrently with conn_open)
 * until vs_vhost_server_stop or until max_connections have been accepted (0 = unlimited)
 * and served. Returns 0 when stopped / done, every connection ended. */
int vs_vhost_server_run(vs_vhost_server *s, uint64_t max_connections, vs_err *e);

/* Serves one already-connected stream socket (e.g. one end of a socketpair) until the
 * peer disconnects or stop; takes ownership of fd (closed on return). Returns 0 when the
 * peer went away or stop was requested. */
int vs_vhost_server_serve_fd(vs_vhost_server *s, int fd, vs_err *e);

/* Makes run / serve_fd return soon (thread- and async-signal-safe). */
void vs_vhost_server_stop(vs_vhost_server *s);

/* Cumulative counters over all connections. */
void vs_vhost_server_stats_get(const vs_vhost_server *s, vs_vhost_server_stats *out);

/* Recorded violations (oldest first, up to violations_max), and per-rule counts over all
 * connections (any rule id of vs_vhost_rule_at). */
size_t vs_vhost_server_violation_count(const vs_vhost_server *s);
const vs_vhost_violation *vs_vhost_server_violation_at(const vs_vhost_server *s, size_t i);
uint64_t vs_vhost_server_rule_violations(const vs_vhost_server *s, const char *rule_id);

#endif
