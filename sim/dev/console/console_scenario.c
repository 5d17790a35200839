/* virtio-console's `device:` keys in a scenario (sim/step_dev.h): the features it offers,
 * the number of ports, its ports, the size of its console, and the driver model's
 * receive buffers. */
#include <stdio.h>
#include <string.h>

#include "sim/dev/console/console_sim_int.h"
#include "virtiosim/virtio.h"

#define S ((vs_scenario *)ctx)
#define O ((con_scn_opts *)S->dev_opts)
#define PARSER(fn) static int fn(vs_loader *L, const yaml_node_t *v, void *ctx)

PARSER(d_multiport) { return vs_ld_bool(L, v, &O->dev.multiport); }
PARSER(d_size) { return vs_ld_bool(L, v, &O->dev.size); }
PARSER(d_emerg) { return vs_ld_bool(L, v, &O->dev.emerg_write); }
PARSER(d_cols) { return vs_ld_u16(L, v, UINT16_MAX, &O->dev.cols); }
PARSER(d_rows) { return vs_ld_u16(L, v, UINT16_MAX, &O->dev.rows); }
PARSER(d_max)
{
    int r = vs_ld_u32(L, v, VS_CONSOLE_MAX_PORTS, &O->dev.max_nr_ports);
    if (r == 0 && O->dev.max_nr_ports == 0)
        return vs_ld_fail(L, v, "max_nr_ports must be 1 to %u", VS_CONSOLE_MAX_PORTS);
    return r;
}
PARSER(d_rx_buffers)
{
    int r = vs_ld_u32(L, v, VS_VQ_MAX_SIZE, &O->rx_buffers);
    if (r == 0 && O->rx_buffers == 0)
        return vs_ld_fail(L, v, "rx_buffers must be at least 1");
    return r;
}
PARSER(d_rx_size)
{
    uint64_t n;
    int r = vs_ld_size(L, v, &n);
    if (r == 0 && (n < 1 || n > (1u << 20)))
        return vs_ld_fail(L, v, "rx_buffer_size must be 1 byte to 1MiB");
    O->rx_buffer_size = (uint32_t)n;
    return r;
}

typedef struct port_ctx {
    vs_console_port_opts po;
    uint32_t id;
    bool has_id;
} port_ctx;
#define PC ((port_ctx *)ctx)
PARSER(p_id)
{
    PC->has_id = true;
    return vs_ld_u32(L, v, VS_CONSOLE_MAX_PORTS - 1, &PC->id);
}
PARSER(p_name)
{
    const char *s = vs_ld_scalar(v);
    if (!s || strlen(s) > VS_CONSOLE_NAME_MAX)
        return vs_ld_fail(L, v, "expected a port name of at most %u bytes",
                          VS_CONSOLE_NAME_MAX);
    snprintf(PC->po.name, sizeof PC->po.name, "%s", s);
    return 0;
}
PARSER(p_console) { return vs_ld_bool(L, v, &PC->po.console); }
PARSER(p_host_open) { return vs_ld_bool(L, v, &PC->po.host_open); }
PARSER(p_added) { return vs_ld_bool(L, v, &PC->po.added); }
static const vs_field port_fields[] = {
    {"id", p_id}, {"name", p_name}, {"console", p_console}, {"host_open", p_host_open},
    {"added", p_added}, {NULL, NULL},
};
PARSER(d_ports)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return vs_ld_fail(L, v, "expected a list of ports such as [{id: 0, console: true}]");
    memset(O->dev.port, 0, sizeof O->dev.port);
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        const yaml_node_t *n = vs_ld_node(L, *i);
        port_ctx pc = {.po = {.added = true, .host_open = true}};
        int r = vs_ld_walk(L, n, port_fields, &pc, "ports");
        if (r < 0)
            return r;
        if (!pc.has_id)
            return vs_ld_fail(L, n, "a port needs 'id'");
        if (O->dev.port[pc.id].added)
            return vs_ld_fail(L, n, "port %u is listed twice", pc.id);
        O->dev.port[pc.id] = pc.po;
    }
    return 0;
}

const vs_field con_device_keys[] = {
    {"multiport", d_multiport}, {"size", d_size}, {"emerg_write", d_emerg},
    {"max_nr_ports", d_max}, {"cols", d_cols}, {"rows", d_rows}, {"ports", d_ports},
    {"queue_size", vs_scn_queue_size}, {"extra_features", vs_scn_extra_features},
    {"rx_buffers", d_rx_buffers}, {"rx_buffer_size", d_rx_size}, {NULL, NULL},
};

void con_scenario_defaults(vs_scenario *s)
{
    con_scn_opts *o = s->dev_opts;
    vs_console_opts_default(&o->dev);
    o->rx_buffers = 8;
    o->rx_buffer_size = 4096;
    s->queue_size = 64;
    s->driver.features |= VS_BIT(VS_CONSOLE_F_SIZE) | VS_BIT(VS_CONSOLE_F_MULTIPORT) |
                          VS_BIT(VS_CONSOLE_F_EMERG_WRITE);
}

/* The queues follow from the ports: 2, or 2 x (max_nr_ports + 1) when MULTIPORT is
 * offered and the driver takes it. */
int con_scenario_finish(vs_loader *L, vs_scenario *s, const yaml_node_t *root)
{
    con_scn_opts *o = s->dev_opts;
    const yaml_node_t *dev = vs_ld_get(L, root, "device");
    uint32_t n = o->dev.multiport ? o->dev.max_nr_ports : 1;
    for (uint32_t i = n; i < VS_CONSOLE_MAX_PORTS; i++)
        if (o->dev.port[i].added)
            return vs_ld_fail(L, dev ? dev : root, "port %u, but the device has %u port(s)%s",
                              i, n, o->dev.multiport ? " (max_nr_ports)" : " (no multiport)");
    o->dev.queue_size = s->queue_size;
    o->dev.extra_features = s->extra_features;
    s->num_queues = vs_console_num_queues(o->dev.multiport, o->dev.max_nr_ports);
    bool mp = o->dev.multiport && (s->driver.features & VS_BIT(VS_CONSOLE_F_MULTIPORT));
    s->driver.queues = vs_console_num_queues(mp, o->dev.max_nr_ports);
    return 0;
}
