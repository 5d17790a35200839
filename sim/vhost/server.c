/* vhost-user back-end server (see include/virtiosim/vhost_user.h).
 *
 * A connection runs in one thread, one poll() loop over: the stop eventfd, the front-end
 * socket and the kick eventfds of its rings. With one shared device (opts.dev) the
 * front-ends are served one after the other; with opts.conn_open each front-end gets its
 * own device and bus and its own thread (a "worker": a copy of the server whose device,
 * bus and connection are its own; counters and violations live in the root, under its
 * mutex), so a silent or slow front-end blocks nobody but itself. Threads rather than
 * one event loop over every socket: a message is read and answered synchronously (with
 * its own timeout) and a batch runs the device in place, so a loop would have to turn
 * both into resumable state machines; a thread per connection keeps that code as it is
 * and lets two busy front-ends use two cores. Protocol legality comes from the
 * shared model (model/vhost.c): each message is applied to a COPY of the state, the
 * resulting effect is carried out (mmap, fds, rings), and only when that succeeded is
 * the copy committed, so a failed mmap leaves the connection as it was.
 *
 * Hot path (a kick): read the eventfd, disable notifications, pop up to `batch` chains,
 * handle + push each, publish once, one call write if the driver wants it, re-enable
 * notifications and loop while chains keep arriving. No allocation per request: the
 * segment array of each ring is allocated when the ring starts. */
#define _GNU_SOURCE
#include "sim/vhost/server_int.h"

/* ------------------------------------------------------------------ helpers */

void vs__srv_log(vs_vhost_server *s, int level, const char *fmt, ...)
{
    int max = s->o.log_level ? s->o.log_level : 1;
    if (level > max)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (s->o.log)
        s->o.log(s->o.log_opaque, level, line);
    else
        fprintf(stderr, "virtiosim vhost-user: %s\n", line);
}

static uint64_t now_ns(const vs_vhost_server *s)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)(t.tv_sec - s->t0.tv_sec) * 1000000000ull + (uint64_t)t.tv_nsec -
           (uint64_t)s->t0.tv_nsec;
}

static inline bool bus_on(const vs_vhost_server *s) { return s->o.bus && s->o.bus->n; }

static void emit(vs_vhost_server *s, enum vs_event_kind k, int32_t q, uint32_t id, uint32_t len,
                 uint32_t idx, uint64_t val, const char *text, const vs_vq_layout *l)
{
    if (!bus_on(s))
        return;
    vs_event ev = {.kind = k, .t_ns = now_ns(s), .queue = q, .id = id, .len = len, .idx = idx,
                   .val = val, .text = text, .layout = l};
    vs_event_emit(s->o.bus, &ev);
}

static void close_fd(conn *c, int *fd)
{
    if (*fd >= 0) {
        close(*fd);
        c->stats.fds_closed++;
        *fd = -1;
    }
}

static void close_fds(conn *c, int *fds, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        close_fd(c, &fds[i]);
}

static void record(vs_vhost_server *s, conn *c, const char *rule, uint32_t req, int ring,
                   const char *msg)
{
    vs_vhost_server *w = s;
    s = w->root;
    pthread_mutex_lock(&s->mu);
    if (rule) {
        for (size_t i = 0; i < s->nrules; i++)
            if (strcmp(vs_vhost_rule_at(i)->id, rule) == 0) {
                s->rule_counts[i]++;
                break;
            }
    }
    if (s->nviol < s->viol_max) {
        vs_vhost_violation *v = &s->viol[s->nviol++];
        v->rule = rule;
        v->request = req;
        v->ring = ring;
        v->connection = c ? c->id : 0;
        v->message = c ? c->nmsg : 0;
        snprintf(v->msg, sizeof v->msg, "%s", msg);
    }
    pthread_mutex_unlock(&s->mu);
    s = w;
    if (c)
        c->stats.rejected++;
    vs__srv_log(s, 1, "connection %llu message %llu %s: %s", c ? (ull)c->id : 0ull,
         c ? (ull)c->nmsg : 0ull, vs_vhost_req_name(req), msg);
    emit(s, VS_EV_NOTE, ring, 0, 0, 0, req, msg, NULL);
}

static void set_closing(conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_closing(conn *c, const char *fmt, ...)
{
    if (c->closing)
        return;
    c->closing = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->reason, sizeof c->reason, fmt, ap);
    va_end(ap);
}

static int remaining_ms(const struct timespec *deadline)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    long long ms = (long long)(deadline->tv_sec - t.tv_sec) * 1000 +
                   (deadline->tv_nsec - t.tv_nsec) / 1000000;
    return ms < 0 ? 0 : (ms > 1000000 ? 1000000 : (int)ms);
}

/* Reads exactly len bytes, collecting fds. 1 done, 0 clean EOF before any byte (only
 * when at_start), < 0 error (message in e). */
static int recv_full(vs_vhost_server *s, conn *c, void *buf, size_t len, int *fds,
                     unsigned *nfds, bool at_start, vs_err *e)
{
    size_t got = 0;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    int to = s->o.io_timeout_ms ? s->o.io_timeout_ms : 5000;
    deadline.tv_sec += to / 1000;
    deadline.tv_nsec += (long)(to % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    while (got < len) {
        union {
            char buf[CMSG_SPACE(sizeof(int) * FD_SLOTS)];
            struct cmsghdr align;
        } ctl;
        struct iovec iov = {(char *)buf + got, len - got};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                            .msg_controllen = sizeof ctl.buf};
        ssize_t n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                int ms = remaining_ms(&deadline);
                if (ms == 0)
                    return vs_err_set(e, VS_ETIMEDOUT,
                                      "front-end stalled: %zu of %zu bytes after %d ms", got, len,
                                      to);
                struct pollfd p = {c->fd, POLLIN, 0};
                poll(&p, 1, ms);
                continue;
            }
            return vs_err_set(e, VS_EIO, "recvmsg: %s", strerror(errno));
        }
        for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
            if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                continue;
            size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            int *p = (int *)CMSG_DATA(cm);
            for (size_t i = 0; i < k; i++) {
                int fd;
                memcpy(&fd, p + i, sizeof fd);
                c->stats.fds_received++;
                if (*nfds < FD_SLOTS)
                    fds[(*nfds)++] = fd;
                else {
                    close(fd);
                    c->stats.fds_closed++;
                }
            }
        }
        if (mh.msg_flags & MSG_CTRUNC)
            *nfds = FD_SLOTS; /* more than we can take: the kernel dropped some */
        if (n == 0) {
            if (got == 0 && at_start)
                return 0;
            return vs_err_set(e, VS_EPROTO, "front-end closed the socket mid-message (%zu of %zu bytes)",
                              got, len);
        }
        got += (size_t)n;
    }
    return 1;
}

static int send_full(vs_vhost_server *s, conn *c, const void *buf, size_t len, vs_err *e)
{
    size_t put = 0;
    int to = s->o.io_timeout_ms ? s->o.io_timeout_ms : 5000;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += to / 1000 + 1;
    while (put < len) {
        ssize_t n = send(c->fd, (const char *)buf + put, len - put, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                int ms = remaining_ms(&deadline);
                if (ms == 0)
                    return vs_err_set(e, VS_ETIMEDOUT, "front-end does not read its replies");
                struct pollfd p = {c->fd, POLLOUT, 0};
                poll(&p, 1, ms);
                continue;
            }
            return vs_err_set(e, VS_EIO, "send: %s", strerror(errno));
        }
        put += (size_t)n;
    }
    return 0;
}

static void send_reply(vs_vhost_server *s, conn *c, const vs_vhost_msg *r)
{
    uint8_t buf[VS_VHOST_USER_HDR_SIZE + 512];
    vs_err e;
    vs_err_clear(&e);
    int n = vs_vhost_msg_encode(r, buf, sizeof buf, &e);
    if (n < 0) {
        set_closing(c, "cannot encode reply to %s: %s", vs_vhost_req_name(r->request), e.msg);
        return;
    }
    if (send_full(s, c, buf, (size_t)n, &e) < 0) {
        set_closing(c, "reply to %s: %s", vs_vhost_req_name(r->request), e.msg);
        return;
    }
    c->stats.replies++;
}

/* ------------------------------------------------------------------ rings */

/* A busy-polled ring's notifications go back on before its vq goes (a restart over the
 * same memory must find the driver able to kick). */
static void ring_cool(srv_ring *q)
{
    if (q->hot && q->vq)
        vs_vq_dev_notify_enable(q->vq);
    q->hot = false;
    q->idle0 = 0;
}

/* Stops ring r and closes its kick and call fds; its error fd too unless keep_err (a
 * stop or RESET_DEVICE keeps it: the front-end sent it once for the connection). */
static void ring_stop(vs_vhost_server *s, conn *c, uint32_t r, bool keep_err)
{
    srv_ring *q = &c->ring[r];
    if (q->vq) {
        ring_cool(q);
        vs_vq_dev_destroy(q->vq);
        q->vq = NULL;
        emit(s, VS_EV_QUEUE_DISABLE, (int32_t)r, 0, 0, 0, 0, NULL, NULL);
    }
    close_fd(c, &q->kick_fd);
    close_fd(c, &q->call_fd);
    if (!keep_err)
        close_fd(c, &q->err_fd);
    q->pending_kick = false;
    c->pfd_dirty = true;
}

static void signal_fd(conn *c, int fd, uint64_t *counter)
{
    if (fd < 0)
        return;
    uint64_t one = 1;
    ssize_t n = write(fd, &one, sizeof one);
    (void)n; /* a full or bogus eventfd is the front-end's problem; never block */
    if (counter)
        (*counter)++;
    (void)c;
}

static void ring_error(vs_vhost_server *s, conn *c, uint32_t r, const char *rule,
                       const char *what)
{
    vs_vhost_ring_break(&c->st, r);
    c->stats.device_errors++;
    record(s, c, rule, 0, (int)r, what);
    emit(s, VS_EV_DEVICE_ERROR, (int32_t)r, 0, 0, 0, 0, what, NULL);
    signal_fd(c, c->ring[r].err_fd, NULL);
}

static int ring_create_vq(vs_vhost_server *s, conn *c, uint32_t r)
{
    srv_ring *q = &c->ring[r];
    const vs_vhost_ring *mr = &c->st.ring[r];
    vs_err e;
    vs_err_clear(&e);
    if (!c->gm) {
        ring_error(s, c, r, "vhost-user.frontend.ring-start.1", "ring started without memory");
        return -1;
    }
    uint32_t cap = mr->num > SEG_CAP_MIN ? mr->num : SEG_CAP_MIN;
    if (q->seg_cap < cap) {
        vs_dseg *n = realloc(q->segs, cap * sizeof *n);
        if (n)
            q->segs = n;
        vs_seg *v = n ? realloc(q->evsegs, cap * sizeof *v) : NULL;
        if (v)
            q->evsegs = v;
        if (!n || !v) {
            ring_error(s, c, r, NULL, "out of host memory for the segment array");
            return -1;
        }
        q->seg_cap = cap;
    }
    vs_vq_dev_opts vo = {.queue_index = (uint16_t)r};
    if ((c->st.features >> VS_F_EVENT_IDX) & 1)
        vo.features |= VS_VQ_F_EVENT_IDX;
    if ((c->st.features >> VS_F_INDIRECT_DESC) & 1)
        vo.features |= VS_VQ_F_INDIRECT;
    vs_vq_layout l = mr->layout;
    l.size = mr->num;
    if (vs_vq_dev_create(&q->vq, c->gm, &l, &vo, &e) < 0 ||
        vs_vq_dev_set_base(q->vq, (uint16_t)mr->base, &e) < 0) {
        char msg[VS_ERR_MSG_MAX + 32];
        snprintf(msg, sizeof msg, "ring %u cannot start: %s", r, e.msg);
        if (q->vq) {
            vs_vq_dev_destroy(q->vq);
            q->vq = NULL;
        }
        ring_error(s, c, r, "vhost-user.frontend.vring-addr.2", msg);
        return -1;
    }
    /* idx: the ring's base, where the device starts (the driver may be ahead already) */
    emit(s, VS_EV_QUEUE_SETUP, (int32_t)r, 0, 0, vs_vq_dev_get_base(q->vq), 0, NULL, &l);
    return 0;
}

/* ------------------------------------------------------------------ deferred chains */

/* Signals ring r's call eventfd if the driver wants to hear of what was published. */
static void ring_irq(vs_vhost_server *s, conn *c, uint32_t r)
{
    srv_ring *q = &c->ring[r];
    if (q->call_fd >= 0 && vs_vq_dev_irq_needed(q->vq)) {
        signal_fd(c, q->call_fd, &c->stats.calls);
        emit(s, VS_EV_IRQ, (int32_t)r, 0, 0, 0, 0, NULL, NULL);
    }
}

/* Publishes ring r's used elements and signals the call eventfd if the driver wants it. */
static void ring_signal(vs_vhost_server *s, conn *c, uint32_t r)
{
    vs_vq_dev_publish(c->ring[r].vq);
    ring_irq(s, c, r);
}

/* vs_device.complete: a chain the device deferred is done, now (from inside handle() of
 * this or another chain) or later (an event raised by the host side). Pushed, published
 * and signalled at once: nothing else would wake the driver. A chain the server no longer
 * knows (dropped by a reset, GET_VRING_BASE or a broken ring) is ignored. */
static void srv_complete(void *ctx, uint16_t r, uint16_t id, uint32_t written)
{
    conn *c = ctx;
    vs_vhost_server *s = c->srv;
    if (r >= c->st.cfg.num_queues || !c->ring[r].vq || c->st.ring[r].broken)
        return;
    srv_ring *q = &c->ring[r];
    vs_chain ch;
    if (c->cur && c->cur_ring == r && c->cur->id == id && !c->cur_done) {
        ch = *c->cur;
        c->cur_done = true;
    } else {
        uint32_t i = 0;
        while (i < q->ndfr && q->dfr[i].id != id)
            i++;
        if (i == q->ndfr)
            return;
        ch = q->dfr[i];
        q->dfr[i] = q->dfr[--q->ndfr];
    }
    vs_err e;
    vs_err_clear(&e);
    if (vs_vq_dev_push(q->vq, &ch, written, &e) < 0) {
        ring_error(s, c, r, NULL, e.msg);
        return;
    }
    if (s->o.emit_used && bus_on(s))
        emit(s, VS_EV_USED, (int32_t)r, ch.id, written, 0, 0, "device push", NULL);
    c->stats.requests++;
    ring_signal(s, c, r);
}

/* Keeps what a later push of chain ch needs. */
static int ring_defer(vs_vhost_server *s, conn *c, uint32_t r, const vs_chain *ch)
{
    srv_ring *q = &c->ring[r];
    if (q->ndfr == q->dfr_cap) {
        uint32_t cap = q->dfr_cap ? 2 * q->dfr_cap : 16;
        vs_chain *n = realloc(q->dfr, cap * sizeof *n);
        if (!n) {
            ring_error(s, c, r, NULL, "out of host memory keeping a deferred chain");
            return -1;
        }
        q->dfr = n;
        q->dfr_cap = cap;
    }
    vs_chain k = *ch;
    k.seg = NULL;
    k.seg_cap = 0;
    q->dfr[q->ndfr++] = k;
    return 0;
}

/* Before the server drops ring r's chains (-1: every ring; a reset, GET_VRING_BASE, the
 * end of the connection): the device completes or forgets what it holds while the rings
 * still work, and the server forgets the rest. */
static void dev_drain(vs_vhost_server *s, conn *c, int32_t r)
{
    if (!c->defers)
        return;
    s->dev->ops->drain(s->dev, r);
    for (uint32_t i = 0; i < VS_VHOST_QUEUES_MAX; i++)
        if (r < 0 || (uint32_t)r == i)
            c->ring[i].ndfr = 0;
}

/* The driver's side of a chain the device has just fetched (before it is processed):
 * VS_EV_AVAIL with its segments, VS_EV_PUBLISH with the avail index that covers it (the
 * device's next index), then VS_EV_FETCH. */
static void emit_fetched(vs_vhost_server *s, srv_ring *q, uint32_t r, const vs_chain *ch,
                         uint64_t t)
{
    for (uint32_t i = 0; i < ch->nseg; i++)
        q->evsegs[i] = (vs_seg){ch->seg[i].gpa, ch->seg[i].len};
    vs_ev_chain ec = {.seg = q->evsegs, .n_out = ch->n_out, .n_in = ch->nseg - ch->n_out,
                      .indirect = ch->indirect, .raw = false};
    vs_event ev = {.kind = VS_EV_AVAIL, .t_ns = t, .queue = (int32_t)r, .id = ch->id,
                   .chain = &ec};
    vs_event_emit(s->o.bus, &ev);
    ev = (vs_event){.kind = VS_EV_PUBLISH, .t_ns = t, .queue = (int32_t)r, .id = ch->id,
                    .idx = vs_vq_dev_get_base(q->vq)};
    vs_event_emit(s->o.bus, &ev);
    ev = (vs_event){.kind = VS_EV_FETCH, .t_ns = t, .queue = (int32_t)r, .id = ch->id};
    vs_event_emit(s->o.bus, &ev);
}

/* Pops, handles and pushes up to `batch` chains; publishes them and asks the ring whether
 * the driver wants a call (EVENT_IDX / NO_INTERRUPT honoured by the ring) at the end and,
 * before that, once each time fewer than SIGNAL_LOW chains are left available. Returns
 * the chains done, or -1 when the ring broke. *t: the clock read for the batch, 0 if none.
 *
 * Why not only at the end: a driver waiting for that call sits idle while the whole batch
 * runs, and we then sit idle (and need a kick and a wake-up) while it collects and
 * refills: a ping-pong. Told while SIGNAL_LOW chains are still queued, it refills while we
 * finish them, so neither side waits. Why not after every chain (or every few): a driver
 * that keeps the ring full does not need waking, where both share one CPU each wake-up is
 * a switch away from us, and each publish moves the used index's cache line to the
 * driver's CPU and back (publishing every chain cost more CPU per request than it saved). */
#define SIGNAL_LOW 16u

static int ring_batch(vs_vhost_server *s, conn *c, uint32_t r, uint64_t *t)
{
    srv_ring *q = &c->ring[r];
    vs_vq_dev *vq = q->vq;
    unsigned batch = s->o.batch ? s->o.batch : 64;
    vs_device *d = s->dev;
    vs_chain ch;
    vs_err e;
    e.code = 0;
    e.msg[0] = 0;
    unsigned n = 0, popped = 0; /* pushed; held by the device (deferred) */
    int rc = 0;
    bool low = false; /* signalled since fewer than SIGNAL_LOW were left */
    *t = 0; /* one clock read per batch: its chains are fetched together */
    while (n + popped < batch) {
        ch.seg = q->segs;
        ch.seg_cap = q->seg_cap;
        rc = vs_vq_dev_pop(vq, &ch, &e);
        if (rc == 0)
            break;
        if (rc < 0) {
            ring_error(s, c, r, R_CHAIN, e.msg);
            break;
        }
        if (bus_on(s)) {
            if (!n && !popped)
                *t = now_ns(s);
            emit_fetched(s, q, r, &ch, *t);
        }
        uint32_t written = 0;
        if (c->defers) { /* the device may complete ch before handle() returns */
            c->cur = &ch;
            c->cur_ring = r;
            c->cur_done = false;
        }
        rc = d->ops->handle(d, (uint16_t)r, &ch, &written, &e);
        c->cur = NULL;
        if (rc < 0) {
            char msg[VS_ERR_MSG_MAX + 32];
            snprintf(msg, sizeof msg, "device error on chain %u: %s", ch.id, e.msg);
            ring_error(s, c, r, R_CHAIN, msg);
            break;
        }
        if (rc == VS_DEV_DEFERRED) {
            rc = 0;
            if (!c->cur_done && ring_defer(s, c, r, &ch) < 0) {
                rc = -1;
                break;
            }
            popped++;
            continue;
        }
        rc = vs_vq_dev_push(vq, &ch, written, &e);
        if (rc < 0) {
            ring_error(s, c, r, NULL, e.msg);
            break;
        }
        if (s->o.emit_used && bus_on(s))
            emit(s, VS_EV_USED, (int32_t)r, ch.id, written, 0, 0, "device push", NULL);
        n++;
        if (vs_vq_dev_avail_hint(vq) >= SIGNAL_LOW) {
            low = false;
        } else if (!low) {
            low = true;
            ring_signal(s, c, r);
        }
    }
    c->stats.requests += n;
    if (n)
        ring_signal(s, c, r);
    return rc < 0 ? -1 : (int)(n + popped);
}

/* Runs ring r until it is dry. With poll_ns (off by default: on two shared cores the spin
 * took the CPU the driver needed), like QEMU's poll-max-ns, a ring that ran dry is
 * re-checked for poll_ns with notifications off before they go back on: a driver that
 * keeps the ring busy then needs no kick (an eventfd write and a wake-up). After POLL_SLICE_NS
 * in here the ring is left `hot` (notifications still off) so the loop serves the socket
 * and the other rings, then comes back. */
#define POLL_SLICE_NS 200000u

static void ring_process(vs_vhost_server *s, conn *c, uint32_t r)
{
    srv_ring *q = &c->ring[r];
    vs_vq_dev *vq = q->vq;
    bool was_hot = q->hot;
    q->hot = false;
    if (!vq || !vs_vhost_ring_active(&c->st, r)) {
        if (vq && was_hot)
            vs_vq_dev_notify_enable(vq); /* the driver must be able to kick it again */
        return;
    }
    uint64_t poll = s->o.poll_ns;
    uint64_t t_enter = 0;
    bool off = was_hot; /* a hot ring's notifications are still off */
    for (;;) {
        if (!off) {
            vs_vq_dev_notify_disable(vq);
            off = true;
        }
        uint64_t t;
        int n = ring_batch(s, c, r, &t);
        if (n < 0)
            return;
        if (!poll) {
            if ((unsigned)n == (s->o.batch ? s->o.batch : 64))
                continue;
        } else {
            uint64_t now = t ? t : now_ns(s);
            if (!t_enter)
                t_enter = now;
            if (n)
                q->idle0 = 0;
            else if (!q->idle0)
                q->idle0 = now;
            if (!q->idle0 || now - q->idle0 < poll) {
                if (now - t_enter < POLL_SLICE_NS && !c->closing)
                    continue;
                q->hot = true;
                return;
            }
        }
        off = false;
        q->idle0 = 0;
        if (!vs_vq_dev_notify_enable(vq))
            return;
    }
}

/* A kick (eventfd or in-band) on ring r. */
static bool mem_check(vs_vhost_server *s, conn *c, bool force);

static void ring_kick(vs_vhost_server *s, conn *c, uint32_t r)
{
    if (c->st.ring[r].broken)
        return;
    const char *rule = NULL;
    vs_err e;
    vs_err_clear(&e);
    emit(s, VS_EV_KICK, (int32_t)r, 0, 0, 0, 0, NULL, NULL);
    int rc = vs_vhost_ring_kicked(&c->st, r, &rule, &e);
    if (rc < 0) {
        record(s, c, rule, 0, (int)r, e.msg);
        return;
    }
    if (!vs_vhost_ring_active(&c->st, r)) {
        c->ring[r].pending_kick = true; /* disabled: remember it for the enable */
        return;
    }
    c->ring[r].pending_kick = false;
    if (!mem_check(s, c, c->mem_checked_ns == 0))
        return;
    if (!c->ring[r].vq && ring_create_vq(s, c, r) < 0)
        return;
    ring_process(s, c, r);
}

/* ------------------------------------------------------------------ memory */

static void mem_unmap(conn *c, srv_region *reg, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        if (reg[i].map) {
            vs_memguard_remove(reg[i].guard);
            close_fd(c, &reg[i].fd);
            munmap(reg[i].map, reg[i].map_len);
            reg[i].map = NULL;
        }
}

/* Maps the table's fds (each kept open beside its mapping, to notice a shrink), builds a
 * gmem and rebinds the started rings. On failure nothing changes except that the fds are
 * closed. */
static int mem_replace(vs_vhost_server *s, conn *c, const vs_vhost_msg *m, int *fds,
                       unsigned nfds, vs_err *e)
{
    srv_region nr[VS_VHOST_MEM_REGIONS_MAX];
    memset(nr, 0, sizeof nr);
    uint32_t n = m->p.mem.nregions;
    int rc = 0;
    if (nfds != n)
        rc = vs_err_set(e, VS_EPROTO, "SET_MEM_TABLE: %u fds for %u regions", nfds, n);
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        const vs_vhost_mem_region *r = &m->p.mem.region[i];
        struct stat st;
        if (fstat(fds[i], &st) < 0) {
            rc = vs_err_set(e, VS_EPROTO, "region %u: fstat: %s", i, strerror(errno));
            break;
        }
        if (r->mmap_offset > (uint64_t)SIZE_MAX / 2 || r->size > (uint64_t)SIZE_MAX / 2) {
            rc = vs_err_set(e, VS_EPROTO, "region %u: size/offset too large", i);
            break;
        }
        uint64_t need = r->mmap_offset + r->size;
        if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < need) {
            rc = vs_err_set(e, VS_EPROTO,
                            "region %u: fd is %llu bytes, region needs offset 0x%llx + size "
                            "0x%llx",
                            i, (ull)st.st_size, (ull)r->mmap_offset, (ull)r->size);
            break;
        }
        if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)) {
            rc = vs_err_set(e, VS_EPROTO, "region %u: fd is not a file (mode 0%o), cannot map",
                            i, (unsigned)(st.st_mode & S_IFMT));
            break;
        }
        void *p = mmap(NULL, (size_t)need, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE,
                       fds[i], 0);
        if (p == MAP_FAILED) {
            rc = vs_err_set(e, VS_EPROTO, "region %u: mmap 0x%llx bytes: %s", i, (ull)need,
                            strerror(errno));
            break;
        }
        nr[i] = (srv_region){p, (size_t)need, r->gpa, r->size, (uint8_t *)p + r->mmap_offset,
                             fds[i], vs_memguard_add(p, (size_t)need)};
        fds[i] = -1;
    }
    for (uint32_t i = 0; i < VS_VHOST_MEM_REGIONS_MAX; i++)
        if (!nr[i].map)
            nr[i].fd = -1;
    close_fds(c, fds, nfds);
    vs_gmem *gm = NULL;
    if (rc == 0) {
        vs_gmem_ext_region xr[VS_VHOST_MEM_REGIONS_MAX];
        for (uint32_t i = 0; i < n; i++)
            xr[i] = (vs_gmem_ext_region){nr[i].gpa, nr[i].size, nr[i].host, 0};
        rc = vs_gmem_create_external(&gm, xr, n, e);
    }
    if (rc < 0) {
        mem_unmap(c, nr, n);
        return rc;
    }
    /* Rebind started rings to the new memory (same layout, live base). */
    uint16_t bases[VS_VHOST_QUEUES_MAX];
    bool had[VS_VHOST_QUEUES_MAX];
    for (uint32_t i = 0; i < c->tmp.cfg.num_queues; i++) {
        had[i] = c->ring[i].vq != NULL;
        if (had[i]) {
            ring_cool(&c->ring[i]);
            bases[i] = vs_vq_dev_get_base(c->ring[i].vq);
            vs_vq_dev_destroy(c->ring[i].vq);
            c->ring[i].vq = NULL;
        }
    }
    vs_gmem *old = c->gm;
    c->gm = gm;
    s->dev->gm = gm;
    mem_unmap(c, c->reg, c->nreg);
    memcpy(c->reg, nr, sizeof nr);
    c->nreg = n;
    c->mem_checked_ns = 0;
    vs_gmem_destroy(old);
    for (uint32_t i = 0; i < c->tmp.cfg.num_queues; i++) {
        if (!had[i])
            continue;
        vs_vq_dev_opts vo = {.queue_index = (uint16_t)i};
        if ((c->tmp.features >> VS_F_EVENT_IDX) & 1)
            vo.features |= VS_VQ_F_EVENT_IDX;
        if ((c->tmp.features >> VS_F_INDIRECT_DESC) & 1)
            vo.features |= VS_VQ_F_INDIRECT;
        vs_vq_layout l = c->tmp.ring[i].layout;
        l.size = c->tmp.ring[i].num;
        vs_err e2;
        if (vs_vq_dev_create(&c->ring[i].vq, gm, &l, &vo, &e2) < 0 ||
            vs_vq_dev_set_base(c->ring[i].vq, bases[i], &e2) < 0) {
            if (c->ring[i].vq) {
                vs_vq_dev_destroy(c->ring[i].vq);
                c->ring[i].vq = NULL;
            }
            vs_vhost_ring_break(&c->tmp, i);
            record(s, c, NULL, VS_VHOST_USER_SET_MEM_TABLE, (int)i, e2.msg);
        }
    }
    return 0;
}

/* A front-end must not shrink a region's file while its table is in use. A shrink is seen
 * by fstat before the rings are touched (on the first kick after a new table, then at most
 * once a millisecond), or, if it races with an access, by memguard, which turns the SIGBUS
 * into a zero page. Either way the device no longer sees the guest's data: the connection
 * ends with the finding. Returns false when it ended. */
static bool mem_check(vs_vhost_server *s, conn *c, bool force)
{
    uint64_t now = now_ns(s);
    if (!force && now - c->mem_checked_ns < 1000000u)
        return !c->closing;
    c->mem_checked_ns = now;
    for (uint32_t i = 0; i < c->nreg && !c->closing; i++) {
        struct stat st;
        bool shrunk = vs_memguard_faulted(c->reg[i].guard) ||
                      (c->reg[i].fd >= 0 && fstat(c->reg[i].fd, &st) == 0 &&
                       S_ISREG(st.st_mode) && (uint64_t)st.st_size < c->reg[i].map_len);
        if (!shrunk)
            continue;
        char msg[200];
        snprintf(msg, sizeof msg,
                 "region %u (guest 0x%llx, 0x%llx bytes): the front-end shrank its file below "
                 "the region while the table was in use",
                 i, (ull)c->reg[i].gpa, (ull)c->reg[i].size);
        record(s, c, R_MEM_SHRUNK, VS_VHOST_USER_SET_MEM_TABLE, -1, msg);
        set_closing(c, "%s", msg);
    }
    return !c->closing;
}

static void mem_drop(vs_vhost_server *s, conn *c)
{
    for (uint32_t i = 0; i < VS_VHOST_QUEUES_MAX; i++)
        if (c->ring[i].vq) {
            ring_cool(&c->ring[i]);
            vs_vq_dev_destroy(c->ring[i].vq);
            c->ring[i].vq = NULL;
        }
    mem_unmap(c, c->reg, c->nreg);
    c->nreg = 0;
    vs_gmem_destroy(c->gm);
    c->gm = NULL;
    s->dev->gm = s->dev_gm_orig;
}

/* ------------------------------------------------------------------ messages */

/* Carries out fx for the state in c->tmp. Returns < 0 when it could not. */
static int perform(vs_vhost_server *s, conn *c, const vs_vhost_msg *m, int *fds,
                   unsigned nfds, vs_vhost_effect *fx, vs_err *e)
{
    vs_device *d = s->dev;
    uint32_t a = fx->actions;
    int r = fx->ring;
    if (a & VS_VHOST_ACT_RESET) {
        dev_drain(s, c, -1);
        for (uint32_t i = 0; i < VS_VHOST_QUEUES_MAX; i++)
            ring_stop(s, c, i, c->tmp.ring[i].err_set);
        mem_drop(s, c);
        d->ops->reset(d);
        d->driver_features = 0;
        emit(s, VS_EV_RESET, -1, 0, 0, 0, 0, NULL, NULL);
    }
    if (a & VS_VHOST_ACT_FEATURES) {
        uint64_t f = c->tmp.features & ~VHOST_ONLY_FEATURES;
        emit(s, VS_EV_FEATURES_WRITE, -1, 0, 0, 0, f, NULL, NULL); /* virtio bits only */
        if (d->ops->accept_features(d, f, e) < 0)
            return -(e->code ? e->code : VS_EPROTO);
        d->driver_features = f;
    }
    if (m->request == VS_VHOST_USER_GET_FEATURES)
        emit(s, VS_EV_FEATURES_READ, -1, 0, 0, 0,
             fx->reply.p.u64 & ~VHOST_ONLY_FEATURES,
             NULL, NULL);
    if (a & VS_VHOST_ACT_MEM_TABLE) {
        int rc = mem_replace(s, c, m, fds, nfds, e);
        if (rc < 0)
            return rc;
    }
    if (a & (VS_VHOST_ACT_MEM_ADD | VS_VHOST_ACT_MEM_REM))
        return vs_err_set(e, VS_ENOTSUP, "memory slots are not supported");
    if (a & (VS_VHOST_ACT_KICK_FD | VS_VHOST_ACT_CALL_FD | VS_VHOST_ACT_ERR_FD)) {
        srv_ring *q = &c->ring[r];
        int *slot = (a & VS_VHOST_ACT_KICK_FD)   ? &q->kick_fd
                    : (a & VS_VHOST_ACT_CALL_FD) ? &q->call_fd
                                                 : &q->err_fd;
        close_fd(c, slot);
        if (nfds == 1) {
            int fl = fcntl(fds[0], F_GETFL);
            if (fl < 0 || fcntl(fds[0], F_SETFL, fl | O_NONBLOCK) < 0) {
                return vs_err_set(e, VS_EPROTO, "%s: bad fd: %s", vs_vhost_req_name(m->request),
                                  strerror(errno));
            }
            *slot = fds[0];
            fds[0] = -1;
        }
        if (a & VS_VHOST_ACT_KICK_FD)
            c->pfd_dirty = true;
        /* A call fd replaced on a running ring (QEMU does it right after starting the
         * rings): a completion signalled on the old fd may be lost with it, and the driver
         * would wait forever. One call on the new fd, as libvhost-user does; a spurious
         * notification is harmless. */
        if ((a & VS_VHOST_ACT_CALL_FD) && q->vq && *slot >= 0)
            signal_fd(c, *slot, &c->stats.calls);
    }
    if (a & VS_VHOST_ACT_RING_STOP) {
        srv_ring *q = &c->ring[r];
        dev_drain(s, c, r);
        if (q->vq) {
            uint16_t b = vs_vq_dev_get_base(q->vq);
            fx->reply.p.state.num = b;
            c->tmp.ring[r].base = b;
        }
        ring_stop(s, c, (uint32_t)r, c->tmp.ring[r].err_set);
    }
    if (a & VS_VHOST_ACT_CONFIG_READ) {
        vs_vhost_config *cf = &fx->reply.p.config;
        memset(cf->data, 0, sizeof cf->data);
        uint32_t csz = d->ops->config_size(d);
        if (cf->offset < csz) {
            uint32_t len = cf->size < csz - cf->offset ? cf->size : csz - cf->offset;
            if (len && d->ops->config_read(d, cf->offset, cf->data, len, e) < 0)
                return -(e->code ? e->code : VS_EIO);
        }
    }
    if (a & VS_VHOST_ACT_CONFIG_WRITE) {
        if (d->ops->config_write(d, m->p.config.offset, m->p.config.data, m->p.config.size, e) < 0)
            return -(e->code ? e->code : VS_EIO);
    }
    if (a & VS_VHOST_ACT_BACKEND_FD) {
        close_fd(c, &c->backend_fd);
        if (nfds == 1) {
            c->backend_fd = fds[0];
            fds[0] = -1;
        }
    }
    return 0;
}

static void handle_message(vs_vhost_server *s, conn *c)
{
    uint8_t buf[VS_VHOST_USER_HDR_SIZE + VS_VHOST_USER_PAYLOAD_MAX];
    int fds[FD_SLOTS];
    unsigned nfds = 0;
    vs_err e;
    vs_err_clear(&e);
    const char *rule = NULL;
    int rc = recv_full(s, c, buf, VS_VHOST_USER_HDR_SIZE, fds, &nfds, true, &e);
    if (rc == 0) {
        set_closing(c, "front-end disconnected");
        return;
    }
    c->nmsg++;
    c->stats.messages++;
    if (rc < 0) {
        close_fds(c, fds, nfds);
        record(s, c, NULL, 0, -1, e.msg);
        set_closing(c, "%s", e.msg);
        return;
    }
    vs_vhost_msg m;
    rc = vs_vhost_hdr_decode(buf, VS_VHOST_USER_HDR_SIZE, &m, &rule, &e);
    if (rc < 0) {
        close_fds(c, fds, nfds);
        record(s, c, rule, m.request, -1, e.msg);
        set_closing(c, "unusable message header: %s", e.msg);
        return;
    }
    if (m.size) {
        rc = recv_full(s, c, buf + VS_VHOST_USER_HDR_SIZE, m.size, fds, &nfds, false, &e);
        if (rc < 0) {
            close_fds(c, fds, nfds);
            record(s, c, NULL, m.request, -1, e.msg);
            set_closing(c, "%s", e.msg);
            return;
        }
    }
    if (nfds > VS_VHOST_MAX_FDS) {
        close_fds(c, fds, nfds > FD_SLOTS ? FD_SLOTS : nfds);
        vs_err_set(&e, VS_EPROTO, "%s: more than %u file descriptors",
                   vs_vhost_req_name(m.request), VS_VHOST_MAX_FDS);
        record(s, c, R_FDS, m.request, -1, e.msg);
        if (vs_vhost_req_has_reply(m.request, c->st.proto_features))
            set_closing(c, "%s", e.msg);
        return;
    }
    uint64_t pf = c->st.proto_set ? c->st.proto_features : 0;
    rc = vs_vhost_msg_decode(buf, VS_VHOST_USER_HDR_SIZE + m.size, VS_VHOST_DIR_REQUEST, nfds,
                             &m, &rule, &e);
    vs_vhost_effect fx;
    memset(&fx, 0, sizeof fx);
    fx.ring = -1;
    if (rc == 0) {
        c->tmp = c->st;
        rc = vs_vhost_apply(&c->tmp, &m, &fx, &rule, &e);
        if (rc < 0)
            c->st.n_rejected = c->tmp.n_rejected;
    } else {
        c->st.n_rejected++;
        if ((m.flags & VS_VHOST_USER_FLAG_NEED_REPLY) &&
            ((pf >> VS_VHOST_PF_REPLY_ACK) & 1) && !vs_vhost_req_has_reply(m.request, pf)) {
            vs_vhost_msg_init(&fx.reply, m.request, VS_VHOST_DIR_REPLY);
            fx.reply.kind = VS_VHOST_P_U64;
            fx.reply.p.u64 = 1;
            fx.actions = VS_VHOST_ACT_REPLY;
        }
    }
    vs__srv_log(s, 3, "connection %llu message %llu: %s size %u fds %u -> %d", (ull)c->id,
         (ull)c->nmsg, vs_vhost_req_name(m.request), m.size, nfds, rc);
    if (rc < 0) {
        close_fds(c, fds, nfds);
        record(s, c, rule, m.request, fx.ring, e.msg);
        if (fx.actions & VS_VHOST_ACT_REPLY)
            send_reply(s, c, &fx.reply);
        else if (vs_vhost_req_has_reply(m.request, pf))
            set_closing(c, "rejected %s, which needs a reply: %s", vs_vhost_req_name(m.request),
                        e.msg);
        return;
    }
    vs_err_clear(&e);
    rc = perform(s, c, &m, fds, nfds, &fx, &e);
    if (!fx.fds_consumed || rc < 0)
        close_fds(c, fds, nfds);
    else
        for (unsigned i = 0; i < nfds; i++) /* consumed ones are -1; the rest close */
            close_fd(c, &fds[i]);
    if (rc < 0) {
        c->st.n_rejected++;
        record(s, c, m.request == VS_VHOST_USER_SET_MEM_TABLE ? R_MEM : NULL, m.request, fx.ring,
               e.msg);
        vs_vhost_effect_fail(&fx);
        if (fx.actions & VS_VHOST_ACT_REPLY) {
            if (vs_vhost_req_has_reply(m.request, pf) && m.request != VS_VHOST_USER_GET_CONFIG) {
                set_closing(c, "%s failed: %s", vs_vhost_req_name(m.request), e.msg);
                return;
            }
            send_reply(s, c, &fx.reply);
        }
        return;
    }
    c->st = c->tmp;
    if (fx.actions & VS_VHOST_ACT_REPLY)
        send_reply(s, c, &fx.reply);
    /* After commit: rings that can run now. */
    if (fx.ring >= 0) {
        uint32_t r = (uint32_t)fx.ring;
        if (fx.actions & VS_VHOST_ACT_KICK)
            ring_kick(s, c, r);
        else if ((fx.actions & VS_VHOST_ACT_RING_ENABLE) && c->ring[r].pending_kick &&
                 vs_vhost_ring_enabled(&c->st, r))
            ring_kick(s, c, r);
        else if ((fx.actions & VS_VHOST_ACT_KICK_FD) && c->st.ring[r].started &&
                 !c->ring[r].vq && ring_create_vq(s, c, r) == 0)
            ring_process(s, c, r); /* polling mode started by SET_VRING_KICK */
    }
    c->any_polling = false;
    for (uint32_t i = 0; i < c->st.cfg.num_queues; i++)
        if (c->st.ring[i].kick_polling && c->ring[i].vq)
            c->any_polling = true;
}

/* ------------------------------------------------------------------ connection */

static void conn_cleanup(vs_vhost_server *s, conn *c)
{
    dev_drain(s, c, -1);
    for (uint32_t i = 0; i < VS_VHOST_QUEUES_MAX; i++) {
        ring_stop(s, c, i, false);
        free(c->ring[i].dfr);
        c->ring[i].dfr = NULL;
        c->ring[i].dfr_cap = 0;
        free(c->ring[i].segs);
        c->ring[i].segs = NULL;
        free(c->ring[i].evsegs);
        c->ring[i].evsegs = NULL;
        c->ring[i].seg_cap = 0;
    }
    mem_drop(s, c);
    close_fd(c, &c->backend_fd);
    s->dev->ops->reset(s->dev);
    s->dev->driver_features = 0;
    if (c->defers && s->dev->complete_ctx == c) {
        s->dev->complete = NULL;
        s->dev->complete_ctx = NULL;
    }
    emit(s, VS_EV_RESET, -1, 0, 0, 0, 0, c->reason, NULL);
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
}

static void add_stats(vs_vhost_server_stats *t, const vs_vhost_server_stats *c)
{
    t->messages += c->messages;
    t->rejected += c->rejected;
    t->replies += c->replies;
    t->kicks += c->kicks;
    t->requests += c->requests;
    t->calls += c->calls;
    t->device_errors += c->device_errors;
    t->fds_received += c->fds_received;
    t->fds_closed += c->fds_closed;
}

static void build_pfd(vs_vhost_server *s, conn *c)
{
    unsigned n = 0;
    s->pfd[n] = (struct pollfd){s->stop_fd, POLLIN, 0};
    s->pfd_ring[n++] = -2;
    s->pfd[n] = (struct pollfd){c->fd, POLLIN, 0};
    s->pfd_ring[n++] = -1;
    for (uint32_t i = 0; i < c->st.cfg.num_queues; i++)
        if (c->ring[i].kick_fd >= 0) {
            s->pfd[n] = (struct pollfd){c->ring[i].kick_fd, POLLIN, 0};
            s->pfd_ring[n++] = (int)i;
        }
    s->npfd = n;
    c->pfd_dirty = false;
}

bool vs__srv_stop_requested(vs_vhost_server *s)
{
    struct pollfd p = {s->stop_fd, POLLIN, 0};
    return poll(&p, 1, 0) > 0;
}

/* Serves fd on s (the root in shared-device mode, a worker otherwise) as connection id. */
int vs__srv_serve_conn(vs_vhost_server *s, int fd, uint64_t id, vs_err *e)
{
    conn *c = s->c;
    memset(c, 0, sizeof *c);
    c->fd = fd;
    c->backend_fd = -1;
    for (uint32_t i = 0; i < VS_VHOST_QUEUES_MAX; i++)
        c->ring[i].kick_fd = c->ring[i].call_fd = c->ring[i].err_fd = -1;
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    c->id = id;
    c->srv = s;

    vs_device *d = s->dev;
    vs_vhost_backend_cfg cfg = {
        .features = d->ops->device_features(d) | s->o.extra_features,
        .proto_features = s->o.proto_features
                              ? s->o.proto_features
                              : (VS_BIT(VS_VHOST_PF_MQ) | VS_BIT(VS_VHOST_PF_REPLY_ACK) |
                                 VS_BIT(VS_VHOST_PF_CONFIG) | VS_BIT(VS_VHOST_PF_RESET_DEVICE)),
        .num_queues = d->ops->num_queues(d),
        .queue_max_size = d->ops->queue_max_size(d, 0),
        .config_size = d->ops->config_size(d),
    };
    if (cfg.num_queues > VS_VHOST_QUEUES_MAX)
        cfg.num_queues = VS_VHOST_QUEUES_MAX;
    int rc = vs_vhost_state_init(&c->st, VS_VHOST_FLAVOUR_USER, &cfg, e);
    if (rc < 0) {
        close(fd);
        c->fd = -1;
        return rc;
    }
    vs__srv_log(s, 2, "connection %llu: front-end connected", (ull)c->id);
    if (s->dev->ops->drain) { /* a device that defers chains completes them through us */
        c->defers = true;
        s->dev->complete = srv_complete;
        s->dev->complete_ctx = c;
    }
    c->pfd_dirty = true;
    while (!c->closing) {
        if (c->pfd_dirty)
            build_pfd(s, c);
        bool hot = false;
        for (uint32_t i = 0; i < c->st.cfg.num_queues; i++)
            hot |= c->ring[i].hot;
        int n = poll(s->pfd, s->npfd, hot ? 0 : c->any_polling ? 1 : -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            set_closing(c, "poll: %s", strerror(errno));
            break;
        }
        if (s->pfd[0].revents) {
            set_closing(c, "server stopped");
            break;
        }
        if (s->o.dev_lock)
            pthread_mutex_lock(s->o.dev_lock);
        for (unsigned i = 2; i < s->npfd && !c->closing; i++) {
            if (!s->pfd[i].revents)
                continue;
            int r = s->pfd_ring[i];
            if (c->ring[r].kick_fd != s->pfd[i].fd)
                continue; /* replaced meanwhile */
            uint64_t v;
            ssize_t k = read(s->pfd[i].fd, &v, sizeof v);
            if (k == (ssize_t)sizeof v) {
                c->stats.kicks++;
                ring_kick(s, c, (uint32_t)r);
            } else if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
                /* spurious */
            } else {
                char msg[128];
                snprintf(msg, sizeof msg, "ring %d: kick fd unusable (read %zd: %s); dropped",
                         r, k, k < 0 ? strerror(errno) : "not an eventfd");
                record(s, c, R_FDS, VS_VHOST_USER_SET_VRING_KICK, r, msg);
                close_fd(c, &c->ring[r].kick_fd);
                c->pfd_dirty = true;
            }
        }
        for (uint32_t i = 0; hot && i < c->st.cfg.num_queues && !c->closing; i++)
            if (c->ring[i].hot && mem_check(s, c, false))
                ring_process(s, c, i); /* kicked meanwhile: done above, no longer hot */
        if (c->any_polling && mem_check(s, c, false))
            for (uint32_t i = 0; i < c->st.cfg.num_queues && !c->closing; i++)
                if (c->st.ring[i].kick_polling && c->ring[i].vq)
                    ring_process(s, c, i);
        if (!c->closing && (s->pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
            handle_message(s, c);
        if (vs_memguard_faulted_any())
            mem_check(s, c, true);
        if (s->o.dev_lock)
            pthread_mutex_unlock(s->o.dev_lock);
    }
    vs__srv_log(s, 2, "connection %llu closed: %s", (ull)c->id, c->reason);
    if (s->o.dev_lock)
        pthread_mutex_lock(s->o.dev_lock);
    conn_cleanup(s, c);
    if (s->o.dev_lock)
        pthread_mutex_unlock(s->o.dev_lock);
    pthread_mutex_lock(&s->root->mu);
    add_stats(&s->root->total, &c->stats);
    pthread_mutex_unlock(&s->root->mu);
    if (s->o.on_disconnect)
        s->o.on_disconnect(s->o.disconnect_opaque, c->id, &c->stats, c->reason);
    return 0;
}
