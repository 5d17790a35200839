/* The virtio-console monitor extension: the control messages each side sends (decoded
 * from the chains with the console codec), emergency writes, and the byte stream of every
 * port in both directions, as far as the host end's I/O shows it (VS_EV_HOST_IO). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/monitor_dev.h"
#include "virtiosim/console.h"

#define IDS(...) (const char *const[]){__VA_ARGS__, NULL}
#define NOIDS (const char *const[]){NULL}
#define DEV VS_ROLE_DEVICE
#define DRV VS_ROLE_DRIVER
#define NPORT 32u                 /* port ids the monitors follow (max_nr_ports <= 31) */
#define FIFO_MAX (16u << 20)      /* bytes of a stream kept to compare; beyond: not judged */

enum {
    CK_CON_EMERG_ANY_TIME = CK_DEV_FIRST,
    CK_CON_EMERG_OUTPUT,
    CK_CON_ADD_NEW,
    CK_CON_REMOVE_ADDED,
    CK_CON_STREAM,
    CK_CON_HOSTILE,
    CK_CON_RX_WRITABLE,
    CK_CON_TX_READABLE,
    CK_CON_DEVICE_READY,
    CK_CON_PORT_OPEN_REPLY,
    CK_CON_END
};

static const vs_check_info console_checks[CK_CON_END - CK_DEV_FIRST] = {
    [CK_CON_EMERG_ANY_TIME - CK_DEV_FIRST] = {"console-emerg-any-time", DEV, "console",
        "an emerg_wr write before FEATURES_OK neither makes the device refuse FEATURES_OK nor "
        "takes its error path", IDS("console.device.console-init.1")},
    [CK_CON_EMERG_OUTPUT - CK_DEV_FIRST] = {"console-emerg-output", DEV, "console",
        "the low byte of every emerg_wr write shows on the port-0 host output (judged when "
        "the host end was read afterwards)", IDS("console.device.console-init.2")},
    [CK_CON_ADD_NEW - CK_DEV_FIRST] = {"console-add-new-port", DEV, "console",
        "DEVICE_ADD names a port below max_nr_ports that is not live",
        IDS("console.device.multiport.1")},
    [CK_CON_REMOVE_ADDED - CK_DEV_FIRST] = {"console-remove-added-port", DEV, "console",
        "DEVICE_REMOVE names a live port", IDS("console.device.multiport.2")},
    [CK_CON_STREAM - CK_DEV_FIRST] = {"console-stream-integrity", DEV, "console",
        "per port: the bytes delivered into receive buffers (up to used len) are those the "
        "host wrote, and the bytes the host reads are those the driver queued on the "
        "transmitq, in order, none lost or repeated (no catalogue row)", NOIDS},
    [CK_CON_HOSTILE - CK_DEV_FIRST] = {"console-hostile-survived", DEV, "console",
        "a control message no driver may send (short, unknown or device-only event, a port "
        ">= max_nr_ports, PORT_READY / PORT_OPEN for a port never added) is used without "
        "the device taking its error path (no catalogue row: robustness, the bug class ACRN "
        "fixed in virtio_console_control_tx)", NOIDS},
    [CK_CON_RX_WRITABLE - CK_DEV_FIRST] = {"console-rx-writable", DRV, "console",
        "receiveq buffers (data and control) are all device-writable",
        IDS("console.driver.console-op.1")},
    [CK_CON_TX_READABLE - CK_DEV_FIRST] = {"console-tx-readable", DRV, "console",
        "transmitq buffers (data and control) are all device-readable",
        IDS("console.driver.console-op.2")},
    [CK_CON_DEVICE_READY - CK_DEV_FIRST] = {"console-device-ready", DRV, "console",
        "with MULTIPORT negotiated, DEVICE_READY goes out on the control transmitq after "
        "DRIVER_OK (judged at reset or the end)", IDS("console.driver.multiport.1")},
    [CK_CON_PORT_OPEN_REPLY - CK_DEV_FIRST] = {"console-port-open-reply", DRV, "console",
        "a CONSOLE_PORT is answered with PORT_OPEN for that port, value 1 (unanswered: "
        "judged at reset or the end)",
        IDS("console.driver.multiport.3", "console.driver.multiport.4")},
};

/* A byte FIFO of a stream still to be matched. */
typedef struct fifo {
    uint8_t *p;
    size_t head, len, cap;
    bool lost;              /* over FIFO_MAX or out of memory: not judged any more */
} fifo;

typedef struct con_mon {
    bool max_known;
    uint32_t max_nr_ports;
    uint64_t live;          /* ports added and not removed (bit = id) */
    uint64_t console_pending; /* CONSOLE_PORT not yet answered */
    bool driver_ok, ready_sent;
    bool emerg_early;       /* emerg_wr written before FEATURES_OK, since the reset */
    bool hostile;           /* a hostile control message is with the device */
    uint32_t hostile_id;    /* ... its chain */
    bool emerg_read_after;  /* port-0 host output read since the last emerg write */
    fifo emerg;             /* emerg_wr bytes not yet seen on the host output */
    fifo rx[NPORT];         /* host wrote, not yet delivered */
    fifo tx[NPORT];         /* driver queued on the transmitq, not yet read by the host */
    uint8_t *tmp;
    size_t tmp_cap;
} con_mon;

static con_mon *S(vs_monitors *m) { return m->dev_state; }

static void fifo_push(fifo *f, const uint8_t *p, size_t n)
{
    if (f->lost || n == 0)
        return;
    if (f->head && f->head + f->len + n > f->cap) {
        memmove(f->p, f->p + f->head, f->len);
        f->head = 0;
    }
    if (f->len + n > f->cap) {
        size_t cap = f->cap ? f->cap : 4096;
        while (cap < f->len + n)
            cap *= 2;
        uint8_t *np = cap <= FIFO_MAX ? realloc(f->p, cap) : NULL;
        if (!np) {
            f->lost = true;
            return;
        }
        f->p = np;
        f->cap = cap;
    }
    memcpy(f->p + f->head + f->len, p, n);
    f->len += n;
}

static void fifo_drop(fifo *f, size_t n)
{
    f->head += n;
    f->len -= n;
    if (!f->len)
        f->head = 0;
}

static void fifo_clear(fifo *f)
{
    free(f->p);
    memset(f, 0, sizeof *f);
}

/* Bytes of a chain (readable or writable part, from off) into the scratch buffer. */
static const uint8_t *chain_bytes(vs_monitors *m, const chain_rec *c, bool writable,
                                  uint64_t n)
{
    con_mon *s = S(m);
    const uint8_t *span = chain_span(m, c, writable, 0, n);
    if (span || n == 0)
        return span ? span : (const uint8_t *)"";
    if (n > s->tmp_cap) {
        uint8_t *np = realloc(s->tmp, n);
        if (!np)
            return NULL;
        s->tmp = np;
        s->tmp_cap = n;
    }
    return chain_read(m, c, writable, 0, s->tmp, n) ? s->tmp : NULL;
}

static bool multiport(const vs_monitors *m)
{
    return has(neg(m), VS_CONSOLE_F_MULTIPORT);
}

/* ------------------------------------------------------------------ driver side */

static void judge_ready(vs_monitors *m)
{
    con_mon *s = S(m);
    if (s->driver_ok && multiport(m) && !s->ready_sent && role_on(m, CK_CON_DEVICE_READY))
        bad(m, CK_CON_DEVICE_READY, 0, qctx(VS_CONSOLE_CTRL_TXQ),
            "DEVICE_READY on the control transmitq after DRIVER_OK",
            "MULTIPORT negotiated, DRIVER_OK set, no DEVICE_READY sent");
    if (s->console_pending && role_on(m, CK_CON_PORT_OPEN_REPLY))
        bad(m, CK_CON_PORT_OPEN_REPLY, 0, qctx(VS_CONSOLE_CTRL_TXQ),
            "PORT_OPEN answering each CONSOLE_PORT",
            "CONSOLE_PORT for ports 0x%" PRIx64 " never answered", s->console_pending);
    s->console_pending = 0;
}

static void driver_message(vs_monitors *m, const vs_console_ctrl *msg, ctx cx)
{
    con_mon *s = S(m);
    if (msg->event == VS_CONSOLE_DEVICE_READY) {
        s->ready_sent = true;
        if (s->driver_ok && role_on(m, CK_CON_DEVICE_READY))
            ok(m, CK_CON_DEVICE_READY, 0);
    } else if (msg->event == VS_CONSOLE_PORT_OPEN && msg->id < NPORT &&
               (s->console_pending >> msg->id & 1)) {
        s->console_pending &= ~(UINT64_C(1) << msg->id);
        if (!role_on(m, CK_CON_PORT_OPEN_REPLY))
            return;
        ok(m, CK_CON_PORT_OPEN_REPLY, 0);
        if (msg->value == 1)
            ok(m, CK_CON_PORT_OPEN_REPLY, 1);
        else
            bad(m, CK_CON_PORT_OPEN_REPLY, 1, cx, "PORT_OPEN value 1 answering CONSOLE_PORT",
                "PORT_OPEN for port %u with value %u", msg->id, msg->value);
    }
}

/* A message no driver may send: only DEVICE_READY, PORT_READY and PORT_OPEN are the
 * driver's, and the last two name a port below max_nr_ports the device added. */
static bool hostile(vs_monitors *m, const vs_console_ctrl *msg)
{
    con_mon *s = S(m);
    if (msg->event == VS_CONSOLE_DEVICE_READY)
        return false;
    if (msg->event != VS_CONSOLE_PORT_READY && msg->event != VS_CONSOLE_PORT_OPEN)
        return true;
    if (s->max_known && msg->id >= s->max_nr_ports)
        return true;
    return msg->id >= NPORT || !(s->live >> msg->id & 1);
}

static void con_avail(vs_monitors *m, qstate *q, chain_rec *c, const vs_event *ev)
{
    (void)q;
    if (c->raw)
        return;
    int32_t qi = ev->queue;
    ctx cx = idctx(qi, ev->id);
    bool tx = qi & 1;
    unsigned ck = tx ? CK_CON_TX_READABLE : CK_CON_RX_WRITABLE;
    if (role_on(m, ck)) {
        bool good = tx ? c->n_out == c->nseg : c->n_out == 0;
        if (good)
            ok(m, ck, 0);
        else
            bad(m, ck, 0, cx, tx ? "only device-readable buffers on a transmitq"
                                 : "only device-writable buffers on a receiveq",
                "%u readable and %u writable descriptors", c->n_out, c->nseg - c->n_out);
    }
    if (!tx || c->out_bytes > (64u << 20))
        return;
    const uint8_t *b = chain_bytes(m, c, false, c->out_bytes);
    if (!b)
        return;
    if (qi == VS_CONSOLE_CTRL_TXQ && multiport(m)) {
        vs_console_ctrl msg;
        bool ok_msg = vs_console_ctrl_decode(b, c->out_bytes, &msg, NULL) == 0;
        if (ok_msg)
            driver_message(m, &msg, cx);
        if (!ok_msg || hostile(m, &msg)) {
            S(m)->hostile = true;
            S(m)->hostile_id = ev->id;
        }
        return;
    }
    uint32_t port;
    bool is_tx;
    if (vs_console_queue_port((uint16_t)qi, &port, &is_tx) && port < NPORT)
        fifo_push(&S(m)->tx[port], b, c->out_bytes);
}

/* ------------------------------------------------------------------ device side */

static void device_message(vs_monitors *m, const vs_console_ctrl *msg, ctx cx)
{
    con_mon *s = S(m);
    uint64_t bit = msg->id < NPORT ? UINT64_C(1) << msg->id : 0;
    switch (msg->event) {
    case VS_CONSOLE_DEVICE_ADD:
        if (!role_on(m, CK_CON_ADD_NEW))
            break;
        if ((s->max_known && msg->id >= s->max_nr_ports) || !bit)
            bad(m, CK_CON_ADD_NEW, 0, cx, "DEVICE_ADD for a port below max_nr_ports",
                "DEVICE_ADD for port %u, max_nr_ports %u", msg->id, s->max_nr_ports);
        else if (s->live & bit)
            bad(m, CK_CON_ADD_NEW, 0, cx, "DEVICE_ADD for a port that does not exist",
                "DEVICE_ADD for port %u, which is live", msg->id);
        else
            ok(m, CK_CON_ADD_NEW, 0);
        s->live |= bit;
        break;
    case VS_CONSOLE_DEVICE_REMOVE:
        if (role_on(m, CK_CON_REMOVE_ADDED)) {
            if (s->live & bit)
                ok(m, CK_CON_REMOVE_ADDED, 0);
            else
                bad(m, CK_CON_REMOVE_ADDED, 0, cx, "DEVICE_REMOVE for a live port",
                    "DEVICE_REMOVE for port %u, which was never added (or is removed)",
                    msg->id);
        }
        s->live &= ~bit;
        s->console_pending &= ~bit;
        break;
    case VS_CONSOLE_CONSOLE_PORT:
        s->console_pending |= bit;
        break;
    default:
        break;
    }
}

/* Delivered bytes of a receive buffer against what the host wrote. */
static void rx_delivered(vs_monitors *m, uint32_t port, const uint8_t *b, size_t n, ctx cx)
{
    fifo *f = &S(m)->rx[port];
    if (f->lost || !role_on(m, CK_CON_STREAM))
        return;
    if (n > f->len) {
        bad(m, CK_CON_STREAM, -1, cx, "no more bytes than the host wrote",
            "port %u: %zu bytes delivered, the host had %zu waiting", port, n, f->len);
        f->lost = true;
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (b[i] != f->p[f->head + i]) {
            bad(m, CK_CON_STREAM, -1, cx, "the host's bytes, in order",
                "port %u: byte %zu of the buffer is 0x%02x, the host wrote 0x%02x", port, i,
                b[i], f->p[f->head + i]);
            f->lost = true;
            return;
        }
    fifo_drop(f, n);
    ok(m, CK_CON_STREAM, -1);
}

static void con_used(vs_monitors *m, qstate *q, chain_rec *c, const vs_event *ev, ctx cx)
{
    (void)q;
    int32_t qi = ev->queue;
    con_mon *s = S(m);
    if (qi == VS_CONSOLE_CTRL_TXQ && s->hostile && ev->id == s->hostile_id) {
        s->hostile = false;
        if (role_on(m, CK_CON_HOSTILE))
            ok(m, CK_CON_HOSTILE, -1);
    }
    if (c->raw || (qi & 1))
        return;
    uint64_t n = ev->len < c->in_bytes ? ev->len : c->in_bytes;
    const uint8_t *b = chain_bytes(m, c, true, n);
    if (!b)
        return;
    if (qi == VS_CONSOLE_CTRL_RXQ && multiport(m)) {
        vs_console_ctrl msg;
        if (vs_console_ctrl_decode(b, n, &msg, NULL) == 0)
            device_message(m, &msg, cx);
        return;
    }
    uint32_t port;
    bool tx;
    if (vs_console_queue_port((uint16_t)qi, &port, &tx) && port < NPORT)
        rx_delivered(m, port, b, n, cx);
}

/* What the host read from a port's output: the transmitq's bytes in order, and on port 0
 * the emerg_wr bytes wherever they came. */
static void host_read(vs_monitors *m, uint32_t port, const uint8_t *b, size_t n)
{
    con_mon *s = S(m);
    fifo *f = &s->tx[port];
    if (port == 0)
        s->emerg_read_after = true;
    ctx cx = qctx(vs_console_txq(port));
    for (size_t i = 0; i < n; i++) {
        if (f->len && !f->lost && b[i] == f->p[f->head]) {
            fifo_drop(f, 1);
            continue;
        }
        if (port == 0 && s->emerg.len && b[i] == s->emerg.p[s->emerg.head]) {
            fifo_drop(&s->emerg, 1);
            if (role_on(m, CK_CON_EMERG_OUTPUT))
                ok(m, CK_CON_EMERG_OUTPUT, 0);
            continue;
        }
        if (f->lost || !role_on(m, CK_CON_STREAM))
            return;
        if (f->len)
            bad(m, CK_CON_STREAM, -1, cx, "the transmitted bytes, in order",
                "port %u: host read 0x%02x where the driver had queued 0x%02x", port, b[i],
                f->p[f->head]);
        else
            bad(m, CK_CON_STREAM, -1, cx, "only bytes the driver transmitted",
                "port %u: host read 0x%02x the driver never queued", port, b[i]);
        f->lost = true;
        return;
    }
    if (n && !f->lost && role_on(m, CK_CON_STREAM))
        ok(m, CK_CON_STREAM, -1);
}

static void con_event(vs_monitors *m, const vs_event *ev)
{
    con_mon *s = S(m);
    if (ev->kind == VS_EV_STATUS_WRITE && (ev->val & VS_STATUS_DRIVER_OK))
        s->driver_ok = true;
    if (ev->kind == VS_EV_DEVICE_ERROR && s->hostile && role_on(m, CK_CON_HOSTILE)) {
        bad(m, CK_CON_HOSTILE, -1, qctx(ev->queue), "a hostile control message used, the "
            "device up", "device error: %s", ev->text ? ev->text : "");
        s->hostile = false;
    }
    if (ev->kind == VS_EV_DEVICE_ERROR && s->emerg_early && role_on(m, CK_CON_EMERG_ANY_TIME))
        bad(m, CK_CON_EMERG_ANY_TIME, 0, qctx(ev->queue), "no device error after emerg_wr",
            "device error after an emerg_wr write before FEATURES_OK: %s",
            ev->text ? ev->text : "");
    if (ev->kind != VS_EV_HOST_IO || ev->queue < 0)
        return;
    uint32_t port;
    bool tx;
    if (!vs_console_queue_port((uint16_t)ev->queue, &port, &tx) || port >= NPORT)
        return;
    if (tx)
        host_read(m, port, ev->data, ev->data ? ev->len : 0);
    else if (ev->data)
        fifo_push(&s->rx[port], ev->data, ev->len);
}

static void con_config(vs_monitors *m, const vs_event *ev, bool write)
{
    con_mon *s = S(m);
    if (!write && ev->off == VS_CONSOLE_CFG_MAX_NR_PORTS && ev->len == 4) {
        s->max_known = true;
        s->max_nr_ports = (uint32_t)ev->val;
    }
    if (!write || ev->off != VS_CONSOLE_CFG_EMERG_WR || ev->len == 0)
        return;
    uint8_t byte = (uint8_t)ev->val;
    fifo_push(&s->emerg, &byte, 1);
    s->emerg_read_after = false;
    if (!(m->status_w & VS_STATUS_FEATURES_OK))
        s->emerg_early = true;
}

static void con_features_ok(vs_monitors *m, bool set)
{
    con_mon *s = S(m);
    if (!s->emerg_early || !role_on(m, CK_CON_EMERG_ANY_TIME))
        return;
    if (set)
        ok(m, CK_CON_EMERG_ANY_TIME, 0);
    else
        bad(m, CK_CON_EMERG_ANY_TIME, 0, NOCTX, "FEATURES_OK accepted after an early emerg_wr",
            "FEATURES_OK refused after an emerg_wr write before it");
}

static void judge_emerg(vs_monitors *m)
{
    con_mon *s = S(m);
    if (s->emerg.len && s->emerg_read_after && role_on(m, CK_CON_EMERG_OUTPUT))
        bad(m, CK_CON_EMERG_OUTPUT, 0, qctx(1), "emerg_wr bytes on the port-0 host output",
            "%zu emerg_wr byte(s) (first 0x%02x) never reached it", s->emerg.len,
            s->emerg.p[s->emerg.head]);
    fifo_clear(&s->emerg);
}

static void con_reset(vs_monitors *m)
{
    con_mon *s = S(m);
    judge_ready(m);
    judge_emerg(m);
    s->live = 0;
    s->driver_ok = s->ready_sent = s->emerg_early = s->hostile = false;
    /* bytes the host wrote and the device had not delivered are dropped with the reset,
     * and so are transmissions the device had not taken (the host end is assumed read up
     * to the reset: what it reads afterwards was queued afterwards) */
    for (uint32_t i = 0; i < NPORT; i++) {
        fifo_clear(&s->rx[i]);
        fifo_clear(&s->tx[i]);
    }
}

static void con_finish(vs_monitors *m)
{
    judge_ready(m);
    judge_emerg(m);
}

static int con_create(vs_monitors *m, vs_err *e)
{
    if (!(m->dev_state = calloc(1, sizeof(con_mon))))
        return vs_err_set(e, VS_ENOMEM, "console monitors: out of memory");
    return 0;
}

static void con_destroy(vs_monitors *m)
{
    con_mon *s = S(m);
    if (!s)
        return;
    fifo_clear(&s->emerg);
    for (uint32_t i = 0; i < NPORT; i++) {
        fifo_clear(&s->rx[i]);
        fifo_clear(&s->tx[i]);
    }
    free(s->tmp);
    free(s);
    m->dev_state = NULL;
}

const vs_mon_dev vs_mon_devs_console = {
    .name = "console",
    .device_id = VS_DEV_CONSOLE,
    .checks = console_checks,
    .n_checks = CK_CON_END - CK_DEV_FIRST,
    .cfg_write_any_time_off = VS_CONSOLE_CFG_EMERG_WR,
    .cfg_write_any_time_len = 4,
    .create = con_create,
    .destroy = con_destroy,
    .reset = con_reset,
    .features_ok_read = con_features_ok,
    .config_access = con_config,
    .chain_avail = con_avail,
    .chain_used = con_used,
    .event = con_event,
    .finish = con_finish,
};
