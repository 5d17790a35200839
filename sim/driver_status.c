/* The driver waiting on device status: the SUSPEND and resume handshakes (with the
 * driver mutants that break them) and waits for status bits. */
#include <stdio.h>

#include "sim/driver_int.h"

/* Polls status (collecting completions meanwhile) until done(): any bit of `any` shows
 * (any != 0), else every bit of `set` and none of `clear`, or NEEDS_RESET. Returns 1 when
 * done, or < 0 (timeout, or the device idle without getting there). */
static int poll_status_until(vs_driver *d, uint64_t timeout, uint8_t any, uint8_t set,
                             uint8_t clear, uint8_t *out, vs_err *e)
{
    uint64_t start = vs_driver_now(d);
    unsigned stall = 0;
    char want[64];
    if (any)
        snprintf(want, sizeof want, "has none of 0x%02x", any);
    else
        snprintf(want, sizeof want, "lacks 0x%02x or has 0x%02x", set, clear);
    for (;;) {
        uint8_t s;
        int rc = vs_driver_read_status(d, &s, e);
        if (rc < 0)
            return rc;
        if (out)
            *out = s;
        if (any ? (s & any) != 0
                : (s & VS_STATUS_DEVICE_NEEDS_RESET) || ((s & set) == set && !(s & clear)))
            return 1;
        uint64_t el = vs_driver_now(d) - start;
        if (el >= timeout)
            return vs_err_set(e, VS_ETIMEDOUT, "driver: status 0x%02x %s after %llu ns", s,
                              want, (unsigned long long)el);
        uint64_t step = timeout - el;
        if (step > d->o.poll_interval_ns * 100)
            step = d->o.poll_interval_ns * 100;
        uint64_t before = vs_driver_now(d);
        if ((rc = d->t->ops->wait(d->t, step, e)) < 0)
            return vs_err_prefix(e, "driver: wait");
        if (rc == 0 && vs_driver_now(d) == before && ++stall >= 3)
            return vs_err_set(e, VS_ETIMEDOUT, "driver: status 0x%02x %s and the device is idle",
                              s, want);
        /* Completions that arrive meanwhile are collected, not lost. */
        vs_err pe;
        vs_err_clear(&pe);
        vs_driver_poll(d, &pe);
    }
}

static int poll_status(vs_driver *d, uint8_t set, uint8_t clear, uint8_t *out, vs_err *e)
{
    int rc = poll_status_until(d, d->o.timeout_ns, 0, set, clear, out, e);
    return rc < 0 ? rc : 0;
}

/* What a driver mutant does once it has asked for a suspension (or a resume). */
static int suspend_mutant(vs_driver *d, bool suspend, vs_err *e)
{
    int rc = 0;
    if (suspend && vs__drv_mut(d, VS_DRV_MUT_KICK_SUSPENDED) && d->nq) {
        vs__drv_emit(d, &(vs_event){.kind = VS_EV_KICK, .queue = 0});
        rc = d->t->ops->notify(d->t, 0, e);
    }
    if (rc == 0 && suspend && vs__drv_mut(d, VS_DRV_MUT_EXPOSE_SUSPENDED) && d->nq) {
        /* the device's simplest request (blk: a FLUSH), header and status, made available */
        vs_drv_hostile h;
        if ((rc = vs__drv_hostile_begin(d, 0, 1, &h, e)) == 0) {
            vs_desc ds[2] = {
                {.addr = h.hdr, .len = h.hdr_len, .flags = VS_DESC_F_NEXT, .next = 1},
                {.addr = h.status, .len = h.status_len, .flags = VS_DESC_F_WRITE}};
            rc = vs__drv_hostile_submit(d, &h, ds, 2, true, e);
            rc = rc < 0 ? rc : 0;
        }
    }
    if (rc == 0 && suspend && vs__drv_mut(d, VS_DRV_MUT_CONFIG_WRITE_SUSPENDED)) {
        uint8_t b;
        if ((rc = vs_driver_config_read(d, 0, &b, 1, e)) == 0)
            rc = vs_driver_config_write(d, 0, &b, 1, e);
    }
    return rc;
}

static int suspend_handshake(vs_driver *d, uint8_t add, uint8_t set, uint8_t clear, vs_err *e)
{
    if (!(d->features & VS_BIT(VS_F_SUSPEND)))
        return vs_err_set(e, VS_ENOTSUP, "driver: VIRTIO_F_SUSPEND is not negotiated");
    int rc = vs_driver_write_status_raw(d, (uint8_t)(d->status | add), e);
    bool suspend = add == VS_STATUS_SUSPEND;
    if (rc == 0 && vs__drv_mut(d, suspend ? VS_DRV_MUT_SUSPEND_NO_WAIT : VS_DRV_MUT_RESUME_NO_WAIT)) {
        d->status = (uint8_t)((d->status | set) & ~clear); /* as if it had read it */
        return 0;
    }
    uint8_t s = 0;
    if (rc < 0 || (rc = poll_status(d, set, clear, &s, e)) < 0 ||
        (rc = suspend_mutant(d, suspend, e)) < 0)
        return rc;
    d->status = (uint8_t)(s & ~VS_STATUS_DEVICE_NEEDS_RESET);
    return (s & VS_STATUS_DEVICE_NEEDS_RESET) ? 1 : 0;
}

int vs_driver_suspend(vs_driver *d, vs_err *e)
{
    if (!(d->status & VS_STATUS_DRIVER_OK) || (d->status & VS_STATUS_SUSPEND))
        return vs_err_set(e, VS_ESTATE, "driver: suspend needs a running device");
    return suspend_handshake(d, VS_STATUS_SUSPEND, VS_STATUS_SUSPEND, VS_STATUS_DRIVER_OK, e);
}

int vs_driver_resume(vs_driver *d, vs_err *e)
{
    if (!(d->status & VS_STATUS_SUSPEND))
        return vs_err_set(e, VS_ESTATE, "driver: resume needs a suspended device");
    return suspend_handshake(d, VS_STATUS_DRIVER_OK, VS_STATUS_DRIVER_OK, VS_STATUS_SUSPEND, e);
}

int vs_driver_suspend_early(vs_driver *d, vs_err *e)
{
    uint8_t keep = d->status, s = 0;
    int rc = vs_driver_write_status_raw(d, (uint8_t)(d->status | VS_STATUS_SUSPEND), e);
    if (rc < 0 || (rc = vs_driver_read_status(d, &s, e)) < 0)
        return rc;
    d->status = keep; /* the driver goes on as if it had not asked */
    return (s & VS_STATUS_SUSPEND) ? 1 : 0;
}

int vs_driver_wait_status(vs_driver *d, uint8_t mask, uint64_t timeout_ns, vs_err *e)
{
    return poll_status_until(d, timeout_ns ? timeout_ns : d->o.timeout_ns, mask, 0, 0, NULL, e);
}

/* DEVICE_NEEDS_RESET: outstanding requests are neither waited for nor reused; the device
 * is reset at once (a mutant notifies their queues again first). */
int vs_driver_recover(vs_driver *d, vs_err *e)
{
    uint8_t s;
    int rc = vs_driver_read_status(d, &s, e);
    if (rc < 0)
        return rc;
    if (!(s & VS_STATUS_DEVICE_NEEDS_RESET))
        return vs_err_set(e, VS_ESTATE, "driver: status 0x%02x shows no DEVICE_NEEDS_RESET", s);
    for (uint16_t i = 0; vs__drv_mut(d, VS_DRV_MUT_NEEDS_RESET_WAITS) && i < d->nq; i++)
        if (d->q[i].vq && d->q[i].live) {
            vs__drv_emit(d, &(vs_event){.kind = VS_EV_KICK, .queue = i});
            if ((rc = d->t->ops->notify(d->t, i, e)) < 0)
                return rc;
        }
    return vs_driver_reset(d, e);
}
