/* How virtio-blk presents itself to each back-end (sim/backend_dev.h): the reference
 * device built from the scenario's `device:` keys, QEMU's virtio-blk-pci with its disk,
 * QEMU's vhost-user-blk-pci, qemu-storage-daemon's vhost-user-blk export, and the device
 * `virtiosim serve --device blk` serves. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/dev/blk/blk_sim_int.h"
#include "virtiosim/blk_qemu.h"
#include "virtiosim/qemu.h"

static int ref_create(vs_run_ctx *c, vs_device **out, vs_err *e)
{
    const blk_scn_opts *d = blk_opts_of(c->s);
    vs_blk_opts bo;
    vs_blk_opts_default(&bo);
    bo.capacity_sectors = d->capacity_sectors;
    bo.image_path = d->image;
    bo.create_image = d->image != NULL;
    bo.read_only = d->read_only;
    bo.num_queues = c->s->num_queues;
    bo.queue_size = c->s->queue_size;
    bo.blk_size = d->blk_size;
    bo.seg_max = d->seg_max;
    bo.size_max = d->size_max;
    bo.writeback = d->writeback;
    bo.flush = d->flush;
    bo.discard = d->discard;
    bo.write_zeroes = d->write_zeroes;
    bo.config_wce = d->config_wce;
    bo.topology = d->topology;
    bo.geometry = d->geometry;
    bo.secure_erase = d->secure_erase;
    bo.lifetime = d->lifetime;
    bo.max_discard_sectors = d->max_discard_sectors;
    bo.max_discard_seg = d->max_discard_seg;
    if (d->max_secure_erase_seg)
        bo.max_secure_erase_seg = d->max_secure_erase_seg;
    bo.discard_sector_alignment = d->discard_sector_alignment;
    bo.max_write_zeroes_sectors = d->max_write_zeroes_sectors;
    bo.max_write_zeroes_seg = d->max_write_zeroes_seg;
    bo.write_zeroes_may_unmap = d->write_zeroes_may_unmap;
    bo.serial = d->serial;
    bo.extra_features |= c->s->extra_features;
    bo.extra_features &= ~c->s->withheld_features;
    bo.zoned.on = d->zoned.on;
    bo.zoned.model = d->zoned.model;
    bo.zoned.zone_sectors = d->zoned.zone_sectors;
    bo.zoned.zone_capacity = d->zoned.zone_capacity;
    bo.zoned.conventional_zones = d->zoned.conventional_zones;
    bo.zoned.max_open_zones = d->zoned.max_open_zones;
    bo.zoned.max_active_zones = d->zoned.max_active_zones;
    bo.zoned.max_append_sectors = d->zoned.max_append_sectors;
    bo.zoned.write_granularity = d->zoned.write_granularity;
    bo.zoned.offer_discard = d->zoned.offer_discard;
    bo.zoned.read_only_zones = d->zoned.read_only_zones;
    bo.zoned.offline_zones = d->zoned.offline_zones;
    if (c->o->mutant) {
        bo.mutations = c->o->mutant->dev_mutations;
        bo.zoned_mutation = c->o->mutant->dev_mutation_value;
    }
    int rc = vs_blk_create(out, c->gm, &bo, e);
    return rc < 0 ? vs_err_prefix(e, "reference virtio-blk") : rc;
}

/* What QEMU's arguments point into, alive until the run ends. */
typedef struct blk_qemu_state {
    int tmp_image_fd;           /* unlinked image for a RAM scenario (-1 none) */
    char tmp_image_path[64];    /* /proc/PID/fd/N: how QEMU opens it */
    vs_qemu_args qargs;
    vs_qemu_blkdebug_rule rules[BLK_MAX_INJECT];
} blk_qemu_state;

/* QEMU gets the disk from a raw file: a RAM scenario gets a temporary image (null-co would
 * discard writes and break read verification). The image never has a name once created:
 * QEMU opens it through our descriptor, so no exit path (SIGKILL included) can leave it
 * behind. */
static int qemu_image(blk_qemu_state *q, const char *image, uint64_t bytes, const char **out,
                      vs_err *e)
{
    if (!image) {
        int fd, rc = vs_qemu_scratch_image(bytes, "img", &fd, q->tmp_image_path,
                                           sizeof q->tmp_image_path, e);
        if (rc < 0)
            return rc;
        q->tmp_image_fd = fd;
        image = q->tmp_image_path;
    } else if (access(image, F_OK) != 0) {
        int fd = open(image, O_RDWR | O_CREAT, 0644);
        if (fd < 0 || ftruncate(fd, (off_t)bytes) < 0) {
            int err = errno;
            if (fd >= 0)
                close(fd);
            return vs_err_set(e, VS_EIO, "image %s: %s", image, strerror(err));
        }
        close(fd);
    }
    *out = image;
    return 0;
}

static int qemu_args(vs_run_ctx *c, const char *const **argv, vs_err *e)
{
    const blk_scn_opts *d = blk_opts_of(c->s);
    blk_qemu_state *q = calloc(1, sizeof *q);
    if (!q)
        return vs_err_set(e, VS_ENOMEM, "out of memory");
    q->tmp_image_fd = -1;
    c->be_state = q;
    uint64_t bytes = d->capacity_sectors * VS_BLK_SECTOR;
    const char *image = NULL;
    int rc;
    bool scratch = !d->image && c->qemu_reuse; /* zeroed for every scenario, QEMU may stay */
    if (scratch) {
        rc = vs_qemu_reuse_scratch(bytes, q->tmp_image_path, sizeof q->tmp_image_path, e);
        image = q->tmp_image_path;
    } else {
        rc = qemu_image(q, d->image, bytes, &image, e);
    }
    if (rc < 0)
        return rc;
    vs_qemu_blk_params p;
    vs_qemu_blk_params_default(&p);
    p.capacity = bytes;
    p.image = image;
    p.io_uring = vs_qemu_io_uring_usable();
    p.unlocked = scratch;
    p.read_only = d->read_only;
    p.num_queues = c->s->num_queues;
    p.queue_size = (uint16_t)c->s->queue_size;
    p.packed = true;    /* offered; the scenario's driver decides what it negotiates */
    p.event_idx = true;
    p.indirect_desc = true;
    p.serial = d->serial;
    p.discard = d->discard;
    p.write_zeroes = d->write_zeroes;
    /* `extra_features: [IN_ORDER]` asks QEMU for its in_order=on (the bit it offers then) */
    p.in_order = ((c->s->extra_features & ~c->s->withheld_features) >> VS_F_IN_ORDER) & 1;
    for (unsigned i = 0; i < d->n_inject && i < BLK_MAX_INJECT; i++) {
        q->rules[i] = (vs_qemu_blkdebug_rule){
            .event = d->inject[i].write ? VS_QEMU_BLKDBG_WRITE_AIO : VS_QEMU_BLKDBG_READ_AIO,
            .sector = (int64_t)d->inject[i].sector,
            .err_no = EIO,
            .once = d->inject[i].once,
        };
    }
    p.rules = q->rules;
    p.n_rules = d->n_inject;
    rc = vs_qemu_blk_args(&p, &q->qargs, e);
    if (rc < 0)
        return rc;
    *argv = q->qargs.argv;
    return 0;
}

static void teardown(vs_run_ctx *c)
{
    blk_qemu_state *q = c->be_state;
    if (q && q->tmp_image_fd >= 0)
        close(q->tmp_image_fd);
    free(q);
    c->be_state = NULL;
}

static void qemu_vhost_user_device(const vs_run_ctx *c, const char *chardev, char *buf,
                                   size_t n)
{
    snprintf(buf, n, "vhost-user-blk-pci,disable-legacy=on,chardev=%s,num-queues=%u", chardev,
             c->s->num_queues);
}

static int qsd_start(vs_run_ctx *c, vs_qsd **out, vs_err *e)
{
    const blk_scn_opts *d = blk_opts_of(c->s);
    vs_qsd_opts qo;
    vs_qsd_opts_default(&qo);
    qo.size = d->capacity_sectors * VS_BLK_SECTOR;
    qo.image = d->image;
    qo.read_only = d->read_only;
    qo.num_queues = c->s->num_queues;
    return vs_qsd_start(&qo, out, e);
}

/* I/O errors are injected below QEMU's device (blkdebug): nowhere else. */
static const char *skip(const vs_scenario *s, unsigned caps)
{
    if (!(caps & VS_BE_QEMU) && blk_opts_of(s)->n_inject)
        return "I/O error injection needs --backend qemu";
    return NULL;
}

static int serve_create(vs_gmem *gm, const vs_serve_opts *o, vs_device **out, vs_err *e)
{
    vs_blk_opts bo;
    vs_blk_opts_default(&bo);
    bo.capacity_sectors = o->capacity / VS_BLK_SECTOR;
    bo.image_path = o->image;
    bo.create_image = o->image != NULL;
    bo.ram_shared = o->image ? NULL : o->storage;
    bo.read_only = o->read_only;
    bo.num_queues = o->queues;
    bo.queue_size = 1024;
    bo.seg_max = o->seg_max ? o->seg_max : VS_SERVE_SEG_MAX_DEFAULT;
    bo.size_max = o->size_max;
    return vs_blk_create(out, gm, &bo, e);
}

const struct vs_backend_present vs_blk_backends = {
    .ref_create = ref_create,
    .qemu_args = qemu_args,
    .qemu_vhost_user_device = qemu_vhost_user_device,
    .qsd_start = qsd_start,
    .teardown = teardown,
    .skip = skip,
    .serve_create = serve_create,
    .serve_what = "virtio-blk",
    .guest = &vs_blk_guest,
};
