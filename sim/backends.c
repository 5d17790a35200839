/* The back-ends `--backend` can name (sim/backend_dev.h). Each builds the transport the
 * driver talks to; what it needs to know about the device comes from the device's
 * presentation (vs_backend_present). Room for more: a vhost-kernel back-end (/dev/vhost-*)
 * and a guest (a driver inside a VM) would each be one more row. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/backend_dev.h"
#include <sys/utsname.h>

#include "virtiosim/qemu.h"
#include "virtiosim/vhost_kernel.h"
#include "virtiosim/transport_ref.h"

/* ------------------------------------------------------------------ in-process */

/* A scenario's time distribution (fixed: a; uniform: [a, b]; exponential: mean a). */
static vs_service_time time_dist(enum vs_scenario_dist d, uint64_t a, uint64_t b)
{
    vs_service_time t = {.dist = VS_SERVICE_FIXED, .fixed_ns = a};
    if (d == VS_DIST_UNIFORM)
        t = (vs_service_time){.dist = VS_SERVICE_UNIFORM, .min_ns = a, .max_ns = b};
    else if (d == VS_DIST_EXPONENTIAL)
        t = (vs_service_time){.dist = VS_SERVICE_EXP, .mean_ns = a};
    return t;
}

/* Provocations of the driver the device's own options cannot make: `withhold_features`
 * for bits they always offer (VERSION_1), taken out of the offer (the device-role checks
 * are told, vs_monitors_set_offer_provoked); `config_extra`, a config region longer than
 * the type's (the extra bytes read 0, writes to them are dropped). The shim's ops come
 * first so the device's ops pointer leads back to it. */
typedef struct withhold_shim {
    vs_device_ops ops;
    const vs_device_ops *inner;
    uint64_t withheld;
    uint32_t extra;
} withhold_shim;

static uint32_t shim_inner_size(vs_device *d)
{
    const withhold_shim *w = (const withhold_shim *)d->ops;
    return w->inner->config_size ? w->inner->config_size(d) : 0;
}

static uint32_t shim_config_size(vs_device *d)
{
    return shim_inner_size(d) + ((const withhold_shim *)d->ops)->extra;
}

static int shim_config_read(vs_device *d, uint32_t off, void *buf, uint32_t len, vs_err *e)
{
    const withhold_shim *w = (const withhold_shim *)d->ops;
    uint32_t in = shim_inner_size(d);
    if (off >= in) {
        memset(buf, 0, len);
        return 0;
    }
    uint32_t n = len < in - off ? len : in - off;
    int rc = w->inner->config_read ? w->inner->config_read(d, off, buf, n, e) : 0;
    memset((uint8_t *)buf + n, 0, len - n);
    return rc;
}

static int shim_config_write(vs_device *d, uint32_t off, const void *buf, uint32_t len,
                             vs_err *e)
{
    const withhold_shim *w = (const withhold_shim *)d->ops;
    uint32_t in = shim_inner_size(d);
    if (off >= in || !w->inner->config_write)
        return 0;
    return w->inner->config_write(d, off, buf, len < in - off ? len : in - off, e);
}

static uint64_t withhold_features(vs_device *d)
{
    const withhold_shim *w = (const withhold_shim *)d->ops;
    return (w->inner->device_features ? w->inner->device_features(d) : 0) & ~w->withheld;
}

static void withhold_destroy(vs_device *d)
{
    withhold_shim *w = (withhold_shim *)d->ops;
    d->ops = w->inner;
    free(w);
    if (d->ops->destroy)
        d->ops->destroy(d);
}

static int withhold_install(vs_device *d, uint64_t withheld, uint32_t extra, vs_err *e)
{
    withhold_shim *w = calloc(1, sizeof *w);
    if (!w)
        return vs_err_set(e, VS_ENOMEM, "ref: out of memory");
    w->ops = *d->ops;
    w->ops.device_features = withhold_features;
    w->ops.destroy = withhold_destroy;
    if (extra) {
        w->ops.config_size = shim_config_size;
        w->ops.config_read = shim_config_read;
        w->ops.config_write = shim_config_write;
    }
    w->inner = d->ops;
    w->withheld = withheld;
    w->extra = extra;
    d->ops = &w->ops;
    return 0;
}

static int build_ref(vs_run_ctx *c, const char *arg, vs_err *e)
{
    (void)arg;
    const vs_scenario *s = c->s;
    int rc = c->sd->backends->ref_create(c, &c->dev, e);
    if (rc < 0)
        return rc;
    if (((s->withheld_features & VS_BIT(VS_F_VERSION_1)) || s->config_extra) &&
        (rc = withhold_install(c->dev, s->withheld_features, s->config_extra, e)) < 0)
        return rc;
    vs_ref_opts ro;
    vs_ref_opts_default(&ro);
    ro.irq_mode = (enum vs_irq_mode)s->driver.interrupts;
    ro.doorbell_latency_ns = s->timing.doorbell_latency_ns;
    ro.irq_latency_ns = s->timing.irq_latency_ns;
    ro.service = time_dist(s->timing.dist, s->timing.a_ns, s->timing.b_ns);
    /* --notify overrides the scenario's notify path (its iothread settings stay) */
    ro.notify = (enum vs_notify_path)(c->o->notify ? c->o->notify - 1 : s->iothread.notify);
    ro.iothread.threads = s->iothread.threads;
    ro.iothread.wake = time_dist(s->iothread.dist, s->iothread.a_ns, s->iothread.b_ns);
    ro.iothread.handler_ns = s->iothread.handler_ns;
    ro.notify_off_while_busy = s->notify_off_while_busy;
    ro.pci_layout_quirks = s->pci_layout_quirks;
    ro.pci_msix_vectors = s->pci_msix_vectors;
    ro.echo_irq_ns = s->echo_irq_ns;
    if (c->o->mutant) {
        ro.mutations = c->o->mutant->ref_mutations;
        ro.ring_mutations = c->o->mutant->ring_mutations;
        ro.pci_mutations = c->o->mutant->pci_mutations;
        ro.pci_drv_mutations = c->o->mutant->pci_drv_mutations;
    }
    if (c->pci || ro.pci_mutations || ro.pci_drv_mutations)
        return vs_pci_model_transport_create(&c->t, c->eng, c->dev, c->gm, &ro, &c->bus, e);
    return vs_ref_transport_create(&c->t, c->eng, c->dev, c->gm, &ro, &c->bus, e);
}

/* ------------------------------------------------------------------ QEMU */

/* QEMU without a guest: our driver talks virtio-pci to QEMU's device over qtest, QEMU
 * gets guest RAM from our memfd. */
static int start_qemu(vs_run_ctx *c, const char *const *args, bool reuse, vs_err *e)
{
    vs_qemu_backend_opts o;
    vs_qemu_backend_opts_default(&o);
    o.qemu_path = c->o->qemu_path;
    o.same_cpu = c->o->qemu_same_cpu;
    o.device_args = args;
    o.device_type = c->sd->device_id;
    o.irq_mode = (enum vs_irq_mode)c->s->driver.interrupts;
    o.step_timeout_ms = c->o->answer_timeout_ms;
    o.reuse = reuse;
    int rc = vs_qemu_transport_create(&c->t, c->gm, &o, &c->bus, e);
    if (rc < 0)
        return rc;
    snprintf(c->r->backend_version, sizeof c->r->backend_version, "%s",
             vs_qemu_transport_version(c->t));
    if (c->o->verbose)
        fprintf(stderr, "  %s: QEMU pid %d (%s)\n", c->s->name, (int)vs_qemu_transport_pid(c->t),
                vs_qemu_transport_reused(c->t) ? "reused" : "started");
    return 0;
}

static int build_qemu(vs_run_ctx *c, const char *arg, vs_err *e)
{
    (void)arg;
    const char *const *argv;
    int rc = c->sd->backends->qemu_args(c, &argv, e);
    return rc < 0 ? rc : start_qemu(c, argv, c->qemu_reuse, e);
}

/* QEMU's vhost-user proxy device in front of a vhost-user back-end at sock: our driver
 * talks virtio-pci to QEMU, QEMU talks vhost-user to the back-end, both share our guest
 * RAM. */
static int build_qemu_vhost(vs_run_ctx *c, const char *sock, vs_err *e)
{
    static char chardev[300], device[300];
    snprintf(chardev, sizeof chardev, "socket,id=vsvu0,path=%s", sock);
    c->sd->backends->qemu_vhost_user_device(c, "vsvu0", device, sizeof device);
    static const char *args[6];
    args[0] = "-chardev";
    args[1] = chardev;
    args[2] = "-device";
    args[3] = device;
    args[4] = NULL;
    return start_qemu(c, args, false, e);
}

vs_qmp *vs_backend_qmp(vs_run_ctx *c)
{
    return c && c->t && vs_qemu_transport_is(c->t) ? vs_qemu_transport_qmp(c->t) : NULL;
}

/* ------------------------------------------------------------------ vhost-user */

/* The device lives in another process that maps our guest RAM memfd. `qsd` starts
 * qemu-storage-daemon first; `vhost-user:SOCK` connects to a back-end someone else runs. */
static int build_vhost(vs_run_ctx *c, const char *sock, vs_err *e)
{
    if (!sock) {
        int rc = c->sd->backends->qsd_start(c, &c->qsd, e);
        if (rc < 0)
            return vs_err_prefix(e, "qsd");
        sock = vs_qsd_socket_path(c->qsd);
    }
    vs_vhost_fe_opts fo;
    vs_vhost_fe_opts_default(&fo);
    fo.device_id = c->sd->device_id;
    fo.irq_mode = (enum vs_irq_mode)c->s->driver.interrupts;
    if (c->o->answer_timeout_ms)
        fo.msg_timeout_ms = c->o->answer_timeout_ms;
    int rc = vs_vhost_user_transport_create(&c->t, c->gm, sock, &fo, &c->bus, e);
    if (rc < 0)
        return vs_err_prefix(e, "vhost-user %s", sock);
    if (c->qsd)
        vs_qsd_version(NULL, c->r->backend_version, sizeof c->r->backend_version, NULL);
    else
        snprintf(c->r->backend_version, sizeof c->r->backend_version, "vhost-user back-end at %s",
                 sock);
    return 0;
}

static int build_qsd(vs_run_ctx *c, const char *arg, vs_err *e)
{
    (void)arg;
    return build_vhost(c, NULL, e);
}

static void stop_qsd(vs_run_ctx *c)
{
    if (c->qsd) {
        vs_err ignore = {0};
        vs_qsd_stop(c->qsd, &ignore);
        c->qsd = NULL;
    }
}

/* ------------------------------------------------------------------ kernel vhost */

/* virtiosim as the VMM of a kernel vhost device (DEV, or the device's own node): the
 * device's presentation sets the kernel's back-end up (LIO for scsi) and says what config
 * and features the VMM presents; the transport drives the ioctls. Works wherever the node
 * exists (the test guest, a host as root). */
static int build_vhost_kernel(vs_run_ctx *c, const char *dev, vs_err *e)
{
    vs_vhost_kernel_opts ko = {0};
    snprintf(ko.dev_path, sizeof ko.dev_path, "%s",
             dev && *dev ? dev : c->sd->backends->vhost_kernel_dev);
    ko.device_id = c->sd->device_id;
    ko.irq_mode = (enum vs_irq_mode)c->s->driver.interrupts;
    int rc = c->sd->backends->vhost_kernel(c, &ko, e);
    if (rc == 0)
        rc = vs_vhost_kernel_transport_create(&c->t, c->gm, &ko, &c->bus, e);
    if (rc < 0)
        return rc;
    if (c->o->verbose)
        fprintf(stderr, "  %s: %s: VHOST_GET_FEATURES 0x%llx\n", c->s->name, ko.dev_path,
                (unsigned long long)vs_vhost_kernel_features(c->t));
    struct utsname u;
    const char *node = strrchr(ko.dev_path, '/');
    snprintf(c->r->backend_version, sizeof c->r->backend_version, "Linux %.64s %.24s",
             uname(&u) == 0 ? u.release : "?", node ? node + 1 : ko.dev_path);
    return 0;
}

/* ------------------------------------------------------------------ the table */

static const vs_backend backends[] = {
    {"ref", false, VS_BACKEND_REF, "ref", 0, build_ref},
    {"pci", false, VS_BACKEND_REF, "ref", VS_BE_PCI, build_ref},
    {"qemu", false, VS_BACKEND_QEMU, "qemu", VS_BE_REAL | VS_BE_QEMU | VS_BE_QEMU_REUSE,
     build_qemu},
    {"qsd", false, VS_BACKEND_VHOST_USER, "vhost-user", VS_BE_REAL, build_qsd, stop_qsd},
    {"vhost-user:", true, VS_BACKEND_VHOST_USER, "vhost-user",
     VS_BE_REAL | VS_BE_EXTERNAL, build_vhost},
    {"qemu-vhost-user:", true, VS_BACKEND_VHOST_USER, "qemu",
     VS_BE_REAL | VS_BE_EXTERNAL | VS_BE_QEMU, build_qemu_vhost},
    {"guest", false, VS_BACKEND_GUEST, "guest", VS_BE_REAL | VS_BE_QEMU, NULL, NULL,
     vs_guest_run},
    {"vhost-kernel:", true, VS_BACKEND_VHOST_USER, "vhost-kernel", VS_BE_REAL | VS_BE_KERNEL,
     build_vhost_kernel},
    /* the same inside the test guest, booted once for the whole run */
    {"vhost-kernel", false, VS_BACKEND_VHOST_USER, "vhost-kernel",
     VS_BE_REAL | VS_BE_KERNEL | VS_BE_QEMU, NULL, NULL, NULL, vs_guest_vhost_batch},
};

const char *vs_backend_unpresented(const vs_backend *be, const struct vs_backend_present *p)
{
    int (*const build)(vs_run_ctx *, const char *, vs_err *) = be->build;
    if (build == build_ref && !p->ref_create)
        return "the device has no reference model";
    if (build == build_qemu && !p->qemu_args)
        return "the device has no QEMU presentation (-device / -blockdev)";
    if (build == build_qemu_vhost && !p->qemu_vhost_user_device)
        return "the device has no QEMU vhost-user proxy device";
    if (build == build_qsd && !p->qsd_start)
        return "qemu-storage-daemon does not export the device";
    if (build == build_vhost_kernel && !p->vhost_kernel)
        return "the device has no kernel vhost presentation";
    if (be->run == vs_guest_run && !p->guest)
        return "the device has no guest presentation (a Linux driver behind QEMU)";
    return NULL;
}

const vs_backend *vs_backend_find(const char *spec, const char **arg)
{
    *arg = NULL;
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++) {
        const vs_backend *b = &backends[i];
        size_t n = strlen(b->name);
        if (b->takes_arg ? strncmp(spec, b->name, n) == 0 : strcmp(spec, b->name) == 0) {
            *arg = b->takes_arg ? spec + n : NULL;
            return b;
        }
    }
    return NULL;
}

void vs_backend_names(char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof backends / sizeof backends[0] && used < n; i++) {
        const vs_backend *b = &backends[i];
        const char *what = !b->takes_arg ? "" : b->caps & VS_BE_KERNEL ? "DEV" : "SOCKET";
        int w = snprintf(buf + used, n - used, "%s%s%s", i ? ", " : "", b->name, what);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}
