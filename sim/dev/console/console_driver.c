/* virtio-console's driver model: multiport bring-up as Linux's virtio_console does it
 * (after DRIVER_OK: control receive buffers, DEVICE_READY; per DEVICE_ADD: the port's
 * receive buffers, then PORT_READY; CONSOLE_PORT answered with PORT_OPEN 1), receive
 * buffers kept posted and refilled, transmission, and both byte streams of every port
 * verified (host to guest here, as received up to the used length; guest to host at the
 * host end). Single-port mode without MULTIPORT: port 0 on queues 0/1 only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/dev/console/console_sim_int.h"
#include "virtiosim/le.h"

#define BAD_ID 0xffffffffu         /* DEVICE_READY's id, as Linux sends it */
#define PUMP_SLICE_NS 1000000ull   /* one wait of the pump (virtual) */

/* ------------------------------------------------------------------ personality */

static int state_create(vs_driver *d, void **state, vs_err *e)
{
    (void)d;
    if (!(*state = calloc(1, sizeof(con_drv))))
        return vs_err_set(e, VS_ENOMEM, "console driver: out of memory");
    return 0;
}

static void state_free(vs_driver *d, void *state)
{
    (void)d;
    con_drv *s = state;
    if (s)
        free(s->scratch);
    free(s);
}

static uint8_t *scratch(con_drv *s, size_t n)
{
    if (n > s->scratch_cap) {
        uint8_t *p = realloc(s->scratch, n);
        if (!p)
            return NULL;
        s->scratch = p;
        s->scratch_cap = n;
    }
    return s->scratch;
}

/* Emergency writes asked for "at the next init" go out between DRIVER and FEATURES_OK,
 * as a driver's earliest boot messages would: one 32-bit write per byte. */
static int read_config_early(vs_driver *d, uint64_t offered, bool features_ok, vs_err *e)
{
    con_drv *s = con_of(d);
    if (features_ok || !s->emerg_early_n || !(offered & VS_BIT(VS_CONSOLE_F_EMERG_WRITE)))
        return 0;
    for (uint32_t i = 0; i < s->emerg_early_n; i++) {
        uint8_t v[4] = {s->emerg_early[i], 0, 0, 0};
        int rc = vs_driver_config_write(d, VS_CONSOLE_CFG_EMERG_WR, v, 4, e);
        if (rc < 0)
            return rc;
    }
    s->emerg_expect_n = s->emerg_early_n;
    s->emerg_early_n = 0;
    return 0;
}

static int setup(vs_driver *d, vs_err *e)
{
    con_drv *s = con_of(d);
    uint64_t f = vs_driver_features(d);
    s->multiport = f & VS_BIT(VS_CONSOLE_F_MULTIPORT);
    s->emerg = f & VS_BIT(VS_CONSOLE_F_EMERG_WRITE);
    s->max_nr_ports = 1;
    if (s->multiport) {
        uint8_t b[4];
        int rc = vs_driver_config_read(d, VS_CONSOLE_CFG_MAX_NR_PORTS, b, 4, e);
        if (rc < 0)
            return rc;
        s->max_nr_ports = vs_le32_get(b);
    }
    s->nports = s->max_nr_ports < CON_PORTS ? s->max_nr_ports : CON_PORTS;
    if (f & VS_BIT(VS_CONSOLE_F_SIZE)) {
        uint8_t b[4];
        int rc = vs_driver_config_read(d, VS_CONSOLE_CFG_COLS, b, 4, e);
        if (rc < 0)
            return rc;
        s->port[0].cols = vs_le16_get(b);
        s->port[0].rows = vs_le16_get(b + 2);
    }
    return 0;
}

static void queue_out(con_drv *s, uint32_t id, uint16_t event, uint16_t value)
{
    if (s->nout < sizeof s->out / sizeof s->out[0])
        s->out[s->nout++] = (vs_console_ctrl){.id = id, .event = event, .value = value};
    else
        snprintf(s->bringup_err, sizeof s->bringup_err,
                 "more than %zu control messages waiting to be sent",
                 sizeof s->out / sizeof s->out[0]);
}

/* A control message from the device. */
static void control_in(con_drv *s, const vs_console_ctrl *m)
{
    s->ctrl_in[m->event]++;
    if (m->id >= s->nports)
        return; /* not a port this driver has: ignored, as Linux does */
    con_port *p = &s->port[m->id];
    switch (m->event) {
    case VS_CONSOLE_DEVICE_ADD:
        p->added = true;
        p->removed = p->ready_sent = p->guest_open = p->host_open = false;
        p->name[0] = '\0';
        break;
    case VS_CONSOLE_DEVICE_REMOVE:
        p->added = p->guest_open = p->host_open = false;
        p->removed = true;
        break;
    case VS_CONSOLE_CONSOLE_PORT:
        p->console = true;
        if (s->mut & CON_DRV_MUT_IGNORE_CONSOLE)
            break; /* mutant */
        p->guest_open = !(s->mut & CON_DRV_MUT_OPEN_ZERO);
        queue_out(s, m->id, VS_CONSOLE_PORT_OPEN, p->guest_open ? 1 : 0);
        break;
    case VS_CONSOLE_RESIZE:
        if (m->has_size) {
            p->cols = m->cols;
            p->rows = m->rows;
            p->resized = true;
        }
        break;
    case VS_CONSOLE_PORT_OPEN:
        p->host_open = m->value != 0;
        break;
    case VS_CONSOLE_PORT_NAME:
        memcpy(p->name, m->name, m->name_len + 1);
        break;
    default:
        break;
    }
}

/* Received bytes: only the used length counts, and they must continue the stream. */
static void rx_in(vs_driver *d, con_drv *s, const vs_drv_req *rq, uint32_t port,
                  uint32_t len)
{
    con_port *p = &s->port[port];
    const vs_seg *seg = &rq->seg[rq->n_out];
    if (len > seg->len) {
        snprintf(s->rx_msg, sizeof s->rx_msg, "port %u: used len %u > buffer of %u", port,
                 len, seg->len);
        s->rx_bad = true;
        return;
    }
    const uint8_t *b = vs_gmem_translate(d->gm, seg->gpa, len, VS_GMEM_READ, NULL);
    uint8_t *tmp = b ? NULL : scratch(s, len);
    if (!b && (!tmp || vs_gmem_read(d->gm, seg->gpa, tmp, len, NULL) < 0)) {
        snprintf(s->rx_msg, sizeof s->rx_msg, "port %u: receive buffer unreadable", port);
        s->rx_bad = true;
        return;
    }
    if (!b)
        b = tmp;
    size_t at = vs_console_stream_check(b, port, false, p->rx, len);
    if (at < len && !s->rx_bad) {
        snprintf(s->rx_msg, sizeof s->rx_msg,
                 "port %u: received byte %llu of the stream is 0x%02x, the host sent 0x%02x",
                 port, (unsigned long long)(p->rx + at), b[at],
                 vs_console_stream_byte(port, false, p->rx + at));
        s->rx_bad = true;
    }
    p->rx += len;
}

static void complete(vs_driver *d, vs_drv_req *rq, const vs_drv_done *done, void *res)
{
    con_result *r = res;
    r->len = done->used_len;
    if (!rq || rq->fault)
        return;
    con_drv *s = con_of(d);
    const con_req *q = rq->dev;
    r->kind = q->kind;
    r->port = q->port;
    if (q->kind == CON_RX) {
        s->port[q->port].rx_posted--;
        rx_in(d, s, rq, q->port, done->used_len);
    } else if (q->kind == CON_CTRL_RX) {
        s->ctrl_posted--;
        const vs_seg *seg = &rq->seg[rq->n_out];
        uint32_t n = done->used_len < seg->len ? done->used_len : seg->len;
        uint8_t buf[VS_CONSOLE_CTRL_MAX];
        vs_console_ctrl m;
        if (n > sizeof buf)
            n = sizeof buf;
        if (vs_gmem_read(d->gm, seg->gpa, buf, n, NULL) == 0 &&
            vs_console_ctrl_decode(buf, n, &m, NULL) == 0)
            control_in(s, &m);
    }
}

static void abort_req(vs_driver *d, vs_drv_req *rq)
{
    con_drv *s = con_of(d);
    const con_req *q = rq->dev;
    if (rq->fault)
        return;
    if (q->kind == CON_RX && s->port[q->port].rx_posted)
        s->port[q->port].rx_posted--;
    else if (q->kind == CON_CTRL_RX && s->ctrl_posted)
        s->ctrl_posted--;
}

const vs_drv_personality vs_console_drv_personality = {
    .default_features = VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_CONSOLE_F_SIZE) |
                        VS_BIT(VS_CONSOLE_F_MULTIPORT) | VS_BIT(VS_CONSOLE_F_EMERG_WRITE),
    .multiqueue_feature = -1, /* port 0 alone has two queues */
    .req_size = sizeof(con_req),
    .result_size = sizeof(con_result),
    .state_create = state_create,
    .state_free = state_free,
    .read_config_early = read_config_early,
    .setup = setup,
    .complete = complete,
    .abort = abort_req,
};

/* ------------------------------------------------------------------ requests */

/* A receive buffer (data or control) of `size` bytes, added without publishing. */
static int post_rx(vs_driver *d, uint16_t q, uint8_t kind, uint32_t port, uint32_t size,
                   vs_err *e)
{
    con_drv *s = con_of(d);
    bool mut = (s->mut & CON_DRV_MUT_RX_READABLE) != 0;
    vs_drv_req *rq;
    int rc = vs__drv_req_new(d, q, mut ? 2 : 1, &rq, e);
    if (rc < 0)
        return rc;
    rq->n_out = mut ? 1 : 0;
    if (mut)
        rq->seg[0].len = 16; /* mutant: a readable descriptor on a receiveq */
    rq->seg[rq->n_out].len = size;
    *(con_req *)rq->dev = (con_req){kind, port};
    if ((rc = vs__drv_req_layout(d, rq, e)) < 0 ||
        (mut && (rc = vs_gmem_fill(d->gm, rq->seg[0].gpa, 0, 16, e)) < 0) ||
        (rc = vs__drv_req_commit(d, rq, false, true, e)) < 0) {
        if (!rq->added)
            vs__drv_req_free(d, rq);
        return rc;
    }
    return 0;
}

/* A transmit chain whose readable bytes are buf (NULL: port's stream), published. */
static int post_tx(vs_driver *d, uint16_t q, uint8_t kind, uint32_t port, const uint8_t *buf,
                   uint32_t len, bool defer, vs_err *e)
{
    con_drv *s = con_of(d);
    bool mut = (s->mut & CON_DRV_MUT_TX_WRITABLE) != 0;
    vs_drv_req *rq;
    int rc = vs__drv_req_new(d, q, mut ? 2 : 1, &rq, e);
    if (rc < 0)
        return rc;
    rq->n_out = 1;
    rq->seg[0].len = len;
    if (mut)
        rq->seg[1].len = 16; /* mutant: a writable descriptor on a transmitq */
    *(con_req *)rq->dev = (con_req){kind, port};
    if ((rc = vs__drv_req_layout(d, rq, e)) < 0)
        goto fail;
    uint8_t *host = vs_gmem_translate(d->gm, rq->seg[0].gpa, len, VS_GMEM_WRITE, NULL);
    if (!buf && host) {
        vs_console_stream_fill(host, port, true, s->port[port].tx_queued, len);
    } else if (!buf) {
        uint8_t *tmp = scratch(s, len);
        if (!tmp) {
            rc = vs_err_set(e, VS_ENOMEM, "console driver: out of memory");
            goto fail;
        }
        vs_console_stream_fill(tmp, port, true, s->port[port].tx_queued, len);
        if ((rc = vs_gmem_write(d->gm, rq->seg[0].gpa, tmp, len, e)) < 0)
            goto fail;
    } else if ((rc = vs_gmem_write(d->gm, rq->seg[0].gpa, buf, len, e)) < 0) {
        goto fail;
    }
    if ((rc = vs__drv_req_commit(d, rq, false, defer, e)) < 0)
        goto fail;
    if (kind == CON_TX)
        s->port[port].tx_queued += len;
    return 0;
fail:
    if (!rq->added)
        vs__drv_req_free(d, rq);
    return rc;
}

int con_send_ctrl(vs_driver *d, const vs_console_ctrl *m, vs_err *e)
{
    uint8_t buf[VS_CONSOLE_CTRL_MAX];
    size_t n = vs_console_ctrl_encode(m, buf, sizeof buf);
    if (!n)
        return vs_err_set(e, VS_EINVAL, "console driver: control message does not encode");
    return post_tx(d, VS_CONSOLE_CTRL_TXQ, CON_CTRL_TX, 0, buf, (uint32_t)n, false, e);
}

int con_send_raw(vs_driver *d, const uint8_t *buf, uint32_t len, vs_err *e)
{
    return post_tx(d, VS_CONSOLE_CTRL_TXQ, CON_CTRL_TX, 0, buf, len, false, e);
}

int con_tx_submit(vs_driver *d, uint32_t port, uint32_t len, vs_err *e)
{
    return post_tx(d, vs_console_txq(port), CON_TX, port, NULL, len, true, e);
}

/* ------------------------------------------------------------------ the pump */

#define CON_CTRL_BUFS 32u   /* control receive buffers (4 KiB each) kept posted */

/* What the driver owes the device: receive buffers back, PORT_READY for added ports,
 * queued control messages; then everything added is published. */
static int actions(vs_driver *d, vs_err *e)
{
    con_drv *s = con_of(d);
    uint32_t depth = vs_driver_queue_size(d);
    uint32_t want = s->rx_buffers < depth ? s->rx_buffers : depth;
    /* The control receiveq is kept full, as Linux does (fill_queue of c_ivq): a device
     * may have nowhere to put a control message otherwise (QEMU's virtio-serial drops
     * it: a DEVICE_ADD lost when DEVICE_READY announces more ports than buffers). */
    uint32_t want_ctrl = depth < CON_CTRL_BUFS ? depth : CON_CTRL_BUFS;
    int rc;
    if (s->multiport)
        while (s->ctrl_posted < want_ctrl) {
            if ((rc = post_rx(d, VS_CONSOLE_CTRL_RXQ, CON_CTRL_RX, 0, 4096, e)) < 0)
                return rc;
            s->ctrl_posted++;
        }
    for (uint32_t i = 0; i < s->nports; i++) {
        con_port *p = &s->port[i];
        if (!p->added)
            continue;
        while (!p->refill_off && p->rx_posted < want) {
            rc = post_rx(d, vs_console_rxq(i), CON_RX, i, s->rx_buffer_size, e);
            if (rc < 0)
                return rc;
            p->rx_posted++;
        }
        if (s->multiport && !p->ready_sent) {
            p->ready_sent = true;
            queue_out(s, i, VS_CONSOLE_PORT_READY, 1);
        }
    }
    if ((rc = vs_driver_flush(d, -1, e)) < 0)
        return rc;
    unsigned sent = 0;
    for (; sent < s->nout; sent++) {
        rc = con_send_ctrl(d, &s->out[sent], e);
        if (rc == -VS_ENOSPC) { /* the control transmitq is full: the rest once it drains */
            vs_err_clear(e);
            break;
        }
        if (rc < 0)
            return rc;
    }
    memmove(s->out, s->out + sent, (s->nout - sent) * sizeof *s->out);
    s->nout -= sent;
    return 0;
}

int con_pump(vs_run_ctx *c, con_done_fn done, const void *arg, vs_err *e)
{
    vs_driver *d = c->d;
    con_drv *s = con_of(d);
    uint64_t start = vs_driver_now(d);
    unsigned idle = 0;
    for (;;) {
        int rc = actions(d, e);
        for (uint32_t i = 0; rc >= 0 && i < s->nports; i++)
            rc = con_host_drain(c, i, NULL, 0, e);
        if (rc < 0)
            return rc;
        while (vs_driver_take_result(d, NULL))
            ;
        if (s->rx_bad)
            return vs_err_set(e, VS_EPROTO, "%s", s->rx_msg);
        if (s->bringup_err[0])
            return vs_err_set(e, VS_EPROTO, "console driver: %s", s->bringup_err);
        if (vs_driver_needs_reset(d))
            return vs_err_set(e, VS_ESTATE, "device set DEVICE_NEEDS_RESET");
        if (done && done(c, arg))
            return 0;
        uint64_t before = vs_driver_now(d);
        if ((rc = vs_driver_wait(d, PUMP_SLICE_NS, e)) < 0)
            return rc;
        /* the device has nothing left to do: the engine is idle, the clock stands (a real
         * back-end: nothing happened for 200 ms) */
        bool quiet = c->real ? vs_driver_now(d) - before >= PUMP_SLICE_NS
                             : vs_driver_now(d) == before;
        if (rc == 0 && quiet && s->nout == 0) {
            if (c->real && ++idle < 200)
                continue;
            if (++idle >= 2)
                return 0;
        } else {
            idle = 0;
        }
        if (vs_driver_now(d) - start > VS_RUN_STEP_TIMEOUT_NS)
            return vs_err_set(e, VS_ETIMEDOUT, "console driver: no end in sight");
    }
}

/* ------------------------------------------------------------------ host ends */

int con_host_write(vs_run_ctx *c, uint32_t port, uint64_t n, vs_err *e)
{
    con_drv *s = con_of(c->d);
    con_port *p = &s->port[port];
    while (n) {
        size_t k = n < (256u << 10) ? (size_t)n : (256u << 10);
        uint8_t *buf = scratch(s, k);
        if (!buf)
            return vs_err_set(e, VS_ENOMEM, "console driver: out of memory");
        vs_console_stream_fill(buf, port, false, p->host_wr, k);
        int rc = 0;
        if (con_qemu_is(c)) {
            /* a socket takes what QEMU has room for: the driver's buffers (refilled here)
             * make more; 10 s without progress is the end */
            uint64_t t0 = vs_driver_now(c->d);
            for (size_t off = 0; off < k && rc >= 0; off += (size_t)rc) {
                if ((rc = con_qemu_write(c, port, buf + off, k - off, e)) > 0) {
                    t0 = vs_driver_now(c->d);
                    continue;
                }
                if (rc == 0 && vs_driver_now(c->d) - t0 > 10000000000ull)
                    rc = vs_err_set(e, VS_ETIMEDOUT, "port %u: QEMU took no host bytes for "
                                    "10 s", port);
                if (rc == 0 && (rc = actions(c->d, e)) >= 0 &&
                    (rc = vs_driver_wait(c->d, 1000000ull, e)) >= 0) {
                    while (vs_driver_take_result(c->d, NULL))
                        ;
                    rc = 0;
                }
            }
        } else {
            rc = vs_console_host_write(c->dev, port, buf, k, e);
        }
        if (rc < 0)
            return rc;
        vs_event ev = {.kind = VS_EV_HOST_IO, .queue = vs_console_rxq(port),
                       .len = (uint32_t)k, .data = buf};
        vs__drv_emit(c->d, &ev);
        p->host_wr += k;
        n -= k;
    }
    return 0;
}

int con_host_drain(vs_run_ctx *c, uint32_t port, const uint8_t *emerg, uint32_t n_emerg,
                   vs_err *e)
{
    con_drv *s = con_of(c->d);
    con_port *p = &s->port[port];
    uint8_t *buf = scratch(s, 64u << 10);
    if (!buf)
        return vs_err_set(e, VS_ENOMEM, "console driver: out of memory");
    bool read_any = false;
    for (;;) {
        size_t n = con_qemu_is(c) ? con_qemu_read(c, port, buf, 64u << 10)
                                  : vs_console_host_read(c->dev, port, buf, 64u << 10);
        /* an expected emergency write: the monitors learn that the host end was read even
         * when nothing came */
        if (n == 0 && (read_any || !emerg))
            break;
        read_any = true;
        vs_event ev = {.kind = VS_EV_HOST_IO, .queue = vs_console_txq(port),
                       .len = (uint32_t)n, .data = buf};
        vs__drv_emit(c->d, &ev);
        if (n == 0)
            break;
        size_t k = n < n_emerg ? n : n_emerg;
        if (k && memcmp(buf, emerg, k) != 0)
            return vs_err_set(e, VS_EPROTO, "port %u: the host output does not start with "
                              "the emerg_wr bytes", port);
        emerg += k;
        n_emerg -= (uint32_t)k;
        size_t at = vs_console_stream_check(buf + k, port, true, p->host_rd, n - k);
        if (at < n - k)
            return vs_err_set(e, VS_EPROTO,
                              "port %u: the host read 0x%02x as byte %llu of the stream, the "
                              "driver sent 0x%02x", port, buf[k + at],
                              (unsigned long long)(p->host_rd + at),
                              vs_console_stream_byte(port, true, p->host_rd + at));
        p->host_rd += n - k;
    }
    if (n_emerg)
        return vs_err_set(e, VS_EPROTO, "port %u: %u emerg_wr byte(s) never reached the host "
                          "output", port, n_emerg);
    return 0;
}

/* ------------------------------------------------------------------ bring-up */

int con_drv_start(vs_run_ctx *c, vs_err *e)
{
    con_drv *s = con_of(c->d);
    const con_scn_opts *o = con_opts_of(c->s);
    s->mut = c->d->o.dev_mutations;
    s->rx_buffers = o->rx_buffers;
    s->rx_buffer_size = o->rx_buffer_size;
    s->bringup_err[0] = '\0';
    s->nout = 0;
    s->ctrl_posted = 0;
    for (uint32_t i = 0; i < CON_PORTS; i++) {
        con_port *p = &s->port[i];
        /* a reset dropped what the host wrote and the device had not delivered, and the
         * transmissions it had not taken */
        uint64_t rx = p->rx, host_rd = p->host_rd;
        uint16_t cols = p->cols, rows = p->rows;
        *p = (con_port){.host_wr = rx, .rx = rx, .tx_queued = host_rd, .host_rd = host_rd,
                        .cols = cols, .rows = rows};
    }
    if (!s->multiport)
        s->port[0].added = s->port[0].console = true;
    int rc = con_qemu_is(c) ? con_qemu_connect(c, e) : 0;
    if (rc < 0)
        return rc;
    if (s->emerg_expect_n) { /* the emergency writes of the negotiation */
        rc = con_host_drain(c, 0, s->emerg_early, s->emerg_expect_n, e);
        s->emerg_expect_n = 0;
        if (rc < 0)
            return rc;
    }
    if (s->multiport && !(s->mut & CON_DRV_MUT_NO_DEVICE_READY))
        queue_out(s, BAD_ID, VS_CONSOLE_DEVICE_READY, 1);
    return con_pump(c, NULL, NULL, e);
}
