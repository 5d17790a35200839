/* virtio-scsi monitors: config space (the sizes the device uses, the driver's writes),
 * requests as they are made available (which queue, what they carry, the driver's rules
 * about headers, LUN depth and the eventq), events as they are used, and the host-side
 * notes scenarios leave (an event was due). Completed commands: scsi_mon_cmd.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance/dev/scsi/scsi_mon_int.h"

int scsi_mon_create(vs_monitors *m, vs_err *e)
{
    scsi_mon *s = calloc(1, sizeof *s);
    if (!s)
        return vs_err_set(e, VS_ENOMEM, "monitors: out of memory");
    m->dev_state = s;
    scsi_mon_reset(m);
    return 0;
}

void scsi_mon_destroy(vs_monitors *m)
{
    free(m->dev_state);
    m->dev_state = NULL;
}

static void refill_judge(vs_monitors *m, ctx cx, const char *what);

void scsi_mon_reset(vs_monitors *m)
{
    scsi_mon *s = sm(m);
    s->sense_size = VS_SCSI_SENSE_SIZE_DEFAULT;
    s->cdb_size = VS_SCSI_CDB_SIZE_DEFAULT;
    s->sizes_written = false;
    s->cmd_seen = false;
    s->ev_posted = s->ev_total = 0;
    s->refill_due = 0;
    s->refill_stale = false;
    s->missed_pending = false;
    s->lost_rescan_due = false;
    s->hp_rescan_target = -1;
    for (unsigned i = 0; i < SCSI_MON_LUNS; i++)
        s->lun[i].out = 0;   /* commands in flight are over, done or not; types stay */
}

scsi_lun_track *scsi_mon_lun(vs_monitors *m, uint8_t target, uint16_t lun, bool add)
{
    scsi_mon *s = sm(m);
    uint32_t key = ((uint32_t)target << 16 | lun) + 1;
    scsi_lun_track *free_slot = NULL;
    for (unsigned i = 0; i < SCSI_MON_LUNS; i++) {
        if (s->lun[i].key == key)
            return &s->lun[i];
        if (!s->lun[i].key && !free_slot)
            free_slot = &s->lun[i];
    }
    if (!add || !free_slot)
        return NULL;
    *free_slot = (scsi_lun_track){.key = key};
    return free_slot;
}

/* ------------------------------------------------------------------ config */

void scsi_mon_config(vs_monitors *m, const vs_event *ev, bool write)
{
    scsi_mon *s = sm(m);
    uint32_t off = ev->off, len = ev->len;
    if (write) {
        if (role_on(m, CK_SCSI_D_CFG_WRITE)) {
            const vs_scsi_cfg_field *f = vs_scsi_cfg_field_at(off);
            const vs_scsi_cfg_field *l = len ? vs_scsi_cfg_field_at(off + len - 1) : f;
            if (f && l == f && f->driver_writable)
                ok(m, CK_SCSI_D_CFG_WRITE, 0);
            else
                bad(m, CK_SCSI_D_CFG_WRITE, 0, NOCTX, "writes to sense_size or cdb_size only",
                    "config write of %u bytes at offset %u (%s)", len, off,
                    f ? f->name : "outside the config");
        }
        if (off == VS_SCSI_CFG_SENSE_SIZE && len == 4) {
            s->sense_size = (uint32_t)ev->val;
            s->sizes_written = true;
        }
        if (off == VS_SCSI_CFG_CDB_SIZE && len == 4) {
            s->cdb_size = (uint32_t)ev->val;
            s->sizes_written = true;
        }
        return;
    }
    if (len != 4)
        return;
    uint32_t v = (uint32_t)ev->val;
    switch (off) {
    case VS_SCSI_CFG_CMD_PER_LUN:
        s->cmd_per_lun = v;
        s->cmd_per_lun_known = true;
        break;
    case VS_SCSI_CFG_EVENT_INFO_SIZE:
        s->event_info_size = v;
        break;
    case VS_SCSI_CFG_SENSE_SIZE: case VS_SCSI_CFG_CDB_SIZE: {
        uint32_t want = off == VS_SCSI_CFG_SENSE_SIZE ? VS_SCSI_SENSE_SIZE_DEFAULT
                                                      : VS_SCSI_CDB_SIZE_DEFAULT;
        if (!s->sizes_written && role_on(m, CK_SCSI_RESET_SIZES)) {
            if (v == want)
                ok(m, CK_SCSI_RESET_SIZES, 0);
            else
                bad(m, CK_SCSI_RESET_SIZES, 0, NOCTX, off == VS_SCSI_CFG_SENSE_SIZE
                    ? "sense_size 96 after reset" : "cdb_size 32 after reset",
                    "%s reads %u with no write since the reset",
                    off == VS_SCSI_CFG_SENSE_SIZE ? "sense_size" : "cdb_size", v);
        }
        /* what the device says it uses now */
        *(off == VS_SCSI_CFG_SENSE_SIZE ? &s->sense_size : &s->cdb_size) = v;
        break;
    }
    default:
        break;
    }
}

/* ------------------------------------------------------------------ made available */

static bool scan_opcode(uint8_t op)
{
    return op == VS_SCSI_REPORT_LUNS || op == VS_SCSI_INQUIRY || op == VS_SCSI_TEST_UNIT_READY;
}

/* The driver's rules for a command: header fields, LUN depth, the eventq before it, and
 * the rescans events asked for. */
static void driver_cmd_rules(vs_monitors *m, qstate *q, const scsi_chain *x,
                             const uint8_t *h, ctx cx)
{
    scsi_mon *s = sm(m);
    if (!s->cmd_seen) {
        s->cmd_seen = true;
        if (role_on(m, CK_SCSI_EVENTQ_POSTED)) {
            if (s->ev_total)
                ok(m, CK_SCSI_EVENTQ_POSTED, 0);
            else
                bad(m, CK_SCSI_EVENTQ_POSTED, 0, cx, "an eventq buffer before the first command",
                    "first command (opcode 0x%02x) with no eventq buffer made available",
                    x->opcode);
        }
    }
    if (role_on(m, CK_SCSI_D_TASK_ATTR)) {
        if (!h[16] && !h[17] && !h[18])   /* task_attr, prio, crn */
            ok(m, CK_SCSI_D_TASK_ATTR, 0);
        else
            bad(m, CK_SCSI_D_TASK_ATTR, 0, cx, "task_attr, prio, crn 0",
                "task_attr %u prio %u crn %u", h[16], h[17], h[18]);
    }
    refill_judge(m, cx, "a command");
    if (s->lost_rescan_due && role_on(m, CK_SCSI_D_LOST_RESCAN)) {
        if (scan_opcode(x->opcode))
            ok(m, CK_SCSI_D_LOST_RESCAN, 0);
        else
            bad(m, CK_SCSI_D_LOST_RESCAN, 0, cx, "REPORT LUNS, INQUIRY or TEST UNIT READY",
                "opcode 0x%02x after an EVENTS_MISSED event", x->opcode);
        s->lost_rescan_due = false;
    }
    if (x->lun_ok && s->hp_rescan_target == x->target && role_on(m, CK_SCSI_D_HP_RESCAN)) {
        if (x->opcode == VS_SCSI_REPORT_LUNS || x->opcode == VS_SCSI_INQUIRY)
            ok(m, CK_SCSI_D_HP_RESCAN, 0);
        else
            bad(m, CK_SCSI_D_HP_RESCAN, 0, cx, "REPORT LUNS or INQUIRY to the target",
                "opcode 0x%02x to target %u after its rescan event", x->opcode, x->target);
        s->hp_rescan_target = -1;
    }
    scsi_lun_track *l = x->lun_ok ? scsi_mon_lun(m, x->target, x->lun, true) : NULL;
    if (!l)
        return;
    l->out++;
    if (s->cmd_per_lun_known && role_on(m, CK_SCSI_D_PER_LUN)) {
        if (l->out <= s->cmd_per_lun)
            ok(m, CK_SCSI_D_PER_LUN, 0);
        else
            bad(m, CK_SCSI_D_PER_LUN, 0, cx, "at most cmd_per_lun commands per LUN",
                "%u commands outstanding on LUN %u:%u, cmd_per_lun %u", l->out, x->target,
                x->lun, s->cmd_per_lun);
    }
    if (role_on(m, CK_SCSI_D_PER_LUN_QS)) {
        if (l->out <= q->l.size)
            ok(m, CK_SCSI_D_PER_LUN_QS, 0);
        else
            bad(m, CK_SCSI_D_PER_LUN_QS, 0, cx, "at most the queue size per LUN",
                "%u commands outstanding on LUN %u:%u, queue size %u", l->out, x->target,
                x->lun, q->l.size);
    }
}

static void avail_cmd(vs_monitors *m, qstate *q, chain_rec *c, ctx cx)
{
    scsi_mon *s = sm(m);
    scsi_chain *x = sc(c);
    x->kind = CH_CMD;
    x->sense_size = s->sense_size;
    uint64_t hl = vs_scsi_cmd_req_len(s->cdb_size, has(neg(m), VS_SCSI_F_T10_PI));
    x->resp_bytes = (uint32_t)vs_scsi_cmd_resp_len(s->sense_size);
    x->data_out = c->out_bytes > hl ? c->out_bytes - hl : 0;
    x->data_in = c->in_bytes > x->resp_bytes ? c->in_bytes - x->resp_bytes : 0;
    uint8_t hb[VS_SCSI_REQ_FIXED + VS_SCSI_CDB_MAX + VS_SCSI_PI_BYTES];
    if (hl > sizeof hb || c->out_bytes < hl)
        return;   /* a truncated header: the device's error path, not a command */
    const uint8_t *span = chain_span(m, c, false, 0, hl); /* the usual case: one segment */
    if (span)
        memcpy(hb, span, hl);
    else if (!chain_read(m, c, false, 0, hb, hl))
        return;
    if (c->nseg && c->seg[0].len < hl)
        c->odd |= ODD_FRAMING; /* legal: the device must cope (no-error-on-legal-input) */
    const uint8_t *cdb = vs_scsi_cmd_req_cdb_at(hb);   /* read in place: no CDB copy */
    uint32_t cdb_len = vs_scsi_cmd_req_cdb_len(s->cdb_size);
    vs_scsi_lun_addr a;
    x->lun_ok = vs_scsi_lun_decode(hb, &a) == 0 && a.kind == VS_SCSI_LUN_SINGLE;
    x->target = a.target;
    x->lun = a.lun;
    x->tag = vs_scsi_cmd_req_id_at(hb);
    x->opcode = cdb_len ? cdb[0] : 0;
    x->cdb1 = cdb_len > 1 ? cdb[1] : 0;
    vs_scsi_rw rw;
    if (vs_scsi_cdb_rw(cdb, cdb_len, &rw) == 0 && rw.data && rw.opcode != VS_SCSI_WRITE_SAME_16)
        x->rw_blocks = rw.nblocks;
    driver_cmd_rules(m, q, x, hb, cx);
}

static void avail_ctrl(vs_monitors *m, chain_rec *c)
{
    scsi_chain *x = sc(c);
    uint8_t b[VS_SCSI_TMF_REQ_BYTES];
    if (c->out_bytes < 4 || !chain_read(m, c, false, 0, b, 4))
        return;
    uint32_t type = vs_le32_get(b);
    if (type == VS_SCSI_T_TMF && c->out_bytes >= VS_SCSI_TMF_REQ_BYTES &&
        chain_read(m, c, false, 0, b, VS_SCSI_TMF_REQ_BYTES)) {
        vs_scsi_tmf_req t;
        vs_scsi_tmf_req_get(b, &t);
        vs_scsi_lun_addr a;
        x->kind = CH_TMF;
        x->subtype = t.subtype;
        x->tag = t.id;
        x->lun_ok = vs_scsi_lun_decode(t.lun, &a) == 0 && a.kind == VS_SCSI_LUN_SINGLE;
        x->target = a.target;
        x->lun = a.lun;
    } else if (type == VS_SCSI_T_AN_QUERY || type == VS_SCSI_T_AN_SUBSCRIBE) {
        x->kind = CH_AN;
    }
}

/* "Keep the eventq stocked" (scsi.driver.eventq.1): a driver may handle an event (e.g.
 * scan a hot-added LUN, as Linux does) before it puts the used buffer back, so a request
 * made while used buffers wait is a violation only when no eventq buffer is left at all;
 * buffers still not replaced when the run ends, although the driver went on making
 * requests, are judged at the end (scsi_mon_finish). */
static void refill_judge(vs_monitors *m, ctx cx, const char *what)
{
    scsi_mon *s = sm(m);
    if (!s->refill_due || !role_on(m, CK_SCSI_D_REFILL))
        return;
    if (!s->ev_posted) {
        bad(m, CK_SCSI_D_REFILL, 0, cx, "an eventq buffer available",
            "%s while the eventq is empty (%u used eventq buffers not replaced)", what,
            s->refill_due);
        s->refill_due = 0;
        s->refill_stale = false;
    } else if (!s->refill_stale) {
        s->refill_stale = true;
        s->refill_cx = cx;
    }
}

void scsi_mon_finish(vs_monitors *m)
{
    scsi_mon *s = sm(m);
    if (s->refill_due && s->refill_stale && role_on(m, CK_SCSI_D_REFILL))
        bad(m, CK_SCSI_D_REFILL, 0, s->refill_cx, "used eventq buffers replaced",
            "%u used eventq buffers never replaced while the driver went on making requests",
            s->refill_due);
}

static void avail_event(vs_monitors *m, chain_rec *c, ctx cx)
{
    scsi_mon *s = sm(m);
    sc(c)->kind = CH_EVENT;
    s->ev_posted++;
    s->ev_total++;
    if (s->refill_due && !--s->refill_due)
        s->refill_stale = false;
    if (role_on(m, CK_SCSI_D_EV_WRITABLE)) {
        if (!c->out_bytes)
            ok(m, CK_SCSI_D_EV_WRITABLE, 0);
        else
            bad(m, CK_SCSI_D_EV_WRITABLE, 0, cx, "eventq buffers device-writable only",
                "%" PRIu64 " device-readable bytes", c->out_bytes);
    }
    /* the buffer's size, whatever its direction (eventq.2 judges the direction) */
    uint64_t len = c->out_bytes + c->in_bytes;
    uint32_t info = s->event_info_size ? s->event_info_size : VS_SCSI_EVENT_BYTES;
    if (role_on(m, CK_SCSI_D_EV_INFO)) {
        if (len >= info)
            ok(m, CK_SCSI_D_EV_INFO, 0);
        else
            bad(m, CK_SCSI_D_EV_INFO, 0, cx, "at least event_info_size bytes",
                "a %" PRIu64 "-byte buffer, event_info_size %u", len, info);
    }
    if (role_on(m, CK_SCSI_D_EV_16)) {
        if (len >= VS_SCSI_EVENT_BYTES)
            ok(m, CK_SCSI_D_EV_16, 0);
        else
            bad(m, CK_SCSI_D_EV_16, 0, cx, "at least 16 bytes", "a %" PRIu64 "-byte buffer",
                len);
    }
}

void scsi_mon_avail(vs_monitors *m, qstate *q, chain_rec *c, const vs_event *ev)
{
    memset(sc(c), 0, sizeof(scsi_chain));
    sc(c)->order = ++sm(m)->avail_clock;
    if (c->raw)
        return;   /* a fault chain: the generic checks judge it */
    ctx cx = idctx(ev->queue, ev->id);
    if (ev->queue == VS_SCSI_Q_EVENT) {
        avail_event(m, c, cx);
        return;
    }
    if (ev->queue == VS_SCSI_Q_CTRL)
        refill_judge(m, cx, "a control request");
    if (ev->queue == VS_SCSI_Q_CTRL)
        avail_ctrl(m, c);
    else if (ev->queue >= VS_SCSI_Q_REQ0)
        avail_cmd(m, q, c, cx);
}

/* ------------------------------------------------------------------ used */

static void used_event(vs_monitors *m, chain_rec *c, const vs_event *ev, ctx cx)
{
    scsi_mon *s = sm(m);
    if (s->ev_posted)
        s->ev_posted--;
    s->refill_due++;
    if (role_on(m, CK_SCSI_D_REFILL) && s->refill_due == 1)
        ok(m, CK_SCSI_D_REFILL, 0);
    uint8_t b[VS_SCSI_EVENT_BYTES];
    if ((ev->len && ev->len < VS_SCSI_EVENT_BYTES) || c->in_bytes < VS_SCSI_EVENT_BYTES ||
        !chain_read(m, c, true, 0, b, sizeof b))
        return;
    vs_scsi_event e;
    vs_scsi_event_get(b, &e);
    bool missed = (e.event & VS_SCSI_T_EVENTS_MISSED) != 0;
    uint32_t type = e.event & ~VS_SCSI_T_EVENTS_MISSED;
    vs_scsi_lun_addr a;
    bool lun_ok = vs_scsi_lun_decode(e.lun, &a) == 0 && a.kind == VS_SCSI_LUN_SINGLE;
    if (s->missed_pending && role_on(m, CK_SCSI_EVENTS_MISSED)) {
        if (missed)
            ok(m, CK_SCSI_EVENTS_MISSED, 0);
        else
            bad(m, CK_SCSI_EVENTS_MISSED, 0, cx, "EVENTS_MISSED set after a dropped event",
                "event 0x%08x without EVENTS_MISSED after an event was due on an empty eventq",
                e.event);
    }
    s->missed_pending = false;
    if (missed)
        s->lost_rescan_due = true;
    bool hp = type == VS_SCSI_T_TRANSPORT_RESET &&
              (e.reason == VS_SCSI_EVT_RESET_RESCAN || e.reason == VS_SCSI_EVT_RESET_REMOVED);
    if (hp && !has(neg(m), VS_SCSI_F_HOTPLUG) && role_on(m, CK_SCSI_HOTPLUG_EVENTS))
        bad(m, CK_SCSI_HOTPLUG_EVENTS, 0, cx, "no rescan / removed event without HOTPLUG",
            "TRANSPORT_RESET reason %u without HOTPLUG negotiated", e.reason);
    if (hp && lun_ok && a.lun == 0 && has(neg(m), VS_SCSI_F_HOTPLUG))
        s->hp_rescan_target = a.target;
    if (type == VS_SCSI_T_PARAM_CHANGE && lun_ok && role_on(m, CK_SCSI_MMC_PARAM)) {
        const scsi_lun_track *l = scsi_mon_lun(m, a.target, a.lun, false);
        if (l && l->mmc)
            bad(m, CK_SCSI_MMC_PARAM, 0, cx, "no PARAM_CHANGE for an MMC unit",
                "PARAM_CHANGE (reason 0x%x) for MMC LUN %u:%u", e.reason, a.target, a.lun);
    }
}

void scsi_mon_used(vs_monitors *m, qstate *q, chain_rec *c, const vs_event *ev, ctx cx)
{
    (void)q;
    scsi_chain *x = sc(c);
    switch (x->kind) {
    case CH_EVENT: used_event(m, c, ev, cx); break;
    case CH_CMD: scsi_mon_cmd_used(m, c, ev, cx); break;
    case CH_TMF: scsi_mon_tmf_used(m, c, ev, cx); break;
    default: break;
    }
}

/* A command's id made available again before its completion was seen (a back-end's view:
 * the server reports fetches, not completions): the ring says it completed, so it no
 * longer counts as outstanding on its LUN. */
void scsi_mon_retire(vs_monitors *m, chain_rec *c)
{
    scsi_chain *x = sc(c);
    if (x->kind != CH_CMD || !x->lun_ok || c->completed)
        return;
    scsi_lun_track *l = scsi_mon_lun(m, x->target, x->lun, false);
    if (l && l->out)
        l->out--;
}

/* ------------------------------------------------------------------ host notes */

/* "scsi-host hotplug T:L", "scsi-host remove T:L", "scsi-host capacity T:L": the scenario
 * changed the device's host side; an event may be due. */
/* "scsi-host luns T:L T:L ...": the LUNs the harness gave the device it built. */
static void note_luns(scsi_mon *s, const char *p)
{
    memset(s->target_luns, 0, sizeof s->target_luns);
    s->targets_known = true;
    unsigned t, l;
    int n;
    while (sscanf(p, " %u:%u%n", &t, &l, &n) == 2) {
        if (t < 256 && s->target_luns[t] < 255)
            s->target_luns[t]++;
        p += n;
    }
}

static void host_note(vs_monitors *m, const vs_event *ev);

/* The notes the scsi steps put on the bus (the monitors' event hook sees every event: the
 * other kinds leave at once, without the note parser's stack frame). */
void scsi_mon_note(vs_monitors *m, const vs_event *ev)
{
    if (ev->kind == VS_EV_NOTE)
        host_note(m, ev);
}

static void host_note(vs_monitors *m, const vs_event *ev)
{
    char what[16];
    unsigned t, l;
    scsi_mon *s = sm(m);
    if (ev->text && strncmp(ev->text, "scsi-host luns", 14) == 0) {
        note_luns(s, ev->text + 14);
        return;
    }
    if (!ev->text || sscanf(ev->text, "scsi-host %15s %u:%u", what, &t, &l) != 3 || t > 255)
        return;
    bool plug = strcmp(what, "hotplug") == 0 || strcmp(what, "remove") == 0;
    bool cap = strcmp(what, "capacity") == 0;
    const scsi_lun_track *lt = scsi_mon_lun(m, (uint8_t)t, (uint16_t)l, false);
    bool mmc = lt && lt->mmc;
    if (plug && !has(neg(m), VS_SCSI_F_HOTPLUG) && role_on(m, CK_SCSI_HOTPLUG_EVENTS))
        ok(m, CK_SCSI_HOTPLUG_EVENTS, 0);
    if (cap && mmc && has(neg(m), VS_SCSI_F_CHANGE) && role_on(m, CK_SCSI_MMC_PARAM))
        ok(m, CK_SCSI_MMC_PARAM, 0);
    if (strcmp(what, "hotplug") == 0 && s->target_luns[t] < 255)
        s->target_luns[t]++;
    if (strcmp(what, "remove") == 0 && s->target_luns[t])
        s->target_luns[t]--;
    bool due = (plug && has(neg(m), VS_SCSI_F_HOTPLUG)) ||
               (cap && !mmc && has(neg(m), VS_SCSI_F_CHANGE));
    if (due && !s->ev_posted)
        s->missed_pending = true;
}
