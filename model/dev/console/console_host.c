/* The host end of the reference console's ports (virtiosim/console.h): what the simulator
 * scripts — writes, reads, open/close, hot add/remove, resize. */
#include <stdio.h>
#include <string.h>

#include "model/dev/console/console_int.h"
#include "virtiosim/virtio.h"

static int port_of(vs_device *d, uint32_t port, con_dev **out, vs_err *e)
{
    if (!vs_console_is(d))
        return vs_err_set(e, VS_EINVAL, "console: not a console device");
    con_dev *c = to_con(d);
    if (port >= c->nports)
        return vs_err_set(e, VS_EINVAL, "console: port %u >= %u ports", port, c->nports);
    *out = c;
    return 0;
}

int vs_console_host_write(vs_device *d, uint32_t port, const uint8_t *buf, size_t n,
                          vs_err *e)
{
    con_dev *c = NULL;
    int rc = port_of(d, port, &c, e);
    if (rc < 0)
        return rc;
    if (!c->port[port].added)
        return vs_err_set(e, VS_ESTATE, "console: port %u is not added", port);
    if (vs__cbuf_push(&c->port[port].in, buf, n) < 0)
        return vs_err_set(e, VS_ENOMEM, "console: out of memory");
    vs__con_serve(c, vs_console_rxq(port));
    return 0;
}

size_t vs_console_host_read(vs_device *d, uint32_t port, uint8_t *buf, size_t cap)
{
    con_dev *c = NULL;
    if (port_of(d, port, &c, NULL) < 0)
        return 0;
    return vs__cbuf_take(&c->port[port].out, buf, cap);
}

int vs_console_host_open(vs_device *d, uint32_t port, bool open, vs_err *e)
{
    con_dev *c = NULL;
    int rc = port_of(d, port, &c, e);
    if (rc < 0)
        return rc;
    cport *p = &c->port[port];
    p->host_open = open;
    if (c->multiport && p->added && p->ready) {
        vs_console_ctrl m = {.id = port, .event = VS_CONSOLE_PORT_OPEN, .value = open};
        if (vs__con_send(c, &m) < 0)
            return vs_err_set(e, VS_ENOMEM, "console: out of memory");
    }
    return 0;
}

int vs_console_port_add(vs_device *d, uint32_t port, const vs_console_port_opts *po,
                        vs_err *e)
{
    con_dev *c = NULL;
    int rc = port_of(d, port, &c, e);
    if (rc < 0)
        return rc;
    if (!c->multiport)
        return vs_err_set(e, VS_ESTATE, "console: hot add needs MULTIPORT");
    cport *p = &c->port[port];
    if (p->added)
        return vs_err_set(e, VS_ESTATE, "console: port %u is already added", port);
    p->added = true;
    p->ready = p->guest_open = false;
    p->console = po && po->console;
    p->host_open = po && po->host_open;
    snprintf(p->name, sizeof p->name, "%s", po ? po->name : "");
    if (c->device_ready) {
        vs_console_ctrl m = {.id = port, .event = VS_CONSOLE_DEVICE_ADD, .value = 1};
        if (vs__con_send(c, &m) < 0)
            return vs_err_set(e, VS_ENOMEM, "console: out of memory");
    }
    return 0;
}

int vs_console_port_remove(vs_device *d, uint32_t port, vs_err *e)
{
    con_dev *c = NULL;
    int rc = port_of(d, port, &c, e);
    if (rc < 0)
        return rc;
    if (!c->multiport)
        return vs_err_set(e, VS_ESTATE, "console: hot remove needs MULTIPORT");
    cport *p = &c->port[port];
    if (!p->added)
        return vs_err_set(e, VS_ESTATE, "console: port %u is not added", port);
    p->added = p->ready = p->guest_open = false;
    vs__cbuf_take(&p->in, NULL, p->in.len);
    if (!c->device_ready)
        return 0;
    vs_console_ctrl m = {.id = port, .event = VS_CONSOLE_DEVICE_REMOVE, .value = 1};
    if (vs__con_send(c, &m) < 0)
        return vs_err_set(e, VS_ENOMEM, "console: out of memory");
    if (c->dev.mutations & VS_CONSOLE_MUT_REMOVE_UNKNOWN) { /* mutant */
        for (uint32_t i = 0; i < c->nports; i++)
            if (!c->port[i].added && i != port) {
                m.id = i;
                vs__con_send(c, &m);
                break;
            }
    }
    return 0;
}

int vs_console_resize(vs_device *d, uint32_t port, uint16_t cols, uint16_t rows, vs_err *e)
{
    con_dev *c = NULL;
    int rc = port_of(d, port, &c, e);
    if (rc < 0)
        return rc;
    if (c->multiport) {
        if (!c->port[port].added)
            return vs_err_set(e, VS_ESTATE, "console: port %u is not added", port);
        vs_console_ctrl m = {.id = port, .event = VS_CONSOLE_RESIZE, .has_size = true,
                             .cols = cols, .rows = rows};
        if (vs__con_send(c, &m) < 0)
            return vs_err_set(e, VS_ENOMEM, "console: out of memory");
        return 0;
    }
    if (!(c->features & VS_BIT(VS_CONSOLE_F_SIZE)))
        return vs_err_set(e, VS_ESTATE, "console: resize without SIZE or MULTIPORT");
    c->cols = cols;
    c->rows = rows;
    c->dev.config_generation++;
    return 1;
}

int vs_console_port_get(const vs_device *d, uint32_t port, vs_console_port_state *st)
{
    con_dev *c = NULL;
    if (port_of((vs_device *)d, port, &c, NULL) < 0)
        return -VS_EINVAL;
    const cport *p = &c->port[port];
    *st = (vs_console_port_state){
        .added = p->added, .ready = p->ready, .guest_open = p->guest_open,
        .host_open = p->host_open, .in_pending = p->in.len, .out_pending = p->out.len,
        .delivered = p->delivered, .consumed = p->consumed,
    };
    return 0;
}

void vs_console_stats_get(const vs_device *d, vs_console_stats *st)
{
    memset(st, 0, sizeof *st);
    if (vs_console_is(d))
        *st = to_con((vs_device *)d)->st;
}
