/* virtio-scsi's `device:` keys in a scenario (sim/step_dev.h): the logical units
 * (target, lun, size, read_only, file, type disk|mmc), the config the device offers
 * (num_queues, seg_max, max_sectors, cmd_per_lun, event_info_size, max_target, max_lun),
 * the features it offers, what the driver does at bring-up (eventq_buffers, event_len,
 * sense_size, cdb_size) and I/O errors injected below QEMU's device. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/dev/scsi/scsi_sim_int.h"
#include "virtiosim/virtio.h"

#define S ((vs_scenario *)ctx)
#define O ((scsi_scn_opts *)S->dev_opts)
#define PARSER(name) static int name(vs_loader *L, const yaml_node_t *v, void *ctx)

/* ------------------------------------------------------------------ luns */

typedef struct lun_ctx {
    scsi_scn_opts *o;
    scsi_lun_opt *l;
} lun_ctx;
#define LC ((lun_ctx *)ctx)

PARSER(lu_target)
{
    uint16_t t;
    int r = vs_ld_u16(L, v, 255, &t);
    LC->l->target = (uint8_t)t;
    return r;
}
PARSER(lu_lun) { return vs_ld_u16(L, v, VS_SCSI_MAX_LUN, &LC->l->lun); }
PARSER(lu_size)
{
    int r = vs_ld_size(L, v, &LC->l->bytes);
    if (r == 0 && (LC->l->bytes < 4096 || LC->l->bytes > (UINT64_C(1) << 40)))
        return vs_ld_fail(L, v, "size must be between 4KiB and 1TiB");
    return r;
}
PARSER(lu_block)
{
    int r = vs_ld_u32(L, v, 4096, &LC->l->block_len);
    if (r == 0 && LC->l->block_len != 512 && LC->l->block_len != 4096)
        return vs_ld_fail(L, v, "block_size must be 512 or 4096");
    return r;
}
PARSER(lu_ro) { return vs_ld_bool(L, v, &LC->l->read_only); }
PARSER(lu_type)
{
    static const char *const names[] = {"disk", "mmc"};
    int k = 0;
    int r = vs_ld_enum(L, v, names, 2, &k);
    LC->l->mmc = k == 1;
    return r;
}
PARSER(lu_file)
{
    const char *f = vs_ld_scalar(v);
    if (!f)
        return vs_ld_fail(L, v, "expected ram, null or a file name, found %s", vs_ld_kind(v));
    free(LC->l->file);
    LC->l->file = NULL;
    LC->l->null = strcmp(f, "null") == 0;
    if (strcmp(f, "ram") == 0 || LC->l->null)
        return 0;
    return vs_ld_own_file(L, v, "file", &LC->l->file);
}

static const vs_field lun_fields[] = {
    {"target", lu_target}, {"lun", lu_lun}, {"size", lu_size}, {"block_size", lu_block},
    {"read_only", lu_ro}, {"type", lu_type}, {"file", lu_file}, {NULL, NULL},
};

PARSER(dev_luns)
{
    if (v->type != YAML_SEQUENCE_NODE || v->data.sequence.items.start == v->data.sequence.items.top)
        return vs_ld_fail(L, v, "expected a list of logical units such as "
                          "[{target: 0, lun: 0, size: 4MiB}]");
    for (unsigned i = 0; i < O->nluns; i++)
        free(O->lun[i].file);
    O->nluns = 0;
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        const yaml_node_t *n = vs_ld_node(L, *i);
        if (O->nluns >= SCSI_SCN_LUNS)
            return vs_ld_fail(L, n, "at most %d logical units", SCSI_SCN_LUNS);
        scsi_lun_opt *l = &O->lun[O->nluns++];
        *l = (scsi_lun_opt){.bytes = 4u << 20, .block_len = 512};
        lun_ctx lc = {O, l};
        int r = vs_ld_walk(L, n, lun_fields, &lc, "logical unit");
        if (r < 0)
            return r;
        if (l->bytes % l->block_len)
            return vs_ld_fail(L, n, "size is not a multiple of the block size %u", l->block_len);
        for (unsigned k = 0; k + 1 < O->nluns; k++)
            if (O->lun[k].target == l->target && O->lun[k].lun == l->lun)
                return vs_ld_fail(L, n, "target %u lun %u is listed twice", l->target, l->lun);
    }
    return 0;
}

/* ------------------------------------------------------------------ config, features */

PARSER(dev_num_queues)
{
    int r = vs_ld_u16(L, v, VS_DRV_MAX_QUEUES - 2, &O->num_queues);
    if (r == 0 && !O->num_queues)
        return vs_ld_fail(L, v, "num_queues (request queues) must be at least 1");
    S->num_queues = (uint16_t)(O->num_queues + 2);
    return r;
}
PARSER(dev_seg_max) { return vs_ld_u32(L, v, 65536, &O->seg_max); }
PARSER(dev_max_sectors) { return vs_ld_u32(L, v, UINT32_MAX, &O->max_sectors); }
PARSER(dev_cmd_per_lun)
{
    int r = vs_ld_u32(L, v, 65536, &O->cmd_per_lun);
    if (r == 0 && !O->cmd_per_lun)
        return vs_ld_fail(L, v, "cmd_per_lun must be at least 1");
    return r;
}
PARSER(dev_event_info_size)
{
    int r = vs_ld_u32(L, v, 4096, &O->event_info_size);
    if (r == 0 && O->event_info_size < VS_SCSI_EVENT_BYTES)
        return vs_ld_fail(L, v, "event_info_size must be at least %u", VS_SCSI_EVENT_BYTES);
    return r;
}
PARSER(dev_max_target) { return vs_ld_u16(L, v, 255, &O->max_target); }
PARSER(dev_max_lun) { return vs_ld_u32(L, v, VS_SCSI_MAX_LUN, &O->max_lun); }
PARSER(dev_features)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return vs_ld_fail(L, v, "expected a list such as [inout, hotplug, change], found %s",
                          vs_ld_kind(v));
    O->inout = O->hotplug = O->change = false;
    static const char *const names[] = {"inout", "hotplug", "change"};
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        int k = 0;
        int r = vs_ld_enum(L, vs_ld_node(L, *i), names, 3, &k);
        if (r < 0)
            return r;
        *(bool *[]){&O->inout, &O->hotplug, &O->change}[k] = true;
    }
    return 0;
}
PARSER(dev_eventq_buffers) { return vs_ld_u32(L, v, SCSI_EVENTQ_MAX, &O->eventq_buffers); }
PARSER(dev_event_len)
{
    int r = vs_ld_u32(L, v, 4096, &O->event_len);
    if (r == 0 && O->event_len < VS_SCSI_EVENT_BYTES)
        return vs_ld_fail(L, v, "event_len must be at least %u (struct virtio_scsi_event)",
                          VS_SCSI_EVENT_BYTES);
    return r;
}
PARSER(dev_sense_size) { return vs_ld_u32(L, v, VS_SCSI_SENSE_MAX, &O->sense_size); }
PARSER(dev_cdb_size)
{
    int r = vs_ld_u32(L, v, VS_SCSI_CDB_MAX, &O->cdb_size);
    if (r == 0 && O->cdb_size < 6)
        return vs_ld_fail(L, v, "cdb_size must be at least 6");
    return r;
}

/* inject: [{lun: 0, op: read|write, lba: N, once: bool}] (lun: index in luns) */
typedef struct inj_ctx {
    scsi_scn_opts *o;
    unsigned i;
    bool has_op;
} inj_ctx;
#define IJ ((inj_ctx *)ctx)
PARSER(ij_lun)
{
    uint32_t k;
    int r = vs_ld_u32(L, v, SCSI_SCN_LUNS - 1, &k);
    IJ->o->inject[IJ->i].lun = k;
    return r;
}
PARSER(ij_op)
{
    static const char *const names[] = {"read", "write"};
    int k = 0;
    int r = vs_ld_enum(L, v, names, 2, &k);
    IJ->o->inject[IJ->i].write = k == 1;
    IJ->has_op = true;
    return r;
}
PARSER(ij_lba) { return vs_ld_u64(L, v, UINT64_MAX >> 10, &IJ->o->inject[IJ->i].lba); }
PARSER(ij_once) { return vs_ld_bool(L, v, &IJ->o->inject[IJ->i].once); }
static const vs_field inject_fields[] = {
    {"lun", ij_lun}, {"op", ij_op}, {"lba", ij_lba}, {"once", ij_once}, {NULL, NULL},
};
PARSER(dev_inject)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return vs_ld_fail(L, v, "expected a list such as [{lun: 0, op: read, lba: 8}]");
    O->n_inject = 0;
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        const yaml_node_t *n = vs_ld_node(L, *i);
        if (O->n_inject >= SCSI_SCN_INJECT)
            return vs_ld_fail(L, n, "at most %d injected errors", SCSI_SCN_INJECT);
        inj_ctx ic = {O, O->n_inject};
        int r = vs_ld_walk(L, n, inject_fields, &ic, "inject");
        if (r < 0)
            return r;
        if (!ic.has_op)
            return vs_ld_fail(L, n, "missing required key 'op' (read or write)");
        O->n_inject++;
    }
    return 0;
}

const vs_field scsi_device_keys[] = {
    {"luns", dev_luns}, {"num_queues", dev_num_queues}, {"queue_size", vs_scn_queue_size},
    {"seg_max", dev_seg_max}, {"max_sectors", dev_max_sectors},
    {"cmd_per_lun", dev_cmd_per_lun}, {"event_info_size", dev_event_info_size},
    {"max_target", dev_max_target}, {"max_lun", dev_max_lun}, {"features", dev_features},
    {"extra_features", vs_scn_extra_features}, {"eventq_buffers", dev_eventq_buffers},
    {"event_len", dev_event_len}, {"sense_size", dev_sense_size}, {"cdb_size", dev_cdb_size},
    {"inject", dev_inject}, {NULL, NULL},
};

void scsi_scenario_defaults(vs_scenario *s)
{
    scsi_scn_opts *o = s->dev_opts;
    o->nluns = 1;
    o->lun[0] = (scsi_lun_opt){.bytes = 4u << 20, .block_len = 512};
    o->num_queues = 1;
    o->seg_max = 128;
    o->max_sectors = 0xffff;
    o->cmd_per_lun = 128;
    o->event_info_size = VS_SCSI_EVENT_BYTES;
    o->max_target = 7;
    o->max_lun = 255;
    o->inout = o->hotplug = o->change = true;
    o->eventq_buffers = SCSI_EVENTQ_DEFAULT;
    o->sense_size = VS_SCSI_SENSE_SIZE_DEFAULT;
    o->cdb_size = VS_SCSI_CDB_SIZE_DEFAULT;
    s->num_queues = 3;
    s->driver.queues = 3;
    s->driver.features |= VS_BIT(VS_SCSI_F_INOUT) | VS_BIT(VS_SCSI_F_HOTPLUG) |
                          VS_BIT(VS_SCSI_F_CHANGE);
}

/* The scsi driver sets up every queue (controlq, eventq, each request queue) as Linux's
 * does; the LUNs must fit the config the device reports. */
int scsi_scenario_finish(vs_loader *L, vs_scenario *s, const yaml_node_t *root)
{
    scsi_scn_opts *o = s->dev_opts;
    const yaml_node_t *drv = vs_ld_get(L, root, "driver");
    if (drv && vs_ld_get(L, drv, "queues"))
        return vs_ld_fail(L, vs_ld_get(L, drv, "queues"),
                          "the scsi driver sets up every queue; give device.num_queues "
                          "(request queues) instead of driver.queues");
    s->driver.queues = s->num_queues;
    const yaml_node_t *dev = vs_ld_get(L, root, "device");
    for (unsigned i = 0; i < o->nluns; i++)
        if (o->lun[i].target > o->max_target || o->lun[i].lun > o->max_lun)
            return vs_ld_fail(L, dev ? dev : root, "target %u lun %u is beyond max_target %u "
                              "/ max_lun %u", o->lun[i].target, o->lun[i].lun, o->max_target,
                              o->max_lun);
    for (unsigned i = 0; i < o->n_inject; i++)
        if (o->inject[i].lun >= o->nluns)
            return vs_ld_fail(L, dev ? dev : root, "inject names LUN index %u; there are %u",
                              o->inject[i].lun, o->nluns);
    return 0;
}

void scsi_options_free(void *opts)
{
    scsi_scn_opts *o = opts;
    for (unsigned i = 0; i < o->nluns; i++)
        free(o->lun[i].file);
}
