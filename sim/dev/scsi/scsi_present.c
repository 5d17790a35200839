/* How virtio-scsi presents itself to each back-end (sim/backend_dev.h): the reference
 * device built from the scenario's `device:` keys (ref and pci), QEMU's virtio-scsi-pci
 * with one scsi-hd (or scsi-cd) per LUN on a raw-file, null-co or blkdebug blockdev, and
 * why a scenario cannot run on a back-end. Also the host side the event steps use
 * (hot-plug, capacity, held commands): the reference device's host API. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/dev/scsi/scsi_steps_int.h"
#include "sim/backend_dev.h"
#include "virtiosim/qemu.h"
#include "virtiosim/qmp.h"

static void lun_opts(const scsi_lun_opt *l, vs_scsi_lun_opts *lo)
{
    *lo = (vs_scsi_lun_opts){
        .target = l->target, .lun = l->lun,
        .type = l->mmc ? VS_SCSI_TYPE_MMC : VS_SCSI_TYPE_DISK,
        .block_size = l->mmc ? 2048 : l->block_len,
        .blocks = l->bytes / (l->mmc ? 2048 : l->block_len),
        .image_path = l->file, .create_image = l->file != NULL, .read_only = l->read_only,
    };
}

static int ref_create(vs_run_ctx *c, vs_device **out, vs_err *e)
{
    const scsi_scn_opts *o = scsi_opts_of(c->s);
    vs_scsi_opts so;
    vs_scsi_opts_default(&so);
    so.num_queues = o->num_queues;
    so.queue_size = c->s->queue_size;
    so.seg_max = o->seg_max;
    so.max_sectors = o->max_sectors;
    so.cmd_per_lun = o->cmd_per_lun;
    so.max_target = o->max_target;
    so.max_lun = (int32_t)o->max_lun;
    so.inout = o->inout;
    so.hotplug = o->hotplug;
    so.change = o->change;
    so.event_info_size = o->event_info_size;
    /* The device offers the ring format the scenario drives: the runs judge the
     * simulator's driver too, and a driver should accept RING_PACKED when offered. */
    if (!c->s->driver.packed)
        so.extra_features &= ~VS_BIT(VS_F_RING_PACKED);
    so.extra_features |= c->s->extra_features;
    so.nluns = o->nluns;
    for (unsigned i = 0; i < o->nluns; i++)
        lun_opts(&o->lun[i], &so.luns[i]);
    if (c->o->mutant)
        so.mutations = c->o->mutant->dev_mutations;
    int rc = vs_scsi_create(out, c->gm, &so, e);
    return rc < 0 ? vs_err_prefix(e, "reference virtio-scsi") : rc;
}

/* ------------------------------------------------------------------ QEMU state */

_Static_assert(SCSI_SCN_LUNS <= VS_QEMU_SCRATCH_SLOTS, "a scratch image slot for each LUN");

/* What QEMU's arguments point into, alive until the run ends. */
typedef struct scsi_qemu_state {
    int fd[SCSI_SCN_LUNS];             /* unlinked images of RAM LUNs (-1 none) */
    int hp_fd[SCSI_SCN_LUNS];          /* ... of LUNs hot-added through QMP */
    unsigned n_hp;
    char buf[8192];
    size_t used;
    const char *argv[4 * SCSI_SCN_LUNS + 4];
} scsi_qemu_state;

/* ------------------------------------------------------------------ host side */

static int need_ref(vs_run_ctx *c, const char *what, vs_err *e)
{
    if (!c->dev)
        return vs_err_set(e, VS_ENOTSUP, "%s needs the reference device's host side "
                          "(--backend ref)", what);
    return 0;
}

/* QEMU: a LUN hot-added through QMP (blockdev-add over a RAM image, device_add of a
 * scsi-hd) or hot-removed (device_del, then its DEVICE_DELETED). Every LUN's device is
 * named vsl<target>_<lun>, those of the command line too. */
static int qemu_hotplug(vs_run_ctx *c, vs_qmp *qmp, uint8_t target, uint16_t lun, bool remove,
                        uint64_t bytes, vs_err *e)
{
    char id[32];
    snprintf(id, sizeof id, "vsl%u_%u", target, lun);
    int rc;
    if (remove) {
        if ((rc = vs_qmp_executef(qmp, e, "device_del", "{\"id\": \"%s\"}", id)) < 0 ||
            (rc = vs_qmp_wait_event(qmp, "DEVICE_DELETED", "device", id, 5000, NULL, 0, e)) < 0)
            return rc;
        vs_err ignore = {0}; /* a hot-added LUN's node goes too (the command line's stay) */
        vs_qmp_executef(qmp, &ignore, "blockdev-del", "{\"node-name\": \"%s\"}", id);
        return 0;
    }
    scsi_qemu_state *q = c->be_state;
    if (!q || q->n_hp >= SCSI_SCN_LUNS)
        return vs_err_set(e, VS_ENOSPC, "scsi_hotplug: at most %d LUNs hot-added on QEMU",
                          SCSI_SCN_LUNS);
    char path[64];
    if ((rc = vs_qemu_scratch_image(bytes ? bytes : 4u << 20, "scsi", &q->hp_fd[q->n_hp], path,
                                    sizeof path, e)) < 0)
        return rc;
    q->n_hp++;
    if ((rc = vs_qmp_executef(qmp, e, "blockdev-add", "{\"driver\": \"raw\", \"node-name\": "
                              "\"%s\", \"file\": {\"driver\": \"file\", \"filename\": \"%s\"}}",
                              id, path)) < 0)
        return rc;
    return vs_qmp_executef(qmp, e, "device_add", "{\"driver\": \"scsi-hd\", \"id\": \"%s\", "
                           "\"bus\": \"scsi0.0\", \"channel\": 0, \"scsi-id\": %u, "
                           "\"lun\": %u, \"drive\": \"%s\", \"serial\": \"vs-%u-%u\"}", id,
                           target, lun, id, target, lun);
}

/* QEMU: the LUN's block node grows or shrinks (block_resize); QEMU's scsi-disk then
 * reports the change (PARAM_CHANGE with CHANGE, a unit attention). */
static int qemu_capacity(vs_run_ctx *c, vs_qmp *qmp, uint8_t target, uint16_t lun,
                         uint64_t bytes, vs_err *e)
{
    const scsi_scn_opts *o = scsi_opts_of(c->s);
    char node[32];
    snprintf(node, sizeof node, "vsl%u_%u", target, lun);
    for (unsigned i = 0; i < o->nluns; i++) {
        if (o->lun[i].target != target || o->lun[i].lun != lun)
            continue;
        if (o->lun[i].mmc) /* scsi-cd keeps its medium's size: QEMU refuses the resize */
            return vs_err_set(e, VS_ENOTSUP, "QEMU's scsi-cd takes no block_resize");
        snprintf(node, sizeof node, "lun%u", i);
    }
    return vs_qmp_executef(qmp, e, "block_resize", "{\"node-name\": \"%s\", \"size\": %" PRIu64
                           "}", node, bytes);
}

int scsi_host_hotplug(vs_run_ctx *c, uint8_t target, uint16_t lun, bool remove,
                      uint64_t bytes, vs_err *e)
{
    vs_qmp *qmp = c->dev ? NULL : vs_backend_qmp(c);
    if (qmp)
        return qemu_hotplug(c, qmp, target, lun, remove, bytes, e);
    if (scsi_lio_owns(c))
        return scsi_lio_hotplug(c, target, lun, remove, bytes, e);
    int rc = need_ref(c, "scsi_hotplug", e);
    if (rc < 0)
        return rc;
    if (remove)
        return vs_scsi_lun_remove(c->dev, target, lun, e);
    scsi_lun_opt l = {.target = target, .lun = lun, .bytes = bytes ? bytes : 4u << 20,
                      .block_len = 512};
    vs_scsi_lun_opts lo;
    lun_opts(&l, &lo);
    return vs_scsi_lun_add(c->dev, &lo, e);
}

int scsi_host_capacity(vs_run_ctx *c, uint8_t target, uint16_t lun, uint64_t bytes, vs_err *e)
{
    vs_qmp *qmp = c->dev ? NULL : vs_backend_qmp(c);
    if (qmp)
        return qemu_capacity(c, qmp, target, lun, bytes, e);
    int rc = need_ref(c, "scsi_capacity_change", e);
    if (rc < 0)
        return rc;
    const scsi_drv *s = scsi_drv_of(c->d);
    int ix = scsi_lun_find(s, target, lun);
    uint32_t bl = ix >= 0 && s->lun[ix].block_len ? s->lun[ix].block_len : 512;
    return vs_scsi_set_capacity(c->dev, target, lun, bytes / bl, e);
}

int scsi_host_hold(vs_run_ctx *c, uint8_t target, uint16_t lun, uint32_t count, vs_err *e)
{
    int rc = need_ref(c, "scsi_hold", e);
    return rc < 0 ? rc : vs_scsi_hold(c->dev, target, lun, count, e);
}

/* Every LUN of the scenario and every LUN the driver knows: their held commands run. */
int scsi_host_release(vs_run_ctx *c, vs_err *e)
{
    int rc = need_ref(c, "scsi_release", e);
    if (rc < 0)
        return rc;
    const scsi_drv *s = scsi_drv_of(c->d);
    for (unsigned i = 0; i < s->nlun && rc >= 0; i++)
        if (s->lun[i].present)
            rc = vs_scsi_release(c->dev, s->lun[i].target, s->lun[i].lun, e);
    const scsi_scn_opts *o = scsi_opts_of(c->s);
    for (unsigned i = 0; i < o->nluns && rc >= 0; i++)
        if (scsi_lun_find(s, o->lun[i].target, o->lun[i].lun) < 0)
            rc = vs_scsi_release(c->dev, o->lun[i].target, o->lun[i].lun, e);
    return rc;
}

/* ------------------------------------------------------------------ QEMU */

static const char *put(scsi_qemu_state *q, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *put(scsi_qemu_state *q, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(q->buf + q->used, sizeof q->buf - q->used, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof q->buf - q->used)
        return NULL;
    const char *s = q->buf + q->used;
    q->used += (size_t)n + 1;
    return s;
}

/* A RAM LUN gets a temporary raw image that never has a name once QEMU opens it through
 * our descriptor (null-co would drop writes and break read verification). */

/* The blockdev of LUN i: raw file (or a RAM LUN's image), null-co, under blkdebug when
 * errors are injected into it. unlocked: a scratch image parked QEMUs hold open too. */
static const char *blockdev(scsi_qemu_state *q, const scsi_scn_opts *o, unsigned i,
                            const char *file, bool unlocked)
{
    const scsi_lun_opt *l = &o->lun[i];
    char img[600], rules[1024] = "";
    unsigned nr = 0;
    for (unsigned k = 0; k < o->n_inject; k++) {
        if (o->inject[k].lun != i)
            continue;
        size_t at = strlen(rules);
        snprintf(rules + at, sizeof rules - at,
                 ",file.inject-error.%u.event=%s,file.inject-error.%u.errno=5,"
                 "file.inject-error.%u.sector=%" PRIu64 ",file.inject-error.%u.once=%s", nr,
                 o->inject[k].write ? "write_aio" : "read_aio", nr, nr,
                 o->inject[k].lba * (l->block_len / 512), nr, o->inject[k].once ? "on" : "off");
        nr++;
    }
    const char *pfx = nr ? "file.image." : "";
    if (l->null)
        snprintf(img, sizeof img, "%sdriver=null-co,%ssize=%" PRIu64 ",%sread-zeroes=on", pfx,
                 pfx, l->bytes, pfx);
    else
        snprintf(img, sizeof img, "%sdriver=file,%s%s%sfilename=%s", pfx,
                 unlocked ? pfx : "", unlocked ? "locking=off," : "", pfx, file);
    if (nr)
        return put(q, "driver=raw,node-name=lun%u,file.driver=blkdebug%s,%s%s", i, rules, img,
                   l->read_only ? ",read-only=on" : "");
    return put(q, "node-name=lun%u,%s%s", i, img, l->read_only ? ",read-only=on" : "");
}

static int qemu_args(vs_run_ctx *c, const char *const **argv, vs_err *e)
{
    const scsi_scn_opts *o = scsi_opts_of(c->s);
    scsi_qemu_state *q = calloc(1, sizeof *q);
    if (!q)
        return vs_err_set(e, VS_ENOMEM, "out of memory");
    for (unsigned i = 0; i < SCSI_SCN_LUNS; i++)
        q->fd[i] = q->hp_fd[i] = -1;
    c->be_state = q;
    unsigned k = 0;
    q->argv[k++] = "-device";
    q->argv[k++] = put(q, "virtio-scsi-pci,id=scsi0,disable-legacy=on,num_queues=%u,"
                       "virtqueue_size=%u,max_sectors=%u,cmd_per_lun=%u,hotplug=%s,"
                       "param_change=%s,event_idx=on,indirect_desc=on,packed=%s",
                       o->num_queues, c->s->queue_size > 1024 ? 1024 : c->s->queue_size,
                       o->max_sectors, o->cmd_per_lun, o->hotplug ? "on" : "off",
                       o->change ? "on" : "off", c->s->driver.packed ? "on" : "off");
    for (unsigned i = 0; i < o->nluns; i++) {
        const scsi_lun_opt *l = &o->lun[i];
        char path[64];
        const char *file = l->file;
        bool scratch = !file && !l->null && c->qemu_reuse;
        if (!file && !l->null) {
            /* zeroed for every scenario; a scratch file stays, and QEMU may stay */
            int rc = scratch ? vs_qemu_reuse_scratch_at(i, l->bytes, path, sizeof path, e)
                             : vs_qemu_scratch_image(l->bytes, "scsi", &q->fd[i], path,
                                                     sizeof path, e);
            if (rc < 0)
                return rc;
            file = path;
        } else if (file && access(file, F_OK) != 0) {
            int fd = open(file, O_RDWR | O_CREAT, 0644);
            if (fd < 0 || ftruncate(fd, (off_t)l->bytes) < 0) {
                int err = errno;
                if (fd >= 0)
                    close(fd);
                return vs_err_set(e, VS_EIO, "image %s: %s", file, strerror(err));
            }
            close(fd);
        }
        q->argv[k++] = "-blockdev";
        q->argv[k++] = blockdev(q, o, i, file, scratch);
        q->argv[k++] = "-device";
        unsigned bs = l->block_len == 4096 ? 4096 : 512;
        if (l->mmc)
            q->argv[k++] = put(q, "scsi-cd,id=vsl%u_%u,bus=scsi0.0,channel=0,scsi-id=%u,lun=%u,"
                               "drive=lun%u", l->target, l->lun, l->target, l->lun, i);
        else   /* a serial, so VPD page 80h exists as on the reference device */
            q->argv[k++] = put(q, "scsi-hd,id=vsl%u_%u,bus=scsi0.0,channel=0,scsi-id=%u,lun=%u,"
                               "drive=lun%u,serial=vs-%u-%u,logical_block_size=%u,"
                               "physical_block_size=%u", l->target, l->lun, l->target, l->lun,
                               i, l->target, l->lun, bs, bs);
    }
    q->argv[k] = NULL;
    for (unsigned i = 0; i < k; i++)
        if (!q->argv[i])
            return vs_err_set(e, VS_EINVAL, "qemu: scsi arguments too long");
    *argv = q->argv;
    return 0;
}

static void teardown(vs_run_ctx *c)
{
    if (scsi_lio_owns(c)) {
        scsi_lio_teardown(c);
        return;
    }
    scsi_qemu_state *q = c->be_state;
    for (unsigned i = 0; q && i < SCSI_SCN_LUNS; i++) {
        if (q->fd[i] >= 0)
            close(q->fd[i]);
        if (q->hp_fd[i] >= 0)
            close(q->hp_fd[i]);
    }
    free(q);
    c->be_state = NULL;
}

/* ------------------------------------------------------------------ vhost-user */

/* QEMU's vhost-user-scsi-pci in front of a back-end (`--backend qemu-vhost-user:SOCK`):
 * QEMU builds the config space itself from these properties; the rings go to the
 * back-end. */
static void qemu_vhost_user_device(const vs_run_ctx *c, const char *chardev, char *buf,
                                   size_t n)
{
    const scsi_scn_opts *o = scsi_opts_of(c->s);
    snprintf(buf, n, "vhost-user-scsi-pci,disable-legacy=on,chardev=%s,num_queues=%u,"
             "virtqueue_size=%u,max_sectors=%u,cmd_per_lun=%u,hotplug=%s,param_change=%s,"
             "packed=%s", chardev, o->num_queues,
             c->s->queue_size > 1024 ? 1024 : c->s->queue_size, o->max_sectors,
             o->cmd_per_lun, o->hotplug ? "on" : "off", o->change ? "on" : "off",
             c->s->driver.packed ? "on" : "off");
}

/* `virtiosim serve --device scsi`: one disk LUN 0:0 of --capacity (512-byte blocks), in
 * RAM or on --image; --queues request queues. The queues are as large as a front-end may
 * make them (QEMU's virtqueue_size goes up to 1024) and seg_max fits QEMU's default 128
 * (QEMU's vhost-user-scsi-pci presents its own config space anyway). */
static int serve_create(vs_gmem *gm, const vs_serve_opts *o, vs_device **out, vs_err *e)
{
    vs_scsi_opts so;
    vs_scsi_opts_default(&so);
    so.num_queues = o->queues;
    so.queue_size = 1024;
    so.seg_max = o->seg_max ? o->seg_max : VS_SERVE_SEG_MAX_DEFAULT;
    so.nluns = 1;
    so.luns[0] = (vs_scsi_lun_opts){.target = 0, .lun = 0, .type = VS_SCSI_TYPE_DISK,
                                    .block_size = 512, .blocks = o->capacity / 512,
                                    .image_path = o->image, .create_image = o->image != NULL,
                                    .read_only = o->read_only};
    return vs_scsi_create(out, gm, &so, e);
}

/* The LUNs of a served device: one read-write 512-byte disk at 0:0. */
static bool one_plain_lun(const scsi_scn_opts *o)
{
    if (o->nluns != 1)
        return false;
    const scsi_lun_opt *l = &o->lun[0];
    return l->target == 0 && l->lun == 0 && !l->mmc && !l->read_only && !l->file && !l->null &&
           (l->block_len == 0 || l->block_len == 512);
}

/* Holding commands needs the reference device's host API (hot-plug and capacity changes
 * go through QMP on QEMU); errors are injected below QEMU's device only; the driver-role
 * mutations and the reference device's options beyond QEMU's properties stay in-process. */
static const char *skip(const vs_scenario *s, unsigned caps)
{
    const scsi_scn_opts *o = scsi_opts_of(s);
    if (!(caps & VS_BE_QEMU) && o->n_inject)
        return "I/O error injection needs --backend qemu";
    if (!(caps & VS_BE_REAL))
        return NULL;
    const char *lio = caps & VS_BE_KERNEL ? scsi_lio_unsupported(s) : NULL;
    if (lio)
        return lio;
    bool served = (caps & VS_BE_EXTERNAL) && (caps & VS_BE_QEMU);
    if (served && !one_plain_lun(o))
        return "a served device (virtiosim serve --device scsi) has one read-write disk LUN "
               "0:0 with 512-byte blocks";
    if (served && o->event_info_size != VS_SCSI_EVENT_BYTES)
        return "QEMU's vhost-user-scsi-pci has no event_info_size property (it presents 16)";
    if ((caps & VS_BE_QEMU) && o->event_info_size != VS_SCSI_EVENT_BYTES)
        return "QEMU's virtio-scsi-pci has no event_info_size property (it presents 16)";
    if ((caps & VS_BE_QEMU) && o->nluns > 3)
        return "QEMU takes 16 device arguments: a controller and at most 3 LUNs";
    /* A finding, not a gap of ours: hw/scsi/vhost-scsi-common.c's set_config ends QEMU
     * (exit 1, "vhost-scsi does not support changing the sense data and CDB sizes") on a
     * legal write of either field; the run could only end in an error. */
    bool sizes = o->sense_size != VS_SCSI_SENSE_SIZE_DEFAULT ||
                 o->cdb_size != VS_SCSI_CDB_SIZE_DEFAULT;
    for (unsigned i = 0; served && i < s->nsteps; i++)
        sizes |= s->steps[i].type == &scsi_step_config_write;
    if (served && sizes)
        return "QEMU's vhost-user-scsi-pci exits when the driver writes sense_size or "
               "cdb_size (vhost_scsi_common_set_config: \"vhost-scsi does not support "
               "changing the sense data and CDB sizes\"); see the expected file";
    for (unsigned i = 0; i < s->nsteps; i++) {
        const vs_step_type *t = s->steps[i].type;
        if (t == &scsi_step_hold || t == &scsi_step_release)
            return "holding commands needs the reference device's host API";
        const scsi_step *st = s->steps[i].dev;
        if (served && t == &scsi_step_command && st->x.has_asc && st->x.asc == 0x21)
            return "LOGICAL BLOCK ADDRESS OUT OF RANGE depends on the LUN's size, which the "
                   "served device takes from serve --capacity, not from the scenario";
        if (t == &scsi_step_capacity_change && (caps & VS_BE_KERNEL))
            return "LIO's fileio backstore keeps the size it was configured with";
        if ((t == &scsi_step_hotplug || t == &scsi_step_capacity_change) &&
            (!(caps & (VS_BE_QEMU | VS_BE_KERNEL)) || served))
            return "hot-plug and capacity changes need the reference device, QEMU's own "
                   "virtio-scsi-pci (QMP) or the kernel's vhost-scsi (configfs)";
    }
    return NULL;
}

extern const struct vs_guest_present vs_scsi_guest; /* scsi_guest.c */

const struct vs_backend_present vs_scsi_backends = {
    .ref_create = ref_create,
    .qemu_args = qemu_args,
    .qemu_vhost_user_device = qemu_vhost_user_device,
    .teardown = teardown,
    .skip = skip,
    .vhost_kernel = scsi_vhost_kernel,
    .vhost_kernel_dev = "/dev/vhost-scsi",
    .serve_create = serve_create,
    .serve_what = "virtio-scsi",
    .serve_completions = true,
    .guest = &vs_scsi_guest,
};
