/* virtio-scsi monitors: a command's completion (response byte, status, sense_len,
 * residual, used length; INQUIRY answers teach the LUN types) and a TMF's (the commands
 * it ends must already be used). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "conformance/dev/scsi/scsi_mon_int.h"

/* A response's fields, read where they lie (vs_scsi_cmd_resp_get would copy and pad the
 * whole 252-byte sense field per command); sense points at the sense_size bytes read. */
typedef struct resp_view {
    uint32_t sense_len, residual;
    uint8_t status, response;
    const uint8_t *sense;
} resp_view;

static bool cmd_response_defined(uint8_t r)
{
    return r <= VS_SCSI_S_FAILURE;   /* OK .. FAILURE; 10..12 are the controlq's */
}

/* A missing target answers BAD_TARGET: REPORT LUNS and INQUIRY to LUN 0 must work on
 * every target that exists (SPC), so LOGICAL UNIT NOT SUPPORTED there means "no target". */
static bool missing_target_as_lun(const scsi_chain *x, const resp_view *r,
                                  uint32_t sense_avail)
{
    if (!x->lun_ok || x->lun != 0 || r->response != VS_SCSI_S_OK ||
        r->status != VS_SCSI_ST_CHECK_CONDITION ||
        (x->opcode != VS_SCSI_REPORT_LUNS && x->opcode != VS_SCSI_INQUIRY))
        return false;
    vs_scsi_sense sn;
    uint32_t n = r->sense_len < sense_avail ? r->sense_len : sense_avail;
    return n && vs_scsi_sense_parse(r->sense, n, &sn) == 0 &&
           sn.asc == (VS_SCSI_ASC_LUN_NOT_SUPPORTED >> 8);
}

static void judge_response(vs_monitors *m, const scsi_chain *x, const resp_view *r,
                           uint32_t sense_avail, ctx cx)
{
    if (!role_on(m, CK_SCSI_RESPONSE))
        return;
    const scsi_mon *s = sm(m);
    bool inout = x->data_out && x->data_in && !has(neg(m), VS_SCSI_F_INOUT);
    bool no_target = s->targets_known && x->lun_ok && !s->target_luns[x->target];
    if (!cmd_response_defined(r->response))
        bad(m, CK_SCSI_RESPONSE, 0, cx, "a response code defined for request queues",
            "response %u (opcode 0x%02x)", r->response, x->opcode);
    else if (inout && r->response != VS_SCSI_S_FAILURE)
        bad(m, CK_SCSI_RESPONSE, 0, cx, "FAILURE for data-out and data-in without INOUT",
            "response %s with %" PRIu64 " data-out and %" PRIu64 " data-in bytes",
            vs_scsi_response_name(r->response, false), x->data_out, x->data_in);
    else if (no_target && r->response != VS_SCSI_S_BAD_TARGET)
        bad(m, CK_SCSI_RESPONSE, 0, cx, "BAD_TARGET for a target that does not exist",
            "response %s (status 0x%02x) for target %u, which has no logical unit",
            vs_scsi_response_name(r->response, false) ? vs_scsi_response_name(r->response, false)
                                                       : "?", r->status, x->target);
    else if (missing_target_as_lun(x, r, sense_avail))
        bad(m, CK_SCSI_RESPONSE, 0, cx, "BAD_TARGET for a target that does not exist",
            "opcode 0x%02x to target %u LUN 0: response OK, CHECK CONDITION, LOGICAL UNIT "
            "NOT SUPPORTED", x->opcode, x->target);
    else
        ok(m, CK_SCSI_RESPONSE, 0);
}

/* residual, sense_len and used length against the buffers. */
static void judge_lengths(vs_monitors *m, const scsi_chain *x, const resp_view *r,
                          const vs_event *ev, ctx cx)
{
    if (role_on(m, CK_SCSI_SENSE_LEN)) {
        if (r->sense_len <= x->sense_size)
            ok(m, CK_SCSI_SENSE_LEN, -1);
        else
            bad(m, CK_SCSI_SENSE_LEN, -1, cx, "sense_len <= sense_size",
                "sense_len %u, sense_size %u", r->sense_len, x->sense_size);
    }
    if (role_on(m, CK_SCSI_RESIDUAL) && r->response == VS_SCSI_S_OK) {
        uint64_t total = x->data_out + x->data_in;
        uint64_t bl = x->rw_blocks ? (x->data_in + x->data_out) / x->rw_blocks : 0;
        bool exact = x->rw_blocks && (x->data_in + x->data_out) % x->rw_blocks == 0 &&
                     bl >= 512 && bl <= 4096 && !(bl & (bl - 1)) &&
                     !(x->data_in && x->data_out);
        if (r->residual > total)
            bad(m, CK_SCSI_RESIDUAL, -1, cx, "residual <= data-out + data-in bytes",
                "residual %u, %" PRIu64 " data bytes", r->residual, total);
        else if (exact && r->status == VS_SCSI_ST_GOOD && r->residual)
            bad(m, CK_SCSI_RESIDUAL, -1, cx, "residual 0 for a complete transfer",
                "opcode 0x%02x of %" PRIu64 " blocks in %" PRIu64 " bytes, GOOD, residual %u",
                x->opcode, x->rw_blocks, total, r->residual);
        else
            ok(m, CK_SCSI_RESIDUAL, -1);
    }
    if (!role_on(m, CK_SCSI_USED_LEN) || ev->val == 1)   /* packed, no length */
        return;
    uint64_t moved = r->response == VS_SCSI_S_OK && !x->data_out && x->data_in >= r->residual
                         ? x->data_in - r->residual : 0;
    if (ev->len < VS_SCSI_RESP_FIXED)
        bad(m, CK_SCSI_USED_LEN, -1, cx, "used length >= 12 (the response header)",
            "used length %u", ev->len);
    else if (ev->len < x->resp_bytes + moved)
        bad(m, CK_SCSI_USED_LEN, -1, cx, "used length >= response + data-in moved",
            "used length %u, response %u + %" PRIu64 " data-in bytes (residual %u)", ev->len,
            x->resp_bytes, moved, r->residual);
    else
        ok(m, CK_SCSI_USED_LEN, -1);
}

/* INQUIRY (standard) answers say which LUNs are MMC units. */
static void learn_type(vs_monitors *m, chain_rec *c, const scsi_chain *x,
                       const resp_view *r)
{
    if (x->opcode != VS_SCSI_INQUIRY || (x->cdb1 & 1) || !x->lun_ok || !x->data_in ||
        r->response != VS_SCSI_S_OK || r->status != VS_SCSI_ST_GOOD)
        return;
    uint8_t b0;
    if (!chain_read(m, c, true, x->resp_bytes, &b0, 1))
        return;
    scsi_lun_track *l = scsi_mon_lun(m, x->target, x->lun, true);
    if (l && (b0 >> 5) == 0)
        l->mmc = (b0 & 0x1f) == VS_SCSI_TYPE_MMC;
}

void scsi_mon_cmd_used(vs_monitors *m, chain_rec *c, const vs_event *ev, ctx cx)
{
    scsi_chain *x = sc(c);
    scsi_lun_track *l = x->lun_ok ? scsi_mon_lun(m, x->target, x->lun, false) : NULL;
    if (l && l->out)
        l->out--;
    if (c->in_bytes < x->resp_bytes || x->resp_bytes < VS_SCSI_RESP_FIXED)
        return;   /* a response buffer too short: not a response to judge */
    uint8_t b[VS_SCSI_RESP_FIXED + VS_SCSI_SENSE_MAX];
    uint32_t ss = x->sense_size < VS_SCSI_SENSE_MAX ? x->sense_size : VS_SCSI_SENSE_MAX;
    const uint8_t *span = chain_span(m, c, true, 0, VS_SCSI_RESP_FIXED + ss);
    if (span)
        memcpy(b, span, VS_SCSI_RESP_FIXED + ss); /* the usual case: one segment */
    else if (!chain_read(m, c, true, 0, b, VS_SCSI_RESP_FIXED + ss))
        return;
    vs_scsi_cmd_resp f; /* the fixed fields only */
    vs_scsi_cmd_resp_fixed_at(b, &f);
    resp_view r = {.sense_len = f.sense_len, .residual = f.residual, .status = f.status,
                   .response = f.response, .sense = b + VS_SCSI_RESP_FIXED};
    judge_response(m, x, &r, ss, cx);
    if (r.response == VS_SCSI_S_OK && role_on(m, CK_SCSI_STATUS_SAM)) {
        if (vs_scsi_status_is_sam(r.status))
            ok(m, CK_SCSI_STATUS_SAM, 0);
        else
            bad(m, CK_SCSI_STATUS_SAM, 0, cx, "a SAM status code",
                "status 0x%02x (opcode 0x%02x)", r.status, x->opcode);
    }
    judge_lengths(m, x, &r, ev, cx);
    learn_type(m, c, x, &r);
}

/* ------------------------------------------------------------------ TMF */

/* Is chain id of queue qi in its used ring (split), between what the driver collected and
 * the used index in memory? */
static bool in_used_ring(vs_monitors *m, uint32_t qi, uint16_t id)
{
    qstate *q = &m->q[qi];
    uint16_t idx;
    if (!used_idx_mem(m, q, &idx))
        return true;   /* packed: not judged */
    for (uint16_t i = q->collected; i != idx; i++) {
        uint32_t eid = 0;
        uint64_t at = q->l.device_gpa + 4 + 8u * (i % q->l.size);
        if (vs_gmem_read(m->gm, at, &eid, 4, NULL) < 0)
            return true;
        if ((uint16_t)vs_le32_get((const uint8_t *)&eid) == id)
            return true;
    }
    return false;
}

static bool tmf_ends(const scsi_chain *t, const scsi_chain *x)
{
    if (!x->lun_ok || x->target != t->target)
        return false;
    switch (t->subtype) {
    case VS_SCSI_T_TMF_ABORT_TASK: return x->lun == t->lun && x->tag == t->tag;
    case VS_SCSI_T_TMF_ABORT_TASK_SET: case VS_SCSI_T_TMF_CLEAR_TASK_SET:
    case VS_SCSI_T_TMF_LOGICAL_UNIT_RESET: return x->lun == t->lun;
    case VS_SCSI_T_TMF_I_T_NEXUS_RESET: return true;
    default: return false;
    }
}

void scsi_mon_tmf_used(vs_monitors *m, chain_rec *c, const vs_event *ev, ctx cx)
{
    (void)ev;
    const scsi_chain *t = sc(c);
    uint8_t resp = 0xff;
    if (!role_on(m, CK_SCSI_TMF_ORDER) || !t->lun_ok ||
        t->subtype > VS_SCSI_T_TMF_LOGICAL_UNIT_RESET ||
        t->subtype == VS_SCSI_T_TMF_CLEAR_ACA || c->in_bytes < 1 ||
        !chain_read(m, c, true, 0, &resp, 1) ||
        (resp != VS_SCSI_S_FUNCTION_COMPLETE && resp != VS_SCSI_S_FUNCTION_SUCCEEDED))
        return;
    for (uint32_t qi = VS_SCSI_Q_REQ0; qi < MAX_QUEUES; qi++) {
        qstate *q = &m->q[qi];
        if (!q->setup || !q->byid || !q->live)
            continue;
        for (uint32_t id = 0; id < q->l.size && id < ID_SPACE; id++) {
            chain_rec *x = q->byid[id];
            if (!x || !x->live || sc(x)->order > t->order || sc(x)->kind != CH_CMD ||
                !tmf_ends(t, sc(x)))
                continue;
            if (in_used_ring(m, qi, (uint16_t)id))
                continue;
            bad(m, CK_SCSI_TMF_ORDER, -1, cx, "the commands a TMF ends used before it",
                "TMF %s completed while command tag %" PRIu64 " (queue %u id %u) is "
                "outstanding", vs_scsi_tmf_name(t->subtype), sc(x)->tag, qi, id);
            return;
        }
    }
    ok(m, CK_SCSI_TMF_ORDER, -1);
}
