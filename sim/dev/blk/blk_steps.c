/* virtio-blk's scenario steps (sim/step_dev.h): read, write, flush, get_id, discard,
 * write_zeroes, secure_erase, get_lifetime, request, the zone_* requests, the fio-style
 * workload and config_write; and blk's part of the core's steps (config expectations,
 * the reads queue_reset and suspend keep in flight, ...). */
#define _GNU_SOURCE
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim/dev/blk/blk_drv_int.h"
#include "sim/dev/blk/blk_sim_int.h"
#include "virtiosim/transport_pci.h"
#include "virtiosim/transport_ref.h"
#include "virtiosim/virtio.h"

#define B ((blk_step *)((vs_step *)ctx)->dev)
#define PARSER(name) static int name(vs_loader *L, const yaml_node_t *v, void *ctx)

/* ------------------------------------------------------------------ schemas */

/* A sector number, or `end` / `end-N`: N sectors before the device's capacity (a scenario
 * about the end of the disk that fits any device). */
PARSER(st_sector)
{
    const char *s = vs_ld_scalar(v);
    B->from_end = s && strncmp(s, "end", 3) == 0;
    if (!B->from_end)
        return vs_ld_u64(L, v, UINT64_MAX, &B->sector);
    const char *p = s + 3;
    while (*p == ' ')
        p++;
    B->sector = 0;
    if (!*p)
        return 0;
    char *endp;
    unsigned long long n = *p == '-' ? strtoull(p + 1, &endp, 10) : 0;
    if (*p != '-' || !isdigit((unsigned char)p[1 + (p[1] == ' ')]) || *endp)
        return vs_ld_fail(L, v, "expected a sector number, end or end-N, found '%s'", s);
    B->sector = n;
    return 0;
}
PARSER(st_count) { return vs_ld_u32(L, v, (64u << 20) / VS_BLK_SECTOR, &B->count); } /* 64 MiB */
PARSER(st_pattern) { return vs_ld_u32(L, v, UINT32_MAX, &B->pattern); }
PARSER(st_verify) { return vs_ld_bool(L, v, &B->verify); }
PARSER(st_unmap) { return vs_ld_bool(L, v, &B->unmap); }
PARSER(st_dwz_flags) { return vs_ld_u32(L, v, UINT32_MAX, &B->dwz_flags); }
PARSER(st_segments)
{
    int r = vs_ld_u32(L, v, 4096, &B->segments);
    if (r == 0 && B->segments == 0)
        return vs_ld_fail(L, v, "segments must be at least 1");
    return r;
}
PARSER(st_new_capacity)
{
    int r = blk_sectors_or_bytes(L, v, "capacity", &B->new_capacity);
    if (r == 0 && (B->new_capacity == 0 || B->new_capacity > (UINT64_C(1) << 44)))
        return vs_ld_fail(L, v, "capacity must be 1 sector to 8 PiB");
    return r;
}
PARSER(st_type) { return vs_ld_u32(L, v, UINT32_MAX, &B->req_type); }
PARSER(st_expect_id) { return vs_ld_str(L, v, &B->expect_id); }
PARSER(st_expect)
{
    static const char *const names[] = {
        [VS_BLK_S_OK] = "ok", [VS_BLK_S_IOERR] = "ioerr", [VS_BLK_S_UNSUPP] = "unsupp",
        [VS_BLK_S_ZONE_INVALID_CMD] = "zone_invalid_cmd",
        [VS_BLK_S_ZONE_UNALIGNED_WP] = "zone_unaligned_wp",
        [VS_BLK_S_ZONE_OPEN_RESOURCE] = "zone_open_resource",
        [VS_BLK_S_ZONE_ACTIVE_RESOURCE] = "zone_active_resource"};
    return vs_ld_enum(L, v, names, 7, &B->expect);
}
PARSER(st_expect_sector)
{
    B->has_expect_sector = true;
    return vs_ld_u64(L, v, UINT64_MAX, &B->expect_sector);
}
PARSER(st_zones)
{
    int r = vs_ld_u32(L, v, 4096, &B->zones);
    if (r == 0 && B->zones == 0)
        return vs_ld_fail(L, v, "zones must be at least 1");
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
        return vs_ld_fail(L, v, "expected a list of zone states such as [empty, iopen, full]");
    B->n_states = 0;
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        if (B->n_states >= BLK_MAX_ZONES)
            return vs_ld_fail(L, vs_ld_node(L, *i), "at most %d zone states", BLK_MAX_ZONES);
        int k = 0;
        int r = vs_ld_enum(L, vs_ld_node(L, *i), names, 16, &k);
        if (r < 0)
            return r;
        B->expect_states[B->n_states++] = (uint8_t)k;
    }
    return 0;
}
PARSER(st_expect_wp)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return vs_ld_fail(L, v, "expected a list of write pointers (sectors)");
    B->n_wp = 0;
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        if (B->n_wp >= BLK_MAX_ZONES)
            return vs_ld_fail(L, vs_ld_node(L, *i), "at most %d write pointers", BLK_MAX_ZONES);
        int r = vs_ld_u64(L, vs_ld_node(L, *i), UINT64_MAX, &B->expect_wp[B->n_wp]);
        if (r < 0)
            return r;
        B->n_wp++;
    }
    return 0;
}
PARSER(st_field)
{
    const char *s = vs_ld_scalar(v);
    if (!s || strlen(s) >= sizeof B->field)
        return vs_ld_fail(L, v, "expected a config field name");
    strcpy(B->field, s);
    return 0;
}
PARSER(st_value) { return vs_ld_u64(L, v, 255, &B->value); } /* writeback is one byte */

/* workload (fio vocabulary) */
PARSER(wl_rw)
{
    static const char *names[VS_RW_RANDRW + 1];
    for (int i = VS_RW_READ; i <= VS_RW_RANDRW; i++)
        names[i] = vs_rw_kind_name((vs_rw_kind)i);
    int k = 0;
    int r = vs_ld_enum(L, v, names, VS_RW_RANDRW + 1, &k);
    B->wl.rw = (vs_rw_kind)k;
    return r;
}
PARSER(wl_bs)
{
    uint64_t n;
    int r = vs_ld_size(L, v, &n);
    if (r == 0 && (n == 0 || n % VS_BLK_SECTOR || n > (64u << 20)))
        return vs_ld_fail(L, v, "bs must be a multiple of 512 bytes, at most 64MiB");
    B->wl.bs = (uint32_t)n;
    return r;
}
PARSER(wl_iodepth)
{
    int r = vs_ld_u32(L, v, VS_VQ_MAX_SIZE, &B->wl.iodepth);
    if (r == 0 && B->wl.iodepth == 0)
        return vs_ld_fail(L, v, "iodepth must be at least 1");
    return r;
}
PARSER(wl_mix)
{
    int r = vs_ld_u32(L, v, 100, &B->wl.rwmixread);
    return r;
}
PARSER(wl_ios) { return vs_ld_u64(L, v, UINT64_C(1) << 40, &B->wl.number_ios); }
PARSER(wl_verify)
{
    const char *s = vs_ld_scalar(v);
    if (!s)
        return vs_ld_fail(L, v, "expected a verify mode such as pattern, or none");
    static const char *const off[] = {"none", "false", "no", "off"};
    static const char *const on[] = {"pattern", "true", "yes", "on", "crc32c", "md5", "meta"};
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++)
        if (strcasecmp(s, off[i]) == 0) {
            B->wl.verify = false;
            return 0;
        }
    for (size_t i = 0; i < sizeof on / sizeof on[0]; i++)
        if (strcasecmp(s, on[i]) == 0) {
            B->wl.verify = true;
            return 0;
        }
    return vs_ld_fail(L, v, "unknown verify mode '%s' (pattern, crc32c, ... to verify; none to skip)",
                   s);
}
PARSER(wl_offset) { return vs_ld_u64(L, v, UINT64_C(1) << 44, &B->wl.offset); }
PARSER(wl_size) { return vs_ld_u64(L, v, UINT64_C(1) << 44, &B->wl.size); }
PARSER(wl_queues)
{
    int r = vs_ld_u16(L, v, 256, &B->wl.queues);
    if (r == 0 && B->wl.queues == 0)
        return vs_ld_fail(L, v, "queues must be at least 1");
    return r;
}

static const vs_field io_fields[] = {
    {"sector", st_sector}, {"count", st_count}, {"queue", vs_step_queue}, {"expect", st_expect},
    {"verify", st_verify}, {"pattern", st_pattern}, {NULL, NULL},
};
static const vs_field flush_fields[] = {
    {"queue", vs_step_queue}, {"expect", st_expect}, {NULL, NULL},
};
static const vs_field get_id_fields[] = {
    {"queue", vs_step_queue}, {"expect", st_expect}, {"expect_id", st_expect_id}, {NULL, NULL},
};
static const vs_field dwz_fields[] = {
    {"sector", st_sector}, {"count", st_count}, {"unmap", st_unmap}, {"queue", vs_step_queue},
    {"expect", st_expect}, {"flags", st_dwz_flags}, {"segments", st_segments}, {NULL, NULL},
};
static const vs_field resize_fields[] = {{"capacity", st_new_capacity}, {NULL, NULL}};
static const vs_field request_fields[] = {
    {"type", st_type}, {"sector", st_sector}, {"count", st_count}, {"queue", vs_step_queue},
    {"expect", st_expect}, {NULL, NULL},
};
static const vs_field zone_append_fields[] = {
    {"sector", st_sector}, {"count", st_count}, {"queue", vs_step_queue}, {"expect", st_expect},
    {"pattern", st_pattern}, {"expect_sector", st_expect_sector}, {NULL, NULL},
};
static const vs_field zone_report_fields[] = {
    {"sector", st_sector}, {"zones", st_zones}, {"queue", vs_step_queue}, {"expect", st_expect},
    {"expect_states", st_expect_states}, {"expect_wp", st_expect_wp}, {NULL, NULL},
};
static const vs_field zone_mgmt_fields[] = {
    {"sector", st_sector}, {"queue", vs_step_queue}, {"expect", st_expect}, {NULL, NULL},
};
static const vs_field workload_fields[] = {
    {"rw", wl_rw}, {"bs", wl_bs}, {"iodepth", wl_iodepth}, {"rwmixread", wl_mix},
    {"number_ios", wl_ios}, {"verify", wl_verify}, {"offset", wl_offset}, {"size", wl_size},
    {"queues", wl_queues}, {NULL, NULL},
};
static const vs_field config_write_fields[] = {
    {"field", st_field}, {"value", st_value}, {NULL, NULL},
};

static void step_defaults(const vs_scenario *s, vs_step *t)
{
    blk_step *b = t->dev;
    b->verify = true;
    b->pattern = (uint32_t)s->seed;
    b->wl.bs = 4096;
    b->wl.iodepth = s->driver.iodepth;
    b->wl.rwmixread = 50;
    b->wl.verify = true;
    b->wl.queues = 1;
    b->zones = BLK_MAX_ZONES;
}

static int check_rw(vs_loader *L, const yaml_node_t *body, vs_step *t)
{
    const blk_step *b = t->dev;
    if (b->count == 0 && b->expect == VS_BLK_S_OK)
        return vs_ld_fail(L, body, "count must be at least 1");
    return 0;
}

static int check_workload(vs_loader *L, const yaml_node_t *body, vs_step *t)
{
    if (((const blk_step *)t->dev)->wl.number_ios == 0)
        return vs_ld_fail(L, body, "number_ios must be at least 1");
    return 0;
}

static int validate_workload(const vs_scenario *s, const vs_step *t, vs_err *e)
{
    const blk_step *b = t->dev;
    if (b->wl.queues > s->driver.queues)
        return vs_err_set(e, VS_EINVAL, "%s:%u:%u: the workload spreads over %u queues, the "
                          "driver sets up %u (driver.queues)", s->path, t->line, t->col,
                          b->wl.queues, s->driver.queues);
    return 0;
}

static int check_config_write(vs_loader *L, const yaml_node_t *body, vs_step *t)
{
    if (strcmp(((const blk_step *)t->dev)->field, "writeback") != 0)
        return vs_ld_fail(L, body, "config_write supports only the field 'writeback'");
    return 0;
}

static void step_free(void *params)
{
    free(((blk_step *)params)->expect_id);
}

/* ------------------------------------------------------------------ running */

static const char *status_name(uint8_t st)
{
    switch (st) {
    case VS_BLK_S_OK: return "ok";
    case VS_BLK_S_IOERR: return "ioerr";
    case VS_BLK_S_UNSUPP: return "unsupp";
    case VS_BLK_S_ZONE_INVALID_CMD: return "zone_invalid_cmd";
    case VS_BLK_S_ZONE_UNALIGNED_WP: return "zone_unaligned_wp";
    case VS_BLK_S_ZONE_OPEN_RESOURCE: return "zone_open_resource";
    case VS_BLK_S_ZONE_ACTIVE_RESOURCE: return "zone_active_resource";
    default: return "invalid";
    }
}

/* What a zone report must show. */
static int check_report(vs_run_ctx *c, const blk_step *b, const vs_blk_result *res)
{
    if (res->nr_zones < b->n_states || res->nr_zones < b->n_wp)
        return vs_run_expect_failed(c, "zone report has %" PRIu64 " zones, expected at least %u",
                                    res->nr_zones, b->n_states > b->n_wp ? b->n_states : b->n_wp);
    for (unsigned i = 0; i < b->n_states; i++)
        if (res->zone_state[i] != b->expect_states[i])
            return vs_run_expect_failed(c, "reported zone %u is in state %u, expected %u", i,
                                        res->zone_state[i], b->expect_states[i]);
    for (unsigned i = 0; i < b->n_wp; i++)
        if (res->zone_wp[i] != b->expect_wp[i])
            return vs_run_expect_failed(c, "reported zone %u has write pointer %" PRIu64
                                        ", expected %" PRIu64, i, res->zone_wp[i],
                                        b->expect_wp[i]);
    return 0;
}

/* One blk request of the step's type with an expected status byte. */
static int run_request(vs_run_ctx *c, const vs_step *st)
{
    const blk_step *b = st->dev;
    vs_blk_req req = {.type = b->req_type, .sector = b->sector, .nsectors = b->count};
    if (b->from_end) {
        uint64_t cap = vs_driver_blk_capacity(c->d);
        if (b->sector > cap)
            return vs_run_expect_failed(c, "end-%" PRIu64 " is before sector 0: the device has "
                                        "%" PRIu64 " sectors", b->sector, cap);
        req.sector = cap - b->sector;
    }
    switch (b->shape) {
    case SHAPE_DATA:
        req.pattern = b->pattern;
        break;
    case SHAPE_DWZ:
        req.flags = b->unmap ? VS_BLK_REQ_UNMAP : 0;
        req.dwz_flags = b->dwz_flags;
        req.dwz_segs = b->segments;
        break;
    case SHAPE_SECURE_ERASE:
        req.dwz_flags = b->dwz_flags;
        req.dwz_segs = b->segments;
        break;
    case SHAPE_REPORT:
        req.nsectors = 0;
        req.data_len = VS_BLK_ZONE_REPORT_HDR + b->zones * VS_BLK_ZONE_DESC;
        req.seg_size = req.data_len; /* one buffer: the report is parsed from it */
        break;
    case SHAPE_NO_DATA:
        req.nsectors = 0;
        break;
    default:
        break;
    }
    /* blk.driver.blk-op.2: a driver never reads or writes past the capacity the device
     * reports. A step that wants such a request to succeed cannot run on this device (a
     * back-end reporting less than the scenario needs, even 0): it fails saying so, and the
     * request is never sent (a back-end that took it would have let the step pass). */
    uint64_t cap = vs_driver_blk_capacity(c->d);
    if ((req.type == VS_BLK_T_IN || req.type == VS_BLK_T_OUT) && b->expect == VS_BLK_S_OK &&
        (req.sector > cap || req.nsectors > cap - req.sector))
        return vs_run_expect_failed(c, "the device reports a capacity of %" PRIu64 " sectors;"
                                    " sectors %" PRIu64 "..%" PRIu64 " are past it, so the "
                                    "request is not sent (blk.driver.blk-op.2)", cap,
                                    req.sector, req.sector + req.nsectors - 1);
    vs_err e = {0};
    vs_blk_result res;
    req.queue = st->queue;
    req.flags |= VS_BLK_REQ_EXPECT;
    req.expect_status = (uint8_t)b->expect;
    if (!b->verify)
        req.flags |= VS_BLK_REQ_NO_VERIFY;
    int rc = vs_blk_do(c->d, &req, &res, &e);
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    if (res.status != b->expect)
        return vs_run_expect_failed(c, "device answered %s (status byte %u), expected %s",
                                    status_name(res.status), res.status,
                                    status_name((uint8_t)b->expect));
    if (!res.ok)
        return vs_run_expect_failed(c, "%s", res.msg);
    if (b->shape == SHAPE_ID && b->expect_id &&
        strcmp(res.id_str, b->expect_id) != 0)
        return vs_run_expect_failed(c, "GET_ID returned \"%s\", expected \"%s\"", res.id_str,
                                    b->expect_id);
    if (b->req_type == VS_BLK_T_ZONE_APPEND && b->shape == SHAPE_DATA && b->has_expect_sector && res.status == VS_BLK_S_OK &&
        res.append_sector != b->expect_sector)
        return vs_run_expect_failed(c, "append_sector %" PRIu64 ", expected %" PRIu64,
                                    res.append_sector, b->expect_sector);
    if (b->shape == SHAPE_REPORT && res.status == VS_BLK_S_OK &&
        (rc = check_report(c, b, &res)) != 0)
        return rc;
    vs_run_expect_ok(c, status_name(res.status));
    return 0;
}

static int run_workload(vs_run_ctx *c, const vs_step *st)
{
    const blk_step *b = st->dev;
    vs_err e = {0};
    vs_blk_workload w = {
        .rw = b->wl.rw,
        .bs = b->wl.bs,
        .iodepth = b->wl.iodepth,
        .rwmixread = b->wl.rwmixread,
        .nr_ops = b->wl.number_ios,
        .offset = b->wl.offset * VS_BLK_SECTOR, /* bounded by the loader: no wrap */
        .size = b->wl.size * VS_BLK_SECTOR,
        .verify = b->wl.verify,
        .queues = b->wl.queues,
        /* Real back-ends: no completion for the driver's timeout (20 s) = hung. */
        .timeout_ns = c->real ? 0 : VS_RUN_STEP_TIMEOUT_NS,
    };
    vs_blk_workload_stats ws;
    c->done = 0;
    c->total = w.nr_ops;
    int rc = vs_blk_workload_run(c->d, &w, &ws, &e);
    c->total = 0;
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    if (ws.errors || ws.verify_failures)
        return vs_run_expect_failed(c, "%" PRIu64 " of %" PRIu64 " requests failed (%" PRIu64
                                       " verify failures): %s",
                                    ws.errors + ws.verify_failures, ws.ops, ws.verify_failures,
                                    ws.first_error);
    char msg[160];
    snprintf(msg, sizeof msg, "%" PRIu64 " requests, latency min/median/max %" PRIu64 "/%" PRIu64
                              "/%" PRIu64 " ns", ws.ops, ws.lat_min_ns, ws.lat_median_ns,
             ws.lat_max_ns);
    vs_run_expect_ok(c, msg);
    return 0;
}

static int run_config_write(vs_run_ctx *c, const vs_step *st)
{
    vs_err e = {0};
    uint8_t v = (uint8_t)((const blk_step *)st->dev)->value;
    int rc = blk_writeback_write(c->d, v, &e);
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    vs_run_expect_ok(c, "config written");
    return 0;
}

/* The device's capacity changes (in-process): it notifies, and the driver must pick the
 * new capacity up on the config interrupt (blk.driver.blk-op.1), not this step. */
static int run_resize(vs_run_ctx *c, const vs_step *st)
{
    uint64_t want = ((const blk_step *)st->dev)->new_capacity;
    vs_err e = {0};
    if (c->real || !c->dev)
        return vs_run_expect_failed(c, "resize needs the in-process back-end");
    int rc = vs_blk_resize(c->dev, want, &e);
    if (rc == 0) {
        c->dev->config_generation++;
        rc = vs_ref_is(c->t) ? vs_ref_config_changed(c->t, &e)
                             : vs_pci_model_transport_config_changed(c->t, &e);
    }
    /* the interrupt arrives after the transport's latency: wait for the driver to see it */
    for (int i = 0; rc >= 0 && i < 64 && vs_driver_blk_capacity(c->d) != want; i++)
        rc = vs_driver_wait(c->d, 10000, &e);
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    if (vs_driver_blk_capacity(c->d) != want)
        return vs_run_expect_failed(c, "after the config interrupt the driver still has a "
                                    "capacity of %" PRIu64 " sectors, not %" PRIu64,
                                    vs_driver_blk_capacity(c->d), want);
    vs_run_expect_ok(c, "capacity changed");
    return 0;
}

/* ------------------------------------------------------------------ descriptions, sizes */

/* "17", or "end-8" for a sector counted back from the capacity */
static const char *sector_text(const blk_step *b, char *buf, size_t n)
{
    snprintf(buf, n, "%s%" PRIu64, b->from_end ? "end-" : "", b->sector);
    return b->from_end && b->sector == 0 ? "end" : buf;
}
static void describe_range(const vs_step *t, char *buf, size_t n)
{
    const blk_step *b = t->dev;
    char sec[32];
    snprintf(buf, n, "%s sector %s count %u queue %u", t->type->name,
             sector_text(b, sec, sizeof sec), b->count, t->queue);
}
static void describe_request(const vs_step *t, char *buf, size_t n)
{
    snprintf(buf, n, "request type %u", ((const blk_step *)t->dev)->req_type);
}
static void describe_append(const vs_step *t, char *buf, size_t n)
{
    const blk_step *b = t->dev;
    char sec[32];
    snprintf(buf, n, "%s sector %s count %u", t->type->name, sector_text(b, sec, sizeof sec),
             b->count);
}
static void describe_report(const vs_step *t, char *buf, size_t n)
{
    const blk_step *b = t->dev;
    char sec[32];
    snprintf(buf, n, "%s sector %s zones %u", t->type->name, sector_text(b, sec, sizeof sec),
             b->zones);
}
static void describe_zone(const vs_step *t, char *buf, size_t n)
{
    char sec[32];
    snprintf(buf, n, "%s sector %s", t->type->name,
             sector_text(t->dev, sec, sizeof sec));
}
static void describe_workload(const vs_step *t, char *buf, size_t n)
{
    const blk_step *b = t->dev;
    snprintf(buf, n, "workload %s bs %u iodepth %u x%" PRIu64, vs_rw_kind_name(b->wl.rw),
             b->wl.bs, b->wl.iodepth, b->wl.number_ios);
}

/* The largest single request of the step. */
static uint64_t request_bytes(const vs_step *t)
{
    return (uint64_t)((const blk_step *)t->dev)->count * VS_BLK_SECTOR + 64 * 1024;
}
/* The workload keeps iodepth requests of bs bytes in flight. */
static uint64_t workload_bytes(const vs_step *t)
{
    const blk_step *b = t->dev;
    return (uint64_t)b->wl.iodepth * (b->wl.bs + 64 * 1024);
}

/* ------------------------------------------------------------------ the table */

/* A request step: name, VIRTIO_BLK_T_*, what the request carries, schema, bare word
 * allowed, description, then required keys and checks. */
#define REQ(nm, ty, shp, flds, bare, desc, ...)                                            \
    static void defaults_##nm(const vs_scenario *s, vs_step *t)                            \
    {                                                                                      \
        step_defaults(s, t);                                                               \
        ((blk_step *)t->dev)->req_type = ty;                                               \
        ((blk_step *)t->dev)->shape = shp;                                                 \
    }                                                                                      \
    static const vs_step_type step_##nm = {                                                \
        .name = #nm, .fields = flds, .bare_ok = bare, .params_size = sizeof(blk_step),     \
        .defaults = defaults_##nm, .run = run_request, .describe = desc,                   \
        .buffer_bytes = request_bytes, .free = step_free, __VA_ARGS__}
REQ(read, VS_BLK_T_IN, SHAPE_PLAIN, io_fields, false, describe_range, .required = {"sector", "count"},
    .check = check_rw);
REQ(write, VS_BLK_T_OUT, SHAPE_DATA, io_fields, false, describe_range, .required = {"sector", "count"},
    .check = check_rw);
REQ(flush, VS_BLK_T_FLUSH, SHAPE_PLAIN, flush_fields, true, NULL);
REQ(get_id, VS_BLK_T_GET_ID, SHAPE_ID, get_id_fields, true, NULL);
REQ(discard, VS_BLK_T_DISCARD, SHAPE_DWZ, dwz_fields, false, describe_range,
    .required = {"sector", "count"});
REQ(write_zeroes, VS_BLK_T_WRITE_ZEROES, SHAPE_DWZ, dwz_fields, false, describe_range,
    .required = {"sector", "count"});
/* `request: {type: N}`: any type number, the type key overrides the default */
REQ(request, 0, SHAPE_PLAIN, request_fields, false, describe_request, .required = {"type"});
REQ(zone_append, VS_BLK_T_ZONE_APPEND, SHAPE_DATA, zone_append_fields, false, describe_append,
    .required = {"sector", "count"});
REQ(zone_report, VS_BLK_T_ZONE_REPORT, SHAPE_REPORT, zone_report_fields, true, describe_report);
REQ(zone_open, VS_BLK_T_ZONE_OPEN, SHAPE_NO_DATA, zone_mgmt_fields, false, describe_zone,
    .required = {"sector"});
REQ(zone_close, VS_BLK_T_ZONE_CLOSE, SHAPE_NO_DATA, zone_mgmt_fields, false, describe_zone,
    .required = {"sector"});
REQ(zone_finish, VS_BLK_T_ZONE_FINISH, SHAPE_NO_DATA, zone_mgmt_fields, false, describe_zone,
    .required = {"sector"});
REQ(zone_reset, VS_BLK_T_ZONE_RESET, SHAPE_NO_DATA, zone_mgmt_fields, false, describe_zone,
    .required = {"sector"});
REQ(zone_reset_all, VS_BLK_T_ZONE_RESET_ALL, SHAPE_NO_DATA, flush_fields, true, NULL);
REQ(secure_erase, VS_BLK_T_SECURE_ERASE, SHAPE_SECURE_ERASE, dwz_fields, false, describe_range,
    .required = {"sector", "count"});
REQ(get_lifetime, VS_BLK_T_GET_LIFETIME, SHAPE_PLAIN, flush_fields, true, NULL);
#undef REQ

static const vs_step_type step_workload = {
    .name = "workload", .fields = workload_fields, .required = {"rw", "number_ios"},
    .params_size = sizeof(blk_step), .defaults = step_defaults, .check = check_workload,
    .validate = validate_workload, .run = run_workload, .describe = describe_workload,
    .buffer_bytes = workload_bytes, .free = step_free,
};
static const vs_step_type step_config_write = {
    .name = "config_write", .fields = config_write_fields, .required = {"field", "value"},
    .params_size = sizeof(blk_step), .defaults = step_defaults, .check = check_config_write,
    .run = run_config_write, .buffer_bytes = request_bytes, .free = step_free,
};

static const vs_step_type step_resize = {
    .name = "resize", .fields = resize_fields, .required = {"capacity"},
    .params_size = sizeof(blk_step), .defaults = step_defaults, .run = run_resize,
    .free = step_free,
};

static const vs_step_type *const blk_steps[] = {
    &step_read, &step_write, &step_flush, &step_get_id, &step_discard, &step_write_zeroes,
    &step_request, &step_workload, &step_config_write, &step_zone_append, &step_zone_report,
    &step_zone_open, &step_zone_close, &step_zone_finish, &step_zone_reset,
    &step_zone_reset_all, &step_secure_erase, &step_get_lifetime, &step_resize, NULL,
};

const blk_step *blk_step_of(const vs_step *t)
{
    for (const vs_step_type *const *ty = blk_steps; *ty; ty++)
        if (t->type == *ty)
            return t->dev;
    return NULL;
}

/* ------------------------------------------------------------------ blk's part of the core */

static int expect_config_run(vs_run_ctx *c, const vs_step *st)
{
    const blk_cfg_expect *x = st->dev;
    vs_err e = {0};
    for (unsigned i = 0; i < x->ncfg; i++) {
        const vs_blk_cfg_field *f = x->cfg[i].f;
        uint64_t v = 0;
        uint8_t buf[8] = {0};
        int rc = vs_driver_config_read(c->d, f->off, buf, f->len, &e);
        if (rc < 0)
            return vs_run_driver_error(c, rc, &e);
        for (unsigned k = 0; k < f->len; k++)
            v |= (uint64_t)buf[k] << (8 * k);
        if (v != x->cfg[i].value)
            return vs_run_expect_failed(c, "config %s is %" PRIu64 ", expected %" PRIu64,
                                        f->name, v, x->cfg[i].value);
    }
    return 0;
}

/* A disk virtiosim created starts zeroed; a zoned one fills unwritten sectors with a
 * pattern of its own choosing. */
static void after_init(vs_run_ctx *c)
{
    if (!blk_opts_of(c->s)->image && !c->external &&
        !(c->r->negotiated & VS_BIT(VS_BLK_F_ZONED)))
        vs_blk_shadow_assume(c->d, VS_SHADOW_ZERO);
}

/* 4 KiB reads, one after the other from sector 0, unverified. */
static int submit_filler(vs_run_ctx *c, uint16_t queue, uint32_t i, vs_err *e)
{
    vs_blk_req r = {.type = VS_BLK_T_IN, .sector = 8ull * i, .nsectors = 8, .queue = queue,
                    .flags = VS_BLK_REQ_NO_VERIFY};
    return vs_blk_submit(c->d, &r, e);
}

static bool fault_completed(vs_run_ctx *c)
{
    vs_blk_result res;
    bool seen = false;
    while (vs_blk_take_result(c->d, &res) == 1)
        seen |= res.fault;
    return seen;
}

const struct vs_step_set vs_blk_step_set = {
    .steps = blk_steps,
    .device_keys = blk_device_keys,
    .options_size = sizeof(blk_scn_opts),
    .defaults = blk_scenario_defaults,
    .finish = blk_scenario_finish,
    .options_free = blk_options_free,
    .feature_example = "VIRTIO_BLK_F_FLUSH",
    .expect_config = blk_expect_config,
    .expect_config_run = expect_config_run,
    .after_init = after_init,
    .submit_filler = submit_filler,
    .fault_completed = fault_completed,
    .config_probe_off = VS_BLK_CFG_CAPACITY,
    .config_probe_len = 8,
};
