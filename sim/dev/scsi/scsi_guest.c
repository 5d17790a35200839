/* How virtio-scsi presents itself to `--backend guest` (sim/guest.c): Linux's virtio_scsi
 * in a test guest drives the reference device through QEMU's vhost-user-scsi-pci. The
 * guest loads virtio_scsi and sd_mod (vsmods=scsi), scans the bus itself and runs the
 * workload on the first disk (/dev/sda) with guest-image/vsguest.c: `s` (wait for the LUN
 * scan), `i` / `c` / `t` (INQUIRY, READ CAPACITY (16), TEST UNIT READY over SG_IO), and the
 * block ops `w`, `r`, `d` (BLKDISCARD: UNMAP), `f` (fsync: SYNCHRONIZE CACHE), `p`, and
 * `h:ADD:T:L`: vsguest asks the host for a LUN hot-add or hot-remove ("vsguest: host
 * hotplug add|remove T L" on the console), the reference device raises its event, and
 * vsguest watches the LUN come or go in /sys/class/scsi_device. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/dev/scsi/scsi_steps_int.h"
#include "sim/backend_dev.h"

/* 512-byte sectors per block of the LUN the guest's /dev/sda is (the scenario's 0:0). */
static uint32_t sectors_per_block(const vs_scenario *s)
{
    const scsi_scn_opts *o = scsi_opts_of(s);
    for (unsigned i = 0; i < o->nluns; i++)
        if (o->lun[i].target == 0 && o->lun[i].lun == 0)
            return o->lun[i].block_len / 512;
    return 1;
}

/* A scsi_command step as vsguest ops; 1 when Linux's block layer has no way to send it. */
static int command_ops(const vs_scenario *s, const scsi_step *c, char *buf, size_t n,
                       size_t *used, const char *sep)
{
    uint64_t k = sectors_per_block(s);
    switch (c->cdb_op) {
    case VS_SCSI_INQUIRY: return vs_guest_put(buf, n, used, "%si", sep);
    case VS_SCSI_READ_CAPACITY_10:
    case VS_SCSI_SERVICE_ACTION_IN_16: return vs_guest_put(buf, n, used, "%sc", sep);
    case VS_SCSI_TEST_UNIT_READY: return vs_guest_put(buf, n, used, "%st", sep);
    case VS_SCSI_WRITE_10:
    case VS_SCSI_WRITE_16:
        return vs_guest_put(buf, n, used, "%sw:%" PRIu64 ":%" PRIu64 ":%u", sep, c->lba * k,
                   c->blocks * k, c->pattern);
    case VS_SCSI_READ_10:
    case VS_SCSI_READ_16:
        return vs_guest_put(buf, n, used, "%sr:%" PRIu64 ":%" PRIu64, sep, c->lba * k, c->blocks * k);
    case VS_SCSI_UNMAP:
        return vs_guest_put(buf, n, used, "%sd:%" PRIu64 ":%" PRIu64, sep, c->lba * k, c->blocks * k);
    case VS_SCSI_SYNCHRONIZE_CACHE_10:
    case VS_SCSI_SYNCHRONIZE_CACHE_16: return vs_guest_put(buf, n, used, "%sf", sep);
    }
    return 1;
}

/* One step as vsguest ops; 1 with why when the guest cannot express it. */
static int step_ops(const vs_scenario *s, const vs_step *t, char *buf, size_t n, size_t *used,
                    char *why, size_t wn)
{
    const vs_step_type *ty = t->type;
    const scsi_step *c = t->dev;
    const char *sep = *used ? "," : "";
    int rc = 1;
    if (strcmp(ty->name, "init") == 0)
        return 0; /* the guest's kernel initializes the device itself */
    if (ty == &scsi_step_scan)
        rc = vs_guest_put(buf, n, used, "%ss:%d", sep, c->expect_luns < 0 ? 1 : c->expect_luns);
    else if (ty == &scsi_step_command && c->cdb_op >= 0 && c->target == 0 && c->lun == 0 &&
             !c->x.has_status && !c->x.has_response)
        rc = command_ops(s, c, buf, n, used, sep);
    else if (ty == &scsi_step_workload && c->wl.rw == VS_RW_RANDREAD && c->wl.bs % 512 == 0) {
        uint32_t readers = c->wl.iodepth ? c->wl.iodepth : 1;
        uint64_t each = (c->wl.number_ios + readers - 1) / readers;
        rc = vs_guest_put(buf, n, used, "%sp:%u:%" PRIu64 ":%u", sep, readers, each, c->wl.bs / 512);
    } else if (ty == &scsi_step_hotplug && !c->nev && !c->expect_no_event) {
        rc = vs_guest_put(buf, n, used, "%sh:%d:%u:%u", sep, !c->remove, c->target, c->lun);
    }
    if (rc > 0)
        snprintf(why, wn, "line %u: step '%s' has no equivalent in the guest's workload "
                 "(scsi_scan; scsi_command inquiry, read_capacity, test_unit_ready, read, "
                 "write, unmap, synchronize_cache on LUN 0:0 without expectations; "
                 "scsi_workload rw: randread; scsi_hotplug without expect_events)", t->line,
                 ty->name);
    return rc;
}

/* The scenario's device with seg_max (unless set) fitting the queue the guest gets: a
 * command's data segments plus its header and response in one chain. */
static int guest_create(const vs_scenario *s, vs_gmem *gm, uint16_t fe_queue_size,
                        vs_device **out, vs_err *e)
{
    scsi_scn_opts o = *scsi_opts_of(s);
    if (!o.seg_max)
        o.seg_max = fe_queue_size > 2 ? fe_queue_size - 2u : 1u;
    return vs_guest_ref_create(s, &o, fe_queue_size, gm, vs_scsi_backends.ref_create, out, e);
}

/* QEMU presents its own config space (num_queues, seg_max = virtqueue_size - 2,
 * max_sectors, cmd_per_lun) from these properties. */
static void guest_device(const vs_scenario *s, const char *chardev, uint16_t queue_size,
                         char *buf, size_t n)
{
    const scsi_scn_opts *o = scsi_opts_of(s);
    snprintf(buf, n, "vhost-user-scsi-pci,disable-legacy=on,chardev=%s,num_queues=%u,"
             "virtqueue_size=%u,max_sectors=%u,cmd_per_lun=%u,hotplug=%s,param_change=%s",
             chardev, o->num_queues, queue_size, o->max_sectors, o->cmd_per_lun,
             o->hotplug ? "on" : "off", o->change ? "on" : "off");
}

/* "hotplug add|remove T L" from vsguest: the LUN (4 MiB, 512-byte blocks, as
 * scsi_hotplug's default) joins or leaves the device, which raises TRANSPORT_RESET
 * (rescan / removed) when HOTPLUG was negotiated. */
static int guest_host(vs_device *d, const char *req, char *why, size_t wn)
{
    char what[16];
    unsigned t, l;
    if (sscanf(req, "hotplug %15s %u %u", what, &t, &l) != 3 || t > 255 || l > 16383 ||
        (strcmp(what, "add") && strcmp(what, "remove")))
        return snprintf(why, wn, "not a request the scsi device knows"), -1;
    vs_err e = {0};
    int rc;
    if (strcmp(what, "remove") == 0) {
        rc = vs_scsi_lun_remove(d, (uint8_t)t, (uint16_t)l, &e);
    } else {
        vs_scsi_lun_opts lo = {.target = (uint8_t)t, .lun = (uint16_t)l,
                               .type = VS_SCSI_TYPE_DISK, .block_size = 512,
                               .blocks = (4u << 20) / 512};
        rc = vs_scsi_lun_add(d, &lo, &e);
    }
    if (rc < 0)
        snprintf(why, wn, "%s", e.msg);
    return rc;
}

const struct vs_guest_present vs_scsi_guest = {
    .step = step_ops,
    .create = guest_create,
    .device = guest_device,
    .default_queue_size = 128, /* QEMU's vhost-user-scsi-pci virtqueue_size */
    .cmdline = "vsmods=scsi vsdev=/dev/sda",
    /* QEMU's vhost-scsi-common offers the guest INOUT never (it is not among its host
     * features) and T10_PI only with t10_pi=on */
    .fe_hidden = VS_BIT(VS_SCSI_F_INOUT) | VS_BIT(VS_SCSI_F_T10_PI),
    .host = guest_host,
};
