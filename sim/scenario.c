/* Scenario loader: libyaml's document API gives every node a position, so each error can
 * point at the exact line and column. The schema lives in tables: the top level, driver
 * and timing below, the core's steps in steps.c, the device's keys and steps in its
 * folder (sim/dev/<name>/, through its vs_step_set); an unknown key is an error (a typo
 * must never silently change a test). */
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
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "sim/profile_dev.h"
#include "sim/sim_dev.h"
#include "sim/step_dev.h"
#include "virtiosim/transport_ref.h"
#include "virtiosim/virtio.h"

struct vs_loader {
    const char *path;
    yaml_document_t doc;
    vs_err *e;
    const vs_sim_dev *dev;      /* the scenario's device, once known */
};

int vs_ld_fail(vs_loader *L, const yaml_node_t *n, const char *fmt, ...)
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

const yaml_node_t *vs_ld_node(vs_loader *L, int id) { return yaml_document_get_node(&L->doc, id); }

int vs_ld_nomem(vs_loader *L) { return vs_err_set(L->e, VS_ENOMEM, "out of memory"); }

const char *vs_ld_path(const vs_loader *L) { return L->path; }

const vs_sim_dev *vs_ld_dev(const vs_loader *L) { return L->dev; }

const char *vs_ld_scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

const char *vs_ld_kind(const yaml_node_t *n)
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
    /* Base 2 throughout, as fio reads sizes by default (kb_base=1024): 1MB == 1MiB ==
     * 1M == 1048576. One meaning per spelling; a block device's sizes are powers of two. */
    static const struct { const char *unit; uint64_t mul; } units[] = {
        {"", 1}, {"b", 1}, {"k", 1024}, {"kib", 1024}, {"kb", 1024},
        {"m", 1u << 20}, {"mib", 1u << 20}, {"mb", 1u << 20},
        {"g", 1u << 30}, {"gib", 1u << 30}, {"gb", 1u << 30},
        {"t", UINT64_C(1) << 40}, {"tib", UINT64_C(1) << 40}, {"tb", UINT64_C(1) << 40},
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

int vs_ld_u64(vs_loader *L, const yaml_node_t *n, uint64_t max, uint64_t *out)
{
    const char *s = vs_ld_scalar(n);
    if (!s)
        return vs_ld_fail(L, n, "expected a number, found %s", vs_ld_kind(n));
    char *end;
    errno = 0;
    unsigned long long v = isdigit((unsigned char)*s) ? parse_uint(s, &end) : 0;
    if (!isdigit((unsigned char)*s) || errno || end == s || *end)
        return vs_ld_fail(L, n, "expected a non-negative whole number, found '%s'", s);
    if (v > max)
        return vs_ld_fail(L, n, "%s is too large (at most %" PRIu64 ")", s, max);
    *out = v;
    return 0;
}

int vs_ld_u32(vs_loader *L, const yaml_node_t *n, uint32_t max, uint32_t *out)
{
    uint64_t v;
    int r = vs_ld_u64(L, n, max, &v);
    if (r == 0)
        *out = (uint32_t)v;
    return r;
}

int vs_ld_u16(vs_loader *L, const yaml_node_t *n, uint16_t max, uint16_t *out)
{
    uint64_t v;
    int r = vs_ld_u64(L, n, max, &v);
    if (r == 0)
        *out = (uint16_t)v;
    return r;
}

int vs_ld_bool(vs_loader *L, const yaml_node_t *n, bool *out)
{
    const char *s = vs_ld_scalar(n);
    static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
    for (int i = 0; s && i < 3; i++) {
        if (strcasecmp(s, yes[i]) == 0) { *out = true; return 0; }
        if (strcasecmp(s, no[i]) == 0) { *out = false; return 0; }
    }
    return vs_ld_fail(L, n, "expected true or false, found %s", s ? s : vs_ld_kind(n));
}

int vs_ld_size(vs_loader *L, const yaml_node_t *n, uint64_t *out)
{
    const char *s = vs_ld_scalar(n);
    if (!s || vs_parse_size(s, out) != 0)
        return vs_ld_fail(L, n, "expected a size: a whole number and optionally a unit, "
                       "B, K/KB/KiB, M/MB/MiB, G/GB/GiB or T/TB/TiB (base 2: 1MB == 1MiB), "
                       "found '%s'", s ? s : vs_ld_kind(n));
    return 0;
}

int vs_ld_time(vs_loader *L, const yaml_node_t *n, uint64_t *out)
{
    const char *s = vs_ld_scalar(n);
    if (!s || vs_parse_time_ns(s, out) != 0)
        return vs_ld_fail(L, n, "expected a time such as 500ns, 20us or 1ms, found %s",
                       s ? s : vs_ld_kind(n));
    return 0;
}

int vs_ld_str(vs_loader *L, const yaml_node_t *n, char **out)
{
    const char *s = vs_ld_scalar(n);
    if (!s)
        return vs_ld_fail(L, n, "expected a string, found %s", vs_ld_kind(n));
    free(*out);
    *out = strdup(s);
    return *out ? 0 : vs_err_set(L->e, VS_ENOMEM, "out of memory");
}

int vs_ld_enum(vs_loader *L, const yaml_node_t *n, const char *const *names, int count,
                    int *out)
{
    const char *s = vs_ld_scalar(n);
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
    return vs_ld_fail(L, n, "expected one of %s, found %s", list, s ? s : vs_ld_kind(n));
}

/* ------------------------------------------------------------------ mapping walker */

int vs_ld_walk(vs_loader *L, const yaml_node_t *map, const vs_field *fields, void *ctx,
                        const char *what)
{
    if (map->type != YAML_MAPPING_NODE)
        return vs_ld_fail(L, map, "expected a mapping for %s, found %s", what, vs_ld_kind(map));
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = vs_ld_node(L, p->key), *v = vs_ld_node(L, p->value);
        const char *ks = vs_ld_scalar(k);
        if (!ks)
            return vs_ld_fail(L, k, "expected a key name in %s", what);
        /* libyaml keeps duplicate keys; a second value would silently win (or, for lists,
         * be merged into storage sized for the first): refuse them. */
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            const char *qs = vs_ld_scalar(vs_ld_node(L, q->key));
            if (qs && strcmp(qs, ks) == 0)
                return vs_ld_fail(L, k, "duplicate key '%s' in %s", ks, what);
        }
        const vs_field *f = fields;
        while (f->key && strcmp(f->key, ks) != 0)
            f++;
        if (!f->key) {
            char list[400] = "";
            for (const vs_field *g = fields; g->key; g++) {
                strncat(list, list[0] ? ", " : "", sizeof list - strlen(list) - 1);
                strncat(list, g->key, sizeof list - strlen(list) - 1);
            }
            return vs_ld_fail(L, k, "unknown key '%s' in %s (expected one of: %s)", ks, what, list);
        }
        int r = f->parse(L, v, ctx);
        if (r < 0)
            return r;
    }
    return 0;
}

const yaml_node_t *vs_ld_get(vs_loader *L, const yaml_node_t *map, const char *key)
{
    if (map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const char *ks = vs_ld_scalar(vs_ld_node(L, p->key));
        if (ks && strcmp(ks, key) == 0)
            return vs_ld_node(L, p->value);
    }
    return NULL;
}

/* Is `real` (canonical) strictly below the canonical folder `dir`? */
static bool path_below(const char *real, const char *dir)
{
    size_t n = strlen(dir);
    if (n == 1)
        return real[0] == '/' && real[1];   /* dir is "/" */
    return strncmp(real, dir, n) == 0 && real[n] == '/' && real[n + 1];
}

/* Where a file the scenario names but does not exist yet would be created: its folder
 * resolved, its own name as written; a dangling symlink (created through) is refused. */
static int own_file_new(vs_loader *L, const yaml_node_t *v, const char *what, const char *p,
                        char *real)
{
    struct stat st;
    if (lstat(p, &st) == 0)
        return vs_ld_fail(L, v, "%s %s is a symlink to nothing; a scenario does not create "
                          "files through symlinks", what, p);
    const char *slash = strrchr(p, '/');
    const char *base = slash ? slash + 1 : p;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return vs_ld_fail(L, v, "%s %s names a folder, not a file", what, p);
    char parent[PATH_MAX], rp[PATH_MAX];
    snprintf(parent, sizeof parent, "%.*s", slash ? (int)(slash - p) : 1, slash ? p : ".");
    if (!realpath(parent[0] ? parent : "/", rp))
        return vs_ld_fail(L, v, "%s: folder %s: %s", what, parent, strerror(errno));
    if (snprintf(real, PATH_MAX, "%s/%s", strcmp(rp, "/") ? rp : "", base) >= PATH_MAX)
        return vs_ld_fail(L, v, "%s: path too long", what);
    return 0;
}

int vs_ld_own_file(vs_loader *L, const yaml_node_t *v, const char *what, char **out)
{
    const char *name = vs_ld_scalar(v);
    if (!name || !*name)
        return vs_ld_fail(L, v, "expected a file name for %s", what);
    const char *slash = strrchr(L->path, '/');
    char sdir[PATH_MAX], dir[PATH_MAX], self[PATH_MAX], real[PATH_MAX], p[PATH_MAX];
    snprintf(sdir, sizeof sdir, "%.*s", slash ? (int)(slash - L->path) : 1,
             slash ? L->path : ".");
    if (!realpath(sdir[0] ? sdir : "/", dir) || !realpath(L->path, self))
        return vs_ld_fail(L, v, "%s: the scenario's folder: %s", what, strerror(errno));
    if (snprintf(p, sizeof p, "%s%s%s", name[0] == '/' ? "" : dir, name[0] == '/' ? "" : "/",
                 name) >= (int)sizeof p)
        return vs_ld_fail(L, v, "%s: path too long", what);
    struct stat st;
    if (realpath(p, real)) {
        if (stat(real, &st) != 0 || !S_ISREG(st.st_mode))
            return vs_ld_fail(L, v, "%s %s is not a regular file", what, name);
        if (strcmp(real, self) == 0)
            return vs_ld_fail(L, v, "%s %s is the scenario file itself", what, name);
    } else if (errno == ENOENT || errno == ENOTDIR) {
        int r = own_file_new(L, v, what, p, real);
        if (r < 0)
            return r;
    } else {
        return vs_ld_fail(L, v, "%s %s: %s", what, name, strerror(errno));
    }
    if (!path_below(real, dir))
        return vs_ld_fail(L, v, "%s %s is outside the scenario's folder %s (it resolves to %s); "
                          "a scenario may only write files in its own folder", what, name, dir,
                          real);
    *out = strdup(real);
    return *out ? 0 : vs_ld_nomem(L);
}

/* Parser functions receive the scenario (top level) or the step being built. */
#define S ((vs_scenario *)ctx)
#define T ((vs_step *)ctx)
#define PARSER(name) static int name(vs_loader *L, const yaml_node_t *v, void *ctx)

int vs_ld_features(vs_loader *L, const yaml_node_t *v, uint64_t *out)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return vs_ld_fail(L, v, "expected a list of feature names, found %s", vs_ld_kind(v));
    uint64_t f = 0;
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        const yaml_node_t *n = vs_ld_node(L, *i);
        const char *s = vs_ld_scalar(n);
        int bit = s ? vs_feature_bit(L->dev->device_id, s) : -1;
        if (bit < 0)
            return vs_ld_fail(L, n, "unknown feature '%s' (use a name such as VIRTIO_F_EVENT_IDX, "
                                 "EVENT_IDX or %s)", s ? s : vs_ld_kind(n),
                              L->dev->steps->feature_example);
        f |= VS_BIT(bit);
    }
    *out = f;
    return 0;
}

/* ------------------------------------------------------------------ top level: device */

/* The device is known before any key is read (the driver's feature names and the
 * `device:` keys are the device's); `kind` is then only checked again in place. */
static int device_kind(vs_loader *L, const yaml_node_t *v, const vs_sim_dev **out)
{
    enum { NAMES_MAX = 64 };
    const char *names[NAMES_MAX];
    int n = 0;
    for (const vs_sim_dev *const *d = vs_sim_devs; *d && n < NAMES_MAX; d++)
        names[n++] = (*d)->name;
    int k = 0;
    int r = vs_ld_enum(L, v, names, n, &k);
    if (r == 0)
        *out = vs_sim_devs[k];
    return r;
}

/* The device of a scenario that names none: the one whose table says it is the default
 * (blk, for the files written before there was a choice), never "whichever folder sorts
 * first", so adding a device changes no existing scenario. */
static const vs_sim_dev *default_device(void)
{
    for (const vs_sim_dev *const *d = vs_sim_devs; *d; d++)
        if ((*d)->default_kind)
            return *d;
    return NULL;
}
/* A provocation of the driver: the device config region longer than the type's. */
PARSER(dev_config_extra) { return vs_ld_u32(L, v, 4096, &S->config_extra); }

PARSER(dev_kind)
{
    const vs_sim_dev *d;
    (void)ctx;
    return device_kind(L, v, &d);
}

VS_PARSER(vs_scn_num_queues)
{
    int r = vs_ld_u16(L, v, 256, &S->num_queues);
    if (r == 0 && S->num_queues == 0)
        return vs_ld_fail(L, v, "num_queues must be at least 1");
    return r;
}
VS_PARSER(vs_scn_queue_size)
{
    int r = vs_ld_u32(L, v, VS_VQ_MAX_SIZE, &S->queue_size);
    if (r == 0 && S->queue_size == 0)
        return vs_ld_fail(L, v, "queue_size must be between 1 and 32768");
    return r;
}
VS_PARSER(vs_scn_extra_features)
{
    uint64_t f;
    int r = vs_ld_features(L, v, &f);
    if (r == 0 && (f & (VS_BIT(24) - 1)))
        return vs_ld_fail(L, v, "extra_features takes device-independent bits (24 and up), such "
                                "as RING_RESET; %s features go in 'features'", L->dev->name);
    S->extra_features = f;
    return r;
}

VS_PARSER(vs_scn_withhold_features)
{
    uint64_t f;
    int r = vs_ld_features(L, v, &f);
    if (r == 0 && (f & (VS_BIT(24) - 1)))
        return vs_ld_fail(L, v, "withhold_features takes device-independent bits (24 and up), "
                                "such as RING_PACKED; leave %s features out of 'features'",
                          L->dev->name);
    S->withheld_features = f;
    return r;
}

/* `device:`: kind, then the device's own keys. */
PARSER(top_device)
{
    const vs_field *keys = L->dev->steps->device_keys;
    size_t n = 0;
    while (keys[n].key)
        n++;
    vs_field *all = calloc(n + 3, sizeof *all);
    if (!all)
        return vs_ld_nomem(L);
    all[0] = (vs_field){"kind", dev_kind};
    all[1] = (vs_field){"config_extra", dev_config_extra};
    memcpy(all + 2, keys, n * sizeof *all);
    int r = vs_ld_walk(L, v, all, ctx, "device");
    free(all);
    return r;
}

/* ------------------------------------------------------------------ driver, timing */

PARSER(drv_features) { return vs_ld_features(L, v, &S->driver.features); }

PARSER(drv_ring)
{
    static const char *const names[] = {"split", "packed"};
    int k = 0;
    int r = vs_ld_enum(L, v, names, 2, &k);
    S->driver.packed = k == 1;
    return r;
}
PARSER(drv_qs)
{
    int r = vs_ld_u32(L, v, VS_VQ_MAX_SIZE, &S->driver.queue_size);
    if (r == 0 && S->driver.queue_size == 0)
        return vs_ld_fail(L, v, "queue_size must be between 1 and 32768");
    return r;
}
PARSER(drv_queues)
{
    int r = vs_ld_u16(L, v, 256, &S->driver.queues);
    if (r == 0 && S->driver.queues == 0)
        return vs_ld_fail(L, v, "queues must be at least 1");
    return r;
}
PARSER(drv_irq)
{
    static const char *const names[] = {[VS_IRQ_MSIX] = "msix", [VS_IRQ_INTX] = "intx",
                                        [VS_IRQ_POLL] = "poll"};
    return vs_ld_enum(L, v, names, 3, &S->driver.interrupts);
}
PARSER(drv_indirect) { return vs_ld_bool(L, v, &S->driver.indirect); }
PARSER(drv_irq_delay) { return vs_ld_bool(L, v, &S->driver.interrupt_delay); }
PARSER(drv_mislead) { return vs_ld_bool(L, v, &S->driver.mislead_suppression); }
PARSER(drv_fill) { return vs_ld_u32(L, v, VS_VQ_MAX_SIZE, &S->driver.fill_before_driver_ok); }
PARSER(drv_cfg_early) { return vs_ld_bool(L, v, &S->driver.read_config_early); }
PARSER(drv_sus_early) { return vs_ld_bool(L, v, &S->driver.suspend_before_driver_ok); }
PARSER(drv_layout)
{
    static const char *const names[] = {"indirect_write_flag", "direct_then_indirect",
                                        "split_header"};
    if (v->type != YAML_SEQUENCE_NODE)
        return vs_ld_fail(L, v, "expected a list of chain layouts, found %s", vs_ld_kind(v));
    uint32_t f = 0;
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        int k = 0;
        int r = vs_ld_enum(L, vs_ld_node(L, *i), names, 3, &k);
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
    int r = vs_ld_size(L, v, &n);
    if (r == 0 && (n == 0 || n > UINT32_MAX))
        return vs_ld_fail(L, v, "seg_size must be between 1 byte and 4 GiB");
    S->driver.seg_size = (uint32_t)n;
    return r;
}
PARSER(drv_iodepth)
{
    int r = vs_ld_u32(L, v, VS_VQ_MAX_SIZE, &S->driver.iodepth);
    if (r == 0 && S->driver.iodepth == 0)
        return vs_ld_fail(L, v, "iodepth must be at least 1");
    return r;
}

static const vs_field driver_fields[] = {
    {"features", drv_features}, {"ring", drv_ring}, {"queue_size", drv_qs},
    {"queues", drv_queues}, {"interrupts", drv_irq}, {"indirect", drv_indirect},
    {"interrupt_delay", drv_irq_delay}, {"mislead_suppression", drv_mislead},
    {"fill_before_driver_ok", drv_fill}, {"chain_layout", drv_layout},
    {"read_config_early", drv_cfg_early}, {"suspend_before_driver_ok", drv_sus_early},
    {"seg_size", drv_seg}, {"iodepth", drv_iodepth}, {NULL, NULL},
};

PARSER(tim_doorbell) { return vs_ld_time(L, v, &S->timing.doorbell_latency_ns); }
PARSER(tim_irq) { return vs_ld_time(L, v, &S->timing.irq_latency_ns); }

/* A time distribution (the service time, the iothread's wake-up latency): where it goes
 * and what it is called in messages. */
typedef struct service_ctx {
    enum vs_scenario_dist *dist;
    uint64_t *a_ns, *b_ns;
    const char *what, *key;     /* "service time", "service" */
    bool has_time, has_min, has_max, has_mean;
} service_ctx;
#define SV ((service_ctx *)ctx)
PARSER(svc_dist)
{
    static const char *const names[] = {[VS_DIST_FIXED] = "fixed", [VS_DIST_UNIFORM] = "uniform",
                                        [VS_DIST_EXPONENTIAL] = "exponential"};
    int k = 0;
    int r = vs_ld_enum(L, v, names, 3, &k);
    *SV->dist = (enum vs_scenario_dist)k;
    return r;
}
PARSER(svc_time) { SV->has_time = true; return vs_ld_time(L, v, SV->a_ns); }
PARSER(svc_min) { SV->has_min = true; return vs_ld_time(L, v, SV->a_ns); }
PARSER(svc_max) { SV->has_max = true; return vs_ld_time(L, v, SV->b_ns); }
PARSER(svc_mean) { SV->has_mean = true; return vs_ld_time(L, v, SV->a_ns); }

static const vs_field service_fields[] = {
    {"dist", svc_dist}, {"time", svc_time}, {"min", svc_min}, {"max", svc_max},
    {"mean", svc_mean}, {NULL, NULL},
};

static int parse_dist(vs_loader *L, const yaml_node_t *v, service_ctx *sc)
{
    int r = vs_ld_walk(L, v, service_fields, sc, sc->key);
    if (r < 0)
        return r;
    switch (*sc->dist) {
    case VS_DIST_FIXED:
        if (sc->has_min || sc->has_max || sc->has_mean)
            return vs_ld_fail(L, v, "a fixed %s takes only 'time'", sc->what);
        break;
    case VS_DIST_UNIFORM:
        if (!sc->has_min || !sc->has_max || sc->has_time || sc->has_mean)
            return vs_ld_fail(L, v, "a uniform %s takes 'min' and 'max'", sc->what);
        if (*sc->b_ns < *sc->a_ns)
            return vs_ld_fail(L, v, "%s 'max' is below 'min'", sc->key);
        break;
    case VS_DIST_EXPONENTIAL:
        if (!sc->has_mean || sc->has_time || sc->has_min || sc->has_max)
            return vs_ld_fail(L, v, "an exponential %s takes 'mean'", sc->what);
        break;
    }
    return 0;
}

PARSER(tim_service)
{
    service_ctx sc = {.dist = &S->timing.dist, .a_ns = &S->timing.a_ns,
                      .b_ns = &S->timing.b_ns, .what = "service time", .key = "service"};
    return parse_dist(L, v, &sc);
}

static const vs_field timing_fields[] = {
    {"doorbell_latency", tim_doorbell}, {"irq_latency", tim_irq}, {"service", tim_service},
    {NULL, NULL},
};

/* ------------------------------------------------------------------ steps */

/* Every step a scenario of device d may use: the core's, then the device's. */
static const vs_step_type *step_at(const vs_sim_dev *d, size_t i)
{
    size_t n = 0;
    while (vs_core_steps[n])
        n++;
    if (i < n)
        return vs_core_steps[i];
    return d->steps->steps[i - n];
}

static const vs_step_type *step_find(const vs_sim_dev *d, const char *word)
{
    const vs_step_type *ty;
    for (size_t i = 0; (ty = step_at(d, i)); i++)
        if (strcmp(ty->name, word) == 0)
            return ty;
    return NULL;
}

static int parse_step(vs_loader *L, vs_scenario *s, const yaml_node_t *n, vs_step *t)
{
    memset(t, 0, sizeof *t);
    t->line = (unsigned)n->start_mark.line + 1;
    t->col = (unsigned)n->start_mark.column + 1;
    t->needs_reset = -1;
    t->reinit = true;
    const char *word = vs_ld_scalar(n);
    const yaml_node_t *body = NULL;
    if (!word) {
        if (n->type != YAML_MAPPING_NODE || n->data.mapping.pairs.top - n->data.mapping.pairs.start != 1)
            return vs_ld_fail(L, n, "expected a step: a bare word such as 'init' or a mapping with "
                                 "exactly one key such as 'read: {sector: 0, count: 8}'");
        const yaml_node_pair_t *p = n->data.mapping.pairs.start;
        word = vs_ld_scalar(vs_ld_node(L, p->key));
        body = vs_ld_node(L, p->value);
        if (!word)
            return vs_ld_fail(L, vs_ld_node(L, p->key), "expected a step name");
    }
    const vs_step_type *sc = step_find(s->dev, word);
    if (!sc) {
        char list[400] = "";
        const vs_step_type *ty;
        for (size_t i = 0; (ty = step_at(s->dev, i)); i++) {
            strncat(list, list[0] ? ", " : "", sizeof list - strlen(list) - 1);
            strncat(list, ty->name, sizeof list - strlen(list) - 1);
        }
        return vs_ld_fail(L, n, "unknown step '%s' (expected one of: %s)", word, list);
    }
    t->type = sc;
    if (sc->params_size && !(t->dev = calloc(1, sc->params_size)))
        return vs_ld_nomem(L);
    if (sc->defaults)
        sc->defaults(s, t);
    /* An empty value ("flush:") is the same as the bare word. */
    bool empty = !body || (vs_ld_scalar(body) && vs_ld_scalar(body)[0] == '\0' &&
                           body->data.scalar.style == YAML_PLAIN_SCALAR_STYLE);
    if (empty) {
        if (!sc->bare_ok)
            return vs_ld_fail(L, n, "step '%s' needs parameters (%s%s%s)", word,
                           sc->required[0] ? sc->required[0] : "",
                           sc->required[1] ? ", " : "", sc->required[1] ? sc->required[1] : "");
        return 0;
    }
    char what[48];
    snprintf(what, sizeof what, "step '%s'", word);
    int r = vs_ld_walk(L, body, sc->fields, t, what);
    if (r < 0)
        return r;
    for (int i = 0; i < 3 && sc->required[i]; i++)
        if (!vs_ld_get(L, body, sc->required[i]))
            return vs_ld_fail(L, body, "step '%s' is missing '%s'", word, sc->required[i]);
    return sc->check ? sc->check(L, body, t) : 0;
}

VS_PARSER(vs_step_queue) { return vs_ld_u16(L, v, 255, &T->queue); }

PARSER(top_steps)
{
    if (v->type != YAML_SEQUENCE_NODE || v->data.sequence.items.top == v->data.sequence.items.start)
        return vs_ld_fail(L, v, "expected a non-empty list of steps");
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    S->steps = calloc(n, sizeof *S->steps);
    if (!S->steps)
        return vs_err_set(L->e, VS_ENOMEM, "out of memory");
    /* Steps are parsed after every other key (see load), so defaults see the driver. */
    for (size_t i = 0; i < n; i++) {
        int r = parse_step(L, S, vs_ld_node(L, v->data.sequence.items.start[i]), &S->steps[i]);
        S->nsteps = (unsigned)i + 1;
        if (r < 0)
            return r;
    }
    return 0;
}
PARSER(top_name)
{
    int r = vs_ld_str(L, v, &S->name);
    if (r < 0)
        return r;
    if (strlen(S->name) > 63)
        return vs_ld_fail(L, v, "name '%.20s...' is longer than 63 characters", S->name);
    for (const char *p = S->name; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) || *p == '-' || *p == '_'))
            return vs_ld_fail(L, v, "name '%s' may contain only a-z, 0-9, '-' and '_'", S->name);
    return S->name[0] ? 0 : vs_ld_fail(L, v, "name is empty");
}
PARSER(top_desc) { return vs_ld_str(L, v, &S->description); }
PARSER(top_seed) { return vs_ld_u64(L, v, UINT64_MAX, &S->seed); }
PARSER(top_applies)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return vs_ld_fail(L, v, "expected a list of back-ends such as [ref, qemu]");
    static const char *const names[] = {"ref", "qemu", "vhost-user", "guest"};
    S->backends = 0;
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        int k = 0;
        int r = vs_ld_enum(L, vs_ld_node(L, *i), names, 4, &k);
        if (r < 0)
            return r;
        S->backends |= 1u << k;
    }
    return 0;
}
PARSER(top_driver) { return vs_ld_walk(L, v, driver_fields, ctx, "driver"); }
PARSER(top_timing) { return vs_ld_walk(L, v, timing_fields, ctx, "timing"); }
PARSER(top_skip) { (void)L; (void)v; (void)ctx; return 0; }
PARSER(tr_kind)
{
    static const char *const names[] = {"default", "pci"};
    int k = 0;
    int r = vs_ld_enum(L, v, names, 2, &k);
    S->transport_pci = k == 1;
    return r;
}
PARSER(tr_notify)
{
    static const char *const names[] = {"direct", "iothread"}; /* enum vs_notify_path */
    return vs_ld_enum(L, v, names, 2, &S->iothread.notify);
}
PARSER(iot_threads)
{
    int r = vs_ld_u16(L, v, 64, &S->iothread.threads);
    if (r == 0 && S->iothread.threads == 0)
        return vs_ld_fail(L, v, "threads must be at least 1");
    return r;
}
PARSER(iot_wake)
{
    service_ctx sc = {.dist = &S->iothread.dist, .a_ns = &S->iothread.a_ns,
                      .b_ns = &S->iothread.b_ns, .what = "wake latency", .key = "wake_latency"};
    return parse_dist(L, v, &sc);
}
PARSER(iot_handler) { return vs_ld_time(L, v, &S->iothread.handler_ns); }

static const vs_field iothread_fields[] = {
    {"threads", iot_threads}, {"wake_latency", iot_wake}, {"handler_time", iot_handler},
    {NULL, NULL},
};
PARSER(tr_iothread) { return vs_ld_walk(L, v, iothread_fields, ctx, "iothread"); }

PARSER(tr_busy) { return vs_ld_bool(L, v, &S->notify_off_while_busy); }
PARSER(tr_layout)
{
    /* enum vs_pci_layout_quirk, in this order */
    static const char *const names[] = {"reserved_cfg_type", "reserved_bar", "duplicate_common",
                                        "long_cap_len", "duplicate_exact_length"};
    int k = 0;
    int r = vs_ld_enum(L, v, names, 5, &k);
    S->pci_layout_quirks = 1u << k;
    if (k >= 3) /* the duplicate layouts with one more twist */
        S->pci_layout_quirks |= 1u << 2;
    return r;
}
PARSER(tr_msix)
{
    int r = vs_ld_u16(L, v, 2048, &S->pci_msix_vectors);
    if (r == 0 && S->pci_msix_vectors == 0)
        return vs_ld_fail(L, v, "msix_vectors must be between 1 and 2048 (MSI-X Table Size "
                                "0 to 0x7FF)");
    return r;
}

PARSER(tr_echo) { return vs_ld_time(L, v, &S->echo_irq_ns); }

static const vs_field transport_fields[] = {
    {"kind", tr_kind}, {"notify", tr_notify}, {"iothread", tr_iothread},
    {"notify_off_while_busy", tr_busy}, {"layout", tr_layout}, {"msix_vectors", tr_msix},
    {"echo_interrupts", tr_echo}, {NULL, NULL},
};

/* `transport: pci`, or a mapping: {kind: pci, notify: iothread, iothread: {...}}. */
PARSER(top_transport)
{
    if (v->type != YAML_MAPPING_NODE)
        return tr_kind(L, v, ctx);
    int r = vs_ld_walk(L, v, transport_fields, ctx, "transport");
    if (r < 0)
        return r;
    const yaml_node_t *iot = vs_ld_get(L, v, "iothread");
    if (iot && S->iothread.notify != VS_NOTIFY_IOTHREAD)
        return vs_ld_fail(L, iot, "iothread settings need 'notify: iothread'");
    const yaml_node_t *pk = vs_ld_get(L, v, "layout");
    if (!pk)
        pk = vs_ld_get(L, v, "msix_vectors");
    if (pk && !S->transport_pci)
        return vs_ld_fail(L, pk, "layout and msix_vectors are the PCI function's: they need "
                                 "'kind: pci'");
    return 0;
}

static const vs_field top_fields[] = {
    {"name", top_name}, {"description", top_desc}, {"seed", top_seed},
    {"applies_to", top_applies}, {"device", top_device}, {"driver", top_driver},
    {"timing", top_timing}, {"steps", top_skip}, {"transport", top_transport},
    {"requires", vs_scn_requires}, {NULL, NULL},
};

static void scenario_defaults(vs_scenario *s)
{
    s->backends = VS_BACKEND_ALL;
    s->seed = 1;
    s->num_queues = 1;
    s->queue_size = 256;
    s->driver.features = VS_BIT(VS_F_VERSION_1) | VS_BIT(VS_F_INDIRECT_DESC) |
                         VS_BIT(VS_F_EVENT_IDX);
    s->driver.queue_size = 0; /* the device's maximum, as a real driver would pick */
    s->driver.queues = 1;
    s->driver.interrupts = VS_IRQ_MSIX;
    s->driver.seg_size = 4096;
    s->driver.iodepth = 1;
    s->timing.doorbell_latency_ns = 200;
    s->timing.irq_latency_ns = 200;
    s->timing.dist = VS_DIST_FIXED;
    s->timing.a_ns = 1000;
    s->iothread.threads = 1;
    s->iothread.dist = VS_DIST_FIXED;
    s->iothread.a_ns = 10000;
}

/* The scenario's device (`device: {kind: ...}`; without one, the default device), its
 * options and every default, before any key is read. */
static int scenario_device(vs_loader *L, vs_scenario *s, const yaml_node_t *root)
{
    const vs_sim_dev *d = default_device();
    const yaml_node_t *dev = vs_ld_get(L, root, "device");
    const yaml_node_t *kind = dev ? vs_ld_get(L, dev, "kind") : NULL;
    if (kind && device_kind(L, kind, &d) < 0)
        return -VS_EINVAL;
    if (!d)
        return vs_ld_fail(L, dev ? dev : root, "missing required key 'kind' (the device)");
    L->dev = d;
    s->dev = d;
    s->device_id = d->device_id;
    scenario_defaults(s);
    if (d->steps->options_size && !(s->dev_opts = calloc(1, d->steps->options_size)))
        return vs_ld_nomem(L);
    d->steps->defaults(s);
    return 0;
}

/* Cross-field rules that only make sense once everything is read. */
static int validate(vs_loader *L, vs_scenario *s, const yaml_node_t *root)
{
    if (!s->name)
        return vs_ld_fail(L, root, "missing required key 'name'");
    if (!s->description)
        return vs_ld_fail(L, root, "missing required key 'description'");
    const yaml_node_t *drv = vs_ld_get(L, root, "driver");
    if (s->driver.packed && !(s->driver.features & VS_BIT(VS_F_RING_PACKED)))
        return vs_ld_fail(L, drv ? drv : root,
                       "ring: packed needs RING_PACKED in the driver's features");
    if (!s->driver.packed && s->driver.queue_size &&
        (s->driver.queue_size & (s->driver.queue_size - 1))) {
        const yaml_node_t *qs = drv ? vs_ld_get(L, drv, "queue_size") : NULL;
        return vs_ld_fail(L, qs ? qs : (drv ? drv : root),
                       "a split ring's queue_size must be a power of two (found %u)",
                       s->driver.queue_size);
    }
    if (!(s->driver.features & VS_BIT(VS_F_VERSION_1)))
        return vs_ld_fail(L, drv ? drv : root, "the driver's features must include VERSION_1");
    if ((s->driver.chain_layout & (VS_DRV_LAYOUT_INDIRECT_WRITE | VS_DRV_LAYOUT_DIRECT_FIRST)) &&
        (s->driver.packed || !s->driver.indirect)) {
        const yaml_node_t *cl = drv ? vs_ld_get(L, drv, "chain_layout") : NULL;
        return vs_ld_fail(L, cl ? cl : (drv ? drv : root),
                       "indirect_write_flag and direct_then_indirect need ring: split and "
                       "indirect: true");
    }
    const yaml_node_t *dev = vs_ld_get(L, root, "device");
    if (s->driver.queues > s->num_queues)
        return vs_ld_fail(L, drv ? drv : root, "the driver uses %u queues, the device has %u "
                       "(device.num_queues)", s->driver.queues, s->num_queues);
    if (s->driver.queue_size > s->queue_size)
        return vs_ld_fail(L, drv ? drv : root, "driver.queue_size %u is larger than the device's "
                       "maximum %u (device.queue_size)", s->driver.queue_size,
                       s->queue_size);
    if (!s->driver.packed && !s->driver.queue_size &&
        (s->queue_size & (s->queue_size - 1)))
        return vs_ld_fail(L, dev ? dev : root, "a split ring needs a power-of-two queue size: "
                       "device.queue_size %u is not one (set driver.queue_size)",
                       s->queue_size);
    return s->dev->steps->finish ? s->dev->steps->finish(L, s, root) : 0;
}

/* Limits that keep loading linear in the file's size. libyaml's scanner costs O(flow depth)
 * per token (40,000 levels of `[` took 5 s, a 1 MiB file would take an hour), its loader
 * checks each anchor against every earlier one, and each alias makes our walker read its
 * node again. A scenario needs a few levels, a few anchors and aliases. */
enum {
    LD_MAX_DEPTH = 64,
    LD_MAX_ANCHORS = 256,
    LD_MAX_EXPANDED = 1 << 21,  /* nodes, counting each alias as the node it stands for */
};

typedef struct ld_shape {
    struct { char *name; uint64_t nodes; } anchors[LD_MAX_ANCHORS];
    unsigned nanchors, depth;
    uint64_t nodes;                                 /* expanded so far */
    struct { int anchor; uint64_t start; } open[LD_MAX_DEPTH + 1];
} ld_shape;

static int shape_fail(const char *path, const yaml_mark_t *m, vs_err *e, const char *what)
{
    return vs_err_set(e, VS_EINVAL, "%s:%zu:%zu: %s", path, m->line + 1, m->column + 1, what);
}

/* One event of the pre-pass: depth, anchors and the expanded size. */
static int shape_event(ld_shape *sh, const yaml_event_t *ev, const char *path, vs_err *e)
{
    const yaml_char_t *anchor = NULL;
    switch (ev->type) {
    case YAML_ALIAS_EVENT:
        for (unsigned i = 0; i < sh->nanchors; i++)
            if (strcmp(sh->anchors[i].name, (const char *)ev->data.alias.anchor) == 0)
                sh->nodes += sh->anchors[i].nodes;  /* undefined: the loader says so */
        break;
    case YAML_SCALAR_EVENT: anchor = ev->data.scalar.anchor; sh->nodes++; break;
    case YAML_SEQUENCE_START_EVENT: anchor = ev->data.sequence_start.anchor; break;
    case YAML_MAPPING_START_EVENT: anchor = ev->data.mapping_start.anchor; break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT: {
        if (!sh->depth)
            break;
        sh->depth--;
        int a = sh->open[sh->depth].anchor;
        if (a >= 0)
            sh->anchors[a].nodes = sh->nodes - sh->open[sh->depth].start + 1;
        break;
    }
    default: return 0;
    }
    if (sh->nodes > LD_MAX_EXPANDED)
        return shape_fail(path, &ev->start_mark, e, "aliases expand the file to more than "
                          "2 million nodes; not a scenario file");
    if (anchor && sh->nanchors == LD_MAX_ANCHORS)
        return shape_fail(path, &ev->start_mark, e, "more than 256 anchors; not a scenario file");
    int a = -1;
    if (anchor) {
        if (!(sh->anchors[sh->nanchors].name = strdup((const char *)anchor)))
            return vs_err_set(e, VS_ENOMEM, "out of memory");
        sh->anchors[sh->nanchors].nodes = 1;
        a = (int)sh->nanchors++;
    }
    if (ev->type == YAML_SEQUENCE_START_EVENT || ev->type == YAML_MAPPING_START_EVENT) {
        if (sh->depth == LD_MAX_DEPTH)
            return shape_fail(path, &ev->start_mark, e, "nested deeper than 64 levels; not a "
                              "scenario file");
        sh->nodes++;
        sh->open[sh->depth].anchor = a;
        sh->open[sh->depth++].start = sh->nodes;
    }
    return 0;
}

/* Reads the whole stream as events, before libyaml builds a document from it, and stops
 * at the first event past a limit: the scanner never goes deeper than the limit plus its
 * look-ahead (at most 1024 characters). Malformed YAML is left to the loader to report. */
static int check_shape(FILE *f, const char *path, vs_err *e)
{
    ld_shape *sh = calloc(1, sizeof *sh);
    if (!sh)
        return vs_err_set(e, VS_ENOMEM, "out of memory");
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    int r = 0;
    for (bool end = false; !end && r == 0;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev))
            break;
        end = ev.type == YAML_STREAM_END_EVENT;
        r = shape_event(sh, &ev, path, e);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&p);
    for (unsigned i = 0; i < sh->nanchors; i++)
        free(sh->anchors[i].name);
    free(sh);
    rewind(f);
    return r;
}

/* Opens and parses a whole YAML document into L->doc; errors name file:line:column.
 * buf != NULL: the document is those len bytes, named path. */
static int load_yaml(const char *path, const char *buf, size_t len, vs_loader *L, vs_err *e)
{
    memset(L, 0, sizeof *L);
    L->path = path;
    L->e = e;
    FILE *f = buf ? (len ? fmemopen((void *)buf, len, "rb") : fopen("/dev/null", "rb"))
                  : fopen(path, "rb");
    if (!f)
        return vs_err_set(e, VS_EINVAL, "%s: cannot open: %s", path, strerror(errno));
    /* Scenarios are small; a huge file is a mistake. */
    if (fseek(f, 0, SEEK_END) == 0 && ftell(f) > (1L << 20)) {
        fclose(f);
        return vs_err_set(e, VS_EINVAL, "%s: larger than 1 MiB; not a scenario file", path);
    }
    rewind(f);
    int sr = check_shape(f, path, e);
    if (sr < 0) {
        fclose(f);
        return sr;
    }
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

static int scenario_load(const char *path, const char *buf, size_t len, vs_scenario **out,
                         vs_err *e)
{
    *out = NULL;
    vs_loader L;
    int lr = load_yaml(path, buf, len, &L, e);
    if (lr < 0)
        return lr;

    int r = 0;
    vs_scenario *s = calloc(1, sizeof *s);
    yaml_node_t *root = yaml_document_get_root_node(&L.doc);
    if (!s || !(s->path = strdup(path))) {
        r = vs_err_set(e, VS_ENOMEM, "out of memory");
        goto out;
    }
    if (!root) {
        r = vs_err_set(e, VS_EINVAL, "%s:1:1: the file is empty (expected a scenario mapping)",
                       path);
        goto out;
    }
    r = scenario_device(&L, s, root);
    if (r < 0)
        goto out;
    r = vs_ld_walk(&L, root, top_fields, s, "the scenario");
    if (r < 0)
        goto out;
    r = validate(&L, s, root);
    if (r < 0)
        goto out;
    const yaml_node_t *steps = vs_ld_get(&L, root, "steps");
    if (!steps) {
        r = vs_ld_fail(&L, root, "missing required key 'steps'");
        goto out;
    }
    r = top_steps(&L, steps, s);
    if (r < 0)
        goto out;
    for (unsigned i = 0; i < s->nsteps; i++) {
        const vs_step *t = &s->steps[i];
        if (t->type->validate && (r = t->type->validate(s, t, e)) < 0)
            goto out;
        if (t->queue >= s->driver.queues) {
            r = vs_err_set(e, VS_EINVAL, "%s:%u:%u: queue %u is not set up (driver.queues is %u)",
                           path, t->line, t->col, t->queue, s->driver.queues);
            goto out;
        }
    }
    r = vs__requires_finish(&L, s, root);
out:
    yaml_document_delete(&L.doc);
    if (r < 0) {
        vs_scenario_free(s);
        return r;
    }
    *out = s;
    return 0;
}

int vs__ld_file(const char *path, vs_ld_root_fn fn, void *arg, vs_err *e)
{
    vs_loader L;
    int r = load_yaml(path, NULL, 0, &L, e);
    if (r < 0)
        return r;
    yaml_node_t *root = yaml_document_get_root_node(&L.doc);
    r = root ? fn(&L, root, arg) : vs_err_set(e, VS_EINVAL, "%s:1:1: the file is empty", path);
    yaml_document_delete(&L.doc);
    return r;
}

void vs_ld_set_dev(vs_loader *L, const vs_sim_dev *d) { L->dev = d; }

int vs_scenario_load(const char *path, vs_scenario **out, vs_err *e)
{
    return scenario_load(path, NULL, 0, out, e);
}

int vs_scenario_load_mem(const char *name, const char *buf, size_t len, vs_scenario **out,
                         vs_err *e)
{
    return scenario_load(name, buf ? buf : "", buf ? len : 0, out, e);
}

void vs_scenario_free(vs_scenario *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < s->nsteps; i++) {
        const vs_step_type *ty = s->steps[i].type;
        if (ty && ty->free && s->steps[i].dev)
            ty->free(s->steps[i].dev);
        free(s->steps[i].dev);
    }
    free(s->steps);
    if (s->dev_opts && s->dev->steps->options_free)
        s->dev->steps->options_free(s->dev_opts);
    free(s->dev_opts);
    free(s->requires);
    free(s->path);
    free(s->name);
    free(s->description);
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

PARSER(su_name) { return vs_ld_str(L, v, &SU->name); }
PARSER(su_desc) { return vs_ld_str(L, v, &SU->description); }
PARSER(su_scenarios)
{
    if (v->type != YAML_SEQUENCE_NODE || v->data.sequence.items.top == v->data.sequence.items.start)
        return vs_ld_fail(L, v, "expected a non-empty list of scenario files");
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    SU->scenarios = calloc(n, sizeof *SU->scenarios);
    if (!SU->scenarios)
        return vs_err_set(L->e, VS_ENOMEM, "out of memory");
    const char *slash = strrchr(L->path, '/');
    int dirlen = slash ? (int)(slash - L->path) : 1;
    const char *dir = slash ? L->path : ".";
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = vs_ld_node(L, v->data.sequence.items.start[i]);
        const char *f = vs_ld_scalar(item);
        if (!f || !*f)
            return vs_ld_fail(L, item, "expected a scenario file name");
        char *p;
        int w = f[0] == '/' ? asprintf(&p, "%s", f) /* absolute: as written */
                            : asprintf(&p, "%.*s/%s", dirlen, dir, f);
        if (w < 0)
            return vs_err_set(L->e, VS_ENOMEM, "out of memory");
        path_tidy(p);
        SU->scenarios[SU->nscenarios++] = p;
        if (access(p, R_OK) != 0)
            return vs_ld_fail(L, item, "scenario file %s: %s", p, strerror(errno));
    }
    return 0;
}

static const vs_field suite_fields[] = {
    {"name", su_name}, {"description", su_desc}, {"scenarios", su_scenarios}, {NULL, NULL},
};

int vs_suite_load(const char *path, vs_suite **out, vs_err *e)
{
    *out = NULL;
    vs_loader L;
    int lr = load_yaml(path, NULL, 0, &L, e);
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
        r = vs_ld_walk(&L, root, suite_fields, &sc, "the suite");
    if (r == 0 && (!s->name || !s->nscenarios))
        r = vs_ld_fail(&L, root, "a suite needs 'name' and 'scenarios'");
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

/* The back-end kinds a file can describe: the --backend values without their socket
 * argument, `pci` counting as `ref` (sim/main.c maps --backend onto these). */
static const char *const exp_backends[] = {"ref", "qemu", "qsd", "vhost-user",
                                           "qemu-vhost-user", "guest", "vhost-kernel"};
PARSER(ex_backend)
{
    int k;
    int r = vs_ld_enum(L, v, exp_backends,
                       (int)(sizeof exp_backends / sizeof exp_backends[0]), &k);
    if (r < 0)
        return r;
    EX->x->backend_line = (unsigned)v->start_mark.line + 1;
    EX->x->backend_col = (unsigned)v->start_mark.column + 1;
    return vs_ld_str(L, v, &EX->x->backend);
}
PARSER(ex_version)
{
    const char *s = vs_ld_scalar(v);
    if (!s || !isdigit((unsigned char)s[0]))
        return vs_ld_fail(L, v, "expected a version such as \"7.2\"");
    EX->x->version_line = (unsigned)v->start_mark.line + 1;
    EX->x->version_col = (unsigned)v->start_mark.column + 1;
    return vs_ld_str(L, v, &EX->x->version);
}
PARSER(ex_scn) { return vs_ld_str(L, v, &EX->cur->scenario); }
PARSER(ex_stmt) { return vs_ld_str(L, v, &EX->cur->statement); }
PARSER(ex_reason) { return vs_ld_str(L, v, &EX->cur->reason); }
static const vs_field exp_entry_fields[] = {
    {"scenario", ex_scn}, {"statement", ex_stmt}, {"reason", ex_reason}, {NULL, NULL},
};
PARSER(ex_list)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return vs_ld_fail(L, v, "expected a list of {scenario, reason}");
    size_t n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    EX->x->e = calloc(n ? n : 1, sizeof *EX->x->e);
    if (!EX->x->e)
        return vs_err_set(L->e, VS_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *item = vs_ld_node(L, v->data.sequence.items.start[i]);
        EX->cur = &EX->x->e[EX->x->n++];
        int r = vs_ld_walk(L, item, exp_entry_fields, ctx, "an expected result");
        if (r < 0)
            return r;
        if (!(EX->cur->scenario || EX->cur->statement) || !EX->cur->reason ||
            (EX->cur->scenario && EX->cur->statement))
            return vs_ld_fail(L, item, "an expected result needs a 'scenario' or a 'statement', "
                                    "and a 'reason'");
    }
    return 0;
}
static const vs_field exp_fields[] = {
    {"backend", ex_backend}, {"version", ex_version}, {"expected", ex_list}, {NULL, NULL},
};

int vs_expected_load(const char *path, vs_expected **out, vs_err *e)
{
    *out = NULL;
    vs_loader L;
    int lr = load_yaml(path, NULL, 0, &L, e);
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
        r = vs_ld_walk(&L, root, exp_fields, &ec, "the expected results");
    /* A file describes one back-end: without `backend:` it could be applied to any. */
    if (r == 0 && !x->backend)
        r = vs_ld_fail(&L, root, "expected results need 'backend:' (one of ref, qemu, qsd, "
                                 "vhost-user, qemu-vhost-user)");
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
    free(x->version);
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

int vs_expected_bind(const vs_expected *x, const char *family, vs_err *e)
{
    if (!x || !family || (x->backend && strcmp(x->backend, family) == 0))
        return 0;
    return vs_err_set(e, VS_EINVAL, "%s:%u:%u: these expected results are for the '%s' "
                      "back-end; they cannot apply to --backend %s", x->path, x->backend_line,
                      x->backend_col, x->backend ? x->backend : "?", family);
}

/* The first "N.N[.N...]" in s (e.g. "QEMU emulator version 10.0.2 (Debian ...)"). */
static const char *first_version(const char *s, size_t *len)
{
    for (const char *p = s; p && *p; p++) {
        if (!isdigit((unsigned char)*p) || (p > s && (isalnum((unsigned char)p[-1]) ||
                                                      p[-1] == '.')))
            continue;
        const char *q = p;
        while (isdigit((unsigned char)*q) || (*q == '.' && isdigit((unsigned char)q[1])))
            q++;
        if (memchr(p, '.', (size_t)(q - p))) {
            *len = (size_t)(q - p);
            return p;
        }
    }
    return NULL;
}

int vs_expected_version_check(const vs_expected *x, const char *backend_version, char *seen,
                              size_t seen_len)
{
    size_t n = 0;
    const char *v = first_version(backend_version, &n);
    if (seen_len)
        snprintf(seen, seen_len, "%.*s", v ? (int)n : 0, v ? v : "");
    if (!x || !x->version)
        return 1;
    if (!v)
        return -1;
    /* "7.2" describes 7.2, 7.2.0 and 7.2.22, not 7.20 nor 10.0.2. */
    size_t m = strlen(x->version);
    return n >= m && strncmp(v, x->version, m) == 0 && (n == m || v[m] == '.');
}
