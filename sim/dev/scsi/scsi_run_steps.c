/* virtio-scsi's steps at run time: a command built from the step's keys and judged against
 * its expectations, the LUN scan, task management (with held commands), asynchronous
 * notification, the workload, config writes; and scsi's part of the core's steps (bring-up
 * after init, config expectations, fillers, fault results). */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/dev/scsi/scsi_steps_int.h"
#include "virtiosim/le.h"
#include "virtiosim/virtio.h"

/* ------------------------------------------------------------------ building */

void scsi_step_lun(const scsi_step *p, uint8_t lun[8])
{
    if (p->raw_lun)
        memcpy(lun, p->lun8, 8);
    else if (p->report_luns_wlun)
        vs_scsi_lun_encode_report_luns(lun);
    else
        vs_scsi_lun_encode(lun, p->target, p->lun);
}

/* The LUN's block length: as the scan read it, else as the scenario configures it. */
static uint32_t block_len(vs_run_ctx *c, const scsi_step *p)
{
    const scsi_drv *s = scsi_drv_of(c->d);
    int ix = scsi_lun_find(s, p->target, p->lun);
    if (ix >= 0 && s->lun[ix].block_len)
        return s->lun[ix].block_len;
    const scsi_scn_opts *o = scsi_opts_of(c->s);
    for (unsigned i = 0; i < o->nluns; i++)
        if (o->lun[i].target == p->target && o->lun[i].lun == p->lun)
            return o->lun[i].block_len;
    return 512;
}

/* A named CDB from the step's keys, with its usual data direction and length. */
static int build_named(vs_run_ctx *c, const scsi_step *p, scsi_cmd *m, vs_err *e)
{
    uint8_t op = (uint8_t)p->cdb_op;
    uint8_t *b = m->cdb;
    uint32_t bl = block_len(c, p);
    uint32_t in = 0, out = 0;
    switch (op) {
    case VS_SCSI_TEST_UNIT_READY: case VS_SCSI_START_STOP_UNIT: case VS_SCSI_PREVENT_ALLOW:
        b[0] = op;
        b[4] = op == VS_SCSI_START_STOP_UNIT ? 1 : 0;   /* START */
        m->cdb_len = 6;
        break;
    case VS_SCSI_INQUIRY: case VS_SCSI_REQUEST_SENSE: case VS_SCSI_MODE_SENSE_6:
        in = op == VS_SCSI_INQUIRY ? (p->has_page ? 255 : 36) : op == VS_SCSI_REQUEST_SENSE ? 18 : 255;
        in = p->has_data_in ? p->data_in : in;
        b[0] = op;
        if (op == VS_SCSI_INQUIRY) {
            b[1] = p->has_page ? 1 : 0;
            b[2] = (uint8_t)p->page;
            vs_scsi_be16_put(b + 3, (uint16_t)(in > 0xffff ? 0xffff : in));
        } else {
            b[2] = op == VS_SCSI_MODE_SENSE_6 ? (uint8_t)(p->has_page ? p->page : 0x08) : 0;
            b[4] = (uint8_t)(in > 255 ? 255 : in);
        }
        m->cdb_len = 6;
        break;
    case VS_SCSI_MODE_SENSE_10:
        in = p->has_data_in ? p->data_in : 256;
        b[0] = op;
        b[2] = (uint8_t)(p->has_page ? p->page : 0x08);
        vs_scsi_be16_put(b + 7, (uint16_t)(in > 0xffff ? 0xffff : in));
        m->cdb_len = 10;
        break;
    case VS_SCSI_REPORT_LUNS:
        in = p->has_data_in ? p->data_in : 8 + 8 * 16;
        b[0] = op;
        vs_scsi_be32_put(b + 6, in);
        m->cdb_len = 12;
        break;
    case VS_SCSI_READ_CAPACITY_10:
        in = p->has_data_in ? p->data_in : 8;
        b[0] = op;
        m->cdb_len = 10;
        break;
    case VS_SCSI_SERVICE_ACTION_IN_16:
        in = p->has_data_in ? p->data_in : 32;
        b[0] = op;
        b[1] = VS_SCSI_SAI_READ_CAPACITY_16;
        vs_scsi_be32_put(b + 10, in);
        m->cdb_len = 16;
        break;
    case VS_SCSI_UNMAP: {
        vs_scsi_unmap_desc dsc = {.lba = p->lba, .nblocks = p->blocks};
        out = (uint32_t)vs_scsi_unmap_build(m->param, sizeof m->param, &dsc, 1);
        b[0] = op;
        vs_scsi_be16_put(b + 7, (uint16_t)out);
        m->cdb_len = 10;
        m->flags |= SC_PARAM;
        break;
    }
    default: {   /* READ / WRITE / VERIFY / SYNCHRONIZE CACHE / WRITE SAME */
        vs_scsi_rw rw = {.opcode = op, .lba = p->lba, .nblocks = p->blocks};
        int n = vs_scsi_cdb_rw_build(b, &rw);
        if (n < 0)
            return vs_err_set(e, VS_EINVAL, "scsi: lba %" PRIu64 " / blocks %u do not fit "
                              "opcode 0x%02x", p->lba, p->blocks, op);
        m->cdb_len = (uint32_t)n;
        vs_scsi_rw back;
        vs_scsi_cdb_rw(b, (size_t)n, &back);
        uint32_t blocks = op == VS_SCSI_READ_6 || op == VS_SCSI_WRITE_6
                              ? (p->blocks ? p->blocks : 256) : p->blocks;
        if (op == VS_SCSI_WRITE_SAME_16)
            out = bl;
        else if (back.data)
            *(back.write ? &out : &in) = blocks * bl;
        break;
    }
    }
    m->in_len = p->has_data_in ? p->data_in : in;
    m->out_len = p->has_data_out ? p->data_out : out;
    if ((m->flags & SC_PARAM) && m->out_len > sizeof m->param)
        m->flags &= ~(uint32_t)SC_PARAM;   /* a longer parameter list: the pattern */
    return 0;
}

int scsi_build_cmd(vs_run_ctx *c, const scsi_step *p, scsi_cmd *m, vs_err *e)
{
    memset(m, 0, sizeof *m);
    m->rq = p->rq;
    scsi_step_lun(p, m->lun);
    m->hdr_len = p->hdr_len;
    m->resp_len = p->resp_len;
    m->task_attr = p->task_attr;
    m->pattern = p->pattern;
    m->flags = (p->split_header ? SC_SPLIT_HDR : 0) | (p->indirect ? SC_INDIRECT : 0) |
               (p->verify ? 0 : SC_NO_VERIFY);
    if (p->cdb_op >= 0)
        return build_named(c, p, m, e);
    memcpy(m->cdb, p->cdb, p->cdb_len);
    m->cdb_len = p->cdb_len;
    m->in_len = p->data_in;
    m->out_len = p->data_out;
    return 0;
}

/* ------------------------------------------------------------------ judging */

static int judge(vs_run_ctx *c, const scsi_step *p, const scsi_result *r)
{
    const scsi_expect *x = &p->x;
    uint8_t want_resp = x->has_response ? x->response : VS_SCSI_S_OK;
    char got[200];
    snprintf(got, sizeof got, "response %s (%u), status 0x%02x, sense %s%x/%02x/%02x, "
             "sense_len %u, residual %u", scsi_response_word(r->response), r->response,
             r->status, r->sense_parsed ? "" : "(none) ", r->sense_key, r->asc, r->ascq,
             r->sense_len, r->residual);
    if (!r->resp_ok && !(p->resp_len && p->resp_len < VS_SCSI_RESP_FIXED))
        return vs_run_expect_failed(c, "no readable response: %s", r->msg);
    if (r->msg[0] && !(p->resp_len && p->resp_len < VS_SCSI_RESP_FIXED))
        return vs_run_expect_failed(c, "%s (%s)", r->msg, got);
    if (!(p->resp_len && p->resp_len < VS_SCSI_RESP_FIXED) && r->response != want_resp)
        return vs_run_expect_failed(c, "%s, expected response %s", got,
                                    scsi_response_word(want_resp));
    bool st_expected = x->has_status || want_resp == VS_SCSI_S_OK;
    uint8_t want_st = x->has_status ? x->status : VS_SCSI_ST_GOOD;
    if (st_expected && r->response == VS_SCSI_S_OK && r->status != want_st)
        return vs_run_expect_failed(c, "%s, expected status 0x%02x", got, want_st);
    if ((x->has_key || x->has_asc || x->has_ascq) && !r->sense_parsed)
        return vs_run_expect_failed(c, "%s, expected sense data", got);
    if ((x->has_key && r->sense_key != x->key) || (x->has_asc && r->asc != x->asc) ||
        (x->has_ascq && r->ascq != x->ascq))
        return vs_run_expect_failed(c, "%s, expected sense %x/%02x/%02x", got, x->key, x->asc,
                                    x->ascq);
    if (x->has_residual && r->residual != x->residual)
        return vs_run_expect_failed(c, "%s, expected residual %u", got, x->residual);
    if (x->has_sense_len && r->sense_len != x->sense_len)
        return vs_run_expect_failed(c, "%s, expected sense_len %u", got, x->sense_len);
    if (!r->data_ok)
        return vs_run_expect_failed(c, "%s", r->msg);
    vs_run_expect_ok(c, got);
    return 0;
}

int scsi_run_command(vs_run_ctx *c, const vs_step *t)
{
    const scsi_step *p = t->dev;
    vs_err e = {0};
    scsi_cmd m;
    scsi_result r;
    int rc = scsi_build_cmd(c, p, &m, &e);
    if (rc == 0 && p->expect_needs_reset) {
        /* the device error path: DEVICE_NEEDS_RESET (and a config interrupt) */
        if ((rc = scsi_cmd_submit(c->d, &m, &e)) >= 0)
            rc = vs_driver_wait_status(c->d, VS_STATUS_DEVICE_NEEDS_RESET, 0, &e);
        if (rc == -VS_ETIMEDOUT)
            return vs_run_expect_failed(c, "the device did not set DEVICE_NEEDS_RESET");
        if (rc < 0)
            return vs_run_driver_error(c, rc, &e);
        vs_run_expect_ok(c, "DEVICE_NEEDS_RESET");
        return 0;
    }
    /* A unit attention the step does not ask about is retried, as Linux's midlayer does
     * (real devices raise one after power-on and after every reset). */
    bool ua_wanted = p->x.has_key && p->x.key == VS_SCSI_SK_UNIT_ATTENTION;
    for (int tries = 0; rc == 0 && tries < 4; tries++) {
        if ((rc = scsi_cmd_do(c->d, &m, &r, &e)) < 0 || ua_wanted ||
            !(r.resp_ok && r.response == VS_SCSI_S_OK &&
              r.status == VS_SCSI_ST_CHECK_CONDITION && r.sense_parsed &&
              r.sense_key == VS_SCSI_SK_UNIT_ATTENTION))
            break;
    }
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    return judge(c, p, &r);
}

/* ------------------------------------------------------------------ scan */

/* LUNs virtiosim created (RAM, fresh) start zeroed: the shadow says so. */
static void fresh_luns_zero(vs_run_ctx *c)
{
    scsi_drv *s = scsi_drv_of(c->d);
    const scsi_scn_opts *o = scsi_opts_of(c->s);
    for (unsigned i = 0; i < s->nlun; i++) {
        scsi_lun *l = &s->lun[i];
        if (!l->fresh_shadow)
            continue;
        l->fresh_shadow = false;
        bool file = false;
        for (unsigned k = 0; k < o->nluns; k++)
            if (o->lun[k].target == l->target && o->lun[k].lun == l->lun)
                file = o->lun[k].file || o->lun[k].null;
        if (!file && !c->external)
            scsi_shadow_set(l, 0, l->blocks, SCSI_TAG_ZERO);
    }
}

static int do_scan(vs_run_ctx *c, uint16_t targets, int *found, vs_err *e)
{
    int n = scsi_scan(c->d, targets, true, e);
    if (n < 0)
        return n;
    fresh_luns_zero(c);
    *found = n;
    return 0;
}

int scsi_rescan_if_due(vs_run_ctx *c, vs_err *e)
{
    scsi_drv *s = scsi_drv_of(c->d);
    int n;
    return s->rescan_due ? do_scan(c, (uint16_t)(scsi_opts_of(c->s)->max_target + 1), &n, e)
                         : 0;
}

int scsi_run_scan(vs_run_ctx *c, const vs_step *t)
{
    const scsi_step *p = t->dev;
    vs_err e = {0};
    int n;
    uint16_t targets = p->targets ? p->targets : (uint16_t)(scsi_opts_of(c->s)->max_target + 1);
    int rc = do_scan(c, targets, &n, &e);
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    if (p->expect_luns >= 0 && n != p->expect_luns)
        return vs_run_expect_failed(c, "the scan found %d logical units, expected %d", n,
                                    p->expect_luns);
    char msg[64];
    snprintf(msg, sizeof msg, "%d logical units", n);
    vs_run_expect_ok(c, msg);
    return 0;
}

/* ------------------------------------------------------------------ held commands, TMF */

int scsi_run_hold(vs_run_ctx *c, const vs_step *t)
{
    const scsi_step *p = t->dev;
    scsi_drv *s = scsi_drv_of(c->d);
    vs_err e = {0};
    scsi_cmd m;
    int rc = scsi_host_hold(c, p->target, p->lun, p->count, &e);
    if (rc == -VS_ENOTSUP) {
        snprintf(c->r->message, sizeof c->r->message, "not applicable: %s", e.msg);
        return 2;
    }
    if (rc == 0)
        rc = scsi_build_cmd(c, p, &m, &e);
    for (uint32_t i = 0; rc >= 0 && i < p->count; i++) {
        if (s->nheld >= sizeof s->held / sizeof s->held[0]) {
            rc = vs_err_set(&e, VS_EINVAL, "scsi_hold: more than 64 held commands");
            break;
        }
        m.tag = 0;
        rc = scsi_cmd_submit(c->d, &m, &e);
        if (rc >= 0) {
            s->held[s->nheld++] = (scsi_held){
                .id = rc, .q = (uint16_t)(VS_SCSI_Q_REQ0 + m.rq), .tag = s->next_tag - 1,
                .lun_ix = scsi_lun_find(s, p->target, p->lun)};
        }
    }
    if (rc >= 0)
        rc = vs_driver_flush(c->d, -1, &e);
    /* let the device fetch them */
    for (int i = 0; rc >= 0 && i < 4; i++)
        rc = vs_driver_wait(c->d, 20000, &e);
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    vs_run_expect_ok(c, "commands held");
    return 0;
}

/* Held commands that completed: their response must be `want` (-1: any). Completed ones
 * leave the held list. *n_done: how many. */
static int collect_held(vs_run_ctx *c, int want, unsigned *n_done, char *bad, size_t nbad)
{
    scsi_drv *s = scsi_drv_of(c->d);
    *n_done = 0;
    int fails = 0;
    for (unsigned i = 0; i < s->nheld;) {
        scsi_result r;
        if (!scsi_take(c->d, SK_CMD, s->held[i].q, s->held[i].id, &r)) {
            i++;
            continue;
        }
        (*n_done)++;
        if (want >= 0 && r.response != want && !fails++)
            snprintf(bad, nbad, "held command tag %" PRIu64 " completed with %s, expected %s",
                     s->held[i].tag, scsi_response_word(r.response),
                     scsi_response_word((uint8_t)want));
        s->held[i] = s->held[--s->nheld];
    }
    return fails;
}

int scsi_run_release(vs_run_ctx *c, const vs_step *t)
{
    const scsi_step *p = t->dev;
    vs_err e = {0};
    int rc = scsi_host_release(c, &e);
    if (rc == -VS_ENOTSUP) {
        snprintf(c->r->message, sizeof c->r->message, "not applicable: %s", e.msg);
        return 2;
    }
    if (rc == 0)
        rc = scsi_run(c->d, 0, &e);
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    unsigned n;
    char bad[200] = "";
    if (collect_held(c, p->expect_held, &n, bad, sizeof bad))
        return vs_run_expect_failed(c, "%s", bad);
    vs_run_expect_ok(c, "held commands completed");
    return 0;
}

/* Waits for the controlq request id; the TMF must come after the commands it ends. */
static int wait_ctrl(vs_run_ctx *c, int id, uint8_t kind, scsi_result *r, vs_err *e)
{
    vs_drv_waiter w = {.start = vs_driver_now(c->d), .timeout_ns = c->d->o.timeout_ns};
    int rc = vs_driver_flush(c->d, -1, e);
    while (rc >= 0 && !scsi_take(c->d, kind, VS_SCSI_Q_CTRL, id, r))
        rc = vs__drv_wait_some(c->d, &w, e);
    return rc < 0 ? rc : 0;
}

static bool tmf_ends_all(uint32_t subtype)
{
    return subtype == VS_SCSI_T_TMF_ABORT_TASK_SET || subtype == VS_SCSI_T_TMF_CLEAR_TASK_SET ||
           subtype == VS_SCSI_T_TMF_LOGICAL_UNIT_RESET ||
           subtype == VS_SCSI_T_TMF_I_T_NEXUS_RESET;
}

int scsi_run_tmf(vs_run_ctx *c, const vs_step *t)
{
    const scsi_step *p = t->dev;
    scsi_drv *s = scsi_drv_of(c->d);
    vs_err e = {0};
    uint8_t lun[8];
    scsi_step_lun(p, lun);
    uint64_t tag = p->tag;
    if (p->tag_ref == 1) {
        if (!s->nheld)
            return vs_run_expect_failed(c, "tag: held, but no command is held");
        tag = s->held[s->nheld - 1].tag;
    }
    unsigned held_before = s->nheld;
    scsi_result r;
    int rc = scsi_tmf_submit(c->d, p->subtype, lun, tag, false, &e);
    if (rc >= 0)
        rc = wait_ctrl(c, rc, SK_TMF, &r, &e);
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    /* Completions the TMF caused came before it: they are queued now. */
    unsigned n;
    char bad[200] = "";
    if (collect_held(c, p->expect_held, &n, bad, sizeof bad))
        return vs_run_expect_failed(c, "%s", bad);
    if (p->expect_held >= 0) {
        unsigned want = tmf_ends_all(p->subtype) ? held_before : 1;
        if (n < want)
            return vs_run_expect_failed(c, "%u of the %u held commands completed before the "
                                        "TMF, expected %u", n, held_before, want);
    }
    uint8_t want = p->has_expect_tmf ? p->expect_tmf : VS_SCSI_S_FUNCTION_COMPLETE;
    if (r.response != want)
        return vs_run_expect_failed(c, "TMF %s answered %s (%u), expected %s",
                                    vs_scsi_tmf_name(p->subtype) ? vs_scsi_tmf_name(p->subtype)
                                                                 : "?",
                                    scsi_response_word(r.response), r.response,
                                    scsi_response_word(want));
    vs_run_expect_ok(c, scsi_response_word(r.response));
    return 0;
}

int scsi_run_an(vs_run_ctx *c, const vs_step *t)
{
    const scsi_step *p = t->dev;
    vs_err e = {0};
    uint8_t lun[8];
    scsi_step_lun(p, lun);
    scsi_result r;
    int rc = scsi_an_submit(c->d, p->subtype, lun, p->an_events, &e);
    if (rc >= 0)
        rc = wait_ctrl(c, rc, SK_AN, &r, &e);
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    uint8_t want = p->has_expect_tmf ? p->expect_tmf : VS_SCSI_S_OK;
    if (r.response != want)
        return vs_run_expect_failed(c, "AN answered %s (%u), expected %s",
                                    scsi_response_word(r.response), r.response,
                                    scsi_response_word(want));
    if (p->has_event_actual && r.event_actual != p->event_actual)
        return vs_run_expect_failed(c, "event_actual 0x%x, expected 0x%x", r.event_actual,
                                    p->event_actual);
    vs_run_expect_ok(c, scsi_response_word(r.response));
    return 0;
}

/* ------------------------------------------------------------------ workload, config */

int scsi_run_workload(vs_run_ctx *c, const vs_step *t)
{
    const scsi_step *p = t->dev;
    scsi_drv *s = scsi_drv_of(c->d);
    vs_err e = {0};
    int ix = scsi_lun_find(s, p->target, p->lun);
    if (!p->wl.all_luns && ix < 0)
        return vs_run_expect_failed(c, "LUN %u:%u was not found by a scan (scsi_scan first)",
                                    p->target, p->lun);
    scsi_workload w = {.rw = p->wl.rw, .bs = p->wl.bs, .iodepth = p->wl.iodepth,
                       .rwmixread = p->wl.rwmixread, .nr_ops = p->wl.number_ios,
                       .offset = p->wl.offset, .size = p->wl.size, .verify = p->wl.verify,
                       .cdb16 = p->wl.cdb16, .queues = p->wl.queues,
                       .all_luns = p->wl.all_luns, .lun_ix = ix,
                       .timeout_ns = c->real ? 0 : VS_RUN_STEP_TIMEOUT_NS};
    scsi_workload_stats ws;
    c->done = 0;
    c->total = w.nr_ops;
    int rc = scsi_workload_run(c->d, &w, &ws, &e);
    c->total = 0;
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    if (ws.errors || ws.verify_failures)
        return vs_run_expect_failed(c, "%" PRIu64 " of %" PRIu64 " commands failed (%" PRIu64
                                    " verify failures): %s", ws.errors + ws.verify_failures,
                                    ws.ops, ws.verify_failures, ws.first_error);
    char msg[160];
    snprintf(msg, sizeof msg, "%" PRIu64 " commands, at most %u per LUN, latency "
             "min/median/max %" PRIu64 "/%" PRIu64 "/%" PRIu64 " ns", ws.ops, ws.max_per_lun,
             ws.lat_min_ns, ws.lat_median_ns, ws.lat_max_ns);
    vs_run_expect_ok(c, msg);
    return 0;
}

int scsi_run_config_write(vs_run_ctx *c, const vs_step *t)
{
    const scsi_step *p = t->dev;
    scsi_drv *s = scsi_drv_of(c->d);
    vs_err e = {0};
    uint8_t b[4];
    vs_le32_put(b, p->value);
    int rc = vs_driver_config_write(c->d, p->cfg_off, b, 4, &e);
    /* the driver builds its requests with what the device now says */
    if (rc == 0)
        rc = vs_driver_config_read(c->d, VS_SCSI_CFG_SENSE_SIZE, b, 4, &e);
    s->cfg.sense_size = vs_le32_get(b);
    if (rc == 0)
        rc = vs_driver_config_read(c->d, VS_SCSI_CFG_CDB_SIZE, b, 4, &e);
    s->cfg.cdb_size = vs_le32_get(b);
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    if (s->cfg.sense_size > VS_SCSI_SENSE_MAX || s->cfg.cdb_size > VS_SCSI_CDB_MAX)
        return vs_run_expect_failed(c, "the device took sense_size %u / cdb_size %u, beyond "
                                    "what a driver can use", s->cfg.sense_size, s->cfg.cdb_size);
    vs_run_expect_ok(c, "config written");
    return 0;
}

/* ------------------------------------------------------------------ the core's steps */

typedef struct scsi_cfg_expect {
    struct { uint32_t off, len; uint64_t value; } f[16];
    unsigned n;
} scsi_cfg_expect;

int scsi_expect_config(vs_loader *L, const yaml_node_t *v, void *ctx)
{
    vs_step *t = ctx;
    if (v->type != YAML_MAPPING_NODE)
        return vs_ld_fail(L, v, "expected a mapping of config fields such as {sense_size: 96}");
    scsi_cfg_expect *x = t->dev = calloc(1, sizeof *x);
    if (!x)
        return vs_ld_nomem(L);
    for (yaml_node_pair_t *pr = v->data.mapping.pairs.start; pr < v->data.mapping.pairs.top; pr++) {
        const yaml_node_t *k = vs_ld_node(L, pr->key);
        const char *name = vs_ld_scalar(k);
        const vs_scsi_cfg_field *f = name ? vs_scsi_cfg_field_find(name) : NULL;
        if (!f)
            return vs_ld_fail(L, k, "unknown scsi config field '%s'", name ? name : "?");
        if (x->n >= 16)
            return vs_ld_fail(L, k, "at most 16 config fields");
        x->f[x->n].off = f->off;
        x->f[x->n].len = f->len;
        int r = vs_ld_u64(L, vs_ld_node(L, pr->value), UINT32_MAX, &x->f[x->n].value);
        if (r < 0)
            return r;
        x->n++;
    }
    return 0;
}

int scsi_expect_config_run(vs_run_ctx *c, const vs_step *t)
{
    const scsi_cfg_expect *x = t->dev;
    vs_err e = {0};
    for (unsigned i = 0; x && i < x->n; i++) {
        uint8_t b[4] = {0};
        int rc = vs_driver_config_read(c->d, x->f[i].off, b, x->f[i].len, &e);
        if (rc < 0)
            return vs_run_driver_error(c, rc, &e);
        uint64_t v = x->f[i].len == 2 ? vs_le16_get(b) : vs_le32_get(b);
        if (v != x->f[i].value)
            return vs_run_expect_failed(c, "config %s is %" PRIu64 ", expected %" PRIu64,
                                        vs_scsi_cfg_field_at(x->f[i].off)->name, v,
                                        x->f[i].value);
    }
    return 0;
}

/* After DRIVER_OK: the driver's options and mutations, the sizes, the eventq. */
void scsi_after_init(vs_run_ctx *c)
{
    if (!scsi_driver_is(c->d))
        return;
    scsi_drv *s = scsi_drv_of(c->d);
    const scsi_scn_opts *o = scsi_opts_of(c->s);
    s->ev_bufs = o->eventq_buffers;
    s->ev_len = o->event_len;
    s->want_sense = o->sense_size;
    s->want_cdb = o->cdb_size;
    s->nheld = 0;
    vs_err e = {0};
    if (scsi_bring_up(c->d, &e) < 0)
        vs_run_expect_failed(c, "bring-up: %s", e.msg);
    /* the monitors learn which LUNs the device virtiosim built has (which targets exist) */
    if (c->external)
        return;
    char text[16 * SCSI_SCN_LUNS + 16] = "scsi-host luns";
    for (unsigned i = 0; i < o->nluns; i++) {
        size_t at = strlen(text);
        snprintf(text + at, sizeof text - at, " %u:%u", o->lun[i].target, o->lun[i].lun);
    }
    vs_event ev = {.kind = VS_EV_NOTE, .t_ns = vs_run_now(c), .queue = -1, .text = text};
    vs_event_emit(&c->bus, &ev);
}

/* queue_reset / suspend fillers: TEST UNIT READY to the first LUN. */
int scsi_submit_filler(vs_run_ctx *c, uint16_t queue, uint32_t i, vs_err *e)
{
    (void)i;
    if (queue < VS_SCSI_Q_REQ0)
        return vs_err_set(e, VS_EINVAL, "scsi: fillers go to a request queue (queue >= 2)");
    const scsi_scn_opts *o = scsi_opts_of(c->s);
    scsi_cmd m = {.rq = (uint16_t)(queue - VS_SCSI_Q_REQ0), .cdb_len = 6};
    vs_scsi_lun_encode(m.lun, o->lun[0].target, o->lun[0].lun);
    return scsi_cmd_submit(c->d, &m, e);
}

bool scsi_fault_completed(vs_run_ctx *c)
{
    scsi_result r;
    bool seen = false;
    while (vs_driver_take_result(c->d, &r) == 1)
        seen |= r.fault;
    return seen;
}
