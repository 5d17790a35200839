/* controlq of the reference virtio-scsi device (task management and asynchronous
 * notification query / subscribe) and the held commands the TMFs act on.
 *
 * Decisions:
 *   - A TMF whose lun is not in the single-level format, or names a target with no LU:
 *     BAD_TARGET. A LU-addressed TMF (all but I_T NEXUS RESET) for a missing LU of an
 *     existing target: INCORRECT_LUN. The same for AN requests.
 *   - ABORT TASK: the held command with that lun and id ends ABORTED; FUNCTION_COMPLETE
 *     whether or not there was one (SAM). ABORT TASK SET, CLEAR TASK SET: every held
 *     command of the LU ends ABORTED. LOGICAL UNIT RESET: those of the LU end RESET, the
 *     LU gets a unit attention (29h) and loses its PREVENT state. I_T NEXUS RESET: the
 *     same for every LU of the target. QUERY TASK / QUERY TASK SET: FUNCTION_SUCCEEDED
 *     when the command / any command is held, else FUNCTION_COMPLETE. CLEAR ACA:
 *     FUNCTION_REJECTED (no ACA: INQUIRY NormACA 0). Unknown subtype: FUNCTION_REJECTED.
 *   - The affected commands are completed (used elements pushed) before the TMF, which
 *     handle() returns afterwards (spec: the effects take place before the TMF completes).
 *   - AN: event_actual = event_requested & what the LU can report (MMC: all six events;
 *     disks: OPERATIONAL_CHANGE, POWER_MGMT, DEVICE_BUSY); SUBSCRIBE remembers that set
 *     (until reset) for vs_scsi_raise_async. Response OK.
 *   - The response byte (TMF) and {event_actual, response} (AN) are the first bytes of the
 *     writable part; the used length is exactly those bytes.
 */
#include <stdlib.h>
#include <string.h>

#include "scsi_int.h"
#include "virtiosim/le.h"

#define AN_MMC 0x7eu
#define AN_DISK (VS_SCSI_EVT_ASYNC_OPERATIONAL_CHANGE | VS_SCSI_EVT_ASYNC_POWER_MGMT | \
                 VS_SCSI_EVT_ASYNC_DEVICE_BUSY)

/* ------------------------------------------------------------------ held commands */

int vs__scsi_hold_copy(scsi_held *h, const vs_chain *c)
{
    h->c = *c;
    h->c.seg = NULL;
    h->c.seg_cap = 0;
    if (c->nseg) {
        h->c.seg = malloc((size_t)c->nseg * sizeof *c->seg);
        if (!h->c.seg)
            return -VS_ENOMEM;
        memcpy(h->c.seg, c->seg, (size_t)c->nseg * sizeof *c->seg);
        h->c.seg_cap = c->nseg;
    }
    return 0;
}

void vs__scsi_hold_free(scsi_held *h)
{
    free(h->c.seg);
    h->c.seg = NULL;
}

int vs__scsi_held_add(scsi_dev *s, uint16_t q, const vs_chain *c, uint8_t target,
                      uint16_t lun, uint64_t tag)
{
    if (s->nheld == s->held_cap) {
        uint32_t cap = s->held_cap ? s->held_cap * 2 : 16;
        scsi_held *h = realloc(s->held, cap * sizeof *h);
        if (!h)
            return -VS_ENOMEM;
        s->held = h;
        s->held_cap = cap;
    }
    scsi_held *h = &s->held[s->nheld];
    memset(h, 0, sizeof *h);
    if (vs__scsi_hold_copy(h, c) < 0)
        return -VS_ENOMEM;
    h->q = q;
    h->id = c->id;
    h->target = target;
    h->lun = lun;
    h->tag = tag;
    s->nheld++;
    return 0;
}

static bool held_match(const scsi_held *h, int target, int lun, bool tag_any, uint64_t tag)
{
    return (target < 0 || h->target == target) && (lun < 0 || h->lun == lun) &&
           (tag_any || h->tag == tag);
}

uint32_t vs__scsi_held_count(const scsi_dev *s, int target, int lun, bool tag_any,
                             uint64_t tag)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->nheld; i++)
        n += held_match(&s->held[i], target, lun, tag_any, tag);
    return n;
}

/* Takes the matching held commands out of the list (into out, oldest first). */
static uint32_t held_take(scsi_dev *s, int32_t q, int target, int lun, bool tag_any,
                          uint64_t tag, scsi_held **out)
{
    *out = NULL;
    uint32_t n = 0, keep = 0;
    for (uint32_t i = 0; i < s->nheld; i++)
        n += (q < 0 || s->held[i].q == q) && held_match(&s->held[i], target, lun, tag_any, tag);
    if (n == 0)
        return 0;
    scsi_held *taken = malloc(n * sizeof *taken);
    if (!taken)
        return 0; /* out of memory: they stay held, a later reset forgets them */
    n = 0;
    for (uint32_t i = 0; i < s->nheld; i++) {
        scsi_held *h = &s->held[i];
        if ((q < 0 || h->q == q) && held_match(h, target, lun, tag_any, tag))
            taken[n++] = *h;
        else
            s->held[keep++] = *h;
    }
    s->nheld = keep;
    *out = taken;
    return n;
}

static void complete_taken(scsi_dev *s, scsi_held *t, uint32_t n, bool run, uint8_t response)
{
    for (uint32_t i = 0; i < n; i++) {
        uint32_t w = 0;
        vs_err e;
        vs_err_clear(&e);
        int rc = run ? vs__scsi_req_run(s, t[i].q, &t[i].c, false, &w, &e)
                     : vs__scsi_req_fail(s, &t[i].c, response, &w, &e);
        if (rc < 0)
            w = 0; /* nothing could be written: the chain still goes back */
        if (s->dev.complete)
            s->dev.complete(s->dev.complete_ctx, t[i].q, t[i].id, w);
        vs__scsi_hold_free(&t[i]);
    }
    free(t);
}

void vs__scsi_held_finish(scsi_dev *s, int target, int lun, bool tag_any, uint64_t tag,
                          uint8_t response)
{
    scsi_held *t;
    uint32_t n = held_take(s, -1, target, lun, tag_any, tag, &t);
    complete_taken(s, t, n, false, response);
}

void vs__scsi_held_finish_queue(scsi_dev *s, int32_t q, uint8_t response)
{
    scsi_held *t;
    uint32_t n = held_take(s, q, -1, -1, true, 0, &t);
    complete_taken(s, t, n, false, response);
}

void vs__scsi_held_forget_queue(scsi_dev *s, int32_t q)
{
    uint32_t keep = 0;
    for (uint32_t i = 0; i < s->nheld; i++) {
        if (q < 0 || s->held[i].q == q)
            vs__scsi_hold_free(&s->held[i]);
        else
            s->held[keep++] = s->held[i];
    }
    s->nheld = keep;
}

void vs__scsi_held_release(scsi_dev *s, uint8_t target, uint16_t lun)
{
    scsi_held *t;
    uint32_t n = held_take(s, -1, target, lun, true, 0, &t);
    complete_taken(s, t, n, true, 0);
}

/* ------------------------------------------------------------------ controlq */

/* Resolves a TMF / AN lun: 0 and *lu (NULL for a whole-target TMF), or a response. */
static uint8_t ctrl_lun(scsi_dev *s, const uint8_t lun[8], bool whole_target,
                        vs_scsi_lun_addr *a, scsi_lu **lu)
{
    *lu = NULL;
    if (whole_target && lun[0] == 1) { /* the single-level LUN is ignored */
        a->kind = VS_SCSI_LUN_SINGLE;
        a->target = lun[1];
        a->lun = 0;
    } else if (vs_scsi_lun_decode(lun, a) < 0 || a->kind != VS_SCSI_LUN_SINGLE) {
        return VS_SCSI_S_BAD_TARGET;
    }
    if (!vs__scsi_tgt_has_target(&s->tgt, a->target))
        return VS_SCSI_S_BAD_TARGET;
    if (whole_target)
        return VS_SCSI_S_OK;
    *lu = vs__scsi_tgt_find(&s->tgt, a->target, a->lun);
    return *lu ? VS_SCSI_S_OK : VS_SCSI_S_INCORRECT_LUN;
}

static uint8_t tmf_run(scsi_dev *s, const vs_scsi_tmf_req *t)
{
    bool nexus = t->subtype == VS_SCSI_T_TMF_I_T_NEXUS_RESET;
    vs_scsi_lun_addr a;
    scsi_lu *lu;
    uint8_t r = ctrl_lun(s, t->lun, nexus, &a, &lu);
    if (r != VS_SCSI_S_OK)
        return r;
    switch (t->subtype) {
    case VS_SCSI_T_TMF_ABORT_TASK:
    case VS_SCSI_T_TMF_ABORT_TASK_SET:
    case VS_SCSI_T_TMF_CLEAR_TASK_SET:
        if (!smut(s, VS_SCSI_MUT_ABORT_KEEPS))
            vs__scsi_held_finish(s, a.target, a.lun, t->subtype != VS_SCSI_T_TMF_ABORT_TASK,
                                 t->id, VS_SCSI_S_ABORTED);
        return VS_SCSI_S_FUNCTION_COMPLETE;
    case VS_SCSI_T_TMF_LOGICAL_UNIT_RESET:
    case VS_SCSI_T_TMF_I_T_NEXUS_RESET:
        if (!smut(s, VS_SCSI_MUT_LUN_RESET_KEEPS) || nexus)
            vs__scsi_held_finish(s, a.target, nexus ? -1 : a.lun, true, 0, VS_SCSI_S_RESET);
        for (unsigned i = 0; i < s->tgt.n; i++) {
            scsi_lu *l = s->tgt.lu[i];
            if (l->target != a.target || (!nexus && l != lu))
                continue;
            if (!smut(s, VS_SCSI_MUT_NO_UA_AFTER_RESET))
                l->ua |= UA_RESET;
            l->prevent = false;
        }
        return VS_SCSI_S_FUNCTION_COMPLETE;
    case VS_SCSI_T_TMF_QUERY_TASK:
        return vs__scsi_held_count(s, a.target, a.lun, false, t->id)
                   ? VS_SCSI_S_FUNCTION_SUCCEEDED : VS_SCSI_S_FUNCTION_COMPLETE;
    case VS_SCSI_T_TMF_QUERY_TASK_SET:
        return vs__scsi_held_count(s, a.target, a.lun, true, 0)
                   ? VS_SCSI_S_FUNCTION_SUCCEEDED : VS_SCSI_S_FUNCTION_COMPLETE;
    case VS_SCSI_T_TMF_CLEAR_ACA:
    default:
        return VS_SCSI_S_FUNCTION_REJECTED;
    }
}

static int ctrl_tmf(scsi_dev *s, const vs_chain *c, uint64_t out, uint64_t in,
                    uint32_t *written, vs_err *e)
{
    if (out < VS_SCSI_TMF_REQ_BYTES || in < VS_SCSI_TMF_RESP_BYTES)
        return vs_err_set(e, VS_EINVAL, "scsi: TMF request with %llu readable / %llu "
                          "writable bytes, need %u / %u", (unsigned long long)out,
                          (unsigned long long)in, VS_SCSI_TMF_REQ_BYTES,
                          VS_SCSI_TMF_RESP_BYTES);
    uint8_t b[VS_SCSI_TMF_REQ_BYTES];
    int rc = vs__scsi_chain_xfer(s, c, false, 0, b, sizeof b, false, e);
    if (rc < 0)
        return rc;
    vs_scsi_tmf_req t;
    vs_scsi_tmf_req_get(b, &t);
    /* Mutant: the TMF completes first, then the commands it ends. */
    bool early = smut(s, VS_SCSI_MUT_TMF_BEFORE_ABORT) && s->dev.complete &&
                 t.subtype != VS_SCSI_T_TMF_QUERY_TASK &&
                 t.subtype != VS_SCSI_T_TMF_QUERY_TASK_SET;
    uint8_t resp = VS_SCSI_S_FUNCTION_COMPLETE;
    if (early) {
        if ((rc = vs__scsi_chain_xfer(s, c, true, 0, &resp, 1, true, e)) < 0)
            return rc;
        s->dev.complete(s->dev.complete_ctx, VS_SCSI_Q_CTRL, c->id, VS_SCSI_TMF_RESP_BYTES);
        (void)tmf_run(s, &t);
        return VS_DEV_DEFERRED;
    }
    resp = tmf_run(s, &t);
    if ((rc = vs__scsi_chain_xfer(s, c, true, 0, &resp, 1, true, e)) < 0)
        return rc;
    *written = VS_SCSI_TMF_RESP_BYTES;
    return 0;
}

static int ctrl_an(scsi_dev *s, const vs_chain *c, uint64_t out, uint64_t in,
                   uint32_t *written, vs_err *e)
{
    if (out < VS_SCSI_AN_REQ_BYTES || in < VS_SCSI_AN_RESP_BYTES)
        return vs_err_set(e, VS_EINVAL, "scsi: AN request with %llu readable / %llu "
                          "writable bytes, need %u / %u", (unsigned long long)out,
                          (unsigned long long)in, VS_SCSI_AN_REQ_BYTES,
                          VS_SCSI_AN_RESP_BYTES);
    uint8_t b[VS_SCSI_AN_REQ_BYTES];
    int rc = vs__scsi_chain_xfer(s, c, false, 0, b, sizeof b, false, e);
    if (rc < 0)
        return rc;
    vs_scsi_an_req r;
    vs_scsi_an_req_get(b, &r);
    vs_scsi_lun_addr a;
    scsi_lu *lu;
    vs_scsi_an_resp resp = {.response = ctrl_lun(s, r.lun, false, &a, &lu)};
    if (lu) {
        uint32_t can = lu->type == VS_SCSI_TYPE_MMC ? AN_MMC : AN_DISK;
        resp.event_actual = r.event_requested & can;
        if (r.type == VS_SCSI_T_AN_SUBSCRIBE)
            lu->an_subscribed = (uint8_t)resp.event_actual;
    }
    uint8_t w[VS_SCSI_AN_RESP_BYTES];
    vs_scsi_an_resp_put(w, &resp);
    if ((rc = vs__scsi_chain_xfer(s, c, true, 0, w, sizeof w, true, e)) < 0)
        return rc;
    *written = VS_SCSI_AN_RESP_BYTES;
    return 0;
}

int vs__scsi_ctrl(scsi_dev *s, const vs_chain *c, uint32_t *written, vs_err *e)
{
    uint64_t out, in;
    int rc = vs__scsi_chain_check(c, &out, &in, e);
    if (rc < 0)
        return rc;
    if (out < 4)
        return vs_err_set(e, VS_EINVAL, "scsi: controlq request of %llu readable bytes "
                          "has no type", (unsigned long long)out);
    uint8_t b[4];
    if ((rc = vs__scsi_chain_xfer(s, c, false, 0, b, 4, false, e)) < 0)
        return rc;
    uint32_t type = vs_le32_get(b);
    switch (type) {
    case VS_SCSI_T_TMF:
        return ctrl_tmf(s, c, out, in, written, e);
    case VS_SCSI_T_AN_QUERY:
    case VS_SCSI_T_AN_SUBSCRIBE:
        return ctrl_an(s, c, out, in, written, e);
    default:
        return vs_err_set(e, VS_EINVAL, "scsi: controlq request of unknown type %u", type);
    }
}
