/* Reference virtio-console device (VIRTIO 1.4 "Console Device") and its wire format: the
 * one codec of the control messages, the config layout, the queue numbering and the byte
 * streams scenarios send through ports. The device, the driver model, the monitors and
 * the fuzzer all go through it.
 *
 * Queues: 0/1 receiveq/transmitq of port 0; with MULTIPORT 2/3 the control receiveq /
 * transmitq, then a receiveq/transmitq pair per further port (port p: 2 + 2p, 3 + 2p).
 *
 * The host side of each port is an endpoint the simulator scripts: bytes the host writes
 * wait in the device until the driver has receive buffers (the device holds those
 * buffers, VS_DEV_DEFERRED, and completes them through vs_device.complete when bytes
 * arrive); bytes the device takes
 * from a transmitq are kept for the host to read. Host open/close, hot add/remove and
 * resize become control messages (or a config change without MULTIPORT). */
#ifndef VIRTIOSIM_CONSOLE_H
#define VIRTIOSIM_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtiosim/device.h"
#include "virtiosim/virtio.h"

/* Feature bits: enum vs_console_feature_bit (virtio.h). */

/* Control message events (struct virtio_console_control.event). */
enum vs_console_event {
    VS_CONSOLE_DEVICE_READY = 0,
    VS_CONSOLE_DEVICE_ADD = 1,
    VS_CONSOLE_DEVICE_REMOVE = 2,
    VS_CONSOLE_PORT_READY = 3,
    VS_CONSOLE_CONSOLE_PORT = 4,
    VS_CONSOLE_RESIZE = 5,
    VS_CONSOLE_PORT_OPEN = 6,
    VS_CONSOLE_PORT_NAME = 7,
    VS_CONSOLE_EVENT_COUNT
};

/* Config: le16 cols, le16 rows (SIZE), le32 max_nr_ports (MULTIPORT), le32 emerg_wr
 * (EMERG_WRITE; write-only). */
#define VS_CONSOLE_CFG_COLS 0u
#define VS_CONSOLE_CFG_ROWS 2u
#define VS_CONSOLE_CFG_MAX_NR_PORTS 4u
#define VS_CONSOLE_CFG_EMERG_WR 8u
#define VS_CONSOLE_CFG_LEN 12u

#define VS_CONSOLE_MAX_PORTS 31u       /* 2 x 32 queues: the simulator's queue limit */
#define VS_CONSOLE_CTRL_RXQ 2u
#define VS_CONSOLE_CTRL_TXQ 3u
#define VS_CONSOLE_CTRL_LEN 8u         /* le32 id, le16 event, le16 value */
#define VS_CONSOLE_RESIZE_LEN 4u       /* after a RESIZE message: le16 cols, le16 rows */
#define VS_CONSOLE_NAME_MAX 127u       /* longest port name (bytes, without the NUL) */
#define VS_CONSOLE_CTRL_MAX (VS_CONSOLE_CTRL_LEN + VS_CONSOLE_NAME_MAX + 1u)

/* One control message, decoded. */
typedef struct vs_console_ctrl {
    uint32_t id;
    uint16_t event, value;
    bool has_size;                     /* RESIZE: the size followed */
    uint16_t cols, rows;
    uint32_t name_len;                 /* PORT_NAME: bytes before the NUL (or the end) */
    char name[VS_CONSOLE_NAME_MAX + 1];
} vs_console_ctrl;

/* Decodes len bytes: 0, or -VS_EPROTO with the reason in e (shorter than 8 bytes, an
 * unknown event, a PORT_NAME longer than VS_CONSOLE_NAME_MAX). A RESIZE without the 4
 * size bytes decodes with has_size false; a name ends at its NUL or the message's end. */
int vs_console_ctrl_decode(const uint8_t *buf, size_t len, vs_console_ctrl *m, vs_err *e);
/* Encodes into buf (cap bytes, VS_CONSOLE_CTRL_MAX is always enough); returns the length
 * (RESIZE with has_size: 12; PORT_NAME: 8 + name_len, no NUL, as QEMU and the spec send
 * it), 0 when it does not fit. */
size_t vs_console_ctrl_encode(const vs_console_ctrl *m, uint8_t *buf, size_t cap);
const char *vs_console_event_name(uint16_t event);   /* "PORT_OPEN"; "?" when unknown */
int vs_console_event_parse(const char *s, uint16_t *out); /* -VS_EINVAL when unknown */

/* Queue numbering. */
static inline uint16_t vs_console_rxq(uint32_t port)
{
    return (uint16_t)(port == 0 ? 0 : 2 + 2 * port);
}
static inline uint16_t vs_console_txq(uint32_t port)
{
    return (uint16_t)(port == 0 ? 1 : 3 + 2 * port);
}
/* The port of a data queue and its direction; false for the control queues (2, 3). */
static inline bool vs_console_queue_port(uint16_t q, uint32_t *port, bool *tx)
{
    if (q == VS_CONSOLE_CTRL_RXQ || q == VS_CONSOLE_CTRL_TXQ)
        return false;
    *port = q < 2 ? 0 : (uint32_t)(q - 2) / 2;
    *tx = q & 1;
    return true;
}
static inline uint16_t vs_console_num_queues(bool multiport, uint32_t max_nr_ports)
{
    return (uint16_t)(multiport ? 2 * (max_nr_ports + 1) : 2);
}

/* The byte streams of the scenarios: byte k of port p's stream in one direction (to_host
 * false: host to guest). Its value depends on k's higher bytes too, so a lost, repeated
 * or reordered block of any length shows. */
static inline uint8_t vs_console_stream_byte(uint32_t port, bool to_host, uint64_t k)
{
    uint64_t hi = k >> 8;
    return (uint8_t)(k + hi * 3 + (hi >> 8) * 5 + (hi >> 16) * 7 + (hi >> 24) * 11 +
                     port * 29 + (to_host ? 101 : 0));
}
void vs_console_stream_fill(uint8_t *buf, uint32_t port, bool to_host, uint64_t off,
                            size_t n);
/* The index of the first byte of buf that is not the stream's (n: all are). */
size_t vs_console_stream_check(const uint8_t *buf, uint32_t port, bool to_host,
                               uint64_t off, size_t n);

/* ------------------------------------------------------------------ the device */

/* Deliberate bugs (vs_device.mutations), one per device check. */
enum vs_console_mutation {
    VS_CONSOLE_MUT_EMERG_NEEDS_FEATURES = 1u << 0, /* emerg_wr before FEATURES_OK is a
                                                      device error */
    VS_CONSOLE_MUT_EMERG_DROPPED = 1u << 1,   /* emerg_wr bytes go nowhere */
    VS_CONSOLE_MUT_ADD_TWICE = 1u << 2,       /* DEVICE_ADD sent twice for the first port */
    VS_CONSOLE_MUT_ADD_OUT_OF_RANGE = 1u << 3, /* also sends DEVICE_ADD for max_nr_ports */
    VS_CONSOLE_MUT_REMOVE_UNKNOWN = 1u << 4,  /* a removal also names a port never added */
    VS_CONSOLE_MUT_RX_CORRUPT = 1u << 5,      /* every 1000th byte delivered to a receive
                                                 buffer is inverted */
    VS_CONSOLE_MUT_TX_DROPS = 1u << 6,        /* loses every 1000th byte it takes from a
                                                 transmitq */
    VS_CONSOLE_MUT_HOSTILE_CRASH = 1u << 7,   /* takes a hostile control message as a
                                                 device error (DEVICE_NEEDS_RESET) */
    VS_CONSOLE_MUT_ALL = (1u << 8) - 1,
};

typedef struct vs_console_port_opts {
    bool added;          /* present from the start (announced after DEVICE_READY) */
    bool console;        /* a console port (CONSOLE_PORT) */
    bool host_open;      /* the host end is connected (PORT_OPEN 1 after PORT_READY) */
    char name[VS_CONSOLE_NAME_MAX + 1];  /* "" : none (no PORT_NAME) */
} vs_console_port_opts;

typedef struct vs_console_opts {
    bool size, multiport, emerg_write;   /* features offered */
    uint64_t extra_features;             /* device-independent bits to offer too */
    uint16_t cols, rows;
    uint32_t max_nr_ports;               /* 1..VS_CONSOLE_MAX_PORTS (MULTIPORT) */
    uint32_t queue_size;
    vs_console_port_opts port[VS_CONSOLE_MAX_PORTS];
    uint32_t mutations;                  /* enum vs_console_mutation */
} vs_console_opts;

/* SIZE and EMERG_WRITE offered, no MULTIPORT, 80x25, 4 ports of which port 0 (a console,
 * host open) is added, queue size 256. */
void vs_console_opts_default(vs_console_opts *o);
int vs_console_create(vs_device **out, vs_gmem *gm, const vs_console_opts *o, vs_err *e);
bool vs_console_is(const vs_device *d);

/* The host end of port p (-VS_EINVAL for a device that is not a console or p out of
 * range; -VS_ESTATE where the port's state forbids it). */
int vs_console_host_write(vs_device *d, uint32_t port, const uint8_t *buf, size_t n,
                          vs_err *e);
/* Takes up to cap bytes the device consumed from port's transmitq (and, for port 0, the
 * emerg_wr bytes, in the order they came). Returns the count. */
size_t vs_console_host_read(vs_device *d, uint32_t port, uint8_t *buf, size_t cap);
int vs_console_host_open(vs_device *d, uint32_t port, bool open, vs_err *e);
int vs_console_port_add(vs_device *d, uint32_t port, const vs_console_port_opts *po,
                        vs_err *e);
int vs_console_port_remove(vs_device *d, uint32_t port, vs_err *e);
/* With MULTIPORT a RESIZE message for the port; otherwise the config's cols / rows
 * change and the generation moves: returns 1, and the caller raises the config-change
 * interrupt through the transport. */
int vs_console_resize(vs_device *d, uint32_t port, uint16_t cols, uint16_t rows, vs_err *e);

typedef struct vs_console_port_state {
    bool added, ready, guest_open, host_open;
    uint64_t in_pending;       /* host bytes not yet delivered */
    uint64_t out_pending;      /* consumed bytes the host has not read */
    uint64_t delivered, consumed; /* totals */
} vs_console_port_state;

typedef struct vs_console_stats {
    uint64_t rejected;         /* hostile or malformed control messages from the driver */
    uint64_t emerg_bytes;      /* emerg_wr writes taken */
    uint64_t ctrl_sent, ctrl_received;
    char last_rejected[96];    /* why, for messages */
} vs_console_stats;

int vs_console_port_get(const vs_device *d, uint32_t port, vs_console_port_state *st);
void vs_console_stats_get(const vs_device *d, vs_console_stats *st);

#endif
