/* The vhost-kernel transport (virtiosim/vhost_kernel.h): virtiosim as the VMM of a kernel
 * vhost device. Every ioctl passes the kernel flavour of the vhost model first. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "virtiosim/vhost.h"
#include "virtiosim/vhost_kernel.h"

typedef struct vk_queue {
    bool setup, started;
    vs_vq_layout l;
    int kick, call, err;
} vk_queue;

typedef struct vhost_kernel {
    vs_transport base;
    vs_vhost_kernel_opts o;
    vs_event_bus *bus;
    int fd;
    vs_vhost_state st;          /* the model's view: every ioctl is judged on it */
    uint64_t kernel_features;   /* GET_FEATURES */
    uint8_t status;
    uint64_t drv_features;
    bool features_ok, mem_set, endpoint, err_seen;
    vk_queue q[VS_VHOST_KERNEL_MAX_QUEUES];
    struct pollfd pfd[2 * VS_VHOST_KERNEL_MAX_QUEUES];
    int pfd_q[2 * VS_VHOST_KERNEL_MAX_QUEUES];
    unsigned npfd;
    struct timespec t0;
} vhost_kernel;

static const vs_transport_ops vk_ops;

static void emit(vhost_kernel *t, enum vs_event_kind kind, int32_t queue, uint64_t val,
                 const char *text)
{
    if (!t->bus || !t->bus->n)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t ns = (uint64_t)(ts.tv_sec - t->t0.tv_sec) * 1000000000u +
                  (uint64_t)(ts.tv_nsec - t->t0.tv_nsec);
    vs_event ev = {.kind = kind, .t_ns = ns, .queue = queue, .val = val, .text = text};
    vs_event_emit(t->bus, &ev);
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

/* The kernel's argument for op, from the model's argument. */
static int do_ioctl(vhost_kernel *t, enum vs_vhost_kernel_op op, vs_vhost_kernel_arg *a)
{
    unsigned long nr = vs_vhost_kernel_ioctl_nr(op);
    switch (op) {
    case VS_VHOST_K_SET_OWNER:
    case VS_VHOST_K_RESET_OWNER:
        return ioctl(t->fd, nr);
    case VS_VHOST_K_GET_FEATURES:
    case VS_VHOST_K_SET_FEATURES:
        return ioctl(t->fd, nr, &a->u64);
    case VS_VHOST_K_SET_VRING_NUM:
    case VS_VHOST_K_SET_VRING_BASE:
    case VS_VHOST_K_GET_VRING_BASE: {
        struct vhost_vring_state s = {.index = a->state.index, .num = a->state.num};
        int rc = ioctl(t->fd, nr, &s);
        a->state.num = s.num;
        return rc;
    }
    case VS_VHOST_K_SET_VRING_ADDR: {
        struct vhost_vring_addr v = {.index = a->addr.index, .flags = a->addr.flags,
                                     .desc_user_addr = a->addr.desc,
                                     .used_user_addr = a->addr.used,
                                     .avail_user_addr = a->addr.avail,
                                     .log_guest_addr = a->addr.log};
        return ioctl(t->fd, nr, &v);
    }
    case VS_VHOST_K_SET_VRING_KICK:
    case VS_VHOST_K_SET_VRING_CALL:
    case VS_VHOST_K_SET_VRING_ERR: {
        struct vhost_vring_file f = {.index = a->file.index, .fd = a->file.fd};
        return ioctl(t->fd, nr, &f);
    }
    case VS_VHOST_K_SET_MEM_TABLE: {
        /* vhost_memory ends in a flexible array: room for it, not a member after it */
        union {
            struct vhost_memory m;
            char room[sizeof(struct vhost_memory) +
                      VS_VHOST_MEM_REGIONS_MAX * sizeof(struct vhost_memory_region)];
        } mt;
        memset(&mt, 0, sizeof mt);
        mt.m.nregions = a->mem.nregions;
        for (uint32_t i = 0; i < a->mem.nregions && i < VS_VHOST_MEM_REGIONS_MAX; i++)
            mt.m.regions[i] = (struct vhost_memory_region){
                .guest_phys_addr = a->mem.region[i].gpa,
                .memory_size = a->mem.region[i].size,
                .userspace_addr = a->mem.region[i].uaddr};
        return ioctl(t->fd, nr, &mt.m);
    }
    case VS_VHOST_K_SCSI_SET_ENDPOINT:
    case VS_VHOST_K_SCSI_CLEAR_ENDPOINT: {
        struct vhost_scsi_target tg = {.abi_version = a->target.abi_version,
                                       .vhost_tpgt = a->target.tpgt};
        memcpy(tg.vhost_wwpn, a->target.wwpn, sizeof tg.vhost_wwpn);
        return ioctl(t->fd, nr, &tg);
    }
    default:
        errno = ENOTSUP;
        return -1;
    }
}

/* Judges op on the model, then issues it. A rejection by the model is this VMM's bug
 * (the ioctl is not issued); a failed ioctl is the kernel's answer (-VS_EBACKEND). */
static int vk_call(vhost_kernel *t, enum vs_vhost_kernel_op op, vs_vhost_kernel_arg *a,
                   vs_err *e)
{
    vs_vhost_msg m;
    vs_vhost_effect fx;
    const char *rule = NULL;
    int rc = vs_vhost_kernel_to_msg(op, a, &m, e);
    if (rc == 0)
        rc = vs_vhost_apply(&t->st, &m, &fx, &rule, e);
    if (rc < 0)
        return vs_err_prefix(e, "%s refused by the vhost model%s%s",
                             vs_vhost_kernel_op_name(op), rule ? " " : "", rule ? rule : "");
    if (do_ioctl(t, op, a) < 0)
        return vs_err_set(e, VS_EBACKEND, "%s on %s: %s", vs_vhost_kernel_op_name(op),
                          t->o.dev_path, strerror(errno));
    return 0;
}

static int vring_fd(vhost_kernel *t, enum vs_vhost_kernel_op op, uint16_t i, int fd, vs_err *e)
{
    vs_vhost_kernel_arg a = {.file = {.index = i, .fd = fd}};
    return vk_call(t, op, &a, e);
}

static int endpoint(vhost_kernel *t, bool set, vs_err *e)
{
    if (!t->o.scsi_wwpn[0] || set == t->endpoint)
        return 0;
    vs_vhost_kernel_arg a = {.target = {.abi_version = VHOST_SCSI_ABI_VERSION,
                                        .tpgt = t->o.scsi_tpgt}};
    snprintf(a.target.wwpn, sizeof a.target.wwpn, "%s", t->o.scsi_wwpn);
    int rc = vk_call(t, set ? VS_VHOST_K_SCSI_SET_ENDPOINT : VS_VHOST_K_SCSI_CLEAR_ENDPOINT,
                     &a, e);
    if (rc == 0)
        t->endpoint = set;
    return rc;
}

/* ------------------------------------------------------------------ rings */

static int new_eventfd(int *fd, vs_err *e)
{
    *fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return *fd < 0 ? vs_err_set(e, VS_EIO, "vhost-kernel: eventfd: %s", strerror(errno)) : 0;
}

static int start_queue(vhost_kernel *t, uint16_t i, vs_err *e)
{
    vk_queue *q = &t->q[i];
    uint64_t hb = (uint64_t)(uintptr_t)vs_gmem_host_base(t->base.gm);
    int rc;
    if ((rc = new_eventfd(&q->kick, e)) < 0 || (rc = new_eventfd(&q->call, e)) < 0 ||
        (rc = new_eventfd(&q->err, e)) < 0)
        return rc;
    vs_vhost_kernel_arg a = {.state = {.index = i, .num = q->l.size}};
    if ((rc = vk_call(t, VS_VHOST_K_SET_VRING_NUM, &a, e)) < 0)
        return rc;
    a.state.num = 0;
    if ((rc = vk_call(t, VS_VHOST_K_SET_VRING_BASE, &a, e)) < 0)
        return rc;
    a.addr = (vs_vhost_vring_addr){.index = i, .desc = hb + q->l.desc_gpa,
                                   .used = hb + q->l.device_gpa, .avail = hb + q->l.driver_gpa};
    if ((rc = vk_call(t, VS_VHOST_K_SET_VRING_ADDR, &a, e)) < 0 ||
        (rc = vring_fd(t, VS_VHOST_K_SET_VRING_KICK, i, q->kick, e)) < 0 ||
        (rc = vring_fd(t, VS_VHOST_K_SET_VRING_CALL, i, q->call, e)) < 0 ||
        (rc = vring_fd(t, VS_VHOST_K_SET_VRING_ERR, i, q->err, e)) < 0)
        return rc;
    q->started = true;
    return 0;
}

static int start_all(vhost_kernel *t, vs_err *e)
{
    int rc;
    if (!t->mem_set) {
        vs_vhost_kernel_arg a = {.mem = {.nregions = 1}};
        a.mem.region[0] = (vs_vhost_mem_region){
            .gpa = 0, .size = vs_gmem_file_size(t->base.gm),
            .uaddr = (uint64_t)(uintptr_t)vs_gmem_host_base(t->base.gm)};
        if ((rc = vk_call(t, VS_VHOST_K_SET_MEM_TABLE, &a, e)) < 0)
            return rc;
        t->mem_set = true;
    }
    for (uint16_t i = 0; i < t->o.num_queues; i++)
        if (t->q[i].setup && !t->q[i].started && (rc = start_queue(t, i, e)) < 0)
            return vs_err_prefix(e, "queue %u", i);
    return endpoint(t, true, e);
}

/* CLEAR_ENDPOINT, then GET_VRING_BASE on every started ring; the first error is kept. */
static int stop_all(vhost_kernel *t, vs_err *e)
{
    vs_err ignore = {0};
    int first = endpoint(t, false, e);
    for (uint16_t i = 0; i < VS_VHOST_KERNEL_MAX_QUEUES; i++) {
        vk_queue *q = &t->q[i];
        if (q->started) {
            vs_vhost_kernel_arg a = {.state = {.index = i}};
            int rc = vk_call(t, VS_VHOST_K_GET_VRING_BASE, &a, first ? &ignore : e);
            if (rc < 0 && !first)
                first = rc;
        }
        q->started = false;
        close_fd(&q->kick);
        close_fd(&q->call);
        close_fd(&q->err);
    }
    t->npfd = 0;
    return first;
}

/* ------------------------------------------------------------------ transport ops */

static int op_reset(vs_transport *bt, vs_err *e)
{
    vhost_kernel *t = (vhost_kernel *)bt;
    int rc = stop_all(t, e);
    for (unsigned i = 0; i < VS_VHOST_KERNEL_MAX_QUEUES; i++)
        t->q[i].setup = false;
    t->status = 0;
    t->drv_features = 0;
    t->features_ok = t->err_seen = false;
    return rc;
}

static int op_get_status(vs_transport *bt, uint8_t *status, vs_err *e)
{
    vhost_kernel *t = (vhost_kernel *)bt;
    (void)e;
    uint8_t s = t->status;
    if (!t->features_ok)
        s &= (uint8_t)~VS_STATUS_FEATURES_OK;
    if (t->err_seen)
        s |= VS_STATUS_DEVICE_NEEDS_RESET;
    *status = s;
    return 0;
}

static uint64_t offer(const vhost_kernel *t)
{
    return (t->kernel_features & t->o.features_mask) | t->o.vmm_features;
}

static int op_set_status(vs_transport *bt, uint8_t status, vs_err *e)
{
    vhost_kernel *t = (vhost_kernel *)bt;
    if (status == 0)
        return op_reset(bt, e);
    uint8_t added = (uint8_t)(status & ~t->status);
    t->status = status;
    int rc;
    if (added & VS_STATUS_FEATURES_OK) {
        t->features_ok = false;
        if ((t->drv_features & ~offer(t)) == 0) {
            vs_vhost_kernel_arg a = {.u64 = t->drv_features & ~t->o.vmm_features};
            if ((rc = vk_call(t, VS_VHOST_K_SET_FEATURES, &a, e)) < 0)
                return rc;
            t->features_ok = true;
        }
    }
    if ((added & VS_STATUS_DRIVER_OK) && t->features_ok)
        return start_all(t, e);
    return 0;
}

static int op_get_device_features(vs_transport *bt, uint64_t *f, vs_err *e)
{
    (void)e;
    *f = offer((vhost_kernel *)bt);
    return 0;
}

static int op_set_driver_features(vs_transport *bt, uint64_t f, vs_err *e)
{
    (void)e;
    ((vhost_kernel *)bt)->drv_features = f;
    return 0;
}

static int op_config_read(vs_transport *bt, uint32_t off, void *buf, uint32_t len, vs_err *e)
{
    vhost_kernel *t = (vhost_kernel *)bt;
    if (off > t->o.config_len || len > t->o.config_len - off)
        return vs_err_set(e, VS_ERANGE, "vhost-kernel: config read [%u, +%u) beyond the %u "
                          "config bytes", off, len, t->o.config_len);
    memcpy(buf, t->o.config + off, len);
    return 0;
}

static int op_config_write(vs_transport *bt, uint32_t off, const void *buf, uint32_t len,
                           vs_err *e)
{
    vhost_kernel *t = (vhost_kernel *)bt;
    if (off > t->o.config_len || len > t->o.config_len - off)
        return vs_err_set(e, VS_ERANGE, "vhost-kernel: config write [%u, +%u) beyond the "
                          "%u config bytes", off, len, t->o.config_len);
    if (memcmp(t->o.config + off, buf, len) != 0)
        return vs_err_set(e, VS_ENOTSUP, "vhost-kernel: the config at %u cannot change (the "
                          "kernel's device keeps its own limits; QEMU's vhost-scsi refuses "
                          "this too)", off);
    return 0;
}

static int op_config_generation(vs_transport *bt, uint32_t *gen, vs_err *e)
{
    (void)bt;
    (void)e;
    *gen = 0;
    return 0;
}

static int op_num_queues(vs_transport *bt, uint16_t *n, vs_err *e)
{
    (void)e;
    *n = ((vhost_kernel *)bt)->o.num_queues;
    return 0;
}

static int op_queue_max_size(vs_transport *bt, uint16_t q, uint32_t *size, vs_err *e)
{
    vhost_kernel *t = (vhost_kernel *)bt;
    (void)e;
    *size = q < t->o.num_queues ? t->o.queue_max_size : 0;
    return 0;
}

static int op_queue_setup(vs_transport *bt, uint16_t qi, const vs_vq_layout *l, vs_err *e)
{
    vhost_kernel *t = (vhost_kernel *)bt;
    if (qi >= t->o.num_queues)
        return vs_err_set(e, VS_ERANGE, "vhost-kernel: queue %u >= %u queues", qi,
                          t->o.num_queues);
    if (!l || l->size == 0 || l->size > t->o.queue_max_size)
        return vs_err_set(e, VS_EINVAL, "vhost-kernel: queue %u: bad size %u (max %u)", qi,
                          l ? l->size : 0, t->o.queue_max_size);
    if (t->q[qi].started || (t->status & VS_STATUS_DRIVER_OK))
        return vs_err_set(e, VS_ENOTSUP, "vhost-kernel: queue %u set up after DRIVER_OK (the "
                          "endpoint is already set)", qi);
    t->q[qi].l = *l;
    t->q[qi].setup = true;
    return 0;
}

static int op_queue_disable(vs_transport *bt, uint16_t qi, vs_err *e)
{
    (void)bt;
    return vs_err_set(e, VS_ENOTSUP, "vhost-kernel: no queue reset (queue %u)", qi);
}

static int op_notify(vs_transport *bt, uint16_t qi, vs_err *e)
{
    vhost_kernel *t = (vhost_kernel *)bt;
    if (qi >= VS_VHOST_KERNEL_MAX_QUEUES || !t->q[qi].started)
        return vs_err_set(e, VS_ESTATE, "vhost-kernel: notify on queue %u that is not "
                          "started (DRIVER_OK not set?)", qi);
    uint64_t one = 1;
    ssize_t n;
    do
        n = write(t->q[qi].kick, &one, 8);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno != EAGAIN)
        return vs_err_set(e, VS_EIO, "vhost-kernel: kick queue %u: %s", qi, strerror(errno));
    return 0;
}

static void build_pfd(vhost_kernel *t)
{
    unsigned n = 0;
    for (unsigned i = 0; i < t->o.num_queues; i++) {
        if (!t->q[i].started)
            continue;
        t->pfd[n] = (struct pollfd){.fd = t->q[i].call, .events = POLLIN};
        t->pfd_q[n++] = (int)i;
        t->pfd[n] = (struct pollfd){.fd = t->q[i].err, .events = POLLIN};
        t->pfd_q[n++] = (int)i | 0x10000;
    }
    t->npfd = n;
}

static int handle_ready(vhost_kernel *t)
{
    int delivered = 0;
    for (unsigned k = 0; k < t->npfd; k++) {
        uint64_t v;
        if (!t->pfd[k].revents || read(t->pfd[k].fd, &v, 8) != 8)
            continue;
        int qi = t->pfd_q[k];
        if (qi & 0x10000) {
            char m[96];
            snprintf(m, sizeof m, "vhost-kernel: the kernel signalled the error eventfd of "
                     "queue %d", qi & 0xffff);
            emit(t, VS_EV_NOTE, qi & 0xffff, v, m);
            t->err_seen = true;
            emit(t, VS_EV_IRQ, VS_IRQ_CONFIG, 0, NULL);
            emit(t, VS_EV_CONFIG_CHANGE, -1, 0, NULL);
            if (t->base.irq_fn)
                t->base.irq_fn(t->base.irq_opaque, VS_IRQ_CONFIG);
            delivered++;
            continue;
        }
        if (t->base.irq_mode == VS_IRQ_POLL)
            continue;
        emit(t, VS_EV_IRQ, qi, (uint64_t)qi, NULL);
        if (t->base.irq_fn)
            t->base.irq_fn(t->base.irq_opaque, qi);
        delivered++;
    }
    return delivered;
}

static int op_wait(vs_transport *bt, uint64_t timeout_ns, vs_err *e)
{
    vhost_kernel *t = (vhost_kernel *)bt;
    build_pfd(t);
    struct timespec ts = {.tv_sec = (time_t)(timeout_ns / 1000000000u),
                          .tv_nsec = (long)(timeout_ns % 1000000000u)};
    int pr = ppoll(t->pfd, t->npfd, &ts, NULL);
    if (pr < 0 && errno != EINTR)
        return vs_err_set(e, VS_EIO, "vhost-kernel: poll: %s", strerror(errno));
    return pr > 0 ? handle_ready(t) : 0;
}

static int op_read_isr(vs_transport *bt, uint8_t *isr, vs_err *e)
{
    (void)bt;
    (void)e;
    *isr = 0;
    return 0;
}

static void op_destroy(vs_transport *bt)
{
    vhost_kernel *t = (vhost_kernel *)bt;
    if (!t)
        return;
    vs_err ignore = {0};
    stop_all(t, &ignore);
    close_fd(&t->fd);
    free(t);
}

static const vs_transport_ops vk_ops = {
    .name = "vhost-kernel",
    .reset = op_reset,
    .get_status = op_get_status,
    .set_status = op_set_status,
    .get_device_features = op_get_device_features,
    .set_driver_features = op_set_driver_features,
    .config_read = op_config_read,
    .config_write = op_config_write,
    .config_generation = op_config_generation,
    .num_queues = op_num_queues,
    .queue_max_size = op_queue_max_size,
    .queue_setup = op_queue_setup,
    .queue_disable = op_queue_disable,
    .notify = op_notify,
    .wait = op_wait,
    .read_isr = op_read_isr,
    .destroy = op_destroy,
};

/* ------------------------------------------------------------------ public */

int vs_vhost_kernel_transport_create(vs_transport **out, vs_gmem *gm,
                                     const vs_vhost_kernel_opts *o, vs_event_bus *bus,
                                     vs_err *e)
{
    if (!out || !gm || !o || !o->dev_path[0] || !o->num_queues ||
        o->num_queues > VS_VHOST_KERNEL_MAX_QUEUES || o->config_len > sizeof o->config)
        return vs_err_set(e, VS_EINVAL, "vhost-kernel: bad options");
    vhost_kernel *t = calloc(1, sizeof *t);
    if (!t)
        return vs_err_set(e, VS_ENOMEM, "out of memory");
    t->base = (vs_transport){.ops = &vk_ops, .gm = gm, .device_id = o->device_id,
                             .irq_mode = o->irq_mode};
    t->o = *o;
    if (!t->o.queue_max_size)
        t->o.queue_max_size = 1024;
    t->bus = bus;
    clock_gettime(CLOCK_MONOTONIC, &t->t0);
    for (unsigned i = 0; i < VS_VHOST_KERNEL_MAX_QUEUES; i++)
        t->q[i].kick = t->q[i].call = t->q[i].err = -1;
    vs_vhost_backend_cfg cfg = {.num_queues = o->num_queues,
                                .queue_max_size = t->o.queue_max_size};
    int rc = vs_vhost_state_init(&t->st, VS_VHOST_FLAVOUR_KERNEL, &cfg, e);
    t->fd = rc < 0 ? -1 : open(o->dev_path, O_RDWR | O_CLOEXEC);
    if (rc == 0 && t->fd < 0)
        rc = vs_err_set(e, VS_EBACKEND, "%s: %s", o->dev_path, strerror(errno));
    vs_vhost_kernel_arg a = {0};
    if (rc == 0)
        rc = vk_call(t, VS_VHOST_K_SET_OWNER, &a, e);
    if (rc == 0)
        rc = vk_call(t, VS_VHOST_K_GET_FEATURES, &a, e);
    if (rc < 0) {
        close_fd(&t->fd);
        free(t);
        return rc;
    }
    /* the model learns the offer from the kernel's answer (SET_FEATURES is judged on it) */
    t->kernel_features = t->st.offered = t->st.cfg.features = a.u64;
    *out = &t->base;
    return 0;
}

bool vs_vhost_kernel_transport_is(const vs_transport *t)
{
    return t && t->ops == &vk_ops;
}

uint64_t vs_vhost_kernel_features(const vs_transport *t)
{
    return vs_vhost_kernel_transport_is(t) ? ((const vhost_kernel *)t)->kernel_features : 0;
}
