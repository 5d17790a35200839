/* The reference virtio-console device (virtiosim/console.h): ports whose host ends the
 * simulator scripts, the control queues with every control message, emergency writes.
 * Synchronous and clock-free like every reference device: a receive buffer with nothing
 * to receive is held (handle returns VS_DEV_DEFERRED) and completed through
 * vs_device.complete when the host writes, or when the device has a control message to
 * send; ops->drain forgets held buffers before the transport drops a queue. */
#define _POSIX_C_SOURCE 200809L /* strnlen */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/dev/console/console_int.h"
#include "virtiosim/le.h"
#include "virtiosim/virtio.h"

/* ------------------------------------------------------------------ byte FIFOs */

int vs__cbuf_push(cbuf *b, const uint8_t *p, size_t n)
{
    if (n == 0)
        return 0;
    if (b->head && b->head + b->len + n > b->cap) { /* compact first */
        memmove(b->p, b->p + b->head, b->len);
        b->head = 0;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *np = realloc(b->p, cap);
        if (!np)
            return -VS_ENOMEM;
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->head + b->len, p, n);
    b->len += n;
    return 0;
}

size_t vs__cbuf_take(cbuf *b, uint8_t *out, size_t cap)
{
    size_t n = b->len < cap ? b->len : cap;
    if (out && n)
        memcpy(out, b->p + b->head, n);
    b->head += n;
    b->len -= n;
    if (!b->len)
        b->head = 0;
    return n;
}

static void cbuf_free(cbuf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ------------------------------------------------------------------ control out */

/* Queues a control message for the driver (length-prefixed in c->ctrl). */
int vs__con_send(con_dev *c, const vs_console_ctrl *m)
{
    uint8_t buf[2 + VS_CONSOLE_CTRL_MAX];
    size_t n = vs_console_ctrl_encode(m, buf + 2, sizeof buf - 2);
    if (!n)
        return -VS_EINVAL;
    vs_le16_put(buf, (uint16_t)n);
    if (vs__cbuf_push(&c->ctrl, buf, n + 2) < 0)
        return -VS_ENOMEM;
    c->st.ctrl_sent++;
    vs__con_serve(c, VS_CONSOLE_CTRL_RXQ);
    return 0;
}

static int send_event(con_dev *c, uint32_t id, uint16_t event, uint16_t value)
{
    vs_console_ctrl m = {.id = id, .event = event, .value = value};
    return vs__con_send(c, &m);
}

/* A port the driver made ready: what the host has to say about it. */
static void port_ready(con_dev *c, uint32_t id)
{
    cport *p = &c->port[id];
    p->ready = true;
    if (p->console)
        send_event(c, id, VS_CONSOLE_CONSOLE_PORT, 1);
    if (p->name[0]) {
        vs_console_ctrl m = {.id = id, .event = VS_CONSOLE_PORT_NAME, .value = 1,
                             .name_len = (uint32_t)strlen(p->name)};
        memcpy(m.name, p->name, m.name_len);
        vs__con_send(c, &m);
    }
    if (p->host_open)
        send_event(c, id, VS_CONSOLE_PORT_OPEN, 1);
    if (p->in.len)
        vs__con_serve(c, vs_console_rxq(id));
}

static void device_ready(con_dev *c)
{
    c->device_ready = true;
    bool twice = (c->dev.mutations & VS_CONSOLE_MUT_ADD_TWICE) != 0;
    for (uint32_t i = 0; i < c->nports; i++) {
        if (!c->port[i].added)
            continue;
        send_event(c, i, VS_CONSOLE_DEVICE_ADD, 1);
        if (twice) { /* mutant */
            send_event(c, i, VS_CONSOLE_DEVICE_ADD, 1);
            twice = false;
        }
    }
    if (c->dev.mutations & VS_CONSOLE_MUT_ADD_OUT_OF_RANGE)
        send_event(c, c->nports, VS_CONSOLE_DEVICE_ADD, 1);
}

/* ------------------------------------------------------------------ control in */

/* A control message the device does not take: counted, reported, the chain used. */
static int reject(con_dev *c, vs_err *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int reject(con_dev *c, vs_err *e, const char *fmt, ...)
{
    char why[sizeof c->st.last_rejected];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    c->st.rejected++;
    snprintf(c->st.last_rejected, sizeof c->st.last_rejected, "%s", why);
    if (c->dev.mutations & VS_CONSOLE_MUT_HOSTILE_CRASH) /* mutant: a device error */
        return vs_err_set(e, VS_EPROTO, "console: %s", why);
    return 0;
}

/* A port id of a message that must name a port the device added. */
static bool live_port(con_dev *c, const vs_console_ctrl *m, vs_err *e, int *rc)
{
    if (m->id >= c->nports) {
        *rc = reject(c, e, "%s for port %u >= max_nr_ports %u", vs_console_event_name(m->event),
                     m->id, c->nports);
        return false;
    }
    if (!c->port[m->id].added) {
        *rc = reject(c, e, "%s for port %u, which the device never added",
                     vs_console_event_name(m->event), m->id);
        return false;
    }
    return true;
}

static int control_in(con_dev *c, const uint8_t *buf, size_t len, vs_err *e)
{
    vs_console_ctrl m;
    vs_err de;
    vs_err_clear(&de);
    if (vs_console_ctrl_decode(buf, len, &m, &de) < 0)
        return reject(c, e, "%s", de.msg + (strncmp(de.msg, "console: ", 9) ? 0 : 9));
    c->st.ctrl_received++;
    int rc = 0;
    switch (m.event) {
    case VS_CONSOLE_DEVICE_READY:
        if (c->device_ready)
            return reject(c, e, "DEVICE_READY again (the ports were announced already)");
        if (m.value == 1)
            device_ready(c);
        return 0; /* value 0: the driver failed to initialize; nothing to send */
    case VS_CONSOLE_PORT_READY:
        if (!c->device_ready)
            return reject(c, e, "PORT_READY for port %u before DEVICE_READY", m.id);
        if (!live_port(c, &m, e, &rc))
            return rc;
        if (m.value == 1)
            port_ready(c, m.id);
        else
            c->port[m.id].ready = false;
        return 0;
    case VS_CONSOLE_PORT_OPEN:
        if (!live_port(c, &m, e, &rc))
            return rc;
        c->port[m.id].guest_open = m.value != 0;
        return 0;
    default:
        return reject(c, e, "%s (port %u) is a message of the device, not the driver",
                      vs_console_event_name(m.event), m.id);
    }
}

/* ------------------------------------------------------------------ queues */

/* Copies up to n bytes from src into the chain's writable segments; returns the count. */
static uint32_t to_writable(con_dev *c, const vs_chain *ch, const uint8_t *src, size_t n,
                            vs_err *e, int *rc)
{
    size_t put = 0;
    for (uint32_t i = ch->n_out; i < ch->nseg && put < n; i++) {
        const vs_dseg *s = &ch->seg[i];
        size_t k = s->len < n - put ? s->len : n - put;
        if (s->host)
            memcpy(s->host, src + put, k);
        else if ((*rc = vs_gmem_write(c->dev.gm, s->gpa, src + put, k, e)) < 0)
            return 0;
        put += k;
    }
    return (uint32_t)put;
}

#define HOLD 2 /* rx_port / rx_control: nothing for the buffer yet */

/* Up to n bytes of src into the chain's writable part (port id's stream: the mutant
 * corrupts every 1000th byte it delivers). */
static uint32_t deliver(con_dev *c, uint32_t id, const vs_chain *ch, vs_err *e, int *rc)
{
    cport *p = &c->port[id];
    uint8_t *src = p->in.p + p->in.head;
    size_t n = p->in.len < ch->in_bytes ? p->in.len : (size_t)ch->in_bytes;
    if (c->dev.mutations & VS_CONSOLE_MUT_RX_CORRUPT) { /* mutant */
        for (uint64_t k = (p->delivered + 999) / 1000 * 1000; k < p->delivered + n; k += 1000)
            src[k - p->delivered] ^= 0xff;
    }
    uint32_t put = to_writable(c, ch, src, n, e, rc);
    vs__cbuf_take(&p->in, NULL, put);
    p->delivered += put;
    return put;
}

static int rx_port(con_dev *c, uint32_t id, const vs_chain *ch, uint32_t *written, vs_err *e)
{
    cport *p = &c->port[id];
    if (!p->added || !p->in.len || !ch->in_bytes)
        return HOLD;
    int rc = 0;
    *written = deliver(c, id, ch, e, &rc);
    return rc;
}

static int tx_port(con_dev *c, uint32_t id, const vs_chain *ch, vs_err *e)
{
    cport *p = &c->port[id];
    for (uint32_t i = 0; i < ch->n_out; i++) {
        const vs_dseg *s = &ch->seg[i];
        uint8_t tmp[4096];
        for (uint32_t off = 0; off < s->len;) {
            uint32_t k = s->len - off;
            const uint8_t *from;
            if (s->host) {
                from = (const uint8_t *)s->host + off;
            } else {
                k = k < sizeof tmp ? k : (uint32_t)sizeof tmp;
                int rc = vs_gmem_read(c->dev.gm, s->gpa + off, tmp, k, e);
                if (rc < 0)
                    return rc;
                from = tmp;
            }
            if (c->dev.mutations & VS_CONSOLE_MUT_TX_DROPS) { /* mutant */
                for (uint32_t j = 0; j < k; j++)
                    if ((p->consumed + j) % 1000 != 999 &&
                        vs__cbuf_push(&p->out, from + j, 1) < 0)
                        return vs_err_set(e, VS_ENOMEM, "console: out of memory");
            } else if (vs__cbuf_push(&p->out, from, k) < 0) {
                return vs_err_set(e, VS_ENOMEM, "console: out of memory");
            }
            p->consumed += k;
            off += k;
        }
    }
    return 0;
}

static int rx_control(con_dev *c, const vs_chain *ch, uint32_t *written, vs_err *e)
{
    if (c->ctrl.len < 2 || !ch->in_bytes)
        return HOLD;
    uint16_t n = vs_le16_get(c->ctrl.p + c->ctrl.head);
    uint8_t msg[VS_CONSOLE_CTRL_MAX];
    vs__cbuf_take(&c->ctrl, NULL, 2);
    vs__cbuf_take(&c->ctrl, msg, n);
    int rc = 0;
    /* a buffer too small for the message gets what fits (Linux posts whole pages) */
    *written = to_writable(c, ch, msg, n, e, &rc);
    return rc;
}

/* ------------------------------------------------------------------ held buffers */

static int hold(con_dev *c, uint16_t q, const vs_chain *ch, vs_err *e)
{
    heldq *h = &c->held[q];
    if (h->head + h->n == h->cap) {
        if (h->head) {
            memmove(h->v, h->v + h->head, h->n * sizeof *h->v);
            h->head = 0;
        } else {
            uint32_t cap = h->cap ? 2 * h->cap : 16;
            held *v = realloc(h->v, cap * sizeof *v);
            if (!v)
                return vs_err_set(e, VS_ENOMEM, "console: out of memory");
            h->v = v;
            h->cap = cap;
        }
    }
    held *b = &h->v[h->head + h->n++];
    b->id = ch->id;
    b->nseg = 0;
    for (uint32_t i = ch->n_out; i < ch->nseg && b->nseg < HELD_SEGS; i++)
        b->seg[b->nseg++] = ch->seg[i];
    return VS_DEV_DEFERRED;
}

void vs__con_serve(con_dev *c, uint16_t q)
{
    heldq *h = &c->held[q];
    uint32_t id;
    bool tx;
    bool ctrl = q == VS_CONSOLE_CTRL_RXQ;
    if (!ctrl && (!vs_console_queue_port(q, &id, &tx) || tx))
        return;
    while (h->n && c->dev.complete) {
        held *b = &h->v[h->head];
        vs_chain ch = {.id = b->id, .nseg = b->nseg, .seg_cap = b->nseg, .seg = b->seg};
        for (uint32_t i = 0; i < b->nseg; i++)
            ch.in_bytes += b->seg[i].len;
        uint32_t written = 0;
        int rc = 0;
        if (ctrl)
            rc = rx_control(c, &ch, &written, NULL);
        else if (c->port[id].added && c->port[id].in.len)
            written = deliver(c, id, &ch, NULL, &rc);
        else
            return;
        if (rc == HOLD)
            return;
        if (rc < 0) /* guest memory refused the bytes: the buffer is used empty */
            written = 0;
        h->head++;
        h->n--;
        c->dev.complete(c->dev.complete_ctx, q, b->id, written);
    }
}

static void con_drain(vs_device *d, int32_t q)
{
    con_dev *c = to_con(d);
    for (uint32_t i = 0; i < sizeof c->held / sizeof c->held[0]; i++)
        if (q < 0 || (uint32_t)q == i)
            c->held[i].head = c->held[i].n = 0;
}

static int tx_control(con_dev *c, const vs_chain *ch, vs_err *e)
{
    uint8_t buf[VS_CONSOLE_CTRL_MAX];
    size_t got = 0;
    for (uint32_t i = 0; i < ch->n_out && got < sizeof buf; i++) {
        size_t k = ch->seg[i].len < sizeof buf - got ? ch->seg[i].len : sizeof buf - got;
        int rc = vs_gmem_read(c->dev.gm, ch->seg[i].gpa, buf + got, k, e);
        if (rc < 0)
            return rc;
        got += k;
    }
    return control_in(c, buf, got, e);
}

static int con_handle(vs_device *d, uint16_t q, const vs_chain *ch, uint32_t *written,
                      vs_err *e)
{
    con_dev *c = to_con(d);
    *written = 0;
    if (q == VS_CONSOLE_CTRL_TXQ && c->multiport)
        return tx_control(c, ch, e);
    uint32_t id = 0;
    bool tx = false;
    bool ctrl = q == VS_CONSOLE_CTRL_RXQ && c->multiport;
    if (!ctrl && (!vs_console_queue_port(q, &id, &tx) || id >= c->nports))
        return vs_err_set(e, VS_EINVAL, "console: no queue %u", q);
    if (tx)
        return tx_port(c, id, ch, e);
    /* a receive buffer: behind the ones held already, or held until there is something
     * for it (and only where the transport can complete it later) */
    int rc = HOLD;
    if (!c->held[q].n)
        rc = ctrl ? rx_control(c, ch, written, e) : rx_port(c, id, ch, written, e);
    if (rc != HOLD)
        return rc;
    if (!c->dev.complete)
        return 0; /* no deferral here: used empty */
    return hold(c, q, ch, e);
}

/* ------------------------------------------------------------------ ops */

static uint64_t con_features(vs_device *d)
{
    return to_con(d)->features;
}

static int con_accept(vs_device *d, uint64_t f, vs_err *e)
{
    con_dev *c = to_con(d);
    if (f & ~c->features)
        return vs_err_set(e, VS_EINVAL, "console: features 0x%llx were not offered",
                          (unsigned long long)(f & ~c->features));
    if (c->emerg_broken) /* mutant: an early emergency write broke it */
        return vs_err_set(e, VS_ESTATE, "console: emerg_wr written before FEATURES_OK");
    c->features_ok = true;
    return 0;
}

static uint32_t con_config_size(vs_device *d)
{
    (void)d;
    return VS_CONSOLE_CFG_LEN;
}

static int con_config_read(vs_device *d, uint32_t off, void *buf, uint32_t len, vs_err *e)
{
    con_dev *c = to_con(d);
    uint8_t cfg[VS_CONSOLE_CFG_LEN] = {0};
    vs_le16_put(cfg + VS_CONSOLE_CFG_COLS, c->cols);
    vs_le16_put(cfg + VS_CONSOLE_CFG_ROWS, c->rows);
    vs_le32_put(cfg + VS_CONSOLE_CFG_MAX_NR_PORTS, c->o.max_nr_ports);
    /* emerg_wr is write-only: reads 0 */
    if (off > sizeof cfg || len > sizeof cfg - off)
        return vs_err_set(e, VS_ERANGE, "console: config read [%u, +%u) past %u bytes", off,
                          len, VS_CONSOLE_CFG_LEN);
    memcpy(buf, cfg + off, len);
    return 0;
}

/* emerg_wr: accepted at any time, even before FEATURES_OK; its low byte goes to the
 * port-0 host output. */
static int con_config_write(vs_device *d, uint32_t off, const void *buf, uint32_t len,
                            vs_err *e)
{
    con_dev *c = to_con(d);
    if (!(c->features & VS_BIT(VS_CONSOLE_F_EMERG_WRITE)) || off < VS_CONSOLE_CFG_EMERG_WR ||
        off >= VS_CONSOLE_CFG_LEN || len > VS_CONSOLE_CFG_LEN - off)
        return vs_err_set(e, VS_EINVAL, "console: config write [%u, +%u): only emerg_wr "
                          "(with EMERG_WRITE) is writable", off, len);
    if (off != VS_CONSOLE_CFG_EMERG_WR || len == 0)
        return 0; /* not the low byte */
    if (!c->features_ok && (d->mutations & VS_CONSOLE_MUT_EMERG_NEEDS_FEATURES))
        c->emerg_broken = true; /* mutant */
    c->st.emerg_bytes++;
    if (d->mutations & VS_CONSOLE_MUT_EMERG_DROPPED)
        return 0; /* mutant */
    if (vs__cbuf_push(&c->port[0].out, buf, 1) < 0)
        return vs_err_set(e, VS_ENOMEM, "console: out of memory");
    return 0;
}

static uint16_t con_num_queues(vs_device *d)
{
    con_dev *c = to_con(d);
    return vs_console_num_queues(c->multiport, c->nports);
}

static uint32_t con_queue_max_size(vs_device *d, uint16_t q)
{
    (void)q;
    return to_con(d)->o.queue_size;
}

/* Back to the options' ports; what the host already read stays read, bytes the host
 * wrote but the driver never received are dropped with the connection. */
static void ports_init(con_dev *c)
{
    for (uint32_t i = 0; i < c->nports; i++) {
        cport *p = &c->port[i];
        const vs_console_port_opts *po = &c->o.port[i];
        p->added = c->multiport ? po->added : i == 0;
        p->console = po->console;
        p->host_open = po->host_open;
        size_t n = strnlen(po->name, VS_CONSOLE_NAME_MAX);
        memcpy(p->name, po->name, n);
        p->name[n] = '\0';
        p->ready = p->guest_open = false;
        vs__cbuf_take(&p->in, NULL, p->in.len);
    }
    vs__cbuf_take(&c->ctrl, NULL, c->ctrl.len);
    c->device_ready = false;
}

static void con_reset(vs_device *d)
{
    con_dev *c = to_con(d);
    ports_init(c);
    c->features_ok = false;
    c->emerg_broken = false;
    con_drain(d, -1);
}

static void con_destroy(vs_device *d)
{
    if (!d)
        return;
    con_dev *c = to_con(d);
    for (uint32_t i = 0; i < VS_CONSOLE_MAX_PORTS; i++) {
        cbuf_free(&c->port[i].in);
        cbuf_free(&c->port[i].out);
    }
    cbuf_free(&c->ctrl);
    for (uint32_t i = 0; i < sizeof c->held / sizeof c->held[0]; i++)
        free(c->held[i].v);
    free(c);
}

const vs_device_ops vs__console_ops = {
    .name = "console",
    .device_id = VS_DEV_CONSOLE,
    .device_features = con_features,
    .accept_features = con_accept,
    .config_size = con_config_size,
    .config_read = con_config_read,
    .config_write = con_config_write,
    .num_queues = con_num_queues,
    .queue_max_size = con_queue_max_size,
    .handle = con_handle,
    .reset = con_reset,
    .drain = con_drain,
    .destroy = con_destroy,
};

void vs_console_opts_default(vs_console_opts *o)
{
    memset(o, 0, sizeof *o);
    o->size = o->emerg_write = true;
    o->cols = 80;
    o->rows = 25;
    o->max_nr_ports = 4;
    o->queue_size = 256;
    o->port[0] = (vs_console_port_opts){.added = true, .console = true, .host_open = true};
}

int vs_console_create(vs_device **out, vs_gmem *gm, const vs_console_opts *o, vs_err *e)
{
    if (!out || !gm || !o)
        return vs_err_set(e, VS_EINVAL, "console: NULL argument");
    if (o->multiport && (o->max_nr_ports < 1 || o->max_nr_ports > VS_CONSOLE_MAX_PORTS))
        return vs_err_set(e, VS_EINVAL, "console: max_nr_ports %u not in 1..%u",
                          o->max_nr_ports, VS_CONSOLE_MAX_PORTS);
    if (o->queue_size == 0 || o->queue_size > VS_VQ_MAX_SIZE)
        return vs_err_set(e, VS_EINVAL, "console: queue size %u not in 1..%u", o->queue_size,
                          VS_VQ_MAX_SIZE);
    if (o->extra_features & (VS_BIT(24) - 1))
        return vs_err_set(e, VS_EINVAL, "console: extra_features 0x%llx has device bits",
                          (unsigned long long)o->extra_features);
    if (o->mutations & ~(uint32_t)VS_CONSOLE_MUT_ALL)
        return vs_err_set(e, VS_EINVAL, "console: unknown mutation bits 0x%x", o->mutations);
    con_dev *c = calloc(1, sizeof *c);
    if (!c)
        return vs_err_set(e, VS_ENOMEM, "console: out of memory");
    c->dev.ops = &vs__console_ops;
    c->dev.gm = gm;
    c->dev.mutations = o->mutations;
    c->o = *o;
    c->multiport = o->multiport;
    c->nports = o->multiport ? o->max_nr_ports : 1;
    c->cols = o->cols;
    c->rows = o->rows;
    c->features = VS_BIT(VS_F_VERSION_1) |
                  VS_BIT(VS_F_EVENT_IDX) | VS_BIT(VS_F_INDIRECT_DESC) | o->extra_features |
                  (o->size ? VS_BIT(VS_CONSOLE_F_SIZE) : 0) |
                  (o->multiport ? VS_BIT(VS_CONSOLE_F_MULTIPORT) : 0) |
                  (o->emerg_write ? VS_BIT(VS_CONSOLE_F_EMERG_WRITE) : 0);
    ports_init(c);
    *out = &c->dev;
    return 0;
}

bool vs_console_is(const vs_device *d)
{
    return d && d->ops == &vs__console_ops;
}
