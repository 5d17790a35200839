/* eventq of the reference virtio-scsi device.
 *
 * The device keeps the eventq buffers the driver makes available (deferred chains) and
 * uses the oldest one for each event. It does not queue events: an event that finds no
 * buffer is dropped and the device remembers it; the next buffer made available is used
 * at once for a NO_EVENT with VIRTIO_SCSI_T_EVENTS_MISSED, or, if an event comes first,
 * that event carries the bit. A buffer shorter than an event (16 bytes, event_info_size)
 * is used at once with NO_EVENT (its first bytes zero, used length its size). A buffer with
 * device-readable bytes is a device error. */
#include <stdlib.h>
#include <string.h>

#include "scsi_int.h"

static int put_event(scsi_dev *s, const vs_chain *c, uint64_t in, vs_scsi_event *ev,
                     uint32_t *written, vs_err *e)
{
    if (s->missed) {
        ev->event |= VS_SCSI_T_EVENTS_MISSED;
        s->missed = false;
    }
    uint8_t b[VS_SCSI_EVENT_BYTES + 8] = {0};
    vs_scsi_event_put(b, ev);
    uint32_t want = smut(s, VS_SCSI_MUT_EVENT_OVERSIZE) ? sizeof b : VS_SCSI_EVENT_BYTES;
    uint32_t n = in < want ? (uint32_t)in : want;
    int rc = vs__scsi_chain_xfer(s, c, true, 0, b, n, true, e);
    if (rc < 0)
        return vs_err_prefix(e, "scsi: writing an event");
    *written = n;
    return 0;
}

int vs__scsi_eventq(scsi_dev *s, const vs_chain *c, uint32_t *written, vs_err *e)
{
    uint64_t out, in;
    int rc = vs__scsi_chain_check(c, &out, &in, e);
    if (rc < 0)
        return rc;
    if (out)
        return vs_err_set(e, VS_EINVAL, "scsi: eventq buffer with %llu device-readable "
                          "bytes", (unsigned long long)out);
    if (!s->dev.complete)
        return vs_err_set(e, VS_ENOTSUP, "scsi: eventq buffers need a transport that "
                          "completes deferred chains");
    if (in < VS_SCSI_EVENT_BYTES || s->missed) {
        vs_scsi_event ev = {.event = VS_SCSI_T_NO_EVENT};
        return put_event(s, c, in, &ev, written, e);
    }
    if (s->nev == s->ev_cap) {
        uint32_t cap = s->ev_cap ? s->ev_cap * 2 : 16;
        scsi_held *h = realloc(s->evbuf, cap * sizeof *h);
        if (!h)
            return vs_err_set(e, VS_ENOMEM, "scsi: out of memory holding an eventq buffer");
        s->evbuf = h;
        s->ev_cap = cap;
    }
    scsi_held *h = &s->evbuf[s->nev];
    memset(h, 0, sizeof *h);
    if (vs__scsi_hold_copy(h, c) < 0)
        return vs_err_set(e, VS_ENOMEM, "scsi: out of memory holding an eventq buffer");
    h->q = VS_SCSI_Q_EVENT;
    h->id = c->id;
    s->nev++;
    return VS_DEV_DEFERRED;
}

void vs__scsi_event(scsi_dev *s, uint32_t type, uint8_t target, uint16_t lun,
                    uint32_t reason)
{
    if (s->nev == 0 || !s->dev.complete) {
        s->dropped++;
        if (!smut(s, VS_SCSI_MUT_NO_EVENTS_MISSED))
            s->missed = true;
        return;
    }
    scsi_held h = s->evbuf[0];
    memmove(&s->evbuf[0], &s->evbuf[1], (s->nev - 1) * sizeof s->evbuf[0]);
    s->nev--;
    vs_scsi_event ev = {.event = type, .reason = reason};
    vs_scsi_lun_encode(ev.lun, target, lun);
    uint32_t w = 0;
    uint64_t out, in;
    vs_err e;
    vs_err_clear(&e);
    if (vs__scsi_chain_check(&h.c, &out, &in, &e) < 0 || put_event(s, &h.c, in, &ev, &w, &e) < 0)
        w = 0;
    s->dev.complete(s->dev.complete_ctx, h.q, h.id, w);
    vs__scsi_hold_free(&h);
}

void vs__scsi_events_forget(scsi_dev *s)
{
    for (uint32_t i = 0; i < s->nev; i++)
        vs__scsi_hold_free(&s->evbuf[i]);
    s->nev = 0;
}
