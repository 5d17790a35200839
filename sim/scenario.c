/* Scenario loader: libyaml's document API gives every node a position, so each error can
 * point at the exact line and column. The schema lives in the tables below; an unknown
 * key is an error (a typo must never silently change a test). */
#define _GNU_SOURCE
#include "virtiosim/scenario.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "virtiosim/blk.h"
#include "virtiosim/virtio.h"

typedef struct loader {
    const char *path;
    yaml_document_t doc;
    vs_err *e;
} loader;

static int fail_at(loader *L, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail_at(loader *L, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[VS_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    unsigned line = n ? (unsigned)n->start_mark.line + 1 : 1;
    unsigned col = n ? (unsigned)n->start_mark.column + 1 : 1;
    return vs_err_set(L->e, VS_EINVAL, "%s:%u:%u: %s", L->path, line, col, msg);
}

static yaml_node_t *node(loader *L, int id) { return yaml_document_get_node(&L->doc, id); }

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static const char *node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
    }
}

/* ------------------------------------------------------------------ value parsers */

/* Decimal, or hexadecimal with 0x; never octal (010 is ten), never signed or padded. */
static unsigned long long parse_uint(const char *s, char **end)
{
    bool hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    return strtoull(s, end, hex ? 16 : 10);
}

int vs_parse_size(const char *s, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)*s))
        return -VS_EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = parse_uint(s, &end);
    if (errno || end == s)
        return -VS_EINVAL;
    static const struct { const char *unit; uint64_t mul; } units[] = {
        {"", 1}, {"b", 1}, {"k", 1024}, {"kib", 1024}, {"kb", 1000},
        {"m", 1u << 20}, {"mib", 1u << 20}, {"mb", 1000000},
        {"g", 1u << 30}, {"gib", 1u << 30}, {"gb", 1000000000},
        {"t", UINT64_C(1) << 40}, {"tib", UINT64_C(1) << 40},
    };
    char unit[8] = {0};
    size_t n = strlen(end);
    if (n >= sizeof unit)
        return -VS_EINVAL;
    for (size_t i = 0; i < n; i++)
        unit[i] = (char)tolower((unsigned char)end[i]);
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(unit, units[i].unit) == 0) {
            if (v > UINT64_MAX / units[i].mul)
                return -VS_ERANGE;
            *out = v * units[i].mul;
            return 0;
        }
    }
    return -VS_EINVAL;
}

int vs_parse_time_ns(const char *s, uint64_t *out)
{
    /* A plain decimal number: no sign, no spaces, no nan/inf/hex floats. */
    if (!s || !isdigit((unsigned char)*s))
        return -VS_EINVAL;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !isfinite(v) || v < 0)
        return -VS_EINVAL;
    static const struct { const char *unit; double mul; } units[] = {
        {"ns", 1}, {"us", 1e3}, {"ms", 1e6}, {"s", 1e9},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].unit) == 0) {
            double ns = v * units[i].mul;
            if (ns > 1.8e19)
                return -VS_ERANGE;
            *out = (uint64_t)(ns + 0.5);
            return 0;
        }
    }
    return -VS_EINVAL;
}

static int get_u64(loader *L, const yaml_node_t *n, uint64_t max, uint64_t *out)
{
    const char *s = scalar(n);
    if (!s)
        return fail_at(L, n, "expected a number, found %s", node_kind(n));
    char *end;
    errno = 0;
    unsigned long long v = isdigit((unsigned char)*s) ? parse_uint(s, &end) : 0;
    if (!isdigit((unsigned char)*s) || errno || end == s || *end)
        return fail_at(L, n, "expected a non-negative whole number, found '%s'", s);
    if (v > max)
        return fail_at(L, n, "%s is too large (at most %" PRIu64 ")", s, max);
    *out = v;
    return 0;
}

static int get_u32(loader *L, const yaml_node_t *n, uint32_t max, uint32_t *out)
{
    uint64_t v;
    int r = get_u64(L, n, max, &v);
    if (r == 0)
        *out = (uint32_t)v;
    return r;
}

static int get_u16(loader *L, const yaml_node_t *n, uint16_t max, uint16_t *out)
{
    uint64_t v;
    int r = get_u64(L, n, max, &v);
    if (r == 0)
        *out = (uint16_t)v;
    return r;
}

static int get_bool(loader *L, const yaml_node_t *n, bool *out)
{
    const char *s = scalar(n);
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    for (int i = 0; s && i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) { *out = true; return 0; }
        if (strcasecmp(s, no[i]) == 0) { *out = false; return 0; }
    }
    return fail_at(L, n, "expected true or false, found %s", s ? s : node_kind(n));
}

static int get_size(loader *L, const yaml_node_t *n, uint64_t *out)
{
    const char *s = scalar(n);
    if (!s || vs_parse_size(s, out) != 0)
        return fail_at(L, n, "expected a size such as 4096, 4k or 1MiB, found %s",
                       s ? s : node_kind(n));
    return 0;
}

static int get_time(loader *L, const yaml_node_t *n, uint64_t *out)
{
    const char *s = scalar(n);
    if (!s || vs_parse_time_ns(s, out) != 0)
        return fail_at(L, n, "expected a time such as 500ns, 20us or 1ms, found %s",
                       s ? s : node_kind(n));
    return 0;
}

static int get_str(loader *L, const yaml_node_t *n, char **out)
{
    const char *s = scalar(n);
    if (!s)
        return fail_at(L, n, "expected a string, found %s", node_kind(n));
    free(*out);
    *out = strdup(s);
    return *out ? 0 : vs_err_set(L->e, VS_ENOMEM, "out of memory");
}

static int get_enum(loader *L, const yaml_node_t *n, const char *const *names, int count,
                    int *out)
{
    const char *s = scalar(n);
    if (s) {
        for (int i = 0; i < count; i++) {
            if (names[i] && strcmp(s, names[i]) == 0) {
                *out = i;
                return 0;
            }
        }
    }
    char list[200] = "";
    for (int i = 0; i < count; i++) {
        if (!names[i])
            continue;
        strncat(list, list[0] ? ", " : "", sizeof list - strlen(list) - 1);
        strncat(list, names[i], sizeof list - strlen(list) - 1);
    }
    return fail_at(L, n, "expected one of %s, found %s", list, s ? s : node_kind(n));
}

/* ------------------------------------------------------------------ mapping walker */

typedef struct field {
    const char *key;
    int (*parse)(loader *L, const yaml_node_t *v, void *ctx);
} field;

static int walk_mapping(loader *L, const yaml_node_t *map, const field *fields, void *ctx,
                        const char *what)
{
    if (map->type != YAML_MAPPING_NODE)
        return fail_at(L, map, "expected a mapping for %s, found %s", what, node_kind(map));
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node(L, p->key), *v = node(L, p->value);
        const char *ks = scalar(k);
        if (!ks)
            return fail_at(L, k, "expected a key name in %s", what);
        /* libyaml keeps duplicate keys; a second value would silently win (or, for lists,
         * be merged into storage sized for the first): refuse them. */
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            const char *qs = scalar(node(L, q->key));
            if (qs && strcmp(qs, ks) == 0)
                return fail_at(L, k, "duplicate key '%s' in %s", ks, what);
        }
        const field *f = fields;
        while (f->key && strcmp(f->key, ks) != 0)
            f++;
        if (!f->key) {
            char list[400] = "";
            for (const field *g = fields; g->key; g++) {
                strncat(list, list[0] ? ", " : "", sizeof list - strlen(list) - 1);
                strncat(list, g->key, sizeof list - strlen(list) - 1);
            }
            return fail_at(L, k, "unknown key '%s' in %s (expected one of: %s)", ks, what, list);
        }
        int r = f->parse(L, v, ctx);
        if (r < 0)
            return r;
    }
    return 0;
}

static const yaml_node_t *mapping_get(loader *L, const yaml_node_t *map, const char *key)
{
    if (map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const char *ks = scalar(node(L, p->key));
        if (ks && strcmp(ks, key) == 0)
            return node(L, p->value);
    }
    return NULL;
}

/* Parser functions receive the scenario (top level) or the step being built. */
#define S ((vs_scenario *)ctx)
#define T ((vs_step *)ctx)
#define PARSER(name) static int name(loader *L, const yaml_node_t *v, void *ctx)

static int features_list(loader *L, const yaml_node_t *v, uint64_t *out)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return fail_at(L, v, "expected a list of feature names, found %s", node_kind(v));
    uint64_t f = 0;
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        const yaml_node_t *n = node(L, *i);
        const char *s = scalar(n);
        int bit = s ? vs_feature_bit(VS_DEV_BLK, s) : -1;
        if (bit < 0)
            return fail_at(L, n, "unknown feature '%s' (use a name such as VIRTIO_F_EVENT_IDX, "
                                 "EVENT_IDX or VIRTIO_BLK_F_FLUSH)", s ? s : node_kind(n));
        f |= VS_BIT(bit);
    }
    *out = f;
    return 0;
}

/* ------------------------------------------------------------------ top level: device */

PARSER(dev_kind)
{
    int k = 0;
    static const char *const kinds[] = {"blk"};
    int r = get_enum(L, v, kinds, 1, &k);
    (void)ctx;
    return r;
}
/* A size where a unit means bytes (4k, 64MiB: a whole number of sectors) and a plain
 * number, decimal or 0x hex, means sectors. The text is kept for messages. */
static int sectors_or_bytes(loader *L, const yaml_node_t *v, const char *what, uint64_t *out)
{
    uint64_t n;
    const char *s = scalar(v);
    bool has_unit = s && *s && isalpha((unsigned char)s[strlen(s) - 1]) &&
                    !(s[0] == '0' && (s[1] == 'x' || s[1] == 'X'));
    int r = get_size(L, v, &n);
    if (r < 0)
        return r;
    if (has_unit) {
        if (n % VS_BLK_SECTOR)
            return fail_at(L, v, "%s %s is not a multiple of 512 bytes", what, s);
        n /= VS_BLK_SECTOR;
    }
    *out = n;
    return 0;
}
PARSER(dev_capacity)
{
    uint64_t n;
    int r = sectors_or_bytes(L, v, "capacity", &n);
    if (r < 0)
        return r;
    if (n == 0)
        return fail_at(L, v, "capacity must be at least one sector");
    if (n > (UINT64_C(1) << 44)) /* 8 PiB: anything beyond is a typo, and *512 must not wrap */
        return fail_at(L, v, "capacity %s is larger than 8 PiB", scalar(v));
    S->device.capacity_sectors = n;
    return 0;
}
PARSER(dev_image)
{
    char *img = NULL;
    int r = get_str(L, v, &img);
    if (r < 0)
        return r;
    free(S->device.image);
    S->device.image = NULL;
    if (strcmp(img, "ram") == 0) {
        free(img);
        return 0;
    }
    if (img[0] == '/') {
        S->device.image = img;
        return 0;
    }
    /* Relative paths are relative to the scenario file. */
    const char *slash = strrchr(L->path, '/');
    int dirlen = slash ? (int)(slash - L->path) : 1;
    const char *dir = slash ? L->path : ".";
    if (asprintf(&S->device.image, "%.*s/%s", dirlen, dir, img) < 0)
        S->device.image = NULL;
    free(img);
    return S->device.image ? 0 : vs_err_set(L->e, VS_ENOMEM, "out of memory");
}
PARSER(dev_ro) { return get_bool(L, v, &S->device.read_only); }
PARSER(dev_nq)
{
    int r = get_u16(L, v, 256, &S->device.num_queues);
    if (r == 0 && S->device.num_queues == 0)
        return fail_at(L, v, "num_queues must be at least 1");
    return r;
}
PARSER(dev_qs)
{
    int r = get_u32(L, v, VS_VQ_MAX_SIZE, &S->device.queue_size);
    if (r == 0 && S->device.queue_size == 0)
        return fail_at(L, v, "queue_size must be between 1 and 32768");
    return r;
}
PARSER(dev_blk_size)
{
    int r = get_u32(L, v, 1u << 20, &S->device.blk_size);
    if (r == 0 && (S->device.blk_size < 512 || (S->device.blk_size & (S->device.blk_size - 1))))
        return fail_at(L, v, "blk_size must be a power of two of at least 512");
    return r;
}
PARSER(dev_seg_max) { return get_u32(L, v, UINT32_MAX, &S->device.seg_max); }
PARSER(dev_size_max) { return get_u32(L, v, UINT32_MAX, &S->device.size_max); }
PARSER(dev_wb) { return get_bool(L, v, &S->device.writeback); }
PARSER(dev_serial)
{
    int r = get_str(L, v, &S->device.serial);
    if (r == 0 && strlen(S->device.serial) > 20)
        return fail_at(L, v, "serial is longer than 20 bytes");
    return r;
}
PARSER(dev_mds) { return get_u32(L, v, UINT32_MAX, &S->device.max_discard_sectors); }
PARSER(dev_mdseg) { return get_u32(L, v, UINT32_MAX, &S->device.max_discard_seg); }
PARSER(dev_dsa) { return get_u32(L, v, UINT32_MAX, &S->device.discard_sector_alignment); }
PARSER(dev_mwzs) { return get_u32(L, v, UINT32_MAX, &S->device.max_write_zeroes_sectors); }
PARSER(dev_mwzseg) { return get_u32(L, v, UINT32_MAX, &S->device.max_write_zeroes_seg); }
PARSER(dev_wzmu) { return get_bool(L, v, &S->device.write_zeroes_may_unmap); }
PARSER(dev_features)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return fail_at(L, v, "expected a list such as [flush, discard], found %s", node_kind(v));
    S->device.flush = S->device.discard = S->device.write_zeroes = false;
    S->device.config_wce = S->device.topology = S->device.geometry = false;
    S->device.secure_erase = S->device.lifetime = false;
    static const char *const names[] = {"flush", "discard", "write_zeroes", "config_wce",
                                        "topology", "geometry", "secure_erase", "lifetime"};
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        int k = 0;
        int r = get_enum(L, node(L, *i), names, 8, &k);
        if (r < 0)
            return r;
        bool *flags[] = {&S->device.flush, &S->device.discard, &S->device.write_zeroes,
                         &S->device.config_wce, &S->device.topology, &S->device.geometry,
                         &S->device.secure_erase, &S->device.lifetime};
        *flags[k] = true;
    }
    return 0;
}

typedef struct inject_ctx {
    vs_scenario *s;
    unsigned i;
    bool has_op, has_sector;
} inject_ctx;
#define IJ ((inject_ctx *)ctx)
PARSER(ij_op)
{
    static const char *const names[] = {"read", "write"};
    int k = 0;
    int r = get_enum(L, v, names, 2, &k);
    IJ->s->device.inject[IJ->i].write = k == 1;
    IJ->has_op = true;
    return r;
}
PARSER(ij_sector)
{
    IJ->has_sector = true;
    return get_u64(L, v, INT64_MAX, &IJ->s->device.inject[IJ->i].sector);
}
PARSER(ij_once) { return get_bool(L, v, &IJ->s->device.inject[IJ->i].once); }
static const field inject_fields[] = {
    {"op", ij_op}, {"sector", ij_sector}, {"once", ij_once}, {NULL, NULL},
};
PARSER(dev_inject)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return fail_at(L, v, "expected a list of {op: read|write, sector: N, once: bool}");
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        const yaml_node_t *n = node(L, *i);
        if (S->device.n_inject >= VS_STEP_MAX_CFG)
            return fail_at(L, n, "at most %d injected errors", VS_STEP_MAX_CFG);
        inject_ctx ic = {.s = S, .i = S->device.n_inject};
        int r = walk_mapping(L, n, inject_fields, &ic, "inject_errors");
        if (r < 0)
            return r;
        if (!ic.has_op || !ic.has_sector)
            return fail_at(L, n, "an injected error needs 'op' and 'sector'");
        S->device.n_inject++;
    }
    return 0;
}

PARSER(dev_extra)
{
    uint64_t f;
    int r = features_list(L, v, &f);
    if (r == 0 && (f & (VS_BIT(24) - 1)))
        return fail_at(L, v, "extra_features takes device-independent bits (24 and up), such "
                             "as RING_RESET; blk features go in 'features'");
    S->device.extra_features = f;
    return r;
}

/* zoned: {model, zone_size, zone_capacity, conventional_zones, max_open_zones, ...} */
static int zone_sectors_of(loader *L, const yaml_node_t *v, const char *what, uint32_t *out)
{
    uint64_t n;
    int r = sectors_or_bytes(L, v, what, &n);
    if (r < 0)
        return r;
    if (n == 0 || n > UINT32_MAX)
        return fail_at(L, v, "%s: expected 1 to 2^32-1 sectors, found %s", what, scalar(v));
    *out = (uint32_t)n;
    return 0;
}
PARSER(z_model)
{
    static const char *const names[] = {"none", "host-managed", "host-aware"};
    int k = 0;
    int r = get_enum(L, v, names, 3, &k);
    S->device.zoned.model = (uint8_t)k;
    return r;
}
PARSER(z_size) { return zone_sectors_of(L, v, "zone_size", &S->device.zoned.zone_sectors); }
PARSER(z_cap)
{
    return zone_sectors_of(L, v, "zone_capacity", &S->device.zoned.zone_capacity);
}
PARSER(z_conv) { return get_u32(L, v, UINT32_MAX, &S->device.zoned.conventional_zones); }
PARSER(z_open) { return get_u32(L, v, UINT32_MAX, &S->device.zoned.max_open_zones); }
PARSER(z_active) { return get_u32(L, v, UINT32_MAX, &S->device.zoned.max_active_zones); }
PARSER(z_append) { return get_u32(L, v, UINT32_MAX, &S->device.zoned.max_append_sectors); }
PARSER(z_gran)
{
    uint64_t n;
    int r = get_size(L, v, &n);
    if (r == 0 && (n < VS_BLK_SECTOR || n > (1u << 20) || (n & (n - 1))))
        return fail_at(L, v, "write_granularity must be a power of two from 512 bytes to 1MiB");
    S->device.zoned.write_granularity = (uint32_t)n;
    return r;
}
static int zone_list(loader *L, const yaml_node_t *v, uint64_t *mask)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return fail_at(L, v, "expected a list of zone numbers (0..63)");
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        uint32_t z = 0;
        int r = get_u32(L, node(L, *i), 63, &z);
        if (r < 0)
            return r;
        *mask |= UINT64_C(1) << z;
    }
    return 0;
}
PARSER(z_ro) { return zone_list(L, v, &S->device.zoned.read_only_zones); }
PARSER(z_offline) { return zone_list(L, v, &S->device.zoned.offline_zones); }
static const field zoned_fields[] = {
    {"model", z_model}, {"zone_size", z_size}, {"zone_capacity", z_cap},
    {"conventional_zones", z_conv}, {"max_open_zones", z_open},
    {"max_active_zones", z_active}, {"max_append_sectors", z_append},
    {"write_granularity", z_gran}, {"read_only_zones", z_ro}, {"offline_zones", z_offline},
    {NULL, NULL},
};
PARSER(dev_zoned)
{
    S->device.zoned.on = true;
    S->device.zoned.model = VS_BLK_Z_HM;
    int r = walk_mapping(L, v, zoned_fields, ctx, "zoned");
    if (r < 0)
        return r;
    if (!mapping_get(L, v, "zone_size"))
        return fail_at(L, v, "zoned needs 'zone_size'");
    if (S->device.zoned.zone_capacity > S->device.zoned.zone_sectors)
        return fail_at(L, v, "zone_capacity is larger than zone_size");
    uint32_t conv = S->device.zoned.conventional_zones;
    uint64_t conv_mask = conv >= 64 ? UINT64_MAX : (UINT64_C(1) << conv) - 1;
    if ((S->device.zoned.read_only_zones | S->device.zoned.offline_zones) & conv_mask)
        return fail_at(L, v, "read_only_zones / offline_zones must be sequential zones");
    return 0;
}

static const field device_fields[] = {
    {"kind", dev_kind}, {"capacity", dev_capacity}, {"image", dev_image},
    {"read_only", dev_ro}, {"num_queues", dev_nq}, {"queue_size", dev_qs},
    {"blk_size", dev_blk_size}, {"seg_max", dev_seg_max}, {"size_max", dev_size_max},
    {"features", dev_features}, {"writeback", dev_wb}, {"serial", dev_serial},
    {"max_discard_sectors", dev_mds}, {"max_discard_seg", dev_mdseg},
    {"discard_sector_alignment", dev_dsa}, {"max_write_zeroes_sectors", dev_mwzs},
    {"max_write_zeroes_seg", dev_mwzseg}, {"write_zeroes_may_unmap", dev_wzmu},
    {"inject_errors", dev_inject}, {"extra_features", dev_extra}, {"zoned", dev_zoned},
    {NULL, NULL},
};

/* ------------------------------------------------------------------ driver, timing */

PARSER(drv_features) { return features_list(L, v, &S->driver.features); }

PARSER(drv_ring)
{
    static const char *const names[] = {"split", "packed"};
    int k = 0;
    int r = get_enum(L, v, names, 2, &k);
    S->driver.packed = k == 1;
    return r;
}
PARSER(drv_qs)
{
    int r = get_u32(L, v, VS_VQ_MAX_SIZE, &S->driver.queue_size);
    if (r == 0 && S->driver.queue_size == 0)
        return fail_at(L, v, "queue_size must be between 1 and 32768");
    return r;
}
PARSER(drv_queues)
{
    int r = get_u16(L, v, 256, &S->driver.queues);
    if (r == 0 && S->driver.queues == 0)
        return fail_at(L, v, "queues must be at least 1");
    return r;
}
PARSER(drv_irq)
{
    static const char *const names[] = {[VS_IRQ_MSIX] = "msix", [VS_IRQ_INTX] = "intx",
                                        [VS_IRQ_POLL] = "poll"};
    return get_enum(L, v, names, 3, &S->driver.interrupts);
}
PARSER(drv_indirect) { return get_bool(L, v, &S->driver.indirect); }
PARSER(drv_irq_delay) { return get_bool(L, v, &S->driver.interrupt_delay); }
PARSER(drv_mislead) { return get_bool(L, v, &S->driver.mislead_suppression); }
PARSER(drv_fill) { return get_u32(L, v, VS_VQ_MAX_SIZE, &S->driver.fill_before_driver_ok); }
PARSER(drv_cfg_early) { return get_bool(L, v, &S->driver.read_config_early); }
PARSER(drv_sus_early) { return get_bool(L, v, &S->driver.suspend_before_driver_ok); }
PARSER(drv_layout)
{
    static const char *const names[] = {"indirect_write_flag", "direct_then_indirect",
                                        "split_header"};
    if (v->type != YAML_SEQUENCE_NODE)
        return fail_at(L, v, "expected a list of chain layouts, found %s", node_kind(v));
    uint32_t f = 0;
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        int k = 0;
        int r = get_enum(L, node(L, *i), names, 3, &k);
        if (r < 0)
            return r;
        f |= 1u << k; /* enum vs_drv_layout, in this order */
    }
    S->driver.chain_layout = f;
    return 0;
}
PARSER(drv_seg)
{
    uint64_t n;
    int r = get_size(L, v, &n);
    if (r == 0 && (n == 0 || n > UINT32_MAX))
        return fail_at(L, v, "seg_size must be between 1 byte and 4 GiB");
    S->driver.seg_size = (uint32_t)n;
    return r;
}
PARSER(drv_iodepth)
{
    int r = get_u32(L, v, VS_VQ_MAX_SIZE, &S->driver.iodepth);
    if (r == 0 && S->driver.iodepth == 0)
        return fail_at(L, v, "iodepth must be at least 1");
    return r;
}

static const field driver_fields[] = {
    {"features", drv_features}, {"ring", drv_ring}, {"queue_size", drv_qs},
    {"queues", drv_queues}, {"interrupts", drv_irq}, {"indirect", drv_indirect},
    {"interrupt_delay", drv_irq_delay}, {"mislead_suppression", drv_mislead},
    {"fill_before_driver_ok", drv_fill}, {"chain_layout", drv_layout},
    {"read_config_early", drv_cfg_early}, {"suspend_before_driver_ok", drv_sus_early},
    {"seg_size", drv_seg}, {"iodepth", drv_iodepth}, {NULL, NULL},
};

PARSER(tim_doorbell) { return get_time(L, v, &S->timing.doorbell_latency_ns); }
PARSER(tim_irq) { return get_time(L, v, &S->timing.irq_latency_ns); }

typedef struct service_ctx {
    vs_scenario *s;
    bool has_time, has_min, has_max, has_mean;
} service_ctx;
#define SV ((service_ctx *)ctx)
PARSER(svc_dist)
{
    static const char *const names[] = {[VS_DIST_FIXED] = "fixed", [VS_DIST_UNIFORM] = "uniform",
                                        [VS_DIST_EXPONENTIAL] = "exponential"};
    int k = 0;
    int r = get_enum(L, v, names, 3, &k);
    SV->s->timing.dist = (enum vs_scenario_dist)k;
    return r;
}
PARSER(svc_time) { SV->has_time = true; return get_time(L, v, &SV->s->timing.a_ns); }
PARSER(svc_min) { SV->has_min = true; return get_time(L, v, &SV->s->timing.a_ns); }
PARSER(svc_max) { SV->has_max = true; return get_time(L, v, &SV->s->timing.b_ns); }
PARSER(svc_mean) { SV->has_mean = true; return get_time(L, v, &SV->s->timing.a_ns); }

static const field service_fields[] = {
    {"dist", svc_dist}, {"time", svc_time}, {"min", svc_min}, {"max", svc_max},
    {"mean", svc_mean}, {NULL, NULL},
};

PARSER(tim_service)
{
    service_ctx sc = {.s = S};
    int r = walk_mapping(L, v, service_fields, &sc, "service");
    if (r < 0)
        return r;
    switch (S->timing.dist) {
    case VS_DIST_FIXED:
        if (sc.has_min || sc.has_max || sc.has_mean)
            return fail_at(L, v, "a fixed service time takes only 'time'");
        break;
    case VS_DIST_UNIFORM:
        if (!sc.has_min || !sc.has_max || sc.has_time || sc.has_mean)
            return fail_at(L, v, "a uniform service time takes 'min' and 'max'");
        if (S->timing.b_ns < S->timing.a_ns)
            return fail_at(L, v, "service 'max' is below 'min'");
        break;
    case VS_DIST_EXPONENTIAL:
        if (!sc.has_mean || sc.has_time || sc.has_min || sc.has_max)
            return fail_at(L, v, "an exponential service time takes 'mean'");
        break;
    }
    return 0;
}

static const field timing_fields[] = {
    {"doorbell_latency", tim_doorbell}, {"irq_latency", tim_irq}, {"service", tim_service},
    {NULL, NULL},
};

/* ------------------------------------------------------------------ steps */

PARSER(st_queue) { return get_u16(L, v, 255, &T->queue); }
PARSER(st_sector) { return get_u64(L, v, UINT64_MAX, &T->sector); }
PARSER(st_count) { return get_u32(L, v, (64u << 20) / VS_BLK_SECTOR, &T->count); } /* 64 MiB */
PARSER(st_pattern) { return get_u32(L, v, UINT32_MAX, &T->pattern); }
PARSER(st_verify) { return get_bool(L, v, &T->verify); }
PARSER(st_unmap) { return get_bool(L, v, &T->unmap); }
PARSER(st_dwz_flags) { return get_u32(L, v, UINT32_MAX, &T->dwz_flags); }
PARSER(st_type) { return get_u32(L, v, UINT32_MAX, &T->req_type); }
PARSER(st_expect_id) { return get_str(L, v, &T->expect_id); }
PARSER(st_expect)
{
    static const char *const names[] = {
        [VS_EXPECT_OK] = "ok", [VS_EXPECT_IOERR] = "ioerr", [VS_EXPECT_UNSUPP] = "unsupp",
        [VS_EXPECT_ZONE_INVALID_CMD] = "zone_invalid_cmd",
        [VS_EXPECT_ZONE_UNALIGNED_WP] = "zone_unaligned_wp",
        [VS_EXPECT_ZONE_OPEN_RESOURCE] = "zone_open_resource",
        [VS_EXPECT_ZONE_ACTIVE_RESOURCE] = "zone_active_resource"};
    return get_enum(L, v, names, 7, &T->expect);
}
PARSER(st_expect_sector)
{
    T->has_expect_sector = true;
    return get_u64(L, v, UINT64_MAX, &T->expect_sector);
}
PARSER(st_zones)
{
    int r = get_u32(L, v, 4096, &T->zones);
    if (r == 0 && T->zones == 0)
        return fail_at(L, v, "zones must be at least 1");
    return r;
}
PARSER(st_expect_states)
{
    static const char *const names[16] = {
        [VS_BLK_ZS_NOT_WP] = "not_wp", [VS_BLK_ZS_EMPTY] = "empty", [VS_BLK_ZS_IOPEN] = "iopen",
        [VS_BLK_ZS_EOPEN] = "eopen", [VS_BLK_ZS_CLOSED] = "closed",
        [VS_BLK_ZS_RDONLY] = "read_only", [VS_BLK_ZS_FULL] = "full",
        [VS_BLK_ZS_OFFLINE] = "offline"};
    if (v->type != YAML_SEQUENCE_NODE)
        return fail_at(L, v, "expected a list of zone states such as [empty, iopen, full]");
    T->n_states = 0;
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        if (T->n_states >= VS_STEP_MAX_ZONES)
            return fail_at(L, node(L, *i), "at most %d zone states", VS_STEP_MAX_ZONES);
        int k = 0;
        int r = get_enum(L, node(L, *i), names, 16, &k);
        if (r < 0)
            return r;
        T->expect_states[T->n_states++] = (uint8_t)k;
    }
    return 0;
}
PARSER(st_expect_wp)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return fail_at(L, v, "expected a list of write pointers (sectors)");
    T->n_wp = 0;
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        if (T->n_wp >= VS_STEP_MAX_ZONES)
            return fail_at(L, node(L, *i), "at most %d write pointers", VS_STEP_MAX_ZONES);
        int r = get_u64(L, node(L, *i), UINT64_MAX, &T->expect_wp[T->n_wp]);
        if (r < 0)
            return r;
        T->n_wp++;
    }
    return 0;
}
PARSER(st_init_expect)
{
    static const char *const names[] = {"ok", "features_refused"};
    int k = 0;
    int r = get_enum(L, v, names, 2, &k);
    T->expect_features_refused = k == 1;
    return r;
}
PARSER(st_fault_kind)
{
    static const char *names[VS_FAULT_LAST + 1];
    for (int i = VS_FAULT_LOOP; i <= VS_FAULT_LAST; i++)
        names[i] = vs_fault_name((enum vs_fault)i);
    int k = 0;
    int r = get_enum(L, v, names, VS_FAULT_LAST + 1, &k);
    T->fault = (enum vs_fault)k;
    return r;
}
PARSER(st_fault_expect)
{
    static const char *const names[] = {"needs_reset", "survives"};
    int k = 0;
    int r = get_enum(L, v, names, 2, &k);
    T->fault_survives = k == 1;
    return r;
}
PARSER(st_reinit) { return get_bool(L, v, &T->reinit); }
PARSER(st_wait_time) { return get_time(L, v, &T->wait_ns); }
PARSER(st_field)
{
    const char *s = scalar(v);
    if (!s || strlen(s) >= sizeof T->field)
        return fail_at(L, v, "expected a config field name");
    strcpy(T->field, s);
    return 0;
}
PARSER(st_value) { return get_u64(L, v, 255, &T->value); } /* writeback is one byte */

/* workload (fio vocabulary) */
PARSER(wl_rw)
{
    static const char *names[VS_RW_RANDRW + 1];
    for (int i = VS_RW_READ; i <= VS_RW_RANDRW; i++)
        names[i] = vs_rw_kind_name((vs_rw_kind)i);
    int k = 0;
    int r = get_enum(L, v, names, VS_RW_RANDRW + 1, &k);
    T->wl.rw = (vs_rw_kind)k;
    return r;
}
PARSER(wl_bs)
{
    uint64_t n;
    int r = get_size(L, v, &n);
    if (r == 0 && (n == 0 || n % VS_BLK_SECTOR || n > (64u << 20)))
        return fail_at(L, v, "bs must be a multiple of 512 bytes, at most 64MiB");
    T->wl.bs = (uint32_t)n;
    return r;
}
PARSER(wl_iodepth)
{
    int r = get_u32(L, v, VS_VQ_MAX_SIZE, &T->wl.iodepth);
    if (r == 0 && T->wl.iodepth == 0)
        return fail_at(L, v, "iodepth must be at least 1");
    return r;
}
PARSER(wl_mix)
{
    int r = get_u32(L, v, 100, &T->wl.rwmixread);
    return r;
}
PARSER(wl_ios) { return get_u64(L, v, UINT64_C(1) << 40, &T->wl.number_ios); }
PARSER(wl_verify)
{
    const char *s = scalar(v);
    if (!s)
        return fail_at(L, v, "expected a verify mode such as pattern, or none");
    static const char *const off[] = {"none", "false", "no", "off"};
    static const char *const on[] = {"pattern", "true", "yes", "on", "crc32c", "md5", "meta"};
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++)
        if (strcasecmp(s, off[i]) == 0) {
            T->wl.verify = false;
            return 0;
        }
    for (size_t i = 0; i < sizeof on / sizeof on[0]; i++)
        if (strcasecmp(s, on[i]) == 0) {
            T->wl.verify = true;
            return 0;
        }
    return fail_at(L, v, "unknown verify mode '%s' (pattern, crc32c, ... to verify; none to skip)",
                   s);
}
PARSER(wl_offset) { return get_u64(L, v, UINT64_C(1) << 44, &T->wl.offset); }
PARSER(wl_size) { return get_u64(L, v, UINT64_C(1) << 44, &T->wl.size); }
PARSER(wl_queues)
{
    int r = get_u16(L, v, 256, &T->wl.queues);
    if (r == 0 && T->wl.queues == 0)
        return fail_at(L, v, "queues must be at least 1");
    return r;
}

/* expect */
PARSER(ex_status)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return fail_at(L, v, "expected a list of status bits such as [DRIVER_OK]");
    static const char *const names[] = {"ACKNOWLEDGE", "DRIVER", "DRIVER_OK", "FEATURES_OK",
                                        "SUSPEND", NULL, "DEVICE_NEEDS_RESET", "FAILED"};
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        int k = 0;
        int r = get_enum(L, node(L, *i), names, 8, &k);
        if (r < 0)
            return r;
        T->status_set |= (uint8_t)(1u << k);
    }
    return 0;
}
PARSER(ex_needs_reset)
{
    bool b = false;
    int r = get_bool(L, v, &b);
    T->needs_reset = b;
    return r;
}
PARSER(ex_features) { return features_list(L, v, &T->features_required); }
PARSER(ex_config)
{
    if (v->type != YAML_MAPPING_NODE)
        return fail_at(L, v, "expected a mapping of config field to value");
    static const char *const known[] = {
        "capacity", "size_max", "seg_max", "cylinders", "heads", "sectors", "blk_size",
        "physical_block_exp", "alignment_offset", "min_io_size", "opt_io_size", "writeback",
        "num_queues", "max_discard_sectors", "max_discard_seg", "discard_sector_alignment",
        "max_write_zeroes_sectors", "max_write_zeroes_seg", "write_zeroes_may_unmap",
        "unused0", "unused1", "zone_sectors", "max_open_zones", "max_active_zones",
        "max_append_sectors", "write_granularity", "zoned_model", "unused2",
        "max_secure_erase_sectors", "max_secure_erase_seg", "secure_erase_sector_alignment",
    };
    const int nknown = (int)(sizeof known / sizeof known[0]);
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = node(L, p->key);
        int idx;
        int r = get_enum(L, k, known, nknown, &idx);
        if (r < 0)
            return r;
        if (T->ncfg >= VS_STEP_MAX_CFG)
            return fail_at(L, k, "too many config fields in one expect (at most %d)",
                           VS_STEP_MAX_CFG);
        strcpy(T->cfg[T->ncfg].field, known[idx]);
        r = get_u64(L, node(L, p->value), UINT64_MAX, &T->cfg[T->ncfg].value);
        if (r < 0)
            return r;
        T->ncfg++;
    }
    return 0;
}

static const field io_fields[] = {
    {"sector", st_sector}, {"count", st_count}, {"queue", st_queue}, {"expect", st_expect},
    {"verify", st_verify}, {"pattern", st_pattern}, {NULL, NULL},
};
static const field flush_fields[] = {{"queue", st_queue}, {"expect", st_expect}, {NULL, NULL}};
static const field get_id_fields[] = {
    {"queue", st_queue}, {"expect", st_expect}, {"expect_id", st_expect_id}, {NULL, NULL},
};
static const field dwz_fields[] = {
    {"sector", st_sector}, {"count", st_count}, {"unmap", st_unmap}, {"queue", st_queue},
    {"expect", st_expect}, {"flags", st_dwz_flags}, {NULL, NULL},
};
static const field request_fields[] = {
    {"type", st_type}, {"sector", st_sector}, {"count", st_count}, {"queue", st_queue},
    {"expect", st_expect}, {NULL, NULL},
};
static const field zone_append_fields[] = {
    {"sector", st_sector}, {"count", st_count}, {"queue", st_queue}, {"expect", st_expect},
    {"pattern", st_pattern}, {"expect_sector", st_expect_sector}, {NULL, NULL},
};
static const field zone_report_fields[] = {
    {"sector", st_sector}, {"zones", st_zones}, {"queue", st_queue}, {"expect", st_expect},
    {"expect_states", st_expect_states}, {"expect_wp", st_expect_wp}, {NULL, NULL},
};
static const field zone_mgmt_fields[] = {
    {"sector", st_sector}, {"queue", st_queue}, {"expect", st_expect}, {NULL, NULL},
};
static const field workload_fields[] = {
    {"rw", wl_rw}, {"bs", wl_bs}, {"iodepth", wl_iodepth}, {"rwmixread", wl_mix},
    {"number_ios", wl_ios}, {"verify", wl_verify}, {"offset", wl_offset}, {"size", wl_size},
    {"queues", wl_queues}, {NULL, NULL},
};
static const field expect_fields[] = {
    {"status", ex_status}, {"needs_reset", ex_needs_reset}, {"config", ex_config},
    {"features", ex_features}, {NULL, NULL},
};
static const field config_write_fields[] = {{"field", st_field}, {"value", st_value}, {NULL, NULL}};
static const field reset_fields[] = {{"reinit", st_reinit}, {NULL, NULL}};
PARSER(st_force) { return features_list(L, v, &T->force_features); }
static const field init_fields[] = {
    {"expect", st_init_expect}, {"force_features", st_force}, {NULL, NULL},
};
static const field fault_fields[] = {
    {"kind", st_fault_kind}, {"queue", st_queue}, {"expect", st_fault_expect}, {NULL, NULL},
};
static const field wait_fields[] = {{"time", st_wait_time}, {NULL, NULL}};
static const field notify_fields[] = {{"queue", st_queue}, {"count", st_count}, {NULL, NULL}};
PARSER(st_outstanding) { return get_u32(L, v, 1024, &T->count); }
PARSER(st_qsize) { return get_u32(L, v, VS_VQ_MAX_SIZE, &T->qsize); }
static const field queue_reset_fields[] = {
    {"queue", st_queue}, {"outstanding", st_outstanding}, {"after", st_wait_time}, {NULL, NULL},
};
static const field queue_enable_fields[] = {{"queue", st_queue}, {"size", st_qsize}, {NULL, NULL}};
PARSER(st_sus_expect)
{
    static const char *const names[] = {"done", "needs_reset"};
    int k = 0;
    int r = get_enum(L, v, names, 2, &k);
    T->expect_needs_reset = k == 1;
    return r;
}
static const field suspend_fields[] = {
    {"outstanding", st_outstanding}, {"after", st_wait_time}, {"expect", st_sus_expect},
    {NULL, NULL},
};
static const field resume_fields[] = {{"expect", st_sus_expect}, {NULL, NULL}};
static const field no_fields[] = {{NULL, NULL}};

static const struct step_schema {
    const char *name;
    vs_step_kind kind;
    const field *fields;
    bool bare_ok;            /* may be written as a bare word */
    const char *required[3]; /* keys that must be present */
} step_schemas[] = {
    {"init", VS_STEP_INIT, init_fields, true, {NULL}},
    {"read", VS_STEP_READ, io_fields, false, {"sector", "count"}},
    {"write", VS_STEP_WRITE, io_fields, false, {"sector", "count"}},
    {"flush", VS_STEP_FLUSH, flush_fields, true, {NULL}},
    {"get_id", VS_STEP_GET_ID, get_id_fields, true, {NULL}},
    {"discard", VS_STEP_DISCARD, dwz_fields, false, {"sector", "count"}},
    {"write_zeroes", VS_STEP_WRITE_ZEROES, dwz_fields, false, {"sector", "count"}},
    {"request", VS_STEP_REQUEST, request_fields, false, {"type"}},
    {"workload", VS_STEP_WORKLOAD, workload_fields, false, {"rw", "number_ios"}},
    {"expect", VS_STEP_EXPECT, expect_fields, false, {NULL}},
    {"config_write", VS_STEP_CONFIG_WRITE, config_write_fields, false, {"field", "value"}},
    {"reset", VS_STEP_RESET, reset_fields, true, {NULL}},
    {"fault", VS_STEP_FAULT, fault_fields, false, {"kind"}},
    {"wait", VS_STEP_WAIT, wait_fields, false, {"time"}},
    {"notify", VS_STEP_NOTIFY, notify_fields, true, {NULL}},
    {"queue_reset", VS_STEP_QUEUE_RESET, queue_reset_fields, true, {NULL}},
    {"queue_enable", VS_STEP_QUEUE_ENABLE, queue_enable_fields, true, {NULL}},
    {"suspend", VS_STEP_SUSPEND, suspend_fields, true, {NULL}},
    {"resume", VS_STEP_RESUME, resume_fields, true, {NULL}},
    {"config_change", VS_STEP_CONFIG_CHANGE, no_fields, true, {NULL}},
    {"zone_append", VS_STEP_ZONE_APPEND, zone_append_fields, false, {"sector", "count"}},
    {"zone_report", VS_STEP_ZONE_REPORT, zone_report_fields, true, {NULL}},
    {"zone_open", VS_STEP_ZONE_OPEN, zone_mgmt_fields, false, {"sector"}},
    {"zone_close", VS_STEP_ZONE_CLOSE, zone_mgmt_fields, false, {"sector"}},
    {"zone_finish", VS_STEP_ZONE_FINISH, zone_mgmt_fields, false, {"sector"}},
    {"zone_reset", VS_STEP_ZONE_RESET, zone_mgmt_fields, false, {"sector"}},
    {"zone_reset_all", VS_STEP_ZONE_RESET_ALL, flush_fields, true, {NULL}},
    {"secure_erase", VS_STEP_SECURE_ERASE, dwz_fields, false, {"sector", "count"}},
    {"get_lifetime", VS_STEP_GET_LIFETIME, flush_fields, true, {NULL}},
};
#define NSCHEMAS (sizeof step_schemas / sizeof step_schemas[0])

const char *vs_step_kind_name(vs_step_kind k)
{
    for (size_t i = 0; i < NSCHEMAS; i++)
        if (step_schemas[i].kind == k)
            return step_schemas[i].name;
    return "unknown";
}

static void step_defaults(const vs_scenario *s, vs_step *t, const yaml_node_t *at)
{
    memset(t, 0, sizeof *t);
    t->line = (unsigned)at->start_mark.line + 1;
    t->col = (unsigned)at->start_mark.column + 1;
    t->verify = true;
    t->pattern = (uint32_t)s->seed;
    t->needs_reset = -1;
    t->reinit = true;
    t->wl.bs = 4096;
    t->wl.iodepth = s->driver.iodepth;
    t->wl.rwmixread = 50;
    t->wl.verify = true;
    t->wl.queues = 1;
    t->zones = VS_STEP_MAX_ZONES;
}

static int parse_step(loader *L, vs_scenario *s, const yaml_node_t *n, vs_step *t)
{
    step_defaults(s, t, n);
    const char *word = scalar(n);
    const yaml_node_t *body = NULL;
    if (!word) {
        if (n->type != YAML_MAPPING_NODE || n->data.mapping.pairs.top - n->data.mapping.pairs.start != 1)
            return fail_at(L, n, "expected a step: a bare word such as 'init' or a mapping with "
                                 "exactly one key such as 'read: {sector: 0, count: 8}'");
        const yaml_node_pair_t *p = n->data.mapping.pairs.start;
        word = scalar(node(L, p->key));
        body = node(L, p->value);
        if (!word)
            return fail_at(L, node(L, p->key), "expected a step name");
    }
    const struct step_schema *sc = NULL;
    for (size_t i = 0; i < NSCHEMAS; i++)
        if (strcmp(step_schemas[i].name, word) == 0)
            sc = &step_schemas[i];
    if (!sc) {
        char list[400] = "";
        for (size_t i = 0; i < NSCHEMAS; i++) {
            strncat(list, list[0] ? ", " : "", sizeof list - strlen(list) - 1);
            strncat(list, step_schemas[i].name, sizeof list - strlen(list) - 1);
        }
        return fail_at(L, n, "unknown step '%s' (expected one of: %s)", word, list);
    }
    t->kind = sc->kind;
    /* An empty value ("flush:") is the same as the bare word. */
    bool empty = !body || (scalar(body) && scalar(body)[0] == '\0' &&
                           body->data.scalar.style == YAML_PLAIN_SCALAR_STYLE);
    if (empty) {
        if (!sc->bare_ok)
            return fail_at(L, n, "step '%s' needs parameters (%s%s%s)", word,
                           sc->required[0] ? sc->required[0] : "",
                           sc->required[1] ? ", " : "", sc->required[1] ? sc->required[1] : "");
        return 0;
    }
    char what[48];
    snprintf(what, sizeof what, "step '%s'", word);
    int r = walk_mapping(L, body, sc->fields, t, what);
    if (r < 0)
        return r;
    for (int i = 0; i < 3 && sc->required[i]; i++)
        if (!mapping_get(L, body, sc->required[i]))
            return fail_at(L, body, "step '%s' is missing '%s'", word, sc->required[i]);
    if (t->kind == VS_STEP_CONFIG_WRITE && strcmp(t->field, "writeback") != 0)
        return fail_at(L, body, "config_write supports only the field 'writeback'");
    if ((t->kind == VS_STEP_READ || t->kind == VS_STEP_WRITE) && t->count == 0 &&
        t->expect == VS_EXPECT_OK)
        return fail_at(L, body, "count must be at least 1");
    if (t->kind == VS_STEP_WORKLOAD && t->wl.number_ios == 0)
        return fail_at(L, body, "number_ios must be at least 1");
    return 0;
}

PARSER(top_steps)
{
    if (v->type != YAML_SEQUENCE_NODE || v->data.sequence.items.top == v->data.sequence.items.start)
        return fail_at(L, v, "expected a non-empty list of steps");
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    S->steps = calloc(n, sizeof *S->steps);
    if (!S->steps)
        return vs_err_set(L->e, VS_ENOMEM, "out of memory");
    /* Steps are parsed after every other key (see load), so defaults see the driver. */
    for (size_t i = 0; i < n; i++) {
        int r = parse_step(L, S, node(L, v->data.sequence.items.start[i]), &S->steps[i]);
        S->nsteps = (unsigned)i + 1;
        if (r < 0)
            return r;
    }
    return 0;
}
PARSER(top_name)
{
    int r = get_str(L, v, &S->name);
    if (r < 0)
        return r;
    if (strlen(S->name) > 63)
        return fail_at(L, v, "name '%.20s...' is longer than 63 characters", S->name);
    for (const char *p = S->name; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-' || *p == '_'))
            return fail_at(L, v, "name '%s' may contain only a-z, 0-9, '-' and '_'", S->name);
    return S->name[0] ? 0 : fail_at(L, v, "name is empty");
}
PARSER(top_desc) { return get_str(L, v, &S->description); }
PARSER(top_seed) { return get_u64(L, v, UINT64_MAX, &S->seed); }
PARSER(top_applies)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return fail_at(L, v, "expected a list of back-ends such as [ref, qemu]");
    static const char *const names[] = {"ref", "qemu", "vhost-user"};
    S->backends = 0;
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        int k = 0;
        int r = get_enum(L, node(L, *i), names, 3, &k);
        if (r < 0)
            return r;
        S->backends |= 1u << k;
    }
    return 0;
}
PARSER(top_device) { return walk_mapping(L, v, device_fields, ctx, "device"); }
PARSER(top_driver) { return walk_mapping(L, v, driver_fields, ctx, "driver"); }
PARSER(top_timing) { return walk_mapping(L, v, timing_fields, ctx, "timing"); }
PARSER(top_skip) { (void)L; (void)v; (void)ctx; return 0; }
PARSER(top_transport)
{
    static const char *const names[] = {"default", "pci"};
    int k = 0;
    int r = get_enum(L, v, names, 2, &k);
    S->transport_pci = k == 1;
    return r;
}

static const field top_fields[] = {
    {"name", top_name}, {"description", top_desc}, {"seed", top_seed},
    {"applies_to", top_applies}, {"device", top_device}, {"driver", top_driver},
    {"timing", top_timing}, {"steps", top_skip}, {"transport", top_transport}, {NULL, NULL},
};

static void scenario_defaults(vs_scenario *s)
{
    s->backends = VS_BACKEND_ALL;
    s->seed = 1;
    s->device.capacity_sectors = 2048;
    s->device.num_queues = 1;
    s->device.queue_size = 256;
    s->device.blk_size = 512;
    s->device.flush = s->device.discard = s->device.write_zeroes = true;
    s->device.config_wce = s->device.topology = s->device.geometry = true;
    s->device.writeback = true;
    s->device.max_discard_sectors = 65536;
    s->device.max_discard_seg = 1;
    s->device.discard_sector_alignment = 1;
    s->device.max_write_zeroes_sectors = 65536;
    s->device.max_write_zeroes_seg = 1;
    s->device.write_zeroes_may_unmap = true;
    s->driver.features = VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_F_INDIRECT_DESC) |
                         VS_BIT(VS_F_EVENT_IDX) | VS_BIT(VS_BLK_F_SIZE_MAX) |
                         VS_BIT(VS_BLK_F_SEG_MAX) | VS_BIT(VS_BLK_F_GEOMETRY) |
                         VS_BIT(VS_BLK_F_RO) | VS_BIT(VS_BLK_F_BLK_SIZE) |
                         VS_BIT(VS_BLK_F_FLUSH) | VS_BIT(VS_BLK_F_TOPOLOGY) |
                         VS_BIT(VS_BLK_F_CONFIG_WCE) | VS_BIT(VS_BLK_F_MQ) |
                         VS_BIT(VS_BLK_F_DISCARD) | VS_BIT(VS_BLK_F_WRITE_ZEROES) |
                         VS_BIT(VS_BLK_F_ZONED) | VS_BIT(VS_BLK_F_SECURE_ERASE) |
                         VS_BIT(VS_BLK_F_LIFETIME);
    s->driver.queue_size = 0; /* the device's maximum, as a real driver would pick */
    s->driver.queues = 1;
    s->driver.interrupts = VS_IRQ_MSIX;
    s->driver.seg_size = 4096;
    s->driver.iodepth = 1;
    s->timing.doorbell_latency_ns = 200;
    s->timing.irq_latency_ns = 200;
    s->timing.dist = VS_DIST_FIXED;
    s->timing.a_ns = 1000;
}

/* Cross-field rules that only make sense once everything is read. */
static int validate(loader *L, vs_scenario *s, const yaml_node_t *root)
{
    if (!s->name)
        return fail_at(L, root, "missing required key 'name'");
    if (!s->description)
        return fail_at(L, root, "missing required key 'description'");
    const yaml_node_t *drv = mapping_get(L, root, "driver");
    if (s->driver.packed && !(s->driver.features & VS_BIT(VS_F_RING_PACKED)))
        return fail_at(L, drv ? drv : root,
                       "ring: packed needs RING_PACKED in the driver's features");
    if (!s->driver.packed && s->driver.queue_size &&
        (s->driver.queue_size & (s->driver.queue_size - 1))) {
        const yaml_node_t *qs = drv ? mapping_get(L, drv, "queue_size") : NULL;
        return fail_at(L, qs ? qs : (drv ? drv : root),
                       "a split ring's queue_size must be a power of two (found %u)",
                       s->driver.queue_size);
    }
    if (!(s->driver.features & VS_BIT(VS_F_VERSION_1)))
        return fail_at(L, drv ? drv : root, "the driver's features must include VERSION_1");
    if ((s->driver.chain_layout & (VS_DRV_LAYOUT_INDIRECT_WRITE | VS_DRV_LAYOUT_DIRECT_FIRST)) &&
        (s->driver.packed || !s->driver.indirect)) {
        const yaml_node_t *cl = drv ? mapping_get(L, drv, "chain_layout") : NULL;
        return fail_at(L, cl ? cl : (drv ? drv : root),
                       "indirect_write_flag and direct_then_indirect need ring: split and "
                       "indirect: true");
    }
    const yaml_node_t *dev = mapping_get(L, root, "device");
    if (s->driver.queues > s->device.num_queues)
        return fail_at(L, drv ? drv : root, "the driver uses %u queues, the device has %u "
                       "(device.num_queues)", s->driver.queues, s->device.num_queues);
    if (s->driver.queue_size > s->device.queue_size)
        return fail_at(L, drv ? drv : root, "driver.queue_size %u is larger than the device's "
                       "maximum %u (device.queue_size)", s->driver.queue_size,
                       s->device.queue_size);
    if (!s->driver.packed && !s->driver.queue_size &&
        (s->device.queue_size & (s->device.queue_size - 1)))
        return fail_at(L, dev ? dev : root, "a split ring needs a power-of-two queue size: "
                       "device.queue_size %u is not one (set driver.queue_size)",
                       s->device.queue_size);
    if (!s->device.serial && !(s->device.serial = strdup("virtiosim")))
        return vs_err_set(L->e, VS_ENOMEM, "out of memory");
    return 0;
}

/* Opens and parses a whole YAML document into L->doc; errors name file:line:column. */
static int load_yaml(const char *path, loader *L, vs_err *e)
{
    memset(L, 0, sizeof *L);
    L->path = path;
    L->e = e;
    FILE *f = fopen(path, "rb");
    if (!f)
        return vs_err_set(e, VS_EINVAL, "%s: cannot open: %s", path, strerror(errno));
    /* Scenarios are small; a huge file is a mistake (and libyaml is quadratic on deep
     * nesting). */
    if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > (1L << 20)) {
        fclose(f);
        return vs_err_set(e, VS_EINVAL, "%s: larger than 1 MiB; not a scenario file", path);
    }
    rewind(f);
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    int r = 0;
    if (!yaml_parser_load(&p, &L->doc)) {
        r = vs_err_set(e, VS_EINVAL, "%s:%zu:%zu: %s%s%s", path, p.problem_mark.line + 1,
                       p.problem_mark.column + 1, p.problem ? p.problem : "malformed YAML",
                       p.context ? " " : "", p.context ? p.context : "");
    } else {
        /* One document per file: a second one would be silently ignored. */
        yaml_document_t extra;
        if (!yaml_parser_load(&p, &extra)) {
            r = vs_err_set(e, VS_EINVAL, "%s:%zu:%zu: %s", path, p.problem_mark.line + 1,
                           p.problem_mark.column + 1, p.problem ? p.problem : "malformed YAML");
        } else {
            yaml_node_t *root = yaml_document_get_root_node(&extra);
            if (root)
                r = vs_err_set(e, VS_EINVAL, "%s:%zu:%zu: a second YAML document; a file "
                               "holds one", path, root->start_mark.line + 1,
                               root->start_mark.column + 1);
            yaml_document_delete(&extra);
        }
        if (r < 0)
            yaml_document_delete(&L->doc);
    }
    yaml_parser_delete(&p);
    fclose(f);
    return r;
}

int vs_scenario_load(const char *path, vs_scenario **out, vs_err *e)
{
    *out = NULL;
    loader L;
    int lr = load_yaml(path, &L, e);
    if (lr < 0)
        return lr;

    int r = 0;
    vs_scenario *s = calloc(1, sizeof *s);
    yaml_node_t *root = yaml_document_get_root_node(&L.doc);
    if (!s || !(s->path = strdup(path))) {
        r = vs_err_set(e, VS_ENOMEM, "out of memory");
        goto out;
    }
    scenario_defaults(s);
    if (!root) {
        r = vs_err_set(e, VS_EINVAL, "%s:1:1: the file is empty (expected a scenario mapping)",
                       path);
        goto out;
    }
    r = walk_mapping(&L, root, top_fields, s, "the scenario");
    if (r < 0)
        goto out;
    r = validate(&L, s, root);
    if (r < 0)
        goto out;
    const yaml_node_t *steps = mapping_get(&L, root, "steps");
    if (!steps) {
        r = fail_at(&L, root, "missing required key 'steps'");
        goto out;
    }
    r = top_steps(&L, steps, s);
    if (r < 0)
        goto out;
    for (unsigned i = 0; i < s->nsteps; i++) {
        const vs_step *t = &s->steps[i];
        if (t->kind == VS_STEP_WORKLOAD && t->wl.queues > s->driver.queues) {
            r = vs_err_set(e, VS_EINVAL, "%s:%u:%u: the workload spreads over %u queues, the "
                           "driver sets up %u (driver.queues)", path, t->line, t->col,
                           t->wl.queues, s->driver.queues);
            goto out;
        }
        if (t->queue >= s->driver.queues) {
            r = vs_err_set(e, VS_EINVAL, "%s:%u:%u: queue %u is not set up (driver.queues is %u)",
                           path, t->line, t->col, t->queue, s->driver.queues);
            goto out;
        }
    }
out:
    yaml_document_delete(&L.doc);
    if (r < 0) {
        vs_scenario_free(s);
        return r;
    }
    *out = s;
    return 0;
}

void vs_scenario_free(vs_scenario *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < s->nsteps; i++)
        free(s->steps[i].expect_id);
    free(s->steps);
    free(s->path);
    free(s->name);
    free(s->description);
    free(s->device.image);
    free(s->device.serial);
    free(s);
}

/* ------------------------------------------------------------------ suites */

typedef struct suite_ctx {
    vs_suite *s;
} suite_ctx;
#define SU (((suite_ctx *)ctx)->s)

/* "a/b/../c" -> "a/c", "./x" -> "x", lexically (suites name their scenarios "../blk/x").
 * A ".." that has nothing to cancel is kept ("../../x" stays), at the root it is dropped. */
static void path_tidy(char *p)
{
    char in[PATH_MAX];
    if (strlen(p) >= sizeof in)
        return; /* leave it as it is */
    strcpy(in, p); /* read from a copy: the output may overtake the input */
    bool abs = *p == '/';
    char *base = p + abs, *out = base, *seg = in + abs;
    while (*seg) {
        char *end = strchr(seg, '/');
        size_t n = end ? (size_t)(end - seg) : strlen(seg);
        bool dot = n == 1 && seg[0] == '.', dotdot = n == 2 && seg[0] == '.' && seg[1] == '.';
        if (n == 0 || dot) {
            /* empty or "." segment: drop */
        } else if (dotdot && out > base) {
            /* the previous segment: from out (after its '/') back to the one before */
            char *prev = out - 1; /* the '/' ending it */
            char *start = prev;
            while (start > base && start[-1] != '/')
                start--;
            size_t plen = (size_t)(prev - start);
            if (plen == 2 && start[0] == '.' && start[1] == '.') {
                memmove(out, "../", 3); /* ".." over ".." cannot cancel */
                out += 3;
            } else {
                out = start;
            }
        } else if (dotdot && abs) {
            /* "/.." is "/" */
        } else {
            memmove(out, seg, n);
            out += n;
            *out++ = '/';
        }
        seg = end ? end + 1 : seg + n;
    }
    if (out > base)
        out--; /* the last '/' */
    *out = '\0';
    if (!*p)
        strcpy(p, ".");
}

PARSER(su_name) { return get_str(L, v, &SU->name); }
PARSER(su_desc) { return get_str(L, v, &SU->description); }
PARSER(su_scenarios)
{
    if (v->type != YAML_SEQUENCE_NODE || v->data.sequence.items.top == v->data.sequence.items.start)
        return fail_at(L, v, "expected a non-empty list of scenario files");
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    SU->scenarios = calloc(n, sizeof *SU->scenarios);
    if (!SU->scenarios)
        return vs_err_set(L->e, VS_ENOMEM, "out of memory");
    const char *slash = strrchr(L->path, '/');
    int dirlen = slash ? (int)(slash - L->path) : 1;
    const char *dir = slash ? L->path : ".";
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = node(L, v->data.sequence.items.start[i]);
        const char *f = scalar(item);
        if (!f || !*f)
            return fail_at(L, item, "expected a scenario file name");
        char *p;
        int w = f[0] == '/' ? asprintf(&p, "%s", f) /* absolute: as written */
                            : asprintf(&p, "%.*s/%s", dirlen, dir, f);
        if (w < 0)
            return vs_err_set(L->e, VS_ENOMEM, "out of memory");
        path_tidy(p);
        SU->scenarios[SU->nscenarios++] = p;
        if (access(p, R_OK) != 0)
            return fail_at(L, item, "scenario file %s: %s", p, strerror(errno));
    }
    return 0;
}

static const field suite_fields[] = {
    {"name", su_name}, {"description", su_desc}, {"scenarios", su_scenarios}, {NULL, NULL},
};

int vs_suite_load(const char *path, vs_suite **out, vs_err *e)
{
    *out = NULL;
    loader L;
    int lr = load_yaml(path, &L, e);
    if (lr < 0)
        return lr;
    vs_suite *s = calloc(1, sizeof *s);
    suite_ctx sc = {.s = s};
    int r = 0;
    yaml_node_t *root = yaml_document_get_root_node(&L.doc);
    if (!s || !(s->path = strdup(path)))
        r = vs_err_set(e, VS_ENOMEM, "out of memory");
    else if (!root)
        r = vs_err_set(e, VS_EINVAL, "%s:1:1: the file is empty (expected a suite)", path);
    else
        r = walk_mapping(&L, root, suite_fields, &sc, "the suite");
    if (r == 0 && (!s->name || !s->nscenarios))
        r = fail_at(&L, root, "a suite needs 'name' and 'scenarios'");
    yaml_document_delete(&L.doc);
    if (r < 0) {
        vs_suite_free(s);
        return r;
    }
    *out = s;
    return 0;
}

void vs_suite_free(vs_suite *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < s->nscenarios; i++)
        free(s->scenarios[i]);
    free(s->scenarios);
    free(s->path);
    free(s->name);
    free(s->description);
    free(s);
}

/* ------------------------------------------------------------------ expected results */

typedef struct exp_ctx {
    vs_expected *x;
    vs_expected_entry *cur;
} exp_ctx;
#define EX ((exp_ctx *)ctx)

PARSER(ex_backend) { return get_str(L, v, &EX->x->backend); }
PARSER(ex_version) { (void)ctx; return scalar(v) ? 0 : fail_at(L, v, "expected a version string"); }
PARSER(ex_scn) { return get_str(L, v, &EX->cur->scenario); }
PARSER(ex_stmt) { return get_str(L, v, &EX->cur->statement); }
PARSER(ex_reason) { return get_str(L, v, &EX->cur->reason); }
static const field exp_entry_fields[] = {
    {"scenario", ex_scn}, {"statement", ex_stmt}, {"reason", ex_reason}, {NULL, NULL},
};
PARSER(ex_list)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return fail_at(L, v, "expected a list of {scenario, reason}");
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    EX->x->e = calloc(n ? n : 1, sizeof *EX->x->e);
    if (!EX->x->e)
        return vs_err_set(L->e, VS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = node(L, v->data.sequence.items.start[i]);
        EX->cur = &EX->x->e[EX->x->n++];
        int r = walk_mapping(L, item, exp_entry_fields, ctx, "an expected result");
        if (r < 0)
            return r;
        if (!(EX->cur->scenario || EX->cur->statement) || !EX->cur->reason ||
            (EX->cur->scenario && EX->cur->statement))
            return fail_at(L, item, "an expected result needs a 'scenario' or a 'statement', "
                                    "and a 'reason'");
    }
    return 0;
}
static const field exp_fields[] = {
    {"backend", ex_backend}, {"version", ex_version}, {"expected", ex_list}, {NULL, NULL},
};

int vs_expected_load(const char *path, vs_expected **out, vs_err *e)
{
    *out = NULL;
    loader L;
    int lr = load_yaml(path, &L, e);
    if (lr < 0)
        return lr;
    vs_expected *x = calloc(1, sizeof *x);
    exp_ctx ec = {.x = x};
    int r = 0;
    yaml_node_t *root = yaml_document_get_root_node(&L.doc);
    if (!x || !(x->path = strdup(path)))
        r = vs_err_set(e, VS_ENOMEM, "out of memory");
    else if (!root)
        r = vs_err_set(e, VS_EINVAL, "%s:1:1: the file is empty", path);
    else
        r = walk_mapping(&L, root, exp_fields, &ec, "the expected results");
    yaml_document_delete(&L.doc);
    if (r < 0) {
        vs_expected_free(x);
        return r;
    }
    *out = x;
    return 0;
}

void vs_expected_free(vs_expected *x)
{
    if (!x)
        return;
    for (unsigned i = 0; i < x->n; i++) {
        free(x->e[i].scenario);
        free(x->e[i].statement);
        free(x->e[i].reason);
    }
    free(x->e);
    free(x->backend);
    free(x->path);
    free(x);
}

const vs_expected_entry *vs_expected_find(const vs_expected *x, const char *scenario)
{
    for (unsigned i = 0; x && i < x->n; i++)
        if (x->e[i].scenario && strcmp(x->e[i].scenario, scenario) == 0)
            return &x->e[i];
    return NULL;
}

const vs_expected_entry *vs_expected_find_statement(const vs_expected *x, const char *id)
{
    for (unsigned i = 0; x && i < x->n; i++)
        if (x->e[i].statement && strcmp(x->e[i].statement, id) == 0)
            return &x->e[i];
    return NULL;
}
