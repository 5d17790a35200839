/* The reference console's insides, shared by its files (private to model/dev/console/). */
#ifndef VS_MODEL_CONSOLE_INT_H
#define VS_MODEL_CONSOLE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtiosim/console.h"

/* A byte FIFO: [head, head + len) of p. */
typedef struct cbuf {
    uint8_t *p;
    size_t head, len, cap;
} cbuf;

int vs__cbuf_push(cbuf *b, const uint8_t *p, size_t n);
size_t vs__cbuf_take(cbuf *b, uint8_t *out, size_t cap);   /* out NULL: drop */

/* A receive buffer the device holds (VS_DEV_DEFERRED) until it has bytes or a message
 * for it: its id and writable segments (at most HELD_SEGS are used). */
#define HELD_SEGS 8u
typedef struct held {
    uint16_t id;
    uint32_t nseg;
    vs_dseg seg[HELD_SEGS];
} held;

/* Held buffers of one queue, oldest first: [head, head + n) of v. */
typedef struct heldq {
    held *v;
    uint32_t head, n, cap;
} heldq;

typedef struct cport {
    bool added, ready, guest_open, host_open, console;
    char name[VS_CONSOLE_NAME_MAX + 1];
    cbuf in;               /* host -> guest, not yet delivered */
    cbuf out;              /* guest -> host (and port 0's emerg_wr bytes), not yet read */
    uint64_t delivered, consumed;
} cport;

typedef struct con_dev {
    vs_device dev;         /* first */
    vs_console_opts o;
    bool multiport;
    uint32_t nports;       /* max_nr_ports with MULTIPORT, else 1 */
    uint64_t features;
    uint16_t cols, rows;
    bool device_ready;     /* the driver sent DEVICE_READY */
    bool features_ok;
    bool emerg_broken;     /* mutant EMERG_NEEDS_FEATURES */
    cport port[VS_CONSOLE_MAX_PORTS];
    cbuf ctrl;             /* control messages for the driver: le16 length + message */
    heldq held[2 * (VS_CONSOLE_MAX_PORTS + 1)];  /* per queue (receive queues only) */
    vs_console_stats st;
} con_dev;

extern const vs_device_ops vs__console_ops;

static inline con_dev *to_con(vs_device *d) { return (con_dev *)d; }

int vs__con_send(con_dev *c, const vs_console_ctrl *m);
/* Gives receive queue q's held buffers what the device now has for them. */
void vs__con_serve(con_dev *c, uint16_t q);

#endif
