/* virtio-blk's device profile, preconditions and probe (sim/profile_dev.h).
 *
 * The description: capacity, logical block size, read-only, queues, maximum queue size,
 * the features offered, the zoned model. The requirements: `requires:` keys
 * (features_offered, features_not_offered, writable, capacity_min, queues_min,
 * queue_size_min, logical_block_size, zoned) and what the steps imply: a write-type
 * request expected to succeed needs a writable device, a request's sector and count its
 * alignment (a device with larger logical blocks may refuse it), the driver's queues as
 * many device queues, a discard the DISCARD feature, `expect: {features: [...]}` those
 * features offered. Each requirement keeps where it came from, for the message. */
#define _GNU_SOURCE
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/dev/blk/blk_sim_int.h"
#include "sim/profile_dev.h"
#include "virtiosim/virtio.h"

enum { DK_CAPACITY = 1, DK_LBS = 2, DK_RO = 4, DK_QUEUES = 8, DK_QSIZE = 16, DK_FEATURES = 32,
       DK_ZONED = 64 };

typedef struct blk_desc {
    unsigned known;             /* DK_*: the fields stated (profile) or read (device) */
    uint64_t capacity;          /* sectors */
    uint32_t lbs;               /* bytes */
    bool ro;
    uint16_t queues;
    uint32_t queue_size;
    uint64_t features;          /* offered */
    uint8_t zoned;              /* enum vs_blk_zoned_model */
} blk_desc;

/* Where a requirement comes from: 0 none, REQ_EXPLICIT the `requires:` key, else the
 * 1-based step, or one of the scenario's own keys. */
enum { REQ_NONE = 0, REQ_EXPLICIT = 0xffff, REQ_DRIVER = 0xfffe, REQ_DEVICE = 0xfffd };

typedef struct blk_req {
    uint64_t offered, not_offered;
    uint16_t feat_src[64];
    uint16_t writable;          /* source of "must be writable" */
    uint64_t capacity_min;
    uint16_t capacity_src;
    uint16_t queues_min, queues_src;
    uint32_t queue_size_min;
    uint16_t queue_size_src;
    uint32_t lbs;               /* exact (requires), 0: any */
    uint32_t lbs_max;           /* the steps' alignment, bytes; 0: any */
    uint16_t lbs_max_src;
    int zoned;                  /* -1 any, else the model */
    uint16_t zoned_src;
    bool not_host_managed;      /* no zoned steps: a host-managed device refuses writes */
} blk_req;

#define D ((blk_desc *)ctx)
#define S ((vs_scenario *)ctx)
#define R ((blk_req *)S->requires)
#define PARSER(name) static int name(vs_loader *L, const yaml_node_t *v, void *ctx)

static const char *const zoned_names[] = {"none", "host-managed", "host-aware"};

/* A list of feature names (VIRTIO_BLK_F_RO, RO, EVENT_IDX, ...) or bit numbers. */
static int features_of(vs_loader *L, const yaml_node_t *v, uint64_t *out)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return vs_ld_fail(L, v, "expected a list of feature names or bit numbers, found %s",
                          vs_ld_kind(v));
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        const yaml_node_t *n = vs_ld_node(L, *i);
        const char *s = vs_ld_scalar(n);
        int bit = -1;
        if (s && isdigit((unsigned char)s[0])) {
            uint32_t b = 0;
            if (vs_ld_u32(L, n, 63, &b) < 0)
                return -VS_EINVAL;
            bit = (int)b;
        } else if (s) {
            bit = vs_feature_bit(VS_DEV_BLK, s);
        }
        if (bit < 0)
            return vs_ld_fail(L, n, "unknown feature '%s' (a name such as RO, MQ, "
                                 "VIRTIO_F_EVENT_IDX, or a bit number)", s ? s : vs_ld_kind(n));
        *out |= VS_BIT(bit);
    }
    return 0;
}

static int capacity_of(vs_loader *L, const yaml_node_t *v, uint64_t *out)
{
    int r = blk_sectors_or_bytes(L, v, "capacity", out);
    if (r == 0 && *out == 0)
        return vs_ld_fail(L, v, "capacity must be at least one sector");
    return r;
}

static int lbs_of(vs_loader *L, const yaml_node_t *v, uint32_t *out)
{
    uint64_t n;
    int r = vs_ld_size(L, v, &n);
    if (r == 0 && (n < 512 || n > (1u << 20) || (n & (n - 1))))
        return vs_ld_fail(L, v, "logical_block_size must be a power of two from 512 bytes "
                                "to 1MiB");
    *out = (uint32_t)n;
    return r;
}

/* ------------------------------------------------------------------ profile keys */

PARSER(p_capacity) { D->known |= DK_CAPACITY; return capacity_of(L, v, &D->capacity); }
PARSER(p_lbs) { D->known |= DK_LBS; return lbs_of(L, v, &D->lbs); }
PARSER(p_ro) { D->known |= DK_RO; return vs_ld_bool(L, v, &D->ro); }
PARSER(p_queues)
{
    D->known |= DK_QUEUES;
    int r = vs_ld_u16(L, v, UINT16_MAX, &D->queues);
    if (r == 0 && D->queues == 0)
        return vs_ld_fail(L, v, "queues must be at least 1");
    return r;
}
PARSER(p_qsize)
{
    D->known |= DK_QSIZE;
    int r = vs_ld_u32(L, v, VS_VQ_MAX_SIZE, &D->queue_size);
    if (r == 0 && D->queue_size == 0)
        return vs_ld_fail(L, v, "queue_size must be at least 1");
    return r;
}
PARSER(p_features) { D->known |= DK_FEATURES; return features_of(L, v, &D->features); }
PARSER(p_zoned)
{
    int k = 0;
    D->known |= DK_ZONED;
    int r = vs_ld_enum(L, v, zoned_names, 3, &k);
    D->zoned = (uint8_t)k;
    return r;
}
static const vs_field profile_keys[] = {
    {"capacity", p_capacity}, {"logical_block_size", p_lbs}, {"read_only", p_ro},
    {"queues", p_queues}, {"queue_size", p_qsize}, {"features", p_features},
    {"zoned", p_zoned}, {NULL, NULL},
};

/* ------------------------------------------------------------------ requires keys */

static void need_features(blk_req *q, uint64_t bits, uint16_t src)
{
    for (unsigned b = 0; b < 64; b++)
        if ((bits & VS_BIT(b)) && !(q->offered & VS_BIT(b))) {
            q->offered |= VS_BIT(b);
            q->feat_src[b] = src;
        }
}
PARSER(r_offered)
{
    uint64_t f = 0;
    int r = features_of(L, v, &f);
    need_features(R, f, REQ_EXPLICIT);
    return r;
}
PARSER(r_not_offered) { return features_of(L, v, &R->not_offered); }
PARSER(r_writable)
{
    bool w = false;
    int r = vs_ld_bool(L, v, &w);
    if (w)
        R->writable = REQ_EXPLICIT;
    else
        need_features(R, VS_BIT(VS_BLK_F_RO), REQ_EXPLICIT);
    return r;
}
PARSER(r_capacity)
{
    R->capacity_src = REQ_EXPLICIT;
    return capacity_of(L, v, &R->capacity_min);
}
PARSER(r_queues)
{
    R->queues_src = REQ_EXPLICIT;
    return vs_ld_u16(L, v, UINT16_MAX, &R->queues_min);
}
PARSER(r_qsize)
{
    R->queue_size_src = REQ_EXPLICIT;
    return vs_ld_u32(L, v, VS_VQ_MAX_SIZE, &R->queue_size_min);
}
PARSER(r_lbs) { return lbs_of(L, v, &R->lbs); }
PARSER(r_zoned)
{
    int k = 0;
    int r = vs_ld_enum(L, v, zoned_names, 3, &k);
    R->zoned = k;
    R->zoned_src = REQ_EXPLICIT;
    return r;
}
static const vs_field requires_keys[] = {
    {"features_offered", r_offered}, {"features_not_offered", r_not_offered},
    {"writable", r_writable}, {"capacity_min", r_capacity}, {"queues_min", r_queues},
    {"queue_size_min", r_qsize}, {"logical_block_size", r_lbs}, {"zoned", r_zoned},
    {NULL, NULL},
};

/* ------------------------------------------------------------------ what the steps imply */

static bool writes(uint32_t type)
{
    switch (type) {
    case VS_BLK_T_OUT: case VS_BLK_T_DISCARD: case VS_BLK_T_WRITE_ZEROES:
    case VS_BLK_T_SECURE_ERASE: case VS_BLK_T_ZONE_APPEND: case VS_BLK_T_ZONE_OPEN:
    case VS_BLK_T_ZONE_CLOSE: case VS_BLK_T_ZONE_FINISH: case VS_BLK_T_ZONE_RESET:
    case VS_BLK_T_ZONE_RESET_ALL:
        return true;
    default:
        return false;
    }
}

static uint64_t type_feature(uint32_t type)
{
    switch (type) {
    case VS_BLK_T_FLUSH: return VS_BIT(VS_BLK_F_FLUSH);
    case VS_BLK_T_DISCARD: return VS_BIT(VS_BLK_F_DISCARD);
    case VS_BLK_T_WRITE_ZEROES: return VS_BIT(VS_BLK_F_WRITE_ZEROES);
    case VS_BLK_T_SECURE_ERASE: return VS_BIT(VS_BLK_F_SECURE_ERASE);
    case VS_BLK_T_GET_LIFETIME: return VS_BIT(VS_BLK_F_LIFETIME);
    case VS_BLK_T_ZONE_APPEND: case VS_BLK_T_ZONE_REPORT: case VS_BLK_T_ZONE_OPEN:
    case VS_BLK_T_ZONE_CLOSE: case VS_BLK_T_ZONE_FINISH: case VS_BLK_T_ZONE_RESET:
    case VS_BLK_T_ZONE_RESET_ALL:
        return VS_BIT(VS_BLK_F_ZONED);
    default: return 0;
    }
}

/* The largest power of two (bytes) dividing x bytes; x 0: no constraint. */
static uint32_t align_of(uint64_t bytes)
{
    if (!bytes)
        return 1u << 20;
    uint64_t a = bytes & -bytes;
    return a > (1u << 20) ? 1u << 20 : (uint32_t)a;
}

static void need_align(blk_req *q, uint32_t a, uint16_t src)
{
    if (!q->lbs_max || a < q->lbs_max) {
        q->lbs_max = a;
        q->lbs_max_src = src;
    }
}

static void need_capacity(blk_req *q, uint64_t end, uint16_t src)
{
    if (end > q->capacity_min) {
        q->capacity_min = end;
        q->capacity_src = src;
    }
}

static void derive_step(blk_req *q, const vs_step *t, uint16_t k)
{
    if (strcmp(t->type->name, "expect") == 0) {
        need_features(q, t->features_required, k);
        return;
    }
    const blk_step *b = blk_step_of(t);
    if (!b || b->expect != VS_BLK_S_OK)
        return; /* a request expected to fail is about the failure */
    if (strcmp(t->type->name, "workload") == 0) {
        bool reads_only = b->wl.rw == VS_RW_READ || b->wl.rw == VS_RW_RANDREAD ||
                          ((b->wl.rw == VS_RW_RW || b->wl.rw == VS_RW_RANDRW) &&
                           b->wl.rwmixread >= 100);
        if (!reads_only && !q->writable)
            q->writable = k;
        need_align(q, align_of((uint64_t)b->wl.bs | b->wl.offset * VS_BLK_SECTOR |
                               b->wl.size * VS_BLK_SECTOR), k);
        need_capacity(q, b->wl.offset + (b->wl.size ? b->wl.size : b->wl.bs / VS_BLK_SECTOR), k);
        return;
    }
    need_features(q, type_feature(b->req_type), k);
    if (writes(b->req_type) && !q->writable)
        q->writable = k;
    bool ranged = b->count && b->shape != SHAPE_NO_DATA && b->shape != SHAPE_REPORT &&
                  b->req_type != VS_BLK_T_FLUSH && b->req_type != VS_BLK_T_GET_ID &&
                  b->req_type != VS_BLK_T_GET_LIFETIME;
    if (!ranged)
        return;
    need_align(q, align_of((b->sector | b->count) * VS_BLK_SECTOR), k);
    if (!b->from_end)
        need_capacity(q, b->sector + b->count, k);
}

/* An explicit requirement the scenario's own device contradicts is a mistake in the file:
 * the reference device would never meet it. */
static int check_own_device(vs_loader *L, const vs_scenario *s, const yaml_node_t *root)
{
    const blk_req *q = s->requires;
    const blk_scn_opts *o = blk_opts_of(s);
    const yaml_node_t *at = vs_ld_get(L, root, "requires");
    if (!at)
        return 0;
    if (q->capacity_src == REQ_EXPLICIT && q->capacity_min > o->capacity_sectors)
        return vs_ld_fail(L, at, "requires capacity_min %" PRIu64 " sectors, the scenario's "
                          "device has %" PRIu64, q->capacity_min, o->capacity_sectors);
    if (q->lbs && q->lbs != o->blk_size)
        return vs_ld_fail(L, at, "requires %u-byte logical blocks, the scenario's device has "
                          "blk_size %u", q->lbs, o->blk_size);
    if (q->queues_src == REQ_EXPLICIT && q->queues_min > s->num_queues)
        return vs_ld_fail(L, at, "requires %u queues, the scenario's device has %u",
                          q->queues_min, s->num_queues);
    if (q->writable == REQ_EXPLICIT && o->read_only)
        return vs_ld_fail(L, at, "requires a writable device, the scenario's is read_only");
    if (q->feat_src[VS_BLK_F_RO] == REQ_EXPLICIT && !o->read_only)
        return vs_ld_fail(L, at, "requires RO offered, the scenario's device is not read_only");
    return 0;
}

static int blk_derive(vs_loader *L, vs_scenario *s, const yaml_node_t *root)
{
    blk_req *q = s->requires;
    const blk_scn_opts *o = blk_opts_of(s);
    if (!q->zoned_src)
        q->zoned = -1;
    int r = check_own_device(L, s, root);
    if (r < 0)
        return r;
    for (unsigned i = 0; i < s->nsteps && i < REQ_DEVICE - 1; i++)
        derive_step(q, &s->steps[i], (uint16_t)(i + 1));
    if (s->driver.packed)
        need_features(q, VS_BIT(VS_F_RING_PACKED), REQ_DRIVER);
    if (s->driver.indirect)
        need_features(q, VS_BIT(VS_F_INDIRECT_DESC), REQ_DRIVER);
    if (s->driver.queues > q->queues_min) {
        q->queues_min = s->driver.queues;
        q->queues_src = REQ_DRIVER;
    }
    if (s->driver.queue_size > q->queue_size_min) {
        q->queue_size_min = s->driver.queue_size;
        q->queue_size_src = REQ_DRIVER;
    }
    if (o->read_only)
        need_features(q, VS_BIT(VS_BLK_F_RO), REQ_DEVICE);
    if (o->zoned.on && q->zoned < 0) {
        q->zoned = o->zoned.model;
        q->zoned_src = REQ_DEVICE;
    }
    q->not_host_managed = !o->zoned.on && q->zoned < 0;
    return 0;
}

/* ------------------------------------------------------------------ the device */

static uint64_t le(const uint8_t *b, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

static int cfg(vs_run_ctx *c, uint32_t off, unsigned len, uint64_t *out, vs_err *e)
{
    uint8_t b[8] = {0};
    int rc = vs_driver_config_read_raw(c->d, off, b, len, e);
    *out = le(b, len);
    return rc;
}

static int blk_read(vs_run_ctx *c, void *desc, vs_err *e)
{
    blk_desc *d = desc;
    uint64_t f = 0, v = 0;
    int rc = vs_driver_read_features(c->d, &f, e);
    if (rc < 0)
        return rc;
    d->features = f;
    d->ro = f & VS_BIT(VS_BLK_F_RO);
    d->known |= DK_FEATURES | DK_RO;
    if ((rc = cfg(c, VS_BLK_CFG_CAPACITY, 8, &d->capacity, e)) < 0)
        return rc;
    d->lbs = 512;
    if ((f & VS_BIT(VS_BLK_F_BLK_SIZE)) && (rc = cfg(c, VS_BLK_CFG_BLK_SIZE, 4, &v, e)) == 0)
        d->lbs = (uint32_t)v;
    d->queues = 1;
    if (rc == 0 && (f & VS_BIT(VS_BLK_F_MQ)) && (rc = cfg(c, VS_BLK_CFG_NUM_QUEUES, 2, &v, e)) == 0)
        d->queues = (uint16_t)v;
    d->zoned = VS_BLK_Z_NONE;
    if (rc == 0 && (f & VS_BIT(VS_BLK_F_ZONED)) &&
        (rc = cfg(c, VS_BLK_CFG_ZONED_MODEL, 1, &v, e)) == 0)
        d->zoned = (uint8_t)v;
    d->known |= DK_CAPACITY | DK_LBS | DK_QUEUES | DK_ZONED;
    return rc;
}

static void blk_merge(void *seen, const void *profile)
{
    blk_desc *s = seen;
    const blk_desc *p = profile;
    if ((p->known & DK_QSIZE) && !(s->known & DK_QSIZE)) {
        s->queue_size = p->queue_size;
        s->known |= DK_QSIZE;
    }
}

/* ------------------------------------------------------------------ judging */

static void source(const vs_scenario *s, uint16_t src, const char *key, char *buf, size_t n)
{
    if (src == REQ_EXPLICIT) {
        snprintf(buf, n, "requires: %s", key);
    } else if (src == REQ_DRIVER) {
        snprintf(buf, n, "the scenario's driver settings");
    } else if (src == REQ_DEVICE) {
        snprintf(buf, n, "the scenario's device: keys");
    } else if (src && src <= s->nsteps) {
        const vs_step *t = &s->steps[src - 1];
        char d[96] = "";
        if (t->type->describe)
            t->type->describe(t, d, sizeof d);
        else
            snprintf(d, sizeof d, "%s", t->type->name);
        snprintf(buf, n, "step %u (%s)", src, d);
    } else {
        snprintf(buf, n, "the scenario");
    }
}

static const char *fname(unsigned bit)
{
    const char *n = vs_feature_name(VS_DEV_BLK, bit);
    return n ? n : "an unnamed feature";
}

static int features_unmet(const vs_scenario *s, const blk_req *q, const blk_desc *d, char *why,
                          size_t n)
{
    char src[160];
    uint64_t missing = q->offered & ~d->features;
    for (unsigned b = 0; missing && b < 64; b++)
        if (missing & VS_BIT(b)) {
            source(s, q->feat_src[b], "features_offered", src, sizeof src);
            snprintf(why, n, "needs %s offered (%s); the device does not offer it", fname(b),
                     src);
            return 1;
        }
    uint64_t extra = q->not_offered & d->features;
    for (unsigned b = 0; extra && b < 64; b++)
        if (extra & VS_BIT(b)) {
            snprintf(why, n, "needs %s not offered (requires: features_not_offered); the "
                     "device offers it", fname(b));
            return 1;
        }
    return 0;
}

static int blk_unmet(const vs_scenario *s, const void *desc, char *why, size_t n)
{
    const blk_req *q = s->requires;
    const blk_desc *d = desc;
    char src[160];
    if ((d->known & DK_FEATURES) && features_unmet(s, q, d, why, n))
        return 1;
    if ((d->known & DK_RO) && d->ro && q->writable) {
        source(s, q->writable, "writable", src, sizeof src);
        snprintf(why, n, "needs a writable device (%s); the device is read-only (offers "
                 "VIRTIO_BLK_F_RO)", src);
        return 1;
    }
    if ((d->known & DK_ZONED) &&
        ((q->zoned >= 0 && d->zoned != q->zoned) ||
         (q->not_host_managed && d->zoned == VS_BLK_Z_HM))) {
        source(s, q->zoned_src, "zoned", src, sizeof src);
        snprintf(why, n, "needs a %s device (%s); the device's zoned model is %s",
                 q->zoned >= 0 ? zoned_names[q->zoned] : "non-host-managed",
                 q->zoned >= 0 ? src : "its steps are not zone-aware",
                 d->zoned < 3 ? zoned_names[d->zoned] : "unknown");
        return 1;
    }
    if ((d->known & DK_QUEUES) && d->queues < q->queues_min) {
        source(s, q->queues_src, "queues_min", src, sizeof src);
        snprintf(why, n, "needs %u queues (%s); the device has %u", q->queues_min, src,
                 d->queues);
        return 1;
    }
    if ((d->known & DK_QSIZE) && d->queue_size < q->queue_size_min) {
        source(s, q->queue_size_src, "queue_size_min", src, sizeof src);
        snprintf(why, n, "needs queues of %u entries (%s); the device's maximum is %u",
                 q->queue_size_min, src, d->queue_size);
        return 1;
    }
    if ((d->known & DK_LBS) && q->lbs && d->lbs != q->lbs) {
        snprintf(why, n, "needs %u-byte logical blocks (requires: logical_block_size); the "
                 "device's are %u bytes", q->lbs, d->lbs);
        return 1;
    }
    if ((d->known & DK_LBS) && q->lbs_max && d->lbs > q->lbs_max) {
        source(s, q->lbs_max_src, "logical_block_size", src, sizeof src);
        snprintf(why, n, "%s is not aligned to the device's %u-byte logical blocks (the "
                 "scenario needs blocks of at most %u bytes)", src, d->lbs, q->lbs_max);
        return 1;
    }
    if ((d->known & DK_CAPACITY) && d->capacity < q->capacity_min) {
        source(s, q->capacity_src, "capacity_min", src, sizeof src);
        snprintf(why, n, "needs %" PRIu64 " sectors (%s); the device has %" PRIu64,
                 q->capacity_min, src, d->capacity);
        return 1;
    }
    return 0;
}

/* Appends "; what" to buf. */
static void add(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(char *buf, size_t n, const char *fmt, ...)
{
    size_t l = strlen(buf);
    if (l && l + 2 < n) {
        memcpy(buf + l, "; ", 3);
        l += 2;
    }
    if (l >= n)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + l, n - l, fmt, ap);
    va_end(ap);
}

static void feature_list(uint64_t f, char *buf, size_t n)
{
    buf[0] = '\0';
    for (unsigned b = 0; b < 64; b++)
        if (f & VS_BIT(b)) {
            const char *nm = vs_feature_name(VS_DEV_BLK, b);
            const char *sh = nm ? strstr(nm, "_F_") : NULL;
            if (sh) /* RO, EVENT_IDX: the short names the loader takes too */
                nm = sh + 3;
            size_t l = strlen(buf);
            if (nm)
                snprintf(buf + l, n - l, "%s%s", l ? ", " : "", nm);
            else
                snprintf(buf + l, n - l, "%s%u", l ? ", " : "", b);
        }
}

static unsigned blk_compare(const void *profile, const void *seen, char *diff, size_t n)
{
    const blk_desc *p = profile, *s = seen;
    unsigned both = p->known & s->known, nd = 0;
    diff[0] = '\0';
    if ((both & DK_CAPACITY) && p->capacity != s->capacity && ++nd)
        add(diff, n, "capacity: profile %" PRIu64 " sectors, device %" PRIu64, p->capacity,
            s->capacity);
    if ((both & DK_LBS) && p->lbs != s->lbs && ++nd)
        add(diff, n, "logical_block_size: profile %u, device %u", p->lbs, s->lbs);
    if ((both & DK_RO) && p->ro != s->ro && ++nd)
        add(diff, n, "read_only: profile %s, device %s", p->ro ? "true" : "false",
            s->ro ? "true" : "false");
    if ((both & DK_QUEUES) && p->queues != s->queues && ++nd)
        add(diff, n, "queues: profile %u, device %u", p->queues, s->queues);
    if ((both & DK_ZONED) && p->zoned != s->zoned && ++nd)
        add(diff, n, "zoned: profile %s, device %s", zoned_names[p->zoned % 3],
            zoned_names[s->zoned % 3]);
    if ((both & DK_FEATURES) && p->features != s->features) {
        char a[400], b[400];
        feature_list(s->features & ~p->features, a, sizeof a);
        feature_list(p->features & ~s->features, b, sizeof b);
        nd++;
        if (a[0] && b[0])
            add(diff, n, "features: the device also offers [%s] and does not offer [%s]", a, b);
        else
            add(diff, n, "features: the device %s [%s]", a[0] ? "also offers" : "does not offer",
                a[0] ? a : b);
    }
    return nd;
}

static void blk_write(FILE *f, const void *desc)
{
    const blk_desc *d = desc;
    char feats[1200];
    feature_list(d->features, feats, sizeof feats);
    fprintf(f, "capacity: %" PRIu64 "            # sectors of 512 bytes (%" PRIu64 " MiB)\n",
            d->capacity, d->capacity / 2048);
    fprintf(f, "logical_block_size: %u\n", d->lbs);
    fprintf(f, "read_only: %s\n", d->ro ? "true" : "false");
    fprintf(f, "queues: %u\n", d->queues);
    if (d->known & DK_QSIZE)
        fprintf(f, "queue_size: %u\n", d->queue_size);
    else
        fprintf(f, "# queue_size: N      # the largest queue the device takes (not readable "
                   "here)\n");
    fprintf(f, "features: [%s]\n", feats);
    fprintf(f, "zoned: %s\n", zoned_names[d->zoned % 3]);
}

const vs_profile_dev vs_blk_profile = {
    .desc_size = sizeof(blk_desc),
    .keys = profile_keys,
    .req_size = sizeof(blk_req),
    .requires_keys = requires_keys,
    .derive = blk_derive,
    .read = blk_read,
    .merge = blk_merge,
    .unmet = blk_unmet,
    .compare = blk_compare,
    .write = blk_write,
};
