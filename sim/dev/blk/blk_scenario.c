/* virtio-blk's `device:` keys in a scenario (sim/step_dev.h): capacity, image, features,
 * discard and write-zeroes limits, injected errors, zoned mode, ... parsed into the
 * options object the core keeps for the device (vs_scenario.dev_opts). */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/dev/blk/blk_sim_int.h"
#include "virtiosim/virtio.h"

#define S ((vs_scenario *)ctx)
#define O ((blk_scn_opts *)S->dev_opts)
#define PARSER(name) static int name(vs_loader *L, const yaml_node_t *v, void *ctx)

/* A size where a unit means bytes (4k, 64MiB: a whole number of sectors) and a plain
 * number, decimal or 0x hex, means sectors. The text is kept for messages. */
int blk_sectors_or_bytes(vs_loader *L, const yaml_node_t *v, const char *what, uint64_t *out)
{
    uint64_t n;
    const char *s = vs_ld_scalar(v);
    bool has_unit = s && *s && isalpha((unsigned char)s[strlen(s) - 1]) &&
                    !(s[0] == '0' && (s[1] == 'x' || s[1] == 'X'));
    int r = vs_ld_size(L, v, &n);
    if (r < 0)
        return r;
    if (has_unit) {
        if (n % VS_BLK_SECTOR)
            return vs_ld_fail(L, v, "%s %s is not a multiple of 512 bytes", what, s);
        n /= VS_BLK_SECTOR;
    }
    *out = n;
    return 0;
}
PARSER(dev_capacity)
{
    uint64_t n;
    int r = blk_sectors_or_bytes(L, v, "capacity", &n);
    if (r < 0)
        return r;
    if (n == 0)
        return vs_ld_fail(L, v, "capacity must be at least one sector");
    if (n > (UINT64_C(1) << 44)) /* 8 PiB: anything beyond is a typo, and *512 must not wrap */
        return vs_ld_fail(L, v, "capacity %s is larger than 8 PiB", vs_ld_scalar(v));
    O->capacity_sectors = n;
    return 0;
}
PARSER(dev_image)
{
    const char *img = vs_ld_scalar(v);
    if (!img)
        return vs_ld_fail(L, v, "expected ram or a file name, found %s", vs_ld_kind(v));
    free(O->image);
    O->image = NULL;
    if (strcmp(img, "ram") == 0)
        return 0;
    /* The image is opened read-write: only inside the scenario's own folder. */
    return vs_ld_own_file(L, v, "image", &O->image);
}
PARSER(dev_ro) { return vs_ld_bool(L, v, &O->read_only); }
PARSER(dev_blk_size)
{
    int r = vs_ld_u32(L, v, 1u << 20, &O->blk_size);
    if (r == 0 && (O->blk_size < 512 || (O->blk_size & (O->blk_size - 1))))
        return vs_ld_fail(L, v, "blk_size must be a power of two of at least 512");
    return r;
}
PARSER(dev_seg_max) { return vs_ld_u32(L, v, UINT32_MAX, &O->seg_max); }
PARSER(dev_size_max) { return vs_ld_u32(L, v, UINT32_MAX, &O->size_max); }
PARSER(dev_wb) { return vs_ld_bool(L, v, &O->writeback); }
PARSER(dev_serial)
{
    int r = vs_ld_str(L, v, &O->serial);
    if (r == 0 && strlen(O->serial) > 20)
        return vs_ld_fail(L, v, "serial is longer than 20 bytes");
    return r;
}
PARSER(dev_mds) { return vs_ld_u32(L, v, UINT32_MAX, &O->max_discard_sectors); }
PARSER(dev_mdseg) { return vs_ld_u32(L, v, UINT32_MAX, &O->max_discard_seg); }
PARSER(dev_dsa) { return vs_ld_u32(L, v, UINT32_MAX, &O->discard_sector_alignment); }
PARSER(dev_mwzs) { return vs_ld_u32(L, v, UINT32_MAX, &O->max_write_zeroes_sectors); }
PARSER(dev_mwzseg) { return vs_ld_u32(L, v, UINT32_MAX, &O->max_write_zeroes_seg); }
PARSER(dev_mseseg) { return vs_ld_u32(L, v, UINT32_MAX, &O->max_secure_erase_seg); }
PARSER(dev_wzmu) { return vs_ld_bool(L, v, &O->write_zeroes_may_unmap); }
PARSER(dev_features)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return vs_ld_fail(L, v, "expected a list such as [flush, discard], found %s", vs_ld_kind(v));
    O->flush = O->discard = O->write_zeroes = false;
    O->config_wce = O->topology = O->geometry = false;
    O->secure_erase = O->lifetime = false;
    static const char *const names[] = {"flush", "discard", "write_zeroes", "config_wce",
                                        "topology", "geometry", "secure_erase", "lifetime"};
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        int k = 0;
        int r = vs_ld_enum(L, vs_ld_node(L, *i), names, 8, &k);
        if (r < 0)
            return r;
        bool *flags[] = {&O->flush, &O->discard, &O->write_zeroes,
                         &O->config_wce, &O->topology, &O->geometry,
                         &O->secure_erase, &O->lifetime};
        *flags[k] = true;
    }
    return 0;
}

typedef struct inject_ctx {
    blk_scn_opts *o;
    unsigned i;
    bool has_op, has_sector;
} inject_ctx;
#define IJ ((inject_ctx *)ctx)
PARSER(ij_op)
{
    static const char *const names[] = {"read", "write"};
    int k = 0;
    int r = vs_ld_enum(L, v, names, 2, &k);
    IJ->o->inject[IJ->i].write = k == 1;
    IJ->has_op = true;
    return r;
}
PARSER(ij_sector)
{
    IJ->has_sector = true;
    return vs_ld_u64(L, v, INT64_MAX, &IJ->o->inject[IJ->i].sector);
}
PARSER(ij_once) { return vs_ld_bool(L, v, &IJ->o->inject[IJ->i].once); }
static const vs_field inject_fields[] = {
    {"op", ij_op}, {"sector", ij_sector}, {"once", ij_once}, {NULL, NULL},
};
PARSER(dev_inject)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return vs_ld_fail(L, v, "expected a list of {op: read|write, sector: N, once: bool}");
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        const yaml_node_t *n = vs_ld_node(L, *i);
        if (O->n_inject >= BLK_MAX_INJECT)
            return vs_ld_fail(L, n, "at most %d injected errors", BLK_MAX_INJECT);
        inject_ctx ic = {.o = O, .i = O->n_inject};
        int r = vs_ld_walk(L, n, inject_fields, &ic, "inject_errors");
        if (r < 0)
            return r;
        if (!ic.has_op || !ic.has_sector)
            return vs_ld_fail(L, n, "an injected error needs 'op' and 'sector'");
        O->n_inject++;
    }
    return 0;
}

/* zoned: {model, zone_size, zone_capacity, conventional_zones, max_open_zones, ...} */
static int zone_sectors_of(vs_loader *L, const yaml_node_t *v, const char *what, uint32_t *out)
{
    uint64_t n;
    int r = blk_sectors_or_bytes(L, v, what, &n);
    if (r < 0)
        return r;
    if (n == 0 || n > UINT32_MAX)
        return vs_ld_fail(L, v, "%s: expected 1 to 2^32-1 sectors, found %s", what, vs_ld_scalar(v));
    *out = (uint32_t)n;
    return 0;
}
PARSER(z_model)
{
    static const char *const names[] = {"none", "host-managed", "host-aware"};
    int k = 0;
    int r = vs_ld_enum(L, v, names, 3, &k);
    O->zoned.model = (uint8_t)k;
    return r;
}
PARSER(z_size) { return zone_sectors_of(L, v, "zone_size", &O->zoned.zone_sectors); }
PARSER(z_cap)
{
    return zone_sectors_of(L, v, "zone_capacity", &O->zoned.zone_capacity);
}
PARSER(z_conv) { return vs_ld_u32(L, v, UINT32_MAX, &O->zoned.conventional_zones); }
PARSER(z_open) { return vs_ld_u32(L, v, UINT32_MAX, &O->zoned.max_open_zones); }
PARSER(z_active) { return vs_ld_u32(L, v, UINT32_MAX, &O->zoned.max_active_zones); }
PARSER(z_append) { return vs_ld_u32(L, v, UINT32_MAX, &O->zoned.max_append_sectors); }
PARSER(z_gran)
{
    uint64_t n;
    int r = vs_ld_size(L, v, &n);
    if (r == 0 && (n < VS_BLK_SECTOR || n > (1u << 20) || (n & (n - 1))))
        return vs_ld_fail(L, v, "write_granularity must be a power of two from 512 bytes to 1MiB");
    O->zoned.write_granularity = (uint32_t)n;
    return r;
}
static int zone_list(vs_loader *L, const yaml_node_t *v, uint64_t *mask)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return vs_ld_fail(L, v, "expected a list of zone numbers (0..63)");
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        uint32_t z = 0;
        int r = vs_ld_u32(L, vs_ld_node(L, *i), 63, &z);
        if (r < 0)
            return r;
        *mask |= UINT64_C(1) << z;
    }
    return 0;
}
PARSER(z_ro) { return zone_list(L, v, &O->zoned.read_only_zones); }
PARSER(z_offline) { return zone_list(L, v, &O->zoned.offline_zones); }
PARSER(z_discard) { return vs_ld_bool(L, v, &O->zoned.offer_discard); }
static const vs_field zoned_fields[] = {
    {"model", z_model}, {"zone_size", z_size}, {"zone_capacity", z_cap},
    {"conventional_zones", z_conv}, {"max_open_zones", z_open},
    {"max_active_zones", z_active}, {"max_append_sectors", z_append},
    {"write_granularity", z_gran}, {"read_only_zones", z_ro}, {"offline_zones", z_offline},
    {"discard", z_discard}, {NULL, NULL},
};
PARSER(dev_zoned)
{
    O->zoned.on = true;
    O->zoned.model = VS_BLK_Z_HM;
    int r = vs_ld_walk(L, v, zoned_fields, ctx, "zoned");
    if (r < 0)
        return r;
    if (!vs_ld_get(L, v, "zone_size"))
        return vs_ld_fail(L, v, "zoned needs 'zone_size'");
    if (O->zoned.zone_capacity > O->zoned.zone_sectors)
        return vs_ld_fail(L, v, "zone_capacity is larger than zone_size");
    uint32_t conv = O->zoned.conventional_zones;
    uint64_t conv_mask = conv >= 64 ? UINT64_MAX : (UINT64_C(1) << conv) - 1;
    if ((O->zoned.read_only_zones | O->zoned.offline_zones) & conv_mask)
        return vs_ld_fail(L, v, "read_only_zones / offline_zones must be sequential zones");
    return 0;
}

const vs_field blk_device_keys[] = {
    {"capacity", dev_capacity}, {"image", dev_image},
    {"read_only", dev_ro}, {"num_queues", vs_scn_num_queues}, {"queue_size", vs_scn_queue_size},
    {"blk_size", dev_blk_size}, {"seg_max", dev_seg_max}, {"size_max", dev_size_max},
    {"features", dev_features}, {"writeback", dev_wb}, {"serial", dev_serial},
    {"max_discard_sectors", dev_mds}, {"max_discard_seg", dev_mdseg},
    {"discard_sector_alignment", dev_dsa}, {"max_write_zeroes_sectors", dev_mwzs},
    {"max_write_zeroes_seg", dev_mwzseg}, {"max_secure_erase_seg", dev_mseseg}, {"write_zeroes_may_unmap", dev_wzmu},
    {"inject_errors", dev_inject}, {"extra_features", vs_scn_extra_features}, {"zoned", dev_zoned},
    {"withhold_features", vs_scn_withhold_features},
    {NULL, NULL},
};

void blk_scenario_defaults(vs_scenario *s)
{
    blk_scn_opts *o = s->dev_opts;
    o->capacity_sectors = 2048;
    o->blk_size = 512;
    o->flush = o->discard = o->write_zeroes = true;
    o->config_wce = o->topology = o->geometry = true;
    o->writeback = true;
    o->max_discard_sectors = 65536;
    o->max_discard_seg = 1;
    o->discard_sector_alignment = 1;
    o->max_write_zeroes_sectors = 65536;
    o->max_write_zeroes_seg = 1;
    o->write_zeroes_may_unmap = true;
    s->driver.features |= VS_BIT(VS_BLK_F_SIZE_MAX) |
                          VS_BIT(VS_BLK_F_SEG_MAX) | VS_BIT(VS_BLK_F_GEOMETRY) |
                          VS_BIT(VS_BLK_F_RO) | VS_BIT(VS_BLK_F_BLK_SIZE) |
                          VS_BIT(VS_BLK_F_FLUSH) | VS_BIT(VS_BLK_F_TOPOLOGY) |
                          VS_BIT(VS_BLK_F_CONFIG_WCE) | VS_BIT(VS_BLK_F_MQ) |
                          VS_BIT(VS_BLK_F_DISCARD) | VS_BIT(VS_BLK_F_WRITE_ZEROES) |
                          VS_BIT(VS_BLK_F_ZONED) | VS_BIT(VS_BLK_F_SECURE_ERASE) |
                          VS_BIT(VS_BLK_F_LIFETIME);
}

int blk_scenario_finish(vs_loader *L, vs_scenario *s, const yaml_node_t *root)
{
    (void)root;
    blk_scn_opts *o = s->dev_opts;
    if (!o->serial && !(o->serial = strdup("virtiosim")))
        return vs_ld_nomem(L);
    return 0;
}

void blk_options_free(void *opts)
{
    blk_scn_opts *o = opts;
    free(o->image);
    free(o->serial);
}

/* `expect: {config: {field: value, ...}}`, the fields of the blk codec. */
int blk_expect_config(vs_loader *L, const yaml_node_t *v, void *ctx)
{
    vs_step *t = ctx;
    if (v->type != YAML_MAPPING_NODE)
        return vs_ld_fail(L, v, "expected a mapping of config field to value");
    const char *known[64];
    int nknown = 0;
    for (unsigned i = 0; i < vs_blk_cfg_nfields && nknown < 64; i++)
        known[nknown++] = vs_blk_cfg_fields[i].name;
    if (!t->dev && !(t->dev = calloc(1, sizeof(blk_cfg_expect))))
        return vs_ld_nomem(L);
    blk_cfg_expect *x = t->dev;
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = vs_ld_node(L, p->key);
        int idx;
        int r = vs_ld_enum(L, k, known, nknown, &idx);
        if (r < 0)
            return r;
        if (x->ncfg >= BLK_MAX_CFG)
            return vs_ld_fail(L, k, "too many config fields in one expect (at most %d)",
                              BLK_MAX_CFG);
        x->cfg[x->ncfg].f = &vs_blk_cfg_fields[idx];
        r = vs_ld_u64(L, vs_ld_node(L, p->value), UINT64_MAX, &x->cfg[x->ncfg].value);
        if (r < 0)
            return r;
        x->ncfg++;
    }
    return 0;
}
