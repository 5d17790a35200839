/* virtio-scsi's event steps at run time: hot-add and hot-remove of a LUN, a capacity
 * change, and the eventq's stock (starve it, refill it); each waits for the events the
 * device sends and judges them against expect_events, then rescans when an event asks the
 * driver to (Linux: virtscsi_handle_transport_reset / param change / lost events). */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sim/dev/scsi/scsi_steps_int.h"

#define EV_MAX 32

static const char *event_word(uint32_t ev)
{
    switch (ev & ~VS_SCSI_T_EVENTS_MISSED) {
    case VS_SCSI_T_NO_EVENT: return "no_event";
    case VS_SCSI_T_TRANSPORT_RESET: return "transport_reset";
    case VS_SCSI_T_ASYNC_NOTIFY: return "async_notify";
    case VS_SCSI_T_PARAM_CHANGE: return "param_change";
    default: return "undefined";
    }
}

/* Lets the device deliver what it has: waits until `want` events arrived (0: a quiet
 * while), collecting them. */
static int gather(vs_run_ctx *c, unsigned want, scsi_result *ev, unsigned *n, vs_err *e)
{
    int rc = 0;
    uint64_t slice = c->real ? 20000000 : 50000;  /* 20 ms real, 50 us virtual */
    for (int i = 0; i < (want ? 50 : 5) && rc >= 0; i++) {
        while (*n < EV_MAX && scsi_take(c->d, SK_EVENT, -1, -1, &ev[*n]))
            (*n)++;
        if (want && *n >= want)
            break;
        /* the driver replaces what it consumed (a dropped event shows on the next one) */
        if ((rc = scsi_refill(c->d, e)) >= 0)
            rc = vs_driver_wait(c->d, slice, e);
    }
    while (rc >= 0 && *n < EV_MAX && scsi_take(c->d, SK_EVENT, -1, -1, &ev[*n]))
        (*n)++;
    return rc < 0 ? rc : 0;
}

/* The events against expect_events, in order; with none given, anything goes. */
static int judge_events(vs_run_ctx *c, const scsi_step *p, const scsi_result *ev, unsigned n)
{
    char seen[300] = "";
    for (unsigned i = 0; i < n; i++) {
        char one[64];
        snprintf(one, sizeof one, "%s%s%s/%u", i ? ", " : "", event_word(ev[i].event),
                 ev[i].event & VS_SCSI_T_EVENTS_MISSED ? "+missed" : "", ev[i].reason);
        strncat(seen, one, sizeof seen - strlen(seen) - 1);
    }
    if (p->expect_no_event && n)
        return vs_run_expect_failed(c, "events %s, expected none", seen);
    if (!p->expect_no_event && p->nev && n != p->nev)
        return vs_run_expect_failed(c, "%u events (%s), expected %u", n, n ? seen : "none",
                                    p->nev);
    for (unsigned i = 0; i < p->nev && i < n; i++) {
        uint32_t type = ev[i].event & ~VS_SCSI_T_EVENTS_MISSED;
        bool missed = (ev[i].event & VS_SCSI_T_EVENTS_MISSED) != 0;
        if (type != p->ev[i].event || missed != p->ev[i].missed ||
            (p->ev[i].has_reason && ev[i].reason != p->ev[i].reason))
            return vs_run_expect_failed(c, "event %u is %s%s reason %u (all: %s), expected "
                                        "%s%s%s", i + 1, event_word(ev[i].event),
                                        missed ? " with EVENTS_MISSED" : "", ev[i].reason, seen,
                                        event_word(p->ev[i].event),
                                        p->ev[i].missed ? " with EVENTS_MISSED" : "",
                                        p->ev[i].has_reason ? "" : " (any reason)");
    }
    vs_run_expect_ok(c, n ? seen : "no event");
    return 0;
}

/* After the host's action: the events, then the refill and the rescan they ask for. */
static int events_then_rescan(vs_run_ctx *c, const scsi_step *p)
{
    vs_err e = {0};
    scsi_result ev[EV_MAX];
    unsigned n = 0;
    int rc = gather(c, p->expect_no_event ? 0 : p->nev, ev, &n, &e);
    if (rc == 0)
        rc = scsi_run(c->d, 0, &e);   /* refills the eventq */
    if (rc == 0)
        rc = scsi_rescan_if_due(c, &e);
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    return judge_events(c, p, ev, n);
}

static int not_applicable(vs_run_ctx *c, const vs_err *e)
{
    snprintf(c->r->message, sizeof c->r->message, "not applicable: %s", e->msg);
    return 2;
}

/* Tells the monitors what the host side is about to do (an event may be due), once the
 * driver has collected what the device already delivered. */
static int host_note(vs_run_ctx *c, const char *what, uint8_t target, uint16_t lun, vs_err *e)
{
    /* a moment for the device to take the buffers it was given and for its interrupts
     * to arrive, so the note's view of the eventq is the device's */
    int rc = vs_driver_wait(c->d, c->real ? 1000000 : 20000, e);
    if (rc >= 0)
        rc = vs_driver_poll(c->d, e);
    if (rc < 0)
        return rc;
    char text[64];
    snprintf(text, sizeof text, "scsi-host %s %u:%u", what, target, lun);
    vs_event ev = {.kind = VS_EV_NOTE, .t_ns = vs_run_now(c), .queue = -1, .text = text};
    vs_event_emit(&c->bus, &ev);
    return 0;
}

/* count LUNs from lun on, one host action each, before the driver looks again. */
int scsi_run_hotplug(vs_run_ctx *c, const vs_step *t)
{
    const scsi_step *p = t->dev;
    vs_err e = {0};
    int rc = 0;
    for (uint32_t i = 0; rc >= 0 && i < p->count; i++) {
        uint16_t lun = (uint16_t)(p->lun + i);
        if ((rc = host_note(c, p->remove ? "remove" : "hotplug", p->target, lun, &e)) < 0)
            break;
        rc = scsi_host_hotplug(c, p->target, lun, p->remove, p->bytes, &e);
    }
    if (rc == -VS_ENOTSUP)
        return not_applicable(c, &e);
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    return events_then_rescan(c, p);
}

int scsi_run_capacity_change(vs_run_ctx *c, const vs_step *t)
{
    const scsi_step *p = t->dev;
    vs_err e = {0};
    int rc = host_note(c, "capacity", p->target, p->lun, &e);
    if (rc == 0)
        rc = scsi_host_capacity(c, p->target, p->lun, p->bytes, &e);
    if (rc == -VS_ENOTSUP)
        return not_applicable(c, &e);
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    /* Linux rescans the device on PARAM_CHANGE (capacity data has changed) */
    scsi_drv_of(c->d)->rescan_due = true;
    return events_then_rescan(c, p);
}

/* eventq: keep `buffers` posted from now on (0 starves it); what arrives is judged. */
int scsi_run_eventq(vs_run_ctx *c, const vs_step *t)
{
    const scsi_step *p = t->dev;
    scsi_drv *s = scsi_drv_of(c->d);
    vs_err e = {0};
    s->ev_bufs = p->buffers;
    int rc = scsi_eventq_fill(c->d, &e);
    if (rc < 0)
        return vs_run_driver_error(c, rc, &e);
    return events_then_rescan(c, p);
}
