/* virtio-scsi's scenario steps (sim/step_dev.h), their keys and checks: scsi_command,
 * scsi_scan, scsi_tmf, scsi_an, scsi_hold, scsi_release, scsi_hotplug,
 * scsi_capacity_change, scsi_eventq, scsi_workload, scsi_config_write; and scsi's part of
 * the core's steps. How they run: scsi_run_steps.c. */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "sim/dev/scsi/scsi_steps_int.h"
#include "virtiosim/virtio.h"

#define P ((scsi_step *)((vs_step *)ctx)->dev)
#define PARSER(name) static int name(vs_loader *L, const yaml_node_t *v, void *ctx)

/* ------------------------------------------------------------------ names */

const scsi_named_cdb scsi_named_cdbs[] = {
    {"test_unit_ready", VS_SCSI_TEST_UNIT_READY}, {"inquiry", VS_SCSI_INQUIRY},
    {"report_luns", VS_SCSI_REPORT_LUNS}, {"read_capacity_10", VS_SCSI_READ_CAPACITY_10},
    {"read_capacity_16", VS_SCSI_SERVICE_ACTION_IN_16}, {"read_6", VS_SCSI_READ_6},
    {"read_10", VS_SCSI_READ_10}, {"read_12", VS_SCSI_READ_12}, {"read_16", VS_SCSI_READ_16},
    {"write_6", VS_SCSI_WRITE_6}, {"write_10", VS_SCSI_WRITE_10},
    {"write_12", VS_SCSI_WRITE_12}, {"write_16", VS_SCSI_WRITE_16},
    {"synchronize_cache_10", VS_SCSI_SYNCHRONIZE_CACHE_10},
    {"synchronize_cache_16", VS_SCSI_SYNCHRONIZE_CACHE_16},
    {"mode_sense_6", VS_SCSI_MODE_SENSE_6}, {"mode_sense_10", VS_SCSI_MODE_SENSE_10},
    {"request_sense", VS_SCSI_REQUEST_SENSE}, {"start_stop_unit", VS_SCSI_START_STOP_UNIT},
    {"prevent_allow_medium_removal", VS_SCSI_PREVENT_ALLOW}, {"unmap", VS_SCSI_UNMAP},
    {"write_same_16", VS_SCSI_WRITE_SAME_16}, {"verify_10", VS_SCSI_VERIFY_10},
    {"verify_12", VS_SCSI_VERIFY_12}, {"verify_16", VS_SCSI_VERIFY_16},
    {NULL, 0},
};

static const char *const response_names[] = {
    [VS_SCSI_S_OK] = "ok", [VS_SCSI_S_OVERRUN] = "overrun", [VS_SCSI_S_ABORTED] = "aborted",
    [VS_SCSI_S_BAD_TARGET] = "bad_target", [VS_SCSI_S_RESET] = "reset",
    [VS_SCSI_S_BUSY] = "busy", [VS_SCSI_S_TRANSPORT_FAILURE] = "transport_failure",
    [VS_SCSI_S_TARGET_FAILURE] = "target_failure", [VS_SCSI_S_NEXUS_FAILURE] = "nexus_failure",
    [VS_SCSI_S_FAILURE] = "failure", [VS_SCSI_S_FUNCTION_SUCCEEDED] = "function_succeeded",
    [VS_SCSI_S_FUNCTION_REJECTED] = "function_rejected",
    [VS_SCSI_S_INCORRECT_LUN] = "incorrect_lun",
};
#define N_RESPONSES 13

/* TMF responses: FUNCTION COMPLETE is code 0 */
static const char *const tmf_resp_names[] = {
    [VS_SCSI_S_FUNCTION_COMPLETE] = "function_complete", [VS_SCSI_S_BAD_TARGET] = "bad_target",
    [VS_SCSI_S_BUSY] = "busy", [VS_SCSI_S_TRANSPORT_FAILURE] = "transport_failure",
    [VS_SCSI_S_TARGET_FAILURE] = "target_failure", [VS_SCSI_S_NEXUS_FAILURE] = "nexus_failure",
    [VS_SCSI_S_FAILURE] = "failure", [VS_SCSI_S_FUNCTION_SUCCEEDED] = "function_succeeded",
    [VS_SCSI_S_FUNCTION_REJECTED] = "function_rejected",
    [VS_SCSI_S_INCORRECT_LUN] = "incorrect_lun",
};

static const char *const tmf_names[] = {
    "abort_task", "abort_task_set", "clear_aca", "clear_task_set", "i_t_nexus_reset",
    "logical_unit_reset", "query_task", "query_task_set",
};

static const char *const key_names[16] = {
    [VS_SCSI_SK_NO_SENSE] = "no_sense", [VS_SCSI_SK_RECOVERED_ERROR] = "recovered_error",
    [VS_SCSI_SK_NOT_READY] = "not_ready", [VS_SCSI_SK_MEDIUM_ERROR] = "medium_error",
    [VS_SCSI_SK_HARDWARE_ERROR] = "hardware_error",
    [VS_SCSI_SK_ILLEGAL_REQUEST] = "illegal_request",
    [VS_SCSI_SK_UNIT_ATTENTION] = "unit_attention", [VS_SCSI_SK_DATA_PROTECT] = "data_protect",
    [VS_SCSI_SK_ABORTED_COMMAND] = "aborted_command", [VS_SCSI_SK_MISCOMPARE] = "miscompare",
};

const char *scsi_response_word(uint8_t r)
{
    return r < N_RESPONSES && response_names[r] ? response_names[r] : "undefined";
}

/* ------------------------------------------------------------------ small parsers */

/* A number, or one of names (index = value). */
static int num_or_name(vs_loader *L, const yaml_node_t *v, const char *const *names, int n,
                       uint32_t max, uint32_t *out)
{
    const char *s = vs_ld_scalar(v);
    if (s && (isdigit((unsigned char)s[0])))
        return vs_ld_u32(L, v, max, out);
    int k = 0;
    int r = vs_ld_enum(L, v, names, n, &k);
    *out = (uint32_t)k;
    return r;
}

PARSER(st_cdb)
{
    const char *s = vs_ld_scalar(v);
    if (!s)
        return vs_ld_fail(L, v, "expected a CDB name such as read_10 or hex bytes such as "
                          "\"12 00 00 00 24 00\"");
    for (const scsi_named_cdb *n = scsi_named_cdbs; n->name; n++)
        if (strcmp(s, n->name) == 0) {
            P->cdb_op = n->opcode;
            return 0;
        }
    /* hex bytes, spaces allowed, optional 0x */
    P->cdb_op = -1;
    P->cdb_len = 0;
    const char *p = s;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        p += 2;
    while (*p) {
        if (isspace((unsigned char)*p)) {
            p++;
            continue;
        }
        if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1]))
            return vs_ld_fail(L, v, "cdb '%s' is neither a CDB name (read_10, inquiry, ...) "
                              "nor hex bytes", s);
        if (P->cdb_len >= VS_SCSI_CDB_MAX)
            return vs_ld_fail(L, v, "cdb longer than %u bytes", VS_SCSI_CDB_MAX);
        char b[3] = {p[0], p[1], 0};
        P->cdb[P->cdb_len++] = (uint8_t)strtoul(b, NULL, 16);
        p += 2;
    }
    if (!P->cdb_len)
        return vs_ld_fail(L, v, "empty cdb");
    return 0;
}

/* lun: "T:L", [T, L], report_luns (the well-known LU), or 8 hex bytes "01 00 40 00 ...". */
PARSER(st_lun)
{
    const char *s = vs_ld_scalar(v);
    if (v->type == YAML_SEQUENCE_NODE && v->data.sequence.items.top - v->data.sequence.items.start == 2) {
        uint16_t t;
        int r = vs_ld_u16(L, vs_ld_node(L, v->data.sequence.items.start[0]), 255, &t);
        if (r == 0)
            r = vs_ld_u16(L, vs_ld_node(L, v->data.sequence.items.start[1]), VS_SCSI_MAX_LUN,
                          &P->lun);
        P->target = (uint8_t)t;
        return r;
    }
    if (s && strcmp(s, "report_luns") == 0) {
        P->report_luns_wlun = true;
        return 0;
    }
    unsigned t, l, b[8];
    char extra;
    if (s && sscanf(s, "%u:%u%c", &t, &l, &extra) == 2 && t <= 255 && l <= VS_SCSI_MAX_LUN) {
        P->target = (uint8_t)t;
        P->lun = (uint16_t)l;
        return 0;
    }
    if (s && sscanf(s, "%x %x %x %x %x %x %x %x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
                    &b[6], &b[7], &extra) == 8) {
        for (int i = 0; i < 8; i++)
            P->lun8[i] = (uint8_t)b[i];
        P->raw_lun = true;
        return 0;
    }
    return vs_ld_fail(L, v, "expected a LUN as \"target:lun\" (0:1), [target, lun], "
                      "report_luns or 8 hex bytes");
}

PARSER(st_queue) { return vs_ld_u16(L, v, VS_DRV_MAX_QUEUES - 3, &P->rq); }
PARSER(st_lba) { return vs_ld_u64(L, v, UINT64_MAX, &P->lba); }
PARSER(st_blocks) { return vs_ld_u32(L, v, 1u << 17, &P->blocks); }
static int size32(vs_loader *L, const yaml_node_t *v, uint32_t *out)
{
    uint64_t n;
    int r = vs_ld_size(L, v, &n);
    if (r == 0 && n > (16u << 20))
        return vs_ld_fail(L, v, "at most 16MiB");
    *out = (uint32_t)n;
    return r;
}
PARSER(st_data_in)
{
    P->has_data_in = true;
    return size32(L, v, &P->data_in);
}
PARSER(st_data_out)
{
    P->has_data_out = true;
    return size32(L, v, &P->data_out);
}
PARSER(st_pattern) { return vs_ld_u32(L, v, UINT32_MAX, &P->pattern); }
PARSER(st_page)
{
    P->has_page = true;
    return vs_ld_u32(L, v, 255, &P->page);
}
PARSER(st_hdr_len)
{
    int r = vs_ld_u32(L, v, VS_SCSI_REQ_FIXED + VS_SCSI_CDB_MAX, &P->hdr_len);
    if (r == 0 && !P->hdr_len)
        return vs_ld_fail(L, v, "header_len must be at least 1");
    return r;
}
PARSER(st_resp_len)
{
    int r = vs_ld_u32(L, v, VS_SCSI_RESP_FIXED + VS_SCSI_SENSE_MAX, &P->resp_len);
    if (r == 0 && !P->resp_len)
        return vs_ld_fail(L, v, "response_len must be at least 1");
    return r;
}
PARSER(st_split) { return vs_ld_bool(L, v, &P->split_header); }
PARSER(st_indirect) { return vs_ld_bool(L, v, &P->indirect); }
PARSER(st_verify) { return vs_ld_bool(L, v, &P->verify); }
PARSER(st_needs_reset) { return vs_ld_bool(L, v, &P->expect_needs_reset); }
PARSER(st_task_attr)
{
    uint32_t x;
    int r = vs_ld_u32(L, v, 255, &x);
    P->task_attr = (uint8_t)x;
    return r;
}

/* expect: {response, status, sense_key, asc, ascq, residual, sense_len} */
#define X (&P->x)
PARSER(x_response)
{
    uint32_t k;
    X->has_response = true;
    int r = num_or_name(L, v, response_names, N_RESPONSES, 255, &k);
    X->response = (uint8_t)k;
    return r;
}
PARSER(x_status)
{
    static const char *const names[0x41] = {
        [VS_SCSI_ST_GOOD] = "good", [VS_SCSI_ST_CHECK_CONDITION] = "check_condition",
        [VS_SCSI_ST_CONDITION_MET] = "condition_met", [VS_SCSI_ST_BUSY] = "busy",
        [VS_SCSI_ST_RESERVATION_CONFLICT] = "reservation_conflict",
        [VS_SCSI_ST_TASK_SET_FULL] = "task_set_full", [VS_SCSI_ST_ACA_ACTIVE] = "aca_active",
        [VS_SCSI_ST_TASK_ABORTED] = "task_aborted"};
    uint32_t k;
    X->has_status = true;
    int r = num_or_name(L, v, names, 0x41, 255, &k);
    X->status = (uint8_t)k;
    return r;
}
PARSER(x_key)
{
    uint32_t k;
    X->has_key = true;
    int r = num_or_name(L, v, key_names, 16, 15, &k);
    X->key = (uint8_t)k;
    return r;
}
PARSER(x_asc)
{
    uint32_t k;
    X->has_asc = true;
    int r = vs_ld_u32(L, v, 255, &k);
    X->asc = (uint8_t)k;
    return r;
}
PARSER(x_ascq)
{
    uint32_t k;
    X->has_ascq = true;
    int r = vs_ld_u32(L, v, 255, &k);
    X->ascq = (uint8_t)k;
    return r;
}
PARSER(x_residual)
{
    X->has_residual = true;
    return vs_ld_u32(L, v, UINT32_MAX, &X->residual);
}
PARSER(x_sense_len)
{
    X->has_sense_len = true;
    return vs_ld_u32(L, v, UINT32_MAX, &X->sense_len);
}
static const vs_field expect_fields[] = {
    {"response", x_response}, {"status", x_status}, {"sense_key", x_key}, {"asc", x_asc},
    {"ascq", x_ascq}, {"residual", x_residual}, {"sense_len", x_sense_len}, {NULL, NULL},
};
PARSER(st_expect) { return vs_ld_walk(L, v, expect_fields, ctx, "expect"); }

/* scan */
PARSER(st_targets) { return vs_ld_u16(L, v, 256, &P->targets); }
PARSER(st_expect_luns)
{
    uint32_t n;
    int r = vs_ld_u32(L, v, SCSI_MAX_LUNS, &n);
    P->expect_luns = (int)n;
    return r;
}

/* tmf / an */
PARSER(st_subtype) { return num_or_name(L, v, tmf_names, 8, UINT32_MAX, &P->subtype); }
PARSER(st_tag)
{
    const char *s = vs_ld_scalar(v);
    if (s && strcmp(s, "held") == 0) {
        P->tag_ref = 1;
        return 0;
    }
    P->tag_ref = 0;
    return vs_ld_u64(L, v, UINT64_MAX, &P->tag);
}
PARSER(st_expect_tmf)
{
    uint32_t k;
    P->has_expect_tmf = true;
    int r = num_or_name(L, v, tmf_resp_names, N_RESPONSES, 255, &k);
    P->expect_tmf = (uint8_t)k;
    return r;
}
PARSER(st_expect_held)
{
    uint32_t k;
    int r = num_or_name(L, v, response_names, N_RESPONSES, 255, &k);
    P->expect_held = (int)k;
    return r;
}
PARSER(st_an_type)
{
    static const char *const names[] = {[VS_SCSI_T_AN_QUERY] = "query",
                                        [VS_SCSI_T_AN_SUBSCRIBE] = "subscribe"};
    int k = 0;
    int r = vs_ld_enum(L, v, names, 3, &k);
    P->subtype = (uint32_t)k;
    return r;
}
PARSER(st_an_events) { return vs_ld_u32(L, v, UINT32_MAX, &P->an_events); }
PARSER(st_event_actual)
{
    P->has_event_actual = true;
    return vs_ld_u32(L, v, UINT32_MAX, &P->event_actual);
}

/* hotplug / capacity / hold / eventq */
PARSER(st_action)
{
    static const char *const names[] = {"add", "remove"};
    int k = 0;
    int r = vs_ld_enum(L, v, names, 2, &k);
    P->remove = k == 1;
    return r;
}
PARSER(st_size)
{
    int r = vs_ld_size(L, v, &P->bytes);
    if (r == 0 && (P->bytes < 4096 || P->bytes > (UINT64_C(1) << 40)))
        return vs_ld_fail(L, v, "size must be between 4KiB and 1TiB");
    return r;
}
PARSER(st_count)
{
    int r = vs_ld_u32(L, v, 64, &P->count);
    if (r == 0 && !P->count)
        return vs_ld_fail(L, v, "count must be at least 1");
    return r;
}
PARSER(st_buffers) { return vs_ld_u32(L, v, SCSI_EVENTQ_MAX, &P->buffers); }

typedef struct ev_ctx {
    scsi_step *p;
    unsigned i;
} ev_ctx;
#define EC ((ev_ctx *)ctx)
PARSER(ev_event)
{
    static const char *const names[] = {"no_event", "transport_reset", "async_notify",
                                        "param_change"};
    return num_or_name(L, v, names, 4, UINT32_MAX, &EC->p->ev[EC->i].event);
}
PARSER(ev_reason)
{
    static const char *const names[] = {"hard", "rescan", "removed"};
    EC->p->ev[EC->i].has_reason = true;
    return num_or_name(L, v, names, 3, UINT32_MAX, &EC->p->ev[EC->i].reason);
}
PARSER(ev_missed) { return vs_ld_bool(L, v, &EC->p->ev[EC->i].missed); }
static const vs_field event_fields[] = {
    {"event", ev_event}, {"reason", ev_reason}, {"missed", ev_missed}, {NULL, NULL},
};
PARSER(st_expect_events)
{
    if (v->type != YAML_SEQUENCE_NODE)
        return vs_ld_fail(L, v, "expected a list such as [{event: transport_reset, reason: "
                          "rescan}] ([] for none)");
    P->nev = 0;
    P->expect_no_event = v->data.sequence.items.start == v->data.sequence.items.top;
    for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++) {
        const yaml_node_t *n = vs_ld_node(L, *i);
        if (P->nev >= SCSI_EXPECT_EVENTS)
            return vs_ld_fail(L, n, "at most %d events", SCSI_EXPECT_EVENTS);
        ev_ctx ec = {P, P->nev};
        int r = vs_ld_walk(L, n, event_fields, &ec, "event");
        if (r < 0)
            return r;
        P->nev++;
    }
    return 0;
}

/* workload (fio vocabulary) */
PARSER(wl_rw)
{
    static const char *names[VS_RW_RANDRW + 1];
    for (int i = VS_RW_READ; i <= VS_RW_RANDRW; i++)
        names[i] = vs_rw_kind_name((vs_rw_kind)i);
    int k = 0;
    int r = vs_ld_enum(L, v, names, VS_RW_RANDRW + 1, &k);
    P->wl.rw = (vs_rw_kind)k;
    return r;
}
PARSER(wl_bs)
{
    uint64_t n;
    int r = vs_ld_size(L, v, &n);
    if (r == 0 && (n == 0 || n % 512 || n > (8u << 20)))
        return vs_ld_fail(L, v, "bs must be a multiple of 512 bytes, at most 8MiB");
    P->wl.bs = (uint32_t)n;
    return r;
}
PARSER(wl_iodepth)
{
    int r = vs_ld_u32(L, v, VS_VQ_MAX_SIZE, &P->wl.iodepth);
    if (r == 0 && !P->wl.iodepth)
        return vs_ld_fail(L, v, "iodepth must be at least 1");
    return r;
}
PARSER(wl_mix) { return vs_ld_u32(L, v, 100, &P->wl.rwmixread); }
PARSER(wl_ios) { return vs_ld_u64(L, v, UINT64_C(1) << 40, &P->wl.number_ios); }
PARSER(wl_verify)
{
    const char *s = vs_ld_scalar(v);
    static const char *const off[] = {"none", "false", "no", "off"};
    static const char *const on[] = {"pattern", "true", "yes", "on", "crc32c", "md5", "meta"};
    for (size_t i = 0; s && i < sizeof off / sizeof off[0]; i++)
        if (strcasecmp(s, off[i]) == 0) {
            P->wl.verify = false;
            return 0;
        }
    for (size_t i = 0; s && i < sizeof on / sizeof on[0]; i++)
        if (strcasecmp(s, on[i]) == 0) {
            P->wl.verify = true;
            return 0;
        }
    return vs_ld_fail(L, v, "unknown verify mode (pattern, crc32c, ... to verify; none to skip)");
}
PARSER(wl_offset) { return vs_ld_size(L, v, &P->wl.offset); }
PARSER(wl_wsize) { return vs_ld_size(L, v, &P->wl.size); }
PARSER(wl_queues)
{
    int r = vs_ld_u16(L, v, VS_DRV_MAX_QUEUES - 2, &P->wl.queues);
    if (r == 0 && !P->wl.queues)
        return vs_ld_fail(L, v, "queues must be at least 1");
    return r;
}
PARSER(wl_cdb16) { return vs_ld_bool(L, v, &P->wl.cdb16); }
PARSER(wl_all) { return vs_ld_bool(L, v, &P->wl.all_luns); }

/* config_write */
PARSER(st_field)
{
    const char *s = vs_ld_scalar(v);
    const vs_scsi_cfg_field *f = s ? vs_scsi_cfg_field_find(s) : NULL;
    if (!f || !f->driver_writable)
        return vs_ld_fail(L, v, "a driver writes only sense_size and cdb_size");
    P->cfg_off = f->off;
    return 0;
}
PARSER(st_value) { return vs_ld_u32(L, v, UINT32_MAX, &P->value); }

/* ------------------------------------------------------------------ schemas */

#define CMD_KEYS                                                                           \
    {"cdb", st_cdb}, {"lun", st_lun}, {"queue", st_queue}, {"lba", st_lba},               \
    {"blocks", st_blocks}, {"data_in", st_data_in}, {"data_out", st_data_out},             \
    {"pattern", st_pattern}, {"page", st_page}
static const vs_field command_fields[] = {
    CMD_KEYS, {"header_len", st_hdr_len}, {"response_len", st_resp_len},
    {"split_header", st_split}, {"indirect", st_indirect}, {"verify", st_verify},
    {"task_attr", st_task_attr}, {"expect", st_expect},
    {"expect_needs_reset", st_needs_reset}, {NULL, NULL},
};
static const vs_field scan_fields[] = {
    {"targets", st_targets}, {"expect_luns", st_expect_luns}, {NULL, NULL},
};
static const vs_field tmf_fields[] = {
    {"subtype", st_subtype}, {"lun", st_lun}, {"tag", st_tag}, {"expect", st_expect_tmf},
    {"expect_held", st_expect_held}, {NULL, NULL},
};
static const vs_field an_fields[] = {
    {"type", st_an_type}, {"lun", st_lun}, {"events", st_an_events}, {"expect", st_expect_tmf},
    {"expect_event_actual", st_event_actual}, {NULL, NULL},
};
static const vs_field hold_fields[] = {
    CMD_KEYS, {"count", st_count}, {NULL, NULL},
};
static const vs_field release_fields[] = {
    {"expect_held", st_expect_held}, {NULL, NULL},
};
static const vs_field hotplug_fields[] = {
    {"action", st_action}, {"lun", st_lun}, {"size", st_size}, {"count", st_count},
    {"expect_events", st_expect_events}, {NULL, NULL},
};
static const vs_field capacity_fields[] = {
    {"lun", st_lun}, {"size", st_size}, {"expect_events", st_expect_events}, {NULL, NULL},
};
static const vs_field eventq_fields[] = {
    {"buffers", st_buffers}, {"expect_events", st_expect_events}, {NULL, NULL},
};
static const vs_field workload_fields[] = {
    {"rw", wl_rw}, {"bs", wl_bs}, {"iodepth", wl_iodepth}, {"rwmixread", wl_mix},
    {"number_ios", wl_ios}, {"verify", wl_verify}, {"offset", wl_offset}, {"size", wl_wsize},
    {"queues", wl_queues}, {"lun", st_lun}, {"all_luns", wl_all}, {"cdb16", wl_cdb16},
    {NULL, NULL},
};
static const vs_field config_write_fields[] = {
    {"field", st_field}, {"value", st_value}, {NULL, NULL},
};

static void step_defaults(const vs_scenario *s, vs_step *t)
{
    scsi_step *p = t->dev;
    p->cdb_op = VS_SCSI_TEST_UNIT_READY;
    p->blocks = 1;
    p->verify = true;
    p->pattern = (uint32_t)s->seed;
    p->expect_luns = -1;
    p->tag_ref = 2;
    p->expect_held = -1;
    p->count = 1;
    p->buffers = SCSI_EVENTQ_DEFAULT;
    p->wl.bs = 4096;
    p->wl.iodepth = s->driver.iodepth;
    p->wl.rwmixread = 50;
    p->wl.verify = true;
    const scsi_scn_opts *o = scsi_opts_of(s);
    p->target = o->lun[0].target;
    p->lun = o->lun[0].lun;
}

static int check_tmf(vs_loader *L, const yaml_node_t *body, vs_step *t)
{
    const scsi_step *p = t->dev;
    if (p->subtype > 255 && !vs_ld_get(L, body, "expect"))
        return vs_ld_fail(L, body, "an undefined TMF subtype needs an expect");
    return 0;
}

static int check_workload(vs_loader *L, const yaml_node_t *body, vs_step *t)
{
    if (!((const scsi_step *)t->dev)->wl.number_ios)
        return vs_ld_fail(L, body, "number_ios must be at least 1");
    if (vs_ld_get(L, body, "lun") && vs_ld_get(L, body, "all_luns"))
        return vs_ld_fail(L, body, "give lun or all_luns, not both");
    return 0;
}

/* A request queue the scenario's device has. */
static int validate_queue(const vs_scenario *s, const vs_step *t, vs_err *e)
{
    const scsi_step *p = t->dev;
    uint16_t rqs = scsi_opts_of(s)->num_queues;
    uint16_t want = t->type == &scsi_step_workload ? p->wl.queues : (uint16_t)(p->rq + 1);
    if (want > rqs)
        return vs_err_set(e, VS_EINVAL, "%s:%u:%u: request queue %u does not exist: the "
                          "device has %u (device.num_queues)", s->path, t->line, t->col,
                          want - (t->type != &scsi_step_workload), rqs);
    return 0;
}

static uint64_t cmd_bytes(const vs_step *t)
{
    const scsi_step *p = t->dev;
    uint64_t n = (uint64_t)p->data_in + p->data_out + (uint64_t)p->blocks * 4096;
    return (n + 64 * 1024) * (p->count ? p->count : 1);
}
static uint64_t workload_bytes(const vs_step *t)
{
    const scsi_step *p = t->dev;
    return (uint64_t)p->wl.iodepth * (p->wl.bs + 64 * 1024);
}

static void describe_cmd(const vs_step *t, char *buf, size_t n)
{
    const scsi_step *p = t->dev;
    const char *name = "cdb";
    for (const scsi_named_cdb *c = scsi_named_cdbs; c->name && p->cdb_op >= 0; c++)
        if (c->opcode == p->cdb_op)
            name = c->name;
    snprintf(buf, n, "%s %s lun %u:%u", t->type->name, name, p->target, p->lun);
}
static void describe_workload(const vs_step *t, char *buf, size_t n)
{
    const scsi_step *p = t->dev;
    snprintf(buf, n, "scsi_workload %s bs %u iodepth %u x%llu", vs_rw_kind_name(p->wl.rw),
             p->wl.bs, p->wl.iodepth, (unsigned long long)p->wl.number_ios);
}

#define STEP(nm, flds, bare, ...)                                                          \
    const vs_step_type scsi_step_##nm = {                                                  \
        .name = "scsi_" #nm, .fields = flds, .bare_ok = bare,                              \
        .params_size = sizeof(scsi_step), .defaults = step_defaults,                       \
        .run = scsi_run_##nm, __VA_ARGS__}
STEP(command, command_fields, false, .required = {"cdb"}, .describe = describe_cmd,
     .validate = validate_queue,
     .buffer_bytes = cmd_bytes);
STEP(scan, scan_fields, true, .buffer_bytes = cmd_bytes);
STEP(tmf, tmf_fields, false, .required = {"subtype"}, .check = check_tmf,
     .buffer_bytes = cmd_bytes);
STEP(an, an_fields, false, .required = {"type"},
     .buffer_bytes = cmd_bytes);
STEP(hold, hold_fields, false, .describe = describe_cmd, .validate = validate_queue,
     .buffer_bytes = cmd_bytes);
STEP(release, release_fields, true, .buffer_bytes = cmd_bytes);
STEP(hotplug, hotplug_fields, false, .required = {"action", "lun"},
     .buffer_bytes = cmd_bytes, .own_qemu = true);
STEP(capacity_change, capacity_fields, false, .required = {"size"},
     .buffer_bytes = cmd_bytes, .own_qemu = true);
STEP(eventq, eventq_fields, false, .required = {"buffers"},
     .buffer_bytes = cmd_bytes);
STEP(workload, workload_fields, false, .required = {"rw", "number_ios"},
     .check = check_workload, .validate = validate_queue, .describe = describe_workload,
     .buffer_bytes = workload_bytes);
STEP(config_write, config_write_fields, false, .required = {"field", "value"},
     .buffer_bytes = cmd_bytes);
#undef STEP

static const vs_step_type *const scsi_steps[] = {
    &scsi_step_command, &scsi_step_scan, &scsi_step_tmf, &scsi_step_an, &scsi_step_hold,
    &scsi_step_release, &scsi_step_hotplug, &scsi_step_capacity_change, &scsi_step_eventq,
    &scsi_step_workload, &scsi_step_config_write, NULL,
};

const struct vs_step_set vs_scsi_step_set = {
    .steps = scsi_steps,
    .device_keys = scsi_device_keys,
    .options_size = sizeof(scsi_scn_opts),
    .defaults = scsi_scenario_defaults,
    .finish = scsi_scenario_finish,
    .options_free = scsi_options_free,
    .feature_example = "VIRTIO_SCSI_F_HOTPLUG",
    .expect_config = scsi_expect_config,
    .expect_config_run = scsi_expect_config_run,
    .after_init = scsi_after_init,
    .submit_filler = scsi_submit_filler,
    .fault_completed = scsi_fault_completed,
    .config_probe_off = VS_SCSI_CFG_NUM_QUEUES,
    .config_probe_len = 4,
};
