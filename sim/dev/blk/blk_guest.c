/* How virtio-blk presents itself to `--backend guest` (sim/guest.c): Linux's virtio_blk in
 * a test guest drives the reference device through QEMU's vhost-user-blk-pci. The
 * scenario's steps become the guest helper's workload (guest-image/vsguest.c: `w`, `r`,
 * `d`, `z`, `f`, `p` ops on the kernel command line); the device gets segment limits that
 * fit the queue QEMU gives the guest. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sim/dev/blk/blk_sim_int.h"

/* One step as vsguest ops; 1 with why when the guest cannot express it. */
static int step_ops(const vs_scenario *s, const vs_step *t, char *buf, size_t n, size_t *used,
                    char *why, size_t wn)
{
    const char *name = t->type->name;
    const blk_step *b = t->dev;
    const char *sep = *used ? "," : "";
    /* `sector: end-N`: the guest's disk is the scenario's own */
    uint64_t cap = blk_opts_of(s)->capacity_sectors;
    const blk_step *rq = blk_step_of(t);
    uint64_t sector = !rq ? 0 : !rq->from_end ? rq->sector
                    : rq->sector <= cap ? cap - rq->sector : 0;
    if (strcmp(name, "init") == 0)
        return 0; /* the guest's kernel initializes the device itself */
    if (strcmp(name, "write") == 0)
        return vs_guest_put(buf, n, used, "%sw:%" PRIu64 ":%u:%u", sep, sector, b->count, b->pattern);
    if (strcmp(name, "read") == 0)
        return vs_guest_put(buf, n, used, "%sr:%" PRIu64 ":%u", sep, sector, b->count);
    /* the guest's kernel chooses its own range segments */
    if (strcmp(name, "discard") == 0 && b->segments <= 1)
        return vs_guest_put(buf, n, used, "%sd:%" PRIu64 ":%u", sep, sector, b->count);
    if (strcmp(name, "write_zeroes") == 0 && b->segments <= 1)
        return vs_guest_put(buf, n, used, "%sz:%" PRIu64 ":%u", sep, sector, b->count);
    if (strcmp(name, "flush") == 0)
        return vs_guest_put(buf, n, used, "%sf", sep);
    if (strcmp(name, "workload") == 0 && b->wl.rw == VS_RW_RANDREAD && b->wl.bs % VS_BLK_SECTOR == 0) {
        /* iodepth parallel readers, number_ios reads in all */
        uint32_t readers = b->wl.iodepth ? b->wl.iodepth : 1;
        uint64_t each = (b->wl.number_ios + readers - 1) / readers;
        return vs_guest_put(buf, n, used, "%sp:%u:%" PRIu64 ":%u", sep, readers, each,
                   b->wl.bs / VS_BLK_SECTOR);
    }
    snprintf(why, wn, "line %u: step '%s' has no equivalent in the guest's workload (write, "
             "read, discard, write_zeroes, flush, workload rw: randread)", t->line, name);
    return 1;
}

/* The scenario's device, with seg_max (when the scenario sets none) such that a request
 * of seg_max data segments plus header and status fits the guest's queue. */
static int guest_create(const vs_scenario *s, vs_gmem *gm, uint16_t fe_queue_size,
                        vs_device **out, vs_err *e)
{
    blk_scn_opts o = *blk_opts_of(s);
    if (!o.seg_max)
        o.seg_max = fe_queue_size > 2 ? fe_queue_size - 2u : 1u;
    return vs_guest_ref_create(s, &o, fe_queue_size, gm, vs_blk_backends.ref_create, out, e);
}

static void guest_device(const vs_scenario *s, const char *chardev, uint16_t queue_size,
                         char *buf, size_t n)
{
    snprintf(buf, n, "vhost-user-blk-pci,disable-legacy=on,chardev=%s,num-queues=%u,"
             "queue-size=%u", chardev, s->num_queues, queue_size);
}

const struct vs_guest_present vs_blk_guest = {
    .step = step_ops,
    .create = guest_create,
    .device = guest_device,
    .default_queue_size = 128, /* QEMU's vhost-user-blk-pci queue-size */
};
