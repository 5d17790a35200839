/* virtio-console's scenario steps (sim/step_dev.h): the host end of a port (host_write,
 * host_open, port_add, port_remove, resize), the guest side (guest_write, guest_open,
 * rx_refill, emerg_write), a raw control message (console_control) and console_expect. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/dev/console/console_sim_int.h"
#include "virtiosim/le.h"
#include "virtiosim/transport_pci.h"
#include "virtiosim/transport_ref.h"

#define UNSET (-1)

typedef struct con_step {
    uint32_t port;
    uint64_t bytes;
    uint32_t chunk, depth;
    bool wait, flag, early, is_console;
    char *name, *text;
    uint16_t cols, rows;
    /* console_control */
    uint32_t event, id;
    uint16_t value;
    uint8_t raw[64];
    uint32_t raw_len;
    bool has_raw;
    int expect_rejected;             /* UNSET, 0 accepted, 1 rejected */
    /* console_expect */
    int added, ready, guest_open, host_open, console;
    int64_t received, sent, rejected, want_cols, want_rows;
} con_step;

#define P ((con_step *)((vs_step *)ctx)->dev)
#define PARSER(fn) static int fn(vs_loader *L, const yaml_node_t *v, void *ctx)

static int tri(vs_loader *L, const yaml_node_t *v, int *out)
{
    bool b;
    int r = vs_ld_bool(L, v, &b);
    *out = b;
    return r;
}
static int i64(vs_loader *L, const yaml_node_t *v, int64_t *out)
{
    uint64_t n;
    int r = vs_ld_size(L, v, &n);
    *out = (int64_t)n;
    return r;
}

PARSER(s_port) { return vs_ld_u32(L, v, CON_PORTS - 1, &P->port); }
PARSER(s_bytes) { return vs_ld_size(L, v, &P->bytes); }
PARSER(s_chunk)
{
    uint64_t n;
    int r = vs_ld_size(L, v, &n);
    if (r == 0 && (n == 0 || n > (1u << 20)))
        return vs_ld_fail(L, v, "chunk must be 1 byte to 1MiB");
    P->chunk = (uint32_t)n;
    return r;
}
PARSER(s_depth)
{
    int r = vs_ld_u32(L, v, VS_VQ_MAX_SIZE, &P->depth);
    if (r == 0 && P->depth == 0)
        return vs_ld_fail(L, v, "depth must be at least 1");
    return r;
}
PARSER(s_wait) { return vs_ld_bool(L, v, &P->wait); }
PARSER(s_flag) { return vs_ld_bool(L, v, &P->flag); }
PARSER(s_early) { return vs_ld_bool(L, v, &P->early); }
PARSER(s_console) { return vs_ld_bool(L, v, &P->is_console); }
PARSER(s_name)
{
    int r = vs_ld_str(L, v, &P->name);
    if (r == 0 && strlen(P->name) > VS_CONSOLE_NAME_MAX)
        return vs_ld_fail(L, v, "a port name has at most %u bytes", VS_CONSOLE_NAME_MAX);
    return r;
}
PARSER(s_text)
{
    int r = vs_ld_str(L, v, &P->text);
    if (r == 0 && (!P->text[0] || strlen(P->text) > CON_EMERG_MAX))
        return vs_ld_fail(L, v, "text must have 1 to %u bytes", CON_EMERG_MAX);
    return r;
}
PARSER(s_cols) { return vs_ld_u16(L, v, UINT16_MAX, &P->cols); }
PARSER(s_rows) { return vs_ld_u16(L, v, UINT16_MAX, &P->rows); }
PARSER(s_event)
{
    uint16_t ev;
    const char *s = vs_ld_scalar(v);
    if (s && vs_console_event_parse(s, &ev) == 0) {
        P->event = ev;
        return 0;
    }
    if (s && s[0] >= '0' && s[0] <= '9')
        return vs_ld_u32(L, v, UINT16_MAX, &P->event);
    return vs_ld_fail(L, v, "expected a control event (DEVICE_READY, DEVICE_ADD, DEVICE_REMOVE, "
                      "PORT_READY, CONSOLE_PORT, RESIZE, PORT_OPEN, PORT_NAME) or a number");
}
PARSER(s_id) { return vs_ld_u32(L, v, UINT32_MAX, &P->id); }
PARSER(s_value) { return vs_ld_u16(L, v, UINT16_MAX, &P->value); }
PARSER(s_raw)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return vs_ld_fail(L, v, "expected a list of byte values such as [1, 0, 0]");
    P->has_raw = true;
    P->raw_len = 0;
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        uint32_t b;
        const yaml_node_t *n = vs_ld_node(L, *i);
        if (P->raw_len >= sizeof P->raw)
            return vs_ld_fail(L, n, "at most %zu bytes", sizeof P->raw);
        int r = vs_ld_u32(L, n, 255, &b);
        if (r < 0)
            return r;
        P->raw[P->raw_len++] = (uint8_t)b;
    }
    if (!P->raw_len)
        return vs_ld_fail(L, v, "a raw control message needs at least one byte");
    return 0;
}
PARSER(s_expect)
{
    static const char *const names[] = {"accepted", "rejected"};
    return vs_ld_enum(L, v, names, 2, &P->expect_rejected);
}
PARSER(x_added) { return tri(L, v, &P->added); }
PARSER(x_ready) { return tri(L, v, &P->ready); }
PARSER(x_gopen) { return tri(L, v, &P->guest_open); }
PARSER(x_hopen) { return tri(L, v, &P->host_open); }
PARSER(x_console) { return tri(L, v, &P->console); }
PARSER(x_received) { return i64(L, v, &P->received); }
PARSER(x_sent) { return i64(L, v, &P->sent); }
PARSER(x_rejected) { return i64(L, v, &P->rejected); }
PARSER(x_cols) { return i64(L, v, &P->want_cols); }
PARSER(x_rows) { return i64(L, v, &P->want_rows); }

static void step_defaults(const vs_scenario *s, vs_step *t)
{
    (void)s;
    con_step *p = t->dev;
    p->wait = true;
    p->flag = true;
    p->chunk = 4096;
    p->depth = 16;
    p->expect_rejected = UNSET;
    p->added = p->ready = p->guest_open = p->host_open = p->console = UNSET;
    p->received = p->sent = p->rejected = p->want_cols = p->want_rows = UNSET;
}

static void step_free(void *params)
{
    con_step *p = params;
    free(p->name);
    free(p->text);
}

/* A port beyond the device's ports, or a multiport-only step on a single-port device. */
static int validate_port(const vs_scenario *s, const vs_step *t, vs_err *e)
{
    const con_scn_opts *o = con_opts_of(s);
    const con_step *p = t->dev;
    uint32_t n = o->dev.multiport ? o->dev.max_nr_ports : 1;
    if (p->port >= n)
        return vs_err_set(e, VS_EINVAL, "%s:%u:%u: port %u, the device has %u port(s)%s",
                          s->path, t->line, t->col, p->port, n,
                          o->dev.multiport ? "" : " (no multiport)");
    return 0;
}

static int validate_multiport(const vs_scenario *s, const vs_step *t, vs_err *e)
{
    if (!con_opts_of(s)->dev.multiport)
        return vs_err_set(e, VS_EINVAL, "%s:%u:%u: %s needs `device: {multiport: true}`",
                          s->path, t->line, t->col, t->type->name);
    return validate_port(s, t, e);
}

static void describe_port(const vs_step *t, char *buf, size_t n)
{
    const con_step *p = t->dev;
    snprintf(buf, n, "%s port %u", t->type->name, p->port);
}

static void describe_bytes(const vs_step *t, char *buf, size_t n)
{
    const con_step *p = t->dev;
    snprintf(buf, n, "%s port %u bytes %" PRIu64, t->type->name, p->port, p->bytes);
}

static uint64_t write_bytes(const vs_step *t)
{
    const con_step *p = t->dev;
    return (uint64_t)p->chunk * p->depth + (4u << 20);
}

/* ------------------------------------------------------------------ running */

/* The in-process device: the host end the steps script. */
static int need_ref(vs_run_ctx *c)
{
    if (!c->dev || !vs_console_is(c->dev))
        return vs_run_expect_failed(c, "%s needs the in-process console's host end",
                                    c->step_desc);
    return 0;
}

/* pumped(): the device went idle before done() held (nothing recorded yet). */
#define NOT_DONE 3

static int pumped(vs_run_ctx *c, con_done_fn done, const void *arg)
{
    vs_err e = {0};
    int rc = con_pump(c, done, arg, &e);
    if (rc == -VS_EPROTO)
        return vs_run_expect_failed(c, "%s", e.msg);
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    if (done && !done(c, arg))
        return NOT_DONE; /* the caller says what is missing */
    return 0;
}

/* The bring-up after init went well; steps that script the host end through the
 * in-process device check that too (need_ref). */
static int bringup(vs_run_ctx *c)
{
    con_drv *s = con_of(c->d);
    if (s->bringup_err[0])
        return vs_run_expect_failed(c, "bring-up after init failed: %s", s->bringup_err);
    return 0;
}

static int bringup_ref(vs_run_ctx *c)
{
    int rc = bringup(c);
    return rc ? rc : need_ref(c);
}

/* A port is used by a guest application: with MULTIPORT it opens it first (PORT_OPEN 1,
 * as Linux does when /dev/vportNpM is opened; QEMU passes no data to a port the guest
 * has not opened). */
static int guest_uses(vs_run_ctx *c, uint32_t port)
{
    con_drv *s = con_of(c->d);
    if (!s->multiport || s->port[port].guest_open || !s->port[port].added)
        return 0;
    vs_err e = {0};
    vs_console_ctrl m = {.id = port, .event = VS_CONSOLE_PORT_OPEN, .value = 1};
    int rc = con_send_ctrl(c->d, &m, &e);
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    s->port[port].guest_open = true;
    return 0;
}

static bool delivered(vs_run_ctx *c, const void *arg)
{
    const con_port *p = &con_of(c->d)->port[*(const uint32_t *)arg];
    return p->rx == p->host_wr;
}

/* A pump that ended (rc) before the host's bytes on port all reached the guest. */
static int undelivered(vs_run_ctx *c, uint32_t port, int rc)
{
    const con_port *cp = &con_of(c->d)->port[port];
    return rc == NOT_DONE ? vs_run_expect_failed(c, "port %u: %" PRIu64 " of %" PRIu64
                                                 " bytes received, then the device stopped",
                                                 port, cp->rx, cp->host_wr)
                          : rc;
}

static int run_host_write(vs_run_ctx *c, const vs_step *t)
{
    const con_step *p = t->dev;
    int rc = bringup(c);
    if (rc)
        return rc;
    if ((rc = guest_uses(c, p->port)) != 0)
        return rc;
    vs_err e = {0};
    for (uint64_t left = p->bytes; left;) {
        uint64_t k = left < (1u << 20) ? left : (1u << 20);
        if ((rc = con_host_write(c, p->port, k, &e)) < 0)
            return vs_run_expect_failed(c, "host write: %s", e.msg);
        left -= k;
        if (!p->wait)
            continue;
        if ((rc = pumped(c, delivered, &p->port)) != 0)
            return undelivered(c, p->port, rc);
    }
    /* bytes 0 with wait: until what the host wrote before is all received */
    if ((rc = pumped(c, p->wait ? delivered : NULL, &p->port)) != 0)
        return undelivered(c, p->port, rc);
    vs_run_expect_ok(c, p->wait ? "host bytes received" : "host bytes written");
    return 0;
}

static bool sent(vs_run_ctx *c, const void *arg)
{
    const con_port *p = &con_of(c->d)->port[*(const uint32_t *)arg];
    return p->host_rd == p->tx_queued;
}

static int run_guest_write(vs_run_ctx *c, const vs_step *t)
{
    const con_step *p = t->dev;
    int rc = bringup(c);
    if (rc)
        return rc;
    if ((rc = guest_uses(c, p->port)) != 0)
        return rc;
    vs_err e = {0};
    uint16_t q = vs_console_txq(p->port);
    con_port *cp = &con_of(c->d)->port[p->port];
    for (uint64_t left = p->bytes; left;) {
        while (left && vs_driver_outstanding(c->d, q) < p->depth) {
            uint32_t k = left < p->chunk ? (uint32_t)left : p->chunk;
            if ((rc = con_tx_submit(c->d, p->port, k, &e)) < 0)
                return vs_run_driver_error(c, rc, &e);
            left -= k;
        }
        if ((rc = vs_driver_flush(c->d, q, &e)) < 0)
            return vs_run_driver_error(c, rc, &e);
        while (vs_driver_outstanding(c->d, q) >= p->depth) {
            if ((rc = vs_driver_wait(c->d, 1000000ull, &e)) < 0)
                return vs_run_driver_error(c, rc, &e);
            while (vs_driver_take_result(c->d, NULL))
                ;
            if ((rc = con_host_drain(c, p->port, NULL, 0, &e)) < 0)
                return vs_run_expect_failed(c, "%s", e.msg);
            if (vs_driver_needs_reset(c->d))
                return vs_run_expect_failed(c, "the device set DEVICE_NEEDS_RESET");
        }
    }
    if ((rc = pumped(c, sent, &p->port)) != 0)
        return rc == NOT_DONE
                   ? vs_run_expect_failed(c, "port %u: the host read %" PRIu64 " of %" PRIu64
                                          " bytes", p->port, cp->host_rd, cp->tx_queued)
                   : rc;
    vs_run_expect_ok(c, "guest bytes reached the host");
    return 0;
}

static int run_host_open(vs_run_ctx *c, const vs_step *t)
{
    const con_step *p = t->dev;
    int rc = bringup_ref(c);
    vs_err e = {0};
    if (rc == 0 && (rc = vs_console_host_open(c->dev, p->port, p->flag, &e)) < 0)
        return vs_run_expect_failed(c, "host open: %s", e.msg);
    if (rc || (rc = pumped(c, NULL, NULL)) != 0)
        return rc;
    if (con_of(c->d)->port[p->port].host_open != p->flag)
        return vs_run_expect_failed(c, "port %u: the driver did not learn the host end is %s",
                                    p->port, p->flag ? "open" : "closed");
    vs_run_expect_ok(c, p->flag ? "host end open" : "host end closed");
    return 0;
}

static int run_guest_open(vs_run_ctx *c, const vs_step *t)
{
    const con_step *p = t->dev;
    int rc = bringup_ref(c);
    if (rc)
        return rc;
    vs_err e = {0};
    vs_console_ctrl m = {.id = p->port, .event = VS_CONSOLE_PORT_OPEN, .value = p->flag};
    if ((rc = con_send_ctrl(c->d, &m, &e)) < 0)
        return vs_run_driver_error(c, rc, &e);
    con_of(c->d)->port[p->port].guest_open = p->flag;
    if ((rc = pumped(c, NULL, NULL)) != 0)
        return rc;
    vs_console_port_state st;
    if (vs_console_port_get(c->dev, p->port, &st) == 0 && st.guest_open != p->flag)
        return vs_run_expect_failed(c, "port %u: the device did not take PORT_OPEN %u",
                                    p->port, p->flag);
    vs_run_expect_ok(c, "PORT_OPEN sent");
    return 0;
}

static int run_port_add(vs_run_ctx *c, const vs_step *t)
{
    const con_step *p = t->dev;
    bool qemu = con_qemu_is(c);
    int rc = qemu ? bringup(c) : bringup_ref(c);
    if (rc)
        return rc;
    vs_err e = {0};
    vs_console_port_opts po = {.added = true, .console = p->is_console,
                               .host_open = p->flag};
    snprintf(po.name, sizeof po.name, "%s", p->name ? p->name : "");
    rc = qemu ? con_qemu_port_add(c, p->port, &po, &e)
              : vs_console_port_add(c->dev, p->port, &po, &e);
    if (rc < 0)
        return vs_run_expect_failed(c, "port add: %s", e.msg);
    if ((rc = pumped(c, NULL, NULL)) != 0)
        return rc;
    const con_port *cp = &con_of(c->d)->port[p->port];
    /* QEMU's side of the port is not ours to read: the driver's view is judged there */
    vs_console_port_state st = {.ready = true};
    if (!qemu)
        vs_console_port_get(c->dev, p->port, &st);
    if (!cp->added || !st.ready)
        return vs_run_expect_failed(c, "port %u: %s", p->port,
                                    !cp->added ? "the driver never saw DEVICE_ADD"
                                               : "the device never got PORT_READY");
    if (strcmp(cp->name, po.name) != 0)
        return vs_run_expect_failed(c, "port %u: the driver knows it as \"%s\", not \"%s\"",
                                    p->port, cp->name, po.name);
    vs_run_expect_ok(c, "port added");
    return 0;
}

static int run_port_remove(vs_run_ctx *c, const vs_step *t)
{
    const con_step *p = t->dev;
    bool qemu = con_qemu_is(c);
    int rc = qemu ? bringup(c) : bringup_ref(c);
    if (rc)
        return rc;
    vs_err e = {0};
    rc = qemu ? con_qemu_port_remove(c, p->port, &e) : vs_console_port_remove(c->dev, p->port, &e);
    if (rc < 0)
        return vs_run_expect_failed(c, "port remove: %s", e.msg);
    if ((rc = pumped(c, NULL, NULL)) != 0)
        return rc;
    if (con_of(c->d)->port[p->port].added)
        return vs_run_expect_failed(c, "port %u: the driver never saw DEVICE_REMOVE", p->port);
    vs_run_expect_ok(c, "port removed");
    return 0;
}

/* Without MULTIPORT a resize is a config change: the driver reads cols and rows again
 * once the config interrupt came. */
static int run_resize(vs_run_ctx *c, const vs_step *t)
{
    const con_step *p = t->dev;
    int rc = bringup_ref(c);
    if (rc)
        return rc;
    vs_err e = {0};
    if ((rc = vs_console_resize(c->dev, p->port, p->cols, p->rows, &e)) < 0)
        return vs_run_expect_failed(c, "resize: %s", e.msg);
    if (rc == 1)
        rc = vs_ref_is(c->t) ? vs_ref_config_changed(c->t, &e)
                             : vs_pci_model_transport_config_changed(c->t, &e);
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    if ((rc = pumped(c, NULL, NULL)) != 0)
        return rc;
    con_port *cp = &con_of(c->d)->port[p->port];
    if (!con_of(c->d)->multiport) {
        uint8_t b[4];
        if ((rc = vs_driver_config_read(c->d, VS_CONSOLE_CFG_COLS, b, 4, &e)) < 0)
            return vs_run_driver_error(c, rc, &e);
        cp->cols = vs_le16_get(b);
        cp->rows = vs_le16_get(b + 2);
    }
    if (cp->cols != p->cols || cp->rows != p->rows)
        return vs_run_expect_failed(c, "port %u: the driver sees %ux%u, the host set %ux%u",
                                    p->port, cp->cols, cp->rows, p->cols, p->rows);
    vs_run_expect_ok(c, "resized");
    return 0;
}

static int run_rx_refill(vs_run_ctx *c, const vs_step *t)
{
    const con_step *p = t->dev;
    int rc = bringup(c);
    if (rc)
        return rc;
    con_of(c->d)->port[p->port].refill_off = !p->flag;
    if ((rc = pumped(c, NULL, NULL)) != 0)
        return rc;
    vs_run_expect_ok(c, p->flag ? "receive buffers refilled" : "receive buffers held back");
    return 0;
}

/* An emergency write now (drained before and after: the bytes must come next on port 0's
 * host output), or at the next init, before FEATURES_OK. */
static int run_emerg(vs_run_ctx *c, const vs_step *t)
{
    const con_step *p = t->dev;
    con_drv *s = con_of(c->d);
    size_t n = strlen(p->text);
    if (p->early) {
        memcpy(s->emerg_early, p->text, n);
        s->emerg_early_n = (uint32_t)n;
        vs_run_expect_ok(c, "emergency write at the next init");
        return 0;
    }
    int rc = bringup_ref(c);
    if (rc)
        return rc;
    vs_err e = {0};
    if ((rc = con_host_drain(c, 0, NULL, 0, &e)) < 0)
        return vs_run_expect_failed(c, "%s", e.msg);
    for (size_t i = 0; i < n; i++) {
        uint8_t v[4] = {(uint8_t)p->text[i], 0, 0, 0};
        if ((rc = vs_driver_config_write(c->d, VS_CONSOLE_CFG_EMERG_WR, v, 4, &e)) < 0)
            return vs_run_driver_error(c, rc, &e);
    }
    if ((rc = con_host_drain(c, 0, (const uint8_t *)p->text, (uint32_t)n, &e)) < 0)
        return vs_run_expect_failed(c, "%s", e.msg);
    vs_run_expect_ok(c, "emergency write on the host output");
    return 0;
}

/* A control message as the step writes it (or raw bytes); the in-process device must
 * take a hostile one as such: count it, report it, stay up. */
static int run_control(vs_run_ctx *c, const vs_step *t)
{
    const con_step *p = t->dev;
    int rc = bringup(c);
    if (rc)
        return rc;
    vs_err e = {0};
    vs_console_stats before, after;   /* zeroes on a real back-end: not judged there */
    vs_console_stats_get(c->dev, &before);
    if (p->has_raw) {
        rc = con_send_raw(c->d, p->raw, p->raw_len, &e);
    } else {
        uint8_t buf[VS_CONSOLE_CTRL_LEN];
        vs_le32_put(buf, p->id);
        vs_le16_put(buf + 4, (uint16_t)p->event);
        vs_le16_put(buf + 6, p->value);
        rc = con_send_raw(c->d, buf, sizeof buf, &e);
    }
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    if ((rc = pumped(c, NULL, NULL)) != 0)
        return rc;
    vs_console_stats_get(c->dev, &after);
    bool rejected = after.rejected > before.rejected;
    if (vs_console_is(c->dev) && p->expect_rejected != UNSET &&
        rejected != (bool)p->expect_rejected)
        return vs_run_expect_failed(c, "the device %s the message%s%s",
                                    rejected ? "rejected" : "accepted", rejected ? ": " : "",
                                    rejected ? after.last_rejected : "");
    vs_run_expect_ok(c, rejected ? after.last_rejected : "control message taken");
    return 0;
}

#define EXPECT_FLAG(want, seen, what)                                                     \
    if ((want) != UNSET && (bool)(want) != (seen))                                        \
        return vs_run_expect_failed(c, "port %u: %s is %s, expected %s", p->port, what,   \
                                    (seen) ? "true" : "false", (want) ? "true" : "false")
#define EXPECT_NUM(want, seen, what)                                                      \
    if ((want) != UNSET && (uint64_t)(want) != (uint64_t)(seen))                          \
        return vs_run_expect_failed(c, "port %u: %s %" PRIu64 ", expected %" PRId64,       \
                                    p->port, what, (uint64_t)(seen), (int64_t)(want))

static int run_expect(vs_run_ctx *c, const vs_step *t)
{
    const con_step *p = t->dev;
    int rc = bringup(c);
    if (rc)
        return rc;
    const con_port *cp = &con_of(c->d)->port[p->port];
    vs_console_stats st;
    vs_console_stats_get(c->dev, &st); /* zeroes when the device is not the in-process one */
    EXPECT_FLAG(p->added, cp->added, "added (the driver's view)");
    EXPECT_FLAG(p->ready, cp->ready_sent, "ready (PORT_READY sent)");
    EXPECT_FLAG(p->guest_open, cp->guest_open, "guest_open");
    EXPECT_FLAG(p->host_open, cp->host_open, "host_open (the driver's view)");
    EXPECT_FLAG(p->console, cp->console, "console");
    EXPECT_NUM(p->received, cp->rx, "bytes received");
    EXPECT_NUM(p->sent, cp->host_rd, "bytes the host read");
    if (vs_console_is(c->dev)) /* the in-process device's count */
        EXPECT_NUM(p->rejected, st.rejected, "control messages rejected");
    EXPECT_NUM(p->want_cols, cp->cols, "cols");
    EXPECT_NUM(p->want_rows, cp->rows, "rows");
    if (p->name && strcmp(p->name, cp->name) != 0)
        return vs_run_expect_failed(c, "port %u: name \"%s\", expected \"%s\"", p->port,
                                    cp->name, p->name);
    vs_run_expect_ok(c, "console as expected");
    return 0;
}

/* ------------------------------------------------------------------ schemas */

static const vs_field host_write_fields[] = {
    {"port", s_port}, {"bytes", s_bytes}, {"wait", s_wait}, {NULL, NULL}};
static const vs_field guest_write_fields[] = {
    {"port", s_port}, {"bytes", s_bytes}, {"chunk", s_chunk}, {"depth", s_depth},
    {NULL, NULL}};
static const vs_field open_fields[] = {{"port", s_port}, {"open", s_flag}, {NULL, NULL}};
static const vs_field add_fields[] = {
    {"port", s_port}, {"name", s_name}, {"console", s_console}, {"host_open", s_flag},
    {NULL, NULL}};
static const vs_field port_fields[] = {{"port", s_port}, {NULL, NULL}};
static const vs_field resize_fields[] = {
    {"port", s_port}, {"cols", s_cols}, {"rows", s_rows}, {NULL, NULL}};
static const vs_field refill_fields[] = {{"port", s_port}, {"enabled", s_flag}, {NULL, NULL}};
static const vs_field emerg_fields[] = {{"text", s_text}, {"early", s_early}, {NULL, NULL}};
static const vs_field control_fields[] = {
    {"event", s_event}, {"id", s_id}, {"value", s_value}, {"bytes", s_raw},
    {"expect", s_expect}, {NULL, NULL}};
static const vs_field expect_fields[] = {
    {"port", s_port}, {"added", x_added}, {"ready", x_ready}, {"guest_open", x_gopen},
    {"host_open", x_hopen}, {"console", x_console}, {"name", s_name},
    {"received", x_received}, {"sent", x_sent}, {"rejected", x_rejected},
    {"cols", x_cols}, {"rows", x_rows}, {NULL, NULL}};

static int check_control(vs_loader *L, const yaml_node_t *body, vs_step *t)
{
    bool has_event = vs_ld_get(L, body, "event") != NULL;
    if (has_event == ((con_step *)t->dev)->has_raw)
        return vs_ld_fail(L, body, "console_control needs either 'event' (with 'id' and "
                          "'value') or 'bytes', not both");
    return 0;
}

#define STEP(var, nm, flds, req, runfn, ...)                                              \
    static const vs_step_type var = {                                                     \
        .name = nm, .fields = flds, .required = req, .params_size = sizeof(con_step),     \
        .defaults = step_defaults, .run = runfn, .free = step_free, __VA_ARGS__}
#define REQ(...) {__VA_ARGS__}

STEP(step_host_write, "host_write", host_write_fields, REQ("port", "bytes"), run_host_write,
     .validate = validate_port, .describe = describe_bytes);
STEP(step_guest_write, "guest_write", guest_write_fields, REQ("port", "bytes"),
     run_guest_write, .validate = validate_port, .describe = describe_bytes,
     .buffer_bytes = write_bytes);
STEP(step_host_open, "host_open", open_fields, REQ("port"), run_host_open,
     .validate = validate_multiport, .describe = describe_port);
STEP(step_guest_open, "guest_open", open_fields, REQ("port"), run_guest_open,
     .validate = validate_multiport, .describe = describe_port);
STEP(step_port_add, "port_add", add_fields, REQ("port"), run_port_add,
     .validate = validate_multiport, .describe = describe_port, .own_qemu = true);
STEP(step_port_remove, "port_remove", port_fields, REQ("port"), run_port_remove,
     .validate = validate_multiport, .describe = describe_port, .own_qemu = true);
STEP(step_resize, "resize", resize_fields, REQ("port", "cols", "rows"), run_resize,
     .validate = validate_port, .describe = describe_port);
STEP(step_rx_refill, "rx_refill", refill_fields, REQ("port", "enabled"), run_rx_refill,
     .validate = validate_port, .describe = describe_port);
STEP(step_emerg, "emerg_write", emerg_fields, REQ("text"), run_emerg);
STEP(step_control, "console_control", control_fields, REQ(NULL), run_control,
     .check = check_control, .validate = validate_multiport);
STEP(step_expect, "console_expect", expect_fields, REQ(NULL), run_expect,
     .validate = validate_port, .describe = describe_port);

static const vs_step_type *const console_steps[] = {
    &step_host_write, &step_guest_write, &step_host_open, &step_guest_open, &step_port_add,
    &step_port_remove, &step_resize, &step_rx_refill, &step_emerg, &step_control,
    &step_expect, NULL,
};

/* What a real back-end (QEMU's virtio-serial) cannot be asked: steps that script the host
 * end through the in-process device, its rejection count, a single-port device. */
const char *con_skip(const vs_scenario *s, unsigned caps)
{
    if (!(caps & VS_BE_REAL))
        return NULL;
    if (!con_opts_of(s)->dev.multiport)
        return "QEMU's virtio-serial always offers MULTIPORT";
    for (unsigned i = 0; i < s->nsteps; i++) {
        const vs_step *t = &s->steps[i];
        const con_step *p = t->dev;
        (void)p;
        if (t->type->run == run_host_open || t->type->run == run_guest_open ||
            t->type->run == run_resize || t->type->run == run_emerg)
            return "a step needs the in-process console's host end (resize, open/close, "
                   "emerg_wr output)";
        if ((t->type->run == run_port_add || t->type->run == run_port_remove) &&
            !(caps & VS_BE_QEMU))
            return "hot plug needs the in-process console or QEMU (QMP)";
        if (strcmp(t->type->name, "reset") == 0 && i + 1 < s->nsteps)
            return "host bytes not yet delivered at a reset: the in-process device drops "
                   "them, QEMU's chardev keeps what it had not taken (how much: timing)";
    }
    /* QEMU's command line holds at most 128 arguments: 4 a port */
    if (con_opts_of(s)->dev.max_nr_ports > 28)
        return "more than 28 ports do not fit on QEMU's command line here";
    return NULL;
}

/* ------------------------------------------------------------------ the core's steps */

static void after_init(vs_run_ctx *c)
{
    con_drv *s = con_of(c->d);
    vs_err e = {0};
    if (con_drv_start(c, &e) < 0 && !s->bringup_err[0])
        snprintf(s->bringup_err, sizeof s->bringup_err, "%.200s", e.msg);
}

extern const vs_field con_device_keys[];
void con_scenario_defaults(vs_scenario *s);
int con_scenario_finish(vs_loader *L, vs_scenario *s, const yaml_node_t *root);

const struct vs_step_set vs_console_step_set = {
    .steps = console_steps,
    .device_keys = con_device_keys,
    .options_size = sizeof(con_scn_opts),
    .defaults = con_scenario_defaults,
    .finish = con_scenario_finish,
    .feature_example = "VIRTIO_CONSOLE_F_MULTIPORT",
    .after_init = after_init,
    .config_probe_off = VS_CONSOLE_CFG_COLS,
    .config_probe_len = 4,
};
