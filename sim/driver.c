/* Driver model core: initialisation, requests with guard bytes, chain
 * submission, results, completion (interrupt and polling mode), faults. Status, feature
 * and config access is sim/driver_access.c, the buffer pool sim/driver_pool.c; what is specific to a device type is its personality
 * (sim/driver_dev.h, e.g. sim/dev/blk/). Talks to the device only through vs_transport,
 * vs_gmem and the driver side of the rings. */
#define _POSIX_C_SOURCE 200809L
#include "sim/driver_int.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sim/sim_dev.h"

#define SEG_ALIGN 64u
#define RESET_POLLS 1000

/* ------------------------------------------------------------------ helpers */

/* The guard pattern vs_drv_guard_byte(0..15) as a constant table, written and compared
 * with one memcpy/memcmp (a mismatch is re-examined byte by byte with vs_drv_guard_byte). */
#define GB(i) (uint8_t)(0xa5u ^ ((i) * 0x3bu))
static const uint8_t guard_pat[VS_DRV_GUARD_LEN] = {
    GB(0), GB(1), GB(2),  GB(3),  GB(4),  GB(5),  GB(6),  GB(7),
    GB(8), GB(9), GB(10), GB(11), GB(12), GB(13), GB(14), GB(15)};
#undef GB
_Static_assert(VS_DRV_GUARD_LEN == 16, "guard_pat spells out 16 guard bytes");

uint64_t vs__splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t wall_now(void *opaque)
{
    (void)opaque;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t vs_driver_now(vs_driver *d)
{
    return d->now(d->now_opaque);
}

void vs__drv_emit(vs_driver *d, vs_event *ev)
{
    if (!d->bus || !d->bus->n)   /* nothing listens (a bare run): no time stamp */
        return;
    ev->t_ns = vs_driver_now(d);
    vs_event_emit(d->bus, ev);
}

static void emit_simple(vs_driver *d, enum vs_event_kind k, int32_t q, uint64_t val)
{
    vs_event ev = {.kind = k, .queue = q, .val = val};
    vs__drv_emit(d, &ev);
}

void vs_driver_opts_default(vs_driver_opts *o)
{
    memset(o, 0, sizeof *o); /* features 0: the personality's default */
    o->ring = VS_RING_SPLIT;
    o->num_queues = 1;
    o->irq_mode = VS_IRQ_MSIX;
    o->seed = 1;
}

/* ------------------------------------------------------------------ irq callback */

static void drv_irq(void *opaque, int queue)
{
    vs_driver *d = opaque;
    if (queue == VS_IRQ_CONFIG) {
        d->config_pending = true;
        d->c.config_irqs++;
        return;
    }
    d->c.irqs++;
    if (d->t->irq_mode == VS_IRQ_INTX || queue < 0 || queue >= (int)d->nq) {
        /* INTx (or an unattributed interrupt): the ISR says what happened. */
        d->isr_pending = true;
        return;
    }
    d->q[queue].irq_pending = true;
}

/* ------------------------------------------------------------------ create/destroy */

int vs_driver_create(vs_driver **out, vs_transport *t, const vs_driver_opts *o,
                     vs_event_bus *bus, uint64_t (*now)(void *), void *now_opaque,
                     vs_err *e)
{
    if (!out || !t || !t->ops || !t->gm)
        return vs_err_set(e, VS_EINVAL, "driver: transport (with ops and guest memory) required");
    *out = NULL;
    vs_driver_opts def;
    if (!o) {
        vs_driver_opts_default(&def);
        o = &def;
    }
    if (o->ring != VS_RING_SPLIT && o->ring != VS_RING_PACKED)
        return vs_err_set(e, VS_EINVAL, "driver: unknown ring format %d", (int)o->ring);
    if (o->irq_mode != VS_IRQ_MSIX && o->irq_mode != VS_IRQ_INTX && o->irq_mode != VS_IRQ_POLL)
        return vs_err_set(e, VS_EINVAL, "driver: unknown irq mode %d", (int)o->irq_mode);
    if (o->num_queues > VS_DRV_MAX_QUEUES)
        return vs_err_set(e, VS_EINVAL, "driver: %u queues requested, at most %u supported",
                          o->num_queues, VS_DRV_MAX_QUEUES);
    if (o->queue_size > VS_VQ_MAX_SIZE)
        return vs_err_set(e, VS_EINVAL, "driver: queue size %u exceeds %u", o->queue_size,
                          VS_VQ_MAX_SIZE);
    vs_driver *d = calloc(1, sizeof *d);
    if (!d)
        return vs_err_set(e, VS_ENOMEM, "driver: out of memory");
    d->t = t;
    d->gm = t->gm;
    d->o = *o;
    if (!d->o.num_queues)
        d->o.num_queues = 1;
    if (!d->o.pool_bytes)
        d->o.pool_bytes = 4u << 20;
    if (!d->o.poll_interval_ns)
        d->o.poll_interval_ns = 1000;
    if (!d->o.timeout_ns)
        d->o.timeout_ns = UINT64_C(10000000000);
    d->bus = bus;
    d->now = now ? now : wall_now;
    d->now_opaque = now ? now_opaque : NULL;
    const vs_sim_dev *sd = vs_sim_dev_by_id(t->device_id);
    d->pers = sd ? sd->driver : NULL;
    if (!d->o.features)
        d->o.features = d->pers ? d->pers->default_features : VS_BIT(VS_F_VERSION_1);
    /* A request block: the request, its device data, then its segment array. */
    size_t al = _Alignof(max_align_t);
    d->req_dev_off = (sizeof(vs_drv_req) + al - 1) / al * al;
    d->req_seg_off = d->req_dev_off + (d->pers ? d->pers->req_size : 0);
    d->req_seg_off = (d->req_seg_off + _Alignof(vs_seg) - 1) / _Alignof(vs_seg) *
                     _Alignof(vs_seg);
    d->res_size = d->pers && d->pers->result_size ? d->pers->result_size : 1;
    int rc = 0;
    if (!(d->res_overflow = calloc(1, d->res_size)))
        rc = vs_err_set(e, VS_ENOMEM, "driver: out of memory");
    else if (d->pers && d->pers->state_create)
        rc = d->pers->state_create(d, &d->state, e);
    if (rc < 0) {
        free(d->res_overflow);
        free(d);
        return rc;
    }
    t->irq_mode = d->o.irq_mode;
    t->irq_fn = drv_irq;
    t->irq_opaque = d;
    *out = d;
    return 0;
}

static void drop_queues(vs_driver *d);

static void spare_drop(vs_driver *d);

void vs_driver_destroy(vs_driver *d)
{
    if (!d)
        return;
    drop_queues(d);
    vs__drv_pool_destroy(d);
    if (d->pers && d->pers->state_free)
        d->pers->state_free(d, d->state);
    spare_drop(d);
    free(d->res);
    free(d->res_overflow);
    if (d->t->irq_opaque == d) {
        d->t->irq_fn = NULL;
        d->t->irq_opaque = NULL;
    }
    free(d);
}

/* Gives up on the device (spec 3.1.1: SHOULD set FAILED). Keeps the original error. */
static int fail(vs_driver *d, int rc, vs_err *e)
{
    vs_err ignore;
    vs_err_clear(&ignore);
    vs_driver_set_status(d, VS_STATUS_FAILED, &ignore);
    (void)e;
    return rc;
}

/* ------------------------------------------------------------------ queues */

/* A request dropped without completion. */
static void req_abort(vs_driver *d, vs_drv_req *rq)
{
    if (d->pers && d->pers->abort)
        d->pers->abort(d, rq);
    d->c.aborted++;
    vs__drv_req_free(d, rq);
}

static void free_req_list(vs_driver *d)
{
    while (d->live)
        req_abort(d, d->live);
}

static void drop_queues(vs_driver *d)
{
    free_req_list(d);
    for (unsigned i = 0; i < VS_DRV_MAX_QUEUES; i++) {
        vs_drv_queue *q = &d->q[i];
        if (q->vq)
            vs_vq_drv_destroy(q->vq);
        if (q->have_layout)
            vs_vq_layout_free(d->gm, &q->layout, NULL);
        if (q->have_old_layout)
            vs_vq_layout_free(d->gm, &q->old_layout, NULL);
        memset(q, 0, sizeof *q);
    }
    d->nq = 0;
}

/* ------------------------------------------------------------------ initialisation */

static int do_reset(vs_driver *d, vs_err *e)
{
    emit_simple(d, VS_EV_RESET, -1, 0);
    int rc = d->t->ops->reset(d->t, e);
    if (rc < 0)
        return vs_err_prefix(e, "driver: reset");
    d->status = 0;
    d->needs_reset = false;
    d->config_pending = false;
    d->isr_pending = false;
    /* The driver must wait for a read of device_status to return 0 (4.1.4.3.2). */
    if (vs__drv_mut(d, VS_DRV_MUT_NO_RESET_WAIT))
        return 0;
    for (int i = 0; i < RESET_POLLS; i++) {
        uint8_t s;
        rc = vs_driver_read_status(d, &s, e);
        if (rc < 0)
            return rc;
        if (s == 0) {
            d->needs_reset = false;
            return 0;
        }
        rc = d->t->ops->wait(d->t, d->o.poll_interval_ns, e);
        if (rc < 0)
            return vs_err_prefix(e, "driver: waiting for reset");
    }
    return vs_err_set(e, VS_ETIMEDOUT, "driver: device status not 0 after reset (%d reads)",
                      RESET_POLLS);
}

int vs_driver_reset(vs_driver *d, vs_err *e)
{
    drop_queues(d);
    d->features = 0;
    return do_reset(d, e);
}

static int config_early(vs_driver *d, uint64_t offered, bool features_ok, vs_err *e)
{
    if (!d->pers || !d->pers->read_config_early)
        return 0;
    return d->pers->read_config_early(d, offered, features_ok, e);
}

/* ACKNOWLEDGE, then DRIVER (or what a driver mutant does instead). */
static int status_steps(vs_driver *d, vs_err *e)
{
    int rc;
    if (vs__drv_mut(d, VS_DRV_MUT_FAILED_NO_RESET)) {
        /* gives up, then starts over with ACKNOWLEDGE instead of a reset */
        if ((rc = vs_driver_write_status_raw(d, VS_STATUS_FAILED, e)) < 0)
            return rc;
        d->status = 0;
    }
    uint8_t first = vs__drv_mut(d, VS_DRV_MUT_DRIVER_BEFORE_ACK) ? VS_STATUS_DRIVER
                                                          : VS_STATUS_ACKNOWLEDGE;
    if ((rc = vs_driver_set_status(d, first, e)) < 0)
        return rc;
    return vs_driver_set_status(d, VS_STATUS_ACKNOWLEDGE | VS_STATUS_DRIVER, e);
}

/* Bits of f the driver has no name for (undefined for this device type). */
static uint64_t unnamed_bits(const vs_driver *d, uint64_t f)
{
    uint64_t u = 0;
    for (unsigned b = 0; b < 64; b++)
        if (((f >> b) & 1) && !vs_feature_name(d->t->device_id, b))
            u |= VS_BIT(b);
    return u;
}

/* The features a driver mutant writes instead of neg. */
static uint64_t mutate_features(const vs_driver *d, uint64_t neg, uint64_t offered)
{
    if (vs__drv_mut(d, VS_DRV_MUT_UNOFFERED_FEATURE) && !(offered & VS_BIT(VS_F_RING_RESET)))
        neg |= VS_BIT(VS_F_RING_RESET);
    if (vs__drv_mut(d, VS_DRV_MUT_RESERVED_FEATURE))
        neg |= VS_BIT(45);
    if (vs__drv_mut(d, VS_DRV_MUT_DECLINE_VERSION_1))
        neg &= ~VS_BIT(VS_F_VERSION_1);
    if (vs__drv_mut(d, VS_DRV_MUT_INDIRECT_UNNEGOTIATED))
        neg &= ~VS_BIT(VS_F_INDIRECT_DESC);
    if (vs__drv_mut(d, VS_DRV_MUT_DECLINE_RECOMMENDED))
        neg &= ~(VS_BIT(VS_F_ACCESS_PLATFORM) | VS_BIT(VS_F_ORDER_PLATFORM) |
                 VS_BIT(VS_F_NOTIF_CONFIG_DATA));
    if (vs__drv_mut(d, VS_DRV_MUT_ACCEPT_UNKNOWN))
        neg |= unnamed_bits(d, offered);
    if (vs__drv_mut(d, VS_DRV_MUT_ACCEPT_SR_IOV))
        neg |= offered & VS_BIT(VS_F_SR_IOV);
    return neg;
}

/* Before FEATURES_OK: a config write, which no driver may make yet (a mutant). */
static int config_write_early(vs_driver *d, vs_err *e)
{
    uint8_t b;
    int rc = vs_driver_config_read(d, 0, &b, 1, e);
    return rc < 0 ? rc : vs_driver_config_write(d, 0, &b, 1, e);
}

int vs_driver_negotiate(vs_driver *d, vs_err *e)
{
    drop_queues(d);
    int rc = do_reset(d, e);
    if (rc < 0)
        return rc;
    if ((rc = status_steps(d, e)) < 0)
        return fail(d, rc, e);
    uint64_t offered;
    if ((rc = vs_driver_read_features(d, &offered, e)) < 0)
        return fail(d, rc, e);
    if (vs__drv_mut(d, VS_DRV_MUT_GIVE_UP_UNKNOWN) && unnamed_bits(d, offered))
        return fail(d, vs_err_set(e, VS_ENOTSUP, "driver: offer 0x%016llx holds bits it does "
                                  "not know", (unsigned long long)offered), e);
    if (!(offered & VS_BIT(VS_F_VERSION_1)) && !vs__drv_mut(d, VS_DRV_MUT_NO_V1_GOES_ON))
        return fail(d, vs_err_set(e, VS_ENOTSUP,
                                  "driver: device does not offer VIRTIO_F_VERSION_1 "
                                  "(legacy devices are not supported)"), e);
    if ((rc = config_early(d, offered, false, e)) < 0)
        return fail(d, rc, e);
    uint64_t want = d->o.features | VS_BIT(VS_F_VERSION_1);
    if (vs__drv_mut(d, VS_DRV_MUT_DECLINE_RECOMMENDED))
        d->o.ring = VS_RING_SPLIT; /* ... RING_PACKED too: it falls back to split rings */
    if (d->o.ring == VS_RING_SPLIT)
        want &= ~VS_BIT(VS_F_RING_PACKED);
    uint64_t neg = want & offered;
    if (d->o.ring == VS_RING_PACKED && !(neg & VS_BIT(VS_F_RING_PACKED)))
        return fail(d, vs_err_set(e, VS_ENOTSUP,
                                  "driver: packed ring requested but VIRTIO_F_RING_PACKED is "
                                  "not negotiated (%s)",
                                  offered & VS_BIT(VS_F_RING_PACKED)
                                      ? "not in the driver's accepted features"
                                      : "device does not offer it"), e);
    if (d->o.use_indirect && !(neg & VS_BIT(VS_F_INDIRECT_DESC)))
        return fail(d, vs_err_set(e, VS_ENOTSUP,
                                  "driver: use_indirect requested but "
                                  "VIRTIO_F_INDIRECT_DESC is not negotiated"), e);
    if ((d->o.chain_layout & (VS_DRV_LAYOUT_INDIRECT_WRITE | VS_DRV_LAYOUT_DIRECT_FIRST)) &&
        (!d->o.use_indirect || d->o.ring != VS_RING_SPLIT))
        return fail(d, vs_err_set(e, VS_ENOTSUP,
                                  "driver: indirect chain layouts need a split ring with "
                                  "indirect descriptors"), e);
    if (vs__drv_mut(d, VS_DRV_MUT_CONFIG_WRITE_EARLY) && (rc = config_write_early(d, e)) < 0)
        return fail(d, rc, e);
    if ((rc = vs_driver_write_features_raw(d, mutate_features(d, neg, offered), e)) < 0)
        return fail(d, rc, e);
    if (vs__drv_mut(d, VS_DRV_MUT_INDIRECT_UNNEGOTIATED)) /* ... and uses it all the same */
        d->features |= neg & VS_BIT(VS_F_INDIRECT_DESC);
    if ((rc = vs_driver_set_status(d, VS_STATUS_FEATURES_OK, e)) < 0)
        return fail(d, rc, e);
    uint8_t s;
    if ((rc = vs_driver_read_status(d, &s, e)) < 0)
        return fail(d, rc, e);
    if (!(s & VS_STATUS_FEATURES_OK) && !vs__drv_mut(d, VS_DRV_MUT_ON_AFTER_REFUSAL)) {
        char fb[256];
        vs_features_format(d->t->device_id, neg, fb, sizeof fb);
        return fail(d, vs_err_set(e, VS_EPROTO,
                                  "driver: device refused features %s (FEATURES_OK not set "
                                  "on re-read, status 0x%02x)", fb, s), e);
    }
    /* a device-type bit, so the rings keep working as negotiated */
    uint64_t dev_bits = neg & (VS_BIT(24) - 1);
    if (vs__drv_mut(d, VS_DRV_MUT_FEATURES_AFTER_OK) &&
        (rc = vs_driver_write_features_raw(d, neg & ~(dev_bits & -dev_bits), e)) < 0)
        return fail(d, rc, e);
    if ((rc = config_early(d, offered, true, e)) < 0)
        return fail(d, rc, e);
    return 0;
}

static void note_used_event(vs_driver *d, uint16_t qi);

/* Creates queue i's rings (size 0: the device's maximum) and sets it up. */
static int setup_one(vs_driver *d, uint16_t i, uint32_t want, vs_err *e)
{
    int rc;
    uint32_t vqf = 0;
    if (d->features & VS_BIT(VS_F_EVENT_IDX))
        vqf |= VS_VQ_F_EVENT_IDX;
    if (d->features & VS_BIT(VS_F_INDIRECT_DESC))
        vqf |= VS_VQ_F_INDIRECT;
    if (d->o.mislead_suppression)
        vqf |= VS_VQ_F_MISLEAD_SUPPRESSION;
    if (d->features & VS_BIT(VS_F_IN_ORDER))
        vqf |= VS_VQ_F_IN_ORDER;
    vs_drv_queue *q = &d->q[i];
    uint32_t max = 0;
    if ((rc = d->t->ops->queue_max_size(d->t, i, &max, e)) < 0)
        return vs_err_prefix(e, "driver: queue %u max size", i);
    if (max == 0)
        return vs_err_set(e, VS_EINVAL, "driver: queue %u is not available (max size 0)", i);
    uint32_t size = want ? want : max;
    if (size > max)
        return vs_err_set(e, VS_EINVAL,
                          "driver: queue %u: requested size %u exceeds the device's maximum %u",
                          i, size, max);
    if (d->o.ring == VS_RING_SPLIT && (size & (size - 1)))
        return vs_err_set(e, VS_EINVAL,
                          "driver: queue %u: split ring size %u is not a power of two", i, size);
    if ((rc = vs_vq_layout_alloc(d->gm, d->o.ring, size, &q->layout, e)) < 0)
        return vs_err_prefix(e, "driver: queue %u", i);
    q->have_layout = true;
    /* Indirect tables are preallocated per head: cap them at ~8 MiB per queue so a
     * 32768-entry queue does not need 128 MiB of guest RAM. */
    uint32_t imax = (8u << 20) / (16u * size);
    imax = imax < 16 ? 16 : (imax > 256 ? 256 : imax);
    vs_vq_drv_opts vo = {.queue_index = i, .features = vqf, .indirect_max = (uint16_t)imax};
    if ((rc = vs_vq_drv_create(&q->vq, d->gm, &q->layout, &vo, e)) < 0)
        return vs_err_prefix(e, "driver: queue %u", i);
    if (d->o.ring == VS_RING_SPLIT && vs__drv_mut(d, VS_DRV_MUT_USED_FLAGS_DIRTY))
        vs_gmem_write(d->gm, q->layout.device_gpa, &(uint8_t){0x1}, 1, NULL);
    if (d->o.ring == VS_RING_SPLIT && vs__drv_mut(d, VS_DRV_MUT_AVAIL_FLAGS_RESERVED))
        vs_gmem_write(d->gm, q->layout.driver_gpa, &(uint8_t){0x2}, 1, NULL);
    vs_vq_layout shown = q->layout; /* what the device is given: a mutant's may differ */
    if (d->o.mutations)
        vs__drv_mut_shown_layout(d, &shown);
    q->pub_from = vs_vq_drv_avail_idx(q->vq); /* packed: slot 0 with wrap counter 1 */
    /* a mutant sets a queue up again after its reset with the old avail idx showing */
    bool stale = q->have_old_layout && d->o.ring == VS_RING_SPLIT &&
                 vs__drv_mut(d, VS_DRV_MUT_REENABLE_STALE);
    if (stale)
        vs_gmem_write(d->gm, q->layout.driver_gpa + 2, &(uint8_t){0x20}, 1, NULL);
    vs_event ev = {.kind = VS_EV_QUEUE_SETUP, .queue = i, .val = size, .layout = &shown};
    vs__drv_emit(d, &ev);
    rc = d->t->ops->queue_setup(d->t, i, &shown, e);
    if (stale) /* ... put right once the device has been given the queue */
        vs_gmem_write(d->gm, q->layout.driver_gpa + 2, &(uint8_t){0}, 1, NULL);
    if (rc < 0)
        return vs_err_prefix(e, "driver: queue %u setup", i);
    d->qsize = size;
    q->ue_emitted = false;
    if (d->o.irq_mode == VS_IRQ_POLL) {
        vs_vq_drv_irq_disable(q->vq);
        q->irq_masked = true;
        emit_simple(d, VS_EV_IRQ_MASK, i, 1);
    }
    note_used_event(d, i);
    return 0;
}

int vs_driver_queue_reset(vs_driver *d, uint16_t qi, vs_err *e)
{
    if (!(d->features & VS_BIT(VS_F_RING_RESET)))
        return vs_err_set(e, VS_ENOTSUP, "driver: queue reset needs VIRTIO_F_RING_RESET");
    if (qi >= d->nq || !d->q[qi].vq)
        return vs_err_set(e, VS_EINVAL, "driver: queue %u is not set up (%u queues)", qi, d->nq);
    int rc = d->t->ops->queue_disable(d->t, qi, e);
    if (rc < 0)
        return vs_err_prefix(e, "driver: queue %u reset", qi);
    /* emitted once the reset has completed: from here on the device must leave it alone */
    emit_simple(d, VS_EV_QUEUE_DISABLE, qi, 0);
    for (vs_drv_req *rq = d->live, *next; rq; rq = next) {
        next = rq->next;
        if (rq->q == qi)
            req_abort(d, rq);
    }
    vs_drv_queue *q = &d->q[qi];
    vs_vq_drv_destroy(q->vq);
    q->vq = NULL;
    if (q->have_old_layout)
        vs_vq_layout_free(d->gm, &q->old_layout, NULL);
    q->old_layout = q->layout;
    q->have_old_layout = true;
    q->have_layout = false;
    q->unpublished = 0;
    q->irq_pending = q->irq_masked = q->broken = false;
    return 0;
}

int vs_driver_queue_enable(vs_driver *d, uint16_t qi, uint32_t size, vs_err *e)
{
    if (qi >= d->nq || d->q[qi].vq)
        return vs_err_set(e, VS_EINVAL, "driver: queue %u is not a queue that was reset", qi);
    if (!size)
        size = d->q[qi].old_layout.size;
    return setup_one(d, qi, size, e);
}

int vs_driver_setup_queues(vs_driver *d, vs_err *e)
{
    int rc;
    if (!(d->status & VS_STATUS_FEATURES_OK))
        return vs_err_set(e, VS_ESTATE, "driver: queue setup before FEATURES_OK");
    drop_queues(d);
    uint16_t avail = d->queues_offered;
    if (!(d->o.reuse_setup && d->setup_done)) {
        if (d->pers && d->pers->setup && (rc = d->pers->setup(d, e)) < 0)
            return fail(d, rc, e);
        if ((rc = d->t->ops->num_queues(d->t, &avail, e)) < 0)
            return fail(d, vs_err_prefix(e, "driver: num_queues"), e);
        d->queues_offered = avail;
        d->setup_done = true;
    }
    uint16_t n = d->o.num_queues;
    if (n > avail)
        return fail(d, vs_err_set(e, VS_EINVAL,
                                  "driver: %u queues requested, the device has %u", n, avail), e);
    int mq = d->pers ? d->pers->multiqueue_feature : -1;
    if (mq >= 0 && n > 1 && !(d->features & VS_BIT(mq)))
        return fail(d, vs_err_set(e, VS_ENOTSUP,
                                  "driver: %u queues requested but %s is not negotiated", n,
                                  vs_feature_name(d->t->device_id, (unsigned)mq)), e);
    if ((rc = vs__drv_pool_setup(d, e)) < 0)
        return fail(d, rc, e);
    for (uint16_t i = 0; i < n; i++) {
        if ((rc = setup_one(d, i, d->o.queue_size, e)) < 0)
            return fail(d, rc, e);
        d->nq = (uint16_t)(i + 1);
    }
    return 0;
}

/* Test option fill_before_driver_ok: N reads made available on queue 0 before DRIVER_OK,
 * without a notification (a driver may do that; the device must not use them yet). The
 * driver then lets virtual time pass, so a device that polls its queues would see them. */
static int fill_early(vs_driver *d, vs_err *e)
{
    uint32_t n = d->o.fill_before_driver_ok;
    vs_drv_queue *q = &d->q[0];
    if (!n || !d->nq || !q->vq || !d->pers || !d->pers->fill_early)
        return 0;
    if (d->pers->fill_early(d, n, e) < 0)
        return vs_err_prefix(e, "driver: fill_before_driver_ok");
    vs_vq_drv_publish(q->vq);
    q->unpublished = 0;
    vs_event ev = {.kind = VS_EV_PUBLISH, .queue = 0, .idx = vs_vq_drv_avail_idx(q->vq)};
    vs__drv_emit(d, &ev);
    int rc = d->t->ops->wait(d->t, 20000, e);
    return rc < 0 ? vs_err_prefix(e, "driver: fill_before_driver_ok wait") : 0;
}

int vs_driver_init(vs_driver *d, vs_err *e)
{
    int rc = vs_driver_negotiate(d, e);
    if (rc < 0)
        return rc;
    if ((rc = vs_driver_setup_queues(d, e)) < 0)
        return rc;
    if ((rc = fill_early(d, e)) < 0)
        return fail(d, rc, e);
    if ((d->o.suspend_before_driver_ok || vs__drv_mut(d, VS_DRV_MUT_SUSPEND_BEFORE_DRIVER_OK)) &&
        (d->features & VS_BIT(VS_F_SUSPEND)) &&
        (rc = vs_driver_suspend_early(d, e)) != 0)
        return fail(d, rc < 0 ? rc : vs_err_set(e, VS_EPROTO,
                                                "driver: the device kept SUSPEND written "
                                                "before DRIVER_OK"), e);
    if (vs__drv_mut(d, VS_DRV_MUT_KICK_BEFORE_DRIVER_OK) && d->nq) {
        emit_simple(d, VS_EV_KICK, 0, 0);
        d->c.kicks++;
        if ((rc = d->t->ops->notify(d->t, 0, e)) < 0)
            return fail(d, rc, e);
    }
    if (vs__drv_mut(d, VS_DRV_MUT_STATUS_DROPS_BIT))
        rc = vs_driver_write_status_raw(d, (uint8_t)((d->status | VS_STATUS_DRIVER_OK) &
                                                     ~VS_STATUS_ACKNOWLEDGE), e);
    else
        rc = vs_driver_set_status(d, VS_STATUS_DRIVER_OK, e);
    if (rc < 0)
        return fail(d, rc, e);
    if (d->o.fill_before_driver_ok && d->nq && d->q[0].vq && d->pers &&
        d->pers->fill_early) {
        /* Now tell the device, and let the early reads complete. */
        emit_simple(d, VS_EV_KICK, 0, 0);
        d->c.kicks++;
        if ((rc = d->t->ops->notify(d->t, 0, e)) < 0)
            return rc;
        if ((rc = vs_driver_run(d, 0, e)) < 0)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ state */

uint64_t vs_driver_device_features(const vs_driver *d) { return d->dev_features; }
uint64_t vs_driver_features(const vs_driver *d) { return d->features; }
uint8_t vs_driver_status(const vs_driver *d) { return d->status; }
uint16_t vs_driver_num_queues(const vs_driver *d) { return d->nq; }
uint32_t vs_driver_queue_size(const vs_driver *d) { return d->qsize; }
bool vs_driver_needs_reset(const vs_driver *d) { return d->needs_reset; }

vs_vq_drv *vs_driver_queue(vs_driver *d, uint16_t q)
{
    return q < d->nq ? d->q[q].vq : NULL;
}

bool vs_driver_queue_broken(const vs_driver *d, uint16_t q)
{
    return q < d->nq && d->q[q].broken;
}

unsigned vs_driver_outstanding(const vs_driver *d, int q)
{
    if (q >= 0)
        return q < d->nq ? d->q[q].live : 0;
    unsigned n = 0;
    for (unsigned i = 0; i < d->nq; i++)
        n += d->q[i].live;
    return n;
}

void vs_driver_counters_get(const vs_driver *d, vs_driver_counters *c)
{
    *c = d->c;
}

static const char *const rw_names[] = {"read", "write", "randread", "randwrite", "rw",
                                       "randrw"};

const char *vs_rw_kind_name(vs_rw_kind k)
{
    return (unsigned)k < 6 ? rw_names[k] : "unknown";
}

int vs_rw_kind_parse(const char *s, vs_rw_kind *out, vs_err *e)
{
    for (unsigned i = 0; i < 6; i++)
        if (s && !strcmp(s, rw_names[i])) {
            *out = (vs_rw_kind)i;
            return 0;
        }
    if (s && !strcmp(s, "readwrite")) {
        *out = VS_RW_RW;
        return 0;
    }
    return vs_err_set(e, VS_EINVAL,
                      "unknown rw '%s' (read, write, randread, randwrite, rw, randrw)",
                      s ? s : "(null)");
}

/* ------------------------------------------------------------------ requests */

/* Requests of up to SPARE_SEGS segments (most ordinary requests) get a block with
 * room for SPARE_SEGS, and freed ones are kept for reuse: a calloc/free pair per request
 * was a visible share of the simulator's time. */
#define SPARE_SEGS 4
#if defined(__SANITIZE_ADDRESS__)
#define SPARE_MAX 0 /* under ASan every request is a fresh block: use-after-free stays visible */
#else
#define SPARE_MAX 256
#endif

int vs__drv_req_new(vs_driver *d, uint16_t q, uint32_t nseg, vs_drv_req **out, vs_err *e)
{
    *out = NULL;
    if (q >= d->nq || !d->q[q].vq)
        return vs_err_set(e, VS_EINVAL, "driver: queue %u is not set up (%u queues)", q, d->nq);
    if (d->q[q].broken)
        return vs_err_set(e, VS_ESTATE, "driver: queue %u is broken (invalid used element seen)",
                          q);
    /* One block: the request, its device data, then its segment array (freed with it). */
    size_t segoff = d->req_seg_off;
    uint32_t cap = nseg <= SPARE_SEGS ? SPARE_SEGS : nseg;
    if (cap > (SIZE_MAX - segoff) / sizeof(vs_seg))
        return vs_err_set(e, VS_ENOMEM, "driver: out of memory");
    size_t bytes = segoff + (size_t)cap * sizeof(vs_seg);
    vs_drv_req *rq;
    if (cap == SPARE_SEGS && d->spare) {
        rq = d->spare;
        d->spare = rq->next;
        d->nspare--;
        memset(rq, 0, bytes);
    } else if (!(rq = calloc(1, bytes))) {
        return vs_err_set(e, VS_ENOMEM, "driver: out of memory");
    }
    rq->q = q;
    rq->id = -1;
    rq->nseg = nseg;
    rq->seg = nseg ? (vs_seg *)((char *)rq + segoff) : NULL;
    rq->dev = (char *)rq + d->req_dev_off;
    *out = rq;
    return 0;
}

static void spare_drop(vs_driver *d)
{
    while (d->spare) {
        vs_drv_req *rq = d->spare;
        d->spare = rq->next;
        free(rq);
    }
    d->nspare = 0;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) / a * a;
}

int vs__drv_req_layout(vs_driver *d, vs_drv_req *rq, vs_err *e)
{
    uint64_t bytes = 0;
    for (uint32_t i = 0; i < rq->nseg; i++)
        bytes = align_up(bytes, SEG_ALIGN) + rq->seg[i].len + VS_DRV_GUARD_LEN;
    int rc = vs__drv_pool_alloc(d, bytes, &rq->chunk_gpa, &rq->chunk_units, e);
    if (rc < 0)
        return rc;
    rq->chunk_bytes = bytes;
    /* The chunk is one piece of the pool: one translation, then plain stores. */
    uint8_t *host = vs_gmem_translate(d->gm, rq->chunk_gpa, bytes, VS_GMEM_WRITE, NULL);
    uint64_t pos = 0;
    const uint8_t *guard = guard_pat;
    for (uint32_t i = 0; i < rq->nseg; i++) {
        pos = align_up(pos, SEG_ALIGN);
        rq->seg[i].gpa = rq->chunk_gpa + pos;
        /* Readable segments are written by the request builder. Writable ones are
         * poisoned so stale pool bytes never pass verification; unverified requests
         * poison only the last (status) segment. */
        bool poison = i >= rq->n_out && (rq->poison_first_only ? i == rq->n_out
                                          : i == rq->nseg - 1 || !rq->poison_last_only);
        if (host) {
            if (poison)
                memset(host + pos, VS_DRV_POISON, rq->seg[i].len);
            memcpy(host + pos + rq->seg[i].len, guard, VS_DRV_GUARD_LEN);
        } else if ((poison && (rc = vs_gmem_fill(d->gm, rq->seg[i].gpa, VS_DRV_POISON,
                                          rq->seg[i].len, e)) < 0) ||
            (rc = vs_gmem_write(d->gm, rq->seg[i].gpa + rq->seg[i].len, guard,
                                VS_DRV_GUARD_LEN, e)) < 0) {
            vs__drv_pool_free(d, rq->chunk_gpa, rq->chunk_units);
            rq->chunk_units = 0;
            return vs_err_prefix(e, "driver: buffer setup");
        }
        pos += rq->seg[i].len + VS_DRV_GUARD_LEN;
    }
    return 0;
}

static void live_link(vs_driver *d, vs_drv_req *rq)
{
    rq->prev = NULL;
    rq->next = d->live;
    if (d->live)
        d->live->prev = rq;
    d->live = rq;
    rq->added = true;
    d->q[rq->q].live++;
}

static void live_unlink(vs_driver *d, vs_drv_req *rq)
{
    if (!rq->added)
        return;
    if (rq->prev)
        rq->prev->next = rq->next;
    else
        d->live = rq->next;
    if (rq->next)
        rq->next->prev = rq->prev;
    rq->added = false;
    if (d->q[rq->q].live)
        d->q[rq->q].live--;
}

void vs__drv_req_free(vs_driver *d, vs_drv_req *rq)
{
    if (!rq)
        return;
    live_unlink(d, rq);
    if (rq->chunk_units)
        vs__drv_pool_free(d, rq->chunk_gpa, rq->chunk_units);
    free(rq->ro_copy);
    free(rq->owned);
#if SPARE_MAX > 0
    if (rq->nseg <= SPARE_SEGS && d->nspare < SPARE_MAX) { /* a SPARE_SEGS block */
        rq->next = d->spare;
        d->spare = rq;
        d->nspare++;
        return;
    }
#endif
    free(rq); /* rq->seg lives in the same block */
}

static int snapshot_readable(vs_driver *d, vs_drv_req *rq, vs_err *e)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < rq->n_out; i++)
        total += rq->seg[i].len;
    rq->ro_bytes = total;
    if (!total || d->o.no_readable_copy)
        return 0;
    rq->ro_copy = malloc(total);
    if (!rq->ro_copy)
        return vs_err_set(e, VS_ENOMEM, "driver: out of memory");
    uint64_t pos = 0;
    for (uint32_t i = 0; i < rq->n_out; i++) {
        int rc = vs_gmem_read(d->gm, rq->seg[i].gpa, rq->ro_copy + pos, rq->seg[i].len, e);
        if (rc < 0)
            return rc;
        pos += rq->seg[i].len;
    }
    return 0;
}

/* A notification; with VIRTIO_F_NOTIFICATION_DATA it carries where the driver's ring
 * stands (split: avail idx; packed: next_off | next_wrap << 15) above the queue index. */
static int kick(vs_driver *d, uint16_t q, vs_err *e)
{
    if ((d->features & VS_BIT(VS_F_NOTIFICATION_DATA)) && d->t->ops->notify_data && d->q[q].vq)
        return d->t->ops->notify_data(d->t, q,
                                      q | (uint32_t)vs_vq_drv_avail_idx(d->q[q].vq) << 16, e);
    return d->t->ops->notify(d->t, q, e);
}

int vs__drv_publish_kick(vs_driver *d, uint16_t qi, vs_err *e)
{
    vs_drv_queue *q = &d->q[qi];
    if (!q->unpublished)
        return 0;
    if (d->o.mutations) {
        vs__drv_mut_split_chain(d, qi);
        vs__drv_mut_before_publish(d, qi);
    }
    vs_vq_drv_publish(q->vq);
    q->unpublished = 0;
    if (d->o.mutations)
        vs__drv_mut_packed_list(d, qi, q->pub_from);
    vs_event ev = {.kind = VS_EV_PUBLISH, .queue = qi, .idx = vs_vq_drv_avail_idx(q->vq)};
    vs__drv_emit(d, &ev);
    if (d->o.mutations)
        vs__drv_mut_after_publish(d, qi, q->pub_from);
    q->pub_from = (uint16_t)ev.idx;
    bool needed = vs_vq_drv_kick_needed(q->vq);
    if (vs__drv_mut(d, VS_DRV_MUT_NO_KICK) || vs__drv_mut(d, VS_DRV_MUT_KICK_ALWAYS))
        needed = vs__drv_mut(d, VS_DRV_MUT_KICK_ALWAYS);
    if (needed) {
        d->c.kicks++;
        emit_simple(d, VS_EV_KICK, qi, 0);
        int rc = kick(d, qi, e);
        if (rc < 0)
            return vs_err_prefix(e, "driver: queue %u notify", qi);
    } else {
        d->c.kicks_suppressed++;
        emit_simple(d, VS_EV_KICK_SUPPRESSED, qi, 0);
    }
    return 0;
}

int vs_driver_flush(vs_driver *d, int q, vs_err *e)
{
    for (uint16_t i = 0; i < d->nq; i++) {
        if (q >= 0 && i != q)
            continue;
        int rc = vs__drv_publish_kick(d, i, e);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int vs_driver_notify(vs_driver *d, uint16_t q, vs_err *e)
{
    if (q >= d->nq || !d->q[q].vq)
        return vs_err_set(e, VS_EINVAL, "driver: queue %u is not set up (%u queues)", q, d->nq);
    d->c.kicks++;
    emit_simple(d, VS_EV_KICK, q, 0);
    int rc = kick(d, q, e);
    return rc < 0 ? vs_err_prefix(e, "driver: queue %u notify", q) : 0;
}

int vs__drv_depth_check(vs_driver *d, uint16_t q, vs_err *e)
{
    unsigned limit = d->o.queue_depth;
    if (limit && d->q[q].live >= limit)
        return vs_err_set(e, VS_ENOSPC, "driver: queue %u: queue-depth limit %u reached", q,
                          limit);
    return 0;
}

static unsigned layout_flags(const vs_driver *d)
{
    return (d->o.chain_layout & VS_DRV_LAYOUT_INDIRECT_WRITE ? VS_ADD_INDIRECT_WRITE : 0u) |
           (d->o.chain_layout & VS_DRV_LAYOUT_DIRECT_FIRST ? VS_ADD_DIRECT_FIRST : 0u);
}

/* The chain shapes a driver mutant builds. */
static unsigned mutant_add_flags(const vs_driver *d)
{
    if (!d->o.mutations)
        return 0;
    return (vs__drv_mut(d, VS_DRV_MUT_WRITABLE_FIRST) ? VS_ADD_MUT_WRITABLE_FIRST : 0) |
           (vs__drv_mut(d, VS_DRV_MUT_INDIRECT_NEXT) ? VS_ADD_MUT_INDIRECT_NEXT : 0) |
           (vs__drv_mut(d, VS_DRV_MUT_NESTED_INDIRECT) ? VS_ADD_MUT_NESTED_INDIRECT : 0);
}

int vs__drv_req_commit(vs_driver *d, vs_drv_req *rq, bool indirect, bool defer, vs_err *e)
{
    int rc = vs__drv_depth_check(d, rq->q, e);
    if (rc < 0)
        return rc;
    if ((rc = snapshot_readable(d, rq, e)) < 0)
        return rc;
    vs_drv_queue *q = &d->q[rq->q];
    rc = vs_vq_drv_add(q->vq, rq->seg, rq->n_out, rq->nseg - rq->n_out,
                       (indirect ? VS_ADD_INDIRECT | layout_flags(d) : 0) | mutant_add_flags(d),
                       rq, e);
    if (rc < 0)
        return rc;
    rq->id = rc;
    rq->indirect = indirect;
    rq->submit_ns = vs_driver_now(d);
    live_link(d, rq);
    d->c.submitted++;
    q->unpublished++;
    vs_ev_chain ch = {.seg = rq->seg, .n_out = rq->n_out, .n_in = rq->nseg - rq->n_out,
                      .indirect = indirect};
    vs_event ev = {.kind = VS_EV_AVAIL, .queue = rq->q, .id = (uint32_t)rq->id, .chain = &ch};
    vs__drv_emit(d, &ev);
    if (!defer && (rc = vs__drv_publish_kick(d, rq->q, e)) < 0)
        return rc;  /* the request is live (added); the driver owns it now */
    return rq->id;
}

int vs__drv_add_raw(vs_driver *d, vs_drv_req *rq, const vs_desc *descs, unsigned n,
                    vs_err *e)
{
    vs_drv_queue *q = &d->q[rq->q];
    int rc = vs_vq_drv_add_raw(q->vq, descs, n, rq, e);
    if (rc < 0)
        return rc;
    rq->id = rc;
    rq->fault = true;
    rq->submit_ns = vs_driver_now(d);
    live_link(d, rq);
    d->c.submitted++;
    q->unpublished++;
    vs_seg segs[8];
    unsigned ns = n < 8 ? n : 8;
    for (unsigned i = 0; i < ns; i++) {
        segs[i].gpa = descs[i].addr;
        segs[i].len = descs[i].len;
    }
    vs_ev_chain ch = {.seg = segs, .n_out = ns, .n_in = 0, .raw = true,
                      .indirect = (descs[0].flags & VS_DESC_F_INDIRECT) != 0};
    vs_event ev = {.kind = VS_EV_AVAIL, .queue = rq->q, .id = (uint32_t)rc, .chain = &ch,
                   .text = "fault"};
    vs__drv_emit(d, &ev);
    return rc;
}

/* ------------------------------------------------------------------ guards */

/* Checks rq's guards and readable bytes; returns true if intact, else fills msg. */
static bool req_guard_check(vs_driver *d, vs_drv_req *rq, char *msg, size_t msglen)
{
    uint8_t buf[VS_DRV_GUARD_LEN];
    vs_err ge;
    vs_err_clear(&ge);
    const uint8_t *host =
        rq->chunk_bytes
            ? vs_gmem_translate(d->gm, rq->chunk_gpa, rq->chunk_bytes, VS_GMEM_READ, NULL)
            : NULL;
    for (uint32_t i = 0; i < rq->nseg; i++) {
        uint64_t goff = rq->seg[i].gpa + rq->seg[i].len - rq->chunk_gpa;
        if (host && goff + VS_DRV_GUARD_LEN <= rq->chunk_bytes) {
            if (memcmp(host + goff, guard_pat, VS_DRV_GUARD_LEN) == 0)
                continue;
            memcpy(buf, host + goff, VS_DRV_GUARD_LEN);
        } else if (vs_gmem_read(d->gm, rq->seg[i].gpa + rq->seg[i].len, buf, VS_DRV_GUARD_LEN,
                                &ge) < 0) {
            snprintf(msg, msglen, "queue %u chain %d seg %u: guard unreadable: %.160s", rq->q,
                     rq->id, i, ge.msg);
            return false;
        }
        if (memcmp(buf, guard_pat, VS_DRV_GUARD_LEN) == 0)
            continue;
        for (unsigned k = 0; k < VS_DRV_GUARD_LEN; k++)
            if (buf[k] != vs_drv_guard_byte(k)) {
                snprintf(msg, msglen,
                         "queue %u chain %d seg %u (%s, %u bytes at 0x%llx): guard byte %u "
                         "after the buffer overwritten (0x%02x, expected 0x%02x)",
                         rq->q, rq->id, i, i < rq->n_out ? "readable" : "writable",
                         rq->seg[i].len, (unsigned long long)rq->seg[i].gpa, k, buf[k],
                         vs_drv_guard_byte(k));
                return false;
            }
    }
    uint64_t pos = 0;
    for (uint32_t i = 0; i < rq->n_out && rq->ro_copy; i++) {
        uint8_t tmp[512];
        for (uint32_t off = 0; off < rq->seg[i].len;) {
            uint32_t n = rq->seg[i].len - off < sizeof tmp ? rq->seg[i].len - off
                                                              : (uint32_t)sizeof tmp;
            if (vs_gmem_read(d->gm, rq->seg[i].gpa + off, tmp, n, &ge) < 0) {
                snprintf(msg, msglen, "queue %u chain %d seg %u unreadable: %.160s", rq->q,
                         rq->id, i, ge.msg);
                return false;
            }
            for (uint32_t k = 0; k < n; k++)
                if (tmp[k] != rq->ro_copy[pos + off + k]) {
                    snprintf(msg, msglen,
                             "queue %u chain %d seg %u: device-readable byte %u changed "
                             "(0x%02x, submitted 0x%02x)",
                             rq->q, rq->id, i, off + k, tmp[k], rq->ro_copy[pos + off + k]);
                    return false;
                }
            off += n;
        }
        pos += rq->seg[i].len;
    }
    return true;
}

static void note_guard_violation(vs_driver *d, const char *msg)
{
    d->c.guard_violations++;
    if (!d->guard_bad) {
        d->guard_bad = true;
        snprintf(d->guard_msg, sizeof d->guard_msg, "%s", msg);
    }
}

bool vs_driver_guard_ok(vs_driver *d, vs_err *e)
{
    char msg[VS_ERR_MSG_MAX];
    for (vs_drv_req *rq = d->live; rq; rq = rq->next)
        if (!rq->fault && !req_guard_check(d, rq, msg, sizeof msg))
            note_guard_violation(d, msg);
    if (d->guard_bad) {
        vs_err_set(e, VS_EPROTO, "driver: %s", d->guard_msg);
        return false;
    }
    return true;
}

/* ------------------------------------------------------------------ results */

/* The next slot of the result ring, zeroed, to be filled in place and then queued with
 * vs__drv_result_commit (a blk result is ~450 bytes; copying it through a local showed in
 * the simulator's per-request cost). When the ring cannot grow, a scratch slot: the
 * result is still passed to on_result, then dropped (the counters still reflect it). */
void *vs__drv_result_slot(vs_driver *d)
{
    void *r = d->res_overflow;
    if (d->res_n == d->res_cap) {
        size_t ncap = d->res_cap ? d->res_cap * 2 : 64;
        unsigned char *nr = malloc(ncap * d->res_size);
        if (nr) {
            for (size_t i = 0; i < d->res_n; i++)
                memcpy(nr + i * d->res_size, vs__drv_result_at(d, i), d->res_size);
            free(d->res);
            d->res = nr;
            d->res_head = 0;
            d->res_cap = ncap;
        }
    }
    if (d->res_n < d->res_cap)
        r = vs__drv_result_at(d, d->res_n);
    memset(r, 0, d->res_size);
    return d->res_slot = r;
}

void vs__drv_result_commit(vs_driver *d, bool notify)
{
    void *r = d->res_slot;
    if (r != d->res_overflow)
        d->res_n++;
    if (notify && d->o.on_result)
        d->o.on_result(d->o.on_result_opaque, r);
}

void vs__drv_result_push(vs_driver *d, const void *r, bool notify)
{
    memcpy(vs__drv_result_slot(d), r, d->res_size);
    vs__drv_result_commit(d, notify);
}

void vs__drv_result_remove(vs_driver *d, size_t i)
{
    for (size_t j = i; j + 1 < d->res_n; j++)
        memcpy(vs__drv_result_at(d, j), vs__drv_result_at(d, j + 1), d->res_size);
    d->res_n--;
}

int vs_driver_take_result(vs_driver *d, void *out)
{
    if (!d->res_n)
        return 0;
    if (out)
        memcpy(out, vs__drv_result_at(d, 0), d->res_size);
    d->res_head = (d->res_head + 1) % d->res_cap;
    d->res_n--;
    return 1;
}

size_t vs_driver_results_pending(const vs_driver *d)
{
    return d->res_n;
}

/* ------------------------------------------------------------------ completion */

static void complete_one(vs_driver *d, uint16_t qi, const vs_used *u)
{
    vs_drv_req *rq = u->cookie;
    char gmsg[VS_ERR_MSG_MAX];
    vs_drv_done done = {.queue = qi, .id = u->id, .used_len = u->len,
                        .len_valid = u->len_valid, .complete_ns = vs_driver_now(d),
                        .guard_ok = true, .guard_msg = gmsg};
    if (rq && !rq->fault && !req_guard_check(d, rq, gmsg, sizeof gmsg)) {
        done.guard_ok = false;
        note_guard_violation(d, gmsg);
    }
    if (!d->pers) { /* nothing could have been submitted but a stray element */
        if (rq) {
            d->c.completed++;
            vs__drv_req_free(d, rq);
        }
        return;
    }
    d->pers->complete(d, rq, &done, vs__drv_result_slot(d));
    if (rq) {
        d->c.completed++;
        vs__drv_req_free(d, rq);
    }
    vs__drv_result_commit(d, true);
}

/* Split + EVENT_IDX: tell the monitors the used_event value the device can now see
 * (emitted right after the ring wrote it, before anything else runs). */
static void note_used_event(vs_driver *d, uint16_t qi)
{
    vs_drv_queue *q = &d->q[qi];
    if (!d->bus || !d->bus->n || !q->vq || q->layout.format != VS_RING_SPLIT ||
        !(d->features & VS_BIT(VS_F_EVENT_IDX)))
        return;
    uint8_t b[2];
    if (vs_gmem_read(d->gm, q->layout.driver_gpa + 4 + 2ull * q->layout.size, b, 2, NULL) < 0)
        return;
    uint16_t ue = (uint16_t)(b[0] | b[1] << 8);
    if (q->ue_emitted && q->ue_last == ue)
        return;
    q->ue_emitted = true;
    q->ue_last = ue;
    vs_event ev = {.kind = VS_EV_USED_EVENT, .queue = qi, .idx = ue};
    vs__drv_emit(d, &ev);
}

static int collect_queue(vs_driver *d, uint16_t qi, vs_err *e)
{
    vs_drv_queue *q = &d->q[qi];
    if (q->broken || !q->vq)
        return 0;
    int n = 0;
    for (;;) {
        vs_used u;
        vs_err ce;
        vs_err_clear(&ce);
        int rc = vs_vq_drv_collect(q->vq, &u, &ce);
        if (rc == 0) {
            if (q->irq_masked || d->o.irq_mode == VS_IRQ_POLL)
                break;
            /* Re-arm (used_event) and catch elements that raced with it. */
            bool pending = d->o.irq_delayed && vs_vq_drv_outstanding(q->vq) > 1
                               ? vs_vq_drv_irq_enable_delayed(q->vq)
                               : vs_vq_drv_irq_enable(q->vq);
            note_used_event(d, qi);
            if (!pending)
                break;
            continue;
        }
        if (rc < 0) {
            q->broken = true;
            d->c.used_invalid++;
            vs_event ev = {.kind = VS_EV_USED_INVALID, .queue = qi, .id = u.id, .len = u.len,
                           .idx = vs_vq_drv_used_idx(q->vq), .text = ce.msg};
            vs__drv_emit(d, &ev);
            return vs_err_set(e, VS_EPROTO, "driver: queue %u: invalid used element: %s", qi,
                              ce.msg);
        }
        note_used_event(d, qi);
        vs_event ev = {.kind = VS_EV_USED, .queue = qi, .id = u.id, .len = u.len,
                       .idx = vs_vq_drv_used_idx(q->vq), .val = u.len_valid ? 0 : 1};
        vs__drv_emit(d, &ev);
        complete_one(d, qi, &u);
        n++;
    }
    return n;
}

static int handle_isr(vs_driver *d, vs_err *e)
{
    if (!d->isr_pending)
        return 0;
    d->isr_pending = false;
    uint8_t isr = 0;
    int rc = d->t->ops->read_isr(d->t, &isr, e);
    if (rc < 0)
        return vs_err_prefix(e, "driver: ISR read");
    emit_simple(d, VS_EV_ISR_READ, -1, isr);
    if (isr & 1)
        for (unsigned i = 0; i < d->nq; i++)
            d->q[i].irq_pending = true;
    if (isr & 2)
        d->config_pending = true;
    /* A transport that cannot attribute interrupts and has no ISR: check everything. */
    if (isr == 0 && d->t->irq_mode != VS_IRQ_INTX)
        for (unsigned i = 0; i < d->nq; i++)
            d->q[i].irq_pending = true;
    return 0;
}

int vs_driver_poll(vs_driver *d, vs_err *e)
{
    int rc = handle_isr(d, e);
    if (rc < 0)
        return rc;
    if (d->config_pending) {
        d->config_pending = false;
        uint8_t s;
        if ((rc = vs_driver_read_status(d, &s, e)) < 0)
            return rc;
        if (!(s & VS_STATUS_DEVICE_NEEDS_RESET) && (s & VS_STATUS_DRIVER_OK) && d->pers &&
            d->pers->config_changed && (rc = d->pers->config_changed(d, e)) < 0)
            return rc;
    }
    int total = 0;
    int first_err = 0;
    for (uint16_t i = 0; i < d->nq; i++) {
        vs_drv_queue *q = &d->q[i];
        if (d->o.irq_mode != VS_IRQ_POLL && !q->irq_pending)
            continue;
        q->irq_pending = false;
        vs_err qe;
        vs_err_clear(&qe);
        rc = collect_queue(d, i, &qe);
        if (rc == 0 && vs__drv_mut(d, VS_DRV_MUT_FAIL_ON_EMPTY_IRQ) &&
            d->o.irq_mode != VS_IRQ_POLL)
            return fail(d, vs_err_set(e, VS_EPROTO, "driver: queue %u interrupt with nothing "
                                      "to collect", i), e);
        if (rc < 0) {
            if (!first_err) {
                first_err = rc;
                if (e)
                    *e = qe;
            }
            continue;
        }
        total += rc;
    }
    return first_err ? first_err : total;
}

int vs_driver_wait(vs_driver *d, uint64_t timeout_ns, vs_err *e)
{
    uint64_t step = timeout_ns;
    if (d->o.irq_mode == VS_IRQ_POLL && step > d->o.poll_interval_ns)
        step = d->o.poll_interval_ns;
    int rc = d->t->ops->wait(d->t, step, e);
    if (rc < 0)
        return vs_err_prefix(e, "driver: wait");
    return vs_driver_poll(d, e);
}

int vs__drv_wait_some(vs_driver *d, vs_drv_waiter *w, vs_err *e)
{
    if (d->o.stop && *d->o.stop)
        return vs_err_set(e, VS_ESTATE, "driver: interrupted");
    if (d->needs_reset)
        return vs_err_set(e, VS_ESTATE,
                          "driver: device set DEVICE_NEEDS_RESET with %u requests "
                          "outstanding", vs_driver_outstanding(d, -1));
    uint64_t el = vs_driver_now(d) - w->start;
    if (el >= w->timeout_ns) {
        /* Last look at the status: a device that gave up says so there. */
        uint8_t s;
        vs_err se;
        vs_err_clear(&se);
        if (vs_driver_read_status(d, &s, &se) == 0 && d->needs_reset)
            return vs__drv_wait_some(d, w, e);
        if (w->progress)
            return vs_err_set(e, VS_ETIMEDOUT,
                              "driver: no completion for %llu ns with %u requests "
                              "outstanding (the device stopped making progress)",
                              (unsigned long long)el, vs_driver_outstanding(d, -1));
        return vs_err_set(e, VS_ETIMEDOUT,
                          "driver: %u requests still outstanding after %llu ns",
                          vs_driver_outstanding(d, -1), (unsigned long long)el);
    }
    uint64_t before = vs_driver_now(d), irqs = d->c.irqs + d->c.config_irqs;
    uint64_t left = w->timeout_ns - el;
    if (d->o.wait_slice_ns && left > d->o.wait_slice_ns)
        left = d->o.wait_slice_ns;
    int rc = vs_driver_wait(d, left, e);
    if (rc < 0)
        return rc;
    if (rc > 0) {
        w->stall = w->idle = 0;
        return rc;
    }
    if (d->o.irq_mode == VS_IRQ_POLL && ++w->idle % 64 == 0) {
        uint8_t s;
        if ((rc = vs_driver_read_status(d, &s, e)) < 0)
            return rc;
    }
    /* A virtual clock that does not move while nothing happens: the device is idle and
     * will never complete what is outstanding. */
    if (vs_driver_now(d) == before && irqs == d->c.irqs + d->c.config_irqs) {
        if (++w->stall >= 3) {
            uint8_t s;
            vs_err se;
            vs_err_clear(&se);
            if (vs_driver_read_status(d, &s, &se) == 0 && d->needs_reset)
                return vs__drv_wait_some(d, w, e);
            /* Lost-interrupt recovery (like a driver's timeout handler): look at the used
             * rings once. Completions found this way were never announced, and the
             * monitors' interrupt checks say so; the scenario goes on instead of hanging. */
            if (d->o.irq_mode != VS_IRQ_POLL) {
                for (uint16_t i = 0; i < d->nq; i++)
                    d->q[i].irq_pending = true;
                rc = vs_driver_poll(d, e);
                if (rc != 0) {
                    w->stall = 0;
                    return rc;
                }
            }
            return vs_err_set(e, VS_ETIMEDOUT,
                              "driver: %u requests outstanding and the device is idle "
                              "(no interrupt, clock not advancing)",
                              vs_driver_outstanding(d, -1));
        }
    } else {
        w->stall = 0;
    }
    return 0;
}

int vs_driver_run(vs_driver *d, uint64_t timeout_ns, vs_err *e)
{
    vs_drv_waiter w = {.start = vs_driver_now(d),
                       .timeout_ns = timeout_ns ? timeout_ns : d->o.timeout_ns};
    int rc = vs_driver_flush(d, -1, e);
    if (rc < 0)
        return rc;
    if ((rc = vs_driver_poll(d, e)) < 0)
        return rc;
    while (vs_driver_outstanding(d, -1))
        if ((rc = vs__drv_wait_some(d, &w, e)) < 0)
            return rc;
    return 0;
}

