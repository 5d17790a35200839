/* The vhost-user front-end as a vs_transport (see include/virtiosim/vhost_frontend.h). */
#define _GNU_SOURCE
#include "virtiosim/vhost_frontend.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "model/device_class.h"
#include "virtiosim/vhost.h"

#define VHOST_ONLY_FEATURES                                                                \
    (VS_BIT(VS_VHOST_F_PROTOCOL_FEATURES) | VS_BIT(VS_VHOST_F_LOG_ALL))

/* Protocol features this front-end implements. */
#define FE_PROTO_SUPPORTED                                                                 \
    (VS_BIT(VS_VHOST_PF_MQ) | VS_BIT(VS_VHOST_PF_REPLY_ACK) | VS_BIT(VS_VHOST_PF_CONFIG))

typedef struct fe_queue {
    bool setup;      /* layout recorded by queue_setup */
    bool started;    /* vring messages sent on this connection */
    vs_vq_layout l;
    int kick, call, err;
} fe_queue;

typedef struct vhost_fe {
    vs_transport base;
    vs_vhost_fe_opts o;
    vs_event_bus *bus;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int sock;
    bool dead;
    vs_err dead_err;
    uint64_t offered;       /* GET_FEATURES, raw */
    uint64_t proto;         /* negotiated protocol features */
    uint16_t nq;            /* queues exposed */
    uint8_t status;
    uint64_t drv_features;
    bool features_ok;
    bool mem_sent;
    uint8_t cfg[VS_VHOST_CONFIG_MAX];
    uint32_t cfg_len;
    bool cfg_valid;
    uint32_t cfg_gen;
    fe_queue q[VS_VHOST_FE_MAX_QUEUES];
    struct pollfd pfd[1 + 2 * VS_VHOST_FE_MAX_QUEUES];
    int pfd_q[1 + 2 * VS_VHOST_FE_MAX_QUEUES];  /* queue index, -1 socket; err: q | 0x10000 */
    unsigned npfd;
    bool pfd_stale;
    bool err_seen;
    bool loss_unseen;       /* lost while running; the driver has not read NEEDS_RESET */
    vs_vhost_fe_stats st;
    struct timespec t0;
} vhost_fe;

static const vs_transport_ops fe_ops;

/* ------------------------------------------------------------------ helpers */

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rel_ns(const vhost_fe *t)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)(ts.tv_sec - t->t0.tv_sec) * 1000000000u +
           (uint64_t)(ts.tv_nsec - t->t0.tv_nsec);
}

static void emit(vhost_fe *t, enum vs_event_kind kind, int32_t queue, uint64_t val,
                 const char *text)
{
    if (!t->bus || !t->bus->n)
        return;
    vs_event ev = {.kind = kind, .t_ns = rel_ns(t), .queue = queue, .val = val, .text = text};
    vs_event_emit(t->bus, &ev);
}

static void close_fd(int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        *fd = -1;
    }
}

static void queue_close_fds(fe_queue *q)
{
    close_fd(&q->kick);
    close_fd(&q->call);
    close_fd(&q->err);
}

/* The connection is unusable from now on: remember why, close the socket. */
static int fe_die(vhost_fe *t, vs_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fe_die(vhost_fe *t, vs_err *e, int code, const char *fmt, ...)
{
    char m[VS_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    if (!t->dead) {
        t->dead = true;
        /* A back-end lost under DRIVER_OK took the rings with it: to the driver that is a
         * device error (no inflight tracking to resume exactly), shown as
         * DEVICE_NEEDS_RESET once the connection is back, like the error eventfd. */
        bool running = t->status & VS_STATUS_DRIVER_OK;
        vs_err_set(&t->dead_err, code, "vhost-user: %s", m);
        close_fd(&t->sock);
        t->pfd_stale = true;
        for (unsigned i = 0; i < VS_VHOST_FE_MAX_QUEUES; i++)
            t->q[i].started = false;
        t->mem_sent = false;
        t->loss_unseen = running;
        if (running && !t->err_seen) {
            t->err_seen = true;
            emit(t, VS_EV_IRQ, VS_IRQ_CONFIG, 0, NULL);
            emit(t, VS_EV_CONFIG_CHANGE, -1, 0, NULL);
            if (t->base.irq_fn)
                t->base.irq_fn(t->base.irq_opaque, VS_IRQ_CONFIG);
        }
    }
    return vs_err_set(e, code, "vhost-user: %s", m);
}

static int fe_alive(vhost_fe *t, vs_err *e)
{
    if (!t->dead)
        return 0;
    return vs_err_set(e, VS_EBACKEND, "%s (connection is down; reconnect)", t->dead_err.msg);
}

/* ------------------------------------------------------------------ socket I/O */

static int64_t deadline_left_ms(uint64_t deadline)
{
    uint64_t now = mono_ns();
    if (now >= deadline)
        return 0;
    return (int64_t)((deadline - now + 999999) / 1000000);
}

/* Encodes m with the shared codec (virtiosim/vhost.h) and sends it with fds. */
static int fe_send(vhost_fe *t, const vs_vhost_msg *m, const int *fds, unsigned nfds,
                   vs_err *e)
{
    int rc = fe_alive(t, e);
    if (rc < 0)
        return rc;
    uint8_t buf[VS_VHOST_USER_HDR_SIZE + VS_VHOST_USER_PAYLOAD_MAX];
    int len = vs_vhost_msg_encode(m, buf, sizeof buf, e);
    if (len < 0)
        return vs_err_prefix(e, "vhost-user: encoding %s", vs_vhost_req_name(m->request));
    const char *name = vs_vhost_req_name(m->request);
    struct iovec iov = {buf, (size_t)len};
    union {
        char b[CMSG_SPACE(sizeof(int) * VS_VHOST_MAX_FDS)];
        struct cmsghdr align;
    } cm;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (nfds) {
        memset(&cm, 0, sizeof cm);
        mh.msg_control = cm.b;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    size_t sent = 0;
    uint64_t deadline = mono_ns() + (uint64_t)t->o.msg_timeout_ms * 1000000u;
    while (sent < (size_t)len) {
        iov.iov_base = buf + sent;
        iov.iov_len = (size_t)len - sent;
        ssize_t n = sendmsg(t->sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                int64_t left = deadline_left_ms(deadline);
                if (left <= 0)
                    return fe_die(t, e, VS_ETIMEDOUT, "%s: back-end does not read its socket "
                                  "(send blocked %d ms)", name, t->o.msg_timeout_ms);
                struct pollfd p = {.fd = t->sock, .events = POLLOUT};
                poll(&p, 1, (int)left);
                continue;
            }
            return fe_die(t, e, VS_EBACKEND, "%s: send: %s (back-end gone)", name,
                          strerror(errno));
        }
        sent += (size_t)n;
        mh.msg_control = NULL;  /* the fds went with the first byte */
        mh.msg_controllen = 0;
    }
    t->st.messages++;
    return 0;
}

/* Reads exactly len bytes before the deadline.  Any fd that arrives is closed and is a
 * protocol error (no reply we ask for carries fds).  -VS_ETIMEDOUT with *got_out = bytes
 * read so far when the deadline passes. */
static int fe_read_full(vhost_fe *t, void *buf, size_t len, uint64_t deadline, const char *what,
                        size_t *got_out, vs_err *e)
{
    size_t got = 0;
    *got_out = 0;
    while (got < len) {
        int64_t left = deadline_left_ms(deadline);
        struct pollfd p = {.fd = t->sock, .events = POLLIN};
        int pr = left > 0 ? poll(&p, 1, (int)left) : 0;
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr == 0) {
            *got_out = got;
            return -VS_ETIMEDOUT;
        }
        union {
            char b[CMSG_SPACE(sizeof(int) * VS_VHOST_MAX_FDS)];
            struct cmsghdr align;
        } cm;
        struct iovec iov = {(char *)buf + got, len - got};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cm.b,
                            .msg_controllen = sizeof cm.b};
        ssize_t n = recvmsg(t->sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            *got_out = got;
            return fe_die(t, e, VS_EBACKEND, "%s: recv: %s (back-end gone)", what,
                          strerror(errno));
        }
        bool stray = (mh.msg_flags & MSG_CTRUNC) != 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < k; i++) {
                    int fd;
                    memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                    close(fd);
                }
                stray = true;
            }
        }
        if (stray) {
            *got_out = got;
            return fe_die(t, e, VS_EPROTO, "%s reply carries file descriptors", what);
        }
        if (n == 0) {
            *got_out = got;
            return fe_die(t, e, VS_EBACKEND, "%s: back-end closed the connection%s", what,
                          got ? " in the middle of a reply" : " (no reply)");
        }
        got += (size_t)n;
    }
    *got_out = got;
    return 0;
}

/* Receives and validates the reply to req.  ack: a REPLY_ACK ack (u64) is expected
 * instead of the request's natural reply.  GET_CONFIG: a zero-length reply (libvhost-
 * user's way to say "failed") comes back as *empty = true when empty is non-NULL. */
static int fe_recv(vhost_fe *t, const vs_vhost_msg *req, bool ack, vs_vhost_msg *reply,
                   bool *empty, vs_err *e)
{
    int rc = fe_alive(t, e);
    if (rc < 0)
        return rc;
    const char *name = vs_vhost_req_name(req->request);
    uint64_t deadline = mono_ns() + (uint64_t)t->o.msg_timeout_ms * 1000000u;
    uint8_t buf[VS_VHOST_USER_HDR_SIZE + VS_VHOST_USER_PAYLOAD_MAX];
    size_t got = 0;
    rc = fe_read_full(t, buf, VS_VHOST_USER_HDR_SIZE, deadline, name, &got, e);
    if (rc == -VS_ETIMEDOUT)
        return fe_die(t, e, VS_ETIMEDOUT, "%s: no reply within %d ms%s", name,
                      t->o.msg_timeout_ms, got ? " (partial header)" : "");
    if (rc < 0)
        return rc;
    vs_vhost_msg h;
    const char *rule = NULL;
    vs_err ce = {0};
    if (vs_vhost_hdr_decode(buf, VS_VHOST_USER_HDR_SIZE, &h, &rule, &ce) < 0)
        return fe_die(t, e, VS_EPROTO, "%s reply: bad header: %s", name, ce.msg);
    if (h.request != req->request)
        return fe_die(t, e, VS_EPROTO, "%s reply: request %u (%s), expected %u", name,
                      h.request, vs_vhost_req_name(h.request), req->request);
    if (!(h.flags & VS_VHOST_USER_FLAG_REPLY))
        return fe_die(t, e, VS_EPROTO, "%s reply: REPLY flag not set (flags 0x%x)", name,
                      h.flags);
    if (h.flags & VS_VHOST_USER_FLAG_NEED_REPLY)
        return fe_die(t, e, VS_EPROTO, "%s reply: NEED_REPLY set in a reply (flags 0x%x)",
                      name, h.flags);
    rc = fe_read_full(t, buf + VS_VHOST_USER_HDR_SIZE, h.size, deadline, name, &got, e);
    if (rc == -VS_ETIMEDOUT)
        return fe_die(t, e, VS_EPROTO, "%s reply: truncated payload (%zu of %u bytes, then "
                      "nothing for %d ms)", name, got, h.size, t->o.msg_timeout_ms);
    if (rc < 0)
        return rc;
    t->st.replies++;
    if (ack) {
        if (h.size != 8)
            return fe_die(t, e, VS_EPROTO, "%s REPLY_ACK: payload of %u bytes, expected 8",
                          name, h.size);
        memset(reply, 0, sizeof *reply);
        reply->request = h.request;
        reply->flags = h.flags;
        reply->size = 8;
        reply->kind = VS_VHOST_P_U64;
        memcpy(&reply->p.u64, buf + VS_VHOST_USER_HDR_SIZE, 8);
        return 0;
    }
    if (empty) {
        *empty = h.size == 0;
        if (h.size == 0)
            return 0;
    }
    if (vs_vhost_msg_decode(buf, VS_VHOST_USER_HDR_SIZE + h.size, VS_VHOST_DIR_REPLY, 0,
                            reply, &rule, &ce) < 0)
        return fe_die(t, e, VS_EPROTO, "%s reply: %s", name, ce.msg);
    if (vs_vhost_check_reply(req, reply, &rule, &ce) < 0)
        return fe_die(t, e, VS_EPROTO, "%s reply: %s", name, ce.msg);
    return 0;
}

/* A request without a natural reply: with REPLY_ACK, ask for an ack and check it. */
static int fe_set(vhost_fe *t, vs_vhost_msg *m, const int *fds, unsigned nfds, vs_err *e)
{
    bool ack = (t->proto & VS_BIT(VS_VHOST_PF_REPLY_ACK)) != 0;
    if (ack)
        m->flags |= VS_VHOST_USER_FLAG_NEED_REPLY;
    int rc = fe_send(t, m, fds, nfds, e);
    if (rc < 0 || !ack)
        return rc;
    vs_vhost_msg r;
    if ((rc = fe_recv(t, m, true, &r, NULL, e)) < 0)
        return rc;
    if (r.p.u64 != 0)
        return vs_err_set(e, VS_EIO, "vhost-user: back-end rejected %s (REPLY_ACK %" PRIu64 ")",
                          vs_vhost_req_name(m->request), r.p.u64);
    return 0;
}

static int fe_get_u64(vhost_fe *t, uint32_t req, uint64_t *v, vs_err *e)
{
    vs_vhost_msg m, r;
    vs_vhost_msg_init(&m, req, VS_VHOST_DIR_REQUEST);
    m.kind = VS_VHOST_P_NONE;
    int rc = fe_send(t, &m, NULL, 0, e);
    if (rc < 0)
        return rc;
    if ((rc = fe_recv(t, &m, false, &r, NULL, e)) < 0)
        return rc;
    *v = r.p.u64;
    return 0;
}

static int fe_set_u64(vhost_fe *t, uint32_t req, uint64_t v, vs_err *e)
{
    vs_vhost_msg m;
    vs_vhost_msg_init(&m, req, VS_VHOST_DIR_REQUEST);
    m.kind = VS_VHOST_P_U64;
    m.p.u64 = v;
    return fe_set(t, &m, NULL, 0, e);
}

static int fe_set_state(vhost_fe *t, uint32_t req, uint32_t index, uint32_t num, vs_err *e)
{
    vs_vhost_msg m;
    vs_vhost_msg_init(&m, req, VS_VHOST_DIR_REQUEST);
    m.kind = VS_VHOST_P_STATE;
    m.p.state.index = index;
    m.p.state.num = num;
    return fe_set(t, &m, NULL, 0, e);
}

static int fe_set_vring_fd(vhost_fe *t, uint32_t req, uint32_t index, int fd, vs_err *e)
{
    vs_vhost_msg m;
    vs_vhost_msg_init(&m, req, VS_VHOST_DIR_REQUEST);
    m.kind = VS_VHOST_P_U64;
    m.p.u64 = index & VS_VHOST_VRING_IDX_MASK;
    if (fd < 0)
        m.p.u64 |= VS_VHOST_VRING_NOFD_MASK;
    m.nfds = fd >= 0 ? 1 : 0;
    return fe_set(t, &m, fd >= 0 ? &fd : NULL, m.nfds, e);
}

/* ------------------------------------------------------------------ negotiation */

/* What the device's class says the back-end answers; 64 bytes for a device without one. */
static uint32_t config_size_for(uint32_t device_id)
{
    const vs_device_class *c = vs_device_class_by_id(device_id);
    return c && c->vhost_config_len ? c->vhost_config_len : 64;
}

/* A back-end without GET_QUEUE_NUM: the queue count its config space advertises. */
static uint64_t config_num_queues(const vhost_fe *t, uint64_t offered, uint64_t nq)
{
    const vs_device_class *c = vs_device_class_by_id(t->base.device_id);
    if (!c || t->cfg_len < c->num_queues_off + 2)
        return nq;
    if (!c->num_queues_always &&
        (c->num_queues_feature < 0 || !(offered & VS_BIT(c->num_queues_feature))))
        return nq;
    return ((uint64_t)t->cfg[c->num_queues_off] | (uint64_t)t->cfg[c->num_queues_off + 1] << 8) +
           c->num_queues_extra;
}

static int fe_fetch_config(vhost_fe *t, vs_err *e)
{
    if (!(t->proto & VS_BIT(VS_VHOST_PF_CONFIG)))
        return vs_err_set(e, VS_ENOTSUP, "vhost-user: back-end has no CONFIG protocol "
                          "feature: device config is not readable");
    vs_vhost_msg m, r;
    vs_vhost_msg_init(&m, VS_VHOST_USER_GET_CONFIG, VS_VHOST_DIR_REQUEST);
    m.kind = VS_VHOST_P_CONFIG;
    memset(&m.p.config, 0, sizeof m.p.config);
    m.p.config.offset = 0;
    m.p.config.size = config_size_for(t->base.device_id);
    m.p.config.flags = 0;
    int rc = fe_send(t, &m, NULL, 0, e);
    if (rc < 0)
        return rc;
    bool empty = false;
    if ((rc = fe_recv(t, &m, false, &r, &empty, e)) < 0)
        return rc;
    if (empty)
        return vs_err_set(e, VS_EIO, "vhost-user: back-end failed GET_CONFIG of %u bytes "
                          "(zero-length reply)", m.p.config.size);
    if (r.p.config.offset != 0 || r.p.config.size != m.p.config.size)
        return fe_die(t, e, VS_EPROTO, "GET_CONFIG reply: offset %u size %u, expected "
                      "offset 0 size %u", r.p.config.offset, r.p.config.size,
                      m.p.config.size);
    uint32_t n = r.p.config.size;
    if (t->cfg_valid && (n != t->cfg_len || memcmp(t->cfg, r.p.config.data, n) != 0))
        t->cfg_gen++;
    memcpy(t->cfg, r.p.config.data, n);
    t->cfg_len = n;
    t->cfg_valid = true;
    return 0;
}

/* GET_FEATURES, protocol features, SET_OWNER, GET_QUEUE_NUM, GET_CONFIG. */
static int fe_handshake(vhost_fe *t, vs_err *e)
{
    int rc;
    uint64_t f = 0;
    if ((rc = fe_get_u64(t, VS_VHOST_USER_GET_FEATURES, &f, e)) < 0)
        return rc;
    t->offered = f;
    t->st.features = f;
    t->proto = 0;
    if (f & VS_BIT(VS_VHOST_F_PROTOCOL_FEATURES)) {
        uint64_t pf = 0;
        if ((rc = fe_get_u64(t, VS_VHOST_USER_GET_PROTOCOL_FEATURES, &pf, e)) < 0)
            return rc;
        t->st.protocol_offered = pf;
        uint64_t want = pf & FE_PROTO_SUPPORTED;
        if (t->o.no_reply_ack)
            want &= ~VS_BIT(VS_VHOST_PF_REPLY_ACK);
        /* t->proto is still 0 here: SET_PROTOCOL_FEATURES itself is not acked */
        if ((rc = fe_set_u64(t, VS_VHOST_USER_SET_PROTOCOL_FEATURES, want, e)) < 0)
            return rc;
        t->proto = want;
    }
    t->st.protocol_features = t->proto;
    vs_vhost_msg m;
    vs_vhost_msg_init(&m, VS_VHOST_USER_SET_OWNER, VS_VHOST_DIR_REQUEST);
    m.kind = VS_VHOST_P_NONE;
    if ((rc = fe_set(t, &m, NULL, 0, e)) < 0)
        return rc;
    uint64_t nq = 1;
    if (t->proto & VS_BIT(VS_VHOST_PF_MQ)) {
        if ((rc = fe_get_u64(t, VS_VHOST_USER_GET_QUEUE_NUM, &nq, e)) < 0)
            return rc;
        if (nq == 0 || nq > 0xffff)
            return fe_die(t, e, VS_EPROTO, "GET_QUEUE_NUM reply: %" PRIu64 " queues", nq);
        t->st.backend_queues = (uint16_t)nq;
    }
    if (t->proto & VS_BIT(VS_VHOST_PF_CONFIG)) {
        if ((rc = fe_fetch_config(t, e)) < 0)
            return rc;
        if (!(t->proto & VS_BIT(VS_VHOST_PF_MQ)))
            nq = config_num_queues(t, f, nq);
    }
    if (nq == 0)
        nq = 1;
    if (nq > VS_VHOST_FE_MAX_QUEUES)
        nq = VS_VHOST_FE_MAX_QUEUES;
    t->nq = (uint16_t)nq;
    return 0;
}

static int fe_connect(vhost_fe *t, vs_err *e)
{
    uint64_t deadline = mono_ns() + (uint64_t)t->o.connect_timeout_ms * 1000000u;
    for (;;) {
        int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (s < 0)
            return vs_err_set(e, VS_EIO, "vhost-user: socket: %s", strerror(errno));
        struct sockaddr_un sa;
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        memcpy(sa.sun_path, t->path, strlen(t->path) + 1);
        if (connect(s, (struct sockaddr *)&sa, sizeof sa) == 0) {
            t->sock = s;
            t->dead = false;
            vs_err_clear(&t->dead_err);
            t->pfd_stale = true;
            return 0;
        }
        int err = errno;
        close(s);
        if ((err != ECONNREFUSED && err != ENOENT && err != EAGAIN && err != EINTR) ||
            mono_ns() >= deadline)
            return vs_err_set(e, err == ECONNREFUSED || err == ENOENT ? VS_EBACKEND : VS_EIO,
                              "vhost-user: connect %s: %s", t->path, strerror(err));
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
}

/* ------------------------------------------------------------------ rings */

static int fe_send_mem_table(vhost_fe *t, vs_err *e)
{
    vs_gmem *gm = t->base.gm;
    vs_vhost_msg m;
    vs_vhost_msg_init(&m, VS_VHOST_USER_SET_MEM_TABLE, VS_VHOST_DIR_REQUEST);
    m.kind = VS_VHOST_P_MEM_TABLE;
    memset(&m.p.mem, 0, sizeof m.p.mem);
    m.p.mem.nregions = 1;
    m.p.mem.region[0].gpa = 0;
    m.p.mem.region[0].size = vs_gmem_file_size(gm);
    m.p.mem.region[0].uaddr = (uint64_t)(uintptr_t)vs_gmem_host_base(gm);
    m.p.mem.region[0].mmap_offset = 0;
    m.nfds = 1;
    int fd = vs_gmem_fd(gm);
    int rc = fe_set(t, &m, &fd, 1, e);
    if (rc < 0)
        return vs_err_prefix(e, "SET_MEM_TABLE");
    t->mem_sent = true;
    return 0;
}

static int new_eventfd(int *fd, vs_err *e)
{
    *fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (*fd < 0)
        return vs_err_set(e, VS_EIO, "vhost-user: eventfd: %s", strerror(errno));
    return 0;
}

static int fe_start_queue(vhost_fe *t, uint16_t i, uint16_t base, vs_err *e)
{
    fe_queue *q = &t->q[i];
    int rc;
    uint64_t hb = (uint64_t)(uintptr_t)vs_gmem_host_base(t->base.gm);
    queue_close_fds(q);
    t->pfd_stale = true;
    if ((rc = new_eventfd(&q->kick, e)) < 0 || (rc = new_eventfd(&q->call, e)) < 0 ||
        (rc = new_eventfd(&q->err, e)) < 0)
        return rc;
    if ((rc = fe_set_state(t, VS_VHOST_USER_SET_VRING_NUM, i, q->l.size, e)) < 0)
        goto fail;
    if ((rc = fe_set_state(t, VS_VHOST_USER_SET_VRING_BASE, i, base, e)) < 0)
        goto fail;
    vs_vhost_msg m;
    vs_vhost_msg_init(&m, VS_VHOST_USER_SET_VRING_ADDR, VS_VHOST_DIR_REQUEST);
    m.kind = VS_VHOST_P_ADDR;
    m.p.addr = (vs_vhost_vring_addr){.index = i, .flags = 0,
                                     .desc = hb + q->l.desc_gpa,
                                     .used = hb + q->l.device_gpa,
                                     .avail = hb + q->l.driver_gpa,
                                     .log = 0};
    if ((rc = fe_set(t, &m, NULL, 0, e)) < 0)
        goto fail;
    if ((rc = fe_set_vring_fd(t, VS_VHOST_USER_SET_VRING_KICK, i, q->kick, e)) < 0)
        goto fail;
    if ((rc = fe_set_vring_fd(t, VS_VHOST_USER_SET_VRING_CALL, i, q->call, e)) < 0)
        goto fail;
    if ((rc = fe_set_vring_fd(t, VS_VHOST_USER_SET_VRING_ERR, i, q->err, e)) < 0)
        goto fail;
    if (t->offered & VS_BIT(VS_VHOST_F_PROTOCOL_FEATURES))
        if ((rc = fe_set_state(t, VS_VHOST_USER_SET_VRING_ENABLE, i, 1, e)) < 0)
            goto fail;
    q->started = true;
    return 0;
fail:
    return vs_err_prefix(e, "queue %u", i);
}

static int fe_stop_queue(vhost_fe *t, uint16_t i, uint16_t *base, vs_err *e)
{
    fe_queue *q = &t->q[i];
    if (!q->started)
        return 0;
    q->started = false;
    int rc = 0;
    if (!t->dead) {
        vs_vhost_msg m, r;
        vs_vhost_msg_init(&m, VS_VHOST_USER_GET_VRING_BASE, VS_VHOST_DIR_REQUEST);
        m.kind = VS_VHOST_P_STATE;
        m.p.state.index = i;
        m.p.state.num = 0;
        if ((rc = fe_send(t, &m, NULL, 0, e)) == 0 &&
            (rc = fe_recv(t, &m, false, &r, NULL, e)) == 0) {
            if (r.p.state.index != i)
                rc = fe_die(t, e, VS_EPROTO, "GET_VRING_BASE reply: index %u, expected %u",
                            r.p.state.index, i);
            else if (r.p.state.num > 0xffff)
                rc = fe_die(t, e, VS_EPROTO, "GET_VRING_BASE reply: base %u > 0xffff",
                            r.p.state.num);
            else if (base)
                *base = (uint16_t)r.p.state.num;
        }
    }
    queue_close_fds(q);
    t->pfd_stale = true;
    return rc;
}

static int fe_start_all(vhost_fe *t, bool resume, vs_err *e)
{
    int rc;
    bool any = false;
    for (unsigned i = 0; i < t->nq; i++)
        any |= t->q[i].setup && !t->q[i].started;
    if (!any)
        return 0;
    if (!t->mem_sent && (rc = fe_send_mem_table(t, e)) < 0)
        return rc;
    for (uint16_t i = 0; i < t->nq; i++) {
        fe_queue *q = &t->q[i];
        if (!q->setup || q->started)
            continue;
        /* packed: last_avail_idx 0 with wrap counter 1 (like QEMU's initial state) */
        uint16_t base = q->l.format == VS_RING_PACKED ? 0x8000 : 0;
        if (resume) {
            /* used->idx lives at offset 2 of the used ring */
            uint16_t used = 0;
            if ((rc = vs_gmem_ld16(t->base.gm, q->l.device_gpa + 2, &used, e)) < 0)
                return vs_err_prefix(e, "vhost-user: queue %u used idx", i);
            base = used;
        }
        if ((rc = fe_start_queue(t, i, base, e)) < 0)
            return rc;
        if (resume) {
            uint64_t one = 1;
            ssize_t w = write(q->kick, &one, 8);
            (void)w;
        }
    }
    return 0;
}

static void fe_forget_queues(vhost_fe *t)
{
    for (unsigned i = 0; i < VS_VHOST_FE_MAX_QUEUES; i++) {
        queue_close_fds(&t->q[i]);
        t->q[i].setup = false;
        t->q[i].started = false;
    }
    t->pfd_stale = true;
}

/* ------------------------------------------------------------------ ops */

/* Reset: GET_VRING_BASE on every started ring. A bad reply (wrong request, wrong ring
 * index, none in time) is the back-end's fault and is returned as such even though the
 * reset then reconnects; so is a connection the back-end dropped while the device ran
 * when the driver never read the DEVICE_NEEDS_RESET that announced it: the reconnected
 * back-end lost whatever the device held, which the driver would otherwise see only as
 * wrong data later. */
static int op_reset(vs_transport *bt, vs_err *e)
{
    vhost_fe *t = (vhost_fe *)bt;
    int first = 0;
    vs_err fe = {0};
    if (t->dead && t->loss_unseen)
        first = vs_err_set(&fe, VS_EIO, "back-end dropped the connection while the device "
                           "was running (%s); the reset reconnects to a back-end that lost "
                           "the device's state", t->dead_err.msg);
    for (uint16_t i = 0; i < VS_VHOST_FE_MAX_QUEUES && !t->dead; i++) {
        int rc = fe_stop_queue(t, i, NULL, &fe);
        if (rc < 0 && !first)
            first = rc;
    }
    fe_forget_queues(t);
    t->status = 0;
    t->drv_features = 0;
    t->features_ok = false;
    if (t->dead && t->path[0]) {
        /* A fresh connection with nothing to replay; its failure is reported only when
         * nothing went wrong before it. */
        vs_err re = {0};
        int rc = vs_vhost_user_reconnect(bt, &re);
        if (rc < 0 && !first) {
            first = rc;
            fe = re;
        }
    }
    t->err_seen = false;
    t->loss_unseen = false;
    if (first < 0 && e)
        *e = fe;
    return first;
}

static int op_get_status(vs_transport *bt, uint8_t *status, vs_err *e)
{
    vhost_fe *t = (vhost_fe *)bt;
    (void)e;
    uint8_t s = t->status;
    if (!t->features_ok)
        s &= (uint8_t)~VS_STATUS_FEATURES_OK;
    if (t->err_seen) {
        s |= VS_STATUS_DEVICE_NEEDS_RESET;
        t->loss_unseen = false; /* the driver now knows */
    }
    *status = s;
    return 0;
}

static int op_set_status(vs_transport *bt, uint8_t status, vs_err *e)
{
    vhost_fe *t = (vhost_fe *)bt;
    if (status == 0)
        return op_reset(bt, e);
    uint8_t added = (uint8_t)(status & ~t->status);
    t->status = status;
    int rc;
    if (added & VS_STATUS_FEATURES_OK) {
        /* FEATURES_OK sticks iff the driver's features are a subset of the offer and the
         * back-end took SET_FEATURES. */
        uint64_t dev = t->offered & ~VHOST_ONLY_FEATURES;
        t->features_ok = false;
        if ((t->drv_features & ~dev) == 0) {
            uint64_t f = t->drv_features;
            if (t->offered & VS_BIT(VS_VHOST_F_PROTOCOL_FEATURES))
                f |= VS_BIT(VS_VHOST_F_PROTOCOL_FEATURES);
            if ((rc = fe_set_u64(t, VS_VHOST_USER_SET_FEATURES, f, e)) < 0)
                return rc;
            t->features_ok = true;
        }
    }
    if ((added & VS_STATUS_DRIVER_OK) && t->features_ok) {
        if ((rc = fe_start_all(t, false, e)) < 0)
            return rc;
    }
    return fe_alive(t, e);
}

static int op_get_device_features(vs_transport *bt, uint64_t *f, vs_err *e)
{
    vhost_fe *t = (vhost_fe *)bt;
    int rc = fe_alive(t, e);
    if (rc < 0)
        return rc;
    *f = t->offered & ~VHOST_ONLY_FEATURES;
    return 0;
}

static int op_set_driver_features(vs_transport *bt, uint64_t f, vs_err *e)
{
    vhost_fe *t = (vhost_fe *)bt;
    (void)e;
    t->drv_features = f;   /* sent to the back-end at FEATURES_OK */
    return 0;
}

static int op_config_read(vs_transport *bt, uint32_t off, void *buf, uint32_t len, vs_err *e)
{
    vhost_fe *t = (vhost_fe *)bt;
    int rc = fe_alive(t, e);
    if (rc < 0)
        return rc;
    if ((rc = fe_fetch_config(t, e)) < 0)
        return rc;
    if (off > t->cfg_len || len > t->cfg_len - off)
        return vs_err_set(e, VS_ERANGE, "vhost-user: config read [%u, +%u) beyond the %u "
                          "config bytes", off, len, t->cfg_len);
    memcpy(buf, t->cfg + off, len);
    return 0;
}

static int op_config_write(vs_transport *bt, uint32_t off, const void *buf, uint32_t len,
                           vs_err *e)
{
    vhost_fe *t = (vhost_fe *)bt;
    int rc = fe_alive(t, e);
    if (rc < 0)
        return rc;
    if (!(t->proto & VS_BIT(VS_VHOST_PF_CONFIG)))
        return vs_err_set(e, VS_ENOTSUP, "vhost-user: no CONFIG protocol feature");
    if (len > VS_VHOST_CONFIG_MAX || off > VS_VHOST_CONFIG_MAX - len)
        return vs_err_set(e, VS_ERANGE, "vhost-user: config write [%u, +%u) too large", off,
                          len);
    vs_vhost_msg m;
    vs_vhost_msg_init(&m, VS_VHOST_USER_SET_CONFIG, VS_VHOST_DIR_REQUEST);
    m.kind = VS_VHOST_P_CONFIG;
    memset(&m.p.config, 0, sizeof m.p.config);
    m.p.config.offset = off;
    m.p.config.size = len;
    m.p.config.flags = VS_VHOST_SET_CONFIG_WRITABLE;
    memcpy(m.p.config.data, buf, len);
    if ((rc = fe_set(t, &m, NULL, 0, e)) < 0)
        return rc;
    t->cfg_valid = false;
    return 0;
}

static int op_config_generation(vs_transport *bt, uint32_t *gen, vs_err *e)
{
    vhost_fe *t = (vhost_fe *)bt;
    (void)e;
    *gen = t->cfg_gen;
    return 0;
}

static int op_num_queues(vs_transport *bt, uint16_t *n, vs_err *e)
{
    vhost_fe *t = (vhost_fe *)bt;
    int rc = fe_alive(t, e);
    if (rc < 0)
        return rc;
    *n = t->nq;
    return 0;
}

static int op_queue_max_size(vs_transport *bt, uint16_t q, uint32_t *size, vs_err *e)
{
    vhost_fe *t = (vhost_fe *)bt;
    *size = q < t->nq ? t->o.queue_max_size : 0;
    (void)e;
    return 0;
}

static int op_queue_setup(vs_transport *bt, uint16_t qi, const vs_vq_layout *l, vs_err *e)
{
    vhost_fe *t = (vhost_fe *)bt;
    int rc = fe_alive(t, e);
    if (rc < 0)
        return rc;
    if (qi >= t->nq)
        return vs_err_set(e, VS_ERANGE, "vhost-user: queue %u >= %u queues", qi, t->nq);
    if (!l || l->size == 0 || l->size > t->o.queue_max_size)
        return vs_err_set(e, VS_EINVAL, "vhost-user: queue %u: bad size %u (max %u)", qi,
                          l ? l->size : 0, t->o.queue_max_size);
    fe_queue *q = &t->q[qi];
    if (q->started && (rc = fe_stop_queue(t, qi, NULL, e)) < 0)
        return rc;
    q->l = *l;
    q->setup = true;
    if ((t->status & VS_STATUS_DRIVER_OK) && t->features_ok)
        return fe_start_all(t, false, e);
    return 0;
}

static int op_queue_disable(vs_transport *bt, uint16_t qi, vs_err *e)
{
    vhost_fe *t = (vhost_fe *)bt;
    if (qi >= VS_VHOST_FE_MAX_QUEUES)
        return vs_err_set(e, VS_ERANGE, "vhost-user: queue %u out of range", qi);
    int rc = fe_stop_queue(t, qi, NULL, e);
    t->q[qi].setup = false;
    return rc;
}

static int op_notify(vs_transport *bt, uint16_t qi, vs_err *e)
{
    vhost_fe *t = (vhost_fe *)bt;
    if (qi >= VS_VHOST_FE_MAX_QUEUES || !t->q[qi].started) {
        int rc = fe_alive(t, e);
        if (rc < 0)
            return rc;
        return vs_err_set(e, VS_ESTATE, "vhost-user: notify on queue %u that is not started "
                          "(DRIVER_OK not set?)", qi);
    }
    uint64_t one = 1;
    for (;;) {
        ssize_t n = write(t->q[qi].kick, &one, 8);
        if (n == 8)
            break;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;  /* counter saturated: the back-end has a kick pending anyway */
        return vs_err_set(e, VS_EIO, "vhost-user: kick queue %u: %s", qi, strerror(errno));
    }
    t->st.kicks++;
    return 0;
}

static void rebuild_pfd(vhost_fe *t)
{
    unsigned n = 0;
    if (t->sock >= 0) {
        t->pfd[n] = (struct pollfd){.fd = t->sock, .events = POLLIN};
        t->pfd_q[n++] = -1;
    }
    for (unsigned i = 0; i < t->nq; i++) {
        if (!t->q[i].started)
            continue;
        t->pfd[n] = (struct pollfd){.fd = t->q[i].call, .events = POLLIN};
        t->pfd_q[n++] = (int)i;
        t->pfd[n] = (struct pollfd){.fd = t->q[i].err, .events = POLLIN};
        t->pfd_q[n++] = (int)i | 0x10000;
    }
    t->npfd = n;
    t->pfd_stale = false;
}

/* Handles readable fds after a poll; returns interrupts delivered or < 0. */
static int handle_ready(vhost_fe *t, vs_err *e)
{
    int delivered = 0;
    for (unsigned k = 0; k < t->npfd; k++) {
        if (!t->pfd[k].revents)
            continue;
        int qi = t->pfd_q[k];
        if (qi == -1) {
            char b;
            ssize_t n = recv(t->sock, &b, 1, MSG_PEEK | MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) ||
                (t->pfd[k].revents & (POLLHUP | POLLERR)))
                return fe_die(t, e, VS_EBACKEND, "back-end closed the connection");
            if (n > 0)
                return fe_die(t, e, VS_EPROTO, "unsolicited message from the back-end "
                              "(no request outstanding)");
            continue;
        }
        uint64_t v;
        ssize_t n = read(t->pfd[k].fd, &v, 8);
        if (n != 8)
            continue;
        if (qi & 0x10000) {
            qi &= 0xffff;
            char m[96];
            snprintf(m, sizeof m, "vhost-user: back-end signalled the error eventfd of "
                     "queue %d", qi);
            emit(t, VS_EV_NOTE, qi, v, m);
            t->err_seen = true;
            emit(t, VS_EV_IRQ, VS_IRQ_CONFIG, 0, NULL);
            emit(t, VS_EV_CONFIG_CHANGE, -1, 0, NULL);
            if (t->base.irq_fn)
                t->base.irq_fn(t->base.irq_opaque, VS_IRQ_CONFIG);
            delivered++;
            continue;
        }
        t->st.calls++;
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
    vhost_fe *t = (vhost_fe *)bt;
    int rc = fe_alive(t, e);
    if (rc < 0)
        return rc;
    if (t->pfd_stale)
        rebuild_pfd(t);
    uint64_t start = mono_ns();
    uint64_t spin = t->o.spin_ns;
    if (spin > timeout_ns)
        spin = timeout_ns;
    /* Spin phase: non-blocking polls. */
    for (;;) {
        for (unsigned k = 0; k < t->npfd; k++)
            t->pfd[k].revents = 0;
        int pr = poll(t->pfd, t->npfd, 0);
        t->st.polls++;
        if (pr < 0 && errno != EINTR)
            return vs_err_set(e, VS_EIO, "vhost-user: poll: %s", strerror(errno));
        if (pr > 0) {
            rc = handle_ready(t, e);
            if (rc != 0)
                return rc;
        }
        if (spin == 0 || mono_ns() - start >= spin)
            break;
    }
    uint64_t el = mono_ns() - start;
    if (el >= timeout_ns)
        return 0;
    uint64_t left = timeout_ns - el;
    int ms = (int)((left + 999999) / 1000000);
    if (left < 1000000 && t->base.irq_mode == VS_IRQ_POLL)
        return 0;
    for (unsigned k = 0; k < t->npfd; k++)
        t->pfd[k].revents = 0;
    struct timespec ts = {.tv_sec = (time_t)(left / 1000000000u),
                          .tv_nsec = (long)(left % 1000000000u)};
    (void)ms;
    int pr = ppoll(t->pfd, t->npfd, &ts, NULL);
    t->st.polls++;
    if (pr < 0 && errno != EINTR)
        return vs_err_set(e, VS_EIO, "vhost-user: poll: %s", strerror(errno));
    if (pr <= 0)
        return 0;
    return handle_ready(t, e);
}

static int op_read_isr(vs_transport *bt, uint8_t *isr, vs_err *e)
{
    (void)bt;
    (void)e;
    *isr = 0;
    return 0;
}

/* The run's end: every started ring stopped with its GET_VRING_BASE checked, as a reset
 * does, but without reconnecting. A bad reply here used to vanish in destroy. */
static int op_close(vs_transport *bt, vs_err *e)
{
    vhost_fe *t = (vhost_fe *)bt;
    int first = 0;
    vs_err fe = {0};
    for (uint16_t i = 0; i < VS_VHOST_FE_MAX_QUEUES && !t->dead; i++) {
        int rc = fe_stop_queue(t, i, NULL, &fe);
        if (rc < 0 && !first)
            first = rc;
    }
    if (first < 0 && e)
        *e = fe;
    return first;
}

static void op_destroy(vs_transport *bt)
{
    vhost_fe *t = (vhost_fe *)bt;
    if (!t)
        return;
    for (uint16_t i = 0; i < VS_VHOST_FE_MAX_QUEUES; i++)
        fe_stop_queue(t, i, NULL, NULL);
    fe_forget_queues(t);
    close_fd(&t->sock);
    free(t);
}

static const vs_transport_ops fe_ops = {
    .name = "vhost-user",
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
    .close = op_close,
};

/* ------------------------------------------------------------------ public */

void vs_vhost_fe_opts_default(vs_vhost_fe_opts *o)
{
    memset(o, 0, sizeof *o); /* device_id: the caller's to give */
    o->irq_mode = VS_IRQ_MSIX;
    o->msg_timeout_ms = 2000;
    o->connect_timeout_ms = 5000;
    o->queue_max_size = 1024;
    o->spin_ns = 20000;
}

static int create_common(vs_transport **out, vs_gmem *gm, const char *path, int fd,
                         const vs_vhost_fe_opts *o, vs_event_bus *bus, vs_err *e)
{
    if (!out || !gm) {
        if (fd >= 0)
            close(fd);
        return vs_err_set(e, VS_EINVAL, "vhost-user: missing output or guest memory");
    }
    *out = NULL;
    if (!o || !o->device_id) {
        /* vhost-user has no message that says what the back-end is */
        if (fd >= 0)
            close(fd);
        return vs_err_set(e, VS_EINVAL, "vhost-user: no device id given (vs_vhost_fe_opts)");
    }
    const vs_gmem_region *r0 = vs_gmem_region_count(gm) ? vs_gmem_region_at(gm, 0) : NULL;
    if (!r0 || r0->gpa != 0 || r0->file_offset != 0) {
        if (fd >= 0)
            close(fd);
        return vs_err_set(e, VS_EINVAL, "vhost-user: guest memory must have a RAM region "
                          "at GPA 0 = memfd offset 0 (vs_gmem_create_flat)");
    }
    for (size_t i = 0; i < vs_gmem_region_count(gm); i++) {
        const vs_gmem_region *r = vs_gmem_region_at(gm, i);
        if (!(r->flags & VS_GMEM_HOLE) && r->gpa != r->file_offset) {
            if (fd >= 0)
                close(fd);
            return vs_err_set(e, VS_EINVAL, "vhost-user: region at GPA 0x%" PRIx64
                              " is not identity-mapped to the memfd", r->gpa);
        }
    }
    vhost_fe *t = calloc(1, sizeof *t);
    if (!t) {
        if (fd >= 0)
            close(fd);
        return vs_err_set(e, VS_ENOMEM, "vhost-user: out of memory");
    }
    vs_vhost_fe_opts def;
    vs_vhost_fe_opts_default(&def);
    t->o = *o;
    if (t->o.msg_timeout_ms <= 0)
        t->o.msg_timeout_ms = def.msg_timeout_ms;
    if (t->o.connect_timeout_ms <= 0)
        t->o.connect_timeout_ms = def.connect_timeout_ms;
    if (!t->o.queue_max_size)
        t->o.queue_max_size = def.queue_max_size;
    if (t->o.queue_max_size > VS_VQ_MAX_SIZE)
        t->o.queue_max_size = VS_VQ_MAX_SIZE;
    if (!t->o.spin_ns)
        t->o.spin_ns = def.spin_ns;
    else if (t->o.spin_ns == UINT64_MAX)
        t->o.spin_ns = 0;
    t->base.ops = &fe_ops;
    t->base.gm = gm;
    t->base.device_id = t->o.device_id;
    t->base.irq_mode = t->o.irq_mode;
    t->bus = bus;
    t->sock = fd;
    for (unsigned i = 0; i < VS_VHOST_FE_MAX_QUEUES; i++)
        t->q[i].kick = t->q[i].call = t->q[i].err = -1;
    t->pfd_stale = true;
    clock_gettime(CLOCK_MONOTONIC, &t->t0);
    int rc;
    if (path) {
        if (strlen(path) + 1 > sizeof t->path) {
            free(t);
            return vs_err_set(e, VS_EINVAL, "vhost-user: socket path too long");
        }
        snprintf(t->path, sizeof t->path, "%s", path);
        if ((rc = fe_connect(t, e)) < 0) {
            free(t);
            return rc;
        }
    }
    if ((rc = fe_handshake(t, e)) < 0) {
        op_destroy(&t->base);
        return rc;
    }
    *out = &t->base;
    return 0;
}

int vs_vhost_user_transport_create(vs_transport **out, vs_gmem *gm, const char *socket_path,
                                   const vs_vhost_fe_opts *o, vs_event_bus *bus, vs_err *e)
{
    if (!socket_path || !*socket_path)
        return vs_err_set(e, VS_EINVAL, "vhost-user: no socket path");
    return create_common(out, gm, socket_path, -1, o, bus, e);
}

int vs_vhost_user_transport_create_fd(vs_transport **out, vs_gmem *gm, int fd,
                                      const vs_vhost_fe_opts *o, vs_event_bus *bus,
                                      vs_err *e)
{
    if (fd < 0)
        return vs_err_set(e, VS_EINVAL, "vhost-user: bad fd");
    return create_common(out, gm, NULL, fd, o, bus, e);
}

bool vs_vhost_user_transport_is(const vs_transport *t)
{
    return t && t->ops == &fe_ops;
}

int vs_vhost_user_reconnect(vs_transport *bt, vs_err *e)
{
    if (!vs_vhost_user_transport_is(bt))
        return vs_err_set(e, VS_EINVAL, "vhost-user: not a vhost-user transport");
    vhost_fe *t = (vhost_fe *)bt;
    if (!t->path[0])
        return vs_err_set(e, VS_ENOTSUP, "vhost-user: transport made from an fd cannot "
                          "reconnect");
    if (!t->dead)
        fe_die(t, NULL, VS_EBACKEND, "reconnect requested");
    for (unsigned i = 0; i < VS_VHOST_FE_MAX_QUEUES; i++) {
        queue_close_fds(&t->q[i]);
        t->q[i].started = false;
        if (t->q[i].setup && t->q[i].l.format == VS_RING_PACKED &&
            (t->status & VS_STATUS_DRIVER_OK))
            return vs_err_set(e, VS_ENOTSUP, "vhost-user: reconnect with a packed ring "
                              "running is not supported");
    }
    t->mem_sent = false;
    int rc = fe_connect(t, e);
    if (rc < 0)
        return rc;
    uint64_t old = t->offered;
    if ((rc = fe_handshake(t, e)) < 0)
        return rc;
    t->st.reconnects++;
    if (t->features_ok) {
        uint64_t dev = t->offered & ~VHOST_ONLY_FEATURES;
        if (t->drv_features & ~dev)
            return fe_die(t, e, VS_EBACKEND, "restarted back-end no longer offers the "
                          "negotiated features (0x%" PRIx64 " before, 0x%" PRIx64 " now)",
                          old, t->offered);
        uint64_t f = t->drv_features;
        if (t->offered & VS_BIT(VS_VHOST_F_PROTOCOL_FEATURES))
            f |= VS_BIT(VS_VHOST_F_PROTOCOL_FEATURES);
        if ((rc = fe_set_u64(t, VS_VHOST_USER_SET_FEATURES, f, e)) < 0)
            return rc;
        if (t->status & VS_STATUS_DRIVER_OK) {
            /* The rings are replayed: the loss was recovered, not a device error. */
            if ((rc = fe_start_all(t, true, e)) < 0)
                return rc;
            t->err_seen = false;
        }
    }
    t->loss_unseen = false; /* recovered (or nothing ran) */
    return 0;
}

int vs_vhost_user_stats(const vs_transport *bt, vs_vhost_fe_stats *st, vs_err *e)
{
    if (!vs_vhost_user_transport_is(bt) || !st)
        return vs_err_set(e, VS_EINVAL, "vhost-user: not a vhost-user transport");
    *st = ((const vhost_fe *)bt)->st;
    return 0;
}
